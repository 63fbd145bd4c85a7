//! A blocking adapter over any [`Transport`] (a `TcpStream`, a TLS stream
//! over one, a Unix socket; any `Read + Write` through [`NoTimeouts`]). It
//! drives a [`Connection`](crate::Connection) and flushes after every call,
//! so a thread-per-connection server is a few lines:
//!
//! ```no_run
//! use std::net::TcpListener;
//! use rfc6455::blocking::{Error, WebSocket};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), Error> {
//!         let mut ws = WebSocket::accept(stream?)?;
//!         while let Some(message) = ws.read()? {
//!             ws.send(&message)?; // echo
//!         }
//!         Ok(()) // the close handshake is done
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Endings
//! [`WebSocket::read`] returns `Ok(None)` once the connection closed with a
//! close handshake (the close reply is sent and the lingering close done),
//! and [`Error::Lost`] once if it ended without one (the peer vanished, a
//! timeout). A protocol error by the peer is [`Error::Protocol`], its close
//! frame already sent.
//!
//! # Timers
//! The adapter has none of its own: a read blocks at most until the
//! connection's next deadline ([`Connection::poll_timeout`](crate::Connection::poll_timeout)),
//! through the stream's read timeout, so the keepalive, the closing
//! handshake's timeout and the write timeout of [`Config`](crate::Config)
//! work over any [`Transport`]. The opening handshake is bounded by
//! [`Limits::timeout`](crate::handshake::Limits::timeout).
//!
//! For one thread that reads while another sends over a `TcpStream` or a
//! TLS stream (a chat server's broadcast, a client that prints while the
//! user types), [`WebSocket::split`] gives a [`Reader`] and a [`Writer`].
//!
//! # TLS
//! With feature `rustls`, the `tls` module has wss://:
//! `tls::connect("wss://...")`, `tls::accept(tcp, &config)` for servers,
//! and `tls::TlsStream`, a [`Transport`] that [`WebSocket::split`] can split.

mod handshake;

mod layer;
#[cfg(feature = "rustls")]
mod session;
mod split;
#[cfg(feature = "rustls")]
pub mod tls;
mod transport;
mod websocket;

use std::io;

use crate::error::{HandshakeError, ProtocolError, UsageError};
use crate::message::Lost;

pub use handshake::read_request;
pub use layer::Split;
pub use split::{Reader, Writer};
pub use transport::{NoTimeouts, Transport};
pub use websocket::WebSocket;

/// Errors of the blocking adapter, by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream failed.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    /// The opening handshake failed. On the server side the HTTP error
    /// response was already sent.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer broke the protocol; the close frame with the matching code
    /// was sent before this was returned.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The caller misused the API (e.g. sent after closing).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The opening handshake did not finish within
    /// [`Limits::timeout`](crate::handshake::Limits::timeout): on a server
    /// the request head did not arrive whole (nothing was answered), on a
    /// client the server's response head did not. Dropping the stream ends it.
    #[error("the opening handshake did not finish in time")]
    HandshakeTimeout,
    /// The connection ended without a close handshake (code 1006): the
    /// transport ended, or a timeout of [`Config`](crate::Config) gave up on
    /// the peer (then a close frame with 1001 was tried without waiting).
    #[error("connection lost: {0}")]
    Lost(Lost),
    /// TLS failed (feature `rustls`): the certificate was not trusted or
    /// not for this host, the peer sent an alert or something that is not
    /// TLS. Never a WebSocket handshake failure ([`Error::Handshake`]);
    /// [`tls_failure`](Self::tls_failure) sorts it.
    #[cfg(feature = "rustls")]
    #[error("TLS error: {0}")]
    Tls(#[from] rustls::Error),
}

impl From<io::Error> for Error {
    /// An I/O error, or `Error::Tls` (feature `rustls`) for the rustls
    /// error a TLS stream reports inside one.
    fn from(error: io::Error) -> Self {
        #[cfg(feature = "rustls")]
        let error = match crate::tls::split_io(error) {
            Ok(tls) => return Error::Tls(tls),
            Err(error) => error,
        };
        Error::Io(error)
    }
}

impl Error {
    /// Whether this is a read or write timeout of the stream itself
    /// (`WouldBlock` on Unix, `TimedOut` on Windows), for streams with
    /// timeouts of their own behind [`NoTimeouts`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if transport::is_timeout(e))
    }

    /// What went wrong in TLS, sorted ([`crate::tls::Failure`]), if this is
    /// [`Error::Tls`].
    #[cfg(feature = "rustls")]
    pub fn tls_failure(&self) -> Option<crate::tls::Failure> {
        match self {
            Error::Tls(e) => Some(crate::tls::Failure::of(e)),
            _ => None,
        }
    }
}
