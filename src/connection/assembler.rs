//! Message assembly (RFC 6455 §5.4): data frames joined into messages,
//! with text validated as it arrives.

use alloc::vec::Vec;
use bytes::Bytes;

use super::budget::Charge;
use crate::error::ProtocolError;
use crate::message::{Message, MessageKind};
use crate::utf8_bytes::TextCheck;

/// The message being received, if one is open.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    /// The kind of the open message; `None` between messages.
    kind: Option<MessageKind>,
    /// Payload of the frames completed so far, for fragmented messages.
    parts: Vec<u8>,
    /// Payload bytes of the message seen so far, including the current frame.
    len: u64,
    /// Frames of the open message so far, including the current one.
    frames: u32,
    /// The open text message's validation.
    text: TextCheck,
    /// What this connection holds of the process's memory budget.
    charge: Charge,
    /// Bytes of the frame being received counted against the budget (its
    /// length, for frames over the input high-water mark).
    frame_charge: usize,
    /// The open message is compressed (RSV1 on its first frame, RFC 7692
    /// §6): its decompressed bytes collect in `parts`, `len` counts them.
    compressed: bool,
}

impl Assembler {
    /// An assembler charging `budget` for what it buffers.
    pub(crate) fn with_budget(budget: Option<super::budget::MemoryBudget>) -> Self {
        Assembler {
            charge: Charge::new(budget),
            ..Self::default()
        }
    }

    /// Counts a frame of `bytes` being buffered against the budget (0 when
    /// it is done).
    pub(crate) fn charge_frame(&mut self, bytes: usize) -> Result<(), ProtocolError> {
        self.frame_charge = bytes;
        self.account()
    }

    /// Brings the budget charge up to date with what is held.
    fn account(&mut self) -> Result<(), ProtocolError> {
        self.charge
            .set(self.parts.capacity().saturating_add(self.frame_charge))
    }
}

/// The smallest amount of output space a decompression step gets.
#[cfg(feature = "deflate")]
const INFLATE_STEP: usize = 16 * 1024;

impl Assembler {
    /// Whether a fragmented message is open.
    pub(crate) fn is_open(&self) -> bool {
        self.kind.is_some()
    }

    /// Starts or continues a message for a data frame header; checks
    /// fragment order (§5.4) and the message size limit.
    pub(crate) fn begin_frame(
        &mut self,
        kind: Option<MessageKind>,
        payload_len: u64,
        limits: (usize, u32),
        compressed: bool,
    ) -> Result<(), ProtocolError> {
        let (max_message, max_frames) = limits;
        match (self.kind, kind) {
            // §5.4: a continuation needs an open message ...
            (None, None) => return Err(ProtocolError::UnexpectedContinuation),
            // ... and a new message must wait until the open one is finished.
            (Some(_), Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (None, Some(kind)) => {
                self.kind = Some(kind);
                self.len = 0;
                self.frames = 0;
                self.text.reset();
                self.compressed = compressed;
            }
            (Some(_), None) => {}
        }
        self.frames = self.frames.saturating_add(1);
        if self.frames > max_frames {
            return Err(ProtocolError::TooManyFrames { max: max_frames });
        }
        // A compressed message is limited by its decompressed size, counted
        // as it is inflated.
        if self.compressed {
            return Ok(());
        }
        let len = self.len.saturating_add(payload_len);
        if len > max_message as u64 {
            return Err(ProtocolError::MessageTooLarge {
                len,
                max: max_message,
            });
        }
        self.len = len;
        Ok(())
    }

    /// Whether the open message is compressed.
    pub(crate) fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Decompresses `input` (compressed payload bytes as they arrive) into
    /// the message, in bounded steps: the buffer never grows past
    /// `max_message + 1` bytes, and the connection fails with 1009 as soon
    /// as the message would be larger, without inflating the rest. Text is
    /// validated as it comes out (§8.1, fail fast).
    #[cfg(feature = "deflate")]
    pub(crate) fn inflate(
        &mut self,
        codec: &mut super::deflate::Codec,
        mut input: &[u8],
        max_message: usize,
    ) -> Result<(), ProtocolError> {
        let limit = max_message.saturating_add(1);
        loop {
            let len = self.parts.len();
            if self.parts.capacity() == len {
                let want = self.parts.capacity().max(INFLATE_STEP);
                let cap = len.saturating_add(want).min(limit);
                // The budget first: a bomb is refused before it is inflated.
                self.charge.set(cap.saturating_add(self.frame_charge))?;
                self.parts.reserve_exact(cap.saturating_sub(len).max(1));
            }
            let (used, full) = codec
                .inflate(input, &mut self.parts)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            input = &input[used..];
            if self.parts.len() > max_message {
                return Err(ProtocolError::MessageTooLarge {
                    len: self.parts.len() as u64,
                    max: max_message,
                });
            }
            self.len = self.parts.len() as u64;
            if self.is_text() {
                let fresh = &self.parts[len..];
                self.text
                    .feed(fresh)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            if input.is_empty() && !full {
                return Ok(());
            }
            if used == 0 && self.parts.len() == len && !full {
                return Ok(());
            }
        }
    }

    /// Ends a compressed message: its decompressed bytes are the message.
    #[cfg(feature = "deflate")]
    pub(crate) fn finish_compressed(&mut self) -> Result<Message, ProtocolError> {
        let kind = self.kind.take().unwrap_or(MessageKind::Binary);
        let all = core::mem::take(&mut self.parts);
        self.len = 0;
        let _ = self.account();
        self.compressed = false;
        Ok(match kind {
            MessageKind::Binary => Message::Binary(all.into()),
            // Every byte went through `self.text` as it was inflated.
            MessageKind::Text => Message::Text(
                self.text
                    .finish(all.into())
                    .map_err(|_| ProtocolError::InvalidUtf8)?,
            ),
        })
    }

    /// Whether payload bytes must be validated as they arrive.
    pub(crate) fn is_text(&self) -> bool {
        self.kind == Some(MessageKind::Text)
    }

    /// Validates newly unmasked text bytes, failing at the first bad byte (§8.1).
    pub(crate) fn check_text(&mut self, chunk: &[u8]) -> Result<(), ProtocolError> {
        self.text
            .feed(chunk)
            .map_err(|_| ProtocolError::InvalidUtf8)
    }

    /// Adds a complete frame payload; returns the message when `fin` ends it.
    /// Text that went through [`check_text`](Self::check_text) byte for
    /// byte is not validated again (the text check counts).
    pub(crate) fn finish_frame(
        &mut self,
        payload: Bytes,
        fin: bool,
    ) -> Result<Option<Message>, ProtocolError> {
        if !fin {
            let needed = self.parts.len().saturating_add(payload.len());
            self.charge.set(needed.saturating_add(self.frame_charge))?;
            self.parts.reserve(payload.len());
            self.parts.extend_from_slice(&payload);
            self.account()?;
            return Ok(None);
        }
        let kind = self.kind.take().unwrap_or(MessageKind::Binary);
        let message = match kind {
            MessageKind::Binary if self.parts.is_empty() => Message::Binary(payload),
            MessageKind::Binary => {
                let mut all = core::mem::take(&mut self.parts);
                all.extend_from_slice(&payload);
                Message::Binary(all.into())
            }
            MessageKind::Text => {
                let all = if self.parts.is_empty() {
                    payload
                } else {
                    let mut all = core::mem::take(&mut self.parts);
                    all.extend_from_slice(&payload);
                    Bytes::from(all)
                };
                // Streamed frames went through `check_text` as they were
                // unmasked; a whole single-frame message is validated now.
                let text = self
                    .text
                    .finish(all)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                Message::Text(text)
            }
        };
        self.len = 0;
        let _ = self.account();
        Ok(Some(message))
    }

    /// Drops any open message (after a close or a failure).
    pub(crate) fn clear(&mut self) {
        let charge = core::mem::take(&mut self.charge);
        *self = Self {
            charge,
            ..Self::default()
        };
        let _ = self.account();
    }
}
