//! permessage-deflate (RFC 7692) in the sans-IO core: the RFC's own examples
//! byte for byte (§7.2.3), the frame rules (§6), negotiation tables (§5,
//! §7.1) in both roles, limits on the decompressed size (a decompression
//! bomb stops at the limit), memory (no state until needed, none kept with
//! no context takeover), and property tests over every parameter set.
#![cfg(feature = "deflate")]

mod common;

use std::time::{Duration, Instant};

use bytes::Buf;
use common::*;
use proptest::prelude::*;
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::handshake::negotiate;
use rfc6455::handshake::{
    AcceptOptions, ClientHandshake, ClientOptions, Limits, Parsed, UpgradeRequest,
};
use rfc6455::{
    Agreement, CloseCode, Config, Connection, Event, HandshakeError, Message, ProtocolError, Role,
};

const RSV1: u8 = 0b100;

fn params() -> DeflateParams {
    DeflateParams::default()
}

fn config_with(deflate: DeflateConfig) -> Config {
    Config::default().deflate(deflate)
}

/// A connection in `role` with `config`, built from an agreement with
/// permessage-deflate as `agreed` (deterministic masking keys for a client).
fn agreed(role: Role, config: Config, agreed: Option<DeflateParams>) -> Connection {
    Connection::from_agreement_with_mask_source(
        Agreement::new(role).with_deflate(agreed),
        config,
        fixed_keys,
    )
}

/// A connection in `role` with permessage-deflate agreed as `params`.
fn deflating(role: Role, params: DeflateParams, deflate: DeflateConfig) -> Connection {
    agreed(role, config_with(deflate), Some(params))
}

/// A client that receives what a server sends (unmasked frames).
fn deflating_client() -> Connection {
    deflating(Role::Client, params(), DeflateConfig::default())
}

// ---- RFC 7692 §7.2.3: the examples, byte for byte ---------------------------

/// §7.2.3.1: "Hello" in one compressed frame.
const HELLO: [u8; 9] = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc_7_2_3_1_hello_is_sent_byte_for_byte() {
    let mut server = deflating(
        Role::Server,
        params(),
        DeflateConfig::default().threshold(0),
    );
    server.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut server), HELLO);
}

#[test]
fn rfc_7_2_3_1_hello_is_received() {
    for how in Delivery::ALL {
        let out = deliver(&mut deflating_client(), &[HELLO.to_vec()], how);
        assert_eq!(out.events, [text_event("Hello")], "{how:?}");
        assert!(out.error.is_none());
    }
}

#[test]
fn rfc_7_2_3_1_two_fragments_are_received() {
    let frames = [
        vec![0x41, 0x03, 0xf2, 0x48, 0xcd],
        vec![0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00],
    ];
    for how in Delivery::ALL {
        let out = deliver(&mut deflating_client(), &frames, how);
        assert_eq!(out.events, [text_event("Hello")], "{how:?}");
    }
}

#[test]
fn rfc_7_2_3_2_shared_sliding_window() {
    let second = [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
    let mut server = deflating(
        Role::Server,
        params(),
        DeflateConfig::default().threshold(0),
    );
    server.send_text("Hello").unwrap();
    server.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut server), [&HELLO[..], &second[..]].concat());

    let out = deliver(
        &mut deflating_client(),
        &[HELLO.to_vec(), second.to_vec()],
        Delivery::FrameByFrame,
    );
    assert_eq!(out.events, [text_event("Hello"), text_event("Hello")]);

    // With server_no_context_takeover the second message repeats the first.
    let no_takeover = DeflateParams {
        server_no_context_takeover: true,
        ..params()
    };
    let mut server = deflating(
        Role::Server,
        no_takeover,
        DeflateConfig::default().threshold(0),
    );
    server.send_text("Hello").unwrap();
    server.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut server), [HELLO, HELLO].concat());
}

#[test]
fn rfc_7_2_3_3_no_compression_block() {
    let frame = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let out = deliver(&mut deflating_client(), &[frame.to_vec()], Delivery::AtOnce);
    assert_eq!(out.events, [text_event("Hello")]);
    // Level 0 produces exactly that.
    let mut server = deflating(
        Role::Server,
        params(),
        DeflateConfig::default().threshold(0).level(0),
    );
    server.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut server), frame);
}

#[test]
fn rfc_7_2_3_4_bfinal_set() {
    let frame = [0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let mut client = deflating_client();
    let out = deliver(
        &mut client,
        &[frame.to_vec(), HELLO.to_vec()],
        Delivery::AtOnce,
    );
    // The stream ended with the first message; the next starts a new one.
    assert_eq!(out.events, [text_event("Hello"), text_event("Hello")]);
}

#[test]
fn rfc_7_2_3_5_two_deflate_blocks_in_one_message() {
    let frame = [
        0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let out = deliver(
        &mut deflating_client(),
        &[frame.to_vec()],
        Delivery::ByteByByte,
    );
    assert_eq!(out.events, [text_event("Hello")]);
}

#[test]
fn rfc_7_2_3_6_empty_message() {
    let out = deliver(
        &mut deflating_client(),
        &[vec![0xc1, 0x01, 0x00]],
        Delivery::AtOnce,
    );
    assert_eq!(out.events, [text_event("")]);
    // An empty compressed payload is an empty message too.
    let out = deliver(
        &mut deflating_client(),
        &[vec![0xc2, 0x00]],
        Delivery::AtOnce,
    );
    assert_eq!(out.events, [binary_event(b"")]);
    // What we send for an empty message with a threshold of 0: §7.2.3.6's 0x00.
    let mut server = deflating(
        Role::Server,
        params(),
        DeflateConfig::default().threshold(0),
    );
    server.send_binary(b"").unwrap();
    assert_eq!(take_output(&mut server), [0xc2, 0x01, 0x00]);
}

#[test]
fn an_empty_last_fragment_does_not_swallow_the_next_message() {
    // The last fragment adds nothing after the previous fragment's sync
    // flush: it must still end the deflate data properly (a 0x00 byte, which
    // the receiver's 00 00 ff ff completes into an empty stored block).
    for level in [0, 6] {
        let mut pair = deflate_pair(
            params(),
            DeflateConfig::default().level(level),
            DeflateConfig::default(),
        );
        pair.client.send_text_fragment("abc", false).unwrap();
        pair.client.send_text_fragment("", true).unwrap();
        pair.client.send_binary(&[5; 2000]).unwrap();
        pair.client.send_text_fragment("", false).unwrap();
        pair.client.send_text_fragment("", true).unwrap();
        pair.client.send_text("after").unwrap();
        let (_, at_server) = pair.drive(usize::MAX);
        assert_eq!(
            at_server,
            [
                text_event("abc"),
                binary_event(&[5; 2000]),
                text_event(""),
                text_event("after")
            ],
            "level {level}"
        );
    }
}

// ---- §6: which frames may carry RSV1 ----------------------------------------

#[test]
fn rsv1_without_the_extension_is_1002() {
    for role in [Role::Client, Role::Server] {
        let mut conn = connection(role);
        let frame = raw_frame(true, RSV1, 0x1, mask_for(role), &[0x00]);
        let out = feed(&mut conn, &frame, frame.len());
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert_eq!(out.error, Some(ProtocolError::ReservedBits));
    }
}

fn mask_for(receiver: Role) -> Option<[u8; 4]> {
    (receiver == Role::Server).then_some(KEY)
}

#[test]
fn rsv1_on_control_or_continuation_frames_is_1002() {
    for role in [Role::Client, Role::Server] {
        let mask = mask_for(role);
        let cases: [(&str, Vec<Vec<u8>>); 4] = [
            ("ping", vec![raw_frame(true, RSV1, 0x9, mask, b"")]),
            ("pong", vec![raw_frame(true, RSV1, 0xA, mask, b"")]),
            (
                "close",
                vec![raw_frame(true, RSV1, 0x8, mask, &[0x03, 0xe8])],
            ),
            (
                "continuation",
                vec![
                    raw_frame(false, RSV1, 0x1, mask, &[0xf2, 0x48, 0xcd]),
                    raw_frame(true, RSV1, 0x0, mask, &[0xc9, 0xc9, 0x07, 0x00]),
                ],
            ),
        ];
        for (what, frames) in cases {
            let mut conn = deflating(role, params(), DeflateConfig::default());
            let out = deliver(&mut conn, &frames, Delivery::AtOnce);
            out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
            assert_eq!(
                out.error,
                Some(ProtocolError::UnexpectedCompression),
                "{what}"
            );
        }
    }
}

#[test]
fn rsv2_and_rsv3_stay_reserved_with_deflate() {
    for rsv in [0b010, 0b001, 0b110] {
        let frame = raw_frame(true, rsv, 0x1, None, b"x");
        let out = feed(&mut deflating_client(), &frame, frame.len());
        assert_eq!(out.error, Some(ProtocolError::ReservedBits), "rsv {rsv:#b}");
    }
}

#[test]
fn control_frames_are_never_compressed() {
    let mut client = deflating(
        Role::Client,
        params(),
        DeflateConfig::default().threshold(0),
    );
    client.ping(&[b'a'; 100]).unwrap();
    client.pong(b"pong").unwrap();
    client.close(CloseCode::NORMAL, &"r".repeat(100)).unwrap();
    let bytes = take_output(&mut client);
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (header, n) = rfc6455::frame::FrameHeader::decode(rest).unwrap().unwrap();
        assert_eq!(header.rsv, 0, "{:?}", header.opcode);
        rest = &rest[n + header.payload_len as usize..];
    }
}

#[test]
fn unmasked_uncompressed_messages_still_arrive() {
    // RSV1 clear: an uncompressed message between compressed ones.
    let frames = [
        HELLO.to_vec(),
        server_frame(true, 0x1, b"plain"),
        vec![0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00],
    ];
    let out = deliver(&mut deflating_client(), &frames, Delivery::AtOnce);
    assert_eq!(
        out.events,
        [
            text_event("Hello"),
            text_event("plain"),
            text_event("Hello")
        ]
    );
}

#[test]
fn small_messages_below_the_threshold_go_uncompressed() {
    let mut server = deflating(
        Role::Server,
        params(),
        DeflateConfig::default().threshold(10),
    );
    server.send_text("short").unwrap();
    server.send_text("long enough to compress").unwrap();
    let bytes = take_output(&mut server);
    let frames = rfc6455::frame::FrameHeader::decode(&bytes)
        .unwrap()
        .unwrap();
    assert_eq!(frames.0.rsv, 0);
    let second = &bytes[2 + 5..];
    assert_eq!(second[0] & 0x40, 0x40, "RSV1 on the long message");
    let out = feed(&mut deflating_client(), &bytes, 3);
    assert_eq!(
        out.events,
        [text_event("short"), text_event("long enough to compress")]
    );
}

#[test]
fn corrupt_compressed_data_is_1007() {
    // 0xff: a block type 3, which does not exist.
    let frame = raw_frame(true, RSV1, 0x2, None, &[0xff, 0xff, 0xff]);
    let out = feed(&mut deflating_client(), &frame, frame.len());
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
    assert_eq!(out.error, Some(ProtocolError::InvalidCompressedData));
}

// ---- UTF-8 on the decompressed stream ---------------------------------------

#[test]
fn invalid_utf8_after_decompression_is_1007_and_fails_fast() {
    // A compressed text message whose decompressed bytes start with an
    // overlong encoding, then 1 MiB more: the error comes with the first piece.
    let mut data = vec![b'a', 0xc0, 0x80];
    data.extend(std::iter::repeat_n(b'b', 1 << 20));
    let mut sender = deflating(Role::Server, params(), DeflateConfig::default());
    sender.send_binary_fragment(&data[..3], false).unwrap();
    sender.send_binary_fragment(&data[3..], true).unwrap();
    let mut bytes = take_output(&mut sender);
    bytes[0] = (bytes[0] & 0xf0) | 0x1; // make the message text
    let split = header_len(&bytes) + 4;
    let pieces = [&bytes[..split], &bytes[split..]];
    let (out, failed_at) = feed_pieces(&mut deflating_client(), &pieces);
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
    assert_eq!(failed_at, Some(0));
}

#[test]
fn text_split_inside_a_code_point_across_fragments() {
    let text = "狗🐕".repeat(1000);
    let bytes = text.as_bytes();
    let mut sender = deflating(Role::Server, params(), DeflateConfig::default());
    // Fragment boundaries inside code points: only possible with the byte API.
    sender.send_binary_fragment(&bytes[..1], false).unwrap();
    sender.send_binary_fragment(&bytes[1..4001], false).unwrap();
    sender.send_binary_fragment(&bytes[4001..], true).unwrap();
    let mut wire = take_output(&mut sender);
    wire[0] = (wire[0] & 0xf0) | 0x1;
    let out = feed(&mut deflating_client(), &wire, 7);
    assert_eq!(out.events, [text_event(&text)]);
}

// ---- limits: the decompressed size ------------------------------------------

#[test]
fn decompression_bomb_stops_at_the_limit_with_1009() {
    // 64 MiB of zeros compress to about 64 KiB; the limit is 1 MiB.
    let mut sender = deflating(Role::Server, params(), DeflateConfig::default());
    let zeros = vec![0u8; 64 << 20];
    sender.send_binary(&zeros).unwrap();
    let bomb = take_output(&mut sender);
    drop(zeros);
    assert!(bomb.len() < 128 << 10, "{} bytes", bomb.len());

    let limit = 1 << 20;
    let mut client = agreed(
        Role::Client,
        Config::default().max_message_size(limit),
        Some(params()),
    );
    let start = Instant::now();
    // Fed in 4 KiB reads: the error comes after the first ~16 KiB of wire
    // bytes (1 MiB of output), not after the whole bomb.
    let pieces: Vec<&[u8]> = bomb.chunks(4096).collect();
    let (out, failed_at) = feed_pieces(&mut client, &pieces);
    out.assert_failed_with(CloseCode::MESSAGE_TOO_BIG);
    assert!(
        matches!(out.error, Some(ProtocolError::MessageTooLarge { max, .. }) if max == limit),
        "{:?}",
        out.error
    );
    let failed_at = failed_at.unwrap();
    assert!(
        failed_at * 4096 < 8 << 10,
        "failed after {} wire bytes",
        failed_at * 4096
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_message_of_exactly_the_limit_passes() {
    let limit = 100_000;
    let data: Vec<u8> = (0..limit).map(|i| (i % 7) as u8).collect();
    let mut sender = deflating(Role::Server, params(), DeflateConfig::default());
    sender.send_binary(&data).unwrap();
    let bytes = take_output(&mut sender);
    let mut client = agreed(
        Role::Client,
        Config::default().max_message_size(limit),
        Some(params()),
    );
    let out = feed(&mut client, &bytes, 1000);
    assert_eq!(out.events, [binary_event(&data)]);
    // One byte more fails.
    sender
        .send_binary(&[data.as_slice(), &[1]].concat())
        .unwrap();
    let bytes = take_output(&mut sender);
    let out = feed(&mut client, &bytes, 1000);
    out.assert_failed_with(CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn an_incompressible_message_at_the_limit_passes_though_its_wire_size_is_larger() {
    let limit = 50_000;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let data: Vec<u8> = (0..limit)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect();
    let mut sender = deflating(Role::Server, params(), DeflateConfig::default());
    sender.send_binary(&data).unwrap();
    let bytes = take_output(&mut sender);
    assert!(bytes.len() > limit);
    let mut client = agreed(
        Role::Client,
        Config::default().max_message_size(limit),
        Some(params()),
    );
    assert_eq!(
        feed(&mut client, &bytes, 4096).events,
        [binary_event(&data)]
    );
}

// ---- memory -----------------------------------------------------------------

#[test]
fn no_state_until_the_first_compressed_message() {
    let mut pair = deflate_pair(params(), DeflateConfig::default(), DeflateConfig::default());
    assert_eq!(pair.client.deflate_state(), (false, false));
    assert_eq!(pair.server.deflate_state(), (false, false));
    // Below the threshold, and control frames: still nothing.
    pair.client.send_text("hi").unwrap();
    pair.client.ping(b"p").unwrap();
    pair.drive(usize::MAX);
    assert_eq!(pair.client.deflate_state(), (false, false));
    assert_eq!(pair.server.deflate_state(), (false, false));
    pair.client.send_text(&"x".repeat(100)).unwrap();
    pair.drive(usize::MAX);
    // Context takeover: both kept for the next message.
    assert_eq!(pair.client.deflate_state(), (true, false));
    assert_eq!(pair.server.deflate_state(), (false, true));
}

#[test]
fn no_context_takeover_keeps_no_state_between_messages() {
    let agreed = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..params()
    };
    let mut pair = deflate_pair(agreed, DeflateConfig::default(), DeflateConfig::default());
    for _ in 0..3 {
        pair.client.send_text(&"x".repeat(1000)).unwrap();
        let (_, at_server) = pair.drive(usize::MAX);
        assert_eq!(at_server, [text_event(&"x".repeat(1000))]);
        pair.server.send_binary(&[7; 1000]).unwrap();
        let (at_client, _) = pair.drive(usize::MAX);
        assert_eq!(at_client, [binary_event(&[7; 1000])]);
        assert_eq!(pair.client.deflate_state(), (false, false));
        assert_eq!(pair.server.deflate_state(), (false, false));
    }
}

#[test]
fn closing_frees_the_state() {
    let mut pair = deflate_pair(params(), DeflateConfig::default(), DeflateConfig::default());
    pair.client.send_text(&"x".repeat(100)).unwrap();
    pair.server.send_text(&"y".repeat(100)).unwrap();
    pair.drive(usize::MAX);
    assert_eq!(pair.server.deflate_state(), (true, true));
    pair.client.close(CloseCode::NORMAL, "").unwrap();
    pair.drive(usize::MAX);
    assert_eq!(pair.server.deflate_state(), (false, false));
    assert_eq!(pair.client.deflate_state(), (false, false));
}

#[test]
fn an_eight_bit_window_means_sending_uncompressed() {
    let agreed = DeflateParams {
        server_max_window_bits: Some(8),
        client_max_window_bits: 8,
        ..params()
    };
    let mut pair = deflate_pair(agreed, DeflateConfig::default(), DeflateConfig::default());
    pair.server.send_text(&"z".repeat(1000)).unwrap();
    assert_eq!(pair.server.output().chunk()[0], 0x81, "RSV1 clear");
    let (at_client, _) = pair.drive(usize::MAX);
    assert_eq!(at_client, [text_event(&"z".repeat(1000))]);
    // Receiving an 8-bit stream works (a larger window inflates it).
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut client = deflating(Role::Client, agreed, DeflateConfig::default());
    assert_eq!(feed(&mut client, &frame, 9).events, [text_event("Hello")]);
}

// ---- negotiation, server side (§7.1) ----------------------------------------

/// `offers` as sent in one header; what the server answers under `config`.
fn server_answer(offers: &str, config: &DeflateConfig) -> Option<String> {
    let entries: Vec<&str> = offers.split(", ").collect();
    negotiate(&entries, config).map(|p| p.to_string())
}

#[test]
fn server_negotiation_table() {
    let default = DeflateConfig::default();
    let frugal = DeflateConfig::default()
        .no_context_takeover(true, true)
        .max_window_bits(10, 9);
    #[rustfmt::skip]
    let table: &[(&str, &DeflateConfig, Option<&str>)] = &[
        ("permessage-deflate", &default, Some("permessage-deflate")),
        ("PerMessage-Deflate", &default, Some("permessage-deflate")),
        ("permessage-deflate; client_max_window_bits", &default, Some("permessage-deflate")),
        ("permessage-deflate; client_max_window_bits=10", &default, Some("permessage-deflate; client_max_window_bits=10")),
        ("permessage-deflate; client_max_window_bits=\"10\"", &default, Some("permessage-deflate; client_max_window_bits=10")),
        ("permessage-deflate; server_max_window_bits=12", &default, Some("permessage-deflate; server_max_window_bits=12")),
        ("permessage-deflate; server_max_window_bits=8", &default, Some("permessage-deflate; server_max_window_bits=8")),
        // §7.1.2.1: an offered value is always answered, even at 15 (wsproto offers it).
        ("permessage-deflate; server_max_window_bits=15", &default, Some("permessage-deflate; server_max_window_bits=15")),
        ("permessage-deflate; server_max_window_bits=15", &frugal,
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10")),
        ("permessage-deflate; server_no_context_takeover", &default, Some("permessage-deflate; server_no_context_takeover")),
        ("permessage-deflate; client_no_context_takeover", &default, Some("permessage-deflate; client_no_context_takeover")),
        ("permessage-deflate;server_no_context_takeover;client_no_context_takeover", &default,
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")),
        // The server's own policy.
        ("permessage-deflate", &frugal, Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10")),
        ("permessage-deflate; client_max_window_bits", &frugal,
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")),
        ("permessage-deflate; server_max_window_bits=9; client_max_window_bits=12", &frugal,
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9")),
        // Invalid offers are declined, the next valid one accepted.
        ("permessage-deflate; server_max_window_bits=7, permessage-deflate", &default, Some("permessage-deflate")),
        ("permessage-deflate; server_max_window_bits=16", &default, None),
        ("permessage-deflate; server_max_window_bits", &default, None),
        ("permessage-deflate; server_max_window_bits=010", &default, None),
        ("permessage-deflate; server_max_window_bits=1x", &default, None),
        ("permessage-deflate; client_max_window_bits=7", &default, None),
        ("permessage-deflate; client_max_window_bits=", &default, None),
        ("permessage-deflate; server_no_context_takeover=1", &default, None),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", &default, None),
        ("permessage-deflate; client_max_window_bits; client_max_window_bits=9", &default, None),
        ("permessage-deflate; mystery", &default, None),
        ("permessage-deflate; mystery, permessage-deflate; client_no_context_takeover", &default,
            Some("permessage-deflate; client_no_context_takeover")),
        // Other extensions are not ours.
        ("x-webkit-deflate-frame", &default, None),
        ("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", &default, Some("permessage-deflate")),
        // Disabled: nothing is accepted.
        ("permessage-deflate", &DeflateConfig::disabled(), None),
    ];
    for &(offers, config, expected) in table {
        assert_eq!(
            server_answer(offers, config).as_deref(),
            expected,
            "offers {offers:?}"
        );
    }
}

// ---- negotiation, client side -----------------------------------------------

/// The client with `offers`; parses the server's `answer` (None: no
/// Sec-WebSocket-Extensions in the 101).
fn client_sees(
    offers: &[&str],
    answer: Option<&str>,
) -> Result<Option<DeflateParams>, HandshakeError> {
    let options = ClientOptions {
        extensions: offers.iter().map(|o| o.to_string()).collect(),
        ..ClientOptions::default()
    };
    let client = ClientHandshake::new("ws://example.com/", [1; 16], options)?;
    let Ok(Parsed::Complete(request, _)) =
        UpgradeRequest::parse(client.request(), &Limits::default())
    else {
        panic!("request does not parse");
    };
    let mut response = String::from_utf8(request.accept(None).unwrap()).unwrap();
    if let Some(answer) = answer {
        response.truncate(response.len() - 2);
        response.push_str(&format!("Sec-WebSocket-Extensions: {answer}\r\n\r\n"));
    }
    match client.parse_response(response.as_bytes())? {
        Parsed::Complete(response, _) => Ok(response.deflate()),
        Parsed::Partial => panic!("partial"),
    }
}

/// What the client makes of a response.
type Agreed = Result<Option<DeflateParams>, HandshakeError>;

#[test]
fn client_validation_table() {
    let p = |snct, cnct, smwb, cmwb| {
        Ok(Some(DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            // 15 in this table: the response leaves the parameter out.
            server_max_window_bits: (smwb != 15).then_some(smwb),
            client_max_window_bits: cmwb,
        }))
    };
    let invalid = Err(HandshakeError::InvalidExtensionResponse);
    const PLAIN: &str = "permessage-deflate";
    const WITH_CMWB: &str = "permessage-deflate; client_max_window_bits";
    #[rustfmt::skip]
    let table: Vec<(&[&str], Option<&str>, Agreed)> = vec![
        (&[PLAIN], None, Ok(None)),
        (&[PLAIN], Some("permessage-deflate"), p(false, false, 15, 15)),
        (&[PLAIN], Some("permessage-deflate; server_no_context_takeover"), p(true, false, 15, 15)),
        (&[PLAIN], Some("permessage-deflate; client_no_context_takeover"), p(false, true, 15, 15)),
        (&[PLAIN], Some("permessage-deflate; server_max_window_bits=10"), p(false, false, 10, 15)),
        (&[WITH_CMWB], Some("permessage-deflate; client_max_window_bits=9"), p(false, false, 15, 9)),
        (&["permessage-deflate; client_max_window_bits=10"], Some("permessage-deflate"), p(false, false, 15, 10)),
        (&["permessage-deflate; client_no_context_takeover"], Some("permessage-deflate"), p(false, true, 15, 15)),
        (&["permessage-deflate; server_max_window_bits=10"], Some("permessage-deflate; server_max_window_bits=9"), p(false, false, 9, 15)),
        (&["permessage-deflate; server_max_window_bits=15"], Some("permessage-deflate; server_max_window_bits=15"),
            Ok(Some(DeflateParams { server_max_window_bits: Some(15), ..params() }))),
        // Invalid or not matching the offer: the handshake fails.
        (&[PLAIN], Some("permessage-deflate; client_max_window_bits=9"), invalid),
        (&[WITH_CMWB], Some("permessage-deflate; client_max_window_bits"), invalid),
        (&["permessage-deflate; client_max_window_bits=10"], Some("permessage-deflate; client_max_window_bits=11"), invalid),
        (&["permessage-deflate; server_max_window_bits=10"], Some("permessage-deflate"), invalid),
        // §7.1.2.1: an offered server_max_window_bits must be answered, even at 15.
        (&["permessage-deflate; server_max_window_bits=15"], Some("permessage-deflate"), invalid),
        (&["permessage-deflate; server_max_window_bits=10"], Some("permessage-deflate; server_max_window_bits=11"), invalid),
        (&["permessage-deflate; server_no_context_takeover"], Some("permessage-deflate"), invalid),
        (&[PLAIN], Some("permessage-deflate; server_max_window_bits=16"), invalid),
        (&[PLAIN], Some("permessage-deflate; server_max_window_bits"), invalid),
        (&[PLAIN], Some("permessage-deflate; foo"), invalid),
        (&[PLAIN], Some("permessage-deflate; server_no_context_takeover; server_no_context_takeover"), invalid),
        (&[PLAIN], Some("permessage-deflate, permessage-deflate"), invalid),
        // The second offer is the one answered.
        (&["permessage-deflate; server_max_window_bits=10", PLAIN], Some("permessage-deflate"), p(false, false, 15, 15)),
        // Not offered at all.
        (&[], Some("permessage-deflate"), Err(HandshakeError::UnexpectedExtension)),
    ];
    for (offers, answer, expected) in table {
        assert_eq!(
            client_sees(offers, answer),
            expected,
            "offers {offers:?}, answer {answer:?}"
        );
    }
}

#[test]
fn a_client_cannot_send_an_invalid_offer() {
    for offer in [
        "permessage-deflate; server_max_window_bits=20",
        "permessage-deflate; bogus",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    ] {
        let options = ClientOptions {
            extensions: vec![offer.into()],
            ..ClientOptions::default()
        };
        assert_eq!(
            ClientHandshake::new("ws://x/", [1; 16], options).err(),
            Some(HandshakeError::InvalidHeader),
            "{offer}"
        );
    }
}

#[test]
fn offer_strings() {
    assert_eq!(
        DeflateConfig::default().offer(),
        "permessage-deflate; client_max_window_bits"
    );
    assert_eq!(
        DeflateConfig::default()
            .no_context_takeover(true, true)
            .max_window_bits(9, 10)
            .offer(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=9; client_max_window_bits=10"
    );
}

// ---- the whole path: offer → response → agreement → messages ------------------

fn deflate_pair(agreed: DeflateParams, client: DeflateConfig, server: DeflateConfig) -> Pair {
    Pair::from_connections(
        deflating(Role::Client, agreed, client),
        deflating(Role::Server, agreed, server),
    )
}

/// Runs the handshake between a client and a server with these configs;
/// returns what each side agreed.
fn handshake(
    client: &DeflateConfig,
    server: &DeflateConfig,
) -> (Option<DeflateParams>, Option<DeflateParams>) {
    let options = ClientOptions {
        extensions: client.enabled.then(|| client.offer()).into_iter().collect(),
        ..ClientOptions::default()
    };
    let hs = ClientHandshake::new("ws://example.com/", [9; 16], options).unwrap();
    let Ok(Parsed::Complete(request, _)) = UpgradeRequest::parse(hs.request(), &Limits::default())
    else {
        panic!("request does not parse");
    };
    let at_server = request.deflate(server);
    let entry = at_server.map(|p| p.to_string());
    let extensions: Vec<&str> = entry.iter().map(String::as_str).collect();
    let reply = request
        .accept_with(&AcceptOptions {
            extensions: &extensions,
            ..AcceptOptions::default()
        })
        .unwrap();
    let Ok(Parsed::Complete(response, _)) = hs.parse_response(&reply) else {
        panic!("response refused");
    };
    (response.deflate(), at_server)
}

fn any_deflate_config() -> impl Strategy<Value = DeflateConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        8u8..=15,
        8u8..=15,
        0u32..=9,
        0usize..64,
    )
        .prop_map(|(snct, cnct, smwb, cmwb, level, threshold)| {
            DeflateConfig::default()
                .no_context_takeover(snct, cnct)
                .max_window_bits(smwb, cmwb)
                .level(level)
                .threshold(threshold)
        })
}

/// A message to send, and how to cut it into fragments.
#[derive(Debug, Clone)]
struct Sent {
    message: Message,
    cuts: Vec<usize>,
}

fn any_sent() -> impl Strategy<Value = Sent> {
    let text = prop_oneof![".{0,300}", "(ab|狗|🐕|x){0,2000}",].prop_map(Message::from);
    let binary = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        (0usize..20_000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
    .prop_map(Message::from);
    (
        prop_oneof![text, binary],
        prop::collection::vec(0usize..5000, 0..4),
    )
        .prop_map(|(message, cuts)| Sent { message, cuts })
}

/// Queues `sent` on `conn`, fragmented at its cuts (text cut on char boundaries).
fn send(conn: &mut Connection, sent: &Sent) {
    let bytes = sent.message.as_bytes();
    let mut cuts: Vec<usize> = sent.cuts.iter().map(|&c| c.min(bytes.len())).collect();
    if let Message::Text(text) = &sent.message {
        for cut in &mut cuts {
            while !text.is_char_boundary(*cut) {
                *cut -= 1;
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    if cuts.is_empty() {
        conn.send(&sent.message).unwrap();
        return;
    }
    let mut start = 0;
    for (i, &cut) in cuts.iter().chain(std::iter::once(&bytes.len())).enumerate() {
        let fin = i == cuts.len();
        let piece = &bytes[start..cut.max(start)];
        match &sent.message {
            Message::Text(_) => conn
                .send_text_fragment(std::str::from_utf8(piece).unwrap(), fin)
                .unwrap(),
            Message::Binary(_) => conn.send_binary_fragment(piece, fin).unwrap(),
        }
        if !fin {
            // A control frame between fragments (§5.4), never compressed.
            conn.ping(b"between").unwrap();
        }
        start = cut.max(start);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any parameter set goes through offer → response → agreement, and
    /// both sides agree on the same parameters.
    #[test]
    fn negotiation_round_trips(client in any_deflate_config(), server in any_deflate_config()) {
        let (at_client, at_server) = handshake(&client, &server);
        prop_assert!(at_server.is_some());
        prop_assert_eq!(at_client, at_server);
        let agreed = at_server.unwrap();
        // The server's own policy is honoured ...
        prop_assert!(agreed.server_window_bits() <= server.server_max_window_bits);
        prop_assert!(agreed.server_no_context_takeover >= server.server_no_context_takeover);
        prop_assert!(agreed.client_no_context_takeover >= server.client_no_context_takeover);
        // ... and so is the client's.
        prop_assert!(agreed.server_window_bits() <= client.server_max_window_bits);
        prop_assert!(agreed.client_max_window_bits <= client.client_max_window_bits);
        prop_assert!(agreed.server_no_context_takeover >= client.server_no_context_takeover);
    }

    /// Any messages, compressed and fragmented any way, delivered in any
    /// read sizes, arrive unchanged both ways under every parameter set.
    #[test]
    fn messages_round_trip(
        client in any_deflate_config(),
        server in any_deflate_config(),
        to_server in prop::collection::vec(any_sent(), 1..5),
        to_client in prop::collection::vec(any_sent(), 1..5),
        chunk in prop_oneof![Just(usize::MAX), 1usize..2000],
    ) {
        let (at_client, at_server) = handshake(&client, &server);
        let mut pair = Pair::from_connections(
            agreed(Role::Client, config_with(client), at_client),
            agreed(Role::Server, config_with(server), at_server),
        );
        for sent in &to_server {
            send(&mut pair.client, sent);
        }
        for sent in &to_client {
            send(&mut pair.server, sent);
        }
        let (got_client, got_server) = pair.drive(chunk);
        let expect = |sent: &[Sent]| -> Vec<Event> {
            sent.iter().map(|s| Event::Message(s.message.clone())).collect()
        };
        let messages = |events: Vec<Event>| -> Vec<Event> {
            events.into_iter().filter(|e| matches!(e, Event::Message(_))).collect()
        };
        let (got_client, got_server) = (messages(got_client), messages(got_server));
        // Compared without printing megabytes on a failure.
        prop_assert!(got_server == expect(&to_server), "messages to the server differ");
        prop_assert!(got_client == expect(&to_client), "messages to the client differ");
    }
}
