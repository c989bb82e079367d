//! Storage pools: the kind, their start, stop, build, delete and refresh
//! through the backend of their type, the checks across pools (one target
//! each), and the volumes an active pool holds (kept in the registry, found
//! again by each start and refresh: the pool's storage is their truth).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use uuid::Uuid;
use virtkit_model::ByteSize;
use virtkit_model::storage::{Pool, PoolType, Volume};

use crate::engine::Inner;
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Definition, Kind, ObjRef, Record, Table};
use crate::lifecycle::{Activated, Lifecycle};
use crate::registry::Registry;
use crate::storage_driver::{ActivePool, BuildMode, PoolAuth, PoolBackend, PoolScan, StorageDriver};
use crate::store::Store;
use crate::types::{EventDetail, EventKind, JobKind, ObjectKind, ObjectState, PoolInfo, ResourceState};
use crate::volume::VolumeKind;

impl Definition for Pool {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn name(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self.name)
    }
    fn to_xml(&self) -> String {
        Pool::to_xml(self)
    }
    fn from_xml(text: &str) -> std::result::Result<Self, virtkit_model::Errors> {
        Pool::from_xml(text)
    }
    fn validate(&self) -> std::result::Result<(), virtkit_model::Errors> {
        Pool::validate(self)
    }
    fn withhold_secrets(&mut self) {
        Pool::withhold_secrets(self);
    }
}

pub(crate) struct PoolKind;

/// What only a pool records.
#[derive(Debug, Default, Clone)]
pub(crate) struct PoolExtra {
    /// Its space, as the last start, refresh or volume change left it.
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
    /// Volume jobs under way in it (the pool cannot stop meanwhile).
    pub busy: Arc<AtomicU32>,
}

impl Kind for PoolKind {
    const OBJECT: ObjectKind = ObjectKind::Pool;
    type Def = Pool;
    type State = ResourceState;
    type Extra = PoolExtra;

    fn table(reg: &Registry) -> &Table<Self> {
        &reg.pools
    }
    fn table_mut(reg: &mut Registry) -> &mut Table<Self> {
        &mut reg.pools
    }
    fn initial() -> ResourceState {
        ResourceState::Inactive
    }
    fn is_active(s: &ResourceState) -> bool {
        s.is_active()
    }
    fn event_state(s: &ResourceState) -> ObjectState {
        ObjectState::Resource(*s)
    }
}

impl Lifecycle for PoolKind {
    type Info = PoolInfo;

    fn without_job(i: &mut PoolInfo) {
        i.job = None;
    }

    fn info(reg: &Registry, r: &Record<Self>) -> PoolInfo {
        let pool_type = r.current_def().map_or("", |d| d.pool_type.as_str());
        let mut i = PoolInfo::new(r.uuid, r.name.clone(), pool_type);
        i.state = r.state;
        i.persistent = r.config.is_some();
        i.autostart = r.autostart;
        i.generation = r.generation;
        if r.active() {
            i.capacity = r.extra.capacity;
            i.allocation = r.extra.allocation;
            i.available = r.extra.available;
            i.volumes = u32::try_from(reg.volumes.iter().filter(|v| v.parent == r.uuid).count()).unwrap_or(u32::MAX);
        }
        i.job = r.job_info();
        i
    }

    fn prepare(inner: &Inner, mut def: Pool) -> Result<Pool> {
        def.validate().map_err(Error::invalid_document)?;
        // A pool whose type has no backend here can be defined; it cannot start.
        if let Ok(b) = inner.backend(&def) {
            b.prepare(&mut def)?;
            def.validate().map_err(|e| {
                Error::new(ErrorKind::Internal, format!("the {} backend made the pool invalid: {e}", def.pool_type))
            })?;
        }
        Ok(def)
    }

    fn check_against(reg: &Registry, def: &Pool) -> Result<()> {
        let Some(path) = def.target_path() else { return Ok(()) };
        // Directories of files (dir, fs, netfs) do not nest: a pool's
        // volumes would be another's files.
        let files = |t: PoolType| matches!(t, PoolType::Dir | PoolType::Fs | PoolType::Netfs);
        for other in reg.pools.iter().filter(|r| r.uuid != def.uuid) {
            let Some(o) = other.current_def() else { continue };
            let Some(p) = o.target_path() else { continue };
            if p == path {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("target '{path}' is already used by storage pool '{}'", other.name),
                ));
            }
            let (mine, theirs) = (std::path::Path::new(&path), std::path::Path::new(&p));
            if files(def.pool_type) && files(o.pool_type) && (mine.starts_with(theirs) || theirs.starts_with(mine)) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("target '{path}' and storage pool '{}' at '{p}' are one inside the other", other.name),
                ));
            }
        }
        Ok(())
    }
}

/// A pool's live data, taken under the lock for a backend call.
pub(crate) struct PoolRun {
    pub obj: ObjRef,
    pub live: Arc<Pool>,
    pub data: serde_json::Value,
    /// Its login, or why it cannot be had now (its secret is gone).
    pub auth: std::result::Result<Option<PoolAuth>, Error>,
}

impl PoolRun {
    /// The pool, for what needs no login (stopping it).
    pub(crate) fn active(&self) -> ActivePool<'_> {
        ActivePool::new(&self.obj, &self.live, &self.data, self.auth.as_ref().ok().and_then(Option::as_ref))
    }

    /// The pool with its login, for what reaches its storage.
    pub(crate) fn logged_in(&self) -> Result<ActivePool<'_>> {
        let auth = self.auth.as_ref().map_err(Clone::clone)?;
        Ok(ActivePool::new(&self.obj, &self.live, &self.data, auth.as_ref()))
    }
}

/// The login a pool's document asks for (`<source><auth>`), with the value
/// of the secret it names; an error names the pool and the secret missing.
pub(crate) fn pool_auth(reg: &Registry, def: &Pool) -> Result<Option<PoolAuth>> {
    let Some(a) = &def.source.auth else { return Ok(None) };
    let usage = match a.auth_type {
        virtkit_model::storage::AuthType::Chap => Some("iscsi"),
        virtkit_model::storage::AuthType::Ceph => Some("ceph"),
        _ => None,
    };
    let value = crate::secret::secret_value(reg, &a.secret, usage).map_err(|e| {
        let what = match &a.secret {
            virtkit_model::storage::SecretRef::Uuid(u) => format!("secret {u}"),
            virtkit_model::storage::SecretRef::Usage(u) => format!("the secret of usage '{}'", crate::error::cut(u)),
            _ => "its secret".to_owned(),
        };
        Error::new(e.kind(), format!("storage pool '{}' logs in with {what}: {}", def.name, e.message()))
    })?;
    Ok(Some(PoolAuth::new(a.auth_type, a.username.clone(), value)))
}

fn check_build(mode: BuildMode) -> Result<()> {
    if mode.overwrite && mode.no_overwrite {
        return Err(Error::new(ErrorKind::InvalidArgument, "overwrite and no_overwrite exclude each other"));
    }
    Ok(())
}

/// A volume's UUID: named by its pool and its name, so a volume found again
/// (after a refresh, a restart) keeps it, and one being made has it already.
pub fn volume_uuid(pool: Uuid, name: &str) -> Uuid {
    Uuid::new_v5(&pool, name.as_bytes())
}

impl Inner {
    pub(crate) fn storage_driver(&self) -> Result<&Arc<dyn StorageDriver>> {
        self.drivers
            .storage
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Unsupported, "this host has no storage driver"))
    }

    /// The backend for a pool's type.
    pub(crate) fn backend(&self, def: &Pool) -> Result<Arc<dyn PoolBackend>> {
        let driver = self.storage_driver()?;
        driver.backend(def.pool_type).ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("the {} storage driver has no backend for {} pools", driver.name(), def.pool_type),
            )
        })
    }

    /// An active pool's live data.
    pub(crate) fn pool_run(reg: &Registry, uuid: &Uuid) -> Result<PoolRun> {
        let r = reg.pools.get(uuid)?;
        match (&r.live, r.active()) {
            (Some(l), true) => {
                Ok(PoolRun { obj: r.obj_ref(), live: l.clone(), data: r.data.clone(), auth: pool_auth(reg, l) })
            }
            _ => Err(Error::state(format!("storage pool '{}' is not active", r.name))),
        }
    }

    /// Starts a transient pool from a definition that is not stored (with
    /// `build`: built first, in the same job). A failed build or start
    /// leaves no pool.
    pub(crate) async fn create_pool(&self, def: Pool, build: Option<BuildMode>) -> Result<PoolInfo> {
        if let Some(m) = build {
            check_build(m)?;
        }
        let def = Arc::new(PoolKind::prepare(self, def)?);
        let (uuid, name) = (def.uuid, def.name.clone());
        let slot = {
            let mut reg = self.lock();
            reg.pools.check_identity(uuid, Uuid::nil(), &name)?;
            PoolKind::check_against(&reg, &def)?;
            if reg.pools.contains(&uuid) {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("storage pool '{name}' already exists")));
            }
            let mut r = Record::<PoolKind>::new(uuid, name.clone());
            r.hidden = true;
            let slot = r.job.clone();
            reg.pools.insert(r);
            slot
        };
        let _job = slot.begin(JobKind::Start, self.config.job_wait, &format!("storage pool '{name}'")).await?;
        let obj = ObjRef::new(ObjectKind::Pool, uuid, name);
        let r = self.build_and_activate(&obj, def, build).await;
        if r.is_err() {
            self.drop_reservation::<PoolKind>(&uuid);
        }
        r
    }

    /// A new transient pool built (when asked), then started.
    async fn build_and_activate(&self, obj: &ObjRef, def: Arc<Pool>, build: Option<BuildMode>) -> Result<PoolInfo> {
        if let Some(m) = build {
            self.backend(&def)?.build(obj, &def, m).await?;
        }
        self.activate_pool(obj, def, true).await
    }

    /// Starts a defined pool, built first when asked (`pool-start --build`):
    /// a failed build leaves it inactive, as it was.
    pub(crate) async fn start_pool(&self, uuid: Uuid, build: Option<BuildMode>) -> Result<PoolInfo> {
        if let Some(m) = build {
            check_build(m)?;
        }
        let (_job, obj) = self.job::<PoolKind>(&uuid, JobKind::Start).await?;
        let def = {
            let reg = self.lock();
            let r = reg.pools.get(&uuid)?;
            if r.active() {
                return Err(Error::state(format!("storage pool '{}' is already active", r.name)));
            }
            let def =
                r.config.clone().ok_or_else(|| Error::new(ErrorKind::Internal, "inactive pool without definition"))?;
            PoolKind::check_against(&reg, &def)?;
            def
        };
        if let Some(m) = build {
            self.backend(&def)?.build(&obj, &def, m).await?;
        }
        self.activate_pool(&obj, def, false).await
    }

    /// Starts the pool with its backend and records it and its volumes (the
    /// runtime status is on disk before it shows as active).
    async fn activate_pool(&self, obj: &ObjRef, def: Arc<Pool>, unhide: bool) -> Result<PoolInfo> {
        let backend = self.backend(&def)?;
        let auth = pool_auth(&self.lock(), &def)?;
        let started = backend.start(obj, def, auth.as_ref()).await?;
        let active = Activated::<PoolKind> { live: started.live, state: ResourceState::Active, data: started.data };
        if let Some(store) = &self.store {
            let saved = Inner::run_file(&obj.name, Uuid::nil(), &active, None)
                .and_then(|f| store.save_run(ObjectKind::Pool, &obj.uuid, &f));
            if let Err(e) = saved {
                let run = ActivePool::new(obj, &active.live, &active.data, auth.as_ref());
                return Err(match backend.stop(run).await {
                    Ok(()) => e,
                    Err(c) => e.with_cleanup(c),
                });
            }
        }
        let mut reg = self.lock();
        let r = reg.pools.get_mut(&obj.uuid)?;
        r.live = Some(active.live);
        r.state = ResourceState::Active;
        r.data = active.data;
        if unhide {
            r.hidden = false;
        }
        set_volumes(&mut reg, obj, started.scan);
        self.emit::<PoolKind>(&mut reg, &obj.uuid, EventKind::Started, EventDetail::Booted);
        Ok(PoolKind::answer(&reg, reg.pools.get(&obj.uuid)?))
    }

    /// Refuses while volume jobs run in the pool or domains use its volumes.
    fn check_idle(reg: &Registry, uuid: &Uuid, doing: &str) -> Result<()> {
        let r = reg.pools.get(uuid)?;
        let n = r.extra.busy.load(Ordering::SeqCst);
        if n > 0 {
            return Err(Error::state(format!("storage pool '{}' cannot {doing}: {n} volume jobs are running", r.name)));
        }
        let paths: Vec<&str> = reg
            .volumes
            .iter()
            .filter(|v| v.parent == *uuid)
            .filter_map(|v| v.config.as_ref()?.target.path.as_deref())
            .collect();
        let users = crate::volume_use::users_of(reg, &paths);
        if !users.is_empty() {
            return Err(Error::state(format!(
                "storage pool '{}' cannot {doing}: its volumes are in use by {}",
                r.name,
                users.join(", ")
            )));
        }
        Ok(())
    }

    /// Makes a pool unusable (`pool-destroy`); its data stays.
    pub(crate) async fn stop_pool(&self, uuid: Uuid) -> Result<PoolInfo> {
        let (_job, _obj) = self.job::<PoolKind>(&uuid, JobKind::Stop).await?;
        let run = {
            let reg = self.lock();
            Inner::check_idle(&reg, &uuid, "stop")?;
            Inner::pool_run(&reg, &uuid)?
        };
        self.backend(&run.live)?.stop(run.active()).await?;
        let info = {
            let mut reg = self.lock();
            let gone: Vec<Uuid> = reg.volumes.iter().filter(|v| v.parent == uuid).map(|v| v.uuid).collect();
            for v in gone {
                reg.volumes.remove(&v);
            }
            let r = reg.pools.get_mut(&uuid)?;
            r.state = ResourceState::Inactive;
            r.live = None;
            r.data = serde_json::Value::Null;
            let transient = r.config.is_none();
            self.emit::<PoolKind>(&mut reg, &uuid, EventKind::Stopped, EventDetail::Destroyed);
            let info = PoolKind::answer(&reg, reg.pools.get(&uuid)?);
            if transient {
                reg.pools.remove(&uuid);
            }
            info
        };
        self.forget_run::<PoolKind>(&uuid);
        Ok(info)
    }

    /// The stored definition of an inactive pool, for build and delete.
    fn inactive_def(&self, uuid: &Uuid, doing: &str) -> Result<Arc<Pool>> {
        let reg = self.lock();
        let r = reg.pools.get(uuid)?;
        if r.active() {
            return Err(Error::state(format!("storage pool '{}' is active: stop it to {doing} it", r.name)));
        }
        r.config.clone().ok_or_else(|| Error::new(ErrorKind::Internal, "inactive pool without definition"))
    }

    /// Makes the pool's underlying storage (`pool-build`).
    pub(crate) async fn build_pool(&self, uuid: Uuid, mode: BuildMode) -> Result<PoolInfo> {
        check_build(mode)?;
        let (_job, obj) = self.job::<PoolKind>(&uuid, JobKind::Build).await?;
        let def = self.inactive_def(&uuid, "build")?;
        self.backend(&def)?.build(&obj, &def, mode).await?;
        let mut reg = self.lock();
        self.emit::<PoolKind>(&mut reg, &uuid, EventKind::Created, EventDetail::Built);
        Ok(PoolKind::answer(&reg, reg.pools.get(&uuid)?))
    }

    /// Removes the pool's underlying storage (`pool-delete`); the
    /// definition stays.
    pub(crate) async fn delete_pool(&self, uuid: Uuid) -> Result<PoolInfo> {
        let (_job, obj) = self.job::<PoolKind>(&uuid, JobKind::Delete).await?;
        let def = self.inactive_def(&uuid, "delete")?;
        self.backend(&def)?.delete(&obj, &def).await?;
        let mut reg = self.lock();
        self.emit::<PoolKind>(&mut reg, &uuid, EventKind::Deleted, EventDetail::Removed);
        Ok(PoolKind::answer(&reg, reg.pools.get(&uuid)?))
    }

    /// Looks at an active pool again: its space and volumes.
    pub(crate) async fn refresh_pool(&self, uuid: Uuid) -> Result<PoolInfo> {
        let (_job, obj) = self.job::<PoolKind>(&uuid, JobKind::Refresh).await?;
        let run = {
            let reg = self.lock();
            let r = reg.pools.get(&uuid)?;
            let n = r.extra.busy.load(Ordering::SeqCst);
            if n > 0 {
                return Err(Error::state(format!(
                    "storage pool '{}' cannot refresh: {n} volume jobs are running",
                    r.name
                )));
            }
            Inner::pool_run(&reg, &uuid)?
        };
        let scan = self.backend(&run.live)?.refresh(run.logged_in()?).await?;
        let mut reg = self.lock();
        set_volumes(&mut reg, &obj, scan);
        self.emit::<PoolKind>(&mut reg, &uuid, EventKind::Changed, EventDetail::Refreshed);
        Ok(PoolKind::answer(&reg, reg.pools.get(&uuid)?))
    }

    /// Loads every stored pool and takes over every one a previous engine
    /// left active.
    pub(crate) async fn load_pools(&self, store: &Store, problems: &mut Vec<String>) {
        let loaded = store.load::<PoolKind>();
        problems.extend(loaded.problems);
        {
            let mut reg = self.lock();
            for d in loaded.defs {
                if reg.pools.by_name(Uuid::nil(), &d.def.name).is_some() {
                    problems.push(format!(
                        "storage pool '{}' ({}) has the name of another pool: not loaded",
                        d.def.name, d.uuid
                    ));
                    continue;
                }
                let mut r = Record::<PoolKind>::new(d.uuid, d.def.name.clone());
                r.config = Some(Arc::new(d.def));
                r.generation = d.generation;
                r.autostart = d.autostart;
                reg.pools.insert(r);
            }
        }
        for (uuid, run, live, _state) in loaded.runs {
            let obj = ObjRef::new(ObjectKind::Pool, uuid, run.name.clone());
            let auth = pool_auth(&self.lock(), &live);
            let taken = match (self.backend(&live), auth) {
                (Ok(b), Ok(auth)) => b.reconnect(&obj, Arc::new(live), run.driver, auth.as_ref()).await,
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            match taken {
                Ok(a) => {
                    let mut reg = self.lock();
                    if reg.pools.by_name(Uuid::nil(), &run.name).is_some_and(|u| u != uuid) {
                        problems
                            .push(format!("active storage pool '{}' ({uuid}) has the name of another pool", run.name));
                        continue;
                    }
                    if !reg.pools.contains(&uuid) {
                        reg.pools.insert(Record::new(uuid, run.name.clone()));
                    }
                    if let Ok(r) = reg.pools.get_mut(&uuid) {
                        r.live = Some(a.live);
                        r.state = ResourceState::Active;
                        r.data = a.data;
                    }
                    set_volumes(&mut reg, &obj, a.scan);
                    drop(reg);
                    self.refresh_run_file::<PoolKind>(&uuid, None);
                }
                Err(e) => {
                    tracing::info!(pool = %run.name, "not active any more: {e}");
                    if let Err(e) = store.remove_run(ObjectKind::Pool, &uuid) {
                        problems.push(e.to_string());
                    }
                }
            }
        }
    }
}

/// Replaces a pool's space figures and volumes with what its backend found
/// (a volume found again keeps its UUID and generation).
fn set_volumes(reg: &mut Registry, pool: &ObjRef, scan: PoolScan) {
    if let Ok(r) = reg.pools.get_mut(&pool.uuid) {
        r.extra.capacity = scan.capacity;
        r.extra.allocation = scan.allocation;
        r.extra.available = scan.available;
    }
    let found: HashSet<Uuid> = scan.volumes.iter().map(|v| volume_uuid(pool.uuid, &v.name)).collect();
    let gone: Vec<Uuid> =
        reg.volumes.iter().filter(|v| v.parent == pool.uuid && !found.contains(&v.uuid)).map(|v| v.uuid).collect();
    for u in gone {
        reg.volumes.remove(&u);
    }
    for v in scan.volumes {
        let uuid = volume_uuid(pool.uuid, &v.name);
        match reg.volumes.get_mut(&uuid) {
            Ok(r) if r.job.current().is_none() => r.config = Some(Arc::new(v)),
            Ok(_) => {}
            Err(_) => reg.volumes.insert(VolumeKind::record(pool.uuid, uuid, v)),
        }
    }
}

/// A pool's space after a volume of `old` bytes became `new` bytes.
pub(crate) fn account(reg: &mut Registry, pool: &Uuid, old: u64, new: u64) {
    if let Ok(r) = reg.pools.get_mut(pool) {
        r.extra.allocation = (r.extra.allocation + new).saturating_sub(old);
        r.extra.available = (r.extra.available + old).saturating_sub(new);
    }
}

/// The bytes a volume takes in its pool.
pub(crate) fn allocation_of(v: &Volume) -> u64 {
    v.allocation_or_capacity().map_or(0, ByteSize::as_bytes)
}
