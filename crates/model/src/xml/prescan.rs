//! Parsing a document's text ([`parse_text`]) within the limits it must
//! keep, checked first in one linear pass over its
//! text before anything parses it: roxmltree's own work grows faster than
//! the text in places (it compares each attribute of an element with every
//! other, and copies the namespaces in scope for each element that declares
//! one), so a limit checked after parsing comes too late.
//!
//! The scan follows XML's lexical structure only as far as limits need:
//! comments, CDATA sections and processing instructions are skipped, and in
//! a tag every `=` outside a quoted value starts an attribute. Where the text
//! is not well-formed the scan may see it differently from the parser, but
//! the parser stops at the first such place, so everything it reads was
//! counted.

use super::reader::{MAX_DOCUMENT_BYTES, MAX_NODES, Result};
use crate::error::{Error, ErrorKind, TextPos};

/// Elements nested in one another, at most (libxml2's default).
pub const MAX_DEPTH: usize = 256;
/// Attributes on one element, at most.
pub const MAX_ATTRIBUTES: usize = 64;
/// Namespace declarations (`xmlns`, `xmlns:p`) in one document, at most.
pub const MAX_NAMESPACES: usize = 256;
/// Bytes in one element or attribute name, at most.
pub const MAX_NAME_BYTES: usize = 1024;

/// Parses text into a roxmltree document with virtkit's safety limits,
/// each checked before any work that grows faster than the text
/// ([`super::prescan`]). DTDs (and so entity declarations) are refused.
pub(crate) fn parse_text(text: &str) -> Result<roxmltree::Document<'_>> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::new(
            "",
            ErrorKind::Limit(format!(
                "document is {} bytes, more than the limit of {} bytes",
                text.len(),
                MAX_DOCUMENT_BYTES
            )),
        )
        .at(TextPos { line: 1, column: 1 }));
    }
    super::prescan::check(text)?;
    let opts = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..Default::default() };
    roxmltree::Document::parse_with_options(text, opts).map_err(|e| {
        let pos = e.pos();
        let kind = match e {
            roxmltree::Error::DtdDetected => {
                ErrorKind::Syntax("document type declarations (DTD) are not allowed".into())
            }
            roxmltree::Error::NodesLimitReached => {
                ErrorKind::Limit(format!("document has more than {MAX_NODES} nodes"))
            }
            other => ErrorKind::Syntax(syntax_message(&other)),
        };
        Error::new("", kind).at(TextPos { line: pos.row, column: pos.col })
    })
}

/// roxmltree's message without its trailing " at L:C" (the position is kept apart).
fn syntax_message(e: &roxmltree::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" at ") {
        Some(i) if s[i + 4..].chars().all(|c| c.is_ascii_digit() || c == ':') => s[..i].to_owned(),
        _ => s,
    };
    lowercase_first(&s)
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Checks every limit but the document's size (checked first, by the caller).
pub(crate) fn check(text: &str) -> Result<()> {
    Scan { text, b: text.as_bytes(), depth: 0, elements: 0, namespaces: 0 }.run()
}

struct Scan<'t> {
    text: &'t str,
    b: &'t [u8],
    depth: usize,
    elements: u32,
    namespaces: usize,
}

impl Scan<'_> {
    fn run(&mut self) -> Result<()> {
        let mut i = 0;
        while let Some(off) = self.text[i..].find('<') {
            let at = i + off;
            let rest = &self.b[at..];
            let next = if rest.starts_with(b"<!--") {
                self.after(at + 4, "-->")
            } else if rest.starts_with(b"<![CDATA[") {
                self.after(at + 9, "]]>")
            } else if rest.starts_with(b"<?") {
                self.after(at + 2, "?>")
            } else if rest.starts_with(b"<!") {
                // A document type declaration: the parser refuses it where
                // it starts, so nothing after it is ever read.
                None
            } else if rest.starts_with(b"</") {
                self.depth = self.depth.saturating_sub(1);
                self.after(at + 2, ">")
            } else {
                self.start_tag(at)?
            };
            match next {
                Some(n) => i = n,
                // Unterminated: the parser stops there too.
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// The offset just past the next `end` from `from`.
    fn after(&self, from: usize, end: &str) -> Option<usize> {
        self.text.get(from..)?.find(end).map(|o| from + o + end.len())
    }

    /// A start tag at `at` (`<name attr='v' …>` or `…/>`): the offset past it.
    fn start_tag(&mut self, at: usize) -> Result<Option<usize>> {
        self.elements += 1;
        if self.elements > MAX_NODES {
            return Err(self.error(at, format!("document has more than {MAX_NODES} nodes")));
        }
        let b = self.b;
        let mut j = at + 1;
        while j < b.len() && !is_space(b[j]) && !matches!(b[j], b'/' | b'>' | b'<') {
            j += 1;
        }
        self.name(at, j - at - 1)?;
        let mut attributes = 0;
        let mut token_start = j;
        while j < b.len() {
            match b[j] {
                b'>' => {
                    if b[j - 1] != b'/' {
                        self.depth += 1;
                        if self.depth > MAX_DEPTH {
                            return Err(self.error(at, format!("elements are nested more than {MAX_DEPTH} deep")));
                        }
                    }
                    return Ok(Some(j + 1));
                }
                // Not well-formed: the parser stops here.
                b'<' => return Ok(Some(j)),
                q @ (b'"' | b'\'') => match b[j + 1..].iter().position(|&c| c == q) {
                    Some(o) => {
                        j += o + 2;
                        token_start = j;
                        continue;
                    }
                    None => return Ok(None),
                },
                b'=' => {
                    attributes += 1;
                    if attributes > MAX_ATTRIBUTES {
                        return Err(self.error(at, format!("element has more than {MAX_ATTRIBUTES} attributes")));
                    }
                    let name = self.text[token_start..j].trim_matches(|c: char| c.is_ascii_whitespace());
                    self.name(token_start, name.len())?;
                    if name == "xmlns" || name.starts_with("xmlns:") {
                        self.namespaces += 1;
                        if self.namespaces > MAX_NAMESPACES {
                            return Err(self.error(
                                token_start,
                                format!("document declares more than {MAX_NAMESPACES} namespaces"),
                            ));
                        }
                    }
                    token_start = j + 1;
                }
                _ => {}
            }
            j += 1;
        }
        Ok(None)
    }

    fn name(&self, at: usize, len: usize) -> Result<()> {
        if len > MAX_NAME_BYTES {
            return Err(self.error(at, format!("a name is longer than {MAX_NAME_BYTES} bytes")));
        }
        Ok(())
    }

    /// A limit error at byte `offset`, with roxmltree's line and column
    /// (columns count characters).
    fn error(&self, offset: usize, msg: String) -> Error {
        let before = &self.text[..offset];
        let line = before.bytes().filter(|&c| c == b'\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let pos = TextPos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        };
        Error::new("", ErrorKind::Limit(msg)).at(pos)
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> Option<(String, u32, u32)> {
        check(text).err().map(|e| {
            let p = e.pos.unwrap_or(TextPos { line: 0, column: 0 });
            (e.kind.to_string(), p.line, p.column)
        })
    }

    #[test]
    fn well_formed_documents_within_the_limits_pass() {
        let attrs: String = (0..MAX_ATTRIBUTES).map(|i| format!(" a{i}='x=y>z'")).collect();
        let doc = format!(
            "<?xml version='1.0'?><!-- <a b='1' -->\n<d{attrs}><![CDATA[<x y=1>]]><e f = \"1\" /><?pi <g=h>?></d>"
        );
        assert_eq!(limit(&doc), None);
        let deep = format!("{}{}", "<x>".repeat(MAX_DEPTH), "</x>".repeat(MAX_DEPTH));
        assert_eq!(limit(&deep), None);
        let flat = "<x/>".repeat(10_000);
        assert_eq!(limit(&format!("<r>{flat}</r>")), None);
    }

    #[test]
    fn each_limit_is_named_where_it_is_passed() {
        let attrs: String = (0..=MAX_ATTRIBUTES).map(|i| format!(" a{i}='1'")).collect();
        let (msg, line, col) = limit(&format!("<d>\n  <e{attrs}/></d>")).unwrap();
        assert_eq!((msg.as_str(), line, col), ("element has more than 64 attributes", 2, 3));
        let deep = "<x>".repeat(MAX_DEPTH + 1);
        assert_eq!(limit(&deep).unwrap(), ("elements are nested more than 256 deep".into(), 1, 3 * 256 + 1));
        let ns: String = (0..=MAX_NAMESPACES).map(|i| format!("<p{i}:e xmlns:p{i}='urn:{i}'/>")).collect();
        assert!(limit(&format!("<r>{ns}</r>")).unwrap().0.contains("namespaces"));
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        assert!(limit(&format!("<{long}/>")).unwrap().0.contains("name is longer"));
        assert!(limit(&format!("<d {long}='1'/>")).unwrap().0.contains("name is longer"));
        assert!(limit(&format!("<é{}/>", " a='1'".repeat(65))).is_some_and(|(_, l, c)| (l, c) == (1, 1)));
    }

    #[test]
    fn quoted_and_skipped_text_hides_nothing_the_parser_reads() {
        // Markup inside a value, a comment or CDATA is not markup.
        let in_values = format!("<d a='{}'/>", "<x>".repeat(1000));
        assert_eq!(limit(&in_values), None);
        // An unterminated comment or value ends the scan: the parser stops there too.
        assert_eq!(limit("<d><!-- <x><x>"), None);
        assert_eq!(limit("<d a='<x>"), None);
        // A '<' inside a tag is where the parser stops; the scan goes on from it.
        let attrs: String = (0..=MAX_ATTRIBUTES).map(|i| format!(" a{i}='1'")).collect();
        assert!(limit(&format!("<d <e{attrs}/>")).is_some());
    }
}
