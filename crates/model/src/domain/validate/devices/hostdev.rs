//! Checks of `<hostdev>` devices: their host addresses, what each kind
//! allows, and that no host device is given twice.

use std::collections::HashMap;

use super::super::idx;
use super::Checks;
use crate::domain::devices::{
    Devices, HostdevSource, InterfaceSource, MdevModel, PciAddress, ScsiSource, Teaming, UsbSource,
};
use crate::xml::truncate;

/// `0000:06:12.5`, as the host names a PCI device.
pub(crate) fn pci_name(a: &PciAddress) -> String {
    format!(
        "{:04x}:{:02x}:{:02x}.{:x}",
        a.domain.unwrap_or(0),
        a.bus.unwrap_or(0),
        a.slot.unwrap_or(0),
        a.function.unwrap_or(0)
    )
}

/// A host PCI device's address: all of bus, slot and function, in range.
pub(super) fn host_pci(k: &mut Checks<'_>, p: &str, a: &PciAddress) {
    let at = |f: &str| format!("{p}/@{f}");
    for (f, v) in [("bus", a.bus), ("slot", a.slot), ("function", a.function)] {
        if v.is_none() {
            k.invalid(p, format!("a host PCI device needs its {f}"));
        }
    }
    k.max(at("domain"), a.domain, 0xffff);
    k.pci(p, a);
    if a.multifunction.is_some() {
        k.invalid(at("multifunction"), "multifunction is for guest addresses, not a host device's");
    }
}

/// A host USB device: vendor with product, bus with device, one pair at least.
pub(super) fn host_usb(k: &mut Checks<'_>, p: &str, u: &UsbSource) {
    if u.vendor.is_some() != u.product.is_some() {
        k.invalid(p, "a USB device is named by vendor and product together");
    }
    if u.bus.is_some() != u.device.is_some() {
        k.invalid(format!("{p}/address"), "a USB device's address is its bus and device together");
    }
    if u.vendor.is_none() && u.product.is_none() && u.bus.is_none() && u.device.is_none() {
        k.invalid(p, "a USB device is named by vendor and product, or by bus and device");
    }
    // Written in decimal, as libvirt writes them, and libvirt's schema
    // takes three digits.
    k.max(format!("{p}/address/@bus"), u.bus, 999);
    k.max(format!("{p}/address/@device"), u.device, 999);
}

pub(super) fn hostdevs(k: &mut Checks<'_>, d: &Devices) {
    let n = d.hostdevs.len();
    let mut seen: HashMap<String, String> = HashMap::new();
    // A hostdev interface is a host PCI device given to the guest too.
    for (i, nic) in d.interfaces.iter().enumerate() {
        if let InterfaceSource::Hostdev { address, .. } = &nic.source {
            let p = format!("/domain/devices/{}", idx("interface", i, d.interfaces.len()));
            let key = format!("PCI device {}", pci_name(address));
            if let Some(first) = seen.get(&key) {
                k.invalid(&p, format!("host {key} is already given to the guest by {first}"));
            } else {
                seen.insert(key, p);
            }
        }
    }
    let nic_aliases: Vec<&String> = d.interfaces.iter().filter_map(|i| i.alias.as_ref()).collect();
    for (i, h) in d.hostdevs.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("hostdev", i, n));
        let key = match &h.source {
            HostdevSource::Pci { address, teaming, .. } => {
                host_pci(k, &format!("{p}/source/address"), address);
                match teaming {
                    Some(Teaming::Persistent) => k.invalid(
                        format!("{p}/teaming/@type"),
                        "a host device is the transient member of a team; the persistent one is an <interface>",
                    ),
                    Some(Teaming::Transient { persistent }) if !nic_aliases.contains(&persistent) => k.invalid(
                        format!("{p}/teaming/@persistent"),
                        format!("no interface has the alias '{}'", truncate(persistent)),
                    ),
                    _ => {}
                }
                Some(format!("PCI device {}", pci_name(address)))
            }
            HostdevSource::Usb { source, .. } => {
                host_usb(k, &format!("{p}/source"), source);
                source.bus.zip(source.device).map(|(b, d)| format!("USB device {b:03}:{d:03}"))
            }
            HostdevSource::Scsi { source, .. } => {
                match source {
                    ScsiSource::Adapter { adapter, bus, .. } => {
                        k.one_line(format!("{p}/source/adapter/@name"), adapter);
                        k.max(format!("{p}/source/address/@bus"), Some(*bus), 99);
                    }
                    ScsiSource::Iscsi { name, hosts, .. } => {
                        k.one_line(format!("{p}/source/@name"), name);
                        for (j, h) in hosts.iter().enumerate() {
                            k.one_line(format!("{p}/source/{}/@name", idx("host", j, hosts.len())), &h.name);
                        }
                    }
                }
                match source {
                    ScsiSource::Adapter { adapter, bus, target, unit } => {
                        Some(format!("SCSI device {adapter}:{bus}:{target}:{unit}"))
                    }
                    ScsiSource::Iscsi { name, .. } => Some(format!("iSCSI LUN {name}")),
                }
            }
            HostdevSource::ScsiHost { wwpn, .. } => {
                let hex = wwpn.strip_prefix("naa.").unwrap_or("");
                if hex.len() != 16 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    k.value(
                        format!("{p}/source/@wwpn"),
                        format!("'{}' is not a WWPN (naa. and 16 hex digits)", truncate(wwpn)),
                    );
                }
                Some(format!("vhost-scsi target {wwpn}"))
            }
            HostdevSource::Mdev { uuid, model, display, ramfb } => {
                if display.is_some() && *model != MdevModel::VfioPci {
                    k.invalid(format!("{p}/@display"), "only a vfio-pci mediated device has a display");
                }
                if *ramfb == Some(true) && *display != Some(true) {
                    k.invalid(format!("{p}/@ramfb"), "ramfb shows the device's display: it needs display='on'");
                }
                Some(format!("mediated device {uuid}"))
            }
            HostdevSource::Storage { block } => {
                k.abs(format!("{p}/source/block"), block);
                None
            }
            HostdevSource::Misc { char } => {
                k.abs(format!("{p}/source/char"), char);
                None
            }
            HostdevSource::Net { interface } => {
                k.one_line(format!("{p}/source/interface"), interface);
                None
            }
        };
        if let Some(key) = key {
            if let Some(first) = seen.get(&key) {
                k.invalid(&p, format!("host {key} is already given to the guest by {first}"));
            } else {
                seen.insert(key, p.clone());
            }
        }
        if let Some(r) = &h.rom {
            k.opt_abs(format!("{p}/rom/@file"), r.file.as_deref());
            if !matches!(h.source, HostdevSource::Pci { .. }) {
                k.invalid(format!("{p}/rom"), "only a PCI device has an option ROM");
            }
        }
        if h.managed.is_some() && h.source.is_capabilities() {
            k.invalid(format!("{p}/@managed"), "managed is for subsystem devices");
        }
        k.boot(&p, h.boot.as_ref());
        k.alias(&p, h.alias.as_ref());
        k.address(&p, h.address.as_ref());
    }
}
