//! Software TPMs: one swtpm process per emulated `<tpm>`, started before
//! QEMU and supervised with the guest.
//!
//! The TPM's state lives in `ROOT/swtpm/UUID/tpm2` (or `tpm1.2`), created
//! by `swtpm_setup` on first start and kept across restarts of the guest.
//! swtpm listens on its control socket in the guest's runtime directory
//! and runs with `--terminate`: it exits when QEMU's connection closes, so
//! it goes with the guest however QEMU ends. The driver records its pid
//! beside QEMU's (so a restarted virtkit finds it too) and makes sure it is
//! gone once QEMU is, and when a start fails.

use std::path::{Path, PathBuf};
use std::time::Duration;

use uuid::Uuid;
use virtkit_engine::{Error, ErrorKind, Result};
use virtkit_host::{ProcessId, Spawn};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{TpmBackend, TpmVersion};

/// How long swtpm_setup may take to manufacture a TPM.
const SETUP_LIMIT: Duration = Duration::from_secs(60);
/// How long swtpm may take to listen on its socket.
const LISTEN_LIMIT: Duration = Duration::from_secs(10);

fn find(program: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/local/bin", "/bin"].iter().map(|d| Path::new(d).join(program)).find(|p| p.is_file())
}

/// Where TPM `index` of domain `uuid` keeps its state.
pub(crate) fn state_dir(root: &Path, uuid: Uuid, index: usize, version: TpmVersion) -> PathBuf {
    let v = if version == TpmVersion::V1_2 { "tpm1.2" } else { "tpm2" };
    let dir = root.join("swtpm").join(uuid.to_string());
    if index == 0 { dir.join(v) } else { dir.join(format!("{v}-{index}")) }
}

/// Starts a swtpm for every emulated TPM of `def`; returns their pids.
/// On failure, the ones already started are stopped.
pub(crate) async fn start(def: &Domain, root: &Path, run_dir: &Path, log: &Path) -> Result<Vec<ProcessId>> {
    let mut started = Vec::new();
    for (i, t) in def.devices.tpms.iter().enumerate() {
        let TpmBackend::Emulator { version, active_pcr_banks, .. } = &t.backend else { continue };
        let version = version.unwrap_or(TpmVersion::V2_0);
        let banks = active_pcr_banks.map(|b| b.names().join(","));
        match start_one(def.uuid, i, version, banks.as_deref(), root, run_dir, log).await {
            Ok(pid) => started.push(pid),
            Err(e) => {
                stop(&started).await;
                return Err(e);
            }
        }
    }
    Ok(started)
}

fn log_file(log: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Error::new(ErrorKind::Driver, format!("cannot open {}: {e}", log.display())))
}

fn failed(what: &str, log: &Path) -> Error {
    let tail = virtkit_host::log_tail(log, 2000);
    let last = tail.lines().last().map(|l| format!(": {l}")).unwrap_or_default();
    Error::new(ErrorKind::Driver, format!("{what}{last} (see {})", log.display()))
}

async fn start_one(
    uuid: Uuid,
    index: usize,
    version: TpmVersion,
    banks: Option<&str>,
    root: &Path,
    run_dir: &Path,
    log: &Path,
) -> Result<ProcessId> {
    let missing = |p: &str| {
        Error::new(
            ErrorKind::Unsupported,
            format!("an emulated TPM needs {p}, which is not installed (Debian's swtpm and swtpm-tools packages)"),
        )
    };
    let swtpm = find("swtpm").ok_or_else(|| missing("swtpm"))?;
    let setup = find("swtpm_setup").ok_or_else(|| missing("swtpm_setup"))?;
    let dir = state_dir(root, uuid, index, version);
    let tpm2 = version == TpmVersion::V2_0;
    let made = dir.join(if tpm2 { "tpm2-00.permall" } else { "tpm-00.permall" });
    let io = |what: &str, e: virtkit_host::Error| Error::new(ErrorKind::Driver, format!("{what}: {e}"));
    if !made.exists() {
        virtkit_host::fs::create_dir(&dir, 0o700).map_err(|e| io("the TPM state directory", e))?;
        let mut args: Vec<String> = Vec::new();
        if tpm2 {
            args.push("--tpm2".into());
        }
        args.extend(["--tpm-state".into(), dir.display().to_string(), "--createek".into(), "--lock-nvram".into()]);
        args.extend(["--not-overwrite".into(), "--vmid".into(), uuid.to_string()]);
        args.extend(["--config".into(), "/dev/null".into()]);
        if let Some(b) = banks.filter(|_| tpm2) {
            args.extend(["--pcr-banks".into(), b.to_owned()]);
        }
        let mut child = Spawn::new(&setup)
            .args(&args)
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &dir)
            .log(log_file(log)?)
            .spawn()
            .map_err(|e| io("cannot run swtpm_setup", e))?;
        let status = tokio::time::timeout(SETUP_LIMIT, child.wait()).await;
        match status {
            Ok(Ok(s)) if s.success() => {}
            Ok(_) => return Err(failed("swtpm_setup could not create the TPM state", log)),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(failed("swtpm_setup did not finish", log));
            }
        }
    }
    let sock = crate::argv::tpm_socket(run_dir, index);
    let _ = std::fs::remove_file(&sock);
    let mut args: Vec<String> = vec!["socket".into()];
    if tpm2 {
        args.push("--tpm2".into());
    }
    args.extend([
        "--tpmstate".into(),
        format!("dir={},mode=0600", dir.display()),
        "--ctrl".into(),
        format!("type=unixio,path={},mode=0600", sock.display()),
        "--terminate".into(),
    ]);
    let mut child = Spawn::new(&swtpm)
        .args(&args)
        .env("PATH", "/usr/bin:/bin")
        .log(log_file(log)?)
        .cwd(run_dir)
        .spawn()
        .map_err(|e| io("cannot run swtpm", e))?;
    let pid = child.id().and_then(|p| ProcessId::of(p).ok());
    let deadline = tokio::time::Instant::now() + LISTEN_LIMIT;
    loop {
        if sock.exists() {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return Err(failed("swtpm exited at start", log));
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(failed("swtpm did not listen on its socket", log));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(pid) = pid else {
        let _ = child.start_kill();
        return Err(Error::new(ErrorKind::Driver, "swtpm's process vanished"));
    };
    // Reap it when this process is its parent.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(pid)
}

/// Makes sure each swtpm is gone: they exit by themselves once QEMU has
/// closed their socket; one that does not is terminated.
pub(crate) async fn stop(pids: &[ProcessId]) {
    for p in pids {
        if !p.wait_gone(Duration::from_secs(2)).await {
            let _ = p.terminate(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lives_per_domain_and_version() {
        let u = Uuid::from_u128(1);
        let root = Path::new("/r");
        assert_eq!(state_dir(root, u, 0, TpmVersion::V2_0), Path::new(&format!("/r/swtpm/{u}/tpm2")));
        assert_eq!(state_dir(root, u, 0, TpmVersion::V1_2), Path::new(&format!("/r/swtpm/{u}/tpm1.2")));
    }
}
