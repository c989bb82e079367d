//! What a host's first open defines (the system daemon asks for it): the
//! `default` network and the `default` storage pool, each once. A marker
//! file says it was done, so that a user who undefines one keeps it
//! undefined, as with libvirt.

use std::path::Path;
use std::sync::Arc;

use virtkit_engine::types::ObjectKind;
use virtkit_engine::{Def, Engine};
use virtkit_model::storage::{Pool, PoolTarget, PoolType};

use crate::{Error, ErrorKind, Result};

/// Defines and starts the host's `default` network (`&default-network=1`)
/// unless a network of that name exists or it was defined once already.
pub(crate) async fn default_network(
    engine: &Engine,
    driver: &virtkit_network::LinuxNetworkDriver,
    marker: &Path,
) -> Result<()> {
    if marker.exists() {
        return Ok(());
    }
    let kind = ObjectKind::Network;
    let listed = engine.list_objects(kind, Default::default()).await?;
    let mut others = Vec::new();
    for info in &listed.items {
        if info.name() == "default" {
            return mark(marker);
        }
        if let Def::Network(n) = engine.object_definition(kind, info.uuid(), Default::default())? {
            others.push(Arc::new(*n));
        }
    }
    let (def, note) = driver.default_network(&others).await?;
    if let Some(note) = note {
        tracing::warn!("{note}");
    }
    let info = engine.define_object(Def::Network(Box::new(def)), Default::default()).await?;
    mark(marker)?;
    engine.set_object_autostart(kind, info.uuid(), true, Default::default()).await?;
    if let Err(e) = engine.start_object(kind, info.uuid(), Default::default()).await {
        tracing::warn!("network 'default' is defined but did not start: {e}");
    }
    Ok(())
}

/// Defines, builds and starts the host's `default` storage pool, a
/// directory of images at `dir` (`&default-pool=DIR`; virt-install puts
/// new disks there), autostarted: unless a pool of that name exists, or
/// one whose target is `dir`, or it was defined once already.
pub(crate) async fn default_pool(engine: &Engine, dir: &Path, marker: &Path) -> Result<()> {
    if marker.exists() {
        return Ok(());
    }
    let kind = ObjectKind::Pool;
    let listed = engine.list_objects(kind, Default::default()).await?;
    for info in &listed.items {
        if info.name() == "default" {
            return mark(marker);
        }
        if let Def::Pool(p) = engine.object_definition(kind, info.uuid(), Default::default())?
            && p.target.as_ref().and_then(|t| t.path.as_deref()).is_some_and(|t| Path::new(t) == dir)
        {
            tracing::info!("no default storage pool: pool '{}' has {} already", info.name(), dir.display());
            return mark(marker);
        }
    }
    let def = Pool::new(PoolType::Dir, "default").with_target(PoolTarget::new(dir.to_string_lossy()));
    let info = engine.define_object(Def::Pool(Box::new(def)), Default::default()).await?;
    mark(marker)?;
    engine.set_object_autostart(kind, info.uuid(), true, Default::default()).await?;
    let started = async {
        if !dir.is_dir() {
            engine.build_pool(info.uuid(), Default::default()).await?;
        }
        engine.start_object(kind, info.uuid(), Default::default()).await
    };
    if let Err(e) = started.await {
        tracing::warn!("storage pool 'default' is defined but did not start: {e}");
    }
    Ok(())
}

fn mark(marker: &Path) -> Result<()> {
    let dir = marker.parent().unwrap_or(marker);
    virtkit_host::fs::create_dir(dir, 0o755)
        .and_then(|()| virtkit_host::fs::write_atomic(marker, b"", 0o644))
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write {}: {e}", marker.display())))
}
