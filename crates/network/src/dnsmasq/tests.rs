//! Golden tests: libvirt's own networkxml2conftest files
//! (../shared/conformance/network/dnsmasq: NAME.xml → NAME.conf and
//! NAME.hostsfile, never rewritten) and files of our own for the DNS hosts
//! file (crates/network/testdata/dnsmasq/NAME.addnhosts). After a
//! deliberate change, regenerate ours with
//! `VIRTKIT_BLESS=1 cargo test -p virtkit-network dnsmasq` and read the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use virtkit_model::network::{DhcpRange, DnsHost, Forward, ForwardMode, Network, NetworkIp};

use super::*;

fn conformance_dir() -> PathBuf {
    let dir = std::env::var_os("VIRTKIT_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    let dir = dir.join("network/dnsmasq");
    assert!(dir.is_dir(), "conformance data not found at {} (set VIRTKIT_CONFORMANCE)", dir.display());
    dir
}

fn read_net(path: &Path) -> Network {
    Network::from_xml(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn golden_conf_hostsfile_addnhosts() {
    let dir = conformance_dir();
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dnsmasq");
    let bless = std::env::var_os("VIRTKIT_BLESS").is_some();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 26, "golden documents missing from {}", dir.display());
    let mut failed = Vec::new();
    for xml in &docs {
        let net = read_net(xml);
        let files = Files::new(Path::new("/var/lib/libvirt/dnsmasq"), &net.name).unwrap();
        let got = match config(&net, &files) {
            Ok(c) => c,
            Err(e) => {
                failed.push(format!("{}: refused: {e}", xml.display()));
                continue;
            }
        };
        let want_conf = std::fs::read_to_string(xml.with_extension("conf")).unwrap();
        if got.conf != want_conf {
            failed.push(format!("{}:\n--- want\n{want_conf}--- got\n{}", xml.display(), got.conf));
        }
        let want_hosts = std::fs::read_to_string(xml.with_extension("hostsfile")).unwrap_or_default();
        if got.hostsfile != want_hosts {
            failed.push(format!("{} hostsfile:\n--- want\n{want_hosts}--- got\n{}", xml.display(), got.hostsfile));
        }
        let stem = xml.file_stem().unwrap().to_string_lossy().into_owned();
        let addn = ours.join(format!("{stem}.addnhosts"));
        if bless {
            if got.addnhosts.is_empty() {
                let _ = std::fs::remove_file(&addn);
            } else {
                std::fs::create_dir_all(&ours).unwrap();
                std::fs::write(&addn, &got.addnhosts).unwrap();
            }
            continue;
        }
        let want_addn = std::fs::read_to_string(&addn).unwrap_or_default();
        if got.addnhosts != want_addn {
            failed.push(format!("{}:\n--- want\n{want_addn}--- got\n{}", addn.display(), got.addnhosts));
        }
    }
    assert!(failed.is_empty(), "{} of {} differ:\n{}", failed.len(), docs.len(), failed.join("\n"));
}

fn net(xml: &str) -> Network {
    Network::from_xml(xml).unwrap()
}

#[test]
fn who_needs_a_dnsmasq() {
    let ip = "<ip address='192.168.1.1' prefix='24'/>";
    let dhcp = "<ip address='192.168.1.1' prefix='24'><dhcp><range start='192.168.1.2' end='192.168.1.9'/></dhcp></ip>";
    let doc = |inner: &str| net(&format!("<network><name>n</name><bridge name='b0'/>{inner}</network>"));
    assert!(needs_dnsmasq(&doc(ip)), "isolated, for DNS");
    assert!(needs_dnsmasq(&doc(&format!("<forward mode='nat'/>{ip}"))));
    assert!(needs_dnsmasq(&doc(&format!("<forward mode='open'/>{ip}"))));
    let mut none = doc(&format!("<forward mode='nat'/>{ip}"));
    none.ips.clear();
    assert!(!needs_dnsmasq(&none), "no address");
    assert!(!needs_dnsmasq(&doc(&format!("<forward mode='route'/><dns enable='no'/>{ip}"))));
    assert!(needs_dnsmasq(&doc(&format!("<forward mode='route'/><dns enable='no'/>{dhcp}"))), "DHCP without DNS");
    let tftp = "<ip address='192.168.1.1' prefix='24'><tftp root='/srv/tftp'/></ip>";
    assert!(needs_dnsmasq(&doc(&format!("<dns enable='no'/>{tftp}"))), "TFTP without DNS");
    let mut bridged = doc(dhcp);
    for mode in
        [ForwardMode::Bridge, ForwardMode::Private, ForwardMode::Vepa, ForwardMode::Passthrough, ForwardMode::Hostdev]
    {
        bridged.forward = Some(Forward::new(mode).with_dev("eth0"));
        assert!(!needs_dnsmasq(&bridged), "{mode:?}");
    }
}

#[test]
fn refusals_name_what_is_refused() {
    let files = Files::new(Path::new("/d"), "n").unwrap();
    // The model refuses these documents already; the driver may be handed
    // a model built in code.
    let mut two = net("<network><name>n</name><bridge name='b0'/>\
        <ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.9'/></dhcp></ip></network>");
    let mut second = two.ips[0].clone();
    second.address = "10.0.1.1".parse().unwrap();
    if let Some(d) = second.dhcp.as_mut() {
        d.ranges[0] = DhcpRange::new("10.0.1.2".parse().unwrap(), "10.0.1.9".parse().unwrap());
    }
    two.ips.push(second);
    let e = config(&two, &files).unwrap_err();
    assert!(e.to_string().contains("multiple DHCP definitions"), "{e}");
    let mut ptr =
        net("<network><name>n</name><bridge name='b0'/><ip address='10.0.0.1' prefix='20' localPtr='yes'/></network>");
    let e = config(&ptr, &files).unwrap_err();
    assert!(e.to_string().contains("PTR domain for IPv4 network with prefix 20"), "{e}");
    ptr.bridge = None;
    assert!(config(&ptr, &files).unwrap_err().to_string().contains("no bridge name"));
    let mut big = net("<network><name>n</name><bridge name='b0'/><ip family='ipv6' address='fd00::1' prefix='64'>\
        <dhcp><range start='fd00::1:2' end='fd00::1:9'/></dhcp></ip></network>");
    if let Some(d) = big.ips[0].dhcp.as_mut() {
        d.ranges[0].end = "fd00::2:1".parse().unwrap();
    }
    assert!(config(&big, &files).unwrap_err().to_string().contains("too large"));
    let mut opts = net("<network><name>n</name><bridge name='b0'/><ip address='10.0.0.1' prefix='24'/></network>");
    opts.dnsmasq_options = vec!["cname=a,b".into(), "pid-file=/tmp/x".into()];
    let e = config(&opts, &files).unwrap_err();
    assert!(e.to_string().contains("'pid-file' is not supported"), "{e}");
    opts.dnsmasq_options.truncate(1);
    assert!(config(&opts, &files).unwrap().conf.ends_with("addn-hosts=/d/n.addnhosts\ncname=a,b\n"));
    assert!(Files::new(Path::new("/d"), "../etc").is_err());
    assert!(Files::new(Path::new("/d"), "..").is_err());
}

#[test]
fn dns_hosts_share_a_line_per_address() {
    let mut n = net("<network><name>n</name><bridge name='b0'/><ip address='10.0.0.1' prefix='24'/></network>");
    let a: std::net::IpAddr = "10.0.0.5".parse().unwrap();
    let b: std::net::IpAddr = "fd00::5".parse().unwrap();
    n.dns = Some(
        virtkit_model::network::Dns::default()
            .with_host(DnsHost::new(a, ["one", "uno"]))
            .with_host(DnsHost::new(b, ["six"]))
            .with_host(DnsHost::new(a, ["eins"])),
    );
    let files = Files::new(Path::new("/d"), "n").unwrap();
    let c = config(&n, &files).unwrap();
    assert_eq!(c.addnhosts, "10.0.0.5\tone\tuno\teins\t\nfd00::5\tsix\t\n");
    assert!(c.conf.contains("addn-hosts=/d/n.addnhosts\n"));
    assert!(!c.conf.contains("dhcp-hostsfile"), "no DHCP, no hosts file");
    let _ = NetworkIp::new(a, 24);
}
