//! Domains: their states and reasons, what a list shows of one, statistics.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JobInfo, List};

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

/// Every domain a list asked for.
pub type DomainList = List<DomainInfo>;

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
    fn words_round_trip() {
        for s in DomainState::ALL {
            assert_eq!(s.as_str().parse::<DomainState>(), Ok(*s));
        }
        assert!("runing".parse::<DomainState>().is_err());
    }
}
