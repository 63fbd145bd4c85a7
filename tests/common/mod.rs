//! Shared helpers for the integration tests: frame builders, a driver that
//! feeds bytes and collects events, a parser for what a connection sent,
//! and an in-memory client↔server [`Pair`].
#![allow(dead_code)]

use std::time::Duration;

use rfc6455::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask_scalar};
use rfc6455::{CloseCode, Config, Connection, Event, ProtocolError, Role};

/// The masking key the test frames use.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A deterministic "random" source for client masking keys.
pub fn fixed_keys(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
}

/// A raw frame with every header field under the test's control. `opcode`
/// is the 4-bit wire value so reserved opcodes can be built too.
pub fn raw_frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + MAX_HEADER_LEN);
    out.push((u8::from(fin) << 7) | (rsv << 4) | (opcode & 0xF));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let start = out.len() + mask.map_or(0, |_| 4);
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask_scalar(&mut out[start..], key, 0);
    }
    out
}

/// A frame as a client sends it (masked).
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, Some(KEY), payload)
}

/// A frame as a server sends it (unmasked).
pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(fin, 0, opcode, None, payload)
}

/// A close payload: code then reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A server connection with the default config.
pub fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

/// A server connection with the given config.
pub fn server_with(config: Config) -> Connection {
    Connection::new(Role::Server, config)
}

/// A client connection with deterministic masking keys.
pub fn client() -> Connection {
    Connection::with_mask_source(Role::Client, Config::default(), fixed_keys)
}

/// What a connection made of some input.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The events, in order.
    pub events: Vec<Event>,
    /// The protocol error, if the connection failed.
    pub error: Option<ProtocolError>,
    /// The frames the connection queued in response (pongs, close replies).
    pub sent: Vec<Frame>,
}

impl Outcome {
    /// The code of the close frame the connection sent, if any.
    pub fn sent_close_code(&self) -> Option<u16> {
        self.sent
            .iter()
            .find(|f| f.opcode == OpCode::Close)
            .and_then(|f| {
                (f.payload.len() >= 2).then(|| u16::from_be_bytes([f.payload[0], f.payload[1]]))
            })
    }

    /// Asserts the connection failed with exactly `error`, handed out no
    /// event, and sent nothing but its close frame with the error's code
    /// (no pong to the offending frame). `context` names the case.
    #[track_caller]
    pub fn assert_failed_alone(&self, error: ProtocolError, context: &str) {
        self.assert_failed_with(error.close_code());
        assert_eq!(self.error, Some(error), "{context}");
        assert!(
            self.events.is_empty(),
            "{context}: events {:?}",
            self.events
        );
        assert_eq!(
            self.sent.len(),
            1,
            "{context}: only the close frame: {:?}",
            self.sent
        );
    }

    /// Asserts the connection failed with `code` and sent a close frame with it.
    #[track_caller]
    pub fn assert_failed_with(&self, code: CloseCode) {
        let err = self
            .error
            .unwrap_or_else(|| panic!("expected failure with {code}, got {self:?}"));
        assert_eq!(err.close_code(), code, "error {err:?}");
        assert_eq!(
            self.sent_close_code(),
            Some(code.0),
            "close frame sent: {:?}",
            self.sent
        );
    }
}

/// Hands `piece` to `conn` as a driver does: what `receive` does not take
/// is offered again after draining the events, until all of it is taken or
/// the connection takes no more (it closed, or output is over its
/// high-water mark: then the rest is dropped, as a transport left unread).
/// Returns whether an error appeared.
pub fn offer(conn: &mut Connection, mut piece: &[u8], out: &mut Outcome) -> bool {
    let mut failed = false;
    loop {
        let taken = conn.receive(piece);
        piece = &piece[taken..];
        let before = (out.events.len(), failed);
        loop {
            match conn.poll_event() {
                Ok(Some(event)) => out.events.push(event),
                Ok(None) => break,
                Err(e) => {
                    assert!(
                        out.error.is_none(),
                        "a second error after {:?}: {e:?}",
                        out.error
                    );
                    out.error = Some(e);
                    failed = true;
                }
            }
        }
        let progressed = taken > 0 || (out.events.len(), failed) != before;
        if piece.is_empty() || !progressed {
            return failed;
        }
    }
}

/// Feeds `input` to `conn` in chunks of `chunk` bytes, draining events after
/// each chunk, then takes what the connection queued.
pub fn feed(conn: &mut Connection, input: &[u8], chunk: usize) -> Outcome {
    let mut out = Outcome::default();
    for piece in input.chunks(chunk.max(1)) {
        offer(conn, piece, &mut out);
    }
    out.sent = take_frames(conn);
    out
}

/// Feeds all of `input` at once to a fresh server.
pub fn server_gets(input: &[u8]) -> Outcome {
    feed(&mut server(), input, input.len().max(1))
}

/// A frame parsed back from bytes a connection sent (unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: OpCode,
    pub masked: bool,
    pub payload: Vec<u8>,
}

/// Parses the frames in `bytes`, unmasking them; panics on trailing garbage.
pub fn parse_frames(mut bytes: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = FrameHeader::decode(bytes)
            .expect("valid frame")
            .expect("whole header");
        let len = h.payload_len as usize;
        let mut payload = bytes[n..n + len].to_vec();
        if let Some(key) = h.mask {
            apply_mask_scalar(&mut payload, key, 0);
        }
        frames.push(Frame {
            fin: h.fin,
            opcode: h.opcode,
            masked: h.mask.is_some(),
            payload,
        });
        bytes = &bytes[n + len..];
    }
    frames
}

/// Takes everything `conn` has queued, as bytes.
pub fn take_output(conn: &mut Connection) -> Vec<u8> {
    conn.output().take_all()
}

/// Takes and parses everything `conn` has queued: every chunk of its
/// output, not only the first.
pub fn take_frames(conn: &mut Connection) -> Vec<Frame> {
    parse_frames(&take_output(conn))
}

/// A client and a server connected in memory, with a simulated clock: time
/// moves only when a test says so, so timer tests never sleep.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    /// The simulated time, passed to both ends' `handle_timeout`.
    pub now: Duration,
    /// Deliver bytes to the client (false: the client's transport is
    /// stalled, what the server sends stays queued).
    pub client_reads: bool,
    /// Deliver bytes to the server.
    pub server_reads: bool,
}

impl Pair {
    pub fn new() -> Self {
        Self::from_connections(client(), server())
    }

    pub fn with_configs(client: Config, server: Config) -> Self {
        Self::from_connections(
            Connection::with_mask_source(Role::Client, client, fixed_keys),
            Connection::new(Role::Server, server),
        )
    }

    pub fn from_connections(client: Connection, server: Connection) -> Self {
        let mut pair = Pair {
            client,
            server,
            now: Duration::ZERO,
            client_reads: true,
            server_reads: true,
        };
        pair.tick();
        pair
    }

    /// Both ends' `handle_timeout` at the current time.
    pub fn tick(&mut self) {
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// Moves the clock forward by `by`, calling `handle_timeout` on both
    /// ends, then drives. Returns the events as [`drive`](Self::drive) does.
    pub fn advance(&mut self, by: Duration) -> (Vec<Event>, Vec<Event>) {
        self.now += by;
        self.tick();
        self.drive(usize::MAX)
    }

    /// Moves bytes both ways, `chunk` bytes per receive, until neither side
    /// has anything to send, calling `handle_timeout` after every step as
    /// an event loop does. Returns (events at the client, events at the
    /// server).
    pub fn drive(&mut self, chunk: usize) -> (Vec<Event>, Vec<Event>) {
        let mut at_client = Vec::new();
        let mut at_server = Vec::new();
        loop {
            let mut moved = false;
            if self.server_reads {
                moved |= transfer(&mut self.client, &mut self.server, chunk, &mut at_server);
            }
            if self.client_reads {
                moved |= transfer(&mut self.server, &mut self.client, chunk, &mut at_client);
            }
            self.tick();
            // Events a timer queued (a loss) come out too.
            drain(&mut self.server, &mut at_server);
            drain(&mut self.client, &mut at_client);
            if !moved {
                return (at_client, at_server);
            }
        }
    }

    /// When the earlier of the two ends next needs `handle_timeout`.
    pub fn next_timeout(&self) -> Option<Duration> {
        match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

fn drain(conn: &mut Connection, events: &mut Vec<Event>) {
    while let Some(event) = conn
        .poll_event()
        .expect("no protocol error between our own ends")
    {
        events.push(event);
    }
}

/// Moves what `from` has queued to `to`, as much as `to` takes (all of it
/// unless its output is over the high-water mark: then the rest stays
/// queued at `from`, as in a transport whose reader stopped).
fn transfer(
    from: &mut Connection,
    to: &mut Connection,
    chunk: usize,
    events: &mut Vec<Event>,
) -> bool {
    use bytes::Buf;
    let mut moved = false;
    while from.wants_write() && to.wants_read() {
        let piece = {
            let out: &rfc6455::Output = from.output();
            let chunk_bytes = out.chunk();
            chunk_bytes[..chunk_bytes.len().min(chunk.max(1))].to_vec()
        };
        let taken = to.receive(&piece);
        if taken == 0 {
            break;
        }
        from.output().advance(taken);
        moved = true;
        drain(to, events);
    }
    if (from.should_shutdown_write() || from.may_close_transport()) && !to.is_eof() {
        // `from` shut its write half down or dropped the transport: the
        // other end sees end-of-file.
        to.receive_eof();
        drain(to, events);
        moved = true;
    }
    moved
}

// ---- helpers added for framing / fragmentation / control / properties ----

/// A connection in `role` with the default config (deterministic masking
/// keys for a client).
pub fn connection(role: Role) -> Connection {
    connection_with(role, Config::default())
}

/// A connection in `role` with `config` (deterministic masking keys for a client).
pub fn connection_with(role: Role, config: Config) -> Connection {
    match role {
        Role::Client => Connection::with_mask_source(Role::Client, config, fixed_keys),
        Role::Server => Connection::new(Role::Server, config),
    }
}

/// A frame as the peer of a `receiver` sends it: masked towards a server,
/// unmasked towards a client.
pub fn frame_to(receiver: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match receiver {
        Role::Server => client_frame(fin, opcode, payload),
        Role::Client => server_frame(fin, opcode, payload),
    }
}

/// A frame masked the wrong way for a `receiver` (unmasked towards a server,
/// masked towards a client).
pub fn misfit_frame_to(receiver: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    match receiver {
        Role::Server => server_frame(fin, opcode, payload),
        Role::Client => client_frame(fin, opcode, payload),
    }
}

/// Concatenates frames (or any byte strings).
pub fn concat<B: AsRef<[u8]>>(parts: &[B]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|p| p.as_ref().iter().copied())
        .collect()
}

/// Like [`feed`], with receive sizes taken from `chunks` in turn (cycled).
pub fn feed_chunks(conn: &mut Connection, mut input: &[u8], chunks: &[usize]) -> Outcome {
    let mut out = Outcome::default();
    let mut sizes = chunks.iter().copied().map(|c| c.max(1)).cycle();
    while !input.is_empty() {
        let n = sizes.next().unwrap_or(usize::MAX).min(input.len());
        let (piece, rest) = input.split_at(n);
        input = rest;
        offer(conn, piece, &mut out);
    }
    out.sent = take_frames(conn);
    out
}

/// A text message event.
pub fn text_event(text: &str) -> Event {
    Event::Message(rfc6455::Message::Text(text.into()))
}

/// A binary message event.
pub fn binary_event(data: &[u8]) -> Event {
    Event::Message(rfc6455::Message::Binary(bytes_of(data)))
}

/// `data` as the `Bytes` that events carry.
pub fn bytes_of(data: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(data)
}

/// A ping event.
pub fn ping_event(payload: &[u8]) -> Event {
    Event::Ping(bytes_of(payload))
}

/// A pong event.
pub fn pong_event(payload: &[u8]) -> Event {
    Event::Pong(bytes_of(payload))
}

/// Feeds `pieces` one `receive` each, draining events after each, and
/// returns what came out together with the index of the piece after which
/// the protocol error appeared (for fail-fast checks: "the error is there as
/// soon as piece `i` arrived, before the rest was sent").
pub fn feed_pieces(conn: &mut Connection, pieces: &[&[u8]]) -> (Outcome, Option<usize>) {
    let mut out = Outcome::default();
    let mut failed_at = None;
    for (i, piece) in pieces.iter().enumerate() {
        if offer(conn, piece, &mut out) {
            failed_at = Some(i);
        }
    }
    out.sent = take_frames(conn);
    (out, failed_at)
}

/// The length of the frame header at the start of `frame` (2 to 14 bytes).
pub fn header_len(frame: &[u8]) -> usize {
    FrameHeader::decode(frame)
        .expect("valid header")
        .expect("whole header")
        .1
}

/// How a test delivers its frames (Autobahn's chop sizes and "sync" mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// All bytes in one read.
    AtOnce,
    /// One frame per read.
    FrameByFrame,
    /// One byte per read.
    ByteByByte,
}

impl Delivery {
    /// Every way, for tables.
    pub const ALL: [Delivery; 3] = [
        Delivery::AtOnce,
        Delivery::FrameByFrame,
        Delivery::ByteByByte,
    ];
}

/// Feeds `frames` to `conn` the way `how` says and collects the outcome.
pub fn deliver(conn: &mut Connection, frames: &[Vec<u8>], how: Delivery) -> Outcome {
    let input = concat(frames);
    match how {
        Delivery::AtOnce => feed(conn, &input, input.len()),
        Delivery::FrameByFrame => {
            let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
            feed_chunks(conn, &input, &sizes)
        }
        Delivery::ByteByByte => feed(conn, &input, 1),
    }
}
