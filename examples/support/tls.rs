//! HTTPS and wss:// for the example servers and the client: the
//! `--tls-cert FILE --tls-key FILE` flags (PEM), and a server
//! configuration from them; `--ca FILE` for the client. With them a server
//! serves its page over HTTPS and its socket as wss:// on the same port.
//! Needs the crate's feature `rustls` (e.g. `--features rustls`); without it
//! the flags are refused with that hint.
//!
//! A server wires it in three steps: `flags.parse(&arg, || args.next())`
//! in its argument loop (as `access::Access::parse`), `flags.server_config()`
//! once after it, and, per connection, `rfc6455::blocking::tls::accept_with`
//! (blocking) or `rfc6455::tokio::tls::accept_with` (tokio) before reading
//! the request head, when a configuration was given.

#![allow(dead_code)] // each example uses the part it needs

use std::path::PathBuf;

/// The help text of the server flags, to append to a server's usage.
pub const USAGE: &str = "\
  --tls-cert FILE           serve HTTPS and wss:// with this certificate
                            chain (PEM, the server's certificate first)
  --tls-key FILE            and this private key (PEM: PKCS #8, PKCS #1 or
                            SEC1); both or neither (needs --features rustls)";

/// The values of `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--tls-cert`.
    pub cert: Option<PathBuf>,
    /// `--tls-key`.
    pub key: Option<PathBuf>,
}

impl Flags {
    /// Takes `arg` (and its value from `next`) if it is one of the flags:
    /// `Ok(true)` when taken, `Ok(false)` when it is another argument.
    pub fn parse(
        &mut self,
        arg: &str,
        next: impl FnOnce() -> Option<String>,
    ) -> Result<bool, String> {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg, None),
        };
        let slot = match flag {
            "--tls-cert" => &mut self.cert,
            "--tls-key" => &mut self.key,
            _ => return Ok(false),
        };
        match inline.or_else(next) {
            Some(value) if !value.is_empty() => *slot = Some(PathBuf::from(value)),
            _ => return Err(format!("{flag} needs a file")),
        }
        Ok(true)
    }

    /// Whether TLS was asked for.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() || self.key.is_some()
    }
}

#[cfg(feature = "rustls")]
pub use with_rustls::*;

/// What a server keeps of the flags: the rustls configuration (`()` when
/// built without the `rustls` feature, where it never exists).
#[cfg(feature = "rustls")]
pub type ServerTls = std::sync::Arc<rfc6455::tls::rustls::ServerConfig>;
/// What a server keeps of the flags (built without `rustls`: nothing).
#[cfg(not(feature = "rustls"))]
pub type ServerTls = ();

#[cfg(feature = "rustls")]
mod with_rustls {
    use std::path::Path;
    use std::sync::Arc;

    use rfc6455::tls::rustls::pki_types::pem::PemObject;
    use rfc6455::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rfc6455::tls::rustls::{ClientConfig, RootCertStore, ServerConfig};

    use super::Flags;

    /// The server configuration: `None` without the flags, an error (to
    /// print) for one flag without the other or a file that does not load.
    pub fn server_config(flags: &Flags) -> Result<Option<Arc<ServerConfig>>, String> {
        match (&flags.cert, &flags.key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => load(cert, key).map(Some),
            _ => Err("--tls-cert and --tls-key go together".to_string()),
        }
    }

    /// A certificate chain and its key from PEM files, as a server
    /// configuration (ALPN `http/1.1`, provider `ring`).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate in it", cert.display()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
        rfc6455::tls::server_config(certs, key).map_err(|e| format!("TLS: {e}"))
    }

    /// A client configuration trusting only the CA certificates in the
    /// PEM file `ca` (`--ca` of the client).
    pub fn client_config_with_ca(ca: &Path) -> Result<Arc<ClientConfig>, String> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", ca.display()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no certificate in it", ca.display()));
        }
        Ok(rfc6455::tls::client_config(roots))
    }
}

/// Without the `rustls` feature: the flags are refused with the hint.
#[cfg(not(feature = "rustls"))]
pub fn server_config(flags: &Flags) -> Result<Option<ServerTls>, String> {
    if flags.enabled() {
        Err("TLS needs the crate's feature rustls (cargo run --features rustls ...)".to_string())
    } else {
        Ok(None)
    }
}
