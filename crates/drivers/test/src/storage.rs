//! Simulated storage, as libvirt's test driver has it: every pool type has
//! a backend, each pool's storage is kept in memory (it outlives the pool's
//! stop, as a directory would), its capacity is fixed and its volumes take
//! space from it; a volume's bytes are real (kept sparse, in chunks), so
//! upload, download, clone and wipe move data.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use uuid::Uuid;
use virtkit_engine::options::WipeAlgorithm;
use virtkit_engine::storage_driver::{
    ActivePool, BuildMode, MakeMode, PoolActive, PoolAuth, PoolBackend, PoolScan, Range, Resize, StorageDriver,
};
use virtkit_engine::{Error, ErrorKind, JobCtl, ObjRef, Result, Sink, Source};
use virtkit_model::ByteSize;
use virtkit_model::storage::{Pool, PoolTarget, PoolType, Volume, VolumeFormat, VolumeType};

/// A simulated pool's size unless its document gives one: 100 GiB, as
/// libvirt's test driver has it.
pub const DEFAULT_CAPACITY: u64 = 100 << 30;

/// Volume data is kept in chunks of this many bytes; unwritten ones read as
/// zeros.
const CHUNK: u64 = 64 << 10;

/// The largest simulated volume a random wipe fills (its bytes are kept).
const RANDOM_WIPE_MAX: u64 = 256 << 20;

#[derive(Debug, Clone)]
struct SimVolume {
    def: Volume,
    chunks: BTreeMap<u64, Vec<u8>>,
}

#[derive(Debug, Clone)]
struct SimPool {
    capacity: u64,
    volumes: BTreeMap<String, SimVolume>,
}

impl SimPool {
    fn allocation(&self) -> u64 {
        self.volumes.values().map(|v| allocation(&v.def)).sum()
    }

    fn scan(&self) -> PoolScan {
        let used = self.allocation();
        PoolScan::new(
            self.capacity,
            used,
            self.capacity.saturating_sub(used),
            self.volumes.values().map(|v| v.def.clone()).collect(),
        )
    }
}

fn allocation(v: &Volume) -> u64 {
    v.allocation_or_capacity().map_or(0, ByteSize::as_bytes)
}

fn capacity(v: &Volume) -> u64 {
    v.capacity.map_or(0, ByteSize::as_bytes)
}

/// The simulated storage driver: one backend for every pool type, or for
/// those given.
#[derive(Debug, Clone)]
pub struct TestStorageDriver {
    types: Vec<PoolType>,
    pools: Arc<Mutex<HashMap<Uuid, SimPool>>>,
}

impl Default for TestStorageDriver {
    fn default() -> Self {
        TestStorageDriver::with_types(PoolType::ALL)
    }
}

impl TestStorageDriver {
    /// A driver with backends only for `types` (pools of other types can be
    /// defined, not started).
    pub fn with_types(types: &[PoolType]) -> Self {
        TestStorageDriver { types: types.to_vec(), pools: Arc::default() }
    }
}

impl StorageDriver for TestStorageDriver {
    fn name(&self) -> &'static str {
        "test"
    }

    fn backend(&self, pool_type: PoolType) -> Option<Arc<dyn PoolBackend>> {
        self.types
            .contains(&pool_type)
            .then(|| Arc::new(SimBackend { pool_type, pools: self.pools.clone() }) as Arc<dyn PoolBackend>)
    }

    fn pool_types(&self) -> Vec<PoolType> {
        self.types.clone()
    }
}

struct SimBackend {
    pool_type: PoolType,
    pools: Arc<Mutex<HashMap<Uuid, SimPool>>>,
}

fn gone(what: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("{what} is gone from the simulated host"))
}

impl SimBackend {
    fn pools(&self) -> MutexGuard<'_, HashMap<Uuid, SimPool>> {
        self.pools.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn new_pool(def: &Pool) -> SimPool {
        SimPool { capacity: def.capacity.map_or(DEFAULT_CAPACITY, ByteSize::as_bytes), volumes: BTreeMap::new() }
    }

    /// Runs `f` on a volume of an active pool.
    fn with_volume<T>(&self, a: ActivePool<'_>, name: &str, f: impl FnOnce(&mut SimVolume) -> Result<T>) -> Result<T> {
        let mut pools = self.pools();
        let pool = pools.get_mut(&a.pool.uuid).ok_or_else(|| gone(&a.pool.to_string()))?;
        let vol = pool.volumes.get_mut(name).ok_or_else(|| gone(&format!("storage volume '{name}'")))?;
        f(vol)
    }

    /// Fills in what the simulated host decides for a new volume.
    fn complete(&self, a: ActivePool<'_>, vol: &Volume, from: Option<&Volume>) -> Result<Volume> {
        let mut v = vol.clone();
        if v.capacity.is_none() {
            v.capacity = from.and_then(|f| f.capacity);
        }
        if v.capacity.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("storage volume '{}' needs a capacity", v.name),
            ));
        }
        let dir = a.live.target_path().unwrap_or_else(|| format!("/{}", a.live.name));
        let path = format!("{}/{}", dir.trim_end_matches('/'), v.name);
        v.target.path = Some(path.clone());
        v.key = Some(path);
        v.volume_type.get_or_insert(VolumeType::File);
        if v.target.format.is_none() {
            v.target.format = Some(from.and_then(|f| f.target.format).unwrap_or(VolumeFormat::Raw));
        }
        if v.allocation.is_none() {
            v.allocation = v.capacity;
        }
        Ok(v)
    }
}

/// Copies `src` into a volume's chunks at `at` (chunks written whole or in
/// part).
fn write_at(chunks: &mut BTreeMap<u64, Vec<u8>>, mut at: u64, mut src: &[u8]) {
    while !src.is_empty() {
        let idx = at / CHUNK;
        let off = (at % CHUNK) as usize;
        let n = src.len().min(CHUNK as usize - off);
        let chunk = chunks.entry(idx).or_insert_with(|| vec![0; CHUNK as usize]);
        chunk[off..off + n].copy_from_slice(&src[..n]);
        src = &src[n..];
        at += n as u64;
    }
}

/// Reads `len` bytes at `at` (zeros where nothing was written).
fn read_at(chunks: &BTreeMap<u64, Vec<u8>>, mut at: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    let end = at + len;
    while at < end {
        let idx = at / CHUNK;
        let off = (at % CHUNK) as usize;
        let n = ((end - at) as usize).min(CHUNK as usize - off);
        match chunks.get(&idx) {
            Some(c) => out.extend_from_slice(&c[off..off + n]),
            None => out.resize(out.len() + n, 0),
        }
        at += n as u64;
    }
    out
}

/// Drops what lies past `size` bytes.
fn truncate(chunks: &mut BTreeMap<u64, Vec<u8>>, size: u64) {
    chunks.retain(|idx, _| idx * CHUNK < size);
    if let Some(c) = chunks.get_mut(&(size / CHUNK)) {
        let off = (size % CHUNK) as usize;
        c[off..].fill(0);
    }
}

#[async_trait]
impl PoolBackend for SimBackend {
    fn pool_type(&self) -> PoolType {
        self.pool_type
    }

    fn prepare(&self, def: &mut Pool) -> Result<()> {
        if def.target_path().is_none() && !def.pool_type.is_network() {
            def.target = Some(PoolTarget::new(format!("/{}", def.name)));
        }
        Ok(())
    }

    async fn build(&self, pool: &ObjRef, def: &Pool, mode: BuildMode) -> Result<()> {
        let mut pools = self.pools();
        if pools.contains_key(&pool.uuid) && mode.no_overwrite {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("{pool} is already built")));
        }
        if mode.overwrite || !pools.contains_key(&pool.uuid) {
            pools.insert(pool.uuid, SimBackend::new_pool(def));
        }
        Ok(())
    }

    async fn start(&self, pool: &ObjRef, def: Arc<Pool>, _auth: Option<&PoolAuth>) -> Result<PoolActive> {
        let scan = self.pools().entry(pool.uuid).or_insert_with(|| SimBackend::new_pool(&def)).scan();
        Ok(PoolActive::new(def, scan))
    }

    async fn stop(&self, _active: ActivePool<'_>) -> Result<()> {
        Ok(())
    }

    async fn delete(&self, pool: &ObjRef, _def: &Pool) -> Result<()> {
        let mut pools = self.pools();
        if pools.get(&pool.uuid).is_some_and(|p| !p.volumes.is_empty()) {
            return Err(Error::new(ErrorKind::InvalidState, format!("{pool} still has volumes: delete them first")));
        }
        pools.remove(&pool.uuid);
        Ok(())
    }

    async fn refresh(&self, a: ActivePool<'_>) -> Result<PoolScan> {
        self.pools().get(&a.pool.uuid).map(SimPool::scan).ok_or_else(|| gone(&a.pool.to_string()))
    }

    async fn create_volume(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        from: Option<&Volume>,
        _mode: MakeMode,
        job: &JobCtl,
    ) -> Result<Volume> {
        let v = self.complete(a, vol, from)?;
        let mut chunks = BTreeMap::new();
        if let Some(src) = from {
            // The source may be in another pool.
            let pools = self.pools();
            let data = pools
                .values()
                .flat_map(|p| p.volumes.values())
                .find(|s| s.def.key == src.key)
                .ok_or_else(|| gone(&format!("storage volume '{}'", src.name)))?;
            let cap = capacity(&v);
            job.set_total(capacity(&data.def).min(cap));
            chunks = data.chunks.iter().filter(|(i, _)| *i * CHUNK < cap).map(|(i, c)| (*i, c.clone())).collect();
            truncate(&mut chunks, cap);
            job.set_done(capacity(&data.def).min(cap));
        }
        job.check()?;
        let mut pools = self.pools();
        let pool = pools.get_mut(&a.pool.uuid).ok_or_else(|| gone(&a.pool.to_string()))?;
        let free = pool.capacity.saturating_sub(pool.allocation());
        if allocation(&v) > free {
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!("{} has {free} bytes free, storage volume '{}' needs {}", a.pool, v.name, allocation(&v)),
            ));
        }
        if pool.volumes.contains_key(&v.name) {
            return Err(Error::new(ErrorKind::AlreadyExists, format!("storage volume '{}' already exists", v.name)));
        }
        pool.volumes.insert(v.name.clone(), SimVolume { def: v.clone(), chunks });
        Ok(v)
    }

    async fn delete_volume(&self, a: ActivePool<'_>, vol: &Volume) -> Result<()> {
        let mut pools = self.pools();
        let pool = pools.get_mut(&a.pool.uuid).ok_or_else(|| gone(&a.pool.to_string()))?;
        pool.volumes.remove(&vol.name).map(|_| ()).ok_or_else(|| gone(&format!("storage volume '{}'", vol.name)))
    }

    async fn resize_volume(&self, a: ActivePool<'_>, vol: &Volume, to: Resize) -> Result<Volume> {
        let mut pools = self.pools();
        let pool = pools.get_mut(&a.pool.uuid).ok_or_else(|| gone(&a.pool.to_string()))?;
        let used = pool.allocation();
        let cap = pool.capacity;
        let v = pool.volumes.get_mut(&vol.name).ok_or_else(|| gone(&format!("storage volume '{}'", vol.name)))?;
        let mut new = v.def.clone();
        new.capacity = Some(ByteSize::bytes(to.capacity));
        let grown_alloc = if to.allocate { to.capacity } else { allocation(&v.def).min(to.capacity) };
        new.allocation = Some(ByteSize::bytes(grown_alloc));
        let needed = grown_alloc.saturating_sub(allocation(&v.def));
        if needed > cap.saturating_sub(used) {
            return Err(Error::new(
                ErrorKind::NoSpace,
                format!("{} has {} bytes free, {needed} are needed", a.pool, cap.saturating_sub(used)),
            ));
        }
        truncate(&mut v.chunks, to.capacity);
        v.def = new.clone();
        Ok(new)
    }

    async fn wipe_volume(&self, a: ActivePool<'_>, vol: &Volume, how: WipeAlgorithm, job: &JobCtl) -> Result<()> {
        let cap = capacity(vol);
        if how == WipeAlgorithm::Random && cap > RANDOM_WIPE_MAX {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("the test driver wipes at most {RANDOM_WIPE_MAX} bytes with random ones, not {cap}"),
            ));
        }
        job.set_total(cap);
        self.with_volume(a, &vol.name, |v| {
            job.check()?;
            v.chunks.clear();
            if how == WipeAlgorithm::Random {
                let mut x = (cap ^ 0x9e37_79b9_7f4a_7c15) | 1;
                let bytes: Vec<u8> = (0..cap)
                    .map(|_| {
                        // xorshift64: a simulation's noise, not a secret.
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                write_at(&mut v.chunks, 0, &bytes);
            }
            Ok(())
        })?;
        job.set_done(capacity(vol));
        Ok(())
    }

    async fn upload(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        data: &mut Source,
        job: &JobCtl,
    ) -> Result<Volume> {
        let cap = capacity(vol);
        let limit = if range.length > 0 { range.offset + range.length } else { cap };
        let mut at = range.offset;
        // Written into a copy first: a failed or cancelled upload changes nothing.
        let mut chunks = self.with_volume(a, &vol.name, |v| Ok(v.chunks.clone()))?;
        loop {
            let chunk = tokio::select! {
                c = data.next() => c,
                () = job.cancelled() => {
                    job.check()?;
                    continue;
                }
            };
            let Some(chunk) = chunk else { break };
            let chunk = chunk?;
            let end = at + chunk.len() as u64;
            if end > limit {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("the upload is longer than the {} bytes asked for", limit - range.offset),
                ));
            }
            write_at(&mut chunks, at, &chunk);
            job.add_done(chunk.len() as u64);
            at = end;
        }
        self.with_volume(a, &vol.name, |v| {
            v.chunks = chunks;
            Ok(v.def.clone())
        })
    }

    async fn download(
        &self,
        a: ActivePool<'_>,
        vol: &Volume,
        range: Range,
        out: &mut Sink,
        job: &JobCtl,
    ) -> Result<u64> {
        const SEND: u64 = 256 << 10;
        let end = if range.length > 0 { range.offset + range.length } else { capacity(vol) };
        let mut at = range.offset;
        while at < end {
            job.check()?;
            let n = (end - at).min(SEND);
            let bytes = self.with_volume(a, &vol.name, |v| Ok(read_at(&v.chunks, at, n)))?;
            out.send(bytes).await?;
            job.add_done(n);
            at += n;
        }
        Ok(end - range.offset)
    }
}

/// The `default-pool` of `test:///default`: a directory pool at
/// `/default-pool` (libvirt's default test pool).
pub fn default_pool() -> Pool {
    let uuid = Uuid::from_u128(0xdfe224cb_28fb_8dd0_c4b2_64eb3f0f4566);
    Pool::new(PoolType::Dir, "default-pool").with_uuid(uuid).with_target(PoolTarget::new("/default-pool"))
}
