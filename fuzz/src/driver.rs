//! Drives one [`Connection`] through a script and checks, after every step,
//! what the brief promises of it:
//!
//! * it never panics; it returns at most one `Err`, and after it
//!   `poll_event` only returns `Ok(None)`;
//! * its state only moves forward (Open → LocalClosing → Closed) and stays
//!   put once closed;
//! * the output (`output()`, a `bytes::Buf`) is always a sequence of
//!   whole, valid frames, masked by a
//!   client and not by a server, control payloads ≤ 125 bytes, nothing but
//!   pongs after a close frame (§5.5.1 forbids data; §5.5.2 still answers
//!   pings); RSV bits clear except RSV1 on the first frame of a message
//!   when permessage-deflate is agreed (RFC 7692 §6), set exactly when the
//!   documented policy compresses (window ≥ 9 bits, a whole message of at
//!   least the threshold or any fragmented one);
//! * after an `Err`, at most one close frame is queued, and nothing after;
//! * a `UsageError` queues nothing and changes no state, and the calls that
//!   fail are exactly the ones the docs say fail;
//! * every message respects `max_message_size` (for a compressed one, its
//!   decompressed size);
//! * what is written is exactly what was sent: a second connection of the
//!   other role, with the same permessage-deflate agreement (so whatever we
//!   compress must decompress there), reads everything written and must see, in order, the
//!   messages, pings, pongs, automatic pongs and close frames the API calls
//!   and received events call for, and never fail;
//! * after every `poll_event` loop, the events received are exactly those
//!   of the reference receiver ([`crate::model`]) for the bytes received so
//!   far, and the connection has failed exactly when those bytes call for it;
//! * flow control: `receive` takes exactly `min(len, input_room())`, the
//!   input held undecoded never exceeds `input_high_water` (at least 1 KiB)
//!   plus one frame, no input is taken while the output is over
//!   `output_high_water`, and the output never exceeds the bound of
//!   `check_flow`;
//! * time: the driver keeps its own account of the timers ([`Clock`]); no
//!   timer fires before its deadline or (the write timeout: twice) after,
//!   `poll_timeout()` is never before the last `now` and never after a
//!   running timer's deadline, `handle_timeout` with an earlier time
//!   changes nothing at a settled connection, and a loop that calls it
//!   while it is due comes to rest;
//! * teardown: `may_close_transport()` exactly when closed, flushed and the
//!   peer's end, `close_timeout` or 64 KiB discarded came (or at once when
//!   a timer gave up), and from then on for good; `should_shutdown_write()`
//!   for a server or a failed connection once closed and flushed.

use core::time::Duration;
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::{Buf, BytesMut};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::frame::{FrameHeader, OpCode};
use rfc6455::{
    Agreement, CloseCode, CloseFrame, Config, Connection, Event, Initiator, Lost, Message,
    MessageKind, ProtocolError, Role, State, UsageError,
};

use crate::deflate::send_bits;
use crate::model::{self, Reference};
use crate::script::Tick;
use crate::wire::{close_code_valid, ref_decode};

/// Stop queueing once this much was sent, to keep runs fast.
pub const MAX_QUEUED: usize = 1 << 20;

/// The smallest input high-water mark honoured (`Config::input_high_water`:
/// "values under 1 KiB count as 1 KiB"; `MIN_INPUT` in src/connection/timers.rs).
pub const MIN_INPUT: usize = 1024;

/// The most a closed connection discards while it waits for the peer's end
/// (`may_close_transport`: "or 64 KiB were discarded waiting").
pub const DRAIN_BYTES: usize = 64 * 1024;

/// The longest frame header (§5.2: 2 + 8 length + 4 mask).
const MAX_HEADER: usize = 14;

/// A control frame's longest payload (§5.5); `max_frame_size` does not
/// apply to control frames, so a frame being decoded may be this long
/// whatever the limit.
const MAX_CONTROL: usize = 125;

/// Automatic frames that are not pongs, per stretch of output over the
/// high-water mark: the one close frame the connection ever sends on its own
/// (a close reply, a failure's close or 1001 when a timer gives up: 2 + 4
/// mask + 2 code) and one keepalive ping (2 + 4 mask: a second one needs
/// input first, and no input is taken over the mark).
const AUTO_EXTRA: usize = 8 + 6;

static KEY_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Deterministic masking keys, so a crash reproduces byte for byte.
fn keys(buf: &mut [u8]) {
    for b in buf {
        let n = KEY_COUNTER.fetch_add(1, Ordering::Relaxed);
        *b = (n.wrapping_mul(0x9E37_79B1) >> 24) as u8;
    }
}

/// `RFC6455_FUZZ_STRICT=1`: the known bugs of README.md ("Known bugs,
/// tolerated") fail the run instead of being tolerated; a list of names
/// (`RFC6455_FUZZ_STRICT=K3`) only those.
pub fn strict(bug: &str) -> bool {
    static STRICT: OnceLock<String> = OnceLock::new();
    let value = STRICT.get_or_init(|| std::env::var("RFC6455_FUZZ_STRICT").unwrap_or_default());
    value == "1" || value.split([',', ' ']).any(|name| name == bug)
}

/// `RFC6455_FUZZ_TRACE=1`: print every op and every `handle_timeout` (to
/// read a reproducer's story).
pub fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("RFC6455_FUZZ_TRACE").is_some_and(|v| v != "0"))
}

fn rank(state: State) -> u8 {
    match state {
        State::Open => 0,
        State::LocalClosing => 1,
        State::Closed { .. } => 2,
    }
}

fn after(start: Duration, wait: Duration) -> Duration {
    start.saturating_add(wait)
}

/// The driver's own account of the connection's timers, kept from the
/// documented rules alone (`Config::keepalive`, `close_timeout`,
/// `write_timeout`, `handle_timeout`, `poll_timeout`): input and state
/// changes are stamped with the `now` of the `handle_timeout` after them
/// ("the next call stamps it with the real time"). With it the driver checks
/// that no timer fires early, none fires late, and `poll_timeout` announces
/// every deadline.
#[derive(Debug)]
struct Clock {
    /// The script's clock.
    now: Duration,
    /// The latest time passed to `handle_timeout` (earlier ones count as it).
    last: Duration,
    /// Input was taken since the last `handle_timeout` (true at first: the
    /// first call starts the silence clock).
    heard: bool,
    /// When input last arrived, as stamped.
    heard_at: Duration,
    /// A keepalive ping went out at this time, and nothing arrived since.
    ping_out: Option<Duration>,
    /// The state changed since the last `handle_timeout`.
    state_changed: bool,
    /// When the present state began, as stamped.
    state_since: Option<Duration>,
    /// Output was advanced since the last `handle_timeout`.
    progressed: bool,
    /// Output was waiting at every `handle_timeout` since this time, with
    /// nothing written since.
    stalled_since: Option<Duration>,
    /// The message (or lone frame) being received was first seen at this
    /// time by a `handle_timeout` (with the reference's number for it).
    message_since: Option<(Duration, u32)>,
    /// Closed, and `close_timeout` passed: the wait for the peer's end is over.
    drain_over: bool,
    /// Bytes the connection took while closed (read and discarded).
    discarded: usize,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            now: Duration::ZERO,
            last: Duration::ZERO,
            heard: true,
            heard_at: Duration::ZERO,
            ping_out: None,
            state_changed: false,
            state_since: None,
            progressed: false,
            stalled_since: None,
            message_since: None,
            drain_over: false,
            discarded: 0,
        }
    }
}

/// What a `handle_timeout` at a settled connection must leave as it is.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    state: State,
    output_len: usize,
    poll_timeout: Option<Duration>,
    lost: Option<Lost>,
    may_close: bool,
    shutdown: bool,
    input_room: usize,
    wants_read: bool,
    wants_write: bool,
}

/// A connection under test, with everything needed to check it.
pub struct Driver {
    conn: Connection,
    role: Role,
    config: Config,
    /// The permessage-deflate agreement, if any.
    deflate: Option<DeflateParams>,
    /// The window we compress with (`None`: we send nothing compressed).
    send_bits: Option<u8>,
    /// Echo every message received while open (an echo server).
    pub echo: bool,
    /// Reads the bytes handed to the connection before end-of-file.
    reference: Reference,
    /// How many of them.
    received: usize,
    /// Events already compared with the reference.
    events_checked: usize,
    eof: bool,
    events: Vec<Event>,
    error: Option<ProtocolError>,
    /// The `Event::Lost` reported, if any.
    lost: Option<Lost>,
    state: State,
    /// Bytes at the front of the output already parsed and checked.
    checked: usize,
    /// Bytes written so far (advanced past).
    written: usize,
    /// Where the frames of the output not yet written completely start and
    /// end, counted from the first byte ever queued.
    frames: VecDeque<(usize, usize)>,
    /// `written + output_len()` when the error was returned.
    queued_at_error: Option<usize>,
    sent_close: bool,
    /// Pongs called for after our close frame: the peer, closed by then,
    /// ignores them, so `check_output` compares them as they are queued.
    late_pongs: VecDeque<Vec<u8>>,
    /// The fragmented message we are sending, if one is open.
    sending: Option<(MessageKind, Vec<u8>)>,
    /// Reads everything written, as the other end would.
    peer: Connection,
    /// What the peer must see next, in order.
    expected: VecDeque<Event>,
    /// Bytes that reached the transport and that the connection did not
    /// take yet (it takes at most `input_room()`): offered again, first,
    /// at the next read.
    inbox: Vec<u8>,
    /// An upper bound of the received bytes the connection has not decoded
    /// yet: after a `poll_event` loop, what the reference has not consumed
    /// (the frame in progress, its header included); plus what was taken since.
    undrained: usize,
    /// Bytes queued by our own calls (sends, pings, pongs, close, echoes)
    /// since the output was last seen at or below `output_high_water`.
    sent_since: usize,
    /// Received bytes that may still be answered automatically (pongs)
    /// since then: `undrained` at that point plus what was taken after.
    reply_input: usize,
    clock: Clock,
    /// A timer gave up on the peer (`may_close_transport` at once).
    gave_up: bool,
    /// `may_close_transport()` was true once.
    may_closed: bool,
    /// Every byte taken was decoded (a `poll_event` loop ran to `Ok(None)`
    /// since the last take): the reference's view is the connection's.
    decoded: bool,
    /// `handle_timeout` failed the connection with the message timeout
    /// (its close frame queued when `queued()` was this); `poll_event`
    /// must report `ProtocolError::MessageTimeout` next.
    message_failed: Option<usize>,
}

impl Driver {
    pub fn new(role: Role, config: Config, deflate: Option<DeflateParams>) -> Self {
        KEY_COUNTER.store(0, Ordering::Relaxed);
        let limits = (
            config.max_frame_size,
            config.max_message_size,
            config.max_frames_per_message,
        );
        let reference = Reference::new(role, limits, deflate);
        let peer_role = match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        // The peer has the default (large) limits and no timers (it is never
        // given a time): it is a validator.
        let peer_config = Config::default()
            .auto_pong(false)
            .deflate(DeflateConfig::default());
        let agreement = |role| Agreement::new(role).with_deflate(deflate);
        let peer =
            Connection::from_agreement_with_mask_source(agreement(peer_role), peer_config, keys);
        let send_bits = deflate.and_then(|p| send_bits(role, &p, &config.deflate));
        Driver {
            conn: Connection::from_agreement_with_mask_source(
                agreement(role),
                config.clone(),
                keys,
            ),
            role,
            config,
            deflate,
            send_bits,
            echo: false,
            reference,
            received: 0,
            events_checked: 0,
            eof: false,
            events: Vec::new(),
            error: None,
            lost: None,
            state: State::Open,
            checked: 0,
            written: 0,
            frames: VecDeque::new(),
            queued_at_error: None,
            sent_close: false,
            late_pongs: VecDeque::new(),
            sending: None,
            peer,
            expected: VecDeque::new(),
            inbox: Vec::new(),
            undrained: 0,
            sent_since: 0,
            reply_input: 0,
            clock: Clock::default(),
            gave_up: false,
            may_closed: false,
            decoded: true,
            message_failed: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// The window we compress with, if we compress at all.
    pub fn send_bits(&self) -> Option<u8> {
        self.send_bits
    }

    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// Bytes queued so far (written or pending).
    pub fn queued(&self) -> usize {
        self.written + self.conn.output_len()
    }

    // ---- input ---------------------------------------------------------

    /// The most received input the connection may hold undecoded: the
    /// input high-water mark (at least [`MIN_INPUT`]) beyond the frame
    /// being decoded, whose payload is at most `max_frame_size` (a control
    /// frame: 125 bytes, whatever the limit), plus its header, which the
    /// driver's count includes.
    fn input_limit(&self) -> usize {
        let frame = self.config.max_frame_size.max(MAX_CONTROL);
        self.config.input_high_water.max(MIN_INPUT) + frame + MAX_HEADER
    }

    /// `input_room()`, checked against `wants_read()` and end-of-file,
    /// where it must be 0.
    fn check_room(&self) -> usize {
        let room = self.conn.input_room();
        assert_eq!(
            self.conn.wants_read(),
            room > 0,
            "wants_read() disagrees with input_room() = {room}"
        );
        if self.conn.is_eof() {
            assert_eq!(room, 0, "input room after end-of-file");
        }
        // Over the output mark, input stops only while a reply to the peer
        // (a pong, a close reply) is unwritten, which this driver does not
        // model; tests/timers.rs and tests/backpressure.rs check that rule.
        room
    }

    /// Accounts for `bytes` the connection took (while closed: discarded).
    fn took(&mut self, bytes: &[u8], was_closed: bool) {
        if bytes.is_empty() {
            return;
        }
        self.clock.heard = true;
        if was_closed {
            self.clock.discarded += bytes.len();
            return;
        }
        self.decoded = false;
        self.record(bytes);
        self.undrained += bytes.len();
        self.reply_input += bytes.len();
        assert!(
            self.undrained <= self.input_limit(),
            "{} bytes of input held undecoded (input high water {}, max frame {})",
            self.undrained,
            self.config.input_high_water,
            self.config.max_frame_size
        );
    }

    /// `bytes` arrive at the transport: `receive` what the connection
    /// takes, drain events, and offer the rest again until it takes nothing
    /// more (then it waits in the inbox).
    pub fn receive(&mut self, bytes: &[u8]) {
        self.inbox.extend_from_slice(bytes);
        self.pump();
    }

    fn pump(&mut self) {
        while !self.inbox.is_empty() && self.offer() > 0 {}
    }

    /// One `receive` of the inbox, then drain; returns how much was taken.
    fn offer(&mut self) -> usize {
        self.reset_flow();
        let room = self.check_room();
        let was_closed = self.conn.is_closed();
        let bytes = std::mem::take(&mut self.inbox);
        let taken = self.conn.receive(&bytes);
        assert_eq!(
            taken,
            bytes.len().min(room),
            "receive took {taken} of {} bytes with input_room() = {room}",
            bytes.len()
        );
        self.took(&bytes[..taken], was_closed);
        self.inbox = bytes;
        self.inbox.drain(..taken);
        self.drain();
        taken
    }

    /// Offers the inbox until it is empty, writing all output in between
    /// (which lifts backpressure), or until the connection takes no more.
    pub fn flush_inbox(&mut self) {
        while !self.inbox.is_empty() && self.queued() < MAX_QUEUED {
            let before = self.inbox.len();
            self.pump();
            self.advance_all();
            if self.inbox.len() == before {
                break;
            }
        }
    }

    /// `keep_read_buffer(keep)`: changes where bulk reads land, never
    /// what is decoded (the model checks every message as before).
    pub fn keep_read_buffer(&mut self, keep: bool) {
        self.conn.keep_read_buffer(keep);
    }

    /// `receive_buffer(lend)` (at most `input_room()` long), filled from the
    /// inbox and then `bytes` (what is left over stays in the inbox), then
    /// garbage; `commit_received(commit)`, drain. Only the committed bytes
    /// may ever be read.
    pub fn receive_lent(&mut self, lend: usize, bytes: &[u8], commit: usize) {
        self.inbox.extend_from_slice(bytes);
        self.reset_flow();
        let room = self.check_room();
        let was_closed = self.conn.is_closed();
        let buf = self.conn.receive_buffer(lend);
        let lent = buf.len();
        assert_eq!(
            lent,
            lend.min(room),
            "receive_buffer({lend}) with input_room() = {room}"
        );
        let n = self.inbox.len().min(lent);
        buf[..n].copy_from_slice(&self.inbox[..n]);
        buf[n..].fill(0xEE);
        self.conn.commit_received(commit);
        let committed = commit.min(lent);
        let real = n.min(committed);
        let mut got = self.inbox[..real].to_vec();
        got.resize(committed, 0xEE);
        self.inbox.drain(..real);
        self.took(&got, was_closed);
        // K4 (fixed): an over-commit counts only what was lent, as input
        // heard and, closed, as bytes discarded.
        self.drain();
    }

    /// `receive_buffer(lend)` filled with garbage and never committed: the
    /// next call must drop it.
    pub fn lend_only(&mut self, lend: usize) {
        let room = self.check_room();
        let buf = self.conn.receive_buffer(lend);
        assert_eq!(
            buf.len(),
            lend.min(room),
            "receive_buffer({lend}) with input_room() = {room}"
        );
        buf.fill(0x88);
        self.drain();
    }

    /// `lend_receive_buffer(lend)`, filled with at most `min(lend,
    /// input_room())` bytes of the inbox and `bytes` (as its docs ask), given
    /// back with `receive_owned`: mode 0 the lent buffer, 1 a buffer of our
    /// own (the lent one dropped), 2 nothing (the lent one dropped).
    pub fn receive_owned(&mut self, lend: usize, bytes: &[u8], mode: u8) {
        self.inbox.extend_from_slice(bytes);
        self.reset_flow();
        let room = self.check_room();
        let was_closed = self.conn.is_closed();
        // read_len: never past the lend nor the input room.
        let advised = self.conn.read_len(lend);
        assert!(
            advised <= lend.min(room),
            "read_len({lend}) = {advised}, input_room() = {room}"
        );
        let mut buf = self.conn.lend_receive_buffer(lend);
        assert!(buf.is_empty(), "a lent buffer holds {} bytes", buf.len());
        let fits = lend.min(room);
        assert!(
            buf.capacity() >= fits,
            "lend_receive_buffer({lend}) has room for {} bytes, input_room() = {room}",
            buf.capacity()
        );
        let n = self.inbox.len().min(fits);
        let taken = match mode {
            0 => {
                buf.extend_from_slice(&self.inbox[..n]);
                self.conn.receive_owned(buf)
            }
            1 => {
                drop(buf);
                self.conn.receive_owned(BytesMut::from(&self.inbox[..n]))
            }
            _ => {
                drop(buf);
                0
            }
        };
        let n = if mode < 2 { n } else { 0 };
        assert_eq!(taken, n, "receive_owned of {n} bytes");
        let got = self.inbox[..n].to_vec();
        self.inbox.drain(..n);
        self.took(&got, was_closed);
        self.drain();
    }

    pub fn receive_eof(&mut self) {
        self.conn.receive_eof();
        self.eof = true;
        assert!(self.conn.is_eof());
        self.drain();
    }

    fn record(&mut self, bytes: &[u8]) {
        if !self.eof {
            self.reference.feed(bytes);
            self.received += bytes.len();
        }
    }

    /// Polls until `Ok(None)`, checking each event and the state after it.
    pub fn drain(&mut self) {
        let mut polls = 0usize;
        loop {
            polls += 1;
            assert!(polls <= self.received + 16, "poll_event does not stop");
            let before = self.conn.state();
            let queued_before = self.queued();
            match self.conn.poll_event() {
                Ok(None) => {
                    self.decoded = true;
                    self.undrained = if self.conn.is_closed() {
                        0
                    } else {
                        self.reference.unconsumed()
                    };
                    self.after_step();
                    self.check_model();
                    break;
                }
                Ok(Some(event)) => {
                    assert!(
                        self.error.is_none() && self.lost.is_none(),
                        "event {event:?} after error {:?} / {:?}",
                        self.error,
                        self.lost
                    );
                    self.on_event(event, before);
                }
                Err(e) => {
                    assert!(
                        self.error.is_none() && self.lost.is_none(),
                        "error {e:?} after {:?} / {:?}",
                        self.error,
                        self.lost
                    );
                    self.on_error(e, before, queued_before);
                }
            }
            self.after_step();
        }
    }

    fn on_event(&mut self, event: Event, before: State) {
        let state = self.conn.state();
        match &event {
            Event::Message(message) => {
                assert!(
                    message.len() <= self.config.max_message_size,
                    "message of {} bytes over the limit {}",
                    message.len(),
                    self.config.max_message_size
                );
                if message.kind() == MessageKind::Text {
                    let text = message.as_text().expect("a text message has text");
                    assert!(core::str::from_utf8(text.as_bytes()).is_ok());
                }
                assert_eq!(state, before, "a message changed the state");
            }
            Event::Ping(payload) | Event::Pong(payload) => {
                assert!(
                    payload.len() <= 125,
                    "control payload of {} bytes",
                    payload.len()
                );
                assert_eq!(state, before, "a ping or pong changed the state");
                if matches!(event, Event::Ping(_)) && self.config.auto_pong {
                    // §5.5.2: the pong carries the ping's payload, also
                    // after our close (only a received close stops it).
                    self.expect_pong(payload.to_vec());
                }
            }
            Event::Close(close) => {
                let initiator = if before == State::Open {
                    Initiator::Remote
                } else {
                    Initiator::Local
                };
                assert_eq!(
                    state,
                    State::Closed {
                        clean: true,
                        initiator
                    },
                    "state after the peer's close"
                );
                assert_eq!(self.conn.peer_close(), Some(close));
                if before == State::Open {
                    // §5.5.1: the reply echoes the code.
                    let reply = CloseFrame {
                        code: close.code,
                        reason: String::new(),
                    };
                    self.expected.push_back(Event::Close(reply));
                }
            }
            Event::Lost(lost) => {
                // Reported once, as the last event: the end of the
                // transport (§7.1.5) or a timer that gave up.
                let initiator = if *lost == Lost::TransportEnded {
                    assert!(self.eof, "{lost:?} before end-of-file");
                    Initiator::Remote
                } else {
                    assert!(self.gave_up, "{lost:?} without a timer giving up");
                    Initiator::Local
                };
                assert_eq!(
                    state,
                    State::Closed {
                        clean: false,
                        initiator
                    },
                    "state after {lost:?}"
                );
                assert_eq!(self.conn.lost(), Some(*lost));
                self.lost = Some(*lost);
                // Not an event the reference receiver knows of.
                return;
            }
        }
        self.events.push(event.clone());
        if let (true, Event::Message(message), State::Open) = (self.echo, &event, self.conn.state())
        {
            self.send(message.clone());
        }
    }

    fn on_error(&mut self, error: ProtocolError, before: State, queued_before: usize) {
        let state = self.conn.state();
        if error == ProtocolError::MessageTimeout {
            // Failed by `handle_timeout`, which queued the close frame (and
            // the driver expected it there); reported by this poll.
            let at = self
                .message_failed
                .take()
                .expect("MessageTimeout without handle_timeout failing the connection");
            assert_eq!(
                state,
                State::Closed {
                    clean: false,
                    initiator: Initiator::Local
                },
                "state after {error:?}"
            );
            self.error = Some(error);
            self.queued_at_error = Some(at);
            return;
        }
        assert!(
            self.message_failed.is_none(),
            "{error:?} reported for a message timeout"
        );
        assert_eq!(
            state,
            State::Closed {
                clean: false,
                initiator: Initiator::Local
            },
            "state after {error:?}"
        );
        assert_ne!(before, state, "an error from a closed connection");
        if before == State::Open {
            // §7.1.7: fail the connection with the error's close code.
            let code = error.close_code();
            assert!(
                code.is_valid_on_wire(),
                "{error:?} answered with code {code}"
            );
            self.expected.push_back(Event::Close(CloseFrame {
                code: Some(code),
                reason: String::new(),
            }));
        }
        self.error = Some(error);
        self.queued_at_error = Some(queued_before);
    }

    /// Checks that hold after every step.
    fn after_step(&mut self) {
        let state = self.conn.state();
        assert!(
            rank(state) >= rank(self.state),
            "state went back from {:?} to {state:?}",
            self.state
        );
        if let State::Closed { .. } = self.state {
            assert_eq!(state, self.state, "a closed connection changed state");
        }
        if self.error.is_some() {
            assert!(matches!(state, State::Closed { clean: false, .. }));
        }
        if state != self.state {
            self.clock.state_changed = true;
        }
        self.state = state;
        self.check_output();
        if let Some(at) = self.queued_at_error {
            // After the error: at most the one close frame (2 + 2 + mask).
            let grown = self.queued() - at;
            assert!(grown <= 8, "{grown} bytes queued after the error");
        }
        self.check_flow();
        self.check_time();
        self.check_teardown();
    }

    /// The output bound: queued output never exceeds `output_high_water`,
    /// plus what our own calls queued since the output was last at or below
    /// it, plus the automatic answers to the input the connection held or
    /// took since then (at most one read buffer: over the mark it takes
    /// none), plus [`AUTO_EXTRA`]. A pong answers a ping of at least as many
    /// bytes on a server (the ping is masked: 6 + n in, 2 + n out) and of at
    /// least a third as many on a client (2 + n in, 6 + n out).
    fn check_flow(&mut self) {
        let out = self.conn.output_len();
        let replies = match self.role {
            Role::Server => self.reply_input,
            Role::Client => 3 * self.reply_input,
        };
        let bound = self.config.output_high_water + self.sent_since + replies + AUTO_EXTRA;
        assert!(
            out <= bound,
            "{out} bytes of output queued: over high water {} + {} sent + answers to {} bytes in + {AUTO_EXTRA}",
            self.config.output_high_water,
            self.sent_since,
            self.reply_input
        );
        self.reset_flow();
    }

    /// At or below the mark: the output bound starts over from here.
    fn reset_flow(&mut self) {
        if self.conn.output_len() <= self.config.output_high_water {
            self.sent_since = 0;
            self.reply_input = self.undrained;
        }
    }

    /// Whether the connection waits for nothing more before the transport
    /// may go, once closed (`may_close_transport`'s docs).
    fn waits_for_nothing(&self) -> bool {
        self.conn.is_closed()
            && (self.conn.is_eof()
                || self.clock.drain_over
                || self.clock.discarded >= DRAIN_BYTES
                || self.gave_up)
    }

    /// `poll_timeout` is never before the last `now` (a deadline at it
    /// means "due now"), and never after a deadline the driver's clock says
    /// a timer has (at the latest; `None` only when none is running).
    fn check_time(&self) {
        let polled = self.conn.poll_timeout();
        let c = &self.clock;
        if let Some(at) = polled {
            assert!(
                at >= c.last,
                "poll_timeout() = {at:?}, before the last now {:?}",
                c.last
            );
        }
        if self.gave_up {
            return;
        }
        let due = |changed: bool, since: Option<Duration>, wait: Duration| {
            if changed {
                c.last
            } else {
                after(since.unwrap_or(c.last), wait)
            }
        };
        let mut latest: Vec<(&str, Duration)> = Vec::new();
        match self.conn.state() {
            State::Open => {
                if let Some(keepalive) = self.config.keepalive {
                    let at = match (c.heard, c.ping_out) {
                        (true, _) => c.last,
                        (false, None) => after(c.heard_at, keepalive.ping_after),
                        (false, Some(sent)) => after(sent, keepalive.timeout),
                    };
                    latest.push(("keepalive", at));
                }
            }
            State::LocalClosing => latest.push((
                "close timeout",
                due(c.state_changed, c.state_since, self.config.close_timeout),
            )),
            State::Closed { .. } if !self.waits_for_nothing() => latest.push((
                "end of the lingering close",
                due(c.state_changed, c.state_since, self.config.close_timeout),
            )),
            State::Closed { .. } => {}
        }
        if let (Some(timeout), true) = (self.config.write_timeout, self.conn.output_len() > 0) {
            let at = match c.stalled_since {
                None => c.last,
                // The docs allow twice the timeout after the last write.
                Some(since) => after(since, timeout.saturating_mul(2)),
            };
            latest.push(("write timeout", at));
        }
        // What the reference receives is what the connection decoded only
        // after a `poll_event` loop.
        if let (Some(timeout), Some(unit), true, false) = (
            self.config.message_timeout,
            self.reference.receiving(),
            self.decoded,
            self.conn.is_closed(),
        ) {
            let at = match c.message_since {
                Some((since, seen)) if seen == unit => after(since, timeout),
                _ => c.last,
            };
            latest.push(("message timeout", at));
        }
        for (what, at) in latest {
            assert!(
                polled.is_some_and(|t| t <= at),
                "poll_timeout() = {polled:?}, but the {what} is due at {at:?} (last now {:?}, {c:?})",
                c.last
            );
        }
    }

    /// `may_close_transport` exactly when the docs say (closed, flushed and
    /// nothing left to wait for, or a timer gave up), and then for good;
    /// `should_shutdown_write` for a server or a failed connection once
    /// closed and flushed.
    fn check_teardown(&mut self) {
        let closed = self.conn.is_closed();
        let out = self.conn.output_len();
        let may = self.conn.may_close_transport();
        let waits = self.waits_for_nothing();
        if may {
            assert!(
                closed,
                "may_close_transport() while {:?}",
                self.conn.state()
            );
            assert!(
                self.gave_up || (out == 0 && waits),
                "may_close_transport() with {out} bytes queued, eof {}, {:?}",
                self.conn.is_eof(),
                self.clock
            );
            assert!(
                self.conn.input_room() == 0 && !self.conn.wants_read(),
                "input wanted after may_close_transport()"
            );
            assert_eq!(
                self.conn.poll_timeout(),
                None,
                "a deadline after may_close_transport()"
            );
        } else {
            assert!(
                !(closed && out == 0 && waits),
                "closed, flushed and waiting for nothing, but may_close_transport() is false ({:?})",
                self.clock
            );
            assert!(!self.may_closed, "may_close_transport() went back to false");
        }
        self.may_closed = may;
        let shutdown = self.conn.should_shutdown_write();
        if shutdown {
            assert!(closed && out == 0, "should_shutdown_write() before the end");
        }
        if let (State::Closed { clean, .. }, 0, false) = (self.conn.state(), out, self.gave_up) {
            assert_eq!(
                shutdown,
                self.role == Role::Server || !clean,
                "should_shutdown_write(), closed (clean {clean}) and flushed"
            );
        }
    }

    /// Compares the events and the error so far with the reference receiver.
    fn check_model(&mut self) {
        let expected = &self.reference.events;
        let ending = self.reference.ending();
        assert!(
            self.events.len() == expected.len()
                && self.events[self.events_checked..] == expected[self.events_checked..],
            "events differ from the model (ending {ending:?}, error {:?}, lost {:?}):\n got {:?}\nwant {:?}",
            self.error,
            self.lost,
            &self.events[self.events_checked..],
            &expected[self.events_checked.min(expected.len())..]
        );
        self.events_checked = self.events.len();
        model::check_ending(&ending, self.error, self.lost, self.eof);
    }

    /// All pending output: the chunks of `output()` joined. `chunk()` must
    /// be the first chunk, and `remaining()` and `output_len()` their total.
    fn pending_bytes(&mut self) -> Vec<u8> {
        let len = self.conn.output_len();
        let out = self.conn.output();
        let chunks: Vec<&[u8]> = out.chunks().collect();
        assert!(
            chunks.iter().all(|c| !c.is_empty()),
            "an empty output chunk"
        );
        assert_eq!(out.chunk(), chunks.first().copied().unwrap_or(&[]));
        let all = chunks.concat();
        assert_eq!(all.len(), out.remaining(), "Output::remaining()");
        assert_eq!(all.len(), len, "output_len()");
        all
    }

    /// Parses the frames queued since the last check.
    fn check_output(&mut self) {
        let pending = self.pending_bytes();
        let pending = &pending[..];
        assert!(
            self.checked <= pending.len(),
            "output() lost bytes that were not advanced"
        );
        let mut pos = self.checked;
        while pos < pending.len() {
            let rest = &pending[pos..];
            let (header, n) = match FrameHeader::decode(rest) {
                Ok(Some(decoded)) => decoded,
                other => panic!("output() holds no valid frame at {pos}: {other:?}"),
            };
            let (reference, broken) = ref_decode(rest);
            let reference = reference.expect("the reference decoder sees a whole header");
            assert!(broken.is_empty(), "queued frame breaks {broken:?}");
            assert_eq!(
                (reference.len, reference.payload_len, reference.mask),
                (n, header.payload_len, header.mask)
            );
            // RFC 7692 §6: RSV1 marks the first frame of a compressed
            // message; nothing else sets an RSV bit.
            let rsv1_allowed =
                self.deflate.is_some() && matches!(header.opcode, OpCode::Text | OpCode::Binary);
            assert!(
                header.rsv == 0 || (header.rsv == 0b100 && rsv1_allowed),
                "RSV bits {:#05b} on a queued {:?} frame",
                header.rsv,
                header.opcode
            );
            // §5.1: a client masks every frame, a server none.
            assert_eq!(
                header.mask.is_some(),
                self.role == Role::Client,
                "masking of a queued frame"
            );
            if header.opcode.is_control() {
                assert!(
                    header.fin && header.payload_len <= 125,
                    "queued control frame {header:?}"
                );
            }
            let end = pos + n + header.payload_len as usize;
            assert!(end <= pending.len(), "output() ends inside a frame");
            if self.sent_close {
                assert_eq!(
                    header.opcode,
                    OpCode::Pong,
                    "a frame other than a pong after the close frame"
                );
                let mut payload = pending[pos + n..end].to_vec();
                if let Some(key) = header.mask {
                    crate::wire::unmask(&mut payload, key);
                }
                assert_eq!(
                    Some(payload),
                    self.late_pongs.pop_front(),
                    "a pong after the close frame"
                );
            }
            if header.opcode == OpCode::Close {
                self.sent_close = true;
            }
            self.frames
                .push_back((self.written + pos, self.written + end));
            pos = end;
        }
        self.checked = pos;
    }

    // ---- output --------------------------------------------------------

    /// `output().advance(n)`; the bytes written go to the peer.
    pub fn advance(&mut self, n: usize) {
        self.check_output();
        let len = self.conn.output_len();
        let k = n.min(len);
        let mut written = Vec::with_capacity(k);
        for chunk in self.conn.output().chunks() {
            let want = k - written.len();
            if want == 0 {
                break;
            }
            written.extend_from_slice(&chunk[..want.min(chunk.len())]);
        }
        self.conn.output().advance(n);
        assert_eq!(
            self.conn.output_len(),
            len - k,
            "advance({n}) with {len} pending"
        );
        if k > 0 {
            self.clock.progressed = true;
        }
        self.checked -= k;
        self.written += k;
        while self.frames.front().is_some_and(|f| f.1 <= self.written) {
            self.frames.pop_front();
        }
        self.feed_peer(&written);
        self.after_step();
        // Writing may have lifted backpressure: read what is waiting.
        if !self.inbox.is_empty() {
            self.pump();
        }
    }

    pub fn advance_all(&mut self) {
        self.advance(self.conn.output_len());
    }

    /// Hands written bytes to the peer, as much as it takes at a time.
    fn feed_peer(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let taken = self.peer.receive(bytes);
            bytes = &bytes[taken..];
            self.drain_peer();
            if taken == 0 {
                // A closed peer discards what follows its close, up to a
                // limit; nothing there is compared.
                assert!(self.peer.is_closed(), "the peer takes no more input");
                break;
            }
        }
    }

    fn drain_peer(&mut self) {
        loop {
            match self.peer.poll_event() {
                Ok(None) => break,
                Ok(Some(event)) => {
                    let expected = self.expected.pop_front();
                    assert_eq!(
                        Some(&event),
                        expected.as_ref(),
                        "the peer read something else than was sent"
                    );
                }
                Err(e) => panic!("the peer rejected what was written: {e:?}"),
            }
        }
        let _ = self.peer.output().take_all();
    }

    // ---- time ----------------------------------------------------------

    /// A script's clock step: move the clock and `handle_timeout(now)`, or
    /// call it with an earlier time (see [`Tick`]); then drain.
    pub fn time(&mut self, tick: Tick) {
        let step = tick.step();
        if tick.back {
            let earlier = self.clock.now.saturating_sub(step);
            if tick.settle() {
                self.settle();
                let before = self.snapshot();
                self.handle_timeout(earlier);
                assert_eq!(
                    self.snapshot(),
                    before,
                    "handle_timeout({earlier:?}) after {:?} changed a settled connection",
                    self.clock.now
                );
            } else {
                self.handle_timeout(earlier);
            }
        } else {
            self.clock.now = if tick.far() {
                self.clock.now.max(Duration::MAX - step)
            } else {
                self.clock.now.saturating_add(step)
            };
            self.handle_timeout(self.clock.now);
            if tick.settle() {
                self.settle();
            }
        }
        self.drain();
    }

    /// `handle_timeout(now)` again while `poll_timeout()` says it is due, as
    /// an event loop that wakes at once does: it must stop being due.
    fn settle(&mut self) {
        let now = self.clock.now;
        self.handle_timeout(now);
        for _ in 0..8 {
            if self.conn.poll_timeout().is_none_or(|t| t > now) {
                return;
            }
            self.handle_timeout(now);
        }
        panic!(
            "poll_timeout() = {:?} still due after 9 handle_timeout({now:?})",
            self.conn.poll_timeout()
        );
    }

    fn snapshot(&self) -> Snapshot {
        let c = &self.conn;
        Snapshot {
            state: c.state(),
            output_len: c.output_len(),
            poll_timeout: c.poll_timeout(),
            lost: c.lost(),
            may_close: c.may_close_transport(),
            shutdown: c.should_shutdown_write(),
            input_room: c.input_room(),
            wants_read: c.wants_read(),
            wants_write: c.wants_write(),
        }
    }

    /// `handle_timeout(at)`, checked against the driver's clock: what may
    /// happen (a timer past its deadline) and what must (the same, except
    /// the write timeout, which the docs give up to twice its time after
    /// the last write).
    fn handle_timeout(&mut self, at: Duration) {
        self.check_output();
        let now = at.max(self.clock.last);
        let state = self.conn.state();
        let out_before = self.conn.output_len();
        // `Config::write_timeout`: queued output that waits with not a byte
        // written.
        let waiting = out_before > 0;
        let c = &mut self.clock;
        c.last = now;
        // What this call stamps.
        if core::mem::take(&mut c.heard) {
            c.heard_at = now;
            c.ping_out = None;
        }
        if core::mem::take(&mut c.state_changed) {
            c.state_since = Some(now);
        }
        let progressed = core::mem::take(&mut c.progressed);
        // The write timeout: output waiting, nothing written.
        let (mut write_may, mut write_must) = (false, false);
        match (self.config.write_timeout, waiting, c.stalled_since) {
            (Some(_), true, None) => c.stalled_since = Some(now),
            (Some(_), true, Some(_)) if progressed => c.stalled_since = Some(now),
            (Some(timeout), true, Some(since)) => {
                write_may = now >= after(since, timeout);
                write_must = now >= after(since, timeout.saturating_mul(2));
            }
            _ => c.stalled_since = None,
        }
        // Keepalive, while open.
        let (mut ping_due, mut keepalive_lost) = (false, false);
        if let (State::Open, Some(keepalive)) = (state, self.config.keepalive) {
            match c.ping_out {
                None => ping_due = now >= after(c.heard_at, keepalive.ping_after),
                Some(sent) => keepalive_lost = now >= after(sent, keepalive.timeout),
            }
        }
        // The closing handshake's timeout, and the lingering close's.
        let since = c.state_since.unwrap_or(now);
        let closing_over = now >= after(since, self.config.close_timeout);
        let close_lost = state == State::LocalClosing && closing_over;
        if matches!(state, State::Closed { .. }) && closing_over {
            c.drain_over = true;
        }
        // `Config::message_timeout`: a message (or lone frame) in progress
        // since it was first seen.
        assert!(self.decoded, "handle_timeout before the input was decoded");
        let receiving = self
            .reference
            .receiving()
            .filter(|_| !self.conn.is_closed());
        let mut message_due = false;
        match (receiving, c.message_since) {
            (None, _) => c.message_since = None,
            (Some(unit), Some((since, seen))) if seen == unit => {
                message_due = self
                    .config
                    .message_timeout
                    .is_some_and(|timeout| now >= after(since, timeout));
            }
            (Some(unit), _) => c.message_since = Some((now, unit)),
        }
        let gave_up_before = self.gave_up;
        let lost_before = self.conn.lost();
        let queued_before = self.queued();

        self.conn.handle_timeout(at);
        if trace() {
            eprintln!(
                "handle_timeout({at:?}): {:?} -> {:?}, output {out_before} -> {}, lost {:?}, may close {}, poll_timeout {:?}",
                state,
                self.conn.state(),
                self.conn.output_len(),
                self.conn.lost(),
                self.conn.may_close_transport(),
                self.conn.poll_timeout()
            );
        }

        let lost = self.conn.lost();
        let lost_now = lost.filter(|_| lost_before.is_none());
        if gave_up_before {
            assert_eq!(lost, lost_before, "a connection given up on changed");
            assert_eq!(self.conn.output_len(), out_before, "output after giving up");
            self.after_step();
            return;
        }
        match lost_now {
            None => {}
            Some(Lost::WriteTimeout) => {
                assert!(write_may, "{lost_now:?} too early ({:?})", self.clock)
            }
            Some(Lost::KeepaliveTimeout) => {
                assert!(keepalive_lost, "{lost_now:?} too early ({:?})", self.clock)
            }
            Some(Lost::CloseTimeout) => {
                assert!(close_lost, "{lost_now:?} too early ({:?})", self.clock)
            }
            Some(other) => panic!("handle_timeout lost the connection with {other:?}"),
        }
        // A closed connection can only be given up on for its writes: it
        // reports no loss, and may be dropped at once.
        let closed_gave_up = lost_now.is_none()
            && matches!(state, State::Closed { .. })
            && self.conn.may_close_transport()
            && self.conn.output_len() > 0;
        if closed_gave_up {
            assert!(
                write_may,
                "a closed connection given up on ({:?})",
                self.clock
            );
        }
        self.gave_up = lost_now.is_some() || closed_gave_up;
        // The message timeout fails the connection as a protocol error
        // would (1008); then no other timer acts in this call.
        let timed_out =
            lost_now.is_none() && !matches!(state, State::Closed { .. }) && self.conn.is_closed();
        if timed_out {
            assert!(
                message_due,
                "handle_timeout({at:?}) closed the connection ({:?}) with no message overdue ({:?})",
                self.conn.state(),
                self.clock
            );
            assert_eq!(
                self.conn.state(),
                State::Closed {
                    clean: false,
                    initiator: Initiator::Local
                },
                "state after the message timeout"
            );
            let close_len = match (state, self.role) {
                (State::Open, Role::Client) => 8,
                (State::Open, Role::Server) => 4,
                _ => 0,
            };
            let grown = self.conn.output_len() - out_before;
            assert_eq!(grown, close_len, "the message timeout's close frame");
            if state == State::Open {
                self.expected.push_back(Event::Close(CloseFrame {
                    code: Some(CloseCode::POLICY_VIOLATION),
                    reason: String::new(),
                }));
            }
            self.message_failed = Some(queued_before);
            self.after_step();
            return;
        }
        if message_due && !self.gave_up {
            panic!(
                "handle_timeout({at:?}): the message in progress is overdue but the connection is {:?} ({:?})",
                self.conn.state(),
                self.clock
            );
        }
        if write_must || keepalive_lost || close_lost {
            assert!(
                self.gave_up,
                "handle_timeout({at:?}) did not give up (write {write_must}, keepalive {keepalive_lost}, close {close_lost}; {:?})",
                self.clock
            );
        }
        if lost_now.is_some() {
            self.abandoned(state, out_before);
        } else if !self.gave_up {
            let grown = self.conn.output_len() - out_before;
            if ping_due {
                // An empty ping (any byte from the peer proves it alive).
                let ping_len = if self.role == Role::Client { 6 } else { 2 };
                assert_eq!(grown, ping_len, "the keepalive ping is {grown} bytes");
                let tail = &self.pending_bytes()[out_before..];
                let decoded = FrameHeader::decode(tail);
                assert!(
                    matches!(decoded, Ok(Some((h, _))) if h.opcode == OpCode::Ping && h.payload_len == 0),
                    "the keepalive ping: {decoded:?}"
                );
                self.clock.ping_out = Some(now);
                self.expected.push_back(Event::Ping(Default::default()));
            } else {
                assert_eq!(grown, 0, "handle_timeout({at:?}) queued {grown} bytes");
            }
        } else {
            assert_eq!(
                self.conn.output_len(),
                out_before,
                "output of a closed connection"
            );
        }
        self.after_step();
    }

    /// A timer gave up on the connection in `state`: nothing queued was
    /// dropped or appended to, and if it was open with nothing queued
    /// (`out_before`), a close frame with 1001 was queued (§7.4.1). A close
    /// after queued output could follow half a frame, where the peer would
    /// read it as payload (K3, fixed).
    fn abandoned(&mut self, state: State, out_before: usize) {
        let out = self.conn.output_len();
        let was_open = state == State::Open;
        if was_open && out_before == 0 {
            let close_len = if self.role == Role::Client { 8 } else { 4 };
            assert_eq!(out, close_len, "output after giving up");
            self.frames.clear();
            self.checked = 0;
            self.expected.clear();
            self.late_pongs.clear();
            self.expected.push_back(Event::Close(CloseFrame {
                code: Some(CloseCode::GOING_AWAY),
                reason: String::new(),
            }));
        } else {
            assert_eq!(
                out, out_before,
                "giving up appends nothing to queued output"
            );
        }
        self.sending = None;
    }

    // ---- sending -------------------------------------------------------

    /// Checks a call's result against the documented rules: `ok` says
    /// whether it must succeed. A failed call changes nothing.
    fn usage<T: core::fmt::Debug>(
        &mut self,
        call: &str,
        result: Result<(), UsageError>,
        ok: bool,
        before: (State, usize),
        extra: T,
    ) -> bool {
        match (result, ok) {
            (Ok(()), true) => {
                // For the output bound: what our own calls queue.
                self.sent_since += self.conn.output_len() - before.1;
            }
            (Err(e), false) => {
                assert_eq!(
                    self.conn.state(),
                    before.0,
                    "{call} failed with {e:?} and changed the state"
                );
                assert_eq!(
                    self.conn.output_len(),
                    before.1,
                    "{call} failed with {e:?} and queued bytes"
                );
            }
            (result, _) => panic!(
                "{call} returned {result:?} in state {:?} (sending {:?}): {extra:?}",
                before.0,
                self.sending.as_ref().map(|s| s.0)
            ),
        }
        ok
    }

    fn before(&self) -> (State, usize) {
        (self.conn.state(), self.conn.output_len())
    }

    /// `send` (a whole message).
    pub fn send(&mut self, message: Message) {
        let before = self.before();
        let result = self.conn.send(&message);
        // A whole message may not start while a fragmented one is open (§5.4,
        // `UsageError::FragmentOrder`).
        let ok = before.0 == State::Open && self.sending.is_none();
        if self.usage("send", result, ok, before, message.kind()) {
            self.check_compressed(before.1, true, message.len(), true);
            self.expected.push_back(Event::Message(message));
        }
        self.after_step();
    }

    /// `send_text`/`send_binary` (whole) or `send_*_fragment`.
    pub fn send_data(&mut self, kind: MessageKind, data: &[u8], fragment: bool, fin: bool) {
        let before = self.before();
        let text = || core::str::from_utf8(data).expect("text to send is UTF-8");
        let result = match (kind, fragment) {
            (MessageKind::Text, false) => self.conn.send_text(text()),
            (MessageKind::Binary, false) => self.conn.send_binary(data),
            (MessageKind::Text, true) => self.conn.send_text_fragment(text(), fin),
            (MessageKind::Binary, true) => self.conn.send_binary_fragment(data, fin),
        };
        let order_ok = match &self.sending {
            None => true,
            Some((open, _)) => fragment && *open == kind,
        };
        let ok = before.0 == State::Open && order_ok;
        let call = if fragment {
            "send fragment"
        } else {
            "send whole"
        };
        if self.usage(call, result, ok, before, (kind, data.len(), fin)) {
            let first = self.sending.is_none();
            self.check_compressed(before.1, first, data.len(), fin || !fragment);
            self.sent_data(kind, data, fragment, fin);
        }
        self.after_step();
    }

    /// The frame a successful send queued at `at` in `output()`: RSV1
    /// exactly when `DeflateConfig` says a message is compressed (the
    /// first frame of a whole message of at least `threshold` bytes or of
    /// any fragmented one, when this end's window is at least 9 bits).
    fn check_compressed(&mut self, at: usize, first: bool, len: usize, fin: bool) {
        let Ok(Some((header, _))) = FrameHeader::decode(&self.pending_bytes()[at..]) else {
            panic!("a send queued no frame");
        };
        let compressed =
            first && self.send_bits.is_some() && (!fin || len >= self.config.deflate.threshold);
        assert_eq!(
            header.rsv & 0b100 != 0,
            compressed,
            "RSV1 of a sent frame (first {first}, {len} bytes, fin {fin}, window {:?})",
            self.send_bits
        );
    }

    fn sent_data(&mut self, kind: MessageKind, data: &[u8], fragment: bool, fin: bool) {
        let (_, mut all) = self.sending.take().unwrap_or((kind, Vec::new()));
        all.extend_from_slice(data);
        if fragment && !fin {
            self.sending = Some((kind, all));
        } else {
            let message = match kind {
                MessageKind::Text => Message::from(String::from_utf8(all).unwrap()),
                MessageKind::Binary => Message::from(all),
            };
            self.expected.push_back(Event::Message(message));
        }
    }

    pub fn ping(&mut self, payload: &[u8]) {
        let before = self.before();
        let result = self.conn.ping(payload);
        let ok = before.0 == State::Open && payload.len() <= 125;
        if self.usage("ping", result, ok, before, payload.len()) {
            self.expected
                .push_back(Event::Ping(payload.to_vec().into()));
        }
        self.after_step();
    }

    /// `pong`: allowed while our close is out too, to answer a ping (§5.5.2).
    pub fn pong(&mut self, payload: &[u8]) {
        let before = self.before();
        let result = self.conn.pong(payload);
        let ok = matches!(before.0, State::Open | State::LocalClosing) && payload.len() <= 125;
        if self.usage("pong", result, ok, before, payload.len()) {
            self.expect_pong(payload.to_vec());
        }
        self.after_step();
    }

    fn expect_pong(&mut self, payload: Vec<u8>) {
        if self.sent_close {
            self.late_pongs.push_back(payload);
        } else {
            self.expected.push_back(Event::Pong(payload.into()));
        }
    }

    pub fn close(&mut self, code: u16, reason: &str) {
        let before = self.before();
        let result = self.conn.close(CloseCode(code), reason);
        let ok = before.0 == State::Open && close_code_valid(code) && 2 + reason.len() <= 125;
        if self.usage("close", result, ok, before, (code, reason.len())) {
            assert_eq!(self.conn.state(), State::LocalClosing);
            self.sending = None;
            let frame = CloseFrame {
                code: Some(CloseCode(code)),
                reason: reason.into(),
            };
            self.expected.push_back(Event::Close(frame));
        }
        self.after_step();
    }

    // ---- the end -------------------------------------------------------

    /// Writes everything, then compares the whole run with the model and
    /// what the peer read with what was sent; then lets a closed
    /// connection's lingering close end (the peer's end of the transport,
    /// or `close_timeout`) and checks that the transport may then go.
    pub fn finish(mut self) {
        self.advance_all();
        assert!(
            self.expected.is_empty(),
            "never written: {:?}",
            self.expected
        );
        assert!(
            self.late_pongs.is_empty(),
            "pongs never queued: {:?}",
            self.late_pongs
        );

        if self.conn.is_closed() {
            if !self.conn.may_close_transport() {
                // Closed and flushed: only the peer's end is awaited, for
                // `close_timeout` at most.
                assert!(
                    !self.conn.is_eof(),
                    "closed, flushed, at end-of-file, may not close"
                );
                let now = self.clock.now;
                self.handle_timeout(now);
                self.clock.now = after(now, self.config.close_timeout);
                self.handle_timeout(self.clock.now);
                self.advance_all();
                assert!(
                    self.conn.may_close_transport(),
                    "closed, flushed, close_timeout passed, may not close ({:?})",
                    self.clock
                );
            }
        } else {
            assert!(!self.conn.may_close_transport());
        }
        self.check_model();
    }
}
