//! The `<hostdev>` generator: every kind, keeping to validate's rules (a
//! whole host PCI address, USB ids and addresses in pairs, a WWPN, a
//! display on vfio-pci mediated devices only and ramfb with it, an option
//! ROM on PCI devices only, `managed` on subsystem devices only); each host
//! device is given once (the caller drops repeats).

use proptest::collection::vec;
use proptest::prelude::*;
use virtkit_model::domain::devices::{
    GuestReset, Hostdev, HostdevSource, IscsiHost, MdevModel, PciAddress, PciDriverName, ScsiSource, Sgio,
    StartupPolicy, UsbSource, VirtioModel,
};

use super::device_name;
use super::interface::rom;
use crate::{abs_path, alias_address, device_boot, one_of, opt, opt_bool, opt_of, re};

fn source() -> BoxedStrategy<HostdevSource> {
    let pci = (0u32..=0xffff, any::<u8>(), 0u32..32, 0u32..8, opt_of(PciDriverName::ALL)).prop_map(
        |(domain, bus, slot, function, driver)| HostdevSource::Pci {
            address: PciAddress::new(domain, u32::from(bus), slot, function),
            driver,
            teaming: None,
        },
    );
    let usb = (opt((any::<u16>(), any::<u16>())), opt((0u32..=999, 0u32..=999)), any::<bool>()).prop_map(
        |(ids, at, both)| {
            let mut u = match (ids, at) {
                (Some((v, p)), _) => UsbSource::product(v, p),
                (None, Some((b, d))) => UsbSource::at(b, d),
                (None, None) => UsbSource::at(1, 2),
            };
            if both && let Some((b, d)) = at {
                (u.bus, u.device) = (Some(b), Some(d));
            }
            u
        },
    );
    let usb = (usb, opt_of(StartupPolicy::ALL), opt_of(GuestReset::ALL))
        .prop_map(|(source, startup_policy, guest_reset)| HostdevSource::Usb { source, startup_policy, guest_reset });
    let adapter = (0u32..=99, 0u32..=99, 0u32..=99, 0u64..=999).prop_map(|(host, bus, target, unit)| {
        ScsiSource::Adapter { adapter: format!("scsi_host{host}"), bus, target, unit }
    });
    let iscsi = (
        re("iqn\\.2024-01\\.com\\.example:[a-z]{1,6}/[0-9]"),
        vec((re("[a-z]{1,8}\\.example"), opt(1u16..=u16::MAX)), 1..=2),
        opt(re("iqn\\.2024-01\\.com\\.example:[a-z]{1,6}")),
    )
        .prop_map(|(name, hosts, initiator)| ScsiSource::Iscsi {
            name,
            hosts: hosts.into_iter().map(|(name, port)| IscsiHost::new(name, port)).collect(),
            auth: None,
            initiator,
        });
    let scsi = (prop_oneof![adapter, iscsi], opt_of(Sgio::ALL), opt_bool())
        .prop_map(|(source, sgio, rawio)| HostdevSource::Scsi { source, sgio, rawio });
    let scsi_host = (any::<u64>(), opt_of(VirtioModel::ALL))
        .prop_map(|(n, model)| HostdevSource::ScsiHost { wwpn: format!("naa.{n:016x}"), model });
    let mdev = (any::<u128>(), one_of(MdevModel::ALL), opt_bool(), any::<bool>()).prop_map(|(u, model, d, fb)| {
        // A display is a vfio-pci device's; ramfb shows it.
        let display = d.filter(|_| model == MdevModel::VfioPci);
        let ramfb = (fb && display == Some(true)).then_some(true);
        HostdevSource::Mdev { uuid: uuid::Uuid::from_u128(u), model, display, ramfb }
    });
    prop_oneof![
        3 => pci,
        2 => usb,
        1 => scsi,
        1 => scsi_host,
        1 => mdev,
        1 => abs_path().prop_map(|block| HostdevSource::Storage { block }),
        1 => abs_path().prop_map(|char| HostdevSource::Misc { char }),
        1 => device_name().prop_map(|interface| HostdevSource::Net { interface }),
    ]
    .boxed()
}

pub(crate) fn hostdev() -> BoxedStrategy<Hostdev> {
    (source(), opt_bool(), (any::<bool>(), any::<bool>()), opt(device_boot()), opt(rom()), alias_address())
        .prop_map(|(source, managed, (readonly, shareable), boot, rom, (alias, address))| {
            let scsi = matches!(source, HostdevSource::Scsi { .. });
            let pci = matches!(source, HostdevSource::Pci { .. });
            let caps = source.is_capabilities();
            let mut h = Hostdev::new(source);
            h.managed = managed.filter(|_| !caps);
            (h.readonly, h.shareable) = (readonly && scsi, shareable && scsi);
            h.boot = boot.filter(|_| !caps);
            h.rom = rom.filter(|_| pci);
            (h.alias, h.address) = (alias, address);
            h
        })
        .boxed()
}

/// The host device a hostdev gives, for dropping repeats.
pub(crate) fn key(h: &Hostdev) -> Option<String> {
    match &h.source {
        HostdevSource::Pci { address: a, .. } => {
            Some(format!("pci {:?} {:?} {:?} {:?}", a.domain, a.bus, a.slot, a.function))
        }
        HostdevSource::Usb { source: u, .. } => u.bus.zip(u.device).map(|(b, d)| format!("usb {b} {d}")),
        HostdevSource::Scsi { source: ScsiSource::Adapter { adapter, bus, target, unit }, .. } => {
            Some(format!("scsi {adapter} {bus} {target} {unit}"))
        }
        HostdevSource::Scsi { source: ScsiSource::Iscsi { name, .. }, .. } => Some(format!("iscsi {name}")),
        HostdevSource::ScsiHost { wwpn, .. } => Some(format!("wwpn {wwpn}")),
        HostdevSource::Mdev { uuid, .. } => Some(format!("mdev {uuid}")),
        _ => None,
    }
}
