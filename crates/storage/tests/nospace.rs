//! A full file system: the pool is a tmpfs of 8 MiB, mounted in a mount
//! namespace of this test's own (the test runs itself again under
//! `unshare -m`); volumes that do not fit are refused and leave nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use virtkit_engine::ErrorKind;

const INNER: &str = "VIRTKIT_STORAGE_IN_MOUNT_NS";

#[test]
fn a_full_file_system_refuses_volumes_and_leaves_nothing() {
    if !common::unshare::again("a_full_file_system_refuses_volumes_and_leaves_nothing", &["-m"], INNER) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8M", "tmpfs"])
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(full(tmp.path()));
}

async fn full(root: &std::path::Path) {
    let dir = root.join("p");
    let e = engine();
    let p = dir_pool(&e, "p", &dir).await;
    for xml in [
        "<volume><name>big.img</name><capacity unit='MiB'>16</capacity><allocation unit='MiB'>16</allocation></volume>",
        "<volume><name>big.qcow2</name><capacity unit='MiB'>16</capacity><allocation unit='MiB'>16</allocation>\
         <target><format type='qcow2'/></target></volume>",
    ] {
        let err = e.create_volume(p, vol(xml), Default::default()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
        assert!(err.message().contains("does not fit in"), "{err}");
        assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
    }
    // An upload that does not fit leaves the volume as it was.
    let v = e
        .create_volume(
            p,
            vol("<volume><name>s.img</name><capacity unit='MiB'>2</capacity></volume>"),
            Default::default(),
        )
        .await
        .unwrap();
    let before = pattern(2 << 20, 5);
    upload(&e, &v, &before).await.unwrap();
    let err = upload(&e, &v, &pattern(12 << 20, 9)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
    assert!(std::fs::read(dir.join("s.img")).unwrap() == before);
    assert_eq!(listing(&dir), ["s.img"]);
    let info = pool_info(&e, p).await;
    assert_eq!(info.capacity, 8 * MIB);
}
