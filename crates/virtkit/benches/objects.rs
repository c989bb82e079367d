//! Networks and volumes benchmark (a benchmark, not a test): with the test
//! driver, define 1,000 networks and make 1,000 volumes in one pool, then
//! list each set with every object's info (one snapshot: the list is the
//! bulk info); in process, and through virtkitd (`test+unix`, one client on
//! its unix socket). Targets: in process, the list of 1,000 networks under
//! 0.5 ms and of 1,000 volumes under 1 ms; 3x libvirt's figures both ways.
//!
//! If libvirt's Python bindings are installed (Debian: python3-libvirt), the
//! same runs on libvirt's test driver in the same run, in process and
//! through a private libvirtd (scripts/lib/private_libvirtd.py; Debian:
//! libvirt-daemon): its list (`listAllNetworks`, `listAllVolumes`) and, for
//! the info each virtkit item carries, one call per object
//! (`isActive`/`autostart`/`bridgeName` for networks, `info()` for volumes).
//!
//! Run: `scripts/bench objects` (builds virtkitd in release mode, installs
//! libvirt's daemon and Python bindings first), or
//! `VIRTKIT_DAEMON=target/release/virtkitd cargo bench -p virtkit --bench objects`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use virtkit::{Connection, ListOptions};

#[path = "common/daemon.rs"]
mod daemon;

const N: usize = 1000;
const REPEAT: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn time<F: std::future::Future<Output = usize>>(rt: &tokio::runtime::Runtime, mut f: impl FnMut() -> F) -> Duration {
    let mut v = Vec::with_capacity(REPEAT);
    for _ in 0..REPEAT {
        let t = Instant::now();
        let n = rt.block_on(f());
        v.push(t.elapsed());
        assert_eq!(n, N);
    }
    median(v)
}

/// virtkit's figures on `uri`: list of networks, list of volumes. A
/// daemon's host may hold objects of its own (`default`): only ours count.
fn virtkit_side(rt: &tokio::runtime::Runtime, uri: &str) -> (Duration, Duration) {
    let conn = rt.block_on(Connection::open(uri)).expect("open");
    let pool = rt.block_on(async {
        for i in 0..N {
            let xml = format!(
                "<network><name>net-{i:04}</name><bridge name='vb{i}'/><ip address='10.{}.{}.1' prefix='24'/></network>",
                i / 250,
                i % 250
            );
            conn.define_network_xml(&xml, Default::default()).await.expect("define network");
        }
        let pool = conn
            .define_pool_xml(
                "<pool type='dir'><name>bench</name><target><path>/bench</path></target></pool>",
                Default::default(),
            )
            .await
            .expect("define pool");
        pool.start(Default::default()).await.expect("start pool");
        for i in 0..N {
            let xml = format!("<volume><name>vol-{i:04}</name><capacity>1048576</capacity></volume>");
            pool.create_volume_xml(&xml, Default::default()).await.expect("create volume");
        }
        pool
    });
    let nets = time(rt, || async {
        let list = conn.list_networks(ListOptions::default()).await.expect("list");
        list.items.iter().filter(|n| n.name.starts_with("net-")).count()
    });
    let vols = time(rt, || async { pool.list_volumes(ListOptions::default()).await.expect("list").items.len() });
    (nets, vols)
}

const LIBVIRT_SCRIPT: &str = r#"
import sys, time, tempfile, shutil, libvirt
N, REPEAT, WHERE, LIB = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
libvirt.registerErrorHandler(lambda c, e: None, None)
daemon = None
if WHERE == 'daemon':
    sys.path.insert(0, LIB)
    from private_libvirtd import Daemon
    tmp = tempfile.mkdtemp(prefix='bench-objects.', dir='/tmp')
    daemon = Daemon(tmp)
    c = daemon.connect('test', 30)
else:
    c = libvirt.open('test:///default')
for i in range(N):
    c.networkDefineXML("<network><name>net-%04d</name><bridge name='vb%d'/><ip address='10.%d.%d.1' prefix='24'/></network>"
                       % (i, i, i // 250, i % 250))
p = c.storagePoolDefineXML("<pool type='dir'><name>bench</name><target><path>/bench</path></target></pool>")
p.create()
for i in range(N):
    p.createXML("<volume><name>vol-%04d</name><capacity>1048576</capacity></volume>" % i)
def med(f):
    v = []
    for _ in range(REPEAT):
        t = time.perf_counter(); f(); v.append(time.perf_counter() - t)
    v.sort(); return v[len(v) // 2]
def nets():
    l = [n for n in c.listAllNetworks() if n.name().startswith('net-')]
    for n in l:
        n.isActive(); n.autostart(); n.isPersistent(); n.bridgeName()
    assert len(l) == N
def vols():
    l = p.listAllVolumes()
    for v in l:
        v.info(); v.path()
    assert len(l) == N
def nets_list():
    assert len([n for n in c.listAllNetworks() if n.name().startswith('net-')]) == N
def vols_list():
    assert len(p.listAllVolumes()) == N
try:
    print(med(nets_list), med(vols_list), med(nets), med(vols))
finally:
    if daemon:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
"#;

/// libvirt's list alone, then list with each object's info, in process
/// (`inproc`) or through a private libvirtd (`daemon`).
fn libvirt_side(place: &str) -> Option<[Duration; 4]> {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lib");
    let out = Command::new("/usr/bin/python3")
        .args(["-c", LIBVIRT_SCRIPT, &N.to_string(), &(REPEAT / 10).to_string(), place])
        .arg(lib)
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'libvirt'") {
            println!("libvirt's Python bindings are not installed (apt-get install python3-libvirt): no comparison");
        } else {
            println!("libvirt side failed: {}", err.lines().last().unwrap_or(""));
        }
        return None;
    }
    let v: Vec<Duration> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .map(Duration::from_secs_f64)
        .collect();
    (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
}

fn main() {
    // `cargo test --benches` runs benches: keep that quick.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let node = dir.path().join("node.xml");
    std::fs::write(&node, "<node/>").expect("write node");
    let inproc = virtkit_side(&rt, &format!("test://{}", node.display()));
    let theirs = libvirt_side("inproc");
    report("test driver, in process", inproc, theirs, Some((Duration::from_micros(500), Duration::from_millis(1))));
    let program = daemon::daemon_program("release");
    if !program.is_file() {
        println!(
            "\n{} is missing (cargo build --release -p virtkit-daemon): not measured through the daemons",
            program.display()
        );
        return;
    }
    let d = daemon::start_daemon(program);
    let remote = virtkit_side(&rt, &format!("test+unix:///default?socket={}", d.sock.display()));
    drop(d);
    let theirs = libvirt_side("daemon");
    report("test driver, through virtkitd / libvirtd (unix socket)", remote, theirs, None);
}

/// One table: virtkit's lists against libvirt's, with each target (in
/// process only) and the ratio.
fn report(
    place: &str,
    ours: (Duration, Duration),
    theirs: Option<[Duration; 4]>,
    targets: Option<(Duration, Duration)>,
) {
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    println!();
    println!("{N} networks, {N} volumes of one pool; {place} (medians)");
    println!("{:<34}{:>12}{:>16}{:>16}{:>9}", "", "virtkit", "libvirt list", "libvirt +info", "ratio");
    let row = |name: &str, a: Duration, list: Option<Duration>, info: Option<Duration>, target: Option<Duration>| {
        let ratio = info.map_or("-".into(), |b| format!("{:.1}x", b.as_secs_f64() / a.as_secs_f64()));
        let goal = target.map_or(String::new(), |t| {
            format!("  target < {:.1} ms: {}", t.as_secs_f64() * 1e3, if a < t { "met" } else { "MISSED" })
        });
        println!(
            "{name:<34}{:>12}{:>16}{:>16}{ratio:>9}{goal}",
            us(a),
            list.map_or("-".into(), us),
            info.map_or("-".into(), us)
        );
    };
    row("list 1,000 networks with info", ours.0, theirs.map(|t| t[0]), theirs.map(|t| t[2]), targets.map(|t| t.0));
    row("list 1,000 volumes with info", ours.1, theirs.map(|t| t[1]), theirs.map(|t| t[3]), targets.map(|t| t.1));
    println!(
        "(ratio: libvirt's list with each object's info / virtkit's list, which carries it; above 1: virtkit faster; 3x wanted)"
    );
}
