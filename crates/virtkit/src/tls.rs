//! TLS for `+tls` URIs: rustls with the ring provider, mutual
//! authentication with the files libvirt's `pkipath` directory holds
//! (cacert.pem, clientcert.pem, clientkey.pem).

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, ErrorKind, Result};

fn bad(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{}: {e}", path.display()))
}

/// The certificates in a PEM file (at least one).
pub(crate) fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(path, e))?;
    if certs.is_empty() {
        return Err(bad(path, "no certificate in it"));
    }
    Ok(certs)
}

pub(crate) fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| bad(path, e))
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client's configuration from a pkipath directory.
pub(crate) fn client_config(pki: &Path) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&pki.join("cacert.pem"))? {
        roots.add(c).map_err(|e| bad(&pki.join("cacert.pem"), e))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(pki, e))?
        .with_root_certificates(roots);
    // Without a client certificate the client still tries; the daemon
    // refuses it (as it should), with its own word on why.
    let cert = pki.join("clientcert.pem");
    let mut config = if cert.exists() {
        let chain = certs(&cert)?;
        let key = key(&pki.join("clientkey.pem"))?;
        builder.with_client_auth_cert(chain, key).map_err(|e| bad(&cert, e))?
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
