//! Options for every operation. Each is `#[non_exhaustive]` with `Default`
//! and builder methods, so a new parameter is a new field, never a new call.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{DomainState, ObjectKind, word_enum};

/// Builder methods: `fn field(mut self, v) -> Self` for each listed field.
macro_rules! setters {
    ($t:ty { $($(#[$m:meta])* $field:ident: $ft:ty),* $(,)? }) => {
        impl $t {
            $(
                $(#[$m])*
                #[must_use]
                pub fn $field(mut self, value: $ft) -> Self {
                    self.$field = value.into();
                    self
                }
            )*
        }
    };
}

/// Options for `define`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DefineOptions {
    /// Refuse (with `Conflict`) unless the stored definition is at this
    /// generation; 0 means "must not exist yet".
    pub expected_generation: Option<u64>,
}
setters!(DefineOptions {
    /// Only replace the definition at this generation.
    expected_generation: u64,
});

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UndefineOptions {
    pub expected_generation: Option<u64>,
}
setters!(UndefineOptions { expected_generation: u64 });

/// Options for `create` (start a transient object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateOptions {
    /// Leave the vCPUs paused once it is set up (domains).
    pub paused: bool,
    /// Build its underlying storage first (pools: `pool-create --build`);
    /// refused for kinds that are not built.
    pub build: Option<BuildOptions>,
}
setters!(CreateOptions { paused: bool, build: BuildOptions });

/// Options for `domain_xml_to_native` (the configuration a definition
/// would start with, in the hypervisor's own form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NativeOptions {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StartOptions {
    /// Leave the vCPUs paused once it is set up (domains).
    pub paused: bool,
    /// Build its underlying storage first (pools: `pool-start --build`);
    /// refused for kinds that are not built.
    pub build: Option<BuildOptions>,
}
setters!(StartOptions { paused: bool, build: BuildOptions });

word_enum! {
    /// How a guest is asked to shut down or reboot.
    pub enum ShutdownMode {
        /// The ACPI power button.
        Acpi = "acpi",
        /// The QEMU guest agent.
        Agent = "agent",
        /// The agent when it answers, else ACPI.
        Any = "any",
    }
}

// The variants come from `word_enum!`, which cannot mark a `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for ShutdownMode {
    fn default() -> Self {
        ShutdownMode::Any
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ShutdownOptions {
    pub mode: ShutdownMode,
    /// Wait this long for the guest to power off; past it the call fails
    /// with `Timeout` and the guest keeps running. `None`: ask and return.
    pub timeout: Option<Duration>,
}
setters!(ShutdownOptions { mode: ShutdownMode, timeout: Duration });

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PowerOffOptions {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RebootOptions {
    pub mode: ShutdownMode,
}
setters!(RebootOptions { mode: ShutdownMode });

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResetOptions {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SuspendOptions {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResumeOptions {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AutostartOptions {}

/// Options for listing domains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListOptions {
    /// Only domains in these states (empty: every state).
    pub states: Vec<DomainState>,
    /// Only running-or-paused (`Some(true)`) or only shut off (`Some(false)`).
    pub active: Option<bool>,
    /// Only persistent (`Some(true)`) or only transient (`Some(false)`).
    pub persistent: Option<bool>,
    /// Only those that start with the host (`Some(true)`) or not.
    pub autostart: Option<bool>,
    /// Include statistics of each active domain.
    pub stats: bool,
    /// Volumes: only those of this pool (none: of every active pool).
    pub pool: Option<uuid::Uuid>,
    /// Secrets: only those kept in memory only (`Some(true)`) or stored.
    pub ephemeral: Option<bool>,
    /// Secrets: only those whose value no client reads (`Some(true)`) or not.
    pub private: Option<bool>,
}
setters!(ListOptions {
    states: Vec<DomainState>,
    active: bool,
    persistent: bool,
    autostart: bool,
    stats: bool,
    pool: uuid::Uuid,
    ephemeral: bool,
    private: bool,
});

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InfoOptions {
    /// Include statistics.
    pub stats: bool,
}
setters!(InfoOptions { stats: bool });

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct XmlOptions {
    /// The stored definition rather than the running one.
    pub inactive: bool,
    /// With its secret values (graphics passwords …, see
    /// `virtkit_model::secrets`): libvirt's `VIR_DOMAIN_XML_SECURE`.
    /// Without it they are withheld; a read-only connection may not ask.
    pub secure: bool,
}
setters!(XmlOptions { inactive: bool, secure: bool });

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatsOptions {}

/// Options for stopping an object at once (a domain's power-off, a
/// network's or pool's destroy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StopOptions {}

/// Options for reading a network's DHCP leases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LeaseOptions {
    /// Only the leases of this MAC address.
    pub mac: Option<virtkit_model::MacAddress>,
}
setters!(LeaseOptions { mac: virtkit_model::MacAddress });

/// Where a domain's interface addresses are read from (virsh's
/// `domifaddr --source`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AddressSource {
    /// The DHCP leases of the networks the interfaces are on.
    #[default]
    Lease,
    /// The guest agent.
    Agent,
    /// The host's ARP table.
    Arp,
}

impl AddressSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressSource::Lease => "lease",
            AddressSource::Agent => "agent",
            AddressSource::Arp => "arp",
        }
    }
}

impl std::fmt::Display for AddressSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressSource::Lease => "DHCP leases",
            AddressSource::Agent => "guest agent",
            AddressSource::Arp => "ARP table",
        })
    }
}

impl std::str::FromStr for AddressSource {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "lease" => Ok(AddressSource::Lease),
            "agent" => Ok(AddressSource::Agent),
            "arp" => Ok(AddressSource::Arp),
            _ => Err(format!("'{s}' is not an address source (lease, agent, arp)")),
        }
    }
}

/// Options for reading a domain's interface addresses (`domifaddr`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InterfaceAddressOptions {
    pub source: AddressSource,
}
setters!(InterfaceAddressOptions { source: AddressSource });

/// Options for changing part of a network (`net-update`): which of its
/// definitions the change goes to, as libvirt's
/// `VIR_NETWORK_UPDATE_AFFECT_*` flags. Neither `live` nor `config` is
/// libvirt's `current`: the running definition of an active network, the
/// stored one of an inactive network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NetworkUpdateOptions {
    /// Change the running network (it must be active).
    pub live: bool,
    /// Change the stored definition (the network must be persistent).
    pub config: bool,
    /// Refuse (with `Conflict`) unless the network is at this generation.
    pub expected_generation: Option<u64>,
}
setters!(NetworkUpdateOptions { live: bool, config: bool, expected_generation: u64 });

/// Refuses a build asked of a kind that is not built: only pools are
/// (`pool-create --build`, `pool-start --build`).
pub fn only_pools_are_built(kind: ObjectKind, build: Option<&BuildOptions>) -> crate::Result<()> {
    if build.is_some() && kind != ObjectKind::Pool {
        return Err(crate::Error::new(
            crate::ErrorKind::InvalidArgument,
            format!("only storage pools are built, not {}s", kind.noun()),
        ));
    }
    Ok(())
}

/// Options for building a pool's storage (`pool-build`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Write over whatever is there.
    pub overwrite: bool,
    /// Refuse if something is there.
    pub no_overwrite: bool,
}
setters!(BuildOptions { overwrite: bool, no_overwrite: bool });

/// Options for deleting a pool's storage, or a volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeleteOptions {}

/// Options for refreshing a pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefreshOptions {}

/// Options for making a volume (`vol-create`, `vol-create-from`,
/// `vol-clone`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeCreateOptions {
    /// Copy this volume's content (of any active pool).
    pub from: Option<uuid::Uuid>,
    /// Preallocate a qcow2 image's metadata (`--prealloc-metadata`);
    /// refused for other formats.
    pub prealloc_metadata: bool,
}
setters!(VolumeCreateOptions { from: uuid::Uuid, prealloc_metadata: bool });

/// Options for resizing a volume (`vol-resize`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResizeOptions {
    /// The size is added to the current capacity.
    pub delta: bool,
    /// Allow a smaller capacity (data past it is lost).
    pub shrink: bool,
    /// Allocate the new space now.
    pub allocate: bool,
}
setters!(ResizeOptions { delta: bool, shrink: bool, allocate: bool });

word_enum! {
    /// What a volume's data is overwritten with (virsh's `vol-wipe
    /// --algorithm`).
    pub enum WipeAlgorithm {
        /// Zeros, once.
        Zero = "zero",
        /// Random bytes from the kernel, once.
        Random = "random",
    }
}

// The variants come from `word_enum!`, which cannot mark a `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for WipeAlgorithm {
    fn default() -> Self {
        WipeAlgorithm::Zero
    }
}

/// Options for wiping a volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WipeOptions {
    pub algorithm: WipeAlgorithm,
}
setters!(WipeOptions { algorithm: WipeAlgorithm });

/// Options for uploading to or downloading from a volume: a byte range
/// (`length` 0: to the end).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TransferOptions {
    pub offset: u64,
    pub length: u64,
}
setters!(TransferOptions { offset: u64, length: u64 });

/// Options for watching events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Deliver every event after this revision (typically the revision of a
    /// list just taken). `None`: only events from now on.
    pub from_revision: Option<u64>,
    /// Only events of these kinds of object (empty: every kind).
    pub kinds: Vec<ObjectKind>,
}
setters!(WatchOptions { from_revision: u64, kinds: Vec<ObjectKind> });

/// Options for setting or reading a secret's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecretValueOptions {}
