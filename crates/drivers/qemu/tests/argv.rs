//! Golden tests of the QEMU command line, as libvirt's qemuxml2argv: each
//! `tests/argv/NAME.xml` is a domain document and `NAME.args` the arguments
//! virtkit gives QEMU for it, one per line (`NAME.err` when virtkit refuses
//! it). After a deliberate change, regenerate them with
//! `VIRTKIT_BLESS=1 cargo test -p virtkit-driver-qemu --test argv` and read
//! the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use virtkit_driver_qemu::argv::{self, Accel, Context, HostFacts};
use virtkit_model::domain::devices::SourceLocation;
use virtkit_model::domain::{Domain, DomainType};
use virtkit_model::storage::SecretRef;

fn context(def: &Domain) -> Context {
    Context {
        accel: if def.domain_type == DomainType::Kvm { Accel::Kvm } else { Accel::Tcg },
        monitor_fd: 3,
        run_dir: PathBuf::from(format!("/var/lib/virtkit/run/{}", def.uuid)),
        devices: Default::default(),
        nics: Default::default(),
        netdevs: Default::default(),
        audio_drivers: Default::default(),
        displays: Default::default(),
        spice_port: Some(5901),
        taps: virtkit_driver_qemu::argv::tap_fds(def, 4),
        // A host with /dev/vhost-net: KVM guests' virtio ports use it.
        vhost_net: true,
        // The engine gives the value of every secret a disk's source or
        // backing layer logs in with, once (the driver writes each into
        // the runtime directory).
        secrets: secrets_of(def),
        // QEMU's block drivers as modules, curl, iSCSI and NFS installed
        // (not rbd or gluster).
        block_modules: Some(["curl", "iscsi", "nfs"].into_iter().map(String::from).collect()),
        // A host with 2 MiB and 1 GiB huge pages and four NUMA nodes.
        host: HostFacts {
            hugepages: vec![(2 << 20, PathBuf::from("/dev/hugepages")), (1 << 30, PathBuf::from("/dev/hugepages1G"))],
            default_hugepage: Some(2 << 20),
            numa_nodes: vec![0, 1, 2, 3],
        },
    }
}

/// Each secret the disks' sources and backing layers name, once.
fn secrets_of(def: &Domain) -> Vec<SecretRef> {
    let mut out: Vec<SecretRef> = Vec::new();
    for d in &def.devices.disks {
        let below = d.backing_store.iter().flat_map(|b| b.layers()).map(|l| &l.source);
        for s in std::iter::once(&d.source).chain(below) {
            if let SourceLocation::Network(n) = &s.location
                && let Some(a) = &n.auth
                && !out.contains(&a.secret)
            {
                out.push(a.secret.clone());
            }
        }
    }
    out
}

/// The expected file and what it should hold.
fn render(xml: &Path) -> (PathBuf, String) {
    let text = std::fs::read_to_string(xml).unwrap();
    let def = Domain::from_xml(&text).unwrap_or_else(|e| panic!("{}: {e}", xml.display()));
    match argv::build(&def, &context(&def)) {
        Ok(args) => {
            let mut out = String::new();
            for (k, v) in argv::environment(&def) {
                out.push_str(&format!("{k}={v}\n"));
            }
            for a in args {
                out.push_str(&a);
                out.push('\n');
            }
            (xml.with_extension("args"), out)
        }
        Err(e) => (xml.with_extension("err"), format!("{e}\n")),
    }
}

#[test]
fn golden_argv() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/argv");
    let bless = std::env::var_os("VIRTKIT_BLESS").is_some();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 10, "golden documents missing from {}", dir.display());
    let mut failed = Vec::new();
    for xml in &docs {
        let (file, got) = render(xml);
        let other = if file.extension().is_some_and(|x| x == "args") { "err" } else { "args" };
        if bless {
            std::fs::write(&file, &got).unwrap();
            let _ = std::fs::remove_file(xml.with_extension(other));
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(want) if want == got => {}
            Ok(want) => {
                let diff: Vec<String> = want
                    .lines()
                    .zip(got.lines())
                    .filter(|(a, b)| a != b)
                    .take(3)
                    .map(|(a, b)| format!("    want {a}\n    got  {b}"))
                    .collect();
                failed.push(format!(
                    "{}: differs ({} lines vs {}):\n{}",
                    file.display(),
                    want.lines().count(),
                    got.lines().count(),
                    diff.join("\n")
                ));
            }
            Err(_) => failed.push(format!("{} is missing; it would hold:\n{got}", file.display())),
        }
    }
    assert!(failed.is_empty(), "{}\n(VIRTKIT_BLESS=1 regenerates them)", failed.join("\n"));
}

/// libvirt documents virtkit refuses on purpose, with what the refusal names.
const REFUSED: &[(&str, &str)] = &[
    // A POWER (spapr) controller: no x86 QEMU has it.
    ("disk-scsi", "'ibmvscsi' has no x86 QEMU device"),
];

/// libvirt's own test documents that come with libvirt's argv: virtkit
/// builds a command line for each (its own, not libvirt's byte for byte).
#[test]
fn libvirt_documents_with_argv_build() {
    let dir = std::env::var_os("VIRTKIT_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../shared/conformance"))
        .join("domain/supported");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("the conformance documents are not at {}", dir.display());
    };
    let mut n = 0;
    let mut failed = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some(base) = name.strip_suffix(".x86_64-latest.args") else { continue };
        let xml = dir.join(format!("{base}.xml"));
        let def = Domain::from_xml(&std::fs::read_to_string(&xml).unwrap()).unwrap();
        n += 1;
        match argv::build(&def, &context(&def)) {
            Ok(args) => {
                // The same machine and memory as libvirt gave it.
                let theirs = std::fs::read_to_string(&p).unwrap();
                let mem = args.iter().position(|a| a == "-m").map(|i| args[i + 1].clone()).unwrap();
                let kib: u64 = mem.strip_prefix("size=").and_then(|m| m.split('k').next()?.parse().ok()).unwrap();
                let forms = [format!("-m {mem} "), format!("-m {mem},"), format!("-m {} ", kib / 1024)];
                assert!(forms.iter().any(|f| theirs.contains(f.as_str())), "{base}: -m {mem}");
            }
            Err(e) => match REFUSED.iter().find(|(doc, _)| *doc == base) {
                Some((_, why)) if e.to_string().contains(why) => {}
                _ => failed.push(format!("{base}: {e}")),
            },
        }
    }
    assert!(n > 10, "few documents with argv in {}", dir.display());
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// An audio backend whose driver this QEMU lacks is refused, naming what it has.
#[test]
fn audio_driver_missing_from_this_qemu_is_refused() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/argv/audio-backends.xml")).unwrap();
    let def = Domain::from_xml(&text).unwrap();
    let mut ctx = context(&def);
    ctx.audio_drivers = ["none", "oss", "spice", "wav"].iter().map(|s| s.to_string()).collect();
    let e = argv::build(&def, &ctx).unwrap_err().to_string();
    assert_eq!(e, "/domain/devices/audio[2]/@type: this QEMU has no 'pa' audio driver (it has none, oss, spice, wav)");
}

/// A NIC model is QEMU's word: one this QEMU lacks, or a device that is no
/// network card, is refused naming it.
#[test]
fn nic_model_missing_from_this_qemu_is_refused() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/argv/net-user-ethernet.xml"))
        .unwrap();
    let build = |model: &str| {
        let def =
            Domain::from_xml(&text.replacen("<model type='e1000'/>", &format!("<model type='{model}'/>"), 1)).unwrap();
        let mut ctx = context(&def);
        ctx.nics = ["e1000", "rtl8139", "virtio-net-pci"].iter().map(|s| s.to_string()).collect();
        ctx.devices = ctx.nics.iter().cloned().chain(["virtio-blk-pci".to_owned()]).collect();
        argv::build(&def, &ctx)
    };
    assert!(build("e1000").is_ok());
    assert_eq!(
        build("igb").unwrap_err().to_string(),
        "/domain/devices/interface[2]/model/@type: this QEMU has no network card 'igb' (it has e1000, rtl8139, virtio-net-pci)"
    );
    assert_eq!(
        build("virtio-blk-pci").unwrap_err().to_string(),
        "/domain/devices/interface[2]/model/@type: QEMU's 'virtio-blk-pci' is a device, but not a network card"
    );
}

/// A network backend this QEMU lacks is refused, naming what it has.
#[test]
fn netdev_missing_from_this_qemu_is_refused() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/argv/net-sockets-vhostuser-vdpa.xml"),
    )
    .unwrap();
    let def = Domain::from_xml(&text).unwrap();
    let mut ctx = context(&def);
    ctx.netdevs = ["socket", "tap", "user", "vhost-user"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        argv::build(&def, &ctx).unwrap_err().to_string(),
        "/domain/devices/interface[7]/@type: this QEMU has no 'vhost-vdpa' network backend (it has socket, tap, user, vhost-user)"
    );
}
