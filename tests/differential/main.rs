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
//! Compressed streams (RFC 7692, `deflate.rs`, `agrees_with_wsproto_on_compressed_streams`):
//! a random agreement per stream (windows 9–15 bits, which is all wsproto
//! takes, context takeover on or off per direction), both receivers set up
//! with it (wsproto through `wsproto.extensions.PerMessageDeflate`), and
//! messages compressed as a peer does: text, compressible text, invalid
//! UTF-8, binary, 1 MiB of zeros; the compressed bytes cut into fragments
//! anywhere with control frames between; flushed with a sync flush, one per
//! fragment, a full flush, a BFINAL block, the trailer kept, an empty final
//! fragment; some with a compressed byte flipped, cut short, RSV1 on a
//! continuation or missing; uncompressed messages, closes and broken pieces
//! between; and the same flips, truncation and chunkings as above. Payloads
//! above 4 KiB are compared by length and CRC-32.
//!
//! `WSDIFF_SEED=<u64>` explores other streams, `WSDIFF_CASES=<n>` sets the
//! number per role (`WSDIFF_DEFLATE_CASES` for compressed ones),
//! `WSDIFF_EXAMPLES=1` prints one case of each verdict. A disagreement
//! prints the seed, the case, its agreement, its plan and its bytes, and
//! writes the whole stream to `target/tmp/`.
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
//! | D4 | after a compressed message ending in a BFINAL block (§7.2.3.4), with context takeover, another compressed message | inflates it with a new stream | fails 1007 ("error in extension": its finished decompressor is kept) | §7.2.3.4 shows BFINAL as a way to flush; §7.2.2: decompress each message | ours; wsproto_diff.py fixes it (`FixedPerMessageDeflate`) so the comparison goes on | never: the fix runs for every compressed stream; the documented test pins the bug with wsproto as released |
//! | D5 | a control frame between the fragments of a compressed message (or, with the fix, a control frame whose header arrives in pieces) | the message goes on compressed | reads the rest of the message as uncompressed (its control frame resets the message's compression flag) | §5.4: control frames may be injected in the middle of a fragmented message; RFC 7692 §6: RSV1 marks the whole message | ours; fixed in wsproto_diff.py as D4 | never, as D4 |
//! | D6 | compressed data that refers further back than the agreed window, to bytes an earlier inflate call wrote (a sender breaking §7.1.2, or damaged data) | inflates it: zlib-rs keeps 32 KiB of history whatever the window | fails 1007: C zlib's "invalid distance too far back" | §7.1.2: the sender must not use a larger window; nothing asks the receiver to check | both allowed | wsproto failed 1007 with that zlib error (`Z:far`), the stream was damaged (flipped bytes or a damaged compressed message), and wsproto's events are a prefix of ours |
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
mod cases;
#[path = "../common/mod.rs"]
mod common;
#[cfg(feature = "deflate")]
mod deflate;
mod driver;
mod generator;
mod strategies;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Instant;

use rfc6455::Role;

use cases::*;
use driver::*;
use generator::split;
use strategies::close_payload;

/// Generated streams per role.
const CASES_PER_ROLE: usize = 12_000;

/// The default seed: the suite is reproducible; `WSDIFF_SEED` changes it.
const DEFAULT_SEED: u64 = 0x6455_d1ff_2026_0001;

/// Compressed streams per role (`WSDIFF_DEFLATE_CASES` changes it).
#[cfg(feature = "deflate")]
const DEFLATE_CASES_PER_ROLE: usize = 1_200;

/// XORed into the seed of the compressed suite (and so into its file names).
#[cfg(feature = "deflate")]
const DEFLATE_SEED: u64 = 0x7692_0000_0000_7692;

#[test]
fn agrees_with_wsproto_on_generated_streams() {
    let seed = env_u64("WSDIFF_SEED").unwrap_or(DEFAULT_SEED);
    let per_role = env_u64("WSDIFF_CASES").map_or(CASES_PER_ROLE, |n| n as usize);
    run_suite("differential", seed, per_role, |_| strategies::plan());
}

/// The same comparison over compressed streams (RFC 7692, see
/// `deflate.rs`), both receivers with the plan's agreement.
#[cfg(feature = "deflate")]
#[test]
fn agrees_with_wsproto_on_compressed_streams() {
    let seed = env_u64("WSDIFF_SEED").unwrap_or(DEFAULT_SEED) ^ DEFLATE_SEED;
    let per_role = env_u64("WSDIFF_DEFLATE_CASES").map_or(DEFLATE_CASES_PER_ROLE, |n| n as usize);
    run_suite(
        "differential (deflate)",
        seed,
        per_role,
        deflate::deflate_plan,
    );
}

/// Generates `per_role` plans of `kind` per role, runs both sides, judges
/// every disagreement and fails on any that is not documented.
fn run_suite(name: &str, seed: u64, per_role: usize, kind: PlanKind) {
    let started = Instant::now();
    let mut cases = generate_cases(seed, per_role, kind);
    let generated = started.elapsed();
    let mut problems = run_both(&mut cases, seed);
    let compared = started.elapsed();
    let (verdicts, probes) = judge(&cases, seed);

    // Shown by `cargo test` even on success (not captured).
    let mut out = report(&cases, &verdicts).replace("differential:", &format!("{name}:"));
    out += &format!(
        "{name}: seed {seed:#x}, {} cases + {probes} probes; generation {:.1?}, both sides {:.1?}, total {:.1?}\n",
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
            // The whole stream, to replay (describe() shows its start).
            let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "wsdiff-{seed:x}-{}-{}.bin",
                role_name(case.role),
                case.index
            ));
            let _ = std::fs::write(&path, &case.stream);
            problems.push(format!(
                "disagreement with wsproto (stream in {}): {}",
                path.display(),
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
            ..Outcome::default()
        };
        assert_eq!(ours(role, &stream, &[3]), expected);
        let theirs = wsproto(
            &[PyCase {
                role,
                deflate: None,
                released: false,
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
            deflate: None,
            released: false,
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

/// One row: name, role, agreement, wsproto as released, stream, our
/// outcome, wsproto's outcome (as tokens).
#[cfg(feature = "deflate")]
type DeflateRow = (
    &'static str,
    Role,
    generator::Agreement,
    bool,
    Vec<u8>,
    String,
    String,
);

/// The permessage-deflate rows of the table at the top of this file (D4,
/// D5 with wsproto as released; D6) and agreements on RFC 7692's own
/// examples (§7.2.3), one stream per row: each side must give exactly the
/// outcome written here.
#[cfg(feature = "deflate")]
#[test]
fn documented_deflate_differences_and_agreements_hold() {
    use deflate::{far_reference, pmd_frame};
    use generator::Agreement;
    let agreement = |bits: u8, reset: bool| Agreement {
        server_no_context_takeover: reset,
        client_no_context_takeover: reset,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    };
    let hello: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let hello_bfinal: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let t_hello = "T:48656c6c6f";
    let t_hello2 = "T:48656c6c6f T:48656c6c6f";
    #[rustfmt::skip]
    let rows: Vec<DeflateRow> = [Role::Server, Role::Client]
        .into_iter()
        .flat_map(|r| {
            let f = |fin, rsv1, op, p: &[u8]| pmd_frame(r, fin, rsv1, op, p);
            let (far, far_data) = far_reference(r);
            let far_ours = format!("B:{}", hex(&far_data));
            let ping = f(true, false, 0x9, b"p");
            [
                ("D4 bfinal, then a message: released wsproto fails on it", r, agreement(15, false), true,
                    [f(true, true, 1, hello_bfinal), f(true, true, 1, hello)].concat(),
                    t_hello2.to_owned(), format!("{t_hello} F:1007")),
                ("D4 fixed", r, agreement(15, false), false,
                    [f(true, true, 1, hello_bfinal), f(true, true, 1, hello)].concat(),
                    t_hello2.to_owned(), t_hello2.to_owned()),
                ("D5 ping between compressed fragments: released wsproto reads on uncompressed", r,
                    agreement(15, false), true,
                    [f(false, true, 1, &hello[..3]), ping.clone(), f(true, false, 0, &hello[3..])].concat(),
                    format!("PI:70 {t_hello}"), "PI:70 F:1007".to_owned()),
                ("D5 fixed", r, agreement(15, false), false,
                    [f(false, true, 1, &hello[..3]), ping.clone(), f(true, false, 0, &hello[3..])].concat(),
                    format!("PI:70 {t_hello}"), format!("PI:70 {t_hello}")),
                ("D6 a reference past the agreed 9-bit window", r, agreement(9, false), false,
                    far.clone(), far_ours.clone(), "F:1007".to_owned()),
                ("agree: the same reference within a 12-bit window", r, agreement(12, false), false,
                    far, far_ours.clone(), far_ours),
                ("agree: §7.2.3.1 Hello", r, agreement(15, true), false, f(true, true, 1, hello),
                    t_hello.to_owned(), t_hello.to_owned()),
                ("agree: §7.2.3.1 Hel + lo", r, agreement(15, false), false,
                    [f(false, true, 1, &hello[..3]), f(true, false, 0, &hello[3..])].concat(),
                    t_hello.to_owned(), t_hello.to_owned()),
                ("agree: §7.2.3.2 a shared window", r, agreement(15, false), false,
                    [f(true, true, 1, hello), f(true, true, 1, &[0xf2, 0x00, 0x11, 0x00, 0x00])].concat(),
                    t_hello2.to_owned(), t_hello2.to_owned()),
                ("agree: §7.2.3.3 a stored block", r, agreement(15, false), false,
                    f(true, true, 1, &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]),
                    t_hello.to_owned(), t_hello.to_owned()),
                ("agree: §7.2.3.5 two blocks", r, agreement(15, false), false,
                    f(true, true, 1, &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]),
                    t_hello.to_owned(), t_hello.to_owned()),
                ("agree: §7.2.3.6 an empty final fragment", r, agreement(15, false), false,
                    [f(false, true, 1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff]),
                        f(true, false, 0, &[0x00])].concat(),
                    t_hello.to_owned(), t_hello.to_owned()),
                ("agree: §6 RSV1 on a continuation", r, agreement(15, false), false,
                    [f(false, true, 1, &hello[..3]), f(true, true, 0, &hello[3..])].concat(),
                    "F:1002".to_owned(), "F:1002".to_owned()),
                ("agree: §6 RSV1 on a ping", r, agreement(15, false), false, f(true, true, 9, b"p"),
                    "F:1002".to_owned(), "F:1002".to_owned()),
                ("agree: invalid compressed data", r, agreement(15, false), false,
                    f(true, true, 1, &[0xff, 0xff, 0xff]), "F:1007".to_owned(), "F:1007".to_owned()),
                ("agree: invalid UTF-8 inside", r, agreement(15, false), false,
                    f(true, true, 1, &[0x3b, 0x00, 0x00]), "F:1007".to_owned(), "F:1007".to_owned()),
            ]
        })
        .collect();
    let py_cases: Vec<PyCase<'_>> = rows
        .iter()
        .map(|(_, role, agreement, released, stream, ..)| PyCase {
            role: *role,
            deflate: Some(*agreement),
            released: *released,
            chunks: vec![&stream[..]],
        })
        .collect();
    let theirs = wsproto(&py_cases, "documented-deflate");
    let mut wrong = Vec::new();
    for ((name, role, agreement, _, stream, want_ours, want_theirs), got_theirs) in
        rows.iter().zip(theirs)
    {
        let got_ours = ours_with(*role, Some(*agreement), stream, &[usize::MAX]);
        let far = name.starts_with("D6") && !got_theirs.too_far;
        if got_ours != outcome(want_ours) || got_theirs != outcome(want_theirs) || far {
            wrong.push(format!(
                "{name} ({role:?}, {}): ours {got_ours:?} (documented {want_ours:?}), wsproto {got_theirs:?} (documented {want_theirs:?})",
                hex(stream)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
