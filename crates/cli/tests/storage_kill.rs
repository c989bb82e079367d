//! `kill -9` of virtkitd in the middle of an upload, a clone and a create
//! into a dir pool: started again on the same state, it lists the volume
//! whole (its size and bytes) or not at all, nothing half made is left in
//! the pool's directory, and no qemu-img it ran goes on writing there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Daemon;

/// What a volume being made is called until it is whole (crates/storage).
const TEMP_PREFIX: &str = ".virtkit-part.";
const MIB: usize = 1 << 20;

fn temp_files(dir: &Path) -> Vec<(String, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.starts_with(TEMP_PREFIX).then(|| (name, e.metadata().map_or(0, |m| m.blocks() * 512)))
        })
        .collect()
}

/// Waits until a volume is being made in `dir` with `bytes` allocated.
fn wait_for_temp(dir: &Path, bytes: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !temp_files(dir).iter().any(|(_, len)| *len >= bytes) {
        assert!(Instant::now() < deadline, "{what}: no temporary file of {bytes} bytes in {}", dir.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Processes whose command line names `dir` (a qemu-img left running).
fn processes_on(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap();
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()) && p != me))
        .filter_map(|e| {
            let cmd = String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).ok()?).replace('\0', " ");
            cmd.contains(dir).then_some(cmd)
        })
        .collect()
}

/// After a restart: no temporary file, nothing running on the pool, and
/// the volume `name` listed whole (these bytes) or not listed.
fn check_after_restart(d: &Daemon, dir: &Path, name: &str, whole: &[&[u8]], what: &str) -> bool {
    assert_eq!(temp_files(dir), Vec::<(String, u64)>::new(), "{what}: left after the restart");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_on(dir);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{what}: still running on the pool: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, out, err) = common::run(&d.uri("qemu"), "vol-list p");
    assert_eq!(code, 0, "{err}");
    let listed = out.lines().any(|l| l.split_whitespace().next() == Some(name));
    assert_eq!(listed, dir.join(name).exists(), "{what}: listed {listed}:\n{out}");
    if listed {
        let (code, info, err) = common::run(&d.uri("qemu"), &format!("vol-info {name} --pool p"));
        assert_eq!(code, 0, "{err}");
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert!(whole.iter().any(|w| bytes == *w), "{what}: {name} is listed but not whole ({} bytes)", bytes.len());
        let mib = format!("Capacity:       {}.00 MiB", bytes.len() / MIB);
        assert!(info.contains(&mib), "{what}: {info}");
    }
    listed
}

/// A `qemu-img` that runs the real one, then, for `create`, stays (as a
/// slow create would) until killed.
fn slow_qemu_img(dir: &Path) -> PathBuf {
    let real = ["/usr/bin/qemu-img", "/usr/local/bin/qemu-img"].into_iter().find(|p| Path::new(p).exists()).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("qemu-img");
    let script = format!(
        "#!/bin/sh\n{real} \"$@\" || exit $?\nif [ \"$1\" = create ]; then exec /bin/sh -c 'sleep 60' \"$@\"; fi\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.to_path_buf()
}

fn pattern(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13 ^ seed) as u8).collect()
}

#[test]
fn kill_9_mid_upload_clone_or_create_leaves_whole_volumes_or_none() {
    let bin = tempfile::tempdir().unwrap();
    let path = format!("PATH={}:{}", slow_qemu_img(bin.path()).display(), std::env::var("PATH").unwrap_or_default());
    let mut d = Daemon::start_wrapped(vec!["env".into(), path], &[]);
    let dir = d.root().join("images");
    let setup = format!(
        "pool-define-as p dir --target {}; pool-build p; pool-start p; vol-create-as p up.img 64M",
        dir.display()
    );
    let (code, _, err) = common::run(&d.uri("qemu"), &setup);
    assert_eq!(code, 0, "{err}");

    // An upload fed slowly from the client: a quarter of it, then the kill.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let uri = d.uri("qemu");
    let (tx, rx) = tokio::sync::mpsc::channel::<virtkit::Piece>(4);
    let upload = rt.spawn(async move {
        let conn = virtkit::Connection::open(&uri).await?;
        let v = conn.lookup_pool("p").await?.lookup_volume("up.img").await?;
        v.upload(Default::default(), rx).await
    });
    let data = pattern(64 * MIB, 1);
    for c in data.chunks(MIB).take(16) {
        tx.blocking_send(Ok(c.to_vec())).unwrap();
    }
    wait_for_temp(&dir, 8 * MIB as u64, "upload");
    d.kill9();
    assert!(rt.block_on(upload).unwrap().is_err(), "the upload was cut");
    drop(tx);
    d.spawn();
    let zeros = vec![0u8; 64 * MIB];
    assert!(check_after_restart(&d, &dir, "up.img", &[&zeros, &data], "upload"), "up.img was there before");

    // A clone of 512 MiB with data, killed while qemu-img convert writes it.
    let big = pattern(512 * MIB, 2);
    std::fs::write(dir.join("big.img"), &big).unwrap();
    let (code, _, err) = common::run(&d.uri("qemu"), "pool-refresh p");
    assert_eq!(code, 0, "{err}");
    let mut clone = std::process::Command::new(common::virtkit_bin())
        .args(["-c", &d.uri("qemu"), "vol-clone", "big.img", "copy.img", "--pool", "p"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_temp(&dir, 16 * MIB as u64, "clone");
    d.kill9();
    let _ = clone.wait();
    d.spawn();
    check_after_restart(&d, &dir, "copy.img", &[&big], "clone");

    // A create (qcow2, metadata preallocated: made by qemu-img), killed
    // while qemu-img has made the file and not yet ended.
    let mut create = std::process::Command::new(common::virtkit_bin())
        .args(["-c", &d.uri("qemu"), "vol-create-as", "p", "slow.qcow2", "512M", "--format", "qcow2"])
        .args(["--allocation", "1M"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_temp(&dir, 1, "create");
    std::thread::sleep(Duration::from_millis(100));
    d.kill9();
    let _ = create.wait();
    d.spawn();
    assert!(!check_after_restart(&d, &dir, "slow.qcow2", &[], "create"), "the create never ended");
}
