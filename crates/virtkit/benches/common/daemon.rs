//! virtkitd for the benchmarks that measure through it: a daemon of the
//! program given (`VIRTKIT_DAEMON`, else target/PROFILE/virtkitd) with a
//! root of its own, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    _dir: tempfile::TempDir,
    pub sock: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn daemon_program(profile: &str) -> PathBuf {
    std::env::var_os("VIRTKIT_DAEMON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target").join(profile).join("virtkitd"))
}

pub fn start_daemon(program: PathBuf) -> Daemon {
    assert!(program.is_file(), "{} is missing: cargo build --release -p virtkit-daemon", program.display());
    let dir = tempfile::Builder::new().prefix("vkbench").tempdir_in("/var/tmp").expect("temp dir");
    let log = std::fs::File::create(dir.path().join("virtkitd.log")).expect("log");
    let child = Command::new(&program)
        .arg("--root")
        .arg(dir.path())
        .args(std::env::var("VIRTKIT_DAEMON_ARGS").unwrap_or_default().split_whitespace())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("virtkitd");
    let sock = dir.path().join("virtkit-sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "virtkitd did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
    Daemon { child, _dir: dir, sock }
}
