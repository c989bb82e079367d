//! `iscsi-direct` pools against a real iSCSI target: Debian's tgtd, on
//! 127.0.0.1 in a network namespace of this test's own (the test runs
//! itself again under `unshare -n -m`, with a tmpfs over /run for tgtd's
//! control socket), its LUNs backed by files in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use virtkit_engine::types::{ObjectKind, ResourceState};
use virtkit_engine::{Engine, ErrorKind};

const INNER: &str = "VIRTKIT_STORAGE_IN_NET_NS";
const IQN: &str = "iqn.2026-12.org.example:t1";
const CLIENT: &str = "iqn.2026-12.org.example:client";
const PORT: u16 = 3260;

/// Runs `name` again in a network and mount namespace of its own; true
/// when this is that run.
fn in_namespaces(name: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        return true;
    }
    let out = Command::new("unshare")
        .args(["-n", "-m", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(INNER, "1")
        .output()
        .unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    false
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn tgtadm(args: &[&str]) {
    let mut all = vec!["--lld", "iscsi"];
    all.extend_from_slice(args);
    run("tgtadm", &all);
}

/// tgtd, killed when dropped.
struct Tgtd(Child);

impl Tgtd {
    /// Brings up `lo`, hides the host's /run and starts tgtd on
    /// 127.0.0.1:PORT with target IQN (tid 1), open to every initiator.
    fn start() -> Tgtd {
        run("ip", &["link", "set", "lo", "up"]);
        run("mount", &["-t", "tmpfs", "tmpfs", "/run"]);
        let child = Command::new("tgtd")
            .args(["-f", "--iscsi", &format!("portal=127.0.0.1:{PORT}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Tgtd(child);
        let since = Instant::now();
        while !Command::new("tgtadm")
            .args(["--lld", "iscsi", "--op", "show", "--mode", "target"])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(since.elapsed() < Duration::from_secs(10), "tgtd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        tgtadm(&["--op", "new", "--mode", "target", "--tid", "1", "-T", IQN]);
        tgtadm(&["--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"]);
        t
    }

    /// Adds LUN `lun` backed by a new file of `bytes` in `dir`.
    fn add_lun(&self, dir: &Path, lun: u32, bytes: u64) {
        let file = dir.join(format!("lun{lun}.img"));
        std::fs::File::create(&file).unwrap().set_len(bytes).unwrap();
        let lun = lun.to_string();
        tgtadm(&["--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", &lun, "-b", file.to_str().unwrap()]);
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
        e.stop_object(ObjectKind::Pool, p, Default::default()).await.unwrap();

        // A target the portal does not have, a portal that is not there,
        // CHAP: refused, named, and the pool stays inactive.
        let wrong = "iqn.2026-12.org.example:nosuch";
        let err = refused(&e, &pool_xml("q", wrong, PORT, "")).await;
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.message().contains(wrong) && err.message().contains(IQN), "{err}");
        let err = refused(&e, &pool_xml("r", IQN, PORT + 1, "")).await;
        assert!(err.message().contains(&format!("cannot reach the iscsi portal 127.0.0.1:{}", PORT + 1)), "{err}");
        let chap = "<auth type='chap' username='u'><secret usage='x'/></auth>";
        let err = refused(&e, &pool_xml("s", IQN, PORT, chap)).await;
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.message().contains("CHAP needs a secret store"), "{err}");
    });
    drop(tgtd);
}
