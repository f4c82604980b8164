//! TLS to the job server: which CA to trust, the client certificate to show, and the name the
//! server's certificate must carry, read once into a rustls client configuration.
//!
//! This module owns reading the PEM files and choosing the server name; the handshake itself
//! is `conn.rs`'s (tokio-rustls) or, for blocking programs, the caller's (the configuration is
//! public for them). Nothing here weakens verification: there is no "accept any certificate".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::error::Error;

/// Where the system keeps its CA bundle, tried in order when no CA file is given (Debian and
/// Ubuntu, then Fedora and RHEL, then Alpine and the BSDs).
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// What a TLS connection uses, as given by the user (gearman's `--ssl-*` names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA certificates (PEM) the server's certificate must chain to; the system's CA bundle
    /// when `None`.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that ask for one.
    pub certificate: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// The name the server's certificate must carry; the host of each server address when
    /// `None`.
    pub server_name: Option<String>,
}

/// A TLS client configuration, ready for connections.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl Tls {
    /// Read the files; every problem is an [`Error::InvalidArgument`] naming the file.
    pub fn new(options: &TlsOptions) -> Result<Tls, Error> {
        let ca = match &options.ca_file {
            Some(path) => path.clone(),
            None => SYSTEM_CA_FILES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .ok_or_else(|| {
                    Error::InvalidArgument("no CA file given and no system CA bundle found".into())
                })?,
        };
        let mut roots = RootCertStore::empty();
        for cert in certificates(&ca)? {
            roots.add(cert).map_err(|e| invalid(&ca, e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidArgument(format!("TLS: {e}")))?
            .with_root_certificates(roots);
        let config = match (&options.certificate, &options.key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let key_der =
                    PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(key, e.to_string()))?;
                builder
                    .with_client_auth_cert(certificates(cert)?, key_der)
                    .map_err(|e| invalid(key, e.to_string()))?
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "a client certificate needs its key, and a key its certificate".into(),
                ))
            }
        };
        let server_name = options
            .server_name
            .as_deref()
            .map(|name| {
                ServerName::try_from(name.to_owned())
                    .map_err(|e| Error::InvalidArgument(format!("TLS server name {name:?}: {e}")))
            })
            .transpose()?;
        Ok(Tls {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The rustls configuration, for programs that make their own connections.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// The name to check the certificate of `server` (`host:port`) against.
    pub fn server_name(&self, server: &str) -> Result<ServerName<'static>, Error> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = match server.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => host,
            _ => server,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_owned())
            .map_err(|e| Error::InvalidArgument(format!("TLS server name {host:?}: {e}")))
    }
}

fn invalid(path: &Path, detail: String) -> Error {
    Error::InvalidArgument(format!("{}: {detail}", path.display()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(path, "no CERTIFICATE in the file".into()));
    }
    Ok(certs)
}
