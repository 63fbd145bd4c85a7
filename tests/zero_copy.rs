//! Zero-copy receive (issue 5): a payload read straight into the
//! connection's buffer is unmasked in place and handed out from that same
//! memory, as `Bytes` (binary) or `Utf8Bytes` (text), without a copy.

use rfc6455::{Config, Connection, Event, Message, Role, Utf8Bytes};

/// A masked frame (client to server) with this opcode and payload.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Reads `wire` through `receive_buffer` in one piece; returns the message
/// and the address range the payload was read into.
fn read_in_place(wire: &[u8]) -> (Message, std::ops::Range<usize>) {
    let mut server = Connection::new(Role::Server, Config::default());
    let buf = server.receive_buffer(wire.len());
    buf.copy_from_slice(wire);
    let start = buf.as_ptr() as usize;
    let range = start..start + wire.len();
    server.commit_received(wire.len());
    match server.poll_event().unwrap() {
        Some(Event::Message(message)) => (message, range),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn a_large_binary_payload_is_handed_out_from_the_read_buffer() {
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i * 7) as u8).collect();
    let wire = masked_frame(0x2, &payload);
    let (message, read_into) = read_in_place(&wire);
    assert_eq!(message.as_bytes(), &payload[..]);
    let at = message.as_bytes().as_ptr() as usize;
    // The payload starts after the 4-byte length header and the mask key.
    assert_eq!(at, read_into.start + 2 + 8 + 4, "binary payload was copied");
}

#[test]
fn a_large_text_payload_is_handed_out_from_the_read_buffer() {
    let text = "zero copy, 零拷贝 🎉 ".repeat(3000);
    let wire = masked_frame(0x1, text.as_bytes());
    let (message, read_into) = read_in_place(&wire);
    assert_eq!(message.as_text(), Some(text.as_str()));
    let at = message.as_bytes().as_ptr() as usize;
    assert!(
        read_into.contains(&at),
        "text payload was copied out of the read buffer"
    );
    // And it becomes `Bytes` without a copy either.
    let bytes = message.into_bytes();
    assert_eq!(bytes.as_ptr() as usize, at);
}

#[test]
fn a_small_payload_is_copied_out_so_it_does_not_pin_the_read_buffer() {
    let wire = masked_frame(0x1, b"small");
    let (message, read_into) = read_in_place(&wire);
    assert_eq!(message, Message::text("small"));
    let at = message.as_bytes().as_ptr() as usize;
    assert!(
        !read_into.contains(&at),
        "small payload kept the read buffer"
    );
}

#[test]
fn utf8_bytes_accepts_only_valid_utf8_and_compares_as_text() {
    let bad: &[&[u8]] = &[
        b"\xff",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"ab\xe2\x82",
        b"\xf4\x90\x80\x80",
    ];
    for bytes in bad {
        assert!(
            Utf8Bytes::try_from(bytes::Bytes::copy_from_slice(bytes)).is_err(),
            "{bytes:x?} accepted"
        );
        assert!(Utf8Bytes::try_from(bytes.to_vec()).is_err());
    }
    let good = Utf8Bytes::try_from(bytes::Bytes::from_static("κόσμε".as_bytes())).unwrap();
    assert_eq!(good, "κόσμε");
    assert_eq!("κόσμε", good);
    assert_eq!(good, String::from("κόσμε"));
    assert_eq!(good.chars().count(), 5);
    assert_eq!(format!("{good} {good:?}"), "κόσμε \"κόσμε\"");
    assert_eq!(String::from(good.clone()), "κόσμε");
    assert_eq!(Utf8Bytes::from_static("κόσμε"), good);
    assert_eq!("κόσμε".chars().collect::<Utf8Bytes>(), good);
}
