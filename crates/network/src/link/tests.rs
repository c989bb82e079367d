//! Tests in network namespaces of their own: each runs on a thread that
//! unshared its network namespace, so nothing touches the host's.

use std::future::Future;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::*;

/// Runs `f` on a fresh thread in a fresh network namespace, on a tokio
/// current-thread runtime there.
fn in_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare netns");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(f());
    })
    .join()
    .expect("test thread panicked");
}

/// Runs `ip ARGS` (in this thread's namespace) and parses its JSON.
fn ip_json(args: &[&str]) -> Value {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("ip json")
}

/// Runs `ip ARGS` and insists it succeeds.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `ip -d -j link show NAME`'s one object.
fn link_json(name: &str) -> Value {
    ip_json(&["-d", "-j", "link", "show", "dev", name])[0].clone()
}

/// The link names in the namespace.
fn link_names() -> Vec<String> {
    ip_json(&["-j", "link", "show"])
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

/// Whether `ip -j` flags of a link include UP.
fn flags_up(link: &Value) -> bool {
    link["flags"].as_array().expect("flags").iter().any(|f| f == "UP")
}

fn bridge(name: &str) -> BridgeSpec {
    BridgeSpec {
        name: name.to_string(),
        mac: None,
        mtu: None,
        stp: false,
        forward_delay: Duration::ZERO,
        addresses: Vec::new(),
    }
}

fn tap(name: &str, bridge: &str) -> TapRequest {
    TapRequest {
        name: name.to_string(),
        guest_mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        bridge: bridge.to_string(),
        mtu: None,
        isolated: false,
    }
}

#[test]
fn a_bridge_has_its_mac_mtu_stp_and_addresses_and_a_taken_name_is_refused() {
    in_netns(|| async {
        let nl = Netlink::new().expect("netlink");
        let v4: IpAddr = "192.168.150.1".parse().expect("ip");
        let v6: IpAddr = "fd00:150::1".parse().expect("ip");
        let spec = BridgeSpec {
            mac: Some([0x52, 0x54, 0x00, 0xaa, 0xbb, 0x01]),
            mtu: Some(1400),
            stp: true,
            forward_delay: Duration::from_secs(3),
            addresses: vec![(v4, 24), (v6, 64)],
            ..bridge("vkbr0")
        };
        nl.create_bridge(&spec).await.expect("create bridge");

        assert!(nl.link_exists("vkbr0").await.expect("exists"));
        assert!(nl.is_bridge("vkbr0").await.expect("is bridge"));
        assert!(!nl.is_bridge("lo").await.expect("lo"));
        assert!(!nl.is_bridge("nothere").await.expect("absent"));
        assert_eq!(nl.master_of("vkbr0").await.expect("master"), None);
        let addrs = nl.addresses("vkbr0").await.expect("addresses");
        assert!(addrs.contains(&(v4, 24)), "{addrs:?}");
        assert!(addrs.contains(&(v6, 64)), "{addrs:?}");

        let link = link_json("vkbr0");
        assert_eq!(link["address"], "52:54:00:aa:bb:01");
        assert_eq!(link["mtu"], 1400);
        assert!(flags_up(&link), "{link}");
        assert_eq!(link["linkinfo"]["info_kind"], "bridge");
        assert_eq!(link["linkinfo"]["info_data"]["stp_state"], 1);
        assert_eq!(link["linkinfo"]["info_data"]["forward_delay"], 300);
        let addr = ip_json(&["-j", "addr", "show", "dev", "vkbr0"]);
        let infos = addr[0]["addr_info"].as_array().expect("addr_info");
        let has = |local: &str, len: u64| infos.iter().any(|a| a["local"] == local && a["prefixlen"] == len);
        assert!(has("192.168.150.1", 24), "{addr}");
        assert!(has("fd00:150::1", 64), "{addr}");

        // The same name again: refused, and the existing bridge is untouched.
        let again = BridgeSpec { mtu: Some(1300), addresses: vec![], ..bridge("vkbr0") };
        let err = nl.create_bridge(&again).await.expect_err("taken name");
        assert!(matches!(err, LinkError::Exists { ref device } if device == "vkbr0"), "{err:?}");
        let link = link_json("vkbr0");
        assert_eq!(link["mtu"], 1400);
        assert_eq!(link["address"], "52:54:00:aa:bb:01");
        assert!(nl.addresses("vkbr0").await.expect("addresses").contains(&(v4, 24)));
        // A name taken by a device of another kind is refused as well.
        let err = nl.create_bridge(&bridge("lo")).await.expect_err("lo");
        assert!(matches!(err, LinkError::Exists { .. }), "{err:?}");

        nl.delete_link("vkbr0").await.expect("delete");
        assert!(!nl.link_exists("vkbr0").await.expect("exists"));
        assert!(!link_names().contains(&"vkbr0".to_string()));
        nl.delete_link("vkbr0").await.expect("deleting an absent link is fine");
    });
}

#[test]
fn a_failed_bridge_is_removed_and_bad_names_are_refused() {
    in_netns(|| async {
        let nl = Netlink::new().expect("netlink");
        // An IPv4 prefix of 33 is refused by the kernel after the bridge exists.
        let bad = BridgeSpec { addresses: vec![("10.9.0.1".parse().expect("ip"), 33)], ..bridge("vkbad0") };
        let err = nl.create_bridge(&bad).await.expect_err("bad prefix");
        assert!(matches!(err, LinkError::Netlink { ref device, .. } if device == "vkbad0"), "{err:?}");
        assert!(!link_names().contains(&"vkbad0".to_string()), "{:?}", link_names());

        for name in ["", "abcdefghijklmnop", "a/b", "a b", "a:b"] {
            let err = nl.create_bridge(&bridge(name)).await.expect_err(name);
            assert!(matches!(err, LinkError::InvalidName { .. }), "{name}: {err:?}");
        }
        // 15 bytes is the longest name the kernel takes.
        nl.create_bridge(&bridge("abcdefghijklmno")).await.expect("15 bytes");
        assert!(nl.is_bridge("abcdefghijklmno").await.expect("is bridge"));
        let link = link_json("abcdefghijklmno");
        assert_eq!(link["linkinfo"]["info_data"]["stp_state"], 0);
        assert!(flags_up(&link));
    });
}

#[test]
fn a_tap_joins_its_bridge_with_the_fe_mac_and_goes_with_its_fd() {
    in_netns(|| async {
        let nl = Netlink::new().expect("netlink");
        nl.create_bridge(&BridgeSpec { mtu: Some(1450), ..bridge("vkbr1") }).await.expect("bridge");

        let (name, fd) = nl.create_tap(&TapRequest { isolated: true, ..tap("vnet%d", "vkbr1") }).await.expect("tap");
        assert_eq!(name, "vnet0");
        let fdflags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).expect("getfd");
        assert!(fdflags & nix::libc::FD_CLOEXEC != 0, "fd {} is not close-on-exec", fd.as_raw_fd());
        assert_eq!(nl.master_of("vnet0").await.expect("master").as_deref(), Some("vkbr1"));
        assert!(!nl.is_bridge("vnet0").await.expect("is bridge"));
        let link = link_json("vnet0");
        assert_eq!(link["address"], "fe:54:00:12:34:56");
        assert_eq!(link["mtu"], 1450);
        assert_eq!(link["master"], "vkbr1");
        assert_eq!(link["linkinfo"]["info_kind"], "tun");
        assert_eq!(link["linkinfo"]["info_slave_data"]["isolated"], true);
        assert!(flags_up(&link), "{link}");
        assert!(nl.get("vnet0").await.expect("get").is_some_and(|l| is_up(&l)));

        // The next one takes vnet1; its MTU is the one asked for, not isolated.
        let (name1, fd1) =
            nl.create_tap(&TapRequest { mtu: Some(1400), ..tap("vnet%d", "vkbr1") }).await.expect("tap 1");
        assert_eq!(name1, "vnet1");
        let link = link_json("vnet1");
        assert_eq!(link["mtu"], 1400);
        assert_eq!(link["master"], "vkbr1");
        assert_eq!(link["linkinfo"]["info_slave_data"]["isolated"], false);
        // A port of a smaller MTU does not lower the bridge's: it was set.
        assert_eq!(link_json("vkbr1")["mtu"], 1450);

        drop(fd);
        assert!(!nl.link_exists("vnet0").await.expect("exists"), "{:?}", link_names());
        assert!(nl.link_exists("vnet1").await.expect("exists"));
        // vnet0 is free again, so the template picks it.
        let (name0, fd0) = nl.create_tap(&tap("vnet%d", "vkbr1")).await.expect("tap again");
        assert_eq!(name0, "vnet0");
        drop(fd0);
        drop(fd1);
        assert!(!link_names().iter().any(|n| n.starts_with("vnet")), "{:?}", link_names());
        nl.delete_link("vkbr1").await.expect("delete bridge");
    });
}

#[test]
fn an_exact_tap_name_is_kept_a_taken_one_refused_and_a_failure_leaves_nothing() {
    in_netns(|| async {
        let nl = Netlink::new().expect("netlink");
        nl.create_bridge(&bridge("vkbr2")).await.expect("bridge");

        let (name, _fd) = nl.create_tap(&tap("guest-nic0", "vkbr2")).await.expect("tap");
        assert_eq!(name, "guest-nic0");
        // Taken by a live tap: refused, the first one untouched.
        let other = TapRequest { guest_mac: [2, 0, 0, 0, 0, 9], ..tap("guest-nic0", "vkbr2") };
        let err = nl.create_tap(&other).await.expect_err("taken");
        assert!(matches!(err, LinkError::Exists { .. }), "{err:?}");
        let link = link_json("guest-nic0");
        assert_eq!(link["address"], "fe:54:00:12:34:56");
        assert_eq!(link["master"], "vkbr2");
        // Taken by a device of another kind.
        let err = nl.create_tap(&tap("vkbr2", "vkbr2")).await.expect_err("taken by bridge");
        assert!(matches!(err, LinkError::Exists { .. }), "{err:?}");
        assert!(nl.is_bridge("vkbr2").await.expect("still a bridge"));

        let before = link_names();
        let err = nl.create_tap(&tap("abcdefghijklmnop", "vkbr2")).await.expect_err("16 bytes");
        assert!(matches!(err, LinkError::InvalidName { .. }), "{err:?}");
        let err = nl.create_tap(&tap("vnet%d", "nosuchbr")).await.expect_err("no bridge");
        assert!(matches!(err, LinkError::NotFound { ref device } if device == "nosuchbr"), "{err:?}");
        // An MTU the kernel refuses fails after the tap exists: it goes away.
        let err = nl.create_tap(&TapRequest { mtu: Some(20), ..tap("vnet%d", "vkbr2") }).await;
        assert!(matches!(err, Err(LinkError::Netlink { ref device, .. }) if device == "vnet0"), "{err:?}");
        assert_eq!(link_names(), before);
    });
}

#[test]
fn routes_lists_the_main_table_with_devices() {
    in_netns(|| async {
        let nl = Netlink::new().expect("netlink");
        // No dummy module here: an empty bridge (up, no carrier) carries them.
        nl.create_bridge(&bridge("d0")).await.expect("bridge");
        ip(&["route", "add", "10.77.0.0/16", "dev", "d0"]);
        ip(&["-6", "route", "add", "fd77::/64", "dev", "d0"]);
        ip(&["route", "add", "10.78.0.0/16", "dev", "d0", "table", "100"]);
        let routes = nl.routes().await.expect("routes");
        let want = |dest: &str, prefix: u8| Route {
            destination: dest.parse().expect("ip"),
            prefix,
            device: Some("d0".to_string()),
        };
        assert!(routes.contains(&want("10.77.0.0", 16)), "{routes:?}");
        assert!(routes.contains(&want("fd77::", 64)), "{routes:?}");
        // Only the main table: a route of table 100 is not listed.
        assert!(!routes.iter().any(|r| r.destination == "10.78.0.0".parse::<IpAddr>().expect("ip")));
        ip(&["route", "add", "default", "dev", "d0"]);
        let routes = nl.routes().await.expect("routes");
        assert!(routes.contains(&want("0.0.0.0", 0)), "{routes:?}");
    });
}

#[test]
fn the_tap_mac_is_the_guest_mac_with_fe_first() {
    assert_eq!(tap_mac([0x52, 0x54, 0, 1, 2, 3]), [0xfe, 0x54, 0, 1, 2, 3]);
    assert_eq!(tap_mac([0xfe, 0, 0, 0, 0, 1]), [0xfe, 0, 0, 0, 0, 1]);
}

#[test]
fn vhost_net_is_available_exactly_when_its_device_node_is_there() {
    // Tests run as root, so an existing node opens unless the module is gone.
    let node = std::path::Path::new("/dev/vhost-net");
    assert_eq!(vhost_net_available(), node.exists(), "/dev/vhost-net exists: {}", node.exists());
}
