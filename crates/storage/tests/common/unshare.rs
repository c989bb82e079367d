//! A test that runs itself again in namespaces of its own (`unshare`):
//! the outer run checks that the inner one passed. Self-contained, so
//! that other crates' tests can take it with `#[path]`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::process::Command;

/// Runs the test `name` again under `unshare` with `namespaces` (`-m`,
/// `-n`), `inner` set in its environment and its mount(8) bookkeeping in
/// a file of its own; true when this is that run (`inner` is set).
pub fn again(name: &str, namespaces: &[&str], inner: &str) -> bool {
    if std::env::var_os(inner).is_some() {
        return true;
    }
    let utab = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(namespaces)
        .args(["--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(inner, "1")
        .env("LIBMOUNT_UTAB", utab.path().join("utab"))
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    false
}
