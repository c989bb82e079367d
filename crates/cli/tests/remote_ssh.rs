//! `+ssh` URIs against a real sshd (Debian's openssh-server) that this
//! test starts on a loopback port with throw-away keys: the client runs
//! the system `ssh`, which runs `virtkit proxy` on the far side. sshd runs
//! in a mount namespace of its own, with a private /run for its
//! privilege-separation directory, so nothing of the host's changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, free_port, virtkit_bin};

const SSHD: &str = "/usr/sbin/sshd";

struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(path).status().unwrap();
    assert!(st.success());
}

/// sshd on 127.0.0.1 that lets in `client.pub` as root; the client side's
/// `ssh` wrapper (for `VIRTKIT_SSH`) trusts only its host key.
fn sshd(dir: &Path) -> Sshd {
    keygen(&dir.join("hostkey"));
    keygen(&dir.join("client"));
    std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
    let port = free_port();
    let d = dir.display();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPidFile {d}/sshd.pid\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nLogLevel VERBOSE\n"
        ),
    )
    .unwrap();
    let host_pub = std::fs::read_to_string(dir.join("hostkey.pub")).unwrap();
    std::fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host *\n  IdentityFile {d}/client\n  IdentitiesOnly yes\n  UserKnownHostsFile {d}/known_hosts\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n"
        ),
    )
    .unwrap();
    let wrapper = dir.join("ssh");
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec ssh -F {d}/ssh_config \"$@\"\n")).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd && exec {SSHD} -D -e -f {d}/sshd_config"
        ))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut s = Sshd { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(st) = s.child.try_wait().unwrap() {
            panic!("sshd exited ({st}):\n{}", std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "sshd did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

/// The variable that lets this test be skipped on a host without sshd;
/// without it, a missing sshd fails the test (CI must not pass it unrun).
const OPT_OUT: &str = "VIRTKIT_TEST_SKIP_SSH";

/// Whether sshd is there; `false` only when its absence is allowed.
fn sshd_present() -> bool {
    match sshd_check(Path::new(SSHD).exists(), std::env::var(OPT_OUT).ok().as_deref()) {
        Ok(present) => present,
        Err(why) => panic!("{why}"),
    }
}

/// Run with sshd; without it, skip only when [`OPT_OUT`] is `1`.
fn sshd_check(installed: bool, opt_out: Option<&str>) -> Result<bool, String> {
    if installed {
        return Ok(true);
    }
    if opt_out != Some("1") {
        return Err(format!(
            "{SSHD} is not installed (apt-get install openssh-server; scripts/test does); {OPT_OUT}=1 skips this test"
        ));
    }
    eprintln!("SKIPPED: {SSHD} is not installed and {OPT_OUT}=1");
    Ok(false)
}

#[test]
fn a_missing_sshd_fails_the_test_unless_it_is_skipped_by_name() {
    assert_eq!(sshd_check(true, None), Ok(true));
    assert_eq!(sshd_check(true, Some("1")), Ok(true));
    let e = sshd_check(false, None).unwrap_err();
    assert!(e.contains("is not installed") && e.contains("VIRTKIT_TEST_SKIP_SSH=1"), "{e}");
    assert!(sshd_check(false, Some("0")).is_err());
    assert!(sshd_check(false, Some("")).is_err());
    assert_eq!(sshd_check(false, Some("1")), Ok(false));
}

fn run(dir: &Path, uri: &str, script: &str) -> (i32, String, String) {
    common::run_with(uri, script, &[("VIRTKIT_SSH", &dir.join("ssh"))])
}

#[test]
fn ssh_transport_runs_virtkit_proxy_on_the_far_side() {
    if !sshd_present() {
        return;
    }
    let d = Daemon::start(&[]);
    let dir = tempfile::Builder::new().prefix("vkssh").tempdir_in("/tmp").unwrap();
    let s = sshd(dir.path());
    let uri = |driver: &str, path: &str| {
        format!(
            "{driver}+ssh://root@127.0.0.1:{}/{path}?socket={}&command={}",
            s.port,
            d.sock().display(),
            virtkit_bin().display()
        )
    };
    let xml = d.root().join("s.xml");
    std::fs::write(&xml, "<domain type='test'><name>s</name><uuid>5b1e8f0c-7c1d-4a51-9a0e-2f3d4c5b6a79</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>").unwrap();
    let script = format!(
        "define {}; start s; suspend s; resume s; dominfo s; list --all --json; shutdown s; undefine s; list --all; \
         events --from 0 --count 9 --timeout 2 --json",
        xml.display()
    );
    let (code, local, err) = run(dir.path(), "test:///default", &script);
    assert_eq!(code, 0, "{err}");
    let (code, remote, err) = run(dir.path(), &uri("test", "default"), &script);
    let sshd_log = std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default();
    assert_eq!(code, 0, "{err}\nsshd:\n{sshd_log}\nvirtkitd:\n{}", d.log());
    assert_eq!(common::without_revisions(&remote), common::without_revisions(&local));
    // Networks, pools and volumes too, bytes both ways.
    let objects = common::object_script(d.root());
    let (code, local, err) = run(dir.path(), "test:///default", &objects.script);
    assert_eq!(code, 0, "{err}");
    objects.check_download();
    let (code, remote, err) = run(dir.path(), &uri("test", "default"), &objects.script);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    objects.check_download();
    assert_eq!(common::without_revisions(&remote), common::without_revisions(&local));
    let (code, out, err) = run(dir.path(), &uri("qemu", "system"), "uri; list --all");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("qemu+ssh://root@127.0.0.1"), "{out}");
    assert!(sshd_log.contains("Accepted publickey for root"), "{sshd_log}");

    // A real guest's whole life over SSH.
    common::guest_lifecycle(&uri("qemu", "system"), d.root(), &[("VIRTKIT_SSH", &dir.path().join("ssh"))]);

    // A host key ssh does not trust: refused by ssh, one clear error, nothing changes.
    std::fs::write(dir.path().join("known_hosts"), "").unwrap();
    let (code, _, err) = run(dir.path(), &uri("test", "default"), &format!("define {}", xml.display()));
    assert_eq!(code, 1);
    assert!(err.contains("Host key verification failed"), "{err}");
    assert!(err.contains("virtkitd at ssh root@127.0.0.1"), "{err}");
    let (_, out, _) = run(dir.path(), &d.uri("test"), "list --all");
    assert!(out.contains(" test ") && !out.contains(" s "), "{out}");
}
