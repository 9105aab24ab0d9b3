//! TLS towards HTTPS upstreams: which authorities are trusted, which name is verified, which
//! client certificate is presented.
//!
//! An upstream's certificate is verified against the system's authorities, or only against the
//! transport's `rootCAs` when given (so a private CA does not widen trust to every public one),
//! for the server name of the transport or else the host of the server URL. Verification is
//! skipped only when the transport says `insecureSkipVerify`; signatures of the handshake are
//! still checked then, so the connection is at least bound to the key the server showed.

use std::sync::{Arc, OnceLock};

use portcullis_config::{CertificateSource, PemSource, ServersTransport};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The system's authorities, read once.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "cannot read a system certificate authority");
        }
        found.certs
    })
}

/// Certificates of a PEM source.
pub(crate) fn certificates(source: &PemSource) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = source.read()?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid certificate in {source:?}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {source:?}"));
    }
    Ok(certs)
}

/// A certificate chain and its key, checked to fit together.
pub(crate) fn certified_key(
    source: &CertificateSource,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = certificates(&source.cert)?;
    let key_pem = source.key.read()?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("cannot read a private key from {:?}: {e}", source.key))?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("certificate {:?} and its key do not fit: {e}", source.cert))
}

/// The rustls client configuration of a transport (ALPN is set by the connector).
pub fn client_config(transport: &ServersTransport) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = if transport.insecure_skip_verify {
        Arc::new(Unverified {
            provider: provider.clone(),
            accept: true,
        })
    } else {
        let mut roots = RootCertStore::empty();
        if transport.root_cas.is_empty() {
            roots.add_parsable_certificates(native_roots().iter().cloned());
        } else {
            for source in &transport.root_cas {
                for cert in certificates(source)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("rootCAs {source:?}: {e}"))?;
                }
            }
        }
        if roots.is_empty() {
            // No system authorities (a minimal image): HTTPS upstreams need rootCAs.
            Arc::new(Unverified {
                provider: provider.clone(),
                accept: false,
            })
        } else {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot verify upstream certificates: {e}"))?
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = if transport.certificates.is_empty() {
        builder.with_no_client_auth()
    } else {
        let keys = transport
            .certificates
            .iter()
            .map(|c| certified_key(c, &provider).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        builder.with_client_cert_resolver(Arc::new(ClientCertificates(keys)))
    };
    Ok(config)
}

/// The name verified and sent as SNI: the transport's `serverName` when set.
pub fn server_name(transport: &ServersTransport) -> Result<Option<ServerName<'static>>, String> {
    transport
        .server_name
        .as_ref()
        .map(|name| {
            ServerName::try_from(name.clone()).map_err(|e| format!("serverName {name:?}: {e}"))
        })
        .transpose()
}

/// Presents the first certificate whose key can sign with a scheme the upstream accepts.
#[derive(Debug)]
struct ClientCertificates(Vec<Arc<CertifiedKey>>);

impl ResolvesClientCert for ClientCertificates {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0
            .iter()
            .find(|key| key.key.choose_scheme(schemes).is_some())
            .cloned()
    }

    fn has_certs(&self) -> bool {
        !self.0.is_empty()
    }
}

/// `insecureSkipVerify` (`accept`): any certificate, but handshake signatures are still
/// verified. Without `accept`: no authority is known, so no certificate is trusted.
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
    accept: bool,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.accept {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
