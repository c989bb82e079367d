//! What the model's tests share: where libvirt's documents are, checking
//! documents against libvirt's schemas with xmllint, and, for the property
//! tests, proptest settings and generators of free text.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use virtkit_model::network::{Bridge, ForwardInterface, ForwardMode, Network};

/// `../shared/conformance`, or `$VIRTKIT_CONFORMANCE`.
pub fn conformance_dir() -> PathBuf {
    let dir = std::env::var_os("VIRTKIT_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    assert!(
        dir.join("schemas/domain.rng").is_file(),
        "conformance data not found at {} (set VIRTKIT_CONFORMANCE)",
        dir.display()
    );
    dir
}

/// What libvirt's network formatter adds to a document it read, or leaves
/// out of it.
pub fn libvirt_fills_in_network(_file: &str, n: &mut Network) {
    // `ipv6='no'` is the default, not written.
    if n.ipv6 == Some(false) {
        n.ipv6 = None;
    }
    if let Some(f) = &mut n.forward {
        // `<forward>` without a mode is nat.
        f.mode = Some(f.mode());
        // `<forward dev>` is also the first `<interface>` (written so by
        // newer libvirt only).
        if let Some(dev) = &f.dev
            && f.pf.is_none()
            && f.interfaces.first().is_none_or(|i| i.dev != *dev)
        {
            f.interfaces.insert(0, ForwardInterface::new(dev.clone()));
        }
        // hostdev networks say whether they are managed.
        if f.mode() == ForwardMode::Hostdev {
            f.managed.get_or_insert(false);
        }
    }
    // Bridges the host makes show their STP setting and delay.
    if n.mode().is_none_or(ForwardMode::host_bridge) {
        let b = n.bridge.get_or_insert_with(Bridge::default);
        b.stp.get_or_insert(true);
        b.delay.get_or_insert(0);
    }
}

/// Validates `xml` against `schemas/SCHEMA.rng` with xmllint.
pub fn schema_check(schema: &str, xml: &str) -> Result<(), String> {
    match schema_check_all(schema, &[xml.to_owned()]).pop().flatten() {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Validates each of `docs` against `schemas/SCHEMA.rng` in one xmllint run:
/// for each, `None` when it is valid, else xmllint's complaint about it.
/// The namespace errors libxml2 reports without failing (a prefix bound to
/// the empty string, an undeclared prefix) count too, except its complaint
/// that a namespace name is not a URI, which an IRI such as `urn:日本` draws.
pub fn schema_check_all(schema: &str, docs: &[String]) -> Vec<Option<String>> {
    if docs.is_empty() {
        return Vec::new();
    }
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..docs.len()).map(|i| dir.path().join(format!("{i}.xml"))).collect();
    for (p, d) in paths.iter().zip(docs) {
        std::fs::write(p, d).unwrap();
    }
    let rng = conformance_dir().join(format!("schemas/{schema}.rng"));
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(&rng)
        .args(&paths)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    paths
        .iter()
        .map(|p| {
            let p = p.to_string_lossy();
            let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&*p)).collect();
            let complaint = said.iter().any(|l| l.contains(" error : ") && !l.ends_with("is not a valid URI"));
            if !complaint && said.iter().any(|l| *l == format!("{p} validates")) {
                return None;
            }
            Some(if said.is_empty() { "xmllint said nothing about it".to_owned() } else { said.join("\n") })
        })
        .collect()
}

/// Cases per property test: `PROPTEST_CASES` or `default`.
pub fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    let mut c = ProptestConfig::with_cases(cases);
    // No proptest-regressions files in the source tree; a failure prints its case.
    c.failure_persistence = None;
    c
}

/// The settings of a property test that runs xmllint on every case: each
/// step runs it, so a failing run's shrinking is kept short.
pub fn schema_config() -> ProptestConfig {
    let mut c = config(48);
    c.max_shrink_iters = 500;
    c
}

/// Says where two values' debug forms first differ, if they do.
pub fn same<T: PartialEq + Debug>(want: &T, got: &T, how: &str, text: &str) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    let (a, b) = (format!("{want:#?}"), format!("{got:#?}"));
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let around = |v: &[&str]| v[i.saturating_sub(8)..(i + 3).min(v.len())].join("\n");
    Err(format!(
        "the {how} round trip changed the model; first difference at line {}:\n--- generated\n{}\n+++ read back\n{}\n\n{how}:\n{text}",
        i + 1,
        around(&a),
        around(&b),
    ))
}

/// XML 1.0's Char production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// One character of free text: mostly plain, with markup characters, line
/// breaks, Unicode spaces and controls, and characters outside the BMP.
pub fn text_char() -> BoxedStrategy<char> {
    prop_oneof![
        8 => proptest::char::range('a', 'z'),
        3 => select(&[' ', '<', '>', '&', '\'', '"', ';', '=', '/', ':', '-', '_', '.', ']', '0', '7', 'A', 'Q'][..]),
        1 => select(&['\t', '\n', '\r'][..]),
        2 => select(
            &['é', 'ß', 'Ж', '日', '本', '🦀', '\u{a0}', '\u{85}', '\u{2028}', '\u{3000}', '\u{fffd}', '\u{e000}', '\u{10ffff}'][..]
        ),
        1 => any::<char>().prop_filter("an XML character", |c| is_xml_char(*c)),
    ]
    .boxed()
}

pub fn chars(c: BoxedStrategy<char>, len: std::ops::RangeInclusive<usize>) -> BoxedStrategy<String> {
    vec(c, len).prop_map(String::from_iter).boxed()
}

/// Free text, possibly empty.
pub fn text(max: usize) -> BoxedStrategy<String> {
    chars(text_char(), 0..=max)
}

pub fn text_nonempty(max: usize) -> BoxedStrategy<String> {
    chars(text_char(), 1..=max)
}

/// Free text on one line (XML Schema's `.`: no line feed, no carriage return).
pub fn one_line(len: std::ops::RangeInclusive<usize>) -> BoxedStrategy<String> {
    chars(text_char().prop_filter("one line", |c| !matches!(c, '\n' | '\r')).boxed(), len)
}

/// Text matching a regular expression.
pub fn re(pattern: &str) -> BoxedStrategy<String> {
    proptest::string::string_regex(pattern).unwrap().boxed()
}

/// An object name: a file name's characters, no `/`, not `.` or `..`.
pub fn object_name() -> BoxedStrategy<String> {
    prop_oneof![
        4 => re("[a-zA-Z0-9_.+-]{1,24}"),
        1 => one_line(1..=12).prop_map(|s| s.replace('/', "_")),
    ]
    .prop_filter("a usable name", |s| s != "." && s != ".." && !s.chars().any(char::is_control) && !s.is_empty())
    .boxed()
}

/// An absolute file path (libvirt's `absFilePath`): `/` and at least one
/// more character, on one line; `validate` refuses `/` alone and line breaks.
pub fn abs_path() -> BoxedStrategy<String> {
    prop_oneof![one_line(1..=16).prop_map(|r| format!("/{r}")), re("(/[a-z0-9._-]{1,8}){1,3}")].boxed()
}

/// An absolute directory (libvirt's `absDirPath`): `/` alone is fine, a
/// line break is not.
pub fn abs_dir() -> BoxedStrategy<String> {
    one_line(0..=16).prop_map(|r| format!("/{r}")).boxed()
}

pub fn opt<T: Debug + Clone + 'static>(s: impl Strategy<Value = T> + 'static) -> BoxedStrategy<Option<T>> {
    option::of(s).boxed()
}

pub fn one_of<T: Debug + Clone + 'static>(all: &'static [T]) -> BoxedStrategy<T> {
    select(all).boxed()
}

pub fn opt_of<T: Debug + Clone + 'static>(all: &'static [T]) -> BoxedStrategy<Option<T>> {
    opt(select(all))
}

pub fn opt_bool() -> BoxedStrategy<Option<bool>> {
    opt(any::<bool>())
}
