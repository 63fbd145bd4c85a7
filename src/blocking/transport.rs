//! [`Transport`]: what the blocking adapter needs of a stream beyond
//! `Read + Write` to run the connection's timers and its teardown.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A blocking byte stream the adapter can put a timeout on and half-close:
/// what it needs to run the connection's timers (keepalive, close and
/// write timeouts, the handshake deadline) and a lingering close.
///
/// Implemented for `TcpStream`, `&TcpStream` and (on Unix) `UnixStream`,
/// and for [`NoTimeouts`], which wraps any `Read + Write` and does without.
/// For your own stream type implement it by forwarding to the socket
/// underneath (with feature `rustls`, `blocking::tls::TlsStream` does that
/// for rustls over a `TcpStream`).
pub trait Transport: Read + Write {
    /// Sets how long a `read` may block (`None`: without limit). A read that
    /// times out fails with `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Sets how long a `write` may block without progress (`None`: without limit).
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Shuts the write half down (TCP FIN) after what was written; reads
    /// still work.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

/// The shortest socket timeout (zero means "none" to the OS and is refused).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

fn clamp(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|t| t.max(MIN_TIMEOUT))
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, clamp(timeout))
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, clamp(timeout))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Transport for &TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, clamp(timeout))
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, clamp(timeout))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, clamp(timeout))
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, clamp(timeout))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A TLS stream of rustls' own (`rustls::StreamOwned`, client or server)
/// over any [`Transport`]: the timeouts are the socket's, so keepalive and
/// the close timeout work over it as over the crate's
/// [`TlsStream`](super::tls::TlsStream). Shutting down the write side sends
/// TLS's `close_notify` first, then shuts down the socket's.
#[cfg(feature = "rustls")]
impl<C, D, T> Transport for rustls::StreamOwned<C, T>
where
    C: core::ops::DerefMut + core::ops::Deref<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
    T: Transport,
{
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        self.sock.shutdown_write()
    }
}

/// Any `Read + Write` stream (a pipe, an in-memory stream, a stream type
/// you cannot implement [`Transport`] for), without timeouts: the
/// connection's timers never fire, since a blocked read cannot be woken, and
/// a lingering close waits for the peer's end-of-file. Set timeouts on the
/// stream itself if it has them.
#[derive(Debug, Clone, Default)]
pub struct NoTimeouts<S>(pub S);

impl<S: Read> Read for NoTimeouts<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for NoTimeouts<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for NoTimeouts<S> {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `WouldBlock` on Unix, `TimedOut` on Windows: a socket timeout.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
