//! What this host has for a definition's devices: checked at start, before
//! QEMU runs, so a guest this host cannot run is refused with the reason
//! (and nothing is left running), rather than started without the device.

use std::path::Path;

use virtkit_engine::{Error, ErrorKind, Result};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::AudioType;

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

/// Every device's host side that must exist before QEMU starts.
pub(crate) fn check(def: &Domain) -> Result<()> {
    check_audio(def, Path::new("/dev"))
}

/// Audio backends that play on the host's own sound hardware need it.
fn check_audio(def: &Domain, dev: &Path) -> Result<()> {
    for a in &def.devices.audios {
        match a.audio_type {
            AudioType::Alsa if !dev.join("snd").exists() => {
                return Err(refuse(format!(
                    "audio {}: alsa plays on the host's sound card, and this host has none ({} is missing)",
                    a.id,
                    dev.join("snd").display()
                )));
            }
            AudioType::Oss => {
                for s in [&a.input, &a.output].into_iter().flatten() {
                    let d = s.dev.clone().unwrap_or_else(|| dev.join("dsp").display().to_string());
                    if !Path::new(&d).exists() {
                        return Err(refuse(format!("audio {}: oss device {d} does not exist on this host", a.id)));
                    }
                }
                if a.input.is_none() && a.output.is_none() && !dev.join("dsp").exists() {
                    return Err(refuse(format!(
                        "audio {}: oss device {} does not exist on this host",
                        a.id,
                        dev.join("dsp").display()
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtkit_model::ByteSize;
    use virtkit_model::domain::DomainType;
    use virtkit_model::domain::devices::Audio;

    fn with_audio(t: AudioType) -> Domain {
        Domain::new(DomainType::Qemu, "a", ByteSize::mib(64)).with_device(Audio::new(1, t))
    }

    #[test]
    fn host_sound_hardware_is_needed_for_alsa_and_oss() {
        let none = tempfile::tempdir().unwrap();
        let e = check_audio(&with_audio(AudioType::Alsa), none.path()).unwrap_err();
        assert!(e.to_string().contains("audio 1: alsa plays on the host's sound card"), "{e}");
        let e = check_audio(&with_audio(AudioType::Oss), none.path()).unwrap_err();
        assert!(e.to_string().contains("oss device"), "{e}");
        std::fs::create_dir(none.path().join("snd")).unwrap();
        std::fs::write(none.path().join("dsp"), b"").unwrap();
        check_audio(&with_audio(AudioType::Alsa), none.path()).unwrap();
        check_audio(&with_audio(AudioType::Oss), none.path()).unwrap();
        check_audio(&with_audio(AudioType::None), none.path()).unwrap();
    }
}
