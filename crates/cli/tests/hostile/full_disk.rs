//! A full state filesystem: virtkitd starts, refuses what needs space
//! (no-space, saying so), and serves everything else. The filesystem is a
//! small tmpfs in a mount namespace of the test's own (`unshare -m`); the
//! test reaches it through /proc/PID/root of the daemon.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use virtkit_proto::v1;

use crate::common::grpc::{client, kind, req};
use crate::common::virtkitd_bin;

const QEMU: &str = "qemu:///system";

/// A probe file a daemon that died half-way through a probe left behind
/// (no process has this pid).
const STALE: &str = "kvm-probe-2147483640.bin";

/// virtkitd on a full tmpfs of its own namespace.
struct FullDaemon {
    outer: tempfile::TempDir,
    child: Child,
}

impl FullDaemon {
    fn start() -> FullDaemon {
        let outer = tempfile::Builder::new().prefix("vkfull").tempdir_in("/tmp").unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(outer.path().join("log")).unwrap();
        let script = format!(
            "set -e; mount -t tmpfs -o size=1m tmpfs {r}; mkdir -p {r}/qemu/run; : > {r}/qemu/run/{STALE}; echo 5 > {r}/revision-base; \
             dd if=/dev/zero of={r}/fill bs=4k 2>/dev/null || true; exec {bin} --root {r}",
            r = root.display(),
            bin = virtkitd_bin().display()
        );
        let child = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux) runs");
        let d = FullDaemon { outer, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(d.path("virtkit-sock")).is_err() {
            assert!(Instant::now() < deadline, "virtkitd did not come up on a full filesystem:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// A path under the daemon's root, as seen from outside its namespace.
    fn path(&self, rel: &str) -> PathBuf {
        let root = self.outer.path().join("root");
        Path::new(&format!("/proc/{}/root", self.child.id())).join(root.strip_prefix("/").unwrap()).join(rel)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.outer.path().join("log")).unwrap_or_default()
    }

    fn probe_files(&self) -> Vec<String> {
        std::fs::read_dir(self.path("qemu/run"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("probe-"))
            .collect()
    }
}

impl Drop for FullDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn domain(name: &str) -> String {
    format!("<domain type='qemu'><name>{name}</name><memory>65536</memory><os><type>hvm</type></os></domain>")
}

async fn names(c: &mut virtkit_proto::v1::virtkit_client::VirtkitClient<tonic::transport::Channel>) -> Vec<String> {
    let l = c.list_domains(req(v1::ListDomainsRequest::default(), QEMU)).await.unwrap().into_inner();
    l.domains.into_iter().map(|d| d.name).collect()
}

/// The daemon once could not start on a full state filesystem (`cannot
/// write …/revision-base: No space left on device`), leaving running
/// guests unmanaged; a failed KVM probe left its image behind, and every
/// later start logged an error about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_what_needs_space_and_serves_the_rest() {
    let d = FullDaemon::start();
    assert!(!d.probe_files().contains(&STALE.to_owned()), "a dead probe's file is removed at start");
    // The record of revisions, which a new file could not hold, is
    // rewritten where it lies.
    let base: u64 = std::fs::read_to_string(d.path("revision-base")).unwrap().trim().parse().unwrap();
    assert!(base > 5 + (1 << 32), "{base}");
    let mut c = client(&d.path("virtkit-sock")).await;
    c.hello(req(v1::HelloRequest {}, QEMU)).await.unwrap();
    let before = names(&mut c).await;

    let msg = v1::DefineDomainRequest { xml: domain("full"), expected_generation: None };
    let e = c.define_domain(req(msg, QEMU)).await.expect_err("no room for the definition");
    assert_eq!(kind(&e), Some("no-space"), "{e:?}");
    assert!(e.message().contains("No space left on device"), "{e:?}");
    assert_eq!(names(&mut c).await, before, "a refused define changes nothing");

    // What needs no space is served: a definition's command line (which
    // probes QEMU, KVM included, with nowhere to write the probe guest).
    let msg = v1::DomainXmlToNativeRequest { format: "qemu-argv".into(), xml: domain("argv") };
    let native = c.domain_xml_to_native(req(msg, QEMU)).await.unwrap().into_inner().native;
    assert!(native.contains("qemu-system"), "{native}");
    assert!(d.probe_files().iter().all(|f| !f.starts_with("kvm-probe-")), "{:?}", d.probe_files());

    // Room again: the same define goes through.
    std::fs::remove_file(d.path("fill")).unwrap();
    let msg = v1::DefineDomainRequest { xml: domain("full"), expected_generation: None };
    c.define_domain(req(msg, QEMU)).await.unwrap();
    assert!(names(&mut c).await.contains(&"full".to_owned()));
    assert!(!d.log().contains("not a virtkit file"), "{}", d.log());
}
