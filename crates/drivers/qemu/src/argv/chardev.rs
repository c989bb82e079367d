//! Character devices: serial ports, consoles and channels.

use std::path::Path;

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{Address, CharSource, SourceMode, TcpProtocol};

use super::{ArgvError, Builder, channel_socket, esc, serial_socket, unsupported};

/// `-chardev` for a character device's host side.
pub(super) fn chardev(
    id: &str,
    src: &CharSource,
    log: Option<&virtkit_model::domain::devices::CharLog>,
    default_socket: &Path,
) -> String {
    let mut s = match src {
        CharSource::Pty { .. } => format!("pty,id={id}"),
        CharSource::File { path, append } => {
            let mut s = format!("file,id={id},path={}", esc(path));
            if *append == Some(true) {
                s.push_str(",append=on");
            }
            s
        }
        CharSource::Unix { path, mode } => {
            let p = path.clone().unwrap_or_else(|| default_socket.display().to_string());
            let server = if *mode == Some(SourceMode::Connect) { "server=off" } else { "server=on,wait=off" };
            format!("socket,id={id},path={},{server}", esc(&p))
        }
        CharSource::Tcp { host, service, mode, protocol } => {
            let server = if *mode == Some(SourceMode::Connect) { "server=off" } else { "server=on,wait=off" };
            let mut s = format!(
                "socket,id={id},host={},port={},{server}",
                esc(host.as_deref().unwrap_or("127.0.0.1")),
                esc(service)
            );
            if *protocol == Some(TcpProtocol::Telnet) {
                s.push_str(",telnet=on");
            }
            s
        }
        CharSource::Null => format!("null,id={id}"),
        _ => format!("null,id={id}"),
    };
    if let Some(l) = log {
        s.push_str(&format!(",logfile={}", esc(&l.file)));
        if l.append == Some(true) {
            s.push_str(",logappend=on");
        }
    }
    s
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
        b.opt("-chardev", chardev(&id, &s.source, s.log.as_ref(), &serial_socket(&run, "serial", i)));
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
                    b.opt("-chardev", chardev(&id, &c.source, c.log.as_ref(), &serial_socket(&run, "console", i)));
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
                b.opt("-chardev", chardev(&id, &c.source, c.log.as_ref(), &serial_socket(&run, "console", i)));
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
        b.opt("-chardev", chardev(&id, &c.source, c.log.as_ref(), &sock));
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
