//! Checks that go beyond one value's form: ranges, patterns libvirt's schema
//! imposes, and consistency across fields. They run on every domain however
//! it was made (XML, JSON, code), and name the place by its XML path, which
//! the XML reader turns into a line and column.

use std::collections::HashMap;

use super::devices::{
    Address, CharSource, ControllerType, DiskDevice, GraphicsListen, InterfaceSource, PCI_MODEL_NAMES, RngBackend,
};
use super::{ClockAdjustment, ClockOffset, Domain, DomainType, OsType, TickPolicy, TimerName};
use crate::error::{Error, ErrorKind, Errors};
use crate::xml::truncate;

/// Longest domain name accepted.
pub const MAX_NAME_LEN: usize = 255;

impl Domain {
    /// Checks the whole domain; every problem found is returned.
    pub fn validate(&self) -> Result<(), Errors> {
        let mut v = V::default();
        if let Ok(value) = serde_json::to_value(self)
            && let Err(e) = crate::document::check_json_strings(&value, "")
        {
            v.out.extend(e);
        }
        self.check(&mut v);
        v.finish()
    }

    /// The checks that XML input needs (its strings are already valid XML).
    pub(crate) fn validate_parsed(&self) -> Result<(), Errors> {
        let mut v = V::default();
        self.check(&mut v);
        v.finish()
    }

    fn check(&self, v: &mut V) {
        check_name(v, "/domain/name", &self.name);
        if let Some(t) = &self.title {
            if t.is_empty() {
                v.value("/domain/title", "a title must not be empty");
            } else if t.contains(['\n', '\r']) {
                v.value("/domain/title", "a title is one line");
            }
        }
        for (i, m) in self.metadata.iter().enumerate() {
            m.check(&format!("/domain/metadata/{}", idx(&m.name, i, self.metadata.len())), 1, &mut v.out);
        }
        self.check_resources(v);
        self.check_os(v);
        self.check_clock(v);
        self.check_devices(v);
    }

    fn check_resources(&self, v: &mut V) {
        if self.memory.0 == 0 {
            v.invalid("/domain/memory", "memory must be more than zero");
        }
        if let Some(cur) = self.current_memory {
            if cur > self.memory {
                v.invalid("/domain/currentMemory", format!("current memory {cur} is more than memory {}", self.memory));
            }
            if cur.0 == 0 {
                v.invalid("/domain/currentMemory", "current memory must be more than zero");
            }
        }
        if let Some(max) = &self.max_memory
            && max.size < self.memory
        {
            v.invalid("/domain/maxMemory", format!("maximum memory {} is less than memory {}", max.size, self.memory));
        }
        let vcpus = self.vcpu.as_ref().map_or(1, |c| c.count);
        if let Some(c) = &self.vcpu {
            if c.count == 0 {
                v.value("/domain/vcpu", "there must be at least one vCPU");
            }
            match c.current {
                Some(0) => v.value("/domain/vcpu/@current", "there must be at least one vCPU online"),
                Some(cur) if cur > c.count => {
                    v.value("/domain/vcpu/@current", format!("{cur} online vCPUs is more than the {} vCPUs", c.count))
                }
                _ => {}
            }
        }
        if let Some(cpu) = &self.cpu {
            if let Some(t) = &cpu.topology {
                for (name, n) in [
                    ("sockets", Some(t.sockets)),
                    ("dies", t.dies),
                    ("cores", t.cores.into()),
                    ("threads", Some(t.threads)),
                ] {
                    if n == Some(0) {
                        v.value(format!("/domain/cpu/topology/@{name}"), "must be at least 1");
                    }
                }
                if t.total() != u64::from(vcpus) {
                    v.invalid(
                        "/domain/cpu/topology",
                        format!("topology gives {} vCPUs but the domain has {vcpus}", t.total()),
                    );
                }
            }
            if let Some(id) = cpu.model.as_ref().and_then(|m| m.vendor_id.as_ref())
                && (id.chars().count() != 12 || id.contains(','))
            {
                v.value("/domain/cpu/model/@vendor_id", "a vendor id is 12 characters without commas");
            }
            if let Some(name) = cpu.model.as_ref().and_then(|m| m.name.as_ref())
                && !is_word(name, "-_.")
            {
                v.value("/domain/cpu/model", format!("'{}' is not a CPU model name", truncate(name)));
            }
            let n = cpu.features.len();
            for (i, f) in cpu.features.iter().enumerate() {
                if !is_word(&f.name, "-_.") {
                    v.value(
                        format!("/domain/cpu/{}/@name", idx("feature", i, n)),
                        format!("'{}' is not a CPU feature name", truncate(&f.name)),
                    );
                }
            }
        }
    }

    fn check_os(&self, v: &mut V) {
        let os = &self.os;
        match (self.domain_type, os.os_type) {
            (DomainType::Lxc, OsType::Exe) | (DomainType::Test, _) => {}
            (DomainType::Qemu | DomainType::Kvm, OsType::Hvm) => {}
            (DomainType::Lxc, t) => v.invalid("/domain/os/type", format!("a container needs os type 'exe', not '{t}'")),
            (t, OsType::Exe) => {
                v.invalid("/domain/os/type", format!("os type 'exe' is for containers (domain type 'lxc'), not '{t}'"))
            }
            (t, OsType::Linux) => v.invalid(
                "/domain/os/type",
                format!("os type 'linux' is for Xen paravirtual guests; a '{t}' domain needs 'hvm'"),
            ),
        }
        let boots_like_vm = [
            ("loader", os.loader.is_some()),
            ("nvram", os.nvram.is_some()),
            ("kernel", os.kernel.is_some()),
            ("initrd", os.initrd.is_some()),
            ("cmdline", os.cmdline.is_some()),
            ("dtb", os.dtb.is_some()),
            ("boot", !os.boot.is_empty()),
            ("bootmenu", os.bootmenu.is_some()),
        ];
        let runs_program = [
            ("init", os.init.is_some()),
            ("initarg", !os.initargs.is_empty()),
            ("initenv", !os.initenv.is_empty()),
            ("initdir", os.initdir.is_some()),
        ];
        match os.os_type {
            OsType::Exe => {
                for (name, _) in boots_like_vm.iter().filter(|(_, set)| *set) {
                    v.invalid(format!("/domain/os/{name}"), "not allowed with os type 'exe'");
                }
                if os.machine.is_some() {
                    v.invalid("/domain/os/type/@machine", "not allowed with os type 'exe'");
                }
            }
            OsType::Hvm | OsType::Linux => {
                for (name, _) in runs_program.iter().filter(|(_, set)| *set) {
                    v.invalid(format!("/domain/os/{name}"), "only allowed with os type 'exe'");
                }
            }
        }
        if os.os_type == OsType::Linux {
            use super::Arch;
            if os.arch.is_some_and(|a| !matches!(a, Arch::I686 | Arch::X86_64 | Arch::Ia64)) {
                v.value("/domain/os/type/@arch", "os type 'linux' runs on i686, x86_64 or ia64");
            }
            if os.machine.is_some()
                || os.loader.is_some()
                || os.nvram.is_some()
                || !os.boot.is_empty()
                || os.bootmenu.is_some()
            {
                v.invalid("/domain/os", "os type 'linux' takes only a kernel, initrd, cmdline and dtb");
            }
        }
        if let Some(m) = &os.machine
            && !is_word(m, "_.-")
        {
            v.value("/domain/os/type/@machine", format!("'{}' is not a machine type name", truncate(m)));
        }
        if let Some(l) = &os.loader {
            v.opt_abs("/domain/os/loader", l.path.as_deref());
        }
        if let Some(n) = &os.nvram {
            v.opt_abs("/domain/os/nvram", n.path.as_deref());
            v.opt_abs("/domain/os/nvram/@template", n.template.as_deref());
        }
        v.opt_abs("/domain/os/kernel", os.kernel.as_deref());
        v.opt_abs("/domain/os/initrd", os.initrd.as_deref());
        v.opt_abs("/domain/os/dtb", os.dtb.as_deref());
        v.opt_abs("/domain/os/init", os.init.as_deref());
        v.opt_abs("/domain/os/initdir", os.initdir.as_deref());
        let n = os.initenv.len();
        for (i, e) in os.initenv.iter().enumerate() {
            let ok =
                e.name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && is_word(&e.name, "_");
            if !ok {
                v.value(
                    format!("/domain/os/{}/@name", idx("initenv", i, n)),
                    format!("'{}' is not an environment variable name", truncate(&e.name)),
                );
            }
        }
    }

    fn check_clock(&self, v: &mut V) {
        let Some(c) = &self.clock else { return };
        let only = |v: &mut V, attr: &str, set: bool, allowed: bool, with: &str| {
            if set && !allowed {
                v.invalid(format!("/domain/clock/@{attr}"), format!("only allowed with offset {with}"));
            }
        };
        only(v, "timezone", c.timezone.is_some(), c.offset == ClockOffset::Timezone, "'timezone'");
        only(v, "basis", c.basis.is_some(), c.offset == ClockOffset::Variable, "'variable'");
        only(v, "start", c.start.is_some(), c.offset == ClockOffset::Absolute, "'absolute'");
        only(
            v,
            "adjustment",
            c.adjustment.is_some(),
            matches!(c.offset, ClockOffset::Utc | ClockOffset::Localtime | ClockOffset::Variable),
            "'utc', 'localtime' or 'variable'",
        );
        if c.offset == ClockOffset::Variable && c.adjustment == Some(ClockAdjustment::Reset) {
            v.value("/domain/clock/@adjustment", "'reset' is only allowed with offset 'utc' or 'localtime'");
        }
        if c.offset == ClockOffset::Absolute && c.start.is_none() {
            v.invalid("/domain/clock", "offset 'absolute' needs a start time");
        }
        if let Some(tz) = &c.timezone
            && !is_word(tz, "_.+-/")
        {
            v.value("/domain/clock/@timezone", format!("'{}' is not a time zone name", truncate(tz)));
        }
        let n = c.timers.len();
        for (i, t) in c.timers.iter().enumerate() {
            let p = format!("/domain/clock/{}", idx("timer", i, n));
            let tsc = t.name == TimerName::Tsc;
            if t.frequency.is_some() && !tsc {
                v.invalid(format!("{p}/@frequency"), "only the tsc timer has a frequency");
            }
            if t.mode.is_some() && !tsc {
                v.invalid(format!("{p}/@mode"), "only the tsc timer has a mode");
            }
            if t.track.is_some() && !matches!(t.name, TimerName::Platform | TimerName::Rtc) {
                v.invalid(format!("{p}/@track"), "only the platform and rtc timers track a clock");
            }
            if t.tickpolicy.is_some() && matches!(t.name, TimerName::Kvmclock | TimerName::Hypervclock) {
                v.invalid(format!("{p}/@tickpolicy"), format!("the {} timer has no tick policy", t.name));
            }
            if t.catchup.is_some() && t.tickpolicy != Some(TickPolicy::Catchup) {
                v.invalid(format!("{p}/catchup"), "only allowed with tickpolicy 'catchup'");
            }
        }
    }

    fn check_devices(&self, v: &mut V) {
        let d = &self.devices;
        v.opt_abs("/domain/devices/emulator", d.emulator.as_deref());
        let mut aliases: HashMap<String, String> = HashMap::new();
        let mut boot_orders: HashMap<u32, String> = HashMap::new();
        let mut alias = |v: &mut V, path: &str, a: Option<&String>| {
            let Some(a) = a else { return };
            if !is_word(a, "_-.") {
                v.value(format!("{path}/alias/@name"), format!("'{}' is not an alias name", truncate(a)));
            } else if let Some(first) = aliases.get(a.as_str()) {
                v.invalid(format!("{path}/alias/@name"), format!("alias '{a}' is already used by {first}"));
            } else {
                aliases.insert(a.clone(), path.to_owned());
            }
        };
        let mut boot = |v: &mut V, path: &str, b: Option<&super::devices::DeviceBoot>| {
            let Some(b) = b else { return };
            if b.order == 0 {
                v.value(format!("{path}/boot/@order"), "boot order starts at 1");
            } else if let Some(first) = boot_orders.get(&b.order) {
                v.invalid(format!("{path}/boot/@order"), format!("boot order {} is already used by {first}", b.order));
            } else {
                boot_orders.insert(b.order, path.to_owned());
            }
            if let Some(l) = &b.loadparm
                && (l.is_empty() || l.len() > 8 || !is_word(l, ". "))
            {
                v.value(format!("{path}/boot/@loadparm"), "a loadparm is 1 to 8 letters, digits, dots or spaces");
            }
        };

        let n = d.disks.len();
        let mut targets: HashMap<&str, String> = HashMap::new();
        for (i, disk) in d.disks.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("disk", i, n));
            match &disk.source {
                Some(s) => v.abs(&format!("{p}/source/@{}", disk.source_attr()), s),
                None if disk.device == DiskDevice::Disk => {
                    v.invalid(&p, format!("disk '{}' has no source", disk.target.dev));
                }
                None => {}
            }
            let dev = disk.target.dev.strip_prefix("ioemu:").unwrap_or(&disk.target.dev);
            let prefix_ok = ["fd", "hd", "sd", "vd", "xvd", "ubd"]
                .iter()
                .any(|pre| dev.strip_prefix(pre).is_some_and(|rest| !rest.is_empty() && is_word(rest, "_")));
            if !prefix_ok {
                v.value(
                    format!("{p}/target/@dev"),
                    format!("'{}' is not a disk name (like vda, sda, hdc)", truncate(&disk.target.dev)),
                );
            } else if let Some(first) = targets.get(dev) {
                v.invalid(format!("{p}/target/@dev"), format!("target '{dev}' is already used by {first}"));
            } else {
                targets.insert(dev, p.clone());
            }
            if let Some(s) = &disk.serial
                && !is_word(s, "_.+- ")
            {
                v.value(format!("{p}/serial"), "a serial is letters, digits, spaces and _ . + -");
            }
            if let Some(w) = &disk.wwn {
                let hex = w.strip_prefix("0x").unwrap_or(w);
                if hex.len() != 16 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    v.value(format!("{p}/wwn"), "a WWN is 16 hex digits");
                }
            }
            boot(v, &p, disk.boot.as_ref());
            alias(v, &p, disk.alias.as_ref());
            v.address(&p, disk.address.as_ref());
        }

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
                    v.value(format!("{p}/@model"), msg);
                }
                None if c.controller_type == ControllerType::Pci => {
                    v.invalid(&p, "a pci controller needs a model");
                }
                _ => {}
            }
            if let Some(index) = c.index {
                if let Some(first) = indexes.get(&(c.controller_type, index)) {
                    v.invalid(
                        format!("{p}/@index"),
                        format!("{} controller index {index} is already used by {first}", c.controller_type),
                    );
                } else {
                    indexes.insert((c.controller_type, index), p.clone());
                }
            }
            let pci_only = c.model_name.is_some() || c.target.is_some();
            if pci_only && c.controller_type != ControllerType::Pci {
                v.invalid(&p, "<model> and <target> are for pci controllers");
            }
            if let Some(name) = &c.model_name
                && !PCI_MODEL_NAMES.contains(&name.as_str())
            {
                v.value(
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
                    v.max(&format!("{p}/target/@{attr}"), val, 255);
                }
            }
            let ports_ok = matches!(c.controller_type, ControllerType::Usb | ControllerType::VirtioSerial);
            if c.ports.is_some() && !ports_ok {
                v.invalid(format!("{p}/@ports"), "only usb and virtio-serial controllers have ports");
            }
            if c.vectors.is_some() && c.controller_type != ControllerType::VirtioSerial {
                v.invalid(format!("{p}/@vectors"), "only virtio-serial controllers have vectors");
            }
            alias(v, &p, c.alias.as_ref());
            v.address(&p, c.address.as_ref());
        }

        let n = d.filesystems.len();
        for (i, f) in d.filesystems.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("filesystem", i, n));
            v.abs_dir(&format!("{p}/source/@dir"), &f.source);
            if let Some(drv) =
                f.driver.as_ref().filter(|d| d.driver_type == Some(super::devices::FsDriverType::Virtiofs))
            {
                if drv.format.is_some() {
                    v.invalid(format!("{p}/driver/@format"), "a virtiofs driver has no format");
                }
                if drv.wrpolicy.is_some() {
                    v.invalid(format!("{p}/driver/@wrpolicy"), "a virtiofs driver has no write policy");
                }
            }
            if f.target.is_empty() {
                v.value(format!("{p}/target/@dir"), "the target must not be empty");
            }
            alias(v, &p, f.alias.as_ref());
            v.address(&p, f.address.as_ref());
        }

        let n = d.interfaces.len();
        for (i, nic) in d.interfaces.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("interface", i, n));
            if let Some(m) = &nic.mac
                && m.is_multicast()
            {
                v.value(format!("{p}/mac/@address"), format!("{m} is a multicast address"));
            }
            match &nic.source {
                InterfaceSource::Network { network } if network.is_empty() || network.contains('/') => {
                    v.value(format!("{p}/source/@network"), format!("'{}' is not a network name", truncate(network)));
                }
                InterfaceSource::Bridge { bridge } if bridge.is_empty() || !is_word(bridge, "_.-\\:/ ") => {
                    v.value(format!("{p}/source/@bridge"), format!("'{}' is not a bridge name", truncate(bridge)));
                }
                _ => {}
            }
            if let Some(t) = &nic.target {
                if t.dev.is_empty() || !is_word(&t.dev, "_.-\\:/") {
                    v.value(format!("{p}/target/@dev"), format!("'{}' is not a device name", truncate(&t.dev)));
                }
                if t.managed.is_some() && nic.source != InterfaceSource::Ethernet {
                    v.invalid(format!("{p}/target/@managed"), "only ethernet interfaces have managed taps");
                }
            }
            if let Some(script) = &nic.script {
                if script.is_empty() {
                    v.value(format!("{p}/script/@path"), "the script path must not be empty");
                } else if script.contains(['\n', '\r']) {
                    v.value(format!("{p}/script/@path"), "a path is one line");
                }
            }
            boot(v, &p, nic.boot.as_ref());
            alias(v, &p, nic.alias.as_ref());
            v.address(&p, nic.address.as_ref());
        }

        let chardev = |v: &mut V, p: &str, s: &CharSource, log: Option<&super::devices::CharLog>| {
            match s {
                CharSource::File { path, .. } => v.abs(&format!("{p}/source/@path"), path),
                CharSource::Unix { path, .. } => v.opt_abs(&format!("{p}/source/@path"), path.as_deref()),
                CharSource::Pty { path } => v.opt_abs(&format!("{p}/source/@path"), path.as_deref()),
                CharSource::Tcp { service, host, .. } => {
                    if service.is_empty() {
                        v.value(format!("{p}/source/@service"), "a service (port) is needed");
                    }
                    if host.as_deref().is_some_and(str::is_empty) {
                        v.value(format!("{p}/source/@host"), "the host must not be empty");
                    }
                }
                CharSource::Null => {}
            }
            if let Some(l) = log {
                v.abs(&format!("{p}/log/@file"), &l.file);
            }
        };
        let n = d.serials.len();
        for (i, s) in d.serials.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("serial", i, n));
            chardev(v, &p, &s.source, s.log.as_ref());
            alias(v, &p, s.alias.as_ref());
            v.address(&p, s.address.as_ref());
        }
        let n = d.consoles.len();
        for (i, c) in d.consoles.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("console", i, n));
            chardev(v, &p, &c.source, c.log.as_ref());
            alias(v, &p, c.alias.as_ref());
            v.address(&p, c.address.as_ref());
        }
        let n = d.channels.len();
        let mut names: HashMap<&str, String> = HashMap::new();
        for (i, c) in d.channels.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("channel", i, n));
            chardev(v, &p, &c.source, c.log.as_ref());
            if let Some(name) = &c.target.name {
                if let Some(first) = names.get(name.as_str()) {
                    v.invalid(format!("{p}/target/@name"), format!("channel '{name}' is already used by {first}"));
                } else {
                    names.insert(name, p.clone());
                }
            }
            alias(v, &p, c.alias.as_ref());
            v.address(&p, c.address.as_ref());
        }

        let n = d.inputs.len();
        for (i, input) in d.inputs.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("input", i, n));
            alias(v, &p, input.alias.as_ref());
            v.address(&p, input.address.as_ref());
        }
        let n = d.graphics.len();
        for (i, g) in d.graphics.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("graphics", i, n));
            let super::devices::Graphics::Vnc(vnc) = g;
            for (attr, port) in [("port", vnc.port), ("websocket", vnc.websocket)] {
                if port.is_some_and(|x| !(-1..=65535).contains(&x)) {
                    v.value(format!("{p}/@{attr}"), "a port is -1 (automatic) to 65535");
                }
            }
            if let Some(sock) = &vnc.socket {
                v.abs(&format!("{p}/@socket"), sock);
                let tcp = [
                    ("port", vnc.port.is_some()),
                    ("autoport", vnc.autoport.is_some()),
                    ("websocket", vnc.websocket.is_some()),
                    ("listen", vnc.listen.is_some()),
                    ("sharePolicy", vnc.share_policy.is_some()),
                ];
                for (attr, _) in tcp.iter().filter(|(_, set)| *set) {
                    v.invalid(format!("{p}/@{attr}"), "not allowed with a socket: VNC listens on one or the other");
                }
            }
            if let Some(l) = &vnc.listen
                && !is_address_or_name(l)
            {
                v.value(format!("{p}/@listen"), format!("'{}' is not an IP address or host name", truncate(l)));
            }
            let nl = vnc.listens.len();
            for (j, l) in vnc.listens.iter().enumerate() {
                let lp = format!("{p}/{}", idx("listen", j, nl));
                match l {
                    GraphicsListen::Socket { socket } => v.opt_abs(&format!("{lp}/@socket"), socket.as_deref()),
                    GraphicsListen::Address { address: Some(a) } | GraphicsListen::Network { address: Some(a), .. }
                        if !is_address_or_name(a) =>
                    {
                        v.value(
                            format!("{lp}/@address"),
                            format!("'{}' is not an IP address or host name", truncate(a)),
                        );
                    }
                    _ => {}
                }
            }
        }
        let n = d.videos.len();
        for (i, vid) in d.videos.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("video", i, n));
            if let Some(m) = vid.model.as_ref().filter(|m| m.model_type != super::devices::VideoType::Qxl) {
                for (attr, set) in
                    [("ram", m.ram.is_some()), ("vram64", m.vram64.is_some()), ("vgamem", m.vgamem.is_some())]
                {
                    if set {
                        v.invalid(format!("{p}/model/@{attr}"), "only qxl video has this size");
                    }
                }
            }
            alias(v, &p, vid.alias.as_ref());
            v.address(&p, vid.address.as_ref());
        }
        if let Some(w) = &d.watchdog {
            alias(v, "/domain/devices/watchdog", w.alias.as_ref());
            v.address("/domain/devices/watchdog", w.address.as_ref());
        }
        if let Some(b) = &d.memballoon {
            let p = "/domain/devices/memballoon";
            if b.stats_period == Some(0) {
                v.value(format!("{p}/stats/@period"), "the period is at least 1 second");
            }
            alias(v, p, b.alias.as_ref());
            v.address(p, b.address.as_ref());
        }
        let n = d.rngs.len();
        for (i, r) in d.rngs.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("rng", i, n));
            if let RngBackend::Random { path } = &r.backend {
                v.opt_abs(&format!("{p}/backend"), path.as_deref());
            }
            if let Some(rate) = &r.rate {
                if rate.bytes == 0 {
                    v.value(format!("{p}/rate/@bytes"), "must be at least 1");
                }
                if rate.period == Some(0) {
                    v.value(format!("{p}/rate/@period"), "must be at least 1");
                }
            }
            alias(v, &p, r.alias.as_ref());
            v.address(&p, r.address.as_ref());
        }
        let n = d.panics.len();
        for (i, pa) in d.panics.iter().enumerate() {
            let p = format!("/domain/devices/{}", idx("panic", i, n));
            alias(v, &p, pa.alias.as_ref());
            v.address(&p, pa.address.as_ref());
        }
        if !self.os.boot.is_empty()
            && let Some(first) = boot_orders.values().min()
        {
            v.invalid(format!("{first}/boot"), "per-device boot order cannot be combined with <boot dev> in <os>");
        }
    }
}

/// Domain names: shown everywhere and used in paths, so kept plain.
pub(crate) fn check_name(v: &mut V, path: &str, name: &str) {
    let why = if name.is_empty() {
        Some("a name must not be empty".to_owned())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!("a name is at most {MAX_NAME_LEN} bytes"))
    } else if name.contains('/') {
        Some(format!("'{}' contains '/'", truncate(name)))
    } else if name == "." || name == ".." {
        Some(format!("'{name}' is not a usable name"))
    } else if name.chars().any(char::is_control) {
        Some("a name must not contain control characters".to_owned())
    } else {
        None
    };
    if let Some(w) = why {
        v.value(path, w);
    }
}

/// libvirt's addrIPorName: an IPv4 or IPv6 address, or a DNS name.
fn is_address_or_name(s: &str) -> bool {
    match s.parse::<std::net::IpAddr>() {
        // libvirt's ipv6Addr takes an IPv4 ending only without `::` or with
        // groups on one side of it: `::ffff:1.2.3.4`, `1:2::1.2.3.4`.
        Ok(std::net::IpAddr::V6(_)) if s.contains('.') => match s.split_once("::") {
            None => true,
            Some((before, after)) => before.is_empty() || !after.contains(':'),
        },
        Ok(_) => true,
        Err(_) => is_word(s, ".-"),
    }
}

/// `name` or `name[i+1]` when there are several.
fn idx(name: &str, i: usize, n: usize) -> String {
    if n > 1 { format!("{name}[{}]", i + 1) } else { name.to_owned() }
}

/// Letters, digits and the given extra characters, at least one.
fn is_word(s: &str, extra: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

#[derive(Default)]
pub(crate) struct V {
    out: Vec<Error>,
}

impl V {
    fn finish(self) -> Result<(), Errors> {
        if self.out.is_empty() { Ok(()) } else { Err(Errors::new(self.out)) }
    }

    fn invalid(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.out.push(Error::new(path, ErrorKind::Invalid(msg.into())));
    }

    fn value(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.out.push(Error::new(path, ErrorKind::InvalidValue(msg.into())));
    }

    /// libvirt's absFilePath: `/` and at least one more character, one line.
    fn abs(&mut self, path: &str, value: &str) {
        if !value.starts_with('/') {
            self.value(path, format!("'{}' is not an absolute path", truncate(value)));
        } else if value.len() < 2 {
            self.value(path, "'/' alone is not a usable path here");
        } else if value.contains(['\n', '\r']) {
            self.value(path, "a path is one line");
        }
    }

    /// libvirt's absDirPath: `/` and anything on one line.
    fn abs_dir(&mut self, path: &str, value: &str) {
        if !value.starts_with('/') {
            self.value(path, format!("'{}' is not an absolute path", truncate(value)));
        } else if value.contains(['\n', '\r']) {
            self.value(path, "a path is one line");
        }
    }

    fn opt_abs(&mut self, path: &str, value: Option<&str>) {
        if let Some(s) = value {
            self.abs(path, s);
        }
    }

    fn max(&mut self, path: &str, value: Option<u32>, max: u32) {
        if let Some(x) = value.filter(|x| *x > max) {
            self.value(path, format!("{x} is out of range (at most {max})"));
        }
    }

    /// Ranges of address fields, as libvirt's schema has them.
    fn address(&mut self, device: &str, address: Option<&Address>) {
        let Some(a) = address else { return };
        let p = format!("{device}/address");
        let at = |f: &str| format!("{p}/@{f}");
        match a {
            Address::Pci(a) => {
                self.max(&at("bus"), a.bus, 0xff);
                self.max(&at("slot"), a.slot, 31);
                self.max(&at("function"), a.function, 7);
            }
            Address::Drive(a) => {
                self.max(&at("controller"), a.controller, 99);
                self.max(&at("bus"), a.bus, 99);
                self.max(&at("target"), a.target, 99);
                self.max(&at("unit"), a.unit, 99_999);
            }
            Address::VirtioSerial(a) => {
                self.max(&at("controller"), Some(a.controller), 99);
                self.max(&at("bus"), a.bus, 99);
                self.max(&at("port"), a.port, 99);
            }
            Address::Isa(a) => {
                self.max(&at("iobase"), a.iobase, 0xffff);
                self.max(&at("irq"), a.irq, 0xf);
            }
            Address::Usb(a) => {
                self.max(&at("bus"), Some(a.bus), 999);
                if let Some(port) = &a.port {
                    let ok = port.split('.').count() <= 4
                        && port
                            .split('.')
                            .all(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|c| c.is_ascii_digit()));
                    if !ok {
                        self.value(at("port"), format!("'{}' is not a USB port (like 1 or 1.2)", truncate(port)));
                    }
                }
            }
            Address::Ccid(a) => {
                self.max(&at("controller"), Some(a.controller), 99);
                self.max(&at("slot"), a.slot, 99);
            }
        }
    }
}
