//! Where a problem is: an element's XPath-like path (`/domain/devices/disk[2]`)
//! and its line and column, from a node or back from a path.

use roxmltree::Node;

use crate::error::{Error, ErrorKind, TextPos};

/// `prefix:name` for a namespaced element, else its name.
pub(super) fn qualified_name(n: Node<'_, '_>) -> String {
    let tag = n.tag_name();
    match tag.namespace().and_then(|ns| n.lookup_prefix(ns)) {
        Some(p) if !p.is_empty() => format!("{p}:{}", tag.name()),
        _ => tag.name().to_owned(),
    }
}

/// An error at `node` (or at its attribute `attr`), with path and position.
pub(crate) fn located(node: Node<'_, '_>, attr: Option<&str>, kind: ErrorKind) -> Error {
    let mut path = node_path(node);
    let mut offset = node.range().start;
    if let Some(a) = attr {
        path.push_str("/@");
        path.push_str(a);
        if let Some(at) = node.attributes().find(|x| x.name() == a) {
            offset = at.range().start;
        }
    }
    let p = node.document().text_pos_at(offset);
    Error::new(path, kind).at(TextPos { line: p.row, column: p.col })
}

/// The XPath-like path of an element: `/domain/devices/disk[2]`.
/// A position index is given only where same-named siblings exist.
pub(crate) fn node_path(node: Node<'_, '_>) -> String {
    let mut segs: Vec<String> = Vec::new();
    let mut cur = Some(node);
    while let Some(n) = cur {
        if n.is_element() {
            segs.push(segment(n));
        } else if n.is_text() {
            // text is reported at its element
        }
        cur = n.parent();
    }
    let mut out = String::new();
    for s in segs.iter().rev() {
        out.push('/');
        out.push_str(s);
    }
    out
}

fn segment(n: Node<'_, '_>) -> String {
    let same = |x: &Node<'_, '_>| x.is_element() && x.tag_name() == n.tag_name();
    let before = n.prev_siblings().skip(1).filter(same).count();
    // Whether a later one exists, not how many: the path of the first of
    // 100,000 is found at once.
    let repeated = before > 0 || n.next_siblings().skip(1).any(|x| same(&x));
    let name = qualified_name(n);
    if repeated { format!("{name}[{}]", before + 1) } else { name }
}

/// Finds the position of `path` (as built by [`node_path`] plus an optional
/// `/@attr`) in `doc`; falls back to the deepest element found on the way.
pub(crate) fn resolve(doc: &roxmltree::Document<'_>, path: &str) -> Option<TextPos> {
    let mut node = doc.root();
    let mut offset = None;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if let Some(attr) = seg.strip_prefix('@') {
            if let Some(a) = node.attributes().find(|a| a.name() == attr) {
                offset = Some(a.range().start);
            }
            break;
        }
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().unwrap_or(1)),
            None => (seg, 1),
        };
        let next = node
            .children()
            .filter(|c| c.is_element() && c.tag_name().namespace().is_none() && c.tag_name().name() == name)
            .nth(index.saturating_sub(1));
        match next {
            Some(n) => {
                node = n;
                offset = Some(n.range().start);
            }
            None => break,
        }
    }
    offset.map(|o| {
        let p = doc.text_pos_at(o);
        TextPos { line: p.row, column: p.col }
    })
}
