//! Control frames (RFC 6455 §5.5): pings, pongs, their size limit, and the
//! automatic pong. Autobahn|Testsuite section 2.

mod common;

use common::*;
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, Config, Connection, ProtocolError, Role, UsageError};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Deliver everything in one read.
const AT_ONCE: usize = usize::MAX;

/// The pong frame `role` must send for a ping carrying `payload`.
fn pong_from(role: Role, payload: &[u8]) -> Frame {
    Frame {
        fin: true,
        opcode: OpCode::Pong,
        masked: role == Role::Client,
        payload: payload.to_vec(),
    }
}

/// A mask source that always yields the §5.7 example key 37 fa 21 3d.
fn rfc_key(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = KEY[i % 4];
    }
}

#[test]
fn ping_is_answered_with_pong_of_same_payload() {
    // §5.5.2, §5.5.3: "a Pong frame sent in response to a Ping frame must
    // have identical Application data".
    let binary = [0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff];
    let cases: [(&str, &[u8], usize); 5] = [
        ("2.1", b"", AT_ONCE),
        ("2.2", b"Hello, world!", AT_ONCE),
        ("2.3", &binary, AT_ONCE),
        ("2.4", &[0xfe; 125], AT_ONCE),
        ("2.6", &[0xfe; 125], 1),
    ];
    for role in ROLES {
        for (case, payload, chunk) in cases {
            let out = feed(
                &mut connection(role),
                &frame_to(role, true, PING, payload),
                chunk,
            );
            assert_eq!(out.error, None, "Autobahn {case} {role:?}");
            assert_eq!(
                out.events,
                vec![ping_event(payload)],
                "Autobahn {case} {role:?}"
            );
            assert_eq!(
                out.sent,
                vec![pong_from(role, payload)],
                "Autobahn {case} {role:?}"
            );
        }
    }
}

#[test]
fn pong_is_queued_as_soon_as_the_ping_is_read() {
    for role in ROLES {
        let mut conn = connection(role);
        let ping = frame_to(role, true, PING, b"now");
        let (head, last) = ping.split_at(ping.len() - 1);
        conn.receive(head);
        assert_eq!(conn.poll_event(), Ok(None));
        assert!(
            !conn.wants_write(),
            "{role:?}: no pong before the whole ping arrived"
        );
        conn.receive(last);
        assert_eq!(conn.poll_event(), Ok(Some(ping_event(b"now"))));
        assert_eq!(
            take_frames(&mut conn),
            vec![pong_from(role, b"now")],
            "{role:?}"
        );
    }
}

#[test]
fn ping_of_126_bytes_fails_with_1002_and_is_not_answered() {
    // Autobahn 2.5; §5.5: "All control frames MUST have a payload length of 125 bytes or less".
    for role in ROLES {
        for chunk in [1, AT_ONCE] {
            let out = feed(
                &mut connection(role),
                &frame_to(role, true, PING, &[0xfe; 126]),
                chunk,
            );
            out.assert_failed_alone(ProtocolError::ControlFrameTooLong, &format!("{role:?}"));
        }
    }
}

#[test]
fn control_frame_longer_than_125_bytes_fails_with_1002() {
    // §5.5, for every control opcode and every longer length form; the
    // header alone is enough to fail.
    for role in ROLES {
        for opcode in [PING, PONG, CLOSE] {
            for len in [126, 127, 1000, 65535, 65536] {
                let frame = frame_to(role, true, opcode, &vec![b'x'; len]);
                let header_len = if len < 65536 { 4 } else { 10 };
                let out = feed(&mut connection(role), &frame[..header_len], 1);
                out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
                assert_eq!(
                    out.error,
                    Some(ProtocolError::ControlFrameTooLong),
                    "{role:?} {opcode:#x} {len}"
                );
            }
        }
    }
}

#[test]
fn unsolicited_pong_is_reported_and_not_answered() {
    // Autobahn 2.7, 2.8; §5.5.3: "A response to an unsolicited Pong frame is not expected."
    let cases: [(&str, &[u8]); 2] = [("2.7", b""), ("2.8", b"unsolicited pong payload")];
    for role in ROLES {
        for (case, payload) in cases {
            let out = feed(
                &mut connection(role),
                &frame_to(role, true, PONG, payload),
                AT_ONCE,
            );
            assert_eq!(out.error, None, "{case} {role:?}");
            assert_eq!(out.events, vec![pong_event(payload)], "{case} {role:?}");
            assert!(out.sent.is_empty(), "{case} {role:?}: {:?}", out.sent);
        }
    }
}

#[test]
fn unsolicited_pong_then_ping_answers_only_the_ping() {
    // Autobahn 2.9
    for role in ROLES {
        let input = concat(&[
            frame_to(role, true, PONG, b"unsolicited pong payload"),
            frame_to(role, true, PING, b"ping payload"),
        ]);
        let out = feed(&mut connection(role), &input, AT_ONCE);
        assert_eq!(
            out.events,
            vec![
                pong_event(b"unsolicited pong payload"),
                ping_event(b"ping payload")
            ]
        );
        assert_eq!(out.sent, vec![pong_from(role, b"ping payload")], "{role:?}");
    }
}

#[test]
fn ten_pings_in_a_row_are_all_answered_in_order() {
    // Autobahn 2.10 (at once), 2.11 (byte by byte)
    for role in ROLES {
        let payloads: Vec<String> = (0..10).map(|i| format!("payload-{i}")).collect();
        let frames: Vec<Vec<u8>> = payloads
            .iter()
            .map(|p| frame_to(role, true, PING, p.as_bytes()))
            .collect();
        for (case, chunk) in [("2.10", AT_ONCE), ("2.11", 1)] {
            let out = feed(&mut connection(role), &concat(&frames), chunk);
            let want_events: Vec<_> = payloads.iter().map(|p| ping_event(p.as_bytes())).collect();
            let want_sent: Vec<_> = payloads
                .iter()
                .map(|p| pong_from(role, p.as_bytes()))
                .collect();
            assert_eq!(out.events, want_events, "{case} {role:?}");
            assert_eq!(out.sent, want_sent, "{case} {role:?}");
        }
    }
}

#[test]
fn pings_between_messages_are_answered_in_place() {
    for role in ROLES {
        let input = concat(&[
            frame_to(role, true, TEXT, b"one"),
            frame_to(role, true, PING, b"a"),
            frame_to(role, true, TEXT, b"two"),
            frame_to(role, true, PING, b"b"),
        ]);
        let out = feed(&mut connection(role), &input, 3);
        assert_eq!(
            out.events,
            vec![
                text_event("one"),
                ping_event(b"a"),
                text_event("two"),
                ping_event(b"b")
            ]
        );
        assert_eq!(
            out.sent,
            vec![pong_from(role, b"a"), pong_from(role, b"b")],
            "{role:?}"
        );
    }
}

#[test]
fn rfc_ping_and_masked_pong_example_byte_for_byte() {
    // §5.7: an unmasked ping "Hello", and the masked pong answering it.
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    let mut server = server();
    server.ping(b"Hello").unwrap();
    assert_eq!(take_output(&mut server), ping);

    let mut client = Connection::with_mask_source(Role::Client, Config::default(), rfc_key);
    client.receive(&ping);
    assert_eq!(client.poll_event(), Ok(Some(ping_event(b"Hello"))));
    assert_eq!(take_output(&mut client), pong);

    let out = feed(&mut server, &pong, AT_ONCE);
    assert_eq!(out.events, vec![pong_event(b"Hello")]);
}

#[test]
fn with_auto_pong_off_a_ping_is_reported_and_the_caller_answers() {
    for role in ROLES {
        let mut conn = connection_with(role, Config::default().auto_pong(false));
        let out = feed(&mut conn, &frame_to(role, true, PING, b"manual"), AT_ONCE);
        assert_eq!(out.events, vec![ping_event(b"manual")]);
        assert!(
            out.sent.is_empty(),
            "{role:?}: no automatic pong: {:?}",
            out.sent
        );
        conn.pong(b"manual").unwrap();
        assert_eq!(
            take_frames(&mut conn),
            vec![pong_from(role, b"manual")],
            "{role:?}"
        );
    }
}

#[test]
fn sent_ping_and_pong_are_single_control_frames() {
    for role in ROLES {
        let mut conn = connection(role);
        conn.ping(b"hi").unwrap();
        conn.pong(b"there").unwrap();
        conn.ping(&[0xfe; 125]).unwrap();
        let frames = take_frames(&mut conn);
        let masked = role == Role::Client;
        assert_eq!(
            frames,
            vec![
                Frame {
                    fin: true,
                    opcode: OpCode::Ping,
                    masked,
                    payload: b"hi".to_vec()
                },
                Frame {
                    fin: true,
                    opcode: OpCode::Pong,
                    masked,
                    payload: b"there".to_vec()
                },
                Frame {
                    fin: true,
                    opcode: OpCode::Ping,
                    masked,
                    payload: vec![0xfe; 125]
                },
            ],
            "{role:?}"
        );
    }
    let mut server = server();
    server.ping(b"hi").unwrap();
    server.pong(b"").unwrap();
    assert_eq!(
        take_output(&mut server),
        [0x89, 0x02, b'h', b'i', 0x8a, 0x00]
    );
}

#[test]
fn sending_a_control_payload_over_125_bytes_is_a_usage_error() {
    // §5.5: control payloads are at most 125 bytes; nothing is queued.
    type Control = fn(&mut Connection, &[u8]) -> Result<(), UsageError>;
    let sends: [(&str, Control); 2] = [("ping", Connection::ping), ("pong", Connection::pong)];
    for role in ROLES {
        for (name, send) in sends {
            for len in [126, 127, 1000, 70_000] {
                let mut conn = connection(role);
                assert_eq!(
                    send(&mut conn, &vec![0; len]),
                    Err(UsageError::ControlPayloadTooLong),
                    "{role:?} {name} {len}"
                );
                assert_eq!(
                    conn.output_len(),
                    0,
                    "{role:?} {name} {len}: nothing queued"
                );
                assert_eq!(conn.state(), rfc6455::State::Open, "{role:?} {name} {len}");
            }
            let mut conn = connection(role);
            assert_eq!(
                send(&mut conn, &[0; 125]),
                Ok(()),
                "{role:?} {name}: 125 bytes is fine"
            );
        }
    }
}

#[test]
fn pong_answers_do_not_change_the_connection_state() {
    for role in ROLES {
        let mut conn = connection(role);
        feed(&mut conn, &frame_to(role, true, PING, b"x"), AT_ONCE);
        assert_eq!(conn.state(), rfc6455::State::Open);
        conn.send_text("still open").unwrap();
    }
}

#[test]
fn ping_received_after_our_close_is_still_answered() {
    // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
    // frame in response, unless it already received a Close frame." Having
    // *sent* a close only forbids data frames (§5.5.1).
    for role in ROLES {
        let mut conn = connection(role);
        conn.close(CloseCode::NORMAL, "").unwrap();
        take_frames(&mut conn);
        let out = feed(
            &mut conn,
            &frame_to(role, true, PING, b"still there?"),
            AT_ONCE,
        );
        assert_eq!(out.events, vec![ping_event(b"still there?")], "{role:?}");
        assert_eq!(out.sent, vec![pong_from(role, b"still there?")], "{role:?}");
    }
}
