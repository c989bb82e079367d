//! `<features>` (machine features), `<pm>` (guest power management) and
//! the `on_*` lifecycle policies.

use serde::{Deserialize, Serialize};

use super::{read_size, write_size};
use crate::values::{ByteSize, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// What happens when the guest powers off or reboots.
    pub enum LifecycleAction {
        Destroy = "destroy",
        Restart = "restart",
        Preserve = "preserve",
        RenameRestart = "rename-restart",
    }
}

xml_enum! {
    /// What happens when the guest crashes.
    pub enum CrashAction {
        Destroy = "destroy",
        Restart = "restart",
        Preserve = "preserve",
        RenameRestart = "rename-restart",
        CoredumpDestroy = "coredump-destroy",
        CoredumpRestart = "coredump-restart",
    }
}

/// The `<features>` element.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Features {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acpi: bool,
    pub apic: Option<Apic>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pae: bool,
    /// VMware I/O port emulation (`<vmport state=…>`).
    pub vmport: Option<bool>,
    /// System management mode.
    pub smm: Option<Smm>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Apic {
    /// End-of-interrupt paravirtualisation.
    pub eoi: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Smm {
    pub state: bool,
    /// Extended TSEG size.
    pub tseg: Option<ByteSize>,
}

impl Smm {
    pub fn new(state: bool) -> Self {
        Smm { state, tseg: None }
    }
}

impl Features {
    /// ACPI and APIC: what most x86 guests want.
    pub fn acpi_apic() -> Self {
        Features { acpi: true, apic: Some(Apic::default()), ..Default::default() }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Features> {
        let state = |e: &El<'_, '_>| e.on_off("state")?.ok_or_else(|| e.missing_attr("state"));
        Ok(Features {
            pae: el.flag("pae")?,
            acpi: el.flag("acpi")?,
            apic: el.child("apic", |a| Ok(Apic { eoi: a.on_off("eoi")? }))?,
            vmport: el.child("vmport", state)?,
            smm: el.child("smm", |s| Ok(Smm { state: state(s)?, tseg: s.child("tseg", |t| read_size(t, "MiB"))? }))?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("features");
        w.flag("pae", self.pae);
        w.flag("acpi", self.acpi);
        if let Some(a) = &self.apic {
            w.start("apic");
            w.on_off("eoi", a.eoi);
            w.end();
        }
        if let Some(v) = self.vmport {
            w.start("vmport");
            w.on_off("state", Some(v));
            w.end();
        }
        if let Some(s) = &self.smm {
            w.start("smm");
            w.on_off("state", Some(s.state));
            if let Some(t) = s.tseg {
                // libvirt writes the TSEG size in MiB.
                w.start("tseg");
                if t.as_bytes().is_multiple_of(1 << 20) {
                    w.attr("unit", "MiB");
                    w.text(&(t.as_bytes() >> 20).to_string());
                } else {
                    write_size(w, t);
                }
                w.end();
            }
            w.end();
        }
        w.end();
    }
}

/// The `<pm>` element: which sleep states the guest may enter.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Pm {
    /// `None`: the hypervisor's default.
    pub suspend_to_mem: Option<bool>,
    pub suspend_to_disk: Option<bool>,
}

impl Pm {
    pub fn new(suspend_to_mem: Option<bool>, suspend_to_disk: Option<bool>) -> Self {
        Pm { suspend_to_mem, suspend_to_disk }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Pm> {
        // `<suspend-to-mem/>` without `enabled` is allowed and means the default.
        let read = |name| el.child(name, |s| s.yes_no("enabled"));
        Ok(Pm {
            suspend_to_mem: read("suspend-to-mem")?.flatten(),
            suspend_to_disk: read("suspend-to-disk")?.flatten(),
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("pm");
        for (name, v) in [("suspend-to-mem", self.suspend_to_mem), ("suspend-to-disk", self.suspend_to_disk)] {
            if let Some(v) = v {
                w.start(name);
                w.yes_no("enabled", Some(v));
                w.end();
            }
        }
        w.end();
    }
}
