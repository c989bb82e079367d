//! The TLS listener's configuration: rustls with the ring provider, a
//! client certificate required and checked against the CA, then its
//! subject name, parsed, against the allow-list (see [`crate::dn`]).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;

use crate::dn::{Attr, Dn};

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

/// A certificate's subject name, parsed: each RDN and each of its
/// attributes (type and value), in certificate order.
pub(crate) fn subject(cert: &CertificateDer<'_>) -> Result<Dn, TlsError> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| TlsError::Certificate(e.to_string()))?;
    let mut rdns = Vec::new();
    for rdn in parsed.subject().iter() {
        let mut attrs = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let name = x509_parser::objects::oid2abbrev(attr.attr_type(), x509_parser::objects::oid_registry())
                .map_or_else(|_| oid.clone(), str::to_owned);
            let value = attr.as_str().map_err(|e| TlsError::Certificate(format!("subject {name}: {e}")))?;
            attrs.push(Attr { name, oid, value: value.to_owned() });
        }
        rdns.push(attrs);
    }
    Ok(Dn(rdns))
}
