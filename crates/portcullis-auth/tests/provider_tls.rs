//! `clientConfig.tls` against a real TLS server: a private CA, mutual TLS, and
//! `insecureSkipVerify`.

#![cfg(test)]

use std::sync::Arc;

use portcullis_auth::shared::provider_client::{ClientTlsMaterial, ProviderClient};
use portcullis_config::Secret;
use portcullis_config::plugin::common::ClientConfig;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client_cert_pem: String,
    client_key_pem: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let server_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["gateway".to_owned()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        server: (
            server_cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        ),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// An HTTPS server answering every request with a small JSON document; with `client_ca`, it
/// requires a client certificate issued by that CA.
async fn serve(pki: &Pki, require_client_cert: bool) -> url::Url {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = r#"{"ok":true}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    url::Url::parse(&format!(
        "https://{address}/.well-known/openid-configuration"
    ))
    .unwrap()
}

fn client(tls: ClientTlsMaterial) -> ProviderClient {
    let config = ClientConfig {
        max_retries: 0,
        ..ClientConfig::default()
    };
    ProviderClient::new(&config, &tls).unwrap()
}

async fn fetch(client: &ProviderClient, url: &url::Url) -> bool {
    client.get_json::<serde_json::Value>(url).await.is_ok()
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_configured() {
    let pki = pki();
    let url = serve(&pki, false).await;
    assert!(!fetch(&client(ClientTlsMaterial::default()), &url).await);
    let with_ca = client(ClientTlsMaterial {
        ca: Some(Secret::new(pki.ca_pem.clone())),
        ..Default::default()
    });
    assert!(fetch(&with_ca, &url).await);
    let insecure = client(ClientTlsMaterial {
        insecure_skip_verify: true,
        ..Default::default()
    });
    assert!(fetch(&insecure, &url).await);
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = pki();
    let url = serve(&pki, true).await;
    let without_identity = client(ClientTlsMaterial {
        ca: Some(Secret::new(pki.ca_pem.clone())),
        ..Default::default()
    });
    assert!(!fetch(&without_identity, &url).await);
    let with_identity = client(ClientTlsMaterial {
        ca: Some(Secret::new(pki.ca_pem.clone())),
        cert: Some(Secret::new(pki.client_cert_pem.clone())),
        key: Some(Secret::new(pki.client_key_pem.clone())),
        insecure_skip_verify: false,
    });
    assert!(fetch(&with_identity, &url).await);
}
