//! A throwaway certificate authority and a certificate it signed for `localhost` and
//! `127.0.0.1`, made fresh for each test (no key is ever checked in). Shared with the
//! conformance kit's HTTPS dress rehearsal.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// The files a test hands to the fake and to its clients.
pub struct TestCertificates {
    /// The authority's certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The server's certificate (PEM), signed by the authority.
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

/// Writes an authority and a server certificate for `localhost` and `127.0.0.1` into `dir`.
pub fn make_certificates(dir: &Path) -> TestCertificates {
    let mut authority = CertificateParams::new(Vec::<String>::new()).unwrap();
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority
        .distinguished_name
        .push(DnType::CommonName, "u21 test authority");
    let authority_key = KeyPair::generate().unwrap();
    let authority_cert = authority.self_signed(&authority_key).unwrap();
    let server =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server
        .signed_by(&server_key, &authority_cert, &authority_key)
        .unwrap();
    let files = TestCertificates {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    std::fs::write(&files.ca, authority_cert.pem()).unwrap();
    std::fs::write(&files.cert, server_cert.pem()).unwrap();
    std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
    files
}
