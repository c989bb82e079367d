//! USB redirection (and its filter), hubs and smartcard readers.

use serde_json::{Map, Value, json};
use virtkit_model::domain::devices::{Address, RedirFilter, SmartcardMode, UsbFilterRule};

use super::chardev::{CharHost, chardev};
use super::{ArgvError, Builder, unsupported};

/// A USB id or class for the filter (`-1` for any).
fn filter_id(v: Option<&String>) -> String {
    match v.map(String::as_str) {
        None | Some("-1") => "-1".to_owned(),
        Some(v) if v.starts_with("0x") || v.starts_with("0X") => v.to_owned(),
        Some(v) => format!("0x{v}"),
    }
}

/// A device release (`1.10`, `9.4`) as BCD (`0x0110`, `0x0940`).
fn filter_version(v: Option<&String>) -> String {
    match v.map(String::as_str) {
        None | Some("-1") => "-1".to_owned(),
        Some(v) => {
            let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
            format!("0x{major:0>2}{minor:0<2}")
        }
    }
}

/// QEMU's usb-redir filter: `class:vendor:product:version:allow|…`.
fn filter(f: &RedirFilter) -> String {
    let rule = |r: &UsbFilterRule| {
        format!(
            "{}:{}:{}:{}:{}",
            filter_id(r.class.as_ref()),
            filter_id(r.vendor.as_ref()),
            filter_id(r.product.as_ref()),
            filter_version(r.version.as_ref()),
            u8::from(r.allow)
        )
    };
    f.rules.iter().map(rule).collect::<Vec<_>>().join("|")
}

pub(super) fn usb_args(b: &mut Builder<'_>) -> Result<(), ArgvError> {
    let d = &b.def.devices;
    let hubs = &d.hubs;
    for (i, h) in hubs.iter().enumerate() {
        let path = super::idx_path("hub", i, hubs.len());
        let mut props = Map::new();
        props.insert("driver".into(), json!("usb-hub"));
        props.insert("id".into(), json!(format!("hub{i}")));
        b.usb_addr(&mut props, h.address.as_ref(), &path)?;
        b.device(Value::Object(props));
    }
    let redirs = &d.redirdevs;
    if d.redirfilter.is_some() && redirs.is_empty() {
        return Err(unsupported(
            "/domain/devices/redirfilter",
            "a USB redirection filter needs a <redirdev> to filter",
        ));
    }
    for (i, r) in redirs.iter().enumerate() {
        let path = super::idx_path("redirdev", i, redirs.len());
        let chr = format!("charredir{i}");
        let sock = b.ctx.run_dir.join(format!("redir{i}.sock"));
        let host = CharHost {
            source: &r.source,
            seclabels: &r.seclabels,
            log: None,
            path: &path,
            default_socket: &sock,
            spicevmc: "usbredir",
        };
        let spec = chardev(b, &chr, &host)?;
        b.opt("-chardev", spec);
        if !b.ctx.has("usb-redir") {
            return Err(unsupported(&path, "this QEMU has no usb-redir device"));
        }
        let mut props = Map::new();
        props.insert("driver".into(), json!("usb-redir"));
        props.insert("chardev".into(), json!(chr));
        props.insert("id".into(), json!(format!("redir{i}")));
        b.usb_addr(&mut props, r.address.as_ref(), &path)?;
        if let Some(f) = &d.redirfilter {
            props.insert("filter".into(), json!(filter(f)));
        }
        if let Some(boot) = &r.boot {
            props.insert("bootindex".into(), json!(boot.order));
        }
        b.device(Value::Object(props));
    }
    let cards = &d.smartcards;
    for (i, c) in cards.iter().enumerate() {
        let path = super::idx_path("smartcard", i, cards.len());
        let mut props = Map::new();
        match &c.mode {
            SmartcardMode::Host => {
                props.insert("driver".into(), json!("ccid-card-emulated"));
                props.insert("backend".into(), json!("nss-emulated"));
            }
            SmartcardMode::HostCertificates { certificates, database } => {
                props.insert("driver".into(), json!("ccid-card-emulated"));
                props.insert("backend".into(), json!("certificates"));
                for (n, cert) in certificates.iter().enumerate() {
                    props.insert(format!("cert{}", n + 1), json!(cert));
                }
                props.insert("db".into(), json!(database.as_deref().unwrap_or("/etc/pki/nssdb")));
            }
            SmartcardMode::Passthrough { source, seclabels } => {
                let chr = format!("charsmartcard{i}");
                let sock = b.ctx.run_dir.join(format!("smartcard{i}.sock"));
                let host = CharHost {
                    source,
                    seclabels,
                    log: None,
                    path: &path,
                    default_socket: &sock,
                    spicevmc: "smartcard",
                };
                let spec = chardev(b, &chr, &host)?;
                b.opt("-chardev", spec);
                props.insert("driver".into(), json!("ccid-card-passthru"));
                props.insert("chardev".into(), json!(chr));
            }
            _ => return Err(unsupported(format!("{path}/@mode"), "this smartcard mode is not supported")),
        }
        props.insert("id".into(), json!(format!("smartcard{i}")));
        let ctrl = match &c.address {
            None => 0,
            Some(Address::Ccid(a)) if a.slot.unwrap_or(0) == 0 => a.controller,
            Some(Address::Ccid(_)) => {
                return Err(unsupported(format!("{path}/address/@slot"), "a CCID reader holds one card, in slot 0"));
            }
            Some(_) => return Err(unsupported(format!("{path}/address"), "a smartcard takes a CCID address")),
        };
        props.insert("bus".into(), json!(format!("ccid{ctrl}.0")));
        b.device(Value::Object(props));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_versions_are_bcd() {
        assert_eq!(filter_version(Some(&"1.10".to_owned())), "0x0110");
        assert_eq!(filter_version(Some(&"9.4".to_owned())), "0x0940");
        assert_eq!(filter_version(Some(&"-1".to_owned())), "-1");
        assert_eq!(filter_id(Some(&"15E1".to_owned())), "0x15E1");
    }
}
