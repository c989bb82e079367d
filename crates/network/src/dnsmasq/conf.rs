//! The three files dnsmasq reads, generated exactly as libvirt 9 writes
//! them (its networkxml2conftest files are the goldens).

use std::fmt::Write as _;
use std::net::IpAddr;

use virtkit_model::network::{Dhcp, DnsSrv, LeaseUnit, Network, NetworkIp};

use super::{Error, Files};

/// The contents of a network's dnsmasq files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// `NAME.conf`.
    pub(crate) conf: String,
    /// `NAME.hostsfile`: static DHCP hosts (empty when there are none).
    pub(crate) hostsfile: String,
    /// `NAME.addnhosts`: DNS host records (empty when there are none).
    pub(crate) addnhosts: String,
}

/// The files for `net`, naming the hosts files at `files`; an error naming
/// what it uses that cannot be done, never a partial config.
pub(crate) fn config(net: &Network, files: &Files) -> Result<Config, Error> {
    refuse_unsupported(net)?;
    let bridge = net
        .bridge
        .as_ref()
        .and_then(|b| b.name.as_deref())
        .ok_or_else(|| Error::Invalid(format!("network {} has no bridge name", net.name)))?;
    let dns = net.dns.clone().unwrap_or_default();
    let want_dns = dns.is_enabled();
    let mut c = String::new();
    header(&mut c, &net.name);
    if !want_dns {
        c.push_str("port=0\n");
    }
    if want_dns && !dns.forwarders.is_empty() {
        let mut no_resolv = false;
        for f in &dns.forwarders {
            c.push_str("server=");
            if let Some(d) = &f.domain {
                let _ = write!(c, "/{d}/");
            }
            match f.addr {
                Some(a) => {
                    let _ = writeln!(c, "{a}");
                    no_resolv |= f.domain.is_none();
                }
                None => c.push_str("#\n"),
            }
        }
        if no_resolv {
            c.push_str("no-resolv\n");
        }
    }
    if let Some(d) = &net.domain {
        if d.local_only == Some(true) {
            let _ = writeln!(c, "local=/{}/", d.name);
        }
        let _ = write!(c, "domain={}\nexpand-hosts\n", d.name);
    }
    if want_dns {
        for ip in net.ips.iter().filter(|i| i.local_ptr == Some(true)) {
            let _ = writeln!(c, "local=/{}/", ptr_domain(ip)?);
        }
        if dns.forward_plain_names == Some(false) {
            c.push_str("domain-needed\nlocal=//\n");
        }
    }
    let _ = write!(c, "except-interface=lo\nbind-dynamic\ninterface={bridge}\n");
    if net.forward.is_none() {
        c.push_str("dhcp-option=3\nno-resolv\nra-param=*,0,0\n");
    }
    if want_dns {
        for t in &dns.txt_records {
            let _ = writeln!(c, "txt-record={},{}", t.name, t.value);
        }
        for s in &dns.srv_records {
            srv_line(&mut c, s);
        }
    }
    let (v4, v6) = dhcp_ips(net, &mut c)?;
    let mut leases = 0u64;
    let mut hosts = String::new();
    for ip in [v4, v6].into_iter().flatten() {
        leases += dhcp(&mut c, &mut hosts, ip)?;
    }
    if leases > 0 {
        let _ = writeln!(c, "dhcp-lease-max={leases}");
    }
    if v4.is_some() || v6.is_some() {
        let _ = writeln!(c, "dhcp-hostsfile={}", files.hostsfile.display());
    }
    if want_dns {
        let _ = writeln!(c, "addn-hosts={}", files.addnhosts.display());
    }
    if let Some(mtu) = net.mtu.filter(|m| *m > 0) {
        let _ = writeln!(c, "dhcp-option=option:mtu,{mtu}");
    }
    if v6.is_some() {
        c.push_str("enable-ra\n");
    } else {
        for ip in net.ips_of(true).filter(|i| !i.has_dhcp()) {
            let _ = writeln!(c, "dhcp-range={},ra-only", ip.address);
        }
    }
    for o in &net.dnsmasq_options {
        let _ = writeln!(c, "{o}");
    }
    Ok(Config { conf: c, hostsfile: hosts, addnhosts: addnhosts(net) })
}

/// dnsmasq options virtkit gives on the command line or relies on (a
/// daemon that writes its pid file where virtkit looks for it).
const OURS: &[&str] = &[
    "conf-file",
    "conf-dir",
    "conf-script",
    "pid-file",
    "dhcp-leasefile",
    "leasefile-ro",
    "log-facility",
    "keep-in-foreground",
    "no-daemon",
];

/// What the model can hold but this dnsmasq config cannot say.
fn refuse_unsupported(net: &Network) -> Result<(), Error> {
    for ip in &net.ips {
        if ip.dhcp.as_ref().is_some_and(|d| !d.options.is_empty()) {
            return Err(Error::Unsupported(format!(
                "dhcp <option> (in <ip address='{}'>) is not supported",
                ip.address
            )));
        }
        if ip.is_ipv6() && ip.tftp_root.is_some() {
            return Err(Error::Unsupported("tftp on an IPv6 address is not supported".into()));
        }
        if ip.is_ipv6() && ip.dhcp.as_ref().is_some_and(|d| d.bootp.is_some()) {
            return Err(Error::Unsupported("bootp on an IPv6 address is not supported".into()));
        }
    }
    for o in &net.dnsmasq_options {
        if o.contains('\n') {
            return Err(Error::Invalid("a dnsmasq option cannot hold a line break".into()));
        }
        let key = o.split('=').next().unwrap_or_default().trim();
        if OURS.contains(&key) {
            return Err(Error::Unsupported(format!("dnsmasq option '{key}' is not supported: virtkit sets it")));
        }
    }
    Ok(())
}

fn header(c: &mut String, name: &str) {
    let _ = write!(
        c,
        "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n\
         ##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:\n\
         ##    virsh net-edit {name}\n\
         ## or other application using the libvirt API.\n\
         ##\n\
         ## dnsmasq conf file created by libvirt\n\
         strict-order\n"
    );
}

/// `srv-host=_service._proto[.domain][,target[,port[,priority[,weight]]]]`,
/// with positional defaults as libvirt fills them.
fn srv_line(c: &mut String, s: &DnsSrv) {
    let _ = write!(c, "srv-host=_{}._{}", s.service, s.protocol.as_str());
    if let Some(d) = &s.domain {
        let _ = write!(c, ".{d}");
    }
    if let Some(t) = s.target.as_deref().filter(|t| *t != ".") {
        let (port, prio, weight) = (s.port.unwrap_or(0), s.priority.unwrap_or(0), s.weight.unwrap_or(0));
        let _ = write!(c, ",{t}");
        if port != 0 || prio != 0 || weight != 0 {
            let _ = write!(c, ",{}", if port != 0 { port } else { 1 });
        }
        if prio != 0 || weight != 0 {
            let _ = write!(c, ",{prio}");
        }
        if weight != 0 {
            let _ = write!(c, ",{weight}");
        }
    }
    c.push('\n');
}

/// The first IPv4 and IPv6 addresses with DHCP (at most one each), writing
/// the TFTP lines of IPv4 addresses on the way, as libvirt does.
fn dhcp_ips<'a>(net: &'a Network, c: &mut String) -> Result<(Option<&'a NetworkIp>, Option<&'a NetworkIp>), Error> {
    let (mut v4, mut v6, mut tftp, mut slaac) = (None, None, false, false);
    for ip in &net.ips {
        let slot = if ip.is_ipv6() { &mut v6 } else { &mut v4 };
        if ip.has_dhcp() {
            if slot.is_some() {
                let family = if ip.is_ipv6() { "IPv6" } else { "IPv4" };
                return Err(Error::Unsupported(format!("for {family}, multiple DHCP definitions cannot be specified")));
            }
            *slot = Some(ip);
        } else if ip.is_ipv6() {
            slaac = true;
        }
        if let (false, Some(root)) = (ip.is_ipv6(), &ip.tftp_root) {
            if !tftp {
                c.push_str("enable-tftp\n");
                tftp = true;
            }
            let _ = writeln!(c, "tftp-root={root}");
        }
    }
    if v6.is_some() && slaac {
        tracing::warn!(
            network = %net.name,
            "with DHCPv6 on one address, the other IPv6 addresses get no SLAAC: guests need them configured by hand"
        );
    }
    Ok((v4, v6))
}

/// The DHCP lines of one address; its static hosts go to `hosts`. Returns
/// how many addresses its ranges hold.
fn dhcp(c: &mut String, hosts: &mut String, ip: &NetworkIp) -> Result<u64, Error> {
    let Some(d) = &ip.dhcp else { return Ok(0) };
    let prefix =
        ip.prefix_len().ok_or_else(|| Error::Invalid(format!("address {} has an invalid prefix", ip.address)))?;
    let mut count = 0;
    for r in &d.ranges {
        match ip.subnet() {
            Some(s) if !ip.is_ipv6() => {
                let _ = write!(c, "dhcp-range={},{},{}", r.start, r.end, s.netmask());
            }
            _ => {
                let _ = write!(c, "dhcp-range={},{},{prefix}", r.start, r.end);
            }
        }
        if let Some(l) = lease_time(r.lease.as_ref()) {
            let _ = write!(c, ",{l}");
        }
        c.push('\n');
        count += range_size(ip, prefix, r.start, r.end)?;
    }
    if d.ranges.is_empty() && !d.hosts.is_empty() {
        let _ = write!(c, "dhcp-range={},static", ip.address);
        if ip.is_ipv6() {
            let _ = write!(c, ",{prefix}");
        }
        c.push('\n');
    }
    host_lines(hosts, ip.is_ipv6(), d);
    if !ip.is_ipv6() {
        if !d.ranges.is_empty() || !d.hosts.is_empty() {
            c.push_str("dhcp-no-override\ndhcp-authoritative\n");
        }
        if let Some(b) = &d.bootp {
            match b.server {
                Some(s) => {
                    let _ = writeln!(c, "dhcp-boot={},,{s}", b.file);
                }
                None => {
                    let _ = writeln!(c, "dhcp-boot={}", b.file);
                }
            }
        }
    }
    Ok(count)
}

/// One `dhcp-host` line per static host.
fn host_lines(out: &mut String, ipv6: bool, d: &Dhcp) {
    for h in &d.hosts {
        if ipv6 {
            match (&h.id, &h.name) {
                (Some(id), Some(name)) => {
                    let _ = write!(out, "id:{id},{name}");
                }
                (None, Some(name)) => out.push_str(name),
                (Some(id), None) => {
                    let _ = write!(out, "id:{id}");
                }
                (None, None) => {}
            }
            let _ = write!(out, ",[{}]", h.ip);
        } else {
            match (&h.mac, &h.name) {
                (Some(mac), Some(name)) => {
                    let _ = write!(out, "{mac},{},{name}", h.ip);
                }
                (None, Some(name)) => {
                    let _ = write!(out, "{name},{}", h.ip);
                }
                (Some(mac), None) => {
                    let _ = write!(out, "{mac},{}", h.ip);
                }
                // The model requires a MAC or a name for an IPv4 host.
                (None, None) => {
                    let _ = write!(out, "{}", h.ip);
                }
            }
        }
        if let Some(l) = lease_time(h.lease.as_ref()) {
            let _ = write!(out, ",{l}");
        }
        out.push('\n');
    }
}

/// dnsmasq's lease time: `infinite`, or a number and s, m or h.
fn lease_time(lease: Option<&virtkit_model::network::Lease>) -> Option<String> {
    let l = lease?;
    if l.expiry == 0 {
        return Some("infinite".into());
    }
    // The unit's first letter: s, m or h.
    let unit = l.unit.unwrap_or(LeaseUnit::Minutes).as_str().chars().next().unwrap_or('m');
    Some(format!("{}{unit}", l.expiry))
}

/// How many addresses a range holds, with libvirt's checks: inside the
/// subnet, not its network or broadcast address (IPv4), in order, and
/// differing only in the last 16 bits.
fn range_size(ip: &NetworkIp, prefix: u8, start: IpAddr, end: IpAddr) -> Result<u64, Error> {
    let bad = |why: &str| Error::Invalid(format!("range {start} - {end} {why}"));
    let subnet = ip.subnet().ok_or_else(|| bad("has no network"))?;
    if !subnet.contains(start) || !subnet.contains(end) {
        return Err(bad(&format!("is not entirely within network {}/{prefix}", ip.address)));
    }
    let (s, e) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => {
            if IpAddr::V4(s) == subnet.network() {
                return Err(bad("starts at the network address"));
            }
            if Some(e) == subnet.broadcast() {
                return Err(bad("ends at the broadcast address"));
            }
            (u128::from(u32::from(s)), u128::from(u32::from(e)))
        }
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e)),
        _ => return Err(bad("mixes address families")),
    };
    if s >> 16 != e >> 16 {
        return Err(bad("is too large (> 65535)"));
    }
    let size = (e & 0xffff).checked_sub(s & 0xffff).ok_or_else(|| bad("is reversed"))?;
    Ok(u64::try_from(size).unwrap_or(u64::MAX) + 1)
}

/// The reverse-lookup domain of an address's subnet (`122.168.192.in-addr.arpa`).
fn ptr_domain(ip: &NetworkIp) -> Result<String, Error> {
    let prefix = ip.prefix_len().unwrap_or(0);
    let cannot = |family: &str| {
        Error::Unsupported(format!(
            "PTR domain for {family} network with prefix {prefix} cannot be automatically created"
        ))
    };
    let mut out = String::new();
    match ip.address {
        IpAddr::V4(a) => {
            if prefix == 0 || prefix >= 32 || !prefix.is_multiple_of(8) {
                return Err(cannot("IPv4"));
            }
            for b in a.octets()[..usize::from(prefix / 8)].iter().rev() {
                let _ = write!(out, "{b}.");
            }
            out.push_str("in-addr.arpa");
        }
        IpAddr::V6(a) => {
            if prefix == 0 || prefix >= 128 || !prefix.is_multiple_of(4) {
                return Err(cannot("IPv6"));
            }
            let nibbles: Vec<u8> = a.octets().iter().flat_map(|b| [b >> 4, b & 0xf]).collect();
            for n in nibbles[..usize::from(prefix / 4)].iter().rev() {
                let _ = write!(out, "{n:x}.");
            }
            out.push_str("ip6.arpa");
        }
    }
    Ok(out)
}

/// The DNS hosts: one line per address (names of repeated addresses
/// joined), each field followed by a tab.
fn addnhosts(net: &Network) -> String {
    let mut lines: Vec<(IpAddr, Vec<&str>)> = Vec::new();
    for h in net.dns.iter().flat_map(|d| &d.hosts) {
        let names = match lines.iter_mut().find(|(ip, _)| *ip == h.ip) {
            Some((_, names)) => names,
            None => {
                lines.push((h.ip, Vec::new()));
                match lines.last_mut() {
                    Some((_, names)) => names,
                    None => continue,
                }
            }
        };
        names.extend(h.hostnames.iter().map(String::as_str));
    }
    let mut out = String::new();
    for (ip, names) in lines {
        let _ = write!(out, "{ip}\t");
        for n in names {
            let _ = write!(out, "{n}\t");
        }
        out.push('\n');
    }
    out
}
