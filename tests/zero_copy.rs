//! Zero-copy receive (issue 5): a payload read straight into the
//! connection's buffer is unmasked in place and handed out from that same
//! memory, as `Bytes` (binary) or `Utf8Bytes` (text), without a copy.

mod common;

use bytes::Buf;
use rfc6455::{Config, Connection, Event, Message, Role, Utf8Bytes};

/// A masked frame (client to server) with this opcode and payload.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    common::client_frame(true, opcode, payload)
}

/// Reads `wire` through `receive_buffer` in one piece; returns the message
/// and the address range the payload was read into. The input bound is
/// raised to the frame's size so that one read takes it all.
fn read_in_place(wire: &[u8]) -> (Message, std::ops::Range<usize>) {
    let config = Config::default().input_high_water(wire.len());
    let mut server = Connection::new(Role::Server, config);
    let buf = server.receive_buffer(wire.len());
    assert_eq!(buf.len(), wire.len(), "one read takes the whole frame");
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
fn a_large_payload_read_in_bounded_pieces_is_handed_out_from_the_read_buffer() {
    // With the default input bound (64 KiB beyond the frame being decoded)
    // a frame of 64 KiB + 14 bytes takes two lends of the receive buffer;
    // the payload is still split off the read buffer, not copied out: it
    // ends exactly where the last read into the buffer ended.
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i * 11) as u8).collect();
    let wire = masked_frame(0x2, &payload);
    let mut server = Connection::new(Role::Server, Config::default());
    let mut rest = &wire[..];
    let mut last_end: usize;
    let mut lends = 0;
    let message = loop {
        assert!(server.wants_read(), "the rest of the frame is wanted");
        let buf = server.receive_buffer(rest.len());
        assert!(!buf.is_empty());
        let n = buf.len();
        buf.copy_from_slice(&rest[..n]);
        last_end = buf.as_ptr() as usize + n;
        server.commit_received(n);
        rest = &rest[n..];
        lends += 1;
        if let Some(event) = server.poll_event().unwrap() {
            match event {
                Event::Message(message) => break message,
                other => panic!("expected a message, got {other:?}"),
            }
        }
        assert!(!rest.is_empty(), "the whole frame is in, without a message");
    };
    assert!(rest.is_empty());
    assert!(lends >= 2, "the input bound split the read ({lends} lends)");
    assert_eq!(message.as_bytes(), &payload[..]);
    let end = message.as_bytes().as_ptr() as usize + payload.len();
    assert_eq!(end, last_end, "binary payload was copied");
}

/// Reads `wire` the way the tokio driver does: owned buffers from
/// `lend_receive_buffer`, `read_len(read_size)` bytes at a time (or fewer
/// when `short` says the socket had less), events polled only when
/// `read_len` says 0. Returns the messages and every address range a read
/// filled.
fn read_owned(
    wire: &[u8],
    read_size: usize,
    short: impl Fn(usize) -> usize,
) -> (Vec<Message>, Vec<std::ops::Range<usize>>) {
    let mut server = Connection::new(Role::Server, Config::default());
    let (mut rest, mut messages, mut reads) = (wire, Vec::new(), Vec::new());
    while !rest.is_empty() {
        let len = server.read_len(read_size);
        if len == 0 {
            // A frame complete, or no room until its header is decoded.
            match server.poll_event().unwrap() {
                Some(Event::Message(message)) => messages.push(message),
                None => assert!(server.read_len(read_size) > 0, "no progress"),
                other => panic!("expected a message, got {other:?}"),
            }
            continue;
        }
        let n = short(reads.len()).min(len).min(rest.len());
        let mut buf = server.lend_receive_buffer(len);
        assert!(buf.capacity() >= len, "room for the {len} bytes asked");
        buf.extend_from_slice(&rest[..n]);
        let at = buf.as_ptr() as usize;
        reads.push(at..at + n);
        assert_eq!(server.receive_owned(buf), n);
        rest = &rest[n..];
    }
    while let Some(event) = server.poll_event().unwrap() {
        match event {
            Event::Message(message) => messages.push(message),
            other => panic!("expected a message, got {other:?}"),
        }
    }
    (messages, reads)
}

#[test]
fn read_len_stops_at_the_end_of_a_large_frame_so_each_lands_in_one_allocation() {
    // Three 64 KiB frames back to back (64 KiB + 14 bytes each), read in
    // 64 KiB reads: read_len cuts the second read of each frame at its
    // end, and the next frame's first read starts a new allocation. Every
    // payload is then contiguous with the reads of its own frame: no copy.
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i * 13) as u8).collect();
    let frame = masked_frame(0x2, &payload);
    let wire: Vec<u8> = frame.iter().chain(&frame).chain(&frame).copied().collect();
    for (name, short) in [
        ("full reads", &(|_| usize::MAX) as &dyn Fn(usize) -> usize),
        ("a socket that has 10,000 bytes at a time", &|_| 10_000),
        ("uneven reads", &|i| [70_000, 3, 65_536, 14, 1][i % 5]),
    ] {
        let (messages, reads) = read_owned(&wire, 64 * 1024, short);
        assert_eq!(messages.len(), 3, "{name}");
        for message in &messages {
            assert_eq!(message.as_bytes(), &payload[..], "{name}");
            // The payload ends where some read ended, and starts inside the
            // frame's first read: the frame was read in place, not moved.
            let start = message.as_bytes().as_ptr() as usize;
            let end = start + payload.len();
            assert!(
                reads.iter().any(|r| r.end == end),
                "{name}: the payload was copied after it was read"
            );
            assert!(
                reads.iter().any(|r| r.start <= start && start <= r.end),
                "{name}: the payload does not start where it was read"
            );
        }
    }
}

#[test]
fn read_len_is_the_read_size_for_small_frames_and_bounded_by_the_input_room() {
    let mut server = Connection::new(Role::Server, Config::default());
    assert_eq!(server.read_len(4096), 4096);
    // Small frames (under 8 KiB) do not cut reads: several arrive in one.
    let small = masked_frame(0x2, &[7; 1000]);
    assert_eq!(server.receive(&small[..500]), 500);
    assert_eq!(server.read_len(4096), 4096);
    // The input room bounds it (64 KiB beyond the frame being decoded).
    assert_eq!(server.read_len(1 << 20), server.input_room());
    assert!(server.input_room() < 1 << 20);
    // A large frame's header in: no further than its end.
    let mut server = Connection::new(Role::Server, Config::default());
    let large = masked_frame(0x2, &[7; 20_000]);
    assert_eq!(server.receive(&large[..100]), 100);
    assert_eq!(server.read_len(64 * 1024), large.len() - 100);
    assert_eq!(server.read_len(50), 50);
    // Complete: 0 until its event is taken.
    assert_eq!(server.receive(&large[100..]), large.len() - 100);
    assert_eq!(server.read_len(64 * 1024), 0);
    assert!(matches!(server.poll_event(), Ok(Some(Event::Message(_)))));
    assert_eq!(server.read_len(64 * 1024), 64 * 1024);
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

/// Everything pending, drained in pieces of `step` bytes through the
/// output's `chunks` and `advance`.
fn drain_in_steps(conn: &mut Connection, step: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.output_len() > 0 {
        let before = conn.output_len();
        let mut piece = Vec::new();
        for chunk in conn.output().chunks() {
            assert!(!chunk.is_empty(), "empty chunk");
            piece.extend_from_slice(chunk);
        }
        assert_eq!(piece.len(), before, "output_len disagrees with the chunks");
        let n = step.min(piece.len());
        out.extend_from_slice(&piece[..n]);
        conn.output().advance(n);
        assert_eq!(conn.output_len(), before - n);
    }
    assert!(conn.output().chunk().is_empty());
    assert!(!conn.wants_write());
    out
}

#[test]
fn a_large_message_is_sent_without_a_copy_as_its_own_chunk() {
    let payload: Vec<u8> = (0..64 * 1024).map(|i| (i * 13) as u8).collect();
    let (message, _) = read_in_place(&masked_frame(0x2, &payload));
    let mut server = Connection::new(Role::Server, Config::default());
    server.send(&message).unwrap();
    assert_eq!(server.output_len(), 10 + payload.len());
    let out: &rfc6455::Output = server.output();
    let chunks: Vec<&[u8]> = out.chunks().collect();
    assert_eq!(chunks.len(), 2, "header and payload");
    assert_eq!(chunks[0], &[0x82, 126 + 1, 0, 0, 0, 0, 0, 1, 0, 0][..]);
    assert_eq!(
        chunks[1].as_ptr(),
        message.as_bytes().as_ptr(),
        "the payload was copied"
    );
    assert_eq!(out.chunk(), chunks[0], "Buf::chunk is the first chunk");
    assert_eq!(out.remaining(), 10 + payload.len());
}

#[test]
fn chunked_output_drains_the_same_bytes_at_any_write_size() {
    let big = vec![0xab; 20 * 1024];
    let text = "é".repeat(5000);
    for step in [1, 7, 10, 4096, 10 * 1024, 20 * 1024 + 9, usize::MAX] {
        // Interleave copied frames and shared payloads.
        let mut server = Connection::new(Role::Server, Config::default());
        server.ping(b"p").unwrap();
        server.send(&Message::binary(big.clone())).unwrap();
        server.send_text("small").unwrap();
        server.send(&Message::text(text.clone())).unwrap();
        server.send(&Message::binary(vec![1, 2, 3])).unwrap();
        let wire = drain_in_steps(&mut server, step);

        let mut client = Connection::new(Role::Client, Config::default());
        assert_eq!(client.receive(&wire), wire.len(), "under the input bound");
        let mut events = Vec::new();
        while let Some(event) = client.poll_event().unwrap() {
            events.push(event);
        }
        assert_eq!(
            events,
            vec![
                Event::Ping(bytes::Bytes::from_static(b"p")),
                Event::Message(Message::binary(big.clone())),
                Event::Message(Message::text("small")),
                Event::Message(Message::text(text.clone())),
                Event::Message(Message::binary(vec![1, 2, 3])),
            ],
            "write size {step}"
        );
    }
}

#[test]
fn a_client_masks_large_payloads_correctly_across_its_copy_blocks() {
    // Payload lengths around the 4 KiB blocks the client copies and masks in.
    for len in [4095, 4096, 4097, 8191, 8192, 8193, 3 * 4096 + 3, 65_537] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
        let mut client = Connection::new(Role::Client, Config::default());
        client.send(&Message::binary(payload.clone())).unwrap();
        // Clients never share: the payload is masked, so it is copied.
        assert_eq!(client.output().chunks().count(), 1);
        let mut server = Connection::new(Role::Server, Config::default());
        // 65 537 bytes exceed one `receive`: offered until taken.
        let out = common::feed(&mut server, &common::take_output(&mut client), usize::MAX);
        assert_eq!(out.error, None, "length {len}");
        assert_eq!(
            out.events,
            vec![Event::Message(Message::binary(payload))],
            "length {len}"
        );
    }
}

/// A stream that takes at most `max` bytes per call, across the slices of
/// a vectored write, and records how it was called.
struct Trickle {
    written: Vec<u8>,
    max: usize,
    vectored_calls: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl std::io::Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.max);
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.vectored_calls += 1;
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(self.max - n);
            self.written.extend_from_slice(&buf[..take]);
            n += take;
            if n == self.max {
                break;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_blocking_adapter_writes_shared_payloads_with_partial_vectored_writes() {
    use rfc6455::blocking::{NoTimeouts, WebSocket};
    let payload: Vec<u8> = (0..40_000).map(|i| (i % 251) as u8).collect();
    for max in [1, 9, 11, 1000, 40_010, 1 << 20] {
        let stream = NoTimeouts(Trickle {
            written: Vec::new(),
            max,
            vectored_calls: 0,
        });
        let conn = Connection::new(Role::Server, Config::default());
        let mut ws = WebSocket::from_connection(stream, conn);
        ws.send(&Message::binary(payload.clone())).unwrap();
        ws.send_text("after").unwrap();
        assert!(ws.get_ref().0.vectored_calls > 0, "no vectored write");

        let mut client = Connection::new(Role::Client, Config::default());
        let written = &ws.get_ref().0.written;
        assert_eq!(
            client.receive(written),
            written.len(),
            "under the input bound"
        );
        assert_eq!(
            client.poll_event().unwrap(),
            Some(Event::Message(Message::binary(payload.clone()))),
            "max {max}"
        );
        assert_eq!(
            client.poll_event().unwrap(),
            Some(Event::Message(Message::text("after")))
        );
    }
}

#[test]
fn a_connection_stays_small() {
    let size = std::mem::size_of::<Connection>();
    println!("size_of::<Connection>() = {size} bytes");
    // README states the figure; a client's masking keys and any deflate
    // state are boxed, so a server pays a pointer for each. The bound was
    // 320 before the core kept its own timers (issue 11): `Config` grew by
    // the keepalive, close, write and message timeouts, the two high-water
    // marks, the frame limit and the budget (152 bytes in all), and the
    // timer state, the loss and the budget charge are inline, so a
    // connection is 616 bytes with `deflate`. The read buffer's reusable
    // bulk store (a box, for a blocking read: `keep_read_buffer`) and the
    // size its allocation reached took it to 648 (README states it).
    assert!(size <= 648, "Connection grew to {size} bytes");
}
