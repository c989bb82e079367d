//! Networks, storage pools, volumes and secrets: their state and what a
//! list shows of one; a network's DHCP leases.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobInfo, List};

word_enum! {
    /// The state of a network, a storage pool or a storage volume.
    pub enum ResourceState {
        /// Defined, not started (a volume: never).
        Inactive = "inactive",
        /// Being built or created: not usable yet.
        Building = "building",
        /// Started (a volume: whole and usable).
        Active = "active",
        /// Stored, with nothing to start (a secret's only state).
        Defined = "defined",
    }
}

impl ResourceState {
    pub fn is_active(self) -> bool {
        !matches!(self, ResourceState::Inactive | ResourceState::Defined)
    }
}

/// One network as a list or lookup shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NetworkInfo {
    pub uuid: Uuid,
    pub name: String,
    pub state: ResourceState,
    /// Has a stored definition (survives being stopped).
    pub persistent: bool,
    pub autostart: bool,
    /// Bumped by every change to the stored definition.
    pub generation: u64,
    /// The host bridge guests connect to, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Domains' interfaces connected to it now.
    pub ports: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobInfo>,
}

impl NetworkInfo {
    /// An inactive network with nothing else known (set the fields after).
    pub fn new(uuid: Uuid, name: impl Into<String>) -> Self {
        NetworkInfo {
            uuid,
            name: name.into(),
            state: ResourceState::Inactive,
            persistent: false,
            autostart: false,
            generation: 0,
            bridge: None,
            ports: 0,
            job: None,
        }
    }
}

/// Every network a list asked for.
pub type NetworkList = List<NetworkInfo>;

/// One storage pool as a list or lookup shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolInfo {
    pub uuid: Uuid,
    pub name: String,
    /// `dir`, `fs`, `iscsi-direct` …
    pub pool_type: String,
    pub state: ResourceState,
    pub persistent: bool,
    pub autostart: bool,
    pub generation: u64,
    /// Bytes in all, used and free (0 while inactive).
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
    /// Volumes in it (0 while inactive).
    pub volumes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobInfo>,
}

impl PoolInfo {
    /// An inactive pool with nothing else known (set the fields after).
    pub fn new(uuid: Uuid, name: impl Into<String>, pool_type: impl Into<String>) -> Self {
        PoolInfo {
            uuid,
            name: name.into(),
            pool_type: pool_type.into(),
            state: ResourceState::Inactive,
            persistent: false,
            autostart: false,
            generation: 0,
            capacity: 0,
            allocation: 0,
            available: 0,
            volumes: 0,
            job: None,
        }
    }
}

/// One secret as a list or lookup shows it (never with its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretInfo {
    pub uuid: Uuid,
    /// What it is for: `volume`, `ceph`, `iscsi`, `tls`, `vtpm` (none: no usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_type: Option<String>,
    /// The name it is looked up by within its usage type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Kept in memory only.
    pub ephemeral: bool,
    /// Its value is never given to a client.
    pub private: bool,
    /// A value has been set.
    pub has_value: bool,
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobInfo>,
}

impl SecretInfo {
    /// A secret with nothing else known (set the fields after).
    pub fn new(uuid: Uuid) -> Self {
        SecretInfo {
            uuid,
            usage_type: None,
            usage_id: None,
            description: None,
            ephemeral: false,
            private: false,
            has_value: false,
            generation: 0,
            job: None,
        }
    }
}

/// One storage volume as a list or lookup shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeInfo {
    /// The engine's name for it (volumes have no UUID of their own).
    pub uuid: Uuid,
    pub name: String,
    /// Its pool's name and UUID.
    pub pool: String,
    pub pool_uuid: Uuid,
    /// Unique on the host (a file volume's path).
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `file`, `block`, `network` … as libvirt names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    /// `raw`, `qcow2` …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Bytes the guest sees, and bytes used on the host.
    pub capacity: u64,
    pub allocation: u64,
    /// Active once made whole.
    pub state: ResourceState,
    /// Bumped by every change to it (resize, upload, wipe).
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobInfo>,
}

impl VolumeInfo {
    /// A volume with nothing but its names known (set the fields after).
    pub fn new(uuid: Uuid, name: impl Into<String>, pool: impl Into<String>, pool_uuid: Uuid) -> Self {
        VolumeInfo {
            uuid,
            name: name.into(),
            pool: pool.into(),
            pool_uuid,
            key: String::new(),
            path: None,
            volume_type: None,
            format: None,
            capacity: 0,
            allocation: 0,
            state: ResourceState::Active,
            generation: 0,
            job: None,
        }
    }
}

/// A DHCP lease a network handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Lease {
    /// The network's bridge (virsh's "interface").
    pub iface: String,
    pub mac: virtkit_model::MacAddress,
    pub ip: std::net::IpAddr,
    pub prefix: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The DHCP client id (DHCPv6: the DUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// When it ends, seconds since the Unix epoch (`None`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<u64>,
}

impl Lease {
    pub fn new(iface: impl Into<String>, mac: virtkit_model::MacAddress, ip: std::net::IpAddr, prefix: u8) -> Self {
        Lease { iface: iface.into(), mac, ip, prefix, hostname: None, client_id: None, expiry: None }
    }
}
