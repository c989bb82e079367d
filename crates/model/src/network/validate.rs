//! Checks across a network's fields: libvirt's rules (its parser's and its
//! network driver's) and the patterns of its schema, each naming the place
//! by its XML path. They run for XML, JSON and networks built in code.

use std::collections::HashSet;
use std::net::IpAddr;

use super::ip::{ip_u128, same_family};
use super::{
    Bandwidth, Dhcp, DhcpHost, Dns, Forward, ForwardMode, IpFamily, LeaseUnit, Network, NetworkIp, PortGroup, Route,
    VirtualPort, VirtualPortType, Vlan,
};
use crate::domain::validate::{V, check_name, idx, is_word};
use crate::xml::truncate;

/// The longest SRV service name dnsmasq takes (RFC 2782's limit less overhead).
const SRV_SERVICE_MAX: usize = 512 - 30;

pub(super) fn check(n: &Network, v: &mut V) {
    check_name(v, "/network/name", &n.name);
    if let Some(t) = &n.title
        && t.contains(['\n', '\r'])
    {
        v.value("/network/title", "a title is one line");
    }
    for (i, m) in n.metadata.iter().enumerate() {
        let mut errs = Vec::new();
        m.check(&format!("/network/metadata/{}", idx(&m.name, i, n.metadata.len())), 1, &mut errs);
        v.extend(errs);
    }
    if let Some(mac) = &n.mac
        && mac.is_multicast()
    {
        v.value("/network/mac/@address", format!("{mac} is a multicast address; a bridge needs a unicast one"));
    }
    if let Some(b) = &n.bridge {
        opt_pattern(v, "/network/bridge/@name", b.name.as_deref(), DEVICE_NAME);
        opt_pattern(v, "/network/bridge/@zone", b.zone.as_deref(), ZONE_NAME);
    }
    if let Some(d) = &n.domain {
        pattern(v, "/network/domain/@name", &d.name, DNS_NAME);
    }
    if let Some(f) = &n.forward {
        check_forward(f, v);
    }
    check_mode(n, v);
    if let Some(d) = &n.dns {
        check_dns(d, v);
    }
    if let Some(vlan) = &n.vlan {
        check_vlan(vlan, "/network/vlan", v);
    }
    if let Some(b) = &n.bandwidth {
        check_bandwidth(b, "/network/bandwidth", v);
    }
    check_ips(n, v);
    check_routes(n, v);
    if let Some(vp) = &n.virtualport {
        if vp.port_type.is_none() {
            v.invalid("/network/virtualport", "a network's <virtualport> needs a type");
        }
        check_virtualport(vp, "/network/virtualport", v);
    }
    check_portgroups(&n.portgroups, v);
    let count = n.dnsmasq_options.len();
    for (i, o) in n.dnsmasq_options.iter().enumerate() {
        if o.contains(['\n', '\r']) {
            v.value(
                format!("/network/dnsmasq:options/{}/@value", idx("dnsmasq:option", i, count)),
                "a dnsmasq option is one line of its configuration",
            );
        }
    }
}

// ---- names libvirt's schema allows ----

/// libvirt's deviceName: letters, digits and `_ . - \ : /`.
const DEVICE_NAME: (&str, &str) = ("_.-\\:/", "a device name (letters, digits, _ . - \\ : /)");
/// libvirt's dnsName: letters, digits, `.` and `-`.
const DNS_NAME: (&str, &str) = (".-", "a DNS name (letters, digits, . -)");
/// libvirt's zoneName.
const ZONE_NAME: (&str, &str) = ("_-", "a firewall zone name (letters, digits, _ -)");

fn pattern(v: &mut V, path: impl std::fmt::Display, s: &str, (extra, what): (&str, &str)) {
    if !is_word(s, extra) {
        v.value(path, format!("'{}' is not {what}", truncate(s)));
    }
}

fn opt_pattern(v: &mut V, path: &str, s: Option<&str>, p: (&str, &str)) {
    if let Some(s) = s {
        pattern(v, path, s, p);
    }
}

// ---- forward ----

fn check_forward(f: &Forward, v: &mut V) {
    let at = |rest: &str| format!("/network/forward{rest}");
    opt_pattern(v, &at("/@dev"), f.dev.as_deref(), DEVICE_NAME);
    opt_pattern(v, &at("/pf/@dev"), f.pf.as_deref(), DEVICE_NAME);
    let n = f.interfaces.len();
    let mut seen = HashSet::new();
    for (i, iface) in f.interfaces.iter().enumerate() {
        let p = at(&format!("/{}/@dev", idx("interface", i, n)));
        pattern(v, &p, &iface.dev, DEVICE_NAME);
        if !seen.insert(iface.dev.as_str()) {
            v.invalid(&p, format!("interface '{}' is listed twice", truncate(&iface.dev)));
        }
    }
    if let (Some(dev), Some(first)) = (&f.dev, f.interfaces.first())
        && *dev != first.dev
    {
        v.invalid(
            at(&format!("/{}/@dev", idx("interface", 0, n))),
            format!("<forward dev='{}'> must be the first <interface> too", truncate(dev)),
        );
    }
    let n = f.addresses.len();
    let mut seen = HashSet::new();
    for (i, a) in f.addresses.iter().enumerate() {
        let p = at(&format!("/{}", idx("address", i, n)));
        v.pci(&p, &a.address);
        let key = (a.address.domain, a.address.bus, a.address.slot, a.address.function);
        if !seen.insert(key) {
            v.invalid(&p, "this PCI device is listed twice");
        }
    }
    if !f.interfaces.is_empty() && !f.addresses.is_empty() {
        v.invalid(at("/address"), "a <forward> lists host interfaces or PCI addresses, not both");
    }
    if f.dev.is_some() && (!f.addresses.is_empty() || f.pf.is_some()) {
        v.invalid(at("/@dev"), "dev cannot be used with <address> or <pf>");
    }
    if f.pf.is_some() && (!f.interfaces.is_empty() || !f.addresses.is_empty()) {
        // libvirt reads a <pf> only when there is nothing else, and drops it otherwise.
        v.invalid(at("/pf"), "a <pf> stands for the devices: it cannot come with <interface> or <address>");
    }
    let mode = f.mode();
    if f.nat.is_some() && mode != ForwardMode::Nat {
        v.invalid(at("/nat"), format!("<nat> is for mode 'nat', not '{mode}'"));
    }
    if let Some(nat) = &f.nat {
        if let Some(a) = &nat.address
            && u32::from(a.start) > u32::from(a.end)
        {
            v.invalid(at("/nat/address"), format!("the range {} - {} is reversed", a.start, a.end));
        }
        if let Some(p) = &nat.port {
            if p.start == 0 {
                v.value(at("/nat/port/@start"), "ports start at 1");
            }
            if p.start > p.end {
                v.invalid(at("/nat/port"), format!("the range {} - {} is reversed", p.start, p.end));
            }
        }
    }
    if f.managed.is_some() && mode != ForwardMode::Hostdev {
        v.invalid(at("/@managed"), format!("managed is for mode 'hostdev', not '{mode}'"));
    }
    if f.driver.is_some() && mode != ForwardMode::Hostdev {
        v.invalid(at("/driver"), format!("<driver> is for mode 'hostdev', not '{mode}'"));
    }
    if !f.addresses.is_empty() && mode != ForwardMode::Hostdev {
        v.invalid(at("/address"), format!("PCI addresses are for mode 'hostdev', not '{mode}'"));
    }
}

/// What the forward mode allows of the rest of the network.
fn check_mode(n: &Network, v: &mut V) {
    let Some(f) = &n.forward else {
        return;
    };
    let mode = f.mode();
    let devices = f.devices().len();
    if mode.host_bridge() {
        if n.ips.is_empty() {
            v.invalid("/network/forward", format!("mode '{mode}' needs an <ip> for the network"));
        }
        if devices > 1 {
            v.invalid("/network/forward", format!("mode '{mode}' takes one forward device at most"));
        }
        if mode == ForwardMode::Open && devices > 0 {
            v.invalid("/network/forward", "mode 'open' takes no forward device");
        }
        return;
    }
    if let Some(b) = &n.bridge {
        // libvirt: STP and zones are for bridges the host makes; macvtap
        // and hostdev modes have no bridge at all.
        let mut refused =
            vec![("stp", b.stp.is_some()), ("delay", b.delay.is_some_and(|d| d > 0)), ("zone", b.zone.is_some())];
        if mode.uses_host_devices() {
            refused.extend([("name", b.name.is_some()), ("macTableManager", b.mac_table_manager.is_some())]);
        }
        for (attr, _) in refused.iter().filter(|(_, set)| *set) {
            v.invalid(format!("/network/bridge/@{attr}"), format!("a bridge {attr} is not for mode '{mode}'"));
        }
        if mode == ForwardMode::Bridge && b.name.is_some() && (devices > 0 || f.pf.is_some()) {
            v.invalid("/network/bridge/@name", "mode 'bridge' takes a bridge name or forward devices, not both");
        }
    }
    if n.mtu.is_some() {
        v.invalid("/network/mtu", format!("an MTU is for modes nat, route, open and isolated networks, not '{mode}'"));
    }
}

// ---- dns ----

fn check_dns(d: &Dns, v: &mut V) {
    if d.enable == Some(false)
        && !(d.forwarders.is_empty() && d.txt_records.is_empty() && d.srv_records.is_empty() && d.hosts.is_empty())
    {
        v.invalid("/network/dns", "DNS is off (enable='no'), so it can have no forwarders or records");
    }
    let n = d.forwarders.len();
    for (i, f) in d.forwarders.iter().enumerate() {
        let p = format!("/network/dns/{}", idx("forwarder", i, n));
        if f.addr.is_none() && f.domain.is_none() {
            v.invalid(&p, "a forwarder needs an addr, a domain or both");
        }
        opt_pattern(v, &format!("{p}/@domain"), f.domain.as_deref(), DNS_NAME);
    }
    let n = d.txt_records.len();
    for (i, t) in d.txt_records.iter().enumerate() {
        let p = format!("/network/dns/{}/@name", idx("txt", i, n));
        pattern(v, p, &t.name, DNS_NAME);
    }
    let n = d.srv_records.len();
    for (i, s) in d.srv_records.iter().enumerate() {
        let p = format!("/network/dns/{}", idx("srv", i, n));
        if s.service.is_empty() || !s.service.chars().all(|c| c.is_ascii_alphanumeric() || "_-+/*".contains(c)) {
            v.value(
                format!("{p}/@service"),
                format!("'{}' is not a service name (letters, digits, _ - + / *)", truncate(&s.service)),
            );
        } else if s.service.len() > SRV_SERVICE_MAX {
            v.value(format!("{p}/@service"), format!("a service name is at most {SRV_SERVICE_MAX} bytes"));
        }
        opt_pattern(v, &format!("{p}/@domain"), s.domain.as_deref(), DNS_NAME);
        for (name, val) in [("port", s.port), ("priority", s.priority), ("weight", s.weight)] {
            if val.is_some() && s.target.is_none() {
                v.invalid(format!("{p}/@{name}"), format!("{name} needs a target"));
            }
        }
        if s.port == Some(0) {
            v.value(format!("{p}/@port"), "ports start at 1");
        }
    }
    let n = d.hosts.len();
    for (i, h) in d.hosts.iter().enumerate() {
        let p = format!("/network/dns/{}", idx("host", i, n));
        let count = h.hostnames.len();
        if count == 0 {
            v.invalid(&p, "a DNS host needs at least one <hostname>");
        }
        for (j, name) in h.hostnames.iter().enumerate() {
            pattern(v, format!("{p}/{}", idx("hostname", j, count)), name, DNS_NAME);
        }
    }
}

// ---- ports ----

pub(crate) fn check_vlan(vlan: &Vlan, at: &str, v: &mut V) {
    let n = vlan.tags.len();
    if n == 0 {
        v.invalid(at, "a <vlan> needs at least one <tag>");
    }
    let mut native = 0;
    for (i, t) in vlan.tags.iter().enumerate() {
        let p = format!("{at}/{}", idx("tag", i, n));
        if t.id > 4095 {
            v.value(format!("{p}/@id"), format!("{} is out of range (at most 4095)", t.id));
        }
        if t.native_mode.is_some() {
            native += 1;
            if native == 2 {
                v.invalid(format!("{p}/@nativeMode"), "only one tag can be the native VLAN");
            }
        }
    }
}

/// Rates of a network or port group: libvirt takes no floor there.
fn check_bandwidth(b: &Bandwidth, at: &str, v: &mut V) {
    for (name, rate) in [("inbound", &b.inbound), ("outbound", &b.outbound)] {
        let Some(r) = rate else { continue };
        let p = format!("{at}/{name}");
        if r.average.is_none() && r.floor.is_none() {
            v.invalid(&p, "a rate needs average (or floor)");
        }
        if (r.peak.is_some() || r.burst.is_some()) && r.average.is_none() {
            v.invalid(&p, "peak and burst need average");
        }
        for (attr, val) in [("average", r.average), ("peak", r.peak), ("burst", r.burst), ("floor", r.floor)] {
            if val == Some(0) {
                v.value(format!("{p}/@{attr}"), "must be at least 1");
            }
        }
        if r.floor.is_some() {
            v.invalid(format!("{p}/@floor"), "floor is for a guest's interface, not a network");
        }
    }
}

pub(crate) fn check_virtualport(vp: &VirtualPort, at: &str, v: &mut V) {
    let Some(p) = &vp.parameters else {
        if vp.port_type == Some(VirtualPortType::Midonet) {
            v.invalid(at, "a midonet port needs <parameters interfaceid>");
        }
        return;
    };
    let set = [
        ("managerid", p.managerid.is_some()),
        ("typeid", p.typeid.is_some()),
        ("typeidversion", p.typeidversion.is_some()),
        ("instanceid", p.instanceid.is_some()),
        ("profileid", p.profileid.is_some()),
        ("interfaceid", p.interfaceid.is_some()),
    ];
    let allowed: &[&str] = match vp.port_type {
        None => &["managerid", "typeid", "typeidversion", "instanceid", "profileid", "interfaceid"],
        Some(VirtualPortType::Qbg) => &["managerid", "typeid", "typeidversion", "instanceid"],
        Some(VirtualPortType::Qbh) => &["profileid"],
        Some(VirtualPortType::Openvswitch) => &["profileid", "interfaceid"],
        Some(VirtualPortType::Midonet) => &["interfaceid"],
    };
    for (name, _) in set.iter().filter(|(n, s)| *s && !allowed.contains(n)) {
        let kind = vp.port_type.map_or("", |t| t.as_str());
        v.invalid(format!("{at}/parameters/@{name}"), format!("{name} is not a parameter of a '{kind}' port"));
    }
    if vp.port_type == Some(VirtualPortType::Midonet) && p.interfaceid.is_none() {
        v.invalid(format!("{at}/parameters"), "a midonet port needs an interfaceid");
    }
    if let Some(t) = p.typeid
        && t > 0xff_ffff
    {
        v.value(format!("{at}/parameters/@typeid"), format!("{t} is out of range (at most 16777215)"));
    }
    if let Some(id) = &p.profileid
        && (id.is_empty() || id.chars().count() > 39)
    {
        v.value(format!("{at}/parameters/@profileid"), "a profile id is 1 to 39 characters");
    }
}

fn check_portgroups(groups: &[PortGroup], v: &mut V) {
    let n = groups.len();
    let mut names = HashSet::new();
    let mut defaults = 0;
    for (i, g) in groups.iter().enumerate() {
        let p = format!("/network/{}", idx("portgroup", i, n));
        pattern(v, format!("{p}/@name"), &g.name, DEVICE_NAME);
        if !names.insert(g.name.as_str()) {
            v.invalid(format!("{p}/@name"), format!("port group '{}' is defined twice", truncate(&g.name)));
        }
        if g.default == Some(true) {
            defaults += 1;
            if defaults == 2 {
                v.invalid(format!("{p}/@default"), "only one port group can be the default");
            }
        }
        if let Some(vlan) = &g.vlan {
            check_vlan(vlan, &format!("{p}/vlan"), v);
        }
        if let Some(vp) = &g.virtualport {
            check_virtualport(vp, &format!("{p}/virtualport"), v);
        }
        if let Some(b) = &g.bandwidth {
            check_bandwidth(b, &format!("{p}/bandwidth"), v);
        }
    }
}

// ---- addresses ----

fn check_ips(n: &Network, v: &mut V) {
    let count = n.ips.len();
    let mut dhcp = [None::<String>, None];
    for (i, ip) in n.ips.iter().enumerate() {
        let p = format!("/network/{}", idx("ip", i, count));
        check_ip(ip, &p, v);
        if ip.has_dhcp() {
            let family = usize::from(ip.is_ipv6());
            match &dhcp[family] {
                Some(first) => v.invalid(
                    format!("{p}/dhcp"),
                    format!(
                        "only one {} address can have DHCP (the first is {first})",
                        if ip.is_ipv6() { "IPv6" } else { "IPv4" }
                    ),
                ),
                None => dhcp[family] = Some(ip.address.to_string()),
            }
        }
    }
}

/// `family`, `netmask` and `prefix` against the address, as libvirt has them.
fn check_family(
    v: &mut V,
    p: &str,
    family: Option<IpFamily>,
    address: IpAddr,
    netmask: Option<std::net::Ipv4Addr>,
    prefix: Option<u8>,
) {
    match (family, address) {
        (None | Some(IpFamily::Ipv4), IpAddr::V6(_)) => {
            v.invalid(format!("{p}/@address"), format!("{address} is an IPv6 address: say family='ipv6'"));
        }
        (Some(IpFamily::Ipv6), IpAddr::V4(_)) => {
            v.invalid(format!("{p}/@address"), format!("family is 'ipv6' but {address} is an IPv4 address"));
        }
        _ => {}
    }
    if netmask.is_some() && prefix.is_some() {
        v.invalid(format!("{p}/@prefix"), "give a netmask or a prefix, not both");
    }
    if netmask.is_some() && address.is_ipv6() {
        v.invalid(format!("{p}/@netmask"), "a netmask is for IPv4; give IPv6 a prefix");
    }
    if let Some(m) = netmask
        && super::netmask_prefix(m).is_none()
    {
        v.value(format!("{p}/@netmask"), format!("{m} is not a netmask"));
    }
    let max = if address.is_ipv6() { 128 } else { 32 };
    if let Some(x) = prefix.filter(|x| *x > max) {
        v.value(format!("{p}/@prefix"), format!("{x} is out of range (at most {max})"));
    }
}

fn check_ip(ip: &NetworkIp, p: &str, v: &mut V) {
    check_family(v, p, ip.family, ip.address, ip.netmask, ip.prefix);
    if ip.netmask.is_none() && ip.prefix.is_none() && ip.prefix_len().is_none() {
        v.invalid(format!("{p}/@address"), format!("{} has no natural prefix: give a prefix or netmask", ip.address));
    }
    if let Some(root) = &ip.tftp_root {
        if ip.is_ipv6() {
            v.invalid(format!("{p}/tftp"), "TFTP is for IPv4 only");
        }
        if root.contains(['\n', '\r']) {
            v.value(format!("{p}/tftp/@root"), "a path is one line");
        }
    }
    if let Some(d) = &ip.dhcp {
        check_dhcp(ip, d, &format!("{p}/dhcp"), v);
    }
}

fn check_dhcp(ip: &NetworkIp, d: &Dhcp, at: &str, v: &mut V) {
    let subnet = ip.subnet();
    let n = d.ranges.len();
    for (i, r) in d.ranges.iter().enumerate() {
        let p = format!("{at}/{}", idx("range", i, n));
        let range = format!("{} - {}", r.start, r.end);
        if !same_family(r.start, r.end) || !same_family(r.start, ip.address) {
            v.invalid(&p, format!("the range {range} mixes address families with {}", ip.address));
            continue;
        }
        if ip_u128(r.start) > ip_u128(r.end) {
            v.invalid(&p, format!("the range {range} is reversed"));
        } else if ip_u128(r.start) >> 16 != ip_u128(r.end) >> 16 {
            // libvirt's rule: the ends differ in their last 16 bits only.
            let block = if r.start.is_ipv4() { "/16" } else { "/112" };
            v.invalid(&p, format!("the range {range} is too large: its ends must lie in one {block}"));
        }
        if let Some(s) = subnet {
            if !(s.contains(r.start) && s.contains(r.end)) {
                v.invalid(&p, format!("the range {range} is not inside the network {s}"));
            } else if r.start == s.network() && r.start.is_ipv4() {
                v.invalid(format!("{p}/@start"), format!("{} is the network's own address", r.start));
            } else if s.broadcast().map(IpAddr::V4) == Some(r.end) {
                v.invalid(format!("{p}/@end"), format!("{} is the broadcast address", r.end));
            }
        }
        if let Some(l) = &r.lease {
            check_lease(l.expiry, l.unit, &format!("{p}/lease"), v);
        }
    }
    let n = d.hosts.len();
    for (i, h) in d.hosts.iter().enumerate() {
        check_dhcp_host(ip, h, &format!("{at}/{}", idx("host", i, n)), v);
        // dnsmasq would give one of the two what the other was promised.
        let earlier = &d.hosts[..i];
        if let Some(mac) = h.mac
            && let Some(j) = earlier.iter().position(|o| o.mac == Some(mac))
        {
            let p = format!("{at}/{}/@mac", idx("host", i, n));
            v.invalid(p, format!("MAC {mac} is host {}'s already", j + 1));
        }
        if let Some(j) = earlier.iter().position(|o| o.ip == h.ip) {
            let p = format!("{at}/{}/@ip", idx("host", i, n));
            v.invalid(p, format!("address {} is host {}'s already", h.ip, j + 1));
        }
    }
    if let Some(b) = &d.bootp {
        if ip.is_ipv6() {
            v.invalid(format!("{at}/bootp"), "network boot (bootp) is for IPv4 only");
        }
        if b.file.is_empty() || b.file.contains(['\n', '\r']) {
            v.value(format!("{at}/bootp/@file"), "a boot file name is one line, not empty");
        }
    }
    let n = d.options.len();
    for (i, o) in d.options.iter().enumerate() {
        let p = format!("{at}/{}", idx("option", i, n));
        if o.number == 0 || o.number == 255 {
            v.value(format!("{p}/@number"), format!("{} is not a DHCP option (1 to 254)", o.number));
        }
        if o.value.contains(['\n', '\r']) {
            v.value(format!("{p}/@value"), "a DHCP option's value is one line");
        }
    }
}

fn check_dhcp_host(ip: &NetworkIp, h: &DhcpHost, p: &str, v: &mut V) {
    if ip.is_ipv6() {
        if let Some(mac) = &h.mac {
            v.invalid(format!("{p}/@mac"), format!("an IPv6 host is known by id or name, not by MAC ({mac})"));
        }
        if h.id.is_none() && h.name.is_none() {
            v.invalid(p, "an IPv6 host needs an id or a name");
        }
    } else if h.mac.is_none() && h.name.is_none() {
        v.invalid(p, "an IPv4 host needs a mac or a name");
    }
    if let Some(mac) = &h.mac
        && mac.is_multicast()
    {
        v.value(format!("{p}/@mac"), format!("{mac} is a multicast address; a host has a unicast one"));
    }
    if let Some(id) = &h.id
        && !is_duid(id)
    {
        v.value(
            format!("{p}/@id"),
            format!("'{}' is not a DHCP unique id (DUID, like 0:3:0:1:52:54:0:1:2:3)", truncate(id)),
        );
    }
    if let Some(name) = &h.name
        && !name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
    {
        v.value(format!("{p}/@name"), format!("'{}' does not start with a letter or digit", truncate(name)));
    }
    if !same_family(h.ip, ip.address) {
        v.invalid(format!("{p}/@ip"), format!("{} is not of the family of {}", h.ip, ip.address));
    }
    if let Some(l) = &h.lease {
        check_lease(l.expiry, l.unit, &format!("{p}/lease"), v);
    }
}

/// dnsmasq's shortest lease is two minutes; 0 means forever.
fn check_lease(expiry: u64, unit: Option<LeaseUnit>, p: &str, v: &mut V) {
    let too_short = match unit.unwrap_or(LeaseUnit::Minutes) {
        LeaseUnit::Seconds => expiry < 120,
        LeaseUnit::Minutes => expiry < 2,
        LeaseUnit::Hours => false,
    };
    if expiry > 0 && too_short {
        v.value(format!("{p}/@expiry"), "the shortest lease is 2 minutes (0 is forever)");
    }
}

/// A DUID as libvirt's schema spells one: link-layer plus time (type 1),
/// enterprise number (type 2), link-layer (type 3) or UUID (type 4).
fn is_duid(s: &str) -> bool {
    let groups: Vec<&str> = s.split(':').collect();
    if !groups.iter().all(|g| (1..=2).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_hexdigit())) {
        return false;
    }
    let zero = |g: &str| g == "0" || g == "00";
    let is = |g: &str, d: char| g == d.to_string() || g == format!("0{d}");
    // The hardware type's low byte: one non-zero digit, maybe after a 0.
    let hw = |g: &str| {
        let t = g.strip_prefix('0').filter(|t| !t.is_empty()).unwrap_or(g);
        t.len() == 1 && t != "0"
    };
    let Some((g0, g1)) = groups.first().zip(groups.get(1)) else {
        return false;
    };
    if !zero(g0) {
        return false;
    }
    let len = groups.len();
    let link = |extra: usize| zero(groups[2]) && hw(groups[3]) && (4 + extra + 6..=4 + extra + 8).contains(&len);
    if is(g1, '1') {
        len >= 4 && link(4)
    } else if is(g1, '2') {
        (2 + 4 + 1..=2 + 4 + 124).contains(&len)
    } else if is(g1, '3') {
        len >= 4 && link(0)
    } else if is(g1, '4') {
        len == 2 + 16
    } else {
        false
    }
}

// ---- routes ----

fn check_routes(n: &Network, v: &mut V) {
    let count = n.routes.len();
    for (i, r) in n.routes.iter().enumerate() {
        let p = format!("/network/{}", idx("route", i, count));
        check_route(r, &p, v);
        // libvirt: the gateway must be on one of the network's subnets.
        let reachable = n.ips.iter().filter_map(NetworkIp::subnet).any(|s| s.contains(r.gateway));
        if !reachable && same_family(r.address, r.gateway) {
            v.invalid(
                format!("{p}/@gateway"),
                format!("the gateway {} is not on any of the network's subnets", r.gateway),
            );
        }
    }
}

pub(crate) fn check_route(r: &Route, p: &str, v: &mut V) {
    check_family(v, p, r.family, r.address, r.netmask, r.prefix);
    if !same_family(r.address, r.gateway) {
        v.invalid(format!("{p}/@gateway"), format!("{} is not of the family of {}", r.gateway, r.address));
    }
    match r.destination() {
        Some(d) if d.network() != r.address => v.value(
            format!("{p}/@address"),
            format!("{} has host bits set for /{}: the network is {}", r.address, d.prefix(), d.network()),
        ),
        Some(_) => {}
        None if r.netmask.is_none() && r.prefix.is_none() => {
            v.invalid(format!("{p}/@address"), format!("{} has no natural prefix: give a prefix or netmask", r.address))
        }
        None => {}
    }
    if r.metric == Some(0) {
        v.value(format!("{p}/@metric"), "a metric is at least 1");
    }
}

#[cfg(test)]
mod tests {
    use super::is_duid;

    #[test]
    fn duids_of_each_type() {
        assert!(is_duid("0:4:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63"));
        assert!(is_duid("0:3:0:1:0:16:3e:11:22:33"));
        assert!(is_duid("0:1:0:1:18:aa:62:fe:0:16:3e:44:55:66"));
        assert!(is_duid("00:02:00:00:ab:11:0f"));
        for bad in
            ["", "0:5:1:2", "1:3:0:1:0:16:3e:11:22:33", "0:3:0:0:0:16:3e:11:22:33", "0:4:1", "0:3:0:1:0:16:3e:11:22:3g"]
        {
            assert!(!is_duid(bad), "{bad}");
        }
    }
}
