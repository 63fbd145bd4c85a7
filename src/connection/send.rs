//! The send path: messages, fragments and control frames queued as
//! encoded frames (masked for a client, compressed where agreed).

use super::output::SHARE_FROM;
use super::{Connection, Input, State};
use crate::close::{self, CloseCode};
use crate::error::UsageError;
use crate::frame::OpCode;
use crate::message::{Message, MessageKind};

impl Connection {
    // ---- sending -----------------------------------------------------

    /// Queues a whole message as one frame.
    ///
    /// A server sending a large message (8 KiB or more, uncompressed) does
    /// not copy it: the frame's payload is shared with the message's
    /// `Bytes` and becomes a [chunk of the output](Self::output) of its
    /// own, written with the header by one vectored write. A received
    /// message echoed back this way is never copied at all.
    pub fn send(&mut self, message: &Message) -> Result<(), UsageError> {
        let (kind, bytes) = match message {
            Message::Text(text) => (MessageKind::Text, text.as_bytes()),
            Message::Binary(data) => (MessageKind::Binary, &data[..]),
        };
        let share = bytes.len() >= SHARE_FROM && self.masks.is_none() && !self.deflate_on();
        if !share {
            return self.send_whole(kind, bytes);
        }
        let shared = match message {
            Message::Text(text) => text.clone().into_bytes(),
            Message::Binary(data) => data.clone(),
        };
        if self.sending.is_some() {
            return Err(UsageError::FragmentOrder);
        }
        if self.state != State::Open {
            return Err(UsageError::Closed);
        }
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        self.output.push_shared_frame(opcode, true, &shared);
        Ok(())
    }

    /// Queues a text message as one frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.send_whole(MessageKind::Text, text.as_bytes())
    }

    /// Queues a binary message as one frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.send_whole(MessageKind::Binary, data)
    }

    fn send_whole(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), UsageError> {
        // §5.4: a new message may not start inside a fragmented one.
        if self.sending.is_some() {
            return Err(UsageError::FragmentOrder);
        }
        self.send_data(kind, data, true)
    }

    /// Queues one fragment of a text message (§5.4): the first call starts
    /// the message, later calls continue it, and `fin` ends it. Each
    /// fragment is a `&str`, so every fragment ends on a character boundary.
    /// Control frames and pongs may be sent between fragments.
    pub fn send_text_fragment(&mut self, text: &str, fin: bool) -> Result<(), UsageError> {
        self.send_data(MessageKind::Text, text.as_bytes(), fin)
    }

    /// Queues one fragment of a binary message; see
    /// [`send_text_fragment`](Self::send_text_fragment).
    pub fn send_binary_fragment(&mut self, data: &[u8], fin: bool) -> Result<(), UsageError> {
        self.send_data(MessageKind::Binary, data, fin)
    }

    fn send_data(&mut self, kind: MessageKind, data: &[u8], fin: bool) -> Result<(), UsageError> {
        // §5.5.1: no data frames after our close frame.
        if self.state != State::Open {
            return Err(UsageError::Closed);
        }
        let opcode = match self.sending {
            None if kind == MessageKind::Text => OpCode::Text,
            None => OpCode::Binary,
            Some(open) if open == kind => OpCode::Continuation,
            // §5.4: fragments of one message are not interleaved with another.
            Some(_) => return Err(UsageError::FragmentOrder),
        };
        self.sending = if fin { None } else { Some(kind) };
        #[cfg(feature = "deflate")]
        if let Some(codec) = &mut self.deflate {
            let first = opcode != OpCode::Continuation;
            if codec.begin_send(first, data.len(), fin) {
                // RFC 7692 §6: RSV1 on the first frame of the message only.
                let compressed = codec.compress(data, fin);
                let rsv = if first { 0b100 } else { 0 };
                self.output.push_data_frame(
                    opcode,
                    fin,
                    rsv,
                    &compressed,
                    self.masks.as_deref_mut(),
                );
                return Ok(());
            }
        }
        self.output
            .push_frame(opcode, fin, data, self.masks.as_deref_mut());
        Ok(())
    }

    /// Queues a ping (payload at most 125 bytes, §5.5).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues a pong: an answer to a ping when automatic pongs are off, or
    /// an unsolicited heartbeat (§5.5.3). Payload at most 125 bytes.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), UsageError> {
        // A pong may still answer a ping while our close is out (§5.5.2).
        let open = match self.state {
            State::Open => true,
            State::LocalClosing => opcode == OpCode::Pong,
            State::Closed { .. } => false,
        };
        if !open {
            return Err(UsageError::Closed);
        }
        // §5.5: control frame payloads are at most 125 bytes.
        if payload.len() > 125 {
            return Err(UsageError::ControlPayloadTooLong);
        }
        self.output
            .push_frame(opcode, true, payload, self.masks.as_deref_mut());
        Ok(())
    }

    /// Starts the close handshake (§7.1.2): queues a close frame with `code`
    /// and `reason` (UTF-8, at most 123 bytes). Messages may still arrive
    /// until the peer's close does; nothing more may be sent.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), UsageError> {
        let mut payload = [0u8; 125];
        let len = close::encode_payload(Some(code), reason, &mut payload)?;
        if self.state != State::Open {
            return Err(UsageError::Closed);
        }
        self.output.push_frame(
            OpCode::Close,
            true,
            &payload[..len],
            self.masks.as_deref_mut(),
        );
        self.transition(Input::SendClose);
        Ok(())
    }
}
