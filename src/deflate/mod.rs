//! permessage-deflate (RFC 7692): message compression, negotiated in the
//! opening handshake, applied by [`Connection`](crate::Connection).
//!
//! * [`DeflateConfig`] is the policy, part of [`Config`](crate::Config)
//!   (where it is off by default): on or off, no context takeover per
//!   direction, window sizes, level, and a size below which messages go
//!   uncompressed.
//! * Negotiation (§5, §7.1) is part of the handshake: a client sends
//!   [`DeflateConfig::offer`] among its `ClientOptions::extensions`;
//!   [`ClientHandshake::parse_response`](crate::handshake::ClientHandshake::parse_response)
//!   checks the server's answer against the offers and
//!   [`Response::agreement`](crate::handshake::Response::agreement) holds
//!   the agreed [`DeflateParams`]. A server passes its policy in
//!   [`AcceptOptions::deflate`](crate::handshake::AcceptOptions::deflate) to
//!   [`UpgradeRequest::agree`](crate::handshake::UpgradeRequest::agree),
//!   which accepts the first offer it can honour
//!   ([`handshake::negotiate`](crate::handshake::negotiate)), sends its entry
//!   (the `Display` of [`DeflateParams`]) and returns the agreement.
//! * Both sides then build their connection from their agreement
//!   ([`Connection::from_agreement`](crate::Connection::from_agreement)).
//! * The blocking adapter does all of this when the `Config` it gets
//!   enables `deflate`.
//!
//! ```
//! use rfc6455::deflate::DeflateConfig;
//! use rfc6455::handshake::{AcceptOptions, ClientHandshake, ClientOptions, Limits, Parsed, UpgradeRequest};
//! use rfc6455::{Config, Connection};
//!
//! // permessage-deflate on, context takeover, both windows 15 bits.
//! let config = Config::default().deflate(DeflateConfig::default());
//! let options = ClientOptions { extensions: vec![config.deflate.offer()], ..Default::default() };
//! let client_hs = ClientHandshake::new("ws://example.com/", [7; 16], options)?;
//! assert_eq!(config.deflate.offer(), "permessage-deflate; client_max_window_bits");
//! let Ok(Parsed::Complete(request, _)) = UpgradeRequest::parse(client_hs.request(), &Limits::default()) else {
//!     unreachable!()
//! };
//! let accepted = request.agree(&AcceptOptions { deflate: Some(&config.deflate), ..Default::default() })?;
//! assert!(accepted.response.ends_with(b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"));
//! let Parsed::Complete(response, _) = client_hs.parse_response(&accepted.response)? else { unreachable!() };
//! assert_eq!(response.agreement().deflate, accepted.agreement.deflate);
//!
//! let client = Connection::from_agreement(response.agreement(), config.clone());
//! let server = Connection::from_agreement(accepted.agreement, config);
//! assert!(client.deflate().is_some() && client.deflate() == server.deflate());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Memory
//! Nothing is allocated until the first compressed message in a direction
//! (a connection with permessage-deflate agreed holds one 328-byte box).
//! zlib-rs' states are large, as measured by `tests/deflate_memory.rs`: a
//! compressor takes 371 KiB with a 15-bit window and 245 KiB with a 9-bit
//! one (zlib's hash tables are sized for its default memory level, whatever
//! the window), a decompressor 46 KiB. With no context takeover in a
//! direction, that direction's state is lent by a pool shared by the whole
//! process for one message and given back, reset, at its end: an idle
//! connection holds none, and none is allocated or freed per message. The
//! pool holds at most twice as many compressors as CPUs (4 to 64), lent or
//! idle; a message sent while all are lent goes uncompressed (RFC 7692
//! allows any message to), and at most four times as many decompressors are
//! kept idle. With context takeover a connection keeps its own states from
//! its first compressed message to its end (428 KiB at 15-bit windows).
//! A server that wants many cheap connections sets
//! [`DeflateConfig::server_no_context_takeover`] and
//! [`DeflateConfig::client_no_context_takeover`], as the examples do.

use alloc::string::String;
use core::fmt;

use crate::header_list;

/// The extension's name in `Sec-WebSocket-Extensions` (§5).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// How this end uses permessage-deflate: whether it offers or accepts it,
/// with which parameters, and how it compresses. Part of
/// [`Config`](crate::Config) as `config.deflate`.
///
/// The `server_*` fields are about what the server sends (the server
/// compresses, the client decompresses), the `client_*` fields about what
/// the client sends, as in RFC 7692. A server applies them to the offers it
/// accepts; a client puts them in its [`offer`](Self::offer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) permessage-deflate. `true` in
    /// `DeflateConfig::default()`; [`Config::default`](crate::Config) holds
    /// [`DeflateConfig::disabled`].
    pub enabled: bool,
    /// The server starts every message with an empty window
    /// (`server_no_context_takeover`, §7.1.1.1). Worse compression, but the
    /// server's compressor is dropped between messages. Default `false`.
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window
    /// (`client_no_context_takeover`, §7.1.1.2): frees the server's
    /// decompressor between messages. Default `false`.
    pub client_no_context_takeover: bool,
    /// The largest window, in bits (8–15), the server compresses with
    /// (`server_max_window_bits`, §7.1.2.1). Default 15. A smaller window
    /// costs less memory at both ends. At 8 bits nothing is compressed in
    /// that direction (zlib's raw deflate cannot use a 256-byte window), which
    /// the RFC allows: messages may always be sent uncompressed.
    pub server_max_window_bits: u8,
    /// The largest window, in bits (8–15), the client compresses with
    /// (`client_max_window_bits`, §7.1.2.2). Default 15. A server can only
    /// limit a client that offers this parameter.
    pub client_max_window_bits: u8,
    /// The compression level, 0 (none) to 9 (best). Default 6, zlib's default.
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed (RSV1
    /// clear): deflate rarely shrinks a few bytes. Default 16. Fragmented
    /// messages are compressed whatever their first fragment's size.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
            threshold: 16,
        }
    }
}

impl DeflateConfig {
    /// permessage-deflate turned off: nothing offered or accepted.
    pub fn disabled() -> Self {
        DeflateConfig {
            enabled: false,
            ..Self::default()
        }
    }

    /// Sets [`enabled`](Self::enabled).
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Sets both [`server_no_context_takeover`](Self::server_no_context_takeover)
    /// and [`client_no_context_takeover`](Self::client_no_context_takeover):
    /// no compression state is kept between messages.
    pub fn no_context_takeover(mut self, server: bool, client: bool) -> Self {
        self.server_no_context_takeover = server;
        self.client_no_context_takeover = client;
        self
    }

    /// Sets [`server_max_window_bits`](Self::server_max_window_bits) and
    /// [`client_max_window_bits`](Self::client_max_window_bits), each
    /// clamped to 8–15.
    pub fn max_window_bits(mut self, server: u8, client: u8) -> Self {
        self.server_max_window_bits = server.clamp(8, 15);
        self.client_max_window_bits = client.clamp(8, 15);
        self
    }

    /// Sets [`level`](Self::level) (clamped to 0–9).
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Sets [`threshold`](Self::threshold).
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// The client's offer, one `Sec-WebSocket-Extensions` entry, e.g.
    /// `permessage-deflate; client_max_window_bits`. Put it in
    /// `ClientOptions::extensions` (only when [`enabled`](Self::enabled)).
    pub fn offer(&self) -> String {
        let mut out = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            out.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            out.push_str("; client_no_context_takeover");
        }
        let server = self.server_max_window_bits.clamp(8, 15);
        if server < 15 {
            out.push_str(&alloc::format!("; server_max_window_bits={server}"));
        }
        // Always say we support the parameter, so a server may limit us.
        match self.client_max_window_bits.clamp(8, 15) {
            15 => out.push_str("; client_max_window_bits"),
            client => out.push_str(&alloc::format!("; client_max_window_bits={client}")),
        }
        out
    }
}

/// The parameters both ends agreed on (RFC 7692 §7.1): what each direction
/// may do. Its `Display` is the server's response entry, e.g.
/// `permessage-deflate; server_no_context_takeover; client_max_window_bits=10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The largest window (bits) the server compresses with, as the
    /// response states it: `None` when the response leaves the parameter
    /// out, which means 15 ([`server_window_bits`](Self::server_window_bits)
    /// gives the number). A server must state it whenever the client's
    /// offer had it, even at 15 (RFC 7692 §7.1.2.1).
    pub server_max_window_bits: Option<u8>,
    /// The largest window (bits) the client compresses with.
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The largest window (bits) the server compresses with: 8 to 15.
    pub fn server_window_bits(&self) -> u8 {
        self.server_max_window_bits.unwrap_or(15)
    }
}

impl Default for DeflateParams {
    /// No parameters: context takeover both ways, 15-bit windows.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: 15,
        }
    }
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXTENSION_NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={bits}")?;
        }
        if self.client_max_window_bits < 15 {
            write!(
                f,
                "; client_max_window_bits={}",
                self.client_max_window_bits
            )?;
        }
        Ok(())
    }
}

/// Whether any of `extensions` (raw header values, each possibly a list,
/// RFC 6455 §9.1) offers permessage-deflate: the blocking client adds
/// [`DeflateConfig::offer`] only when the caller's options do not.
pub(crate) fn offered(extensions: &[String]) -> bool {
    extensions
        .iter()
        .any(|value| header_list::split_list(value).any(is_deflate))
}

/// Whether a `Sec-WebSocket-Extensions` entry names permessage-deflate
/// (RFC 7692 §5; extension names compare case-insensitively, as tokens).
pub(crate) fn is_deflate(entry: &str) -> bool {
    header_list::extension_name(entry).eq_ignore_ascii_case(EXTENSION_NAME)
}
