//! Sound: `<audio>` (a host audio backend) and `<sound>` (a sound card the
//! guest sees, which plays through one of the backends).

use serde::{Deserialize, Serialize};

use super::{Address, read_address, read_alias, write_address, write_alias};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    /// Where an audio backend's sound goes on the host.
    pub enum AudioType {
        None = "none",
        Alsa = "alsa",
        Coreaudio = "coreaudio",
        Jack = "jack",
        Oss = "oss",
        Pulseaudio = "pulseaudio",
        Sdl = "sdl",
        Spice = "spice",
        File = "file",
        Dbus = "dbus",
    }
}

xml_enum! {
    /// A sample format.
    pub enum AudioFormat {
        S8 = "s8",
        U8 = "u8",
        S16 = "s16",
        U16 = "u16",
        S32 = "s32",
        U32 = "u32",
        F32 = "f32",
    }
}

xml_enum! {
    /// The audio driver an `sdl` backend asks SDL for.
    pub enum SdlAudioDriver {
        Esd = "esd",
        Alsa = "alsa",
        Arts = "arts",
        Pulseaudio = "pulseaudio",
    }
}

/// An `<audio>` backend. The attributes beside `id`, `type` and
/// `timerPeriod` belong to one backend type each (see [`Audio::check_fields`]).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Audio {
    /// 1 and up; sound cards and displays name their backend by it.
    pub id: u8,
    #[serde(rename = "type")]
    pub audio_type: AudioType,
    /// Microseconds between audio timer ticks.
    pub timer_period: Option<u32>,
    /// oss: map the device's buffer into memory.
    pub try_mmap: Option<bool>,
    /// oss: open the device exclusively.
    pub exclusive: Option<bool>,
    /// oss: the DSP policy (-1 to 10).
    pub dsp_policy: Option<i32>,
    /// pulseaudio: the server to connect to.
    pub server_name: Option<String>,
    /// sdl: the SDL audio driver.
    pub driver: Option<SdlAudioDriver>,
    /// file: the WAV file the output goes to.
    pub path: Option<String>,
    pub input: Option<AudioStream>,
    pub output: Option<AudioStream>,
}

/// `<input>` or `<output>` of an audio backend.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AudioStream {
    pub mixing_engine: Option<bool>,
    pub fixed_settings: Option<bool>,
    pub voices: Option<u32>,
    /// Microseconds of buffer.
    pub buffer_length: Option<u32>,
    /// alsa and oss: the host device.
    pub dev: Option<String>,
    /// coreaudio, oss and sdl: the number of buffers.
    pub buffer_count: Option<u32>,
    /// oss: poll the device.
    pub try_poll: Option<bool>,
    /// jack: the server, this client's name and the ports to connect to.
    pub server_name: Option<String>,
    pub client_name: Option<String>,
    pub connect_ports: Option<String>,
    /// jack: take the client name as it is.
    pub exact_name: Option<bool>,
    /// pulseaudio: the sink or source, the stream's name and the latency (µs).
    pub name: Option<String>,
    pub stream_name: Option<String>,
    pub latency: Option<u32>,
    pub settings: Option<AudioSettings>,
}

/// `<settings>`: the fixed format of a stream.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AudioSettings {
    pub frequency: Option<u32>,
    pub channels: Option<u32>,
    pub format: Option<AudioFormat>,
}

/// Which attributes a backend type has, on `<audio>` and on its streams.
struct Allowed {
    top: &'static [&'static str],
    stream: &'static [&'static str],
}

fn allowed(t: AudioType) -> Allowed {
    let (top, stream): (&'static [&'static str], &'static [&'static str]) = match t {
        AudioType::Alsa => (&[], &["dev"]),
        AudioType::Sdl => (&["driver"], &["bufferCount"]),
        AudioType::Coreaudio => (&[], &["bufferCount"]),
        AudioType::Jack => (&[], &["serverName", "clientName", "connectPorts", "exactName"]),
        AudioType::Oss => (&["tryMMap", "exclusive", "dspPolicy"], &["dev", "bufferCount", "tryPoll"]),
        AudioType::Pulseaudio => (&["serverName"], &["name", "streamName", "latency"]),
        AudioType::File => (&["path"], &[]),
        _ => (&[], &[]),
    };
    Allowed { top, stream }
}

impl AudioStream {
    /// The type-specific attributes that are set, by their XML names.
    fn set_fields(&self) -> Vec<&'static str> {
        let set = [
            ("dev", self.dev.is_some()),
            ("bufferCount", self.buffer_count.is_some()),
            ("tryPoll", self.try_poll.is_some()),
            ("serverName", self.server_name.is_some()),
            ("clientName", self.client_name.is_some()),
            ("connectPorts", self.connect_ports.is_some()),
            ("exactName", self.exact_name.is_some()),
            ("name", self.name.is_some()),
            ("streamName", self.stream_name.is_some()),
            ("latency", self.latency.is_some()),
        ];
        set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect()
    }

    /// Reads every attribute a stream may have; which of them the backend
    /// type allows is checked with the rest of the domain.
    fn read(el: &El<'_, '_>) -> Result<AudioStream> {
        Ok(AudioStream {
            mixing_engine: el.yes_no("mixingEngine")?,
            fixed_settings: el.yes_no("fixedSettings")?,
            voices: el.attr("voices")?,
            buffer_length: el.attr("bufferLength")?,
            dev: el.attr("dev")?,
            buffer_count: el.attr("bufferCount")?,
            try_poll: el.yes_no("tryPoll")?,
            server_name: el.attr("serverName")?,
            client_name: el.attr("clientName")?,
            connect_ports: el.attr("connectPorts")?,
            exact_name: el.yes_no("exactName")?,
            name: el.attr("name")?,
            stream_name: el.attr("streamName")?,
            latency: el.attr("latency")?,
            settings: el.child("settings", |st| {
                Ok(AudioSettings {
                    frequency: st.attr("frequency")?,
                    channels: st.attr("channels")?,
                    format: st.attr("format")?,
                })
            })?,
        })
    }

    fn write(&self, w: &mut XmlWriter, name: &str) {
        w.start(name);
        w.yes_no("mixingEngine", self.mixing_engine);
        w.yes_no("fixedSettings", self.fixed_settings);
        w.attr_opt("voices", self.voices.as_ref());
        w.attr_opt("bufferLength", self.buffer_length.as_ref());
        w.attr_opt("dev", self.dev.as_ref());
        w.attr_opt("bufferCount", self.buffer_count.as_ref());
        w.yes_no("tryPoll", self.try_poll);
        w.attr_opt("serverName", self.server_name.as_ref());
        w.attr_opt("clientName", self.client_name.as_ref());
        w.attr_opt("connectPorts", self.connect_ports.as_ref());
        w.yes_no("exactName", self.exact_name);
        w.attr_opt("name", self.name.as_ref());
        w.attr_opt("streamName", self.stream_name.as_ref());
        w.attr_opt("latency", self.latency.as_ref());
        if let Some(s) = &self.settings {
            w.start("settings");
            w.attr_opt("frequency", s.frequency.as_ref());
            w.attr_opt("channels", s.channels.as_ref());
            w.attr_opt("format", s.format.as_ref());
            w.end();
        }
        w.end();
    }
}

impl Audio {
    /// Backend `id` of type `audio_type`, with QEMU's defaults.
    pub fn new(id: u8, audio_type: AudioType) -> Self {
        Audio {
            id,
            audio_type,
            timer_period: None,
            try_mmap: None,
            exclusive: None,
            dsp_policy: None,
            server_name: None,
            driver: None,
            path: None,
            input: None,
            output: None,
        }
    }

    /// The attributes set that this backend type does not have, as
    /// (element, attribute): `("audio", "path")`, `("output", "dev")`.
    pub fn misplaced_fields(&self) -> Vec<(&'static str, &'static str)> {
        let a = allowed(self.audio_type);
        let mut out = Vec::new();
        let top = [
            ("tryMMap", self.try_mmap.is_some()),
            ("exclusive", self.exclusive.is_some()),
            ("dspPolicy", self.dsp_policy.is_some()),
            ("serverName", self.server_name.is_some()),
            ("driver", self.driver.is_some()),
            ("path", self.path.is_some()),
        ];
        out.extend(top.iter().filter(|(n, s)| *s && !a.top.contains(n)).map(|(n, _)| ("audio", *n)));
        for (el, s) in [("input", &self.input), ("output", &self.output)] {
            if let Some(s) = s {
                out.extend(s.set_fields().into_iter().filter(|n| !a.stream.contains(n)).map(|n| (el, n)));
            }
        }
        out
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Audio> {
        Ok(Audio {
            id: el.req_attr("id")?,
            audio_type: el.req_attr("type")?,
            timer_period: el.attr("timerPeriod")?,
            try_mmap: el.yes_no("tryMMap")?,
            exclusive: el.yes_no("exclusive")?,
            dsp_policy: el.attr("dspPolicy")?,
            server_name: el.attr("serverName")?,
            driver: el.attr("driver")?,
            path: el.attr("path")?,
            input: el.child("input", AudioStream::read)?,
            output: el.child("output", AudioStream::read)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("audio");
        w.attr_val("id", &self.id);
        w.attr("type", self.audio_type.as_str());
        w.attr_opt("timerPeriod", self.timer_period.as_ref());
        w.yes_no("tryMMap", self.try_mmap);
        w.yes_no("exclusive", self.exclusive);
        w.attr_opt("dspPolicy", self.dsp_policy.as_ref());
        w.attr_opt("serverName", self.server_name.as_ref());
        w.attr_opt("driver", self.driver.as_ref());
        w.attr_opt("path", self.path.as_ref());
        if let Some(s) = &self.input {
            s.write(w, "input");
        }
        if let Some(s) = &self.output {
            s.write(w, "output");
        }
        w.end();
    }
}

xml_enum! {
    /// The sound card the guest sees.
    pub enum SoundModel {
        Sb16 = "sb16",
        Es1370 = "es1370",
        Pcspk = "pcspk",
        Ac97 = "ac97",
        Ich6 = "ich6",
        Ich7 = "ich7",
        Ich9 = "ich9",
        Usb = "usb",
    }
}

xml_enum! {
    /// An HD audio codec.
    pub enum CodecType {
        Duplex = "duplex",
        Micro = "micro",
        Output = "output",
    }
}

/// A `<sound>` card.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sound {
    pub model: SoundModel,
    /// ich6, ich7 and ich9: the codecs on the HD audio bus (one duplex
    /// codec when none is given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<CodecType>,
    /// The `<audio>` backend it plays through (the first one when unset).
    pub audio: Option<u8>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Sound {
    pub fn new(model: SoundModel) -> Self {
        Sound { model, codecs: Vec::new(), audio: None, alias: None, address: None }
    }

    pub fn with_audio(mut self, id: u8) -> Self {
        self.audio = Some(id);
        self
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Sound> {
        Ok(Sound {
            model: el.req_attr("model")?,
            codecs: el.children("codec", |c| c.req_attr("type"))?,
            audio: el.child("audio", |a| a.req_attr("id"))?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("sound");
        w.attr("model", self.model.as_str());
        for c in &self.codecs {
            w.start("codec");
            w.attr("type", c.as_str());
            w.end();
        }
        if let Some(id) = self.audio {
            w.start("audio");
            w.attr_val("id", &id);
            w.end();
        }
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}
