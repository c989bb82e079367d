//! `<disk>`: a file or block device the guest sees as a disk or CD-ROM.

use serde::{Deserialize, Serialize};

use super::{Address, DeviceBoot, read_address, read_alias, read_boot, write_address, write_alias, write_boot};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// Where the disk's data lives on the host.
    pub enum DiskType {
        File = "file",
        Block = "block",
    }
    unsupported = ["dir", "network", "volume", "nvme", "vhostuser"];
}

xml_enum! {
    /// What the guest sees.
    pub enum DiskDevice {
        Disk = "disk",
        Cdrom = "cdrom",
    }
    unsupported = ["floppy", "lun"];
}

xml_enum! {
    pub enum DiskBus {
        Virtio = "virtio",
        Sata = "sata",
        Scsi = "scsi",
        Ide = "ide",
        Usb = "usb",
    }
    unsupported = ["fdc", "xen", "uml", "sd"];
}

xml_enum! {
    /// The image format (`<driver type=…>`).
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

/// A `<disk>` device.
///
/// ```
/// use virtkit_model::domain::devices::{Disk, DiskBus, DiskFormat};
///
/// let d = Disk::file("/var/lib/virtkit/images/vm.qcow2", "vda", DiskBus::Virtio)
///     .with_format(DiskFormat::Qcow2);
/// assert_eq!(d.target.dev, "vda");
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Disk {
    #[serde(rename = "type")]
    pub disk_type: DiskType,
    pub device: DiskDevice,
    pub driver: Option<DiskDriver>,
    /// The file or block device path; a CD-ROM may have none (no media).
    pub source: Option<String>,
    pub target: DiskTarget,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shareable: bool,
    pub serial: Option<String>,
    /// World wide name, 16 hex digits (SCSI and IDE disks).
    pub wwn: Option<String>,
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
    pub io: Option<DiskIo>,
    pub discard: Option<DiskDiscard>,
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
    pub removable: Option<bool>,
}

impl Disk {
    fn new(disk_type: DiskType, device: DiskDevice, source: Option<String>, dev: &str, bus: DiskBus) -> Self {
        Disk {
            disk_type,
            device,
            driver: None,
            source,
            target: DiskTarget { dev: dev.to_owned(), bus: Some(bus), removable: None },
            readonly: false,
            shareable: false,
            serial: None,
            wwn: None,
            boot: None,
            alias: None,
            address: None,
        }
    }

    /// A disk backed by an image file.
    pub fn file(path: impl Into<String>, dev: &str, bus: DiskBus) -> Self {
        Disk::new(DiskType::File, DiskDevice::Disk, Some(path.into()), dev, bus)
    }

    /// A disk backed by a host block device.
    pub fn block(path: impl Into<String>, dev: &str, bus: DiskBus) -> Self {
        Disk::new(DiskType::Block, DiskDevice::Disk, Some(path.into()), dev, bus)
    }

    /// A read-only CD-ROM drive, with an ISO image or empty.
    pub fn cdrom(iso: Option<String>, dev: &str, bus: DiskBus) -> Self {
        let mut d = Disk::new(DiskType::File, DiskDevice::Cdrom, iso, dev, bus);
        d.readonly = true;
        d
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

    /// The XML attribute of `<source>` that holds the path.
    pub(crate) fn source_attr(&self) -> &'static str {
        match self.disk_type {
            DiskType::File => "file",
            DiskType::Block => "dev",
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Disk> {
        let disk_type: DiskType = el.attr("type")?.unwrap_or(DiskType::File);
        let source_attr = match disk_type {
            DiskType::File => "file",
            DiskType::Block => "dev",
        };
        Ok(Disk {
            disk_type,
            device: el.attr("device")?.unwrap_or(DiskDevice::Disk),
            driver: el.child("driver", |d| {
                Ok(DiskDriver {
                    name: d.attr("name")?,
                    format: d.attr("type")?,
                    cache: d.attr("cache")?,
                    io: d.attr("io")?,
                    discard: d.attr("discard")?,
                })
            })?,
            source: el.child("source", |s| s.attr::<String>(source_attr))?.flatten().filter(|p| !p.is_empty()),
            target: el.req_child("target", |t| {
                Ok(DiskTarget { dev: t.req_attr("dev")?, bus: t.attr("bus")?, removable: t.on_off("removable")? })
            })?,
            readonly: el.flag("readonly")?,
            shareable: el.flag("shareable")?,
            serial: el.child_text("serial")?,
            wwn: el.child_text("wwn")?,
            boot: read_boot(el)?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("disk");
        w.attr("type", self.disk_type.as_str());
        w.attr("device", self.device.as_str());
        if let Some(d) = &self.driver {
            w.start("driver");
            w.attr_opt("name", d.name.as_ref());
            w.attr_opt("type", d.format.as_ref());
            w.attr_opt("cache", d.cache.as_ref());
            w.attr_opt("io", d.io.as_ref());
            w.attr_opt("discard", d.discard.as_ref());
            w.end();
        }
        if let Some(s) = &self.source {
            w.start("source");
            w.attr(self.source_attr(), s);
            w.end();
        }
        w.start("target");
        w.attr("dev", &self.target.dev);
        w.attr_opt("bus", self.target.bus.as_ref());
        w.on_off("removable", self.target.removable);
        w.end();
        w.flag("readonly", self.readonly);
        w.flag("shareable", self.shareable);
        w.opt_text_element("serial", self.serial.as_ref());
        w.opt_text_element("wwn", self.wwn.as_ref());
        write_boot(w, self.boot.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}
