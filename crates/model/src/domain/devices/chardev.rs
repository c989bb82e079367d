//! Character devices: `<serial>`, `<console>` and `<channel>` (the guest
//! agent's among them), which share how their host side is described.

use serde::{Deserialize, Serialize};

use super::{Address, read_address, read_alias, write_address, write_alias};
use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

/// The guest agent's channel name.
pub const GUEST_AGENT_CHANNEL: &str = "org.qemu.guest_agent.0";

xml_enum! {
    pub enum SourceMode {
        Bind = "bind",
        Connect = "connect",
    }
}

xml_enum! {
    pub enum TcpProtocol {
        Raw = "raw",
        Telnet = "telnet",
        Telnets = "telnets",
        Tls = "tls",
    }
}

xml_enum! {
    pub enum SerialTargetType {
        IsaSerial = "isa-serial",
        UsbSerial = "usb-serial",
        PciSerial = "pci-serial",
        SpaprVioSerial = "spapr-vio-serial",
        SystemSerial = "system-serial",
        SclpSerial = "sclp-serial",
        IsaDebug = "isa-debug",
    }
}

xml_enum! {
    pub enum SerialTargetModel {
        IsaSerial = "isa-serial",
        UsbSerial = "usb-serial",
        PciSerial = "pci-serial",
        SpaprVty = "spapr-vty",
        Pl011 = "pl011",
        Uart16550a = "16550a",
        Sclpconsole = "sclpconsole",
        Sclplmconsole = "sclplmconsole",
        IsaDebugcon = "isa-debugcon",
    }
}

xml_enum! {
    pub enum ConsoleTargetType {
        Serial = "serial",
        Virtio = "virtio",
        Xen = "xen",
        Uml = "uml",
        Lxc = "lxc",
        Openvz = "openvz",
        Sclp = "sclp",
        Sclplm = "sclplm",
    }
}

xml_enum! {
    pub enum ChannelTargetState {
        Connected = "connected",
        Disconnected = "disconnected",
    }
}

/// The host side of a character device (`type=` and `<source>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum CharSource {
    /// A pseudo-terminal; `path` is the allocated `/dev/pts/N` once running.
    Pty { path: Option<String> },
    /// Output appended or written to a file.
    File { path: String, append: Option<bool> },
    /// A unix socket; virtkit picks the path when none is given.
    Unix { path: Option<String>, mode: Option<SourceMode> },
    /// A TCP socket.
    Tcp { host: Option<String>, service: String, mode: Option<SourceMode>, protocol: Option<TcpProtocol> },
    /// Discards output, reads nothing.
    Null,
}

impl CharSource {
    fn type_name(&self) -> &'static str {
        match self {
            CharSource::Pty { .. } => "pty",
            CharSource::File { .. } => "file",
            CharSource::Unix { .. } => "unix",
            CharSource::Tcp { .. } => "tcp",
            CharSource::Null => "null",
        }
    }

    /// Reads `type=`, `<source>` and `<protocol>` of a character device.
    fn read(el: &El<'_, '_>) -> Result<CharSource> {
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        Ok(match kind {
            "pty" => {
                // Live XML names the allocated terminal in `tty=` as well.
                let tty = el.raw_attr("tty").map(str::to_owned);
                let path = el.child("source", |s| s.attr::<String>("path"))?.flatten();
                CharSource::Pty { path: path.or(tty) }
            }
            "file" => el.req_child("source", |s| {
                Ok(CharSource::File { path: s.req_attr("path")?, append: s.on_off("append")? })
            })?,
            "unix" => el
                .child("source", |s| Ok(CharSource::Unix { mode: s.attr("mode")?, path: s.attr("path")? }))?
                .unwrap_or(CharSource::Unix { path: None, mode: None }),
            "tcp" => {
                let (host, service, mode) =
                    el.req_child("source", |s| Ok((s.attr("host")?, s.req_attr("service")?, s.attr("mode")?)))?;
                CharSource::Tcp { host, service, mode, protocol: el.child("protocol", |p| p.req_attr("type"))? }
            }
            "null" => CharSource::Null,
            other => {
                let known =
                    ["dev", "pipe", "udp", "stdio", "vc", "spicevmc", "spiceport", "nmdm", "qemu-vdagent", "dbus"];
                let msg = if known.contains(&other) {
                    format!("character device type '{other}' is not supported; supported: pty, file, unix, tcp, null")
                } else {
                    format!("'{}' is not one of pty, file, unix, tcp, null", crate::xml::truncate(other))
                };
                return Err(el.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
            }
        })
    }

    fn write_type(&self, w: &mut XmlWriter) {
        w.attr("type", self.type_name());
    }

    fn write_source(&self, w: &mut XmlWriter) {
        match self {
            CharSource::Pty { path: Some(p) } => {
                w.start("source");
                w.attr("path", p);
                w.end();
            }
            CharSource::Pty { path: None } | CharSource::Null => {}
            CharSource::File { path, append } => {
                w.start("source");
                w.attr("path", path);
                w.on_off("append", *append);
                w.end();
            }
            CharSource::Unix { path, mode } => {
                if path.is_some() || mode.is_some() {
                    w.start("source");
                    w.attr_opt("mode", mode.as_ref());
                    w.attr_opt("path", path.as_ref());
                    w.end();
                }
            }
            CharSource::Tcp { host, service, mode, protocol } => {
                w.start("source");
                w.attr_opt("mode", mode.as_ref());
                w.attr_opt("host", host.as_ref());
                w.attr("service", service);
                w.end();
                if let Some(p) = protocol {
                    w.start("protocol");
                    w.attr("type", p.as_str());
                    w.end();
                }
            }
        }
    }
}

/// `<log>`: a copy of the device's output in a file.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CharLog {
    pub file: String,
    pub append: Option<bool>,
}

impl CharLog {
    pub fn new(file: impl Into<String>) -> Self {
        CharLog { file: file.into(), append: None }
    }
}

fn read_log(el: &El<'_, '_>) -> Result<Option<CharLog>> {
    el.child("log", |l| Ok(CharLog { file: l.req_attr("file")?, append: l.on_off("append")? }))
}

fn write_log(w: &mut XmlWriter, log: Option<&CharLog>) {
    if let Some(l) = log {
        w.start("log");
        w.attr("file", &l.file);
        w.on_off("append", l.append);
        w.end();
    }
}

/// A `<serial>` port.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Serial {
    pub source: CharSource,
    pub log: Option<CharLog>,
    pub target_type: Option<SerialTargetType>,
    pub target_port: Option<u32>,
    pub target_model: Option<SerialTargetModel>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Serial {
    pub fn new(source: CharSource) -> Self {
        Serial {
            source,
            log: None,
            target_type: None,
            target_port: None,
            target_model: None,
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Serial> {
        let target = el
            .child("target", |t| Ok((t.attr("type")?, t.attr("port")?, t.child("model", |m| m.req_attr("name"))?)))?
            .unwrap_or((None, None, None));
        Ok(Serial {
            source: CharSource::read(el)?,
            log: read_log(el)?,
            target_type: target.0,
            target_port: target.1,
            target_model: target.2,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("serial");
        self.source.write_type(w);
        self.source.write_source(w);
        write_log(w, self.log.as_ref());
        if self.target_type.is_some() || self.target_port.is_some() || self.target_model.is_some() {
            w.start("target");
            w.attr_opt("type", self.target_type.as_ref());
            w.attr_opt("port", self.target_port.as_ref());
            if let Some(m) = &self.target_model {
                w.start("model");
                w.attr("name", m.as_str());
                w.end();
            }
            w.end();
        }
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

/// A `<console>`: the guest's console, on a serial port or virtio.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Console {
    pub source: CharSource,
    pub log: Option<CharLog>,
    pub target_type: Option<ConsoleTargetType>,
    pub target_port: Option<u32>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Console {
    pub fn new(source: CharSource) -> Self {
        Console { source, log: None, target_type: None, target_port: None, alias: None, address: None }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Console> {
        let target = el.child("target", |t| Ok((t.attr("type")?, t.attr("port")?)))?.unwrap_or((None, None));
        Ok(Console {
            source: CharSource::read(el)?,
            log: read_log(el)?,
            target_type: target.0,
            target_port: target.1,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("console");
        self.source.write_type(w);
        self.source.write_source(w);
        write_log(w, self.log.as_ref());
        if self.target_type.is_some() || self.target_port.is_some() {
            w.start("target");
            w.attr_opt("type", self.target_type.as_ref());
            w.attr_opt("port", self.target_port.as_ref());
            w.end();
        }
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}

/// A `<channel>`: a named virtio-serial port, such as the guest agent's.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Channel {
    pub source: CharSource,
    pub log: Option<CharLog>,
    pub target: ChannelTarget,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

/// The guest side of a channel: a virtio-serial port name.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChannelTarget {
    pub name: Option<String>,
    /// Runtime: whether the guest has the port open.
    pub state: Option<ChannelTargetState>,
}

impl Channel {
    /// A virtio channel named `name` on a unix socket virtkit places.
    pub fn unix(name: impl Into<String>) -> Self {
        Channel {
            source: CharSource::Unix { path: None, mode: Some(SourceMode::Bind) },
            log: None,
            target: ChannelTarget { name: Some(name.into()), state: None },
            alias: None,
            address: None,
        }
    }

    /// The QEMU guest agent's channel.
    pub fn guest_agent() -> Self {
        Channel::unix(GUEST_AGENT_CHANNEL)
    }

    /// Whether this is the guest agent's channel.
    pub fn is_guest_agent(&self) -> bool {
        self.target.name.as_deref() == Some(GUEST_AGENT_CHANNEL)
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Channel> {
        Ok(Channel {
            source: CharSource::read(el)?,
            log: read_log(el)?,
            target: el.req_child("target", |t| {
                let kind = t.raw_attr("type").ok_or_else(|| t.missing_attr("type"))?;
                if kind != "virtio" {
                    let msg = if kind == "guestfwd" || kind == "xen" {
                        format!("channel target type '{kind}' is not supported; supported: virtio")
                    } else {
                        format!("'{}' is not one of virtio", crate::xml::truncate(kind))
                    };
                    return Err(t.attr_error("type", crate::ErrorKind::InvalidValue(msg)));
                }
                Ok(ChannelTarget { name: t.attr("name")?, state: t.attr("state")? })
            })?,
            alias: read_alias(el)?,
            address: read_address(el)?,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("channel");
        self.source.write_type(w);
        self.source.write_source(w);
        write_log(w, self.log.as_ref());
        w.start("target");
        w.attr("type", "virtio");
        w.attr_opt("name", self.target.name.as_ref());
        w.attr_opt("state", self.target.state.as_ref());
        w.end();
        write_alias(w, self.alias.as_ref());
        write_address(w, self.address.as_ref());
        w.end();
    }
}
