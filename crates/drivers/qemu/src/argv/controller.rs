//! Controllers, and the ones QEMU needs but the definition leaves implicit.

use serde_json::{Map, Value, json};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{ControllerType, DiskBus, InputBus};

use super::{ArgvError, Builder, unsupported};

/// The id QEMU knows USB controller `index` by.
pub(super) fn usb_id(index: u32) -> String {
    controller_id(ControllerType::Usb, index)
}

/// The id QEMU knows a controller by.
pub(super) fn controller_id(kind: ControllerType, index: u32) -> String {
    match kind {
        ControllerType::Usb if index == 0 => "usb".into(),
        ControllerType::Usb => format!("usb{index}"),
        ControllerType::Scsi => format!("scsi{index}"),
        ControllerType::Sata => format!("sata{index}"),
        ControllerType::VirtioSerial => format!("virtio-serial{index}"),
        ControllerType::Pci => format!("pci.{index}"),
        ControllerType::Ide => "ide".into(),
        _ => format!("ctrl{index}"),
    }
}

pub(super) fn needs_usb(def: &Domain) -> bool {
    def.devices.disks.iter().any(|d| d.target.bus == Some(DiskBus::Usb))
        || def.devices.inputs.iter().any(|i| i.bus == Some(InputBus::Usb))
}

pub(super) fn controller_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let ctrls = &b.def.devices.controllers;
    let n = ctrls.len();
    for (i, c) in ctrls.iter().enumerate() {
        let path =
            if n > 1 { format!("/domain/devices/controller[{}]", i + 1) } else { "/domain/devices/controller".into() };
        let index = c.index.unwrap_or(0);
        let id = controller_id(c.controller_type, index);
        let model = c.model.as_deref();
        let driver = match (c.controller_type, model) {
            (ControllerType::Usb, Some("none")) => continue,
            (ControllerType::Usb, Some("piix3-uhci")) => "piix3-usb-uhci",
            (ControllerType::Usb, Some("piix4-uhci")) => "piix4-usb-uhci",
            (ControllerType::Usb, Some("ehci")) => "usb-ehci",
            (ControllerType::Usb, Some("ich9-ehci1")) => "ich9-usb-ehci1",
            (ControllerType::Usb, Some("nec-xhci")) => "nec-usb-xhci",
            (ControllerType::Usb, Some("qemu-xhci")) => "qemu-xhci",
            (ControllerType::Usb, Some("pci-ohci")) => "pci-ohci",
            (ControllerType::Usb, None) => {
                if b.q35 {
                    "qemu-xhci"
                } else {
                    "piix3-usb-uhci"
                }
            }
            (ControllerType::Usb, Some(m)) => {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("usb controller model '{m}' is not supported"),
                ));
            }
            (ControllerType::Scsi, None | Some("virtio-scsi" | "auto")) => "virtio-scsi-pci",
            (ControllerType::Scsi, Some("lsilogic")) => "lsi",
            (ControllerType::Scsi, Some("lsisas1068")) => "mptsas1068",
            (ControllerType::Scsi, Some("lsisas1078")) => "megasas",
            (ControllerType::Scsi, Some("vmpvscsi")) => "pvscsi",
            (ControllerType::Scsi, Some(m)) => {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("scsi controller model '{m}' is not supported"),
                ));
            }
            (ControllerType::VirtioSerial, _) => "virtio-serial-pci",
            (ControllerType::Sata, _) => {
                if b.q35 && index == 0 {
                    continue; // built into q35 as "ide"
                }
                "ich9-ahci"
            }
            (ControllerType::Ide, _) => {
                if index == 0 {
                    continue; // built into the pc and q35 machines
                }
                return Err(unsupported(&path, "only the machine's own IDE controller is supported"));
            }
            (ControllerType::Pci, Some("pci-root" | "pcie-root")) => continue,
            (ControllerType::Pci, Some("pcie-root-port")) => "pcie-root-port",
            (ControllerType::Pci, Some("pci-bridge")) => "pci-bridge",
            (ControllerType::Pci, m) => {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("pci controller model '{}' is not supported", m.unwrap_or("")),
                ));
            }
            (ControllerType::Isa, _) => continue,
            (t, _) => return Err(unsupported(&path, format!("{t} controllers are not supported"))),
        };
        if !b.ctx.has(driver) {
            return Err(unsupported(&path, format!("this QEMU has no {driver} device")));
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(id));
        if let Some(p) = c.ports.filter(|_| c.controller_type == ControllerType::Usb && driver.contains("xhci")) {
            props.insert("p2".into(), json!(p));
            props.insert("p3".into(), json!(p));
        }
        if let Some(p) = c.ports.filter(|_| c.controller_type == ControllerType::VirtioSerial) {
            props.insert("max_ports".into(), json!(p));
        }
        if let Some(v) = c.vectors {
            props.insert("vectors".into(), json!(v));
        }
        if let Some(t) = &c.target {
            if let Some(ch) = t.chassis {
                props.insert("chassis".into(), json!(ch));
            }
            if let Some(p) = t.port {
                props.insert("port".into(), json!(p));
            }
            if let Some(nr) = t.chassis_nr {
                props.insert("chassis_nr".into(), json!(nr));
            }
        }
        if driver == "pcie-root-port" || driver == "pci-bridge" {
            props.entry("bus").or_insert(json!(if b.q35 { "pcie.0" } else { "pci.0" }));
            if driver == "pcie-root-port" && !props.contains_key("chassis") {
                props.insert("chassis".into(), json!(index));
            }
            if driver == "pci-bridge" && !props.contains_key("chassis_nr") {
                props.insert("chassis_nr".into(), json!(index));
            }
        }
        if let Some(d) = &c.driver {
            if let Some(q) = d.queues {
                props.insert("num_queues".into(), json!(q));
            }
            if let Some(x) = d.cmd_per_lun {
                props.insert("cmd_per_lun".into(), json!(x));
            }
            if let Some(x) = d.max_sectors {
                props.insert("max_sectors".into(), json!(x));
            }
            if let Some(x) = d.ioeventfd {
                props.insert("ioeventfd".into(), json!(x));
            }
        }
        b.pci_addr(&mut props, c.address.as_ref(), &path)?;
        b.device(Value::Object(props));
    }
    let has = |t: ControllerType| ctrls.iter().any(|c| c.controller_type == t);
    if needs_usb(b.def) && !has(ControllerType::Usb) {
        let driver = if b.q35 { "qemu-xhci" } else { "piix3-usb-uhci" };
        b.device(json!({ "driver": driver, "id": "usb" }));
    }
    if !b.def.devices.channels.is_empty() && !has(ControllerType::VirtioSerial) {
        b.device(json!({ "driver": "virtio-serial-pci", "id": "virtio-serial0" }));
    }
    if !b.q35 && !has(ControllerType::Sata) && b.def.devices.disks.iter().any(|d| d.target.bus == Some(DiskBus::Sata)) {
        b.device(json!({ "driver": "ich9-ahci", "id": "sata0" }));
    }
    let scsi_disks = b.def.devices.disks.iter().any(|d| d.target.bus == Some(DiskBus::Scsi));
    if scsi_disks && !has(ControllerType::Scsi) {
        b.device(json!({ "driver": "virtio-scsi-pci", "id": "scsi0" }));
    }
    Ok(())
}
