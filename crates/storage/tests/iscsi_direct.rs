//! `iscsi-direct` pools against a real iSCSI target: Debian's tgtd, on
//! 127.0.0.1 in a network namespace of this test's own
//! ([`common::tgt`]), its LUNs backed by files in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tgt::*;
use common::*;
use virtkit_engine::types::{ObjectKind, ResourceState};
use virtkit_engine::{Def, Engine, ErrorKind};
use virtkit_model::secret::{Secret, SecretUsage};

fn pool_xml(name: &str, iqn: &str, port: u16, auth: &str) -> String {
    format!(
        "<pool type='iscsi-direct'><name>{name}</name><source><host name='127.0.0.1' port='{port}'/>\
         <device path='{iqn}'/>{auth}<initiator><iqn name='{CLIENT}'/></initiator></source></pool>"
    )
}

/// Defines a pool and starts it: the error, and the pool left inactive.
async fn refused(e: &Engine, xml: &str) -> virtkit_engine::Error {
    let p = define(e, xml).await.unwrap();
    let err = e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap_err();
    let info = pool_info(e, p).await;
    assert_eq!((info.state, info.volumes), (ResourceState::Inactive, 0), "{info:?}");
    err
}

#[test]
fn an_iscsi_direct_pool_lists_the_luns_of_its_target() {
    if !in_namespaces("an_iscsi_direct_pool_lists_the_luns_of_its_target") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tgtd = Tgtd::start();
    tgtd.add_lun(tmp.path(), 1, 8 * MIB);
    tgtd.add_lun(tmp.path(), 2, 20 * MIB);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let e = engine();
        assert!(e.pool_types().contains(&virtkit_model::storage::PoolType::IscsiDirect));
        // Another target of the portal, one that wants CHAP, is no matter.
        let chap_iqn = "iqn.2026-12.org.example:chap";
        tgtadm(&["--op", "new", "--mode", "target", "--tid", "2", "-T", chap_iqn]);
        tgtadm(&["--op", "bind", "--mode", "target", "--tid", "2", "-I", "ALL"]);
        tgtadm(&["--op", "new", "--mode", "account", "--user", "u", "--password", "secretpass12"]);
        tgtadm(&["--op", "bind", "--mode", "account", "--tid", "2", "--user", "u"]);
        let p = define(&e, &pool_xml("p", IQN, PORT, "")).await.unwrap();
        e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
        let info = pool_info(&e, p).await;
        // The target's controller (LUN 0) is not a volume.
        assert_eq!((info.volumes, info.capacity, info.allocation), (2, 28 * MIB, 28 * MIB), "{info:?}");
        for (lun, size) in [(1, 8 * MIB), (2, 20 * MIB)] {
            let v = e.lookup_volume(p, &format!("unit:0:0:{lun}")).unwrap();
            assert_eq!(v.path.as_deref(), Some(format!("iscsi://127.0.0.1:{PORT}/{IQN}/{lun}").as_str()));
            assert_eq!((v.capacity, v.allocation), (size, size));
            assert_eq!((v.volume_type.as_deref(), v.format.as_deref()), (Some("network"), Some("raw")));
            assert_eq!(v.key, format!("ip-127.0.0.1:{PORT}-iscsi-{IQN}-lun-{lun}"));
        }

        // A LUN added on the target is found by a refresh.
        tgtd.add_lun(tmp.path(), 3, 12 * MIB);
        e.refresh_pool(p, Default::default()).await.unwrap();
        assert_eq!(pool_info(&e, p).await.volumes, 3);
        assert_eq!(e.lookup_volume(p, "unit:0:0:3").unwrap().capacity, 12 * MIB);

        // LUNs are made on the target, not by the pool.
        let err = e
            .create_volume(p, vol("<volume><name>new</name><capacity>1048576</capacity></volume>"), Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.message().contains("made on the iscsi target"), "{err}");
        let v = e.lookup_volume(p, "unit:0:0:1").unwrap();
        let err = e.delete_volume(v.uuid, Default::default()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert_eq!(pool_info(&e, p).await.volumes, 3);

        // A wipe zeroes the whole LUN, through QEMU's initiator.
        let lun1 = tmp.path().join("lun1.img");
        std::fs::write(&lun1, pattern(8 * MIB as usize, 3)).unwrap();
        e.wipe_volume(v.uuid, Default::default()).await.unwrap();
        let bytes = std::fs::read(&lun1).unwrap();
        assert!(bytes.len() == 8 * MIB as usize && bytes.iter().all(|b| *b == 0), "LUN 1 was not zeroed");

        // Bytes go in and out through QEMU's initiator (qemu-nbd); the LUN
        // is written in place.
        let v2 = e.lookup_volume(p, "unit:0:0:2").unwrap();
        let data = pattern(3 * MIB as usize, 7);
        upload(&e, &v2, &data).await.unwrap();
        let lun2 = std::fs::read(tmp.path().join("lun2.img")).unwrap();
        assert!(lun2[..data.len()] == data[..], "the upload is not on LUN 2");
        assert!(lun2.len() == 20 * MIB as usize && lun2[data.len()..].iter().all(|b| *b == 0));
        assert!(download(&e, &v2).await == lun2, "the download is not LUN 2");
        let err = upload(&e, &v2, &pattern(21 * MIB as usize, 1)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
        assert!(err.message().contains("does not fit in LUN 2"), "{err}");
        e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();

        // A target the portal does not have, a portal that is not there, a
        // target that wants CHAP: refused, named, and the pool stays inactive.
        let wrong = "iqn.2026-12.org.example:nosuch";
        let err = refused(&e, &pool_xml("q", wrong, PORT, "")).await;
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.message().contains(wrong) && err.message().contains("127.0.0.1:3260"), "{err}");
        let err = refused(&e, &pool_xml("r", IQN, PORT + 1, "")).await;
        assert!(err.message().contains(&format!("cannot reach the iscsi portal 127.0.0.1:{}", PORT + 1)), "{err}");
        let err = refused(&e, &pool_xml("t", chap_iqn, PORT, "")).await;
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.message().contains("wants authentication"), "{err}");

        // CHAP logs in with the value of the secret the document names.
        let chap_lun = tmp.path().join("chap1.img");
        std::fs::write(&chap_lun, pattern(4 * MIB as usize, 5)).unwrap();
        let lun = chap_lun.to_str().unwrap();
        tgtadm(&["--op", "new", "--mode", "logicalunit", "--tid", "2", "--lun", "1", "-b", lun]);
        let chap = "<auth type='chap' username='u'><secret usage='tgt-chap'/></auth>";
        let err = refused(&e, &pool_xml("s1", chap_iqn, PORT, chap)).await;
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.message().contains("storage pool 's1' logs in with the secret of usage 'tgt-chap'"), "{err}");
        let secret = Secret::new().with_usage(SecretUsage::Iscsi("tgt-chap".into()));
        let su = secret.uuid;
        e.define_object(Def::Secret(Box::new(secret)), Default::default()).await.unwrap();
        e.set_secret_value(su, b"not-the-password".to_vec(), Default::default()).await.unwrap();
        let err = refused(&e, &pool_xml("s2", chap_iqn, PORT, chap)).await;
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.message().contains("refused the CHAP login of user 'u'"), "{err}");
        e.set_secret_value(su, b"secretpass12".to_vec(), Default::default()).await.unwrap();
        let p = define(&e, &pool_xml("s3", chap_iqn, PORT, chap)).await.unwrap();
        e.start_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
        let v = e.lookup_volume(p, "unit:0:0:1").unwrap();
        assert_eq!(v.capacity, 4 * MIB);
        // qemu-nbd and qemu-io log in with it too (given by a file).
        assert!(download(&e, &v).await == std::fs::read(&chap_lun).unwrap(), "the download is not the CHAP LUN");
        e.wipe_volume(v.uuid, Default::default()).await.unwrap();
        assert!(std::fs::read(&chap_lun).unwrap().iter().all(|b| *b == 0), "the CHAP LUN was not zeroed");
        e.refresh_pool(p, Default::default()).await.unwrap();
        e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();
    });
    drop(tgtd);
}
