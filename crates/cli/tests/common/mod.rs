//! What the integration tests share: the test guest and virtkitd.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod grpc;
pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The test guest's kernel and initramfs (`scripts/build-test-guest`).
pub fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("VIRTKIT_TEST_GUEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-guest"));
    assert!(
        dir.join("vmlinuz").is_file() && dir.join("initrd.img").is_file(),
        "the test guest is not in {}: run scripts/build-test-guest (scripts/test does)",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// The `virtkit` binary under test.
pub fn virtkit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_virtkit"))
}

/// `virtkitd`, built beside `virtkit` (`cargo test --workspace` builds it).
pub fn virtkitd_bin() -> PathBuf {
    let p = virtkit_bin().with_file_name("virtkitd");
    assert!(p.is_file(), "{} is missing: cargo build --workspace first", p.display());
    p
}

/// A virtkitd of the test's own, everything under a temporary root.
/// Dropping it kills it (and only it).
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub args: Vec<String>,
    /// What runs virtkitd (`nsenter … --` into a network namespace).
    pub wrapper: Vec<String>,
    child: Option<Child>,
}

impl Daemon {
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::start_wrapped(Vec::new(), args)
    }

    /// A virtkitd run by `wrapper` (which execs it: the child is virtkitd).
    pub fn start_wrapped(wrapper: Vec<String>, args: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new().prefix("vkd").tempdir_in("/tmp").unwrap();
        // As a daemon's own directories are: others may search it (a
        // network's dnsmasq, no longer root, reads its hosts files there).
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut d = Daemon { dir, args: args.iter().map(|s| (*s).to_owned()).collect(), wrapper, child: None };
        d.spawn();
        d
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn sock(&self) -> PathBuf {
        self.root().join("virtkit-sock")
    }

    pub fn sock_ro(&self) -> PathBuf {
        self.root().join("virtkit-sock-ro")
    }

    /// `DRIVER+unix:///PATH?socket=…` for this daemon.
    pub fn uri(&self, driver: &str) -> String {
        let path = if driver == "test" { "default" } else { "system" };
        format!("{driver}+unix:///{path}?socket={}", self.sock().display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("virtkitd.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Starts virtkitd and waits until it answers on its socket.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.root().join("virtkitd.log")).unwrap();
        let mut cmd = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = std::process::Command::new(first);
                c.args(rest).arg(virtkitd_bin());
                c
            }
            None => std::process::Command::new(virtkitd_bin()),
        };
        let child = cmd
            .arg("--root")
            .arg(self.root())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::os::unix::net::UnixStream::connect(self.sock()).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("virtkitd exited ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "virtkitd did not come up:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM; the exit status once it has stopped (within `within`).
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("virtkitd did not stop on SIGTERM within {within:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        // What its networks left running: each dnsmasq on its files.
        let root = format!("--conf-file={}/", self.root().display());
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).split('\0').any(|a| a.starts_with(&root)) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// A free TCP port on 127.0.0.1 (free when asked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `virtkit -c URI SCRIPT` with extra environment: (exit code, stdout, stderr).
pub fn run_with(uri: &str, script: &str, env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(virtkit_bin());
    cmd.env_remove("VIRTKIT_DEFAULT_URI").args(["-c", uri, script]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Runs `virtkit -c URI SCRIPT`: (exit code, stdout, stderr).
pub fn run(uri: &str, script: &str) -> (i32, String, String) {
    run_with(uri, script, &[])
}

/// What the test guest prints once it runs its userspace.
pub const READY: &str = "VIRTKIT-GUEST-READY";

/// A domain running the test guest, its serial console in `console`.
pub fn guest_xml(name: &str, uuid: &str, console: &Path) -> String {
    let g = guest_dir();
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{g}/vmlinuz</kernel><initrd>{g}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=0</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='file'><source path='{}'/></serial><memballoon model='none'/></devices>
</domain>",
        console.display(),
        g = g.display()
    )
}

/// Standard base64, for the guest's `virtkit.run=`.
pub fn base64(text: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Waits for the guest to print READY on its console.
pub fn wait_ready(console: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(console).unwrap_or_default().contains(READY) {
        assert!(Instant::now() < deadline, "the guest did not boot");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The live QEMU process of the domain with this UUID.
pub fn qemu_of(uuid: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if !(cmd.contains("qemu-system") && cmd.contains(uuid)) {
            continue;
        }
        // A zombie waiting for its parent is gone already.
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if !stat.rfind(')').is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z')) {
            return Some(pid);
        }
    }
    None
}

/// Kills the QEMU of these domains when dropped, whatever happened.
pub struct Reaper(pub Vec<String>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for u in &self.0 {
            if let Some(p) = qemu_of(u) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// A real guest's whole life through the CLI on `uri`: define, start, boot,
/// suspend, resume, ACPI shutdown, undefine.
pub fn guest_lifecycle(uri: &str, dir: &Path, env: &[(&str, &Path)]) {
    let uuid = uuid::Uuid::new_v4().to_string();
    let _reaper = Reaper(vec![uuid.clone()]);
    let console = dir.join("life.console");
    let xml = dir.join("life.xml");
    std::fs::write(&xml, guest_xml("life", &uuid, &console)).unwrap();
    let ok = |script: &str| {
        let (code, out, err) = run_with(uri, script, env);
        assert_eq!(code, 0, "{script}: {err}");
        out
    };
    ok(&format!("define {}; start life", xml.display()));
    wait_ready(&console);
    let out = ok("suspend life; domstate life; resume life; domstate life --reason; dominfo life");
    assert!(out.contains("\npaused\n") && out.contains("\nrunning (unpaused)\n"), "{out}");
    assert!(out.contains(&uuid), "{out}");
    let out = ok("shutdown life --mode acpi --timeout 90; domstate life --reason; undefine life");
    assert!(out.contains("shut off (shutdown)"), "{out}");
    assert!(qemu_of(&uuid).is_none());
}

/// Output with revision numbers blanked: each daemon counts from its own
/// base, so only the rest compares with an in-process run.
pub fn without_revisions(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\"revision\":") {
        let after = &rest[i + 11..];
        let space = after.len() - after.trim_start_matches(' ').len();
        let digits = after[space..].bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..i + 11]);
        out.push('_');
        rest = &after[space + digits..];
    }
    out.push_str(rest);
    out
}

/// A CLI script of network, pool and volume commands, with a file it
/// uploads and the file it downloads back.
pub struct ObjectScript {
    pub script: String,
    data: Vec<u8>,
    out: PathBuf,
}

impl ObjectScript {
    /// The downloaded bytes are the uploaded ones (and the file is removed
    /// for the next run).
    pub fn check_download(&self) {
        assert_eq!(std::fs::read(&self.out).unwrap(), self.data, "{}", self.out.display());
        std::fs::remove_file(&self.out).unwrap();
    }
}

pub fn object_script(dir: &Path) -> ObjectScript {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let input = dir.join("upload.bin");
    std::fs::write(&input, &data).unwrap();
    let out = dir.join("download.bin");
    let script = format!(
        "net-list --all --json; net-info default; \
         net-update default add ip-dhcp-host \"<host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'><lease expiry='0'/></host>\" --live; \
         net-dhcp-leases default; net-dhcp-leases default --json; net-dumpxml default; \
         net-update default delete ip-dhcp-host \"<host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'/>\"; \
         net-update default add dns-host \"<host ip='192.168.122.9'><hostname>db</hostname></host>\" --config; \
         net-dumpxml default --inactive; net-info default --json; \
         net-update default delete dns-host \"<host ip='192.168.122.9'><hostname>db</hostname></host>\" --config; \
         pool-info default-pool --json; \
         vol-create-as default-pool a.img 1M; vol-upload a.img {} --pool default-pool; \
         vol-download a.img {} --pool default-pool --length {}; vol-info a.img --pool default-pool --json; \
         vol-clone a.img b.img --pool default-pool; vol-list default-pool; vol-delete b.img --pool default-pool; \
         vol-delete /default-pool/a.img; pool-list --all",
        input.display(),
        out.display(),
        data.len()
    );
    ObjectScript { script, data, out }
}

/// SPICE's link handshake: the server answers a client's link message
/// with a link header of its own.
pub fn spice_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut msg = Vec::new();
    msg.extend_from_slice(b"REDQ");
    for v in [2u32, 2, 18] {
        msg.extend_from_slice(&v.to_le_bytes());
    }
    // connection id, channel type (main), channel id, no capabilities.
    msg.extend_from_slice(&0u32.to_le_bytes());
    msg.extend_from_slice(&[1, 0]);
    for v in [0u32, 0, 18] {
        msg.extend_from_slice(&v.to_le_bytes());
    }
    s.write_all(&msg).unwrap();
    let mut magic = [0u8; 4];
    s.read_exact(&mut magic).is_ok() && &magic == b"REDQ"
}
