//! The fuzz input of the connection targets, decoded with `arbitrary`
//! (derive), and the code that plays it against a [`Driver`].
//!
//! Every field is a fixed-size integer or bool and every enum a 4-byte tag,
//! so an input is read strictly front to back (nothing is taken from its
//! end) and [`crate::seed`] can write inputs by hand.

use std::sync::OnceLock;

use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use rfc6455::{Config, Keepalive, MessageKind, Role};

use crate::deflate::{DeflateSetup, Flush, Sender, bomb};
use crate::driver::{Driver, MAX_QUEUED};
use crate::wire::{DEFINED_OPCODES, build_frame};

/// Role and limits: the first bytes of every connection input.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub client: bool,
    pub auto_pong: bool,
    /// `max_frame_size` = this % 4097 (at most 4 KiB).
    pub max_frame: u16,
    /// `max_message_size` = this % 16385 (at most 16 KiB).
    pub max_message: u16,
    /// How the raw tail is cut into reads: 0 = in one read, else reads of
    /// 1..=chunk bytes.
    pub chunk: u8,
    /// Report end-of-file after the last byte.
    pub eof: bool,
    /// Echo every message received while open.
    pub echo: bool,
    /// The permessage-deflate agreement, or none.
    pub deflate: DeflateSetup,
    /// High-water marks and timers.
    pub flow: Flow,
}

/// The high-water marks and the timers of a connection input (the last
/// bytes of its `Setup`). Times are in steps of [`TIMER_STEP`] (100 ms).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// `Config::input_high_water` in bytes (below 1 KiB it counts as 1 KiB).
    pub input_high_water: u16,
    /// `Config::output_high_water` in bytes.
    pub output_high_water: u16,
    /// `Keepalive::ping_after`; 0xFF: no keepalive.
    pub ping_after: u8,
    /// `Keepalive::timeout`.
    pub ping_timeout: u8,
    /// `Config::close_timeout`.
    pub close_timeout: u8,
    /// `Config::write_timeout`; 0xFF: none.
    pub write_timeout: u8,
    /// `Config::max_frames_per_message`; 0xFF: the default (2^17).
    pub max_frames: u8,
    /// `Config::message_timeout`; 0xFF: none.
    pub message_timeout: u8,
}

/// The unit of [`Flow`]'s times.
pub const TIMER_STEP: Duration = Duration::from_millis(100);

impl Flow {
    /// Close to the crate's defaults (64 KiB marks less one byte, ping after
    /// 20 s, lost 20 s later, 10 s to close, 25.4 s to write, 2^17 frames a
    /// message, 25.4 s a message): what the seeds use unless they are about
    /// flow control, time or fragments.
    pub const DEFAULT: Flow = Flow {
        input_high_water: 0xFFFF,
        output_high_water: 0xFFFF,
        ping_after: 200,
        ping_timeout: 200,
        close_timeout: 100,
        write_timeout: 254,
        max_frames: 0xFF,
        message_timeout: 254,
    };

    fn time(steps: u8) -> Duration {
        TIMER_STEP * u32::from(steps)
    }

    pub fn keepalive(&self) -> Option<Keepalive> {
        (self.ping_after != 0xFF)
            .then(|| Keepalive::new(Self::time(self.ping_after), Self::time(self.ping_timeout)))
    }

    pub fn write_timeout(&self) -> Option<Duration> {
        (self.write_timeout != 0xFF).then(|| Self::time(self.write_timeout))
    }

    pub fn close_timeout(&self) -> Duration {
        Self::time(self.close_timeout)
    }

    pub fn message_timeout(&self) -> Option<Duration> {
        (self.message_timeout != 0xFF).then(|| Self::time(self.message_timeout))
    }

    pub fn max_frames(&self) -> u32 {
        match self.max_frames {
            0xFF => Config::default().max_frames_per_message,
            n => u32::from(n),
        }
    }
}

impl Setup {
    pub fn role(&self) -> Role {
        if self.client {
            Role::Client
        } else {
            Role::Server
        }
    }

    pub fn config(&self) -> Config {
        Config::default()
            .max_frame_size(usize::from(self.max_frame) % 4097)
            .max_message_size(usize::from(self.max_message) % 16385)
            .auto_pong(self.auto_pong)
            .deflate(self.deflate.config(self.role()))
            .input_high_water(usize::from(self.flow.input_high_water))
            .output_high_water(usize::from(self.flow.output_high_water))
            .keepalive(self.flow.keepalive())
            .close_timeout(self.flow.close_timeout())
            .write_timeout(self.flow.write_timeout())
            .max_frames_per_message(self.flow.max_frames())
            .message_timeout(self.flow.message_timeout())
    }
}

/// One step of a script.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `receive` the next `len` bytes of the raw tail.
    Receive {
        len: u16,
    },
    /// Read the next bytes of the raw tail through `receive_buffer(lend)` and
    /// `commit_received(commit)`.
    ReceiveLent {
        lend: u16,
        commit: u16,
    },
    /// `receive_buffer` filled with garbage and never committed.
    LendOnly {
        lend: u8,
    },
    /// `receive` one frame built from a spec (in two reads).
    Frame(FrameSpec),
    ReceiveEof,
    /// Text of `len % 2048` bytes (or fewer, to end on a character).
    SendText {
        len: u16,
        fragment: bool,
        fin: bool,
    },
    /// `len % 2048` bytes, plus 64 KiB if `big` (the 64-bit length form),
    /// unless we compress with a window under 12 bits (sliding a small
    /// window over 64 KiB is too slow instrumented).
    SendBinary {
        len: u16,
        big: bool,
        fragment: bool,
        fin: bool,
    },
    Ping {
        len: u8,
    },
    Pong {
        len: u8,
    },
    Close {
        code: u16,
        reason_len: u8,
    },
    Advance {
        n: u16,
    },
    AdvanceAll,
    /// `receive` a whole compressed message (RFC 7692), in frames.
    Deflated(DeflateSpec),
    /// Read the next `lend % 8192` bytes of the raw tail into
    /// `lend_receive_buffer(lend)` and hand them over with `receive_owned`
    /// (`mode % 3`: 0 the lent buffer, 1 a buffer of our own, the lent one
    /// dropped, 2 the lent buffer dropped and nothing handed over).
    ReceiveOwned {
        lend: u16,
        mode: u8,
    },
    /// Moves the simulated clock and calls `handle_timeout` (see [`Tick`]).
    Time(Tick),
    /// `keep_read_buffer(keep)`: bulk lends (8 KiB and more, from
    /// `ReceiveLent`) into an empty buffer then reuse one store.
    KeepReadBuffer {
        keep: bool,
    },
}

/// A step of the simulated clock.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// How far, in units of `unit % 8`: 1 ms, 100 ms, 1 s, 1 h, 10 ms,
    /// 10 ms, 10 s; 7 jumps the clock to `ms` milliseconds before the end
    /// of time (`Duration::MAX`), where deadlines saturate.
    pub ms: u16,
    /// Bit 7: then call `handle_timeout(now)` again while `poll_timeout()`
    /// says it is due (an event loop that wakes at once), which must stop.
    pub unit: u8,
    /// Call `handle_timeout` with a time that much *before* the clock
    /// (which stays put): it must count as the clock's time. With bit 7 of
    /// `unit` the connection is settled first, and then nothing observable
    /// may change.
    pub back: bool,
}

impl Tick {
    /// The step this tick makes.
    pub fn step(&self) -> Duration {
        let unit = match self.unit % 8 {
            0 | 7 => Duration::from_millis(1),
            1 => Duration::from_millis(100),
            2 => Duration::from_secs(1),
            3 => Duration::from_secs(3600),
            4 | 5 => Duration::from_millis(10),
            _ => Duration::from_secs(10),
        };
        unit * u32::from(self.ms)
    }

    /// Whether this tick jumps to near the end of time.
    pub fn far(&self) -> bool {
        self.unit % 8 == 7
    }

    pub fn settle(&self) -> bool {
        self.unit & 0x80 != 0
    }
}

/// A frame to receive: well formed unless the fuzzer picks otherwise.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpec {
    pub fin: bool,
    /// Below 0xF0: RSV bits 0; else the low three bits.
    pub rsv: u8,
    /// Below 0xC0: one of the six defined opcodes (this % 6); else the low
    /// four bits, reserved opcodes included.
    pub opcode: u8,
    /// 0: unmasked; 1: masked; else what the receiving role requires.
    pub mask: u8,
    /// Payload length (% 4200).
    pub len: u16,
    pub payload: Payload,
    /// Where the frame's bytes are cut into two reads (% (frame length + 1)).
    pub split: u16,
    /// 0xFF: write the length in a longer form than needed (§5.2 forbids it).
    pub quirks: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// The next `len` bytes of a valid UTF-8 text; a new text message starts
    /// it over and a final frame ends on a character boundary, so fragments
    /// split characters anywhere and still join up.
    Text,
    /// `len` pseudo-random bytes.
    Bytes { seed: u8 },
    /// Text with the byte at `at % len` replaced.
    Corrupt { at: u16, byte: u8 },
    /// A close payload: a code (below 0x8000: a valid one from a list; else
    /// any) and a reason of `reason_len & 0x7F` bytes, invalid UTF-8 when
    /// the top bit is set.
    Close { code: u16, reason_len: u8 },
}

/// A compressed message to receive: compressed by the peer's own
/// compressor (flate2, context kept across messages as agreed), cut into
/// frames anywhere, with RSV1 on the first; or damaged on purpose.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateSpec {
    /// A text message (else binary).
    pub text: bool,
    /// What is compressed: below 0xA0 the running valid text; below 0xC0
    /// that text with the byte at `at` replaced; below 0xE0 pseudo-random
    /// bytes; else a bomb: zeros, 16 KiB + 1 to 8 MiB (`len % 4` picks).
    pub source: u8,
    /// Uncompressed length % 6000 (bombs go past the 16 KiB limit; longer
    /// text would only slow the run: compressing with a small window slides
    /// it, and the instrumented slide is slow).
    pub len: u16,
    /// The message goes out in 1 + frames % 6 frames ...
    pub frames: u8,
    /// ... cut at points an xorshift from this seed picks.
    pub cuts: u16,
    /// How the sender flushes ([`Flush::from_byte`]).
    pub flush: u8,
    /// The window of a new compressor: 9 + this % (the receiver's - 8).
    pub window: u8,
    /// The level of a new compressor (% 10).
    pub level: u8,
    /// Below 0xC0: none; else one of eight kinds (this % 8): flip a
    /// compressed byte, cut the compressed bytes short, append garbage,
    /// RSV1 on the last continuation too, no RSV1 at all, a ping with RSV1
    /// between the frames, keep the context despite an agreed
    /// no_context_takeover, RSV2/RSV3 on the first frame.
    pub damage: u8,
    /// Where the damage goes.
    pub at: u16,
    /// Bit i: a ping after frame i.
    pub pings: u8,
    /// Where each frame's bytes are cut into two reads (% (length + 1)).
    pub split: u16,
}

/// Text with characters of every width, and the edges of each width.
pub const TEXT: &str =
    "Hello, κόσμε! €😀 \u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff} ascii ";

/// Close codes a peer may send.
const CODES: [u16; 15] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
];

/// [`TEXT`] repeated past the longest text a script asks for.
fn repeated() -> &'static str {
    static REPEATED: OnceLock<String> = OnceLock::new();
    REPEATED.get_or_init(|| TEXT.repeat(0x2_0000 / TEXT.len() + 2))
}

/// The longest prefix of the repeated [`TEXT`] of at most `len` bytes
/// that ends on a character boundary. (Slices of precomputed buffers: the
/// harness is instrumented too, and byte loops here would dominate a run.)
pub fn text(len: usize) -> &'static str {
    let r = repeated();
    let mut end = len.min(r.len());
    while !r.is_char_boundary(end) {
        end -= 1;
    }
    &r[..end]
}

/// Bytes `from..to` of the repeated [`TEXT`].
fn text_bytes(from: usize, to: usize) -> &'static [u8] {
    let start = from % TEXT.len();
    &repeated().as_bytes()[start..start + (to - from)]
}

/// `len` (at most 0x20000) pseudo-random bytes, a different run per seed.
fn pseudo_random(seed: u8, len: usize) -> &'static [u8] {
    static RANDOM: OnceLock<Vec<u8>> = OnceLock::new();
    let random = RANDOM.get_or_init(|| {
        let mut x = 0x9E37_79B9u32;
        (0..0x2_0000 + 256 * 61)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    });
    let start = usize::from(seed) * 61;
    &random[start..start + len]
}

pub fn close_code(code: u16) -> u16 {
    if code < 0x8000 {
        CODES[usize::from(code) % CODES.len()]
    } else {
        code
    }
}

/// Plays ops against a driver, taking raw bytes from `tail`.
pub struct Player<'a> {
    pub driver: Driver,
    pub tail: &'a [u8],
    /// Where the next text fragment continues in the repeated [`TEXT`].
    text_pos: usize,
    /// The peer's compressor, when permessage-deflate is agreed.
    sender: Option<Sender>,
}

impl<'a> Player<'a> {
    pub fn new(setup: &Setup, tail: &'a [u8]) -> Self {
        let params = setup.deflate.params();
        let mut driver = Driver::new(setup.role(), setup.config(), params);
        driver.echo = setup.echo;
        Player {
            driver,
            tail,
            text_pos: 0,
            sender: params.map(|p| Sender::new(setup.role(), &p)),
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.tail.split_at(n.min(self.tail.len()));
        self.tail = rest;
        head
    }

    /// Runs one op; `false` once the run should stop (too much queued).
    pub fn play(&mut self, op: Op) -> bool {
        if crate::driver::trace() {
            eprintln!("op {op:?}");
        }
        let d = &mut self.driver;
        match op {
            Op::Receive { len } => {
                let bytes = self.take(usize::from(len));
                self.driver.receive(bytes);
            }
            Op::ReceiveLent { lend, commit } => {
                // Up to 24 KiB: bulk lends too (8 KiB and more).
                let lend = usize::from(lend) % (24 * 1024);
                let commit = usize::from(commit);
                let bytes = self.take(lend.min(commit));
                self.driver.receive_lent(lend, bytes, commit);
            }
            Op::LendOnly { lend } => d.lend_only(usize::from(lend)),
            Op::Frame(spec) => self.frame(spec),
            Op::ReceiveEof => d.receive_eof(),
            Op::SendText { len, fragment, fin } => {
                let t = text(usize::from(len) % 2048);
                d.send_data(MessageKind::Text, t.as_bytes(), fragment, fin);
            }
            Op::SendBinary {
                len,
                big,
                fragment,
                fin,
            } => {
                let big = big && d.send_bits().is_none_or(|bits| bits >= 12);
                let len = usize::from(len) % 2048 + if big { 0x10000 } else { 0 };
                d.send_data(
                    MessageKind::Binary,
                    pseudo_random(len as u8, len),
                    fragment,
                    fin,
                );
            }
            Op::Ping { len } => d.ping(text(usize::from(len)).as_bytes()),
            Op::Pong { len } => d.pong(pseudo_random(len, usize::from(len))),
            Op::Close { code, reason_len } => {
                d.close(close_code(code), text(usize::from(reason_len)))
            }
            Op::Advance { n } => d.advance(usize::from(n)),
            Op::AdvanceAll => d.advance_all(),
            Op::Deflated(spec) => self.deflated(spec),
            Op::ReceiveOwned { lend, mode } => {
                let lend = usize::from(lend) % 8192;
                let bytes = self.take(lend);
                self.driver.receive_owned(lend, bytes, mode % 3);
            }
            Op::Time(tick) => self.driver.time(tick),
            Op::KeepReadBuffer { keep } => self.driver.keep_read_buffer(keep),
        }
        self.driver.queued() < MAX_QUEUED
    }

    fn frame(&mut self, spec: FrameSpec) {
        let opcode = if spec.opcode < 0xC0 {
            DEFINED_OPCODES[usize::from(spec.opcode) % 6]
        } else {
            spec.opcode & 0xF
        };
        let rsv = if spec.rsv >= 0xF0 { spec.rsv & 7 } else { 0 };
        let masked = match spec.mask {
            0 => false,
            1 => true,
            _ => self.driver.role() == Role::Server,
        };
        let len = usize::from(spec.len) % 4200;
        let payload = match spec.payload {
            Payload::Text | Payload::Corrupt { .. } => {
                if opcode != 0x0 {
                    self.text_pos = 0;
                }
                let from = self.text_pos;
                let mut to = from + len;
                if spec.fin {
                    // End the message on a character boundary.
                    while !text_boundary(to) {
                        to += 1;
                    }
                }
                self.text_pos = to;
                let mut bytes = text_bytes(from, to).to_vec();
                if let (Payload::Corrupt { at, byte }, false) = (spec.payload, bytes.is_empty()) {
                    let i = usize::from(at) % bytes.len();
                    bytes[i] = byte;
                }
                bytes
            }
            Payload::Bytes { seed } => pseudo_random(seed, len).to_vec(),
            Payload::Close { code, reason_len } => {
                let mut p = close_code(code).to_be_bytes().to_vec();
                p.extend_from_slice(text(usize::from(reason_len & 0x7F)).as_bytes());
                if reason_len & 0x80 != 0 {
                    p.push(0xC0);
                }
                p
            }
        };
        let key = [spec.len as u8, spec.split as u8, 0x5A, spec.opcode];
        let bytes = build_frame(
            spec.fin,
            rsv,
            opcode,
            masked.then_some(key),
            &payload,
            spec.quirks == 0xFF,
        );
        let cut = usize::from(spec.split) % (bytes.len() + 1);
        self.driver.receive(&bytes[..cut]);
        self.driver.receive(&bytes[cut..]);
    }

    /// Receives a compressed message built from `spec`. Without an
    /// agreement the same frames arrive (RSV1 is then a protocol error).
    fn deflated(&mut self, spec: DeflateSpec) {
        let len = usize::from(spec.len) % 6000;
        let damage = (spec.damage >= 0xC0).then_some(spec.damage % 8);
        let frames = 1 + usize::from(spec.frames % 6);
        let mut cuts_seed = u32::from(spec.cuts) | 0x1_0000;
        let mut cut_points = |n: usize| {
            let mut at: Vec<usize> = (1..frames)
                .map(|_| {
                    cuts_seed ^= cuts_seed << 13;
                    cuts_seed ^= cuts_seed >> 17;
                    cuts_seed ^= cuts_seed << 5;
                    cuts_seed as usize % (n + 1)
                })
                .collect();
            at.sort_unstable();
            at
        };
        // The uncompressed message.
        let data: Vec<u8> = match spec.source {
            0..=0xBF => {
                let mut t = text(len).as_bytes().to_vec();
                if spec.source >= 0xA0 && !t.is_empty() {
                    let i = usize::from(spec.at) % t.len();
                    t[i] = (spec.at >> 8) as u8;
                }
                t
            }
            0xC0..=0xDF => pseudo_random(spec.source, len).to_vec(),
            _ => Vec::new(),
        };
        let flush = Flush::from_byte(spec.flush);
        // The compressed payloads of the frames.
        let mut payloads: Vec<Vec<u8>> = if spec.source >= 0xE0 {
            vec![bomb(spec.len as u8).to_vec()]
        } else {
            let role = self.driver.role();
            // Without an agreement: compressed as if the defaults were agreed.
            let sender = self
                .sender
                .get_or_insert_with(|| Sender::new(role, &Default::default()));
            let pieces: Vec<&[u8]> = if flush == Flush::SyncEachPiece {
                let mut at = cut_points(data.len());
                at.push(data.len());
                let mut start = 0;
                at.iter()
                    .map(|&end| {
                        let piece = &data[start..end];
                        start = end;
                        piece
                    })
                    .collect()
            } else {
                vec![&data[..]]
            };
            let keep = damage == Some(6);
            sender.compress(&pieces, flush, spec.window, spec.level, keep)
        };
        if payloads.len() == 1 {
            // Cut the compressed bytes anywhere.
            let mut all = payloads.pop().unwrap_or_default();
            match damage {
                Some(0) if !all.is_empty() => {
                    let i = usize::from(spec.at) % all.len();
                    all[i] ^= (spec.at >> 8) as u8 | 1;
                }
                Some(1) => all.truncate(usize::from(spec.at) % (all.len() + 1)),
                Some(2) => all
                    .extend_from_slice(pseudo_random(spec.at as u8, usize::from(spec.at % 16) + 1)),
                _ => {}
            }
            let mut start = 0;
            for end in cut_points(all.len()).into_iter().chain([all.len()]) {
                payloads.push(all[start..end].to_vec());
                start = end;
            }
        }
        let n = payloads.len();
        let masked = self.driver.role() == Role::Server;
        for (i, payload) in payloads.iter().enumerate() {
            let first = i == 0;
            let last = i + 1 == n;
            let opcode = match (first, spec.text) {
                (true, true) => 0x1,
                (true, false) => 0x2,
                (false, _) => 0x0,
            };
            let rsv = match (first, damage) {
                (true, Some(4)) => 0,
                (true, Some(7)) => 0b100 | (1 + (spec.at as u8) % 3),
                (true, _) => 0b100,
                (false, Some(3)) if last => 0b100,
                (false, _) => 0,
            };
            let key = [i as u8, spec.split as u8, 0xA5, spec.cuts as u8];
            let bytes = build_frame(last, rsv, opcode, masked.then_some(key), payload, false);
            let cut = usize::from(spec.split) % (bytes.len() + 1);
            self.driver.receive(&bytes[..cut]);
            self.driver.receive(&bytes[cut..]);
            if !last && spec.pings >> (i % 8) & 1 != 0 {
                let rsv = if damage == Some(5) { 0b100 } else { 0 };
                let ping = build_frame(
                    true,
                    rsv,
                    0x9,
                    masked.then_some(key),
                    &[b'p', i as u8],
                    false,
                );
                self.driver.receive(&ping);
            }
        }
    }

    /// Feeds what is left of the tail in reads of `setup.chunk` bytes (an
    /// xorshift picks each size), writing everything after each read, like
    /// an event loop; then end-of-file if asked.
    pub fn finish(mut self, setup: &Setup) {
        let mut x = u32::from(setup.chunk) | 0x100;
        while !self.tail.is_empty() && self.driver.queued() < MAX_QUEUED {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let n = if setup.chunk == 0 {
                self.tail.len()
            } else {
                1 + x as usize % usize::from(setup.chunk)
            };
            let bytes = self.take(n);
            if x & 0x100 != 0 {
                self.driver.receive_lent(bytes.len(), bytes, bytes.len());
            } else {
                self.driver.receive(bytes);
            }
            self.driver.advance_all();
        }
        // What the connection did not take yet (backpressure) goes in now.
        self.driver.flush_inbox();
        if setup.eof {
            self.driver.receive_eof();
        }
        self.driver.finish();
    }
}

fn text_boundary(i: usize) -> bool {
    TEXT.is_char_boundary(i % TEXT.len())
}

/// The `connection` target: [`Setup`], a count, that many [`Op`]s, then raw
/// stream bytes fed in reads per `Setup::chunk`. With a count of 0 the
/// input is a setup plus a raw capture.
pub fn run_connection(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = u.arbitrary::<Setup>() else {
        return;
    };
    if crate::driver::trace() {
        eprintln!("{setup:?}");
    }
    let Ok(count) = u.arbitrary::<u8>() else {
        return;
    };
    let mut ops = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<Op>() else { return };
        ops.push(op);
    }
    let mut player = Player::new(&setup, u.take_rest());
    for op in ops {
        if !player.play(op) {
            break;
        }
    }
    player.finish(&setup);
}

/// The `connection_frames` target: [`Setup`], then [`Op`]s to the end of
/// the input (at most 256), with no raw tail: bytes arrive only as built
/// frames, so the fuzzer starts past the framing layer.
pub fn run_frames(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = u.arbitrary::<Setup>() else {
        return;
    };
    if crate::driver::trace() {
        eprintln!("{setup:?}");
    }
    let mut player = Player::new(&setup, &[]);
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = u.arbitrary::<Op>() else { return };
        if !player.play(op) {
            break;
        }
    }
    player.finish(&setup);
}
