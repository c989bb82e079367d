//! Events: what happened to which kind of object, and its state after.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ResourceState, State, StateReason};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DomainState;

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
}
