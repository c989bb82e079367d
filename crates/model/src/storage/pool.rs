//! `<pool>`: a storage pool, of every type libvirt has.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FS_NS, Permissions, PoolSource, RBD_NS, VolumeFormat};
use crate::document::{self, Model};
use crate::domain::validate::V;
use crate::domain::{keep, read_size, write_size};
use crate::error::{Error, Errors};
use crate::values::{ByteSize, xml_enum};
use crate::xml::XmlValue;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// What a pool is made of (`<pool type=…>`).
    pub enum PoolType {
        /// A directory of image files.
        Dir = "dir",
        /// A block device with a file system, mounted.
        Fs = "fs",
        /// A network file system (NFS, CIFS, GlusterFS), mounted.
        Netfs = "netfs",
        /// An LVM volume group.
        Logical = "logical",
        /// A disk, its partitions the volumes.
        Disk = "disk",
        /// An iSCSI target, logged in by the host.
        Iscsi = "iscsi",
        /// An iSCSI target reached by QEMU directly (libiscsi).
        IscsiDirect = "iscsi-direct",
        /// A SCSI host adapter's LUNs.
        Scsi = "scsi",
        /// Multipath devices.
        Mpath = "mpath",
        /// A Ceph RBD pool.
        Rbd = "rbd",
        /// A Sheepdog cluster.
        Sheepdog = "sheepdog",
        /// A GlusterFS volume, reached by QEMU directly.
        Gluster = "gluster",
        /// A ZFS pool.
        Zfs = "zfs",
        /// A Virtuozzo storage cluster.
        Vstorage = "vstorage",
    }
}

xml_enum! {
    /// A pool source's `<format type=…>`: a file system (fs, netfs), a
    /// partition table (disk) or a volume group format (logical). Which
    /// one a pool type takes is [`PoolType::formats`].
    pub enum PoolFormat {
        Auto = "auto",
        Ext2 = "ext2",
        Ext3 = "ext3",
        Ext4 = "ext4",
        Ufs = "ufs",
        Iso9660 = "iso9660",
        Udf = "udf",
        Gfs = "gfs",
        Gfs2 = "gfs2",
        Vfat = "vfat",
        HfsPlus = "hfs+",
        Xfs = "xfs",
        Ocfs2 = "ocfs2",
        Vmfs = "vmfs",
        Nfs = "nfs",
        Glusterfs = "glusterfs",
        Cifs = "cifs",
        Unknown = "unknown",
        Dos = "dos",
        Dvh = "dvh",
        Gpt = "gpt",
        Mac = "mac",
        Bsd = "bsd",
        Pc98 = "pc98",
        Sun = "sun",
        Lvm2 = "lvm2",
    }
}

xml_enum! {
    /// How an RBD pool reports a volume's allocation (`<refresh><volume allocation=…>`).
    pub enum RefreshAllocation {
        /// Measured (slow on large pools).
        Default = "default",
        /// Reported as the capacity.
        Capacity = "capacity",
    }
}

use PoolFormat as F;

const FS_FORMATS: &[PoolFormat] = &[
    F::Auto,
    F::Ext2,
    F::Ext3,
    F::Ext4,
    F::Ufs,
    F::Iso9660,
    F::Udf,
    F::Gfs,
    F::Gfs2,
    F::Vfat,
    F::HfsPlus,
    F::Xfs,
    F::Ocfs2,
    F::Vmfs,
];
const NETFS_FORMATS: &[PoolFormat] = &[F::Auto, F::Nfs, F::Glusterfs, F::Cifs];
const DISK_FORMATS: &[PoolFormat] = &[F::Unknown, F::Dos, F::Dvh, F::Gpt, F::Mac, F::Bsd, F::Pc98, F::Sun, F::Lvm2];
const LOGICAL_FORMATS: &[PoolFormat] = &[F::Unknown, F::Lvm2];

impl PoolType {
    /// The source formats this pool type takes (none for most), and the
    /// one libvirt assumes when none is given.
    pub fn formats(self) -> Option<(&'static [PoolFormat], PoolFormat)> {
        match self {
            PoolType::Fs => Some((FS_FORMATS, F::Auto)),
            PoolType::Netfs => Some((NETFS_FORMATS, F::Auto)),
            PoolType::Disk => Some((DISK_FORMATS, F::Unknown)),
            PoolType::Logical => Some((LOGICAL_FORMATS, F::Lvm2)),
            _ => None,
        }
    }

    /// The `<source>` parts this pool type takes, by element name (libvirt's
    /// schema for the type).
    pub fn source_parts(self) -> &'static [&'static str] {
        match self {
            PoolType::Dir => &["vendor", "product"],
            PoolType::Fs | PoolType::Disk => &["device", "format", "vendor", "product"],
            PoolType::Netfs => &["host", "dir", "format", "protocol", "vendor", "product"],
            PoolType::Logical => &["name", "device", "format", "vendor", "product"],
            PoolType::Iscsi => &["host", "device", "initiator", "auth", "vendor", "product"],
            PoolType::IscsiDirect => &["host", "device", "initiator", "auth"],
            PoolType::Scsi => &["adapter", "vendor", "product"],
            PoolType::Mpath => &[],
            PoolType::Rbd => &["name", "host", "auth"],
            PoolType::Sheepdog => &["host", "name"],
            PoolType::Gluster => &["host", "name", "dir"],
            PoolType::Zfs => &["name", "device"],
            PoolType::Vstorage => &["name"],
        }
    }

    /// The `<source>` parts this pool type cannot do without.
    pub fn required_source_parts(self) -> &'static [&'static str] {
        match self {
            PoolType::Fs | PoolType::Disk => &["device"],
            PoolType::Netfs => &["host", "dir"],
            PoolType::Iscsi => &["host", "device"],
            PoolType::IscsiDirect => &["host", "device", "initiator"],
            PoolType::Scsi => &["adapter"],
            PoolType::Rbd | PoolType::Sheepdog | PoolType::Gluster => &["host", "name"],
            PoolType::Zfs | PoolType::Vstorage => &["name"],
            PoolType::Dir | PoolType::Logical | PoolType::Mpath => &[],
        }
    }

    /// Whether volumes are reached over the network, not as local files or
    /// devices: such pools have no `<target>`.
    pub fn is_network(self) -> bool {
        matches!(self, PoolType::Rbd | PoolType::Sheepdog | PoolType::Gluster | PoolType::IscsiDirect)
    }

    /// Whether the pool's name may be left out (it is then the source's name).
    pub fn name_from_source(self) -> bool {
        matches!(
            self,
            PoolType::Logical
                | PoolType::Rbd
                | PoolType::Sheepdog
                | PoolType::Gluster
                | PoolType::Zfs
                | PoolType::Vstorage
        )
    }

    /// The formats this pool's volumes take (`None`: volumes have no
    /// format, as logical volumes and LUNs), and the default one.
    pub fn volume_formats(self) -> Option<(&'static [VolumeFormat], VolumeFormat)> {
        match self {
            PoolType::Dir | PoolType::Fs | PoolType::Netfs | PoolType::Gluster | PoolType::Rbd | PoolType::Vstorage => {
                Some((VolumeFormat::FILE, VolumeFormat::Raw))
            }
            PoolType::Disk => Some((VolumeFormat::PARTITION, VolumeFormat::None)),
            _ => None,
        }
    }

    /// Whether a volume of this pool can have `format`.
    pub fn takes_volume_format(self, format: VolumeFormat) -> bool {
        self.volume_formats().is_some_and(|(all, _)| all.contains(&format))
    }
}

/// A storage pool definition.
///
/// ```
/// use virtkit_model::storage::{Pool, PoolFormat, PoolSource, PoolTarget, PoolType, SourceHost};
///
/// let pool = Pool::new(PoolType::Netfs, "nfs")
///     .with_source(PoolSource::default().with_host(SourceHost::new("nas")).with_dir("/export"))
///     .with_target(PoolTarget::new("/mnt/nfs"));
/// pool.validate().unwrap();
/// assert_eq!(Pool::from_xml(&pool.to_xml()).unwrap(), pool);
/// assert_eq!(pool.format(), Some(PoolFormat::Auto)); // libvirt's default for netfs
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Pool {
    #[serde(rename = "type")]
    pub pool_type: PoolType,
    /// For the types that may leave it out, read as the source's name.
    pub name: String,
    /// Generated when a document has none.
    #[serde(default = "Uuid::new_v4")]
    pub uuid: Uuid,
    /// Runtime: the pool's size.
    pub capacity: Option<ByteSize>,
    /// Runtime: what volumes take.
    pub allocation: Option<ByteSize>,
    /// Runtime: what is left.
    pub available: Option<ByteSize>,
    /// `<features><cow state=…>`: copy-on-write for new files (dir and fs
    /// pools on btrfs).
    pub cow: Option<bool>,
    /// `<source>` (written always: most types need it; empty when none).
    #[serde(default, skip_serializing_if = "PoolSource::is_empty")]
    pub source: PoolSource,
    pub target: Option<PoolTarget>,
    /// rbd: `<refresh><volume allocation=…>`.
    pub refresh_volume_allocation: Option<RefreshAllocation>,
    /// fs and netfs: extra mount options (`<fs:mount_opts>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_options: Vec<String>,
    /// rbd: Ceph client settings (`<rbd:config_opts>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rbd_config: Vec<RbdConfigOption>,
}

/// `<target>`: where the pool's volumes appear on the host.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PoolTarget {
    /// Required but for logical pools (then `/dev/NAME`).
    pub path: Option<String>,
    pub permissions: Option<Permissions>,
}

impl PoolTarget {
    pub fn new(path: impl Into<String>) -> Self {
        PoolTarget { path: Some(path.into()), permissions: None }
    }

    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = Some(permissions);
        self
    }
}

/// One Ceph client setting of an RBD pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RbdConfigOption {
    pub name: String,
    pub value: String,
}

impl RbdConfigOption {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        RbdConfigOption { name: name.into(), value: value.into() }
    }
}

impl Pool {
    /// A pool with a fresh UUID, no source and no target yet.
    pub fn new(pool_type: PoolType, name: impl Into<String>) -> Self {
        Pool {
            pool_type,
            name: name.into(),
            uuid: Uuid::new_v4(),
            capacity: None,
            allocation: None,
            available: None,
            cow: None,
            source: PoolSource::default(),
            target: None,
            refresh_volume_allocation: None,
            mount_options: Vec::new(),
            rbd_config: Vec::new(),
        }
    }

    pub fn with_uuid(mut self, uuid: Uuid) -> Self {
        self.uuid = uuid;
        self
    }

    pub fn with_source(mut self, source: PoolSource) -> Self {
        self.source = source;
        self
    }

    pub fn with_target(mut self, target: PoolTarget) -> Self {
        self.target = Some(target);
        self
    }

    /// The source's format, with libvirt's default for the pool type.
    pub fn format(&self) -> Option<PoolFormat> {
        let (_, default) = self.pool_type.formats()?;
        Some(self.source.format.unwrap_or(default))
    }

    /// The name of what the pool stands for (volume group, Ceph pool, …):
    /// the source's name, else the pool's, as libvirt has it.
    pub fn source_name(&self) -> &str {
        self.source.name.as_deref().unwrap_or(&self.name)
    }

    /// Where the volumes are: the target path, or libvirt's for logical
    /// (`/dev/VG`) and ZFS (`/dev/zvol/POOL`) pools; `None` for network pools.
    pub fn target_path(&self) -> Option<String> {
        if let Some(p) = self.target.as_ref().and_then(|t| t.path.clone()) {
            return Some(p);
        }
        match self.pool_type {
            PoolType::Logical => Some(format!("/dev/{}", self.source_name())),
            PoolType::Zfs => Some(format!("/dev/zvol/{}", self.source_name())),
            _ => None,
        }
    }

    // ---- encodings ----

    /// Reads a pool document, strictly; every error found is returned with
    /// its location.
    pub fn from_xml(text: &str) -> std::result::Result<Pool, Errors> {
        document::from_xml(text)
    }

    /// The canonical XML form: libvirt's element order, two-space indent.
    pub fn to_xml(&self) -> String {
        document::to_xml(self)
    }

    /// Reads the JSON encoding, with the same checks as [`Pool::from_xml`].
    pub fn from_json(text: &str) -> std::result::Result<Pool, Errors> {
        document::from_json(text)
    }

    /// The JSON encoding, pretty-printed.
    pub fn to_json(&self) -> String {
        document::to_json(self)
    }

    /// Checks the whole pool; every problem found is returned.
    pub fn validate(&self) -> std::result::Result<(), Errors> {
        document::validate(self)
    }
}

impl Model for Pool {
    const ROOT: &'static str = "pool";

    fn read(el: &El<'_, '_>, errors: &mut Vec<Error>) -> Result<Pool> {
        let pool_type: PoolType = el.req_attr("type")?;
        let source = keep(el.child("source", PoolSource::read), errors).flatten().unwrap_or_default();
        let name = match keep(el.child_text("name"), errors).flatten() {
            Some(n) => n,
            // libvirt: these types' pools are named after their source.
            None => match source.name.clone().filter(|_| pool_type.name_from_source()) {
                Some(n) => n,
                None => {
                    el.req_child("name", |_| Ok(()))?;
                    String::new()
                }
            },
        };
        let mut pool = Pool::new(pool_type, name);
        pool.source = source;
        if let Some(u) = keep(el.child_value::<Uuid>("uuid"), errors).flatten() {
            pool.uuid = u;
        }
        let size = |n: &'static str| el.child(n, |e| read_size(e, "bytes"));
        pool.capacity = keep(size("capacity"), errors).flatten();
        pool.allocation = keep(size("allocation"), errors).flatten();
        pool.available = keep(size("available"), errors).flatten();
        let cow = |c: &El<'_, '_>| c.yes_no("state")?.ok_or_else(|| c.missing_attr("state"));
        pool.cow = keep(el.child("features", |f| f.child("cow", cow)), errors).flatten().flatten();
        pool.target = keep(
            el.child("target", |t| {
                Ok(PoolTarget { path: t.child_text("path")?, permissions: t.child("permissions", Permissions::read)? })
            }),
            errors,
        )
        .flatten();
        pool.refresh_volume_allocation = keep(
            el.child("refresh", |r| r.child("volume", |v| v.attr("allocation"))).map(|o| o.flatten().flatten()),
            errors,
        )
        .flatten();
        pool.mount_options =
            keep(el.child_ns(FS_NS, "mount_opts", |m| m.children_ns(FS_NS, "option", |o| o.req_attr("name"))), errors)
                .flatten()
                .unwrap_or_default();
        pool.rbd_config = keep(
            el.child_ns(RBD_NS, "config_opts", |c| {
                c.children_ns(RBD_NS, "option", |o| {
                    Ok(RbdConfigOption { name: o.req_attr("name")?, value: o.req_attr("value")? })
                })
            }),
            errors,
        )
        .flatten()
        .unwrap_or_default();
        Ok(pool)
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("pool");
        w.attr("type", self.pool_type.as_str());
        if !self.mount_options.is_empty() {
            w.attr("xmlns:fs", FS_NS);
        }
        if !self.rbd_config.is_empty() {
            w.attr("xmlns:rbd", RBD_NS);
        }
        w.text_element("name", &self.name);
        w.text_element("uuid", &self.uuid.to_xml());
        for (name, size) in
            [("capacity", self.capacity), ("allocation", self.allocation), ("available", self.available)]
        {
            if let Some(s) = size {
                w.start(name);
                write_size(w, s);
                w.end();
            }
        }
        if let Some(cow) = self.cow {
            w.start("features");
            w.start("cow");
            w.yes_no("state", Some(cow));
            w.end();
            w.end();
        }
        self.source.write(w);
        if let Some(t) = &self.target {
            w.start("target");
            w.opt_text_element("path", t.path.as_ref());
            if let Some(p) = &t.permissions {
                p.write(w);
            }
            w.end();
        }
        if let Some(a) = &self.refresh_volume_allocation {
            w.start("refresh");
            w.start("volume");
            w.attr("allocation", a.as_str());
            w.end();
            w.end();
        }
        if !self.rbd_config.is_empty() {
            w.start("rbd:config_opts");
            for o in &self.rbd_config {
                w.start("rbd:option");
                w.attr("name", &o.name);
                w.attr("value", &o.value);
                w.end();
            }
            w.end();
        }
        if !self.mount_options.is_empty() {
            w.start("fs:mount_opts");
            for o in &self.mount_options {
                w.start("fs:option");
                w.attr("name", o);
                w.end();
            }
            w.end();
        }
        w.end();
    }

    fn check(&self, v: &mut V) {
        super::validate::check_pool(self, v);
    }
}
