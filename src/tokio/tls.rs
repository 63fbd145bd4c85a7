//! wss:// for the async adapter (features `tokio` and `rustls`), on
//! tokio-rustls: [`connect`] for a `ws://` or `wss://` URL in one call,
//! [`accept`] for servers. The adapter is generic over
//! `AsyncRead + AsyncWrite`, so a TLS stream is a stream like any other:
//! keepalive, timeouts, backpressure and the split halves are the same.
//!
//! ```no_run
//! # #[cfg(feature = "rustls-tls-webpki-roots")]
//! # async fn run() -> Result<(), rfc6455::tokio::Error> {
//! let (ws, _response) = rfc6455::tokio::tls::connect("wss://example.com/socket").await?;
//! ws.send(rfc6455::Message::text("hello")).await?;
//! # Ok(()) }
//! ```
//!
//! A server (with a `ServerConfig` from [`crate::tls::server_config`]):
//!
//! ```no_run
//! # async fn serve(config: std::sync::Arc<rfc6455::tls::rustls::ServerConfig>) -> Result<(), rfc6455::tokio::Error> {
//! use rfc6455::tokio::{WebSocket, tls};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9443").await?;
//! let (tcp, _) = listener.accept().await?;
//! let ws = WebSocket::accept(tls::accept(tcp, &config).await?).await?;
//! # Ok(()) }
//! ```
//!
//! Cancel safety: none of these functions is cancel safe (each consumes
//! its stream); each is bounded by [`Limits::timeout`] instead.

use std::sync::Arc;
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::net::TcpStream;
use ::tokio::time::Instant;
use rustls::{ClientConfig, ServerConfig};

pub use tokio_rustls::client::TlsStream as ClientTlsStream;
pub use tokio_rustls::server::TlsStream as ServerTlsStream;

use super::{Error, WebSocket};
use crate::connection::Config;
use crate::handshake::{ClientOptions, Limits, Response, Uri};

/// Client: connects to a `ws://` or `wss://` URL with the default options
/// and [`Config`], verifying a `wss://` server against the roots of the
/// crate's features ([`crate::tls::default_client_config`]). DNS, TCP,
/// TLS and the WebSocket handshake together within 10 s. Spawns the driver.
#[cfg(any(
    feature = "rustls-tls-webpki-roots",
    feature = "rustls-tls-native-roots"
))]
pub async fn connect(url: &str) -> Result<(WebSocket, Response), Error> {
    connect_with(url, None, ClientOptions::default(), Config::default()).await
}

/// Client with a TLS configuration of one's own (a private CA, a client
/// certificate; `None`: [`crate::tls::default_client_config`], which needs
/// a root feature), options and a connection config. DNS and TCP (every
/// address in turn), TLS (SNI and ALPN `http/1.1`, the certificate
/// verified for the URL's host) and the WebSocket handshake all end by
/// `options.limits.timeout` from now ([`Error::HandshakeTimeout`]). Sets
/// `TCP_NODELAY`.
pub async fn connect_with(
    url: &str,
    tls: Option<Arc<ClientConfig>>,
    mut options: ClientOptions,
    config: Config,
) -> Result<(WebSocket, Response), Error> {
    let uri = Uri::parse(url)?;
    let until = options.limits.timeout.map(|t| Instant::now() + t);
    let host = uri.host().trim_start_matches('[').trim_end_matches(']');
    let tcp = within(until, async {
        Ok(TcpStream::connect((host, uri.port())).await?)
    })
    .await?;
    let _ = tcp.set_nodelay(true);
    if !uri.secure() {
        options.limits.timeout = left(until)?;
        return WebSocket::connect_with(tcp, url, options, config).await;
    }
    let tls = match tls {
        Some(tls) => tls,
        None => default_config()?,
    };
    let name = crate::tls::server_name(&uri)?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    let stream = within(until, async { Ok(connector.connect(name, tcp).await?) }).await?;
    options.limits.timeout = left(until)?;
    WebSocket::connect_with(stream, url, options, config).await
}

#[cfg(any(
    feature = "rustls-tls-webpki-roots",
    feature = "rustls-tls-native-roots"
))]
fn default_config() -> Result<Arc<ClientConfig>, Error> {
    Ok(crate::tls::default_client_config()?)
}

#[cfg(not(any(
    feature = "rustls-tls-webpki-roots",
    feature = "rustls-tls-native-roots"
)))]
fn default_config() -> Result<Arc<ClientConfig>, Error> {
    Err(Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "wss:// without a ClientConfig needs feature rustls-tls-webpki-roots or rustls-tls-native-roots",
    )))
}

/// Server: the TLS handshake over an accepted `io` within the default
/// 10 s ([`Limits::timeout`]); then [`WebSocket::accept`] or
/// [`read_request`](super::read_request) on the stream. A client that is
/// not speaking TLS (plain HTTP) gets an alert and this fails with
/// [`Error::Tls`] at once. For one deadline over TLS and the request head,
/// use [`accept_with`].
pub async fn accept<S>(io: S, config: &Arc<ServerConfig>) -> Result<ServerTlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    Ok(accept_with(io, config, &Limits::default()).await?.0)
}

/// Server: the TLS handshake within `limits.timeout`; returns the stream
/// and `limits` with the time that is left, for the WebSocket handshake
/// that follows ([`WebSocket::accept_with`], [`read_request`](super::read_request)).
pub async fn accept_with<S>(
    io: S,
    config: &Arc<ServerConfig>,
    limits: &Limits,
) -> Result<(ServerTlsStream<S>, Limits), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let until = limits.timeout.map(|t| Instant::now() + t);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
    let stream = within(until, async { Ok(acceptor.accept(io).await?) }).await?;
    let left = Limits {
        timeout: left(until)?,
        ..*limits
    };
    Ok((stream, left))
}

/// Runs `step` until `until` ([`Error::HandshakeTimeout`] after it).
async fn within<T>(
    until: Option<Instant>,
    step: impl core::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match until {
        None => step.await,
        Some(until) => ::tokio::time::timeout_at(until, step)
            .await
            .unwrap_or(Err(Error::HandshakeTimeout)),
    }
}

/// The time left until `until`, or [`Error::HandshakeTimeout`] if none.
fn left(until: Option<Instant>) -> Result<Option<Duration>, Error> {
    match until {
        None => Ok(None),
        Some(until) => match until.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(Error::HandshakeTimeout),
        },
    }
}
