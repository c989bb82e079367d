//! Guests outlive the daemon: `kill -9` of virtkitd while a real guest
//! runs (the test guest, under TCG), then a new virtkitd finds it running
//! and manages it; SIGTERM likewise leaves it running. And a daemon killed
//! in the middle of defines leaves each definition whole: old or new.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, guest_dir};
use virtkit::{Connection, DomainState, ShutdownMode, ShutdownOptions, XmlOptions};

const READY: &str = "VIRTKIT-GUEST-READY";

fn guest_xml(name: &str, console: &std::path::Path) -> String {
    let g = guest_dir();
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{}</uuid><memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{g}/vmlinuz</kernel><initrd>{g}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=0</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='file'><source path='{}'/></serial><memballoon model='none'/></devices>
</domain>",
        uuid::Uuid::new_v4(),
        console.display(),
        g = g.display()
    )
}

fn wait_ready(console: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(console).unwrap_or_default().contains(READY) {
        assert!(Instant::now() < deadline, "the guest did not boot");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid QEMU recorded for its domain, alive or not.
fn qemu_alive(d: &Daemon, uuid: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("qemu-system") && cmd.contains(uuid) && cmd.contains(&*d.root().to_string_lossy()) {
            return Some(pid);
        }
    }
    None
}

/// Kills whatever QEMU of this test is left, whatever happens.
struct Reaper(Vec<i32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_survive_kill_9_and_sigterm_of_the_daemon() {
    let mut d = Daemon::start(&[]);
    let console = d.root().join("g.console");
    let uri = d.uri("qemu");
    let conn = Connection::open(&uri).await.unwrap();
    let dom = conn.define_xml(&guest_xml("g", &console), Default::default()).await.unwrap();
    let stored = dom.xml(XmlOptions::default().inactive(true)).await.unwrap();
    dom.start(Default::default()).await.unwrap();
    let uuid = dom.uuid().to_string();
    let pid = qemu_alive(&d, &uuid).expect("no QEMU");
    let mut reaper = Reaper(vec![pid]);
    wait_ready(&console);
    drop(dom);
    drop(conn);

    d.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(qemu_alive(&d, &uuid), Some(pid), "the guest died with the daemon");
    d.spawn();
    let conn = Connection::open(&uri).await.unwrap();
    let dom = conn.lookup_domain("g").await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Running);
    assert_eq!(dom.xml(XmlOptions::default().inactive(true)).await.unwrap(), stored);
    // Managed, not just listed: the monitor answers.
    dom.suspend(Default::default()).await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Paused);
    dom.resume(Default::default()).await.unwrap();
    drop(dom);
    drop(conn);

    let st = d.terminate(Duration::from_secs(30));
    assert!(st.success(), "{st}");
    assert_eq!(qemu_alive(&d, &uuid), Some(pid), "SIGTERM stopped the guest");
    d.spawn();
    let conn = Connection::open(&uri).await.unwrap();
    let dom = conn.lookup_domain("g").await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Running);
    let opts = ShutdownOptions::default().mode(ShutdownMode::Acpi).timeout(Duration::from_secs(60));
    dom.shutdown(opts).await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Shutoff);
    let deadline = Instant::now() + Duration::from_secs(10);
    while qemu_alive(&d, &uuid).is_some() {
        assert!(Instant::now() < deadline, "QEMU still there after shutdown");
        std::thread::sleep(Duration::from_millis(50));
    }
    reaper.0.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_during_defines_leaves_whole_definitions() {
    let mut d = Daemon::start(&[]);
    let uri = d.uri("qemu");
    let uuid = uuid::Uuid::new_v4();
    let xml = move |mib: u64| {
        format!(
            "<domain type='qemu'><name>churn</name><uuid>{uuid}</uuid><memory unit='MiB'>{mib}</memory><os><type>hvm</type></os><description>{}</description></domain>",
            "x".repeat(usize::try_from(mib).unwrap() * 50)
        )
    };
    for round in 0..6u64 {
        let uri2 = uri.clone();
        let writer = tokio::spawn(async move {
            let Ok(c) = Connection::open(&uri2).await else { return 0 };
            let mut n = 0u64;
            loop {
                if c.define_xml(&xml(64 + (n % 64)), Default::default()).await.is_err() {
                    return n;
                }
                n += 1;
            }
        });
        tokio::time::sleep(Duration::from_millis(100 + round * 37)).await;
        d.kill9();
        let n = writer.await.unwrap();
        eprintln!("round {round}: {n} defines before the kill");
        d.spawn();
        let c = Connection::open(&uri).await.unwrap();
        if n == 0 {
            continue;
        }
        let dom = c.lookup_domain("churn").await.unwrap();
        let def = dom.definition(XmlOptions::default().inactive(true)).await.unwrap();
        let mib = def.memory.as_bytes() >> 20;
        // The last acknowledged define or the one in flight: nothing else.
        let last = 64 + ((n - 1) % 64);
        let next = 64 + (n % 64);
        assert!(mib == last || mib == next, "round {round}: {mib} MiB after {n} defines");
        assert_eq!(def.description.as_deref().map(str::len), Some(usize::try_from(mib).unwrap() * 50));
        // Nothing on disk the new daemon could not load.
        assert!(!d.log().contains("WARN virtkitd: qemu:///system"), "{}", d.log());
    }
}
