//! Checks of `<audio>` and `<sound>`.

use std::collections::HashMap;

use super::super::{idx, is_word};
use super::Checks;
use crate::domain::devices::{AudioType, Devices, SoundModel};
use crate::xml::truncate;

pub(super) fn sound(k: &mut Checks<'_>, d: &Devices) {
    let n = d.audios.len();
    let mut ids: HashMap<u8, String> = HashMap::new();
    for (i, a) in d.audios.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("audio", i, n));
        if a.id == 0 {
            k.value(format!("{p}/@id"), "audio ids start at 1");
        } else if let Some(first) = ids.get(&a.id) {
            k.invalid(format!("{p}/@id"), format!("audio id {} is already used by {first}", a.id));
        } else {
            ids.insert(a.id, p.clone());
        }
        for (el, attr) in a.misplaced_fields() {
            let at = if el == "audio" { format!("{p}/@{attr}") } else { format!("{p}/{el}/@{attr}") };
            k.invalid(at, format!("{} audio has no {attr}", a.audio_type));
        }
        if let Some(path) = &a.path {
            k.one_line(format!("{p}/@path"), path);
        }
        if a.dsp_policy.is_some_and(|x| !(-1..=10).contains(&x)) {
            k.value(format!("{p}/@dspPolicy"), "a DSP policy is -1 to 10");
        }
        for (el, s) in [("input", &a.input), ("output", &a.output)] {
            let Some(s) = s else { continue };
            if let Some(dev) = &s.dev {
                let ok = match a.audio_type {
                    AudioType::Oss => is_word(dev, "_.-\\:/"),
                    _ => !dev.is_empty() && !dev.contains(['\n', '\r']),
                };
                if !ok {
                    k.value(format!("{p}/{el}/@dev"), format!("'{}' is not a device name", truncate(dev)));
                }
            }
        }
    }
    let n = d.sounds.len();
    for (i, s) in d.sounds.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("sound", i, n));
        let hda = matches!(s.model, SoundModel::Ich6 | SoundModel::Ich7 | SoundModel::Ich9);
        if !s.codecs.is_empty() && !hda {
            k.invalid(format!("{p}/codec"), "only ich6, ich7 and ich9 sound cards have codecs");
        }
        k.audio_ref(&p, s.audio);
        k.alias(&p, s.alias.as_ref());
        k.address(&p, s.address.as_ref());
    }
}
