//! dnsmasq, one per network: its configuration (byte for byte what
//! libvirt 9 writes), its lease file, and the daemon itself.
//!
//! Every file of a network lives in one directory (libvirt's
//! /var/lib/libvirt/dnsmasq): `NAME.conf`, `NAME.hostsfile` (static DHCP
//! hosts), `NAME.addnhosts` (DNS hosts), `NAME.pid`, `NAME.leases` and
//! `NAME.log`. The pid and lease files are given on dnsmasq's command line,
//! not in the conf, so that the conf stays libvirt's.

mod conf;
mod leases;
mod process;

use std::path::{Path, PathBuf};

use virtkit_model::network::{ForwardMode, Network};

pub(crate) use conf::{Config, config};
pub(crate) use leases::leases;
pub(crate) use process::{find, start};

/// What can go wrong with a network's dnsmasq.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum Error {
    /// The document asks for something dnsmasq (or virtkit) cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// The document is inconsistent (caught here, not by the model).
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write the dnsmasq files of network {0}")]
    Write(String, #[source] virtkit_host::Error),
    #[error("cannot open {}", .0.display())]
    Log(PathBuf, #[source] std::io::Error),
    #[error("cannot run dnsmasq")]
    Spawn(#[source] virtkit_host::Error),
    /// dnsmasq did not come up; the text is what it said.
    #[error("dnsmasq failed to start: {0}")]
    Start(String),
    #[error("cannot signal dnsmasq")]
    Signal(#[source] virtkit_host::Error),
    #[error("a dnsmasq (pid {0}) already runs with this conf")]
    Running(u32),
    #[error("dnsmasq (pid {0}) is not running")]
    Gone(u32),
    #[error("dnsmasq (pid {0}) did not stop")]
    Stop(u32),
}

/// Whether a network runs a dnsmasq at all (libvirt's rule): only for a
/// bridge the host makes (no forward, nat, route, open), only with an
/// address, and not when it serves neither DHCP nor TFTP and DNS is off.
pub(crate) fn needs_dnsmasq(net: &Network) -> bool {
    if net.mode().is_some_and(|m| !ForwardMode::host_bridge(m)) || net.ips.is_empty() {
        return false;
    }
    let serves = net.ips.iter().any(|ip| ip.has_dhcp() || ip.tftp_root.is_some());
    serves || net.dns.as_ref().is_none_or(|d| d.is_enabled())
}

/// Where the files of one network's dnsmasq are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Files {
    pub(crate) conf: PathBuf,
    pub(crate) hostsfile: PathBuf,
    pub(crate) addnhosts: PathBuf,
    pub(crate) pid: PathBuf,
    pub(crate) leases: PathBuf,
    /// What dnsmasq writes to stdout and stderr before it daemonizes, and
    /// its log afterwards.
    pub(crate) log: PathBuf,
}

impl Files {
    /// The files of network `name` in `dir` (the hosts files with the name
    /// XML-escaped, as libvirt names them).
    pub(crate) fn new(dir: &Path, name: &str) -> Result<Files, Error> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
            return Err(Error::Invalid(format!("'{name}' cannot name dnsmasq files")));
        }
        let escaped = xml_escape(name);
        Ok(Files {
            conf: dir.join(format!("{name}.conf")),
            hostsfile: dir.join(format!("{escaped}.hostsfile")),
            addnhosts: dir.join(format!("{escaped}.addnhosts")),
            pid: dir.join(format!("{name}.pid")),
            leases: dir.join(format!("{name}.leases")),
            log: dir.join(format!("{name}.log")),
        })
    }
}

/// `&`, `<`, `>`, `"` and `'` as XML entities.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
