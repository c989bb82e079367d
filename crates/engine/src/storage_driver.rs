//! The seam between the engine and a host's storage: a storage driver has
//! one backend per pool type (a directory, a filesystem on a device, an
//! iSCSI target …) and a backend makes pools and their volumes real. The
//! engine owns the records, names, states, persistence, jobs and events of
//! pools and volumes; it calls a backend one job at a time per object. A
//! driver never parses XML.

use std::sync::Arc;

use async_trait::async_trait;
use virtkit_model::storage::{AuthType, Pool, PoolType, Volume};

use crate::error::{Error, ErrorKind, Result};
use crate::jobs::JobCtl;
use crate::kind::ObjRef;
use crate::options::{BuildOptions, WipeAlgorithm};
use crate::seams::SecretBytes;
use crate::transfer::{Sink, Source};

/// What a backend sees of a pool's space and volumes, as they are now.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PoolScan {
    /// Bytes in all.
    pub capacity: u64,
    /// Bytes used.
    pub allocation: u64,
    /// Bytes free for new volumes.
    pub available: u64,
    /// Every volume found, each with its name, key, path and sizes.
    pub volumes: Vec<Volume>,
}

impl PoolScan {
    pub fn new(capacity: u64, allocation: u64, available: u64, volumes: Vec<Volume>) -> Self {
        PoolScan { capacity, allocation, available, volumes }
    }
}

/// A pool as its backend started it: the live definition (with what was
/// decided at start), the backend's runtime data (stored by the engine and
/// handed back after a restart) and what is in it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolActive {
    pub live: Arc<Pool>,
    pub data: serde_json::Value,
    pub scan: PoolScan,
}

impl PoolActive {
    pub fn new(live: Arc<Pool>, scan: PoolScan) -> Self {
        PoolActive { live, data: serde_json::Value::Null, scan }
    }

    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// An active pool, as the backend gets it back.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ActivePool<'a> {
    pub pool: &'a ObjRef,
    pub live: &'a Pool,
    pub data: &'a serde_json::Value,
    /// The login its document asks for, with the secret's value.
    pub auth: Option<&'a PoolAuth>,
}

impl<'a> ActivePool<'a> {
    pub fn new(pool: &'a ObjRef, live: &'a Pool, data: &'a serde_json::Value, auth: Option<&'a PoolAuth>) -> Self {
        ActivePool { pool, live, data, auth }
    }
}

/// A pool's login (`<source><auth>`): its type and user name, and the
/// value of the secret object the document names, as the engine's secrets
/// hold it. A backend keeps it in memory only; its `Debug` shows no value.
#[derive(Clone)]
#[non_exhaustive]
pub struct PoolAuth {
    pub auth_type: AuthType,
    pub username: String,
    pub secret: SecretBytes,
}

impl PoolAuth {
    pub fn new(auth_type: AuthType, username: impl Into<String>, secret: SecretBytes) -> Self {
        PoolAuth { auth_type, username: username.into(), secret }
    }
}

impl std::fmt::Debug for PoolAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolAuth")
            .field("auth_type", &self.auth_type)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How a pool is built (`pool-build`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildMode {
    /// Write over whatever is there (a filesystem, a label).
    pub overwrite: bool,
    /// Refuse if something is there already.
    pub no_overwrite: bool,
}

impl From<BuildOptions> for BuildMode {
    fn from(o: BuildOptions) -> Self {
        BuildMode { overwrite: o.overwrite, no_overwrite: o.no_overwrite }
    }
}

/// How a volume is made (`vol-create` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MakeMode {
    /// Preallocate a qcow2 image's metadata (the engine has checked the
    /// format is qcow2).
    pub prealloc_metadata: bool,
}

impl MakeMode {
    pub fn new(prealloc_metadata: bool) -> Self {
        MakeMode { prealloc_metadata }
    }
}

/// How a volume changes size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resize {
    /// The new capacity, bytes.
    pub capacity: u64,
    /// Allocate the new space now (not sparse).
    pub allocate: bool,
}

/// A byte range of a volume for upload and download; `length` 0 means to
/// the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Range {
    pub offset: u64,
    pub length: u64,
}

impl Range {
    pub fn new(offset: u64, length: u64) -> Self {
        Range { offset, length }
    }
}

fn unsupported(pool_type: PoolType, what: &str) -> Error {
    Error::new(ErrorKind::Unsupported, format!("{pool_type} pools cannot {what}"))
}

/// The storage of one pool type. Every call that writes data reports its
/// progress on `job` and stops (with `Cancelled`) when it is cancelled.
#[async_trait]
pub trait PoolBackend: Send + Sync + 'static {
    fn pool_type(&self) -> PoolType;

    /// Checks a definition and fills in what the backend decides (a
    /// default target path), before it is stored or started.
    fn prepare(&self, def: &mut Pool) -> Result<()> {
        let _ = def;
        Ok(())
    }

    /// Makes the pool's underlying storage (a directory, a filesystem).
    async fn build(&self, pool: &ObjRef, def: &Pool, mode: BuildMode) -> Result<()> {
        let _ = (pool, def, mode);
        Err(unsupported(self.pool_type(), "be built"))
    }

    /// Makes the pool usable and finds its volumes (logging in with
    /// `auth` where the document asks for a login). On failure nothing of
    /// it is left behind.
    async fn start(&self, pool: &ObjRef, def: Arc<Pool>, auth: Option<&PoolAuth>) -> Result<PoolActive>;

    /// Takes a pool a previous engine started over (by default: starts it
    /// again, which a backend whose start is idempotent can keep).
    async fn reconnect(
        &self,
        pool: &ObjRef,
        live: Arc<Pool>,
        data: serde_json::Value,
        auth: Option<&PoolAuth>,
    ) -> Result<PoolActive> {
        let _ = data;
        self.start(pool, live, auth).await
    }

    /// Makes the pool unusable; its data stays.
    async fn stop(&self, active: ActivePool<'_>) -> Result<()>;

    /// Removes the pool's underlying storage (the pool is inactive).
    async fn delete(&self, pool: &ObjRef, def: &Pool) -> Result<()> {
        let _ = (pool, def);
        Err(unsupported(self.pool_type(), "be deleted"))
    }

    /// Looks at the pool again: its space and every volume.
    async fn refresh(&self, active: ActivePool<'_>) -> Result<PoolScan>;

    /// Makes a volume (empty, or with `from`'s content) as `mode` says and
    /// returns it as made: key, path, format and sizes filled in. On
    /// failure nothing of it is left.
    async fn create_volume(
        &self,
        active: ActivePool<'_>,
        vol: &Volume,
        from: Option<&Volume>,
        mode: MakeMode,
        job: &JobCtl,
    ) -> Result<Volume>;

    async fn delete_volume(&self, active: ActivePool<'_>, vol: &Volume) -> Result<()>;

    /// Changes a volume's capacity; returns it as it is now.
    async fn resize_volume(&self, active: ActivePool<'_>, vol: &Volume, to: Resize) -> Result<Volume> {
        let _ = (active, vol, to);
        Err(unsupported(self.pool_type(), "resize volumes"))
    }

    /// Writes over a volume's data (zeros, or random bytes).
    async fn wipe_volume(
        &self,
        active: ActivePool<'_>,
        vol: &Volume,
        algorithm: WipeAlgorithm,
        job: &JobCtl,
    ) -> Result<()> {
        let _ = (active, vol, algorithm, job);
        Err(unsupported(self.pool_type(), "wipe volumes"))
    }

    /// Writes what `data` brings into the volume from `range.offset` (at
    /// most `range.length` bytes when that is set); an error piece ends it
    /// with the volume as it was. Returns the volume as it is after.
    async fn upload(
        &self,
        active: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        data: &mut Source,
        job: &JobCtl,
    ) -> Result<Volume> {
        let _ = (active, vol, range, data, job);
        Err(unsupported(self.pool_type(), "take uploads"))
    }

    /// Sends the volume's bytes in `range` to `out`; returns how many it
    /// sent.
    async fn download(
        &self,
        active: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        out: &mut Sink,
        job: &JobCtl,
    ) -> Result<u64> {
        let _ = (active, vol, range, out, job);
        Err(unsupported(self.pool_type(), "be downloaded from"))
    }
}

/// A host's storage: one backend per pool type it can run.
pub trait StorageDriver: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// The backend for pools of `pool_type`, if this host has one.
    fn backend(&self, pool_type: PoolType) -> Option<Arc<dyn PoolBackend>>;

    /// The pool types this host can run (`pool-capabilities`).
    fn pool_types(&self) -> Vec<PoolType>;
}
