//! Every command on the test driver, and every error path: unknown domain,
//! wrong state (nothing changes), invalid document (nothing stored),
//! duplicate name or UUID, usage errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

const T: &str = "test:///default";

fn vk() -> Command {
    let mut c = Command::cargo_bin("virtkit").unwrap();
    c.env_remove("VIRTKIT_DEFAULT_URI");
    c
}

/// Runs a command string on test:///default; returns stdout.
fn ok(cmds: &str) -> String {
    let out = vk().args(["-c", T, cmds]).assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Files(tempfile::tempdir().unwrap())
    }
    fn put(&self, name: &str, text: &str) -> String {
        let p: PathBuf = self.0.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
    /// A domain with a UUID made from its name, so defining it twice updates it.
    fn domain(&self, name: &str) -> String {
        let n: u128 = name.bytes().fold(0, |a, b| a * 131 + u128::from(b));
        let uuid = format!("{:08x}-0000-4000-8000-{:012x}", n as u32, n as u64 & 0xffff_ffff_ffff);
        self.put(&format!("{name}.xml"), &domain_xml(name, Some(&uuid)))
    }
}

fn domain_xml(name: &str, uuid: Option<&str>) -> String {
    let uuid = uuid.map(|u| format!("<uuid>{u}</uuid>")).unwrap_or_default();
    format!(
        "<domain type='test'><name>{name}</name>{uuid}<memory unit='MiB'>128</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os>\
         <devices><disk type='file'><source file='/img/{name}.img'/><target dev='vda' bus='virtio'/></disk>\
         <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices></domain>"
    )
}

#[test]
fn default_connection_lists_the_running_test_domain() {
    let out = ok("list --all --json");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["domains"][0]["name"], "test");
    assert_eq!(v["domains"][0]["state"], "running");
    assert_eq!(v["domains"][0]["reason"], "booted");
    assert_eq!(v["domains"][0]["persistent"], true);
    assert!(v["revision"].as_u64().unwrap() >= 2);
    assert_eq!(ok("list"), " Id   Name   State\n----------------------\n 1    test   running\n");
}

#[test]
fn a_lifecycle_in_one_invocation() {
    let f = Files::new();
    let a = f.domain("a");
    let out = ok(&format!(
        "define {a}; list --all; start a; domstate a --reason; suspend a; domstate a --reason; resume a; \
         domstate a --reason; shutdown a; domstate a --reason; undefine a; list --all; events --from 6 --timeout 0.2"
    ));
    let want = [
        format!("Domain 'a' defined from {a}"),
        " Id   Name   State".into(),
        "-----------------------".into(),
        " -    a      shut off".into(),
        " 1    test   running".into(),
        "Domain 'a' started".into(),
        "running (booted)".into(),
        "Domain 'a' suspended".into(),
        "paused (user)".into(),
        "Domain 'a' resumed".into(),
        "running (unpaused)".into(),
        "Domain 'a' is being shutdown".into(),
        "shut off (shutdown)".into(),
        "Domain 'a' has been undefined".into(),
        " Id   Name   State".into(),
        "----------------------".into(),
        " 1    test   running".into(),
        "event 7: domain 'a' defined (added); now shut off (unknown)".into(),
        "event 8: domain 'a' started (booted); now running (booted)".into(),
        "event 9: domain 'a' suspended (paused); now paused (user)".into(),
        "event 10: domain 'a' resumed (unpaused); now running (unpaused)".into(),
        "event 11: domain 'a' shutdown (finished); now shut off (shutdown)".into(),
        "event 12: domain 'a' stopped (shutdown); now shut off (shutdown)".into(),
        "event 13: domain 'a' undefined (removed); now shut off (shutdown)".into(),
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn events_as_json_lines_with_count() {
    let out = ok("suspend test; resume test; events --from 0 --count 7 --json");
    let evs: Vec<serde_json::Value> = out.lines().skip(2).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(evs.len(), 7);
    // The host's network comes first, then its pool, then its domain.
    assert_eq!((evs[0]["revision"].as_u64(), evs[0]["object"].as_str()), (Some(1), Some("network")));
    assert_eq!((evs[1]["kind"].as_str(), evs[1]["state"].as_str()), (Some("started"), Some("active")));
    assert_eq!((evs[2]["object"].as_str(), evs[2]["name"].as_str()), (Some("pool"), Some("default-pool")));
    assert_eq!((evs[3]["kind"].as_str(), evs[3]["state"].as_str()), (Some("started"), Some("active")));
    assert_eq!((evs[4]["object"].as_str(), evs[4]["kind"].as_str()), (Some("domain"), Some("defined")));
    assert_eq!(evs[6]["kind"], "suspended");
    assert_eq!(evs[6]["state"], "paused");
}

#[test]
fn events_with_nothing_happening_stop_at_the_timeout() {
    let t = std::time::Instant::now();
    assert_eq!(ok("events --timeout 0.3"), "");
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
}

#[test]
fn create_is_transient_and_vanishes_on_stop() {
    let f = Files::new();
    let t = f.domain("t");
    let out = ok(&format!("create {t}; dominfo t; power-off t; list --all"));
    assert!(out.contains(&format!("Domain 't' created from {t}")));
    assert!(out.contains("Persistent:     no"));
    assert!(out.contains("Domain 't' powered off"));
    assert!(!out.lines().any(|l| l.contains(" t ")), "{out}");
    let out = ok(&format!("create --paused {t}; domstate t --reason; destroy t"));
    assert!(out.contains("paused (user)"));
}

#[test]
fn every_lifecycle_command() {
    let f = Files::new();
    let b = f.domain("b");
    let out = ok(&format!(
        "define {b}; start b --paused; domstate b; resume b; reboot b; reset b; \
         shutdown b --mode agent --timeout 5; domstate b --reason; start b; power-off b; domstate b --reason; \
         autostart b; dominfo b; autostart b --disable; dominfo b --json; uri; version"
    ));
    for want in [
        "paused",
        "Domain 'b' is being rebooted",
        "Domain 'b' was reset",
        "Domain 'b' is shut off",
        "shut off (shutdown)",
        "Domain 'b' powered off",
        "shut off (destroyed)",
        "Domain 'b' marked as autostarted",
        "Autostart:      enable",
        "Domain 'b' unmarked as autostarted",
        "\"autostart\": false",
        "\"os_type\": \"hvm\"",
        "test:///default",
        "virtkit 0.1.0",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn dumpxml_running_and_inactive() {
    let f = Files::new();
    let c = f.domain("c");
    let out = ok(&format!("define {c}; dumpxml c --inactive"));
    assert!(out.contains("<name>c</name>") && out.contains("<domain type='test'>"), "{out}");
    // The output is a valid document that defines the same domain again.
    let again = f.put("again.xml", &out[out.find("<domain").unwrap()..]);
    vk().args(["validate", &again]).assert().success();
    let out = ok("dumpxml test");
    assert!(out.contains("<mac address='aa:bb:cc:dd:ee:ff'/>"));
}

#[test]
fn domstats_all_and_named() {
    let out = ok("domstats");
    assert!(out.starts_with("Domain: 'test'\n  state.state=1\n  state.reason=1\n  cpu.time="), "{out}");
    assert!(out.contains("  block.0.name=vda"));
    let out = ok("domstats test --json");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["name"], "test");
    assert!(v[0]["stats"]["cpu_time_ns"].as_u64().unwrap() > 0);
}

#[test]
fn list_filters() {
    let f = Files::new();
    let d = f.domain("d");
    let out = ok(&format!("define {d}; list --state shutoff; list --state running --json; list --all --transient"));
    assert!(out.contains(" -    d      shut off"), "{out}");
    assert!(out.contains("\"name\": \"test\""));
    vk().args(["-c", T, "list", "--state", "runing"]).assert().code(2).stderr(contains("'runing' is not one of"));
}

// ---- errors ----

#[test]
fn unknown_domain() {
    for cmd in [
        "start",
        "shutdown",
        "power-off",
        "destroy",
        "reboot",
        "reset",
        "suspend",
        "resume",
        "undefine",
        "dumpxml",
        "dominfo",
        "domstate",
        "autostart",
        "domstats",
    ] {
        vk().args(["-c", T, cmd, "nosuch"]).assert().code(1).stdout("").stderr("error: domain 'nosuch' not found\n");
    }
}

#[test]
fn wrong_state_is_refused_and_changes_nothing() {
    let before = ok("list --all --json");
    let cases = [
        ("start test", "error: domain 'test' is already running\n"),
        ("resume test", "error: cannot resume domain 'test': it is running\n"),
    ];
    for (cmd, err) in cases {
        vk().args(["-c", T, &format!("{cmd}; list --all --json")]).assert().code(1).stdout("").stderr(err);
    }
    let f = Files::new();
    let e = f.domain("e");
    for (cmd, err) in [
        ("shutdown e", "error: cannot shut down domain 'e': it is shut off\n"),
        ("suspend e", "error: cannot suspend domain 'e': it is shut off\n"),
        ("power-off e", "error: cannot power off domain 'e': it is shut off\n"),
        ("reboot e", "error: cannot reboot domain 'e': it is shut off\n"),
        ("reset e", "error: cannot reset domain 'e': it is shut off\n"),
    ] {
        let out = vk()
            .args(["-c", T, &format!("define {e}; {cmd}")])
            .assert()
            .code(1)
            .stderr(err)
            .get_output()
            .stdout
            .clone();
        assert_eq!(String::from_utf8(out).unwrap(), format!("Domain 'e' defined from {e}\n"));
    }
    assert_eq!(ok("list --all --json"), before);
}

#[test]
fn the_first_failure_stops_a_command_string() {
    vk().args(["-c", T, "start nosuch; suspend test"]).assert().code(1).stdout("");
    // test is still running: the suspend never ran.
    assert!(ok("domstate test").starts_with("running"));
}

#[test]
fn invalid_documents_store_nothing() {
    let f = Files::new();
    let bad = f.put("bad.xml", &domain_xml("bad", None).replace("<vcpu>", "<vpcu>").replace("</vcpu>", "</vpcu>"));
    vk().args(["-c", T, &format!("define {bad}; list --all")]).assert().code(1).stdout("").stderr(format!(
        "error: {bad}:1:68: /domain/vpcu: unknown element <vpcu> in <domain> (did you mean <vcpu>?)\n"
    ));
    vk().args(["-c", T, &format!("create {bad}")]).assert().code(1).stderr(contains("/domain/vpcu"));
    vk().args(["-c", T, "define /nonexistent.xml"])
        .assert()
        .code(1)
        .stderr("error: /nonexistent.xml: cannot read: no such file or directory (os error 2)\n");
}

#[test]
fn duplicate_name_or_uuid_is_refused() {
    let f = Files::new();
    let one = f.put("one.xml", &domain_xml("dup", Some("11111111-2222-3333-4444-555555555555")));
    let other_uuid = f.put("two.xml", &domain_xml("dup", Some("99999999-2222-3333-4444-555555555555")));
    let other_name = f.put("three.xml", &domain_xml("dup2", Some("11111111-2222-3333-4444-555555555555")));
    vk().args(["-c", T, &format!("define {one}; define {other_uuid}")])
        .assert()
        .code(1)
        .stderr("error: domain 'dup' already exists with uuid 11111111-2222-3333-4444-555555555555\n");
    vk().args(["-c", T, &format!("define {one}; define {other_name}")])
        .assert()
        .code(1)
        .stderr("error: domain with uuid 11111111-2222-3333-4444-555555555555 already exists as 'dup'\n");
    let test_twin = f.put("twin.xml", &domain_xml("test", None));
    vk().args(["-c", T, &format!("create {test_twin}")]).assert().code(1).stderr(contains("already exists"));
}

#[test]
fn expected_generation_conflicts() {
    let f = Files::new();
    let g = f.domain("g");
    ok(&format!("define {g} --expected-generation 0; define {g} --expected-generation 1"));
    vk().args(["-c", T, &format!("define {g}; define {g} --expected-generation 5")])
        .assert()
        .code(1)
        .stderr("error: domain 'g' is at generation 1, not 5\n");
}

#[test]
fn agent_shutdown_needs_an_agent() {
    vk().args(["-c", T, "shutdown test --mode agent"])
        .assert()
        .code(1)
        .stderr("error: domain 'test' has no guest agent channel\n");
}

#[test]
fn uris_and_environment() {
    vk().args(["-c", "nonsense", "list"]).assert().code(1).stderr(contains("invalid URI 'nonsense'"));
    vk().args(["-c", "xen:///system", "list"]).assert().code(1).stderr("error: no driver 'xen' in this build\n");
    vk().env("VIRTKIT_DEFAULT_URI", T).arg("uri").assert().success().stdout("test:///default\n");
    vk().args(["-c", "test:///nonexistent.xml", "list"])
        .assert()
        .code(1)
        .stderr(contains("cannot read /nonexistent.xml"));
}

#[test]
fn node_documents_give_a_custom_test_host() {
    let f = Files::new();
    let node = f.put(
        "node.xml",
        &format!(
            "<node><cpu><active>4</active></cpu><memory>1048576</memory>{}{}</node>",
            domain_xml("n1", None),
            domain_xml("n2", None)
        ),
    );
    let out = ok_uri(&format!("test://{node}"), "list --all");
    assert!(out.contains(" 1    n1     running") && out.contains(" 2    n2     running"), "{out}");
    let bad = f.put("bad-node.xml", "<node><interface/></node>");
    vk().args(["-c", &format!("test://{bad}"), "list"]).assert().code(1).stderr(
        contains("unsupported element <interface> in <node>").or(contains("unknown element <interface> in <node>")),
    );
}

fn ok_uri(uri: &str, cmds: &str) -> String {
    String::from_utf8(vk().args(["-c", uri, cmds]).assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn read_only_connections_refuse_changes() {
    vk().args(["-r", "-c", T, "suspend test"]).assert().code(1).stderr("error: this connection is read-only\n");
    vk().args(["-r", "-c", T, "list"]).assert().success();
}

#[test]
fn shell_reads_commands_from_stdin() {
    let f = Files::new();
    let s = f.domain("s");
    let script = format!("define {s}\nstart s; domstate s\n\nstart nosuch\nlist --all\nquit\nlist\n");
    let out = vk().args(["-c", T, "shell"]).write_stdin(script).assert().code(1).get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Domain 's' started\nrunning\n"), "{stdout}");
    assert!(stdout.contains(" 2    s      running"), "the shell went on after the error: {stdout}");
    assert_eq!(stdout.matches("Id   Name").count(), 1, "nothing after quit runs");
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "error: domain 'nosuch' not found\n");
    vk().args(["-c", T, "shell"]).write_stdin("list\n").assert().success();
}

#[test]
fn domifaddr_shows_the_addresses_a_guest_leased_from_its_networks() {
    let out = ok("domifaddr test");
    assert!(out.contains("Name    MAC address         Protocol   Address"), "{out}");
    assert!(out.contains(" vnet0   aa:bb:cc:dd:ee:ff   ipv4       192.168.122."), "{out}");
    let out = ok("domifaddr test --json");
    assert!(out.contains("\"iface\": \"vnet0\""), "{out}");
    vk().args(["-c", T, "domifaddr test --source agent"])
        .assert()
        .code(1)
        .stderr("error: addresses from the guest agent are not read yet; ask the leases (source lease)\n");
    vk().args(["-c", T, "domifaddr test --source bogus"])
        .assert()
        .code(2)
        .stderr(contains("'bogus' is not an address source"));
    vk().args(["-c", T, "destroy test; domifaddr test"])
        .assert()
        .code(1)
        .stderr(contains("domain 'test' is not running"));
}

#[test]
fn usage_errors_exit_two() {
    vk().args(["-c", T, "start"]).assert().code(2);
    vk().args(["-c", T, "shutdown test --mode acpii"])
        .assert()
        .code(2)
        .stderr(contains("'acpii' is not one of acpi, agent, any"));
    vk().args(["-c", T, "shutdown test --timeout soon"]).assert().code(2);
    vk().args(["-c", T, "list; 'unterminated"]).assert().code(2).stderr(contains("unterminated"));
    vk().arg("--help").assert().success().stdout(contains("power-off"));
    vk().args(["quit"]).assert().code(1);
}

#[test]
fn net_update_changes_the_live_or_stored_network_as_virsh_and_refusals_change_nothing() {
    let f = Files::new();
    let host = "<host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'/>";
    // Active: "current" is the running network; the guest's lease follows its new static host.
    let out =
        ok(&format!("net-update default add ip-dhcp-host \"{host}\"; net-dumpxml default; net-dhcp-leases default"));
    assert!(out.starts_with("Updated network default live state\n"), "{out}");
    assert!(out.contains(&format!("      {host}\n")), "{out}");
    assert!(out.contains("aa:bb:cc:dd:ee:ff   ipv4       192.168.122.50/24   test"), "{out}");
    let out = ok(&format!("net-update default add ip-dhcp-host \"{host}\"; net-dumpxml default --inactive"));
    assert!(!out.contains("<host"), "the stored definition did not change: {out}");
    // From a file, both definitions, a parent index.
    let dns = f.put("dns.xml", "<host ip='192.168.122.9'>\n  <hostname>db</hostname>\n</host>\n");
    let out = ok(&format!(
        "net-update default add-first dns-host {dns} --live --config --parent-index 0; net-dumpxml default; \
         net-dumpxml default --inactive; net-info default --json"
    ));
    assert!(out.starts_with("Updated network default persistent config and live state\n"), "{out}");
    assert_eq!(out.matches("<hostname>db</hostname>").count(), 2, "{out}");
    assert!(out.contains("\"generation\": 2"), "{out}");
    // Inactive: "current" is the stored definition.
    let net = f.put("lan.xml", "<network><name>lan</name><ip address='10.5.0.1' prefix='24'/></network>");
    let out = ok(&format!(
        "net-define {net}; net-update lan add ip-dhcp-range \"<range start='10.5.0.10' end='10.5.0.20'/>\" --current; \
         net-dumpxml lan --inactive"
    ));
    assert!(out.contains("Updated network lan persistent config\n"), "{out}");
    assert!(out.contains("<range start='10.5.0.10' end='10.5.0.20'/>"), "{out}");
    // Refusals, each with its line on standard error; the shell goes on, and nothing changed.
    let typo = "<host mac='52:54:00:00:00:02' nmae='x' ip='192.168.122.60'/>";
    let script = format!(
        "net-update default add ip-dhcp-host \"{host}\"\nnet-dumpxml default\nnet-update default add ip-dhcp-host \"{host}\"\n\
         net-update default add ip-dhcp-host \"{typo}\"\nnet-define {net}\nnet-update lan add ip-dhcp-host \"{host}\" --live\n\
         net-update default modify bridge \"<bridge name='x'/>\"\nnet-update default add ip-dhcp-host {missing}\n\
         net-update default ad ip-dhcp-host \"{host}\"\nnet-update nosuch add ip-dhcp-host \"{host}\"\nnet-dumpxml default\n",
        missing = f.0.path().join("missing.xml").display()
    );
    let out = vk().args(["-c", T, "shell"]).write_stdin(script).assert().code(1).get_output().clone();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        errors[..5],
        [
            format!("error: network 'default' already has a dhcp host with this mac: {host}").as_str(),
            "error: xml:1:31: /host/@nmae: unknown attribute 'nmae' on <host> (did you mean 'name'?)",
            "error: network 'lan' is not active: it has no live definition to update",
            "error: can't update 'bridge' section of network 'default'",
            format!(
                "error: {}: cannot read: no such file or directory (os error 2)",
                f.0.path().join("missing.xml").display()
            )
            .as_str(),
        ],
        "{stderr}"
    );
    assert!(errors[5].starts_with("error: command: 'ad' is not one of add-first, add-last"), "{stderr}");
    assert_eq!(errors[6], "error: network 'nosuch' not found", "{stderr}");
    let dumps: Vec<&str> = stdout.split("<network>").skip(1).filter_map(|d| d.split("</network>").next()).collect();
    assert_eq!(dumps.len(), 2, "{stdout}");
    assert!(dumps[0].contains(host), "{stdout}");
    assert_eq!(dumps[0], dumps[1], "a refused update changed the network: {stdout}");
}
