//! Golden scripts of libvirt's network documents, and the firewall for real
//! in network namespaces of its own (never the host's ruleset).
//!
//! Each conformance document with rules has `testdata/NAME.nft` (the
//! script for it alone) or `NAME.err`; after a deliberate change,
//! `VIRTKIT_BLESS=1 cargo test -p virtkit-network firewall` regenerates
//! them: read the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use virtkit_model::network::{Nat, NatPortRange, Network};

use super::*;

fn conformance_dir() -> PathBuf {
    let dir = std::env::var_os("VIRTKIT_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    assert!(dir.join("network").is_dir(), "conformance data not found at {} (set VIRTKIT_CONFORMANCE)", dir.display());
    dir
}

/// Every network document of the conformance data (not libvirt's outputs),
/// with the name its golden file has.
fn documents() -> Vec<(String, Network)> {
    let root = conformance_dir().join("network");
    let mut out = Vec::new();
    for (dir, prefix) in [(root.clone(), ""), (root.join("firewall"), "firewall-")] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml") && !p.to_string_lossy().ends_with(".out.xml"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            let net = Network::from_xml(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let stem = p.file_stem().unwrap().to_string_lossy();
            out.push((format!("{prefix}{stem}"), net));
        }
    }
    assert!(out.len() >= 30, "network documents missing from {}", root.display());
    out
}

fn bridge_of(net: &Network) -> String {
    net.bridge.as_ref().and_then(|b| b.name.clone()).unwrap_or_else(|| "virbr0".to_string())
}

fn script_of(name: &str, r: &NetRules) -> String {
    rules::script(&vec![(name.to_string(), r.clone())])
}

fn doc(name: &str) -> Network {
    documents().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no document {name}")).1
}

#[test]
fn golden_scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/firewall/testdata");
    let bless = std::env::var_os("VIRTKIT_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let (mut failed, mut with_rules) = (Vec::new(), 0);
    for (name, net) in documents() {
        let (nft, err) = (dir.join(format!("{name}.nft")), dir.join(format!("{name}.err")));
        let got = match rules(&net, &bridge_of(&net)) {
            Ok(r) if r.is_empty() => None,
            Ok(r) => Some((nft.clone(), script_of(&net.name, &r))),
            Err(e) => Some((err.clone(), format!("{e}\n"))),
        };
        if bless {
            for f in [&nft, &err] {
                let _ = std::fs::remove_file(f);
            }
            if let Some((file, text)) = &got {
                std::fs::write(file, text).unwrap();
            }
            continue;
        }
        match got {
            None if nft.exists() || err.exists() => failed.push(format!("{name}: has no rules, but a golden file")),
            None => {}
            Some((file, text)) => {
                with_rules += 1;
                match std::fs::read_to_string(&file) {
                    Ok(want) if want == text => {}
                    Ok(want) => failed.push(format!("{}: differs:\n--- want\n{want}--- got\n{text}", file.display())),
                    Err(_) => failed.push(format!("{} is missing; it would hold:\n{text}", file.display())),
                }
            }
        }
    }
    assert!(failed.is_empty(), "{}\n(VIRTKIT_BLESS=1 regenerates them)", failed.join("\n"));
    assert!(bless || with_rules >= 20, "only {with_rules} documents have rules");
}

#[test]
fn nat_masquerades_the_subnet_except_multicast_and_broadcast() {
    let r = rules(&doc("firewall-nat-default"), "virbr0").unwrap();
    let s = script_of("default", &r);
    let nat: Vec<&str> = s.lines().skip_while(|l| !l.contains("chain virbr0-nat")).skip(1).map(str::trim).collect();
    let s24 = "192.168.122.0/24";
    assert_eq!(
        &nat[..5],
        [
            format!("ip saddr {s24} ip daddr 224.0.0.0/24 return"),
            format!("ip saddr {s24} ip daddr 255.255.255.255 return"),
            format!("meta l4proto tcp ip saddr {s24} ip daddr != {s24} masquerade to :1024-65535"),
            format!("meta l4proto udp ip saddr {s24} ip daddr != {s24} masquerade to :1024-65535"),
            format!("ip saddr {s24} ip daddr != {s24} masquerade"),
        ]
    );
    assert!(s.contains(&format!("ip daddr {s24} oifname \"virbr0\" ct state established,related accept")));
    assert!(r.ipv4_forwarding && !r.ipv6_forwarding);
}

#[test]
fn nat_address_and_port_ranges_are_snat_on_the_forward_device() {
    let r = rules(&doc("nat-network-forward-nat-address"), "virbr0").unwrap();
    let s = script_of("default", &r);
    assert!(s.contains(
        "meta l4proto udp ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 oifname \"eth1\" \
         snat ip to 10.20.30.40-10.20.30.44:60000-65432"
    ));
    assert!(s.contains(
        "ip saddr 192.168.123.0/24 ip daddr != 192.168.123.0/24 oifname \"eth1\" snat ip to 10.20.30.40-10.20.30.44\n"
    ));
    // A class A address alone is its natural /8; IPv6 is routed, not translated.
    assert!(s.contains("ip saddr 10.0.0.0/8 iifname \"virbr0\" oifname \"eth1\" accept"));
    assert!(s.contains("ip6 daddr 2001:db8:ac10:fe01::/64 iifname \"eth1\" oifname \"virbr0\" accept"));
    assert!(!s.contains("ip6 saddr 2001:db8:ac10:fe01::/64 ip6 daddr !="));
    assert!(r.ipv6_forwarding);
}

#[test]
fn ipv6_is_masqueraded_only_when_asked() {
    let s = script_of("default", &rules(&doc("firewall-nat-ipv6-masquerade"), "virbr0").unwrap());
    assert!(s.contains(
        "meta l4proto tcp ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr != 2001:db8:ca2:2::/64 masquerade to :1024-65535"
    ));
    assert!(s.contains("ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr ff02::/16 return"));
    assert!(s.contains("ip6 daddr 2001:db8:ca2:2::/64 oifname \"virbr0\" ct state established,related accept"));
    let plain = script_of("default", &rules(&doc("firewall-nat-ipv6"), "virbr0").unwrap());
    assert!(plain.contains("ip6 daddr 2001:db8:ca2:2::/64 oifname \"virbr0\" accept"));
    assert!(!plain.contains("ip6 saddr 2001:db8:ca2:2::/64 ip6 daddr"));
}

#[test]
fn route_isolated_and_open_modes() {
    let route = script_of("default", &rules(&doc("firewall-route-default"), "virbr0").unwrap());
    assert!(!route.contains("masquerade") && !route.contains("chain virbr0-nat"));
    assert!(route.contains("ip daddr 192.168.122.0/24 oifname \"virbr0\" accept"));
    assert!(route.contains("ip saddr 192.168.122.0/24 iifname \"virbr0\" accept"));

    let iso = rules(&doc("isolated-network"), "virbr9").unwrap();
    let s = script_of("private", &iso);
    assert!(s.contains("iifname \"virbr9\" oifname \"virbr9\" accept"));
    assert!(s.contains("oifname \"virbr9\" reject") && s.contains("iifname \"virbr9\" reject"));
    assert!(!s.contains("saddr") && !s.contains("daddr"), "isolated: no subnet goes anywhere:\n{s}");
    assert!(!iso.ipv4_forwarding && !iso.ipv6_forwarding);

    let open = rules(&doc("open-network"), "virbr0").unwrap();
    assert!(open.is_empty() && open.ipv4_forwarding);
    assert!(rules(&doc("host-bridge-net"), "br0").unwrap().is_empty());
}

#[test]
fn what_cannot_be_a_rule_is_refused_by_name() {
    let mut net = doc("firewall-nat-default");
    let e = rules(&net, "vir\"br").unwrap_err();
    assert_eq!(e.to_string(), "bridge name 'vir\"br' cannot be used in nftables rules");
    let mut nat = Nat::default();
    nat.port = Some(NatPortRange::new(2000, 1000));
    net.forward.as_mut().unwrap().nat = Some(nat);
    assert_eq!(rules(&net, "virbr0").unwrap_err().to_string(), "nat port range 2000-1000 is not increasing");
}

#[test]
fn no_rules_leaves_only_the_delete() {
    assert_eq!(rules::script(&Vec::new()), "table inet virtkit\ndelete table inet virtkit\n");
}

#[test]
fn a_bridge_serves_one_network() {
    let fw = Firewall::new(Duration::from_secs(1));
    let r = rules(&doc("firewall-nat-default"), "virbr0").unwrap();
    fw.set("a", r.clone()).unwrap();
    fw.set("a", r.clone()).unwrap();
    let e = fw.set("b", r).unwrap_err();
    assert_eq!(e.to_string(), "bridge 'virbr0' is already used by network 'a'");
}

/// Runs `f` on a current-thread runtime in a thread in a new network
/// namespace (what it spawns, nft included, is inside too).
fn in_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a network namespace (root?)");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(f());
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

async fn sh_nft(args: &[&str], stdin: Option<&str>) -> String {
    nft(args, stdin).await.unwrap_or_else(|e| panic!("nft {args:?}: {}", ErrorChain(&e)))
}

#[test]
fn netns_tables_follow_the_networks_and_others_survive() {
    in_netns(|| async {
        sh_nft(&["-f", "-"], Some("table ip other {\n\tchain c {\n\t\tip saddr 10.9.9.9 drop\n\t}\n}\n")).await;
        let other = sh_nft(&["list", "table", "ip", "other"], None).await;
        let fw = Firewall::new(Duration::from_secs(1));
        fw.set("default", rules(&doc("firewall-nat-default"), "virbr0").unwrap()).unwrap();
        fw.set("local", rules(&doc("routed-network"), "virbr1").unwrap()).unwrap();
        fw.apply().await.unwrap();
        let both = list().await.unwrap().expect("table after apply");
        for chain in ["virbr0-fwx", "virbr0-fwi", "virbr0-fwo", "virbr0-nat", "virbr1-fwx", "virbr1-fwi", "virbr1-fwo"]
        {
            assert!(both.contains(&format!("chain {chain} {{")), "{chain} missing:\n{both}");
        }
        assert!(both.contains("oifname \"eth1\" accept"), "route via its device:\n{both}");
        assert_eq!(sh_nft(&["list", "table", "ip", "other"], None).await, other);

        fw.remove("local");
        fw.apply().await.unwrap();
        let one = list().await.unwrap().expect("table after remove");
        assert!(!one.contains("virbr1"), "virbr1 left:\n{one}");
        assert!(one.contains("chain virbr0-nat {"));
        assert_eq!(sh_nft(&["list", "table", "ip", "other"], None).await, other);

        fw.remove("default");
        fw.apply().await.unwrap();
        assert_eq!(list().await.unwrap(), None);
        assert_eq!(sh_nft(&["list", "table", "ip", "other"], None).await, other);
        // Applying with no table at all works too.
        fw.apply().await.unwrap();
    });
}

#[test]
fn netns_networks_added_in_place_list_as_the_whole_table_would() {
    in_netns(|| async {
        let fw = Firewall::new(Duration::from_secs(1));
        let docs = [
            ("a", "firewall-nat-default", "virbr0"),
            ("b", "routed-network", "virbr1"),
            ("c", "isolated-network", "virbr2"),
        ];
        let mut nets = Vec::new();
        for (name, d, br) in docs {
            let r = rules(&doc(d), br).unwrap();
            // The second and third go in with additions only.
            if !nets.is_empty() {
                assert!(rules::addition(&nets, &r).is_some(), "{name}: no addition");
            }
            nets.push((name.to_string(), r.clone()));
            fw.put(name, r).await.unwrap();
            assert_eq!(list().await.unwrap(), rules::table(&nets), "after {name}");
        }
        // A table changed behind our back: the addition is not tried on
        // it blindly; the whole table is written.
        sh_nft(&["flush", "ruleset"], None).await;
        let r = rules(&doc("firewall-route-default"), "virbr3").unwrap();
        nets.push(("d".to_string(), r.clone()));
        fw.put("d", r).await.unwrap();
        assert_eq!(list().await.unwrap(), rules::table(&nets));
        fw.remove("b");
        fw.apply().await.unwrap();
        nets.retain(|(n, _)| n != "b");
        assert_eq!(list().await.unwrap(), rules::table(&nets));
    });
}

#[test]
fn netns_watcher_restores_a_flushed_or_changed_table() {
    in_netns(|| async {
        let fw = Firewall::new(Duration::from_millis(100));
        fw.set("default", rules(&doc("firewall-nat-ipv6"), "virbr0").unwrap()).unwrap();
        fw.apply().await.unwrap();
        let want = list().await.unwrap().unwrap();
        let _watch = fw.watch();

        sh_nft(&["flush", "ruleset"], None).await;
        wait_for(&want).await;

        sh_nft(&["flush", "chain", "inet", "virtkit", "virbr0-nat"], None).await;
        assert_ne!(list().await.unwrap().as_ref(), Some(&want));
        wait_for(&want).await;
    });
}

/// Waits up to 10 s (a loaded CI machine runs nft slowly) for the table
/// to list as `want`; the watcher looks every 100 ms.
async fn wait_for(want: &str) {
    let start = Instant::now();
    loop {
        if list().await.unwrap().as_deref() == Some(want) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "table not restored in 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn netns_every_document_loads() {
    in_netns(|| async {
        let fw = Firewall::new(Duration::from_secs(1));
        let mut loaded = 0;
        for (name, net) in documents() {
            let Ok(r) = rules(&net, &bridge_of(&net)) else { continue };
            if r.is_empty() {
                continue;
            }
            fw.set(&name, r.clone()).unwrap();
            fw.apply().await.unwrap_or_else(|e| panic!("{name}: {}", ErrorChain(&e)));
            // nft lists the table exactly as virtkit wrote it: what the
            // watcher compares with, without listing after each write.
            let want = rules::table(&vec![(name.clone(), r)]);
            assert_eq!(list().await.unwrap(), want, "{name}");
            fw.remove(&name);
            loaded += 1;
        }
        assert!(loaded >= 20);
    });
}

#[test]
fn netns_forwarding_is_enabled_as_the_network_needs() {
    in_netns(|| async {
        let read = |p: &str| std::fs::read_to_string(p).unwrap().trim().to_string();
        assert_eq!(read("/proc/sys/net/ipv4/ip_forward"), "0");
        enable_forwarding(&rules(&doc("firewall-nat-default"), "virbr0").unwrap()).unwrap();
        assert_eq!(read("/proc/sys/net/ipv4/ip_forward"), "1");
        if Path::new("/proc/sys/net/ipv6/conf/all/forwarding").exists() {
            assert_eq!(read("/proc/sys/net/ipv6/conf/all/forwarding"), "0");
            enable_forwarding(&rules(&doc("firewall-nat-ipv6"), "virbr0").unwrap()).unwrap();
            assert_eq!(read("/proc/sys/net/ipv6/conf/all/forwarding"), "1");
        }
    });
}

/// A network namespace of a parked thread, for a guest or the outside.
struct Ns {
    tid: i32,
    fd: std::fs::File,
    _park: std::sync::mpsc::Sender<()>,
}

impl Ns {
    fn new() -> Ns {
        let (tx, rx) = std::sync::mpsc::channel();
        let (park, wait) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let fd = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
            tx.send((nix::unistd::gettid().as_raw(), fd)).unwrap();
            let _ = wait.recv();
        });
        let (tid, fd) = rx.recv().unwrap();
        Ns { tid, fd, _park: park }
    }

    /// Runs `f` on a thread inside this namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let fd = self.fd.try_clone().unwrap();
        std::thread::spawn(move || {
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

/// Runs `ip` with `args` (a line of words) in the calling thread's namespace.
fn ip(args: &str) {
    let out = std::process::Command::new("ip").args(args.split_whitespace()).output().unwrap();
    assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The peer of the first connection `l` accepts within 5 s.
fn accept_within(l: &std::net::TcpListener) -> Option<std::net::SocketAddr> {
    l.set_nonblocking(true).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok((_, peer)) = l.accept() {
            return Some(peer);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn connect(to: &str) -> std::io::Result<std::net::TcpStream> {
    std::net::TcpStream::connect_timeout(&to.parse().unwrap(), Duration::from_secs(3))
}

/// A guest behind virbr0 and a host outside: nat masquerades the guest's
/// connections out and refuses new ones in; route lets them in untranslated.
#[test]
fn netns_packets_are_masqueraded_and_routed() {
    in_netns(|| async {
        let (guest, outside) = (Ns::new(), Ns::new());
        for a in [
            "link set lo up",
            "link add virbr0 type bridge",
            "addr add 192.168.122.1/24 dev virbr0",
            "link set virbr0 up",
            "link add vk-g1 type veth peer name vk-g0",
            &format!("link set vk-g0 netns {}", guest.tid),
            "link set vk-g1 master virbr0 up",
            "link add vk-o1 type veth peer name vk-o0",
            &format!("link set vk-o0 netns {}", outside.tid),
            "addr add 203.0.113.1/24 dev vk-o1",
            "link set vk-o1 up",
        ] {
            ip(a);
        }
        guest.run(|| {
            for a in ["link set lo up", "addr add 192.168.122.10/24 dev vk-g0", "link set vk-g0 up"] {
                ip(a);
            }
            ip("route add default via 192.168.122.1");
        });
        // The outside has no route to the guests: only translated traffic comes back.
        outside.run(|| ["link set lo up", "addr add 203.0.113.2/24 dev vk-o0", "link set vk-o0 up"].map(ip));

        let nat = rules(&doc("firewall-nat-default"), "virbr0").unwrap();
        enable_forwarding(&nat).unwrap();
        let l = outside.run(|| std::net::TcpListener::bind("203.0.113.2:8080").unwrap());
        let quick =
            || std::net::TcpStream::connect_timeout(&"203.0.113.2:8080".parse().unwrap(), Duration::from_secs(1));
        assert!(guest.run(quick).is_err(), "without the table, replies have no way back");

        let fw = Firewall::new(Duration::from_secs(1));
        fw.set("default", nat).unwrap();
        fw.apply().await.unwrap();
        guest.run(|| connect("203.0.113.2:8080")).expect("guest reaches the outside");
        let peer = accept_within(&l).expect("outside accepted");
        assert_eq!(peer.ip().to_string(), "203.0.113.1", "masqueraded behind the host");
        assert!(peer.port() >= 1024);

        outside.run(|| ip("route add 192.168.122.0/24 via 203.0.113.1"));
        let gl = guest.run(|| std::net::TcpListener::bind("192.168.122.10:8080").unwrap());
        assert!(outside.run(|| connect("192.168.122.10:8080")).is_err(), "nat: new connections in are refused");

        fw.set("default", rules(&doc("firewall-route-default"), "virbr0").unwrap()).unwrap();
        fw.apply().await.unwrap();
        outside.run(|| connect("192.168.122.10:8080")).expect("route: the outside reaches the guest");
        let peer = accept_within(&gl).expect("guest accepted");
        assert_eq!(peer.ip().to_string(), "203.0.113.2", "routed untranslated");
    });
}
