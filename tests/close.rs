//! The close handshake and close frames (RFC 6455 §5.5.1, §7): the
//! Autobahn|Testsuite section 7 cases, the state machine from both sides,
//! and what a connection does once it is closing or closed.

mod common;
use common::*;

use rfc6455::close::CloseFrame;
use rfc6455::frame::OpCode;
use std::time::Duration;

use bytes::Buf;
use rfc6455::{
    CloseCode, Config, Connection, Event, Initiator, Lost, Message, ProtocolError, Role, State,
    UsageError,
};

/// A close frame from a client: `code` then `reason`.
fn close_from_client(code: u16, reason: &[u8]) -> Vec<u8> {
    client_frame(true, 0x8, &close_payload(code, reason))
}

/// A close frame with `code` and no reason, as the peer of a `receiver` sends it.
fn close_to(receiver: Role, code: u16) -> Vec<u8> {
    frame_to(receiver, true, 0x8, &close_payload(code, b""))
}

/// The only frame in `sent`, which must be a close frame; returns its payload.
#[track_caller]
fn only_close(sent: &[Frame]) -> Vec<u8> {
    assert_eq!(sent.len(), 1, "exactly one frame: {sent:?}");
    assert_eq!(sent[0].opcode, OpCode::Close, "{sent:?}");
    assert!(sent[0].fin);
    sent[0].payload.clone()
}

/// Everything `conn` has queued (every chunk), copied and left queued.
fn queued(conn: &mut Connection) -> Vec<u8> {
    conn.output().chunks().flatten().copied().collect()
}

/// The event for a peer's close frame with a code.
fn close_event(code: u16, reason: &str) -> Event {
    Event::Close(CloseFrame {
        code: Some(CloseCode(code)),
        reason: reason.into(),
    })
}

const CLEAN_REMOTE: State = State::Closed {
    clean: true,
    initiator: Initiator::Remote,
};
const CLEAN_LOCAL: State = State::Closed {
    clean: true,
    initiator: Initiator::Local,
};
const FAILED: State = State::Closed {
    clean: false,
    initiator: Initiator::Local,
};
const DROPPED: State = State::Closed {
    clean: false,
    initiator: Initiator::Remote,
};

/// The codes of Autobahn 7.7.x: valid on the wire, echoed.
const AUTOBAHN_VALID_CODES: [u16; 13] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
];

/// The codes of Autobahn 7.9.x (current list, after crossbario/autobahn-testsuite
/// PR #89), answered with 1002.
const AUTOBAHN_INVALID_CODES: [u16; 9] = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];

// ---- Autobahn 7.1: behaviour after a close --------------------------------

// Autobahn 7.1.1
#[test]
fn message_then_close_delivers_the_message_then_answers_the_close() {
    let mut input = client_frame(true, 0x1, b"Hello World!");
    input.extend(close_from_client(1000, b""));
    let mut conn = server();
    let out = feed(&mut conn, &input, input.len());
    assert_eq!(
        out.events,
        vec![
            Event::Message(Message::Text("Hello World!".into())),
            close_event(1000, ""),
        ]
    );
    assert_eq!(only_close(&out.sent), close_payload(1000, b""));
    assert_eq!(conn.state(), CLEAN_REMOTE);
}

// Autobahn 7.1.2
#[test]
fn second_close_frame_is_ignored() {
    let mut input = close_from_client(1000, b"");
    input.extend(client_frame(true, 0x8, b""));
    for chunk in [1, input.len()] {
        let mut conn = server();
        let out = feed(&mut conn, &input, chunk);
        assert_eq!(out.error, None);
        assert_eq!(out.events, vec![close_event(1000, "")]);
        assert_eq!(only_close(&out.sent), close_payload(1000, b""));
        assert_eq!(conn.state(), CLEAN_REMOTE);
    }
}

// Autobahn 7.1.3
#[test]
fn ping_after_close_is_not_answered() {
    let mut input = close_from_client(1000, b"");
    input.extend(client_frame(true, 0x9, b""));
    for chunk in [1, input.len()] {
        let out = feed(&mut server(), &input, chunk);
        assert_eq!(out.error, None);
        assert_eq!(out.events, vec![close_event(1000, "")]);
        assert_eq!(only_close(&out.sent), close_payload(1000, b""), "no pong");
    }
}

// Autobahn 7.1.4
#[test]
fn text_after_close_is_not_delivered() {
    let mut input = close_from_client(1000, b"");
    input.extend(client_frame(true, 0x1, b"Hello World!"));
    for chunk in [1, input.len()] {
        let out = feed(&mut server(), &input, chunk);
        assert_eq!(out.error, None);
        assert_eq!(out.events, vec![close_event(1000, "")]);
        assert_eq!(only_close(&out.sent), close_payload(1000, b""));
    }
}

// Autobahn 7.1.5
#[test]
fn close_between_fragments_ends_the_connection_cleanly() {
    let mut input = client_frame(false, 0x1, b"fragment1");
    input.extend(close_from_client(1000, b""));
    input.extend(client_frame(true, 0x0, b"fragment2"));
    for chunk in [1, 7, input.len()] {
        let mut conn = server();
        let out = feed(&mut conn, &input, chunk);
        assert_eq!(out.error, None);
        assert_eq!(out.events, vec![close_event(1000, "")]);
        assert_eq!(only_close(&out.sent), close_payload(1000, b""));
        assert_eq!(conn.state(), CLEAN_REMOTE);
    }
}

// Autobahn 7.1.6
#[test]
fn large_message_then_close_then_ping_delivers_both_messages_and_no_pong() {
    let big: String = "BAsd7&jh23".repeat(256 * 1024 / 10 + 1)[..256 * 1024].into();
    let mut input = client_frame(true, 0x1, big.as_bytes());
    input.extend(client_frame(true, 0x1, b"Hello World!"));
    input.extend(close_from_client(1000, b""));
    input.extend(client_frame(true, 0x9, b""));
    for chunk in [1000, input.len()] {
        let out = feed(&mut server(), &input, chunk);
        assert_eq!(out.error, None);
        assert_eq!(
            out.events,
            vec![
                Event::Message(Message::Text(big.clone().into())),
                Event::Message(Message::Text("Hello World!".into())),
                close_event(1000, ""),
            ]
        );
        assert_eq!(only_close(&out.sent), close_payload(1000, b""));
    }
}

// ---- Autobahn 7.3: close frame payloads -----------------------------------

// Autobahn 7.3.1
#[test]
fn empty_close_is_answered_with_an_empty_close() {
    let mut conn = server();
    let out = feed(&mut conn, &client_frame(true, 0x8, b""), 1);
    let frame = CloseFrame {
        code: None,
        reason: String::new(),
    };
    assert_eq!(frame.code_or_no_status(), CloseCode::NO_STATUS);
    assert_eq!(out.events, vec![Event::Close(frame.clone())]);
    assert_eq!(only_close(&out.sent), Vec::<u8>::new());
    assert_eq!(conn.state(), CLEAN_REMOTE);
    assert_eq!(conn.peer_close(), Some(&frame));
}

// Autobahn 7.3.2
#[test]
fn close_with_a_one_byte_payload_fails_with_1002() {
    let out = server_gets(&client_frame(true, 0x8, b"a"));
    assert_eq!(out.error, Some(ProtocolError::InvalidClosePayload));
    assert!(out.events.is_empty());
    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
}

// Autobahn 7.3.3
#[test]
fn close_with_a_code_is_answered_with_that_code() {
    let mut conn = server();
    let out = feed(&mut conn, &close_from_client(1000, b""), 1);
    assert_eq!(out.events, vec![close_event(1000, "")]);
    assert_eq!(only_close(&out.sent), close_payload(1000, b""));
    assert_eq!(
        conn.peer_close().and_then(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}

// Autobahn 7.3.4
#[test]
fn close_with_a_code_and_reason_reports_both_and_echoes_the_code() {
    let out = server_gets(&close_from_client(1000, b"Hello World!"));
    assert_eq!(out.events, vec![close_event(1000, "Hello World!")]);
    assert_eq!(only_close(&out.sent), close_payload(1000, b""));
}

// Autobahn 7.3.5
#[test]
fn close_reason_of_123_bytes_is_accepted() {
    let reason = "*".repeat(123);
    let out = server_gets(&close_from_client(1000, reason.as_bytes()));
    assert_eq!(out.error, None);
    assert_eq!(out.events, vec![close_event(1000, &reason)]);
    assert_eq!(only_close(&out.sent), close_payload(1000, b""));
    // Multi-byte characters count in bytes: 41 × 3 = 123.
    let reason = "€".repeat(41);
    let out = server_gets(&close_from_client(1001, reason.as_bytes()));
    assert_eq!(out.events, vec![close_event(1001, &reason)]);
}

// Autobahn 7.3.6
#[test]
fn close_payload_over_125_bytes_fails_with_1002_at_the_header() {
    let frame = close_from_client(1000, &[b'*'; 124]);
    // The 7-bit length 126 is refused as soon as the first two bytes arrive.
    let (out, failed_at) = feed_pieces(&mut server(), &[&frame[..2], &frame[2..]]);
    assert_eq!(failed_at, Some(0));
    assert_eq!(out.error, Some(ProtocolError::ControlFrameTooLong));
    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
}

// Autobahn 7.5.1
#[test]
fn close_reason_that_is_not_utf8_fails_with_1007() {
    let reason = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
    for chunk in [1, 100] {
        let out = feed(&mut server(), &close_from_client(1000, reason), chunk);
        assert_eq!(out.error, Some(ProtocolError::InvalidCloseReason));
        assert!(out.events.is_empty());
        out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
    }
    // A reason cut inside a code point is invalid too.
    let out = server_gets(&close_from_client(1000, b"ok\xe2\x82"));
    out.assert_failed_with(CloseCode::INVALID_PAYLOAD);
}

// ---- Autobahn 7.7, 7.9, 7.13: close codes ---------------------------------

// Autobahn 7.7.1 to 7.7.13
#[test]
fn valid_close_codes_are_accepted_and_echoed() {
    for role in [Role::Server, Role::Client] {
        for code in AUTOBAHN_VALID_CODES {
            let (mut conn, frame) = (connection(role), close_to(role, code));
            let out = feed(&mut conn, &frame, frame.len());
            assert_eq!(out.error, None, "{code} ({role:?})");
            assert_eq!(out.events, vec![close_event(code, "")], "{code}");
            assert_eq!(only_close(&out.sent), close_payload(code, b""), "{code}");
            assert_eq!(
                out.sent[0].masked,
                role == Role::Client,
                "a client masks its reply"
            );
            assert_eq!(conn.state(), CLEAN_REMOTE, "{code}");
        }
    }
}

// Autobahn 7.9.1 to 7.9.9
#[test]
fn invalid_close_codes_fail_with_1002() {
    for role in [Role::Server, Role::Client] {
        for code in AUTOBAHN_INVALID_CODES {
            let (mut conn, frame) = (connection(role), close_to(role, code));
            let out = feed(&mut conn, &frame, frame.len());
            assert_eq!(
                out.error,
                Some(ProtocolError::InvalidCloseCode(code)),
                "{role:?}"
            );
            assert!(out.events.is_empty(), "{code}");
            out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
            assert_eq!(conn.state(), FAILED, "{code}");
        }
    }
}

// Autobahn 7.9.7 in testsuite releases before PR #89 (0.8.x): 1015 is in the
// IANA registry but RFC 6455 §7.4.1 says it "MUST NOT be set as a status
// code in a Close control frame by an endpoint", so receiving it is an error.
#[test]
fn close_code_1015_fails_with_1002() {
    let out = server_gets(&close_from_client(1015, b""));
    assert_eq!(out.error, Some(ProtocolError::InvalidCloseCode(1015)));
    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
}

// 1012 (service restart), 1013 (try again later) and 1014 (bad gateway) are
// registered with IANA and accepted. Autobahn 7.9.6 in testsuite releases
// before PR #89 (0.8.x, still the Docker image of many CI setups) sends 1014
// and expects 1002; the current testsuite no longer sends it (issue #88).
#[test]
fn iana_registered_close_codes_1012_to_1014_are_accepted() {
    for code in [1012, 1013, 1014] {
        let out = server_gets(&close_from_client(code, b""));
        assert_eq!(out.error, None, "{code}");
        assert_eq!(out.events, vec![close_event(code, "")]);
        assert_eq!(only_close(&out.sent), close_payload(code, b""));
    }
}

// Autobahn 7.13.1, 7.13.2 (informational there: RFC 6455 defines no code from 5000 up)
#[test]
fn close_codes_from_5000_up_fail_with_1002() {
    for code in [5000, 65535] {
        let out = server_gets(&close_from_client(code, b""));
        assert_eq!(out.error, Some(ProtocolError::InvalidCloseCode(code)));
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
    }
}

#[test]
fn close_code_validity_follows_rfc_6455_section_7_4() {
    // §7.4.1/§7.4.2 and the IANA registry: 1000-1003 and 1007-1014 are
    // defined, 3000-4999 are for libraries and applications; 0-999, 1004,
    // 1005, 1006, 1015, the rest of 1016-2999, and 5000 up are not sent.
    for code in 0..=u16::MAX {
        let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
        assert_eq!(CloseCode(code).is_valid_on_wire(), valid, "{code}");
        let parsed = CloseFrame::parse(&close_payload(code, b"why"));
        if valid {
            assert_eq!(
                parsed,
                Ok(CloseFrame {
                    code: Some(CloseCode(code)),
                    reason: "why".into()
                })
            );
        } else {
            assert_eq!(parsed, Err(ProtocolError::InvalidCloseCode(code)));
        }
    }
}

#[test]
fn close_frame_parse_covers_every_payload_shape() {
    assert_eq!(
        CloseFrame::parse(b""),
        Ok(CloseFrame {
            code: None,
            reason: String::new()
        })
    );
    assert_eq!(
        CloseFrame::parse(b"\x03"),
        Err(ProtocolError::InvalidClosePayload)
    );
    assert_eq!(
        CloseFrame::parse(b"\x03\xe8"),
        Ok(CloseFrame {
            code: Some(CloseCode::NORMAL),
            reason: String::new()
        })
    );
    assert_eq!(
        CloseFrame::parse(&close_payload(1001, "κόσμε".as_bytes())),
        Ok(CloseFrame {
            code: Some(CloseCode::GOING_AWAY),
            reason: "κόσμε".into()
        })
    );
    assert_eq!(
        CloseFrame::parse(&close_payload(1000, b"\xff")),
        Err(ProtocolError::InvalidCloseReason)
    );
    assert_eq!(
        ProtocolError::InvalidClosePayload.close_code(),
        CloseCode::PROTOCOL_ERROR
    );
    assert_eq!(
        ProtocolError::InvalidCloseCode(5).close_code(),
        CloseCode::PROTOCOL_ERROR
    );
    assert_eq!(
        ProtocolError::InvalidCloseReason.close_code(),
        CloseCode::INVALID_PAYLOAD
    );
}

// ---- the close handshake, both sides --------------------------------------

#[test]
fn local_close_then_peer_close_is_clean_and_initiated_locally() {
    let mut conn = server();
    conn.close(CloseCode::GOING_AWAY, "restart").unwrap();
    assert_eq!(conn.state(), State::LocalClosing);
    assert_eq!(
        only_close(&take_frames(&mut conn)),
        close_payload(1001, b"restart")
    );
    let out = feed(&mut conn, &close_from_client(1001, b""), 1);
    assert_eq!(out.events, vec![close_event(1001, "")]);
    assert!(out.sent.is_empty(), "our close is already out: no reply");
    assert_eq!(conn.state(), CLEAN_LOCAL);
}

#[test]
fn peer_close_is_answered_in_the_same_step() {
    let mut conn = server();
    conn.receive(&close_from_client(1000, b"bye"));
    assert_eq!(conn.poll_event(), Ok(Some(close_event(1000, "bye"))));
    assert_eq!(conn.state(), CLEAN_REMOTE);
    assert_eq!(
        only_close(&take_frames(&mut conn)),
        close_payload(1000, b"")
    );
    assert_eq!(conn.poll_event(), Ok(None));
}

#[test]
fn close_handshake_between_a_pair_from_either_side() {
    for client_first in [true, false] {
        let mut pair = Pair::new();
        if client_first {
            pair.client.close(CloseCode::NORMAL, "done").unwrap();
        } else {
            pair.server.close(CloseCode::NORMAL, "done").unwrap();
        }
        let (at_client, at_server) = pair.drive(3);
        let (first, second) = if client_first {
            (&pair.client, &pair.server)
        } else {
            (&pair.server, &pair.client)
        };
        assert_eq!(first.state(), CLEAN_LOCAL);
        assert_eq!(second.state(), CLEAN_REMOTE);
        let (to_first, to_second) = if client_first {
            (at_client, at_server)
        } else {
            (at_server, at_client)
        };
        assert_eq!(to_second, vec![close_event(1000, "done")]);
        assert_eq!(to_first, vec![close_event(1000, "")]);
    }
}

#[test]
fn simultaneous_closes_are_both_clean_and_local() {
    let mut pair = Pair::new();
    pair.client.close(CloseCode::NORMAL, "").unwrap();
    pair.server.close(CloseCode::GOING_AWAY, "").unwrap();
    let (at_client, at_server) = pair.drive(1);
    assert_eq!(at_client, vec![close_event(1001, "")]);
    assert_eq!(at_server, vec![close_event(1000, "")]);
    assert_eq!(pair.client.state(), CLEAN_LOCAL);
    assert_eq!(pair.server.state(), CLEAN_LOCAL);
    assert!(!pair.client.wants_write() && !pair.server.wants_write());
}

#[test]
fn messages_still_arrive_while_local_closing() {
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "").unwrap();
    take_frames(&mut conn);
    let mut input = client_frame(true, 0x1, b"late");
    input.extend(client_frame(false, 0x2, b"frag"));
    input.extend(client_frame(true, 0xA, b"pong"));
    input.extend(client_frame(true, 0x0, b"ment"));
    input.extend(close_from_client(1000, b""));
    let out = feed(&mut conn, &input, 5);
    assert_eq!(
        out.events,
        vec![
            Event::Message(Message::Text("late".into())),
            Event::Pong("pong".into()),
            Event::Message(Message::Binary("fragment".into())),
            close_event(1000, ""),
        ]
    );
    assert!(out.sent.is_empty());
    assert_eq!(conn.state(), CLEAN_LOCAL);
}

// RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a
// Pong frame in response, unless it already received a Close frame." Having
// *sent* a close is not an exception (§5.5.1 forbids only further *data*
// frames after one's close).
#[test]
fn ping_while_local_closing_is_answered() {
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "").unwrap();
    take_frames(&mut conn);
    let out = feed(&mut conn, &client_frame(true, 0x9, b"still there?"), 64);
    assert_eq!(out.events, vec![Event::Ping("still there?".into())]);
    assert_eq!(out.sent.len(), 1, "a pong: {:?}", out.sent);
    assert_eq!(out.sent[0].opcode, OpCode::Pong);
    assert_eq!(out.sent[0].payload, b"still there?");
}

/// Every sending method, with what it returned.
fn try_every_send(conn: &mut Connection) -> Vec<(&'static str, Result<(), UsageError>)> {
    vec![
        ("send", conn.send(&Message::Text("x".into()))),
        ("send_text", conn.send_text("x")),
        ("send_binary", conn.send_binary(b"x")),
        ("send_text_fragment", conn.send_text_fragment("x", false)),
        (
            "send_binary_fragment",
            conn.send_binary_fragment(b"x", true),
        ),
        ("ping", conn.ping(b"x")),
        ("pong", conn.pong(b"x")),
        ("close", conn.close(CloseCode::NORMAL, "")),
    ]
}

#[test]
fn nothing_may_be_sent_after_our_close() {
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "").unwrap();
    let queued = queued(&mut conn);
    for (method, result) in try_every_send(&mut conn) {
        if method == "pong" {
            // §5.5.2: a pong may still answer a ping (see ping_while_local_closing_is_answered).
            assert_eq!(result, Ok(()), "{method}");
            continue;
        }
        assert_eq!(result, Err(UsageError::Closed), "{method}");
    }
    let frames = take_frames(&mut conn);
    assert_eq!(parse_frames(&queued).len(), 1);
    assert_eq!(
        frames.iter().map(|f| f.opcode).collect::<Vec<_>>(),
        vec![OpCode::Close, OpCode::Pong],
        "only our close frame and the pong"
    );
    assert_eq!(conn.state(), State::LocalClosing);
}

#[test]
fn nothing_may_be_sent_after_the_peer_closed() {
    for role in [Role::Server, Role::Client] {
        let (mut conn, frame) = (connection(role), close_to(role, 1000));
        feed(&mut conn, &frame, frame.len());
        for (method, result) in try_every_send(&mut conn) {
            assert_eq!(result, Err(UsageError::Closed), "{method} ({role:?})");
        }
        assert_eq!(conn.output_len(), 0, "nothing but the reply, already taken");
    }
}

#[test]
fn close_with_a_code_that_may_not_be_sent_is_refused() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let mut conn = server();
        assert_eq!(
            conn.close(CloseCode(code), ""),
            Err(UsageError::InvalidCloseCode(code))
        );
        assert_eq!(conn.state(), State::Open, "{code}");
        assert_eq!(conn.output_len(), 0, "{code}");
    }
    for code in AUTOBAHN_VALID_CODES.into_iter().chain([1012, 1013, 1014]) {
        let mut conn = server();
        assert_eq!(conn.close(CloseCode(code), ""), Ok(()), "{code}");
        assert_eq!(
            only_close(&take_frames(&mut conn)),
            close_payload(code, b"")
        );
    }
}

#[test]
fn close_reason_is_limited_to_123_bytes() {
    let mut conn = server();
    assert_eq!(
        conn.close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(UsageError::ControlPayloadTooLong)
    );
    // 42 × 3 = 126 bytes of UTF-8, though only 42 characters.
    assert_eq!(
        conn.close(CloseCode::NORMAL, &"€".repeat(42)),
        Err(UsageError::ControlPayloadTooLong)
    );
    assert_eq!(conn.state(), State::Open);
    assert_eq!(conn.output_len(), 0);
    conn.close(CloseCode::NORMAL, &"x".repeat(123)).unwrap();
    let payload = only_close(&take_frames(&mut conn));
    assert_eq!(payload.len(), 125);
}

#[test]
fn client_close_frames_are_masked_and_server_ones_are_not() {
    let mut c = client();
    c.close(CloseCode::NORMAL, "bye").unwrap();
    let sent = take_frames(&mut c);
    assert!(sent[0].masked);
    assert_eq!(sent[0].payload, close_payload(1000, b"bye"));
    let mut s = server();
    s.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(!take_frames(&mut s)[0].masked);
}

// ---- when the transport may close -----------------------------------------

#[test]
fn server_shuts_down_write_once_its_close_frame_is_written_and_closes_on_the_clients_eof() {
    // §7.1.1: the server closes the TCP connection first; it shuts its
    // write half down once its last frame is written, and drops the
    // transport once the client ended its side (a lingering close: a
    // socket dropped with unread input sends a reset, which can destroy
    // the close frame).
    // Peer-initiated.
    let mut conn = server();
    assert!(!conn.should_shutdown_write());
    assert!(!conn.may_close_transport());
    conn.receive(&close_from_client(1000, b""));
    conn.poll_event().unwrap();
    assert!(!conn.should_shutdown_write(), "the reply is still pending");
    assert!(!conn.may_close_transport(), "the reply is still pending");
    let n = conn.output_len();
    conn.output().advance(n - 1);
    assert!(
        !conn.should_shutdown_write(),
        "one byte of the reply is left"
    );
    assert!(!conn.may_close_transport());
    conn.output().advance(1);
    assert!(conn.should_shutdown_write(), "the reply is written: FIN");
    assert!(
        !conn.may_close_transport(),
        "the server waits for the client's EOF"
    );
    conn.receive_eof();
    assert_eq!(
        conn.poll_event(),
        Ok(None),
        "EOF after a clean close is no loss"
    );
    assert!(conn.may_close_transport());
    // Locally initiated: not while waiting for the peer's close.
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "").unwrap();
    take_frames(&mut conn);
    assert!(!conn.should_shutdown_write());
    assert!(!conn.may_close_transport());
    feed(&mut conn, &close_from_client(1000, b""), 64);
    assert!(conn.should_shutdown_write());
    assert!(!conn.may_close_transport(), "waits for the client's EOF");
    conn.receive_eof();
    assert!(conn.may_close_transport());
}

#[test]
fn server_closes_without_the_clients_eof_once_the_close_timeout_passed() {
    let timeout = Duration::from_secs(3);
    let start = Duration::from_secs(100);
    let mut conn = server_with(Config::default().close_timeout(timeout));
    conn.handle_timeout(Duration::ZERO);
    feed(&mut conn, &close_from_client(1000, b""), 64);
    // The state change is stamped at the next `handle_timeout`.
    conn.handle_timeout(start);
    assert!(conn.should_shutdown_write());
    assert!(!conn.may_close_transport());
    assert_eq!(conn.poll_timeout(), Some(start + timeout));
    conn.handle_timeout(start + timeout - Duration::from_millis(1));
    assert!(!conn.may_close_transport(), "the client still has 1 ms");
    conn.handle_timeout(start + timeout);
    assert!(
        conn.may_close_transport(),
        "the wait for the client is over"
    );
    assert!(!conn.wants_read());
    assert_eq!(
        conn.poll_event(),
        Ok(None),
        "the close handshake completed: nothing was lost"
    );
    assert_eq!(conn.state(), CLEAN_REMOTE);
    assert_eq!(conn.poll_timeout(), None, "no timer left");
}

#[test]
fn server_closes_without_the_clients_eof_after_discarding_64_kib() {
    // A client that keeps sending after the close cannot hold the
    // connection open: at most 64 KiB are read and discarded.
    let mut conn = server();
    feed(&mut conn, &close_from_client(1000, b""), 64);
    assert!(conn.should_shutdown_write() && !conn.may_close_transport());
    let flood = vec![0x81u8; 64 * 1024 - 1];
    assert_eq!(conn.receive(&flood), flood.len(), "discarded, not refused");
    assert!(!conn.may_close_transport(), "one byte of budget left");
    assert!(conn.wants_read());
    assert_eq!(conn.receive(&[0x81; 10]), 1, "only the budget is taken");
    assert!(conn.may_close_transport());
    assert!(!conn.wants_read());
    assert_eq!(conn.poll_event(), Ok(None));
}

#[test]
fn client_waits_for_the_servers_eof_after_a_clean_close() {
    // §7.1.1: the server closes the TCP connection first.
    for client_first in [true, false] {
        let (mut client, mut server) = (client(), server());
        // Bytes from one end to the other; the events; what the receiver
        // queued stays queued.
        let hand = |from: &mut Connection, to: &mut Connection| {
            let wire = take_output(from);
            assert_eq!(to.receive(&wire), wire.len());
            let mut events = Vec::new();
            while let Some(event) = to.poll_event().unwrap() {
                events.push(event);
            }
            events
        };
        let (first_close, reply) = if client_first {
            client.close(CloseCode::NORMAL, "").unwrap();
            (
                hand(&mut client, &mut server),
                hand(&mut server, &mut client),
            )
        } else {
            server.close(CloseCode::NORMAL, "").unwrap();
            (
                hand(&mut server, &mut client),
                hand(&mut client, &mut server),
            )
        };
        assert_eq!(first_close, vec![close_event(1000, "")]);
        assert_eq!(reply, vec![close_event(1000, "")]);
        let want = if client_first {
            CLEAN_LOCAL
        } else {
            CLEAN_REMOTE
        };
        assert_eq!(client.state(), want, "client first: {client_first}");
        assert!(server.should_shutdown_write(), "the server sends FIN first");
        assert!(!server.may_close_transport(), "and waits for the client's");
        assert!(
            !client.should_shutdown_write(),
            "a client after a clean close leaves the first FIN to the server"
        );
        assert!(!client.may_close_transport());
        // The server's FIN.
        client.receive_eof();
        assert!(client.is_eof());
        assert_eq!(
            client.poll_event(),
            Ok(None),
            "eof after a clean close is no loss"
        );
        assert!(client.may_close_transport());
        // The client drops the transport: the server sees its EOF.
        server.receive_eof();
        assert_eq!(server.poll_event(), Ok(None));
        assert!(server.may_close_transport());
    }
    // The same through a pair, which delivers each end's FIN to the other.
    for client_first in [true, false] {
        let mut pair = Pair::new();
        if client_first {
            pair.client.close(CloseCode::NORMAL, "").unwrap();
        } else {
            pair.server.close(CloseCode::NORMAL, "").unwrap();
        }
        let (at_client, at_server) = pair.drive(64);
        assert!(pair.client.is_eof() && pair.server.is_eof());
        assert!(pair.client.may_close_transport() && pair.server.may_close_transport());
        // One close frame each way, and no loss at either end.
        assert_eq!(at_client.len(), 1, "{at_client:?}");
        assert_eq!(at_server.len(), 1, "{at_server:?}");
        for event in at_client.iter().chain(&at_server) {
            assert!(matches!(event, Event::Close(_)), "{event:?}");
        }
    }
}

#[test]
fn client_shuts_down_write_after_failing_the_connection_then_waits_for_eof() {
    let mut conn = client();
    let out = feed(&mut conn, &client_frame(true, 0x1, b"masked"), 64);
    assert_eq!(out.error, Some(ProtocolError::MaskedFrame));
    assert!(out.sent[0].masked);
    assert!(
        conn.should_shutdown_write(),
        "after a failure the client need not wait for the server's FIN"
    );
    assert!(
        !conn.may_close_transport(),
        "but it drops the transport only after the server's EOF (or the close timeout)"
    );
    conn.receive_eof();
    assert_eq!(
        conn.poll_event(),
        Ok(None),
        "the failure was reported already"
    );
    assert!(conn.may_close_transport());
}

#[test]
fn eof_before_a_close_is_lost_transport_ended() {
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role);
        conn.receive_eof();
        assert_eq!(
            conn.poll_event(),
            Ok(Some(Event::Lost(Lost::TransportEnded))),
            "{role:?}"
        );
        assert_eq!(conn.lost(), Some(Lost::TransportEnded));
        assert_eq!(Lost::TransportEnded.code(), CloseCode::ABNORMAL);
        assert_eq!(Lost::TransportEnded.code().0, 1006);
        assert_eq!(conn.output_len(), 0, "1006 is never sent ({role:?})");
        assert_eq!(conn.state(), DROPPED);
        assert!(conn.may_close_transport());
        for _ in 0..3 {
            assert_eq!(conn.poll_event(), Ok(None), "reported once");
        }
    }
}

#[test]
fn eof_in_the_middle_of_a_frame_is_lost_transport_ended() {
    let frame = client_frame(true, 0x1, b"cut short");
    let mut conn = server();
    conn.receive(&frame[..frame.len() - 3]);
    assert_eq!(conn.poll_event(), Ok(None));
    conn.receive_eof();
    assert_eq!(
        conn.poll_event(),
        Ok(Some(Event::Lost(Lost::TransportEnded)))
    );
    assert_eq!(conn.output_len(), 0);
    assert_eq!(conn.state(), DROPPED);
    assert_eq!(conn.poll_event(), Ok(None));
}

#[test]
fn eof_after_complete_frames_delivers_them_first() {
    let mut input = client_frame(true, 0x1, b"one");
    input.extend(client_frame(true, 0x1, b"two"));
    let mut conn = server();
    conn.receive(&input);
    conn.receive_eof();
    assert_eq!(
        conn.poll_event(),
        Ok(Some(Event::Message(Message::Text("one".into()))))
    );
    assert_eq!(
        conn.poll_event(),
        Ok(Some(Event::Message(Message::Text("two".into()))))
    );
    assert_eq!(
        conn.poll_event(),
        Ok(Some(Event::Lost(Lost::TransportEnded)))
    );
    assert_eq!(conn.poll_event(), Ok(None));
}

#[test]
fn eof_while_local_closing_is_lost_transport_ended_without_a_second_close() {
    let mut conn = server();
    conn.close(CloseCode::NORMAL, "").unwrap();
    let queued = queued(&mut conn);
    conn.receive_eof();
    assert_eq!(
        conn.poll_event(),
        Ok(Some(Event::Lost(Lost::TransportEnded)))
    );
    assert_eq!(take_output(&mut conn), queued, "only our own close frame");
    assert_eq!(conn.state(), DROPPED);
    assert!(conn.may_close_transport(), "flushed, and the peer is gone");
}

// ---- protocol errors -------------------------------------------------------

/// One input per kind of protocol error a server can meet, with the error.
fn server_violations() -> Vec<(&'static str, Config, Vec<u8>, ProtocolError)> {
    let d = Config::default;
    let mut expected_continuation = client_frame(false, 0x1, b"a");
    expected_continuation.extend(client_frame(true, 0x1, b"b"));
    let mut huge = vec![0x82, 0xFF];
    huge.extend((1u64 << 40).to_be_bytes());
    huge.extend(KEY);
    let mut too_long_64 = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    too_long_64.extend(KEY);
    let mut non_minimal = vec![0x81, 0xFE, 0x00, 0x05];
    non_minimal.extend(KEY);
    non_minimal.extend(client_frame(true, 0x1, b"hello")[6..].iter());
    let mut over_message = client_frame(false, 0x2, &[0; 6]);
    over_message.extend(client_frame(true, 0x0, &[0; 6]));
    vec![
        (
            "rsv1",
            d(),
            raw_frame(true, 0b100, 0x1, Some(KEY), b"x"),
            ProtocolError::ReservedBits,
        ),
        (
            "opcode 3",
            d(),
            client_frame(true, 0x3, b""),
            ProtocolError::ReservedOpcode(3),
        ),
        (
            "opcode 0xB",
            d(),
            client_frame(true, 0xB, b""),
            ProtocolError::ReservedOpcode(0xB),
        ),
        (
            "ping of 126",
            d(),
            client_frame(true, 0x9, &[0; 126]),
            ProtocolError::ControlFrameTooLong,
        ),
        (
            "fragmented ping",
            d(),
            client_frame(false, 0x9, b""),
            ProtocolError::FragmentedControlFrame,
        ),
        (
            "unmasked",
            d(),
            server_frame(true, 0x1, b"hi"),
            ProtocolError::UnmaskedFrame,
        ),
        ("length msb", d(), too_long_64, ProtocolError::InvalidLength),
        (
            "non-minimal length",
            d(),
            non_minimal,
            ProtocolError::NonMinimalLength,
        ),
        (
            "continuation",
            d(),
            client_frame(true, 0x0, b"x"),
            ProtocolError::UnexpectedContinuation,
        ),
        (
            "new message",
            d(),
            expected_continuation,
            ProtocolError::ExpectedContinuation,
        ),
        (
            "bad utf-8",
            d(),
            client_frame(true, 0x1, b"\xff"),
            ProtocolError::InvalidUtf8,
        ),
        (
            "close of 1 byte",
            d(),
            client_frame(true, 0x8, b"\x03"),
            ProtocolError::InvalidClosePayload,
        ),
        (
            "close 1005",
            d(),
            close_from_client(1005, b""),
            ProtocolError::InvalidCloseCode(1005),
        ),
        (
            "close reason",
            d(),
            close_from_client(1000, b"\xc0\xaf"),
            ProtocolError::InvalidCloseReason,
        ),
        (
            "2^40 frame",
            d(),
            huge,
            ProtocolError::FrameTooLarge {
                len: 1 << 40,
                max: 16 << 20,
            },
        ),
        (
            "message over 10",
            d().max_message_size(10),
            over_message,
            ProtocolError::MessageTooLarge { len: 12, max: 10 },
        ),
    ]
}

#[test]
fn every_protocol_error_queues_exactly_one_close_frame_then_nothing_more() {
    for (name, config, input, expected) in server_violations() {
        for chunk in [1, input.len()] {
            let mut conn = server_with(config.clone());
            let out = feed(&mut conn, &input, chunk);
            assert_eq!(out.error, Some(expected), "{name}");
            out.assert_failed_with(expected.close_code());
            assert_eq!(
                only_close(&out.sent),
                close_payload(expected.close_code().0, b""),
                "{name}"
            );
            assert_eq!(conn.state(), FAILED, "{name}");
            assert!(conn.should_shutdown_write(), "{name}");
            assert!(
                !conn.may_close_transport(),
                "{name}: waits for the client's EOF"
            );

            // Whatever comes next is ignored, and nothing is ever queued again.
            let mut more = client_frame(true, 0x9, b"ping");
            more.extend(client_frame(true, 0x1, b"text"));
            more.extend(client_frame(true, 0x1, b"\xff"));
            more.extend(close_from_client(1000, b""));
            let after = feed(&mut conn, &more, 3);
            assert!(
                after.events.is_empty() && after.error.is_none(),
                "{name}: {after:?}"
            );
            assert!(after.sent.is_empty(), "{name}: {:?}", after.sent);
            conn.receive_eof();
            for _ in 0..3 {
                assert_eq!(conn.poll_event(), Ok(None), "{name}: Ok(None) forever");
            }
            assert!(conn.may_close_transport(), "{name}");
            for (method, result) in try_every_send(&mut conn) {
                assert_eq!(result, Err(UsageError::Closed), "{name}: {method}");
            }
            assert_eq!(conn.output_len(), 0, "{name}");
        }
    }
}

#[test]
fn masked_frame_to_a_client_fails_with_one_masked_close_frame() {
    let mut conn = client();
    let out = feed(&mut conn, &client_frame(true, 0x2, b"x"), 1);
    assert_eq!(out.error, Some(ProtocolError::MaskedFrame));
    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
    assert_eq!(out.sent.len(), 1);
    assert!(out.sent[0].masked);
    assert_eq!(conn.state(), FAILED);
}

#[test]
fn protocol_error_while_local_closing_sends_no_second_close() {
    for (name, config, input, expected) in server_violations() {
        let mut conn = server_with(config);
        conn.close(CloseCode::GOING_AWAY, "").unwrap();
        take_frames(&mut conn);
        let out = feed(&mut conn, &input, input.len());
        assert_eq!(out.error, Some(expected), "{name}");
        assert!(out.sent.is_empty(), "{name}: our close is already out");
        assert_eq!(conn.state(), FAILED, "{name}");
        assert!(conn.should_shutdown_write(), "{name}");
        assert!(!conn.may_close_transport(), "{name}: waits for the EOF");
        conn.receive_eof();
        assert_eq!(conn.poll_event(), Ok(None), "{name}");
        assert!(conn.may_close_transport(), "{name}");
    }
}

#[test]
fn bytes_received_after_close_are_dropped() {
    let mut conn = server();
    feed(&mut conn, &close_from_client(1000, b""), 64);
    let buf = conn.receive_buffer(16);
    buf.copy_from_slice(&[0x81; 16]);
    conn.commit_received(16);
    conn.receive(&client_frame(true, 0x1, b"late"));
    assert_eq!(conn.poll_event(), Ok(None));
    assert_eq!(conn.output_len(), 0);
}
