//! Errors, split by who is at fault.
//!
//! * [`ProtocolError`]: the **peer** broke RFC 6455. Each one carries the
//!   close code that was sent back ([`ProtocolError::close_code`]); by the time
//!   the caller sees it, the close frame is already queued in the connection's
//!   outgoing buffer.
//! * [`UsageError`]: the **caller** misused the API (sending after close, a
//!   control payload over 125 bytes, a close code one may not send, ...).
//!   Nothing was queued and the connection state did not change.
//! * [`HandshakeError`]: the opening handshake failed, on either side.
//!
//! All three are small and `Copy`.

use crate::close_code::CloseCode;

/// The peer violated the protocol. The connection is failed (RFC 6455 §7.1.7):
/// a close frame with [`close_code`](Self::close_code) is already queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV1, RSV2 or RSV3 set while no extension was negotiated (§5.2).
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// RSV1 (permessage-deflate's "compressed" bit) on a control frame or on
    /// a continuation frame (RFC 7692 §6: it marks only a message's first frame).
    #[error("RSV1 set on a control or continuation frame")]
    UnexpectedCompression,
    /// A compressed message is not a valid deflate stream (RFC 7692 §7.2.2),
    /// or uses a window larger than the one agreed.
    #[error("invalid compressed data")]
    InvalidCompressedData,
    /// An opcode reserved for future use: 0x3-0x7 or 0xB-0xF (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame whose payload is longer than 125 bytes (§5.5).
    #[error("control frame payload longer than 125 bytes")]
    ControlFrameTooLong,
    /// A control frame with FIN = 0 (§5.5: control frames must not be fragmented).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A client sent an unmasked frame (§5.1).
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// A server sent a masked frame (§5.1).
    #[error("masked frame from a server")]
    MaskedFrame,
    /// A 64-bit payload length with its most significant bit set (§5.2).
    #[error("64-bit payload length with the most significant bit set")]
    InvalidLength,
    /// A payload length not written in its minimal form (§5.2: "the minimal
    /// number of bytes MUST be used to encode the length").
    #[error("payload length not in its minimal encoding")]
    NonMinimalLength,
    /// A continuation frame arrived with no fragmented message open (§5.4).
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was open (§5.4).
    #[error("new data frame while a fragmented message is still open")]
    ExpectedContinuation,
    /// A text message (or a close reason) is not valid UTF-8 (§8.1).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A close frame with a one-byte payload (§5.5.1).
    #[error("close frame payload of one byte")]
    InvalidClosePayload,
    /// A close frame with a code that may not appear on the wire (§7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close frame whose reason is not valid UTF-8 (§5.5.1).
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// A frame announced a payload larger than the configured frame limit.
    #[error("frame payload of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The length the frame header announced.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message grew beyond the configured message limit.
    #[error("message of at least {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The message length reached (so far).
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A fragmented message arrived in more frames than
    /// [`Config::max_frames_per_message`](crate::Config::max_frames_per_message):
    /// a stream of empty continuation frames would otherwise keep a
    /// connection busy forever without ever finishing a message. Answered
    /// with 1008 (policy violation, §7.4.1): nothing in the RFC limits it.
    #[error("message in more than {max} frames")]
    TooManyFrames {
        /// The configured limit.
        max: u32,
    },
    /// Buffering this connection's message would exceed the
    /// [`MemoryBudget`](crate::MemoryBudget) its connections share: the
    /// process holds too many unfinished messages. Answered with 1013
    /// (try again later).
    #[error("the process's budget of {limit} buffered message bytes is spent")]
    OverBudget {
        /// The budget's limit.
        limit: usize,
    },
    /// A message started and did not finish within
    /// [`Config::message_timeout`](crate::Config::message_timeout).
    /// Answered with 1008 (policy violation).
    #[error("a message took longer than the message timeout")]
    MessageTimeout,
}

impl ProtocolError {
    /// The close code this error is answered with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            // §7.4.1: 1007 for data inconsistent with the message type.
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            // §7.4.1: 1009 for a message too big to process.
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::TooManyFrames { .. } | ProtocolError::MessageTimeout => {
                CloseCode::POLICY_VIOLATION
            }
            ProtocolError::OverBudget { .. } => CloseCode::TRY_AGAIN_LATER,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// The caller misused the API. Nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The connection is closing or closed: no more data may be sent (§5.5.1).
    #[error("the connection is closing or closed")]
    Closed,
    /// A ping, pong or close payload longer than 125 bytes (§5.5).
    #[error("control frame payload longer than 125 bytes")]
    ControlPayloadTooLong,
    /// A close code that an endpoint may not send (§7.4: 1005, 1006, 1015, ...).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// A continuation was sent with no fragmented message open, or a new
    /// message was started while a fragmented one was open (§5.4).
    #[error("fragment sent out of order")]
    FragmentOrder,
}

/// Why an opening handshake (RFC 6455 §4) failed.
///
/// On the server side every variant maps to an HTTP status
/// ([`HandshakeError::status`]) with which the request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The bytes are not a well-formed HTTP/1.1 message.
    #[error("malformed HTTP message")]
    MalformedHttp,
    /// The header block exceeded the configured byte limit.
    #[error("HTTP header block exceeds the configured limit")]
    HeadersTooLarge,
    /// More header fields than the configured limit.
    #[error("too many HTTP header fields")]
    TooManyHeaders,
    /// The request method is not GET (§4.1).
    #[error("request method is not GET")]
    MethodNotAllowed,
    /// The HTTP version is older than 1.1 (§4.1).
    #[error("HTTP version is older than 1.1")]
    UnsupportedHttpVersion,
    /// The request has no `Host` header (§4.1).
    #[error("missing Host header")]
    MissingHost,
    /// No `Upgrade: websocket` header (§4.1, §4.2.1).
    #[error("missing or wrong Upgrade header")]
    MissingUpgrade,
    /// The `Connection` header has no `upgrade` token (§4.1, §4.2.1).
    #[error("Connection header lacks the upgrade token")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13 (§4.2.2).
    #[error("unsupported or missing Sec-WebSocket-Version")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing, repeated, or does not decode to 16 bytes (§4.2.1).
    #[error("missing or invalid Sec-WebSocket-Key")]
    InvalidKey,
    /// The application refused the request (e.g. an `Origin` it does not
    /// trust, §10.2, or missing credentials): answered with 403.
    #[error("forbidden")]
    Forbidden,
    /// The request's `Origin` is not one the server's
    /// [`OriginPolicy`](crate::handshake::OriginPolicy) allows (§10.2: a
    /// page from another site, i.e. cross-site WebSocket hijacking):
    /// answered with 403 before any upgrade.
    #[error("origin not allowed")]
    ForbiddenOrigin,
    /// The request's `Host` is not a name the server answers for
    /// ([`UpgradeRequest::check_host`](crate::handshake::UpgradeRequest::check_host)):
    /// answered with 421 Misdirected Request (RFC 9110 §15.5.20: this
    /// server will not produce an authoritative answer for that name),
    /// which is what a DNS-rebinding page gets.
    #[error("host not served here")]
    MisdirectedHost,
    /// The URI given to the client is not a `ws://` or `wss://` URI (§3).
    #[error("invalid WebSocket URI")]
    InvalidUri,
    /// The server answered with a status other than 101 (§4.1).
    #[error("server answered with HTTP status {0} instead of 101")]
    UnexpectedStatus(u16),
    /// `Sec-WebSocket-Accept` is missing or wrong (§4.1).
    #[error("missing or wrong Sec-WebSocket-Accept")]
    InvalidAccept,
    /// The server selected a subprotocol the client did not offer (§4.1).
    #[error("server selected a subprotocol that was not offered")]
    UnexpectedProtocol,
    /// The server's `permessage-deflate` response is malformed or does not
    /// answer any of the client's offers (RFC 7692 §5, §7.1), or is given twice.
    #[error("invalid permessage-deflate response")]
    InvalidExtensionResponse,
    /// The server selected an extension the client did not offer (§4.1).
    #[error("server selected an extension that was not offered")]
    UnexpectedExtension,
    /// A header, subprotocol or extension supplied by the caller cannot be
    /// sent: a name that is not an HTTP token, a value containing CR, LF or
    /// another control character (which would let it inject header lines), a
    /// subprotocol that is not a unique token (§4.1), or a header the
    /// handshake writes itself (§4.1, §4.2.2).
    #[error("invalid header supplied for the handshake")]
    InvalidHeader,
    /// The operating system's random number generator failed, so no
    /// `Sec-WebSocket-Key` nonce could be chosen (§4.1: it must be randomly
    /// selected).
    #[error("the system random number generator failed")]
    RandomnessUnavailable,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::HeadersTooLarge | HandshakeError::TooManyHeaders => 431,
            HandshakeError::MethodNotAllowed => 405,
            HandshakeError::Forbidden | HandshakeError::ForbiddenOrigin => 403,
            HandshakeError::MisdirectedHost => 421,
            // §4.2.2: "426 Upgrade Required" with the versions we speak.
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::UnsupportedHttpVersion => 505,
            _ => 400,
        }
    }
}
