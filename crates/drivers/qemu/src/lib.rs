//! virtkit's QEMU driver (internal): runs `type='qemu'` (TCG emulation) and
//! `type='kvm'` domains as QEMU processes and manages them over QMP.
//!
//! Each running domain has a runtime directory (`ROOT/run/UUID/`) with its
//! monitor socket and the sockets virtkit places (guest agent, unix
//! consoles), and a log (`ROOT/log/UUID.log`) that gets QEMU's output. A
//! monitor task per domain turns QMP events into state changes and applies
//! the on_poweroff, on_reboot and on_crash policies.

pub mod agent;
pub mod argv;
pub mod caps;
mod console;
mod defaults;
mod firmware;
mod graphics;
mod guest;
mod host;
mod hostdev;
mod hostmem;
mod launch;
mod native;
pub mod qmp;
mod setup;
mod stats;
mod swtpm;
mod volumes;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::UnixStream;
use uuid::Uuid;
use virtkit_engine::options::{ShutdownMode, StartOptions};
use virtkit_engine::seams::Resources;
use virtkit_engine::types::{Capabilities, DomainState, DomainStats, HostInfo, State, StateReason};
use virtkit_engine::{Console, DomainDriver, DomainRef, DriverEvents, Error, ErrorKind, Result, Started};
use virtkit_host::ProcessId;
use virtkit_model::domain::devices::CharSource;
use virtkit_model::domain::{Domain, DomainType};

use crate::caps::QemuCaps;
use crate::console::PtyConsole;
use crate::guest::{Halt, forget_stop, monitor, on_guest_halt, recorded_stop, request_power_off, stop_vm};
use crate::launch::{argv_context, check_files, launch_env, prepare_run, taps_of, write_secrets};
use crate::qmp::{Qmp, QmpEvent};
use crate::volumes::with_volumes;

/// How long QEMU may take to answer on its monitor.
const QMP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a guest agent may take to answer.
const AGENT_TIMEOUT: Duration = Duration::from_secs(5);
/// In the runtime directory while an ACPI reboot is under way.
const FAKE_REBOOT: &str = "reboot-requested";
/// How long QEMU has to exit after `quit` before it is killed.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// The QEMU driver.
pub struct QemuDriver {
    state: Arc<Shared>,
}

impl std::fmt::Debug for QemuDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuDriver").field("root", &self.state.root).finish_non_exhaustive()
    }
}

struct Shared {
    root: PathBuf,
    vms: Mutex<HashMap<Uuid, Arc<Vm>>>,
    events: OnceLock<DriverEvents>,
    caps: tokio::sync::Mutex<HashMap<PathBuf, Arc<QemuCaps>>>,
    /// Monitor tasks, stopped with the driver.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// One running domain.
struct Vm {
    uuid: Uuid,
    name: String,
    def: Arc<Domain>,
    qmp: Qmp,
    pid: ProcessId,
    run_dir: PathBuf,
    log: PathBuf,
    /// The software TPMs this guest's QEMU uses.
    swtpms: Vec<ProcessId>,
    flags: Mutex<Flags>,
}

#[derive(Default)]
struct Flags {
    /// virtkit is stopping it: its exit is not news.
    stopping: bool,
    /// A reboot by ACPI: when the guest powers off, reset instead.
    fake_reboot: bool,
    /// The guest powered off or crashed: the STOP that follows is part of it.
    halting: bool,
    /// STOP/RESUME events virtkit caused and reports itself.
    own_stops: u32,
    own_resumes: u32,
    /// Why the next STOP happens, when QEMU said before.
    stop_reason: Option<StateReason>,
    /// After virtkit resets a halted guest, QEMU reports one guest reset of
    /// its own as the machine comes back: that one is the same reboot.
    reset_echo_until: Option<std::time::Instant>,
}

/// What the engine stores for a running domain, to reconnect to it.
#[derive(Debug, Serialize, Deserialize)]
struct RunData {
    pid: String,
    monitor: PathBuf,
    run_dir: PathBuf,
    emulator: PathBuf,
    /// The software TPMs' pids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    swtpm: Vec<String>,
}

fn err(kind: ErrorKind, msg: impl Into<String>) -> Error {
    Error::new(kind, msg)
}

fn driver_err(e: impl std::fmt::Display) -> Error {
    err(ErrorKind::Driver, e.to_string())
}

impl Drop for QemuDriver {
    /// The engine is going away: stop watching (the guests keep running; the
    /// next engine takes them over).
    fn drop(&mut self) {
        for t in self.state.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
    }
}

impl QemuDriver {
    /// A driver keeping its runtime files, logs and caches under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        caps::clean_stale(&root.join("run"));
        QemuDriver {
            state: Arc::new(Shared {
                root,
                vms: Mutex::new(HashMap::new()),
                events: OnceLock::new(),
                caps: tokio::sync::Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The log of the domain `uuid` (keyed by UUID, as every file is: a
    /// name can be given to another domain).
    pub fn log_path(&self, uuid: Uuid) -> PathBuf {
        self.state.log_path(uuid, "")
    }
}

impl QemuDriver {
    /// The capabilities of the QEMU a domain of the host's arch runs with,
    /// probed (and cached) as a start probes them. This call is not async:
    /// a probe runs on a thread of its own.
    fn host_caps(&self) -> Result<Arc<QemuCaps>> {
        let emulator = emulator_for_arch(std::env::consts::ARCH)?;
        // Busy: a start is probing; probe beside it rather than wait for a
        // task this thread may be the one to run.
        let mut cache = self.state.caps.try_lock().ok();
        if let Some(c) = cache.as_ref().and_then(|c| c.get(&emulator)) {
            return Ok(c.clone());
        }
        let (cache_dir, scratch) = (self.state.root.join("cache"), self.state.root.join("run"));
        let probed = std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(driver_err)?;
                rt.block_on(caps::get(&emulator, &cache_dir, &scratch)).map(Arc::new).map_err(driver_err)
            })
            .join()
            .unwrap_or_else(|_| Err(err(ErrorKind::Internal, "the QEMU capability probe panicked")))
        })?;
        if let Some(cache) = cache.as_mut() {
            cache.insert(emulator, probed.clone());
        }
        Ok(probed)
    }
}

impl Shared {
    /// The log `ROOT/log/UUID{suffix}.log`.
    fn log_path(&self, uuid: Uuid, suffix: &str) -> PathBuf {
        self.root.join("log").join(format!("{uuid}{suffix}.log"))
    }

    /// Why virtkit is stopping the domain `uuid` (`ROOT/run/UUID.stop`),
    /// beside its runtime directory, which goes as soon as QEMU has: this
    /// stays until the engine has recorded the stop.
    fn stop_record(&self, uuid: Uuid) -> PathBuf {
        self.root.join("run").join(format!("{uuid}.stop"))
    }

    fn vms(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<Vm>>> {
        self.vms.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn vm(&self, dom: &DomainRef) -> Result<Arc<Vm>> {
        self.vms()
            .get(&dom.uuid)
            .cloned()
            .ok_or_else(|| err(ErrorKind::Driver, format!("domain '{}' has no QEMU process", dom.name)))
    }

    fn report_stopped(&self, uuid: Uuid, reason: StateReason) {
        if let Some(ev) = self.events.get() {
            ev.stopped(uuid, State::new(DomainState::Shutoff, reason));
        }
    }

    fn report_state(&self, uuid: Uuid, state: State) {
        if let Some(ev) = self.events.get() {
            ev.state_changed(uuid, state);
        }
    }

    fn report_rebooted(&self, uuid: Uuid) {
        if let Some(ev) = self.events.get() {
            ev.rebooted(uuid);
        }
    }

    fn watch(self: &Arc<Self>, vm: Arc<Vm>, events: tokio::sync::mpsc::UnboundedReceiver<QmpEvent>) {
        let t = tokio::spawn(monitor(self.clone(), vm, events));
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(t);
    }

    async fn caps(&self, emulator: &Path) -> Result<Arc<QemuCaps>> {
        let mut cache = self.caps.lock().await;
        if let Some(c) = cache.get(emulator) {
            return Ok(c.clone());
        }
        let c = caps::get(emulator, &self.root.join("cache"), &self.root.join("run"))
            .await
            .map(Arc::new)
            .map_err(driver_err)?;
        cache.insert(emulator.to_owned(), c.clone());
        Ok(c)
    }
}

/// The emulator for a definition: `<emulator>`, or QEMU for its arch.
fn emulator_for(def: &Domain) -> Result<PathBuf> {
    if let Some(e) = &def.devices.emulator {
        let p = PathBuf::from(e);
        if !p.is_file() {
            return Err(err(ErrorKind::InvalidArgument, format!("the emulator {e} does not exist")));
        }
        return Ok(p);
    }
    emulator_for_arch(def.os.arch.map(|a| a.as_str()).unwrap_or("x86_64"))
}

/// QEMU for `arch`, found on `PATH`.
fn emulator_for_arch(arch: &str) -> Result<PathBuf> {
    let names: Vec<String> = match arch {
        "i686" => vec!["qemu-system-i386".into(), "qemu-system-x86_64".into()],
        "armv7l" | "armv6l" => vec!["qemu-system-arm".into()],
        a => vec![format!("qemu-system-{a}")],
    };
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    for n in &names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(n);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(err(
        ErrorKind::InvalidArgument,
        format!("no QEMU for arch {arch} ({} not found): install it or name one in <emulator>", names.join(" or ")),
    ))
}

fn write_log(path: &Path, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let _ = writeln!(f, "virtkit [{now}]: {line}");
    }
}

#[async_trait]
impl DomainDriver for QemuDriver {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.driver = "qemu".into();
        c.domain_types = self.domain_types();
        c.shutdown_modes = vec!["acpi".into(), "agent".into(), "any".into()];
        c.suspend = true;
        c.reboot = true;
        c.reset = true;
        c.autostart = true;
        c.persistent = true;
        c.stats = true;
        // The same probe a start makes, whichever comes first.
        match self.host_caps() {
            Ok(caps) if !caps.kvm.usable => c.unavailable.push(("kvm".into(), caps.kvm.why.clone())),
            Ok(_) => {}
            Err(e) => {
                for t in &c.domain_types {
                    c.unavailable.push((t.clone(), e.to_string()));
                }
            }
        }
        c
    }

    fn domain_types(&self) -> Vec<String> {
        vec!["qemu".into(), "kvm".into()]
    }

    fn host_info(&self) -> HostInfo {
        let cpus = std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1));
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
        HostInfo::new(host, std::env::consts::ARCH, cpus, mem_kib * 1024)
    }

    fn attach(&self, events: DriverEvents) {
        let _ = self.state.events.set(events);
    }

    async fn native_config(&self, def: &Domain, format: &str) -> Result<String> {
        if format != "qemu-argv" {
            return Err(err(
                ErrorKind::Unsupported,
                format!("the QEMU driver's native form is qemu-argv, not '{format}'"),
            ));
        }
        let (emulator, caps, accel, live) = prepare_run(&self.state, def, false).await?;
        let run_dir = self.state.root.join("run").join(def.uuid.to_string());
        let ctx = argv_context(&live, &caps, accel, &run_dir, Vec::new())?;
        let args = argv::build(&live, &ctx).map_err(|e| err(ErrorKind::Unsupported, e.to_string()))?;
        Ok(native::command_line(&launch_env(&live, &run_dir), &emulator, &args))
    }

    fn prepare(&self, def: &mut Domain) -> Result<()> {
        if !matches!(def.domain_type, DomainType::Qemu | DomainType::Kvm) {
            return Err(err(
                ErrorKind::Unsupported,
                format!("the qemu driver runs domains of type 'qemu' or 'kvm', not '{}'", def.domain_type),
            ));
        }
        defaults::fill(def);
        Ok(())
    }

    async fn start(
        &self,
        dom: &DomainRef,
        def: Arc<Domain>,
        mut res: Resources,
        opts: &StartOptions,
    ) -> Result<Started> {
        let st = &self.state;
        let def = with_volumes(def, &res)?;
        let taps = taps_of(&def, &mut res)?;
        host::check(&def)?;
        let (emulator, caps, accel, live) = prepare_run(st, &def, true).await?;
        let def = Arc::new(live);
        check_files(&def)?;
        hostmem::check(&def, &hostmem::facts())?;
        let run_dir = st.root.join("run").join(dom.uuid.to_string());
        let _ = std::fs::remove_dir_all(&run_dir);
        forget_stop(st, dom.uuid);
        virtkit_host::fs::create_dir(&run_dir, 0o700).map_err(driver_err)?;
        let log = st.log_path(dom.uuid, "");
        let cleanup = |run_dir: &Path| {
            let _ = std::fs::remove_dir_all(run_dir);
        };
        let secrets = match write_secrets(&res, &run_dir) {
            Ok(s) => s,
            Err(e) => {
                cleanup(&run_dir);
                return Err(e);
            }
        };
        let given = secrets.len();
        let result = self.launch(dom, &def, opts, &emulator, &caps, accel, &run_dir, &log, taps, secrets).await;
        // QEMU read its secrets when it made its objects, before its
        // monitor answered: their values need not stay on disk.
        for i in 0..given {
            let _ = std::fs::remove_file(argv::secret_file(&run_dir, i));
        }
        if result.is_err() {
            cleanup(&run_dir);
        }
        result
    }

    async fn shutdown(&self, dom: &DomainRef, mode: ShutdownMode) -> Result<()> {
        let vm = self.state.vm(dom)?;
        request_power_off(&vm, mode, false).await
    }

    async fn power_off(&self, dom: &DomainRef) -> Result<()> {
        let vm = self.state.vm(dom)?;
        stop_vm(&self.state, &vm, StateReason::Destroyed).await
    }

    async fn reboot(&self, dom: &DomainRef, mode: ShutdownMode) -> Result<()> {
        let vm = self.state.vm(dom)?;
        request_power_off(&vm, mode, true).await
    }

    async fn reset(&self, dom: &DomainRef) -> Result<()> {
        let vm = self.state.vm(dom)?;
        vm.qmp.execute("system_reset", None).await.map_err(driver_err)?;
        Ok(())
    }

    async fn suspend(&self, dom: &DomainRef) -> Result<()> {
        let vm = self.state.vm(dom)?;
        vm.flags().own_stops += 1;
        vm.qmp.execute("stop", None).await.map_err(driver_err)?;
        Ok(())
    }

    async fn resume(&self, dom: &DomainRef) -> Result<()> {
        let vm = self.state.vm(dom)?;
        vm.flags().own_resumes += 1;
        vm.qmp.execute("cont", None).await.map_err(driver_err)?;
        Ok(())
    }

    async fn stats(&self, doms: &[DomainRef]) -> Vec<Option<DomainStats>> {
        stats::of(&self.state, doms).await
    }

    async fn reconnect(&self, dom: &DomainRef, live: Arc<Domain>, data: Value) -> Result<Started> {
        let data: RunData = serde_json::from_value(data).map_err(|e| driver_err(format!("bad runtime data: {e}")))?;
        let pid = ProcessId::from_token(&data.pid).ok_or_else(|| driver_err("bad runtime data: pid"))?;
        let log = self.state.log_path(dom.uuid, "");
        // Set when the last virtkit was stopping it (and went away before
        // the engine had recorded the stop).
        let stopping = recorded_stop(&self.state, dom.uuid);
        let tpms: Vec<ProcessId> = data.swtpm.iter().filter_map(|t| ProcessId::from_token(t)).collect();
        if !pid.is_alive() || stopping.is_some() {
            if pid.is_alive() {
                write_log(&log, "the last virtkit was stopping qemu and went away: stopping it");
                pid.terminate(QUIT_GRACE).await.map_err(driver_err)?;
            } else if stopping.is_some() {
                write_log(&log, "qemu is gone (the last virtkit stopped it and went away before recording it)");
            } else {
                write_log(&log, "qemu is gone (it exited while no virtkit was watching)");
            }
            swtpm::stop(&tpms).await;
            let _ = std::fs::remove_dir_all(&data.run_dir);
            return match stopping {
                // The record goes once the engine has recorded the stop (forget).
                Some(reason) => Ok(Started::new(live, State::new(DomainState::Shutoff, reason))),
                None => Err(driver_err("its QEMU process is gone")),
            };
        }
        let connected = async {
            let stream = UnixStream::connect(&data.monitor).await.map_err(|e| format!("monitor: {e}"))?;
            Qmp::connect(stream, QMP_TIMEOUT).await.map_err(|e| e.to_string())
        };
        let (qmp, _, events) = match connected.await {
            Ok(c) => c,
            Err(why) => {
                return unreachable_qemu(&log, pid, &tpms, &data.run_dir, &why).await.map(|s| Started::new(live, s));
            }
        };
        let vm = Arc::new(Vm {
            uuid: dom.uuid,
            name: dom.name.clone(),
            def: live.clone(),
            qmp,
            pid,
            run_dir: data.run_dir.clone(),
            log,
            swtpms: data.swtpm.iter().filter_map(|t| ProcessId::from_token(t)).collect(),
            flags: Mutex::new(Flags::default()),
        });
        let status = match vm.qmp.execute("query-status", None).await {
            Ok(s) => s,
            Err(e) => {
                let why = e.to_string();
                return unreachable_qemu(&vm.log, pid, &tpms, &data.run_dir, &why).await.map(|s| Started::new(live, s));
            }
        };
        let status = status["status"].as_str().unwrap_or("").to_owned();
        self.state.vms().insert(dom.uuid, vm.clone());
        self.state.watch(vm.clone(), events);
        let state = match status.as_str() {
            "running" => State::new(DomainState::Running, StateReason::Unknown),
            // The guest powered off or panicked while no virtkit watched:
            // apply its policy now.
            "shutdown" => match on_guest_halt(&self.state, &vm, Halt::PowerOff).await {
                Some(s) => s,
                None => State::new(DomainState::Running, StateReason::Unknown),
            },
            "guest-panicked" => match on_guest_halt(&self.state, &vm, Halt::Panic).await {
                Some(s) => s,
                None => State::new(DomainState::Running, StateReason::Unknown),
            },
            "io-error" => State::new(DomainState::Paused, StateReason::IoError),
            "watchdog" => State::new(DomainState::Paused, StateReason::Watchdog),
            _ => State::new(DomainState::Paused, StateReason::Unknown),
        };
        let data = serde_json::to_value(&data).map_err(driver_err)?;
        Ok(Started::new(live, state).with_data(data))
    }

    fn forget(&self, dom: &DomainRef) {
        // A run started since (in `vms` until its QEMU is gone) keeps its own.
        if !self.state.vms().contains_key(&dom.uuid) {
            forget_stop(&self.state, dom.uuid);
        }
    }

    async fn open_console(&self, dom: &DomainRef, device: Option<&str>) -> Result<Console> {
        let vm = self.state.vm(dom)?;
        let d = &vm.def.devices;
        let source = match device {
            None => d.serials.first().map(|s| &s.source).or_else(|| d.consoles.first().map(|c| &c.source)),
            Some(name) => {
                let idx = |p: &str| name.strip_prefix(p).and_then(|n| n.parse::<usize>().ok());
                match (idx("serial"), idx("console")) {
                    (Some(i), _) => d.serials.get(i).map(|s| &s.source),
                    (_, Some(i)) => d.consoles.get(i).map(|c| &c.source),
                    _ => None,
                }
            }
        };
        match source {
            Some(CharSource::Pty { path: Some(p) }) => {
                let open = || {
                    let mut o = tokio::net::unix::pipe::OpenOptions::new();
                    o.unchecked(true);
                    Ok::<_, std::io::Error>(PtyConsole { rx: o.open_receiver(p)?, tx: o.open_sender(p)? })
                };
                let pty = open().map_err(|e| err(ErrorKind::Io, format!("cannot open the console {p}: {e}")))?;
                Ok(Box::new(pty))
            }
            Some(CharSource::Unix { path: Some(p), .. }) => {
                let s = UnixStream::connect(p)
                    .await
                    .map_err(|e| err(ErrorKind::Io, format!("cannot connect to the console {p}: {e}")))?;
                Ok(Box::new(s))
            }
            Some(_) => Err(err(
                ErrorKind::Unsupported,
                format!("the console of '{}' is not interactive (use a pty or unix serial port)", dom.name),
            )),
            None => Err(err(ErrorKind::InvalidArgument, format!("domain '{}' has no such console", dom.name))),
        }
    }
}

/// A QEMU that is alive but whose monitor does not answer is stopped (and
/// the domain shut off, reason `daemon`, as libvirt's reconnect does): left
/// running unwatched, it could be started a second time on the same disks.
async fn unreachable_qemu(
    log: &std::path::Path,
    pid: ProcessId,
    tpms: &[ProcessId],
    run_dir: &std::path::Path,
    why: &str,
) -> Result<State> {
    write_log(log, &format!("qemu's monitor does not answer ({why}): stopping qemu, so that it never runs twice"));
    pid.terminate(QUIT_GRACE).await.map_err(driver_err)?;
    swtpm::stop(tpms).await;
    let _ = std::fs::remove_dir_all(run_dir);
    Ok(State::new(DomainState::Shutoff, StateReason::Daemon))
}
