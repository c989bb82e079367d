//! Arbitrary XML kept verbatim: the content of `<metadata>`, where
//! applications store their own namespaced elements.

use roxmltree::Node;
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::xml::reader::{El, Result, located};
use crate::xml::writer::XmlWriter;

/// Elements nested deeper than this inside `<metadata>` are refused.
pub const MAX_DEPTH: usize = 64;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// An XML element held as data, with its namespace and prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct XmlElement {
    /// The namespace URI, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The prefix it was written with (`None`: the default namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<XmlAttribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<XmlNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct XmlAttribute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum XmlNode {
    Element(XmlElement),
    Text(String),
}

impl XmlElement {
    /// An element in namespace `namespace`, written with `prefix`.
    pub fn new(namespace: impl Into<String>, prefix: impl Into<String>, name: impl Into<String>) -> Self {
        XmlElement {
            namespace: Some(namespace.into()),
            prefix: Some(prefix.into()),
            name: name.into(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push(XmlAttribute { namespace: None, prefix: None, name: name.into(), value: value.into() });
        self
    }

    pub fn with_child(mut self, child: XmlElement) -> Self {
        self.children.push(XmlNode::Element(child));
        self
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.children.push(XmlNode::Text(text.into()));
        self
    }

    /// Reads `node` and everything under it.
    pub(crate) fn read(node: Node<'_, '_>, depth: usize) -> Result<Self> {
        if depth > MAX_DEPTH {
            return Err(located(
                node,
                None,
                ErrorKind::Limit(format!("metadata is nested more than {MAX_DEPTH} elements deep")),
            ));
        }
        let tag = node.tag_name();
        let namespace = tag.namespace().map(str::to_owned);
        let prefix = tag.namespace().and_then(|ns| node.lookup_prefix(ns)).filter(|p| !p.is_empty()).map(str::to_owned);
        let attributes = node
            .attributes()
            .map(|a| XmlAttribute {
                namespace: a.namespace().map(str::to_owned),
                prefix: a.namespace().and_then(|ns| node.lookup_prefix(ns)).map(str::to_owned),
                name: a.name().to_owned(),
                value: a.value().to_owned(),
            })
            .collect();
        let has_elements = node.children().any(|c| c.is_element());
        let mut children = Vec::new();
        for c in node.children() {
            if c.is_element() {
                children.push(XmlNode::Element(XmlElement::read(c, depth + 1)?));
            } else if let Some(t) = c.text().filter(|_| c.is_text()) {
                // Indentation between elements is layout, not content.
                if has_elements && t.trim().is_empty() {
                    continue;
                }
                match children.last_mut() {
                    Some(XmlNode::Text(prev)) => prev.push_str(t),
                    _ => children.push(XmlNode::Text(t.to_owned())),
                }
            }
        }
        Ok(XmlElement { namespace, prefix, name: tag.name().to_owned(), attributes, children })
    }

    /// Writes this element, declaring the namespaces it needs that are not
    /// already in `scope` (pairs of prefix, "" for the default, and URI).
    pub(crate) fn write(&self, w: &mut XmlWriter, scope: &mut Vec<(String, String)>) {
        let mark = scope.len();
        let lookup =
            |scope: &[(String, String)], p: &str| scope.iter().rev().find(|(q, _)| q == p).map(|(_, u)| u.clone());
        let mut decls: Vec<(String, String)> = Vec::new();
        let qname = match (&self.namespace, &self.prefix) {
            (Some(ns), Some(p)) if ns == XML_NS || p == "xml" => format!("xml:{}", self.name),
            (Some(ns), Some(p)) => {
                if lookup(scope, p).as_deref() != Some(ns) {
                    decls.push((p.clone(), ns.clone()));
                }
                format!("{p}:{}", self.name)
            }
            (Some(ns), None) => {
                if lookup(scope, "").as_deref() != Some(ns) {
                    decls.push((String::new(), ns.clone()));
                }
                self.name.clone()
            }
            (None, _) => {
                if lookup(scope, "").is_some_and(|u| !u.is_empty()) {
                    decls.push((String::new(), String::new()));
                }
                self.name.clone()
            }
        };
        scope.extend(decls.iter().cloned());
        let mut attrs: Vec<(String, &str)> = Vec::new();
        for a in &self.attributes {
            let name = match (&a.namespace, &a.prefix) {
                (Some(ns), _) if ns == XML_NS => format!("xml:{}", a.name),
                (Some(ns), Some(p)) => {
                    if lookup(scope, p).as_deref() != Some(ns) {
                        decls.push((p.clone(), ns.clone()));
                        scope.push((p.clone(), ns.clone()));
                    }
                    format!("{p}:{}", a.name)
                }
                _ => a.name.clone(),
            };
            attrs.push((name, &a.value));
        }
        let mixed = self.children.iter().any(|c| matches!(c, XmlNode::Text(_)));
        if mixed {
            w.start_inline(&qname);
        } else {
            w.start(&qname);
        }
        for (p, ns) in &decls {
            if p.is_empty() {
                w.attr("xmlns", ns);
            } else {
                w.attr(&format!("xmlns:{p}"), ns);
            }
        }
        for (n, v) in &attrs {
            w.attr(n, v);
        }
        for c in &self.children {
            match c {
                XmlNode::Element(e) => e.write(w, scope),
                XmlNode::Text(t) => w.text(t),
            }
        }
        w.end();
        scope.truncate(mark);
    }

    /// Problems with names or nesting that would make the written XML
    /// ill-formed (for models built in code or read from JSON).
    pub(crate) fn check(&self, path: &str, depth: usize, out: &mut Vec<crate::Error>) {
        if depth > MAX_DEPTH {
            out.push(crate::Error::new(
                path,
                ErrorKind::Limit(format!("metadata is nested more than {MAX_DEPTH} elements deep")),
            ));
            return;
        }
        if !is_ncname(&self.name) || self.prefix.as_deref().is_some_and(|p| !is_ncname(p)) {
            out.push(crate::Error::new(
                path,
                ErrorKind::InvalidValue(format!("'{}' is not an XML element name", self.name)),
            ));
        }
        if self.prefix.is_some() && self.namespace.is_none() {
            out.push(crate::Error::new(
                path,
                ErrorKind::Invalid(format!("<{}> has a prefix but no namespace", self.name)),
            ));
        }
        for a in &self.attributes {
            let bad_prefix = a.prefix.as_deref().is_some_and(|p| !is_ncname(p));
            let ns_without_prefix = a.namespace.as_deref().is_some_and(|ns| ns != XML_NS) && a.prefix.is_none();
            let reserved = a.name == "xmlns" || a.prefix.as_deref() == Some("xmlns");
            if !is_ncname(&a.name) || bad_prefix || ns_without_prefix || reserved {
                out.push(crate::Error::new(
                    format!("{path}/@{}", a.name),
                    ErrorKind::InvalidValue(format!("'{}' is not a usable attribute name", a.name)),
                ));
            }
        }
        for c in &self.children {
            if let XmlNode::Element(e) = c {
                e.check(&format!("{path}/{}", e.name), depth + 1, out);
            }
        }
    }
}

/// An XML name without a colon.
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_') && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Reads `<metadata>`: every child element, verbatim. Text directly in
/// `<metadata>` is refused (libvirt's schema allows elements only).
pub(crate) fn read_metadata(el: &El<'_, '_>) -> Result<Vec<XmlElement>> {
    el.any_children().map(|c| XmlElement::read(c, 1)).collect()
}

pub(crate) fn write_metadata(w: &mut XmlWriter, elements: &[XmlElement]) {
    if elements.is_empty() {
        return;
    }
    w.start("metadata");
    let mut scope = Vec::new();
    for e in elements {
        e.write(w, &mut scope);
    }
    w.end();
}
