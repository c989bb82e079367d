//! Distinguished names as parsed values, and the allow-list of client
//! names matched against them (libvirt's `tls_allowed_dn_list`).
//!
//! A name is never flattened to text to be matched: a certificate whose
//! subject is the one attribute `O="virtkit-test,CN=client1"` is one RDN,
//! not two, whatever its text looks like. Patterns are written in RFC 4514
//! form (`O=Acme,CN=client*`, `\,` `\+` `\"` `\\` or `\XX` for special
//! characters) and are read into the same shape: each RDN, each attribute
//! of a multi-valued RDN (`+`), its type (by name or dotted OID, any case)
//! and its value, in which `*` (any run) and `?` (one character) are the
//! globs. A glob matches inside one value only, so it can never reach over
//! an RDN or attribute separator.

use std::fmt;

/// One attribute of an RDN: its type, as a short name (`CN`) when it has
/// one, and its dotted OID; and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attr {
    pub(crate) name: String,
    pub(crate) oid: String,
    pub(crate) value: String,
}

/// A distinguished name: RDNs in the order the certificate has them, each
/// one or more attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Dn(pub(crate) Vec<Vec<Attr>>);

/// RFC 4514's escaping of one attribute value.
fn escape_value(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
}

/// The name in RFC 4514 syntax, in certificate order (for logs).
impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for (i, rdn) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, a) in rdn.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(&a.name);
                out.push('=');
                escape_value(&a.value, &mut out);
            }
        }
        f.write_str(&out)
    }
}

/// A piece of a value pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    /// `*`: any run of characters.
    Any,
    /// `?`: one character.
    One,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AttrPattern {
    /// Upper case, as written (a name or a dotted OID).
    kind: String,
    value: Vec<Tok>,
}

impl AttrPattern {
    fn matches(&self, a: &Attr) -> bool {
        (self.kind.eq_ignore_ascii_case(&a.name) || self.kind == a.oid)
            && glob(&self.value, &a.value.chars().collect::<Vec<_>>())
    }
}

/// One allow-list entry, read into RDNs of attribute patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Vec<AttrPattern>>);

#[derive(Debug, thiserror::Error)]
#[error("allowed name '{pattern}': {problem}")]
pub(crate) struct PatternError {
    pattern: String,
    problem: String,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        let mut kind = String::new();
        let mut value: Option<Vec<Tok>> = None;
        let mut chars = text.chars().peekable();
        let finish = |kind: &mut String, value: &mut Option<Vec<Tok>>| -> Result<AttrPattern, String> {
            let k = kind.trim().to_ascii_uppercase();
            let Some(mut v) = value.take() else {
                return Err(format!("'{k}' has no '=value'"));
            };
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                return Err(format!("'{k}' is not an attribute type"));
            }
            // Unescaped spaces around a value are not part of it (RFC 4514
            // escapes the ones that are).
            while v.first() == Some(&Tok::Char(' ')) {
                v.remove(0);
            }
            kind.clear();
            Ok(AttrPattern { kind: k, value: v })
        };
        while let Some(c) = chars.next() {
            let Some(v) = value.as_mut() else {
                match c {
                    '=' => value = Some(Vec::new()),
                    ',' | '+' | '\\' => return Err(format!("'{c}' in an attribute type")),
                    c => kind.push(c),
                }
                continue;
            };
            match c {
                ',' | '+' => {
                    trim_end(v);
                    let a = finish(&mut kind, &mut value)?;
                    rdn.push(a);
                    if c == ',' {
                        rdns.push(std::mem::take(&mut rdn));
                    }
                }
                '*' => v.push(Tok::Any),
                '?' => v.push(Tok::One),
                '\\' => v.extend(unescape(&mut chars)?.chars().map(Tok::Char)),
                c => v.push(Tok::Char(c)),
            }
        }
        if let Some(v) = value.as_mut() {
            trim_end(v);
        }
        let a = finish(&mut kind, &mut value)?;
        rdn.push(a);
        rdns.push(rdn);
        Ok(Pattern(rdns))
    }

    /// Whether the RDNs match one for one, in this order; a multi-valued
    /// RDN's attributes in any order.
    fn matches_in_order<'a>(&self, rdns: impl ExactSizeIterator<Item = &'a Vec<Attr>>) -> bool {
        rdns.len() == self.0.len() && self.0.iter().zip(rdns).all(|(p, rdn)| rdn_matches(p, rdn))
    }

    fn matches(&self, dn: &Dn) -> bool {
        self.matches_in_order(dn.0.iter()) || self.matches_in_order(dn.0.iter().rev())
    }
}

fn trim_end(v: &mut Vec<Tok>) {
    while v.last() == Some(&Tok::Char(' ')) {
        v.pop();
    }
}

/// The characters an escape stands for: `\` and a special character, or
/// `\XX` hex bytes (consecutive ones make one UTF-8 character).
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut bytes = Vec::new();
    loop {
        let hex = |c: Option<char>| c.and_then(|c| c.to_digit(16));
        match chars.next() {
            Some(c) if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '#' | '=' | ' ' | '*' | '?') => {
                if !bytes.is_empty() {
                    return Err("a '\\XX' escape is not whole UTF-8".into());
                }
                return Ok(c.to_string());
            }
            c @ Some(_) => {
                let (Some(hi), Some(lo)) = (hex(c), hex(chars.next())) else {
                    return Err("'\\' is followed by neither a special character nor two hex digits".into());
                };
                bytes.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
            }
            None => return Err("a '\\' ends the pattern".into()),
        }
        if let Ok(s) = std::str::from_utf8(&bytes) {
            return Ok(s.to_owned());
        }
        if chars.peek() != Some(&'\\') || bytes.len() >= 4 {
            return Err("a '\\XX' escape is not whole UTF-8".into());
        }
        chars.next();
    }
}

fn rdn_matches(pattern: &[AttrPattern], rdn: &[Attr]) -> bool {
    if pattern.len() != rdn.len() {
        return false;
    }
    // Each attribute of the RDN taken by one pattern (RDNs have a handful
    // of attributes at most: trying every pairing is cheap).
    fn assign(pattern: &[AttrPattern], rdn: &[Attr], used: &mut Vec<bool>) -> bool {
        let Some((p, rest)) = pattern.split_first() else { return true };
        for (i, a) in rdn.iter().enumerate() {
            if !used[i] && p.matches(a) {
                used[i] = true;
                if assign(rest, rdn, used) {
                    return true;
                }
                used[i] = false;
            }
        }
        false
    }
    rdn.len() <= 8 && assign(pattern, rdn, &mut vec![false; rdn.len()])
}

/// Whether `text` matches `pattern`, without backtracking blow-up.
fn glob(pattern: &[Tok], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == Tok::Any)
}

/// Allowed client subject names, matched in certificate order or in
/// reverse (RFC 4514) order. An empty list allows every name the CA signed.
#[derive(Debug, Default)]
pub(crate) struct DnPatterns(Vec<Pattern>);

impl DnPatterns {
    pub(crate) fn new(patterns: &[String]) -> Result<DnPatterns, PatternError> {
        let parsed =
            patterns.iter().map(|p| Pattern::parse(p).map_err(|problem| PatternError { pattern: p.clone(), problem }));
        Ok(DnPatterns(parsed.collect::<Result<_, _>>()?))
    }

    pub(crate) fn allows(&self, dn: &Dn) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p.matches(dn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, value: &str) -> Attr {
        let oid = match name {
            "CN" => "2.5.4.3",
            "O" => "2.5.4.10",
            "OU" => "2.5.4.11",
            "C" => "2.5.4.6",
            _ => "1.2.3.4",
        };
        Attr { name: name.into(), oid: oid.into(), value: value.into() }
    }

    fn dn(rdns: &[&[(&str, &str)]]) -> Dn {
        Dn(rdns.iter().map(|r| r.iter().map(|(n, v)| attr(n, v)).collect()).collect())
    }

    fn allows(pattern: &str, name: &Dn) -> bool {
        DnPatterns::new(&[pattern.to_owned()]).unwrap().allows(name)
    }

    #[test]
    fn globs_and_order() {
        let c1 = dn(&[&[("O", "Acme")], &[("CN", "client1")]]);
        assert!(allows("O=Acme,CN=client?", &c1));
        assert!(allows("CN=client1, O=Acme", &c1));
        assert!(allows("cn=client1,o=Acme", &c1), "types in any case");
        assert!(allows("2.5.4.10=Acme,2.5.4.3=client1", &c1), "types by OID");
        assert!(allows("O=*,CN=*", &c1));
        assert!(!allows("O=Acme,CN=client", &c1));
        assert!(!allows("O=Acme,CN=client12", &dn(&[&[("O", "Acme")], &[("CN", "client1x")]])));
        assert!(!allows("O=Evil,CN=client1", &c1));
        assert!(!allows("CN=client1", &c1), "every RDN is matched");
        assert!(!allows("OU=Acme,CN=client1", &c1), "the type is matched");
        assert!(DnPatterns::default().allows(&c1));
    }

    #[test]
    fn a_comma_inside_a_value_is_not_a_separator() {
        // The hole: one O whose value reads like two RDNs.
        let forged = dn(&[&[("O", "virtkit-test,CN=client1")]]);
        assert!(!allows("O=virtkit-test,CN=client1", &forged));
        assert!(!allows("O=virtkit-test,CN=client*", &forged));
        assert!(!allows("O=*,CN=*", &forged), "a glob does not reach over a separator");
        assert!(allows("O=virtkit-test\\,CN=client1", &forged), "the escaped form names it");
        assert!(allows("O=virtkit-test\\2cCN=client1", &forged));
        assert!(allows("O=*", &forged));
        assert_eq!(forged.to_string(), "O=virtkit-test\\,CN=client1");
    }

    #[test]
    fn plus_signs_and_multi_valued_rdns() {
        let plus = dn(&[&[("O", "a+b")], &[("CN", "c")]]);
        let multi = dn(&[&[("O", "a"), ("OU", "b")], &[("CN", "c")]]);
        assert!(allows("O=a\\+b,CN=c", &plus));
        assert!(!allows("O=a+OU=b,CN=c", &plus));
        assert!(allows("O=a+OU=b,CN=c", &multi));
        assert!(allows("OU=b+O=a,CN=c", &multi), "a multi-valued RDN in any order");
        assert!(!allows("O=a\\+OU=b,CN=c", &multi));
        assert!(!allows("O=a,OU=b,CN=c", &multi), "two RDNs are not one");
        assert!(!allows("O=*,CN=c", &multi), "every attribute of an RDN is matched");
        assert_eq!(multi.to_string(), "O=a+OU=b,CN=c");
    }

    #[test]
    fn quotes_backslashes_and_non_ascii() {
        let q = dn(&[&[("O", "say \"hi\"\\")], &[("CN", "Zoë ☃")]]);
        assert!(allows("O=say \\\"hi\\\"\\\\,CN=Zoë ☃", &q));
        assert!(allows("O=say*,CN=Zo\\c3\\ab ?", &q), "hex escapes make UTF-8; '?' is one character");
        assert!(!allows("O=say*,CN=Zo? ☃x", &q));
        assert_eq!(q.to_string(), "O=say \\\"hi\\\"\\\\,CN=Zoë ☃");
        let star = dn(&[&[("CN", "a*")]]);
        assert!(allows("CN=a\\*", &star));
        assert!(!allows("CN=a\\*", &dn(&[&[("CN", "ab")]])), "an escaped star is a star");
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["CN", "CN=a,", "=a", "C N=a", "CN=a\\", "CN=\\zz", "CN=\\c3", "CN=a,O", "O=a+b,CN=c"] {
            assert!(DnPatterns::new(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
