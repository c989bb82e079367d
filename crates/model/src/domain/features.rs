//! `<features>` (machine features), `<pm>` (guest power management) and
//! the `on_*` lifecycle policies.

use serde::{Deserialize, Serialize};

use super::{read_size, write_size};
use crate::values::{ByteSize, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// What happens when the guest powers off or reboots.
    pub enum LifecycleAction {
        Destroy = "destroy",
        Restart = "restart",
        Preserve = "preserve",
        RenameRestart = "rename-restart",
    }
}

xml_enum! {
    /// What happens when a disk lock is lost.
    pub enum LockFailureAction {
        Poweroff = "poweroff",
        Restart = "restart",
        Pause = "pause",
        Ignore = "ignore",
    }
}

xml_enum! {
    /// What happens when the guest crashes.
    pub enum CrashAction {
        Destroy = "destroy",
        Restart = "restart",
        Preserve = "preserve",
        RenameRestart = "rename-restart",
        CoredumpDestroy = "coredump-destroy",
        CoredumpRestart = "coredump-restart",
    }
}

/// The `<features>` element.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Features {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acpi: bool,
    pub apic: Option<Apic>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pae: bool,
    /// Hardware assisted paging (Xen).
    pub hap: Option<FeatureState>,
    /// Xen's Hyper-V emulation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub viridian: bool,
    /// Containers: a private network namespace.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privnet: bool,
    /// Hyper-V enlightenments for Windows guests.
    pub hyperv: Option<HyperV>,
    pub kvm: Option<KvmFeatures>,
    /// Paravirtual spinlocks.
    pub pvspinlock: Option<FeatureState>,
    /// The performance monitoring unit.
    pub pmu: Option<FeatureState>,
    /// VMware I/O port emulation (`<vmport state=…>`).
    pub vmport: Option<bool>,
    /// ARM's interrupt controller.
    pub gic: Option<Gic>,
    /// System management mode.
    pub smm: Option<Smm>,
    /// Who emulates the I/O APIC.
    pub ioapic: Option<IoapicDriver>,
    /// PowerPC hashed page table.
    pub hpt: Option<Hpt>,
    /// The vmcoreinfo device (for guest crash dumps).
    pub vmcoreinfo: Option<FeatureState>,
    /// PowerPC hardware transactional memory.
    pub htm: Option<bool>,
    #[serde(rename = "nested-hv")]
    pub nested_hv: Option<bool>,
    /// What happens when the guest touches an unknown MSR.
    pub msrs: Option<MsrsUnknown>,
    #[serde(rename = "ccf-assist")]
    pub ccf_assist: Option<bool>,
    /// PowerPC Spectre mitigations.
    pub cfpc: Option<SpectreMitigation>,
    pub sbbc: Option<SpectreMitigation>,
    pub ibs: Option<IbsMitigation>,
    /// TCG (emulation) settings.
    pub tcg: Option<Tcg>,
}

/// A feature whose `state` may be left to the hypervisor's default.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FeatureState {
    pub state: Option<bool>,
}

impl FeatureState {
    pub fn on() -> Self {
        FeatureState { state: Some(true) }
    }
    pub fn off() -> Self {
        FeatureState { state: Some(false) }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Apic {
    /// End-of-interrupt paravirtualisation.
    pub eoi: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Smm {
    pub state: bool,
    /// Extended TSEG size.
    pub tseg: Option<ByteSize>,
}

impl Smm {
    pub fn new(state: bool) -> Self {
        Smm { state, tseg: None }
    }
}

xml_enum! {
    pub enum HypervMode {
        /// Every enlightenment the host has.
        Passthrough = "passthrough",
        /// Those listed.
        Custom = "custom",
    }
}

/// `<hyperv>`: Hyper-V enlightenments, each on or off.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HyperV {
    pub mode: Option<HypervMode>,
    pub relaxed: Option<bool>,
    pub vapic: Option<bool>,
    pub spinlocks: Option<Spinlocks>,
    pub vpindex: Option<bool>,
    pub runtime: Option<bool>,
    pub synic: Option<bool>,
    pub stimer: Option<Stimer>,
    pub reset: Option<bool>,
    pub vendor_id: Option<HypervVendorId>,
    pub frequencies: Option<bool>,
    pub reenlightenment: Option<bool>,
    pub tlbflush: Option<bool>,
    pub ipi: Option<bool>,
    pub evmcs: Option<bool>,
    pub avic: Option<bool>,
}

/// `<spinlocks state retries>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Spinlocks {
    pub state: bool,
    /// Spin attempts before the guest yields (at least 4095).
    pub retries: Option<u32>,
}

/// `<stimer state><direct state/></stimer>`: synthetic timers.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Stimer {
    pub state: Option<bool>,
    /// Direct mode.
    pub direct: Option<bool>,
}

/// `<vendor_id state value>`: the Hyper-V vendor id shown to the guest.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HypervVendorId {
    pub state: bool,
    /// Up to 12 characters, no commas.
    pub value: Option<String>,
}

/// `<kvm>`: KVM-specific features.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KvmFeatures {
    /// Hide KVM from the guest's CPUID.
    pub hidden: Option<bool>,
    #[serde(rename = "hint-dedicated")]
    pub hint_dedicated: Option<bool>,
    #[serde(rename = "poll-control")]
    pub poll_control: Option<bool>,
    #[serde(rename = "pv-ipi")]
    pub pv_ipi: Option<bool>,
    #[serde(rename = "dirty-ring")]
    pub dirty_ring: Option<DirtyRing>,
}

/// `<dirty-ring state size>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DirtyRing {
    pub state: bool,
    /// Entries: a power of two, 1024 to 65536.
    pub size: Option<u32>,
}

xml_enum! {
    pub enum GicVersion {
        Host = "host",
        V2 = "2",
        V3 = "3",
    }
}

/// `<gic version>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Gic {
    pub version: Option<GicVersion>,
}

xml_enum! {
    pub enum IoapicDriver {
        Qemu = "qemu",
        Kvm = "kvm",
    }
}

xml_enum! {
    pub enum HptResizing {
        Enabled = "enabled",
        Disabled = "disabled",
        Required = "required",
    }
}

/// `<hpt resizing><maxpagesize/></hpt>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Hpt {
    pub resizing: Option<HptResizing>,
    pub maxpagesize: Option<ByteSize>,
}

xml_enum! {
    pub enum MsrsUnknown {
        Ignore = "ignore",
        Fault = "fault",
    }
}

xml_enum! {
    pub enum SpectreMitigation {
        Broken = "broken",
        Workaround = "workaround",
        Fixed = "fixed",
    }
}

xml_enum! {
    pub enum IbsMitigation {
        Broken = "broken",
        Workaround = "workaround",
        FixedIbs = "fixed-ibs",
        FixedCcd = "fixed-ccd",
        FixedNa = "fixed-na",
    }
}

/// `<tcg><tb-cache/></tcg>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tcg {
    /// The translation block cache's size.
    pub tb_cache: Option<ByteSize>,
}

/// `state='on|off'`, required.
fn state(e: &El<'_, '_>) -> Result<bool> {
    e.on_off("state")?.ok_or_else(|| e.missing_attr("state"))
}

fn opt_state(e: &El<'_, '_>) -> Result<FeatureState> {
    Ok(FeatureState { state: e.on_off("state")? })
}

/// `<name state='…'/>` when set.
fn write_state(w: &mut XmlWriter, name: &str, v: Option<bool>) {
    if let Some(v) = v {
        w.start(name);
        w.on_off("state", Some(v));
        w.end();
    }
}

fn write_opt_state(w: &mut XmlWriter, name: &str, v: Option<FeatureState>) {
    if let Some(v) = v {
        w.start(name);
        w.on_off("state", v.state);
        w.end();
    }
}

/// `<name attr='…'/>` when set.
fn write_word<T: crate::xml::XmlValue>(w: &mut XmlWriter, name: &str, attr: &str, v: Option<&T>) {
    if let Some(v) = v {
        w.start(name);
        w.attr_val(attr, v);
        w.end();
    }
}

impl HyperV {
    pub fn passthrough() -> Self {
        HyperV { mode: Some(HypervMode::Passthrough), ..Default::default() }
    }

    /// The on/off enlightenments without parameters, in libvirt's order
    /// among all of them (spinlocks, stimer and vendor_id have their own).
    fn simple(&self) -> [(&'static str, Option<bool>); 12] {
        [
            ("relaxed", self.relaxed),
            ("vapic", self.vapic),
            ("vpindex", self.vpindex),
            ("runtime", self.runtime),
            ("synic", self.synic),
            ("reset", self.reset),
            ("frequencies", self.frequencies),
            ("reenlightenment", self.reenlightenment),
            ("tlbflush", self.tlbflush),
            ("ipi", self.ipi),
            ("evmcs", self.evmcs),
            ("avic", self.avic),
        ]
    }

    fn read(el: &El<'_, '_>) -> Result<HyperV> {
        let f = |name| el.child(name, state);
        Ok(HyperV {
            mode: el.attr("mode")?,
            relaxed: f("relaxed")?,
            vapic: f("vapic")?,
            spinlocks: el.child("spinlocks", |s| Ok(Spinlocks { state: state(s)?, retries: s.attr("retries")? }))?,
            vpindex: f("vpindex")?,
            runtime: f("runtime")?,
            synic: f("synic")?,
            stimer: el
                .child("stimer", |s| Ok(Stimer { state: s.on_off("state")?, direct: s.child("direct", state)? }))?,
            reset: f("reset")?,
            vendor_id: el.child("vendor_id", |v| Ok(HypervVendorId { state: state(v)?, value: v.attr("value")? }))?,
            frequencies: f("frequencies")?,
            reenlightenment: f("reenlightenment")?,
            tlbflush: f("tlbflush")?,
            ipi: f("ipi")?,
            evmcs: f("evmcs")?,
            avic: f("avic")?,
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("hyperv");
        w.attr_opt("mode", self.mode.as_ref());
        let simple = self.simple();
        for (name, v) in &simple[..2] {
            write_state(w, name, *v);
        }
        if let Some(s) = &self.spinlocks {
            w.start("spinlocks");
            w.on_off("state", Some(s.state));
            w.attr_opt("retries", s.retries.as_ref());
            w.end();
        }
        for (name, v) in &simple[2..5] {
            write_state(w, name, *v);
        }
        if let Some(s) = &self.stimer {
            w.start("stimer");
            w.on_off("state", s.state);
            write_state(w, "direct", s.direct);
            w.end();
        }
        write_state(w, "reset", self.reset);
        if let Some(v) = &self.vendor_id {
            w.start("vendor_id");
            w.on_off("state", Some(v.state));
            w.attr_opt("value", v.value.as_ref());
            w.end();
        }
        for (name, v) in &simple[6..] {
            write_state(w, name, *v);
        }
        w.end();
    }

    /// Every enlightenment set, with its state, by name, in libvirt's order.
    pub fn enlightenments(&self) -> Vec<(&'static str, bool)> {
        let simple = self.simple();
        let mut out: Vec<(&'static str, Option<bool>)> = simple[..2].to_vec();
        out.push(("spinlocks", self.spinlocks.as_ref().map(|s| s.state)));
        out.extend_from_slice(&simple[2..5]);
        out.push(("stimer", self.stimer.as_ref().map(|s| s.state.unwrap_or(true))));
        out.push(("reset", self.reset));
        out.push(("vendor_id", self.vendor_id.as_ref().map(|v| v.state)));
        out.extend_from_slice(&simple[6..]);
        out.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))).collect()
    }
}

impl KvmFeatures {
    fn read(el: &El<'_, '_>) -> Result<KvmFeatures> {
        Ok(KvmFeatures {
            hidden: el.child("hidden", state)?,
            hint_dedicated: el.child("hint-dedicated", state)?,
            poll_control: el.child("poll-control", state)?,
            pv_ipi: el.child("pv-ipi", state)?,
            dirty_ring: el.child("dirty-ring", |d| Ok(DirtyRing { state: state(d)?, size: d.attr("size")? }))?,
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("kvm");
        write_state(w, "hidden", self.hidden);
        write_state(w, "hint-dedicated", self.hint_dedicated);
        write_state(w, "poll-control", self.poll_control);
        write_state(w, "pv-ipi", self.pv_ipi);
        if let Some(d) = &self.dirty_ring {
            w.start("dirty-ring");
            w.on_off("state", Some(d.state));
            w.attr_opt("size", d.size.as_ref());
            w.end();
        }
        w.end();
    }
}

impl Features {
    /// ACPI and APIC: what most x86 guests want.
    pub fn acpi_apic() -> Self {
        Features { acpi: true, apic: Some(Apic::default()), ..Default::default() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Features> {
        Ok(Features {
            acpi: el.flag("acpi")?,
            apic: el.child("apic", |a| Ok(Apic { eoi: a.on_off("eoi")? }))?,
            pae: el.flag("pae")?,
            hap: el.child("hap", opt_state)?,
            viridian: el.flag("viridian")?,
            privnet: el.flag("privnet")?,
            hyperv: el.child("hyperv", HyperV::read)?,
            kvm: el.child("kvm", KvmFeatures::read)?,
            pvspinlock: el.child("pvspinlock", opt_state)?,
            pmu: el.child("pmu", opt_state)?,
            vmport: el.child("vmport", state)?,
            gic: el.child("gic", |g| Ok(Gic { version: g.attr("version")? }))?,
            smm: el.child("smm", |s| Ok(Smm { state: state(s)?, tseg: s.child("tseg", |t| read_size(t, "MiB"))? }))?,
            ioapic: el.child("ioapic", |i| i.req_attr("driver"))?,
            hpt: el.child("hpt", |h| {
                Ok(Hpt { resizing: h.attr("resizing")?, maxpagesize: h.child("maxpagesize", |m| read_size(m, "KiB"))? })
            })?,
            vmcoreinfo: el.child("vmcoreinfo", opt_state)?,
            htm: el.child("htm", state)?,
            nested_hv: el.child("nested-hv", state)?,
            msrs: el.child("msrs", |m| m.req_attr("unknown"))?,
            ccf_assist: el.child("ccf-assist", state)?,
            cfpc: el.child("cfpc", |c| c.req_attr("value"))?,
            sbbc: el.child("sbbc", |c| c.req_attr("value"))?,
            ibs: el.child("ibs", |c| c.req_attr("value"))?,
            tcg: el.child("tcg", |t| Ok(Tcg { tb_cache: t.child("tb-cache", |c| read_size(c, "KiB"))? }))?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("features");
        w.flag("acpi", self.acpi);
        if let Some(a) = &self.apic {
            w.start("apic");
            w.on_off("eoi", a.eoi);
            w.end();
        }
        w.flag("pae", self.pae);
        write_opt_state(w, "hap", self.hap);
        w.flag("viridian", self.viridian);
        w.flag("privnet", self.privnet);
        if let Some(h) = &self.hyperv {
            h.write(w);
        }
        if let Some(k) = &self.kvm {
            k.write(w);
        }
        write_opt_state(w, "pvspinlock", self.pvspinlock);
        write_opt_state(w, "pmu", self.pmu);
        write_state(w, "vmport", self.vmport);
        if let Some(g) = &self.gic {
            w.start("gic");
            w.attr_opt("version", g.version.as_ref());
            w.end();
        }
        if let Some(s) = &self.smm {
            w.start("smm");
            w.on_off("state", Some(s.state));
            if let Some(t) = s.tseg {
                // libvirt writes the TSEG size in MiB.
                w.start("tseg");
                if t.as_bytes().is_multiple_of(1 << 20) {
                    w.attr("unit", "MiB");
                    w.text(&(t.as_bytes() >> 20).to_string());
                } else {
                    write_size(w, t);
                }
                w.end();
            }
            w.end();
        }
        write_word(w, "ioapic", "driver", self.ioapic.as_ref());
        if let Some(h) = &self.hpt {
            w.start("hpt");
            w.attr_opt("resizing", h.resizing.as_ref());
            if let Some(m) = h.maxpagesize {
                w.start("maxpagesize");
                write_size(w, m);
                w.end();
            }
            w.end();
        }
        write_opt_state(w, "vmcoreinfo", self.vmcoreinfo);
        write_state(w, "htm", self.htm);
        write_state(w, "nested-hv", self.nested_hv);
        write_word(w, "msrs", "unknown", self.msrs.as_ref());
        write_state(w, "ccf-assist", self.ccf_assist);
        write_word(w, "cfpc", "value", self.cfpc.as_ref());
        write_word(w, "sbbc", "value", self.sbbc.as_ref());
        write_word(w, "ibs", "value", self.ibs.as_ref());
        if let Some(t) = &self.tcg {
            w.start("tcg");
            if let Some(c) = t.tb_cache {
                w.start("tb-cache");
                write_size(w, c);
                w.end();
            }
            w.end();
        }
        w.end();
    }
}

/// The `<pm>` element: which sleep states the guest may enter.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Pm {
    /// `None`: the hypervisor's default.
    pub suspend_to_mem: Option<bool>,
    pub suspend_to_disk: Option<bool>,
}

impl Pm {
    pub fn new(suspend_to_mem: Option<bool>, suspend_to_disk: Option<bool>) -> Self {
        Pm { suspend_to_mem, suspend_to_disk }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Pm> {
        // `<suspend-to-mem/>` without `enabled` is allowed and means the default.
        let read = |name| el.child(name, |s| s.yes_no("enabled"));
        Ok(Pm {
            suspend_to_mem: read("suspend-to-mem")?.flatten(),
            suspend_to_disk: read("suspend-to-disk")?.flatten(),
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("pm");
        for (name, v) in [("suspend-to-mem", self.suspend_to_mem), ("suspend-to-disk", self.suspend_to_disk)] {
            if let Some(v) = v {
                w.start(name);
                w.yes_no("enabled", Some(v));
                w.end();
            }
        }
        w.end();
    }
}
