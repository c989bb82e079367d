//! Arbitrary XML kept verbatim: the content of `<metadata>`, where
//! applications store their own namespaced elements.

use roxmltree::Node;
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::xml::reader::{El, Result, is_xml_space, located};
use crate::xml::writer::XmlWriter;

/// Elements nested deeper than this inside `<metadata>` are refused.
pub const MAX_DEPTH: usize = 64;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

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
        // `xmlns=''` puts an element back in no namespace.
        let namespace = tag.namespace().filter(|ns| !ns.is_empty()).map(str::to_owned);
        // The prefix as written: a URI may be bound to several prefixes, so
        // looking it up by URI could give another one.
        let input = node.document().input_text();
        let prefix = written_prefix(input, node.range().start + 1);
        // roxmltree takes `p:xmlns='…'` for a namespace declaration; it is
        // an ordinary (if odd) attribute, which this model cannot keep.
        if let Some(q) = start_tag_qnames(input, node.range().start).into_iter().find(|q| q.ends_with(":xmlns")) {
            return Err(located(
                node,
                None,
                ErrorKind::Invalid(format!("attribute '{q}' is not supported: its name is reserved for namespaces")),
            ));
        }
        let attributes = node
            .attributes()
            .map(|a| XmlAttribute {
                namespace: a.namespace().map(str::to_owned),
                prefix: written_prefix(input, a.range_qname().start),
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
                if has_elements && is_xml_space(t) {
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

    /// Problems that would make the written XML ill-formed, or that would
    /// not survive a write and a re-read (for models built in code or read
    /// from JSON).
    pub(crate) fn check(&self, path: &str, depth: usize, out: &mut Vec<crate::Error>) {
        let mut bad = |p: String, kind: ErrorKind| out.push(crate::Error::new(p, kind));
        let invalid = |m: String| ErrorKind::Invalid(m);
        if depth > MAX_DEPTH {
            bad(path.into(), ErrorKind::Limit(format!("metadata is nested more than {MAX_DEPTH} elements deep")));
            return;
        }
        if !is_ncname(&self.name) || self.prefix.as_deref().is_some_and(|p| !is_ncname(p)) {
            bad(path.into(), ErrorKind::InvalidValue(format!("'{}' is not an XML element name", self.name)));
        }
        match (self.namespace.as_deref(), self.prefix.as_deref()) {
            (None, Some(_)) => bad(path.into(), invalid(format!("<{}> has a prefix but no namespace", self.name))),
            (_, Some("xmlns")) => bad(path.into(), invalid("the prefix 'xmlns' is reserved".into())),
            (Some(ns), Some("xml")) if ns != XML_NS => {
                bad(path.into(), invalid("the prefix 'xml' is bound to the XML namespace only".into()));
            }
            (Some(XML_NS), p) if p != Some("xml") => {
                bad(path.into(), invalid("the XML namespace is written with the prefix 'xml'".into()));
            }
            (Some(""), _) => bad(path.into(), invalid("an empty namespace is no namespace: leave it out".into())),
            (Some(XML_NS), _) => bad(path.into(), invalid("elements cannot be in the XML namespace".into())),
            (Some(XMLNS_NS), _) => bad(path.into(), invalid("the xmlns namespace is reserved".into())),
            _ => {}
        }
        // Prefixes bound on this element: its own, then its attributes'.
        let mut bound: Vec<(&str, &str)> = Vec::new();
        if let (Some(ns), Some(p)) = (self.namespace.as_deref(), self.prefix.as_deref()) {
            bound.push((p, ns));
        }
        let mut seen: Vec<(Option<&str>, &str)> = Vec::new();
        for a in &self.attributes {
            let ap = format!("{path}/@{}", a.name);
            let reserved = a.name == "xmlns" || a.prefix.as_deref() == Some("xmlns");
            let bad_name = !is_ncname(&a.name) || a.prefix.as_deref().is_some_and(|p| !is_ncname(p));
            let xml_mismatch = (a.namespace.as_deref() == Some(XML_NS)) != (a.prefix.as_deref() == Some("xml"));
            let ns_without_prefix = a.namespace.is_some() && a.prefix.is_none();
            let prefix_without_ns = a.prefix.is_some() && a.namespace.is_none();
            let reserved_ns = matches!(a.namespace.as_deref(), Some("" | XMLNS_NS));
            if reserved || bad_name || xml_mismatch || ns_without_prefix || prefix_without_ns || reserved_ns {
                bad(ap.clone(), ErrorKind::InvalidValue(format!("'{}' is not a usable attribute name", a.name)));
            }
            let key = (a.namespace.as_deref(), a.name.as_str());
            if seen.contains(&key) {
                bad(ap.clone(), invalid(format!("attribute '{}' is given twice", a.name)));
            }
            seen.push(key);
            if let (Some(ns), Some(p)) = (a.namespace.as_deref(), a.prefix.as_deref()) {
                match bound.iter().find(|(q, _)| *q == p) {
                    Some((_, other)) if *other != ns => {
                        bad(ap, invalid(format!("prefix '{p}' is bound to two namespaces on one element")));
                    }
                    Some(_) => {}
                    None => bound.push((p, ns)),
                }
            }
        }
        let has_elements = self.children.iter().any(|c| matches!(c, XmlNode::Element(_)));
        let mut last_was_text = false;
        for c in &self.children {
            match c {
                XmlNode::Element(e) => {
                    last_was_text = false;
                    e.check(&format!("{path}/{}", e.name), depth + 1, out);
                }
                XmlNode::Text(t) => {
                    let why = if t.is_empty() {
                        Some("empty text is not content: leave it out")
                    } else if last_was_text {
                        Some("two texts in a row read back as one: join them")
                    } else if has_elements && is_xml_space(t) {
                        Some("white space between elements is layout and is not kept")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        out.push(crate::Error::new(path, ErrorKind::Invalid(why.into())));
                    }
                    last_was_text = true;
                }
            }
        }
    }
}

/// The attribute names written in the start tag beginning at `start`
/// (the text is well-formed XML: roxmltree parsed it).
fn start_tag_qnames(input: &str, start: usize) -> Vec<&str> {
    let Some(tag) = input.get(start..) else { return Vec::new() };
    let bytes = tag.as_bytes();
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut i = 1;
    while i < bytes.len() && !space(bytes[i]) && bytes[i] != b'>' && bytes[i] != b'/' {
        i += 1; // the element's own name
    }
    let mut names = Vec::new();
    loop {
        while i < bytes.len() && space(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'>' || bytes[i] == b'/' {
            return names;
        }
        let name_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !space(bytes[i]) {
            i += 1;
        }
        names.push(&tag[name_start..i]);
        while i < bytes.len() && bytes[i] != b'\'' && bytes[i] != b'"' {
            i += 1; // past `=` to the opening quote
        }
        let Some(&quote) = bytes.get(i) else { return names };
        i += 1;
        while i < bytes.len() && bytes[i] != quote {
            i += 1;
        }
        i += 1;
    }
}

/// The prefix of the qualified name starting at `start` in the source text.
fn written_prefix(input: &str, start: usize) -> Option<String> {
    let rest = input.get(start..)?;
    let end = rest.find([' ', '\t', '\r', '\n', '/', '>', '=']).unwrap_or(rest.len());
    rest[..end].split_once(':').map(|(p, _)| p.to_owned())
}

/// An XML name without a colon (XML 1.0's NCName).
fn is_ncname(s: &str) -> bool {
    fn start(c: char) -> bool {
        matches!(c,
            'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
            | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
            | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
            | '\u{10000}'..='\u{EFFFF}')
    }
    fn rest(c: char) -> bool {
        start(c) || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
    }
    let mut chars = s.chars();
    chars.next().is_some_and(start) && chars.all(rest)
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
