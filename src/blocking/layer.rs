//! What lies between a split WebSocket's halves and its socket: nothing
//! (plain TCP) or a TLS [`Session`](super::session::Session), shared by
//! both halves under the one lock. [`Split`] says which streams split.
//!
//! A TLS stream cannot be `try_clone`d, but its socket can: both halves get
//! a handle of the `TcpStream`, and the TLS state lives beside the
//! connection. The reader reads ciphertext without the lock and decrypts
//! under it; the one flusher (see [`WebSocket::split`](super::WebSocket::split))
//! encrypts under it and writes without it. Records therefore leave in the
//! order they were sealed, whichever half queued them.

use std::io;
use std::net::TcpStream;
use std::vec::Vec;

use bytes::Buf;

use crate::connection::Connection;

/// The most bytes copied out of the connection for one plain `write` call.
const WRITE_CHUNK: usize = 64 * 1024;

/// Plain TCP, or TLS.
#[derive(Debug)]
pub(super) enum Layer {
    Plain,
    #[cfg(feature = "rustls")]
    Tls(std::boxed::Box<super::session::Session>),
}

impl Layer {
    /// Whether there is anything to write: the connection's output, or
    /// ciphertext waiting.
    pub(super) fn wants_write(&self, conn: &Connection) -> bool {
        match self {
            Layer::Plain => conn.output_len() > 0,
            #[cfg(feature = "rustls")]
            Layer::Tls(session) => conn.output_len() > 0 || session.wants_write(),
        }
    }

    /// Whether reading made TLS queue a reply of its own (an alert, a key
    /// update's answer); never the connection's output, which its writer
    /// sends (a reader that took over a large flush could block in it while
    /// its peer's reader, doing the same, blocks too).
    pub(super) fn replies(&self) -> bool {
        match self {
            Layer::Plain => false,
            #[cfg(feature = "rustls")]
            Layer::Tls(session) => session.replies(),
        }
    }

    /// The bytes to write to the socket next (a copy, written without the
    /// lock); empty when nothing is to be written.
    pub(super) fn next_chunk(&mut self, conn: &mut Connection) -> io::Result<Vec<u8>> {
        match self {
            Layer::Plain => {
                let output: &crate::Output = conn.output();
                let pending = output.chunk();
                Ok(pending[..pending.len().min(WRITE_CHUNK)].to_vec())
            }
            #[cfg(feature = "rustls")]
            Layer::Tls(session) => {
                let output: &crate::Output = conn.output();
                session.seal(output.chunk())?;
                Ok(session.pending().to_vec())
            }
        }
    }

    /// `n` bytes of the last [`next_chunk`](Self::next_chunk) were
    /// written: the connection's output advances by what is on the wire
    /// (over TLS, by a record once all its ciphertext is).
    pub(super) fn wrote(&mut self, conn: &mut Connection, n: usize) {
        match self {
            Layer::Plain => conn.output().advance(n),
            #[cfg(feature = "rustls")]
            Layer::Tls(session) => {
                session.wrote(n);
                let done = session.take_written();
                conn.output().advance(done);
            }
        }
    }

    /// Hands bytes read from the socket to the connection; returns how many
    /// were taken. Sets `*ended` when TLS saw the peer's `close_notify`.
    pub(super) fn receive(
        &mut self,
        conn: &mut Connection,
        bytes: &[u8],
        #[cfg_attr(not(feature = "rustls"), allow(unused_variables))] ended: &mut bool,
    ) -> io::Result<usize> {
        match self {
            Layer::Plain => Ok(conn.receive(bytes)),
            #[cfg(feature = "rustls")]
            Layer::Tls(session) => session.receive(conn, bytes, ended),
        }
    }

    /// Whether decrypted bytes wait that the connection has not taken.
    pub(super) fn holds_input(&mut self) -> bool {
        match self {
            Layer::Plain => false,
            #[cfg(feature = "rustls")]
            Layer::Tls(session) => session.holds_plaintext(),
        }
    }

    /// Before the write half is shut down: TLS queues its `close_notify`.
    pub(super) fn close_notify(&mut self) {
        match self {
            Layer::Plain => {}
            #[cfg(feature = "rustls")]
            Layer::Tls(session) => session.close_notify(),
        }
    }
}

/// Streams whose [`WebSocket`](super::WebSocket) can be
/// [`split`](super::WebSocket::split) into a reading and a writing half:
/// `TcpStream`, and with feature `rustls` `blocking::tls::TlsStream` and
/// `blocking::tls::MaybeTlsStream`. Sealed: the halves
/// need a socket handle each and the stream's state beside the connection.
pub trait Split: super::Transport + sealed::Sealed {}

// The halves' layer is the crate's business: the trait is sealed.
#[allow(private_interfaces)]
mod sealed {
    use super::*;

    pub trait Sealed {
        /// Two handles of the socket and the layer between them and the
        /// connection.
        fn halves(self) -> io::Result<(TcpStream, TcpStream, Layer)>;
    }

    impl Sealed for TcpStream {
        fn halves(self) -> io::Result<(TcpStream, TcpStream, Layer)> {
            let other = self.try_clone()?;
            Ok((self, other, Layer::Plain))
        }
    }

    #[cfg(feature = "rustls")]
    impl Sealed for super::super::tls::TlsStream {
        fn halves(self) -> io::Result<(TcpStream, TcpStream, Layer)> {
            let (sock, session) = self.into_parts();
            let other = sock.try_clone()?;
            Ok((sock, other, Layer::Tls(std::boxed::Box::new(session))))
        }
    }

    #[cfg(feature = "rustls")]
    impl Sealed for super::super::tls::MaybeTlsStream {
        fn halves(self) -> io::Result<(TcpStream, TcpStream, Layer)> {
            match self {
                super::super::tls::MaybeTlsStream::Plain(s) => s.halves(),
                super::super::tls::MaybeTlsStream::Tls(s) => s.halves(),
            }
        }
    }
}

impl Split for TcpStream {}
#[cfg(feature = "rustls")]
impl Split for super::tls::TlsStream {}
#[cfg(feature = "rustls")]
impl Split for super::tls::MaybeTlsStream {}
