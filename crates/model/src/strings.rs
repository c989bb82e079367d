//! Strings a document cannot carry, found without encoding it: a serde
//! serializer that only visits a model's strings, with the JSON path of
//! each (the path its JSON encoding would give), and builds nothing else.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

use crate::document::is_xml_char;
use crate::error::{Error, ErrorKind, Errors};

/// One step of a path.
enum Step {
    Field(&'static str),
    Index(usize),
    Key(String),
}

#[derive(Default)]
struct Walk {
    path: Vec<Step>,
    out: Vec<Error>,
}

impl Walk {
    fn check(&mut self, s: &str) {
        if let Some(c) = s.chars().find(|c| !is_xml_char(*c)) {
            let mut path = String::new();
            for step in &self.path {
                path.push('/');
                match step {
                    Step::Field(f) => path.push_str(f),
                    Step::Index(i) => path.push_str(&i.to_string()),
                    Step::Key(k) => path.push_str(k),
                }
            }
            let msg = format!("character U+{:04X} cannot appear in a document", u32::from(c));
            self.out.push(Error::new(path, ErrorKind::InvalidValue(msg)));
        }
    }

    fn within<T: Serialize + ?Sized>(&mut self, step: Step, value: &T) -> Result<(), Stop> {
        self.path.push(step);
        let r = value.serialize(Walker(self));
        self.path.pop();
        r
    }
}

/// Refuses strings that XML cannot carry (most control characters), each
/// named by its JSON path: a model read from JSON or built in code must
/// still be writable as XML.
pub(crate) fn check_strings<T: Serialize + ?Sized>(value: &T) -> Result<(), Errors> {
    let mut walk = Walk::default();
    // The walker itself never fails; a model's own `Serialize` could.
    let _ = value.serialize(Walker(&mut walk));
    if walk.out.is_empty() { Ok(()) } else { Err(Errors::new(walk.out)) }
}

/// What a model's `Serialize` may fail with.
#[derive(Debug)]
pub(crate) struct Stop(String);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop(msg.to_string())
    }
}

struct Walker<'a>(&'a mut Walk);

/// A sequence, map or struct being walked.
struct Compound<'a> {
    walk: &'a mut Walk,
    next: usize,
    /// The variant's step is on the path (struct and tuple variants).
    variant: bool,
    /// The key of the map entry whose value comes next.
    entry: Option<String>,
}

impl<'a> Compound<'a> {
    fn new(walk: &'a mut Walk, variant: Option<&'static str>) -> Self {
        if let Some(v) = variant {
            walk.path.push(Step::Field(v));
        }
        Compound { walk, next: 0, variant: variant.is_some(), entry: None }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let i = self.next;
        self.next += 1;
        self.walk.within(Step::Index(i), value)
    }

    fn done(self) -> Result<(), Stop> {
        if self.variant {
            self.walk.path.pop();
        }
        Ok(())
    }
}

macro_rules! ignore {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, _: $t) -> Result<(), Stop> { Ok(()) })*
    };
}

impl<'a> ser::Serializer for Walker<'a> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    ignore!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128, serialize_f32: f32, serialize_f64: f64, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str);

    fn serialize_char(self, v: char) -> Result<(), Stop> {
        self.0.check(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Stop> {
        self.0.check(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.0.within(Step::Field(variant), value)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self.0, None))
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self.0, None))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self.0, None))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self.0, Some(variant)))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self.0, None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self.0, None))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Stop> {
        Ok(Compound::new(self.0, Some(variant)))
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.done()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.done()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.done()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        self.element(value)
    }
    fn end(self) -> Result<(), Stop> {
        self.done()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        self.entry = Some(key.serialize(KeyName)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        let key = self.entry.take().unwrap_or_default();
        self.walk.within(Step::Key(key), value)
    }
    fn end(self) -> Result<(), Stop> {
        self.done()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
        self.walk.within(Step::Field(key), value)
    }
    fn end(self) -> Result<(), Stop> {
        self.done()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
        self.walk.within(Step::Field(key), value)
    }
    fn end(self) -> Result<(), Stop> {
        self.done()
    }
}

/// A map key as its JSON encoding names it (strings, numbers, words).
struct KeyName;

macro_rules! key_display {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, v: $t) -> Result<String, Stop> { Ok(v.to_string()) })*
    };
}

impl ser::Serializer for KeyName {
    type Ok = String;
    type Error = Stop;
    type SerializeSeq = Impossible<String, Stop>;
    type SerializeTuple = Impossible<String, Stop>;
    type SerializeTupleStruct = Impossible<String, Stop>;
    type SerializeTupleVariant = Impossible<String, Stop>;
    type SerializeMap = Impossible<String, Stop>;
    type SerializeStruct = Impossible<String, Stop>;
    type SerializeStructVariant = Impossible<String, Stop>;

    key_display!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128, serialize_f32: f32, serialize_f64: f64, serialize_char: char, serialize_str: &str);

    fn serialize_bytes(self, _: &[u8]) -> Result<String, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_none(self) -> Result<String, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String, Stop> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<String, Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Stop> {
        Err(Stop("a map key is not a string".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Domain;

    /// The walker finds what the JSON encoding's strings show, at the same
    /// paths, in a whole domain (strings in structs, lists, options, enums).
    #[test]
    fn finds_what_the_json_encoding_shows() {
        let xml = "<domain type='kvm'><name>a</name><memory unit='MiB'>64</memory>
          <description>one</description><os><type>hvm</type><kernel>/k</kernel></os>
          <devices><disk type='file' device='disk'><source file='/a.img'/><target dev='vda'/></disk>
          <disk type='network' device='disk'><source protocol='nbd' name='x'><host name='h' port='1'/></source><target dev='vdb'/></disk>
          <interface type='user'><mac address='52:54:00:00:00:01'/></interface></devices></domain>";
        let good = Domain::from_xml(xml).unwrap_or_else(|e| panic!("{e}"));
        assert!(check_strings(&good).is_ok());
        let json = good.to_json().replace("\"one\"", "\"o\\u0001ne\"").replace("\"/a.img\"", "\"/a\\u0002.img\"");
        let json = json.replace("\"h\"", "\"h\\u0003\"").replace("\"/k\"", "\"/k\\u0004\"");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        let bad: Domain = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}"));
        let paths = |e: Errors| e.iter().map(|e| (e.path.clone(), e.kind.to_string())).collect::<Vec<_>>();
        let mut want = paths(crate::document::check_json_strings(&value, "").unwrap_err());
        let mut got = paths(check_strings(&bad).unwrap_err());
        want.sort();
        got.sort();
        assert_eq!(want.len(), 4, "{want:?}");
        assert_eq!(got, want);
    }
}
