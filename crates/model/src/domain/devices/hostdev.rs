//! `<hostdev>`: a device of the host given to the guest. `mode='subsystem'`
//! passes a PCI, USB or SCSI device, a vhost-scsi target or a mediated
//! device through; `mode='capabilities'` (containers) shows a host block or
//! character device or a network interface.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::misc::VirtioModel;
use super::{
    Address, DeviceBoot, PciAddress, Rom, Teaming, read_address, read_alias, read_boot, read_rom, write_address,
    write_alias, write_boot, write_rom,
};
use super::{Sgio, StartupPolicy};
use crate::storage::SecretRef;
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// Who binds a PCI device for the guest.
    pub enum PciDriverName {
        Kvm = "kvm",
        Vfio = "vfio",
        Xen = "xen",
    }
}

xml_enum! {
    /// Whether QEMU resets a USB device the guest resets.
    pub enum GuestReset {
        Off = "off",
        Uninitialized = "uninitialized",
        On = "on",
    }
}

xml_enum! {
    /// The bus a mediated device sits on in the guest.
    pub enum MdevModel {
        VfioPci = "vfio-pci",
        VfioCcw = "vfio-ccw",
        VfioAp = "vfio-ap",
    }
}

xml_enum! {
    /// The kind of secret an iSCSI login uses.
    pub enum AuthSecretType {
        Ceph = "ceph",
        Iscsi = "iscsi",
    }
}

/// A host USB device: by vendor and product, by bus and device number, or
/// both.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UsbSource {
    pub vendor: Option<u16>,
    pub product: Option<u16>,
    pub bus: Option<u32>,
    pub device: Option<u32>,
}

impl UsbSource {
    pub fn product(vendor: u16, product: u16) -> Self {
        UsbSource { vendor: Some(vendor), product: Some(product), bus: None, device: None }
    }

    pub fn at(bus: u32, device: u32) -> Self {
        UsbSource { vendor: None, product: None, bus: Some(bus), device: Some(device) }
    }

    /// Reads `<vendor>`, `<product>` and `<address bus device>` (with
    /// `type='usb'` when `typed`, as an interface's source has it).
    pub(crate) fn read(el: &El<'_, '_>) -> Result<UsbSource> {
        let id = |name| el.child(name, |i| i.req_attr_with("id", parse_usb_id));
        let (vendor, product) = (id("vendor")?, id("product")?);
        let addr = el.child("address", |a| {
            Ok((
                a.req_attr_with("bus", crate::values::parse_auto_u32)?,
                a.req_attr_with("device", crate::values::parse_auto_u32)?,
            ))
        })?;
        Ok(UsbSource { vendor, product, bus: addr.map(|a| a.0), device: addr.map(|a| a.1) })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter, typed: bool) {
        for (name, v) in [("vendor", self.vendor), ("product", self.product)] {
            if let Some(v) = v {
                w.start(name);
                w.attr("id", &format!("0x{v:04x}"));
                w.end();
            }
        }
        if self.bus.is_some() || self.device.is_some() {
            w.start("address");
            if typed {
                w.attr("type", "usb");
            }
            w.attr_opt("bus", self.bus.as_ref());
            w.attr_opt("device", self.device.as_ref());
            w.end();
        }
    }
}

/// USB vendor and product ids are hex, with or without `0x`.
fn parse_usb_id(s: &str) -> std::result::Result<u16, String> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.is_empty() || h.len() > 4 || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("'{}' is not a USB id (up to 4 hex digits)", crate::xml::truncate(s)));
    }
    u16::from_str_radix(h, 16).map_err(|e| e.to_string())
}

/// `<auth>` of an iSCSI source: who logs in, with which secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IscsiAuth {
    pub username: String,
    pub secret_type: AuthSecretType,
    pub secret: SecretRef,
}

/// An iSCSI portal (`<host name port>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IscsiHost {
    pub name: String,
    pub port: Option<u16>,
}

impl IscsiHost {
    pub fn new(name: impl Into<String>, port: Option<u16>) -> Self {
        IscsiHost { name: name.into(), port }
    }
}

/// Where a passed-through SCSI device is.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "protocol", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum ScsiSource {
    /// A LUN of a host SCSI adapter (`scsi_host0`), by bus, target, unit.
    Adapter { adapter: String, bus: u32, target: u32, unit: u64 },
    /// A LUN of an iSCSI target (`iqn…/LUN`), through its portals.
    Iscsi {
        name: String,
        hosts: Vec<IscsiHost>,
        auth: Option<IscsiAuth>,
        /// The initiator's IQN.
        initiator: Option<String>,
    },
}

/// What a `<hostdev>` passes through (its `mode` and `type`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum HostdevSource {
    /// A host PCI device (`<source><address domain bus slot function>`).
    Pci {
        address: PciAddress,
        driver: Option<PciDriverName>,
        teaming: Option<Teaming>,
    },
    Usb {
        #[serde(flatten)]
        source: UsbSource,
        startup_policy: Option<StartupPolicy>,
        guest_reset: Option<GuestReset>,
    },
    Scsi {
        source: ScsiSource,
        sgio: Option<Sgio>,
        rawio: Option<bool>,
    },
    /// A vhost-scsi target of the host, by its WWPN (`naa.…`).
    ScsiHost {
        wwpn: String,
        model: Option<VirtioModel>,
    },
    /// A mediated device (a vGPU slice, …) by its UUID.
    Mdev {
        uuid: Uuid,
        model: MdevModel,
        /// Its display shown through the guest's graphics.
        display: Option<bool>,
        /// The display also as a ramfb boot framebuffer.
        ramfb: Option<bool>,
    },
    /// capabilities mode: a host block device (`<source><block>`).
    Storage {
        block: String,
    },
    /// capabilities mode: a host character device (`<source><char>`).
    Misc {
        char: String,
    },
    /// capabilities mode: a host network interface (`<source><interface>`).
    Net {
        interface: String,
    },
}

impl HostdevSource {
    pub fn type_name(&self) -> &'static str {
        match self {
            HostdevSource::Pci { .. } => "pci",
            HostdevSource::Usb { .. } => "usb",
            HostdevSource::Scsi { .. } => "scsi",
            HostdevSource::ScsiHost { .. } => "scsi_host",
            HostdevSource::Mdev { .. } => "mdev",
            HostdevSource::Storage { .. } => "storage",
            HostdevSource::Misc { .. } => "misc",
            HostdevSource::Net { .. } => "net",
        }
    }

    /// Whether this is `mode='capabilities'` (else `subsystem`).
    pub fn is_capabilities(&self) -> bool {
        matches!(self, HostdevSource::Storage { .. } | HostdevSource::Misc { .. } | HostdevSource::Net { .. })
    }
}

/// A `<hostdev>` device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Hostdev {
    pub source: HostdevSource,
    /// virtkit detaches the device from its host driver at start and gives
    /// it back at stop.
    pub managed: Option<bool>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shareable: bool,
    pub boot: Option<DeviceBoot>,
    pub alias: Option<String>,
    pub rom: Option<Rom>,
    pub address: Option<Address>,
}

impl Hostdev {
    pub fn new(source: HostdevSource) -> Self {
        Hostdev {
            source,
            managed: None,
            readonly: false,
            shareable: false,
            boot: None,
            alias: None,
            rom: None,
            address: None,
        }
    }

    /// The host PCI device at `address`, bound to vfio by virtkit.
    pub fn pci(address: PciAddress) -> Self {
        let mut h = Hostdev::new(HostdevSource::Pci { address, driver: None, teaming: None });
        h.managed = Some(true);
        h
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Hostdev> {
        let mode = el.raw_attr("mode").unwrap_or("subsystem");
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        let source = match (mode, kind) {
            ("subsystem", "pci" | "usb" | "scsi" | "scsi_host" | "mdev") => read_subsystem(el, kind)?,
            ("capabilities", "storage") => {
                HostdevSource::Storage { block: el.req_child("source", |s| s.req_child("block", |b| Ok(b.text())))? }
            }
            ("capabilities", "misc") => {
                HostdevSource::Misc { char: el.req_child("source", |s| s.req_child("char", |b| Ok(b.text())))? }
            }
            ("capabilities", "net") => HostdevSource::Net {
                interface: el.req_child("source", |s| s.req_child("interface", |b| Ok(b.text())))?,
            },
            ("subsystem" | "capabilities", other) => {
                let allowed =
                    if mode == "subsystem" { "pci, usb, scsi, scsi_host, mdev" } else { "storage, misc, net" };
                return Err(el.attr_error(
                    "type",
                    crate::ErrorKind::InvalidValue(format!(
                        "'{}' is not one of {allowed}",
                        crate::xml::truncate(other)
                    )),
                ));
            }
            (other, _) => {
                return Err(el.attr_error(
                    "mode",
                    crate::ErrorKind::InvalidValue(format!(
                        "'{}' is not one of subsystem, capabilities",
                        crate::xml::truncate(other)
                    )),
                ));
            }
        };
        let managed = if source.is_capabilities() { None } else { el.yes_no("managed")? };
        Ok(Hostdev {
            source,
            managed,
            readonly: el.flag("readonly")?,
            shareable: el.flag("shareable")?,
            boot: read_boot(el)?,
            alias: read_alias(el)?,
            rom: read_rom(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("hostdev");
        w.attr("mode", if self.source.is_capabilities() { "capabilities" } else { "subsystem" });
        w.attr("type", self.source.type_name());
        w.yes_no("managed", self.managed);
        match &self.source {
            HostdevSource::Scsi { sgio, rawio, .. } => {
                w.attr_opt("sgio", sgio.as_ref());
                w.yes_no("rawio", *rawio);
            }
            HostdevSource::Mdev { model, display, ramfb, .. } => {
                w.attr("model", model.as_str());
                w.on_off("display", *display);
                w.on_off("ramfb", *ramfb);
            }
            HostdevSource::ScsiHost { model, .. } => w.attr_opt("model", model.as_ref()),
            _ => {}
        }
        write_source(w, &self.source);
        w.flag("readonly", self.readonly);
        w.flag("shareable", self.shareable);
        write_boot(w, self.boot.as_ref());
        write_alias(w, self.alias.as_ref());
        write_rom(w, self.rom.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

fn read_subsystem(el: &El<'_, '_>, kind: &str) -> Result<HostdevSource> {
    Ok(match kind {
        "pci" => HostdevSource::Pci {
            driver: el.child("driver", |d| d.req_attr("name"))?,
            teaming: el.child("teaming", Teaming::read)?,
            address: el.req_child("source", |s| s.req_child("address", PciAddress::read_attrs))?,
        },
        "usb" => {
            let (source, startup_policy, guest_reset) =
                el.req_child("source", |s| Ok((UsbSource::read(s)?, s.attr("startupPolicy")?, s.attr("guestReset")?)))?;
            HostdevSource::Usb { source, startup_policy, guest_reset }
        }
        "scsi" => HostdevSource::Scsi {
            sgio: el.attr("sgio")?,
            rawio: el.yes_no("rawio")?,
            source: el.req_child("source", read_scsi_source)?,
        },
        "scsi_host" => HostdevSource::ScsiHost {
            model: el.attr("model")?,
            wwpn: el.req_child("source", |s| {
                if let Some(p) = s.raw_attr("protocol").filter(|p| *p != "vhost") {
                    return Err(s.attr_error(
                        "protocol",
                        crate::ErrorKind::InvalidValue(format!("'{}' is not one of vhost", crate::xml::truncate(p))),
                    ));
                }
                if s.raw_attr("protocol").is_none() {
                    return Err(s.missing_attr("protocol"));
                }
                s.req_attr("wwpn")
            })?,
        },
        _ => HostdevSource::Mdev {
            model: el.req_attr("model")?,
            display: el.on_off("display")?,
            ramfb: el.on_off("ramfb")?,
            uuid: el.req_child("source", |s| s.req_child("address", |a| a.req_attr("uuid")))?,
        },
    })
}

fn read_scsi_source(s: &El<'_, '_>) -> Result<ScsiSource> {
    match s.raw_attr("protocol").unwrap_or("adapter") {
        "adapter" => {
            let adapter = s.req_child("adapter", |a| {
                if let Some(t) = a.raw_attr("type").filter(|t| *t != "scsi_host") {
                    let msg = if t == "fc_host" {
                        "adapter type 'fc_host' is not supported here; supported: scsi_host".to_owned()
                    } else {
                        format!("'{}' is not one of scsi_host", crate::xml::truncate(t))
                    };
                    return Err(a.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
                }
                a.req_attr("name")
            })?;
            let (bus, target, unit) =
                s.req_child("address", |a| Ok((a.req_attr("bus")?, a.req_attr("target")?, a.req_attr("unit")?)))?;
            Ok(ScsiSource::Adapter { adapter, bus, target, unit })
        }
        "iscsi" => Ok(ScsiSource::Iscsi {
            name: s.req_attr("name")?,
            hosts: s.one_or_more("host", |h| Ok(IscsiHost { name: h.req_attr("name")?, port: h.attr("port")? }))?,
            auth: s.child("auth", |a| {
                let (secret_type, secret) =
                    a.req_child("secret", |x| Ok((x.req_attr("type")?, crate::storage::SecretRef::read(x)?)))?;
                Ok(IscsiAuth { username: a.req_attr("username")?, secret_type, secret })
            })?,
            initiator: s.child("initiator", |i| i.req_child("iqn", |q| q.req_attr("name")))?,
        }),
        other => Err(s.attr_error(
            "protocol",
            crate::ErrorKind::InvalidValue(format!("'{}' is not one of adapter, iscsi", crate::xml::truncate(other))),
        )),
    }
}

fn write_source(w: &mut XmlWriter, source: &HostdevSource) {
    match source {
        HostdevSource::Pci { address, driver, teaming } => {
            if let Some(d) = driver {
                w.start("driver");
                w.attr("name", d.as_str());
                w.end();
            }
            w.start("source");
            w.start("address");
            address.write_attrs(w);
            w.end();
            w.end();
            if let Some(t) = teaming {
                t.write(w);
            }
        }
        HostdevSource::Usb { source, startup_policy, guest_reset } => {
            w.start("source");
            w.attr_opt("startupPolicy", startup_policy.as_ref());
            w.attr_opt("guestReset", guest_reset.as_ref());
            source.write(w, false);
            w.end();
        }
        HostdevSource::Scsi { source, .. } => {
            w.start("source");
            write_scsi_source(w, source);
            w.end();
        }
        HostdevSource::ScsiHost { wwpn, .. } => {
            w.start("source");
            w.attr("protocol", "vhost");
            w.attr("wwpn", wwpn);
            w.end();
        }
        HostdevSource::Mdev { uuid, .. } => {
            w.start("source");
            w.start("address");
            w.attr_val("uuid", uuid);
            w.end();
            w.end();
        }
        HostdevSource::Storage { block } => caps_source(w, "block", block),
        HostdevSource::Misc { char } => caps_source(w, "char", char),
        HostdevSource::Net { interface } => caps_source(w, "interface", interface),
    }
}

fn caps_source(w: &mut XmlWriter, name: &str, value: &str) {
    w.start("source");
    w.text_element(name, value);
    w.end();
}

fn write_scsi_source(w: &mut XmlWriter, source: &ScsiSource) {
    match source {
        ScsiSource::Adapter { adapter, bus, target, unit } => {
            w.start("adapter");
            w.attr("name", adapter);
            w.end();
            w.start("address");
            w.attr_val("bus", bus);
            w.attr_val("target", target);
            w.attr_val("unit", unit);
            w.end();
        }
        ScsiSource::Iscsi { name, hosts, auth, initiator } => {
            w.attr("protocol", "iscsi");
            w.attr("name", name);
            for h in hosts {
                w.start("host");
                w.attr("name", &h.name);
                w.attr_opt("port", h.port.as_ref());
                w.end();
            }
            if let Some(a) = auth {
                w.start("auth");
                w.attr("username", &a.username);
                w.start("secret");
                w.attr("type", a.secret_type.as_str());
                a.secret.write_attr(w);
                w.end();
                w.end();
            }
            if let Some(i) = initiator {
                w.start("initiator");
                w.start("iqn");
                w.attr("name", i);
                w.end();
                w.end();
            }
        }
    }
}
