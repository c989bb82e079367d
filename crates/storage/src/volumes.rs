//! Making a `dir` pool's volumes (empty, on a backing store, or copied),
//! resizing and wiping them.

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use virtkit_engine::options::WipeAlgorithm;
use virtkit_engine::storage_driver::{MakeMode, Resize};
use virtkit_engine::{Error, ErrorKind, JobCtl, Result};
use virtkit_model::ByteSize;
use virtkit_model::storage::{Permissions, Pool, Volume, VolumeFormat};

use crate::dir::{DirBackend, VOLUME_MODE, apply_permissions, dir_of, file_of, volume_of};
use crate::error::io;
use crate::files::{self, TempFile};
use crate::qcow2;
use crate::qemu_img::{self, ImageInfo};

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

/// A full file system, said of the volume (its temporary file is gone).
pub(crate) fn does_not_fit(e: Error, name: &str, dir: &Path) -> Error {
    if e.kind() != ErrorKind::NoSpace {
        return e;
    }
    Error::new(
        ErrorKind::NoSpace,
        format!("storage volume '{name}' does not fit in {}: {}", dir.display(), e.message()),
    )
}

/// The most a file can hold (`off_t`).
const MAX_FILE: u64 = i64::MAX as u64;

fn check_capacity(capacity: u64) -> Result<u64> {
    if capacity > MAX_FILE {
        return Err(invalid(format!("{capacity} bytes is more than a file can hold (at most {MAX_FILE})")));
    }
    Ok(capacity)
}

/// `qemu-img create -o` options from a volume's document and `mode`.
fn image_options(vol: &Volume, fmt: &str, capacity: u64, backed: bool, mode: MakeMode) -> Vec<String> {
    let t = &vol.target;
    let mut o = Vec::new();
    if fmt == "qcow2" {
        if let Some(c) = &t.compat {
            o.push(format!("compat={c}"));
        }
        if let Some(c) = t.cluster_size {
            o.push(format!("cluster_size={}", c.as_bytes()));
        }
        if let Some(f) = &t.features {
            if f.lazy_refcounts {
                o.push("lazy_refcounts=on".to_owned());
            }
            if f.extended_l2 {
                o.push("extended_l2=on".to_owned());
            }
        }
    }
    if t.nocow && matches!(fmt, "raw" | "qcow2" | "vdi") {
        o.push("nocow=on".to_owned());
    }
    let alloc = vol.allocation.map(ByteSize::as_bytes);
    let full = !backed && alloc.is_some_and(|a| a >= capacity && capacity > 0);
    if full && matches!(fmt, "qcow2" | "raw" | "vdi" | "qed") {
        o.push("preallocation=falloc".to_owned());
    } else if fmt == "qcow2" && (mode.prealloc_metadata || !backed && alloc.is_some_and(|a| a > 0)) {
        // Asked for on a backing store, qemu-img says if it can.
        o.push("preallocation=metadata".to_owned());
    }
    o
}

/// An empty qcow2 image made here rather than by `qemu-img`.
struct Made {
    bytes: Vec<u8>,
    size: u64,
    backing: (Option<String>, Option<String>),
}

/// The qcow2 image `qemu-img create` would make with `opts`, when this is
/// a case [`qcow2`] makes (an absolute backing path, options it knows).
fn in_process_qcow2(
    fmt: &str,
    capacity: u64,
    opts: &[String],
    backing: Option<&(String, String, u64)>,
) -> Option<Made> {
    if fmt != "qcow2" || backing.is_some_and(|b| !b.0.starts_with('/')) {
        return None;
    }
    let mut spec = qcow2::Spec {
        size: capacity,
        cluster_size: 1 << 16,
        lazy_refcounts: false,
        backing: backing.map(|b| (b.0.as_str(), b.1.as_str())),
    };
    for o in opts {
        match o.split_once('=') {
            Some(("compat", "1.1")) => {}
            Some(("cluster_size", n)) => spec.cluster_size = n.parse().ok()?,
            Some(("lazy_refcounts", "on")) => spec.lazy_refcounts = true,
            _ => return None,
        }
    }
    let bytes = qcow2::image(&spec)?;
    let backing = (backing.map(|b| b.0.clone()), backing.map(|b| b.1.clone()));
    Some(Made { bytes, size: capacity.next_multiple_of(512), backing })
}

impl DirBackend {
    /// A volume's backing store, its format known (given, or read from it).
    async fn backing(&self, vol: &Volume, format: VolumeFormat) -> Result<Option<(String, String, u64)>> {
        let Some(b) = &vol.backing_store else { return Ok(None) };
        if !format.has_backing() {
            return Err(invalid(format!("a {format} volume cannot have a backing store")));
        }
        if !Path::new(&b.path).exists() {
            return Err(Error::new(ErrorKind::NotFound, format!("backing store {} does not exist", b.path)));
        }
        let given = b.format.map(qemu_img::name_of);
        let info = self.qemu_img.info(Path::new(&b.path), given).await?;
        let fmt = given.map_or(info.format.clone(), str::to_owned);
        Ok(Some((b.path.clone(), fmt, info.virtual_size)))
    }

    /// Makes a volume under a temporary name, then gives it its own.
    pub(crate) async fn make(
        &self,
        pool: &Pool,
        vol: &Volume,
        from: Option<&Volume>,
        mode: MakeMode,
        job: &JobCtl,
    ) -> Result<Volume> {
        let dir = dir_of(pool)?;
        let path = file_of(pool, vol)?;
        if path.symlink_metadata().is_ok() {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("{} exists already", path.display())));
        }
        if vol.target.encryption.is_some() {
            return Err(Error::new(ErrorKind::Unsupported, "encrypted volumes are not supported yet"));
        }
        let format = vol.target.format.or(from.and_then(|f| f.target.format)).unwrap_or(VolumeFormat::Raw);
        let fmt = qemu_img::creatable(format)
            .ok_or_else(|| invalid(format!("qemu-img cannot create volumes of format {format}")))?;
        let tmp = TempFile::new(&dir, &vol.name);
        let made = match from {
            Some(src) => self.copy(vol, src, fmt, tmp.path(), mode, job).await,
            None => self.fresh(vol, format, fmt, tmp.path(), mode, job).await,
        };
        let known = made.map_err(|e| does_not_fit(e, &vol.name, &dir))?;
        apply_permissions(tmp.path(), vol.target.permissions.as_ref(), VOLUME_MODE)?;
        job.check()?;
        tmp.commit(&path)?;
        match known {
            // What it is is known (made here, or a copy): its allocation is
            // the file's, as `qemu-img info` reads it (st_blocks), and a raw
            // image is as long as its file.
            Some(mut info) => {
                let meta = std::fs::metadata(&path).map_err(|e| io(format!("cannot read {}", path.display()), e))?;
                info.actual_size = meta.blocks() * 512;
                if info.format == "raw" {
                    info.virtual_size = meta.len();
                }
                Ok(volume_of(&vol.name, &path, &info))
            }
            None => self.look(&path, &vol.name, Some(fmt)).await,
        }
    }

    /// An empty volume (or one on a backing store); what it is when that is
    /// known without asking `qemu-img` (made here).
    async fn fresh(
        &self,
        vol: &Volume,
        format: VolumeFormat,
        fmt: &str,
        tmp: &Path,
        mode: MakeMode,
        job: &JobCtl,
    ) -> Result<Option<ImageInfo>> {
        let backing = self.backing(vol, format).await?;
        let capacity = vol
            .capacity
            .map(ByteSize::as_bytes)
            .or(backing.as_ref().map(|b| b.2))
            .ok_or_else(|| invalid(format!("storage volume '{}' needs a capacity", vol.name)))?;
        let capacity = check_capacity(capacity)?;
        job.set_total(capacity);
        let opts = image_options(vol, fmt, capacity, backing.is_some(), mode);
        let known = if fmt == "raw" && backing.is_none() {
            let f = std::fs::File::create_new(tmp).map_err(|e| io(format!("cannot make {}", tmp.display()), e))?;
            f.set_len(capacity).map_err(|e| io(format!("cannot size {}", tmp.display()), e))?;
            if vol.allocation.is_some_and(|a| a.as_bytes() >= capacity) {
                files::allocate(&f, tmp, capacity)?;
            }
            f.sync_all().map_err(|e| io(format!("cannot write {}", tmp.display()), e))?;
            Some(ImageInfo::new("raw", capacity))
        } else if let Some(img) = in_process_qcow2(fmt, capacity, &opts, backing.as_ref()) {
            let size = img.size;
            files::write_new(tmp, img.bytes).await?;
            let mut info = ImageInfo::new("qcow2", size);
            (info.backing, info.backing_format) = img.backing;
            Some(info)
        } else {
            let mut args: Vec<OsString> = vec!["-f".into(), fmt.into()];
            if !opts.is_empty() {
                args.extend(["-o".into(), opts.join(",").into()]);
            }
            if let Some((path, bfmt, _)) = &backing {
                args.extend(["-b".into(), path.into(), "-F".into(), bfmt.into()]);
            }
            args.extend([tmp.into(), capacity.to_string().into()]);
            self.qemu_img.create(args).await?;
            None
        };
        job.set_done(capacity);
        Ok(known)
    }

    /// A copy of `src` (of this pool or another) in format `fmt`; what it
    /// is when that is known without asking `qemu-img info` (a raw copy,
    /// most qcow2 ones).
    async fn copy(
        &self,
        vol: &Volume,
        src: &Volume,
        fmt: &str,
        tmp: &Path,
        mode: MakeMode,
        job: &JobCtl,
    ) -> Result<Option<ImageInfo>> {
        let src_path = src
            .target
            .path
            .clone()
            .ok_or_else(|| invalid(format!("storage volume '{}' has no path to copy from", src.name)))?;
        let src_fmt = src.target.format.map_or("raw", qemu_img::name_of);
        let src_cap = src.capacity.map_or(0, ByteSize::as_bytes);
        let capacity = check_capacity(vol.capacity.map_or(src_cap, ByteSize::as_bytes))?;
        let mut args: Vec<OsString> = vec!["-f".into(), src_fmt.into(), "-O".into(), fmt.into()];
        let opts = image_options(vol, fmt, capacity, false, mode);
        if !opts.is_empty() {
            args.extend(["-o".into(), opts.join(",").into()]);
        }
        args.extend([src_path.into(), tmp.into()]);
        self.qemu_img.convert(args, job, src_cap).await?;
        let raw = fmt == "raw";
        if capacity > src_cap {
            if raw {
                // What `qemu-img resize` does to a raw file: truncates it longer.
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(tmp)
                    .map_err(|e| io(format!("cannot open {}", tmp.display()), e))?;
                f.set_len(capacity).map_err(|e| io(format!("cannot resize {}", tmp.display()), e))?;
            } else {
                self.qemu_img.resize(tmp, fmt, capacity, false).await?;
            }
        }
        job.set_done(src_cap);
        // What it is, when qemu-img made exactly that: a raw file (its sizes
        // are read off it), or a qcow2 image of the capacity asked, with no
        // backing file (convert writes the source's size rounded up to 512
        // bytes, and a resize made it the capacity).
        let qcow2 =
            fmt == "qcow2" && capacity >= src_cap && src_cap.is_multiple_of(512) && capacity.is_multiple_of(512);
        Ok((raw || qcow2).then(|| ImageInfo::new(fmt, capacity)))
    }

    pub(crate) async fn resize(&self, pool: &Pool, vol: &Volume, to: Resize) -> Result<Volume> {
        let path = file_of(pool, vol)?;
        let fmt = vol.target.format.map_or("raw", qemu_img::name_of);
        let now = vol.capacity.map_or(0, ByteSize::as_bytes);
        check_capacity(to.capacity)?;
        if fmt == "raw" {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io(format!("cannot open {}", path.display()), e))?;
            if to.allocate && to.capacity > now {
                files::allocate(&f, &path, to.capacity)?;
            }
            f.set_len(to.capacity).map_err(|e| io(format!("cannot resize {}", path.display()), e))?;
        } else {
            self.qemu_img.resize(&path, fmt, to.capacity, to.capacity < now).await?;
        }
        self.look(&path, &vol.name, Some(fmt)).await
    }

    /// Overwrites a raw volume's bytes; an image is made again, empty,
    /// with what its document says (with `random`, after its old file's
    /// bytes are overwritten with random ones).
    pub(crate) async fn wipe(&self, pool: &Pool, vol: &Volume, how: WipeAlgorithm, job: &JobCtl) -> Result<()> {
        let path = file_of(pool, vol)?;
        let format = vol.target.format.unwrap_or(VolumeFormat::Raw);
        let len = std::fs::metadata(&path).map_err(|e| io(format!("cannot read {}", path.display()), e))?.len();
        if format == VolumeFormat::Raw {
            return files::overwrite(&path, len, how, job).await;
        }
        let fmt = qemu_img::creatable(format)
            .ok_or_else(|| Error::new(ErrorKind::Unsupported, format!("volumes of format {format} cannot be wiped")))?;
        let old = std::fs::metadata(&path).map_err(|e| io(format!("cannot read {}", path.display()), e))?;
        if how == WipeAlgorithm::Random {
            files::overwrite(&path, len, how, job).await?;
        }
        let tmp = TempFile::new(&dir_of(pool)?, &vol.name);
        self.fresh(vol, format, fmt, tmp.path(), MakeMode::default(), job).await?;
        let same = Permissions::new(old.permissions().mode() & 0o7777, old.uid(), old.gid());
        apply_permissions(tmp.path(), Some(&same), VOLUME_MODE)?;
        job.check()?;
        tmp.commit(&path)
    }
}
