//! Daemon benchmark (a benchmark, not a test): virtkitd serving clients on
//! its unix socket, side by side in one run with libvirt 9.0's libvirtd
//! serving `test:///default` to `test+unix` clients (the like-for-like
//! pair), measured by scripts/bench-libvirt.py when libvirt is installed.
//!
//! - round trip of a trivial call (virtkit: host info; libvirt:
//!   getLibVersion), and a lookup by name on both;
//! - define 1,000 domains (test driver on both; virtkit's QEMU driver too,
//!   which writes each definition durably: written, fsynced, renamed);
//! - list all 1,001 and bulk statistics of all, through the daemon;
//! - the daemon's resident memory idle and with 1,000 domains defined.
//!
//! Run: `scripts/bench remote` (builds virtkitd in release mode and
//! installs libvirt's daemon and Python bindings), or
//! `VIRTKIT_DAEMON=target/release/virtkitd cargo bench -p virtkit --bench remote`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use virtkit::{Connection, ListOptions};

#[path = "common/daemon.rs"]
mod daemon;
use daemon::{daemon_program, start_daemon};

/// How much to measure: the full run under `cargo bench`, a quick one
/// (that checks the benchmark still works) under `cargo test`.
#[derive(Debug, Clone, Copy)]
struct Size {
    domains: usize,
    calls: usize,
    list_runs: usize,
    stats_runs: usize,
}

const FULL: Size = Size { domains: 1000, calls: 20_000, list_runs: 20, stats_runs: 10 };
const SMOKE: Size = Size { domains: 20, calls: 100, list_runs: 2, stats_runs: 2 };

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn domain_xml(kind: &str, i: usize) -> String {
    format!(
        "<domain type='{kind}'><name>bench-{i:04}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os></domain>"
    )
}

/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Debug, Default, Clone, Copy)]
struct Numbers {
    round_trip: Duration,
    lookup: Duration,
    define_each: Duration,
    list: Duration,
    stats: Duration,
    rss_idle_kb: u64,
    rss_1000_kb: u64,
}

async fn virtkit_side(size: Size, program: PathBuf) -> (Numbers, Duration) {
    let Size { domains: n_domains, calls, list_runs, stats_runs } = size;
    let d = start_daemon(program);
    let conn = Connection::open(&format!("test+unix:///default?socket={}", d.sock.display())).await.expect("open");
    let mut n = Numbers::default();
    conn.host_info().await.expect("host info");
    tokio::time::sleep(Duration::from_millis(200)).await;
    n.rss_idle_kb = rss_kb(d.child.id());

    for _ in 0..1000 {
        conn.host_info().await.expect("warm-up");
    }
    let mut each = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        conn.host_info().await.expect("host info");
        each.push(t.elapsed());
    }
    n.round_trip = median(each);
    let mut each = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        conn.lookup_domain("test").await.expect("lookup");
        each.push(t.elapsed());
    }
    n.lookup = median(each);

    let t = Instant::now();
    for i in 0..n_domains {
        conn.define_xml(&domain_xml("test", i), Default::default()).await.expect("define");
    }
    n.define_each = t.elapsed() / n_domains as u32;
    tokio::time::sleep(Duration::from_millis(200)).await;
    n.rss_1000_kb = rss_kb(d.child.id());

    // One warm-up call each, as the libvirt side has.
    conn.list_domains(ListOptions::default()).await.expect("list");
    let mut each = Vec::new();
    for _ in 0..list_runs {
        let t = Instant::now();
        let l = conn.list_domains(ListOptions::default()).await.expect("list");
        each.push(t.elapsed());
        assert_eq!(l.items.len(), n_domains + 1);
    }
    n.list = median(each);
    conn.list_domains(ListOptions::default().stats(true)).await.expect("stats");
    let mut each = Vec::new();
    for _ in 0..stats_runs {
        let t = Instant::now();
        let l = conn.list_domains(ListOptions::default().stats(true)).await.expect("stats");
        each.push(t.elapsed());
        assert_eq!(l.items.len(), n_domains + 1);
    }
    n.stats = median(each);

    // The QEMU driver keeps definitions on disk: each define is durable.
    let qemu = Connection::open(&format!("qemu+unix:///system?socket={}", d.sock.display())).await.expect("open qemu");
    let t = Instant::now();
    for i in 0..n_domains {
        qemu.define_xml(&domain_xml("qemu", i), Default::default()).await.expect("define qemu");
    }
    let durable = t.elapsed() / n_domains as u32;
    (n, durable)
}

fn libvirt_side(size: Size) -> Option<(Numbers, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench-libvirt.py");
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["--domains", &size.domains.to_string(), "--calls", &size.calls.to_string()])
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        println!("libvirt side not measured: {}", err.lines().last().unwrap_or("it failed"));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let us = |x: &serde_json::Value| Duration::from_secs_f64(x.as_f64().unwrap_or(0.0) / 1e6);
    let ms = |x: &serde_json::Value| Duration::from_secs_f64(x.as_f64().unwrap_or(0.0) / 1e3);
    Some((
        Numbers {
            round_trip: us(&v["round_trip_us"]["median"]),
            lookup: us(&v["lookup_us"]["median"]),
            define_each: us(&v["define_us_each"]),
            list: ms(&v["list_ms"]),
            stats: ms(&v["stats_ms"]),
            rss_idle_kb: v["rss_idle_kb"].as_u64().unwrap_or(0),
            rss_1000_kb: v["rss_1000_kb"].as_u64().unwrap_or(0),
        },
        v["libvirt_version"].as_str().unwrap_or("?").to_owned(),
    ))
}

fn show(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

/// The floor of any round trip between two processes here: 64 bytes
/// over a unix socket to a child that echoes them (this same program).
fn socket_floor(calls: usize) -> Duration {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("echo");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .env("VIRTKIT_BENCH_ECHO", &path)
        .spawn()
        .expect("echo child");
    let (mut s, _) = listener.accept().expect("accept");
    let mut buf = [0u8; 64];
    let mut each = Vec::with_capacity(calls);
    for i in 0..calls + 1000 {
        let t = Instant::now();
        s.write_all(&buf).expect("write");
        s.read_exact(&mut buf).expect("read");
        if i >= 1000 {
            each.push(t.elapsed());
        }
    }
    drop(s);
    let _ = child.wait();
    median(each)
}

fn echo(path: &std::ffi::OsStr) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path).expect("connect");
    let mut buf = [0u8; 64];
    while s.read_exact(&mut buf).is_ok() {
        if s.write_all(&buf).is_err() {
            break;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Some(path) = std::env::var_os("VIRTKIT_BENCH_ECHO") {
        return echo(&path);
    }
    // `cargo bench` passes --bench; `cargo test` runs this quickly, on the
    // debug daemon, without libvirt.
    let full = std::env::args().any(|a| a == "--bench");
    let (size, profile) = if full { (FULL, "release") } else { (SMOKE, "debug") };
    let program = daemon_program(profile);
    if !program.is_file() {
        let hint = if full { "cargo build --release -p virtkit-daemon" } else { "cargo build -p virtkit-daemon" };
        println!("{} is missing ({hint}): nothing measured", program.display());
        return;
    }
    let floor = socket_floor(size.calls);
    let skip = !full || std::env::var_os("VIRTKIT_BENCH_NO_LIBVIRT").is_some();
    let theirs = if skip { None } else { libvirt_side(size) };
    let (ours, durable) = virtkit_side(size, program).await;
    let n = size.domains;
    let version = theirs.as_ref().map_or_else(|| "(not measured)".to_owned(), |(_, v)| v.clone());
    let theirs = theirs.map(|(n, _)| n);
    println!("\nvirtkitd vs libvirtd {version}, test driver, one client on the unix socket, {n} domains");
    println!("{:<34}{:>12}{:>14}{:>10}", "", "virtkitd", "libvirtd", "ratio");
    let rows: [(String, Duration, Option<Duration>); 5] = [
        ("round trip (trivial call)".into(), ours.round_trip, theirs.map(|t| t.round_trip)),
        ("lookup by name".into(), ours.lookup, theirs.map(|t| t.lookup)),
        ("define, each".into(), ours.define_each, theirs.map(|t| t.define_each)),
        (format!("list all {}", n + 1), ours.list, theirs.map(|t| t.list)),
        (format!("bulk stats of all {}", n + 1), ours.stats, theirs.map(|t| t.stats)),
    ];
    for (what, o, t) in rows {
        match t {
            Some(t) => println!(
                "{what:<34}{:>12}{:>14}{:>9.1}×",
                show(o),
                show(t),
                t.as_secs_f64() / o.as_secs_f64().max(1e-12)
            ),
            None => println!("{what:<34}{:>12}{:>14}", show(o), "-"),
        }
    }
    let mb = |kb: u64| format!("{:.1} MiB", kb as f64 / 1024.0);
    for (what, o, t) in [
        ("resident memory, idle", ours.rss_idle_kb, theirs.map(|t| t.rss_idle_kb)),
        (&*format!("resident memory, {n} domains"), ours.rss_1000_kb, theirs.map(|t| t.rss_1000_kb)),
    ] {
        match t {
            Some(t) => println!("{what:<34}{:>12}{:>14}{:>9.1}×", mb(o), mb(t), t as f64 / o.max(1) as f64),
            None => println!("{what:<34}{:>12}{:>14}", mb(o), "-"),
        }
    }
    println!("{:<34}{:>12}", "define, each, durable (qemu driver)", show(durable));
    println!("{:<34}{:>12}", "floor: bare unix socket round trip", show(floor));
    println!("(ratio: libvirtd's figure / virtkitd's; above 1 means virtkitd is better. libvirt's test driver keeps");
    println!(" definitions in memory, as virtkit's does; the durable line writes and fsyncs each one. The floor is");
    println!(" 64 bytes to another process and back with nothing else: no call through any daemon can beat it.)");
}
