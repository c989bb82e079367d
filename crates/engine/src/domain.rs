//! Domains: the kind, their start (with the resources other drivers give),
//! the guest lifecycle (shutdown, reboot, suspend …) and what their drivers
//! report by themselves.

use std::sync::Arc;

use uuid::Uuid;
use virtkit_model::domain::Domain;

use crate::driver::{Console, DomainDriver, DomainRef, Started};
use crate::engine::Inner;
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Kind, Record, Table};
use crate::lifecycle::{Activated, Lifecycle};
use crate::network_driver::PortRef;
use crate::options::{CreateOptions, ShutdownOptions, StartOptions};
use crate::registry::Registry;
use crate::seams::Resources;
use crate::store::Store;
use crate::types::{
    DomainInfo, DomainState, DomainStats, EventDetail, EventKind, JobKind, ObjectKind, ObjectState, State, StateReason,
};

pub(crate) struct DomainKind;

/// What only a domain records.
#[derive(Debug, Default, Clone)]
pub(crate) struct DomainExtra {
    /// The running id (informational).
    pub id: Option<u32>,
    /// Set while the engine itself stops the domain, so the driver's report
    /// of the stop carries the engine's reason.
    pub stopping: Option<StateReason>,
}

impl Kind for DomainKind {
    const OBJECT: ObjectKind = ObjectKind::Domain;
    type Def = Domain;
    type State = State;
    type Extra = DomainExtra;

    fn table(reg: &Registry) -> &Table<Self> {
        &reg.domains
    }
    fn table_mut(reg: &mut Registry) -> &mut Table<Self> {
        &mut reg.domains
    }
    fn initial() -> State {
        State::new(DomainState::Shutoff, StateReason::Unknown)
    }
    fn is_active(s: &State) -> bool {
        s.state.is_active()
    }
    fn event_state(s: &State) -> ObjectState {
        ObjectState::Domain(*s)
    }
}

impl Lifecycle for DomainKind {
    type Info = DomainInfo;

    fn without_job(i: &mut DomainInfo) {
        i.job = None;
    }

    fn info(_reg: &Registry, r: &Record<Self>) -> DomainInfo {
        let def = r.current_def();
        let mut i = DomainInfo::new(r.uuid, r.name.clone());
        i.id = r.extra.id;
        i.state = r.state.state;
        i.reason = r.state.reason;
        i.persistent = r.config.is_some();
        i.autostart = r.autostart;
        i.generation = r.generation;
        i.memory = def.map_or(0, |d| d.memory.as_bytes());
        i.vcpus = def.and_then(|d| d.vcpu.as_ref()).map_or(1, |v| v.count);
        i.job = r.job_info();
        i
    }

    /// The driver fills in its defaults, then the model checks the result,
    /// once: what the user wrote and what the driver added alike.
    fn prepare(inner: &Inner, mut def: Domain) -> Result<Domain> {
        inner.domain_driver(&def)?.prepare(&mut def)?;
        checked(&def).map_err(Error::invalid_document)?;
        Ok(def)
    }
}

/// The model's checks of a definition.
fn checked(def: &Domain) -> std::result::Result<(), virtkit_model::Errors> {
    #[cfg(test)]
    tests::validated(def.uuid);
    def.validate()
}

fn dom_ref(r: &Record<DomainKind>) -> DomainRef {
    DomainRef::new(r.uuid, r.name.clone())
}

impl Inner {
    /// The driver that runs domains of this definition's type (the host's
    /// first driver when none names it: its checks say what is wrong).
    pub(crate) fn domain_driver(&self, def: &Domain) -> Result<&Arc<dyn DomainDriver>> {
        let t = def.domain_type.as_str();
        let named = self.domain_types.iter().position(|types| types.iter().any(|x| x == t));
        named
            .and_then(|i| self.drivers.domains.get(i))
            .or_else(|| self.drivers.domains.first())
            .ok_or_else(|| Error::new(ErrorKind::Unsupported, format!("this host runs no domains of type '{t}'")))
    }

    /// The driver running an active domain.
    fn driver_of(&self, uuid: &Uuid) -> Result<Arc<dyn DomainDriver>> {
        let def = self.definition::<DomainKind>(uuid, false)?;
        self.domain_driver(&def).cloned()
    }

    /// Waits for a domain's job slot; the reference the driver calls use.
    async fn dom_job(&self, uuid: &Uuid, kind: JobKind) -> Result<(crate::jobs::JobGuard, DomainRef)> {
        let (guard, obj) = self.job::<DomainKind>(uuid, kind).await?;
        Ok((guard, DomainRef::new(obj.uuid, obj.name)))
    }

    pub(crate) async fn create(&self, def: Domain, opts: CreateOptions) -> Result<DomainInfo> {
        let def = Arc::new(DomainKind::prepare(self, def)?);
        let (uuid, name) = (def.uuid, def.name.clone());
        let slot = {
            let mut reg = self.lock();
            reg.domains.check_identity(uuid, Uuid::nil(), &name)?;
            if reg.domains.contains(&uuid) {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("domain '{name}' already exists")));
            }
            let mut r = Record::<DomainKind>::new(uuid, name.clone());
            r.hidden = true;
            let slot = r.job.clone();
            reg.domains.insert(r);
            slot
        };
        let _job = slot.begin(JobKind::Start, self.config.job_wait, &format!("domain '{name}'")).await?;
        let dom = DomainRef::new(uuid, name);
        match self.boot(&dom, def, &StartOptions::default().paused(opts.paused), true).await {
            Ok(info) => Ok(info),
            Err(e) => {
                self.drop_reservation::<DomainKind>(&uuid);
                Err(e)
            }
        }
    }

    pub(crate) async fn start(&self, uuid: Uuid, opts: StartOptions) -> Result<DomainInfo> {
        let (_job, dom) = self.dom_job(&uuid, JobKind::Start).await?;
        let def = {
            let reg = self.lock();
            let r = reg.domains.get(&uuid)?;
            if r.active() {
                return Err(Error::state(format!("domain '{}' is already {}", r.name, r.state.state.display_name())));
            }
            r.config.clone().ok_or_else(|| Error::new(ErrorKind::Internal, "inactive domain without definition"))?
        };
        self.boot(&dom, def, &opts, false).await
    }

    /// Starts the domain with its driver and records it: the runtime status
    /// is on disk before the domain shows as running (so nothing is left
    /// running unrecorded), and the new state and its events appear in one
    /// step (so no list sees one without the other). When anything fails,
    /// what was started is torn down, and a failed teardown is reported
    /// beside the error that caused it.
    async fn boot(&self, dom: &DomainRef, def: Arc<Domain>, opts: &StartOptions, unhide: bool) -> Result<DomainInfo> {
        let driver = self.domain_driver(&def)?.clone();
        let (volumes, secrets) = {
            let reg = self.lock();
            let volumes = crate::volume_use::resolve_disks(&reg, &def)?;
            let secrets = crate::volume_use::resolve_secrets(&reg, &def, &volumes)?;
            (volumes, secrets)
        };
        let (ports, named) = self.open_ports(dom, &def).await?;
        let def = named.map(Arc::new).unwrap_or(def);
        let held = self.ports_of(&def);
        let resources = Resources { ports, volumes, secrets };
        let s: Started = match driver.start(dom, def, resources, opts).await {
            Ok(s) => s,
            Err(e) => return Err(self.release_after(&held, e).await),
        };
        let id = {
            let mut reg = self.lock();
            let id = reg.next_id;
            reg.next_id += 1;
            id
        };
        let active = Activated::<DomainKind> { live: s.live.clone(), state: s.state, data: s.data.clone() };
        if let Some(store) = &self.store {
            let saved = Inner::run_file(&dom.name, Uuid::nil(), &active, Some(id))
                .and_then(|f| store.save_run(ObjectKind::Domain, &dom.uuid, &f));
            if let Err(e) = saved {
                // Not recorded: tear it down rather than leave it running unknown.
                let e = match driver.power_off(dom).await {
                    Ok(()) => {
                        driver.forget(dom);
                        e
                    }
                    Err(c) => e.with_cleanup(c),
                };
                return Err(self.release_after(&held, e).await);
            }
        }
        let mut reg = self.lock();
        let r = reg.domains.get_mut(&dom.uuid)?;
        r.live = Some(s.live);
        r.state = s.state;
        r.extra.id = Some(id);
        r.data = s.data;
        r.extra.stopping = None;
        if unhide {
            r.hidden = false;
        }
        // libvirt's order for a paused start: started, then suspended. Both
        // carry the final state.
        self.emit::<DomainKind>(&mut reg, &dom.uuid, EventKind::Started, EventDetail::Booted);
        if s.state.state == DomainState::Paused {
            self.emit::<DomainKind>(&mut reg, &dom.uuid, EventKind::Suspended, EventDetail::Paused);
        }
        Ok(DomainKind::answer(&reg, reg.domains.get(&dom.uuid)?))
    }

    /// Gives back what a failed start obtained, after `e`; returns `e`
    /// with any failure to give it back beside it.
    async fn release_after(&self, ports: &[PortRef], e: Error) -> Error {
        match self.close_ports(ports).await {
            Ok(()) => e,
            Err(c) => e.with_cleanup(c),
        }
    }

    /// Checks the domain is in one of `states`, or says why not.
    fn expect_state(&self, uuid: &Uuid, states: &[DomainState], doing: &str) -> Result<()> {
        let reg = self.lock();
        let r = reg.domains.get(uuid)?;
        if states.contains(&r.state.state) {
            Ok(())
        } else {
            Err(Error::state(format!("cannot {doing} domain '{}': it is {}", r.name, r.state.state.display_name())))
        }
    }

    pub(crate) async fn shutdown(&self, uuid: Uuid, opts: ShutdownOptions) -> Result<()> {
        let (_job, dom) = self.dom_job(&uuid, JobKind::Shutdown).await?;
        self.expect_state(&uuid, &[DomainState::Running], "shut down")?;
        self.driver_of(&uuid)?.shutdown(&dom, opts.mode).await
    }

    pub(crate) async fn power_off(&self, uuid: Uuid) -> Result<DomainInfo> {
        let (_job, dom) = self.dom_job(&uuid, JobKind::Stop).await?;
        let driver = self.driver_of(&uuid)?;
        {
            let mut reg = self.lock();
            let r = reg.domains.get_mut(&uuid)?;
            if !r.active() {
                return Err(Error::state(format!("cannot power off domain '{}': it is shut off", r.name)));
            }
            r.extra.stopping = Some(StateReason::Destroyed);
        }
        match driver.power_off(&dom).await {
            Ok(()) => {
                // The driver may have reported the stop already; this is then a no-op.
                let info = self.driver_stopped(uuid, State::new(DomainState::Shutoff, StateReason::Destroyed));
                info.ok_or_else(|| Error::not_found(&uuid.to_string()))
            }
            Err(e) => {
                if let Ok(r) = self.lock().domains.get_mut(&uuid) {
                    r.extra.stopping = None;
                }
                Err(e)
            }
        }
    }

    pub(crate) async fn reboot(&self, uuid: Uuid, mode: crate::options::ShutdownMode) -> Result<()> {
        let (_job, dom) = self.dom_job(&uuid, JobKind::Reboot).await?;
        self.expect_state(&uuid, &[DomainState::Running], "reboot")?;
        self.driver_of(&uuid)?.reboot(&dom, mode).await
    }

    pub(crate) async fn reset(&self, uuid: Uuid) -> Result<DomainInfo> {
        let (_job, dom) = self.dom_job(&uuid, JobKind::Reset).await?;
        self.expect_state(&uuid, &[DomainState::Running, DomainState::Paused], "reset")?;
        self.driver_of(&uuid)?.reset(&dom).await?;
        let mut reg = self.lock();
        self.emit::<DomainKind>(&mut reg, &uuid, EventKind::Changed, EventDetail::Reset);
        Ok(DomainKind::answer(&reg, reg.domains.get(&uuid)?))
    }

    pub(crate) async fn suspend(&self, uuid: Uuid) -> Result<DomainInfo> {
        let (_job, dom) = self.dom_job(&uuid, JobKind::Suspend).await?;
        self.expect_state(&uuid, &[DomainState::Running], "suspend")?;
        self.driver_of(&uuid)?.suspend(&dom).await?;
        self.set_state(&uuid, State::new(DomainState::Paused, StateReason::User));
        self.info_of::<DomainKind>(&uuid)
    }

    pub(crate) async fn resume(&self, uuid: Uuid) -> Result<DomainInfo> {
        let (_job, dom) = self.dom_job(&uuid, JobKind::Resume).await?;
        self.expect_state(&uuid, &[DomainState::Paused], "resume")?;
        self.driver_of(&uuid)?.resume(&dom).await?;
        self.set_state(&uuid, State::new(DomainState::Running, StateReason::Unpaused));
        self.info_of::<DomainKind>(&uuid)
    }

    pub(crate) async fn stats(&self, doms: &[DomainRef]) -> Vec<Option<DomainStats>> {
        // Grouped by driver; one call per driver for all its domains.
        let mut out: Vec<Option<DomainStats>> = vec![None; doms.len()];
        for driver in &self.drivers.domains {
            let mine: Vec<(usize, DomainRef)> = doms
                .iter()
                .enumerate()
                .filter(|(_, d)| self.driver_of(&d.uuid).is_ok_and(|x| Arc::ptr_eq(&x, driver)))
                .map(|(i, d)| (i, d.clone()))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let refs: Vec<DomainRef> = mine.iter().map(|(_, d)| d.clone()).collect();
            for ((i, _), s) in mine.iter().zip(driver.stats(&refs).await) {
                out[*i] = s;
            }
        }
        out
    }

    pub(crate) async fn open_console(&self, uuid: Uuid, device: Option<&str>) -> Result<Console> {
        let dom = {
            let reg = self.lock();
            let r = reg.domains.get(&uuid)?;
            if !r.active() {
                return Err(Error::state(format!("domain '{}' is not running", r.name)));
            }
            dom_ref(r)
        };
        self.driver_of(&uuid)?.open_console(&dom, device).await
    }

    /// Moves an active domain to `state` and emits the matching event.
    fn set_state(&self, uuid: &Uuid, state: State) {
        let id = {
            let mut reg = self.lock();
            let Ok(r) = reg.domains.get_mut(uuid) else { return };
            if !r.active() || r.state == state {
                return;
            }
            r.state = state;
            let id = r.extra.id;
            let (kind, detail) = match (state.state, state.reason) {
                (DomainState::Paused, _) => (EventKind::Suspended, EventDetail::Paused),
                (DomainState::Running, StateReason::Wakeup) => (EventKind::Started, EventDetail::Wakeup),
                (DomainState::Running, _) => (EventKind::Resumed, EventDetail::Unpaused),
                (DomainState::ShuttingDown, _) => (EventKind::Shutdown, EventDetail::Guest),
                (DomainState::Crashed, _) => (EventKind::Crashed, EventDetail::Panicked),
                (DomainState::PmSuspended, _) => (EventKind::PmSuspended, EventDetail::Memory),
                (DomainState::Shutoff, _) => (EventKind::Stopped, EventDetail::Failed),
            };
            self.emit::<DomainKind>(&mut reg, uuid, kind, detail);
            id
        };
        self.refresh_run_file::<DomainKind>(uuid, id);
    }

    /// A domain stopped: it is shut off now (or gone, if transient). The
    /// info it has after, or `None` if it was not active.
    pub(crate) fn driver_stopped(&self, uuid: Uuid, state: State) -> Option<DomainInfo> {
        let live;
        let dom;
        let info = {
            let mut reg = self.lock();
            let r = reg.domains.get_mut(&uuid).ok()?;
            if !r.active() {
                return Some(DomainKind::answer(&reg, reg.domains.get_any(&uuid)?));
            }
            dom = DomainRef::new(uuid, r.name.clone());
            let reason = r.extra.stopping.take().unwrap_or(state.reason);
            r.state = State::new(DomainState::Shutoff, reason);
            r.extra.id = None;
            live = r.live.take();
            r.data = serde_json::Value::Null;
            let transient = r.config.is_none();
            if reason == StateReason::Shutdown {
                self.emit::<DomainKind>(&mut reg, &uuid, EventKind::Shutdown, EventDetail::Finished);
            }
            let detail = match reason {
                StateReason::Shutdown => EventDetail::Shutdown,
                StateReason::Destroyed => EventDetail::Destroyed,
                StateReason::Crashed => EventDetail::Crashed,
                StateReason::Saved => EventDetail::Saved,
                StateReason::Migrated => EventDetail::Migrated,
                _ => EventDetail::Failed,
            };
            self.emit::<DomainKind>(&mut reg, &uuid, EventKind::Stopped, detail);
            let info = DomainKind::answer(&reg, reg.domains.get_any(&uuid)?);
            if transient {
                reg.domains.remove(&uuid);
            }
            info
        };
        // Only once no next engine would reconnect to it may its driver
        // forget how it stopped.
        if self.forget_run::<DomainKind>(&uuid)
            && let Some(driver) = live.as_deref().and_then(|l| self.domain_driver(l).ok())
        {
            driver.forget(&dom);
        }
        // Its ports go back to the network driver, in the background: this
        // is called from drivers' event handlers, which must not wait.
        if let (Some(live), Some(me)) = (live, self.me.upgrade()) {
            let ports = self.ports_of(&live);
            if !ports.is_empty() {
                tokio::spawn(async move {
                    let _ = me.close_ports(&ports).await;
                });
            }
        }
        Some(info)
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
        if reg.domains.get(&uuid).is_ok_and(Record::active) {
            self.emit::<DomainKind>(&mut reg, &uuid, EventKind::Changed, EventDetail::Rebooted);
        }
    }

    /// Loads every stored domain and takes over every domain a previous
    /// engine left running. A running domain wins its name over a stored
    /// definition that claims it too; nothing that runs is left unlisted.
    pub(crate) async fn load_domains(&self, store: &Store, problems: &mut Vec<String>) {
        let loaded = store.load::<DomainKind>();
        problems.extend(loaded.problems);
        let running: std::collections::HashSet<(Uuid, String)> =
            loaded.runs.iter().map(|(u, f, _, _)| (*u, f.name.clone())).collect();
        {
            let mut reg = self.lock();
            for d in loaded.defs {
                let name = d.def.name.clone();
                let claimed = running.iter().any(|(u, n)| *n == name && *u != d.uuid);
                if claimed || reg.domains.by_name(Uuid::nil(), &name).is_some() {
                    problems.push(format!("domain '{name}' ({}) has the name of another domain: not loaded", d.uuid));
                    continue;
                }
                let mut r = Record::<DomainKind>::new(d.uuid, name);
                r.config = Some(Arc::new(d.def));
                r.generation = d.generation;
                r.autostart = d.autostart;
                reg.domains.insert(r);
            }
        }
        for (uuid, run, live, recorded) in loaded.runs {
            self.reconnect_domain(store, uuid, run, live, recorded, problems).await;
        }
    }

    async fn reconnect_domain(
        &self,
        store: &Store,
        uuid: Uuid,
        run: crate::store::RunFile,
        live: Domain,
        recorded: State,
        problems: &mut Vec<String>,
    ) {
        let dom = DomainRef::new(uuid, run.name.clone());
        let driver = self.domain_driver(&live).cloned();
        let found = match &driver {
            Ok(d) => d.reconnect(&dom, Arc::new(live), run.driver.clone()).await,
            Err(e) => Err(e.clone()),
        };
        let stopped = |reg: &mut Registry, reason: StateReason| {
            if let Ok(r) = reg.domains.get_mut(&uuid) {
                r.state = State::new(DomainState::Shutoff, reason);
            }
        };
        match found {
            // It stopped while no engine watched; the driver says how.
            Ok(s) if s.state.state == DomainState::Shutoff => {
                tracing::info!(domain = %run.name, "stopped while no engine watched ({})", s.state.reason);
                stopped(&mut self.lock(), s.state.reason);
            }
            Ok(s) => {
                let mut reg = self.lock();
                let id = run.id.unwrap_or(reg.next_id);
                reg.next_id = reg.next_id.max(id + 1);
                if !reg.domains.contains(&uuid) {
                    reg.domains.insert(Record::new(uuid, run.name.clone()));
                }
                // The driver knows the state, not always why: keep the
                // recorded reason when the state is the recorded one.
                let state = if s.state.state == recorded.state && s.state.reason == StateReason::Unknown {
                    recorded
                } else {
                    s.state
                };
                if let Ok(r) = reg.domains.get_mut(&uuid) {
                    r.live = Some(s.live);
                    r.state = state;
                    r.extra.id = Some(id);
                    r.data = s.data;
                }
                drop(reg);
                self.refresh_run_file::<DomainKind>(&uuid, Some(id));
                return;
            }
            Err(e) => {
                tracing::info!(domain = %run.name, "not running any more: {e}");
                stopped(&mut self.lock(), StateReason::Crashed);
            }
        }
        match store.remove_run(ObjectKind::Domain, &uuid) {
            Ok(()) => {
                if let Ok(d) = &driver {
                    d.forget(&dom);
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use virtkit_model::ByteSize;
    use virtkit_model::domain::DomainType;

    use super::*;
    use crate::options::{DefineOptions, ShutdownMode, XmlOptions};
    use crate::types::{Capabilities, HostInfo};
    use crate::{Engine, EngineConfig};

    /// How many times each domain's definition was checked.
    static VALIDATIONS: Mutex<Option<HashMap<Uuid, usize>>> = Mutex::new(None);

    pub(super) fn validated(uuid: Uuid) {
        let mut v = VALIDATIONS.lock().unwrap_or_else(|p| p.into_inner());
        *v.get_or_insert_with(HashMap::new).entry(uuid).or_default() += 1;
    }

    fn validations(uuid: Uuid) -> usize {
        let v = VALIDATIONS.lock().unwrap_or_else(|p| p.into_inner());
        v.as_ref().and_then(|m| m.get(&uuid)).copied().unwrap_or(0)
    }

    /// A driver that fills a default, as real ones do.
    struct Filling;

    #[async_trait]
    impl DomainDriver for Filling {
        fn name(&self) -> &'static str {
            "filling"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        fn host_info(&self) -> HostInfo {
            HostInfo::new("h", "x86_64", 1, 1 << 30)
        }
        fn prepare(&self, def: &mut Domain) -> Result<()> {
            def.title.get_or_insert_with(|| "filled".into());
            Ok(())
        }
        async fn start(&self, _: &DomainRef, def: Arc<Domain>, _: Resources, _: &StartOptions) -> Result<Started> {
            Ok(Started::new(def, State::new(DomainState::Running, StateReason::Booted)))
        }
        async fn shutdown(&self, _: &DomainRef, _: ShutdownMode) -> Result<()> {
            Ok(())
        }
        async fn power_off(&self, _: &DomainRef) -> Result<()> {
            Ok(())
        }
        async fn reboot(&self, _: &DomainRef, _: ShutdownMode) -> Result<()> {
            Ok(())
        }
        async fn reset(&self, _: &DomainRef) -> Result<()> {
            Ok(())
        }
        async fn suspend(&self, _: &DomainRef) -> Result<()> {
            Ok(())
        }
        async fn resume(&self, _: &DomainRef) -> Result<()> {
            Ok(())
        }
        async fn stats(&self, doms: &[DomainRef]) -> Vec<Option<DomainStats>> {
            doms.iter().map(|_| None).collect()
        }
    }

    #[tokio::test]
    async fn define_and_create_check_the_definition_once() {
        let engine = Engine::new(Arc::new(Filling), EngineConfig::default());
        let def = Domain::new(DomainType::Qemu, "once", ByteSize::mib(64));
        let uuid = def.uuid;
        let info = engine.define(def, DefineOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(info.uuid, uuid);
        assert_eq!(validations(uuid), 1, "a define checks its definition more than once");
        let stored = engine.definition(uuid, XmlOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stored.title.as_deref(), Some("filled"), "the driver's defaults are kept");
        let def = Domain::new(DomainType::Qemu, "twice", ByteSize::mib(64));
        let uuid = def.uuid;
        engine.create(def, CreateOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(validations(uuid), 1, "a create checks its definition more than once");
        // A bad definition is still refused, naming the place.
        let mut bad = Domain::new(DomainType::Qemu, "bad", ByteSize::mib(64));
        bad.name = "a/b".into();
        let e = engine.define(bad, DefineOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidDocument, "{e}");
    }
}
