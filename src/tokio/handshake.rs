//! The opening handshake over an async stream, both roles, under the
//! deadline of [`Limits::timeout`]. The same checks as everywhere: they
//! live in [`crate::handshake`]; this file only moves the bytes.

use std::string::String;
use std::vec::Vec;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Error, WebSocket};
use crate::agreement::Agreement;
use crate::connection::{Config, Connection};
use crate::error::HandshakeError;
use crate::handshake::{
    AcceptOptions, Accepted, ClientHandshake, ClientOptions, Limits, Parsed, Rejection, Request,
    Response, UpgradeRequest,
};

/// Runs `step` within `limits.timeout` (none if `None`).
async fn within<T>(
    timeout: Option<core::time::Duration>,
    step: impl core::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match timeout {
        None => step.await,
        Some(timeout) => ::tokio::time::timeout(timeout, step)
            .await
            .unwrap_or(Err(Error::HandshakeTimeout)),
    }
}

/// Reads until `parse` finds a complete head; returns it with the bytes
/// that followed it. Reads 1 KiB at a time, so the leftover is small.
async fn read_head<S: AsyncRead + Unpin, T>(
    io: &mut S,
    mut parse: impl FnMut(&[u8]) -> Result<Parsed<T>, HandshakeError>,
) -> Result<(T, Vec<u8>), Error> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "stream ended during the opening handshake",
            )
            .into());
        }
        buf.extend_from_slice(&chunk[..n]);
        // The parser enforces the header size limit, so `buf` stays bounded.
        if let Parsed::Complete(head, used) = parse(&buf)? {
            return Ok((head, buf.split_off(used)));
        }
    }
}

/// Reads an HTTP request head from `io` within [`Limits::timeout`]
/// ([`Error::HandshakeTimeout`], nothing answered), and returns it with the
/// bytes that followed it. A malformed or oversized head is answered with
/// its HTTP error response (400, 431, ...) before the error is returned.
///
/// Not cancel safe: dropped midway, bytes read so far are lost (drop the
/// stream with it).
pub async fn read_request<S>(io: &mut S, limits: &Limits) -> Result<(Request, Vec<u8>), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let result = within(
        limits.timeout,
        read_head(io, |buf| Request::parse(buf, limits)),
    )
    .await;
    if let Err(Error::Handshake(error)) = &result {
        let _ = io.write_all(&Rejection::from(*error).response()).await;
        let _ = io.shutdown().await;
    }
    result
}

impl WebSocket {
    /// Server side: reads the opening handshake from `io` (within the
    /// default 10 s deadline), accepts it with no subprotocol and the
    /// default [`Config`], sends the `101` response and spawns the driver.
    /// A bad request is answered with its HTTP error response.
    ///
    /// Not cancel safe (the stream is consumed): bound it with
    /// [`Limits::timeout`], not with a `select!`.
    pub async fn accept<S>(io: S) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::accept_with(io, &Limits::default(), Config::default(), |_| Ok(None)).await
    }

    /// Server side with a say in the handshake: `decide` sees the validated
    /// request (path, query, `Origin`, cookies, offered subprotocols) and
    /// returns the subprotocol to accept or a [`Rejection`]. With
    /// `config.deflate` enabled, permessage-deflate is accepted when offered.
    ///
    /// Not cancel safe, as [`accept`](Self::accept).
    pub async fn accept_with<S, F>(
        mut io: S,
        limits: &Limits,
        config: Config,
        decide: F,
    ) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: FnOnce(&UpgradeRequest) -> Result<Option<String>, Rejection>,
    {
        let (request, rest) = read_request(&mut io, limits).await?;
        Self::upgrade(io, request, &rest, config, decide).await
    }

    /// Server side, after [`read_request`] (to serve plain HTTP on other
    /// paths): validates `request` as a WebSocket handshake, answers it, and
    /// spawns the driver. `rest` are the bytes read after the head.
    ///
    /// Not cancel safe, as [`accept`](Self::accept).
    pub async fn upgrade<S, F>(
        mut io: S,
        request: Request,
        rest: &[u8],
        config: Config,
        decide: F,
    ) -> Result<Self, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
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
                io.write_all(&response).await?;
                io.flush().await?;
                Ok(Self::from_upgraded(io, agreement, config, rest))
            }
            Err(rejection) => {
                let _ = io.write_all(&rejection.response()).await;
                let _ = io.shutdown().await;
                Err(Error::Handshake(rejection.error()))
            }
        }
    }

    /// A stream whose handshake is done (by hyper, say): builds the
    /// connection from the handshake's `agreement`, hands it `rest` (bytes
    /// that followed the handshake, usually none) and spawns the driver.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn from_upgraded<S>(io: S, agreement: Agreement, config: Config, rest: &[u8]) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = Connection::from_agreement(agreement, config);
        let (ws, driver) = Self::with_driver_and_leftover(io, conn, rest.to_vec());
        ::tokio::spawn(driver);
        ws
    }

    /// Client side: performs the opening handshake for `uri`
    /// (`ws://host:port/path?query`) over an already connected `io`, with
    /// a fresh random key, within the default 10 s deadline, and spawns the
    /// driver. Returns the socket and the server's response.
    ///
    /// Not cancel safe (the stream is consumed).
    pub async fn connect<S>(io: S, uri: &str) -> Result<(Self, Response), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Self::connect_with(io, uri, ClientOptions::default(), Config::default()).await
    }

    /// Client side with subprotocols, extra headers and limits; the whole
    /// exchange within `options.limits.timeout`. With `config.deflate`
    /// enabled, permessage-deflate is offered and used if accepted.
    ///
    /// Not cancel safe (the stream is consumed).
    pub async fn connect_with<S>(
        mut io: S,
        uri: &str,
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))] mut options: ClientOptions,
        config: Config,
    ) -> Result<(Self, Response), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        #[cfg(feature = "deflate")]
        if config.deflate.enabled && !crate::deflate::offered(&options.extensions) {
            options.extensions.push(config.deflate.offer());
        }
        let handshake = ClientHandshake::with_random_key(uri, options.clone())?;
        let (response, rest) = within(options.limits.timeout, async {
            io.write_all(handshake.request()).await?;
            io.flush().await?;
            read_head(&mut io, |buf| handshake.parse_response(buf)).await
        })
        .await?;
        let agreement = response.agreement();
        Ok((Self::from_upgraded(io, agreement, config, &rest), response))
    }
}
