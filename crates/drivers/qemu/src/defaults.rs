//! What the driver fills in when a definition is stored, as libvirt does:
//! the parts a guest needs that the document may leave out, written into the
//! definition so that `dumpxml` shows them.

use virtkit_model::MacAddress;
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{Audio, AudioType};

/// Fills in `def`'s defaults.
pub(crate) fn fill(def: &mut Domain) {
    for nic in &mut def.devices.interfaces {
        if nic.mac.is_none() {
            nic.mac = Some(MacAddress::generate());
        }
    }
    default_audio(def);
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
