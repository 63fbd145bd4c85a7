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

use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::Instant;
use rustls::{ClientConfig, ServerConfig};

/// A TLS stream (client or server, tokio-rustls) for the adapter.
///
/// The one difference from tokio-rustls' own stream: a peer that ends the
/// TCP connection without a TLS `close_notify` is an end of the stream
/// (a read of 0 bytes), not an `UnexpectedEof` error. Browsers and many
/// servers close that way; WebSocket has its own close handshake
/// (RFC 6455 §7.1), so a truncated connection is still told apart: it ends
/// without a close frame ([`Lost::TransportEnded`](crate::Lost::TransportEnded)).
/// An error would instead end the connection before the bytes that came
/// with the end (the peer's close frame) were read.
#[derive(Debug)]
pub struct TlsStream<S>(tokio_rustls::TlsStream<S>);

impl<S> TlsStream<S> {
    /// The tokio-rustls stream: the socket and the rustls session
    /// (`get_ref()`: negotiated ALPN, the peer's certificates).
    pub fn get_ref(&self) -> &tokio_rustls::TlsStream<S> {
        &self.0
    }

    /// The tokio-rustls stream, mutably.
    pub fn get_mut(&mut self) -> &mut tokio_rustls::TlsStream<S> {
        &mut self.0
    }

    /// The tokio-rustls stream.
    pub fn into_inner(self) -> tokio_rustls::TlsStream<S> {
        self.0
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    /// Sends a `close_notify`, then shuts the socket's write half down.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

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
        None => crate::tls::connect_config()?,
    };
    let name = crate::tls::server_name(&uri)?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    let stream = within(until, async { Ok(connector.connect(name, tcp).await?) }).await?;
    let stream = TlsStream(tokio_rustls::TlsStream::Client(stream));
    options.limits.timeout = left(until)?;
    WebSocket::connect_with(stream, url, options, config).await
}

/// Server: the TLS handshake over an accepted `io` within the default
/// 10 s ([`Limits::timeout`]); then [`WebSocket::accept`] or
/// [`read_request`](super::read_request) on the stream. A client that is
/// not speaking TLS (plain HTTP) gets an alert and this fails with
/// [`Error::Tls`] at once. For one deadline over TLS and the request head,
/// use [`accept_with`].
pub async fn accept<S>(io: S, config: &Arc<ServerConfig>) -> Result<TlsStream<S>, Error>
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
) -> Result<(TlsStream<S>, Limits), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let until = limits.timeout.map(|t| Instant::now() + t);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
    let stream = within(until, async { Ok(acceptor.accept(io).await?) }).await?;
    let stream = TlsStream(tokio_rustls::TlsStream::Server(stream));
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
