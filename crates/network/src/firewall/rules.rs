//! One network's nftables rules, as libvirt 9 makes them for each forward
//! mode, and the text of virtkit's whole table (`table inet virtkit`).
//!
//! libvirt has three global forward chains (guest to guest, into the
//! bridge, out of the bridge), walked in that order, and one nat chain.
//! virtkit keeps that order with a chain of each kind per network, named
//! after its bridge (`virbr0-fwx`, `virbr0-fwi`, `virbr0-fwo`,
//! `virbr0-nat`), jumped to from the base chains `forward` and
//! `postrouting`. Interfaces are matched by name, so the rules can load
//! before the bridge exists. Unlike libvirt there are no counters (the
//! watcher compares listings) and no input/output rules for DHCP and DNS
//! (libvirt's nftables backend leaves them out too: a table of its own
//! that accepts by default has nothing to override).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use virtkit_model::network::{ForwardMode, Nat, Network, NetworkIp, Subnet};

use super::FirewallError;

/// The name of virtkit's table (family inet).
pub(crate) const TABLE: &str = "virtkit";

/// Local multicast, never masqueraded (224.0.0.0/24 and ff02::/16).
const MULTICAST_V4: &str = "224.0.0.0/24";
const MULTICAST_V6: &str = "ff02::/16";
/// The local broadcast address, never masqueraded (strict DHCP clients).
const BROADCAST: &str = "255.255.255.255";
/// The source ports NAT uses for TCP and UDP when `<nat><port>` is absent.
const DEFAULT_PORTS: (u16, u16) = (1024, 65535);

/// One network's rules, chain by chain, and the forwarding it needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct NetRules {
    bridge: String,
    cross: Vec<String>,
    inbound: Vec<String>,
    outbound: Vec<String>,
    nat: Vec<String>,
    /// Whether the host must forward IPv4 for the network.
    pub(crate) ipv4_forwarding: bool,
    /// Whether the host must forward IPv6 for the network.
    pub(crate) ipv6_forwarding: bool,
}

impl NetRules {
    /// Whether the network has no rules at all (open, bridge, macvtap modes).
    pub(crate) fn is_empty(&self) -> bool {
        self.cross.is_empty() && self.inbound.is_empty() && self.outbound.is_empty() && self.nat.is_empty()
    }

    /// The bridge the rules are for.
    pub(crate) fn bridge(&self) -> &str {
        &self.bridge
    }
}

/// The rules libvirt makes for `net` on `bridge`; an error names what
/// cannot be written as a rule.
pub(crate) fn rules(net: &Network, bridge: &str) -> Result<NetRules, FirewallError> {
    check_name(bridge).map_err(|()| FirewallError::BridgeName(bridge.to_string()))?;
    let mut r = NetRules { bridge: bridge.to_string(), ..Default::default() };
    let mode = match &net.forward {
        None => None,
        Some(f) if matches!(f.mode(), ForwardMode::Nat | ForwardMode::Route) => Some(f.mode()),
        Some(f) => {
            if f.mode() == ForwardMode::Open {
                r.ipv4_forwarding = net.ips.iter().any(|ip| !ip.is_ipv6());
                r.ipv6_forwarding = net.ips.iter().any(NetworkIp::is_ipv6);
            }
            return Ok(r);
        }
    };
    let forward = net.forward.as_ref();
    let dev = forward.and_then(|f| f.devices().first().map(|d| d.to_string()));
    if let Some(d) = &dev {
        check_name(d).map_err(|()| FirewallError::DeviceName(d.clone()))?;
    }
    let nat = forward.and_then(|f| f.nat.clone()).unwrap_or_default();
    let ports = nat_ports(&nat)?;
    if let Some(a) = nat.address
        && u32::from(a.start) > u32::from(a.end)
    {
        return Err(FirewallError::AddressRange { start: a.start, end: a.end });
    }

    let has_v6 = net.ips.iter().any(NetworkIp::is_ipv6) || net.ipv6 == Some(true);
    general(&mut r, has_v6);
    for ip in &net.ips {
        let subnet = ip.subnet().ok_or(FirewallError::NoPrefix(ip.address))?;
        let dev = dev.as_deref();
        match mode {
            Some(ForwardMode::Nat) if !ip.is_ipv6() || nat.ipv6 == Some(true) => {
                masquerade(&mut r, subnet, dev, nat.address.map(|a| (a.start, a.end)), ports);
            }
            Some(ForwardMode::Nat | ForwardMode::Route) => routed(&mut r, subnet, dev),
            _ => {}
        }
        if mode.is_some() {
            if ip.is_ipv6() {
                r.ipv6_forwarding = true;
            } else {
                r.ipv4_forwarding = true;
            }
        }
    }
    Ok(r)
}

/// Whether `name` (an interface) can go into a rule and a chain's name as
/// it is: letters, digits, `_`, `-` and `.`, starting with a letter.
fn check_name(name: &str) -> Result<(), ()> {
    let ok = name.len() <= 15
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok { Ok(()) } else { Err(()) }
}

/// The source ports NAT maps TCP and UDP to: `<nat><port>`, else
/// 1024-65535 (libvirt refuses a range that is not increasing).
fn nat_ports(nat: &Nat) -> Result<(u16, u16), FirewallError> {
    match nat.port {
        None => Ok(DEFAULT_PORTS),
        Some(p) if p.start == 0 && p.end == 0 => Ok(DEFAULT_PORTS),
        Some(p) if p.start < p.end => Ok((p.start, p.end)),
        Some(p) => Err(FirewallError::PortRange { start: p.start, end: p.end }),
    }
}

/// Every bridge's rules: reject what nothing else accepted in and out of
/// the bridge, accept guest to guest on it. IPv6 only when the network has
/// an IPv6 address or `ipv6='yes'` (IPv4 always, as libvirt).
fn general(r: &mut NetRules, ipv6: bool) {
    // Written as nft lists them (an IPv4-only reject is listed as the ICMP
    // one it is), so that the table's listing is the text written.
    let family = if ipv6 { "" } else { "meta nfproto ipv4 " };
    let reject = if ipv6 { "reject" } else { "reject with icmp port-unreachable" };
    let br = &r.bridge;
    r.cross.push(format!("{family}iifname \"{br}\" oifname \"{br}\" accept"));
    r.inbound.push(format!("oifname \"{br}\" {reject}"));
    r.outbound.push(format!("iifname \"{br}\" {reject}"));
}

/// `ip` or `ip6`, as nftables names a family's header.
fn proto(subnet: Subnet) -> &'static str {
    if subnet.network().is_ipv6() { "ip6" } else { "ip" }
}

/// Rules accepting a subnet's traffic, put before the reject rules.
fn accept(list: &mut Vec<String>, rule: String) {
    let at = list.len().saturating_sub(1);
    list.insert(at, rule);
}

/// ` oifname "dev"` (or iifname) when traffic must use the forward device.
fn dev_match(kw: &str, dev: Option<&str>) -> String {
    dev.map(|d| format!(" {kw} \"{d}\"")).unwrap_or_default()
}

/// Route mode (and IPv6 in nat mode without `ipv6='yes'`): the subnet out
/// and in, with no translation.
fn routed(r: &mut NetRules, subnet: Subnet, dev: Option<&str>) {
    let (p, br) = (proto(subnet), r.bridge.clone());
    let out = format!("{p} saddr {subnet} iifname \"{br}\"{} accept", dev_match("oifname", dev));
    accept(&mut r.outbound, out);
    let inb = format!("{p} daddr {subnet}{} oifname \"{br}\" accept", dev_match("iifname", dev));
    accept(&mut r.inbound, inb);
}

/// Nat mode: the subnet out, replies back in, and its traffic leaving the
/// subnet masqueraded (or SNAT to `<nat><address>`), TCP and UDP from
/// `ports`; local multicast and broadcast keep their source.
fn masquerade(
    r: &mut NetRules,
    subnet: Subnet,
    dev: Option<&str>,
    addrs: Option<(Ipv4Addr, Ipv4Addr)>,
    ports: (u16, u16),
) {
    let (p, br) = (proto(subnet), r.bridge.clone());
    let out = format!("{p} saddr {subnet} iifname \"{br}\"{} accept", dev_match("oifname", dev));
    accept(&mut r.outbound, out);
    let inb =
        format!("{p} daddr {subnet}{} oifname \"{br}\" ct state established,related accept", dev_match("iifname", dev));
    accept(&mut r.inbound, inb);

    let oif = dev_match("oifname", dev);
    let multicast = if p == "ip" { MULTICAST_V4 } else { MULTICAST_V6 };
    r.nat.push(format!("{p} saddr {subnet} {p} daddr {multicast}{oif} return"));
    if p == "ip" {
        r.nat.push(format!("{p} saddr {subnet} {p} daddr {BROADCAST}{oif} return"));
    }
    // SNAT only translates IPv4 (the range is IPv4); IPv6 is masqueraded.
    let addrs = addrs.filter(|_| p == "ip").map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") });
    let base = format!("{p} saddr {subnet} {p} daddr != {subnet}{oif}");
    for l4 in ["tcp", "udp"] {
        let to = match &addrs {
            Some(a) => format!("snat ip to {a}:{}-{}", ports.0, ports.1),
            None => format!("masquerade to :{}-{}", ports.0, ports.1),
        };
        r.nat.push(format!("meta l4proto {l4} {base} {to}"));
    }
    let to = match &addrs {
        Some(a) => format!("snat ip to {a}"),
        None => "masquerade".to_string(),
    };
    r.nat.push(format!("{base} {to}"));
}

/// A chain's name: the bridge's and its kind.
fn chain(bridge: &str, kind: &str) -> String {
    format!("{bridge}-{kind}")
}

/// The networks' rules in the order they are in the table.
pub(crate) type Nets = Vec<(String, NetRules)>;

/// The nft script that makes the table hold exactly `nets` (and removes it
/// when none has rules), whether or not it exists: one transaction.
pub(crate) fn script(nets: &Nets) -> String {
    let mut s = format!("table inet {TABLE}\ndelete table inet {TABLE}\n");
    if let Some(t) = table(nets) {
        s.push_str(&t);
    }
    s
}

/// The table holding `nets`, exactly as `nft -s list table inet virtkit`
/// prints it (`None`: no network has rules, so no table).
pub(crate) fn table(nets: &Nets) -> Option<String> {
    let nets: Vec<&NetRules> = nets.iter().map(|(_, n)| n).filter(|n| !n.is_empty()).collect();
    if nets.is_empty() {
        return None;
    }
    let mut s = String::new();
    let _ = writeln!(s, "table inet {TABLE} {{");
    s.push_str("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
    for n in &nets {
        if let Some(j) = n.jump("fwx") {
            let _ = writeln!(s, "\t\t{j}");
        }
    }
    for n in &nets {
        if let Some(j) = n.jump("fwi") {
            let _ = writeln!(s, "\t\t{j}");
        }
    }
    for n in &nets {
        if let Some(j) = n.jump("fwo") {
            let _ = writeln!(s, "\t\t{j}");
        }
    }
    s.push_str("\t}\n\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
    for n in &nets {
        if let Some(j) = n.jump("nat") {
            let _ = writeln!(s, "\t\t{j}");
        }
    }
    s.push_str("\t}\n");
    for n in &nets {
        for (kind, rules) in n.chains() {
            let _ = writeln!(s, "\n\tchain {} {{", chain(&n.bridge, kind));
            for rule in rules {
                let _ = writeln!(s, "\t\t{rule}");
            }
            s.push_str("\t}\n");
        }
    }
    s.push_str("}\n");
    Some(s)
}

/// The script that adds `new` to a table holding `before` (in place, as
/// [`table`] renders them: its chains after theirs, its jumps after
/// theirs of each kind), with additions only: no rule or chain of theirs
/// is touched, which keeps it fast (the kernel waits for nothing).
/// `None` when there is no table yet (a whole [`script`] makes it).
pub(crate) fn addition(before: &Nets, new: &NetRules) -> Option<String> {
    let old: Vec<&NetRules> = before.iter().map(|(_, n)| n).filter(|n| !n.is_empty()).collect();
    if old.is_empty() || new.is_empty() {
        return None;
    }
    let count = |kind: &str| old.iter().filter(|n| n.jump(kind).is_some()).count();
    let (x, i) = (count("fwx"), count("fwi"));
    let mut s = String::new();
    for (kind, rules) in new.chains() {
        let name = chain(&new.bridge, kind);
        let _ = writeln!(s, "add chain inet {TABLE} {name}");
        for rule in rules {
            let _ = writeln!(s, "add rule inet {TABLE} {name} {rule}");
        }
    }
    // From the end of `forward` back, so that each index still holds.
    if let Some(j) = new.jump("fwo") {
        let _ = writeln!(s, "add rule inet {TABLE} forward {j}");
    }
    for (kind, at) in [("fwi", x + i), ("fwx", x)] {
        let Some(j) = new.jump(kind) else { continue };
        if at == 0 {
            let _ = writeln!(s, "insert rule inet {TABLE} forward {j}");
        } else {
            let _ = writeln!(s, "add rule inet {TABLE} forward index {} {j}", at - 1);
        }
    }
    if let Some(j) = new.jump("nat") {
        let _ = writeln!(s, "add rule inet {TABLE} postrouting {j}");
    }
    Some(s)
}

impl NetRules {
    /// Its chains with rules, in the table's order.
    fn chains(&self) -> impl Iterator<Item = (&'static str, &Vec<String>)> {
        [("fwx", &self.cross), ("fwi", &self.inbound), ("fwo", &self.outbound), ("nat", &self.nat)]
            .into_iter()
            .filter(|(_, r)| !r.is_empty())
    }

    /// The base chain's rule that jumps to its chain of `kind`, if it has one.
    fn jump(&self, kind: &str) -> Option<String> {
        let (rules, guard) = match kind {
            "fwx" => (&self.cross, String::new()),
            "fwi" => (&self.inbound, format!("oifname \"{}\" ", self.bridge)),
            "fwo" => (&self.outbound, format!("iifname \"{}\" ", self.bridge)),
            _ => (&self.nat, String::new()),
        };
        (!rules.is_empty()).then(|| format!("{guard}jump {}", chain(&self.bridge, kind)))
    }
}
