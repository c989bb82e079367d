//! Documents by kind: the root element says which model reads it.

use roxmltree::Node;

use crate::domain::Domain;
use crate::error::{Error, ErrorKind, Errors};
use crate::xml::reader::{self, located};

/// Every kind of document virtkit reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Document {
    Domain(Box<Domain>),
    /// The test driver's simulated host (`<node>`).
    TestNode(Box<crate::node::TestNode>),
}

impl Document {
    /// Reads any document, choosing the model by its root element.
    pub fn from_xml(text: &str) -> Result<Document, Errors> {
        let doc = reader::parse_text(text)?;
        let root = doc.root_element();
        match (root.tag_name().namespace(), root.tag_name().name()) {
            (None, "domain") => Domain::from_xml(text).map(|d| Document::Domain(Box::new(d))),
            (None, "node") => crate::node::TestNode::from_xml(text).map(|n| Document::TestNode(Box::new(n))),
            _ => Err(kind_error(root, &["domain", "node"]).into()),
        }
    }

    /// The canonical XML form.
    pub fn to_xml(&self) -> String {
        match self {
            Document::Domain(d) => d.to_xml(),
            Document::TestNode(n) => n.to_xml(),
        }
    }

    /// The JSON encoding.
    pub fn to_json(&self) -> String {
        match self {
            Document::Domain(d) => d.to_json(),
            Document::TestNode(n) => serde_json::to_string_pretty(n).unwrap_or_default(),
        }
    }

    /// The root element's name: `domain`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Domain(_) => "domain",
            Document::TestNode(_) => "node",
        }
    }
}

/// Documents libvirt has that virtkit reads only in later versions.
const LATER: &[(&str, &str)] = &[
    ("network", "network"),
    ("pool", "storage pool"),
    ("volume", "storage volume"),
    ("domainsnapshot", "snapshot"),
    ("domaincheckpoint", "checkpoint"),
    ("domainbackup", "backup"),
    ("networkport", "network port"),
    ("interface", "host interface"),
    ("nodedevice", "node device"),
    ("secret", "secret"),
    ("filter", "network filter"),
    ("filterbinding", "network filter binding"),
    ("capabilities", "capabilities"),
    ("domainCapabilities", "domain capabilities"),
];

fn kind_error(root: Node<'_, '_>, expected: &[&str]) -> Error {
    let name = root.tag_name().name();
    let msg = match LATER.iter().find(|(n, _)| *n == name) {
        Some((_, what)) if root.tag_name().namespace().is_none() => {
            format!("{what} documents (<{name}>) are not supported yet")
        }
        _ => format!(
            "<{}> is not a document virtkit reads; expected {}",
            crate::xml::truncate(name),
            expected.iter().map(|e| format!("<{e}>")).collect::<Vec<_>>().join(", ")
        ),
    };
    located(root, None, ErrorKind::DocumentKind(msg))
}

/// Checks the root element is `<name>` (in no namespace).
pub(crate) fn expect_root(root: Node<'_, '_>, name: &str) -> Result<(), Error> {
    if root.tag_name().namespace().is_none() && root.tag_name().name() == name {
        Ok(())
    } else {
        Err(kind_error(root, &[name]))
    }
}

/// Refuses strings that XML cannot carry (most control characters): a model
/// read from JSON or built in code must still be writable as XML.
pub(crate) fn check_json_strings(value: &serde_json::Value, path: &str) -> Result<(), Errors> {
    let mut errors = Vec::new();
    walk(value, path, &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(Errors::new(errors)) }
}

fn walk(value: &serde_json::Value, path: &str, out: &mut Vec<Error>) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(c) = s.chars().find(|c| !is_xml_char(*c)) {
                out.push(Error::new(
                    path,
                    ErrorKind::InvalidValue(format!("character U+{:04X} cannot appear in a document", u32::from(c))),
                ));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}/{i}"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                walk(v, &format!("{path}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// XML 1.0's Char production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}
