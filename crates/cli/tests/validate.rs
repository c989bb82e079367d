//! `virtkit validate`: exit status, error lines, --print and --json.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn virtkit() -> Command {
    Command::cargo_bin("virtkit").unwrap()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = "<domain type='qemu'><name>a</name><memory>1024</memory><os><type>hvm</type></os></domain>";

#[test]
fn valid_files_exit_zero_silently() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    virtkit().arg("validate").args(&files).assert().success().stdout("").stderr("");
}

#[test]
fn each_problem_is_one_line_with_file_line_column_and_path() {
    let typos = examples().join("broken/typos.xml");
    let shown = typos.display().to_string();
    let out = virtkit().arg("validate").arg(&typos).assert().code(1).stdout("").get_output().stderr.clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{shown}:7:11: /domain/os/boot/@dev: 'hdd' is not one of hd, fd, cdrom, network"),
            format!("{shown}:10:5: /domain/devices/diks: unknown element <diks> in <devices> (did you mean <disk>?)"),
            format!(
                "{shown}:14:15: /domain/devices/interface/source/@netwrok: unknown attribute 'netwrok' on <source> (did you mean 'network'?)"
            ),
        ]
    );
}

#[test]
fn one_bad_file_among_good_ones_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(&dir, "good.xml", GOOD);
    let bad = write(&dir, "bad.xml", &GOOD.replace("qemu", "qemuu"));
    virtkit()
        .arg("validate")
        .arg(&good)
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.xml:1:9: /domain/@type: 'qemuu' is not one of qemu, kvm, lxc, test"))
        .stderr(predicate::str::contains("good.xml").not());
}

#[test]
fn print_writes_the_canonical_form() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "d.xml", GOOD);
    let out = virtkit().args(["validate", "--print"]).arg(&f).assert().success().get_output().stdout.clone();
    let xml = String::from_utf8(out).unwrap();
    assert!(xml.starts_with("<domain type='qemu'>\n  <name>a</name>\n  <uuid>"), "{xml}");
    assert!(xml.contains("  <memory unit='KiB'>1024</memory>\n"), "{xml}");
    // The canonical form is itself valid, and stable.
    let again = write(&dir, "again.xml", &xml);
    let out2 = virtkit().args(["validate", "--print"]).arg(&again).assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(out2).unwrap(), xml);
}

#[test]
fn json_writes_the_json_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "d.xml", GOOD);
    let out = virtkit().args(["validate", "--json"]).arg(&f).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["type"], "qemu");
    assert_eq!(v["name"], "a");
    assert_eq!(v["memory"], 1024 * 1024);
}

#[test]
fn standard_input_is_read_with_a_dash() {
    virtkit().args(["validate", "-"]).write_stdin(GOOD).assert().success();
    virtkit()
        .args(["validate", "-"])
        .write_stdin("<domain")
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("-:1:"));
}

#[test]
fn other_document_kinds_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "filter.xml",
        "<filter name='clean-traffic'><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></filter>",
    );
    virtkit()
        .arg("validate")
        .arg(&f)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("network filter documents (<filter>) are not supported yet"));
    // A secret is a document virtkit reads.
    let f = write(&dir, "secret.xml", "<secret><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></secret>");
    virtkit().arg("validate").arg(&f).assert().success();
    let f = write(&dir, "bad-secret.xml", "<secret><usage type='iscsi'><target>a/b</target></usage></secret>");
    virtkit().arg("validate").arg(&f).assert().code(1).stderr(predicate::str::contains("/secret/usage/target"));
}

const NETWORK: &str = "<network>
  <name>default</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <forward mode='nat'/>
  <bridge name='virbr0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
";

/// Each kind's document validates, prints in canonical form (which
/// validates again, unchanged) and prints as JSON.
fn check_kind(name: &str, doc: &str, xml_starts: &str, json_has: &str) {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, name, doc);
    virtkit().arg("validate").arg(&f).assert().success().stdout("").stderr("");
    let out = virtkit().args(["validate", "--print"]).arg(&f).assert().success().get_output().stdout.clone();
    let xml = String::from_utf8(out).unwrap();
    assert!(xml.starts_with(xml_starts), "{xml}");
    let again = write(&dir, "again.xml", &xml);
    virtkit().args(["validate", "--print"]).arg(&again).assert().success().stdout(xml);
    let out = virtkit().args(["validate", "--json"]).arg(&f).assert().success().get_output().stdout.clone();
    let json = String::from_utf8(out).unwrap();
    assert!(json.contains(json_has), "{json}");
    serde_json::from_str::<serde_json::Value>(&json).unwrap();
}

#[test]
fn networks_validate_print_and_encode() {
    check_kind("net.xml", NETWORK, "<network>\n  <name>default</name>\n", "\"ranges\": [");
}

#[test]
fn network_problems_are_one_line_each_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let broken = NETWORK.replace("<bridge name", "<brigde name").replace("end='192.168.122.254'", "end='10.0.0.1'");
    let f = write(&dir, "net.xml", &broken);
    let shown = f.display().to_string();
    let out = virtkit().arg("validate").arg(&f).assert().code(1).stdout("").get_output().stderr.clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{shown}:5:3: /network/brigde: unknown element <brigde> in <network> (did you mean <bridge>?)\n")
    );
    let f = write(&dir, "net2.xml", &NETWORK.replace("end='192.168.122.254'", "end='192.168.123.254'"));
    let shown = f.display().to_string();
    virtkit().arg("validate").arg(&f).assert().code(1).stderr(format!(
        "{shown}:8:7: /network/ip/dhcp/range: the range 192.168.122.2 - 192.168.123.254 is not inside the network 192.168.122.0/24\n"
    ));
}

#[test]
fn unreadable_and_binary_files_are_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    virtkit()
        .arg("validate")
        .arg(dir.path().join("missing.xml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing.xml: cannot read: no such file or directory"));
    let bin = dir.path().join("bin.xml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x3c]).unwrap();
    virtkit().arg("validate").arg(&bin).assert().code(1).stderr(predicate::str::contains("not UTF-8"));
    virtkit().arg("validate").arg(dir.path()).assert().code(1);
}

#[test]
fn usage_errors_exit_two() {
    virtkit().arg("validate").assert().code(2);
    virtkit().args(["validate", "--print", "--json", "x.xml"]).assert().code(2);
    virtkit().arg("frobnicate").assert().code(2);
}

const POOL: &str = "<pool type='dir'>
  <name>images</name>
  <target>
    <path>/var/lib/images</path>
    <permissions>
      <mode>0711</mode>
    </permissions>
  </target>
</pool>
";

const VOLUME: &str = "<volume>
  <name>web.qcow2</name>
  <capacity unit='GiB'>20</capacity>
  <target>
    <format type='qcow2'/>
  </target>
</volume>
";

#[test]
fn pools_and_volumes_validate_print_and_encode() {
    check_kind("pool.xml", POOL, "<pool type='dir'>\n  <name>images</name>\n", "\"mode\": 457");
    check_kind("vol.xml", VOLUME, "<volume>\n  <name>web.qcow2</name>\n", "\"capacity\": 21474836480");
}

#[test]
fn pool_and_volume_problems_are_one_line_each_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let pool = write(&dir, "pool.xml", &POOL.replace("<target>", "<source><host name='nas'/></source>\n  <target>"));
    let vol = write(&dir, "vol.xml", &VOLUME.replace("web.qcow2", "../web.qcow2").replace("qcow2'", "qcow3'"));
    let out = virtkit().arg("validate").arg(&pool).arg(&vol).assert().code(1).stdout("").get_output().stderr.clone();
    let (p, v) = (pool.display(), vol.display());
    assert_eq!(
        String::from_utf8(out).unwrap().lines().collect::<Vec<_>>(),
        [
            format!("{p}:3:11: /pool/source/host: a dir pool's source takes vendor, product, not <host>"),
            format!(
                "{v}:5:13: /volume/target/format/@type: 'qcow3' is not one of {}",
                virtkit::model::storage::VolumeFormat::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ]
    );
}
