//! The TLS listener's configuration: rustls with the ring provider, a
//! client certificate required and checked against the CA, then its
//! subject name against an allow-list of glob patterns (libvirt's
//! `tls_allowed_dn_list`).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;

#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    #[error("tls: {0}")]
    Config(#[from] rustls::Error),
    #[error("bad client certificate: {0}")]
    Certificate(String),
    #[error(transparent)]
    Pem(#[from] virtkit_host::Error),
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File { path: path.display().to_string(), msg: e.to_string() }
}

/// The server's configuration from a pki directory holding `cacert.pem`,
/// `servercert.pem` and `serverkey.pem`.
pub(crate) fn server_config(pki: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = pki.join("cacert.pem");
    let mut roots = rustls::RootCertStore::empty();
    for c in virtkit_host::pem::certificates(&ca)? {
        roots.add(c).map_err(|e| file_error(&ca, e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| file_error(&ca, e))?;
    let chain = virtkit_host::pem::certificates(&pki.join("servercert.pem"))?;
    let key = virtkit_host::pem::private_key(&pki.join("serverkey.pem"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A certificate's subject name as `C=..,O=..,CN=..` (the order in the
/// certificate, no spaces).
pub(crate) fn subject(cert: &CertificateDer<'_>) -> Result<String, TlsError> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| TlsError::Certificate(e.to_string()))?;
    let mut parts = Vec::new();
    for rdn in parsed.subject().iter() {
        for attr in rdn.iter() {
            let key = x509_parser::objects::oid2abbrev(attr.attr_type(), x509_parser::objects::oid_registry())
                .map_or_else(|_| attr.attr_type().to_id_string(), str::to_owned);
            let value = attr.as_str().map_err(|e| TlsError::Certificate(format!("subject {key}: {e}")))?;
            parts.push(format!("{key}={value}"));
        }
    }
    Ok(parts.join(","))
}

/// Allowed client subject names: glob patterns (`*` any run, `?` one
/// character) matched against the whole name, in certificate order or in
/// reverse (RFC 4514) order. An empty list allows every name the CA signed.
#[derive(Debug, Default)]
pub(crate) struct DnPatterns(Vec<String>);

impl DnPatterns {
    pub(crate) fn new(patterns: Vec<String>) -> DnPatterns {
        DnPatterns(patterns.into_iter().map(|p| p.split(',').map(str::trim).collect::<Vec<_>>().join(",")).collect())
    }

    pub(crate) fn allows(&self, dn: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let reversed = dn.split(',').rev().collect::<Vec<_>>().join(",");
        self.0.iter().any(|p| glob(p.as_bytes(), dn.as_bytes()) || glob(p.as_bytes(), reversed.as_bytes()))
    }
}

/// Whether `text` matches `pattern` (`*`, `?`), without backtracking blow-up.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob(b"CN=*", b"CN=client1"));
        assert!(glob(b"O=Acme,CN=client?", b"O=Acme,CN=client1"));
        assert!(!glob(b"O=Acme,CN=client?", b"O=Acme,CN=client12"));
        assert!(glob(b"*CN=a*b", b"O=x,CN=aXXbYYb"));
        assert!(!glob(b"CN=admin", b"CN=admin2"));
        assert!(glob(b"", b""));
        assert!(!glob(b"", b"x"));
    }

    #[test]
    fn either_order_and_spaces() {
        let p = DnPatterns::new(vec!["CN=client1, O=Acme".into()]);
        assert!(p.allows("O=Acme,CN=client1"));
        assert!(p.allows("CN=client1,O=Acme"));
        assert!(!p.allows("O=Evil,CN=client1"));
        assert!(DnPatterns::default().allows("anything"));
    }
}
