//! The values the API hands out: states and their reasons, domain info and
//! statistics, events, host facts. Public through the `virtkit` crate.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Generates a word enum with `as_str`, `FromStr`, `Display` and serde as the word.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> ::std::result::Result<Self, String> {
                match s {
                    $($word => ::std::result::Result::Ok($name::$variant),)+
                    _ => ::std::result::Result::Err(format!(
                        "'{s}' is not one of {}",
                        [$($word),+].join(", ")
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

word_enum! {
    /// A domain's state, as libvirt has them.
    pub enum DomainState {
        Running = "running",
        Paused = "paused",
        /// Being shut down: the guest was asked and has not finished.
        ShuttingDown = "shutting-down",
        Shutoff = "shutoff",
        Crashed = "crashed",
        /// Suspended by guest power management (sleeping).
        PmSuspended = "pmsuspended",
    }
}

impl DomainState {
    /// libvirt's `virDomainState` number.
    pub fn libvirt_code(self) -> i32 {
        match self {
            DomainState::Running => 1,
            DomainState::Paused => 3,
            DomainState::ShuttingDown => 4,
            DomainState::Shutoff => 5,
            DomainState::Crashed => 6,
            DomainState::PmSuspended => 7,
        }
    }

    /// Whether a hypervisor process (or simulation) exists for the domain.
    pub fn is_active(self) -> bool {
        !matches!(self, DomainState::Shutoff)
    }

    /// How virsh writes the state.
    pub fn display_name(self) -> &'static str {
        match self {
            DomainState::Running => "running",
            DomainState::Paused => "paused",
            DomainState::ShuttingDown => "in shutdown",
            DomainState::Shutoff => "shut off",
            DomainState::Crashed => "crashed",
            DomainState::PmSuspended => "pmsuspended",
        }
    }
}

word_enum! {
    /// Why a domain is in its state. Each state has its own set, as in
    /// libvirt; [`StateReason::libvirt_code`] gives libvirt's number.
    pub enum StateReason {
        Unknown = "unknown",
        // running
        Booted = "booted",
        Migrated = "migrated",
        Restored = "restored",
        FromSnapshot = "from-snapshot",
        Unpaused = "unpaused",
        MigrationCanceled = "migration-canceled",
        SaveCanceled = "save-canceled",
        Wakeup = "wakeup",
        // paused
        User = "user",
        Migration = "migration",
        Save = "save",
        Dump = "dump",
        IoError = "ioerror",
        Watchdog = "watchdog",
        ShuttingDown = "shutting-down",
        Snapshot = "snapshot",
        StartingUp = "starting-up",
        ApiError = "api-error",
        // shutoff
        Shutdown = "shutdown",
        Destroyed = "destroyed",
        Crashed = "crashed",
        Saved = "saved",
        Failed = "failed",
        Daemon = "daemon",
        // crashed
        Panicked = "panicked",
    }
}

impl StateReason {
    /// libvirt's reason number for this reason in `state`, or `None` when
    /// libvirt has no such reason for that state.
    pub fn libvirt_code(self, state: DomainState) -> Option<i32> {
        use StateReason as R;
        let table: &[(R, i32)] = match state {
            DomainState::Running => &[
                (R::Unknown, 0),
                (R::Booted, 1),
                (R::Migrated, 2),
                (R::Restored, 3),
                (R::FromSnapshot, 4),
                (R::Unpaused, 5),
                (R::MigrationCanceled, 6),
                (R::SaveCanceled, 7),
                (R::Wakeup, 8),
                (R::Crashed, 9),
            ],
            DomainState::Paused => &[
                (R::Unknown, 0),
                (R::User, 1),
                (R::Migration, 2),
                (R::Save, 3),
                (R::Dump, 4),
                (R::IoError, 5),
                (R::Watchdog, 6),
                (R::FromSnapshot, 7),
                (R::ShuttingDown, 8),
                (R::Snapshot, 9),
                (R::Crashed, 10),
                (R::StartingUp, 11),
                (R::ApiError, 14),
            ],
            DomainState::ShuttingDown => &[(R::Unknown, 0), (R::User, 1)],
            DomainState::Shutoff => &[
                (R::Unknown, 0),
                (R::Shutdown, 1),
                (R::Destroyed, 2),
                (R::Crashed, 3),
                (R::Migrated, 4),
                (R::Saved, 5),
                (R::Failed, 6),
                (R::FromSnapshot, 7),
                (R::Daemon, 8),
            ],
            DomainState::Crashed => &[(R::Unknown, 0), (R::Panicked, 1)],
            DomainState::PmSuspended => &[(R::Unknown, 0)],
        };
        table.iter().find(|(r, _)| *r == self).map(|(_, c)| *c)
    }
}

/// A domain's state with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct State {
    pub state: DomainState,
    pub reason: StateReason,
}

impl State {
    pub const fn new(state: DomainState, reason: StateReason) -> Self {
        State { state, reason }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.state, self.reason)
    }
}

/// One domain as a list or lookup shows it: identity, state, and (when
/// asked for) statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DomainInfo {
    pub uuid: Uuid,
    pub name: String,
    /// The running id (informational; domains are addressed by UUID).
    pub id: Option<u32>,
    pub state: DomainState,
    pub reason: StateReason,
    /// Has a stored definition (survives being stopped).
    pub persistent: bool,
    pub autostart: bool,
    /// Bumped by every change to the stored definition.
    pub generation: u64,
    /// Memory at boot, bytes.
    pub memory: u64,
    pub vcpus: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<DomainStats>,
    /// The job it is busy with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobInfo>,
}

impl DomainInfo {
    /// A shut off domain with nothing else known (set the fields after).
    pub fn new(uuid: Uuid, name: impl Into<String>) -> Self {
        DomainInfo {
            uuid,
            name: name.into(),
            id: None,
            state: DomainState::Shutoff,
            reason: StateReason::Unknown,
            persistent: false,
            autostart: false,
            generation: 0,
            memory: 0,
            vcpus: 0,
            stats: None,
            job: None,
        }
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

/// Statistics of one domain. Counters are cumulative since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DomainStats {
    /// CPU time used by the guest, nanoseconds.
    pub cpu_time_ns: u64,
    pub vcpus: u16,
    /// Memory the guest has now (balloon), bytes.
    pub memory_current: u64,
    /// The most memory it may have, bytes.
    pub memory_max: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block: Vec<BlockStats>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net: Vec<NetStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlockStats {
    /// Target device name (`vda`).
    pub dev: String,
    pub rd_reqs: u64,
    pub rd_bytes: u64,
    pub wr_reqs: u64,
    pub wr_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NetStats {
    /// Host-side device name, or the MAC address when there is none.
    pub dev: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

word_enum! {
    /// What happened to an object (libvirt's lifecycle event kinds, and a few for storage).
    pub enum EventKind {
        Defined = "defined",
        Undefined = "undefined",
        Started = "started",
        Suspended = "suspended",
        Resumed = "resumed",
        Stopped = "stopped",
        /// The guest was asked to shut down, or finished shutting down.
        Shutdown = "shutdown",
        PmSuspended = "pmsuspended",
        Crashed = "crashed",
        /// A setting outside the definition changed (autostart), or the
        /// object's content did (a volume written, a network's live hosts).
        Changed = "changed",
        /// Something was made: a pool built, a volume created.
        Created = "created",
        /// Something was removed from the host: a pool's storage, a volume.
        Deleted = "deleted",
    }
}

word_enum! {
    /// The detail of an event, libvirt's event detail codes by name.
    pub enum EventDetail {
        // defined
        Added = "added",
        Updated = "updated",
        // undefined
        Removed = "removed",
        // started
        Booted = "booted",
        Restored = "restored",
        Wakeup = "wakeup",
        // suspended
        Paused = "paused",
        // resumed
        Unpaused = "unpaused",
        // stopped
        Shutdown = "shutdown",
        Destroyed = "destroyed",
        Crashed = "crashed",
        Failed = "failed",
        Saved = "saved",
        // shutdown
        Requested = "requested",
        Finished = "finished",
        Guest = "guest",
        Host = "host",
        // pmsuspended
        Memory = "memory",
        // crashed
        Panicked = "panicked",
        // changed
        Autostart = "autostart",
        // suspended/resumed by a reset, reboot
        Reset = "reset",
        Rebooted = "rebooted",
        Migrated = "migrated",
        // pools and volumes
        Built = "built",
        Refreshed = "refreshed",
        Resized = "resized",
        Wiped = "wiped",
        Uploaded = "uploaded",
        Cloned = "cloned",
        // a network stopped with guests on it: their ports are detached
        PortsDetached = "ports-detached",
        // changed: a secret's value was set
        ValueChanged = "value-changed",
    }
}

word_enum! {
    /// The kinds of object a host holds.
    pub enum ObjectKind {
        Domain = "domain",
        Network = "network",
        Pool = "pool",
        Volume = "volume",
        Secret = "secret",
    }
}

impl ObjectKind {
    /// How a message names an object of this kind ("storage pool 'x'").
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Domain => "domain",
            ObjectKind::Network => "network",
            ObjectKind::Pool => "storage pool",
            ObjectKind::Volume => "storage volume",
            ObjectKind::Secret => "secret",
        }
    }
}

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

/// An object's state as an event reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ObjectState {
    Domain(State),
    Resource(ResourceState),
}

impl ObjectState {
    /// The state's word (`running`, `active` …).
    pub fn word(&self) -> &'static str {
        match self {
            ObjectState::Domain(s) => s.state.as_str(),
            ObjectState::Resource(s) => s.as_str(),
        }
    }

    /// The domain state, for a domain's event.
    pub fn domain(&self) -> Option<State> {
        match self {
            ObjectState::Domain(s) => Some(*s),
            ObjectState::Resource(_) => None,
        }
    }
}

impl fmt::Display for ObjectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectState::Domain(s) => s.fmt(f),
            ObjectState::Resource(s) => s.fmt(f),
        }
    }
}

/// One change, with the revision it made. Revisions are global to a host
/// (every kind of object shares them) and increase by one per change, with
/// no gaps. Its JSON form is flat: `state` is the state's word, `reason` is
/// there for domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "EventJson", try_from = "EventJson")]
#[non_exhaustive]
pub struct Event {
    pub revision: u64,
    /// What kind of object changed.
    pub object: ObjectKind,
    pub uuid: Uuid,
    pub name: String,
    /// For a volume, the name of its pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    pub kind: EventKind,
    pub detail: EventDetail,
    /// The object's state after the change.
    pub state: ObjectState,
}

/// [`Event`] as JSON has it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson {
    revision: u64,
    object: ObjectKind,
    uuid: Uuid,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pool: Option<String>,
    kind: EventKind,
    detail: EventDetail,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<StateReason>,
}

impl From<Event> for EventJson {
    fn from(e: Event) -> Self {
        let (state, reason) = match e.state {
            ObjectState::Domain(s) => (s.state.as_str().to_owned(), Some(s.reason)),
            ObjectState::Resource(r) => (r.as_str().to_owned(), None),
        };
        EventJson {
            revision: e.revision,
            object: e.object,
            uuid: e.uuid,
            name: e.name,
            pool: e.pool,
            kind: e.kind,
            detail: e.detail,
            state,
            reason,
        }
    }
}

impl TryFrom<EventJson> for Event {
    type Error = String;
    fn try_from(j: EventJson) -> Result<Self, String> {
        let state = if j.object == ObjectKind::Domain {
            ObjectState::Domain(State::new(j.state.parse()?, j.reason.unwrap_or(StateReason::Unknown)))
        } else {
            ObjectState::Resource(j.state.parse()?)
        };
        Ok(Event {
            revision: j.revision,
            object: j.object,
            uuid: j.uuid,
            name: j.name,
            pool: j.pool,
            kind: j.kind,
            detail: j.detail,
            state,
        })
    }
}

impl Event {
    /// A domain's event.
    pub fn new(
        revision: u64,
        uuid: Uuid,
        name: impl Into<String>,
        kind: EventKind,
        detail: EventDetail,
        state: State,
    ) -> Self {
        Event {
            revision,
            object: ObjectKind::Domain,
            uuid,
            name: name.into(),
            pool: None,
            kind,
            detail,
            state: ObjectState::Domain(state),
        }
    }

    /// An event of any kind of object.
    #[must_use]
    pub fn of(object: ObjectKind, uuid: Uuid, name: impl Into<String>, kind: EventKind, detail: EventDetail) -> Self {
        let state = ObjectState::Resource(ResourceState::Inactive);
        Event { revision: 0, object, uuid, name: name.into(), pool: None, kind, detail, state }
    }

    #[must_use]
    pub fn with_revision(mut self, revision: u64) -> Self {
        self.revision = revision;
        self
    }

    #[must_use]
    pub fn with_state(mut self, state: ObjectState) -> Self {
        self.state = state;
        self
    }

    #[must_use]
    pub fn with_pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }
}

/// One consistent snapshot of every object of a kind that a list asked for,
/// with the revision it shows: watch from that revision to see every later
/// change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct List<T> {
    pub revision: u64,
    pub items: Vec<T>,
}

impl<T> List<T> {
    pub fn new(revision: u64, items: Vec<T>) -> Self {
        List { revision, items }
    }
}

/// Every domain a list asked for.
pub type DomainList = List<DomainInfo>;

word_enum! {
    /// What a job does.
    pub enum JobKind {
        Define = "define",
        Undefine = "undefine",
        Start = "start",
        Stop = "stop",
        Shutdown = "shutdown",
        Reboot = "reboot",
        Reset = "reset",
        Suspend = "suspend",
        Resume = "resume",
        Autostart = "autostart",
        Update = "update",
        Build = "build",
        Refresh = "refresh",
        Delete = "delete",
        Create = "create",
        Clone = "clone",
        Upload = "upload",
        Download = "download",
        Wipe = "wipe",
        Resize = "resize",
        /// A secret's value is being set.
        SetValue = "set-value",
    }
}

impl JobKind {
    /// Whether this job may take long enough to be watched and cancelled.
    pub fn is_long(self) -> bool {
        matches!(
            self,
            JobKind::Build | JobKind::Create | JobKind::Clone | JobKind::Upload | JobKind::Download | JobKind::Wipe
        )
    }
}

/// The job an object is busy with, as a query sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobInfo {
    pub kind: JobKind,
    /// When it began, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Progress: units done of `total` (bytes for data jobs; 0 of 0 when
    /// the job cannot tell).
    pub done: u64,
    pub total: u64,
    /// Whether it can be cancelled.
    pub cancellable: bool,
    /// Operations allowed on the object meanwhile (queries always are).
    pub allows: Vec<JobKind>,
}

impl JobInfo {
    /// A job of `kind` begun at `started_ms`, with nothing done yet (set
    /// the other fields after).
    pub fn new(kind: JobKind, started_ms: u64) -> Self {
        JobInfo { kind, started_ms, done: 0, total: 0, cancellable: kind.is_long(), allows: Vec::new() }
    }
}

/// Facts about the host a driver runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostInfo {
    pub hostname: String,
    pub arch: String,
    pub cpus: u32,
    /// MHz.
    pub cpu_mhz: u32,
    pub cpu_model: String,
    pub memory: u64,
}

impl HostInfo {
    pub fn new(hostname: impl Into<String>, arch: impl Into<String>, cpus: u32, memory: u64) -> Self {
        HostInfo { hostname: hostname.into(), arch: arch.into(), cpus, cpu_mhz: 0, cpu_model: String::new(), memory }
    }
}

/// What a driver can do, so clients can ask before they try.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The driver's name (`test`, `qemu`).
    pub driver: String,
    /// Domain types it runs (`qemu`, `kvm`, `lxc`, `test`).
    pub domain_types: Vec<String>,
    /// Shutdown modes it supports (`acpi`, `agent`).
    pub shutdown_modes: Vec<String>,
    pub suspend: bool,
    pub reboot: bool,
    pub reset: bool,
    pub autostart: bool,
    pub persistent: bool,
    pub stats: bool,
    /// Why a domain type is unavailable on this host, by type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<(String, String)>,
    /// Storage pool types the host runs (`dir`, `fs`, `iscsi-direct` …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pool_types: Vec<String>,
}

/// A version triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, micro: u32) -> Self {
        Version { major, minor, micro }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libvirt_codes() {
        assert_eq!(DomainState::Shutoff.libvirt_code(), 5);
        assert_eq!(StateReason::Destroyed.libvirt_code(DomainState::Shutoff), Some(2));
        assert_eq!(StateReason::Booted.libvirt_code(DomainState::Running), Some(1));
        assert_eq!(StateReason::User.libvirt_code(DomainState::Paused), Some(1));
        assert_eq!(StateReason::Booted.libvirt_code(DomainState::Shutoff), None);
    }

    #[test]
    fn events_are_flat_in_json() {
        let u = Uuid::from_u128(1);
        let e = Event::new(
            4,
            u,
            "a",
            EventKind::Started,
            EventDetail::Booted,
            State::new(DomainState::Running, StateReason::Booted),
        );
        let j = serde_json::to_string(&e).unwrap_or_default();
        assert_eq!(
            j,
            format!(
                r#"{{"revision":4,"object":"domain","uuid":"{u}","name":"a","kind":"started","detail":"booted","state":"running","reason":"booted"}}"#
            )
        );
        assert_eq!(serde_json::from_str::<Event>(&j).ok(), Some(e));
        let v = Event::of(ObjectKind::Volume, u, "v", EventKind::Created, EventDetail::Cloned)
            .with_pool("p")
            .with_state(ObjectState::Resource(ResourceState::Active))
            .with_revision(9);
        let j = serde_json::to_string(&v).unwrap_or_default();
        assert!(
            j.contains(r#""object":"volume""#) && j.contains(r#""pool":"p""#) && j.contains(r#""state":"active""#),
            "{j}"
        );
        assert!(!j.contains("reason"), "{j}");
        assert_eq!(serde_json::from_str::<Event>(&j).ok(), Some(v));
    }

    #[test]
    fn words_round_trip() {
        for s in DomainState::ALL {
            assert_eq!(s.as_str().parse::<DomainState>(), Ok(*s));
        }
        assert!("runing".parse::<DomainState>().is_err());
    }
}
