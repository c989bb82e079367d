//! Character devices: serial ports, consoles and channels.

use std::path::Path;

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{
    Address, CharLog, CharSource, DeviceSeclabel, Reconnect, SourceMode, SpiceMouseMode, TcpProtocol,
};

use super::{ArgvError, Builder, channel_socket, esc, serial_socket, unsupported};

/// A character device's host side, as the device has it.
pub(super) struct CharHost<'a> {
    pub(super) source: &'a CharSource,
    pub(super) seclabels: &'a [DeviceSeclabel],
    pub(super) log: Option<&'a CharLog>,
    /// Where the device is in the document, for refusals.
    pub(super) path: &'a str,
    /// The socket virtkit places when a unix source has no path.
    pub(super) default_socket: &'a Path,
    /// What a SPICE VM channel carries (vdagent, smartcard, usbredir).
    pub(super) spicevmc: &'a str,
}

/// `-chardev` for a character device's host side.
pub(super) fn chardev(b: &Builder<'_>, id: &str, h: &CharHost<'_>) -> Result<String, ArgvError> {
    let at = |a: &str| format!("{}/source/@{a}", h.path);
    let needs = |display: &str, what: &str| -> Result<(), ArgvError> {
        if b.def.devices.graphics.iter().any(|g| g.type_name() == display) {
            Ok(())
        } else {
            Err(unsupported(format!("{}/@type", h.path), format!("{what} needs <graphics type='{display}'>")))
        }
    };
    for l in h.seclabels {
        if l.label.is_some() {
            return Err(unsupported(
                format!("{}/source/seclabel/label", h.path),
                "virtkit has no security driver to give a device a label: relabel='no' is what it does",
            ));
        }
    }
    let server = |mode: &Option<SourceMode>| {
        if *mode == Some(SourceMode::Connect) { "server=off" } else { "server=on,wait=off" }
    };
    let reconnect = |s: &mut String, r: &Option<Reconnect>| {
        if let Some(Reconnect { enabled: true, timeout: Some(t), .. }) = r {
            s.push_str(&format!(",reconnect={t}"));
        }
    };
    let mut s = match h.source {
        CharSource::Null => format!("null,id={id}"),
        CharSource::Vc => format!("vc,id={id}"),
        CharSource::Pty { .. } => format!("pty,id={id}"),
        CharSource::Stdio => format!("stdio,id={id},signal=off"),
        CharSource::Dev { path } => format!("tty,id={id},path={}", esc(path)),
        CharSource::Pipe { path } => format!("pipe,id={id},path={}", esc(path)),
        CharSource::File { path, append } => {
            let mut s = format!("file,id={id},path={}", esc(path));
            if *append == Some(true) {
                s.push_str(",append=on");
            }
            s
        }
        CharSource::Unix { path, mode, reconnect: r } => {
            let p = path.clone().unwrap_or_else(|| h.default_socket.display().to_string());
            let mut s = format!("socket,id={id},path={},{}", esc(&p), server(mode));
            reconnect(&mut s, r);
            s
        }
        CharSource::Tcp { host, service, mode, protocol, tls, reconnect: r } => {
            if *tls == Some(true) || matches!(protocol, Some(TcpProtocol::Tls | TcpProtocol::Telnets)) {
                return Err(unsupported(
                    at("tls"),
                    "TLS for character devices needs the host's certificates, which virtkit does not set up yet",
                ));
            }
            let mut s = format!(
                "socket,id={id},host={},port={},{}",
                esc(host.as_deref().unwrap_or("127.0.0.1")),
                esc(service),
                server(mode)
            );
            if *protocol == Some(TcpProtocol::Telnet) {
                s.push_str(",telnet=on");
            }
            reconnect(&mut s, r);
            s
        }
        CharSource::Udp { host, service, bind_host, bind_service } => {
            let mut s =
                format!("udp,id={id},host={},port={}", esc(host.as_deref().unwrap_or("127.0.0.1")), esc(service));
            if let Some(h) = bind_host {
                s.push_str(&format!(",localaddr={}", esc(h)));
            }
            if let Some(p) = bind_service {
                s.push_str(&format!(",localport={}", esc(p)));
            }
            s
        }
        CharSource::Spicevmc => {
            needs("spice", "a SPICE VM channel")?;
            format!("spicevmc,id={id},name={}", h.spicevmc)
        }
        CharSource::Spiceport { channel } => {
            needs("spice", "a SPICE port")?;
            format!("spiceport,id={id},name={}", esc(channel))
        }
        CharSource::QemuVdagent { copypaste, mouse_mode } => {
            let mut s = format!("qemu-vdagent,id={id},name=vdagent");
            if let Some(c) = copypaste {
                s.push_str(&format!(",clipboard={}", if *c { "on" } else { "off" }));
            }
            if let Some(m) = mouse_mode {
                s.push_str(&format!(",mouse={}", if *m == SpiceMouseMode::Client { "on" } else { "off" }));
            }
            s
        }
        CharSource::Dbus { channel } => {
            needs("dbus", "a D-Bus channel")?;
            let mut s = format!("dbus,id={id}");
            if let Some(c) = channel {
                s.push_str(&format!(",name={}", esc(c)));
            }
            s
        }
        CharSource::Nmdm { .. } => {
            return Err(unsupported(
                format!("{}/@type", h.path),
                "nmdm is FreeBSD's null modem; QEMU on Linux has none",
            ));
        }
        other => {
            return Err(unsupported(format!("{}/@type", h.path), format!("'{}' is not supported", other.type_name())));
        }
    };
    if let Some(l) = h.log {
        s.push_str(&format!(",logfile={}", esc(&l.file)));
        if l.append == Some(true) {
            s.push_str(",logappend=on");
        }
    }
    Ok(s)
}

pub(super) fn chardev_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    use virtkit_model::domain::devices::{ConsoleTargetType, SerialTargetType};
    let run = b.ctx.run_dir.clone();
    let serials = &b.def.devices.serials;
    for (i, s) in serials.iter().enumerate() {
        let path = if serials.len() > 1 {
            format!("/domain/devices/serial[{}]", i + 1)
        } else {
            "/domain/devices/serial".into()
        };
        let id = format!("charserial{i}");
        let sock = serial_socket(&run, "serial", i);
        let host = CharHost {
            source: &s.source,
            seclabels: &s.seclabels,
            log: s.log.as_ref(),
            path: &path,
            default_socket: &sock,
            spicevmc: "vdagent",
        };
        b.opt("-chardev", chardev(b, &id, &host)?);
        let port = s.target_port.unwrap_or(u32::try_from(i).unwrap_or(0));
        let mut dev = Map::new();
        let driver = match s.target_type {
            None | Some(SerialTargetType::IsaSerial) => "isa-serial",
            Some(SerialTargetType::UsbSerial) => "usb-serial",
            Some(SerialTargetType::PciSerial) => "pci-serial",
            Some(t) => {
                return Err(unsupported(
                    format!("{path}/target/@type"),
                    format!("serial target '{t}' is not supported"),
                ));
            }
        };
        dev.insert("driver".into(), json!(driver));
        dev.insert("chardev".into(), json!(id));
        dev.insert("id".into(), json!(format!("serial{i}")));
        match driver {
            "isa-serial" => {
                dev.insert("index".into(), json!(port));
                match &s.address {
                    None => {}
                    Some(Address::Isa(a)) => {
                        if let Some(io) = a.iobase {
                            dev.insert("iobase".into(), json!(io));
                        }
                        if let Some(irq) = a.irq {
                            dev.insert("irq".into(), json!(irq));
                        }
                    }
                    Some(_) => {
                        return Err(unsupported(format!("{path}/address"), "an ISA serial port takes an ISA address"));
                    }
                }
            }
            "usb-serial" => b.usb_addr(&mut dev, s.address.as_ref(), &path)?,
            _ => b.pci_addr(&mut dev, s.address.as_ref(), &path)?,
        }
        let dev = Value::Object(dev);
        b.device(dev);
    }
    let consoles = &b.def.devices.consoles;
    for (i, c) in consoles.iter().enumerate() {
        let path = if consoles.len() > 1 {
            format!("/domain/devices/console[{}]", i + 1)
        } else {
            "/domain/devices/console".into()
        };
        match c.target_type {
            // The console on serial port N is that serial port, as in libvirt;
            // with no serial ports defined, the first console becomes serial0.
            None | Some(ConsoleTargetType::Serial) => {
                let port = c.target_port.unwrap_or(0);
                if serials.is_empty() && i == 0 {
                    let id = "charserial0".to_owned();
                    let sock = serial_socket(&run, "console", i);
                    let host = CharHost {
                        source: &c.source,
                        seclabels: &c.seclabels,
                        log: c.log.as_ref(),
                        path: &path,
                        default_socket: &sock,
                        spicevmc: "vdagent",
                    };
                    b.opt("-chardev", chardev(b, &id, &host)?);
                    b.device(json!({ "driver": "isa-serial", "chardev": id, "id": "serial0", "index": port }));
                } else if !serials
                    .iter()
                    .enumerate()
                    .any(|(j, s)| s.target_port.unwrap_or(u32::try_from(j).unwrap_or(0)) == port)
                {
                    return Err(unsupported(&path, format!("no serial port {port} for this console")));
                }
            }
            Some(ConsoleTargetType::Virtio) => {
                let id = format!("charconsole{i}");
                let sock = serial_socket(&run, "console", i);
                let host = CharHost {
                    source: &c.source,
                    seclabels: &c.seclabels,
                    log: c.log.as_ref(),
                    path: &path,
                    default_socket: &sock,
                    spicevmc: "vdagent",
                };
                b.opt("-chardev", chardev(b, &id, &host)?);
                b.device(json!({ "driver": "virtconsole", "chardev": id, "id": format!("console{i}") }));
            }
            Some(t) => {
                return Err(unsupported(
                    format!("{path}/target/@type"),
                    format!("console target '{t}' is not supported by QEMU"),
                ));
            }
        }
    }
    let channels = &b.def.devices.channels;
    for (i, c) in channels.iter().enumerate() {
        let id = format!("charchannel{i}");
        let sock = channel_socket(&run, i, c.target.name.as_deref());
        let path = super::idx_path("channel", i, channels.len());
        let host = CharHost {
            source: &c.source,
            seclabels: &c.seclabels,
            log: c.log.as_ref(),
            path: &path,
            default_socket: &sock,
            spicevmc: "vdagent",
        };
        b.opt("-chardev", chardev(b, &id, &host)?);
        let mut props = Map::new();
        props.insert("driver".into(), json!("virtserialport"));
        let (bus, port) = match &c.address {
            Some(Address::VirtioSerial(a)) => (format!("virtio-serial{}.{}", a.controller, a.bus.unwrap_or(0)), a.port),
            _ => ("virtio-serial0.0".to_owned(), None),
        };
        props.insert("bus".into(), json!(bus));
        if let Some(p) = port {
            props.insert("nr".into(), json!(p));
        }
        props.insert("chardev".into(), json!(id));
        props.insert("id".into(), json!(format!("channel{i}")));
        if let Some(n) = &c.target.name {
            props.insert("name".into(), json!(n));
        }
        b.device(Value::Object(props));
    }
    Ok(())
}
