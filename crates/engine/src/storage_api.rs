//! The engine's calls that only pools and volumes have: build, delete and
//! refresh a pool; make, clone, delete, resize, wipe, upload to and
//! download from a volume. Define, start, stop, list, lookup and the rest
//! are the calls every kind shares (`objects.rs`).

use uuid::Uuid;
use virtkit_model::storage::{PoolType, Volume};

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{
    BuildOptions, DeleteOptions, RefreshOptions, ResizeOptions, TransferOptions, VolumeCreateOptions, WipeOptions,
};
use crate::storage_driver::{BuildMode, MakeMode, Range, Resize};
use crate::transfer::{Sink, Source};
use crate::types::{ObjectKind, PoolInfo, VolumeInfo};
use crate::volume::VolumeKind;

impl Engine {
    /// Makes an inactive pool's underlying storage (`pool-build`).
    pub async fn build_pool(&self, pool: Uuid, opts: BuildOptions) -> Result<PoolInfo> {
        let mode = BuildMode::from(opts);
        self.run(move |i| async move { i.build_pool(pool, mode).await }).await
    }

    /// Removes an inactive pool's underlying storage (`pool-delete`).
    pub async fn delete_pool(&self, pool: Uuid, _opts: DeleteOptions) -> Result<PoolInfo> {
        self.run(move |i| async move { i.delete_pool(pool).await }).await
    }

    /// Looks at an active pool's space and volumes again.
    pub async fn refresh_pool(&self, pool: Uuid, _opts: RefreshOptions) -> Result<PoolInfo> {
        self.run(move |i| async move { i.refresh_pool(pool).await }).await
    }

    /// The pool types this host can run.
    pub fn pool_types(&self) -> Vec<PoolType> {
        self.inner.drivers.storage.as_ref().map(|d| d.pool_types()).unwrap_or_default()
    }

    /// Makes a volume in an active pool (with `from`: a copy of that
    /// volume, `vol-create-from` / `vol-clone`).
    pub async fn create_volume(&self, pool: Uuid, def: Volume, opts: VolumeCreateOptions) -> Result<VolumeInfo> {
        let mode = MakeMode::new(opts.prealloc_metadata);
        self.run(move |i| async move { i.create_volume(pool, def, opts.from, mode).await }).await
    }

    /// A copy of `source` named `name`, in the same pool (`vol-clone`).
    pub async fn clone_volume(&self, source: Uuid, name: &str, opts: VolumeCreateOptions) -> Result<VolumeInfo> {
        let (pool, mut def) = {
            let reg = self.inner.lock();
            let r = reg.volumes.get(&source)?;
            let def = r.config.as_deref().cloned().ok_or_else(|| Error::new(ErrorKind::Internal, "no definition"))?;
            (r.parent, def)
        };
        def.name = name.to_owned();
        def.key = None;
        def.target.path = None;
        let from = opts.from.unwrap_or(source);
        self.create_volume(pool, def, opts.from(from)).await
    }

    pub async fn delete_volume(&self, vol: Uuid, _opts: DeleteOptions) -> Result<VolumeInfo> {
        self.run(move |i| async move { i.delete_volume(vol).await }).await
    }

    /// Changes a volume's capacity to `capacity` bytes (with `delta`: by).
    pub async fn resize_volume(&self, vol: Uuid, capacity: u64, opts: ResizeOptions) -> Result<VolumeInfo> {
        let to = if opts.delta {
            let now = self.inner.find_volume(&vol.to_string())?.capacity;
            now.checked_add(capacity)
                .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "the new capacity is too large"))?
        } else {
            capacity
        };
        let resize = Resize { capacity: to, allocate: opts.allocate };
        self.run(move |i| async move { i.resize_volume(vol, resize, opts.shrink).await }).await
    }

    pub async fn wipe_volume(&self, vol: Uuid, opts: WipeOptions) -> Result<VolumeInfo> {
        self.run(move |i| async move { i.wipe_volume(vol, opts.algorithm).await }).await
    }

    /// Writes what `data` brings into the volume, from `opts.offset`. The
    /// upload is a job: its progress shows in the volume's info. A piece
    /// that is an error ends it, the volume left as it was.
    pub async fn upload_volume(&self, vol: Uuid, opts: TransferOptions, data: Source) -> Result<VolumeInfo> {
        let range = Range::new(opts.offset, opts.length);
        self.run(move |i| async move { i.upload_volume(vol, range, data).await }).await
    }

    /// Sends the volume's bytes to `out`; returns how many.
    pub async fn download_volume(&self, vol: Uuid, opts: TransferOptions, out: Sink) -> Result<u64> {
        let range = Range::new(opts.offset, opts.length);
        self.run(move |i| async move { i.download_volume(vol, range, out).await }).await
    }

    /// A volume of `pool` by name, or by UUID, key or path.
    pub fn lookup_volume(&self, pool: Uuid, key: &str) -> Result<VolumeInfo> {
        if let Ok(v) = self.inner.lookup::<VolumeKind>(pool, key) {
            return Ok(v);
        }
        match self.inner.find_volume(key) {
            Ok(v) if v.pool_uuid == pool => Ok(v),
            _ => Err(Error::not_found_of(ObjectKind::Volume, key)),
        }
    }
}
