//! `<graphics>`: how the guest's display is shown (VNC, SPICE, SDL, D-Bus,
//! EGL headless, RDP, a desktop window).

use serde::{Deserialize, Serialize};

use crate::values::xml_enum;
use crate::xml::reader::{El, Result};
use crate::xml::writer::XmlWriter;

xml_enum! {
    pub enum SharePolicy {
        AllowExclusive = "allow-exclusive",
        ForceShared = "force-shared",
        Ignore = "ignore",
    }
}

xml_enum! {
    /// What happens to connected clients when the password changes.
    pub enum GraphicsConnected {
        Fail = "fail",
        Disconnect = "disconnect",
        Keep = "keep",
    }
}

xml_enum! {
    /// Whether a SPICE channel runs over TLS.
    pub enum SpiceChannelMode {
        Any = "any",
        Secure = "secure",
        Insecure = "insecure",
    }
}

xml_enum! {
    pub enum SpiceChannelName {
        Main = "main",
        Display = "display",
        Inputs = "inputs",
        Cursor = "cursor",
        Playback = "playback",
        Record = "record",
        Smartcard = "smartcard",
        Usbredir = "usbredir",
    }
}

xml_enum! {
    pub enum SpiceImageCompression {
        AutoGlz = "auto_glz",
        AutoLz = "auto_lz",
        Quic = "quic",
        Glz = "glz",
        Lz = "lz",
        Off = "off",
    }
}

xml_enum! {
    /// JPEG and zlib compression over slow links.
    pub enum SpiceWanCompression {
        Auto = "auto",
        Never = "never",
        Always = "always",
    }
}

xml_enum! {
    pub enum SpiceStreamingMode {
        Filter = "filter",
        All = "all",
        Off = "off",
    }
}

xml_enum! {
    pub enum SpiceMouseMode {
        Server = "server",
        Client = "client",
    }
}

/// A `<graphics>` device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Graphics {
    Vnc(Vnc),
    Spice(Spice),
    Sdl(Sdl),
    Rdp(Rdp),
    Desktop(Desktop),
    EglHeadless(EglHeadless),
    Dbus(DbusDisplay),
}

/// A VNC server for the guest's display.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Vnc {
    /// TCP port; -1 (with autoport) picks one.
    pub port: Option<i32>,
    pub autoport: Option<bool>,
    pub websocket: Option<i32>,
    /// Address to listen on (the legacy attribute; see `listens`).
    pub listen: Option<String>,
    /// A unix socket instead of TCP.
    pub socket: Option<String>,
    pub passwd: Option<String>,
    pub passwd_valid_to: Option<String>,
    pub connected: Option<GraphicsConnected>,
    pub keymap: Option<String>,
    pub share_policy: Option<SharePolicy>,
    /// Let the client power the guest off, reboot or reset it.
    pub power_control: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listens: Vec<GraphicsListen>,
    /// The `<audio>` backend whose sound goes to the client.
    pub audio: Option<u8>,
}

/// A SPICE server for the guest's display, sound, USB and smartcards.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Spice {
    /// Plain TCP port; -1 (with autoport) picks one.
    pub port: Option<i32>,
    /// TLS port; -1 (with autoport) picks one.
    pub tls_port: Option<i32>,
    pub autoport: Option<bool>,
    /// Address to listen on (the legacy attribute; see `listens`).
    pub listen: Option<String>,
    pub keymap: Option<String>,
    /// Whether channels not named in `channels` use TLS.
    pub default_mode: Option<SpiceChannelMode>,
    pub passwd: Option<String>,
    /// Until when (`2011-05-31T16:11:22`, XML Schema's dateTime).
    pub passwd_valid_to: Option<String>,
    pub connected: Option<GraphicsConnected>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listens: Vec<GraphicsListen>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<SpiceChannel>,
    pub image_compression: Option<SpiceImageCompression>,
    pub jpeg_compression: Option<SpiceWanCompression>,
    pub zlib_compression: Option<SpiceWanCompression>,
    pub playback_compression: Option<bool>,
    pub streaming_mode: Option<SpiceStreamingMode>,
    /// Copy and paste between client and guest.
    pub clipboard_copypaste: Option<bool>,
    pub mouse_mode: Option<SpiceMouseMode>,
    /// File transfer from client to guest.
    pub filetransfer_enable: Option<bool>,
    pub gl: Option<GraphicsGl>,
}

/// `<channel>` of a SPICE display: one channel's TLS mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SpiceChannel {
    pub name: SpiceChannelName,
    pub mode: SpiceChannelMode,
}

impl SpiceChannel {
    pub fn new(name: SpiceChannelName, mode: SpiceChannelMode) -> Self {
        SpiceChannel { name, mode }
    }
}

/// `<gl>`: OpenGL acceleration of a display.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GraphicsGl {
    /// Required for SPICE and SDL; egl-headless has only a rendernode.
    pub enable: Option<bool>,
    /// The DRM render node (`/dev/dri/renderD128`).
    pub rendernode: Option<String>,
}

/// A window on the host's X display (SDL).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sdl {
    pub display: Option<String>,
    pub xauth: Option<String>,
    pub fullscreen: Option<bool>,
    pub gl: Option<GraphicsGl>,
}

/// An RDP server (VirtualBox's).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rdp {
    pub port: Option<i32>,
    pub autoport: Option<bool>,
    pub replace_user: Option<bool>,
    pub multi_user: Option<bool>,
    pub listen: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listens: Vec<GraphicsListen>,
}

/// A window on the host's desktop (VirtualBox's).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Desktop {
    pub display: Option<String>,
    pub fullscreen: Option<bool>,
}

/// Rendering with OpenGL on the host, with no display of its own (for
/// another display, VNC or SPICE, to show).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EglHeadless {
    pub gl: Option<GraphicsGl>,
}

/// The display exported on D-Bus.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DbusDisplay {
    /// The bus to export on (`unix:path=…`); the session bus when unset.
    pub address: Option<String>,
    /// Peer to peer: clients connect through the monitor.
    pub p2p: Option<bool>,
    pub gl: Option<GraphicsGl>,
    /// The `<audio>` backend whose sound goes over D-Bus.
    pub audio: Option<u8>,
}

/// A `<listen>` of a graphics device.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum GraphicsListen {
    Address { address: Option<String> },
    Network { network: String, address: Option<String> },
    Socket { socket: Option<String> },
    None,
}

impl GraphicsListen {
    fn read(l: &El<'_, '_>) -> Result<GraphicsListen> {
        let kind = l.raw_attr("type").ok_or_else(|| l.missing_attr("type"))?;
        Ok(match kind {
            "address" => GraphicsListen::Address { address: l.attr("address")? },
            "network" => GraphicsListen::Network { network: l.req_attr("network")?, address: l.attr("address")? },
            "socket" => GraphicsListen::Socket { socket: l.attr("socket")? },
            "none" => GraphicsListen::None,
            other => {
                return Err(l.attr_error(
                    "type",
                    crate::ErrorKind::InvalidValue(format!(
                        "'{}' is not one of address, network, socket, none",
                        crate::xml::truncate(other)
                    )),
                ));
            }
        })
    }

    fn write(&self, w: &mut XmlWriter) {
        w.start("listen");
        match self {
            GraphicsListen::Address { address } => {
                w.attr("type", "address");
                w.attr_opt("address", address.as_ref());
            }
            GraphicsListen::Network { network, address } => {
                w.attr("type", "network");
                w.attr("network", network);
                w.attr_opt("address", address.as_ref());
            }
            GraphicsListen::Socket { socket } => {
                w.attr("type", "socket");
                w.attr_opt("socket", socket.as_ref());
            }
            GraphicsListen::None => w.attr("type", "none"),
        }
        w.end();
    }
}

fn read_gl(el: &El<'_, '_>) -> Result<Option<GraphicsGl>> {
    el.child("gl", |g| Ok(GraphicsGl { enable: g.yes_no("enable")?, rendernode: g.attr("rendernode")? }))
}

fn write_gl(w: &mut XmlWriter, gl: Option<&GraphicsGl>) {
    if let Some(g) = gl {
        w.start("gl");
        w.yes_no("enable", g.enable);
        w.attr_opt("rendernode", g.rendernode.as_ref());
        w.end();
    }
}

fn read_audio(el: &El<'_, '_>) -> Result<Option<u8>> {
    el.child("audio", |a| a.req_attr("id"))
}

fn write_audio(w: &mut XmlWriter, id: Option<u8>) {
    if let Some(id) = id {
        w.start("audio");
        w.attr_val("id", &id);
        w.end();
    }
}

/// `<name attr='value'/>`, when set.
fn write_setting(w: &mut XmlWriter, name: &str, attr: &str, value: Option<&str>) {
    if let Some(v) = value {
        w.start(name);
        w.attr(attr, v);
        w.end();
    }
}

impl Graphics {
    /// VNC on an automatically chosen port of `listen`.
    pub fn vnc(listen: impl Into<String>) -> Self {
        let listen = listen.into();
        Graphics::Vnc(Vnc {
            port: Some(-1),
            autoport: Some(true),
            listens: vec![GraphicsListen::Address { address: Some(listen) }],
            ..Default::default()
        })
    }

    /// SPICE on an automatically chosen port of `listen`.
    pub fn spice(listen: impl Into<String>) -> Self {
        Graphics::Spice(Spice {
            autoport: Some(true),
            listens: vec![GraphicsListen::Address { address: Some(listen.into()) }],
            ..Default::default()
        })
    }

    /// The `type=` word.
    pub fn type_name(&self) -> &'static str {
        match self {
            Graphics::Vnc(_) => "vnc",
            Graphics::Spice(_) => "spice",
            Graphics::Sdl(_) => "sdl",
            Graphics::Rdp(_) => "rdp",
            Graphics::Desktop(_) => "desktop",
            Graphics::EglHeadless(_) => "egl-headless",
            Graphics::Dbus(_) => "dbus",
        }
    }

    /// The `<listen>` children, for the types that have them.
    pub fn listens(&self) -> &[GraphicsListen] {
        match self {
            Graphics::Vnc(v) => &v.listens,
            Graphics::Spice(s) => &s.listens,
            Graphics::Rdp(r) => &r.listens,
            _ => &[],
        }
    }

    pub(crate) fn read(el: &El<'_, '_>) -> Result<Graphics> {
        let kind = el.raw_attr("type").ok_or_else(|| el.missing_attr("type"))?;
        let listens = |el: &El<'_, '_>| el.children("listen", GraphicsListen::read);
        Ok(match kind {
            "vnc" => Graphics::Vnc(Vnc {
                port: el.attr("port")?,
                autoport: el.yes_no("autoport")?,
                websocket: el.attr("websocket")?,
                listen: el.attr("listen")?,
                socket: el.attr("socket")?,
                passwd: el.attr("passwd")?,
                passwd_valid_to: el.attr("passwdValidTo")?,
                connected: el.attr("connected")?,
                keymap: el.attr("keymap")?,
                share_policy: el.attr("sharePolicy")?,
                power_control: el.yes_no("powerControl")?,
                listens: listens(el)?,
                audio: read_audio(el)?,
            }),
            "spice" => Graphics::Spice(Spice {
                port: el.attr("port")?,
                tls_port: el.attr("tlsPort")?,
                autoport: el.yes_no("autoport")?,
                listen: el.attr("listen")?,
                keymap: el.attr("keymap")?,
                default_mode: el.attr("defaultMode")?,
                passwd: el.attr("passwd")?,
                passwd_valid_to: el.attr("passwdValidTo")?,
                connected: el.attr("connected")?,
                listens: listens(el)?,
                channels: el.children("channel", |c| {
                    Ok(SpiceChannel { name: c.req_attr("name")?, mode: c.req_attr("mode")? })
                })?,
                image_compression: el.child("image", |c| c.req_attr("compression"))?,
                jpeg_compression: el.child("jpeg", |c| c.req_attr("compression"))?,
                zlib_compression: el.child("zlib", |c| c.req_attr("compression"))?,
                playback_compression: el.child("playback", |c| c.on_off("compression"))?.flatten(),
                streaming_mode: el.child("streaming", |c| c.req_attr("mode"))?,
                clipboard_copypaste: el.child("clipboard", |c| c.yes_no("copypaste"))?.flatten(),
                mouse_mode: el.child("mouse", |c| c.req_attr("mode"))?,
                filetransfer_enable: el.child("filetransfer", |c| c.yes_no("enable"))?.flatten(),
                gl: read_gl(el)?,
            }),
            "sdl" => Graphics::Sdl(Sdl {
                display: el.attr("display")?,
                xauth: el.attr("xauth")?,
                fullscreen: el.yes_no("fullscreen")?,
                gl: read_gl(el)?,
            }),
            "rdp" => Graphics::Rdp(Rdp {
                port: el.attr("port")?,
                autoport: el.yes_no("autoport")?,
                replace_user: el.yes_no("replaceUser")?,
                multi_user: el.yes_no("multiUser")?,
                listen: el.attr("listen")?,
                listens: listens(el)?,
            }),
            "desktop" => {
                Graphics::Desktop(Desktop { display: el.attr("display")?, fullscreen: el.yes_no("fullscreen")? })
            }
            "egl-headless" => Graphics::EglHeadless(EglHeadless { gl: read_gl(el)? }),
            "dbus" => Graphics::Dbus(DbusDisplay {
                address: el.attr("address")?,
                p2p: el.yes_no("p2p")?,
                gl: read_gl(el)?,
                audio: read_audio(el)?,
            }),
            other => {
                return Err(el.attr_error(
                    "type",
                    crate::ErrorKind::InvalidValue(format!(
                        "'{}' is not one of vnc, spice, sdl, rdp, desktop, egl-headless, dbus",
                        crate::xml::truncate(other)
                    )),
                ));
            }
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start("graphics");
        w.attr("type", self.type_name());
        match self {
            Graphics::Vnc(v) => {
                w.attr_opt("port", v.port.as_ref());
                w.yes_no("autoport", v.autoport);
                w.attr_opt("websocket", v.websocket.as_ref());
                w.attr_opt("listen", v.listen.as_ref());
                w.attr_opt("sharePolicy", v.share_policy.as_ref());
                w.yes_no("powerControl", v.power_control);
                w.attr_opt("socket", v.socket.as_ref());
                w.attr_opt("passwd", v.passwd.as_ref());
                w.attr_opt("passwdValidTo", v.passwd_valid_to.as_ref());
                w.attr_opt("connected", v.connected.as_ref());
                w.attr_opt("keymap", v.keymap.as_ref());
                v.listens.iter().for_each(|l| l.write(w));
                write_audio(w, v.audio);
            }
            Graphics::Spice(s) => {
                w.attr_opt("port", s.port.as_ref());
                w.attr_opt("tlsPort", s.tls_port.as_ref());
                w.yes_no("autoport", s.autoport);
                w.attr_opt("listen", s.listen.as_ref());
                w.attr_opt("keymap", s.keymap.as_ref());
                w.attr_opt("defaultMode", s.default_mode.as_ref());
                w.attr_opt("passwd", s.passwd.as_ref());
                w.attr_opt("passwdValidTo", s.passwd_valid_to.as_ref());
                w.attr_opt("connected", s.connected.as_ref());
                s.listens.iter().for_each(|l| l.write(w));
                for c in &s.channels {
                    w.start("channel");
                    w.attr("name", c.name.as_str());
                    w.attr("mode", c.mode.as_str());
                    w.end();
                }
                write_setting(w, "image", "compression", s.image_compression.map(|c| c.as_str()));
                write_setting(w, "jpeg", "compression", s.jpeg_compression.map(|c| c.as_str()));
                write_setting(w, "zlib", "compression", s.zlib_compression.map(|c| c.as_str()));
                write_setting(w, "playback", "compression", s.playback_compression.map(crate::xml::on_off));
                write_setting(w, "streaming", "mode", s.streaming_mode.map(|c| c.as_str()));
                write_setting(w, "clipboard", "copypaste", s.clipboard_copypaste.map(crate::xml::yes_no));
                write_setting(w, "mouse", "mode", s.mouse_mode.map(|c| c.as_str()));
                write_setting(w, "filetransfer", "enable", s.filetransfer_enable.map(crate::xml::yes_no));
                write_gl(w, s.gl.as_ref());
            }
            Graphics::Sdl(s) => {
                w.attr_opt("display", s.display.as_ref());
                w.attr_opt("xauth", s.xauth.as_ref());
                w.yes_no("fullscreen", s.fullscreen);
                write_gl(w, s.gl.as_ref());
            }
            Graphics::Rdp(r) => {
                w.attr_opt("port", r.port.as_ref());
                w.yes_no("autoport", r.autoport);
                w.yes_no("replaceUser", r.replace_user);
                w.yes_no("multiUser", r.multi_user);
                w.attr_opt("listen", r.listen.as_ref());
                r.listens.iter().for_each(|l| l.write(w));
            }
            Graphics::Desktop(d) => {
                w.attr_opt("display", d.display.as_ref());
                w.yes_no("fullscreen", d.fullscreen);
            }
            Graphics::EglHeadless(e) => write_gl(w, e.gl.as_ref()),
            Graphics::Dbus(d) => {
                w.attr_opt("address", d.address.as_ref());
                w.yes_no("p2p", d.p2p);
                write_gl(w, d.gl.as_ref());
                write_audio(w, d.audio);
            }
        }
        w.end();
    }
}
