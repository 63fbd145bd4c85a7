//! Base framing (RFC 6455 §5.1–§5.3, §5.7): length forms, masking by role,
//! reserved bits and opcodes, and what a connection puts on the wire.
//! Autobahn|Testsuite sections 1, 3 and 4.

mod common;

use common::*;
use rfc6455::frame::FrameHeader;
use rfc6455::{CloseCode, Config, Connection, Event, Message, ProtocolError, Role, UsageError};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// Opcodes (wire values).
const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The payload lengths around the three length forms (§5.2), with the read
/// size they are delivered in (`None`: all at once).
const LENGTHS: [(&str, &str, usize, Option<usize>); 8] = [
    ("1.1.1", "1.2.1", 0, None),
    ("1.1.2", "1.2.2", 125, None),
    ("1.1.3", "1.2.3", 126, None),
    ("1.1.4", "1.2.4", 127, None),
    ("1.1.5", "1.2.5", 128, None),
    ("1.1.6", "1.2.6", 65535, None),
    ("1.1.7", "1.2.7", 65536, None),
    ("1.1.8", "1.2.8", 65536, Some(997)),
];

/// A mask source that always yields the §5.7 example key 37 fa 21 3d.
fn rfc_key(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = KEY[i % 4];
    }
}

fn feed_all(conn: &mut Connection, input: &[u8], chunk: Option<usize>) -> Outcome {
    feed(conn, input, chunk.unwrap_or(input.len()))
}

// ---- Autobahn 1: text and binary messages of every length form ------------

// Autobahn 1.1.1–1.1.8
#[test]
fn text_message_of_any_length_form_arrives_whole() {
    for role in ROLES {
        for (case, _, len, chunk) in LENGTHS {
            let text = "*".repeat(len);
            let out = feed_all(
                &mut connection(role),
                &frame_to(role, true, TEXT, text.as_bytes()),
                chunk,
            );
            assert_eq!(out.error, None, "{case} {role:?}");
            assert_eq!(out.events, vec![text_event(&text)], "{case} {role:?}");
            assert!(out.sent.is_empty(), "{case} {role:?}: nothing to answer");
        }
    }
}

// Autobahn 1.2.1–1.2.8
#[test]
fn binary_message_of_any_length_form_arrives_whole() {
    for role in ROLES {
        for (_, case, len, chunk) in LENGTHS {
            let data = vec![0xfe; len];
            let out = feed_all(
                &mut connection(role),
                &frame_to(role, true, BINARY, &data),
                chunk,
            );
            assert_eq!(out.error, None, "{case} {role:?}");
            assert_eq!(out.events, vec![binary_event(&data)], "{case} {role:?}");
            assert!(out.sent.is_empty(), "{case} {role:?}: nothing to answer");
        }
    }
}

#[test]
fn message_arrives_whole_whatever_the_read_sizes() {
    let text: String = "ab€🦀".repeat(5000);
    for role in ROLES {
        let input = frame_to(role, true, TEXT, text.as_bytes());
        for chunk in [1, 2, 3, 5, 7, 13, 64, 997, 4096] {
            let out = feed(&mut connection(role), &input, chunk);
            assert_eq!(out.error, None, "{role:?} chunk {chunk}");
            assert_eq!(
                out.events,
                vec![text_event(&text)],
                "{role:?} chunk {chunk}"
            );
        }
    }
}

#[test]
fn several_frames_in_one_read_give_their_events_in_order() {
    for role in ROLES {
        let input = concat(&[
            frame_to(role, true, TEXT, b"one"),
            frame_to(role, true, BINARY, &[2; 300]),
            frame_to(role, true, TEXT, b""),
            frame_to(role, true, BINARY, &[4; 70_000]),
        ]);
        let out = feed(&mut connection(role), &input, input.len());
        assert_eq!(
            out.events,
            vec![
                text_event("one"),
                binary_event(&[2; 300]),
                text_event(""),
                binary_event(&[4; 70_000])
            ],
            "{role:?}"
        );
    }
}

#[test]
fn bytes_read_into_the_receive_buffer_give_the_same_events() {
    let input = concat(&[
        client_frame(true, TEXT, b"Hello"),
        client_frame(true, BINARY, &[7; 1000]),
    ]);
    let mut server = server();
    let mut events = Vec::new();
    for piece in input.chunks(100) {
        let buf = server.receive_buffer(256);
        buf[..piece.len()].copy_from_slice(piece);
        server.commit_received(piece.len());
        while let Some(event) = server.poll_event().unwrap() {
            events.push(event);
        }
    }
    assert_eq!(events, vec![text_event("Hello"), binary_event(&[7; 1000])]);
}

// ---- §5.2: length encodings -------------------------------------------------

/// How the payload length is written.
#[derive(Debug, Clone, Copy)]
enum LenForm {
    /// In the 7-bit field.
    Short,
    /// 126 and a 16-bit length.
    Ext16,
    /// 127 and a 64-bit length.
    Ext64,
}

/// A frame for `receiver` whose length is written in `form`, minimal or not.
fn frame_with_len_form(receiver: Role, opcode: u8, form: LenForm, payload: &[u8]) -> Vec<u8> {
    let mask = (receiver == Role::Server).then_some(KEY);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![0x80 | opcode];
    match form {
        LenForm::Short => out.push(mask_bit | payload.len() as u8),
        LenForm::Ext16 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        LenForm::Ext64 => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
    }
    let start = out.len() + 4 * usize::from(mask.is_some());
    out.extend_from_slice(mask.as_ref().map_or(&[][..], |k| &k[..]));
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        rfc6455::frame::apply_mask_scalar(&mut out[start..], key, 0);
    }
    out
}

#[test]
fn minimal_length_forms_are_accepted() {
    for role in ROLES {
        for (form, len) in [
            (LenForm::Short, 0),
            (LenForm::Short, 125),
            (LenForm::Ext16, 126),
            (LenForm::Ext16, 65535),
            (LenForm::Ext64, 65536),
        ] {
            let data = vec![9; len];
            let out = feed(
                &mut connection(role),
                &frame_with_len_form(role, BINARY, form, &data),
                1000,
            );
            assert_eq!(out.error, None, "{role:?} {form:?} {len}");
            assert_eq!(
                out.events,
                vec![binary_event(&data)],
                "{role:?} {form:?} {len}"
            );
        }
    }
}

#[test]
fn non_minimal_length_encoding_fails_with_1002() {
    // §5.2: "the minimal number of bytes MUST be used to encode the length".
    let cases = [
        (LenForm::Ext16, 0),
        (LenForm::Ext16, 5),
        (LenForm::Ext16, 125),
        (LenForm::Ext64, 0),
        (LenForm::Ext64, 125),
        (LenForm::Ext64, 126),
        (LenForm::Ext64, 65535),
    ];
    for role in ROLES {
        for (form, len) in cases {
            for opcode in [TEXT, BINARY] {
                let input = frame_with_len_form(role, opcode, form, &vec![b'x'; len]);
                let out = feed(&mut connection(role), &input, input.len());
                out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
                assert_eq!(
                    out.error,
                    Some(ProtocolError::NonMinimalLength),
                    "{role:?} {form:?} {len}"
                );
                assert!(out.events.is_empty(), "{role:?} {form:?} {len}");
            }
        }
    }
}

#[test]
fn non_minimal_length_fails_as_soon_as_the_length_is_read() {
    // The header alone is enough: no payload needs to arrive.
    let mut server = server();
    let out = feed(&mut server, &[0x82, 0x80 | 126, 0x00, 0x05], 1);
    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
}

#[test]
fn length_with_the_top_bit_set_fails_with_1002() {
    // §5.2: "the most significant bit MUST be 0".
    for role in ROLES {
        for len in [1u64 << 63, u64::MAX, (1 << 63) | 5] {
            let mask_bit = if role == Role::Server { 0x80 } else { 0 };
            let mut input = vec![0x82, mask_bit | 127];
            input.extend_from_slice(&len.to_be_bytes());
            if role == Role::Server {
                input.extend_from_slice(&KEY);
            }
            for chunk in [1, input.len()] {
                let out = feed(&mut connection(role), &input, chunk);
                out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
                assert_eq!(
                    out.error,
                    Some(ProtocolError::InvalidLength),
                    "{role:?} {len:#x}"
                );
            }
        }
    }
}

// ---- what a connection sends ------------------------------------------------

/// The header a frame of `len` bytes must have, without mask bit or key.
fn minimal_header(b0: u8, len: usize) -> Vec<u8> {
    match len {
        0..=125 => vec![b0, len as u8],
        126..=0xFFFF => concat(&[&[b0, 126][..], &(len as u16).to_be_bytes()]),
        _ => concat(&[&[b0, 127][..], &(len as u64).to_be_bytes()]),
    }
}

#[test]
fn sent_headers_use_the_minimal_length_form() {
    // §5.2: 125 → 7-bit, 126 → 16-bit, 65536 → 64-bit.
    for len in [0, 1, 125, 126, 127, 128, 65535, 65536, 100_000] {
        let data = vec![0xab; len];
        let mut server = server();
        server.send_binary(&data).unwrap();
        let want = minimal_header(0x82, len);
        let wire = take_output(&mut server);
        assert_eq!(&wire[..want.len()], &want[..], "server, {len} bytes");
        assert_eq!(&wire[want.len()..], &data[..], "server, {len} bytes");

        let mut client = client();
        client.send_binary(&data).unwrap();
        let mut want = minimal_header(0x82, len);
        want[1] |= 0x80;
        let wire = take_output(&mut client);
        assert_eq!(&wire[..want.len()], &want[..], "client, {len} bytes");
        assert_eq!(wire.len(), want.len() + 4 + len, "client, {len} bytes");
        let frames = parse_frames(&wire);
        assert_eq!(frames[0].payload, data, "client, {len} bytes");
    }
}

#[test]
fn sent_text_headers_use_the_minimal_length_form() {
    for len in [0, 125, 126, 65535, 65536] {
        let text = "t".repeat(len);
        let mut server = server();
        server.send_text(&text).unwrap();
        let want = minimal_header(0x81, len);
        let wire = take_output(&mut server);
        assert_eq!(&wire[..want.len()], &want[..], "{len} bytes");
        assert_eq!(wire.len(), want.len() + len, "{len} bytes");
    }
}

#[test]
fn server_sends_every_frame_unmasked() {
    // §5.1: "A server MUST NOT mask any frames that it sends to the client."
    let mut server = server();
    server.send_text("text").unwrap();
    server.send_binary(&[1, 2, 3]).unwrap();
    server.send_text_fragment("frag", false).unwrap();
    server.ping(b"ping").unwrap();
    server.send_text_fragment("ment", true).unwrap();
    server.pong(b"pong").unwrap();
    server.close(CloseCode::NORMAL, "bye").unwrap();
    let wire = take_output(&mut server);
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 7);
    for frame in &frames {
        assert!(!frame.masked, "{frame:?}");
    }
    // Unmasked: the payload is on the wire as it is.
    assert_eq!(&wire[..6], &[0x81, 0x04, b't', b'e', b'x', b't']);
}

/// Everything `conn` has queued (every chunk), copied and left queued.
fn queued(conn: &mut Connection) -> Vec<u8> {
    conn.output().chunks().flatten().copied().collect()
}

/// The masking keys of the frames in `bytes`, in order.
fn mask_keys(mut bytes: &[u8]) -> Vec<Option<[u8; 4]>> {
    let mut keys = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = FrameHeader::decode(bytes).unwrap().unwrap();
        keys.push(h.mask);
        bytes = &bytes[n + h.payload_len as usize..];
    }
    keys
}

#[test]
fn client_masks_every_frame_with_a_fresh_key() {
    // §5.3: every client frame is masked with a new key from the key source.
    let mut client = client();
    client.send_text("text").unwrap();
    client.send_binary(&[1, 2, 3]).unwrap();
    client.send_text_fragment("frag", false).unwrap();
    client.ping(b"ping").unwrap();
    client.send_text_fragment("ment", true).unwrap();
    client.pong(b"pong").unwrap();
    client.close(CloseCode::NORMAL, "bye").unwrap();
    let wire = take_output(&mut client);
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 7);
    assert!(frames.iter().all(|f| f.masked), "{frames:?}");
    let keys: Vec<[u8; 4]> = mask_keys(&wire).into_iter().map(Option::unwrap).collect();
    // The first key is the first four bytes of the key source.
    let mut pool = [0u8; 32];
    fixed_keys(&mut pool);
    assert_eq!(keys[0], pool[..4]);
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b, "keys repeat: {keys:?}");
        }
    }
    // Masked: the payload on the wire is the text XOR the key.
    let want: Vec<u8> = b"text"
        .iter()
        .zip(keys[0].iter().cycle())
        .map(|(b, k)| b ^ k)
        .collect();
    assert_eq!(&wire[6..10], &want[..]);
}

#[test]
fn client_fetches_keys_from_its_source_again_when_the_pool_runs_out() {
    let mut client = client();
    for _ in 0..20 {
        client.send_binary(b"x").unwrap();
    }
    let wire = take_output(&mut client);
    let keys = mask_keys(&wire);
    assert_eq!(keys.len(), 20);
    assert!(keys.iter().all(Option::is_some));
    // Every frame still decodes to its payload.
    assert!(parse_frames(&wire).iter().all(|f| f.payload == b"x"));
}

// ---- §5.7 examples, byte for byte --------------------------------------------

const RFC_UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const RFC_MASKED_HELLO: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

#[test]
fn rfc_unmasked_hello_is_sent_and_received_byte_for_byte() {
    let mut server = server();
    server.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut server), RFC_UNMASKED_HELLO);

    let out = feed(&mut client(), &RFC_UNMASKED_HELLO, RFC_UNMASKED_HELLO.len());
    assert_eq!(out.events, vec![text_event("Hello")]);
}

#[test]
fn rfc_masked_hello_is_sent_and_received_byte_for_byte() {
    let mut client = Connection::with_mask_source(Role::Client, Config::default(), rfc_key);
    client.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut client), RFC_MASKED_HELLO);

    for chunk in [1, RFC_MASKED_HELLO.len()] {
        let out = feed(&mut server(), &RFC_MASKED_HELLO, chunk);
        assert_eq!(out.events, vec![text_event("Hello")], "chunk {chunk}");
    }
}

#[test]
fn rfc_256_byte_binary_header_is_sent_and_received() {
    let data: Vec<u8> = (0..=255).collect();
    let mut server = server();
    server.send_binary(&data).unwrap();
    let wire = take_output(&mut server);
    assert_eq!(&wire[..4], &[0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(wire.len(), 4 + 256);

    let input = concat(&[&[0x82, 0x7E, 0x01, 0x00][..], &data]);
    let out = feed(&mut client(), &input, input.len());
    assert_eq!(out.events, vec![binary_event(&data)]);
}

#[test]
fn rfc_64k_binary_header_is_sent_and_received() {
    let header = [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    let data: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    let mut server = server();
    server.send_binary(&data).unwrap();
    let wire = take_output(&mut server);
    assert_eq!(&wire[..10], &header);
    assert_eq!(wire.len(), 10 + 65536);

    let input = concat(&[&header[..], &data]);
    let out = feed(&mut client(), &input, 4096);
    assert_eq!(out.events, vec![binary_event(&data)]);
}

// ---- §5.1: masking by role -----------------------------------------------------

#[test]
fn server_fails_an_unmasked_frame_with_1002() {
    // §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
    for opcode in [TEXT, BINARY, CONT, PING, PONG, CLOSE] {
        let out = server_gets(&server_frame(true, opcode, b""));
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert_eq!(
            out.error,
            Some(ProtocolError::UnmaskedFrame),
            "opcode {opcode}"
        );
        assert!(out.events.is_empty(), "opcode {opcode}");
    }
}

#[test]
fn client_fails_a_masked_frame_with_1002() {
    // §5.1: "A client MUST close a connection if it detects a masked frame."
    for opcode in [TEXT, BINARY, CONT, PING, PONG, CLOSE] {
        let out = feed(&mut client(), &client_frame(true, opcode, b""), 100);
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert_eq!(
            out.error,
            Some(ProtocolError::MaskedFrame),
            "opcode {opcode}"
        );
        assert!(out.events.is_empty(), "opcode {opcode}");
        // The client's own close frame is masked, as always.
        assert!(out.sent[0].masked);
    }
}

#[test]
fn frame_masked_the_wrong_way_mid_message_fails_with_1002() {
    for role in ROLES {
        let input = concat(&[
            frame_to(role, false, TEXT, b"Hel"),
            misfit_frame_to(role, true, CONT, b"lo"),
        ]);
        let out = feed(&mut connection(role), &input, input.len());
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert!(out.events.is_empty(), "{role:?}");
    }
}

#[test]
fn valid_messages_before_a_wrongly_masked_frame_are_delivered() {
    for role in ROLES {
        let input = concat(&[
            frame_to(role, true, TEXT, b"first"),
            misfit_frame_to(role, true, TEXT, b"second"),
        ]);
        let out = feed(&mut connection(role), &input, input.len());
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert_eq!(out.events, vec![text_event("first")], "{role:?}");
    }
}

// ---- Autobahn 3: reserved bits ----------------------------------------------------

#[test]
fn rsv_bits_without_extension_fail_with_1002() {
    // Autobahn 3.1 (text, RSV1), 3.5 (binary, RSV 5), 3.6 (ping, RSV 6), 3.7 (close, RSV 7);
    // §5.2: "MUST be 0 unless an extension is negotiated that defines meanings".
    for role in ROLES {
        for rsv in 1..=7 {
            for opcode in [TEXT, BINARY, PING, PONG, CLOSE] {
                let mask = (role == Role::Server).then_some(KEY);
                let input = raw_frame(true, rsv, opcode, mask, b"Hello, world!");
                let out = feed(&mut connection(role), &input, input.len());
                out.assert_failed_alone(
                    ProtocolError::ReservedBits,
                    &format!("{role:?} rsv {rsv} opcode {opcode}"),
                );
            }
        }
    }
}

#[test]
fn rsv1_without_extension_fails_with_1002() {
    // Autobahn 3.1
    let out = server_gets(&raw_frame(true, 0b100, TEXT, Some(KEY), b"Hello, world!"));
    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
    assert_eq!(out.error, Some(ProtocolError::ReservedBits));
}

#[test]
fn rsv_bits_on_a_continuation_fail_with_1002() {
    for role in ROLES {
        let mask = (role == Role::Server).then_some(KEY);
        let input = concat(&[
            frame_to(role, false, TEXT, b"Hel"),
            raw_frame(true, 0b001, CONT, mask, b"lo"),
        ]);
        let out = feed(&mut connection(role), &input, input.len());
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert_eq!(out.error, Some(ProtocolError::ReservedBits));
        assert!(out.events.is_empty());
    }
}

#[test]
fn rsv_bits_after_a_valid_message_fail_after_delivering_it() {
    // Autobahn 3.2 (RSV 2), 3.3 (RSV 3, frame by frame), 3.4 (RSV 4, byte by byte):
    // the message before is delivered, the ping after is never answered.
    let cases = [
        ("3.2", 2, Delivery::AtOnce),
        ("3.3", 3, Delivery::FrameByFrame),
        ("3.4", 4, Delivery::ByteByByte),
    ];
    for role in ROLES {
        let mask = (role == Role::Server).then_some(KEY);
        for (case, rsv, how) in cases {
            let frames = [
                frame_to(role, true, TEXT, b"Hello, world!"),
                raw_frame(true, rsv, TEXT, mask, b"Hello, world!"),
                frame_to(role, true, PING, b""),
            ];
            let out = deliver(&mut connection(role), &frames, how);
            out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
            assert_eq!(
                out.error,
                Some(ProtocolError::ReservedBits),
                "{case} {role:?}"
            );
            assert_eq!(
                out.events,
                vec![text_event("Hello, world!")],
                "{case} {role:?}"
            );
            assert_eq!(
                out.sent.len(),
                1,
                "{case} {role:?}: no pong, only the close: {:?}",
                out.sent
            );
        }
    }
}

// ---- Autobahn 4: reserved opcodes ----------------------------------------------------

const RESERVED_OPCODES: [u8; 10] = [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF];

#[test]
fn reserved_opcode_fails_with_1002() {
    // Autobahn 4.1.1 (opcode 3), 4.1.2 (opcode 4, with payload), 4.2.1 (opcode 11),
    // 4.2.2 (opcode 12, with payload); §5.2: reserved opcodes fail the connection.
    for role in ROLES {
        for opcode in RESERVED_OPCODES {
            for payload in [&b""[..], b"reserved opcode payload"] {
                for fin in [true, false] {
                    let input = raw_frame(
                        fin,
                        0,
                        opcode,
                        (role == Role::Server).then_some(KEY),
                        payload,
                    );
                    let out = feed(&mut connection(role), &input, input.len());
                    out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
                    assert_eq!(
                        out.error,
                        Some(ProtocolError::ReservedOpcode(opcode)),
                        "{role:?} {opcode:#x}"
                    );
                    assert!(out.events.is_empty());
                }
            }
        }
    }
}

#[test]
fn reserved_opcode_after_a_valid_message_fails_after_delivering_it() {
    // Autobahn 4.1.3–4.1.5, 4.2.3–4.2.5: a text message, a reserved opcode
    // frame, a ping; the text is delivered, the ping is not answered.
    let cases: [(&str, u8, &[u8]); 6] = [
        ("4.1.3", 5, b""),
        ("4.1.4", 6, b"reserved opcode payload"),
        ("4.1.5", 7, b"reserved opcode payload"),
        ("4.2.3", 13, b""),
        ("4.2.4", 14, b"reserved opcode payload"),
        ("4.2.5", 15, b"reserved opcode payload"),
    ];
    for role in ROLES {
        for (case, opcode, payload) in cases {
            let input = concat(&[
                frame_to(role, true, TEXT, b"Hello, world!"),
                frame_to(role, true, opcode, payload),
                frame_to(role, true, PING, b""),
            ]);
            for chunk in [1, input.len()] {
                let out = feed(&mut connection(role), &input, chunk);
                out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
                assert_eq!(
                    out.events,
                    vec![text_event("Hello, world!")],
                    "{case} {role:?}"
                );
                assert_eq!(out.sent.len(), 1, "{case}: no pong: {:?}", out.sent);
            }
        }
    }
}

#[test]
fn reserved_opcode_inside_a_fragmented_message_fails_with_1002() {
    for role in ROLES {
        for opcode in RESERVED_OPCODES {
            let input = concat(&[
                frame_to(role, false, TEXT, b"Hel"),
                frame_to(role, true, opcode, b""),
                frame_to(role, true, CONT, b"lo"),
            ]);
            let out = feed(&mut connection(role), &input, input.len());
            out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
            assert!(out.events.is_empty());
        }
    }
}

// ---- after a failure ----------------------------------------------------------------

#[test]
fn after_a_protocol_error_nothing_more_is_read() {
    for role in ROLES {
        let mut conn = connection(role);
        let out = feed(
            &mut conn,
            &raw_frame(true, 1, TEXT, (role == Role::Server).then_some(KEY), b"x"),
            100,
        );
        out.assert_failed_with(CloseCode::PROTOCOL_ERROR);
        assert!(matches!(
            conn.state(),
            rfc6455::State::Closed { clean: false, .. }
        ));
        let more = concat(&[
            frame_to(role, true, TEXT, b"more"),
            frame_to(role, true, PING, b"p"),
        ]);
        let out = feed(&mut conn, &more, 1);
        assert_eq!(out.error, None);
        assert!(out.events.is_empty());
        assert!(
            out.sent.is_empty(),
            "nothing queued after the failure: {:?}",
            out.sent
        );
    }
}

// ---- usage errors: sending after close ---------------------------------------------

type Send = fn(&mut Connection) -> Result<(), UsageError>;

const SENDS: [(&str, Send); 8] = [
    ("send_text", |c| c.send_text("x")),
    ("send_binary", |c| c.send_binary(b"x")),
    ("send", |c| c.send(&Message::Binary(bytes_of(b"x")))),
    ("send_text_fragment", |c| c.send_text_fragment("x", false)),
    ("send_binary_fragment", |c| {
        c.send_binary_fragment(b"x", true)
    }),
    ("ping", |c| c.ping(b"x")),
    ("pong", |c| c.pong(b"x")),
    ("close", |c| c.close(CloseCode::NORMAL, "")),
];

#[test]
fn sending_after_close_is_usage_error_closed() {
    // §5.5.1: no data frames after the close frame.
    type Closer = fn(&mut Connection);
    let closers: [(&str, Closer); 3] = [
        ("we closed", |c| c.close(CloseCode::NORMAL, "").unwrap()),
        ("the peer closed", |c| {
            let role = c.role();
            let out = feed(
                c,
                &frame_to(role, true, CLOSE, &close_payload(1000, b"")),
                100,
            );
            assert!(matches!(out.events[..], [Event::Close(_)]));
        }),
        ("the peer broke the protocol", |c| {
            let role = c.role();
            let out = feed(c, &frame_to(role, true, 0x3, b""), 100);
            assert!(out.error.is_some());
        }),
    ];
    for role in ROLES {
        for (how, close) in closers {
            for (name, send) in SENDS {
                if how == "we closed" && name == "pong" {
                    // §5.5.1 forbids only data frames after our close; a
                    // pong may still answer a ping (§5.5.2, see control.rs).
                    continue;
                }
                let mut conn = connection(role);
                close(&mut conn);
                let before = queued(&mut conn);
                assert_eq!(
                    send(&mut conn),
                    Err(UsageError::Closed),
                    "{role:?}, {how}: {name}"
                );
                assert_eq!(
                    queued(&mut conn),
                    before,
                    "{role:?}, {how}: {name} queued nothing"
                );
            }
        }
    }
}

#[test]
fn sending_after_close_with_a_fragmented_message_open_is_usage_error_closed() {
    let mut server = server();
    server.send_text_fragment("Hel", false).unwrap();
    server.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        server.send_text_fragment("lo", true),
        Err(UsageError::Closed)
    );
}
