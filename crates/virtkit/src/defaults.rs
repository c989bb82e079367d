//! What a host's first open defines (the system daemon asks for it): the
//! `default` network and the `default` storage pool, each once. A marker
//! file says it was done, so that a user who undefines one keeps it
//! undefined, as with libvirt.

use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;
use virtkit_engine::types::ObjectKind;
use virtkit_engine::{Def, Engine};
use virtkit_model::network::Network;
use virtkit_model::storage::{Pool, PoolTarget, PoolType};

use crate::{Error, ErrorKind, Result};

/// Defines and starts the host's `default` network (`&default-network=1`)
/// unless a network of that name exists or it was defined once already.
pub(crate) async fn default_network(
    engine: &Engine,
    driver: &virtkit_network::LinuxNetworkDriver,
    marker: &Path,
) -> Result<()> {
    define_once(engine, DefaultNetwork { driver, others: Vec::new() }, marker).await
}

/// Defines, builds and starts the host's `default` storage pool, a
/// directory of images at `dir` (`&default-pool=DIR`; virt-install puts
/// new disks there), autostarted: unless a pool of that name exists, or
/// one whose target is `dir`, or it was defined once already.
pub(crate) async fn default_pool(engine: &Engine, dir: &Path, marker: &Path) -> Result<()> {
    define_once(engine, DefaultPool { dir }, marker).await
}

/// What the `default` object of one kind has of its own; the rest is
/// [`define_once`].
trait DefaultObject {
    const KIND: ObjectKind;

    /// Looks at an object of the kind not named `default`: whether it
    /// stands in for the default one, so none is defined.
    fn stands_in(&mut self, name: &str, def: Def) -> bool;

    /// The definition to store.
    async fn definition(&mut self) -> Result<Def>;

    /// Makes the defined object run.
    async fn start(&self, engine: &Engine, uuid: Uuid) -> Result<()>;
}

/// Unless `marker` is there or an object of the kind is named `default` (or
/// stands in for it): defines it, writes `marker`, sets it to autostart and
/// starts it (a start that fails is only warned of).
async fn define_once<D: DefaultObject>(engine: &Engine, mut object: D, marker: &Path) -> Result<()> {
    if marker.exists() {
        return Ok(());
    }
    let listed = engine.list_objects(D::KIND, Default::default()).await?;
    for info in &listed.items {
        if info.name() == "default" {
            return mark(marker);
        }
        let def = engine.object_definition(D::KIND, info.uuid(), Default::default())?;
        if object.stands_in(info.name(), def) {
            return mark(marker);
        }
    }
    let def = object.definition().await?;
    let info = engine.define_object(def, Default::default()).await?;
    mark(marker)?;
    engine.set_object_autostart(D::KIND, info.uuid(), true, Default::default()).await?;
    if let Err(e) = object.start(engine, info.uuid()).await {
        tracing::warn!("{} 'default' is defined but did not start: {e}", D::KIND.noun());
    }
    Ok(())
}

/// The network driver picks its subnet, clear of the `others` it is given.
struct DefaultNetwork<'a> {
    driver: &'a virtkit_network::LinuxNetworkDriver,
    others: Vec<Arc<Network>>,
}

impl DefaultObject for DefaultNetwork<'_> {
    const KIND: ObjectKind = ObjectKind::Network;

    fn stands_in(&mut self, _name: &str, def: Def) -> bool {
        if let Def::Network(n) = def {
            self.others.push(Arc::new(*n));
        }
        false
    }

    async fn definition(&mut self) -> Result<Def> {
        let (def, note) = self.driver.default_network(&self.others).await?;
        if let Some(note) = note {
            tracing::warn!("{note}");
        }
        Ok(Def::Network(Box::new(def)))
    }

    async fn start(&self, engine: &Engine, uuid: Uuid) -> Result<()> {
        engine.start_object(Self::KIND, uuid, Default::default()).await.map(drop)
    }
}

/// A directory pool at `dir`, built first when `dir` is not there.
struct DefaultPool<'a> {
    dir: &'a Path,
}

impl DefaultObject for DefaultPool<'_> {
    const KIND: ObjectKind = ObjectKind::Pool;

    fn stands_in(&mut self, name: &str, def: Def) -> bool {
        let Def::Pool(p) = def else { return false };
        let same = p.target.as_ref().and_then(|t| t.path.as_deref()).is_some_and(|t| Path::new(t) == self.dir);
        if same {
            tracing::info!("no default storage pool: pool '{name}' has {} already", self.dir.display());
        }
        same
    }

    async fn definition(&mut self) -> Result<Def> {
        let def = Pool::new(PoolType::Dir, "default").with_target(PoolTarget::new(self.dir.to_string_lossy()));
        Ok(Def::Pool(Box::new(def)))
    }

    async fn start(&self, engine: &Engine, uuid: Uuid) -> Result<()> {
        if !self.dir.is_dir() {
            engine.build_pool(uuid, Default::default()).await?;
        }
        engine.start_object(Self::KIND, uuid, Default::default()).await.map(drop)
    }
}

fn mark(marker: &Path) -> Result<()> {
    let dir = marker.parent().unwrap_or(marker);
    virtkit_host::fs::create_dir(dir, 0o755)
        .and_then(|()| virtkit_host::fs::write_atomic(marker, b"", 0o644))
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write {}: {e}", marker.display())))
}
