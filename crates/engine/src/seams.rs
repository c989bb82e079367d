//! What crosses between drivers, through the engine: when a domain starts,
//! the network driver gives a port for each `<interface type='network'|
//! 'bridge'>`, the storage driver resolves each `<disk type='volume'>` and
//! the engine's secrets give the values disks log in with; the domain
//! driver gets them as [`Resources`] and never talks to the other drivers
//! itself.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use virtkit_model::MacAddress;
use virtkit_model::storage::SecretRef;

/// A network port for one of a domain's interfaces.
#[derive(Debug)]
#[non_exhaustive]
pub struct Port {
    /// The interface's index in the domain's `<devices>` interfaces.
    pub interface: usize,
    /// The network it belongs to (`type='network'`), if any.
    pub network: Option<String>,
    /// The bridge the port is on.
    pub bridge: String,
    /// The host-side device (a tap, `vnet0`), when the network driver made one.
    pub device: Option<String>,
    /// The open tap, for the hypervisor to use as is.
    pub tap: Option<OwnedFd>,
    /// The guest-side MAC address.
    pub mac: MacAddress,
    pub mtu: Option<u32>,
}

impl Port {
    pub fn new(interface: usize, bridge: impl Into<String>, mac: MacAddress) -> Self {
        Port { interface, network: None, bridge: bridge.into(), device: None, tap: None, mac, mtu: None }
    }

    #[must_use]
    pub fn with_network(mut self, network: impl Into<String>) -> Self {
        self.network = Some(network.into());
        self
    }

    #[must_use]
    pub fn with_device(mut self, device: impl Into<String>, tap: Option<OwnedFd>) -> Self {
        self.device = Some(device.into());
        self.tap = tap;
        self
    }

    #[must_use]
    pub fn with_mtu(mut self, mtu: Option<u32>) -> Self {
        self.mtu = mtu;
        self
    }
}

/// Where a volume's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumeSource {
    File(PathBuf),
    Block(PathBuf),
    /// A LUN of an iSCSI target, which the hypervisor opens itself.
    Iscsi(IscsiLun),
}

/// A LUN of an iSCSI target (`iscsi://HOST:PORT/IQN/LUN`), and the
/// initiator name to log in with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IscsiLun {
    pub host: String,
    pub port: u16,
    /// The target's IQN.
    pub target: String,
    pub lun: u32,
    pub initiator: Option<String>,
    /// The CHAP login its pool's document asks for: the user, and the
    /// secret object (whose value is among [`Resources::secrets`]).
    pub chap: Option<(String, SecretRef)>,
}

/// One layer of a volume's backing chain, its format always explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layer {
    pub source: VolumeSource,
    /// `raw`, `qcow2` …
    pub format: String,
}

impl Layer {
    pub fn new(source: VolumeSource, format: impl Into<String>) -> Self {
        Layer { source, format: format.into() }
    }
}

/// A `<disk type='volume'>` resolved by the storage driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedVolume {
    /// The disk's index in the domain's `<devices>` disks.
    pub disk: usize,
    pub pool: String,
    pub volume: String,
    /// The volume itself, then each layer it is backed by.
    pub chain: Vec<Layer>,
}

impl ResolvedVolume {
    pub fn new(disk: usize, pool: impl Into<String>, volume: impl Into<String>, chain: Vec<Layer>) -> Self {
        ResolvedVolume { disk, pool: pool.into(), volume: volume.into(), chain }
    }
}

/// The value of a secret object a domain's disks log in with, looked up
/// by the engine at start. Its `Debug` shows no value.
#[derive(Clone)]
#[non_exhaustive]
pub struct DomainSecret {
    /// As the documents name it (`<secret uuid=…>` or `usage=…`).
    pub reference: SecretRef,
    pub value: Arc<Vec<u8>>,
}

impl DomainSecret {
    pub fn new(reference: SecretRef, value: Arc<Vec<u8>>) -> Self {
        DomainSecret { reference, value }
    }
}

impl std::fmt::Debug for DomainSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainSecret").field("reference", &self.reference).finish_non_exhaustive()
    }
}

/// Everything the engine obtained for a domain's start.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Resources {
    pub ports: Vec<Port>,
    pub volumes: Vec<ResolvedVolume>,
    /// Each secret the disks name (their `<source><auth>`, and the CHAP of
    /// the iSCSI volumes' pools), once.
    pub secrets: Vec<DomainSecret>,
}

impl Resources {
    /// The value of the secret `r` names, if the engine gave it.
    pub fn secret(&self, r: &SecretRef) -> Option<&Arc<Vec<u8>>> {
        self.secrets.iter().find(|s| s.reference == *r).map(|s| &s.value)
    }

    /// The port of interface `i`, if it has one.
    pub fn port(&self, i: usize) -> Option<&Port> {
        self.ports.iter().find(|p| p.interface == i)
    }

    /// The volume behind disk `i`, if it is one.
    pub fn volume(&self, i: usize) -> Option<&ResolvedVolume> {
        self.volumes.iter().find(|v| v.disk == i)
    }

    /// Takes the open tap of interface `i` (the hypervisor keeps it).
    pub fn take_tap(&mut self, i: usize) -> Option<OwnedFd> {
        self.ports.iter_mut().find(|p| p.interface == i).and_then(|p| p.tap.take())
    }
}
