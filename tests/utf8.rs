//! UTF-8 in text messages (RFC 6455 §8.1, §5.6): the Autobahn|Testsuite
//! section 6 cases, through the public API.
//!
//! The rule under test: a text message must be valid UTF-8 as a whole, it
//! may be split anywhere (between fragments, between reads, inside a code
//! point), and an endpoint fails the connection with 1007 as soon as the
//! bytes received can no longer be the start of valid UTF-8 ("fail fast",
//! Autobahn 6.4.x), not only when the message ends.

mod common;
use common::*;

use rfc6455::utf8::{Utf8Error, Utf8Validator};
use rfc6455::{CloseCode, Event, Message, ProtocolError, Role};

/// The payload of Autobahn 6.3.1 and 6.4.x: "κόσμε", a bad sequence, "edited".
const KOSME: &[u8] = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
const EDITED: &[u8] = b"edited";

/// The UTF-8 vectors of Autobahn cases 6.5.x to 6.23.x: (case id, valid,
/// bytes). Transcribed from `createUtf8TestSequences` in autobahn-testsuite's
/// `case/case6_x_x.py` (itself built on Markus Kuhn's UTF-8-test.txt); the
/// groups are numbered from 6.5 in order and the cases from 1, as there.
fn autobahn_vectors() -> Vec<(String, bool, Vec<u8>)> {
    fn ok(bytes: &[u8]) -> (bool, Vec<u8>) {
        (true, bytes.to_vec())
    }
    fn bad(bytes: &[u8]) -> (bool, Vec<u8>) {
        (false, bytes.to_vec())
    }
    // For 6.12: every continuation byte but 0xBF, in a row.
    let continuations: Vec<u8> = (0x80..0xbf).collect();
    // For 6.14 and 6.15.
    let truncated: [&[u8]; 10] = [
        b"\xc0",
        b"\xe0\x80",
        b"\xf0\x80\x80",
        b"\xf8\x80\x80\x80",
        b"\xfc\x80\x80\x80\x80",
        b"\xdf",
        b"\xef\xbf",
        b"\xf7\xbf\xbf",
        b"\xfb\xbf\xbf\xbf",
        b"\xfd\xbf\xbf\xbf\xbf",
    ];
    // 6.22: noncharacters (U+FFFE, U+FFFF, U+nFFFE, U+nFFFF): valid UTF-8.
    let mut nonchars = vec![ok(b"\xef\xbf\xbe"), ok(b"\xef\xbf\xbf")];
    for z1 in 0xf0..=0xf4u8 {
        for z2 in [0x8f, 0x9f, 0xaf, 0xbf] {
            // F4 9F.. and up are beyond U+10FFFF; F0 8F.. is overlong.
            if (z1 == 0xf4 && z2 != 0x8f) || (z1 == 0xf0 && z2 == 0x8f) {
                continue;
            }
            for z3 in [0xbe, 0xbf] {
                nonchars.push(ok(&[z1, z2, 0xbf, z3]));
            }
        }
    }
    let groups: Vec<Vec<(bool, Vec<u8>)>> = vec![
        // 6.5: some valid UTF-8 sequences (U+0024, U+00A2, U+20AC, U+24B62).
        vec![
            ok(b"hello\x24world"),
            ok(b"hello\xc2\xa2world"),
            ok(b"hello\xe2\x82\xacworld"),
            ok(b"hello\xf0\xa4\xad\xa2world"),
            ok(KOSME),
        ],
        // 6.6: every prefix of "κόσμε"; valid exactly when it ends on a code point.
        (1..=KOSME.len())
            .map(|n| ([2, 5, 7, 9, 11].contains(&n), KOSME[..n].to_vec()))
            .collect(),
        // 6.7: the first possible sequence of each length.
        vec![
            ok(b"\x00"),
            ok(b"\xc2\x80"),
            ok(b"\xe0\xa0\x80"),
            ok(b"\xf0\x90\x80\x80"),
        ],
        // 6.8: the first 5- and 6-byte sequences (the old scheme, beyond U+10FFFF).
        vec![
            bad(b"\xf8\x88\x80\x80\x80"),
            bad(b"\xfc\x84\x80\x80\x80\x80"),
        ],
        // 6.9: the last possible sequence of each length.
        vec![
            ok(b"\x7f"),
            ok(b"\xdf\xbf"),
            ok(b"\xef\xbf\xbf"),
            ok(b"\xf4\x8f\xbf\xbf"),
        ],
        // 6.10: the last 4-, 5- and 6-byte sequences (beyond U+10FFFF).
        vec![
            bad(b"\xf7\xbf\xbf\xbf"),
            bad(b"\xfb\xbf\xbf\xbf\xbf"),
            bad(b"\xfd\xbf\xbf\xbf\xbf\xbf"),
        ],
        // 6.11: other boundaries: U+D7FF, U+E000, U+FFFD, U+10FFFF; U+110000.
        vec![
            ok(b"\xed\x9f\xbf"),
            ok(b"\xee\x80\x80"),
            ok(b"\xef\xbf\xbd"),
            ok(b"\xf4\x8f\xbf\xbf"),
            bad(b"\xf4\x90\x80\x80"),
        ],
        // 6.12: unexpected continuation bytes.
        vec![
            bad(b"\x80"),
            bad(b"\xbf"),
            bad(b"\x80\xbf"),
            bad(b"\x80\xbf\x80"),
            bad(b"\x80\xbf\x80\xbf"),
            bad(b"\x80\xbf\x80\xbf\x80"),
            bad(b"\x80\xbf\x80\xbf\x80\xbf"),
            bad(&continuations),
        ],
        // 6.13: lonely start bytes, each followed by a space.
        [
            (0xc0, 0xdf),
            (0xe0, 0xef),
            (0xf0, 0xf7),
            (0xf8, 0xfb),
            (0xfc, 0xfd),
        ]
        .iter()
        .map(|&(lo, hi)| (false, (lo..hi).flat_map(|b| [b, b' ']).collect()))
        .collect(),
        // 6.14: sequences with the last continuation byte missing.
        truncated.iter().map(|b| bad(b)).collect(),
        // 6.15: all of 6.14 concatenated.
        vec![bad(&truncated.concat())],
        // 6.16: bytes that never appear in UTF-8.
        vec![bad(b"\xfe"), bad(b"\xff"), bad(b"\xfe\xfe\xff\xff")],
        // 6.17: overlong encodings of '/'.
        vec![
            bad(b"\xc0\xaf"),
            bad(b"\xe0\x80\xaf"),
            bad(b"\xf0\x80\x80\xaf"),
            bad(b"\xf8\x80\x80\x80\xaf"),
            bad(b"\xfc\x80\x80\x80\x80\xaf"),
        ],
        // 6.18: the largest overlong encoding of each length.
        vec![
            bad(b"\xc1\xbf"),
            bad(b"\xe0\x9f\xbf"),
            bad(b"\xf0\x8f\xbf\xbf"),
            bad(b"\xf8\x87\xbf\xbf\xbf"),
            bad(b"\xfc\x83\xbf\xbf\xbf\xbf"),
        ],
        // 6.19: overlong encodings of NUL.
        vec![
            bad(b"\xc0\x80"),
            bad(b"\xe0\x80\x80"),
            bad(b"\xf0\x80\x80\x80"),
            bad(b"\xf8\x80\x80\x80\x80"),
            bad(b"\xfc\x80\x80\x80\x80\x80"),
        ],
        // 6.20: single UTF-16 surrogates (U+D800, U+DB7F, U+DB80, U+DBFF, U+DC00, U+DF80, U+DFFF).
        vec![
            bad(b"\xed\xa0\x80"),
            bad(b"\xed\xad\xbf"),
            bad(b"\xed\xae\x80"),
            bad(b"\xed\xaf\xbf"),
            bad(b"\xed\xb0\x80"),
            bad(b"\xed\xbe\x80"),
            bad(b"\xed\xbf\xbf"),
        ],
        // 6.21: paired UTF-16 surrogates (CESU-8), still invalid UTF-8.
        vec![
            bad(b"\xed\xa0\x80\xed\xb0\x80"),
            bad(b"\xed\xa0\x80\xed\xbf\xbf"),
            bad(b"\xed\xad\xbf\xed\xb0\x80"),
            bad(b"\xed\xad\xbf\xed\xbf\xbf"),
            bad(b"\xed\xae\x80\xed\xb0\x80"),
            bad(b"\xed\xae\x80\xed\xbf\xbf"),
            bad(b"\xed\xaf\xbf\xed\xb0\x80"),
            bad(b"\xed\xaf\xbf\xed\xbf\xbf"),
        ],
        // 6.22: noncharacters (U+FFFE, U+FFFF, U+nFFFE, U+nFFFF): valid UTF-8.
        nonchars,
        // 6.23: the Specials block, U+FFF9 to U+FFFF, replacement character included.
        (0xb9..=0xbf).map(|last| ok(&[0xef, 0xbf, last])).collect(),
    ];

    let mut vectors = Vec::new();
    for (i, group) in groups.into_iter().enumerate() {
        for (j, (valid, bytes)) in group.into_iter().enumerate() {
            vectors.push((format!("6.{}.{}", i + 5, j + 1), valid, bytes));
        }
    }
    vectors
}

/// The index of the first byte after which `bytes` can no longer be the
/// start of valid UTF-8, or `None` when every prefix can still be completed
/// (valid, or only cut short at the end).
fn impossible_at(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find(|&i| match std::str::from_utf8(&bytes[..=i]) {
        Ok(_) => false,
        Err(e) => e.error_len().is_some(),
    })
}

/// The text message `bytes` as one frame per byte (Autobahn's `payload_frag_size = 1`).
fn one_byte_fragments(role: Role, bytes: &[u8]) -> Vec<Vec<u8>> {
    let last = bytes.len() - 1;
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| frame_to(role, i == last, if i == 0 { 0x1 } else { 0x0 }, &[b]))
        .collect()
}

/// Asserts the outcome of one whole text message: the text for valid
/// bytes, a 1007 failure otherwise.
#[track_caller]
fn assert_verdict(case: &str, valid: bool, bytes: &[u8], out: &Outcome) {
    if valid {
        let text = std::str::from_utf8(bytes).unwrap();
        assert_eq!(out.error, None, "{case}: {bytes:x?}");
        assert_eq!(
            out.events,
            vec![Event::Message(Message::Text(text.into()))],
            "{case}"
        );
        assert!(out.sent.is_empty(), "{case}: sent {:?}", out.sent);
    } else {
        assert_eq!(
            out.error,
            Some(ProtocolError::InvalidUtf8),
            "{case}: {bytes:x?}"
        );
        assert!(out.events.is_empty(), "{case}: {:?}", out.events);
        out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
    }
}

// ---- the vector table ----------------------------------------------------

#[test]
fn autobahn_vector_table_matches_the_testsuite() {
    let vectors = autobahn_vectors();
    // Case counts per group, 6.5 to 6.23, as the testsuite numbers them.
    let counts = [5, 11, 4, 2, 4, 3, 5, 8, 5, 10, 1, 3, 5, 5, 5, 7, 8, 34, 7];
    for (k, &count) in counts.iter().enumerate() {
        let prefix = format!("6.{}.", k + 5);
        let n = vectors
            .iter()
            .filter(|(id, ..)| id.starts_with(&prefix))
            .count();
        assert_eq!(n, count, "group {prefix}x");
    }
    assert_eq!(vectors.len(), counts.iter().sum::<usize>());
    // The verdicts agree with the standard library's UTF-8 decoder.
    for (case, valid, bytes) in &vectors {
        assert_eq!(std::str::from_utf8(bytes).is_ok(), *valid, "{case}");
    }
}

// Autobahn 6.5.x to 6.23.x: each vector as a text message in one frame.
#[test]
fn text_in_one_frame_is_delivered_if_valid_and_fails_with_1007_if_not() {
    for role in [Role::Server, Role::Client] {
        for (case, valid, bytes) in autobahn_vectors() {
            let out = feed(
                &mut connection(role),
                &frame_to(role, true, 0x1, &bytes),
                4096,
            );
            assert_verdict(&format!("{case} ({role:?})"), valid, &bytes, &out);
        }
    }
}

#[test]
fn text_in_one_frame_gets_the_same_verdict_at_every_read_size() {
    for (case, valid, bytes) in autobahn_vectors() {
        let frame = client_frame(true, 0x1, &bytes);
        for chunk in 1..=frame.len() {
            let out = feed(&mut server(), &frame, chunk);
            assert_verdict(&format!("{case}, reads of {chunk}"), valid, &bytes, &out);
        }
    }
}

// Fail fast within one frame (the rule of Autobahn 6.4.3/6.4.4, for every vector):
// the header first, then the payload one byte per read.
#[test]
fn text_frame_read_byte_by_byte_fails_at_the_first_impossible_byte() {
    for role in [Role::Server, Role::Client] {
        for (case, valid, bytes) in autobahn_vectors() {
            let frame = frame_to(role, true, 0x1, &bytes);
            let (head, payload) = frame.split_at(header_len(&frame));
            let mut pieces = vec![head];
            pieces.extend(payload.chunks(1));
            let (out, failed_at) = feed_pieces(&mut connection(role), &pieces);
            assert_verdict(&format!("{case} ({role:?})"), valid, &bytes, &out);
            if !valid {
                // Piece 0 is the header; payload byte i is piece i + 1. A
                // sequence that is only cut short fails at the end of the message.
                let expected = impossible_at(&bytes).unwrap_or(bytes.len() - 1) + 1;
                assert_eq!(failed_at, Some(expected), "{case} ({role:?}): {bytes:x?}");
            }
        }
    }
}

// Autobahn 6.2.3, 6.2.4, 6.3.2 for every vector: one frame per byte, so
// frames end inside code points; an invalid one fails at the frame that
// brings the impossible byte.
#[test]
fn text_in_one_byte_fragments_fails_at_the_fragment_with_the_impossible_byte() {
    for role in [Role::Server, Role::Client] {
        for (case, valid, bytes) in autobahn_vectors() {
            let frames = one_byte_fragments(role, &bytes);
            let pieces: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let (out, failed_at) = feed_pieces(&mut connection(role), &pieces);
            assert_verdict(&format!("{case} ({role:?})"), valid, &bytes, &out);
            if !valid {
                let expected = impossible_at(&bytes).unwrap_or(bytes.len() - 1);
                assert_eq!(failed_at, Some(expected), "{case} ({role:?}): {bytes:x?}");
            }
        }
    }
}

#[test]
fn text_split_into_two_fragments_anywhere_gets_the_same_verdict() {
    for (case, valid, bytes) in autobahn_vectors() {
        for split in 0..=bytes.len() {
            let first = client_frame(false, 0x1, &bytes[..split]);
            let second = client_frame(true, 0x0, &bytes[split..]);
            let (out, failed_at) = feed_pieces(&mut server(), &[&first, &second]);
            let label = format!("{case} split at {split}");
            assert_verdict(&label, valid, &bytes, &out);
            if !valid {
                let in_first = impossible_at(&bytes).is_some_and(|i| i < split);
                assert_eq!(failed_at, Some(if in_first { 0 } else { 1 }), "{label}");
            }
        }
    }
}

// ---- Autobahn 6.1 to 6.4 -------------------------------------------------

// Autobahn 6.1.1
#[test]
fn empty_text_message_is_delivered() {
    let out = server_gets(&client_frame(true, 0x1, b""));
    assert_eq!(out.error, None);
    assert_eq!(
        out.events,
        vec![Event::Message(Message::Text(String::new().into()))]
    );
}

// Autobahn 6.1.2
#[test]
fn text_message_of_three_empty_fragments_is_one_empty_message() {
    let mut input = client_frame(false, 0x1, b"");
    input.extend(client_frame(false, 0x0, b""));
    input.extend(client_frame(true, 0x0, b""));
    for chunk in [1, input.len()] {
        let out = feed(&mut server(), &input, chunk);
        assert_eq!(out.error, None);
        assert_eq!(
            out.events,
            vec![Event::Message(Message::Text(String::new().into()))]
        );
    }
}

// Autobahn 6.1.3
#[test]
fn empty_first_and_last_fragments_around_text_give_the_middle_text() {
    let mut input = client_frame(false, 0x1, b"");
    input.extend(client_frame(false, 0x0, b"middle frame payload"));
    input.extend(client_frame(true, 0x0, b""));
    let out = server_gets(&input);
    assert_eq!(
        out.events,
        vec![Event::Message(Message::Text("middle frame payload".into()))]
    );
}

// Autobahn 6.2.1, 6.2.2, 6.2.3, 6.2.4
#[test]
fn valid_text_is_delivered_however_it_is_fragmented() {
    for text in ["Hello-µ@ßöäüàá-UTF-8!!", "κόσμε"] {
        let bytes = text.as_bytes();
        let expected = vec![Event::Message(Message::Text(text.into()))];
        // 6.2.1: one frame.
        assert_eq!(
            server_gets(&client_frame(true, 0x1, bytes)).events,
            expected
        );
        // 6.2.2: two fragments, split on a code point boundary.
        let mid = (0..=bytes.len() / 2)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap();
        let mut two = client_frame(false, 0x1, &bytes[..mid]);
        two.extend(client_frame(true, 0x0, &bytes[mid..]));
        assert_eq!(server_gets(&two).events, expected);
        // 6.2.3, 6.2.4: one octet per fragment, ending inside code points.
        let ones = one_byte_fragments(Role::Server, bytes).concat();
        assert_eq!(server_gets(&ones).events, expected);
        assert_eq!(feed(&mut server(), &ones, 1).events, expected);
    }
}

/// Autobahn 6.3.1's payload: invalid at byte 12 (0xA0: a surrogate).
fn payload_6_3() -> Vec<u8> {
    [KOSME, b"\xed\xa0\x80", EDITED].concat()
}

// Autobahn 6.3.1
#[test]
fn invalid_text_in_one_frame_fails_with_1007() {
    let out = server_gets(&client_frame(true, 0x1, &payload_6_3()));
    assert_eq!(out.error, Some(ProtocolError::InvalidUtf8));
    assert!(out.events.is_empty());
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
}

// Autobahn 6.3.2
#[test]
fn invalid_text_in_one_byte_fragments_fails_at_the_surrogate_byte() {
    let payload = payload_6_3();
    let frames = one_byte_fragments(Role::Server, &payload);
    let pieces: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let (out, failed_at) = feed_pieces(&mut server(), &pieces);
    // 0xED (index 11) may start U+E000..; 0xA0 (index 12) makes it a surrogate.
    assert_eq!(failed_at, Some(12));
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
    assert!(out.events.is_empty());
}

/// Autobahn 6.4.x's payload: "κόσμε", U+110000 in the old 4-byte scheme
/// (F4 90 80 80, impossible at 0x90, byte 12), "edited".
fn payload_6_4() -> Vec<u8> {
    [KOSME, b"\xf4\x90\x80\x80", EDITED].concat()
}

/// Feeds `pieces` to a fresh `role` endpoint and asserts that the 1007
/// failure appears exactly after piece `at` (the rest changes nothing).
#[track_caller]
fn assert_fails_fast(role: Role, pieces: &[&[u8]], at: usize) {
    let mut conn = connection(role);
    let (out, failed_at) = feed_pieces(&mut conn, pieces);
    assert_eq!(failed_at, Some(at), "{role:?}: {out:?}");
    assert_eq!(out.error, Some(ProtocolError::InvalidUtf8));
    assert!(out.events.is_empty(), "{:?}", out.events);
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
    assert_eq!(out.sent.len(), 1, "exactly one close frame: {:?}", out.sent);
}

// Autobahn 6.4.1
#[test]
fn invalid_second_of_three_fragments_fails_before_the_third_arrives() {
    let payload = payload_6_4();
    for role in [Role::Server, Role::Client] {
        let f1 = frame_to(role, false, 0x1, &payload[..11]);
        let f2 = frame_to(role, false, 0x0, &payload[11..15]);
        let f3 = frame_to(role, true, 0x0, &payload[15..]);
        assert_fails_fast(role, &[&f1, &f2, &f3], 1);
    }
}

// Autobahn 6.4.2
#[test]
fn second_fragment_of_one_impossible_byte_fails_at_once() {
    let payload = payload_6_4();
    for role in [Role::Server, Role::Client] {
        // The first fragment ends with the lead byte 0xF4; the second is 0x90 alone.
        let f1 = frame_to(role, false, 0x1, &payload[..12]);
        let f2 = frame_to(role, false, 0x0, &payload[12..13]);
        let f3 = frame_to(role, true, 0x0, &payload[13..]);
        assert_fails_fast(role, &[&f1, &f2, &f3], 1);
    }
}

// Autobahn 6.4.3
#[test]
fn invalid_middle_chop_of_one_frame_fails_before_the_rest_arrives() {
    let payload = payload_6_4();
    for role in [Role::Server, Role::Client] {
        let frame = frame_to(role, true, 0x1, &payload);
        let h = header_len(&frame);
        let (a, rest) = frame.split_at(h + 11);
        let (b, c) = rest.split_at(4);
        assert_fails_fast(role, &[a, b, c], 1);
    }
}

// Autobahn 6.4.4
#[test]
fn single_impossible_byte_chop_of_one_frame_fails_at_once() {
    let payload = payload_6_4();
    for role in [Role::Server, Role::Client] {
        let frame = frame_to(role, true, 0x1, &payload);
        let h = header_len(&frame);
        let (a, rest) = frame.split_at(h + 12);
        let (b, c) = rest.split_at(1);
        assert_fails_fast(role, &[a, b, c], 1);
    }
}

// Fail fast does not depend on how much of the frame came with its header:
// here the header and all but the last payload byte arrive in one read.
#[test]
fn text_frame_fails_fast_when_most_of_it_arrives_with_the_header() {
    let payload = payload_6_4();
    for role in [Role::Server, Role::Client] {
        let frame = frame_to(role, true, 0x1, &payload);
        for keep_back in 1..=5 {
            let (a, b) = frame.split_at(frame.len() - keep_back);
            assert_fails_fast(role, &[a, b], 0);
        }
    }
}

#[test]
fn text_frame_fails_fast_when_the_header_arrives_alone() {
    // A payload no longer than the header: the header arrives, then the
    // payload one byte at a time; 0xFE is impossible on its own.
    for role in [Role::Server, Role::Client] {
        let frame = frame_to(role, true, 0x1, b"\xfe\xfe\xff\xff");
        let (head, payload) = frame.split_at(header_len(&frame));
        let mut pieces = vec![head];
        pieces.extend(payload.chunks(1));
        assert_fails_fast(role, &pieces, 1);
    }
}

#[test]
fn text_frame_fails_fast_when_read_into_the_lent_buffer() {
    // The zero-copy input path (`receive_buffer` + `commit_received`), as
    // the blocking adapter uses it, with Autobahn 6.4.3's chops.
    let payload = payload_6_4();
    let frame = client_frame(true, 0x1, &payload);
    let h = header_len(&frame);
    let mut conn = server();
    for (i, chop) in [&frame[..h + 11], &frame[h + 11..h + 15]]
        .into_iter()
        .enumerate()
    {
        let buf = conn.receive_buffer(4096);
        buf[..chop.len()].copy_from_slice(chop);
        conn.commit_received(chop.len());
        let polled = conn.poll_event();
        if i == 0 {
            assert_eq!(polled, Ok(None));
        } else {
            assert_eq!(polled, Err(ProtocolError::InvalidUtf8));
        }
    }
    let sent = take_frames(&mut conn);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload, close_payload(1007, b""));
}

// ---- more rules ----------------------------------------------------------

#[test]
fn message_ending_inside_a_code_point_fails_at_its_last_fragment() {
    // "κ" is CE BA: the message ends after CE.
    let f1 = client_frame(false, 0x1, b"ok ");
    let f2 = client_frame(true, 0x0, b"\xce");
    let (out, failed_at) = feed_pieces(&mut server(), &[&f1, &f2]);
    assert_eq!(failed_at, Some(1));
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
}

#[test]
fn code_point_split_across_fragments_with_a_ping_between_is_valid() {
    let text = "€ and 🎉";
    let bytes = text.as_bytes();
    let mut input = client_frame(false, 0x1, &bytes[..1]);
    input.extend(client_frame(true, 0x9, b"ping"));
    input.extend(client_frame(false, 0x0, &bytes[1..8]));
    input.extend(client_frame(true, 0xA, b"pong"));
    input.extend(client_frame(true, 0x0, &bytes[8..]));
    for chunk in [1, 3, input.len()] {
        let out = feed(&mut server(), &input, chunk);
        assert_eq!(out.error, None);
        assert_eq!(
            out.events,
            vec![
                Event::Ping("ping".into()),
                Event::Pong("pong".into()),
                Event::Message(Message::Text(text.into())),
            ]
        );
    }
}

#[test]
fn binary_messages_are_not_checked_for_utf8() {
    let bytes = b"\xff\xfe\xed\xa0\x80\xc0\xaf";
    let out = server_gets(&client_frame(true, 0x2, bytes));
    assert_eq!(out.error, None);
    assert_eq!(
        out.events,
        vec![Event::Message(Message::Binary(bytes.to_vec().into()))]
    );
    let mut fragmented = client_frame(false, 0x2, &bytes[..3]);
    fragmented.extend(client_frame(true, 0x0, &bytes[3..]));
    assert_eq!(feed(&mut server(), &fragmented, 1).error, None);
}

#[test]
fn each_message_is_validated_from_a_fresh_start() {
    // A code point split across the fragments of the first message, then
    // a second message: the validator carries nothing over.
    let mut input = client_frame(false, 0x1, b"a\xe2\x82");
    input.extend(client_frame(true, 0x0, b"\xac"));
    input.extend(client_frame(true, 0x1, "κόσμε".as_bytes()));
    let out = feed(&mut server(), &input, 1);
    assert_eq!(
        out.events,
        vec![
            Event::Message(Message::Text("a€".into())),
            Event::Message(Message::Text("κόσμε".into())),
        ]
    );
    // A message that starts with a continuation byte is invalid on its own,
    // whatever the message before it ended with.
    let mut input = client_frame(true, 0x1, b"fine");
    input.extend(client_frame(true, 0x1, b"\xac"));
    let out = server_gets(&input);
    assert_eq!(
        out.events,
        vec![Event::Message(Message::Text("fine".into()))]
    );
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
}

#[test]
fn every_unicode_scalar_value_is_valid_in_one_message() {
    let text: String = (0..=0x10FFFF).filter_map(char::from_u32).collect();
    let bytes = text.as_bytes();
    let expected = vec![Event::Message(Message::Text(text.clone().into()))];
    // One frame, read in pieces that cut code points.
    let out = feed(&mut server(), &client_frame(true, 0x1, bytes), 4093);
    assert_eq!(out.error, None);
    assert!(out.events == expected, "the message differs");
    // Fragments of 1021 bytes, cutting code points.
    let chunks: Vec<&[u8]> = bytes.chunks(1021).collect();
    let mut input = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { 0x1 } else { 0x0 };
        input.extend(client_frame(i == chunks.len() - 1, opcode, chunk));
    }
    let out = feed(&mut server(), &input, 65536);
    assert_eq!(out.error, None);
    assert!(out.events == expected, "the message differs");
}

/// The validator's verdict on `bytes` as one message.
fn validate(bytes: &[u8]) -> Result<(), Utf8Error> {
    let mut v = Utf8Validator::new();
    v.feed(bytes)?;
    v.finish()
}

/// `c` in the UTF-8 bit pattern of `len` bytes, whether or not that is the
/// shortest form (so it can build overlong forms and surrogates).
fn encode_as(c: u32, len: usize) -> Vec<u8> {
    let lead = [0x00, 0x00, 0xC0, 0xE0, 0xF0][len];
    let mut out = vec![lead | (c >> (6 * (len - 1))) as u8];
    for k in (0..len - 1).rev() {
        out.push(0x80 | ((c >> (6 * k)) & 0x3F) as u8);
    }
    out
}

#[test]
fn validator_accepts_every_scalar_value_alone() {
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        let mut buf = [0; 4];
        assert_eq!(
            validate(c.encode_utf8(&mut buf).as_bytes()),
            Ok(()),
            "U+{:04X}",
            c as u32
        );
    }
}

#[test]
fn validator_rejects_every_surrogate_and_everything_above_u10ffff() {
    for c in 0xD800..=0xDFFF {
        assert_eq!(validate(&encode_as(c, 3)), Err(Utf8Error), "U+{c:04X}");
    }
    for c in (0x110000..=0x1FFFFF).step_by(97).chain([0x1FFFFF]) {
        assert_eq!(validate(&encode_as(c, 4)), Err(Utf8Error), "U+{c:X}");
    }
    // Paired surrogates (Autobahn's validator test pairs every high with
    // every low; a sample of both orders does here).
    for high in (0xD800..=0xDBFF).step_by(7) {
        for low in (0xDC00..=0xDFFF).step_by(61) {
            let (h, l) = (encode_as(high, 3), encode_as(low, 3));
            assert_eq!(validate(&[h.clone(), l.clone()].concat()), Err(Utf8Error));
            assert_eq!(validate(&[l, h].concat()), Err(Utf8Error));
        }
    }
}

#[test]
fn validator_rejects_every_overlong_form() {
    for c in 0..0x80 {
        assert_eq!(
            validate(&encode_as(c, 2)),
            Err(Utf8Error),
            "U+{c:04X} in 2 bytes"
        );
    }
    for c in 0..0x800 {
        assert_eq!(
            validate(&encode_as(c, 3)),
            Err(Utf8Error),
            "U+{c:04X} in 3 bytes"
        );
    }
    for c in (0..0x10000).step_by(13) {
        assert_eq!(
            validate(&encode_as(c, 4)),
            Err(Utf8Error),
            "U+{c:04X} in 4 bytes"
        );
    }
}

#[test]
fn noncharacters_are_valid() {
    // U+FDD0..U+FDEF and the last two code points of every plane.
    let nonchars =
        (0xFDD0..=0xFDEF).chain((0..=0x10).flat_map(|p| [p << 16 | 0xFFFE, p << 16 | 0xFFFF]));
    for c in nonchars {
        let text = char::from_u32(c).unwrap().to_string();
        assert_eq!(validate(text.as_bytes()), Ok(()), "U+{c:04X}");
        let out = server_gets(&client_frame(true, 0x1, text.as_bytes()));
        assert_eq!(out.events, vec![Event::Message(Message::Text(text.into()))]);
    }
}

#[test]
fn validator_bytes_fe_ff_c0_c1_and_f5_up_never_start_anything() {
    for b in [
        0xC0, 0xC1, 0xF5, 0xF6, 0xF7, 0xF8, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF,
    ] {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[b]), Err(Utf8Error), "{b:#x}");
    }
}

// The incremental checks of Autobahn's `test_utf8_incremental`.
#[test]
fn validator_fails_on_the_byte_that_makes_the_input_impossible() {
    let mut v = Utf8Validator::new();
    assert_eq!(v.feed("µ@ßöäüàá".as_bytes()), Ok(()));
    assert!(v.is_complete());
    assert_eq!(v.finish(), Ok(()));

    assert_eq!(Utf8Validator::new().feed(b"\xf5"), Err(Utf8Error));

    // All three fail on the 7th byte overall (0xA0).
    let mut v = Utf8Validator::new();
    assert_eq!(v.feed(b"edited"), Ok(()));
    assert_eq!(v.feed(b"\xed\xa0\x80"), Err(Utf8Error));

    let mut v = Utf8Validator::new();
    assert_eq!(v.feed(b"edit"), Ok(()));
    assert_eq!(v.feed(b"ed\xed\xa0\x80"), Err(Utf8Error));

    let mut v = Utf8Validator::new();
    assert_eq!(v.feed(b"edited\xed"), Ok(()));
    assert!(!v.is_complete());
    assert_eq!(v.feed(b"\xa0\x80"), Err(Utf8Error));
}

#[test]
fn validator_carries_a_code_point_across_any_number_of_chunks() {
    for c in ['$', '¢', '€', '𤭢', '\u{10FFFF}'] {
        let mut buf = [0; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        let mut v = Utf8Validator::new();
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(v.feed(&[*b]), Ok(()));
            assert_eq!(v.is_complete(), i == bytes.len() - 1, "{c} after {i}");
            assert_eq!(v.feed(&[]), Ok(()), "an empty chunk changes nothing");
        }
        assert_eq!(v.finish(), Ok(()));
    }
}

#[test]
fn validator_finish_rejects_a_cut_code_point_and_resets() {
    let mut v = Utf8Validator::new();
    assert_eq!(v.feed(b"ab\xf0\x9f\x8e"), Ok(()));
    assert_eq!(v.finish(), Err(Utf8Error));
    // Reset: the next message starts clean.
    assert!(v.is_complete());
    assert_eq!(v.feed(b"\xf0\x9f\x8e\x89"), Ok(()));
    assert_eq!(v.finish(), Ok(()));
    // `reset` drops a carried partial code point.
    assert_eq!(v.feed(b"\xe2\x82"), Ok(()));
    v.reset();
    assert!(v.is_complete());
    assert_eq!(v.feed(b"x"), Ok(()));
    assert_eq!(v.finish(), Ok(()));
}

#[test]
fn validator_agrees_with_the_vector_table_at_every_split() {
    for (case, valid, bytes) in autobahn_vectors() {
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Validator::new();
                let verdict = v
                    .feed(&bytes[..i])
                    .and_then(|()| v.feed(&bytes[i..j]))
                    .and_then(|()| v.feed(&bytes[j..]))
                    .and_then(|()| v.finish());
                assert_eq!(verdict.is_ok(), valid, "{case} split at {i},{j}");
            }
        }
    }
}

#[test]
fn close_after_a_utf8_failure_is_not_sent_twice() {
    // After the 1007 failure the connection is closed: more bytes, another
    // invalid message, a close: nothing more is emitted.
    let mut conn = server();
    let mut input = client_frame(true, 0x1, b"\xff");
    input.extend(client_frame(true, 0x1, b"\xfe"));
    input.extend(client_frame(true, 0x8, &close_payload(1000, b"")));
    let out = feed(&mut conn, &input, 1);
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
    assert_eq!(out.sent.len(), 1);
    assert_eq!(conn.poll_event(), Ok(None));
    assert_eq!(conn.output_len(), 0, "nothing queued after the failure");
}

proptest::proptest! {
    /// The streaming validator against `core::str::from_utf8`, on any bytes
    /// (mostly valid text with a few arbitrary bytes mixed in) cut into any
    /// pieces: it fails exactly at the first piece that holds a byte no
    /// continuation could make valid, and at `finish` when the input ends
    /// inside a character (its fast path checks up to the last boundary of
    /// each piece, the rest as a valid prefix).
    #[test]
    fn streaming_validator_agrees_with_core_at_every_cut(
        text in "[a-zé€😀你好]{0,40}",
        noise in proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 0..3),
        cuts in proptest::collection::vec(0usize..200, 0..4),
    ) {
        let mut bytes = text.into_bytes();
        for (at, byte) in noise {
            let at = at % (bytes.len() + 1);
            bytes.insert(at, byte);
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        // Where core says the input becomes impossible (None: valid, or a
        // valid prefix cut short): the broken sequence starts at
        // `valid_up_to`, and the byte that breaks it is at most `error_len`
        // bytes later (a lead byte alone, or the byte after the sequence's
        // valid part).
        let impossible = match std::str::from_utf8(&bytes) {
            Ok(_) => None,
            Err(e) => e.error_len().map(|len| (e.valid_up_to(), e.valid_up_to() + len)),
        };
        let mut v = Utf8Validator::new();
        let mut start = 0;
        let mut failed_at = None;
        for end in cuts.into_iter().chain([bytes.len()]) {
            if v.feed(&bytes[start..end]).is_err() {
                failed_at = Some((start, end));
                break;
            }
            start = end;
        }
        match (impossible, failed_at) {
            (None, None) => {
                let complete = std::str::from_utf8(&bytes).is_ok();
                proptest::prop_assert_eq!(v.finish().is_ok(), complete);
            }
            (Some((first, last)), Some((from, to))) => {
                // The piece that failed holds the impossible byte.
                proptest::prop_assert!(from <= last && first < to, "{first}..={last} not in {from}..{to}");
            }
            (expected, got) => proptest::prop_assert!(false, "expected {expected:?}, failed at {got:?}"),
        }
    }
}
