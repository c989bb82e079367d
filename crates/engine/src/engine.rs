//! The engine: one host. It holds the registry of every kind of object,
//! their jobs, their persistence and the drivers, and answers the API.
//!
//! Locking: the registry sits behind one short `std::sync::Mutex`, never
//! held across an `.await`; every change and the revision it bumps happen
//! under it, so a list taken under it is never torn. Each object also has a
//! job slot held for the whole of an operation that changes it (define,
//! start, shutdown …); queries never take job slots. Operations run as
//! tasks of their own, so a job whose caller goes away still finishes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;
use virtkit_model::domain::Domain;

use crate::domain::DomainKind;
use crate::driver::{Console, DomainDriver, DomainRef, DriverEvents};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::Kind;
use crate::network_driver::NetworkDriver;
use crate::options::{
    AutostartOptions, CreateOptions, DefineOptions, InfoOptions, ListOptions, NativeOptions, PowerOffOptions,
    RebootOptions, ResetOptions, ResumeOptions, ShutdownOptions, StartOptions, SuspendOptions, UndefineOptions,
    WatchOptions, XmlOptions, only_pools_are_built,
};
use crate::registry::{Registry, Watcher};
use crate::storage_driver::StorageDriver;
use crate::store::Store;
use crate::types::{Capabilities, DomainInfo, DomainList, DomainStats, EventDetail, EventKind, HostInfo, ObjectKind};

/// Tunables of an engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Events kept for `watch` to resume from.
    pub history: usize,
    /// How long an operation waits for another one on the same object.
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

/// The drivers of one host.
#[derive(Clone, Default)]
#[allow(missing_debug_implementations)] // trait objects
#[non_exhaustive]
pub struct Drivers {
    /// Domain drivers, each for the domain types its capabilities name; the
    /// first one speaks for the host (capabilities, host facts).
    pub domains: Vec<Arc<dyn DomainDriver>>,
    /// The host's networking, if it manages networks.
    pub network: Option<Arc<dyn NetworkDriver>>,
    /// The host's storage, if it manages pools.
    pub storage: Option<Arc<dyn StorageDriver>>,
}

impl Drivers {
    pub fn new(domain: Arc<dyn DomainDriver>) -> Self {
        Drivers { domains: vec![domain], network: None, storage: None }
    }

    /// The host's network driver.
    #[must_use]
    pub fn with_network_driver(mut self, d: Arc<dyn NetworkDriver>) -> Self {
        self.network = Some(d);
        self
    }

    /// The host's storage driver.
    #[must_use]
    pub fn with_storage_driver(mut self, d: Arc<dyn StorageDriver>) -> Self {
        self.storage = Some(d);
        self
    }

    /// Another domain driver, for the types it names.
    #[must_use]
    pub fn with_domain_driver(mut self, d: Arc<dyn DomainDriver>) -> Self {
        self.domains.push(d);
        self
    }
}

/// The engine. Cheap to clone: clones share one host.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("driver", &self.driver_name()).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    /// This engine, for work it starts in the background.
    pub(crate) me: std::sync::Weak<Inner>,
    pub(crate) drivers: Drivers,
    /// The domain types each domain driver runs, by its index.
    pub(crate) domain_types: Vec<Vec<String>>,
    reg: Mutex<Registry>,
    pub(crate) revision_tx: watch::Sender<u64>,
    pub(crate) config: EngineConfig,
    pub(crate) store: Option<Store>,
    problems: Mutex<Vec<String>>,
}

impl Engine {
    /// An engine that keeps everything in memory (`config.state_dir` is
    /// ignored: use [`Engine::open`] for one that persists).
    pub fn new(driver: Arc<dyn DomainDriver>, config: EngineConfig) -> Engine {
        Engine::build(Drivers::new(driver), config, None)
    }

    /// A host with these drivers, in memory.
    pub fn with_drivers(drivers: Drivers, config: EngineConfig) -> Engine {
        Engine::build(drivers, config, None)
    }

    /// An engine on `config.state_dir` (or in memory without one): it takes
    /// the directory (one engine at a time), loads every definition, and
    /// takes over every object a previous engine left active.
    pub async fn open(driver: Arc<dyn DomainDriver>, config: EngineConfig) -> Result<Engine> {
        Engine::open_host(Drivers::new(driver), config).await
    }

    /// [`Engine::open`] for a host with several drivers.
    pub async fn open_host(drivers: Drivers, config: EngineConfig) -> Result<Engine> {
        let Some(dir) = config.state_dir.clone() else {
            return Ok(Engine::build(drivers, config, None));
        };
        let store = Store::open(&dir, config.lock_wait)?;
        let mut problems = Vec::new();
        store.migrate_v1(&mut problems);
        let engine = Engine::build(drivers, config, Some(store));
        if let Some(store) = &engine.inner.store {
            engine.inner.load_secrets(store, &mut problems);
            engine.inner.load_networks(store, &mut problems).await;
            engine.inner.load_pools(store, &mut problems).await;
            engine.inner.load_domains(store, &mut problems).await;
            engine.inner.recount_ports();
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

    fn build(drivers: Drivers, config: EngineConfig, store: Option<Store>) -> Engine {
        let (revision_tx, _) = watch::channel(0);
        let domain_types = drivers.domains.iter().map(|d| d.domain_types()).collect();
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            domain_types,
            store,
            problems: Mutex::new(Vec::new()),
            reg: Mutex::new(Registry::new(config.history)),
            drivers,
            revision_tx,
            config,
        });
        for d in &inner.drivers.domains {
            d.attach(DriverEvents { engine: Arc::downgrade(&inner) });
        }
        Engine { inner }
    }

    /// The name of the driver that speaks for the host.
    pub fn driver_name(&self) -> &'static str {
        self.inner.drivers.domains.first().map_or("none", |d| d.name())
    }

    pub fn capabilities(&self) -> Capabilities {
        let mut c: Capabilities = self.inner.drivers.domains.first().map(|d| d.capabilities()).unwrap_or_default();
        c.pool_types = self.pool_types().iter().map(|t| t.as_str().to_owned()).collect();
        c
    }

    pub fn host_info(&self) -> HostInfo {
        match self.inner.drivers.domains.first() {
            Some(d) => d.host_info(),
            None => HostInfo::new("", std::env::consts::ARCH, 0, 0),
        }
    }

    /// The configuration `def` would start with, in the driver's own form
    /// (`qemu-argv` for QEMU): nothing is started or stored.
    pub async fn to_native(&self, def: Domain, format: &str, _opts: NativeOptions) -> Result<String> {
        let mut def = def;
        let driver = self.inner.domain_driver(&def)?.clone();
        driver.prepare(&mut def)?;
        driver.native_config(&def, format).await
    }

    /// The latest revision.
    pub fn revision(&self) -> u64 {
        self.inner.lock().revision
    }

    // ---- queries: never wait for a job ----

    /// Finds a domain by UUID or by name.
    pub fn lookup(&self, key: &str) -> Result<DomainInfo> {
        self.inner.lookup::<DomainKind>(Uuid::nil(), key)
    }

    pub async fn info(&self, uuid: Uuid, opts: InfoOptions) -> Result<DomainInfo> {
        let mut info = self.inner.info_of::<DomainKind>(&uuid)?;
        if opts.stats && info.state.is_active() {
            info.stats = self.inner.stats(&[DomainRef::new(uuid, info.name.clone())]).await.pop().flatten();
        }
        Ok(info)
    }

    /// One consistent snapshot of every domain the options select, sorted by
    /// name, with the revision it shows.
    pub async fn list(&self, opts: ListOptions) -> Result<DomainList> {
        let mut list = self.inner.list::<DomainKind>(
            |r| {
                (opts.states.is_empty() || opts.states.contains(&r.state.state))
                    && opts.active.is_none_or(|a| a == r.active())
                    && opts.persistent.is_none_or(|p| p == r.config.is_some())
            },
            |a, b| a.name.cmp(&b.name),
        );
        if opts.stats {
            let (idx, refs): (Vec<usize>, Vec<DomainRef>) = list
                .items
                .iter()
                .enumerate()
                .filter(|(_, d)| d.state.is_active())
                .map(|(i, d)| (i, DomainRef::new(d.uuid, d.name.clone())))
                .unzip();
            let stats = self.inner.stats(&refs).await;
            for (i, s) in idx.into_iter().zip(stats) {
                list.items[i].stats = s;
            }
        }
        Ok(list)
    }

    /// The domain's definition: the running one, or with `inactive` the
    /// stored one (a transient domain has only the running one).
    pub fn definition(&self, uuid: Uuid, opts: XmlOptions) -> Result<Arc<Domain>> {
        self.inner.shown::<DomainKind>(&uuid, &opts)
    }

    pub async fn stats(&self, uuid: Uuid) -> Result<Option<DomainStats>> {
        let info = self.inner.info_of::<DomainKind>(&uuid)?;
        if !info.state.is_active() {
            return Ok(None);
        }
        Ok(self.inner.stats(&[DomainRef::new(uuid, info.name)]).await.pop().flatten())
    }

    /// Opens the domain's console (`device`: a serial or console alias;
    /// `None` for the first).
    pub async fn open_console(&self, uuid: Uuid, device: Option<&str>) -> Result<Console> {
        self.inner.open_console(uuid, device).await
    }

    /// Every event after `from_revision`, in order, without gaps (of the
    /// kinds asked for, or every kind).
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
        Ok(Watcher { inner: self.inner.clone(), cursor, rx, pending: Default::default(), kinds: opts.kinds })
    }

    /// Asks the job an object is busy with to stop (a long one: an
    /// upload, a clone …); it is undone. `false` when it has none.
    pub fn cancel_job(&self, kind: ObjectKind, uuid: Uuid) -> Result<bool> {
        let (slot, what) = self.inner.job_slot(kind, &uuid)?;
        slot.cancel(&what)
    }

    // ---- changes: one job at a time per object ----

    /// Stores a definition, creating the domain or replacing its definition.
    pub async fn define(&self, def: Domain, opts: DefineOptions) -> Result<DomainInfo> {
        self.run(move |i| async move { i.define::<DomainKind>(def, opts).await }).await
    }

    /// Removes a domain's stored definition; the info it is left with.
    pub async fn undefine(&self, uuid: Uuid, opts: UndefineOptions) -> Result<DomainInfo> {
        self.run(move |i| async move { i.undefine::<DomainKind>(uuid, opts).await }).await
    }

    /// Starts a transient domain from a definition that is not stored.
    pub async fn create(&self, def: Domain, opts: CreateOptions) -> Result<DomainInfo> {
        only_pools_are_built(ObjectKind::Domain, opts.build.as_ref())?;
        self.run(move |i| async move { i.create(def, opts).await }).await
    }

    pub async fn start(&self, uuid: Uuid, opts: StartOptions) -> Result<DomainInfo> {
        only_pools_are_built(ObjectKind::Domain, opts.build.as_ref())?;
        self.run(move |i| async move { i.start(uuid, opts).await }).await
    }

    /// Asks the guest to power off; with a timeout, waits for it.
    pub async fn shutdown(&self, uuid: Uuid, opts: ShutdownOptions) -> Result<()> {
        let timeout = opts.timeout;
        let mut rx = self.inner.revision_tx.subscribe();
        self.run(move |i| async move { i.shutdown(uuid, opts).await }).await?;
        let Some(limit) = timeout else { return Ok(()) };
        let wait = async {
            loop {
                rx.borrow_and_update();
                let done = match self.inner.lock().domains.get(&uuid) {
                    Ok(r) => !r.active(),
                    Err(_) => true,
                };
                if done || rx.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.map_err(|_| {
            Error::new(ErrorKind::Timeout, format!("the guest did not power off within {}s", limit.as_secs_f64()))
        })
    }

    pub async fn power_off(&self, uuid: Uuid, _opts: PowerOffOptions) -> Result<DomainInfo> {
        self.run(move |i| async move { i.power_off(uuid).await }).await
    }

    pub async fn reboot(&self, uuid: Uuid, opts: RebootOptions) -> Result<()> {
        self.run(move |i| async move { i.reboot(uuid, opts.mode).await }).await
    }

    pub async fn reset(&self, uuid: Uuid, _opts: ResetOptions) -> Result<DomainInfo> {
        self.run(move |i| async move { i.reset(uuid).await }).await
    }

    pub async fn suspend(&self, uuid: Uuid, _opts: SuspendOptions) -> Result<DomainInfo> {
        self.run(move |i| async move { i.suspend(uuid).await }).await
    }

    pub async fn resume(&self, uuid: Uuid, _opts: ResumeOptions) -> Result<DomainInfo> {
        self.run(move |i| async move { i.resume(uuid).await }).await
    }

    pub async fn set_autostart(&self, uuid: Uuid, enabled: bool, _opts: AutostartOptions) -> Result<DomainInfo> {
        self.run(move |i| async move { i.set_autostart::<DomainKind>(uuid, enabled).await }).await
    }

    /// Runs an operation as its own task: if the caller goes away, the job
    /// still finishes (or rolls back) instead of stopping half-way.
    pub(crate) async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        match tokio::spawn(f(self.inner.clone())).await {
            Ok(r) => r,
            Err(e) => Err(Error::new(ErrorKind::Internal, format!("operation failed: {e}"))),
        }
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock is a bug; the registry is still
        // consistent (every change is made whole under the lock).
        self.reg.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit<K: Kind>(&self, reg: &mut Registry, uuid: &Uuid, kind: EventKind, detail: EventDetail) {
        reg.emit::<K>(uuid, kind, detail, &self.revision_tx);
    }
}
