//! `<sysinfo>`: what the guest's firmware tables say about the machine
//! (SMBIOS) and extra files for the firmware (`fw_cfg`).

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::XmlValue;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// SMBIOS type 0 fields.
    pub enum BiosEntry {
        Vendor = "vendor",
        Version = "version",
        Date = "date",
        Release = "release",
    }
}

xml_enum! {
    /// SMBIOS type 1 fields.
    pub enum SystemEntry {
        Manufacturer = "manufacturer",
        Product = "product",
        Version = "version",
        Serial = "serial",
        Uuid = "uuid",
        Sku = "sku",
        Family = "family",
    }
}

xml_enum! {
    /// SMBIOS type 2 fields.
    pub enum BaseBoardEntry {
        Manufacturer = "manufacturer",
        Product = "product",
        Version = "version",
        Serial = "serial",
        Asset = "asset",
        Location = "location",
    }
}

xml_enum! {
    /// SMBIOS type 3 fields.
    pub enum ChassisEntry {
        Manufacturer = "manufacturer",
        Version = "version",
        Serial = "serial",
        Asset = "asset",
        Sku = "sku",
    }
}

/// One `<entry name=…>value</entry>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Entry<N> {
    pub name: N,
    pub value: String,
}

impl<N> Entry<N> {
    pub fn new(name: N, value: impl Into<String>) -> Self {
        Entry { name, value: value.into() }
    }
}

/// `<sysinfo type='smbios'>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Smbios {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bios: Vec<Entry<BiosEntry>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<Entry<SystemEntry>>,
    /// One list per board.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub base_boards: Vec<Vec<Entry<BaseBoardEntry>>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chassis: Vec<Entry<ChassisEntry>>,
    /// SMBIOS type 11 strings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub oem_strings: Vec<String>,
}

/// An entry of `<sysinfo type='fwcfg'>`: a named blob, given inline or
/// from a file.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FwCfgEntry {
    pub name: String,
    pub value: Option<String>,
    pub file: Option<String>,
}

/// A `<sysinfo>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "entries", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum Sysinfo {
    Smbios(Box<Smbios>),
    Fwcfg(Vec<FwCfgEntry>),
}

fn read_entries<N: XmlValue>(el: &El<'_, '_>) -> Result<Vec<Entry<N>>> {
    el.one_or_more("entry", |e| Ok(Entry { name: e.req_attr("name")?, value: e.text() }))
}

fn write_entries<N: XmlValue>(w: &mut XmlWriter, block: &str, entries: &[Entry<N>]) {
    if entries.is_empty() {
        return;
    }
    w.start(block);
    for e in entries {
        w.start("entry");
        w.attr_val("name", &e.name);
        w.text(&e.value);
        w.end();
    }
    w.end();
}

impl Sysinfo {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Sysinfo> {
        match el.req_attr::<String>("type")?.as_str() {
            "smbios" => Ok(Sysinfo::Smbios(Box::new(Smbios {
                bios: el.child("bios", read_entries)?.unwrap_or_default(),
                system: el.child("system", read_entries)?.unwrap_or_default(),
                base_boards: el.children("baseBoard", read_entries)?,
                chassis: el.child("chassis", read_entries)?.unwrap_or_default(),
                oem_strings: el.child("oemStrings", |o| o.one_or_more("entry", |e| Ok(e.text())))?.unwrap_or_default(),
            }))),
            "fwcfg" => Ok(Sysinfo::Fwcfg(el.children("entry", |e| {
                let name = e.req_attr("name")?;
                let file: Option<String> = e.attr("file")?;
                let text = e.text();
                if file.is_some() && !crate::xml::reader::is_xml_space(&text) {
                    return Err(e.invalid("an entry has a file or a value, not both"));
                }
                Ok(FwCfgEntry { name, value: (file.is_none()).then_some(text), file })
            })?)),
            other => Err(el.attr_error(
                "type",
                crate::ErrorKind::InvalidValue(format!(
                    "'{}' is not one of smbios, fwcfg",
                    crate::xml::truncate(other)
                )),
            )),
        }
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("sysinfo");
        match self {
            Sysinfo::Smbios(s) => {
                w.attr("type", "smbios");
                write_entries(w, "bios", &s.bios);
                write_entries(w, "system", &s.system);
                for b in &s.base_boards {
                    write_entries(w, "baseBoard", b);
                }
                write_entries(w, "chassis", &s.chassis);
                if !s.oem_strings.is_empty() {
                    w.start("oemStrings");
                    for o in &s.oem_strings {
                        w.text_element("entry", o);
                    }
                    w.end();
                }
            }
            Sysinfo::Fwcfg(entries) => {
                w.attr("type", "fwcfg");
                for e in entries {
                    w.start("entry");
                    w.attr("name", &e.name);
                    w.attr_opt("file", e.file.as_ref());
                    if let Some(v) = &e.value {
                        w.text(v);
                    }
                    w.end();
                }
            }
        }
        w.end();
    }
}
