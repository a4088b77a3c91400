//! HTTPS for the fake (`--tls-cert`, `--tls-key`): the certificate chain and key are read once
//! at start, from PEM files, into a rustls acceptor (the ring provider, which reqwest already
//! brings; TLS 1.2 and 1.3; HTTP/1.1 by ALPN). A client that never finishes its handshake is
//! closed after the header-read timeout, as one that never sends its headers is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

use crate::error::Error;

/// Where the certificate chain and its private key are, both PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The acceptor for `files`.
///
/// # Errors
/// [`Error::Invalid`] naming the file that cannot be read or used, and why.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let unusable = |path: &Path, why: String| {
        Error::Invalid(format!("--tls-cert/--tls-key: {}: {why}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| unusable(&files.cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| unusable(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(unusable(&files.cert, "no PEM certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| unusable(&files.key, format!("no usable PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| unusable(&files.key, format!("does not match the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
