//! [`PreparedMessage`]: a message framed once (and compressed once where
//! the recipients' parameters allow it), for sending to many connections.

use bytes::Bytes;

use super::Connection;
use super::output::SHARE_FROM;
use crate::agreement::Role;
use crate::error::UsageError;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use crate::message::{Message, MessageKind};

/// A message framed once, for a broadcast: the header and payload of the
/// frame a server sends, as one shared [`Bytes`], so that queueing it on a
/// connection ([`Connection::send_prepared`]) copies nothing large and
/// encodes nothing again (server frames are unmasked, §5.1, so every
/// recipient gets the same bytes).
///
/// **Compressed once** ([`with_deflate`](Self::with_deflate)): the message
/// is also compressed with the given policy's server window and level. A
/// recipient whose permessage-deflate has *no server context takeover*
/// with that same window and level would compress the message to exactly
/// these bytes (each of its messages starts from an empty window), so it
/// gets them as they are. A recipient with context takeover compresses for
/// itself (its window holds its own history); one without compression, or
/// a message under the threshold, gets the plain frame. A client
/// connection masks every frame with its own keys, so it encodes the
/// message itself.
///
/// ```
/// use bytes::Buf;
/// use rfc6455::{Config, Connection, Message, PreparedMessage, Role};
///
/// let prepared = PreparedMessage::new(Message::text("to everyone"));
/// let mut a = Connection::new(Role::Server, Config::default());
/// let mut b = Connection::new(Role::Server, Config::default());
/// a.send_prepared(&prepared)?;
/// b.send_prepared(&prepared)?;
/// assert_eq!(a.output().take_all(), b.output().take_all());
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    message: Message,
    /// The uncompressed frame: header and payload.
    plain: Bytes,
    /// The compressed frame (RSV1) and the compressor key it was made with.
    #[cfg(feature = "deflate")]
    compressed: Option<(super::deflate::CompressKey, Bytes)>,
}

fn frame(kind: MessageKind, rsv: u8, payload: &[u8]) -> Bytes {
    let opcode = match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    };
    let header = FrameHeader {
        fin: true,
        rsv,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = alloc::vec::Vec::with_capacity(n + payload.len());
    out.extend_from_slice(&head[..n]);
    out.extend_from_slice(payload);
    Bytes::from(out)
}

impl PreparedMessage {
    /// Frames `message` once, uncompressed.
    pub fn new(message: impl Into<Message>) -> Self {
        let message = message.into();
        let plain = frame(message.kind(), 0, message.as_bytes());
        PreparedMessage {
            message,
            plain,
            #[cfg(feature = "deflate")]
            compressed: None,
        }
    }

    /// Frames `message` once uncompressed and, if `deflate` is enabled with
    /// a server window of 9 to 15 bits and the message is at least its
    /// threshold, once compressed with that window and level (see the type's
    /// docs for who gets which). The compressor is borrowed from the
    /// process-wide pool; when all of its compressors are lent, the message
    /// is prepared uncompressed only.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(
        message: impl Into<Message>,
        deflate: &crate::deflate::DeflateConfig,
    ) -> Self {
        let mut prepared = Self::new(message);
        let bits = deflate.server_max_window_bits.clamp(8, 15);
        let len = prepared.message.len();
        if deflate.enabled && bits >= 9 && len >= deflate.threshold {
            let key = (bits, deflate.level.min(9));
            prepared.compressed = super::deflate::compress_once(key, prepared.message.as_bytes())
                // RFC 7692 §6: RSV1 on the (first and only) frame.
                .map(|payload| (key, frame(prepared.message.kind(), 0b100, &payload)));
        }
        prepared
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Whether a compressed form was prepared.
    pub fn is_compressed(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.compressed.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }
}

impl Connection {
    /// Queues a [`PreparedMessage`]: its frame as it is (shared, not copied,
    /// when it is large) on a server connection, compressed or not as the
    /// connection's permessage-deflate parameters decide (see
    /// [`PreparedMessage`]); a client encodes and masks the message itself,
    /// as [`send`](Self::send) does.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), UsageError> {
        if self.sending.is_some() {
            return Err(UsageError::FragmentOrder);
        }
        if self.state != super::State::Open {
            return Err(UsageError::Closed);
        }
        if self.role == Role::Client {
            return self.send(&prepared.message);
        }
        #[cfg(feature = "deflate")]
        if let Some(codec) = &self.deflate {
            if let Some((key, compressed)) = &prepared.compressed
                && codec.shared_key() == Some(*key)
            {
                self.push_encoded(compressed);
                return Ok(());
            }
            if codec.would_compress(prepared.message.len()) {
                // Context takeover, another window or level, or not prepared
                // compressed: this connection compresses for itself.
                return self.send(&prepared.message);
            }
        }
        // Borrowed, not cloned: a clone of the shared frame is an atomic
        // increment and decrement per recipient, and the first one turns the
        // frame's buffer into a shared one with an allocation.
        self.push_encoded(&prepared.plain);
        Ok(())
    }

    /// Queues a whole encoded frame: shared when large, copied when small
    /// (a copy of a few hundred bytes costs less than a chunk of its own).
    fn push_encoded(&mut self, frame: &Bytes) {
        if frame.len() >= SHARE_FROM {
            self.output.push_encoded_chunk(frame);
        } else {
            self.output.push_encoded_copy(frame);
        }
    }
}
