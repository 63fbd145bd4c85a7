//! The server's rules, written once over header fields: the checks of an
//! opening handshake request (RFC 6455 §4.2.1; RFC 8441 §4–5 for HTTP/2),
//! the choice of subprotocol and extensions, and the fields of the answer
//! (§4.2.2). [`UpgradeRequest`](super::UpgradeRequest) applies them to a
//! head parsed from bytes, the `http` integration to an `http::Request`, so
//! both accept and refuse exactly the same requests.

use alloc::borrow::ToOwned;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::headers::{self, Fields};
use super::{AcceptOptions, accept_key};
use crate::agreement::{Agreement, Role};
use crate::error::HandshakeError;
use crate::header_list;

/// The request's HTTP version, as far as the handshake cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    /// HTTP/1.0 or older: no upgrade (§4.2.1 item 1 needs 1.1).
    Old,
    /// HTTP/1.1: `GET` with `Upgrade: websocket` (§4.2.1).
    Http11,
    /// HTTP/2 (RFC 8441) or HTTP/3 (RFC 9220): extended `CONNECT`.
    Connect,
}

/// The request line's part of a request to check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// The method, e.g. `GET`.
    pub(crate) method: &'a str,
    pub(crate) version: Version,
    /// For an extended CONNECT: whether the request has the `:scheme` and
    /// `:path` pseudo-headers that tell it from a plain CONNECT tunnel
    /// (RFC 8441 §4), and its `:authority`. Unused over HTTP/1.
    pub(crate) has_scheme_and_path: bool,
    pub(crate) authority: Option<&'a [u8]>,
}

/// What a valid opening handshake request offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offers {
    /// `Sec-WebSocket-Key` as sent; `None` over HTTP/2 and HTTP/3, which do
    /// not use it (RFC 8441 §5).
    pub(crate) key: Option<String>,
    /// `Sec-WebSocket-Protocol` entries, in the client's order (§4.1 item 10).
    pub(crate) protocols: Vec<String>,
    /// `Sec-WebSocket-Extensions` entries, in the client's order (§9.1).
    pub(crate) extensions: Vec<String>,
    /// The `Host` (over HTTP/2 `:authority`), for the origin and host
    /// checks.
    pub(crate) host: Vec<u8>,
    /// Every `Origin` line, for the origin check (more than one is refused
    /// there).
    pub(crate) origins: Vec<Vec<u8>>,
}

/// Checks a request (§4.2.1; RFC 8441 §4–5), in the order §4.2.1 lists the
/// requirements, and collects its offers.
pub(crate) fn check<F: Fields + ?Sized>(
    line: Line<'_>,
    fields: &F,
) -> Result<Offers, HandshakeError> {
    let connect = line.version == Version::Connect;
    // §4.2.1 item 1: a GET request (RFC 8441 §4: CONNECT over HTTP/2) ...
    let method = if connect { "CONNECT" } else { "GET" };
    if line.method != method {
        return Err(HandshakeError::MethodNotAllowed);
    }
    // ... of HTTP/1.1 or higher.
    if line.version == Version::Old {
        return Err(HandshakeError::UnsupportedHttpVersion);
    }
    // §4.2.1 item 2: a Host header field (over HTTP/2 `:authority`, RFC 9113
    // §8.3.1). RFC 7230 §5.4: more than one is a bad request.
    if fields.values("Host").count() > 1 {
        return Err(HandshakeError::MalformedHttp);
    }
    let host = match headers::first(fields, "Host") {
        None if connect => line.authority,
        host => host,
    };
    let host = match host {
        Some(host) if !host.is_empty() => host.to_vec(),
        _ => return Err(HandshakeError::MissingHost),
    };
    if connect {
        // RFC 8441 §4: `:protocol` names the protocol, with `:scheme` and
        // `:path`; a CONNECT without them is a tunnel, not a WebSocket.
        if !line.has_scheme_and_path {
            return Err(HandshakeError::MissingUpgrade);
        }
    } else {
        // §4.2.1 item 3: Upgrade with the "websocket" token, any case.
        if !headers::has_token(fields, "Upgrade", "websocket") {
            return Err(HandshakeError::MissingUpgrade);
        }
        // §4.2.1 item 4: Connection with the "Upgrade" token, any case,
        // possibly among others (`keep-alive, Upgrade`).
        if !headers::has_token(fields, "Connection", "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
    }
    // §4.2.1 item 6: Sec-WebSocket-Version 13, else 426 (§4.2.2). Checked
    // before the key so that a client of another version learns ours.
    if headers::single(fields, "Sec-WebSocket-Version") != Some(b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    // §4.2.1 item 5: exactly one Sec-WebSocket-Key, base64 of 16 bytes
    // (RFC 8441 §5: not used over HTTP/2).
    let key = if connect {
        None
    } else {
        let key = headers::single(fields, "Sec-WebSocket-Key")
            .and_then(|key| core::str::from_utf8(key).ok())
            .filter(|key| STANDARD.decode(key).is_ok_and(|nonce| nonce.len() == 16))
            .ok_or(HandshakeError::InvalidKey)?;
        Some(key.to_string())
    };
    // §4.2.1 items 8 and 9: the offered subprotocols and extensions.
    Ok(Offers {
        key,
        protocols: headers::list(fields, "Sec-WebSocket-Protocol")?,
        extensions: headers::list(fields, "Sec-WebSocket-Extensions")?,
        host,
        origins: fields.values("Origin").map(<[u8]>::to_vec).collect(),
    })
}

/// Header fields the success response writes itself.
const RESPONSE_FIELDS: [&str; 6] = [
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Content-Length",
];

/// The answer to a valid request, before it is written: its header fields
/// and what it agrees to.
#[derive(Debug)]
pub(crate) struct Answer<'a> {
    fields: Vec<(&'a str, String)>,
    pub(crate) agreement: Agreement,
}

impl<'a> Answer<'a> {
    /// The header fields, in order: over HTTP/1.1 `Upgrade`, `Connection`
    /// and `Sec-WebSocket-Accept` (§4.2.2 item 5), then the subprotocol,
    /// the extensions and the caller's fields.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
    }
}

impl Offers {
    /// The origin check (§10.2), one implementation for both request types.
    pub(crate) fn check_origin(
        &self,
        policy: &super::OriginPolicy,
        require: bool,
    ) -> Result<(), HandshakeError> {
        let origins: Vec<&[u8]> = self.origins.iter().map(Vec::as_slice).collect();
        policy.check(&origins, Some(&self.host), require)
    }

    /// The `Host` check against the names a server answers for.
    pub(crate) fn check_host<S: AsRef<str>>(&self, names: &[S]) -> Result<(), HandshakeError> {
        super::origin::check_host(Some(&self.host), names)
    }

    /// The first subprotocol in the client's offer that is in `supported`.
    pub(crate) fn select_protocol(&self, supported: &[&str]) -> Option<&str> {
        self.protocols
            .iter()
            .map(String::as_str)
            .find(|offer| supported.contains(offer))
    }

    /// The permessage-deflate parameters to accept under `config`.
    #[cfg(feature = "deflate")]
    pub(crate) fn deflate(
        &self,
        config: &crate::deflate::DeflateConfig,
    ) -> Option<crate::deflate::DeflateParams> {
        super::negotiate(&self.extensions, config)
    }

    /// Checks `options` against the offers and builds the answer.
    ///
    /// `strict` (`agree`) refuses a permessage-deflate entry in
    /// `options.extensions`, whose parameters would not reach the
    /// agreement: it is negotiated from `options.deflate` instead. With
    /// `options.deflate` set such an entry is refused in any case (it would
    /// be a second one).
    pub(crate) fn answer<'o>(
        &self,
        options: &AcceptOptions<'o>,
        strict: bool,
    ) -> Result<Answer<'o>, HandshakeError> {
        // §4.2.2 item 5.5: the subprotocol must be one of the client's.
        if let Some(protocol) = options.protocol
            && !self.protocols.iter().any(|offer| offer == protocol)
        {
            return Err(HandshakeError::UnexpectedProtocol);
        }
        // permessage-deflate entries come from the negotiation alone when
        // there is one (or when `agree` must report them).
        #[cfg(feature = "deflate")]
        let own_deflate = strict || options.deflate.is_some();
        #[cfg(not(feature = "deflate"))]
        let own_deflate = strict;
        // §9.1: the server may only accept extensions the client offered;
        // an item may itself be a list, and every entry in it counts.
        for &item in options.extensions {
            if !headers::is_value(item) {
                return Err(HandshakeError::InvalidHeader);
            }
            for entry in header_list::split_list(item) {
                let name = header_list::extension_name(entry);
                let offered = self
                    .extensions
                    .iter()
                    .any(|offer| header_list::extension_name(offer).eq_ignore_ascii_case(name));
                if !offered {
                    return Err(HandshakeError::UnexpectedExtension);
                }
                if own_deflate && name.eq_ignore_ascii_case("permessage-deflate") {
                    return Err(HandshakeError::InvalidHeader);
                }
            }
        }
        for &(name, value) in options.headers {
            let reserved = RESPONSE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
            if reserved || !header_list::is_token(name) || !headers::is_value(value) {
                return Err(HandshakeError::InvalidHeader);
            }
        }

        let agreement =
            Agreement::new(Role::Server).with_protocol(options.protocol.map(ToOwned::to_owned));
        let mut extensions: Vec<String> = Vec::new();
        #[cfg(feature = "deflate")]
        let agreement = {
            let agreed = options.deflate.and_then(|config| self.deflate(config));
            extensions.extend(agreed.map(|params| params.to_string()));
            agreement.with_deflate(agreed)
        };
        extensions.extend(options.extensions.iter().map(|&entry| entry.to_owned()));

        let mut fields = Vec::with_capacity(5 + options.headers.len());
        // §4.2.2 item 5: Upgrade, Connection, the accept hash (RFC 8441 §5:
        // none of them over HTTP/2, where the 200 says it all).
        if let Some(key) = &self.key {
            fields.push(("Upgrade", "websocket".to_owned()));
            fields.push(("Connection", "Upgrade".to_owned()));
            fields.push(("Sec-WebSocket-Accept", accept_key(key.as_bytes())));
        }
        if let Some(protocol) = options.protocol {
            fields.push(("Sec-WebSocket-Protocol", protocol.to_owned()));
        }
        if !extensions.is_empty() {
            fields.push(("Sec-WebSocket-Extensions", extensions.join(", ")));
        }
        for &(name, value) in options.headers {
            fields.push((name, value.to_owned()));
        }
        Ok(Answer { fields, agreement })
    }
}

/// The header fields of a refusal with `status`: for 426 also
/// `Sec-WebSocket-Version: 13` (§4.2.2) and `Upgrade`; for 405 `Allow`; and
/// over HTTP/1 `Connection: close` (HTTP/2 has no connection-specific
/// fields, RFC 9113 §8.2.2).
pub(crate) fn refusal_fields(status: u16, version: Version) -> Vec<(&'static str, &'static str)> {
    let http1 = version != Version::Connect;
    let mut fields = Vec::with_capacity(4);
    match status {
        426 => {
            // §4.2.2: tell the client which version we speak. RFC 7230
            // §6.7: a sender of Upgrade also lists it in Connection.
            fields.push(("Sec-WebSocket-Version", "13"));
            if http1 {
                fields.push(("Upgrade", "websocket"));
                fields.push(("Connection", "Upgrade, close"));
            }
        }
        405 => {
            // RFC 7231 §6.5.5: a 405 lists the allowed methods.
            fields.push(("Allow", if http1 { "GET" } else { "CONNECT" }));
            if http1 {
                fields.push(("Connection", "close"));
            }
        }
        _ if http1 => fields.push(("Connection", "close")),
        _ => {}
    }
    fields
}
