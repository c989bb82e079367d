//! `<seclabel>` inside a device's source: how one host resource is labelled
//! for a security driver (SELinux, AppArmor, DAC), overriding the domain's.

use serde::{Deserialize, Serialize};

use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// A per-device security label override.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceSeclabel {
    /// The security driver (`selinux`, `apparmor`, `dac`); all of them when unset.
    pub model: Option<String>,
    /// `no`: leave the resource's label alone; `yes` with `label`: use that label.
    pub relabel: Option<bool>,
    /// Written by libvirt for a resource it chose not to relabel.
    pub labelskip: Option<bool>,
    pub label: Option<String>,
}

impl DeviceSeclabel {
    /// Leave the resource's label as it is, for `model` (all when `None`).
    pub fn no_relabel(model: Option<String>) -> Self {
        DeviceSeclabel { model, relabel: Some(false), labelskip: None, label: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<DeviceSeclabel> {
        Ok(DeviceSeclabel {
            model: el.attr("model")?,
            relabel: el.yes_no("relabel")?,
            labelskip: el.yes_no("labelskip")?,
            label: el.child_text("label")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("seclabel");
        w.attr_opt("model", self.model.as_ref());
        w.yes_no("relabel", self.relabel);
        w.yes_no("labelskip", self.labelskip);
        w.opt_text_element("label", self.label.as_ref());
        w.end();
    }
}

/// Every `<seclabel>` child of `el`.
pub(crate) fn read_seclabels(el: &El<'_, '_>) -> Result<Vec<DeviceSeclabel>> {
    el.children("seclabel", DeviceSeclabel::read)
}
