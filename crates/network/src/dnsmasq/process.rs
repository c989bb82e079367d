//! The dnsmasq daemon of one network: started from its files, reloaded
//! with SIGHUP, stopped with SIGTERM, found again after virtkit restarts.
//!
//! dnsmasq daemonizes itself: the process we run exits once its child has
//! written the pid file (or with an error on its stderr, which goes to the
//! log file). It drops root for its default user afterwards, so the
//! directory must be searchable and the hosts files readable by that user
//! (they are written 0644; the conf, read before, 0600).
//!
//! `stop` removes every file but the lease file: dnsmasq reads it back at
//! its next start, so guests keep their addresses across a restart of the
//! network, as with libvirt (which keeps its lease status file too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use virtkit_host::{ProcessId, Spawn, log_tail};
use virtkit_model::network::Network;

use super::{Config, Error, Files, config};

/// How long dnsmasq may take to daemonize and write its pid file.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long it has to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How much of its log an error quotes.
const LOG_TAIL: usize = 2000;

/// A running dnsmasq and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dnsmasq {
    pub(crate) id: ProcessId,
    pub(crate) files: Files,
}

/// Writes `net`'s files (atomically) and starts its dnsmasq; the error
/// says what dnsmasq said when it does not come up.
pub(crate) async fn start(net: &Network, files: &Files) -> Result<Dnsmasq, Error> {
    let cfg = config(net, files)?;
    if let Some(running) = find(files) {
        return Err(Error::Running(running.id.pid));
    }
    let started = launch(&net.name, &cfg, files).await;
    if started.is_err() {
        // Nothing half-started stays behind (the log's tail is in the
        // error), nor an empty lease file dnsmasq may have made.
        let _ = files.remove();
        if std::fs::metadata(&files.leases).is_ok_and(|m| m.len() == 0) {
            let _ = virtkit_host::fs::remove_durable(&files.leases);
        }
    }
    started
}

/// Writes the files, runs dnsmasq on them and waits for its pid file.
async fn launch(name: &str, cfg: &Config, files: &Files) -> Result<Dnsmasq, Error> {
    let write_err = |e| Error::Write(name.to_owned(), e);
    if let Some(dir) = files.conf.parent() {
        virtkit_host::fs::create_dir(dir, 0o755).map_err(write_err)?;
    }
    virtkit_host::fs::write_replace(&files.conf, cfg.conf.as_bytes(), 0o600).map_err(write_err)?;
    write_hosts(files, &cfg.hostsfile, &cfg.addnhosts).map_err(write_err)?;
    virtkit_host::fs::remove_durable(&files.pid).map_err(write_err)?;
    // Appending, as dnsmasq's own log to the same file does after the
    // leader's messages; a fresh file for each start.
    virtkit_host::fs::remove_durable(&files.log).map_err(write_err)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&files.log)
        .map_err(|e| Error::Log(files.log.clone(), e))?;
    let mut leader = Spawn::new(binary())
        .args(args(files))
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .log(log)
        .spawn()
        .map_err(Error::Spawn)?;
    let failed = |what: String| {
        let said = log_tail(&files.log, LOG_TAIL);
        Error::Start(if said.is_empty() { what } else { format!("{what}: {said}") })
    };
    match tokio::time::timeout(START_TIMEOUT, leader.wait()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => return Err(failed(format!("it exited with {status}"))),
        Ok(Err(e)) => return Err(failed(format!("cannot wait for it: {e}"))),
        Err(_) => {
            let _ = leader.start_kill();
            let _ = leader.wait().await;
            return Err(failed("it did not daemonize in time".into()));
        }
    }
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        if let Some(d) = find(files) {
            return Ok(d);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(failed(format!("no live dnsmasq in {}", files.pid.display())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Dnsmasq {
    /// Rewrites the hosts files from `net` and has dnsmasq reread them
    /// (SIGHUP). Returns whether the conf itself changed: dnsmasq rereads
    /// only the hosts files, so the caller must restart it then.
    pub(crate) fn reload(&self, net: &Network) -> Result<bool, Error> {
        if !self.id.is_alive() {
            return Err(Error::Gone(self.id.pid));
        }
        let cfg = config(net, &self.files)?;
        write_hosts(&self.files, &cfg.hostsfile, &cfg.addnhosts).map_err(|e| Error::Write(net.name.clone(), e))?;
        self.id.signal(Signal::SIGHUP).map_err(Error::Signal)?;
        let running = std::fs::read_to_string(&self.files.conf).unwrap_or_default();
        Ok(running != cfg.conf)
    }

    /// Stops dnsmasq (SIGTERM, SIGKILL after a grace time), waits until it
    /// is gone and removes its files, the lease file excepted.
    pub(crate) async fn stop(&self) -> Result<(), Error> {
        self.id.terminate(STOP_GRACE).await.map_err(|_| Error::Stop(self.id.pid))?;
        self.files.remove()
    }
}

/// The dnsmasq running for `files`, from its pid file: only a live process
/// that is dnsmasq run with this very conf (a stale pid is never adopted).
pub(crate) fn find(files: &Files) -> Option<Dnsmasq> {
    let pid: u32 = std::fs::read_to_string(&files.pid).ok()?.trim().parse().ok()?;
    let id = ProcessId::of(pid).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut argv = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned());
    let program = argv.next()?;
    if Path::new(&program).file_name()? != "dnsmasq" {
        return None;
    }
    let ours = format!("--conf-file={}", files.conf.display());
    if !argv.any(|a| a == ours) || !id.is_alive() {
        return None;
    }
    Some(Dnsmasq { id, files: files.clone() })
}

/// dnsmasq's arguments: the conf (libvirt's, untouched), then the pid,
/// lease and log files, which libvirt gives elsewhere.
fn args(files: &Files) -> Vec<String> {
    vec![
        format!("--conf-file={}", files.conf.display()),
        format!("--pid-file={}", files.pid.display()),
        format!("--dhcp-leasefile={}", files.leases.display()),
        format!("--log-facility={}", files.log.display()),
    ]
}

fn write_hosts(files: &Files, hostsfile: &str, addnhosts: &str) -> Result<(), virtkit_host::Error> {
    // Made again from the network's definition at each start and reload:
    // atomic for dnsmasq's rereading, not durable.
    virtkit_host::fs::write_replace(&files.hostsfile, hostsfile.as_bytes(), 0o644)?;
    virtkit_host::fs::write_replace(&files.addnhosts, addnhosts.as_bytes(), 0o644)
}

impl Files {
    /// Removes every file but the leases (after a stop, or when no dnsmasq
    /// is found for them).
    pub(crate) fn remove(&self) -> Result<(), Error> {
        for p in [&self.conf, &self.hostsfile, &self.addnhosts, &self.pid, &self.log] {
            virtkit_host::fs::remove_durable(p).map_err(|e| Error::Write(name_of(self), e))?;
        }
        Ok(())
    }
}

/// The network name a set of files is for (for error messages).
fn name_of(files: &Files) -> String {
    files.conf.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// dnsmasq's path: the first of the usual directories that has it.
fn binary() -> PathBuf {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq", "/usr/local/sbin/dnsmasq"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("dnsmasq"))
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
