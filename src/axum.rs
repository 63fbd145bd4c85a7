//! axum integration (feature `axum`): [`WebSocketUpgrade`], an extractor,
//! so that a handler is a few lines.
//!
//! ```no_run
//! use axum::{Router, response::Response, routing::get};
//! use rfc6455::axum::WebSocketUpgrade;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.protocols(["chat"]).on_upgrade(|mut ws| async move {
//!         while let Ok(Some(message)) = ws.recv().await {
//!             if ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! let app: Router = Router::new().route("/ws", get(ws));
//! # let _ = app;
//! ```

use core::future::Future;
use std::string::String;
use std::vec::Vec;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use hyper_util::rt::TokioIo;

use crate::connection::Config;
use crate::handshake::{AcceptOptions, HttpUpgrade, Rejection};
use crate::tokio::WebSocket;

/// A validated WebSocket opening handshake (§4.2.1, or RFC 8441 over
/// HTTP/2), as an axum extractor. A request that is not one is refused by
/// the extractor itself with the right status and headers (400, 405, 426
/// with `Sec-WebSocket-Version: 13`, ...), before the handler runs.
///
/// Choose the subprotocols and the [`Config`], then
/// [`on_upgrade`](Self::on_upgrade) returns the response and runs your
/// callback with the [`WebSocket`] once the connection is upgraded.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    upgrade: HttpUpgrade,
    version: http::Version,
    on_upgrade: hyper::upgrade::OnUpgrade,
    config: Config,
    protocols: Vec<String>,
}

/// Why [`WebSocketUpgrade`] refused a request: the response it sends.
#[derive(Debug)]
pub struct WebSocketRejection(Response);

impl IntoResponse for WebSocketRejection {
    fn into_response(self) -> Response {
        self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let version = parts.version;
        let refuse = |rejection: Rejection| {
            WebSocketRejection(rejection.to_http(version).map(|()| Body::empty()))
        };
        crate::hyper::check_protocol_pseudo_header(&parts.extensions, version).map_err(refuse)?;
        let upgrade = HttpUpgrade::validate(parts).map_err(refuse)?;
        // hyper puts it there for a connection that can be upgraded.
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| {
                WebSocketRejection(
                    (
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "this connection cannot be upgraded",
                    )
                        .into_response(),
                )
            })?;
        Ok(WebSocketUpgrade {
            upgrade,
            version,
            on_upgrade,
            config: Config::default(),
            protocols: Vec::new(),
        })
    }
}

impl WebSocketUpgrade {
    /// The connection's configuration (limits, timers, permessage-deflate).
    /// Default [`Config::default`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols this server speaks; the first the client offers is
    /// selected (the client's order, §4.1 item 10). None selected if the
    /// client offers none of them.
    pub fn protocols<I, P>(mut self, supported: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.protocols = supported.into_iter().map(Into::into).collect();
        self
    }

    /// The validated request's offers (subprotocols, extensions, version).
    pub fn request(&self) -> &HttpUpgrade {
        &self.upgrade
    }

    /// Accepts the handshake: returns the response for axum to send and
    /// spawns a task that runs `callback` with the [`WebSocket`] once the
    /// connection is upgraded (not at all if the client goes away first).
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let supported: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let protocol = self.upgrade.select_protocol(&supported).map(String::from);
        let options = AcceptOptions {
            protocol: protocol.as_deref(),
            #[cfg(feature = "deflate")]
            deflate: Some(&self.config.deflate),
            ..AcceptOptions::default()
        };
        let accepted = match self.upgrade.agree(&options) {
            Ok(accepted) => accepted,
            Err(error) => {
                return Rejection::from(error)
                    .to_http(self.version)
                    .map(|()| Body::empty())
                    .into_response();
            }
        };
        let (agreement, config, on_upgrade) = (accepted.agreement, self.config, self.on_upgrade);
        ::tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let ws = WebSocket::from_upgraded(TokioIo::new(upgraded), agreement, config, &[]);
            callback(ws).await;
        });
        accepted.response.map(|()| Body::empty()).into_response()
    }
}
