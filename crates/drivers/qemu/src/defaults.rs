//! What the driver fills in when a definition is stored, as libvirt does:
//! the parts a guest needs that the document may leave out, written into the
//! definition so that `dumpxml` shows them.

use virtkit_model::MacAddress;
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{Audio, AudioType, Controller, ControllerType, InterfaceSource, NicModel};

/// Fills in `def`'s defaults.
pub(crate) fn fill(def: &mut Domain) {
    for nic in &mut def.devices.interfaces {
        if nic.mac.is_none() {
            nic.mac = Some(MacAddress::generate());
        }
        // vhost-user and vDPA devices are virtio network cards.
        if nic.model.is_none() && matches!(nic.source, InterfaceSource::Vhostuser { .. } | InterfaceSource::Vdpa { .. })
        {
            nic.model = Some(NicModel::virtio());
        }
    }
    default_audio(def);
    controller_indexes(def);
    // Companions that had no index had no master port filled in either.
    def.devices.fill_usb_masters();
}

/// Controllers without an index get the lowest one their type does not
/// use yet, the PCI tree's root first (it is bus 0), as libvirt numbers
/// them: virt-install writes a q35 guest's `pcie-root` and its root ports
/// with no index at all. A USB companion (one with `<master>`) shares the
/// index of the master controller before it.
fn controller_indexes(def: &mut Domain) {
    let ctrls = &mut def.devices.controllers;
    let is_root = |c: &Controller| {
        c.controller_type == ControllerType::Pci && matches!(c.model.as_deref(), Some("pci-root" | "pcie-root"))
    };
    let roots = (0..ctrls.len()).filter(|&i| is_root(&ctrls[i]));
    let order: Vec<usize> = roots.chain((0..ctrls.len()).filter(|&i| !is_root(&ctrls[i]))).collect();
    for i in order {
        if ctrls[i].index.is_some() {
            continue;
        }
        let kind = ctrls[i].controller_type;
        if kind == ControllerType::Usb && ctrls[i].master_startport.is_some() {
            let master = ctrls[..i]
                .iter()
                .rev()
                .find(|c| c.controller_type == ControllerType::Usb && c.master_startport.is_none());
            if let Some(index) = master.and_then(|m| m.index) {
                ctrls[i].index = Some(index);
                continue;
            }
        }
        if let Some(index) = usb2_group(ctrls, i) {
            ctrls[i].index = Some(index);
            continue;
        }
        let used: std::collections::BTreeSet<u32> =
            ctrls.iter().filter(|c| c.controller_type == kind).filter_map(|c| c.index).collect();
        ctrls[i].index = (0..=u32::MAX).find(|n| !used.contains(n));
    }
}

/// The index of the USB2 group (an `ich9-ehci1` and its UHCI companions)
/// that controller `i`, a USB2 controller with no index, joins, as libvirt
/// groups them: the USB controller listed just before it is one of the
/// group and the group has no controller of its model yet.
fn usb2_group(ctrls: &[Controller], i: usize) -> Option<u32> {
    let usb2 = |c: &Controller| {
        c.controller_type == ControllerType::Usb
            && matches!(c.model.as_deref(), Some("ich9-ehci1" | "ich9-uhci1" | "ich9-uhci2" | "ich9-uhci3"))
    };
    if !usb2(&ctrls[i]) {
        return None;
    }
    let prev = ctrls[..i].iter().rev().find(|c| c.controller_type == ControllerType::Usb)?;
    let index = prev.index.filter(|_| usb2(prev))?;
    let taken = ctrls.iter().any(|c| usb2(c) && c.index == Some(index) && c.model == ctrls[i].model);
    (!taken).then_some(index)
}

/// A sound card plays through an audio backend: a definition with sound
/// cards and no `<audio>` gets one (through SPICE when the guest has SPICE
/// graphics, SDL with SDL graphics, else nowhere).
fn default_audio(def: &mut Domain) {
    if def.devices.sounds.is_empty() || !def.devices.audios.is_empty() {
        return;
    }
    let t = match def.devices.graphics.first().map(|g| g.type_name()) {
        Some("spice") => AudioType::Spice,
        Some("sdl") => AudioType::Sdl,
        _ => AudioType::None,
    };
    def.devices.audios.push(Audio::new(1, t));
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtkit_model::ByteSize;
    use virtkit_model::domain::DomainType;
    use virtkit_model::domain::devices::{Graphics, Sound, SoundModel};

    #[test]
    fn controllers_without_an_index_are_numbered_as_libvirt_does() {
        let mut d = Domain::new(DomainType::Qemu, "a", ByteSize::mib(64));
        let port = |m: &str| {
            let mut c = Controller::new(ControllerType::Pci, 0).with_model(m);
            c.index = None;
            c
        };
        d.devices.controllers = vec![port("pcie-root-port"), port("pcie-root"), port("pcie-root-port")];
        d.devices.controllers.push(Controller::new(ControllerType::Pci, 2).with_model("pcie-root-port"));
        let mut usb = Controller::new(ControllerType::Usb, 0).with_model("qemu-xhci");
        usb.index = None;
        d.devices.controllers.push(usb);
        let mut ehci = Controller::new(ControllerType::Usb, 0).with_model("ich9-ehci1");
        ehci.index = None;
        d.devices.controllers.push(ehci);
        for n in 1..=3 {
            let mut c = Controller::usb_companion(0, format!("ich9-uhci{n}"), 2 * (n - 1));
            c.index = None;
            d.devices.controllers.push(c);
        }
        fill(&mut d);
        let idx: Vec<_> = d.devices.controllers.iter().map(|c| c.index.unwrap()).collect();
        assert_eq!(idx, [1, 0, 3, 2, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn usb2_controllers_without_index_or_master_join_the_group_before_them() {
        let mut d = Domain::new(DomainType::Qemu, "a", ByteSize::mib(64));
        let usb = |m: &str| {
            let mut c = Controller::new(ControllerType::Usb, 0).with_model(m);
            c.index = None;
            c
        };
        d.devices.controllers = vec![
            Controller::new(ControllerType::Usb, 0).with_model("qemu-xhci"),
            usb("ich9-ehci1"),
            usb("ich9-uhci1"),
            usb("ich9-uhci2"),
            usb("ich9-uhci1"),
        ];
        fill(&mut d);
        let got: Vec<_> = d.devices.controllers.iter().map(|c| (c.index.unwrap(), c.master_startport)).collect();
        // The second uhci1 finds its model taken in group 1: a group of its own.
        assert_eq!(got, [(0, None), (1, None), (1, Some(0)), (1, Some(2)), (2, None)]);
    }

    #[test]
    fn a_sound_card_gets_an_audio_backend() {
        let base = Domain::new(DomainType::Qemu, "a", ByteSize::mib(64));
        let mut d = base.clone();
        fill(&mut d);
        assert!(d.devices.audios.is_empty(), "no sound card, no backend");
        let mut d = base.clone().with_device(Sound::new(SoundModel::Ich9));
        fill(&mut d);
        assert_eq!(d.devices.audios, [Audio::new(1, AudioType::None)]);
        let mut d = base.clone().with_device(Sound::new(SoundModel::Ich9)).with_device(Graphics::vnc("127.0.0.1"));
        fill(&mut d);
        assert_eq!(d.devices.audios, [Audio::new(1, AudioType::None)]);
        let mut d = base.with_device(Sound::new(SoundModel::Ac97)).with_device(Audio::new(4, AudioType::Oss));
        fill(&mut d);
        assert_eq!(d.devices.audios, [Audio::new(4, AudioType::Oss)], "a backend given is kept");
    }
}
