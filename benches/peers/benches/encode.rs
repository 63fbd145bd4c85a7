//! Encode: messages in, frames written out, in both roles, beside
//! tungstenite, fastwebsockets and tokio-websockets (issues 5 and 17).
//!
//! One run: `cd benches/peers && cargo bench --bench encode` (add
//! `--profile bench-lto` for fat LTO and one codegen unit). The tables of
//! BENCHMARKS.md (medians over 3 runs, ratios to the best peer, both
//! profiles): `PROFILE=both bash benches/peers/run.sh encode 3`. Times are
//! the benchmark thread's CPU time unless `BENCH_CLOCK=wall` (see `Clock` in
//! src/lib.rs). `INTERLEAVE=1`: the contenders in alternating short batches
//! instead of criterion's rounds, ratios per batch (src/interleave.rs).
//!
//! The same work for every contender: one iteration sends a batch of
//! [`batch`]`(size)` messages (about 256 KiB of payload), each as one frame,
//! each sent on its own (the way a server answers one request at a time),
//! and every frame's bytes end up in the same in-memory stream ([`Mem`],
//! which accepts vectored writes as a socket does). No contender checks
//! UTF-8 on send: the text is already a `&str` or the peer's text type.
//! In the client role every frame is masked with a fresh key:
//!
//! - `rfc6455`: the sans-IO core. `send(&Message)` of a prepared message
//!   (`Bytes` / `Utf8Bytes`, like tungstenite's), then the chunks of
//!   `output()` (a `bytes::Buf`: `chunks_vectored`) are written with one
//!   vectored write and the output `advance()`d: a server shares
//!   a payload of 8 KiB or more instead of copying it. Client keys come
//!   from the OS (`getrandom`), fetched 128 keys per call.
//! - `rfc6455_blocking`: the blocking adapter `WebSocket<NoTimeouts<Mem>>`,
//!   `send(&Message)` (queue, vectored write, flush).
//! - `tungstenite`: `send(Message)` (write + flush), the message built from
//!   a prepared `Bytes` / `Utf8Bytes` (a reference-count increment, no
//!   copy). Client keys: `rand::random()` per frame (thread-local ChaCha).
//! - `fastwebsockets`: `write_frame(Frame::binary/text(Payload::Borrowed))`
//!   on one `block_on` per batch (current-thread runtime). Above 1 KiB it
//!   writes header and payload with one vectored write, without copying
//!   the payload. Client keys: `rand::random()` per frame; a client frame
//!   copies the borrowed payload to mask it.
//! - `tokio_websockets`: `SinkExt::send(Message)` (`poll_ready`,
//!   `start_send`, `poll_flush`) on one `block_on` per batch, over
//!   `ServerBuilder::new().serve(Mem)` / `ClientBuilder::new()
//!   .take_over(Mem)`, the message cloned from a prepared one (a `Bytes`
//!   inside: no copy). A server queues header and payload as two chunks
//!   and writes them with one vectored write, never copying the payload; a
//!   client copies it (the prepared payload is shared) and masks the copy.
//!   Client keys: `rand::fill` per frame (feature `rand`: rand 0.10's
//!   thread RNG, as tungstenite's).

use std::hint::black_box;
use std::io::{IoSlice, Write};
use std::time::Duration;

use bytes::Buf;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use fastwebsockets::{Frame, Payload};
use futures_util::SinkExt;
use rfc6455::blocking::{NoTimeouts, WebSocket};
use rfc6455::{Config, Connection, Message, Role};
use rfc6455_peer_benches::interleave::{Contender, Interleaved};
use rfc6455_peer_benches::{Clock, Kind, Mem, SIZES, batch, payload, push_frame, receive_all};

/// One contender: sends `n` copies of its message into its stream (emptied
/// first) and returns the number of bytes written.
trait Encoder {
    fn encode(&mut self, n: usize) -> usize;
    /// The stream it writes to.
    fn sink(&self) -> &Mem;
}

struct Ours {
    conn: Connection,
    sink: Mem,
    /// The prepared message (`Bytes` / `Utf8Bytes`, cloned for free), as
    /// tungstenite's contender has: a server shares a large payload
    /// instead of copying it, and the chunks go out in one vectored write.
    message: Message,
}

impl Encoder for Ours {
    fn sink(&self) -> &Mem {
        &self.sink
    }

    fn encode(&mut self, n: usize) -> usize {
        self.sink.clear_output();
        for _ in 0..n {
            self.conn.send(black_box(&self.message)).expect("open");
            while self.conn.wants_write() {
                let out = self.conn.output();
                let mut slices = [IoSlice::new(&[]); 4];
                let count = out.chunks_vectored(&mut slices);
                let written = self
                    .sink
                    .write_vectored(&slices[..count])
                    .expect("in-memory write");
                out.advance(written);
            }
        }
        self.sink.written()
    }
}

struct OursBlocking {
    ws: WebSocket<NoTimeouts<Mem>>,
    sink: Mem,
    message: Message,
}

impl Encoder for OursBlocking {
    fn sink(&self) -> &Mem {
        &self.sink
    }

    fn encode(&mut self, n: usize) -> usize {
        self.sink.clear_output();
        for _ in 0..n {
            self.ws.send(black_box(&self.message)).expect("open");
        }
        self.sink.written()
    }
}

struct Tungstenite {
    ws: tungstenite::WebSocket<Mem>,
    sink: Mem,
    message: tungstenite::Message,
}

impl Encoder for Tungstenite {
    fn sink(&self) -> &Mem {
        &self.sink
    }

    fn encode(&mut self, n: usize) -> usize {
        self.sink.clear_output();
        for _ in 0..n {
            self.ws.send(black_box(self.message.clone())).expect("open");
        }
        self.sink.written()
    }
}

struct Fastwebsockets {
    ws: fastwebsockets::WebSocket<Mem>,
    sink: Mem,
    text: bool,
    payload: Vec<u8>,
    rt: tokio::runtime::Runtime,
}

impl Encoder for Fastwebsockets {
    fn sink(&self) -> &Mem {
        &self.sink
    }

    fn encode(&mut self, n: usize) -> usize {
        self.sink.clear_output();
        let (ws, text, payload) = (&mut self.ws, self.text, &self.payload[..]);
        self.rt.block_on(async {
            for _ in 0..n {
                let body = Payload::Borrowed(black_box(payload));
                let frame = if text {
                    Frame::text(body)
                } else {
                    Frame::binary(body)
                };
                ws.write_frame(frame).await.expect("open");
            }
        });
        self.sink.written()
    }
}

struct TokioWebsockets {
    ws: tokio_websockets::WebSocketStream<Mem>,
    sink: Mem,
    message: tokio_websockets::Message,
    rt: tokio::runtime::Runtime,
}

impl Encoder for TokioWebsockets {
    fn sink(&self) -> &Mem {
        &self.sink
    }

    fn encode(&mut self, n: usize) -> usize {
        self.sink.clear_output();
        let (ws, message) = (&mut self.ws, &self.message);
        self.rt.block_on(async {
            for _ in 0..n {
                ws.send(black_box(message.clone())).await.expect("open");
            }
        });
        self.sink.written()
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

fn contenders(kind: Kind, role: Role, payload: &[u8]) -> Vec<(&'static str, Box<dyn Encoder>)> {
    let text = kind.is_text();
    let string = text.then(|| String::from_utf8(payload.to_vec()).expect("text payload"));
    let sink = Mem::default();
    let message = match &string {
        Some(text) => Message::text(text.clone()),
        None => Message::binary(payload.to_vec()),
    };
    let ours = Ours {
        conn: Connection::new(role, Config::default()),
        sink,
        message: message.clone(),
    };
    let sink = Mem::default();
    let conn = Connection::new(role, Config::default());
    let blocking = OursBlocking {
        ws: WebSocket::from_connection(NoTimeouts(sink.clone()), conn),
        sink,
        message,
    };
    let sink = Mem::default();
    let peer_role = match role {
        Role::Server => tungstenite::protocol::Role::Server,
        Role::Client => tungstenite::protocol::Role::Client,
    };
    let message = if text {
        let text = String::from_utf8(payload.to_vec()).expect("text payload");
        tungstenite::Message::Text(text.into())
    } else {
        tungstenite::Message::Binary(payload.to_vec().into())
    };
    let tungstenite = Tungstenite {
        ws: tungstenite::WebSocket::from_raw_socket(sink.clone(), peer_role, None),
        sink,
        message,
    };
    let sink = Mem::default();
    let peer_role = match role {
        Role::Server => fastwebsockets::Role::Server,
        Role::Client => fastwebsockets::Role::Client,
    };
    let fast = Fastwebsockets {
        ws: fastwebsockets::WebSocket::after_handshake(sink.clone(), peer_role),
        sink,
        text,
        payload: payload.to_vec(),
        rt: current_thread(),
    };
    let sink = Mem::default();
    let ws = match role {
        Role::Server => tokio_websockets::ServerBuilder::new().serve(sink.clone()),
        Role::Client => tokio_websockets::ClientBuilder::new().take_over(sink.clone()),
    };
    // `From<String>` marks the payload as valid UTF-8, `From<Vec<u8>>` does
    // not (neither matters on send); both keep the buffer without a copy.
    let message = match &string {
        Some(text) => tokio_websockets::Message::text(text.clone()),
        None => tokio_websockets::Message::binary(payload.to_vec()),
    };
    let tokio_websockets = TokioWebsockets {
        ws,
        sink,
        message,
        rt: current_thread(),
    };
    vec![
        ("rfc6455", Box::new(ours)),
        ("rfc6455_blocking", Box::new(blocking)),
        ("tungstenite", Box::new(tungstenite)),
        ("fastwebsockets", Box::new(fast)),
        ("tokio_websockets", Box::new(tokio_websockets)),
    ]
}

/// The bytes `n` frames of `payload` take on the wire.
fn wire_len(payload: &[u8], n: usize, masked: bool) -> usize {
    let mut frame = Vec::new();
    push_frame(&mut frame, false, payload, masked.then_some([0; 4]));
    frame.len() * n
}

/// Checks once, outside the timing, that a contender's output decodes (with
/// our server or client connection) to `n` copies of the message.
fn check(name: &str, kind: Kind, role: Role, payload: &[u8], output: &[u8], n: usize) {
    let peer = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut conn = Connection::new(peer, Config::default());
    let mut count = 0;
    for event in receive_all(&mut conn, output).expect("valid frames") {
        let rfc6455::Event::Message(message) = event else {
            panic!("{name}: {event:?}")
        };
        assert_eq!(message.as_bytes(), payload, "{name}");
        assert_eq!(message.as_text().is_some(), kind.is_text(), "{name}");
        count += 1;
    }
    assert_eq!(count, n, "{name}");
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Server => "server",
        Role::Client => "client",
    }
}

fn encode(c: &mut Criterion<Clock>) {
    for role in [Role::Server, Role::Client] {
        for kind in Kind::ALL {
            let group = format!("encode_{}_{}", role_name(role), kind.name());
            let mut group = c.benchmark_group(group);
            for size in SIZES {
                let n = batch(size);
                let payload = payload(kind, size);
                let expected = wire_len(&payload, n, role == Role::Client);
                group.throughput(Throughput::Bytes((n * size) as u64));
                for (name, mut encoder) in contenders(kind, role, &payload) {
                    assert_eq!(encoder.encode(n), expected, "{name}");
                    check(name, kind, role, &payload, &encoder.sink().output(), n);
                    group.bench_function(BenchmarkId::new(name, size), |b| {
                        b.iter(|| encoder.encode(black_box(n)));
                    });
                }
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(Clock::from_env())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50);
    targets = encode
}
/// Every cell in interleaved batches (src/interleave.rs), with the same
/// inputs and checks as the criterion mode.
fn interleaved(mut run: Interleaved) {
    for role in [Role::Server, Role::Client] {
        for kind in Kind::ALL {
            let group = format!("encode_{}_{}", role_name(role), kind.name());
            for size in SIZES {
                if !run.wants(&group, size) {
                    continue;
                }
                let n = batch(size);
                let payload = payload(kind, size);
                let expected = wire_len(&payload, n, role == Role::Client);
                let mut encoders = contenders(kind, role, &payload);
                let mut cell: Vec<Contender<'_>> = encoders
                    .iter_mut()
                    .map(|(name, encoder)| {
                        assert_eq!(encoder.encode(n), expected, "{name}");
                        check(name, kind, role, &payload, &encoder.sink().output(), n);
                        let f = move || {
                            black_box(encoder.encode(black_box(n)));
                        };
                        (*name, Box::new(f) as Box<dyn FnMut()>)
                    })
                    .collect();
                run.cell(&group, size, (n * size) as u64, &mut cell);
            }
        }
    }
    run.finish();
}

fn main() {
    Interleaved::main(benches, interleaved, "^encode_client_cjk/125$");
}
