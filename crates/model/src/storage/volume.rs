//! `<volume>`: one volume of a pool.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Extent, Permissions, SecretRef};
use crate::ErrorKind;
use crate::document::{self, Model};
use crate::domain::validate::V;
use crate::domain::{keep, read_size, write_size};
use crate::error::{Error, Errors};
use crate::values::{ByteSize, xml_enum};
use crate::xml::XmlValue;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// What a volume is on the host (`<volume type=…>`).
    pub enum VolumeType {
        File = "file",
        Block = "block",
        Dir = "dir",
        /// Reached over the network (an RBD image, a Gluster file).
        Network = "network",
        /// A directory reached over the network.
        Netdir = "netdir",
    }
}

xml_enum! {
    /// A volume's format: an image format (in file-based pools), a
    /// partition type (disk pools) or a file system. Which a pool takes is
    /// [`PoolType::volume_formats`](super::PoolType::volume_formats).
    pub enum VolumeFormat {
        Unknown = "unknown",
        Raw = "raw",
        Dir = "dir",
        Bochs = "bochs",
        Cloop = "cloop",
        Dmg = "dmg",
        Iso = "iso",
        Vpc = "vpc",
        Vdi = "vdi",
        Fat = "fat",
        Vhd = "vhd",
        Ploop = "ploop",
        Luks = "luks",
        Cow = "cow",
        Qcow = "qcow",
        Qcow2 = "qcow2",
        Qed = "qed",
        Vmdk = "vmdk",
        /// No partition type, or no file system.
        None = "none",
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
        Linux = "linux",
        Fat16 = "fat16",
        Fat32 = "fat32",
        LinuxSwap = "linux-swap",
        LinuxLvm = "linux-lvm",
        LinuxRaid = "linux-raid",
        Extended = "extended",
    }
    unsupported = ["vhdx"];
}

impl VolumeFormat {
    /// The image formats of file-based pools (dir, fs, netfs, gluster, rbd, vstorage).
    pub const FILE: &'static [VolumeFormat] = &[
        VolumeFormat::Raw,
        VolumeFormat::Dir,
        VolumeFormat::Bochs,
        VolumeFormat::Cloop,
        VolumeFormat::Dmg,
        VolumeFormat::Iso,
        VolumeFormat::Vpc,
        VolumeFormat::Vdi,
        VolumeFormat::Fat,
        VolumeFormat::Vhd,
        VolumeFormat::Ploop,
        VolumeFormat::Luks,
        VolumeFormat::Cow,
        VolumeFormat::Qcow,
        VolumeFormat::Qcow2,
        VolumeFormat::Qed,
        VolumeFormat::Vmdk,
    ];

    /// The partition types of disk pools.
    pub const PARTITION: &'static [VolumeFormat] = &[
        VolumeFormat::None,
        VolumeFormat::Linux,
        VolumeFormat::Fat16,
        VolumeFormat::Fat32,
        VolumeFormat::LinuxSwap,
        VolumeFormat::LinuxLvm,
        VolumeFormat::LinuxRaid,
        VolumeFormat::Extended,
    ];

    /// Whether the format can have a backing file (cow, qcow, qcow2, qed, vmdk).
    pub fn has_backing(self) -> bool {
        matches!(
            self,
            VolumeFormat::Cow | VolumeFormat::Qcow | VolumeFormat::Qcow2 | VolumeFormat::Qed | VolumeFormat::Vmdk
        )
    }
}

xml_enum! {
    /// How a volume is encrypted.
    pub enum EncryptionFormat {
        /// Whatever the storage driver picks when it creates the volume.
        Default = "default",
        /// qcow's old built-in AES (read only, in QEMU today).
        Qcow = "qcow",
        Luks = "luks",
        Luks2 = "luks2",
    }
}

xml_enum! {
    /// Who decrypts: QEMU, or librbd (for RBD images).
    pub enum EncryptionEngine {
        Qemu = "qemu",
        Librbd = "librbd",
    }
}

/// A volume definition.
///
/// ```
/// use virtkit_model::ByteSize;
/// use virtkit_model::storage::{BackingStore, Volume, VolumeFormat};
///
/// let v = Volume::new("web.qcow2")
///     .with_capacity(ByteSize::gib(20))
///     .with_format(VolumeFormat::Qcow2)
///     .with_backing_store(BackingStore::new("/images/base.qcow2").with_format(VolumeFormat::Qcow2));
/// v.validate().unwrap();
/// assert_eq!(Volume::from_xml(&v.to_xml()).unwrap(), v);
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Volume {
    #[serde(rename = "type")]
    pub volume_type: Option<VolumeType>,
    /// A file name in its pool: no `/`, not `.` or `..`.
    pub name: String,
    /// The pool-independent key (the path, an LVM UUID, …).
    pub key: Option<String>,
    /// Runtime: where a logical volume lies on its physical devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_devices: Vec<VolumeSourceDevice>,
    /// The size the guest sees. May be left out when cloning, or for a
    /// backing file's.
    pub capacity: Option<ByteSize>,
    /// What the volume takes on the host now (preallocated when created).
    pub allocation: Option<ByteSize>,
    /// Runtime: the size of the file or device holding it.
    pub physical: Option<ByteSize>,
    #[serde(default)]
    pub target: VolumeTarget,
    pub backing_store: Option<BackingStore>,
}

/// A physical device a volume is on, and where on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VolumeSourceDevice {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extents: Vec<Extent>,
}

impl VolumeSourceDevice {
    pub fn new(path: impl Into<String>) -> Self {
        VolumeSourceDevice { path: path.into(), extents: Vec::new() }
    }
}

/// `<target>`: the volume's file or device and its format.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct VolumeTarget {
    /// An absolute path, or a URI for network volumes.
    pub path: Option<String>,
    pub format: Option<VolumeFormat>,
    pub permissions: Option<Permissions>,
    /// Runtime: access, change, modification and birth times.
    pub timestamps: Option<Timestamps>,
    pub encryption: Option<Encryption>,
    /// The qcow2 version to create (`0.10` or `1.1`).
    pub compat: Option<String>,
    /// Create the file without copy-on-write (btrfs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nocow: bool,
    /// qcow2: the cluster size.
    pub cluster_size: Option<ByteSize>,
    /// qcow2 features (`<features>`; empty is compat 1.1's defaults).
    pub features: Option<FileFeatures>,
}

/// qcow2 features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FileFeatures {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lazy_refcounts: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub extended_l2: bool,
}

/// The file a copy-on-write volume reads what it has not written itself.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackingStore {
    pub path: String,
    pub format: Option<VolumeFormat>,
    pub permissions: Option<Permissions>,
    /// Runtime: as the volume's own.
    pub timestamps: Option<Timestamps>,
}

impl BackingStore {
    pub fn new(path: impl Into<String>) -> Self {
        BackingStore { path: path.into(), format: None, permissions: None, timestamps: None }
    }

    pub fn with_format(mut self, format: VolumeFormat) -> Self {
        self.format = Some(format);
        self
    }
}

/// A file's times.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Timestamps {
    pub atime: Option<Timestamp>,
    pub mtime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub btime: Option<Timestamp>,
}

/// A point in time as seconds and nanoseconds since the epoch, written
/// `1341933637.273190990`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub seconds: u64,
    /// Below 1,000,000,000.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// `None` when `nanoseconds` is a second or more.
    pub fn new(seconds: u64, nanoseconds: u32) -> Option<Self> {
        (nanoseconds < 1_000_000_000).then_some(Timestamp { seconds, nanoseconds })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.nanoseconds {
            0 => write!(f, "{}", self.seconds),
            n => write!(f, "{}.{n:09}", self.seconds),
        }
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("'{}' is not a time (seconds, like 1341933637.273190990)", crate::xml::truncate(s));
        let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if secs.is_empty() || !digits(secs) || !digits(frac) || frac.len() > 9 {
            return Err(bad());
        }
        let seconds = secs.parse().map_err(|_| bad())?;
        let nanoseconds = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
        Ok(Timestamp { seconds, nanoseconds })
    }
}

impl XmlValue for Timestamp {
    fn parse_xml(s: &str) -> std::result::Result<Self, String> {
        s.parse()
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `<encryption>`: how the volume is encrypted, and with which secret.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Encryption {
    pub format: EncryptionFormat,
    pub engine: Option<EncryptionEngine>,
    /// The passphrase (`<secret type='passphrase' …>`).
    pub secret: Option<SecretRef>,
    /// LUKS: the cipher (with `ivgen`).
    pub cipher: Option<Cipher>,
    pub ivgen: Option<IvGen>,
}

impl Encryption {
    /// `format`, keyed by the passphrase in `secret`.
    pub fn new(format: EncryptionFormat, secret: SecretRef) -> Self {
        Encryption { format, engine: None, secret: Some(secret), cipher: None, ivgen: None }
    }

    /// `format`, with no secret named (the storage driver makes one).
    pub fn unkeyed(format: EncryptionFormat) -> Self {
        Encryption { format, engine: None, secret: None, cipher: None, ivgen: None }
    }
}

impl Cipher {
    /// `name` (`aes`) with `size`-bit keys.
    pub fn new(name: impl Into<String>, size: u32) -> Self {
        Cipher { name: name.into(), size, mode: None, hash: None }
    }

    /// In `mode` (`cbc`, `xts`) with `hash`.
    pub fn with_mode(mut self, mode: impl Into<String>, hash: impl Into<String>) -> Self {
        self.mode = Some(mode.into());
        self.hash = Some(hash.into());
        self
    }
}

impl IvGen {
    /// Vectors made by `name` (`plain64`, `essiv`).
    pub fn new(name: impl Into<String>) -> Self {
        IvGen { name: name.into(), hash: None }
    }
}

/// A LUKS cipher: `aes` of `size` bits, in `mode` with `hash`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Cipher {
    pub name: String,
    pub size: u32,
    /// With `hash`, or neither.
    pub mode: Option<String>,
    pub hash: Option<String>,
}

/// How a LUKS cipher's initialization vectors are made.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IvGen {
    pub name: String,
    pub hash: Option<String>,
}

impl Volume {
    pub fn new(name: impl Into<String>) -> Self {
        Volume {
            volume_type: None,
            name: name.into(),
            key: None,
            source_devices: Vec::new(),
            capacity: None,
            allocation: None,
            physical: None,
            target: VolumeTarget::default(),
            backing_store: None,
        }
    }

    pub fn with_capacity(mut self, capacity: ByteSize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    pub fn with_allocation(mut self, allocation: ByteSize) -> Self {
        self.allocation = Some(allocation);
        self
    }

    pub fn with_format(mut self, format: VolumeFormat) -> Self {
        self.target.format = Some(format);
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.target.path = Some(path.into());
        self
    }

    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.target.permissions = Some(permissions);
        self
    }

    pub fn with_encryption(mut self, encryption: Encryption) -> Self {
        self.target.encryption = Some(encryption);
        self
    }

    pub fn with_backing_store(mut self, backing: BackingStore) -> Self {
        self.backing_store = Some(backing);
        self
    }

    /// The allocation, or (as libvirt has it) the capacity when none is given.
    pub fn allocation_or_capacity(&self) -> Option<ByteSize> {
        self.allocation.or(self.capacity)
    }

    // ---- encodings ----

    /// Reads a volume document, strictly; every error found is returned
    /// with its location.
    pub fn from_xml(text: &str) -> std::result::Result<Volume, Errors> {
        document::from_xml(text)
    }

    /// The canonical XML form: libvirt's element order, two-space indent.
    pub fn to_xml(&self) -> String {
        document::to_xml(self)
    }

    /// Reads the JSON encoding, with the same checks as [`Volume::from_xml`].
    pub fn from_json(text: &str) -> std::result::Result<Volume, Errors> {
        document::from_json(text)
    }

    /// The JSON encoding, pretty-printed.
    pub fn to_json(&self) -> String {
        document::to_json(self)
    }

    /// Checks the whole volume; every problem found is returned.
    pub fn validate(&self) -> std::result::Result<(), Errors> {
        document::validate(self)
    }
}

fn read_timestamps(el: &El<'_, '_>) -> Result<Option<Timestamps>> {
    el.child("timestamps", |t| {
        Ok(Timestamps {
            atime: t.child_value("atime")?,
            mtime: t.child_value("mtime")?,
            ctime: t.child_value("ctime")?,
            btime: t.child_value("btime")?,
        })
    })
}

fn write_timestamps(w: &mut XmlWriter, t: Option<&Timestamps>) {
    if let Some(t) = t {
        w.start("timestamps");
        w.opt_text_element("atime", t.atime.as_ref());
        w.opt_text_element("mtime", t.mtime.as_ref());
        w.opt_text_element("ctime", t.ctime.as_ref());
        w.opt_text_element("btime", t.btime.as_ref());
        w.end();
    }
}

fn read_format(el: &El<'_, '_>) -> Result<Option<VolumeFormat>> {
    el.child("format", |f| f.req_attr("type"))
}

fn write_format(w: &mut XmlWriter, f: Option<&VolumeFormat>) {
    if let Some(f) = f {
        w.start("format");
        w.attr("type", f.as_str());
        w.end();
    }
}

pub(crate) fn read_encryption(el: &El<'_, '_>) -> Result<Encryption> {
    Ok(Encryption {
        format: el.req_attr("format")?,
        engine: el.attr("engine")?,
        secret: el.child("secret", |s| {
            match s.raw_attr("type") {
                Some("passphrase") => {}
                Some(other) => {
                    let msg = format!("'{}' is not one of passphrase", crate::xml::truncate(other));
                    return Err(s.attr_error("type", ErrorKind::InvalidValue(msg)));
                }
                None => return Err(s.missing_attr("type")),
            }
            SecretRef::read(s)
        })?,
        cipher: el.child("cipher", |c| {
            Ok(Cipher {
                name: c.req_attr("name")?,
                size: c.req_attr("size")?,
                mode: c.attr("mode")?,
                hash: c.attr("hash")?,
            })
        })?,
        ivgen: el.child("ivgen", |i| Ok(IvGen { name: i.req_attr("name")?, hash: i.attr("hash")? }))?,
    })
}

pub(crate) fn write_encryption(w: &mut XmlWriter, e: &Encryption) {
    w.start("encryption");
    w.attr("format", e.format.as_str());
    w.attr_opt("engine", e.engine.as_ref());
    if let Some(s) = &e.secret {
        w.start("secret");
        w.attr("type", "passphrase");
        s.write_attr(w);
        w.end();
    }
    if let Some(c) = &e.cipher {
        w.start("cipher");
        w.attr("name", &c.name);
        w.attr_val("size", &c.size);
        w.attr_opt("mode", c.mode.as_ref());
        w.attr_opt("hash", c.hash.as_ref());
        w.end();
    }
    if let Some(i) = &e.ivgen {
        w.start("ivgen");
        w.attr("name", &i.name);
        w.attr_opt("hash", i.hash.as_ref());
        w.end();
    }
    w.end();
}

fn read_target(el: &El<'_, '_>) -> Result<VolumeTarget> {
    Ok(VolumeTarget {
        path: el.child_text("path")?,
        format: read_format(el)?,
        permissions: el.child("permissions", Permissions::read)?,
        timestamps: read_timestamps(el)?,
        encryption: el.child("encryption", read_encryption)?,
        compat: el.child_text("compat")?,
        nocow: el.flag("nocow")?,
        cluster_size: el.child("clusterSize", |c| read_size(c, "bytes"))?,
        features: el.child("features", |f| {
            Ok(FileFeatures { lazy_refcounts: f.flag("lazy_refcounts")?, extended_l2: f.flag("extended_l2")? })
        })?,
    })
}

fn write_target(w: &mut XmlWriter, t: &VolumeTarget) {
    w.start("target");
    w.opt_text_element("path", t.path.as_ref());
    write_format(w, t.format.as_ref());
    if let Some(p) = &t.permissions {
        p.write(w);
    }
    write_timestamps(w, t.timestamps.as_ref());
    if let Some(e) = &t.encryption {
        write_encryption(w, e);
    }
    w.opt_text_element("compat", t.compat.as_ref());
    w.flag("nocow", t.nocow);
    if let Some(c) = t.cluster_size {
        w.start("clusterSize");
        write_size(w, c);
        w.end();
    }
    if let Some(f) = &t.features {
        w.start("features");
        w.flag("lazy_refcounts", f.lazy_refcounts);
        w.flag("extended_l2", f.extended_l2);
        w.end();
    }
    w.end();
}

impl Model for Volume {
    const ROOT: &'static str = "volume";

    fn read(el: &El<'_, '_>, errors: &mut Vec<Error>) -> Result<Volume> {
        let name = keep(el.req_child("name", |e| Ok(e.text())), errors);
        let mut v = Volume::new(name.unwrap_or_default());
        v.volume_type = keep(el.attr("type"), errors).flatten();
        v.key = keep(el.child_text("key"), errors).flatten();
        v.source_devices = keep(
            el.child("source", |s| {
                s.children("device", |d| {
                    Ok(VolumeSourceDevice { path: d.req_attr("path")?, extents: d.children("extent", Extent::read)? })
                })
            }),
            errors,
        )
        .flatten()
        .unwrap_or_default();
        let size = |n: &'static str| el.child(n, |e| read_size(e, "bytes"));
        v.capacity = keep(size("capacity"), errors).flatten();
        v.allocation = keep(size("allocation"), errors).flatten();
        v.physical = keep(size("physical"), errors).flatten();
        v.target = keep(el.child("target", read_target), errors).flatten().unwrap_or_default();
        v.backing_store = keep(
            el.child("backingStore", |b| {
                Ok(BackingStore {
                    path: b.req_child("path", |p| Ok(p.text()))?,
                    format: read_format(b)?,
                    permissions: b.child("permissions", Permissions::read)?,
                    timestamps: read_timestamps(b)?,
                })
            }),
            errors,
        )
        .flatten();
        Ok(v)
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("volume");
        w.attr_opt("type", self.volume_type.as_ref());
        w.text_element("name", &self.name);
        w.opt_text_element("key", self.key.as_ref());
        if !self.source_devices.is_empty() {
            w.start("source");
            for d in &self.source_devices {
                w.start("device");
                w.attr("path", &d.path);
                d.extents.iter().for_each(|e| e.write(w, "extent"));
                w.end();
            }
            w.end();
        }
        for (name, size) in [("capacity", self.capacity), ("allocation", self.allocation), ("physical", self.physical)]
        {
            if let Some(s) = size {
                w.start(name);
                write_size(w, s);
                w.end();
            }
        }
        write_target(w, &self.target);
        if let Some(b) = &self.backing_store {
            w.start("backingStore");
            w.text_element("path", &b.path);
            write_format(w, b.format.as_ref());
            if let Some(p) = &b.permissions {
                p.write(w);
            }
            write_timestamps(w, b.timestamps.as_ref());
            w.end();
        }
        w.end();
    }

    fn check(&self, v: &mut V) {
        super::validate::check_volume(self, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_libvirts_form() {
        let t: Timestamp = "1341933637.273190990".parse().unwrap();
        assert_eq!((t.seconds, t.nanoseconds), (1_341_933_637, 273_190_990));
        assert_eq!(t.to_string(), "1341933637.273190990");
        assert_eq!("5.5".parse::<Timestamp>().unwrap().to_string(), "5.500000000");
        assert_eq!("7.".parse::<Timestamp>().unwrap().to_string(), "7");
        for bad in ["", ".5", "1.1234567890", "-1", "1e9", "1.x"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }
}
