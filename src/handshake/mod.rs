//! The opening handshake (RFC 6455 §4), both roles, sans-IO.
//!
//! The handshake is an HTTP/1.1 upgrade (through `http` types also an HTTP/2
//! extended CONNECT, RFC 8441). Neither side does any I/O here: the
//! caller reads bytes into a buffer and hands the whole buffer to a `parse`
//! function after every read, until it answers [`Parsed::Complete`]; it then
//! writes the bytes this module builds.
//!
//! **Server**: [`UpgradeRequest::parse`] (or [`Request::parse`] followed by
//! [`UpgradeRequest::validate`], to route plain HTTP requests elsewhere first),
//! then [`UpgradeRequest::agree`] for the `101` response and the
//! [`Agreement`] to build the connection from
//! ([`UpgradeRequest::accept`] for the response alone), or
//! [`Rejection::response`] for the `4xx` answer when validation failed.
//! With the `http` feature, `HttpUpgrade` does the same for a request
//! another HTTP stack has parsed (hyper, axum, ...), with the same rules,
//! and answers with an `http::Response`.
//!
//! ```
//! use rfc6455::handshake::{Limits, Parsed, UpgradeRequest};
//!
//! let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n";
//! let reply = match UpgradeRequest::parse(buf, &Limits::default()) {
//!     Ok(Parsed::Complete(upgrade, consumed)) => {
//!         // Bytes after `consumed` are already WebSocket frames: keep them.
//!         assert_eq!(consumed, buf.len());
//!         upgrade.accept(None).unwrap()
//!     }
//!     Ok(Parsed::Partial) => return, // read more bytes, then parse again
//!     Err(rejection) => rejection.response(),
//! };
//! assert!(reply.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! ```
//!
//! **Client**: [`ClientHandshake::new`] (or `with_random_key` with the `std`
//! feature), write [`ClientHandshake::request`], then feed the answer to
//! [`ClientHandshake::parse_response`]; its [`Response::agreement`] is what
//! the client's connection is built from.
//!
//! **Who may connect**: before accepting, a server checks the page the
//! request comes from with [`UpgradeRequest::check_origin`] and an
//! [`OriginPolicy`] (403 otherwise: cross-site WebSocket hijacking, §10.2),
//! and the name it is addressed to with [`UpgradeRequest::check_host`]
//! (421 otherwise: DNS rebinding).
//!
//! permessage-deflate (RFC 7692, feature `deflate`) is negotiated here too
//! (`negotiate`, `AcceptOptions::deflate`, `Response::deflate`); its policy
//! and parameter types are in the `deflate` module.

mod client;
mod headers;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "deflate")]
mod negotiate;
mod origin;
mod server;
mod validate;

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

#[cfg(feature = "http")]
pub use self::http::HttpUpgrade;
pub use client::{ClientHandshake, ClientOptions, Response, Uri};
pub use headers::{Header, http_response};
#[cfg(feature = "deflate")]
pub use negotiate::negotiate;
pub use origin::OriginPolicy;
pub use server::{AcceptOptions, Rejection, Request, UpgradeRequest};

use crate::agreement::Agreement;

/// The GUID appended to the client's key before hashing (§1.3, §4.2.2).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`:
/// base64(SHA-1(key ++ [`GUID`])) (§4.2.2 item 5.4).
///
/// `key` is the header value exactly as sent (the base64 text, not the
/// decoded bytes).
///
/// ```
/// assert_eq!(
///     rfc6455::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    STANDARD.encode(sha1.finalize())
}

/// An accepted opening handshake, for the server: the response to send and
/// what it agrees to (RFC 6455 §4.2.2; RFC 7692 §7.1 for
/// permessage-deflate).
///
/// `R` is the response: the bytes of the `101` head from
/// [`UpgradeRequest::agree`], or (feature `http`) an `http::Response<()>`
/// from `HttpUpgrade::agree`. Send it, then build the connection from the
/// agreement ([`Connection::from_agreement`](crate::Connection::from_agreement)):
/// the role and the negotiated parameters then cannot disagree with what
/// was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accepted<R = Vec<u8>> {
    /// The response to send.
    pub response: R,
    /// The role ([`Role::Server`](crate::Role::Server)), the subprotocol
    /// selected and the permessage-deflate parameters accepted.
    pub agreement: Agreement,
}

/// The outcome of parsing a buffer that may not hold a whole HTTP head yet.
///
/// Partial input is a normal answer, not an error: read more bytes, append
/// them to the same buffer and parse again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head is not complete yet.
    Partial,
    /// The head is complete: the value, and the number of bytes it took
    /// (request or status line, header fields and the empty line ending them).
    /// Any bytes after these belong to the WebSocket stream: the caller keeps
    /// them and hands them to the connection.
    Complete(T, usize),
}

/// Bounds on an HTTP head, so that a peer cannot make us buffer or parse
/// without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest head accepted, in bytes, counting the request or status
    /// line, every header field and the final empty line. Default 8192: a
    /// browser's handshake takes well under 1 KiB, even with cookies, and
    /// 8 KiB is the limit common HTTP servers apply too (nginx's header
    /// buffer, Apache's `LimitRequestFieldSize`). A longer head is refused
    /// with 431 as soon as the buffer reaches this size.
    pub max_header_bytes: usize,
    /// The largest number of header fields accepted. Default 64: a browser
    /// sends about 15, and the parser needs one slot (a few dozen bytes) per
    /// field, allocated for each parse attempt. More fields are refused with
    /// 431.
    pub max_headers: usize,
    /// How long the whole opening handshake may take, enforced by the
    /// adapters (this module does no I/O): on a server the whole request
    /// head must arrive in this time, on a client the whole exchange
    /// (request written, response head read). Default 10 s.
    ///
    /// A deadline, not a per-read timeout: a peer that sends one byte every
    /// 100 ms (slowloris) is cut off all the same. A browser sends its head
    /// in one packet; 10 s leaves room for a slow mobile link while bounding
    /// what silent peers can hold. `None`: no deadline.
    pub timeout: Option<core::time::Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 8192,
            max_headers: 64,
            timeout: Some(core::time::Duration::from_secs(10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_sample() {
        // §1.3: the worked example.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
