//! What a connection hands out: messages and events.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::close::CloseFrame;
pub use crate::utf8_bytes::Utf8Bytes;

/// A complete data message (RFC 6455 §5.6), reassembled from its fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: valid UTF-8 (checked, §8.1), in a [`Utf8Bytes`]
    /// that shares the received buffer (no copy, no second validation).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message from anything that converts to [`Utf8Bytes`]
    /// (`&str`, `String`, `&'static str` via [`Utf8Bytes::from_static`]).
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message from anything that converts to [`Bytes`]
    /// (`Vec<u8>`, `&'static [u8]`, `Bytes`).
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message::Binary(data.into())
    }

    /// The payload as [`Bytes`], without a copy (text as its UTF-8 bytes).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Message::Text(s) => s.into_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The kind of message.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s.as_str()),
            Message::Binary(_) => None,
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<Utf8Bytes> for Message {
    fn from(s: Utf8Bytes) -> Self {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Self {
        Message::Binary(Bytes::copy_from_slice(b))
    }
}

/// Text or binary: the type of a data message (§5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Binary data (opcode 0x2).
    Binary,
}

/// Something the peer sent, returned by
/// [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete text or binary message.
    Message(Message),
    /// A ping. Unless automatic pongs are off, the pong is already queued.
    Ping(Bytes),
    /// A pong (an answer to our ping, or an unsolicited heartbeat, §5.5.3).
    Pong(Bytes),
    /// The peer's close frame. If we had not sent a close frame yet, the
    /// reply with the same code is already queued (§5.5.1).
    Close(CloseFrame),
    /// The connection ended without a completed close handshake: reported
    /// once, as the last event. Applications report it with close code 1006
    /// ([`Lost::code`], §7.1.5), which is never sent on the wire.
    Lost(Lost),
}

/// Why a connection ended without a completed close handshake
/// ([`Event::Lost`]). Not the peer breaking the protocol (that is a
/// [`ProtocolError`](crate::ProtocolError)): the transport ended, or a timer
/// of [`Config`](crate::Config) gave up on the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lost {
    /// The transport reached end-of-file before the close handshake
    /// finished, possibly in the middle of a frame (§7.1.5, "abnormal
    /// closure").
    TransportEnded,
    /// The peer sent nothing at all, not even the pong to our keepalive
    /// ping, within [`Keepalive::timeout`](crate::Keepalive::timeout).
    KeepaliveTimeout,
    /// The peer did not answer our close frame within
    /// [`Config::close_timeout`](crate::Config::close_timeout).
    CloseTimeout,
    /// Our output waited with nothing written for
    /// [`Config::write_timeout`](crate::Config::write_timeout): the peer
    /// stopped reading.
    WriteTimeout,
}

impl Lost {
    /// The close code to report for it: 1006, "closed abnormally" (§7.1.5).
    pub fn code(self) -> crate::CloseCode {
        crate::CloseCode::ABNORMAL
    }
}

impl core::fmt::Display for Lost {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Lost::TransportEnded => "the transport ended before the close handshake",
            Lost::KeepaliveTimeout => "keepalive timeout: the peer sent nothing, not even a pong",
            Lost::CloseTimeout => "the peer did not answer the close frame in time",
            Lost::WriteTimeout => "write timeout: the peer stopped reading",
        })
    }
}
