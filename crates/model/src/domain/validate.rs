//! Checks that go beyond one value's form: ranges, patterns libvirt's schema
//! imposes, and consistency across fields. They run on every domain however
//! it was made (XML, JSON, code), and name the place by its XML path, which
//! the XML reader turns into a line and column.

mod devices;

use super::devices::Address;
use super::{ClockAdjustment, ClockOffset, Domain, DomainType, OsType, TickPolicy, TimerName};
use crate::error::{Error, ErrorKind, Errors};
use crate::xml::truncate;
use std::fmt::{self, Display};

mod top;

/// Longest domain name accepted.
pub const MAX_NAME_LEN: usize = 255;

impl Domain {
    /// Checks the whole domain; every problem found is returned.
    pub fn validate(&self) -> Result<(), Errors> {
        let mut v = V::default();
        if let Err(e) = crate::strings::check_strings(self) {
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
        self.check_top(v);
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
            if let Some(s) = &n.source {
                if n.path.is_some() {
                    v.invalid("/domain/os/nvram", "an nvram is a path or a <source>, not both");
                }
                devices::storage_source(v, "/domain/os/nvram/source", s);
            }
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
pub(crate) fn is_address_or_name(s: &str) -> bool {
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

/// A path, or part of one, and what follows it (`Sub(device, "/address")`),
/// written out only when a problem is reported there.
#[derive(Clone, Copy)]
pub(crate) struct Sub<P>(pub(crate) P, pub(crate) &'static str);

impl<P: Display> Display for Sub<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// The path of element `name`, the `i`th (from 0) of `n` alike under
/// `parent`: `parent/name[i+1]`, or `parent/name` when it is alone (as
/// [`idx`]), written out only when a problem is reported there.
#[derive(Clone, Copy)]
pub(crate) struct Nth<P> {
    pub(crate) parent: P,
    pub(crate) name: &'static str,
    pub(crate) i: usize,
    pub(crate) n: usize,
}

impl<P: Display> Display for Nth<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.parent)?;
        write_idx(f, self.name, self.i, self.n)
    }
}

/// `/domain/devices/NAME[i]`: the path of the `i`th of `n` devices alike.
pub(crate) fn device(name: &'static str, i: usize, n: usize) -> Nth<&'static str> {
    Nth { parent: "/domain/devices", name, i, n }
}

/// `name` or `name[i+1]` when there are several.
pub(crate) fn idx(name: &str, i: usize, n: usize) -> String {
    let mut s = String::new();
    let _ = write_idx(&mut s, name, i, n);
    s
}

/// [`idx`] written into `out`.
fn write_idx(out: &mut impl fmt::Write, name: &str, i: usize, n: usize) -> fmt::Result {
    if n > 1 { write!(out, "{name}[{}]", i + 1) } else { out.write_str(name) }
}

/// Letters, digits and the given extra characters, at least one.
pub(crate) fn is_word(s: &str, extra: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

#[derive(Default)]
pub(crate) struct V {
    out: Vec<Error>,
}

impl V {
    pub(crate) fn finish(self) -> Result<(), Errors> {
        if self.out.is_empty() { Ok(()) } else { Err(Errors::new(self.out)) }
    }

    /// Adds problems found elsewhere.
    pub(crate) fn extend(&mut self, errors: impl IntoIterator<Item = Error>) {
        self.out.extend(errors);
    }

    // Paths are anything that formats as one (`impl Display`), so that a
    // check that passes builds none: most documents have no problem, and
    // formatting every place's path first cost a tenth of reading one.

    pub(crate) fn invalid(&mut self, path: impl Display, msg: impl Into<String>) {
        self.out.push(Error::new(path.to_string(), ErrorKind::Invalid(msg.into())));
    }

    pub(crate) fn value(&mut self, path: impl Display, msg: impl Into<String>) {
        self.out.push(Error::new(path.to_string(), ErrorKind::InvalidValue(msg.into())));
    }

    /// libvirt's absFilePath: `/` and at least one more character, one line.
    pub(crate) fn abs(&mut self, path: impl Display, value: &str) {
        if !value.starts_with('/') {
            self.value(path, format!("'{}' is not an absolute path", truncate(value)));
        } else if value.len() < 2 {
            self.value(path, "'/' alone is not a usable path here");
        } else if value.contains(['\n', '\r']) {
            self.value(path, "a path is one line");
        }
    }

    /// libvirt's absDirPath: `/` and anything on one line.
    pub(crate) fn abs_dir(&mut self, path: impl Display, value: &str) {
        if !value.starts_with('/') {
            self.value(path, format!("'{}' is not an absolute path", truncate(value)));
        } else if value.contains(['\n', '\r']) {
            self.value(path, "a path is one line");
        }
    }

    /// Free text that must be one line and not empty (a file name, a host).
    pub(crate) fn one_line(&mut self, path: impl Display, value: &str) {
        if value.is_empty() {
            self.value(path, "must not be empty");
        } else if value.contains(['\n', '\r']) {
            self.value(path, "must be one line");
        }
    }

    pub(crate) fn opt_abs(&mut self, path: impl Display, value: Option<&str>) {
        if let Some(s) = value {
            self.abs(path, s);
        }
    }

    pub(crate) fn max(&mut self, path: impl Display, value: Option<u32>, max: u32) {
        if let Some(x) = value.filter(|x| *x > max) {
            self.value(path, format!("{x} is out of range (at most {max})"));
        }
    }

    /// Ranges of a PCI address's fields; `p` is the `<address>` element's path.
    pub(crate) fn pci(&mut self, p: impl Display + Copy, a: &super::devices::PciAddress) {
        self.max(Sub(p, "/@bus"), a.bus, 0xff);
        self.max(Sub(p, "/@slot"), a.slot, 31);
        self.max(Sub(p, "/@function"), a.function, 7);
    }

    /// Ranges of address fields, as libvirt's schema has them.
    pub(crate) fn address(&mut self, device: impl Display + Copy, address: Option<&Address>) {
        let Some(a) = address else { return };
        let p = Sub(device, "/address");
        let at = |f: &'static str| Sub(Sub(p, "/@"), f);
        match a {
            Address::Pci(a) => self.pci(p, a),
            Address::Drive(a) => {
                self.max(at("controller"), a.controller, 99);
                self.max(at("bus"), a.bus, 99);
                self.max(at("target"), a.target, 99);
                self.max(at("unit"), a.unit, 99_999);
            }
            Address::VirtioSerial(a) => {
                self.max(at("controller"), Some(a.controller), 99);
                self.max(at("bus"), a.bus, 99);
                self.max(at("port"), a.port, 99);
            }
            Address::Isa(a) => {
                self.max(at("iobase"), a.iobase, 0xffff);
                self.max(at("irq"), a.irq, 0xf);
            }
            Address::Usb(a) => {
                self.max(at("bus"), Some(a.bus), 999);
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
                self.max(at("controller"), Some(a.controller), 99);
                self.max(at("slot"), a.slot, 99);
            }
            // A DIMM slot is checked against <maxMemory slots> with the
            // memory devices.
            Address::Dimm(_) | Address::Unassigned => {}
        }
    }
}
