//! Compressed streams (RFC 7692): a random agreement (windows 9–15, context
//! takeover on or off per direction), messages compressed by flate2's raw
//! deflate as a peer would (the trailing `00 00 ff ff` removed, §7.2.1;
//! RSV1 on the first frame only, §6), their compressed bytes cut into
//! fragments anywhere, control frames between them, flushed in every way
//! the RFC shows (§7.2.3), some damaged; uncompressed messages, closes and
//! broken pieces between them. Compression runs in order over a plan, so
//! with context takeover a message refers back to the ones before it.

use flate2::{Compress, Compression, FlushCompress, Status};
use proptest::prelude::*;
use proptest::sample::Index;
use rfc6455::Role;

use crate::generator::*;
use crate::strategies::{
    bad_text, broken_piece, bytes, ping_or_pong, plan_with, text, valid_close, valid_piece,
};

const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How the sender ends a compressed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// A sync flush, its `00 00 ff ff` removed (§7.2.1): the usual way.
    Sync,
    /// A sync flush after every fragment's data (§7.2.3.5: several blocks).
    SyncEachFragment,
    /// A full flush (resets the dictionary), tail removed.
    Full,
    /// A final block (BFINAL) and a `0x00` after it (§7.2.3.4).
    Final,
    /// The `00 00 ff ff` left in: the receiver's makes it two empty blocks.
    KeepTrailer,
    /// A sync flush with its tail in the message's fragments, then an
    /// empty final fragment carrying one `0x00` (§7.2.3.6).
    EmptyFinalFragment,
}

/// Damage to one compressed message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Damage {
    /// A compressed byte XORed with a value (corrupt data, 1007).
    Flip(Index, u8),
    /// The compressed bytes cut short (a truncated message: no error of
    /// itself; the next message starts mid-block).
    Cut(Index),
    /// RSV1 on the last continuation too (§6: 1002).
    Rsv1OnContinuation,
    /// No RSV1: the compressed bytes arrive as a plain message.
    NoRsv1,
}

/// One compressed message of a plan, before compression.
#[derive(Debug, Clone)]
pub(crate) struct Compressed {
    text: bool,
    data: Vec<u8>,
    cuts: Vec<Index>,
    between: Vec<Option<Frame>>,
    flush: Flush,
    level: u32,
    /// A new compressor's window: 9 up to the agreed one.
    window: Index,
    damage: Option<Damage>,
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Plain(Piece),
    Compressed(Compressed),
}

fn agreement() -> BoxedStrategy<Agreement> {
    (any::<bool>(), any::<bool>(), 9u8..=15, 9u8..=15)
        .prop_map(|(snct, cnct, s, c)| Agreement {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: s,
            client_max_window_bits: c,
        })
        .boxed()
}

/// What a compressed message holds: text, compressible text (repeated,
/// up to 24 KiB), invalid UTF-8, binary, rarely 1 MiB of zeros
/// (within our default limits: both receivers must inflate it all).
fn compressed_data() -> BoxedStrategy<(bool, Vec<u8>)> {
    prop_oneof![
        6 => text(60).prop_map(|t| (true, t.into_bytes())),
        3 => (text(30), 2usize..200).prop_map(|(t, n)| (true, t.repeat(n).into_bytes())),
        2 => bad_text().prop_map(|b| (true, b)),
        3 => bytes(0..=300usize).prop_map(|b| (false, b)),
        1 => (any::<bool>(), 0usize..4000).prop_map(|(text, n)| (text, b"abc".repeat(n))),
        1 => Just((false, vec![0u8; 1 << 20])),
    ]
    .boxed()
}

fn compressed() -> BoxedStrategy<Compressed> {
    let flush = prop_oneof![
        8 => Just(Flush::Sync),
        2 => Just(Flush::SyncEachFragment),
        1 => Just(Flush::Full),
        1 => Just(Flush::Final),
        1 => Just(Flush::KeepTrailer),
        1 => Just(Flush::EmptyFinalFragment),
    ];
    let damage = prop_oneof![
        2 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
        1 => any::<Index>().prop_map(Damage::Cut),
        1 => Just(Damage::Rsv1OnContinuation),
        1 => Just(Damage::NoRsv1),
    ];
    (
        compressed_data(),
        prop_oneof![2 => Just(vec![]), 3 => prop::collection::vec(any::<Index>(), 1..=4)],
        prop::collection::vec(prop::option::weighted(0.25, ping_or_pong()), 4),
        flush,
        // Not 0: stored blocks would send 1 MiB of zeros as they are, which
        // only costs time (the documented test has the §7.2.3.3 stored block).
        1u32..=9,
        any::<Index>(),
        prop::option::weighted(0.15, damage),
    )
        .prop_map(
            |((text, data), cuts, between, flush, level, window, damage)| Compressed {
                text,
                data,
                cuts,
                between,
                flush,
                level,
                window,
                damage,
            },
        )
        .boxed()
}

fn item() -> BoxedStrategy<Item> {
    prop_oneof![
        8 => compressed().prop_map(Item::Compressed),
        2 => valid_piece().prop_map(Item::Plain),
        1 => broken_piece().prop_map(Item::Plain),
    ]
    .boxed()
}

/// A compressed plan for a receiver in `role`.
pub(crate) fn deflate_plan(role: Role) -> BoxedStrategy<Plan> {
    let pieces = (
        agreement(),
        prop::collection::vec(item(), 1..6),
        prop::option::weighted(0.3, valid_close()),
    )
        .prop_map(move |(agreement, items, close)| {
            let mut pieces = realize(role, agreement, items);
            pieces.extend(close);
            (pieces, Some(agreement))
        })
        .boxed();
    plan_with(pieces)
}

/// Everything a compressor writes for `input` with `flush`.
fn deflate(c: &mut Compress, mut input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
    loop {
        out.reserve(256.max(input.len() / 2));
        let (before_in, before_out) = (c.total_in(), c.total_out());
        let status = c.compress_vec(input, out, flush).expect("compress");
        input = &input[(c.total_in() - before_in) as usize..];
        let progress = c.total_in() != before_in || c.total_out() != before_out;
        if status == Status::StreamEnd
            || (input.is_empty() && out.len() < out.capacity())
            || !progress
        {
            return;
        }
    }
}

/// `data` cut at `cuts` (sorted), as ranges.
fn ranges(len: usize, cuts: &[Index]) -> Vec<(usize, usize)> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(len + 1)).collect();
    at.sort_unstable();
    at.push(len);
    let mut start = 0;
    at.into_iter()
        .map(|end| {
            let r = (start, end);
            start = end;
            r
        })
        .collect()
}

/// Compresses the plan's messages in order, as the peer of a `role`
/// receiver does under `agreement`.
fn realize(role: Role, agreement: Agreement, items: Vec<Item>) -> Vec<Piece> {
    let (max_bits, reset) = agreement.peer_side(role);
    let mut stream: Option<Compress> = None;
    let mut pieces = Vec::new();
    for item in items {
        let m = match item {
            Item::Plain(p) => {
                pieces.push(p);
                continue;
            }
            Item::Compressed(m) => m,
        };
        let bits = 9 + m.window.index(usize::from(max_bits) - 8) as u8;
        let c = stream.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(m.level), false, bits)
        });
        // The compressed payload of each fragment.
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        if m.flush == Flush::SyncEachFragment {
            for (start, end) in ranges(m.data.len(), &m.cuts) {
                let mut out = Vec::new();
                deflate(c, &m.data[start..end], FlushCompress::Sync, &mut out);
                payloads.push(out);
            }
            let last = payloads.last_mut().expect("one range at least");
            if last.ends_with(&TRAILER) {
                last.truncate(last.len() - 4);
            }
        } else {
            let mode = match m.flush {
                Flush::Full => FlushCompress::Full,
                Flush::Final => FlushCompress::Finish,
                _ => FlushCompress::Sync,
            };
            let mut out = Vec::new();
            deflate(c, &m.data, mode, &mut out);
            match m.flush {
                Flush::Final => out.push(0x00),
                Flush::KeepTrailer | Flush::EmptyFinalFragment => {}
                _ if out.ends_with(&TRAILER) => out.truncate(out.len() - 4),
                _ => {}
            }
            match m.damage {
                Some(Damage::Flip(at, x)) if !out.is_empty() => {
                    let i = at.index(out.len());
                    out[i] ^= x;
                }
                Some(Damage::Cut(at)) => out.truncate(at.index(out.len() + 1)),
                _ => {}
            }
            payloads = ranges(out.len(), &m.cuts)
                .into_iter()
                .map(|(start, end)| out[start..end].to_vec())
                .collect();
            if m.flush == Flush::EmptyFinalFragment {
                payloads.push(vec![0x00]);
            }
        }
        if m.flush == Flush::Final || reset {
            stream = None;
        }
        let n = payloads.len();
        let mut frames = Vec::new();
        for (i, payload) in payloads.into_iter().enumerate() {
            let last = i + 1 == n;
            let opcode = match (i, m.text) {
                (0, true) => 0x1,
                (0, false) => 0x2,
                _ => 0x0,
            };
            let rsv = match (i, m.damage) {
                (0, Some(Damage::NoRsv1)) => 0,
                (0, _) => 0b100,
                (_, Some(Damage::Rsv1OnContinuation)) if last => 0b100,
                _ => 0,
            };
            frames.push(Frame {
                rsv,
                ..frame(last, opcode, payload)
            });
            if let (false, Some(Some(control))) = (last, m.between.get(i)) {
                frames.push(control.clone());
            }
        }
        let what = match (m.damage, m.flush) {
            (Some(Damage::Flip(..)), _) => "compressed, flipped",
            (Some(Damage::Cut(_)), _) => "compressed, cut short",
            (Some(Damage::Rsv1OnContinuation), _) => "compressed, rsv1 on continuation",
            (Some(Damage::NoRsv1), _) => "compressed, no rsv1",
            (None, Flush::Sync) => "compressed",
            (None, Flush::SyncEachFragment) => "compressed, sync flush per fragment",
            (None, Flush::Full) => "compressed, full flush",
            (None, Flush::Final) => "compressed, bfinal",
            (None, Flush::KeepTrailer) => "compressed, trailer kept",
            (None, Flush::EmptyFinalFragment) => "compressed, empty final fragment",
        };
        pieces.push(piece(what, frames));
    }
    pieces
}

/// A frame of a compressed stream towards a `receiver` (masked towards a
/// server), RSV1 as given.
pub(crate) fn pmd_frame(
    receiver: Role,
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let f = Frame {
        rsv: if rsv1 { 0b100 } else { 0 },
        ..frame(fin, opcode, payload.to_vec())
    };
    encode_frame(&f, receiver, [0x37, 0xfa, 0x21, 0x3d], &mut out);
    out
}

/// D6: a binary message of 2000 pseudo-random bytes twice, compressed with
/// a 15-bit window and cut after the first 2000 bytes' sync flush: the
/// second fragment is one back-reference 2000 bytes back, past a 9-bit
/// window and before the start of the receiver's second inflate call.
pub(crate) fn far_reference(receiver: Role) -> (Vec<u8>, Vec<u8>) {
    let mut x = 12345u32;
    let a: Vec<u8> = (0..2000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let data = [a.clone(), a].concat();
    let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    deflate(&mut c, &data[..2000], FlushCompress::Sync, &mut first);
    deflate(&mut c, &data[2000..], FlushCompress::Sync, &mut second);
    second.truncate(second.len() - TRAILER.len());
    let stream = [
        pmd_frame(receiver, false, true, 0x2, &first),
        pmd_frame(receiver, true, false, 0x0, &second),
    ]
    .concat();
    (stream, data)
}
