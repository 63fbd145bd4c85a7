//! Proptest strategies for valid and broken uncompressed streams (§5–§8).

use proptest::prelude::*;
use proptest::sample::Index;

use crate::generator::*;

// ---- strategies -----------------------------------------------------------------

/// Bytes of a length drawn from `len`, filled from a seed: one value tree
/// per payload rather than one per byte, so generation stays fast.
pub(crate) fn bytes(len: impl Strategy<Value = usize> + 'static) -> BoxedStrategy<Vec<u8>> {
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
pub(crate) const CHARS: &str =
    "éß€中𝄞😀\0\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{ffff}\u{10000}\u{10ffff}";

/// Up to `max_chars` characters (ASCII, the edges in [`CHARS`], any
/// scalar value), filled from a seed.
pub(crate) fn text(max_chars: usize) -> BoxedStrategy<String> {
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
pub(crate) fn cut_text(mut s: String, max: usize) -> String {
    while s.len() > max {
        s.pop();
    }
    s
}

/// A large text payload (64-bit length form), about `len` bytes.
pub(crate) fn big_text() -> BoxedStrategy<Vec<u8>> {
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
pub(crate) fn message_payload(text_kind: bool) -> BoxedStrategy<Vec<u8>> {
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

pub(crate) fn control_payload() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => bytes(0..=16usize),
        1 => bytes(0..=125usize),
        1 => bytes(Just(125usize)),
    ]
    .boxed()
}

pub(crate) fn ping_or_pong() -> BoxedStrategy<Frame> {
    (prop::sample::select(vec![0x9u8, 0xA]), control_payload())
        .prop_map(|(op, p)| frame(true, op, p))
        .boxed()
}

/// Cuts `payload` at `cuts` into data frames (opcode, then continuations),
/// with the given control frames after each fragment but the last.
pub(crate) fn fragments(
    opcode: u8,
    payload: &[u8],
    cuts: &[Index],
    between: &[Option<Frame>],
) -> Vec<Frame> {
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
pub(crate) fn cuts() -> BoxedStrategy<(Vec<Index>, Vec<Option<Frame>>)> {
    (
        prop_oneof![3 => Just(vec![]), 2 => prop::collection::vec(any::<Index>(), 1..=4)],
        prop::collection::vec(prop::option::weighted(0.3, ping_or_pong()), 4),
    )
        .boxed()
}

pub(crate) fn message() -> BoxedStrategy<Piece> {
    prop::sample::select(vec![0x1u8, 0x2])
        .prop_flat_map(|op| (Just(op), message_payload(op == 0x1), cuts()))
        .prop_map(|(op, payload, (cuts, between))| {
            let what = if op == 0x1 { "text" } else { "binary" };
            piece(what, fragments(op, &payload, &cuts, &between))
        })
        .boxed()
}

pub(crate) fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A close frame a peer may send: no payload, or a valid code and reason.
pub(crate) fn valid_close() -> BoxedStrategy<Piece> {
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

pub(crate) fn valid_piece() -> BoxedStrategy<Piece> {
    prop_oneof![
        6 => message(),
        2 => ping_or_pong().prop_map(|f| piece("control", vec![f])),
    ]
    .boxed()
}

/// A single well-formed frame of any kind, to be broken by the caller.
pub(crate) fn any_single_frame() -> BoxedStrategy<Frame> {
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
pub(crate) const BAD_UTF8: &[&[u8]] = &[
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
pub(crate) const PARTIAL_UTF8: &[&[u8]] = &[
    b"\xc3",
    b"\xe2",
    b"\xe2\x82",
    b"\xf0",
    b"\xf0\x9f",
    b"\xf0\x9f\x98",
    b"\xed\xa0",
    b"\xed",
];

pub(crate) fn bad_text() -> BoxedStrategy<Vec<u8>> {
    (text(12), prop::sample::select(BAD_UTF8.to_vec()), text(12))
        .prop_map(|(a, bad, b)| [a.as_bytes(), bad, b.as_bytes()].concat())
        .boxed()
}

pub(crate) fn small_bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    bytes(0..=max)
}

/// A piece that breaks the protocol, one way per arm.
pub(crate) fn broken_piece() -> BoxedStrategy<Piece> {
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

pub(crate) fn any_piece() -> BoxedStrategy<Piece> {
    prop_oneof![2 => valid_piece(), 1 => valid_close(), 1 => broken_piece()].boxed()
}

pub(crate) fn plan() -> BoxedStrategy<Plan> {
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
    plan_with(
        prop_oneof![3 => valid, 5 => broken]
            .prop_map(|pieces| (pieces, None))
            .boxed(),
    )
}

/// A plan around `pieces` and the permessage-deflate agreement they were
/// compressed for: some bytes flipped, some streams cut short, masking
/// keys, chunking.
pub(crate) fn plan_with(
    pieces: BoxedStrategy<(Vec<Piece>, Option<Agreement>)>,
) -> BoxedStrategy<Plan> {
    let chunking = prop_oneof![
        3 => Just(Chunking::Whole),
        1 => Just(Chunking::Bytewise),
        4 => prop::collection::vec(1usize..=64, 1..8).prop_map(Chunking::Sizes),
    ];
    (
        pieces,
        prop_oneof![8 => Just(vec![]), 2 => prop::collection::vec((any::<Index>(), 1u8..=255), 1..4)],
        prop::option::weighted(0.1, any::<Index>()),
        any::<u64>(),
        chunking,
        prop::collection::vec(1usize..=200, 1..8),
    )
        .prop_map(|((pieces, deflate), flips, truncate, keys, chunking, other_sizes)| Plan {
            pieces,
            flips,
            truncate,
            keys,
            chunking,
            other_sizes,
            deflate,
        })
        .boxed()
}
