//! Guests outlive the daemon: `kill -9` of virtkitd while a real guest
//! runs (the test guest, under TCG), then a new virtkitd finds it running
//! and manages it; SIGTERM likewise leaves it running. And a daemon killed
//! in the middle of defines leaves each definition whole: old or new.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, Reaper, guest_xml, qemu_of, wait_ready};
use virtkit::{Connection, DomainState, ShutdownMode, ShutdownOptions, XmlOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_survive_kill_9_and_sigterm_of_the_daemon() {
    let mut d = Daemon::start(&[]);
    let console = d.root().join("g.console");
    let uri = d.uri("qemu");
    let conn = Connection::open(&uri).await.unwrap();
    let uuid = uuid::Uuid::new_v4().to_string();
    let _reaper = Reaper(vec![uuid.clone()]);
    let dom = conn.define_xml(&guest_xml("g", &uuid, &console), Default::default()).await.unwrap();
    let stored = dom.xml(XmlOptions::default().inactive(true)).await.unwrap();
    dom.start(Default::default()).await.unwrap();
    let pid = qemu_of(&uuid).expect("no QEMU");
    wait_ready(&console);
    drop(dom);
    drop(conn);

    d.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(qemu_of(&uuid), Some(pid), "the guest died with the daemon");
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
    assert_eq!(qemu_of(&uuid), Some(pid), "SIGTERM stopped the guest");
    d.spawn();
    let conn = Connection::open(&uri).await.unwrap();
    let dom = conn.lookup_domain("g").await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Running);
    // SIGTERM while a shutdown job runs: the job finishes, then the daemon goes.
    let opts = ShutdownOptions::default().mode(ShutdownMode::Acpi).timeout(Duration::from_secs(60));
    let job = tokio::spawn(async move { dom.shutdown(opts).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let st = tokio::task::block_in_place(|| d.terminate(Duration::from_secs(60)));
    assert!(st.success(), "{st}");
    job.await.unwrap().unwrap();
    d.spawn();
    let conn = Connection::open(&uri).await.unwrap();
    let dom = conn.lookup_domain("g").await.unwrap();
    assert_eq!(dom.state().await.unwrap().state, DomainState::Shutoff);
    assert!(std::fs::read_to_string(&console).unwrap().contains("VIRTKIT-GUEST-POWERBUTTON"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while qemu_of(&uuid).is_some() {
        assert!(Instant::now() < deadline, "QEMU still there after shutdown");
        std::thread::sleep(Duration::from_millis(50));
    }
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

#[test]
fn console_through_the_daemon_reaches_the_guest_shell() {
    use std::io::Write;
    let d = Daemon::start(&[]);
    let uuid = uuid::Uuid::new_v4().to_string();
    let _reaper = Reaper(vec![uuid.clone()]);
    let console = d.root().join("c.console");
    let file_serial = format!("<serial type='file'><source path='{}'/></serial>", console.display());
    let xml = guest_xml("c", &uuid, &console).replace(&file_serial, "<serial type='pty'/>");
    let path = d.root().join("c.xml");
    std::fs::write(&path, xml).unwrap();
    let uri = d.uri("qemu");
    let (code, _, err) = common::run(&uri, &format!("define {}; start c", path.display()));
    assert_eq!(code, 0, "{err}");
    // The shell comes up after the boot: ask until it answers.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut child = std::process::Command::new(common::virtkit_bin())
            .args(["-c", &uri, "console", "c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"echo hello-$((6*7))\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        if String::from_utf8_lossy(&out.stdout).contains("hello-42") {
            break;
        }
        assert!(Instant::now() < deadline, "no answer on the console");
    }
    // Read-only connections may not open one.
    let ro = format!("qemu+unix:///system?socket={}", d.sock_ro().display());
    let (code, _, err) = common::run(&ro, "console c");
    assert_eq!(code, 1);
    assert!(err.contains("read-only"), "{err}");
    let (code, _, err) = common::run(&uri, "destroy c; undefine c");
    assert_eq!(code, 0, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_domains_start_when_the_host_boots_and_only_then() {
    let mut d = Daemon::start(&[]);
    let uri = d.uri("qemu");
    let uuid = uuid::Uuid::new_v4().to_string();
    let _reaper = Reaper(vec![uuid.clone()]);
    let console = d.root().join("a.console");
    let conn = Connection::open(&uri).await.unwrap();
    let auto = conn.define_xml(&guest_xml("auto", &uuid, &console), Default::default()).await.unwrap();
    auto.set_autostart(true, Default::default()).await.unwrap();
    let broken = "<domain type='qemu'><name>broken</name><memory unit='MiB'>64</memory>\
                  <os><type>hvm</type><kernel>/nonexistent/vmlinuz</kernel></os></domain>";
    conn.define_xml(broken, Default::default()).await.unwrap().set_autostart(true, Default::default()).await.unwrap();
    let manual =
        "<domain type='qemu'><name>manual</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>";
    conn.define_xml(manual, Default::default()).await.unwrap();
    drop((auto, conn));

    // A daemon restarted in the same boot starts nothing.
    assert!(tokio::task::block_in_place(|| d.terminate(Duration::from_secs(30))).success());
    d.spawn();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let conn = Connection::open(&uri).await.unwrap();
    assert_eq!(conn.lookup_domain("auto").await.unwrap().state().await.unwrap().state, DomainState::Shutoff);
    drop(conn);

    // A new boot (the runtime directory's marker is gone): autostart ones start.
    assert!(tokio::task::block_in_place(|| d.terminate(Duration::from_secs(30))).success());
    std::fs::remove_file(d.root().join("autostarted")).unwrap();
    d.spawn();
    wait_ready(&console);
    let conn = Connection::open(&uri).await.unwrap();
    let auto = conn.lookup_domain("auto").await.unwrap();
    assert_eq!(auto.state().await.unwrap().state, DomainState::Running);
    assert_eq!(conn.lookup_domain("manual").await.unwrap().state().await.unwrap().state, DomainState::Shutoff);
    assert_eq!(conn.lookup_domain("broken").await.unwrap().state().await.unwrap().state, DomainState::Shutoff);
    let log = d.log();
    assert!(log.contains("autostarted domain=\"auto\"") || log.contains("autostarted domain=auto"), "{log}");
    assert!(log.contains("autostart failed") && log.contains("/nonexistent/vmlinuz"), "{log}");
    auto.power_off(Default::default()).await.unwrap();
}
