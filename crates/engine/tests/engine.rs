//! The engine's rules: the state machine, one job at a time per domain,
//! queries that never wait, revisions and gap-free watching, generations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use virtkit_engine::options::*;
use virtkit_engine::types::*;
use virtkit_engine::{DomainRef, Driver, DriverEvents, Engine, EngineConfig, ErrorKind, Result, Started};
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
impl Driver for Slow {
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
    async fn start(&self, dom: &DomainRef, def: Arc<Domain>, opts: &StartOptions) -> Result<Started> {
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
        e.suspend(u, Default::default()).await,
        e.resume(u, Default::default()).await,
        e.shutdown(u, Default::default()).await,
        e.power_off(u, Default::default()).await,
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
    assert_eq!(e.list(Default::default()).await.unwrap().domains.len(), 1);
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
    assert_eq!(listed.domains[0].state, DomainState::Shutoff);
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
    assert_eq!(err.to_string(), "domain 'busy' is busy with another operation");
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
        listed.domains.iter().map(|d| (d.uuid, (d.state, d.reason))).collect();
    let mut at_rev = std::collections::HashMap::new();
    at_rev.insert(listed.revision, states.clone());
    for ev in &events {
        states.insert(ev.uuid, (ev.state, ev.reason));
        at_rev.insert(ev.revision, states.clone());
    }
    for l in &lists {
        let replayed = &at_rev[&l.revision];
        for d in &l.domains {
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
    assert_eq!(l.domains.len(), 1);
    let k = &l.domains[0];
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
    let domains = dir.path().join("domains");
    // A crash in the middle of a define leaves its temporary file: the old
    // definition stays, the temporary goes.
    std::fs::write(domains.join(format!(".{uuid}.json.tmp-999")), b"{\"generation\": 9, \"autos").unwrap();
    // A corrupt file is reported and left alone.
    let bad = domains.join("00000000-0000-4000-8000-000000000001.json");
    std::fs::write(&bad, b"not json").unwrap();
    std::fs::write(domains.join("stray.txt"), b"?").unwrap();
    let e = Engine::open(Arc::new(Slow::default()), persistent(dir.path())).await.unwrap();
    let l = e.list(Default::default()).await.unwrap();
    assert_eq!(l.domains.iter().map(|d| (d.name.as_str(), d.generation)).collect::<Vec<_>>(), [("ok", 1)]);
    let problems = e.load_problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("00000000-0000-4000-8000-000000000001.json")));
    assert_eq!(std::fs::read(&bad).unwrap(), b"not json");
    assert!(!domains.join(format!(".{uuid}.json.tmp-999")).exists());
}

/// A driver whose domains "keep running" across engines: reconnect works
/// when the stored data says so.
#[derive(Default)]
struct Durable {
    events: OnceLock<DriverEvents>,
}

#[async_trait]
impl Driver for Durable {
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
    async fn start(&self, _dom: &DomainRef, def: Arc<Domain>, _opts: &StartOptions) -> Result<Started> {
        let alive = def.title.as_deref() != Some("dies");
        Ok(Started::new(def, State::new(DomainState::Running, StateReason::Booted))
            .with_data(serde_json::json!({ "alive": alive })))
    }
    async fn reconnect(&self, _dom: &DomainRef, live: Arc<Domain>, data: serde_json::Value) -> Result<Started> {
        if data["alive"] == true {
            Ok(Started::new(live, State::new(DomainState::Running, StateReason::Unknown)).with_data(data))
        } else {
            Err(virtkit_engine::Error::new(ErrorKind::Driver, "gone"))
        }
    }
    async fn shutdown(&self, _d: &DomainRef, _m: ShutdownMode) -> Result<()> {
        Ok(())
    }
    async fn power_off(&self, _d: &DomainRef) -> Result<()> {
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
    let got: Vec<_> = l.domains.iter().map(|d| (d.name.as_str(), d.state, d.persistent, d.id.is_some())).collect();
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
    let ids: HashSet<_> = e.list(Default::default()).await.unwrap().domains.iter().filter_map(|d| d.id).collect();
    assert_eq!(ids.len(), 3);
}
