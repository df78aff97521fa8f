//! TLS to PostgreSQL (feature `postgres`), with rustls: libpq's `sslmode`
//! as [`PostgresTls`]. `Require` encrypts without checking who answers (as
//! libpq's `require`); `VerifyFull` checks the server's certificate chain
//! against the given CA and its name against the host connected to (as
//! libpq's `verify-full`): what a managed PostgreSQL service should get.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// How connections to PostgreSQL are secured (libpq's `sslmode`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PostgresTls {
    /// No TLS (`sslmode=disable`): a local socket or a private network.
    #[default]
    Disable,
    /// TLS, without checking the server's certificate (`sslmode=require`):
    /// encrypted, but open to whoever can stand in the middle.
    Require,
    /// TLS, the server's certificate chain checked against the CA in
    /// `ca_file` (PEM, one or more certificates) and its name against the
    /// host connected to (`sslmode=verify-full`, `sslrootcert=…`).
    VerifyFull {
        /// The CA certificate(s) the server's chain must lead to.
        ca_file: PathBuf,
    },
}

/// The rustls connector for `tls`, or `None` for [`PostgresTls::Disable`].
pub(crate) fn connector(tls: &PostgresTls) -> Result<Option<MakeRustlsConnect>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(Error::storage)?;
    let config = match tls {
        PostgresTls::Disable => return Ok(None),
        PostgresTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        PostgresTls::VerifyFull { ca_file } => {
            let mut roots = RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(ca_file).map_err(Error::storage)?;
            for certificate in certificates {
                let certificate = certificate.map_err(Error::storage)?;
                roots.add(certificate).map_err(Error::storage)?;
            }
            if roots.is_empty() {
                return Err(Error::InvalidConfig {
                    reason: "the CA file holds no certificate",
                });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// `sslmode=require`: any certificate is accepted, but the handshake's
/// signatures are still checked (the connection is encrypted to whoever
/// holds the certificate's key).
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
