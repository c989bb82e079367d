//! An in-memory hypervisor for tests, documentation and demos, like
//! libvirt's test driver: every lifecycle operation works and emits the
//! events a real driver would; nothing runs. Statistics are synthesized
//! deterministically: each read of a running domain advances its virtual
//! clock by one 10 ms tick.

mod network;
mod storage;

pub use network::{TestNetworkDriver, default_network};
pub use storage::{TestStorageDriver, default_pool};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use uuid::Uuid;
use virtkit_engine::options::{ShutdownMode, StartOptions};
use virtkit_engine::seams::Resources;
use virtkit_engine::types::{
    BlockStats, Capabilities, DomainState, DomainStats, HostInfo, NetStats, State, StateReason,
};
use virtkit_engine::{DomainDriver, DomainRef, DriverEvents, Error, ErrorKind, Result, Started};
use virtkit_model::MacAddress;
use virtkit_model::domain::Domain;

/// The simulated host.
#[derive(Debug, Clone)]
pub struct TestHost {
    pub cpus: u32,
    pub mhz: u32,
    pub model: String,
    pub memory: u64,
}

impl Default for TestHost {
    /// libvirt's default test host: 16 CPUs, 8 GiB.
    fn default() -> Self {
        TestHost { cpus: 16, mhz: 1400, model: "i686".into(), memory: 8 << 30 }
    }
}

#[derive(Debug)]
struct Sim {
    def: Arc<Domain>,
    paused: bool,
    /// Virtual time: 10 ms ticks, advanced by each stats read while running.
    ticks: u64,
}

/// The test driver.
#[derive(Debug, Default)]
pub struct TestDriver {
    host: TestHost,
    running: Mutex<HashMap<Uuid, Sim>>,
    events: OnceLock<DriverEvents>,
}

impl TestDriver {
    pub fn new(host: TestHost) -> Self {
        TestDriver { host, running: Mutex::new(HashMap::new()), events: OnceLock::new() }
    }

    fn sims(&self) -> MutexGuard<'_, HashMap<Uuid, Sim>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_sim<T>(&self, dom: &DomainRef, f: impl FnOnce(&mut Sim) -> T) -> Result<T> {
        let mut sims = self.sims();
        let sim = sims
            .get_mut(&dom.uuid)
            .ok_or_else(|| Error::new(ErrorKind::Driver, format!("domain '{}' is not running", dom.name)))?;
        Ok(f(sim))
    }

    fn events(&self) -> Option<&DriverEvents> {
        self.events.get()
    }
}

#[async_trait]
impl DomainDriver for TestDriver {
    fn name(&self) -> &'static str {
        "test"
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.driver = "test".into();
        c.domain_types = ["test", "qemu", "kvm", "lxc"].map(String::from).to_vec();
        c.shutdown_modes = ["acpi", "agent", "any"].map(String::from).to_vec();
        c.suspend = true;
        c.reboot = true;
        c.reset = true;
        c.autostart = true;
        c.persistent = true;
        c.stats = true;
        c
    }

    fn host_info(&self) -> HostInfo {
        let mut h = HostInfo::new("test-host", "x86_64", self.host.cpus, self.host.memory);
        h.cpu_mhz = self.host.mhz;
        h.cpu_model = self.host.model.clone();
        h
    }

    fn attach(&self, events: DriverEvents) {
        let _ = self.events.set(events);
    }

    fn prepare(&self, def: &mut Domain) -> Result<()> {
        for nic in &mut def.devices.interfaces {
            if nic.mac.is_none() {
                nic.mac = Some(MacAddress::generate());
            }
        }
        Ok(())
    }

    async fn start(&self, dom: &DomainRef, def: Arc<Domain>, _res: Resources, opts: &StartOptions) -> Result<Started> {
        let state = if opts.paused {
            State::new(DomainState::Paused, StateReason::User)
        } else {
            State::new(DomainState::Running, StateReason::Booted)
        };
        self.sims().insert(dom.uuid, Sim { def: def.clone(), paused: opts.paused, ticks: 0 });
        Ok(Started::new(def, state))
    }

    async fn shutdown(&self, dom: &DomainRef, mode: ShutdownMode) -> Result<()> {
        let has_agent = self.with_sim(dom, |s| s.def.devices.channels.iter().any(|c| c.is_guest_agent()))?;
        if mode == ShutdownMode::Agent && !has_agent {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("domain '{}' has no guest agent channel", dom.name),
            ));
        }
        // The simulated guest always cooperates, at once.
        self.sims().remove(&dom.uuid);
        if let Some(ev) = self.events() {
            ev.stopped(dom.uuid, State::new(DomainState::Shutoff, StateReason::Shutdown));
        }
        Ok(())
    }

    async fn power_off(&self, dom: &DomainRef) -> Result<()> {
        self.sims().remove(&dom.uuid);
        Ok(())
    }

    async fn reboot(&self, dom: &DomainRef, _mode: ShutdownMode) -> Result<()> {
        self.with_sim(dom, |s| s.ticks = 0)?;
        if let Some(ev) = self.events() {
            ev.rebooted(dom.uuid);
        }
        Ok(())
    }

    async fn reset(&self, dom: &DomainRef) -> Result<()> {
        self.with_sim(dom, |s| s.ticks = 0)
    }

    async fn suspend(&self, dom: &DomainRef) -> Result<()> {
        self.with_sim(dom, |s| s.paused = true)
    }

    async fn resume(&self, dom: &DomainRef) -> Result<()> {
        self.with_sim(dom, |s| s.paused = false)
    }

    async fn stats(&self, doms: &[DomainRef]) -> Vec<Option<DomainStats>> {
        let mut sims = self.sims();
        doms.iter().map(|d| sims.get_mut(&d.uuid).map(synthesize)).collect()
    }
}

/// Deterministic statistics: a function of the definition and the tick.
fn synthesize(sim: &mut Sim) -> DomainStats {
    if !sim.paused {
        sim.ticks += 1;
    }
    let t = sim.ticks;
    let d = &sim.def;
    let vcpus = d.vcpu.as_ref().map_or(1, |v| v.count);
    let mut s = DomainStats::default();
    s.cpu_time_ns = t * 10_000_000 * u64::from(vcpus);
    s.vcpus = vcpus;
    s.memory_max = d.memory.as_bytes();
    s.memory_current = d.current_memory.unwrap_or(d.memory).as_bytes();
    s.block = d
        .devices
        .disks
        .iter()
        .map(|disk| {
            let mut b = BlockStats::default();
            b.dev = disk.target.dev.clone();
            b.rd_reqs = t * 8;
            b.rd_bytes = t * 8 * 4096;
            b.wr_reqs = t * 2;
            b.wr_bytes = t * 2 * 4096;
            b
        })
        .collect();
    s.net = d
        .devices
        .interfaces
        .iter()
        .map(|nic| {
            let mut n = NetStats::default();
            n.dev = nic
                .target
                .as_ref()
                .map(|t| t.dev.clone())
                .or_else(|| nic.mac.map(|m| m.to_string()))
                .unwrap_or_default();
            n.rx_packets = t * 10;
            n.rx_bytes = t * 10 * 1500;
            n.tx_packets = t * 4;
            n.tx_bytes = t * 4 * 1000;
            n
        })
        .collect();
    s
}

/// The `test` domain of `test:///default` (libvirt's default test domain).
pub fn default_domain() -> Domain {
    use virtkit_model::ByteSize;
    use virtkit_model::domain::devices::{BalloonModel, Disk, DiskBus, Interface, Memballoon};
    use virtkit_model::domain::{Arch, DomainType, Os};
    let uuid = Uuid::from_u128(0x6695eb01_f6a4_8304_79aa_97f2502e193f);
    Domain::new(DomainType::Test, "test", ByteSize::gib(8))
        .with_uuid(uuid)
        .with_current_memory(ByteSize::gib(2))
        .with_vcpus(2)
        .with_os(Os::hvm(Arch::I686, "pc"))
        .with_device(Disk::file("/guest/diskimage1", "vda", DiskBus::Virtio))
        .with_device(Interface::network("default").with_mac(MacAddress([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])))
        .with_device(Memballoon::new(BalloonModel::Virtio))
}

/// A simulated host with these domain host facts: every driver in memory.
fn host_engine(host: TestHost) -> virtkit_engine::Engine {
    let drivers = virtkit_engine::Drivers::new(Arc::new(TestDriver::new(host)))
        .with_network_driver(Arc::new(TestNetworkDriver::default()))
        .with_storage_driver(Arc::new(TestStorageDriver::default()));
    virtkit_engine::Engine::with_drivers(drivers, Default::default())
}

/// A test engine as `test:///default` has it: a 16-CPU, 8 GiB host running
/// the NAT network `default`, the directory pool `default-pool` and the
/// domain `test` on that network.
pub async fn default_engine() -> Result<virtkit_engine::Engine> {
    let engine = host_engine(TestHost::default());
    let net =
        engine.define_object(virtkit_engine::Def::Network(Box::new(default_network())), Default::default()).await?;
    engine.start_object(virtkit_engine::types::ObjectKind::Network, net.uuid(), Default::default()).await?;
    let pool = engine.define_object(virtkit_engine::Def::Pool(Box::new(default_pool())), Default::default()).await?;
    engine.start_object(virtkit_engine::types::ObjectKind::Pool, pool.uuid(), Default::default()).await?;
    let info = engine.define(default_domain(), Default::default()).await?;
    engine.start(info.uuid, StartOptions::default()).await?;
    Ok(engine)
}

/// A test engine from a `<node>` document: its host, every network in it
/// defined and active, then every domain defined and running (as libvirt's
/// test driver loads such files).
pub async fn node_engine(node: virtkit_model::node::TestNode) -> Result<virtkit_engine::Engine> {
    let mut host = TestHost::default();
    if let Some(cpu) = &node.cpu {
        if let Some(n) = cpu.active {
            host.cpus = n;
        }
        if let Some(m) = cpu.mhz {
            host.mhz = m;
        }
        if let Some(m) = &cpu.model {
            host.model = m.clone();
        }
    }
    if let Some(m) = node.memory {
        host.memory = m.as_bytes();
    }
    let engine = host_engine(host);
    for n in node.networks {
        let net = engine.define_object(virtkit_engine::Def::Network(Box::new(n)), Default::default()).await?;
        engine.start_object(virtkit_engine::types::ObjectKind::Network, net.uuid(), Default::default()).await?;
    }
    for d in node.domains {
        let info = engine.define(d, Default::default()).await?;
        engine.start(info.uuid, StartOptions::default()).await?;
    }
    Ok(engine)
}
