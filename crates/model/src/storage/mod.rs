//! The storage documents: libvirt's `<pool>` (a storage pool: a directory,
//! a file system, a volume group, an iSCSI target, a Ceph pool, …) and
//! `<volume>` (one volume in a pool: a file, a logical volume, a
//! partition, an image).
//!
//! [`Pool`] and its [`PoolSource`] are in `pool.rs` and `source.rs`,
//! [`Volume`] in `volume.rs`; what both use ([`Permissions`], secrets,
//! extents) is here, and the checks across fields in `validate.rs`.
//!
//! ```
//! use virtkit_model::storage::{Pool, PoolType, Volume, VolumeFormat};
//!
//! let pool = Pool::from_xml("<pool type='dir'>
//!   <name>images</name>
//!   <target><path>/var/lib/images</path></target>
//! </pool>").unwrap();
//! assert_eq!(pool.pool_type, PoolType::Dir);
//!
//! let vol = Volume::from_xml("<volume>
//!   <name>disk.qcow2</name>
//!   <capacity unit='GiB'>10</capacity>
//!   <target><format type='qcow2'/></target>
//! </volume>").unwrap();
//! assert_eq!(vol.capacity.unwrap().as_bytes(), 10 << 30);
//! assert!(PoolType::Dir.takes_volume_format(VolumeFormat::Qcow2));
//! ```

mod pool;
mod source;
mod validate;
mod volume;
pub(crate) use volume::{read_encryption, write_encryption};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use pool::{Pool, PoolFormat, PoolTarget, PoolType, RbdConfigOption, RefreshAllocation};
pub use source::{
    Adapter, AuthType, FcHostAdapter, ParentAddress, PoolSource, ScsiHostAdapter, SourceAuth, SourceDevice, SourceHost,
};
pub use volume::{
    BackingStore, Cipher, Encryption, EncryptionEngine, EncryptionFormat, FileFeatures, IvGen, Timestamp, Timestamps,
    Volume, VolumeFormat, VolumeSourceDevice, VolumeTarget, VolumeType,
};

use crate::ErrorKind;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// The namespace of a file system pool's `<fs:mount_opts>`.
pub const FS_NS: &str = "http://libvirt.org/schemas/storagepool/fs/1.0";
/// The namespace of an RBD pool's `<rbd:config_opts>`.
pub const RBD_NS: &str = "http://libvirt.org/schemas/storagepool/rbd/1.0";

/// Who owns a pool's directory or a volume, and its mode and label.
///
/// An owner or group of `-1` (or 4294967295, the same as an unsigned
/// number) means "leave it as it is", as in libvirt, and reads as `None`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Permissions {
    /// The file mode's permission bits (at most `0o777`).
    pub mode: Option<u32>,
    pub owner: Option<u32>,
    pub group: Option<u32>,
    /// The security label (an SELinux context, …).
    pub label: Option<String>,
}

impl Permissions {
    /// Mode `mode`, owned by `owner:group`.
    pub fn new(mode: u32, owner: u32, group: u32) -> Self {
        Permissions { mode: Some(mode), owner: Some(owner), group: Some(group), label: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Permissions> {
        let id = |name: &'static str| {
            el.child(name, |e| {
                let t = e.text();
                match t.trim() {
                    "-1" | "4294967295" => Ok(None),
                    s => s.parse::<u32>().map(Some).map_err(|_| {
                        e.invalid(format!("'{}' is not a user or group id (or -1)", crate::xml::truncate(&t)))
                    }),
                }
            })
            .map(Option::flatten)
        };
        Ok(Permissions {
            mode: el.child("mode", |m| {
                let t = m.text();
                let s = t.trim();
                match u32::from_str_radix(s, 8) {
                    Ok(v) if !s.is_empty() && !s.starts_with('+') => Ok(v),
                    _ => Err(m.invalid(format!("'{}' is not an octal file mode", crate::xml::truncate(&t)))),
                }
            })?,
            owner: id("owner")?,
            group: id("group")?,
            label: el.child_text("label")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("permissions");
        if let Some(m) = self.mode {
            w.text_element("mode", &format!("0{m:o}"));
        }
        w.opt_text_element("owner", self.owner.as_ref());
        w.opt_text_element("group", self.group.as_ref());
        w.opt_text_element("label", self.label.as_ref());
        w.end();
    }
}

/// A libvirt secret, by UUID or by usage name (`<secret uuid=…>` or
/// `<secret usage=…>`): the CHAP or Ceph key of a pool, the passphrase of
/// an encrypted volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecretRef {
    Uuid(Uuid),
    Usage(String),
}

impl SecretRef {
    /// Reads the `uuid` or `usage` attribute of a `<secret>`.
    pub(crate) fn read(el: &El<'_, '_>) -> Result<SecretRef> {
        match (el.attr::<Uuid>("uuid")?, el.attr::<String>("usage")?) {
            (Some(u), None) => Ok(SecretRef::Uuid(u)),
            (None, Some(u)) => Ok(SecretRef::Usage(u)),
            (Some(_), Some(_)) => {
                Err(el
                    .attr_error("usage", ErrorKind::Invalid("a secret is named by uuid or by usage, not both".into())))
            }
            (None, None) if el.raw_attr("uuid").is_some() => Err(crate::xml::reader::reported()),
            (None, None) => Err(el.missing_attr("uuid")),
        }
    }

    pub(crate) fn write_attr(&self, w: &mut XmlWriter) {
        match self {
            SecretRef::Uuid(u) => w.attr_val("uuid", u),
            SecretRef::Usage(u) => w.attr("usage", u),
        }
    }
}

/// A range of bytes on a device (`<freeExtent>` of a pool's device,
/// `<extent>` of a volume's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Extent {
    pub start: u64,
    pub end: u64,
}

impl Extent {
    pub fn new(start: u64, end: u64) -> Self {
        Extent { start, end }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Extent> {
        Ok(Extent { start: el.req_attr("start")?, end: el.req_attr("end")? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter, name: &str) {
        w.start(name);
        w.attr_val("start", &self.start);
        w.attr_val("end", &self.end);
        w.end();
    }
}
