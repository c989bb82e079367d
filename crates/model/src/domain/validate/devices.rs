//! Checks of `<devices>`: each device's own rules, and what spans devices
//! (unique aliases, targets, names and boot orders).

mod disk;
mod graphics;
mod hostdev;
mod interface;
mod platform;
mod sound;
mod usb;

use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};

use std::fmt::Display;

use super::{Sub, V, device, idx, is_word};
use crate::domain::Domain;
use crate::domain::devices::{
    CharLog, CharSource, ControllerType, DeviceBoot, DeviceSeclabel, Devices, InputBus, InputType, PCI_MODEL_NAMES,
    Reconnect, RngBackend, SourceMode, TpmBackend, TpmModel, TpmVersion, VideoDriverName, VideoType,
};
use crate::xml::truncate;

impl Domain {
    pub(super) fn check_devices(&self, v: &mut V) {
        let d = &self.devices;
        v.opt_abs("/domain/devices/emulator", d.emulator.as_deref());
        let audio_ids = d.audios.iter().map(|a| a.id).collect();
        let mut c = Checks { v, aliases: HashMap::new(), boot_orders: HashMap::new(), audio_ids };
        disk::disks(&mut c, d);
        controllers(&mut c, d);
        filesystems(&mut c, d);
        interface::interfaces(&mut c, d);
        chardevs(&mut c, d);
        inputs(&mut c, d);
        tpms(&mut c, d);
        graphics::graphics(&mut c, d);
        sound::sound(&mut c, d);
        videos(&mut c, d);
        usb::usb(&mut c, d);
        misc(&mut c, d);
        hostdev::hostdevs(&mut c, d);
        platform::platform(&mut c, self);
        if !self.os.boot.is_empty()
            && let Some(first) = c.boot_orders.values().min().cloned()
        {
            c.invalid(format!("{first}/boot"), "per-device boot order cannot be combined with <boot dev> in <os>");
        }
    }
}

/// A storage source outside `<devices>` (an NVRAM's), checked as a disk's.
pub(super) fn storage_source(v: &mut V, p: &str, s: &crate::domain::devices::DiskSource) {
    let mut c = Checks { v, aliases: HashMap::new(), boot_orders: HashMap::new(), audio_ids: HashSet::new() };
    c.disk_source(p, s);
}

/// The checker with what spans devices: aliases and boot orders seen.
struct Checks<'a> {
    v: &'a mut V,
    aliases: HashMap<String, String>,
    boot_orders: HashMap<u32, String>,
    /// The ids of the `<audio>` backends, which other devices refer to.
    audio_ids: HashSet<u8>,
}

impl Deref for Checks<'_> {
    type Target = V;
    fn deref(&self) -> &V {
        self.v
    }
}

impl DerefMut for Checks<'_> {
    fn deref_mut(&mut self) -> &mut V {
        self.v
    }
}

impl Checks<'_> {
    /// An alias: a name, unique in the domain.
    fn alias(&mut self, path: impl Display + Copy, a: Option<&String>) {
        let Some(a) = a else { return };
        if !is_word(a, "_-.") {
            self.value(format!("{path}/alias/@name"), format!("'{}' is not an alias name", truncate(a)));
        } else if let Some(first) = self.aliases.get(a.as_str()) {
            let msg = format!("alias '{a}' is already used by {first}");
            self.invalid(format!("{path}/alias/@name"), msg);
        } else {
            self.aliases.insert(a.clone(), path.to_string());
        }
    }

    /// The host side of a character device.
    fn char_source(
        &mut self,
        p: impl Display + Copy,
        s: &CharSource,
        labels: &[DeviceSeclabel],
        log: Option<&CharLog>,
    ) {
        let at = |a: &'static str| Sub(Sub(p, "/source/@"), a);
        match s {
            CharSource::File { path, .. } | CharSource::Dev { path } | CharSource::Pipe { path } => {
                self.abs(at("path"), path);
            }
            CharSource::Unix { path, mode, reconnect } => {
                self.opt_abs(at("path"), path.as_deref());
                self.reconnect(p, *mode, reconnect.as_ref());
            }
            CharSource::Pty { path } => self.opt_abs(at("path"), path.as_deref()),
            CharSource::Tcp { service, host, mode, reconnect, .. } => {
                self.service(p, "", host.as_deref(), Some(service));
                self.reconnect(p, *mode, reconnect.as_ref());
            }
            CharSource::Udp { host, service, bind_host, bind_service } => {
                let bind = bind_host.is_some() || bind_service.is_some();
                self.service(p, if bind { "[2]" } else { "" }, host.as_deref(), Some(service));
                self.service(p, "[1]", bind_host.as_deref(), bind_service.as_ref());
            }
            CharSource::Spiceport { channel } if !is_word(channel, "_.-") => {
                self.value(at("channel"), format!("'{}' is not a SPICE port name", truncate(channel)));
            }
            CharSource::Dbus { channel: Some(c) } if !is_word(c, "_.-") => {
                self.value(at("channel"), format!("'{}' is not a D-Bus channel name", truncate(c)));
            }
            CharSource::Nmdm { master, slave } => {
                self.abs(at("master"), master);
                self.abs(at("slave"), slave);
            }
            _ => {}
        }
        if !labels.is_empty() && s.path().is_none() {
            self.invalid(
                format!("{p}/source/seclabel"),
                format!("a {} source has no host file to label", s.type_name()),
            );
        }
        if !labels.is_empty() {
            self.seclabels(Sub(p, "/source"), labels);
        }
        if let Some(l) = log {
            self.abs(Sub(p, "/log/@file"), &l.file);
        }
    }

    /// A host and service (port) of a socket.
    fn service(&mut self, p: impl Display, which: &str, host: Option<&str>, service: Option<&String>) {
        if service.is_some_and(|s| s.is_empty()) {
            self.value(format!("{p}/source{which}/@service"), "a service (port) is needed");
        }
        if host.is_some_and(str::is_empty) {
            self.value(format!("{p}/source{which}/@host"), "the host must not be empty");
        }
    }

    /// `<reconnect>`: for client sockets, with a timeout when enabled.
    fn reconnect(&mut self, p: impl Display, mode: Option<SourceMode>, r: Option<&Reconnect>) {
        let Some(r) = r else { return };
        if mode != Some(SourceMode::Connect) {
            self.invalid(format!("{p}/source/reconnect"), "only a socket in mode 'connect' reconnects");
        }
        match (r.enabled, r.timeout) {
            (true, None | Some(0)) => {
                self.value(format!("{p}/source/reconnect/@timeout"), "reconnecting needs a timeout of 1 second or more")
            }
            (false, Some(_)) => {
                self.invalid(format!("{p}/source/reconnect/@timeout"), "a timeout is only for enabled reconnection")
            }
            _ => {}
        }
    }

    /// Per-device security labels: one per model, and a label only with relabelling.
    fn seclabels(&mut self, p: impl Display, labels: &[DeviceSeclabel]) {
        let n = labels.len();
        let mut models = HashSet::new();
        for (i, l) in labels.iter().enumerate() {
            let lp = format!("{p}/{}", idx("seclabel", i, n));
            if !models.insert(l.model.clone()) {
                self.invalid(&lp, "one seclabel per security model");
            }
            if let Some(m) = &l.model
                && !is_word(m, "_-")
            {
                self.value(format!("{lp}/@model"), format!("'{}' is not a security model name", truncate(m)));
            }
            match (l.relabel, l.labelskip, &l.label) {
                (Some(false), _, Some(_)) => self.invalid(format!("{lp}/label"), "a label is only for relabelling"),
                (Some(false), Some(true), _) => {
                    self.invalid(format!("{lp}/@labelskip"), "labelskip goes without relabel='no'")
                }
                (Some(true), _, None) => self.invalid(&lp, "relabel='yes' needs a <label>"),
                (None, None, None) => self.invalid(&lp, "a device seclabel needs relabel='no', labelskip or a <label>"),
                _ => {}
            }
            if l.label.as_deref().is_some_and(str::is_empty) {
                self.value(format!("{lp}/label"), "a label must not be empty");
            }
        }
    }

    /// A reference to an `<audio>` backend by id.
    fn audio_ref(&mut self, path: impl Display, id: Option<u8>) {
        if let Some(id) = id
            && !self.audio_ids.contains(&id)
        {
            self.invalid(format!("{path}/audio/@id"), format!("there is no audio backend with id {id}"));
        }
    }

    /// A device's boot order: from 1, unique in the domain.
    fn boot(&mut self, path: impl Display + Copy, b: Option<&DeviceBoot>) {
        let Some(b) = b else { return };
        if b.order == 0 {
            self.value(format!("{path}/boot/@order"), "boot order starts at 1");
        } else if let Some(first) = self.boot_orders.get(&b.order) {
            let msg = format!("boot order {} is already used by {first}", b.order);
            self.invalid(format!("{path}/boot/@order"), msg);
        } else {
            self.boot_orders.insert(b.order, path.to_string());
        }
        if let Some(l) = &b.loadparm
            && (l.is_empty() || l.len() > 8 || !is_word(l, ". "))
        {
            self.value(format!("{path}/boot/@loadparm"), "a loadparm is 1 to 8 letters, digits, dots or spaces");
        }
    }
}

fn controllers(k: &mut Checks<'_>, d: &Devices) {
    let n = d.controllers.len();
    let mut indexes: HashMap<(ControllerType, u32), _> = HashMap::new();
    for (i, c) in d.controllers.iter().enumerate() {
        let p = device("controller", i, n);
        let models = c.controller_type.models();
        match &c.model {
            Some(m) if !models.contains(&m.as_str()) => {
                let msg = if models.is_empty() {
                    format!("a {} controller has no model", c.controller_type)
                } else {
                    format!("'{}' is not one of {}", truncate(m), models.join(", "))
                };
                k.value(format!("{p}/@model"), msg);
            }
            None if c.controller_type == ControllerType::Pci => {
                k.invalid(p, "a pci controller needs a model");
            }
            _ => {}
        }
        let companion = c.master_startport.is_some();
        if companion {
            if c.controller_type != ControllerType::Usb {
                k.invalid(format!("{p}/master"), "only USB controllers have a master");
            } else if !c.model.as_deref().is_some_and(|m| m.starts_with("ich9-uhci")) {
                k.invalid(format!("{p}/master"), "a USB companion controller is ich9-uhci1, ich9-uhci2 or ich9-uhci3");
            }
            let master = d.controllers.iter().any(|m| {
                m.controller_type == ControllerType::Usb && m.master_startport.is_none() && m.index == c.index
            });
            if !master {
                k.invalid(
                    format!("{p}/master"),
                    format!("no USB controller with index {} for this companion to serve", c.index.unwrap_or(0)),
                );
            }
        }
        if let Some(h) = c.pcihole64 {
            if !matches!(c.model.as_deref(), Some("pci-root" | "pcie-root")) {
                k.invalid(format!("{p}/pcihole64"), "only pci-root and pcie-root controllers have a 64-bit hole");
            }
            if h.as_bytes() % 1024 != 0 {
                k.value(format!("{p}/pcihole64"), "the 64-bit hole is whole KiB");
            }
        }
        if c.target.as_ref().is_some_and(|t| t.node.is_some())
            && !matches!(c.model.as_deref(), Some("pci-expander-bus" | "pcie-expander-bus"))
        {
            k.invalid(format!("{p}/target/node"), "only expander buses sit on a NUMA node");
        }
        if let Some(index) = c.index.filter(|_| !companion) {
            if let Some(first) = indexes.get(&(c.controller_type, index)) {
                k.invalid(
                    format!("{p}/@index"),
                    format!("{} controller index {index} is already used by {first}", c.controller_type),
                );
            } else {
                indexes.insert((c.controller_type, index), p);
            }
        }
        let pci_only = c.model_name.is_some() || c.target.is_some();
        if pci_only && c.controller_type != ControllerType::Pci {
            k.invalid(p, "<model> and <target> are for pci controllers");
        }
        if let Some(name) = &c.model_name
            && !PCI_MODEL_NAMES.contains(&name.as_str())
        {
            k.value(
                format!("{p}/model/@name"),
                format!("'{}' is not one of {}", truncate(name), PCI_MODEL_NAMES.join(", ")),
            );
        }
        if let Some(t) = &c.target {
            for (attr, val) in [
                ("chassisNr", t.chassis_nr),
                ("chassis", t.chassis),
                ("port", t.port),
                ("busNr", t.bus_nr),
                ("index", t.index),
            ] {
                k.max(Sub(Sub(p, "/target/@"), attr), val, 255);
            }
        }
        let ports_ok = matches!(c.controller_type, ControllerType::Usb | ControllerType::VirtioSerial);
        if c.ports.is_some() && !ports_ok {
            k.invalid(format!("{p}/@ports"), "only usb and virtio-serial controllers have ports");
        }
        if c.vectors.is_some() && c.controller_type != ControllerType::VirtioSerial {
            k.invalid(format!("{p}/@vectors"), "only virtio-serial controllers have vectors");
        }
        k.alias(p, c.alias.as_ref());
        k.address(p, c.address.as_ref());
    }
}

fn filesystems(k: &mut Checks<'_>, d: &Devices) {
    let n = d.filesystems.len();
    for (i, f) in d.filesystems.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("filesystem", i, n));
        match &f.source {
            crate::domain::devices::FsSource::Dir(d) => k.abs_dir(format!("{p}/source/@dir"), d),
            crate::domain::devices::FsSource::Socket(s) => k.abs(format!("{p}/source/@socket"), s),
        }
        let virtiofs =
            f.driver.as_ref().and_then(|d| d.driver_type) == Some(crate::domain::devices::FsDriverType::Virtiofs);
        if let Some(b) = &f.binary {
            k.opt_abs(format!("{p}/binary/@path"), b.path.as_deref());
            if !virtiofs {
                k.invalid(
                    format!("{p}/binary"),
                    "<binary> is the virtiofsd of a virtiofs filesystem (driver type='virtiofs')",
                );
            }
            if b.thread_pool.is_some_and(|t| t < 1) {
                k.value(format!("{p}/binary/thread_pool/@size"), "at least one thread");
            }
        }
        if matches!(f.source, crate::domain::devices::FsSource::Socket(_)) {
            if !virtiofs {
                k.invalid(format!("{p}/source/@socket"), "a socket source is a virtiofsd's: driver type='virtiofs'");
            } else if f.binary.is_some() {
                k.invalid(format!("{p}/binary"), "a virtiofsd on a socket is started by someone else: no <binary>");
            }
        }
        if f.driver.as_ref().and_then(|d| d.queue).is_some() && !virtiofs {
            k.invalid(format!("{p}/driver/@queue"), "a queue size is virtiofs's");
        }
        if (f.fmode.is_some() || f.dmode.is_some()) && f.accessmode != Some(crate::domain::devices::AccessMode::Mapped)
        {
            k.invalid(&p, "fmode and dmode are for accessmode='mapped'");
        }
        k.boot(&p, f.boot.as_ref());
        if let Some(drv) =
            f.driver.as_ref().filter(|d| d.driver_type == Some(crate::domain::devices::FsDriverType::Virtiofs))
        {
            if drv.format.is_some() {
                k.invalid(format!("{p}/driver/@format"), "a virtiofs driver has no format");
            }
            if drv.wrpolicy.is_some() {
                k.invalid(format!("{p}/driver/@wrpolicy"), "a virtiofs driver has no write policy");
            }
        }
        if f.target.is_empty() {
            k.value(format!("{p}/target/@dir"), "the target must not be empty");
        }
        k.alias(&p, f.alias.as_ref());
        k.address(&p, f.address.as_ref());
    }
}

fn chardevs(k: &mut Checks<'_>, d: &Devices) {
    let n = d.serials.len();
    for (i, s) in d.serials.iter().enumerate() {
        let p = device("serial", i, n);
        k.char_source(p, &s.source, &s.seclabels, s.log.as_ref());
        k.alias(p, s.alias.as_ref());
        k.address(p, s.address.as_ref());
    }
    let n = d.consoles.len();
    for (i, c) in d.consoles.iter().enumerate() {
        let p = device("console", i, n);
        k.char_source(p, &c.source, &c.seclabels, c.log.as_ref());
        k.alias(p, c.alias.as_ref());
        k.address(p, c.address.as_ref());
    }
    let n = d.channels.len();
    let mut names = HashMap::new();
    for (i, c) in d.channels.iter().enumerate() {
        let p = device("channel", i, n);
        k.char_source(p, &c.source, &c.seclabels, c.log.as_ref());
        if let Some(name) = &c.target.name {
            if let Some(first) = names.get(name.as_str()) {
                k.invalid(format!("{p}/target/@name"), format!("channel '{name}' is already used by {first}"));
            } else {
                names.insert(name.as_str(), p);
            }
        }
        k.alias(p, c.alias.as_ref());
        k.address(p, c.address.as_ref());
    }
}

fn inputs(k: &mut Checks<'_>, d: &Devices) {
    let n = d.inputs.len();
    for (i, input) in d.inputs.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("input", i, n));
        let host = matches!(input.input_type, InputType::Passthrough | InputType::Evdev);
        match (&input.source, host) {
            (None, true) => k.invalid(&p, format!("a {} input needs a <source> device", input.input_type)),
            (Some(_), false) => {
                k.invalid(format!("{p}/source"), "only passthrough and evdev inputs have a host device")
            }
            (Some(s), true) => {
                let attr = if input.input_type == InputType::Passthrough { "evdev" } else { "dev" };
                k.abs(format!("{p}/source/@{attr}"), &s.dev);
                if input.input_type == InputType::Passthrough {
                    for (a, set) in [
                        ("grab", s.grab_all.is_some()),
                        ("grabToggle", s.grab_toggle.is_some()),
                        ("repeat", s.repeat.is_some()),
                    ] {
                        if set {
                            k.invalid(format!("{p}/source/@{a}"), "only evdev inputs grab and repeat");
                        }
                    }
                }
            }
            (None, false) => {}
        }
        if input.input_type == InputType::Passthrough && input.bus.is_some_and(|b| b != InputBus::Virtio) {
            k.value(format!("{p}/@bus"), "a passthrough input is on the virtio bus");
        }
        if input.input_type == InputType::Evdev && input.bus.is_some() {
            k.invalid(
                format!("{p}/@bus"),
                "an evdev input is on no guest bus: it feeds the guest's own keyboard and mouse",
            );
        }
        if input.source.as_ref().is_some_and(|s| s.grab_all == Some(false)) {
            k.value(format!("{p}/source/@grab"), "grab is 'all' or absent");
        }
        k.alias(&p, input.alias.as_ref());
        k.address(&p, input.address.as_ref());
    }
}

fn videos(k: &mut Checks<'_>, d: &Devices) {
    let n = d.videos.len();
    for (i, vid) in d.videos.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("video", i, n));
        if let Some(m) = vid.model.as_ref().filter(|m| m.model_type != VideoType::Qxl) {
            for (attr, set) in
                [("ram", m.ram.is_some()), ("vram64", m.vram64.is_some()), ("vgamem", m.vgamem.is_some())]
            {
                if set {
                    k.invalid(format!("{p}/model/@{attr}"), "only qxl video has this size");
                }
            }
        }
        let model = vid.model.as_ref().map(|m| m.model_type);
        if let Some(a) = vid.model.as_ref().and_then(|m| m.acceleration.as_ref()) {
            if a.accel3d.is_some() && !matches!(model, Some(VideoType::Virtio | VideoType::Vbox)) {
                k.invalid(format!("{p}/model/acceleration/@accel3d"), "only virtio and vbox video accelerate 3D");
            }
            if a.accel2d.is_some() && model != Some(VideoType::Vbox) {
                k.invalid(format!("{p}/model/acceleration/@accel2d"), "only vbox video accelerates 2D");
            }
            if let Some(r) = &a.rendernode {
                k.abs(format!("{p}/model/acceleration/@rendernode"), r);
                if vid.driver.as_ref().and_then(|d| d.name) != Some(VideoDriverName::Vhostuser) {
                    k.invalid(format!("{p}/model/acceleration/@rendernode"), "a render node is for a vhost-user GPU");
                }
            }
        }
        if vid.driver.as_ref().and_then(|d| d.name) == Some(VideoDriverName::Vhostuser)
            && model != Some(VideoType::Virtio)
        {
            k.invalid(format!("{p}/driver/@name"), "only virtio video runs in a vhost-user process");
        }
        if let Some((x, y)) = vid.model.as_ref().and_then(|m| m.resolution)
            && (x == 0 || y == 0)
        {
            k.value(format!("{p}/model/resolution"), "a resolution is at least 1x1");
        }
        if vid.model.as_ref().and_then(|m| m.primary) == Some(true)
            && d.videos[..i].iter().any(|o| o.model.as_ref().and_then(|m| m.primary) == Some(true))
        {
            k.invalid(format!("{p}/model/@primary"), "one video device is primary");
        }
        k.alias(&p, vid.alias.as_ref());
        k.address(&p, vid.address.as_ref());
    }
}

fn misc(k: &mut Checks<'_>, d: &Devices) {
    if let Some(w) = &d.watchdog {
        k.alias("/domain/devices/watchdog", w.alias.as_ref());
        k.address("/domain/devices/watchdog", w.address.as_ref());
    }
    if let Some(b) = &d.memballoon {
        let p = "/domain/devices/memballoon";
        if b.stats_period == Some(0) {
            k.value(format!("{p}/stats/@period"), "the period is at least 1 second");
        }
        k.alias(p, b.alias.as_ref());
        k.address(p, b.address.as_ref());
    }
    let n = d.rngs.len();
    for (i, r) in d.rngs.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("rng", i, n));
        match &r.backend {
            RngBackend::Random { path } => k.opt_abs(format!("{p}/backend"), path.as_deref()),
            RngBackend::Egd { source, seclabels } => k.char_source(&format!("{p}/backend"), source, seclabels, None),
            _ => {}
        }
        if let Some(rate) = &r.rate {
            if rate.bytes == 0 {
                k.value(format!("{p}/rate/@bytes"), "must be at least 1");
            }
            if rate.period == Some(0) {
                k.value(format!("{p}/rate/@period"), "must be at least 1");
            }
        }
        k.alias(&p, r.alias.as_ref());
        k.address(&p, r.address.as_ref());
    }
    let n = d.panics.len();
    for (i, pa) in d.panics.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("panic", i, n));
        k.alias(&p, pa.alias.as_ref());
        k.address(&p, pa.address.as_ref());
    }
}

fn tpms(k: &mut Checks<'_>, d: &Devices) {
    let n = d.tpms.len();
    for (i, t) in d.tpms.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("tpm", i, n));
        let proxy = |t: &crate::domain::devices::Tpm| t.model == Some(TpmModel::SpaprTpmProxy);
        if !proxy(t) && d.tpms[..i].iter().any(|o| !proxy(o)) {
            k.invalid(&p, "a domain has one TPM (and at most one spapr-tpm-proxy beside it)");
        }
        match &t.backend {
            TpmBackend::Passthrough { device } => k.one_line(format!("{p}/backend/device/@path"), device),
            TpmBackend::External { path } => k.one_line(format!("{p}/backend/source/@path"), path),
            TpmBackend::Emulator { version, active_pcr_banks, .. } => {
                if active_pcr_banks.is_some() && *version == Some(TpmVersion::V1_2) {
                    k.invalid(format!("{p}/backend/active_pcr_banks"), "only a TPM 2.0 has PCR banks to activate");
                }
            }
        }
        k.alias(&p, t.alias.as_ref());
        k.address(&p, t.address.as_ref());
    }
}
