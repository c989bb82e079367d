//! `<devices>`: everything attached to the domain. Each device kind has its
//! own module; this one holds the list, device addresses and boot order.

mod chardev;
mod controller;
mod disk;
mod filesystem;
mod graphics;
mod hostdev;
mod interface;
mod memdev;
mod misc;
mod platform;
mod seclabel;
mod sound;
mod tpm;
mod usb;

use serde::{Deserialize, Serialize};

pub use chardev::{
    Channel, ChannelTarget, ChannelTargetState, CharLog, CharSource, Console, ConsoleTargetType, GUEST_AGENT_CHANNEL,
    Reconnect, Serial, SerialTargetModel, SerialTargetType, SourceMode, TcpProtocol,
};
pub use controller::{Controller, ControllerDriver, ControllerTarget, ControllerType, PCI_MODEL_NAMES};
pub use disk::{
    BackingLayer, Cookie, DetectZeroes, Disk, DiskAuth, DiskBackingStore, DiskBus, DiskCache, DiskDevice, DiskDiscard,
    DiskDriver, DiskDriverName, DiskFormat, DiskIo, DiskModel, DiskSecretType, DiskSnapshot, DiskSource, DiskTarget,
    DiskType, ErrorPolicy, HostTransport, ImageFormat, IoTune, MetadataCache, Mirror, MirrorJob, MirrorReady,
    NetworkDiskSource, NetworkHost, NetworkProtocol, NfsIdentity, NvmeSource, ReadErrorPolicy, Reservations, Sgio,
    Slice, SocketMode, SourceLocation, StartupPolicy, Tray, UnixSocket, VolumeMode, VolumeSource,
};
pub use filesystem::{
    AccessMode, Filesystem, FsBinary, FsCacheMode, FsDriver, FsDriverType, FsSandboxMode, FsSource, FsWrPolicy,
    Multidevs,
};
pub use graphics::{
    DbusDisplay, Desktop, EglHeadless, Graphics, GraphicsConnected, GraphicsGl, GraphicsListen, Rdp, Sdl, SharePolicy,
    Spice, SpiceChannel, SpiceChannelMode, SpiceChannelName, SpiceImageCompression, SpiceMouseMode, SpiceStreamingMode,
    SpiceWanCompression, Vnc,
};
pub use hostdev::{
    AuthSecretType, GuestReset, Hostdev, HostdevSource, IscsiAuth, IscsiHost, MdevModel, PciDriverName, ScsiSource,
    UsbSource,
};
pub use interface::{
    BackendType, Coalesce, CoalesceFrames, CoalesceRx, DirectMode, FilterParameter, FilterRef, ForwardProto,
    GuestOffloads, HostOffloads, Interface, InterfaceBackend, InterfaceDriver, InterfaceDriverName, InterfaceGuest,
    InterfaceIp, InterfaceSource, InterfaceTarget, InterfaceTune, LinkState, MacType, NetworkSource, NicModel,
    PortForward, PortRange, Teaming, TxMode, VhostUserMode,
};
pub use memdev::{MemoryDevice, MemoryModel, MemorySource, MemoryTarget};
pub use misc::{
    BalloonModel, GrabToggle, Input, InputBus, InputSource, InputType, Memballoon, Panic, PanicModel, Rng, RngBackend,
    RngModel, RngRate, VgaConf, Video, VideoAcceleration, VideoDriver, VideoDriverName, VideoModel, VideoType,
    VirtioModel, Watchdog, WatchdogAction, WatchdogModel,
};
pub use platform::{Iommu, IommuDriver, IommuModel, Lease, Shmem, ShmemModel, ShmemMsi, ShmemRole, ShmemServer, Vsock};
pub use seclabel::DeviceSeclabel;
pub use sound::{
    Audio, AudioFormat, AudioSettings, AudioStream, AudioType, CodecType, SdlAudioDriver, Sound, SoundModel,
};
pub use tpm::{PcrBanks, Tpm, TpmBackend, TpmModel, TpmVersion};
pub use usb::{Hub, RedirFilter, Redirdev, Smartcard, SmartcardMode, UsbFilterRule};

use crate::error::Error;
use crate::values::parse_auto_u32;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// Declares the device kinds once, in libvirt's order of writing them: the
/// [`Devices`] lists, the [`Device`] enum, and reading, writing and adding.
/// A `Vec` kind is a list; a domain has at most one of an `Option` kind.
macro_rules! devices {
    ($($field:ident: $kind:ident<$ty:ident> = $xml:literal),* $(,)?) => {
        /// The `<devices>` element. Devices are kept by kind, each kind in
        /// document order, and written in libvirt's order of kinds.
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        #[non_exhaustive]
        pub struct Devices {
            /// The emulator binary (`/usr/bin/qemu-system-x86_64`).
            #[serde(skip_serializing_if = "Option::is_none")]
            pub emulator: Option<String>,
            $(
                #[serde(skip_serializing_if = "Kind::is_absent")]
                pub $field: $kind<$ty>,
            )*
        }

        /// Any one device, for adding to a [`Devices`] list (it only passes
        /// through, so its size does not matter).
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        #[allow(clippy::large_enum_variant)]
        pub enum Device {
            $($ty($ty),)*
        }

        $(impl From<$ty> for Device {
            fn from(d: $ty) -> Device {
                Device::$ty(d)
            }
        })*

        impl Devices {
            /// Adds a device at the end of its kind (a device of a kind a
            /// domain has one of replaces the one there was).
            pub fn push(&mut self, device: Device) {
                match device {
                    $(Device::$ty(d) => self.$field.add(d),)*
                }
            }

            /// Reads every device; a bad device is recorded in `errors` and
            /// reading goes on, so one pass reports every broken device.
            pub(crate) fn read(el: &El<'_, '_>, errors: &mut Vec<Error>) -> Devices {
                let mut devices = Devices {
                    emulator: el.child_text("emulator").unwrap_or_else(|e| {
                        errors.push(e);
                        None
                    }),
                    $($field: Kind::read(el, $xml, $ty::read, errors),)*
                };
                devices.fill_usb_masters();
                devices
            }

            pub(crate) fn write(&self, w: &mut XmlWriter) {
                w.start("devices");
                w.opt_text_element("emulator", self.emulator.as_ref());
                $(self.$field.iter().for_each(|d| d.write(w));)*
                w.end();
            }
        }
    };
}

/// How a kind of device is held: a list, or at most one.
trait Kind<T>: Sized {
    fn is_absent(&self) -> bool;
    fn add(&mut self, d: T);
    fn read(el: &El<'_, '_>, name: &'static str, f: fn(&El<'_, '_>) -> Result<T>, errors: &mut Vec<Error>) -> Self;
}

impl<T> Kind<T> for Vec<T> {
    fn is_absent(&self) -> bool {
        self.is_empty()
    }
    fn add(&mut self, d: T) {
        self.push(d);
    }
    fn read(el: &El<'_, '_>, name: &'static str, f: fn(&El<'_, '_>) -> Result<T>, errors: &mut Vec<Error>) -> Self {
        el.children_collect(name, f, errors)
    }
}

impl<T> Kind<T> for Option<T> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
    fn add(&mut self, d: T) {
        *self = Some(d);
    }
    fn read(el: &El<'_, '_>, name: &'static str, f: fn(&El<'_, '_>) -> Result<T>, errors: &mut Vec<Error>) -> Self {
        el.child(name, f).unwrap_or_else(|e| {
            errors.push(e);
            None
        })
    }
}

devices! {
    disks: Vec<Disk> = "disk",
    controllers: Vec<Controller> = "controller",
    leases: Vec<Lease> = "lease",
    filesystems: Vec<Filesystem> = "filesystem",
    interfaces: Vec<Interface> = "interface",
    smartcards: Vec<Smartcard> = "smartcard",
    serials: Vec<Serial> = "serial",
    consoles: Vec<Console> = "console",
    channels: Vec<Channel> = "channel",
    inputs: Vec<Input> = "input",
    tpms: Vec<Tpm> = "tpm",
    graphics: Vec<Graphics> = "graphics",
    sounds: Vec<Sound> = "sound",
    audios: Vec<Audio> = "audio",
    videos: Vec<Video> = "video",
    hostdevs: Vec<Hostdev> = "hostdev",
    redirdevs: Vec<Redirdev> = "redirdev",
    redirfilter: Option<RedirFilter> = "redirfilter",
    hubs: Vec<Hub> = "hub",
    watchdog: Option<Watchdog> = "watchdog",
    memballoon: Option<Memballoon> = "memballoon",
    rngs: Vec<Rng> = "rng",
    panics: Vec<Panic> = "panic",
    shmems: Vec<Shmem> = "shmem",
    memories: Vec<MemoryDevice> = "memory",
    iommu: Option<Iommu> = "iommu",
    vsock: Option<Vsock> = "vsock",
}

impl Devices {
    pub fn is_empty(&self) -> bool {
        *self == Devices::default()
    }

    /// Gives each USB companion controller that names no `<master>` the
    /// port libvirt gives it when it reads a document: an `ich9-uhci1`,
    /// `ich9-uhci2` or `ich9-uhci3` sharing its index with another USB
    /// controller (its master, an `ich9-ehci1`) serves that master from
    /// port 0, 2 or 4. The readers do this, so a document libvirt accepts
    /// without `<master>` reads (and is written back) as libvirt writes it;
    /// a definition built in code names its companions' ports itself.
    pub fn fill_usb_masters(&mut self) {
        let masters: std::collections::BTreeSet<u32> = self
            .controllers
            .iter()
            .filter(|c| c.controller_type == ControllerType::Usb && c.implied_startport().is_none())
            .filter_map(|c| c.index)
            .collect();
        for c in &mut self.controllers {
            let Some(port) = c.implied_startport() else { continue };
            if c.controller_type == ControllerType::Usb
                && c.master_startport.is_none()
                && c.index.is_some_and(|i| masters.contains(&i))
            {
                c.master_startport = Some(port);
            }
        }
    }
}

// ---------------------------------------------------------------------------

/// Where a device sits on its bus (`<address type=…>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Address {
    Pci(PciAddress),
    Drive(DriveAddress),
    VirtioSerial(VirtioSerialAddress),
    Isa(IsaAddress),
    Usb(UsbAddress),
    Ccid(CcidAddress),
    /// A memory device's DIMM slot and guest physical base address.
    Dimm(DimmAddress),
    /// A host device given no guest address: the guest does not see it
    /// (its group is bound for another function's sake).
    Unassigned,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DimmAddress {
    pub slot: Option<u32>,
    pub base: Option<u64>,
}

impl DimmAddress {
    pub fn new(slot: u32, base: Option<u64>) -> Self {
        DimmAddress { slot: Some(slot), base }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PciAddress {
    pub domain: Option<u32>,
    pub bus: Option<u32>,
    pub slot: Option<u32>,
    pub function: Option<u32>,
    pub multifunction: Option<bool>,
}

impl PciAddress {
    pub fn new(domain: u32, bus: u32, slot: u32, function: u32) -> Self {
        PciAddress {
            domain: Some(domain),
            bus: Some(bus),
            slot: Some(slot),
            function: Some(function),
            multifunction: None,
        }
    }

    /// Reads the `domain`, `bus`, `slot`, `function` and `multifunction`
    /// attributes of a PCI `<address>` (wherever one appears).
    pub(crate) fn read_attrs(el: &El<'_, '_>) -> Result<PciAddress> {
        let auto = |name| el.attr_with(name, parse_auto_u32);
        Ok(PciAddress {
            domain: auto("domain")?,
            bus: auto("bus")?,
            slot: auto("slot")?,
            function: auto("function")?,
            multifunction: el.on_off("multifunction")?,
        })
    }

    /// Writes those attributes as libvirt does, in hex.
    pub(crate) fn write_attrs(&self, w: &mut XmlWriter) {
        let hex = |w: &mut XmlWriter, n: &str, v: Option<u32>, width: usize| {
            if let Some(v) = v {
                w.attr(n, &format!("0x{v:0width$x}"));
            }
        };
        hex(w, "domain", self.domain, 4);
        hex(w, "bus", self.bus, 2);
        hex(w, "slot", self.slot, 2);
        hex(w, "function", self.function, 1);
        w.on_off("multifunction", self.multifunction);
    }
}

/// An IDE, SATA, SCSI or floppy drive position.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DriveAddress {
    pub controller: Option<u32>,
    pub bus: Option<u32>,
    pub target: Option<u32>,
    pub unit: Option<u32>,
}

impl DriveAddress {
    pub fn new(controller: u32, bus: u32, target: u32, unit: u32) -> Self {
        DriveAddress { controller: Some(controller), bus: Some(bus), target: Some(target), unit: Some(unit) }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VirtioSerialAddress {
    pub controller: u32,
    pub bus: Option<u32>,
    pub port: Option<u32>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IsaAddress {
    pub iobase: Option<u32>,
    pub irq: Option<u32>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UsbAddress {
    pub bus: u32,
    /// Port path through hubs: `1` or `1.2.3`.
    pub port: Option<String>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CcidAddress {
    pub controller: u32,
    pub slot: Option<u32>,
}

impl VirtioSerialAddress {
    pub fn new(controller: u32, bus: u32, port: u32) -> Self {
        VirtioSerialAddress { controller, bus: Some(bus), port: Some(port) }
    }
}

impl UsbAddress {
    pub fn new(bus: u32, port: impl Into<String>) -> Self {
        UsbAddress { bus, port: Some(port.into()) }
    }
}

impl CcidAddress {
    pub fn new(controller: u32, slot: u32) -> Self {
        CcidAddress { controller, slot: Some(slot) }
    }
}

impl IsaAddress {
    pub fn new(iobase: u32, irq: Option<u32>) -> Self {
        IsaAddress { iobase: Some(iobase), irq }
    }
}

impl Address {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Address> {
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        let num = |name| el.attr::<u32>(name);
        let auto = |name| el.attr_with(name, parse_auto_u32);
        Ok(match kind {
            "pci" => Address::Pci(PciAddress::read_attrs(el)?),
            "drive" => Address::Drive(DriveAddress {
                controller: num("controller")?,
                bus: num("bus")?,
                target: num("target")?,
                unit: num("unit")?,
            }),
            "virtio-serial" => Address::VirtioSerial(VirtioSerialAddress {
                controller: el.req_attr("controller")?,
                bus: num("bus")?,
                port: num("port")?,
            }),
            "isa" => Address::Isa(IsaAddress { iobase: auto("iobase")?, irq: auto("irq")? }),
            "usb" => Address::Usb(UsbAddress { bus: el.req_attr("bus")?, port: el.attr("port")? }),
            "ccid" => Address::Ccid(CcidAddress { controller: el.req_attr("controller")?, slot: num("slot")? }),
            "dimm" => Address::Dimm(DimmAddress { slot: num("slot")?, base: el.attr_with("base", parse_hex_u64)? }),
            "unassigned" => Address::Unassigned,
            other => {
                let known = ["spapr-vio", "ccw", "virtio-mmio", "s390"];
                let all = "pci, drive, virtio-serial, isa, usb, ccid, dimm, unassigned";
                let msg = if known.contains(&other) {
                    format!("address type '{other}' is not supported; supported: {all}")
                } else {
                    format!("'{}' is not one of {all}", crate::xml::truncate(other))
                };
                return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
            }
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("address");
        match self {
            Address::Pci(a) => {
                w.attr("type", "pci");
                a.write_attrs(w);
            }
            Address::Drive(a) => {
                w.attr("type", "drive");
                w.attr_opt("controller", a.controller.as_ref());
                w.attr_opt("bus", a.bus.as_ref());
                w.attr_opt("target", a.target.as_ref());
                w.attr_opt("unit", a.unit.as_ref());
            }
            Address::VirtioSerial(a) => {
                w.attr("type", "virtio-serial");
                w.attr_val("controller", &a.controller);
                w.attr_opt("bus", a.bus.as_ref());
                w.attr_opt("port", a.port.as_ref());
            }
            Address::Isa(a) => {
                w.attr("type", "isa");
                if let Some(v) = a.iobase {
                    w.attr("iobase", &format!("0x{v:x}"));
                }
                if let Some(v) = a.irq {
                    w.attr("irq", &format!("0x{v:x}"));
                }
            }
            Address::Usb(a) => {
                w.attr("type", "usb");
                w.attr_val("bus", &a.bus);
                w.attr_opt("port", a.port.as_ref());
            }
            Address::Ccid(a) => {
                w.attr("type", "ccid");
                w.attr_val("controller", &a.controller);
                w.attr_opt("slot", a.slot.as_ref());
            }
            Address::Dimm(a) => {
                w.attr("type", "dimm");
                w.attr_opt("slot", a.slot.as_ref());
                if let Some(b) = a.base {
                    w.attr("base", &format!("0x{b:x}"));
                }
            }
            Address::Unassigned => w.attr("type", "unassigned"),
        }
        w.end();
    }
}

/// A `hexuint` (`0x100000000`; decimal too).
fn parse_hex_u64(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    };
    r.map_err(|_| format!("'{}' is not a number", crate::xml::truncate(s)))
}

/// The options every virtio device's `<driver>` may have.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VirtioOptions {
    /// DMA through the guest's IOMMU.
    pub iommu: Option<bool>,
    /// PCIe Address Translation Services.
    pub ats: Option<bool>,
    /// Packed virtqueues.
    pub packed: Option<bool>,
    /// A page per virtqueue notification area.
    pub page_per_vq: Option<bool>,
}

impl VirtioOptions {
    pub fn is_empty(&self) -> bool {
        *self == VirtioOptions::default()
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<VirtioOptions> {
        Ok(VirtioOptions {
            iommu: el.on_off("iommu")?,
            ats: el.on_off("ats")?,
            packed: el.on_off("packed")?,
            page_per_vq: el.on_off("page_per_vq")?,
        })
    }

    /// The attributes; call inside the `<driver>` start tag.
    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.on_off("iommu", self.iommu);
        w.on_off("ats", self.ats);
        w.on_off("packed", self.packed);
        w.on_off("page_per_vq", self.page_per_vq);
    }
}

/// A `<driver>` that has only the virtio options.
pub(crate) fn read_virtio_driver(el: &El<'_, '_>) -> Result<Option<VirtioOptions>> {
    el.child("driver", VirtioOptions::read)
}

pub(crate) fn write_virtio_driver(w: &mut XmlWriter, d: Option<&VirtioOptions>) {
    if let Some(d) = d {
        w.start("driver");
        d.write(w);
        w.end();
    }
}

/// A device's place in the boot order (`<boot order=…>` in a device).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceBoot {
    /// 1 boots first.
    pub order: u32,
    /// s390 only: a boot menu selector.
    pub loadparm: Option<String>,
}

impl DeviceBoot {
    pub fn new(order: u32) -> Self {
        DeviceBoot { order, loadparm: None }
    }
}

/// A PCI device's option ROM (`<rom>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rom {
    /// `false`: the device has no ROM at all.
    pub enabled: Option<bool>,
    /// Whether the ROM is visible in the device's BAR.
    pub bar: Option<bool>,
    /// The ROM image, instead of the device's own.
    pub file: Option<String>,
}

pub(crate) fn read_rom(el: &El<'_, '_>) -> Result<Option<Rom>> {
    el.child("rom", |r| Ok(Rom { enabled: r.yes_no("enabled")?, bar: r.on_off("bar")?, file: r.attr("file")? }))
}

pub(crate) fn write_rom(w: &mut XmlWriter, rom: Option<&Rom>) {
    if let Some(r) = rom {
        w.start("rom");
        w.yes_no("enabled", r.enabled);
        w.on_off("bar", r.bar);
        w.attr_opt("file", r.file.as_ref());
        w.end();
    }
}

/// A device's ACPI index (`<acpi index>`): the guest names its NIC by it.
pub(crate) fn read_acpi_index(el: &El<'_, '_>) -> Result<Option<u32>> {
    el.child("acpi", |a| a.req_attr("index"))
}

pub(crate) fn write_acpi_index(w: &mut XmlWriter, index: Option<u32>) {
    if let Some(i) = index {
        w.start("acpi");
        w.attr_val("index", &i);
        w.end();
    }
}

/// The parts most devices share: `<alias>`, `<address>`, maybe `<boot>`.
pub(crate) fn read_alias(el: &El<'_, '_>) -> Result<Option<String>> {
    el.child("alias", |a| a.req_attr("name"))
}

pub(crate) fn read_address(el: &El<'_, '_>) -> Result<Option<Address>> {
    el.child("address", Address::read)
}

pub(crate) fn read_boot(el: &El<'_, '_>) -> Result<Option<DeviceBoot>> {
    el.child("boot", |b| Ok(DeviceBoot { order: b.req_attr("order")?, loadparm: b.attr("loadparm")? }))
}

pub(crate) fn write_alias(w: &mut XmlWriter, alias: Option<&String>) {
    if let Some(a) = alias {
        w.start("alias");
        w.attr("name", a);
        w.end();
    }
}

pub(crate) fn write_address(w: &mut XmlWriter, address: Option<&Address>) {
    if let Some(a) = address {
        a.write(w);
    }
}

pub(crate) fn write_boot(w: &mut XmlWriter, boot: Option<&DeviceBoot>) {
    if let Some(b) = boot {
        w.start("boot");
        w.attr_val("order", &b.order);
        w.attr_opt("loadparm", b.loadparm.as_ref());
        w.end();
    }
}
