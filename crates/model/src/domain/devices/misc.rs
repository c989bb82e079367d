//! The smaller devices: input, graphics (VNC), video, memory balloon, RNG,
//! watchdog, panic notifier, and container filesystems.

use serde::{Deserialize, Serialize};

use super::{Address, DiskFormat, read_address, read_alias, write_address, write_alias};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// The `model=` of virtio devices that come in legacy-compatible flavours.
    pub enum VirtioModel {
        Virtio = "virtio",
        VirtioTransitional = "virtio-transitional",
        VirtioNonTransitional = "virtio-non-transitional",
    }
}

// ---- input ----

xml_enum! {
    pub enum InputType {
        Mouse = "mouse",
        Keyboard = "keyboard",
        Tablet = "tablet",
    }
    unsupported = ["passthrough", "evdev"];
}

xml_enum! {
    pub enum InputBus {
        Ps2 = "ps2",
        Usb = "usb",
        Virtio = "virtio",
        Xen = "xen",
    }
}

/// An `<input>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Input {
    #[serde(rename = "type")]
    pub input_type: InputType,
    pub bus: Option<InputBus>,
    pub model: Option<VirtioModel>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Input {
    pub fn new(input_type: InputType, bus: InputBus) -> Self {
        Input { input_type, bus: Some(bus), model: None, alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Input> {
        Ok(Input {
            input_type: el.req_attr("type")?,
            bus: el.attr("bus")?,
            model: el.attr("model")?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("input");
        w.attr("type", self.input_type.as_str());
        w.attr_opt("bus", self.bus.as_ref());
        w.attr_opt("model", self.model.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- graphics ----

xml_enum! {
    pub enum SharePolicy {
        AllowExclusive = "allow-exclusive",
        ForceShared = "force-shared",
        Ignore = "ignore",
    }
}

/// A `<graphics>` device. VNC is the one virtkit supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Graphics {
    Vnc(Vnc),
}

/// A VNC server for the guest's display.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Vnc {
    /// TCP port; -1 (with autoport) picks one.
    pub port: Option<i32>,
    pub autoport: Option<bool>,
    pub websocket: Option<i32>,
    /// Address to listen on (the legacy attribute; see `listens`).
    pub listen: Option<String>,
    /// A unix socket instead of TCP.
    pub socket: Option<String>,
    pub passwd: Option<String>,
    pub keymap: Option<String>,
    pub share_policy: Option<SharePolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listens: Vec<GraphicsListen>,
}

/// A `<listen>` of a graphics device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum GraphicsListen {
    Address { address: Option<String> },
    Network { network: String, address: Option<String> },
    Socket { socket: Option<String> },
    None,
}

impl Graphics {
    /// The `type=` word.
    pub fn type_name(&self) -> &'static str {
        match self {
            Graphics::Vnc(_) => "vnc",
        }
    }

    /// VNC on an automatically chosen port of `listen`.
    pub fn vnc(listen: impl Into<String>) -> Self {
        let listen = listen.into();
        Graphics::Vnc(Vnc {
            port: Some(-1),
            autoport: Some(true),
            listens: vec![GraphicsListen::Address { address: Some(listen) }],
            ..Default::default()
        })
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Graphics> {
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        if kind != "vnc" {
            let known = ["sdl", "spice", "rdp", "desktop", "egl-headless", "dbus"];
            let msg = if known.contains(&kind) {
                format!("graphics type '{kind}' is not supported; supported: vnc")
            } else {
                format!("'{}' is not one of vnc", crate::xml::truncate(kind))
            };
            return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
        }
        Ok(Graphics::Vnc(Vnc {
            port: el.attr("port")?,
            autoport: el.yes_no("autoport")?,
            websocket: el.attr("websocket")?,
            listen: el.attr("listen")?,
            socket: el.attr("socket")?,
            passwd: el.attr("passwd")?,
            keymap: el.attr("keymap")?,
            share_policy: el.attr("sharePolicy")?,
            listens: el.children("listen", |l| {
                let kind = l.raw_attr("type").ok_or_else(|| l.missing_attr("type"))?;
                Ok(match kind {
                    "address" => GraphicsListen::Address { address: l.attr("address")? },
                    "network" => {
                        GraphicsListen::Network { network: l.req_attr("network")?, address: l.attr("address")? }
                    }
                    "socket" => GraphicsListen::Socket { socket: l.attr("socket")? },
                    "none" => GraphicsListen::None,
                    other => {
                        return Err(l.attr_error(
                            "type",
                            crate::ErrorKind::InvalidValue(format!(
                                "'{}' is not one of address, network, socket, none",
                                crate::xml::truncate(other)
                            )),
                        ));
                    }
                })
            })?,
        }))
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        let Graphics::Vnc(v) = self;
        w.start("graphics");
        w.attr("type", "vnc");
        w.attr_opt("port", v.port.as_ref());
        w.yes_no("autoport", v.autoport);
        w.attr_opt("websocket", v.websocket.as_ref());
        w.attr_opt("listen", v.listen.as_ref());
        w.attr_opt("sharePolicy", v.share_policy.as_ref());
        w.attr_opt("socket", v.socket.as_ref());
        w.attr_opt("passwd", v.passwd.as_ref());
        w.attr_opt("keymap", v.keymap.as_ref());
        for l in &v.listens {
            w.start("listen");
            match l {
                GraphicsListen::Address { address } => {
                    w.attr("type", "address");
                    w.attr_opt("address", address.as_ref());
                }
                GraphicsListen::Network { network, address } => {
                    w.attr("type", "network");
                    w.attr("network", network);
                    w.attr_opt("address", address.as_ref());
                }
                GraphicsListen::Socket { socket } => {
                    w.attr("type", "socket");
                    w.attr_opt("socket", socket.as_ref());
                }
                GraphicsListen::None => w.attr("type", "none"),
            }
            w.end();
        }
        w.end();
    }
}

// ---- video ----

xml_enum! {
    pub enum VideoType {
        Vga = "vga",
        Cirrus = "cirrus",
        Vmvga = "vmvga",
        Xen = "xen",
        Vbox = "vbox",
        Qxl = "qxl",
        Virtio = "virtio",
        Gop = "gop",
        Bochs = "bochs",
        Ramfb = "ramfb",
        None = "none",
    }
}

/// A `<video>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Video {
    pub model: Option<VideoModel>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

/// `<model>` of a video device; memory sizes in KiB, as libvirt has them.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VideoModel {
    #[serde(rename = "type")]
    pub model_type: VideoType,
    pub ram: Option<u32>,
    pub vram: Option<u32>,
    pub vram64: Option<u32>,
    pub vgamem: Option<u32>,
    pub heads: Option<u32>,
    pub primary: Option<bool>,
}

impl Video {
    pub fn new(model_type: VideoType) -> Self {
        Video {
            model: Some(VideoModel {
                model_type,
                ram: None,
                vram: None,
                vram64: None,
                vgamem: None,
                heads: None,
                primary: None,
            }),
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Video> {
        Ok(Video {
            model: el.child("model", |m| {
                Ok(VideoModel {
                    model_type: m.req_attr("type")?,
                    ram: m.attr("ram")?,
                    vram: m.attr("vram")?,
                    vram64: m.attr("vram64")?,
                    vgamem: m.attr("vgamem")?,
                    heads: m.attr("heads")?,
                    primary: m.yes_no("primary")?,
                })
            })?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("video");
        if let Some(m) = &self.model {
            w.start("model");
            w.attr("type", m.model_type.as_str());
            w.attr_opt("ram", m.ram.as_ref());
            w.attr_opt("vram", m.vram.as_ref());
            w.attr_opt("vram64", m.vram64.as_ref());
            w.attr_opt("vgamem", m.vgamem.as_ref());
            w.attr_opt("heads", m.heads.as_ref());
            w.yes_no("primary", m.primary);
            w.end();
        }
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- memballoon ----

xml_enum! {
    pub enum BalloonModel {
        Virtio = "virtio",
        VirtioTransitional = "virtio-transitional",
        VirtioNonTransitional = "virtio-non-transitional",
        Xen = "xen",
        None = "none",
    }
}

/// The `<memballoon>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Memballoon {
    pub model: BalloonModel,
    pub autodeflate: Option<bool>,
    pub free_page_reporting: Option<bool>,
    /// Seconds between guest memory statistics updates.
    pub stats_period: Option<u32>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Memballoon {
    pub fn new(model: BalloonModel) -> Self {
        Memballoon {
            model,
            autodeflate: None,
            free_page_reporting: None,
            stats_period: None,
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Memballoon> {
        Ok(Memballoon {
            model: el.req_attr("model")?,
            autodeflate: el.on_off("autodeflate")?,
            free_page_reporting: el.on_off("freePageReporting")?,
            stats_period: el.child("stats", |s| s.req_attr("period"))?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("memballoon");
        w.attr("model", self.model.as_str());
        w.on_off("autodeflate", self.autodeflate);
        w.on_off("freePageReporting", self.free_page_reporting);
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        if let Some(p) = &self.stats_period {
            w.start("stats");
            w.attr_val("period", p);
            w.end();
        }
        w.end();
    }
}

// ---- rng ----

/// A virtio RNG's model.
pub type RngModel = VirtioModel;

/// Where a virtio RNG gets entropy.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum RngBackend {
    /// A host device, `/dev/urandom` by default.
    Random { path: Option<String> },
    /// QEMU's own generator.
    Builtin,
}

/// `<rate>`: at most `bytes` per `period` milliseconds.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RngRate {
    pub bytes: u32,
    pub period: Option<u32>,
}

impl RngRate {
    pub fn new(bytes: u32, period: Option<u32>) -> Self {
        RngRate { bytes, period }
    }
}

/// An `<rng>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rng {
    pub model: RngModel,
    pub backend: RngBackend,
    pub rate: Option<RngRate>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Rng {
    /// A virtio RNG fed from `/dev/urandom`.
    pub fn urandom() -> Self {
        Rng {
            model: VirtioModel::Virtio,
            backend: RngBackend::Random { path: Some("/dev/urandom".into()) },
            rate: None,
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Rng> {
        Ok(Rng {
            model: el.req_attr("model")?,
            backend: el.req_child("backend", |b| {
                let model = b.raw_attr("model").ok_or_else(|| b.missing_attr("model"))?;
                Ok(match model {
                    "random" => {
                        let p = b.text();
                        RngBackend::Random { path: (!p.is_empty()).then_some(p) }
                    }
                    "builtin" => RngBackend::Builtin,
                    "egd" => {
                        return Err(b.attr_error(
                            "model",
                            crate::ErrorKind::InvalidValue(
                                "rng backend 'egd' is not supported; supported: random, builtin".into(),
                            ),
                        ));
                    }
                    other => {
                        return Err(b.attr_error(
                            "model",
                            crate::ErrorKind::InvalidValue(format!(
                                "'{}' is not one of random, builtin",
                                crate::xml::truncate(other)
                            )),
                        ));
                    }
                })
            })?,
            rate: el.child("rate", |r| Ok(RngRate { bytes: r.req_attr("bytes")?, period: r.attr("period")? }))?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("rng");
        w.attr("model", self.model.as_str());
        if let Some(r) = &self.rate {
            w.start("rate");
            w.attr_val("bytes", &r.bytes);
            w.attr_opt("period", r.period.as_ref());
            w.end();
        }
        w.start("backend");
        match &self.backend {
            RngBackend::Random { path } => {
                w.attr("model", "random");
                if let Some(p) = path {
                    w.text(p);
                }
            }
            RngBackend::Builtin => w.attr("model", "builtin"),
        }
        w.end();
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- watchdog ----

xml_enum! {
    pub enum WatchdogModel {
        I6300esb = "i6300esb",
        Ib700 = "ib700",
        Diag288 = "diag288",
    }
    unsupported = ["itco"];
}

xml_enum! {
    pub enum WatchdogAction {
        Reset = "reset",
        Shutdown = "shutdown",
        Poweroff = "poweroff",
        Pause = "pause",
        None = "none",
        Dump = "dump",
        InjectNmi = "inject-nmi",
    }
}

/// A `<watchdog>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Watchdog {
    pub model: WatchdogModel,
    pub action: Option<WatchdogAction>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Watchdog {
    pub fn new(model: WatchdogModel, action: WatchdogAction) -> Self {
        Watchdog { model, action: Some(action), alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Watchdog> {
        Ok(Watchdog {
            model: el.req_attr("model")?,
            action: el.attr("action")?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("watchdog");
        w.attr("model", self.model.as_str());
        w.attr_opt("action", self.action.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- panic ----

xml_enum! {
    pub enum PanicModel {
        Isa = "isa",
        Pseries = "pseries",
        Hyperv = "hyperv",
        S390 = "s390",
    }
    unsupported = ["pvpanic"];
}

/// A `<panic>` notifier: how the guest tells the host it crashed.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Panic {
    pub model: Option<PanicModel>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Panic {
    pub fn new(model: PanicModel) -> Self {
        Panic { model: Some(model), alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Panic> {
        Ok(Panic { model: el.attr("model")?, alias: read_alias(el)?, address: read_address(el)? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("panic");
        w.attr_opt("model", self.model.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- filesystem ----

xml_enum! {
    pub enum AccessMode {
        Passthrough = "passthrough",
        Mapped = "mapped",
        Squash = "squash",
    }
}

xml_enum! {
    pub enum FsDriverType {
        Path = "path",
        Handle = "handle",
        Loop = "loop",
        Nbd = "nbd",
        Ploop = "ploop",
        Virtiofs = "virtiofs",
    }
}

xml_enum! {
    pub enum FsWrPolicy {
        /// Write through at once.
        Immediate = "immediate",
    }
}

/// `<driver>` of a filesystem.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FsDriver {
    #[serde(rename = "type")]
    pub driver_type: Option<FsDriverType>,
    pub format: Option<DiskFormat>,
    pub wrpolicy: Option<FsWrPolicy>,
}

/// A `<filesystem type='mount'>`: a host directory shown to the guest or
/// mounted in a container.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Filesystem {
    pub accessmode: Option<AccessMode>,
    pub model: Option<VirtioModel>,
    pub driver: Option<FsDriver>,
    /// The host directory.
    pub source: String,
    /// Where the guest sees it (a mount tag for VMs, a path in a container).
    pub target: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Filesystem {
    /// Host directory `source` at `target`.
    pub fn mount(source: impl Into<String>, target: impl Into<String>) -> Self {
        Filesystem {
            accessmode: None,
            model: None,
            driver: None,
            source: source.into(),
            target: target.into(),
            readonly: false,
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Filesystem> {
        if let Some(kind) = el.raw_attr("type").filter(|k| *k != "mount") {
            let known = ["file", "block", "template", "ram", "bind", "volume"];
            let msg = if known.contains(&kind) {
                format!("filesystem type '{kind}' is not supported; supported: mount")
            } else {
                format!("'{}' is not one of mount", crate::xml::truncate(kind))
            };
            return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
        }
        Ok(Filesystem {
            accessmode: el.attr("accessmode")?,
            model: el.attr("model")?,
            driver: el.child("driver", |d| {
                Ok(FsDriver { driver_type: d.attr("type")?, format: d.attr("format")?, wrpolicy: d.attr("wrpolicy")? })
            })?,
            source: el.req_child("source", |s| s.req_attr("dir"))?,
            target: el.req_child("target", |t| t.req_attr("dir"))?,
            readonly: el.flag("readonly")?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("filesystem");
        w.attr("type", "mount");
        w.attr_opt("accessmode", self.accessmode.as_ref());
        w.attr_opt("model", self.model.as_ref());
        if let Some(d) = &self.driver {
            w.start("driver");
            w.attr_opt("type", d.driver_type.as_ref());
            w.attr_opt("format", d.format.as_ref());
            w.attr_opt("wrpolicy", d.wrpolicy.as_ref());
            w.end();
        }
        w.start("source");
        w.attr("dir", &self.source);
        w.end();
        w.start("target");
        w.attr("dir", &self.target);
        w.end();
        w.flag("readonly", self.readonly);
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}
