//! `<vcpu>` (how many virtual CPUs) and `<cpu>` (what they look like).

use serde::{Deserialize, Serialize};

use super::numa::Numa;
use crate::values::{CpuSet, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    pub enum VcpuPlacement {
        Static = "static",
        Auto = "auto",
    }
}

/// The `<vcpu>` element.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Vcpu {
    /// The most vCPUs the domain can have.
    pub count: u16,
    /// How many are online at boot (at most `count`).
    pub current: Option<u16>,
    pub placement: Option<VcpuPlacement>,
    /// Host CPUs the vCPUs may run on.
    pub cpuset: Option<CpuSet>,
}

impl Vcpu {
    pub fn new(count: u16) -> Self {
        Vcpu { count, current: None, placement: None, cpuset: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Vcpu> {
        Ok(Vcpu {
            placement: el.attr("placement")?,
            cpuset: el.attr("cpuset")?,
            current: el.attr("current")?,
            count: el.value()?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("vcpu");
        w.attr_opt("placement", self.placement.as_ref());
        w.attr_opt("cpuset", self.cpuset.as_ref());
        w.attr_opt("current", self.current.as_ref());
        w.text(&self.count.to_string());
        w.end();
    }
}

xml_enum! {
    /// `<cpu mode=…>`.
    pub enum CpuMode {
        Custom = "custom",
        HostModel = "host-model",
        HostPassthrough = "host-passthrough",
        Maximum = "maximum",
    }
}

xml_enum! {
    pub enum CpuMatch {
        Minimum = "minimum",
        Exact = "exact",
        Strict = "strict",
    }
}

xml_enum! {
    pub enum CpuCheck {
        None = "none",
        Partial = "partial",
        Full = "full",
    }
}

xml_enum! {
    pub enum CpuModelFallback {
        Allow = "allow",
        Forbid = "forbid",
    }
}

xml_enum! {
    pub enum CpuFeaturePolicy {
        Force = "force",
        Require = "require",
        Optional = "optional",
        Disable = "disable",
        Forbid = "forbid",
    }
}

/// The `<cpu>` element.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Cpu {
    pub mode: Option<CpuMode>,
    #[serde(rename = "match")]
    pub match_: Option<CpuMatch>,
    pub check: Option<CpuCheck>,
    pub migratable: Option<bool>,
    pub model: Option<CpuModel>,
    pub vendor: Option<String>,
    pub topology: Option<CpuTopology>,
    pub cache: Option<CpuCache>,
    pub maxphysaddr: Option<MaxPhysAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<CpuFeature>,
    /// Guest NUMA cells.
    pub numa: Option<Numa>,
}

xml_enum! {
    pub enum CpuCacheMode {
        Emulate = "emulate",
        Passthrough = "passthrough",
        Disable = "disable",
    }
}

xml_enum! {
    pub enum MaxPhysAddrMode {
        Emulate = "emulate",
        Passthrough = "passthrough",
    }
}

/// `<cache level mode>` in `<cpu>`: the CPU caches the guest sees.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CpuCache {
    /// 1 to 3.
    pub level: Option<u8>,
    pub mode: CpuCacheMode,
}

/// `<maxphysaddr mode bits>`: the guest's physical address width.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MaxPhysAddr {
    pub mode: MaxPhysAddrMode,
    pub bits: Option<u32>,
}

/// `<model>` inside `<cpu>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CpuModel {
    /// The named model (`qemu64`, `Skylake-Server`, …); may be absent with host-model.
    pub name: Option<String>,
    pub fallback: Option<CpuModelFallback>,
    pub vendor_id: Option<String>,
}

/// `<topology>`: sockets × dies × cores × threads must equal the vCPU count.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CpuTopology {
    pub sockets: u32,
    pub dies: Option<u32>,
    pub cores: u32,
    pub threads: u32,
}

impl CpuTopology {
    pub fn new(sockets: u32, cores: u32, threads: u32) -> Self {
        CpuTopology { sockets, dies: None, cores, threads }
    }

    /// Total vCPUs the topology describes.
    pub fn total(&self) -> u64 {
        u64::from(self.sockets) * u64::from(self.dies.unwrap_or(1)) * u64::from(self.cores) * u64::from(self.threads)
    }
}

/// `<feature policy=… name=…>` inside `<cpu>`. A feature read without a
/// policy gets libvirt's default for guest CPUs, `require`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CpuFeature {
    pub name: String,
    pub policy: CpuFeaturePolicy,
}

impl CpuFeature {
    pub fn new(name: impl Into<String>, policy: CpuFeaturePolicy) -> Self {
        CpuFeature { name: name.into(), policy }
    }
}

impl Cpu {
    pub fn with_mode(mode: CpuMode) -> Self {
        Cpu { mode: Some(mode), ..Default::default() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Cpu> {
        Ok(Cpu {
            mode: el.attr("mode")?,
            match_: el.attr("match")?,
            check: el.attr("check")?,
            migratable: el.on_off("migratable")?,
            model: el.child("model", |m| {
                let name = m.text();
                Ok(CpuModel {
                    name: (!name.is_empty()).then_some(name),
                    fallback: m.attr("fallback")?,
                    vendor_id: m.attr("vendor_id")?,
                })
            })?,
            vendor: el.child_text("vendor")?,
            topology: el.child("topology", |t| {
                Ok(CpuTopology {
                    sockets: t.req_attr("sockets")?,
                    dies: t.attr("dies")?,
                    cores: t.req_attr("cores")?,
                    threads: t.req_attr("threads")?,
                })
            })?,
            cache: el.child("cache", |c| Ok(CpuCache { level: c.attr("level")?, mode: c.req_attr("mode")? }))?,
            maxphysaddr: el
                .child("maxphysaddr", |m| Ok(MaxPhysAddr { mode: m.req_attr("mode")?, bits: m.attr("bits")? }))?,
            features: el.children("feature", |f| {
                Ok(CpuFeature {
                    policy: f.attr("policy")?.unwrap_or(CpuFeaturePolicy::Require),
                    name: f.req_attr("name")?,
                })
            })?,
            numa: el.child("numa", Numa::read)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("cpu");
        w.attr_opt("mode", self.mode.as_ref());
        w.attr_opt("match", self.match_.as_ref());
        w.attr_opt("check", self.check.as_ref());
        w.on_off("migratable", self.migratable);
        if let Some(m) = &self.model {
            w.start("model");
            w.attr_opt("fallback", m.fallback.as_ref());
            w.attr_opt("vendor_id", m.vendor_id.as_ref());
            if let Some(n) = &m.name {
                w.text(n);
            }
            w.end();
        }
        w.opt_text_element("vendor", self.vendor.as_ref());
        if let Some(t) = &self.topology {
            w.start("topology");
            w.attr_val("sockets", &t.sockets);
            w.attr_opt("dies", t.dies.as_ref());
            w.attr_val("cores", &t.cores);
            w.attr_val("threads", &t.threads);
            w.end();
        }
        if let Some(c) = &self.cache {
            w.start("cache");
            w.attr_opt("level", c.level.as_ref());
            w.attr("mode", c.mode.as_str());
            w.end();
        }
        if let Some(m) = &self.maxphysaddr {
            w.start("maxphysaddr");
            w.attr("mode", m.mode.as_str());
            w.attr_opt("bits", m.bits.as_ref());
            w.end();
        }
        for f in &self.features {
            w.start("feature");
            w.attr("policy", f.policy.as_str());
            w.attr("name", &f.name);
            w.end();
        }
        if let Some(n) = &self.numa {
            n.write(w);
        }
        w.end();
    }
}
