//! Generators for the devices added with libvirt 9.0's vocabulary (audio,
//! sound, ...), used by `roundtrip.rs`'s domain generator. Each keeps to the
//! rules `validate` checks and says which.

pub mod disk;

use proptest::collection::vec;
use proptest::prelude::*;
use virtkit_model::ByteSize;
use virtkit_model::domain::devices::{
    Audio, AudioFormat, AudioSettings, AudioStream, AudioType, CharSource, CodecType, Controller, ControllerType,
    DbusDisplay, Desktop, DeviceSeclabel, Devices, EglHeadless, GrabToggle, Graphics, GraphicsConnected, GraphicsGl,
    GraphicsListen, Hub, Input, InputBus, InputSource, InputType, PcrBanks, Rdp, Reconnect, RedirFilter, Redirdev,
    RngBackend, Sdl, SdlAudioDriver, SharePolicy, Smartcard, SmartcardMode, Sound, SoundModel, SourceMode, Spice,
    SpiceChannel, SpiceChannelMode, SpiceChannelName, SpiceImageCompression, SpiceMouseMode, SpiceStreamingMode,
    SpiceWanCompression, TcpProtocol, Tpm, TpmBackend, TpmModel, TpmVersion, UsbFilterRule, Video, VideoAcceleration,
    VideoDriver, VideoDriverName, VideoType, VirtioModel, VirtioOptions, Vnc,
};

mod hostdev;
pub(crate) mod interface;
mod platform;

use super::{abs_dir, abs_path, alias_address, listen_address, one_line, one_of, opt, opt_bool, opt_of, re};

/// A name libvirt's `deviceName` allows.
pub(crate) fn device_name() -> BoxedStrategy<String> {
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
pub(super) fn more_devices() -> BoxedStrategy<(Vec<Audio>, Vec<Sound>, Vec<Tpm>)> {
    (vec(audio(), 0..=3), vec(sound(), 0..=2), tpms()).boxed()
}

/// Unique audio ids, and each reference to a backend one that exists
/// (validate: "audio id N is already used", "there is no audio backend");
/// companions share their master's index; listen attributes agree.
pub(super) fn make_consistent(d: &mut Devices) {
    let mut ids = std::collections::HashSet::new();
    for a in &mut d.audios {
        while !ids.insert(a.id) {
            a.id = a.id.checked_add(1).unwrap_or(1);
        }
    }
    let first = d.audios.first().map(|a| a.id);
    let fix = |id: &mut Option<u8>| {
        if id.is_some_and(|id| !ids.contains(&id)) {
            *id = first;
        }
    };
    d.sounds.iter_mut().for_each(|s| fix(&mut s.audio));
    for g in &mut d.graphics {
        match g {
            Graphics::Vnc(v) => {
                fix(&mut v.audio);
                consistent_listen(&v.listen, &mut v.listens);
            }
            Graphics::Spice(s) => consistent_listen(&s.listen, &mut s.listens),
            Graphics::Rdp(r) => consistent_listen(&r.listen, &mut r.listens),
            Graphics::Dbus(db) => fix(&mut db.audio),
            _ => {}
        }
    }
    // validate: "one video device is primary".
    let mut primary = false;
    for m in d.videos.iter_mut().filter_map(|v| v.model.as_mut()) {
        if m.primary == Some(true) {
            if primary {
                m.primary = Some(false);
            }
            primary = true;
        }
    }
    // validate: "a host PCI device is given once".
    let mut host = std::collections::HashSet::new();
    d.interfaces.retain(|i| match &i.source {
        virtkit_model::domain::devices::InterfaceSource::Hostdev { address: a, .. } => {
            host.insert(format!("pci {:?} {:?} {:?} {:?}", a.domain, a.bus, a.slot, a.function))
        }
        _ => true,
    });
    d.hostdevs.retain(|h| hostdev::key(h).is_none_or(|k| host.insert(k)));
    let mut master = None;
    for c in &mut d.controllers {
        if c.controller_type != ControllerType::Usb {
            continue;
        }
        if c.master_startport.is_some() {
            c.index = master;
        } else {
            master = c.index;
        }
    }
    // A companion before any master (none generated so) would have none.
    d.controllers.retain(|c| c.master_startport.is_none() || c.index.is_some());
}

/// Aliases of the new kinds, for making every alias unique.
pub(super) fn aliases(d: &mut Devices) -> impl Iterator<Item = &mut Option<String>> {
    d.sounds
        .iter_mut()
        .map(|s| &mut s.alias)
        .chain(d.hostdevs.iter_mut().map(|h| &mut h.alias))
        .chain(d.iommu.iter_mut().map(|x| &mut x.alias))
        .chain(d.vsock.iter_mut().map(|x| &mut x.alias))
        .chain(d.shmems.iter_mut().map(|x| &mut x.alias))
        .chain(d.redirdevs.iter_mut().map(|r| &mut r.alias))
        .chain(d.hubs.iter_mut().map(|h| &mut h.alias))
        .chain(d.tpms.iter_mut().map(|t| &mut t.alias))
}

// ---- character devices ----

pub(crate) fn reconnect() -> BoxedStrategy<Reconnect> {
    prop_oneof![
        (1u32..=u32::MAX).prop_map(Reconnect::after),
        Just(serde_json::from_str::<Reconnect>(r#"{"enabled":false}"#).unwrap()),
    ]
    .boxed()
}

/// A host name or address: not empty, on one line.
fn host() -> BoxedStrategy<String> {
    one_line(1..=12)
}

/// Any host side of a character device; a reconnecting socket is a client
/// (validate: "only a socket in mode 'connect' reconnects").
pub(super) fn char_source() -> BoxedStrategy<CharSource> {
    let client =
        |mode: Option<SourceMode>, r: Option<Reconnect>| if mode == Some(SourceMode::Connect) { r } else { None };
    prop_oneof![
        Just(CharSource::Null),
        Just(CharSource::Vc),
        Just(CharSource::Stdio),
        Just(CharSource::Spicevmc),
        opt(abs_path()).prop_map(|path| CharSource::Pty { path }),
        abs_path().prop_map(|path| CharSource::Dev { path }),
        abs_path().prop_map(|path| CharSource::Pipe { path }),
        (abs_path(), opt_bool()).prop_map(|(path, append)| CharSource::File { path, append }),
        (opt(abs_path()), opt_of(SourceMode::ALL), opt(reconnect()))
            .prop_map(move |(path, mode, r)| CharSource::Unix { path, mode, reconnect: client(mode, r) }),
        (opt(host()), one_line(1..=8), opt_of(SourceMode::ALL), opt_of(TcpProtocol::ALL), opt_bool(), opt(reconnect()))
            .prop_map(move |(host, service, mode, protocol, tls, r)| CharSource::Tcp {
                host,
                service,
                mode,
                protocol,
                tls,
                reconnect: client(mode, r)
            }),
        (opt(host()), one_line(1..=8), opt(host()), opt(one_line(1..=8))).prop_map(
            |(host, service, bind_host, bind_service)| CharSource::Udp { host, service, bind_host, bind_service }
        ),
        re("[a-zA-Z0-9_.-]{1,12}").prop_map(|channel| CharSource::Spiceport { channel }),
        (abs_path(), abs_path()).prop_map(|(master, slave)| CharSource::Nmdm { master, slave }),
        (opt_bool(), opt_of(SpiceMouseMode::ALL))
            .prop_map(|(copypaste, mouse_mode)| CharSource::QemuVdagent { copypaste, mouse_mode }),
        opt(re("[a-zA-Z0-9_.-]{1,12}")).prop_map(|channel| CharSource::Dbus { channel }),
    ]
    .boxed()
}

/// Seclabels for a source with a host file (validate: one per model, a
/// label only with relabelling, and something to say).
fn seclabels() -> BoxedStrategy<Vec<DeviceSeclabel>> {
    let label = (opt(re("[a-z_-]{1,8}")), 0..3u8, one_line(1..=12)).prop_map(|(model, kind, text)| {
        let mut l = DeviceSeclabel::no_relabel(model);
        match kind {
            0 => {}
            1 => (l.relabel, l.labelskip) = (None, Some(true)),
            _ => (l.relabel, l.label) = (Some(true), Some(text)),
        }
        l
    });
    vec(label, 0..=2)
        .prop_map(|mut v| {
            let mut seen = std::collections::HashSet::new();
            v.retain(|l| seen.insert(l.model.clone()));
            v
        })
        .boxed()
}

/// A host side with the seclabels it may have.
pub(super) fn char_host() -> BoxedStrategy<(CharSource, Vec<DeviceSeclabel>)> {
    (char_source(), seclabels())
        .prop_map(|(s, l)| {
            let l = if s.path().is_some() { l } else { Vec::new() };
            (s, l)
        })
        .boxed()
}

pub(super) fn virtio_options() -> BoxedStrategy<VirtioOptions> {
    (opt_bool(), opt_bool(), opt_bool(), opt_bool())
        .prop_map(|(iommu, ats, packed, page_per_vq)| {
            let mut o = VirtioOptions::default();
            (o.iommu, o.ats, o.packed, o.page_per_vq) = (iommu, ats, packed, page_per_vq);
            o
        })
        .boxed()
}

// ---- graphics ----

fn listen() -> BoxedStrategy<GraphicsListen> {
    prop_oneof![
        opt(listen_address()).prop_map(|address| GraphicsListen::Address { address }),
        (re("[a-z][a-z0-9_-]{0,8}"), opt(listen_address()))
            .prop_map(|(network, address)| GraphicsListen::Network { network, address }),
        opt(abs_path()).prop_map(|socket| GraphicsListen::Socket { socket }),
        Just(GraphicsListen::None),
    ]
    .boxed()
}

/// `YYYY-MM-DDThh:mm:ss`, optionally with a fraction and a zone.
fn date_time() -> BoxedStrategy<String> {
    (
        1000u32..=9999,
        1u32..=12,
        1u32..=28,
        0u32..=23,
        0u32..=59,
        0u32..=59,
        re("(\\.[0-9]{1,3})?(Z|[+-]1[0-3]:[0-5][0-9]|[+-]14:00|[+-]0[0-9]:[0-5][0-9])?"),
    )
        .prop_map(|(y, mo, d, h, mi, s, rest)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{rest}"))
        .boxed()
}

fn gl(has_enable: bool) -> BoxedStrategy<GraphicsGl> {
    (any::<bool>(), opt(abs_path()))
        .prop_map(move |(enable, rendernode)| {
            let mut g = GraphicsGl::default();
            // validate: "missing attribute 'enable' on <gl>" / egl-headless has only a rendernode.
            g.enable = has_enable.then_some(enable);
            g.rendernode = rendernode;
            g
        })
        .boxed()
}

fn vnc() -> BoxedStrategy<Graphics> {
    (
        (opt(-1i32..=65535), opt_bool(), opt(-1i32..=65535), opt(listen_address()), opt_of(SharePolicy::ALL)),
        (opt(abs_path()), opt(one_line(1..=12)), opt(one_line(1..=12)), vec(listen(), 0..=3), any::<bool>()),
        (opt(date_time()), any::<bool>(), opt_bool(), opt(1u8..=u8::MAX)),
    )
        .prop_map(|(a, b, c)| {
            let (port, autoport, websocket, listen, share_policy) = a;
            let (socket, passwd, keymap, listens, unix) = b;
            let (valid_to, keep, power_control, audio) = c;
            let mut v = Vnc::default();
            (v.port, v.autoport, v.websocket, v.listen, v.share_policy) =
                (port, autoport, websocket, listen, share_policy);
            (v.socket, v.passwd, v.keymap, v.listens) = (socket, passwd, keymap, listens);
            v.passwd_valid_to = valid_to;
            // validate: VNC keeps connected clients.
            v.connected = keep.then_some(GraphicsConnected::Keep);
            v.power_control = power_control;
            v.audio = audio;
            // VNC listens on a socket or on TCP: a socket excludes the TCP settings.
            if unix {
                (v.port, v.autoport, v.websocket, v.listen, v.share_policy) = (None, None, None, None, None);
                v.power_control = None;
            } else {
                v.socket = None;
            }
            Graphics::Vnc(v)
        })
        .boxed()
}

fn spice() -> BoxedStrategy<Graphics> {
    let channel =
        (one_of(SpiceChannelName::ALL), one_of(SpiceChannelMode::ALL)).prop_map(|(n, m)| SpiceChannel::new(n, m));
    (
        (opt(-1i32..=65535), opt(-1i32..=65535), opt_bool(), opt(listen_address()), opt(one_line(1..=8))),
        (opt_of(SpiceChannelMode::ALL), opt(one_line(1..=12)), opt(date_time()), opt_of(GraphicsConnected::ALL)),
        (vec(listen(), 0..=2), vec(channel, 0..=3)),
        (
            opt_of(SpiceImageCompression::ALL),
            opt_of(SpiceWanCompression::ALL),
            opt_of(SpiceWanCompression::ALL),
            opt_bool(),
            opt_of(SpiceStreamingMode::ALL),
        ),
        (opt_bool(), opt_of(SpiceMouseMode::ALL), opt_bool(), opt(gl(true))),
    )
        .prop_map(|(a, b, (listens, mut channels), c, e)| {
            let mut s = Spice::default();
            (s.port, s.tls_port, s.autoport, s.listen, s.keymap) = a;
            (s.default_mode, s.passwd, s.passwd_valid_to, s.connected) = b;
            s.listens = listens;
            // validate: "channel 'X' is given twice".
            let mut seen = std::collections::HashSet::new();
            channels.retain(|c| seen.insert(c.name));
            s.channels = channels;
            (s.image_compression, s.jpeg_compression, s.zlib_compression, s.playback_compression, s.streaming_mode) = c;
            (s.clipboard_copypaste, s.mouse_mode, s.filetransfer_enable, s.gl) = e;
            Graphics::Spice(s)
        })
        .boxed()
}

/// Any graphics device; listen attributes and audio ids are made consistent later.
pub(super) fn graphics() -> BoxedStrategy<Graphics> {
    let sdl = (opt(one_line(1..=8)), opt(abs_path()), opt_bool(), opt(gl(true))).prop_map(|(d, x, f, mut g)| {
        // validate: "its <gl> has no rendernode".
        if let Some(g) = g.as_mut() {
            g.rendernode = None;
        }
        let mut s = Sdl::default();
        (s.display, s.xauth, s.fullscreen, s.gl) = (d, x, f, g);
        Graphics::Sdl(s)
    });
    let rdp = (opt(-1i32..=65535), opt_bool(), opt_bool(), opt_bool(), opt(listen_address()), vec(listen(), 0..=2))
        .prop_map(|(port, autoport, replace, multi, l, ls)| {
            let mut r = Rdp::default();
            (r.port, r.autoport, r.replace_user, r.multi_user, r.listen, r.listens) =
                (port, autoport, replace, multi, l, ls);
            Graphics::Rdp(r)
        });
    let desktop = (opt(one_line(1..=8)), opt_bool()).prop_map(|(d, f)| {
        let mut x = Desktop::default();
        (x.display, x.fullscreen) = (d, f);
        Graphics::Desktop(x)
    });
    let egl = opt(gl(false)).prop_map(|g| {
        let mut e = EglHeadless::default();
        e.gl = g;
        Graphics::EglHeadless(e)
    });
    let dbus = (opt(one_line(1..=16)), opt_bool(), opt(gl(true)), opt(1u8..=u8::MAX)).prop_map(|(a, p2p, g, au)| {
        let mut d = DbusDisplay::default();
        // validate: "on a bus address or peer to peer, not both".
        d.p2p = if a.is_some() { None } else { p2p };
        (d.address, d.gl, d.audio) = (a, g, au);
        Graphics::Dbus(d)
    });
    prop_oneof![3 => vnc(), 3 => spice(), 1 => sdl, 1 => rdp, 1 => desktop, 1 => egl, 1 => dbus].boxed()
}

/// The legacy `listen` attribute is the first `<listen>`'s address
/// (validate: "differs from the first <listen>'s address").
fn consistent_listen(listen: &Option<String>, listens: &mut [GraphicsListen]) {
    if let (Some(l), Some(GraphicsListen::Address { address: Some(a) })) = (listen, listens.first_mut()) {
        a.clone_from(l);
    }
}

// ---- inputs, video, rng, balloon ----

/// An input with what its type allows: passthrough on virtio with a host
/// device, evdev with a host device and no bus (validate).
pub(super) fn input() -> BoxedStrategy<Input> {
    let source = (abs_path(), opt_bool(), opt_of(GrabToggle::ALL), opt_bool());
    (
        one_of(InputType::ALL),
        opt_of(InputBus::ALL),
        opt_of(VirtioModel::ALL),
        source,
        opt(virtio_options()),
        alias_address(),
    )
        .prop_map(|(input_type, bus, model, (dev, grab, toggle, repeat), driver, (alias, address))| {
            let mut i = Input::new(input_type, InputBus::Usb);
            i.bus = bus;
            i.model = model;
            i.driver = driver;
            i.alias = alias;
            i.address = address;
            match input_type {
                InputType::Passthrough | InputType::Evdev => {
                    let mut s: InputSource = serde_json::from_value(serde_json::json!({ "dev": dev })).unwrap();
                    if input_type == InputType::Evdev {
                        i.bus = None;
                        s.grab_all = grab.filter(|g| *g);
                        s.grab_toggle = toggle;
                        s.repeat = repeat;
                    } else {
                        i.bus = Some(InputBus::Virtio);
                    }
                    i.source = Some(s);
                }
                _ => {}
            }
            i
        })
        .boxed()
}

/// What a video device has beyond its model type and sizes: driver,
/// acceleration and resolution, as its model type allows (validate).
pub(super) fn video_extras(v: &mut Video, (driver, accel, res): VideoExtras) {
    let Some(m) = v.model.as_mut() else { return };
    if let Some((name, virtio)) = driver {
        let mut d = VideoDriver::default();
        d.virtio = virtio;
        d.name = name.filter(|n| *n != VideoDriverName::Vhostuser || m.model_type == VideoType::Virtio);
        v.driver = Some(d);
    }
    let vhost = v.driver.as_ref().and_then(|d| d.name) == Some(VideoDriverName::Vhostuser);
    if let Some((a3, a2, node)) = accel {
        let mut a = VideoAcceleration::default();
        a.accel3d = a3.filter(|_| matches!(m.model_type, VideoType::Virtio | VideoType::Vbox));
        a.accel2d = a2.filter(|_| m.model_type == VideoType::Vbox);
        a.rendernode = node.filter(|_| vhost);
        m.acceleration = Some(a);
    }
    m.resolution = res;
}

pub(super) type VideoExtras = (
    Option<(Option<VideoDriverName>, VirtioOptions)>,
    Option<(Option<bool>, Option<bool>, Option<String>)>,
    Option<(u32, u32)>,
);

pub(super) fn video_extras_strategy() -> BoxedStrategy<VideoExtras> {
    (
        opt((opt_of(VideoDriverName::ALL), virtio_options())),
        opt((opt_bool(), opt_bool(), opt(abs_path()))),
        opt((1u32..=u32::MAX, 1u32..=u32::MAX)),
    )
        .boxed()
}

pub(super) fn rng_backend() -> BoxedStrategy<RngBackend> {
    prop_oneof![
        opt(abs_path()).prop_map(|path| RngBackend::Random { path }),
        Just(RngBackend::Builtin),
        char_host().prop_map(|(source, seclabels)| RngBackend::Egd { source, seclabels }),
    ]
    .boxed()
}

// ---- controllers ----

/// Controller extras as the type and model allow (validate): a 64-bit hole
/// for the PCI roots, a NUMA node for expander buses, virtio options.
pub(super) fn controller_extras(c: &mut Controller, (hole, node, virtio): (Option<u64>, Option<u32>, VirtioOptions)) {
    if matches!(c.model.as_deref(), Some("pci-root" | "pcie-root")) {
        c.pcihole64 = hole.map(ByteSize::kib);
    }
    if matches!(c.model.as_deref(), Some("pci-expander-bus" | "pcie-expander-bus")) {
        c.target.get_or_insert_with(Default::default).node = node;
    }
    if let Some(d) = c.driver.as_mut() {
        d.virtio = virtio;
    }
}

pub(super) fn controller_extras_strategy() -> BoxedStrategy<(Option<u64>, Option<u32>, VirtioOptions)> {
    (opt(0u64..=1 << 40), opt(any::<u32>()), virtio_options()).boxed()
}

/// An EHCI master with its three UHCI companions (their index is set to the
/// master's once indexes are unique).
fn usb_companions() -> BoxedStrategy<Vec<Controller>> {
    (any::<u32>(), alias_address())
        .prop_map(|(index, (alias, address))| {
            let mut master = Controller::new(ControllerType::Usb, index).with_model("ich9-ehci1");
            master.alias = alias;
            master.address = address;
            let mut v = vec![master];
            for (n, start) in [(1, 0), (2, 2), (3, 4)] {
                v.push(Controller::usb_companion(index, format!("ich9-uhci{n}"), start));
            }
            v
        })
        .boxed()
}

// ---- USB ----

fn redirdev() -> BoxedStrategy<Redirdev> {
    (char_host(), opt(super::device_boot()), alias_address())
        .prop_map(|((source, seclabels), boot, (alias, address))| {
            let mut r = Redirdev::new(source);
            (r.seclabels, r.boot, r.alias, r.address) = (seclabels, boot, alias, address);
            r
        })
        .boxed()
}

fn usb_id() -> BoxedStrategy<Option<String>> {
    opt(prop_oneof![Just("-1".to_owned()), re("(0x)?[0-9a-fA-F]{1,4}")])
}

fn redirfilter() -> BoxedStrategy<RedirFilter> {
    let rule = (
        opt(prop_oneof![Just("-1".to_owned()), re("(0x)?[0-9a-fA-F]{1,2}")]),
        usb_id(),
        usb_id(),
        opt(prop_oneof![Just("-1".to_owned()), re("[0-9]{1,2}\\.[0-9]{1,2}")]),
        any::<bool>(),
    )
        .prop_map(|(class, vendor, product, version, allow)| {
            let mut r = UsbFilterRule::all(allow);
            (r.class, r.vendor, r.product, r.version) = (class, vendor, product, version);
            r
        });
    vec(rule, 0..=3).prop_map(RedirFilter::new).boxed()
}

fn hub() -> BoxedStrategy<Hub> {
    alias_address()
        .prop_map(|(alias, address)| {
            let mut h = Hub::default();
            (h.alias, h.address) = (alias, address);
            h
        })
        .boxed()
}

fn smartcard() -> BoxedStrategy<Smartcard> {
    let mode = prop_oneof![
        Just(SmartcardMode::Host),
        (vec(one_line(1..=8), 3), opt(abs_dir()))
            .prop_map(|(certificates, database)| SmartcardMode::HostCertificates { certificates, database }),
        char_host().prop_map(|(source, seclabels)| SmartcardMode::Passthrough { source, seclabels }),
    ];
    (mode, alias_address())
        .prop_map(|(mode, (_, address))| {
            let mut s = Smartcard::new(mode);
            s.address = address;
            s
        })
        .boxed()
}

/// More device kinds, added to what `roundtrip.rs` generates.
pub(super) fn usb_devices() -> BoxedStrategy<UsbDevices> {
    (vec(redirdev(), 0..=2), opt(redirfilter()), vec(hub(), 0..=2), vec(smartcard(), 0..=2), opt(usb_companions()))
        .boxed()
}

pub(super) type UsbDevices = (Vec<Redirdev>, Option<RedirFilter>, Vec<Hub>, Vec<Smartcard>, Option<Vec<Controller>>);

pub(super) fn add_usb_devices(d: &mut Devices, (redirdevs, filter, hubs, smartcards, companions): UsbDevices) {
    (d.redirdevs, d.redirfilter, d.hubs, d.smartcards) = (redirdevs, filter, hubs, smartcards);
    d.controllers.extend(companions.into_iter().flatten());
}

// ---- TPM ----

/// At most one TPM (validate: "a domain has one TPM"), PCR banks only for
/// a TPM 2.0.
pub(super) fn tpms() -> BoxedStrategy<Vec<Tpm>> {
    let banks = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c, d)| {
        let mut p = PcrBanks::default();
        (p.sha1, p.sha256, p.sha384, p.sha512) = (a, b, c, d);
        p
    });
    let backend = prop_oneof![
        one_line(1..=16).prop_map(|device| TpmBackend::Passthrough { device }),
        one_line(1..=16).prop_map(|path| TpmBackend::External { path }),
        (opt_of(TpmVersion::ALL), opt_bool(), opt(any::<u128>()), opt(banks)).prop_map(
            |(version, p, secret, banks)| {
                TpmBackend::Emulator {
                    version,
                    persistent_state: p,
                    encryption_secret: secret.map(uuid::Uuid::from_u128),
                    active_pcr_banks: banks.filter(|_| version != Some(TpmVersion::V1_2)),
                }
            }
        ),
    ];
    opt((opt_of(TpmModel::ALL), backend, alias_address()))
        .prop_map(|t| {
            t.into_iter()
                .map(|(model, backend, (alias, address))| {
                    let mut t = Tpm::new(TpmModel::TpmTis, backend);
                    (t.model, t.alias, t.address) = (model, alias, address);
                    t
                })
                .collect()
        })
        .boxed()
}

pub(super) fn hostdevs() -> BoxedStrategy<Vec<virtkit_model::domain::devices::Hostdev>> {
    vec(hostdev::hostdev(), 0..=3).boxed()
}

/// `<iommu>`, `<vsock>` and `<shmem>` devices.
pub(super) type PlatformDevices = (
    Option<virtkit_model::domain::devices::Iommu>,
    Option<virtkit_model::domain::devices::Vsock>,
    Vec<virtkit_model::domain::devices::Shmem>,
);

pub(super) fn platform_devices() -> BoxedStrategy<PlatformDevices> {
    (opt(platform::iommu()), opt(platform::vsock()), platform::shmems()).boxed()
}
