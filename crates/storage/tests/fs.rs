//! fs pools on sparse images in a temporary directory: on a loop device
//! (attached here, detached at the end whatever happens) and on an image
//! file that mount(8) attaches itself. Every test runs itself again in a
//! mount namespace of its own (`unshare -m`), so no mount it makes is seen
//! by the host, and all are gone when it ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use virtkit_engine::options::BuildOptions;
use virtkit_engine::types::{ObjectKind, ResourceState};
use virtkit_engine::{Drivers, Engine, EngineConfig, ErrorKind};
use virtkit_storage::LinuxStorageDriver;

const INNER: &str = "VIRTKIT_STORAGE_FS_IN_MOUNT_NS";

/// Runs the test `name` again in a mount namespace of its own (its
/// mount(8) bookkeeping in a file of its own too); true in that run.
fn in_own_mount_ns(name: &str) -> bool {
    common::unshare::again(name, &["-m"], INNER)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A loop device on a file, detached when dropped (a mounted one as soon
/// as it is unmounted, which the end of the namespace does).
struct Loop(String);

impl Loop {
    fn attach(file: &Path) -> Loop {
        let out = Command::new("losetup").args(["-f", "--show"]).arg(file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Loop(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

fn sparse(path: &Path, bytes: u64) {
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

/// The (source, type) of every mount at `point`, from mountinfo.
fn mounts_at(point: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let mut tail = tail.split(' ');
            let (fstype, source) = (tail.next()?, tail.next()?);
            (head.split(' ').nth(4)? == point.to_str()?).then(|| (source.to_owned(), fstype.to_owned()))
        })
        .collect()
}

/// What blkid reads of `dev`: a tag of its file system.
fn blkid(dev: &str, tag: &str) -> String {
    let out = Command::new("blkid").args(["-p", "-o", "value", "-s", tag, dev]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn fs_pool(name: &str, dev: &str, format: &str, target: &Path) -> String {
    format!(
        "<pool type='fs'><name>{name}</name><source><device path='{dev}'/><format type='{format}'/></source>\
         <target><path>{}</path><permissions><mode>0750</mode></permissions></target></pool>",
        target.display()
    )
}

fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn an_ext4_pool_on_a_loop_device_is_built_mounted_and_unmounted() {
    if in_own_mount_ns("an_ext4_pool_on_a_loop_device_is_built_mounted_and_unmounted") {
        let tmp = tempfile::tempdir().unwrap();
        runtime().block_on(ext4_on_a_loop_device(tmp.path()));
    }
}

async fn ext4_on_a_loop_device(root: &Path) {
    let img = root.join("disk.img");
    sparse(&img, 64 * MIB);
    let lo = Loop::attach(&img);
    let target = root.join("pool");
    let e = engine();
    let p = define(&e, &fs_pool("p", &lo.0, "ext4", &target)).await.unwrap();
    let err = e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("build the pool first"), "{err}");
    assert!(mounts_at(&target).is_empty());

    e.build_pool(p, BuildOptions::default()).await.unwrap();
    assert_eq!(blkid(&lo.0, "TYPE"), "ext4");
    assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777, 0o750);
    let first = blkid(&lo.0, "UUID");
    for mode in [BuildOptions::default(), BuildOptions::default().no_overwrite(true)] {
        let err = e.build_pool(p, mode).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        assert!(err.message().contains("holds a file system already (ext4)"), "{err}");
    }
    assert_eq!(blkid(&lo.0, "UUID"), first);
    e.build_pool(p, BuildOptions::default().overwrite(true)).await.unwrap();
    assert_ne!(blkid(&lo.0, "UUID"), first);

    e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    assert_eq!(mounts_at(&target), [(lo.0.clone(), "ext4".to_owned())]);
    let info = pool_info(&e, p).await;
    let st = nix::sys::statvfs::statvfs(&target).unwrap();
    assert_eq!(info.capacity, st.blocks() as u64 * st.fragment_size() as u64);
    assert!(info.capacity < 64 * MIB && info.available > 0, "{info:?}");
    for xml in [
        "<volume><name>a.img</name><capacity unit='MiB'>4</capacity></volume>",
        "<volume><name>b.qcow2</name><capacity unit='MiB'>8</capacity><target><format type='qcow2'/></target></volume>",
    ] {
        e.create_volume(p, vol(xml), Default::default()).await.unwrap();
    }
    // lost+found is the file system's, not a volume.
    assert_eq!(listing(&target), ["a.img", "b.qcow2", "lost+found"]);
    assert_eq!(pool_info(&e, p).await.volumes, 2);

    // Busy: refused with umount's reason, and still mounted and active.
    let held = std::fs::File::open(target.join("a.img")).unwrap();
    let err = e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    assert!(err.message().contains("target is busy"), "{err}");
    assert_eq!(mounts_at(&target).len(), 1);
    assert_eq!(pool_info(&e, p).await.state, ResourceState::Active);
    drop(held);
    e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    assert!(mounts_at(&target).is_empty());
    assert!(listing(&target).is_empty());

    e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    let a = e.lookup_volume(p, "a.img").unwrap();
    assert_eq!((a.capacity, a.path.as_deref()), (4 * MIB, target.join("a.img").to_str()));
    assert_eq!(e.lookup_volume(p, "b.qcow2").unwrap().format.as_deref(), Some("qcow2"));
    e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();

    // Delete removes the directory, never while something is mounted there.
    sh("mount", &[&lo.0, target.to_str().unwrap()]);
    let err = e.delete_pool(p, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    assert!(err.message().contains("unmount it first"), "{err}");
    sh("umount", &[target.to_str().unwrap()]);
    e.delete_pool(p, Default::default()).await.unwrap();
    assert!(!target.exists());
    assert_eq!(blkid(&lo.0, "TYPE"), "ext4");
}

async fn open_engine(state: &Path) -> Engine {
    let domains = virtkit_driver_test::TestDriver::new(virtkit_driver_test::TestHost::default());
    let drivers = Drivers::new(Arc::new(domains)).with_storage_driver(Arc::new(LinuxStorageDriver::new()));
    let mut config = EngineConfig::default();
    config.state_dir = Some(state.to_path_buf());
    config.lock_wait = std::time::Duration::from_secs(10);
    Engine::open_host(drivers, config).await.unwrap()
}

/// The loop devices attached to `file`.
fn loops_of(file: &Path) -> String {
    let out = Command::new("losetup").arg("-j").arg(file).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_xfs_pool_on_an_image_file_is_taken_over_by_the_next_engine() {
    if in_own_mount_ns("an_xfs_pool_on_an_image_file_is_taken_over_by_the_next_engine") {
        let tmp = tempfile::tempdir().unwrap();
        runtime().block_on(xfs_on_an_image_file(tmp.path()));
    }
}

async fn xfs_on_an_image_file(root: &Path) {
    // mkfs.xfs makes nothing under 300 MB.
    let img = root.join("xfs.img");
    sparse(&img, 320 * MIB);
    let target = root.join("x");
    let state = root.join("state");
    let e = open_engine(&state).await;
    let p = define(&e, &fs_pool("x", img.to_str().unwrap(), "xfs", &target)).await.unwrap();
    e.build_pool(p, BuildOptions::default()).await.unwrap();
    assert_eq!(blkid(img.to_str().unwrap(), "TYPE"), "xfs");
    let err = e.build_pool(p, BuildOptions::default()).await.unwrap_err();
    assert!(err.message().contains("holds a file system already (xfs)"), "{err}");
    e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    let m = mounts_at(&target);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].1, "xfs");
    assert!(loops_of(&img).contains(&m[0].0), "{m:?}: {}", loops_of(&img));
    e.create_volume(p, vol("<volume><name>v.img</name><capacity unit='MiB'>1</capacity></volume>"), Default::default())
        .await
        .unwrap();

    // An engine gone without stopping the pool: the next one finds it
    // mounted (through the loop device's backing file) and mounts nothing.
    drop(e);
    let e = open_engine(&state).await;
    let info = pool_info(&e, p).await;
    assert_eq!((info.state, info.volumes), (ResourceState::Active, 1), "{info:?}");
    assert_eq!(mounts_at(&target), m);
    e.refresh_pool(p, Default::default()).await.unwrap();

    // Unmounted behind its back: refresh says so; the next engine mounts it.
    sh("umount", &[target.to_str().unwrap()]);
    let err = e.refresh_pool(p, Default::default()).await.unwrap_err();
    assert!(err.message().contains("is not mounted at"), "{err}");
    drop(e);
    let e = open_engine(&state).await;
    assert_eq!(pool_info(&e, p).await.state, ResourceState::Active);
    assert_eq!(mounts_at(&target).len(), 1);
    assert!(e.lookup_volume(p, "v.img").is_ok());

    // Stopped, nothing is mounted and mount's loop device is gone.
    e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    assert!(mounts_at(&target).is_empty());
    assert_eq!(loops_of(&img), "");
}

#[test]
fn what_cannot_be_mounted_or_made_is_refused_and_nothing_is_mounted() {
    if in_own_mount_ns("what_cannot_be_mounted_or_made_is_refused_and_nothing_is_mounted") {
        let tmp = tempfile::tempdir().unwrap();
        runtime().block_on(refusals(tmp.path()));
    }
}

async fn refusals(root: &Path) {
    let e = engine();
    let target = root.join("t");
    std::fs::create_dir(&target).unwrap();
    let gone: PathBuf = root.join("no-such.img");
    let p = define(&e, &fs_pool("gone", gone.to_str().unwrap(), "ext4", &target)).await.unwrap();
    for err in [
        e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap_err(),
        e.build_pool(p, BuildOptions::default()).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert_eq!(err.message(), format!("device {} does not exist", gone.display()));
    }
    assert!(mounts_at(&target).is_empty());

    // A format no mkfs here makes is named, and the device is untouched.
    let img = root.join("d.img");
    sparse(&img, 16 * MIB);
    for format in ["auto", "vfat"] {
        let xml = fs_pool(format, img.to_str().unwrap(), format, &root.join(format));
        let q = define(&e, &xml).await.unwrap();
        let err = e.build_pool(q, BuildOptions::default()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert_eq!(err.message(), format!("cannot make a file system of format {format}"));
        // Nothing on it: mount finds nothing to mount, and nothing is left.
        std::fs::create_dir(root.join(format)).unwrap();
        let err = e.start_object(ObjectKind::Pool, q, Default::default()).await.unwrap_err();
        assert!(err.message().contains("mount failed"), "{err}");
        assert!(mounts_at(&root.join(format)).is_empty());
    }
    assert_eq!(blkid(img.to_str().unwrap(), "TYPE"), "");
    assert_eq!(loops_of(&img), "");

    // Another file system at the target: refused, and left as it is.
    sh("mkfs.ext4", &["-q", img.to_str().unwrap()]);
    sh("mount", &["-t", "tmpfs", "tmpfs", target.to_str().unwrap()]);
    e.undefine_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    let q = define(&e, &fs_pool("q", img.to_str().unwrap(), "ext4", &target)).await.unwrap();
    let err = e.start_object(ObjectKind::Pool, q, Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    assert!(err.message().starts_with("tmpfs is mounted at"), "{err}");
    assert_eq!(mounts_at(&target), [("tmpfs".to_owned(), "tmpfs".to_owned())]);
}
