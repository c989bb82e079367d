//! Networks: the kind, their start and stop through the network driver,
//! their leases, the checks across networks (one bridge, one subnet each),
//! and the ports domains get on them when they start.

use std::sync::Arc;

use uuid::Uuid;
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::InterfaceSource;
use virtkit_model::network::{ForwardMode, Network};

use crate::driver::DomainRef;
use crate::engine::Inner;
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Definition, Kind, ObjRef, Record, Table};
use crate::lifecycle::{Activated, Lifecycle};
use crate::network_driver::{ActiveNet, NetworkDriver, PortRef, PortRequest};
use crate::registry::Registry;
use crate::seams::Port;
use crate::store::Store;
use crate::types::{EventDetail, EventKind, JobKind, Lease, NetworkInfo, ObjectKind, ObjectState, ResourceState};

impl Definition for Network {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn name(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self.name)
    }
    fn to_xml(&self) -> String {
        Network::to_xml(self)
    }
    fn from_xml(text: &str) -> std::result::Result<Self, virtkit_model::Errors> {
        Network::from_xml(text)
    }
    fn validate(&self) -> std::result::Result<(), virtkit_model::Errors> {
        Network::validate(self)
    }
    fn withhold_secrets(&mut self) {
        Network::withhold_secrets(self);
    }
}

pub(crate) struct NetworkKind;

/// What only a network records.
#[derive(Debug, Default, Clone)]
pub(crate) struct NetworkExtra {
    /// Domains' interfaces on it now.
    pub ports: u32,
}

impl Kind for NetworkKind {
    const OBJECT: ObjectKind = ObjectKind::Network;
    type Def = Network;
    type State = ResourceState;
    type Extra = NetworkExtra;

    fn table(reg: &Registry) -> &Table<Self> {
        &reg.networks
    }
    fn table_mut(reg: &mut Registry) -> &mut Table<Self> {
        &mut reg.networks
    }
    fn initial() -> ResourceState {
        ResourceState::Inactive
    }
    fn is_active(s: &ResourceState) -> bool {
        s.is_active()
    }
    fn event_state(s: &ResourceState) -> ObjectState {
        ObjectState::Resource(*s)
    }
}

/// Whether the network runs a bridge of its own (not a host bridge or
/// host devices).
fn manages_bridge(n: &Network) -> bool {
    n.mode().is_none_or(|m| matches!(m, ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open))
}

fn bridge_of(n: &Network) -> Option<&str> {
    n.bridge.as_ref().and_then(|b| b.name.as_deref())
}

impl Lifecycle for NetworkKind {
    type Info = NetworkInfo;

    fn without_job(i: &mut NetworkInfo) {
        i.job = None;
    }

    fn info(_reg: &Registry, r: &Record<Self>) -> NetworkInfo {
        let mut i = NetworkInfo::new(r.uuid, r.name.clone());
        i.state = r.state;
        i.persistent = r.config.is_some();
        i.autostart = r.autostart;
        i.generation = r.generation;
        i.bridge = r.current_def().and_then(|d| bridge_of(d)).map(str::to_owned);
        i.ports = r.extra.ports;
        i.job = r.job_info();
        i
    }

    fn prepare(inner: &Inner, mut def: Network) -> Result<Network> {
        def.validate().map_err(Error::invalid_document)?;
        let driver = inner.network_driver()?;
        let others: Vec<Arc<Network>> = {
            let reg = inner.lock();
            reg.networks.iter().filter(|r| r.uuid != def.uuid).filter_map(|r| r.current_def().cloned()).collect()
        };
        driver.prepare(&mut def, &others)?;
        def.validate().map_err(|e| {
            Error::new(ErrorKind::Internal, format!("the {} driver made the network invalid: {e}", driver.name()))
        })?;
        Ok(def)
    }

    fn check_against(reg: &Registry, def: &Network) -> Result<()> {
        for other in reg.networks.iter().filter(|r| r.uuid != def.uuid) {
            let Some(o) = other.current_def() else { continue };
            if manages_bridge(def)
                && manages_bridge(o)
                && let (Some(a), Some(b)) = (bridge_of(def), bridge_of(o))
                && a == b
            {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("bridge '{a}' is already used by network '{}'", o.name),
                ));
            }
            for ip in def.ips.iter().filter_map(|i| i.subnet()) {
                if let Some(clash) = o.ips.iter().filter_map(|i| i.subnet()).find(|s| overlaps(s, &ip)) {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!("subnet {ip} overlaps {clash} of network '{}'", o.name),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether two subnets share an address.
fn overlaps(a: &virtkit_model::network::Subnet, b: &virtkit_model::network::Subnet) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

impl Inner {
    pub(crate) fn network_driver(&self) -> Result<&Arc<dyn NetworkDriver>> {
        self.drivers
            .network
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Unsupported, "this host has no network driver"))
    }

    /// Starts a transient network from a definition that is not stored.
    pub(crate) async fn create_network(&self, def: Network) -> Result<NetworkInfo> {
        let def = Arc::new(NetworkKind::prepare(self, def)?);
        let (uuid, name) = (def.uuid, def.name.clone());
        let slot = {
            let mut reg = self.lock();
            reg.networks.check_identity(uuid, Uuid::nil(), &name)?;
            NetworkKind::check_against(&reg, &def)?;
            if reg.networks.contains(&uuid) {
                return Err(Error::new(ErrorKind::AlreadyExists, format!("network '{name}' already exists")));
            }
            let mut r = Record::<NetworkKind>::new(uuid, name.clone());
            r.hidden = true;
            let slot = r.job.clone();
            reg.networks.insert(r);
            slot
        };
        let _job = slot.begin(JobKind::Start, self.config.job_wait, &format!("network '{name}'")).await?;
        let obj = ObjRef::new(ObjectKind::Network, uuid, name);
        let r = self.activate_network(&obj, def, true).await;
        if r.is_err() {
            self.drop_reservation::<NetworkKind>(&uuid);
        }
        r
    }

    pub(crate) async fn start_network(&self, uuid: Uuid) -> Result<NetworkInfo> {
        let (_job, obj) = self.job::<NetworkKind>(&uuid, JobKind::Start).await?;
        let def = {
            let reg = self.lock();
            let r = reg.networks.get(&uuid)?;
            if r.active() {
                return Err(Error::state(format!("network '{}' is already active", r.name)));
            }
            let def = r
                .config
                .clone()
                .ok_or_else(|| Error::new(ErrorKind::Internal, "inactive network without definition"))?;
            // The other networks may have changed since this one was defined.
            NetworkKind::check_against(&reg, &def)?;
            def
        };
        self.activate_network(&obj, def, false).await
    }

    /// Starts the network with the driver and records it (the runtime status
    /// is on disk before it shows as active; when that fails it is taken
    /// down again).
    async fn activate_network(&self, obj: &ObjRef, def: Arc<Network>, unhide: bool) -> Result<NetworkInfo> {
        let driver = self.network_driver()?.clone();
        let started = driver.start(obj, def).await?;
        let active = Activated::<NetworkKind> { live: started.live, state: ResourceState::Active, data: started.data };
        if let Some(store) = &self.store {
            let saved = Inner::run_file(&obj.name, Uuid::nil(), &active, None)
                .and_then(|f| store.save_run(ObjectKind::Network, &obj.uuid, &f));
            if let Err(e) = saved {
                let net = ActiveNet { net: obj, live: &active.live, data: &active.data };
                return Err(match driver.stop(net).await {
                    Ok(()) => e,
                    Err(c) => e.with_cleanup(c),
                });
            }
        }
        let mut reg = self.lock();
        let r = reg.networks.get_mut(&obj.uuid)?;
        r.live = Some(active.live);
        r.state = ResourceState::Active;
        r.data = active.data;
        if unhide {
            r.hidden = false;
        }
        self.emit::<NetworkKind>(&mut reg, &obj.uuid, EventKind::Started, EventDetail::Booted);
        Ok(NetworkKind::answer(&reg, reg.networks.get(&obj.uuid)?))
    }

    /// Takes a network down (`net-destroy`). Domains on it keep their
    /// interfaces, detached; the event says so.
    pub(crate) async fn stop_network(&self, uuid: Uuid) -> Result<NetworkInfo> {
        let (_job, obj) = self.job::<NetworkKind>(&uuid, JobKind::Stop).await?;
        let (live, data) = {
            let reg = self.lock();
            let r = reg.networks.get(&uuid)?;
            match (&r.live, r.active()) {
                (Some(l), true) => (l.clone(), r.data.clone()),
                _ => return Err(Error::state(format!("network '{}' is not active", r.name))),
            }
        };
        self.network_driver()?.stop(ActiveNet { net: &obj, live: &live, data: &data }).await?;
        let info = {
            let mut reg = self.lock();
            let r = reg.networks.get_mut(&uuid)?;
            r.state = ResourceState::Inactive;
            r.live = None;
            r.data = serde_json::Value::Null;
            let detail = if r.extra.ports > 0 { EventDetail::PortsDetached } else { EventDetail::Destroyed };
            let transient = r.config.is_none();
            self.emit::<NetworkKind>(&mut reg, &uuid, EventKind::Stopped, detail);
            let info = NetworkKind::answer(&reg, reg.networks.get(&uuid)?);
            if transient {
                reg.networks.remove(&uuid);
            }
            info
        };
        self.forget_run::<NetworkKind>(&uuid);
        Ok(info)
    }

    /// The leases of an active network (only those of `mac`, when given).
    pub(crate) async fn network_leases(
        &self,
        uuid: Uuid,
        mac: Option<virtkit_model::MacAddress>,
    ) -> Result<Vec<Lease>> {
        let (obj, live, data) = {
            let reg = self.lock();
            let r = reg.networks.get(&uuid)?;
            match (&r.live, r.active()) {
                (Some(l), true) => (r.obj_ref(), l.clone(), r.data.clone()),
                _ => return Err(Error::state(format!("network '{}' is not active", r.name))),
            }
        };
        let mut leases = self.network_driver()?.leases(ActiveNet { net: &obj, live: &live, data: &data }).await?;
        leases.retain(|l| mac.is_none_or(|m| l.mac == m));
        leases.sort_by_key(|l| (l.ip, l.mac.0));
        Ok(leases)
    }

    /// The addresses a running domain's interfaces got, from the DHCP
    /// leases of the networks they are on (virsh's `domifaddr --source
    /// lease`): one lease per address, named after the interface's host
    /// device (`vnet0`).
    pub(crate) async fn interface_addresses(&self, uuid: Uuid) -> Result<Vec<Lease>> {
        let live = {
            let reg = self.lock();
            let r = reg.domains.get(&uuid)?;
            match (&r.live, r.active()) {
                (Some(l), true) => l.clone(),
                _ => return Err(Error::state(format!("domain '{}' is not running", r.name))),
            }
        };
        let mut out = Vec::new();
        for nic in &live.devices.interfaces {
            let (InterfaceSource::Network { network, .. }, Some(mac)) = (&nic.source, nic.mac) else { continue };
            let net = {
                let reg = self.lock();
                reg.networks.by_name(Uuid::nil(), network)
            };
            let Some(net) = net else { continue };
            // A network stopped since keeps no leases for it.
            let Ok(leases) = self.network_leases(net, Some(mac)).await else { continue };
            let device = nic.target.as_ref().map(|t| t.dev.clone()).unwrap_or_default();
            out.extend(leases.into_iter().map(|mut l| {
                l.iface.clone_from(&device);
                l
            }));
        }
        Ok(out)
    }

    /// Ports for every `<interface type='network'|'bridge'>` of a domain
    /// about to start, and the definition with each port's device written
    /// into its interface (`<target dev='vnet0'/>`, as libvirt writes it).
    /// On failure the ports already opened are closed again.
    pub(crate) async fn open_ports(&self, dom: &DomainRef, def: &Domain) -> Result<(Vec<Port>, Option<Domain>)> {
        let Some(driver) = self.drivers.network.clone() else { return Ok((Vec::new(), None)) };
        let mut ports: Vec<Port> = Vec::new();
        for (i, nic) in def.devices.interfaces.iter().enumerate() {
            let wanted = match &nic.source {
                InterfaceSource::Network { network, .. } => Some(Some(network.as_str())),
                InterfaceSource::Bridge { .. } => Some(None),
                _ => None,
            };
            let Some(network) = wanted else { continue };
            let Some(mac) = nic.mac else {
                return Err(self
                    .close_after(ports, Error::new(ErrorKind::Internal, "an interface without a MAC address"))
                    .await);
            };
            let req = PortRequest {
                domain: dom.clone(),
                interface: i,
                mac,
                device: nic.target.as_ref().map(|t| t.dev.clone()),
                mtu: nic.mtu.map(u32::from),
                isolated: nic.port_isolated == Some(true),
            };
            let opened = match (network, &nic.source) {
                (Some(name), _) => self.port_on_network(&driver, name, &req).await,
                (None, InterfaceSource::Bridge { bridge, .. }) => driver.open_port(None, bridge, &req).await,
                (None, _) => continue,
            };
            match opened {
                Ok(p) => ports.push(p),
                Err(e) => return Err(self.close_after(ports, e).await),
            }
        }
        if ports.iter().all(|p| p.device.is_none()) {
            return Ok((ports, None));
        }
        let mut named = def.clone();
        for p in &ports {
            if let (Some(dev), Some(nic)) = (&p.device, named.devices.interfaces.get_mut(p.interface)) {
                match &mut nic.target {
                    Some(t) => t.dev.clone_from(dev),
                    None => nic.target = Some(virtkit_model::domain::devices::InterfaceTarget::new(dev.clone())),
                }
            }
        }
        Ok((ports, Some(named)))
    }

    async fn port_on_network(&self, driver: &Arc<dyn NetworkDriver>, name: &str, req: &PortRequest) -> Result<Port> {
        let (obj, live, data) = {
            let reg = self.lock();
            let uuid = reg
                .networks
                .by_name(Uuid::nil(), name)
                .ok_or_else(|| Error::not_found_of(ObjectKind::Network, name))?;
            let r = reg.networks.get(&uuid)?;
            match (&r.live, r.active()) {
                (Some(l), true) => (r.obj_ref(), l.clone(), r.data.clone()),
                _ => return Err(Error::state(format!("network '{name}' is not active"))),
            }
        };
        let bridge = bridge_of(&live).unwrap_or_default().to_owned();
        let port = driver.open_port(Some(ActiveNet { net: &obj, live: &live, data: &data }), &bridge, req).await?;
        let mut reg = self.lock();
        if let Ok(r) = reg.networks.get_mut(&obj.uuid) {
            r.extra.ports += 1;
        }
        Ok(port.with_network(name))
    }

    /// Closes `ports` after `e`; returns `e` with any failure beside it.
    async fn close_after(&self, ports: Vec<Port>, e: Error) -> Error {
        let refs: Vec<PortRef> =
            ports.iter().map(|p| PortRef::new(p.network.clone(), p.bridge.clone(), p.device.clone(), p.mac)).collect();
        match self.close_ports(&refs).await {
            Ok(()) => e,
            Err(c) => e.with_cleanup(c),
        }
    }

    /// The ports a running domain holds, read from its live definition.
    pub(crate) fn ports_of(&self, live: &Domain) -> Vec<PortRef> {
        if self.drivers.network.is_none() {
            return Vec::new();
        }
        let reg = self.lock();
        live.devices
            .interfaces
            .iter()
            .filter_map(|nic| {
                let mac = nic.mac?;
                let device = nic.target.as_ref().map(|t| t.dev.clone());
                match &nic.source {
                    InterfaceSource::Network { network, .. } => {
                        let bridge = reg
                            .networks
                            .by_name(Uuid::nil(), network)
                            .and_then(|u| reg.networks.get(&u).ok())
                            .and_then(|r| r.current_def().and_then(|d| bridge_of(d)).map(str::to_owned))
                            .unwrap_or_default();
                        Some(PortRef::new(Some(network.clone()), bridge, device, mac))
                    }
                    InterfaceSource::Bridge { bridge, .. } => Some(PortRef::new(None, bridge.clone(), device, mac)),
                    _ => None,
                }
            })
            .collect()
    }

    /// Gives ports back to the network driver; every one is tried, the
    /// first failure is returned.
    pub(crate) async fn close_ports(&self, ports: &[PortRef]) -> Result<()> {
        let Some(driver) = self.drivers.network.clone() else { return Ok(()) };
        let mut first = None;
        for p in ports {
            if let Err(e) = driver.close_port(p).await {
                tracing::warn!("cannot remove port {:?}: {e}", p.device);
                first.get_or_insert(e);
            }
            if let Some(n) = &p.network {
                let mut reg = self.lock();
                if let Some(r) = reg.networks.by_name(Uuid::nil(), n).and_then(|u| reg.networks.get_mut(&u).ok()) {
                    r.extra.ports = r.extra.ports.saturating_sub(1);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Counts again the ports of every network from the running domains
    /// (after the engine opened and took them over).
    pub(crate) fn recount_ports(&self) {
        let mut reg = self.lock();
        let mut counts: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        for d in reg.domains.iter().filter(|r| r.active()) {
            for nic in d.live.iter().flat_map(|l| l.devices.interfaces.iter()) {
                if let InterfaceSource::Network { network, .. } = &nic.source {
                    *counts.entry(network.clone()).or_default() += 1;
                }
            }
        }
        let uuids: Vec<Uuid> = reg.networks.iter().map(|r| r.uuid).collect();
        for u in uuids {
            if let Ok(r) = reg.networks.get_mut(&u) {
                r.extra.ports = counts.get(&r.name).copied().unwrap_or(0);
            }
        }
    }

    /// Loads every stored network and takes over every one a previous
    /// engine left active.
    pub(crate) async fn load_networks(&self, store: &Store, problems: &mut Vec<String>) {
        let loaded = store.load::<NetworkKind>();
        problems.extend(loaded.problems);
        {
            let mut reg = self.lock();
            for d in loaded.defs {
                if reg.networks.by_name(Uuid::nil(), &d.def.name).is_some() {
                    problems.push(format!(
                        "network '{}' ({}) has the name of another network: not loaded",
                        d.def.name, d.uuid
                    ));
                    continue;
                }
                let mut r = Record::<NetworkKind>::new(d.uuid, d.def.name.clone());
                r.config = Some(Arc::new(d.def));
                r.generation = d.generation;
                r.autostart = d.autostart;
                reg.networks.insert(r);
            }
        }
        let Some(driver) = self.drivers.network.clone() else { return };
        for (uuid, run, live, _state) in loaded.runs {
            let obj = ObjRef::new(ObjectKind::Network, uuid, run.name.clone());
            match driver.reconnect(&obj, Arc::new(live), run.driver).await {
                Ok(a) => {
                    let mut reg = self.lock();
                    if reg.networks.by_name(Uuid::nil(), &run.name).is_some_and(|u| u != uuid) {
                        problems
                            .push(format!("active network '{}' ({uuid}) has the name of another network", run.name));
                        continue;
                    }
                    if !reg.networks.contains(&uuid) {
                        reg.networks.insert(Record::new(uuid, run.name.clone()));
                    }
                    if let Ok(r) = reg.networks.get_mut(&uuid) {
                        r.live = Some(a.live);
                        r.state = ResourceState::Active;
                        r.data = a.data;
                    }
                    drop(reg);
                    self.refresh_run_file::<NetworkKind>(&uuid, None);
                }
                Err(e) => {
                    tracing::info!(network = %run.name, "not active any more: {e}");
                    if let Err(e) = store.remove_run(ObjectKind::Network, &uuid) {
                        problems.push(e.to_string());
                    }
                }
            }
        }
    }
}
