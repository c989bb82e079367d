//! `virsh net-update` on the network model (`Network::apply_update`):
//! libvirt's own examples (`tests/data/libvirt-net-update`, from its
//! `networkxml2xmlupdatetest`), every section and command, each error with
//! its exact message, and the network unchanged after every error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{conformance_dir, libvirt_fills_in_network, schema_check};
use virtkit_model::network::{
    DnsmasqAction, Network, NetworkUpdate, NetworkUpdateCommand, NetworkUpdateError, NetworkUpdateSection,
    NetworkUpdated,
};

use NetworkUpdateCommand::{AddFirst, AddLast, Delete, Modify};
use NetworkUpdateSection::{DnsHost, DnsSrv, DnsTxt, ForwardInterface, IpDhcpHost, IpDhcpRange, Portgroup};

fn data(sub: &str, name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/libvirt-net-update").join(sub).join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// libvirt's network `NAME` (`tests/networkxml2xmlin/NAME.xml`), from the
/// conformance data.
fn network(name: &str) -> Network {
    let text = std::fs::read_to_string(conformance_dir().join(format!("network/{name}.xml"))).unwrap();
    Network::from_xml(&text).unwrap()
}

/// libvirt's update element `NAME` (`tests/networkxml2xmlupdatein/NAME.xml`).
fn element(name: &str) -> String {
    data("in", &format!("{name}.xml"))
}

/// libvirt's expected network `NAME` (`tests/networkxml2xmlupdateout/NAME.xml`).
fn libvirt_out(name: &str) -> Network {
    Network::from_xml(&data("out", &format!("{name}.xml"))).unwrap()
}

fn up(command: NetworkUpdateCommand, section: NetworkUpdateSection, xml: &str) -> NetworkUpdate {
    NetworkUpdate::new(command, section, xml)
}

/// `update` applied to a copy of `net`, which must succeed; the result
/// must validate and write a document libvirt's schema takes.
fn applied(net: &Network, update: &NetworkUpdate) -> (Network, NetworkUpdated) {
    let mut n = net.clone();
    let done = n.apply_update(update).unwrap_or_else(|e| panic!("{update:?}: {e}: {:?}", e.errors()));
    n.validate().unwrap();
    schema_check("network", &n.to_xml()).unwrap();
    assert_eq!(Network::from_xml(&n.to_xml()).unwrap(), n);
    (n, done)
}

/// `update` applied to `net` must fail, leaving it as it was.
fn refused(net: &Network, update: &NetworkUpdate) -> NetworkUpdateError {
    let mut n = net.clone();
    let e = n.apply_update(update).expect_err("the update must be refused");
    assert_eq!(n, *net, "a refused update changed the network");
    e
}

/// The message of a refused update, and each located problem it carries.
fn message(net: &Network, update: &NetworkUpdate) -> (String, Vec<String>) {
    let e = refused(net, update);
    let lines = e.errors().map(|errs| errs.to_string().lines().map(str::to_owned).collect()).unwrap_or_default();
    (e.to_string(), lines)
}

/// `ours` is libvirt's expected network `out`, once both have libvirt's
/// defaults filled in.
fn same_as_libvirt(mut ours: Network, out: &str) {
    let mut theirs = libvirt_out(out);
    libvirt_fills_in_network(out, &mut ours);
    libvirt_fills_in_network(out, &mut theirs);
    assert_eq!(ours, theirs, "differs from libvirt's {out}.xml");
}

fn effect(done: &NetworkUpdated) -> (DnsmasqAction, bool) {
    (done.dnsmasq, done.firewall)
}

// ---------------------------------------------------------------------------
// The words

#[test]
fn commands_and_sections_are_virshs_words() {
    let words: Vec<String> = NetworkUpdateCommand::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(words, ["add-first", "add-last", "delete", "modify"]);
    for c in NetworkUpdateCommand::ALL {
        assert_eq!(c.as_str().parse::<NetworkUpdateCommand>().unwrap(), *c);
    }
    assert_eq!("add".parse::<NetworkUpdateCommand>().unwrap(), AddLast);
    assert_eq!(
        "ad".parse::<NetworkUpdateCommand>().unwrap_err().to_string(),
        "'ad' is not one of add-first, add-last, delete, modify"
    );
    let words: Vec<&str> = NetworkUpdateSection::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        words,
        [
            "bridge",
            "domain",
            "ip",
            "ip-dhcp-host",
            "ip-dhcp-range",
            "forward",
            "forward-interface",
            "forward-pf",
            "portgroup",
            "dns-host",
            "dns-txt",
            "dns-srv"
        ]
    );
    for s in NetworkUpdateSection::ALL {
        assert_eq!(s.to_string().parse::<NetworkUpdateSection>().unwrap(), *s);
    }
    let elements: Vec<Option<&str>> = NetworkUpdateSection::ALL.iter().map(|s| s.element()).collect();
    assert_eq!(
        elements,
        [
            None,
            None,
            None,
            Some("host"),
            Some("range"),
            None,
            Some("interface"),
            None,
            Some("portgroup"),
            Some("host"),
            Some("txt"),
            Some("srv")
        ]
    );
}

#[test]
fn sections_libvirt_cannot_update_are_refused() {
    let net = network("nat-network");
    for (section, name) in [
        (NetworkUpdateSection::Bridge, "bridge"),
        (NetworkUpdateSection::Domain, "domain"),
        (NetworkUpdateSection::Ip, "ip"),
        (NetworkUpdateSection::Forward, "forward"),
        (NetworkUpdateSection::ForwardPf, "forward pf"),
    ] {
        for command in NetworkUpdateCommand::ALL {
            let e = refused(&net, &up(*command, section, "<bridge name='virbr9'/>"));
            assert!(matches!(e, NetworkUpdateError::SectionUnsupported { .. }), "{e:?}");
            assert_eq!(e.to_string(), format!("can't update '{name}' section of network 'default'"));
        }
    }
}

// ---------------------------------------------------------------------------
// The element, read as strictly as a document

#[test]
fn the_element_is_read_strictly_with_positions_in_its_own_text() {
    let net = network("nat-network");
    let typo = "<host mac='52:54:00:00:00:09'\n      nmae='x' ip='192.168.122.40'/>";
    let (msg, lines) = message(&net, &up(AddLast, IpDhcpHost, typo));
    assert_eq!(msg, "invalid <host> for network 'default'");
    assert_eq!(lines, ["2:7: /host/@nmae: unknown attribute 'nmae' on <host> (did you mean 'name'?)"]);

    let (_, lines) = message(&net, &up(AddLast, DnsHost, "<host ip='10.0.0.1'>\n  <hostnmae>a</hostnmae>\n</host>"));
    assert_eq!(lines, ["2:3: /host/hostnmae: unknown element <hostnmae> in <host> (did you mean <hostname>?)"]);

    // libvirt's vocabulary of the place: a name it does not know is a
    // problem even beside one that stops the element.
    let (_, lines) = message(&net, &up(Delete, DnsTxt, "<txt value='v' nmae='x' bogus='1'/>"));
    assert_eq!(
        lines,
        [
            "1:16: /txt/@nmae: unknown attribute 'nmae' on <txt> (did you mean 'name'?)",
            "1:25: /txt/@bogus: unknown attribute 'bogus' on <txt>; expected one of name"
        ]
    );

    let (_, lines) = message(&net, &up(Delete, DnsSrv, &element("srv-record-invalid")));
    assert_eq!(lines, ["1:6: /srv/@protocol: 'pudding' is not one of tcp, udp"]);

    let (_, lines) = message(&net, &up(AddLast, IpDhcpHost, "<host mac='52:54:00:00:00:09' ip='192.168.122.40'"));
    assert_eq!(lines, ["1:1: the document does not have a root node"]);

    let (msg, lines) = message(&net, &up(AddLast, IpDhcpHost, "<host ip='192.168.122.40'>text</host>"));
    assert_eq!(msg, "invalid <host> for network 'default'");
    assert_eq!(lines, ["1:27: /host: unexpected text in <host>"]);
}

#[test]
fn the_element_must_be_the_sections() {
    let net = network("nat-network");
    let e = refused(&net, &up(AddLast, IpDhcpHost, &element("dhcp-range")));
    assert!(matches!(e, NetworkUpdateError::WrongElement { .. }), "{e:?}");
    assert_eq!(e.to_string(), "unexpected element <range>, expecting <host>, while updating network 'default'");
    let e = refused(&net, &up(AddLast, DnsTxt, "<x:txt xmlns:x='urn:x' name='a' value='b'/>"));
    assert_eq!(e.to_string(), "unexpected element <x:txt>, expecting <txt>, while updating network 'default'");
}

#[test]
fn the_document_limits_apply_to_the_element() {
    let net = network("nat-network");
    let big = format!("<txt name='big' value='{}'/>", "x".repeat(virtkit_model::limits::MAX_DOCUMENT_BYTES));
    let (msg, lines) = message(&net, &up(AddLast, DnsTxt, &big));
    assert_eq!(msg, "invalid <txt> for network 'default'");
    assert_eq!(lines, [format!("1:1: document is {} bytes, more than the limit of 10485760 bytes", big.len())]);
    let deep = format!("<host ip='10.0.0.1'>{}{}</host>", "<a>".repeat(300), "</a>".repeat(300));
    let (_, lines) = message(&net, &up(AddLast, DnsHost, &deep));
    assert_eq!(lines.len(), 1);
    assert!(lines[0].ends_with("elements are nested more than 256 deep"), "{lines:?}");
}

// ---------------------------------------------------------------------------
// ip-dhcp-host

#[test]
fn dhcp_hosts_as_libvirt_adds_them() {
    let net = network("nat-network");
    // libvirt's test runs every case with parent index 0.
    let update = up(AddLast, IpDhcpHost, &element("host-new")).with_parent_index(0);
    let (ours, done) = applied(&net, &update);
    same_as_libvirt(ours.clone(), "nat-network-hosts");
    assert_eq!(effect(&done), (DnsmasqAction::Reload, true));
    assert!(done.is_reload_only());
    // Without an index: the first IPv4 <ip> with DHCP.
    assert_eq!(applied(&net, &up(AddLast, IpDhcpHost, &element("host-new"))).0, ours);
    // add-first puts it first.
    let (first, _) = applied(&net, &up(AddFirst, IpDhcpHost, &element("host-new")));
    let names: Vec<_> = first.ips[0].dhcp.as_ref().unwrap().hosts.iter().map(|h| h.name.clone().unwrap()).collect();
    assert_eq!(names, ["m.example.com", "a.example.com", "b.example.com"]);
}

#[test]
fn dhcp_hosts_libvirt_refuses_to_add() {
    let net = network("nat-network");
    for name in ["host-incomplete", "host-new-incomplete"] {
        let (msg, lines) = message(&net, &up(AddLast, IpDhcpHost, &element(name)).with_parent_index(0));
        assert_eq!(msg, "invalid <host> for network 'default'");
        assert_eq!(lines, ["1:1: /host: missing attribute 'ip' on <host>"]);
    }
    let e = refused(&net, &up(AddLast, IpDhcpHost, &element("host-existing")).with_parent_index(0));
    assert!(matches!(e, NetworkUpdateError::Exists(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "network 'default' already has a dhcp host with this mac: \
         <host mac='00:16:3e:77:e2:ed' name='a.example.com' ip='192.168.122.10'/>"
    );
    // A clash on the name or the address alone, naming the host there.
    for (xml, what) in [
        ("<host mac='52:54:00:00:00:01' name='b.example.com' ip='192.168.122.50'/>", "name"),
        ("<host mac='52:54:00:00:00:01' name='c.example.com' ip='192.168.122.11'/>", "ip"),
    ] {
        assert_eq!(
            refused(&net, &up(AddFirst, IpDhcpHost, xml)).to_string(),
            format!(
                "network 'default' already has a dhcp host with this {what}: \
                 <host mac='00:16:3e:3e:a9:1a' name='b.example.com' ip='192.168.122.11'/>"
            )
        );
    }
}

#[test]
fn dhcp_hosts_as_libvirt_modifies_them() {
    let net = network("nat-network");
    let (ours, done) = applied(&net, &up(Modify, IpDhcpHost, &element("host-updated")).with_parent_index(0));
    same_as_libvirt(ours, "nat-network-host-updated");
    assert_eq!(effect(&done), (DnsmasqAction::Reload, true));

    let e = refused(&net, &up(Modify, IpDhcpHost, &element("host-new")).with_parent_index(0));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "couldn't locate an existing dhcp host entry with mac='00:16:3e:77:f0:0d' in network 'default'"
    );
    let (_, lines) = message(&net, &up(Modify, IpDhcpHost, &element("host-incomplete")).with_parent_index(0));
    assert_eq!(lines, ["1:1: /host: missing attribute 'ip' on <host>"]);
    // The host keeps its MAC; its new address may not be another's.
    assert_eq!(
        refused(&net, &up(Modify, IpDhcpHost, "<host mac='00:16:3e:77:e2:ed' name='a' ip='192.168.122.11'/>"))
            .to_string(),
        "network 'default' already has a dhcp host with this ip: \
         <host mac='00:16:3e:3e:a9:1a' name='b.example.com' ip='192.168.122.11'/>"
    );
    // Without a MAC, found by name.
    let (ours, _) = applied(&net, &up(Modify, IpDhcpHost, "<host name='b.example.com' ip='192.168.122.99'/>"));
    let b = &ours.ips[0].dhcp.as_ref().unwrap().hosts[1];
    assert_eq!((b.mac, b.ip.to_string().as_str()), (None, "192.168.122.99"));
}

#[test]
fn dhcp_hosts_as_libvirt_deletes_them() {
    let net = network("nat-network");
    for name in ["host-incomplete", "host-existing"] {
        let (ours, done) = applied(&net, &up(Delete, IpDhcpHost, &element(name)).with_parent_index(0));
        same_as_libvirt(ours, "nat-network-one-host");
        assert_eq!(effect(&done), (DnsmasqAction::Reload, true));
    }
    let e = refused(&net, &up(Delete, IpDhcpHost, &element("host-new")).with_parent_index(0));
    assert_eq!(e.to_string(), "couldn't locate a matching dhcp host entry in network 'default'");
    // Every attribute given must match.
    let e = refused(&net, &up(Delete, IpDhcpHost, "<host mac='00:16:3e:77:e2:ed' ip='192.168.122.11'/>"));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    let (msg, lines) = message(&net, &up(Delete, IpDhcpHost, "<host/>"));
    assert_eq!(msg, "invalid <host> for network 'default'");
    assert_eq!(lines, ["1:1: /host: a host to delete needs a mac, id, name or ip"]);
}

#[test]
fn a_dhcp_host_named_twice_is_not_guessed_at() {
    let net = Network::from_xml(
        "<network><name>dup</name><ip address='10.1.0.1' prefix='24'><dhcp>
           <host mac='52:54:00:00:00:01' name='twin' ip='10.1.0.10'/>
           <host mac='52:54:00:00:00:02' name='twin' ip='10.1.0.11'/>
         </dhcp></ip></network>",
    )
    .unwrap();
    let e = refused(&net, &up(Delete, IpDhcpHost, "<host name='twin'/>"));
    assert!(matches!(e, NetworkUpdateError::Ambiguous(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "2 entries in network 'dup' match this dhcp host entry: give more of its fields to name one"
    );
    let (ours, _) = applied(&net, &up(Delete, IpDhcpHost, "<host name='twin' ip='10.1.0.11'/>"));
    assert_eq!(ours.ips[0].dhcp.as_ref().unwrap().hosts.len(), 1);
}

#[test]
fn the_elements_family_chooses_the_ip() {
    // IPv4 DHCP on the first <ip>, IPv6 on the second: without an index an
    // IPv6 host goes to the second (libvirt would take the first and fail).
    let net = network("dhcp6host-routed-network");
    let v6 = "<host name='ringo' ip='2001:db8:ac10:fd01::1:25'/>";
    let (ours, done) = applied(&net, &up(AddLast, IpDhcpHost, v6));
    assert_eq!(ours.ips[1].dhcp.as_ref().unwrap().hosts.last().unwrap().name.as_deref(), Some("ringo"));
    assert_eq!(ours.ips[0], net.ips[0]);
    assert_eq!(effect(&done), (DnsmasqAction::Reload, true));
    // An index of the other family is refused, as libvirt refuses it.
    let e = refused(&net, &up(AddLast, IpDhcpHost, v6).with_parent_index(0));
    assert!(matches!(e, NetworkUpdateError::NoPlace(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the address family of a host entry IP must match the address family of the dhcp element's parent"
    );
    // A MAC says IPv4, an id IPv6, when a host to delete gives no address.
    let (ours, _) = applied(&net, &up(Delete, IpDhcpHost, "<host id='0:3:0:1:0:16:3e:44:55:33'/>"));
    assert_eq!(ours.ips[1].dhcp.as_ref().unwrap().hosts.len(), 4);
    let (ours, _) = applied(&net, &up(Delete, IpDhcpHost, "<host mac='00:16:3e:77:e2:ed'/>"));
    assert_eq!(ours.ips[0].dhcp.as_ref().unwrap().hosts.len(), 1);
    // The MAC of an IPv6 host is refused by validation, placed in the element.
    let (msg, lines) = message(
        &net,
        &up(AddLast, IpDhcpHost, "<host mac='52:54:00:00:00:07' name='x' ip='2001:db8:ac10:fd01::1:26'/>"),
    );
    assert_eq!(msg, "network 'local' would not be valid");
    assert_eq!(lines, ["1:7: /host/@mac: an IPv6 host is known by id or name, not by MAC (52:54:00:00:00:07)"]);
}

#[test]
fn an_ip_must_be_there_for_dhcp() {
    let net = network("routed-network");
    let e = refused(&net, &up(AddLast, IpDhcpHost, "<host name='x' ip='2001:db8::5'/>"));
    assert_eq!(e.to_string(), "couldn't update dhcp host entry - no IPv6 <ip> element found in network 'local'");
    let e = refused(&net, &up(AddLast, IpDhcpRange, &element("dhcp-range")).with_parent_index(3));
    assert_eq!(e.to_string(), "couldn't update dhcp range entry - no <ip> element found at index 3 in network 'local'");
}

#[test]
fn turning_ipv4_dhcp_on_or_off_restarts_dnsmasq() {
    let net = network("routed-network");
    let host = "<host mac='52:54:00:00:00:05' name='h' ip='192.168.122.5'/>";
    let (on, done) = applied(&net, &up(AddLast, IpDhcpHost, host));
    assert_eq!(effect(&done), (DnsmasqAction::Restart, true));
    assert!(!done.is_reload_only());
    let (off, done) = applied(&on, &up(Delete, IpDhcpHost, "<host name='h'/>"));
    assert_eq!(effect(&done), (DnsmasqAction::Restart, true));
    // What the delete emptied is gone, as libvirt writes it.
    assert_eq!(off, net);
}

// ---------------------------------------------------------------------------
// ip-dhcp-range

#[test]
fn dhcp_ranges_as_libvirt_adds_and_deletes_them() {
    let net = network("dhcp6host-routed-network");
    let (ours, done) = applied(&net, &up(AddFirst, IpDhcpRange, &element("dhcp-range")).with_parent_index(0));
    assert_eq!(effect(&done), (DnsmasqAction::Restart, true));
    // libvirt's expected network was made from a revision of the input with
    // two routes more; the update is to the <ip>s.
    let mut theirs = libvirt_out("dhcp6host-routed-network-range");
    assert_eq!(ours.ips, theirs.ips);
    theirs.ips.clone_from(&net.ips);
    theirs.routes.clear();
    let mut input = net.clone();
    libvirt_fills_in_network("", &mut input);
    libvirt_fills_in_network("", &mut theirs);
    assert_eq!(input, theirs);
    assert_eq!(applied(&net, &up(AddFirst, IpDhcpRange, &element("dhcp-range"))).0, ours);

    let nat = network("nat-network");
    let (ours, done) = applied(&nat, &up(Delete, IpDhcpRange, &element("dhcp-range-existing")).with_parent_index(0));
    same_as_libvirt(ours, "nat-network-no-range");
    assert_eq!(effect(&done), (DnsmasqAction::Restart, true));
    let e = refused(&nat, &up(Delete, IpDhcpRange, &element("dhcp-range")).with_parent_index(0));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    assert_eq!(e.to_string(), "couldn't locate a matching dhcp range entry in network 'default'");
    let e = refused(&nat, &up(AddLast, IpDhcpRange, &element("dhcp-range-existing")));
    assert_eq!(
        e.to_string(),
        "there is an existing dhcp range entry in network 'default' that matches \
         \"<range start='192.168.122.2' end='192.168.122.254'/>\""
    );
}

#[test]
fn dhcp_ranges_libvirt_refuses() {
    let nat = network("nat-network");
    let e = refused(&nat, &up(Modify, IpDhcpRange, &element("dhcp-range")));
    assert!(matches!(e, NetworkUpdateError::CommandUnsupported(_)), "{e:?}");
    assert_eq!(e.to_string(), "dhcp ranges cannot be modified, only added or deleted");
    // Outside the subnet (libvirt's add-dhcp-range-outside-net).
    let (msg, lines) =
        message(&nat, &up(AddFirst, IpDhcpRange, "<range start='10.0.0.10' end='10.0.0.100'/>").with_parent_index(0));
    assert_eq!(msg, "network 'default' would not be valid");
    assert_eq!(lines, ["1:1: /range: the range 10.0.0.10 - 10.0.0.100 is not inside the network 192.168.122.0/24"]);
    // DHCP on a second IPv4 address.
    let second = up(AddLast, IpDhcpRange, "<range start='192.168.123.2' end='192.168.123.9'/>").with_parent_index(1);
    assert_eq!(refused(&nat, &second).to_string(), "dhcp is supported only for a single IPv4 address on each network");
    let e = refused(&nat, &up(AddLast, IpDhcpRange, &element("dhcp-range")).with_parent_index(2));
    assert_eq!(
        e.to_string(),
        "the address family of a dhcp range must match the address family of the dhcp element's parent"
    );
    // A lease too short, placed where it is in the element.
    let (_, lines) = message(
        &nat,
        &up(AddLast, IpDhcpRange, "<range start='192.168.122.2' end='192.168.122.3'>\n  <lease expiry='1'/>\n</range>"),
    );
    assert_eq!(lines, ["2:10: /range/lease/@expiry: the shortest lease is 2 minutes (0 is forever)"]);
}

// ---------------------------------------------------------------------------
// forward-interface

#[test]
fn forward_interfaces_as_libvirt_deletes_them() {
    let net = network("nat-network-dns-srv-record");
    let (ours, done) = applied(&net, &up(Delete, ForwardInterface, &element("interface-eth1")));
    same_as_libvirt(ours, "nat-network-no-forward-ifaces");
    assert_eq!(effect(&done), (DnsmasqAction::Nothing, true));
    let e = refused(&net, &up(Delete, ForwardInterface, &element("interface-eth47")));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    assert_eq!(e.to_string(), "couldn't find an interface entry in network 'default' matching <interface dev='eth47'>");
}

#[test]
fn a_second_forward_device_of_a_nat_network_is_refused() {
    // libvirt adds it (its nat-network-forward-ifaces.xml); virtkit's model
    // takes one forward device for nat, and refuses libvirt's result too.
    let net = network("nat-network-dns-srv-record");
    let (msg, lines) = message(&net, &up(AddFirst, ForwardInterface, &element("interface-eth47")));
    assert_eq!(msg, "network 'default' would not be valid");
    assert_eq!(lines, ["/network/forward: mode 'nat' takes one forward device at most"]);
    let theirs = Network::from_xml(&data("out", "nat-network-forward-ifaces.xml")).unwrap_err();
    assert!(theirs.to_string().contains("mode 'nat' takes one forward device at most"), "{theirs}");
}

#[test]
fn forward_interfaces_of_a_device_pool() {
    let net = network("8021Qbh-net");
    let (ours, done) = applied(&net, &up(AddFirst, ForwardInterface, "<interface dev='eth6'/>"));
    let f = ours.forward.as_ref().unwrap();
    assert_eq!(f.dev.as_deref(), Some("eth6"), "dev is the first device, as libvirt writes it");
    assert_eq!(f.devices(), ["eth6", "eth1", "eth2", "eth3", "eth4", "eth5"]);
    assert_eq!(effect(&done), (DnsmasqAction::Nothing, false));
    let (ours, _) = applied(&net, &up(AddLast, ForwardInterface, "<interface dev='eth6'/>"));
    assert_eq!(ours.forward.as_ref().unwrap().devices(), ["eth1", "eth2", "eth3", "eth4", "eth5", "eth6"]);
    let (ours, _) = applied(&net, &up(Delete, ForwardInterface, &element("interface-eth1")));
    let f = ours.forward.as_ref().unwrap();
    assert_eq!((f.dev.as_deref(), f.devices()), (Some("eth2"), vec!["eth2", "eth3", "eth4", "eth5"]));

    let e = refused(&net, &up(AddLast, ForwardInterface, &element("interface-eth1")));
    assert!(matches!(e, NetworkUpdateError::Exists(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "there is an existing interface entry in network '8021Qbh-net' that matches \"<interface dev='eth1'>\""
    );
    let e = refused(&net, &up(Modify, ForwardInterface, &element("interface-eth1")));
    assert_eq!(e.to_string(), "forward interface entries cannot be modified, only added or deleted");
    let (_, lines) = message(&net, &up(AddLast, ForwardInterface, "<interface dev='eth 7'/>"));
    assert_eq!(lines, ["1:12: /interface/@dev: 'eth 7' is not a device name (letters, digits, _ . - \\ : /)"]);
}

#[test]
fn a_forward_interface_in_use_stays() {
    let net = Network::from_xml(
        "<network><name>pool</name><forward mode='vepa'>
           <interface dev='eth1'/><interface dev='eth2' connections='2'/>
         </forward></network>",
    )
    .unwrap();
    let e = refused(&net, &up(Delete, ForwardInterface, "<interface dev='eth2'/>"));
    assert!(matches!(e, NetworkUpdateError::InUse(_)), "{e:?}");
    assert_eq!(e.to_string(), "unable to delete interface 'eth2' in network 'pool': 2 guests are connected by it");
    let (ours, _) = applied(&net, &up(Delete, ForwardInterface, "<interface dev='eth1'/>"));
    let f = ours.forward.unwrap();
    assert_eq!((f.dev.as_deref(), f.devices()), (None, vec!["eth2"]), "interfaces alone stay so");

    let isolated = network("isolated-network");
    let e = refused(&isolated, &up(AddLast, ForwardInterface, "<interface dev='eth1'/>"));
    assert!(matches!(e, NetworkUpdateError::NoPlace(_)), "{e:?}");
    assert_eq!(e.to_string(), "network 'private' is isolated (it has no <forward>): it has no forward interfaces");
    let pf = network("passthrough-pf");
    let (_, lines) = message(&pf, &up(AddLast, ForwardInterface, "<interface dev='eth1'/>"));
    assert_eq!(
        lines,
        ["/network/forward/pf: a <pf> stands for the devices: it cannot come with <interface> or <address>"]
    );
}

// ---------------------------------------------------------------------------
// portgroup

#[test]
fn portgroups_as_libvirt_updates_them() {
    let net = network("openvswitch-net");
    let (ours, done) = applied(&net, &up(AddFirst, Portgroup, &element("portgroup-alison")));
    same_as_libvirt(ours, "openvswitch-net-more-portgroups");
    assert_eq!(effect(&done), (DnsmasqAction::Nothing, false));
    let (ours, _) = applied(&net, &up(Modify, Portgroup, &element("portgroup-alice-new")));
    same_as_libvirt(ours, "openvswitch-net-modified");
    let (ours, _) = applied(&net, &up(Delete, Portgroup, &element("portgroup-alice-new")));
    same_as_libvirt(ours, "openvswitch-net-without-alice");

    let e = refused(&net, &up(AddLast, Portgroup, &element("portgroup-alice-new")));
    assert!(matches!(e, NetworkUpdateError::Exists(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "there is an existing portgroup entry in network 'openvswitch-net' that matches \"<portgroup name='alice'>\""
    );
    let e = refused(&net, &up(Modify, Portgroup, &element("portgroup-alison")));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "couldn't find a portgroup entry in network 'openvswitch-net' matching <portgroup name='alison'>"
    );
    let e = refused(&network("nat-network-dns-srv-record"), &up(Delete, Portgroup, &element("portgroup-alice-new")));
    assert_eq!(e.to_string(), "couldn't find a portgroup entry in network 'default' matching <portgroup name='alice'>");
}

#[test]
fn one_default_portgroup() {
    let net = network("openvswitch-net");
    let e = refused(&net, &up(AddLast, Portgroup, "<portgroup name='carol' default='yes'/>"));
    assert_eq!(
        e.to_string(),
        "a different portgroup entry in network 'openvswitch-net' is already set as the default: \
         only one default is allowed"
    );
    let e = refused(&net, &up(Modify, Portgroup, "<portgroup name='alice' default='yes'/>"));
    assert!(matches!(e, NetworkUpdateError::Exists(_)), "{e:?}");
    // The default itself may stay the default.
    let (ours, _) = applied(&net, &up(Modify, Portgroup, "<portgroup name='bob' default='yes'/>"));
    assert_eq!(ours.portgroup(None).unwrap().vlan, None);
    let (_, lines) = message(&net, &up(AddLast, Portgroup, "<portgroup name='x'>\n  <vlan/>\n</portgroup>"));
    assert_eq!(lines, ["2:3: /portgroup/vlan: missing element <tag> in <vlan>"]);
}

// ---------------------------------------------------------------------------
// dns-host

#[test]
fn dns_hosts_as_libvirt_updates_them() {
    let net = network("nat-network-dns-hosts");
    let (ours, done) = applied(&net, &up(AddFirst, DnsHost, &element("dns-host-pudding")));
    same_as_libvirt(ours, "nat-network-dns-more-hosts");
    assert_eq!(effect(&done), (DnsmasqAction::Reload, false));
    let (ours, done) = applied(&net, &up(Delete, DnsHost, &element("dns-host-gateway-incomplete")));
    same_as_libvirt(ours, "nat-network-no-hosts");
    assert_eq!(effect(&done), (DnsmasqAction::Reload, false));
    let (ours, _) = applied(&net, &up(Modify, DnsHost, &element("dns-host-modify")));
    same_as_libvirt(ours, "nat-network-dns-hosts-modified");

    let (msg, lines) = message(&net, &up(AddFirst, DnsHost, &element("dns-host-gateway-incomplete")));
    assert_eq!(msg, "invalid <host> for network 'default'");
    assert_eq!(lines, ["1:1: /host: missing attribute 'ip' on <host>"]);
    let (_, lines) = message(&net, &up(Modify, DnsHost, &element("dns-host-modify-not-existing")));
    assert_eq!(lines, ["1:7: /host/@ip: '192.168.122.333' is not an IP address"]);
    let (_, lines) = message(&network("nat-network"), &up(Delete, DnsHost, &element("unparsable-dns-host")));
    assert_eq!(
        lines,
        [
            "1:1: /host: a DNS host to delete needs an ip or a <hostname>",
            "1:7: /host/@protocol: unknown attribute 'protocol' on <host>; expected one of ip"
        ]
    );
}

#[test]
fn dns_hosts_libvirt_refuses() {
    let net = network("nat-network-dns-hosts");
    let e = refused(&net, &up(AddLast, DnsHost, "<host ip='192.168.122.1'><hostname>again</hostname></host>"));
    assert!(matches!(e, NetworkUpdateError::Exists(_)), "{e:?}");
    assert_eq!(e.to_string(), "there is already a DNS HOST record for 192.168.122.1 in network 'default'");
    let e = refused(&net, &up(Modify, DnsHost, "<host ip='192.168.122.99'><hostname>x</hostname></host>"));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    assert_eq!(e.to_string(), "couldn't locate a matching DNS HOST record in network 'default'");
    let e = refused(&net, &up(Delete, DnsHost, "<host><hostname>names</hostname></host>"));
    assert!(matches!(e, NetworkUpdateError::Ambiguous(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "2 entries in network 'default' match this DNS HOST record: give more of its fields to name one"
    );
    let (ours, _) = applied(&net, &up(Delete, DnsHost, "<host ip='192.168.122.2'><hostname>names</hostname></host>"));
    assert_eq!(ours.dns.unwrap().hosts.len(), 3);
    let (_, lines) = message(&net, &up(AddLast, DnsHost, "<host ip='10.0.0.9'><hostname>a b</hostname></host>"));
    assert_eq!(lines, ["1:21: /host/hostname: 'a b' is not a DNS name (letters, digits, . -)"]);
    // DNS turned off takes no records.
    let off = Network::from_xml(
        "<network><name>quiet</name><dns enable='no'/><ip address='10.2.0.1' prefix='24'/></network>",
    )
    .unwrap();
    let (_, lines) = message(&off, &up(AddLast, DnsHost, "<host ip='10.2.0.5'><hostname>a</hostname></host>"));
    assert_eq!(lines, ["/network/dns: DNS is off (enable='no'), so it can have no forwarders or records"]);
}

// ---------------------------------------------------------------------------
// dns-txt

#[test]
fn dns_txt_records_as_libvirt_updates_them() {
    let net = network("nat-network-dns-txt-record");
    let (ours, done) = applied(&net, &up(AddFirst, DnsTxt, &element("dns-txt-record-snowman")));
    same_as_libvirt(ours, "nat-network-dns-txt-records");
    assert_eq!(effect(&done), (DnsmasqAction::Restart, false));
    let (ours, _) = applied(&net, &up(Delete, DnsTxt, &element("dns-txt-record-example")));
    same_as_libvirt(ours, "nat-network-dns-txt-none");
    let (ours, _) = applied(&net, &up(Modify, DnsTxt, &element("dns-txt-record-modify-success")));
    same_as_libvirt(ours, "nat-network-dns-txt-modify-ok");

    let e = refused(&net, &up(AddLast, DnsTxt, &element("dns-txt-record-example")));
    assert!(matches!(e, NetworkUpdateError::Exists(_)), "{e:?}");
    assert_eq!(e.to_string(), "there is already a DNS TXT record with name 'example' in network 'default'");
    for (command, name) in [(Delete, "dns-txt-record-snowman"), (Modify, "dns-txt-record-modify-fail")] {
        let e = refused(&net, &up(command, DnsTxt, &element(name)));
        assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
        assert_eq!(e.to_string(), "couldn't locate a matching DNS TXT record in network 'default'");
    }
    // A value given to delete must be the record's; a modify needs one.
    let e = refused(&net, &up(Delete, DnsTxt, "<txt name='example' value='other'/>"));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    let (_, lines) = message(&net, &up(Modify, DnsTxt, "<txt name='example'/>"));
    assert_eq!(lines, ["1:1: /txt: missing attribute 'value' on <txt>"]);
    let (_, lines) = message(&net, &up(Delete, DnsTxt, "<txt nam='example'/>"));
    assert_eq!(lines, ["1:6: /txt/@nam: unknown attribute 'nam' on <txt> (did you mean 'name'?)"]);
}

// ---------------------------------------------------------------------------
// dns-srv

#[test]
fn dns_srv_records_as_libvirt_adds_them() {
    let net = network("nat-network");
    for command in [AddFirst, AddLast] {
        let (ours, done) = applied(&net, &up(command, DnsSrv, &element("srv-record")));
        same_as_libvirt(ours, "nat-network-dns-srv-record");
        assert_eq!(effect(&done), (DnsmasqAction::Restart, false));
    }
    let srv = network("nat-network-dns-srv-record");
    let e = refused(&srv, &up(AddLast, DnsSrv, &element("srv-record")));
    assert!(matches!(e, NetworkUpdateError::Exists(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "there is already at least one DNS SRV record matching all specified fields in network 'default'"
    );
    // libvirt's expected network was made from a revision of the input with
    // six records more: those aside, the donkey is appended.
    let (ours, _) = applied(&srv, &up(AddLast, DnsSrv, &element("srv-record-donkey")));
    let mut theirs = libvirt_out("nat-network-dns-srv-records");
    let had = &srv.dns.as_ref().unwrap().srv_records;
    let ours_srv = &ours.dns.as_ref().unwrap().srv_records;
    let donkey = &ours_srv[1];
    theirs.dns.as_mut().unwrap().srv_records.retain(|s| had.contains(s) || s == donkey);
    assert_eq!(theirs.dns.as_ref().unwrap().srv_records, *ours_srv);
    assert_eq!(ours_srv.len(), 2);
    theirs.dns.clone_from(&ours.dns);
    same_as_libvirt_model(ours, theirs);
}

/// `ours` and `theirs` are the same network once libvirt's defaults are in.
fn same_as_libvirt_model(mut ours: Network, mut theirs: Network) {
    libvirt_fills_in_network("", &mut ours);
    libvirt_fills_in_network("", &mut theirs);
    assert_eq!(ours, theirs);
}

#[test]
fn dns_srv_records_as_libvirt_deletes_and_modifies_them() {
    let srv = network("nat-network-dns-srv-record");
    let (two, _) = applied(&srv, &up(AddLast, DnsSrv, &element("srv-record-donkey")));
    let (back, done) = applied(&two, &up(Delete, DnsSrv, &element("srv-record-donkey")));
    assert_eq!(back, srv);
    assert_eq!(effect(&done), (DnsmasqAction::Restart, false));
    // The only record goes, and <dns> with it: libvirt's nat-network.
    let (ours, _) = applied(&srv, &up(Delete, DnsSrv, &element("srv-record-protocol")));
    let theirs =
        Network::from_xml(&std::fs::read_to_string(conformance_dir().join("network/nat-network.out.xml")).unwrap())
            .unwrap();
    assert_eq!(ours.dns, None);
    same_as_libvirt_model(ours, theirs);

    let e = refused(&network("nat-network"), &up(Delete, DnsSrv, &element("srv-record-service")));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    assert_eq!(e.to_string(), "couldn't locate a matching DNS SRV record in network 'default'");
    let e = refused(&two, &up(Delete, DnsSrv, &element("srv-record-service")));
    assert!(matches!(e, NetworkUpdateError::Ambiguous(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "2 entries in network 'default' match this DNS SRV record: give more of its fields to name one"
    );
    // The port given must be the record's.
    let e = refused(&srv, &up(Delete, DnsSrv, "<srv service='name' port='1'/>"));
    assert!(matches!(e, NetworkUpdateError::NotFound(_)), "{e:?}");
    let (_, lines) = message(&srv, &up(Delete, DnsSrv, "<srv priority='10'/>"));
    assert_eq!(lines, ["1:1: /srv: an SRV record to delete needs a service, protocol, domain, target or port"]);

    let (ours, done) = applied(&srv, &up(Modify, DnsSrv, &element("srv-record-modify-few")));
    same_as_libvirt(ours, "nat-network-dns-srv-modify-few");
    assert_eq!(effect(&done), (DnsmasqAction::Restart, false));
    let e = refused(&srv, &up(Modify, DnsSrv, &element("srv-not-existing")));
    assert_eq!(e.to_string(), "couldn't locate a matching DNS SRV record in network 'default'");
    let (_, lines) = message(&srv, &up(AddLast, DnsSrv, "<srv protocol='tcp'/>"));
    assert_eq!(lines, ["1:1: /srv: missing attribute 'service' on <srv>"]);
    let (_, lines) = message(&srv, &up(AddLast, DnsSrv, "<srv service='x' protocol='tcp' port='80'/>"));
    assert_eq!(lines, ["1:33: /srv/@port: port needs a target"]);
}

// ---------------------------------------------------------------------------
// Where an add puts the element

#[test]
fn add_first_and_add_last_place_the_element_in_every_list() {
    type Names = fn(&Network) -> Vec<String>;
    let cases: [(&str, NetworkUpdateSection, &str, Names); 6] = [
        ("nat-network", IpDhcpHost, "<host mac='52:54:00:00:00:03' name='new' ip='192.168.122.3'/>", |n| {
            n.ips[0].dhcp.as_ref().unwrap().hosts.iter().map(|h| h.ip.to_string()).collect()
        }),
        ("isolated-network", IpDhcpRange, "<range start='192.168.152.1' end='192.168.152.1'/>", |n| {
            n.ips[0].dhcp.as_ref().unwrap().ranges.iter().map(|r| r.start.to_string()).collect()
        }),
        ("8021Qbh-net", ForwardInterface, "<interface dev='eth9'/>", |n| {
            n.forward.as_ref().unwrap().devices().iter().map(|d| (*d).to_owned()).collect()
        }),
        ("openvswitch-net", Portgroup, "<portgroup name='new'/>", |n| {
            n.portgroups.iter().map(|g| g.name.clone()).collect()
        }),
        ("nat-network-dns-hosts", DnsHost, "<host ip='192.168.122.3'><hostname>new</hostname></host>", |n| {
            n.dns.as_ref().unwrap().hosts.iter().map(|h| h.ip.to_string()).collect()
        }),
        ("nat-network-dns-txt-record", DnsTxt, "<txt name='new' value='v'/>", |n| {
            n.dns.as_ref().unwrap().txt_records.iter().map(|t| t.name.clone()).collect()
        }),
    ];
    for (file, section, xml, names) in cases {
        let net = network(file);
        let before = names(&net);
        let (first, _) = applied(&net, &up(AddFirst, section, xml));
        let (last, _) = applied(&net, &up(AddLast, section, xml));
        let (added, _) = applied(&net, &up("add".parse().unwrap(), section, xml));
        let (first, last) = (names(&first), names(&last));
        assert_eq!((first.len(), last.len()), (before.len() + 1, before.len() + 1), "{section}");
        assert_eq!(first[1..], before[..], "{section}: add-first");
        assert_eq!(last[..before.len()], before[..], "{section}: add-last");
        assert_eq!(first[0], last[before.len()], "{section}");
        assert_eq!(names(&added), last, "{section}: add is add-last");
    }
}
