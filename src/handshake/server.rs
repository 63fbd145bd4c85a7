//! The server's side: parse a request, validate it as a WebSocket upgrade
//! (§4.2.1), answer with `101` (§4.2.2) or with a ready-made rejection.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::headers::{self, Header};
use super::validate::{self, Line, Offers, Version};
use super::{Accepted, Limits, Parsed};
use crate::error::HandshakeError;

/// An HTTP request head, owned: any request, not necessarily an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    version: u8,
    headers: Vec<Header>,
}

impl Request {
    /// Parses a request head from the start of `buf`.
    ///
    /// Returns [`Parsed::Partial`] until the empty line ending the head has
    /// arrived. Errors: [`HandshakeError::HeadersTooLarge`] once `buf` holds
    /// `limits.max_header_bytes` bytes without a complete head,
    /// [`HandshakeError::TooManyHeaders`], [`HandshakeError::MalformedHttp`].
    pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed<Request>, HandshakeError> {
        headers::parse_head(buf, limits, |window, slots| {
            let mut req = httparse::Request::new(slots);
            Ok(match req.parse(window)? {
                httparse::Status::Partial => httparse::Status::Partial,
                httparse::Status::Complete(consumed) => {
                    let request = Request {
                        method: req.method.unwrap_or_default().to_owned(),
                        target: req.path.unwrap_or_default().to_owned(),
                        version: req.version.unwrap_or_default(),
                        headers: headers::to_owned(req.headers),
                    };
                    httparse::Status::Complete((request, consumed))
                }
            })
        })
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent, e.g. `/chat?room=1`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The target's path, without the query. For an absolute-form target
    /// (`http://host/chat`, allowed by §4.2.1 item 1) the scheme and
    /// authority are skipped; an empty path reads as `/`.
    pub fn path(&self) -> &str {
        let resource = self.resource();
        match resource.split('?').next() {
            Some("") | None => "/",
            Some(path) => path,
        }
    }

    /// The target's query, without the `?`, if it has one.
    pub fn query(&self) -> Option<&str> {
        self.resource().split_once('?').map(|(_, query)| query)
    }

    /// The value of the first query parameter called `name`, decoded the way
    /// browsers encode forms and `URLSearchParams` decodes them: `%XX`
    /// escapes, `+` as a space, invalid UTF-8 replaced by U+FFFD. A parameter
    /// without `=` has the value `""`. Names are compared after decoding.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key) == name).then(|| percent_decode(value))
        })
    }

    /// The value of the first header field called `name`, compared
    /// case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        headers::first(&self.headers, name)
    }

    /// Like [`header`](Self::header), if the value is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        core::str::from_utf8(self.header(name)?).ok()
    }

    /// All header fields, in the order received.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.header_str("Host")
    }

    /// The `Origin` header, which browsers always send (§4.1 item 8, §10.2):
    /// a server may refuse origins it does not trust, e.g. with a 403
    /// [`http_response`](super::http_response).
    pub fn origin(&self) -> Option<&str> {
        self.header_str("Origin")
    }

    /// Whether the request asks for a WebSocket upgrade: an `Upgrade` header
    /// with the `websocket` token. Lets a server route plain HTTP requests
    /// (e.g. `GET /` for an HTML page) elsewhere before validating.
    pub fn is_websocket_upgrade(&self) -> bool {
        headers::has_token(&self.headers, "Upgrade", "websocket")
    }

    /// The target from the path on: absolute-form targets lose their scheme
    /// and authority.
    fn resource(&self) -> &str {
        if self.target.starts_with('/') {
            return &self.target;
        }
        match self.target.split_once("://") {
            Some((_, rest)) => rest.find(['/', '?']).map_or("", |i| &rest[i..]),
            None => &self.target,
        }
    }
}

/// Decodes `%XX` escapes and `+` (as a space); malformed escapes stay as they
/// are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| u8::try_from((b as char).to_digit(16)?).ok();
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request validated as a WebSocket opening handshake (§4.2.1), ready to
/// be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    request: Request,
    /// Its key is always there: HTTP/1.1 needs one.
    offers: Offers,
}

/// What to put in the `101` response beyond the mandatory fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptOptions<'a> {
    /// The chosen subprotocol; it must be one the client offered (§4.2.2
    /// item 5.5). See [`UpgradeRequest::select_protocol`].
    pub protocol: Option<&'a str>,
    /// The accepted extensions, each an entry with its parameters (e.g.
    /// `permessage-deflate; server_no_context_takeover`); each must name an
    /// extension the client offered (§9.1). Sent in this order.
    pub extensions: &'a [&'a str],
    /// Extra header fields, e.g. `Set-Cookie`. The fields the handshake writes
    /// itself may not appear here.
    pub headers: &'a [(&'a str, &'a str)],
    /// Negotiate permessage-deflate under this policy (RFC 7692 §7.1): the
    /// first offer it can honour is accepted, its entry sent first in
    /// `Sec-WebSocket-Extensions` and its parameters put in the
    /// [`Agreement`](crate::Agreement). `None` (the default): no
    /// negotiation. When set, [`extensions`](Self::extensions) may not hold
    /// a permessage-deflate entry of its own.
    #[cfg(feature = "deflate")]
    pub deflate: Option<&'a crate::deflate::DeflateConfig>,
}

impl UpgradeRequest {
    /// Parses and validates in one step: [`Request::parse`], then
    /// [`validate`](Self::validate). Parse errors become rejections too.
    pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed<UpgradeRequest>, Rejection> {
        match Request::parse(buf, limits)? {
            Parsed::Partial => Ok(Parsed::Partial),
            Parsed::Complete(request, consumed) => {
                Ok(Parsed::Complete(Self::validate(request)?, consumed))
            }
        }
    }

    /// Checks that `request` is a valid opening handshake (§4.2.1), in the
    /// order the RFC lists the requirements.
    pub fn validate(request: Request) -> Result<UpgradeRequest, Rejection> {
        let line = Line {
            method: &request.method,
            // httparse only parses HTTP/1.x.
            version: if request.version < 1 {
                Version::Old
            } else {
                Version::Http11
            },
            has_scheme_and_path: false,
            authority: None,
        };
        let offers = validate::check(line, &request.headers[..])?;
        Ok(UpgradeRequest { request, offers })
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The request, giving up the validated view.
    pub fn into_request(self) -> Request {
        self.request
    }

    /// Checks the page the request comes from (its `Origin`, §10.2)
    /// against `policy`, before accepting: [`HandshakeError::ForbiddenOrigin`]
    /// (403) when it is not allowed. A request without `Origin` (not a
    /// browser) is allowed; see [`OriginPolicy`](super::OriginPolicy), and
    /// [`require_origin`](Self::require_origin) to refuse it too.
    ///
    /// ```
    /// use rfc6455::handshake::{Limits, OriginPolicy, Parsed, UpgradeRequest};
    ///
    /// let buf = b"GET /ws HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///     Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n";
    /// let Ok(Parsed::Complete(request, _)) = UpgradeRequest::parse(buf, &Limits::default()) else {
    ///     unreachable!()
    /// };
    /// let rejection = request.check_origin(&OriginPolicy::SameOrigin).unwrap_err();
    /// assert_eq!(rejection.status(), 403);
    /// assert!(rejection.response().starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    /// let widened = OriginPolicy::SameOriginOr(vec!["https://evil.example".into()]);
    /// assert!(request.check_origin(&widened).is_ok());
    /// ```
    pub fn check_origin(&self, policy: &super::OriginPolicy) -> Result<(), Rejection> {
        Ok(self.offers.check_origin(policy, false)?)
    }

    /// [`check_origin`](Self::check_origin), refusing a request without
    /// `Origin` as well (unless `policy` is `AnyOrigin`): for a server
    /// meant for browsers only.
    pub fn require_origin(&self, policy: &super::OriginPolicy) -> Result<(), Rejection> {
        Ok(self.offers.check_origin(policy, true)?)
    }

    /// Checks that the request is addressed to one of `names` (its `Host`):
    /// a name without a port (`example.com`) matches that host on any port,
    /// one with a port (`example.com:8080`) only that port; ASCII
    /// case-insensitively. Refused with [`HandshakeError::MisdirectedHost`],
    /// `421 Misdirected Request`: the name is not one this server answers
    /// for (what a DNS-rebinding page gets, whose `Origin` and `Host` both
    /// carry the attacker's name). An empty `names` allows every host.
    pub fn check_host<S: AsRef<str>>(&self, names: &[S]) -> Result<(), Rejection> {
        Ok(self.offers.check_host(names)?)
    }

    /// The `Sec-WebSocket-Key`, as sent.
    pub fn key(&self) -> &str {
        self.offers.key.as_deref().unwrap_or_default()
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its
    /// order of preference (§4.1 item 10), across all lines of the field.
    pub fn protocols(&self) -> &[String] {
        &self.offers.protocols
    }

    /// The extensions the client offered (`Sec-WebSocket-Extensions`), one
    /// raw entry each with its parameters, e.g.
    /// `permessage-deflate; client_max_window_bits` (§9.1).
    pub fn extensions(&self) -> &[String] {
        &self.offers.extensions
    }

    /// The permessage-deflate parameters to accept (RFC 7692 §7.1): the
    /// first offer that is valid and that `config` can honour, or `None`
    /// (disabled, not offered, every offer invalid). [`agree`](Self::agree)
    /// with [`AcceptOptions::deflate`] does this and reports the result in
    /// its [`Agreement`](crate::Agreement); by hand, send the result's
    /// `to_string()` in [`AcceptOptions::extensions`].
    #[cfg(feature = "deflate")]
    pub fn deflate(
        &self,
        config: &crate::deflate::DeflateConfig,
    ) -> Option<crate::deflate::DeflateParams> {
        self.offers.deflate(config)
    }

    /// The first subprotocol in the client's offer that is in `supported`,
    /// compared exactly.
    ///
    /// The client's order wins because the client lists its offers "ordered
    /// by preference" (§4.1 item 10); a server that prefers its own order can
    /// search [`protocols`](Self::protocols) itself.
    pub fn select_protocol(&self, supported: &[&str]) -> Option<&str> {
        self.offers.select_protocol(supported)
    }

    /// The `101 Switching Protocols` response (§4.2.2 item 5), selecting
    /// `protocol`, which must be one the client offered
    /// ([`HandshakeError::UnexpectedProtocol`] otherwise).
    pub fn accept(&self, protocol: Option<&str>) -> Result<Vec<u8>, HandshakeError> {
        self.accept_with(&AcceptOptions {
            protocol,
            ..AcceptOptions::default()
        })
    }

    /// The `101 Switching Protocols` response with a subprotocol, extensions
    /// and extra header fields: [`agree`](Self::agree)'s response, except
    /// that a permessage-deflate entry may be given in
    /// [`AcceptOptions::extensions`] (when `AcceptOptions::deflate` is not
    /// set).
    ///
    /// Errors: [`HandshakeError::UnexpectedProtocol`] and
    /// [`HandshakeError::UnexpectedExtension`] for something the client did
    /// not offer, [`HandshakeError::InvalidHeader`] for a field that is not a
    /// token name with a clean value, or that the handshake writes itself.
    pub fn accept_with(&self, options: &AcceptOptions<'_>) -> Result<Vec<u8>, HandshakeError> {
        Ok(self.answer(options, false)?.response)
    }

    /// Accepts the handshake: the `101 Switching Protocols` response
    /// (§4.2.2 item 5) and the [`Agreement`](crate::Agreement) it makes, from
    /// which the server's connection is built
    /// ([`Connection::from_agreement`](crate::Connection::from_agreement)).
    ///
    /// `options` give the subprotocol (§4.2.2 item 5.5), other extensions'
    /// entries (§9.1), extra fields, and with the `deflate` feature the
    /// permessage-deflate policy to negotiate with (RFC 7692 §7.1). Errors
    /// as [`accept_with`](Self::accept_with), and
    /// [`HandshakeError::InvalidHeader`] for a permessage-deflate entry in
    /// [`AcceptOptions::extensions`]: its parameters would not reach the
    /// agreement, so this method only negotiates it itself.
    ///
    /// ```
    /// use rfc6455::handshake::{AcceptOptions, Limits, Parsed, UpgradeRequest};
    /// use rfc6455::Role;
    ///
    /// let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    ///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    ///     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\
    ///     Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    /// let Ok(Parsed::Complete(request, _)) = UpgradeRequest::parse(buf, &Limits::default()) else {
    ///     unreachable!()
    /// };
    /// let deflate = rfc6455::deflate::DeflateConfig::default();
    /// let accepted = request.agree(&AcceptOptions {
    ///     protocol: request.select_protocol(&["chat"]),
    ///     deflate: Some(&deflate),
    ///     ..AcceptOptions::default()
    /// })?;
    /// assert!(accepted.response.ends_with(b"\r\nSec-WebSocket-Protocol: chat\r\n\
    ///     Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"));
    /// assert_eq!(accepted.agreement.role, Role::Server);
    /// assert_eq!(accepted.agreement.protocol.as_deref(), Some("chat"));
    /// assert_eq!(accepted.agreement.deflate, request.deflate(&deflate));
    /// # Ok::<(), rfc6455::HandshakeError>(())
    /// ```
    pub fn agree(&self, options: &AcceptOptions<'_>) -> Result<Accepted, HandshakeError> {
        self.answer(options, true)
    }

    fn answer(
        &self,
        options: &AcceptOptions<'_>,
        strict: bool,
    ) -> Result<Accepted, HandshakeError> {
        let answer = self.offers.answer(options, strict)?;
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
        for (name, value) in answer.fields() {
            headers::write_header(&mut out, name, value);
        }
        out.extend_from_slice(b"\r\n");
        Ok(Accepted {
            response: out,
            agreement: answer.agreement,
        })
    }
}

impl TryFrom<Request> for UpgradeRequest {
    type Error = Rejection;

    fn try_from(request: Request) -> Result<Self, Rejection> {
        UpgradeRequest::validate(request)
    }
}

/// A refused opening handshake, with the HTTP response that says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    error: HandshakeError,
}

impl Rejection {
    /// Why the handshake was refused.
    pub fn error(&self) -> HandshakeError {
        self.error
    }

    /// The HTTP status of the response ([`HandshakeError::status`]).
    pub fn status(&self) -> u16 {
        self.error.status()
    }

    /// A complete HTTP/1.1 response to send before closing the connection:
    /// the status, a plain-text body naming the error, `Connection: close`;
    /// for 426 also `Sec-WebSocket-Version: 13` (§4.2.2) and `Upgrade`; for
    /// 405 also `Allow: GET`.
    pub fn response(&self) -> Vec<u8> {
        let status = self.status();
        let mut fields = alloc::vec![("Content-Type", "text/plain; charset=utf-8")];
        fields.extend(validate::refusal_fields(status, Version::Http11));
        let body = alloc::format!("{}\n", self.error);
        super::http_response(status, &fields, body.as_bytes())
    }
}

impl From<HandshakeError> for Rejection {
    fn from(error: HandshakeError) -> Self {
        Rejection { error }
    }
}

impl From<Rejection> for HandshakeError {
    fn from(rejection: Rejection) -> Self {
        rejection.error
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handshake refused with HTTP {}: {}",
            self.status(),
            self.error
        )
    }
}

impl core::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}
