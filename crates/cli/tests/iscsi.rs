//! A guest on a LUN of an `iscsi-direct` pool, reached by QEMU's own
//! initiator: tgtd serves a file on 127.0.0.1 in a network namespace of
//! this test's own (the storage crate's test helper), the test guest boots
//! under TCG from `<disk type='volume'>` and writes its line to the LUN,
//! and the line is then in the file; and a guest on a dir pool's qcow2
//! over a LUN behind CHAP, which QEMU logs in to as a backing layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../storage/tests/common/tgt.rs"]
mod tgt;
#[path = "../../storage/tests/common/unshare.rs"]
mod unshare;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use virtkit::{Connection, PowerOffOptions, Secret, StartOptions, StoragePool};

/// How long a boot may take: TCG, with other tests booting beside it.
const BOOT: Duration = Duration::from_secs(120);
const NAME: &str = "a_guest_writes_to_a_lun_of_an_iscsi_direct_pool";
const CHAP_IQN: &str = "iqn.2026-12.org.example:chap";

/// Kills the guest's QEMU, whatever happens.
struct Guest(String);

impl Drop for Guest {
    fn drop(&mut self) {
        if let Some(pid) = common::qemu_of(&self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn domain_xml(uuid: &str, console: &Path) -> String {
    let g = common::guest_dir();
    format!(
        "<domain type='qemu'><name>g</name><uuid>{uuid}</uuid><memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{g}/vmlinuz</kernel><initrd>{g}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=0</cmdline></os>
  <devices>
    <serial type='file'><source path='{console}'/></serial>
    <memballoon model='none'/>
    <disk type='volume' device='disk'><source pool='p' volume='unit:0:0:1'/><target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>",
        g = g.display(),
        console = console.display()
    )
}

/// Waits for `marker` on the guest's console.
async fn wait_for(console: &Path, marker: &str) {
    let since = Instant::now();
    loop {
        let text = std::fs::read_to_string(console).unwrap_or_default();
        if text.contains(marker) {
            return;
        }
        assert!(since.elapsed() < BOOT, "{marker} not on the console:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Target CHAP_IQN (tid 2) of `tgtd`, its LUN 1 a 4 MiB file in `dir`
/// (returned), open to user `u` with password `secretpass12` only.
fn chap_target(dir: &Path) -> PathBuf {
    let lun = dir.join("chap1.img");
    std::fs::File::create(&lun).unwrap().set_len(4 << 20).unwrap();
    tgt::tgtadm(&["--op", "new", "--mode", "target", "--tid", "2", "-T", CHAP_IQN]);
    tgt::tgtadm(&["--op", "new", "--mode", "logicalunit", "--tid", "2", "--lun", "1", "-b", lun.to_str().unwrap()]);
    tgt::tgtadm(&["--op", "bind", "--mode", "target", "--tid", "2", "-I", "ALL"]);
    tgt::tgtadm(&["--op", "new", "--mode", "account", "--user", "u", "--password", "secretpass12"]);
    tgt::tgtadm(&["--op", "bind", "--mode", "account", "--tid", "2", "--user", "u"]);
    lun
}

/// The secret `tgt` with the CHAP password, and the running iscsi-direct
/// pool `pc` of CHAP_IQN that logs in with it.
async fn chap_pool(conn: &Connection) -> (Secret, StoragePool) {
    let secret = conn
        .define_secret_xml("<secret><usage type='iscsi'><target>tgt</target></usage></secret>", Default::default())
        .await
        .unwrap();
    secret.set_value(b"secretpass12", Default::default()).await.unwrap();
    let xml = format!(
        "<pool type='iscsi-direct'><name>pc</name><source><host name='127.0.0.1' port='{}'/>\
         <device path='{CHAP_IQN}'/><auth type='chap' username='u'><secret usage='tgt'/></auth>\
         <initiator><iqn name='{}'/></initiator></source></pool>",
        tgt::PORT,
        tgt::CLIENT
    );
    let pool = conn.define_pool_xml(&xml, Default::default()).await.unwrap();
    pool.start(Default::default()).await.unwrap();
    (secret, pool)
}

#[test]
fn a_guest_writes_to_a_lun_of_an_iscsi_direct_pool() {
    if !tgt::in_namespaces(NAME) {
        return;
    }
    let dir = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
    let tgtd = tgt::Tgtd::start();
    tgtd.add_lun(dir.path(), 1, 4 << 20);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let uri = format!("qemu:///embed?root={}", dir.path().join("root").display());
        let conn = Connection::open(&uri).await.unwrap();
        let pool = format!(
            "<pool type='iscsi-direct'><name>p</name><source><host name='127.0.0.1' port='{}'/>\
             <device path='{}'/><initiator><iqn name='{}'/></initiator></source></pool>",
            tgt::PORT,
            tgt::IQN,
            tgt::CLIENT
        );
        let pool = conn.define_pool_xml(&pool, Default::default()).await.unwrap();
        pool.start(Default::default()).await.unwrap();
        let uuid = uuid::Uuid::new_v4().to_string();
        let console = dir.path().join("g.console");
        let guest = Guest(uuid.clone());
        let dom = conn.define_xml(&domain_xml(&uuid, &console), Default::default()).await.unwrap();
        dom.start(StartOptions::default()).await.unwrap();
        wait_for(&console, "VIRTKIT-GUEST-DISK-WRITTEN").await;
        // The LUN is the running guest's disk: not to be wiped or written.
        let v = pool.lookup_volume("unit:0:0:1").await.unwrap();
        let err = v.wipe(Default::default()).await.unwrap_err();
        assert!(err.to_string().contains("it is in use by domain 'g'"), "{err}");
        let err = pool.stop(Default::default()).await.unwrap_err();
        assert!(err.to_string().contains("in use by domain 'g'"), "{err}");
        dom.power_off(PowerOffOptions::default()).await.unwrap();
        drop(guest);

        // A LUN behind CHAP: the pool logs in with its secret, and so does
        // QEMU for a guest on it (the value in a 0600 file of the guest's
        // runtime directory, never on its command line).
        let lun = chap_target(dir.path());
        let (secret, _chap_pool) = chap_pool(&conn).await;
        let uuid2 = uuid::Uuid::new_v4().to_string();
        let _guest2 = Guest(uuid2.clone());
        let xml =
            domain_xml(&uuid2, &console).replace("<name>g</name>", "<name>g2</name>").replace("pool='p'", "pool='pc'");
        let console2 = dir.path().join("g2.console");
        let xml = xml.replace(&console.display().to_string(), &console2.display().to_string());
        let dom2 = conn.define_xml(&xml, Default::default()).await.unwrap();
        dom2.start(StartOptions::default()).await.unwrap();
        let pid = common::qemu_of(&uuid2).expect("QEMU runs");
        let argv = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap()).replace('\0', " ");
        assert!(argv.contains("\"password-secret\":\"secret0\"") && !argv.contains("secretpass12"), "{argv}");
        let run = dir.path().join("root/run").join(&uuid2);
        assert!(!run.join("secret0").exists(), "the CHAP secret stayed in {}", run.display());
        wait_for(&console2, "VIRTKIT-GUEST-DISK-WRITTEN").await;
        dom2.power_off(PowerOffOptions::default()).await.unwrap();
        assert!(std::fs::read(&lun).unwrap().starts_with(b"VIRTKIT-DISK-WRITE "), "the line is not on the CHAP LUN");

        // Without the secret, the guest is refused, naming the disk.
        secret.undefine(Default::default()).await.unwrap();
        let err = dom2.start(StartOptions::default()).await.unwrap_err();
        assert!(err.to_string().contains("disk vda: no secret with usage 'tgt'"), "{err}");
        assert!(common::qemu_of(&uuid2).is_none());
    });
    let lun = std::fs::read(dir.path().join("lun1.img")).unwrap();
    assert!(lun.starts_with(b"VIRTKIT-DISK-WRITE "), "the guest's line is not on the LUN");
    drop(tgtd);
}

#[test]
fn a_guest_boots_on_a_qcow2_over_a_lun_behind_chap() {
    const NAME: &str = "a_guest_boots_on_a_qcow2_over_a_lun_behind_chap";
    if !tgt::in_namespaces(NAME) {
        return;
    }
    let dir = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
    let tgtd = tgt::Tgtd::start();
    let lun = chap_target(dir.path());
    let data = b"VIRTKIT-LUN-DATA-7f3a9c";
    std::fs::write(&lun, [&[0u8; 1 << 20][..], data, &vec![0u8; (3 << 20) - data.len()]].concat()).unwrap();
    // A qcow2 over the LUN, made behind virtkit's back and found by the
    // dir pool's start (qemu-img does not open the backing file here).
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let url = format!("iscsi://127.0.0.1:{}/{CHAP_IQN}/1", tgt::PORT);
    let top = images.join("top.qcow2");
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", &url])
        .arg(&top)
        .arg("4M")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let uri = format!("qemu:///embed?root={}", dir.path().join("root").display());
        let conn = Connection::open(&uri).await.unwrap();
        let (_secret, chap) = chap_pool(&conn).await;
        let xml = format!("<pool type='dir'><name>p</name><target><path>{}</path></target></pool>", images.display());
        let pool = conn.define_pool_xml(&xml, Default::default()).await.unwrap();
        pool.start(Default::default()).await.unwrap();
        let uuid = uuid::Uuid::new_v4().to_string();
        let _guest = Guest(uuid.clone());
        let console = dir.path().join("g.console");
        // The guest reads 1 MiB in, where the overlay has nothing of its own.
        let read = common::base64(
            "echo \"VIRTKIT-READ $(dd if=/dev/vda bs=1048576 skip=1 count=1 2>/dev/null | head -c 23)\" > /dev/ttyS0\n",
        );
        let xml = domain_xml(&uuid, &console)
            .replace("volume='unit:0:0:1'", "volume='top.qcow2'")
            .replace("panic=0", &format!("panic=0 virtkit.run={read}"));
        let dom = conn.define_xml(&xml, Default::default()).await.unwrap();
        dom.start(StartOptions::default()).await.unwrap();
        let pid = common::qemu_of(&uuid).expect("QEMU runs");
        let argv = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap()).replace('\0', " ");
        assert!(
            argv.contains("\"node-name\":\"drive-vda-b1-storage\",\"password-secret\":\"secret0\"")
                && !argv.contains("secretpass12"),
            "{argv}"
        );
        wait_for(&console, "VIRTKIT-GUEST-DISK-WRITTEN").await;
        wait_for(&console, &format!("VIRTKIT-READ {}", std::str::from_utf8(data).unwrap())).await;
        // The LUN is a layer of the running guest's disk.
        let err = chap.lookup_volume("unit:0:0:1").await.unwrap().wipe(Default::default()).await.unwrap_err();
        assert!(err.to_string().contains("it is in use by domain 'g'"), "{err}");
        dom.power_off(PowerOffOptions::default()).await.unwrap();
    });
    // The guest's line went to the overlay; the LUN is as it was.
    let lun = std::fs::read(&lun).unwrap();
    assert!(lun[..1 << 20].iter().all(|b| *b == 0) && lun[1 << 20..].starts_with(data), "the LUN changed");
    let top = std::fs::read(&top).unwrap();
    assert!(top.windows(19).any(|w| w == b"VIRTKIT-DISK-WRITE "), "the guest's line is not in the overlay");
    drop(tgtd);
}
