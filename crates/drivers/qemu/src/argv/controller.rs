//! Controllers, and the ones QEMU needs but the definition leaves implicit.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{Address, Controller, ControllerType, DiskBus, InputBus, PciAddress, SoundModel};

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
        ControllerType::Ccid => format!("ccid{index}"),
        _ => format!("ctrl{index}"),
    }
}

pub(super) fn needs_usb(def: &Domain) -> bool {
    let d = &def.devices;
    d.disks.iter().any(|d| d.target.bus == Some(DiskBus::Usb))
        || d.inputs.iter().any(|i| i.bus == Some(InputBus::Usb))
        || d.sounds.iter().any(|s| s.model == SoundModel::Usb)
        || !d.redirdevs.is_empty()
        || !d.hubs.is_empty()
        || !d.smartcards.is_empty()
}

/// The QEMU device for a controller, or `None` for one the machine has
/// built in.
fn controller_driver(b: &Builder<'_>, c: &Controller, path: &str) -> Result<Option<&'static str>, ArgvError> {
    let index = c.index.unwrap_or(0);
    let model = c.model.as_deref();
    let bad_model = |what: &str| {
        unsupported(
            format!("{path}/@model"),
            format!("{what} controller model '{}' has no x86 QEMU device", model.unwrap_or("")),
        )
    };
    Ok(Some(match (c.controller_type, model) {
        (ControllerType::Usb, Some("none")) => return Ok(None),
        (ControllerType::Usb, Some("piix3-uhci")) => "piix3-usb-uhci",
        (ControllerType::Usb, Some("piix4-uhci")) => "piix4-usb-uhci",
        (ControllerType::Usb, Some("ehci")) => "usb-ehci",
        (ControllerType::Usb, Some("ich9-ehci1")) => "ich9-usb-ehci1",
        (ControllerType::Usb, Some("ich9-uhci1")) => "ich9-usb-uhci1",
        (ControllerType::Usb, Some("ich9-uhci2")) => "ich9-usb-uhci2",
        (ControllerType::Usb, Some("ich9-uhci3")) => "ich9-usb-uhci3",
        (ControllerType::Usb, Some("vt82c686b-uhci")) => "vt82c686b-usb-uhci",
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
        (ControllerType::Usb, Some(_)) => return Err(bad_model("usb")),
        (ControllerType::Scsi, None | Some("virtio-scsi" | "auto")) => "virtio-scsi-pci",
        (ControllerType::Scsi, Some("virtio-non-transitional")) => "virtio-scsi-pci-non-transitional",
        (ControllerType::Scsi, Some("virtio-transitional")) => "virtio-scsi-pci-transitional",
        (ControllerType::Scsi, Some("lsilogic")) => "lsi",
        (ControllerType::Scsi, Some("lsisas1068")) => "mptsas1068",
        (ControllerType::Scsi, Some("lsisas1078")) => "megasas",
        (ControllerType::Scsi, Some("vmpvscsi")) => "pvscsi",
        (ControllerType::Scsi, Some("am53c974")) => "am53c974",
        (ControllerType::Scsi, Some("dc390")) => "dc390",
        (ControllerType::Scsi, Some(_)) => return Err(bad_model("scsi")),
        (ControllerType::VirtioSerial, Some("virtio-transitional")) => "virtio-serial-pci-transitional",
        (ControllerType::VirtioSerial, Some("virtio-non-transitional")) => "virtio-serial-pci-non-transitional",
        (ControllerType::VirtioSerial, _) => "virtio-serial-pci",
        (ControllerType::Sata, _) if b.q35 && index == 0 => return Ok(None), // built into q35 as "ide"
        (ControllerType::Sata, _) => "ich9-ahci",
        (ControllerType::Ide, m) => {
            let own = if b.q35 { None } else { Some("piix3") };
            if index != 0 || b.q35 {
                return Err(unsupported(path, "only the pc machine's own IDE controller is supported"));
            }
            if m.is_some() && m != own {
                return Err(bad_model("ide: the pc machine's is piix3; this"));
            }
            return Ok(None);
        }
        (ControllerType::Fdc, _) if index == 0 && !b.q35 => return Ok(None), // built into the pc machine
        (ControllerType::Fdc, _) => {
            return Err(unsupported(path, "only the pc machine's own floppy controller is supported"));
        }
        (ControllerType::Pci, Some("pci-root" | "pcie-root")) => return Ok(None),
        (ControllerType::Pci, Some("pcie-root-port")) => "pcie-root-port",
        (ControllerType::Pci, Some("pci-bridge")) => "pci-bridge",
        (ControllerType::Pci, Some("dmi-to-pci-bridge")) => "i82801b11-bridge",
        (ControllerType::Pci, Some("pcie-to-pci-bridge")) => "pcie-pci-bridge",
        (ControllerType::Pci, Some("pcie-switch-upstream-port")) => "x3130-upstream",
        (ControllerType::Pci, Some("pcie-switch-downstream-port")) => "xio3130-downstream",
        (ControllerType::Pci, Some("pci-expander-bus")) => "pxb",
        (ControllerType::Pci, Some("pcie-expander-bus")) => "pxb-pcie",
        (ControllerType::Pci, _) => return Err(bad_model("pci")),
        (ControllerType::Ccid, _) => "usb-ccid",
        (ControllerType::Isa, _) => return Ok(None),
        (t, _) => return Err(unsupported(path, format!("{t} controllers are not supported"))),
    }))
}

pub(super) fn controller_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let ctrls = &b.def.devices.controllers;
    let n = ctrls.len();
    let usb2_slots = usb2_slots(b.def, b.q35);
    for i in emission_order(ctrls) {
        let c = &ctrls[i];
        let path = super::idx_path("controller", i, n);
        let index = c.index.unwrap_or(0);
        if let Some(hole) = c.pcihole64 {
            let host = if b.q35 { "q35-pcihost" } else { "i440FX-pcihost" };
            b.opt("-global", format!("{host}.pci-hole64-size={}K", hole.as_bytes() / 1024));
        }
        let Some(default_driver) = controller_driver(b, c, &path)? else {
            // A built-in controller cannot be tuned.
            if c.driver.is_some() {
                return Err(unsupported(format!("{path}/driver"), "the machine's built-in controller has no options"));
            }
            continue;
        };
        // `<model name>` names the QEMU device that implements the model.
        let driver = c.model_name.as_deref().unwrap_or(default_driver);
        if !b.ctx.has(driver) {
            return Err(unsupported(&path, format!("this QEMU has no {driver} device")));
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        if let Some(start) = c.master_startport {
            // A companion is part of its master's bus: it has no id of its own.
            props.insert("masterbus".into(), json!(format!("{}.0", usb_id(index))));
            props.insert("firstport".into(), json!(start));
        } else {
            props.insert("id".into(), json!(controller_id(c.controller_type, index)));
        }
        match c.ports {
            Some(p) if c.controller_type == ControllerType::Usb && driver.contains("xhci") => {
                props.insert("p2".into(), json!(p));
                props.insert("p3".into(), json!(p));
            }
            Some(p) if c.controller_type == ControllerType::VirtioSerial => {
                props.insert("max_ports".into(), json!(p));
            }
            Some(_) => {
                return Err(unsupported(
                    format!("{path}/@ports"),
                    format!("QEMU's {driver} has a fixed number of ports"),
                ));
            }
            None => {}
        }
        if let Some(v) = c.vectors {
            props.insert("vectors".into(), json!(v));
        }
        if let Some(t) = &c.target {
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    props.insert(k.into(), v);
                }
            };
            set("chassis", t.chassis.map(Value::from));
            set("port", t.port.map(Value::from));
            set("chassis_nr", t.chassis_nr.map(Value::from));
            set("bus_nr", t.bus_nr.map(Value::from));
            if t.node.is_some() {
                return Err(unsupported(
                    format!("{path}/target/node"),
                    "an expander bus on a guest NUMA node needs guest NUMA cells, which the QEMU driver does not set up yet",
                ));
            }
            if let Some(h) = t.hotplug {
                if driver != "pcie-root-port" {
                    return Err(unsupported(
                        format!("{path}/target/@hotplug"),
                        "only a pcie-root-port turns hotplug off",
                    ));
                }
                props.insert("hotplug".into(), json!(h));
            }
            if t.index.is_some() {
                return Err(unsupported(
                    format!("{path}/target/@index"),
                    "a target index is for POWER's PCI host bridges",
                ));
            }
        }
        if matches!(
            driver,
            "pcie-root-port" | "pci-bridge" | "pcie-pci-bridge" | "i82801b11-bridge" | "pxb" | "pxb-pcie"
        ) {
            props.entry("bus").or_insert(json!(if b.q35 { "pcie.0" } else { "pci.0" }));
            if driver == "pcie-root-port" && !props.contains_key("chassis") {
                props.insert("chassis".into(), json!(index));
            }
            if driver == "pci-bridge" && !props.contains_key("chassis_nr") {
                props.insert("chassis_nr".into(), json!(index));
            }
        }
        if let Some(d) = &c.driver {
            let mut set = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    props.insert(k.into(), v);
                }
            };
            set("num_queues", d.queues.map(Value::from));
            set("cmd_per_lun", d.cmd_per_lun.map(Value::from));
            set("max_sectors", d.max_sectors.map(Value::from));
            set("ioeventfd", d.ioeventfd.map(Value::from));
            if let Some(t) = d.iothread {
                props.insert("iothread".into(), json!(format!("iothread{t}")));
            }
            b.virtio_options(&mut props, &d.virtio, &format!("{path}/driver"))?;
        }
        if driver == "usb-ccid" {
            b.usb_addr(&mut props, c.address.as_ref(), &path)?;
        } else {
            let placed = c.address.clone().or_else(|| usb2_address(c, &usb2_slots));
            b.pci_addr(&mut props, placed.as_ref(), &path)?;
        }
        b.device(Value::Object(props));
    }
    let has = |t: ControllerType| ctrls.iter().any(|c| c.controller_type == t);
    if needs_usb(b.def) && !has(ControllerType::Usb) {
        let driver = if b.q35 { "qemu-xhci" } else { "piix3-usb-uhci" };
        b.device(json!({ "driver": driver, "id": "usb" }));
    }
    if !b.def.devices.smartcards.is_empty() && !has(ControllerType::Ccid) {
        let mut props = Map::new();
        props.insert("driver".into(), json!("usb-ccid"));
        props.insert("id".into(), json!("ccid0"));
        b.usb_addr(&mut props, None, "/domain/devices/smartcard")?;
        b.device(Value::Object(props));
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

/// The order QEMU is given the controllers in: the definition's, except
/// that a USB companion listed before its master follows it (QEMU needs
/// the master's bus to exist).
fn emission_order(ctrls: &[Controller]) -> Vec<usize> {
    let is_master_of = |m: &Controller, c: &Controller| {
        m.controller_type == ControllerType::Usb && m.master_startport.is_none() && m.index == c.index
    };
    let mut order = Vec::with_capacity(ctrls.len());
    let mut waiting: Vec<usize> = Vec::new();
    for (i, c) in ctrls.iter().enumerate() {
        if c.master_startport.is_some() && ctrls[i + 1..].iter().any(|m| is_master_of(m, c)) {
            waiting.push(i);
            continue;
        }
        order.push(i);
        if c.controller_type == ControllerType::Usb && c.master_startport.is_none() {
            order.extend(waiting.iter().copied().filter(|&w| is_master_of(c, &ctrls[w])));
            waiting.retain(|&w| !is_master_of(c, &ctrls[w]));
        }
    }
    order.extend(waiting);
    order
}

/// The PCI function of each member of a USB2 group (an ICH9 EHCI and its
/// UHCI companions), which shares one slot.
fn usb2_function(c: &Controller) -> Option<u32> {
    if c.controller_type != ControllerType::Usb {
        return None;
    }
    match c.model.as_deref()? {
        "ich9-ehci1" => Some(7),
        "ich9-uhci1" => Some(0),
        "ich9-uhci2" => Some(1),
        "ich9-uhci3" => Some(2),
        _ => None,
    }
}

/// Per USB controller index, the (bus, slot) its USB2 group shares, as
/// libvirt places them: the slot of a member that has an address, else on
/// q35 the ICH9's own (0x1d for the first group, 0x1a for the second),
/// when no device of the definition sits there. Groups without either are
/// left for QEMU to place.
fn usb2_slots(def: &Domain, q35: bool) -> BTreeMap<u32, (u32, u32)> {
    let ctrls = &def.devices.controllers;
    let mut out = BTreeMap::new();
    for c in ctrls.iter().filter(|c| usb2_function(c).is_some()) {
        if let (Some(Address::Pci(a)), Some(i)) = (&c.address, c.index) {
            out.entry(i).or_insert((a.bus.unwrap_or(0), a.slot.unwrap_or(0)));
        }
    }
    if !q35 {
        return out;
    }
    let taken = explicit_pci_slots(def);
    for (index, slot) in [(0, 0x1d), (1, 0x1a)] {
        let group = ctrls.iter().any(|c| usb2_function(c).is_some() && c.index == Some(index));
        if group && !out.contains_key(&index) && !taken.contains(&(0, slot)) {
            out.insert(index, (0, slot));
        }
    }
    out
}

/// The address of a USB2 group member that has none, in its group's slot.
fn usb2_address(c: &Controller, slots: &BTreeMap<u32, (u32, u32)>) -> Option<Address> {
    let function = usb2_function(c)?;
    let &(bus, slot) = slots.get(&c.index?)?;
    let mut a = PciAddress::new(0, bus, slot, function);
    // Function 0 opens the slot to the others.
    a.multifunction = (function == 0).then_some(true);
    Some(Address::Pci(a))
}

/// Every (bus, slot) a device of the definition is given explicitly.
fn explicit_pci_slots(def: &Domain) -> BTreeSet<(u32, u32)> {
    let mut out = BTreeSet::new();
    super::each_device_object(def, |m| {
        if m.get("type").and_then(Value::as_str) == Some("pci") {
            let num = |k: &str| m.get(k).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
            if let Some(slot) = num("slot") {
                out.insert((num("bus").unwrap_or(0), slot));
            }
        }
    });
    out
}
