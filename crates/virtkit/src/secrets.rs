//! Secrets (libvirt's virSecret): defined, listed, looked up and undefined
//! as every kind of object is; their values set and read apart. A value is
//! refused on a read-only connection, and read back for no client when the
//! secret is private.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), virtkit::Error> {
//! let conn = virtkit::Connection::open("test:///default").await?;
//! let s = conn
//!     .define_secret_xml(
//!         "<secret><usage type='iscsi'><target>chap</target></usage></secret>",
//!         Default::default(),
//!     )
//!     .await?;
//! s.set_value(b"password", Default::default()).await?;
//! let found = conn.lookup_secret_by_usage("iscsi", "chap").await?;
//! assert_eq!(found.value(Default::default()).await?.as_bytes(), b"password");
//! # Ok(())
//! # }
//! ```

pub use virtkit_engine::options::SecretValueOptions;
use virtkit_model::secret::Secret as SecretDef;

use crate::objects::{kinds, typed_list};
use crate::{Backend, Connection, Def, DefineOptions, Error, Info, ListOptions, ObjectKind, Result, Secret};
use crate::{SecretBytes, SecretInfo, UndefineOptions};

impl Connection {
    pub async fn define_secret_xml(&self, xml: &str, opts: DefineOptions) -> Result<Secret> {
        self.define_secret(SecretDef::from_xml(xml).map_err(Error::invalid_document)?, opts).await
    }

    /// Stores a secret's definition (a new one has no value yet).
    pub async fn define_secret(&self, def: SecretDef, opts: DefineOptions) -> Result<Secret> {
        let i = self.define_object(Def::Secret(Box::new(def)), opts).await?;
        self.typed(i)
    }

    /// By UUID.
    pub async fn lookup_secret(&self, uuid: &str) -> Result<Secret> {
        let i = self.lookup_object(ObjectKind::Secret, uuid).await?;
        self.typed(i)
    }

    /// The secret with this usage type (`iscsi`, `ceph`, `volume`, `tls`,
    /// `vtpm`) and id (`virSecretLookupByUsage`).
    pub async fn lookup_secret_by_usage(&self, usage_type: &str, id: &str) -> Result<Secret> {
        let i = match self.backend() {
            Backend::Local(e) => Info::from(e.lookup_secret_by_usage(usage_type, id)?),
            Backend::Remote(r) => r.lookup_secret_by_usage(usage_type, id).await?,
        };
        self.typed(i)
    }

    pub async fn list_secrets(&self, opts: ListOptions) -> Result<crate::List<SecretInfo>> {
        typed_list::<kinds::Secret>(self.list_objects(ObjectKind::Secret, opts).await?)
    }
}

impl Secret {
    /// Sets its value (at most 64 KiB).
    pub async fn set_value(&self, value: &[u8], opts: SecretValueOptions) -> Result<SecretInfo> {
        let conn = self.connection();
        conn.writable()?;
        let i = match conn.backend() {
            Backend::Local(e) => Info::from(e.set_secret_value(self.uuid(), value.to_vec(), opts).await?),
            Backend::Remote(r) => r.set_secret_value(self.uuid(), value.to_vec()).await?,
        };
        <kinds::Secret as kinds::Kind>::info(i)
    }

    /// Its value; refused when it is private or has none. The bytes are
    /// wiped from memory when the last copy of the value is dropped.
    pub async fn value(&self, opts: SecretValueOptions) -> Result<SecretBytes> {
        let conn = self.connection();
        conn.writable()?;
        match conn.backend() {
            Backend::Local(e) => e.get_secret_value(self.uuid(), opts),
            Backend::Remote(r) => r.get_secret_value(self.uuid()).await,
        }
    }

    /// Removes it and its value.
    pub async fn undefine(&self, opts: UndefineOptions) -> Result<SecretInfo> {
        let i = self.connection().undefine_object(ObjectKind::Secret, self.uuid(), opts).await?;
        <kinds::Secret as kinds::Kind>::info(i)
    }
}
