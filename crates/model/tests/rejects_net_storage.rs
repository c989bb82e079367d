//! Bad network, pool and volume documents: each problem is refused with its
//! line, column and path, typos with what was meant, and every problem of
//! a document is reported in one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use virtkit_model::network::Network;
use virtkit_model::{Document, Errors, TextPos};

/// (line, column, path, message) of each problem, in document order.
fn problems(errs: &Errors) -> Vec<(u32, u32, String, String)> {
    errs.iter()
        .map(|e| {
            let TextPos { line, column } = e.pos.unwrap_or_else(|| panic!("no position: {e}"));
            (line, column, e.path.clone(), e.kind.to_string())
        })
        .collect()
}

fn refused(xml: &str) -> Vec<(u32, u32, String, String)> {
    problems(&Document::from_xml(xml).expect_err("document must be refused"))
}

fn one(line: u32, column: u32, path: &str, msg: &str) -> Vec<(u32, u32, String, String)> {
    vec![(line, column, path.to_owned(), msg.to_owned())]
}

/// `base` with its first `from` replaced by `to`.
fn with(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "the base document has {from}");
    base.replacen(from, to, 1)
}

#[test]
fn base_documents_are_valid() {
    assert!(matches!(Document::from_xml(NETWORK).unwrap(), Document::Network(n) if n.ips.len() == 2));
    assert!(matches!(Document::from_xml(POOL).unwrap(), Document::Pool(p) if p.source.hosts.len() == 1));
    assert!(matches!(Document::from_xml(VOLUME).unwrap(), Document::Volume(v) if v.backing_store.is_some()));
}

// ---------------------------------------------------------------------------
// Networks

const NETWORK: &str = "\
<network>
  <name>default</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <forward mode='nat' dev='eth0'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <mac address='52:54:00:0a:cd:21'/>
  <dns>
    <host ip='192.168.122.2'>
      <hostname>db</hostname>
    </host>
  </dns>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
      <host mac='52:54:00:6c:3c:01' name='web' ip='192.168.122.10'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00:1::1' prefix='64'/>
</network>
";

#[test]
fn network_element_typo() {
    assert_eq!(
        refused(&with(NETWORK, "<bridge name", "<brigde name")),
        one(5, 3, "/network/brigde", "unknown element <brigde> in <network> (did you mean <bridge>?)")
    );
}

#[test]
fn network_attribute_typo_deep_down() {
    assert_eq!(
        refused(&with(NETWORK, "<range start=", "<range strat=")),
        one(14, 14, "/network/ip[1]/dhcp/range/@strat", "unknown attribute 'strat' on <range> (did you mean 'start'?)")
    );
}

#[test]
fn network_bad_values() {
    assert_eq!(
        refused(&with(NETWORK, "mode='nat'", "mode='natt'")),
        one(
            4,
            12,
            "/network/forward/@mode",
            "'natt' is not one of nat, route, open, bridge, private, vepa, passthrough, hostdev"
        )
    );
    assert_eq!(
        refused(&with(NETWORK, "ip='192.168.122.10'", "ip='192.168.122.300'")),
        one(15, 48, "/network/ip[1]/dhcp/host/@ip", "'192.168.122.300' is not an IP address")
    );
    assert_eq!(
        refused(&with(NETWORK, "stp='on'", "stp='yes'")),
        one(5, 25, "/network/bridge/@stp", "'yes' is not one of on, off")
    );
}

#[test]
fn static_dhcp_hosts_sharing_a_mac_or_an_address_are_refused() {
    let host = "<host mac='52:54:00:6c:3c:01' name='web' ip='192.168.122.10'/>";
    let twice = |other: &str| with(NETWORK, host, &format!("{host}\n      {other}"));
    assert_eq!(
        refused(&twice("<host mac='52:54:00:6c:3c:01' ip='192.168.122.11'/>")),
        one(16, 13, "/network/ip[1]/dhcp/host[2]/@mac", "MAC 52:54:00:6c:3c:01 is host 1's already")
    );
    assert_eq!(
        refused(&twice("<host mac='52:54:00:6c:3c:02' ip='192.168.122.10'/>")),
        one(16, 37, "/network/ip[1]/dhcp/host[2]/@ip", "address 192.168.122.10 is host 1's already")
    );
}

#[test]
fn network_rules_across_fields_are_located() {
    assert_eq!(
        refused(&with(NETWORK, "end='192.168.122.254'", "end='192.168.123.254'")),
        one(
            14,
            7,
            "/network/ip[1]/dhcp/range",
            "the range 192.168.122.2 - 192.168.123.254 is not inside the network 192.168.122.0/24"
        )
    );
    assert_eq!(
        refused(&with(NETWORK, "<ip family='ipv6' ", "<ip ")),
        one(18, 7, "/network/ip[2]/@address", "fd00:1::1 is an IPv6 address: say family='ipv6'")
    );
    assert_eq!(
        refused(&with(NETWORK, "<mac address='52", "<mac address='53")),
        one(6, 8, "/network/mac/@address", "53:54:00:0a:cd:21 is a multicast address; a bridge needs a unicast one")
    );
}

#[test]
fn every_network_problem_is_reported_at_once() {
    let xml = with(NETWORK, "<bridge name", "<brigde name")
        .replace("<hostname>db</hostname>", "<hostnmae>db</hostnmae>")
        .replace("mac='52:54:00:6c:3c:01'", "mac='52:54:00:6c:3c'");
    let got = refused(&xml);
    assert_eq!(
        got,
        [
            (5, 3, "/network/brigde".into(), "unknown element <brigde> in <network> (did you mean <bridge>?)".into()),
            (
                9,
                7,
                "/network/dns/host/hostnmae".into(),
                "unknown element <hostnmae> in <host> (did you mean <hostname>?)".into()
            ),
            (
                15,
                13,
                "/network/ip[1]/dhcp/host/@mac".into(),
                "'52:54:00:6c:3c' is not a MAC address (like 52:54:00:12:34:56)".into()
            ),
        ]
    );
}

#[test]
fn network_validation_reports_every_rule_broken() {
    let xml =
        with(NETWORK, "<forward mode='nat' dev='eth0'/>", "<forward mode='bridge'/>").replace("delay='0'", "delay='2'");
    let got = refused(&xml);
    assert_eq!(
        got,
        [
            (5, 25, "/network/bridge/@stp".into(), "a bridge stp is not for mode 'bridge'".into()),
            (5, 34, "/network/bridge/@delay".into(), "a bridge delay is not for mode 'bridge'".into()),
        ]
    );
}

#[test]
fn dnsmasq_options_are_read_in_their_namespace_only() {
    let with_options = |inner: &str| {
        NETWORK
            .replacen("<network>", "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>", 1)
            .replacen("</network>", &format!("  <dnsmasq:options>{inner}</dnsmasq:options>\n</network>"), 1)
    };
    let n = Network::from_xml(&with_options("<dnsmasq:option value='log-queries'/>")).unwrap();
    assert_eq!(n.dnsmasq_options, ["log-queries"]);
    assert!(n.to_xml().starts_with("<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"));
    assert_eq!(
        refused(&with_options("<dnsmasq:option vlaue='x'/>")),
        one(
            19,
            36,
            "/network/dnsmasq:options/dnsmasq:option/@vlaue",
            "unknown attribute 'vlaue' on <option> (did you mean 'value'?)"
        )
    );
    let other_ns = NETWORK.replacen("</network>", "  <x:options xmlns:x='urn:other'/>\n</network>", 1);
    let got = refused(&other_ns);
    assert_eq!((got[0].0, got[0].1, got[0].2.as_str()), (19, 3, "/network/x:options"));
    assert!(got[0].3.starts_with("unknown element <x:options> in <network>; expected one of name, uuid"), "{got:?}");
}

#[test]
fn network_json_is_as_strict_as_its_xml() {
    let n = Network::from_xml(NETWORK).unwrap();
    let json = n.to_json();
    assert_eq!(Network::from_json(&json).unwrap(), n);
    let bad = json.replacen("\"bridge\": {", "\"brigde\": {", 1);
    let e = Network::from_json(&bad).unwrap_err();
    assert!(e.first().to_string().contains("unknown field `brigde`"), "{e}");
    let outside = json.replacen("\"192.168.122.254\"", "\"10.0.0.9\"", 1);
    let e = Network::from_json(&outside).unwrap_err();
    assert_eq!(e.first().path, "/network/ip[1]/dhcp/range");
}

#[test]
fn what_libvirt_knows_but_virtkit_does_not_model_is_unsupported() {
    let xml =
        with(NETWORK, "<mac address", "<bandwidth classID='3'><inbound average='10'/></bandwidth>\n  <mac address");
    assert_eq!(
        refused(&xml),
        one(6, 14, "/network/bandwidth/@classID", "unsupported attribute 'classID' on <bandwidth>")
    );
}

// ---------------------------------------------------------------------------
// Storage pools

const POOL: &str = "\
<pool type='netfs'>
  <name>nfs</name>
  <uuid>7641d5a8-af11-f730-a34e-0a7dfcede71f</uuid>
  <source>
    <host name='nas.lan' port='2049'/>
    <dir path='/export/images'/>
    <format type='nfs'/>
  </source>
  <target>
    <path>/mnt/nfs</path>
    <permissions>
      <mode>0755</mode>
      <owner>107</owner>
      <group>107</group>
    </permissions>
  </target>
</pool>
";

#[test]
fn pool_typos_and_bad_values() {
    assert_eq!(
        refused(&with(POOL, "<host name", "<hots name")),
        one(5, 5, "/pool/source/hots", "unknown element <hots> in <source> (did you mean <host>?)")
    );
    assert_eq!(
        refused(&with(POOL, "type='netfs'", "type='nfs'")),
        one(
            1,
            7,
            "/pool/@type",
            "'nfs' is not one of dir, fs, netfs, logical, disk, iscsi, iscsi-direct, scsi, mpath, rbd, sheepdog, gluster, zfs, vstorage"
        )
    );
    assert_eq!(
        refused(&with(POOL, "<mode>0755</mode>", "<mode>0785</mode>")),
        one(12, 7, "/pool/target/permissions/mode", "'0785' is not an octal file mode")
    );
    assert_eq!(
        refused(&with(POOL, "port='2049'", "port='70000'")),
        one(5, 26, "/pool/source/host/@port", "'70000' is out of range (at most 65535)")
    );
}

#[test]
fn each_pool_type_takes_its_own_source_parts() {
    let dir = "<pool type='dir'>\n  <name>d</name>\n  <source>\n    <host name='nas'/>\n  </source>\n  <target><path>/srv</path></target>\n</pool>\n";
    assert_eq!(refused(dir), one(4, 5, "/pool/source/host", "a dir pool's source takes vendor, product, not <host>"));
    assert_eq!(
        refused(&with(POOL, "    <dir path='/export/images'/>\n", "")),
        one(4, 3, "/pool/source", "a netfs pool's source needs <dir>")
    );
    assert_eq!(
        refused(
            &with(POOL, "type='netfs'>", "type='fs'>")
                .replace("<host name='nas.lan' port='2049'/>", "<device path='/dev/sdb1'/>")
                .replace("    <dir path='/export/images'/>\n", "")
        ),
        one(
            6,
            13,
            "/pool/source/format/@type",
            "a fs pool's format is one of auto, ext2, ext3, ext4, ufs, iso9660, udf, gfs, gfs2, vfat, hfs+, xfs, ocfs2, vmfs, not 'nfs'"
        )
    );
    let rbd = "<pool type='rbd'>\n  <name>ceph</name>\n  <source>\n    <name>rbd</name>\n    <host name='mon1'/>\n  </source>\n  <target><path>/dev</path></target>\n</pool>\n";
    assert_eq!(refused(rbd), one(7, 3, "/pool/target", "a rbd pool is reached over the network: it has no <target>"));
}

#[test]
fn every_pool_problem_is_reported_at_once() {
    let xml = with(POOL, "<host name", "<hots name")
        .replace("<mode>0755</mode>", "<mode>0785</mode>")
        .replace("<owner>107</owner>", "<owner>root</owner>");
    assert_eq!(
        refused(&xml),
        [
            (5, 5, "/pool/source/hots".into(), "unknown element <hots> in <source> (did you mean <host>?)".into()),
            (12, 7, "/pool/target/permissions/mode".into(), "'0785' is not an octal file mode".into()),
            (13, 7, "/pool/target/permissions/owner".into(), "'root' is not a user or group id (or -1)".into()),
        ]
    );
}

// ---------------------------------------------------------------------------
// Storage volumes

const VOLUME: &str = "\
<volume type='file'>
  <name>web.qcow2</name>
  <capacity unit='GiB'>20</capacity>
  <allocation unit='MiB'>200</allocation>
  <target>
    <path>/var/lib/images/web.qcow2</path>
    <format type='qcow2'/>
    <permissions>
      <mode>0600</mode>
    </permissions>
    <timestamps>
      <mtime>1341930622.047245868</mtime>
    </timestamps>
    <encryption format='luks'>
      <secret type='passphrase' uuid='f52a81b2-424e-490c-823d-6bd4235bc572'/>
    </encryption>
    <compat>1.1</compat>
  </target>
  <backingStore>
    <path>/var/lib/images/base.qcow2</path>
    <format type='qcow2'/>
  </backingStore>
</volume>
";

#[test]
fn volume_names_say_why_they_are_refused() {
    for (name, why) in [
        ("a/b", "'a/b' contains '/': a volume name is a file name in its pool, not a path"),
        ("..", "'..' names a directory, not a volume"),
        (".", "'.' names a directory, not a volume"),
        ("", "a volume needs a name"),
    ] {
        let xml = with(VOLUME, "<name>web.qcow2</name>", &format!("<name>{name}</name>"));
        assert_eq!(refused(&xml), one(2, 3, "/volume/name", why), "{name:?}");
    }
    let long = "x".repeat(256);
    let xml = with(VOLUME, "<name>web.qcow2</name>", &format!("<name>{long}</name>"));
    assert_eq!(refused(&xml), one(2, 3, "/volume/name", "a volume name is a file name, at most 255 bytes"));
}

#[test]
fn volume_typos_and_bad_values() {
    assert_eq!(
        refused(&with(VOLUME, "unit='GiB'", "unit='GiBB'")),
        one(
            3,
            3,
            "/volume/capacity",
            "unknown unit 'GiBB'; expected one of b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB, PB, P, PiB, EB, E, EiB"
        )
    );
    let got = refused(&with(VOLUME, "<format type='qcow2'/>", "<format type='vhdx'/>"));
    assert_eq!((got[0].0, got[0].1, got[0].2.as_str()), (7, 13, "/volume/target/format/@type"));
    assert!(got[0].3.starts_with("'vhdx' is not supported; supported: unknown, raw, dir,"), "{got:?}");
    assert_eq!(
        refused(&with(VOLUME, "<mtime>1341930622.047245868</mtime>", "<mtime>yesterday</mtime>")),
        one(12, 7, "/volume/target/timestamps/mtime", "'yesterday' is not a time (seconds, like 1341933637.273190990)")
    );
    assert_eq!(
        refused(&with(VOLUME, "type='passphrase'", "type='volume'")),
        one(15, 15, "/volume/target/encryption/secret/@type", "'volume' is not one of passphrase")
    );
    assert_eq!(
        refused(&with(VOLUME, "<compat>1.1</compat>", "<compat>v3</compat>")),
        one(17, 5, "/volume/target/compat", "'v3' is not a version like 1.1")
    );
    assert_eq!(
        refused(&with(VOLUME, "<path>/var/lib/images/base.qcow2</path>", "<path>base.qcow2</path>")),
        one(20, 5, "/volume/backingStore/path", "'base.qcow2' is not an absolute path")
    );
}
