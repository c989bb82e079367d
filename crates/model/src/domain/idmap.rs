//! `<idmap>`: user and group id ranges mapped into a container's user
//! namespace.

use serde::{Deserialize, Serialize};

use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// `<idmap>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Idmap {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uid: Vec<IdRange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gid: Vec<IdRange>,
}

/// `<uid start target count>`: ids `start..start+count` in the guest are
/// `target..` on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IdRange {
    pub start: u32,
    pub target: u32,
    pub count: u32,
}

impl IdRange {
    pub fn new(start: u32, target: u32, count: u32) -> Self {
        IdRange { start, target, count }
    }
}

impl Idmap {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Idmap> {
        let range = |r: &El<'_, '_>| {
            Ok(IdRange { start: r.req_attr("start")?, target: r.req_attr("target")?, count: r.req_attr("count")? })
        };
        Ok(Idmap { uid: el.children("uid", range)?, gid: el.children("gid", range)? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("idmap");
        for (name, list) in [("uid", &self.uid), ("gid", &self.gid)] {
            for r in list {
                w.start(name);
                w.attr_val("start", &r.start);
                w.attr_val("target", &r.target);
                w.attr_val("count", &r.count);
                w.end();
            }
        }
        w.end();
    }
}
