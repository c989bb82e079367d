//! Errors: every problem found in a document, with where it is.

use std::fmt;

/// A position in a document's text, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextPos {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for TextPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem in a document.
///
/// `path` names the place in XPath form (`/domain/devices/disk[2]/target/@bus`;
/// an index appears only where an element has same-named siblings). `pos` is
/// set when the document was read from text that the path could be found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub pos: Option<TextPos>,
    pub path: String,
    pub kind: ErrorKind,
}

impl Error {
    /// An error received from elsewhere (a daemon), with its message as text.
    pub fn received(pos: Option<TextPos>, path: impl Into<String>, message: impl Into<String>) -> Self {
        Error { pos, path: path.into(), kind: ErrorKind::InvalidValue(message.into()) }
    }

    pub(crate) fn new(path: impl Into<String>, kind: ErrorKind) -> Self {
        Error { pos: None, path: path.into(), kind }
    }

    pub(crate) fn at(mut self, pos: TextPos) -> Self {
        self.pos = Some(pos);
        self
    }
}

/// One line whatever the document holds: values are escaped where they
/// are quoted, and this catches any that were not.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", one_line(&self.path))?;
        }
        f.write_str(&one_line(&self.kind.to_string()))
    }
}

impl std::error::Error for Error {}

/// `s` with line breaks, tabs and other control characters written as
/// escapes (`\n`, `\t`, `\u{1b}`), so that it stays on one line.
pub(crate) fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// What is wrong. Messages are short and lower-case; the path is not repeated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not well-formed XML (or not valid JSON).
    #[error("{0}")]
    Syntax(String),
    /// The document exceeds a safety limit (size, nesting, node count).
    #[error("{0}")]
    Limit(String),
    /// The root element names a document kind that is not handled.
    #[error("{0}")]
    DocumentKind(String),
    /// An element nobody knows here, most likely a typo.
    #[error("unknown element <{name}> in <{parent}>{}", hint_suffix(hint, '<', '>'))]
    UnknownElement { name: String, parent: String, hint: Hint },
    /// An element libvirt knows but virtkit does not support.
    #[error("unsupported element <{name}> in <{parent}>")]
    UnsupportedElement { name: String, parent: String },
    /// An attribute that is not allowed on this element.
    #[error("unknown attribute '{name}' on <{element}>{}", hint_suffix(hint, '\'', '\''))]
    UnknownAttribute { name: String, element: String, hint: Hint },
    /// An attribute libvirt knows but virtkit does not support.
    #[error("unsupported attribute '{name}' on <{element}>")]
    UnsupportedAttribute { name: String, element: String },
    /// An element that may appear only once appears again.
    #[error("<{name}> may appear only once in <{parent}>")]
    DuplicateElement { name: String, parent: String },
    #[error("missing element <{name}> in <{parent}>")]
    MissingElement { name: String, parent: String },
    #[error("missing attribute '{name}' on <{element}>")]
    MissingAttribute { name: String, element: String },
    #[error("unexpected text in <{element}>")]
    UnexpectedText { element: String },
    /// A value of the wrong form or out of range.
    #[error("{0}")]
    InvalidValue(String),
    /// The document is well-formed but inconsistent (duplicate targets, …).
    #[error("{0}")]
    Invalid(String),
    /// Internal to the reader: a problem already recorded where it was
    /// found. Never in an error a caller sees.
    #[doc(hidden)]
    #[error("(recorded)")]
    Reported,
}

/// A suggestion attached to an unknown name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    None,
    /// A close, known name: probably a typo of it.
    DidYouMean(String),
    /// Every name allowed here.
    Expected(Vec<String>),
}

fn hint_suffix(hint: &Hint, open: char, close: char) -> String {
    match hint {
        Hint::None => String::new(),
        Hint::DidYouMean(s) => format!(" (did you mean {open}{s}{close}?)"),
        Hint::Expected(names) if names.is_empty() => String::from("; nothing is allowed here"),
        Hint::Expected(names) => format!("; expected one of {}", names.join(", ")),
    }
}

/// Every problem found in one document; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors(Vec<Error>);

impl Errors {
    /// Errors received from elsewhere (a daemon): `None` for an empty list.
    pub fn from_vec(errors: Vec<Error>) -> Option<Self> {
        if errors.is_empty() { None } else { Some(Errors(errors)) }
    }

    /// Wraps a non-empty list.
    pub(crate) fn new(errors: Vec<Error>) -> Self {
        debug_assert!(!errors.is_empty());
        Errors(errors)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Error> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first problem, in document order.
    pub fn first(&self) -> &Error {
        &self.0[0]
    }

    pub fn into_vec(self) -> Vec<Error> {
        self.0
    }
}

impl From<Error> for Errors {
    fn from(e: Error) -> Self {
        Errors(vec![e])
    }
}

impl IntoIterator for Errors {
    type Item = Error;
    type IntoIter = std::vec::IntoIter<Error>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Errors {
    type Item = &'a Error;
    type IntoIter = std::slice::Iter<'a, Error>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if let Some(pos) = e.pos {
                write!(f, "{pos}: ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// The closest of `candidates` to `name`, if close enough to be a likely typo.
pub(crate) fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let max = match len {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .into_iter()
        // The distance is at least the difference in length: a name far
        // longer than every candidate is never compared (nor allocated for).
        .filter(|c| c.chars().count().abs_diff(len) <= max)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of neighbours as one edit (optimal string
/// alignment), case-insensitive: a wrong case is a typo too.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = best;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let names = ["disk", "controller", "interface"];
        assert_eq!(closest("diks", names), Some("disk"));
        assert_eq!(closest("Disk", names), Some("disk"));
        assert_eq!(closest("controler", names), Some("controller"));
        assert_eq!(closest("hostdev", names), None);
        assert_eq!(closest("ab", ["ac"]), None);
    }

    #[test]
    fn one_problem_is_one_line() {
        let e = Error::new("/domain/name", ErrorKind::InvalidValue("'a\nb\tc\u{1b}' is bad".into()));
        assert_eq!(e.to_string(), "/domain/name: 'a\\nb\\tc\\u{1b}' is bad");
    }

    #[test]
    fn messages_read_well() {
        let e = Error::new(
            "/domain/devices/diks",
            ErrorKind::UnknownElement {
                name: "diks".into(),
                parent: "devices".into(),
                hint: Hint::DidYouMean("disk".into()),
            },
        );
        assert_eq!(e.to_string(), "/domain/devices/diks: unknown element <diks> in <devices> (did you mean <disk>?)");
        let e = Error::new("", ErrorKind::Syntax("unexpected end of stream".into()));
        assert_eq!(e.to_string(), "unexpected end of stream");
    }
}
