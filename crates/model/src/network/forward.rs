//! `<forward>`: how a network reaches the outside, and with which host
//! devices.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ErrorKind;
use crate::domain::devices::PciAddress;
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// How traffic leaves the network (`<forward mode=…>`).
    pub enum ForwardMode {
        /// Behind the host's address (masquerading), on a bridge the host makes.
        Nat = "nat",
        /// Routed through the host, without address translation.
        Route = "route",
        /// Routed, with no firewall rules added at all.
        Open = "open",
        /// An existing host bridge (or an Open vSwitch bridge).
        Bridge = "bridge",
        /// macvtap on a host device, guests isolated from each other.
        Private = "private",
        /// macvtap on a host device, traffic through the external switch.
        Vepa = "vepa",
        /// macvtap on a host device, one guest per device.
        Passthrough = "passthrough",
        /// SR-IOV virtual functions given to guests as PCI devices.
        Hostdev = "hostdev",
    }
}

impl ForwardMode {
    /// Whether the network is a bridge the host makes and addresses
    /// (modes nat, route and open, and no `<forward>` at all).
    pub fn host_bridge(self) -> bool {
        matches!(self, ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open)
    }

    /// Whether guests connect through macvtap or a PCI device rather than
    /// a bridge (private, vepa, passthrough, hostdev).
    pub fn uses_host_devices(self) -> bool {
        matches!(self, ForwardMode::Private | ForwardMode::Vepa | ForwardMode::Passthrough | ForwardMode::Hostdev)
    }
}

xml_enum! {
    /// The host driver for `hostdev` devices (`<driver name=…>`).
    pub enum ForwardDriver {
        Kvm = "kvm",
        Vfio = "vfio",
    }
}

/// A `<forward>` element.
///
/// ```
/// use virtkit_model::network::{Forward, ForwardMode};
///
/// let f = Forward::new(ForwardMode::Nat).with_dev("eth0");
/// assert_eq!(f.devices(), ["eth0"]);
/// assert_eq!(Forward::default().mode(), ForwardMode::Nat); // libvirt's default
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Forward {
    /// As written; `None` means nat ([`Forward::mode`]).
    pub mode: Option<ForwardMode>,
    /// The host device traffic leaves by (for nat and route: the only one
    /// allowed; for the others, the first of [`Forward::interfaces`]).
    pub dev: Option<String>,
    /// hostdev: whether virtkit detaches the devices from the host driver.
    pub managed: Option<bool>,
    pub driver: Option<ForwardDriver>,
    /// nat only: the addresses and ports to translate to.
    pub nat: Option<Nat>,
    /// The physical function whose virtual functions the network uses.
    pub pf: Option<String>,
    /// Host network devices (a pool of them for bridge-less modes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<ForwardInterface>,
    /// hostdev: PCI virtual functions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<ForwardAddress>,
}

impl Forward {
    pub fn new(mode: ForwardMode) -> Self {
        Forward { mode: Some(mode), ..Default::default() }
    }

    pub fn with_dev(mut self, dev: impl Into<String>) -> Self {
        self.dev = Some(dev.into());
        self
    }

    pub fn with_interface(mut self, dev: impl Into<String>) -> Self {
        self.interfaces.push(ForwardInterface::new(dev));
        self
    }

    pub fn with_nat(mut self, nat: Nat) -> Self {
        self.nat = Some(nat);
        self
    }

    /// The mode, with libvirt's default (nat) when none is written.
    pub fn mode(&self) -> ForwardMode {
        self.mode.unwrap_or(ForwardMode::Nat)
    }

    /// Every host network device named: `dev`, then the `<interface>`s
    /// (the first of which repeats `dev` when both are given).
    pub fn devices(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.dev.iter().map(String::as_str).collect();
        for (i, f) in self.interfaces.iter().enumerate() {
            if i == 0 && self.dev.as_deref() == Some(f.dev.as_str()) {
                continue;
            }
            out.push(&f.dev);
        }
        out
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Forward> {
        Ok(Forward {
            mode: el.attr("mode")?,
            dev: el.attr("dev")?,
            managed: el.yes_no("managed")?,
            driver: el.child("driver", |d| d.req_attr("name"))?,
            nat: el.child("nat", Nat::read)?,
            pf: el.child("pf", |p| p.req_attr("dev"))?,
            interfaces: el.children("interface", ForwardInterface::read)?,
            addresses: el.children("address", |a| {
                let kind = a.raw_attr("type").ok_or_else(|| a.missing_attr("type"))?;
                if kind != "pci" {
                    let msg = format!("'{}' is not one of pci", crate::xml::truncate(kind));
                    return Err(a.attr_error("type", ErrorKind::InvalidValue(msg)));
                }
                Ok(ForwardAddress { address: PciAddress::read_attrs(a)?, connections: a.attr("connections")? })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("forward");
        w.attr_opt("dev", self.dev.as_ref());
        w.attr_opt("mode", self.mode.as_ref());
        w.yes_no("managed", self.managed);
        if let Some(d) = &self.driver {
            w.start("driver");
            w.attr("name", d.as_str());
            w.end();
        }
        if let Some(n) = &self.nat {
            n.write(w);
        }
        if let Some(pf) = &self.pf {
            w.start("pf");
            w.attr("dev", pf);
            w.end();
        }
        for i in &self.interfaces {
            w.start("interface");
            w.attr("dev", &i.dev);
            w.attr_opt("connections", i.connections.as_ref());
            w.end();
        }
        for a in &self.addresses {
            w.start("address");
            w.attr("type", "pci");
            a.address.write_attrs(w);
            w.attr_opt("connections", a.connections.as_ref());
            w.end();
        }
        w.end();
    }
}

/// A host network device in `<forward>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ForwardInterface {
    pub dev: String,
    /// Runtime: guests using it.
    pub connections: Option<u32>,
}

impl ForwardInterface {
    pub fn new(dev: impl Into<String>) -> Self {
        ForwardInterface { dev: dev.into(), connections: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<ForwardInterface> {
        Ok(ForwardInterface { dev: el.req_attr("dev")?, connections: el.attr("connections")? })
    }
}

/// A PCI device (an SR-IOV virtual function) in a hostdev network.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ForwardAddress {
    pub address: PciAddress,
    /// Runtime: guests using it.
    pub connections: Option<u32>,
}

impl ForwardAddress {
    pub fn new(address: PciAddress) -> Self {
        ForwardAddress { address, connections: None }
    }
}

/// `<nat>`: the source addresses and ports NAT translates to.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Nat {
    /// Whether IPv6 traffic is translated too.
    pub ipv6: Option<bool>,
    pub address: Option<NatAddressRange>,
    pub port: Option<NatPortRange>,
}

impl Nat {
    fn read(el: &El<'_, '_>) -> Result<Nat> {
        Ok(Nat {
            ipv6: el.yes_no("ipv6")?,
            address: el
                .child("address", |a| Ok(NatAddressRange { start: a.req_attr("start")?, end: a.req_attr("end")? }))?,
            port: el.child("port", |p| Ok(NatPortRange { start: p.req_attr("start")?, end: p.req_attr("end")? }))?,
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("nat");
        w.yes_no("ipv6", self.ipv6);
        if let Some(a) = &self.address {
            w.start("address");
            w.attr_val("start", &a.start);
            w.attr_val("end", &a.end);
            w.end();
        }
        if let Some(p) = &self.port {
            w.start("port");
            w.attr_val("start", &p.start);
            w.attr_val("end", &p.end);
            w.end();
        }
        w.end();
    }
}

/// IPv4 addresses NAT may use, `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NatAddressRange {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl NatAddressRange {
    pub fn new(start: Ipv4Addr, end: Ipv4Addr) -> Self {
        NatAddressRange { start, end }
    }
}

/// Source ports NAT may use, `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NatPortRange {
    pub start: u16,
    pub end: u16,
}

impl NatPortRange {
    pub fn new(start: u16, end: u16) -> Self {
        NatPortRange { start, end }
    }
}
