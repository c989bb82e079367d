//! The engine's rules: the state machine, one job at a time per domain,
//! queries that never wait, revisions and gap-free watching, generations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use virtkit_engine::options::*;
use virtkit_engine::seams::Resources;
use virtkit_engine::types::*;
use virtkit_engine::{DomainDriver, DomainRef, DriverEvents, Engine, EngineConfig, ErrorKind, Result, Started};
use virtkit_model::ByteSize;
use virtkit_model::domain::{Domain, DomainType};

/// A driver whose operations take `delay`, counting calls in flight.
#[derive(Default)]
struct Slow {
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    events: OnceLock<DriverEvents>,
    fail_start: Mutex<HashSet<String>>,
}

impl Slow {
    fn new(delay: Duration) -> Self {
        Slow { delay, ..Default::default() }
    }

    async fn work(&self) {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl DomainDriver for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn host_info(&self) -> HostInfo {
        HostInfo::new("h", "x86_64", 1, 1 << 30)
    }
    fn attach(&self, events: DriverEvents) {
        let _ = self.events.set(events);
    }
    fn prepare(&self, _def: &mut Domain) -> Result<()> {
        Ok(())
    }
    async fn start(&self, dom: &DomainRef, def: Arc<Domain>, _res: Resources, opts: &StartOptions) -> Result<Started> {
        self.work().await;
        if self.fail_start.lock().unwrap().contains(&dom.name) {
            return Err(virtkit_engine::Error::new(ErrorKind::Driver, "boom"));
        }
        let st = if opts.paused {
            State::new(DomainState::Paused, StateReason::User)
        } else {
            State::new(DomainState::Running, StateReason::Booted)
        };
        Ok(Started::new(def, st))
    }
    async fn shutdown(&self, dom: &DomainRef, _mode: ShutdownMode) -> Result<()> {
        self.work().await;
        self.events.get().unwrap().stopped(dom.uuid, State::new(DomainState::Shutoff, StateReason::Shutdown));
        Ok(())
    }
    async fn power_off(&self, _dom: &DomainRef) -> Result<()> {
        self.work().await;
        Ok(())
    }
    async fn reboot(&self, _dom: &DomainRef, _mode: ShutdownMode) -> Result<()> {
        self.work().await;
        Ok(())
    }
    async fn reset(&self, _dom: &DomainRef) -> Result<()> {
        self.work().await;
        Ok(())
    }
    async fn suspend(&self, _dom: &DomainRef) -> Result<()> {
        self.work().await;
        Ok(())
    }
    async fn resume(&self, _dom: &DomainRef) -> Result<()> {
        self.work().await;
        Ok(())
    }
    async fn stats(&self, doms: &[DomainRef]) -> Vec<Option<DomainStats>> {
        doms.iter().map(|_| Some(DomainStats::default())).collect()
    }
}

fn engine(delay_ms: u64) -> (Engine, Arc<Slow>) {
    let d = Arc::new(Slow::new(Duration::from_millis(delay_ms)));
    (Engine::new(d.clone(), EngineConfig::default()), d)
}

fn dom(name: &str) -> Domain {
    Domain::new(DomainType::Test, name, ByteSize::mib(64))
}

fn state(e: &Engine, name: &str) -> (DomainState, StateReason) {
    let i = e.lookup(name).unwrap();
    (i.state, i.reason)
}

#[tokio::test]
async fn lifecycle_follows_libvirts_state_machine() {
    let (e, _) = engine(0);
    let u = e.define(dom("a"), DefineOptions::default()).await.unwrap().uuid;
    assert_eq!(state(&e, "a"), (DomainState::Shutoff, StateReason::Unknown));

    // Wrong-state operations fail and change nothing.
    for r in [
        e.suspend(u, Default::default()).await.map(drop),
        e.resume(u, Default::default()).await.map(drop),
        e.shutdown(u, Default::default()).await,
        e.power_off(u, Default::default()).await.map(drop),
        e.reboot(u, Default::default()).await,
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidState);
    }
    let rev = e.revision();

    e.start(u, Default::default()).await.unwrap();
    assert_eq!(state(&e, "a"), (DomainState::Running, StateReason::Booted));
    let err = e.start(u, Default::default()).await.unwrap_err();
    assert_eq!((err.kind(), err.to_string().as_str()), (ErrorKind::InvalidState, "domain 'a' is already running"));
    assert_eq!(e.revision(), rev + 1, "a refused start changes nothing");

    e.suspend(u, Default::default()).await.unwrap();
    assert_eq!(state(&e, "a"), (DomainState::Paused, StateReason::User));
    e.resume(u, Default::default()).await.unwrap();
    assert_eq!(state(&e, "a"), (DomainState::Running, StateReason::Unpaused));
    e.shutdown(u, Default::default()).await.unwrap();
    assert_eq!(state(&e, "a"), (DomainState::Shutoff, StateReason::Shutdown));
    e.start(u, StartOptions::default().paused(true)).await.unwrap();
    assert_eq!(state(&e, "a"), (DomainState::Paused, StateReason::User));
    e.power_off(u, Default::default()).await.unwrap();
    assert_eq!(state(&e, "a"), (DomainState::Shutoff, StateReason::Destroyed));
    assert_eq!(e.lookup("a").unwrap().id, None);
}

#[tokio::test]
async fn transient_domains_vanish_when_they_stop() {
    let (e, _) = engine(0);
    let info = e.create(dom("t"), Default::default()).await.unwrap();
    assert!(!info.persistent);
    assert_eq!(state(&e, "t").0, DomainState::Running);
    let err = e.undefine(info.uuid, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    e.power_off(info.uuid, Default::default()).await.unwrap();
    assert_eq!(e.lookup("t").unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn undefining_a_running_domain_keeps_it_running() {
    let (e, _) = engine(0);
    let u = e.define(dom("p"), Default::default()).await.unwrap().uuid;
    e.start(u, Default::default()).await.unwrap();
    e.undefine(u, Default::default()).await.unwrap();
    let i = e.lookup("p").unwrap();
    assert_eq!((i.state, i.persistent), (DomainState::Running, false));
    e.shutdown(u, Default::default()).await.unwrap();
    assert_eq!(e.lookup("p").unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn failed_create_leaves_nothing_behind() {
    let (e, d) = engine(0);
    d.fail_start.lock().unwrap().insert("bad".into());
    let rev = e.revision();
    let err = e.create(dom("bad"), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Driver);
    assert_eq!(e.lookup("bad").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(e.revision(), rev);
    // The name is free again.
    d.fail_start.lock().unwrap().clear();
    e.create(dom("bad"), Default::default()).await.unwrap();
}

#[tokio::test]
async fn names_and_uuids_are_unique() {
    let (e, _) = engine(0);
    let a = dom("a");
    e.define(a.clone(), Default::default()).await.unwrap();
    let err = e.define(dom("a"), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let mut renamed = a.clone();
    renamed.name = "b".into();
    let err = e.define(renamed, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(e.list(Default::default()).await.unwrap().items.len(), 1);
    // The same name and UUID: an update.
    let info = e.define(a, Default::default()).await.unwrap();
    assert_eq!(info.generation, 2);
}

#[tokio::test]
async fn expected_generation_prevents_lost_updates() {
    let (e, _) = engine(0);
    let d = dom("g");
    let err = e.define(d.clone(), DefineOptions::default().expected_generation(3)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let g1 = e.define(d.clone(), DefineOptions::default().expected_generation(0)).await.unwrap().generation;
    assert_eq!(g1, 1);
    // Two editors read generation 1; the second one's write is refused.
    let mut first = d.clone();
    first.title = Some("first".into());
    let mut second = d.clone();
    second.title = Some("second".into());
    assert_eq!(e.define(first, DefineOptions::default().expected_generation(1)).await.unwrap().generation, 2);
    let err = e.define(second, DefineOptions::default().expected_generation(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let def = e.definition(e.lookup("g").unwrap().uuid, Default::default()).unwrap();
    assert_eq!(def.title.as_deref(), Some("first"));
    let err = e.define(d, DefineOptions::default().expected_generation(0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "0 means 'must not exist'");
}

#[tokio::test]
async fn one_job_at_a_time_per_domain_and_queries_never_wait() {
    let (e, d) = engine(200);
    let u = e.define(dom("j"), Default::default()).await.unwrap().uuid;
    let t = std::time::Instant::now();
    let (e1, e2) = (e.clone(), e.clone());
    let start = tokio::spawn(async move { e1.start(u, Default::default()).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    // While the start runs, queries answer at once.
    let q = std::time::Instant::now();
    let listed = e.list(Default::default()).await.unwrap();
    assert_eq!(listed.items[0].state, DomainState::Shutoff);
    assert!(q.elapsed() < Duration::from_millis(50), "list waited {:?}", q.elapsed());
    // A second change waits for the first and then sees its result.
    let suspend = tokio::spawn(async move { e2.suspend(u, Default::default()).await });
    start.await.unwrap().unwrap();
    suspend.await.unwrap().unwrap();
    assert_eq!(state(&e, "j").0, DomainState::Paused);
    assert_eq!(d.max_in_flight.load(Ordering::SeqCst), 1);
    assert!(t.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn different_domains_run_jobs_in_parallel() {
    let (e, d) = engine(200);
    let mut uuids = Vec::new();
    for i in 0..4 {
        uuids.push(e.define(dom(&format!("p{i}")), Default::default()).await.unwrap().uuid);
    }
    let t = std::time::Instant::now();
    let tasks: Vec<_> = uuids
        .into_iter()
        .map(|u| {
            let e = e.clone();
            tokio::spawn(async move { e.start(u, Default::default()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(d.max_in_flight.load(Ordering::SeqCst) > 1);
    assert!(t.elapsed() < Duration::from_millis(700));
}

#[tokio::test(start_paused = true)]
async fn a_busy_domain_times_out_clearly() {
    let d = Arc::new(Slow::new(Duration::from_secs(60)));
    let mut cfg = EngineConfig::default();
    cfg.job_wait = Duration::from_secs(1);
    let e = Engine::new(d, cfg);
    let u = e.define(dom("busy"), Default::default()).await.unwrap().uuid;
    let e1 = e.clone();
    let _start = tokio::spawn(async move { e1.start(u, Default::default()).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let err = e.suspend(u, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.to_string(), "domain 'busy' is busy with another operation (start)");
}

#[tokio::test]
async fn a_job_finishes_when_its_caller_goes_away() {
    let (e, _) = engine(100);
    let u = e.define(dom("c"), Default::default()).await.unwrap().uuid;
    let fut = e.start(u, Default::default());
    // The caller gives up after 10 ms; the start still completes.
    assert!(tokio::time::timeout(Duration::from_millis(10), fut).await.is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state(&e, "c").0, DomainState::Running);
}

#[tokio::test]
async fn every_change_bumps_the_revision_and_emits_one_event() {
    let (e, _) = engine(0);
    let mut w = e.watch(WatchOptions::default().from_revision(0)).unwrap();
    let u = e.define(dom("ev"), Default::default()).await.unwrap().uuid;
    e.start(u, Default::default()).await.unwrap();
    e.suspend(u, Default::default()).await.unwrap();
    e.resume(u, Default::default()).await.unwrap();
    e.set_autostart(u, true, Default::default()).await.unwrap();
    e.shutdown(u, Default::default()).await.unwrap();
    e.undefine(u, Default::default()).await.unwrap();
    let mut got = Vec::new();
    while let Some(ev) = w.try_next().unwrap() {
        got.push((ev.revision, ev.kind, ev.detail));
    }
    use EventDetail as D;
    use EventKind as K;
    assert_eq!(
        got,
        [
            (1, K::Defined, D::Added),
            (2, K::Started, D::Booted),
            (3, K::Suspended, D::Paused),
            (4, K::Resumed, D::Unpaused),
            (5, K::Changed, D::Autostart),
            (6, K::Shutdown, D::Finished),
            (7, K::Stopped, D::Shutdown),
            (8, K::Undefined, D::Removed),
        ]
    );
    assert_eq!(e.revision(), 8);
}

/// Many tasks change many domains while a watcher follows from a listed
/// revision and lists are taken: the watcher sees each revision exactly
/// once, in order, and every list is a real state (its revision's state).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_sees_every_change_once_and_lists_are_never_torn() {
    let (e, _) = engine(0);
    let mut uuids = Vec::new();
    for i in 0..20 {
        uuids.push(e.define(dom(&format!("d{i:02}")), Default::default()).await.unwrap().uuid);
    }
    let listed = e.list(Default::default()).await.unwrap();
    let mut w = e.watch(WatchOptions::default().from_revision(listed.revision)).unwrap();

    let workers: Vec<_> = uuids
        .iter()
        .copied()
        .map(|u| {
            let e = e.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    e.start(u, Default::default()).await.unwrap();
                    e.suspend(u, Default::default()).await.unwrap();
                    e.resume(u, Default::default()).await.unwrap();
                    e.power_off(u, Default::default()).await.unwrap();
                }
            })
        })
        .collect();

    // Meanwhile: every list must be consistent with the events up to its revision.
    let lister = {
        let e = e.clone();
        tokio::spawn(async move {
            let mut lists = Vec::new();
            for _ in 0..200 {
                lists.push(e.list(Default::default()).await.unwrap());
                tokio::task::yield_now().await;
            }
            lists
        })
    };
    for w in workers {
        w.await.unwrap();
    }
    let lists = lister.await.unwrap();

    let total = 20 * 10 * 4;
    let mut events = Vec::new();
    while events.len() < total {
        events.push(tokio::time::timeout(Duration::from_secs(5), w.next()).await.unwrap().unwrap());
    }
    assert!(w.try_next().unwrap().is_none(), "no extra events");
    let revs: Vec<u64> = events.iter().map(|e| e.revision).collect();
    let want: Vec<u64> = (listed.revision + 1..=listed.revision + total as u64).collect();
    assert_eq!(revs, want, "each revision once, in order, no gaps");

    // Replay the events onto the first list; each later list must equal the
    // replayed state at its revision.
    let mut states: std::collections::HashMap<_, _> =
        listed.items.iter().map(|d| (d.uuid, (d.state, d.reason))).collect();
    let mut at_rev = std::collections::HashMap::new();
    at_rev.insert(listed.revision, states.clone());
    for ev in &events {
        let s = ev.state.domain().unwrap();
        states.insert(ev.uuid, (s.state, s.reason));
        at_rev.insert(ev.revision, states.clone());
    }
    for l in &lists {
        let replayed = &at_rev[&l.revision];
        for d in &l.items {
            assert_eq!(replayed[&d.uuid], (d.state, d.reason), "list at revision {} is torn", l.revision);
        }
    }
}

#[tokio::test]
async fn watching_from_a_dropped_revision_is_revision_gone() {
    let d = Arc::new(Slow::new(Duration::ZERO));
    let mut cfg = EngineConfig::default();
    cfg.history = 5;
    let e = Engine::new(d, cfg);
    let u = e.define(dom("h"), Default::default()).await.unwrap().uuid;
    for _ in 0..5 {
        e.start(u, Default::default()).await.unwrap();
        e.power_off(u, Default::default()).await.unwrap();
    }
    let mut w = e.watch(WatchOptions::default().from_revision(1)).unwrap();
    assert_eq!(w.next().await.unwrap_err().kind(), ErrorKind::RevisionGone);
    // From a kept revision, the rest arrives.
    let mut w = e.watch(WatchOptions::default().from_revision(e.revision() - 3)).unwrap();
    assert_eq!(w.next().await.unwrap().revision, e.revision() - 2);
    let err = e.watch(WatchOptions::default().from_revision(e.revision() + 1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn invalid_definitions_are_refused_before_anything_changes() {
    let (e, _) = engine(0);
    let mut d = dom("x");
    d.name = "a/b".into();
    let err = e.define(d, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDocument);
    assert_eq!(err.document_errors().unwrap().first().path, "/domain/name");
    assert_eq!(e.revision(), 0);
}

// ---- persistence ----

fn persistent(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::default();
    c.state_dir = Some(dir.to_owned());
    c
}

#[tokio::test]
async fn definitions_survive_a_new_engine() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(Arc::new(Slow::default()), persistent(dir.path())).await.unwrap();
        let u = e.define(dom("keep"), Default::default()).await.unwrap().uuid;
        let mut d = dom("gone");
        d.title = Some("x".into());
        let g = e.define(d, Default::default()).await.unwrap().uuid;
        e.set_autostart(u, true, Default::default()).await.unwrap();
        e.undefine(g, Default::default()).await.unwrap();
        let mut again = (*e.definition(u, Default::default()).unwrap()).clone();
        again.title = Some("second".into());
        e.define(again, Default::default()).await.unwrap();
    }
    let e = Engine::open(Arc::new(Slow::default()), persistent(dir.path())).await.unwrap();
    let l = e.list(Default::default()).await.unwrap();
    assert_eq!(l.items.len(), 1);
    let k = &l.items[0];
    assert_eq!((k.name.as_str(), k.generation, k.autostart, k.state), ("keep", 2, true, DomainState::Shutoff));
    assert_eq!(e.definition(k.uuid, Default::default()).unwrap().title.as_deref(), Some("second"));
    assert!(e.load_problems().is_empty());
}

#[tokio::test]
async fn one_engine_owns_a_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Engine::open(Arc::new(Slow::default()), persistent(dir.path())).await.unwrap();
    let err = Engine::open(Arc::new(Slow::default()), persistent(dir.path())).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains(&format!("is in use by pid {}", std::process::id())), "{err}");
}

#[tokio::test]
async fn broken_and_half_written_files_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let uuid = {
        let e = Engine::open(Arc::new(Slow::default()), persistent(dir.path())).await.unwrap();
        e.define(dom("ok"), Default::default()).await.unwrap().uuid
    };
    let domains = dir.path().join("domain");
    // A crash in the middle of a define leaves its temporary file: the old
    // definition stays, the temporary goes.
    std::fs::write(domains.join(format!(".{uuid}.xml.tmp-999")), b"<!-- virtkit generation=9 autos").unwrap();
    // A corrupt file is reported and left alone.
    let bad = domains.join("00000000-0000-4000-8000-000000000001.xml");
    std::fs::write(&bad, b"not xml").unwrap();
    std::fs::write(domains.join("stray.txt"), b"?").unwrap();
    let e = Engine::open(Arc::new(Slow::default()), persistent(dir.path())).await.unwrap();
    let l = e.list(Default::default()).await.unwrap();
    assert_eq!(l.items.iter().map(|d| (d.name.as_str(), d.generation)).collect::<Vec<_>>(), [("ok", 1)]);
    let problems = e.load_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("00000000-0000-4000-8000-000000000001.xml")));
    assert_eq!(std::fs::read(&bad).unwrap(), b"not xml");
    assert!(!domains.join(format!(".{uuid}.xml.tmp-999")).exists());
}

/// A driver whose domains "keep running" across engines: reconnect works
/// when the stored data says so.
#[derive(Default)]
struct Durable {
    events: OnceLock<DriverEvents>,
    fail_power_off: std::sync::atomic::AtomicBool,
    /// A runtime status file that a failed reconnect turns into a directory,
    /// so that the engine cannot remove it.
    jam: Mutex<Option<std::path::PathBuf>>,
    /// The domains the engine said it recorded as shut off.
    forgotten: Mutex<Vec<uuid::Uuid>>,
}

#[async_trait]
impl DomainDriver for Durable {
    fn name(&self) -> &'static str {
        "durable"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn host_info(&self) -> HostInfo {
        HostInfo::new("h", "x86_64", 1, 1 << 30)
    }
    fn attach(&self, events: DriverEvents) {
        let _ = self.events.set(events);
    }
    fn prepare(&self, _def: &mut Domain) -> Result<()> {
        Ok(())
    }
    async fn start(
        &self,
        _dom: &DomainRef,
        def: Arc<Domain>,
        _res: Resources,
        _opts: &StartOptions,
    ) -> Result<Started> {
        let alive = !matches!(def.title.as_deref(), Some("dies" | "shuts down"));
        // "Stopped for this reason while no engine watched."
        let stopped = (def.title.as_deref() == Some("shuts down")).then_some("shutdown");
        Ok(Started::new(def, State::new(DomainState::Running, StateReason::Booted))
            .with_data(serde_json::json!({ "alive": alive, "stopped": stopped })))
    }
    async fn reconnect(&self, _dom: &DomainRef, live: Arc<Domain>, data: serde_json::Value) -> Result<Started> {
        if let Some(reason) = data["stopped"].as_str() {
            Ok(Started::new(live, State::new(DomainState::Shutoff, reason.parse().unwrap())))
        } else if data["alive"] == true {
            Ok(Started::new(live, State::new(DomainState::Running, StateReason::Unknown)).with_data(data))
        } else {
            if let Some(p) = self.jam.lock().unwrap().take() {
                std::fs::remove_file(&p).unwrap();
                std::fs::create_dir_all(p.join("in-the-way")).unwrap();
            }
            Err(virtkit_engine::Error::new(ErrorKind::Driver, "gone"))
        }
    }
    async fn shutdown(&self, _d: &DomainRef, _m: ShutdownMode) -> Result<()> {
        Ok(())
    }
    async fn power_off(&self, _d: &DomainRef) -> Result<()> {
        if self.fail_power_off.load(Ordering::SeqCst) {
            return Err(virtkit_engine::Error::new(ErrorKind::Driver, "the process would not die"));
        }
        Ok(())
    }
    async fn reboot(&self, _d: &DomainRef, _m: ShutdownMode) -> Result<()> {
        Ok(())
    }
    async fn reset(&self, _d: &DomainRef) -> Result<()> {
        Ok(())
    }
    async fn suspend(&self, _d: &DomainRef) -> Result<()> {
        Ok(())
    }
    async fn resume(&self, _d: &DomainRef) -> Result<()> {
        Ok(())
    }
    async fn stats(&self, doms: &[DomainRef]) -> Vec<Option<DomainStats>> {
        doms.iter().map(|_| None).collect()
    }
    fn forget(&self, dom: &DomainRef) {
        self.forgotten.lock().unwrap().push(dom.uuid);
    }
}

#[tokio::test]
async fn a_domain_stopped_while_no_engine_watched_has_the_reason_its_driver_kept() {
    let dir = tempfile::tempdir().unwrap();
    let start = async |e: &Engine, name: &str, title: Option<&str>| {
        let mut d = dom(name);
        d.title = title.map(str::to_owned);
        let u = e.define(d, Default::default()).await.unwrap().uuid;
        e.start(u, Default::default()).await.unwrap();
        u
    };
    let (shut, dies, lives) = {
        let e = Engine::open(Arc::new(Durable::default()), persistent(dir.path())).await.unwrap();
        (
            start(&e, "shut", Some("shuts down")).await,
            start(&e, "dies", Some("dies")).await,
            start(&e, "lives", None).await,
        )
    };
    let run_file = |u: uuid::Uuid| dir.path().join(format!("run/domain/{u}.json"));
    let driver = Arc::new(Durable::default());
    let e = Engine::open(driver.clone(), persistent(dir.path())).await.unwrap();
    let state = |u| {
        let i = e.list(Default::default());
        async move { i.await.unwrap().items.into_iter().find(|d| d.uuid == u).map(|d| (d.state, d.reason)).unwrap() }
    };
    assert_eq!(state(shut).await, (DomainState::Shutoff, StateReason::Shutdown), "not a crash");
    assert_eq!(state(dies).await, (DomainState::Shutoff, StateReason::Crashed));
    assert_eq!(state(lives).await, (DomainState::Running, StateReason::Booted));
    assert!(!run_file(shut).exists() && !run_file(dies).exists() && run_file(lives).exists());
    // Told once the runtime status is gone, and only for those.
    let mut forgotten = driver.forgotten.lock().unwrap().clone();
    forgotten.sort();
    let mut want = vec![shut, dies];
    want.sort();
    assert_eq!(forgotten, want);
    // A stop the driver reports, and a power-off, are forgotten too.
    driver.events.get().unwrap().stopped(lives, State::new(DomainState::Shutoff, StateReason::Shutdown));
    assert_eq!(state(lives).await, (DomainState::Shutoff, StateReason::Shutdown));
    assert!(!run_file(lives).exists());
    assert_eq!(driver.forgotten.lock().unwrap().last(), Some(&lives));
    e.start(lives, Default::default()).await.unwrap();
    e.power_off(lives, Default::default()).await.unwrap();
    assert_eq!(state(lives).await, (DomainState::Shutoff, StateReason::Destroyed));
    assert_eq!(driver.forgotten.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn running_domains_are_taken_over_by_the_next_engine() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(Arc::new(Durable::default()), persistent(dir.path())).await.unwrap();
        let p = e.define(dom("persistent"), Default::default()).await.unwrap().uuid;
        e.start(p, Default::default()).await.unwrap();
        let mut t = dom("transient");
        t.title = Some("lives".into());
        e.create(t, Default::default()).await.unwrap();
        let mut d = dom("dies");
        d.title = Some("dies".into());
        let u = e.define(d, Default::default()).await.unwrap().uuid;
        e.start(u, Default::default()).await.unwrap();
    }
    let e = Engine::open(Arc::new(Durable::default()), persistent(dir.path())).await.unwrap();
    let l = e.list(Default::default()).await.unwrap();
    let got: Vec<_> = l.items.iter().map(|d| (d.name.as_str(), d.state, d.persistent, d.id.is_some())).collect();
    assert_eq!(
        got,
        [
            ("dies", DomainState::Shutoff, true, false),
            ("persistent", DomainState::Running, true, true),
            ("transient", DomainState::Running, false, true),
        ]
    );
    assert_eq!(e.lookup("dies").unwrap().reason, StateReason::Crashed);
    // Ids stay unique after a takeover.
    let u = e.lookup("dies").unwrap().uuid;
    e.start(u, Default::default()).await.unwrap();
    let ids: HashSet<_> = e.list(Default::default()).await.unwrap().items.iter().filter_map(|d| d.id).collect();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn a_runtime_status_that_cannot_be_removed_does_not_stop_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let dead = {
        let e = Engine::open(Arc::new(Durable::default()), persistent(dir.path())).await.unwrap();
        for name in ["a", "z"] {
            let u = e.define(dom(name), Default::default()).await.unwrap().uuid;
            e.start(u, Default::default()).await.unwrap();
        }
        let mut d = dom("m");
        d.title = Some("dies".into());
        let u = e.define(d, Default::default()).await.unwrap().uuid;
        e.start(u, Default::default()).await.unwrap();
        u
    };
    let run_file = dir.path().join(format!("run/domain/{dead}.json"));
    assert!(run_file.is_file());
    let driver = Arc::new(Durable::default());
    *driver.jam.lock().unwrap() = Some(run_file.clone());
    let e = Engine::open(driver, persistent(dir.path())).await.unwrap();
    let l = e.list(Default::default()).await.unwrap();
    let got: Vec<_> = l.items.iter().map(|d| (d.name.as_str(), d.state)).collect();
    assert_eq!(got, [("a", DomainState::Running), ("m", DomainState::Shutoff), ("z", DomainState::Running)]);
    let problems = e.load_problems();
    let want = format!("cannot remove the runtime status of domain {dead}");
    assert!(problems.iter().any(|p| p.contains(&want)), "{problems:?}");
    assert!(run_file.is_dir(), "the file in the way is left as it is");
}

#[tokio::test]
async fn a_running_domain_keeps_its_name_over_a_stored_one_that_claims_it() {
    let dir = tempfile::tempdir().unwrap();
    let (running, other) = {
        let e = Engine::open(Arc::new(Durable::default()), persistent(dir.path())).await.unwrap();
        let mut t = dom("web");
        t.title = Some("lives".into());
        let running = e.create(t, Default::default()).await.unwrap().uuid;
        (running, uuid::Uuid::new_v4())
    };
    // Another definition named "web" appears on disk (copied in by hand).
    let mut d = dom("web");
    d.uuid = other;
    let text = format!("<!-- virtkit generation=1 autostart=no -->\n{}", d.to_xml());
    std::fs::write(dir.path().join("domain").join(format!("{other}.xml")), text).unwrap();
    let e = Engine::open(Arc::new(Durable::default()), persistent(dir.path())).await.unwrap();
    let l = e.list(Default::default()).await.unwrap();
    assert_eq!(l.items.iter().map(|d| (d.uuid, d.state)).collect::<Vec<_>>(), [(running, DomainState::Running)]);
    let problems = e.load_problems();
    assert!(problems.iter().any(|p| p.contains(&other.to_string()) && p.contains("name of another")), "{problems:?}");
}

#[tokio::test]
async fn a_state_directory_of_virtkit_0_1_is_moved_to_the_new_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, running) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    std::fs::create_dir_all(dir.path().join("domains")).unwrap();
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let mut a = dom("kept");
    a.uuid = kept;
    let old = serde_json::json!({ "generation": 4, "autostart": true, "definition": a.to_xml() });
    std::fs::write(dir.path().join(format!("domains/{kept}.json")), old.to_string()).unwrap();
    let mut b = dom("running");
    b.uuid = running;
    let run = serde_json::json!({ "name": "running", "id": 7, "state": "paused", "reason": "user",
        "live": b.to_xml(), "driver": { "alive": true } });
    std::fs::write(dir.path().join(format!("run/{running}.json")), run.to_string()).unwrap();
    let e = Engine::open(Arc::new(Durable::default()), persistent(dir.path())).await.unwrap();
    assert!(e.load_problems().is_empty(), "{:?}", e.load_problems());
    let k = e.lookup("kept").unwrap();
    assert_eq!((k.generation, k.autostart, k.state), (4, true, DomainState::Shutoff));
    let r = e.lookup("running").unwrap();
    assert_eq!((r.id, r.state, r.reason, r.persistent), (Some(7), DomainState::Running, StateReason::Unknown, false));
    assert!(dir.path().join(format!("domain/{kept}.xml")).is_file());
    assert!(dir.path().join(format!("run/domain/{running}.json")).is_file());
    assert!(!dir.path().join("domains").exists());
    assert!(!dir.path().join(format!("run/{running}.json")).exists());
}

#[tokio::test]
async fn a_failed_teardown_is_reported_beside_the_error_that_caused_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = Arc::new(Durable::default());
    let e = Engine::open(d.clone(), persistent(dir.path())).await.unwrap();
    let u = e.define(dom("x"), Default::default()).await.unwrap().uuid;
    // The runtime status cannot be written: the start is undone, and the
    // undoing fails too.
    let run = dir.path().join("run/domain");
    std::fs::remove_dir(&run).unwrap();
    std::fs::write(&run, b"in the way").unwrap();
    d.fail_power_off.store(true, Ordering::SeqCst);
    let err = e.start(u, Default::default()).await.unwrap_err();
    assert!(err.to_string().starts_with("cannot store the runtime status of domain 'x'"), "{err}");
    let cleanup = err.cleanup().expect("the teardown's error");
    assert_eq!(cleanup.to_string(), "the process would not die");
    assert!(err.to_string().ends_with("(and cleaning up failed: the process would not die)"), "{err}");
    assert_eq!(e.lookup("x").unwrap().state, DomainState::Shutoff);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_define_queued_behind_an_undefine_of_its_name_creates_it() {
    let (e, _) = engine(50);
    let first = e.define(dom("race"), Default::default()).await.unwrap();
    e.start(first.uuid, Default::default()).await.unwrap();
    // A shutdown holds the domain's job; an undefine queues behind it, and
    // a define of the same name behind that.
    let (e0, e1, e2) = (e.clone(), e.clone(), e.clone());
    let shutdown = tokio::spawn(async move { e0.shutdown(first.uuid, Default::default()).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let undefine = tokio::spawn(async move { e1.undefine(first.uuid, Default::default()).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut again = dom("race");
    again.uuid = first.uuid;
    let define = tokio::spawn(async move { e2.define(again, Default::default()).await });
    shutdown.await.unwrap().unwrap();
    undefine.await.unwrap().unwrap();
    let info = define.await.unwrap().expect("the define creates the domain");
    // Its answer is its own change: the domain exists, new, at that generation.
    assert_eq!(info.generation, 1);
    let now = e.lookup("race").unwrap();
    assert_eq!((now.generation, now.persistent), (1, true));
}

#[tokio::test]
async fn changing_calls_answer_with_the_state_they_made() {
    let (e, _) = engine(0);
    let info = e.define(dom("s"), Default::default()).await.unwrap();
    assert_eq!((info.state, info.generation, info.persistent), (DomainState::Shutoff, 1, true));
    let info = e.start(info.uuid, StartOptions::default().paused(true)).await.unwrap();
    assert_eq!((info.state, info.reason), (DomainState::Paused, StateReason::User));
    let info = e.resume(info.uuid, Default::default()).await.unwrap();
    assert_eq!((info.state, info.reason), (DomainState::Running, StateReason::Unpaused));
    let info = e.set_autostart(info.uuid, true, Default::default()).await.unwrap();
    assert!(info.autostart);
    let info = e.undefine(info.uuid, Default::default()).await.unwrap();
    assert!(!info.persistent && info.state == DomainState::Running);
    let info = e.power_off(info.uuid, Default::default()).await.unwrap();
    assert_eq!((info.state, info.reason), (DomainState::Shutoff, StateReason::Destroyed));
    assert!(e.lookup("s").is_err(), "a transient domain is gone once it stops");
}

#[tokio::test]
async fn a_query_sees_the_job_an_object_is_busy_with() {
    let (e, _) = engine(200);
    let u = e.define(dom("j"), Default::default()).await.unwrap().uuid;
    let e1 = e.clone();
    let start = tokio::spawn(async move { e1.start(u, Default::default()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let job = e.info(u, Default::default()).await.unwrap().job.expect("a job");
    assert_eq!((job.kind, job.cancellable), (JobKind::Start, false));
    assert!(job.started_ms > 0);
    let err = e.cancel_job(ObjectKind::Domain, u).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    start.await.unwrap().unwrap();
    assert!(e.info(u, Default::default()).await.unwrap().job.is_none());
}

/// Two defines of one new domain: whichever takes the domain's job first
/// makes it (added, generation 1), even when it is not the one that
/// reserved the name; the other replaces it (updated, generation 2). Each
/// answers with its own change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_define_that_makes_a_domain_says_added_whichever_reserved_it() {
    let (e, _) = engine(0);
    let mut w = e.watch(Default::default()).unwrap();
    for i in 0..2000 {
        let d = dom(&format!("pair{i}"));
        let (e1, e2, d2) = (e.clone(), e.clone(), d.clone());
        let a = tokio::spawn(async move { e1.define(d, Default::default()).await });
        let b = tokio::spawn(async move { e2.define(d2, Default::default()).await });
        let mut gens = [a.await.unwrap().unwrap().generation, b.await.unwrap().unwrap().generation];
        gens.sort_unstable();
        assert_eq!(gens, [1, 2], "pair {i}");
        let first = w.next().await.unwrap();
        let second = w.next().await.unwrap();
        assert_eq!((first.kind, first.detail), (EventKind::Defined, EventDetail::Added), "pair {i}");
        assert_eq!((second.kind, second.detail), (EventKind::Defined, EventDetail::Updated), "pair {i}");
        e.undefine(first.uuid, Default::default()).await.unwrap();
        assert_eq!(w.next().await.unwrap().kind, EventKind::Undefined);
    }
}

#[tokio::test]
async fn a_volume_disk_of_a_pool_this_host_lacks_fails_the_start_naming_the_pool() {
    use virtkit_model::domain::devices::{Disk, DiskBus, DiskDevice, DiskSource};
    let (e, _) = engine(0);
    let d = dom("vol").with_device(Disk::new(
        DiskSource::volume("nope", "web.qcow2"),
        DiskDevice::Disk,
        "vda",
        DiskBus::Virtio,
    ));
    let u = e.define(d, DefineOptions::default()).await.unwrap().uuid;
    let rev = e.revision();
    let err = e.start(u, StartOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("disk vda: storage pool 'nope' does not exist"), "{err}");
    // Nothing started, nothing changed.
    assert_eq!(state(&e, "vol").0, DomainState::Shutoff);
    assert_eq!(e.revision(), rev);
}
