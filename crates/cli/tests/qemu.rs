//! The QEMU driver end to end, proven by what the guest itself does.
//!
//! Every test boots virtkit's test guest (`scripts/build-test-guest`, which
//! `scripts/test` runs first) under TCG, in a root directory of its own, and
//! reads the guest's serial console (a file) for its markers. Tests run in
//! parallel; each kills whatever QEMU it started, even when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::{base64, guest_dir};
use virtkit::{
    Connection, DomainState, EventDetail, EventKind, ListOptions, PowerOffOptions, RebootOptions, ResumeOptions,
    ShutdownMode, ShutdownOptions, StartOptions, StateReason, SuspendOptions, WatchOptions, XmlOptions,
};

/// How long a boot may take: TCG, with other tests booting beside it.
const BOOT: Duration = Duration::from_secs(120);

const READY: &str = "VIRTKIT-GUEST-READY";

/// One test's world: a root directory, its domains, and a guard that kills
/// their QEMU processes whatever happens.
struct Lab {
    dir: tempfile::TempDir,
    uri: String,
    uuids: std::sync::Mutex<Vec<String>>,
    /// The UUID last given to each name.
    names: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// What goes into a domain beyond the basics.
#[derive(Default)]
struct Spec {
    /// Extra `<devices>` content.
    devices: String,
    /// Extra kernel command line.
    cmdline: String,
    /// Extra top-level elements (on_crash and so on).
    extra: String,
    /// A pty serial port instead of the console file.
    pty: bool,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
        let uri = format!("qemu:///embed?root={}", dir.path().display());
        Lab { dir, uri, uuids: Default::default(), names: Default::default() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn console(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.console"))
    }

    fn xml(&self, name: &str, spec: &Spec) -> String {
        let g = guest_dir();
        let uuid = uuid::Uuid::new_v4().to_string();
        self.uuids.lock().unwrap().push(uuid.clone());
        self.names.lock().unwrap().insert(name.to_owned(), uuid.clone());
        let serial = if spec.pty {
            "<serial type='pty'/>".to_owned()
        } else {
            format!("<serial type='file'><source path='{}'/></serial>", self.console(name).display())
        };
        format!(
            "<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{}/vmlinuz</kernel>
    <initrd>{}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=0 {}</cmdline>
  </os>
  <features><acpi/></features>
  {}
  <devices>
    {serial}
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='none'/>
    {}
  </devices>
</domain>",
            g.display(),
            g.display(),
            spec.cmdline,
            spec.extra,
            spec.devices
        )
    }

    async fn open(&self) -> Connection {
        Connection::open(&self.uri).await.unwrap()
    }

    /// Waits until the console has shown `marker` `count` times.
    fn wait_marker(&self, name: &str, marker: &str, count: usize) {
        let file = self.console(name);
        let deadline = Instant::now() + BOOT;
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.matches(marker).count() >= count {
                return;
            }
            assert!(Instant::now() < deadline, "{marker} not seen {count} times on the console of {name}:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn marker_count(&self, name: &str, marker: &str) -> usize {
        std::fs::read_to_string(self.console(name)).unwrap_or_default().matches(marker).count()
    }

    /// The QEMU processes of this lab's domains.
    fn qemus(&self) -> Vec<i32> {
        self.uuids.lock().unwrap().iter().filter_map(|u| common::qemu_of(u)).collect()
    }

    /// Waits (a little) for no QEMU of this lab to be left.
    fn assert_no_qemu(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.qemus().is_empty() {
            assert!(Instant::now() < deadline, "QEMU left behind: {:?}", self.qemus());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The QEMU driver's per-domain runtime directories (`run/UUID`; the
    /// engine keeps its own files in `run/KIND`).
    fn run_dirs(&self) -> Vec<PathBuf> {
        let is_uuid = |p: &PathBuf| p.file_name().is_some_and(|n| uuid::Uuid::try_parse(&n.to_string_lossy()).is_ok());
        std::fs::read_dir(self.path("run"))
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_dir() && is_uuid(p)).collect())
            .unwrap_or_default()
    }

    fn cli(&self) -> Command {
        let mut c = bare_cli();
        c.args(["-c", &self.uri]);
        c
    }

    /// The QEMU log of the domain last defined as `name` (logs are kept by
    /// UUID).
    fn log(&self, name: &str) -> String {
        let uuid = self.names.lock().unwrap().get(name).cloned().unwrap_or_default();
        std::fs::read_to_string(self.path(&format!("log/{uuid}.log"))).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for pid in self.qemus() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn bare_cli() -> Command {
    let mut c = Command::cargo_bin("virtkit").unwrap();
    c.env_remove("VIRTKIT_DEFAULT_URI").timeout(Duration::from_secs(180));
    c
}

/// Waits for the domain to reach `state`.
async fn wait_state(dom: &virtkit::Domain, state: DomainState) -> virtkit::State {
    let deadline = Instant::now() + BOOT;
    loop {
        let s = dom.state().await.unwrap();
        if s.state == state {
            return s;
        }
        assert!(Instant::now() < deadline, "{} is {s}, not {state}", dom.name());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One command on QEMU's monitor socket, with no virtkit attached to it.
fn raw_qmp(socket: &Path, command: &str) -> serde_json::Value {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"QMP\""), "no greeting: {line}");
    let mut ask = |cmd: &str| -> serde_json::Value {
        writeln!(w, "{{\"execute\":\"{cmd}\"}}").unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v.get("return").is_some() || v.get("error").is_some() {
                return v;
            }
        }
    };
    ask("qmp_capabilities");
    ask(command)
}

fn monitor_socket(lab: &Lab, uuid: uuid::Uuid) -> PathBuf {
    lab.path(&format!("run/{uuid}/monitor.sock"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boots_paused_resumes_suspends_and_qmp_agrees() {
    let lab = Lab::new();
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &Spec::default()), Default::default()).await.unwrap();
    let uuid = dom.uuid();

    // --paused: QEMU waits (-S) and the guest does not run.
    dom.start(StartOptions::default().paused(true)).await.unwrap();
    let s = dom.state().await.unwrap();
    assert_eq!((s.state, s.reason), (DomainState::Paused, StateReason::User));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lab.marker_count("g", READY), 0, "a paused guest ran");
    dom.resume(ResumeOptions::default()).await.unwrap();
    lab.wait_marker("g", READY, 1);
    let s = dom.state().await.unwrap();
    assert_eq!((s.state, s.reason), (DomainState::Running, StateReason::Unpaused));

    let list = conn.list_domains(ListOptions::default()).await.unwrap();
    let d = list.items.iter().find(|d| d.name == "g").unwrap();
    assert_eq!(d.state, DomainState::Running);
    assert!(d.id.is_some());
    let stats = dom.stats(Default::default()).await.unwrap().expect("a running domain has statistics");
    assert!(stats.cpu_time_ns > 0, "{stats:?}");

    dom.suspend(SuspendOptions::default()).await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Paused);
    // QEMU agrees: asked directly, with no virtkit attached.
    drop(dom);
    drop(conn);
    assert_eq!(raw_qmp(&monitor_socket(&lab, uuid), "query-status")["return"]["status"], "paused");

    // A new engine reconnects and sees it paused; resume, and QEMU agrees.
    let conn = lab.open().await;
    let dom = conn.lookup_domain("g").await.unwrap();
    let s = dom.state().await.unwrap();
    assert_eq!((s.state, s.reason), (DomainState::Paused, StateReason::User));
    dom.resume(ResumeOptions::default()).await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Running);
    drop(dom);
    drop(conn);
    assert_eq!(raw_qmp(&monitor_socket(&lab, uuid), "query-status")["return"]["status"], "running");

    let conn = lab.open().await;
    let dom = conn.lookup_domain("g").await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Running);
    dom.power_off(PowerOffOptions::default()).await.unwrap();
    lab.assert_no_qemu();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acpi_shutdown_after_the_guest_wrote_its_disk() {
    let lab = Lab::new();
    let disk = lab.path("disk.img");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    let spec = Spec {
        devices: format!(
            "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/><target dev='vda' bus='virtio'/></disk>",
            disk.display()
        ),
        ..Spec::default()
    };
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &spec), Default::default()).await.unwrap();
    let mut events = conn.watch(WatchOptions::default()).await.unwrap();
    dom.start(StartOptions::default()).await.unwrap();
    let s = dom.state().await.unwrap();
    assert_eq!((s.state, s.reason), (DomainState::Running, StateReason::Booted));
    lab.wait_marker("g", "VIRTKIT-GUEST-DISK-WRITTEN", 1);
    lab.wait_marker("g", READY, 1);
    let written = std::fs::read(&disk).unwrap();
    assert!(written.starts_with(b"VIRTKIT-DISK-WRITE "), "the guest did not write its disk");

    dom.shutdown(ShutdownOptions::default().mode(ShutdownMode::Acpi).timeout(BOOT)).await.unwrap();
    assert!(lab.marker_count("g", "VIRTKIT-GUEST-POWERBUTTON") == 1, "the guest saw no power button");
    let s = dom.state().await.unwrap();
    assert_eq!((s.state, s.reason), (DomainState::Shutoff, StateReason::Shutdown));
    lab.assert_no_qemu();
    assert!(lab.run_dirs().is_empty(), "runtime files left: {:?}", lab.run_dirs());

    let mut seen = Vec::new();
    while let Some(e) = events.try_next().unwrap() {
        seen.push((e.kind, e.detail));
    }
    assert!(seen.contains(&(EventKind::Started, EventDetail::Booted)), "{seen:?}");
    assert_eq!(seen.last(), Some(&(EventKind::Stopped, EventDetail::Shutdown)), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_shutdown_and_agent_reboot() {
    let lab = Lab::new();
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &Spec::default()), Default::default()).await.unwrap();
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", READY, 1);

    // The guest reboots itself when the agent asks: QEMU resets it.
    dom.reboot(RebootOptions::default().mode(ShutdownMode::Agent)).await.unwrap();
    lab.wait_marker("g", "VIRTKIT-GUEST-AGENT-REBOOT", 1);
    lab.wait_marker("g", READY, 2);
    assert_eq!(dom.state().await.unwrap().state, DomainState::Running);

    dom.shutdown(ShutdownOptions::default().mode(ShutdownMode::Agent).timeout(BOOT)).await.unwrap();
    assert_eq!(lab.marker_count("g", "VIRTKIT-GUEST-AGENT-POWEROFF"), 1);
    assert_eq!(lab.marker_count("g", "VIRTKIT-GUEST-POWERBUTTON"), 0, "ACPI was used, not the agent");
    let s = dom.state().await.unwrap();
    assert_eq!((s.state, s.reason), (DomainState::Shutoff, StateReason::Shutdown));
    lab.assert_no_qemu();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acpi_reboot_boots_again() {
    let lab = Lab::new();
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &Spec::default()), Default::default()).await.unwrap();
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", READY, 1);
    let mut events = conn.watch(WatchOptions::default()).await.unwrap();

    dom.reboot(RebootOptions::default().mode(ShutdownMode::Acpi)).await.unwrap();
    lab.wait_marker("g", "VIRTKIT-GUEST-POWERBUTTON", 1);
    lab.wait_marker("g", READY, 2);
    let s = dom.state().await.unwrap();
    assert_eq!(s.state, DomainState::Running);
    let e = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap().unwrap();
    assert_eq!((e.kind, e.detail), (EventKind::Changed, EventDetail::Rebooted));
    // The same QEMU: a reboot is not a restart.
    assert_eq!(lab.qemus().len(), 1);

    dom.power_off(PowerOffOptions::default()).await.unwrap();
    let s = dom.state().await.unwrap();
    assert_eq!((s.state, s.reason), (DomainState::Shutoff, StateReason::Destroyed));
    lab.assert_no_qemu();
    assert!(lab.run_dirs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_panics_ends_crashed() {
    let lab = Lab::new();
    let script = base64("sleep 1; echo c > /proc/sysrq-trigger\n");
    let spec = Spec {
        cmdline: format!("virtkit.run={script}"),
        devices: "<panic model='isa'/>".into(),
        extra: "<on_crash>destroy</on_crash>".into(),
        ..Spec::default()
    };
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &spec), Default::default()).await.unwrap();
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", READY, 1);
    let s = wait_state(&dom, DomainState::Shutoff).await;
    assert_eq!(s.reason, StateReason::Crashed);
    assert!(lab.log("g").contains("GUEST_PANICKED"), "{}", lab.log("g"));
    lab.assert_no_qemu();
    assert!(lab.run_dirs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redefined_name_gets_a_log_of_its_own() {
    let lab = Lab::new();
    let conn = lab.open().await;
    let mut uuids = Vec::new();
    for _ in 0..2 {
        let dom = conn.define_xml(&lab.xml("g", &Spec::default()), Default::default()).await.unwrap();
        dom.start(StartOptions::default().paused(true)).await.unwrap();
        dom.power_off(PowerOffOptions::default()).await.unwrap();
        dom.undefine(Default::default()).await.unwrap();
        uuids.push(dom.uuid().to_string());
    }
    lab.assert_no_qemu();
    assert!(!lab.path("log/g.log").exists(), "a log is keyed by the domain's name");
    for (mine, other) in [(&uuids[0], &uuids[1]), (&uuids[1], &uuids[0])] {
        let log = std::fs::read_to_string(lab.path(&format!("log/{mine}.log"))).unwrap_or_default();
        assert_eq!(log.matches("starting: ").count(), 1, "log/{mine}.log:\n{log}");
        assert!(log.contains(&format!("-uuid {mine}")), "log/{mine}.log:\n{log}");
        assert!(!log.contains(other.as_str()), "log/{mine}.log has the other domain's:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_killed_ends_crashed_and_cleaned_up() {
    let lab = Lab::new();
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &Spec::default()), Default::default()).await.unwrap();
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", READY, 1);
    let pids = lab.qemus();
    assert_eq!(pids.len(), 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[0]), nix::sys::signal::Signal::SIGKILL).unwrap();
    let s = wait_state(&dom, DomainState::Shutoff).await;
    assert_eq!(s.reason, StateReason::Crashed);
    lab.assert_no_qemu();
    assert!(lab.run_dirs().is_empty());
    assert!(lab.log("g").contains("signal: 9"), "the exit is not recorded:\n{}", lab.log("g"));
    // It starts again.
    dom.start(StartOptions::default()).await.unwrap();
    // QEMU truncates the console file as it starts.
    lab.wait_marker("g", READY, 1);
    dom.power_off(PowerOffOptions::default()).await.unwrap();
    lab.assert_no_qemu();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_reconnects_and_stops_it() {
    let lab = Lab::new();
    let xml = lab.path("g.xml");
    std::fs::write(&xml, lab.xml("g", &Spec::default())).unwrap();
    lab.cli().arg(format!("define {}; start g", xml.display())).assert().success();
    lab.wait_marker("g", READY, 1);

    // A later process sees it running, with the reason it had.
    let out = lab.cli().arg("domstate g --reason").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8_lossy(&out).trim(), "running (booted)");
    // And one more shuts it down, waiting for the guest.
    lab.cli().arg("shutdown g --mode acpi --timeout 120").assert().success();
    assert_eq!(lab.marker_count("g", "VIRTKIT-GUEST-POWERBUTTON"), 1);
    lab.assert_no_qemu();
    // (A stopped domain's reason is not kept across processes: as with
    // libvirt, a new engine reports "shut off (unknown)".)
    let out = lab.cli().arg("domstate g").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8_lossy(&out).trim(), "shut off");
    // The definition is intact.
    let conn = lab.open().await;
    let dom = conn.lookup_domain("g").await.unwrap();
    assert!(dom.xml(XmlOptions::default()).await.unwrap().contains("org.qemu.guest_agent.0"));
}

/// The process stopping a guest dies before its engine has recorded the
/// stop: the next one says the domain was destroyed, not that it crashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_it_stops_a_guest_leaves_no_crash() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let lab = Lab::new();
    let xml = lab.path("g.xml");
    std::fs::write(&xml, lab.xml("g", &Spec::default())).unwrap();
    lab.cli().arg(format!("define {}; start g", xml.display())).assert().success();
    lab.wait_marker("g", READY, 1);
    let qemu = Pid::from_raw(lab.qemus()[0]);
    let uuid = lab.names.lock().unwrap()["g"].clone();
    let record = lab.path(&format!("run/{uuid}.stop"));
    // A shell whose engine has taken the guest over ...
    let mut shell = std::process::Command::new(env!("CARGO_BIN_EXE_virtkit"))
        .env_remove("VIRTKIT_DEFAULT_URI")
        .args(["-c", &lab.uri, "shell"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_shell = shell.stdin.take().unwrap();
    let mut from_shell = BufReader::new(shell.stdout.take().unwrap());
    writeln!(to_shell, "domstate g").unwrap();
    let mut line = String::new();
    from_shell.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "running");
    // ... destroys it; QEMU, frozen, keeps the destroy waiting (it has
    // seconds to answer `quit`, then to exit) ...
    kill(qemu, Signal::SIGSTOP).unwrap();
    writeln!(to_shell, "destroy g").unwrap();
    // ... and the process doing it dies once it has said why it stops it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !record.exists() {
        assert!(Instant::now() < deadline, "no record of the stop");
        std::thread::sleep(Duration::from_millis(2));
    }
    shell.kill().unwrap();
    shell.wait().unwrap();
    kill(qemu, Signal::SIGCONT).unwrap();
    // The next process finishes the stop and knows what it was.
    let out = lab.cli().arg("domstate g --reason").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8_lossy(&out).trim(), "shut off (destroyed)");
    lab.assert_no_qemu();
    assert!(lab.run_dirs().is_empty());
    assert!(!record.exists(), "the record outlives the stop it explains");
    // It starts again, and a QEMU that goes away unasked is a crash again.
    lab.cli().arg("start g").assert().success();
    lab.wait_marker("g", READY, 1);
    kill(Pid::from_raw(lab.qemus()[0]), Signal::SIGKILL).unwrap();
    let out = lab.cli().arg("domstate g --reason").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8_lossy(&out).trim(), "shut off (crashed)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_powering_off_while_no_virtkit_runs_is_seen_later() {
    let lab = Lab::new();
    let xml = lab.path("g.xml");
    // The guest powers itself off a while after booting, when the process
    // that started it is long gone (a `shutdown` from a CLI could see the
    // power-off itself while it exits, which is not what this is about).
    let script = base64("sleep 2; echo VIRTKIT-GUEST-SELF-POWEROFF > /dev/ttyS0; sync; poweroff -f\n");
    let spec = Spec { cmdline: format!("virtkit.run={script}"), ..Spec::default() };
    std::fs::write(&xml, lab.xml("g", &spec)).unwrap();
    lab.cli().arg(format!("define {}; start g", xml.display())).assert().success();
    lab.wait_marker("g", READY, 1);
    lab.wait_marker("g", "VIRTKIT-GUEST-SELF-POWEROFF", 1);
    // QEMU stays (-no-shutdown) until a virtkit applies on_poweroff.
    std::thread::sleep(Duration::from_millis(500));
    let out = lab.cli().arg("domstate g --reason").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8_lossy(&out).trim(), "shut off (shutdown)");
    lab.assert_no_qemu();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_reaches_the_guest_shell() {
    let lab = Lab::new();
    let xml = lab.path("g.xml");
    std::fs::write(&xml, lab.xml("g", &Spec { pty: true, ..Spec::default() })).unwrap();
    lab.cli().arg(format!("define {}; start g", xml.display())).assert().success();
    // The shell comes up after the boot: ask until it answers.
    let deadline = Instant::now() + BOOT;
    loop {
        let out = lab.cli().args(["console", "g"]).write_stdin("echo hello-$((6*7))\n").assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        if text.contains("hello-42") {
            break;
        }
        assert!(Instant::now() < deadline, "no answer on the console: {text}");
    }
    lab.cli().arg("destroy g").assert().success();
    lab.assert_no_qemu();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_leave_nothing_behind() {
    let lab = Lab::new();
    let conn = lab.open().await;
    let base = lab.xml("g", &Spec::default());
    let dir = lab.dir.path().display().to_string();
    let cases: Vec<(String, &str)> = vec![
        (base.replace("/vmlinuz<", "/no-such-vmlinuz<"), "no-such-vmlinuz does not exist"),
        (
            base.replace(
                "<memballoon",
                &format!("<disk type='file'><source file='{dir}/gone.img'/><target dev='vda' bus='virtio'/></disk><memballoon"),
            ),
            "gone.img does not exist",
        ),
        (base.replace("machine='pc'", "machine='no-such-machine'"), "machine type 'no-such-machine'"),
        // A disk QEMU itself cannot open: QEMU exits at once.
        (
            base.replace(
                "<memballoon",
                &format!("<disk type='file'><source file='{dir}'/><target dev='vda' bus='virtio'/></disk><memballoon"),
            ),
            "QEMU failed to start g",
        ),
    ];
    for (xml, expected) in cases {
        let dom = conn.define_xml(&xml, Default::default()).await.unwrap();
        let e = dom.start(StartOptions::default()).await.unwrap_err();
        assert!(e.to_string().contains(expected), "{e} (expected: {expected})");
        let s = dom.state().await.unwrap();
        assert_eq!(s.state, DomainState::Shutoff, "{expected}");
        lab.assert_no_qemu();
        assert!(lab.run_dirs().is_empty(), "{expected}: {:?}", lab.run_dirs());
    }
    // type='kvm' on a host where KVM cannot run guests says so at once.
    let caps = conn.capabilities().await.unwrap();
    if let Some((_, why)) = caps.unavailable.iter().find(|(what, _)| what == "kvm") {
        let dom = conn.define_xml(&base.replace("type='qemu'", "type='kvm'"), Default::default()).await.unwrap();
        let e = dom.start(StartOptions::default()).await.unwrap_err();
        assert!(e.to_string().contains("type='qemu'") && e.to_string().contains(why.as_str()), "{e}");
        lab.assert_no_qemu();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_owns_a_root() {
    let lab = Lab::new();
    let _conn = lab.open().await;
    let out =
        bare_cli().args(["-c", &format!("{}&wait=0", lab.uri), "list"]).assert().failure().get_output().stderr.clone();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains(&format!("is in use by pid {}", std::process::id())), "{text}");
}

/// The swtpm processes serving this lab's guests (their control socket is
/// in the lab's runtime directories).
fn swtpms_of(lab: &Lab) -> Vec<i32> {
    let root = lab.path("run").display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z'));
            cmd.starts_with("/usr/bin/swtpm socket") && cmd.contains(&root) && !zombie
        })
        .collect()
}

/// The guest prints what it found; `what` is a shell script of `say` lines.
fn guest_report(script: &str) -> String {
    base64(&format!("say() {{ echo \"$*\" > /dev/ttyS0; }}\n{script}\nsay VIRTKIT-REPORT-DONE\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulated_tpm_runs_with_the_guest_and_keeps_its_state() {
    let lab = Lab::new();
    let script = guest_report("[ -e /sys/firmware/acpi/tables/TPM2 ] && say VIRTKIT-TPM2-TABLE");
    let spec = Spec {
        cmdline: format!("virtkit.run={script}"),
        devices: "<tpm model='tpm-crb'><backend type='emulator' version='2.0'><active_pcr_banks><sha256/></active_pcr_banks></backend></tpm>".into(),
        ..Spec::default()
    };
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &spec), Default::default()).await.unwrap();
    let uuid = dom.uuid();
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", "VIRTKIT-REPORT-DONE", 1);
    assert_eq!(lab.marker_count("g", "VIRTKIT-TPM2-TABLE"), 1, "the guest sees no TPM 2.0");
    assert_eq!(swtpms_of(&lab).len(), 1, "one swtpm runs for the guest");
    let state = lab.path(&format!("swtpm/{uuid}/tpm2/tpm2-00.permall"));
    assert!(state.is_file(), "no TPM state at {}", state.display());
    let made = std::fs::metadata(&state).unwrap().modified().unwrap();

    // Another engine takes the guest over and stops it: swtpm goes with QEMU.
    drop(dom);
    drop(conn);
    let conn = lab.open().await;
    let dom = conn.lookup_domain("g").await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Running);
    dom.power_off(PowerOffOptions::default()).await.unwrap();
    lab.assert_no_qemu();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !swtpms_of(&lab).is_empty() {
        assert!(Instant::now() < deadline, "swtpm left behind: {:?}", swtpms_of(&lab));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lab.run_dirs().is_empty(), "runtime files left: {:?}", lab.run_dirs());

    // The state stays, and the next boot uses it rather than making another.
    std::fs::remove_file(lab.console("g")).unwrap();
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", "VIRTKIT-REPORT-DONE", 1);
    assert_eq!(lab.marker_count("g", "VIRTKIT-TPM2-TABLE"), 1, "the guest sees no TPM 2.0 the second time");
    let setup_log =
        std::fs::read_to_string(lab.path(&format!("log/{}-swtpm.log", lab.names.lock().unwrap()["g"]))).unwrap();
    assert_eq!(setup_log.matches("Successfully authored TPM state").count(), 1, "{setup_log}");
    assert!(std::fs::metadata(&state).unwrap().modified().unwrap() >= made);
    dom.power_off(PowerOffOptions::default()).await.unwrap();
    lab.assert_no_qemu();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spice_sound_and_usb_redirection_run() {
    let lab = Lab::new();
    let script =
        guest_report("for d in /sys/bus/pci/devices/*; do say \"VIRTKIT-PCI $(cat $d/vendor):$(cat $d/device)\"; done");
    let spec = Spec {
        cmdline: format!("virtkit.run={script}"),
        devices: "<controller type='usb' index='0' model='qemu-xhci'/>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
    <graphics type='spice' autoport='yes'><listen type='address' address='127.0.0.1'/><image compression='off'/></graphics>
    <sound model='ich9'/>
    <video><model type='qxl'/></video>
    <redirdev bus='usb' type='spicevmc'/>
    <redirdev bus='usb' type='spicevmc'/>"
            .into(),
        ..Spec::default()
    };
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &spec), Default::default()).await.unwrap();
    // The sound card got a backend: SPICE's.
    let stored = dom.xml(XmlOptions::default()).await.unwrap();
    assert!(stored.contains("<audio id='1' type='spice'/>"), "{stored}");
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", "VIRTKIT-REPORT-DONE", 1);
    let console = std::fs::read_to_string(lab.console("g")).unwrap();
    assert!(console.contains("VIRTKIT-PCI 0x8086:0x293e"), "the guest has no ICH9 HD audio:\n{console}");
    assert!(console.contains("VIRTKIT-PCI 0x1b36:0x0100"), "the guest has no QXL card:\n{console}");
    assert!(console.contains("VIRTKIT-PCI 0x1b36:0x000d"), "the guest has no XHCI controller:\n{console}");

    // The live definition names the port QEMU's SPICE server listens on.
    let live = dom.xml(XmlOptions::default()).await.unwrap();
    let d = virtkit::model::domain::Domain::from_xml(&live).unwrap();
    let Some(virtkit::model::domain::devices::Graphics::Spice(s)) = d.devices.graphics.first() else {
        panic!("no SPICE in the live definition:\n{live}")
    };
    let port = u16::try_from(s.port.unwrap()).unwrap();
    assert!(common::spice_answers(port), "no SPICE server on port {port}");
    // Both redirection channels and the sound card are in the QEMU that runs.
    let log = lab.log("g");
    for dev in ["\"usb-redir\"", "\"ich9-intel-hda\"", "\"hda-duplex\"", "spicevmc,id=charredir1,name=usbredir"] {
        assert!(log.contains(dev), "{dev} not in the command line:\n{log}");
    }
    dom.power_off(PowerOffOptions::default()).await.unwrap();
    lab.assert_no_qemu();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_this_host_lacks_are_refused_at_start() {
    let lab = Lab::new();
    let conn = lab.open().await;
    let cases = [
        (
            "nohost",
            "<tpm><backend type='passthrough'><device path='/dev/virtkit-no-tpm'/></backend></tpm>",
            "TPM /dev/virtkit-no-tpm does not exist on this host",
        ),
        (
            "spicetls",
            "<graphics type='spice' port='5999' tlsPort='5998' autoport='no'/>",
            "SPICE over TLS needs the host's SPICE certificates",
        ),
        (
            "evdev",
            "<input type='evdev'><source dev='/dev/input/virtkit-none'/></input>",
            "evdev input device /dev/input/virtkit-none does not exist on this host",
        ),
        (
            "macvtap",
            "<interface type='direct'><source dev='vknone7' mode='bridge'/><model type='virtio'/></interface>",
            "interface direct: host device vknone7 does not exist",
        ),
        (
            "vdpa",
            "<interface type='vdpa'><source dev='/dev/vhost-vdpa-virtkit-none'/></interface>",
            "interface vdpa: /dev/vhost-vdpa-virtkit-none does not exist on this host",
        ),
        (
            "vhostuser",
            "<interface type='vhostuser'><source type='unix' path='/run/virtkit-no-switch.sock' mode='client'/></interface>",
            "interface vhostuser: socket /run/virtkit-no-switch.sock does not exist (its switch listens there)",
        ),
        (
            "bandwidth",
            "<interface type='user'><bandwidth><inbound average='1000'/></bandwidth><model type='virtio'/></interface>",
            "bandwidth limits are applied with tc on the host side",
        ),
        (
            "nicmodel",
            "<interface type='user'><model type='virtkit-no-nic'/></interface>",
            "this QEMU has no network card 'virtkit-no-nic'",
        ),
        (
            "nicvf",
            "<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' bus='0x06' slot='0x12' function='0x5'/></source></interface>",
            "interface hostdev 0000:06:12.5: no such PCI device on this host",
        ),
        (
            "hostdev",
            "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x06' slot='0x12' function='0x6'/></source></hostdev>",
            "hostdev 0000:06:12.6: no such PCI device on this host",
        ),
    ];
    for (name, devices, why) in cases {
        let spec = Spec { devices: devices.into(), ..Spec::default() };
        let dom = conn.define_xml(&lab.xml(name, &spec), Default::default()).await.unwrap();
        let e = dom.start(StartOptions::default()).await.unwrap_err();
        assert!(e.to_string().contains(why), "{name}: {e}");
        assert_eq!(dom.state().await.unwrap().state, DomainState::Shutoff, "{name}");
    }
    lab.assert_no_qemu();
    assert!(swtpms_of(&lab).is_empty());
    assert!(lab.run_dirs().is_empty(), "runtime files left: {:?}", lab.run_dirs());
}

/// A free TCP or UDP port on the loopback address (bound, then let go).
fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtio_net_options_sockets_and_a_link_down_run() {
    let lab = Lab::new();
    let script = guest_report(
        "for n in /sys/class/net/eth*; do ip link set \"$(basename $n)\" up; done; sleep 1
for n in /sys/class/net/eth*; do say VIRTKIT-NIC $(cat $n/address) mtu=$(cat $n/mtu) carrier=$(cat $n/carrier); done",
    );
    let (listen, local, remote) = (free_port(false), free_port(true), free_port(true));
    let devices = format!(
        "<interface type='user'>
      <mac address='52:54:00:00:00:0a'/>
      <model type='virtio'/>
      <driver txmode='iothread' ioeventfd='on' event_idx='off' rx_queue_size='512'>
        <host csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
        <guest csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
      </driver>
      <link state='down'/>
      <mtu size='1400'/>
    </interface>
    <interface type='server'>
      <mac address='52:54:00:00:00:0b'/>
      <source address='127.0.0.1' port='{listen}'/>
      <model type='virtio'/>
    </interface>
    <interface type='udp'>
      <mac address='52:54:00:00:00:0c'/>
      <source address='127.0.0.1' port='{remote}'><local address='127.0.0.1' port='{local}'/></source>
      <model type='virtio-non-transitional'/>
    </interface>"
    );
    let spec = Spec { cmdline: format!("virtkit.run={script}"), devices, ..Spec::default() };
    let conn = lab.open().await;
    let dom = conn.define_xml(&lab.xml("g", &spec), Default::default()).await.unwrap();
    dom.start(StartOptions::default()).await.unwrap();
    lab.wait_marker("g", "VIRTKIT-REPORT-DONE", 1);
    let console = std::fs::read_to_string(lab.console("g")).unwrap();
    // A line may follow the shell's prompt.
    let nics: Vec<&str> = console.lines().filter_map(|l| l.find("VIRTKIT-NIC").map(|i| l[i..].trim())).collect();
    assert_eq!(
        nics,
        [
            "VIRTKIT-NIC 52:54:00:00:00:0a mtu=1400 carrier=0",
            "VIRTKIT-NIC 52:54:00:00:00:0b mtu=1500 carrier=1",
            "VIRTKIT-NIC 52:54:00:00:00:0c mtu=1500 carrier=1",
        ],
        "{console}"
    );
    dom.power_off(PowerOffOptions::default()).await.unwrap();
    lab.assert_no_qemu();
}
