//! Certificates for the TLS tests, made fresh for each test in its own directory: a CA, a
//! server certificate for `localhost` and `127.0.0.1`, client certificates by common name,
//! expired ones, and a second CA nobody trusts.
//!
//! Nothing here is for production: the keys are written unprotected to the test's directory.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::tempdir::TempDir;

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// A test CA and the certificates it signed, in a private directory.
pub struct Pki {
    dir: TempDir,
    ca_cert: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    /// The server certificate (`localhost`, `127.0.0.1`).
    pub server: CertFiles,
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

impl Pki {
    /// A new CA (`label` names it and its directory) with a server certificate.
    pub fn new(label: &str) -> Pki {
        let dir = TempDir::new(&format!("pki-{label}"));
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&format!("Gearbox test CA {label}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        let ca_cert = dir.path().join("ca.pem");
        fs::write(&ca_cert, cert.pem()).expect("write CA");
        let issuer = Issuer::new(params, key);
        let mut pki = Pki {
            server: CertFiles {
                cert: PathBuf::new(),
                key: PathBuf::new(),
            },
            dir,
            ca_cert,
            issuer,
        };
        pki.server = pki.renew_server();
        pki
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> &Path {
        &self.ca_cert
    }

    /// Write a new server certificate (new key) over the old files; returns their paths.
    pub fn renew_server(&self) -> CertFiles {
        self.issue("server", true, false)
    }

    /// A client certificate with common name `cn` (also a DNS name), valid now.
    pub fn client(&self, cn: &str) -> CertFiles {
        self.issue(cn, false, false)
    }

    /// A client certificate with common name `cn` that expired in 2020.
    pub fn expired_client(&self, cn: &str) -> CertFiles {
        self.issue(cn, false, true)
    }

    fn issue(&self, cn: &str, server: bool, expired: bool) -> CertFiles {
        let key = KeyPair::generate().expect("key");
        let mut params = if server {
            let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("names");
            params
                .subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params
        } else {
            let mut params = CertificateParams::new(vec![cn.to_owned()]).expect("names");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params
        };
        params.distinguished_name = name(if server { "localhost" } else { cn });
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let stem = if expired {
            format!("{cn}-expired")
        } else {
            cn.to_owned()
        };
        let files = CertFiles {
            cert: self.dir.path().join(format!("{stem}.pem")),
            key: self.dir.path().join(format!("{stem}.key")),
        };
        fs::write(&files.cert, cert.pem()).expect("write certificate");
        fs::write(&files.key, key.serialize_pem()).expect("write key");
        files
    }
}
