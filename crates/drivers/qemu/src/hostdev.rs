//! What this host has for the host devices, memory devices and sockets a
//! definition names, checked at start (before QEMU runs) under sysfs and
//! /dev, so a guest this host cannot run is refused with the reason.

use std::path::Path;

use virtkit_engine::{Error, ErrorKind, Result};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{
    FsDriverType, FsSource, HostdevSource, InterfaceSource, MemoryModel, ShmemModel, UsbSource,
};

use crate::argv::pci_name;

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

/// Every host device, vhost device and socket a definition's devices need.
pub(crate) fn check(def: &Domain, sys: &Path, dev: &Path) -> Result<()> {
    for nic in &def.devices.interfaces {
        if let InterfaceSource::Hostdev { address, .. } = &nic.source {
            let name = pci_name(address);
            check_pci("interface hostdev", &name, sys, dev)?;
            if nic.mac.is_some() {
                return Err(refuse(format!(
                    "interface hostdev {name}: its MAC address is set on the virtual function through its physical function, which virtkit does not do yet (give it as a <hostdev> to keep the device's own)"
                )));
            }
        }
    }
    for h in &def.devices.hostdevs {
        match &h.source {
            HostdevSource::Pci { address, .. } => check_pci("hostdev", &pci_name(address), sys, dev)?,
            HostdevSource::Mdev { uuid, .. } if !sys.join("bus/mdev/devices").join(uuid.to_string()).exists() => {
                return Err(refuse(format!("hostdev mdev {uuid}: no such mediated device on this host")));
            }
            HostdevSource::Usb { source, .. } => check_usb(source, sys, dev)?,
            HostdevSource::ScsiHost { wwpn, .. } if !dev.join("vhost-scsi").exists() => {
                return Err(refuse(format!(
                    "hostdev vhost-scsi {wwpn}: this host has no {} (the vhost_scsi module)",
                    dev.join("vhost-scsi").display()
                )));
            }
            _ => {}
        }
    }
    if def.devices.vsock.is_some() && !dev.join("vhost-vsock").exists() {
        return Err(refuse(format!(
            "vsock: this host has no {} (the vhost_vsock module)",
            dev.join("vhost-vsock").display()
        )));
    }
    if def.devices.memories.iter().any(|m| m.model == MemoryModel::SgxEpc) && !dev.join("sgx_vepc").exists() {
        return Err(refuse(format!(
            "memory sgx-epc: this host has no SGX enclave memory ({} is missing)",
            dev.join("sgx_vepc").display()
        )));
    }
    for s in &def.devices.shmems {
        if s.model == Some(ShmemModel::IvshmemDoorbell) {
            let sock = s
                .server
                .as_ref()
                .and_then(|v| v.path.clone())
                .unwrap_or(format!("/var/lib/libvirt/shmem-{}-sock", s.name));
            if !Path::new(&sock).exists() {
                return Err(refuse(format!("shmem {}: no ivshmem server listens at {sock}", s.name)));
            }
        }
    }
    for f in &def.devices.filesystems {
        let virtiofs = f.driver.as_ref().and_then(|d| d.driver_type) == Some(FsDriverType::Virtiofs);
        match &f.source {
            FsSource::Socket(s) if !Path::new(s).exists() => {
                return Err(refuse(format!("filesystem {}: no virtiofsd listens at {s}", f.target)));
            }
            FsSource::Dir(d) if !virtiofs && !Path::new(d).is_dir() => {
                return Err(refuse(format!("filesystem {}: host directory {d} does not exist", f.target)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A PCI device given to a guest (by `what`, a hostdev or a hostdev
/// interface) is bound to vfio-pci, in an IOMMU group whose /dev/vfio node
/// is there. virtkit does not rebind host devices.
fn check_pci(what: &str, name: &str, sys: &Path, dev: &Path) -> Result<()> {
    let d = sys.join("bus/pci/devices").join(name);
    if !d.exists() {
        return Err(refuse(format!("{what} {name}: no such PCI device on this host")));
    }
    let base =
        |p: &Path| std::fs::read_link(p).ok().and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned()));
    match base(&d.join("driver")) {
        Some(drv) if drv == "vfio-pci" => {}
        bound => {
            let now = bound.map_or_else(|| "no driver".to_owned(), |d| format!("driver {d}"));
            return Err(refuse(format!(
                "{what} {name} is bound to {now}, not vfio-pci, and virtkit does not rebind host devices: bind it to vfio-pci first"
            )));
        }
    }
    let Some(group) = base(&d.join("iommu_group")) else {
        return Err(refuse(format!("{what} {name}: it is in no IOMMU group (is the host's IOMMU on?)")));
    };
    if !dev.join("vfio").join(&group).exists() {
        return Err(refuse(format!(
            "hostdev {name}: {} is missing (its IOMMU group {group} is not open to vfio)",
            dev.join("vfio").join(&group).display()
        )));
    }
    Ok(())
}

/// A USB device by bus and device number is its /dev/bus/usb node; by
/// vendor and product, one of the host's USB devices has those ids.
fn check_usb(u: &UsbSource, sys: &Path, dev: &Path) -> Result<()> {
    if let (Some(bus), Some(d)) = (u.bus, u.device) {
        let node = dev.join(format!("bus/usb/{bus:03}/{d:03}"));
        if !node.exists() {
            return Err(refuse(format!("hostdev USB {bus:03}:{d:03}: no such USB device on this host")));
        }
        return Ok(());
    }
    let (Some(v), Some(p)) = (u.vendor, u.product) else { return Ok(()) };
    let id = |path: &Path| std::fs::read_to_string(path).ok().and_then(|s| u16::from_str_radix(s.trim(), 16).ok());
    let found = std::fs::read_dir(sys.join("bus/usb/devices"))
        .map(|it| {
            it.flatten()
                .any(|e| id(&e.path().join("idVendor")) == Some(v) && id(&e.path().join("idProduct")) == Some(p))
        })
        .unwrap_or(false);
    if !found {
        return Err(refuse(format!("hostdev USB {v:04x}:{p:04x}: no such USB device on this host")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtkit_model::ByteSize;
    use virtkit_model::domain::DomainType;
    use virtkit_model::domain::devices::{Hostdev, PciAddress, Vsock};

    fn dom() -> Domain {
        Domain::new(DomainType::Kvm, "a", ByteSize::mib(64))
    }

    #[test]
    fn a_pci_device_must_be_there_and_bound_to_vfio() {
        let root = tempfile::tempdir().unwrap();
        let (sys, dev) = (root.path().join("sys"), root.path().join("dev"));
        let d = dom().with_device(Hostdev::pci(PciAddress::new(0, 6, 0x12, 5)));
        let e = check(&d, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("hostdev 0000:06:12.5: no such PCI device on this host"), "{e}");
        let pci = sys.join("bus/pci/devices/0000:06:12.5");
        std::fs::create_dir_all(&pci).unwrap();
        std::fs::create_dir_all(sys.join("bus/pci/drivers/e1000e")).unwrap();
        std::os::unix::fs::symlink(sys.join("bus/pci/drivers/e1000e"), pci.join("driver")).unwrap();
        let e = check(&d, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("is bound to driver e1000e, not vfio-pci"), "{e}");
        std::fs::remove_file(pci.join("driver")).unwrap();
        std::os::unix::fs::symlink(sys.join("bus/pci/drivers/vfio-pci"), pci.join("driver")).unwrap();
        std::os::unix::fs::symlink(sys.join("kernel/iommu_groups/7"), pci.join("iommu_group")).unwrap();
        let e = check(&d, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("/vfio/7 is missing"), "{e}");
        std::fs::create_dir_all(dev.join("vfio")).unwrap();
        std::fs::write(dev.join("vfio/7"), b"").unwrap();
        check(&d, &sys, &dev).unwrap();
    }

    #[test]
    fn a_hostdev_interface_is_checked_as_a_hostdev_is() {
        let root = tempfile::tempdir().unwrap();
        let (sys, dev) = (root.path().join("sys"), root.path().join("dev"));
        let nic = virtkit_model::domain::devices::Interface::hostdev(PciAddress::new(0, 6, 0x12, 5))
            .with_mac("52:54:00:12:34:56".parse().unwrap());
        let d = dom().with_device(nic);
        let e = check(&d, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("interface hostdev 0000:06:12.5: no such PCI device on this host"), "{e}");
        let pci = sys.join("bus/pci/devices/0000:06:12.5");
        std::fs::create_dir_all(&pci).unwrap();
        let e = check(&d, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("interface hostdev 0000:06:12.5 is bound to no driver, not vfio-pci"), "{e}");
        std::os::unix::fs::symlink(sys.join("bus/pci/drivers/vfio-pci"), pci.join("driver")).unwrap();
        std::os::unix::fs::symlink(sys.join("kernel/iommu_groups/7"), pci.join("iommu_group")).unwrap();
        std::fs::create_dir_all(dev.join("vfio")).unwrap();
        std::fs::write(dev.join("vfio/7"), b"").unwrap();
        let e = check(&d, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("interface hostdev 0000:06:12.5: its MAC address is set on the virtual function"), "{e}");
    }

    #[test]
    fn usb_mdev_and_vsock_need_their_host_parts() {
        let root = tempfile::tempdir().unwrap();
        let (sys, dev) = (root.path().join("sys"), root.path().join("dev"));
        let usb = |s: UsbSource| {
            dom().with_device(Hostdev::new(HostdevSource::Usb { source: s, startup_policy: None, guest_reset: None }))
        };
        let e = check(&usb(UsbSource::at(1, 3)), &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("hostdev USB 001:003: no such USB device on this host"), "{e}");
        std::fs::create_dir_all(dev.join("bus/usb/001")).unwrap();
        std::fs::write(dev.join("bus/usb/001/003"), b"").unwrap();
        check(&usb(UsbSource::at(1, 3)), &sys, &dev).unwrap();
        let e = check(&usb(UsbSource::product(0x046d, 0xc52b)), &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("hostdev USB 046d:c52b: no such USB device on this host"), "{e}");
        let d1 = sys.join("bus/usb/devices/1-1");
        std::fs::create_dir_all(&d1).unwrap();
        std::fs::write(d1.join("idVendor"), b"046d\n").unwrap();
        std::fs::write(d1.join("idProduct"), b"c52b\n").unwrap();
        check(&usb(UsbSource::product(0x046d, 0xc52b)), &sys, &dev).unwrap();

        let uuid: uuid::Uuid = "53764d0e-85a0-42b4-af5c-2046b460b1dc".parse().unwrap();
        let mdev = dom().with_device(Hostdev::new(HostdevSource::Mdev {
            uuid,
            model: virtkit_model::domain::devices::MdevModel::VfioPci,
            display: None,
            ramfb: None,
        }));
        let e = check(&mdev, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains(&format!("hostdev mdev {uuid}: no such mediated device on this host")), "{e}");

        let v = dom().with_device(Vsock::new(Some(4)));
        let e = check(&v, &sys, &dev).unwrap_err().to_string();
        assert!(e.contains("vsock: this host has no") && e.contains("vhost-vsock"), "{e}");
        std::fs::write(dev.join("vhost-vsock"), b"").unwrap();
        check(&v, &sys, &dev).unwrap();
    }
}
