//! Disks: a `-blockdev` chain for the source (see `blockdev.rs`), filters
//! for I/O limits and copy-on-read, and a `-device` for the drive.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Address, DetectZeroes, Disk, DiskBus, DiskCache, DiskDevice, DiskDiscard, DiskFormat, DiskIo, DiskModel, DiskType,
    ErrorPolicy, IoTune, ReadErrorPolicy, Sgio, StartupPolicy,
};

use super::blockdev::Layer;
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

/// What of a definition's disk QEMU cannot do as asked, refused before
/// anything runs.
fn refusals(d: &Disk, path: &str) -> Result<(), ArgvError> {
    if d.mirror.is_some() {
        return Err(unsupported(
            format!("{path}/mirror"),
            "a <mirror> is the state of a running block job, not something to start with",
        ));
    }
    if d.auth.is_some() {
        return Err(unsupported(
            format!("{path}/auth"),
            "<auth> directly under <disk> is not supported yet (inside <source> it is)",
        ));
    }
    if d.encryption.is_some() {
        return Err(unsupported(
            format!("{path}/encryption"),
            "encrypted disks are not supported yet (QEMU is not given their passphrase secret)",
        ));
    }
    if d.rawio == Some(true) {
        return Err(unsupported(
            format!("{path}/@rawio"),
            "rawio='yes' needs CAP_SYS_RAWIO for QEMU, which virtkit does not grant",
        ));
    }
    if d.sgio == Some(Sgio::Unfiltered) {
        return Err(unsupported(
            format!("{path}/@sgio"),
            "sgio='unfiltered' needs the host device's unpriv_sgio set, which virtkit does not change",
        ));
    }
    if d.source.startup_policy.is_some_and(|p| p != StartupPolicy::Mandatory) {
        return Err(unsupported(format!("{path}/source/@startupPolicy"), "a startup policy is not supported yet"));
    }
    Ok(())
}

/// The format node's extras: metadata cache size and zero detection.
fn format_props(d: &Disk) -> Map<String, Value> {
    let mut m = Map::new();
    let Some(drv) = &d.driver else { return m };
    if let Some(size) = drv.metadata_cache.and_then(|c| c.max_size) {
        m.insert("cache-size".into(), json!(size.as_bytes()));
    }
    match drv.detect_zeroes {
        Some(DetectZeroes::On) => {
            m.insert("detect-zeroes".into(), json!("on"));
        }
        Some(DetectZeroes::Unmap) => {
            m.insert("detect-zeroes".into(), json!("unmap"));
        }
        _ => {}
    }
    m
}

/// The protocol node's extras: cache mode, AIO, discard.
fn storage_props(d: &Disk) -> Map<String, Value> {
    let mut storage = Map::new();
    let drv = d.driver.as_ref();
    let (direct, no_flush) = match drv.and_then(|x| x.cache) {
        Some(DiskCache::None | DiskCache::Directsync) => (Some(true), false),
        Some(DiskCache::Writeback | DiskCache::Writethrough) => (Some(false), false),
        Some(DiskCache::Unsafe) => (Some(false), true),
        _ => (None, false),
    };
    if let Some(direct) = direct {
        storage.insert("cache".into(), json!({ "direct": direct, "no-flush": no_flush }));
    }
    if let Some(io) = drv.and_then(|x| x.io) {
        let aio = match io {
            DiskIo::Native => "native",
            DiskIo::IoUring => "io_uring",
            _ => "threads",
        };
        storage.insert("aio".into(), json!(aio));
    }
    if drv.and_then(|x| x.discard) == Some(DiskDiscard::Unmap) {
        storage.insert("discard".into(), json!("unmap"));
    }
    storage
}

/// QEMU's throttle limits for `<iotune>`.
fn throttle_limits(t: &IoTune) -> Map<String, Value> {
    let mut m = Map::new();
    for (name, v) in t.limits() {
        let Some(v) = v else { continue };
        // total_bytes_sec_max_length → bps-total-max-length
        let key = name.replace("_bytes_sec", "").replace("_iops_sec", "").replace('_', "-");
        let kind = if name.contains("iops") { "iops" } else { "bps" };
        let key = if name == "size_iops_sec" { "iops-size".to_owned() } else { format!("{kind}-{key}") };
        m.insert(key, json!(v));
    }
    m
}

pub(super) fn disk_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let disks = &b.def.devices.disks;
    let n = disks.len();
    let sata_bus = if b.q35 { "ide" } else { "sata0" };
    let mut groups: HashMap<String, Map<String, Value>> = HashMap::new();
    floppy_controller(b);
    for (i, d) in disks.iter().enumerate() {
        let path = if n > 1 { format!("/domain/devices/disk[{}]", i + 1) } else { "/domain/devices/disk".into() };
        let dev = d.target.dev.trim_start_matches("ioemu:").to_owned();
        let bus = d.target.bus.unwrap_or(match dev.get(..2) {
            Some("hd") => DiskBus::Ide,
            Some("sd") => DiskBus::Scsi,
            Some("fd") => DiskBus::Fdc,
            _ => DiskBus::Virtio,
        });
        let cdrom = d.device == DiskDevice::Cdrom;
        let floppy = d.device == DiskDevice::Floppy;
        let readonly = d.readonly || cdrom || d.disk_type() == DiskType::Dir;
        if d.readonly && !cdrom && matches!(bus, DiskBus::Ide | DiskBus::Sata) {
            // QEMU's ide-hd refuses a read-only node (libvirt refuses it too).
            return Err(unsupported(
                format!("{path}/readonly"),
                "an IDE or SATA hard disk cannot be read-only in QEMU; use bus='virtio' or 'scsi', or a cdrom",
            ));
        }
        refusals(d, &path)?;
        let node = format!("drive-{dev}");
        let mut drive_node = None;
        if !d.source.is_empty() {
            let format = d.driver.as_ref().and_then(|x| x.format).unwrap_or(DiskFormat::Raw);
            let layer = Layer {
                path: format!("{path}/source"),
                source: &d.source,
                format,
                node: node.clone(),
                readonly,
                cdrom,
                floppy,
                storage_props: storage_props(d),
                format_props: format_props(d),
            };
            let mut top = b.blockdev_chain(layer, d.backing_store.as_ref())?;
            if let Some(t) = &d.iotune {
                let group = format!("throttle-{}", t.group_name.as_deref().unwrap_or(&dev));
                let limits = throttle_limits(t);
                match groups.get(&group) {
                    Some(l) if *l != limits => {
                        return Err(unsupported(
                            format!("{path}/iotune"),
                            "disks of one I/O group share their limits: give them the same ones",
                        ));
                    }
                    Some(_) => {}
                    None => {
                        b.opt(
                            "-object",
                            json_arg(json!({"qom-type": "throttle-group", "id": group, "limits": limits})),
                        );
                        groups.insert(group.clone(), limits);
                    }
                }
                let throttle = format!("{node}-throttle");
                b.opt(
                    "-blockdev",
                    json_arg(
                        json!({"driver": "throttle", "node-name": throttle, "throttle-group": group, "file": top}),
                    ),
                );
                top = throttle;
            }
            if d.driver.as_ref().and_then(|x| x.copy_on_read) == Some(true) {
                let cor = format!("{node}-cor");
                b.opt("-blockdev", json_arg(json!({"driver": "copy-on-read", "node-name": cor, "file": top})));
                top = cor;
            }
            drive_node = Some(top);
        } else if !(cdrom || floppy) {
            return Err(unsupported(&path, "a disk needs a source"));
        }
        let mut props = Map::new();
        let virtio_name = match d.model {
            Some(DiskModel::VirtioTransitional) => "virtio-blk-pci-transitional",
            Some(DiskModel::VirtioNonTransitional) => "virtio-blk-pci-non-transitional",
            _ => "virtio-blk-pci",
        };
        let driver = match (bus, d.device) {
            (DiskBus::Fdc, DiskDevice::Floppy) => "floppy",
            (_, DiskDevice::Floppy) | (DiskBus::Fdc, _) => {
                return Err(unsupported(format!("{path}/target/@bus"), "a floppy is on the fdc bus"));
            }
            (DiskBus::Virtio, DiskDevice::Cdrom) => {
                return Err(unsupported(format!("{path}/target/@bus"), "a CD-ROM cannot be on virtio"));
            }
            (DiskBus::Virtio, DiskDevice::Lun) => {
                return Err(unsupported(
                    format!("{path}/target/@bus"),
                    "a virtio lun needs virtio-blk's SCSI passthrough, which virtio 1.0 devices lack; use bus='scsi'",
                ));
            }
            (DiskBus::Virtio, _) => virtio_name,
            (DiskBus::Scsi, DiskDevice::Lun) => "scsi-block",
            (_, DiskDevice::Lun) => {
                return Err(unsupported(format!("{path}/target/@bus"), "a lun is on the scsi bus"));
            }
            (DiskBus::Ide | DiskBus::Sata, DiskDevice::Cdrom) => "ide-cd",
            (DiskBus::Ide | DiskBus::Sata, _) => "ide-hd",
            (DiskBus::Scsi, DiskDevice::Cdrom) => "scsi-cd",
            (DiskBus::Scsi, _) => "scsi-hd",
            (DiskBus::Usb, _) => "usb-storage",
            (bus, _) => {
                return Err(unsupported(format!("{path}/target/@bus"), format!("disk bus '{bus}' is not supported")));
            }
        };
        if !b.ctx.has(driver) {
            return Err(unsupported(format!("{path}/target/@bus"), format!("this QEMU has no {driver} device")));
        }
        if d.model.is_some() && bus != DiskBus::Virtio {
            return Err(unsupported(format!("{path}/@model"), "a disk model is for virtio disks only"));
        }
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
            DiskBus::Fdc => {
                let unit = floppy_unit(d);
                if unit > 1 {
                    return Err(unsupported(format!("{path}/target/@dev"), "the floppy controller has drives A and B"));
                }
                props.insert("unit".into(), json!(unit));
            }
            DiskBus::Usb => b.usb_addr(&mut props, d.address.as_ref(), &path)?,
            _ => b.pci_addr(&mut props, d.address.as_ref(), &path)?,
        }
        if let Some(node) = &drive_node {
            props.insert("drive".into(), json!(node));
        }
        props.insert("id".into(), json!(format!("disk-{dev}")));
        if let Some(boot) = d.boot.as_ref().filter(|_| !floppy) {
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
        device_options(b, d, &path, bus, &mut props)?;
        b.device(Value::Object(props));
    }
    Ok(())
}

/// The floppy drive's unit: A (0) or B (1).
fn floppy_unit(d: &Disk) -> u32 {
    match &d.address {
        Some(Address::Drive(a)) => a.unit.unwrap_or(0),
        _ => dev_index(d.target.dev.trim_start_matches("ioemu:")),
    }
}

/// The floppy controller, before its drives: q35 has none built in (an
/// `isa-fdc` with the drives' boot orders), a PC's takes them as globals.
fn floppy_controller(b: &mut Builder<'_>) {
    let floppies: Vec<&Disk> = b.def.devices.disks.iter().filter(|d| d.device == DiskDevice::Floppy).collect();
    if floppies.is_empty() {
        return;
    }
    let boots: Vec<(&str, u32)> = floppies
        .iter()
        .filter_map(|d| {
            let order = d.boot.as_ref()?.order;
            Some((if floppy_unit(d) == 0 { "bootindexA" } else { "bootindexB" }, order))
        })
        .collect();
    if b.q35 {
        let mut fdc = Map::new();
        fdc.insert("driver".into(), json!("isa-fdc"));
        for (k, order) in boots {
            fdc.insert(k.into(), json!(order));
        }
        b.device(Value::Object(fdc));
    } else {
        for (k, order) in boots {
            b.opt("-global", format!("isa-fdc.{k}={order}"));
        }
    }
}

/// Error policies, queues, I/O thread, virtio options, SCSI identity.
fn device_options(
    b: &Builder<'_>,
    d: &Disk,
    path: &str,
    bus: DiskBus,
    props: &mut Map<String, Value>,
) -> Result<(), ArgvError> {
    let virtio = bus == DiskBus::Virtio;
    if let Some(drv) = &d.driver {
        if let Some(p) = drv.error_policy {
            let w = match p {
                ErrorPolicy::Stop => "stop",
                ErrorPolicy::Report => "report",
                ErrorPolicy::Ignore => "ignore",
                _ => "enospc",
            };
            props.insert("werror".into(), json!(w));
        }
        if let Some(p) = drv.rerror_policy {
            let r = match p {
                ReadErrorPolicy::Stop => "stop",
                ReadErrorPolicy::Report => "report",
                _ => "ignore",
            };
            props.insert("rerror".into(), json!(r));
        }
        let virtio_only = [
            ("num-queues", drv.queues.map(|v| json!(v))),
            ("queue-size", drv.queue_size.map(|v| json!(v))),
            ("event_idx", drv.event_idx.map(|v| json!(v))),
            ("ioeventfd", drv.ioeventfd.map(|v| json!(v))),
        ];
        for (k, v) in virtio_only {
            let Some(v) = v else { continue };
            if !virtio {
                return Err(unsupported(format!("{path}/driver"), format!("{k} is for virtio disks only")));
            }
            props.insert(k.into(), v);
        }
        if let Some(t) = drv.iothread {
            if !virtio {
                return Err(unsupported(
                    format!("{path}/driver/@iothread"),
                    "an I/O thread serves a virtio disk; a SCSI disk takes its controller's",
                ));
            }
            if !b.def.iothreads.all_ids().contains(&t) {
                return Err(unsupported(format!("{path}/driver/@iothread"), format!("there is no I/O thread {t}")));
            }
            props.insert("iothread".into(), json!(format!("iothread{t}")));
        }
        if let Some(o) = &drv.virtio {
            if !virtio {
                return Err(unsupported(format!("{path}/driver"), "virtio options are for virtio disks only"));
            }
            b.virtio_options(props, o, &format!("{path}/driver"))?;
        }
    }
    for (k, v) in [("vendor", &d.vendor), ("product", &d.product)] {
        let Some(v) = v else { continue };
        if bus != DiskBus::Scsi || d.device == DiskDevice::Lun {
            return Err(unsupported(format!("{path}/{k}"), format!("a {k} is for SCSI disks and CD-ROMs")));
        }
        props.insert(k.into(), json!(v));
    }
    if let Some(r) = d.target.rotation_rate {
        if !matches!(bus, DiskBus::Ide | DiskBus::Sata | DiskBus::Scsi) || d.device != DiskDevice::Disk {
            return Err(unsupported(
                format!("{path}/target/@rotation_rate"),
                "a rotation rate is for IDE, SATA and SCSI hard disks",
            ));
        }
        props.insert("rotation_rate".into(), json!(r));
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

    #[test]
    fn io_limits_get_qemus_names() {
        let mut t = IoTune::default();
        t.total_bytes_sec = Some(1);
        t.read_iops_sec_max = Some(2);
        t.size_iops_sec = Some(3);
        t.write_bytes_sec_max_length = Some(4);
        let m = throttle_limits(&t);
        let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["bps-total", "bps-write-max-length", "iops-read-max", "iops-size"]);
    }
}
