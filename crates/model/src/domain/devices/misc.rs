//! The smaller devices: input, video, memory balloon, RNG,
//! watchdog and panic notifier.

use serde::{Deserialize, Serialize};

use super::seclabel::DeviceSeclabel;
use super::{
    Address, CharSource, VirtioOptions, read_address, read_alias, read_virtio_driver, write_address, write_alias,
    write_virtio_driver,
};
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
        /// A host input device passed to a virtio input device.
        Passthrough = "passthrough",
        /// A host input device QEMU reads and feeds to the guest's keyboard and mouse.
        Evdev = "evdev",
    }
}

xml_enum! {
    /// The key pair that switches an evdev device between host and guest.
    pub enum GrabToggle {
        CtrlCtrl = "ctrl-ctrl",
        AltAlt = "alt-alt",
        ShiftShift = "shift-shift",
        MetaMeta = "meta-meta",
        Scrolllock = "scrolllock",
        CtrlScrolllock = "ctrl-scrolllock",
    }
}

/// `<source>` of a passthrough or evdev input: the host's event device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InputSource {
    /// `/dev/input/eventN` (`evdev=` for passthrough, `dev=` for evdev).
    pub dev: String,
    /// evdev: grab every device (`all`), not just this one.
    pub grab_all: Option<bool>,
    pub grab_toggle: Option<GrabToggle>,
    /// evdev: repeat keys.
    pub repeat: Option<bool>,
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
    /// passthrough and evdev: the host device.
    pub source: Option<InputSource>,
    pub driver: Option<VirtioOptions>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Input {
    pub fn new(input_type: InputType, bus: InputBus) -> Self {
        Input { input_type, bus: Some(bus), model: None, source: None, driver: None, alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Input> {
        let input_type: InputType = el.req_attr("type")?;
        Ok(Input {
            input_type,
            bus: el.attr("bus")?,
            model: el.attr("model")?,
            source: el.child("source", |s| {
                let dev_attr = if input_type == InputType::Passthrough { "evdev" } else { "dev" };
                Ok(InputSource {
                    dev: s.req_attr(dev_attr)?,
                    grab_all: s.attr_with("grab", |v| {
                        if v == "all" {
                            Ok(true)
                        } else {
                            Err(format!("'{}' is not one of all", crate::xml::truncate(v)))
                        }
                    })?,
                    grab_toggle: s.attr("grabToggle")?,
                    repeat: s.on_off("repeat")?,
                })
            })?,
            driver: read_virtio_driver(el)?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("input");
        w.attr("type", self.input_type.as_str());
        w.attr_opt("bus", self.bus.as_ref());
        w.attr_opt("model", self.model.as_ref());
        if let Some(src) = &self.source {
            w.start("source");
            w.attr(if self.input_type == InputType::Passthrough { "evdev" } else { "dev" }, &src.dev);
            if src.grab_all == Some(true) {
                w.attr("grab", "all");
            }
            w.attr_opt("grabToggle", src.grab_toggle.as_ref());
            w.on_off("repeat", src.repeat);
            w.end();
        }
        write_virtio_driver(w, self.driver.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
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

xml_enum! {
    /// Who emulates a video card: QEMU, or a vhost-user GPU process.
    pub enum VideoDriverName {
        Qemu = "qemu",
        Vhostuser = "vhostuser",
    }
}

xml_enum! {
    /// bhyve's VGA configuration.
    pub enum VgaConf {
        Io = "io",
        On = "on",
        Off = "off",
    }
}

/// `<driver>` of a video device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VideoDriver {
    pub name: Option<VideoDriverName>,
    pub vgaconf: Option<VgaConf>,
    #[serde(default, skip_serializing_if = "VirtioOptions::is_empty")]
    pub virtio: VirtioOptions,
}

/// `<acceleration>` of a video model.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VideoAcceleration {
    pub accel3d: Option<bool>,
    pub accel2d: Option<bool>,
    /// The DRM render node a vhost-user GPU renders on.
    pub rendernode: Option<String>,
}

/// A `<video>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Video {
    pub driver: Option<VideoDriver>,
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
    pub acceleration: Option<VideoAcceleration>,
    /// The initial resolution (`<resolution x y>`).
    pub resolution: Option<(u32, u32)>,
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
                acceleration: None,
                resolution: None,
            }),
            driver: None,
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Video> {
        Ok(Video {
            driver: el.child("driver", |d| {
                Ok(VideoDriver { name: d.attr("name")?, vgaconf: d.attr("vgaconf")?, virtio: VirtioOptions::read(d)? })
            })?,
            model: el.child("model", |m| {
                Ok(VideoModel {
                    model_type: m.req_attr("type")?,
                    ram: m.attr("ram")?,
                    vram: m.attr("vram")?,
                    vram64: m.attr("vram64")?,
                    vgamem: m.attr("vgamem")?,
                    heads: m.attr("heads")?,
                    primary: m.yes_no("primary")?,
                    acceleration: m.child("acceleration", |a| {
                        Ok(VideoAcceleration {
                            accel3d: a.yes_no("accel3d")?,
                            accel2d: a.yes_no("accel2d")?,
                            rendernode: a.attr("rendernode")?,
                        })
                    })?,
                    resolution: m.child("resolution", |r| Ok((r.req_attr("x")?, r.req_attr("y")?)))?,
                })
            })?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("video");
        if let Some(d) = &self.driver {
            w.start("driver");
            w.attr_opt("name", d.name.as_ref());
            d.virtio.write(w);
            w.attr_opt("vgaconf", d.vgaconf.as_ref());
            w.end();
        }
        if let Some(m) = &self.model {
            w.start("model");
            w.attr("type", m.model_type.as_str());
            w.attr_opt("ram", m.ram.as_ref());
            w.attr_opt("vram", m.vram.as_ref());
            w.attr_opt("vram64", m.vram64.as_ref());
            w.attr_opt("vgamem", m.vgamem.as_ref());
            w.attr_opt("heads", m.heads.as_ref());
            w.yes_no("primary", m.primary);
            if let Some(a) = &m.acceleration {
                w.start("acceleration");
                w.yes_no("accel3d", a.accel3d);
                w.yes_no("accel2d", a.accel2d);
                w.attr_opt("rendernode", a.rendernode.as_ref());
                w.end();
            }
            if let Some((x, y)) = m.resolution {
                w.start("resolution");
                w.attr_val("x", &x);
                w.attr_val("y", &y);
                w.end();
            }
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
    pub driver: Option<VirtioOptions>,
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
            driver: None,
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
            driver: read_virtio_driver(el)?,
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
        write_virtio_driver(w, self.driver.as_ref());
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
    /// An entropy gathering daemon reached over a character device.
    Egd {
        source: CharSource,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        seclabels: Vec<DeviceSeclabel>,
    },
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
    pub driver: Option<VirtioOptions>,
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
            driver: None,
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
                        let (source, seclabels) = CharSource::read(b)?;
                        RngBackend::Egd { source, seclabels }
                    }
                    other => {
                        return Err(b.attr_error(
                            "model",
                            crate::ErrorKind::InvalidValue(format!(
                                "'{}' is not one of random, egd, builtin",
                                crate::xml::truncate(other)
                            )),
                        ));
                    }
                })
            })?,
            rate: el.child("rate", |r| Ok(RngRate { bytes: r.req_attr("bytes")?, period: r.attr("period")? }))?,
            driver: read_virtio_driver(el)?,
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
            RngBackend::Egd { source, seclabels } => {
                w.attr("model", "egd");
                source.write_type(w);
                source.write_source(w, seclabels);
            }
        }
        w.end();
        write_virtio_driver(w, self.driver.as_ref());
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
