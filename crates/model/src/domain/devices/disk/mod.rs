//! `<disk>`: a file, block device, volume or network image the guest sees
//! as a disk, CD-ROM, floppy or SCSI LUN.

mod chain;
mod iotune;
mod source;

use serde::{Deserialize, Serialize};

pub use chain::{BackingLayer, DiskBackingStore, ImageFormat, MetadataCache, Mirror, MirrorJob, MirrorReady};
pub use iotune::IoTune;
pub use source::{
    Cookie, DiskAuth, DiskSecretType, DiskSource, DiskType, HostTransport, NetworkDiskSource, NetworkHost,
    NetworkProtocol, NfsIdentity, NvmeSource, Reservations, Slice, SocketMode, SourceLocation, StartupPolicy,
    UnixSocket, VolumeMode, VolumeSource,
};

use super::{
    Address, DeviceBoot, VirtioOptions, read_address, read_alias, read_boot, write_address, write_alias, write_boot,
};
use crate::storage::Encryption;
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// What the guest sees.
    pub enum DiskDevice {
        Disk = "disk",
        Cdrom = "cdrom",
        Floppy = "floppy",
        /// A SCSI LUN passed through: the guest sends it SCSI commands.
        Lun = "lun",
    }
}

xml_enum! {
    pub enum DiskBus {
        Virtio = "virtio",
        Sata = "sata",
        Scsi = "scsi",
        Ide = "ide",
        Usb = "usb",
        Fdc = "fdc",
        Sd = "sd",
    }
    unsupported = ["xen", "uml"];
}

xml_enum! {
    /// The virtio device flavour (`<disk model=…>`).
    pub enum DiskModel {
        Virtio = "virtio",
        VirtioTransitional = "virtio-transitional",
        VirtioNonTransitional = "virtio-non-transitional",
    }
}

xml_enum! {
    /// How the disk takes part in domain snapshots by default.
    pub enum DiskSnapshot {
        No = "no",
        Internal = "internal",
        External = "external",
        Manual = "manual",
    }
}

xml_enum! {
    /// Whether a LUN's SCSI commands are filtered by the host kernel.
    pub enum Sgio {
        Filtered = "filtered",
        Unfiltered = "unfiltered",
    }
}

xml_enum! {
    /// The image format (`<driver type=…>`, `<format type=…>`).
    pub enum DiskFormat {
        Raw = "raw",
        Qcow2 = "qcow2",
        Qcow = "qcow",
        Qed = "qed",
        Vmdk = "vmdk",
        Vdi = "vdi",
        Vpc = "vpc",
        Vhd = "vhd",
        Luks = "luks",
        Iso = "iso",
        Cloop = "cloop",
        Dmg = "dmg",
        Bochs = "bochs",
        Cow = "cow",
        Fat = "fat",
        Ploop = "ploop",
        Dir = "dir",
    }
}

xml_enum! {
    /// The disk driver (`<driver name=…>`); QEMU's is the only one.
    pub enum DiskDriverName {
        Qemu = "qemu",
    }
    unsupported = ["tap", "tap2", "phy", "file"];
}

xml_enum! {
    pub enum DiskCache {
        Default = "default",
        None = "none",
        Writethrough = "writethrough",
        Writeback = "writeback",
        Directsync = "directsync",
        Unsafe = "unsafe",
    }
}

xml_enum! {
    pub enum DiskIo {
        Threads = "threads",
        Native = "native",
        IoUring = "io_uring",
    }
}

xml_enum! {
    pub enum DiskDiscard {
        Unmap = "unmap",
        Ignore = "ignore",
    }
}

xml_enum! {
    /// What the guest sees when a write fails.
    pub enum ErrorPolicy {
        Stop = "stop",
        Report = "report",
        Ignore = "ignore",
        /// Stop on a full host disk, report other errors.
        Enospace = "enospace",
    }
}

xml_enum! {
    /// What the guest sees when a read fails.
    pub enum ReadErrorPolicy {
        Stop = "stop",
        Report = "report",
        Ignore = "ignore",
    }
}

xml_enum! {
    pub enum DetectZeroes {
        Off = "off",
        On = "on",
        Unmap = "unmap",
    }
}

xml_enum! {
    pub enum Tray {
        Open = "open",
        Closed = "closed",
    }
}

/// A `<disk>` device.
///
/// ```
/// use virtkit_model::domain::devices::{Disk, DiskBus, DiskFormat};
///
/// let d = Disk::file("/var/lib/virtkit/images/vm.qcow2", "vda", DiskBus::Virtio)
///     .with_format(DiskFormat::Qcow2);
/// assert_eq!(d.target.dev, "vda");
/// assert_eq!(d.source.path(), Some("/var/lib/virtkit/images/vm.qcow2"));
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Disk {
    pub device: DiskDevice,
    pub model: Option<DiskModel>,
    /// A LUN: whether the guest may send any SCSI command (needs CAP_SYS_RAWIO).
    pub rawio: Option<bool>,
    pub sgio: Option<Sgio>,
    pub snapshot: Option<DiskSnapshot>,
    pub driver: Option<DiskDriver>,
    /// `<auth>` under `<disk>` (the older place; libvirt keeps it there).
    pub auth: Option<DiskAuth>,
    /// The disk's `type=` and `<source>`; an empty drive has an empty one.
    pub source: DiskSource,
    pub backing_store: Option<DiskBackingStore>,
    /// A running block job's destination: runtime state.
    pub mirror: Option<Mirror>,
    pub target: DiskTarget,
    pub iotune: Option<IoTune>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shareable: bool,
    pub serial: Option<String>,
    /// World wide name, 16 hex digits (SCSI and IDE disks).
    pub wwn: Option<String>,
    /// SCSI disks: the vendor (up to 8 printable characters).
    pub vendor: Option<String>,
    /// SCSI disks: the product (up to 16 printable characters).
    pub product: Option<String>,
    /// `<encryption>` under `<disk>` (the older place; libvirt keeps it there).
    pub encryption: Option<Encryption>,
    pub boot: Option<DeviceBoot>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

/// `<driver>` inside `<disk>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DiskDriver {
    pub name: Option<DiskDriverName>,
    /// The image format (`type=` in XML).
    pub format: Option<DiskFormat>,
    pub cache: Option<DiskCache>,
    pub error_policy: Option<ErrorPolicy>,
    pub rerror_policy: Option<ReadErrorPolicy>,
    pub io: Option<DiskIo>,
    pub ioeventfd: Option<bool>,
    pub event_idx: Option<bool>,
    pub copy_on_read: Option<bool>,
    pub discard: Option<DiskDiscard>,
    /// The `<iothread>` (by id) that serves this disk.
    pub iothread: Option<u32>,
    pub detect_zeroes: Option<DetectZeroes>,
    /// virtio: request queues.
    pub queues: Option<u32>,
    /// virtio: the size of each queue.
    pub queue_size: Option<u32>,
    pub virtio: Option<VirtioOptions>,
    pub metadata_cache: Option<MetadataCache>,
}

/// `<target>` inside `<disk>`: how the guest sees it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DiskTarget {
    /// The device name hint (`vda`, `sda`, `hdc`); unique in a domain.
    pub dev: String,
    pub bus: Option<DiskBus>,
    /// Removable media: whether the tray is open.
    pub tray: Option<Tray>,
    pub removable: Option<bool>,
    /// The rotation rate a disk reports (1: solid state).
    pub rotation_rate: Option<u32>,
}

impl Disk {
    /// A disk of `device` kind on `source`, at `dev` on `bus`.
    pub fn new(source: DiskSource, device: DiskDevice, dev: &str, bus: DiskBus) -> Self {
        Disk {
            device,
            model: None,
            rawio: None,
            sgio: None,
            snapshot: None,
            driver: None,
            auth: None,
            source,
            backing_store: None,
            mirror: None,
            target: DiskTarget {
                dev: dev.to_owned(),
                bus: Some(bus),
                tray: None,
                removable: None,
                rotation_rate: None,
            },
            iotune: None,
            readonly: false,
            shareable: false,
            serial: None,
            wwn: None,
            vendor: None,
            product: None,
            encryption: None,
            boot: None,
            alias: None,
            address: None,
        }
    }

    /// A disk backed by an image file.
    pub fn file(path: impl Into<String>, dev: &str, bus: DiskBus) -> Self {
        Disk::new(DiskSource::file(Some(path.into())), DiskDevice::Disk, dev, bus)
    }

    /// A disk backed by a host block device.
    pub fn block(path: impl Into<String>, dev: &str, bus: DiskBus) -> Self {
        Disk::new(DiskSource::block(path), DiskDevice::Disk, dev, bus)
    }

    /// A read-only CD-ROM drive, with an ISO image or empty.
    pub fn cdrom(iso: Option<String>, dev: &str, bus: DiskBus) -> Self {
        let mut d = Disk::new(DiskSource::file(iso), DiskDevice::Cdrom, dev, bus);
        d.readonly = true;
        d
    }

    /// Where the data lives (the `type=` of `<disk>`).
    pub fn disk_type(&self) -> DiskType {
        self.source.disk_type()
    }

    pub fn with_format(mut self, format: DiskFormat) -> Self {
        let driver = self.driver.get_or_insert_with(DiskDriver::default);
        driver.name = Some(DiskDriverName::Qemu);
        driver.format = Some(format);
        self
    }

    pub fn with_driver(mut self, driver: DiskDriver) -> Self {
        self.driver = Some(driver);
        self
    }

    pub fn with_boot_order(mut self, order: u32) -> Self {
        self.boot = Some(DeviceBoot::new(order));
        self
    }

    pub fn with_serial(mut self, serial: impl Into<String>) -> Self {
        self.serial = Some(serial.into());
        self
    }

    pub fn with_address(mut self, address: Address) -> Self {
        self.address = Some(address);
        self
    }

    pub fn with_backing_store(mut self, backing: DiskBackingStore) -> Self {
        self.backing_store = Some(backing);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Disk> {
        let disk_type: DiskType = el.attr("type")?.unwrap_or(DiskType::File);
        Ok(Disk {
            device: el.attr("device")?.unwrap_or(DiskDevice::Disk),
            model: el.attr("model")?,
            rawio: el.yes_no("rawio")?,
            sgio: el.attr("sgio")?,
            snapshot: el.attr("snapshot")?,
            driver: el.child("driver", read_driver)?,
            auth: el.child("auth", DiskAuth::read)?,
            source: DiskSource::read(el, disk_type)?,
            backing_store: chain::read_backing(el)?,
            mirror: el.child("mirror", Mirror::read)?,
            target: el.req_child("target", |t| {
                Ok(DiskTarget {
                    dev: t.req_attr("dev")?,
                    bus: t.attr("bus")?,
                    tray: t.attr("tray")?,
                    removable: t.on_off("removable")?,
                    rotation_rate: t.attr("rotation_rate")?,
                })
            })?,
            iotune: el.child("iotune", IoTune::read)?,
            readonly: el.flag("readonly")?,
            shareable: el.flag("shareable")?,
            serial: el.child_text("serial")?,
            wwn: el.child_text("wwn")?,
            vendor: el.child_text("vendor")?,
            product: el.child_text("product")?,
            encryption: el.child("encryption", crate::storage::read_encryption)?,
            boot: read_boot(el)?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("disk");
        w.attr("type", self.disk_type().as_str());
        w.attr("device", self.device.as_str());
        w.attr_opt("model", self.model.as_ref());
        w.yes_no("rawio", self.rawio);
        w.attr_opt("sgio", self.sgio.as_ref());
        w.attr_opt("snapshot", self.snapshot.as_ref());
        if let Some(d) = &self.driver {
            write_driver(w, d);
        }
        if let Some(a) = &self.auth {
            a.write(w);
        }
        self.source.write(w);
        chain::write_backing(w, self.backing_store.as_ref());
        if let Some(m) = &self.mirror {
            m.write(w);
        }
        w.start("target");
        w.attr("dev", &self.target.dev);
        w.attr_opt("bus", self.target.bus.as_ref());
        w.attr_opt("tray", self.target.tray.as_ref());
        w.on_off("removable", self.target.removable);
        w.attr_opt("rotation_rate", self.target.rotation_rate.as_ref());
        w.end();
        if let Some(t) = &self.iotune {
            t.write(w);
        }
        w.flag("readonly", self.readonly);
        w.flag("shareable", self.shareable);
        w.opt_text_element("serial", self.serial.as_ref());
        w.opt_text_element("wwn", self.wwn.as_ref());
        w.opt_text_element("vendor", self.vendor.as_ref());
        w.opt_text_element("product", self.product.as_ref());
        if let Some(e) = &self.encryption {
            crate::storage::write_encryption(w, e);
        }
        write_boot(w, self.boot.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

fn read_driver(d: &El<'_, '_>) -> Result<DiskDriver> {
    let virtio = VirtioOptions::read(d)?;
    Ok(DiskDriver {
        name: d.attr("name")?,
        format: d.attr("type")?,
        cache: d.attr("cache")?,
        error_policy: d.attr("error_policy")?,
        rerror_policy: d.attr("rerror_policy")?,
        io: d.attr("io")?,
        ioeventfd: d.on_off("ioeventfd")?,
        event_idx: d.on_off("event_idx")?,
        copy_on_read: d.on_off("copy_on_read")?,
        discard: d.attr("discard")?,
        iothread: d.attr("iothread")?,
        detect_zeroes: d.attr("detect_zeroes")?,
        queues: d.attr("queues")?,
        queue_size: d.attr("queue_size")?,
        virtio: (!virtio.is_empty()).then_some(virtio),
        metadata_cache: d.child("metadata_cache", MetadataCache::read)?,
    })
}

fn write_driver(w: &mut XmlWriter, d: &DiskDriver) {
    w.start("driver");
    w.attr_opt("name", d.name.as_ref());
    w.attr_opt("type", d.format.as_ref());
    w.attr_opt("cache", d.cache.as_ref());
    w.attr_opt("error_policy", d.error_policy.as_ref());
    w.attr_opt("rerror_policy", d.rerror_policy.as_ref());
    w.attr_opt("io", d.io.as_ref());
    w.on_off("ioeventfd", d.ioeventfd);
    w.on_off("event_idx", d.event_idx);
    w.on_off("copy_on_read", d.copy_on_read);
    w.attr_opt("discard", d.discard.as_ref());
    w.attr_opt("iothread", d.iothread.as_ref());
    w.attr_opt("detect_zeroes", d.detect_zeroes.as_ref());
    w.attr_opt("queues", d.queues.as_ref());
    w.attr_opt("queue_size", d.queue_size.as_ref());
    if let Some(v) = &d.virtio {
        v.write(w);
    }
    if let Some(m) = &d.metadata_cache {
        m.write(w);
    }
    w.end();
}
