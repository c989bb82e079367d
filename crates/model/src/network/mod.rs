//! The network document: libvirt's `<network>`, a virtual network the host
//! provides to guests.
//!
//! Each part has its module, with its reader and writer beside the type:
//! [`Forward`] (how traffic leaves), [`NetworkIp`] and [`Route`] (addresses,
//! DHCP, TFTP, static routes), [`Dns`], and the per-port settings shared
//! with guests' interfaces ([`Bandwidth`], [`Vlan`], [`VirtualPort`],
//! [`PortGroup`]). The checks across fields live in `validate.rs`;
//! [`Network::apply_update`] (in `update.rs`) is `virsh net-update`.
//!
//! ```
//! use virtkit_model::network::{Forward, ForwardMode, Network, NetworkIp};
//!
//! let xml = "<network>
//!   <name>default</name>
//!   <forward mode='nat'/>
//!   <bridge name='virbr0'/>
//!   <ip address='192.168.122.1' netmask='255.255.255.0'>
//!     <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
//!   </ip>
//! </network>";
//! let net = Network::from_xml(xml).unwrap();
//! assert_eq!(net.mode(), Some(ForwardMode::Nat));
//! assert_eq!(net.ips[0].subnet().unwrap().to_string(), "192.168.122.0/24");
//!
//! // A typo is refused with where it is, and what was meant.
//! let err = Network::from_xml(&xml.replace("<bridge ", "<brigde ")).unwrap_err();
//! assert_eq!(err.first().path, "/network/brigde");
//! assert!(err.to_string().contains("did you mean <bridge>?"));
//! ```

mod dns;
mod forward;
mod ip;
mod port;
mod update;
pub(crate) mod validate;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use dns::{Dns, DnsForwarder, DnsHost, DnsSrv, DnsTxt, SrvProtocol};
pub use forward::{
    Forward, ForwardAddress, ForwardDriver, ForwardInterface, ForwardMode, Nat, NatAddressRange, NatPortRange,
};
pub use ip::{
    Bootp, Dhcp, DhcpHost, DhcpOption, DhcpRange, IpFamily, Lease, LeaseUnit, NetworkIp, Route, Subnet, netmask_prefix,
};
pub use port::{
    Bandwidth, BandwidthRate, NativeMode, PortGroup, VirtualPort, VirtualPortParameters, VirtualPortType, Vlan, VlanTag,
};
pub use update::{
    DnsmasqAction, NetworkUpdate, NetworkUpdateCommand, NetworkUpdateError, NetworkUpdateSection, NetworkUpdated,
};

use crate::document::{self, Model};
use crate::domain::keep;
use crate::domain::validate::V;
use crate::error::{Error, Errors};
use crate::metadata::{XmlElement, read_metadata, write_metadata};
use crate::values::{MacAddress, xml_enum};
use crate::xml::XmlValue;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// The namespace of `<dnsmasq:options>`.
pub const DNSMASQ_NS: &str = "http://libvirt.org/schemas/network/dnsmasq/1.0";

xml_enum! {
    /// Who keeps a bridge's forwarding table (`macTableManager`).
    pub enum MacTableManager {
        /// The kernel learns addresses (flooding unknown ones).
        Kernel = "kernel",
        /// virtkit adds each guest's address and turns learning off.
        Libvirt = "libvirt",
    }
}

/// A network definition.
///
/// ```
/// use virtkit_model::network::{Bridge, Forward, ForwardMode, Network, NetworkIp};
///
/// let net = Network::new("lan")
///     .with_forward(Forward::new(ForwardMode::Route).with_dev("eth0"))
///     .with_bridge(Bridge::named("virbr5"))
///     .with_ip(NetworkIp::new("10.0.5.1".parse().unwrap(), 24));
/// net.validate().unwrap();
/// assert_eq!(Network::from_xml(&net.to_xml()).unwrap(), net);
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Network {
    pub name: String,
    /// Generated when a document has none.
    #[serde(default = "Uuid::new_v4")]
    pub uuid: Uuid,
    /// A short description (newer than libvirt 9.0: not in its schema).
    pub title: Option<String>,
    /// A long description (newer than libvirt 9.0: not in its schema).
    pub description: Option<String>,
    /// Applications' own elements, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<XmlElement>,
    /// Runtime: guests connected.
    pub connections: Option<u32>,
    /// `ipv6='yes'`: guest-to-guest IPv6 even with no IPv6 address here.
    pub ipv6: Option<bool>,
    /// Whether guests' receive filters are trusted (ports' default).
    pub trust_guest_rx_filters: Option<bool>,
    /// `None`: an isolated network (guests and host only).
    pub forward: Option<Forward>,
    pub bridge: Option<Bridge>,
    pub mtu: Option<u16>,
    /// The bridge's MAC address.
    pub mac: Option<MacAddress>,
    /// The DNS domain of the guests (`<domain>`).
    pub domain: Option<NetworkDomain>,
    pub dns: Option<Dns>,
    pub vlan: Option<Vlan>,
    pub bandwidth: Option<Bandwidth>,
    /// Ports' default isolation (`<port isolated=…>`): isolated ports
    /// cannot reach each other.
    pub port_isolated: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<NetworkIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    pub virtualport: Option<VirtualPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub portgroups: Vec<PortGroup>,
    /// Extra dnsmasq configuration lines (`<dnsmasq:options>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnsmasq_options: Vec<String>,
}

/// `<bridge>`: the host bridge guests connect to.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Bridge {
    pub name: Option<String>,
    /// The firewalld zone the bridge joins.
    pub zone: Option<String>,
    /// Spanning tree protocol (on unless `off`).
    pub stp: Option<bool>,
    /// The STP forward delay, in seconds.
    pub delay: Option<u64>,
    pub mac_table_manager: Option<MacTableManager>,
}

impl Bridge {
    /// A bridge called `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Bridge { name: Some(name.into()), ..Default::default() }
    }
}

/// `<domain>`: the DNS domain guests' names are in.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NetworkDomain {
    pub name: String,
    /// Whether queries in the domain stay local (never forwarded).
    pub local_only: Option<bool>,
    /// Whether the domain is registered with systemd-resolved (newer than
    /// libvirt 9.0: not in its schema).
    pub register: Option<bool>,
}

impl NetworkDomain {
    pub fn new(name: impl Into<String>) -> Self {
        NetworkDomain { name: name.into(), local_only: None, register: None }
    }
}

impl Network {
    /// An isolated network with a fresh UUID.
    pub fn new(name: impl Into<String>) -> Self {
        Network {
            name: name.into(),
            uuid: Uuid::new_v4(),
            title: None,
            description: None,
            metadata: Vec::new(),
            connections: None,
            ipv6: None,
            trust_guest_rx_filters: None,
            forward: None,
            bridge: None,
            mtu: None,
            mac: None,
            domain: None,
            dns: None,
            vlan: None,
            bandwidth: None,
            port_isolated: None,
            ips: Vec::new(),
            routes: Vec::new(),
            virtualport: None,
            portgroups: Vec::new(),
            dnsmasq_options: Vec::new(),
        }
    }

    pub fn with_uuid(mut self, uuid: Uuid) -> Self {
        self.uuid = uuid;
        self
    }

    pub fn with_forward(mut self, forward: Forward) -> Self {
        self.forward = Some(forward);
        self
    }

    pub fn with_bridge(mut self, bridge: Bridge) -> Self {
        self.bridge = Some(bridge);
        self
    }

    pub fn with_ip(mut self, ip: NetworkIp) -> Self {
        self.ips.push(ip);
        self
    }

    pub fn with_route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    pub fn with_dns(mut self, dns: Dns) -> Self {
        self.dns = Some(dns);
        self
    }

    pub fn with_domain(mut self, domain: NetworkDomain) -> Self {
        self.domain = Some(domain);
        self
    }

    pub fn with_mac(mut self, mac: MacAddress) -> Self {
        self.mac = Some(mac);
        self
    }

    pub fn with_mtu(mut self, mtu: u16) -> Self {
        self.mtu = Some(mtu);
        self
    }

    pub fn with_portgroup(mut self, portgroup: PortGroup) -> Self {
        self.portgroups.push(portgroup);
        self
    }

    pub fn with_metadata(mut self, element: XmlElement) -> Self {
        self.metadata.push(element);
        self
    }

    /// The forward mode; `None` for an isolated network.
    pub fn mode(&self) -> Option<ForwardMode> {
        self.forward.as_ref().map(Forward::mode)
    }

    /// The `<ip>`s of one family.
    pub fn ips_of(&self, ipv6: bool) -> impl Iterator<Item = &NetworkIp> {
        self.ips.iter().filter(move |i| i.is_ipv6() == ipv6)
    }

    /// The `<ip>` whose subnet holds `address`, if any.
    pub fn ip_for(&self, address: std::net::IpAddr) -> Option<&NetworkIp> {
        self.ips.iter().find(|i| i.subnet().is_some_and(|s| s.contains(address)))
    }

    /// The port group an interface asking for `name` gets (the default
    /// group when it asks for none).
    pub fn portgroup(&self, name: Option<&str>) -> Option<&PortGroup> {
        match name {
            Some(n) => self.portgroups.iter().find(|p| p.name == n),
            None => self.portgroups.iter().find(|p| p.default == Some(true)),
        }
    }

    // ---- encodings ----

    /// Reads a network document, strictly: anything outside the model is
    /// an error, and every error found is returned with its location.
    pub fn from_xml(text: &str) -> std::result::Result<Network, Errors> {
        document::from_xml(text)
    }

    /// The canonical XML form: libvirt's element order, two-space indent.
    pub fn to_xml(&self) -> String {
        document::to_xml(self)
    }

    /// Reads the JSON encoding, with the same checks as [`Network::from_xml`].
    pub fn from_json(text: &str) -> std::result::Result<Network, Errors> {
        document::from_json(text)
    }

    /// The JSON encoding, pretty-printed.
    pub fn to_json(&self) -> String {
        document::to_json(self)
    }

    /// Checks the whole network; every problem found is returned.
    pub fn validate(&self) -> std::result::Result<(), Errors> {
        document::validate(self)
    }
}

impl Model for Network {
    const ROOT: &'static str = "network";

    fn read(el: &El<'_, '_>, errors: &mut Vec<Error>) -> Result<Network> {
        let name = keep(el.req_child("name", |e| Ok(e.text())), errors);
        let mut net = Network::new(name.unwrap_or_default());
        net.connections = keep(el.attr("connections"), errors).flatten();
        net.ipv6 = keep(el.yes_no("ipv6"), errors).flatten();
        net.trust_guest_rx_filters = keep(el.yes_no("trustGuestRxFilters"), errors).flatten();
        if let Some(u) = keep(el.child_value::<Uuid>("uuid"), errors).flatten() {
            net.uuid = u;
        }
        net.title = keep(el.child_text("title"), errors).flatten();
        net.description = keep(el.child_text("description"), errors).flatten();
        net.metadata = keep(el.child("metadata", read_metadata), errors).flatten().unwrap_or_default();
        net.forward = keep(el.child("forward", Forward::read), errors).flatten();
        net.bridge = keep(el.child("bridge", read_bridge), errors).flatten();
        net.mtu = keep(el.child("mtu", |m| m.req_attr("size")), errors).flatten();
        net.mac = keep(el.child("mac", |m| m.req_attr("address")), errors).flatten();
        net.domain = keep(el.child("domain", read_domain), errors).flatten();
        net.dns = keep(el.child("dns", Dns::read), errors).flatten();
        net.vlan = keep(el.child("vlan", Vlan::read), errors).flatten();
        net.bandwidth = keep(el.child("bandwidth", Bandwidth::read), errors).flatten();
        net.port_isolated = keep(el.child("port", |p| p.yes_no("isolated")), errors).flatten().flatten();
        net.ips = el.children("ip", NetworkIp::read)?;
        net.routes = el.children("route", Route::read)?;
        net.virtualport = keep(el.child("virtualport", VirtualPort::read), errors).flatten();
        net.portgroups = el.children("portgroup", PortGroup::read)?;
        net.dnsmasq_options = keep(
            el.child_ns(DNSMASQ_NS, "options", |o| o.children_ns(DNSMASQ_NS, "option", |v| v.req_attr("value"))),
            errors,
        )
        .flatten()
        .unwrap_or_default();
        Ok(net)
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("network");
        if !self.dnsmasq_options.is_empty() {
            w.attr("xmlns:dnsmasq", DNSMASQ_NS);
        }
        w.attr_opt("connections", self.connections.as_ref());
        w.yes_no("ipv6", self.ipv6);
        w.yes_no("trustGuestRxFilters", self.trust_guest_rx_filters);
        w.text_element("name", &self.name);
        w.text_element("uuid", &self.uuid.to_xml());
        w.opt_text_element("title", self.title.as_ref());
        w.opt_text_element("description", self.description.as_ref());
        write_metadata(w, &self.metadata);
        if let Some(f) = &self.forward {
            f.write(w);
        }
        if let Some(b) = &self.bridge {
            w.start("bridge");
            w.attr_opt("name", b.name.as_ref());
            w.attr_opt("zone", b.zone.as_ref());
            w.on_off("stp", b.stp);
            w.attr_opt("delay", b.delay.as_ref());
            w.attr_opt("macTableManager", b.mac_table_manager.as_ref());
            w.end();
        }
        if let Some(m) = &self.mtu {
            w.start("mtu");
            w.attr_val("size", m);
            w.end();
        }
        if let Some(m) = &self.mac {
            w.start("mac");
            w.attr_val("address", m);
            w.end();
        }
        if let Some(d) = &self.domain {
            w.start("domain");
            w.attr("name", &d.name);
            w.yes_no("localOnly", d.local_only);
            w.yes_no("register", d.register);
            w.end();
        }
        if let Some(d) = &self.dns {
            d.write(w);
        }
        if let Some(v) = &self.vlan {
            v.write(w);
        }
        if let Some(b) = &self.bandwidth {
            b.write(w);
        }
        if let Some(p) = self.port_isolated {
            w.start("port");
            w.yes_no("isolated", Some(p));
            w.end();
        }
        self.ips.iter().for_each(|i| i.write(w));
        self.routes.iter().for_each(|r| r.write(w));
        if let Some(v) = &self.virtualport {
            v.write(w);
        }
        self.portgroups.iter().for_each(|p| p.write(w));
        if !self.dnsmasq_options.is_empty() {
            w.start("dnsmasq:options");
            for o in &self.dnsmasq_options {
                w.start("dnsmasq:option");
                w.attr("value", o);
                w.end();
            }
            w.end();
        }
        w.end();
    }

    fn check(&self, v: &mut V) {
        validate::check(self, v);
    }
}

fn read_bridge(el: &El<'_, '_>) -> Result<Bridge> {
    Ok(Bridge {
        name: el.attr("name")?,
        zone: el.attr("zone")?,
        stp: el.on_off("stp")?,
        delay: el.attr("delay")?,
        mac_table_manager: el.attr("macTableManager")?,
    })
}

fn read_domain(el: &El<'_, '_>) -> Result<NetworkDomain> {
    Ok(NetworkDomain {
        name: el.req_attr("name")?,
        local_only: el.yes_no("localOnly")?,
        register: el.yes_no("register")?,
    })
}
