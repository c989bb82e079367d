//! How the guest's memory is backed (`<memoryBacking>`: huge pages, shared
//! or private, file or memfd, preallocated, locked) and limited
//! (`<memtune>`).

use serde::{Deserialize, Serialize};

use super::numa::MemAccess;
use super::{read_size, write_size};
use crate::values::{ByteSize, CpuSet, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// What the memory is taken from.
    pub enum MemorySourceType {
        File = "file",
        Anonymous = "anonymous",
        Memfd = "memfd",
    }
}

xml_enum! {
    pub enum AllocationMode {
        /// All of it at start (preallocated).
        Immediate = "immediate",
        Ondemand = "ondemand",
    }
}

/// `<memoryBacking>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryBacking {
    /// Huge pages: `Some` with no pages is the host's default size for all.
    pub hugepages: Option<Vec<HugePage>>,
    /// Kernel same-page merging off for this guest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nosharepages: bool,
    /// The memory is locked in host RAM (never swapped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
    pub source: Option<MemorySourceType>,
    pub access: Option<MemAccess>,
    pub allocation: Option<Allocation>,
    /// Freed memory is discarded on the host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discard: bool,
}

/// `<page size unit nodeset>`: huge pages of `size` for the guest cells
/// `nodeset` (all when absent).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HugePage {
    pub size: ByteSize,
    pub nodeset: Option<CpuSet>,
}

/// `<allocation mode threads>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Allocation {
    pub mode: Option<AllocationMode>,
    /// Threads that preallocate.
    pub threads: Option<u32>,
}

impl HugePage {
    pub fn new(size: ByteSize) -> Self {
        HugePage { size, nodeset: None }
    }
}

impl Allocation {
    pub fn new(mode: AllocationMode) -> Self {
        Allocation { mode: Some(mode), threads: None }
    }
}

impl MemoryBacking {
    /// Huge pages of the host's default size.
    pub fn hugepages() -> Self {
        MemoryBacking { hugepages: Some(Vec::new()), ..Default::default() }
    }

    pub fn with_access(mut self, access: MemAccess) -> Self {
        self.access = Some(access);
        self
    }

    pub fn with_source(mut self, source: MemorySourceType) -> Self {
        self.source = Some(source);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<MemoryBacking> {
        Ok(MemoryBacking {
            hugepages: el.child("hugepages", |h| {
                h.children("page", |p| {
                    Ok(HugePage {
                        size: super::numa::read_size_attr(p, "size", "unit", "KiB")?,
                        nodeset: p.attr("nodeset")?,
                    })
                })
            })?,
            nosharepages: el.flag("nosharepages")?,
            locked: el.flag("locked")?,
            source: el.child("source", |s| s.req_attr("type"))?,
            access: el.child("access", |a| a.req_attr("mode"))?,
            allocation: el
                .child("allocation", |a| Ok(Allocation { mode: a.attr("mode")?, threads: a.attr("threads")? }))?,
            discard: el.flag("discard")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("memoryBacking");
        if let Some(pages) = &self.hugepages {
            w.start("hugepages");
            for p in pages {
                w.start("page");
                let (v, unit) = p.size.to_value_and_unit();
                w.attr_val("size", &v);
                w.attr("unit", unit);
                w.attr_opt("nodeset", p.nodeset.as_ref());
                w.end();
            }
            w.end();
        }
        w.flag("nosharepages", self.nosharepages);
        w.flag("locked", self.locked);
        if let Some(s) = self.source {
            w.start("source");
            w.attr("type", s.as_str());
            w.end();
        }
        if let Some(a) = self.access {
            w.start("access");
            w.attr("mode", a.as_str());
            w.end();
        }
        if let Some(a) = &self.allocation {
            w.start("allocation");
            w.attr_opt("mode", a.mode.as_ref());
            w.attr_opt("threads", a.threads.as_ref());
            w.end();
        }
        w.flag("discard", self.discard);
        w.end();
    }
}

/// `<memtune>`: limits on the host memory the guest may use.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Memtune {
    pub hard_limit: Option<ByteSize>,
    pub soft_limit: Option<ByteSize>,
    pub min_guarantee: Option<ByteSize>,
    pub swap_hard_limit: Option<ByteSize>,
}

impl Memtune {
    const FIELDS: [&'static str; 4] = ["hard_limit", "soft_limit", "min_guarantee", "swap_hard_limit"];

    fn fields(&self) -> [Option<ByteSize>; 4] {
        [self.hard_limit, self.soft_limit, self.min_guarantee, self.swap_hard_limit]
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Memtune> {
        let r = |name| el.child(name, |e| read_size(e, "KiB"));
        Ok(Memtune {
            hard_limit: r("hard_limit")?,
            soft_limit: r("soft_limit")?,
            min_guarantee: r("min_guarantee")?,
            swap_hard_limit: r("swap_hard_limit")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("memtune");
        for (name, v) in Self::FIELDS.iter().zip(self.fields()) {
            if let Some(v) = v {
                w.start(name);
                write_size(w, v);
                w.end();
            }
        }
        w.end();
    }
}
