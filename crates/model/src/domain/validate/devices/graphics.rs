//! Checks of `<graphics>`.

use super::super::{idx, is_address_or_name};
use super::Checks;
use crate::domain::devices::{Devices, Graphics, GraphicsConnected, GraphicsGl, GraphicsListen};
use crate::xml::truncate;

pub(super) fn graphics(k: &mut Checks<'_>, d: &Devices) {
    let n = d.graphics.len();
    for (i, g) in d.graphics.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("graphics", i, n));
        match g {
            Graphics::Vnc(vnc) => {
                ports(k, &p, &[("port", vnc.port), ("websocket", vnc.websocket)]);
                if let Some(sock) = &vnc.socket {
                    k.abs(format!("{p}/@socket"), sock);
                    let tcp = [
                        ("port", vnc.port.is_some()),
                        ("autoport", vnc.autoport.is_some()),
                        ("websocket", vnc.websocket.is_some()),
                        ("listen", vnc.listen.is_some()),
                        ("sharePolicy", vnc.share_policy.is_some()),
                        ("powerControl", vnc.power_control.is_some()),
                    ];
                    for (attr, _) in tcp.iter().filter(|(_, set)| *set) {
                        k.invalid(format!("{p}/@{attr}"), "not allowed with a socket: VNC listens on one or the other");
                    }
                }
                if vnc.connected.is_some_and(|c| c != GraphicsConnected::Keep) {
                    k.value(format!("{p}/@connected"), "VNC keeps connected clients: 'keep' is the only choice");
                }
                valid_to(k, &p, vnc.passwd_valid_to.as_deref());
                listens(k, &p, vnc.listen.as_deref(), &vnc.listens);
                k.audio_ref(&p, vnc.audio);
            }
            Graphics::Spice(s) => {
                ports(k, &p, &[("port", s.port), ("tlsPort", s.tls_port)]);
                valid_to(k, &p, s.passwd_valid_to.as_deref());
                listens(k, &p, s.listen.as_deref(), &s.listens);
                let mut seen = Vec::new();
                let nc = s.channels.len();
                for (j, c) in s.channels.iter().enumerate() {
                    if seen.contains(&c.name) {
                        k.invalid(
                            format!("{p}/{}/@name", idx("channel", j, nc)),
                            format!("channel '{}' is given twice", c.name),
                        );
                    }
                    seen.push(c.name);
                }
                gl(k, &p, s.gl.as_ref(), true);
            }
            Graphics::Sdl(s) => {
                if let Some(x) = &s.xauth {
                    k.abs(format!("{p}/@xauth"), x);
                }
                if s.gl.as_ref().is_some_and(|g| g.rendernode.is_some()) {
                    k.invalid(
                        format!("{p}/gl/@rendernode"),
                        "SDL renders on the X display's GPU: its <gl> has no rendernode",
                    );
                }
                gl(k, &p, s.gl.as_ref(), true);
            }
            Graphics::Rdp(r) => {
                ports(k, &p, &[("port", r.port)]);
                listens(k, &p, r.listen.as_deref(), &r.listens);
            }
            Graphics::Desktop(_) => {}
            Graphics::EglHeadless(e) => {
                if e.gl.as_ref().is_some_and(|g| g.enable.is_some()) {
                    k.invalid(format!("{p}/gl/@enable"), "egl-headless is OpenGL: its <gl> has only a rendernode");
                }
                gl(k, &p, e.gl.as_ref(), false);
            }
            Graphics::Dbus(db) => {
                if let Some(a) = &db.address {
                    k.one_line(format!("{p}/@address"), a);
                    if db.p2p.is_some() {
                        k.invalid(format!("{p}/@p2p"), "a D-Bus display is on a bus address or peer to peer, not both");
                    }
                }
                gl(k, &p, db.gl.as_ref(), true);
                k.audio_ref(&p, db.audio);
            }
        }
    }
}

fn ports(k: &mut Checks<'_>, p: &str, ports: &[(&str, Option<i32>)]) {
    for (attr, port) in ports {
        if port.is_some_and(|x| !(-1..=65535).contains(&x)) {
            k.value(format!("{p}/@{attr}"), "a port is -1 (automatic) to 65535");
        }
    }
}

/// XML Schema's dateTime, as libvirt writes it: `2011-05-31T16:11:22`
/// (fractions of a second and a zone allowed).
fn valid_to(k: &mut Checks<'_>, p: &str, t: Option<&str>) {
    let Some(t) = t else { return };
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let base = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let field = |r: std::ops::Range<usize>| t.get(r).and_then(|f| f.parse::<u32>().ok()).unwrap_or(u32::MAX);
    let (mo, d, h, mi, sec) = (field(5..7), field(8..10), field(11..13), field(14..16), field(17..19));
    let base = base && (1..=12).contains(&mo) && (1..=31).contains(&d) && h <= 23 && mi <= 59 && sec <= 59;
    let rest = t.get(19..).unwrap_or("");
    let rest = rest.strip_prefix('.').map_or(rest, |r| r.trim_start_matches(|c: char| c.is_ascii_digit()));
    let zone = rest.is_empty()
        || rest == "Z"
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && &rest[3..4] == ":"
            && rest[1..3]
                .parse::<u32>()
                .ok()
                .zip(rest[4..].parse::<u32>().ok())
                .is_some_and(|(h, m)| h * 60 + m <= 14 * 60 && m <= 59));
    if !(base && zone) {
        k.value(
            format!("{p}/@passwdValidTo"),
            format!("'{}' is not a date and time like 2011-05-31T16:11:22", truncate(t)),
        );
    }
}

/// The legacy `listen` attribute and the `<listen>` elements.
fn listens(k: &mut Checks<'_>, p: &str, listen: Option<&str>, listens: &[GraphicsListen]) {
    if let Some(l) = listen {
        if !is_address_or_name(l) {
            k.value(format!("{p}/@listen"), format!("'{}' is not an IP address or host name", truncate(l)));
        } else if let Some(GraphicsListen::Address { address: Some(a) }) = listens.first()
            && a != l
        {
            k.invalid(format!("{p}/@listen"), format!("'{l}' differs from the first <listen>'s address '{a}'"));
        }
    }
    let nl = listens.len();
    for (j, l) in listens.iter().enumerate() {
        let lp = format!("{p}/{}", idx("listen", j, nl));
        match l {
            GraphicsListen::Socket { socket } => k.opt_abs(format!("{lp}/@socket"), socket.as_deref()),
            GraphicsListen::Network { network, .. } if network.is_empty() || network.contains('/') => {
                k.value(format!("{lp}/@network"), format!("'{}' is not a network name", truncate(network)));
            }
            GraphicsListen::Address { address: Some(a) } | GraphicsListen::Network { address: Some(a), .. }
                if !is_address_or_name(a) =>
            {
                k.value(format!("{lp}/@address"), format!("'{}' is not an IP address or host name", truncate(a)));
            }
            _ => {}
        }
    }
}

/// `<gl>`: `enable` is required where the display has it, the render node
/// is an absolute path.
fn gl(k: &mut Checks<'_>, p: &str, gl: Option<&GraphicsGl>, has_enable: bool) {
    let Some(g) = gl else { return };
    if has_enable && g.enable.is_none() {
        k.invalid(format!("{p}/gl"), "missing attribute 'enable' on <gl>");
    }
    if let Some(r) = &g.rendernode {
        k.abs(format!("{p}/gl/@rendernode"), r);
    }
}
