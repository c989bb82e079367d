//! `<ip>` and `<route>`: the host's addresses on a network, the subnets
//! they make, the DHCP and TFTP service on them, and static routes.
//!
//! Addresses are `std::net` values; [`Subnet`] and the helpers on
//! [`NetworkIp`] answer what a driver asks ("the subnet of this address",
//! "does this range lie in it") without parsing anything again.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::values::{MacAddress, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// An address family (`family=…`).
    pub enum IpFamily {
        Ipv4 = "ipv4",
        Ipv6 = "ipv6",
    }
}

xml_enum! {
    /// The unit of a DHCP lease time.
    pub enum LeaseUnit {
        Seconds = "seconds",
        Minutes = "minutes",
        Hours = "hours",
    }
}

// ---------------------------------------------------------------------------

/// An IP subnet: a network address (no host bits) and a prefix length.
///
/// ```
/// use std::net::IpAddr;
/// use virtkit_model::network::Subnet;
///
/// let s = Subnet::new("192.168.122.1".parse().unwrap(), 24).unwrap();
/// assert_eq!(s.to_string(), "192.168.122.0/24");
/// assert!(s.contains("192.168.122.254".parse().unwrap()));
/// assert_eq!(s.broadcast(), Some("192.168.122.255".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    network: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `address` with `prefix` bits; `None` when the prefix is
    /// longer than the address (32 bits for IPv4, 128 for IPv6).
    pub fn new(address: IpAddr, prefix: u8) -> Option<Subnet> {
        let network = mask(address, prefix)?;
        Some(Subnet { network, prefix })
    }

    /// The network address (`192.168.122.0`).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The netmask (`255.255.255.0`, or `ffff:ffff:ffff:ffff::` for IPv6).
    pub fn netmask(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(bits_u32(self.prefix))),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits_u128(self.prefix))),
        }
    }

    /// Whether `address` is in this subnet (of the same family).
    pub fn contains(&self, address: IpAddr) -> bool {
        same_family(address, self.network) && mask(address, self.prefix) == Some(self.network)
    }

    /// The IPv4 broadcast address; `None` for IPv6, which has none.
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        match self.network {
            IpAddr::V4(n) => Some(Ipv4Addr::from(u32::from(n) | !bits_u32(self.prefix))),
            IpAddr::V6(_) => None,
        }
    }

    /// Whether every address from `start` to `end` is in this subnet.
    pub fn contains_range(&self, start: IpAddr, end: IpAddr) -> bool {
        self.contains(start) && self.contains(end) && ip_u128(start) <= ip_u128(end)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn bits_u32(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) }
}

fn bits_u128(prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) }
}

/// `address` with its host bits cleared; `None` when `prefix` is too long.
fn mask(address: IpAddr, prefix: u8) -> Option<IpAddr> {
    match address {
        IpAddr::V4(a) if prefix <= 32 => Some(IpAddr::V4(Ipv4Addr::from(u32::from(a) & bits_u32(prefix)))),
        IpAddr::V6(a) if prefix <= 128 => Some(IpAddr::V6(Ipv6Addr::from(u128::from(a) & bits_u128(prefix)))),
        _ => None,
    }
}

pub(crate) fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// An address as a number, for ordering addresses of one family.
pub(crate) fn ip_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The prefix length of a netmask; `None` when its ones are not contiguous.
pub fn netmask_prefix(netmask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(netmask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then(|| u8::try_from(ones).unwrap_or(32))
}

/// libvirt's prefix rule: the prefix if given (and not 0), else the
/// netmask's, else the address's natural one (class A, B or C for IPv4,
/// 0 for `0.0.0.0` and `::`, 64 for other IPv6 addresses).
fn effective_prefix(address: IpAddr, netmask: Option<Ipv4Addr>, prefix: Option<u8>) -> Option<u8> {
    if let Some(p) = prefix.filter(|p| *p > 0) {
        return Some(p);
    }
    if let Some(m) = netmask {
        return netmask_prefix(m);
    }
    match address {
        IpAddr::V4(a) if a.is_unspecified() => Some(0),
        IpAddr::V4(a) => match a.octets()[0] {
            0..=127 => Some(8),
            128..=191 => Some(16),
            192..=223 => Some(24),
            _ => None,
        },
        IpAddr::V6(a) if a.is_unspecified() => Some(0),
        IpAddr::V6(_) => Some(64),
    }
}

// ---------------------------------------------------------------------------

/// An `<ip>` of a network: the host's address on it, the subnet, and the
/// DHCP and TFTP service the host offers there.
///
/// ```
/// use virtkit_model::network::{DhcpRange, NetworkIp};
///
/// let ip = NetworkIp::new("192.168.122.1".parse().unwrap(), 24)
///     .with_dhcp_range(DhcpRange::new("192.168.122.2".parse().unwrap(), "192.168.122.254".parse().unwrap()));
/// let subnet = ip.subnet().unwrap();
/// assert_eq!(subnet.to_string(), "192.168.122.0/24");
/// assert!(ip.dhcp.unwrap().ranges.iter().all(|r| r.lies_in(&subnet)));
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NetworkIp {
    pub address: IpAddr,
    /// The family as written (`ipv6` is required for an IPv6 address).
    pub family: Option<IpFamily>,
    /// IPv4 only; the other way to give the prefix.
    pub netmask: Option<Ipv4Addr>,
    pub prefix: Option<u8>,
    /// Whether DNS answers reverse lookups for this subnet itself.
    pub local_ptr: Option<bool>,
    /// IPv4 only: the directory a TFTP server serves (`<tftp root=…>`).
    pub tftp_root: Option<String>,
    pub dhcp: Option<Dhcp>,
}

impl NetworkIp {
    /// `address/prefix`; the family is written for IPv6, as libvirt needs.
    pub fn new(address: IpAddr, prefix: u8) -> Self {
        NetworkIp {
            address,
            family: address.is_ipv6().then_some(IpFamily::Ipv6),
            netmask: None,
            prefix: Some(prefix),
            local_ptr: None,
            tftp_root: None,
            dhcp: None,
        }
    }

    pub fn with_dhcp(mut self, dhcp: Dhcp) -> Self {
        self.dhcp = Some(dhcp);
        self
    }

    /// Adds a DHCP range (and the `<dhcp>` element if there is none).
    pub fn with_dhcp_range(mut self, range: DhcpRange) -> Self {
        self.dhcp.get_or_insert_with(Dhcp::default).ranges.push(range);
        self
    }

    /// The prefix length, as libvirt computes it: the prefix, else the
    /// netmask's, else the address's natural one. `None` when there is none
    /// (a netmask that is not one, or a class D or E address alone).
    pub fn prefix_len(&self) -> Option<u8> {
        effective_prefix(self.address, self.netmask, self.prefix)
    }

    /// The subnet this address is in.
    pub fn subnet(&self) -> Option<Subnet> {
        Subnet::new(self.address, self.prefix_len()?)
    }

    pub fn is_ipv6(&self) -> bool {
        self.address.is_ipv6()
    }

    /// Whether this `<ip>` runs a DHCP service (has ranges or hosts).
    pub fn has_dhcp(&self) -> bool {
        self.dhcp.as_ref().is_some_and(|d| !d.ranges.is_empty() || !d.hosts.is_empty())
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<NetworkIp> {
        Ok(NetworkIp {
            address: el.req_attr("address")?,
            family: el.attr("family")?,
            netmask: el.attr("netmask")?,
            prefix: el.attr("prefix")?,
            local_ptr: el.yes_no("localPtr")?,
            tftp_root: el.child("tftp", |t| t.req_attr("root"))?,
            dhcp: el.child("dhcp", Dhcp::read)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("ip");
        w.attr_opt("family", self.family.as_ref());
        w.attr_val("address", &self.address);
        w.attr_opt("netmask", self.netmask.as_ref());
        w.attr_opt("prefix", self.prefix.as_ref());
        w.yes_no("localPtr", self.local_ptr);
        if let Some(root) = &self.tftp_root {
            w.start("tftp");
            w.attr("root", root);
            w.end();
        }
        if let Some(d) = &self.dhcp {
            d.write(w);
        }
        w.end();
    }
}

/// `<dhcp>`: what the network's DHCP server hands out.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Dhcp {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<DhcpRange>,
    /// Fixed addresses for known hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<DhcpHost>,
    /// IPv4 only: network boot.
    pub bootp: Option<Bootp>,
    /// Extra DHCP options (`<option number value>`; newer than libvirt
    /// 9.0: not in its schema).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<DhcpOption>,
}

impl Dhcp {
    fn read(el: &El<'_, '_>) -> Result<Dhcp> {
        Ok(Dhcp {
            ranges: el.children("range", DhcpRange::read)?,
            hosts: el.children("host", DhcpHost::read)?,
            bootp: el.child("bootp", |b| Ok(Bootp { file: b.req_attr("file")?, server: b.attr("server")? }))?,
            options: el.children("option", |o| {
                Ok(DhcpOption { number: o.req_attr("number")?, value: o.req_attr("value")? })
            })?,
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("dhcp");
        for r in &self.ranges {
            w.start("range");
            w.attr_val("start", &r.start);
            w.attr_val("end", &r.end);
            write_lease(w, r.lease.as_ref());
            w.end();
        }
        for h in &self.hosts {
            w.start("host");
            w.attr_opt("mac", h.mac.as_ref());
            w.attr_opt("id", h.id.as_ref());
            w.attr_opt("name", h.name.as_ref());
            w.attr_val("ip", &h.ip);
            write_lease(w, h.lease.as_ref());
            w.end();
        }
        if let Some(b) = &self.bootp {
            w.start("bootp");
            w.attr("file", &b.file);
            w.attr_opt("server", b.server.as_ref());
            w.end();
        }
        for o in &self.options {
            w.start("option");
            w.attr_val("number", &o.number);
            w.attr("value", &o.value);
            w.end();
        }
        w.end();
    }
}

/// A range of addresses the DHCP server hands out.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DhcpRange {
    pub start: IpAddr,
    pub end: IpAddr,
    pub lease: Option<Lease>,
}

impl DhcpRange {
    pub fn new(start: IpAddr, end: IpAddr) -> Self {
        DhcpRange { start, end, lease: None }
    }

    pub fn with_lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// How many addresses the range holds (0 when it is reversed or mixes
    /// families).
    pub fn len(&self) -> u128 {
        if !same_family(self.start, self.end) || ip_u128(self.start) > ip_u128(self.end) {
            return 0;
        }
        ip_u128(self.end) - ip_u128(self.start) + 1
    }

    /// Whether the range holds no address (see [`DhcpRange::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `address` is in the range.
    pub fn contains(&self, address: IpAddr) -> bool {
        same_family(address, self.start)
            && ip_u128(self.start) <= ip_u128(address)
            && ip_u128(address) <= ip_u128(self.end)
            && same_family(self.start, self.end)
    }

    /// Whether the whole range lies in `subnet`.
    pub fn lies_in(&self, subnet: &Subnet) -> bool {
        subnet.contains_range(self.start, self.end)
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<DhcpRange> {
        Ok(DhcpRange { start: el.req_attr("start")?, end: el.req_attr("end")?, lease: read_lease(el)? })
    }
}

/// A host with a fixed address: known by its MAC (IPv4), its DHCP unique
/// id (`id`, a DUID, IPv6) or its name.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DhcpHost {
    pub mac: Option<MacAddress>,
    /// A DHCPv6 unique identifier, bytes in hex separated by `:`.
    pub id: Option<String>,
    pub name: Option<String>,
    pub ip: IpAddr,
    pub lease: Option<Lease>,
}

impl DhcpHost {
    /// The host with MAC address `mac` gets `ip`.
    pub fn by_mac(mac: MacAddress, ip: IpAddr) -> Self {
        DhcpHost { mac: Some(mac), id: None, name: None, ip, lease: None }
    }

    /// The host called `name` gets `ip`.
    pub fn by_name(name: impl Into<String>, ip: IpAddr) -> Self {
        DhcpHost { mac: None, id: None, name: Some(name.into()), ip, lease: None }
    }

    /// The DHCPv6 client with unique id `id` gets `ip`.
    pub fn by_id(id: impl Into<String>, ip: IpAddr) -> Self {
        DhcpHost { mac: None, id: Some(id.into()), name: None, ip, lease: None }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn with_lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<DhcpHost> {
        DhcpHostPattern::read(el)?.into_host(el)
    }
}

/// A `<host>` as written, its address optional: what names the hosts a
/// `net-update delete` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DhcpHostPattern {
    pub(crate) mac: Option<MacAddress>,
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) lease: Option<Lease>,
}

impl DhcpHostPattern {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<DhcpHostPattern> {
        Ok(DhcpHostPattern {
            mac: el.attr("mac")?,
            id: el.attr("id")?,
            name: el.attr("name")?,
            ip: el.attr("ip")?,
            lease: read_lease(el)?,
        })
    }

    /// The host `el` (read as this) is: an error there when it has no address.
    pub(crate) fn into_host(self, el: &El<'_, '_>) -> Result<DhcpHost> {
        let ip = self.ip.ok_or_else(|| el.missing_attr("ip"))?;
        Ok(DhcpHost { mac: self.mac, id: self.id, name: self.name, ip, lease: self.lease })
    }
}

/// How long a lease lasts (`<lease expiry unit>`); `expiry` 0 is forever.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Lease {
    pub expiry: u64,
    /// Minutes when not given, as in libvirt.
    pub unit: Option<LeaseUnit>,
}

impl Lease {
    pub fn new(expiry: u64, unit: LeaseUnit) -> Self {
        Lease { expiry, unit: Some(unit) }
    }

    /// A lease that never expires.
    pub fn infinite() -> Self {
        Lease { expiry: 0, unit: None }
    }

    /// The lease time; `None` for a lease that never expires.
    pub fn duration(&self) -> Option<Duration> {
        let secs = match self.unit.unwrap_or(LeaseUnit::Minutes) {
            LeaseUnit::Seconds => self.expiry,
            LeaseUnit::Minutes => self.expiry.saturating_mul(60),
            LeaseUnit::Hours => self.expiry.saturating_mul(3600),
        };
        (self.expiry > 0).then(|| Duration::from_secs(secs))
    }
}

fn read_lease(el: &El<'_, '_>) -> Result<Option<Lease>> {
    el.child("lease", |l| Ok(Lease { expiry: l.req_attr("expiry")?, unit: l.attr("unit")? }))
}

fn write_lease(w: &mut XmlWriter, lease: Option<&Lease>) {
    if let Some(l) = lease {
        w.start("lease");
        w.attr_val("expiry", &l.expiry);
        w.attr_opt("unit", l.unit.as_ref());
        w.end();
    }
}

/// Network boot: the file a client loads, and from which server.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Bootp {
    pub file: String,
    /// The TFTP server, when it is not the host.
    pub server: Option<Ipv4Addr>,
}

impl Bootp {
    pub fn new(file: impl Into<String>) -> Self {
        Bootp { file: file.into(), server: None }
    }
}

/// A DHCP option sent to clients, by number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DhcpOption {
    pub number: u8,
    pub value: String,
}

impl DhcpOption {
    pub fn new(number: u8, value: impl Into<String>) -> Self {
        DhcpOption { number, value: value.into() }
    }
}

// ---------------------------------------------------------------------------

/// A static route (`<route>`): `address/prefix` is reached through
/// `gateway`, which must be on one of the network's subnets.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Route {
    pub family: Option<IpFamily>,
    /// The destination network's address (no host bits).
    pub address: IpAddr,
    pub netmask: Option<Ipv4Addr>,
    pub prefix: Option<u8>,
    pub gateway: IpAddr,
    pub metric: Option<u32>,
}

impl Route {
    /// A route to `address/prefix` through `gateway`.
    pub fn new(address: IpAddr, prefix: u8, gateway: IpAddr) -> Self {
        Route {
            family: address.is_ipv6().then_some(IpFamily::Ipv6),
            address,
            netmask: None,
            prefix: Some(prefix),
            gateway,
            metric: None,
        }
    }

    /// The destination's prefix length, as libvirt computes it.
    pub fn prefix_len(&self) -> Option<u8> {
        effective_prefix(self.address, self.netmask, self.prefix)
    }

    /// The destination network.
    pub fn destination(&self) -> Option<Subnet> {
        Subnet::new(self.address, self.prefix_len()?)
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Route> {
        Ok(Route {
            family: el.attr("family")?,
            address: el.req_attr("address")?,
            netmask: el.attr("netmask")?,
            prefix: el.attr("prefix")?,
            gateway: el.req_attr("gateway")?,
            metric: el.attr("metric")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("route");
        w.attr_opt("family", self.family.as_ref());
        w.attr_val("address", &self.address);
        w.attr_opt("netmask", self.netmask.as_ref());
        w.attr_opt("prefix", self.prefix.as_ref());
        w.attr_val("gateway", &self.gateway);
        w.attr_opt("metric", self.metric.as_ref());
        w.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets() {
        let s = Subnet::new(ip("2001:db8:ac10:fd01::1"), 64).unwrap();
        assert_eq!(s.to_string(), "2001:db8:ac10:fd01::/64");
        assert!(s.contains(ip("2001:db8:ac10:fd01::1:20")));
        assert!(!s.contains(ip("2001:db8:ac10:fd02::1")));
        assert!(!s.contains(ip("10.0.0.1")));
        assert_eq!(s.broadcast(), None);
        assert_eq!(s.netmask(), ip("ffff:ffff:ffff:ffff::"));
        let v4 = Subnet::new(ip("10.24.10.1"), 8).unwrap();
        assert_eq!(v4.network(), ip("10.0.0.0"));
        assert_eq!(v4.netmask(), ip("255.0.0.0"));
        assert!(Subnet::new(ip("10.0.0.1"), 33).is_none());
        assert_eq!(Subnet::new(ip("10.0.0.1"), 0).unwrap().to_string(), "0.0.0.0/0");
    }

    #[test]
    fn prefixes_as_libvirt_computes_them() {
        let mut n = NetworkIp::new(ip("192.168.122.1"), 24);
        n.prefix = None;
        n.netmask = Some("255.255.0.0".parse().unwrap());
        assert_eq!(n.prefix_len(), Some(16));
        n.netmask = Some("255.0.255.0".parse().unwrap());
        assert_eq!(n.prefix_len(), None);
        n.netmask = None;
        assert_eq!(n.prefix_len(), Some(24), "class C");
        n.address = ip("10.24.10.1");
        assert_eq!(n.prefix_len(), Some(8), "class A");
        n.address = ip("172.16.0.1");
        assert_eq!(n.prefix_len(), Some(16), "class B");
        n.address = ip("224.0.0.1");
        assert_eq!(n.prefix_len(), None, "class D has none");
        n.address = ip("fd00::1");
        assert_eq!(n.prefix_len(), Some(64));
        assert_eq!(netmask_prefix("255.255.255.255".parse().unwrap()), Some(32));
        assert_eq!(netmask_prefix("0.0.0.0".parse().unwrap()), Some(0));
    }

    #[test]
    fn ranges_and_leases() {
        let r = DhcpRange::new(ip("192.168.122.2"), ip("192.168.122.254"));
        assert_eq!(r.len(), 253);
        assert!(r.contains(ip("192.168.122.100")));
        assert!(!r.contains(ip("192.168.122.1")));
        assert!(r.lies_in(&Subnet::new(ip("192.168.122.1"), 24).unwrap()));
        assert!(!r.lies_in(&Subnet::new(ip("192.168.122.1"), 25).unwrap()));
        assert!(DhcpRange::new(ip("10.0.0.9"), ip("10.0.0.1")).is_empty());
        assert_eq!(Lease::new(2, LeaseUnit::Hours).duration(), Some(Duration::from_secs(7200)));
        assert_eq!(Lease { expiry: 10, unit: None }.duration(), Some(Duration::from_secs(600)));
        assert_eq!(Lease::infinite().duration(), None);
    }
}
