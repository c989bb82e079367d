//! The seam between the engine and a host's networking: a network driver
//! makes networks real (bridges, firewall rules, DHCP and DNS) and gives
//! domains ports on them. The engine owns the networks' records, names,
//! states, persistence and events; it calls the driver one job at a time
//! per network. A driver never parses XML.

use std::sync::Arc;

use async_trait::async_trait;
use virtkit_model::MacAddress;
use virtkit_model::network::{ForwardMode, Network, NetworkUpdated};

use crate::driver::DomainRef;
use crate::error::{Error, ErrorKind, Result};
use crate::kind::ObjRef;
use crate::seams::Port;
use crate::types::Lease;

/// A network as its driver made it: the live definition (with what was
/// decided at start) and the driver's runtime data, stored by the engine and
/// handed back to [`NetworkDriver::reconnect`] after a restart.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetworkActive {
    pub live: Arc<Network>,
    pub data: serde_json::Value,
}

impl NetworkActive {
    pub fn new(live: Arc<Network>) -> Self {
        NetworkActive { live, data: serde_json::Value::Null }
    }

    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// An active network, as the driver gets it back.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ActiveNet<'a> {
    pub net: &'a ObjRef,
    pub live: &'a Network,
    pub data: &'a serde_json::Value,
}

/// What a domain's interface asks of the network driver.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PortRequest {
    pub domain: DomainRef,
    /// The interface's index in the domain's interfaces.
    pub interface: usize,
    pub mac: MacAddress,
    /// The host-side device name the document asks for (`<target dev>`).
    pub device: Option<String>,
    pub mtu: Option<u32>,
    /// Whether the port is isolated from the network's other isolated ports.
    pub isolated: bool,
}

/// A port the engine hands back when its domain stops.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortRef {
    /// The network's name, for a port on a network.
    pub network: Option<String>,
    pub bridge: String,
    /// The host-side device.
    pub device: Option<String>,
    pub mac: MacAddress,
}

impl PortRef {
    pub fn new(network: Option<String>, bridge: impl Into<String>, device: Option<String>, mac: MacAddress) -> Self {
        PortRef { network, bridge: bridge.into(), device, mac }
    }
}

/// What every network driver decides the same way before a network is
/// stored, as libvirt does: a network whose bridge the host manages (nat,
/// route, open, isolated) gets the first `virbrN` no other network has and
/// a MAC address of its own, unless its document names them.
pub fn name_bridge(def: &mut Network, others: &[Arc<Network>]) {
    let manages = def.mode().is_none_or(|m| matches!(m, ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open));
    if !manages {
        return;
    }
    if def.bridge.as_ref().and_then(|b| b.name.as_ref()).is_none() {
        let used: Vec<&str> = others.iter().filter_map(|o| o.bridge.as_ref().and_then(|b| b.name.as_deref())).collect();
        let name = (0..).map(|n| format!("virbr{n}")).find(|n| !used.contains(&n.as_str())).unwrap_or_default();
        let mut b = def.bridge.take().unwrap_or_default();
        b.name = Some(name);
        def.bridge = Some(b);
    }
    if def.mac.is_none() {
        def.mac = Some(MacAddress::generate());
    }
}

fn unsupported(driver: &str, what: &str) -> Error {
    Error::new(ErrorKind::Unsupported, format!("the {driver} network driver cannot {what}"))
}

/// A host's networking.
#[async_trait]
pub trait NetworkDriver: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Checks a definition and fills in what the driver decides (the
    /// bridge name, its MAC address), before it is stored or started.
    /// `others` are the host's other networks, for clashes the document
    /// alone cannot show (a bridge name already used).
    fn prepare(&self, def: &mut Network, others: &[Arc<Network>]) -> Result<()>;

    /// Makes the network real. On failure nothing of it is left behind.
    async fn start(&self, net: &ObjRef, def: Arc<Network>) -> Result<NetworkActive>;

    /// Takes the network down. Ports still on it stay (detached).
    async fn stop(&self, active: ActiveNet<'_>) -> Result<()>;

    /// Finds a network a previous engine started and takes it over; an
    /// error means it is gone.
    async fn reconnect(&self, net: &ObjRef, live: Arc<Network>, data: serde_json::Value) -> Result<NetworkActive> {
        let _ = (live, data);
        Err(unsupported(self.name(), &format!("take over running {net}")))
    }

    /// Applies one change of the live definition (`net-update --live`: a
    /// static DHCP host, a DNS entry, a DHCP range …) to the running
    /// network: `active.live` is the changed definition, `change` says
    /// which part changed and what the network must do to take it (reload
    /// or restart its DHCP and DNS server, build its firewall rules again).
    /// Returns the network's new data. On failure the network runs as
    /// before the call.
    async fn update(&self, active: ActiveNet<'_>, change: &NetworkUpdated) -> Result<serde_json::Value> {
        let _ = (active, change);
        Err(unsupported(self.name(), "change a running network"))
    }

    /// The DHCP leases the network has handed out, as they are now.
    async fn leases(&self, active: ActiveNet<'_>) -> Result<Vec<Lease>>;

    /// A port for a domain's interface: on an active network, or (`active`
    /// `None`) on the existing host bridge `bridge`.
    async fn open_port(&self, active: Option<ActiveNet<'_>>, bridge: &str, req: &PortRequest) -> Result<Port>;

    /// Removes a port its domain no longer uses (the network may have been
    /// stopped meanwhile).
    async fn close_port(&self, port: &PortRef) -> Result<()>;
}
