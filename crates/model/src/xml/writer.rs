//! The canonical writer: libvirt's layout (one element per line, two-space
//! indent, single-quoted attributes, text inline), so our output diffs
//! cleanly against `virsh dumpxml`.
//!
//! Hand-rolled rather than quick-xml because libvirt quotes attributes with
//! `'` and quick-xml always writes `"`; the whole writer is this file.

use super::{XmlValue, on_off, yes_no};

#[derive(Debug, Default)]
pub(crate) struct XmlWriter {
    out: String,
    /// Open elements: where the name sits in `out`, its length, and
    /// whether it started inline (mixed-content) mode.
    stack: Vec<(usize, usize, bool)>,
    /// A start tag is open: attributes may still be added.
    open: bool,
    /// The current element has text, so its end tag goes on the same line.
    has_text: bool,
    /// Depth of mixed-content elements: no indentation inside them.
    inline: usize,
}

impl XmlWriter {
    pub(crate) fn new() -> Self {
        XmlWriter { out: String::with_capacity(4096), ..Default::default() }
    }

    fn close_start_tag(&mut self) {
        if self.open {
            self.out.push('>');
            self.open = false;
        }
    }

    fn newline_indent(&mut self, depth: usize) {
        if self.inline == 0 {
            if !self.out.is_empty() {
                self.out.push('\n');
            }
            for _ in 0..depth {
                self.out.push_str("  ");
            }
        }
    }

    /// Opens element `name`; attributes follow, then children or text, then [`end`](Self::end).
    pub(crate) fn start(&mut self, name: &str) {
        self.close_start_tag();
        self.newline_indent(self.stack.len());
        self.out.push('<');
        self.stack.push((self.out.len(), name.len(), false));
        self.out.push_str(name);
        self.open = true;
        self.has_text = false;
    }

    /// Opens an element whose content is mixed text and elements: nothing
    /// inside it is indented, so its text is written exactly.
    pub(crate) fn start_inline(&mut self, name: &str) {
        self.start(name);
        if let Some(top) = self.stack.last_mut() {
            top.2 = true;
        }
        self.inline += 1;
    }

    pub(crate) fn attr(&mut self, name: &str, value: &str) {
        debug_assert!(self.open, "attribute {name} outside a start tag");
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("='");
        escape_into(&mut self.out, value, true);
        self.out.push('\'');
    }

    pub(crate) fn attr_val<T: XmlValue>(&mut self, name: &str, value: &T) {
        self.attr(name, &value.to_xml());
    }

    pub(crate) fn attr_opt<T: XmlValue>(&mut self, name: &str, value: Option<&T>) {
        if let Some(v) = value {
            self.attr_val(name, v);
        }
    }

    pub(crate) fn yes_no(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.attr(name, yes_no(v));
        }
    }

    pub(crate) fn on_off(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.attr(name, on_off(v));
        }
    }

    /// Text content of the current element.
    pub(crate) fn text(&mut self, text: &str) {
        self.close_start_tag();
        escape_into(&mut self.out, text, false);
        self.has_text = true;
    }

    /// Closes the current element (as `<x/>` when nothing was put in it).
    pub(crate) fn end(&mut self) {
        let Some((start, len, began_inline)) = self.stack.pop() else {
            debug_assert!(false, "end() without start()");
            return;
        };
        if began_inline {
            self.inline -= 1;
        }
        if self.open {
            self.out.push_str("/>");
            self.open = false;
        } else {
            if !self.has_text && !began_inline {
                self.newline_indent(self.stack.len());
            }
            self.out.push_str("</");
            self.out.extend_from_within(start..start + len);
            self.out.push('>');
        }
        self.has_text = false;
    }

    /// `<name>text</name>`.
    pub(crate) fn text_element(&mut self, name: &str, text: &str) {
        self.start(name);
        self.text(text);
        self.end();
    }

    /// `<name>value</name>` when `value` is set.
    pub(crate) fn opt_text_element<T: XmlValue>(&mut self, name: &str, value: Option<&T>) {
        if let Some(v) = value {
            self.text_element(name, &v.to_xml());
        }
    }

    /// `<name/>` when `present`.
    pub(crate) fn flag(&mut self, name: &str, present: bool) {
        if present {
            self.start(name);
            self.end();
        }
    }

    pub(crate) fn finish(mut self) -> String {
        debug_assert!(self.stack.is_empty(), "unclosed elements");
        self.out.push('\n');
        self.out
    }
}

/// Escapes for single-quoted attributes (`attr`) or for text. Characters
/// that XML would normalise away (CR always; tab and newline in attributes)
/// are written as character references so they survive a re-read.
fn escape_into(out: &mut String, s: &str, attr: bool) {
    let needs = |c: char| matches!(c, '&' | '<' | '>' | '\r') || (attr && matches!(c, '\'' | '"' | '\n' | '\t'));
    let mut last = 0;
    for (i, c) in s.char_indices() {
        if !needs(c) {
            continue;
        }
        out.push_str(&s[last..i]);
        out.push_str(match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\'' => "&apos;",
            '"' => "&quot;",
            '\n' => "&#10;",
            '\t' => "&#9;",
            _ => "&#13;",
        });
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_libvirt_layout() {
        let mut w = XmlWriter::new();
        w.start("domain");
        w.attr("type", "kvm");
        w.text_element("name", "a<b");
        w.start("devices");
        w.start("disk");
        w.attr("path", "it's \"here\"\n");
        w.flag("readonly", true);
        w.end();
        w.start("features");
        w.end();
        w.end();
        w.end();
        assert_eq!(
            w.finish(),
            "<domain type='kvm'>\n  <name>a&lt;b</name>\n  <devices>\n    <disk path='it&apos;s &quot;here&quot;&#10;'>\n      <readonly/>\n    </disk>\n    <features/>\n  </devices>\n</domain>\n"
        );
    }

    #[test]
    fn mixed_content_is_not_indented() {
        let mut w = XmlWriter::new();
        w.start("m");
        w.start_inline("p");
        w.text("a ");
        w.start("b");
        w.text("x");
        w.end();
        w.text(" c");
        w.end();
        w.end();
        assert_eq!(w.finish(), "<m>\n  <p>a <b>x</b> c</p>\n</m>\n");
    }
}
