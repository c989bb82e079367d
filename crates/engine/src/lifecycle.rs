//! What every kind with a stored definition does the same way, written
//! once: define, undefine, autostart, lookup, list, and recording that an
//! object started or stopped. Each call answers with the object's info as
//! its own change left it, taken under the same lock as the change.

use std::sync::Arc;

use uuid::Uuid;

use crate::engine::Inner;
use crate::error::{Error, ErrorKind, Result};
use crate::jobs::JobGuard;
use crate::kind::{Definition, Kind, ObjRef, Record};
use crate::options::{DefineOptions, UndefineOptions};
use crate::registry::Registry;
use crate::store::{RunFile, Store};
use crate::types::{EventDetail, EventKind, JobKind, List};

/// A kind whose objects have stored definitions and a lifecycle.
pub(crate) trait Lifecycle: Kind {
    type Info: Clone + Send + 'static;

    /// The object as queries show it.
    fn info(reg: &Registry, r: &Record<Self>) -> Self::Info;

    /// Takes the job out of an info value.
    fn without_job(info: &mut Self::Info);

    /// The object as a change answers with it, under the lock the change
    /// was made in: the job shown would be the change's own, still held.
    fn answer(reg: &Registry, r: &Record<Self>) -> Self::Info {
        let mut i = Self::info(reg, r);
        Self::without_job(&mut i);
        i
    }

    /// Checks and completes a definition before it is stored or started
    /// (the model's checks, then the driver's).
    fn prepare(inner: &Inner, def: Self::Def) -> Result<Self::Def>;

    /// Checks against the other objects (under the registry lock), before
    /// a definition is stored.
    fn check_against(reg: &Registry, def: &Self::Def) -> Result<()> {
        let _ = (reg, def);
        Ok(())
    }

    /// Stores the definition (a kind kept in memory stores nothing).
    fn save(store: &Store, generation: u64, autostart: bool, def: &Self::Def) -> Result<()> {
        store.save_def(Self::OBJECT, generation, autostart, def)
    }

    /// Removes what is stored of the object.
    fn unsave(store: &Store, def: &Self::Def) -> Result<()> {
        store.remove_def(Self::OBJECT, &def.uuid())
    }
}

/// What a driver reports once an object has started (or been found active
/// again after a restart).
#[derive(Debug, Clone)]
pub(crate) struct Activated<K: Kind> {
    pub live: Arc<K::Def>,
    pub state: K::State,
    pub data: serde_json::Value,
}

impl Inner {
    /// Waits for the object's job slot and holds it for a job of `kind`.
    pub(crate) async fn job<K: Kind>(&self, uuid: &Uuid, kind: JobKind) -> Result<(JobGuard, ObjRef)> {
        let (slot, what) = {
            let reg = self.lock();
            let r = K::table(&reg).get(uuid)?;
            (r.job.clone(), r.what())
        };
        let guard = slot.begin(kind, self.config.job_wait, &what).await?;
        // It may have gone while we waited.
        let reg = self.lock();
        match K::table(&reg).get(uuid) {
            Ok(r) if Arc::ptr_eq(&r.job, &slot) => Ok((guard, r.obj_ref())),
            _ => Err(Error::not_found_of(K::OBJECT, &uuid.to_string())),
        }
    }

    /// Stores a definition, creating the object or replacing its definition.
    pub(crate) async fn define<K: Lifecycle>(&self, def: K::Def, opts: DefineOptions) -> Result<K::Info> {
        let def = Arc::new(K::prepare(self, def)?);
        let (uuid, name) = (def.uuid(), def.name().into_owned());
        let what = format!("{} '{}'", K::OBJECT.noun(), name);
        loop {
            // A new object is reserved (hidden) under the registry lock, so
            // its name is taken while its file is written outside the lock.
            let (slot, reserved) = {
                let mut reg = self.lock();
                K::table(&reg).check_identity(uuid, Uuid::nil(), &name)?;
                K::check_against(&reg, &def)?;
                match K::table(&reg).get_any(&uuid) {
                    Some(r) => (r.job.clone(), false),
                    None => {
                        if let Some(g) = opts.expected_generation.filter(|g| *g != 0) {
                            return Err(Error::new(
                                ErrorKind::Conflict,
                                format!("{what} does not exist (expected generation {g})"),
                            ));
                        }
                        let mut r = Record::<K>::new(uuid, name.clone());
                        r.hidden = true;
                        let slot = r.job.clone();
                        K::table_mut(&mut reg).insert(r);
                        (slot, true)
                    }
                }
            };
            let guard = match slot.begin(JobKind::Define, self.config.job_wait, &what).await {
                Ok(g) => g,
                Err(e) => {
                    if reserved {
                        self.drop_reservation::<K>(&uuid);
                    }
                    return Err(e);
                }
            };
            // Still the same object? An undefine may have removed it while
            // this define waited: then it is defined anew. Whether this
            // define makes the object is decided now, holding its job: it
            // does if it is still a reservation (this define's, or that of
            // another define this one overtook to the job).
            let (new, generation, autostart) = {
                let reg = self.lock();
                match K::table(&reg).get_any(&uuid) {
                    Some(r) if Arc::ptr_eq(&r.job, &slot) => {
                        let made = r.hidden;
                        // (A reservation is at generation 0.)
                        if let Some(g) = opts.expected_generation.filter(|g| *g != r.generation) {
                            let msg = if made {
                                format!("{what} does not exist (expected generation {g})")
                            } else {
                                format!("{what} is at generation {}, not {g}", r.generation)
                            };
                            return Err(Error::new(ErrorKind::Conflict, msg));
                        }
                        (made, r.generation + 1, r.autostart)
                    }
                    _ => {
                        drop(guard);
                        continue;
                    }
                }
            };
            if let Some(store) = &self.store
                && let Err(e) = K::save(store, generation, autostart, def.as_ref())
            {
                if new {
                    self.drop_reservation::<K>(&uuid);
                }
                return Err(e);
            }
            let mut reg = self.lock();
            // Another define may have taken what this one needs (a secret's
            // usage, a bridge) while the file was written: this one is undone.
            if let Err(e) = K::check_against(&reg, &def) {
                let old = K::table(&reg)
                    .get_any(&uuid)
                    .and_then(|r| r.config.clone().map(|c| (c, r.generation, r.autostart)));
                drop(reg);
                return Err(self.undo_define::<K>(&uuid, &def, old, e));
            }
            let r = K::table_mut(&mut reg).get_mut(&uuid)?;
            r.config = Some(def);
            r.generation = generation;
            r.hidden = false;
            let detail = if new { EventDetail::Added } else { EventDetail::Updated };
            self.emit::<K>(&mut reg, &uuid, EventKind::Defined, detail);
            let r = K::table(&reg).get(&uuid)?;
            let info = K::answer(&reg, r);
            drop(guard);
            return Ok(info);
        }
    }

    /// Puts back what a refused define stored: the object's old definition
    /// (with its generation and autostart), or for a new one nothing (its
    /// reservation dropped). A failure to is reported beside `e`.
    fn undo_define<K: Lifecycle>(
        &self,
        uuid: &Uuid,
        def: &K::Def,
        old: Option<(Arc<K::Def>, u64, bool)>,
        e: Error,
    ) -> Error {
        let undone = match (&self.store, &old) {
            (None, _) => Ok(()),
            (Some(store), Some((o, generation, autostart))) => K::save(store, *generation, *autostart, o),
            (Some(store), None) => K::unsave(store, def),
        };
        if old.is_none() {
            self.drop_reservation::<K>(uuid);
        }
        match undone {
            Ok(()) => e,
            Err(c) => e.with_cleanup(c),
        }
    }

    /// Removes a reservation that will not become an object.
    pub(crate) fn drop_reservation<K: Kind>(&self, uuid: &Uuid) {
        let mut reg = self.lock();
        if K::table(&reg).get_any(uuid).is_some_and(|r| r.hidden) {
            K::table_mut(&mut reg).remove(uuid);
        }
    }

    /// Removes the stored definition. An active object keeps running, as a
    /// transient one; an inactive one is gone.
    pub(crate) async fn undefine<K: Lifecycle>(&self, uuid: Uuid, opts: UndefineOptions) -> Result<K::Info> {
        let (_job, obj) = self.job::<K>(&uuid, JobKind::Undefine).await?;
        let config = {
            let reg = self.lock();
            let r = K::table(&reg).get(&uuid)?;
            let Some(config) = r.config.clone() else {
                return Err(Error::state(format!("{obj} is transient: it has no definition to remove")));
            };
            if let Some(g) = opts.expected_generation.filter(|g| *g != r.generation) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("{obj} is at generation {}, not {g}", r.generation),
                ));
            }
            config
        };
        if let Some(store) = &self.store {
            K::unsave(store, &config)?;
        }
        let mut reg = self.lock();
        let r = K::table_mut(&mut reg).get_mut(&uuid)?;
        r.config = None;
        r.autostart = false;
        let active = r.active();
        self.emit::<K>(&mut reg, &uuid, EventKind::Undefined, EventDetail::Removed);
        let info = K::answer(&reg, K::table(&reg).get(&uuid)?);
        if !active {
            K::table_mut(&mut reg).remove(&uuid);
        }
        Ok(info)
    }

    /// Whether the object starts when its host does (kept with its
    /// definition).
    pub(crate) async fn set_autostart<K: Lifecycle>(&self, uuid: Uuid, enabled: bool) -> Result<K::Info> {
        let (_job, obj) = self.job::<K>(&uuid, JobKind::Autostart).await?;
        let (config, generation) = {
            let reg = self.lock();
            let r = K::table(&reg).get(&uuid)?;
            let Some(config) = r.config.clone() else {
                return Err(Error::state(format!("{obj} is transient: it cannot autostart")));
            };
            if r.autostart == enabled {
                return Ok(K::answer(&reg, r));
            }
            (config, r.generation)
        };
        if let Some(store) = &self.store {
            K::save(store, generation, enabled, config.as_ref())?;
        }
        let mut reg = self.lock();
        K::table_mut(&mut reg).get_mut(&uuid)?.autostart = enabled;
        self.emit::<K>(&mut reg, &uuid, EventKind::Changed, EventDetail::Autostart);
        Ok(K::answer(&reg, K::table(&reg).get(&uuid)?))
    }

    /// Finds an object by UUID or by name (under `parent`, for volumes).
    pub(crate) fn lookup<K: Lifecycle>(&self, parent: Uuid, key: &str) -> Result<K::Info> {
        let reg = self.lock();
        let r = K::table(&reg).lookup(parent, key)?;
        Ok(K::info(&reg, r))
    }

    pub(crate) fn info_of<K: Lifecycle>(&self, uuid: &Uuid) -> Result<K::Info> {
        let reg = self.lock();
        let r = K::table(&reg).get(uuid)?;
        Ok(K::info(&reg, r))
    }

    /// One consistent snapshot of the objects `keep` selects, with the
    /// revision it shows, sorted by `order`.
    pub(crate) fn list<K: Lifecycle>(
        &self,
        keep: impl Fn(&Record<K>) -> bool,
        order: impl Fn(&K::Info, &K::Info) -> std::cmp::Ordering,
    ) -> List<K::Info> {
        let reg = self.lock();
        let mut items: Vec<K::Info> = K::table(&reg).iter().filter(|r| keep(r)).map(|r| K::info(&reg, r)).collect();
        let revision = reg.revision;
        drop(reg);
        items.sort_unstable_by(order);
        List::new(revision, items)
    }

    /// The definition: the live one, or with `inactive` the stored one (a
    /// transient object has only the live one).
    pub(crate) fn definition<K: Kind>(&self, uuid: &Uuid, inactive: bool) -> Result<Arc<K::Def>> {
        let reg = self.lock();
        let r = K::table(&reg).get(uuid)?;
        let def = if inactive { r.config.as_ref().or(r.live.as_ref()) } else { r.current_def() };
        def.cloned().ok_or_else(|| Error::new(ErrorKind::Internal, format!("{} has no definition", r.what())))
    }

    /// A definition as a caller is shown it: without its secrets unless
    /// `opts.secure` (whether the caller may ask is the connection's
    /// business: the engine runs in whoever holds it).
    pub(crate) fn shown<K: Kind>(&self, uuid: &Uuid, opts: &crate::options::XmlOptions) -> Result<Arc<K::Def>> {
        let def = self.definition::<K>(uuid, opts.inactive)?;
        if opts.secure {
            return Ok(def);
        }
        let mut d = (*def).clone();
        d.withhold_secrets();
        Ok(Arc::new(d))
    }

    /// The runtime status to store for an object about to show as active.
    pub(crate) fn run_file<K: Kind>(name: &str, parent: Uuid, a: &Activated<K>, id: Option<u32>) -> Result<RunFile> {
        Ok(RunFile {
            name: name.to_owned(),
            parent: (!parent.is_nil()).then_some(parent),
            state: serde_json::to_value(a.state).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?,
            id,
            live: a.live.to_xml(),
            driver: a.data.clone(),
        })
    }

    /// Writes the runtime status of an active object (its state changed);
    /// the stored state is a hint (a new engine asks the driver), so a
    /// failure is only logged.
    pub(crate) fn refresh_run_file<K: Kind>(&self, uuid: &Uuid, id: Option<u32>) {
        let file = {
            let reg = self.lock();
            let Some(r) = K::table(&reg).get_any(uuid) else { return };
            let Some(live) = r.live.clone() else { return };
            let a = Activated::<K> { live, state: r.state, data: r.data.clone() };
            Inner::run_file(&r.name, r.parent, &a, id)
        };
        if let (Some(store), Ok(f)) = (&self.store, file)
            && let Err(e) = store.save_run(K::OBJECT, uuid, &f)
        {
            tracing::warn!("{e}");
        }
    }

    /// Forgets an object's runtime status (it is not active any more).
    /// Removes an object's runtime status; false when it could not.
    pub(crate) fn forget_run<K: Kind>(&self, uuid: &Uuid) -> bool {
        if let Some(store) = &self.store
            && let Err(e) = store.remove_run(K::OBJECT, uuid)
        {
            tracing::warn!("{e}");
            return false;
        }
        true
    }
}
