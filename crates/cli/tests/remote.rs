//! virtkitd and the remote transports, end to end: the CLI over a unix
//! socket does what it does in process; the read-only socket refuses every
//! change; many clients at once; bad messages; stopping and restarting.
//! (TLS, SSH and guests across restarts: remote_tls.rs, remote_ssh.rs,
//! remote_qemu.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::grpc::{channel as raw, req};
use common::{Daemon, run, virtkit_bin};
use tonic::Code;
use tonic::transport::Channel;
use virtkit_proto::v1;
use virtkit_proto::v1::virtkit_client::VirtkitClient;

fn domain_file(dir: &Path, name: &str) -> String {
    let p = dir.join(format!("{name}.xml"));
    std::fs::write(
        &p,
        format!(
            "<domain type='test'><name>{name}</name><uuid>{}</uuid><memory unit='MiB'>128</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>",
            uuid::Uuid::new_v4()
        ),
    )
    .unwrap();
    p.display().to_string()
}

/// Every command, in one invocation: its output over the daemon must be
/// what the same script prints in process.
const SCRIPT: &str = "define {F}; start a; suspend a; resume a; domstate a --reason; dominfo a; dumpxml a; \
    list --all; list --all --json; domstats a --json; autostart a; dominfo a; reboot a; reset a; shutdown a; \
    domstate a --reason; start a --paused; power-off a; undefine a; list --all --json; \
    events --from 0 --count 16 --timeout 2 --json";

#[test]
fn cli_over_unix_prints_what_it_prints_in_process() {
    let d = Daemon::start(&[]);
    let f = domain_file(d.root(), "a");
    let script = SCRIPT.replace("{F}", &f);
    let (code, local, err) = run("test:///default", &script);
    assert_eq!(code, 0, "{err}");
    let (code, remote, err) = run(&d.uri("test"), &script);
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert_eq!(common::without_revisions(&remote), common::without_revisions(&local));
    assert!(local.contains("\"kind\":\"stopped\""), "{local}");
    // Errors too: the same line, the same exit code.
    for bad in ["start nosuch", "start test", &format!("define {}", d.root().join("missing.xml").display())] {
        let (lc, _, le) = run("test:///default", bad);
        let (rc, _, re) = run(&d.uri("test"), bad);
        assert_eq!((rc, re), (lc, le), "{bad}");
    }
    let bad_doc = d.root().join("bad.xml");
    std::fs::write(&bad_doc, "<domain type='test'><name>x</name><memroy/></domain>").unwrap();
    let (rc, _, re) = run(&d.uri("test"), &format!("define {}", bad_doc.display()));
    let (lc, _, le) = run("test:///default", &format!("define {}", bad_doc.display()));
    assert_eq!((rc, &re), (lc, &le));
    assert!(re.contains("/domain/memroy"), "{re}");
}

#[test]
fn qemu_over_unix_keeps_definitions_in_the_daemon() {
    let mut d = Daemon::start(&[]);
    let xml = d.root().join("g.xml");
    std::fs::write(
        &xml,
        "<domain type='qemu'><name>g</name><memory unit='MiB'>64</memory><os><type>hvm</type><kernel>/nonexistent</kernel></os></domain>",
    )
    .unwrap();
    let uri = d.uri("qemu");
    let (code, out, err) = run(&uri, &format!("define {}; list --all; dumpxml g --inactive", xml.display()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" g ") && out.contains("shut off"), "{out}");
    // Starting fails (no kernel): one clear error, and the domain stays shut off.
    let (code, _, err) = run(&uri, "start g");
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent"), "{err}");
    d.kill9();
    d.spawn();
    let (code, out2, err) = run(&uri, "dumpxml g --inactive; domstate g");
    assert_eq!(code, 0, "{err}");
    assert!(out2.starts_with(out.split_once("<domain").map(|(_, x)| "<domain".to_owned() + x).unwrap().as_str()));
    assert!(out2.trim_end().ends_with("shut off"), "{out2}");
}

#[test]
fn events_stream_live_from_the_daemon() {
    let d = Daemon::start(&[]);
    let uri = d.uri("test");
    let (_, json, _) = run(&uri, "list --json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rev = v["revision"].as_u64().unwrap();
    let watcher = std::process::Command::new(virtkit_bin())
        .args(["-c", &uri, "events", "--from", &rev.to_string(), "--count", "3", "--timeout", "30", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (code, _, err) = run(&uri, "suspend test; resume test; power-off test");
    assert_eq!(code, 0, "{err}");
    let out = watcher.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = lines.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["suspended", "resumed", "stopped"]);
    let revs: Vec<u64> = lines.iter().map(|e| e["revision"].as_u64().unwrap()).collect();
    assert_eq!(revs, [rev + 1, rev + 2, rev + 3]);
}

#[tokio::test]
async fn read_only_socket_refuses_every_change_and_changes_nothing() {
    let d = Daemon::start(&[]);
    let mut c = VirtkitClient::new(raw(&d.sock_ro()).await);
    for uri in ["test:///default", "qemu:///system"] {
        let hello = c.hello(req(v1::HelloRequest {}, uri)).await.unwrap().into_inner();
        assert!(hello.read_only);
        let before = c.list_domains(req(v1::ListDomainsRequest::default(), uri)).await.unwrap().into_inner();
        let uuid = before.domains.first().map_or_else(|| uuid::Uuid::new_v4().to_string(), |d| d.uuid.clone());
        let xml = "<domain type='test'><name>ro</name><memory>1024</memory><os><type>hvm</type></os></domain>";
        let u = || uuid.clone();
        let refusals: Vec<(&str, Result<(), tonic::Status>)> = vec![
            (
                "define",
                c.define_domain(req(v1::DefineDomainRequest { xml: xml.into(), expected_generation: None }, uri))
                    .await
                    .map(drop),
            ),
            (
                "create",
                c.create_domain(req(v1::CreateDomainRequest { xml: xml.into(), paused: false }, uri)).await.map(drop),
            ),
            (
                "undefine",
                c.undefine_domain(req(v1::UndefineDomainRequest { uuid: u(), expected_generation: None }, uri))
                    .await
                    .map(drop),
            ),
            ("start", c.start_domain(req(v1::StartDomainRequest { uuid: u(), paused: false }, uri)).await.map(drop)),
            (
                "shutdown",
                c.shutdown_domain(req(
                    v1::ShutdownDomainRequest { uuid: u(), mode: String::new(), timeout_ms: 0 },
                    uri,
                ))
                .await
                .map(drop),
            ),
            ("power-off", c.power_off_domain(req(v1::PowerOffDomainRequest { uuid: u() }, uri)).await.map(drop)),
            (
                "reboot",
                c.reboot_domain(req(v1::RebootDomainRequest { uuid: u(), mode: String::new() }, uri)).await.map(drop),
            ),
            ("reset", c.reset_domain(req(v1::ResetDomainRequest { uuid: u() }, uri)).await.map(drop)),
            ("suspend", c.suspend_domain(req(v1::SuspendDomainRequest { uuid: u() }, uri)).await.map(drop)),
            ("resume", c.resume_domain(req(v1::ResumeDomainRequest { uuid: u() }, uri)).await.map(drop)),
            (
                "autostart",
                c.set_autostart(req(v1::SetAutostartRequest { uuid: u(), enabled: true }, uri)).await.map(drop),
            ),
        ];
        for (call, r) in refusals {
            let s = r.expect_err(call);
            assert_eq!(s.code(), Code::PermissionDenied, "{call}: {s:?}");
            assert_eq!(s.metadata().get(virtkit_proto::ERROR_KIND_METADATA).unwrap(), "permission-denied");
            assert!(s.message().contains("read-only"), "{call}: {}", s.message());
        }
        let after = c.list_domains(req(v1::ListDomainsRequest::default(), uri)).await.unwrap().into_inner();
        assert_eq!(after, before, "{uri}: something changed");
    }
    assert!(d.log().contains("refused: read-only connection"), "{}", d.log());
    // Through the CLI: the same refusal, one line.
    let ro = format!("test+unix:///default?socket={}", d.sock_ro().display());
    let (code, out, err) = run(&ro, "dominfo test; suspend test");
    assert_eq!(code, 1);
    assert!(out.contains("running"));
    assert!(err.contains("read-only"), "{err}");
    let (_, out, _) = run(&d.uri("test"), "domstate test");
    assert_eq!(out.trim(), "running");
}

#[tokio::test]
async fn a_call_names_a_driver_the_daemon_serves() {
    let d = Daemon::start(&[]);
    let mut c = VirtkitClient::new(raw(&d.sock()).await);
    let s = c.hello(req(v1::HelloRequest {}, "lxc:///system")).await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    assert!(s.message().contains("does not serve 'lxc:///system'"), "{}", s.message());
    let s = c.hello(tonic::Request::new(v1::HelloRequest {})).await.unwrap_err();
    assert!(s.message().contains("no driver URI"), "{}", s.message());
    let s = c
        .start_domain(req(v1::StartDomainRequest { uuid: "not-a-uuid".into(), paused: false }, "test:///default"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().contains("not a UUID"), "{}", s.message());
}

async fn raw_call(ch: Channel, method: &'static str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    common::grpc::raw_call(ch, method, body, "test:///default").await
}

#[tokio::test]
async fn malformed_and_oversized_messages_get_an_error_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = Daemon::start(&[]);
    let mut good = VirtkitClient::new(raw(&d.sock()).await);
    let before =
        good.list_domains(req(v1::ListDomainsRequest::default(), "test:///default")).await.unwrap().into_inner();

    // Not HTTP/2 at all: the daemon closes that connection.
    let mut s = tokio::net::UnixStream::connect(d.sock()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe garbage").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the daemon kept a garbage connection open");

    // Not protobuf: an error naming the decoding.
    let e = raw_call(raw(&d.sock()).await, "/virtkit.v1.Virtkit/DefineDomain", vec![0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap_err();
    assert!(e.message().contains("decode"), "{e:?}");
    // A field of the wrong type in the right place.
    let e = raw_call(raw(&d.sock()).await, "/virtkit.v1.Virtkit/StartDomain", vec![0x0a, 0x03, 0xc3, 0x28, 0x41])
        .await
        .unwrap_err();
    assert!(matches!(e.code(), Code::Internal | Code::InvalidArgument), "{e:?}");
    // Over the size limit (16 MiB): refused before it is decoded.
    let big = vec![0u8; 17 << 20];
    let e = raw_call(raw(&d.sock()).await, "/virtkit.v1.Virtkit/DefineDomain", big).await.unwrap_err();
    assert!(e.message().contains("too large"), "{e:?}");
    // A well-formed message with a hostile document: invalid-document.
    let deep = format!("<domain type='test'>{}{}</domain>", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let e = good
        .define_domain(req(v1::DefineDomainRequest { xml: deep, expected_generation: None }, "test:///default"))
        .await
        .unwrap_err();
    assert_eq!(e.metadata().get(virtkit_proto::ERROR_KIND_METADATA).unwrap(), "invalid-document");

    let after =
        good.list_domains(req(v1::ListDomainsRequest::default(), "test:///default")).await.unwrap().into_inner();
    assert_eq!(after, before);
    let (code, out, _) = run(&d.uri("test"), "domstate test");
    assert_eq!((code, out.trim()), (0, "running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_clients_at_once_end_in_a_consistent_state() {
    use virtkit::{Connection, ListOptions, WatchOptions};
    let d = Daemon::start(&[]);
    let uri = d.uri("test");
    let watcher = Connection::open(&uri).await.unwrap();
    let start = watcher.list_domains(ListOptions::default()).await.unwrap().revision;
    let mut events = watcher.watch(WatchOptions::default().from_revision(start)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let c = Connection::open(&uri).await?;
            let xml = format!(
                "<domain type='test'><name>c{i}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
            );
            let dom = c.define_xml(&xml, Default::default()).await?;
            dom.start(Default::default()).await?;
            c.list_domains(ListOptions::default().stats(true)).await?;
            dom.suspend(Default::default()).await?;
            c.lookup_domain("test").await?.info(Default::default()).await?;
            dom.resume(Default::default()).await?;
            dom.xml(Default::default()).await?;
            dom.power_off(Default::default()).await?;
            if i % 2 == 0 {
                dom.undefine(Default::default()).await?;
            } else {
                dom.start(Default::default()).await?;
            }
            Ok::<_, virtkit::Error>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let end = watcher.list_domains(ListOptions::default().persistent(true)).await.unwrap();
    let names: Vec<&str> = end.items.iter().map(|d| d.name.as_str()).collect();
    let mut want: Vec<String> = (0..50).filter(|i| i % 2 == 1).map(|i| format!("c{i}")).collect();
    want.push("test".into());
    want.sort();
    assert_eq!(names, want);
    assert!(end.items.iter().all(|d| d.state == virtkit::DomainState::Running), "{end:?}");
    // Every change was seen, once, in order, with no gap.
    let mut rev = start;
    while rev < end.revision {
        let e = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap().unwrap();
        assert_eq!(e.revision, rev + 1);
        rev = e.revision;
    }
    // Per client: define, start, suspend, resume, power off, then undefine or start.
    assert_eq!(end.revision - start, 50 * 6, "revisions: {} to {}", start, end.revision);
}

#[test]
fn sigterm_ends_event_streams_and_stops_gracefully() {
    let mut d = Daemon::start(&[]);
    let uri = d.uri("test");
    let watcher = std::process::Command::new(virtkit_bin())
        .args(["-c", &uri, "events", "--timeout", "60"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = d.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}: {}", d.log());
    let out = watcher.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("virtkitd") || err.contains("daemon"), "{err}");
    assert!(!d.sock().exists(), "the socket was left behind");
    assert!(d.log().contains("guests keep running"), "{}", d.log());
    // A second daemon on the same root while one runs: refused, clearly.
    d.spawn();
    let out = std::process::Command::new(common::virtkitd_bin()).arg("--root").arg(d.root()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by pid"), "{out:?}");
}

#[test]
fn session_daemon_starts_on_first_use() {
    let home = tempfile::Builder::new().prefix("vkh").tempdir_in("/tmp").unwrap();
    let run_dir = home.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let vk = |script: &str| {
        let out = std::process::Command::new(virtkit_bin())
            .env_remove("VIRTKIT_DEFAULT_URI")
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &run_dir)
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("VIRTKIT_DAEMON", common::virtkitd_bin())
            .args(["-c", "qemu:///session", script])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, out, err) = vk("uri; list --all");
    let lock = home.path().join("state/virtkit/virtkitd.lock");
    let pid: Option<i32> = std::fs::read_to_string(&lock).ok().and_then(|s| s.trim().parse().ok());
    let _guard = KillOnDrop(pid);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("qemu:///session"), "{out}");
    assert!(run_dir.join("virtkit/virtkit-sock").exists());
    let pid = pid.expect("no session daemon pid");
    // The next client finds the same daemon.
    let (code, _, err) = vk("list --all");
    assert_eq!(code, Some(0), "{err}");
    let again: i32 = std::fs::read_to_string(&lock).unwrap().trim().parse().unwrap();
    assert_eq!(again, pid);
}

struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[tokio::test]
async fn the_client_limit_refuses_one_too_many_and_frees_up() {
    use virtkit::{Connection, ErrorKind};
    let d = Daemon::start(&["--max-clients", "2"]);
    let uri = d.uri("test");
    // The start-up probe's connection may hold a place a moment.
    let open = || async {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match Connection::open(&uri).await {
                Ok(c) => return c,
                Err(e) => assert!(std::time::Instant::now() < deadline, "{e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let a = open().await;
    let b = open().await;
    let e = Connection::open(&uri).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disconnected);
    assert!(e.to_string().contains("closed the connection before answering"), "{e}");
    assert!(d.log().contains("refused: too many clients"), "{}", d.log());
    // The two in keep working; one leaving lets another in.
    a.lookup_domain("test").await.unwrap();
    drop(a);
    let c = open().await;
    c.lookup_domain("test").await.unwrap();
    b.lookup_domain("test").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_do_not_hold_up_others() {
    use tokio::io::AsyncWriteExt;
    use virtkit::{Connection, ListOptions};
    let d = Daemon::start(&[]);
    // Half a connection preface, then silence.
    let mut stalled = tokio::net::UnixStream::connect(d.sock()).await.unwrap();
    stalled.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    // An event stream nobody reads.
    let mut lazy = VirtkitClient::new(raw(&d.sock()).await);
    let _unread =
        lazy.watch(req(v1::WatchRequest { from_revision: None, kinds: Vec::new() }, "test:///default")).await.unwrap();
    // Meanwhile another client makes thousands of events, and lists.
    let conn = Connection::open(&d.uri("test")).await.unwrap();
    let dom = conn.lookup_domain("test").await.unwrap();
    let work = async {
        for _ in 0..1500 {
            dom.suspend(Default::default()).await.unwrap();
            dom.resume(Default::default()).await.unwrap();
        }
        conn.list_domains(ListOptions::default()).await.unwrap()
    };
    let list = tokio::time::timeout(Duration::from_secs(120), work).await.expect("a stalled client held others up");
    assert_eq!(list.items.len(), 1);
    drop(stalled);
}

#[test]
fn the_config_file_is_checked_and_used() {
    let dir = tempfile::Builder::new().prefix("vkcfg").tempdir_in("/tmp").unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "max_clients = 1\nmax_client = 3\n").unwrap();
    let out = std::process::Command::new(common::virtkitd_bin())
        .args(["--root", &dir.path().display().to_string(), "--config", &bad.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("max_client"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!dir.path().join("virtkit-sock").exists());
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "max_clients = 1\nlog_level = \"debug\"\n").unwrap();
    let d = Daemon::start(&["--config", &good.display().to_string()]);
    // The start-up probe's connection may hold the one place a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _, err) = run(&d.uri("test"), "list");
        if code == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{err}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // The CLI's connection may take a moment to be let go.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let _one = loop {
            match virtkit::Connection::open(&d.uri("test")).await {
                Ok(c) => break c,
                Err(e) => assert!(std::time::Instant::now() < deadline, "{e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let e = virtkit::Connection::open(&d.uri("test")).await.unwrap_err();
        assert_eq!(e.kind(), virtkit::ErrorKind::Disconnected);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_is_reached_again_and_old_revisions_are_gone() {
    use virtkit::{Connection, ErrorKind, ListOptions, WatchOptions};
    let mut d = Daemon::start(&[]);
    let conn = Connection::open(&d.uri("test")).await.unwrap();
    let dom = conn.lookup_domain("test").await.unwrap();
    let before = conn.list_domains(ListOptions::default()).await.unwrap().revision;
    let mut events = conn.watch(WatchOptions::default()).await.unwrap();
    dom.suspend(Default::default()).await.unwrap();
    let e = events.next().await.unwrap();
    assert_eq!(e.revision, before + 1);

    d.kill9();
    // While it is down: one clear error.
    let e = dom.resume(Default::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disconnected, "{e}");
    assert!(e.to_string().contains("virtkitd"), "{e}");
    d.spawn();
    // The same connection reaches the new daemon.
    assert_eq!(conn.lookup_domain("test").await.unwrap().state().await.unwrap().state, virtkit::DomainState::Running);
    // Revisions of the old daemon are not this one's: list again.
    let e = events.next().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RevisionGone, "{e}");
    let e = conn.watch(WatchOptions::default().from_revision(before)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RevisionGone, "{e}");
    let now = conn.list_domains(ListOptions::default()).await.unwrap().revision;
    assert!(now > before + 1, "{now} after {before}");
    let mut events = conn.watch(WatchOptions::default().from_revision(now)).await.unwrap();
    dom.suspend(Default::default()).await.unwrap();
    assert_eq!(events.next().await.unwrap().revision, now + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_survives_a_dropped_connection() {
    use virtkit::{Connection, WatchOptions};
    // A relay between client and daemon that can be cut: the daemon stays.
    let d = Daemon::start(&[]);
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = relay_dir.path().join("relay");
    let listener = tokio::net::UnixListener::bind(&relay).unwrap();
    let target = d.sock();
    let (cut_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let cut = cut_tx.clone();
    tokio::spawn(async move {
        while let Ok((mut a, _)) = listener.accept().await {
            let mut b = tokio::net::UnixStream::connect(&target).await.unwrap();
            let mut stop = cut.subscribe();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                    _ = stop.recv() => {}
                }
            });
        }
    });
    let conn = Connection::open(&format!("test+unix:///default?socket={}", relay.display())).await.unwrap();
    let direct = Connection::open(&d.uri("test")).await.unwrap();
    let dom = direct.lookup_domain("test").await.unwrap();
    let mut events = conn.watch(WatchOptions::default()).await.unwrap();
    let start = events.revision();
    // Cut the connection; changes happen while it is down.
    cut_tx.send(()).unwrap();
    dom.suspend(Default::default()).await.unwrap();
    dom.resume(Default::default()).await.unwrap();
    // The stream reconnects and resumes: both events, none lost.
    let a = tokio::time::timeout(Duration::from_secs(20), events.next()).await.unwrap().unwrap();
    let b = tokio::time::timeout(Duration::from_secs(20), events.next()).await.unwrap().unwrap();
    assert_eq!((a.revision, b.revision), (start + 1, start + 2));
    assert_eq!((a.kind, b.kind), (virtkit::EventKind::Suspended, virtkit::EventKind::Resumed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_connection_sees_the_warnings_of_the_daemons_driver() {
    use virtkit::Connection;
    let mut d = Daemon::start(&[]);
    let conn = Connection::open(&d.uri("qemu")).await.unwrap();
    assert_eq!(conn.warnings(), Vec::<String>::new());
    drop(conn);
    d.kill9();
    // A file the engine cannot use, left in its state directory.
    let stray = d.root().join("qemu/domain/notes.txt");
    std::fs::write(&stray, b"not a definition").unwrap();
    d.spawn();
    let conn = Connection::open(&d.uri("qemu")).await.unwrap();
    let w = conn.warnings();
    assert_eq!(w, [format!("{}: not a virtkit file", stray.display())], "{}", d.log());
    // The daemon's other driver met nothing.
    assert_eq!(Connection::open(&d.uri("test")).await.unwrap().warnings(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_undefine_that_expects_a_generation_is_checked_by_the_daemon() {
    use virtkit::{Connection, DefineOptions, ErrorKind, UndefineOptions};
    let d = Daemon::start(&[]);
    let c = Connection::open(&d.uri("test")).await.unwrap();
    let xml = |mib: u32| {
        format!(
            "<domain type='test'><name>gen</name><uuid>6f1c2b9e-0d4a-4c1e-9a55-3b7de0a1c001</uuid><memory unit='MiB'>{mib}</memory><os><type>hvm</type></os></domain>"
        )
    };
    let dom = c.define_xml(&xml(64), DefineOptions::default()).await.unwrap();
    c.define_xml(&xml(128), DefineOptions::default()).await.unwrap();
    let now = dom.info(Default::default()).await.unwrap().generation;
    // A client that read the first definition may not undefine the second.
    let err = dom.undefine(UndefineOptions::default().expected_generation(now - 1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(c.lookup_domain("gen").await.is_ok(), "a refused undefine removed the domain");
    dom.undefine(UndefineOptions::default().expected_generation(now)).await.unwrap();
    assert_eq!(c.lookup_domain("gen").await.unwrap_err().kind(), ErrorKind::NotFound);
}
