//! The registry: every object of every kind, one revision counter and one
//! bounded history of events, all behind one short lock. Every change and
//! the revision it bumps happen under that lock, so a list taken under it is
//! never torn and a watcher sees every change once, in order.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::DomainKind;
use crate::engine::Inner;
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Kind, Table};
use crate::network::NetworkKind;
use crate::secret::SecretKind;
use crate::storage::PoolKind;
use crate::types::{Event, EventDetail, EventKind, ObjectKind};
use crate::volume::VolumeKind;

pub(crate) struct Registry {
    pub(crate) revision: u64,
    history: VecDeque<Event>,
    history_cap: usize,
    /// The next running domain's id.
    pub(crate) next_id: u32,
    pub(crate) domains: Table<DomainKind>,
    pub(crate) networks: Table<NetworkKind>,
    pub(crate) pools: Table<PoolKind>,
    /// Volumes of active pools, each under its pool.
    pub(crate) volumes: Table<VolumeKind>,
    pub(crate) secrets: Table<SecretKind>,
}

impl Registry {
    pub(crate) fn new(history: usize) -> Registry {
        Registry {
            revision: 0,
            history: VecDeque::with_capacity(history.min(4096)),
            history_cap: history.max(1),
            next_id: 1,
            domains: Table::default(),
            networks: Table::default(),
            pools: Table::default(),
            volumes: Table::default(),
            secrets: Table::default(),
        }
    }

    /// Records a change of object `uuid` of kind `K`: bumps the revision
    /// and keeps the event, which carries the object's state now.
    pub(crate) fn emit<K: Kind>(&mut self, uuid: &Uuid, kind: EventKind, detail: EventDetail, tx: &watch::Sender<u64>) {
        let Some(r) = K::table(self).get_any(uuid) else { return };
        let mut ev = Event::of(K::OBJECT, r.uuid, r.name.clone(), kind, detail).with_state(K::event_state(&r.state));
        if let Some(p) = K::parent_name(self, r) {
            ev = ev.with_pool(p);
        }
        self.revision += 1;
        ev = ev.with_revision(self.revision);
        if self.history.len() == self.history_cap {
            self.history.pop_front();
        }
        self.history.push_back(ev);
        tx.send_replace(self.revision);
    }

    /// The revision of the oldest event kept (one past the latest when
    /// none is).
    fn oldest(&self) -> u64 {
        self.history.front().map_or(self.revision + 1, |e| e.revision)
    }
}

/// A stream of events, each once, in revision order, with no gaps (of the
/// kinds it was asked for).
pub struct Watcher {
    pub(crate) inner: Arc<Inner>,
    pub(crate) cursor: u64,
    pub(crate) rx: watch::Receiver<u64>,
    pub(crate) pending: VecDeque<Event>,
    /// Only these kinds (empty: every kind).
    pub(crate) kinds: Vec<ObjectKind>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("cursor", &self.cursor).finish_non_exhaustive()
    }
}

impl Watcher {
    /// The revision of the last event delivered (or the starting revision).
    pub fn revision(&self) -> u64 {
        self.cursor
    }

    /// The next event, waiting for one if needed. `RevisionGone` when
    /// events after the cursor were dropped from the bounded history: list
    /// again and watch from the new revision.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            self.rx.borrow_and_update();
            if let Some(e) = self.try_next()? {
                return Ok(e);
            }
            if self.rx.changed().await.is_err() {
                return Err(Error::new(ErrorKind::Disconnected, "the engine has shut down"));
            }
        }
    }

    /// The next event if one is ready, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        loop {
            if self.pending.is_empty() {
                let reg = self.inner.lock();
                let oldest = reg.oldest();
                if self.cursor + 1 < oldest {
                    return Err(Error::new(
                        ErrorKind::RevisionGone,
                        format!("events after revision {} are no longer kept (oldest is {oldest})", self.cursor),
                    ));
                }
                let skip = usize::try_from((self.cursor + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
                self.pending.extend(reg.history.iter().skip(skip).take(256).cloned());
            }
            let Some(e) = self.pending.pop_front() else { return Ok(None) };
            self.cursor = e.revision;
            if self.kinds.is_empty() || self.kinds.contains(&e.object) {
                return Ok(Some(e));
            }
        }
    }
}
