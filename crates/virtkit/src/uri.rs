//! Connection URIs: `driver[+transport]://[user@][host][:port]/path[?params]`,
//! as libvirt writes them (`test:///default`, `qemu:///system`,
//! `qemu+ssh://root@host/system`, `qemu+unix:///system?socket=/run/x.sock`).

use std::fmt;

use crate::{Error, ErrorKind, Result};

/// A parsed connection URI.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Uri {
    /// The driver (`test`, `qemu`).
    pub driver: String,
    /// The transport (`unix`, `tls`, `ssh`), if named.
    pub transport: Option<String>,
    pub user: Option<String>,
    /// The host; `None` (or empty) is this machine, in process or by local socket.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The path, always starting with `/` (`/default`, `/system`).
    pub path: String,
    /// Query parameters, percent-decoded, in order.
    pub params: Vec<(String, String)>,
}

impl Uri {
    pub fn parse(s: &str) -> Result<Uri> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidArgument, format!("invalid URI '{s}': {why}"));
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("expected driver://…"))?;
        let (driver, transport) = match scheme.split_once('+') {
            Some((d, t)) => (d, Some(t)),
            None => (scheme, None),
        };
        let word = |w: &str| !w.is_empty() && w.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !word(driver) {
            return Err(bad("the driver name is lower-case letters and digits"));
        }
        if transport.is_some_and(|t| !word(t)) {
            return Err(bad("the transport name is lower-case letters and digits"));
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(decode(u).map_err(|w| bad(&w))?), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).map_err(|w| bad(&w))?;
        let mut params = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((decode(k).map_err(|w| bad(&w))?, decode(v).map_err(|w| bad(&w))?));
        }
        Ok(Uri {
            driver: driver.to_owned(),
            transport: transport.map(str::to_owned),
            user,
            host: (!host.is_empty()).then_some(host),
            port,
            path: decode(path).map_err(|w| bad(&w))?,
            params,
        })
    }

    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether the URI names this machine without a transport: an in-process driver.
    pub fn is_local(&self) -> bool {
        self.host.is_none() && self.transport.is_none()
    }
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    // [v6addr]:port, host:port, host
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed '[' in the host")?;
        match after.strip_prefix(':') {
            Some(p) => (h.to_owned(), Some(p)),
            None if after.is_empty() => (h.to_owned(), None),
            None => return Err("junk after the host".into()),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (s.to_owned(), None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("'{p}' is not a port number"))?),
        None => None,
    };
    Ok((decode(&host)?, port))
}

/// Percent-decoding; the result must be UTF-8.
fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let v = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("bad %-escape")?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after %-decoding".into())
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.driver)?;
        if let Some(t) = &self.transport {
            write!(f, "+{t}")?;
        }
        f.write_str("://")?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if let Some(h) = &self.host {
            if h.contains(':') { write!(f, "[{h}]")? } else { write!(f, "{h}")? }
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.path)?;
        for (i, (k, v)) in self.params.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libvirt_uris() {
        let u = Uri::parse("test:///default").unwrap();
        assert_eq!((u.driver.as_str(), u.path.as_str(), u.host.as_ref()), ("test", "/default", None));
        assert!(u.is_local());
        let u = Uri::parse("qemu+ssh://root@host.example:2222/system").unwrap();
        assert_eq!(u.transport.as_deref(), Some("ssh"));
        assert_eq!(u.user.as_deref(), Some("root"));
        assert_eq!(u.host.as_deref(), Some("host.example"));
        assert_eq!(u.port, Some(2222));
        let u = Uri::parse("qemu+unix:///system?socket=/run/a%20b.sock").unwrap();
        assert_eq!(u.param("socket"), Some("/run/a b.sock"));
        let u = Uri::parse("qemu+tls://[::1]:16514/system?pkipath=/pki").unwrap();
        assert_eq!(u.host.as_deref(), Some("::1"));
        assert_eq!(u.to_string(), "qemu+tls://[::1]:16514/system?pkipath=/pki");
        assert_eq!(Uri::parse("test:///tmp/node.xml").unwrap().path, "/tmp/node.xml");
    }

    #[test]
    fn bad_uris_say_why() {
        for bad in
            ["", "test", "test:/default", "Test:///x", "qemu+:///x", "qemu://h:99999/x", "qemu://[::1/x", "t:///%zz"]
        {
            let e = Uri::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert!(e.to_string().starts_with("invalid URI"), "{e}");
        }
    }
}
