//! TLS for `+tls` URIs: rustls with the ring provider, mutual
//! authentication with the files libvirt's `pkipath` directory holds
//! (cacert.pem, clientcert.pem, clientkey.pem).

use std::path::Path;
use std::sync::Arc;

use virtkit_host::pem;

use crate::{Error, ErrorKind, Result};

fn bad(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{}: {e}", path.display()))
}

/// A PEM file that cannot be used (its message names it).
fn unusable(e: virtkit_host::Error) -> Error {
    Error::new(ErrorKind::InvalidArgument, e.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client's configuration from a pkipath directory.
pub(crate) fn client_config(pki: &Path) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in pem::certificates(&pki.join("cacert.pem")).map_err(unusable)? {
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
        let chain = pem::certificates(&cert).map_err(unusable)?;
        let key = pem::private_key(&pki.join("clientkey.pem")).map_err(unusable)?;
        builder.with_client_auth_cert(chain, key).map_err(|e| bad(&cert, e))?
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
