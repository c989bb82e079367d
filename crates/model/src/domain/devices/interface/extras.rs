//! The smaller parts of an `<interface>`: `<teaming>`, `<coalesce>`,
//! `<filterref>`, `<backend>`, `<guest>`.

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// Failover teaming of a virtio NIC with a passed-through one (`<teaming>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum Teaming {
    /// The virtio NIC that stays (its alias is what the transient names).
    Persistent,
    /// The NIC that comes and goes, backed by the interface whose alias is
    /// `persistent`.
    Transient { persistent: String },
}

impl Teaming {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Teaming> {
        let t = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        Ok(match t {
            "persistent" => Teaming::Persistent,
            "transient" => Teaming::Transient { persistent: el.req_attr("persistent")? },
            other => {
                let msg = format!("'{}' is not one of persistent, transient", crate::xml::truncate(other));
                return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
            }
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("teaming");
        match self {
            Teaming::Persistent => w.attr("type", "persistent"),
            Teaming::Transient { persistent } => {
                w.attr("type", "transient");
                w.attr("persistent", persistent);
            }
        }
        w.end();
    }
}

/// Interrupt coalescing of the host's tap (`<coalesce><rx><frames max>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Coalesce {
    pub rx: Option<CoalesceRx>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CoalesceRx {
    pub frames: Option<CoalesceFrames>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CoalesceFrames {
    /// Frames received before an interrupt, at most.
    pub max: Option<u32>,
}

impl Coalesce {
    /// An interrupt every `max` received frames at most.
    pub fn rx_frames(max: u32) -> Self {
        Coalesce { rx: Some(CoalesceRx { frames: Some(CoalesceFrames { max: Some(max) }) }) }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Coalesce> {
        Ok(Coalesce {
            rx: el.child("rx", |rx| {
                Ok(CoalesceRx { frames: rx.child("frames", |f| Ok(CoalesceFrames { max: f.attr("max")? }))? })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("coalesce");
        if let Some(rx) = &self.rx {
            w.start("rx");
            if let Some(f) = &rx.frames {
                w.start("frames");
                w.attr_opt("max", f.max.as_ref());
                w.end();
            }
            w.end();
        }
        w.end();
    }
}

/// A network filter applied to the interface's traffic (`<filterref>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FilterRef {
    pub filter: String,
    /// The filter's variables, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<FilterParameter>,
}

/// One variable of a filter (`<parameter name value>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FilterParameter {
    pub name: String,
    pub value: String,
}

impl FilterParameter {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        FilterParameter { name: name.into(), value: value.into() }
    }
}

impl FilterRef {
    pub fn new(filter: impl Into<String>) -> Self {
        FilterRef { filter: filter.into(), parameters: Vec::new() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<FilterRef> {
        Ok(FilterRef {
            filter: el.req_attr("filter")?,
            parameters: el.children("parameter", |p| {
                Ok(FilterParameter { name: p.req_attr("name")?, value: p.req_attr("value")? })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("filterref");
        w.attr("filter", &self.filter);
        for p in &self.parameters {
            w.start("parameter");
            w.attr("name", &p.name);
            w.attr("value", &p.value);
            w.end();
        }
        w.end();
    }
}

xml_enum! {
    /// The user-space backend of a `user` interface.
    pub enum BackendType {
        Passt = "passt",
    }
}

/// Host devices and helpers the interface's backend uses (`<backend>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InterfaceBackend {
    #[serde(rename = "type")]
    pub backend_type: Option<BackendType>,
    /// The tun device to open (`/dev/net/tun`).
    pub tap: Option<String>,
    /// The vhost-net device to open (`/dev/vhost-net`).
    pub vhost: Option<String>,
    /// passt's log.
    pub log_file: Option<String>,
}

impl InterfaceBackend {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<InterfaceBackend> {
        Ok(InterfaceBackend {
            backend_type: el.attr("type")?,
            tap: el.attr("tap")?,
            vhost: el.attr("vhost")?,
            log_file: el.attr("logFile")?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("backend");
        w.attr_opt("type", self.backend_type.as_ref());
        w.attr_opt("tap", self.tap.as_ref());
        w.attr_opt("vhost", self.vhost.as_ref());
        w.attr_opt("logFile", self.log_file.as_ref());
        w.end();
    }
}

/// The interface's name inside a container (`<guest dev actual>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InterfaceGuest {
    /// The name asked for.
    pub dev: Option<String>,
    /// The name it got (a running guest's).
    pub actual: Option<String>,
}

impl InterfaceGuest {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<InterfaceGuest> {
        Ok(InterfaceGuest { dev: el.attr("dev")?, actual: el.attr("actual")? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("guest");
        w.attr_opt("dev", self.dev.as_ref());
        w.attr_opt("actual", self.actual.as_ref());
        w.end();
    }
}

xml_enum! {
    /// Where a MAC address came from.
    pub enum MacType {
        Generated = "generated",
        Static = "static",
    }
}

/// Tuning of the host's tap (`<tune>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InterfaceTune {
    /// The send buffer, bytes (0: unlimited).
    pub sndbuf: Option<u32>,
}

impl InterfaceTune {
    pub fn sndbuf(bytes: u32) -> Self {
        InterfaceTune { sndbuf: Some(bytes) }
    }
}
