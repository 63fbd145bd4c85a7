//! A reference receiver: what a connection must make of a byte stream,
//! computed frame by frame straight from RFC 6455 (§5.2-§5.6, §7.1.5, §8.1),
//! RFC 7692 (§6 RSV1, §7.2.2 decompression, with flate2 directly) and the
//! documented limits (for a compressed message: its decompressed size),
//! without any of the crate's receive code.
//!
//! It is fed the same bytes as the connection and compared with it after
//! every `poll_event` loop: the same events in the same order, and an error
//! exactly when the bytes so far call for one. Where the RFC leaves a choice
//! (which of several broken rules to report; whether a partial header,
//! close payload or compressed payload is judged before it is complete)
//! every right answer passes.

use rfc6455::deflate::DeflateParams;
use rfc6455::{CloseCode, CloseFrame, Event, Lost, Message, ProtocolError, Role};

use crate::deflate::{Inflater, TRAILER, inflate_rules};
use crate::wire::{RawHeader, close_code_valid, ref_decode, unmask};

/// How the stream ends if no more bytes arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A frame broke a rule: the connection must have failed with one of these.
    Fail(Vec<ProtocolError>),
    /// The peer's close frame arrived; everything after it is ignored.
    Closed,
    /// The stream stopped between frames or inside one. At end-of-file the
    /// connection must report [`Lost::TransportEnded`]; either way
    /// it may already have failed with one of `may_fail` (rules a partial
    /// header, close payload or compressed payload already breaks).
    Open { may_fail: Vec<ProtocolError> },
}

/// The message being received.
#[derive(Debug)]
struct Open {
    text: bool,
    /// RSV1 on its first frame (RFC 7692 §6): `data` is what was inflated.
    compressed: bool,
    /// Its payload so far (decompressed, if compressed).
    data: Vec<u8>,
    /// How much of `data` is known to be valid UTF-8 (all but an
    /// incomplete tail).
    valid: usize,
    /// Its frames so far.
    frames: u32,
}

/// The frame whose header was read and accepted, its payload not complete.
#[derive(Debug, Clone, Copy)]
struct Head {
    h: RawHeader,
    /// Payload bytes already inflated (compressed frames are inflated as
    /// they arrive, as a receiver must to bound its memory).
    done: usize,
}

/// The reference receiver.
#[derive(Debug)]
pub struct Reference {
    role: Role,
    max_frame: usize,
    max_message: usize,
    /// `Config::max_frames_per_message`.
    max_frames: u32,
    /// permessage-deflate, when agreed.
    inflater: Option<Inflater>,
    /// Received bytes not yet consumed as whole frames.
    buf: Vec<u8>,
    head: Option<Head>,
    open: Option<Open>,
    /// Rules the compressed payload of the current frame already broke: the
    /// connection may fail with one now, and must once the frame is whole.
    partial_fail: Vec<ProtocolError>,
    /// The events of the whole frames so far.
    pub events: Vec<Event>,
    /// Set once a frame failed or a close arrived.
    end: Option<Ending>,
    /// Messages (or frames between messages) begun: what
    /// `Config::message_timeout` times, one at a time.
    units: u32,
}

impl Reference {
    pub fn new(
        role: Role,
        (max_frame, max_message, max_frames): (usize, usize, u32),
        deflate: Option<DeflateParams>,
    ) -> Self {
        Reference {
            role,
            max_frame,
            max_message,
            max_frames,
            inflater: deflate.map(|p| Inflater::new(role, &p)),
            buf: Vec::new(),
            head: None,
            open: None,
            partial_fail: Vec::new(),
            events: Vec::new(),
            end: None,
            units: 0,
        }
    }

    /// Takes received bytes and consumes every whole frame.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.end.is_some() {
            return;
        }
        let mut buf = core::mem::take(&mut self.buf);
        buf.extend_from_slice(bytes);
        let mut pos = 0;
        while self.end.is_none() {
            match self.frame(&buf[pos..]) {
                Some(n) => pos += n,
                None => break,
            }
        }
        buf.drain(..pos);
        self.buf = buf;
    }

    /// Received bytes not consumed as whole frames yet: the frame in
    /// progress, header included (0 once the stream ended).
    pub fn unconsumed(&self) -> usize {
        if self.end.is_some() {
            0
        } else {
            self.buf.len()
        }
    }

    /// The message (or lone frame) being received, if one is: a frame
    /// whose header was read and whose payload is not complete, or a
    /// message whose last frame has not arrived. Numbered, so that the
    /// next one is told from it.
    pub fn receiving(&self) -> Option<u32> {
        (self.end.is_none() && (self.head.is_some() || self.open.is_some())).then_some(self.units)
    }

    /// Inflates compressed payload bytes into the open message.
    fn inflate(&mut self, input: &[u8]) {
        if !self.partial_fail.is_empty() {
            return; // the stream is broken already
        }
        let (Some(inflater), Some(open)) = (&mut self.inflater, &mut self.open) else {
            unreachable!("a compressed frame without an agreement or a message");
        };
        let valid = open.text.then_some(&mut open.valid);
        self.partial_fail = inflate_rules(inflater, input, &mut open.data, valid, self.max_message);
    }

    /// Consumes the frame at the start of `rest` if it is whole (returns its
    /// length), or settles the ending if it breaks a rule. A compressed
    /// frame's payload is inflated as it arrives.
    fn frame(&mut self, rest: &[u8]) -> Option<usize> {
        if self.head.is_none() {
            let (Some(h), mut broken) = ref_decode(rest) else {
                return None;
            };
            broken.extend(self.header_rules(&h));
            if !broken.is_empty() {
                self.end = Some(Ending::Fail(broken));
                return None;
            }
            if self.open.is_none() {
                self.units = self.units.wrapping_add(1);
            }
            if matches!(h.opcode, 0x1 | 0x2) {
                self.open = Some(Open {
                    text: h.opcode == 0x1,
                    compressed: h.rsv & 0b100 != 0,
                    data: Vec::new(),
                    valid: 0,
                    frames: 1,
                });
            }
            if let (0x0, Some(open)) = (h.opcode, &mut self.open) {
                open.frames += 1;
            }
            self.head = Some(Head { h, done: 0 });
        }
        let Head { h, done } = self.head.expect("set above");
        let len = h.payload_len as usize; // at most max_frame, or 125
        let avail = (rest.len() - h.len).min(len);
        let compressed = !h.is_control() && self.open.as_ref().is_some_and(|o| o.compressed);
        if compressed && avail > done {
            let mut fresh = rest[h.len..h.len + avail].to_vec();
            if let Some(key) = h.mask {
                unmask(&mut fresh, key);
            }
            self.head = Some(Head { h, done: avail });
            self.inflate(&fresh[done..]);
        }
        if avail < len {
            return None;
        }
        self.head = None;
        if !self.partial_fail.is_empty() {
            self.end = Some(Ending::Fail(core::mem::take(&mut self.partial_fail)));
            return None;
        }
        let mut payload = rest[h.len..h.len + len].to_vec();
        if let Some(key) = h.mask {
            unmask(&mut payload, key);
        }
        match h.opcode {
            0x9 => self.events.push(Event::Ping(payload.into())),
            0xA => self.events.push(Event::Pong(payload.into())),
            0x8 => {
                let broken = close_rules(&payload, false);
                if !broken.is_empty() {
                    self.end = Some(Ending::Fail(broken));
                    return None;
                }
                let code = (payload.len() >= 2)
                    .then(|| CloseCode(u16::from_be_bytes([payload[0], payload[1]])));
                let reason =
                    String::from_utf8(payload.get(2..).unwrap_or_default().to_vec()).unwrap();
                self.events.push(Event::Close(CloseFrame { code, reason }));
                self.end = Some(Ending::Closed);
                return None;
            }
            _ if compressed => {
                if h.fin {
                    // §7.2.2: the removed 00 00 ff ff goes back on the end.
                    self.inflate(&TRAILER);
                    let open = self.open.as_ref().expect("a message is open");
                    if open.text && core::str::from_utf8(&open.data).is_err() {
                        self.partial_fail.push(ProtocolError::InvalidUtf8);
                    }
                    if !self.partial_fail.is_empty() {
                        self.end = Some(Ending::Fail(core::mem::take(&mut self.partial_fail)));
                        return None;
                    }
                    if let Some(inflater) = &mut self.inflater {
                        inflater.end_message();
                    }
                    let open = self.open.take().expect("a message is open");
                    self.events
                        .push(Event::Message(message(open.text, open.data)));
                }
            }
            _ => {
                let open = self.open.as_mut().expect("checked by header_rules");
                open.data.extend_from_slice(&payload);
                if open.text {
                    // §8.1: fail as soon as the text can no longer be valid,
                    // and at the end if it stops inside a character.
                    match core::str::from_utf8(&open.data[open.valid..]) {
                        Ok(_) => open.valid = open.data.len(),
                        Err(e) if e.error_len().is_none() && !h.fin => {
                            open.valid += e.valid_up_to()
                        }
                        Err(_) => {
                            self.end = Some(Ending::Fail(vec![ProtocolError::InvalidUtf8]));
                            return None;
                        }
                    }
                }
                if h.fin {
                    let open = self.open.take().expect("open above");
                    self.events
                        .push(Event::Message(message(open.text, open.data)));
                }
            }
        }
        Some(h.len + len)
    }

    /// How the stream ends if nothing more arrives.
    pub fn ending(&self) -> Ending {
        if let Some(end) = &self.end {
            return end.clone();
        }
        let rest = &self.buf[..];
        let Some(Head { h, .. }) = self.head else {
            if rest.is_empty() {
                return Ending::Open {
                    may_fail: Vec::new(),
                };
            }
            // A partial header (a whole one sets `head` or the ending).
            let (_, mut broken) = ref_decode(rest);
            if let [b0, b1, ..] = rest {
                let partial = RawHeader {
                    fin: b0 & 0x80 != 0,
                    rsv: b0 >> 4 & 7,
                    opcode: b0 & 0xF,
                    mask: (b1 & 0x80 != 0).then_some([0; 4]),
                    payload_len: 0,
                    len: 0,
                };
                // What a partial header already shows may be reported early.
                broken.extend(self.header_rules(&partial).into_iter().filter(|e| {
                    !matches!(
                        e,
                        ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. }
                    )
                }));
            }
            return Ending::Open { may_fail: broken };
        };
        if !self.partial_fail.is_empty() {
            return Ending::Open {
                may_fail: self.partial_fail.clone(),
            };
        }
        // A partial payload.
        let mut payload = rest[h.len..].to_vec();
        if let Some(key) = h.mask {
            unmask(&mut payload, key);
        }
        let open = self.open.as_ref().filter(|_| !h.is_control());
        if let Some(open) = open.filter(|o| o.text && !o.compressed) {
            // Text fails as soon as it can no longer be valid, before the
            // frame's end (§8.1; DESIGN.md: "fails as early as the first
            // invalid byte"; Autobahn 6.4).
            let mut tail = open.data[open.valid..].to_vec();
            tail.extend_from_slice(&payload);
            if definitely_invalid(&tail) {
                return Ending::Fail(vec![ProtocolError::InvalidUtf8]);
            }
        }
        // A close payload may be judged early or at its end.
        let may_fail = if h.opcode == 0x8 {
            close_rules(&payload, true)
        } else {
            Vec::new()
        };
        Ending::Open { may_fail }
    }

    /// The rules that need the role, the limits or the open message (§5.1,
    /// §5.2 RSV, §5.4, the configured limits).
    fn header_rules(&self, h: &RawHeader) -> Vec<ProtocolError> {
        let mut broken = Vec::new();
        // §5.2: RSV bits only as an extension defines them; RFC 7692 §6:
        // RSV1 on the first frame of a data message, once agreed.
        let rsv1 = h.rsv & 0b100 != 0;
        if h.rsv & 0b011 != 0 || (rsv1 && self.inflater.is_none()) {
            broken.push(ProtocolError::ReservedBits);
        }
        if rsv1 && (h.is_control() || h.opcode == 0x0) {
            broken.push(ProtocolError::UnexpectedCompression);
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => broken.push(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => broken.push(ProtocolError::MaskedFrame),
            _ => {}
        }
        // Control frames are bounded by §5.5 (125 bytes), not by the limit.
        if !h.is_control() && h.payload_len > self.max_frame as u64 {
            broken.push(ProtocolError::FrameTooLarge {
                len: h.payload_len,
                max: self.max_frame,
            });
        }
        // The documented limit on frames per message (1008).
        let frames = match (h.opcode, &self.open) {
            (0x1 | 0x2, None) => 1,
            (0x0, Some(open)) => open.frames.saturating_add(1),
            _ => 0,
        };
        if frames > self.max_frames {
            broken.push(ProtocolError::TooManyFrames {
                max: self.max_frames,
            });
        }
        let so_far = match (h.opcode, &self.open) {
            (0x0, None) => {
                broken.push(ProtocolError::UnexpectedContinuation);
                None
            }
            (0x1 | 0x2, Some(_)) => {
                broken.push(ProtocolError::ExpectedContinuation);
                None
            }
            // A compressed message is limited by its decompressed size.
            (0x0, Some(open)) if open.compressed => None,
            (0x1 | 0x2, None) if rsv1 => None,
            (0x0, Some(open)) => Some(open.data.len() as u64),
            (0x1 | 0x2, None) => Some(0),
            _ => None,
        };
        if let Some(so_far) = so_far {
            let total = so_far.saturating_add(h.payload_len);
            if total > self.max_message as u64 {
                broken.push(ProtocolError::MessageTooLarge {
                    len: total,
                    max: self.max_message,
                });
            }
        }
        broken
    }
}

fn message(text: bool, data: Vec<u8>) -> Message {
    if text {
        Message::from(String::from_utf8(data).expect("checked as it arrived"))
    } else {
        Message::from(data)
    }
}

/// The rules a close payload breaks (§5.5.1, §7.4). With `partial`, only
/// what the bytes present already show.
fn close_rules(payload: &[u8], partial: bool) -> Vec<ProtocolError> {
    let mut broken = Vec::new();
    match payload {
        [] => {}
        [_] if !partial => broken.push(ProtocolError::InvalidClosePayload),
        [_] => {}
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code_valid(code) {
                broken.push(ProtocolError::InvalidCloseCode(code));
            }
            let bad = if partial {
                definitely_invalid(reason)
            } else {
                core::str::from_utf8(reason).is_err()
            };
            if bad {
                broken.push(ProtocolError::InvalidCloseReason);
            }
        }
    }
    broken
}

/// Whether no continuation can make `bytes` valid UTF-8.
pub fn definitely_invalid(bytes: &[u8]) -> bool {
    core::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_some())
}

/// Checks how a connection ended (so far) against the reference's ending:
/// its protocol error and its [`Event::Lost`]. `eof`: the transport's end
/// was reported (and drained).
pub fn check_ending(ending: &Ending, error: Option<ProtocolError>, lost: Option<Lost>, eof: bool) {
    match (ending, error, lost) {
        (Ending::Fail(allowed), Some(e), None) if allowed.contains(&e) => {}
        (Ending::Closed, None, None) => {}
        // §7.1.5: the transport ended before the close handshake.
        (Ending::Open { .. }, None, Some(Lost::TransportEnded)) if eof => {}
        (Ending::Open { .. }, None, None) if !eof => {}
        // A timer gave up on a silent peer (the driver checks when).
        (Ending::Open { .. }, None, Some(lost)) if lost != Lost::TransportEnded => {}
        (Ending::Open { may_fail }, Some(e), None) if may_fail.contains(&e) => {}
        // A message took longer than `message_timeout` (the driver checks
        // that one was in progress, and when).
        (Ending::Open { .. }, Some(ProtocolError::MessageTimeout), None) => {}
        (ending, error, lost) => {
            panic!(
                "connection ended with {error:?} / {lost:?}, the model with {ending:?} (eof {eof})"
            )
        }
    }
}
