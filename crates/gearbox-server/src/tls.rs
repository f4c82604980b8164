//! TLS settings of a listener: the certificate chain, key and client CA read from PEM files,
//! built into a rustls server configuration that can be re-read (SIGHUP) while the server
//! runs. Connections keep the configuration they were accepted with; new ones get the latest.
//!
//! This module owns reading and checking the files, the choice of client verification, and
//! reading a verified client certificate's names; it does no I/O on connections
//! (`net::tls_io` does). A reload that fails leaves the previous
//! configuration in place: a bad renewal must never take a running server off the network.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// Whether clients must show a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for (gearmand's behaviour, even with a CA file).
    None,
    /// A certificate is asked for and verified against the CA when shown; a client without
    /// one is let in, anonymous (for an access list with an `anonymous` rule).
    Optional,
    /// A certificate signed by the CA is required: without one, or with an expired or unknown
    /// one, the handshake fails.
    Required,
}

/// Where the PEM files are, and how clients are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates that client certificates are verified against.
    pub ca: Option<PathBuf>,
    /// Whether a client certificate is asked for.
    pub client_auth: ClientAuth,
}

/// A TLS setting that cannot be used; the message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Client verification was asked for without a CA file to verify against.
    #[error("verifying client certificates needs a CA file (--ssl-ca-file)")]
    NoCa,
    /// rustls refused the combination (for example a key that does not match the
    /// certificate).
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A listener's TLS configuration, shared by its connections and replaceable by a reload.
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Read the files and build the configuration.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let config = build(&files)?;
        Ok(Tls {
            files,
            current: RwLock::new(config),
        })
    }

    /// Read the files again; on success new connections use them, on failure nothing changes.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = build(&self.files)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// The configuration for a connection accepted now.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The files this configuration is read from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

fn file_error(path: &Path, detail: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

/// Every certificate in a PEM file; at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The first private key in a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

/// The CA certificates of a PEM file as a root store; every one must parse.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path)? {
        roots.add(cert).map_err(|e| file_error(path, e))?;
    }
    Ok(roots)
}

fn build(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certificates(&files.certificate)?;
    let key = read_key(&files.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match (files.client_auth, &files.ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => return Err(TlsError::NoCa),
        (auth, Some(ca)) => {
            let roots = Arc::new(read_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?,
            )
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("{}: {e}", files.key.display())))?;
    Ok(Arc::new(config))
}

/// Who a verified client certificate names: its subject's common names and its DNS names.
/// A certificate rustls accepted but this parser cannot read names nobody.
pub fn identity(certificate: &[u8]) -> crate::acl::Identity {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(certificate) else {
        return crate::acl::Identity::default();
    };
    let common_names = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .collect();
    let dns_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    crate::acl::Identity {
        common_names,
        dns_names,
    }
}
