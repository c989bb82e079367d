//! Audio backends (`-audiodev`) and the sound cards that play through them.

use serde_json::{Map, Value, json};
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{Address, Audio, AudioFormat, AudioStream, AudioType, CodecType, SoundModel};

use super::{ArgvError, Builder, idx_path, json_arg, unsupported};

/// QEMU's name for an audio backend type.
fn driver(t: AudioType) -> &'static str {
    match t {
        AudioType::Pulseaudio => "pa",
        AudioType::File => "wav",
        t => t.as_str(),
    }
}

/// The QEMU id of audio backend `id`.
fn audiodev_id(id: u8) -> String {
    format!("audio{id}")
}

/// One direction's settings, as QEMU's per-direction options.
fn stream(s: &AudioStream) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("mixing-engine", s.mixing_engine.map(Value::from));
    put("fixed-settings", s.fixed_settings.map(Value::from));
    put("voices", s.voices.map(Value::from));
    put("buffer-length", s.buffer_length.map(Value::from));
    if let Some(st) = &s.settings {
        put("frequency", st.frequency.map(Value::from));
        put("channels", st.channels.map(Value::from));
        put("format", st.format.map(|f| Value::from(f.as_str())));
    }
    put("dev", s.dev.clone().map(Value::from));
    put("buffer-count", s.buffer_count.map(Value::from));
    put("try-poll", s.try_poll.map(Value::from));
    put("server-name", s.server_name.clone().map(Value::from));
    put("client-name", s.client_name.clone().map(Value::from));
    put("connect-ports", s.connect_ports.clone().map(Value::from));
    put("exact-name", s.exact_name.map(Value::from));
    put("name", s.name.clone().map(Value::from));
    put("stream-name", s.stream_name.clone().map(Value::from));
    put("latency", s.latency.map(Value::from));
    Value::Object(m)
}

fn audiodev(a: &Audio) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(audiodev_id(a.id)));
    m.insert("driver".into(), json!(driver(a.audio_type)));
    if let Some(t) = a.timer_period {
        m.insert("timer-period".into(), json!(t));
    }
    for (k, v) in [
        ("try-mmap", a.try_mmap.map(Value::from)),
        ("exclusive", a.exclusive.map(Value::from)),
        ("dsp-policy", a.dsp_policy.map(Value::from)),
        ("server", a.server_name.clone().map(Value::from)),
        ("path", a.path.clone().map(Value::from)),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    if let Some(s) = &a.input {
        m.insert("in".into(), stream(s));
    }
    if let Some(s) = &a.output {
        m.insert("out".into(), stream(s));
    }
    Value::Object(m)
}

/// `-audiodev` for every backend this QEMU has.
pub(super) fn audio_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let audios = &b.def.devices.audios;
    for (i, a) in audios.iter().enumerate() {
        let path = idx_path("audio", i, audios.len());
        let drv = driver(a.audio_type);
        if !b.ctx.audio_drivers.is_empty() && !b.ctx.audio_drivers.contains(drv) {
            let mut known: Vec<&str> = b.ctx.audio_drivers.iter().map(String::as_str).collect();
            known.sort_unstable();
            return Err(unsupported(
                format!("{path}/@type"),
                format!("this QEMU has no '{drv}' audio driver (it has {})", known.join(", ")),
            ));
        }
        for display in ["spice", "dbus"] {
            if a.audio_type.as_str() == display && !b.def.devices.graphics.iter().any(|g| g.type_name() == display) {
                return Err(unsupported(
                    format!("{path}/@type"),
                    format!("{display} audio needs <graphics type='{display}'>"),
                ));
            }
        }
        if let Some(p) = a.path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(unsupported(
                format!("{path}/@path"),
                format!("'{p}' is relative: QEMU runs in a directory that goes with the guest; give an absolute path"),
            ));
        }
        if a.audio_type == AudioType::File && a.output.as_ref().and_then(|o| o.voices).is_some_and(|v| v > 1) {
            return Err(unsupported(format!("{path}/output/@voices"), "QEMU's file audio plays one voice"));
        }
        let f32_out = a.output.as_ref().and_then(|o| o.settings.as_ref()).and_then(|s| s.format);
        if a.audio_type == AudioType::File && f32_out == Some(AudioFormat::F32) {
            return Err(unsupported(
                format!("{path}/output/settings/@format"),
                "QEMU's file audio cannot write f32 samples",
            ));
        }
        b.opt("-audiodev", json_arg(audiodev(a)));
    }
    Ok(())
}

/// The environment a backend needs (SDL reads its audio driver from it).
pub(super) fn audio_env(def: &Domain) -> Vec<(String, String)> {
    def.devices
        .audios
        .iter()
        .filter_map(|a| a.driver.map(|d| ("SDL_AUDIODRIVER".to_owned(), d.as_str().to_owned())))
        .take(1)
        .collect()
}

/// The backend a sound card plays through: its own or the first.
fn sound_audiodev(def: &Domain, own: Option<u8>, path: &str) -> Result<String, ArgvError> {
    match own.or_else(|| def.devices.audios.first().map(|a| a.id)) {
        Some(id) => Ok(audiodev_id(id)),
        None => Err(unsupported(path, "a sound card needs an <audio> backend to play through")),
    }
}

/// Machine properties sound needs: the PC speaker's backend.
pub(super) fn machine_props(def: &Domain) -> Result<Vec<String>, ArgvError> {
    let sounds = &def.devices.sounds;
    let mut out = Vec::new();
    for (i, s) in sounds.iter().enumerate().filter(|(_, s)| s.model == SoundModel::Pcspk) {
        let path = idx_path("sound", i, sounds.len());
        if !out.is_empty() {
            return Err(unsupported(path, "a machine has one PC speaker"));
        }
        if s.address.is_some() {
            return Err(unsupported(format!("{path}/address"), "the PC speaker has no address"));
        }
        out.push(format!("pcspk-audiodev={}", sound_audiodev(def, s.audio, &path)?));
    }
    Ok(out)
}

/// A `-device` (and codecs) for every sound card but the PC speaker.
pub(super) fn sound_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let sounds = &b.def.devices.sounds;
    for (i, s) in sounds.iter().enumerate() {
        let path = idx_path("sound", i, sounds.len());
        let drv = match s.model {
            SoundModel::Pcspk => continue,
            SoundModel::Sb16 => "sb16",
            SoundModel::Es1370 => "ES1370",
            SoundModel::Ac97 => "AC97",
            SoundModel::Ich6 => "intel-hda",
            SoundModel::Ich9 => "ich9-intel-hda",
            SoundModel::Usb => "usb-audio",
            m => {
                return Err(unsupported(
                    format!("{path}/@model"),
                    format!("sound model '{m}' has no QEMU device (ich6 and ich9 are QEMU's HD audio)"),
                ));
            }
        };
        if !b.ctx.has(drv) {
            return Err(unsupported(format!("{path}/@model"), format!("this QEMU has no {drv} device")));
        }
        let audiodev = sound_audiodev(b.def, s.audio, &path)?;
        let id = format!("sound{i}");
        let hda = matches!(s.model, SoundModel::Ich6 | SoundModel::Ich9);
        let mut props = Map::new();
        props.insert("driver".into(), json!(drv));
        props.insert("id".into(), json!(id));
        if !hda {
            props.insert("audiodev".into(), json!(audiodev));
        }
        match (s.model, &s.address) {
            (SoundModel::Usb, a) => b.usb_addr(&mut props, a.as_ref(), &path)?,
            (SoundModel::Sb16, None) => {}
            (SoundModel::Sb16, Some(Address::Isa(a))) => {
                if let Some(io) = a.iobase {
                    props.insert("iobase".into(), json!(io));
                }
                if let Some(irq) = a.irq {
                    props.insert("irq".into(), json!(irq));
                }
            }
            (SoundModel::Sb16, Some(_)) => {
                return Err(unsupported(format!("{path}/address"), "this sound card takes an ISA address"));
            }
            _ => b.pci_addr(&mut props, s.address.as_ref(), &path)?,
        }
        b.device(Value::Object(props));
        if hda {
            let codecs = if s.codecs.is_empty() { &[CodecType::Duplex][..] } else { &s.codecs[..] };
            for (cad, c) in codecs.iter().enumerate() {
                let codec = match c {
                    CodecType::Micro => "hda-micro",
                    CodecType::Output => "hda-output",
                    _ => "hda-duplex",
                };
                b.device(json!({
                    "driver": codec,
                    "id": format!("{id}-codec{cad}"),
                    "bus": format!("{id}.0"),
                    "cad": cad,
                    "audiodev": audiodev,
                }));
            }
        }
    }
    Ok(())
}
