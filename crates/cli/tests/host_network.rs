//! Host networks for real: virtkitd inside a network namespace of the
//! test's own makes bridges, firewall rules and a dnsmasq per network, and
//! the test guest (under TCG) proves DHCP, DNS, NAT and routing by what it
//! prints. The "outside world" is a second namespace behind a veth pair,
//! where a responder answers each client with the address it came from.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::netns::{HOST_IP, OUTSIDE_IP, World};
use common::{Daemon, Reaper, base64, guest_dir, run};

/// A network document in a file of the daemon's root.
fn write(d: &Daemon, name: &str, text: &str) -> PathBuf {
    let p = d.root().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs a CLI script against the daemon; it must succeed.
fn ok(d: &Daemon, script: &str) -> String {
    let (code, out, err) = run(&d.uri("qemu"), script);
    assert_eq!(code, 0, "{script}: {err}\n{}", d.log());
    out
}

/// Runs a CLI script that must fail; its error output.
fn refused(d: &Daemon, script: &str) -> String {
    let (code, out, err) = run(&d.uri("qemu"), script);
    assert_ne!(code, 0, "{script} was accepted: {out}");
    err
}

/// A guest with one NIC on `source` (`network='lan'` or `bridge='br0'`),
/// running `script` once it has an address.
fn guest(name: &str, uuid: &str, mac: &str, source: (&str, &str), console: &Path, script: &str) -> String {
    let g = guest_dir();
    let wait = "while ! grep -q nameserver /etc/resolv.conf 2>/dev/null; do sleep 0.2; done\n";
    let run = base64(&format!("{wait}{script}"));
    let (kind, attr) = source;
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>192</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{g}/vmlinuz</kernel><initrd>{g}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=0 virtkit.hostname={name} virtkit.run={run}</cmdline></os>
  <features><acpi/></features>
  <devices>
    <interface type='{kind}'><mac address='{mac}'/><source {kind}='{attr}'/><model type='virtio'/></interface>
    <serial type='file'><source path='{}'/></serial><memballoon model='none'/>
  </devices>
</domain>",
        console.display(),
        g = g.display()
    )
}

/// Waits until the console shows every one of `lines` (substrings).
fn wait_for(console: &Path, lines: &[&str], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(console).unwrap_or_default();
        if lines.iter().all(|l| text.contains(l)) {
            return text;
        }
        assert!(Instant::now() < deadline, "the guest did not print {lines:?}; it printed:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The dnsmasq processes running on the daemon's files.
fn dnsmasqs_of(d: &Daemon) -> Vec<i32> {
    let ours = format!("--conf-file={}/", d.root().display());
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).into_owned();
            let mut args = cmd.split('\0');
            (args.next()?.ends_with("dnsmasq") && args.any(|a| a.starts_with(&ours))).then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// What a guest prints: what the responder said (or `none`).
const REACH_OUTSIDE: &str = "r=$(nc -w 5 \"$1\" 7777 </dev/null); echo \"VIRTKIT-NET-TCP ${r:-none}\" > /dev/ttyS0";

const NAT_NET: &str = "<network><name>lan</name><forward mode='nat'/><bridge name='vkbr0'/>
  <dns><host ip='10.250.0.2'><hostname>outside.test</hostname></host></dns>
  <ip address='192.168.150.1' netmask='255.255.255.0'><dhcp>
    <range start='192.168.150.10' end='192.168.150.20'/>
    <host mac='52:54:00:00:15:02' name='g2' ip='192.168.150.50'/>
  </dhcp></ip></network>";

#[test]
fn guests_on_a_nat_network_get_leases_resolve_names_and_reach_the_outside_behind_the_host() {
    let world = World::new();
    let d = Daemon::start_wrapped(world.host.wrapper(), &["--default-network", "no"]);
    let net = write(&d, "lan.xml", NAT_NET);
    ok(&d, &format!("net-define {}; net-start lan", net.display()));
    assert!(world.host.sh("ip -j addr show vkbr0").contains("192.168.150.1"));

    let (u1, u2) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let _reaper = Reaper(vec![u1.clone(), u2.clone()]);
    let (c1, c2) = (d.root().join("g1.console"), d.root().join("g2.console"));
    let s1 = format!(
        "a=$(nslookup outside.test | awk '/^Address/ {{a=$NF}} END {{print a}}')\n\
         echo \"VIRTKIT-NET-DNS $a\" > /dev/ttyS0\n\
         set -- \"$a\"; {REACH_OUTSIDE}\n\
         if ping -c 3 -W 2 192.168.150.50 >/dev/null; then p=ok; else p=fail; fi\n\
         echo \"VIRTKIT-NET-PING $p\" > /dev/ttyS0\n"
    );
    let x1 = write(&d, "g1.xml", &guest("g1", &u1, "52:54:00:00:15:01", ("network", "lan"), &c1, &s1));
    let x2 = write(&d, "g2.xml", &guest("g2", &u2, "52:54:00:00:15:02", ("network", "lan"), &c2, "true"));
    ok(&d, &format!("define {}; define {}; start g2; start g1", x2.display(), x1.display()));
    wait_for(&c2, &["VIRTKIT-GUEST-DHCP eth0 192.168.150.50/24 router=192.168.150.1"], Duration::from_secs(120));
    let text = wait_for(
        &c1,
        &["VIRTKIT-GUEST-DHCP eth0 192.168.150.", "VIRTKIT-NET-DNS", "VIRTKIT-NET-TCP", "VIRTKIT-NET-PING"],
        Duration::from_secs(120),
    );
    assert!(text.contains(&format!("VIRTKIT-NET-DNS {OUTSIDE_IP}")), "{text}");
    // The outside saw the host's address: masqueraded.
    assert!(text.contains(&format!("VIRTKIT-NET-TCP SEEN {HOST_IP}")), "{text}");
    assert!(text.contains("VIRTKIT-NET-PING ok"), "{text}");

    let leases = ok(&d, "net-dhcp-leases lan");
    assert!(leases.contains("52:54:00:00:15:01") && leases.contains("g1"), "{leases}");
    assert!(leases.contains("52:54:00:00:15:02") && leases.contains("192.168.150.50/24"), "{leases}");
    let addrs = ok(&d, "domifaddr g2");
    assert!(addrs.contains("vnet") && addrs.contains("192.168.150.50/24"), "{addrs}");
    // The taps are on the bridge, each guest's MAC with fe: in front.
    let links = world.host.sh("ip -j link show master vkbr0");
    assert!(links.contains("fe:54:00:00:15:01") && links.contains("fe:54:00:00:15:02"), "{links}");

    // A DNS host added live is answered at once, by the same dnsmasq
    // (reloaded, not restarted).
    let dnsmasq = || dnsmasqs_of(&d);
    let before = dnsmasq();
    assert_eq!(before.len(), 1, "not one dnsmasq: {before:?}");
    ok(&d, "net-update lan add dns-host \"<host ip='192.168.150.77'><hostname>db.test</hostname></host>\" --live");
    let answer = world.host.sh("busybox nslookup db.test 192.168.150.1 || true");
    assert!(answer.contains("192.168.150.77"), "{answer}");
    assert_eq!(dnsmasq(), before, "dnsmasq was restarted, not reloaded");

    ok(&d, "destroy g1; destroy g2; net-destroy lan");
    assert!(!world.host.try_sh("ip link show vkbr0").status.success(), "the bridge is still there");
    let table = world.host.try_sh("nft list table inet virtkit");
    assert!(!String::from_utf8_lossy(&table.stdout).contains("vkbr0"), "rules are left");
    assert_eq!(dnsmasqs_of(&d), Vec::<i32>::new(), "a dnsmasq is left");
}

#[test]
fn routed_isolated_and_host_bridge_networks_carry_what_their_mode_says() {
    let world = World::new();
    let d = Daemon::start_wrapped(world.host.wrapper(), &["--default-network", "no"]);
    // The outside knows the way back to the routed subnet.
    world.outside.sh(&format!("ip route add 192.168.160.0/24 via {HOST_IP}"));
    let routed = write(
        &d,
        "routed.xml",
        "<network><name>routed</name><forward mode='route'/><bridge name='vkbr1'/>
  <ip address='192.168.160.1' netmask='255.255.255.0'><dhcp><range start='192.168.160.10' end='192.168.160.20'/></dhcp></ip></network>",
    );
    let isolated = write(
        &d,
        "isolated.xml",
        "<network><name>isolated</name><bridge name='vkbr2'/>
  <ip address='192.168.170.1' netmask='255.255.255.0'><dhcp><range start='192.168.170.10' end='192.168.170.20'/>
    <host mac='52:54:00:00:17:02' ip='192.168.170.50'/></dhcp></ip></network>",
    );
    ok(
        &d,
        &format!(
            "net-define {}; net-start routed; net-define {}; net-start isolated",
            routed.display(),
            isolated.display()
        ),
    );

    let uuids: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let _reaper = Reaper(uuids.clone());
    let console = |n: &str| d.root().join(format!("{n}.console"));
    let outside = format!("set -- {OUTSIDE_IP}; {REACH_OUTSIDE}\n");
    let r1 = write(
        &d,
        "r1.xml",
        &guest("r1", &uuids[0], "52:54:00:00:16:01", ("network", "routed"), &console("r1"), &outside),
    );
    let i1_script = format!(
        "{outside}if ping -c 3 -W 2 192.168.170.50 >/dev/null; then p=ok; else p=fail; fi\n\
         echo \"VIRTKIT-NET-PING $p\" > /dev/ttyS0\n"
    );
    let i1 = write(
        &d,
        "i1.xml",
        &guest("i1", &uuids[1], "52:54:00:00:17:01", ("network", "isolated"), &console("i1"), &i1_script),
    );
    let i2 = write(
        &d,
        "i2.xml",
        &guest("i2", &uuids[2], "52:54:00:00:17:02", ("network", "isolated"), &console("i2"), "true"),
    );
    ok(
        &d,
        &format!(
            "define {}; define {}; define {}; start r1; start i2; start i1",
            r1.display(),
            i1.display(),
            i2.display()
        ),
    );
    // Routed: the outside sees the guest's own address.
    let text = wait_for(&console("r1"), &["VIRTKIT-NET-TCP"], Duration::from_secs(120));
    assert!(text.contains("VIRTKIT-NET-TCP SEEN 192.168.160.") && !text.contains(HOST_IP), "{text}");
    // Isolated: no way out, but the other guest answers.
    let text = wait_for(&console("i1"), &["VIRTKIT-NET-TCP", "VIRTKIT-NET-PING"], Duration::from_secs(120));
    assert!(text.contains("VIRTKIT-NET-TCP none"), "{text}");
    assert!(text.contains("VIRTKIT-NET-PING ok"), "{text}");
    ok(&d, "destroy r1; destroy i1; destroy i2");

    // Bridge mode: a bridge the host already has, with a DHCP server of
    // its own; virtkit only puts the guest's tap on it.
    world.host.sh("ip link add hostbr type bridge && ip addr add 192.168.180.1/24 dev hostbr && ip link set hostbr up");
    let mut dm = world
        .host
        .command("dnsmasq")
        .args(["--keep-in-foreground", "--conf-file=/dev/null", "--interface=hostbr", "--bind-interfaces"])
        .args(["--except-interface=lo", "--dhcp-range=192.168.180.10,192.168.180.20", "--port=0"])
        .arg(format!("--dhcp-leasefile={}", d.root().join("hostbr.leases").display()))
        .arg(format!("--pid-file={}", d.root().join("hostbr.pid").display()))
        .spawn()
        .unwrap();
    let bridged = write(
        &d,
        "bridged.xml",
        "<network><name>bridged</name><forward mode='bridge'/><bridge name='hostbr'/></network>",
    );
    ok(&d, &format!("net-define {}; net-start bridged", bridged.display()));
    let u = uuid::Uuid::new_v4().to_string();
    let _reaper2 = Reaper(vec![u.clone()]);
    let b1 = write(&d, "b1.xml", &guest("b1", &u, "52:54:00:00:18:01", ("network", "bridged"), &console("b1"), "true"));
    // And one straight on the host bridge, without a network.
    ok(&d, &format!("define {}; start b1", b1.display()));
    wait_for(&console("b1"), &["VIRTKIT-GUEST-DHCP eth0 192.168.180."], Duration::from_secs(120));
    assert!(world.host.sh("ip -j link show master hostbr").contains("fe:54:00:00:18:01"));
    ok(&d, "destroy b1; net-destroy bridged");
    assert!(world.host.try_sh("ip link show hostbr").status.success(), "net-destroy removed the host's own bridge");
    let _ = dm.kill();
    let _ = dm.wait();
}

#[test]
fn rules_come_back_after_a_flush_and_networks_outlive_a_kill_9_of_the_daemon() {
    let world = World::new();
    let mut d = Daemon::start_wrapped(world.host.wrapper(), &["--default-network", "no"]);
    let net = write(&d, "lan.xml", NAT_NET);
    ok(&d, &format!("net-define {}; net-start lan", net.display()));
    let u = uuid::Uuid::new_v4().to_string();
    let _reaper = Reaper(vec![u.clone()]);
    let console = d.root().join("g.console");
    // The guest asks the outside again and again: each answer on its console.
    let script = format!("while true; do set -- {OUTSIDE_IP}; {REACH_OUTSIDE}; sleep 1; done\n");
    let x = write(&d, "g.xml", &guest("g", &u, "52:54:00:00:15:09", ("network", "lan"), &console, &script));
    ok(&d, &format!("define {}; start g", x.display()));
    wait_for(&console, &[&format!("VIRTKIT-NET-TCP SEEN {HOST_IP}")], Duration::from_secs(120));

    // Another program flushes the whole ruleset: virtkit's table is back
    // within seconds, and the guest reaches the outside again.
    world.host.sh("nft flush ruleset");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !world.host.try_sh("nft list table inet virtkit").status.success()
        || !world.host.sh("nft list table inet virtkit").contains("vkbr0")
    {
        assert!(Instant::now() < deadline, "the rules did not come back:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // kill -9: the bridge, the rules, dnsmasq and the guest's tap stay and
    // carry its traffic; the next daemon manages the network.
    let dnsmasq = dnsmasqs_of(&d);
    d.kill9();
    let seen = |t: &str| t.matches(&format!("VIRTKIT-NET-TCP SEEN {HOST_IP}")).count();
    let before = seen(&std::fs::read_to_string(&console).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen(&std::fs::read_to_string(&console).unwrap()) < before + 2 {
        assert!(Instant::now() < deadline, "the guest lost the outside when the daemon died");
        std::thread::sleep(Duration::from_millis(200));
    }
    d.spawn();
    assert_eq!(dnsmasqs_of(&d), dnsmasq, "the network's dnsmasq did not outlive the daemon");
    let info = ok(&d, "net-info lan; net-dhcp-leases lan");
    assert!(info.contains("52:54:00:00:15:09"), "{info}");
    // Stopping the network under its guest leaves the guest's tap, detached.
    let tap = || world.host.sh("ip -o link show | grep -i 'fe:54:00:00:15:09' || true");
    assert!(tap().contains("master vkbr0"), "{}", tap());
    ok(&d, "net-destroy lan");
    assert!(!world.host.try_sh("ip link show vkbr0").status.success(), "the bridge is still there");
    let left = tap();
    assert!(left.contains("vnet") && !left.contains("master"), "{left}");
    ok(&d, "destroy g");
    assert_eq!(tap(), "", "the tap outlived its guest");
}

#[test]
fn bad_networks_are_refused_naming_the_clash_and_change_nothing() {
    let world = World::new();
    let d = Daemon::start_wrapped(world.host.wrapper(), &["--default-network", "no"]);
    let net = write(&d, "lan.xml", NAT_NET);
    ok(&d, &format!("net-define {}; net-start lan", net.display()));
    let links = || world.host.sh("ip -o link show | cut -d: -f2 | sort");
    let (links_before, list_before) = (links(), ok(&d, "net-list --all"));
    let cases: &[(&str, &str, &str)] = &[
        (
            "overlap",
            "<network><name>overlap</name><ip address='192.168.150.129' prefix='25'/></network>",
            "overlaps 192.168.150.0/24 of network 'lan'",
        ),
        (
            "routed-here",
            "<network><name>routed-here</name><forward mode='nat'/><ip address='10.250.0.129' prefix='25'/></network>",
            "is already routed on this host",
        ),
        ("taken", "<network><name>taken</name><bridge name='vk-out'/></network>", "bridge 'vk-out' is already in use"),
        (
            "range",
            "<network><name>range</name><ip address='192.168.190.1' prefix='24'><dhcp><range start='192.168.191.2' end='192.168.191.9'/></dhcp></ip></network>",
            "is not inside the network 192.168.190.0/24",
        ),
        (
            "dup-mac",
            "<network><name>dup-mac</name><ip address='192.168.191.1' prefix='24'><dhcp>
               <host mac='52:54:00:aa:00:01' ip='192.168.191.5'/><host mac='52:54:00:aa:00:01' ip='192.168.191.6'/></dhcp></ip></network>",
            "52:54:00:aa:00:01",
        ),
        (
            "dup-ip",
            "<network><name>dup-ip</name><ip address='192.168.192.1' prefix='24'><dhcp>
               <host mac='52:54:00:aa:00:01' ip='192.168.192.5'/><host mac='52:54:00:aa:00:02' ip='192.168.192.5'/></dhcp></ip></network>",
            "192.168.192.5",
        ),
    ];
    for (name, doc, says) in cases {
        let f = write(&d, &format!("{name}.xml"), doc);
        // Defined and started in one go (net-create), so that what only
        // the host shows (a route, a device) is checked too.
        let err = refused(&d, &format!("net-create {}", f.display()));
        assert!(err.contains(says), "{name}: {err}");
    }
    assert_eq!(links(), links_before, "a refused network left a device");
    assert_eq!(ok(&d, "net-list --all"), list_before);
}

#[test]
fn the_system_daemon_defines_a_default_network_on_a_free_subnet() {
    let world = World::new();
    // This host already routes libvirt's subnet.
    world.host.sh("ip route add 192.168.122.0/24 via 10.250.0.2");
    let mut d = Daemon::start_wrapped(world.host.wrapper(), &["--default-network", "yes"]);
    let info = ok(&d, "net-info default; net-dumpxml default");
    assert!(info.contains("192.168.123.1") && info.contains("virbr0"), "{info}");
    assert!(d.log().contains("192.168.122.0/24 is already routed"), "{}", d.log());
    assert!(world.host.sh("ip -j addr show virbr0").contains("192.168.123.1"));
    // Once only: an undefined default stays undefined.
    ok(&d, "net-destroy default; net-undefine default");
    d.kill9();
    d.spawn();
    let (code, _, err) = run(&d.uri("qemu"), "net-info default");
    assert_ne!(code, 0, "the default network came back");
    assert!(err.contains("default"), "{err}");
}
