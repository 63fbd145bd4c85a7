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
//! Timeouts belong to the stream: set `TcpStream::set_read_timeout` and a
//! read that times out returns [`Error::Io`] with the connection left
//! intact, so it can be retried or followed by a ping.
//!
//! For one thread that reads while another sends over a `TcpStream` (a chat
//! server's broadcast, a client that prints while the user types),
//! [`WebSocket::split`] gives a [`Reader`] and a [`Writer`].

use std::io::{self, Read, Write};
use std::string::String;
use std::vec::Vec;

use crate::close::{CloseCode, CloseFrame};
use crate::connection::{Config, Connection, Role, State};
use crate::error::{HandshakeError, ProtocolError, UsageError};
use crate::handshake::{
    AcceptOptions, ClientHandshake, ClientOptions, Limits, Parsed, Rejection, Request, Response,
    UpgradeRequest,
};
use crate::message::{Event, Message};

/// How many bytes one `read` call on the stream may fill. Allocated only
/// while a read is outstanding; frames larger than this are read in pieces.
const READ_CHUNK: usize = 8 * 1024;

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
}

impl Error {
    /// Whether this is a read or write timeout set on the stream
    /// (`WouldBlock` on Unix, `TimedOut` on Windows). The connection is
    /// intact: the call can be retried, or a ping sent.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e)
            if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// A WebSocket over a blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
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
    /// after the head; they belong to the WebSocket stream.
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
        let answer = UpgradeRequest::validate(request).and_then(|upgrade| {
            let protocol = decide(&upgrade)?;
            let options = AcceptOptions {
                protocol: protocol.as_deref(),
                ..AcceptOptions::default()
            };
            upgrade.accept_with(&options).map_err(Rejection::from)
        });
        match answer {
            Ok(response) => {
                stream.write_all(&response)?;
                stream.flush()?;
                let mut conn = Connection::new(Role::Server, config);
                conn.receive(rest);
                Ok(WebSocket { stream, conn })
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

    /// Client side with subprotocols, extra headers and limits.
    pub fn connect_with(
        mut stream: S,
        uri: &str,
        options: ClientOptions,
        config: Config,
    ) -> Result<(Self, Response), Error> {
        let handshake = ClientHandshake::with_random_key(uri, options)?;
        stream.write_all(handshake.request())?;
        stream.flush()?;
        let (response, rest) = read_head(&mut stream, |buf| handshake.parse_response(buf))?;
        let mut conn = Connection::new(Role::Client, config);
        conn.receive(&rest);
        Ok((WebSocket { stream, conn }, response))
    }

    /// Wraps a stream whose handshake was done elsewhere.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        WebSocket { stream, conn }
    }

    /// Reads the next message. Pings are answered (unless automatic pongs
    /// are off) and pongs skipped. When the peer closes, the close reply is
    /// sent and [`Error::Closed`] returned, then again on every later call.
    pub fn read(&mut self) -> Result<Message, Error> {
        loop {
            match self.read_event()? {
                Event::Message(message) => return Ok(message),
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close(frame) => return Err(Error::Closed(Some(frame))),
            }
        }
    }

    /// Reads the next event of any kind, answering pings and closes as
    /// configured. Returns [`Error::Closed`] once the connection is closed.
    pub fn read_event(&mut self) -> Result<Event, Error> {
        loop {
            let polled = self.conn.poll_event();
            // Whatever the event, send what it queued: a pong, a close
            // reply, the close frame of a protocol error.
            self.flush()?;
            if let Some(event) = polled? {
                return Ok(event);
            }
            if let State::Closed { .. } = self.conn.state() {
                return Err(Error::Closed(self.conn.peer_close().cloned()));
            }
            self.fill()?;
        }
    }

    /// Reads once from the stream into the connection.
    fn fill(&mut self) -> io::Result<()> {
        loop {
            let buf = self.conn.receive_buffer(READ_CHUNK);
            match self.stream.read(buf) {
                Ok(0) => {
                    self.conn.commit_received(0);
                    self.conn.receive_eof();
                    return Ok(());
                }
                Ok(n) => {
                    self.conn.commit_received(n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.conn.commit_received(0);
                }
                Err(e) => {
                    self.conn.commit_received(0);
                    return Err(e);
                }
            }
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
    /// read timeout on the stream to bound the wait.
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

    /// Writes everything the connection has queued.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.conn.pending().is_empty() {
            match self.stream.write(self.conn.pending()) {
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

    /// Takes the stream and the connection apart.
    pub fn into_parts(self) -> (S, Connection) {
        (self.stream, self.conn)
    }
}

/// Reads an HTTP request head from `stream` without reading past what is
/// needed, and returns it with the bytes that followed it in the same read.
/// A malformed or oversized head is answered with its HTTP error response
/// (400, 431, ...) before the error is returned.
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
    use std::vec::Vec;

    use super::{Error, READ_CHUNK, WebSocket};
    use crate::close::{CloseCode, CloseFrame};
    use crate::connection::{Connection, State};
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
        /// Allocated at the first read.
        buf: Vec<u8>,
    }

    impl Reader {
        /// Reads the next message, like [`WebSocket::read`]: pings are
        /// answered (unless automatic pongs are off), pongs skipped, and
        /// once the close handshake is over [`Error::Closed`] is returned,
        /// then again on every later call. That is also how a close sent by
        /// the [`Writer`] completes: this returns `Closed` when the peer's
        /// reply arrives.
        pub fn read(&mut self) -> Result<Message, Error> {
            loop {
                match self.read_event()? {
                    Event::Message(message) => return Ok(message),
                    Event::Ping(_) | Event::Pong(_) => {}
                    Event::Close(frame) => return Err(Error::Closed(Some(frame))),
                }
            }
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
            if let Some(event) = polled? {
                return Ok(Some(event));
            }
            match closed {
                Some(frame) => Err(Error::Closed(frame)),
                None => Ok(None),
            }
        }

        /// Reads once from the socket, without holding the lock, and hands
        /// what came to the connection.
        fn fill(&mut self) -> io::Result<()> {
            if self.buf.is_empty() {
                self.buf.resize(READ_CHUNK, 0);
            }
            let n = loop {
                match self.stream.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            let mut inner = self.shared.lock();
            if n == 0 {
                inner.conn.receive_eof();
            } else {
                inner.conn.receive(&self.buf[..n]);
            }
            Ok(())
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
