//! The driver's side of displays: the port an automatic SPICE display gets,
//! passwords and their expiry set over QMP once QEMU runs, and the ports
//! shown in the live definition.

use serde_json::json;
use virtkit_model::domain::Domain;
use virtkit_model::domain::devices::{Graphics, GraphicsConnected, GraphicsListen};

use crate::qmp::{Qmp, QmpError};

/// A free TCP port on the address an automatic SPICE display listens on
/// (QEMU's SPICE server has no range to search itself, unlike VNC).
pub(crate) fn pick_spice_port(def: &Domain) -> std::io::Result<Option<u16>> {
    for g in &def.devices.graphics {
        let Graphics::Spice(s) = g else { continue };
        let addr = match s.listens.first() {
            Some(GraphicsListen::Address { address }) => address.clone().or_else(|| s.listen.clone()),
            None => s.listen.clone(),
            Some(_) => continue,
        };
        if s.port.is_some_and(|p| p > 0) && s.autoport != Some(true) {
            continue;
        }
        let addr = addr.unwrap_or_else(|| "127.0.0.1".into());
        let l = std::net::TcpListener::bind((addr.as_str(), 0))?;
        return Ok(Some(l.local_addr()?.port()));
    }
    Ok(None)
}

/// The SPICE port chosen, written into the live definition.
pub(crate) fn show_port(live: &mut Domain, port: Option<u16>) {
    let Some(port) = port else { return };
    for g in &mut live.devices.graphics {
        if let Graphics::Spice(s) = g
            && (s.port.is_none_or(|p| p <= 0) || s.autoport == Some(true))
        {
            s.port = Some(i32::from(port));
        }
    }
}

/// Sets each display's password (and when it expires) over QMP.
pub(crate) async fn set_passwords(qmp: &Qmp, def: &Domain) -> Result<(), QmpError> {
    for g in &def.devices.graphics {
        let (protocol, passwd, valid_to, connected) = match g {
            Graphics::Vnc(v) => ("vnc", &v.passwd, &v.passwd_valid_to, v.connected),
            Graphics::Spice(s) => ("spice", &s.passwd, &s.passwd_valid_to, s.connected),
            _ => continue,
        };
        let Some(p) = passwd else { continue };
        let mut args = json!({ "protocol": protocol, "password": p });
        if let Some(c) = connected.filter(|c| *c != GraphicsConnected::Keep || protocol == "spice") {
            args["connected"] = json!(c.as_str());
        }
        qmp.execute("set_password", Some(args)).await?;
        if let Some(t) = valid_to.as_deref().and_then(epoch_seconds) {
            qmp.execute("expire_password", Some(json!({ "protocol": protocol, "time": t.to_string() }))).await?;
        }
    }
    Ok(())
}

/// An XML Schema dateTime (`2011-05-31T16:11:22`, optionally with a
/// fraction and a zone; no zone is UTC, as libvirt reads it) in seconds
/// since the epoch.
pub(crate) fn epoch_seconds(t: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = t.get(19..)?;
    let rest = rest.strip_prefix('.').map_or(rest, |r| r.trim_start_matches(|c: char| c.is_ascii_digit()));
    let offset = match rest {
        "" | "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (z.get(1..3)?.parse::<i64>().ok()? * 3600 + z.get(4..6)?.parse::<i64>().ok()? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_epoch_seconds() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00"), Some(0));
        assert_eq!(epoch_seconds("2011-05-31T16:11:22"), Some(1_306_858_282));
        assert_eq!(epoch_seconds("2011-05-31T18:11:22.5+02:00"), Some(1_306_858_282));
        assert_eq!(epoch_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(epoch_seconds("yesterday"), None);
    }
}
