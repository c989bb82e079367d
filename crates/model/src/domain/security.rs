//! Security: labels for the guest's process and files (`<seclabel>`, also
//! on a device's source), wrapping keys (`<keywrap>`), and memory
//! encryption at launch (`<launchSecurity>`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;
use crate::xml::{XmlValue, truncate};

xml_enum! {
    pub enum SecLabelType {
        /// The security driver picks a label (the default).
        Dynamic = "dynamic",
        /// The label given is used.
        Static = "static",
        /// Not confined.
        None = "none",
    }
}

/// A domain's `<seclabel>` (one per security driver).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SecLabel {
    #[serde(rename = "type")]
    pub label_type: Option<SecLabelType>,
    /// The security driver: `selinux`, `apparmor`, `dac`, `none`.
    pub model: Option<String>,
    /// Whether files are relabelled for the guest.
    pub relabel: Option<bool>,
    pub label: Option<String>,
    pub imagelabel: Option<String>,
    pub baselabel: Option<String>,
}

impl SecLabel {
    pub fn new(label_type: SecLabelType) -> Self {
        SecLabel { label_type: Some(label_type), ..Default::default() }
    }

    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<SecLabel> {
        Ok(SecLabel {
            label_type: el.attr("type")?,
            model: el.attr("model")?,
            relabel: el.yes_no("relabel")?,
            label: el.child_text("label")?,
            imagelabel: el.child_text("imagelabel")?,
            baselabel: el.child_text("baselabel")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("seclabel");
        w.attr_opt("type", self.label_type.as_ref());
        w.attr_opt("model", self.model.as_ref());
        w.yes_no("relabel", self.relabel);
        w.opt_text_element("label", self.label.as_ref());
        w.opt_text_element("imagelabel", self.imagelabel.as_ref());
        w.opt_text_element("baselabel", self.baselabel.as_ref());
        w.end();
    }
}

/// A device's `<seclabel>` (in a disk's or character device's `<source>`):
/// an override of the domain's label for that one file.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceSecLabel {
    pub model: Option<String>,
    pub relabel: Option<bool>,
    /// Output only: the file was not relabelled.
    pub labelskip: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

// Read and written by the device readers (disk and character device sources).
#[allow(dead_code)]
impl DeviceSecLabel {
    /// No relabelling of this file by `model` (all drivers when `None`).
    pub fn no_relabel(model: Option<String>) -> Self {
        DeviceSecLabel { model, relabel: Some(false), ..Default::default() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<DeviceSecLabel> {
        Ok(DeviceSecLabel {
            model: el.attr("model")?,
            relabel: el.yes_no("relabel")?,
            labelskip: el.yes_no("labelskip")?,
            labels: el.children("label", |l| Ok(l.text()))?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("seclabel");
        w.attr_opt("model", self.model.as_ref());
        w.yes_no("relabel", self.relabel);
        w.yes_no("labelskip", self.labelskip);
        for l in &self.labels {
            w.text_element("label", l);
        }
        w.end();
    }

    /// What libvirt's schema requires of one: `relabel='no'`, `labelskip`,
    /// or at least one label.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        let ok = self.relabel == Some(false) || self.labelskip == Some(true) || !self.labels.is_empty();
        if !ok {
            Some("a device seclabel needs relabel='no', labelskip='yes' or a <label>")
        } else if self.relabel == Some(false) && !self.labels.is_empty() {
            Some("a label is pointless with relabel='no'")
        } else {
            None
        }
    }
}

xml_enum! {
    pub enum Cipher {
        Aes = "aes",
        Dea = "dea",
    }
}

/// `<cipher name state>` in `<keywrap>` (s390 key wrapping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeyWrapCipher {
    pub name: Cipher,
    pub state: bool,
}

pub(crate) fn read_keywrap(el: &El<'_, '_>) -> Result<Vec<KeyWrapCipher>> {
    el.one_or_more("cipher", |c| {
        Ok(KeyWrapCipher {
            name: c.req_attr("name")?,
            state: c.on_off("state")?.ok_or_else(|| c.missing_attr("state"))?,
        })
    })
}

pub(crate) fn write_keywrap(w: &mut XmlWriter, ciphers: &[KeyWrapCipher]) {
    w.start("keywrap");
    for c in ciphers {
        w.start("cipher");
        w.attr("name", c.name.as_str());
        w.on_off("state", Some(c.state));
        w.end();
    }
    w.end();
}

/// A 32-bit value libvirt writes in hex (`0x0003`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexU32(pub u32);

impl XmlValue for HexU32 {
    fn parse_xml(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let digits = t.strip_prefix("0x").unwrap_or(t);
        if digits.is_empty() || digits.len() > 8 {
            return Err(format!("'{}' is not a hexadecimal number of up to 8 digits", truncate(s)));
        }
        u32::from_str_radix(digits, 16)
            .map(HexU32)
            .map_err(|_| format!("'{}' is not a hexadecimal number", truncate(s)))
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Owned(format!("0x{:04x}", self.0))
    }
}

/// `<launchSecurity>`: memory encryption from launch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum LaunchSecurity {
    /// AMD SEV.
    Sev(Box<Sev>),
    /// IBM Secure Execution (s390 protected virtualisation).
    S390Pv,
}

/// AMD SEV's parameters.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sev {
    pub kernel_hashes: Option<bool>,
    pub cbitpos: Option<u32>,
    pub reduced_phys_bits: Option<u32>,
    pub policy: HexU32,
    pub handle: Option<u32>,
    pub dh_cert: Option<String>,
    pub session: Option<String>,
}

impl Sev {
    pub fn new(policy: u32) -> Self {
        Sev {
            kernel_hashes: None,
            cbitpos: None,
            reduced_phys_bits: None,
            policy: HexU32(policy),
            handle: None,
            dh_cert: None,
            session: None,
        }
    }
}

impl LaunchSecurity {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<LaunchSecurity> {
        match el.req_attr::<String>("type")?.as_str() {
            "sev" => Ok(LaunchSecurity::Sev(Box::new(Sev {
                kernel_hashes: el.yes_no("kernelHashes")?,
                cbitpos: el.child_value("cbitpos")?,
                reduced_phys_bits: el.child_value("reducedPhysBits")?,
                policy: el.req_child("policy", |p| p.value())?,
                handle: el.child_value("handle")?,
                dh_cert: el.child_text("dhCert")?,
                session: el.child_text("session")?,
            }))),
            "s390-pv" => Ok(LaunchSecurity::S390Pv),
            other => Err(el.attr_error(
                "type",
                crate::ErrorKind::InvalidValue(format!("'{}' is not one of sev, s390-pv", truncate(other))),
            )),
        }
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("launchSecurity");
        match self {
            LaunchSecurity::Sev(s) => {
                w.attr("type", "sev");
                w.yes_no("kernelHashes", s.kernel_hashes);
                w.opt_text_element("cbitpos", s.cbitpos.as_ref());
                w.opt_text_element("reducedPhysBits", s.reduced_phys_bits.as_ref());
                w.text_element("policy", &s.policy.to_xml());
                w.opt_text_element("handle", s.handle.as_ref());
                w.opt_text_element("dhCert", s.dh_cert.as_ref());
                w.opt_text_element("session", s.session.as_ref());
            }
            LaunchSecurity::S390Pv => w.attr("type", "s390-pv"),
        }
        w.end();
    }
}
