//! Graphics (the remote display) and video cards.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{Graphics, GraphicsListen, VideoType};

use super::{ArgvError, Builder, esc, unsupported};

pub(super) fn graphics_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let Some(g) = b.def.devices.graphics.first() else {
        b.opt("-display", "none");
        return Ok(());
    };
    if b.def.devices.graphics.len() > 1 {
        return Err(unsupported("/domain/devices/graphics[2]", "one graphics device at most"));
    }
    let Graphics::Vnc(vnc) = g else {
        return Err(unsupported("/domain/devices/graphics", "only VNC is supported"));
    };
    let socket = vnc.socket.clone().or_else(|| {
        vnc.listens.iter().find_map(|l| match l {
            GraphicsListen::Socket { socket } => {
                Some(socket.clone().unwrap_or_else(|| b.ctx.run_dir.join("vnc.sock").display().to_string()))
            }
            _ => None,
        })
    });
    let mut spec = if let Some(s) = socket {
        format!("unix:{}", esc(&s))
    } else {
        let addr = vnc
            .listens
            .iter()
            .find_map(|l| match l {
                GraphicsListen::Address { address } => address.clone(),
                _ => None,
            })
            .or_else(|| vnc.listen.clone())
            .unwrap_or_else(|| "127.0.0.1".into());
        let host = if addr.contains(':') { format!("[{addr}]") } else { addr };
        match vnc.port {
            Some(p) if p >= 5900 && vnc.autoport != Some(true) => format!("{host}:{}", p - 5900),
            // Let QEMU find a free display among 100.
            _ => format!("{host}:0,to=99"),
        }
    };
    if let Some(ws) = vnc.websocket {
        spec.push_str(&format!(",websocket={ws}"));
    }
    if vnc.passwd.is_some() {
        spec.push_str(",password=on");
    }
    b.opt("-vnc", spec);
    Ok(())
}

pub(super) fn video_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    for (i, v) in b.def.devices.videos.iter().enumerate() {
        let Some(m) = &v.model else { continue };
        let primary = i == 0;
        let driver = match (m.model_type, primary) {
            (VideoType::None, _) => continue,
            (VideoType::Vga, _) => "VGA",
            (VideoType::Cirrus, _) => "cirrus-vga",
            (VideoType::Qxl, true) => "qxl-vga",
            (VideoType::Qxl, false) => "qxl",
            (VideoType::Virtio, true) => "virtio-vga",
            (VideoType::Virtio, false) => "virtio-gpu-pci",
            (VideoType::Bochs, _) => "bochs-display",
            (VideoType::Ramfb, _) => "ramfb",
            (VideoType::Vmvga, _) => "vmware-svga",
            (t, _) => {
                return Err(unsupported(
                    "/domain/devices/video/model/@type",
                    format!("video model '{t}' is not supported"),
                ));
            }
        };
        let mut props = Map::new();
        props.insert("driver".into(), json!(driver));
        props.insert("id".into(), json!(format!("video{i}")));
        if m.model_type == VideoType::Qxl {
            if let Some(r) = m.ram {
                props.insert("ram_size".into(), json!(u64::from(r) * 1024));
            }
            if let Some(r) = m.vram {
                props.insert("vram_size".into(), json!(u64::from(r) * 1024));
            }
            if let Some(r) = m.vgamem {
                props.insert("vgamem_mb".into(), json!(r / 1024));
            }
        }
        if let Some(h) = m.heads.filter(|_| matches!(m.model_type, VideoType::Qxl | VideoType::Virtio)) {
            props.insert("max_outputs".into(), json!(h));
        }
        if matches!(m.model_type, VideoType::Vga | VideoType::Cirrus)
            && let Some(r) = m.vram
        {
            props.insert("vgamem_mb".into(), json!(r / 1024));
        }
        b.pci_addr(&mut props, v.address.as_ref(), "/domain/devices/video")?;
        b.device(Value::Object(props));
    }
    Ok(())
}
