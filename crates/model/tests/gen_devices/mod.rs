//! Generators for the devices added with libvirt 9.0's vocabulary (audio,
//! sound, ...), used by `roundtrip.rs`'s domain generator. Each keeps to the
//! rules `validate` checks and says which.

use proptest::collection::vec;
use proptest::prelude::*;
use virtkit_model::domain::devices::{
    Audio, AudioFormat, AudioSettings, AudioStream, AudioType, CodecType, Devices, SdlAudioDriver, Sound, SoundModel,
};

use super::{alias_address, one_line, one_of, opt, opt_bool, opt_of, re};

/// A name libvirt's `deviceName` allows.
fn device_name() -> BoxedStrategy<String> {
    re("[a-zA-Z0-9_.:/-]{1,12}")
}

fn audio_stream(t: AudioType) -> BoxedStrategy<AudioStream> {
    let settings = (opt(any::<u32>()), opt(any::<u32>()), opt_of(AudioFormat::ALL)).prop_map(|(f, c, fmt)| {
        let mut s = AudioSettings::default();
        s.frequency = f;
        s.channels = c;
        s.format = fmt;
        s
    });
    let strings = (opt(one_line(1..=8)), opt(one_line(1..=8)), opt(one_line(1..=8)));
    (
        (opt_bool(), opt_bool(), opt(any::<u32>()), opt(any::<u32>()), opt(settings)),
        (opt(device_name()), opt(any::<u32>()), opt_bool(), strings.clone(), opt_bool()),
        (strings, opt(any::<u32>())),
    )
        .prop_map(move |(common, a, b)| {
            let mut s = AudioStream::default();
            (s.mixing_engine, s.fixed_settings, s.voices, s.buffer_length, s.settings) = common;
            // Only the attributes of the backend type (validate: "T audio has no X").
            let (dev, count, poll, (server, client, ports), exact) = a;
            let ((name, stream, _), latency) = b;
            match t {
                AudioType::Alsa => s.dev = dev,
                AudioType::Coreaudio | AudioType::Sdl => s.buffer_count = count,
                AudioType::Jack => {
                    (s.server_name, s.client_name, s.connect_ports, s.exact_name) = (server, client, ports, exact);
                }
                AudioType::Oss => (s.dev, s.buffer_count, s.try_poll) = (dev, count, poll),
                AudioType::Pulseaudio => (s.name, s.stream_name, s.latency) = (name, stream, latency),
                _ => {}
            }
            s
        })
        .boxed()
}

/// An audio backend with what its type allows; ids are made unique later.
pub(super) fn audio() -> BoxedStrategy<Audio> {
    one_of(AudioType::ALL)
        .prop_flat_map(|t| {
            (
                Just(t),
                1u8..=u8::MAX,
                opt(any::<u32>()),
                (opt_bool(), opt_bool(), opt(-1i32..=10), opt(one_line(1..=8))),
                (opt_of(SdlAudioDriver::ALL), opt(one_line(1..=12))),
                (opt(audio_stream(t)), opt(audio_stream(t))),
            )
        })
        .prop_map(|(t, id, timer, (mmap, excl, dsp, server), (driver, path), (input, output))| {
            let mut a = Audio::new(id, t);
            a.timer_period = timer;
            match t {
                AudioType::Oss => (a.try_mmap, a.exclusive, a.dsp_policy) = (mmap, excl, dsp),
                AudioType::Pulseaudio => a.server_name = server,
                AudioType::Sdl => a.driver = driver,
                AudioType::File => a.path = path,
                _ => {}
            }
            a.input = input;
            a.output = output;
            a
        })
        .boxed()
}

/// A sound card; codecs only on HD audio (validate: "only ich6, ich7 and
/// ich9 sound cards have codecs"); its audio id is tied to a backend later.
pub(super) fn sound() -> BoxedStrategy<Sound> {
    (one_of(SoundModel::ALL), vec(one_of(CodecType::ALL), 0..=3), opt(1u8..=u8::MAX), alias_address())
        .prop_map(|(model, codecs, audio, (alias, address))| {
            let mut s = Sound::new(model);
            if matches!(model, SoundModel::Ich6 | SoundModel::Ich7 | SoundModel::Ich9) {
                s.codecs = codecs;
            }
            s.audio = audio;
            s.alias = alias;
            s.address = address;
            s
        })
        .boxed()
}

/// The new device kinds, added to `d`.
pub(super) fn more_devices() -> BoxedStrategy<(Vec<Audio>, Vec<Sound>)> {
    (vec(audio(), 0..=3), vec(sound(), 0..=2)).boxed()
}

/// Unique audio ids, and each sound card's backend one that exists
/// (validate: "audio id N is already used", "there is no audio backend").
pub(super) fn make_consistent(d: &mut Devices) {
    let mut ids = std::collections::HashSet::new();
    for a in &mut d.audios {
        while !ids.insert(a.id) {
            a.id = a.id.checked_add(1).unwrap_or(1);
        }
    }
    let first = d.audios.first().map(|a| a.id);
    for s in &mut d.sounds {
        if s.audio.is_some_and(|id| !ids.contains(&id)) {
            s.audio = first;
        }
    }
}

/// Aliases of the new kinds, for making every alias unique.
pub(super) fn aliases(d: &mut Devices) -> impl Iterator<Item = &mut Option<String>> {
    d.sounds.iter_mut().map(|s| &mut s.alias)
}
