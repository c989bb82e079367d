//! Documents by kind: the root element says which model reads it, and the
//! one path every kind but the domain reads, checks and writes itself by
//! ([`Model`]).

use roxmltree::Node;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::validate::V;
use crate::domain::{Domain, sorted};
use crate::error::{Error, ErrorKind, Errors, TextPos};
use crate::network::Network;
use crate::secret::Secret;
use crate::storage::{Pool, Volume};
use crate::xml::reader::{self, El, located};
use crate::xml::writer::XmlWriter;

/// Every kind of document virtkit reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Document {
    Domain(Box<Domain>),
    /// A virtual network (`<network>`).
    Network(Box<Network>),
    /// A storage pool (`<pool>`).
    Pool(Box<Pool>),
    /// A storage volume (`<volume>`).
    Volume(Box<Volume>),
    /// A secret (`<secret>`), without its value.
    Secret(Box<Secret>),
    /// The test driver's simulated host (`<node>`).
    TestNode(Box<crate::node::TestNode>),
}

impl Document {
    /// Reads any document, choosing the model by its root element (the
    /// text is parsed once).
    pub fn from_xml(text: &str) -> Result<Document, Errors> {
        let doc = reader::parse_text(text)?;
        let root = doc.root_element();
        match (root.tag_name().namespace(), root.tag_name().name()) {
            (None, "domain") => Domain::from_parsed(&doc).map(|d| Document::Domain(Box::new(d))),
            (None, "network") => read_root(&doc, root).map(|n| Document::Network(Box::new(n))),
            (None, "pool") => read_root(&doc, root).map(|p| Document::Pool(Box::new(p))),
            (None, "volume") => read_root(&doc, root).map(|v| Document::Volume(Box::new(v))),
            (None, "secret") => read_root(&doc, root).map(|s| Document::Secret(Box::new(s))),
            (None, "node") => crate::node::TestNode::from_parsed(&doc).map(|n| Document::TestNode(Box::new(n))),
            _ => Err(kind_error(root, &["domain", "network", "pool", "volume", "secret", "node"]).into()),
        }
    }

    /// The canonical XML form.
    pub fn to_xml(&self) -> String {
        match self {
            Document::Domain(d) => d.to_xml(),
            Document::Network(n) => n.to_xml(),
            Document::Pool(p) => p.to_xml(),
            Document::Volume(v) => v.to_xml(),
            Document::Secret(s) => s.to_xml(),
            Document::TestNode(n) => n.to_xml(),
        }
    }

    /// The JSON encoding.
    pub fn to_json(&self) -> String {
        match self {
            Document::Domain(d) => d.to_json(),
            Document::Network(n) => n.to_json(),
            Document::Pool(p) => p.to_json(),
            Document::Volume(v) => v.to_json(),
            Document::Secret(s) => s.to_json(),
            Document::TestNode(n) => to_json(n.as_ref()),
        }
    }

    /// The root element's name: `domain`, `network`, `pool`, `volume`,
    /// `secret`, `node`.
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Domain(_) => "domain",
            Document::Network(_) => Network::ROOT,
            Document::Pool(_) => Pool::ROOT,
            Document::Volume(_) => Volume::ROOT,
            Document::Secret(_) => Secret::ROOT,
            Document::TestNode(_) => "node",
        }
    }
}

// ---------------------------------------------------------------------------
// One path for every kind of document

/// What a kind of document supplies; [`from_xml`], [`from_json`],
/// [`validate`], [`to_xml`] and [`to_json`] do the rest the same way for
/// every kind.
pub(crate) trait Model: Sized + Serialize + DeserializeOwned {
    /// The root element's name.
    const ROOT: &'static str;
    /// Reads the root element. A problem that stops one part is returned;
    /// problems in parts that reading can go past are added to `errors`.
    fn read(el: &El<'_, '_>, errors: &mut Vec<Error>) -> reader::Result<Self>;
    /// Writes the root element, in libvirt's order.
    fn write(&self, w: &mut XmlWriter);
    /// The checks across fields, naming each place by its XML path.
    fn check(&self, v: &mut V);
}

/// Reads a document of kind `T`, strictly: every problem found is returned,
/// each with its line, column and path.
pub(crate) fn from_xml<T: Model>(text: &str) -> Result<T, Errors> {
    let doc = reader::parse_text(text)?;
    let root = doc.root_element();
    expect_root(root, T::ROOT)?;
    read_root(&doc, root)
}

fn read_root<T: Model>(doc: &roxmltree::Document<'_>, root: Node<'_, '_>) -> Result<T, Errors> {
    let mut errors = Vec::new();
    let parsed = reader::read_all(root, |el| T::read(el, &mut errors));
    errors.retain(|e| !reader::is_reported(e));
    match parsed {
        Ok(value) if errors.is_empty() => {
            let mut v = V::default();
            value.check(&mut v);
            v.finish().map(|()| value).map_err(|errs| {
                let located = errs.into_iter().map(|mut e| {
                    e.pos = reader::resolve(doc, &e.path);
                    e
                });
                sorted(located.collect())
            })
        }
        Ok(_) => Err(sorted(errors)),
        Err(all) => {
            errors.extend(all);
            Err(sorted(errors))
        }
    }
}

/// Reads an element of kind `T` that sits inside another document (a
/// `<network>` inside the test driver's `<node>`): problems go to `errors`,
/// each placed under the element's own path.
pub(crate) fn read_nested<T: Model>(
    doc: &roxmltree::Document<'_>,
    node: Node<'_, '_>,
    errors: &mut Vec<Error>,
) -> Option<T> {
    match read_root::<T>(doc, node) {
        Ok(value) => Some(value),
        Err(errs) => {
            let base = reader::node_path(node);
            let root = format!("/{}", T::ROOT);
            errors.extend(errs.into_iter().take(reader::MAX_ERRORS).map(|mut e| {
                if let Some(rest) = e.path.strip_prefix(&root) {
                    e.path = format!("{base}{rest}");
                }
                if e.pos.is_none() {
                    e.pos = reader::resolve(doc, &e.path).or_else(|| reader::resolve(doc, &base));
                }
                e
            }));
            None
        }
    }
}

/// Checks a model however it was made; every problem is returned.
pub(crate) fn validate<T: Model>(value: &T) -> Result<(), Errors> {
    let mut out = Vec::new();
    if let Err(e) = crate::strings::check_strings(value) {
        out.extend(e);
    }
    let mut v = V::default();
    value.check(&mut v);
    if let Err(e) = v.finish() {
        out.extend(e);
    }
    Errors::from_vec(out).map_or(Ok(()), Err)
}

/// Reads the JSON encoding of kind `T`, with the same checks as XML.
pub(crate) fn from_json<T: Model>(text: &str) -> Result<T, Errors> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
    check_json_strings(&value, "")?;
    let model: T = serde_json::from_value(value).map_err(json_error)?;
    validate(&model)?;
    Ok(model)
}

/// The canonical XML form.
pub(crate) fn to_xml<T: Model>(value: &T) -> String {
    let mut w = XmlWriter::new();
    value.write(&mut w);
    w.finish()
}

/// The JSON encoding, pretty-printed.
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising plain data to a string cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A JSON syntax or shape error, with its position when serde has one.
pub(crate) fn json_error(e: serde_json::Error) -> Errors {
    let mut err = Error::new("", ErrorKind::Syntax(e.to_string()));
    if e.line() > 0 {
        err.pos = Some(TextPos {
            line: u32::try_from(e.line()).unwrap_or(u32::MAX),
            column: u32::try_from(e.column()).unwrap_or(u32::MAX),
        });
    }
    err.into()
}

/// Documents libvirt has that virtkit reads only in later versions.
const LATER: &[(&str, &str)] = &[
    ("domainsnapshot", "snapshot"),
    ("domaincheckpoint", "checkpoint"),
    ("domainbackup", "backup"),
    ("networkport", "network port"),
    ("interface", "host interface"),
    ("nodedevice", "node device"),
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
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}
