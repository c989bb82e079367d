//! libvirt's QEMU namespace (`xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'`):
//! extra command-line arguments and environment, capability overrides,
//! device property overrides and the deprecation policy, kept whole.

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// The QEMU namespace's URI.
pub const QEMU_NS: &str = "http://libvirt.org/schemas/domain/qemu/1.0";

xml_enum! {
    /// What QEMU does with deprecated commands and arguments.
    pub enum DeprecationBehavior {
        None = "none",
        /// Hide them from its output.
        Omit = "omit",
        /// Refuse them.
        Reject = "reject",
        /// Abort.
        Crash = "crash",
    }
}

xml_enum! {
    pub enum PropertyType {
        String = "string",
        Signed = "signed",
        Unsigned = "unsigned",
        Bool = "bool",
        /// Drop the property libvirt would set.
        Remove = "remove",
    }
}

/// Every `qemu:` element of a domain.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QemuNamespace {
    pub commandline: Option<QemuCommandline>,
    pub capabilities: Option<QemuCapabilities>,
    /// Device property overrides, by device alias.
    pub overrides: Option<Vec<QemuDeviceOverride>>,
    pub deprecation: Option<DeprecationBehavior>,
}

/// `<qemu:commandline>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct QemuCommandline {
    /// Arguments added to QEMU's command line, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<QemuEnv>,
}

/// `<qemu:env name value>`: an environment variable for QEMU.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QemuEnv {
    pub name: String,
    pub value: Option<String>,
}

/// `<qemu:capabilities>`: libvirt capability flags forced on or off.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct QemuCapabilities {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub del: Vec<String>,
}

/// `<qemu:device alias>`: properties of one device's frontend overridden.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QemuDeviceOverride {
    pub alias: String,
    /// `Some` with no properties: an empty `<qemu:frontend/>`.
    pub frontend: Option<Vec<QemuProperty>>,
}

/// `<qemu:property name type value>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QemuProperty {
    pub name: String,
    #[serde(rename = "type")]
    pub prop_type: PropertyType,
    pub value: Option<String>,
}

impl QemuCommandline {
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        QemuCommandline { args: args.into_iter().collect(), env: Vec::new() }
    }
}

impl QemuEnv {
    pub fn new(name: impl Into<String>, value: Option<String>) -> Self {
        QemuEnv { name: name.into(), value }
    }
}

impl QemuNamespace {
    pub fn is_empty(&self) -> bool {
        self.commandline.is_none()
            && self.capabilities.is_none()
            && self.overrides.is_none()
            && self.deprecation.is_none()
    }

    /// Reads the `qemu:` children of `<domain>`.
    pub(crate) fn read(el: &El<'_, '_>) -> Result<QemuNamespace> {
        let ns = QEMU_NS;
        Ok(QemuNamespace {
            commandline: el.child_ns(ns, "commandline", |c| {
                Ok(QemuCommandline {
                    args: c.children_ns(ns, "arg", |a| a.req_attr("value"))?,
                    env: c.children_ns(ns, "env", |e| {
                        Ok(QemuEnv { name: e.req_attr("name")?, value: e.attr("value")? })
                    })?,
                })
            })?,
            capabilities: el.child_ns(ns, "capabilities", |c| {
                Ok(QemuCapabilities {
                    add: c.children_ns(ns, "add", |a| a.req_attr("capability"))?,
                    del: c.children_ns(ns, "del", |a| a.req_attr("capability"))?,
                })
            })?,
            overrides: el.child_ns(ns, "override", |o| {
                o.children_ns(ns, "device", |d| {
                    Ok(QemuDeviceOverride {
                        alias: d.req_attr("alias")?,
                        frontend: d.child_ns(ns, "frontend", |f| {
                            f.children_ns(ns, "property", |p| {
                                Ok(QemuProperty {
                                    name: p.req_attr("name")?,
                                    prop_type: p.req_attr("type")?,
                                    value: p.attr("value")?,
                                })
                            })
                        })?,
                    })
                })
            })?,
            deprecation: el.child_ns(ns, "deprecation", |d| d.req_attr("behavior"))?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        if let Some(c) = &self.commandline {
            w.start("qemu:commandline");
            for a in &c.args {
                w.start("qemu:arg");
                w.attr("value", a);
                w.end();
            }
            for e in &c.env {
                w.start("qemu:env");
                w.attr("name", &e.name);
                w.attr_opt("value", e.value.as_ref());
                w.end();
            }
            w.end();
        }
        if let Some(c) = &self.capabilities {
            w.start("qemu:capabilities");
            for (what, list) in [("qemu:add", &c.add), ("qemu:del", &c.del)] {
                for cap in list {
                    w.start(what);
                    w.attr("capability", cap);
                    w.end();
                }
            }
            w.end();
        }
        if let Some(devices) = &self.overrides {
            w.start("qemu:override");
            for d in devices {
                w.start("qemu:device");
                w.attr("alias", &d.alias);
                if let Some(props) = &d.frontend {
                    w.start("qemu:frontend");
                    for p in props {
                        w.start("qemu:property");
                        w.attr("name", &p.name);
                        w.attr("type", p.prop_type.as_str());
                        w.attr_opt("value", p.value.as_ref());
                        w.end();
                    }
                    w.end();
                }
                w.end();
            }
            w.end();
        }
        if let Some(b) = self.deprecation {
            w.start("qemu:deprecation");
            w.attr("behavior", b.as_str());
            w.end();
        }
    }
}
