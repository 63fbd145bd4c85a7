//! The opening handshake for a request another HTTP stack has parsed
//! (feature `http`): hyper, axum and the others hand over an
//! [`http::Request`], and want an [`http::Response`] back.
//!
//! The checks are [`UpgradeRequest`](super::UpgradeRequest)'s, run over
//! the [`http::HeaderMap`] instead of a head parsed here (one implementation
//! of §4.2.1 for both), and so are the subprotocol selection, the
//! permessage-deflate negotiation and the refusals.

use alloc::string::String;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::headers::Fields;
use super::validate::{self, Line, Offers};
use super::{AcceptOptions, Accepted, ClientHandshake, Rejection};
use crate::agreement::Agreement;
use crate::error::HandshakeError;

impl Fields for HeaderMap {
    fn values<'f>(&'f self, name: &str) -> impl Iterator<Item = &'f [u8]> {
        // `HeaderMap` compares names case-insensitively.
        self.get_all(name).iter().map(HeaderValue::as_bytes)
    }
}

/// The handshake's view of an HTTP version.
fn version_of(version: Version) -> validate::Version {
    if version == Version::HTTP_2 || version == Version::HTTP_3 {
        validate::Version::Connect
    } else if version == Version::HTTP_11 {
        validate::Version::Http11
    } else {
        validate::Version::Old
    }
}

/// A request from another HTTP stack, validated as a WebSocket opening
/// handshake, ready to be accepted.
///
/// Two forms are accepted:
///
/// * **HTTP/1.1** (RFC 6455 §4.2.1): a `GET` with `Upgrade: websocket`,
///   `Connection: Upgrade`, a `Host`, a 16-byte `Sec-WebSocket-Key` and
///   `Sec-WebSocket-Version: 13`, checked exactly as
///   [`UpgradeRequest::validate`](super::UpgradeRequest::validate) checks
///   the bytes (same errors, same order, same statuses). The answer is a
///   `101 Switching Protocols` with `Sec-WebSocket-Accept`.
/// * **HTTP/2 or HTTP/3 extended CONNECT** (RFC 8441 §4–5, RFC 9220): a
///   `CONNECT` with `:scheme`, `:path` and `:authority`, and
///   `Sec-WebSocket-Version: 13`; no key, no `Upgrade`. The answer is a
///   `200` without `Sec-WebSocket-Accept`. The `:protocol` pseudo-header
///   (`websocket`) is not part of [`http::Request`]: the HTTP stack keeps it
///   in the request's extensions (hyper: `hyper::ext::Protocol`), so the
///   caller checks it; this crate depends on no HTTP stack. A `CONNECT`
///   without `:scheme` and `:path` is a tunnel request and is refused
///   ([`HandshakeError::MissingUpgrade`]). The stack must also have
///   announced `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3; hyper:
///   `http2().enable_connect_protocol()`).
///
/// The HTTP stack then hands over the upgraded stream (hyper:
/// `hyper::upgrade::on`) and the connection is built from
/// [`Accepted::agreement`].
///
/// ```
/// use http::{Request, StatusCode};
/// use rfc6455::deflate::DeflateConfig;
/// use rfc6455::handshake::{AcceptOptions, HttpUpgrade};
/// use rfc6455::Role;
///
/// let request = Request::get("/chat")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .header("Sec-WebSocket-Protocol", "chat, superchat")
///     .header("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
///     .body(())?;
/// let deflate = DeflateConfig::default();
/// let (response, agreement) = match HttpUpgrade::from_request(&request) {
///     Ok(upgrade) => {
///         let accepted = upgrade.agree(&AcceptOptions {
///             protocol: upgrade.select_protocol(&["chat"]),
///             deflate: Some(&deflate),
///             ..AcceptOptions::default()
///         })?;
///         (accepted.response, Some(accepted.agreement))
///     }
///     // 4xx with the fields that explain it (426: `Sec-WebSocket-Version: 13`).
///     Err(rejection) => (rejection.to_http(request.version()), None),
/// };
/// assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
/// let headers = response.headers();
/// assert_eq!(headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert_eq!(headers["sec-websocket-protocol"], "chat");
/// assert_eq!(headers["sec-websocket-extensions"], "permessage-deflate");
/// let agreement = agreement.expect("accepted");
/// assert_eq!(agreement.role, Role::Server);
/// assert_eq!(agreement.protocol.as_deref(), Some("chat"));
/// assert!(agreement.deflate.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUpgrade {
    version: Version,
    offers: Offers,
}

impl HttpUpgrade {
    /// Checks a request head (§4.2.1, or RFC 8441 §4–5 over HTTP/2 and
    /// HTTP/3). The refusal's [`Rejection::to_http`] is the response to send.
    pub fn validate(parts: &http::request::Parts) -> Result<HttpUpgrade, Rejection> {
        Self::check(&parts.method, parts.version, &parts.uri, &parts.headers)
    }

    /// [`validate`](Self::validate) for a whole request; the body is not
    /// looked at (an upgrade request has none).
    pub fn from_request<B>(request: &http::Request<B>) -> Result<HttpUpgrade, Rejection> {
        Self::check(
            request.method(),
            request.version(),
            request.uri(),
            request.headers(),
        )
    }

    fn check(
        method: &Method,
        version: Version,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<HttpUpgrade, Rejection> {
        let line = Line {
            method: method.as_str(),
            version: version_of(version),
            has_scheme_and_path: uri.scheme().is_some() && uri.path_and_query().is_some(),
            authority: uri.authority().map(|a| a.as_str().as_bytes()),
        };
        let offers = validate::check(line, headers)?;
        Ok(HttpUpgrade { version, offers })
    }

    /// The request's HTTP version: `HTTP/1.1`, or `HTTP/2` / `HTTP/3` for an
    /// extended CONNECT.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Checks the request's `Origin` against `policy`, as
    /// [`UpgradeRequest::check_origin`](super::UpgradeRequest::check_origin)
    /// (the same function over the header fields; over HTTP/2 the
    /// `:authority` stands for `Host`): [`HandshakeError::ForbiddenOrigin`],
    /// 403, when it is not allowed; a request without `Origin` is allowed.
    pub fn check_origin(&self, policy: &super::OriginPolicy) -> Result<(), Rejection> {
        Ok(self.offers.check_origin(policy, false)?)
    }

    /// [`check_origin`](Self::check_origin), refusing a request without
    /// `Origin` too (unless `policy` is `AnyOrigin`).
    pub fn require_origin(&self, policy: &super::OriginPolicy) -> Result<(), Rejection> {
        Ok(self.offers.check_origin(policy, true)?)
    }

    /// Checks the `Host` (or `:authority`) against `names`, as
    /// [`UpgradeRequest::check_host`](super::UpgradeRequest::check_host):
    /// 421 ([`HandshakeError::MisdirectedHost`]) for another name.
    pub fn check_host<S: AsRef<str>>(&self, names: &[S]) -> Result<(), Rejection> {
        Ok(self.offers.check_host(names)?)
    }

    /// The `Sec-WebSocket-Key`, as sent; `None` over HTTP/2 and HTTP/3,
    /// which do not use one (RFC 8441 §5).
    pub fn key(&self) -> Option<&str> {
        self.offers.key.as_deref()
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its
    /// order of preference (§4.1 item 10), across all lines of the field.
    pub fn protocols(&self) -> &[String] {
        &self.offers.protocols
    }

    /// The extensions the client offered (`Sec-WebSocket-Extensions`), one
    /// raw entry each with its parameters (§9.1).
    pub fn extensions(&self) -> &[String] {
        &self.offers.extensions
    }

    /// The first subprotocol in the client's offer that is in `supported`,
    /// as [`UpgradeRequest::select_protocol`](super::UpgradeRequest::select_protocol).
    pub fn select_protocol(&self, supported: &[&str]) -> Option<&str> {
        self.offers.select_protocol(supported)
    }

    /// The permessage-deflate parameters `config` accepts (RFC 7692 §7.1),
    /// as [`UpgradeRequest::deflate`](super::UpgradeRequest::deflate).
    #[cfg(feature = "deflate")]
    pub fn deflate(
        &self,
        config: &crate::deflate::DeflateConfig,
    ) -> Option<crate::deflate::DeflateParams> {
        self.offers.deflate(config)
    }

    /// Accepts the handshake: the response to send (`101` with
    /// `Upgrade`, `Connection` and `Sec-WebSocket-Accept` over HTTP/1.1,
    /// §4.2.2; `200` over HTTP/2 and HTTP/3, RFC 8441 §5), with the
    /// subprotocol, the extensions (permessage-deflate negotiated from
    /// `AcceptOptions::deflate`) and the extra fields, and the
    /// [`Agreement`] it makes.
    ///
    /// Same rules and errors as
    /// [`UpgradeRequest::agree`](super::UpgradeRequest::agree).
    pub fn agree(
        &self,
        options: &AcceptOptions<'_>,
    ) -> Result<Accepted<http::Response<()>>, HandshakeError> {
        let answer = self.offers.answer(options, true)?;
        let status = match self.offers.key {
            Some(_) => StatusCode::SWITCHING_PROTOCOLS,
            None => StatusCode::OK,
        };
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        for (name, value) in answer.fields() {
            // Names and values were checked (tokens, no control
            // characters); a refusal here would still be an error, not a panic.
            let name = HeaderName::try_from(name).map_err(|_| HandshakeError::InvalidHeader)?;
            let value = HeaderValue::try_from(value).map_err(|_| HandshakeError::InvalidHeader)?;
            headers.append(name, value);
        }
        Ok(Accepted {
            response,
            agreement: answer.agreement,
        })
    }
}

impl Rejection {
    /// The refusal as an [`http::Response`] for a request of `version`: the
    /// status, and the fields [`response`](Self::response) writes (426:
    /// `Sec-WebSocket-Version: 13`, §4.2.2, with `Upgrade`; 405: `Allow`),
    /// with `Connection: close` over HTTP/1 only (HTTP/2 has no
    /// connection-specific fields, RFC 9113 §8.2.2; a 405 there allows
    /// `CONNECT`).
    ///
    /// The body is empty; to explain, map it, e.g.
    /// `response.map(|()| format!("{}\n", rejection.error()))` with a
    /// `Content-Type: text/plain; charset=utf-8`.
    pub fn to_http(&self, version: Version) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let headers = response.headers_mut();
        for (name, value) in validate::refusal_fields(self.status(), version_of(version)) {
            // Constant, valid names: `from_bytes` only lower-cases them.
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                headers.append(name, HeaderValue::from_static(value));
            }
        }
        response
    }
}

impl ClientHandshake {
    /// Checks a response that another HTTP client parsed (feature `http`)
    /// against this handshake, as
    /// [`validate_response`](Self::validate_response) does (§4.1, the
    /// client's checks, items 1–6; RFC 7692 §5 for permessage-deflate), and
    /// gives what it agrees to, for the client's connection. HTTP/1.1 only:
    /// an extended CONNECT's `200` (RFC 8441) is not a §4.1 response.
    pub fn validate_http_response(
        &self,
        response: &http::response::Parts,
    ) -> Result<Agreement, HandshakeError> {
        self.check(response.status.as_u16(), &response.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_of(Version::HTTP_09), validate::Version::Old);
        assert_eq!(version_of(Version::HTTP_10), validate::Version::Old);
        assert_eq!(version_of(Version::HTTP_11), validate::Version::Http11);
        assert_eq!(version_of(Version::HTTP_2), validate::Version::Connect);
        assert_eq!(version_of(Version::HTTP_3), validate::Version::Connect);
    }
}
