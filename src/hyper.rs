//! hyper integration (feature `hyper`): accept a WebSocket on a request
//! hyper has parsed, with the same checks as everywhere
//! ([`crate::handshake::HttpUpgrade`]: §4.2.1, subprotocols,
//! permessage-deflate), and get the async adapter's
//! [`crate::tokio::WebSocket`] once hyper hands over the
//! connection.
//!
//! ```no_run
//! use http_body_util::Empty;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use rfc6455::Config;
//!
//! async fn handle(mut request: Request<Incoming>) -> Result<Response<Empty<Bytes>>, hyper::Error> {
//!     let (response, upgrade) = match rfc6455::hyper::upgrade(&mut request, Config::default(), |_| Ok(None)) {
//!         Ok(accepted) => accepted,
//!         Err(refusal) => return Ok(refusal), // 400, 405, 426, ... with its headers
//!     };
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = upgrade.await else { return };
//!         while let Ok(Some(message)) = ws.recv().await {
//!             if ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//!     Ok(response) // the 101, sent by hyper
//! }
//! # let _ = handle;
//! ```
//!
//! Over HTTP/2, an extended CONNECT (RFC 8441) is accepted the same way
//! when the server enables it (`http2().enable_connect_protocol()` on
//! hyper's builder); the request must carry `:protocol: websocket`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::string::String;

use hyper_util::rt::TokioIo;

use crate::agreement::Agreement;
use crate::connection::Config;
use crate::handshake::{AcceptOptions, HttpUpgrade, Rejection};
use crate::tokio::{Error, WebSocket};

/// The WebSocket of an accepted request, once hyper has sent the response
/// and handed the connection over. Resolves to an error if the client went
/// away first.
///
/// Cancel safe in the sense that dropping it drops the connection, nothing
/// more.
#[must_use = "the connection is upgraded only when this is awaited"]
#[derive(Debug)]
pub struct UpgradeFuture {
    on_upgrade: hyper::upgrade::OnUpgrade,
    accepted: Option<(Agreement, Config)>,
}

impl Future for UpgradeFuture {
    type Output = Result<WebSocket, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let upgraded = match Pin::new(&mut this.on_upgrade).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(io::Error::other(e)))),
            Poll::Ready(Ok(upgraded)) => upgraded,
        };
        let Some((agreement, config)) = this.accepted.take() else {
            return Poll::Ready(Err(Error::Io(io::Error::other("polled after completion"))));
        };
        Poll::Ready(Ok(WebSocket::from_upgraded(
            TokioIo::new(upgraded),
            agreement,
            config,
            &[],
        )))
    }
}

/// Validates `request` as a WebSocket opening handshake and answers it:
/// `Ok((response, upgrade))` with the `101` (`200` over HTTP/2) to return to
/// hyper and the future that yields the [`WebSocket`] once hyper upgraded
/// the connection; `Err(response)` with the refusal to return instead (400,
/// 405, 426 with `Sec-WebSocket-Version: 13`, ... as
/// [`Rejection::to_http`]).
///
/// `decide` sees the validated request's offers and picks the subprotocol
/// (or refuses with a [`Rejection`]); authorize on `request`'s own fields
/// (path, `Origin`, cookies) before calling this. With `config.deflate`
/// enabled, a permessage-deflate offer is accepted. `RB` is the response
/// body type of your service (`Empty<Bytes>`, `Full<Bytes>`, axum's `Body`:
/// any `Default`); the responses have an empty body.
pub fn upgrade<B, RB, F>(
    request: &mut http::Request<B>,
    config: Config,
    decide: F,
) -> Result<(http::Response<RB>, UpgradeFuture), http::Response<RB>>
where
    RB: Default,
    F: FnOnce(&HttpUpgrade) -> Result<Option<String>, Rejection>,
{
    let version = request.version();
    let refuse = |rejection: Rejection| rejection.to_http(version).map(|()| RB::default());
    check_protocol_pseudo_header(request.extensions(), version).map_err(refuse)?;
    let upgrade = HttpUpgrade::from_request(request).map_err(refuse)?;
    let protocol = decide(&upgrade).map_err(refuse)?;
    let options = AcceptOptions {
        protocol: protocol.as_deref(),
        #[cfg(feature = "deflate")]
        deflate: Some(&config.deflate),
        ..AcceptOptions::default()
    };
    let accepted = upgrade
        .agree(&options)
        .map_err(|e| refuse(Rejection::from(e)))?;
    let on_upgrade = hyper::upgrade::on(request);
    Ok((
        accepted.response.map(|()| RB::default()),
        UpgradeFuture {
            on_upgrade,
            accepted: Some((accepted.agreement, config)),
        },
    ))
}

/// Over HTTP/2, an extended CONNECT must name the WebSocket protocol in its
/// `:protocol` pseudo-header (RFC 8441 §4), which hyper keeps in the
/// request's extensions, not among the headers.
pub(crate) fn check_protocol_pseudo_header(
    extensions: &http::Extensions,
    version: http::Version,
) -> Result<(), Rejection> {
    if version != http::Version::HTTP_2 {
        return Ok(());
    }
    match extensions.get::<hyper::ext::Protocol>() {
        Some(protocol) if protocol.as_str().eq_ignore_ascii_case("websocket") => Ok(()),
        _ => Err(Rejection::from(
            crate::error::HandshakeError::MissingUpgrade,
        )),
    }
}
