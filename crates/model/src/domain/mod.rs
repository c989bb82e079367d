//! The domain document: libvirt's `<domain>`, the definition of one virtual
//! machine or container.
//!
//! Each part lives in its own module with its reader and writer beside the
//! type; [`validate`] holds the checks that span fields, shared by the XML
//! and JSON readers and by models built in code.

mod clock;
mod cpu;
pub mod devices;
mod features;
mod os;
pub(crate) mod validate;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use clock::{
    Catchup, Clock, ClockAdjustment, ClockBasis, ClockOffset, TickPolicy, Timer, TimerMode, TimerName, TimerTrack,
};
pub use cpu::{
    Cpu, CpuCheck, CpuFeature, CpuFeaturePolicy, CpuMatch, CpuMode, CpuModel, CpuModelFallback, CpuTopology, Vcpu,
    VcpuPlacement,
};
pub use devices::Devices;
pub use features::{Apic, CrashAction, Features, LifecycleAction, Pm, Smm};
pub use os::{Arch, BootDevice, BootMenu, InitEnv, Loader, LoaderType, Nvram, Os, OsType};

use crate::document::json_error;
use crate::error::{Error, Errors};
use crate::metadata::{XmlElement, read_metadata, write_metadata};
use crate::values::{ByteSize, xml_enum};
use crate::xml::XmlValue;
use crate::xml::reader::{self, El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// Which hypervisor runs the domain (`<domain type=…>`).
    pub enum DomainType {
        /// QEMU with TCG software emulation.
        Qemu = "qemu",
        /// QEMU with KVM hardware acceleration.
        Kvm = "kvm",
        /// A Linux container.
        Lxc = "lxc",
        /// virtkit's in-memory test hypervisor.
        Test = "test",
    }
    unsupported = ["xen", "hvf", "vmware", "bhyve", "vz", "openvz", "hyperv", "vbox", "phyp", "uml", "kqemu", "kvm", "ch", "parallels", "proxy"];
}

/// A domain definition.
///
/// ```
/// use virtkit_model::domain::{Domain, DomainType};
/// use virtkit_model::ByteSize;
///
/// let d = Domain::new(DomainType::Kvm, "web1", ByteSize::mib(512)).with_vcpus(2);
/// let xml = d.to_xml();
/// assert!(xml.contains("<name>web1</name>"));
/// assert_eq!(Domain::from_xml(&xml).unwrap(), d);
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Domain {
    #[serde(rename = "type")]
    pub domain_type: DomainType,
    pub name: String,
    /// Generated when a document has none.
    #[serde(default = "Uuid::new_v4")]
    pub uuid: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Applications' own elements, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<XmlElement>,
    pub max_memory: Option<MaxMemory>,
    /// Memory at boot.
    pub memory: ByteSize,
    /// Whether guest memory goes into core dumps (`<memory dumpCore=…>`).
    pub memory_dump_core: Option<bool>,
    pub current_memory: Option<ByteSize>,
    pub vcpu: Option<Vcpu>,
    pub os: Os,
    pub features: Option<Features>,
    pub cpu: Option<Cpu>,
    pub clock: Option<Clock>,
    pub on_poweroff: Option<LifecycleAction>,
    pub on_reboot: Option<LifecycleAction>,
    pub on_crash: Option<CrashAction>,
    pub pm: Option<Pm>,
    #[serde(default, skip_serializing_if = "Devices::is_empty")]
    pub devices: Devices,
}

/// The most memory a domain may be given while it runs (`<maxMemory>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MaxMemory {
    pub size: ByteSize,
    /// Hotplug slots for memory devices.
    pub slots: u32,
}

impl MaxMemory {
    pub fn new(size: ByteSize, slots: u32) -> Self {
        MaxMemory { size, slots }
    }
}

impl Domain {
    /// A domain with a fresh UUID: an `hvm` guest for QEMU, KVM and the test
    /// driver, an `exe` container for LXC.
    pub fn new(domain_type: DomainType, name: impl Into<String>, memory: ByteSize) -> Self {
        let os_type = match domain_type {
            DomainType::Lxc => OsType::Exe,
            _ => OsType::Hvm,
        };
        Domain {
            domain_type,
            name: name.into(),
            uuid: Uuid::new_v4(),
            title: None,
            description: None,
            metadata: Vec::new(),
            max_memory: None,
            memory,
            memory_dump_core: None,
            current_memory: None,
            vcpu: None,
            os: Os::new(os_type),
            features: None,
            cpu: None,
            clock: None,
            on_poweroff: None,
            on_reboot: None,
            on_crash: None,
            pm: None,
            devices: Devices::default(),
        }
    }

    pub fn with_uuid(mut self, uuid: Uuid) -> Self {
        self.uuid = uuid;
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    pub fn with_metadata(mut self, element: XmlElement) -> Self {
        self.metadata.push(element);
        self
    }

    pub fn with_vcpus(mut self, count: u16) -> Self {
        self.vcpu = Some(Vcpu::new(count));
        self
    }

    pub fn with_vcpu(mut self, vcpu: Vcpu) -> Self {
        self.vcpu = Some(vcpu);
        self
    }

    pub fn with_current_memory(mut self, size: ByteSize) -> Self {
        self.current_memory = Some(size);
        self
    }

    pub fn with_max_memory(mut self, max: MaxMemory) -> Self {
        self.max_memory = Some(max);
        self
    }

    pub fn with_os(mut self, os: Os) -> Self {
        self.os = os;
        self
    }

    pub fn with_features(mut self, features: Features) -> Self {
        self.features = Some(features);
        self
    }

    pub fn with_cpu(mut self, cpu: Cpu) -> Self {
        self.cpu = Some(cpu);
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn with_on_poweroff(mut self, action: LifecycleAction) -> Self {
        self.on_poweroff = Some(action);
        self
    }

    pub fn with_on_reboot(mut self, action: LifecycleAction) -> Self {
        self.on_reboot = Some(action);
        self
    }

    pub fn with_on_crash(mut self, action: CrashAction) -> Self {
        self.on_crash = Some(action);
        self
    }

    pub fn with_pm(mut self, pm: Pm) -> Self {
        self.pm = Some(pm);
        self
    }

    pub fn with_devices(mut self, devices: Devices) -> Self {
        self.devices = devices;
        self
    }

    /// Adds one device (anything that converts into [`devices::Device`]).
    pub fn with_device(mut self, device: impl Into<devices::Device>) -> Self {
        self.devices.push(device.into());
        self
    }

    // ---- XML ----

    /// Reads a domain document, strictly: anything outside virtkit's model
    /// is an error, and every error found is returned with its location.
    pub fn from_xml(text: &str) -> std::result::Result<Domain, Errors> {
        Domain::from_parsed(&reader::parse_text(text)?)
    }

    /// Reads a parsed document whose root should be `<domain>`.
    pub(crate) fn from_parsed(doc: &roxmltree::Document<'_>) -> std::result::Result<Domain, Errors> {
        let root = doc.root_element();
        crate::document::expect_root(root, "domain")?;
        let mut errors = Vec::new();
        let domain = Domain::read_at(doc, root, &mut errors);
        match domain {
            Some(d) if errors.is_empty() => Ok(d),
            _ => Err(sorted(errors)),
        }
    }

    /// Reads and validates the `<domain>` element `node` of `doc` (the root,
    /// or one nested in another document), adding every problem to `errors`.
    pub(crate) fn read_at(
        doc: &roxmltree::Document<'_>,
        node: roxmltree::Node<'_, '_>,
        errors: &mut Vec<Error>,
    ) -> Option<Domain> {
        let before = errors.len();
        let parsed = reader::read_all(node, |el| Domain::read(el, errors));
        errors.retain(|e| !reader::is_reported(e));
        let domain = match parsed {
            Ok(d) if errors.len() == before => d,
            Ok(_) => return None,
            Err(all) => {
                errors.extend(all);
                return None;
            }
        };
        if let Err(errs) = domain.validate_parsed() {
            // Validation names places from `/domain`; this element may sit deeper.
            let base = reader::node_path(node);
            // Placing each problem walks the document: a few are enough.
            errors.extend(errs.into_iter().take(reader::MAX_ERRORS).map(|mut e| {
                if let Some(rest) = e.path.strip_prefix("/domain") {
                    e.path = format!("{base}{rest}");
                }
                e.pos = reader::resolve(doc, &e.path).or_else(|| reader::resolve(doc, &base));
                e
            }));
            return None;
        }
        Some(domain)
    }

    fn read(el: &El<'_, '_>, errors: &mut Vec<Error>) -> Result<Domain> {
        // The running id is runtime state; libvirt accepts it and so do we.
        let _ = el.raw_attr("id");
        let domain_type = el.req_attr("type")?;
        let name = keep(el.req_child("name", |e| Ok(e.text())), errors);
        let uuid = keep(el.child_value::<Uuid>("uuid"), errors).flatten();
        let title = keep(el.child_text("title"), errors).flatten();
        let description = keep(el.child_text("description"), errors).flatten();
        let metadata = keep(el.child("metadata", read_metadata), errors).flatten();
        let max_memory = keep(
            el.child("maxMemory", |e| Ok(MaxMemory { size: read_size(e, "KiB")?, slots: e.req_attr("slots")? })),
            errors,
        )
        .flatten();
        let memory = keep(el.req_child("memory", |e| Ok((read_size(e, "KiB")?, e.on_off("dumpCore")?))), errors);
        let current_memory = keep(el.child("currentMemory", |e| read_size(e, "KiB")), errors).flatten();
        let vcpu = keep(el.child("vcpu", Vcpu::read), errors).flatten();
        let os = keep(el.req_child("os", Os::read), errors);
        let features = keep(el.child("features", Features::read), errors).flatten();
        let cpu = keep(el.child("cpu", Cpu::read), errors).flatten();
        let clock = keep(el.child("clock", Clock::read), errors).flatten();
        let on_poweroff = keep(el.child_value("on_poweroff"), errors).flatten();
        let on_reboot = keep(el.child_value("on_reboot"), errors).flatten();
        let on_crash = keep(el.child_value("on_crash"), errors).flatten();
        let pm = keep(el.child("pm", Pm::read), errors).flatten();
        let devices = keep(el.child("devices", |e| Ok(Devices::read(e, errors))), errors).flatten().unwrap_or_default();
        let (memory, memory_dump_core) = memory.unwrap_or_default();
        Ok(Domain {
            domain_type,
            name: name.unwrap_or_default(),
            uuid: uuid.unwrap_or_else(Uuid::new_v4),
            title,
            description,
            metadata: metadata.unwrap_or_default(),
            max_memory,
            memory,
            memory_dump_core,
            current_memory,
            vcpu,
            os: os.unwrap_or_else(|| Os::new(OsType::Hvm)),
            features,
            cpu,
            clock,
            on_poweroff,
            on_reboot,
            on_crash,
            pm,
            devices,
        })
    }

    /// The canonical XML form: libvirt's element order, two-space indent.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        self.write(&mut w);
        w.finish()
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("domain");
        w.attr("type", self.domain_type.as_str());
        w.text_element("name", &self.name);
        w.text_element("uuid", &self.uuid.to_xml());
        w.opt_text_element("title", self.title.as_ref());
        w.opt_text_element("description", self.description.as_ref());
        write_metadata(w, &self.metadata);
        if let Some(m) = &self.max_memory {
            w.start("maxMemory");
            w.attr_val("slots", &m.slots);
            write_size(w, m.size);
            w.end();
        }
        w.start("memory");
        w.on_off("dumpCore", self.memory_dump_core);
        write_size(w, self.memory);
        w.end();
        if let Some(m) = self.current_memory {
            w.start("currentMemory");
            write_size(w, m);
            w.end();
        }
        if let Some(v) = &self.vcpu {
            v.write(w);
        }
        self.os.write(w);
        if let Some(f) = &self.features {
            f.write(w);
        }
        if let Some(c) = &self.cpu {
            c.write(w);
        }
        if let Some(c) = &self.clock {
            c.write(w);
        }
        w.opt_text_element("on_poweroff", self.on_poweroff.as_ref());
        w.opt_text_element("on_reboot", self.on_reboot.as_ref());
        w.opt_text_element("on_crash", self.on_crash.as_ref());
        if let Some(p) = &self.pm {
            p.write(w);
        }
        if !self.devices.is_empty() {
            self.devices.write(w);
        }
        w.end();
    }

    // ---- JSON ----

    /// Reads the JSON encoding, with the same checks as [`Domain::from_xml`].
    pub fn from_json(text: &str) -> std::result::Result<Domain, Errors> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
        crate::document::check_json_strings(&value, "")?;
        let domain: Domain = serde_json::from_value(value).map_err(json_error)?;
        domain.validate()?;
        Ok(domain)
    }

    /// The JSON encoding, pretty-printed.
    pub fn to_json(&self) -> String {
        // Serialising plain data to a string cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Keeps the value, or records the error and goes on reading.
pub(crate) fn keep<T>(r: Result<T>, errors: &mut Vec<Error>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

pub(crate) fn sorted(mut errors: Vec<Error>) -> Errors {
    errors.retain(|e| !reader::is_reported(e));
    errors.sort_by_key(|e| e.pos.map(|p| (p.line, p.column)));
    errors.dedup();
    Errors::new(errors)
}

/// A `scaledInteger` element: a number with an optional `unit` attribute.
pub(crate) fn read_size(el: &El<'_, '_>, default_unit: &str) -> Result<ByteSize> {
    let unit = el.raw_attr("unit");
    let text = el.text();
    ByteSize::parse_with_unit(&text, unit, default_unit).map_err(|m| el.invalid(m))
}

/// Writes a size as libvirt does: `unit='KiB'` when exact, else bytes.
/// Call between the start tag's attributes and `end()`.
pub(crate) fn write_size(w: &mut XmlWriter, size: ByteSize) {
    let (v, unit) = size.to_value_and_unit();
    w.attr("unit", unit);
    w.text(&v.to_string());
}
