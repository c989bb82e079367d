//! Network interfaces: a `-netdev` for the host side and a NIC.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{InterfaceSource, NicModel};

use super::{ArgvError, Builder, json_arg, unsupported};

pub(super) fn nic_driver(model: Option<NicModel>) -> &'static str {
    match model {
        Some(NicModel::Virtio) => "virtio-net-pci",
        Some(NicModel::VirtioNonTransitional) => "virtio-net-pci-non-transitional",
        Some(NicModel::VirtioTransitional) => "virtio-net-pci-transitional",
        Some(NicModel::E1000) => "e1000",
        Some(NicModel::E1000e) => "e1000e",
        Some(NicModel::Igb) => "igb",
        Some(NicModel::Ne2kPci) => "ne2k_pci",
        Some(NicModel::Ne2kIsa) => "ne2k_isa",
        Some(NicModel::Pcnet) => "pcnet",
        Some(NicModel::I82551) => "i82551",
        Some(NicModel::I82557b) => "i82557b",
        Some(NicModel::I82559er) => "i82559er",
        Some(NicModel::Vmxnet3) => "vmxnet3",
        Some(NicModel::UsbNet) => "usb-net",
        Some(NicModel::SpaprVlan) => "spapr-vlan",
        Some(NicModel::Lan9118) => "lan9118",
        Some(NicModel::Smc91c111) => "smc91c111",
        // libvirt's default model for x86 guests.
        Some(NicModel::Rtl8139) | None | Some(_) => "rtl8139",
    }
}

pub(super) fn net_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let nics = &b.def.devices.interfaces;
    let n = nics.len();
    for (i, nic) in nics.iter().enumerate() {
        let path =
            if n > 1 { format!("/domain/devices/interface[{}]", i + 1) } else { "/domain/devices/interface".into() };
        let id = format!("hostnet{i}");
        let netdev = match &nic.source {
            InterfaceSource::User => json!({ "type": "user", "id": id }),
            InterfaceSource::Ethernet => {
                let tap = nic.target.as_ref().map(|t| t.dev.clone()).ok_or_else(|| {
                    unsupported(&path, "an ethernet interface needs <target dev='TAP'/> naming an existing tap")
                })?;
                match &nic.script {
                    Some(s) => json!({ "type": "tap", "id": id, "ifname": tap, "script": s, "downscript": "no" }),
                    None => json!({ "type": "tap", "id": id, "ifname": tap, "script": "no", "downscript": "no" }),
                }
            }
            InterfaceSource::Network { .. } | InterfaceSource::Bridge { .. } => {
                return Err(unsupported(
                    format!("{path}/@type"),
                    "interfaces on virtual networks and bridges come with host networking; use type 'user' or 'ethernet'",
                ));
            }
            _ => return Err(unsupported(format!("{path}/@type"), "this interface type is not supported")),
        };
        b.opt("-netdev", json_arg(netdev));
        let driver = nic_driver(nic.model);
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("netdev".into(), json!(id));
        props.insert("id".into(), json!(format!("net{i}")));
        if let Some(m) = &nic.mac {
            props.insert("mac".into(), json!(m.to_string()));
        }
        if let Some(mtu) = nic.mtu.filter(|_| driver.starts_with("virtio")) {
            props.insert("host_mtu".into(), json!(mtu));
        }
        if let Some(boot) = &nic.boot {
            props.insert("bootindex".into(), json!(boot.order));
        }
        if driver == "usb-net" {
            b.usb_addr(&mut props, nic.address.as_ref(), &path)?;
        } else {
            b.pci_addr(&mut props, nic.address.as_ref(), &path)?;
        }
        b.device(Value::Object(props));
    }
    Ok(())
}
