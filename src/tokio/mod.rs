//! The async adapter (feature `tokio`): a WebSocket over any
//! `AsyncRead + AsyncWrite` stream, driven by one task that owns the socket.
//!
//! ```no_run
//! use rfc6455::tokio::{Error, WebSocket};
//!
//! # async fn serve() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut ws = WebSocket::accept(tcp).await?;
//!         while let Some(message) = ws.recv().await? {
//!             ws.send(message).await?; // echo
//!         }
//!         Ok::<(), Error>(())
//!     });
//! }
//! # }
//! ```
//!
//! # How it is built
//! Each connection has a [`Driver`] task (spawned by the constructors, or
//! handed to you by [`WebSocket::with_driver`]) that alone reads and writes
//! the socket, and a state shared with the handles: the sans-IO
//! [`Connection`](crate::Connection), the queue of received events, and the
//! wakers of whoever waits. The handles never touch the socket: a send
//! queues the encoded frame into the connection and wakes the driver; a
//! receive takes a whole event from the queue. So reading, automatic pongs,
//! close replies, keepalive pings and every timeout go on while the
//! application is busy, and any number of [`Sender`] clones send at once
//! without callbacks.
//!
//! The shared state is behind one `std::sync::Mutex`, held for one
//! non-blocking step at a time (queue a frame, take an event, or one
//! non-blocking read or write by the driver) and never across an `.await`.
//! A channel per direction was the alternative; it would bound messages
//! rather than bytes, copy each message once more, and still need the
//! connection's state in one place for compression and the close handshake.
//!
//! # Bounds
//! * Output: [`Sender::send`] waits while more than
//!   [`Config::output_high_water`](crate::Config::output_high_water) bytes
//!   are queued (default 64 KiB); [`Sender::try_send`] hands the message
//!   back. Over it the driver also stops reading while a reply of the
//!   core's own (a pong, a close reply) is unwritten, so a peer that sends
//!   pings and never reads gains nothing either. A peer that stops reading
//!   therefore holds at most that much; after
//!   [`Config::write_timeout`](crate::Config::write_timeout) with nothing
//!   written it is dropped ([`Error::Lost`]).
//! * Input: received events wait for the application in a queue of at most
//!   64 events and [`Config::input_high_water`](crate::Config::input_high_water)
//!   payload bytes (plus one message); while it is full the driver stops
//!   reading. Dropping the [`Receiver`] discards events instead.
//!
//! # Endings
//! [`WebSocket::recv`] returns `Ok(None)` once the close handshake is over,
//! `Err(Error::Lost(_))` once if the connection ended without one; the
//! [`Stream`](futures_core::Stream) ends the same way. The driver finishes
//! the lingering close after that in the background. Dropping every
//! handle closes the connection with 1001.
//!
//! # Cancel safety
//! Every `recv` is cancel safe (whole events only); every `send`, `ping`,
//! `flush` is cancel safe (a message is queued whole or not at all);
//! `close` is cancel safe (the close goes on, only the wait ends). The
//! handshake functions consume the stream and are not: bound them with
//! [`Limits::timeout`](crate::handshake::Limits::timeout).

mod driver;
mod handshake;
mod shared;
mod shutdown;
mod socket;
#[cfg(feature = "rustls")]
pub mod tls;

use std::io;

use crate::error::{HandshakeError, ProtocolError, UsageError};
use crate::message::Lost;

pub use driver::Driver;
pub use handshake::read_request;
pub use shutdown::Tracker;
pub use socket::{Receiver, Sender, TrySendError, WebSocket};

/// Errors of the async adapter, by who is at fault (as the blocking
/// adapter's [`Error`](crate::blocking::Error)).
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
    /// is queued (the driver sends it).
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The caller misused the API, e.g. sent after the close
    /// ([`UsageError::Closed`]).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The opening handshake did not finish within
    /// [`Limits::timeout`](crate::handshake::Limits::timeout).
    #[error("the opening handshake did not finish in time")]
    HandshakeTimeout,
    /// The connection ended without a close handshake (code 1006).
    #[error("connection lost: {0}")]
    Lost(Lost),
    /// TLS failed (feature `rustls`), as the blocking adapter's
    /// [`Error::Tls`](crate::blocking::Error::Tls): never a WebSocket
    /// handshake failure; [`tls_failure`](Self::tls_failure) sorts it.
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
