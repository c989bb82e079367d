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
mod defaults;
mod firmware;
mod graphics;
mod host;
mod hostdev;
mod hostmem;
mod native;
pub mod qmp;
mod setup;
mod stats;
mod swtpm;

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::UnixStream;
use uuid::Uuid;
use virtkit_engine::options::{ShutdownMode, StartOptions};
use virtkit_engine::seams::{Resources, VolumeSource};
use virtkit_engine::types::{Capabilities, DomainState, DomainStats, HostInfo, State, StateReason};
use virtkit_engine::{Console, DomainDriver, DomainRef, DriverEvents, Error, ErrorKind, Result, Started};
use virtkit_host::{ProcessId, Spawn};
use virtkit_model::domain::devices::{BalloonModel, CharSource, SourceLocation};
use virtkit_model::domain::{CrashAction, Domain, DomainType, LifecycleAction};

use crate::argv::Accel;
use crate::caps::QemuCaps;
use crate::qmp::{Qmp, QmpEvent};

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

/// What starting and `domxml-to-native` share: the emulator, its
/// capabilities, the accelerator, and the definition QEMU runs (firmware
/// resolved; its variable store made from the template when `make_nvram`).
async fn prepare_run(st: &Shared, def: &Domain, make_nvram: bool) -> Result<(PathBuf, Arc<QemuCaps>, Accel, Domain)> {
    let emulator = emulator_for(def)?;
    let caps = st.caps(&emulator).await?;
    let accel = match def.domain_type {
        DomainType::Kvm if caps.kvm.usable => Accel::Kvm,
        DomainType::Kvm => {
            return Err(err(
                ErrorKind::Unsupported,
                format!(
                    "KVM cannot run guests on this host ({}); use <domain type='qemu'> for software emulation",
                    caps.kvm.why
                ),
            ));
        }
        _ => Accel::Tcg,
    };
    if let Some(m) = &def.os.machine
        && caps.machine(m).is_none()
    {
        return Err(err(
            ErrorKind::InvalidArgument,
            format!("machine type '{m}' is not one {} knows: {}", emulator.display(), caps.machine_names().join(", ")),
        ));
    }
    let machine = def.os.machine.as_deref().unwrap_or("pc");
    let canonical = caps.machine(machine).map(|m| m.name.clone()).unwrap_or_default();
    let machines = [machine, canonical.as_str()];
    let live = firmware::resolve(&st.root, def, &machines, Path::new(firmware::DESCRIPTORS), make_nvram)?;
    Ok((emulator, caps, accel, live))
}

/// QEMU's environment for `def`.
fn launch_env(def: &Domain, run_dir: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("LC_ALL".to_owned(), "C".to_owned()),
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), run_dir.display().to_string()),
    ];
    env.extend(argv::environment(def));
    env
}

/// The argv context for `def` on this host.
fn argv_context(def: &Domain, caps: &QemuCaps, accel: Accel, run_dir: &Path) -> Result<argv::Context> {
    Ok(argv::Context {
        accel,
        monitor_fd: 3,
        run_dir: run_dir.to_owned(),
        devices: caps.devices.clone(),
        nics: caps.nics.clone(),
        netdevs: caps.netdevs.clone(),
        audio_drivers: caps.audio_drivers.clone(),
        displays: caps.displays.clone(),
        spice_port: graphics::pick_spice_port(def).map_err(|e| driver_err(format!("a SPICE port: {e}")))?,
        block_modules: caps::block_modules(&caps.binary),
        host: hostmem::facts(),
    })
}

/// `def` with each `<disk type='volume'>` the storage driver resolved
/// turned into the file or block device it is (its format as the
/// volume's, unless the disk names one): what QEMU opens, and what the
/// live definition shows, so that the pool sees the volume in use.
fn with_volumes(def: Arc<Domain>, res: &Resources) -> Arc<Domain> {
    if res.volumes.is_empty() {
        return def;
    }
    let mut d = (*def).clone();
    for v in &res.volumes {
        let (Some(disk), Some(top)) = (d.devices.disks.get_mut(v.disk), v.chain.first()) else { continue };
        disk.source.location = match &top.source {
            VolumeSource::Block(p) => SourceLocation::Block { dev: Some(p.display().to_string()), reservations: None },
            VolumeSource::File(p) => SourceLocation::File { path: Some(p.display().to_string()), fdgroup: None },
            _ => continue,
        };
        let driver = disk.driver.get_or_insert_with(Default::default);
        if driver.format.is_none() {
            driver.format = top.format.parse().ok();
        }
    }
    Arc::new(d)
}

/// Files the definition needs that are not there: refused before QEMU runs.
fn check_files(def: &Domain) -> Result<()> {
    let missing = |what: &str, p: &str| err(ErrorKind::InvalidArgument, format!("{what} {p} does not exist"));
    for (what, p) in [("kernel", &def.os.kernel), ("initrd", &def.os.initrd), ("dtb", &def.os.dtb)] {
        if let Some(p) = p
            && !Path::new(p).exists()
        {
            return Err(missing(what, p));
        }
    }
    if let Some(p) = def.os.loader.as_ref().and_then(|l| l.path.as_ref())
        && !Path::new(p).exists()
    {
        return Err(missing("loader", p));
    }
    for d in &def.devices.disks {
        if let Some(s) = d.source.path()
            && !Path::new(s).exists()
        {
            return Err(missing(&format!("disk {}'s source", d.target.dev), s));
        }
        for l in d.backing_store.iter().flat_map(|b| b.layers()) {
            if let Some(s) = l.source.path()
                && !Path::new(s).exists()
            {
                return Err(missing(&format!("disk {}'s backing layer", d.target.dev), s));
            }
        }
    }
    Ok(())
}

/// The live definition: the paths virtkit chose and QEMU allocated.
fn live_definition(def: &Domain, run_dir: &Path, ptys: &HashMap<String, String>) -> Domain {
    let mut live = def.clone();
    let fill = |src: &mut CharSource, label: &str, default: PathBuf| match src {
        CharSource::Pty { path } => {
            if let Some(p) = ptys.get(label) {
                *path = Some(p.clone());
            }
        }
        CharSource::Unix { path, .. } if path.is_none() => *path = Some(default.display().to_string()),
        _ => {}
    };
    let no_serials = live.devices.serials.is_empty();
    for (i, s) in live.devices.serials.iter_mut().enumerate() {
        fill(&mut s.source, &format!("charserial{i}"), argv::serial_socket(run_dir, "serial", i));
    }
    for (i, c) in live.devices.consoles.iter_mut().enumerate() {
        let label = if no_serials && i == 0 { "charserial0".to_owned() } else { format!("charconsole{i}") };
        fill(&mut c.source, &label, argv::serial_socket(run_dir, "console", i));
    }
    // A console on serial port N shows that port's source.
    let serial_sources: Vec<CharSource> = live.devices.serials.iter().map(|s| s.source.clone()).collect();
    for c in &mut live.devices.consoles {
        let on_serial = c.target_type.is_none_or(|t| t == virtkit_model::domain::devices::ConsoleTargetType::Serial);
        if on_serial
            && !no_serials
            && let Some(s) = serial_sources.get(c.target_port.unwrap_or(0) as usize)
        {
            c.source = s.clone();
        }
    }
    for (i, c) in live.devices.channels.iter_mut().enumerate() {
        let sock = argv::channel_socket(run_dir, i, c.target.name.as_deref());
        fill(&mut c.source, &format!("charchannel{i}"), sock);
    }
    live
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
        let ctx = argv_context(&live, &caps, accel, &run_dir)?;
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

    async fn start(&self, dom: &DomainRef, def: Arc<Domain>, res: Resources, opts: &StartOptions) -> Result<Started> {
        let st = &self.state;
        let def = with_volumes(def, &res);
        host::check(&def)?;
        let (emulator, caps, accel, live) = prepare_run(st, &def, true).await?;
        let def = Arc::new(live);
        check_files(&def)?;
        hostmem::check(&def, &hostmem::facts())?;
        let run_dir = st.root.join("run").join(dom.uuid.to_string());
        let _ = std::fs::remove_dir_all(&run_dir);
        virtkit_host::fs::create_dir(&run_dir, 0o700).map_err(driver_err)?;
        let log = st.log_path(dom.uuid, "");
        let cleanup = |run_dir: &Path| {
            let _ = std::fs::remove_dir_all(run_dir);
        };
        let result = self.launch(dom, &def, opts, &emulator, &caps, accel, &run_dir, &log).await;
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
        stop_vm(&self.state, &vm).await
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
        if !pid.is_alive() {
            write_log(&log, "qemu is gone (it exited while no virtkit was watching)");
            let tpms: Vec<ProcessId> = data.swtpm.iter().filter_map(|t| ProcessId::from_token(t)).collect();
            swtpm::stop(&tpms).await;
            let _ = std::fs::remove_dir_all(&data.run_dir);
            return Err(driver_err("its QEMU process is gone"));
        }
        let stream = UnixStream::connect(&data.monitor).await.map_err(|e| driver_err(format!("monitor: {e}")))?;
        let (qmp, _, events) = Qmp::connect(stream, QMP_TIMEOUT).await.map_err(driver_err)?;
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
        let status = vm.qmp.execute("query-status", None).await.map_err(driver_err)?;
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

/// A pty, read and written at once without blocking threads (tokio's
/// `File` cannot write while a read is pending).
struct PtyConsole {
    rx: tokio::net::unix::pipe::Receiver,
    tx: tokio::net::unix::pipe::Sender,
}

impl tokio::io::AsyncRead for PtyConsole {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.rx).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for PtyConsole {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tx).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tx).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tx).poll_shutdown(cx)
    }
}

impl QemuDriver {
    #[allow(clippy::too_many_arguments)]
    async fn launch(
        &self,
        dom: &DomainRef,
        def: &Arc<Domain>,
        opts: &StartOptions,
        emulator: &Path,
        caps: &QemuCaps,
        accel: Accel,
        run_dir: &Path,
        log: &Path,
    ) -> Result<Started> {
        let st = &self.state;
        let monitor_path = run_dir.join("monitor.sock");
        if monitor_path.as_os_str().len() > 100 {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("{} is too long for a unix socket: use a shorter root", monitor_path.display()),
            ));
        }
        let listener =
            std::os::unix::net::UnixListener::bind(&monitor_path).map_err(|e| driver_err(format!("monitor: {e}")))?;
        let ctx = argv_context(def, caps, accel, run_dir)?;
        let args = argv::build(def, &ctx).map_err(|e| err(ErrorKind::Unsupported, e.to_string()))?;
        virtkit_host::fs::create_dir(log.parent().unwrap_or(&st.root), 0o700).map_err(driver_err)?;
        let tpm_log = st.log_path(dom.uuid, "-swtpm");
        let swtpms = swtpm::start(def, &st.root, run_dir, &tpm_log).await?;
        let started = self.run_qemu(dom, def, opts, emulator, &ctx, &args, listener, run_dir, log, &swtpms).await;
        if started.is_err() {
            swtpm::stop(&swtpms).await;
        }
        started
    }

    /// Runs QEMU with `args` and sets it up; the software TPMs it uses are
    /// already running.
    #[allow(clippy::too_many_arguments)]
    async fn run_qemu(
        &self,
        dom: &DomainRef,
        def: &Arc<Domain>,
        opts: &StartOptions,
        emulator: &Path,
        ctx: &argv::Context,
        args: &[String],
        listener: std::os::unix::net::UnixListener,
        run_dir: &Path,
        log: &Path,
        swtpms: &[ProcessId],
    ) -> Result<Started> {
        let st = &self.state;
        let monitor_path = run_dir.join("monitor.sock");
        write_log(log, &format!("starting: {} {}", emulator.display(), args.join(" ")));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| driver_err(format!("cannot open {}: {e}", log.display())))?;
        let mut spawn = Spawn::new(emulator).args(args).fd(OwnedFd::from(listener), 3).log(log_file).cwd(run_dir);
        for (k, v) in launch_env(def, run_dir) {
            spawn = spawn.env(k, v);
        }
        let mut child = spawn.spawn().map_err(driver_err)?;
        let pid = child.id().and_then(|p| ProcessId::of(p).ok());
        let fail = |why: String| {
            let tail = virtkit_host::log_tail(log, 2000);
            let last: Vec<&str> = tail.lines().filter(|l| !l.starts_with("virtkit [")).collect();
            let detail = last.last().map(|l| format!(": {l}")).unwrap_or_default();
            write_log(log, &format!("start failed: {why}"));
            err(ErrorKind::Driver, format!("QEMU failed to start {}{detail} ({why}; see {})", dom.name, log.display()))
        };
        // Connect while watching QEMU: a bad argument makes it exit at once.
        let connect = async {
            let stream = UnixStream::connect(&monitor_path).await.map_err(|e| e.to_string())?;
            Qmp::connect(stream, QMP_TIMEOUT).await.map_err(|e| e.to_string())
        };
        let connected = tokio::select! {
            r = connect => r,
            status = child.wait() => Err(match status {
                Ok(s) => format!("it exited ({s})"),
                Err(e) => e.to_string(),
            }),
        };
        let (qmp, _, events) = match (connected, pid) {
            (Ok(c), Some(_)) => c,
            (Ok(_), None) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(fail("its process vanished".into()));
            }
            (Err(why), _) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(fail(why));
            }
        };
        let Some(pid) = pid else { return Err(fail("no pid".into())) };
        let setup = async {
            let chardevs = qmp.execute("query-chardev", None).await?;
            let ptys: HashMap<String, String> = chardevs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let f = c["filename"].as_str()?.strip_prefix("pty:")?;
                    Some((c["label"].as_str()?.to_owned(), f.to_owned()))
                })
                .collect();
            setup::configure(&qmp, def).await?;
            // currentMemory below memory: the balloon takes the rest.
            let balloon = def.devices.memballoon.as_ref().is_some_and(|b| b.model != BalloonModel::None);
            if let Some(current) = def.current_memory.filter(|c| balloon && c.as_bytes() < def.memory.as_bytes()) {
                qmp.execute("balloon", Some(json!({ "value": current.as_bytes() }))).await?;
            }
            if !opts.paused {
                qmp.execute("cont", None).await?;
            }
            Ok::<_, qmp::QmpError>(ptys)
        };
        let ptys = match setup.await {
            Ok(p) => p,
            Err(e) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(fail(e.to_string()));
            }
        };
        let mut live = live_definition(def, run_dir, &ptys);
        graphics::show_port(&mut live, ctx.spice_port);
        let live = Arc::new(live);
        let vm = Arc::new(Vm {
            uuid: dom.uuid,
            name: dom.name.clone(),
            def: live.clone(),
            qmp,
            pid,
            run_dir: run_dir.to_owned(),
            log: log.to_owned(),
            swtpms: swtpms.to_vec(),
            // The `cont` above has its RESUME event still to come.
            flags: Mutex::new(Flags { own_resumes: u32::from(!opts.paused), ..Flags::default() }),
        });
        st.vms().insert(dom.uuid, vm.clone());
        st.watch(vm.clone(), events);
        // Reap QEMU when this process is its parent, and record how it ended.
        let log_path = log.to_owned();
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                write_log(&log_path, &format!("qemu exited: {status}"));
            }
        });
        let state = if opts.paused {
            State::new(DomainState::Paused, StateReason::User)
        } else {
            State::new(DomainState::Running, StateReason::Booted)
        };
        let data = RunData {
            pid: pid.to_token(),
            monitor: monitor_path,
            run_dir: run_dir.to_owned(),
            emulator: emulator.to_owned(),
            swtpm: swtpms.iter().map(ProcessId::to_token).collect(),
        };
        Ok(Started::new(live, state).with_data(serde_json::to_value(&data).map_err(driver_err)?))
    }
}

impl Vm {
    fn flags(&self) -> MutexGuard<'_, Flags> {
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn agent_socket(&self) -> Option<PathBuf> {
        self.def.devices.channels.iter().enumerate().find(|(_, c)| c.is_guest_agent()).and_then(|(i, c)| {
            match &c.source {
                CharSource::Unix { path: Some(p), .. } => Some(PathBuf::from(p)),
                CharSource::Unix { path: None, .. } => {
                    Some(argv::channel_socket(&self.run_dir, i, c.target.name.as_deref()))
                }
                _ => None,
            }
        })
    }
}

/// Asks the guest to power off (or reboot) the way `mode` says.
async fn request_power_off(vm: &Vm, mode: ShutdownMode, reboot: bool) -> Result<()> {
    let agent = vm.agent_socket();
    let use_agent = match (mode, &agent) {
        (ShutdownMode::Agent, None) => {
            return Err(err(ErrorKind::Unsupported, format!("domain '{}' has no guest agent channel", vm.name)));
        }
        (ShutdownMode::Agent, Some(_)) => true,
        (ShutdownMode::Any, Some(_)) => true,
        _ => false,
    };
    if use_agent && let Some(sock) = &agent {
        match agent::Agent::connect(sock, AGENT_TIMEOUT).await {
            Ok(mut a) => return a.shutdown(reboot).await.map_err(driver_err),
            Err(e) if mode == ShutdownMode::Agent => return Err(driver_err(e)),
            Err(e) => tracing::info!(domain = %vm.name, "guest agent unavailable, using ACPI: {e}"),
        }
    }
    if reboot {
        vm.flags().fake_reboot = true;
        // Also on disk: with the engine embedded in a short-lived client,
        // the guest may halt after this process has gone, and the next one
        // must still reset it rather than stop it.
        let _ = std::fs::write(vm.run_dir.join(FAKE_REBOOT), b"");
    }
    vm.qmp.execute("system_powerdown", None).await.map_err(driver_err)?;
    Ok(())
}

/// Stops QEMU: `quit`, then SIGKILL if it lingers. Cleans up after it.
async fn stop_vm(st: &Shared, vm: &Vm) -> Result<()> {
    vm.flags().stopping = true;
    let _ = tokio::time::timeout(QUIT_GRACE, vm.qmp.execute_closing("quit")).await;
    if !vm.pid.wait_gone(QUIT_GRACE).await {
        vm.pid.terminate(Duration::from_secs(1)).await.map_err(driver_err)?;
    }
    swtpm::stop(&vm.swtpms).await;
    forget(st, vm);
    Ok(())
}

fn forget(st: &Shared, vm: &Vm) {
    st.vms().remove(&vm.uuid);
    let _ = std::fs::remove_dir_all(&vm.run_dir);
}

/// How a guest stopped by itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Halt {
    PowerOff,
    /// A reboot QEMU turned into a halt (`-no-reboot`, for on_reboot=destroy).
    Reboot,
    Panic,
}

/// Applies the policy for a guest that halted. Returns the new state, or
/// `None` when it was reset and keeps running.
async fn on_guest_halt(st: &Arc<Shared>, vm: &Arc<Vm>, halt: Halt) -> Option<State> {
    let marker = vm.run_dir.join(FAKE_REBOOT);
    let fake_reboot = std::mem::take(&mut vm.flags().fake_reboot) | marker.exists();
    let _ = std::fs::remove_file(&marker);
    let def = &vm.def;
    enum Do {
        Stop(StateReason),
        Restart,
        Keep(State),
    }
    let action = match halt {
        Halt::PowerOff if fake_reboot => Do::Restart,
        Halt::PowerOff => match def.on_poweroff.unwrap_or(LifecycleAction::Destroy) {
            LifecycleAction::Restart | LifecycleAction::RenameRestart => Do::Restart,
            LifecycleAction::Preserve => Do::Keep(State::new(DomainState::Paused, StateReason::ShuttingDown)),
            _ => Do::Stop(StateReason::Shutdown),
        },
        Halt::Reboot => Do::Stop(StateReason::Shutdown),
        Halt::Panic => match def.on_crash.unwrap_or(CrashAction::Destroy) {
            CrashAction::Restart | CrashAction::RenameRestart | CrashAction::CoredumpRestart => Do::Restart,
            CrashAction::Preserve => Do::Keep(State::new(DomainState::Crashed, StateReason::Panicked)),
            _ => Do::Stop(StateReason::Crashed),
        },
    };
    match action {
        Do::Stop(reason) => {
            write_log(
                &vm.log,
                &format!("the guest {}: stopping", if halt == Halt::Panic { "panicked" } else { "powered off" }),
            );
            if let Err(e) = stop_vm(st, vm).await {
                tracing::warn!(domain = %vm.name, "cannot stop: {e}");
            }
            Some(State::new(DomainState::Shutoff, reason))
        }
        Do::Restart => {
            {
                // `halting` stays until the RESUME of this `cont`: the STOP
                // of the halt may still be on its way.
                let mut f = vm.flags();
                f.own_resumes += 1;
                f.reset_echo_until = Some(std::time::Instant::now() + Duration::from_secs(10));
            }
            let reset = vm.qmp.execute("system_reset", None).await;
            let cont = vm.qmp.execute("cont", None).await;
            if let Err(e) = reset.and(cont) {
                tracing::warn!(domain = %vm.name, "cannot restart the guest: {e}");
            }
            st.report_rebooted(vm.uuid);
            None
        }
        Do::Keep(state) => Some(state),
    }
}

/// Turns QEMU's events into state changes, until QEMU goes away.
async fn monitor(st: Arc<Shared>, vm: Arc<Vm>, mut events: tokio::sync::mpsc::UnboundedReceiver<QmpEvent>) {
    while let Some(ev) = events.recv().await {
        let data = &ev.data;
        write_log(&vm.log, &format!("event {} {data}", ev.name));
        match ev.name.as_str() {
            "SHUTDOWN" => {
                let guest = data["guest"].as_bool().unwrap_or(false);
                let reason = data["reason"].as_str().unwrap_or("");
                if vm.flags().stopping || !guest {
                    continue;
                }
                vm.flags().halting = true;
                let halt = if reason == "guest-reset" { Halt::Reboot } else { Halt::PowerOff };
                if let Some(s) = on_guest_halt(&st, &vm, halt).await {
                    if s.state == DomainState::Shutoff {
                        st.report_stopped(vm.uuid, s.reason);
                        return;
                    }
                    st.report_state(vm.uuid, s);
                }
            }
            "GUEST_PANICKED" => {
                write_log(&vm.log, &format!("the guest panicked: {data}"));
                vm.flags().halting = true;
                if let Some(s) = on_guest_halt(&st, &vm, Halt::Panic).await {
                    if s.state == DomainState::Shutoff {
                        st.report_stopped(vm.uuid, s.reason);
                        return;
                    }
                    st.report_state(vm.uuid, s);
                }
            }
            "RESET" => {
                if data["guest"].as_bool() != Some(true) {
                    continue;
                }
                let echo = vm.flags().reset_echo_until.take().is_some_and(|t| std::time::Instant::now() < t);
                if !echo {
                    st.report_rebooted(vm.uuid);
                }
            }
            "STOP" => {
                let reason = {
                    let mut f = vm.flags();
                    if f.own_stops > 0 {
                        f.own_stops -= 1;
                        continue;
                    }
                    if f.halting || f.stopping {
                        continue;
                    }
                    f.stop_reason.take().unwrap_or(StateReason::Unknown)
                };
                st.report_state(vm.uuid, State::new(DomainState::Paused, reason));
            }
            "RESUME" => {
                {
                    let mut f = vm.flags();
                    f.halting = false;
                    if f.own_resumes > 0 {
                        f.own_resumes -= 1;
                        continue;
                    }
                    if f.stopping {
                        continue;
                    }
                }
                st.report_state(vm.uuid, State::new(DomainState::Running, StateReason::Unpaused));
            }
            "BLOCK_IO_ERROR" => vm.flags().stop_reason = Some(StateReason::IoError),
            "WATCHDOG" => vm.flags().stop_reason = Some(StateReason::Watchdog),
            _ => {}
        }
    }
    // The monitor closed: QEMU is gone (or going).
    if vm.flags().stopping {
        return;
    }
    let _ = vm.pid.wait_gone(Duration::from_secs(2)).await;
    write_log(&vm.log, "qemu went away without being asked: the domain crashed");
    swtpm::stop(&vm.swtpms).await;
    forget(&st, &vm);
    st.report_stopped(vm.uuid, StateReason::Crashed);
}
