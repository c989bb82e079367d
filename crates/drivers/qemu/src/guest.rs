//! A running guest's life: asking it to power off or reboot, stopping its
//! QEMU, and the monitor task that turns QEMU's events into state changes
//! and applies the on_poweroff, on_reboot and on_crash policies.

use std::path::PathBuf;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

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

/// Stops QEMU: `quit`, then SIGKILL if it lingers. Cleans up after it.
pub(crate) async fn stop_vm(st: &Shared, vm: &Vm) -> Result<()> {
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
