//! The receive path: bytes in (bounded), frames decoded, unmasked,
//! validated and assembled, events out.

use bytes::{Bytes, BytesMut};

use super::{Connection, InFrame, Input};
use crate::agreement::Role;
use crate::close::CloseFrame;
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use crate::message::{Event, Message, MessageKind};

/// Payloads up to this size are copied out of the read buffer; larger ones
/// are split off it without a copy. A split-off `Bytes` keeps the whole read
/// allocation alive, so an application that stores many small messages would
/// otherwise pin a read buffer for each.
const COPY_BELOW: usize = 4096;

/// Drop the read buffer's allocation when it drains empty and is larger than this.
const KEEP_READ_CAPACITY: usize = 16 * 1024;

/// Frames from this size on are read up to their end and no further (see
/// [`Connection::read_len`]).
const LARGE_FRAME: usize = 8 * 1024;

impl Connection {
    // ---- input -------------------------------------------------------

    /// Hands the connection bytes read from the transport; returns how many
    /// it took. It takes at most [`input_room`](Self::input_room) bytes
    /// (see [`Config::input_high_water`](crate::Config::input_high_water)):
    /// keep the rest, drain [`poll_event`](Self::poll_event), and offer it
    /// again. After the connection closed, input is taken and discarded
    /// while it waits for the peer to end the transport.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        self.commit_received(0);
        let n = bytes.len().min(self.input_room());
        if n == 0 {
            return 0;
        }
        self.timers.heard();
        if self.is_closed() {
            self.timers.drained += n;
        } else {
            self.read_buf.extend(&bytes[..n]);
        }
        n
    }

    /// Lends up to `len` bytes at the end of the read buffer to read into
    /// directly (saving the copy [`receive`](Self::receive) makes): at most
    /// [`input_room`](Self::input_room), so the slice is empty when the
    /// connection takes no input now (check [`wants_read`](Self::wants_read)
    /// first: a read into an empty slice returns 0, which is not
    /// end-of-file). Confirm how many bytes were filled with
    /// [`commit_received`](Self::commit_received). The lent bytes' contents
    /// are unspecified (space lent before and not filled is lent again as
    /// it is, not zeroed again).
    pub fn receive_buffer(&mut self, len: usize) -> &mut [u8] {
        self.commit_received(0);
        let len = len.min(self.input_room());
        if self.is_closed() {
            self.read_buf.clear();
        }
        self.read_buf.lend(len)
    }

    /// Confirms that the first `n` bytes of the last
    /// [`receive_buffer`](Self::receive_buffer) were filled.
    /// Committing more than was lent commits what was lent.
    pub fn commit_received(&mut self, n: usize) {
        // Only what was lent counts (fuzz K4: an over-commit restarted the
        // silence clock and spent the lingering close's discard budget).
        let n = self.read_buf.commit(n);
        if n > 0 {
            self.timers.heard();
        }
        if self.is_closed() {
            self.timers.drained += n;
            self.read_buf.clear();
        }
    }

    /// How many bytes to read next, given the read size `len` the caller
    /// would use: at most `len` and [`input_room`](Self::input_room), and
    /// no further than the end of a frame of 8 KiB or more
    /// whose header has arrived. 0 when the connection takes no input now,
    /// or when such a frame is complete in the buffer: take its event with
    /// [`poll_event`](Self::poll_event) first (as the call order does).
    ///
    /// A large frame's payload is handed out without a copy, taking its
    /// part of the read buffer's allocation with it. Bytes of the next
    /// frame read into the same allocation would then be copied into a new
    /// one at the next read; read up to the frame's end, the buffer is
    /// empty afterwards and the next read starts a fresh allocation. With
    /// [`lend_receive_buffer`](Self::lend_receive_buffer), which reserves
    /// room for a frame header beyond what it lends into an empty buffer, a frame of a
    /// power-of-two payload read in reads of that size ends in the
    /// allocation it started in: no copy of its payload at all.
    pub fn read_len(&self, len: usize) -> usize {
        let len = len.min(self.input_room());
        let buffered = self.read_buf.len();
        let frame_end = match &self.frame {
            Some(frame) => Some(frame.len),
            None => match FrameHeader::decode(self.read_buf.data()) {
                Ok(Some((header, n))) => usize::try_from(header.payload_len)
                    .ok()
                    .map(|len| len.saturating_add(n)),
                _ => None,
            },
        };
        match frame_end {
            Some(end) if end >= LARGE_FRAME => len.min(end.saturating_sub(buffered)),
            _ => len,
        }
    }

    /// Keeps the read buffer of a bulk read for the next one, or not (the
    /// default). For loops that lend again right after they drain the
    /// events, as a blocking read does (the blocking adapter turns it on):
    /// a [`receive_buffer`](Self::receive_buffer) of 8 KiB or more into an
    /// empty buffer then reuses the memory the last one lent, once the
    /// application has dropped the payloads handed out of it, instead of
    /// allocating and zeroing a new buffer for every large message.
    ///
    /// The cost: the kept buffer (at most 64 KiB + 14 bytes) stays
    /// allocated between reads, until a read of less than 8 KiB frees it.
    /// A loop that blocks in a read with a lent buffer holds that memory
    /// anyway; an event loop with many idle connections should leave this
    /// off, so that a drained buffer is freed at once.
    pub fn keep_read_buffer(&mut self, keep: bool) {
        self.read_buf.keep_bulk(keep);
    }

    /// Lends an owned buffer to read into, for event loops whose reads
    /// outlive a borrow of the connection (an async read awaits while the
    /// connection keeps sending): an empty `BytesMut` with room for at
    /// least `min(len, input_room())` bytes, split off the connection's own
    /// read buffer so that giving it back with
    /// [`receive_owned`](Self::receive_owned) copies nothing when it is
    /// still contiguous. Read at most `len` bytes into it (for example with
    /// `BufMut::limit`), or fewer than [`input_room`](Self::input_room).
    pub fn lend_receive_buffer(&mut self, len: usize) -> BytesMut {
        self.commit_received(0);
        let len = len.min(self.input_room());
        // A read into an empty buffer starts a frame: room for its header
        // besides (see `read_len`); later reads of the frame fill that room.
        let room = if self.read_buf.len() == 0 {
            len + MAX_HEADER_LEN
        } else {
            len
        };
        self.read_buf.lend_owned(room)
    }

    /// Takes the bytes read into `buf` (a buffer from
    /// [`lend_receive_buffer`](Self::lend_receive_buffer), or any other):
    /// without a copy when `buf` continues the read buffer. Returns how many
    /// bytes were taken: all of them, since a lent buffer is bounded by the
    /// room it was lent with; bytes beyond [`input_room`](Self::input_room)
    /// are taken too but leave no room for more until polled.
    pub fn receive_owned(&mut self, buf: BytesMut) -> usize {
        self.commit_received(0);
        let n = buf.len();
        if n == 0 {
            return 0;
        }
        self.timers.heard();
        if self.is_closed() || self.eof {
            self.timers.drained += n;
        } else {
            self.read_buf.unsplit(buf);
        }
        n
    }

    /// The transport reached end-of-file: no more bytes will arrive. Hand
    /// over every byte read before it first (after it, input is refused);
    /// the connection then reports the end ([`Event::Lost`] unless the
    /// close handshake was done).
    pub fn receive_eof(&mut self) {
        self.commit_received(0);
        self.eof = true;
    }

    /// Whether the transport reported end-of-file.
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    // ---- events ------------------------------------------------------

    /// The next event from the bytes received so far, or `Ok(None)` when
    /// more bytes are needed (or the connection is closed and its ending
    /// was reported).
    ///
    /// A protocol violation by the peer is returned once as `Err`; the close
    /// frame with its code is already queued and the state is
    /// [`State::Closed`](crate::State::Closed). The end of the connection without a completed
    /// close handshake (end-of-file, a timeout) is reported once as
    /// [`Event::Lost`]. After either, only flush [`output`](Self::output)
    /// and tear the transport down (see the call order on [`Connection`]).
    pub fn poll_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        self.commit_received(0);
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        if let Some(lost) = self.lost.filter(|_| !self.lost_reported) {
            self.lost_reported = true;
            return Ok(Some(Event::Lost(lost)));
        }
        match self.next_event() {
            Ok(Some(event)) => Ok(Some(event)),
            Ok(None) => {
                self.read_buf.release_if_drained(KEEP_READ_CAPACITY);
                if self.eof && !self.is_closed() {
                    // §7.1.5: the transport closed before the close handshake.
                    self.transition(Input::Eof);
                    self.lost_reported = true;
                    return Ok(self.lost.map(Event::Lost));
                }
                Ok(None)
            }
            Err(err) => {
                self.transition(Input::Fail(err.close_code()));
                Err(err)
            }
        }
    }

    fn next_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        loop {
            if self.is_closed() {
                return Ok(None);
            }
            let frame = match &mut self.frame {
                Some(frame) => frame,
                None => {
                    let Some((header, n)) = FrameHeader::decode(self.read_buf.data())? else {
                        return Ok(None);
                    };
                    self.read_buf.advance(n);
                    let frame = self.begin_frame(header)?;
                    self.frame.insert(frame)
                }
            };
            let available = self.read_buf.len().min(frame.len);
            if available > frame.done {
                let fresh = &mut self.read_buf.data_mut()[frame.done..available];
                if let Some(key) = frame.header.mask {
                    apply_mask(fresh, key, frame.done);
                }
                if frame.compressed {
                    #[cfg(feature = "deflate")]
                    if let Some(codec) = &mut self.deflate {
                        self.assembler
                            .inflate(codec, fresh, self.config.max_message_size)?;
                    }
                } else if frame.streamed {
                    self.assembler.check_text(fresh)?;
                }
                frame.done = available;
            }
            if frame.done < frame.len {
                return Ok(None);
            }
            let frame = self.frame.take().expect("frame is set above");
            // Giving a charge back cannot fail.
            let _ = self.assembler.charge_frame(0);
            if frame.compressed {
                // Already inflated as it arrived.
                self.read_buf.advance(frame.len);
                if let Some(message) = self.finish_compressed(frame.header.fin)? {
                    return Ok(Some(Event::Message(message)));
                }
                continue;
            }
            let payload = if self.read_buf.copies(frame.len, COPY_BELOW) {
                let payload = Bytes::copy_from_slice(&self.read_buf.data()[..frame.len]);
                self.read_buf.advance(frame.len);
                payload
            } else {
                self.read_buf.split_to(frame.len)
            };
            let event = match frame.header.opcode {
                OpCode::Ping => {
                    // §5.5.2: a pong with the ping's payload, "unless it already
                    // received a Close frame" (our own close does not stop it).
                    if self.config.auto_pong {
                        self.output.push_frame(
                            OpCode::Pong,
                            true,
                            &payload,
                            self.masks.as_deref_mut(),
                        );
                        self.output.mark_reply();
                    }
                    Some(Event::Ping(payload))
                }
                OpCode::Pong => Some(Event::Pong(payload)),
                OpCode::Close => {
                    let close = CloseFrame::parse(&payload)?;
                    self.assembler.clear();
                    self.transition(Input::ReceiveClose(close.code));
                    self.peer_close = Some(close.clone());
                    Some(Event::Close(close))
                }
                OpCode::Text | OpCode::Binary | OpCode::Continuation => self
                    .assembler
                    .finish_frame(payload, frame.header.fin)?
                    .map(Event::Message),
            };
            if event.is_some() {
                return Ok(event);
            }
        }
    }

    /// The end of a compressed frame: at the end of the message, inflates
    /// the removed `00 00 ff ff` (RFC 7692 §7.2.2) and hands out the message.
    #[cfg(feature = "deflate")]
    fn finish_compressed(&mut self, fin: bool) -> Result<Option<Message>, ProtocolError> {
        if !fin {
            return Ok(None);
        }
        let Some(codec) = &mut self.deflate else {
            return Ok(None);
        };
        self.assembler.inflate(
            codec,
            &super::deflate::TRAILER,
            self.config.max_message_size,
        )?;
        codec.end_received();
        self.assembler.finish_compressed().map(Some)
    }

    #[cfg(not(feature = "deflate"))]
    fn finish_compressed(&mut self, _fin: bool) -> Result<Option<Message>, ProtocolError> {
        Ok(None)
    }

    /// Checks a new frame header against the role, the extensions and the limits.
    fn begin_frame(&mut self, header: FrameHeader) -> Result<InFrame, ProtocolError> {
        if !self.assembler.is_open() {
            self.message_seq = self.message_seq.wrapping_add(1);
        }
        // §5.2: RSV bits must be 0 unless an extension defines them; RFC 7692
        // defines RSV1 once permessage-deflate is negotiated.
        let rsv1 = header.rsv & 0b100 != 0;
        if header.rsv & 0b011 != 0 || (rsv1 && !self.deflate_on()) {
            return Err(ProtocolError::ReservedBits);
        }
        // RFC 7692 §6: RSV1 marks a message's first frame only, never a
        // control frame or a continuation.
        if rsv1 && (header.opcode.is_control() || header.opcode == OpCode::Continuation) {
            return Err(ProtocolError::UnexpectedCompression);
        }
        // §5.1: a server must fail on an unmasked frame, a client on a masked one.
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // Control frames are at most 125 bytes (checked on decode), whatever the limit.
        if !header.opcode.is_control() && header.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                len: header.payload_len,
                max: self.config.max_frame_size,
            });
        }
        // Fits in usize: at most max_frame_size, or 125 for a control frame.
        let len = header.payload_len as usize;
        let kind = match header.opcode {
            OpCode::Text => Some(MessageKind::Text),
            OpCode::Binary => Some(MessageKind::Binary),
            OpCode::Continuation => None,
            _ => {
                return Ok(InFrame {
                    header,
                    len,
                    done: 0,
                    streamed: false,
                    compressed: false,
                });
            }
        };
        let first_of_message = !self.assembler.is_open();
        let limits = (
            self.config.max_message_size,
            self.config.max_frames_per_message,
        );
        self.assembler
            .begin_frame(kind, header.payload_len, limits, rsv1)?;
        let compressed = self.assembler.is_compressed();
        // A large frame is buffered whole: it counts against the process's
        // budget from its header on.
        if len > self.config.input_high_water {
            self.assembler.charge_frame(len)?;
        }
        // A whole single-frame text message already in the buffer is checked
        // once at the end; anything else is checked as it arrives, so a bad
        // byte fails the connection before the rest is sent (§8.1).
        let whole = first_of_message && header.fin && self.read_buf.len() >= len;
        Ok(InFrame {
            header,
            len,
            done: 0,
            streamed: self.assembler.is_text() && !whole && !compressed,
            compressed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn receive_takes_no_more_than_the_high_water_mark_beyond_the_frame() {
        let config = Config::default().input_high_water(1024);
        let mut conn = Connection::new(Role::Server, config);
        // Ten thousand calls without polling: the buffer stays bounded.
        let mut taken = 0;
        for _ in 0..10_000 {
            taken += conn.receive(&[0x82; 100]);
        }
        assert_eq!(taken, 1024, "only the high-water mark is taken unpolled");
        assert!(!conn.wants_read());
        assert_eq!(conn.receive_buffer(100).len(), 0);
        let _ = conn.poll_event();
    }

    #[test]
    fn lent_owned_buffer_comes_back_without_a_copy() {
        use bytes::BufMut;
        let mut conn = Connection::new(Role::Server, Config::default());
        let mut buf = conn.lend_receive_buffer(64);
        assert!(buf.capacity() >= 64);
        // A masked "hi" text frame, written as a read would.
        buf.put_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
        let ptr = buf.as_ptr();
        assert_eq!(conn.receive_owned(buf), 8);
        assert_eq!(conn.read_buf.data().as_ptr(), ptr, "adopted, not copied");
        assert_eq!(
            conn.poll_event(),
            Ok(Some(Event::Message(Message::text("hi"))))
        );
    }
}
