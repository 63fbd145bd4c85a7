//! Size limits (`Config::max_frame_size`, `Config::max_message_size`) and
//! large messages: the rules behind Autobahn|Testsuite sections 9 (large
//! and many messages, in frames and in chops) and 10 (auto-fragmentation),
//! plus our own limits, which fail the connection with 1009 (§7.4.1: "a
//! message that is too big for it to process") as soon as a frame header
//! shows the limit would be crossed, before any of that payload is buffered.

mod common;
use common::*;

use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, Config, Connection, Event, Message, ProtocolError, Role, State};

const MIB: usize = 1 << 20;

/// A masked header (as a client sends it) announcing `len` bytes, in the
/// minimal length form, without any payload.
fn masked_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend((len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend(len.to_be_bytes());
        }
    }
    out.extend(KEY);
    out
}

/// The same header unmasked (as a server sends it).
fn unmasked_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = masked_header(fin, opcode, len);
    out.truncate(out.len() - 4);
    out[1] &= 0x7F;
    out
}

/// A message split into frames of `size` bytes (the last may be shorter).
fn fragmented(opcode: u8, payload: &[u8], size: usize) -> Vec<u8> {
    let chunks: Vec<&[u8]> = payload.chunks(size).collect();
    let mut out = Vec::with_capacity(payload.len() + chunks.len() * 8);
    for (i, chunk) in chunks.iter().enumerate() {
        let op = if i == 0 { opcode } else { 0x0 };
        out.extend(client_frame(i == chunks.len() - 1, op, chunk));
    }
    out
}

/// Asserts that `out` is a 1009 failure with `error`, reported after piece `at`.
#[track_caller]
fn assert_too_big(out: &Outcome, failed_at: Option<usize>, at: usize, error: ProtocolError) {
    assert_eq!(out.error, Some(error));
    assert_eq!(failed_at, Some(at), "{out:?}");
    out.assert_failed_with(CloseCode::MESSAGE_TOO_BIG);
    assert_eq!(out.sent.len(), 1, "one close frame: {:?}", out.sent);
}

// ---- defaults --------------------------------------------------------------

#[test]
fn default_limits_are_16_mib_per_frame_and_16_mib_per_message() {
    let config = Config::default();
    assert_eq!(config.max_frame_size, 16 * MIB);
    assert_eq!(config.max_message_size, 16 * MIB);
    assert!(config.auto_pong);
    let config = Config::default()
        .max_frame_size(10)
        .max_message_size(20)
        .auto_pong(false);
    assert_eq!(
        (
            config.max_frame_size,
            config.max_message_size,
            config.auto_pong
        ),
        (10, 20, false)
    );
    assert_eq!(server_with(config.clone()).config(), &config);
}

// Autobahn 9.1.6 and 9.2.6 send a 16 MiB message in one frame: exactly the
// default frame limit.
#[test]
fn default_config_accepts_a_16_mib_frame_and_refuses_one_byte_more() {
    let text = "*".repeat(16 * MIB);
    let frame = client_frame(true, 0x1, text.as_bytes());
    let out = feed(&mut server(), &frame, MIB);
    assert_eq!(out.error, None);
    assert!(
        out.events == vec![Event::Message(Message::Text(text.into()))],
        "the 16 MiB message"
    );

    let header = masked_header(true, 0x2, 16 * MIB as u64 + 1);
    let (out, failed_at) = feed_pieces(&mut server(), &[&header]);
    let error = ProtocolError::FrameTooLarge {
        len: 16 * MIB as u64 + 1,
        max: 16 * MIB,
    };
    assert_too_big(&out, failed_at, 0, error);
}

#[test]
fn default_config_accepts_a_16_mib_fragmented_message_header_by_header() {
    // Four 4 MiB frames reach exactly the default message limit (16 MiB);
    // the header of a fifth (even of one byte) crosses it and fails at once.
    // The payload is zeros: masked, that is the key repeated, fed 1 MiB at a time.
    let masked_zeros: Vec<u8> = KEY.iter().copied().cycle().take(MIB).collect();
    let mut conn = server();
    for i in 0..4 {
        let header = masked_header(false, if i == 0 { 0x2 } else { 0x0 }, 4 * MIB as u64);
        let mut pieces = vec![header.as_slice()];
        pieces.extend([masked_zeros.as_slice(); 4]);
        let (out, failed_at) = feed_pieces(&mut conn, &pieces);
        assert_eq!((out.error, failed_at), (None, None), "frame {i}");
    }
    let (out, failed_at) = feed_pieces(&mut conn, &[&masked_header(true, 0x0, 1)]);
    let error = ProtocolError::MessageTooLarge {
        len: 16 * MIB as u64 + 1,
        max: 16 * MIB,
    };
    assert_too_big(&out, failed_at, 0, error);
}

// ---- the frame limit -------------------------------------------------------

#[test]
fn frame_at_the_frame_limit_is_accepted() {
    for max in [0, 1, 125, 126, 1000, 65535, 65536] {
        let config = Config::default().max_frame_size(max);
        let payload = vec![7u8; max];
        let out = feed(
            &mut server_with(config),
            &client_frame(true, 0x2, &payload),
            4096,
        );
        assert_eq!(out.error, None, "max {max}");
        assert_eq!(
            out.events,
            vec![Event::Message(Message::Binary(payload.into()))]
        );
    }
}

#[test]
fn frame_one_byte_over_the_frame_limit_fails_at_its_header() {
    for max in [0, 1, 124, 125, 1000, 65535, 65536] {
        for opcode in [0x1, 0x2] {
            let config = Config::default().max_frame_size(max);
            let frame = client_frame(true, opcode, &vec![b'a'; max + 1]);
            let (head, payload) = frame.split_at(header_len(&frame));
            let (out, failed_at) = feed_pieces(&mut server_with(config), &[head, payload]);
            let error = ProtocolError::FrameTooLarge {
                len: max as u64 + 1,
                max,
            };
            assert_too_big(&out, failed_at, 0, error);
        }
    }
}

#[test]
fn header_announcing_2_pow_40_or_2_pow_62_bytes_fails_before_any_payload() {
    for len in [1u64 << 40, 1 << 62, (1 << 63) - 1] {
        for opcode in [0x1, 0x2] {
            // Server side: the masked header is 14 bytes; nothing follows.
            let (out, failed_at) = feed_pieces(&mut server(), &[&masked_header(true, opcode, len)]);
            let error = ProtocolError::FrameTooLarge { len, max: 16 * MIB };
            assert_too_big(&out, failed_at, 0, error);
            // Client side: the unmasked header is 10 bytes.
            let mut conn = client();
            let (out, failed_at) = feed_pieces(&mut conn, &[&unmasked_header(true, opcode, len)]);
            assert_too_big(&out, failed_at, 0, error);
            assert!(out.sent[0].masked, "the client's close frame is masked");
        }
    }
}

#[test]
fn huge_header_fails_on_its_last_byte_when_read_byte_by_byte() {
    let header = masked_header(true, 0x2, 1 << 62);
    let pieces: Vec<&[u8]> = header.chunks(1).collect();
    let (out, failed_at) = feed_pieces(&mut server(), &pieces);
    let error = ProtocolError::FrameTooLarge {
        len: 1 << 62,
        max: 16 * MIB,
    };
    assert_too_big(&out, failed_at, header.len() - 1, error);
}

#[test]
fn huge_continuation_header_fails_at_the_header() {
    let first = client_frame(false, 0x1, b"start");
    let (out, failed_at) =
        feed_pieces(&mut server(), &[&first, &masked_header(true, 0x0, 1 << 40)]);
    let error = ProtocolError::FrameTooLarge {
        len: 1 << 40,
        max: 16 * MIB,
    };
    assert_too_big(&out, failed_at, 1, error);
}

// ---- the message limit -----------------------------------------------------

#[test]
fn fragmented_message_at_the_message_limit_is_accepted() {
    let config = Config::default().max_message_size(10);
    for sizes in [&[10][..], &[4, 4, 2], &[0, 10, 0], &[1; 10]] {
        let payload: Vec<u8> = (0..10).collect();
        let mut input = Vec::new();
        let mut at = 0;
        for (i, &n) in sizes.iter().enumerate() {
            let op = if i == 0 { 0x2 } else { 0x0 };
            input.extend(client_frame(i == sizes.len() - 1, op, &payload[at..at + n]));
            at += n;
        }
        let out = feed(&mut server_with(config.clone()), &input, 3);
        assert_eq!(out.error, None, "{sizes:?}");
        assert_eq!(
            out.events,
            vec![Event::Message(Message::Binary(payload.into()))]
        );
    }
}

#[test]
fn fragmented_message_over_the_limit_fails_at_the_header_that_crosses_it() {
    // Fragments of 4, 4 and 3 bytes against a limit of 10: the first two
    // frames are taken whole; the third fails on its header alone.
    for opcode in [0x1, 0x2] {
        let config = Config::default().max_message_size(10);
        let f1 = client_frame(false, opcode, b"abcd");
        let f2 = client_frame(false, 0x0, b"efgh");
        let f3 = client_frame(true, 0x0, b"ijk");
        let (h1, p1) = f1.split_at(header_len(&f1));
        let (h2, p2) = f2.split_at(header_len(&f2));
        let (h3, p3) = f3.split_at(header_len(&f3));
        let pieces = [h1, p1, h2, p2, h3, p3];
        let (out, failed_at) = feed_pieces(&mut server_with(config), &pieces);
        let error = ProtocolError::MessageTooLarge { len: 11, max: 10 };
        assert_too_big(&out, failed_at, 4, error);
        assert!(out.events.is_empty(), "no part of the message is delivered");
    }
}

#[test]
fn single_frame_over_the_message_limit_fails_at_its_header() {
    let config = Config::default().max_frame_size(100).max_message_size(10);
    let frame = client_frame(true, 0x1, b"eleven byte");
    let (head, payload) = frame.split_at(header_len(&frame));
    let (out, failed_at) = feed_pieces(&mut server_with(config), &[head, payload]);
    assert_too_big(
        &out,
        failed_at,
        0,
        ProtocolError::MessageTooLarge { len: 11, max: 10 },
    );
}

#[test]
fn the_smaller_limit_wins() {
    // Frame limit below the message limit: a single frame is held to the frame limit.
    let config = Config::default().max_frame_size(5).max_message_size(100);
    let out = server_gets(&client_frame(true, 0x2, &[0; 6]));
    assert_eq!(out.error, None, "the default config takes it");
    let out = feed(
        &mut server_with(config.clone()),
        &client_frame(true, 0x2, &[0; 6]),
        64,
    );
    assert_eq!(
        out.error,
        Some(ProtocolError::FrameTooLarge { len: 6, max: 5 })
    );
    // ... while many frames of 5 may add up to the message limit.
    let out = feed(&mut server_with(config), &fragmented(0x2, &[1; 100], 5), 64);
    assert_eq!(out.error, None);
    assert_eq!(out.events.len(), 1);
}

#[test]
fn control_frames_do_not_count_toward_the_message_size() {
    let config = Config::default().max_message_size(10);
    let mut input = client_frame(false, 0x1, b"01234");
    input.extend(client_frame(true, 0x9, &[b'p'; 125]));
    input.extend(client_frame(true, 0xA, &[b'q'; 125]));
    input.extend(client_frame(true, 0x0, b"56789"));
    let mut conn = server_with(config);
    let out = feed(&mut conn, &input, 7);
    assert_eq!(out.error, None);
    assert_eq!(out.events.len(), 3);
    assert_eq!(
        out.events[2],
        Event::Message(Message::Text("0123456789".into()))
    );
    assert_eq!(out.sent.len(), 1);
    assert_eq!(out.sent[0].opcode, OpCode::Pong);
}

#[test]
fn each_message_is_measured_on_its_own() {
    let config = Config::default().max_message_size(10);
    let mut input = fragmented(0x1, b"0123456789", 4);
    input.extend(client_frame(true, 0x2, &[9; 10]));
    input.extend(fragmented(0x2, &[8; 10], 3));
    let out = feed(&mut server_with(config), &input, 5);
    assert_eq!(out.error, None);
    assert_eq!(out.events.len(), 3);
}

#[test]
fn zero_limits_still_allow_empty_messages() {
    let config = Config::default().max_frame_size(0).max_message_size(0);
    let mut input = client_frame(true, 0x1, b"");
    input.extend(client_frame(false, 0x2, b""));
    input.extend(client_frame(true, 0x0, b""));
    let out = feed(&mut server_with(config.clone()), &input, 1);
    assert_eq!(out.error, None);
    assert_eq!(out.events.len(), 2);
    let out = feed(&mut server_with(config), &client_frame(true, 0x1, b"x"), 64);
    assert_eq!(
        out.error,
        Some(ProtocolError::FrameTooLarge { len: 1, max: 0 })
    );
}

#[test]
fn a_client_enforces_its_limits_too() {
    let config = Config::default().max_frame_size(100).max_message_size(150);
    let mut conn = Connection::with_mask_source(Role::Client, config, fixed_keys);
    let mut input = server_frame(false, 0x2, &[0; 100]);
    input.extend(server_frame(true, 0x0, &[0; 51]));
    let out = feed(&mut conn, &input, 16);
    assert_eq!(
        out.error,
        Some(ProtocolError::MessageTooLarge { len: 151, max: 150 })
    );
    out.assert_failed_with(CloseCode::MESSAGE_TOO_BIG);
    assert!(out.sent[0].masked);
}

#[test]
fn limit_failure_closes_the_connection_and_ignores_the_rest() {
    let config = Config::default().max_frame_size(10);
    let mut conn = server_with(config);
    let mut input = client_frame(true, 0x2, &[0; 11]);
    input.extend(client_frame(true, 0x1, b"after"));
    input.extend(client_frame(true, 0x9, b"ping"));
    let out = feed(&mut conn, &input, input.len());
    assert!(out.events.is_empty());
    out.assert_failed_with(CloseCode::MESSAGE_TOO_BIG);
    assert_eq!(out.sent.len(), 1, "no pong");
    assert_eq!(
        conn.state(),
        State::Closed {
            clean: false,
            initiator: rfc6455::Initiator::Local
        }
    );
    assert_eq!(conn.poll_event(), Ok(None));
}

#[test]
fn limit_error_reports_the_length_and_the_limit() {
    let err = ProtocolError::FrameTooLarge {
        len: 1 << 40,
        max: 16 * MIB,
    };
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    assert_eq!(err.close_code().0, 1009);
    let text = err.to_string();
    assert!(
        text.contains(&(1u64 << 40).to_string()) && text.contains(&(16 * MIB).to_string()),
        "{text}"
    );
    let err = ProtocolError::MessageTooLarge { len: 11, max: 10 };
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
}

// ---- Autobahn 9 and 10: large and many messages ---------------------------

// Autobahn 9.1.1 to 9.1.5 and 9.2.1 to 9.2.5: 64 KiB to 8 MiB in one frame.
#[test]
fn large_messages_in_one_frame_are_delivered() {
    for size in [64 << 10, 256 << 10, MIB, 4 * MIB, 8 * MIB] {
        let text = "*".repeat(size);
        let out = server_gets(&client_frame(true, 0x1, text.as_bytes()));
        assert!(
            out.events == vec![Event::Message(Message::Text(text.into()))],
            "{size}"
        );
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let out = feed(&mut server(), &client_frame(true, 0x2, &data), MIB);
        assert!(
            out.events == vec![Event::Message(Message::Binary(data.into()))],
            "{size}"
        );
    }
}

// Autobahn 9.3.x and 9.4.x: a 4 MiB message in frames of 64 B to 4 MiB.
#[test]
fn large_fragmented_messages_are_delivered_whatever_the_frame_size() {
    let text: String = "€uro ".repeat(4 * MIB / 8);
    let data: Vec<u8> = (0..4 * MIB).map(|i| (i % 253) as u8).collect();
    for frame_size in [64, 4 << 10, 64 << 10, MIB, 4 * MIB] {
        let out = feed(
            &mut server(),
            &fragmented(0x1, text.as_bytes(), frame_size),
            64 << 10,
        );
        assert_eq!(out.error, None, "{frame_size}");
        assert!(
            out.events == vec![Event::Message(Message::Text(text.clone().into()))],
            "{frame_size}"
        );
        let out = feed(&mut server(), &fragmented(0x2, &data, frame_size), 64 << 10);
        assert!(out.events == vec![Event::Message(Message::Binary(data.clone().into()))]);
    }
}

// Autobahn 9.5.x and 9.6.x: a 1 MiB message in one frame, sent in chops of 64 B to 4 KiB.
#[test]
fn large_message_read_in_small_chops_is_delivered() {
    let text: String = "κόσμε".repeat(MIB / 10);
    let frame = client_frame(true, 0x1, text.as_bytes());
    for chop in [64, 128, 256, 512, 1024, 2048, 4096] {
        let out = feed(&mut server(), &frame, chop);
        assert_eq!(out.error, None, "{chop}");
        assert!(
            out.events == vec![Event::Message(Message::Text(text.clone().into()))],
            "{chop}"
        );
    }
}

// Autobahn 9.7.x and 9.8.x: many small messages back to back.
#[test]
fn many_small_messages_in_one_read_are_all_delivered() {
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend(client_frame(
            true,
            0x1,
            format!("message {i:04}").as_bytes(),
        ));
        input.extend(client_frame(true, 0x2, &[i as u8; 16]));
    }
    let out = server_gets(&input);
    assert_eq!(out.error, None);
    assert_eq!(out.events.len(), 2000);
    assert_eq!(
        out.events[1998],
        Event::Message(Message::Text("message 0999".into()))
    );
}

// Autobahn 10.1.1: 64 KiB of text auto-fragmented into frames of 1300 bytes.
#[test]
fn text_sent_in_1300_byte_fragments_arrives_as_one_message() {
    let text = "*".repeat(65536);
    let mut pair = Pair::new();
    let pieces: Vec<&str> = text
        .as_bytes()
        .chunks(1300)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    for (i, piece) in pieces.iter().enumerate() {
        pair.client
            .send_text_fragment(piece, i == pieces.len() - 1)
            .unwrap();
    }
    // All queued output, left queued for `drive` to deliver.
    let queued: Vec<u8> = pair.client.output().chunks().flatten().copied().collect();
    let frames = parse_frames(&queued);
    assert_eq!(frames.len(), 51, "50 frames of 1300 and one of 536");
    assert_eq!(
        frames.iter().filter(|f| f.payload.len() == 1300).count(),
        50
    );
    assert_eq!(frames[50].payload.len(), 536);
    assert!(frames.iter().all(|f| f.masked));
    let (_, at_server) = pair.drive(1300);
    assert_eq!(
        at_server,
        vec![Event::Message(Message::Text(text.clone().into()))]
    );
    // And echoed back the same way.
    for (i, piece) in pieces.iter().enumerate() {
        pair.server
            .send_text_fragment(piece, i == pieces.len() - 1)
            .unwrap();
    }
    let (at_client, _) = pair.drive(4096);
    assert_eq!(at_client, vec![Event::Message(Message::Text(text.into()))]);
}

#[test]
fn control_frames_are_not_held_to_a_frame_limit_below_125_bytes() {
    // §5.5 already bounds control payloads at 125 bytes; a tiny data-frame
    // limit must not turn a peer's ping or close reason into a 1009.
    let mut conn = server_with(Config::default().max_frame_size(10));
    let ping = client_frame(true, 0x9, &[7; 100]);
    let out = feed(&mut conn, &ping, ping.len());
    assert_eq!(out.error, None);
    assert_eq!(out.events, vec![Event::Ping(vec![7; 100].into())]);
    let text = client_frame(true, 0x1, &[b'a'; 11]);
    feed(&mut conn, &text, text.len()).assert_failed_with(CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn a_message_in_more_frames_than_the_limit_fails_with_1008() {
    // Issue: empty continuation frames forever kept a core busy and were
    // never closed. The default admits Autobahn 9.3/9.4 (65,536 frames).
    let config = rfc6455::Config::default().max_frames_per_message(1000);
    let mut server = common::server_with(config);
    let mut input = common::client_frame(false, 0x1, b"");
    for _ in 0..2000 {
        input.extend_from_slice(&common::client_frame(false, 0x0, b""));
    }
    let out = common::feed(&mut server, &input, input.len());
    assert_eq!(
        out.error,
        Some(rfc6455::ProtocolError::TooManyFrames { max: 1000 })
    );
    out.assert_failed_with(rfc6455::CloseCode::POLICY_VIOLATION);
}

#[test]
fn the_default_frame_limit_admits_65536_fragments() {
    let mut server = common::server();
    let mut input = common::client_frame(false, 0x2, &[1; 64]);
    for _ in 1..65_535 {
        input.extend_from_slice(&common::client_frame(false, 0x0, &[1; 64]));
    }
    input.extend_from_slice(&common::client_frame(true, 0x0, &[1; 64]));
    let out = common::feed(&mut server, &input, 64 * 1024);
    assert_eq!(out.error, None);
    assert_eq!(
        out.events,
        vec![common::binary_event(&vec![1; 64 * 65_536])]
    );
}
