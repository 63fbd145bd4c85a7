//! What the TLS tests share: a certificate authority and server
//! certificates generated at run time with rcgen (nothing checked in that
//! could expire), the rustls configurations built from them, and a
//! watchdog so that a hang fails the test instead of stalling the suite.
#![allow(dead_code)]

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PublicKeyData};
use rfc6455::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rfc6455::tls::rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A test CA and one server certificate it signed.
pub struct Pki {
    /// The CA's certificate (DER, PEM).
    pub ca_der: CertificateDer<'static>,
    pub ca_pem: String,
    /// The server's certificate and key (PEM), for the examples' flags.
    pub cert_pem: String,
    pub key_pem: String,
    /// The server certificate's DER.
    pub cert_der: CertificateDer<'static>,
    /// Base64 of the SHA-256 of the server key's SubjectPublicKeyInfo:
    /// what Chromium's `--ignore-certificate-errors-spki-list` takes.
    pub spki_pin: String,
    /// A server configuration presenting the certificate.
    pub server: Arc<ServerConfig>,
    /// A client configuration trusting the CA.
    pub client: Arc<ClientConfig>,
}

/// A CA, and a server certificate for `names` (DNS names or IP
/// addresses) signed by it.
pub fn pki(names: &[&str]) -> Pki {
    pki_valid(names, true)
}

/// [`pki`] with a server certificate that expired in 2000 (`valid` false).
pub fn pki_valid(names: &[&str], valid: bool) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A name of its own: a second CA of the same name would be taken for
    // the issuer and fail on the signature instead of being unknown.
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("rfc6455 test CA {} {serial}", std::process::id()),
    );
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    if !valid {
        params.not_before = rcgen::date_time_ymd(1999, 1, 1);
        params.not_after = rcgen::date_time_ymd(2000, 1, 1);
    }
    params
        .distinguished_name
        .push(DnType::CommonName, "rfc6455 test server");
    let cert = params.signed_by(&key, &issuer).unwrap();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let server = rfc6455::tls::server_config(vec![cert.der().clone()], key_der).unwrap();
    Pki {
        ca_der: ca.der().clone(),
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        spki_pin: spki_pin(&key.subject_public_key_info()),
        server,
        client: client_trusting(ca.der().clone()),
    }
}

/// Base64 of SHA-256 (rustls' own, from the ring provider) of `spki`.
fn spki_pin(spki: &[u8]) -> String {
    use base64::Engine as _;
    use rfc6455::tls::rustls::SupportedCipherSuite;
    let SupportedCipherSuite::Tls13(suite) =
        rfc6455::tls::rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
    else {
        unreachable!("a TLS 1.3 suite")
    };
    let digest = suite.common.hash_provider.hash(spki);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// A client configuration whose only root is `ca`.
pub fn client_trusting(ca: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    rfc6455::tls::client_config(roots)
}

/// Runs `f` on a thread; fails the test if it takes longer than `limit`.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            handle.join().unwrap();
            value
        }
        // The thread panicked (its panic message is above) or hangs.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            panic!("the test body panicked")
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test did not finish within {limit:?}"),
    }
}

/// A message of `len` bytes whose content depends on `seed`.
pub fn payload(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + seed) as u8).collect()
}

/// A text of `len` bytes (ASCII).
pub fn text(seed: usize, len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i + seed) % 26) as u8))
        .collect()
}

/// The sizes the echo tests cover: empty, the frame length encodings'
/// edges, TLS record edges (16 KiB), 64 KiB and 1 MiB.
pub const SIZES: &[usize] = &[
    0,
    1,
    125,
    126,
    65535,
    65536,
    16383,
    16384,
    16385,
    100_000,
    1 << 20,
];
