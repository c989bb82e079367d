//! Starting a domain: the emulator and its capabilities, the files the
//! definition needs, QEMU's argv and environment, running QEMU and setting
//! it up over its monitor, and the live definition it runs with.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::net::UnixStream;
use virtkit_engine::options::StartOptions;
use virtkit_engine::seams::Resources;
use virtkit_engine::types::{DomainState, State, StateReason};
use virtkit_engine::{DomainRef, ErrorKind, Result, Started};
use virtkit_host::{ProcessId, Spawn};
use virtkit_model::domain::devices::{BalloonModel, CharSource};
use virtkit_model::domain::{Domain, DomainType};
use virtkit_model::storage::SecretRef;

use crate::argv::Accel;
use crate::caps::QemuCaps;
use crate::qmp::Qmp;
use crate::{
    Flags, QMP_TIMEOUT, QemuDriver, RunData, Shared, Vm, argv, caps, driver_err, emulator_for, err, firmware, graphics,
    hostmem, qmp, setup, swtpm, write_log,
};

/// What starting and `domxml-to-native` share: the emulator, its
/// capabilities, the accelerator, and the definition QEMU runs (firmware
/// resolved; its variable store made from the template when `make_nvram`).
pub(crate) async fn prepare_run(
    st: &Shared,
    def: &Domain,
    make_nvram: bool,
) -> Result<(PathBuf, Arc<QemuCaps>, Accel, Domain)> {
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
pub(crate) fn launch_env(def: &Domain, run_dir: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("LC_ALL".to_owned(), "C".to_owned()),
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), run_dir.display().to_string()),
    ];
    env.extend(argv::environment(def));
    env
}

/// The descriptor QEMU gets its first tap as (the monitor is 3).
pub(crate) const FIRST_TAP_FD: i32 = 4;

/// The open taps of `def`'s interfaces on networks and bridges, in the
/// order [`argv::tap_fds`] numbers them. An interface the network driver
/// gave no tap is refused here, naming it.
pub(crate) fn taps_of(def: &Domain, res: &mut Resources) -> Result<Vec<OwnedFd>> {
    argv::tap_fds(def, FIRST_TAP_FD)
        .into_keys()
        .map(|i| {
            res.take_tap(i).ok_or_else(|| {
                err(ErrorKind::Internal, format!("interface {}: the network driver opened no tap for it", i + 1))
            })
        })
        .collect()
}

/// The argv context for `def` on this host.
pub(crate) fn argv_context(
    def: &Domain,
    caps: &QemuCaps,
    accel: Accel,
    run_dir: &Path,
    secrets: Vec<SecretRef>,
) -> Result<argv::Context> {
    Ok(argv::Context {
        secrets,
        taps: argv::tap_fds(def, FIRST_TAP_FD),
        vhost_net: std::fs::OpenOptions::new().read(true).write(true).open("/dev/vhost-net").is_ok(),
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

/// Files the definition needs that are not there: refused before QEMU runs.
pub(crate) fn check_files(def: &Domain) -> Result<()> {
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

impl QemuDriver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn launch(
        &self,
        dom: &DomainRef,
        def: &Arc<Domain>,
        opts: &StartOptions,
        emulator: &Path,
        caps: &QemuCaps,
        accel: Accel,
        run_dir: &Path,
        log: &Path,
        taps: Vec<OwnedFd>,
        secrets: Vec<SecretRef>,
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
        let ctx = argv_context(def, caps, accel, run_dir, secrets)?;
        let args = argv::build(def, &ctx).map_err(|e| err(ErrorKind::Unsupported, e.to_string()))?;
        virtkit_host::fs::create_dir(log.parent().unwrap_or(&st.root), 0o700).map_err(driver_err)?;
        let tpm_log = st.log_path(dom.uuid, "-swtpm");
        let swtpms = swtpm::start(def, &st.root, run_dir, &tpm_log).await?;
        let mut fds = vec![(OwnedFd::from(listener), ctx.monitor_fd)];
        fds.extend(taps.into_iter().zip(FIRST_TAP_FD..));
        let started = self.run_qemu(dom, def, opts, emulator, &ctx, &args, fds, run_dir, log, &swtpms).await;
        if started.is_err() {
            swtpm::stop(&swtpms).await;
        }
        started
    }

    /// Runs QEMU with `args` and the descriptors `fds` (each under its
    /// number: the monitor's listening socket, the taps) and sets it up;
    /// the software TPMs it uses are already running.
    #[allow(clippy::too_many_arguments)]
    async fn run_qemu(
        &self,
        dom: &DomainRef,
        def: &Arc<Domain>,
        opts: &StartOptions,
        emulator: &Path,
        ctx: &argv::Context,
        args: &[String],
        fds: Vec<(OwnedFd, i32)>,
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
        let mut spawn = Spawn::new(emulator).args(args).log(log_file).cwd(run_dir);
        for (fd, target) in fds {
            spawn = spawn.fd(fd, target);
        }
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

/// Writes the value of each secret the engine gave into the runtime
/// directory (mode 0600), where `-object secret` has QEMU read it; the
/// values never reach a command line. Returns the secrets, in order.
pub(crate) fn write_secrets(res: &Resources, run_dir: &Path) -> Result<Vec<SecretRef>> {
    for (i, s) in res.secrets.iter().enumerate() {
        let file = argv::secret_file(run_dir, i);
        virtkit_host::fs::write_atomic(&file, &s.value, 0o600).map_err(driver_err)?;
    }
    Ok(res.secrets.iter().map(|s| s.reference.clone()).collect())
}
