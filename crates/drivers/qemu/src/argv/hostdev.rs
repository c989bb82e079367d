//! Host devices: PCI devices and mediated devices through vfio-pci, USB
//! devices through usb-host, vhost-scsi targets. That the host has them
//! (and has them bound to vfio) is checked at start in `host.rs`; here is
//! only the command line.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Hostdev, HostdevSource, Interface, InterfaceDriverName, InterfaceSource, MdevModel, PciAddress, Rom, Teaming,
};

use super::misc::virtio_suffix;
use super::{ArgvError, Builder, unsupported};

/// `0000:06:12.5`: how the host (sysfs, vfio-pci's `host=`) names a PCI device.
pub fn pci_name(a: &PciAddress) -> String {
    format!(
        "{:04x}:{:02x}:{:02x}.{:x}",
        a.domain.unwrap_or(0),
        a.bus.unwrap_or(0),
        a.slot.unwrap_or(0),
        a.function.unwrap_or(0)
    )
}

pub(super) fn hostdev_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let hostdevs = &b.def.devices.hostdevs;
    for (i, h) in hostdevs.iter().enumerate() {
        let path = super::idx_path("hostdev", i, hostdevs.len());
        hostdev(b, h, i, &path)?;
    }
    Ok(())
}

fn hostdev(b: &mut Builder<'_>, h: &Hostdev, i: usize, path: &str) -> Result<(), ArgvError> {
    let mut props = Map::new();
    let id = format!("hostdev{i}");
    match &h.source {
        HostdevSource::Pci { address, teaming, .. } => {
            props.insert("driver".into(), json!("vfio-pci"));
            props.insert("host".into(), json!(pci_name(address)));
            props.insert("id".into(), json!(id));
            if let Some(Teaming::Transient { persistent }) = teaming {
                props.insert("failover_pair_id".into(), json!(team_id(b, persistent)));
            }
        }
        HostdevSource::Mdev { uuid, model, display, ramfb } => {
            if *model != MdevModel::VfioPci {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("a {model} mediated device is for s390 hosts; this is an x86 QEMU"),
                ));
            }
            // ramfb cannot be hot-unplugged: QEMU has it on the
            // non-hotpluggable flavour only.
            let driver = if *ramfb == Some(true) { "vfio-pci-nohotplug" } else { "vfio-pci" };
            props.insert("driver".into(), json!(driver));
            props.insert("id".into(), json!(id));
            props.insert("sysfsdev".into(), json!(format!("/sys/bus/mdev/devices/{uuid}")));
            if let Some(d) = display {
                props.insert("display".into(), json!(if *d { "on" } else { "off" }));
            }
            if *ramfb == Some(true) {
                props.insert("ramfb".into(), json!(true));
            }
        }
        HostdevSource::Usb { source, .. } => {
            props.insert("driver".into(), json!("usb-host"));
            match (source.bus, source.device, source.vendor, source.product) {
                (Some(bus), Some(dev), _, _) => {
                    props.insert("hostdevice".into(), json!(format!("/dev/bus/usb/{bus:03}/{dev:03}")));
                }
                (_, _, Some(v), Some(p)) => {
                    props.insert("vendorid".into(), json!(v));
                    props.insert("productid".into(), json!(p));
                }
                _ => return Err(unsupported(format!("{path}/source"), "a USB device needs its address or its ids")),
            }
            props.insert("id".into(), json!(id));
            b.usb_addr(&mut props, h.address.as_ref(), path)?;
        }
        HostdevSource::ScsiHost { wwpn, model } => {
            props.insert("driver".into(), json!(format!("vhost-scsi-pci{}", virtio_suffix(*model))));
            props.insert("wwpn".into(), json!(wwpn));
            props.insert("id".into(), json!(id));
        }
        HostdevSource::Scsi { .. } => {
            return Err(unsupported(
                path,
                "SCSI passthrough (scsi-generic on a host /dev/sg device or an iSCSI LUN) is not supported by virtkit's QEMU driver",
            ));
        }
        HostdevSource::Storage { .. } | HostdevSource::Misc { .. } | HostdevSource::Net { .. } => {
            return Err(unsupported(
                format!("{path}/@mode"),
                "mode 'capabilities' shows a host device inside a container; a QEMU guest has no such view",
            ));
        }
        _ => return Err(unsupported(path, "this kind of host device is not supported")),
    }
    let driver = props.get("driver").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !b.ctx.has(&driver) {
        return Err(unsupported(path, format!("this QEMU has no {driver} device")));
    }
    if h.readonly || h.shareable {
        return Err(unsupported(path, "readonly and shareable are for SCSI passthrough, which is not supported"));
    }
    if let Some(boot) = &h.boot {
        props.insert("bootindex".into(), json!(boot.order));
    }
    rom_props(&mut props, h.rom.as_ref());
    match (&h.source, &h.address) {
        (HostdevSource::Usb { .. }, _) => {}
        (_, Some(virtkit_model::domain::devices::Address::Unassigned)) => {
            // The guest does not see it: the host device is only held
            // (its IOMMU group's other functions are given).
            return Err(unsupported(
                format!("{path}/address"),
                "an unassigned host device is held for the guest without a device in it; virtkit does not hold host devices",
            ));
        }
        (_, a) => b.pci_addr(&mut props, a.as_ref(), path)?,
    }
    b.device(Value::Object(props));
    Ok(())
}

/// `rombar`/`romfile` of a PCI device's option ROM.
fn rom_props(props: &mut Map<String, Value>, rom: Option<&Rom>) {
    let Some(r) = rom else { return };
    if r.enabled == Some(false) {
        props.insert("romfile".into(), json!(""));
        return;
    }
    if let Some(bar) = r.bar {
        props.insert("rombar".into(), json!(u8::from(bar)));
    }
    if let Some(f) = &r.file {
        props.insert("romfile".into(), json!(f));
    }
}

/// The QEMU id of the interface whose alias `alias` is: the persistent
/// member of a team, which the transient one names.
fn team_id(b: &Builder<'_>, alias: &str) -> String {
    let nics = &b.def.devices.interfaces;
    nics.iter().position(|n| n.alias.as_deref() == Some(alias)).map_or_else(|| alias.to_owned(), |j| format!("net{j}"))
}

/// The `-device` of an `<interface type='hostdev'>`: the host's PCI
/// network device itself (an SR-IOV virtual function) through vfio-pci, as
/// a `<hostdev>` is; there is no `-netdev`. The guest sees the device's
/// own model, so a `<model>` is not used (as libvirt does not use it).
pub(super) fn hostdev_nic(b: &mut Builder<'_>, nic: &Interface, i: usize, path: &str) -> Result<(), ArgvError> {
    let InterfaceSource::Hostdev { address, .. } = &nic.source else { return Ok(()) };
    if let Some(n) = nic.driver.as_ref().and_then(|d| d.name).filter(|n| *n != InterfaceDriverName::Vfio) {
        return Err(unsupported(
            format!("{path}/driver/@name"),
            format!("host devices are given through vfio, not '{n}'"),
        ));
    }
    for (what, set) in [("link", nic.link_state.is_some()), ("mtu", nic.mtu.is_some())] {
        if set {
            return Err(unsupported(
                format!("{path}/{what}"),
                format!("the {what} of a host device is the host's to set, which virtkit does not do"),
            ));
        }
    }
    if !b.ctx.has("vfio-pci") {
        return Err(unsupported(path, "this QEMU has no vfio-pci device"));
    }
    let mut props = Map::new();
    props.insert("driver".into(), json!("vfio-pci"));
    props.insert("host".into(), json!(pci_name(address)));
    props.insert("id".into(), json!(format!("net{i}")));
    if let Some(Teaming::Transient { persistent }) = &nic.teaming {
        props.insert("failover_pair_id".into(), json!(team_id(b, persistent)));
    }
    if let Some(boot) = &nic.boot {
        props.insert("bootindex".into(), json!(boot.order));
    }
    rom_props(&mut props, nic.rom.as_ref());
    if let Some(a) = nic.acpi_index {
        props.insert("acpi-index".into(), json!(a));
    }
    b.pci_addr(&mut props, nic.address.as_ref(), path)?;
    b.device(Value::Object(props));
    Ok(())
}
