//! Drives one [`Connection`] through a script and checks, after every step,
//! what the brief promises of it:
//!
//! * it never panics; it returns at most one `Err`, and after it
//!   `poll_event` only returns `Ok(None)`;
//! * its state only moves forward (Open → LocalClosing → Closed) and stays
//!   put once closed;
//! * `pending()` is always a sequence of whole, valid frames, masked by a
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
//!   far, and the connection has failed exactly when those bytes call for it.

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
/// tolerated") fail the run instead of being tolerated.
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("RFC6455_FUZZ_STRICT").is_some_and(|v| v != "0"))
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
    /// Output was over the high-water mark at every `handle_timeout` since
    /// this time, with nothing written since.
    stalled_since: Option<Duration>,
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
    /// Known bug K3 hit (tolerated): the peer's stream is no longer valid,
    /// so it is no longer fed or compared.
    peer_broken: bool,
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
}

impl Driver {
    pub fn new(role: Role, config: Config, deflate: Option<DeflateParams>) -> Self {
        KEY_COUNTER.store(0, Ordering::Relaxed);
        let reference = Reference::new(
            role,
            config.max_frame_size,
            config.max_message_size,
            deflate,
        );
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
            peer_broken: false,
            inbox: Vec::new(),
            undrained: 0,
            sent_since: 0,
            reply_input: 0,
            clock: Clock::default(),
            gave_up: false,
            may_closed: false,
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
        self.written + self.conn.pending_len()
    }

    // ---- input ---------------------------------------------------------

    /// `receive`, then drain events.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.conn.receive(bytes);
        self.record(bytes);
        self.drain();
    }

    /// `receive_buffer(lend)`, fill it with `bytes` (at most `lend` of them)
    /// then garbage, `commit_received(commit)`, drain. Only the committed
    /// bytes may ever be read.
    pub fn receive_lent(&mut self, lend: usize, bytes: &[u8], commit: usize) {
        let buf = self.conn.receive_buffer(lend);
        assert_eq!(
            buf.len(),
            lend,
            "receive_buffer lent a buffer of the wrong size"
        );
        let n = bytes.len().min(lend);
        buf[..n].copy_from_slice(&bytes[..n]);
        buf[n..].fill(0xEE);
        self.conn.commit_received(commit);
        let committed = commit.min(lend);
        let mut got = bytes[..n.min(committed)].to_vec();
        got.resize(committed, 0xEE);
        self.record(&got);
        self.drain();
    }

    /// `receive_buffer(lend)` filled with garbage and never committed: the
    /// next call must drop it.
    pub fn lend_only(&mut self, lend: usize) {
        self.conn.receive_buffer(lend).fill(0x88);
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
                    self.after_step();
                    self.check_model();
                    break;
                }
                Ok(Some(event)) => {
                    assert!(
                        self.error.is_none(),
                        "event {event:?} after error {:?}",
                        self.error
                    );
                    self.on_event(event, before);
                }
                Err(e) => {
                    assert!(
                        self.error.is_none(),
                        "second error {e:?} after {:?}",
                        self.error
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
        }
        self.events.push(event.clone());
        if let (true, Event::Message(message), State::Open) = (self.echo, &event, self.conn.state())
        {
            self.send(message.clone());
        }
    }

    fn on_error(&mut self, error: ProtocolError, before: State, queued_before: usize) {
        let state = self.conn.state();
        let initiator = if error == ProtocolError::AbnormalClosure {
            Initiator::Remote
        } else {
            Initiator::Local
        };
        assert_eq!(
            state,
            State::Closed {
                clean: false,
                initiator
            },
            "state after {error:?}"
        );
        assert_ne!(before, state, "an error from a closed connection");
        if before == State::Open && error != ProtocolError::AbnormalClosure {
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
        if self.conn.may_close_transport() {
            assert!(matches!(state, State::Closed { .. }) && (self.conn.pending_len() == 0));
        }
        self.state = state;
        self.check_output();
        if let Some(at) = self.queued_at_error {
            // After the error: at most the one close frame (2 + 2 + mask).
            let grown = self.queued() - at;
            assert!(grown <= 8, "{grown} bytes queued after the error");
        }
    }

    /// Compares the events and the error so far with the reference receiver.
    fn check_model(&mut self) {
        let expected = &self.reference.events;
        let ending = self.reference.ending();
        assert!(
            self.events.len() == expected.len()
                && self.events[self.events_checked..] == expected[self.events_checked..],
            "events differ from the model (ending {ending:?}, error {:?}):\n got {:?}\nwant {:?}",
            self.error,
            &self.events[self.events_checked..],
            &expected[self.events_checked.min(expected.len())..]
        );
        self.events_checked = self.events.len();
        model::check_ending(&ending, self.error, self.eof);
    }

    /// All pending output: `pending_chunks` joined. `pending()` must be
    /// the first chunk, and `pending_len()` their total.
    fn pending_bytes(&self) -> Vec<u8> {
        let chunks: Vec<&[u8]> = self.conn.pending_chunks().collect();
        assert!(
            chunks.iter().all(|c| !c.is_empty()),
            "an empty pending chunk"
        );
        assert_eq!(self.conn.pending(), chunks.first().copied().unwrap_or(&[]));
        let all = chunks.concat();
        assert_eq!(all.len(), self.conn.pending_len(), "pending_len()");
        all
    }

    /// Parses the frames queued since the last check.
    fn check_output(&mut self) {
        let pending = self.pending_bytes();
        let pending = &pending[..];
        assert!(
            self.checked <= pending.len(),
            "pending() lost bytes that were not advanced"
        );
        let mut pos = self.checked;
        while pos < pending.len() {
            let rest = &pending[pos..];
            let (header, n) = match FrameHeader::decode(rest) {
                Ok(Some(decoded)) => decoded,
                other => panic!("pending() holds no valid frame at {pos}: {other:?}"),
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
            assert!(end <= pending.len(), "pending() ends inside a frame");
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
            pos = end;
        }
        self.checked = pos;
    }

    // ---- output --------------------------------------------------------

    /// `advance(n)`; the bytes written go to the peer.
    pub fn advance(&mut self, n: usize) {
        self.check_output();
        let len = self.conn.pending_len();
        let k = n.min(len);
        self.peer.receive(&self.pending_bytes()[..k]);
        self.conn.advance(n);
        assert_eq!(
            self.conn.pending_len(),
            len - k,
            "advance({n}) with {len} pending"
        );
        self.checked -= k;
        self.written += k;
        self.drain_peer();
    }

    pub fn advance_all(&mut self) {
        self.advance(self.conn.pending_len());
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
        let n = self.peer.pending_len();
        self.peer.advance(n);
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
            (Ok(()), true) => {}
            (Err(e), false) => {
                assert_eq!(
                    self.conn.state(),
                    before.0,
                    "{call} failed with {e:?} and changed the state"
                );
                assert_eq!(
                    self.conn.pending_len(),
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
        (self.conn.state(), self.conn.pending_len())
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

    /// The frame a successful send queued at `at` in `pending()`: RSV1
    /// exactly when `DeflateConfig` says a message is compressed (the
    /// first frame of a whole message of at least `threshold` bytes or of
    /// any fragmented one, when this end's window is at least 9 bits).
    fn check_compressed(&self, at: usize, first: bool, len: usize, fin: bool) {
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
    /// what the peer read with what was sent.
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
        let state = self.conn.state();
        if let State::Closed { .. } = state {
            if self.role == Role::Server {
                assert!(
                    self.conn.may_close_transport(),
                    "a closed server with nothing pending may not close"
                );
            }
        } else {
            assert!(!self.conn.may_close_transport());
        }
        self.check_model();
    }
}
