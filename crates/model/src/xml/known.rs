//! Libvirt's whole vocabulary: every element and attribute name its RelaxNG
//! schemas allow, per context, for telling a libvirt feature virtkit does
//! not support ("unsupported element <numa> in <cpu>") from a typo
//! ("unknown element"). The table is generated from libvirt 9.0's schemas
//! by `scripts/gen-known` into [`vocabulary`](super::vocabulary), one per
//! document kind.

use roxmltree::Node;

pub(crate) use super::vocabulary::{DOMAIN, NETWORK, SECRET, STORAGE_POOL, STORAGE_VOLUME};

/// One context: (parent, element, attribute names, child names). `"*"`
/// is any name; a namespaced name is `"{URI}name"`.
pub(crate) type Entry = (&'static str, &'static str, &'static [&'static str], &'static [&'static str]);

/// The names one document kind's schema allows.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    /// The root element's name (`domain`, `network`, `pool`, `volume`).
    pub(crate) root: &'static str,
    /// Sorted by (parent, element).
    pub(crate) elements: &'static [Entry],
}

impl Vocabulary {
    /// The vocabulary of documents whose root element is `name`.
    pub(crate) fn for_root(name: &str) -> Option<&'static Vocabulary> {
        [&DOMAIN, &NETWORK, &STORAGE_POOL, &STORAGE_VOLUME, &SECRET].into_iter().find(|v| v.root == name)
    }

    /// The context of element `name` as a child of `parent` (`""` for the root).
    pub(crate) fn find(&self, parent: &str, name: &str) -> Option<&'static Entry> {
        let i = self.elements.binary_search_by(|e| (e.0, e.1).cmp(&(parent, name))).ok()?;
        self.elements.get(i)
    }

    /// The context of `child` (its own name, already qualified) under `parent`.
    fn step(&self, parent: &'static Entry, child: &str) -> Option<&'static Entry> {
        if parent.3.contains(&child)
            && let Some(e) = self.find(parent.1, child)
        {
            return Some(e);
        }
        if parent.3.contains(&"*") { self.find(parent.1, "*") } else { None }
    }

    /// The context of `node`, read as part of the document rooted at `root`
    /// (`node` itself or an ancestor); `None` where the schema has no such
    /// place.
    #[cfg(test)]
    pub(crate) fn context(&self, root: Node<'_, '_>, node: Node<'_, '_>) -> Option<&'static Entry> {
        self.context_from(self.find("", &qualified(root))?, root, node)
    }

    /// The context of `node`, read as part of `root` (itself or an
    /// ancestor), whose own context is `at`.
    pub(crate) fn context_from(
        &self,
        at: &'static Entry,
        root: Node<'_, '_>,
        node: Node<'_, '_>,
    ) -> Option<&'static Entry> {
        let mut chain: Vec<Node<'_, '_>> = Vec::new();
        let mut cur = node;
        while cur != root {
            chain.push(cur);
            cur = cur.parent_element()?;
        }
        let mut entry = at;
        for n in chain.iter().rev() {
            entry = self.step(entry, &qualified(*n))?;
        }
        Some(entry)
    }

    /// Whether the schema allows child element `child` in context `at`.
    pub(crate) fn has_child(&self, at: &'static Entry, child: Node<'_, '_>) -> Option<&'static Entry> {
        self.step(at, &qualified(child))
    }
}

/// Whether the schema allows attribute `name` (already qualified) in context `at`.
pub(crate) fn has_attr(at: &Entry, name: &str) -> bool {
    at.2.contains(&name) || at.2.contains(&"*")
}

/// An element's name as the table writes it.
pub(crate) fn qualified(n: Node<'_, '_>) -> String {
    let t = n.tag_name();
    match t.namespace() {
        Some(ns) => format!("{{{ns}}}{}", t.name()),
        None => t.name().to_owned(),
    }
}

/// An attribute's name as the table writes it.
pub(crate) fn qualified_attr(a: &roxmltree::Attribute<'_, '_>) -> String {
    match a.namespace() {
        Some(ns) => format!("{{{ns}}}{}", a.name()),
        None => a.name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_lookup() {
        for v in [&DOMAIN, &NETWORK, &STORAGE_POOL, &STORAGE_VOLUME] {
            assert!(v.elements.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)), "{}", v.root);
        }
    }

    #[test]
    fn contexts_follow_the_document() {
        let doc = roxmltree::Document::parse(
            "<domain><cpu><numa><cell/></numa></cpu><metadata><x:a xmlns:x='urn:x'><b/></x:a></metadata></domain>",
        )
        .unwrap();
        let root = doc.root_element();
        let at = |name: &str| doc.descendants().find(|n| n.has_tag_name(name)).unwrap();
        let cell = DOMAIN.context(root, at("cell")).unwrap();
        assert_eq!((cell.0, cell.1), ("numa", "cell"));
        assert!(has_attr(cell, "memAccess"));
        assert!(!has_attr(cell, "memAcess"));
        let b = DOMAIN.context(root, at("b")).unwrap();
        assert!(has_attr(b, "anything"));
        assert!(DOMAIN.context(root, root).is_some());
        let cpu = DOMAIN.context(root, at("cpu")).unwrap();
        assert!(DOMAIN.has_child(cpu, at("numa")).is_some());
        assert!(DOMAIN.has_child(cpu, at("cell")).is_none());
    }
}
