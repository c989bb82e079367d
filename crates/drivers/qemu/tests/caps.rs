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
    // Capabilities asked before anything else.
    let a = tempfile::tempdir().unwrap();
    let first = QemuDriver::new(a.path()).capabilities();
    // Capabilities asked after a start's preparation probed QEMU.
    let b = tempfile::tempdir().unwrap();
    let d = QemuDriver::new(b.path());
    let def =
        Domain::from_xml("<domain type='qemu'><name>x</name><memory>65536</memory><os><type>hvm</type></os></domain>")
            .unwrap();
    d.native_config(&def, "qemu-argv").await.unwrap();
    let after = d.capabilities();
    // The verdicts, not the reasons' words: a reason may give the time a
    // probe took, which differs from one probe to the next on a busy host.
    let verdict = |u: &[(String, String)]| u.iter().map(|(what, _)| what.clone()).collect::<Vec<_>>();
    assert_eq!(verdict(&first.unavailable), verdict(&after.unavailable), "{first:?} then {after:?}");
    // Both are the probe's verdict.
    let c = tempfile::tempdir().unwrap();
    let probed = caps::get(&qemu, c.path(), c.path()).await.unwrap();
    let expected: Vec<String> = if probed.kvm.usable { Vec::new() } else { vec!["kvm".into()] };
    assert_eq!(verdict(&first.unavailable), expected, "{first:?}; the probe: {:?}", probed.kvm);
    assert!(first.unavailable.iter().all(|(_, why)| !why.is_empty()), "a verdict without its reason: {first:?}");
    // The first call probed as a start does: its result is cached for them.
    let cached = std::fs::read_dir(a.path().join("cache")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(cached, 1, "capabilities() did not probe QEMU");
}
