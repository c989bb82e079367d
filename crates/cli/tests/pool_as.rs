//! `pool-define-as`, `pool-create-as` and `vol-create-as` as virsh takes
//! them: the positional and the option forms give the documents libvirt
//! 9.0 writes for the same arguments; what a pool type does not take is
//! refused by the model's check, with nothing defined.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use assert_cmd::Command;
use virtkit::model::storage::Pool;

const T: &str = "test:///default";

fn vk() -> Command {
    let mut c = Command::cargo_bin("virtkit").unwrap();
    c.env_remove("VIRTKIT_DEFAULT_URI");
    c
}

/// Runs commands on `uri`: (success, stdout, stderr).
fn run(uri: &str, cmds: &str) -> (bool, String, String) {
    let out = vk().args(["-c", uri, cmds]).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Runs lines in the shell on test:///default (it goes on after a failure).
fn shell(script: &str) -> (String, String) {
    let out = vk().args(["-c", T, "shell"]).write_stdin(script).output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// `pool-dumpxml` of libvirt 9.0's test driver after `virsh pool-define-as`
/// with the same arguments (its runtime sizes and UUID left out).
const LIBVIRT: &[(&str, &str)] = &[
    (
        "lun",
        "<pool type='iscsi-direct'><name>lun</name><source><host name='192.0.2.10'/>\
         <device path='iqn.2024-01.com.example:store'/>\
         <initiator><iqn name='iqn.2024-01.com.example:client'/></initiator></source></pool>",
    ),
    (
        "nfs",
        "<pool type='netfs'><name>nfs</name><source><host name='nas.example.com'/>\
         <dir path='/export/images'/><format type='nfs'/><protocol ver='4'/></source>\
         <target><path>/mnt/nfs</path></target></pool>",
    ),
    (
        "data",
        "<pool type='fs'><name>data</name><source><device path='/dev/sdb1'/><format type='ext4'/></source>\
         <target><path>/mnt/data</path></target></pool>",
    ),
    (
        "vg0",
        "<pool type='logical'><name>vg0</name><source><device path='/dev/sdb'/><name>vg0</name>\
         <format type='lvm2'/></source><target><path>/dev/vg0</path></target></pool>",
    ),
];

/// Each pool by its positional form (with virsh's `-` placeholders) and its option form.
const FORMS: &[(&str, &str, &str)] = &[
    (
        "lun",
        "lun iscsi-direct 192.0.2.10 - iqn.2024-01.com.example:store --source-initiator iqn.2024-01.com.example:client",
        "--name lun --type iscsi-direct --source-host 192.0.2.10 --source-dev iqn.2024-01.com.example:store \
         --source-initiator iqn.2024-01.com.example:client",
    ),
    (
        "nfs",
        "nfs netfs nas.example.com /export/images - - /mnt/nfs nfs --source-protocol-ver 4",
        "nfs netfs --source-host nas.example.com --source-path /export/images --target /mnt/nfs \
         --source-format nfs --source-protocol-ver 4",
    ),
    (
        "data",
        "data fs - - /dev/sdb1 - /mnt/data ext4",
        "data fs --source-dev /dev/sdb1 --target /mnt/data --source-format ext4",
    ),
    (
        "vg0",
        "vg0 logical - - /dev/sdb vg0 /dev/vg0 lvm2",
        "vg0 logical --source-dev /dev/sdb --source-name vg0 --source-format lvm2",
    ),
];

fn printed(args: &str) -> Pool {
    let (ok, out, err) = run(T, &format!("pool-define-as {args} --print-xml"));
    assert!(ok, "{args}: {err}");
    Pool::from_xml(&out).unwrap_or_else(|e| panic!("{args}: {e:?}\n{out}"))
}

/// `xml` as a document with `uuid` (libvirt's print has none; virtkit's a fresh one).
fn libvirt(xml: &str, uuid: uuid::Uuid) -> Pool {
    Pool::from_xml(xml).unwrap().with_uuid(uuid)
}

/// What virsh and libvirt's test driver store for `args`, when virsh is
/// installed: the fixtures above are checked against it.
fn virsh_stores(name: &str, args: &str) -> Option<Pool> {
    let out = std::process::Command::new("virsh")
        .args(["-q", "-c", "test:///default", &format!("pool-define-as {args}; pool-dumpxml {name}")])
        .output()
        .ok()?;
    assert!(out.status.success(), "virsh {args}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut p = Pool::from_xml(&text[text.find("<pool").unwrap()..]).unwrap();
    (p.capacity, p.allocation, p.available) = (None, None, None);
    Some(p)
}

#[test]
fn print_xml_gives_libvirts_document_from_either_form() {
    for (name, positional, options) in FORMS {
        let want = LIBVIRT.iter().find(|(n, _)| n == name).unwrap().1;
        if let Some(stored) = virsh_stores(name, positional) {
            assert_eq!(libvirt(want, stored.uuid), stored, "virsh pool-define-as {positional}");
        }
        for args in [positional, options] {
            let got = printed(args);
            assert_eq!(got, libvirt(want, got.uuid), "{args}");
        }
    }
    // A word fills the first part not named by option, as in virsh.
    let got =
        printed("nfs netfs /export/images --source-host nas.example.com - - /mnt/nfs nfs --source-protocol-ver 4");
    assert_eq!(got, libvirt(LIBVIRT[1].1, got.uuid));
}

#[test]
fn host_port_splits_and_a_logical_pool_is_under_dev_vg() {
    let got = printed(
        "lun iscsi-direct --source-host 192.0.2.10:3260 --source-dev iqn.2024-01.com.example:store \
         --source-initiator iqn.2024-01.com.example:client",
    );
    let want = "<pool type='iscsi-direct'><name>lun</name><source><host name='192.0.2.10' port='3260'/>\
                <device path='iqn.2024-01.com.example:store'/>\
                <initiator><iqn name='iqn.2024-01.com.example:client'/></initiator></source></pool>";
    assert_eq!(got, libvirt(want, got.uuid));
    let v6 = printed(
        "lun iscsi-direct [2001:db8::1]:3261 - iqn.2024-01.com.example:store \
         --source-initiator iqn.2024-01.com.example:client",
    );
    assert_eq!((v6.source.hosts[0].name.as_str(), v6.source.hosts[0].port), ("2001:db8::1", Some(3261)));
    // libvirt's target of a volume group: /dev/ and its source name, else the pool's name.
    assert_eq!(printed("vg1 logical --source-dev /dev/sdc").target_path().as_deref(), Some("/dev/vg1"));
    assert_eq!(printed("p logical --source-name vg2").target.unwrap().path.as_deref(), Some("/dev/vg2"));
}

#[test]
fn a_vhba_adapter_and_ceph_auth_as_virsh_writes_them() {
    let got = printed(
        "s scsi --adapter-wwnn 20000000c9831b4b --adapter-wwpn 10000000c9831b4b \
         --adapter-parent-wwnn 20000000c9831b4a --adapter-parent-wwpn 10000000c9831b4a --target /dev/disk/by-path",
    );
    let want = "<pool type='scsi'><name>s</name><source><adapter type='fc_host' parent_wwnn='20000000c9831b4a' \
                parent_wwpn='10000000c9831b4a' wwnn='20000000c9831b4b' wwpn='10000000c9831b4b'/></source>\
                <target><path>/dev/disk/by-path</path></target></pool>";
    assert_eq!(got, libvirt(want, got.uuid));
    let got = printed("s scsi --adapter-name host0 --target /dev/disk/by-path");
    let want = "<pool type='scsi'><name>s</name><source><adapter type='scsi_host' name='host0'/></source>\
                <target><path>/dev/disk/by-path</path></target></pool>";
    assert_eq!(got, libvirt(want, got.uuid));
    // virsh writes the host as given; the port is libvirt's own attribute.
    let got = printed(
        "ceph rbd --source-host mon1.example.com:6789 --source-name images --auth-type ceph \
         --auth-username libvirt --secret-uuid 2ec115d7-3a88-3ceb-bc12-0ac909a6fd87",
    );
    let want = "<pool type='rbd'><name>ceph</name><source><host name='mon1.example.com' port='6789'/>\
                <auth type='ceph' username='libvirt'><secret uuid='2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'/></auth>\
                <name>images</name></source></pool>";
    assert_eq!(got, libvirt(want, got.uuid));
}

#[test]
fn an_iscsi_direct_pool_from_options_is_read_back() {
    let root = tempfile::Builder::new().prefix("vk").tempdir_in("/tmp").unwrap();
    let embed = format!("qemu:///embed?root={}", root.path().display());
    let define = "pool-define-as lun iscsi-direct --source-host 192.0.2.10:3260 \
                  --source-dev iqn.2024-01.com.example:store --source-initiator iqn.2024-01.com.example:client \
                  --auth-type chap --auth-username admin --secret-usage store-chap";
    let want = "<pool type='iscsi-direct'><name>lun</name><source><host name='192.0.2.10' port='3260'/>\
                <device path='iqn.2024-01.com.example:store'/>\
                <initiator><iqn name='iqn.2024-01.com.example:client'/></initiator>\
                <auth type='chap' username='admin'><secret usage='store-chap'/></auth></source></pool>";
    // On the test driver in one run; on qemu:///embed from a second process.
    let (ok, out, err) = run(T, &format!("{define}; pool-dumpxml lun"));
    assert!(ok, "{err}");
    let (head, xml) = out.split_once('\n').unwrap();
    assert_eq!(head, "Pool lun defined");
    let got = Pool::from_xml(xml).unwrap();
    assert_eq!(got, libvirt(want, got.uuid));
    let (ok, out, err) = run(&embed, define);
    assert!(ok && out == "Pool lun defined\n", "{out}{err}");
    let (ok, out, err) = run(&embed, "pool-dumpxml lun; pool-list --all");
    assert!(ok, "{err}");
    let end = out.find("</pool>").unwrap() + "</pool>".len();
    let got = Pool::from_xml(&out[..end]).unwrap();
    assert_eq!(got, libvirt(want, got.uuid));
    assert!(out[end..].lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["lun", "inactive", "no", "yes"]));
}

#[test]
fn refusals_name_the_problem_and_define_nothing() {
    let cases = [
        (
            "p dir --source-host nas --target /p",
            "/pool/source/host: a dir pool's source takes vendor, product, not <host>",
        ),
        ("p dir - - /dev/sdb - /p", "a dir pool's source takes vendor, product, not <device>"),
        (
            "p netfs nas /e --target /m --source-format ext4",
            "a netfs pool's format is one of auto, nfs, glusterfs, cifs, not 'ext4'",
        ),
        (
            "p iscsi-direct --source-host h --source-dev iqn.2024-01.com.example:t",
            "a iscsi-direct pool's source needs <initiator>",
        ),
        ("p iscsi-direct h - /dev/sdb --source-initiator iqn.2024-01.com.example:c", "'/dev/sdb' is not an iSCSI name"),
        ("p fs --source-dev /dev/sdb1", "a fs pool needs a <target> with its path"),
        ("p netfs nas:nfs /e /m", "source host 'nas:nfs': 'nfs' is not a port number"),
        ("p netfs nas /e --target /m --source-protocol-ver four", "source protocol version: 'four' is not a number"),
        (
            "p iscsi h - iqn.2024-01.com.example:t - /dev/disk/by-path --auth-type chap",
            "--auth-type, --auth-username and --secret-usage or --secret-uuid come together",
        ),
        (
            "p rbd --source-host mon --source-name rbd --auth-type kerberos --auth-username u --secret-usage s",
            "auth type:",
        ),
        (
            "p scsi --adapter-wwnn 20000000c9831b4b --target /dev/disk/by-path",
            "a vHBA adapter needs both --adapter-wwnn and --adapter-wwpn",
        ),
        (
            "p scsi --adapter-name host0 --adapter-parent scsi_host5 --target /dev/disk/by-path",
            "--adapter-parent options are for a vHBA",
        ),
        ("p dir /a /b /c /d /e f g", "unexpected argument 'g'"),
        ("p", "needs a NAME and a TYPE"),
        ("p tape --target /p", "pool type:"),
    ];
    let mut script = String::new();
    for (args, _) in &cases {
        script.push_str(&format!("pool-define-as {args}\npool-create-as {args}\n"));
    }
    script.push_str("pool-list --all\n");
    let (out, err) = shell(&script);
    let mut lines = err.lines();
    for (args, want) in &cases {
        for _ in 0..2 {
            let line = lines.next().unwrap_or_else(|| panic!("{args}: no error\n{err}"));
            assert!(line.starts_with("error: ") && line.contains(want), "{args}: {line}");
        }
    }
    assert_eq!(lines.next(), None, "{err}");
    assert!(!out.contains(" p "), "nothing was defined or created:\n{out}");
}

#[test]
fn pool_create_as_starts_a_transient_pool() {
    let (ok, out, err) =
        run(T, "pool-create-as scratch dir - - - - /var/tmp/scratch; pool-list --all; pool-info scratch");
    assert!(ok, "{err}");
    assert!(out.starts_with("Pool scratch created\n"), "{out}");
    let row = out.lines().find(|l| l.trim_start().starts_with("scratch")).unwrap();
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["scratch", "active", "no", "no"]);
    assert!(out.contains("State:          running") && out.contains("Persistent:     no"), "{out}");
    // Destroyed, a transient pool is gone.
    let (ok, out, err) =
        run(T, "pool-create-as scratch dir --target /var/tmp/scratch; pool-destroy scratch; pool-list --all");
    assert!(ok, "{err}");
    assert!(!out.lines().skip(2).any(|l| l.contains("scratch")), "{out}");
    // --print-xml makes nothing.
    let (ok, out, err) = run(T, "pool-create-as scratch dir --target /var/tmp/scratch --print-xml; pool-list --all");
    assert!(ok, "{err}");
    assert!(out.starts_with("<pool type='dir'>") && !out.contains("scratch  "), "{out}");
}

#[test]
fn vol_create_as_prints_its_document_and_makes_nothing() {
    let (ok, out, err) = run(
        T,
        "vol-create-as default-pool top.qcow2 1G --allocation 64M --format qcow2 \
         --backing-vol /images/base.img --backing-vol-format raw --print-xml; vol-list default-pool",
    );
    assert!(ok, "{err}");
    let end = out.find("</volume>").unwrap() + "</volume>".len();
    let v = virtkit::model::storage::Volume::from_xml(&out[..end]).unwrap();
    assert_eq!((v.capacity.unwrap().as_bytes(), v.allocation.unwrap().as_bytes()), (1 << 30, 64 << 20));
    let b = v.backing_store.unwrap();
    assert_eq!((b.path.as_str(), b.format.map(|f| f.to_string())), ("/images/base.img", Some("raw".into())));
    assert!(!out[end..].contains("top.qcow2"), "{out}");
    // A backing format without a backing volume is refused; nothing is made.
    let (out, err) = shell("vol-create-as default-pool x.img 1M --backing-vol-format raw\nvol-list default-pool\n");
    assert!(err.contains("error: --backing-vol-format is the format of a --backing-vol"), "{err}");
    assert!(out.contains("Name") && !out.contains("x.img"), "{out}");
}

#[test]
fn through_the_daemon_the_pools_are_its_own() {
    let d = common::Daemon::start(&[]);
    let uri = d.uri("test");
    let (code, out, err) = common::run(
        &uri,
        "pool-create-as scratch dir --target /var/tmp/scratch; \
         pool-define-as lun iscsi-direct 192.0.2.10:3260 - iqn.2024-01.com.example:store \
         --source-initiator iqn.2024-01.com.example:client",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "Pool scratch created\nPool lun defined\n");
    let (code, out, err) = common::run(&uri, "pool-list --all; pool-dumpxml lun");
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out.lines().skip(2).map(|l| l.split_whitespace().collect()).take(3).collect();
    assert!(
        rows.contains(&vec!["scratch", "active", "no", "no"]) && rows.contains(&vec!["lun", "inactive", "no", "yes"])
    );
    let got = Pool::from_xml(&out[out.find("<pool").unwrap()..]).unwrap();
    assert_eq!((got.source.hosts[0].name.as_str(), got.source.hosts[0].port), ("192.0.2.10", Some(3260)));
    // A refusal is the model's, made before anything crosses the wire.
    let (code, _, err) = common::run(&uri, "pool-define-as p dir --source-host nas --target /p");
    assert_eq!(code, 1);
    assert!(err.contains("a dir pool's source takes vendor, product, not <host>"), "{err}");
}
