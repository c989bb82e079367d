//! The yardstick: the 363 domain documents libvirt 9.0 itself writes back
//! (`../shared/conformance/domain/libvirt-9.0/*.xml`, not the `*.in.xml`
//! inputs). Each one virtkit accepts must round-trip through XML and JSON
//! to the same model, what virtkit writes must pass libvirt 9.0's schema,
//! and no element or attribute of the input may be missing from it. Each one
//! refused must name, in that one run, every feature that blocks it, as
//! *unsupported*: these are documents libvirt accepts, so nothing in them is
//! a typo. The test prints which features block how many documents and
//! asserts that at least [`FLOOR`] are accepted (the target is 95%).
//!
//! `cargo test -p virtkit-model --test yardstick -- --nocapture` shows the
//! table; the same figures for the `*.in.xml` inputs follow it (at least
//! [`INPUTS_FLOOR`] of them accepted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use virtkit_model::domain::Domain;
use virtkit_model::{Error, ErrorKind};

/// Written-back documents that must be accepted, at least. Raise it as the
/// model grows; never lower it.
const FLOOR: usize = 362;

/// libvirt's test inputs (`*.in.xml`) that must be accepted, at least:
/// documents libvirt reads (some on purpose invalid), before it fills in
/// what it writes back. Raise it as the model grows; never lower it.
const INPUTS_FLOOR: usize = 327;

/// Attributes of the input that a definition does not carry, with why.
const RUNTIME_ONLY: &[(&str, &str)] = &[(
    "/domain/@id",
    "the id of a running domain: runtime state, assigned by whoever runs it (virtkit reads and ignores it)",
)];

fn documents(inputs: bool) -> Vec<PathBuf> {
    let dir = common::conformance_dir().join("domain/libvirt-9.0");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".xml") && n.ends_with(".in.xml") == inputs
        })
        .collect();
    v.sort();
    v
}

/// Every element and attribute of a document, with its value, as a
/// multiset of `path[/@attr]=value` where the path has names only (no
/// positions) and namespaced names carry their namespace, not its prefix.
fn inventory(xml: &str) -> BTreeMap<String, usize> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let mut out = BTreeMap::new();
    let name = |n: &roxmltree::ExpandedName<'_, '_>| match n.namespace() {
        Some(ns) => format!("{{{ns}}}{}", n.name()),
        None => n.name().to_owned(),
    };
    for node in doc.descendants().filter(|n| n.is_element()) {
        let path: Vec<String> = node.ancestors().filter(|a| a.is_element()).map(|a| name(&a.tag_name())).collect();
        let path = format!("/{}", path.into_iter().rev().collect::<Vec<_>>().join("/"));
        let text: String = node.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
        *out.entry(format!("{path}={}", text.trim())).or_default() += 1;
        for a in node.attributes() {
            let attr = match a.namespace() {
                Some(ns) => format!("{{{ns}}}{}", a.name()),
                None => a.name().to_owned(),
            };
            let key = format!("{path}/@{attr}");
            if RUNTIME_ONLY.iter().any(|(p, _)| *p == key) {
                continue;
            }
            *out.entry(format!("{key}={}", a.value().trim())).or_default() += 1;
        }
    }
    out
}

/// What of `input` is not in `output` (each entry with how many are missing).
fn missing(input: &str, output: &str) -> Vec<String> {
    let have = inventory(output);
    inventory(input)
        .into_iter()
        .filter_map(|(k, n)| {
            let got = have.get(&k).copied().unwrap_or(0);
            (got < n).then(|| if n - got > 1 { format!("{k} (x{})", n - got) } else { k })
        })
        .collect()
}

/// The feature an error names: the place without positions, and for a
/// value the value. Errors that are not "unsupported" are flagged, since a
/// document libvirt accepts has no typo and no invalid value in it.
fn feature(e: &Error) -> String {
    let place: String = {
        let mut s = String::new();
        let mut skip = false;
        for c in e.path.trim_start_matches("/domain").trim_start_matches('/').chars() {
            match c {
                '[' => skip = true,
                ']' => skip = false,
                _ if !skip => s.push(c),
                _ => {}
            }
        }
        s
    };
    match &e.kind {
        ErrorKind::UnsupportedElement { .. } | ErrorKind::UnsupportedAttribute { .. } => place,
        ErrorKind::InvalidValue(m) if m.contains("is not supported") => {
            let value = m.split('\'').nth(1).unwrap_or("?");
            format!("{place}='{value}'")
        }
        other => format!("NOT UNSUPPORTED: {place}: {other}"),
    }
}

/// The node an error's path names (`/domain/devices/disk[2]/@type`), and
/// the attribute if it names one.
fn find<'a, 'i>(doc: &'a roxmltree::Document<'i>, path: &str) -> Option<(roxmltree::Node<'a, 'i>, Option<String>)> {
    let mut node = doc.root();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if let Some(a) = seg.strip_prefix('@') {
            return Some((node, Some(a.to_owned())));
        }
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()?),
            None => (seg, 1),
        };
        let qualified = |c: &roxmltree::Node<'_, '_>| {
            let t = c.tag_name();
            match t.namespace().and_then(|ns| c.lookup_prefix(ns)) {
                Some(p) if !p.is_empty() => format!("{p}:{}", t.name()),
                _ => t.name().to_owned(),
            }
        };
        node = node.children().filter(|c| c.is_element() && qualified(c) == name).nth(index - 1)?;
    }
    Some((node, None))
}

/// `text` without every part the errors name: the element or attribute
/// refused, or for a refused value the element that carries it.
fn strip(text: &str, errors: &virtkit_model::Errors) -> String {
    let doc = roxmltree::Document::parse(text).unwrap();
    let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
    for e in errors {
        let Some((node, attr)) = find(&doc, &e.path) else { continue };
        let range = match (&e.kind, attr) {
            (ErrorKind::UnsupportedAttribute { .. }, Some(a)) => {
                node.attributes().find(|x| x.name() == a).map(|x| x.range())
            }
            _ => Some(node.range()),
        };
        cut.extend(range);
    }
    cut.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out = String::new();
    let mut at = 0;
    for r in cut {
        if r.start >= at {
            out.push_str(&text[at..r.start]);
            at = r.end;
        } else {
            at = at.max(r.end);
        }
    }
    out.push_str(&text[at..]);
    out
}

/// Whether `e` names something virtkit does not support or know (rather
/// than, say, a part missing once others are cut away).
fn names_a_feature(e: &Error) -> bool {
    match &e.kind {
        ErrorKind::UnsupportedElement { .. }
        | ErrorKind::UnsupportedAttribute { .. }
        | ErrorKind::UnknownElement { .. }
        | ErrorKind::UnknownAttribute { .. } => true,
        ErrorKind::InvalidValue(m) => m.contains("is not supported"),
        _ => false,
    }
}

struct Run {
    accepted: Vec<String>,
    /// Accepted documents that fail a check, with what failed.
    broken: Vec<String>,
    /// Feature -> the refused documents it blocks.
    table: BTreeMap<String, BTreeSet<String>>,
    /// Refusals that are not named unsupported features.
    unnamed: Vec<String>,
    /// Refused documents accepted once what they were refused for is cut.
    accepted_stripped: usize,
    /// Refusals without a line and column.
    unlocated: Vec<String>,
    total: usize,
}

fn run(files: &[PathBuf]) -> Run {
    let mut run = Run {
        accepted: Vec::new(),
        broken: Vec::new(),
        table: BTreeMap::new(),
        unnamed: Vec::new(),
        unlocated: Vec::new(),
        accepted_stripped: 0,
        total: files.len(),
    };
    let mut written = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().trim_end_matches(".xml").to_owned();
        let text = std::fs::read_to_string(f).unwrap();
        let d = match Domain::from_xml(&text) {
            Ok(d) => d,
            Err(errs) => {
                // Every feature is named in this one run: without all of
                // them, nothing more is refused for what it is.
                let stripped = Domain::from_xml(&strip(&text, &errs));
                run.accepted_stripped += usize::from(stripped.is_ok());
                if let Err(again) = stripped {
                    let more: Vec<String> =
                        again.iter().filter(|e| names_a_feature(e)).map(|e| e.to_string()).collect();
                    if !more.is_empty() {
                        run.unnamed
                            .push(format!("{name}: named only once the others are gone:\n  {}", more.join("\n  ")));
                    }
                }
                for e in &errs {
                    let feat = feature(e);
                    match e.pos {
                        None => run.unlocated.push(format!("{name}: {e}")),
                        Some(p) if feat.starts_with("NOT UNSUPPORTED") => run.unnamed.push(format!("{name}:{p}: {e}")),
                        Some(_) => {}
                    }
                    run.table.entry(feat).or_default().insert(name.clone());
                }
                continue;
            }
        };
        let xml = d.to_xml();
        let mut bad = Vec::new();
        match Domain::from_xml(&xml) {
            Ok(again) if again == d => {}
            Ok(_) => bad.push("the model read back from our XML differs".to_owned()),
            Err(e) => bad.push(format!("our XML does not read back:\n{e}")),
        }
        match Domain::from_json(&d.to_json()) {
            Ok(again) if again == d => {}
            Ok(_) => bad.push("the model read back from our JSON differs".to_owned()),
            Err(e) => bad.push(format!("our JSON does not read back:\n{e}")),
        }
        let lost = missing(&text, &xml);
        if !lost.is_empty() {
            bad.push(format!("missing from our output:\n  {}", lost.join("\n  ")));
        }
        if bad.is_empty() {
            run.accepted.push(name);
        } else {
            run.broken.push(format!("{name}: {}", bad.join("\n")));
        }
        written.push(xml);
    }
    // Every document we wrote, checked by libvirt's schema in one xmllint run.
    let verdicts = common::schema_check_all("domain", &written);
    let mut i = 0;
    run.accepted.retain(|_| {
        let ok = verdicts.get(i).is_some_and(Option::is_none);
        i += 1;
        ok
    });
    for (xml, v) in written.iter().zip(&verdicts) {
        if let Some(v) = v {
            let name = xml.lines().find_map(|l| l.trim().strip_prefix("<name>")).unwrap_or("?");
            run.broken.push(format!("{name}: our output fails libvirt's schema:\n{v}"));
        }
    }
    run
}

fn print(what: &str, r: &Run) {
    let share = |n: usize| if r.total == 0 { 0.0 } else { 100.0 * n as f64 / r.total as f64 };
    println!("\n{what}: {} of {} accepted ({:.1}%)", r.accepted.len(), r.total, share(r.accepted.len()));
    let mut rows: Vec<(&String, &BTreeSet<String>)> = r.table.iter().collect();
    rows.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    println!("refused ones accepted once what they were refused for is cut away: {}", r.accepted_stripped);
    println!("{:>5}  feature (documents it blocks)", "docs");
    for (feat, docs) in rows {
        let names: Vec<&str> = docs.iter().map(String::as_str).take(4).collect();
        let more = if docs.len() > 4 { format!(", +{}", docs.len() - 4) } else { String::new() };
        println!("{:>5}  {feat}  ({}{more})", docs.len(), names.join(", "));
    }
}

#[test]
fn libvirt_written_documents_are_accepted_whole() {
    let files = documents(false);
    assert_eq!(files.len(), 363, "the libvirt 9.0 written-back set");
    let r = run(&files);
    print("libvirt 9.0 written-back documents", &r);
    let inputs = run(&documents(true));
    print("libvirt 9.0 test inputs (*.in.xml), for information", &inputs);
    assert!(r.unlocated.is_empty(), "refusals without a line and column:\n{}", r.unlocated.join("\n"));
    assert!(r.broken.is_empty(), "accepted but not kept whole:\n\n{}", r.broken.join("\n\n"));
    assert!(r.accepted.len() >= FLOOR, "only {} of {} accepted; the floor is {FLOOR}", r.accepted.len(), r.total);
    assert!(
        inputs.accepted.len() >= INPUTS_FLOOR,
        "only {} of {} inputs accepted; the floor is {INPUTS_FLOOR}",
        inputs.accepted.len(),
        inputs.total
    );
    assert!(r.unnamed.is_empty(), "refusals that do not name an unsupported feature:\n{}", r.unnamed.join("\n"));
}
