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
