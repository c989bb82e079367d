//! libvirt's own documents (../shared/conformance): every supported one must
//! parse, round-trip and, written by us, pass libvirt 9.0's RelaxNG schema;
//! every unsupported one must be refused naming what is not supported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::conformance_dir;

use virtkit_model::domain::Domain;

/// Input documents (not libvirt's `.out.xml` outputs) in `sub`.
fn inputs(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(conformance_dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".xml") && !n.ends_with(".out.xml")
        })
        .collect();
    v.sort();
    v
}

fn schema_check(xml: &str) -> Result<(), String> {
    common::schema_check("domain", xml)
}

#[test]
fn supported_documents_round_trip_and_validate() {
    let files = inputs("domain/supported");
    assert!(files.len() >= 40, "expected the supported corpus, found {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        let text = std::fs::read_to_string(f).unwrap();
        let d = match Domain::from_xml(&text) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{name}: does not parse:\n{e}"));
                continue;
            }
        };
        let xml = d.to_xml();
        match Domain::from_xml(&xml) {
            Ok(again) if again == d => {}
            Ok(_) => failures.push(format!("{name}: re-parsed model differs\n{xml}")),
            Err(e) => failures.push(format!("{name}: our output does not parse: {e}\n{xml}")),
        }
        match Domain::from_json(&d.to_json()) {
            Ok(again) if again == d => {}
            Ok(_) => failures.push(format!("{name}: JSON round trip differs")),
            Err(e) => failures.push(format!("{name}: JSON does not read back: {e}")),
        }
        if let Err(e) = schema_check(&xml) {
            failures.push(format!("{name}: our output fails libvirt's schema:\n{e}\n{xml}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

/// For each unsupported document: a word the first error must contain,
/// naming the element, attribute or value virtkit does not support, or
/// `None` for one virtkit has come to support (it must then be kept whole:
/// round trip and schema, as the supported ones).
const UNSUPPORTED: &[(&str, Option<&str>)] = &[
    ("blkiotune.xml", None),
    ("boot-order.xml", None),
    ("cpu-hotplug-startup.xml", None),
    ("disk-serial.xml", None),
    ("hostdev-pci-address.xml", None),
    ("hugepages-default.xml", None),
    ("iothreads-disk.xml", Some("<iothreads>")),
    // <shim> is newer than libvirt 9.0's schema: unknown here.
    ("launch-security-sev-direct.xml", Some("<shim>")),
    ("net-vhostuser.xml", None),
    ("net-virtio-network-portgroup.xml", None),
    ("numatune-memnode.xml", None),
    ("shmem-plain-doorbell.xml", None),
    ("smartcard-host.xml", None),
    ("sound-device.xml", Some("<sound>")),
    ("tap-vhost.xml", None),
    ("tpm-emulator.xml", None),
    ("usb-redir.xml", None),
];

#[test]
fn unsupported_documents_are_refused_naming_the_feature() {
    let files = inputs("domain/unsupported");
    assert_eq!(files.len(), UNSUPPORTED.len(), "the table covers every unsupported file");
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let want = UNSUPPORTED.iter().find(|(n, _)| *n == name).map(|(_, w)| *w).unwrap();
        let text = std::fs::read_to_string(f).unwrap();
        let Some(want) = want else {
            match Domain::from_xml(&text) {
                Ok(d) => {
                    let xml = d.to_xml();
                    if Domain::from_xml(&xml).ok() != Some(d) {
                        failures.push(format!("{name}: does not round-trip"));
                    }
                    if let Err(e) = schema_check(&xml) {
                        failures.push(format!("{name}: our output fails libvirt's schema:\n{e}"));
                    }
                }
                Err(e) => failures.push(format!("{name}: now refused:\n{e}")),
            }
            continue;
        };
        match Domain::from_xml(&text) {
            Ok(_) => failures.push(format!("{name}: accepted")),
            Err(errs) => {
                let all = errs.to_string();
                let first = errs.first();
                if first.pos.is_none() || !all.contains(want) {
                    failures.push(format!("{name}: expected an error naming {want}, got:\n{all}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
