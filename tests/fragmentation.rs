//! Fragmentation (RFC 6455 §5.4): receiving messages in fragments with
//! control frames between them, the rules on fragment order, and sending
//! fragments. Autobahn|Testsuite sections 5 and 10.

mod common;

use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, Event, Message, ProtocolError, Role, UsageError};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Everything `conn` has queued (every chunk), copied and left queued.
fn queued(conn: &mut rfc6455::Connection) -> Vec<u8> {
    conn.output().chunks().flatten().copied().collect()
}

/// The pong frame `role` sends for a ping carrying `payload`.
fn pong_from(role: Role, payload: &[u8]) -> Frame {
    Frame {
        fin: true,
        opcode: OpCode::Pong,
        masked: role == Role::Client,
        payload: payload.to_vec(),
    }
}

/// The frames of a message of `opcode` split into `fragments`, for `receiver`.
fn fragmented(receiver: Role, opcode: u8, fragments: &[&[u8]]) -> Vec<Vec<u8>> {
    let last = fragments.len() - 1;
    fragments
        .iter()
        .enumerate()
        .map(|(i, f)| frame_to(receiver, i == last, if i == 0 { opcode } else { CONT }, f))
        .collect()
}

// ---- receiving fragmented messages ----------------------------------------------------

#[test]
fn text_in_two_fragments_arrives_as_one_message() {
    // Autobahn 5.3 (at once), 5.4 (frame by frame), 5.5 (byte by byte)
    for role in ROLES {
        for how in Delivery::ALL {
            let frames = fragmented(role, TEXT, &[b"fragment1", b"fragment2"]);
            let out = deliver(&mut connection(role), &frames, how);
            assert_eq!(out.error, None, "{role:?} {how:?}");
            assert_eq!(
                out.events,
                vec![text_event("fragment1fragment2")],
                "{role:?} {how:?}"
            );
            assert!(out.sent.is_empty(), "{role:?} {how:?}");
        }
    }
}

#[test]
fn binary_in_two_fragments_arrives_as_one_message() {
    for role in ROLES {
        for how in Delivery::ALL {
            let frames = fragmented(role, BINARY, &[&[1, 2, 3], &[4, 5]]);
            let out = deliver(&mut connection(role), &frames, how);
            assert_eq!(
                out.events,
                vec![binary_event(&[1, 2, 3, 4, 5])],
                "{role:?} {how:?}"
            );
        }
    }
}

#[test]
fn rfc_fragmented_hello_is_sent_and_received_byte_for_byte() {
    // §5.7: a fragmented unmasked text message "Hel" + "lo".
    let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let mut server = server();
    server.send_text_fragment("Hel", false).unwrap();
    server.send_text_fragment("lo", true).unwrap();
    assert_eq!(take_output(&mut server), wire);

    for chunk in [1, wire.len()] {
        let out = feed(&mut client(), &wire, chunk);
        assert_eq!(out.events, vec![text_event("Hello")], "chunk {chunk}");
    }
}

#[test]
fn ping_between_fragments_is_answered_and_the_message_completes() {
    // Autobahn 5.6 (at once), 5.7 (frame by frame), 5.8 (byte by byte);
    // §5.4: "Control frames MAY be injected in the middle of a fragmented message."
    for role in ROLES {
        for how in Delivery::ALL {
            let frames = [
                frame_to(role, false, TEXT, b"fragment1"),
                frame_to(role, true, PING, b"ping payload"),
                frame_to(role, true, CONT, b"fragment2"),
            ];
            let out = deliver(&mut connection(role), &frames, how);
            assert_eq!(out.error, None, "{role:?} {how:?}");
            assert_eq!(
                out.events,
                vec![
                    ping_event(b"ping payload"),
                    text_event("fragment1fragment2")
                ],
                "{role:?} {how:?}"
            );
            assert_eq!(
                out.sent,
                vec![pong_from(role, b"ping payload")],
                "{role:?} {how:?}"
            );
        }
    }
}

#[test]
fn pong_between_fragments_is_reported_and_the_message_completes() {
    for role in ROLES {
        for how in Delivery::ALL {
            let frames = [
                frame_to(role, false, BINARY, b"fragment1"),
                frame_to(role, true, PONG, b"pong payload"),
                frame_to(role, true, CONT, b"fragment2"),
            ];
            let out = deliver(&mut connection(role), &frames, how);
            assert_eq!(
                out.events,
                vec![
                    pong_event(b"pong payload"),
                    binary_event(b"fragment1fragment2")
                ]
            );
            assert!(
                out.sent.is_empty(),
                "{role:?} {how:?}: a pong is not answered"
            );
        }
    }
}

#[test]
fn pings_between_fragments_are_answered_before_the_message_completes() {
    // Autobahn 5.19 (at once per part), 5.20 (frame by frame): the first
    // pong goes out before the last fragment has arrived.
    for role in ROLES {
        for how in [
            Delivery::AtOnce,
            Delivery::FrameByFrame,
            Delivery::ByteByByte,
        ] {
            let mut conn = connection(role);
            let part1 = [
                frame_to(role, false, TEXT, b"fragment1"),
                frame_to(role, false, CONT, b"fragment2"),
                frame_to(role, true, PING, b"pongme 1!"),
            ];
            let out = deliver(&mut conn, &part1, how);
            assert_eq!(
                out.events,
                vec![ping_event(b"pongme 1!")],
                "{role:?} {how:?}"
            );
            assert_eq!(
                out.sent,
                vec![pong_from(role, b"pongme 1!")],
                "{role:?} {how:?}"
            );

            let part2 = [
                frame_to(role, false, CONT, b"fragment3"),
                frame_to(role, false, CONT, b"fragment4"),
                frame_to(role, true, PING, b"pongme 2!"),
                frame_to(role, true, CONT, b"fragment5"),
            ];
            let out = deliver(&mut conn, &part2, how);
            assert_eq!(
                out.events,
                vec![
                    ping_event(b"pongme 2!"),
                    text_event("fragment1fragment2fragment3fragment4fragment5")
                ],
                "{role:?} {how:?}"
            );
            assert_eq!(
                out.sent,
                vec![pong_from(role, b"pongme 2!")],
                "{role:?} {how:?}"
            );
        }
    }
}

#[test]
fn many_fragments_arrive_as_one_message() {
    for role in ROLES {
        let text: String = "aé€🦀".repeat(300);
        let pieces: Vec<String> = text.chars().map(String::from).collect();
        let fragments: Vec<&[u8]> = pieces.iter().map(|p| p.as_bytes()).collect();
        let frames = fragmented(role, TEXT, &fragments);
        assert_eq!(frames.len(), 1200);
        for how in Delivery::ALL {
            let out = deliver(&mut connection(role), &frames, how);
            assert_eq!(out.events, vec![text_event(&text)], "{role:?} {how:?}");
        }

        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let fragments: Vec<&[u8]> = data.chunks(1).collect();
        let frames = fragmented(role, BINARY, &fragments);
        let out = deliver(&mut connection(role), &frames, Delivery::AtOnce);
        assert_eq!(out.events, vec![binary_event(&data)], "{role:?}");
    }
}

#[test]
fn empty_fragments_are_allowed_anywhere() {
    let cases: [&[&[u8]]; 5] = [
        &[b"", b""],
        &[b"", b"", b""],
        &[b"", b"abc", b""],
        &[b"abc", b""],
        &[b"", b"abc"],
    ];
    for role in ROLES {
        for fragments in cases {
            let whole = concat(fragments);
            for how in Delivery::ALL {
                let out = deliver(
                    &mut connection(role),
                    &fragmented(role, TEXT, fragments),
                    how,
                );
                let text = String::from_utf8(whole.clone()).unwrap();
                assert_eq!(
                    out.events,
                    vec![text_event(&text)],
                    "{role:?} {fragments:?} {how:?}"
                );
                let out = deliver(
                    &mut connection(role),
                    &fragmented(role, BINARY, fragments),
                    how,
                );
                assert_eq!(
                    out.events,
                    vec![binary_event(&whole)],
                    "{role:?} {fragments:?} {how:?}"
                );
            }
        }
    }
}

#[test]
fn text_fragments_may_split_a_character() {
    // §5.6: only the whole message must be valid UTF-8, not each fragment.
    let text = "κόσμε🦀";
    for role in ROLES {
        for cut in 1..text.len() {
            let (a, b) = text.as_bytes().split_at(cut);
            let out = deliver(
                &mut connection(role),
                &fragmented(role, TEXT, &[a, b]),
                Delivery::AtOnce,
            );
            assert_eq!(out.error, None, "{role:?} cut {cut}");
            assert_eq!(out.events, vec![text_event(text)], "{role:?} cut {cut}");
        }
    }
}

#[test]
fn messages_before_and_after_a_fragmented_one_arrive_in_order() {
    for role in ROLES {
        let mut frames = vec![frame_to(role, true, BINARY, b"before")];
        frames.extend(fragmented(role, TEXT, &[b"a", b"b", b"c"]));
        frames.push(frame_to(role, true, TEXT, b"after"));
        for how in Delivery::ALL {
            let out = deliver(&mut connection(role), &frames, how);
            assert_eq!(
                out.events,
                vec![
                    binary_event(b"before"),
                    text_event("abc"),
                    text_event("after")
                ],
                "{role:?} {how:?}"
            );
        }
    }
}

// ---- fragment order errors (§5.4) ----------------------------------------------------

#[test]
fn continuation_without_an_open_message_fails_with_1002() {
    // Autobahn 5.9–5.11 (FIN = 1) and 5.12–5.14 (FIN = 0), each at once,
    // frame by frame and byte by byte; the text message after is never seen.
    for role in ROLES {
        for fin in [true, false] {
            for how in Delivery::ALL {
                let mut frames = vec![frame_to(role, fin, CONT, b"non-continuation payload")];
                frames.extend(fragmented(role, TEXT, &[b"Hello, ", b"World!"]));
                let out = deliver(&mut connection(role), &frames, how);
                out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
                assert_eq!(
                    out.error,
                    Some(ProtocolError::UnexpectedContinuation),
                    "{role:?} fin {fin} {how:?}"
                );
                assert!(out.events.is_empty(), "{role:?} fin {fin} {how:?}");
            }
        }
    }
}

#[test]
fn continuation_after_a_finished_fragmented_message_fails_after_delivering_it() {
    // Autobahn 5.15
    for role in ROLES {
        let frames = [
            frame_to(role, false, TEXT, b"fragment1"),
            frame_to(role, true, CONT, b"fragment2"),
            frame_to(role, false, CONT, b"fragment3"),
            frame_to(role, true, TEXT, b"fragment4"),
        ];
        for how in Delivery::ALL {
            let out = deliver(&mut connection(role), &frames, how);
            out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
            assert_eq!(out.error, Some(ProtocolError::UnexpectedContinuation));
            assert_eq!(
                out.events,
                vec![text_event("fragment1fragment2")],
                "{role:?} {how:?}"
            );
        }
    }
}

#[test]
fn stray_continuations_before_fragmented_messages_fail_at_the_first() {
    // Autobahn 5.16 (FIN = 0), 5.17 (FIN = 1): repeated twice, a stray
    // continuation then a text message in two fragments.
    for role in ROLES {
        for (case, fin) in [("5.16", false), ("5.17", true)] {
            let mut frames = Vec::new();
            for _ in 0..2 {
                frames.push(frame_to(role, fin, CONT, b"fragment1"));
                frames.push(frame_to(role, false, TEXT, b"fragment2"));
                frames.push(frame_to(role, true, CONT, b"fragment3"));
            }
            let out = deliver(&mut connection(role), &frames, Delivery::AtOnce);
            out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
            assert!(out.events.is_empty(), "{case} {role:?}");
        }
    }
}

#[test]
fn new_data_frame_while_a_fragmented_message_is_open_fails_with_1002() {
    // Autobahn 5.18 (text then text); §5.4: fragments of one message are not
    // interleaved with another.
    for role in ROLES {
        for (first, second) in [
            (TEXT, TEXT),
            (TEXT, BINARY),
            (BINARY, TEXT),
            (BINARY, BINARY),
        ] {
            for second_fin in [true, false] {
                let frames = [
                    frame_to(role, false, first, b"fragment1"),
                    frame_to(role, second_fin, second, b"fragment2"),
                ];
                for how in Delivery::ALL {
                    let out = deliver(&mut connection(role), &frames, how);
                    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
                    assert_eq!(
                        out.error,
                        Some(ProtocolError::ExpectedContinuation),
                        "{role:?} {first} {second}"
                    );
                    assert!(out.events.is_empty());
                }
            }
        }
    }
}

#[test]
fn fragmented_control_frame_fails_with_1002() {
    // Autobahn 5.1 (ping), 5.2 (pong); §5.5: "Control frames MUST NOT be fragmented."
    for role in ROLES {
        for (case, opcode) in [("5.1", PING), ("5.2", PONG), ("close", CLOSE)] {
            let frames = [
                frame_to(role, false, opcode, b"fragment1"),
                frame_to(role, true, CONT, b"fragment2"),
            ];
            for how in Delivery::ALL {
                let out = deliver(&mut connection(role), &frames, how);
                out.assert_failed_alone(
                    ProtocolError::FragmentedControlFrame,
                    &format!("{case} {role:?}"),
                );
            }
        }
    }
}

#[test]
fn fragmented_ping_inside_a_fragmented_message_fails_with_1002() {
    for role in ROLES {
        let frames = [
            frame_to(role, false, TEXT, b"Hel"),
            frame_to(role, false, PING, b"p"),
            frame_to(role, true, CONT, b"lo"),
        ];
        let out = deliver(&mut connection(role), &frames, Delivery::AtOnce);
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert!(out.events.is_empty());
    }
}

// ---- Autobahn 10: large messages ------------------------------------------------------

#[test]
fn large_message_arrives_whole_as_one_frame_or_many_fragments() {
    // Autobahn 10.1.1: 65536 bytes of text auto-fragmented at 1300 bytes;
    // here also up to 1 MiB, both directions, as one frame and in fragments.
    for len in [65536, 300_000, 1 << 20] {
        let text = "*".repeat(len);
        let data: Vec<u8> = (0..len as u32).map(|i| (i * 7) as u8).collect();
        for fragment in [None, Some(1300), Some(65536)] {
            for sender_is_client in [true, false] {
                let mut pair = Pair::new();
                let sender = if sender_is_client {
                    &mut pair.client
                } else {
                    &mut pair.server
                };
                send_in_fragments(sender, &Message::Text(text.clone().into()), fragment);
                send_in_fragments(sender, &Message::Binary(data.clone().into()), fragment);
                if let Some(size) = fragment {
                    let frames = parse_frames(&queued(sender));
                    assert_eq!(frames.len(), 2 * len.div_ceil(size), "frame count");
                    assert!(frames.iter().all(|f| f.payload.len() <= size));
                }
                let (at_client, at_server) = pair.drive(4096);
                let got = if sender_is_client {
                    at_server
                } else {
                    at_client
                };
                assert_eq!(got.len(), 2, "{len} bytes, fragments {fragment:?}");
                assert!(
                    got[0] == text_event(&text),
                    "{len} bytes text, fragments {fragment:?}"
                );
                assert!(
                    got[1] == binary_event(&data),
                    "{len} bytes binary, fragments {fragment:?}"
                );
            }
        }
    }
}

/// Sends `message` in fragments of at most `size` bytes (cut on character
/// boundaries for text), or as one frame.
fn send_in_fragments(conn: &mut rfc6455::Connection, message: &Message, size: Option<usize>) {
    let Some(size) = size else {
        return conn.send(message).unwrap();
    };
    match message {
        Message::Text(text) => {
            let mut rest = text.as_str();
            loop {
                let mut cut = size.min(rest.len());
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                let (piece, tail) = rest.split_at(cut);
                conn.send_text_fragment(piece, tail.is_empty()).unwrap();
                if tail.is_empty() {
                    return;
                }
                rest = tail;
            }
        }
        Message::Binary(data) => {
            let pieces: Vec<&[u8]> = data.chunks(size).collect();
            if pieces.is_empty() {
                return conn.send_binary_fragment(&[], true).unwrap();
            }
            for (i, piece) in pieces.iter().enumerate() {
                conn.send_binary_fragment(piece, i == pieces.len() - 1)
                    .unwrap();
            }
        }
    }
}

// ---- sending fragments ------------------------------------------------------------------

#[test]
fn sent_fragments_carry_the_message_opcode_first_then_continuations() {
    for role in ROLES {
        let masked = role == Role::Client;
        let mut conn = connection(role);
        conn.send_text_fragment("a", false).unwrap();
        conn.send_text_fragment("", false).unwrap();
        conn.send_text_fragment("c", true).unwrap();
        conn.send_binary_fragment(&[1], false).unwrap();
        conn.send_binary_fragment(&[2], true).unwrap();
        conn.send_text_fragment("whole", true).unwrap();
        let frame = |fin, opcode, payload: &[u8]| Frame {
            fin,
            opcode,
            masked,
            payload: payload.to_vec(),
        };
        assert_eq!(
            take_frames(&mut conn),
            vec![
                frame(false, OpCode::Text, b"a"),
                frame(false, OpCode::Continuation, b""),
                frame(true, OpCode::Continuation, b"c"),
                frame(false, OpCode::Binary, &[1]),
                frame(true, OpCode::Continuation, &[2]),
                frame(true, OpCode::Text, b"whole"),
            ],
            "{role:?}"
        );
    }
}

#[test]
fn ping_between_sent_fragments_arrives_right_at_the_peer() {
    // Both directions, read one byte at a time and all at once.
    for client_sends in [true, false] {
        for chunk in [1, 7, 1 << 20] {
            let mut pair = Pair::new();
            let sender = if client_sends {
                &mut pair.client
            } else {
                &mut pair.server
            };
            sender.send_text_fragment("Hel", false).unwrap();
            sender.ping(b"one").unwrap();
            sender.send_text_fragment("lo, ", false).unwrap();
            sender.pong(b"beat").unwrap();
            sender.send_text_fragment("wörld", true).unwrap();
            sender.send_binary_fragment(&[1, 2], false).unwrap();
            sender.ping(b"two").unwrap();
            sender.send_binary_fragment(&[3], true).unwrap();
            let (at_client, at_server) = pair.drive(chunk);
            let (at_receiver, at_sender) = if client_sends {
                (at_server, at_client)
            } else {
                (at_client, at_server)
            };
            assert_eq!(
                at_receiver,
                vec![
                    ping_event(b"one"),
                    pong_event(b"beat"),
                    text_event("Hello, wörld"),
                    ping_event(b"two"),
                    binary_event(&[1, 2, 3]),
                ],
                "client sends: {client_sends}, chunk {chunk}"
            );
            assert_eq!(
                at_sender,
                vec![pong_event(b"one"), pong_event(b"two")],
                "the peer's automatic pongs"
            );
        }
    }
}

#[test]
fn fragment_of_another_kind_while_a_message_is_open_is_fragment_order_error() {
    // §5.4: the fragments of one message are not interleaved with another.
    type Send = fn(&mut rfc6455::Connection) -> Result<(), UsageError>;
    let binary_sends: [(&str, Send); 3] = [
        ("send_binary_fragment", |c| {
            c.send_binary_fragment(b"x", false)
        }),
        ("send_binary_fragment fin", |c| {
            c.send_binary_fragment(b"x", true)
        }),
        ("send_binary", |c| c.send_binary(b"x")),
    ];
    let text_sends: [(&str, Send); 3] = [
        ("send_text_fragment", |c| c.send_text_fragment("x", false)),
        ("send_text_fragment fin", |c| {
            c.send_text_fragment("x", true)
        }),
        ("send_text", |c| c.send_text("x")),
    ];
    for role in ROLES {
        for (name, send) in binary_sends {
            let mut conn = connection(role);
            conn.send_text_fragment("Hel", false).unwrap();
            let before = queued(&mut conn);
            assert_eq!(
                send(&mut conn),
                Err(UsageError::FragmentOrder),
                "{role:?} {name} in a text message"
            );
            assert_eq!(queued(&mut conn), before, "{role:?} {name}: nothing queued");
            // The open message is still open and may be finished.
            conn.send_text_fragment("lo", true).unwrap();
            let frames = take_frames(&mut conn);
            assert_eq!(frames.last().unwrap().opcode, OpCode::Continuation);
        }
        for (name, send) in text_sends {
            let mut conn = connection(role);
            conn.send_binary_fragment(&[1], false).unwrap();
            let before = queued(&mut conn);
            assert_eq!(
                send(&mut conn),
                Err(UsageError::FragmentOrder),
                "{role:?} {name} in a binary message"
            );
            assert_eq!(queued(&mut conn), before, "{role:?} {name}: nothing queued");
            conn.send_binary_fragment(&[2], true).unwrap();
        }
    }
}

#[test]
fn whole_message_while_a_fragmented_message_is_open_is_fragment_order_error() {
    // `send_text` / `send_binary` / `send` start a new message (one frame,
    // FIN set, with its own opcode); while a fragmented message of the same
    // kind is open that is a new message interleaved with it (§5.4), not
    // its last fragment.
    type Send = fn(&mut rfc6455::Connection) -> Result<(), UsageError>;
    let cases: [(&str, Send, Send); 2] = [
        (
            "send_text",
            |c| c.send_text_fragment("Hel", false),
            |c| c.send_text("lo"),
        ),
        (
            "send_binary",
            |c| c.send_binary_fragment(b"Hel", false),
            |c| c.send_binary(b"lo"),
        ),
    ];
    for role in ROLES {
        for (name, open, whole) in cases {
            let mut conn = connection(role);
            open(&mut conn).unwrap();
            let before = queued(&mut conn);
            assert_eq!(
                whole(&mut conn),
                Err(UsageError::FragmentOrder),
                "{role:?} {name}"
            );
            assert_eq!(queued(&mut conn), before, "{role:?} {name}: nothing queued");
        }
    }
}

#[test]
fn new_message_may_start_once_the_fragmented_one_is_finished() {
    let mut pair = Pair::new();
    pair.client.send_binary_fragment(b"ab", false).unwrap();
    pair.client.send_binary_fragment(b"c", true).unwrap();
    pair.client.send_text("next").unwrap();
    pair.client.send_text_fragment("x", true).unwrap();
    let (_, at_server) = pair.drive(3);
    assert_eq!(
        at_server,
        vec![binary_event(b"abc"), text_event("next"), text_event("x")]
    );
}

#[test]
fn control_frames_between_received_fragments_do_not_end_the_message() {
    // Several control frames in a row between two fragments, in both roles.
    for role in ROLES {
        let frames = [
            frame_to(role, false, TEXT, b"a"),
            frame_to(role, true, PING, b"1"),
            frame_to(role, true, PONG, b"2"),
            frame_to(role, true, PING, b"3"),
            frame_to(role, true, CONT, b"b"),
        ];
        let out = deliver(&mut connection(role), &frames, Delivery::ByteByByte);
        assert_eq!(
            out.events,
            vec![
                ping_event(b"1"),
                pong_event(b"2"),
                ping_event(b"3"),
                Event::Message(Message::Text("ab".into()))
            ]
        );
        assert_eq!(out.sent, vec![pong_from(role, b"1"), pong_from(role, b"3")]);
    }
}
