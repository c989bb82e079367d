//! A strict reader: every attribute, child element and piece of text of an
//! element must be asked for by the type that reads it, or the element is
//! refused. So nothing in a document can be silently dropped.
//!
//! A reader function gets an [`El`] and asks for what it knows
//! (`el.attr`, `el.child`, `el.children`, `el.text` …). When it returns,
//! whatever it did not ask for is an error naming the element or attribute,
//! with a hint built from what it did ask for.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use roxmltree::{Node, NodeType};

use super::known::{Entry, Vocabulary, has_attr, qualified, qualified_attr};
use super::locate::qualified_name;
pub(crate) use super::locate::{located, node_path, resolve};
use super::prescan::MAX_ATTRIBUTES;
pub(crate) use super::prescan::parse_text;
use super::{XmlValue, parse_on_off, parse_yes_no};
use crate::error::{Error, ErrorKind, Hint, closest};

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Bytes in a document, at most (libvirt's own tools stop at 10 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;
/// Nodes in a document, at most.
pub const MAX_NODES: u32 = 500_000;
/// Problems recorded in one read, at most: placing each costs a walk of
/// the document (its line and column, its path's sibling index), so a
/// document of 100,000 mistakes would take minutes to report. Past this,
/// reading stops and a last problem says so.
pub const MAX_ERRORS: usize = 100;

/// Reads `node` with `f`, then refuses anything `f` did not ask for.
/// Reading goes on past problems (see [`read_all`]); this returns the
/// first of them, in document order.
// Kept for readers that want one problem; the documents use `read_all`.
#[allow(dead_code)]
pub(crate) fn read<'a, 'i, T>(node: Node<'a, 'i>, f: impl FnOnce(&El<'a, 'i>) -> Result<T>) -> Result<T> {
    read_all(node, f).map_err(|mut errors| errors.swap_remove(0))
}

/// Reads `node` with `f` and returns every problem in it: a bad attribute
/// value, a child element that fails to read, an element or attribute
/// nobody asked for is recorded where it is found and reading goes on
/// with the rest, so one run reports them all (sorted by position, never
/// empty on error). The document kind's vocabulary (by `node`'s name:
/// `domain`, `network`, `pool`, `volume`) tells unsupported names from
/// unknown ones.
pub(crate) fn read_all<'a, 'i, T>(
    node: Node<'a, 'i>,
    f: impl FnOnce(&El<'a, 'i>) -> Result<T>,
) -> std::result::Result<T, Vec<Error>> {
    let vocabulary = Vocabulary::for_root(node.tag_name().name()).filter(|_| node.tag_name().namespace().is_none());
    read_in_context(node, vocabulary.and_then(|v| Some((v, v.find("", &qualified(node))?))), f)
}

/// Reads `node`, one element of a `kind` document (`network`) given alone,
/// as the child of a `parent` element (`dhcp`) it is there: as [`read_all`]
/// reads a document, libvirt's vocabulary of that place telling unsupported
/// names from unknown ones, every path and position relative to `node`.
pub(crate) fn read_fragment<'a, 'i, T>(
    node: Node<'a, 'i>,
    kind: &str,
    parent: &str,
    f: impl FnOnce(&El<'a, 'i>) -> Result<T>,
) -> std::result::Result<T, Vec<Error>> {
    let vocabulary = Vocabulary::for_root(kind).filter(|_| node.tag_name().namespace().is_none());
    read_in_context(node, vocabulary.and_then(|v| Some((v, v.find(parent, &qualified(node))?))), f)
}

fn read_in_context<'a, 'i, T>(
    node: Node<'a, 'i>,
    vocabulary: Option<Ctx>,
    f: impl FnOnce(&El<'a, 'i>) -> Result<T>,
) -> std::result::Result<T, Vec<Error>> {
    let sink = Rc::new(Sink {
        errors: RefCell::new(Vec::new()),
        vocabulary,
        root: node.id(),
        stopped: Cell::new(false),
        asked_attrs: RefCell::new(Vec::with_capacity(64)),
        asked_children: RefCell::new(Vec::with_capacity(128)),
        child_elements: RefCell::new(Vec::with_capacity(128)),
    });
    let v = read_in(&sink, node, f);
    let mut errors = sink.errors.take();
    errors.sort_by_key(|e| e.pos.map(|p| (p.line, p.column)));
    errors.dedup();
    if sink.stopped.get()
        && let Some(last) = errors.last()
    {
        let stop = Error::new("", ErrorKind::Limit(format!("reading stopped after {MAX_ERRORS} problems")));
        errors.push(match last.pos {
            Some(p) => stop.at(p),
            None => stop,
        });
    }
    match v {
        Ok(v) if errors.is_empty() => Ok(v),
        // A failure is always recorded before it is passed on as `Reported`.
        _ if errors.is_empty() => Err(vec![located(node, None, ErrorKind::Invalid("cannot be read".into()))]),
        _ => Err(errors),
    }
}

/// Every problem of one read, and what tells unsupported from unknown.
struct Sink<'a, 'i> {
    errors: RefCell<Vec<Error>>,
    /// The vocabulary, and the context in it of the element the read began at.
    vocabulary: Option<Ctx>,
    /// The element the read began at.
    root: roxmltree::NodeId,
    /// Reading stopped at [`MAX_ERRORS`] problems.
    stopped: Cell<bool>,
    /// The names asked for by the elements being read, one stack for the
    /// whole read: each [`El`] owns the part past where it began (reads
    /// nest, so an element's part is whole again once its children are
    /// done) and gives it back when it finishes. One buffer rather than
    /// two per element: most of the reader's allocations were these.
    asked_attrs: RefCell<Vec<&'static str>>,
    asked_children: RefCell<Vec<&'static str>>,
    /// The child elements outside any namespace, by name, of the elements
    /// being read, on one stack as the names asked for are: an element
    /// lists its own when first asked for a child, so that each ask looks
    /// at its elements alone, not at every node between them.
    child_elements: RefCell<Vec<ChildElement<'a, 'i>>>,
}

/// A child element outside any namespace, listed for its parent's reader.
struct ChildElement<'a, 'i> {
    name: &'i str,
    node: Node<'a, 'i>,
    /// Its reader asked for its name (and so it was read, or reported).
    asked: bool,
}

impl Sink<'_, '_> {
    /// Whether another problem may be placed and recorded; when not,
    /// reading stops (and the read says so).
    fn room(&self) -> bool {
        let room = self.errors.borrow().len() < MAX_ERRORS;
        if !room {
            self.stopped.set(true);
        }
        room
    }

    /// Records `e`, unless it only says that its problem was recorded.
    fn push(&self, e: Error) {
        if !is_reported(&e) {
            self.errors.borrow_mut().push(e);
        }
    }
}

/// The error a reader passes on for a problem already recorded where it
/// was found: it only stops what depends on the failed part.
pub(crate) fn reported() -> Error {
    Error::new("", ErrorKind::Reported)
}

/// Whether `e` is [`reported`].
pub(crate) fn is_reported(e: &Error) -> bool {
    e.kind == ErrorKind::Reported
}

/// Reads one element within a read: whatever fails is recorded, and the
/// caller gets [`reported`].
fn read_in<'a, 'i, T>(
    sink: &Rc<Sink<'a, 'i>>,
    node: Node<'a, 'i>,
    f: impl FnOnce(&El<'a, 'i>) -> Result<T>,
) -> Result<T> {
    if !sink.room() {
        return Err(reported());
    }
    let el = El::new(node, Rc::clone(sink));
    if node.attributes().len() > MAX_ATTRIBUTES {
        sink.push(el.error(ErrorKind::Limit(format!("element has more than {MAX_ATTRIBUTES} attributes"))));
        return Err(reported());
    }
    match f(&el) {
        Ok(v) => {
            el.finish(false);
            Ok(v)
        }
        Err(e) => {
            sink.push(e);
            el.finish(true);
            Err(reported())
        }
    }
}

/// One element being read. See the module documentation.
pub(crate) struct El<'a, 'i> {
    node: Node<'a, 'i>,
    seen_attrs: Cell<u64>,
    /// Where this element's attribute names start in [`Sink::asked_attrs`].
    attrs_base: usize,
    /// Where this element's child names start in [`Sink::asked_children`].
    children_base: usize,
    /// Children asked for in a namespace: (namespace URI, local name).
    asked_ns_children: RefCell<Vec<(&'static str, &'static str)>>,
    text_read: Cell<bool>,
    /// Every child element is taken as is (arbitrary XML, as in `<metadata>`).
    any_children: Cell<bool>,
    /// Children already reported as the typo of a missing one.
    typo_children: RefCell<Vec<roxmltree::NodeId>>,
    sink: Rc<Sink<'a, 'i>>,
    /// Where this element's child elements are in [`Sink::child_elements`],
    /// once asked for.
    elements: Cell<Option<(usize, usize)>>,
}

impl Drop for El<'_, '_> {
    /// Gives back this element's part of the read's stacks of names.
    fn drop(&mut self) {
        self.sink.asked_attrs.borrow_mut().truncate(self.attrs_base);
        self.sink.asked_children.borrow_mut().truncate(self.children_base);
        if let Some((start, _)) = self.elements.get() {
            self.sink.child_elements.borrow_mut().truncate(start);
        }
    }
}

/// A vocabulary and a place in it.
type Ctx = (&'static Vocabulary, &'static Entry);

/// An attribute asked for: absent, present with a bad value (recorded), or read.
enum Attr<T> {
    Absent,
    Bad,
    Read(T),
}

impl<'a, 'i> El<'a, 'i> {
    fn new(node: Node<'a, 'i>, sink: Rc<Sink<'a, 'i>>) -> Self {
        let (attrs_base, children_base) = (sink.asked_attrs.borrow().len(), sink.asked_children.borrow().len());
        El {
            node,
            seen_attrs: Cell::new(0),
            attrs_base,
            children_base,
            asked_ns_children: RefCell::new(Vec::new()),
            text_read: Cell::new(false),
            any_children: Cell::new(false),
            typo_children: RefCell::new(Vec::new()),
            sink,
            elements: Cell::new(None),
        }
    }

    pub(crate) fn name(&self) -> &'i str {
        self.node.tag_name().name()
    }

    /// An error located at this element.
    pub(crate) fn error(&self, kind: ErrorKind) -> Error {
        located(self.node, None, kind)
    }

    /// An error about this element's value (its text).
    pub(crate) fn invalid(&self, msg: impl Into<String>) -> Error {
        self.error(ErrorKind::InvalidValue(msg.into()))
    }

    /// An error located at attribute `name` (at the element if it is absent).
    pub(crate) fn attr_error(&self, name: &str, kind: ErrorKind) -> Error {
        located(self.node, Some(name), kind)
    }

    // ---- attributes ----

    /// The raw value of attribute `name`, marking it as read.
    pub(crate) fn raw_attr(&self, name: &'static str) -> Option<&'a str> {
        self.sink.asked_attrs.borrow_mut().push(name);
        for (i, a) in self.node.attributes().enumerate() {
            if a.namespace().is_none() && a.name() == name {
                if i < 64 {
                    self.seen_attrs.set(self.seen_attrs.get() | (1u64 << i));
                }
                return Some(a.value());
            }
        }
        None
    }

    fn attr_state<T>(&self, name: &'static str, parse: impl FnOnce(&str) -> std::result::Result<T, String>) -> Attr<T> {
        match self.raw_attr(name) {
            None => Attr::Absent,
            Some(v) => match parse(v) {
                Ok(v) => Attr::Read(v),
                Err(m) => {
                    self.sink.push(self.attr_error(name, ErrorKind::InvalidValue(m)));
                    Attr::Bad
                }
            },
        }
    }

    /// Attribute `name` parsed, or `None` when absent. A bad value is
    /// recorded and reads as absent, so the rest of the element is read.
    pub(crate) fn attr<T: XmlValue>(&self, name: &'static str) -> Result<Option<T>> {
        self.attr_with(name, T::parse_xml)
    }

    /// Attribute `name` parsed with `parse`, or `None` when absent (or bad:
    /// recorded, as with [`attr`](Self::attr)).
    pub(crate) fn attr_with<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Result<Option<T>> {
        match self.attr_state(name, parse) {
            Attr::Read(v) => Ok(Some(v)),
            Attr::Absent | Attr::Bad => Ok(None),
        }
    }

    /// Attribute `name` parsed; an error when absent or bad.
    pub(crate) fn req_attr<T: XmlValue>(&self, name: &'static str) -> Result<T> {
        match self.attr_state(name, T::parse_xml) {
            Attr::Read(v) => Ok(v),
            Attr::Bad => Err(reported()),
            Attr::Absent => Err(self.missing_attr(name)),
        }
    }

    /// Attribute `name` parsed with `parse`; an error when absent or bad.
    pub(crate) fn req_attr_with<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        match self.attr_state(name, parse) {
            Attr::Read(v) => Ok(v),
            Attr::Bad => Err(reported()),
            Attr::Absent => Err(self.missing_attr(name)),
        }
    }

    /// A required attribute is absent: most likely it is there misspelt,
    /// so an unread attribute close to `name` is reported as the typo. If
    /// it is there, its bad value was recorded already.
    pub(crate) fn missing_attr(&self, name: &str) -> Error {
        if self.node.attributes().any(|a| a.namespace().is_none() && a.name() == name) {
            return reported();
        }
        let typo = self
            .node
            .attributes()
            .filter(|a| a.namespace().is_none() && a.name() != name)
            .find(|a| closest(a.name(), [name]).is_some());
        match typo {
            Some(a) => {
                // Reported here, so not again as an attribute nobody asked for.
                if let Some(i) = self.node.attributes().position(|x| x == a).filter(|i| *i < 64) {
                    self.seen_attrs.set(self.seen_attrs.get() | (1u64 << i));
                }
                located(
                    self.node,
                    Some(a.name()),
                    ErrorKind::UnknownAttribute {
                        name: a.name().into(),
                        element: self.name().into(),
                        hint: Hint::DidYouMean(name.into()),
                    },
                )
            }
            None => self.error(ErrorKind::MissingAttribute { name: name.into(), element: self.name().into() }),
        }
    }

    /// A `yes`/`no` attribute.
    pub(crate) fn yes_no(&self, name: &'static str) -> Result<Option<bool>> {
        self.attr_with(name, parse_yes_no)
    }

    /// An `on`/`off` attribute.
    pub(crate) fn on_off(&self, name: &'static str) -> Result<Option<bool>> {
        self.attr_with(name, parse_on_off)
    }

    // ---- children ----

    fn named_children(&self, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> + use<'a, 'i> {
        self.sink.asked_children.borrow_mut().push(name);
        let (start, end) = self.elements();
        let sink = Rc::clone(&self.sink);
        // By index, one short borrow each: reading a child lists its own
        // children past `end` meanwhile.
        (start..end).filter_map(move |k| {
            let mut all = sink.child_elements.borrow_mut();
            let c = &mut all[k];
            if c.name != name {
                return None;
            }
            c.asked = true;
            Some(c.node)
        })
    }

    /// This element's range in [`Sink::child_elements`], listed on first use
    /// (before any child is read, so before any of theirs).
    fn elements(&self) -> (usize, usize) {
        if let Some(r) = self.elements.get() {
            return r;
        }
        let mut all = self.sink.child_elements.borrow_mut();
        let start = all.len();
        all.extend(
            self.node
                .children()
                .filter(|c| c.is_element() && c.tag_name().namespace().is_none())
                .map(|node| ChildElement { name: node.tag_name().name(), node, asked: false }),
        );
        let r = (start, all.len());
        self.elements.set(Some(r));
        r
    }

    /// The one child element `name`, read with `f`. A repeat is recorded
    /// (and the first one read); a child that fails to read is recorded
    /// and reads as absent, so the rest of this element is read.
    pub(crate) fn child<T>(&self, name: &'static str, f: impl FnOnce(&El<'a, 'i>) -> Result<T>) -> Result<Option<T>> {
        Ok(self.child_state(name, f)?.ok())
    }

    /// As [`child`](Self::child): `Err` when the child is there but failed.
    fn child_state<T>(
        &self,
        name: &'static str,
        f: impl FnOnce(&El<'a, 'i>) -> Result<T>,
    ) -> Result<std::result::Result<T, bool>> {
        self.first_of(self.named_children(name), f)
    }

    /// The first element of `it`, read with `f` (repeats are recorded):
    /// `Err(false)` when there is none, `Err(true)` when it failed.
    fn first_of<T>(
        &self,
        mut it: impl Iterator<Item = Node<'a, 'i>>,
        f: impl FnOnce(&El<'a, 'i>) -> Result<T>,
    ) -> Result<std::result::Result<T, bool>> {
        let Some(first) = it.next() else {
            return Ok(Err(false));
        };
        for dup in it {
            self.sink.push(located(
                dup,
                None,
                ErrorKind::DuplicateElement { name: qualified_name(dup), parent: self.name().into() },
            ));
        }
        Ok(read_in(&self.sink, first, f).map_err(|_| true))
    }

    fn ns_children(&self, ns: &'static str, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> + use<'a, 'i> {
        self.asked_ns_children.borrow_mut().push((ns, name));
        self.node
            .children()
            .filter(move |c| c.is_element() && c.tag_name().namespace() == Some(ns) && c.tag_name().name() == name)
    }

    /// The one child element `name` in namespace `ns` (an extension such
    /// as `<dnsmasq:options>`), as [`child`](Self::child) reads one.
    pub(crate) fn child_ns<T>(
        &self,
        ns: &'static str,
        name: &'static str,
        f: impl FnOnce(&El<'a, 'i>) -> Result<T>,
    ) -> Result<Option<T>> {
        Ok(self.first_of(self.ns_children(ns, name), f)?.ok())
    }

    /// Every child element `name` in namespace `ns`, as
    /// [`children`](Self::children) reads them.
    pub(crate) fn children_ns<T>(
        &self,
        ns: &'static str,
        name: &'static str,
        mut f: impl FnMut(&El<'a, 'i>) -> Result<T>,
    ) -> Result<Vec<T>> {
        Ok(self.ns_children(ns, name).filter_map(|n| read_in(&self.sink, n, &mut f).ok()).collect())
    }

    /// The one child element `name`; an error when it is absent (or failed).
    pub(crate) fn req_child<T>(&self, name: &'static str, f: impl FnOnce(&El<'a, 'i>) -> Result<T>) -> Result<T> {
        match self.child_state(name, f)? {
            Ok(v) => Ok(v),
            Err(true) => Err(reported()),
            Err(false) => Err(self.missing_child(name)),
        }
    }

    /// A required child is absent: as with attributes, a close, unread
    /// element is the likely typo.
    fn missing_child(&self, name: &'static str) -> Error {
        let typo = self
            .node
            .children()
            .filter(|c| c.is_element() && c.tag_name().namespace().is_none())
            .find(|c| closest(c.tag_name().name(), [name]).is_some());
        match typo {
            Some(c) => {
                // Reported here, so not again as an element nobody asked for.
                self.sink.asked_children.borrow_mut().push(name);
                self.typo_children.borrow_mut().push(c.id());
                located(
                    c,
                    None,
                    ErrorKind::UnknownElement {
                        name: c.tag_name().name().into(),
                        parent: self.name().into(),
                        hint: Hint::DidYouMean(name.into()),
                    },
                )
            }
            None => self.error(ErrorKind::MissingElement { name: name.into(), parent: self.name().into() }),
        }
    }

    /// Every child element `name`, in document order; one that fails to
    /// read is recorded and left out.
    pub(crate) fn children<T>(
        &self,
        name: &'static str,
        mut f: impl FnMut(&El<'a, 'i>) -> Result<T>,
    ) -> Result<Vec<T>> {
        Ok(self.named_children(name).filter_map(|n| read_in(&self.sink, n, &mut f).ok()).collect())
    }

    /// Every child element `name`, of which there must be one at least.
    pub(crate) fn one_or_more<T>(&self, name: &'static str, f: impl FnMut(&El<'a, 'i>) -> Result<T>) -> Result<Vec<T>> {
        let v = self.children(name, f)?;
        if v.is_empty() && !self.has_child(name) {
            return Err(self.error(ErrorKind::MissingElement { name: name.into(), parent: self.name().into() }));
        }
        Ok(v)
    }

    /// Whether this element has no attributes and no child elements.
    pub(crate) fn is_bare(&self) -> bool {
        self.node.attributes().len() == 0 && !self.node.children().any(|c| c.is_element())
    }

    /// Whether child element `name` is there (read or not).
    pub(crate) fn has_child(&self, name: &str) -> bool {
        self.node
            .children()
            .any(|c| c.is_element() && c.tag_name().namespace().is_none() && c.tag_name().name() == name)
    }

    /// Every child element `name`; errors are collected and reading goes on.
    /// (What fails is recorded in the read itself: `errors` gets nothing.)
    pub(crate) fn children_collect<T>(
        &self,
        name: &'static str,
        f: impl FnMut(&El<'a, 'i>) -> Result<T>,
        errors: &mut Vec<Error>,
    ) -> Vec<T> {
        let _ = errors;
        self.children(name, f).unwrap_or_default()
    }

    /// Whether the empty marker element `name` (like `<readonly/>`) is
    /// present (a bad one is recorded and counts as present).
    pub(crate) fn flag(&self, name: &'static str) -> Result<bool> {
        Ok(match self.child_state(name, |_| Ok(()))? {
            Ok(()) | Err(true) => true,
            Err(false) => false,
        })
    }

    /// The text of child element `name`, if present.
    pub(crate) fn child_text(&self, name: &'static str) -> Result<Option<String>> {
        self.child(name, |c| Ok(c.text()))
    }

    /// The text of child element `name`, parsed, if present.
    pub(crate) fn child_value<T: XmlValue>(&self, name: &'static str) -> Result<Option<T>> {
        self.child(name, |c| c.value())
    }

    /// Hands the whole element to another reader, which checks it strictly
    /// itself: nothing of it is left for this one to refuse.
    pub(crate) fn delegate(&self) -> Node<'a, 'i> {
        self.any_children.set(true);
        self.text_read.set(true);
        self.seen_attrs.set(u64::MAX);
        self.node
    }

    /// Every child element, all taken as read: for arbitrary XML content.
    pub(crate) fn any_children(&self) -> impl Iterator<Item = Node<'a, 'i>> + use<'a, 'i> {
        self.any_children.set(true);
        self.node.children().filter(|c| c.is_element())
    }

    // ---- text ----

    /// This element's text content (text and CDATA, verbatim).
    pub(crate) fn text(&self) -> String {
        self.text_read.set(true);
        let mut s = String::new();
        for c in self.node.children() {
            if let Some(t) = c.text().filter(|_| c.is_text()) {
                s.push_str(t);
            }
        }
        s
    }

    /// This element's text content, parsed.
    pub(crate) fn value<T: XmlValue>(&self) -> Result<T> {
        let t = self.text();
        T::parse_xml(&t).map_err(|m| self.invalid(m))
    }

    // ---- what was not asked for ----

    /// The schema's context for this element, if the read has a vocabulary.
    fn context(&self) -> Option<Ctx> {
        let (v, at) = self.sink.vocabulary?;
        let root = self.node.document().get_node(self.sink.root)?;
        Some((v, v.context_from(at, root, self.node)?))
    }

    /// Records whatever was not asked for. After the reader `failed`, only
    /// what libvirt does not know either is recorded (the reader may have
    /// stopped before asking for the rest): a typo is a problem whatever
    /// else is wrong.
    fn finish(&self, failed: bool) {
        // Looked up only when something was not asked for.
        let ctx_cell = std::cell::OnceCell::new();
        let ctx = || *ctx_cell.get_or_init(|| self.context());
        let seen = self.seen_attrs.get();
        for (i, a) in self.node.attributes().enumerate() {
            if i < 64 && seen & (1u64 << i) != 0 {
                continue;
            }
            let ctx = ctx();
            let known = ctx.map(|(_, c)| has_attr(c, &qualified_attr(&a)));
            if failed && known != Some(false) {
                continue;
            }
            if !self.sink.room() {
                return;
            }
            let name = match a.namespace().and_then(|ns| self.node.lookup_prefix(ns)) {
                Some(p) => format!("{p}:{}", a.name()),
                None => a.name().to_owned(),
            };
            let element = self.name().into();
            let kind = if known == Some(true) {
                ErrorKind::UnsupportedAttribute { name, element }
            } else {
                let libvirt = ctx.map_or(&[][..], |(_, c)| c.2);
                let hint = hint_for(a.name(), &self.sink.asked_attrs.borrow()[self.attrs_base..], libvirt);
                ErrorKind::UnknownAttribute { hint, name, element }
            };
            self.sink.push(located(self.node, Some(a.name()), kind));
        }
        let mut text_done = failed || self.text_read.get();
        // Which of the listed children were asked for, in document order.
        let mut listed = self.elements.get().map(|(start, _)| start);
        for c in self.node.children() {
            if self.sink.stopped.get() {
                return;
            }
            match c.node_type() {
                NodeType::Element if self.any_children.get() => {}
                NodeType::Element => {
                    let asked = match (c.tag_name().namespace(), listed.as_mut()) {
                        (None, Some(k)) => {
                            *k += 1;
                            self.sink.child_elements.borrow()[*k - 1].asked
                        }
                        (None, None) => false,
                        (Some(ns), _) => {
                            let name = c.tag_name().name();
                            self.asked_ns_children.borrow().iter().any(|(n, l)| *n == ns && *l == name)
                        }
                    };
                    if !asked {
                        self.finish_child(c, &ctx, failed);
                    }
                }
                NodeType::Text if !text_done && c.text().is_some_and(|t| !is_xml_space(t)) && self.sink.room() => {
                    text_done = true;
                    self.sink.push(located(c, None, ErrorKind::UnexpectedText { element: self.name().into() }));
                }
                _ => {}
            }
        }
    }

    /// [`finish`](Self::finish) for one child element.
    fn finish_child(&self, c: Node<'a, 'i>, ctx: &dyn Fn() -> Option<Ctx>, failed: bool) {
        if self.typo_children.borrow().contains(&c.id()) {
            return;
        }
        if !self.sink.room() {
            return;
        }
        let ctx = ctx();
        match ctx.map(|(v, at)| (v, v.has_child(at, c))) {
            Some((v, Some(child_ctx))) => {
                if !failed {
                    let kind = ErrorKind::UnsupportedElement { name: qualified_name(c), parent: self.name().into() };
                    self.sink.push(located(c, None, kind));
                }
                check_unread(&self.sink, v, c, child_ctx);
            }
            None if failed => {}
            _ => {
                let name = qualified_name(c);
                let libvirt = ctx.map_or(&[][..], |(_, at)| at.3);
                let hint = hint_for(&name, &self.sink.asked_children.borrow()[self.children_base..], libvirt);
                let kind = ErrorKind::UnknownElement { hint, name, parent: self.name().into() };
                self.sink.push(located(c, None, kind));
            }
        }
    }
}

/// Records every name under `node` (in context `at`, read by nobody) that
/// libvirt's vocabulary does not have: the typos in a part that is refused
/// or was not reached.
fn check_unread(sink: &Sink<'_, '_>, v: &'static Vocabulary, node: Node<'_, '_>, at: &'static Entry) {
    let mut todo = vec![(node, at)];
    while let Some((n, at)) = todo.pop() {
        for a in n.attributes() {
            if !has_attr(at, &qualified_attr(&a)) && sink.room() {
                let kind = ErrorKind::UnknownAttribute {
                    name: a.name().into(),
                    element: n.tag_name().name().into(),
                    hint: hint_for(a.name(), &[], at.2),
                };
                sink.push(located(n, Some(a.name()), kind));
            }
        }
        for c in n.children().filter(|c| c.is_element()) {
            match v.has_child(at, c) {
                Some(cat) => todo.push((c, cat)),
                None if !sink.room() => return,
                None => {
                    let name = qualified_name(c);
                    let hint = hint_for(&name, &[], at.3);
                    let kind = ErrorKind::UnknownElement { hint, name, parent: n.tag_name().name().into() };
                    sink.push(located(c, None, kind));
                }
            }
        }
    }
}

/// Whether `s` is only XML white space (space, tab, CR, LF): layout, not
/// content. Other Unicode spaces are content.
pub(crate) fn is_xml_space(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// A typo suggestion (of what this reader asked for, else of what libvirt
/// knows here), or the list of what is allowed.
fn hint_for(name: &str, asked: &[&'static str], libvirt: &[&'static str]) -> Hint {
    if let Some(c) = closest(name, asked.iter().copied()) {
        return Hint::DidYouMean(c.to_owned());
    }
    if let Some(c) = closest(name, libvirt.iter().copied().filter(|n| *n != "*")) {
        return Hint::DidYouMean(c.to_owned());
    }
    let mut seen = std::collections::HashSet::new();
    Hint::Expected(asked.iter().filter(|n| seen.insert(**n)).map(|s| (*s).to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TextPos;

    fn with_root<T>(xml: &str, f: impl FnOnce(&El<'_, '_>) -> Result<T>) -> Result<T> {
        let doc = parse_text(xml).unwrap();
        read(doc.root_element(), f)
    }

    #[test]
    fn unknown_attribute_is_refused_with_a_hint() {
        let e = with_root("<target dev='vda' buss='virtio'/>", |el| {
            el.raw_attr("dev");
            el.raw_attr("bus");
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.path, "/target/@buss");
        assert_eq!(e.to_string(), "/target/@buss: unknown attribute 'buss' on <target> (did you mean 'bus'?)");
        assert_eq!(e.pos, Some(TextPos { line: 1, column: 19 }));
    }

    #[test]
    fn unknown_child_is_refused_with_its_position() {
        let e = with_root("<devices>\n  <disk/>\n  <disk/>\n  <diks/>\n</devices>", |el| {
            el.children("disk", |_| Ok(()))?;
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.path, "/devices/diks");
        assert_eq!(e.pos, Some(TextPos { line: 4, column: 3 }));
        assert!(e.to_string().contains("did you mean <disk>?"), "{e}");
    }

    #[test]
    fn duplicates_and_text_are_refused() {
        let e = with_root("<os><type>hvm</type><type>hvm</type></os>", |el| {
            el.child_text("type")?;
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.path, "/os/type[2]");
        let e = with_root("<features>junk<acpi/></features>", |el| {
            el.flag("acpi")?;
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnexpectedText { element: "features".into() });
    }

    #[test]
    fn paths_index_only_repeated_names() {
        let doc = parse_text("<a><b/><c/><b><d x='1'/></b></a>").unwrap();
        let d = doc.descendants().find(|n| n.has_tag_name("d")).unwrap();
        assert_eq!(node_path(d), "/a/b[2]/d");
        assert_eq!(resolve(&doc, "/a/b[2]/d/@x"), Some(TextPos { line: 1, column: 18 }));
        assert_eq!(resolve(&doc, "/a/c"), Some(TextPos { line: 1, column: 8 }));
    }

    #[test]
    fn dtds_and_entities_are_refused() {
        let bomb = "<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;'>]><d>&b;</d>";
        let e = parse_text(bomb).unwrap_err();
        assert!(e.to_string().contains("DTD"), "{e}");
        assert!(parse_text("<d>&nope;</d>").is_err());
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = format!("<d>{}</d>", " ".repeat(MAX_DOCUMENT_BYTES));
        let e = parse_text(&big).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Limit(_)));
    }
}
