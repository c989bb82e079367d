//! Long volume jobs on the real host: progress, cancel, failure; none of
//! them leaves a volume (or a part of one) behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::sync::mpsc;
use virtkit_engine::ErrorKind;
use virtkit_engine::options::{TransferOptions, VolumeCreateOptions};
use virtkit_engine::types::ObjectKind;
use virtkit_storage::LinuxStorageDriver;

const SRC: &str = "<volume><name>src.img</name><capacity unit='MiB'>4</capacity></volume>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_clone_leaves_no_volume() {
    let tmp = tempfile::tempdir().unwrap();
    // qemu-img convert reports some progress, then hangs until killed.
    let started = tmp.path().join("started");
    let fake =
        fake_qemu_img(tmp.path(), &format!("printf '    (25.00/100%%)\\r'\n: > {}\nexec sleep 60", started.display()));
    let dir = tmp.path().join("p");
    let e = engine_with(LinuxStorageDriver::new().with_qemu_img(fake));
    let p = dir_pool(&e, "p", &dir).await;
    let src = e.create_volume(p, vol(SRC), Default::default()).await.unwrap();
    let e2 = e.clone();
    let job = tokio::spawn(async move { e2.clone_volume(src.uuid, "copy.img", Default::default()).await });
    // A volume being made is not listed; its UUID follows from its name.
    let uuid = uuid::Uuid::new_v5(&p, b"copy.img");
    for _ in 0..500 {
        if started.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(started.exists(), "qemu-img convert did not start");
    assert!(e.lookup_volume(p, "copy.img").is_err());
    assert!(e.cancel_job(ObjectKind::Volume, uuid).unwrap());
    let err = tokio::time::timeout(Duration::from_secs(10), job).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(e.lookup_volume(p, "copy.img").is_err());
    assert_eq!(listing(&dir), ["src.img"]);
    e.refresh_pool(p, Default::default()).await.unwrap();
    assert_eq!(pool_info(&e, p).await.volumes, 1);
}

#[tokio::test]
async fn a_failed_copy_leaves_no_volume() {
    let tmp = tempfile::tempdir().unwrap();
    // qemu-img convert writes half a file, then fails.
    let fake = fake_qemu_img(
        tmp.path(),
        "for last; do :; done\nhead -c 4096 /dev/zero > \"$last\"\necho 'error while writing sector 8: No space left on device' >&2\nexit 1",
    );
    let dir = tmp.path().join("p");
    let e = engine_with(LinuxStorageDriver::new().with_qemu_img(fake));
    let p = dir_pool(&e, "p", &dir).await;
    let src = e.create_volume(p, vol(SRC), Default::default()).await.unwrap();
    let err = e
        .create_volume(
            p,
            vol("<volume><name>c.qcow2</name><target><format type='qcow2'/></target></volume>"),
            VolumeCreateOptions::default().from(src.uuid),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
    assert!(err.message().contains("qemu-img convert failed"), "{err}");
    assert!(e.lookup_volume(p, "c.qcow2").is_err());
    assert_eq!(listing(&dir), ["src.img"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let v = e.create_volume(p, vol(SRC), Default::default()).await.unwrap();
    let before = pattern(4 << 20, 11);
    upload(&e, &v, &before).await.unwrap();
    let (tx, rx) = mpsc::channel(4);
    let e2 = e.clone();
    let job = tokio::spawn(async move { e2.upload_volume(v.uuid, TransferOptions::default(), rx).await });
    tx.send(vec![7; 1000]).await.unwrap();
    for _ in 0..500 {
        if e.lookup_volume(p, "src.img").unwrap().job.is_some_and(|j| j.done == 1000) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(e.cancel_job(ObjectKind::Volume, v.uuid).unwrap());
    let err = job.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(std::fs::read(dir.join("src.img")).unwrap() == before);
    assert_eq!(listing(&dir), ["src.img"]);
}
