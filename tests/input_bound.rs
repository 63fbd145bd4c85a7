//! Bounded input (issue 11): a loop that reads until `WouldBlock` before it
//! polls cannot grow the read buffer without bound. `receive` takes at most
//! `input_room()` bytes (`Config::input_high_water` beyond the frame being
//! decoded) and says how many; the rest is the caller's to offer again after
//! `poll_event`. Before this bound, 10,000 `receive` calls without a
//! `poll_event` grew the read buffer by 16 MB even with a 1 KiB frame limit.
//! The same bound holds for the lent buffers (`receive_buffer`,
//! `lend_receive_buffer`), and nothing offered and refused is lost.

mod common;

use common::client_frame;
use rfc6455::{Config, Connection, Event, Message, Role};

/// One masked binary frame of 1,000 payload bytes, numbered in its first
/// four: 1,008 bytes on the wire (§5.2: two header bytes, a 16-bit length,
/// a 4-byte masking key, the payload).
fn kib_frame(seq: u32) -> Vec<u8> {
    let mut payload = vec![0u8; 1000];
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    client_frame(true, 0x2, &payload)
}

fn seq_of(event: &Event) -> u32 {
    match event {
        Event::Message(Message::Binary(data)) => {
            u32::from_be_bytes([data[0], data[1], data[2], data[3]])
        }
        other => panic!("expected a binary message, got {other:?}"),
    }
}

#[test]
fn ten_thousand_receives_without_polling_take_at_most_the_high_water_mark() {
    let config = Config::default().max_frame_size(1024).keepalive(None);
    let high_water = config.input_high_water;
    let mut server = Connection::new(Role::Server, config);
    let wire: Vec<Vec<u8>> = (0..10_000).map(kib_frame).collect();
    let mut taken_total = 0;
    // Each call offers one whole frame and keeps what was refused, as a
    // careless loop reading into a fresh buffer each time would not.
    let mut refused = Vec::new();
    for frame in &wire {
        let taken = server.receive(frame);
        taken_total += taken;
        if taken < frame.len() {
            refused.push((frame.as_slice(), taken));
        }
    }
    assert!(
        taken_total <= high_water,
        "{taken_total} bytes taken without a poll, mark {high_water}"
    );
    assert!(
        taken_total >= high_water - 1008,
        "the room is used: {taken_total} of {high_water}"
    );
    assert!(!server.wants_read(), "full: poll events first");
    assert_eq!(server.input_room(), 0);
    assert_eq!(server.receive(&wire[0]), 0, "nothing more is taken");
    // Polling frees the room again; every frame taken is delivered whole
    // and in order.
    let mut next = 0;
    while let Some(event) = server.poll_event().expect("valid frames") {
        assert_eq!(seq_of(&event), next);
        next += 1;
    }
    assert!(next > 0);
    assert!(server.wants_read(), "room again after polling");
    // Offering the refused bytes again, from where each call stopped,
    // delivers the rest: the bound drops nothing.
    for (frame, mut at) in refused {
        while at < frame.len() {
            let taken = server.receive(&frame[at..]);
            at += taken;
            while let Some(event) = server.poll_event().expect("valid frames") {
                assert_eq!(seq_of(&event), next);
                next += 1;
            }
            assert!(taken > 0 || at == frame.len(), "room after polling");
        }
    }
    assert_eq!(next, 10_000, "every message arrives once");
}

#[test]
fn a_large_frame_is_taken_whole_plus_at_most_the_mark() {
    // While a frame's header is decoded, its payload has room besides the
    // mark (the frame is buffered whole before it is handed on, §5.2).
    let config = Config::default().keepalive(None);
    let high_water = config.input_high_water;
    let mut server = Connection::new(Role::Server, config);
    let frame = client_frame(true, 0x2, &vec![7u8; 1 << 20]);
    let after = kib_frame(1).repeat(200);
    let mut wire = frame.clone();
    wire.extend_from_slice(&after);
    let mut at = server.receive(&wire);
    assert!(at <= high_water, "before its header is decoded: the mark");
    assert_eq!(server.poll_event(), Ok(None), "the frame is not complete");
    // The header is known now: its whole payload fits, plus the mark.
    at += server.receive(&wire[at..]);
    assert!(
        at <= frame.len() + high_water,
        "{at} bytes taken, bound {} (the frame plus the mark)",
        frame.len() + high_water
    );
    assert!(at >= frame.len(), "the whole frame fits");
    assert_eq!(server.receive(&wire[at..]), 0);
    match server.poll_event().expect("a valid frame") {
        Some(Event::Message(message)) => assert_eq!(message.len(), 1 << 20),
        other => panic!("expected the large message, got {other:?}"),
    }
}

#[test]
fn lent_buffers_are_bounded_by_the_same_room() {
    let config = Config::default().max_frame_size(1024).keepalive(None);
    let high_water = config.input_high_water;
    let mut server = Connection::new(Role::Server, config);
    let wire: Vec<u8> = (0..200).flat_map(kib_frame).collect();
    // A borrowed buffer: never longer than the room, whatever is asked.
    let lent = server.receive_buffer(1 << 20);
    assert_eq!(lent.len(), high_water);
    lent.copy_from_slice(&wire[..high_water]);
    server.commit_received(high_water);
    assert!(!server.wants_read());
    assert!(server.receive_buffer(1 << 20).is_empty(), "no room left");
    server.commit_received(0);
    // An owned buffer (for an async read that must not borrow the
    // connection): lent with room for at most the input room.
    let mut delivered = 0;
    while let Some(event) = server.poll_event().expect("valid frames") {
        assert_eq!(seq_of(&event), delivered);
        delivered += 1;
    }
    // A frame is in progress now (its header arrived): its payload has
    // room besides the mark.
    let room = server.input_room();
    assert!(room > 0 && room <= high_water + 1008, "room {room}");
    let mut owned = server.lend_receive_buffer(1 << 20);
    assert!(owned.is_empty());
    let rest = &wire[high_water..];
    let n = room.min(rest.len());
    owned.extend_from_slice(&rest[..n]);
    assert_eq!(server.receive_owned(owned), n);
    assert_eq!(server.input_room(), room - n);
    while let Some(event) = server.poll_event().expect("valid frames") {
        assert_eq!(seq_of(&event), delivered);
        delivered += 1;
    }
    assert_eq!(delivered, ((high_water + n) / 1008) as u32);
}
