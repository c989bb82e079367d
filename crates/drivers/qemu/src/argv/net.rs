//! Network interfaces: a `-netdev` for the host side (with a `-chardev`
//! for vhost-user) and a NIC. What needs host plumbing virtkit does not do
//! (switch ports, tc, nwfilter, macvtap) is refused, naming it.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Interface, InterfaceDriver, InterfaceDriverName, InterfaceSource, NicModel, Teaming, TxMode, VhostUserMode,
};
use virtkit_model::domain::{Domain, MemAccess};

use super::{ArgvError, Builder, esc, idx_path, json_arg, unsupported};

/// The QEMU device of a NIC: virtio models by libvirt's names, any other
/// model is QEMU's own device name. Without a model, vhost-user and vDPA
/// are virtio, the rest libvirt's x86 default.
pub(super) fn nic_driver(nic: &Interface) -> String {
    let virtio_only = matches!(nic.source, InterfaceSource::Vhostuser { .. } | InterfaceSource::Vdpa { .. });
    match nic.model.as_ref().map(NicModel::as_str) {
        Some("virtio") => "virtio-net-pci".into(),
        Some("virtio-transitional") => "virtio-net-pci-transitional".into(),
        Some("virtio-non-transitional") => "virtio-net-pci-non-transitional".into(),
        Some(m) => m.into(),
        None if virtio_only => "virtio-net-pci".into(),
        None => "rtl8139".into(),
    }
}

pub(super) fn net_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let n = b.def.devices.interfaces.len();
    for i in 0..n {
        let nic = &b.def.devices.interfaces[i];
        let path = idx_path("interface", i, n);
        if matches!(nic.source, InterfaceSource::Hostdev { .. }) {
            refusals(nic, &path)?;
            super::hostdev::hostdev_nic(b, nic, i, &path)?;
            continue;
        }
        let driver = nic_driver(nic);
        check_model(b, &driver, &path)?;
        refusals(nic, &path)?;
        let netdev = netdev(b, nic, i, &path)?;
        check_netdev(b, &netdev, &path)?;
        b.opt("-netdev", json_arg(netdev));
        let props = nic_props(b, nic, i, &driver, &path)?;
        b.device(Value::Object(props));
    }
    Ok(())
}

/// The model must be a network card this QEMU has.
fn check_model(b: &Builder<'_>, driver: &str, path: &str) -> Result<(), ArgvError> {
    let nics = &b.ctx.nics;
    if nics.is_empty() || nics.contains(driver) {
        return Ok(());
    }
    let at = format!("{path}/model/@type");
    if b.ctx.devices.contains(driver) {
        return Err(unsupported(at, format!("QEMU's '{driver}' is a device, but not a network card")));
    }
    let have: Vec<&str> = nics.iter().map(String::as_str).collect();
    Err(unsupported(at, format!("this QEMU has no network card '{driver}' (it has {})", have.join(", "))))
}

/// The network backend must be one this QEMU has.
fn check_netdev(b: &Builder<'_>, netdev: &Value, path: &str) -> Result<(), ArgvError> {
    let t = netdev["type"].as_str().unwrap_or_default();
    let have = &b.ctx.netdevs;
    if have.is_empty() || have.contains(t) {
        return Ok(());
    }
    let list: Vec<&str> = have.iter().map(String::as_str).collect();
    Err(unsupported(
        format!("{path}/@type"),
        format!("this QEMU has no '{t}' network backend (it has {})", list.join(", ")),
    ))
}

/// What the host side would need and virtkit does not set up.
fn refusals(nic: &Interface, path: &str) -> Result<(), ArgvError> {
    let not_yet = |what: &str, why: &str| Err(unsupported(format!("{path}/{what}"), why.to_owned()));
    if nic.vlan.is_some() {
        return not_yet("vlan", "VLAN tags are set on the host's switch port, which virtkit does not set up");
    }
    if nic.virtualport.is_some() {
        return not_yet(
            "virtualport",
            "a virtual port profile (802.1Qbg, 802.1Qbh, Open vSwitch, MidoNet) is set up on the host's switch, which virtkit does not do",
        );
    }
    if nic.bandwidth.is_some() {
        return not_yet(
            "bandwidth",
            "bandwidth limits are applied with tc on the host side, which virtkit does not do yet",
        );
    }
    if nic.filterref.is_some() {
        return not_yet("filterref", "network filters (nwfilter) are not applied by virtkit");
    }
    if nic.coalesce.is_some() {
        return not_yet(
            "coalesce",
            "interrupt coalescing is set on the host's tap with ethtool, which virtkit does not do yet",
        );
    }
    if nic.trust_guest_rx_filters == Some(true) {
        return Err(unsupported(
            format!("{path}/@trustGuestRxFilters"),
            "following the guest's receive filters is done for macvtap devices, which virtkit does not make",
        ));
    }
    if nic.guest.is_some() {
        return not_yet("guest", "the name of the guest's side is for containers; a QEMU guest names its own");
    }
    if nic.backend_domain.is_some() {
        return not_yet("backenddomain", "a backend domain is Xen's");
    }
    if let Some(be) = &nic.backend {
        if be.backend_type.is_some() {
            return not_yet(
                "backend/@type",
                "the passt backend is not supported yet; leave it out for QEMU's own user networking",
            );
        }
        if be.tap.is_some() || be.vhost.is_some() {
            return not_yet(
                "backend",
                "QEMU opens /dev/net/tun and /dev/vhost-net itself; other paths are not supported",
            );
        }
    }
    if !nic.port_forwards.is_empty() {
        return not_yet("portForward", "ports are forwarded by passt, which is not supported yet");
    }
    if !nic.routes.is_empty() {
        return not_yet("route", "routes inside the guest are the guest's own business for a QEMU guest");
    }
    if !nic.ips.is_empty() && !matches!(nic.source, InterfaceSource::User { .. }) {
        return not_yet(
            "ip",
            "a QEMU guest sets its own addresses; only user networking takes a network (<ip>) for its DHCP",
        );
    }
    let tap = matches!(nic.source, InterfaceSource::Ethernet { .. });
    if !tap && (nic.script.is_some() || nic.downscript.is_some()) {
        let what = if nic.script.is_some() { "script" } else { "downscript" };
        return not_yet(what, "scripts set up a tap: they are for ethernet interfaces");
    }
    let port = matches!(nic.source, InterfaceSource::Network { .. } | InterfaceSource::Bridge { .. });
    if nic.tune.is_some_and(|t| t.sndbuf.is_some()) && !tap && !port {
        return not_yet("tune/sndbuf", "a send buffer is a tap's: it is for ethernet, network and bridge interfaces");
    }
    if nic.port_isolated.is_some() && !port {
        return not_yet("port", "port isolation is a bridge port's: it is for network and bridge interfaces");
    }
    Ok(())
}

/// The `-netdev` of an interface.
fn netdev(b: &mut Builder<'_>, nic: &Interface, i: usize, path: &str) -> Result<Value, ArgvError> {
    let id = format!("hostnet{i}");
    let at_type = format!("{path}/@type");
    let queues = nic.driver.as_ref().and_then(|d| d.queues).filter(|q| *q > 1);
    let name = nic.driver.as_ref().and_then(|d| d.name);
    let one_queue = |what: &str| {
        if queues.is_some() {
            Err(unsupported(format!("{path}/driver/@queues"), format!("{what} has one queue")))
        } else {
            Ok(())
        }
    };
    match (&nic.source, name) {
        (_, Some(n @ (InterfaceDriverName::Kvm | InterfaceDriverName::Vfio | InterfaceDriverName::Xen))) => {
            return Err(unsupported(
                format!("{path}/driver/@name"),
                format!("'{n}' is no backend of a QEMU network card"),
            ));
        }
        (InterfaceSource::Ethernet { .. } | InterfaceSource::Network { .. } | InterfaceSource::Bridge { .. }, _) => {}
        (InterfaceSource::Vhostuser { .. } | InterfaceSource::Vdpa { .. }, Some(n)) => {
            return Err(unsupported(
                format!("{path}/driver/@name"),
                format!("a {} interface's packets are moved by its device, not by '{n}'", nic.source.kind()),
            ));
        }
        (_, Some(InterfaceDriverName::Vhost)) => {
            return Err(unsupported(
                format!("{path}/driver/@name"),
                "vhost-net moves the packets of a tap: it is for ethernet, network and bridge interfaces",
            ));
        }
        _ => {}
    }
    let v = match &nic.source {
        InterfaceSource::User { dev: Some(_) } => {
            return Err(unsupported(
                format!("{path}/source/@dev"),
                "a user interface's host device is passt's, which is not supported yet",
            ));
        }
        InterfaceSource::User { dev: None } => {
            one_queue("user networking")?;
            user_netdev(nic, id, path)?
        }
        InterfaceSource::Ethernet { ips, routes } => {
            if !ips.is_empty() || !routes.is_empty() {
                return Err(unsupported(
                    format!("{path}/source"),
                    "addresses and routes on the host's tap are set up with netlink, which virtkit does not do yet",
                ));
            }
            tap_netdev(nic, id, queues, path)?
        }
        InterfaceSource::Vhostuser { path: sock, mode, reconnect } => {
            if !shared_memory(b.def) {
                return Err(unsupported(
                    at_type,
                    "the vhost-user switch reads the guest's memory: share it (<memoryBacking><access mode='shared'/>)",
                ));
            }
            let mut chardev = format!("socket,id=charnet{i},path={}", esc(sock));
            if *mode == VhostUserMode::Server {
                chardev.push_str(",server=on,wait=off");
            }
            if let Some(t) = reconnect.as_ref().filter(|r| r.enabled).and_then(|r| r.timeout) {
                chardev.push_str(&format!(",reconnect={t}"));
            }
            b.opt("-chardev", chardev);
            let mut v = json!({ "type": "vhost-user", "chardev": format!("charnet{i}"), "id": id });
            if let Some(q) = queues {
                v["queues"] = json!(q);
            }
            v
        }
        InterfaceSource::Vdpa { dev } => {
            let mut v = json!({ "type": "vhost-vdpa", "vhostdev": dev, "id": id });
            if let Some(q) = queues {
                v["queues"] = json!(q);
            }
            v
        }
        InterfaceSource::Server { address, port } => {
            one_queue("a socket")?;
            let host = address.map(|a| a.to_string()).unwrap_or_default();
            json!({ "type": "socket", "listen": format!("{host}:{port}"), "id": id })
        }
        InterfaceSource::Client { address, port } => {
            one_queue("a socket")?;
            json!({ "type": "socket", "connect": format!("{address}:{port}"), "id": id })
        }
        InterfaceSource::Mcast { address, port } => {
            one_queue("a socket")?;
            json!({ "type": "socket", "mcast": format!("{address}:{port}"), "id": id })
        }
        InterfaceSource::Udp { address, port, local_address, local_port } => {
            one_queue("a socket")?;
            json!({
                "type": "socket",
                "udp": format!("{address}:{port}"),
                "localaddr": format!("{local_address}:{local_port}"),
                "id": id,
            })
        }
        InterfaceSource::Direct { dev, .. } => {
            return Err(unsupported(
                at_type,
                format!("a macvtap device on {dev} is made with netlink on the host, which virtkit does not do yet"),
            ));
        }
        InterfaceSource::Network { .. } | InterfaceSource::Bridge { .. } => {
            let Some(fd) = b.ctx.taps.get(&i) else {
                return Err(unsupported(at_type, "this interface got no port from the host's network driver"));
            };
            let vhost = b.ctx.vhost_net && b.ctx.accel == super::Accel::Kvm;
            port_netdev(nic, id, *fd, queues, vhost, path)?
        }
        InterfaceSource::Internal { .. } => return Err(unsupported(at_type, "an internal network is VirtualBox's")),
        InterfaceSource::Null | InterfaceSource::Vds { .. } => {
            return Err(unsupported(at_type, format!("interface type '{}' is VMware's", nic.source.kind())));
        }
        _ => return Err(unsupported(at_type, "this interface type is not supported")),
    };
    Ok(v)
}

/// Slirp, with the networks the guest's `<ip>`s name for its DHCP.
fn user_netdev(nic: &Interface, id: String, path: &str) -> Result<Value, ArgvError> {
    let mut v = json!({ "type": "user", "id": id });
    let n = nic.ips.len();
    let (mut v4, mut v6) = (false, false);
    for (j, ip) in nic.ips.iter().enumerate() {
        let at = if n > 1 { format!("{path}/ip[{}]", j + 1) } else { format!("{path}/ip") };
        if ip.peer.is_some() {
            return Err(unsupported(format!("{at}/@peer"), "user networking has no point-to-point peer"));
        }
        let seen = if ip.address.is_ipv6() { &mut v6 } else { &mut v4 };
        if std::mem::replace(seen, true) {
            return Err(unsupported(at, "user networking takes one network of each family"));
        }
        if ip.address.is_ipv6() {
            v["ipv6-prefix"] = json!(ip.address.to_string());
            v["ipv6-prefixlen"] = json!(ip.prefix.unwrap_or(64));
        } else {
            v["net"] = json!(format!("{}/{}", ip.address, ip.prefix.unwrap_or(24)));
        }
    }
    Ok(v)
}

/// A tap by name (QEMU opens or makes it), with its scripts.
fn tap_netdev(nic: &Interface, id: String, queues: Option<u32>, path: &str) -> Result<Value, ArgvError> {
    let tap =
        nic.target.as_ref().map(|t| t.dev.clone()).ok_or_else(|| {
            unsupported(path, "an ethernet interface needs <target dev='TAP'/> naming an existing tap")
        })?;
    let mut v = json!({
        "type": "tap",
        "id": id,
        "ifname": tap,
        "script": nic.script.clone().unwrap_or_else(|| "no".into()),
        "downscript": nic.downscript.clone().unwrap_or_else(|| "no".into()),
    });
    match nic.driver.as_ref().and_then(|d| d.name) {
        Some(InterfaceDriverName::Vhost) => {
            if !nic.is_virtio() {
                return Err(unsupported(format!("{path}/driver/@name"), "vhost-net serves virtio network cards only"));
            }
            v["vhost"] = json!(true);
        }
        Some(InterfaceDriverName::Qemu) => v["vhost"] = json!(false),
        _ => {}
    }
    if let Some(q) = queues {
        v["queues"] = json!(q);
    }
    if let Some(s) = nic.tune.and_then(|t| t.sndbuf) {
        v["sndbuf"] = json!(s);
    }
    Ok(v)
}

/// The tap the network driver opened for an interface on a network or a
/// bridge, passed to QEMU as descriptor `fd`. vhost-net (QEMU opens it)
/// when the document asks for it (`<driver name='vhost'/>`), or for a
/// virtio card when `vhost` (a KVM guest on a host that has it) unless the
/// document says `<driver name='qemu'/>`.
fn port_netdev(
    nic: &Interface,
    id: String,
    fd: i32,
    queues: Option<u32>,
    vhost: bool,
    path: &str,
) -> Result<Value, ArgvError> {
    if queues.is_some() {
        return Err(unsupported(format!("{path}/driver/@queues"), "a port's tap is opened with one queue"));
    }
    let mut v = json!({ "type": "tap", "fd": fd.to_string(), "id": id });
    match nic.driver.as_ref().and_then(|d| d.name) {
        Some(InterfaceDriverName::Vhost) if !nic.is_virtio() => {
            return Err(unsupported(format!("{path}/driver/@name"), "vhost-net serves virtio network cards only"));
        }
        Some(InterfaceDriverName::Vhost) => v["vhost"] = json!(true),
        Some(InterfaceDriverName::Qemu) => v["vhost"] = json!(false),
        _ if vhost && nic.is_virtio() => v["vhost"] = json!(true),
        _ => {}
    }
    if let Some(s) = nic.tune.and_then(|t| t.sndbuf) {
        v["sndbuf"] = json!(s);
    }
    Ok(v)
}

/// Whether all of the guest's memory is shared (a vhost-user switch maps it).
fn shared_memory(def: &Domain) -> bool {
    if def.memory_backing.as_ref().and_then(|m| m.access) == Some(MemAccess::Shared) {
        return true;
    }
    let cells = def.cpu.as_ref().and_then(|c| c.numa.as_ref()).map(|n| n.cells.as_slice()).unwrap_or_default();
    !cells.is_empty() && cells.iter().all(|c| c.mem_access == Some(MemAccess::Shared))
}

/// The NIC's `-device`.
fn nic_props(
    b: &mut Builder<'_>,
    nic: &Interface,
    i: usize,
    driver: &str,
    path: &str,
) -> Result<Map<String, Value>, ArgvError> {
    let mut props = Map::new();
    props.insert("driver".into(), json!(driver));
    props.insert("netdev".into(), json!(format!("hostnet{i}")));
    props.insert("id".into(), json!(format!("net{i}")));
    if let Some(m) = &nic.mac {
        props.insert("mac".into(), json!(m.to_string()));
    }
    let virtio = driver.starts_with("virtio-net");
    if let Some(d) = &nic.driver {
        if virtio {
            virtio_net_props(&mut props, d, nic, path)?;
        }
        if !d.virtio.is_empty() {
            if !virtio {
                return Err(unsupported(format!("{path}/driver"), "virtio options are for virtio network cards"));
            }
            b.virtio_options(&mut props, &d.virtio, path)?;
        }
    }
    if let Some(mtu) = nic.mtu {
        if !virtio {
            return Err(unsupported(format!("{path}/mtu"), "only a virtio network card is told its MTU"));
        }
        props.insert("host_mtu".into(), json!(mtu));
    }
    match &nic.teaming {
        Some(Teaming::Persistent) => {
            props.insert("failover".into(), json!(true));
        }
        Some(_) => {
            return Err(unsupported(format!("{path}/teaming"), "the transient member of a team is a host device"));
        }
        None => {}
    }
    if let Some(boot) = &nic.boot {
        props.insert("bootindex".into(), json!(boot.order));
    }
    let usb = driver == "usb-net";
    if let Some(r) = &nic.rom {
        if usb {
            return Err(unsupported(format!("{path}/rom"), "a USB network card has no option ROM"));
        }
        if r.enabled == Some(false) {
            props.insert("romfile".into(), json!(""));
        }
        if let Some(bar) = r.bar {
            props.insert("rombar".into(), json!(u8::from(bar)));
        }
        if let Some(f) = &r.file {
            props.insert("romfile".into(), json!(f));
        }
    }
    if let Some(a) = nic.acpi_index {
        if usb {
            return Err(unsupported(format!("{path}/acpi"), "an ACPI index is for PCI devices"));
        }
        props.insert("acpi-index".into(), json!(a));
    }
    if usb {
        b.usb_addr(&mut props, nic.address.as_ref(), path)?;
    } else {
        b.pci_addr(&mut props, nic.address.as_ref(), path)?;
    }
    Ok(props)
}

/// A virtio NIC's own options: queues, ring sizes, offloads, RSS.
fn virtio_net_props(
    props: &mut Map<String, Value>,
    d: &InterfaceDriver,
    nic: &Interface,
    path: &str,
) -> Result<(), ArgvError> {
    if let Some(t) = d.txmode {
        props.insert("tx".into(), json!(if t == TxMode::Iothread { "bh" } else { "timer" }));
    }
    for (k, v) in [("ioeventfd", d.ioeventfd), ("event_idx", d.event_idx), ("rss", d.rss), ("hash", d.rss_hash_report)]
    {
        if let Some(v) = v {
            props.insert(k.into(), json!(v));
        }
    }
    if let Some(q) = d.queues.filter(|q| *q > 1) {
        props.insert("mq".into(), json!(true));
        // One vector per queue each way, one for control, one for config.
        props.insert("vectors".into(), json!(2 * u64::from(q) + 2));
    }
    for (a, size) in [("rx_queue_size", d.rx_queue_size), ("tx_queue_size", d.tx_queue_size)] {
        let Some(s) = size else { continue };
        if !(256..=1024).contains(&s) {
            return Err(unsupported(format!("{path}/driver/@{a}"), format!("QEMU takes 256 to 1024, not {s}")));
        }
        if a == "tx_queue_size" && s != 256 && !matches!(nic.source, InterfaceSource::Vhostuser { .. }) {
            return Err(unsupported(
                format!("{path}/driver/@{a}"),
                "a transmit queue larger than 256 is for vhost-user interfaces only",
            ));
        }
        props.insert(a.into(), json!(s));
    }
    if let Some(h) = &d.host {
        for (k, v) in [
            ("csum", h.csum),
            ("gso", h.gso),
            ("host_tso4", h.tso4),
            ("host_tso6", h.tso6),
            ("host_ecn", h.ecn),
            ("host_ufo", h.ufo),
            ("mrg_rxbuf", h.mrg_rxbuf),
        ] {
            if let Some(v) = v {
                props.insert(k.into(), json!(v));
            }
        }
    }
    if let Some(g) = &d.guest {
        for (k, v) in [
            ("guest_csum", g.csum),
            ("guest_tso4", g.tso4),
            ("guest_tso6", g.tso6),
            ("guest_ecn", g.ecn),
            ("guest_ufo", g.ufo),
        ] {
            if let Some(v) = v {
                props.insert(k.into(), json!(v));
            }
        }
    }
    Ok(())
}
