//! Character devices: `<serial>`, `<console>` and `<channel>` (the guest
//! agent's among them), which share how their host side is described.

use serde::{Deserialize, Serialize};

use super::seclabel::{DeviceSeclabel, read_seclabels};
use super::{Address, SpiceMouseMode, read_address, read_alias, write_address, write_alias};
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

/// `<reconnect>`: reconnecting a client socket that dropped.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Reconnect {
    pub enabled: bool,
    /// Seconds between attempts.
    pub timeout: Option<u32>,
}

impl Reconnect {
    pub fn after(timeout: u32) -> Self {
        Reconnect { enabled: true, timeout: Some(timeout) }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Reconnect> {
        let enabled = el.yes_no("enabled")?.ok_or_else(|| el.missing_attr("enabled"))?;
        Ok(Reconnect { enabled, timeout: el.attr("timeout")? })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("reconnect");
        w.yes_no("enabled", Some(self.enabled));
        w.attr_opt("timeout", self.timeout.as_ref());
        w.end();
    }
}

/// The host side of a character device (`type=` and `<source>`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CharSource {
    /// Discards output, reads nothing.
    Null,
    /// A virtual console of the hypervisor's own display.
    Vc,
    /// A pseudo-terminal; `path` is the allocated `/dev/pts/N` once running.
    Pty { path: Option<String> },
    /// A host character device (`/dev/ttyS0`).
    Dev { path: String },
    /// Output appended or written to a file.
    File { path: String, append: Option<bool> },
    /// A named pipe (`PATH`, or `PATH.in` and `PATH.out`).
    Pipe { path: String },
    /// The hypervisor's standard input and output.
    Stdio,
    /// UDP: sends to `host:service`, receives on `bind_host:bind_service`.
    Udp { host: Option<String>, service: String, bind_host: Option<String>, bind_service: Option<String> },
    /// A TCP socket.
    Tcp {
        host: Option<String>,
        service: String,
        mode: Option<SourceMode>,
        protocol: Option<TcpProtocol>,
        /// TLS with the host's certificates (`<source tls=…>`).
        tls: Option<bool>,
        reconnect: Option<Reconnect>,
    },
    /// A unix socket; virtkit picks the path when none is given.
    Unix { path: Option<String>, mode: Option<SourceMode>, reconnect: Option<Reconnect> },
    /// A SPICE virtual machine channel (its name comes from the device).
    Spicevmc,
    /// A named SPICE port.
    Spiceport { channel: String },
    /// A FreeBSD null-modem pair.
    Nmdm { master: String, slave: String },
    /// QEMU's own clipboard and mouse agent.
    QemuVdagent { copypaste: Option<bool>, mouse_mode: Option<SpiceMouseMode> },
    /// A D-Bus display channel.
    Dbus { channel: Option<String> },
}

impl CharSource {
    /// The `type=` word.
    pub fn type_name(&self) -> &'static str {
        match self {
            CharSource::Null => "null",
            CharSource::Vc => "vc",
            CharSource::Pty { .. } => "pty",
            CharSource::Dev { .. } => "dev",
            CharSource::File { .. } => "file",
            CharSource::Pipe { .. } => "pipe",
            CharSource::Stdio => "stdio",
            CharSource::Udp { .. } => "udp",
            CharSource::Tcp { .. } => "tcp",
            CharSource::Unix { .. } => "unix",
            CharSource::Spicevmc => "spicevmc",
            CharSource::Spiceport { .. } => "spiceport",
            CharSource::Nmdm { .. } => "nmdm",
            CharSource::QemuVdagent { .. } => "qemu-vdagent",
            CharSource::Dbus { .. } => "dbus",
        }
    }

    /// The host file or socket path, for the types that have one.
    pub fn path(&self) -> Option<&str> {
        match self {
            CharSource::Pty { path } | CharSource::Unix { path, .. } => path.as_deref(),
            CharSource::Dev { path } | CharSource::File { path, .. } | CharSource::Pipe { path } => Some(path),
            _ => None,
        }
    }

    /// Reads `type=`, `<source>` (with its seclabels) and `<protocol>` of
    /// a character device.
    pub(crate) fn read(el: &El<'_, '_>) -> Result<(CharSource, Vec<DeviceSeclabel>)> {
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        let mut labels = Vec::new();
        let mut src = |f: &mut dyn FnMut(&El<'_, '_>) -> Result<CharSource>| -> Result<Option<CharSource>> {
            el.child("source", |s| {
                labels = read_seclabels(s)?;
                f(s)
            })
        };
        if matches!(kind, "null" | "vc" | "stdio" | "spicevmc") {
            // libvirt's schema lets any type have a <source>; these have
            // only seclabels there (which validation refuses for them).
            src(&mut |_| Ok(CharSource::Null))?;
        }
        let source = match kind {
            "null" => CharSource::Null,
            "vc" => CharSource::Vc,
            "stdio" => CharSource::Stdio,
            "spicevmc" => CharSource::Spicevmc,
            "pty" => {
                // Live XML names the allocated terminal in `tty=` as well.
                let tty = el.raw_attr("tty").map(str::to_owned);
                let path = src(&mut |s| Ok(CharSource::Pty { path: s.attr("path")? }))?;
                match path {
                    Some(CharSource::Pty { path: Some(p) }) => CharSource::Pty { path: Some(p) },
                    _ => CharSource::Pty { path: tty },
                }
            }
            "dev" | "pipe" => {
                let dev = kind == "dev";
                src(&mut |s| {
                    let path = s.req_attr("path")?;
                    Ok(if dev { CharSource::Dev { path } } else { CharSource::Pipe { path } })
                })?
                .ok_or_else(|| {
                    el.error(crate::ErrorKind::MissingElement { name: "source".into(), parent: el.name().into() })
                })?
            }
            "file" => src(&mut |s| Ok(CharSource::File { path: s.req_attr("path")?, append: s.on_off("append")? }))?
                .ok_or_else(|| {
                    el.error(crate::ErrorKind::MissingElement { name: "source".into(), parent: el.name().into() })
                })?,
            "unix" => src(&mut |s| {
                Ok(CharSource::Unix {
                    mode: s.attr("mode")?,
                    path: s.attr("path")?,
                    reconnect: s.child("reconnect", Reconnect::read)?,
                })
            })?
            .unwrap_or(CharSource::Unix { path: None, mode: None, reconnect: None }),
            "tcp" => {
                let tcp = src(&mut |s| {
                    Ok(CharSource::Tcp {
                        mode: s.attr("mode")?,
                        host: s.attr("host")?,
                        service: s.req_attr("service")?,
                        tls: s.yes_no("tls")?,
                        reconnect: s.child("reconnect", Reconnect::read)?,
                        protocol: None,
                    })
                })?;
                let Some(CharSource::Tcp { host, service, mode, tls, reconnect, .. }) = tcp else {
                    return Err(
                        el.error(crate::ErrorKind::MissingElement { name: "source".into(), parent: el.name().into() })
                    );
                };
                CharSource::Tcp {
                    host,
                    service,
                    mode,
                    tls,
                    reconnect,
                    protocol: el.child("protocol", |p| p.req_attr("type"))?,
                }
            }
            "udp" => {
                let ends = el.children("source", |s| {
                    Ok((s.attr::<SourceMode>("mode")?, s.attr::<String>("host")?, s.attr::<String>("service")?))
                })?;
                let connect = ends.iter().find(|e| e.0 != Some(SourceMode::Bind));
                let bind = ends.iter().find(|e| e.0 == Some(SourceMode::Bind));
                let service = connect.and_then(|c| c.2.clone()).ok_or_else(|| {
                    el.invalid("a udp character device needs <source mode='connect' service=…> to send to")
                })?;
                CharSource::Udp {
                    host: connect.and_then(|c| c.1.clone()),
                    service,
                    bind_host: bind.and_then(|b| b.1.clone()),
                    bind_service: bind.and_then(|b| b.2.clone()),
                }
            }
            "spiceport" => {
                src(&mut |s| Ok(CharSource::Spiceport { channel: s.req_attr("channel")? }))?.ok_or_else(|| {
                    el.error(crate::ErrorKind::MissingElement { name: "source".into(), parent: el.name().into() })
                })?
            }
            "nmdm" => {
                src(&mut |s| Ok(CharSource::Nmdm { master: s.req_attr("master")?, slave: s.req_attr("slave")? }))?
                    .ok_or_else(|| {
                        el.error(crate::ErrorKind::MissingElement { name: "source".into(), parent: el.name().into() })
                    })?
            }
            "qemu-vdagent" => src(&mut |s| {
                Ok(CharSource::QemuVdagent {
                    copypaste: s.child("clipboard", |c| c.yes_no("copypaste"))?.flatten(),
                    mouse_mode: s.child("mouse", |m| m.req_attr("mode"))?,
                })
            })?
            .unwrap_or(CharSource::QemuVdagent { copypaste: None, mouse_mode: None }),
            "dbus" => src(&mut |s| Ok(CharSource::Dbus { channel: s.attr("channel")? }))?
                .unwrap_or(CharSource::Dbus { channel: None }),
            other => {
                return Err(el.attr_error(
                    "type",
                    crate::ErrorKind::InvalidValue(format!(
                        "'{}' is not one of null, vc, pty, dev, file, pipe, stdio, udp, tcp, unix, spicevmc, spiceport, nmdm, qemu-vdagent, dbus",
                        crate::xml::truncate(other)
                    )),
                ));
            }
        };
        Ok((source, labels))
    }

    pub(crate) fn write_type(&self, w: &mut XmlWriter) {
        w.attr("type", self.type_name());
    }

    /// `<source>` (and `<protocol>`), with the seclabels inside it.
    pub(crate) fn write_source(&self, w: &mut XmlWriter, labels: &[DeviceSeclabel]) {
        let start = |w: &mut XmlWriter| w.start("source");
        let end = |w: &mut XmlWriter| {
            labels.iter().for_each(|l| l.write(w));
            w.end();
        };
        match self {
            CharSource::Null
            | CharSource::Vc
            | CharSource::Stdio
            | CharSource::Spicevmc
            | CharSource::Pty { path: None } => {
                if !labels.is_empty() {
                    start(w);
                    end(w);
                }
            }
            CharSource::Pty { path: Some(p) } | CharSource::Dev { path: p } | CharSource::Pipe { path: p } => {
                start(w);
                w.attr("path", p);
                end(w);
            }
            CharSource::File { path, append } => {
                start(w);
                w.attr("path", path);
                w.on_off("append", *append);
                end(w);
            }
            CharSource::Unix { path, mode, reconnect } => {
                if path.is_some() || mode.is_some() || reconnect.is_some() || !labels.is_empty() {
                    start(w);
                    w.attr_opt("mode", mode.as_ref());
                    w.attr_opt("path", path.as_ref());
                    if let Some(r) = reconnect {
                        r.write(w);
                    }
                    end(w);
                }
            }
            CharSource::Tcp { host, service, mode, protocol, tls, reconnect } => {
                start(w);
                w.attr_opt("mode", mode.as_ref());
                w.attr_opt("host", host.as_ref());
                w.attr("service", service);
                w.yes_no("tls", *tls);
                if let Some(r) = reconnect {
                    r.write(w);
                }
                end(w);
                if let Some(p) = protocol {
                    w.start("protocol");
                    w.attr("type", p.as_str());
                    w.end();
                }
            }
            CharSource::Udp { host, service, bind_host, bind_service } => {
                if bind_host.is_some() || bind_service.is_some() {
                    w.start("source");
                    w.attr("mode", "bind");
                    w.attr_opt("host", bind_host.as_ref());
                    w.attr_opt("service", bind_service.as_ref());
                    w.end();
                }
                start(w);
                w.attr("mode", "connect");
                w.attr_opt("host", host.as_ref());
                w.attr("service", service);
                end(w);
            }
            CharSource::Spiceport { channel } => {
                start(w);
                w.attr("channel", channel);
                end(w);
            }
            CharSource::Nmdm { master, slave } => {
                start(w);
                w.attr("master", master);
                w.attr("slave", slave);
                end(w);
            }
            CharSource::QemuVdagent { copypaste, mouse_mode } => {
                if copypaste.is_some() || mouse_mode.is_some() || !labels.is_empty() {
                    start(w);
                    if let Some(c) = copypaste {
                        w.start("clipboard");
                        w.yes_no("copypaste", Some(*c));
                        w.end();
                    }
                    if let Some(m) = mouse_mode {
                        w.start("mouse");
                        w.attr("mode", m.as_str());
                        w.end();
                    }
                    end(w);
                }
            }
            CharSource::Dbus { channel } => {
                if channel.is_some() || !labels.is_empty() {
                    start(w);
                    w.attr_opt("channel", channel.as_ref());
                    end(w);
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
    /// Security labels of the source's host file or device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seclabels: Vec<DeviceSeclabel>,
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
            seclabels: Vec::new(),
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
        let (source, seclabels) = CharSource::read(el)?;
        Ok(Serial {
            source,
            seclabels,
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
        self.source.write_source(w, &self.seclabels);
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
    /// Security labels of the source's host file or device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seclabels: Vec<DeviceSeclabel>,
    pub log: Option<CharLog>,
    pub target_type: Option<ConsoleTargetType>,
    pub target_port: Option<u32>,
    pub alias: Option<String>,
    pub address: Option<Address>,
}

impl Console {
    pub fn new(source: CharSource) -> Self {
        Console {
            source,
            seclabels: Vec::new(),
            log: None,
            target_type: None,
            target_port: None,
            alias: None,
            address: None,
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Console> {
        let target = el.child("target", |t| Ok((t.attr("type")?, t.attr("port")?)))?.unwrap_or((None, None));
        let (source, seclabels) = CharSource::read(el)?;
        Ok(Console {
            source,
            seclabels,
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
        self.source.write_source(w, &self.seclabels);
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
    /// Security labels of the source's host file or device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seclabels: Vec<DeviceSeclabel>,
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
            source: CharSource::Unix { path: None, mode: Some(SourceMode::Bind), reconnect: None },
            seclabels: Vec::new(),
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
        let (source, seclabels) = CharSource::read(el)?;
        Ok(Channel {
            source,
            seclabels,
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
        self.source.write_source(w, &self.seclabels);
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
