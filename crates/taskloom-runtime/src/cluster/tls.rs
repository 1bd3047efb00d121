//! TLS for the cluster's connections: the per-cluster certificate, both sides'
//! rustls settings, the pin, and the channel binding that ties the handshake's proofs
//! to one TLS session.
//!
//! - **The certificate** is made when the cluster starts (rcgen: ECDSA P-256,
//!   self-signed, named `taskloom-cluster`); its key never leaves the scheduler's
//!   memory. Its SHA-256 fingerprint goes into the secret file (`tls sha256:...`), so
//!   the one file a worker is given still says everything: the secret, and which
//!   certificate is the scheduler's.
//! - **The worker pins it**: a certificate whose fingerprint is not the file's is
//!   refused during the TLS handshake, before a byte of the cluster's own handshake
//!   is sent. No certificate authority, no host name: the fingerprint is the whole
//!   check (the signature over the handshake still proves the scheduler holds the
//!   certificate's key). A worker given the bare secret (a Kubernetes Secret made
//!   before the scheduler) has no fingerprint: it accepts any certificate and relies
//!   on the binding below.
//! - **Channel binding**: both proofs of the cluster's handshake cover 32 bytes
//!   exported from the TLS session (RFC 5705/8446 exporter, label
//!   [`EXPORTER_LABEL`]). A relay that terminates TLS on both sides sees two sessions
//!   with two different exports, so the proofs it carries from one to the other do
//!   not verify: without the secret nobody can sit in the middle, pinned or not.
//! - **rustls on ring**, TLS 1.3 only (both ends are this program), no session
//!   tickets or resumption (a worker connects once). ring builds with a C compiler
//!   alone; aws-lc-rs, rustls' default provider, needs cmake.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};

/// The name in the certificate, and the name a worker asks for (never checked: the
/// fingerprint is).
pub(super) const SERVER_NAME: &str = "taskloom-cluster";

/// The label of the keying material both proofs of the handshake cover.
pub(super) const EXPORTER_LABEL: &[u8] = b"EXPORTER-taskloom-cluster-binding";

/// Bytes of a certificate's fingerprint (SHA-256).
pub(super) const FINGERPRINT_LEN: usize = 32;

/// A certificate's SHA-256, shown as `sha256:` and 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint(pub(super) [u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// The fingerprint of a certificate (its DER bytes).
    pub(super) fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the cluster's TLS: {0}")]
pub(super) struct TlsError(String);

/// The scheduler's side: its certificate and the settings every connection uses.
pub(super) struct ServerTls {
    pub(super) config: Arc<ServerConfig>,
    pub(super) fingerprint: Fingerprint,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// rustls on ring. rustls 0.23.48 deprecates ring's provider because ring has no
/// post-quantum key exchange (X25519MLKEM768 is aws-lc-rs's): a session recorded
/// today could be read by a quantum computer some day. aws-lc-rs would cost every
/// build a large C library (tens of megabytes of source; cmake on some platforms)
/// for that one property; the guide's threat model says so.
#[allow(
    deprecated,
    reason = "ring has no post-quantum key exchange; see above"
)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ServerTls {
    /// A fresh self-signed certificate and key, and the server settings around them.
    pub(super) fn generate() -> Result<Self, TlsError> {
        let made = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
            .map_err(|e| TlsError(format!("cannot make the certificate: {e}")))?;
        let cert: CertificateDer<'static> = made.cert.der().clone();
        let fingerprint = Fingerprint::of(&cert);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(|e| TlsError(e.to_string()))?;
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        Ok(ServerTls {
            config: Arc::new(config),
            fingerprint,
        })
    }
}

/// The worker's settings: TLS 1.3 to a scheduler whose certificate has fingerprint
/// `pin` (any certificate when `None`: the binding authenticates then).
pub(super) fn client_config(pin: Option<Fingerprint>) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Pinned {
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The name the worker sends (the certificate is checked by its fingerprint).
pub(super) fn server_name() -> ServerName<'static> {
    ServerName::DnsName(
        rustls::pki_types::DnsName::try_from(SERVER_NAME)
            .unwrap_or_else(|_| unreachable!("a valid DNS name"))
            .to_owned(),
    )
}

/// The certificate check of a worker: the fingerprint, nothing else.
#[derive(Debug)]
struct Pinned {
    pin: Option<Fingerprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The message of a worker's refusal of a certificate that is not the cluster's.
#[derive(Debug)]
struct NotTheClusters {
    got: Fingerprint,
    pin: Fingerprint,
}

impl std::fmt::Display for NotTheClusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the scheduler's certificate ({}) is not the cluster's ({}, from the secret file)",
            self.got, self.pin
        )
    }
}

impl std::error::Error for NotTheClusters {}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        let got = Fingerprint::of(end_entity);
        if got == pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(NotTheClusters {
                    got,
                    pin,
                }))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What both proofs of the handshake are bound to: the transport, and for TLS the
/// session's exported keying material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Binding {
    /// Plain TCP: nothing to bind to (a relay can carry the proofs).
    Plain,
    /// This TLS session's export under [`EXPORTER_LABEL`].
    Tls([u8; 32]),
}

impl Binding {
    /// The bytes the proofs cover.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Binding::Plain => b"plain",
            Binding::Tls(export) => export,
        }
    }

    /// The binding of an established TLS connection (either side).
    pub(super) fn of<D>(conn: &rustls::ConnectionCommon<D>) -> Result<Binding, String> {
        conn.export_keying_material([0_u8; 32], EXPORTER_LABEL, None)
            .map(Binding::Tls)
            .map_err(|e| format!("could not bind the handshake to the TLS session ({e})"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn two_clusters_have_two_certificates() {
        let a = ServerTls::generate().unwrap();
        let b = ServerTls::generate().unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
        let shown = a.fingerprint.to_string();
        assert!(
            shown.starts_with("sha256:") && shown.len() == 7 + 64,
            "{shown}"
        );
    }
}
