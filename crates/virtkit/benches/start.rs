//! Start latency (a benchmark, not a test): the time from `start` to QEMU
//! running the guest, against the floor, the same QEMU argv launched bare
//! (exec, QMP greeting, qmp_capabilities, cont), measured side by side,
//! alternating, in one run. Prints both medians and the ratio.
//!
//! virtkit's side is the public API on `qemu:///embed` (the engine in this
//! process; the daemon comes later). The guest is virtkit's test guest
//! (scripts/build-test-guest) under TCG. Where `virsh` and a running
//! libvirtd are available, libvirt starting the same document is timed too.
//!
//! Run: `scripts/bench start` (builds the test guest first), or
//! `cargo bench -p virtkit --bench start`.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use virtkit::{Connection, PowerOffOptions, StartOptions};
use virtkit_driver_qemu::argv::{self, Accel, Context};

const ROUNDS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn domain_xml(guest: &Path) -> String {
    format!(
        "<domain type='qemu'>
  <name>bench</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{0}/vmlinuz</kernel>
    <initrd>{0}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <serial type='pty'/>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <memballoon model='none'/>
  </devices>
</domain>",
        guest.display()
    )
}

/// The floor: QEMU exec'd with the same argv, its monitor handed over
/// already listening, then greeting, qmp_capabilities, cont.
fn bare_start(emulator: &Path, args: &[String], run_dir: &Path, rt: &tokio::runtime::Runtime) -> Duration {
    let _ = std::fs::remove_dir_all(run_dir);
    std::fs::create_dir_all(run_dir).expect("run dir");
    let log = std::fs::File::create(run_dir.join("qemu.log")).expect("log");
    let sock = run_dir.join("monitor.sock");
    let t = Instant::now();
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let spawn = virtkit_host::Spawn::new(emulator).args(args).fd(OwnedFd::from(listener), 3).log(log).cwd(run_dir);
    let mut child = {
        let _guard = rt.enter();
        spawn.spawn().expect("spawn qemu")
    };
    let s = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut w = s;
    let mut line = String::new();
    r.read_line(&mut line).expect("greeting");
    for cmd in ["qmp_capabilities", "cont"] {
        writeln!(w, "{{\"execute\":\"{cmd}\"}}").expect("write");
        loop {
            line.clear();
            r.read_line(&mut line).expect("read");
            if line.contains("\"return\"") || line.contains("\"error\"") {
                break;
            }
        }
    }
    let elapsed = t.elapsed();
    let _ = child.start_kill();
    rt.block_on(async {
        let _ = child.wait().await;
    });
    elapsed
}

/// libvirt's `virsh create` of the same document, where a libvirtd runs.
fn libvirt_start(xml_file: &Path) -> Option<Duration> {
    let ok = |args: &[&str]| Command::new("virsh").args(args).output().ok().filter(|o| o.status.success());
    ok(&["-c", "qemu:///system", "version"])?;
    let _ = ok(&["-c", "qemu:///system", "destroy", "bench"]);
    let t = Instant::now();
    ok(&["-c", "qemu:///system", "create", &xml_file.display().to_string()])?;
    let elapsed = t.elapsed();
    ok(&["-c", "qemu:///system", "destroy", "bench"]);
    Some(elapsed)
}

fn main() {
    let guest = std::env::var_os("VIRTKIT_TEST_GUEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-guest"));
    if !guest.join("vmlinuz").is_file() {
        eprintln!("the test guest is not in {}: run scripts/build-test-guest", guest.display());
        std::process::exit(1);
    }
    let guest = guest.canonicalize().expect("guest dir");
    let dir = tempfile::Builder::new().prefix("vkb").tempdir_in("/tmp").expect("temp dir");
    let xml = domain_xml(&guest);
    let xml_file = dir.path().join("bench.xml");
    std::fs::write(&xml_file, &xml).expect("write xml");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let uri = format!("qemu:///embed?root={}", dir.path().join("root").display());
    let conn = rt.block_on(Connection::open(&uri)).expect("open");
    let dom = rt.block_on(conn.define_xml(&xml, Default::default())).expect("define");
    // Warm up: the first start probes QEMU's capabilities (then cached).
    rt.block_on(async {
        dom.start(StartOptions::default()).await.expect("start");
        dom.power_off(PowerOffOptions::default()).await.expect("power off");
    });

    // The bare side gets the argv virtkit builds for the same definition.
    let def = virtkit::model::domain::Domain::from_xml(&xml).expect("parse");
    let bare_dir = dir.path().join("bare");
    let ctx = Context {
        accel: Accel::Tcg,
        monitor_fd: 3,
        run_dir: bare_dir.clone(),
        devices: Default::default(),
        nics: Default::default(),
        netdevs: Default::default(),
        audio_drivers: Default::default(),
        displays: Default::default(),
        spice_port: None,
        block_modules: None,
        host: Default::default(),
        taps: Default::default(),
        vhost_net: false,
        secrets: Vec::new(),
    };
    let args = argv::build(&def, &ctx).expect("argv");
    let emulator = PathBuf::from("/usr/bin/qemu-system-x86_64");

    let (mut vk, mut bare, mut lv) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bare.push(bare_start(&emulator, &args, &bare_dir, &rt));
        let t = Instant::now();
        rt.block_on(dom.start(StartOptions::default())).expect("start");
        vk.push(t.elapsed());
        rt.block_on(dom.power_off(PowerOffOptions::default())).expect("power off");
        if let Some(d) = libvirt_start(&xml_file) {
            lv.push(d);
        }
    }
    let (vk, bare) = (median(vk), median(bare));
    println!("start latency, medians of {ROUNDS} alternating rounds (TCG, virtkit's test guest):");
    println!("  bare QEMU (exec, greeting, qmp_capabilities, cont)  {}", ms(bare));
    println!("  virtkit start (qemu:///embed, public API)            {}", ms(vk));
    println!(
        "  ratio virtkit / bare                                 {:.2}x (target: at most 1.30x)",
        vk.as_secs_f64() / bare.as_secs_f64()
    );
    if lv.is_empty() {
        println!("  libvirt: not measured (no virsh with a running libvirtd on qemu:///system)");
    } else {
        let lv = median(lv);
        println!("  libvirt 'virsh create'                               {}", ms(lv));
        println!("  ratio libvirt / virtkit                              {:.2}x", lv.as_secs_f64() / vk.as_secs_f64());
    }
}
