//! A running guest's life: asking it to power off or reboot, stopping its
//! QEMU, and the monitor task that turns QEMU's events into state changes
//! and applies the on_poweroff, on_reboot and on_crash policies.

use std::path::PathBuf;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use uuid::Uuid;

use virtkit_engine::options::ShutdownMode;
use virtkit_engine::types::{DomainState, State, StateReason};
use virtkit_engine::{ErrorKind, Result};
use virtkit_model::domain::devices::CharSource;
use virtkit_model::domain::{CrashAction, LifecycleAction};

use crate::qmp::QmpEvent;
use crate::{
    AGENT_TIMEOUT, FAKE_REBOOT, Flags, QUIT_GRACE, Shared, Vm, agent, argv, driver_err, err, swtpm, write_log,
};

impl Vm {
    pub(crate) fn flags(&self) -> MutexGuard<'_, Flags> {
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn agent_socket(&self) -> Option<PathBuf> {
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
pub(crate) async fn request_power_off(vm: &Vm, mode: ShutdownMode, reboot: bool) -> Result<()> {
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

/// Stops QEMU for `reason`: `quit`, then SIGKILL if it lingers. Cleans up
/// after it.
pub(crate) async fn stop_vm(st: &Shared, vm: &Vm, reason: StateReason) -> Result<()> {
    vm.flags().stopping = true;
    record_stop(st, vm, reason);
    let _ = tokio::time::timeout(QUIT_GRACE, vm.qmp.execute_closing("quit")).await;
    if !vm.pid.wait_gone(QUIT_GRACE).await
        && let Err(e) = vm.pid.terminate(Duration::from_secs(1)).await
    {
        // It did not stop: nothing to explain to a next engine.
        forget_stop(st, vm.uuid);
        return Err(driver_err(e));
    }
    swtpm::stop(&vm.swtpms).await;
    forget(st, vm);
    Ok(())
}

fn forget(st: &Shared, vm: &Vm) {
    st.vms().remove(&vm.uuid);
    let _ = std::fs::remove_dir_all(&vm.run_dir);
}

/// Records, durably and before QEMU is told to go, why virtkit stops it:
/// when this process goes away before the engine has recorded the stop
/// (an embedded engine's client exits, virtkitd is killed), the next
/// engine reconnects, finds QEMU gone (or still going), and learns from
/// this that it was stopped, not that it crashed. The record stays until
/// the engine has recorded the stop ([`forget_stop`]) or the domain starts
/// again. Failing to write it does not stop the stop: at worst the next
/// engine says it crashed, as without it.
fn record_stop(st: &Shared, vm: &Vm, reason: StateReason) {
    let path = st.stop_record(vm.uuid);
    if let Err(e) = virtkit_host::fs::write_atomic(&path, reason.as_str().as_bytes(), 0o600) {
        tracing::warn!(domain = %vm.name, "cannot record why it stops: {e}");
        write_log(&vm.log, &format!("cannot record why it stops: {e}"));
    }
}

/// Why virtkit was stopping the domain `uuid`, when it was.
pub(crate) fn recorded_stop(st: &Shared, uuid: Uuid) -> Option<StateReason> {
    let text = std::fs::read_to_string(st.stop_record(uuid)).ok()?;
    text.trim().parse().ok()
}

/// Removes the record of why the domain `uuid` stopped (durably: a
/// stale one must not explain a later run's end).
pub(crate) fn forget_stop(st: &Shared, uuid: Uuid) {
    if let Err(e) = virtkit_host::fs::remove_durable(&st.stop_record(uuid)) {
        tracing::warn!(%uuid, "{e}");
    }
}

/// How a guest stopped by itself.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    PowerOff,
    /// A reboot QEMU turned into a halt (`-no-reboot`, for on_reboot=destroy).
    Reboot,
    Panic,
}

/// Applies the policy for a guest that halted. Returns the new state, or
/// `None` when it was reset and keeps running.
pub(crate) async fn on_guest_halt(st: &Arc<Shared>, vm: &Arc<Vm>, halt: Halt) -> Option<State> {
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
            if let Err(e) = stop_vm(st, vm, reason).await {
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
pub(crate) async fn monitor(st: Arc<Shared>, vm: Arc<Vm>, mut events: tokio::sync::mpsc::UnboundedReceiver<QmpEvent>) {
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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::UnixStream;
    use virtkit_engine::{DomainDriver, DomainRef};
    use virtkit_host::ProcessId;
    use virtkit_model::ByteSize;
    use virtkit_model::domain::{Domain, DomainType};

    use super::*;
    use crate::qmp::Qmp;
    use crate::{QemuDriver, RunData};

    /// A process standing in for QEMU.
    fn stand_in() -> (tokio::process::Child, ProcessId) {
        let child = tokio::process::Command::new("sleep").arg("60").kill_on_drop(true).spawn().unwrap();
        let pid = ProcessId::of(child.id().unwrap()).unwrap();
        (child, pid)
    }

    fn run_data(pid: ProcessId, run_dir: &Path) -> Value {
        let data = RunData {
            pid: pid.to_token(),
            monitor: run_dir.join("monitor.sock"),
            run_dir: run_dir.to_owned(),
            emulator: "/usr/bin/qemu-system-x86_64".into(),
            swtpm: Vec::new(),
        };
        serde_json::to_value(data).unwrap()
    }

    fn guest() -> Arc<Domain> {
        Arc::new(Domain::new(DomainType::Qemu, "g", ByteSize::mib(64)))
    }

    /// What a reconnect test starts from: a driver on a root of its own,
    /// the guest, and where its runtime directory goes (not made yet).
    fn reconnecting() -> (tempfile::TempDir, QemuDriver, Arc<Domain>, DomainRef, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let driver = QemuDriver::new(root.path());
        let def = guest();
        let dom = DomainRef::new(def.uuid, "g");
        let run_dir = root.path().join("run").join(def.uuid.to_string());
        (root, driver, def, dom, run_dir)
    }

    #[tokio::test]
    async fn a_gone_qemu_is_shut_off_when_its_stop_was_recorded_and_crashed_when_not() {
        let (_root, driver, def, dom, run_dir) = reconnecting();
        let record = driver.state.stop_record(def.uuid);
        let (mut child, pid) = stand_in();
        child.kill().await.unwrap();
        assert!(!pid.is_alive());

        // No record: it went away by itself.
        std::fs::create_dir_all(&run_dir).unwrap();
        let e = driver.reconnect(&dom, def.clone(), run_data(pid, &run_dir)).await.unwrap_err();
        assert_eq!(e.message(), "its QEMU process is gone");
        assert!(!run_dir.exists());

        // Recorded: the last engine was stopping it when it went away.
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(&record, "shutdown").unwrap();
        let s = driver.reconnect(&dom, def.clone(), run_data(pid, &run_dir)).await.unwrap();
        assert_eq!(s.state, State::new(DomainState::Shutoff, StateReason::Shutdown));
        assert!(!run_dir.exists());
        assert!(record.exists(), "the record stays until the engine has recorded the stop");
        driver.forget(&dom);
        assert!(!record.exists());
        // Once forgotten, a gone QEMU is a crash again.
        let e = driver.reconnect(&dom, def.clone(), run_data(pid, &run_dir)).await.unwrap_err();
        assert_eq!(e.message(), "its QEMU process is gone");
    }

    #[tokio::test]
    async fn a_stop_the_last_engine_left_half_done_is_finished() {
        let (_root, driver, def, dom, run_dir) = reconnecting();
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(driver.state.stop_record(def.uuid), "destroyed").unwrap();
        let (mut child, pid) = stand_in();
        let reaper = tokio::spawn(async move { child.wait().await.unwrap() });
        let s = driver.reconnect(&dom, def, run_data(pid, &run_dir)).await.unwrap();
        assert_eq!(s.state, State::new(DomainState::Shutoff, StateReason::Destroyed));
        assert!(!pid.is_alive());
        assert!(!reaper.await.unwrap().success(), "it was killed");
        assert!(!run_dir.exists());
    }

    #[tokio::test]
    async fn a_live_qemu_whose_monitor_does_not_answer_is_stopped_not_left_running() {
        let (root, driver, def, dom, run_dir) = reconnecting();
        // No monitor socket in the run directory: nothing answers there.
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::create_dir_all(root.path().join("log")).unwrap();
        let (mut child, pid) = stand_in();
        let reaper = tokio::spawn(async move { child.wait().await.unwrap() });
        let s = driver.reconnect(&dom, def, run_data(pid, &run_dir)).await.unwrap();
        assert_eq!(s.state, State::new(DomainState::Shutoff, StateReason::Daemon));
        assert!(!reaper.await.unwrap().success(), "it was stopped");
        assert!(!pid.is_alive());
        assert!(!run_dir.exists());
        let log = std::fs::read_to_string(driver.state.log_path(dom.uuid, "")).unwrap();
        assert!(log.contains("monitor does not answer"), "{log}");
    }

    /// The race itself: QEMU reports the guest's power-off, the driver
    /// tells it to quit, and the engine is gone (nothing listens for the
    /// stop) before it records it. The next engine learns it shut down.
    #[tokio::test]
    async fn a_guest_power_off_is_recorded_before_qemu_is_told_to_quit() {
        let root = tempfile::tempdir().unwrap();
        let driver = QemuDriver::new(root.path());
        let st = driver.state.clone();
        let def = guest();
        let uuid = def.uuid;
        let run_dir = root.path().join("run").join(uuid.to_string());
        std::fs::create_dir_all(&run_dir).unwrap();
        let (mut child, pid) = stand_in();
        let (ours, theirs) = UnixStream::pair().unwrap();
        let record = st.stop_record(uuid);
        let fake = tokio::spawn({
            let record = record.clone();
            async move {
                let (r, mut w) = theirs.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 8}}}}\n")
                    .await
                    .unwrap();
                let mut commands = Vec::new();
                let mut line = String::new();
                while r.read_line(&mut line).await.unwrap() > 0 {
                    let m: Value = serde_json::from_str(&line).unwrap();
                    line.clear();
                    let cmd = m["execute"].as_str().unwrap().to_owned();
                    commands.push(cmd.clone());
                    if cmd == "qmp_capabilities" {
                        w.write_all(format!("{{\"return\": {{}}, \"id\": {}}}\n", m["id"]).as_bytes()).await.unwrap();
                        // The guest powers off.
                        w.write_all(b"{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}, \"timestamp\": {}}\n").await.unwrap();
                    } else if cmd == "quit" {
                        // By now the reason is on disk.
                        assert_eq!(std::fs::read_to_string(&record).unwrap(), "shutdown");
                        w.write_all(format!("{{\"return\": {{}}, \"id\": {}}}\n", m["id"]).as_bytes()).await.unwrap();
                        child.kill().await.unwrap();
                        break;
                    }
                }
                commands
            }
        });
        let (qmp, _, events) = Qmp::connect(ours, Duration::from_secs(5)).await.unwrap();
        let vm = Arc::new(Vm {
            uuid,
            name: "g".into(),
            def: def.clone(),
            qmp,
            pid,
            run_dir: run_dir.clone(),
            log: root.path().join("g.log"),
            swtpms: Vec::new(),
            flags: std::sync::Mutex::new(crate::Flags::default()),
        });
        st.vms().insert(uuid, vm.clone());
        // No engine is attached: the report of the stop reaches no one.
        tokio::time::timeout(Duration::from_secs(20), monitor(st.clone(), vm, events)).await.unwrap();
        assert_eq!(fake.await.unwrap(), ["qmp_capabilities", "quit"]);
        assert!(!pid.is_alive());
        assert!(!run_dir.exists());
        assert!(st.vms().is_empty());
        assert_eq!(recorded_stop(&st, uuid), Some(StateReason::Shutdown));

        // The next engine's driver on this root.
        let next = QemuDriver::new(root.path());
        let dom = DomainRef::new(uuid, "g");
        let s = next.reconnect(&dom, def, run_data(pid, &run_dir)).await.unwrap();
        assert_eq!(s.state, State::new(DomainState::Shutoff, StateReason::Shutdown));
    }
}
