//! Test certificates (a CA issuing server and client certificates, written as PEM files) and an
//! HTTPS echo upstream that reports the protocol, the SNI and the client certificate it saw.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

use super::EchoBody;

/// A certificate authority whose certificates are written under `dir`.
pub struct Ca {
    pub name: String,
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

/// A certificate and its key, as PEM text and as files.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        std::fs::write(dir.join(format!("{name}.pem")), &pem).unwrap();
        Ca {
            name: name.to_owned(),
            pem,
            issuer: Issuer::new(params, key),
            dir: dir.to_path_buf(),
        }
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.name))
    }

    /// A certificate for `names` (DNS names or IP addresses), common name `names[0]`.
    pub fn issue(&self, stem: &str, names: &[&str]) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or(stem));
        let key = KeyPair::generate().unwrap();
        let cert_pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        let key_pem = key.serialize_pem();
        let cert_file = self.dir.join(format!("{stem}.crt"));
        let key_file = self.dir.join(format!("{stem}.key"));
        std::fs::write(&cert_file, &cert_pem).unwrap();
        std::fs::write(&key_file, &key_pem).unwrap();
        Issued {
            cert_pem,
            key_pem,
            cert_file,
            key_file,
        }
    }
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// An HTTPS upstream answering JSON: `version`, `sni`, `client_cert` (the presented client
/// certificate's PEM-less fingerprint: its length, 0 for none) and `headers`.
pub struct HttpsEcho {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpsEcho {
    /// Serves with `server`'s certificate; with `client_ca`, requires a client certificate
    /// it issued.
    pub async fn start(server: &Issued, client_ca: Option<&Ca>) -> HttpsEcho {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certs(&ca.pem) {
                    roots.add(cert).unwrap();
                }
                builder.with_client_cert_verifier(
                    rustls::server::WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider(),
                    )
                    .build()
                    .unwrap(),
                )
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(
                certs(&server.cert_pem),
                PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                while connections.try_join_next().is_some() {}
                connections.spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let (_, session) = stream.get_ref();
                    let sni = session.server_name().map(str::to_owned);
                    let client_cert = session
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map_or(0, |c| c.len());
                    let service = service_fn(move |request| {
                        let sni = sni.clone();
                        async move { answer(request, sni, client_cert).await }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HttpsEcho { address, task }
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }
}

async fn answer(
    request: Request<Incoming>,
    sni: Option<String>,
    client_cert: usize,
) -> Result<Response<EchoBody>, Infallible> {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").into()))
        .collect();
    let json = serde_json::json!({
        "version": format!("{:?}", request.version()),
        "sni": sni,
        "client_cert": client_cert,
        "path": request.uri().path(),
        "headers": headers,
    });
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(json.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap())
}

/// A reqwest client trusting `ca` (and presenting `identity` when given).
pub fn client_trusting(ca: &Ca, identity: Option<&Issued>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20));
    if let Some(identity) = identity {
        let pem = format!("{}\n{}", identity.cert_pem, identity.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// The DER of the leaf certificate `address` presents for `sni` (any certificate is accepted),
/// restricted to `versions`; `None` when the handshake fails.
pub async fn presented_certificate(
    address: SocketAddr,
    sni: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<&Issued>,
) -> Option<Vec<u8>> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny));
    let config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(
                certs(&identity.cert_pem),
                PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
    let mut tls = connector.connect(name, stream).await.ok()?;
    // A refused client certificate shows on the first read under TLS 1.3.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut buf = [0u8; 1];
    tls.read_exact(&mut buf).await.ok()?;
    let (_, session) = tls.get_ref();
    session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
}

/// The DER of a PEM certificate.
pub fn der(pem: &str) -> Vec<u8> {
    certs(pem).first().unwrap().to_vec()
}

#[derive(Debug)]
struct AcceptAny;

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
