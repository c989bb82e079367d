//! Networks and volumes benchmark (a benchmark, not a test): in process,
//! with the test driver, define 1,000 networks and make 1,000 volumes in
//! one pool, then list each set with every object's info (one snapshot:
//! the list is the bulk info). Targets: list of 1,000 networks under
//! 0.5 ms, 1,000 volumes under 1 ms, and 3x libvirt's figures.
//!
//! If libvirt's Python bindings are installed (Debian: python3-libvirt), the
//! same runs on libvirt's in-process test driver in the same run: its list
//! (`listAllNetworks`, `listAllVolumes`) and, for the info each virtkit
//! item carries, one call per object (`isActive`/`autostart`/`bridgeName`
//! for networks, `info()` for volumes).
//!
//! Run: `scripts/bench objects` (installs python3-libvirt first), or
//! `cargo bench -p virtkit --bench objects`.

use std::process::Command;
use std::time::{Duration, Instant};

use virtkit::{Connection, ListOptions};

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

fn virtkit_side(rt: &tokio::runtime::Runtime) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = dir.path().join("node.xml");
    std::fs::write(&node, "<node/>").expect("write node");
    let conn = rt.block_on(Connection::open(&format!("test://{}", node.display()))).expect("open");
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
    let nets = time(rt, || async { conn.list_networks(ListOptions::default()).await.expect("list").items.len() });
    let vols = time(rt, || async { pool.list_volumes(ListOptions::default()).await.expect("list").items.len() });
    (nets, vols)
}

const LIBVIRT_SCRIPT: &str = r#"
import sys, time, libvirt
N, REPEAT = int(sys.argv[1]), int(sys.argv[2])
libvirt.registerErrorHandler(lambda c, e: None, None)
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
print(med(nets_list), med(vols_list), med(nets), med(vols))
"#;

/// libvirt's list alone, then list with each object's info.
fn libvirt_side() -> Option<[Duration; 4]> {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", LIBVIRT_SCRIPT, &N.to_string(), &(REPEAT / 10).to_string()])
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
    let (nets, vols) = virtkit_side(&rt);
    let theirs = libvirt_side();
    let us = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6);
    println!();
    println!("{N} networks, {N} volumes of one pool; test driver, in process (medians)");
    println!("{:<34}{:>12}{:>16}{:>16}{:>9}", "", "virtkit", "libvirt list", "libvirt +info", "ratio");
    let row = |name: &str, a: Duration, list: Option<Duration>, info: Option<Duration>, target: Duration| {
        let ratio = info.map_or("-".into(), |b| format!("{:.1}x", b.as_secs_f64() / a.as_secs_f64()));
        let goal = if a < target { "met" } else { "MISSED" };
        println!(
            "{name:<34}{:>12}{:>16}{:>16}{ratio:>9}  target < {:.1} ms: {goal}",
            us(a),
            list.map_or("-".into(), us),
            info.map_or("-".into(), us),
            target.as_secs_f64() * 1e3
        );
    };
    row("list 1,000 networks with info", nets, theirs.map(|t| t[0]), theirs.map(|t| t[2]), Duration::from_micros(500));
    row("list 1,000 volumes with info", vols, theirs.map(|t| t[1]), theirs.map(|t| t[3]), Duration::from_millis(1));
    println!(
        "(ratio: libvirt's list with each object's info / virtkit's list, which carries it; above 1: virtkit faster)"
    );
}
