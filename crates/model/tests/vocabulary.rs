//! The reader's vocabulary (`src/xml/vocabulary.rs`) is what
//! `scripts/gen-known` makes of libvirt 9.0's schemas: nobody edits it by
//! hand, and a new schema means running the script again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn committed_vocabulary_is_what_the_script_generates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(root.join("scripts/gen-known"))
        .arg(common::conformance_dir().join("schemas"))
        .output()
        .expect("python3 runs scripts/gen-known");
    assert!(out.status.success(), "scripts/gen-known failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(root.join("crates/model/src/xml/vocabulary.rs")).unwrap();
    assert!(
        generated == committed,
        "src/xml/vocabulary.rs is not what scripts/gen-known writes; run\n  scripts/gen-known > crates/model/src/xml/vocabulary.rs"
    );
    // The four document kinds are there, each with its root.
    for root in ["(\"\", \"domain\"", "(\"\", \"network\"", "(\"\", \"pool\"", "(\"\", \"volume\""] {
        assert!(committed.contains(root), "{root}");
    }
}
