//! What the conformance tests share: where libvirt's documents are, and
//! checking many documents against libvirt's schema in one xmllint run.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared/conformance`, or `$VIRTKIT_CONFORMANCE`.
pub fn conformance_dir() -> PathBuf {
    let dir = std::env::var_os("VIRTKIT_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    assert!(
        dir.join("schemas/domain.rng").is_file(),
        "conformance data not found at {} (set VIRTKIT_CONFORMANCE)",
        dir.display()
    );
    dir
}

/// Validates `xml` against `schemas/SCHEMA.rng` with xmllint.
pub fn schema_check(schema: &str, xml: &str) -> Result<(), String> {
    match schema_check_all(schema, &[xml.to_owned()]).pop().flatten() {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Validates each of `docs` against `schemas/SCHEMA.rng` in one xmllint run:
/// for each, `None` when it is valid, else xmllint's complaint about it.
/// The namespace errors libxml2 reports without failing (a prefix bound to
/// the empty string, an undeclared prefix) count too, except its complaint
/// that a namespace name is not a URI, which an IRI such as `urn:日本` draws.
pub fn schema_check_all(schema: &str, docs: &[String]) -> Vec<Option<String>> {
    if docs.is_empty() {
        return Vec::new();
    }
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..docs.len()).map(|i| dir.path().join(format!("{i}.xml"))).collect();
    for (p, d) in paths.iter().zip(docs) {
        std::fs::write(p, d).unwrap();
    }
    let rng = conformance_dir().join(format!("schemas/{schema}.rng"));
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(&rng)
        .args(&paths)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    paths
        .iter()
        .map(|p| {
            let p = p.to_string_lossy();
            let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&*p)).collect();
            let complaint = said.iter().any(|l| l.contains(" error : ") && !l.ends_with("is not a valid URI"));
            if !complaint && said.iter().any(|l| *l == format!("{p} validates")) {
                return None;
            }
            Some(if said.is_empty() { "xmllint said nothing about it".to_owned() } else { said.join("\n") })
        })
        .collect()
}
