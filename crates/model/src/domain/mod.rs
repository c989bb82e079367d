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
mod idmap;
mod memory;
mod namespaces;
mod numa;
mod os;
mod perf;
mod security;
mod sysinfo;
mod tune;
pub(crate) mod validate;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use clock::{
    Catchup, Clock, ClockAdjustment, ClockBasis, ClockOffset, TickPolicy, Timer, TimerMode, TimerName, TimerTrack,
};
pub use cpu::{
    Cpu, CpuCache, CpuCacheMode, CpuCheck, CpuFeature, CpuFeaturePolicy, CpuMatch, CpuMode, CpuModel, CpuModelFallback,
    CpuTopology, MaxPhysAddr, MaxPhysAddrMode, Vcpu, VcpuPlacement,
};
pub use devices::Devices;
pub use features::{
    Apic, CrashAction, DirtyRing, FeatureState, Features, Gic, GicVersion, Hpt, HptResizing, HyperV, HypervMode,
    HypervVendorId, IbsMitigation, IoapicDriver, KvmFeatures, LifecycleAction, LockFailureAction, MsrsUnknown, Pm, Smm,
    SpectreMitigation, Spinlocks, Stimer, Tcg,
};
pub use idmap::{IdRange, Idmap};
pub use memory::{Allocation, AllocationMode, HugePage, MemoryBacking, MemorySourceType, Memtune};
pub use namespaces::{
    DeprecationBehavior, PropertyType, QEMU_NS, QemuCapabilities, QemuCommandline, QemuDeviceOverride, QemuEnv,
    QemuNamespace, QemuProperty,
};
pub use numa::{
    AccessType, CacheAssociativity, CachePolicy, MemAccess, MemNode, Numa, NumaBandwidth, NumaCache, NumaCell,
    NumaDistance, NumaInterconnects, NumaLatency, NumaMemory, NumaMode, NumaPlacement, Numatune,
};
pub use os::{
    AcpiTableType, Arch, Bios, BootDevice, BootMenu, Firmware, FirmwareFeature, FirmwareFeatureName, InitEnv, Loader,
    LoaderType, Nvram, Os, OsType, SmbiosMode,
};
pub use perf::{PerfEvent, PerfEventName};
pub use security::{Cipher, DeviceSecLabel, HexU32, KeyWrapCipher, LaunchSecurity, SecLabel, SecLabelType, Sev};
pub use sysinfo::{BaseBoardEntry, BiosEntry, ChassisEntry, Entry, FwCfgEntry, Smbios, Sysinfo, SystemEntry};
pub use tune::{
    BlkioDevice, Blkiotune, CacheMonitor, CacheTune, CacheTuneCache, CacheType, Cputune, IoThread, IoThreadPin,
    IoThreads, MemoryTune, MemoryTuneNode, Resource, Sched, Scheduler, ThreadPool, ThreadSched, VcpuPin, VcpuState,
};

use crate::document::json_error;
use crate::error::{Error, ErrorKind, Errors};
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
    /// The VM generation id (`<genid>`); [`GenId::Auto`] asks for a new one.
    pub genid: Option<GenId>,
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
    pub blkiotune: Option<Blkiotune>,
    pub memtune: Option<Memtune>,
    pub memory_backing: Option<MemoryBacking>,
    pub vcpu: Option<Vcpu>,
    /// Per-vCPU hotplug state (`<vcpus>`).
    pub vcpus: Option<Vec<VcpuState>>,
    #[serde(default, skip_serializing_if = "IoThreads::is_empty")]
    pub iothreads: IoThreads,
    pub cputune: Option<Cputune>,
    pub numatune: Option<Numatune>,
    pub resource: Option<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sysinfo: Vec<Sysinfo>,
    pub os: Os,
    pub idmap: Option<Idmap>,
    pub features: Option<Features>,
    pub cpu: Option<Cpu>,
    pub clock: Option<Clock>,
    pub on_poweroff: Option<LifecycleAction>,
    pub on_reboot: Option<LifecycleAction>,
    pub on_crash: Option<CrashAction>,
    pub on_lockfailure: Option<LockFailureAction>,
    pub pm: Option<Pm>,
    pub perf: Option<Vec<PerfEvent>>,
    #[serde(default, skip_serializing_if = "Devices::is_empty")]
    pub devices: Devices,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seclabels: Vec<SecLabel>,
    pub keywrap: Option<Vec<KeyWrapCipher>>,
    pub launch_security: Option<LaunchSecurity>,
    /// libvirt's QEMU namespace (`qemu:commandline`, …).
    #[serde(default, skip_serializing_if = "QemuNamespace::is_empty")]
    pub qemu: QemuNamespace,
}

/// `<genid>`: the VM generation id, or empty for a fresh one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenId {
    /// Generated when the domain is defined.
    Auto,
    Id(Uuid),
}

impl Serialize for GenId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            GenId::Auto => s.serialize_str("auto"),
            GenId::Id(u) => s.collect_str(&u.hyphenated()),
        }
    }
}

impl<'de> Deserialize<'de> for GenId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == "auto" {
            return Ok(GenId::Auto);
        }
        Uuid::parse_xml(&s).map(GenId::Id).map_err(serde::de::Error::custom)
    }
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
            genid: None,
            title: None,
            description: None,
            metadata: Vec::new(),
            max_memory: None,
            memory,
            memory_dump_core: None,
            current_memory: None,
            blkiotune: None,
            memtune: None,
            memory_backing: None,
            vcpu: None,
            vcpus: None,
            iothreads: IoThreads::default(),
            cputune: None,
            numatune: None,
            resource: None,
            sysinfo: Vec::new(),
            os: Os::new(os_type),
            idmap: None,
            features: None,
            cpu: None,
            clock: None,
            on_poweroff: None,
            on_reboot: None,
            on_crash: None,
            on_lockfailure: None,
            pm: None,
            perf: None,
            devices: Devices::default(),
            seclabels: Vec::new(),
            keywrap: None,
            launch_security: None,
            qemu: QemuNamespace::default(),
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

    pub fn with_memory_backing(mut self, backing: MemoryBacking) -> Self {
        self.memory_backing = Some(backing);
        self
    }

    pub fn with_memtune(mut self, memtune: Memtune) -> Self {
        self.memtune = Some(memtune);
        self
    }

    pub fn with_blkiotune(mut self, blkiotune: Blkiotune) -> Self {
        self.blkiotune = Some(blkiotune);
        self
    }

    pub fn with_iothreads(mut self, iothreads: IoThreads) -> Self {
        self.iothreads = iothreads;
        self
    }

    pub fn with_cputune(mut self, cputune: Cputune) -> Self {
        self.cputune = Some(cputune);
        self
    }

    pub fn with_numatune(mut self, numatune: Numatune) -> Self {
        self.numatune = Some(numatune);
        self
    }

    pub fn with_sysinfo(mut self, sysinfo: Sysinfo) -> Self {
        self.sysinfo.push(sysinfo);
        self
    }

    pub fn with_seclabel(mut self, label: SecLabel) -> Self {
        self.seclabels.push(label);
        self
    }

    pub fn with_launch_security(mut self, ls: LaunchSecurity) -> Self {
        self.launch_security = Some(ls);
        self
    }

    pub fn with_qemu_commandline(mut self, cmdline: QemuCommandline) -> Self {
        self.qemu.commandline = Some(cmdline);
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
        let genid = keep(
            el.child("genid", |g| {
                let t = g.text();
                if t.trim().is_empty() {
                    Ok(GenId::Auto)
                } else {
                    Uuid::parse_xml(&t).map(GenId::Id).map_err(|m| g.invalid(m))
                }
            }),
            errors,
        )
        .flatten();
        let title = keep(el.child_text("title"), errors).flatten();
        let description = keep(el.child_text("description"), errors).flatten();
        let metadata = keep(el.child("metadata", read_metadata), errors).flatten();
        let max_memory = keep(
            el.child("maxMemory", |e| Ok(MaxMemory { size: read_size(e, "KiB")?, slots: e.req_attr("slots")? })),
            errors,
        )
        .flatten();
        let memory = keep(el.child("memory", |e| Ok((read_size(e, "KiB")?, e.on_off("dumpCore")?))), errors).flatten();
        let current_memory = keep(el.child("currentMemory", |e| read_size(e, "KiB")), errors).flatten();
        let blkiotune = keep(el.child("blkiotune", Blkiotune::read), errors).flatten();
        let memtune = keep(el.child("memtune", Memtune::read), errors).flatten();
        let memory_backing = keep(el.child("memoryBacking", MemoryBacking::read), errors).flatten();
        let vcpu = keep(el.child("vcpu", Vcpu::read), errors).flatten();
        let vcpus = keep(el.child("vcpus", VcpuState::read_all), errors).flatten();
        let iothreads = IoThreads {
            count: keep(el.child_value("iothreads"), errors).flatten(),
            ids: keep(el.child("iothreadids", IoThreads::read_ids), errors).flatten().unwrap_or_default(),
            default: keep(el.child("defaultiothread", IoThreads::read_default), errors).flatten(),
        };
        let cputune = keep(el.child("cputune", Cputune::read), errors).flatten();
        let numatune = keep(el.child("numatune", Numatune::read), errors).flatten();
        let resource = keep(el.child("resource", Resource::read), errors).flatten();
        let sysinfo = keep(el.children("sysinfo", Sysinfo::read), errors).unwrap_or_default();
        let os = keep(el.req_child("os", Os::read), errors);
        let idmap = keep(el.child("idmap", Idmap::read), errors).flatten();
        let features = keep(el.child("features", Features::read), errors).flatten();
        let cpu = keep(el.child("cpu", Cpu::read), errors).flatten();
        let clock = keep(el.child("clock", Clock::read), errors).flatten();
        let on_poweroff = keep(el.child_value("on_poweroff"), errors).flatten();
        let on_reboot = keep(el.child_value("on_reboot"), errors).flatten();
        let on_crash = keep(el.child_value("on_crash"), errors).flatten();
        let on_lockfailure = keep(el.child_value("on_lockfailure"), errors).flatten();
        let pm = keep(el.child("pm", Pm::read), errors).flatten();
        let perf = keep(el.child("perf", perf::read_perf), errors).flatten();
        let devices = keep(el.child("devices", |e| Ok(Devices::read(e, errors))), errors).flatten().unwrap_or_default();
        let seclabels = keep(el.children("seclabel", SecLabel::read), errors).unwrap_or_default();
        let keywrap = keep(el.child("keywrap", security::read_keywrap), errors).flatten();
        let launch_security = keep(el.child("launchSecurity", LaunchSecurity::read), errors).flatten();
        let qemu = keep(QemuNamespace::read(el), errors).unwrap_or_default();
        // Without <memory>, libvirt takes the NUMA cells' total.
        let numa_total = cpu.as_ref().and_then(|c| c.numa.as_ref()).map(Numa::total_memory);
        let (memory, memory_dump_core) = match (memory, numa_total) {
            (Some(m), _) => m,
            (None, Some(total)) => (total, None),
            (None, None) if el.has_child("memory") => (ByteSize::default(), None),
            (None, None) => {
                errors.push(el.error(ErrorKind::MissingElement { name: "memory".into(), parent: "domain".into() }));
                (ByteSize::default(), None)
            }
        };
        Ok(Domain {
            domain_type,
            name: name.unwrap_or_default(),
            uuid: uuid.unwrap_or_else(Uuid::new_v4),
            genid,
            title,
            description,
            metadata: metadata.unwrap_or_default(),
            max_memory,
            memory,
            memory_dump_core,
            current_memory,
            blkiotune,
            memtune,
            memory_backing,
            vcpu,
            vcpus,
            iothreads,
            cputune,
            numatune,
            resource,
            sysinfo,
            os: os.unwrap_or_else(|| Os::new(OsType::Hvm)),
            idmap,
            features,
            cpu,
            clock,
            on_poweroff,
            on_reboot,
            on_crash,
            on_lockfailure,
            pm,
            perf,
            devices,
            seclabels,
            keywrap,
            launch_security,
            qemu,
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
        if !self.qemu.is_empty() {
            w.attr("xmlns:qemu", QEMU_NS);
        }
        w.text_element("name", &self.name);
        w.text_element("uuid", &self.uuid.to_xml());
        match self.genid {
            Some(GenId::Id(g)) => w.text_element("genid", &g.to_xml()),
            Some(GenId::Auto) => w.flag("genid", true),
            None => {}
        }
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
        if let Some(b) = &self.blkiotune {
            b.write(w);
        }
        if let Some(m) = &self.memtune {
            m.write(w);
        }
        if let Some(m) = &self.memory_backing {
            m.write(w);
        }
        if let Some(v) = &self.vcpu {
            v.write(w);
        }
        if let Some(v) = &self.vcpus {
            VcpuState::write_all(w, v);
        }
        self.iothreads.write(w);
        if let Some(c) = &self.cputune {
            c.write(w);
        }
        if let Some(n) = &self.numatune {
            n.write(w);
        }
        if let Some(r) = &self.resource {
            r.write(w);
        }
        for s in &self.sysinfo {
            s.write(w);
        }
        self.os.write(w);
        if let Some(i) = &self.idmap {
            i.write(w);
        }
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
        w.opt_text_element("on_lockfailure", self.on_lockfailure.as_ref());
        if let Some(p) = &self.pm {
            p.write(w);
        }
        if let Some(p) = &self.perf {
            perf::write_perf(w, p);
        }
        if !self.devices.is_empty() {
            self.devices.write(w);
        }
        for s in &self.seclabels {
            s.write(w);
        }
        if let Some(k) = &self.keywrap {
            security::write_keywrap(w, k);
        }
        if let Some(l) = &self.launch_security {
            l.write(w);
        }
        self.qemu.write(w);
        w.end();
    }

    // ---- JSON ----

    /// Reads the JSON encoding, with the same checks as [`Domain::from_xml`].
    pub fn from_json(text: &str) -> std::result::Result<Domain, Errors> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
        crate::document::check_json_strings(&value, "")?;
        let mut domain: Domain = serde_json::from_value(value).map_err(json_error)?;
        // As the XML reader does.
        domain.devices.fill_usb_masters();
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
