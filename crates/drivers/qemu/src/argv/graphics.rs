//! Graphics (the remote display) and video cards.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Graphics, GraphicsListen, Spice, SpiceChannelMode, SpiceMouseMode, VideoDriverName, VideoType, Vnc,
};

use super::{ArgvError, Builder, esc, unsupported};

/// Where a display listens, from its `<listen>` elements (QEMU has one
/// listener per display) or its legacy attribute.
enum Listen {
    Tcp(String),
    Unix(String),
    Nowhere,
}

fn listen(
    b: &Builder<'_>,
    path: &str,
    listens: &[GraphicsListen],
    legacy: Option<&String>,
    sock: &str,
) -> Result<Listen, ArgvError> {
    if listens.len() > 1 {
        return Err(unsupported(format!("{path}/listen[2]"), "QEMU listens on one address per display"));
    }
    Ok(match listens.first() {
        Some(GraphicsListen::Address { address }) => {
            Listen::Tcp(address.clone().or_else(|| legacy.cloned()).unwrap_or_else(|| "127.0.0.1".into()))
        }
        Some(GraphicsListen::Network { .. }) => {
            return Err(unsupported(
                format!("{path}/listen/@type"),
                "listening on a virtual network's address comes with host networking; give an address",
            ));
        }
        Some(GraphicsListen::Socket { socket }) => {
            Listen::Unix(socket.clone().unwrap_or_else(|| b.ctx.run_dir.join(sock).display().to_string()))
        }
        Some(GraphicsListen::None) => Listen::Nowhere,
        Some(_) => return Err(unsupported(format!("{path}/listen/@type"), "this listen type is not supported")),
        None => Listen::Tcp(legacy.cloned().unwrap_or_else(|| "127.0.0.1".into())),
    })
}

/// The display modules a display type needs in QEMU's `-display help`.
fn need_display(b: &Builder<'_>, path: &str, display: &str) -> Result<(), ArgvError> {
    if b.ctx.displays.is_empty() || b.ctx.displays.contains(display) {
        return Ok(());
    }
    let mut have: Vec<&str> = b.ctx.displays.iter().map(String::as_str).collect();
    have.sort_unstable();
    Err(unsupported(
        format!("{path}/@type"),
        format!("this QEMU has no '{display}' display (it has {})", have.join(", ")),
    ))
}

pub(super) fn graphics_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let graphics = &b.def.devices.graphics;
    if graphics.is_empty() {
        b.opt("-display", "none");
        return Ok(());
    }
    let mut display = None;
    for (i, g) in graphics.iter().enumerate() {
        let path = super::idx_path("graphics", i, graphics.len());
        if graphics[..i].iter().any(|o| o.type_name() == g.type_name()) {
            return Err(unsupported(&path, format!("one {} display at most", g.type_name())));
        }
        match g {
            Graphics::Vnc(v) => vnc(b, &path, v)?,
            Graphics::Spice(s) => spice(b, &path, s)?,
            Graphics::Sdl(s) => {
                need_display(b, &path, "sdl")?;
                let mut d = "sdl".to_owned();
                if let Some(gl) = &s.gl {
                    d.push_str(&format!(",gl={}", on_off(gl.enable == Some(true))));
                }
                if s.fullscreen == Some(true) {
                    b.push("-full-screen");
                }
                display = Some(d);
            }
            Graphics::EglHeadless(e) => {
                need_display(b, &path, "egl-headless")?;
                let mut d = "egl-headless".to_owned();
                if let Some(r) = e.gl.as_ref().and_then(|g| g.rendernode.as_ref()) {
                    d.push_str(&format!(",rendernode={}", esc(r)));
                }
                display = Some(d);
            }
            Graphics::Dbus(db) => {
                need_display(b, &path, "dbus")?;
                let mut d = "dbus".to_owned();
                if let Some(a) = &db.address {
                    d.push_str(&format!(",addr={}", esc(a)));
                }
                if db.p2p == Some(true) {
                    d.push_str(",p2p=on");
                }
                if let Some(gl) = &db.gl {
                    d.push_str(&format!(",gl={}", on_off(gl.enable == Some(true))));
                    if let Some(r) = &gl.rendernode {
                        d.push_str(&format!(",rendernode={}", esc(r)));
                    }
                }
                if let Some(id) = db.audio {
                    d.push_str(&format!(",audiodev=audio{id}"));
                }
                display = Some(d);
            }
            Graphics::Rdp(_) | Graphics::Desktop(_) => {
                return Err(unsupported(
                    format!("{path}/@type"),
                    format!(
                        "{} is VirtualBox's display; QEMU has vnc, spice, sdl, egl-headless and dbus",
                        g.type_name()
                    ),
                ));
            }
            _ => return Err(unsupported(format!("{path}/@type"), "this graphics type is not supported")),
        }
    }
    b.opt("-display", display.unwrap_or_else(|| "none".into()));
    Ok(())
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn vnc(b: &mut Builder<'_>, path: &str, vnc: &Vnc) -> Result<(), ArgvError> {
    let listens = if let Some(s) = &vnc.socket {
        vec![GraphicsListen::Socket { socket: Some(s.clone()) }]
    } else {
        vnc.listens.clone()
    };
    let mut spec = match listen(b, path, &listens, vnc.listen.as_ref(), "vnc.sock")? {
        Listen::Unix(s) => format!("unix:{}", esc(&s)),
        Listen::Nowhere => "none".to_owned(),
        Listen::Tcp(addr) => {
            let host = if addr.contains(':') { format!("[{addr}]") } else { addr };
            match vnc.port {
                Some(p) if p >= 5900 && vnc.autoport != Some(true) => format!("{host}:{}", p - 5900),
                Some(p) if (0..5900).contains(&p) && vnc.autoport != Some(true) => {
                    return Err(unsupported(format!("{path}/@port"), "a VNC port is 5900 or above (display 0 and up)"));
                }
                // Let QEMU find a free display among 100.
                _ => format!("{host}:0,to=99"),
            }
        }
    };
    match vnc.websocket {
        Some(-1) => spec.push_str(",websocket=on"),
        Some(ws) => spec.push_str(&format!(",websocket={ws}")),
        None => {}
    }
    if vnc.passwd.is_some() {
        spec.push_str(",password=on");
    }
    if let Some(sp) = vnc.share_policy {
        spec.push_str(&format!(",share={}", sp.as_str()));
    }
    if vnc.power_control == Some(true) {
        spec.push_str(",power-control=on");
    }
    if let Some(id) = vnc.audio {
        spec.push_str(&format!(",audiodev=audio{id}"));
    }
    b.opt("-vnc", spec);
    if let Some(k) = &vnc.keymap {
        b.opt("-k", k.clone());
    }
    Ok(())
}

fn spice(b: &mut Builder<'_>, path: &str, s: &Spice) -> Result<(), ArgvError> {
    // A TLS port left to be picked (-1, or any with autoport) gets none while
    // the host has no SPICE certificates, as libvirt without spice_tls; one
    // asked for by number cannot be had.
    let auto_tls = s.autoport == Some(true) || s.tls_port == Some(-1);
    if s.tls_port.is_some_and(|p| p != 0) && !auto_tls {
        return Err(unsupported(
            format!("{path}/@tlsPort"),
            "SPICE over TLS needs the host's SPICE certificates, which virtkit does not set up yet",
        ));
    }
    let secure = s.channels.iter().find(|c| c.mode == SpiceChannelMode::Secure);
    if s.default_mode == Some(SpiceChannelMode::Secure) || secure.is_some() {
        return Err(unsupported(format!("{path}/channel"), "a secure SPICE channel needs SPICE over TLS"));
    }
    if s.keymap.is_some() {
        return Err(unsupported(
            format!("{path}/@keymap"),
            "SPICE clients send raw key codes: QEMU has no keymap for SPICE",
        ));
    }
    let mut opts = Vec::new();
    match listen(b, path, &s.listens, s.listen.as_ref(), "spice.sock")? {
        Listen::Unix(sock) => {
            opts.push("unix=on".to_owned());
            opts.push(format!("addr={}", esc(&sock)));
        }
        Listen::Nowhere => {}
        Listen::Tcp(addr) => {
            let port = match s.port {
                Some(p) if p > 0 && s.autoport != Some(true) => u16::try_from(p).unwrap_or(0),
                _ => b
                    .ctx
                    .spice_port
                    .ok_or_else(|| unsupported(format!("{path}/@port"), "no free port was found for SPICE"))?,
            };
            opts.push(format!("port={port}"));
            opts.push(format!("addr={}", esc(&addr)));
        }
    }
    if s.passwd.is_none() {
        opts.push("disable-ticketing=on".into());
    }
    let set = |opts: &mut Vec<String>, k: &str, v: Option<&str>| {
        if let Some(v) = v {
            opts.push(format!("{k}={v}"));
        }
    };
    set(&mut opts, "image-compression", s.image_compression.map(|c| c.as_str()));
    set(&mut opts, "jpeg-wan-compression", s.jpeg_compression.map(|c| c.as_str()));
    set(&mut opts, "zlib-glz-wan-compression", s.zlib_compression.map(|c| c.as_str()));
    set(&mut opts, "playback-compression", s.playback_compression.map(on_off));
    set(&mut opts, "streaming-video", s.streaming_mode.map(|m| m.as_str()));
    if s.clipboard_copypaste == Some(false) {
        opts.push("disable-copy-paste=on".into());
    }
    if s.filetransfer_enable == Some(false) {
        opts.push("disable-agent-file-xfer=on".into());
    }
    set(&mut opts, "agent-mouse", s.mouse_mode.map(|m| on_off(m == SpiceMouseMode::Client)));
    for c in &s.channels {
        opts.push(format!("plaintext-channel={}", c.name.as_str()));
    }
    if let Some(gl) = &s.gl {
        opts.push(format!("gl={}", on_off(gl.enable == Some(true))));
        if let Some(r) = &gl.rendernode {
            opts.push(format!("rendernode={}", esc(r)));
        }
    }
    b.opt("-spice", opts.join(","));
    Ok(())
}

pub(super) fn video_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let videos = &b.def.devices.videos;
    // The primary card is the one marked so, else the first.
    let primary = videos.iter().position(|v| v.model.as_ref().and_then(|m| m.primary) == Some(true)).unwrap_or(0);
    for (i, v) in videos.iter().enumerate() {
        let path = super::idx_path("video", i, videos.len());
        let Some(m) = &v.model else { continue };
        let gl = m.acceleration.as_ref().and_then(|a| a.accel3d) == Some(true);
        if let Some(d) = &v.driver {
            if d.name == Some(VideoDriverName::Vhostuser) {
                return Err(unsupported(
                    format!("{path}/driver/@name"),
                    "a vhost-user GPU needs Debian's vhost-user-gpu process, which virtkit does not run yet",
                ));
            }
            if d.vgaconf.is_some() {
                return Err(unsupported(format!("{path}/driver/@vgaconf"), "vgaconf is bhyve's; QEMU has none"));
            }
        }
        if m.acceleration.as_ref().and_then(|a| a.accel2d) == Some(true) {
            return Err(unsupported(format!("{path}/model/acceleration/@accel2d"), "2D acceleration is VirtualBox's"));
        }
        let driver = match (m.model_type, i == primary, gl) {
            (VideoType::None, ..) => continue,
            (VideoType::Vga, ..) => "VGA",
            (VideoType::Cirrus, ..) => "cirrus-vga",
            (VideoType::Qxl, true, _) => "qxl-vga",
            (VideoType::Qxl, false, _) => "qxl",
            (VideoType::Virtio, true, false) => "virtio-vga",
            (VideoType::Virtio, false, false) => "virtio-gpu-pci",
            (VideoType::Virtio, true, true) => "virtio-vga-gl",
            (VideoType::Virtio, false, true) => "virtio-gpu-gl-pci",
            (VideoType::Bochs, ..) => "bochs-display",
            (VideoType::Ramfb, ..) => "ramfb",
            (VideoType::Vmvga, ..) => "vmware-svga",
            (t, ..) => {
                return Err(unsupported(
                    format!("{path}/model/@type"),
                    format!("video model '{t}' has no x86 QEMU device"),
                ));
            }
        };
        // A GL virtio GPU is a PCI wrapper around a device from its own module.
        let needed: &[&str] = if gl { &[driver, "virtio-gpu-gl-device"] } else { &[driver] };
        if let Some(missing) = needed.iter().find(|d| !b.ctx.has(d)) {
            return Err(unsupported(format!("{path}/model/@type"), format!("this QEMU has no {missing} device")));
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(format!("video{i}")));
        let t = m.model_type;
        if t == VideoType::Qxl {
            if let Some(r) = m.ram {
                props.insert("ram_size".into(), json!(u64::from(r) * 1024));
            }
            if let Some(r) = m.vram {
                props.insert("vram_size".into(), json!(u64::from(r) * 1024));
            }
            if let Some(r) = m.vram64 {
                props.insert("vram64_size_mb".into(), json!(r / 1024));
            }
            if let Some(r) = m.vgamem {
                props.insert("vgamem_mb".into(), json!(r / 1024));
            }
        }
        match (m.heads, t) {
            (Some(h), VideoType::Qxl | VideoType::Virtio) => {
                props.insert("max_outputs".into(), json!(h));
            }
            (Some(h), _) if h > 1 => {
                return Err(unsupported(format!("{path}/model/@heads"), format!("{t} video has one head")));
            }
            _ => {}
        }
        match (m.vram, t) {
            (Some(r), VideoType::Vga | VideoType::Cirrus | VideoType::Vmvga) => {
                props.insert("vgamem_mb".into(), json!(r / 1024));
            }
            (Some(r), VideoType::Bochs) => {
                props.insert("vgamem".into(), json!(u64::from(r) * 1024));
            }
            (Some(_), VideoType::Qxl) | (None, _) => {}
            (Some(_), _) => {
                return Err(unsupported(
                    format!("{path}/model/@vram"),
                    format!("{t} video has no video memory to size"),
                ));
            }
        }
        if let Some((x, y)) = m.resolution {
            if !matches!(t, VideoType::Qxl | VideoType::Virtio | VideoType::Bochs | VideoType::Vga) {
                return Err(unsupported(
                    format!("{path}/model/resolution"),
                    format!("{t} video has no initial resolution"),
                ));
            }
            props.insert("xres".into(), json!(x));
            props.insert("yres".into(), json!(y));
        }
        if let Some(d) = &v.driver {
            b.virtio_options(&mut props, &d.virtio, &format!("{path}/driver"))?;
        }
        if driver == "ramfb" {
            if v.address.is_some() {
                return Err(unsupported(format!("{path}/address"), "ramfb sits on no bus"));
            }
        } else {
            b.pci_addr(&mut props, v.address.as_ref(), &path)?;
        }
        b.device(Value::Object(props));
    }
    Ok(())
}
