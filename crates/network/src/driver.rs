//! The network driver the engine calls: each operation of
//! [`NetworkDriver`] put together from the bridge and taps (netlink), the
//! firewall table and the network's dnsmasq.
//!
//! What a network owns on the host, by forward mode:
//! - nat, route, open and isolated (no `<forward>`): a bridge of its own
//!   with the network's addresses, rules in virtkit's firewall table (none
//!   for open), and a dnsmasq when it serves DHCP or DNS;
//! - bridge: nothing; guests' taps join the existing host bridge;
//! - private, vepa, passthrough, hostdev: refused at start (macvtap and
//!   PCI functions are not made yet).
//!
//! Files, under the driver's directory, keyed by the network's UUID:
//! `UUID.conf`, `UUID.hostsfile`, `UUID.addnhosts`, `UUID.leases` and
//! `UUID.pid` (dnsmasq's).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use virtkit_engine::network_driver::{ActiveNet, NetworkActive, NetworkDriver, PortRef, PortRequest, name_bridge};
use virtkit_engine::seams::Port;
use virtkit_engine::types::Lease;
use virtkit_engine::{Error, ErrorKind, ObjRef, Result};
use virtkit_model::network::{
    Bridge, Dhcp, DhcpRange, DnsmasqAction, Forward, ForwardMode, Network, NetworkIp, NetworkUpdated, Subnet,
};

use crate::dnsmasq::{self, Files};
use crate::firewall::{self, Firewall, FirewallError, Watch};
use crate::link::{BridgeSpec, Netlink, TapRequest, tap_mac};

/// How often the firewall table is checked for being flushed or changed.
const FIREWALL_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The Linux network driver of one host.
#[derive(Debug)]
pub struct LinuxNetworkDriver {
    dir: PathBuf,
    netlink: OnceCell<Netlink>,
    /// The firewall table and its watcher, from the first network on.
    firewall: OnceCell<(Firewall, Watch)>,
}

/// What a started network keeps for the next daemon (the engine stores it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Data {
    /// The bridge the network made (`None`: an existing host bridge).
    bridge: Option<String>,
    /// Whether it runs a dnsmasq.
    dnsmasq: bool,
}

/// What the network's forward mode makes on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A bridge of its own, with rules (none for open) and maybe a dnsmasq.
    Managed,
    /// An existing host bridge.
    HostBridge,
}

fn shape(def: &Network) -> Result<Shape> {
    match def.mode() {
        None | Some(ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open) => Ok(Shape::Managed),
        Some(ForwardMode::Bridge) if def.virtualport.is_some() => {
            Err(unsupported("an Open vSwitch bridge (<virtualport type='openvswitch'>) is not managed by virtkit yet"))
        }
        Some(ForwardMode::Bridge) => Ok(Shape::HostBridge),
        Some(m @ (ForwardMode::Private | ForwardMode::Vepa | ForwardMode::Passthrough)) => Err(unsupported(format!(
            "forward mode '{m}' connects guests through macvtap devices, which virtkit does not make yet"
        ))),
        Some(m) => Err(unsupported(format!("forward mode '{m}' is not supported by the Linux network driver yet"))),
    }
}

fn unsupported(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

/// An engine error from one of this crate's, with its causes in the message.
pub(crate) fn failed(kind: ErrorKind, e: &(dyn std::error::Error + 'static)) -> Error {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::new(kind, msg)
}

fn driver_err(e: impl std::error::Error + 'static) -> Error {
    failed(ErrorKind::Driver, &e)
}

fn bridge_name(def: &Network) -> Result<&str> {
    def.bridge
        .as_ref()
        .and_then(|b| b.name.as_deref())
        .ok_or_else(|| Error::new(ErrorKind::Internal, format!("network '{}' has no bridge name", def.name)))
}

impl LinuxNetworkDriver {
    /// A driver keeping its files (dnsmasq's configuration, pid and
    /// leases) under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LinuxNetworkDriver { dir: dir.into(), netlink: OnceCell::new(), firewall: OnceCell::new() }
    }

    async fn netlink(&self) -> Result<&Netlink> {
        self.netlink.get_or_try_init(|| async { Netlink::new().map_err(driver_err) }).await
    }

    /// The firewall table, watched from the first call on.
    async fn firewall(&self) -> &Firewall {
        let (fw, _) = self
            .firewall
            .get_or_init(|| async {
                let fw = Firewall::new(FIREWALL_CHECK);
                let watch = fw.watch();
                (fw, watch)
            })
            .await;
        fw
    }

    /// Puts `net`'s rules in the table and writes it.
    async fn set_rules(&self, net: &ObjRef, def: &Network, bridge: &str) -> Result<firewall::NetRules> {
        let rules = firewall::rules(def, bridge).map_err(|e| failed(ErrorKind::Unsupported, &e))?;
        let fw = self.firewall().await;
        fw.put(&net.uuid.to_string(), rules.clone()).await.map_err(|e| match e {
            FirewallError::BridgeInUse { .. } => failed(ErrorKind::AlreadyExists, &e),
            e => driver_err(e),
        })?;
        Ok(rules)
    }

    /// Makes the driver's directory one dnsmasq can read its hosts files
    /// in once it has dropped root (it rereads them as `nobody` on each
    /// reload): the directory searchable and listable, the host's
    /// directory above it searchable. A directory higher up that others
    /// cannot search is refused, naming it.
    fn reachable(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let io = |what: &str, p: &std::path::Path, e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("cannot {what} {}: {e}", p.display()))
        };
        virtkit_host::fs::create_dir(&self.dir, 0o755).map_err(|e| failed(ErrorKind::Io, &e))?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io("set the mode of", &self.dir, e))?;
        let Some(host) = self.dir.parent() else { return Ok(()) };
        let mode = std::fs::metadata(host).map_err(|e| io("read", host, e))?.permissions().mode();
        if mode & 0o011 != 0o011 {
            std::fs::set_permissions(host, std::fs::Permissions::from_mode((mode & 0o7777) | 0o011))
                .map_err(|e| io("set the mode of", host, e))?;
        }
        for up in host.ancestors().skip(1) {
            let mode = std::fs::metadata(up).map_err(|e| io("read", up, e))?.permissions().mode();
            if mode & 0o001 == 0 {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "dnsmasq cannot reach {}: others cannot search {} (chmod o+x)",
                        self.dir.display(),
                        up.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn files(&self, net: &ObjRef) -> Result<Files> {
        Files::new(&self.dir, &net.uuid.to_string()).map_err(|e| failed(ErrorKind::Internal, &e))
    }

    /// Refuses a bridge name or a subnet the host already has.
    async fn check_host(&self, def: &Network, bridge: &str) -> Result<()> {
        let nl = self.netlink().await?;
        if nl.link_exists(bridge).await.map_err(driver_err)? {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("bridge '{bridge}' is already in use on this host (network '{}')", def.name),
            ));
        }
        let routes = nl.routes().await.map_err(driver_err)?;
        for ip in def.ips.iter().filter_map(|i| i.subnet()) {
            if let Some(r) = routes.iter().find(|r| r.prefix > 0 && overlaps(&ip, r.destination, r.prefix)) {
                let via = r.device.as_deref().map(|d| format!(" (on {d})")).unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "subnet {ip} of network '{}' is already routed on this host: {}/{}{via}",
                        def.name, r.destination, r.prefix
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Makes the bridge, the rules and the dnsmasq of a managed network;
    /// on failure takes down what it made.
    async fn start_managed(&self, net: &ObjRef, def: &Network) -> Result<Data> {
        let bridge = bridge_name(def)?.to_owned();
        self.check_host(def, &bridge).await?;
        // What the rules cannot express is refused before anything is made.
        firewall::rules(def, &bridge).map_err(|e| failed(ErrorKind::Unsupported, &e))?;
        let files = self.files(net)?;
        let serve = dnsmasq::needs_dnsmasq(def);
        if serve {
            // What dnsmasq cannot do is refused before anything is made.
            dnsmasq::config(def, &files).map_err(|e| failed(ErrorKind::Unsupported, &e))?;
            self.reachable()?;
        }
        let spec = bridge_spec(def, &bridge);
        self.netlink().await?.create_bridge(&spec).await.map_err(driver_err)?;
        let data = Data { bridge: Some(bridge.clone()), dnsmasq: serve };
        // The rules and dnsmasq do not wait on each other: both at once.
        let rules = async {
            let rules = self.set_rules(net, def, &bridge).await?;
            firewall::enable_forwarding(&rules).map_err(driver_err)
        };
        let dns = async {
            if serve {
                dnsmasq::start(def, &files).await.map_err(driver_err)?;
            }
            Ok(())
        };
        let (r, d) = tokio::join!(rules, dns);
        let made = r.and(d);
        match made {
            Ok(()) => Ok(data),
            Err(e) => Err(match self.take_down(net, &data).await {
                Ok(()) => e,
                Err(c) => e.with_cleanup(c),
            }),
        }
    }

    /// Removes what a managed network made: its dnsmasq, its rules, its
    /// bridge (taps on it are detached, not removed). Every step is tried;
    /// the first failure is returned.
    async fn take_down(&self, net: &ObjRef, data: &Data) -> Result<()> {
        // dnsmasq, the rules and the bridge go at once; every step is tried.
        let dns = async {
            if !data.dnsmasq {
                return Ok(());
            }
            match dnsmasq::find(&self.files(net)?) {
                Some(d) => d.stop().await.map_err(driver_err),
                None => Ok(()),
            }
        };
        let rules = async {
            if data.bridge.is_none() {
                return Ok(());
            }
            let fw = self.firewall().await;
            fw.remove(&net.uuid.to_string());
            fw.apply().await.map_err(driver_err)
        };
        let link = async {
            match &data.bridge {
                Some(bridge) => self.netlink().await?.delete_link(bridge).await.map_err(driver_err),
                None => Ok(()),
            }
        };
        let (d, r, l) = tokio::join!(dns, rules, link);
        d.and(r).and(l)
    }

    /// Opens a tap for a guest's interface on `bridge`.
    async fn tap_on(&self, bridge: &str, mtu: Option<u32>, req: &PortRequest) -> Result<Port> {
        let nl = self.netlink().await?;
        if !nl.is_bridge(bridge).await.map_err(driver_err)? {
            return Err(Error::new(ErrorKind::NotFound, format!("there is no bridge '{bridge}' on this host")));
        }
        let tap = TapRequest {
            name: req.device.clone().unwrap_or_else(|| "vnet%d".to_owned()),
            guest_mac: req.mac.0,
            mtu: req.mtu.or(mtu),
            bridge: bridge.to_owned(),
            isolated: req.isolated,
        };
        let (device, fd) = nl.create_tap(&tap).await.map_err(driver_err)?;
        Ok(Port::new(req.interface, bridge, req.mac).with_device(device, Some(fd)).with_mtu(tap.mtu))
    }
}

/// The bridge `name` of `def`: its MAC, MTU, STP (on unless `off`),
/// forward delay (0 unless given) and the addresses of its `<ip>`s.
fn bridge_spec(def: &Network, name: &str) -> BridgeSpec {
    let b = def.bridge.as_ref();
    BridgeSpec {
        name: name.to_owned(),
        mac: def.mac.map(|m| m.0),
        mtu: def.mtu.map(u32::from),
        stp: b.and_then(|b| b.stp).unwrap_or(true),
        forward_delay: std::time::Duration::from_secs(b.and_then(|b| b.delay).unwrap_or(0)),
        addresses: def.ips.iter().filter_map(|ip| Some((ip.address, ip.prefix_len()?))).collect(),
    }
}

/// Whether `subnet` shares an address with `destination/prefix`.
fn overlaps(subnet: &Subnet, destination: IpAddr, prefix: u8) -> bool {
    let Some(route) = Subnet::new(destination, prefix) else { return false };
    subnet.contains(route.network()) || route.contains(subnet.network())
}

fn data_of(v: &serde_json::Value) -> Result<Data> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::new(ErrorKind::Internal, format!("the network's runtime data cannot be read: {e}")))
}

fn to_value(d: &Data) -> serde_json::Value {
    serde_json::to_value(d).unwrap_or(serde_json::Value::Null)
}

#[async_trait]
impl NetworkDriver for LinuxNetworkDriver {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn prepare(&self, def: &mut Network, others: &[Arc<Network>]) -> Result<()> {
        name_bridge(def, others);
        Ok(())
    }

    async fn start(&self, net: &ObjRef, def: Arc<Network>) -> Result<NetworkActive> {
        let data = match shape(&def)? {
            Shape::Managed => self.start_managed(net, &def).await?,
            Shape::HostBridge => {
                let bridge = bridge_name(&def)?;
                if !self.netlink().await?.is_bridge(bridge).await.map_err(driver_err)? {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("network '{}': there is no bridge '{bridge}' on this host", def.name),
                    ));
                }
                Data { bridge: None, dnsmasq: false }
            }
        };
        Ok(NetworkActive::new(def).with_data(to_value(&data)))
    }

    async fn stop(&self, active: ActiveNet<'_>) -> Result<()> {
        let data = data_of(active.data)?;
        self.take_down(active.net, &data).await
    }

    async fn reconnect(&self, net: &ObjRef, live: Arc<Network>, data: serde_json::Value) -> Result<NetworkActive> {
        let d = data_of(&data)?;
        if let Some(bridge) = &d.bridge {
            let nl = self.netlink().await?;
            if !nl.link_exists(bridge).await.map_err(driver_err)? {
                return Err(Error::new(ErrorKind::NotFound, format!("its bridge '{bridge}' is gone")));
            }
            self.set_rules(net, &live, bridge).await?;
            let files = self.files(net)?;
            if d.dnsmasq && dnsmasq::find(&files).is_none() {
                tracing::warn!(network = %net.name, "its dnsmasq is gone: starting it again");
                dnsmasq::start(&live, &files).await.map_err(driver_err)?;
            }
        }
        Ok(NetworkActive::new(live).with_data(data))
    }

    async fn update(&self, active: ActiveNet<'_>, change: &NetworkUpdated) -> Result<serde_json::Value> {
        let d = data_of(active.data)?;
        let Some(bridge) = &d.bridge else { return Ok(active.data.clone()) };
        if change.firewall {
            self.set_rules(active.net, active.live, bridge).await?;
        }
        if d.dnsmasq && change.dnsmasq != DnsmasqAction::Nothing {
            let files = self.files(active.net)?;
            let running = dnsmasq::find(&files);
            // A reload rereads the hosts files only; a changed conf needs a
            // new dnsmasq.
            let restart = match (&running, change.dnsmasq) {
                (Some(r), DnsmasqAction::Reload) => r.reload(active.live).map_err(driver_err)?,
                _ => true,
            };
            if restart {
                if let Some(r) = running {
                    r.stop().await.map_err(driver_err)?;
                }
                dnsmasq::start(active.live, &files).await.map_err(driver_err)?;
            }
        }
        Ok(active.data.clone())
    }

    async fn leases(&self, active: ActiveNet<'_>) -> Result<Vec<Lease>> {
        let d = data_of(active.data)?;
        if d.bridge.is_none() || !d.dnsmasq {
            return Ok(Vec::new());
        }
        Ok(dnsmasq::leases(&self.files(active.net)?.leases, active.live))
    }

    async fn open_port(&self, active: Option<ActiveNet<'_>>, bridge: &str, req: &PortRequest) -> Result<Port> {
        match active {
            Some(a) => {
                shape(a.live)?;
                self.tap_on(bridge, a.live.mtu.map(u32::from), req).await
            }
            None => self.tap_on(bridge, None, req).await,
        }
    }

    async fn close_port(&self, port: &PortRef) -> Result<()> {
        // The tap goes with its last descriptor (QEMU's); one that is
        // still there (QEMU gone, the descriptor leaked) is removed.
        // A device of that name with another MAC is another guest's tap
        // by now (names are reused): it is left alone.
        let Some(dev) = &port.device else { return Ok(()) };
        let nl = self.netlink().await?;
        match nl.mac_of(dev).await.map_err(driver_err)? {
            Some(mac) if mac == tap_mac(port.mac.0) => nl.delete_link(dev).await.map_err(driver_err),
            _ => Ok(()),
        }
    }
}

/// The subnets the host's `default` network may take, in order: libvirt's
/// 192.168.122.0/24 first, then the next free 192.168.x.0/24.
const DEFAULT_THIRD_OCTETS: std::ops::RangeInclusive<u8> = 122..=254;

impl LinuxNetworkDriver {
    /// The host's `default` network, as libvirt installs it (NAT on
    /// 192.168.122.0/24, bridge virbr0, DHCP .2 to .254), moved to the
    /// first 192.168.x.0/24 that neither `others` nor a route of the host
    /// has, and to the first bridge name free on the host. The note says
    /// why, when it moved.
    pub async fn default_network(&self, others: &[Arc<Network>]) -> Result<(Network, Option<String>)> {
        let nl = self.netlink().await?;
        let routes = nl.routes().await.map_err(driver_err)?;
        let mut note = None;
        let mut chosen = None;
        for x in DEFAULT_THIRD_OCTETS {
            let gateway = IpAddr::from([192, 168, x, 1]);
            let Some(subnet) = Subnet::new(gateway, 24) else { continue };
            let net_clash = others.iter().find(|o| {
                o.ips
                    .iter()
                    .filter_map(|i| i.subnet())
                    .any(|s| s.contains(subnet.network()) || subnet.contains(s.network()))
            });
            let route_clash = routes.iter().find(|r| r.prefix > 0 && overlaps(&subnet, r.destination, r.prefix));
            match (net_clash, route_clash) {
                (None, None) => {
                    chosen = Some(x);
                    break;
                }
                (Some(o), _) if note.is_none() => {
                    note = Some(format!("{subnet} is network '{}''s", o.name));
                }
                (None, Some(r)) if note.is_none() => {
                    note = Some(format!("{subnet} is already routed on this host ({}/{})", r.destination, r.prefix));
                }
                _ => {}
            }
        }
        let x = chosen.ok_or_else(|| Error::new(ErrorKind::AlreadyExists, "no 192.168.x.0/24 is free on this host"))?;
        let used: Vec<String> = others.iter().filter_map(|o| o.bridge.as_ref().and_then(|b| b.name.clone())).collect();
        let mut bridge = None;
        for n in 0..256 {
            let name = format!("virbr{n}");
            if !used.contains(&name) && !nl.link_exists(&name).await.map_err(driver_err)? {
                bridge = Some(name);
                break;
            }
        }
        let bridge =
            bridge.ok_or_else(|| Error::new(ErrorKind::AlreadyExists, "no virbrN name is free on this host"))?;
        let mut br = Bridge::named(&bridge);
        br.stp = Some(true);
        br.delay = Some(0);
        let mut dhcp = Dhcp::default();
        dhcp.ranges.push(DhcpRange::new(IpAddr::from([192, 168, x, 2]), IpAddr::from([192, 168, x, 254])));
        let ip = NetworkIp::new(IpAddr::from([192, 168, x, 1]), 24).with_dhcp(dhcp);
        let mut def = Network::new("default").with_forward(Forward::new(ForwardMode::Nat)).with_bridge(br).with_ip(ip);
        name_bridge(&mut def, others);
        let note = note
            .filter(|_| x != 122)
            .map(|why| format!("network 'default' is on 192.168.{x}.0/24 (bridge {bridge}): {why}"));
        Ok((def, note))
    }
}
