//! TLS for PHP's clients and workers, beyond PECL (which has none): `setSSL()` and the
//! `gearman.ssl*` ini settings, turned into gearbox-client's [`Tls`].
//!
//! One rule above all: a TLS setting that cannot be used never falls back to plaintext. A bad
//! ini setting is kept as an error that refuses every `addServer` with the reason, so the
//! object can never connect without the TLS it was configured for.

use gearbox_client::{Tls, TlsOptions};

/// What `setSSL()` or the ini settings ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslSettings {
    /// TLS on (`gearman.ssl`, `setSSL(true)`).
    pub enabled: bool,
    /// CA file (`gearman.ssl_ca_file`); the system's CA bundle when empty.
    pub ca_file: Option<String>,
    /// Client certificate (`gearman.ssl_certificate`).
    pub certificate: Option<String>,
    /// Its key (`gearman.ssl_key`).
    pub key: Option<String>,
    /// The name the server's certificate must carry (`gearman.ssl_server_name`); the host
    /// of each server when empty.
    pub server_name: Option<String>,
}

impl SslSettings {
    /// `setSSL()`'s arguments over the ini's defaults: an argument not given (null) takes the
    /// ini's value.
    pub fn over(self, defaults: &SslSettings) -> SslSettings {
        SslSettings {
            enabled: self.enabled,
            ca_file: self.ca_file.or_else(|| defaults.ca_file.clone()),
            certificate: self.certificate.or_else(|| defaults.certificate.clone()),
            key: self.key.or_else(|| defaults.key.clone()),
            server_name: self.server_name.or_else(|| defaults.server_name.clone()),
        }
    }

    /// The client library's TLS, `None` when off; `Err` says what is wrong with which file.
    pub fn build(&self) -> Result<Option<Tls>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let path = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(Into::into);
        Tls::new(&TlsOptions {
            ca_file: path(&self.ca_file),
            certificate: path(&self.certificate),
            key: path(&self.key),
            server_name: self.server_name.clone().filter(|s| !s.is_empty()),
        })
        .map(Some)
        .map_err(|e| match e {
            gearbox_client::Error::InvalidArgument(detail) => format!("TLS: {detail}"),
            other => format!("TLS: {other}"),
        })
    }
}

/// A client's or worker's TLS state: what new connections use, or why none can be made.
#[derive(Debug, Clone, Default)]
pub enum SslState {
    /// Plaintext.
    #[default]
    Off,
    /// TLS with these settings.
    On(Tls),
    /// TLS was asked for and cannot be set up: servers are refused with this message.
    Broken(String),
}

impl SslState {
    /// The state for `settings`.
    pub fn from_settings(settings: &SslSettings) -> SslState {
        match settings.build() {
            Ok(None) => SslState::Off,
            Ok(Some(tls)) => SslState::On(tls),
            Err(e) => SslState::Broken(e),
        }
    }

    /// What connections use.
    pub fn tls(&self) -> Option<Tls> {
        match self {
            SslState::On(tls) => Some(tls.clone()),
            _ => None,
        }
    }

    /// Why no server may be added, when TLS is broken.
    pub fn refusal(&self) -> Option<&str> {
        match self {
            SslState::Broken(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_is_plaintext() {
        let state = SslState::from_settings(&SslSettings::default());
        assert!(state.tls().is_none() && state.refusal().is_none());
    }

    #[test]
    fn a_missing_file_is_broken_never_plaintext() {
        let state = SslState::from_settings(&SslSettings {
            enabled: true,
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..SslSettings::default()
        });
        assert!(state.tls().is_none());
        assert!(state.refusal().unwrap().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn arguments_override_the_ini_and_nulls_take_it() {
        let ini = SslSettings {
            enabled: true,
            ca_file: Some("/ini/ca.pem".into()),
            key: Some("/ini/key.pem".into()),
            ..SslSettings::default()
        };
        let given = SslSettings {
            enabled: true,
            ca_file: Some("/arg/ca.pem".into()),
            ..SslSettings::default()
        }
        .over(&ini);
        assert_eq!(given.ca_file.as_deref(), Some("/arg/ca.pem"));
        assert_eq!(given.key.as_deref(), Some("/ini/key.pem"));
        assert_eq!(given.certificate, None);
    }
}
