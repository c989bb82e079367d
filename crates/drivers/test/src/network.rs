//! Simulated networks, as libvirt's test driver has them: nothing is made on
//! the host, but each network names its bridge, hands its ports `vnetN`
//! devices and gives each domain interface a DHCP lease from its ranges (a
//! static host's address when its MAC is listed), as dnsmasq would.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use virtkit_engine::network_driver::{ActiveNet, NetworkActive, NetworkDriver, PortRef, PortRequest};
use virtkit_engine::seams::Port;
use virtkit_engine::types::Lease;
use virtkit_engine::{Error, ErrorKind, ObjRef, Result};
use virtkit_model::MacAddress;
use virtkit_model::network::{Bridge, ForwardMode, Network, NetworkIp, NetworkUpdateSection, NetworkUpdated};

/// The simulated network driver.
#[derive(Debug, Default)]
pub struct TestNetworkDriver {
    /// Leases of each active network, by network name.
    nets: Mutex<HashMap<String, Vec<Lease>>>,
    next_port: AtomicU32,
}

/// A lease lasts an hour unless the document says otherwise (dnsmasq's default).
const DEFAULT_LEASE_SECS: u64 = 3600;

impl TestNetworkDriver {
    fn nets(&self) -> MutexGuard<'_, HashMap<String, Vec<Lease>>> {
        self.nets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The next address after `a` (`None` past the end of the family).
fn next(a: IpAddr) -> Option<IpAddr> {
    match a {
        IpAddr::V4(v) => u32::from(v).checked_add(1).map(|n| IpAddr::V4(Ipv4Addr::from(n))),
        IpAddr::V6(v) => u128::from(v).checked_add(1).map(|n| IpAddr::V6(Ipv6Addr::from(n))),
    }
}

/// How long a lease lasts (`None`: for ever).
fn lease_secs(l: Option<&virtkit_model::network::Lease>) -> Option<u64> {
    l.map_or(Some(DEFAULT_LEASE_SECS), |l| l.duration().map(|d| d.as_secs()))
}

/// The address dnsmasq would give `mac` on `ip`: its static one, or the
/// lowest free one of the ranges.
fn pick(ip: &NetworkIp, mac: MacAddress, taken: &[Lease]) -> Option<(IpAddr, Option<u64>)> {
    let dhcp = ip.dhcp.as_ref()?;
    if let Some(h) = dhcp.hosts.iter().find(|h| h.mac == Some(mac)) {
        return Some((h.ip, lease_secs(h.lease.as_ref())));
    }
    for r in &dhcp.ranges {
        let mut a = Some(r.start);
        while let Some(addr) = a.filter(|x| r.contains(*x)) {
            let reserved = dhcp.hosts.iter().any(|h| h.ip == addr);
            if !reserved && !taken.iter().any(|l| l.ip == addr) {
                return Some((addr, lease_secs(r.lease.as_ref())));
            }
            a = next(addr);
        }
    }
    None
}

#[async_trait]
impl NetworkDriver for TestNetworkDriver {
    fn name(&self) -> &'static str {
        "test"
    }

    fn prepare(&self, def: &mut Network, others: &[Arc<Network>]) -> Result<()> {
        virtkit_engine::network_driver::name_bridge(def, others);
        Ok(())
    }

    async fn start(&self, net: &ObjRef, def: Arc<Network>) -> Result<NetworkActive> {
        self.nets().insert(net.name.clone(), Vec::new());
        Ok(NetworkActive::new(def))
    }

    async fn stop(&self, active: ActiveNet<'_>) -> Result<()> {
        self.nets().remove(&active.net.name);
        Ok(())
    }

    async fn reconnect(&self, net: &ObjRef, live: Arc<Network>, data: serde_json::Value) -> Result<NetworkActive> {
        self.nets().entry(net.name.clone()).or_default();
        Ok(NetworkActive::new(live).with_data(data))
    }

    /// As dnsmasq rereading its hosts: a port whose MAC now has a static
    /// host holds that host's address from now on.
    async fn update(&self, active: ActiveNet<'_>, change: &NetworkUpdated) -> Result<serde_json::Value> {
        if change.section == NetworkUpdateSection::IpDhcpHost
            && let Some(leases) = self.nets().get_mut(&active.net.name)
        {
            for l in leases.iter_mut() {
                let fixed = active.live.ips_of(l.ip.is_ipv6()).find_map(|ip| {
                    let prefix = ip.prefix_len()?;
                    let h = ip.dhcp.as_ref()?.hosts.iter().find(|h| h.mac == Some(l.mac))?;
                    Some((h, prefix))
                });
                if let Some((h, prefix)) = fixed
                    && (l.ip, l.prefix) != (h.ip, prefix)
                {
                    l.ip = h.ip;
                    l.prefix = prefix;
                    l.expiry = lease_secs(h.lease.as_ref()).map(|s| now_secs() + s);
                }
            }
        }
        Ok(active.data.clone())
    }

    async fn leases(&self, active: ActiveNet<'_>) -> Result<Vec<Lease>> {
        Ok(self.nets().get(&active.net.name).cloned().unwrap_or_default())
    }

    async fn open_port(&self, active: Option<ActiveNet<'_>>, bridge: &str, req: &PortRequest) -> Result<Port> {
        let device =
            req.device.clone().unwrap_or_else(|| format!("vnet{}", self.next_port.fetch_add(1, Ordering::Relaxed)));
        let mut port = Port::new(req.interface, bridge, req.mac).with_device(device, None).with_mtu(req.mtu);
        let Some(a) = active else { return Ok(port) };
        let mut nets = self.nets();
        let leases = nets.entry(a.net.name.clone()).or_default();
        if leases.iter().any(|l| l.mac == req.mac) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("MAC address {} is already on network '{}'", req.mac, a.net.name),
            ));
        }
        for ip in a.live.ips.iter().filter(|i| !i.is_ipv6()) {
            let Some(prefix) = ip.prefix_len() else { continue };
            if let Some((addr, secs)) = pick(ip, req.mac, leases) {
                let mut l = Lease::new(bridge, req.mac, addr, prefix);
                l.hostname = Some(req.domain.name.clone());
                l.expiry = secs.map(|s| now_secs() + s);
                leases.push(l);
            }
        }
        if a.live.mtu.is_some() && port.mtu.is_none() {
            port = port.with_mtu(a.live.mtu.map(u32::from));
        }
        Ok(port)
    }

    async fn close_port(&self, port: &PortRef) -> Result<()> {
        if let Some(n) = &port.network
            && let Some(leases) = self.nets().get_mut(n)
        {
            leases.retain(|l| l.mac != port.mac);
        }
        Ok(())
    }
}

/// The `default` network of `test:///default`: NAT on 192.168.122.0/24
/// behind bridge virbr0, DHCP for .2 to .254 (libvirt's default network).
pub fn default_network() -> Network {
    use virtkit_model::network::{DhcpRange, Forward};
    let uuid = uuid::Uuid::from_u128(0xdd8fe884_6c02_601e_7551_cca97df1c5df);
    let gw = Ipv4Addr::new(192, 168, 122, 1);
    let range = DhcpRange::new(Ipv4Addr::new(192, 168, 122, 2).into(), Ipv4Addr::new(192, 168, 122, 254).into());
    Network::new("default")
        .with_uuid(uuid)
        .with_forward(Forward::new(ForwardMode::Nat))
        .with_bridge(Bridge::named("virbr0"))
        .with_mac(MacAddress([0x52, 0x54, 0x00, 0x0a, 0x7a, 0x01]))
        .with_ip(NetworkIp::new(gw.into(), 24).with_dhcp_range(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_the_ranges_and_static_hosts_win() {
        let mut net = default_network();
        let mac = MacAddress([0x52, 0x54, 0, 1, 2, 3]);
        let ip = &net.ips[0];
        assert_eq!(pick(ip, mac, &[]).map(|p| p.0), Some(Ipv4Addr::new(192, 168, 122, 2).into()));
        let taken = [Lease::new("virbr0", MacAddress([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(192, 168, 122, 2).into(), 24)];
        assert_eq!(pick(ip, mac, &taken).map(|p| p.0), Some(Ipv4Addr::new(192, 168, 122, 3).into()));
        let host = virtkit_model::network::DhcpHost::by_mac(mac, Ipv4Addr::new(192, 168, 122, 50).into());
        if let Some(d) = net.ips[0].dhcp.as_mut() {
            d.hosts.push(host);
        }
        assert_eq!(pick(&net.ips[0], mac, &taken).map(|p| p.0), Some(Ipv4Addr::new(192, 168, 122, 50).into()));
    }
}
