//! USB devices that are not disks or inputs: `<redirdev>` (a USB device
//! sent from a client, over SPICE or a socket), `<redirfilter>` (which
//! devices may be), `<hub>` and `<smartcard>` (a CCID reader).

use serde::{Deserialize, Serialize};

use super::seclabel::DeviceSeclabel;
use super::{
    Address, CharSource, DeviceBoot, read_address, read_alias, read_boot, write_address, write_alias, write_boot,
};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// A `<redirdev bus='usb'>`: a USB device redirected from elsewhere.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Redirdev {
    /// Where the USB traffic comes from: `spicevmc` (a SPICE client) or a
    /// socket.
    pub source: CharSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seclabels: Vec<DeviceSeclabel>,
    pub boot: Option<DeviceBoot>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Redirdev {
    /// USB redirection from a SPICE client.
    pub fn spice() -> Self {
        Redirdev::new(CharSource::Spicevmc)
    }

    pub fn new(source: CharSource) -> Self {
        Redirdev { source, seclabels: Vec::new(), boot: None, alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Redirdev> {
        let bus = el.raw_attr("bus").unwrap_or("usb");
        if bus != "usb" {
            return Err(el.attr_error(
                "bus",
                crate::ErrorKind::InvalidValue(format!("'{}' is not one of usb", crate::xml::truncate(bus))),
            ));
        }
        let (source, seclabels) = CharSource::read(el)?;
        Ok(Redirdev { source, seclabels, boot: read_boot(el)?, alias: read_alias(el)?, address: read_address(el)? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("redirdev");
        w.attr("bus", "usb");
        self.source.write_type(w);
        self.source.write_source(w, &self.seclabels);
        write_boot(w, self.boot.as_ref());
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

/// `<usbdev>` of a `<redirfilter>`: a rule; an unset field matches any.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UsbFilterRule {
    /// The USB class (`0x08`), or `-1` for any.
    pub class: Option<String>,
    /// Vendor and product ids (`0x15E1`), or `-1` for any.
    pub vendor: Option<String>,
    pub product: Option<String>,
    /// The device release (`1.10`), or `-1` for any.
    pub version: Option<String>,
    pub allow: bool,
}

impl UsbFilterRule {
    /// Allow (or deny) every device.
    pub fn all(allow: bool) -> Self {
        UsbFilterRule { class: None, vendor: None, product: None, version: None, allow }
    }
}

/// `<redirfilter>`: which redirected USB devices are let in, first match wins.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedirFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<UsbFilterRule>,
}

impl RedirFilter {
    pub fn new(rules: Vec<UsbFilterRule>) -> Self {
        RedirFilter { rules }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<RedirFilter> {
        Ok(RedirFilter {
            rules: el.children("usbdev", |u| {
                Ok(UsbFilterRule {
                    class: u.attr("class")?,
                    vendor: u.attr("vendor")?,
                    product: u.attr("product")?,
                    version: u.attr("version")?,
                    allow: u.yes_no("allow")?.ok_or_else(|| u.missing_attr("allow"))?,
                })
            })?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("redirfilter");
        for r in &self.rules {
            w.start("usbdev");
            w.attr_opt("class", r.class.as_ref());
            w.attr_opt("vendor", r.vendor.as_ref());
            w.attr_opt("product", r.product.as_ref());
            w.attr_opt("version", r.version.as_ref());
            w.yes_no("allow", Some(r.allow));
            w.end();
        }
        w.end();
    }
}

/// A `<hub type='usb'>`: more USB ports.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Hub {
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Hub {
    pub(crate) fn read(el: &El<'_, '_>) -> Result<Hub> {
        let t = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        if t != "usb" {
            return Err(el.attr_error(
                "type",
                crate::ErrorKind::InvalidValue(format!("'{}' is not one of usb", crate::xml::truncate(t))),
            ));
        }
        Ok(Hub { alias: read_alias(el)?, address: read_address(el)? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("hub");
        w.attr("type", "usb");
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

/// What a smartcard reader reads.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SmartcardMode {
    /// The host's own smartcard reader.
    Host,
    /// Three certificates from an NSS database (the host's default when unset).
    HostCertificates { certificates: Vec<String>, database: Option<String> },
    /// A reader on a character device (a SPICE client, a socket).
    Passthrough {
        source: CharSource,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        seclabels: Vec<DeviceSeclabel>,
    },
}

/// A `<smartcard>` reader on a CCID controller.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Smartcard {
    pub mode: SmartcardMode,
    pub address: Option<Address>,
}

impl Smartcard {
    pub fn new(mode: SmartcardMode) -> Self {
        Smartcard { mode, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Smartcard> {
        let mode = el.raw_attr("mode").ok_or_else(|| el.missing_attr("mode"))?;
        let mode = match mode {
            "host" => SmartcardMode::Host,
            "host-certificates" => SmartcardMode::HostCertificates {
                certificates: el.children("certificate", |c| Ok(c.text()))?,
                database: el.child_text("database")?,
            },
            "passthrough" => {
                let (source, seclabels) = CharSource::read(el)?;
                SmartcardMode::Passthrough { source, seclabels }
            }
            other => {
                return Err(el.attr_error(
                    "mode",
                    crate::ErrorKind::InvalidValue(format!(
                        "'{}' is not one of host, host-certificates, passthrough",
                        crate::xml::truncate(other)
                    )),
                ));
            }
        };
        Ok(Smartcard { mode, address: read_address(el)? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("smartcard");
        match &self.mode {
            SmartcardMode::Host => w.attr("mode", "host"),
            SmartcardMode::HostCertificates { certificates, database } => {
                w.attr("mode", "host-certificates");
                certificates.iter().for_each(|c| w.text_element("certificate", c));
                w.opt_text_element("database", database.as_ref());
            }
            SmartcardMode::Passthrough { source, seclabels } => {
                w.attr("mode", "passthrough");
                source.write_type(w);
                source.write_source(w, seclabels);
            }
        }
        write_address(w, self.address.as_ref());
        w.end();
    }
}
