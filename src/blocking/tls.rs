//! wss:// for the blocking adapter (feature `rustls`): [`TlsStream`], a
//! rustls session over a `TcpStream` that is a [`Transport`] (so the
//! handshake deadline, keepalive, the close timeout and the lingering close
//! work as over TCP) and that [`WebSocket::split`] can split; [`connect`]
//! for a `ws://` or `wss://` URL in one call; [`accept`] for servers.
//!
//! ```no_run
//! # #[cfg(feature = "rustls-tls-webpki-roots")]
//! # fn main() -> Result<(), rfc6455::blocking::Error> {
//! let (mut ws, _response) = rfc6455::blocking::tls::connect("wss://example.com/socket")?;
//! ws.send_text("hello")?;
//! # Ok(()) }
//! # #[cfg(not(feature = "rustls-tls-webpki-roots"))] fn main() {}
//! ```
//!
//! A server (with a `ServerConfig` from [`crate::tls::server_config`]):
//!
//! ```no_run
//! # fn serve(config: std::sync::Arc<rfc6455::tls::rustls::ServerConfig>) -> Result<(), rfc6455::blocking::Error> {
//! use rfc6455::blocking::{WebSocket, tls};
//! let listener = std::net::TcpListener::bind("127.0.0.1:9443")?;
//! let (tcp, _) = listener.accept()?;
//! let mut ws = WebSocket::accept(tls::accept(tcp, &config)?)?;
//! # Ok(()) }
//! ```
//!
//! Every step of [`connect`] (DNS, TCP, TLS, the WebSocket handshake) and
//! of a server's accept (TLS, then the request head) runs under one
//! deadline, [`Limits::timeout`] (10 s by default). TLS failures are
//! [`Error::Tls`]; [`Error::tls_failure`] sorts them.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::string::ToString;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use std::vec::Vec;

use rustls::{ClientConfig, ServerConfig};

use super::session::Session;
use super::transport::is_timeout;
use super::{Error, Transport, WebSocket};
use crate::connection::Config;
use crate::handshake::{ClientOptions, Limits, Response, Uri};

/// A TLS session (client or server) over a `TcpStream`, after its TLS
/// handshake. Reads and writes plaintext; its timeouts and shutdown are
/// the socket's ([`Transport`]).
///
/// A write encrypts at most one record (16 KiB) and returns once its
/// ciphertext is on the socket. If the socket's write timeout cuts that
/// short, the write fails with the timeout and the record waits: the next
/// write must offer the same bytes again (as the adapter does, since its
/// output keeps them until written), and is credited for them once the
/// record is out; other bytes are refused with `InvalidInput`.
#[derive(Debug)]
pub struct TlsStream {
    sock: TcpStream,
    session: Session,
    /// The plaintext of a record whose write timed out, to check that the
    /// retry offers the same bytes.
    held: Option<Vec<u8>>,
}

impl TlsStream {
    /// Client side: the TLS handshake over a connected `sock` for `name`
    /// (sent as SNI, verified against the certificate), within `timeout`
    /// ([`Error::HandshakeTimeout`]; `None`: no deadline).
    pub fn connect(
        sock: TcpStream,
        config: Arc<ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
        timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        let tls = rustls::ClientConnection::new(config, name)?;
        Self::handshake(sock, tls.into(), deadline(timeout))
    }

    /// Server side: the TLS handshake over an accepted `sock`, within
    /// `timeout`. A client that is not speaking TLS (plain HTTP) gets an
    /// alert and this fails with [`Error::Tls`] at once.
    pub fn accept(
        sock: TcpStream,
        config: Arc<ServerConfig>,
        timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        let tls = rustls::ServerConnection::new(config)?;
        Self::handshake(sock, tls.into(), deadline(timeout))
    }

    fn handshake(
        mut sock: TcpStream,
        mut tls: rustls::Connection,
        until: Option<Instant>,
    ) -> Result<Self, Error> {
        let result = (|| {
            while tls.is_handshaking() {
                let left = left(until)?;
                Transport::set_read_timeout(&mut sock, left)?;
                Transport::set_write_timeout(&mut sock, left)?;
                tls.complete_io(&mut sock)?;
            }
            Ok(())
        })();
        let _ = Transport::set_read_timeout(&mut sock, None);
        let _ = Transport::set_write_timeout(&mut sock, None);
        match result {
            Ok(()) => Ok(TlsStream {
                sock,
                session: Session::new(tls),
                held: None,
            }),
            Err(Error::Io(e)) if is_timeout(&e) => Err(Error::HandshakeTimeout),
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(Error::Io(io::Error::new(
                    e.kind(),
                    "the peer ended the connection during the TLS handshake",
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// The socket underneath.
    pub fn get_ref(&self) -> &TcpStream {
        &self.sock
    }

    /// The rustls session: the negotiated ALPN protocol, the peer's
    /// certificates, the server name a client asked for.
    pub fn connection(&self) -> &rustls::Connection {
        &self.session.tls
    }

    /// Writes pending ciphertext until none is left or the socket fails.
    fn drain(&mut self) -> io::Result<()> {
        self.session.seal(&[])?;
        while !self.session.pending().is_empty() {
            match self.sock.write(self.session.pending()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.session.wrote(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.session.seal(&[])?;
        }
        Ok(())
    }

    /// The socket and the session, for [`WebSocket::split`].
    pub(super) fn into_parts(self) -> (TcpStream, Session) {
        (self.sock, self.session)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.session.tls.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the peer's close_notify
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without a close_notify: WebSocket has
                // its own close handshake, so an end all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.session.tls.read_tls(&mut self.sock)?;
            let processed = self.session.tls.process_new_packets();
            if self.session.wants_write() {
                // An alert, a key update: best effort, a stuck peer is
                // the write path's to notice.
                let _ = self.drain();
            }
            if let Err(e) = processed {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(held) = &self.held
            && !buf.starts_with(held)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a write after a timed-out write must offer the same bytes again",
            ));
        }
        self.session.seal(buf)?;
        if let Err(e) = self.drain() {
            if self.held.is_none() && self.session.sealed() > 0 {
                self.held = Some(buf[..self.session.sealed()].to_vec());
            }
            return Err(e);
        }
        self.held = None;
        Ok(self.session.take_written())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.sock.flush()
    }
}

impl Transport for TlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Transport::set_read_timeout(&mut self.sock, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        Transport::set_write_timeout(&mut self.sock, timeout)
    }

    /// Sends a `close_notify` (RFC 8446 §6.1), then the TCP FIN.
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.session.close_notify();
        let _ = self.drain();
        self.sock.shutdown_write()
    }
}

/// A client's stream: plain TCP for `ws://`, TLS for `wss://`
/// ([`connect`]). Both are [`Transport`]s and can be split.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per connection, never moved in a loop
pub enum MaybeTlsStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    Tls(TlsStream),
}

impl MaybeTlsStream {
    /// The socket underneath.
    pub fn get_ref(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(s) => s,
            MaybeTlsStream::Tls(s) => s.get_ref(),
        }
    }

    fn stream(&mut self) -> &mut dyn Transport {
        match self {
            MaybeTlsStream::Plain(s) => s,
            MaybeTlsStream::Tls(s) => s,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream().read(buf)
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.stream().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream().flush()
    }
}

impl Transport for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream().set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream().set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream().shutdown_write()
    }
}

/// Client: connects to a `ws://` or `wss://` URL with the default options
/// and [`Config`], verifying a `wss://` server against the roots of the
/// crate's features ([`crate::tls::default_client_config`]). DNS, TCP,
/// TLS and the WebSocket handshake together within 10 s.
#[cfg(any(
    feature = "rustls-tls-webpki-roots",
    feature = "rustls-tls-native-roots"
))]
pub fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    connect_with(url, None, ClientOptions::default(), Config::default())
}

/// Client with a TLS configuration of one's own (a private CA, a client
/// certificate; `None`: [`crate::tls::default_client_config`], which needs
/// a root feature), options and a connection config. DNS, TCP connect
/// (every address in turn), TLS (SNI and ALPN `http/1.1`, the certificate
/// verified for the URL's host) and the WebSocket handshake all end by
/// `options.limits.timeout` from now ([`Error::HandshakeTimeout`]); a DNS
/// lookup cut short finishes in a thread of its own. Sets `TCP_NODELAY`
/// (a message goes out at once).
pub fn connect_with(
    url: &str,
    tls: Option<Arc<ClientConfig>>,
    mut options: ClientOptions,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    let uri = Uri::parse(url)?;
    let until = deadline(options.limits.timeout);
    let sock = tcp_connect(&uri, until)?;
    let _ = sock.set_nodelay(true);
    let stream = if uri.secure() {
        let tls = match tls {
            Some(tls) => tls,
            None => crate::tls::connect_config()?,
        };
        let name = crate::tls::server_name(&uri)?;
        MaybeTlsStream::Tls(TlsStream::connect(sock, tls, name, left(until)?)?)
    } else {
        MaybeTlsStream::Plain(sock)
    };
    options.limits.timeout = left(until)?;
    WebSocket::connect_with(stream, url, options, config)
}

/// Server: the TLS handshake over an accepted `tcp` within the default
/// 10 s ([`Limits::timeout`]); then [`WebSocket::accept`] or
/// [`read_request`](super::read_request) on the stream. For one deadline
/// over both, use [`accept_with`].
pub fn accept(tcp: TcpStream, config: &Arc<ServerConfig>) -> Result<TlsStream, Error> {
    TlsStream::accept(tcp, Arc::clone(config), Limits::default().timeout)
}

/// Server: the TLS handshake within `limits.timeout`; returns the stream
/// and `limits` with the time that is left, for the WebSocket handshake
/// that follows ([`WebSocket::accept_with`], [`read_request`](super::read_request)),
/// so that TLS and the request head share one deadline.
pub fn accept_with(
    tcp: TcpStream,
    config: &Arc<ServerConfig>,
    limits: &Limits,
) -> Result<(TlsStream, Limits), Error> {
    let until = deadline(limits.timeout);
    let stream = TlsStream::accept(tcp, Arc::clone(config), limits.timeout)?;
    let left = Limits {
        timeout: left(until)?,
        ..*limits
    };
    Ok((stream, left))
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
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

/// DNS (in a thread, so that the deadline holds) and TCP connect to every
/// address in turn until one answers.
fn tcp_connect(uri: &Uri, until: Option<Instant>) -> Result<TcpStream, Error> {
    let host = uri.host().trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => std::vec![SocketAddr::new(ip, uri.port())],
        Err(_) => {
            let (tx, rx) = mpsc::channel();
            let name = (host.to_string(), uri.port());
            std::thread::spawn(move || {
                let _ = tx.send(name.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
            });
            let found = match left(until)? {
                Some(left) => rx.recv_timeout(left).map_err(|_| Error::HandshakeTimeout)?,
                None => rx
                    .recv()
                    .map_err(|_| io::Error::other("the DNS lookup failed"))?,
            };
            found?
        }
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        let attempt = match left(until)? {
            Some(left) => TcpStream::connect_timeout(&addr, left),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(sock) => return Ok(sock),
            Err(e) if is_timeout(&e) => return Err(Error::HandshakeTimeout),
            Err(e) => last = e,
        }
    }
    Err(last.into())
}
