//! Checks of `<devices>`: each device's own rules, and what spans devices
//! (unique aliases, targets, names and boot orders).

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use super::{V, idx, is_address_or_name, is_word};
use crate::domain::Domain;
use crate::domain::devices::{
    AudioType, CharSource, ControllerType, DeviceBoot, Devices, DiskDevice, GraphicsListen, InterfaceSource,
    PCI_MODEL_NAMES, RngBackend, SoundModel,
};
use crate::xml::truncate;

impl Domain {
    pub(super) fn check_devices(&self, v: &mut V) {
        let d = &self.devices;
        v.opt_abs("/domain/devices/emulator", d.emulator.as_deref());
        let mut c = Checks { v, aliases: HashMap::new(), boot_orders: HashMap::new() };
        disks(&mut c, d);
        controllers(&mut c, d);
        filesystems(&mut c, d);
        interfaces(&mut c, d);
        chardevs(&mut c, d);
        inputs(&mut c, d);
        graphics(&mut c, d);
        sound(&mut c, d);
        videos(&mut c, d);
        misc(&mut c, d);
        if !self.os.boot.is_empty()
            && let Some(first) = c.boot_orders.values().min().cloned()
        {
            c.invalid(format!("{first}/boot"), "per-device boot order cannot be combined with <boot dev> in <os>");
        }
    }
}

/// The checker with what spans devices: aliases and boot orders seen.
struct Checks<'a> {
    v: &'a mut V,
    aliases: HashMap<String, String>,
    boot_orders: HashMap<u32, String>,
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
    fn alias(&mut self, path: &str, a: Option<&String>) {
        let Some(a) = a else { return };
        if !is_word(a, "_-.") {
            self.value(format!("{path}/alias/@name"), format!("'{}' is not an alias name", truncate(a)));
        } else if let Some(first) = self.aliases.get(a.as_str()) {
            let msg = format!("alias '{a}' is already used by {first}");
            self.invalid(format!("{path}/alias/@name"), msg);
        } else {
            self.aliases.insert(a.clone(), path.to_owned());
        }
    }

    /// A device's boot order: from 1, unique in the domain.
    fn boot(&mut self, path: &str, b: Option<&DeviceBoot>) {
        let Some(b) = b else { return };
        if b.order == 0 {
            self.value(format!("{path}/boot/@order"), "boot order starts at 1");
        } else if let Some(first) = self.boot_orders.get(&b.order) {
            let msg = format!("boot order {} is already used by {first}", b.order);
            self.invalid(format!("{path}/boot/@order"), msg);
        } else {
            self.boot_orders.insert(b.order, path.to_owned());
        }
        if let Some(l) = &b.loadparm
            && (l.is_empty() || l.len() > 8 || !is_word(l, ". "))
        {
            self.value(format!("{path}/boot/@loadparm"), "a loadparm is 1 to 8 letters, digits, dots or spaces");
        }
    }
}

fn disks(k: &mut Checks<'_>, d: &Devices) {
    let n = d.disks.len();
    let mut targets: HashMap<&str, String> = HashMap::new();
    for (i, disk) in d.disks.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("disk", i, n));
        match &disk.source {
            Some(s) => k.abs(&format!("{p}/source/@{}", disk.source_attr()), s),
            None if disk.device == DiskDevice::Disk => {
                k.invalid(&p, format!("disk '{}' has no source", disk.target.dev));
            }
            None => {}
        }
        let dev = disk.target.dev.strip_prefix("ioemu:").unwrap_or(&disk.target.dev);
        let prefix_ok = ["fd", "hd", "sd", "vd", "xvd", "ubd"]
            .iter()
            .any(|pre| dev.strip_prefix(pre).is_some_and(|rest| !rest.is_empty() && is_word(rest, "_")));
        if !prefix_ok {
            k.value(
                format!("{p}/target/@dev"),
                format!("'{}' is not a disk name (like vda, sda, hdc)", truncate(&disk.target.dev)),
            );
        } else if let Some(first) = targets.get(dev) {
            k.invalid(format!("{p}/target/@dev"), format!("target '{dev}' is already used by {first}"));
        } else {
            targets.insert(dev, p.clone());
        }
        if let Some(s) = &disk.serial
            && !is_word(s, "_.+- ")
        {
            k.value(format!("{p}/serial"), "a serial is letters, digits, spaces and _ . + -");
        }
        if let Some(w) = &disk.wwn {
            let hex = w.strip_prefix("0x").unwrap_or(w);
            if hex.len() != 16 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                k.value(format!("{p}/wwn"), "a WWN is 16 hex digits");
            }
        }
        k.boot(&p, disk.boot.as_ref());
        k.alias(&p, disk.alias.as_ref());
        k.address(&p, disk.address.as_ref());
    }
}

fn controllers(k: &mut Checks<'_>, d: &Devices) {
    let n = d.controllers.len();
    let mut indexes: HashMap<(ControllerType, u32), String> = HashMap::new();
    for (i, c) in d.controllers.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("controller", i, n));
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
                k.invalid(&p, "a pci controller needs a model");
            }
            _ => {}
        }
        if let Some(index) = c.index {
            if let Some(first) = indexes.get(&(c.controller_type, index)) {
                k.invalid(
                    format!("{p}/@index"),
                    format!("{} controller index {index} is already used by {first}", c.controller_type),
                );
            } else {
                indexes.insert((c.controller_type, index), p.clone());
            }
        }
        let pci_only = c.model_name.is_some() || c.target.is_some();
        if pci_only && c.controller_type != ControllerType::Pci {
            k.invalid(&p, "<model> and <target> are for pci controllers");
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
                k.max(&format!("{p}/target/@{attr}"), val, 255);
            }
        }
        let ports_ok = matches!(c.controller_type, ControllerType::Usb | ControllerType::VirtioSerial);
        if c.ports.is_some() && !ports_ok {
            k.invalid(format!("{p}/@ports"), "only usb and virtio-serial controllers have ports");
        }
        if c.vectors.is_some() && c.controller_type != ControllerType::VirtioSerial {
            k.invalid(format!("{p}/@vectors"), "only virtio-serial controllers have vectors");
        }
        k.alias(&p, c.alias.as_ref());
        k.address(&p, c.address.as_ref());
    }
}

fn filesystems(k: &mut Checks<'_>, d: &Devices) {
    let n = d.filesystems.len();
    for (i, f) in d.filesystems.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("filesystem", i, n));
        k.abs_dir(&format!("{p}/source/@dir"), &f.source);
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

fn interfaces(k: &mut Checks<'_>, d: &Devices) {
    let n = d.interfaces.len();
    for (i, nic) in d.interfaces.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("interface", i, n));
        if let Some(m) = &nic.mac
            && m.is_multicast()
        {
            k.value(format!("{p}/mac/@address"), format!("{m} is a multicast address"));
        }
        match &nic.source {
            InterfaceSource::Network { network } if network.is_empty() || network.contains('/') => {
                k.value(format!("{p}/source/@network"), format!("'{}' is not a network name", truncate(network)));
            }
            InterfaceSource::Bridge { bridge } if bridge.is_empty() || !is_word(bridge, "_.-\\:/ ") => {
                k.value(format!("{p}/source/@bridge"), format!("'{}' is not a bridge name", truncate(bridge)));
            }
            _ => {}
        }
        if let Some(t) = &nic.target {
            if t.dev.is_empty() || !is_word(&t.dev, "_.-\\:/") {
                k.value(format!("{p}/target/@dev"), format!("'{}' is not a device name", truncate(&t.dev)));
            }
            if t.managed.is_some() && nic.source != InterfaceSource::Ethernet {
                k.invalid(format!("{p}/target/@managed"), "only ethernet interfaces have managed taps");
            }
        }
        if let Some(script) = &nic.script {
            if script.is_empty() {
                k.value(format!("{p}/script/@path"), "the script path must not be empty");
            } else if script.contains(['\n', '\r']) {
                k.value(format!("{p}/script/@path"), "a path is one line");
            }
        }
        k.boot(&p, nic.boot.as_ref());
        k.alias(&p, nic.alias.as_ref());
        k.address(&p, nic.address.as_ref());
    }
}

fn chardevs(k: &mut Checks<'_>, d: &Devices) {
    let chardev = |k: &mut Checks<'_>, p: &str, s: &CharSource, log: Option<&crate::domain::devices::CharLog>| {
        match s {
            CharSource::File { path, .. } => k.abs(&format!("{p}/source/@path"), path),
            CharSource::Unix { path, .. } => k.opt_abs(&format!("{p}/source/@path"), path.as_deref()),
            CharSource::Pty { path } => k.opt_abs(&format!("{p}/source/@path"), path.as_deref()),
            CharSource::Tcp { service, host, .. } => {
                if service.is_empty() {
                    k.value(format!("{p}/source/@service"), "a service (port) is needed");
                }
                if host.as_deref().is_some_and(str::is_empty) {
                    k.value(format!("{p}/source/@host"), "the host must not be empty");
                }
            }
            CharSource::Null => {}
        }
        if let Some(l) = log {
            k.abs(&format!("{p}/log/@file"), &l.file);
        }
    };
    let n = d.serials.len();
    for (i, s) in d.serials.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("serial", i, n));
        chardev(k, &p, &s.source, s.log.as_ref());
        k.alias(&p, s.alias.as_ref());
        k.address(&p, s.address.as_ref());
    }
    let n = d.consoles.len();
    for (i, c) in d.consoles.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("console", i, n));
        chardev(k, &p, &c.source, c.log.as_ref());
        k.alias(&p, c.alias.as_ref());
        k.address(&p, c.address.as_ref());
    }
    let n = d.channels.len();
    let mut names: HashMap<&str, String> = HashMap::new();
    for (i, c) in d.channels.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("channel", i, n));
        chardev(k, &p, &c.source, c.log.as_ref());
        if let Some(name) = &c.target.name {
            if let Some(first) = names.get(name.as_str()) {
                k.invalid(format!("{p}/target/@name"), format!("channel '{name}' is already used by {first}"));
            } else {
                names.insert(name, p.clone());
            }
        }
        k.alias(&p, c.alias.as_ref());
        k.address(&p, c.address.as_ref());
    }
}

fn inputs(k: &mut Checks<'_>, d: &Devices) {
    let n = d.inputs.len();
    for (i, input) in d.inputs.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("input", i, n));
        k.alias(&p, input.alias.as_ref());
        k.address(&p, input.address.as_ref());
    }
}

fn graphics(k: &mut Checks<'_>, d: &Devices) {
    let n = d.graphics.len();
    for (i, g) in d.graphics.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("graphics", i, n));
        let crate::domain::devices::Graphics::Vnc(vnc) = g;
        for (attr, port) in [("port", vnc.port), ("websocket", vnc.websocket)] {
            if port.is_some_and(|x| !(-1..=65535).contains(&x)) {
                k.value(format!("{p}/@{attr}"), "a port is -1 (automatic) to 65535");
            }
        }
        if let Some(sock) = &vnc.socket {
            k.abs(&format!("{p}/@socket"), sock);
            let tcp = [
                ("port", vnc.port.is_some()),
                ("autoport", vnc.autoport.is_some()),
                ("websocket", vnc.websocket.is_some()),
                ("listen", vnc.listen.is_some()),
                ("sharePolicy", vnc.share_policy.is_some()),
            ];
            for (attr, _) in tcp.iter().filter(|(_, set)| *set) {
                k.invalid(format!("{p}/@{attr}"), "not allowed with a socket: VNC listens on one or the other");
            }
        }
        if let Some(l) = &vnc.listen
            && !is_address_or_name(l)
        {
            k.value(format!("{p}/@listen"), format!("'{}' is not an IP address or host name", truncate(l)));
        }
        let nl = vnc.listens.len();
        for (j, l) in vnc.listens.iter().enumerate() {
            let lp = format!("{p}/{}", idx("listen", j, nl));
            match l {
                GraphicsListen::Socket { socket } => k.opt_abs(&format!("{lp}/@socket"), socket.as_deref()),
                GraphicsListen::Address { address: Some(a) } | GraphicsListen::Network { address: Some(a), .. }
                    if !is_address_or_name(a) =>
                {
                    k.value(format!("{lp}/@address"), format!("'{}' is not an IP address or host name", truncate(a)));
                }
                _ => {}
            }
        }
    }
}

fn videos(k: &mut Checks<'_>, d: &Devices) {
    let n = d.videos.len();
    for (i, vid) in d.videos.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("video", i, n));
        if let Some(m) = vid.model.as_ref().filter(|m| m.model_type != crate::domain::devices::VideoType::Qxl) {
            for (attr, set) in
                [("ram", m.ram.is_some()), ("vram64", m.vram64.is_some()), ("vgamem", m.vgamem.is_some())]
            {
                if set {
                    k.invalid(format!("{p}/model/@{attr}"), "only qxl video has this size");
                }
            }
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
        if let RngBackend::Random { path } = &r.backend {
            k.opt_abs(&format!("{p}/backend"), path.as_deref());
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

fn sound(k: &mut Checks<'_>, d: &Devices) {
    let n = d.audios.len();
    let mut ids: HashMap<u8, String> = HashMap::new();
    for (i, a) in d.audios.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("audio", i, n));
        if a.id == 0 {
            k.value(format!("{p}/@id"), "audio ids start at 1");
        } else if let Some(first) = ids.get(&a.id) {
            k.invalid(format!("{p}/@id"), format!("audio id {} is already used by {first}", a.id));
        } else {
            ids.insert(a.id, p.clone());
        }
        for (el, attr) in a.misplaced_fields() {
            let at = if el == "audio" { format!("{p}/@{attr}") } else { format!("{p}/{el}/@{attr}") };
            k.invalid(at, format!("{} audio has no {attr}", a.audio_type));
        }
        if let Some(path) = &a.path {
            k.one_line(&format!("{p}/@path"), path);
        }
        if a.dsp_policy.is_some_and(|x| !(-1..=10).contains(&x)) {
            k.value(format!("{p}/@dspPolicy"), "a DSP policy is -1 to 10");
        }
        for (el, s) in [("input", &a.input), ("output", &a.output)] {
            let Some(s) = s else { continue };
            if let Some(dev) = &s.dev {
                let ok = match a.audio_type {
                    AudioType::Oss => is_word(dev, "_.-\\:/"),
                    _ => !dev.is_empty() && !dev.contains(['\n', '\r']),
                };
                if !ok {
                    k.value(format!("{p}/{el}/@dev"), format!("'{}' is not a device name", truncate(dev)));
                }
            }
        }
    }
    let n = d.sounds.len();
    for (i, s) in d.sounds.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("sound", i, n));
        let hda = matches!(s.model, SoundModel::Ich6 | SoundModel::Ich7 | SoundModel::Ich9);
        if !s.codecs.is_empty() && !hda {
            k.invalid(format!("{p}/codec"), "only ich6, ich7 and ich9 sound cards have codecs");
        }
        if let Some(id) = s.audio
            && !ids.contains_key(&id)
        {
            k.invalid(format!("{p}/audio/@id"), format!("there is no audio backend with id {id}"));
        }
        k.alias(&p, s.alias.as_ref());
        k.address(&p, s.address.as_ref());
    }
}
