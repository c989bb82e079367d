//! virtkit: one stable API to define, start, stop and watch virtual
//! machines and containers, whatever runs them.
//!
//! Open a [`Connection`] by URI, then work with [`Domain`] handles. Every
//! operation takes an options value (`Default::default()` for none), so
//! new parameters arrive as new fields, never as new calls.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), virtkit::Error> {
//! use virtkit::{Connection, ListOptions, StartOptions};
//!
//! let conn = Connection::open("test:///default").await?;
//! let xml = "<domain type='test'>
//!   <name>demo</name>
//!   <memory unit='MiB'>256</memory>
//!   <os><type>hvm</type></os>
//! </domain>";
//! let dom = conn.define_xml(xml, Default::default()).await?;
//! dom.start(StartOptions::default()).await?;
//!
//! let list = conn.list_domains(ListOptions::default()).await?;
//! for d in &list.items {
//!     println!("{} {}", d.name, d.state);
//! }
//! # Ok(())
//! # }
//! ```

mod daemon;
mod defaults;
mod objects;
mod remote;
mod remote_objects;
mod secrets;
mod tls;
mod transfer;
mod uri;

use std::sync::{Arc, Mutex, Weak};

use uuid::Uuid;
use virtkit_engine::Engine;
use virtkit_engine::options::only_pools_are_built;
use virtkit_model::domain::Domain as DomainDef;

pub use daemon::daemon_socket;
pub use objects::{
    BuildOptions, Def, DeleteOptions, Handle, Info, Lease, LeaseOptions, Network, NetworkInfo, NetworkUpdate,
    NetworkUpdateCommand, NetworkUpdateOptions, NetworkUpdateSection, PoolInfo, RefreshOptions, ResizeOptions, Secret,
    SecretInfo, StopOptions, StoragePool, StorageVolume, TransferOptions, VolumeCreateOptions, VolumeInfo,
    WipeAlgorithm, WipeOptions, kinds, parse_document,
};
pub use secrets::SecretValueOptions;
pub use uri::Uri;
pub use virtkit_engine::options::{
    AddressSource, AutostartOptions, CreateOptions, DefineOptions, InfoOptions, InterfaceAddressOptions, ListOptions,
    NativeOptions, PowerOffOptions, RebootOptions, ResetOptions, ResumeOptions, ShutdownMode, ShutdownOptions,
    StartOptions, StatsOptions, SuspendOptions, UndefineOptions, WatchOptions, XmlOptions,
};
pub use virtkit_engine::seams::SecretBytes;
pub use virtkit_engine::types::{
    BlockStats, Capabilities, DomainInfo, DomainList, DomainState, DomainStats, Event, EventDetail, EventKind,
    HostInfo, JobInfo, JobKind, List, NetStats, ObjectKind, ObjectState, ResourceState, State, StateReason, Version,
};
pub use virtkit_engine::{Console, ConsoleIo, Error, ErrorKind, Piece};
/// The document model: typed domain definitions, XML and JSON.
pub use virtkit_model as model;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// This library's version.
pub fn version() -> Version {
    let n = |s: &str| s.parse().unwrap_or(0);
    Version::new(
        n(env!("CARGO_PKG_VERSION_MAJOR")),
        n(env!("CARGO_PKG_VERSION_MINOR")),
        n(env!("CARGO_PKG_VERSION_PATCH")),
    )
}

/// Options for opening a console.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsoleOptions {
    /// `serialN` or `consoleN`; `None` for the first.
    pub device: Option<String>,
}

impl ConsoleOptions {
    #[must_use]
    pub fn device(mut self, name: impl Into<String>) -> Self {
        self.device = Some(name.into());
        self
    }
}

/// Options for opening a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Refuse every call that changes something (`PermissionDenied`).
    pub read_only: bool,
}

impl OpenOptions {
    #[must_use]
    pub fn read_only(mut self, value: bool) -> Self {
        self.read_only = value;
        self
    }
}

/// A connection to a hypervisor driver. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnInner>,
}

struct ConnInner {
    uri: Uri,
    backend: Backend,
    read_only: bool,
}

/// Where the calls go: an engine in this process, or a daemon.
enum Backend {
    Local(Arc<Engine>),
    Remote(Box<remote::Remote>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("uri", &self.inner.uri.to_string()).finish_non_exhaustive()
    }
}

/// The process-wide `test:///default`, shared while any connection holds it
/// (as libvirt shares it).
static DEFAULT_TEST: Mutex<Weak<Engine>> = Mutex::new(Weak::new());

impl Connection {
    /// Opens a connection.
    ///
    /// URIs: `test:///default` (an in-memory test host with a running domain
    /// `test`, shared within the process), `test:///ABS/PATH.xml` (a test
    /// host loaded from a `<node>` document, private to the connection),
    /// `qemu:///embed?root=DIR` (the QEMU driver in this process); every
    /// other URI reaches a daemon: `qemu:///system`, `qemu:///session`
    /// (started on first use), `DRIVER+unix:///PATH?socket=SOCK`,
    /// `DRIVER+tls://HOST[:PORT]/PATH?pkipath=DIR`,
    /// `DRIVER+ssh://[USER@]HOST[:PORT]/PATH`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), virtkit::Error> {
    /// let conn = virtkit::Connection::open("test:///default").await?;
    /// let test = conn.lookup_domain("test").await?;
    /// assert_eq!(test.info(Default::default()).await?.state, virtkit::DomainState::Running);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(uri: &str) -> Result<Connection> {
        Connection::open_with(uri, OpenOptions::default()).await
    }

    pub async fn open_with(uri: &str, opts: OpenOptions) -> Result<Connection> {
        let parsed = Uri::parse(uri)?;
        let local = match (parsed.driver.as_str(), parsed.is_local()) {
            ("test", true) => Some(open_test(&parsed).await?),
            ("qemu", true) if parsed.path == "/embed" => Some(open_qemu(&parsed).await?),
            ("test" | "qemu", _) => None,
            (driver, _) => {
                return Err(Error::new(ErrorKind::Unsupported, format!("no driver '{driver}' in this build")));
            }
        };
        let backend = match local {
            Some(engine) => Backend::Local(engine),
            None => {
                let transport = daemon::transport_for(&parsed, opts.read_only).await?;
                Backend::Remote(Box::new(remote::Remote::connect(&parsed, transport).await?))
            }
        };
        let read_only = opts.read_only || matches!(&backend, Backend::Remote(r) if r.read_only);
        Ok(Connection { inner: Arc::new(ConnInner { uri: parsed, backend, read_only }) })
    }

    pub fn uri(&self) -> &Uri {
        &self.inner.uri
    }

    /// Problems met while opening (state files that could not be used;
    /// they were left as they are); through a daemon, those its driver met
    /// when the daemon opened it.
    pub fn warnings(&self) -> Vec<String> {
        match &self.inner.backend {
            Backend::Local(e) => e.load_problems(),
            Backend::Remote(r) => r.warnings.clone(),
        }
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    fn writable(&self) -> Result<()> {
        if self.inner.read_only {
            Err(Error::new(ErrorKind::PermissionDenied, "this connection is read-only"))
        } else {
            Ok(())
        }
    }

    /// The driver's version: this library's for in-process drivers, the
    /// daemon's through one.
    pub async fn version(&self) -> Result<Version> {
        match self.backend() {
            Backend::Local(_) => Ok(version()),
            Backend::Remote(r) => Ok(r.version),
        }
    }

    pub async fn capabilities(&self) -> Result<Capabilities> {
        match self.backend() {
            Backend::Local(e) => Ok(e.capabilities()),
            Backend::Remote(r) => r.capabilities().await,
        }
    }

    pub async fn host_info(&self) -> Result<HostInfo> {
        match self.backend() {
            Backend::Local(e) => Ok(e.host_info()),
            Backend::Remote(r) => r.host_info().await,
        }
    }

    /// The configuration the definition `xml` would start with, in the
    /// driver's own form (virsh's `domxml-to-native`): for QEMU,
    /// `qemu-argv`, its environment, emulator and arguments, one per line.
    /// Nothing is started, stored or changed on the host.
    pub async fn domain_xml_to_native(&self, format: &str, xml: &str, opts: NativeOptions) -> Result<String> {
        match self.backend() {
            Backend::Local(e) => e.to_native(parse(xml)?, format, opts).await,
            Backend::Remote(r) => {
                parse(xml)?;
                r.to_native(format, xml.to_owned()).await
            }
        }
    }

    /// Stores a definition given as XML: creates the domain, or replaces the
    /// definition of the domain with the same name and UUID.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use virtkit::{Connection, DefineOptions, ErrorKind};
    /// let conn = Connection::open("test:///default").await.unwrap();
    /// let xml = "<domain type='test'><nam>x</nam><memory>1</memory><os><type>hvm</type></os></domain>";
    /// let err = conn.define_xml(xml, DefineOptions::default())
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidDocument);
    /// // Every problem, with line, column and path:
    /// assert_eq!(err.document_errors().unwrap().first().path, "/domain/nam");
    /// # }
    /// ```
    pub async fn define_xml(&self, xml: &str, opts: DefineOptions) -> Result<Domain> {
        self.define(parse(xml)?, opts).await
    }

    /// Stores a definition given as a model value.
    pub async fn define(&self, def: DomainDef, opts: DefineOptions) -> Result<Domain> {
        self.writable()?;
        let info = match self.backend() {
            Backend::Local(e) => e.define(def, opts).await?,
            Backend::Remote(r) => r.define(def.to_xml(), opts).await?,
        };
        Ok(self.handle(info))
    }

    /// Starts a transient domain from XML: it is not stored, and is gone
    /// once it stops.
    pub async fn create_xml(&self, xml: &str, opts: CreateOptions) -> Result<Domain> {
        self.create(parse(xml)?, opts).await
    }

    pub async fn create(&self, def: DomainDef, opts: CreateOptions) -> Result<Domain> {
        self.writable()?;
        let info = match self.backend() {
            Backend::Local(e) => e.create(def, opts).await?,
            Backend::Remote(r) => {
                // A domain's calls on the wire carry no build: refused here,
                // as the engine refuses it in process.
                only_pools_are_built(ObjectKind::Domain, opts.build.as_ref())?;
                r.create(def.to_xml(), opts).await?
            }
        };
        Ok(self.handle(info))
    }

    /// Finds a domain by name or UUID.
    pub async fn lookup_domain(&self, name_or_uuid: &str) -> Result<Domain> {
        let info = match self.backend() {
            Backend::Local(e) => e.lookup(name_or_uuid)?,
            Backend::Remote(r) => r.lookup(name_or_uuid).await?,
        };
        Ok(self.handle(info))
    }

    /// One consistent snapshot of the domains the options select, sorted by
    /// name, with the revision it was taken at: watch from that revision to
    /// see every later change.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), virtkit::Error> {
    /// use virtkit::{Connection, DomainState, ListOptions};
    /// let conn = Connection::open("test:///default").await?;
    /// let running = conn.list_domains(ListOptions::default().states(vec![DomainState::Running]).stats(true)).await?;
    /// let test = &running.items[0];
    /// assert_eq!(test.name, "test");
    /// assert!(test.stats.as_ref().unwrap().cpu_time_ns > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_domains(&self, opts: ListOptions) -> Result<DomainList> {
        match self.backend() {
            Backend::Local(e) => e.list(opts).await,
            Backend::Remote(r) => r.list(opts).await,
        }
    }

    /// Every event after `opts.from_revision` (or from now), in order, each
    /// once. If the events after that revision are no longer kept, the
    /// stream's first item is a `RevisionGone` error: list again.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), virtkit::Error> {
    /// use virtkit::{Connection, EventKind, ListOptions, WatchOptions};
    /// let conn = Connection::open("test:///default").await?;
    /// let list = conn.list_domains(ListOptions::default()).await?;
    /// let mut events = conn.watch(WatchOptions::default().from_revision(list.revision)).await?;
    /// conn.lookup_domain("test").await?.suspend(Default::default()).await?;
    /// let ev = events.next().await?;
    /// assert_eq!((ev.name.as_str(), ev.kind), ("test", EventKind::Suspended));
    /// assert_eq!(ev.revision, list.revision + 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn watch(&self, opts: WatchOptions) -> Result<EventStream> {
        let source = match self.backend() {
            Backend::Local(e) => Events::Local(e.watch(opts)?),
            Backend::Remote(r) => Events::Remote(Box::new(r.watch(opts.from_revision, opts.kinds).await?)),
        };
        Ok(EventStream { source })
    }

    fn handle(&self, info: DomainInfo) -> Domain {
        Domain { conn: self.clone(), uuid: info.uuid, name: info.name.clone(), made: Arc::new(info) }
    }
}

fn parse(xml: &str) -> Result<DomainDef> {
    DomainDef::from_xml(xml).map_err(Error::invalid_document)
}

/// Opens the test driver: `/default`, or a `<node>` document at the path.
async fn open_test(uri: &Uri) -> Result<Arc<Engine>> {
    use virtkit_driver_test as test;
    if uri.path == "/default" {
        if let Some(e) = DEFAULT_TEST.lock().unwrap_or_else(|p| p.into_inner()).upgrade() {
            return Ok(e);
        }
        let engine = Arc::new(test::default_engine().await?);
        let mut slot = DEFAULT_TEST.lock().unwrap_or_else(|p| p.into_inner());
        // Another task may have made one meanwhile: share that one.
        if let Some(e) = slot.upgrade() {
            return Ok(e);
        }
        *slot = Arc::downgrade(&engine);
        return Ok(engine);
    }
    if !uri.path.ends_with(".xml") {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("test URIs are test:///default or test:///ABS/PATH.xml, not test://{}", uri.path),
        ));
    }
    let text = std::fs::read_to_string(&uri.path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", uri.path)))?;
    let node = virtkit_model::node::TestNode::from_xml(&text).map_err(Error::invalid_document)?;
    Ok(Arc::new(test::node_engine(node).await?))
}

/// Opens the QEMU driver. `qemu:///embed?root=DIR` runs the engine in this
/// process with everything under DIR (definitions, runtime status, logs);
/// one process at a time may own DIR (`&wait=SECONDS` waits for it).
async fn open_qemu(uri: &Uri) -> Result<Arc<Engine>> {
    let root =
        uri.param("root").ok_or_else(|| Error::new(ErrorKind::InvalidArgument, "qemu:///embed needs ?root=DIR"))?;
    let root = std::path::PathBuf::from(root);
    if !root.is_absolute() {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("root {} is not an absolute path", root.display())));
    }
    let wait = match uri.param("wait") {
        Some(w) => w
            .parse::<f64>()
            .ok()
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidArgument, format!("wait={w} is not a number of seconds")))?,
        None => std::time::Duration::from_secs(5),
    };
    let mut config = virtkit_engine::EngineConfig::default();
    config.state_dir = Some(root.clone());
    config.lock_wait = wait;
    let driver = Arc::new(virtkit_driver_qemu::QemuDriver::new(root.clone()));
    let network = Arc::new(virtkit_network::LinuxNetworkDriver::new(root.join("network")));
    let drivers = virtkit_engine::Drivers::new(driver)
        .with_network_driver(network.clone())
        .with_storage_driver(Arc::new(virtkit_storage::LinuxStorageDriver::new()));
    let engine = Arc::new(Engine::open_host(drivers, config).await?);
    if uri.param("default-network").is_some_and(|v| v != "0") {
        defaults::default_network(&engine, &network, &root.join("network/default-defined")).await?;
    }
    if let Some(dir) = uri.param("default-pool") {
        let dir = std::path::PathBuf::from(dir);
        if !dir.is_absolute() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("default-pool {} is not an absolute path", dir.display()),
            ));
        }
        defaults::default_pool(&engine, &dir, &root.join("storage/default-pool-defined")).await?;
    }
    Ok(engine)
}

/// A handle to one domain: its UUID, its name, and the connection.
/// Handles are cheap; they stay valid while the domain exists.
#[derive(Clone)]
pub struct Domain {
    conn: Connection,
    uuid: Uuid,
    name: String,
    /// What the call that gave this handle answered.
    made: Arc<DomainInfo>,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain").field("uuid", &self.uuid).field("name", &self.name).finish()
    }
}

impl Domain {
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The domain as the call that gave this handle answered: for
    /// [`Connection::define`] and [`Connection::create`], the state their
    /// own change made (its generation, taken with the change, never
    /// another client's); for a lookup, what it found. [`Domain::info`]
    /// asks again.
    pub fn info_when_made(&self) -> &DomainInfo {
        &self.made
    }

    fn backend(&self) -> &Backend {
        self.conn.backend()
    }

    /// The addresses its interfaces have (`virsh domifaddr`): one lease
    /// per address, named after the interface's host device (`vnet0`).
    pub async fn interface_addresses(&self, opts: InterfaceAddressOptions) -> Result<Vec<Lease>> {
        match self.backend() {
            Backend::Local(e) => e.interface_addresses(self.uuid, opts).await,
            Backend::Remote(r) => r.interface_addresses(self.uuid, opts.source).await,
        }
    }

    /// Identity, state and (when asked) statistics.
    pub async fn info(&self, opts: InfoOptions) -> Result<DomainInfo> {
        match self.backend() {
            Backend::Local(e) => e.info(self.uuid, opts).await,
            Backend::Remote(r) => r.info(self.uuid, opts).await,
        }
    }

    /// The state and its reason.
    pub async fn state(&self) -> Result<State> {
        let i = self.info(InfoOptions::default()).await?;
        Ok(State::new(i.state, i.reason))
    }

    /// The definition as a model value: the running one, or the stored one
    /// with `inactive`.
    /// Its secret values only with `secure`, which a read-only connection
    /// may not ask for.
    pub async fn definition(&self, opts: XmlOptions) -> Result<DomainDef> {
        self.may_see(&opts)?;
        match self.backend() {
            Backend::Local(e) => Ok((*e.definition(self.uuid, opts)?).clone()),
            Backend::Remote(r) => parse(&r.xml(self.uuid, &opts).await?),
        }
    }

    /// Refuses `secure` on a read-only connection.
    fn may_see(&self, opts: &XmlOptions) -> Result<()> {
        self.conn.may_see(opts)
    }

    /// The definition as canonical XML (secret values as in [`definition`](Self::definition)).
    pub async fn xml(&self, opts: XmlOptions) -> Result<String> {
        self.may_see(&opts)?;
        match self.backend() {
            Backend::Local(e) => Ok(e.definition(self.uuid, opts)?.to_xml()),
            Backend::Remote(r) => r.xml(self.uuid, &opts).await,
        }
    }

    /// Statistics; `None` while the domain is shut off.
    pub async fn stats(&self, _opts: StatsOptions) -> Result<Option<DomainStats>> {
        match self.backend() {
            Backend::Local(e) => e.stats(self.uuid).await,
            Backend::Remote(r) => r.stats(self.uuid).await,
        }
    }

    pub async fn start(&self, opts: StartOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.start(self.uuid, opts).await.map(drop),
            Backend::Remote(r) => {
                // As in create: refused here, as the engine refuses it.
                only_pools_are_built(ObjectKind::Domain, opts.build.as_ref())?;
                r.start(self.uuid, opts.paused).await
            }
        }
    }

    /// Asks the guest to power off (ACPI, guest agent, or either). With a
    /// timeout, waits for it and fails with `Timeout` if it does not.
    pub async fn shutdown(&self, opts: ShutdownOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.shutdown(self.uuid, opts).await,
            Backend::Remote(r) => r.shutdown(self.uuid, opts.mode, opts.timeout).await,
        }
    }

    /// Stops the domain at once, without the guest's cooperation.
    pub async fn power_off(&self, opts: PowerOffOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.power_off(self.uuid, opts).await.map(drop),
            Backend::Remote(r) => r.power_off(self.uuid).await,
        }
    }

    /// Asks the guest to reboot.
    pub async fn reboot(&self, opts: RebootOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.reboot(self.uuid, opts).await,
            Backend::Remote(r) => r.reboot(self.uuid, opts.mode).await,
        }
    }

    /// Resets the guest at once, as its reset button would.
    pub async fn reset(&self, opts: ResetOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.reset(self.uuid, opts).await.map(drop),
            Backend::Remote(r) => r.reset(self.uuid).await,
        }
    }

    /// Pauses the vCPUs.
    pub async fn suspend(&self, opts: SuspendOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.suspend(self.uuid, opts).await.map(drop),
            Backend::Remote(r) => r.suspend(self.uuid).await,
        }
    }

    /// Continues paused vCPUs.
    pub async fn resume(&self, opts: ResumeOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.resume(self.uuid, opts).await.map(drop),
            Backend::Remote(r) => r.resume(self.uuid).await,
        }
    }

    /// Removes the stored definition; a running domain keeps running, as a
    /// transient one.
    pub async fn undefine(&self, opts: UndefineOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.undefine(self.uuid, opts).await.map(drop),
            Backend::Remote(r) => r.undefine(self.uuid, &opts).await,
        }
    }

    /// Opens the domain's console: a byte stream to its first serial port
    /// (or `opts.device`, such as `serial1`).
    pub async fn open_console(&self, opts: ConsoleOptions) -> Result<Console> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.open_console(self.uuid, opts.device.as_deref()).await,
            Backend::Remote(r) => r.open_console(self.uuid, opts.device.as_deref()).await,
        }
    }

    /// Whether the domain starts when its host does.
    pub async fn set_autostart(&self, enabled: bool, opts: AutostartOptions) -> Result<()> {
        self.conn.writable()?;
        match self.backend() {
            Backend::Local(e) => e.set_autostart(self.uuid, enabled, opts).await.map(drop),
            Backend::Remote(r) => r.set_autostart(self.uuid, enabled).await,
        }
    }
}

/// Events, in revision order, each once, with no gaps.
///
/// Through a daemon, a dropped connection is retried once, resuming after
/// the last revision delivered; if that fails the error is `Disconnected`.
#[derive(Debug)]
pub struct EventStream {
    source: Events,
}

#[derive(Debug)]
enum Events {
    Local(virtkit_engine::Watcher),
    Remote(Box<remote::RemoteEvents>),
}

impl EventStream {
    /// The next event, waiting for it.
    pub async fn next(&mut self) -> Result<Event> {
        match &mut self.source {
            Events::Local(w) => w.next().await,
            Events::Remote(r) => r.next().await,
        }
    }

    /// The next event if one is ready.
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        match &mut self.source {
            Events::Local(w) => w.try_next(),
            Events::Remote(r) => r.try_next(),
        }
    }

    /// The revision of the last event delivered.
    pub fn revision(&self) -> u64 {
        match &self.source {
            Events::Local(w) => w.revision(),
            Events::Remote(r) => r.revision(),
        }
    }
}
