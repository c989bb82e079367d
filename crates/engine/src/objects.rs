//! The engine's API for every kind of object at once: one call per verb,
//! naming the kind, so that the client library, the wire and the daemon
//! each write a verb once for all kinds. Each call dispatches to the typed
//! generic code in one place (the `by_kind!` table).

use std::sync::Arc;

use uuid::Uuid;
use virtkit_model::domain::Domain;
use virtkit_model::network::Network;

use crate::domain::DomainKind;
use crate::engine::{Engine, Inner};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Kind, Record};
use crate::network::NetworkKind;
use crate::options::{
    AutostartOptions, CreateOptions, DefineOptions, InfoOptions, LeaseOptions, ListOptions, StartOptions, StopOptions,
    UndefineOptions, XmlOptions,
};
use crate::types::{DomainInfo, Lease, List, NetworkInfo, ObjectKind};

/// A document of any kind the engine keeps.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Def {
    Domain(Box<Domain>),
    Network(Box<Network>),
}

impl Def {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Def::Domain(_) => ObjectKind::Domain,
            Def::Network(_) => ObjectKind::Network,
        }
    }

    /// Reads a document of kind `kind` (a refused one names every problem).
    pub fn from_xml(kind: ObjectKind, text: &str) -> Result<Def> {
        let bad = Error::invalid_document;
        match kind {
            ObjectKind::Domain => Domain::from_xml(text).map(|d| Def::Domain(Box::new(d))).map_err(bad),
            ObjectKind::Network => Network::from_xml(text).map(|n| Def::Network(Box::new(n))).map_err(bad),
            k => Err(Error::new(ErrorKind::Unsupported, format!("{} documents cannot be defined", k.noun()))),
        }
    }

    pub fn to_xml(&self) -> String {
        match self {
            Def::Domain(d) => d.to_xml(),
            Def::Network(n) => n.to_xml(),
        }
    }
}

/// One object of any kind, as queries show it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Info {
    Domain(DomainInfo),
    Network(NetworkInfo),
}

impl Info {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Info::Domain(_) => ObjectKind::Domain,
            Info::Network(_) => ObjectKind::Network,
        }
    }

    pub fn uuid(&self) -> Uuid {
        match self {
            Info::Domain(i) => i.uuid,
            Info::Network(i) => i.uuid,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Info::Domain(i) => &i.name,
            Info::Network(i) => &i.name,
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

/// Runs `$body` with `$K` the typed kind of `$kind`, for the kinds with a
/// lifecycle; other kinds are refused.
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
            k => Err(Error::new(ErrorKind::Unsupported, format!("{} objects are not supported yet", k.noun()))),
        }
    };
}

/// The filter of a list, checked against the kind it lists.
fn keep<K: Kind>(opts: &ListOptions) -> impl Fn(&Record<K>) -> bool + '_ {
    move |r| {
        opts.active.is_none_or(|a| a == r.active())
            && opts.persistent.is_none_or(|p| p == r.config.is_some())
            && opts.autostart.is_none_or(|a| a == r.autostart)
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
        }
    }

    /// Starts a transient object from a definition that is not stored.
    pub async fn create_object(&self, def: Def, opts: CreateOptions) -> Result<Info> {
        match def {
            Def::Domain(d) => self.create(*d, opts).await.map(Info::from),
            Def::Network(n) => self.run(move |i| async move { i.create_network(*n).await }).await.map(Info::from),
        }
    }

    pub async fn undefine_object(&self, kind: ObjectKind, uuid: Uuid, opts: UndefineOptions) -> Result<Info> {
        by_kind!(kind, K => self.run(move |i| async move { i.undefine::<K>(uuid, opts).await }).await.map(Info::from))
    }

    pub async fn start_object(&self, kind: ObjectKind, uuid: Uuid, opts: StartOptions) -> Result<Info> {
        match kind {
            ObjectKind::Domain => self.start(uuid, opts).await.map(Info::from),
            ObjectKind::Network => self.run(move |i| async move { i.start_network(uuid).await }).await.map(Info::from),
            k => Err(Error::new(ErrorKind::Unsupported, format!("{} objects cannot be started", k.noun()))),
        }
    }

    /// Stops an object at once: a domain's power-off, a network's destroy.
    pub async fn stop_object(&self, kind: ObjectKind, uuid: Uuid, _opts: StopOptions) -> Result<Info> {
        match kind {
            ObjectKind::Domain => self.power_off(uuid, Default::default()).await.map(Info::from),
            ObjectKind::Network => self.run(move |i| async move { i.stop_network(uuid).await }).await.map(Info::from),
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
        by_kind!(kind, K => self.run(move |i| async move { i.set_autostart::<K>(uuid, enabled).await }).await.map(Info::from))
    }

    /// Finds an object by UUID or name.
    pub fn lookup_object(&self, kind: ObjectKind, key: &str) -> Result<Info> {
        by_kind!(kind, K => self.inner.lookup::<K>(Uuid::nil(), key).map(Info::from))
    }

    pub async fn object_info(&self, kind: ObjectKind, uuid: Uuid, opts: InfoOptions) -> Result<Info> {
        match kind {
            ObjectKind::Domain => self.info(uuid, opts).await.map(Info::from),
            k => by_kind!(k, K => self.inner.info_of::<K>(&uuid).map(Info::from)),
        }
    }

    /// One consistent snapshot of the objects of a kind the options select,
    /// sorted by name, with the revision it shows.
    pub async fn list_objects(&self, kind: ObjectKind, opts: ListOptions) -> Result<List<Info>> {
        if kind != ObjectKind::Domain && (!opts.states.is_empty() || opts.stats) {
            return Err(Error::new(ErrorKind::InvalidArgument, "states and stats select domains only"));
        }
        if kind == ObjectKind::Domain {
            let l = self.list(opts).await?;
            return Ok(List::new(l.revision, l.items.into_iter().map(Info::from).collect()));
        }
        by_kind!(kind, K => {
            let l = self.inner.list::<K>(keep::<K>(&opts), |a, b| a.name.cmp(&b.name));
            Ok(List::new(l.revision, l.items.into_iter().map(Info::from).collect()))
        })
    }

    /// The definition of any kind as canonical XML: the live one, or with
    /// `inactive` the stored one.
    pub fn object_xml(&self, kind: ObjectKind, uuid: Uuid, opts: XmlOptions) -> Result<String> {
        by_kind!(kind, K => self.inner.definition::<K>(&uuid, opts.inactive).map(|d| d.to_xml()))
    }

    /// The definition of any kind as a model value.
    pub fn object_definition(&self, kind: ObjectKind, uuid: Uuid, opts: XmlOptions) -> Result<Def> {
        match kind {
            ObjectKind::Domain => Ok(Def::Domain(Box::new((*self.definition(uuid, opts)?).clone()))),
            ObjectKind::Network => {
                let n: Arc<Network> = self.inner.definition::<NetworkKind>(&uuid, opts.inactive)?;
                Ok(Def::Network(Box::new((*n).clone())))
            }
            k => Err(Error::new(ErrorKind::Unsupported, format!("{} objects are not supported yet", k.noun()))),
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
            let r = K::table(&reg).get(uuid)?;
            Ok((r.job.clone(), r.what()))
        })
    }
}
