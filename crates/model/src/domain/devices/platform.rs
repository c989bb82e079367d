//! Devices of the machine itself rather than of a bus: the IOMMU, the
//! vsock device, shared memory (ivshmem), and lock manager leases.

use serde::{Deserialize, Serialize};

use super::misc::VirtioModel;
use super::{Address, VirtioOptions, read_address, read_alias, read_virtio_driver, write_address, write_alias};
use crate::values::{ByteSize, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

// ---- iommu ----

xml_enum! {
    pub enum IommuModel {
        Intel = "intel",
        Smmuv3 = "smmuv3",
        Virtio = "virtio",
    }
}

/// `<driver>` of an IOMMU.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IommuDriver {
    /// Interrupt remapping.
    pub intremap: Option<bool>,
    /// Caching mode (needed for devices assigned to a nested guest).
    pub caching_mode: Option<bool>,
    /// Extended interrupt mode (x2APIC beyond 255 CPUs).
    pub eim: Option<bool>,
    /// Device IOTLB (ATS).
    pub iotlb: Option<bool>,
    /// Guest address width in bits.
    pub aw_bits: Option<u8>,
}

/// The `<iommu>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Iommu {
    pub model: IommuModel,
    pub driver: Option<IommuDriver>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Iommu {
    pub fn new(model: IommuModel) -> Self {
        Iommu { model, driver: None, alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Iommu> {
        Ok(Iommu {
            model: el.req_attr("model")?,
            driver: el.child("driver", |d| {
                Ok(IommuDriver {
                    intremap: d.on_off("intremap")?,
                    caching_mode: d.on_off("caching_mode")?,
                    eim: d.on_off("eim")?,
                    iotlb: d.on_off("iotlb")?,
                    aw_bits: d.attr("aw_bits")?,
                })
            })?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("iommu");
        w.attr("model", self.model.as_str());
        if let Some(d) = &self.driver {
            w.start("driver");
            w.on_off("intremap", d.intremap);
            w.on_off("caching_mode", d.caching_mode);
            w.on_off("eim", d.eim);
            w.on_off("iotlb", d.iotlb);
            w.attr_opt("aw_bits", d.aw_bits.as_ref());
            w.end();
        }
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- vsock ----

/// The `<vsock>` device: host–guest sockets by context id.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Vsock {
    pub model: Option<VirtioModel>,
    /// `<cid auto>`: a free context id is chosen at start.
    pub cid_auto: Option<bool>,
    /// `<cid address>`: the guest's context id (3 and up).
    pub cid: Option<u32>,
    pub driver: Option<VirtioOptions>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Vsock {
    /// A virtio vsock with context id `cid`, or one chosen at start.
    pub fn new(cid: Option<u32>) -> Self {
        Vsock { model: Some(VirtioModel::Virtio), cid_auto: Some(cid.is_none()), cid, ..Vsock::default() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Vsock> {
        let cid = el.child("cid", |c| Ok((c.yes_no("auto")?, c.attr("address")?)))?;
        Ok(Vsock {
            model: el.attr("model")?,
            cid_auto: cid.and_then(|c| c.0),
            cid: cid.and_then(|c| c.1),
            driver: read_virtio_driver(el)?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("vsock");
        w.attr_opt("model", self.model.as_ref());
        if self.cid_auto.is_some() || self.cid.is_some() {
            w.start("cid");
            w.yes_no("auto", self.cid_auto);
            w.attr_opt("address", self.cid.as_ref());
            w.end();
        }
        super::write_virtio_driver(w, self.driver.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- shmem ----

xml_enum! {
    pub enum ShmemModel {
        /// The legacy ivshmem device.
        Ivshmem = "ivshmem",
        /// Shared memory only.
        IvshmemPlain = "ivshmem-plain",
        /// Shared memory and interrupts through an ivshmem server.
        IvshmemDoorbell = "ivshmem-doorbell",
    }
}

xml_enum! {
    /// Whether this guest's copy of the memory is the one migrated.
    pub enum ShmemRole {
        Master = "master",
        Peer = "peer",
    }
}

/// `<server>` of a shared memory device: the ivshmem server's socket.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShmemServer {
    /// Default `/var/lib/libvirt/shmem-NAME-sock`.
    pub path: Option<String>,
}

/// `<msi>` of a doorbell device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ShmemMsi {
    pub vectors: Option<u32>,
    pub ioeventfd: Option<bool>,
}

/// A `<shmem>` device: host shared memory by name, shared between guests.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Shmem {
    pub name: String,
    pub role: Option<ShmemRole>,
    pub model: Option<ShmemModel>,
    /// A power of two, in whole MiB (libvirt writes it in M).
    pub size: Option<ByteSize>,
    pub server: Option<ShmemServer>,
    pub msi: Option<ShmemMsi>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Shmem {
    pub fn new(name: impl Into<String>, model: ShmemModel, size: ByteSize) -> Self {
        Shmem {
            name: name.into(),
            role: None,
            model: Some(model),
            size: Some(size),
            server: None,
            msi: None,
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Shmem> {
        Ok(Shmem {
            name: el.req_attr("name")?,
            role: el.attr("role")?,
            model: el.child("model", |m| m.req_attr("type"))?,
            size: el.child("size", |s| crate::domain::read_size(s, "b"))?,
            server: el.child("server", |s| Ok(ShmemServer { path: s.attr("path")? }))?,
            msi: el
                .child("msi", |m| Ok(ShmemMsi { vectors: m.attr("vectors")?, ioeventfd: m.on_off("ioeventfd")? }))?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("shmem");
        w.attr("name", &self.name);
        w.attr_opt("role", self.role.as_ref());
        if let Some(m) = &self.model {
            w.start("model");
            w.attr("type", m.as_str());
            w.end();
        }
        if let Some(s) = self.size {
            w.start("size");
            w.attr("unit", "M");
            w.text(&(s.0 >> 20).to_string());
            w.end();
        }
        if let Some(s) = &self.server {
            w.start("server");
            w.attr_opt("path", s.path.as_ref());
            w.end();
        }
        if let Some(m) = &self.msi {
            w.start("msi");
            w.attr_opt("vectors", m.vectors.as_ref());
            w.on_off("ioeventfd", m.ioeventfd);
            w.end();
        }
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

// ---- lease ----

/// A `<lease>`: a lock a lock manager holds for the guest while it runs.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Lease {
    pub lockspace: String,
    pub key: String,
    /// The file holding the lease, and the lease's offset in it.
    pub path: String,
    pub offset: Option<u32>,
}

impl Lease {
    pub fn new(lockspace: impl Into<String>, key: impl Into<String>, path: impl Into<String>) -> Self {
        Lease { lockspace: lockspace.into(), key: key.into(), path: path.into(), offset: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Lease> {
        let (path, offset) = el.req_child("target", |t| Ok((t.req_attr("path")?, t.attr("offset")?)))?;
        Ok(Lease {
            lockspace: el.req_child("lockspace", |l| Ok(l.text()))?,
            key: el.req_child("key", |k| Ok(k.text()))?,
            path,
            offset,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("lease");
        w.text_element("lockspace", &self.lockspace);
        w.text_element("key", &self.key);
        w.start("target");
        w.attr("path", &self.path);
        w.attr_opt("offset", self.offset.as_ref());
        w.end();
        w.end();
    }
}
