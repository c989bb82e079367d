//! Guest NUMA: the cells of `<cpu><numa>` (their CPUs, memory, distances,
//! caches and the interconnects between them) and `<numatune>`, which host
//! NUMA nodes back the guest's memory.

use serde::{Deserialize, Serialize};

use crate::values::{ByteSize, CpuSet, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// Whether a cell's (or the domain's) memory is shared with other
    /// processes (vhost-user backends need it) or private.
    pub enum MemAccess {
        Shared = "shared",
        Private = "private",
    }
}

xml_enum! {
    pub enum CacheAssociativity {
        None = "none",
        Direct = "direct",
        Full = "full",
    }
}

xml_enum! {
    pub enum CachePolicy {
        None = "none",
        Writeback = "writeback",
        Writethrough = "writethrough",
    }
}

xml_enum! {
    /// What an interconnect's latency or bandwidth is measured for.
    pub enum AccessType {
        Access = "access",
        Read = "read",
        Write = "write",
    }
}

/// `<numa>` in `<cpu>`: the guest's NUMA cells.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Numa {
    pub cells: Vec<NumaCell>,
    #[serde(default, skip_serializing_if = "NumaInterconnects::is_empty")]
    pub interconnects: NumaInterconnects,
}

/// One `<cell>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NumaCell {
    /// The cell's number; its position in the list when absent.
    pub id: Option<u32>,
    /// The vCPUs in the cell (none: a memory-only cell).
    pub cpus: Option<CpuSet>,
    pub memory: ByteSize,
    pub mem_access: Option<MemAccess>,
    /// Whether freed guest memory is discarded on the host.
    pub discard: Option<bool>,
    /// Distances to other cells (`<distances><sibling>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distances: Vec<NumaDistance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caches: Vec<NumaCache>,
}

/// `<sibling id=… value=…>`: the distance to cell `id` (10 is local).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NumaDistance {
    pub id: u32,
    pub value: u32,
}

/// A memory-side cache of a cell (`<cache level associativity policy>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NumaCache {
    pub level: u32,
    pub associativity: CacheAssociativity,
    pub policy: CachePolicy,
    pub size: ByteSize,
    /// The cache line.
    pub line: ByteSize,
}

/// `<interconnects>`: latencies and bandwidths between cells (ACPI HMAT).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct NumaInterconnects {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latencies: Vec<NumaLatency>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bandwidths: Vec<NumaBandwidth>,
}

/// `<latency>`: nanoseconds from `initiator` to `target` (or to its cache
/// level `cache`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NumaLatency {
    pub initiator: u32,
    pub target: u32,
    pub cache: Option<u32>,
    #[serde(rename = "type")]
    pub access: AccessType,
    pub value: u32,
}

/// `<bandwidth>`: bytes per second from `initiator` to `target`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NumaBandwidth {
    pub initiator: u32,
    pub target: u32,
    pub cache: Option<u32>,
    #[serde(rename = "type")]
    pub access: AccessType,
    /// Per second.
    pub value: ByteSize,
}

impl NumaInterconnects {
    pub fn is_empty(&self) -> bool {
        self.latencies.is_empty() && self.bandwidths.is_empty()
    }
}

impl NumaCell {
    pub fn new(memory: ByteSize) -> Self {
        NumaCell {
            id: None,
            cpus: None,
            memory,
            mem_access: None,
            discard: None,
            distances: Vec::new(),
            caches: Vec::new(),
        }
    }

    pub fn with_id(mut self, id: u32) -> Self {
        self.id = Some(id);
        self
    }

    pub fn with_cpus(mut self, cpus: CpuSet) -> Self {
        self.cpus = Some(cpus);
        self
    }

    pub fn with_mem_access(mut self, access: MemAccess) -> Self {
        self.mem_access = Some(access);
        self
    }
}

impl Numa {
    pub fn new(cells: Vec<NumaCell>) -> Self {
        Numa { cells, interconnects: NumaInterconnects::default() }
    }

    /// The cells' memory together.
    pub fn total_memory(&self) -> ByteSize {
        ByteSize(self.cells.iter().fold(0u64, |a, c| a.saturating_add(c.memory.0)))
    }

    /// Each cell's number: its `id`, or its position.
    pub fn cell_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.cells.iter().enumerate().map(|(i, c)| c.id.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)))
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Numa> {
        let cells = el.one_or_more("cell", |c| {
            Ok(NumaCell {
                id: c.attr("id")?,
                cpus: c.attr("cpus")?,
                memory: read_size_attr(c, "memory", "unit", "KiB")?,
                mem_access: c.attr("memAccess")?,
                discard: c.yes_no("discard")?,
                distances: c
                    .child("distances", |d| {
                        d.one_or_more("sibling", |s| {
                            Ok(NumaDistance { id: s.req_attr("id")?, value: s.req_attr("value")? })
                        })
                    })?
                    .unwrap_or_default(),
                caches: c.children("cache", |k| {
                    Ok(NumaCache {
                        level: k.req_attr("level")?,
                        associativity: k.req_attr("associativity")?,
                        policy: k.req_attr("policy")?,
                        size: k.req_child("size", |s| read_size_attr(s, "value", "unit", ""))?,
                        line: k.req_child("line", |s| read_size_attr(s, "value", "unit", ""))?,
                    })
                })?,
            })
        })?;
        let interconnects = el
            .child("interconnects", |i| {
                Ok(NumaInterconnects {
                    latencies: i.children("latency", |l| {
                        Ok(NumaLatency {
                            initiator: l.req_attr("initiator")?,
                            target: l.req_attr("target")?,
                            cache: l.attr("cache")?,
                            access: l.req_attr("type")?,
                            value: l.req_attr("value")?,
                        })
                    })?,
                    bandwidths: i.children("bandwidth", |b| {
                        Ok(NumaBandwidth {
                            initiator: b.req_attr("initiator")?,
                            target: b.req_attr("target")?,
                            cache: b.attr("cache")?,
                            access: b.req_attr("type")?,
                            value: read_size_attr(b, "value", "unit", "")?,
                        })
                    })?,
                })
            })?
            .unwrap_or_default();
        Ok(Numa { cells, interconnects })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("numa");
        for c in &self.cells {
            w.start("cell");
            w.attr_opt("id", c.id.as_ref());
            w.attr_opt("cpus", c.cpus.as_ref());
            let (v, unit) = c.memory.to_value_and_unit();
            w.attr_val("memory", &v);
            w.attr("unit", unit);
            w.attr_opt("memAccess", c.mem_access.as_ref());
            w.yes_no("discard", c.discard);
            if !c.distances.is_empty() {
                w.start("distances");
                for d in &c.distances {
                    w.start("sibling");
                    w.attr_val("id", &d.id);
                    w.attr_val("value", &d.value);
                    w.end();
                }
                w.end();
            }
            for k in &c.caches {
                w.start("cache");
                w.attr_val("level", &k.level);
                w.attr("associativity", k.associativity.as_str());
                w.attr("policy", k.policy.as_str());
                write_size_attr(w, "size", k.size, false);
                write_size_attr(w, "line", k.line, true);
                w.end();
            }
            w.end();
        }
        let ic = &self.interconnects;
        if !ic.is_empty() {
            w.start("interconnects");
            for l in &ic.latencies {
                w.start("latency");
                w.attr_val("initiator", &l.initiator);
                w.attr_val("target", &l.target);
                w.attr_opt("cache", l.cache.as_ref());
                w.attr("type", l.access.as_str());
                w.attr_val("value", &l.value);
                w.end();
            }
            for b in &ic.bandwidths {
                w.start("bandwidth");
                w.attr_val("initiator", &b.initiator);
                w.attr_val("target", &b.target);
                w.attr_opt("cache", b.cache.as_ref());
                w.attr("type", b.access.as_str());
                let (v, unit) = b.value.to_value_and_unit();
                w.attr_val("value", &v);
                w.attr("unit", unit);
                w.end();
            }
            w.end();
        }
        w.end();
    }
}

/// A size in attribute `value` with its unit in attribute `unit` (which
/// must be there when `default_unit` is empty).
pub(crate) fn read_size_attr(
    el: &El<'_, '_>,
    value: &'static str,
    unit: &'static str,
    default_unit: &str,
) -> Result<ByteSize> {
    let v = el.raw_attr(value).ok_or_else(|| el.missing_attr(value))?;
    let u = el.raw_attr(unit);
    if u.is_none() && default_unit.is_empty() {
        return Err(el.missing_attr(unit));
    }
    ByteSize::parse_with_unit(v, u, default_unit).map_err(|m| el.attr_error(value, crate::ErrorKind::InvalidValue(m)))
}

/// `<name value=… unit=…/>` as libvirt writes it: KiB when exact (bytes
/// always with `bytes_only`), else bytes.
fn write_size_attr(w: &mut XmlWriter, name: &str, size: ByteSize, bytes_only: bool) {
    w.start(name);
    if bytes_only {
        w.attr_val("value", &size.0);
        w.attr("unit", "B");
    } else {
        let (v, unit) = size.to_value_and_unit();
        w.attr_val("value", &v);
        w.attr("unit", unit);
    }
    w.end();
}

xml_enum! {
    /// How memory is bound to host nodes.
    pub enum NumaMode {
        Strict = "strict",
        Preferred = "preferred",
        Interleave = "interleave",
        Restrictive = "restrictive",
    }
}

xml_enum! {
    pub enum NumaPlacement {
        Static = "static",
        Auto = "auto",
    }
}

/// `<numatune>`: which host NUMA nodes back guest memory.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Numatune {
    /// For all of the guest's memory.
    pub memory: Option<NumaMemory>,
    /// Per guest cell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memnodes: Vec<MemNode>,
}

/// `<memory mode placement nodeset>` in `<numatune>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NumaMemory {
    pub mode: Option<NumaMode>,
    pub placement: Option<NumaPlacement>,
    /// Host nodes.
    pub nodeset: Option<CpuSet>,
}

/// `<memnode cellid mode nodeset>`: where guest cell `cellid` lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemNode {
    pub cellid: u32,
    pub mode: NumaMode,
    pub nodeset: CpuSet,
}

impl NumaMemory {
    /// Memory bound to host `nodeset` with `mode`.
    pub fn new(mode: NumaMode, nodeset: CpuSet) -> Self {
        NumaMemory { mode: Some(mode), placement: None, nodeset: Some(nodeset) }
    }
}

impl MemNode {
    pub fn new(cellid: u32, mode: NumaMode, nodeset: CpuSet) -> Self {
        MemNode { cellid, mode, nodeset }
    }
}

impl Numatune {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Numatune> {
        Ok(Numatune {
            memory: el.child("memory", |m| {
                Ok(NumaMemory { mode: m.attr("mode")?, placement: m.attr("placement")?, nodeset: m.attr("nodeset")? })
            })?,
            memnodes: el.children("memnode", |m| {
                Ok(MemNode {
                    cellid: m.req_attr("cellid")?,
                    mode: m.req_attr("mode")?,
                    nodeset: m.req_attr("nodeset")?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("numatune");
        if let Some(m) = &self.memory {
            w.start("memory");
            w.attr_opt("mode", m.mode.as_ref());
            w.attr_opt("placement", m.placement.as_ref());
            w.attr_opt("nodeset", m.nodeset.as_ref());
            w.end();
        }
        for m in &self.memnodes {
            w.start("memnode");
            w.attr_val("cellid", &m.cellid);
            w.attr("mode", m.mode.as_str());
            w.attr_val("nodeset", &m.nodeset);
            w.end();
        }
        w.end();
    }
}
