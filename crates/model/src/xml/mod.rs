//! The XML encoding: a strict reader over roxmltree and a canonical writer.
//!
//! Every model type reads itself with [`reader::El`] and writes itself with
//! [`writer::XmlWriter`]; both live beside the type, in its own module.

pub(crate) mod known;
mod locate;
pub(crate) mod prescan;
pub(crate) mod reader;
#[rustfmt::skip]
mod vocabulary;
pub(crate) mod writer;

use std::borrow::Cow;

/// A value that is written as an attribute or as text content.
pub(crate) trait XmlValue: Sized {
    /// Parses the value; the error is a short message about the value itself.
    fn parse_xml(s: &str) -> Result<Self, String>;
    fn to_xml(&self) -> Cow<'_, str>;
}

impl XmlValue for String {
    fn parse_xml(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

macro_rules! xml_int {
    ($($t:ty => $what:literal),*) => {$(
        impl XmlValue for $t {
            fn parse_xml(s: &str) -> Result<Self, String> {
                let t = s.trim();
                t.parse::<$t>().map_err(|e| match e.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        format!("'{}' is out of range (at most {})", truncate(s), <$t>::MAX)
                    }
                    _ => format!("'{}' is not {}", truncate(s), $what),
                })
            }
            fn to_xml(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}

xml_int!(
    u8 => "an unsigned integer",
    u16 => "an unsigned integer",
    i16 => "an integer",
    u32 => "an unsigned integer",
    u64 => "an unsigned integer",
    i32 => "an integer",
    i64 => "an integer"
);

impl XmlValue for uuid::Uuid {
    fn parse_xml(s: &str) -> Result<Self, String> {
        let t = s.trim();
        // libvirt takes the 36-character hyphenated form and 32 bare hex digits.
        let ok = (t.len() == 36 || t.len() == 32) && t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        match ok.then(|| uuid::Uuid::try_parse(t)) {
            Some(Ok(u)) => Ok(u),
            _ => Err(format!("'{}' is not a UUID", truncate(s))),
        }
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Owned(self.hyphenated().to_string())
    }
}

/// Cuts a value quoted in an error message to a readable length, on one
/// line (line breaks and other control characters escaped).
pub(crate) fn truncate(s: &str) -> Cow<'_, str> {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => Cow::Owned(format!("{}…", crate::error::one_line(&s[..i]))),
        None => crate::error::one_line(s),
    }
}

/// Parses `yes`/`no` (libvirt's virYesNo).
pub(crate) fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("'{}' is not one of yes, no", truncate(s))),
    }
}

/// Parses `on`/`off` (libvirt's virOnOff).
pub(crate) fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("'{}' is not one of on, off", truncate(s))),
    }
}

pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub(crate) fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_say_what_is_wrong() {
        assert_eq!(u32::parse_xml(" 42 "), Ok(42));
        assert_eq!(u8::parse_xml("256"), Err("'256' is out of range (at most 255)".into()));
        assert_eq!(u32::parse_xml("-1"), Err("'-1' is not an unsigned integer".into()));
        assert_eq!(i32::parse_xml("x"), Err("'x' is not an integer".into()));
    }

    #[test]
    fn uuids_in_both_libvirt_forms() {
        let a = uuid::Uuid::parse_xml("c7a5fdbd-edaf-9455-926a-d65c16db1809").unwrap();
        let b = uuid::Uuid::parse_xml("c7a5fdbdedaf9455926ad65c16db1809").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_xml(), "c7a5fdbd-edaf-9455-926a-d65c16db1809");
        assert!(uuid::Uuid::parse_xml("{c7a5fdbd-edaf-9455-926a-d65c16db1809}").is_err());
        assert!(uuid::Uuid::parse_xml("urn:uuid:c7a5fdbd-edaf-9455-926a-d65c16db1809").is_err());
        assert!(uuid::Uuid::parse_xml("c7a5fdbd-edaf-9455-926a-d65c16db180").is_err());
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(1000);
        assert!(truncate(&long).chars().count() <= 65);
        assert_eq!(truncate("a\nb"), "a\\nb");
    }
}
