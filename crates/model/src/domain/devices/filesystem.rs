//! `<filesystem type='mount'>`: a host directory shown to a guest (9p or
//! virtiofs) or mounted in a container.

use serde::{Deserialize, Serialize};

use super::misc::VirtioModel;
use super::{
    Address, DeviceBoot, DiskFormat, VirtioOptions, read_address, read_alias, read_boot, write_address, write_alias,
    write_boot,
};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    pub enum AccessMode {
        Passthrough = "passthrough",
        Mapped = "mapped",
        Squash = "squash",
    }
}

xml_enum! {
    pub enum FsDriverType {
        Path = "path",
        Handle = "handle",
        Loop = "loop",
        Nbd = "nbd",
        Ploop = "ploop",
        Virtiofs = "virtiofs",
    }
}

xml_enum! {
    pub enum FsWrPolicy {
        /// Write through at once.
        Immediate = "immediate",
    }
}

xml_enum! {
    /// 9p: what to do about several host devices under one export.
    pub enum Multidevs {
        Default = "default",
        Remap = "remap",
        Forbid = "forbid",
        Warn = "warn",
    }
}

xml_enum! {
    /// virtiofsd's cache mode.
    pub enum FsCacheMode {
        None = "none",
        Always = "always",
    }
}

xml_enum! {
    /// How virtiofsd confines itself to the shared directory.
    pub enum FsSandboxMode {
        Namespace = "namespace",
        Chroot = "chroot",
    }
}

/// `<driver>` of a filesystem.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FsDriver {
    #[serde(rename = "type")]
    pub driver_type: Option<FsDriverType>,
    pub format: Option<DiskFormat>,
    pub wrpolicy: Option<FsWrPolicy>,
    /// virtiofs: the request queue's size.
    pub queue: Option<u32>,
    #[serde(default, skip_serializing_if = "VirtioOptions::is_empty")]
    pub virtio: VirtioOptions,
}

/// `<binary>`: the virtiofsd that serves a virtiofs filesystem.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FsBinary {
    pub path: Option<String>,
    /// Extended attributes passed through.
    pub xattr: Option<bool>,
    pub cache: Option<FsCacheMode>,
    pub sandbox: Option<FsSandboxMode>,
    /// POSIX (fcntl) locks.
    pub lock_posix: Option<bool>,
    /// flock locks.
    pub lock_flock: Option<bool>,
    /// Worker threads (`thread_pool size`).
    pub thread_pool: Option<i64>,
}

/// What a filesystem shares: a host directory, or the socket of a
/// virtiofsd started by someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FsSource {
    Dir(String),
    Socket(String),
}

/// A `<filesystem type='mount'>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Filesystem {
    pub accessmode: Option<AccessMode>,
    pub model: Option<VirtioModel>,
    pub multidevs: Option<Multidevs>,
    /// 9p mapped: the mode of files the guest creates (`0644`).
    pub fmode: Option<u32>,
    /// 9p mapped: the mode of directories the guest creates.
    pub dmode: Option<u32>,
    pub driver: Option<FsDriver>,
    pub binary: Option<FsBinary>,
    pub source: FsSource,
    /// Where the guest sees it (a mount tag for VMs, a path in a container).
    pub target: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    pub boot: Option<DeviceBoot>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

/// `createMode`: octal, up to four digits.
fn parse_mode(s: &str) -> std::result::Result<u32, String> {
    let ok = !s.is_empty() && s.len() <= 4 && s.bytes().all(|c| (b'0'..=b'7').contains(&c));
    let v = if ok { u32::from_str_radix(s, 8).ok() } else { None };
    v.filter(|v| *v <= 0o777).ok_or_else(|| format!("'{}' is not a file mode (like 0644)", crate::xml::truncate(s)))
}

impl Filesystem {
    /// Host directory `source` at `target`.
    pub fn mount(source: impl Into<String>, target: impl Into<String>) -> Self {
        Filesystem {
            accessmode: None,
            model: None,
            multidevs: None,
            fmode: None,
            dmode: None,
            driver: None,
            binary: None,
            source: FsSource::Dir(source.into()),
            target: target.into(),
            readonly: false,
            boot: None,
            alias: None,
            address: None,
        }
    }

    /// The host directory shared, if it is one.
    pub fn dir(&self) -> Option<&str> {
        match &self.source {
            FsSource::Dir(d) => Some(d),
            FsSource::Socket(_) => None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Filesystem> {
        if let Some(kind) = el.raw_attr("type").filter(|k| *k != "mount") {
            let known = ["file", "block", "template", "ram", "bind", "volume"];
            let msg = if known.contains(&kind) {
                format!("filesystem type '{kind}' is not supported; supported: mount")
            } else {
                format!("'{}' is not one of mount", crate::xml::truncate(kind))
            };
            return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
        }
        Ok(Filesystem {
            accessmode: el.attr("accessmode")?,
            model: el.attr("model")?,
            multidevs: el.attr("multidevs")?,
            fmode: el.attr_with("fmode", parse_mode)?,
            dmode: el.attr_with("dmode", parse_mode)?,
            driver: el.child("driver", |d| {
                Ok(FsDriver {
                    driver_type: d.attr("type")?,
                    format: d.attr("format")?,
                    wrpolicy: d.attr("wrpolicy")?,
                    queue: d.attr("queue")?,
                    virtio: VirtioOptions::read(d)?,
                })
            })?,
            binary: el.child("binary", read_binary)?,
            source: el.req_child("source", |s| match (s.attr::<String>("dir")?, s.attr::<String>("socket")?) {
                (Some(d), None) => Ok(FsSource::Dir(d)),
                (None, Some(p)) => Ok(FsSource::Socket(p)),
                (Some(_), Some(_)) => Err(
                    s.attr_error("socket", crate::ErrorKind::Invalid("a source is a dir or a socket, not both".into()))
                ),
                (None, None) => Err(s.missing_attr("dir")),
            })?,
            target: el.req_child("target", |t| t.req_attr("dir"))?,
            readonly: el.flag("readonly")?,
            boot: read_boot(el)?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("filesystem");
        w.attr("type", "mount");
        w.attr_opt("accessmode", self.accessmode.as_ref());
        w.attr_opt("model", self.model.as_ref());
        w.attr_opt("multidevs", self.multidevs.as_ref());
        for (name, m) in [("fmode", self.fmode), ("dmode", self.dmode)] {
            if let Some(m) = m {
                w.attr(name, &format!("{m:04o}"));
            }
        }
        if let Some(d) = &self.driver {
            w.start("driver");
            w.attr_opt("type", d.driver_type.as_ref());
            w.attr_opt("format", d.format.as_ref());
            w.attr_opt("queue", d.queue.as_ref());
            w.attr_opt("wrpolicy", d.wrpolicy.as_ref());
            d.virtio.write(w);
            w.end();
        }
        if let Some(b) = &self.binary {
            write_binary(w, b);
        }
        w.start("source");
        match &self.source {
            FsSource::Dir(d) => w.attr("dir", d),
            FsSource::Socket(s) => w.attr("socket", s),
        }
        w.end();
        w.start("target");
        w.attr("dir", &self.target);
        w.end();
        w.flag("readonly", self.readonly);
        write_boot(w, self.boot.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

fn read_binary(b: &El<'_, '_>) -> Result<FsBinary> {
    let lock = b.child("lock", |l| Ok((l.on_off("posix")?, l.on_off("flock")?)))?;
    Ok(FsBinary {
        path: b.attr("path")?,
        xattr: b.on_off("xattr")?,
        cache: b.child("cache", |c| c.attr("mode"))?.flatten(),
        sandbox: b.child("sandbox", |c| c.attr("mode"))?.flatten(),
        lock_posix: lock.and_then(|l| l.0),
        lock_flock: lock.and_then(|l| l.1),
        thread_pool: b.child("thread_pool", |t| t.attr("size"))?.flatten(),
    })
}

fn write_binary(w: &mut XmlWriter, b: &FsBinary) {
    w.start("binary");
    w.attr_opt("path", b.path.as_ref());
    w.on_off("xattr", b.xattr);
    if let Some(c) = &b.cache {
        w.start("cache");
        w.attr("mode", c.as_str());
        w.end();
    }
    if let Some(s) = &b.sandbox {
        w.start("sandbox");
        w.attr("mode", s.as_str());
        w.end();
    }
    if b.lock_posix.is_some() || b.lock_flock.is_some() {
        w.start("lock");
        w.on_off("posix", b.lock_posix);
        w.on_off("flock", b.lock_flock);
        w.end();
    }
    if let Some(t) = &b.thread_pool {
        w.start("thread_pool");
        w.attr_val("size", t);
        w.end();
    }
    w.end();
}
