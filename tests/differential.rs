//! Differential testing against Python's `wsproto` (pinned in
//! `tests/peers/requirements.txt`, installed by `bash tests/peers/setup.sh`;
//! a missing peer fails the test, it never skips).
//!
//! Proptest strategies, driven by a fixed seed, generate byte streams for
//! both roles: valid traffic (text with multi-byte UTF-8 and binary
//! messages fragmented any way, pings and pongs between fragments, close
//! frames with valid codes and reasons, frames after the close) and streams
//! broken in every way §5–§8 name (RSV bits, reserved opcodes, masking for
//! the wrong role, control frames too long or fragmented, continuation
//! without a start, a new message inside a fragmented one, invalid or
//! truncated UTF-8 in one frame or across fragments, close codes of every
//! value, one-byte close payloads, invalid close reasons, non-minimal and
//! MSB-set lengths, lengths past our frame limit), some with bytes flipped
//! or cut short. All cases go to ONE `python3 tests/peers/wsproto_diff.py`
//! process, which feeds each to a fresh `wsproto.connection.Connection` in
//! the same role and chunking and prints a normalised outcome: complete
//! messages, pings, pongs, the peer's close (code, reason), and the close
//! code of a failure. Our `Connection` computes the same outcome, and again
//! whole, byte by byte and in other chunk sizes (which must not change it),
//! and must have queued a close frame with the code of its failure.
//!
//! `WSDIFF_SEED=<u64>` explores other streams, `WSDIFF_CASES=<n>` sets the
//! number per role, `WSDIFF_EXAMPLES=1` prints one case of each verdict. A
//! disagreement prints the seed, the case, its plan and its bytes.
//!
//! # Deliberate differences
//!
//! Where the two disagree, the RFC decides. These classes are normalised,
//! each only as far as its check goes; any other disagreement fails the test.
//! `documented_differences_and_agreements_hold` pins a minimal stream per row.
//!
//! | # | stream | ours | wsproto 1.3.2 | RFC | verdict | normalised when |
//! |---|---|---|---|---|---|---|
//! | D1 | close frame with code 1014 | accepts it (and so checks its reason: 1007 if not UTF-8) | fails 1002 | §7.4.2: 1000–2999 are for this RFC and its extensions; §11.7: the IANA registry, which holds 1014 (bad gateway) beside 1012 and 1013 | ours: wsproto's `CloseReason` enum lacks 1014 (it accepts 1012 and 1013) | everything before the close is equal; there we report Close(1014) or fail 1007, wsproto fails 1002 |
//! | D2 | a frame declaring more than our `max_frame_size` (16 MiB by default) | fails 1009 on the header | waits for the payload (or fails on what follows, read as payload) | §10.4: implementations SHOULD limit frame and message size; §7.4.1: 1009 = too big to process | both allowed: the limit is ours to choose, wsproto has none | we fail 1009 on a frame whose header declares more than the limit, and both agree on the stream before that frame |
//! | D3 | a violation in a frame that is not complete, or in a message that is not finished, when the stream stops (or a close frame cuts the message short) | see D3a–c | see D3a–c | §5.1, §5.2, §5.4, §8.1: a receiver MUST fail once it finds the violation; they do not say how early it must look | both allowed | both agree on the stream before the frame; with the frame (and its message) completed, both agree and fail with the code of the side that failed early; and the cause is one of D3a–c |
//!
//! D3 by cause (code, side that fails early):
//! * D3a, header cut short (1002, wsproto): wsproto checks RSV bits and
//!   masking once the length field is in, before the 4-byte masking key; we
//!   decode the whole header first, so a stream ending inside the key fails
//!   in wsproto only.
//! * D3b, payload missing (1002, ours): we check fragment order (§5.4:
//!   continuation without a start, a new message inside a fragmented one)
//!   on the header, wsproto when the first payload byte arrives.
//! * D3c, UTF-8 in an unfinished text message (1007, ours): a fragment ends
//!   in `ED A0`–`ED BF`, the start of a UTF-16 surrogate, which no later
//!   byte can make valid. We fail at once (§8.1, as Autobahn's fail-fast
//!   cases 6.4.x expect); Python's incremental decoder waits for the next
//!   byte, so wsproto fails only if the message goes on, not if a close
//!   frame or the end of the stream comes first. It never delivers the
//!   message either, so no invalid text reaches an application.
//!
//! Agreements worth pinning (the differences one might expect, which are
//! not): both reject non-minimal lengths and MSB-set 64-bit lengths (1002,
//! §5.2), accept 1012/1013 and 3000–4999 and reject 1004–1006, 1015,
//! 1016–2999, below 1000 and from 5000 up (1002, §7.4), ignore everything
//! after the peer's close (§5.5.1), and deliver the complete messages that
//! precede a violation.
mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{connection, take_frames};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
use rfc6455::frame::{OpCode, apply_mask_scalar};
use rfc6455::{Config, Event, Message, Role};

/// Generated streams per role.
const CASES_PER_ROLE: usize = 12_000;

/// The default seed: the suite is reproducible; `WSDIFF_SEED` changes it.
const DEFAULT_SEED: u64 = 0x6455_d1ff_2026_0001;

/// How long the one Python process may take (it needs a few seconds).
const PYTHON_TIMEOUT: Duration = Duration::from_secs(180);

/// Streams up to this size may be fed byte by byte to wsproto (larger ones
/// get random chunk sizes: wsproto costs microseconds per call).
const BYTEWISE_MAX: usize = 1024;

const SETUP_HINT: &str = "run bash tests/peers/setup.sh";

// ---- frames and streams ---------------------------------------------------------

/// How a frame writes its payload length.
#[derive(Debug, Clone, Copy)]
enum Len {
    /// The minimal form (§5.2).
    Minimal,
    /// Always the 16-bit form (non-minimal below 126).
    Ext16,
    /// Always the 64-bit form (non-minimal up to 65535).
    Ext64,
    /// The header declares this length, whatever the payload that follows.
    Declared(u64),
}

/// One frame of a generated stream, every header field under our control.
#[derive(Clone)]
struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    /// Masked the wrong way for the receiver's role (§5.1).
    wrong_mask: bool,
    len: Len,
    payload: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.payload[..self.payload.len().min(32)];
        write!(
            f,
            "Frame(fin={} rsv={} op={:#x}{} {:?} {}{})",
            u8::from(self.fin),
            self.rsv,
            self.opcode,
            if self.wrong_mask { " WRONG-MASK" } else { "" },
            self.len,
            hex(shown),
            if shown.len() < self.payload.len() {
                format!("..({} bytes)", self.payload.len())
            } else {
                String::new()
            }
        )
    }
}

fn frame(fin: bool, opcode: u8, payload: Vec<u8>) -> Frame {
    Frame {
        fin,
        rsv: 0,
        opcode,
        wrong_mask: false,
        len: Len::Minimal,
        payload,
    }
}

/// A labelled run of frames: one thing the generator decided to send.
#[derive(Debug, Clone)]
struct Piece {
    what: &'static str,
    frames: Vec<Frame>,
}

fn piece(what: &'static str, frames: Vec<Frame>) -> Piece {
    Piece { what, frames }
}

/// How the stream is cut into `receive` calls: sizes taken in turn, cycled.
#[derive(Debug, Clone)]
enum Chunking {
    Whole,
    Bytewise,
    Sizes(Vec<usize>),
}

/// One generated case, before encoding.
#[derive(Debug, Clone)]
struct Plan {
    pieces: Vec<Piece>,
    /// Bytes XORed into the encoded stream (position, value).
    flips: Vec<(Index, u8)>,
    /// Cut the stream short here.
    truncate: Option<Index>,
    /// Seed of the masking keys.
    keys: u64,
    chunking: Chunking,
    /// Chunk sizes for the extra chunkings on our side.
    other_sizes: Vec<usize>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes `f` as the peer of a `receiver` sends it, with masking key `key`
/// when it is masked.
fn encode_frame(f: &Frame, receiver: Role, key: [u8; 4], out: &mut Vec<u8>) {
    let masked = (receiver == Role::Server) != f.wrong_mask;
    out.push((u8::from(f.fin) << 7) | ((f.rsv & 7) << 4) | (f.opcode & 0xF));
    let mask_bit = if masked { 0x80 } else { 0 };
    let n = f.payload.len() as u64;
    match f.len {
        Len::Minimal | Len::Declared(_) => {
            let n = if let Len::Declared(d) = f.len { d } else { n };
            match n {
                0..=125 => out.push(mask_bit | n as u8),
                126..=0xFFFF => {
                    out.push(mask_bit | 126);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                _ => {
                    out.push(mask_bit | 127);
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
        Len::Ext16 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        Len::Ext64 => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    let start = out.len() + if masked { 4 } else { 0 };
    if masked {
        out.extend_from_slice(&key);
    }
    out.extend_from_slice(&f.payload);
    if masked {
        apply_mask_scalar(&mut out[start..], key, 0);
    }
}

impl Plan {
    fn encode(&self, role: Role) -> Vec<u8> {
        let mut out = Vec::new();
        let mut keys = self.keys;
        let zero_keys = self.keys % 8 == 0;
        for f in self.pieces.iter().flat_map(|p| &p.frames) {
            let key = if zero_keys {
                [0; 4]
            } else {
                (splitmix(&mut keys) as u32).to_be_bytes()
            };
            encode_frame(f, role, key, &mut out);
        }
        if !out.is_empty() {
            for (at, x) in &self.flips {
                let i = at.index(out.len());
                out[i] ^= x;
            }
        }
        if let Some(at) = &self.truncate {
            out.truncate(at.index(out.len() + 1));
        }
        out
    }

    fn sizes(&self, len: usize) -> Vec<usize> {
        match &self.chunking {
            Chunking::Whole => vec![len.max(1)],
            Chunking::Bytewise if len <= BYTEWISE_MAX => vec![1],
            Chunking::Bytewise => self.other_sizes.iter().map(|s| s * 64).collect(),
            Chunking::Sizes(sizes) => sizes.clone(),
        }
    }
}

/// `stream` cut into pieces of `sizes` (cycled).
fn split<'a>(mut stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut sizes = sizes.iter().map(|s| (*s).max(1)).cycle();
    while !stream.is_empty() {
        let n = sizes.next().unwrap_or(usize::MAX).min(stream.len());
        let (piece, rest) = stream.split_at(n);
        out.push(piece);
        stream = rest;
    }
    out
}

// ---- strategies -----------------------------------------------------------------

/// Bytes of a length drawn from `len`, filled from a seed: one value tree
/// per payload rather than one per byte, so generation stays fast.
fn bytes(len: impl Strategy<Value = usize> + 'static) -> BoxedStrategy<Vec<u8>> {
    (len, any::<u64>())
        .prop_map(|(len, mut seed)| {
            let mut out = Vec::with_capacity(len + 8);
            while out.len() < len {
                out.extend_from_slice(&splitmix(&mut seed).to_le_bytes());
            }
            out.truncate(len);
            out
        })
        .boxed()
}

/// Characters the text generator favours: every UTF-8 length and its edges.
const CHARS: &str =
    "éß€中𝄞😀\0\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{ffff}\u{10000}\u{10ffff}";

/// Up to `max_chars` characters (ASCII, the edges in [`CHARS`], any
/// scalar value), filled from a seed.
fn text(max_chars: usize) -> BoxedStrategy<String> {
    (0..=max_chars, any::<u64>())
        .prop_map(|(n, mut seed)| {
            (0..n)
                .map(|_| {
                    let r = splitmix(&mut seed);
                    match r % 11 {
                        0..=5 => char::from(0x20 + (r >> 8) as u8 % 0x5f),
                        6..=8 => CHARS.chars().cycle().nth((r >> 8) as usize % 64).unwrap(),
                        _ => (0..)
                            .find_map(|_| char::from_u32(splitmix(&mut seed) as u32 % 0x11_0000))
                            .unwrap(),
                    }
                })
                .collect()
        })
        .boxed()
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut_text(mut s: String, max: usize) -> String {
    while s.len() > max {
        s.pop();
    }
    s
}

/// A large text payload (64-bit length form), about `len` bytes.
fn big_text() -> BoxedStrategy<Vec<u8>> {
    let len = prop_oneof![Just(65_535usize), Just(65_536usize), 65_530usize..=70_000];
    (len, any::<u64>())
        .prop_map(|(len, mut seed)| {
            let mut out = Vec::with_capacity(len + 4);
            let table = ["a", "é", "€", "𝄞", " ", "中"];
            while out.len() < len {
                let s = table[(splitmix(&mut seed) % table.len() as u64) as usize];
                out.extend_from_slice(s.as_bytes());
            }
            out
        })
        .boxed()
}

/// A message payload: mostly small, some in the 16-bit length form, rarely large.
fn message_payload(text_kind: bool) -> BoxedStrategy<Vec<u8>> {
    if text_kind {
        prop_oneof![
            300 => text(40).prop_map(String::into_bytes),
            60 => text(200).prop_map(String::into_bytes),
            1 => big_text(),
        ]
        .boxed()
    } else {
        let big = prop_oneof![Just(65_535usize), Just(65_536usize), 65_530usize..=70_000];
        prop_oneof![
            300 => bytes(0..=40usize),
            60 => bytes(100..=400usize),
            1 => bytes(big),
        ]
        .boxed()
    }
}

fn control_payload() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => bytes(0..=16usize),
        1 => bytes(0..=125usize),
        1 => bytes(Just(125usize)),
    ]
    .boxed()
}

fn ping_or_pong() -> BoxedStrategy<Frame> {
    (prop::sample::select(vec![0x9u8, 0xA]), control_payload())
        .prop_map(|(op, p)| frame(true, op, p))
        .boxed()
}

/// Cuts `payload` at `cuts` into data frames (opcode, then continuations),
/// with the given control frames after each fragment but the last.
fn fragments(opcode: u8, payload: &[u8], cuts: &[Index], between: &[Option<Frame>]) -> Vec<Frame> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(payload.len() + 1)).collect();
    at.sort_unstable();
    at.push(payload.len());
    let mut frames = Vec::new();
    let mut start = 0;
    for (i, end) in at.iter().copied().enumerate() {
        let last = i + 1 == at.len();
        let op = if i == 0 { opcode } else { 0x0 };
        frames.push(frame(last, op, payload[start..end].to_vec()));
        if !last && let Some(Some(control)) = between.get(i) {
            frames.push(control.clone());
        }
        start = end;
    }
    frames
}

/// How a message is cut: up to four cut points, a control frame or none after each fragment.
fn cuts() -> BoxedStrategy<(Vec<Index>, Vec<Option<Frame>>)> {
    (
        prop_oneof![3 => Just(vec![]), 2 => prop::collection::vec(any::<Index>(), 1..=4)],
        prop::collection::vec(prop::option::weighted(0.3, ping_or_pong()), 4),
    )
        .boxed()
}

fn message() -> BoxedStrategy<Piece> {
    prop::sample::select(vec![0x1u8, 0x2])
        .prop_flat_map(|op| (Just(op), message_payload(op == 0x1), cuts()))
        .prop_map(|(op, payload, (cuts, between))| {
            let what = if op == 0x1 { "text" } else { "binary" };
            piece(what, fragments(op, &payload, &cuts, &between))
        })
        .boxed()
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A close frame a peer may send: no payload, or a valid code and reason.
fn valid_close() -> BoxedStrategy<Piece> {
    let code = prop_oneof![
        prop::sample::select(vec![
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000,
            4999,
        ]),
        3000u16..=4999,
    ];
    prop_oneof![
        1 => Just(piece("close (empty)", vec![frame(true, 0x8, vec![])])),
        4 => (code, text(40)).prop_map(|(code, reason)| {
            let reason = cut_text(reason, 123);
            piece("close", vec![frame(true, 0x8, close_payload(code, reason.as_bytes()))])
        }),
    ]
    .boxed()
}

fn valid_piece() -> BoxedStrategy<Piece> {
    prop_oneof![
        6 => message(),
        2 => ping_or_pong().prop_map(|f| piece("control", vec![f])),
    ]
    .boxed()
}

/// A single well-formed frame of any kind, to be broken by the caller.
fn any_single_frame() -> BoxedStrategy<Frame> {
    prop_oneof![
        (prop::sample::select(vec![0x1u8, 0x2]), text(10)).prop_map(|(op, t)| frame(
            true,
            op,
            t.into_bytes()
        )),
        ping_or_pong(),
        Just(frame(true, 0x8, close_payload(1000, b"bye"))),
    ]
    .boxed()
}

/// Byte sequences that are never valid UTF-8 (§8.1, RFC 3629).
const BAD_UTF8: &[&[u8]] = &[
    b"\x80",
    b"\xbf",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xe0\x9f\xbf",
    b"\xf0\x80\x80\x80",
    b"\xf0\x8f\xbf\xbf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xfe",
    b"\xff",
    b"\xe2\x82A",
    b"\xf0\x9f\x98x",
    b"\xc3",
];

/// Proper prefixes of multi-byte characters: a message may not end in one.
const PARTIAL_UTF8: &[&[u8]] = &[
    b"\xc3",
    b"\xe2",
    b"\xe2\x82",
    b"\xf0",
    b"\xf0\x9f",
    b"\xf0\x9f\x98",
    b"\xed\xa0",
    b"\xed",
];

fn bad_text() -> BoxedStrategy<Vec<u8>> {
    (text(12), prop::sample::select(BAD_UTF8.to_vec()), text(12))
        .prop_map(|(a, bad, b)| [a.as_bytes(), bad, b.as_bytes()].concat())
        .boxed()
}

fn small_bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    bytes(0..=max)
}

/// A piece that breaks the protocol, one way per arm.
fn broken_piece() -> BoxedStrategy<Piece> {
    let reserved_op = prop::sample::select(vec![3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]);
    let control_op = prop::sample::select(vec![0x8u8, 0x9, 0xA]);
    let data_op = prop::sample::select(vec![0x1u8, 0x2]);
    prop_oneof![
        // §5.2: RSV bits without an extension.
        1 => (1u8..8, any_single_frame()).prop_map(|(rsv, mut f)| {
            f.rsv = rsv;
            piece("rsv bits", vec![f])
        }),
        // §5.2: reserved opcodes.
        1 => (reserved_op, any::<bool>(), small_bytes(20))
            .prop_map(|(op, fin, p)| piece("reserved opcode", vec![frame(fin, op, p)])),
        // §5.1: a client masks, a server does not.
        1 => any_single_frame().prop_map(|mut f| {
            f.wrong_mask = true;
            piece("wrong masking", vec![f])
        }),
        // §5.5: control frames carry at most 125 bytes ...
        1 => (control_op.clone(), bytes(126..=300usize))
            .prop_map(|(op, p)| piece("control > 125", vec![frame(true, op, p)])),
        // ... and are never fragmented.
        1 => (control_op, small_bytes(20))
            .prop_map(|(op, p)| piece("fragmented control", vec![frame(false, op, p)])),
        // §5.4: continuation without a message to continue.
        1 => (any::<bool>(), small_bytes(20))
            .prop_map(|(fin, p)| piece("continuation without start", vec![frame(fin, 0x0, p)])),
        // §5.4: a new data frame inside a fragmented message.
        1 => (
            data_op.clone(),
            text(8),
            prop::option::of(ping_or_pong()),
            data_op,
            any::<bool>(),
            text(8)
        )
            .prop_map(|(op1, a, control, op2, fin, b)| {
                let mut frames = vec![frame(false, op1, a.into_bytes())];
                frames.extend(control);
                frames.push(frame(fin, op2, b.into_bytes()));
                piece("new message while fragmented", frames)
            }),
        // §8.1: invalid UTF-8 in one frame or across fragments.
        3 => (bad_text(), cuts()).prop_map(|(p, (cuts, between))| {
            piece("invalid utf-8", fragments(0x1, &p, &cuts, &between))
        }),
        // §8.1: a text message ending inside a character.
        2 => (text(12), prop::sample::select(PARTIAL_UTF8.to_vec()), cuts()).prop_map(
            |(t, partial, (cuts, between))| {
                let p = [t.as_bytes(), partial].concat();
                piece("truncated utf-8", fragments(0x1, &p, &cuts, &between))
            }
        ),
        // A text message left unfinished, its last fragment ending in bytes
        // that can never become valid (or in a partial character), then a close.
        2 => (
            text(8),
            prop::sample::select([BAD_UTF8, PARTIAL_UTF8].concat()),
            valid_close()
        )
            .prop_map(|(t, tail, close)| {
                let mut frames = vec![frame(false, 0x1, [t.as_bytes(), tail].concat())];
                frames.extend(close.frames);
                piece("unfinished text then close", frames)
            }),
        // §7.4: close codes of every value.
        3 => (
            prop_oneof![
                prop::sample::select(vec![
                    0u16, 1, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999, 5000,
                    0xFFFF
                ]),
                any::<u16>(),
                1000u16..=1020,
            ],
            text(10)
        )
            .prop_map(|(code, reason)| {
                piece("close code", vec![frame(true, 0x8, close_payload(code, reason.as_bytes()))])
            }),
        // §5.5.1: a close body starts with a two-byte code.
        1 => any::<u8>().prop_map(|b| piece("one-byte close", vec![frame(true, 0x8, vec![b])])),
        // §5.5.1: the close reason is UTF-8.
        1 => bad_text().prop_map(|r| {
            let r = if r.len() > 120 { r[..120].to_vec() } else { r };
            piece("invalid close reason", vec![frame(true, 0x8, close_payload(1000, &r))])
        }),
        // §5.2: "the minimal number of bytes MUST be used to encode the length".
        1 => (any_single_frame(), any::<bool>()).prop_map(|(mut f, wide)| {
            f.len = if wide { Len::Ext64 } else { Len::Ext16 };
            piece("non-minimal length", vec![f])
        }),
        1 => (bytes(126..=300usize)).prop_map(|p| {
            let mut f = frame(true, 0x2, p);
            f.len = Len::Ext64;
            piece("non-minimal 64-bit length", vec![f])
        }),
        // §5.2: the 64-bit length's most significant bit must be 0.
        1 => (any::<u64>(), small_bytes(8), prop::sample::select(vec![0x0u8, 0x1, 0x2]))
            .prop_map(|(n, p, op)| {
                let mut f = frame(true, op, p);
                f.len = Len::Declared(n | 1 << 63);
                piece("64-bit length with MSB set", vec![f])
            }),
        // Past our frame limit (D2): declared, never sent.
        1 => ((16u64 << 20) + 1..(1u64 << 62), small_bytes(8), prop::sample::select(vec![0x1u8, 0x2]))
            .prop_map(|(n, p, op)| {
                let mut f = frame(true, op, p);
                f.len = Len::Declared(n);
                piece("length past the frame limit", vec![f])
            }),
    ]
    .boxed()
}

fn any_piece() -> BoxedStrategy<Piece> {
    prop_oneof![2 => valid_piece(), 1 => valid_close(), 1 => broken_piece()].boxed()
}

fn plan() -> BoxedStrategy<Plan> {
    let valid = (
        prop::collection::vec(valid_piece(), 1..6),
        prop::option::of(valid_close()),
        prop::collection::vec(any_piece(), 0..3),
    )
        .prop_map(|(mut pieces, close, tail)| {
            if let Some(close) = close {
                pieces.push(close);
                pieces.extend(tail); // frames after the close (§5.5.1)
            }
            pieces
        });
    let broken = (
        prop::collection::vec(valid_piece(), 0..3),
        broken_piece(),
        prop::collection::vec(any_piece(), 0..3),
    )
        .prop_map(|(mut pieces, broken, tail)| {
            pieces.push(broken);
            pieces.extend(tail);
            pieces
        });
    let chunking = prop_oneof![
        3 => Just(Chunking::Whole),
        1 => Just(Chunking::Bytewise),
        4 => prop::collection::vec(1usize..=64, 1..8).prop_map(Chunking::Sizes),
    ];
    (
        prop_oneof![3 => valid, 5 => broken],
        prop_oneof![8 => Just(vec![]), 2 => prop::collection::vec((any::<Index>(), 1u8..=255), 1..4)],
        prop::option::weighted(0.1, any::<Index>()),
        any::<u64>(),
        chunking,
        prop::collection::vec(1usize..=200, 1..8),
    )
        .prop_map(|(pieces, flips, truncate, keys, chunking, other_sizes)| Plan {
            pieces,
            flips,
            truncate,
            keys,
            chunking,
            other_sizes,
        })
        .boxed()
}

// ---- outcomes -------------------------------------------------------------------

/// What a receiver made of a stream, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Outcome {
    events: Vec<Ev>,
    /// The close code the receiver failed the connection with.
    failure: Option<u16>,
}

#[derive(Clone, PartialEq, Eq)]
enum Ev {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, Vec<u8>),
    /// Something that should never happen (a crash in wsproto, an event
    /// from us after a failure, a missing close frame after a failure).
    Anomaly(String),
}

impl std::fmt::Debug for Ev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |b: &[u8]| {
            if b.len() > 40 {
                format!("{}..({} bytes)", hex(&b[..40]), b.len())
            } else {
                hex(b)
            }
        };
        match self {
            Ev::Text(b) => write!(
                f,
                "Text({:?})",
                String::from_utf8_lossy(&b[..b.len().min(40)])
            ),
            Ev::Binary(b) => write!(f, "Binary({})", short(b)),
            Ev::Ping(b) => write!(f, "Ping({})", short(b)),
            Ev::Pong(b) => write!(f, "Pong({})", short(b)),
            Ev::Close(code, r) => write!(f, "Close({code}, {:?})", String::from_utf8_lossy(r)),
            Ev::Anomaly(s) => write!(f, "ANOMALY({s})"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from wsproto_diff.py"))
        .collect()
}

/// Parses one line `INDEX TOKEN...` of wsproto_diff.py's output.
fn parse_line(line: &str) -> (usize, Outcome) {
    let mut tokens = line.split(' ');
    let index = tokens
        .next()
        .and_then(|i| i.parse().ok())
        .expect("case index");
    let mut out = Outcome::default();
    for token in tokens.filter(|t| !t.is_empty()) {
        let (kind, rest) = token.split_once(':').expect("KIND:VALUE");
        match kind {
            "T" => out.events.push(Ev::Text(unhex(rest))),
            "B" => out.events.push(Ev::Binary(unhex(rest))),
            "PI" => out.events.push(Ev::Ping(unhex(rest))),
            "PO" => out.events.push(Ev::Pong(unhex(rest))),
            "C" => {
                let (code, reason) = rest.split_once(':').expect("C:CODE:HEX");
                out.events
                    .push(Ev::Close(code.parse().expect("close code"), unhex(reason)));
            }
            "F" => out.failure = Some(rest.parse().expect("failure code")),
            "X" => out.events.push(Ev::Anomaly(format!(
                "wsproto raised {}",
                String::from_utf8_lossy(&unhex(rest))
            ))),
            other => panic!("unknown token {other:?} in {line:?}"),
        }
    }
    (index, out)
}

/// Our outcome: `stream` fed to a fresh connection in `role`, one `receive`
/// per chunk, draining events after each (the documented call order). Keeps
/// feeding after a close or a failure: nothing more may come out.
fn ours(role: Role, stream: &[u8], sizes: &[usize]) -> Outcome {
    let mut conn = connection(role);
    let mut out = Outcome::default();
    for piece in split(stream, sizes) {
        conn.receive(piece);
        loop {
            match conn.poll_event() {
                Ok(Some(event)) => {
                    let ev = match event {
                        _ if out.failure.is_some() => {
                            Ev::Anomaly(format!("event after the failure: {event:?}"))
                        }
                        Event::Message(Message::Text(t)) => Ev::Text(t.into_bytes()),
                        Event::Message(Message::Binary(b)) => Ev::Binary(b.to_vec()),
                        Event::Ping(p) => Ev::Ping(p.to_vec()),
                        Event::Pong(p) => Ev::Pong(p.to_vec()),
                        Event::Close(c) => {
                            Ev::Close(c.code_or_no_status().0, c.reason.into_bytes())
                        }
                    };
                    out.events.push(ev);
                }
                Ok(None) => break,
                Err(e) if out.failure.is_some() => {
                    out.events.push(Ev::Anomaly(format!("second error {e:?}")));
                    break;
                }
                Err(e) => {
                    let code = e.close_code().0;
                    out.failure = Some(code);
                    // The close frame for the failure is queued (§7.1.7).
                    let sent = take_frames(&mut conn);
                    let close = sent.iter().find(|f| f.opcode == OpCode::Close);
                    let sent_code = close
                        .and_then(|f| f.payload.get(..2))
                        .map(|c| u16::from_be_bytes([c[0], c[1]]));
                    if sent_code != Some(code) {
                        out.events.push(Ev::Anomaly(format!(
                            "failed with {e:?} ({code}) but queued close code {sent_code:?}"
                        )));
                    }
                }
            }
        }
        // Flush what is queued (pongs, the close reply) as a caller would.
        let n = conn.pending().len();
        conn.advance(n);
    }
    out
}

// ---- the wsproto process -----------------------------------------------------

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// The wsproto version pinned in requirements.txt.
fn pinned_wsproto() -> String {
    let path = peers_dir().join("requirements.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("wsproto=="))
        .map(|v| v.trim().to_owned())
        .expect("requirements.txt pins wsproto")
}

/// A case for wsproto: role and the chunks it receives.
struct PyCase<'a> {
    role: Role,
    chunks: Vec<&'a [u8]>,
}

/// Runs all `cases` through one `python3 tests/peers/wsproto_diff.py`.
/// Fails (never skips) when python3 or the pinned wsproto is missing.
fn wsproto(cases: &[PyCase<'_>], name: &str) -> Vec<Outcome> {
    let mut input = Vec::new();
    for case in cases {
        input.push(if case.role == Role::Server {
            b'S'
        } else {
            b'C'
        });
        input.extend_from_slice(&(case.chunks.len() as u32).to_le_bytes());
        for chunk in &case.chunks {
            input.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
            input.extend_from_slice(chunk);
        }
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wsdiff-{name}.bin"));
    std::fs::write(&path, &input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let mut child = Command::new("python3")
        .arg(peers_dir().join("wsproto_diff.py"))
        .stdin(File::open(&path).expect("the case file"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {SETUP_HINT}"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + PYTHON_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait for python3") {
            Some(status) => break status,
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wsproto_diff.py did not finish within {PYTHON_TIMEOUT:?}");
            }
        }
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    assert!(
        status.success(),
        "wsproto_diff.py failed ({status}) on {}: {SETUP_HINT}\n{stderr}",
        path.display()
    );
    let mut lines = stdout.lines();
    let version = lines.next().unwrap_or_default();
    let pinned = pinned_wsproto();
    assert_eq!(
        version,
        format!("wsproto {pinned}"),
        "python3 imports a wsproto other than the pinned one: {SETUP_HINT}"
    );
    let mut outcomes = Vec::with_capacity(cases.len());
    for line in lines {
        if let Some(done) = line.strip_prefix("done ") {
            assert_eq!(done.parse::<usize>().ok(), Some(cases.len()), "case count");
            assert_eq!(outcomes.len(), cases.len());
            return outcomes;
        }
        let (index, outcome) = parse_line(line);
        assert_eq!(index, outcomes.len(), "case order");
        outcomes.push(outcome);
    }
    panic!("wsproto_diff.py stopped early:\n{stderr}");
}

// ---- frames in a stream, structurally --------------------------------------------

/// Where a frame sits in a stream, read by structure alone (no validity checks).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    /// Bytes of the frame present in the stream.
    avail: usize,
    /// The first header byte (FIN, RSV, opcode).
    b0: u8,
    masked: bool,
    /// Header length and declared payload length, once the length field is in.
    header: Option<(usize, u64)>,
}

impl Span {
    fn complete(&self) -> bool {
        self.header
            .is_some_and(|(h, len)| self.avail as u64 >= len.saturating_add(h as u64))
    }
}

fn spans(stream: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let rest = &stream[pos..];
        let b1 = rest.get(1).copied().unwrap_or(0);
        let masked = b1 & 0x80 != 0;
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header = (rest.len() >= 2 + ext).then(|| {
            let len = match ext {
                0 => u64::from(b1 & 0x7F),
                2 => u64::from(u16::from_be_bytes([rest[2], rest[3]])),
                _ => u64::from_be_bytes(rest[2..10].try_into().unwrap()),
            };
            (2 + ext + if masked { 4 } else { 0 }, len)
        });
        let span = Span {
            start: pos,
            avail: rest.len(),
            b0: rest[0],
            masked,
            header,
        };
        if let (true, Some((h, len))) = (span.complete(), header) {
            let end = pos + h + len as usize;
            out.push(Span {
                avail: end - pos,
                ..span
            });
            pos = end;
        } else {
            out.push(span);
            break;
        }
    }
    out
}

// ---- classifying a disagreement --------------------------------------------------

/// One generated case and what came of it.
struct Case {
    role: Role,
    index: usize,
    plan: Plan,
    stream: Vec<u8>,
    sizes: Vec<usize>,
    ours: Outcome,
    theirs: Outcome,
}

/// D1: we accept close code 1014, wsproto fails 1002 on it.
fn is_d1(ours: &Outcome, theirs: &Outcome) -> bool {
    let Some((Ev::Close(1014, _), before)) = ours.events.split_last() else {
        return false;
    };
    ours.failure.is_none() && theirs.failure == Some(1002) && theirs.events == before
}

/// Derived streams that locate a disagreement in one frame `k`: the stream
/// before `k`, and the stream with `k` (and its message) completed.
struct Probe {
    case: usize,
    k: Span,
    before: Vec<u8>,
    completed: Option<Vec<u8>>,
}

/// The code of frame `k` if it is a complete close frame with one.
fn close_code(stream: &[u8], k: &Span) -> Option<u16> {
    let (h, len) = k.header?;
    if !k.complete() || k.b0 & 0x0F != 0x8 || len < 2 {
        return None;
    }
    let mut code = [stream[k.start + h], stream[k.start + h + 1]];
    if k.masked {
        let key: [u8; 4] = stream[k.start + h - 4..k.start + h].try_into().unwrap();
        apply_mask_scalar(&mut code, key, 0);
    }
    Some(u16::from_be_bytes(code))
}

/// The index of the frame on which our connection fails (feeding the
/// stream one frame per `receive`).
fn our_failing_frame(role: Role, stream: &[u8], spans: &[Span]) -> Option<usize> {
    let mut conn = connection(role);
    for (i, s) in spans.iter().enumerate() {
        conn.receive(&stream[s.start..s.start + s.avail]);
        loop {
            match conn.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return Some(i),
            }
        }
    }
    None
}

/// The stream up to the end of frame `k`, completed: the rest of its header
/// (masking key zero), payload bytes that unmask to `a` up to the declared
/// length, and for an unfinished data frame a final empty continuation.
/// `None` when the length field is not in yet or the payload would pass our
/// frame limit.
fn complete(role: Role, stream: &[u8], k: &Span) -> Option<Vec<u8>> {
    let (h, len) = k.header?;
    if len > Config::default().max_frame_size as u64 {
        return None;
    }
    let mut out = stream[..k.start + k.avail.min(h)].to_vec();
    out.resize(k.start + h, 0);
    let key: [u8; 4] = if k.masked {
        out[k.start + h - 4..k.start + h].try_into().unwrap()
    } else {
        [0; 4]
    };
    let have = k.avail.saturating_sub(h);
    if have > 0 {
        out.extend_from_slice(&stream[k.start + h..k.start + h + have]);
    }
    for i in have..len as usize {
        out.push(b'a' ^ key[i % 4]);
    }
    let fin = k.b0 & 0x80 != 0;
    if !fin && k.b0 & 0x0F <= 0x2 {
        let last = common::frame_to(role, true, 0x0, b"");
        out.extend_from_slice(&last);
    }
    Some(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Agree,
    D1CloseCode1014,
    D2FrameLimit,
    D3aHeaderIncomplete,
    D3bPayloadIncomplete,
    D3cUtf8MessageUnfinished,
    Disagree,
}

/// Checks one case against the deliberate differences, with the outcomes of
/// its probe (before, completed) from both sides.
fn classify(
    case: &Case,
    probe: &Probe,
    before: (&Outcome, &Outcome),
    completed: Option<(&Outcome, &Outcome)>,
) -> Verdict {
    let (ours, theirs) = (&case.ours, &case.theirs);
    // Everything before frame k: the same, nothing failed, no close yet.
    let (ob, tb) = before;
    if ob != tb || ob.failure.is_some() || ob.events.iter().any(|e| matches!(e, Ev::Close(..))) {
        return Verdict::Disagree;
    }
    let k = &probe.k;
    // D1, when the reason of the 1014 close is not UTF-8: we check the
    // reason of a code we accept (1007), wsproto stops at the code (1002).
    if close_code(&case.stream, k) == Some(1014)
        && ours.failure == Some(1007)
        && theirs.failure == Some(1002)
        && ours.events == ob.events
        && theirs.events == ob.events
    {
        return Verdict::D1CloseCode1014;
    }
    // D2: our frame limit, on frame k's header.
    if ours.failure == Some(1009)
        && k.header
            .is_some_and(|(_, len)| len > Config::default().max_frame_size as u64)
        && ours.events == ob.events
        && theirs.events == ob.events
    {
        return Verdict::D2FrameLimit;
    }
    // D3: one side failed early on frame k; once k is complete both agree.
    let Some((oc, tc)) = completed else {
        return Verdict::Disagree;
    };
    if oc != tc {
        return Verdict::Disagree;
    }
    let early = match (ours.failure, theirs.failure) {
        // We failed on k. wsproto has not found the violation yet, or went
        // on past k (a lazy UTF-8 check) and failed later, maybe on
        // something else: what it did after k is beyond the comparison; the
        // completed probe decides.
        (Some(o), _) => {
            if ours.events != ob.events || !theirs.events.starts_with(&ob.events) {
                return Verdict::Disagree;
            }
            o
        }
        // wsproto failed on k (an incomplete frame), we have not yet.
        (None, Some(t)) => {
            if theirs.events != ob.events || ours.events != ob.events {
                return Verdict::Disagree;
            }
            t
        }
        _ => return Verdict::Disagree,
    };
    if oc.failure != Some(early) || oc.events != ob.events {
        return Verdict::Disagree;
    }
    // Each cause with the one code and the one early side it can have: RSV
    // and masking (1002, wsproto) in an incomplete header, fragment order
    // (1002, ours) on a header without its payload, UTF-8 (1007, ours) in a
    // text or continuation frame of an unfinished message.
    let ours_early = ours.failure == Some(early) && ours.events == ob.events;
    match (k.header, early) {
        (Some((h, _)), 1002) if k.avail < h && !ours_early => Verdict::D3aHeaderIncomplete,
        (Some(_), 1002) if !k.complete() && ours_early => Verdict::D3bPayloadIncomplete,
        (Some(_), 1007) if k.b0 & 0x0F <= 0x1 && ours_early => Verdict::D3cUtf8MessageUnfinished,
        _ => Verdict::Disagree,
    }
}

// ---- the suite ----------------------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    Some(
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|e| panic!("{name}={v}: {e}")),
    )
}

fn generate(role: Role, seed: u64, count: usize) -> Vec<Plan> {
    // XorShift: fast in the unoptimised test build, and good enough here.
    let mut state = seed ^ if role == Role::Server { 0 } else { 0x5a5a_5a5a };
    let key = [splitmix(&mut state), splitmix(&mut state)].map(u64::to_le_bytes);
    let rng = TestRng::from_seed(RngAlgorithm::XorShift, key.as_flattened());
    let mut runner = TestRunner::new_with_rng(RunnerConfig::default(), rng);
    let strategy = plan();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a plan").current())
        .collect()
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Server => "server",
        Role::Client => "client",
    }
}

fn describe(case: &Case, seed: u64) -> String {
    format!(
        "seed {seed:#x} ({:?} case {}), chunk sizes {:?}\nplan: {:#?}\nstream ({} bytes): {}\nours:    {:?}\nwsproto: {:?}",
        case.role,
        case.index,
        case.sizes,
        case.plan.pieces,
        case.stream.len(),
        hex(&case.stream[..case.stream.len().min(600)]),
        case.ours,
        case.theirs
    )
}

/// Our outcome for a case in its chunking, checked against other chunkings
/// (whole, byte by byte, other sizes), which must not change it.
fn our_side(case: &Case) -> (Outcome, Vec<String>) {
    let outcome = ours(case.role, &case.stream, &case.sizes);
    let bytewise = if case.stream.len() <= 16 * 1024 {
        vec![1]
    } else {
        vec![1, 7, 300, 4096]
    };
    let others = [vec![usize::MAX], bytewise, case.plan.other_sizes.clone()];
    let mut problems = Vec::new();
    for other in others {
        let again = ours(case.role, &case.stream, &other);
        if again != outcome {
            problems.push(format!(
                "our outcome depends on chunking: {other:?} gives {again:?}, {:?} gives {outcome:?}\nstream {}",
                case.sizes,
                hex(&case.stream)
            ));
        }
    }
    (outcome, problems)
}

/// Generates and encodes the cases, one thread per role.
fn generate_cases(seed: u64, per_role: usize) -> Vec<Case> {
    thread::scope(|s| {
        let roles = [Role::Server, Role::Client]
            .map(|role| s.spawn(move || (role, generate(role, seed, per_role))));
        roles
            .into_iter()
            .flat_map(|handle| {
                let (role, plans) = handle.join().expect("generation");
                plans.into_iter().enumerate().map(move |(index, plan)| {
                    let stream = plan.encode(role);
                    let sizes = plan.sizes(stream.len());
                    Case {
                        role,
                        index,
                        plan,
                        stream,
                        sizes,
                        ours: Outcome::default(),
                        theirs: Outcome::default(),
                    }
                })
            })
            .collect()
    })
}

/// Fills in both outcomes: wsproto in one Python process while our side
/// runs on two threads. Returns our chunking problems.
fn run_both(cases: &mut [Case], seed: u64) -> Vec<String> {
    let (theirs, ours_results) = thread::scope(|s| {
        let cases = &*cases;
        let python = s.spawn(move || {
            let py_cases: Vec<PyCase<'_>> = cases
                .iter()
                .map(|c| PyCase {
                    role: c.role,
                    chunks: split(&c.stream, &c.sizes),
                })
                .collect();
            wsproto(&py_cases, &format!("{seed:x}"))
        });
        let halves: Vec<_> = cases
            .chunks(cases.len().div_ceil(2).max(1))
            .map(|half| s.spawn(move || half.iter().map(our_side).collect::<Vec<_>>()))
            .collect();
        let ours_results: Vec<(Outcome, Vec<String>)> = halves
            .into_iter()
            .flat_map(|h| h.join().expect("our side"))
            .collect();
        (python.join().expect("wsproto"), ours_results)
    });
    let mut problems = Vec::new();
    for ((case, theirs), (ours, chunking)) in cases.iter_mut().zip(theirs).zip(ours_results) {
        case.theirs = theirs;
        case.ours = ours;
        problems.extend(chunking);
    }
    problems
}

/// A verdict per case: D1 directly, the rest of the disagreements through
/// probes (one more, small wsproto batch). Returns the verdicts and the
/// number of probes.
fn judge(cases: &[Case], seed: u64) -> (Vec<Verdict>, usize) {
    let mut verdicts = vec![Verdict::Agree; cases.len()];
    let mut probes = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if case.ours == case.theirs {
            continue;
        }
        if is_d1(&case.ours, &case.theirs) {
            verdicts[i] = Verdict::D1CloseCode1014;
            continue;
        }
        verdicts[i] = Verdict::Disagree;
        // Frame k: where we failed, else the unfinished last frame.
        let spans = spans(&case.stream);
        let k = our_failing_frame(case.role, &case.stream, &spans).or_else(|| {
            spans
                .last()
                .filter(|s| !s.complete())
                .map(|_| spans.len() - 1)
        });
        if let Some(k) = k {
            let k = spans[k];
            probes.push(Probe {
                case: i,
                k,
                before: case.stream[..k.start].to_vec(),
                completed: complete(case.role, &case.stream, &k),
            });
        }
    }
    let mut py_cases = Vec::new();
    for p in &probes {
        let role = cases[p.case].role;
        py_cases.push(PyCase {
            role,
            chunks: vec![&p.before[..]],
        });
        if let Some(c) = &p.completed {
            py_cases.push(PyCase {
                role,
                chunks: vec![&c[..]],
            });
        }
    }
    let theirs = if py_cases.is_empty() {
        Vec::new()
    } else {
        wsproto(&py_cases, &format!("{seed:x}-probes"))
    };
    let mut theirs = theirs.into_iter();
    for p in &probes {
        let case = &cases[p.case];
        let before = (
            ours(case.role, &p.before, &[usize::MAX]),
            theirs.next().expect("probe outcome"),
        );
        let completed = p.completed.as_ref().map(|c| {
            (
                ours(case.role, c, &[usize::MAX]),
                theirs.next().expect("probe outcome"),
            )
        });
        verdicts[p.case] = classify(
            case,
            p,
            (&before.0, &before.1),
            completed.as_ref().map(|(o, t)| (o, t)),
        );
    }
    (verdicts, probes.len())
}

/// The counts per role and verdict, and what the streams contained.
fn report(cases: &[Case], verdicts: &[Verdict]) -> String {
    let mut counts: BTreeMap<(&str, Verdict), usize> = BTreeMap::new();
    for (case, verdict) in cases.iter().zip(verdicts) {
        *counts.entry((role_name(case.role), *verdict)).or_default() += 1;
    }
    let mut out = String::new();
    for role in ["server", "client"] {
        let of_role = || counts.iter().filter(move |((r, _), _)| *r == role);
        let total: usize = of_role().map(|(_, n)| n).sum();
        let deliberate: usize = of_role()
            .filter(|((_, v), _)| !matches!(v, Verdict::Agree | Verdict::Disagree))
            .map(|(_, n)| n)
            .sum();
        let agree = counts.get(&(role, Verdict::Agree)).copied().unwrap_or(0);
        out += &format!(
            "differential: {role}: {total} streams compared with wsproto, {agree} agree, {deliberate} deliberate differences"
        );
        for ((_, v), n) in of_role().filter(|((_, v), _)| *v != Verdict::Agree) {
            out += &format!(", {v:?} {n}");
        }
        out += "\n";
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for case in cases {
        let mut seen: Vec<&str> = case.plan.pieces.iter().map(|p| p.what).collect();
        seen.sort_unstable();
        seen.dedup();
        for what in seen {
            *kinds.entry(what).or_default() += 1;
        }
    }
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
    let flipped = cases.iter().filter(|c| !c.plan.flips.is_empty()).count();
    let cut = cases.iter().filter(|c| c.plan.truncate.is_some()).count();
    out += &format!(
        "differential: streams containing: {}; with flipped bytes {flipped}, cut short {cut}\n",
        kinds.join(", ")
    );
    out
}

#[test]
fn agrees_with_wsproto_on_generated_streams() {
    let started = Instant::now();
    let seed = env_u64("WSDIFF_SEED").unwrap_or(DEFAULT_SEED);
    let per_role = env_u64("WSDIFF_CASES").map_or(CASES_PER_ROLE, |n| n as usize);

    let mut cases = generate_cases(seed, per_role);
    let generated = started.elapsed();
    let mut problems = run_both(&mut cases, seed);
    let compared = started.elapsed();
    let (verdicts, probes) = judge(&cases, seed);

    // Shown by `cargo test` even on success (not captured).
    let mut out = report(&cases, &verdicts);
    out += &format!(
        "differential: seed {seed:#x}, {} cases + {probes} probes; generation {:.1?}, both sides {:.1?}, total {:.1?}\n",
        cases.len(),
        generated,
        compared - generated,
        started.elapsed()
    );
    if std::env::var_os("WSDIFF_EXAMPLES").is_some() {
        let mut examples: BTreeMap<Verdict, usize> = BTreeMap::new();
        for (i, verdict) in verdicts.iter().enumerate() {
            examples.entry(*verdict).or_insert(i);
        }
        for (verdict, i) in examples {
            out += &format!(
                "--- example of {verdict:?}:\n{}\n",
                describe(&cases[i], seed)
            );
        }
    }
    let _ = io::stderr().write_all(out.as_bytes());

    for (case, verdict) in cases.iter().zip(&verdicts) {
        if *verdict == Verdict::Disagree && problems.len() < 10 {
            problems.push(format!(
                "disagreement with wsproto: {}",
                describe(case, seed)
            ));
        }
        for ev in case.ours.events.iter().chain(&case.theirs.events) {
            if let Ev::Anomaly(a) = ev {
                problems.push(format!("{a}: {}", describe(case, seed)));
            }
        }
    }
    let disagreements = verdicts.iter().filter(|v| **v == Verdict::Disagree).count();
    assert!(
        problems.is_empty(),
        "{disagreements} disagreements, {} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// Sanity: the harness is not comparing two empty outcomes.
#[test]
fn both_sides_see_the_same_simple_exchange() {
    for role in [Role::Server, Role::Client] {
        let stream = [
            common::frame_to(role, false, 0x1, "h€".as_bytes()),
            common::frame_to(role, true, 0x9, b"p"),
            common::frame_to(role, true, 0x0, "llo 𝄞".as_bytes()),
            common::frame_to(role, true, 0x8, &close_payload(1000, b"bye")),
        ]
        .concat();
        let expected = Outcome {
            events: vec![
                Ev::Ping(b"p".to_vec()),
                Ev::Text("h€llo 𝄞".as_bytes().to_vec()),
                Ev::Close(1000, b"bye".to_vec()),
            ],
            failure: None,
        };
        assert_eq!(ours(role, &stream, &[3]), expected);
        let theirs = wsproto(
            &[PyCase {
                role,
                chunks: split(&stream, &[3]),
            }],
            &format!("simple-{role:?}"),
        );
        assert_eq!(theirs, vec![expected]);
    }
}

/// Parses expected tokens as wsproto_diff.py prints them (`T:HEX`, `C:CODE:HEX`, `F:CODE`, ...).
fn outcome(tokens: &str) -> Outcome {
    parse_line(&format!("0 {tokens}")).1
}

/// The table at the top of this file, one minimal stream per row, and the
/// agreements on the differences the issue expected: each side must give
/// exactly the outcome written here.
#[test]
fn documented_differences_and_agreements_hold() {
    use common::frame_to;
    let close =
        |role, code: u16, reason: &[u8]| frame_to(role, true, 0x8, &close_payload(code, reason));
    let b126 = &*format!("B:{}", "78".repeat(126));
    #[rustfmt::skip]
    let rows: Vec<(&str, Role, Vec<u8>, &str, &str)> = [Role::Server, Role::Client]
        .into_iter()
        .flat_map(|r| {
            // A header with RSV1 set, or masked towards a client, cut inside the masking key.
            let d3a = match r {
                Role::Server => vec![0xC1, 0x80, 0x00, 0x00],
                Role::Client => vec![0x81, 0x80],
            };
            let d3b = frame_to(r, true, 0x0, b"12345")[..if r == Role::Server { 6 } else { 2 }].to_vec();
            let huge = {
                let mut f = vec![0x82, if r == Role::Server { 0xFF } else { 0x7F }];
                f.extend_from_slice(&((16u64 << 20) + 1).to_be_bytes());
                f.extend_from_slice(if r == Role::Server { &[1, 2, 3, 4][..] } else { &[] });
                f
            };
            let msb = {
                let mut f = vec![0x82, if r == Role::Server { 0xFF } else { 0x7F }];
                f.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
                f.extend_from_slice(if r == Role::Server { &[0; 4][..] } else { &[] });
                f.extend_from_slice(b"xxxxx");
                f
            };
            let ext16 = |len: u16| {
                let mut f = vec![0x82, 126 | if r == Role::Server { 0x80 } else { 0 }];
                f.extend_from_slice(&len.to_be_bytes());
                f.extend_from_slice(if r == Role::Server { &[0; 4][..] } else { &[] });
                f.extend(std::iter::repeat_n(b'x', len.into()));
                f
            };
            [
                ("D1 close 1014", r, close(r, 1014, b""), "C:1014:", "F:1002"),
                ("D1 close 1014, bad reason", r, close(r, 1014, b"\xff"), "F:1007", "F:1002"),
                ("D2 past the frame limit", r, huge, "F:1009", ""),
                ("D3a header cut in the key", r, d3a, "", "F:1002"),
                ("D3b order on the header", r, d3b, "F:1002", ""),
                ("D3c surrogate then close", r,
                    [frame_to(r, false, 0x1, b"a\xed\xa0"), close(r, 1000, b"")].concat(),
                    "F:1007", "C:1000:"),
                ("D3c completed", r,
                    [frame_to(r, false, 0x1, b"a\xed\xa0"), frame_to(r, true, 0x0, b"")].concat(),
                    "F:1007", "F:1007"),
                ("agree: 1012 accepted", r, close(r, 1012, b""), "C:1012:", "C:1012:"),
                ("agree: 1013", r, close(r, 1013, b"x"), "C:1013:78", "C:1013:78"),
                ("agree: 1015 rejected", r, close(r, 1015, b""), "F:1002", "F:1002"),
                ("agree: 1004 rejected", r, close(r, 1004, b""), "F:1002", "F:1002"),
                ("agree: 2999 rejected", r, close(r, 2999, b""), "F:1002", "F:1002"),
                ("agree: 3000 accepted", r, close(r, 3000, b""), "C:3000:", "C:3000:"),
                ("agree: 4999 accepted", r, close(r, 4999, b""), "C:4999:", "C:4999:"),
                ("agree: 5000 rejected", r, close(r, 5000, b""), "F:1002", "F:1002"),
                ("agree: 1016 rejected", r, close(r, 1016, b""), "F:1002", "F:1002"),
                ("agree: 64-bit length with MSB set", r, msb, "F:1002", "F:1002"),
                ("agree: one-byte close", r, frame_to(r, true, 0x8, b"\x03"), "F:1002", "F:1002"),
                ("agree: empty close is 1005", r, frame_to(r, true, 0x8, b""), "C:1005:", "C:1005:"),
                ("agree: non-minimal 16-bit length", r, ext16(5), "F:1002", "F:1002"),
                ("agree: minimal 16-bit length", r, ext16(126), b126, b126),
                ("agree: frames after close ignored", r,
                    [close(r, 1000, b""), frame_to(r, true, 0x1, b"late"), vec![0xFF; 4]].concat(),
                    "C:1000:", "C:1000:"),
                ("agree: complete messages before a violation", r,
                    [frame_to(r, true, 0x1, b"ok"), frame_to(r, true, 0x9, b"p"), vec![0x83, 0x80]].concat(),
                    "T:6f6b PI:70 F:1002", "T:6f6b PI:70 F:1002"),
            ]
        })
        .collect();
    let py_cases: Vec<PyCase<'_>> = rows
        .iter()
        .map(|(_, role, stream, ..)| PyCase {
            role: *role,
            chunks: vec![&stream[..]],
        })
        .collect();
    let theirs = wsproto(&py_cases, "documented");
    let mut wrong = Vec::new();
    for ((name, role, stream, want_ours, want_theirs), got_theirs) in rows.iter().zip(theirs) {
        let got_ours = ours(*role, stream, &[usize::MAX]);
        if got_ours != outcome(want_ours) || got_theirs != outcome(want_theirs) {
            wrong.push(format!(
                "{name} ({role:?}, {}): ours {got_ours:?} (documented {want_ours:?}), wsproto {got_theirs:?} (documented {want_theirs:?})",
                hex(stream)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
