//! Disks: a `-blockdev` chain for the source and a `-device` for the drive.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{Address, DiskBus, DiskCache, DiskDevice, DiskFormat, DiskIo, DiskType};

use super::{ArgvError, Builder, json_arg, unsupported};

/// The position a disk name implies on its bus: `hdc` is the third.
pub(super) fn dev_index(dev: &str) -> u32 {
    let name = dev.trim_start_matches("ioemu:");
    let suffix = ["xvd", "ubd", "hd", "sd", "vd", "fd"].iter().find_map(|p| name.strip_prefix(p)).unwrap_or("");
    suffix
        .bytes()
        .take_while(u8::is_ascii_lowercase)
        .fold(0u32, |acc, c| acc.saturating_mul(26).saturating_add(u32::from(c - b'a') + 1))
        .saturating_sub(1)
}

pub(super) fn disk_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let disks = &b.def.devices.disks;
    let n = disks.len();
    let sata_bus = if b.q35 { "ide" } else { "sata0" };
    for (i, d) in disks.iter().enumerate() {
        let path = if n > 1 { format!("/domain/devices/disk[{}]", i + 1) } else { "/domain/devices/disk".into() };
        let dev = d.target.dev.trim_start_matches("ioemu:").to_owned();
        let bus = d.target.bus.unwrap_or(match dev.get(..2) {
            Some("hd") => DiskBus::Ide,
            Some("sd") => DiskBus::Scsi,
            _ => DiskBus::Virtio,
        });
        let cdrom = d.device == DiskDevice::Cdrom;
        let readonly = d.readonly || cdrom;
        if d.readonly && !cdrom && matches!(bus, DiskBus::Ide | DiskBus::Sata) {
            // QEMU's ide-hd refuses a read-only node (libvirt refuses it too).
            return Err(unsupported(
                format!("{path}/readonly"),
                "an IDE or SATA hard disk cannot be read-only in QEMU; use bus='virtio' or 'scsi', or a cdrom",
            ));
        }
        let node = format!("drive-{dev}");
        let mut drive_node = None;
        if !matches!(d.disk_type(), DiskType::File | DiskType::Block) {
            return Err(unsupported(
                format!("{path}/@type"),
                format!("disk type '{}' is not supported yet", d.disk_type()),
            ));
        }
        if let Some(src) = d.source.path() {
            let format = d.driver.as_ref().and_then(|x| x.format).unwrap_or(DiskFormat::Raw);
            let fmt = match format {
                DiskFormat::Raw | DiskFormat::Iso => "raw",
                DiskFormat::Qcow2 => "qcow2",
                DiskFormat::Qcow => "qcow",
                DiskFormat::Qed => "qed",
                DiskFormat::Vmdk => "vmdk",
                DiskFormat::Vdi => "vdi",
                DiskFormat::Vpc | DiskFormat::Vhd => "vpc",
                DiskFormat::Cloop => "cloop",
                DiskFormat::Dmg => "dmg",
                DiskFormat::Bochs => "bochs",
                f => {
                    return Err(unsupported(
                        format!("{path}/driver/@type"),
                        format!("disk format '{f}' is not supported"),
                    ));
                }
            };
            let proto = match (d.disk_type(), cdrom) {
                (DiskType::File, _) => "file",
                (DiskType::Block, true) => "host_cdrom",
                (DiskType::Block, false) => "host_device",
                _ => "file",
            };
            let mut storage = Map::new();
            storage.insert("driver".into(), json!(proto));
            storage.insert("filename".into(), json!(src));
            storage.insert("node-name".into(), json!(format!("{node}-storage")));
            storage.insert("read-only".into(), json!(readonly));
            let cache = d.driver.as_ref().and_then(|x| x.cache);
            let (direct, no_flush) = match cache {
                Some(DiskCache::None | DiskCache::Directsync) => (Some(true), Some(false)),
                Some(DiskCache::Writeback | DiskCache::Writethrough) => (Some(false), Some(false)),
                Some(DiskCache::Unsafe) => (Some(false), Some(true)),
                _ => (None, None),
            };
            if let Some(direct) = direct {
                storage.insert("cache".into(), json!({ "direct": direct, "no-flush": no_flush.unwrap_or(false) }));
            }
            match d.driver.as_ref().and_then(|x| x.io) {
                Some(DiskIo::Native) => {
                    storage.insert("aio".into(), json!("native"));
                }
                Some(DiskIo::IoUring) => {
                    storage.insert("aio".into(), json!("io_uring"));
                }
                Some(DiskIo::Threads) => {
                    storage.insert("aio".into(), json!("threads"));
                }
                _ => {}
            }
            if d.driver.as_ref().and_then(|x| x.discard) == Some(virtkit_model::domain::devices::DiskDiscard::Unmap) {
                storage.insert("discard".into(), json!("unmap"));
            }
            b.opt("-blockdev", json_arg(Value::Object(storage)));
            b.opt(
                "-blockdev",
                json_arg(json!({
                    "node-name": format!("{node}-format"),
                    "read-only": readonly,
                    "driver": fmt,
                    "file": format!("{node}-storage"),
                })),
            );
            drive_node = Some(format!("{node}-format"));
        } else if !cdrom {
            return Err(unsupported(&path, "a disk needs a source"));
        }
        let mut props = Map::new();
        let driver = match (bus, cdrom) {
            (DiskBus::Virtio, false) => "virtio-blk-pci",
            (DiskBus::Virtio, true) => {
                return Err(unsupported(format!("{path}/target/@bus"), "a CD-ROM cannot be on virtio"));
            }
            (DiskBus::Ide | DiskBus::Sata, false) => "ide-hd",
            (DiskBus::Ide | DiskBus::Sata, true) => "ide-cd",
            (DiskBus::Scsi, false) => "scsi-hd",
            (DiskBus::Scsi, true) => "scsi-cd",
            (DiskBus::Usb, _) => "usb-storage",
            (bus, _) => {
                return Err(unsupported(format!("{path}/target/@bus"), format!("disk bus '{bus}' is not supported")));
            }
        };
        props.insert("driver".into(), json!(driver));
        let drive_addr = match &d.address {
            Some(Address::Drive(a)) => Some(*a),
            _ => None,
        };
        match bus {
            DiskBus::Ide => {
                let (bus_n, unit) = match drive_addr {
                    Some(a) => (a.bus.unwrap_or(0), a.unit.unwrap_or(0)),
                    None => {
                        let idx = dev_index(&dev);
                        (idx / 2, idx % 2)
                    }
                };
                if b.q35 {
                    props.insert("bus".into(), json!(format!("ide.{}", bus_n * 2 + unit)));
                } else {
                    props.insert("bus".into(), json!(format!("ide.{bus_n}")));
                    props.insert("unit".into(), json!(unit));
                }
            }
            DiskBus::Sata => {
                let port = match drive_addr {
                    Some(a) => a.unit.unwrap_or(0),
                    None => dev_index(&dev),
                };
                props.insert("bus".into(), json!(format!("{sata_bus}.{port}")));
            }
            DiskBus::Scsi => {
                let (ctrl, target, unit) = match drive_addr {
                    Some(a) => (a.controller.unwrap_or(0), a.target.unwrap_or(0), a.unit.unwrap_or(0)),
                    None => (0, 0, dev_index(&dev)),
                };
                props.insert("bus".into(), json!(format!("scsi{ctrl}.0")));
                props.insert("channel".into(), json!(0));
                props.insert("scsi-id".into(), json!(target));
                props.insert("lun".into(), json!(unit));
            }
            DiskBus::Usb => b.usb_addr(&mut props, d.address.as_ref(), &path)?,
            _ => b.pci_addr(&mut props, d.address.as_ref(), &path)?,
        }
        if let Some(node) = &drive_node {
            props.insert("drive".into(), json!(node));
        }
        props.insert("id".into(), json!(format!("disk-{dev}")));
        if let Some(boot) = &d.boot {
            props.insert("bootindex".into(), json!(boot.order));
        }
        if let Some(s) = &d.serial {
            props.insert("serial".into(), json!(s));
        }
        if let Some(w) = &d.wwn {
            let hex = w.trim_start_matches("0x");
            props.insert("wwn".into(), json!(format!("0x{hex}")));
        }
        if let Some(r) = d.target.removable.filter(|_| matches!(bus, DiskBus::Usb | DiskBus::Scsi)) {
            props.insert("removable".into(), json!(r));
        }
        if matches!(d.driver.as_ref().and_then(|x| x.cache), Some(DiskCache::Writethrough | DiskCache::Directsync)) {
            props.insert("write-cache".into(), json!("off"));
        }
        if d.shareable && !readonly {
            // Shared disks are opened without a lock QEMU would take.
            props.insert("share-rw".into(), json!(true));
        }
        b.device(Value::Object(props));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_names_give_positions() {
        assert_eq!(dev_index("hda"), 0);
        assert_eq!(dev_index("hdc"), 2);
        assert_eq!(dev_index("sdb"), 1);
        assert_eq!(dev_index("vdaa"), 26);
        assert_eq!(dev_index("ioemu:hdd"), 3);
    }
}
