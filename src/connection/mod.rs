//! The connection state machine (RFC 6455 §5–§7), after the handshake.
//!
//! See [`Connection`] for the order in which to call its methods. This file
//! holds the state and its one `transition`; the receive path is in
//! `receive.rs`, the send path in `send.rs`, time and teardown in
//! `timers.rs`.

mod assembler;
mod budget;
mod config;
#[cfg(feature = "deflate")]
mod deflate;
mod output;
mod prepared;
mod readbuf;
mod receive;
mod send;
mod timers;

use alloc::boxed::Box;

use crate::agreement::{Agreement, Role};
use crate::close::{self, CloseCode, CloseFrame};
use crate::frame::{FrameHeader, OpCode};
use crate::message::{Lost, MessageKind};
use assembler::Assembler;
pub use budget::MemoryBudget;
pub use config::{Config, Keepalive};
use output::MaskKeys;
pub use output::Output;
pub use prepared::PreparedMessage;
use readbuf::ReadBuf;
use timers::Timers;

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
        /// handshake is completed"). `false` after a protocol error, a
        /// transport that ended first, or a timeout.
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
    /// A timer gave up on the peer: close with 1001 if still open, and let
    /// the transport go at once.
    Abandon(Lost),
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
/// machine that turns received bytes into [`Event`](crate::Event)s and the
/// messages you send into bytes. It never reads a socket or a clock.
///
/// # Call order
/// Modeled on quinn-proto: inputs, then mutators, then polls.
/// 1. **Input**: while [`wants_read`](Self::wants_read), read from the
///    transport and hand the bytes over with [`receive`](Self::receive)
///    (it takes what fits and says how many; keep the rest for after step
///    2), or read straight into [`receive_buffer`](Self::receive_buffer) /
///    [`lend_receive_buffer`](Self::lend_receive_buffer), reading
///    [`read_len`](Self::read_len) bytes (no further than a large frame's
///    end, so its payload is handed out without a copy). A loop that lends
///    again right after it drained the events (a blocking read) turns on
///    [`keep_read_buffer`](Self::keep_read_buffer), so that bulk reads reuse
///    one buffer instead of zeroing a new one each time. At end-of-file call
///    [`receive_eof`](Self::receive_eof).
/// 2. **Time**: call [`handle_timeout`](Self::handle_timeout) with the
///    current time after every read and whenever the deadline of
///    [`poll_timeout`](Self::poll_timeout) is reached.
/// 3. **Events**: call [`poll_event`](Self::poll_event) until it returns
///    `Ok(None)`. A protocol error is returned once as `Err` (its close
///    frame is already queued); the end of the connection without a close
///    handshake is [`Event::Lost`](crate::Event::Lost).
/// 4. **Send**: [`send`](Self::send), [`send_text`](Self::send_text),
///    [`send_binary`](Self::send_binary), fragments, [`ping`](Self::ping),
///    [`close`](Self::close) only queue bytes.
/// 5. **Output**: while [`wants_write`](Self::wants_write), write
///    [`output`](Self::output) (a [`bytes::Buf`]) to the transport and
///    advance it by what went out. Automatic pongs and close replies are
///    queued by steps 2 and 3 too.
/// 6. **Sleep** until the transport is readable (if `wants_read`), writable
///    (if `wants_write`) or [`poll_timeout`](Self::poll_timeout) is reached.
/// 7. **Teardown**: once [`should_shutdown_write`](Self::should_shutdown_write),
///    shut the transport's write half down (TCP FIN); once
///    [`may_close_transport`](Self::may_close_transport), drop it.
///
/// ```
/// use bytes::Buf;
/// use rfc6455::{Connection, Role, Config, Event, Message};
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// // A masked text frame "Hello" (RFC 6455 §5.7).
/// let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// assert_eq!(server.receive(&frame), frame.len());
/// let event = server.poll_event().unwrap();
/// assert_eq!(event, Some(Event::Message(Message::Text("Hello".into()))));
/// server.send_text("Hello").unwrap();
/// assert_eq!(server.output().chunk(), &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    read_buf: ReadBuf,
    frame: Option<InFrame>,
    assembler: Assembler,
    output: Output,
    masks: Option<Box<MaskKeys>>,
    /// The kind of the fragmented message we are sending, if one is open.
    sending: Option<MessageKind>,
    eof: bool,
    /// The peer's close frame, once received.
    peer_close: Option<CloseFrame>,
    /// Why the connection was lost, if it was.
    lost: Option<Lost>,
    /// `poll_event` reported the loss.
    lost_reported: bool,
    /// A timer failed the connection for the peer's fault: reported by the
    /// next `poll_event`.
    pending_error: Option<crate::error::ProtocolError>,
    /// Counts the messages (or lone control frames) begun, so the message
    /// timer knows a new one from the one it timed.
    message_seq: u32,
    timers: Timers,
    /// permessage-deflate, once negotiated. Boxed: a connection without it
    /// pays one pointer.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<deflate::Codec>>,
}

#[cfg(feature = "std")]
fn os_random(buf: &mut [u8]) {
    // §5.3: masking keys must be unpredictable; the OS CSPRNG provides that.
    getrandom::fill(buf).expect("the operating system's random source failed");
}

impl Connection {
    /// A connection in the given role, with no extension. A client draws
    /// masking keys from the operating system's random source.
    #[cfg(feature = "std")]
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_mask_source(role, config, os_random)
    }

    /// The connection the opening handshake agreed on: its role and its
    /// negotiated extensions (permessage-deflate) come from `agreement`, so
    /// they cannot be mismatched. Hand it the bytes that followed the
    /// handshake with [`receive`](Self::receive).
    #[cfg(feature = "std")]
    pub fn from_agreement(agreement: Agreement, config: Config) -> Self {
        Self::from_agreement_with_mask_source(agreement, config, os_random)
    }

    /// [`from_agreement`](Self::from_agreement) with client masking keys
    /// from `fill` (see [`with_mask_source`](Self::with_mask_source)).
    pub fn from_agreement_with_mask_source(
        agreement: Agreement,
        config: Config,
        fill: fn(&mut [u8]),
    ) -> Self {
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut conn = Self::with_mask_source(agreement.role, config, fill);
        #[cfg(feature = "deflate")]
        {
            conn.deflate = agreement.deflate.map(|params| {
                Box::new(deflate::Codec::new(conn.role, params, &conn.config.deflate))
            });
        }
        conn
    }

    /// A connection with no extension whose client masking keys come from
    /// `fill`, which must fill its buffer with unpredictable bytes (§5.3;
    /// §10.3 explains why predictable keys let a script poison proxies).
    /// For `no_std` targets, or for tests that need reproducible output. A
    /// server never calls it.
    pub fn with_mask_source(role: Role, config: Config, fill: fn(&mut [u8])) -> Self {
        Connection {
            role,
            assembler: Assembler::with_budget(config.budget.clone()),
            config,
            state: State::Open,
            read_buf: ReadBuf::default(),
            frame: None,
            output: Output::default(),
            masks: (role == Role::Client).then(|| Box::new(MaskKeys::new(fill))),
            sending: None,
            eof: false,
            peer_close: None,
            lost: None,
            lost_reported: false,
            pending_error: None,
            message_seq: 0,
            timers: Timers::default(),
            #[cfg(feature = "deflate")]
            deflate: None,
        }
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

    /// Whether the connection is closed (see [`State::Closed`]): no more
    /// events will come but the one that reports it.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed { .. })
    }

    /// The peer's close frame, once it has arrived.
    pub fn peer_close(&self) -> Option<&CloseFrame> {
        self.peer_close.as_ref()
    }

    /// Why the connection was lost, once it was (see [`Event::Lost`](crate::Event::Lost)).
    pub fn lost(&self) -> Option<Lost> {
        self.lost
    }

    // ---- output ------------------------------------------------------

    /// The bytes waiting to be written to the transport, as a
    /// [`bytes::Buf`]: write its chunks (all of them at once with
    /// `chunks_vectored`, or `tokio::io::AsyncWriteExt::write_buf`), then
    /// `advance` it by what was written.
    pub fn output(&mut self) -> &mut Output {
        &mut self.output
    }

    /// How many bytes are waiting to be written.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Whether there is output to write: register write interest.
    pub fn wants_write(&self) -> bool {
        self.output.len() > 0
    }

    // ---- the state machine ---------------------------------------------

    /// Queues the close frame the state machine sends on its own: an echo
    /// of the peer's code, or the code of a failure. Both codes are valid on
    /// the wire (the peer's was checked on parse, ours are 1001/1002/1007/1009),
    /// so the payload always encodes.
    fn queue_close_without_reason(&mut self, code: Option<CloseCode>) {
        let mut payload = [0u8; 125];
        let len = close::encode_payload(code, "", &mut payload).unwrap_or(0);
        self.output.push_frame(
            OpCode::Close,
            true,
            &payload[..len],
            self.masks.as_deref_mut(),
        );
        self.output.mark_reply();
    }

    /// Every state change happens here, together with the frames it queues.
    fn transition(&mut self, input: Input) {
        use Initiator::{Local, Remote};
        let closed_unclean = |initiator| State::Closed {
            clean: false,
            initiator,
        };
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
                closed_unclean(Local)
            }
            // Our close is already out: no second one (§5.5.1).
            (State::LocalClosing, Input::Fail(_)) => closed_unclean(Local),
            (State::Open | State::LocalClosing, Input::Eof) => {
                self.lost = Some(Lost::TransportEnded);
                closed_unclean(Remote)
            }
            (State::Open, Input::Abandon(why)) => {
                // §7.4.1: 1001, this end goes away from a peer it holds for
                // gone (1006 is never sent), written if the transport still
                // takes it; nobody waits for it. Only when nothing is stuck:
                // output may end in the unwritten rest of a frame, and a
                // close frame queued after it (or in its place) would be
                // read as that frame's payload (fuzz K3).
                if self.output.len() == 0 {
                    self.queue_close_without_reason(Some(CloseCode::GOING_AWAY));
                }
                self.lost = Some(why);
                closed_unclean(Local)
            }
            (State::LocalClosing, Input::Abandon(why)) => {
                self.lost = Some(why);
                closed_unclean(Local)
            }
            // Callers check the state first; anything else changes nothing.
            (state @ State::LocalClosing, Input::SendClose) => state,
            (state @ State::Closed { .. }, _) => state,
        };
        self.timers.state_changed();
        if let State::Closed { .. } = self.state {
            if matches!(input, Input::Abandon(_)) {
                self.timers.abandon();
            }
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
