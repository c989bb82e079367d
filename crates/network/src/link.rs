//! Links over netlink: bridges with their addresses, taps for guest NICs,
//! and the queries the driver needs (does a link exist, its addresses, its
//! master, the host's routes). Everything acts in the network namespace of
//! the thread that opened the [`Netlink`] connection.

// Used by the driver (lib.rs) as it lands; tests use everything.

mod tap;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::Duration;

use futures_util::stream::TryStreamExt;
#[cfg(test)]
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{BridgeStpState, InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};

#[cfg(test)]
pub(crate) use tap::vhost_net_available;
pub(crate) use tap::{TapRequest, tap_mac};

/// The longest interface name the kernel takes (IFNAMSIZ - 1).
pub(crate) const MAX_NAME_LEN: usize = 15;

/// The main routing table (RT_TABLE_MAIN).
const MAIN_TABLE: u32 = 254;

/// Why a link operation failed; names the device and the operation.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    /// The netlink socket could not be opened.
    #[error("cannot open a netlink connection")]
    Connect(#[source] std::io::Error),
    /// The kernel refused a netlink request about `device`.
    #[error("{device}: cannot {op}")]
    Netlink {
        device: String,
        op: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    /// A link to be created already exists (it is left untouched).
    #[error("{device}: a link of this name already exists")]
    Exists { device: String },
    /// The routes could not be listed.
    #[error("cannot list routes")]
    Routes(#[source] rtnetlink::Error),
    /// The link asked about does not exist.
    #[error("{device}: no such link")]
    NotFound { device: String },
    /// The name is empty, longer than 15 bytes, or has '/', ':' or whitespace.
    #[error("{device}: invalid interface name")]
    InvalidName { device: String },
    /// /dev/net/tun could not be opened or the tap could not be set up.
    #[error("{device}: cannot {op}")]
    Tun {
        device: String,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The errno of a netlink error, if it is one.
fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

/// Wraps a netlink error with its device and operation.
fn nl<'a>(device: &'a str, op: &'static str) -> impl FnOnce(rtnetlink::Error) -> LinkError + 'a {
    move |source| LinkError::Netlink { device: device.to_string(), op, source }
}

/// Refuses names the kernel would refuse (or truncate).
pub(crate) fn check_name(name: &str) -> Result<(), LinkError> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name == "."
        || name == ".."
        || name.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if bad {
        return Err(LinkError::InvalidName { device: name.to_string() });
    }
    Ok(())
}

/// What a new bridge looks like.
#[derive(Debug, Clone)]
pub(crate) struct BridgeSpec {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// MAC address; the kernel picks one when `None`.
    pub mac: Option<[u8; 6]>,
    /// MTU; the kernel's default when `None`.
    pub mtu: Option<u32>,
    /// Whether the kernel runs STP on it.
    pub stp: bool,
    /// STP forward delay (kept at centisecond precision).
    pub forward_delay: Duration,
    /// Addresses to put on it, with their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
}

/// A route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// Destination network (`0.0.0.0` or `::` for a default route).
    pub destination: IpAddr,
    /// Prefix length of the destination.
    pub prefix: u8,
    /// Name of the output device, if the route has one.
    pub device: Option<String>,
}

/// A rtnetlink connection in the network namespace of the calling thread.
#[derive(Debug, Clone)]
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a connection and spawns its task on the current tokio runtime.
    pub(crate) fn new() -> Result<Netlink, LinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(LinkError::Connect)?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The link called `name`, or `None` when there is none.
    async fn get(&self, name: &str) -> Result<Option<LinkMessage>, LinkError> {
        check_name(name)?;
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if errno(&e) == Some(libc_errno::ENODEV) => Ok(None),
            Err(e) => Err(nl(name, "look up the link")(e)),
        }
    }

    /// The link called `name`; a missing link is an error.
    async fn get_some(&self, name: &str) -> Result<LinkMessage, LinkError> {
        self.get(name).await?.ok_or_else(|| LinkError::NotFound { device: name.to_string() })
    }

    /// The name of the link with index `index`, if it exists.
    async fn name_of(&self, index: u32) -> Result<Option<String>, LinkError> {
        let mut links = self.handle.link().get().match_index(index).execute();
        match links.try_next().await {
            Ok(link) => Ok(link.and_then(|l| link_name(&l))),
            Err(e) if errno(&e) == Some(libc_errno::ENODEV) => Ok(None),
            Err(e) => Err(nl(&index.to_string(), "look up the link")(e)),
        }
    }

    /// Whether a link called `name` exists.
    pub(crate) async fn link_exists(&self, name: &str) -> Result<bool, LinkError> {
        Ok(self.get(name).await?.is_some())
    }

    /// The MAC address of `name` (`None`: no such link, or none).
    pub(crate) async fn mac_of(&self, name: &str) -> Result<Option<[u8; 6]>, LinkError> {
        let Some(link) = self.get(name).await? else { return Ok(None) };
        Ok(link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Address(b) => <[u8; 6]>::try_from(b.as_slice()).ok(),
            _ => None,
        }))
    }

    /// Whether `name` exists and is a bridge.
    pub(crate) async fn is_bridge(&self, name: &str) -> Result<bool, LinkError> {
        Ok(self.get(name).await?.is_some_and(|l| kind(&l) == Some(&InfoKind::Bridge)))
    }

    /// The name of the master (bridge) of `name`, if it has one.
    #[cfg(test)]
    pub(crate) async fn master_of(&self, name: &str) -> Result<Option<String>, LinkError> {
        let link = self.get_some(name).await?;
        match controller(&link) {
            Some(index) => self.name_of(index).await,
            None => Ok(None),
        }
    }

    /// The addresses on `name` (v4 and v6, link-local included) with prefixes.
    #[cfg(test)]
    pub(crate) async fn addresses(&self, name: &str) -> Result<Vec<(IpAddr, u8)>, LinkError> {
        let index = self.get_some(name).await?.header.index;
        let mut msgs = self.handle.address().get().set_link_index_filter(index).execute();
        let mut out = Vec::new();
        while let Some(msg) = msgs.try_next().await.map_err(nl(name, "list addresses"))? {
            if msg.header.index != index {
                continue;
            }
            let local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                msg.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(addr) = addr {
                out.push((addr, msg.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Creates a bridge, puts its addresses on and brings it up; on failure
    /// deletes it again. A taken name is refused and its link left alone.
    pub(crate) async fn create_bridge(&self, spec: &BridgeSpec) -> Result<(), LinkError> {
        let name = spec.name.as_str();
        check_name(name)?;
        let delay_cs = u32::try_from(spec.forward_delay.as_millis() / 10).unwrap_or(u32::MAX);
        let stp = if spec.stp { BridgeStpState::KernelStp } else { BridgeStpState::Disabled };
        let mut builder = LinkMessageBuilder::<LinkBridge>::new(name).forward_delay(delay_cs).stp_state(stp);
        if let Some(mac) = spec.mac {
            builder = builder.address(mac.to_vec());
        }
        match self.handle.link().add(builder.build()).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc_errno::EEXIST) => {
                return Err(LinkError::Exists { device: name.to_string() });
            }
            Err(e) => return Err(nl(name, "create the bridge")(e)),
        }
        match self.finish_bridge(spec).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(cleanup) = self.delete_link(name).await {
                    tracing::warn!(error = %cleanup, "cannot remove a half-made bridge");
                }
                Err(e)
            }
        }
    }

    /// Addresses and up, for a bridge just created.
    async fn finish_bridge(&self, spec: &BridgeSpec) -> Result<(), LinkError> {
        let name = spec.name.as_str();
        let index = self.get_some(name).await?.header.index;
        for (addr, prefix) in &spec.addresses {
            self.handle.address().add(index, *addr, *prefix).execute().await.map_err(nl(name, "add an address"))?;
        }
        if let Some(mtu) = spec.mtu {
            // Set after creation (not in RTM_NEWLINK) so the kernel marks it
            // set by the user and keeps it when ports of other MTUs join.
            let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
            self.handle.link().set(msg).execute().await.map_err(nl(name, "set the mtu"))?;
        }
        let up = LinkUnspec::new_with_index(index).up().build();
        self.handle.link().set(up).execute().await.map_err(nl(name, "bring the bridge up"))
    }

    /// Deletes the link `name`; a link that is not there is fine.
    pub(crate) async fn delete_link(&self, name: &str) -> Result<(), LinkError> {
        let Some(link) = self.get(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(link.header.index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc_errno::ENODEV) => Ok(()),
            Err(e) => Err(nl(name, "delete the link")(e)),
        }
    }

    /// The routes of the main table, IPv4 then IPv6.
    pub(crate) async fn routes(&self) -> Result<Vec<Route>, LinkError> {
        let mut out = Vec::new();
        let mut names: std::collections::HashMap<u32, Option<String>> = Default::default();
        let v4 = RouteMessageBuilder::<std::net::Ipv4Addr>::new().build();
        let v6 = RouteMessageBuilder::<std::net::Ipv6Addr>::new().build();
        for (query, unspecified) in [(v4, IpAddr::from([0u8; 4])), (v6, IpAddr::from([0u8; 16]))] {
            let mut msgs = self.handle.route().get(query).execute();
            while let Some(msg) = msgs.try_next().await.map_err(LinkError::Routes)? {
                if table(&msg) != MAIN_TABLE {
                    continue;
                }
                let destination = msg
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
                        RouteAttribute::Destination(RouteAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
                        _ => None,
                    })
                    .unwrap_or(unspecified);
                let oif = msg.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(i) => Some(*i),
                    _ => None,
                });
                let device = match oif {
                    Some(i) => match names.get(&i) {
                        Some(n) => n.clone(),
                        None => {
                            let n = self.name_of(i).await?;
                            names.insert(i, n.clone());
                            n
                        }
                    },
                    None => None,
                };
                out.push(Route { destination, prefix: msg.header.destination_prefix_length, device });
            }
        }
        Ok(out)
    }

    /// The MTU of `name`.
    async fn mtu_of(&self, name: &str) -> Result<Option<u32>, LinkError> {
        let link = self.get_some(name).await?;
        Ok(link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Mtu(m) => Some(*m),
            _ => None,
        }))
    }
}

/// The routing table of a route (the attribute wins over the header byte).
fn table(msg: &RouteMessage) -> u32 {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

/// The name of a link message.
fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

/// The index of a link's master.
#[cfg(test)]
fn controller(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

/// The kind of a link (bridge, tun, veth, …).
fn kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        }),
        _ => None,
    })
}

/// Whether a link is administratively up.
#[cfg(test)]
fn is_up(link: &LinkMessage) -> bool {
    link.header.flags.contains(rtnetlink::packet_route::link::LinkFlags::Up)
}

/// The few errno values compared against.
mod libc_errno {
    pub(super) const ENODEV: i32 = nix::libc::ENODEV;
    pub(super) const EEXIST: i32 = nix::libc::EEXIST;
}
