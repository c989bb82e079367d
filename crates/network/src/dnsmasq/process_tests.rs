//! dnsmasq for real, in a network namespace of the test's own (never the
//! host's): a bridge with an address, dnsmasq with DHCP and DNS on it,
//! reload, find, stop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use virtkit_model::network::{DnsHost, Network};

use super::super::{Files, find, leases, needs_dnsmasq, start};

/// Runs `f` on a thread in a new network namespace, in a tokio runtime.
fn in_netns<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        let host_ns = std::fs::metadata("/proc/1/ns/net").map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) (needs root)");
        let ours = std::fs::metadata("/proc/thread-self/ns/net").map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        assert_ne!(host_ns.ok(), ours.ok(), "not in a namespace of our own");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(f());
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn ip(args: &str) {
    let out = Command::new("ip").args(args.split(' ')).output().expect("ip (iproute2) runs");
    assert!(out.status.success(), "ip {args}: {}", String::from_utf8_lossy(&out.stderr));
}

fn network() -> Network {
    Network::from_xml(
        "<network><name>vktest</name><bridge name='vkt0'/><forward mode='nat'/>\
         <ip address='10.77.0.1' netmask='255.255.255.0'><dhcp>\
         <range start='10.77.0.10' end='10.77.0.20'/>\
         <host mac='52:54:00:00:00:07' name='seven' ip='10.77.0.7'/>\
         </dhcp></ip></network>",
    )
    .unwrap()
}

/// UDP sockets in the namespace bound to `port` (from /proc/PID/net/udp).
fn udp_ports(pid: u32) -> Vec<u16> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/udp")).unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1)?.split_once(':').map(|(_, p)| p.to_owned()))
        .filter_map(|p| u16::from_str_radix(&p, 16).ok())
        .collect()
}

/// Asks the DNS server at `server` for the A record of `name`.
fn resolve(server: Ipv4Addr, name: &str) -> Option<Ipv4Addr> {
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sock.send_to(&q, (server, 53)).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).ok()?;
    let r = &buf[..n];
    // No error, at least one answer: a single A record ends the message.
    (n > 16 && r[..2] == [0x12, 0x34] && r[3] & 0x0f == 0 && r[7] > 0)
        .then(|| Ipv4Addr::new(r[n - 4], r[n - 3], r[n - 2], r[n - 1]))
}

#[test]
fn start_reload_find_stop_in_a_namespace() {
    in_netns(|| async {
        ip("link set lo up");
        ip("link add vkt0 type bridge");
        ip("addr add 10.77.0.1/24 dev vkt0");
        ip("link set vkt0 up");
        let tmp = tempfile::tempdir().unwrap();
        // dnsmasq drops root: it must be able to reach its hosts files.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tmp.path().join("dnsmasq");
        let mut net = network();
        assert!(needs_dnsmasq(&net));
        let files = Files::new(&dir, &net.name).unwrap();

        let d = start(&net, &files).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(d.id.is_alive());
        assert_eq!(std::fs::read_to_string(&files.pid).unwrap().trim(), d.id.pid.to_string());
        let ports = udp_ports(d.id.pid);
        assert!(ports.contains(&53) && ports.contains(&67), "DNS and DHCP sockets: {ports:?}");
        assert!(files.leases.exists(), "dnsmasq made its lease file");
        assert_eq!(std::fs::read_to_string(&files.hostsfile).unwrap(), "52:54:00:00:00:07,10.77.0.7,seven\n");
        assert_eq!(resolve(Ipv4Addr::new(10, 77, 0, 1), "added"), None, "not known yet");

        // A client on the bridge gets its static address, and the lease
        // file says so.
        ip("link add vkc type veth peer name vkcp");
        ip("link set vkcp master vkt0");
        ip("link set vkc address 52:54:00:00:00:07");
        ip("link set vkcp up");
        ip("link set vkc up");
        // No script: it would configure the host (resolv.conf).
        let out = Command::new("timeout")
            .args(["20", "busybox", "udhcpc", "-i", "vkc", "-n", "-q", "-f", "-t", "10", "-T", "1", "-s", "/bin/true"])
            .args(["-x", "hostname:client1"])
            .output()
            .expect("busybox runs");
        assert!(
            out.status.success(),
            "udhcpc: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got = Vec::new();
        for _ in 0..50 {
            got = leases(&files.leases, &net);
            if !got.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(got.len(), 1, "{got:?} from {:?}", std::fs::read_to_string(&files.leases));
        assert_eq!(got[0].mac.to_string(), "52:54:00:00:00:07");
        assert_eq!(got[0].ip.to_string(), "10.77.0.7");
        assert_eq!((got[0].iface.as_str(), got[0].prefix), ("vkt0", 24));
        assert_eq!(got[0].hostname.as_deref(), Some("seven"), "the static host's name");
        assert_eq!(got[0].client_id.as_deref(), Some("01:52:54:00:00:00:07"));
        assert!(got[0].expiry.is_some_and(|t| t > 1_700_000_000), "{got:?}");

        // A DNS host and a DHCP host more: SIGHUP, not a restart.
        net.dns = Some(
            virtkit_model::network::Dns::default().with_host(DnsHost::new("10.77.0.99".parse().unwrap(), ["added"])),
        );
        let host = net.ips[0].dhcp.as_ref().unwrap().hosts[0].clone();
        let mut eight = host.clone();
        eight.mac = Some("52:54:00:00:00:08".parse().unwrap());
        eight.ip = "10.77.0.8".parse().unwrap();
        eight.name = Some("eight".into());
        net.ips[0].dhcp.as_mut().unwrap().hosts.push(eight);
        assert!(!d.reload(&net).unwrap(), "the conf is the same");
        assert!(d.id.is_alive());
        assert!(std::fs::read_to_string(&files.hostsfile).unwrap().contains("52:54:00:00:00:08,10.77.0.8,eight\n"));
        let mut answer = None;
        for _ in 0..50 {
            answer = resolve(Ipv4Addr::new(10, 77, 0, 1), "added");
            if answer.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(answer, Some(Ipv4Addr::new(10, 77, 0, 99)), "dnsmasq reread its addnhosts");
        let log = std::fs::read_to_string(&files.log).unwrap();
        assert!(log.contains(&format!("read {} - 1 names", files.addnhosts.display())), "{log}");
        let mut renamed = net.clone();
        renamed.domain = Some(virtkit_model::network::NetworkDomain::new("example.org"));
        assert!(d.reload(&renamed).unwrap(), "a conf change needs a restart");

        // Found again from its pid file, and only it.
        assert_eq!(find(&files).as_ref(), Some(&d));
        let other = Files::new(&dir, "other").unwrap();
        std::fs::write(&other.pid, d.id.pid.to_string()).unwrap();
        assert!(find(&other).is_none(), "a dnsmasq of another conf is not adopted");
        std::fs::write(&other.pid, std::process::id().to_string()).unwrap();
        assert!(find(&other).is_none(), "a process that is not dnsmasq is not adopted");
        std::fs::remove_file(&other.pid).unwrap();

        // Not twice for one conf; a second one on the same address cannot
        // start, and says why.
        let e = start(&net, &files).await.unwrap_err().to_string();
        assert!(e.contains(&format!("a dnsmasq (pid {}) already runs", d.id.pid)), "{e}");
        assert!(files.conf.exists(), "the running one keeps its files");
        let mut twin = network();
        twin.name = "twin".into();
        let twin_files = Files::new(&dir, &twin.name).unwrap();
        let e = start(&twin, &twin_files).await.unwrap_err().to_string();
        assert!(e.contains("Address in use") || e.contains("Address already in use"), "{e}");
        assert!(!twin_files.conf.exists() && !twin_files.pid.exists(), "a failed start leaves nothing");

        d.stop().await.unwrap();
        assert!(!d.id.is_alive());
        assert!(!Path::new(&format!("/proc/{}", d.id.pid)).exists() || !d.id.is_alive());
        assert!(find(&files).is_none());
        assert!(d.reload(&net).unwrap_err().to_string().contains("is not running"));
        let mut left: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["vktest.leases"], "only the leases stay");
        assert!(udp_ports(std::process::id()).is_empty(), "no socket left in the namespace");
    });
}
