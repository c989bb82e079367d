//! The engine's API for every kind of object at once: one call per verb,
//! naming the kind, so that the client library, the wire and the daemon
//! each write a verb once for all kinds. Each call dispatches to the typed
//! generic code in one place (the `by_kind!` table).

use std::sync::Arc;

use uuid::Uuid;
use virtkit_model::domain::Domain;
use virtkit_model::network::Network;
use virtkit_model::secret::Secret;
use virtkit_model::storage::{Pool, Volume};

use crate::domain::DomainKind;
use crate::engine::{Engine, Inner};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Kind, Record};
use crate::network::NetworkKind;
use crate::options::{
    AddressSource, AutostartOptions, CreateOptions, DefineOptions, InfoOptions, InterfaceAddressOptions, LeaseOptions,
    ListOptions, StartOptions, StopOptions, UndefineOptions, XmlOptions, only_pools_are_built,
};
use crate::secret::SecretKind;
use crate::storage::PoolKind;
use crate::storage_driver::BuildMode;
use crate::types::{DomainInfo, Lease, List, NetworkInfo, ObjectKind, PoolInfo, SecretInfo, VolumeInfo};
use crate::volume::VolumeKind;

/// A document of any kind the engine keeps.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Def {
    Domain(Box<Domain>),
    Network(Box<Network>),
    Pool(Box<Pool>),
    /// A volume, made in a pool (`create_volume`), never defined alone.
    Volume(Box<Volume>),
    /// A secret, without its value.
    Secret(Box<Secret>),
}

impl Def {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Def::Domain(_) => ObjectKind::Domain,
            Def::Network(_) => ObjectKind::Network,
            Def::Pool(_) => ObjectKind::Pool,
            Def::Volume(_) => ObjectKind::Volume,
            Def::Secret(_) => ObjectKind::Secret,
        }
    }

    /// Reads a document of kind `kind` (a refused one names every problem).
    pub fn from_xml(kind: ObjectKind, text: &str) -> Result<Def> {
        let bad = Error::invalid_document;
        match kind {
            ObjectKind::Domain => Domain::from_xml(text).map(|d| Def::Domain(Box::new(d))).map_err(bad),
            ObjectKind::Network => Network::from_xml(text).map(|n| Def::Network(Box::new(n))).map_err(bad),
            ObjectKind::Pool => Pool::from_xml(text).map(|p| Def::Pool(Box::new(p))).map_err(bad),
            ObjectKind::Volume => Volume::from_xml(text).map(|v| Def::Volume(Box::new(v))).map_err(bad),
            ObjectKind::Secret => Secret::from_xml(text).map(|v| Def::Secret(Box::new(v))).map_err(bad),
        }
    }

    pub fn to_xml(&self) -> String {
        match self {
            Def::Domain(d) => d.to_xml(),
            Def::Network(n) => n.to_xml(),
            Def::Pool(p) => p.to_xml(),
            Def::Volume(v) => v.to_xml(),
            Def::Secret(s) => s.to_xml(),
        }
    }
}

/// One object of any kind, as queries show it (in JSON: the kind's own
/// info object).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Info {
    Domain(DomainInfo),
    Network(NetworkInfo),
    Pool(PoolInfo),
    Volume(VolumeInfo),
    Secret(SecretInfo),
}

impl Info {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Info::Domain(_) => ObjectKind::Domain,
            Info::Network(_) => ObjectKind::Network,
            Info::Pool(_) => ObjectKind::Pool,
            Info::Volume(_) => ObjectKind::Volume,
            Info::Secret(_) => ObjectKind::Secret,
        }
    }

    pub fn uuid(&self) -> Uuid {
        match self {
            Info::Domain(i) => i.uuid,
            Info::Network(i) => i.uuid,
            Info::Pool(i) => i.uuid,
            Info::Volume(i) => i.uuid,
            Info::Secret(i) => i.uuid,
        }
    }

    /// Its name (a secret has none: empty).
    pub fn name(&self) -> &str {
        match self {
            Info::Domain(i) => &i.name,
            Info::Network(i) => &i.name,
            Info::Pool(i) => &i.name,
            Info::Volume(i) => &i.name,
            Info::Secret(_) => "",
        }
    }
}

impl From<DomainInfo> for Info {
    fn from(i: DomainInfo) -> Self {
        Info::Domain(i)
    }
}

impl From<NetworkInfo> for Info {
    fn from(i: NetworkInfo) -> Self {
        Info::Network(i)
    }
}

impl From<PoolInfo> for Info {
    fn from(i: PoolInfo) -> Self {
        Info::Pool(i)
    }
}

impl From<VolumeInfo> for Info {
    fn from(i: VolumeInfo) -> Self {
        Info::Volume(i)
    }
}

impl From<SecretInfo> for Info {
    fn from(i: SecretInfo) -> Self {
        Info::Secret(i)
    }
}

/// Runs `$body` with `$K` the typed kind of `$kind`.
macro_rules! by_kind {
    ($kind:expr, $K:ident => $body:expr) => {
        match $kind {
            ObjectKind::Domain => {
                type $K = DomainKind;
                $body
            }
            ObjectKind::Network => {
                type $K = NetworkKind;
                $body
            }
            ObjectKind::Pool => {
                type $K = PoolKind;
                $body
            }
            ObjectKind::Volume => {
                type $K = VolumeKind;
                $body
            }
            ObjectKind::Secret => {
                type $K = SecretKind;
                $body
            }
        }
    };
}

/// Volumes are made and deleted in their pool; they have no stored
/// definition of their own to define, undefine or autostart.
fn not_for_volumes(kind: ObjectKind, verb: &str) -> Result<()> {
    if kind == ObjectKind::Volume { Err(volumes_cannot(verb)) } else { Ok(()) }
}

fn volumes_cannot(verb: &str) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("storage volumes cannot be {verb}: they are created and deleted in their pool"),
    )
}

/// The filter of a list, checked against the kind it lists.
fn keep<K: Kind>(opts: &ListOptions) -> impl Fn(&Record<K>) -> bool + '_ {
    move |r| {
        opts.pool.is_none_or(|p| p == r.parent)
            && opts.active.is_none_or(|a| a == r.active())
            && opts.persistent.is_none_or(|p| p == r.config.is_some())
            && opts.autostart.is_none_or(|a| a == r.autostart)
            && K::listed(r, opts)
    }
}

impl Engine {
    /// Stores a definition of any kind (creates the object or replaces its
    /// definition); the info its change left.
    pub async fn define_object(&self, def: Def, opts: DefineOptions) -> Result<Info> {
        match def {
            Def::Domain(d) => self.define(*d, opts).await.map(Info::from),
            Def::Network(n) => {
                self.run(move |i| async move { i.define::<NetworkKind>(*n, opts).await }).await.map(Info::from)
            }
            Def::Pool(p) => {
                self.run(move |i| async move { i.define::<PoolKind>(*p, opts).await }).await.map(Info::from)
            }
            Def::Volume(_) => Err(volumes_cannot("defined")),
            Def::Secret(s) => {
                self.run(move |i| async move { i.define::<SecretKind>(*s, opts).await }).await.map(Info::from)
            }
        }
    }

    /// Starts a transient object from a definition that is not stored.
    pub async fn create_object(&self, def: Def, opts: CreateOptions) -> Result<Info> {
        only_pools_are_built(def.kind(), opts.build.as_ref())?;
        match def {
            Def::Domain(d) => self.create(*d, opts).await.map(Info::from),
            Def::Network(n) => self.run(move |i| async move { i.create_network(*n).await }).await.map(Info::from),
            Def::Pool(p) => {
                let build = opts.build.map(BuildMode::from);
                self.run(move |i| async move { i.create_pool(*p, build).await }).await.map(Info::from)
            }
            Def::Volume(_) => Err(Error::new(
                ErrorKind::InvalidArgument,
                "storage volumes are created in a pool (create_volume), not started",
            )),
            Def::Secret(_) => Err(Error::new(ErrorKind::Unsupported, "secrets are defined, not created")),
        }
    }

    pub async fn undefine_object(&self, kind: ObjectKind, uuid: Uuid, opts: UndefineOptions) -> Result<Info> {
        not_for_volumes(kind, "undefined")?;
        by_kind!(kind, K => self.run(move |i| async move { i.undefine::<K>(uuid, opts).await }).await.map(Info::from))
    }

    pub async fn start_object(&self, kind: ObjectKind, uuid: Uuid, opts: StartOptions) -> Result<Info> {
        only_pools_are_built(kind, opts.build.as_ref())?;
        match kind {
            ObjectKind::Domain => self.start(uuid, opts).await.map(Info::from),
            ObjectKind::Network => self.run(move |i| async move { i.start_network(uuid).await }).await.map(Info::from),
            ObjectKind::Pool => {
                let build = opts.build.map(BuildMode::from);
                self.run(move |i| async move { i.start_pool(uuid, build).await }).await.map(Info::from)
            }
            k => Err(Error::new(ErrorKind::Unsupported, format!("{} objects cannot be started", k.noun()))),
        }
    }

    /// Stops an object at once: a domain's power-off, a network's destroy.
    pub async fn stop_object(&self, kind: ObjectKind, uuid: Uuid, _opts: StopOptions) -> Result<Info> {
        match kind {
            ObjectKind::Domain => self.power_off(uuid, Default::default()).await.map(Info::from),
            ObjectKind::Network => self.run(move |i| async move { i.stop_network(uuid).await }).await.map(Info::from),
            ObjectKind::Pool => self.run(move |i| async move { i.stop_pool(uuid).await }).await.map(Info::from),
            k => Err(Error::new(ErrorKind::Unsupported, format!("{} objects cannot be stopped", k.noun()))),
        }
    }

    pub async fn set_object_autostart(
        &self,
        kind: ObjectKind,
        uuid: Uuid,
        enabled: bool,
        _opts: AutostartOptions,
    ) -> Result<Info> {
        not_for_volumes(kind, "set to autostart")?;
        if kind == ObjectKind::Secret {
            return Err(Error::new(ErrorKind::Unsupported, "secrets do not autostart"));
        }
        by_kind!(kind, K => self.run(move |i| async move { i.set_autostart::<K>(uuid, enabled).await }).await.map(Info::from))
    }

    /// Finds an object by UUID or name (a volume: by UUID, key or path).
    pub fn lookup_object(&self, kind: ObjectKind, key: &str) -> Result<Info> {
        if kind == ObjectKind::Volume {
            return self.inner.find_volume(key).map(Info::from);
        }
        by_kind!(kind, K => self.inner.lookup::<K>(Uuid::nil(), key).map(Info::from))
    }

    pub async fn object_info(&self, kind: ObjectKind, uuid: Uuid, opts: InfoOptions) -> Result<Info> {
        match kind {
            ObjectKind::Domain => self.info(uuid, opts).await.map(Info::from),
            ObjectKind::Volume => self.inner.volume_info(&uuid).map(Info::from),
            k => by_kind!(k, K => self.inner.info_of::<K>(&uuid).map(Info::from)),
        }
    }

    /// One consistent snapshot of the objects of a kind the options select,
    /// sorted by name, with the revision it shows.
    pub async fn list_objects(&self, kind: ObjectKind, opts: ListOptions) -> Result<List<Info>> {
        if kind != ObjectKind::Domain && (!opts.states.is_empty() || opts.stats) {
            return Err(Error::new(ErrorKind::InvalidArgument, "states and stats select domains only"));
        }
        if kind != ObjectKind::Volume && opts.pool.is_some() {
            return Err(Error::new(ErrorKind::InvalidArgument, "pool selects volumes only"));
        }
        if kind != ObjectKind::Secret && (opts.ephemeral.is_some() || opts.private.is_some()) {
            return Err(Error::new(ErrorKind::InvalidArgument, "ephemeral and private select secrets only"));
        }
        if kind == ObjectKind::Domain {
            let l = self.list(opts).await?;
            return Ok(List::new(l.revision, l.items.into_iter().map(Info::from).collect()));
        }
        by_kind!(kind, K => {
            let l = self.inner.list::<K>(keep::<K>(&opts), |_, _| std::cmp::Ordering::Equal);
            let mut items: Vec<Info> = l.items.into_iter().map(Info::from).collect();
            // Secrets have no name: by UUID.
            items.sort_unstable_by(|a, b| (a.name(), a.uuid()).cmp(&(b.name(), b.uuid())));
            Ok(List::new(l.revision, items))
        })
    }

    /// The definition of any kind as canonical XML: the live one, or with
    /// `inactive` the stored one.
    pub fn object_xml(&self, kind: ObjectKind, uuid: Uuid, opts: XmlOptions) -> Result<String> {
        by_kind!(kind, K => self.inner.shown::<K>(&uuid, &opts).map(|d| d.to_xml()))
    }

    /// The definition of any kind as a model value.
    pub fn object_definition(&self, kind: ObjectKind, uuid: Uuid, opts: XmlOptions) -> Result<Def> {
        match kind {
            ObjectKind::Domain => Ok(Def::Domain(Box::new((*self.definition(uuid, opts)?).clone()))),
            ObjectKind::Network => {
                let n: Arc<Network> = self.inner.shown::<NetworkKind>(&uuid, &opts)?;
                Ok(Def::Network(Box::new((*n).clone())))
            }
            ObjectKind::Pool => {
                let p: Arc<Pool> = self.inner.shown::<PoolKind>(&uuid, &opts)?;
                Ok(Def::Pool(Box::new((*p).clone())))
            }
            ObjectKind::Volume => {
                let v: Arc<Volume> = self.inner.shown::<VolumeKind>(&uuid, &opts)?;
                Ok(Def::Volume(Box::new((*v).clone())))
            }
            ObjectKind::Secret => {
                let s: Arc<Secret> = self.inner.shown::<SecretKind>(&uuid, &opts)?;
                Ok(Def::Secret(Box::new((*s).clone())))
            }
        }
    }

    /// The addresses of a running domain's interfaces, from the leases of
    /// the networks they are on (`domifaddr`).
    pub async fn interface_addresses(&self, uuid: Uuid, opts: InterfaceAddressOptions) -> Result<Vec<Lease>> {
        match opts.source {
            AddressSource::Lease => self.run(move |i| async move { i.interface_addresses(uuid).await }).await,
            s => Err(Error::new(
                ErrorKind::Unsupported,
                format!("addresses from the {s} are not read yet; ask the leases (source lease)"),
            )),
        }
    }

    /// The DHCP leases of an active network.
    pub async fn network_leases(&self, uuid: Uuid, opts: LeaseOptions) -> Result<Vec<Lease>> {
        let mac = opts.mac;
        self.run(move |i| async move { i.network_leases(uuid, mac).await }).await
    }
}

impl Inner {
    /// The job slot of any object, for cancelling.
    pub(crate) fn job_slot(&self, kind: ObjectKind, uuid: &Uuid) -> Result<(Arc<crate::jobs::JobSlot>, String)> {
        let reg = self.lock();
        by_kind!(kind, K => {
            // A volume being made is not listed yet; its job can be cancelled.
            let r = K::table(&reg).get_any(uuid).ok_or_else(|| Error::not_found_of(kind, &uuid.to_string()))?;
            Ok((r.job.clone(), r.what()))
        })
    }
}
