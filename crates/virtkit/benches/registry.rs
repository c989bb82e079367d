//! Registry benchmark (a benchmark, not a test): in-process, with the test
//! driver, define 1,000 domains, list them all, take bulk statistics of all,
//! look each one up. Targets: list of 1,000 under 0.5 ms, bulk stats of
//! 1,000 under 1 ms.
//!
//! If libvirt's Python bindings are installed (Debian: python3-libvirt), the
//! same scenario runs on libvirt's in-process test driver in the same run,
//! and the ratios are printed.
//!
//! Run: `cargo bench -p virtkit --bench registry` (or scripts/bench-registry,
//! which installs python3-libvirt first).

use std::process::Command;
use std::time::{Duration, Instant};

use virtkit::{Connection, ListOptions, StartOptions};

const N: usize = 1000;
const REPEAT: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn domain_xml(i: usize) -> String {
    format!(
        "<domain type='test'><name>bench-{i:04}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os><devices>\
         <disk type='file'><source file='/img/bench-{i:04}.img'/><target dev='vda' bus='virtio'/></disk>\
         <interface type='network'><mac address='52:54:00:00:{:02x}:{:02x}'/><source network='default'/></interface>\
         </devices></domain>",
        i / 256,
        i % 256
    )
}

#[derive(Debug, Default)]
struct Numbers {
    define_each: Duration,
    list: Duration,
    stats: Duration,
    lookup_each: Duration,
}

async fn virtkit_side() -> Numbers {
    let dir = tempfile::tempdir().expect("temp dir");
    // A host with only the network the domains' interfaces name.
    let node = dir.path().join("node.xml");
    std::fs::write(
        &node,
        "<node><network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>\
         <ip address='192.168.122.1' netmask='255.255.255.0'/></network></node>",
    )
    .expect("write node");
    let conn = Connection::open(&format!("test://{}", node.display())).await.expect("open");
    let docs: Vec<String> = (0..N).map(domain_xml).collect();

    let t = Instant::now();
    let mut doms = Vec::with_capacity(N);
    for d in &docs {
        doms.push(conn.define_xml(d, Default::default()).await.expect("define"));
    }
    let define_each = t.elapsed() / N as u32;
    for d in &doms {
        d.start(StartOptions::default()).await.expect("start");
    }

    let mut lists = Vec::with_capacity(REPEAT);
    for _ in 0..REPEAT {
        let t = Instant::now();
        let l = conn.list_domains(ListOptions::default()).await.expect("list");
        lists.push(t.elapsed());
        assert_eq!(l.items.len(), N);
    }
    let mut stats = Vec::with_capacity(REPEAT);
    for _ in 0..REPEAT {
        let t = Instant::now();
        let l = conn.list_domains(ListOptions::default().stats(true)).await.expect("stats");
        stats.push(t.elapsed());
        assert!(l.items.iter().all(|d| d.stats.is_some()));
    }
    let t = Instant::now();
    for i in 0..N {
        let d = conn.lookup_domain(&format!("bench-{i:04}")).await.expect("lookup");
        std::hint::black_box(d);
    }
    let lookup_each = t.elapsed() / N as u32;
    Numbers { define_each, list: median(lists), stats: median(stats), lookup_each }
}

const LIBVIRT_SCRIPT: &str = r#"
import sys, time, libvirt
N, REPEAT = int(sys.argv[1]), int(sys.argv[2])
def xml(i):
    return ("<domain type='test'><name>bench-%04d</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os><devices>"
            "<disk type='file'><source file='/img/bench-%04d.img'/><target dev='vda' bus='virtio'/></disk>"
            "<interface type='network'><mac address='52:54:00:00:%02x:%02x'/><source network='default'/></interface>"
            "</devices></domain>") % (i, i, i // 256, i % 256)
libvirt.registerErrorHandler(lambda c, e: None, None)
c = libvirt.open('test:///default')
c.lookupByName('test').destroy()
c.lookupByName('test').undefine()
docs = [xml(i) for i in range(N)]
t = time.perf_counter()
doms = [c.defineXML(d) for d in docs]
define_each = (time.perf_counter() - t) / N
for d in doms:
    d.create()
def med(f):
    v = []
    for _ in range(REPEAT):
        t = time.perf_counter(); f(); v.append(time.perf_counter() - t)
    v.sort(); return v[len(v) // 2]
def lst():
    assert len(c.listAllDomains()) == N
def stats():
    assert len(c.getAllDomainStats()) == N
list_med, stats_med = med(lst), med(stats)
t = time.perf_counter()
for i in range(N):
    c.lookupByName('bench-%04d' % i)
lookup_each = (time.perf_counter() - t) / N
print(define_each, list_med, stats_med, lookup_each)
"#;

fn libvirt_side() -> Option<Numbers> {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", LIBVIRT_SCRIPT, &N.to_string(), &(REPEAT / 4).to_string()])
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
    let v: Vec<f64> = String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let d = |s: f64| Duration::from_secs_f64(s);
    (v.len() == 4).then(|| Numbers { define_each: d(v[0]), list: d(v[1]), stats: d(v[2]), lookup_each: d(v[3]) })
}

fn main() {
    // `cargo test --benches` runs benches with --test: keep that quick.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let ours = rt.block_on(virtkit_side());
    let theirs = libvirt_side();
    println!();
    println!("{N} domains, test driver, in process (medians of {REPEAT} runs for list and stats)");
    println!("{:<26}{:>14}{:>14}{:>10}", "", "virtkit", "libvirt 9.0", "ratio");
    let row = |name: &str, a: Duration, b: Option<Duration>, target: Option<Duration>| {
        let lib = b.map_or("-".into(), |b| format!("{:.1} µs", b.as_secs_f64() * 1e6));
        let ratio = b.map_or("-".into(), |b| format!("{:.1}x", b.as_secs_f64() / a.as_secs_f64()));
        let goal = target.map_or(String::new(), |t| {
            format!("  target < {:.1} ms: {}", t.as_secs_f64() * 1e3, if a < t { "met" } else { "MISSED" })
        });
        println!("{name:<26}{:>14}{lib:>14}{ratio:>10}{goal}", format!("{:.1} µs", a.as_secs_f64() * 1e6));
    };
    row("define (each)", ours.define_each, theirs.as_ref().map(|t| t.define_each), None);
    row("list all 1,000", ours.list, theirs.as_ref().map(|t| t.list), Some(Duration::from_micros(500)));
    row("bulk stats of 1,000", ours.stats, theirs.as_ref().map(|t| t.stats), Some(Duration::from_millis(1)));
    row("lookup by name (each)", ours.lookup_each, theirs.as_ref().map(|t| t.lookup_each), None);
    println!("(ratio: libvirt's time / virtkit's time; above 1 means virtkit is faster)");
}
