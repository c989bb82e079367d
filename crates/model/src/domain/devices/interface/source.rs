//! What an `<interface>` is plugged into: its `type` and `<source>`.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ip::{InterfaceIp, read_ip_info, write_ip_info};
use crate::domain::devices::{PciAddress, Reconnect};
use crate::network::{MacTableManager, Route};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// How a macvtap device (`type='direct'`) shares its host device.
    pub enum DirectMode {
        Vepa = "vepa",
        Bridge = "bridge",
        Private = "private",
        Passthrough = "passthrough",
    }
}

xml_enum! {
    /// Which end of a vhost-user socket listens.
    pub enum VhostUserMode {
        /// QEMU listens; the switch connects.
        Server = "server",
        /// The switch listens; QEMU connects.
        Client = "client",
    }
}

/// A virtual network's name and the port asked of it (`network`,
/// `portgroup`, `portid` of a `<source>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NetworkSource {
    pub network: String,
    pub portgroup: Option<String>,
    /// The network port, once one is made for the interface.
    pub portid: Option<Uuid>,
}

impl NetworkSource {
    pub fn new(network: impl Into<String>) -> Self {
        NetworkSource { network: network.into(), portgroup: None, portid: None }
    }

    fn read(s: &El<'_, '_>, required: bool) -> Result<Option<NetworkSource>> {
        let network = if required { Some(s.req_attr("network")?) } else { s.attr("network")? };
        let portgroup = s.attr("portgroup")?;
        let portid = s.attr("portid")?;
        match network {
            Some(network) => Ok(Some(NetworkSource { network, portgroup, portid })),
            None if portgroup.is_some() || portid.is_some() => {
                let attr = if portgroup.is_some() { "portgroup" } else { "portid" };
                Err(s.attr_error(attr, crate::ErrorKind::Invalid(format!("{attr} is a network's: it needs network="))))
            }
            None => Ok(None),
        }
    }

    fn write(&self, w: &mut XmlWriter) {
        w.attr("network", &self.network);
        w.attr_opt("portgroup", self.portgroup.as_ref());
        w.attr_opt("portid", self.portid.as_ref());
    }
}

/// What the NIC is plugged into (`<interface type=…>` and its `<source>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum InterfaceSource {
    /// A virtkit/libvirt virtual network, by name (`bridge` and
    /// `mac_table_manager` are what a running guest's port got).
    Network {
        network: String,
        portgroup: Option<String>,
        portid: Option<Uuid>,
        bridge: Option<String>,
        mac_table_manager: Option<MacTableManager>,
    },
    /// An existing host bridge (with the network it came from, if any).
    Bridge { bridge: String, mac_table_manager: Option<MacTableManager>, network: Option<NetworkSource> },
    /// User-mode networking (QEMU's slirp, or passt): no host setup.
    /// `dev` is the host interface passt sends through.
    User { dev: Option<String> },
    /// A tap device (named by `<target dev>`, pre-existing or created),
    /// with the addresses and routes given to its host side.
    Ethernet {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ips: Vec<InterfaceIp>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        routes: Vec<Route>,
    },
    /// A macvtap device on host device `dev`.
    Direct { dev: String, mode: Option<DirectMode>, network: Option<NetworkSource> },
    /// A vhost-user switch port on a unix socket.
    Vhostuser { path: String, mode: VhostUserMode, reconnect: Option<Reconnect> },
    /// A vDPA device (`/dev/vhost-vdpa-N`).
    Vdpa { dev: String },
    /// A host PCI network device (an SR-IOV virtual function) given to the
    /// guest whole, its MAC address, VLAN and port profile set by the host
    /// on the device. `managed`: whether it is bound to vfio-pci for the
    /// guest and back afterwards.
    Hostdev { address: PciAddress, managed: Option<bool> },
    /// A TCP socket another guest connects to (`address` to listen on).
    Server { address: Option<Ipv4Addr>, port: u16 },
    /// A TCP connection to a `server` interface.
    Client { address: Ipv4Addr, port: u16 },
    /// A multicast group shared by guests.
    Mcast { address: Ipv4Addr, port: u16 },
    /// UDP to `address:port` from `local_address:local_port`.
    Udp { address: Ipv4Addr, port: u16, local_address: Ipv4Addr, local_port: u16 },
    /// A VirtualBox internal network.
    Internal { name: String },
    /// No connection (VMware).
    Null,
    /// A VMware distributed switch port.
    Vds { switchid: Uuid, portid: i64, portgroupid: String, connectionid: i64 },
}

/// Every type libvirt knows, each read here.
const TYPES: &[&str] = &[
    "network",
    "bridge",
    "user",
    "ethernet",
    "direct",
    "vhostuser",
    "vdpa",
    "hostdev",
    "server",
    "client",
    "mcast",
    "udp",
    "internal",
    "null",
    "vds",
];

impl InterfaceSource {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            InterfaceSource::Network { .. } => "network",
            InterfaceSource::Bridge { .. } => "bridge",
            InterfaceSource::User { .. } => "user",
            InterfaceSource::Ethernet { .. } => "ethernet",
            InterfaceSource::Direct { .. } => "direct",
            InterfaceSource::Vhostuser { .. } => "vhostuser",
            InterfaceSource::Vdpa { .. } => "vdpa",
            InterfaceSource::Hostdev { .. } => "hostdev",
            InterfaceSource::Server { .. } => "server",
            InterfaceSource::Client { .. } => "client",
            InterfaceSource::Mcast { .. } => "mcast",
            InterfaceSource::Udp { .. } => "udp",
            InterfaceSource::Internal { .. } => "internal",
            InterfaceSource::Null => "null",
            InterfaceSource::Vds { .. } => "vds",
        }
    }

    /// The interface's `type` word.
    pub fn kind(&self) -> &'static str {
        self.type_name()
    }

    /// A virtual network by name.
    pub fn network(name: impl Into<String>) -> Self {
        InterfaceSource::Network {
            network: name.into(),
            portgroup: None,
            portid: None,
            bridge: None,
            mac_table_manager: None,
        }
    }

    /// A host bridge by name.
    pub fn bridge(name: impl Into<String>) -> Self {
        InterfaceSource::Bridge { bridge: name.into(), mac_table_manager: None, network: None }
    }

    /// A tap device with nothing set up on its host side.
    pub fn ethernet() -> Self {
        InterfaceSource::Ethernet { ips: Vec::new(), routes: Vec::new() }
    }

    /// Reads `type` and `<source>` of `el`, an `<interface>`.
    pub(crate) fn read(el: &El<'_, '_>) -> Result<InterfaceSource> {
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        Ok(match kind {
            "network" => el.req_child("source", |s| {
                let n = NetworkSource::read(s, true)?.ok_or_else(|| s.missing_attr("network"))?;
                Ok(InterfaceSource::Network {
                    network: n.network,
                    portgroup: n.portgroup,
                    portid: n.portid,
                    bridge: s.attr("bridge")?,
                    mac_table_manager: s.attr("macTableManager")?,
                })
            })?,
            "bridge" => el.req_child("source", |s| {
                Ok(InterfaceSource::Bridge {
                    bridge: s.req_attr("bridge")?,
                    mac_table_manager: s.attr("macTableManager")?,
                    network: NetworkSource::read(s, false)?,
                })
            })?,
            "user" => InterfaceSource::User { dev: el.child("source", |s| s.req_attr("dev"))? },
            "ethernet" => {
                let (ips, routes) = el.child("source", read_ip_info)?.unwrap_or_default();
                InterfaceSource::Ethernet { ips, routes }
            }
            "direct" => el.req_child("source", |s| {
                Ok(InterfaceSource::Direct {
                    dev: s.req_attr("dev")?,
                    mode: s.attr("mode")?,
                    network: NetworkSource::read(s, false)?,
                })
            })?,
            "vhostuser" => el.req_child("source", |s| {
                let t: String = s.req_attr("type")?;
                if t != "unix" {
                    let msg = format!("'{}' is not one of unix", crate::xml::truncate(&t));
                    return Err(s.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
                }
                Ok(InterfaceSource::Vhostuser {
                    path: s.req_attr("path")?,
                    mode: s.req_attr("mode")?,
                    reconnect: s.child("reconnect", Reconnect::read)?,
                })
            })?,
            "vdpa" => el.req_child("source", |s| Ok(InterfaceSource::Vdpa { dev: s.req_attr("dev")? }))?,
            "hostdev" => InterfaceSource::Hostdev {
                managed: el.yes_no("managed")?,
                // libvirt reads a PCI device only (its schema also
                // names USB ones, which nothing makes a NIC of).
                address: el.req_child("source", |s| {
                    s.req_child("address", |a| {
                        match a.raw_attr("type") {
                            Some("pci") => {}
                            Some(t) => {
                                let msg = format!("'{}' is not one of pci", crate::xml::truncate(t));
                                return Err(a.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
                            }
                            None => return Err(a.missing_attr("type")),
                        }
                        PciAddress::read_attrs(a)
                    })
                })?,
            },
            "server" => el.req_child("source", |s| {
                Ok(InterfaceSource::Server { address: s.attr("address")?, port: s.req_attr("port")? })
            })?,
            "client" => el.req_child("source", |s| {
                Ok(InterfaceSource::Client { address: s.req_attr("address")?, port: s.req_attr("port")? })
            })?,
            "mcast" => el.req_child("source", |s| {
                Ok(InterfaceSource::Mcast { address: s.req_attr("address")?, port: s.req_attr("port")? })
            })?,
            "udp" => el.req_child("source", |s| {
                let (local_address, local_port) =
                    s.req_child("local", |l| Ok((l.req_attr("address")?, l.req_attr("port")?)))?;
                Ok(InterfaceSource::Udp {
                    address: s.req_attr("address")?,
                    port: s.req_attr("port")?,
                    local_address,
                    local_port,
                })
            })?,
            "internal" => el.req_child("source", |s| Ok(InterfaceSource::Internal { name: s.req_attr("name")? }))?,
            "null" => InterfaceSource::Null,
            "vds" => el.req_child("source", |s| {
                Ok(InterfaceSource::Vds {
                    switchid: s.req_attr("switchid")?,
                    portid: s.req_attr("portid")?,
                    portgroupid: s.req_attr("portgroupid")?,
                    connectionid: s.req_attr("connectionid")?,
                })
            })?,
            other => {
                let msg = format!("'{}' is not one of {}", crate::xml::truncate(other), TYPES.join(", "));
                return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
            }
        })
    }

    /// Writes the `<source>` element (if the type has one).
    pub(crate) fn write(&self, w: &mut XmlWriter) {
        match self {
            InterfaceSource::Network { network, portgroup, portid, bridge, mac_table_manager } => {
                w.start("source");
                w.attr("network", network);
                w.attr_opt("portgroup", portgroup.as_ref());
                w.attr_opt("portid", portid.as_ref());
                w.attr_opt("bridge", bridge.as_ref());
                w.attr_opt("macTableManager", mac_table_manager.as_ref());
                w.end();
            }
            InterfaceSource::Bridge { bridge, mac_table_manager, network } => {
                w.start("source");
                w.attr("bridge", bridge);
                w.attr_opt("macTableManager", mac_table_manager.as_ref());
                if let Some(n) = network {
                    n.write(w);
                }
                w.end();
            }
            InterfaceSource::User { dev: Some(dev) } => {
                w.start("source");
                w.attr("dev", dev);
                w.end();
            }
            InterfaceSource::User { dev: None } | InterfaceSource::Null => {}
            InterfaceSource::Ethernet { ips, routes } => {
                if !ips.is_empty() || !routes.is_empty() {
                    w.start("source");
                    write_ip_info(w, ips, routes);
                    w.end();
                }
            }
            InterfaceSource::Direct { dev, mode, network } => {
                w.start("source");
                w.attr("dev", dev);
                w.attr_opt("mode", mode.as_ref());
                if let Some(n) = network {
                    n.write(w);
                }
                w.end();
            }
            InterfaceSource::Vhostuser { path, mode, reconnect } => {
                w.start("source");
                w.attr("type", "unix");
                w.attr("path", path);
                w.attr_val("mode", mode);
                if let Some(r) = reconnect {
                    r.write(w);
                }
                w.end();
            }
            InterfaceSource::Vdpa { dev } => {
                w.start("source");
                w.attr("dev", dev);
                w.end();
            }
            InterfaceSource::Hostdev { address, .. } => {
                w.start("source");
                w.start("address");
                w.attr("type", "pci");
                address.write_attrs(w);
                w.end();
                w.end();
            }
            InterfaceSource::Server { address, port } => {
                w.start("source");
                w.attr_opt("address", address.as_ref());
                w.attr_val("port", port);
                w.end();
            }
            InterfaceSource::Client { address, port } | InterfaceSource::Mcast { address, port } => {
                w.start("source");
                w.attr_val("address", address);
                w.attr_val("port", port);
                w.end();
            }
            InterfaceSource::Udp { address, port, local_address, local_port } => {
                w.start("source");
                w.attr_val("address", address);
                w.attr_val("port", port);
                w.start("local");
                w.attr_val("address", local_address);
                w.attr_val("port", local_port);
                w.end();
                w.end();
            }
            InterfaceSource::Internal { name } => {
                w.start("source");
                w.attr("name", name);
                w.end();
            }
            InterfaceSource::Vds { switchid, portid, portgroupid, connectionid } => {
                w.start("source");
                w.attr_val("switchid", switchid);
                w.attr_val("portid", portid);
                w.attr("portgroupid", portgroupid);
                w.attr_val("connectionid", connectionid);
                w.end();
            }
        }
    }
}
