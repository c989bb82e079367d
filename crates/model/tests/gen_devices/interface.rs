//! The `<interface>` generator. It keeps to validate's rules: virtio-only
//! driver options on virtio models, a passt backend (and its forwarded
//! ports) on user interfaces only, a virtual port of a type the interface's
//! type takes, a floor on networks' inbound only, valid addresses and
//! routes, a persistent team member with an alias and a virtio model.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use virtkit_model::MacAddress;
use virtkit_model::domain::devices::{
    BackendType, Coalesce, CoalesceFrames, CoalesceRx, DirectMode, FilterParameter, FilterRef, ForwardProto,
    GuestOffloads, HostOffloads, Interface, InterfaceBackend, InterfaceDriver, InterfaceDriverName, InterfaceGuest,
    InterfaceIp, InterfaceSource, InterfaceTarget, InterfaceTune, LinkState, MacType, NetworkSource, NicModel,
    PciAddress, PortForward, PortRange, Rom, Teaming, TxMode, VhostUserMode, VirtioOptions,
};
use virtkit_model::network::{
    Bandwidth, BandwidthRate, IpFamily, MacTableManager, NativeMode, Route, VirtualPort, VirtualPortParameters,
    VirtualPortType, Vlan, VlanTag,
};

use super::{device_name, reconnect};
use crate::{abs_path, alias_address, chars, device_boot, one_line, one_of, opt, opt_bool, opt_of, re, text_char};

fn network_source() -> BoxedStrategy<NetworkSource> {
    let name = chars(text_char().prop_filter("no slash", |c| *c != '/').boxed(), 1..=12);
    (name, opt(device_name()), opt(any::<u128>()))
        .prop_map(|(n, portgroup, portid)| {
            let mut s = NetworkSource::new(n);
            s.portgroup = portgroup;
            s.portid = portid.map(uuid::Uuid::from_u128);
            s
        })
        .boxed()
}

fn ipv4() -> BoxedStrategy<Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from).boxed()
}

fn source() -> BoxedStrategy<InterfaceSource> {
    let bridge_name = || re(r"[a-zA-Z0-9_.\\:/ -]{1,12}");
    let port = || 1u16..=u16::MAX;
    prop_oneof![
        (network_source(), opt(bridge_name()), opt_of(MacTableManager::ALL)).prop_map(|(n, bridge, m)| {
            let mut s = InterfaceSource::network(n.network);
            if let InterfaceSource::Network { portgroup, portid, bridge: b, mac_table_manager, .. } = &mut s {
                // A MAC table manager is the bridge's.
                let m = m.filter(|_| bridge.is_some());
                (*portgroup, *portid, *b, *mac_table_manager) = (n.portgroup, n.portid, bridge, m);
            }
            s
        }),
        (bridge_name(), opt_of(MacTableManager::ALL), opt(network_source())).prop_map(|(b, m, n)| {
            let mut s = InterfaceSource::bridge(b);
            if let InterfaceSource::Bridge { mac_table_manager, network, .. } = &mut s {
                (*mac_table_manager, *network) = (m, n);
            }
            s
        }),
        opt(device_name()).prop_map(|dev| InterfaceSource::User { dev }),
        (vec(interface_ip(), 0..=2), vec(route(), 0..=2)).prop_map(|(ips, routes)| {
            let mut s = InterfaceSource::ethernet();
            if let InterfaceSource::Ethernet { ips: i, routes: r } = &mut s {
                (*i, *r) = (ips, routes);
            }
            s
        }),
        (device_name(), opt_of(DirectMode::ALL), opt(network_source()))
            .prop_map(|(dev, mode, network)| InterfaceSource::Direct { dev, mode, network }),
        (abs_path(), one_of(VhostUserMode::ALL), opt(reconnect())).prop_map(|(path, mode, r)| {
            // Only a client reconnects.
            let reconnect = r.filter(|_| mode == VhostUserMode::Client);
            InterfaceSource::Vhostuser { path, mode, reconnect }
        }),
        device_name().prop_map(|dev| InterfaceSource::Vdpa { dev }),
        (0u32..=0xffff, any::<u8>(), 0u32..32, 0u32..8, opt_bool()).prop_map(
            |(domain, bus, slot, function, managed)| {
                let address = PciAddress::new(domain, u32::from(bus), slot, function);
                InterfaceSource::Hostdev { address, managed }
            }
        ),
        (opt(ipv4()), port()).prop_map(|(address, port)| InterfaceSource::Server { address, port }),
        (ipv4(), port()).prop_map(|(address, port)| InterfaceSource::Client { address, port }),
        (224u8..=239, any::<[u8; 3]>(), port())
            .prop_map(|(a, [b, c, d], port)| InterfaceSource::Mcast { address: Ipv4Addr::new(a, b, c, d), port }),
        (ipv4(), port(), ipv4(), port()).prop_map(|(address, port, local_address, local_port)| {
            InterfaceSource::Udp { address, port, local_address, local_port }
        }),
        device_name().prop_map(|name| InterfaceSource::Internal { name }),
        Just(InterfaceSource::Null),
        (any::<u128>(), any::<i64>(), re("[a-z0-9-]{1,8}"), any::<i64>()).prop_map(|(s, portid, pg, connectionid)| {
            InterfaceSource::Vds { switchid: uuid::Uuid::from_u128(s), portid, portgroupid: pg, connectionid }
        }),
    ]
    .boxed()
}

fn interface_ip() -> BoxedStrategy<InterfaceIp> {
    prop_oneof![
        (ipv4(), 0u8..=32, opt(ipv4()), any::<bool>()).prop_map(|(a, prefix, peer, family)| {
            let mut ip = InterfaceIp::new(IpAddr::V4(a), prefix);
            ip.family = family.then_some(IpFamily::Ipv4);
            ip.peer = peer.map(IpAddr::V4);
            ip
        }),
        (any::<u128>(), 0u8..=128, opt(any::<u128>())).prop_map(|(a, prefix, peer)| {
            let mut ip = InterfaceIp::new(IpAddr::V6(Ipv6Addr::from(a)), prefix);
            ip.peer = peer.map(|p| IpAddr::V6(Ipv6Addr::from(p)));
            ip
        }),
    ]
    .boxed()
}

/// An IPv4 route to a network (no host bits) through a gateway.
fn route() -> BoxedStrategy<Route> {
    (any::<u32>(), 1u8..=32, ipv4(), opt(1u32..=u32::MAX))
        .prop_map(|(a, prefix, gw, metric)| {
            let net = a & (u32::MAX << (32 - u32::from(prefix)));
            let mut r = Route::new(IpAddr::V4(Ipv4Addr::from(net)), prefix, IpAddr::V4(gw));
            r.metric = metric;
            r
        })
        .boxed()
}

fn model() -> BoxedStrategy<NicModel> {
    let known = &["virtio", "virtio-transitional", "virtio-non-transitional", "e1000", "e1000e", "rtl8139", "usb-net"];
    prop_oneof![3 => one_of(known).prop_map(str::to_owned), 1 => re("[a-zA-Z0-9_-]{1,12}")]
        .prop_map(|m| NicModel::new(m).unwrap())
        .boxed()
}

fn driver(virtio: bool) -> BoxedStrategy<InterfaceDriver> {
    let size = || opt((0u32..=15).prop_map(|n| 1u32 << n));
    let host = (opt_bool(), opt_bool(), opt_bool(), opt_bool(), opt_bool(), opt_bool(), opt_bool()).prop_map(
        |(csum, gso, tso4, tso6, ecn, ufo, mrg_rxbuf)| {
            let mut h = HostOffloads::default();
            (h.csum, h.gso, h.tso4, h.tso6, h.ecn, h.ufo, h.mrg_rxbuf) = (csum, gso, tso4, tso6, ecn, ufo, mrg_rxbuf);
            h
        },
    );
    let guest =
        (opt_bool(), opt_bool(), opt_bool(), opt_bool(), opt_bool()).prop_map(|(csum, tso4, tso6, ecn, ufo)| {
            let mut g = GuestOffloads::default();
            (g.csum, g.tso4, g.tso6, g.ecn, g.ufo) = (csum, tso4, tso6, ecn, ufo);
            g
        });
    let virtio_opts = (opt_bool(), opt_bool(), opt_bool(), opt_bool()).prop_map(|(iommu, ats, packed, ppv)| {
        let mut o = VirtioOptions::default();
        (o.iommu, o.ats, o.packed, o.page_per_vq) = (iommu, ats, packed, ppv);
        o
    });
    (
        (opt(one_of(&[InterfaceDriverName::Qemu, InterfaceDriverName::Vhost][..])), opt_of(TxMode::ALL)),
        (opt_bool(), opt_bool(), opt(1u32..=256), size(), size(), opt_bool(), opt_bool()),
        (virtio_opts, opt(host), opt(guest)),
    )
        .prop_map(move |((name, txmode), (ioeventfd, event_idx, queues, rx, tx, rss, hash), (vo, host, guest))| {
            let mut d = InterfaceDriver::default();
            d.name = name;
            d.virtio = vo;
            if virtio {
                (d.txmode, d.ioeventfd, d.event_idx, d.queues) = (txmode, ioeventfd, event_idx, queues);
                (d.rx_queue_size, d.tx_queue_size, d.rss, d.host, d.guest) = (rx, tx, rss, host, guest);
                // Reporting the hash needs RSS.
                d.rss_hash_report = hash.filter(|_| rss == Some(true));
            }
            d
        })
        .boxed()
}

fn vlan() -> BoxedStrategy<Vlan> {
    (any::<bool>(), vec((0u16..=4095, opt_of(NativeMode::ALL)), 1..=3))
        .prop_map(|(trunk, tags)| {
            let mut v = Vlan::trunk(tags.iter().map(|t| t.0));
            v.trunk = trunk;
            // Only one tag is the native one.
            v.tags = tags
                .into_iter()
                .enumerate()
                .map(|(i, (id, native))| {
                    let mut t = Vlan::tag(id).tags.remove(0);
                    t.native_mode = native.filter(|_| i == 0);
                    t
                })
                .collect::<Vec<VlanTag>>();
            v
        })
        .boxed()
}

/// A port of a type the interface's type takes, with its parameters.
fn virtualport(kind: &'static str) -> BoxedStrategy<Option<VirtualPort>> {
    let uuid = || opt(any::<u128>().prop_map(uuid::Uuid::from_u128));
    let profile = || opt(re("[a-zA-Z0-9_-]{1,39}"));
    let qbg = (opt(any::<u8>()), opt(0u32..=0xff_ffff), opt(any::<u8>()), uuid()).prop_map(|(m, t, v, i)| {
        let mut p = VirtualPortParameters::default();
        (p.managerid, p.typeid, p.typeidversion, p.instanceid) = (m, t, v, i);
        VirtualPort::new(VirtualPortType::Qbg).with_parameters(p)
    });
    let qbh = profile().prop_map(|id| {
        let mut p = VirtualPortParameters::default();
        p.profileid = id;
        VirtualPort::new(VirtualPortType::Qbh).with_parameters(p)
    });
    let ovs = (profile(), uuid()).prop_map(|(id, iface)| {
        let mut p = VirtualPortParameters::default();
        (p.profileid, p.interfaceid) = (id, iface);
        VirtualPort::new(VirtualPortType::Openvswitch).with_parameters(p)
    });
    let midonet = any::<u128>().prop_map(|id| {
        let mut p = VirtualPortParameters::default();
        p.interfaceid = Some(uuid::Uuid::from_u128(id));
        VirtualPort::new(VirtualPortType::Midonet).with_parameters(p)
    });
    match kind {
        "network" => opt(prop_oneof![qbg, qbh, ovs, midonet]),
        "bridge" => opt(prop_oneof![ovs, midonet]),
        "direct" | "hostdev" => opt(prop_oneof![qbg, qbh]),
        _ => Just(None).boxed(),
    }
}

fn bandwidth(network: bool) -> BoxedStrategy<Bandwidth> {
    let rate = |floor: bool| {
        (1u32..=u32::MAX, opt(1u32..=u32::MAX), opt(1u32..=u32::MAX), opt(1u32..=u32::MAX)).prop_map(
            move |(average, peak, burst, fl)| {
                let mut r = BandwidthRate::average(average);
                (r.peak, r.burst, r.floor) = (peak, burst, fl.filter(|_| floor));
                r
            },
        )
    };
    (opt(rate(network)), opt(rate(false)))
        .prop_map(|(inbound, outbound)| {
            let mut b = Bandwidth::default();
            (b.inbound, b.outbound) = (inbound, outbound);
            b
        })
        .boxed()
}

fn port_forward() -> BoxedStrategy<PortForward> {
    let range = (1u16..=u16::MAX, opt(any::<u16>()), opt(any::<u16>()), opt_bool()).prop_map(|(start, end, to, ex)| {
        let mut r = PortRange::new(start);
        r.end = end.filter(|e| *e >= start);
        r.exclude = ex;
        r.to = to.filter(|_| ex != Some(true));
        r
    });
    (one_of(ForwardProto::ALL), opt(ipv4()), opt(device_name()), vec(range, 0..=2))
        .prop_map(|(proto, address, dev, ranges)| {
            let mut f = PortForward::new(proto);
            (f.address, f.dev, f.ranges) = (address.map(IpAddr::V4), dev, ranges);
            f
        })
        .boxed()
}

fn filterref() -> BoxedStrategy<FilterRef> {
    (re("[a-zA-Z_][a-zA-Z0-9_.-]{0,10}"), vec((re("[a-zA-Z0-9_]{1,8}"), re("[a-zA-Z0-9_.:]{1,8}")), 0..=2))
        .prop_map(|(name, params)| {
            let mut f = FilterRef::new(name);
            f.parameters = params.into_iter().map(|(n, v)| FilterParameter::new(n, v)).collect();
            f
        })
        .boxed()
}

pub(super) fn rom() -> BoxedStrategy<Rom> {
    (opt_bool(), opt_bool(), opt(abs_path()))
        .prop_map(|(enabled, bar, file)| {
            let mut r = Rom::default();
            r.enabled = enabled;
            // A disabled ROM has no bar or file.
            if enabled != Some(false) {
                (r.bar, r.file) = (bar, file);
            }
            r
        })
        .boxed()
}

fn backend(user: bool) -> BoxedStrategy<InterfaceBackend> {
    (any::<bool>(), opt(abs_path()), opt(abs_path()), opt(abs_path()))
        .prop_map(move |(passt, tap, vhost, log)| {
            let mut b = InterfaceBackend::default();
            (b.tap, b.vhost) = (tap, vhost);
            if user && passt {
                (b.backend_type, b.log_file) = (Some(BackendType::Passt), log);
            }
            b
        })
        .boxed()
}

/// The parts any interface may have, whatever its type.
type Common = (
    (Option<[u8; 6]>, Option<MacType>, Option<bool>, Option<bool>, Option<Vlan>, Option<bool>),
    (Vec<InterfaceIp>, Vec<Route>, Option<String>, Option<String>, Option<String>),
    (Option<(String, Option<bool>)>, Option<(Option<String>, Option<String>)>, Option<FilterRef>),
    (Option<Option<u32>>, Option<LinkState>, Option<u16>, Option<Option<u32>>, Option<Rom>, Option<u32>),
);

fn common() -> BoxedStrategy<Common> {
    let script = || opt(one_line(1..=16));
    (
        (opt(any::<[u8; 6]>()), opt_of(MacType::ALL), opt_bool(), opt_bool(), opt(vlan()), opt_bool()),
        (vec(interface_ip(), 0..=2), vec(route(), 0..=1), script(), script(), opt(one_line(1..=8))),
        (
            opt((re(r"[a-zA-Z0-9_.\\:/-]{1,12}"), opt_bool())),
            opt((opt(device_name()), opt(device_name()))),
            opt(filterref()),
        ),
        (
            opt(opt(any::<u32>())),
            opt_of(LinkState::ALL),
            opt(any::<u16>()),
            opt(opt(any::<u32>())),
            opt(rom()),
            opt(1u32..=16383),
        ),
    )
        .boxed()
}

pub(crate) fn interface() -> BoxedStrategy<Interface> {
    source()
        .prop_flat_map(|source| {
            let kind = source.kind();
            let user = kind == "user";
            let network = kind == "network";
            let virtio_only = matches!(kind, "vhostuser" | "vdpa");
            let model = if virtio_only { opt(Just(NicModel::virtio())) } else { opt(model()) };
            (Just(source), model, common(), virtualport(kind), opt(bandwidth(network)), opt(backend(user)))
                .prop_flat_map(|(source, model, common, vp, bw, be)| {
                    let virtio = model.as_ref().is_some_and(NicModel::is_virtio);
                    let passt = be.as_ref().is_some_and(|b| b.backend_type.is_some());
                    let forwards = if passt { vec(port_forward(), 0..=2).boxed() } else { Just(Vec::new()).boxed() };
                    let team = if virtio { opt_bool() } else { Just(None).boxed() };
                    // A host device is given through vfio (or legacy KVM
                    // assignment), with no backend options.
                    let driver = if source.kind() == "hostdev" {
                        opt(one_of(&[InterfaceDriverName::Vfio, InterfaceDriverName::Kvm][..]).prop_map(|n| {
                            let mut d = InterfaceDriver::default();
                            d.name = Some(n);
                            d
                        }))
                    } else {
                        opt(driver(virtio))
                    };
                    (
                        Just((source, model, common, vp, bw, be)),
                        driver,
                        forwards,
                        team,
                        (opt(device_boot()), alias_address()),
                    )
                })
        })
        .prop_map(
            |(
                (source, model, common, virtualport, bandwidth, backend),
                driver,
                forwards,
                team,
                (boot, (alias, address)),
            )| {
                let ethernet = matches!(source, InterfaceSource::Ethernet { .. });
                let mut i = Interface::new(source);
                let (
                    (mac, mac_type, mac_check, trust, vlan, isolated),
                    (ips, routes, script, downscript, domain),
                    (target, guest, filter),
                    (sndbuf, link, mtu, coalesce, rom, acpi),
                ) = common;
                // A unicast address: the group bit clear.
                i.mac = mac.map(|mut m| {
                    m[0] &= 0xfe;
                    MacAddress(m)
                });
                (i.mac_type, i.mac_check) = if i.mac.is_some() { (mac_type, mac_check) } else { (None, None) };
                (i.trust_guest_rx_filters, i.vlan, i.port_isolated, i.virtualport, i.bandwidth) =
                    (trust, vlan, isolated, virtualport, bandwidth);
                (i.ips, i.routes, i.port_forwards, i.script, i.downscript, i.backend_domain) =
                    (ips, routes, forwards, script, downscript, domain);
                i.target = target.map(|(dev, managed)| {
                    let mut t = InterfaceTarget::new(dev);
                    // Only a tap virtkit creates is managed.
                    t.managed = managed.filter(|_| ethernet);
                    t
                });
                i.guest = guest.map(|(dev, actual)| {
                    let mut g = InterfaceGuest::default();
                    (g.dev, g.actual) = (dev, actual);
                    g
                });
                (i.model, i.driver, i.backend, i.filterref) = (model, driver, backend, filter);
                i.tune = sndbuf.map(|s| s.map(InterfaceTune::sndbuf).unwrap_or_default());
                (i.link_state, i.mtu, i.rom, i.acpi_index) = (link, mtu, rom, acpi);
                i.coalesce = coalesce.map(|c| {
                    let mut co = Coalesce::default();
                    co.rx = Some(CoalesceRx::default());
                    if let Some(rx) = &mut co.rx {
                        let mut f = CoalesceFrames::default();
                        f.max = c;
                        rx.frames = Some(f);
                    }
                    co
                });
                (i.boot, i.alias, i.address) = (boot, alias, address);
                if team == Some(true) {
                    i.teaming = Some(Teaming::Persistent);
                    i.alias.get_or_insert_with(|| "ua-team".into());
                }
                i
            },
        )
        .boxed()
}
