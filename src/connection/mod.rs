//! The connection state machine (RFC 6455 §5–§7), after the handshake.
//!
//! See [`Connection`] for the order in which to call its methods.

mod assembler;
mod outbox;
mod readbuf;

use bytes::Bytes;

use crate::close::{self, CloseCode, CloseFrame};
use crate::error::{ProtocolError, UsageError};
use crate::frame::{FrameHeader, OpCode, apply_mask};
use crate::message::{Event, Message, MessageKind};
use assembler::Assembler;
use outbox::{MaskKeys, Outbox, SHARE_FROM};
use readbuf::ReadBuf;

/// Which end of the connection this is. It decides masking (§5.1): a client
/// masks every frame it sends, a server never does, and each rejects frames
/// masked the wrong way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection; masks what it sends.
    Client,
    /// The end that accepted the connection.
    Server,
}

/// Limits and behaviour of a [`Connection`]. Every default is chosen to be
/// safe on a server open to the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted, in bytes. Default 16 MiB.
    ///
    /// Checked on the frame header, before any payload is buffered: a frame
    /// announcing more fails the connection with 1009 at once. A frame is
    /// buffered whole before it is handed on, so this bounds the read buffer.
    pub max_frame_size: usize,
    /// The largest message accepted, in bytes, summed over its fragments.
    /// Default 64 MiB. Exceeding it fails the connection with 1009 as soon
    /// as a frame header shows the sum would be too large.
    pub max_message_size: usize,
    /// Answer every ping with a pong automatically (§5.5.2). Default `true`.
    /// Turn off to answer pings yourself with [`Connection::pong`].
    pub auto_pong: bool,
    /// permessage-deflate (RFC 7692) policy: offered or accepted in the
    /// handshake, applied once [`Connection::with_deflate`] gives the agreed
    /// parameters. Default: [`DeflateConfig::disabled`](crate::deflate::DeflateConfig::disabled),
    /// so that nothing changes on the wire unless asked; turn it on with
    /// `Config::default().deflate(DeflateConfig::default())`. With
    /// compression, [`max_message_size`](Self::max_message_size) limits the
    /// *decompressed* size.
    #[cfg(feature = "deflate")]
    pub deflate: crate::deflate::DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            #[cfg(feature = "deflate")]
            deflate: crate::deflate::DeflateConfig::disabled(),
        }
    }
}

impl Config {
    /// Sets [`max_frame_size`](Self::max_frame_size).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`auto_pong`](Self::auto_pong).
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`deflate`](Self::deflate).
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, deflate: crate::deflate::DeflateConfig) -> Self {
        self.deflate = deflate;
        self
    }
}

/// Who started the close (§7.1.2 vs §7.1.3), or failed the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This end: it sent the first close frame, or failed the connection.
    Local,
    /// The peer: it sent the first close frame, or the transport ended.
    Remote,
}

/// Where a connection is in its life (§4–§7). Every transition between
/// these happens in one place, `Connection::transition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's. Messages still arrive;
    /// no data frames may be sent (§5.5.1), but pings are still answered (§5.5.2).
    LocalClosing,
    /// Terminal. A peer's close is answered in the same step it is received
    /// (the reply is queued), so "the peer closed and we have not answered"
    /// is never observable.
    Closed {
        /// Both close frames were exchanged (§7.1.4: "the WebSocket closing
        /// handshake is completed"). `false` after a protocol error or a
        /// transport that ended first.
        clean: bool,
        /// Who started it.
        initiator: Initiator,
    },
}

/// What can move a connection from one [`State`] to another.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// The application calls `close` (its frame is queued by the caller).
    SendClose,
    /// The peer's close frame arrived, with this code.
    ReceiveClose(Option<CloseCode>),
    /// The peer broke the protocol: fail with this code (§7.1.7).
    Fail(CloseCode),
    /// The transport reached end-of-file.
    Eof,
}

/// A frame whose header has been read and whose payload is arriving.
#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    len: usize,
    /// Payload bytes at the front of the read buffer already unmasked (and,
    /// for text, validated).
    done: usize,
    /// Text payload checked as it arrives (fail fast), rather than once at the end.
    streamed: bool,
    /// Part of a compressed message: inflated as it arrives.
    compressed: bool,
}

/// A WebSocket connection, after the opening handshake: a sans-IO state
/// machine that turns received bytes into [`Event`]s and the messages you
/// send into bytes. It never reads a socket or a clock.
///
/// # Call order
/// 1. **Input**: hand it the bytes read from the transport with
///    [`receive`](Self::receive) (or read straight into
///    [`receive_buffer`](Self::receive_buffer) and confirm with
///    [`commit_received`](Self::commit_received)); at end-of-file call
///    [`receive_eof`](Self::receive_eof).
/// 2. **Events**: call [`poll_event`](Self::poll_event) until it returns
///    `Ok(None)`. An `Err` is returned once; the close frame for it is
///    already queued.
/// 3. **Send**: [`send`](Self::send), [`send_text`](Self::send_text),
///    [`send_binary`](Self::send_binary), fragments, [`ping`](Self::ping),
///    [`close`](Self::close) only queue bytes.
/// 4. **Output**: write [`pending`](Self::pending) to the transport and
///    report how much went with [`advance`](Self::advance). Do this after
///    every `poll_event` loop too: automatic pongs and close replies are
///    queued there.
/// 5. **Teardown**: once [`may_close_transport`](Self::may_close_transport)
///    is true, close the TCP connection.
///
/// ```
/// use rfc6455::{Connection, Role, Config, Event, Message};
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// // A masked text frame "Hello" (RFC 6455 §5.7).
/// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// let event = server.poll_event().unwrap();
/// assert_eq!(event, Some(Event::Message(Message::Text("Hello".into()))));
/// server.send_text("Hello").unwrap();
/// assert_eq!(server.pending(), &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    read_buf: ReadBuf,
    frame: Option<InFrame>,
    assembler: Assembler,
    outbox: Outbox,
    masks: Option<alloc::boxed::Box<MaskKeys>>,
    /// The kind of the fragmented message we are sending, if one is open.
    sending: Option<MessageKind>,
    eof: bool,
    /// The peer's close frame, once received.
    peer_close: Option<CloseFrame>,
    /// permessage-deflate, once negotiated. Boxed: a connection without it
    /// pays one pointer.
    #[cfg(feature = "deflate")]
    deflate: Option<alloc::boxed::Box<crate::deflate::Codec>>,
}

/// Payloads up to this size are copied out of the read buffer; larger ones
/// are split off it without a copy. A split-off `Bytes` keeps the whole read
/// allocation alive, so an application that stores many small messages would
/// otherwise pin a read buffer for each.
const COPY_BELOW: usize = 4096;

/// Drop the read buffer's allocation when it drains empty and is larger than this.
const KEEP_READ_CAPACITY: usize = 16 * 1024;

#[cfg(feature = "std")]
fn os_random(buf: &mut [u8]) {
    // §5.3: masking keys must be unpredictable; the OS CSPRNG provides that.
    getrandom::fill(buf).expect("the operating system's random source failed");
}

impl Connection {
    /// A connection in the given role. A client draws masking keys from the
    /// operating system's random source.
    #[cfg(feature = "std")]
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_mask_source(role, config, os_random)
    }

    /// A connection whose client masking keys come from `fill`, which must
    /// fill its buffer with unpredictable bytes (§5.3; §10.3 explains why
    /// predictable keys let a script poison proxies). For `no_std` targets,
    /// or for tests that need reproducible output. A server never calls it.
    pub fn with_mask_source(role: Role, config: Config, fill: fn(&mut [u8])) -> Self {
        Connection {
            role,
            config,
            state: State::Open,
            read_buf: ReadBuf::default(),
            frame: None,
            assembler: Assembler::default(),
            outbox: Outbox::default(),
            masks: (role == Role::Client).then(|| alloc::boxed::Box::new(MaskKeys::new(fill))),
            sending: None,
            eof: false,
            peer_close: None,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Turns permessage-deflate on with the parameters agreed in the
    /// handshake ([`Response::deflate`](crate::handshake::Response::deflate)
    /// for a client, [`UpgradeRequest::deflate`](crate::handshake::UpgradeRequest::deflate)
    /// for a server); `None` leaves it off. Call it before any byte is
    /// received or sent. No compression state is allocated until the first
    /// compressed message.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, params: Option<crate::deflate::DeflateParams>) -> Self {
        self.deflate = params.map(|params| {
            let codec = crate::deflate::Codec::new(self.role, params, &self.config.deflate);
            alloc::boxed::Box::new(codec)
        });
        self
    }

    /// The permessage-deflate parameters in force, if it was negotiated.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::deflate::DeflateParams> {
        self.deflate.as_ref().map(|codec| codec.params())
    }

    /// Whether compressor and decompressor state is allocated right now
    /// (compressor, decompressor). Both `false` until the first compressed
    /// message, and after every message with no context takeover.
    #[cfg(feature = "deflate")]
    pub fn deflate_state(&self) -> (bool, bool) {
        self.deflate
            .as_ref()
            .map_or((false, false), |codec| codec.states())
    }

    #[cfg(feature = "deflate")]
    fn deflate_on(&self) -> bool {
        self.deflate.is_some()
    }

    #[cfg(not(feature = "deflate"))]
    fn deflate_on(&self) -> bool {
        false
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The peer's close frame, once it has arrived.
    pub fn peer_close(&self) -> Option<&CloseFrame> {
        self.peer_close.as_ref()
    }

    // ---- input -------------------------------------------------------

    /// Hands the connection bytes read from the transport. Call
    /// [`poll_event`](Self::poll_event) until it returns `Ok(None)` before
    /// receiving more, so the buffer holds at most one frame.
    /// Bytes arriving after the connection closed are dropped.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.commit_received(0);
        if !matches!(self.state, State::Closed { .. }) {
            self.read_buf.extend(bytes);
        }
    }

    /// Lends `len` bytes at the end of the read buffer to read into directly
    /// (saving the copy [`receive`](Self::receive) makes). Confirm how many
    /// were filled with [`commit_received`](Self::commit_received). The
    /// lent bytes' contents are unspecified (space lent before and not
    /// filled is lent again as it is, not zeroed again).
    pub fn receive_buffer(&mut self, len: usize) -> &mut [u8] {
        self.commit_received(0);
        self.read_buf.lend(len)
    }

    /// Confirms that the first `n` bytes of the last
    /// [`receive_buffer`](Self::receive_buffer) were filled.
    pub fn commit_received(&mut self, n: usize) {
        self.read_buf.commit(n);
        if matches!(self.state, State::Closed { .. }) {
            self.read_buf.clear();
        }
    }

    /// The transport reached end-of-file: no more bytes will arrive.
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
    /// more bytes are needed (or the connection is closed).
    ///
    /// A protocol violation by the peer is returned once as `Err`; the close
    /// frame with its code is already queued and the state is
    /// [`State::Closed`]. After that, only flush [`pending`](Self::pending)
    /// and close the transport.
    pub fn poll_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        self.commit_received(0);
        match self.next_event() {
            Ok(Some(event)) => Ok(Some(event)),
            Ok(None) => {
                self.read_buf.release_if_drained(KEEP_READ_CAPACITY);
                if self.eof && !matches!(self.state, State::Closed { .. }) {
                    // §7.1.5: the transport closed before the close handshake.
                    self.transition(Input::Eof);
                    return Err(ProtocolError::AbnormalClosure);
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
            if matches!(self.state, State::Closed { .. }) {
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
            if frame.compressed {
                // Already inflated as it arrived.
                self.read_buf.advance(frame.len);
                if let Some(message) = self.finish_compressed(frame.header.fin)? {
                    return Ok(Some(Event::Message(message)));
                }
                continue;
            }
            let payload = if frame.len <= COPY_BELOW {
                let payload = Bytes::copy_from_slice(&self.read_buf.data()[..frame.len]);
                self.read_buf.advance(frame.len);
                payload
            } else {
                self.read_buf.split_to(frame.len).freeze()
            };
            let event = match frame.header.opcode {
                OpCode::Ping => {
                    // §5.5.2: a pong with the ping's payload, "unless it already
                    // received a Close frame" (our own close does not stop it).
                    if self.config.auto_pong {
                        self.outbox.push_frame(
                            OpCode::Pong,
                            true,
                            &payload,
                            self.masks.as_deref_mut(),
                        );
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
                    .finish_frame(payload, frame.header.fin, frame.streamed)?
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
            &crate::deflate::TRAILER,
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
        self.assembler
            .begin_frame(kind, header.payload_len, self.config.max_message_size, rsv1)?;
        let compressed = self.assembler.is_compressed();
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

    // ---- sending -----------------------------------------------------

    /// Queues a whole message as one frame.
    ///
    /// A server sending a large message (8 KiB or more, uncompressed) does
    /// not copy it: the frame's payload is shared with the message's
    /// `Bytes` and becomes a [pending chunk](Self::pending_chunks) of its
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
        self.outbox.push_shared_frame(opcode, true, &shared);
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
                self.outbox.push_data_frame(
                    opcode,
                    fin,
                    rsv,
                    &compressed,
                    self.masks.as_deref_mut(),
                );
                return Ok(());
            }
        }
        self.outbox
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
        self.outbox
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
        self.outbox.push_frame(
            OpCode::Close,
            true,
            &payload[..len],
            self.masks.as_deref_mut(),
        );
        self.transition(Input::SendClose);
        Ok(())
    }

    // ---- output ------------------------------------------------------

    /// The next bytes waiting to be written to the transport: the first
    /// [chunk](Self::pending_chunks) of the pending output. Usually that is
    /// all of it; after a large [`send`](Self::send) the shared payload is
    /// a chunk of its own. Write, [`advance`](Self::advance), and repeat
    /// until it is empty.
    pub fn pending(&self) -> &[u8] {
        self.outbox.pending()
    }

    /// All pending output as a sequence of chunks, in order, none empty:
    /// for a vectored write (`std::io::Write::write_vectored`), then
    /// [`advance`](Self::advance) by what it wrote.
    pub fn pending_chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.outbox.chunks()
    }

    /// How many bytes are waiting to be written, over all chunks.
    pub fn pending_len(&self) -> usize {
        self.outbox.len()
    }

    /// Reports that the first `n` pending bytes were written (they may span
    /// several [chunks](Self::pending_chunks)).
    pub fn advance(&mut self, n: usize) {
        self.outbox.advance(n);
    }

    /// Whether the transport may be closed now: the connection is closed and
    /// everything queued was written. A server closes the TCP connection
    /// first (§7.1.1); a client waits for the server to (this returns true
    /// for a client only once end-of-file was seen or the connection failed),
    /// with a timeout of its choosing.
    pub fn may_close_transport(&self) -> bool {
        let State::Closed { clean, .. } = self.state else {
            return false;
        };
        self.pending_len() == 0 && (self.role == Role::Server || self.eof || !clean)
    }

    // ---- the state machine ---------------------------------------------

    /// Queues the close frame the state machine sends on its own: an echo
    /// of the peer's code, or the code of a failure. Both codes are valid on
    /// the wire (the peer's was checked on parse, ours are 1002/1007/1009),
    /// so the payload always encodes.
    fn queue_close_without_reason(&mut self, code: Option<CloseCode>) {
        let mut payload = [0u8; 125];
        let len = close::encode_payload(code, "", &mut payload).unwrap_or(0);
        self.outbox.push_frame(
            OpCode::Close,
            true,
            &payload[..len],
            self.masks.as_deref_mut(),
        );
    }

    /// Every state change happens here, together with the frames it queues.
    fn transition(&mut self, input: Input) {
        use Initiator::{Local, Remote};
        self.state = match (self.state, input) {
            (State::Open, Input::SendClose) => State::LocalClosing,
            (State::Open, Input::ReceiveClose(code)) => {
                // §5.5.1: answer with a close frame, echoing the code.
                self.queue_close_without_reason(code);
                State::Closed {
                    clean: true,
                    initiator: Remote,
                }
            }
            (State::LocalClosing, Input::ReceiveClose(_)) => State::Closed {
                clean: true,
                initiator: Local,
            },
            (State::Open, Input::Fail(code)) => {
                // §7.1.7: fail the connection, telling the peer why.
                self.queue_close_without_reason(Some(code));
                State::Closed {
                    clean: false,
                    initiator: Local,
                }
            }
            // Our close is already out: no second one (§5.5.1).
            (State::LocalClosing, Input::Fail(_)) => State::Closed {
                clean: false,
                initiator: Local,
            },
            (State::Open | State::LocalClosing, Input::Eof) => State::Closed {
                clean: false,
                initiator: Remote,
            },
            // Callers check the state first; anything else changes nothing.
            (state @ State::LocalClosing, Input::SendClose) => state,
            (state @ State::Closed { .. }, _) => state,
        };
        if let State::Closed { .. } = self.state {
            self.frame = None;
            self.assembler.clear();
            self.read_buf.clear();
            self.sending = None;
            // No more messages either way: free the compression state.
            #[cfg(feature = "deflate")]
            if let Some(codec) = &mut self.deflate {
                codec.release();
            }
        }
    }
}
