//! Secrets (libvirt's virSecret): the kind, and their values. A secret is
//! defined, never started; no two have one usage (type and id). Its value
//! is set and read apart from its definition: kept beside the definition
//! in the state directory (mode 0600, written atomically), or in memory
//! only for an ephemeral secret, and never given to a client when the
//! secret is private. Values are never logged.

use std::borrow::Cow;
use std::sync::Arc;

use uuid::Uuid;
use virtkit_model::secret::Secret;
use virtkit_model::storage::SecretRef;
use zeroize::Zeroizing;

use crate::engine::{Engine, Inner};
use crate::error::{Error, ErrorKind, Result};
use crate::kind::{Definition, Kind, Record, Table};
use crate::lifecycle::Lifecycle;
use crate::options::{ListOptions, SecretValueOptions};
use crate::registry::Registry;
use crate::seams::SecretBytes;
use crate::store::Store;
use crate::types::{EventDetail, EventKind, JobKind, ObjectKind, ObjectState, ResourceState, SecretInfo};

/// The largest value a secret holds.
pub const MAX_VALUE: usize = 64 << 10;

impl Definition for Secret {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(self.uuid.to_string())
    }
    fn to_xml(&self) -> String {
        Secret::to_xml(self)
    }
    fn from_xml(text: &str) -> std::result::Result<Self, virtkit_model::Errors> {
        Secret::from_xml(text)
    }
    fn validate(&self) -> std::result::Result<(), virtkit_model::Errors> {
        Secret::validate(self)
    }
    fn withhold_secrets(&mut self) {
        // The value is never part of the document.
    }
}

pub(crate) struct SecretKind;

/// What only a secret records.
#[derive(Debug, Default, Clone)]
pub(crate) struct SecretExtra {
    /// The value, wiped when the last holder drops it (see [`SecretBytes`]).
    pub value: Option<SecretBytes>,
}

impl Kind for SecretKind {
    const OBJECT: ObjectKind = ObjectKind::Secret;
    type Def = Secret;
    type State = ResourceState;
    type Extra = SecretExtra;

    fn table(reg: &Registry) -> &Table<Self> {
        &reg.secrets
    }
    fn table_mut(reg: &mut Registry) -> &mut Table<Self> {
        &mut reg.secrets
    }
    fn initial() -> ResourceState {
        ResourceState::Defined
    }
    fn is_active(_: &ResourceState) -> bool {
        false
    }
    fn event_state(s: &ResourceState) -> ObjectState {
        ObjectState::Resource(*s)
    }
    fn listed(r: &Record<Self>, opts: &ListOptions) -> bool {
        let def = r.config.as_ref();
        opts.ephemeral.is_none_or(|e| def.is_some_and(|d| d.ephemeral == e))
            && opts.private.is_none_or(|p| def.is_some_and(|d| d.private == p))
    }
}

/// `iscsi 'libvirtiscsi'`, for messages.
fn usage_words(s: &Secret) -> String {
    s.usage.as_ref().map_or_else(|| "no usage".into(), |u| format!("usage {} '{}'", u.usage_type(), u.id()))
}

impl Lifecycle for SecretKind {
    type Info = SecretInfo;

    fn without_job(i: &mut SecretInfo) {
        i.job = None;
    }

    fn info(_reg: &Registry, r: &Record<Self>) -> SecretInfo {
        let mut i = SecretInfo::new(r.uuid);
        if let Some(d) = r.config.as_ref() {
            i.usage_type = d.usage.as_ref().map(|u| u.usage_type().to_owned());
            i.usage_id = d.usage.as_ref().map(|u| u.id().to_owned());
            i.description.clone_from(&d.description);
            i.ephemeral = d.ephemeral;
            i.private = d.private;
        }
        i.has_value = r.extra.value.is_some();
        i.generation = r.generation;
        i.job = r.job_info();
        i
    }

    fn prepare(_inner: &Inner, def: Secret) -> Result<Secret> {
        def.validate().map_err(Error::invalid_document)?;
        Ok(def)
    }

    /// One secret per usage; a defined secret keeps its usage and does not
    /// stop being private or change where it is kept (as libvirt).
    fn check_against(reg: &Registry, def: &Secret) -> Result<()> {
        if let Some(old) = reg.secrets.get_any(&def.uuid).and_then(|r| r.config.as_ref()) {
            let refuse = |what: String| Err(Error::new(ErrorKind::AlreadyExists, what));
            if old.usage != def.usage {
                return refuse(format!("secret {} is already defined with {}", def.uuid, usage_words(old)));
            }
            if old.private && !def.private {
                return refuse(format!("secret {} is private: it cannot be made readable", def.uuid));
            }
            if old.ephemeral != def.ephemeral {
                return refuse(format!("secret {} cannot change whether it is ephemeral", def.uuid));
            }
        }
        let Some(usage) = &def.usage else { return Ok(()) };
        let other = reg
            .secrets
            .iter()
            .find(|r| r.uuid != def.uuid && r.config.as_ref().is_some_and(|c| c.usage.as_ref() == Some(usage)));
        match other {
            Some(o) => {
                Err(Error::new(ErrorKind::AlreadyExists, format!("secret {} already has {}", o.uuid, usage_words(def))))
            }
            None => Ok(()),
        }
    }

    fn save(store: &Store, generation: u64, autostart: bool, def: &Secret) -> Result<()> {
        if def.ephemeral { Ok(()) } else { store.save_def(ObjectKind::Secret, generation, autostart, def) }
    }

    /// The value first: a crash half-way leaves a secret without a value,
    /// never a value without its secret.
    fn unsave(store: &Store, def: &Secret) -> Result<()> {
        if def.ephemeral {
            return Ok(());
        }
        store.remove_value(&def.uuid)?;
        store.remove_def(ObjectKind::Secret, &def.uuid)
    }
}

impl Engine {
    /// Sets a secret's value (`virSecretSetValue`): stored beside its
    /// definition, or kept in memory for an ephemeral secret.
    pub async fn set_secret_value(&self, uuid: Uuid, value: Vec<u8>, _opts: SecretValueOptions) -> Result<SecretInfo> {
        // Wiped however the call ends, refused or not.
        let value = Zeroizing::new(value);
        self.run(move |i| async move { i.set_secret_value(uuid, value).await }).await
    }

    /// A secret's value (`virSecretGetValue`); refused for a private one.
    /// The copy returned is the caller's, and is not wiped.
    pub fn get_secret_value(&self, uuid: Uuid, _opts: SecretValueOptions) -> Result<SecretBytes> {
        let reg = self.inner.lock();
        let r = reg.secrets.get(&uuid)?;
        if r.config.as_ref().is_some_and(|c| c.private) {
            return Err(Error::new(ErrorKind::PermissionDenied, format!("secret {uuid} is private")));
        }
        value_of(r)
    }

    /// The secret with this usage (`virSecretLookupByUsage`).
    pub fn lookup_secret_by_usage(&self, usage_type: &str, id: &str) -> Result<SecretInfo> {
        let reg = self.inner.lock();
        let found = reg.secrets.iter().find(|r| {
            r.config
                .as_ref()
                .and_then(|c| c.usage.as_ref())
                .is_some_and(|u| u.usage_type() == usage_type && u.id() == id)
        });
        match found {
            Some(r) => Ok(SecretKind::info(&reg, r)),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("no secret with usage {} '{}'", crate::error::cut(usage_type), crate::error::cut(id)),
            )),
        }
    }
}

fn value_of(r: &Record<SecretKind>) -> Result<SecretBytes> {
    r.extra.value.clone().ok_or_else(|| Error::new(ErrorKind::NotFound, format!("secret {} has no value", r.uuid)))
}

/// The value of the secret a document names, for the engine's own use
/// (a pool's CHAP password): private secrets too. A usage names the
/// secret whose usage id it is, of `usage_type` when the document says
/// which (`iscsi` for CHAP, `ceph`), else of one usage type only.
pub(crate) fn secret_value(reg: &Registry, r: &SecretRef, usage_type: Option<&str>) -> Result<SecretBytes> {
    match r {
        SecretRef::Uuid(u) => value_of(reg.secrets.get(u)?),
        SecretRef::Usage(id) => {
            let mut found = reg.secrets.iter().filter(|s| {
                s.config
                    .as_ref()
                    .and_then(|c| c.usage.as_ref())
                    .is_some_and(|u| u.id() == id && usage_type.is_none_or(|t| t == u.usage_type()))
            });
            match (found.next(), found.next()) {
                (Some(s), None) => value_of(s),
                (Some(a), Some(b)) => Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("usage '{}' names secrets {} and {}", crate::error::cut(id), a.uuid, b.uuid),
                )),
                (None, _) => {
                    Err(Error::new(ErrorKind::NotFound, format!("no secret with usage '{}'", crate::error::cut(id))))
                }
            }
        }
        _ => Err(Error::new(ErrorKind::Unsupported, "this kind of secret reference is not known")),
    }
}

impl Inner {
    async fn set_secret_value(&self, uuid: Uuid, value: Zeroizing<Vec<u8>>) -> Result<SecretInfo> {
        if value.len() > MAX_VALUE {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("a secret's value is at most {MAX_VALUE} bytes, not {}", value.len()),
            ));
        }
        let (_job, _) = self.job::<SecretKind>(&uuid, JobKind::SetValue).await?;
        let ephemeral = self.lock().secrets.get(&uuid)?.config.as_ref().is_none_or(|c| c.ephemeral);
        if let Some(store) = &self.store
            && !ephemeral
        {
            store.save_value(&uuid, &value)?;
        }
        let mut reg = self.lock();
        reg.secrets.get_mut(&uuid)?.extra.value = Some(SecretBytes::from(value));
        self.emit::<SecretKind>(&mut reg, &uuid, EventKind::Changed, EventDetail::ValueChanged);
        Ok(SecretKind::answer(&reg, reg.secrets.get(&uuid)?))
    }

    /// Loads the stored secrets and their values.
    pub(crate) fn load_secrets(&self, store: &Store, problems: &mut Vec<String>) {
        let loaded = store.load::<SecretKind>();
        problems.extend(loaded.problems);
        for d in loaded.defs {
            let value = match store.load_value(&d.uuid) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(e);
                    None
                }
            };
            let mut reg = self.lock();
            if let Err(e) = SecretKind::check_against(&reg, &d.def) {
                problems.push(format!("secret {}: {e}: not loaded", d.uuid));
                continue;
            }
            let mut r = Record::<SecretKind>::new(d.uuid, d.uuid.to_string());
            r.config = Some(Arc::new(d.def));
            r.generation = d.generation;
            r.extra.value = value.map(SecretBytes::from);
            reg.secrets.insert(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use virtkit_model::secret::SecretUsage;

    use super::*;
    use crate::options::DefineOptions;

    fn engine() -> Engine {
        Engine::with_drivers(crate::engine::Drivers::default(), Default::default())
    }

    #[tokio::test]
    async fn the_engine_finds_a_value_by_uuid_or_by_usage_private_or_not() {
        let e = engine();
        let mut s = Secret::new().with_usage(SecretUsage::Iscsi("chap".into()));
        s.private = true;
        let uuid = s.uuid;
        e.define_object(crate::Def::Secret(Box::new(s)), DefineOptions::default()).await.unwrap();
        let by_uuid = SecretRef::Uuid(uuid);
        assert_eq!(secret_value(&e.inner.lock(), &by_uuid, None).unwrap_err().kind(), ErrorKind::NotFound);
        e.set_secret_value(uuid, b"s3cret".to_vec(), Default::default()).await.unwrap();
        assert_eq!(secret_value(&e.inner.lock(), &by_uuid, None).unwrap().as_bytes(), b"s3cret");
        assert_eq!(
            secret_value(&e.inner.lock(), &SecretRef::Usage("chap".into()), None).unwrap().as_bytes(),
            b"s3cret"
        );
        assert_eq!(
            secret_value(&e.inner.lock(), &SecretRef::Usage("other".into()), None).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        // Clients are refused it.
        assert_eq!(e.get_secret_value(uuid, Default::default()).unwrap_err().kind(), ErrorKind::PermissionDenied);
        let twin = Secret::new().with_usage(SecretUsage::Ceph("chap".into()));
        e.define_object(crate::Def::Secret(Box::new(twin)), DefineOptions::default()).await.unwrap();
        let err = secret_value(&e.inner.lock(), &SecretRef::Usage("chap".into()), None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        // Of a usage type, as a CHAP login or a Ceph key asks for it: one.
        let iscsi = secret_value(&e.inner.lock(), &SecretRef::Usage("chap".into()), Some("iscsi")).unwrap();
        assert_eq!(iscsi.as_bytes(), b"s3cret");
        let ceph = secret_value(&e.inner.lock(), &SecretRef::Usage("chap".into()), Some("ceph"));
        assert_eq!(ceph.unwrap_err().kind(), ErrorKind::NotFound, "the ceph one has no value");
        assert_eq!(format!("{:?}", secret_value(&e.inner.lock(), &by_uuid, None).unwrap()), "SecretBytes(6 bytes)");
    }
}
