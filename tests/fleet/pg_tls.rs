//! PostgreSQL over TLS with rustls (issue 16, point 1): a throwaway server
//! started with a certificate of a test CA accepts TCP connections over TLS
//! only; grantdb connects with `verify-full` against that CA and works,
//! with `require` too, and is refused with `verify-full` against another CA
//! and without TLS.

use crate::support::TestResult;
use grantdb::ClientCredentialsRequest;
use grantdb::kv::postgres::{PostgresBackend, PostgresOptions, PostgresTls};
use grantdb::{Config, GrantType, HashingKey, NewClient, Store};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A CA, and a server certificate it signed for `localhost` and 127.0.0.1,
/// all as PEM text.
struct Pki {
    ca: String,
    server: String,
    server_key: String,
}

fn new_pki() -> Result<Pki, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "grantdb test CA");
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let server_key = KeyPair::generate()?;
    let server = server_params.signed_by(&server_key, &ca, &ca_key)?;
    Ok(Pki {
        ca: ca.pem(),
        server: server.pem(),
        server_key: server_key.serialize_pem(),
    })
}

fn connect(port: u16, tls: PostgresTls, schema: &str) -> grantdb::Result<PostgresBackend> {
    let url = format!("host=127.0.0.1 port={port} user=grantdb dbname=postgres connect_timeout=5");
    PostgresBackend::connect(
        &PostgresOptions::new(url)
            .schema(schema)
            .pool_size(2)
            .tls(tls),
    )
}

#[test]
fn a_store_works_over_verified_tls_and_is_refused_when_the_certificate_does_not_verify()
-> TestResult {
    if crate::support::pg::url().is_none() {
        return Ok(()); // No PostgreSQL here (the suite said so once).
    }
    let pki = new_pki()?;
    let port = crate::support::pg::start_tls_server(&pki.server, &pki.server_key)?;
    let dir = tempfile::tempdir()?;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca)?;

    // verify-full against the right CA: the whole store works.
    let verified = connect(port, PostgresTls::VerifyFull { ca_file }, "tls_verified")?;
    let config = Config::builder()
        .hashing_key(HashingKey::from_bytes([7; 32]))
        .build()?;
    let store = Store::with_backend(verified, config.clone())?;
    let prio = store.register_client(
        NewClient::confidential("prioticket").grant_types([GrantType::ClientCredentials]),
    )?;
    let client = store.authenticate_client(
        &prio.client.id,
        prio.secret.as_ref().map(grantdb::Secret::expose),
    )?;
    let tokens = store.issue_client_credentials(ClientCredentialsRequest::new(&client))?;
    assert!(store.validate(tokens.access_token.expose()).is_ok());

    // require: encrypted, certificate not checked: works too.
    let required = connect(port, PostgresTls::Require, "tls_verified")?;
    let again = Store::with_backend(required, config)?;
    assert!(again.validate(tokens.access_token.expose()).is_ok());

    // The server takes TLS only: without it, refused.
    let plain = connect(port, PostgresTls::Disable, "tls_plain");
    assert!(plain.is_err(), "pg_hba allows hostssl only");

    // verify-full against another CA: refused, saying why.
    let other = new_pki()?;
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, &other.ca)?;
    let refused = connect(
        port,
        PostgresTls::VerifyFull { ca_file: other_ca },
        "tls_refused",
    )
    .expect_err("a certificate from another CA is refused");
    let message = format!("{refused} {:?}", std::error::Error::source(&refused));
    assert!(
        message.to_lowercase().contains("certificate") || message.contains("UnknownIssuer"),
        "{message}"
    );
    // A CA file that holds no certificate is a configuration error.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "")?;
    assert!(matches!(
        connect(
            port,
            PostgresTls::VerifyFull { ca_file: empty },
            "tls_empty"
        ),
        Err(grantdb::Error::InvalidConfig { .. })
    ));
    Ok(())
}
