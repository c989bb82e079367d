//! The seam between the engine and hypervisors. A domain driver runs
//! domains of the types it names; the engine owns everything else (names,
//! states, jobs, events, storage) and hands it what other drivers provide
//! (network ports, volume paths) at start. A driver never parses XML: it
//! gets typed definitions.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use uuid::Uuid;
use virtkit_model::domain::Domain;

use crate::engine::Inner;
use crate::error::Result;
use crate::options::{ShutdownMode, StartOptions};
use crate::seams::Resources;
use crate::types::{Capabilities, DomainStats, HostInfo, State};

/// Which domain a driver call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainRef {
    pub uuid: Uuid,
    pub name: String,
}

impl DomainRef {
    pub fn new(uuid: Uuid, name: impl Into<String>) -> Self {
        DomainRef { uuid, name: name.into() }
    }
}

/// What a driver reports once a domain has started (or been found running
/// again after a restart).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Started {
    /// The running definition (the stored one plus what was decided at
    /// start: allocated ports, paths, addresses).
    pub live: Arc<Domain>,
    /// Running or paused, with the reason.
    pub state: State,
    /// The driver's own runtime data (a pid, socket paths …), stored by the
    /// engine with the domain's runtime status and handed back to
    /// [`Driver::reconnect`] by the next engine on this state directory.
    pub data: serde_json::Value,
}

impl Started {
    pub fn new(live: Arc<Domain>, state: State) -> Self {
        Started { live, state, data: serde_json::Value::Null }
    }

    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// A two-way byte stream to a domain's console.
pub trait ConsoleIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> ConsoleIo for T {}

/// An open console.
pub type Console = Box<dyn ConsoleIo>;

/// A hypervisor.
///
/// Calls that change a domain are made by the engine one at a time per
/// domain (its job lock is held), never for a domain in the wrong state.
/// Changes the driver notices by itself (the guest powered off, crashed,
/// paused on an I/O error) it reports through the [`DriverEvents`] handed to
/// [`DomainDriver::attach`].
#[async_trait]
pub trait DomainDriver: Send + Sync + 'static {
    /// The driver's name: the URI scheme that selects it (`test`, `qemu`).
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// The domain types it runs (those of its capabilities); asked when
    /// the engine is made, so it must be cheap (no probing).
    fn domain_types(&self) -> Vec<String> {
        self.capabilities().domain_types
    }

    fn host_info(&self) -> HostInfo;

    /// Called once by the engine, before any other call.
    fn attach(&self, events: DriverEvents) {
        let _ = events;
    }

    /// Checks a definition is one this driver can run, and fills in what it
    /// decides for the user (MAC addresses and the like). Runs before a
    /// definition is stored or started.
    fn prepare(&self, def: &mut Domain) -> Result<()>;

    /// The configuration `def` (prepared) would start with, in the
    /// hypervisor's own form `format` (libvirt's names: `qemu-argv`),
    /// without starting anything or changing the host.
    async fn native_config(&self, def: &Domain, format: &str) -> Result<String> {
        let _ = def;
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!("the {} driver has no native configuration format '{format}'", self.name()),
        ))
    }

    /// Starts a domain (running, or paused when asked), with the network
    /// ports and volumes the engine obtained for it. When it fails, nothing
    /// of the domain may be left running (the engine releases `resources`).
    async fn start(
        &self,
        dom: &DomainRef,
        def: Arc<Domain>,
        resources: Resources,
        opts: &StartOptions,
    ) -> Result<Started>;

    /// Asks the guest to power off; returns once asked. The driver reports
    /// the power-off through [`DriverEvents::stopped`] when it happens.
    async fn shutdown(&self, dom: &DomainRef, mode: ShutdownMode) -> Result<()>;

    /// Stops the domain at once. On return it is gone.
    async fn power_off(&self, dom: &DomainRef) -> Result<()>;

    /// Asks the guest to reboot.
    async fn reboot(&self, dom: &DomainRef, mode: ShutdownMode) -> Result<()>;

    /// Resets the guest at once, as the reset button does.
    async fn reset(&self, dom: &DomainRef) -> Result<()>;

    async fn suspend(&self, dom: &DomainRef) -> Result<()>;

    async fn resume(&self, dom: &DomainRef) -> Result<()>;

    /// Statistics of running domains, one entry per domain asked (`None`
    /// where the driver has none at the moment).
    async fn stats(&self, doms: &[DomainRef]) -> Vec<Option<DomainStats>>;

    /// Finds a domain a previous engine started (from the runtime status it
    /// stored) and takes it over. An error means it is no longer running.
    async fn reconnect(&self, dom: &DomainRef, live: Arc<Domain>, data: serde_json::Value) -> Result<Started> {
        let _ = (live, data);
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!("the {} driver cannot take over running domain '{}'", self.name(), dom.name),
        ))
    }

    /// The engine has recorded that `dom` is shut off and dropped its
    /// runtime status, so no next engine will [`reconnect`](Self::reconnect)
    /// to it: whatever the driver kept to tell a next engine how the domain
    /// stopped may go. Called from event handlers too: it must not block.
    fn forget(&self, dom: &DomainRef) {
        let _ = dom;
    }

    /// Opens the domain's console (`device`: a serial or console alias such
    /// as `serial0`; `None` for the first one).
    async fn open_console(&self, dom: &DomainRef, device: Option<&str>) -> Result<Console> {
        let _ = device;
        Err(crate::Error::new(
            crate::ErrorKind::Unsupported,
            format!("the {} driver has no console for domain '{}'", self.name(), dom.name),
        ))
    }
}

/// How a driver tells the engine what happened on its own.
#[derive(Clone, Debug)]
pub struct DriverEvents {
    pub(crate) engine: Weak<Inner>,
}

impl DriverEvents {
    /// The domain stopped (powered off by the guest, crashed, killed).
    pub fn stopped(&self, uuid: Uuid, state: State) {
        if let Some(e) = self.engine.upgrade() {
            e.driver_stopped(uuid, state);
        }
    }

    /// The domain changed state while running (paused by an error, resumed,
    /// the guest asked to shut down, crashed but preserved).
    pub fn state_changed(&self, uuid: Uuid, state: State) {
        if let Some(e) = self.engine.upgrade() {
            e.driver_state_changed(uuid, state);
        }
    }

    /// The guest rebooted (asked to, or by itself) and keeps running.
    pub fn rebooted(&self, uuid: Uuid) {
        if let Some(e) = self.engine.upgrade() {
            e.driver_rebooted(uuid);
        }
    }
}
