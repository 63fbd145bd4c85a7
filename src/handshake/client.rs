//! The client's side: parse a `ws://` / `wss://` URI (§3), build the request
//! (§4.1), validate the server's response (§4.1, "the client MUST validate").

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::headers::{self, Fields, Header};
use super::{Limits, Parsed, accept_key};
use crate::agreement::{Agreement, Role};
use crate::error::HandshakeError;
use crate::header_list;

/// A parsed WebSocket URI (§3): `ws://host[:port]/path?query` or
/// `wss://...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    secure: bool,
    host: String,
    port: u16,
    resource: String,
}

impl Uri {
    /// Parses a `ws` or `wss` URI (scheme in any case).
    ///
    /// Refused with [`HandshakeError::InvalidUri`]: another scheme, a
    /// fragment (§3: `#` must be escaped as `%23`), user information, an
    /// empty or non-ASCII host (use its punycode form), a port that is not
    /// 1–65535, spaces or control characters. Bytes outside ASCII in the path
    /// and query are percent-encoded, as browsers do.
    pub fn parse(uri: &str) -> Result<Uri, HandshakeError> {
        let invalid = HandshakeError::InvalidUri;
        let (scheme, rest) = uri.split_once("://").ok_or(invalid)?;
        // §3: the scheme is "ws" or "wss" (case-insensitive, RFC 3986 §3.1).
        let secure = match scheme {
            s if s.eq_ignore_ascii_case("ws") => false,
            s if s.eq_ignore_ascii_case("wss") => true,
            _ => return Err(invalid),
        };
        // §3: fragment identifiers are meaningless here and must not be used;
        // whitespace and controls would break the request line.
        if rest.bytes().any(|b| b == b'#' || b <= b' ' || b == 0x7f) {
            return Err(invalid);
        }
        let (authority, resource) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let (host, port) = if authority.starts_with('[') {
            // An IPv6 literal, kept in its brackets (RFC 3986 §3.2.2).
            let close = authority.find(']').ok_or(invalid)?;
            let literal = &authority[1..close];
            let valid = literal.contains(':')
                && literal
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if !valid {
                return Err(invalid);
            }
            let port = match &authority[close + 1..] {
                "" => None,
                after => Some(after.strip_prefix(':').ok_or(invalid)?),
            };
            (&authority[..=close], port)
        } else {
            // §3: `host [ ":" port ]`, no user information.
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let valid = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b));
            if !valid {
                return Err(invalid);
            }
            (host, port)
        };
        // §3: the port defaults to 80 for ws and 443 for wss.
        let port = match port {
            None | Some("") => {
                if secure {
                    443
                } else {
                    80
                }
            }
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => digits
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or(invalid)?,
            Some(_) => return Err(invalid),
        };
        // §3: the resource name is the path ("/" if empty) plus the query.
        let mut encoded = String::with_capacity(resource.len() + 1);
        if !resource.starts_with('/') {
            encoded.push('/');
        }
        for c in resource.chars() {
            if c.is_ascii() {
                encoded.push(c);
            } else {
                let mut utf8 = [0; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    // Writing to a String cannot fail.
                    let _ = write!(encoded, "%{b:02X}");
                }
            }
        }
        Ok(Uri {
            secure,
            host: host.to_owned(),
            port,
            resource: encoded,
        })
    }

    /// Whether the scheme is `wss` (TLS).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The host; an IPv6 literal keeps its brackets, e.g. `[::1]`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the explicit one, or 80 for `ws`, 443 for `wss`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The resource name (§3): path and query, `/` if the path is empty.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The `Host` header value (§4.1 item 4): the host, plus `:port` when the
    /// port is not the scheme's default.
    pub fn host_header(&self) -> String {
        let default = if self.secure { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.resource)
    }
}

/// What a client offers and sends beyond the mandatory fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Subprotocols to offer, most preferred first (§4.1 item 10). Each must
    /// be a token, and unique.
    pub protocols: Vec<String>,
    /// Extension offers, raw, e.g.
    /// `permessage-deflate; client_max_window_bits` (§4.1 item 11, §9.1).
    pub extensions: Vec<String>,
    /// Extra header fields, e.g. `Origin`, `Cookie`, `Authorization`
    /// (§4.1 item 12). Fields the handshake writes itself are refused.
    pub headers: Vec<(String, String)>,
    /// Bounds on the server's response head.
    pub limits: Limits,
}

/// Header fields the request writes itself (plus the two that would announce
/// a body the server would then read out of the WebSocket stream).
const REQUEST_FIELDS: [&str; 9] = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
    "Transfer-Encoding",
];

/// A client's opening handshake: the request to send and what the response
/// must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHandshake {
    uri: Uri,
    key: String,
    request: Vec<u8>,
    protocols: Vec<String>,
    extension_names: Vec<String>,
    /// The permessage-deflate offers among the extensions, parsed.
    #[cfg(feature = "deflate")]
    deflate_offers: Vec<super::negotiate::Offer>,
    limits: Limits,
}

impl ClientHandshake {
    /// Prepares the handshake for `uri` with the 16 nonce bytes `key`.
    ///
    /// §4.1 item 7 requires the nonce to be randomly selected for each
    /// connection: pass bytes from a cryptographically secure generator (or
    /// use `with_random_key` with the `std` feature).
    ///
    /// Errors: [`HandshakeError::InvalidUri`], [`HandshakeError::InvalidHeader`]
    /// (see [`ClientOptions`]).
    pub fn new(uri: &str, key: [u8; 16], options: ClientOptions) -> Result<Self, HandshakeError> {
        let uri = Uri::parse(uri)?;
        let key = STANDARD.encode(key);
        let ClientOptions {
            protocols,
            extensions,
            headers: extra,
            limits,
        } = options;
        // §4.1 item 10: subprotocols are unique tokens.
        for (i, protocol) in protocols.iter().enumerate() {
            if !header_list::is_token(protocol) || protocols[..i].contains(protocol) {
                return Err(HandshakeError::InvalidHeader);
            }
        }
        // §9.1: each extension entry starts with the extension's token name.
        let mut extension_names = Vec::new();
        for offer in &extensions {
            if !headers::is_value(offer) || header_list::split_list(offer).next().is_none() {
                return Err(HandshakeError::InvalidHeader);
            }
            for entry in header_list::split_list(offer) {
                // §9.1: a token and well-formed parameters; an unclosed
                // quote would hide the offers after it from the server.
                if !header_list::is_extension(entry) {
                    return Err(HandshakeError::InvalidHeader);
                }
                extension_names.push(header_list::extension_name(entry).to_owned());
            }
        }
        // RFC 7692 §7.1: an offer with bad parameters cannot be sent.
        #[cfg(feature = "deflate")]
        let deflate_offers = super::negotiate::client_offers(
            extensions
                .iter()
                .flat_map(|offer| header_list::split_list(offer)),
        )?;
        for (name, value) in &extra {
            let reserved = REQUEST_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
            if reserved || !header_list::is_token(name) || !headers::is_value(value) {
                return Err(HandshakeError::InvalidHeader);
            }
        }

        // §4.1 items 1-9: GET resource HTTP/1.1, Host, Upgrade, Connection,
        // the key, the version.
        let mut request = Vec::with_capacity(256);
        request.extend_from_slice(format!("GET {} HTTP/1.1\r\n", uri.resource).as_bytes());
        headers::write_header(&mut request, "Host", &uri.host_header());
        headers::write_header(&mut request, "Upgrade", "websocket");
        headers::write_header(&mut request, "Connection", "Upgrade");
        headers::write_header(&mut request, "Sec-WebSocket-Key", &key);
        headers::write_header(&mut request, "Sec-WebSocket-Version", "13");
        if !protocols.is_empty() {
            headers::write_header(
                &mut request,
                "Sec-WebSocket-Protocol",
                &protocols.join(", "),
            );
        }
        if !extensions.is_empty() {
            let offers = extensions.join(", ");
            headers::write_header(&mut request, "Sec-WebSocket-Extensions", &offers);
        }
        for (name, value) in &extra {
            headers::write_header(&mut request, name, value);
        }
        request.extend_from_slice(b"\r\n");
        Ok(ClientHandshake {
            uri,
            key,
            request,
            protocols,
            extension_names,
            #[cfg(feature = "deflate")]
            deflate_offers,
            limits,
        })
    }

    /// Like [`new`](Self::new), with a nonce from the operating system's
    /// cryptographically secure generator (§4.1 item 7).
    ///
    /// Errors as `new`, plus [`HandshakeError::RandomnessUnavailable`].
    #[cfg(feature = "std")]
    pub fn with_random_key(uri: &str, options: ClientOptions) -> Result<Self, HandshakeError> {
        let mut key = [0; 16];
        getrandom::fill(&mut key).map_err(|_| HandshakeError::RandomnessUnavailable)?;
        Self::new(uri, key, options)
    }

    /// The complete request head to write to the server.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent (base64 of the 16 nonce bytes).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The URI connected to.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Parses the server's response from the start of `buf` and validates it
    /// ([`validate_response`](Self::validate_response)).
    ///
    /// Returns [`Parsed::Partial`] until the head is complete; bytes after the
    /// consumed count are already WebSocket frames. On
    /// [`HandshakeError::UnexpectedStatus`] a caller that wants the refusal's
    /// headers (e.g. `Location`) can parse `buf` with [`Response::parse`].
    pub fn parse_response(&self, buf: &[u8]) -> Result<Parsed<Response>, HandshakeError> {
        match Response::parse(buf, &self.limits)? {
            Parsed::Partial => Ok(Parsed::Partial),
            #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
            Parsed::Complete(mut response, consumed) => {
                let _checked = self.check(response.status, &response.headers[..])?;
                #[cfg(feature = "deflate")]
                {
                    response.deflate = _checked.deflate;
                }
                Ok(Parsed::Complete(response, consumed))
            }
        }
    }

    /// Checks a response against this handshake (§4.1, the client's checks
    /// of the server's handshake, items 1-6, in that order).
    pub fn validate_response(&self, response: &Response) -> Result<(), HandshakeError> {
        self.check(response.status, &response.headers[..]).map(drop)
    }

    /// The client's checks (§4.1, items 1-6, in that order) on a response's
    /// status and fields, wherever they were parsed, and what it agrees to.
    pub(crate) fn check<F: Fields + ?Sized>(
        &self,
        status: u16,
        fields: &F,
    ) -> Result<Agreement, HandshakeError> {
        // Item 1: anything but 101 is handled as plain HTTP by the caller.
        if status != 101 {
            return Err(HandshakeError::UnexpectedStatus(status));
        }
        // Item 2: Upgrade is "websocket", case-insensitively.
        if !headers::has_token(fields, "Upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        // Item 3: Connection holds the "Upgrade" token, case-insensitively.
        if !headers::has_token(fields, "Connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        // Item 4: Sec-WebSocket-Accept is base64(SHA-1(key ++ GUID)).
        let expected = accept_key(self.key.as_bytes());
        if headers::single(fields, "Sec-WebSocket-Accept") != Some(expected.as_bytes()) {
            return Err(HandshakeError::InvalidAccept);
        }
        // Item 5: only extensions the client offered.
        let extensions = headers::list(fields, "Sec-WebSocket-Extensions")?;
        for entry in &extensions {
            let name = header_list::extension_name(entry);
            if !self
                .extension_names
                .iter()
                .any(|offer| offer.eq_ignore_ascii_case(name))
            {
                return Err(HandshakeError::UnexpectedExtension);
            }
        }
        // RFC 7692 §5: a permessage-deflate response must answer an offer.
        #[cfg(feature = "deflate")]
        let deflate = super::negotiate::client_agreed(&self.deflate_offers, &extensions)?;
        // Item 6: at most one subprotocol, and one the client offered (so
        // none at all if it offered none).
        let mut selected = fields.values("Sec-WebSocket-Protocol");
        let protocol = match (selected.next(), selected.next()) {
            (None, _) => None,
            (Some(p), None) => Some(
                self.protocols
                    .iter()
                    .find(|offer| offer.as_bytes() == p)
                    .ok_or(HandshakeError::UnexpectedProtocol)?,
            ),
            _ => return Err(HandshakeError::UnexpectedProtocol),
        };
        let agreement = Agreement::new(Role::Client).with_protocol(protocol.cloned());
        #[cfg(feature = "deflate")]
        let agreement = agreement.with_deflate(deflate);
        Ok(agreement)
    }
}

/// An HTTP response head, owned. Returned by
/// [`ClientHandshake::parse_response`] once validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    reason: String,
    headers: Vec<Header>,
    protocol: Option<String>,
    extensions: Vec<String>,
    #[cfg(feature = "deflate")]
    deflate: Option<crate::deflate::DeflateParams>,
}

impl Response {
    /// Parses a response head from the start of `buf`, without validating it
    /// as a handshake; limits and errors as [`Request::parse`](super::Request::parse).
    pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed<Response>, HandshakeError> {
        headers::parse_head(buf, limits, |window, slots| {
            let mut res = httparse::Response::new(slots);
            Ok(match res.parse(window)? {
                httparse::Status::Partial => httparse::Status::Partial,
                httparse::Status::Complete(consumed) => {
                    let fields = headers::to_owned(res.headers);
                    let response = Response {
                        status: res.code.unwrap_or_default(),
                        reason: res.reason.unwrap_or_default().to_owned(),
                        protocol: headers::first(&fields, "Sec-WebSocket-Protocol")
                            .and_then(|p| core::str::from_utf8(p).ok())
                            .map(str::to_owned),
                        // Lenient here; validation re-reads the field strictly.
                        extensions: headers::list(&fields, "Sec-WebSocket-Extensions")
                            .unwrap_or_default(),
                        headers: fields,
                        #[cfg(feature = "deflate")]
                        deflate: None,
                    };
                    httparse::Status::Complete((response, consumed))
                }
            })
        })
    }

    /// The status code, e.g. 101.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase, e.g. `Switching Protocols` (may be empty).
    pub fn reason(&self) -> &str {
        &self.reason
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

    /// The subprotocol the server selected (`Sec-WebSocket-Protocol`), if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted (`Sec-WebSocket-Extensions`), one
    /// entry each with its parameters, in the server's order.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The permessage-deflate parameters agreed (RFC 7692), checked against
    /// the client's offers; [`agreement`](Self::agreement) carries them to
    /// [`Connection::from_agreement`](crate::Connection::from_agreement).
    /// Only a response returned by
    /// [`ClientHandshake::parse_response`] carries them; `None` otherwise,
    /// or when the server declined.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::deflate::DeflateParams> {
        self.deflate
    }

    /// What this response agrees to, for the client's connection
    /// ([`Connection::from_agreement`](crate::Connection::from_agreement)):
    /// [`Role::Client`], the subprotocol the server selected (§4.1 item 6)
    /// and the permessage-deflate parameters checked against the offers
    /// (RFC 7692 §7.1, `deflate`).
    ///
    /// Meant for a response returned by [`ClientHandshake::parse_response`],
    /// which has been checked; one from [`Response::parse`] alone reports
    /// its `Sec-WebSocket-Protocol` unchecked and no permessage-deflate.
    ///
    /// ```
    /// use rfc6455::handshake::{AcceptOptions, ClientHandshake, ClientOptions, Limits, Parsed, UpgradeRequest};
    /// use rfc6455::Role;
    ///
    /// let options = ClientOptions { protocols: vec!["chat".into()], ..Default::default() };
    /// let client = ClientHandshake::new("ws://example.com/", [7; 16], options)?;
    /// let Ok(Parsed::Complete(request, _)) = UpgradeRequest::parse(client.request(), &Limits::default()) else {
    ///     unreachable!()
    /// };
    /// let server = request.agree(&AcceptOptions { protocol: Some("chat"), ..Default::default() })?;
    /// let Parsed::Complete(response, _) = client.parse_response(&server.response)? else { unreachable!() };
    /// let agreement = response.agreement();
    /// assert_eq!(agreement.role, Role::Client);
    /// assert_eq!(agreement.protocol, server.agreement.protocol);
    /// # Ok::<(), rfc6455::HandshakeError>(())
    /// ```
    pub fn agreement(&self) -> Agreement {
        let agreement = Agreement::new(Role::Client).with_protocol(self.protocol.clone());
        #[cfg(feature = "deflate")]
        let agreement = agreement.with_deflate(self.deflate);
        agreement
    }
}
