//! Checks of `<interface>`: libvirt's parser's and QEMU driver's rules that
//! span its parts, and the patterns of its schema.

use std::collections::HashSet;

use super::super::{idx, is_word};
use super::Checks;
use crate::domain::devices::{
    Devices, FilterParameter, Interface, InterfaceDriverName, InterfaceIp, InterfaceSource, PortForward, Teaming,
    VhostUserMode,
};
use crate::network::validate::{check_route, check_virtualport, check_vlan};
use crate::network::{Bandwidth, IpFamily, VirtualPortType};
use crate::xml::truncate;

/// The largest ACPI index QEMU takes.
const ACPI_INDEX_MAX: u32 = 16383;

pub(super) fn interfaces(k: &mut Checks<'_>, d: &Devices) {
    let n = d.interfaces.len();
    let persistent: HashSet<&str> = d
        .interfaces
        .iter()
        .filter(|i| i.teaming == Some(Teaming::Persistent))
        .filter_map(|i| i.alias.as_deref())
        .collect();
    for (i, nic) in d.interfaces.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("interface", i, n));
        if let Some(m) = &nic.mac
            && m.is_multicast()
        {
            k.value(format!("{p}/mac/@address"), format!("{m} is a multicast address"));
        }
        source(k, &p, nic);
        host_side(k, &p, nic);
        driver(k, &p, nic);
        if let Some(v) = &nic.vlan {
            check_vlan(v, &format!("{p}/vlan"), k.v);
        }
        virtualport(k, &p, nic);
        if let Some(b) = &nic.bandwidth {
            bandwidth(k, &format!("{p}/bandwidth"), b, nic);
        }
        let ni = nic.ips.len();
        for (j, ip) in nic.ips.iter().enumerate() {
            interface_ip(k, &format!("{p}/{}", idx("ip", j, ni)), ip);
        }
        let nr = nic.routes.len();
        for (j, r) in nic.routes.iter().enumerate() {
            check_route(r, &format!("{p}/{}", idx("route", j, nr)), k.v);
        }
        let nf = nic.port_forwards.len();
        for (j, f) in nic.port_forwards.iter().enumerate() {
            port_forward(k, &format!("{p}/{}", idx("portForward", j, nf)), f, nic);
        }
        if let Some(f) = &nic.filterref {
            if !is_word(&f.filter, "_.-") || f.filter.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.')
            {
                k.value(format!("{p}/filterref/@filter"), format!("'{}' is not a filter name", truncate(&f.filter)));
            }
            let np = f.parameters.len();
            for (j, FilterParameter { name, value, .. }) in f.parameters.iter().enumerate() {
                let pp = format!("{p}/filterref/{}", idx("parameter", j, np));
                if !is_word(name, "_") {
                    k.value(format!("{pp}/@name"), format!("'{}' is not a parameter name", truncate(name)));
                }
                if !is_word(value, "_.:") {
                    k.value(format!("{pp}/@value"), format!("'{}' is not a parameter value", truncate(value)));
                }
            }
        }
        teaming(k, &p, nic, &persistent);
        if let Some(r) = &nic.rom {
            if let Some(f) = &r.file {
                k.abs(format!("{p}/rom/@file"), f);
            }
            if r.enabled == Some(false) && (r.bar.is_some() || r.file.is_some()) {
                k.invalid(format!("{p}/rom"), "a disabled ROM has no bar or file");
            }
        }
        if let Some(a) = nic.acpi_index
            && (a == 0 || a > ACPI_INDEX_MAX)
        {
            k.value(format!("{p}/acpi/@index"), format!("{a} is out of range (1 to {ACPI_INDEX_MAX})"));
        }
        k.boot(&p, nic.boot.as_ref());
        k.alias(&p, nic.alias.as_ref());
        k.address(&p, nic.address.as_ref());
    }
}

/// libvirt's deviceName: letters, digits and `_.-\:/`.
fn device_name(k: &mut Checks<'_>, at: String, s: &str) {
    if !is_word(s, "_.-\\:/") {
        k.value(at, format!("'{}' is not a device name", truncate(s)));
    }
}

fn source(k: &mut Checks<'_>, p: &str, nic: &Interface) {
    let at = |a: &str| format!("{p}/source/@{a}");
    match &nic.source {
        InterfaceSource::Network { network, portgroup, bridge, mac_table_manager, .. } => {
            if mac_table_manager.is_some() && bridge.is_none() {
                k.invalid(at("macTableManager"), "a MAC table manager is the bridge's: it needs bridge=");
            }
            if network.is_empty() || network.contains('/') {
                k.value(at("network"), format!("'{}' is not a network name", truncate(network)));
            }
            if let Some(g) = portgroup {
                device_name(k, at("portgroup"), g);
            }
            if let Some(b) = bridge
                && !b.is_empty()
                && !is_word(b, "_.-\\:/ ")
            {
                k.value(at("bridge"), format!("'{}' is not a bridge name", truncate(b)));
            }
        }
        InterfaceSource::Bridge { bridge, network, .. } => {
            if bridge.is_empty() || !is_word(bridge, "_.-\\:/ ") {
                k.value(at("bridge"), format!("'{}' is not a bridge name", truncate(bridge)));
            }
            if let Some(g) = network.as_ref().and_then(|n| n.portgroup.as_ref()) {
                device_name(k, at("portgroup"), g);
            }
        }
        InterfaceSource::User { dev: Some(dev) } => device_name(k, at("dev"), dev),
        InterfaceSource::Direct { dev, .. } => device_name(k, at("dev"), dev),
        InterfaceSource::Ethernet { ips, routes } => {
            let ni = ips.len();
            for (j, ip) in ips.iter().enumerate() {
                interface_ip(k, &format!("{p}/source/{}", idx("ip", j, ni)), ip);
            }
            let nr = routes.len();
            for (j, r) in routes.iter().enumerate() {
                check_route(r, &format!("{p}/source/{}", idx("route", j, nr)), k.v);
            }
        }
        InterfaceSource::Vhostuser { path, mode, reconnect } => {
            k.abs(at("path"), path);
            if let Some(r) = reconnect {
                if *mode == VhostUserMode::Server {
                    k.invalid(format!("{p}/source/reconnect"), "only a vhost-user socket in mode 'client' reconnects");
                }
                match (r.enabled, r.timeout) {
                    (true, None | Some(0)) => k.value(
                        format!("{p}/source/reconnect/@timeout"),
                        "reconnecting needs a timeout of 1 second or more",
                    ),
                    (false, Some(_)) => k.invalid(
                        format!("{p}/source/reconnect/@timeout"),
                        "a timeout is only for enabled reconnection",
                    ),
                    _ => {}
                }
            }
        }
        InterfaceSource::Vdpa { dev } => device_name(k, at("dev"), dev),
        InterfaceSource::Hostdev { address, .. } => {
            super::hostdev::host_pci(k, &format!("{p}/source/address"), address)
        }
        InterfaceSource::Internal { name } => device_name(k, at("name"), name),
        InterfaceSource::Server { port, .. }
        | InterfaceSource::Client { port, .. }
        | InterfaceSource::Mcast { port, .. }
        | InterfaceSource::Udp { port, .. }
            if *port == 0 =>
        {
            k.value(at("port"), "port 0 is no port to connect to");
        }
        InterfaceSource::Mcast { address, .. } if !address.is_multicast() => {
            k.value(at("address"), format!("{address} is not a multicast address"));
        }
        _ => {}
    }
    // Without a model these get virtio (the driver fills it in).
    if matches!(nic.source, InterfaceSource::Vhostuser { .. } | InterfaceSource::Vdpa { .. })
        && let Some(m) = nic.model.as_ref().filter(|m| !m.is_virtio())
    {
        k.invalid(
            format!("{p}/model/@type"),
            format!("a {} interface is a virtio network card, not model '{m}'", nic.source.type_name()),
        );
    }
}

/// The host side's tap: its name, scripts, backend and guest-side name.
fn host_side(k: &mut Checks<'_>, p: &str, nic: &Interface) {
    let ethernet = matches!(nic.source, InterfaceSource::Ethernet { .. });
    if let Some(t) = &nic.target {
        if t.dev.is_empty() || !is_word(&t.dev, "_.-\\:/") {
            k.value(format!("{p}/target/@dev"), format!("'{}' is not a device name", truncate(&t.dev)));
        }
        if t.managed.is_some() && !ethernet {
            k.invalid(format!("{p}/target/@managed"), "only ethernet interfaces have managed taps");
        }
    }
    for (name, script) in [("script", &nic.script), ("downscript", &nic.downscript)] {
        if let Some(s) = script {
            if s.is_empty() {
                k.value(format!("{p}/{name}/@path"), "the script path must not be empty");
            } else if s.contains(['\n', '\r']) {
                k.value(format!("{p}/{name}/@path"), "a path is one line");
            }
        }
    }
    if let Some(b) = &nic.backend_domain {
        k.one_line(format!("{p}/backenddomain/@name"), b);
    }
    if let Some(g) = &nic.guest {
        for (a, v) in [("dev", &g.dev), ("actual", &g.actual)] {
            if let Some(v) = v {
                device_name(k, format!("{p}/guest/@{a}"), v);
            }
        }
    }
    if let Some(b) = &nic.backend {
        for (a, v) in [("tap", &b.tap), ("vhost", &b.vhost), ("logFile", &b.log_file)] {
            if let Some(v) = v {
                k.abs(format!("{p}/backend/@{a}"), v);
            }
        }
        if b.backend_type.is_some() && !matches!(nic.source, InterfaceSource::User { .. }) {
            k.invalid(format!("{p}/backend/@type"), "the passt backend is for user interfaces");
        }
        if b.log_file.is_some() && b.backend_type.is_none() {
            k.invalid(format!("{p}/backend/@logFile"), "a log file is passt's: give type='passt'");
        }
    }
}

fn driver(k: &mut Checks<'_>, p: &str, nic: &Interface) {
    let Some(d) = &nic.driver else { return };
    let at = |a: &str| format!("{p}/driver/@{a}");
    if let Some(name) = d.name {
        let hostdev = nic.source.type_name() == "hostdev";
        match name {
            InterfaceDriverName::Kvm | InterfaceDriverName::Vfio if !hostdev => {
                k.invalid(at("name"), format!("driver '{name}' assigns a host device: it is for hostdev interfaces"));
            }
            InterfaceDriverName::Qemu | InterfaceDriverName::Vhost if hostdev => {
                k.invalid(at("name"), format!("a hostdev interface has no '{name}' backend"));
            }
            _ => {}
        }
        if matches!(name, InterfaceDriverName::Kvm | InterfaceDriverName::Vfio | InterfaceDriverName::Xen)
            && let Some(first) = d.virtio_net_options().first()
        {
            k.invalid(at(first), format!("{first} is an option of the qemu and vhost backends, not '{name}'"));
        }
    }
    if !nic.is_virtio() {
        let what = nic.model.as_ref().map_or_else(|| "no model".to_owned(), |m| format!("model '{m}'"));
        for o in d.virtio_net_options() {
            let place = if matches!(o, "host" | "guest") { format!("{p}/driver/{o}") } else { at(o) };
            k.invalid(place, format!("{o} is an option of virtio network cards, and this one has {what}"));
        }
    }
    if d.queues == Some(0) {
        k.value(at("queues"), "must be at least 1");
    }
    for (a, v) in [("rx_queue_size", d.rx_queue_size), ("tx_queue_size", d.tx_queue_size)] {
        match v {
            Some(0) => k.value(at(a), "must be at least 1"),
            Some(x) if !x.is_power_of_two() => k.value(at(a), format!("{x} is not a power of two")),
            _ => {}
        }
    }
    if d.rss_hash_report == Some(true) && d.rss != Some(true) {
        k.invalid(at("rss_hash_report"), "reporting the hash needs rss='on'");
    }
}

fn virtualport(k: &mut Checks<'_>, p: &str, nic: &Interface) {
    let Some(vp) = &nic.virtualport else { return };
    let at = format!("{p}/virtualport");
    check_virtualport(vp, &at, k.v);
    let allowed: &[VirtualPortType] = match nic.source.type_name() {
        "network" => {
            &[VirtualPortType::Qbg, VirtualPortType::Qbh, VirtualPortType::Openvswitch, VirtualPortType::Midonet]
        }
        "bridge" => &[VirtualPortType::Openvswitch, VirtualPortType::Midonet],
        "direct" => &[VirtualPortType::Qbg, VirtualPortType::Qbh],
        "hostdev" => &[VirtualPortType::Qbg, VirtualPortType::Qbh],
        other => {
            k.invalid(at, format!("a {other} interface has no virtual port"));
            return;
        }
    };
    if let Some(t) = vp.port_type
        && !allowed.contains(&t)
    {
        let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
        k.invalid(
            format!("{at}/@type"),
            format!("a {} interface's port is {}, not '{t}'", nic.source.type_name(), names.join(" or ")),
        );
    }
}

fn bandwidth(k: &mut Checks<'_>, at: &str, b: &Bandwidth, nic: &Interface) {
    for (name, rate) in [("inbound", &b.inbound), ("outbound", &b.outbound)] {
        let Some(r) = rate else { continue };
        let p = format!("{at}/{name}");
        if r.average.is_none() && r.floor.is_none() {
            k.invalid(&p, "a rate needs average (or floor)");
        }
        if (r.peak.is_some() || r.burst.is_some()) && r.average.is_none() {
            k.invalid(&p, "peak and burst need average");
        }
        for (attr, val) in [("average", r.average), ("peak", r.peak), ("burst", r.burst), ("floor", r.floor)] {
            if val == Some(0) {
                k.value(format!("{p}/@{attr}"), "must be at least 1");
            }
        }
        if r.floor.is_some() {
            if name == "outbound" {
                k.invalid(format!("{p}/@floor"), "a floor guarantees inbound traffic only");
            } else if !matches!(nic.source, InterfaceSource::Network { .. }) {
                k.invalid(format!("{p}/@floor"), "a floor is guaranteed by a virtual network: type='network' only");
            }
        }
    }
}

fn interface_ip(k: &mut Checks<'_>, p: &str, ip: &InterfaceIp) {
    match (ip.family, ip.address) {
        (Some(IpFamily::Ipv4), std::net::IpAddr::V6(_)) => {
            k.invalid(format!("{p}/@family"), format!("family is 'ipv4' but {} is an IPv6 address", ip.address));
        }
        (Some(IpFamily::Ipv6), std::net::IpAddr::V4(_)) => {
            k.invalid(format!("{p}/@family"), format!("family is 'ipv6' but {} is an IPv4 address", ip.address));
        }
        _ => {}
    }
    let max = if ip.address.is_ipv6() { 128 } else { 32 };
    if let Some(x) = ip.prefix.filter(|x| *x > max) {
        k.value(format!("{p}/@prefix"), format!("{x} is out of range (at most {max})"));
    }
    if let Some(peer) = ip.peer
        && peer.is_ipv6() != ip.address.is_ipv6()
    {
        k.invalid(format!("{p}/@peer"), format!("{peer} is not of the family of {}", ip.address));
    }
}

fn port_forward(k: &mut Checks<'_>, p: &str, f: &PortForward, nic: &Interface) {
    let passt = nic.backend.as_ref().is_some_and(|b| b.backend_type.is_some());
    if !passt {
        k.invalid(p, "ports are forwarded by passt: give <backend type='passt'/>");
    }
    if let Some(dev) = &f.dev {
        device_name(k, format!("{p}/@dev"), dev);
    }
    let n = f.ranges.len();
    for (i, r) in f.ranges.iter().enumerate() {
        let rp = format!("{p}/{}", idx("range", i, n));
        if r.start == 0 {
            k.value(format!("{rp}/@start"), "port 0 is no port");
        }
        if let Some(end) = r.end
            && end < r.start
        {
            k.value(format!("{rp}/@end"), format!("{end} is below the start, {}", r.start));
        }
        if r.exclude == Some(true) && r.to.is_some() {
            k.invalid(format!("{rp}/@to"), "an excluded range is not forwarded anywhere");
        }
    }
}

fn teaming(k: &mut Checks<'_>, p: &str, nic: &Interface, persistent: &HashSet<&str>) {
    match &nic.teaming {
        Some(Teaming::Persistent) => {
            if !nic.is_virtio() {
                k.invalid(format!("{p}/teaming"), "the persistent device of a team is a virtio network card");
            }
            if nic.alias.is_none() {
                k.invalid(
                    format!("{p}/teaming"),
                    "the persistent device of a team needs an alias for the other to name",
                );
            }
        }
        Some(Teaming::Transient { persistent: name }) => {
            if !matches!(nic.source.type_name(), "hostdev" | "network") {
                k.invalid(
                    format!("{p}/teaming"),
                    "the transient device of a team is a host device (type 'hostdev', or a network of them)",
                );
            }
            if !persistent.contains(name.as_str()) {
                k.invalid(
                    format!("{p}/teaming/@persistent"),
                    format!("no interface with alias '{}' is a team's persistent device", truncate(name)),
                );
            }
        }
        None => {}
    }
}
