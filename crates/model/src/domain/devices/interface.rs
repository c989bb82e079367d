//! `<interface>`: a network card and what it connects to on the host.

use serde::{Deserialize, Serialize};

use super::{Address, DeviceBoot, read_address, read_alias, read_boot, write_address, write_alias, write_boot};
use crate::values::{MacAddress, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// The NIC model the guest sees.
    pub enum NicModel {
        Virtio = "virtio",
        VirtioTransitional = "virtio-transitional",
        VirtioNonTransitional = "virtio-non-transitional",
        E1000 = "e1000",
        E1000e = "e1000e",
        Igb = "igb",
        Rtl8139 = "rtl8139",
        Ne2kPci = "ne2k_pci",
        Ne2kIsa = "ne2k_isa",
        Pcnet = "pcnet",
        I82551 = "i82551",
        I82557b = "i82557b",
        I82559er = "i82559er",
        Vmxnet3 = "vmxnet3",
        UsbNet = "usb-net",
        SpaprVlan = "spapr-vlan",
        Lan9118 = "lan9118",
        Smc91c111 = "smc91c111",
    }
}

xml_enum! {
    pub enum LinkState {
        Up = "up",
        Down = "down",
    }
}

/// What the NIC is plugged into (`<interface type=…>` and its `<source>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum InterfaceSource {
    /// A virtkit/libvirt virtual network, by name.
    Network { network: String },
    /// An existing host bridge.
    Bridge { bridge: String },
    /// User-mode networking (QEMU's slirp or passt): no host setup.
    User,
    /// A tap device (named by `<target dev>`, pre-existing or created).
    Ethernet,
}

impl InterfaceSource {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            InterfaceSource::Network { .. } => "network",
            InterfaceSource::Bridge { .. } => "bridge",
            InterfaceSource::User => "user",
            InterfaceSource::Ethernet => "ethernet",
        }
    }
}

/// An `<interface>`.
///
/// ```
/// use virtkit_model::domain::devices::{Interface, NicModel};
///
/// let nic = Interface::network("default").with_model(NicModel::Virtio);
/// assert!(nic.mac.is_none()); // assigned when the domain is defined
/// ```
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Interface {
    pub source: InterfaceSource,
    pub mac: Option<MacAddress>,
    /// A script run to set up an `ethernet` tap.
    pub script: Option<String>,
    /// The host-side device name (`<target dev=…>`).
    pub target: Option<InterfaceTarget>,
    pub model: Option<NicModel>,
    pub link_state: Option<LinkState>,
    pub mtu: Option<u16>,
    /// Keep this port from talking to other isolated ports on the same network.
    pub port_isolated: Option<bool>,
    pub boot: Option<DeviceBoot>,
    pub alias: Option<String>,
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
            mac: None,
            script: None,
            target: None,
            model: None,
            link_state: None,
            mtu: None,
            port_isolated: None,
            boot: None,
            alias: None,
            address: None,
        }
    }

    pub fn network(name: impl Into<String>) -> Self {
        Interface::new(InterfaceSource::Network { network: name.into() })
    }

    pub fn bridge(name: impl Into<String>) -> Self {
        Interface::new(InterfaceSource::Bridge { bridge: name.into() })
    }

    pub fn user() -> Self {
        Interface::new(InterfaceSource::User)
    }

    /// A tap device named `tap`.
    pub fn ethernet(tap: impl Into<String>) -> Self {
        let mut i = Interface::new(InterfaceSource::Ethernet);
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

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Interface> {
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        let source = match kind {
            "network" => InterfaceSource::Network { network: el.req_child("source", |s| s.req_attr("network"))? },
            "bridge" => InterfaceSource::Bridge { bridge: el.req_child("source", |s| s.req_attr("bridge"))? },
            "user" => InterfaceSource::User,
            "ethernet" => InterfaceSource::Ethernet,
            other => {
                let known = [
                    "direct",
                    "hostdev",
                    "vhostuser",
                    "server",
                    "client",
                    "mcast",
                    "udp",
                    "internal",
                    "vdpa",
                    "null",
                    "vds",
                ];
                let msg = if known.contains(&other) {
                    format!("interface type '{other}' is not supported; supported: network, bridge, user, ethernet")
                } else {
                    format!("'{}' is not one of network, bridge, user, ethernet", crate::xml::truncate(other))
                };
                return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
            }
        };
        Ok(Interface {
            source,
            mac: el.child("mac", |m| m.req_attr("address"))?,
            script: el.child("script", |s| s.req_attr("path"))?,
            target: el
                .child("target", |t| Ok(InterfaceTarget { dev: t.req_attr("dev")?, managed: t.yes_no("managed")? }))?,
            model: el.child("model", |m| m.req_attr("type"))?,
            link_state: el.child("link", |l| l.req_attr("state"))?,
            mtu: el.child("mtu", |m| m.req_attr("size"))?,
            port_isolated: el.child("port", |p| p.yes_no("isolated"))?.flatten(),
            boot: read_boot(el)?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("interface");
        w.attr("type", self.source.type_name());
        if let Some(m) = &self.mac {
            w.start("mac");
            w.attr_val("address", m);
            w.end();
        }
        match &self.source {
            InterfaceSource::Network { network } => {
                w.start("source");
                w.attr("network", network);
                w.end();
            }
            InterfaceSource::Bridge { bridge } => {
                w.start("source");
                w.attr("bridge", bridge);
                w.end();
            }
            InterfaceSource::User | InterfaceSource::Ethernet => {}
        }
        if let Some(s) = &self.script {
            w.start("script");
            w.attr("path", s);
            w.end();
        }
        if let Some(t) = &self.target {
            w.start("target");
            w.attr("dev", &t.dev);
            w.yes_no("managed", t.managed);
            w.end();
        }
        if let Some(m) = &self.model {
            w.start("model");
            w.attr("type", m.as_str());
            w.end();
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
        if let Some(p) = self.port_isolated {
            w.start("port");
            w.yes_no("isolated", Some(p));
            w.end();
        }
        write_boot(w, self.boot.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}
