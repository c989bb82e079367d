//! The secrets documents hold as literal values, and withholding them.
//!
//! libvirt writes a document without its secrets unless the caller asks
//! for them (`VIR_DOMAIN_XML_SECURE`) and may have them: read-only clients
//! never. virtkit does the same, and this file is the one place that knows
//! which fields are secret: [`SECRETS`] lists them, `withhold_secrets` of
//! each document takes them out (the model is then written to XML or JSON
//! as usual). A secret that is a reference (a `<secret uuid=…/>` naming a
//! secret object, as disk, pool and volume authentication and encryption
//! use) is not a secret value and stays, as in libvirt.
//!
//! The model's tests walk every field of every document type: one whose
//! name looks like a secret must be listed here or reviewed as not one, so
//! that a new secret cannot be forgotten.

use crate::domain::devices::{DiskBackingStore, DiskSource, Graphics, SourceLocation};
use crate::domain::{Domain, LaunchSecurity};
use crate::network::Network;
use crate::storage::{Pool, Volume};

/// A field that holds a secret value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secret {
    /// The Rust type that holds it.
    pub model: &'static str,
    /// Its field.
    pub field: &'static str,
    /// Where it is in the XML document.
    pub xml: &'static str,
}

/// Every secret value a document can hold.
pub const SECRETS: &[Secret] = &[
    Secret { model: "Vnc", field: "passwd", xml: "/domain/devices/graphics[@type='vnc']/@passwd" },
    Secret { model: "Spice", field: "passwd", xml: "/domain/devices/graphics[@type='spice']/@passwd" },
    Secret { model: "Sev", field: "session", xml: "/domain/launchSecurity[@type='sev']/session" },
    // HTTP cookies authenticate to the server; libvirt writes them only
    // for a secure dump. Every network source: a disk's, its backing
    // layers', a mirror's, an NVRAM's.
    Secret {
        model: "NetworkDiskSource",
        field: "cookies",
        xml: "//source[@protocol='http' or @protocol='https']/cookies",
    },
];

impl Domain {
    /// Takes out every secret value ([`SECRETS`]): what a client that did
    /// not ask for them, or may not have them, is shown.
    pub fn withhold_secrets(&mut self) {
        for g in &mut self.devices.graphics {
            match g {
                Graphics::Vnc(v) => v.passwd = None,
                Graphics::Spice(s) => s.passwd = None,
                _ => {}
            }
        }
        if let Some(LaunchSecurity::Sev(sev)) = &mut self.launch_security {
            sev.session = None;
        }
        let without_cookies = |s: &mut DiskSource| {
            if let SourceLocation::Network(n) = &mut s.location {
                n.cookies.clear();
            }
        };
        for d in &mut self.devices.disks {
            without_cookies(&mut d.source);
            chain_without_cookies(d.backing_store.as_mut(), &without_cookies);
            if let Some(m) = &mut d.mirror {
                without_cookies(&mut m.source);
                chain_without_cookies(m.backing_store.as_mut(), &without_cookies);
            }
        }
        if let Some(s) = self.os.nvram.as_mut().and_then(|n| n.source.as_mut()) {
            without_cookies(s);
        }
    }
}

fn chain_without_cookies(mut b: Option<&mut DiskBackingStore>, f: &impl Fn(&mut DiskSource)) {
    while let Some(DiskBackingStore::Layer(l)) = b {
        f(&mut l.source);
        b = l.backing_store.as_mut();
    }
}

impl Network {
    /// A network document holds no secret value (the model's field walk
    /// checks it); nothing to take out.
    pub fn withhold_secrets(&mut self) {}
}

impl Pool {
    /// A pool's authentication names its secret by reference: nothing to
    /// take out.
    pub fn withhold_secrets(&mut self) {}
}

impl Volume {
    /// A volume's encryption names its secret by reference: nothing to
    /// take out.
    pub fn withhold_secrets(&mut self) {}
}
