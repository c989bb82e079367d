//! `<memory>` devices: memory added beside the guest's base memory, as a
//! DIMM, an NVDIMM, a virtio-pmem or virtio-mem device, or SGX enclave
//! page cache.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Address, read_address, read_alias, write_address, write_alias};
use crate::domain::numa::MemAccess;
use crate::domain::{read_size, write_size};
use crate::values::{ByteSize, CpuSet, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    pub enum MemoryModel {
        /// A hot-pluggable DIMM of RAM.
        Dimm = "dimm",
        /// Persistent memory in a DIMM slot, backed by a host file.
        Nvdimm = "nvdimm",
        /// Persistent memory on virtio, backed by a host file.
        VirtioPmem = "virtio-pmem",
        /// RAM the guest is given and taken back in blocks.
        VirtioMem = "virtio-mem",
        /// Intel SGX enclave page cache.
        SgxEpc = "sgx-epc",
    }
}

impl MemoryModel {
    /// Counted in the domain's `<memory>` (as libvirt totals it): RAM and
    /// NVDIMMs in DIMM slots and virtio-mem, not virtio-pmem or SGX EPC.
    pub fn counts_in_memory(self) -> bool {
        matches!(self, MemoryModel::Dimm | MemoryModel::Nvdimm | MemoryModel::VirtioMem)
    }

    /// Backed by a host file (`<source><path>`), not by RAM.
    pub fn is_file_backed(self) -> bool {
        matches!(self, MemoryModel::Nvdimm | MemoryModel::VirtioPmem)
    }
}

/// `<source>` of a memory device: RAM (page size, host nodes) or a file.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemorySource {
    /// RAM: the host NUMA nodes to allocate from.
    pub nodemask: Option<CpuSet>,
    /// RAM: huge pages of this size.
    pub pagesize: Option<ByteSize>,
    /// File: the host file or device (`/dev/dax0.0`).
    pub path: Option<String>,
    /// File: its alignment.
    pub alignsize: Option<ByteSize>,
    /// File: it is real persistent memory on the host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pmem: bool,
}

/// `<target>` of a memory device: what the guest sees.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryTarget {
    pub size: ByteSize,
    /// The guest NUMA node it belongs to.
    pub node: Option<u32>,
    /// nvdimm: the size of its label area.
    pub label_size: Option<ByteSize>,
    /// nvdimm: read-only to the guest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    /// virtio-mem: the block size it grows and shrinks by.
    pub block: Option<ByteSize>,
    /// virtio-mem: how much of `size` the guest is asked to use.
    pub requested: Option<ByteSize>,
    /// virtio-mem, runtime: how much it uses now.
    pub current: Option<ByteSize>,
}

impl MemoryTarget {
    pub fn new(size: ByteSize) -> Self {
        MemoryTarget {
            size,
            node: None,
            label_size: None,
            readonly: false,
            block: None,
            requested: None,
            current: None,
        }
    }
}

/// A `<memory>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemoryDevice {
    pub model: MemoryModel,
    pub access: Option<MemAccess>,
    pub discard: Option<bool>,
    /// nvdimm (ppc64): the device's UUID.
    pub uuid: Option<Uuid>,
    pub source: Option<MemorySource>,
    pub target: MemoryTarget,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl MemoryDevice {
    pub fn new(model: MemoryModel, target: MemoryTarget) -> Self {
        MemoryDevice {
            model,
            access: None,
            discard: None,
            uuid: None,
            source: None,
            target,
            alias: None,
            address: None,
        }
    }

    /// A DIMM of `size` in guest node `node`.
    pub fn dimm(size: ByteSize, node: u32) -> Self {
        let mut t = MemoryTarget::new(size);
        t.node = Some(node);
        MemoryDevice::new(MemoryModel::Dimm, t)
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<MemoryDevice> {
        let model: MemoryModel = el.req_attr("model")?;
        let size = |e: &El<'_, '_>| read_size(e, "KiB");
        Ok(MemoryDevice {
            model,
            access: el.attr("access")?,
            discard: el.yes_no("discard")?,
            uuid: el.child_value("uuid")?,
            source: el.child("source", |s| {
                Ok(MemorySource {
                    nodemask: s.child_value("nodemask")?,
                    pagesize: s.child("pagesize", size)?,
                    path: s.child_text("path")?,
                    alignsize: s.child("alignsize", size)?,
                    pmem: s.flag("pmem")?,
                })
            })?,
            target: el.req_child("target", |t| {
                Ok(MemoryTarget {
                    size: t.req_child("size", size)?,
                    node: t.child_value("node")?,
                    label_size: t.child("label", |l| l.req_child("size", size))?,
                    readonly: t.flag("readonly")?,
                    block: t.child("block", size)?,
                    requested: t.child("requested", size)?,
                    current: t.child("current", size)?,
                })
            })?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("memory");
        w.attr("model", self.model.as_str());
        w.attr_opt("access", self.access.as_ref());
        w.yes_no("discard", self.discard);
        w.opt_text_element("uuid", self.uuid.as_ref());
        if let Some(s) = &self.source {
            w.start("source");
            w.opt_text_element("nodemask", s.nodemask.as_ref());
            size_element(w, "pagesize", s.pagesize);
            w.opt_text_element("path", s.path.as_ref());
            size_element(w, "alignsize", s.alignsize);
            w.flag("pmem", s.pmem);
            w.end();
        }
        let t = &self.target;
        w.start("target");
        size_element(w, "size", Some(t.size));
        w.opt_text_element("node", t.node.as_ref());
        if let Some(l) = t.label_size {
            w.start("label");
            size_element(w, "size", Some(l));
            w.end();
        }
        w.flag("readonly", t.readonly);
        size_element(w, "block", t.block);
        size_element(w, "requested", t.requested);
        size_element(w, "current", t.current);
        w.end();
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

fn size_element(w: &mut XmlWriter, name: &str, size: Option<ByteSize>) {
    if let Some(s) = size {
        w.start(name);
        write_size(w, s);
        w.end();
    }
}
