//! Storage volumes: the kind, and every operation on them through their
//! pool's backend (create, clone, delete, resize, wipe, upload, download).
//! Each runs as a job on the volume, with progress and cancel, and keeps its
//! pool from stopping meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use uuid::Uuid;
use virtkit_model::ByteSize;
use virtkit_model::storage::{Volume, VolumeFormat};

use crate::engine::Inner;
use crate::error::{Error, ErrorKind, Result};
use crate::jobs::JobGuard;
use crate::kind::{Definition, Kind, Record, Table};
use crate::lifecycle::Lifecycle;
use crate::options::WipeAlgorithm;
use crate::registry::Registry;
use crate::storage::{PoolRun, account, allocation_of, volume_uuid};
use crate::storage_driver::{MakeMode, Range, Resize};
use crate::transfer::{Sink, Source};
use crate::types::{EventDetail, EventKind, JobKind, ObjectKind, ObjectState, ResourceState, VolumeInfo};
use crate::volume_use::ensure_unused;

impl Definition for Volume {
    /// Volumes have no UUID of their own: the engine names each by its pool
    /// and name (see [`volume_uuid`]).
    fn uuid(&self) -> Uuid {
        Uuid::nil()
    }
    fn name(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self.name)
    }
    fn to_xml(&self) -> String {
        Volume::to_xml(self)
    }
    fn from_xml(text: &str) -> std::result::Result<Self, virtkit_model::Errors> {
        Volume::from_xml(text)
    }
    fn validate(&self) -> std::result::Result<(), virtkit_model::Errors> {
        Volume::validate(self)
    }
    fn withhold_secrets(&mut self) {
        Volume::withhold_secrets(self);
    }
}

pub(crate) struct VolumeKind;

impl Kind for VolumeKind {
    const OBJECT: ObjectKind = ObjectKind::Volume;
    type Def = Volume;
    type State = ResourceState;
    type Extra = ();

    fn table(reg: &Registry) -> &Table<Self> {
        &reg.volumes
    }
    fn table_mut(reg: &mut Registry) -> &mut Table<Self> {
        &mut reg.volumes
    }
    fn initial() -> ResourceState {
        ResourceState::Active
    }
    fn is_active(s: &ResourceState) -> bool {
        s.is_active()
    }
    fn event_state(s: &ResourceState) -> ObjectState {
        ObjectState::Resource(*s)
    }
    fn parent_name(reg: &Registry, r: &Record<Self>) -> Option<String> {
        reg.pools.get_any(&r.parent).map(|p| p.name.clone())
    }
}

impl VolumeKind {
    /// The record of a volume found in (or made in) a pool.
    pub(crate) fn record(pool: Uuid, uuid: Uuid, v: Volume) -> Record<VolumeKind> {
        let mut r = Record::<VolumeKind>::new(uuid, v.name.clone());
        r.parent = pool;
        r.config = Some(Arc::new(v));
        r
    }
}

impl Lifecycle for VolumeKind {
    type Info = VolumeInfo;

    fn without_job(i: &mut VolumeInfo) {
        i.job = None;
    }

    fn info(reg: &Registry, r: &Record<Self>) -> VolumeInfo {
        let pool = reg.pools.get_any(&r.parent).map(|p| p.name.clone()).unwrap_or_default();
        let mut i = VolumeInfo::new(r.uuid, r.name.clone(), pool, r.parent);
        if let Some(v) = &r.config {
            i.key = v.key.clone().or_else(|| v.target.path.clone()).unwrap_or_default();
            i.path = v.target.path.clone();
            i.volume_type = v.volume_type.map(|t| t.as_str().to_owned());
            i.format = v.target.format.map(|f| f.as_str().to_owned());
            i.capacity = v.capacity.map_or(0, ByteSize::as_bytes);
            i.allocation = allocation_of(v);
        }
        i.state = r.state;
        i.generation = r.generation;
        i.job = r.job_info();
        i
    }

    fn prepare(_inner: &Inner, def: Volume) -> Result<Volume> {
        def.validate().map_err(Error::invalid_document)?;
        Ok(def)
    }
}

/// Metadata is preallocated in qcow2 images only (libvirt's words); a
/// volume is raw unless it, or the one it copies, says otherwise.
fn check_mode(def: &Volume, source: Option<&Volume>, mode: MakeMode) -> Result<()> {
    if !mode.prealloc_metadata {
        return Ok(());
    }
    let msg = match def.target.format.or(source.and_then(|s| s.target.format)).unwrap_or(VolumeFormat::Raw) {
        VolumeFormat::Qcow2 => return Ok(()),
        VolumeFormat::Raw => "metadata preallocation is not supported for raw volumes",
        _ => "metadata preallocation only available with qcow2",
    };
    Err(Error::new(ErrorKind::InvalidArgument, msg))
}

/// Counts a volume job in its pool while it lives.
struct Busy(Arc<AtomicU32>);

impl Busy {
    fn new(counter: Arc<AtomicU32>) -> Busy {
        counter.fetch_add(1, Ordering::SeqCst);
        Busy(counter)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a volume operation holds while it runs: the volume's job, its
/// pool's live data, the volume as it was, and the pool kept busy.
struct VolOp {
    job: JobGuard,
    pool: PoolRun,
    vol: Arc<Volume>,
    _busy: Busy,
}

impl Inner {
    /// Starts a job of `kind` on volume `uuid` in its active pool.
    async fn vol_op(&self, uuid: &Uuid, kind: JobKind) -> Result<VolOp> {
        let (job, _obj) = self.job::<VolumeKind>(uuid, kind).await?;
        let reg = self.lock();
        let r = reg.volumes.get(uuid)?;
        let vol = r.config.clone().ok_or_else(|| Error::new(ErrorKind::Internal, "a volume without definition"))?;
        let pool = Inner::pool_run(&reg, &r.parent)?;
        let busy = Busy::new(reg.pools.get(&r.parent)?.extra.busy.clone());
        Ok(VolOp { job, pool, vol, _busy: busy })
    }

    /// A volume by UUID; one being made (a create or clone under way) too,
    /// as building, with its job's progress: it is neither listed nor found
    /// by name until it is whole.
    pub(crate) fn volume_info(&self, uuid: &Uuid) -> Result<VolumeInfo> {
        let reg = self.lock();
        let r = match reg.volumes.get(uuid) {
            Ok(r) => r,
            Err(e) => reg.volumes.get_any(uuid).filter(|r| r.state == ResourceState::Building).ok_or(e)?,
        };
        Ok(VolumeKind::info(&reg, r))
    }

    /// Records a volume's new definition after a change to it.
    fn volume_changed(&self, uuid: &Uuid, new: Volume, detail: EventDetail) -> Result<VolumeInfo> {
        let mut reg = self.lock();
        let r = reg.volumes.get_mut(uuid)?;
        let old = r.config.as_deref().map_or(0, allocation_of);
        let pool = r.parent;
        let now = allocation_of(&new);
        r.config = Some(Arc::new(new));
        r.generation += 1;
        account(&mut reg, &pool, old, now);
        self.emit::<VolumeKind>(&mut reg, uuid, EventKind::Changed, detail);
        Ok(VolumeKind::answer(&reg, reg.volumes.get(uuid)?))
    }

    /// Makes a volume in an active pool: empty, or (`from`) a copy of
    /// another volume, of this pool or another.
    pub(crate) async fn create_volume(
        &self,
        pool: Uuid,
        def: Volume,
        from: Option<Uuid>,
        mode: MakeMode,
    ) -> Result<VolumeInfo> {
        let def = VolumeKind::prepare(self, def)?;
        let uuid = volume_uuid(pool, &def.name);
        let (run, busy, slot, source) = {
            let mut reg = self.lock();
            let run = Inner::pool_run(&reg, &pool)?;
            let p = reg.pools.get(&pool)?;
            if let Some(t) = def.target.format
                && !p.current_def().is_some_and(|d| d.pool_type.takes_volume_format(t))
            {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("{} pools do not take volumes of format {t}", run.live.pool_type),
                ));
            }
            let busy = Busy::new(p.extra.busy.clone());
            let source = match from {
                Some(f) => {
                    let s = reg.volumes.get(&f)?;
                    Some(
                        s.config
                            .clone()
                            .ok_or_else(|| Error::new(ErrorKind::Internal, "a volume without definition"))?,
                    )
                }
                None => None,
            };
            check_mode(&def, source.as_deref(), mode)?;
            reg.volumes.check_identity(uuid, pool, &def.name)?;
            if reg.volumes.contains(&uuid) {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("storage volume '{}' already exists in pool '{}'", def.name, run.obj.name),
                ));
            }
            let mut r = VolumeKind::record(pool, uuid, def.clone());
            r.hidden = true;
            r.state = ResourceState::Building;
            let slot = r.job.clone();
            reg.volumes.insert(r);
            (run, busy, slot, source)
        };
        let kind = if from.is_some() { JobKind::Clone } else { JobKind::Create };
        let what = format!("storage volume '{}'", def.name);
        let guard = match slot.begin(kind, self.config.job_wait, &what).await {
            Ok(g) => g,
            Err(e) => {
                self.drop_reservation::<VolumeKind>(&uuid);
                return Err(e);
            }
        };
        let made =
            self.backend(&run.live)?.create_volume(run.logged_in()?, &def, source.as_deref(), mode, &guard.state).await;
        drop(busy);
        let made = match made {
            Ok(v) => v,
            Err(e) => {
                self.drop_reservation::<VolumeKind>(&uuid);
                return Err(e);
            }
        };
        let mut reg = self.lock();
        let now = allocation_of(&made);
        let r = reg.volumes.get_mut(&uuid)?;
        r.config = Some(Arc::new(made));
        r.state = ResourceState::Active;
        r.hidden = false;
        r.generation = 1;
        account(&mut reg, &pool, 0, now);
        let detail = if from.is_some() { EventDetail::Cloned } else { EventDetail::Added };
        self.emit::<VolumeKind>(&mut reg, &uuid, EventKind::Created, detail);
        Ok(VolumeKind::answer(&reg, reg.volumes.get(&uuid)?))
    }

    /// Removes a volume and its data. One a running domain uses is kept.
    pub(crate) async fn delete_volume(&self, uuid: Uuid) -> Result<VolumeInfo> {
        let op = self.vol_op(&uuid, JobKind::Delete).await?;
        ensure_unused(&self.lock(), &op.vol, "be deleted")?;
        self.backend(&op.pool.live)?.delete_volume(op.pool.logged_in()?, &op.vol).await?;
        let mut reg = self.lock();
        account(&mut reg, &op.pool.obj.uuid, allocation_of(&op.vol), 0);
        self.emit::<VolumeKind>(&mut reg, &uuid, EventKind::Deleted, EventDetail::Removed);
        let info = VolumeKind::answer(&reg, reg.volumes.get(&uuid)?);
        reg.volumes.remove(&uuid);
        drop(op.job);
        Ok(info)
    }

    /// Changes a volume's capacity. Shrinking must be asked for.
    pub(crate) async fn resize_volume(&self, uuid: Uuid, to: Resize, shrink: bool) -> Result<VolumeInfo> {
        let op = self.vol_op(&uuid, JobKind::Resize).await?;
        let now = op.vol.capacity.map_or(0, ByteSize::as_bytes);
        if to.capacity < now && !shrink {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} bytes is less than the volume's capacity ({now}): shrinking must be asked for",
                    to.capacity
                ),
            ));
        }
        if to.capacity == 0 {
            return Err(Error::new(ErrorKind::InvalidArgument, "a volume cannot be resized to 0 bytes"));
        }
        {
            let reg = self.lock();
            if to.capacity < now {
                ensure_unused(&reg, &op.vol, "shrink")?;
            }
            let free = reg.pools.get(&op.pool.obj.uuid)?.extra.available;
            let grow = to.capacity.saturating_sub(now);
            if to.allocate && grow > free {
                return Err(Error::new(
                    ErrorKind::NoSpace,
                    format!("storage pool '{}' has {free} bytes free, {grow} are needed", op.pool.obj.name),
                ));
            }
        }
        let new = self.backend(&op.pool.live)?.resize_volume(op.pool.logged_in()?, &op.vol, to).await?;
        self.volume_changed(&uuid, new, EventDetail::Resized)
    }

    /// Writes zeros (or random bytes) over a volume's data.
    pub(crate) async fn wipe_volume(&self, uuid: Uuid, algorithm: WipeAlgorithm) -> Result<VolumeInfo> {
        let op = self.vol_op(&uuid, JobKind::Wipe).await?;
        ensure_unused(&self.lock(), &op.vol, "be wiped")?;
        self.backend(&op.pool.live)?.wipe_volume(op.pool.logged_in()?, &op.vol, algorithm, &op.job.state).await?;
        self.volume_changed(&uuid, (*op.vol).clone(), EventDetail::Wiped)
    }

    /// Writes the bytes `data` brings into the volume.
    pub(crate) async fn upload_volume(&self, uuid: Uuid, range: Range, mut data: Source) -> Result<VolumeInfo> {
        let op = self.vol_op(&uuid, JobKind::Upload).await?;
        ensure_unused(&self.lock(), &op.vol, "be written")?;
        let cap = op.vol.capacity.map_or(0, ByteSize::as_bytes);
        check_range(range, cap, &op.vol.name)?;
        let room = if range.length > 0 { range.length } else { cap - range.offset };
        if range.length > 0 {
            data.cap(range.length);
        }
        if let Some(n) = data.known_len().filter(|&n| n > room) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the upload's {n} bytes do not fit in the {room} bytes of volume '{}' from {}",
                    op.vol.name, range.offset
                ),
            ));
        }
        op.job.state.set_total(data.known_len().unwrap_or(room));
        let backend = self.backend(&op.pool.live)?;
        let new = backend.upload(op.pool.logged_in()?, &op.vol, range, &mut data, &op.job.state).await?;
        self.volume_changed(&uuid, new, EventDetail::Uploaded)
    }

    /// Sends the volume's bytes in `range` to `out`; how many were sent.
    pub(crate) async fn download_volume(&self, uuid: Uuid, range: Range, mut out: Sink) -> Result<u64> {
        let op = self.vol_op(&uuid, JobKind::Download).await?;
        let cap = op.vol.capacity.map_or(0, ByteSize::as_bytes);
        check_range(range, cap, &op.vol.name)?;
        let total = if range.length > 0 { range.length } else { cap - range.offset };
        op.job.state.set_total(total);
        self.backend(&op.pool.live)?.download(op.pool.logged_in()?, &op.vol, range, &mut out, &op.job.state).await
    }

    /// A volume by UUID, key or path, in whichever pool holds it.
    pub(crate) fn find_volume(&self, key: &str) -> Result<VolumeInfo> {
        let reg = self.lock();
        let by_uuid = Uuid::try_parse(key).ok().and_then(|u| reg.volumes.get(&u).ok());
        let r = by_uuid
            .or_else(|| {
                reg.volumes.iter().find(|r| {
                    r.config
                        .as_ref()
                        .is_some_and(|v| v.key.as_deref() == Some(key) || v.target.path.as_deref() == Some(key))
                })
            })
            .ok_or_else(|| Error::not_found_of(ObjectKind::Volume, key))?;
        Ok(VolumeKind::info(&reg, r))
    }
}

/// A range must lie within the volume.
fn check_range(range: Range, capacity: u64, name: &str) -> Result<()> {
    let end = range.offset.checked_add(range.length);
    if range.offset > capacity || end.is_none_or(|e| e > capacity) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "bytes {}..{} are outside storage volume '{name}' ({capacity} bytes)",
                range.offset,
                range.offset.saturating_add(range.length)
            ),
        ));
    }
    Ok(())
}
