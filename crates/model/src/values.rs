//! Value types shared by every document: sizes with units, MAC addresses,
//! CPU sets, and the macro that makes a closed set of XML words an enum.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::xml::{XmlValue, truncate};

/// Defines an enum over a closed set of XML words. It parses with a message
/// that lists what is allowed (and, for values libvirt knows but virtkit
/// does not support, says so), and serialises as the word in XML and JSON.
/// Other spellings it reads too (`aliases = ["add" => AddLast];`) are
/// written as the word of the value they stand for.
macro_rules! xml_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)?
        }
        $(unsupported = [$($unsup:literal),* $(,)?];)?
        $(aliases = [$($alias:literal => $avariant:ident),* $(,)?];)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the order libvirt documents them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word used in XML and JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::values::UnknownWord;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($word => ::std::result::Result::Ok($name::$variant),)+
                    $($($alias => ::std::result::Result::Ok($name::$avariant),)*)?
                    _ => ::std::result::Result::Err($crate::values::UnknownWord::new(
                        s,
                        &[$($word),+],
                        &[$($($unsup),*)?],
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::xml::XmlValue for $name {
            fn parse_xml(s: &str) -> ::std::result::Result<Self, String> {
                s.parse().map_err(|e: $crate::values::UnknownWord| e.to_string())
            }
            fn to_xml(&self) -> ::std::borrow::Cow<'_, str> {
                ::std::borrow::Cow::Borrowed(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use xml_enum;

/// A word outside an enum's set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    word: String,
    allowed: &'static [&'static str],
    unsupported: bool,
}

impl UnknownWord {
    pub(crate) fn new(word: &str, allowed: &'static [&'static str], unsupported: &[&str]) -> Self {
        UnknownWord { word: truncate(word).into_owned(), allowed, unsupported: unsupported.contains(&word) }
    }
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unsupported {
            write!(f, "'{}' is not supported; supported: {}", self.word, self.allowed.join(", "))
        } else {
            write!(f, "'{}' is not one of {}", self.word, self.allowed.join(", "))
        }
    }
}

impl std::error::Error for UnknownWord {}

// ---------------------------------------------------------------------------

/// An amount of memory or storage, in bytes.
///
/// XML carries a number and a unit (`<memory unit='MiB'>512</memory>`);
/// every libvirt unit is accepted: `b`/`bytes`, `KB`/`MB`/`GB`/`TB`/`PB`/`EB`
/// (powers of 1000), `k`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB`, `P`/`PiB`,
/// `E`/`EiB` (powers of 1024), case-insensitively. JSON carries bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn bytes(n: u64) -> Self {
        ByteSize(n)
    }
    /// `n` KiB; saturates at the largest size.
    pub const fn kib(n: u64) -> Self {
        ByteSize(n.saturating_mul(1 << 10))
    }
    pub const fn mib(n: u64) -> Self {
        ByteSize(n.saturating_mul(1 << 20))
    }
    pub const fn gib(n: u64) -> Self {
        ByteSize(n.saturating_mul(1 << 30))
    }
    pub const fn as_bytes(self) -> u64 {
        self.0
    }
    /// Whole KiB, rounded up (libvirt's own unit for memory).
    pub const fn as_kib_ceil(self) -> u64 {
        self.0.div_ceil(1024)
    }

    /// Parses a value with its unit (`None` means `default_unit`).
    pub fn parse_with_unit(value: &str, unit: Option<&str>, default_unit: &str) -> Result<Self, String> {
        let scale = unit_scale(unit.unwrap_or(default_unit))?;
        let n: u64 = XmlValue::parse_xml(value)?;
        n.checked_mul(scale)
            .map(ByteSize)
            .ok_or_else(|| format!("{} {} is too large (at most {} bytes)", n, unit.unwrap_or(default_unit), u64::MAX))
    }

    /// The value and unit libvirt would write: KiB when exact, else bytes.
    pub fn to_value_and_unit(self) -> (u64, &'static str) {
        if self.0.is_multiple_of(1024) { (self.0 / 1024, "KiB") } else { (self.0, "bytes") }
    }
}

/// Bytes per unit, as libvirt's virScaleInteger reads units.
fn unit_scale(unit: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "unknown unit '{}'; expected one of b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB, PB, P, PiB, EB, E, EiB",
            truncate(unit)
        )
    };
    let lower = unit.to_ascii_lowercase();
    if matches!(lower.as_str(), "b" | "byte" | "bytes") {
        return Ok(1);
    }
    let mut chars = lower.chars();
    let power = match chars.next() {
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some('p') => 5,
        Some('e') => 6,
        _ => return Err(bad()),
    };
    let base: u64 = match chars.as_str() {
        "" | "ib" => 1024,
        "b" => 1000,
        _ => return Err(bad()),
    };
    Ok(base.pow(power))
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v, u) = self.to_value_and_unit();
        write!(f, "{v} {u}")
    }
}

// ---------------------------------------------------------------------------

/// A MAC address, written `52:54:00:12:34:56`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// Whether the group bit is set (a multicast address; not for a NIC).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// A random address in QEMU's locally administered 52:54:00 range, as
    /// libvirt gives a NIC that has none.
    pub fn generate() -> MacAddress {
        let b = uuid::Uuid::new_v4().into_bytes();
        MacAddress([0x52, 0x54, 0x00, b[0], b[1], b[2]])
    }
}

impl FromStr for MacAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{}' is not a MAC address (like 52:54:00:12:34:56)", truncate(s));
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(out))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl XmlValue for MacAddress {
    fn parse_xml(s: &str) -> Result<Self, String> {
        s.parse()
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl Serialize for MacAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------

/// A set of host CPU numbers, written as libvirt does: `0-3,8,10-11`
/// (`^N` excludes N on input). Kept as sorted, disjoint, inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpuSet(Vec<(u32, u32)>);

impl CpuSet {
    /// The largest CPU number accepted.
    pub const MAX_CPU: u32 = 65535;

    /// The set of CPUs in `ranges` (inclusive); `None` if it is empty or
    /// names a CPU above [`Self::MAX_CPU`].
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> Option<Self> {
        let mut v: Vec<(u32, u32)> = ranges.into_iter().collect();
        if v.iter().any(|&(a, b)| a > b || b > Self::MAX_CPU) {
            return None;
        }
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        (!out.is_empty()).then_some(CpuSet(out))
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }

    pub fn contains(&self, cpu: u32) -> bool {
        self.0.iter().any(|&(a, b)| a <= cpu && cpu <= b)
    }
}

impl FromStr for CpuSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("'{}' is not a CPU set ({why})", truncate(s));
        let num = |t: &str| -> Result<u32, String> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad("like 0-3,8,^2"));
            }
            match t.parse::<u32>() {
                Ok(n) if n <= CpuSet::MAX_CPU => Ok(n),
                _ => Err(bad(&format!("CPU numbers go up to {}", CpuSet::MAX_CPU))),
            }
        };
        let mut incl = Vec::new();
        let mut excl = Vec::new();
        for item in s.split(',') {
            let item = item.trim();
            if let Some(n) = item.strip_prefix('^') {
                excl.push(num(n)?);
            } else if let Some((a, b)) = item.split_once('-') {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(bad("a range must go upwards"));
                }
                incl.push((a, b));
            } else {
                let n = num(item)?;
                incl.push((n, n));
            }
        }
        let mut set = CpuSet::from_ranges(incl).ok_or_else(|| bad("it selects no CPU"))?;
        for x in excl {
            set.0 = set
                .0
                .iter()
                .flat_map(|&(a, b)| {
                    if x < a || x > b {
                        vec![(a, b)]
                    } else {
                        let mut v = Vec::new();
                        if a < x {
                            v.push((a, x - 1));
                        }
                        if x < b {
                            v.push((x + 1, b));
                        }
                        v
                    }
                })
                .collect();
        }
        if set.0.is_empty() {
            return Err(bad("it selects no CPU"));
        }
        Ok(set)
    }
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl XmlValue for CpuSet {
    fn parse_xml(s: &str) -> Result<Self, String> {
        s.parse()
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl Serialize for CpuSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CpuSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------

// IP addresses are kept as `std::net` values: written in their canonical
// form (RFC 5952 for IPv6), read in the forms libvirt's schema allows.

impl XmlValue for std::net::IpAddr {
    fn parse_xml(s: &str) -> Result<Self, String> {
        s.parse().map_err(|_| format!("'{}' is not an IP address", truncate(s)))
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl XmlValue for std::net::Ipv4Addr {
    fn parse_xml(s: &str) -> Result<Self, String> {
        s.parse().map_err(|_| format!("'{}' is not an IPv4 address", truncate(s)))
    }
    fn to_xml(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

// ---------------------------------------------------------------------------

/// An unsigned number libvirt writes in hex (`0x0a`) but reads in either base.
pub(crate) fn parse_auto_u32(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()) => u32::from_str_radix(h, 16),
        Some(_) => return Err(format!("'{}' is not a number", truncate(s))),
        None if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) => t.parse(),
        None => return Err(format!("'{}' is not a number", truncate(s))),
    };
    r.map_err(|_| format!("'{}' is out of range", truncate(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_libvirt_unit() {
        let cases = [
            ("b", 1),
            ("bytes", 1),
            ("KB", 1000),
            ("k", 1024),
            ("KiB", 1024),
            ("MB", 1_000_000),
            ("M", 1 << 20),
            ("MiB", 1 << 20),
            ("GB", 1_000_000_000),
            ("G", 1 << 30),
            ("GiB", 1 << 30),
            ("TB", 1_000_000_000_000),
            ("T", 1 << 40),
            ("TiB", 1 << 40),
            ("PiB", 1 << 50),
            ("EiB", 1 << 60),
        ];
        for (u, scale) in cases {
            assert_eq!(ByteSize::parse_with_unit("3", Some(u), "KiB"), Ok(ByteSize(3 * scale)), "{u}");
        }
        assert_eq!(ByteSize::parse_with_unit("3", None, "KiB"), Ok(ByteSize(3072)));
    }

    #[test]
    fn unit_errors() {
        assert!(ByteSize::parse_with_unit("1", Some("KiBB"), "KiB").unwrap_err().contains("unknown unit 'KiBB'"));
        assert!(ByteSize::parse_with_unit("16", Some("EiB"), "KiB").unwrap_err().contains("too large"));
        assert!(ByteSize::parse_with_unit("-1", Some("KiB"), "KiB").is_err());
        assert!(ByteSize::parse_with_unit("1.5", Some("GiB"), "KiB").is_err());
    }

    #[test]
    fn sizes_write_as_kib_when_exact() {
        assert_eq!(ByteSize(219_136 * 1024).to_value_and_unit(), (219_136, "KiB"));
        assert_eq!(ByteSize(1000).to_value_and_unit(), (1000, "bytes"));
    }

    #[test]
    fn mac_addresses() {
        let m: MacAddress = "52:54:00:D6:c0:0b".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:d6:c0:0b");
        assert!(!m.is_multicast());
        assert!("01:00:5e:00:00:01".parse::<MacAddress>().unwrap().is_multicast());
        for bad in ["52:54:00:d6:c0", "52:54:00:d6:c0:0b:11", "52:54:00:d6:c0:0g", "525400d6c00b", "52:54:00:d6:c0:"] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_sets() {
        let s: CpuSet = "1-4,8-20,525".parse().unwrap();
        assert_eq!(s.to_string(), "1-4,8-20,525");
        let s: CpuSet = "0-7,^3,5,6".parse().unwrap();
        assert_eq!(s.to_string(), "0-2,4-7");
        assert!(s.contains(7) && !s.contains(3));
        for bad in ["", "a", "4-1", "^1", "1,", "0-70000", "1--2"] {
            assert!(bad.parse::<CpuSet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hex_or_decimal() {
        assert_eq!(parse_auto_u32("0x0a"), Ok(10));
        assert_eq!(parse_auto_u32("18"), Ok(18));
        assert!(parse_auto_u32("0x").is_err());
        assert!(parse_auto_u32("0x1ffffffff").is_err());
        assert!(parse_auto_u32("ten").is_err());
    }
}
