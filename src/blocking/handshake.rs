//! The opening handshake over a blocking stream, both roles, under the
//! deadline of [`Limits::timeout`].

use std::io::{self, Read, Write};
use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::transport::{Transport, is_timeout};
use super::{Error, WebSocket};
use crate::connection::{Config, Connection};
use crate::error::HandshakeError;
use crate::handshake::{
    AcceptOptions, Accepted, ClientHandshake, ClientOptions, Limits, Parsed, Rejection, Request,
    Response, UpgradeRequest,
};

/// After an HTTP error response to a bad request head, input is read and
/// discarded for at most this long and this much before the stream is
/// dropped, so that the peer gets to read the response (closing a socket
/// with unread input makes the kernel send a reset that can destroy it).
const REJECT_LINGER: Duration = Duration::from_secs(1);
const REJECT_LINGER_BYTES: usize = 64 * 1024;

impl<S: Transport> WebSocket<S> {
    /// Server side: reads the opening handshake from `stream` (within the
    /// default 10 s deadline), accepts it with no subprotocol and the
    /// default [`Config`], and sends the `101` response. A bad request is
    /// answered with its HTTP error response.
    pub fn accept(stream: S) -> Result<Self, Error> {
        Self::accept_with(stream, &Limits::default(), Config::default(), |_| Ok(None))
    }

    /// Server side with a say in the handshake: `decide` sees the validated
    /// request (path, query, `Origin`, cookies, offered subprotocols) and
    /// returns the subprotocol to accept (one the client offered, or
    /// `None`), or a [`Rejection`] to refuse it. The request head must
    /// arrive within [`Limits::timeout`] ([`Error::HandshakeTimeout`]
    /// otherwise, nothing answered).
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

    /// Server side, after the request head was read by [`read_request`]
    /// (e.g. to serve plain HTTP on other paths): validates it as a
    /// WebSocket handshake and answers it. `rest` are the bytes read after
    /// the head; they belong to the WebSocket stream. With `config.deflate`
    /// enabled (feature `deflate`), a permessage-deflate offer is accepted
    /// ([`UpgradeRequest::deflate`]).
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
            // RFC 7692: permessage-deflate accepted if `config.deflate` enables it.
            let options = AcceptOptions {
                protocol: protocol.as_deref(),
                #[cfg(feature = "deflate")]
                deflate: Some(&config.deflate),
                ..AcceptOptions::default()
            };
            upgrade.agree(&options).map_err(Rejection::from)
        });
        match answer {
            Ok(Accepted {
                response,
                agreement,
                ..
            }) => {
                stream.write_all(&response)?;
                stream.flush()?;
                let conn = Connection::from_agreement(agreement, config);
                Ok(WebSocket::with_leftover(stream, conn, rest.to_vec()))
            }
            Err(rejection) => {
                reject(&mut stream, &rejection.response());
                Err(Error::Handshake(rejection.error()))
            }
        }
    }

    /// Client side: performs the opening handshake for `uri`
    /// (`ws://host:port/path?query`) over an already connected `stream`,
    /// with a fresh random key, within the default 10 s deadline. Returns
    /// the socket and the server's response.
    pub fn connect(stream: S, uri: &str) -> Result<(Self, Response), Error> {
        Self::connect_with(stream, uri, ClientOptions::default(), Config::default())
    }

    /// Client side with subprotocols, extra headers and limits. The whole
    /// exchange (request written, response head read) must finish within
    /// `options.limits.timeout` ([`Error::HandshakeTimeout`] otherwise);
    /// bound the TCP connect itself with `TcpStream::connect_timeout`. With
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
        let handshake = ClientHandshake::with_random_key(uri, options.clone())?;
        let (response, rest) = within(&mut stream, options.limits.timeout, |stream| {
            stream.write_all(handshake.request())?;
            stream.flush()?;
            read_head(stream, |buf| handshake.parse_response(buf))
        })?;
        let agreement = response.agreement();
        let conn = Connection::from_agreement(agreement, config);
        Ok((WebSocket::with_leftover(stream, conn, rest), response))
    }
}

/// Reads an HTTP request head from `stream` without reading past what is
/// needed, and returns it with the bytes that followed it in the same read.
/// The whole head must arrive within [`Limits::timeout`]
/// ([`Error::HandshakeTimeout`], nothing answered: a peer that slow is not
/// worth a response). A malformed or oversized head is answered with its
/// HTTP error response (400, 431, ...) before the error is returned.
pub fn read_request<S: Transport>(
    stream: &mut S,
    limits: &Limits,
) -> Result<(Request, Vec<u8>), Error> {
    let result = within(stream, limits.timeout, |stream| {
        read_head(stream, |buf| Request::parse(buf, limits))
    });
    if let Err(Error::Handshake(error)) = result {
        reject(stream, &Rejection::from(error).response());
    }
    result
}

/// Sends an HTTP error response, then lingers briefly (see [`REJECT_LINGER`]).
fn reject<S: Transport>(stream: &mut S, response: &[u8]) {
    if stream
        .write_all(response)
        .and_then(|()| stream.flush())
        .is_err()
    {
        return;
    }
    if stream.shutdown_write().is_err() {
        return;
    }
    let deadline = Instant::now() + REJECT_LINGER;
    let mut buf = [0u8; 4096];
    let mut left = REJECT_LINGER_BYTES;
    while left > 0 {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Runs a handshake step over `stream` with all its reads and writes ending
/// by `timeout` from now; afterwards the stream's timeouts are unset (the
/// connection's loop sets its own). Running out of time is
/// [`Error::HandshakeTimeout`].
fn within<S: Transport, T>(
    stream: &mut S,
    timeout: Option<Duration>,
    step: impl FnOnce(&mut Deadline<'_, S>) -> Result<T, Error>,
) -> Result<T, Error> {
    let Some(timeout) = timeout else {
        return step(&mut Deadline {
            stream,
            until: None,
        });
    };
    stream.set_write_timeout(Some(timeout))?;
    let result = step(&mut Deadline {
        stream,
        until: Some(Instant::now() + timeout),
    });
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    match result {
        Err(Error::Io(e)) if is_timeout(&e) => Err(Error::HandshakeTimeout),
        other => other,
    }
}

/// A stream whose reads all end by one deadline.
struct Deadline<'a, S> {
    stream: &'a mut S,
    until: Option<Instant>,
}

impl<S: Transport> Read for Deadline<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(until) = self.until {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        self.stream.read(buf)
    }
}

impl<S: Transport> Write for Deadline<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Reads until `parse` finds a complete head; returns it with the leftover bytes.
fn read_head<R: Read, T>(
    stream: &mut R,
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
