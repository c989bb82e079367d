//! Spawning and supervising processes the way libvirt's virCommand does:
//! an explicit argv and environment, file descriptors handed over at fixed
//! numbers, a new session (so the process outlives its parent),
//! stdout/stderr to a log file, and a kill that is sure of its target.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::Error;

/// Descriptors a process can be handed, at most.
const MAX_FDS: usize = 32;

/// What to run and how.
#[derive(Debug)]
pub struct Spawn {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    fds: Vec<(OwnedFd, RawFd)>,
    log: Option<File>,
    cwd: Option<PathBuf>,
}

impl Spawn {
    /// `program` with an empty environment (add what it needs with `env`).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Spawn { program: program.into(), args: Vec::new(), env: Vec::new(), fds: Vec::new(), log: None, cwd: None }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Hands `fd` to the process as descriptor number `target` (3 or more).
    pub fn fd(mut self, fd: OwnedFd, target: RawFd) -> Self {
        self.fds.push((fd, target));
        self
    }

    /// Standard output and error go to this (append-mode) file.
    pub fn log(mut self, file: File) -> Self {
        self.log = Some(file);
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Starts the process in a new session, with standard input from
    /// /dev/null. The returned child can be awaited by this process (its
    /// parent); others supervise it through its [`ProcessId`].
    pub fn spawn(self) -> Result<tokio::process::Child, Error> {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args).env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null());
        match &self.log {
            Some(f) => {
                cmd.stdout(f.try_clone().map_err(|e| Error::io("cannot duplicate the log file", e))?);
                cmd.stderr(f.try_clone().map_err(|e| Error::io("cannot duplicate the log file", e))?);
            }
            None => {
                cmd.stdout(Stdio::null());
                cmd.stderr(Stdio::null());
            }
        }
        let mapping: Vec<(RawFd, RawFd)> = self.fds.iter().map(|(fd, target)| (fd.as_raw_fd(), *target)).collect();
        if mapping.len() > MAX_FDS {
            return Err(Error::Invalid(format!("at most {MAX_FDS} descriptors can be handed over")));
        }
        if mapping.iter().any(|(_, t)| *t < 3) {
            return Err(Error::Invalid("descriptors 0, 1 and 2 are standard input and output".into()));
        }
        // SAFETY: the closure runs in the child between fork and exec, where
        // only async-signal-safe calls are allowed: setsid, dup2 and fcntl
        // are, and nothing here allocates or takes a lock.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                // Two steps, so that no descriptor is overwritten before it
                // is copied: first out of the way (close-on-exec copies),
                // then onto the targets (dup2 clears close-on-exec).
                use nix::libc::{F_DUPFD_CLOEXEC, dup2, fcntl};
                let mut high = [0 as RawFd; MAX_FDS];
                for (i, &(src, _)) in mapping.iter().enumerate() {
                    let fd = fcntl(src, F_DUPFD_CLOEXEC, 1000);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    high[i] = fd;
                }
                for (i, &(_, target)) in mapping.iter().enumerate() {
                    if dup2(high[i], target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(false);
        let child = cmd.spawn().map_err(|e| Error::io(&format!("cannot run {}", self.program.display()), e))?;
        // The descriptors were duplicated into the child; ours close here.
        drop(self.fds);
        Ok(child)
    }
}

/// A process identified by its pid and its start time, so that a recycled
/// pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: u32,
    /// Clock ticks since boot at which it started (/proc/PID/stat field 22).
    pub start_time: u64,
}

impl ProcessId {
    /// The running process `pid`.
    pub fn of(pid: u32) -> Result<ProcessId, Error> {
        let start_time = start_time(pid).ok_or_else(|| Error::Invalid(format!("process {pid} does not exist")))?;
        Ok(ProcessId { pid, start_time })
    }

    /// Whether it is still running (a zombie counts as gone).
    pub fn is_alive(&self) -> bool {
        match read_stat(self.pid) {
            Some((state, start)) => start == self.start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    /// Sends `signal` if it is still the same process.
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        if !self.is_alive() {
            return Ok(());
        }
        let pid = i32::try_from(self.pid).map_err(|_| Error::Invalid("pid out of range".into()))?;
        match kill(Pid::from_raw(pid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::io(&format!("cannot signal process {}", self.pid), e.into())),
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; waits
    /// (up to another few seconds) for it to be gone.
    pub async fn terminate(&self, grace: Duration) -> Result<(), Error> {
        self.signal(Signal::SIGTERM)?;
        if self.wait_gone(grace).await {
            return Ok(());
        }
        self.signal(Signal::SIGKILL)?;
        if self.wait_gone(Duration::from_secs(5)).await {
            Ok(())
        } else {
            Err(Error::Invalid(format!("process {} did not exit after SIGKILL", self.pid)))
        }
    }

    /// Waits until the process is gone, up to `limit`.
    pub async fn wait_gone(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let mut step = Duration::from_millis(1);
        while self.is_alive() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(step).await;
            step = (step * 2).min(Duration::from_millis(50));
        }
        true
    }

    /// `pid:start_time`, for status files.
    pub fn to_token(&self) -> String {
        format!("{}:{}", self.pid, self.start_time)
    }

    pub fn from_token(s: &str) -> Option<ProcessId> {
        let (p, t) = s.split_once(':')?;
        Some(ProcessId { pid: p.parse().ok()?, start_time: t.parse().ok()? })
    }
}

/// (state, start time) from /proc/PID/stat.
fn read_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // After the state come fields 4.. ; the start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

fn start_time(pid: u32) -> Option<u64> {
    read_stat(pid).map(|(_, t)| t)
}

/// The last `max` bytes of a log file, as text (for error messages).
pub fn log_tail(path: &Path, max: usize) -> String {
    let Ok(data) = std::fs::read(path) else { return String::new() };
    let start = data.len().saturating_sub(max);
    String::from_utf8_lossy(&data[start..]).trim().to_owned()
}

/// Makes the process `cmd` starts die (SIGKILL) when the thread that
/// started it ends: when the daemon is killed, even by SIGKILL. For the
/// short-lived helpers that work on the host's storage (qemu-img, qemu-io,
/// qemu-nbd), which must not go on writing where the next daemon looks.
/// A runtime's worker threads live as long as the runtime, so this is the
/// daemon's own end.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: between fork and exec only prctl runs: a system call, which
    // is async-signal-safe, allocates nothing and takes no lock.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawns_in_a_new_session_with_fds_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let child = Spawn::new("/bin/sh")
            .args(["-c", "echo out; echo err >&2; echo via-fd >&5; ps -o sid= -p $$ | tr -d ' '; echo $HOME"])
            .env("HOME", "/nowhere")
            .fd(w, 5)
            .log(log)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success());
        let mut buf = String::new();
        use std::io::Read;
        std::fs::File::from(r).read_to_string(&mut buf).unwrap();
        assert_eq!(buf, "via-fd\n");
        let log = std::fs::read_to_string(&log_path).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines.contains(&"out") && lines.contains(&"err") && lines.contains(&"/nowhere"), "{log}");
        // Its own session: the session id is its pid.
        assert!(lines.contains(&pid.to_string().as_str()), "{log}");
    }

    #[tokio::test]
    async fn process_ids_survive_and_terminate() {
        let child = Spawn::new("/bin/sleep").args(["30"]).spawn().unwrap();
        let id = ProcessId::of(child.id().unwrap()).unwrap();
        assert!(id.is_alive());
        assert_eq!(ProcessId::from_token(&id.to_token()), Some(id));
        // Another start time: not the same process.
        let other = ProcessId { start_time: id.start_time + 1, ..id };
        assert!(!other.is_alive());
        // The child is reaped in the background once it exits.
        tokio::spawn(async move {
            let mut c = child;
            let _ = c.wait().await;
        });
        id.terminate(Duration::from_secs(2)).await.unwrap();
        assert!(!id.is_alive());
    }

    #[test]
    fn missing_programs_are_errors() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let e = Spawn::new("/nonexistent/qemu").spawn().unwrap_err();
            assert!(e.to_string().contains("cannot run /nonexistent/qemu"), "{e}");
        });
    }
}
