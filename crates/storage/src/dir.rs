//! The `dir` backend: a pool is a directory, its volumes the image files in
//! it (as `qemu-img info` reads them).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use virtkit_engine::options::WipeAlgorithm;
use virtkit_engine::storage_driver::{
    ActivePool, BuildMode, MakeMode, PoolActive, PoolAuth, PoolBackend, PoolScan, Range, Resize,
};
use virtkit_engine::{Error, ErrorKind, JobCtl, ObjRef, Result, Sink, Source};
use virtkit_model::ByteSize;
use virtkit_model::storage::{BackingStore, Permissions, Pool, PoolType, Volume, VolumeType};

use crate::error::io;
use crate::files::{self, TempFile};
use crate::qemu_img::{self, ImageInfo, QemuImg};
use crate::volumes::does_not_fit;

/// A pool directory's mode unless its document gives one (libvirt's).
const POOL_MODE: u32 = 0o711;
/// A volume's mode unless its document gives one.
pub(crate) const VOLUME_MODE: u32 = 0o600;

pub(crate) struct DirBackend {
    pub(crate) qemu_img: QemuImg,
}

impl DirBackend {
    pub(crate) fn new(qemu_img: QemuImg) -> Self {
        DirBackend { qemu_img }
    }

    /// Scans a pool's directory: its file system's space and every image.
    async fn scan(&self, dir: &Path) -> Result<PoolScan> {
        let st = nix::sys::statvfs::statvfs(dir)
            .map_err(|e| io(format!("cannot read the file system of {}", dir.display()), e.into()))?;
        let frsize = st.fragment_size() as u64;
        let capacity = st.blocks() as u64 * frsize;
        let available = st.blocks_available() as u64 * frsize;
        let allocation = (st.blocks() as u64).saturating_sub(st.blocks_free() as u64) * frsize;
        let mut names = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| io(format!("cannot list {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(format!("cannot list {}", dir.display()), e))?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if files::is_temp(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            names.push(name);
        }
        names.sort();
        let mut volumes = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            match self.qemu_img.info(&path, None).await {
                Ok(info) => volumes.push(volume_of(&name, &path, &info)),
                // Gone since it was listed, or unreadable: not a volume now.
                Err(e) => tracing::warn!("skipping {}: {e}", path.display()),
            }
        }
        Ok(PoolScan::new(capacity, allocation, available, volumes))
    }

    /// Takes a pool's directory into use: what a killed engine was making
    /// there is not a volume and is removed; then it is scanned.
    pub(crate) async fn open(&self, dir: &Path) -> Result<PoolScan> {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_str().is_some_and(files::is_temp) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        self.scan(dir).await
    }

    /// A volume as its file is now.
    pub(crate) async fn look(&self, path: &Path, name: &str, format: Option<&str>) -> Result<Volume> {
        let info = self.qemu_img.info(path, format).await?;
        Ok(volume_of(name, path, &info))
    }
}

/// The directory of a pool.
pub(crate) fn dir_of(pool: &Pool) -> Result<PathBuf> {
    pool.target_path().map(PathBuf::from).ok_or_else(|| {
        Error::new(ErrorKind::InvalidArgument, format!("storage pool '{}' has no target path", pool.name))
    })
}

/// The file of a volume in its pool: always named by the pool, never by a
/// path stored with the volume.
pub(crate) fn file_of(pool: &Pool, vol: &Volume) -> Result<PathBuf> {
    Ok(dir_of(pool)?.join(&vol.name))
}

pub(crate) fn volume_of(name: &str, path: &Path, info: &ImageInfo) -> Volume {
    let p = path.to_string_lossy().into_owned();
    let mut v = Volume::new(name)
        .with_capacity(ByteSize::bytes(info.virtual_size))
        .with_allocation(ByteSize::bytes(info.actual_size))
        .with_format(qemu_img::format_of(&info.format))
        .with_path(p.clone());
    v.key = Some(p);
    v.volume_type = Some(VolumeType::File);
    if let Some(b) = &info.backing {
        let mut bs = BackingStore::new(b.clone());
        if let Some(f) = &info.backing_format {
            bs = bs.with_format(qemu_img::format_of(f));
        }
        v.backing_store = Some(bs);
    }
    v
}

/// Gives `path` the mode, owner and group of `perm` (`mode` unless it says).
pub(crate) fn apply_permissions(path: &Path, perm: Option<&Permissions>, mode: u32) -> Result<()> {
    let mode = perm.and_then(|p| p.mode).unwrap_or(mode);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io(format!("cannot set the mode of {}", path.display()), e))?;
    let owner = perm.and_then(|p| p.owner).map(nix::unistd::Uid::from_raw);
    let group = perm.and_then(|p| p.group).map(nix::unistd::Gid::from_raw);
    if owner.is_some() || group.is_some() {
        nix::unistd::chown(path, owner, group)
            .map_err(|e| io(format!("cannot set the owner of {}", path.display()), e.into()))?;
    }
    Ok(())
}

/// Makes a pool's directory (and those above it) with the owner, group
/// and mode of its document.
pub(crate) fn make_dir(def: &Pool) -> Result<()> {
    let dir = dir_of(def)?;
    std::fs::create_dir_all(&dir).map_err(|e| io(format!("cannot make {}", dir.display()), e))?;
    apply_permissions(&dir, def.target.as_ref().and_then(|t| t.permissions.as_ref()), POOL_MODE)
}

pub(crate) fn missing_dir(dir: &Path) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("the pool's directory {} does not exist: build the pool first", dir.display()),
    )
}

#[async_trait]
impl PoolBackend for DirBackend {
    fn pool_type(&self) -> PoolType {
        PoolType::Dir
    }

    async fn build(&self, _pool: &ObjRef, def: &Pool, mode: BuildMode) -> Result<()> {
        let dir = dir_of(def)?;
        if dir.exists() && mode.no_overwrite {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("{} exists already", dir.display())));
        }
        make_dir(def)
    }

    async fn start(&self, _pool: &ObjRef, def: Arc<Pool>, _auth: Option<&PoolAuth>) -> Result<PoolActive> {
        let dir = dir_of(&def)?;
        if !dir.is_dir() {
            return Err(missing_dir(&dir));
        }
        let scan = self.open(&dir).await?;
        Ok(PoolActive::new(def, scan))
    }

    async fn stop(&self, _active: ActivePool<'_>) -> Result<()> {
        Ok(())
    }

    async fn delete(&self, _pool: &ObjRef, def: &Pool) -> Result<()> {
        let dir = dir_of(def)?;
        match std::fs::remove_dir(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Err(Error::new(
                ErrorKind::InvalidState,
                format!("{} is not empty: delete its volumes first", dir.display()),
            )),
            Err(e) => Err(io(format!("cannot remove {}", dir.display()), e).into()),
        }
    }

    async fn refresh(&self, a: ActivePool<'_>) -> Result<PoolScan> {
        let dir = dir_of(a.live)?;
        if !dir.is_dir() {
            return Err(missing_dir(&dir));
        }
        self.scan(&dir).await
    }

    async fn create_volume(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        from: Option<&Volume>,
        mode: MakeMode,
        job: &JobCtl,
    ) -> Result<Volume> {
        self.make(a.live, vol, from, mode, job).await
    }

    async fn delete_volume(&self, a: ActivePool<'_>, vol: &Volume) -> Result<()> {
        let path = file_of(a.live, vol)?;
        std::fs::remove_file(&path).map_err(|e| io(format!("cannot remove {}", path.display()), e).into())
    }

    async fn resize_volume(&self, a: ActivePool<'_>, vol: &Volume, to: Resize) -> Result<Volume> {
        self.resize(a.live, vol, to).await
    }

    async fn wipe_volume(&self, a: ActivePool<'_>, vol: &Volume, how: WipeAlgorithm, job: &JobCtl) -> Result<()> {
        self.wipe(a.live, vol, how, job).await
    }

    async fn upload(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        data: &mut Source,
        job: &JobCtl,
    ) -> Result<Volume> {
        let path = file_of(a.live, vol)?;
        let tmp = TempFile::new(&dir_of(a.live)?, &vol.name);
        let old = std::fs::metadata(&path).map_err(|e| io(format!("cannot read {}", path.display()), e))?;
        if range.offset == 0 && range.length == 0 {
            std::fs::File::create_new(tmp.path())
                .map_err(|e| io(format!("cannot make {}", tmp.path().display()), e))?;
        } else {
            std::fs::copy(&path, tmp.path()).map_err(|e| io(format!("cannot copy {}", path.display()), e))?;
        }
        let limit = (range.length > 0).then(|| range.offset + range.length);
        let end = files::receive(tmp.path(), range.offset, limit, data, job)
            .await
            .map_err(|e| does_not_fit(e, &vol.name, &dir_of(a.live).unwrap_or_default()))?;
        if end < old.len() {
            // As writing into the file would leave it: as long as it was.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(tmp.path())
                .map_err(|e| io(format!("cannot open {}", tmp.path().display()), e))?;
            f.set_len(old.len()).map_err(|e| io(format!("cannot extend {}", tmp.path().display()), e))?;
        }
        // The new file is the old one's: its mode and owners too.
        let same = Permissions::new(old.permissions().mode() & 0o7777, old.uid(), old.gid());
        apply_permissions(tmp.path(), Some(&same), VOLUME_MODE)?;
        job.check()?;
        // The old file, held open across the rename, is freed off this
        // path: dropping a large file's blocks takes a while (200 ms for
        // 1 GiB on ext4 here) and the new one is in place already.
        let replaced = std::fs::File::open(&path).ok();
        tmp.commit(&path)?;
        tokio::task::spawn_blocking(move || drop(replaced));
        let format = vol.target.format.map(qemu_img::name_of);
        self.look(&path, &vol.name, format).await
    }

    async fn download(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        out: &mut Sink,
        job: &JobCtl,
    ) -> Result<u64> {
        let path = file_of(a.live, vol)?;
        let len = std::fs::metadata(&path).map_err(|e| io(format!("cannot read {}", path.display()), e))?.len();
        let end = if range.length > 0 { (range.offset + range.length).min(len) } else { len };
        files::send(&path, range.offset, end, out, job).await
    }
}
