//! Property tests over the network model: a generator builds random valid
//! networks that reach every part of it (every forward mode with what the
//! mode allows, bridges, IPv4 and IPv6 addresses with DHCP ranges, hosts,
//! leases and network boot, routes, DNS records, VLANs, bandwidth, virtual
//! ports, port groups, metadata, dnsmasq options), keeping to libvirt's
//! rules and saying which.
//!
//! * `valid_networks_round_trip`: each validates and comes back unchanged
//!   from its XML and from its JSON.
//! * `written_networks_pass_libvirts_schema`: our XML passes libvirt 9.0's
//!   `network.rng` (generated without what 9.0 lacks: titles, DHCP
//!   options, `register`).
//!
//! `PROPTEST_CASES` sets the number of cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{config, object_name, one_line, one_of, opt, opt_bool, opt_of, re, schema_check, schema_config, text};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use uuid::Uuid;
use virtkit_model::MacAddress;
use virtkit_model::domain::devices::PciAddress;
use virtkit_model::metadata::XmlElement;
use virtkit_model::network::{
    Bandwidth, BandwidthRate, Bootp, Bridge, Dhcp, DhcpHost, DhcpOption, DhcpRange, Dns, DnsForwarder, DnsHost, DnsSrv,
    DnsTxt, Forward, ForwardAddress, ForwardDriver, ForwardInterface, ForwardMode, IpFamily, Lease, LeaseUnit,
    MacTableManager, Nat, NatAddressRange, NatPortRange, NativeMode, Network, NetworkDomain, NetworkIp, PortGroup,
    Route, SrvProtocol, VirtualPort, VirtualPortParameters, VirtualPortType, Vlan,
};

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_networks_round_trip(n in network(true)) {
        must_validate(&n)?;
        let xml = n.to_xml();
        match Network::from_xml(&xml) {
            Ok(back) => common::same(&n, &back, "XML", &xml).map_err(TestCaseError::fail)?,
            Err(e) => prop_assert!(false, "our XML does not read back:\n{e}\n{xml}"),
        }
        let json = n.to_json();
        match Network::from_json(&json) {
            Ok(back) => common::same(&n, &back, "JSON", &json).map_err(TestCaseError::fail)?,
            Err(e) => prop_assert!(false, "our JSON does not read back:\n{e}\n{json}"),
        }
    }
}

proptest! {
    #![proptest_config(schema_config())]

    #[test]
    fn written_networks_pass_libvirts_schema(n in network(false)) {
        must_validate(&n)?;
        let xml = n.to_xml();
        if let Err(e) = schema_check("network", &xml) {
            prop_assert!(false, "libvirt's schema refuses our XML:\n{e}\n{xml}");
        }
    }
}

fn must_validate(n: &Network) -> Result<(), TestCaseError> {
    n.validate()
        .map_err(|e| TestCaseError::fail(format!("the generator made an invalid network:\n{e}\n{}", n.to_xml())))
}

// ---------------------------------------------------------------------------
// Names and small values

/// libvirt's dnsName.
fn dns_name() -> BoxedStrategy<String> {
    re("[a-zA-Z0-9.-]{1,16}")
}

/// libvirt's deviceName.
fn device_name() -> BoxedStrategy<String> {
    re("[a-zA-Z0-9_.:/\\\\-]{1,15}")
}

fn unicast_mac() -> BoxedStrategy<MacAddress> {
    any::<[u8; 6]>()
        .prop_map(|mut b| {
            b[0] &= 0xfe;
            MacAddress(b)
        })
        .boxed()
}

/// A DHCP unique id of each of the four types libvirt's schema knows.
fn duid() -> BoxedStrategy<String> {
    let bytes = |n: std::ops::RangeInclusive<usize>| {
        vec(any::<u8>(), n).prop_map(|v| v.iter().map(|b| format!("{b:x}")).collect::<Vec<_>>().join(":"))
    };
    prop_oneof![
        (1u8..=15, bytes(4..=4), bytes(6..=8)).prop_map(|(hw, t, l)| format!("0:1:0:{hw:x}:{t}:{l}")),
        bytes(5..=20).prop_map(|b| format!("00:02:{b}")),
        (1u8..=15, bytes(6..=8)).prop_map(|(hw, l)| format!("0:3:0:0{hw:x}:{l}")),
        bytes(16..=16).prop_map(|b| format!("0:04:{b}")),
    ]
    .boxed()
}

fn metadata() -> BoxedStrategy<Vec<XmlElement>> {
    vec(
        // No prefix starting with "xml": those are reserved.
        (re("[a-wyz][a-z]{0,5}"), re("[a-z]{1,6}"), text(10)).prop_map(|(p, n, t)| {
            let e = XmlElement::new(format!("urn:{p}"), p, n);
            if t.is_empty() { e } else { e.with_text(t) }
        }),
        0..=2,
    )
    .boxed()
}

fn lease() -> BoxedStrategy<Lease> {
    // dnsmasq's shortest lease is 2 minutes; 0 is forever.
    prop_oneof![
        Just(Lease::infinite()),
        (120u64..100_000).prop_map(|s| Lease::new(s, LeaseUnit::Seconds)),
        (2u64..10_000).prop_map(|m| Lease::new(m, LeaseUnit::Minutes)),
        (2u64..10_000).prop_map(|m| {
            let mut l = Lease::infinite();
            l.expiry = m;
            l
        }),
        (1u64..1000).prop_map(|h| Lease::new(h, LeaseUnit::Hours)),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Addresses

/// How an `<ip>` gives its prefix.
#[derive(Debug, Clone, Copy)]
enum Written {
    Netmask,
    Prefix,
    /// Neither: the address's natural (class) prefix.
    Natural,
}

/// A subnet (host address, prefix, how written) and offsets to draw from.
#[derive(Debug, Clone)]
struct Sub {
    address: IpAddr,
    prefix: u8,
    how: Written,
    /// Host addresses are network + 1 ..= network + `max`.
    network: u128,
    max: u128,
}

fn addr(v6: bool, n: u128) -> IpAddr {
    if v6 { IpAddr::V6(Ipv6Addr::from(n)) } else { IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap())) }
}

impl Sub {
    fn at(&self, r: u64) -> IpAddr {
        addr(self.address.is_ipv6(), self.network + 1 + u128::from(r) % self.max)
    }
}

fn subnet(v6: bool) -> BoxedStrategy<Sub> {
    if v6 {
        (any::<u128>(), 64u8..=120, any::<u64>())
            .prop_map(|(bits, prefix, r)| {
                let host = 128 - u32::from(prefix);
                let network = bits & !((1u128 << host) - 1);
                let max = ((1u128 << host) - 1).min(u128::from(u64::MAX));
                let s = Sub { address: addr(true, 0), prefix, how: Written::Prefix, network, max };
                Sub { address: s.at(r), ..s }
            })
            .boxed()
    } else {
        (any::<u32>(), 8u8..=30, 0u8..3, any::<u64>())
            .prop_map(|(bits, prefix, how, r)| {
                // A private-looking, class A/B/C network (class D/E has no natural prefix).
                let bits = bits & 0x7fff_ffff;
                let (prefix, how) = match how {
                    0 => (prefix, Written::Netmask),
                    1 => (prefix, Written::Prefix),
                    _ => (8, Written::Natural),
                };
                let host = 32 - u32::from(prefix);
                let network = u128::from(bits & !((1u32 << host) - 1));
                let max = (1u128 << host) - 2;
                let s = Sub { address: addr(false, 0), prefix, how, network, max };
                Sub { address: s.at(r), ..s }
            })
            .boxed()
    }
}

fn network_ip(v6: bool, with_dhcp: bool, newer: bool) -> BoxedStrategy<(NetworkIp, Sub)> {
    (subnet(v6), opt_bool(), any::<bool>(), opt(re("/[a-z/]{0,10}")))
        .prop_flat_map(move |(s, local_ptr, family, tftp)| {
            let dhcp = if with_dhcp { opt(dhcp(s.clone(), newer)).boxed() } else { Just(None).boxed() };
            (Just((s, local_ptr, family, tftp)), dhcp)
        })
        .prop_map(move |((s, local_ptr, family, tftp), dhcp)| {
            let mut ip = NetworkIp::new(s.address, s.prefix);
            match s.how {
                Written::Netmask => {
                    ip.prefix = None;
                    ip.netmask = Some(Ipv4Addr::from(u32::MAX << (32 - u32::from(s.prefix))));
                }
                Written::Natural => ip.prefix = None,
                Written::Prefix => {}
            }
            // `family` is optional for IPv4 only.
            ip.family = if v6 { Some(IpFamily::Ipv6) } else { family.then_some(IpFamily::Ipv4) };
            ip.local_ptr = local_ptr;
            ip.tftp_root = if v6 { None } else { tftp };
            ip.dhcp = dhcp;
            (ip, s)
        })
        .boxed()
}

fn dhcp(s: Sub, newer: bool) -> BoxedStrategy<Dhcp> {
    let v6 = s.address.is_ipv6();
    let range = {
        let s = s.clone();
        (any::<u64>(), 0u64..65536, opt(lease())).prop_map(move |(a, len, lease)| {
            // Inside the subnet, not its network or broadcast address, at most 65536 addresses.
            // libvirt: both ends in one /16 (IPv4) or /112 (IPv6) block.
            let start = 1 + u128::from(a) % s.max;
            let block_end = ((s.network + start) | 0xffff) - s.network;
            let end = (start + u128::from(len)).min(s.max).min(block_end);
            let mut r = DhcpRange::new(addr(v6, s.network + start), addr(v6, s.network + end));
            r.lease = lease;
            r
        })
    };
    let host = {
        let s = s.clone();
        (any::<u64>(), opt(unicast_mac()), opt(duid()), opt(re("[a-z0-9][a-z0-9.-]{0,10}")), opt(lease())).prop_map(
            move |(r, mac, id, name, lease)| {
                let ip = s.at(r);
                // IPv4 hosts are known by MAC or name, IPv6 hosts by id or name.
                let mut h = if v6 {
                    match (id, name.clone()) {
                        (Some(id), _) => DhcpHost::by_id(id, ip),
                        (None, _) => DhcpHost::by_name(name.clone().unwrap_or_else(|| "h".into()), ip),
                    }
                } else {
                    match mac {
                        Some(m) => DhcpHost::by_mac(m, ip),
                        None => DhcpHost::by_name(name.clone().unwrap_or_else(|| "h".into()), ip),
                    }
                };
                if h.name.is_none() {
                    h.name = name;
                }
                h.lease = lease;
                h
            },
        )
    };
    let bootp = (re("[a-z.]{1,10}"), opt(any::<u32>().prop_map(Ipv4Addr::from))).prop_map(|(f, server)| {
        let mut b = Bootp::new(f);
        b.server = server;
        b
    });
    let option = (1u8..=254, one_line(0..=10)).prop_map(|(n, v)| DhcpOption::new(n, v));
    (
        vec(range, 0..=2),
        vec(host, 0..=3),
        if v6 { Just(None).boxed() } else { opt(bootp).boxed() },
        if newer { vec(option, 0..=2).boxed() } else { Just(Vec::new()).boxed() },
    )
        .prop_map(|(ranges, hosts, bootp, options)| {
            let mut d = Dhcp::default();
            d.ranges = ranges;
            // Each MAC and each address is one host's.
            let mut hosts: Vec<DhcpHost> = hosts;
            let mut seen = Vec::new();
            hosts.retain(|h: &DhcpHost| {
                let clash = seen.iter().any(|(m, ip)| *ip == h.ip || (h.mac.is_some() && *m == h.mac));
                seen.push((h.mac, h.ip));
                !clash
            });
            d.hosts = hosts;
            d.bootp = bootp;
            d.options = options;
            d
        })
        .boxed()
}

/// `<ip>`s of both families; at most one of each family runs DHCP.
fn ips(at_least_one: bool, newer: bool) -> BoxedStrategy<Vec<(NetworkIp, Sub)>> {
    (
        opt(network_ip(false, true, newer)),
        opt(network_ip(true, true, newer)),
        vec(network_ip(false, false, newer), 0..=1),
        vec(network_ip(true, false, newer), 0..=1),
    )
        .prop_map(move |(a, b, mut c, mut d)| {
            let mut v: Vec<_> = a.into_iter().chain(b).collect();
            v.append(&mut c);
            v.append(&mut d);
            v
        })
        .prop_filter("mode needs an <ip>", move |v| !at_least_one || !v.is_empty())
        .boxed()
}

/// Routes through a gateway on one of the subnets.
fn routes(subnets: Vec<Sub>) -> BoxedStrategy<Vec<Route>> {
    if subnets.is_empty() {
        return Just(Vec::new()).boxed();
    }
    let n = subnets.len();
    vec((0..n, any::<u128>(), 0u8..=128, any::<u64>(), opt(1u32..1000), any::<bool>()), 0..=2)
        .prop_map(move |rs| {
            rs.into_iter()
                .map(|(i, bits, prefix, r, metric, family)| {
                    let s = &subnets[i];
                    let v6 = s.address.is_ipv6();
                    let prefix = if v6 { prefix } else { prefix % 33 };
                    let bits = if v6 { bits } else { bits & 0xffff_ffff };
                    let dest = virtkit_model::network::Subnet::new(addr(v6, bits), prefix).unwrap().network();
                    let mut route = Route::new(dest, prefix, s.at(r));
                    route.metric = metric;
                    if !v6 && family {
                        route.family = Some(IpFamily::Ipv4);
                    }
                    route
                })
                .collect()
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Ports

fn vlan() -> BoxedStrategy<Vlan> {
    (vec(0u16..=4095, 1..=4), any::<bool>(), opt((0usize..4, one_of(NativeMode::ALL))))
        .prop_map(|(ids, trunk, native)| {
            let mut v = Vlan::trunk(ids);
            v.trunk = trunk;
            if let Some((i, mode)) = native {
                let n = v.tags.len();
                v.tags[i % n].native_mode = Some(mode);
            }
            v
        })
        .boxed()
}

fn bandwidth() -> BoxedStrategy<Bandwidth> {
    let rate = (1u32..100_000, opt(1u32..100_000), opt(1u32..100_000)).prop_map(|(a, p, b)| {
        let mut r = BandwidthRate::average(a);
        r.peak = p;
        r.burst = b;
        r
    });
    (opt(rate.clone()), opt(rate))
        .prop_map(|(inbound, outbound)| {
            let mut b = Bandwidth::default();
            b.inbound = inbound;
            b.outbound = outbound;
            b
        })
        .boxed()
}

fn virtualport(typed: bool) -> BoxedStrategy<VirtualPort> {
    let uuid = || any::<u128>().prop_map(Uuid::from_u128);
    let profile = || re("[a-z0-9-]{1,39}");
    let ty = if typed { one_of(VirtualPortType::ALL).prop_map(Some).boxed() } else { opt_of(VirtualPortType::ALL) };
    (
        ty,
        any::<bool>(),
        opt(any::<u8>()),
        opt(0u32..=0xff_ffff),
        opt(any::<u8>()),
        opt(uuid()),
        opt(profile()),
        opt(uuid()),
    )
        .prop_map(|(t, with, managerid, typeid, typeidversion, instanceid, profileid, interfaceid)| {
            let mut p = VirtualPortParameters::default();
            match t {
                Some(VirtualPortType::Qbg) => {
                    (p.managerid, p.typeid, p.typeidversion, p.instanceid) =
                        (managerid, typeid, typeidversion, instanceid);
                }
                Some(VirtualPortType::Qbh) => p.profileid = profileid,
                Some(VirtualPortType::Openvswitch) => (p.profileid, p.interfaceid) = (profileid, interfaceid),
                // MidoNet needs its interface id.
                Some(VirtualPortType::Midonet) => p.interfaceid = Some(interfaceid.unwrap_or_default()),
                _ => (p.managerid, p.profileid, p.interfaceid) = (managerid, profileid, interfaceid),
            }
            let mut vp = VirtualPort::default();
            vp.port_type = t;
            if with || t == Some(VirtualPortType::Midonet) {
                vp.parameters = Some(p);
            }
            vp
        })
        .boxed()
}

fn portgroups() -> BoxedStrategy<Vec<PortGroup>> {
    vec((device_name(), opt_bool(), opt(vlan()), opt(virtualport(false)), opt(bandwidth())), 0..=3)
        .prop_map(|gs| {
            let mut seen = std::collections::HashSet::new();
            let mut default = false;
            gs.into_iter()
                .filter(|g| seen.insert(g.0.clone()))
                .map(|(name, d, vlan, vp, bw)| {
                    let mut g = PortGroup::new(name);
                    // One default group at most.
                    g.default = d.filter(|d| !*d || !std::mem::replace(&mut default, true));
                    g.vlan = vlan;
                    g.virtualport = vp;
                    g.bandwidth = bw;
                    g
                })
                .collect()
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// DNS

fn dns() -> BoxedStrategy<Dns> {
    let forwarder =
        (opt(any::<u32>().prop_map(|a| IpAddr::V4(a.into()))), opt(dns_name())).prop_map(|(addr, domain)| {
            match (addr, domain) {
                (a, Some(d)) => DnsForwarder::for_domain(d, a),
                (a, None) => DnsForwarder::to(a.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            }
        });
    let txt = (dns_name(), text(12)).prop_map(|(n, v)| DnsTxt::new(n, v));
    let srv = (
        re("[a-zA-Z0-9_+/*-]{1,12}"),
        one_of(SrvProtocol::ALL),
        opt(dns_name()),
        opt((one_line(0..=8), opt(1u16..), opt(any::<u16>()), opt(any::<u16>()))),
    )
        .prop_map(|(service, protocol, domain, target)| {
            let mut s = DnsSrv::new(service, protocol);
            s.domain = domain;
            // Port, priority and weight come with a target only.
            if let Some((t, port, priority, weight)) = target {
                (s.target, s.port, s.priority, s.weight) = (Some(t), port, priority, weight);
            }
            s
        });
    let host = (any::<u128>(), any::<bool>(), vec(dns_name(), 1..=3))
        .prop_map(|(a, v6, names)| DnsHost::new(addr(v6, if v6 { a } else { a & 0xffff_ffff }), names));
    (opt_bool(), opt_bool(), vec(forwarder, 0..=2), vec(txt, 0..=2), vec(srv, 0..=2), vec(host, 0..=2))
        .prop_map(|(enable, plain, forwarders, txts, srvs, hosts)| {
            let mut d = Dns::default();
            d.enable = enable;
            d.forward_plain_names = plain;
            // A DNS server that is off has no records.
            if enable != Some(false) {
                (d.forwarders, d.txt_records, d.srv_records, d.hosts) = (forwarders, txts, srvs, hosts);
            }
            d
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// The network

fn forward_mode() -> BoxedStrategy<Option<ForwardMode>> {
    opt_of(ForwardMode::ALL)
}

/// The bridge for a mode: everything for bridges the host makes; no STP,
/// delay or zone for mode bridge; none at all for macvtap and hostdev.
fn bridge(mode: Option<ForwardMode>, has_devices: bool) -> BoxedStrategy<Option<Bridge>> {
    let host_bridge = mode.is_none_or(ForwardMode::host_bridge);
    (opt(device_name()), opt(re("[a-zA-Z0-9_-]{1,10}")), opt_bool(), opt(0u64..30), opt_of(MacTableManager::ALL))
        .prop_map(move |(name, zone, stp, delay, mtm)| {
            let mut b = Bridge::default();
            if host_bridge {
                (b.name, b.zone, b.stp, b.delay, b.mac_table_manager) = (name, zone, stp, delay, mtm);
            } else if mode == Some(ForwardMode::Bridge) {
                // A bridge name or forward devices, not both.
                b.name = if has_devices { None } else { name };
                b.mac_table_manager = mtm;
            }
            (b != Bridge::default()).then_some(b)
        })
        .boxed()
}

fn forward(mode: ForwardMode) -> BoxedStrategy<Forward> {
    let pci = (0u32..=0xffff, 0u32..=0xff, 0u32..=31, 0u32..=7, opt(any::<u32>())).prop_map(|(d, b, s, f, c)| {
        let mut a = ForwardAddress::new(PciAddress::new(d, b.max(1), s, f));
        a.connections = c;
        a
    });
    let iface = (device_name(), opt(any::<u32>())).prop_map(|(dev, c)| {
        let mut i = ForwardInterface::new(dev);
        i.connections = c;
        i
    });
    let nat =
        (opt_bool(), opt((any::<u32>(), 0u32..1000)), opt((1u16..=65535, any::<u16>()))).prop_map(|(ipv6, a, p)| {
            let mut n = Nat::default();
            n.ipv6 = ipv6;
            n.address = a.map(|(s, len)| NatAddressRange::new(s.into(), s.saturating_add(len).into()));
            n.port = p.map(|(s, len)| NatPortRange::new(s, s.saturating_add(len)));
            n
        });
    (
        any::<bool>(),
        opt(device_name()),
        vec(iface, 0..=3),
        vec(pci, 0..=3),
        opt(device_name()),
        opt(nat),
        opt_bool(),
        opt_of(ForwardDriver::ALL),
        any::<u8>(),
    )
        .prop_map(move |(explicit, dev, mut ifaces, mut addrs, pf, nat, managed, driver, pick)| {
            let mut f = Forward::default();
            // nat is the mode a <forward> without one has.
            f.mode = if mode == ForwardMode::Nat && !explicit { None } else { Some(mode) };
            let mut seen = std::collections::HashSet::new();
            ifaces.retain(|i| seen.insert(i.dev.clone()));
            let mut seen = std::collections::HashSet::new();
            addrs.retain(|a| seen.insert((a.address.domain, a.address.bus, a.address.slot, a.address.function)));
            match mode {
                ForwardMode::Nat | ForwardMode::Route => {
                    // One device at most, given as dev, as an <interface>, or both.
                    match (dev, pick % 3) {
                        (Some(d), 0) => f.dev = Some(d),
                        (Some(d), 1) => f.interfaces.push(ForwardInterface::new(d)),
                        (Some(d), _) => {
                            f.interfaces.push(ForwardInterface::new(d.clone()));
                            f.dev = Some(d);
                        }
                        (None, _) => {}
                    }
                    if mode == ForwardMode::Nat {
                        f.nat = nat;
                    }
                }
                ForwardMode::Open => {}
                ForwardMode::Hostdev if pick % 2 == 0 => {
                    (f.addresses, f.managed, f.driver) = (addrs, managed, driver);
                }
                ForwardMode::Hostdev => {
                    // Interfaces or a <pf>, not both.
                    if pick % 4 == 1 {
                        f.pf = pf
                    } else {
                        f.interfaces = ifaces
                    }
                    (f.managed, f.driver) = (managed, driver);
                }
                _ => {
                    // A pool of devices, named by dev and <interface>s or by a <pf>.
                    if pick % 2 == 0 {
                        f.pf = pf;
                    } else {
                        if pick % 4 == 1 {
                            f.dev = ifaces.first().map(|i| i.dev.clone());
                        }
                        f.interfaces = ifaces;
                    }
                }
            }
            f
        })
        .boxed()
}

fn network(newer: bool) -> BoxedStrategy<Network> {
    forward_mode()
        .prop_flat_map(move |mode| {
            let needs_ip = mode.is_some_and(ForwardMode::host_bridge);
            let fwd = match mode {
                Some(m) => forward(m).prop_map(Some).boxed(),
                None => Just(None).boxed(),
            };
            (Just(mode), fwd, ips(needs_ip, newer))
        })
        .prop_flat_map(move |(mode, fwd, ips)| {
            let has_devices = fwd.as_ref().is_some_and(|f| !f.devices().is_empty() || f.pf.is_some());
            let subnets: Vec<Sub> = ips.iter().map(|(_, s)| s.clone()).collect();
            (
                (Just(mode), Just(fwd), Just(ips), bridge(mode, has_devices), routes(subnets)),
                (object_name(), any::<u128>(), opt(one_line(0..=20)), opt(text(30)), metadata()),
                (opt(any::<u32>()), opt_bool(), opt_bool(), opt(1000u16..=9000), opt(unicast_mac())),
                (opt((dns_name(), opt_bool(), opt_bool())), opt(dns()), opt(vlan()), opt(bandwidth()), opt_bool()),
                (opt(virtualport(true)), portgroups(), vec(one_line(0..=20), 0..=2)),
            )
        })
        .prop_map(move |(a, b, c, d, e)| {
            let (mode, forward, ips, bridge, routes) = a;
            let (name, uuid, title, description, metadata) = b;
            let (connections, ipv6, trust, mtu, mac) = c;
            let (domain, dns, vlan, bandwidth, port_isolated) = d;
            let (virtualport, portgroups, dnsmasq_options) = e;
            let mut n = Network::new(name).with_uuid(Uuid::from_u128(uuid));
            if newer {
                n.title = title;
                n.description = description;
            }
            n.metadata = metadata;
            n.connections = connections;
            n.ipv6 = ipv6;
            n.trust_guest_rx_filters = trust;
            n.forward = forward;
            n.bridge = bridge;
            // An MTU is for bridges the host makes.
            n.mtu = mtu.filter(|_| mode.is_none_or(ForwardMode::host_bridge));
            n.mac = mac;
            n.domain = domain.map(|(name, local, register)| {
                let mut d = NetworkDomain::new(name);
                d.local_only = local;
                d.register = register.filter(|_| newer);
                d
            });
            n.dns = dns;
            n.vlan = vlan;
            n.bandwidth = bandwidth;
            n.port_isolated = port_isolated;
            n.ips = ips.into_iter().map(|(ip, _)| ip).collect();
            n.routes = routes;
            n.virtualport = virtualport;
            n.portgroups = portgroups;
            n.dnsmasq_options = dnsmasq_options;
            n
        })
        .boxed()
}
