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

fn network_with(from: &str, to: &str) -> String {
    assert!(NETWORK.contains(from), "the base network has {from}");
    NETWORK.replacen(from, to, 1)
}

#[test]
fn base_network_is_valid() {
    let n = Network::from_xml(NETWORK).unwrap();
    assert_eq!(n.ips.len(), 2);
    assert!(matches!(Document::from_xml(NETWORK).unwrap(), Document::Network(_)));
}

#[test]
fn network_element_typo() {
    assert_eq!(
        refused(&network_with("<bridge name", "<brigde name")),
        one(5, 3, "/network/brigde", "unknown element <brigde> in <network> (did you mean <bridge>?)")
    );
}

#[test]
fn network_attribute_typo_deep_down() {
    assert_eq!(
        refused(&network_with("<range start=", "<range strat=")),
        one(14, 14, "/network/ip[1]/dhcp/range/@strat", "unknown attribute 'strat' on <range> (did you mean 'start'?)")
    );
}

#[test]
fn network_bad_values() {
    assert_eq!(
        refused(&network_with("mode='nat'", "mode='natt'")),
        one(
            4,
            12,
            "/network/forward/@mode",
            "'natt' is not one of nat, route, open, bridge, private, vepa, passthrough, hostdev"
        )
    );
    assert_eq!(
        refused(&network_with("ip='192.168.122.10'", "ip='192.168.122.300'")),
        one(15, 48, "/network/ip[1]/dhcp/host/@ip", "'192.168.122.300' is not an IP address")
    );
    assert_eq!(
        refused(&network_with("stp='on'", "stp='yes'")),
        one(5, 25, "/network/bridge/@stp", "'yes' is not one of on, off")
    );
}

#[test]
fn network_rules_across_fields_are_located() {
    assert_eq!(
        refused(&network_with("end='192.168.122.254'", "end='192.168.123.254'")),
        one(
            14,
            7,
            "/network/ip[1]/dhcp/range",
            "the range 192.168.122.2 - 192.168.123.254 is not inside the network 192.168.122.0/24"
        )
    );
    assert_eq!(
        refused(&network_with("<ip family='ipv6' ", "<ip ")),
        one(18, 7, "/network/ip[2]/@address", "fd00:1::1 is an IPv6 address: say family='ipv6'")
    );
    assert_eq!(
        refused(&network_with("<mac address='52", "<mac address='53")),
        one(6, 8, "/network/mac/@address", "53:54:00:0a:cd:21 is a multicast address; a bridge needs a unicast one")
    );
}

#[test]
fn every_network_problem_is_reported_at_once() {
    let xml = network_with("<bridge name", "<brigde name")
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
        network_with("<forward mode='nat' dev='eth0'/>", "<forward mode='bridge'/>").replace("delay='0'", "delay='2'");
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
        network_with("<mac address", "<bandwidth classID='3'><inbound average='10'/></bandwidth>\n  <mac address");
    assert_eq!(
        refused(&xml),
        one(6, 14, "/network/bandwidth/@classID", "unsupported attribute 'classID' on <bandwidth>")
    );
}
