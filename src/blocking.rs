//! A blocking adapter over any `std::io::Read + Write` stream (a
//! `TcpStream`, a TLS stream, a pipe): the only part of the crate that does
//! I/O. It drives a [`Connection`] and flushes after every call, so a
//! thread-per-connection server is a few lines:
//!
//! ```no_run
//! use std::net::TcpListener;
//! use rfc6455::blocking::{Error, WebSocket};
//!
//! let listener = TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), Error> {
//!         let mut ws = WebSocket::accept(stream?)?;
//!         loop {
//!             match ws.read() {
//!                 Ok(message) => ws.send(&message)?,
//!                 Err(Error::Closed(_)) => return Ok(()),
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Timeouts
//! Over a `TcpStream` the adapter can enforce them itself, see [`Timeouts`]:
//! a deadline for the whole opening handshake ([`read_request_timed`],
//! [`WebSocket::accept_timed`]), a keepalive (a ping after a silence, and
//! [`Error::KeepaliveTimeout`] if nothing at all arrives after it) and a
//! lingering close ([`WebSocket::set_timeouts`]). Over any other stream, or
//! without them, timeouts belong to the stream: set
//! `TcpStream::set_read_timeout` and a read that times out returns
//! [`Error::Io`] with the connection left intact, so it can be retried or
//! followed by a ping.
//!
//! For one thread that reads while another sends over a `TcpStream` (a chat
//! server's broadcast, a client that prints while the user types),
//! [`WebSocket::split`] gives a [`Reader`] and a [`Writer`].

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::close::{CloseCode, CloseFrame};
use crate::connection::{Config, Connection, Role, State};
use crate::error::{HandshakeError, ProtocolError, UsageError};
use crate::handshake::{
    AcceptOptions, ClientHandshake, ClientOptions, Limits, Parsed, Rejection, Request, Response,
    UpgradeRequest,
};
use crate::message::{Event, Message};

/// How many bytes one `read` call on the stream may fill: adaptive, from
/// [`ReadSize::MIN`] to [`ReadSize::MAX`].
///
/// The chunk is memory the connection holds (zeroed, so resident) for as
/// long as a read blocks: an idle connection blocked in `read` with a small
/// chunk costs little, while a bulk transfer wants few, large reads. So the
/// size doubles each time a read fills the chunk and halves when reads come
/// back three-quarters empty.
#[derive(Debug, Clone, Copy)]
struct ReadSize(usize);

impl ReadSize {
    /// The first read and the floor: an idle connection's chunk.
    const MIN: usize = 1024;
    /// The ceiling: 64 KiB, a typical socket receive window per read.
    const MAX: usize = 64 * 1024;

    fn new() -> Self {
        ReadSize(Self::MIN)
    }

    fn get(self) -> usize {
        self.0
    }

    /// Adapts to a read of `n` bytes into a chunk of the current size.
    fn update(&mut self, n: usize) {
        if n >= self.0 {
            self.0 = (self.0 * 2).min(Self::MAX);
        } else if n < self.0 / 4 {
            self.0 = (self.0 / 2).max(Self::MIN);
        }
    }
}

/// Errors of the blocking adapter, by who is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream failed (including read timeouts set on it).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
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
    /// The connection is closed: the close handshake finished (with the
    /// peer's close frame, if one arrived) and no more messages will come.
    #[error("connection closed")]
    Closed(Option<CloseFrame>),
    /// The opening handshake did not finish within
    /// [`Timeouts::handshake`]: on a server the request head did not arrive
    /// whole (nothing was answered: a peer that slow is not worth a
    /// response), on a client ([`WebSocket::connect_timed`]) the server's
    /// response head did not. Dropping the stream ends it.
    #[error("the opening handshake did not finish in time")]
    HandshakeTimeout,
    /// The peer sent nothing at all, not even the pong to our ping, within
    /// [`Keepalive::timeout`] after the ping that followed
    /// [`Keepalive::ping_after`] of silence. The connection is failed: a
    /// close frame with 1001 (going away) was tried without blocking, and
    /// the socket shut down both ways.
    #[error("keepalive timeout: the peer sent nothing, not even a pong")]
    KeepaliveTimeout,
}

impl Error {
    /// Whether this is a read or write timeout set on the stream
    /// (`WouldBlock` on Unix, `TimedOut` on Windows). The connection is
    /// intact: the call can be retried, or a ping sent.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if is_timeout_kind(e.kind()))
    }
}

/// The adapter's own timeouts for a WebSocket over a `TcpStream`, each
/// with a default chosen for a server open to the internet. Each is
/// enforced with socket read timeouts inside the adapter: the caller sees
/// them only in the results ([`Error::HandshakeTimeout`],
/// [`Error::KeepaliveTimeout`]). While a keepalive is set the adapter owns
/// the socket's read timeout; leave it alone.
///
/// ```no_run
/// use std::time::Duration;
/// use rfc6455::blocking::{Keepalive, Timeouts};
///
/// let timeouts = Timeouts::default()
///     .handshake(Some(Duration::from_secs(5)))
///     .keepalive(Some(Keepalive::new(Duration::from_secs(20), Duration::from_secs(10))));
/// # let _ = timeouts;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// How long the whole request head may take to arrive (server,
    /// [`read_request_timed`], [`WebSocket::accept_timed`]), or the whole
    /// handshake exchange (client, [`WebSocket::connect_timed`]). Default 10 s.
    ///
    /// A deadline, not a per-read timeout: a client that sends one byte
    /// every 100 ms (slowloris), or a server that answers that way, is cut
    /// off all the same. A browser sends
    /// its head in one packet; 10 s leaves room for a slow mobile link
    /// while bounding the threads that silent clients can hold.
    pub handshake: Option<Duration>,
    /// Ping a silent peer, and fail the connection if it stays silent.
    /// Default [`Keepalive::default`] (ping after 30 s, fail 30 s later).
    /// Without it a peer that vanished (unplugged, NAT mapping gone)
    /// holds its connection forever.
    pub keepalive: Option<Keepalive>,
    /// Lingering close on the server side: after the adapter fails the
    /// connection or a close handshake ends (and after an HTTP error
    /// response to a bad request head), the write half is shut down and
    /// input is read and discarded, for at most this long and at most
    /// 64 KiB, before the socket is dropped. Default 1 s.
    ///
    /// Closing a socket with unread input makes the kernel send a reset,
    /// which can destroy the close frame (or the 431) before the peer read
    /// it; RFC 6455 §7.1.1 wants the server to close the TCP connection
    /// first, cleanly. The bound keeps a flooding peer from holding the
    /// thread.
    pub linger: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: Some(Duration::from_secs(10)),
            keepalive: Some(Keepalive::default()),
            linger: Some(Duration::from_secs(1)),
        }
    }
}

impl Timeouts {
    /// No timeouts at all: the behaviour of the plain constructors.
    pub const NONE: Timeouts = Timeouts {
        handshake: None,
        keepalive: None,
        linger: None,
    };

    /// Sets [`handshake`](Self::handshake).
    pub fn handshake(mut self, timeout: Option<Duration>) -> Self {
        self.handshake = timeout;
        self
    }

    /// Sets [`keepalive`](Self::keepalive).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets [`linger`](Self::linger).
    pub fn linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = linger;
        self
    }
}

/// A keepalive policy; see [`Timeouts::keepalive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// After this long without a single byte from the peer, send a ping.
    /// Default 30 s: below the idle timeouts of common NATs and load
    /// balancers (often 60 s), so the ping also keeps their mapping alive.
    pub ping_after: Duration,
    /// After the ping, how long the peer has to send anything at all (its
    /// pong, or any frame) before the connection fails with
    /// [`Error::KeepaliveTimeout`]. Default 30 s: a live peer answers in
    /// one round trip; this leaves room for a congested or mobile link. A
    /// dead peer holds its connection at most `ping_after + timeout`.
    pub timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            ping_after: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

impl Keepalive {
    /// A policy that pings after `ping_after` of silence and fails the
    /// connection if nothing arrives within `timeout` after the ping.
    /// Durations under a millisecond count as one millisecond.
    pub fn new(ping_after: Duration, timeout: Duration) -> Self {
        Keepalive {
            ping_after,
            timeout,
        }
    }
}

/// The most input discarded by a lingering close; see [`Timeouts::linger`].
const LINGER_BYTES: usize = 64 * 1024;

/// The shortest socket read timeout (zero means "none" to the OS and is refused).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// What the adapter enforces on one connection, and where it is.
#[derive(Debug, Clone, Copy)]
struct Policy {
    keepalive: Option<Keepalive>,
    /// A keepalive ping went out and nothing has arrived since.
    ping_sent: bool,
    linger: Option<Duration>,
    /// The lingering close was done (it is done once).
    lingered: bool,
}

/// What to do when a read timed out.
enum Expired {
    /// Send a ping and read on.
    Ping,
    /// Fail the connection with [`Error::KeepaliveTimeout`].
    Dead,
}

impl Policy {
    /// Starts `timeouts` on `stream`.
    fn start(timeouts: &Timeouts, stream: &TcpStream) -> io::Result<Policy> {
        if let Some(keepalive) = timeouts.keepalive {
            stream.set_read_timeout(Some(keepalive.ping_after.max(MIN_TIMEOUT)))?;
        }
        Ok(Policy {
            keepalive: timeouts.keepalive,
            ping_sent: false,
            linger: timeouts.linger,
            lingered: false,
        })
    }

    /// Bytes arrived: the peer is alive.
    fn heard(&mut self, stream: &TcpStream) -> io::Result<()> {
        match self.keepalive {
            Some(keepalive) if self.ping_sent => {
                self.ping_sent = false;
                stream.set_read_timeout(Some(keepalive.ping_after.max(MIN_TIMEOUT)))
            }
            _ => Ok(()),
        }
    }

    /// A read on `stream` failed with `error`: `None` if that is not the
    /// keepalive's business (the error goes to the caller).
    fn expired(&mut self, stream: &TcpStream, error: &io::Error) -> io::Result<Option<Expired>> {
        let Some(keepalive) = self.keepalive else {
            return Ok(None);
        };
        if !is_timeout_kind(error.kind()) {
            return Ok(None);
        }
        if self.ping_sent {
            return Ok(Some(Expired::Dead));
        }
        self.ping_sent = true;
        stream.set_read_timeout(Some(keepalive.timeout.max(MIN_TIMEOUT)))?;
        Ok(Some(Expired::Ping))
    }

    /// The lingering close, once, if it is set and `closable`: this is the
    /// server and its connection may close the transport.
    fn linger(&mut self, stream: &TcpStream, closable: bool) {
        if let Some(time) = self.linger {
            if !self.lingered && closable {
                self.lingered = true;
                linger(stream, time);
            }
        }
    }
}

/// Shuts down the write half of `stream` (after what was written: our
/// close frame or error response), then reads and discards input until
/// end-of-file, `time` or [`LINGER_BYTES`], whichever comes first.
fn linger(stream: &TcpStream, time: Duration) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return; // not connected any more: nothing to protect
    }
    let deadline = Instant::now() + time;
    let mut buf = [0u8; 4096];
    let mut left = LINGER_BYTES;
    while left > 0 {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            return;
        }
        match (&*stream).read(&mut buf) {
            Ok(0) => return,
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Sends what is pending without blocking (the peer may have stopped
/// reading), then shuts `stream` down both ways: the end of a connection
/// whose keepalive expired.
fn abandon(stream: &TcpStream, mut write_pending: impl FnMut() -> io::Result<()>) {
    if stream.set_nonblocking(true).is_ok() {
        let _ = write_pending();
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// `WouldBlock` on Unix, `TimedOut` on Windows: a socket timeout.
fn is_timeout_kind(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// The socket under a `WebSocket<TcpStream>`: lets the generic methods
/// reach it once [`WebSocket::set_timeouts`] stored this for `S = TcpStream`.
type SocketOf<S> = fn(&S) -> &TcpStream;

fn itself(stream: &TcpStream) -> &TcpStream {
    stream
}

/// A WebSocket over a blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    /// The adapter's timeouts, over a `TcpStream` only.
    timer: Option<(SocketOf<S>, Policy)>,
    /// How much the next read may fill.
    read_size: ReadSize,
}

impl<S: Read + Write> WebSocket<S> {
    /// Server side: reads the opening handshake from `stream`, accepts it
    /// with no subprotocol and the default [`Config`], and sends the `101`
    /// response. A bad request is answered with its HTTP error response.
    pub fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with(stream, &Limits::default(), Config::default(), |_| Ok(None))
    }

    /// Server side with a say in the handshake: `decide` sees the validated
    /// request (path, query, `Origin`, cookies, offered subprotocols) and
    /// returns the subprotocol to accept (one the client offered, or
    /// `None`), or a [`Rejection`] to refuse it.
    pub fn accept_with<F>(
        mut stream: S,
        limits: &Limits,
        config: Config,
        decide: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&UpgradeRequest) -> Result<Option<String>, Rejection>,
    {
        let (request, rest) = read_request(&mut stream, limits)?;
        Self::upgrade(stream, request, &rest, config, decide)
    }

    /// Server side, after the request head was read by
    /// [`read_request`] (e.g. to serve plain HTTP on other paths): validates
    /// it as a WebSocket handshake and answers it. `rest` are the bytes read
    /// after the head; they belong to the WebSocket stream. With
    /// `config.deflate` enabled (feature `deflate`), a permessage-deflate
    /// offer is accepted ([`UpgradeRequest::deflate`]).
    pub fn upgrade<F>(
        mut stream: S,
        request: Request,
        rest: &[u8],
        config: Config,
        decide: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&UpgradeRequest) -> Result<Option<String>, Rejection>,
    {
        #[cfg(feature = "deflate")]
        let mut agreed = None;
        let answer = UpgradeRequest::validate(request).and_then(|upgrade| {
            let protocol = decide(&upgrade)?;
            // RFC 7692: accept permessage-deflate if `config.deflate` enables it.
            #[cfg(feature = "deflate")]
            let entry = {
                agreed = upgrade.deflate(&config.deflate);
                agreed.map(|params| std::string::ToString::to_string(&params))
            };
            #[cfg(not(feature = "deflate"))]
            let entry: Option<String> = None;
            let extensions: Vec<&str> = entry.iter().map(String::as_str).collect();
            let options = AcceptOptions {
                protocol: protocol.as_deref(),
                extensions: &extensions,
                ..AcceptOptions::default()
            };
            upgrade.accept_with(&options).map_err(Rejection::from)
        });
        match answer {
            Ok(response) => {
                stream.write_all(&response)?;
                stream.flush()?;
                let conn = Connection::new(Role::Server, config);
                #[cfg(feature = "deflate")]
                let conn = conn.with_deflate(agreed);
                let mut conn = conn;
                conn.receive(rest);
                Ok(WebSocket {
                    stream,
                    conn,
                    timer: None,
                    read_size: ReadSize::new(),
                })
            }
            Err(rejection) => {
                stream.write_all(&rejection.response())?;
                stream.flush()?;
                Err(Error::Handshake(rejection.error()))
            }
        }
    }

    /// Client side: performs the opening handshake for `uri`
    /// (`ws://host:port/path?query`) over an already connected `stream`,
    /// with a fresh random key. Returns the socket and the server's response.
    pub fn connect(stream: S, uri: &str) -> Result<(Self, Response), Error> {
        Self::connect_with(stream, uri, ClientOptions::default(), Config::default())
    }

    /// Client side with subprotocols, extra headers and limits. With
    /// `config.deflate` enabled (feature `deflate`), permessage-deflate is
    /// offered (unless `options` already offers it) and used if the server
    /// accepts it.
    pub fn connect_with(
        mut stream: S,
        uri: &str,
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))] mut options: ClientOptions,
        config: Config,
    ) -> Result<(Self, Response), Error> {
        #[cfg(feature = "deflate")]
        if config.deflate.enabled && !crate::deflate::offered(&options.extensions) {
            options.extensions.push(config.deflate.offer());
        }
        let handshake = ClientHandshake::with_random_key(uri, options)?;
        stream.write_all(handshake.request())?;
        stream.flush()?;
        let (response, rest) = read_head(&mut stream, |buf| handshake.parse_response(buf))?;
        let conn = Connection::new(Role::Client, config);
        #[cfg(feature = "deflate")]
        let conn = conn.with_deflate(response.deflate());
        let mut conn = conn;
        conn.receive(&rest);
        Ok((
            WebSocket {
                stream,
                conn,
                timer: None,
                read_size: ReadSize::new(),
            },
            response,
        ))
    }

    /// Wraps a stream whose handshake was done elsewhere.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        WebSocket {
            stream,
            conn,
            timer: None,
            read_size: ReadSize::new(),
        }
    }

    /// Reads the next message. Pings are answered (unless automatic pongs
    /// are off) and pongs skipped. When the peer closes, the close reply is
    /// sent and [`Error::Closed`] returned, then again on every later call.
    pub fn read(&mut self) -> Result<Message, Error> {
        next_message(|| self.read_event())
    }

    /// Reads the next event of any kind, answering pings and closes as
    /// configured. Returns [`Error::Closed`] once the connection is closed.
    pub fn read_event(&mut self) -> Result<Event, Error> {
        loop {
            let polled = self.conn.poll_event();
            // Whatever the event, send what it queued: a pong, a close
            // reply, the close frame of a protocol error.
            self.flush()?;
            match polled {
                Ok(Some(event)) => return Ok(event),
                Ok(None) => {}
                Err(error) => {
                    self.linger();
                    return Err(error.into());
                }
            }
            if let State::Closed { .. } = self.conn.state() {
                self.linger();
                return Err(Error::Closed(self.conn.peer_close().cloned()));
            }
            self.fill()?;
        }
    }

    /// Reads once from the stream into the connection. With a keepalive, a
    /// read that times out sends a ping and reads on, or fails the
    /// connection if the ping went unanswered.
    fn fill(&mut self) -> Result<(), Error> {
        loop {
            let buf = self.conn.receive_buffer(self.read_size.get());
            match self.stream.read(buf) {
                Ok(0) => {
                    self.conn.commit_received(0);
                    self.conn.receive_eof();
                    return Ok(());
                }
                Ok(n) => {
                    self.conn.commit_received(n);
                    self.read_size.update(n);
                    if let Some((socket, policy)) = &mut self.timer {
                        policy.heard(socket(&self.stream))?;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.conn.commit_received(0);
                }
                Err(e) => {
                    self.conn.commit_received(0);
                    let expired = match &mut self.timer {
                        Some((socket, policy)) => policy.expired(socket(&self.stream), &e)?,
                        None => None,
                    };
                    match expired {
                        None => return Err(e.into()),
                        Some(Expired::Ping) => {
                            // Refused only while closing: then the wait for
                            // the peer's close goes on, bounded all the same.
                            if self.conn.ping(b"").is_ok() {
                                self.flush()?;
                            }
                        }
                        Some(Expired::Dead) => return Err(self.keepalive_failed()),
                    }
                }
            }
        }
    }

    /// Fails a connection whose peer went silent: a close frame with 1001
    /// (going away, RFC 6455 §7.4.1: this end leaves a connection it holds
    /// for dead; 1011 would claim an internal error, and 1006 must never
    /// be sent) is written if the socket takes it without blocking, then
    /// the socket is shut down. Waiting for a close reply or lingering
    /// would only wait longer for a peer that is gone.
    fn keepalive_failed(&mut self) -> Error {
        if self.conn.state() == State::Open {
            let _ = self.conn.close(CloseCode::GOING_AWAY, "keepalive timeout");
        }
        if let Some((socket, _)) = self.timer {
            let mut stream: &TcpStream = socket(&self.stream);
            let conn = &mut self.conn;
            abandon(stream, || {
                while !conn.pending().is_empty() {
                    let n = stream.write(conn.pending())?;
                    if n == 0 {
                        break;
                    }
                    conn.advance(n);
                }
                Ok(())
            });
        }
        Error::KeepaliveTimeout
    }

    /// The lingering close, if [`Timeouts::linger`] is set; see there.
    fn linger(&mut self) {
        if let Some((socket, policy)) = &mut self.timer {
            let closable = self.conn.role() == Role::Server && self.conn.may_close_transport();
            policy.linger(socket(&self.stream), closable);
        }
    }

    /// Sends a message and flushes it.
    pub fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.conn.send(message)?;
        Ok(self.flush()?)
    }

    /// Sends a text message and flushes it.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        Ok(self.flush()?)
    }

    /// Sends a binary message and flushes it.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        Ok(self.flush()?)
    }

    /// Sends a ping (at most 125 bytes) and flushes it.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.conn.ping(payload)?;
        Ok(self.flush()?)
    }

    /// Starts the close handshake and completes it: sends a close frame,
    /// then reads (and discards messages) until the peer's close frame
    /// arrives or the stream ends. Returns the peer's close frame. Set a
    /// read timeout on the stream, or a keepalive
    /// ([`set_timeouts`](WebSocket::set_timeouts)), to bound the wait.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<Option<CloseFrame>, Error> {
        if self.conn.state() == State::Open {
            self.conn.close(code, reason)?;
        }
        self.flush()?;
        loop {
            match self.read_event() {
                Ok(_) => {}
                Err(Error::Closed(frame)) => return Ok(frame),
                // The peer hung up without a close frame: we are done all the same.
                Err(Error::Protocol(ProtocolError::AbnormalClosure)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes everything the connection has queued: one `write`, or one
    /// `write_vectored` when a large payload is queued as a chunk of its
    /// own (see [`Connection::send`]).
    pub fn flush(&mut self) -> io::Result<()> {
        while self.conn.pending_len() > 0 {
            let mut slices = [IoSlice::new(&[]); 4];
            let mut count = 0;
            for (slot, chunk) in slices.iter_mut().zip(self.conn.pending_chunks()) {
                *slot = IoSlice::new(chunk);
                count += 1;
            }
            let written = if count == 1 {
                self.stream.write(&slices[0])
            } else {
                self.stream.write_vectored(&slices[..count])
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.conn.advance(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.stream.flush()
    }

    /// The sans-IO connection underneath.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The sans-IO connection underneath, mutably (e.g. to queue fragments;
    /// call [`flush`](Self::flush) afterwards).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably (e.g. to set timeouts).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Takes the stream and the connection apart. The adapter's
    /// [`Timeouts`] end here; the socket keeps the read timeout it last had.
    pub fn into_parts(self) -> (S, Connection) {
        (self.stream, self.conn)
    }
}

/// Pulls events until a message arrives: pings and pongs are skipped (the
/// pong to a ping was already queued and sent), a close ends the stream.
fn next_message(mut next_event: impl FnMut() -> Result<Event, Error>) -> Result<Message, Error> {
    loop {
        match next_event()? {
            Event::Message(message) => return Ok(message),
            Event::Ping(_) | Event::Pong(_) => {}
            Event::Close(frame) => return Err(Error::Closed(Some(frame))),
        }
    }
}

/// Reads an HTTP request head from `stream` without reading past what is
/// needed, and returns it with the bytes that followed it in the same read.
/// A malformed or oversized head is answered with its HTTP error response
/// (400, 431, ...) before the error is returned. Over a `TcpStream`,
/// [`read_request_timed`] adds a deadline for the whole head.
pub fn read_request<S: Read + Write>(
    stream: &mut S,
    limits: &Limits,
) -> Result<(Request, Vec<u8>), Error> {
    match read_head(stream, |buf| Request::parse(buf, limits)) {
        Err(Error::Handshake(error)) => {
            stream.write_all(&Rejection::from(error).response())?;
            stream.flush()?;
            Err(Error::Handshake(error))
        }
        other => other,
    }
}

/// [`read_request`] over a `TcpStream` with the adapter's
/// [`Timeouts`]: the whole head must arrive within
/// [`Timeouts::handshake`] (else [`Error::HandshakeTimeout`], nothing
/// answered), and an HTTP error response to a bad head is followed by the
/// lingering close of [`Timeouts::linger`] so the peer gets to read it. The
/// stream's read timeout is as it was before on return.
pub fn read_request_timed(
    stream: &mut TcpStream,
    limits: &Limits,
    timeouts: &Timeouts,
) -> Result<(Request, Vec<u8>), Error> {
    let result = match timeouts.handshake {
        None => read_request(stream, limits),
        Some(timeout) => within(stream, timeout, |mut deadline| {
            read_request(&mut deadline, limits)
        }),
    };
    if let (Err(Error::Handshake(_)), Some(time)) = (&result, timeouts.linger) {
        linger(stream, time);
    }
    result
}

/// Runs a handshake step `step` over `stream` with all its reads ending
/// `timeout` from now; the stream's read timeout is as it was before on
/// return, and running out of time is [`Error::HandshakeTimeout`].
fn within<T>(
    stream: &TcpStream,
    timeout: Duration,
    step: impl FnOnce(Deadline<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let previous = stream.read_timeout()?;
    let result = step(Deadline {
        stream,
        until: Instant::now() + timeout,
    });
    stream.set_read_timeout(previous)?;
    match result {
        Err(Error::Io(e)) if is_timeout_kind(e.kind()) => Err(Error::HandshakeTimeout),
        other => other,
    }
}

/// A `TcpStream` whose reads all end by one deadline.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self.stream;
        stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut stream = self.stream;
        stream.flush()
    }
}

impl WebSocket<TcpStream> {
    /// Server side with the adapter's [`Timeouts`]: reads the request head
    /// with [`read_request_timed`], answers it as
    /// [`accept_with`](Self::accept_with) does, then starts the keepalive
    /// and lingering close with [`set_timeouts`](Self::set_timeouts).
    pub fn accept_timed<F>(
        mut stream: TcpStream,
        limits: &Limits,
        config: Config,
        timeouts: &Timeouts,
        decide: F,
    ) -> Result<Self, Error>
    where
        F: FnOnce(&UpgradeRequest) -> Result<Option<String>, Rejection>,
    {
        let (request, rest) = read_request_timed(&mut stream, limits, timeouts)?;
        let mut ws = Self::upgrade(stream, request, &rest, config, decide)?;
        ws.set_timeouts(timeouts)?;
        Ok(ws)
    }

    /// Client side with the adapter's [`Timeouts`]: performs the opening
    /// handshake as [`connect_with`](Self::connect_with) does over an
    /// already connected `stream` (use `TcpStream::connect_timeout` to bound
    /// the TCP connect), with the whole exchange (request written, response
    /// head read) bounded by [`Timeouts::handshake`]: a server that accepts
    /// the connection and answers slowly or never fails it with
    /// [`Error::HandshakeTimeout`]. The stream's read and write timeouts are
    /// as they were before, then the keepalive starts as
    /// [`set_timeouts`](Self::set_timeouts) does.
    pub fn connect_timed(
        stream: TcpStream,
        uri: &str,
        options: ClientOptions,
        config: Config,
        timeouts: &Timeouts,
    ) -> Result<(Self, Response), Error> {
        let (mut ws, response) = match timeouts.handshake {
            None => Self::connect_with(stream, uri, options, config)?,
            Some(timeout) => {
                // The request is written under the same bound.
                let previous_write = stream.write_timeout()?;
                stream.set_write_timeout(Some(timeout))?;
                let result = within(&stream, timeout, |deadline| {
                    let (ws, response) = WebSocket::connect_with(deadline, uri, options, config)?;
                    Ok((ws.into_parts().1, response))
                });
                stream.set_write_timeout(previous_write)?;
                let (conn, response) = result?;
                (WebSocket::from_connection(stream, conn), response)
            }
        };
        ws.set_timeouts(timeouts)?;
        Ok((ws, response))
    }

    /// Starts the keepalive and the lingering close of `timeouts` on this
    /// socket, however it was made (`upgrade`, `connect`,
    /// `from_connection`); [`Timeouts::handshake`] is not used here. A
    /// keepalive sets the socket's read timeout and owns it from now on.
    /// The lingering close applies to the server side only (a client waits
    /// for the server to close first, §7.1.1). [`split`](Self::split)
    /// hands both on to the [`Reader`].
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) -> io::Result<()> {
        let policy = Policy::start(timeouts, &self.stream)?;
        self.timer = Some((itself, policy));
        Ok(())
    }
}

/// Reads until `parse` finds a complete head; returns it with the leftover bytes.
fn read_head<S: Read, T>(
    stream: &mut S,
    mut parse: impl FnMut(&[u8]) -> Result<Parsed<T>, HandshakeError>,
) -> Result<(T, Vec<u8>), Error> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended during the opening handshake",
                )
                .into());
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        buf.extend_from_slice(&chunk[..n]);
        // The parser enforces the header size limit, so `buf` stays bounded.
        if let Parsed::Complete(head, used) = parse(&buf)? {
            return Ok((head, buf.split_off(used)));
        }
    }
}

pub use split::{Reader, Writer};

/// [`WebSocket::split`]: a reader half and a writer half of one WebSocket
/// over a `TcpStream`, for a reading thread and a writing thread.
mod split {
    use std::io::{self, Read, Write};
    use std::net::{Shutdown, TcpStream};
    use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
    use std::vec;
    use std::vec::Vec;

    use super::{Error, Expired, Policy, ReadSize, WebSocket, abandon, next_message};
    use crate::close::{CloseCode, CloseFrame};
    use crate::connection::{Connection, Role, State};
    use crate::message::{Event, Message};

    /// The most bytes copied out of the connection for one `write` call.
    const WRITE_CHUNK: usize = 64 * 1024;

    impl WebSocket<TcpStream> {
        /// Splits the socket into a [`Reader`] and a [`Writer`], so that one
        /// thread can block reading while another sends (a chat server's
        /// broadcast, a client that types while messages arrive).
        ///
        /// Both halves drive the same [`Connection`] through a mutex that is
        /// held only for short steps that never block on the socket: handing
        /// in bytes, polling an event, queueing a frame, copying out bytes to
        /// write. So a reader blocked in `read` never delays a send, and a
        /// writer blocked in `write` (the peer stopped reading) never stops
        /// the reader: two peers that both send a lot while both reading
        /// cannot deadlock.
        ///
        /// Writing is done by one half at a time, the *flusher*: it writes
        /// until nothing is pending, including bytes the other half queued
        /// meanwhile, so frames go out whole and in order. The writer waits
        /// for an active flusher to finish, so its `send` returns once its
        /// message is on the wire. The reader writes only when reading
        /// queued something (a pong, a close reply) and nobody is writing;
        /// if the writer is writing, it sends those bytes too. Only then can
        /// a reader block on a peer that does not read.
        ///
        /// The halves hold two handles of one socket (`TcpStream::try_clone`):
        /// timeouts set through either apply to both, and the TCP connection
        /// ends when both halves are dropped, or at once with `shutdown`.
        pub fn split(self) -> io::Result<(Reader, Writer)> {
            let policy = self.timer.map(|(_, policy)| policy);
            let (stream, conn) = self.into_parts();
            let writer_stream = stream.try_clone()?;
            let shared = Arc::new(Shared {
                inner: Mutex::new(Inner {
                    conn,
                    flushing: false,
                    waiting: 0,
                }),
                flushed: Condvar::new(),
            });
            let reader = Reader {
                stream,
                shared: Arc::clone(&shared),
                buf: Vec::new(),
                read_size: ReadSize::new(),
                policy,
            };
            Ok((
                reader,
                Writer {
                    stream: writer_stream,
                    shared,
                },
            ))
        }
    }

    /// What the two halves share.
    #[derive(Debug)]
    struct Shared {
        inner: Mutex<Inner>,
        /// Signalled when a flusher stops.
        flushed: Condvar,
    }

    #[derive(Debug)]
    struct Inner {
        conn: Connection,
        /// A half is writing `conn.pending()` outside the lock; it stops
        /// only after seeing nothing pending, under the lock.
        flushing: bool,
        /// Threads waiting on `flushed` (so that stopping wakes nobody,
        /// without a system call, when nobody waits: the common case).
        waiting: usize,
    }

    impl Shared {
        fn lock(&self) -> MutexGuard<'_, Inner> {
            // The connection stays consistent even if a thread panicked
            // while holding the lock: every step on it is a single call.
            self.inner.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Writes everything pending to `stream`. If the other half is
        /// writing already, waits for it to finish when `wait` is set (it
        /// writes our bytes too), or returns at once otherwise.
        fn flush(&self, mut stream: &TcpStream, wait: bool) -> io::Result<()> {
            let mut inner = self.lock();
            while inner.flushing {
                if !wait {
                    return Ok(());
                }
                inner.waiting += 1;
                inner = self
                    .flushed
                    .wait(inner)
                    .unwrap_or_else(PoisonError::into_inner);
                inner.waiting -= 1;
            }
            let result = loop {
                let pending = inner.conn.pending();
                if pending.is_empty() {
                    break Ok(());
                }
                let chunk = pending[..pending.len().min(WRITE_CHUNK)].to_vec();
                inner.flushing = true;
                drop(inner);
                let written = stream.write(&chunk);
                inner = self.lock();
                match written {
                    Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                    // Only the flusher advances, so the front of `pending`
                    // is still what it wrote.
                    Ok(n) => inner.conn.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // What was not written stays pending: after a write
                    // timeout the connection is intact and may be flushed again.
                    Err(e) => break Err(e),
                }
            };
            inner.flushing = false;
            let waiting = inner.waiting > 0;
            drop(inner);
            if waiting {
                self.flushed.notify_all();
            }
            result
        }
    }

    /// The reading half of a split [`WebSocket`]; see [`WebSocket::split`].
    #[derive(Debug)]
    pub struct Reader {
        stream: TcpStream,
        shared: Arc<Shared>,
        /// Where `read` puts bytes before they go into the connection.
        /// Allocated at the first read, resized as `read_size` adapts.
        buf: Vec<u8>,
        /// How much the next read may fill.
        read_size: ReadSize,
        /// The keepalive and lingering close of
        /// [`WebSocket::set_timeouts`], carried over by `split`.
        policy: Option<Policy>,
    }

    impl Reader {
        /// Reads the next message, like [`WebSocket::read`]: pings are
        /// answered (unless automatic pongs are off), pongs skipped, and
        /// once the close handshake is over [`Error::Closed`] is returned,
        /// then again on every later call. That is also how a close sent by
        /// the [`Writer`] completes: this returns `Closed` when the peer's
        /// reply arrives.
        pub fn read(&mut self) -> Result<Message, Error> {
            next_message(|| self.read_event())
        }

        /// Reads the next event of any kind, like [`WebSocket::read_event`].
        pub fn read_event(&mut self) -> Result<Event, Error> {
            loop {
                if let Some(event) = self.poll()? {
                    return Ok(event);
                }
                self.fill()?;
            }
        }

        /// The next message if it has already been received whole, without
        /// reading the socket: `Ok(None)` when more bytes are needed. After a
        /// [`read`](Self::read), this takes the other messages that arrived
        /// in the same read, e.g. to handle them as one batch. Pings and
        /// pongs are handled as by `read`.
        pub fn try_read(&mut self) -> Result<Option<Message>, Error> {
            loop {
                match self.poll()? {
                    Some(Event::Message(message)) => return Ok(Some(message)),
                    Some(Event::Ping(_) | Event::Pong(_)) => {}
                    Some(Event::Close(frame)) => return Err(Error::Closed(Some(frame))),
                    None => return Ok(None),
                }
            }
        }

        /// The next event from the bytes received so far, if there is one;
        /// [`Error::Closed`] once the connection is closed.
        fn poll(&mut self) -> Result<Option<Event>, Error> {
            let (polled, closed, queued) = {
                let mut inner = self.shared.lock();
                let before = inner.conn.pending().len();
                let polled = inner.conn.poll_event();
                let closed = match inner.conn.state() {
                    State::Closed { .. } => Some(inner.conn.peer_close().cloned()),
                    _ => None,
                };
                (polled, closed, inner.conn.pending().len() > before)
            };
            // Send what the event queued (a pong, a close reply, the close
            // frame of a protocol error) unless the writer is already
            // writing, in which case it sends it. Data the writer queued is
            // left to the writer: the reader does not block on a slow peer
            // for it.
            if queued {
                self.shared.flush(&self.stream, false)?;
            }
            match polled {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {}
                Err(error) => {
                    self.linger();
                    return Err(error.into());
                }
            }
            match closed {
                Some(frame) => {
                    self.linger();
                    Err(Error::Closed(frame))
                }
                None => Ok(None),
            }
        }

        /// The lingering close of [`Timeouts::linger`](super::Timeouts::linger),
        /// once the connection is closed: first everything queued is
        /// written, the close frame among it (by the writer, if it is
        /// writing: so no frame is cut off by the shutdown), for at most the
        /// linger time.
        fn linger(&mut self) {
            let Some(policy) = &mut self.policy else {
                return;
            };
            let Some(time) = policy.linger.filter(|_| !policy.lingered) else {
                return;
            };
            if self.shared.lock().conn.role() != Role::Server {
                return; // a client waits for the server to close (§7.1.1)
            }
            let previous = self.stream.write_timeout().ok().flatten();
            let _ = self.stream.set_write_timeout(Some(time));
            let _ = self.shared.flush(&self.stream, true);
            let _ = self.stream.set_write_timeout(previous);
            let closable = self.shared.lock().conn.may_close_transport();
            // Once, whether or not the flush went through.
            policy.linger(&self.stream, closable);
            policy.lingered = true;
        }

        /// Reads once from the socket, without holding the lock, and hands
        /// what came to the connection.
        fn fill(&mut self) -> Result<(), Error> {
            let size = self.read_size.get();
            if self.buf.len() != size {
                // A fresh, exactly sized buffer: shrinking gives memory back.
                self.buf = vec![0; size];
            }
            let n = loop {
                match self.stream.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let expired = match &mut self.policy {
                            Some(policy) => policy.expired(&self.stream, &e)?,
                            None => None,
                        };
                        match expired {
                            None => return Err(e.into()),
                            Some(Expired::Ping) => {
                                let queued = self.shared.lock().conn.ping(b"").is_ok();
                                if queued {
                                    self.shared.flush(&self.stream, false)?;
                                }
                            }
                            Some(Expired::Dead) => return Err(self.keepalive_failed()),
                        }
                    }
                }
            };
            self.read_size.update(n);
            let mut inner = self.shared.lock();
            if n == 0 {
                inner.conn.receive_eof();
            } else {
                inner.conn.receive(&self.buf[..n]);
                drop(inner);
                if let Some(policy) = &mut self.policy {
                    policy.heard(&self.stream)?;
                }
            }
            Ok(())
        }

        /// Fails a connection whose peer went silent, as
        /// `WebSocket::keepalive_failed` does. The socket is shared with the
        /// writer: what is pending is written unless the writer is writing,
        /// and then the shutdown ends its write too.
        fn keepalive_failed(&mut self) -> Error {
            {
                let mut inner = self.shared.lock();
                if inner.conn.state() == State::Open {
                    let _ = inner.conn.close(CloseCode::GOING_AWAY, "keepalive timeout");
                }
            }
            abandon(&self.stream, || self.shared.flush(&self.stream, false));
            Error::KeepaliveTimeout
        }

        /// The connection's state.
        pub fn state(&self) -> State {
            self.shared.lock().conn.state()
        }

        /// Shuts the socket down both ways: a `read` blocked in either half
        /// returns, and so does a blocked `write`. For dropping a peer from
        /// another thread.
        pub fn shutdown(&self) -> io::Result<()> {
            self.stream.shutdown(Shutdown::Both)
        }

        /// This half's socket handle (e.g. to set timeouts, which apply to
        /// both halves, or to read the peer's address).
        pub fn get_ref(&self) -> &TcpStream {
            &self.stream
        }
    }

    /// The writing half of a split [`WebSocket`]; see [`WebSocket::split`].
    #[derive(Debug)]
    pub struct Writer {
        stream: TcpStream,
        shared: Arc<Shared>,
    }

    impl Writer {
        /// Sends a message and returns once it is written.
        pub fn send(&mut self, message: &Message) -> Result<(), Error> {
            self.queue(message)?;
            Ok(self.flush()?)
        }

        /// Sends a text message and returns once it is written.
        pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
            self.queue_text(text)?;
            Ok(self.flush()?)
        }

        /// Sends a binary message and returns once it is written.
        pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
            self.shared.lock().conn.send_binary(data)?;
            Ok(self.flush()?)
        }

        /// Queues a message without writing it: queue several, then
        /// [`flush`](Self::flush) them with as few writes as possible.
        pub fn queue(&mut self, message: &Message) -> Result<(), Error> {
            Ok(self.shared.lock().conn.send(message)?)
        }

        /// Queues a text message without writing it; see [`queue`](Self::queue).
        pub fn queue_text(&mut self, text: &str) -> Result<(), Error> {
            Ok(self.shared.lock().conn.send_text(text)?)
        }

        /// Sends a ping (at most 125 bytes), e.g. as a keepalive: the
        /// [`Reader`] sees the pong with [`Reader::read_event`].
        pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
            self.shared.lock().conn.ping(payload)?;
            Ok(self.flush()?)
        }

        /// Starts the close handshake: sends a close frame and returns once
        /// it is written. The [`Reader`] completes the handshake: it returns
        /// [`Error::Closed`] when the peer's close frame arrives (set a read
        /// timeout to bound the wait). Does nothing if the connection is
        /// already closing or closed.
        pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
            {
                let mut inner = self.shared.lock();
                if inner.conn.state() == State::Open {
                    inner.conn.close(code, reason)?;
                }
            }
            Ok(self.flush()?)
        }

        /// Writes everything queued, by either half. If the reader is
        /// writing a pong or a close reply, waits for it to finish.
        pub fn flush(&mut self) -> io::Result<()> {
            self.shared.flush(&self.stream, true)
        }

        /// The connection's state.
        pub fn state(&self) -> State {
            self.shared.lock().conn.state()
        }

        /// The peer's close frame, once the reader has seen it.
        pub fn peer_close(&self) -> Option<CloseFrame> {
            self.shared.lock().conn.peer_close().cloned()
        }

        /// Shuts the socket down both ways; see [`Reader::shutdown`].
        pub fn shutdown(&self) -> io::Result<()> {
            self.stream.shutdown(Shutdown::Both)
        }

        /// This half's socket handle; see [`Reader::get_ref`].
        pub fn get_ref(&self) -> &TcpStream {
            &self.stream
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReadSize;
    use std::vec;

    #[test]
    fn read_size_grows_with_full_reads_and_shrinks_when_idle() {
        let mut size = ReadSize::new();
        assert_eq!(size.get(), ReadSize::MIN);
        // A bulk transfer: every read fills the chunk.
        let mut seen = vec![size.get()];
        for _ in 0..10 {
            size.update(size.get());
            seen.push(size.get());
        }
        assert_eq!(&seen[..4], &[1024, 2048, 4096, 8192]);
        assert_eq!(size.get(), ReadSize::MAX, "capped");
        // A read that fills half the chunk keeps the size.
        size.update(ReadSize::MAX / 2);
        assert_eq!(size.get(), ReadSize::MAX);
        // Small reads (a chat message, a ping) shrink it back to the floor.
        for _ in 0..10 {
            size.update(100);
        }
        assert_eq!(size.get(), ReadSize::MIN, "floor");
        size.update(0);
        assert_eq!(size.get(), ReadSize::MIN);
    }
}
