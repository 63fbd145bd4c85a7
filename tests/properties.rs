//! Property tests: the frame codec round-trips, messages survive any
//! fragmentation and any read sizes, arbitrary input never panics or grows
//! memory without bound, and the fast mask equals the reference.

mod common;

use bytes::Buf;
use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use rfc6455::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask, apply_mask_scalar};
use rfc6455::{Config, Connection, Event, Message, ProtocolError, Role, State};

const CASES: u32 = 256;

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

// ---- (1) frame headers ---------------------------------------------------------------

fn opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

/// Payload lengths from every length form, with their edges.
fn payload_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=125,
        126u64..=0xFFFF,
        0x1_0000u64..(1 << 63),
        prop::sample::select(vec![
            0,
            125,
            126,
            127,
            0xFFFF,
            0x1_0000,
            (1 << 32) - 1,
            1 << 32,
            (1 << 63) - 1
        ]),
    ]
}

/// Any header a peer may legally send apart from RSV and masking, which
/// depend on the connection: control frames are final and at most 125 bytes.
fn header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<bool>(),
        0u8..8,
        opcode(),
        any::<Option<[u8; 4]>>(),
        payload_len(),
    )
        .prop_map(|(fin, rsv, opcode, mask, len)| {
            let control = opcode.is_control();
            FrameHeader {
                fin: fin || control,
                rsv,
                opcode,
                mask,
                payload_len: if control { len % 126 } else { len },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_header_encodes_then_decodes_to_itself(
        h in header(),
        trailing in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        prop_assert_eq!(n, h.encoded_len());
        // Minimal length form (§5.2).
        let (marker, ext) = match h.payload_len {
            0..=125 => (h.payload_len as u8, 0),
            126..=0xFFFF => (126, 2),
            _ => (127, 8),
        };
        prop_assert_eq!(out[1] & 0x7F, marker);
        prop_assert_eq!(n, 2 + ext + if h.mask.is_some() { 4 } else { 0 });
        prop_assert_eq!(out[1] & 0x80 != 0, h.mask.is_some());
        // Decodes to itself, with or without payload bytes after it ...
        prop_assert_eq!(FrameHeader::decode(&out[..n]), Ok(Some((h, n))));
        let mut longer = out[..n].to_vec();
        longer.extend_from_slice(&trailing);
        prop_assert_eq!(FrameHeader::decode(&longer), Ok(Some((h, n))));
        // ... and no strict prefix is a header yet.
        for cut in 0..n {
            prop_assert_eq!(FrameHeader::decode(&out[..cut]), Ok(None), "cut at {}", cut);
        }
    }

    #[test]
    fn any_decoded_header_re_encodes_to_the_same_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        // Decoding accepts only the canonical (minimal) encoding, so what it
        // accepts encodes back to exactly the bytes it read.
        if let Ok(Some((h, n))) = FrameHeader::decode(&bytes) {
            let mut out = [0u8; MAX_HEADER_LEN];
            prop_assert_eq!(h.encode(&mut out), n);
            prop_assert_eq!(&out[..n], &bytes[..n]);
        }
    }
}

// ---- (2) messages survive any fragmentation and read sizes ---------------------------

/// A message and where its fragments are cut, with a ping before some fragments.
#[derive(Debug, Clone)]
struct Spec {
    message: Message,
    /// Byte offsets of the cuts (sorted; on character boundaries for text);
    /// equal cuts make empty fragments. No cuts: sent whole with `send`.
    cuts: Vec<usize>,
    /// `pings[i]`: a ping before fragment `i + 1`.
    pings: Vec<bool>,
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..750)
            .prop_map(|cs| Message::Text(cs.into_iter().collect())),
        prop::collection::vec(any::<u8>(), 0..3000).prop_map(|b| Message::Binary(b.into())),
        // Short ASCII and short binary, so that many messages fit in one case.
        "[a-z]{0,10}".prop_map(Message::text),
        prop::collection::vec(any::<u8>(), 0..10).prop_map(|b| Message::Binary(b.into())),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        message(),
        prop::collection::vec((any::<Index>(), any::<bool>()), 0..8),
    )
        .prop_map(|(message, raw)| {
            let bytes = message.as_bytes();
            let mut cuts: Vec<usize> = raw
                .iter()
                .map(|(at, _)| {
                    let mut cut = at.index(bytes.len() + 1);
                    if let Message::Text(text) = &message {
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                    }
                    cut
                })
                .collect();
            cuts.sort_unstable();
            let pings = raw.iter().map(|(_, ping)| *ping).collect();
            Spec {
                message,
                cuts,
                pings,
            }
        })
}

/// Read sizes, used in turn.
fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![1usize..8, 1usize..300, Just(1), Just(4096)],
        1..6,
    )
}

/// Queues `specs` on `sender`; returns the events the peer must see.
fn send_all(sender: &mut Connection, specs: &[Spec]) -> Vec<Event> {
    let mut expected = Vec::new();
    for (m, spec) in specs.iter().enumerate() {
        if spec.cuts.is_empty() {
            sender.send(&spec.message).unwrap();
            expected.push(Event::Message(spec.message.clone()));
            continue;
        }
        let bytes = spec.message.as_bytes();
        let bounds: Vec<usize> = std::iter::once(0)
            .chain(spec.cuts.iter().copied())
            .chain([bytes.len()])
            .collect();
        for (i, window) in bounds.windows(2).enumerate() {
            if i > 0 && spec.pings[i - 1] {
                let payload = format!("{m}-{i}");
                sender.ping(payload.as_bytes()).unwrap();
                expected.push(ping_event(payload.as_bytes()));
            }
            let fin = i == bounds.len() - 2;
            match &spec.message {
                Message::Text(text) => sender.send_text_fragment(&text[window[0]..window[1]], fin),
                Message::Binary(data) => {
                    sender.send_binary_fragment(&data[window[0]..window[1]], fin)
                }
            }
            .unwrap();
        }
        expected.push(Event::Message(spec.message.clone()));
    }
    expected
}

/// Moves everything `from` has queued to `to`, in reads of `chunks` bytes
/// (cycled), and returns the events `to` saw.
fn transfer(from: &mut Connection, to: &mut Connection, chunks: &[usize]) -> Vec<Event> {
    let bytes = take_output(from);
    let out = feed_chunks(to, &bytes, chunks);
    assert_eq!(out.error, None, "no protocol error between our own ends");
    // Put back what `to` queued in answer (pongs), for the way back.
    let mut answer = Vec::new();
    for frame in &out.sent {
        assert_eq!(
            frame.opcode,
            OpCode::Pong,
            "only pongs are queued in answer"
        );
        answer.push(frame.payload.clone());
    }
    for payload in answer {
        to.pong(&payload).unwrap();
    }
    out.events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_messages_in_any_fragments_and_reads_arrive_unchanged(
        specs in prop::collection::vec(spec(), 0..6),
        chunks in chunks(),
        back_chunks in chunks(),
        client_sends in any::<bool>(),
    ) {
        let mut pair = Pair::new();
        let (sender, receiver) = if client_sends {
            (&mut pair.client, &mut pair.server)
        } else {
            (&mut pair.server, &mut pair.client)
        };
        let expected = send_all(sender, &specs);
        // Every frame the sender queued is masked exactly when it is a client.
        let queued: Vec<u8> = sender.output().chunks().flatten().copied().collect();
        prop_assert!(parse_frames(&queued).iter().all(|f| f.masked == client_sends));
        let got = transfer(sender, receiver, &chunks);
        prop_assert_eq!(&got, &expected);
        // The pongs come back in the order of the pings.
        let pongs = transfer(receiver, sender, &back_chunks);
        let pings: Vec<Event> = expected
            .iter()
            .filter_map(|e| match e {
                Event::Ping(p) => Some(Event::Pong(p.clone())),
                _ => None,
            })
            .collect();
        prop_assert_eq!(pongs, pings);
        prop_assert_eq!(pair.client.state(), State::Open);
        prop_assert_eq!(pair.server.state(), State::Open);
    }
}

// ---- (3) arbitrary input: no panic, one error, bounded memory --------------------------

const MAX_FRAME: usize = 1024;
const MAX_MESSAGE: usize = 4096;

fn small_limits() -> Config {
    Config::default()
        .max_frame_size(MAX_FRAME)
        .max_message_size(MAX_MESSAGE)
}

/// A piece of a peer's byte stream: mostly valid traffic, sometimes broken.
#[derive(Debug, Clone)]
enum Piece {
    /// A whole text (valid UTF-8) or binary message in one frame.
    Message(u8, Vec<u8>),
    /// A message in fragments, with a ping after the first one.
    Fragmented(u8, Vec<Vec<u8>>, bool),
    /// A ping or pong.
    Control(u8, Vec<u8>),
    /// A close frame with a valid code.
    Close,
    /// A frame with every field random (RSV, opcode, FIN, masking).
    RawFrame(bool, u8, u8, bool, Vec<u8>),
    /// Bytes that are not a frame at all.
    Garbage(Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let data = || {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(any::<u8>(), 0..1500)
        ]
    };
    let text = || "\\PC{0,60}".prop_map(String::into_bytes);
    prop_oneof![
        10 => text().prop_map(|t| Piece::Message(0x1, t)),
        10 => data().prop_map(|d| Piece::Message(0x2, d)),
        4 => (
            prop::sample::select(vec![0x1u8, 0x2]),
            prop::collection::vec(text(), 2..5),
            any::<bool>(),
        )
            .prop_map(|(op, parts, ping)| Piece::Fragmented(op, parts, ping)),
        6 => (prop::sample::select(vec![0x9u8, 0xA]), prop::collection::vec(any::<u8>(), 0..=125))
            .prop_map(|(op, p)| Piece::Control(op, p)),
        1 => Just(Piece::Close),
        2 => (
            any::<bool>(),
            0u8..8,
            0u8..16,
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(fin, rsv, op, mask, p)| Piece::RawFrame(fin, rsv, op, mask, p)),
        1 => prop::collection::vec(any::<u8>(), 0..20).prop_map(Piece::Garbage),
    ]
}

/// A peer's byte stream towards a connection in role `towards`: mostly
/// valid frames (so the input gets past the first header), with broken
/// frames and corrupted bytes mixed in.
fn frame_soup(towards: Role) -> impl Strategy<Value = Vec<u8>> {
    let corruptions = prop_oneof![
        3 => Just(vec![]),
        1 => prop::collection::vec((any::<Index>(), any::<u8>()), 1..3),
    ];
    (prop::collection::vec(piece(), 0..24), corruptions).prop_map(move |(pieces, corruptions)| {
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Message(op, p) | Piece::Control(op, p) => {
                    out.extend(frame_to(towards, true, op, &p))
                }
                Piece::Fragmented(op, parts, ping) => {
                    for (i, part) in parts.iter().enumerate() {
                        let opcode = if i == 0 { op } else { 0x0 };
                        out.extend(frame_to(towards, i == parts.len() - 1, opcode, part));
                        if i == 0 && ping {
                            out.extend(frame_to(towards, true, 0x9, b"between"));
                        }
                    }
                }
                Piece::Close => {
                    out.extend(frame_to(towards, true, 0x8, &close_payload(1000, b"bye")))
                }
                Piece::RawFrame(fin, rsv, op, masked, p) => {
                    out.extend(raw_frame(fin, rsv, op, masked.then_some(KEY), &p))
                }
                Piece::Garbage(bytes) => out.extend(bytes),
            }
        }
        if !out.is_empty() {
            for (at, byte) in corruptions {
                let i = at.index(out.len());
                out[i] = byte;
            }
        }
        out
    })
}

/// A role and input for a connection in that role.
fn role_and_input() -> impl Strategy<Value = (Role, Vec<u8>)> {
    role().prop_flat_map(|role| {
        let input =
            prop_oneof![1 => prop::collection::vec(any::<u8>(), 0..4096), 4 => frame_soup(role)];
        (Just(role), input)
    })
}

/// Feeds `input` to `conn` in reads of `chunks` (cycled), draining events and
/// output after every read as the call order says, and checks that the
/// connection stays within its limits and fails at most once, cleanly.
fn check_bounded(
    conn: &mut Connection,
    input: &[u8],
    chunks: &[usize],
) -> Result<(), TestCaseError> {
    let role = conn.role();
    let mut error: Option<ProtocolError> = None;
    let mut closed = false;
    let mut events = 0usize;
    let mut sizes = chunks.iter().copied().map(|c| c.max(1)).cycle();
    let mut rest = input;
    while !rest.is_empty() {
        let n = sizes.next().unwrap().min(rest.len());
        let (read, tail) = rest.split_at(n);
        rest = tail;
        // `receive` takes what fits (the input bound); the rest is offered
        // again after draining, as a driver does. A closed connection stops
        // taking input at all once it has discarded enough: the rest of the
        // read is dropped.
        let mut piece = read;
        loop {
            let taken = conn.receive(piece);
            prop_assert!(taken <= piece.len());
            piece = &piece[taken..];
            let ended_before = error.is_some() || closed;
            let mut failed_now = None;
            loop {
                match conn.poll_event() {
                    Ok(Some(event)) => {
                        prop_assert!(
                            error.is_none() && !closed,
                            "event {:?} after the end",
                            event
                        );
                        events += 1;
                        match &event {
                            Event::Message(m) => prop_assert!(m.len() <= MAX_MESSAGE),
                            Event::Ping(p) | Event::Pong(p) => prop_assert!(p.len() <= 125),
                            Event::Close(_) => closed = true,
                            Event::Lost(lost) => {
                                prop_assert!(false, "lost {:?} without EOF or timers", lost)
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        prop_assert!(error.is_none(), "a second error {:?} after {:?}", e, error);
                        prop_assert!(!closed, "an error {:?} after the close", e);
                        let failed = matches!(conn.state(), State::Closed { clean: false, .. });
                        prop_assert!(failed, "state after an error: {:?}", conn.state());
                        error = Some(e);
                        failed_now = Some(e);
                    }
                }
            }
            // What was queued: pongs for pings completed by these bytes, and
            // at most one close frame, last. Bounded by what was taken.
            let pending = conn.output_len();
            prop_assert!(
                pending <= 3 * (taken + MAX_HEADER_LEN + 125) + 131,
                "{} bytes pending after taking {} bytes",
                pending,
                taken
            );
            let frames = take_frames(conn);
            prop_assert!(frames.iter().all(|f| f.masked == (role == Role::Client)));
            for (i, frame) in frames.iter().enumerate() {
                match frame.opcode {
                    OpCode::Pong => prop_assert!(frame.payload.len() <= 125),
                    OpCode::Close => prop_assert_eq!(
                        i,
                        frames.len() - 1,
                        "the close frame is the last: {:?}",
                        &frames
                    ),
                    other => prop_assert!(false, "queued a {:?} frame by itself", other),
                }
            }
            if ended_before {
                prop_assert!(frames.is_empty(), "queued {:?} after the end", &frames);
            }
            if let Some(e) = failed_now {
                // The error's close frame is queued, with its code.
                let close = frames.last().filter(|f| f.opcode == OpCode::Close);
                prop_assert!(close.is_some(), "no close frame for {:?}: {:?}", e, &frames);
                let payload = &close.unwrap().payload;
                prop_assert_eq!(
                    u16::from_be_bytes([payload[0], payload[1]]),
                    e.close_code().0
                );
            }
            if piece.is_empty() {
                break;
            }
            if taken == 0 && !conn.wants_read() {
                // Only a closed connection refuses input with nothing to
                // poll and nothing queued.
                prop_assert!(
                    error.is_some() || closed,
                    "input refused while open: {:?}",
                    conn.state()
                );
                break;
            }
        }
    }
    // A frame takes at least two bytes, so events cannot outnumber them.
    prop_assert!(events <= input.len() / 2 + 1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_input_never_panics_and_fails_at_most_once(
        (role, input) in role_and_input(),
        chunks in chunks(),
    ) {
        let mut conn = connection_with(role, small_limits());
        check_bounded(&mut conn, &input, &chunks)?;
        // After the end, input is ignored.
        if !matches!(conn.state(), State::Open) {
            let out = feed(&mut conn, &input, 7);
            prop_assert!(out.events.is_empty() && out.error.is_none() && out.sent.is_empty());
        }
    }

    #[test]
    fn arbitrary_input_with_default_limits_never_panics(
        (role, input) in role_and_input(),
        chunks in chunks(),
    ) {
        let mut conn = connection(role);
        let mut errors = 0;
        let mut rest = &input[..];
        for n in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (mut piece, tail) = rest.split_at((*n).min(rest.len()));
            rest = tail;
            // What `receive` does not take is offered again after
            // draining; a closed connection may refuse the rest.
            loop {
                let taken = conn.receive(piece);
                piece = &piece[taken..];
                loop {
                    match conn.poll_event() {
                        Ok(Some(_)) => prop_assert_eq!(errors, 0),
                        Ok(None) => break,
                        Err(_) => errors += 1,
                    }
                }
                take_frames(&mut conn);
                if piece.is_empty() || (taken == 0 && !conn.wants_read()) {
                    break;
                }
            }
        }
        prop_assert!(errors <= 1);
    }
}

/// A small deterministic generator, so the megabyte tests need no seed files.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn megabytes_of_input_keep_everything_bounded() {
    const TOTAL: usize = 4 << 20;
    for role in [Role::Server, Role::Client] {
        // Endless pings; endless small messages of both kinds with pings
        // between fragments; random bytes; random frame soup.
        let mut streams: Vec<(&str, Vec<u8>)> = Vec::new();
        let ping = frame_to(role, true, 0x9, &[0xab; 125]);
        streams.push(("pings", ping.repeat(TOTAL / ping.len())));
        let mut chatter = concat(&[
            frame_to(role, false, 0x1, "héllo ".repeat(50).as_bytes()),
            frame_to(role, true, 0x9, b"keepalive"),
            frame_to(role, true, 0x0, b"world"),
            frame_to(role, true, 0x2, &[7; 1000]),
            frame_to(role, true, 0xA, b"beat"),
        ]);
        chatter = chatter.repeat(TOTAL / chatter.len());
        streams.push(("messages", chatter));
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        streams.push(("random", (0..TOTAL).map(|_| rng.next() as u8).collect()));

        for (name, stream) in &streams {
            for chunk in [1 << 16, 4093] {
                let mut conn = connection_with(role, small_limits());
                check_bounded(&mut conn, stream, &[chunk])
                    .unwrap_or_else(|e| panic!("{role:?} {name} in reads of {chunk}: {e}"));
                if *name != "random" {
                    assert_eq!(
                        conn.state(),
                        State::Open,
                        "{role:?} {name}: valid input within the limits"
                    );
                }
            }
        }
    }
}

#[test]
fn endless_fragmented_message_fails_at_the_message_limit_and_then_reads_nothing() {
    for role in [Role::Server, Role::Client] {
        let mut conn = connection_with(role, small_limits());
        let mut input = frame_to(role, false, 0x2, &[1; 1000]);
        let first_len = input.len();
        let more = frame_to(role, false, 0x0, &[2; 1000]);
        input.extend(more.repeat(4000));
        let mut failed_at = None;
        for (i, piece) in input.chunks(4096).enumerate() {
            conn.receive(piece);
            loop {
                match conn.poll_event() {
                    Ok(None) => break,
                    Ok(Some(event)) => panic!("no message is ever complete: {event:?}"),
                    Err(e) => {
                        assert_eq!(e.close_code(), rfc6455::CloseCode::MESSAGE_TOO_BIG);
                        assert!(failed_at.is_none(), "a second error: {e:?}");
                        failed_at = Some(i);
                    }
                }
            }
            let pending = conn.output_len();
            assert!(pending <= 8 + 4, "{pending} bytes queued");
            take_frames(&mut conn);
        }
        // The fragment that takes the message past 4 KiB is the fifth: the
        // connection fails as soon as its header is in, and reads no more.
        let header_len = more.len() - 1000;
        let crossing_header_end = first_len + 3 * more.len() + header_len;
        assert_eq!(
            failed_at,
            Some((crossing_header_end - 1) / 4096),
            "{role:?}"
        );
    }
}

// ---- (4) masking ------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn fast_mask_equals_the_reference(
        data in prop::collection::vec(any::<u8>(), 0..1100),
        key in any::<[u8; 4]>(),
        offset in prop_oneof![0usize..64, 0usize..(1 << 40)],
        start in 0usize..16,
    ) {
        // `start` moves the slice off any alignment the allocation had.
        let start = start.min(data.len());
        let mut fast = data.clone();
        let mut slow = data.clone();
        apply_mask(&mut fast[start..], key, offset);
        apply_mask_scalar(&mut slow[start..], key, offset);
        prop_assert_eq!(&fast, &slow);
        prop_assert_eq!(&fast[..start], &data[..start]);
        // Masking is its own inverse.
        apply_mask(&mut fast[start..], key, offset);
        prop_assert_eq!(&fast, &data);
    }

    #[test]
    fn masking_piece_by_piece_equals_masking_whole(
        data in prop::collection::vec(any::<u8>(), 0..600),
        key in any::<[u8; 4]>(),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = data.clone();
        let mut from = 0;
        for to in cuts.into_iter().chain([data.len()]) {
            apply_mask(&mut pieces[from..to], key, from);
            from = to;
        }
        prop_assert_eq!(pieces, whole);
    }
}

// ---- (5) output queue -------------------------------------------------------------------

#[derive(Debug, Clone)]
enum OutOp {
    /// Queue a message of this many bytes (binary, or text of ASCII).
    Send { len: usize, text: bool },
    /// The transport takes this many bytes (at most what is pending), in one
    /// vectored write over the output's chunks.
    Write(usize),
}

fn out_op() -> impl Strategy<Value = OutOp> {
    prop_oneof![
        // Small (copied), and at least 8 KiB (a server shares it).
        (0usize..300, any::<bool>()).prop_map(|(len, text)| OutOp::Send { len, text }),
        (8 * 1024usize..20 * 1024, any::<bool>()).prop_map(|(len, text)| OutOp::Send { len, text }),
        (0usize..30_000).prop_map(OutOp::Write),
        (0usize..40).prop_map(OutOp::Write),
    ]
}

/// Takes up to `n` bytes from the front of `conn`'s output, the way a
/// vectored write would: across chunks, checking them on the way.
fn write_some(conn: &mut Connection, n: usize, wire: &mut Vec<u8>) {
    let mut taken = 0;
    let mut total = 0;
    let len = conn.output_len();
    let out: &mut rfc6455::Output = conn.output();
    let chunks: Vec<&[u8]> = out.chunks().collect();
    for chunk in &chunks {
        assert!(!chunk.is_empty(), "empty chunk");
        total += chunk.len();
        let take = (n - taken).min(chunk.len());
        wire.extend_from_slice(&chunk[..take]);
        taken += take;
    }
    assert_eq!(total, len, "output_len disagrees with the chunks");
    assert_eq!(
        out.remaining(),
        len,
        "Buf::remaining disagrees with output_len"
    );
    let first = chunks.first().copied().unwrap_or(&[]);
    assert_eq!(out.chunk(), first, "Buf::chunk is the first chunk");
    // A vectored write sees the same chunks, in order.
    let mut slices = [std::io::IoSlice::new(&[]); 16];
    let count = out.chunks_vectored(&mut slices);
    assert_eq!(count, chunks.len().min(slices.len()));
    for (slice, chunk) in slices[..count].iter().zip(&chunks) {
        assert_eq!(&slice[..], *chunk);
    }
    out.advance(taken);
    assert_eq!(conn.output_len(), total - taken);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Messages queued while earlier output is partly written (the queue
    /// compacts, shares large payloads, mixes chunks) arrive whole and in
    /// order, in both roles.
    #[test]
    fn output_written_in_any_pieces_between_sends_keeps_every_message(
        role in role(),
        ops in prop::collection::vec(out_op(), 1..40),
    ) {
        let mut sender = Connection::new(role, Config::default());
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match *op {
                OutOp::Send { len, text } => {
                    let fill = b'a' + (i % 26) as u8;
                    let message = if text {
                        Message::text(String::from_utf8(vec![fill; len]).unwrap())
                    } else {
                        Message::binary(vec![fill; len])
                    };
                    sender.send(&message).unwrap();
                    sent.push(Event::Message(message));
                }
                OutOp::Write(n) => write_some(&mut sender, n, &mut wire),
            }
        }
        write_some(&mut sender, usize::MAX, &mut wire);
        prop_assert_eq!(sender.output_len(), 0);
        let peer_role = match role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut receiver = Connection::new(peer_role, Config::default());
        // The wire may exceed what one `receive` takes: offered until taken.
        let got = feed(&mut receiver, &wire, wire.len());
        prop_assert_eq!(got.error, None);
        prop_assert_eq!(got.events, sent);
    }
}
