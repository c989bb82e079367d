//! Checks of USB redirection, its filter, hubs and smartcards.

use super::super::{device, idx, is_word};
use super::Checks;
use crate::domain::devices::{Devices, SmartcardMode};
use crate::xml::truncate;

pub(super) fn usb(k: &mut Checks<'_>, d: &Devices) {
    let n = d.redirdevs.len();
    for (i, r) in d.redirdevs.iter().enumerate() {
        let p = device("redirdev", i, n);
        k.char_source(p, &r.source, &r.seclabels, None);
        k.boot(p, r.boot.as_ref());
        k.alias(p, r.alias.as_ref());
        k.address(p, r.address.as_ref());
    }
    if let Some(f) = &d.redirfilter {
        let n = f.rules.len();
        for (i, r) in f.rules.iter().enumerate() {
            let p = format!("/domain/devices/redirfilter/{}", idx("usbdev", i, n));
            for (attr, v, digits) in [("class", &r.class, 2), ("vendor", &r.vendor, 4), ("product", &r.product, 4)] {
                let Some(v) = v.as_deref().filter(|v| *v != "-1") else { continue };
                let hex = v.strip_prefix("0x").unwrap_or(v);
                if hex.is_empty() || hex.len() > digits || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    k.value(
                        format!("{p}/@{attr}"),
                        format!("'{}' is not a USB {attr} (up to {digits} hex digits, or -1)", truncate(v)),
                    );
                }
            }
            if let Some(v) = r.version.as_deref().filter(|v| *v != "-1") {
                let ok = v.split_once('.').is_some_and(|(a, b)| {
                    (1..=2).contains(&a.len())
                        && (1..=2).contains(&b.len())
                        && is_word(a, "")
                        && is_word(b, "")
                        && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                });
                if !ok {
                    k.value(
                        format!("{p}/@version"),
                        format!("'{}' is not a USB release (like 1.10, or -1)", truncate(v)),
                    );
                }
            }
        }
    }
    let n = d.hubs.len();
    for (i, h) in d.hubs.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("hub", i, n));
        k.alias(&p, h.alias.as_ref());
        k.address(&p, h.address.as_ref());
    }
    let n = d.smartcards.len();
    for (i, s) in d.smartcards.iter().enumerate() {
        let p = format!("/domain/devices/{}", idx("smartcard", i, n));
        match &s.mode {
            SmartcardMode::HostCertificates { certificates, database } => {
                if certificates.len() != 3 {
                    k.invalid(&p, format!("host-certificates takes three certificates, not {}", certificates.len()));
                }
                for (j, c) in certificates.iter().enumerate() {
                    k.one_line(format!("{p}/{}", idx("certificate", j, certificates.len())), c);
                }
                if let Some(db) = database {
                    k.abs_dir(format!("{p}/database"), db);
                }
            }
            SmartcardMode::Passthrough { source, seclabels } => k.char_source(&p, source, seclabels, None),
            _ => {}
        }
        k.address(&p, s.address.as_ref());
    }
}
