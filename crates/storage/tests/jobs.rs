//! Long volume jobs on the real host: progress, cancel, failure; none of
//! them leaves a volume (or a part of one) behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::sync::mpsc;
use virtkit_engine::options::{TransferOptions, VolumeCreateOptions};
use virtkit_engine::types::ObjectKind;
use virtkit_engine::{ErrorKind, Source};
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
    let job =
        tokio::spawn(async move { e2.upload_volume(v.uuid, TransferOptions::default(), Source::Pieces(rx)).await });
    tx.send(Ok(vec![7; 1000])).await.unwrap();
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

#[tokio::test]
async fn a_broken_upload_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let v = e.create_volume(p, vol(SRC), Default::default()).await.unwrap();
    let before = pattern(4 << 20, 12);
    upload(&e, &v, &before).await.unwrap();
    let (tx, rx) = mpsc::channel(4);
    tx.send(Ok(vec![7; 1 << 20])).await.unwrap();
    tx.send(Err(virtkit_engine::Error::new(ErrorKind::Io, "the client's read failed"))).await.unwrap();
    drop(tx);
    let err = e.upload_volume(v.uuid, TransferOptions::default(), Source::Pieces(rx)).await.unwrap_err();
    assert_eq!((err.kind(), err.message()), (ErrorKind::Io, "the client's read failed"));
    assert!(std::fs::read(dir.join("src.img")).unwrap() == before);
    assert_eq!(listing(&dir), ["src.img"]);
}

#[tokio::test]
async fn handed_files_are_copied_whole_and_in_part() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    let v = e.create_volume(p, vol(SRC), Default::default()).await.unwrap();
    let data = pattern(3 << 20, 13);
    let input = tmp.path().join("in");
    std::fs::write(&input, &data).unwrap();
    let source = || Source::file(std::fs::File::open(&input).unwrap()).unwrap();
    let after = e.upload_volume(v.uuid, TransferOptions::default(), source()).await.unwrap();
    assert_eq!(after.capacity, 4 << 20, "a shorter file leaves the volume as long as it was");
    let on_disk = std::fs::read(dir.join("src.img")).unwrap();
    assert!(on_disk[..data.len()] == data[..] && on_disk[data.len()..].iter().all(|b| *b == 0));

    // From an offset, at most a length: the rest of the volume stays.
    let opts = TransferOptions::default().offset(1 << 20).length(4096);
    e.upload_volume(v.uuid, opts, source()).await.unwrap();
    let on_disk = std::fs::read(dir.join("src.img")).unwrap();
    assert!(on_disk[(1 << 20)..(1 << 20) + 4096] == data[..4096]);
    assert!(on_disk[..1 << 20] == data[..1 << 20] && on_disk[(1 << 20) + 4096..data.len()] == data[(1 << 20) + 4096..]);

    // Too long for the volume: refused before a byte is written.
    let err = e.upload_volume(v.uuid, TransferOptions::default().offset(2 << 20), source()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(std::fs::read(dir.join("src.img")).unwrap() == on_disk);

    // Downloads into a file: all of it, and a range.
    let out = tmp.path().join("out");
    let sink = || virtkit_engine::Sink::file(std::fs::File::create(&out).unwrap()).unwrap();
    assert_eq!(e.download_volume(v.uuid, TransferOptions::default(), sink()).await.unwrap(), 4 << 20);
    assert!(std::fs::read(&out).unwrap() == on_disk);
    let n = e.download_volume(v.uuid, TransferOptions::default().offset(4096).length(8192), sink()).await.unwrap();
    assert_eq!(n, 8192);
    assert!(std::fs::read(&out).unwrap() == on_disk[4096..4096 + 8192]);
    assert_eq!(listing(&dir), ["src.img"]);
}
