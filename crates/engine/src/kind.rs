//! What every kind of object shares: a UUID, a name (unique per kind, or
//! per pool for volumes), a stored definition (none while transient), a
//! live definition while active, a state, a generation, autostart, a job
//! slot. One generic record and one generic table hold each kind; the code
//! that is the same for every kind is written once over [`Kind`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::jobs::JobSlot;
use crate::registry::Registry;
use crate::types::{JobInfo, ObjectKind, ObjectState};

/// A document the engine keeps: the model's domain, network, pool or
/// volume. Implemented here for the model's types.
pub trait Definition: Clone + Send + Sync + fmt::Debug + 'static {
    fn uuid(&self) -> Uuid;
    /// Its name (a secret, which has none: its UUID).
    fn name(&self) -> std::borrow::Cow<'_, str>;
    fn to_xml(&self) -> String;
    fn from_xml(text: &str) -> std::result::Result<Self, virtkit_model::Errors>;
    /// The model's own checks (the same for XML, JSON and code).
    fn validate(&self) -> std::result::Result<(), virtkit_model::Errors>;
    /// Takes out its secret values (`virtkit_model::secrets`).
    fn withhold_secrets(&mut self);
}

impl Definition for virtkit_model::domain::Domain {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
    fn name(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self.name)
    }
    fn to_xml(&self) -> String {
        virtkit_model::domain::Domain::to_xml(self)
    }
    fn from_xml(text: &str) -> std::result::Result<Self, virtkit_model::Errors> {
        virtkit_model::domain::Domain::from_xml(text)
    }
    fn validate(&self) -> std::result::Result<(), virtkit_model::Errors> {
        virtkit_model::domain::Domain::validate(self)
    }
    fn withhold_secrets(&mut self) {
        virtkit_model::domain::Domain::withhold_secrets(self);
    }
}

/// One kind of object, as the registry holds it.
pub(crate) trait Kind: Sized + Send + Sync + 'static {
    const OBJECT: ObjectKind;
    type Def: Definition;
    type State: Copy + PartialEq + Eq + Send + Sync + fmt::Debug + Serialize + DeserializeOwned + 'static;
    /// What only this kind records (a domain's running id …).
    type Extra: Default + Clone + Send + Sync + 'static;

    fn table(reg: &Registry) -> &Table<Self>;
    fn table_mut(reg: &mut Registry) -> &mut Table<Self>;
    /// The state of an object that was never started.
    fn initial() -> Self::State;
    fn is_active(s: &Self::State) -> bool;
    fn event_state(s: &Self::State) -> ObjectState;
    /// The name of the object's parent, for events (a volume's pool).
    fn parent_name(reg: &Registry, r: &Record<Self>) -> Option<String> {
        let _ = (reg, r);
        None
    }
    /// Whether a list keeps the object by what only this kind has (a
    /// secret's ephemeral and private); what every kind has is checked
    /// by the list.
    fn listed(r: &Record<Self>, opts: &crate::options::ListOptions) -> bool {
        let _ = (r, opts);
        true
    }
}

/// One object's entry.
#[derive(Clone)]
pub(crate) struct Record<K: Kind> {
    pub(crate) uuid: Uuid,
    pub(crate) name: String,
    /// The parent object (a volume's pool); `Uuid::nil()` for none.
    pub(crate) parent: Uuid,
    /// The stored definition; `None` while transient.
    pub(crate) config: Option<Arc<K::Def>>,
    /// The running definition, while active.
    pub(crate) live: Option<Arc<K::Def>>,
    pub(crate) state: K::State,
    pub(crate) autostart: bool,
    /// Bumped by every change to the stored definition.
    pub(crate) generation: u64,
    /// Not listed yet: reserved by a define or create under way.
    pub(crate) hidden: bool,
    /// The driver's runtime data while active.
    pub(crate) data: serde_json::Value,
    pub(crate) job: Arc<JobSlot>,
    pub(crate) extra: K::Extra,
}

impl<K: Kind> Record<K> {
    pub(crate) fn new(uuid: Uuid, name: String) -> Self {
        Record {
            uuid,
            name,
            parent: Uuid::nil(),
            config: None,
            live: None,
            state: K::initial(),
            autostart: false,
            generation: 0,
            hidden: false,
            data: serde_json::Value::Null,
            job: Arc::new(JobSlot::default()),
            extra: K::Extra::default(),
        }
    }

    pub(crate) fn active(&self) -> bool {
        K::is_active(&self.state)
    }

    /// The definition that describes it now: live when active.
    pub(crate) fn current_def(&self) -> Option<&Arc<K::Def>> {
        self.live.as_ref().or(self.config.as_ref())
    }

    pub(crate) fn obj_ref(&self) -> ObjRef {
        ObjRef { kind: K::OBJECT, uuid: self.uuid, name: self.name.clone() }
    }

    pub(crate) fn job_info(&self) -> Option<JobInfo> {
        self.job.current()
    }

    /// How messages name it: `network 'default'`.
    pub(crate) fn what(&self) -> String {
        format!("{} '{}'", K::OBJECT.noun(), self.name)
    }
}

/// Which object a call is about, for drivers and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjRef {
    pub kind: ObjectKind,
    pub uuid: Uuid,
    pub name: String,
}

impl ObjRef {
    pub fn new(kind: ObjectKind, uuid: Uuid, name: impl Into<String>) -> Self {
        ObjRef { kind, uuid, name: name.into() }
    }
}

impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.kind.noun(), self.name)
    }
}

/// Every object of one kind: by UUID, and by name within its parent.
pub(crate) struct Table<K: Kind> {
    recs: HashMap<Uuid, Record<K>>,
    names: HashMap<(Uuid, String), Uuid>,
}

impl<K: Kind> Default for Table<K> {
    fn default() -> Self {
        Table { recs: HashMap::new(), names: HashMap::new() }
    }
}

impl<K: Kind> Table<K> {
    /// A listed object (not one being reserved).
    pub(crate) fn get(&self, uuid: &Uuid) -> Result<&Record<K>> {
        self.recs.get(uuid).filter(|r| !r.hidden).ok_or_else(|| Error::not_found_of(K::OBJECT, &uuid.to_string()))
    }

    /// Any object, hidden ones too.
    pub(crate) fn get_any(&self, uuid: &Uuid) -> Option<&Record<K>> {
        self.recs.get(uuid)
    }

    pub(crate) fn get_mut(&mut self, uuid: &Uuid) -> Result<&mut Record<K>> {
        self.recs.get_mut(uuid).ok_or_else(|| Error::not_found_of(K::OBJECT, &uuid.to_string()))
    }

    pub(crate) fn contains(&self, uuid: &Uuid) -> bool {
        self.recs.contains_key(uuid)
    }

    /// The object with this UUID, or this name under `parent`.
    pub(crate) fn lookup(&self, parent: Uuid, key: &str) -> Result<&Record<K>> {
        let uuid = Uuid::try_parse(key)
            .ok()
            .filter(|u| self.recs.get(u).is_some_and(|r| r.parent == parent))
            .or_else(|| self.names.get(&(parent, key.to_owned())).copied());
        uuid.and_then(|u| self.recs.get(&u)).filter(|r| !r.hidden).ok_or_else(|| Error::not_found_of(K::OBJECT, key))
    }

    pub(crate) fn by_name(&self, parent: Uuid, name: &str) -> Option<Uuid> {
        self.names.get(&(parent, name.to_owned())).copied()
    }

    /// A name belongs to one UUID and a UUID to one name.
    pub(crate) fn check_identity(&self, uuid: Uuid, parent: Uuid, name: &str) -> Result<()> {
        let noun = K::OBJECT.noun();
        if let Some(other) = self.names.get(&(parent, name.to_owned())).filter(|u| **u != uuid) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{noun} '{}' already exists with uuid {other}", crate::error::cut(name)),
            ));
        }
        if let Some(r) = self.recs.get(&uuid).filter(|r| r.name != name) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("{noun} with uuid {uuid} already exists as '{}'", r.name),
            ));
        }
        Ok(())
    }

    pub(crate) fn insert(&mut self, r: Record<K>) {
        self.names.insert((r.parent, r.name.clone()), r.uuid);
        self.recs.insert(r.uuid, r);
    }

    pub(crate) fn remove(&mut self, uuid: &Uuid) -> Option<Record<K>> {
        let r = self.recs.remove(uuid)?;
        self.names.remove(&(r.parent, r.name.clone()));
        Some(r)
    }

    /// Listed objects, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Record<K>> {
        self.recs.values().filter(|r| !r.hidden)
    }
}
