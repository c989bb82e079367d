//! The secret document (`<secret>`, libvirt's `secret.rng`): a secret's
//! identity and what it is for (a volume's encryption key, a Ceph user's
//! key, an iSCSI target's CHAP password, TLS, a vTPM's state key). The
//! value itself is never part of the document: it is set and read apart
//! (`secret-set-value`), as in libvirt.
//!
//! ```
//! use virtkit_model::secret::{Secret, SecretUsage};
//!
//! let s = Secret::from_xml(
//!     "<secret ephemeral='no' private='yes'>\
//!      <uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f</uuid>\
//!      <usage type='iscsi'><target>libvirtiscsi</target></usage></secret>",
//! )
//! .unwrap();
//! assert_eq!(s.usage, Some(SecretUsage::Iscsi("libvirtiscsi".into())));
//! assert!(s.private && !s.ephemeral);
//! ```

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::document::{self, Model};
use crate::domain::keep;
use crate::domain::validate::V;
use crate::error::{Error, ErrorKind, Errors};
use crate::xml::reader::{El, Result};
use crate::xml::truncate;
use crate::xml::writer::XmlWriter;

/// A secret's definition.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Secret {
    /// Kept in memory only: gone when the daemon stops.
    #[serde(default)]
    pub ephemeral: bool,
    /// Its value may not be read back by any client.
    #[serde(default)]
    pub private: bool,
    pub uuid: Uuid,
    pub description: Option<String>,
    pub usage: Option<SecretUsage>,
}

/// What a secret is for, and the name it is looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
#[non_exhaustive]
pub enum SecretUsage {
    /// A volume's encryption key: the volume's path.
    Volume(String),
    /// A Ceph user's key: a name.
    Ceph(String),
    /// An iSCSI target's CHAP password: a name.
    Iscsi(String),
    /// TLS keys: a name.
    Tls(String),
    /// A vTPM's state encryption key: a name.
    Vtpm(String),
}

impl SecretUsage {
    /// The `type` libvirt writes: `volume`, `ceph`, `iscsi`, `tls`, `vtpm`.
    pub fn usage_type(&self) -> &'static str {
        match self {
            SecretUsage::Volume(_) => "volume",
            SecretUsage::Ceph(_) => "ceph",
            SecretUsage::Iscsi(_) => "iscsi",
            SecretUsage::Tls(_) => "tls",
            SecretUsage::Vtpm(_) => "vtpm",
        }
    }

    /// What the secret is looked up by (`virSecretLookupByUsage`).
    pub fn id(&self) -> &str {
        match self {
            SecretUsage::Volume(s)
            | SecretUsage::Ceph(s)
            | SecretUsage::Iscsi(s)
            | SecretUsage::Tls(s)
            | SecretUsage::Vtpm(s) => s,
        }
    }

    /// The element holding the id, under `<usage>`.
    fn element(&self) -> &'static str {
        match self {
            SecretUsage::Volume(_) => "volume",
            SecretUsage::Iscsi(_) => "target",
            _ => "name",
        }
    }
}

impl Secret {
    /// A secret with a fresh UUID, persistent and readable.
    pub fn new() -> Self {
        Secret { ephemeral: false, private: false, uuid: Uuid::new_v4(), description: None, usage: None }
    }

    pub fn with_usage(mut self, usage: SecretUsage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Reads a secret document, strictly; every error found is returned
    /// with its location.
    pub fn from_xml(text: &str) -> std::result::Result<Secret, Errors> {
        document::from_xml(text)
    }

    /// The canonical XML form: libvirt's element order, two-space indent.
    pub fn to_xml(&self) -> String {
        document::to_xml(self)
    }

    /// Reads the JSON encoding, with the same checks as [`Secret::from_xml`].
    pub fn from_json(text: &str) -> std::result::Result<Secret, Errors> {
        document::from_json(text)
    }

    /// The JSON encoding, pretty-printed.
    pub fn to_json(&self) -> String {
        document::to_json(self)
    }

    /// Checks the whole secret; every problem found is returned.
    pub fn validate(&self) -> std::result::Result<(), Errors> {
        document::validate(self)
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new()
    }
}

fn read_usage(u: &El<'_, '_>) -> Result<SecretUsage> {
    let kind: String = u.req_attr("type")?;
    Ok(match kind.as_str() {
        "volume" => SecretUsage::Volume(u.req_child("volume", |e| Ok(e.text()))?),
        "ceph" => SecretUsage::Ceph(u.req_child("name", |e| Ok(e.text()))?),
        "iscsi" => SecretUsage::Iscsi(u.req_child("target", |e| Ok(e.text()))?),
        "tls" => SecretUsage::Tls(u.req_child("name", |e| Ok(e.text()))?),
        "vtpm" => SecretUsage::Vtpm(u.req_child("name", |e| Ok(e.text()))?),
        other => {
            let why = format!("'{}' is not volume, ceph, iscsi, tls or vtpm", truncate(other));
            return Err(u.attr_error("type", ErrorKind::InvalidValue(why)));
        }
    })
}

impl Model for Secret {
    const ROOT: &'static str = "secret";

    fn read(el: &El<'_, '_>, errors: &mut Vec<Error>) -> Result<Secret> {
        let mut s = Secret::new();
        s.ephemeral = keep(el.yes_no("ephemeral"), errors).flatten().unwrap_or(false);
        s.private = keep(el.yes_no("private"), errors).flatten().unwrap_or(false);
        if let Some(u) = keep(el.child_value::<Uuid>("uuid"), errors).flatten() {
            s.uuid = u;
        }
        s.description = keep(el.child_text("description"), errors).flatten();
        s.usage = keep(el.child("usage", read_usage), errors).flatten();
        Ok(s)
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("secret");
        w.yes_no("ephemeral", Some(self.ephemeral));
        w.yes_no("private", Some(self.private));
        w.text_element("uuid", &self.uuid.to_string());
        w.opt_text_element("description", self.description.as_ref());
        if let Some(u) = &self.usage {
            w.start("usage");
            w.attr("type", u.usage_type());
            w.text_element(u.element(), u.id());
            w.end();
        }
        w.end();
    }

    fn check(&self, v: &mut V) {
        let Some(u) = &self.usage else { return };
        let path = format!("/secret/usage/{}", u.element());
        let id = u.id();
        match u {
            SecretUsage::Volume(p) if !p.starts_with('/') || p.len() < 2 => {
                v.value(path, format!("'{}' is not an absolute path", truncate(p)));
            }
            SecretUsage::Volume(_) => {}
            _ if id.is_empty() || id.contains(['/', '\n']) => {
                v.value(path, format!("'{}' is not a name (not empty, no '/' or line breaks)", truncate(id)));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_usage_reads_and_writes_back_the_same() {
        for (kind, el, id) in [
            ("volume", "volume", "/var/lib/virtkit/images/enc.qcow2"),
            ("ceph", "name", "client.admin secret"),
            ("iscsi", "target", "libvirtiscsi"),
            ("tls", "name", "tls_example"),
            ("vtpm", "name", "vtpm-1"),
        ] {
            let xml = format!(
                "<secret ephemeral='yes' private='no'><uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f</uuid>\
                 <description>d</description><usage type='{kind}'><{el}>{id}</{el}></usage></secret>"
            );
            let s = Secret::from_xml(&xml).unwrap();
            let u = s.usage.clone().unwrap();
            assert_eq!((u.usage_type(), u.id()), (kind, id));
            assert!(s.ephemeral && !s.private);
            let again = Secret::from_xml(&s.to_xml()).unwrap();
            assert_eq!(again, s);
            assert_eq!(Secret::from_json(&s.to_json()).unwrap(), s);
        }
    }

    #[test]
    fn a_secret_without_uuid_gets_one_and_bad_ones_are_refused_by_place() {
        let a = Secret::from_xml("<secret/>").unwrap();
        let b = Secret::from_xml("<secret/>").unwrap();
        assert_ne!(a.uuid, b.uuid);
        assert!(a.to_xml().contains("ephemeral=\"no\"") || a.to_xml().contains("ephemeral='no'"), "{}", a.to_xml());
        for (xml, at) in [
            ("<secret><usage type='volume'><volume>rel/p</volume></usage></secret>", "/secret/usage/volume"),
            ("<secret><usage type='iscsi'><target>a/b</target></usage></secret>", "/secret/usage/target"),
            ("<secret><usage type='iscsi'><name>x</name></usage></secret>", "/secret/usage"),
            ("<secret><usage type='nfs'><name>x</name></usage></secret>", "/secret/usage/@type"),
            ("<secret private='maybe'/>", "/secret/@private"),
            ("<secret><uuid>nope</uuid></secret>", "/secret/uuid"),
            ("<secret><value>c2VjcmV0</value></secret>", "/secret/value"),
        ] {
            let e = Secret::from_xml(xml).unwrap_err();
            assert!(e.first().path.starts_with(at), "{xml}: {e}");
        }
    }
}
