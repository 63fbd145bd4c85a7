//! wss:// through rustls (feature `rustls`): what both adapters share —
//! the crypto provider, client and server configurations, the host name
//! to verify, and how a TLS failure is told apart from a WebSocket one.
//! The adapters' own parts are [`blocking::tls`](crate::blocking::tls)
//! and (with `tokio`) [`tokio::tls`](crate::tokio::tls).
//!
//! # Crypto provider
//! Every configuration built here names its provider explicitly
//! ([`provider`], rustls' `ring`), through
//! `ClientConfig::builder_with_provider`: rustls' process-wide default is
//! never consulted, so the "no process-level CryptoProvider" panic cannot
//! happen, whichever other crates in the program enable `aws-lc-rs` too.
//! `ring` rather than `aws-lc-rs` because it builds with a C compiler alone
//! (no cmake, no nasm) and in a fraction of the time; both offer the same
//! TLS 1.2/1.3 cipher suites rustls enables by default. A
//! configuration you build yourself is yours: build it with
//! `builder_with_provider(`[`provider`]`())` too, or install a default.
//!
//! # Roots
//! [`client_config`] verifies servers against the roots you give it.
//! [`default_client_config`] uses the roots of the crate's features:
//! Mozilla's, compiled in (`rustls-tls-webpki-roots`), and/or the
//! operating system's store (`rustls-tls-native-roots`), loaded once.
//!
//! # Errors
//! A TLS failure is `Error::Tls(rustls::Error)` in both adapters
//! ([`blocking::Error::Tls`](crate::blocking::Error::Tls)), never
//! `Error::Handshake` (which is the WebSocket handshake's HTTP exchange).
//! [`Failure::of`] sorts it into the cases a user acts on: an untrusted
//! certificate, a wrong host name, an alert from the peer, ...

use std::io;
use std::sync::Arc;
use std::vec;
use std::vec::Vec;

pub use rustls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore, ServerConfig};

use crate::handshake::Uri;

/// The ALPN protocol both sides announce: a WebSocket handshake is
/// HTTP/1.1 (RFC 6455 §4.1). A server that offers only `h2` then fails the
/// TLS handshake instead of answering in a protocol we do not speak.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The crypto provider of every configuration this crate builds: rustls'
/// `ring` provider (see the module docs for why).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that trusts `roots`, with no client certificate,
/// rustls' safe default protocol versions (TLS 1.2 and 1.3) and ALPN
/// `http/1.1`. For client certificates, build one yourself from
/// `ClientConfig::builder_with_provider(`[`provider`]`())`.
pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Arc::new(config)
}

/// A server configuration presenting `certs` (the server's certificate
/// first, then its chain) and `key`, with no client authentication, the
/// safe default protocol versions and ALPN `http/1.1`. Fails if the key
/// does not fit the certificate or is of an unsupported kind.
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The roots of the enabled features: Mozilla's (`rustls-tls-webpki-roots`)
/// and the operating system's (`rustls-tls-native-roots`), both if both
/// are on. Fails (`NotFound`) if the native store has no usable root and
/// no other roots are compiled in.
#[cfg(any(
    feature = "rustls-tls-webpki-roots",
    feature = "rustls-tls-native-roots"
))]
pub fn default_roots() -> io::Result<RootCertStore> {
    #[allow(unused_mut)]
    let mut roots = RootCertStore::empty();
    #[cfg(feature = "rustls-tls-webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    #[cfg(feature = "rustls-tls-native-roots")]
    {
        // Unreadable entries are skipped, as browsers skip them.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    if roots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no root certificates found in the operating system's store",
        ));
    }
    Ok(roots)
}

/// [`client_config`] over [`default_roots`], built once per process (the
/// native store is read from disk) and shared.
#[cfg(any(
    feature = "rustls-tls-webpki-roots",
    feature = "rustls-tls-native-roots"
))]
pub fn default_client_config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: std::sync::OnceLock<Arc<ClientConfig>> = std::sync::OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(Arc::clone(config));
    }
    let config = client_config(default_roots()?);
    Ok(Arc::clone(CONFIG.get_or_init(|| config)))
}

/// The client configuration `connect` uses when given none: the default
/// roots' ([`default_client_config`]), or, built without a roots feature,
/// an error that names them.
pub(crate) fn connect_config() -> io::Result<Arc<ClientConfig>> {
    #[cfg(any(
        feature = "rustls-tls-webpki-roots",
        feature = "rustls-tls-native-roots"
    ))]
    return default_client_config();
    #[cfg(not(any(
        feature = "rustls-tls-webpki-roots",
        feature = "rustls-tls-native-roots"
    )))]
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "wss:// without a ClientConfig needs feature rustls-tls-webpki-roots or rustls-tls-native-roots",
    ))
}

/// The name to send (SNI) and verify the certificate against: the URI's
/// host, an IP address literal without its brackets.
pub fn server_name(uri: &Uri) -> io::Result<ServerName<'static>> {
    let host = uri.host().trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(std::string::String::from(host))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// What went wrong in TLS, sorted for the decisions a program makes
/// (retry, tell the user, fix the configuration). Get it with
/// [`Failure::of`] or the adapters' `Error::tls_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The peer's certificate does not chain to a trusted root
    /// (`CertificateError::UnknownIssuer`): a self-signed or private-CA
    /// certificate without that CA among the roots.
    UntrustedCertificate,
    /// The certificate is valid, but not for the host name connected to
    /// (`CertificateError::NotValidForName*`).
    WrongHost,
    /// The certificate expired or is not valid yet.
    Expired,
    /// Another problem with the peer's certificate (bad encoding or
    /// signature, revoked, wrong purpose, ...).
    BadCertificate,
    /// The peer refused the handshake with an alert, e.g. `UnknownCA` or
    /// `BadCertificate` when it did not trust our certificate, or
    /// `NoApplicationProtocol` for ALPN.
    Alert(AlertDescription),
    /// The peer sent something that is not TLS (a plain-HTTP client on a
    /// TLS port, a plain server answering TLS) or broke the protocol.
    NotTls,
    /// Anything else rustls refused.
    Other,
}

impl Failure {
    /// Sorts a rustls error.
    pub fn of(error: &rustls::Error) -> Failure {
        use rustls::Error as E;
        match error {
            E::InvalidCertificate(e) => match e {
                CertificateError::UnknownIssuer => Failure::UntrustedCertificate,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => Failure::WrongHost,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => Failure::Expired,
                _ => Failure::BadCertificate,
            },
            E::AlertReceived(alert) => Failure::Alert(*alert),
            E::InvalidMessage(_)
            | E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::PeerMisbehaved(_)
            | E::PeerIncompatible(_) => Failure::NotTls,
            _ => Failure::Other,
        }
    }
}

/// The rustls error inside an I/O error (rustls' streams report theirs as
/// `InvalidData` with the rustls error inside), or the I/O error back.
pub(crate) fn split_io(error: io::Error) -> Result<rustls::Error, io::Error> {
    let is_tls = error
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>());
    if !is_tls {
        return Err(error);
    }
    match error
        .into_inner()
        .map(|inner| inner.downcast::<rustls::Error>())
    {
        Some(Ok(tls)) => Ok(*tls),
        _ => unreachable!("checked above"),
    }
}
