//! The engine: one registry of domains, their jobs, their states, and the
//! events every change emits.
//!
//! Locking: the registry sits behind one short `std::sync::Mutex`, never
//! held across an `.await`; every change and the revision it bumps happen
//! under it, so a list taken under it is never torn. Each domain also has a
//! job lock (a `tokio::sync::Mutex`) held for the whole of an operation that
//! changes it (define, start, shutdown …); queries never take job locks.
//! Operations run as tasks of their own, so a job whose caller goes away
//! still finishes.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, watch};
use uuid::Uuid;
use virtkit_model::domain::Domain;

use crate::driver::{Console, DomainRef, Driver, DriverEvents, Started};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{
    AutostartOptions, CreateOptions, DefineOptions, InfoOptions, ListOptions, PowerOffOptions, RebootOptions,
    ResetOptions, ResumeOptions, ShutdownOptions, StartOptions, SuspendOptions, UndefineOptions, WatchOptions,
    XmlOptions,
};
use crate::store::{RunFile, Store};
use crate::types::{
    Capabilities, DomainInfo, DomainList, DomainState, DomainStats, Event, EventDetail, EventKind, HostInfo, State,
    StateReason,
};

/// Tunables of an engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Events kept for `watch` to resume from.
    pub history: usize,
    /// How long an operation waits for another one on the same domain.
    pub job_wait: Duration,
    /// Where definitions and runtime status are kept; `None`: in memory.
    pub state_dir: Option<PathBuf>,
    /// How long to wait for another engine to let go of `state_dir`.
    pub lock_wait: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { history: 4096, job_wait: Duration::from_secs(30), state_dir: None, lock_wait: Duration::ZERO }
    }
}

/// The engine. Cheap to clone: clones share one registry.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("driver", &self.inner.driver.name()).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    driver: Arc<dyn Driver>,
    reg: Mutex<Registry>,
    revision_tx: watch::Sender<u64>,
    config: EngineConfig,
    store: Option<Store>,
    problems: Mutex<Vec<String>>,
}

struct Registry {
    revision: u64,
    domains: HashMap<Uuid, Record>,
    names: HashMap<String, Uuid>,
    history: VecDeque<Event>,
    history_cap: usize,
    next_id: u32,
}

/// One domain's entry.
#[derive(Clone)]
struct Record {
    uuid: Uuid,
    name: String,
    /// The stored definition; `None` for a transient domain.
    config: Option<Arc<Domain>>,
    /// The running definition, while active.
    live: Option<Arc<Domain>>,
    state: State,
    id: Option<u32>,
    autostart: bool,
    generation: u64,
    /// Not listed yet: a transient domain whose start is under way.
    hidden: bool,
    /// Set while the engine itself stops the domain, so the driver's report
    /// of the stop carries the engine's reason.
    stopping: Option<StateReason>,
    /// The driver's runtime data while active.
    data: serde_json::Value,
    job: Arc<tokio::sync::Mutex<()>>,
}

impl Record {
    fn new(uuid: Uuid, name: String) -> Self {
        Record {
            uuid,
            name,
            config: None,
            live: None,
            state: State::new(DomainState::Shutoff, StateReason::Unknown),
            id: None,
            autostart: false,
            generation: 0,
            hidden: false,
            stopping: None,
            data: serde_json::Value::Null,
            job: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn active(&self) -> bool {
        self.state.state.is_active()
    }

    fn dom_ref(&self) -> DomainRef {
        DomainRef::new(self.uuid, self.name.clone())
    }

    /// The definition that describes it now: live when running.
    fn current_def(&self) -> Option<&Arc<Domain>> {
        self.live.as_ref().or(self.config.as_ref())
    }

    /// The runtime status to store while active.
    fn run_file(&self) -> Option<RunFile> {
        let live = self.live.as_ref()?;
        Some(RunFile {
            name: self.name.clone(),
            id: self.id,
            state: self.state.state,
            reason: self.state.reason,
            live: live.to_xml(),
            driver: self.data.clone(),
        })
    }

    fn info(&self) -> DomainInfo {
        let def = self.current_def();
        DomainInfo {
            uuid: self.uuid,
            name: self.name.clone(),
            id: self.id,
            state: self.state.state,
            reason: self.state.reason,
            persistent: self.config.is_some(),
            autostart: self.autostart,
            generation: self.generation,
            memory: def.map_or(0, |d| d.memory.as_bytes()),
            vcpus: def.and_then(|d| d.vcpu.as_ref()).map_or(1, |v| v.count),
            stats: None,
        }
    }
}

impl Registry {
    fn get(&self, uuid: &Uuid) -> Result<&Record> {
        self.domains.get(uuid).filter(|r| !r.hidden).ok_or_else(|| Error::not_found(&uuid.to_string()))
    }

    fn get_mut(&mut self, uuid: &Uuid) -> Result<&mut Record> {
        self.domains.get_mut(uuid).ok_or_else(|| Error::not_found(&uuid.to_string()))
    }

    /// Records a change: bumps the revision and keeps the event.
    fn emit(&mut self, uuid: &Uuid, kind: EventKind, detail: EventDetail, tx: &watch::Sender<u64>) {
        let Some(r) = self.domains.get(uuid) else { return };
        self.revision += 1;
        let ev = Event {
            revision: self.revision,
            uuid: r.uuid,
            name: r.name.clone(),
            kind,
            detail,
            state: r.state.state,
            reason: r.state.reason,
        };
        if self.history.len() == self.history_cap {
            self.history.pop_front();
        }
        self.history.push_back(ev);
        tx.send_replace(self.revision);
    }

    fn remove(&mut self, uuid: &Uuid) {
        if let Some(r) = self.domains.remove(uuid) {
            self.names.remove(&r.name);
        }
    }
}

impl Engine {
    /// An engine that keeps everything in memory (`config.state_dir` is
    /// ignored: use [`Engine::open`] for one that persists).
    pub fn new(driver: Arc<dyn Driver>, config: EngineConfig) -> Engine {
        Engine::build(driver, config, None)
    }

    /// An engine on `config.state_dir` (or in memory without one): it takes
    /// the directory (one engine at a time), loads every definition, and
    /// takes over every domain a previous engine left running.
    pub async fn open(driver: Arc<dyn Driver>, config: EngineConfig) -> Result<Engine> {
        let Some(dir) = config.state_dir.clone() else {
            return Ok(Engine::new(driver, config));
        };
        let store = Store::open(&dir, config.lock_wait)?;
        let loaded = store.load();
        let mut problems = loaded.problems;
        let engine = Engine::build(driver, config, Some(store));
        {
            let mut reg = engine.inner.lock();
            for (uuid, generation, autostart, def) in loaded.defs {
                let mut r = Record::new(uuid, def.name.clone());
                r.config = Some(Arc::new(def));
                r.generation = generation;
                r.autostart = autostart;
                if reg.names.contains_key(&r.name) {
                    problems.push(format!("domain '{}' ({uuid}) has the name of another domain: not loaded", r.name));
                    continue;
                }
                reg.names.insert(r.name.clone(), uuid);
                reg.domains.insert(uuid, r);
            }
        }
        for (uuid, run, live) in loaded.runs {
            let dom = DomainRef::new(uuid, run.name.clone());
            let live = Arc::new(live);
            let found = engine.inner.driver.reconnect(&dom, live.clone(), run.driver).await;
            let mut reg = engine.inner.lock();
            match found {
                // It stopped while no engine watched; the driver says how.
                Ok(s) if s.state.state == DomainState::Shutoff => {
                    tracing::info!(domain = %run.name, "stopped while no engine watched ({})", s.state.reason);
                    if let Some(r) = reg.domains.get_mut(&uuid) {
                        r.state = s.state;
                    }
                    drop(reg);
                    if let Some(store) = &engine.inner.store {
                        store.remove_run(&uuid)?;
                    }
                }
                Ok(s) => {
                    let id = run.id.unwrap_or(reg.next_id);
                    reg.next_id = reg.next_id.max(id + 1);
                    if !reg.domains.contains_key(&uuid) {
                        if reg.names.contains_key(&run.name) {
                            problems
                                .push(format!("running domain '{}' ({uuid}) has the name of another domain", run.name));
                            continue;
                        }
                        reg.names.insert(run.name.clone(), uuid);
                        reg.domains.insert(uuid, Record::new(uuid, run.name.clone()));
                    }
                    // The driver knows the state, not always why: keep the
                    // recorded reason when the state is the recorded one.
                    let state = if s.state.state == run.state && s.state.reason == StateReason::Unknown {
                        State::new(run.state, run.reason)
                    } else {
                        s.state
                    };
                    if let Some(r) = reg.domains.get_mut(&uuid) {
                        r.live = Some(s.live);
                        r.state = state;
                        r.id = Some(id);
                        r.data = s.data;
                    }
                    let file = reg.domains.get(&uuid).and_then(Record::run_file);
                    drop(reg);
                    if let (Some(f), Some(store)) = (file, &engine.inner.store) {
                        store.save_run(&uuid, &f)?;
                    }
                }
                Err(e) => {
                    // It stopped while no engine was watching.
                    tracing::info!(domain = %run.name, "not running any more: {e}");
                    if let Some(r) = reg.domains.get_mut(&uuid) {
                        r.state = State::new(DomainState::Shutoff, StateReason::Crashed);
                    }
                    drop(reg);
                    if let Some(store) = &engine.inner.store {
                        store.remove_run(&uuid)?;
                    }
                }
            }
        }
        for p in &problems {
            tracing::error!("{p}");
        }
        *engine.inner.problems.lock().unwrap_or_else(|p| p.into_inner()) = problems;
        Ok(engine)
    }

    /// Files in the state directory that could not be used when the engine
    /// opened (they were left untouched).
    pub fn load_problems(&self) -> Vec<String> {
        self.inner.problems.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn build(driver: Arc<dyn Driver>, config: EngineConfig, store: Option<Store>) -> Engine {
        let (revision_tx, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            store,
            problems: Mutex::new(Vec::new()),
            driver,
            reg: Mutex::new(Registry {
                revision: 0,
                domains: HashMap::new(),
                names: HashMap::new(),
                history: VecDeque::with_capacity(config.history.min(4096)),
                history_cap: config.history.max(1),
                next_id: 1,
            }),
            revision_tx,
            config,
        });
        inner.driver.attach(DriverEvents { engine: Arc::downgrade(&inner) });
        Engine { inner }
    }

    pub fn driver_name(&self) -> &'static str {
        self.inner.driver.name()
    }

    pub fn capabilities(&self) -> Capabilities {
        self.inner.driver.capabilities()
    }

    pub fn host_info(&self) -> HostInfo {
        self.inner.driver.host_info()
    }

    /// The latest revision.
    pub fn revision(&self) -> u64 {
        self.inner.lock().revision
    }

    // ---- queries: never wait for a job ----

    /// Finds a domain by UUID or by name.
    pub fn lookup(&self, key: &str) -> Result<DomainInfo> {
        let reg = self.inner.lock();
        let uuid =
            Uuid::try_parse(key).ok().filter(|u| reg.domains.contains_key(u)).or_else(|| reg.names.get(key).copied());
        match uuid {
            Some(u) => reg.get(&u).map(Record::info).map_err(|_| Error::not_found(key)),
            None => Err(Error::not_found(key)),
        }
    }

    pub async fn info(&self, uuid: Uuid, opts: InfoOptions) -> Result<DomainInfo> {
        let (mut info, active) = {
            let reg = self.inner.lock();
            let r = reg.get(&uuid)?;
            (r.info(), r.active())
        };
        if opts.stats && active {
            info.stats = self.inner.driver.stats(&[DomainRef::new(uuid, info.name.clone())]).await.pop().flatten();
        }
        Ok(info)
    }

    /// One consistent snapshot of every domain the options select, sorted by
    /// name, with the revision it shows.
    pub async fn list(&self, opts: ListOptions) -> Result<DomainList> {
        let mut list = self.snapshot(&opts);
        if opts.stats {
            let (idx, refs): (Vec<usize>, Vec<DomainRef>) = list
                .domains
                .iter()
                .enumerate()
                .filter(|(_, d)| d.state.is_active())
                .map(|(i, d)| (i, DomainRef::new(d.uuid, d.name.clone())))
                .unzip();
            let stats = self.inner.driver.stats(&refs).await;
            for (i, s) in idx.into_iter().zip(stats) {
                list.domains[i].stats = s;
            }
        }
        Ok(list)
    }

    fn snapshot(&self, opts: &ListOptions) -> DomainList {
        let reg = self.inner.lock();
        let mut domains: Vec<DomainInfo> = reg
            .domains
            .values()
            .filter(|r| !r.hidden)
            .filter(|r| opts.states.is_empty() || opts.states.contains(&r.state.state))
            .filter(|r| opts.active.is_none_or(|a| a == r.active()))
            .filter(|r| opts.persistent.is_none_or(|p| p == r.config.is_some()))
            .map(Record::info)
            .collect();
        let revision = reg.revision;
        drop(reg);
        domains.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        DomainList { revision, domains }
    }

    /// The domain's definition: the running one, or with `inactive` the
    /// stored one (a transient domain has only the running one).
    pub fn definition(&self, uuid: Uuid, opts: XmlOptions) -> Result<Arc<Domain>> {
        let reg = self.inner.lock();
        let r = reg.get(&uuid)?;
        let def = if opts.inactive { r.config.as_ref().or(r.live.as_ref()) } else { r.current_def() };
        def.cloned().ok_or_else(|| Error::new(ErrorKind::Internal, format!("domain '{}' has no definition", r.name)))
    }

    pub async fn stats(&self, uuid: Uuid) -> Result<Option<DomainStats>> {
        let (name, active) = {
            let reg = self.inner.lock();
            let r = reg.get(&uuid)?;
            (r.name.clone(), r.active())
        };
        if !active {
            return Ok(None);
        }
        Ok(self.inner.driver.stats(&[DomainRef::new(uuid, name)]).await.pop().flatten())
    }

    /// Opens the domain's console (`device`: a serial or console alias;
    /// `None` for the first).
    pub async fn open_console(&self, uuid: Uuid, device: Option<&str>) -> Result<Console> {
        let dom = {
            let reg = self.inner.lock();
            let r = reg.get(&uuid)?;
            if !r.active() {
                return Err(Error::state(format!("domain '{}' is not running", r.name)));
            }
            r.dom_ref()
        };
        self.inner.driver.open_console(&dom, device).await
    }

    /// Every event after `from_revision`, in order, without gaps.
    pub fn watch(&self, opts: WatchOptions) -> Result<Watcher> {
        let rx = self.inner.revision_tx.subscribe();
        let reg = self.inner.lock();
        let cursor = match opts.from_revision {
            Some(r) if r > reg.revision => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("revision {r} is ahead of the latest revision {}", reg.revision),
                ));
            }
            Some(r) => r,
            None => reg.revision,
        };
        drop(reg);
        Ok(Watcher { inner: self.inner.clone(), cursor, rx, pending: VecDeque::new() })
    }

    // ---- changes: one job at a time per domain ----

    /// Stores a definition, creating the domain or replacing its definition.
    pub async fn define(&self, def: Domain, opts: DefineOptions) -> Result<DomainInfo> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.define(def, opts).await }).await
    }

    pub async fn undefine(&self, uuid: Uuid, opts: UndefineOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.undefine(uuid, opts).await }).await
    }

    /// Starts a transient domain from a definition that is not stored.
    pub async fn create(&self, def: Domain, opts: CreateOptions) -> Result<DomainInfo> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.create(def, opts).await }).await
    }

    pub async fn start(&self, uuid: Uuid, opts: StartOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.start(uuid, opts).await }).await
    }

    /// Asks the guest to power off; with a timeout, waits for it.
    pub async fn shutdown(&self, uuid: Uuid, opts: ShutdownOptions) -> Result<()> {
        let inner = self.inner.clone();
        let timeout = opts.timeout;
        let mut rx = inner.revision_tx.subscribe();
        self.spawn(async move { inner.shutdown(uuid, opts).await }).await?;
        let Some(limit) = timeout else { return Ok(()) };
        let wait = async {
            loop {
                rx.borrow_and_update();
                let done = match self.inner.lock().get(&uuid) {
                    Ok(r) => !r.active(),
                    Err(_) => true,
                };
                if done {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.map_err(|_| {
            Error::new(ErrorKind::Timeout, format!("the guest did not power off within {}s", limit.as_secs_f64()))
        })
    }

    pub async fn power_off(&self, uuid: Uuid, opts: PowerOffOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.power_off(uuid, opts).await }).await
    }

    pub async fn reboot(&self, uuid: Uuid, opts: RebootOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.reboot(uuid, opts).await }).await
    }

    pub async fn reset(&self, uuid: Uuid, opts: ResetOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.reset(uuid, opts).await }).await
    }

    pub async fn suspend(&self, uuid: Uuid, opts: SuspendOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.suspend(uuid, opts).await }).await
    }

    pub async fn resume(&self, uuid: Uuid, opts: ResumeOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.resume(uuid, opts).await }).await
    }

    pub async fn set_autostart(&self, uuid: Uuid, enabled: bool, opts: AutostartOptions) -> Result<()> {
        let inner = self.inner.clone();
        self.spawn(async move { inner.set_autostart(uuid, enabled, opts).await }).await
    }

    /// Runs an operation as its own task: if the caller goes away, the job
    /// still finishes (or rolls back) instead of stopping half-way.
    async fn spawn<T: Send + 'static>(&self, fut: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        match tokio::spawn(fut).await {
            Ok(r) => r,
            Err(e) => Err(Error::new(ErrorKind::Internal, format!("operation failed: {e}"))),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock is a bug; the registry is still
        // consistent (every change is made whole under the lock).
        self.reg.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, reg: &mut Registry, uuid: &Uuid, kind: EventKind, detail: EventDetail) {
        reg.emit(uuid, kind, detail, &self.revision_tx);
    }

    /// Waits for the domain's job lock.
    async fn job(&self, uuid: &Uuid) -> Result<(OwnedMutexGuard<()>, DomainRef)> {
        let (job, name) = {
            let reg = self.lock();
            let r = reg.get(uuid)?;
            (r.job.clone(), r.name.clone())
        };
        let guard = tokio::time::timeout(self.config.job_wait, job.lock_owned())
            .await
            .map_err(|_| Error::new(ErrorKind::Timeout, format!("domain '{name}' is busy with another operation")))?;
        // It may have gone while we waited.
        let reg = self.lock();
        let r = reg.get(uuid)?;
        Ok((guard, r.dom_ref()))
    }

    async fn wait_job(&self, job: &Arc<tokio::sync::Mutex<()>>, name: &str) -> Result<OwnedMutexGuard<()>> {
        tokio::time::timeout(self.config.job_wait, job.clone().lock_owned())
            .await
            .map_err(|_| Error::new(ErrorKind::Timeout, format!("domain '{name}' is busy with another operation")))
    }

    /// Checks and completes a definition before it is stored or started.
    fn prepare(&self, mut def: Domain) -> Result<Domain> {
        def.validate().map_err(Error::invalid_document)?;
        self.driver.prepare(&mut def)?;
        def.validate().map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("the {} driver made the definition invalid: {e}", self.driver.name()),
            )
        })?;
        Ok(def)
    }

    async fn define(&self, def: Domain, opts: DefineOptions) -> Result<DomainInfo> {
        let def = Arc::new(self.prepare(def)?);
        let (uuid, name) = (def.uuid, def.name.clone());
        // A new domain is reserved (hidden) under the registry lock, so the
        // name is taken while its file is written outside the lock.
        let (job, new) = {
            let mut reg = self.lock();
            check_identity(&reg, uuid, &name)?;
            match reg.domains.get(&uuid) {
                Some(r) => (r.job.clone(), false),
                None => {
                    if let Some(g) = opts.expected_generation.filter(|g| *g != 0) {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!("domain '{name}' does not exist (expected generation {g})"),
                        ));
                    }
                    let mut r = Record::new(uuid, name.clone());
                    r.hidden = true;
                    let job = r.job.clone();
                    reg.names.insert(name.clone(), uuid);
                    reg.domains.insert(uuid, r);
                    (job, true)
                }
            }
        };
        let _job = self.wait_job(&job, &name).await?;
        let (generation, autostart) = {
            let reg = self.lock();
            let r = reg.domains.get(&uuid).ok_or_else(|| Error::not_found(&name))?;
            if let Some(g) = opts.expected_generation.filter(|g| !new && *g != r.generation) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("domain '{name}' is at generation {}, not {g}", r.generation),
                ));
            }
            (r.generation + 1, r.autostart)
        };
        if let Some(store) = &self.store
            && let Err(e) = store.save_def(&uuid, generation, autostart, &def)
        {
            if new {
                self.lock().remove(&uuid);
            }
            return Err(e);
        }
        let mut reg = self.lock();
        let r = reg.get_mut(&uuid)?;
        r.config = Some(def);
        r.generation = generation;
        r.hidden = false;
        let info = r.info();
        let detail = if new { EventDetail::Added } else { EventDetail::Updated };
        self.emit(&mut reg, &uuid, EventKind::Defined, detail);
        Ok(info)
    }

    async fn undefine(&self, uuid: Uuid, opts: UndefineOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        {
            let reg = self.lock();
            let r = reg.get(&uuid)?;
            if r.config.is_none() {
                return Err(Error::state(format!(
                    "domain '{}' is transient: it has no definition to remove",
                    dom.name
                )));
            }
            if let Some(g) = opts.expected_generation.filter(|g| *g != r.generation) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("domain '{}' is at generation {}, not {g}", dom.name, r.generation),
                ));
            }
        }
        if let Some(store) = &self.store {
            store.remove_def(&uuid)?;
        }
        let mut reg = self.lock();
        let r = reg.get_mut(&uuid)?;
        // A running domain keeps running, as a transient one.
        r.config = None;
        r.autostart = false;
        let active = r.active();
        self.emit(&mut reg, &uuid, EventKind::Undefined, EventDetail::Removed);
        if !active {
            reg.remove(&uuid);
        }
        Ok(())
    }

    async fn create(&self, def: Domain, opts: CreateOptions) -> Result<DomainInfo> {
        let def = Arc::new(self.prepare(def)?);
        let (uuid, name) = (def.uuid, def.name.clone());
        let job = {
            let mut reg = self.lock();
            check_identity(&reg, uuid, &name)?;
            if reg.domains.contains_key(&uuid) {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("domain '{name}' already exists")));
            }
            let mut r = Record::new(uuid, name.clone());
            r.hidden = true;
            let job = r.job.clone();
            reg.names.insert(name.clone(), uuid);
            reg.domains.insert(uuid, r);
            job
        };
        let _job = job.lock().await;
        let dom = DomainRef::new(uuid, name);
        match self.boot(&dom, def, &StartOptions { paused: opts.paused }, true).await {
            Ok(info) => Ok(info),
            Err(e) => {
                self.lock().remove(&uuid);
                Err(e)
            }
        }
    }

    async fn start(&self, uuid: Uuid, opts: StartOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        let def = {
            let reg = self.lock();
            let r = reg.get(&uuid)?;
            if r.active() {
                return Err(Error::state(format!("domain '{}' is already {}", r.name, r.state.state.display_name())));
            }
            r.config.clone().ok_or_else(|| Error::new(ErrorKind::Internal, "inactive domain without definition"))?
        };
        self.boot(&dom, def, &opts, false).await?;
        Ok(())
    }

    /// Starts the domain with the driver and records it: the runtime
    /// status is on disk before the domain shows as running (so nothing is
    /// left running unrecorded), and the new state and its events appear in
    /// one step (so no list sees one without the other).
    async fn boot(&self, dom: &DomainRef, def: Arc<Domain>, opts: &StartOptions, unhide: bool) -> Result<DomainInfo> {
        let s: Started = self.driver.start(dom, def, opts).await?;
        let id = {
            let mut reg = self.lock();
            let id = reg.next_id;
            reg.next_id += 1;
            id
        };
        if let Some(store) = &self.store {
            let file = RunFile {
                name: dom.name.clone(),
                id: Some(id),
                state: s.state.state,
                reason: s.state.reason,
                live: s.live.to_xml(),
                driver: s.data.clone(),
            };
            if let Err(e) = store.save_run(&dom.uuid, &file) {
                // Not recorded: tear it down rather than leave it running unknown.
                let _ = self.driver.power_off(dom).await;
                return Err(e);
            }
        }
        let mut reg = self.lock();
        let r = reg.get_mut(&dom.uuid)?;
        r.live = Some(s.live);
        r.state = s.state;
        r.id = Some(id);
        r.data = s.data;
        r.stopping = None;
        if unhide {
            r.hidden = false;
        }
        let info = r.info();
        self.emit_started(&mut reg, &dom.uuid, s.state);
        Ok(info)
    }

    fn emit_started(&self, reg: &mut Registry, uuid: &Uuid, state: State) {
        let paused = state.state == DomainState::Paused;
        if paused {
            // libvirt's order: started, then suspended. Both carry the final state.
            self.emit(reg, uuid, EventKind::Started, EventDetail::Booted);
            self.emit(reg, uuid, EventKind::Suspended, EventDetail::Paused);
        } else {
            self.emit(reg, uuid, EventKind::Started, EventDetail::Booted);
        }
    }

    /// Checks the domain is in one of `states`, or says why not.
    fn expect_state(&self, uuid: &Uuid, states: &[DomainState], doing: &str) -> Result<()> {
        let reg = self.lock();
        let r = reg.get(uuid)?;
        if states.contains(&r.state.state) {
            Ok(())
        } else {
            Err(Error::state(format!("cannot {doing} domain '{}': it is {}", r.name, r.state.state.display_name())))
        }
    }

    async fn shutdown(&self, uuid: Uuid, opts: ShutdownOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        self.expect_state(&uuid, &[DomainState::Running], "shut down")?;
        self.driver.shutdown(&dom, opts.mode).await
    }

    async fn power_off(&self, uuid: Uuid, _opts: PowerOffOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        {
            let mut reg = self.lock();
            let r = reg.get_mut(&uuid)?;
            if !r.active() {
                return Err(Error::state(format!("cannot power off domain '{}': it is shut off", r.name)));
            }
            r.stopping = Some(StateReason::Destroyed);
        }
        let res = self.driver.power_off(&dom).await;
        if res.is_ok() {
            // The driver may have reported the stop already; this is then a no-op.
            self.driver_stopped(uuid, State::new(DomainState::Shutoff, StateReason::Destroyed));
        } else if let Ok(r) = self.lock().get_mut(&uuid) {
            r.stopping = None;
        }
        res
    }

    async fn reboot(&self, uuid: Uuid, opts: RebootOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        self.expect_state(&uuid, &[DomainState::Running], "reboot")?;
        self.driver.reboot(&dom, opts.mode).await
    }

    async fn reset(&self, uuid: Uuid, _opts: ResetOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        self.expect_state(&uuid, &[DomainState::Running, DomainState::Paused], "reset")?;
        self.driver.reset(&dom).await?;
        let mut reg = self.lock();
        self.emit(&mut reg, &uuid, EventKind::Changed, EventDetail::Reset);
        Ok(())
    }

    async fn suspend(&self, uuid: Uuid, _opts: SuspendOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        self.expect_state(&uuid, &[DomainState::Running], "suspend")?;
        self.driver.suspend(&dom).await?;
        self.set_state(&uuid, State::new(DomainState::Paused, StateReason::User));
        Ok(())
    }

    async fn resume(&self, uuid: Uuid, _opts: ResumeOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        self.expect_state(&uuid, &[DomainState::Paused], "resume")?;
        self.driver.resume(&dom).await?;
        self.set_state(&uuid, State::new(DomainState::Running, StateReason::Unpaused));
        Ok(())
    }

    async fn set_autostart(&self, uuid: Uuid, enabled: bool, _opts: AutostartOptions) -> Result<()> {
        let (_job, dom) = self.job(&uuid).await?;
        let (config, generation) = {
            let reg = self.lock();
            let r = reg.get(&uuid)?;
            let Some(config) = r.config.clone() else {
                return Err(Error::state(format!("domain '{}' is transient: it cannot autostart", dom.name)));
            };
            if r.autostart == enabled {
                return Ok(());
            }
            (config, r.generation)
        };
        if let Some(store) = &self.store {
            store.save_def(&uuid, generation, enabled, &config)?;
        }
        let mut reg = self.lock();
        reg.get_mut(&uuid)?.autostart = enabled;
        self.emit(&mut reg, &uuid, EventKind::Changed, EventDetail::Autostart);
        Ok(())
    }

    /// Moves an active domain to `state` and emits the matching event.
    fn set_state(&self, uuid: &Uuid, state: State) {
        let mut reg = self.lock();
        let Ok(r) = reg.get_mut(uuid) else { return };
        if !r.active() || r.state == state {
            return;
        }
        r.state = state;
        let (kind, detail) = match (state.state, state.reason) {
            (DomainState::Paused, StateReason::IoError) => (EventKind::Suspended, EventDetail::Paused),
            (DomainState::Paused, _) => (EventKind::Suspended, EventDetail::Paused),
            (DomainState::Running, StateReason::Wakeup) => (EventKind::Started, EventDetail::Wakeup),
            (DomainState::Running, _) => (EventKind::Resumed, EventDetail::Unpaused),
            (DomainState::ShuttingDown, _) => (EventKind::Shutdown, EventDetail::Guest),
            (DomainState::Crashed, _) => (EventKind::Crashed, EventDetail::Panicked),
            (DomainState::PmSuspended, _) => (EventKind::PmSuspended, EventDetail::Memory),
            (DomainState::Shutoff, _) => (EventKind::Stopped, EventDetail::Failed),
        };
        self.emit(&mut reg, uuid, kind, detail);
        let file = reg.domains.get(uuid).and_then(Record::run_file);
        drop(reg);
        // The stored state is a hint (a new engine asks the driver for the
        // true one), so this write is outside the registry lock and its
        // failure only logged.
        if let (Some(store), Some(f)) = (&self.store, file)
            && let Err(e) = store.save_run(uuid, &f)
        {
            tracing::warn!("{e}");
        }
    }

    /// A domain stopped: it is shut off now (or gone, if transient).
    pub(crate) fn driver_stopped(&self, uuid: Uuid, state: State) {
        let mut reg = self.lock();
        let Ok(r) = reg.get_mut(&uuid) else { return };
        if !r.active() {
            return;
        }
        let reason = r.stopping.take().unwrap_or(state.reason);
        r.state = State::new(DomainState::Shutoff, reason);
        r.id = None;
        r.live = None;
        r.data = serde_json::Value::Null;
        let transient = r.config.is_none();
        if reason == StateReason::Shutdown {
            self.emit(&mut reg, &uuid, EventKind::Shutdown, EventDetail::Finished);
        }
        let detail = match reason {
            StateReason::Shutdown => EventDetail::Shutdown,
            StateReason::Destroyed => EventDetail::Destroyed,
            StateReason::Crashed => EventDetail::Crashed,
            StateReason::Saved => EventDetail::Saved,
            StateReason::Migrated => EventDetail::Migrated,
            _ => EventDetail::Failed,
        };
        self.emit(&mut reg, &uuid, EventKind::Stopped, detail);
        if transient {
            reg.remove(&uuid);
        }
        drop(reg);
        if let Some(store) = &self.store
            && let Err(e) = store.remove_run(&uuid)
        {
            tracing::warn!("{e}");
        }
    }

    pub(crate) fn driver_state_changed(&self, uuid: Uuid, state: State) {
        if state.state == DomainState::Shutoff {
            self.driver_stopped(uuid, state);
        } else {
            self.set_state(&uuid, state);
        }
    }

    pub(crate) fn driver_rebooted(&self, uuid: Uuid) {
        let mut reg = self.lock();
        if reg.get(&uuid).is_ok_and(Record::active) {
            self.emit(&mut reg, &uuid, EventKind::Changed, EventDetail::Rebooted);
        }
    }
}

/// A name belongs to one UUID and a UUID to one name.
fn check_identity(reg: &Registry, uuid: Uuid, name: &str) -> Result<()> {
    if let Some(other) = reg.names.get(name).filter(|u| **u != uuid) {
        return Err(Error::new(ErrorKind::AlreadyExists, format!("domain '{name}' already exists with uuid {other}")));
    }
    if let Some(r) = reg.domains.get(&uuid).filter(|r| r.name != name) {
        return Err(Error::new(
            ErrorKind::AlreadyExists,
            format!("domain with uuid {uuid} already exists as '{}'", r.name),
        ));
    }
    Ok(())
}

/// A stream of events, each once, in revision order, with no gaps.
pub struct Watcher {
    inner: Arc<Inner>,
    cursor: u64,
    rx: watch::Receiver<u64>,
    pending: VecDeque<Event>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("cursor", &self.cursor).finish_non_exhaustive()
    }
}

impl Watcher {
    /// The revision of the last event delivered (or the starting revision).
    pub fn revision(&self) -> u64 {
        self.cursor
    }

    /// The next event, waiting for one if needed. `RevisionGone` when
    /// events after the cursor were dropped from the bounded history: list
    /// again and watch from the new revision.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            self.rx.borrow_and_update();
            if let Some(e) = self.try_next()? {
                return Ok(e);
            }
            if self.rx.changed().await.is_err() {
                return Err(Error::new(ErrorKind::Disconnected, "the engine has shut down"));
            }
        }
    }

    /// The next event if one is ready, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        if self.pending.is_empty() {
            let reg = self.inner.lock();
            let oldest = reg.history.front().map_or(reg.revision + 1, |e| e.revision);
            if self.cursor + 1 < oldest {
                return Err(Error::new(
                    ErrorKind::RevisionGone,
                    format!("events after revision {} are no longer kept (oldest is {oldest})", self.cursor),
                ));
            }
            let skip = usize::try_from((self.cursor + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
            self.pending.extend(reg.history.iter().skip(skip).take(256).cloned());
        }
        Ok(self.pending.pop_front().inspect(|e| self.cursor = e.revision))
    }
}
