//! `<interface>`: a network card and what it connects to on the host.

mod driver;
mod extras;
mod ip;
mod source;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use driver::{GuestOffloads, HostOffloads, InterfaceDriver, InterfaceDriverName, TxMode};
pub use extras::{
    BackendType, Coalesce, CoalesceFrames, CoalesceRx, FilterParameter, FilterRef, InterfaceBackend, InterfaceGuest,
    InterfaceTune, MacType, Teaming,
};
pub use ip::{ForwardProto, InterfaceIp, PortForward, PortRange};
pub use source::{DirectMode, InterfaceSource, NetworkSource, VhostUserMode};

use super::{
    Address, DeviceBoot, PciAddress, Rom, read_acpi_index, read_address, read_alias, read_boot, read_rom,
    write_acpi_index, write_address, write_alias, write_boot, write_rom,
};
use crate::network::{Bandwidth, Route, VirtualPort, Vlan};
use crate::values::{MacAddress, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;
use crate::xml::{XmlValue, truncate};

/// The NIC model the guest sees. Models are the hypervisor's words, not
/// libvirt's (`virtio`, `e1000e`, `rtl8139`, … whatever QEMU has): any
/// name of letters, digits, `-` and `_` is taken, and the driver checks it
/// against what its hypervisor offers.
///
/// ```
/// use virtkit_model::domain::devices::NicModel;
///
/// assert!(NicModel::virtio().is_virtio());
/// assert_eq!(NicModel::new("e1000e").unwrap().as_str(), "e1000e");
/// assert!(NicModel::new("e1000 e").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NicModel(String);

impl NicModel {
    /// A model by name: letters, digits, `-` and `_`.
    pub fn new(name: impl Into<String>) -> std::result::Result<Self, String> {
        let name = name.into();
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            Ok(NicModel(name))
        } else {
            Err(format!("'{}' is not a NIC model name (letters, digits, '-' and '_')", truncate(&name)))
        }
    }

    /// A virtio network card.
    pub fn virtio() -> Self {
        NicModel("virtio".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `virtio`, `virtio-transitional` or `virtio-non-transitional`.
    pub fn is_virtio(&self) -> bool {
        matches!(self.0.as_str(), "virtio" | "virtio-transitional" | "virtio-non-transitional")
    }
}

impl std::fmt::Display for NicModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl XmlValue for NicModel {
    fn parse_xml(s: &str) -> std::result::Result<Self, String> {
        NicModel::new(s)
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

impl<'de> Deserialize<'de> for NicModel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        NicModel::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

xml_enum! {
    pub enum LinkState {
        Up = "up",
        Down = "down",
    }
}

/// An `<interface>`, its parts in the order libvirt writes them.
///
/// ```
/// use virtkit_model::domain::devices::{Interface, NicModel};
///
/// let nic = Interface::network("default").with_model(NicModel::virtio());
/// assert!(nic.mac.is_none()); // assigned when the domain is defined
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Interface {
    pub source: InterfaceSource,
    /// Whether the guest may change its MAC filters (multicast, promiscuous).
    pub trust_guest_rx_filters: Option<bool>,
    pub mac: Option<MacAddress>,
    pub mac_type: Option<MacType>,
    /// Whether libvirt checks a static MAC address is not a generated one.
    pub mac_check: Option<bool>,
    pub vlan: Option<Vlan>,
    pub virtualport: Option<VirtualPort>,
    pub bandwidth: Option<Bandwidth>,
    /// Keep this port from talking to other isolated ports on the same network.
    pub port_isolated: Option<bool>,
    /// Addresses of the guest side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<InterfaceIp>,
    /// Routes of the guest side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_forwards: Vec<PortForward>,
    /// A script run to set up the host side (a tap).
    pub script: Option<String>,
    /// A script run when the host side goes.
    pub downscript: Option<String>,
    /// The domain that runs the backend (Xen).
    pub backend_domain: Option<String>,
    /// The host-side device name (`<target dev=…>`).
    pub target: Option<InterfaceTarget>,
    pub guest: Option<InterfaceGuest>,
    pub model: Option<NicModel>,
    pub driver: Option<InterfaceDriver>,
    pub backend: Option<InterfaceBackend>,
    pub filterref: Option<FilterRef>,
    pub tune: Option<InterfaceTune>,
    pub teaming: Option<Teaming>,
    pub link_state: Option<LinkState>,
    pub mtu: Option<u16>,
    pub coalesce: Option<Coalesce>,
    pub boot: Option<DeviceBoot>,
    pub alias: Option<String>,
    pub acpi_index: Option<u32>,
    pub rom: Option<Rom>,
    pub address: Option<Address>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InterfaceTarget {
    pub dev: String,
    /// `ethernet` only: whether virtkit creates and deletes the tap.
    pub managed: Option<bool>,
}

impl InterfaceTarget {
    pub fn new(dev: impl Into<String>) -> Self {
        InterfaceTarget { dev: dev.into(), managed: None }
    }
}

impl Interface {
    pub fn new(source: InterfaceSource) -> Self {
        Interface {
            source,
            trust_guest_rx_filters: None,
            mac: None,
            mac_type: None,
            mac_check: None,
            vlan: None,
            virtualport: None,
            bandwidth: None,
            port_isolated: None,
            ips: Vec::new(),
            routes: Vec::new(),
            port_forwards: Vec::new(),
            script: None,
            downscript: None,
            backend_domain: None,
            target: None,
            guest: None,
            model: None,
            driver: None,
            backend: None,
            filterref: None,
            tune: None,
            teaming: None,
            link_state: None,
            mtu: None,
            coalesce: None,
            boot: None,
            alias: None,
            acpi_index: None,
            rom: None,
            address: None,
        }
    }

    pub fn network(name: impl Into<String>) -> Self {
        Interface::new(InterfaceSource::network(name))
    }

    pub fn bridge(name: impl Into<String>) -> Self {
        Interface::new(InterfaceSource::bridge(name))
    }

    pub fn user() -> Self {
        Interface::new(InterfaceSource::User { dev: None })
    }

    /// A host PCI network device (an SR-IOV virtual function), bound to
    /// vfio-pci for the guest by whoever runs it (`managed`).
    pub fn hostdev(address: PciAddress) -> Self {
        Interface::new(InterfaceSource::Hostdev { address, managed: Some(true) })
    }

    /// A tap device named `tap`.
    pub fn ethernet(tap: impl Into<String>) -> Self {
        let mut i = Interface::new(InterfaceSource::ethernet());
        i.target = Some(InterfaceTarget::new(tap));
        i
    }

    pub fn with_model(mut self, model: NicModel) -> Self {
        self.model = Some(model);
        self
    }

    pub fn with_mac(mut self, mac: MacAddress) -> Self {
        self.mac = Some(mac);
        self
    }

    pub fn with_driver(mut self, driver: InterfaceDriver) -> Self {
        self.driver = Some(driver);
        self
    }

    /// Whether the model is a virtio one.
    pub fn is_virtio(&self) -> bool {
        self.model.as_ref().is_some_and(NicModel::is_virtio)
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Interface> {
        let source = InterfaceSource::read(el)?;
        let mac = el.child("mac", |m| Ok((m.req_attr("address")?, m.attr("type")?, m.yes_no("check")?)))?;
        let (mac, mac_type, mac_check) = match mac {
            Some((a, t, c)) => (Some(a), t, c),
            None => (None, None, None),
        };
        Ok(Interface {
            source,
            trust_guest_rx_filters: el.yes_no("trustGuestRxFilters")?,
            mac,
            mac_type,
            mac_check,
            vlan: el.child("vlan", Vlan::read)?,
            virtualport: el.child("virtualport", VirtualPort::read)?,
            bandwidth: el.child("bandwidth", Bandwidth::read)?,
            port_isolated: el.child("port", |p| p.yes_no("isolated"))?.flatten(),
            ips: el.children("ip", InterfaceIp::read)?,
            routes: el.children("route", Route::read)?,
            port_forwards: el.children("portForward", PortForward::read)?,
            script: el.child("script", |s| s.req_attr("path"))?,
            downscript: el.child("downscript", |s| s.req_attr("path"))?,
            backend_domain: el.child("backenddomain", |s| s.req_attr("name"))?,
            target: el
                .child("target", |t| Ok(InterfaceTarget { dev: t.req_attr("dev")?, managed: t.yes_no("managed")? }))?,
            guest: el.child("guest", InterfaceGuest::read)?,
            model: el.child("model", |m| m.req_attr("type"))?,
            driver: el.child("driver", InterfaceDriver::read)?,
            backend: el.child("backend", InterfaceBackend::read)?,
            filterref: el.child("filterref", FilterRef::read)?,
            tune: el.child("tune", |t| Ok(InterfaceTune { sndbuf: t.child_value("sndbuf")? }))?,
            teaming: el.child("teaming", Teaming::read)?,
            link_state: el.child("link", |l| l.req_attr("state"))?,
            mtu: el.child("mtu", |m| m.req_attr("size"))?,
            coalesce: el.child("coalesce", Coalesce::read)?,
            boot: read_boot(el)?,
            alias: read_alias(el)?,
            acpi_index: read_acpi_index(el)?,
            rom: read_rom(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("interface");
        w.attr("type", self.source.type_name());
        if let InterfaceSource::Hostdev { managed, .. } = &self.source {
            w.yes_no("managed", *managed);
        }
        w.yes_no("trustGuestRxFilters", self.trust_guest_rx_filters);
        if let Some(m) = &self.mac {
            w.start("mac");
            w.attr_val("address", m);
            w.attr_opt("type", self.mac_type.as_ref());
            w.yes_no("check", self.mac_check);
            w.end();
        }
        self.source.write(w);
        if let Some(v) = &self.vlan {
            v.write(w);
        }
        if let Some(v) = &self.virtualport {
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
        ip::write_ip_info(w, &self.ips, &self.routes);
        self.port_forwards.iter().for_each(|p| p.write(w));
        for (name, attr, value) in [
            ("script", "path", &self.script),
            ("downscript", "path", &self.downscript),
            ("backenddomain", "name", &self.backend_domain),
        ] {
            if let Some(v) = value {
                w.start(name);
                w.attr(attr, v);
                w.end();
            }
        }
        if let Some(t) = &self.target {
            w.start("target");
            w.attr("dev", &t.dev);
            w.yes_no("managed", t.managed);
            w.end();
        }
        if let Some(g) = &self.guest {
            g.write(w);
        }
        if let Some(m) = &self.model {
            w.start("model");
            w.attr("type", m.as_str());
            w.end();
        }
        self.write_tail(w);
        w.end();
    }

    /// From `<driver>` on.
    fn write_tail(&self, w: &mut XmlWriter) {
        if let Some(d) = &self.driver {
            d.write(w);
        }
        if let Some(b) = &self.backend {
            b.write(w);
        }
        if let Some(f) = &self.filterref {
            f.write(w);
        }
        if let Some(t) = &self.tune {
            w.start("tune");
            w.opt_text_element("sndbuf", t.sndbuf.as_ref());
            w.end();
        }
        if let Some(t) = &self.teaming {
            t.write(w);
        }
        if let Some(l) = &self.link_state {
            w.start("link");
            w.attr("state", l.as_str());
            w.end();
        }
        if let Some(m) = &self.mtu {
            w.start("mtu");
            w.attr_val("size", m);
            w.end();
        }
        if let Some(c) = &self.coalesce {
            c.write(w);
        }
        write_boot(w, self.boot.as_ref());
        write_alias(w, self.alias.as_ref());
        write_acpi_index(w, self.acpi_index);
        write_rom(w, self.rom.as_ref());
        write_address(w, self.address.as_ref());
    }
}
