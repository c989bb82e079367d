//! An iSCSI target for tests: Debian's tgtd on 127.0.0.1, in a network
//! namespace of the test's own (the test runs itself again under `unshare
//! -n -m`, with a tmpfs over /run for tgtd's control socket), its LUNs
//! backed by files the test makes. Self-contained, so that other crates'
//! tests can take it with `#[path]`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INNER: &str = "VIRTKIT_STORAGE_IN_NET_NS";
pub const IQN: &str = "iqn.2026-12.org.example:t1";
pub const CLIENT: &str = "iqn.2026-12.org.example:client";
pub const PORT: u16 = 3260;

/// Runs `name` again in a network and mount namespace of its own; true
/// when this is that run.
pub fn in_namespaces(name: &str) -> bool {
    super::unshare::again(name, &["-n", "-m"], INNER)
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn tgtadm(args: &[&str]) {
    let mut all = vec!["--lld", "iscsi"];
    all.extend_from_slice(args);
    run("tgtadm", &all);
}

/// tgtd, killed when dropped.
pub struct Tgtd(Child);

impl Tgtd {
    /// Brings up `lo`, hides the host's /run and starts tgtd on
    /// 127.0.0.1:PORT with target IQN (tid 1), open to every initiator.
    pub fn start() -> Tgtd {
        run("ip", &["link", "set", "lo", "up"]);
        run("mount", &["-t", "tmpfs", "tmpfs", "/run"]);
        let child = Command::new("tgtd")
            .args(["-f", "--iscsi", &format!("portal=127.0.0.1:{PORT}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Tgtd(child);
        let since = Instant::now();
        while !Command::new("tgtadm")
            .args(["--lld", "iscsi", "--op", "show", "--mode", "target"])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(since.elapsed() < Duration::from_secs(10), "tgtd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        tgtadm(&["--op", "new", "--mode", "target", "--tid", "1", "-T", IQN]);
        tgtadm(&["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"]);
        t
    }

    /// Adds LUN `lun` backed by a new file of `bytes` in `dir`.
    pub fn add_lun(&self, dir: &Path, lun: u32, bytes: u64) {
        let file = dir.join(format!("lun{lun}.img"));
        std::fs::File::create(&file).unwrap().set_len(bytes).unwrap();
        let lun = lun.to_string();
        tgtadm(&["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", &lun, "-b", file.to_str().unwrap()]);
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
