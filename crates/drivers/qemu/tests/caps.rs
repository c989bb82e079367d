//! What the QEMU driver says it can run, probed the same way whichever call
//! asks first. Needs QEMU for the host's arch (scripts/test installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use virtkit_driver_qemu::QemuDriver;
use virtkit_driver_qemu::caps;
use virtkit_engine::DomainDriver;
use virtkit_model::domain::Domain;

fn host_qemu() -> PathBuf {
    let name = format!("qemu-system-{}", std::env::consts::ARCH);
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(&name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (apt-get install qemu-system-x86; scripts/test does)"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvm_is_reported_the_same_whichever_call_probes_first() {
    let qemu = host_qemu();
    let def =
        Domain::from_xml("<domain type='qemu'><name>x</name><memory>65536</memory><os><type>hvm</type></os></domain>")
            .unwrap();
    let verdict = |u: &[(String, String)]| u.iter().map(|(what, _)| what.clone()).collect::<Vec<_>>();
    // What a driver's one probe (cached under its root) says of KVM. Two
    // probes may disagree on a busy host (the probe is timed), so each
    // driver is held to its own.
    let probed = |root: &std::path::Path| {
        let (cache, scratch) = (root.join("cache"), root.join("run"));
        let qemu = qemu.clone();
        async move {
            let cached = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
            assert_eq!(cached, 1, "QEMU was probed {cached} times under {}", cache.display());
            let kvm = caps::get(&qemu, &cache, &scratch).await.unwrap().kvm;
            let expected: Vec<String> = if kvm.usable { Vec::new() } else { vec!["kvm".into()] };
            (expected, kvm)
        }
    };
    // Capabilities asked before anything else probe as a start does; a
    // start's preparation after them uses that probe.
    let a = tempfile::tempdir().unwrap();
    let da = QemuDriver::new(a.path());
    let first = da.capabilities();
    assert!(first.unavailable.iter().all(|(_, why)| !why.is_empty()), "a verdict without its reason: {first:?}");
    da.native_config(&def, "qemu-argv").await.unwrap();
    let (expected, kvm) = probed(a.path()).await;
    assert_eq!(verdict(&first.unavailable), expected, "{first:?}; the probe: {kvm:?}");
    // Capabilities asked after a start's preparation probed QEMU say what
    // that probe found.
    let b = tempfile::tempdir().unwrap();
    let db = QemuDriver::new(b.path());
    db.native_config(&def, "qemu-argv").await.unwrap();
    let after = db.capabilities();
    let (expected, kvm) = probed(b.path()).await;
    assert_eq!(verdict(&after.unavailable), expected, "{after:?}; the probe: {kvm:?}");
}
