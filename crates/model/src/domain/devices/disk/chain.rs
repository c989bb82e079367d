//! A disk's backing chain (`<backingStore>`, nested) and a block job's
//! destination (`<mirror>`).

use serde::{Deserialize, Serialize};

use super::DiskFormat;
use super::source::{DiskSource, DiskType};
use crate::ByteSize;
use crate::domain::read_size;
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// The block job a mirror belongs to.
    pub enum MirrorJob {
        Copy = "copy",
        ActiveCommit = "active-commit",
    }
}

xml_enum! {
    /// How far the job is: in sync (`yes`), or being aborted or pivoted.
    pub enum MirrorReady {
        Yes = "yes",
        Abort = "abort",
        Pivot = "pivot",
    }
}

/// `<metadata_cache>`: how much of a qcow2 image's metadata QEMU caches.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MetadataCache {
    pub max_size: Option<ByteSize>,
}

impl MetadataCache {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<MetadataCache> {
        Ok(MetadataCache { max_size: el.child("max_size", |m| read_size(m, "bytes"))? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("metadata_cache");
        if let Some(s) = self.max_size {
            // libvirt writes this one in bytes, always.
            w.start("max_size");
            w.attr("unit", "bytes");
            w.text(&s.as_bytes().to_string());
            w.end();
        }
        w.end();
    }
}

/// `<format>` of a backing layer or a mirror.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ImageFormat {
    #[serde(rename = "type")]
    pub format: DiskFormat,
    pub metadata_cache: Option<MetadataCache>,
}

impl ImageFormat {
    pub fn new(format: DiskFormat) -> Self {
        ImageFormat { format, metadata_cache: None }
    }

    fn read(el: &El<'_, '_>) -> Result<ImageFormat> {
        Ok(ImageFormat {
            format: el.req_attr("type")?,
            metadata_cache: el.child("metadata_cache", MetadataCache::read)?,
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("format");
        w.attr("type", self.format.as_str());
        if let Some(m) = &self.metadata_cache {
            m.write(w);
        }
        w.end();
    }
}

/// `<backingStore>`: what a layer reads that it has not written itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiskBackingStore {
    /// `<backingStore/>`: the chain ends here.
    End,
    Layer(Box<BackingLayer>),
}

/// One layer of a backing chain.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackingLayer {
    /// The layer's place in the chain (`<backingStore index=…>`).
    pub index: Option<u32>,
    pub format: ImageFormat,
    pub source: DiskSource,
    pub backing_store: Option<DiskBackingStore>,
}

impl BackingLayer {
    pub fn new(source: DiskSource, format: DiskFormat) -> Self {
        BackingLayer { index: None, format: ImageFormat::new(format), source, backing_store: None }
    }

    pub fn with_backing_store(mut self, b: DiskBackingStore) -> Self {
        self.backing_store = Some(b);
        self
    }
}

impl DiskBackingStore {
    /// The layers, outermost first.
    pub fn layers(&self) -> impl Iterator<Item = &BackingLayer> {
        let mut next = Some(self);
        std::iter::from_fn(move || match next.take()? {
            DiskBackingStore::End => None,
            DiskBackingStore::Layer(l) => {
                next = l.backing_store.as_ref();
                Some(&**l)
            }
        })
    }

    /// Whether the chain is said to end with `<backingStore/>`.
    pub fn ends(&self) -> bool {
        match self {
            DiskBackingStore::End => true,
            DiskBackingStore::Layer(l) => l.backing_store.as_ref().is_some_and(DiskBackingStore::ends),
        }
    }
}

/// Reads the `<backingStore>` child of `el`, if any.
pub(crate) fn read_backing(el: &El<'_, '_>) -> Result<Option<DiskBackingStore>> {
    el.child("backingStore", |b| {
        if b.is_bare() {
            return Ok(DiskBackingStore::End);
        }
        let ty = b.attr("type")?.unwrap_or(DiskType::File);
        Ok(DiskBackingStore::Layer(Box::new(BackingLayer {
            index: b.attr("index")?,
            format: b.req_child("format", ImageFormat::read)?,
            source: DiskSource::read(b, ty)?,
            backing_store: read_backing(b)?,
        })))
    })
}

pub(crate) fn write_backing(w: &mut XmlWriter, b: Option<&DiskBackingStore>) {
    match b {
        None => {}
        Some(DiskBackingStore::End) => {
            w.start("backingStore");
            w.end();
        }
        Some(DiskBackingStore::Layer(l)) => {
            w.start("backingStore");
            w.attr("type", l.source.disk_type().as_str());
            w.attr_opt("index", l.index.as_ref());
            l.format.write(w);
            l.source.write(w);
            write_backing(w, l.backing_store.as_ref());
            w.end();
        }
    }
}

/// `<mirror>`: the destination of a running block copy or active commit.
/// Runtime state of a block job, written back as libvirt reports it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Mirror {
    pub job: Option<MirrorJob>,
    pub ready: Option<MirrorReady>,
    /// The older form's `file=`, which libvirt still writes for a file copy.
    pub file: Option<String>,
    /// The older form's `format=`.
    pub file_format: Option<DiskFormat>,
    pub source: DiskSource,
    pub format: Option<ImageFormat>,
    pub backing_store: Option<DiskBackingStore>,
}

impl Mirror {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Mirror> {
        let ty = el.attr("type")?.unwrap_or(DiskType::File);
        Ok(Mirror {
            job: el.attr("job")?,
            ready: el.attr("ready")?,
            file: el.attr("file")?,
            file_format: el.attr("format")?,
            source: DiskSource::read(el, ty)?,
            format: el.child("format", ImageFormat::read)?,
            backing_store: read_backing(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("mirror");
        w.attr("type", self.source.disk_type().as_str());
        w.attr_opt("file", self.file.as_ref());
        w.attr_opt("format", self.file_format.as_ref());
        w.attr_opt("job", self.job.as_ref());
        w.attr_opt("ready", self.ready.as_ref());
        if let Some(f) = &self.format {
            f.write(w);
        }
        self.source.write(w);
        write_backing(w, self.backing_store.as_ref());
        w.end();
    }
}
