//! `<controller>`: a bus controller (IDE, SATA, SCSI, USB, PCI, virtio-serial …).

use serde::{Deserialize, Serialize};

use super::{Address, VirtioOptions, read_address, read_alias, write_address, write_alias};
use crate::domain::{read_size, write_size};
use crate::values::ByteSize;
use crate::values::{parse_auto_u32, xml_enum};
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    pub enum ControllerType {
        Ide = "ide",
        Fdc = "fdc",
        Scsi = "scsi",
        Sata = "sata",
        Usb = "usb",
        Pci = "pci",
        VirtioSerial = "virtio-serial",
        Ccid = "ccid",
        Isa = "isa",
    }
    unsupported = ["xenbus"];
}

impl ControllerType {
    /// The `model=` values libvirt allows for this controller type.
    pub fn models(self) -> &'static [&'static str] {
        match self {
            ControllerType::Scsi => &[
                "auto",
                "buslogic",
                "lsilogic",
                "lsisas1068",
                "vmpvscsi",
                "ibmvscsi",
                "virtio-scsi",
                "lsisas1078",
                "virtio-transitional",
                "virtio-non-transitional",
                "ncr53c90",
                "dc390",
                "am53c974",
            ],
            ControllerType::Usb => &[
                "piix3-uhci",
                "piix4-uhci",
                "ehci",
                "ich9-ehci1",
                "ich9-uhci1",
                "ich9-uhci2",
                "ich9-uhci3",
                "vt82c686b-uhci",
                "pci-ohci",
                "nec-xhci",
                "none",
                "qusb1",
                "qusb2",
                "qemu-xhci",
            ],
            ControllerType::Ide => &["piix3", "piix4", "ich6"],
            ControllerType::Pci => &[
                "pci-root",
                "pcie-root",
                "pci-bridge",
                "dmi-to-pci-bridge",
                "pcie-to-pci-bridge",
                "pcie-root-port",
                "pcie-switch-upstream-port",
                "pcie-switch-downstream-port",
                "pci-expander-bus",
                "pcie-expander-bus",
            ],
            ControllerType::VirtioSerial => &["virtio", "virtio-transitional", "virtio-non-transitional"],
            ControllerType::Fdc | ControllerType::Sata | ControllerType::Ccid | ControllerType::Isa => &[],
        }
    }
}

/// `<model name=…>` values for PCI controllers: the QEMU device used.
pub const PCI_MODEL_NAMES: &[&str] = &[
    "spapr-pci-host-bridge",
    "pci-bridge",
    "i82801b11-bridge",
    "pcie-pci-bridge",
    "ioh3420",
    "pcie-root-port",
    "x3130-upstream",
    "xio3130-downstream",
    "pxb",
    "pxb-pcie",
];

/// A `<controller>`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Controller {
    #[serde(rename = "type")]
    pub controller_type: ControllerType,
    pub index: Option<u32>,
    /// One of [`ControllerType::models`].
    pub model: Option<String>,
    /// USB and virtio-serial: number of ports.
    pub ports: Option<u32>,
    /// virtio-serial: MSI-X vectors.
    pub vectors: Option<u32>,
    /// PCI: the QEMU device name (`<model name=…>`), one of [`PCI_MODEL_NAMES`].
    pub model_name: Option<String>,
    pub target: Option<ControllerTarget>,
    /// pci-root and pcie-root: the size of the 64-bit PCI hole.
    pub pcihole64: Option<ByteSize>,
    pub driver: Option<ControllerDriver>,
    pub alias: Option<String>,
    /// A USB companion controller: the first port it serves of its master
    /// (the EHCI controller with the same index).
    pub master_startport: Option<u32>,
    pub address: Option<Address>,
}

/// `<target>` of a PCI controller.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ControllerTarget {
    pub chassis_nr: Option<u32>,
    pub chassis: Option<u32>,
    pub port: Option<u32>,
    pub bus_nr: Option<u32>,
    pub index: Option<u32>,
    pub hotplug: Option<bool>,
    /// pci-expander-bus and pcie-expander-bus: the guest NUMA node.
    pub node: Option<u32>,
}

/// `<driver>` of a controller: queue tuning.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ControllerDriver {
    pub queues: Option<u32>,
    pub cmd_per_lun: Option<u32>,
    pub max_sectors: Option<u32>,
    pub ioeventfd: Option<bool>,
    pub iothread: Option<u32>,
    #[serde(default, skip_serializing_if = "VirtioOptions::is_empty")]
    pub virtio: VirtioOptions,
}

impl Controller {
    pub fn new(controller_type: ControllerType, index: u32) -> Self {
        Controller {
            controller_type,
            index: Some(index),
            model: None,
            ports: None,
            vectors: None,
            model_name: None,
            target: None,
            pcihole64: None,
            driver: None,
            alias: None,
            master_startport: None,
            address: None,
        }
    }

    /// A USB companion of master controller `index`, from port `startport`.
    pub fn usb_companion(index: u32, model: impl Into<String>, startport: u32) -> Self {
        let mut c = Controller::new(ControllerType::Usb, index).with_model(model);
        c.master_startport = Some(startport);
        c
    }

    /// The first port of its master an ICH9 UHCI companion serves when the
    /// definition does not say (`ich9-uhci1` 0, `ich9-uhci2` 2,
    /// `ich9-uhci3` 4, as libvirt fills in); `None` for other models.
    pub fn implied_startport(&self) -> Option<u32> {
        match self.model.as_deref()? {
            "ich9-uhci1" => Some(0),
            "ich9-uhci2" => Some(2),
            "ich9-uhci3" => Some(4),
            _ => None,
        }
    }

    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Controller> {
        Ok(Controller {
            controller_type: el.req_attr("type")?,
            index: el.attr("index")?,
            model: el.attr("model")?,
            ports: el.attr("ports")?,
            vectors: el.attr("vectors")?,
            model_name: el.child("model", |m| m.req_attr("name"))?,
            target: el.child("target", |t| {
                Ok(ControllerTarget {
                    chassis_nr: t.attr_with("chassisNr", parse_auto_u32)?,
                    chassis: t.attr_with("chassis", parse_auto_u32)?,
                    port: t.attr_with("port", parse_auto_u32)?,
                    bus_nr: t.attr_with("busNr", parse_auto_u32)?,
                    index: t.attr_with("index", parse_auto_u32)?,
                    hotplug: t.on_off("hotplug")?,
                    node: t.child_value("node")?,
                })
            })?,
            pcihole64: el.child("pcihole64", |e| read_size(e, "KiB"))?,
            driver: el.child("driver", |d| {
                Ok(ControllerDriver {
                    queues: d.attr("queues")?,
                    cmd_per_lun: d.attr("cmd_per_lun")?,
                    max_sectors: d.attr("max_sectors")?,
                    ioeventfd: d.on_off("ioeventfd")?,
                    iothread: d.attr("iothread")?,
                    virtio: VirtioOptions::read(d)?,
                })
            })?,
            alias: read_alias(el)?,
            master_startport: el.child("master", |m| m.req_attr("startport"))?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("controller");
        w.attr("type", self.controller_type.as_str());
        w.attr_opt("index", self.index.as_ref());
        w.attr_opt("model", self.model.as_ref());
        w.attr_opt("ports", self.ports.as_ref());
        w.attr_opt("vectors", self.vectors.as_ref());
        if let Some(n) = &self.model_name {
            w.start("model");
            w.attr("name", n);
            w.end();
        }
        if let Some(t) = &self.target {
            w.start("target");
            w.attr_opt("chassisNr", t.chassis_nr.as_ref());
            w.attr_opt("chassis", t.chassis.as_ref());
            if let Some(p) = t.port {
                w.attr("port", &format!("0x{p:x}"));
            }
            w.attr_opt("busNr", t.bus_nr.as_ref());
            w.attr_opt("index", t.index.as_ref());
            w.on_off("hotplug", t.hotplug);
            w.opt_text_element("node", t.node.as_ref());
            w.end();
        }
        if let Some(h) = self.pcihole64 {
            w.start("pcihole64");
            write_size(w, h);
            w.end();
        }
        if let Some(d) = &self.driver {
            w.start("driver");
            w.attr_opt("queues", d.queues.as_ref());
            w.attr_opt("cmd_per_lun", d.cmd_per_lun.as_ref());
            w.attr_opt("max_sectors", d.max_sectors.as_ref());
            w.on_off("ioeventfd", d.ioeventfd);
            w.attr_opt("iothread", d.iothread.as_ref());
            d.virtio.write(w);
            w.end();
        }
        write_alias(w, self.alias.as_ref());
        if let Some(p) = self.master_startport {
            w.start("master");
            w.attr_val("startport", &p);
            w.end();
        }
        write_address(w, self.address.as_ref());
        w.end();
    }
}
