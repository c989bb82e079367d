//! `net-update`: one change to one part of a network (a static DHCP host,
//! a DNS entry, a DHCP range …), to its running definition, its stored one
//! or both, as libvirt's `networkUpdate` makes it: made whole or not at
//! all, one revision and one event.
//!
//! The change is made to copies first (the model reads the element and
//! checks the result); then the stored definition is written, then the
//! network driver applies the live change to the running network, then its
//! runtime status is written. When a step fails, those before it are undone,
//! and a failure to undo is reported beside the error.

use std::sync::Arc;

use uuid::Uuid;
use virtkit_model::network::{Network, NetworkUpdate, NetworkUpdateError, NetworkUpdated};

use crate::engine::{Engine, Inner};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{ObjRef, Record};
use crate::lifecycle::{Activated, Lifecycle};
use crate::network::NetworkKind;
use crate::network_driver::ActiveNet;
use crate::options::NetworkUpdateOptions;
use crate::types::{EventDetail, EventKind, JobKind, NetworkInfo, ObjectKind, ResourceState};

impl Engine {
    /// Changes one part of a network (`virsh net-update`): by default the
    /// running definition of an active network, the stored one of an
    /// inactive one; `opts.live` and `opts.config` say which. Refused,
    /// with nothing changed: a live change to an inactive network, a
    /// stored one to a transient network, an element the model refuses (a
    /// typo, a DHCP host already there, one to delete that is not).
    pub async fn update_network(
        &self,
        uuid: Uuid,
        update: NetworkUpdate,
        opts: NetworkUpdateOptions,
    ) -> Result<NetworkInfo> {
        self.run(move |i| async move { i.update_network(uuid, &update, &opts).await }).await
    }
}

/// A definition before and after the change.
struct Changed {
    old: Arc<Network>,
    new: Arc<Network>,
    done: NetworkUpdated,
}

/// What an update changes, decided under the registry lock.
struct Targets {
    live: Option<(Arc<Network>, serde_json::Value)>,
    config: Option<Arc<Network>>,
    generation: u64,
    autostart: bool,
}

/// Which definitions `opts` asks for, checked against the network's state.
fn targets(r: &Record<NetworkKind>, opts: &NetworkUpdateOptions) -> Result<Targets> {
    let what = r.what();
    let active = r.active();
    // libvirt's VIR_NETWORK_UPDATE_AFFECT_CURRENT.
    let (live, config) = if opts.live || opts.config { (opts.live, opts.config) } else { (active, !active) };
    if let Some(g) = opts.expected_generation.filter(|g| *g != r.generation) {
        return Err(Error::new(ErrorKind::Conflict, format!("{what} is at generation {}, not {g}", r.generation)));
    }
    let live = match (live, &r.live) {
        (false, _) => None,
        (true, Some(l)) if active => Some((l.clone(), r.data.clone())),
        (true, _) => return Err(Error::state(format!("{what} is not active: it has no live definition to update"))),
    };
    let config = match (config, &r.config) {
        (false, _) => None,
        (true, Some(c)) => Some(c.clone()),
        (true, None) => {
            return Err(Error::state(format!("{what} is transient: it has no stored definition to update")));
        }
    };
    Ok(Targets { live, config, generation: r.generation, autostart: r.autostart })
}

/// The model's refusal as the API's error.
fn refused(e: NetworkUpdateError) -> Error {
    use NetworkUpdateError as U;
    let kind = match &e {
        U::Element { errors, .. } | U::Invalid { errors, .. } => return Error::invalid_part(&e, errors.clone()),
        U::SectionUnsupported { .. } | U::CommandUnsupported(_) => ErrorKind::Unsupported,
        U::NotFound(_) => ErrorKind::NotFound,
        U::Exists(_) => ErrorKind::AlreadyExists,
        U::InUse(_) => ErrorKind::InvalidState,
        _ => ErrorKind::InvalidArgument,
    };
    Error::new(kind, e.to_string())
}

fn apply(old: Arc<Network>, update: &NetworkUpdate) -> Result<Changed> {
    let mut new = (*old).clone();
    let done = new.apply_update(update).map_err(refused)?;
    Ok(Changed { old, new: Arc::new(new), done })
}

/// `e`, with the failure of undoing what came before it beside it.
fn beside(e: Error, undo: Result<()>) -> Error {
    let Err(c) = undo else { return e };
    // After the failures already beside it, if any.
    let c = match e.cleanup() {
        Some(first) => beside(first.clone(), Err(c)),
        None => c,
    };
    e.with_cleanup(c)
}

impl Inner {
    pub(crate) async fn update_network(
        &self,
        uuid: Uuid,
        update: &NetworkUpdate,
        opts: &NetworkUpdateOptions,
    ) -> Result<NetworkInfo> {
        let (_job, obj) = self.job::<NetworkKind>(&uuid, JobKind::Update).await?;
        let t = {
            let reg = self.lock();
            targets(reg.networks.get(&uuid)?, opts)?
        };
        // Both copies are changed before anything is written.
        let config = t.config.map(|c| apply(c, update)).transpose()?;
        let live = match t.live {
            Some((l, data)) => Some((apply(l, update)?, data)),
            None => None,
        };
        let generation = t.generation + u64::from(config.is_some());
        if let (Some(c), Some(store)) = (&config, &self.store) {
            store.save_def(ObjectKind::Network, generation, t.autostart, c.new.as_ref())?;
        }
        let restore_config = || -> Result<()> {
            match (&config, &self.store) {
                (Some(c), Some(store)) => {
                    store.save_def(ObjectKind::Network, t.generation, t.autostart, c.old.as_ref())
                }
                _ => Ok(()),
            }
        };
        let live = match live {
            Some((l, data)) => match self.update_running(&obj, &l, &data).await {
                Ok(new_data) => Some((l, new_data)),
                Err(e) => return Err(beside(e, restore_config())),
            },
            None => None,
        };
        let mut reg = self.lock();
        let r = reg.networks.get_mut(&uuid)?;
        let stored = config.is_some();
        if let Some(c) = config {
            r.config = Some(c.new);
            r.generation = generation;
        }
        if let Some((l, data)) = live {
            r.live = Some(l.new);
            r.data = data;
        }
        // A change to the stored definition is a define; one to the running network alone, a change.
        let kind = if stored { EventKind::Defined } else { EventKind::Changed };
        self.emit::<NetworkKind>(&mut reg, &uuid, kind, EventDetail::Updated);
        Ok(NetworkKind::answer(&reg, reg.networks.get(&uuid)?))
    }

    /// Has the network driver apply the change to the running network and
    /// stores its runtime status; its new data. When the status cannot be
    /// stored, the driver takes the change back.
    async fn update_running(&self, obj: &ObjRef, l: &Changed, data: &serde_json::Value) -> Result<serde_json::Value> {
        let driver = self.network_driver()?.clone();
        let new_data = driver.update(ActiveNet { net: obj, live: &l.new, data }, &l.done).await?;
        let Some(store) = &self.store else { return Ok(new_data) };
        let active = Activated::<NetworkKind> { live: l.new.clone(), state: ResourceState::Active, data: new_data };
        let saved = Inner::run_file(&obj.name, Uuid::nil(), &active, None)
            .and_then(|f| store.save_run(ObjectKind::Network, &obj.uuid, &f));
        match saved {
            Ok(()) => Ok(active.data),
            Err(e) => {
                let back = driver.update(ActiveNet { net: obj, live: &l.old, data: &active.data }, &l.done).await;
                Err(beside(e, back.map(drop)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_to_undo_are_kept_in_order_beside_the_error() {
        let e = Error::new(ErrorKind::Io, "cannot store");
        let e = beside(e, Ok(()));
        assert!(e.cleanup().is_none());
        let e = beside(e, Err(Error::new(ErrorKind::Driver, "a")));
        let e = beside(e, Err(Error::new(ErrorKind::Io, "b")));
        let e = beside(e, Err(Error::new(ErrorKind::Io, "c")));
        assert_eq!(
            e.to_string(),
            "cannot store (and cleaning up failed: a (and cleaning up failed: b (and cleaning up failed: c)))"
        );
    }
}
