//! Every kind of object through one set of calls: define, create, start,
//! stop, undefine, autostart, lookup, info, list, XML and cancel name the
//! kind ([`ObjectKind`]); each is written once here, in process and through
//! a daemon. Typed handles ([`Network`], [`StoragePool`],
//! [`StorageVolume`]) are thin: they hold a UUID and name, and call these.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), virtkit::Error> {
//! let conn = virtkit::Connection::open("test:///default").await?;
//! let pool = conn.lookup_pool("default-pool").await?;
//! let vol = pool
//!     .create_volume_xml("<volume><name>a.img</name><capacity unit='MiB'>16</capacity></volume>", Default::default())
//!     .await?;
//! assert_eq!(vol.info().await?.path.as_deref(), Some("/default-pool/a.img"));
//! let net = conn.lookup_network("default").await?;
//! assert_eq!(net.info().await?.bridge.as_deref(), Some("virbr0"));
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;

use uuid::Uuid;
pub use virtkit_engine::options::{
    BuildOptions, DeleteOptions, LeaseOptions, NetworkUpdateOptions, RefreshOptions, ResizeOptions, StopOptions,
    TransferOptions, VolumeCreateOptions, WipeAlgorithm, WipeOptions,
};
pub use virtkit_engine::types::{Lease, NetworkInfo, PoolInfo, SecretInfo, VolumeInfo};
pub use virtkit_engine::{Def, Info};
use virtkit_model::network::Network as NetworkDef;
pub use virtkit_model::network::{NetworkUpdate, NetworkUpdateCommand, NetworkUpdateSection};
use virtkit_model::storage::{Pool as PoolDef, Volume as VolumeDef};

use crate::{
    AutostartOptions, Backend, Connection, CreateOptions, DefineOptions, Error, ErrorKind, ListOptions, ObjectKind,
    Result, StartOptions, UndefineOptions, XmlOptions,
};

/// Reads a document of `kind` (every problem named).
pub fn parse_document(kind: ObjectKind, xml: &str) -> Result<Def> {
    Def::from_xml(kind, xml)
}

impl Connection {
    /// Stores a definition of any kind; the info its change left.
    pub async fn define_object(&self, def: Def, opts: DefineOptions) -> Result<Info> {
        self.writable()?;
        match self.backend() {
            Backend::Local(e) => e.define_object(def, opts).await,
            Backend::Remote(r) => r.define_object(&def, opts).await,
        }
    }

    /// Starts a transient object from a definition that is not stored.
    pub async fn create_object(&self, def: Def, opts: CreateOptions) -> Result<Info> {
        self.writable()?;
        match self.backend() {
            Backend::Local(e) => e.create_object(def, opts).await,
            Backend::Remote(r) => r.create_object(&def, opts).await,
        }
    }

    pub async fn undefine_object(&self, kind: ObjectKind, uuid: Uuid, opts: UndefineOptions) -> Result<Info> {
        self.writable()?;
        match self.backend() {
            Backend::Local(e) => e.undefine_object(kind, uuid, opts).await,
            Backend::Remote(r) => r.undefine_object(kind, uuid, opts).await,
        }
    }

    pub async fn start_object(&self, kind: ObjectKind, uuid: Uuid, opts: StartOptions) -> Result<Info> {
        self.writable()?;
        match self.backend() {
            Backend::Local(e) => e.start_object(kind, uuid, opts).await,
            Backend::Remote(r) => r.start_object(kind, uuid, opts).await,
        }
    }

    /// Stops at once: a domain's power-off, a network's or pool's destroy.
    pub async fn stop_object(&self, kind: ObjectKind, uuid: Uuid, opts: StopOptions) -> Result<Info> {
        self.writable()?;
        match self.backend() {
            Backend::Local(e) => e.stop_object(kind, uuid, opts).await,
            Backend::Remote(r) => r.stop_object(kind, uuid).await,
        }
    }

    pub async fn set_object_autostart(
        &self,
        kind: ObjectKind,
        uuid: Uuid,
        enabled: bool,
        opts: AutostartOptions,
    ) -> Result<Info> {
        self.writable()?;
        match self.backend() {
            Backend::Local(e) => e.set_object_autostart(kind, uuid, enabled, opts).await,
            Backend::Remote(r) => r.set_object_autostart(kind, uuid, enabled).await,
        }
    }

    /// By name or UUID (a volume: by UUID, key or path).
    pub async fn lookup_object(&self, kind: ObjectKind, key: &str) -> Result<Info> {
        match self.backend() {
            Backend::Local(e) => e.lookup_object(kind, key),
            Backend::Remote(r) => r.lookup_object(kind, key, None).await,
        }
    }

    pub async fn object_info(&self, kind: ObjectKind, uuid: Uuid) -> Result<Info> {
        match self.backend() {
            Backend::Local(e) => e.object_info(kind, uuid, Default::default()).await,
            Backend::Remote(r) => r.object_info(kind, uuid).await,
        }
    }

    /// One consistent snapshot of the objects of a kind, with its revision.
    pub async fn list_objects(&self, kind: ObjectKind, opts: ListOptions) -> Result<crate::List<Info>> {
        match self.backend() {
            Backend::Local(e) => e.list_objects(kind, opts).await,
            Backend::Remote(r) => r.list_objects(kind, &opts).await,
        }
    }

    /// The canonical XML: the live definition, or with `inactive` the stored
    /// one; its secret values only with `secure`, which a read-only
    /// connection may not ask for.
    pub async fn object_xml(&self, kind: ObjectKind, uuid: Uuid, opts: XmlOptions) -> Result<String> {
        self.may_see(&opts)?;
        match self.backend() {
            Backend::Local(e) => e.object_xml(kind, uuid, opts),
            Backend::Remote(r) => r.object_xml(kind, uuid, &opts).await,
        }
    }

    /// Refuses `secure` on a read-only connection.
    pub(crate) fn may_see(&self, opts: &XmlOptions) -> Result<()> {
        if opts.secure && self.inner.read_only {
            return Err(Error::new(ErrorKind::PermissionDenied, "secret values are refused on a read-only connection"));
        }
        Ok(())
    }

    /// Asks the long job an object is busy with to stop; `false` when none.
    pub async fn cancel_job(&self, kind: ObjectKind, uuid: Uuid) -> Result<bool> {
        self.writable()?;
        match self.backend() {
            Backend::Local(e) => e.cancel_job(kind, uuid),
            Backend::Remote(r) => r.cancel_job(kind, uuid).await,
        }
    }

    // ---- typed handles ----

    pub(crate) fn typed<K: Kind>(&self, info: Info) -> Result<Handle<K>> {
        let i = K::info(info)?;
        Ok(Handle { conn: self.clone(), uuid: K::uuid(&i), name: K::name(&i), _kind: PhantomData })
    }

    pub async fn define_network_xml(&self, xml: &str, opts: DefineOptions) -> Result<Network> {
        self.define_network(NetworkDef::from_xml(xml).map_err(Error::invalid_document)?, opts).await
    }

    pub async fn define_network(&self, def: NetworkDef, opts: DefineOptions) -> Result<Network> {
        let i = self.define_object(Def::Network(Box::new(def)), opts).await?;
        self.typed(i)
    }

    /// Starts a transient network (`net-create`).
    pub async fn create_network_xml(&self, xml: &str, opts: CreateOptions) -> Result<Network> {
        let def = NetworkDef::from_xml(xml).map_err(Error::invalid_document)?;
        let i = self.create_object(Def::Network(Box::new(def)), opts).await?;
        self.typed(i)
    }

    pub async fn lookup_network(&self, key: &str) -> Result<Network> {
        let i = self.lookup_object(ObjectKind::Network, key).await?;
        self.typed(i)
    }

    pub async fn list_networks(&self, opts: ListOptions) -> Result<crate::List<NetworkInfo>> {
        typed_list::<kinds::Network>(self.list_objects(ObjectKind::Network, opts).await?)
    }

    pub async fn define_pool_xml(&self, xml: &str, opts: DefineOptions) -> Result<StoragePool> {
        self.define_pool(PoolDef::from_xml(xml).map_err(Error::invalid_document)?, opts).await
    }

    pub async fn define_pool(&self, def: PoolDef, opts: DefineOptions) -> Result<StoragePool> {
        let i = self.define_object(Def::Pool(Box::new(def)), opts).await?;
        self.typed(i)
    }

    /// Starts a transient pool (`pool-create`).
    pub async fn create_pool_xml(&self, xml: &str, opts: CreateOptions) -> Result<StoragePool> {
        let def = PoolDef::from_xml(xml).map_err(Error::invalid_document)?;
        let i = self.create_object(Def::Pool(Box::new(def)), opts).await?;
        self.typed(i)
    }

    pub async fn lookup_pool(&self, key: &str) -> Result<StoragePool> {
        let i = self.lookup_object(ObjectKind::Pool, key).await?;
        self.typed(i)
    }

    pub async fn list_pools(&self, opts: ListOptions) -> Result<crate::List<PoolInfo>> {
        typed_list::<kinds::Pool>(self.list_objects(ObjectKind::Pool, opts).await?)
    }

    /// Makes a volume in pool `pool` (with `opts.from`: a copy of that volume).
    async fn create_volume_in(&self, pool: Uuid, def: VolumeDef, opts: VolumeCreateOptions) -> Result<StorageVolume> {
        self.writable()?;
        let i = match self.backend() {
            Backend::Local(e) => Info::from(e.create_volume(pool, def, opts).await?),
            Backend::Remote(r) => r.create_volume(pool, def.to_xml(), opts).await?,
        };
        self.typed(i)
    }

    /// A volume by UUID, key or path, in whichever pool holds it.
    pub async fn find_volume(&self, key: &str) -> Result<StorageVolume> {
        let i = self.lookup_object(ObjectKind::Volume, key).await?;
        self.typed(i)
    }

    /// The pool types this host can run.
    pub async fn pool_types(&self) -> Result<Vec<virtkit_model::storage::PoolType>> {
        match self.backend() {
            Backend::Local(e) => Ok(e.pool_types()),
            // A type this side does not know (a newer daemon's) is left out.
            Backend::Remote(r) => {
                Ok(r.capabilities().await?.pool_types.iter().filter_map(|t| t.parse().ok()).collect())
            }
        }
    }
}

pub(crate) fn typed_list<K: Kind>(l: crate::List<Info>) -> Result<crate::List<K::Info>> {
    let items = l.items.into_iter().map(K::info).collect::<Result<Vec<_>>>()?;
    Ok(crate::List::new(l.revision, items))
}

/// The kinds a [`Handle`] can be of.
pub mod kinds {
    use super::*;

    mod sealed {
        pub trait Sealed {}
    }

    /// One kind of object with a typed info value.
    pub trait Kind: sealed::Sealed + Send + Sync + 'static {
        const KIND: ObjectKind;
        type Info: Clone + std::fmt::Debug + Send;
        #[doc(hidden)]
        fn info(i: Info) -> Result<Self::Info>;
        #[doc(hidden)]
        fn uuid(i: &Self::Info) -> Uuid;
        #[doc(hidden)]
        fn name(i: &Self::Info) -> String;
    }

    macro_rules! kind {
        ($(#[$m:meta])* $k:ident, $object:ident, $info:ty, |$i:ident| $name:expr) => {
            $(#[$m])*
            #[derive(Debug)]
            pub enum $k {}
            impl sealed::Sealed for $k {}
            impl Kind for $k {
                const KIND: ObjectKind = ObjectKind::$object;
                type Info = $info;
                fn info(i: Info) -> Result<$info> {
                    match i {
                        Info::$object(x) => Ok(x),
                        other => Err(Error::new(
                            ErrorKind::Internal,
                            format!("a {} came back where a {} was asked for", other.kind().noun(), ObjectKind::$object.noun()),
                        )),
                    }
                }
                fn uuid(i: &$info) -> Uuid {
                    i.uuid
                }
                fn name($i: &$info) -> String {
                    $name
                }
            }
        };
    }

    kind!(
        /// Virtual networks.
        Network, Network, NetworkInfo, |i| i.name.clone()
    );
    kind!(
        /// Storage pools.
        Pool, Pool, PoolInfo, |i| i.name.clone()
    );
    kind!(
        /// Storage volumes.
        Volume, Volume, VolumeInfo, |i| i.name.clone()
    );
    kind!(
        /// Secrets (they have no name: a handle's is the UUID).
        Secret, Secret, SecretInfo, |i| i.uuid.to_string()
    );
}

use kinds::Kind;

/// An object of kind `K` on a connection: its UUID and name, and the calls
/// every kind has.
pub struct Handle<K: Kind> {
    pub(crate) conn: Connection,
    pub(crate) uuid: Uuid,
    name: String,
    _kind: PhantomData<K>,
}

impl<K: Kind> Clone for Handle<K> {
    fn clone(&self) -> Self {
        Handle { conn: self.conn.clone(), uuid: self.uuid, name: self.name.clone(), _kind: PhantomData }
    }
}

impl<K: Kind> std::fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(K::KIND.noun()).field("uuid", &self.uuid).field("name", &self.name).finish()
    }
}

/// A virtual network.
pub type Network = Handle<kinds::Network>;
/// A storage pool.
pub type StoragePool = Handle<kinds::Pool>;
/// A storage volume.
pub type StorageVolume = Handle<kinds::Volume>;
/// A secret: a password or key, its value set and read apart.
pub type Secret = Handle<kinds::Secret>;

impl<K: Kind> Handle<K> {
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Its info as it is now.
    pub async fn info(&self) -> Result<K::Info> {
        K::info(self.conn.object_info(K::KIND, self.uuid).await?)
    }

    pub async fn xml(&self, opts: XmlOptions) -> Result<String> {
        self.conn.object_xml(K::KIND, self.uuid, opts).await
    }

    /// Asks its long job (an upload, a clone …) to stop.
    pub async fn cancel_job(&self) -> Result<bool> {
        self.conn.cancel_job(K::KIND, self.uuid).await
    }
}

/// What networks and pools share (volumes are made and deleted instead).
macro_rules! lifecycle {
    ($k:ty) => {
        impl Handle<$k> {
            pub async fn start(&self, opts: StartOptions) -> Result<<$k as Kind>::Info> {
                <$k>::info(self.conn.start_object(<$k>::KIND, self.uuid, opts).await?)
            }

            /// Stops it at once (`net-destroy`, `pool-destroy`).
            pub async fn stop(&self, opts: StopOptions) -> Result<<$k as Kind>::Info> {
                <$k>::info(self.conn.stop_object(<$k>::KIND, self.uuid, opts).await?)
            }

            pub async fn undefine(&self, opts: UndefineOptions) -> Result<<$k as Kind>::Info> {
                <$k>::info(self.conn.undefine_object(<$k>::KIND, self.uuid, opts).await?)
            }

            pub async fn set_autostart(&self, enabled: bool, opts: AutostartOptions) -> Result<<$k as Kind>::Info> {
                <$k>::info(self.conn.set_object_autostart(<$k>::KIND, self.uuid, enabled, opts).await?)
            }
        }
    };
}

lifecycle!(kinds::Network);
lifecycle!(kinds::Pool);

impl Network {
    /// The DHCP leases the active network handed out.
    pub async fn leases(&self, opts: LeaseOptions) -> Result<Vec<Lease>> {
        match self.conn.backend() {
            Backend::Local(e) => e.network_leases(self.uuid, opts).await,
            Backend::Remote(r) => r.network_leases(self.uuid, opts.mac.map(|m| m.to_string())).await,
        }
    }

    /// Changes one part of it (`virsh net-update`): a static DHCP host, a
    /// DNS entry, a DHCP range … given as the XML of the one element; by
    /// default the running definition of an active network, the stored one
    /// of an inactive one (`opts.live`, `opts.config` choose). Refused, with
    /// nothing changed, when the element is refused or does not fit.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), virtkit::Error> {
    /// use virtkit::{NetworkUpdate, NetworkUpdateCommand, NetworkUpdateSection};
    /// let conn = virtkit::Connection::open("test:///default").await?;
    /// let net = conn.lookup_network("default").await?;
    /// let host = "<host mac='aa:bb:cc:dd:ee:ff' name='test' ip='192.168.122.50'/>";
    /// let up = NetworkUpdate::new(NetworkUpdateCommand::AddLast, NetworkUpdateSection::IpDhcpHost, host);
    /// net.update(up, Default::default()).await?;
    /// // The running guest with that MAC has its static address now.
    /// assert_eq!(net.leases(Default::default()).await?[0].ip.to_string(), "192.168.122.50");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update(&self, update: NetworkUpdate, opts: NetworkUpdateOptions) -> Result<NetworkInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.update_network(self.uuid, update, opts).await,
            Backend::Remote(r) => kinds::Network::info(r.update_network(self.uuid, &update, &opts).await?),
        }
    }
}

impl StoragePool {
    fn pool_info(&self, i: Info) -> Result<PoolInfo> {
        kinds::Pool::info(i)
    }

    /// The UUID its volume `name` has, or will have once made: while a
    /// create or clone makes it, its info by this UUID shows it building,
    /// with the job's progress.
    pub fn volume_uuid(&self, name: &str) -> Uuid {
        virtkit_engine::volume_uuid(self.uuid, name)
    }

    /// Makes its underlying storage (`pool-build`).
    pub async fn build(&self, opts: BuildOptions) -> Result<PoolInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.build_pool(self.uuid, opts).await,
            Backend::Remote(r) => self.pool_info(r.build_pool(self.uuid, opts).await?),
        }
    }

    /// Removes its underlying storage (`pool-delete`).
    pub async fn delete(&self, opts: DeleteOptions) -> Result<PoolInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.delete_pool(self.uuid, opts).await,
            Backend::Remote(r) => self.pool_info(r.delete_pool(self.uuid).await?),
        }
    }

    pub async fn refresh(&self, opts: RefreshOptions) -> Result<PoolInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.refresh_pool(self.uuid, opts).await,
            Backend::Remote(r) => self.pool_info(r.refresh_pool(self.uuid).await?),
        }
    }

    pub async fn create_volume_xml(&self, xml: &str, opts: VolumeCreateOptions) -> Result<StorageVolume> {
        self.create_volume(VolumeDef::from_xml(xml).map_err(Error::invalid_document)?, opts).await
    }

    /// Makes a volume in it (with `opts.from`: a copy of that volume).
    pub async fn create_volume(&self, def: VolumeDef, opts: VolumeCreateOptions) -> Result<StorageVolume> {
        self.conn.create_volume_in(self.uuid, def, opts).await
    }

    /// Its volume named `key` (or with that UUID, key or path).
    pub async fn lookup_volume(&self, key: &str) -> Result<StorageVolume> {
        let i = match self.conn.backend() {
            Backend::Local(e) => Info::from(e.lookup_volume(self.uuid, key)?),
            Backend::Remote(r) => r.lookup_object(ObjectKind::Volume, key, Some(self.uuid)).await?,
        };
        self.conn.typed(i)
    }

    pub async fn list_volumes(&self, opts: ListOptions) -> Result<crate::List<VolumeInfo>> {
        typed_list::<kinds::Volume>(self.conn.list_objects(ObjectKind::Volume, opts.pool(self.uuid)).await?)
    }
}

impl StorageVolume {
    pub(crate) fn vol_info(&self, i: Info) -> Result<VolumeInfo> {
        kinds::Volume::info(i)
    }

    /// The pool it is in.
    pub async fn pool(&self) -> Result<StoragePool> {
        let i = self.info().await?;
        let p = self.conn.object_info(ObjectKind::Pool, i.pool_uuid).await?;
        self.conn.typed(p)
    }

    /// A copy of it named `name`, in the same pool (`vol-clone`).
    pub async fn clone_as(&self, name: &str, opts: VolumeCreateOptions) -> Result<StorageVolume> {
        self.conn.writable()?;
        // Its pool (by UUID: no handle is needed) and its document, asked
        // for at once: one round trip to a daemon before the copy, not three.
        let (pool, mut def) = match self.conn.backend() {
            Backend::Local(e) => {
                let pool = self.info().await?.pool_uuid;
                match e.object_definition(ObjectKind::Volume, self.uuid, Default::default())? {
                    Def::Volume(v) => (pool, *v),
                    _ => return Err(Error::new(ErrorKind::Internal, "not a volume")),
                }
            }
            Backend::Remote(_) => {
                let (info, xml) = tokio::try_join!(self.info(), self.xml(Default::default()))?;
                (info.pool_uuid, VolumeDef::from_xml(&xml).map_err(Error::invalid_document)?)
            }
        };
        def.name = name.to_owned();
        def.key = None;
        def.target.path = None;
        // What the source uses now is no request to preallocate the copy.
        def.allocation = None;
        let from = opts.from.unwrap_or(self.uuid);
        self.conn.create_volume_in(pool, def, opts.from(from)).await
    }

    pub async fn delete(&self, opts: DeleteOptions) -> Result<VolumeInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.delete_volume(self.uuid, opts).await,
            Backend::Remote(r) => self.vol_info(r.delete_volume(self.uuid).await?),
        }
    }

    pub async fn wipe(&self, opts: WipeOptions) -> Result<VolumeInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.wipe_volume(self.uuid, opts).await,
            Backend::Remote(r) => self.vol_info(r.wipe_volume(self.uuid, opts.algorithm).await?),
        }
    }

    /// Changes its capacity to `capacity` bytes (with `opts.delta`: by).
    pub async fn resize(&self, capacity: u64, opts: ResizeOptions) -> Result<VolumeInfo> {
        self.conn.writable()?;
        match self.conn.backend() {
            Backend::Local(e) => e.resize_volume(self.uuid, capacity, opts).await,
            Backend::Remote(r) => self.vol_info(r.resize_volume(self.uuid, capacity, opts).await?),
        }
    }
}
