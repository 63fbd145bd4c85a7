//! Decode: masked client frames in, complete messages out, in the server
//! role, beside tungstenite, fastwebsockets and tokio-websockets (issues 5
//! and 17).
//!
//! One run: `cd benches/peers && cargo bench --bench decode` (add
//! `--profile bench-lto` for fat LTO and one codegen unit). The tables of
//! BENCHMARKS.md (medians over 3 runs, ratios to the best peer, both
//! profiles): `PROFILE=both bash benches/peers/run.sh decode 3`. Times are
//! the benchmark thread's CPU time unless `BENCH_CLOCK=wall` (see `Clock` in
//! src/lib.rs). `INTERLEAVE=1`: the contenders in alternating short batches
//! instead of criterion's rounds, ratios per batch (src/interleave.rs).
//!
//! The same work for every contender: one iteration decodes a batch of
//! [`batch`]`(size)` single-frame messages (about 256 KiB of payload), each
//! frame masked with its own key, read from the same in-memory stream
//! ([`Mem`]). Every contender unmasks every byte, checks text as UTF-8 (its
//! own validator, on by default in all four) and hands out each message
//! as its own message type. Throughput is payload bytes; messages per second
//! is that divided by the size.
//!
//! - `rfc6455`: the sans-IO core. Reads go straight into the connection's
//!   buffer (`receive_buffer` + `commit_received`, the path without a copy),
//!   `read_len(64 KiB)` at a time (the blocking adapter's bulk read size,
//!   no further than a large frame's end; tungstenite reads 128 KiB chunks,
//!   fastwebsockets fills its buffer's capacity), then `poll_event` until
//!   `None`; `keep_read_buffer(true)`, as the blocking adapter sets it.
//! - `rfc6455_blocking`: the blocking adapter `WebSocket<NoTimeouts<Mem>>`
//!   (an in-memory stream has no read timeout to drive the timers with),
//!   `read()`.
//! - `tungstenite`: `WebSocket::from_raw_socket(Mem, Server, default
//!   config)`, `read()`.
//! - `fastwebsockets`: `FragmentCollector::read_frame` over
//!   `WebSocket::after_handshake(Mem, Server)`, one `block_on` per batch on
//!   a current-thread tokio runtime.
//! - `tokio_websockets`: `StreamExt::next` over `ServerBuilder::new()
//!   .serve(Mem)` (its `WebSocketStream`, default config and limits), one
//!   `block_on` per batch on a current-thread tokio runtime.

use std::hint::black_box;
use std::io::Read;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use futures_util::StreamExt;
use rfc6455::blocking::{NoTimeouts, WebSocket};
use rfc6455::{Config, Connection, Event, Role};
use rfc6455_peer_benches::interleave::{Contender, Interleaved};
use rfc6455_peer_benches::{Clock, Kind, Mem, SIZES, batch, masked_frames, payload, receive_all};

/// How much the core is offered per read: the blocking adapter's largest
/// read size (it adapts between 1 KiB when idle and 64 KiB in bulk).
const READ_CHUNK: usize = 64 * 1024;

/// One contender: decodes `n` messages from its stream (rewound first) and
/// returns the payload bytes it saw.
trait Decoder {
    fn decode(&mut self, n: usize) -> usize;
}

struct Ours {
    conn: Connection,
    src: Mem,
}

impl Decoder for Ours {
    fn decode(&mut self, n: usize) -> usize {
        self.src.rewind();
        let (mut got, mut bytes) = (0, 0);
        while got < n {
            // The call order on `Connection`: no further than a large
            // frame's end (0 when one is complete: poll it first).
            let len = self.conn.read_len(READ_CHUNK);
            if len > 0 {
                let buf = self.conn.receive_buffer(len);
                let read = self.src.read(buf).expect("in-memory read");
                assert!(read > 0, "input ended early");
                self.conn.commit_received(read);
            }
            while let Some(event) = self.conn.poll_event().expect("valid frames") {
                if let Event::Message(message) = event {
                    bytes += message.len();
                    got += 1;
                    black_box(message);
                }
            }
        }
        bytes
    }
}

struct OursBlocking {
    ws: WebSocket<NoTimeouts<Mem>>,
    src: Mem,
}

impl Decoder for OursBlocking {
    fn decode(&mut self, n: usize) -> usize {
        self.src.rewind();
        let mut bytes = 0;
        for _ in 0..n {
            let message = self.ws.read().expect("valid frames").expect("open");
            bytes += message.len();
            black_box(message);
        }
        bytes
    }
}

struct Tungstenite {
    ws: tungstenite::WebSocket<Mem>,
    src: Mem,
}

impl Decoder for Tungstenite {
    fn decode(&mut self, n: usize) -> usize {
        self.src.rewind();
        let mut bytes = 0;
        for _ in 0..n {
            let message = self.ws.read().expect("valid frames");
            bytes += message.len();
            black_box(message);
        }
        bytes
    }
}

struct Fastwebsockets {
    ws: fastwebsockets::FragmentCollector<Mem>,
    src: Mem,
    rt: tokio::runtime::Runtime,
}

impl Decoder for Fastwebsockets {
    fn decode(&mut self, n: usize) -> usize {
        self.src.rewind();
        let ws = &mut self.ws;
        self.rt.block_on(async {
            let mut bytes = 0;
            for _ in 0..n {
                let frame = ws.read_frame().await.expect("valid frames");
                bytes += frame.payload.len();
                black_box(frame);
            }
            bytes
        })
    }
}

struct TokioWebsockets {
    ws: tokio_websockets::WebSocketStream<Mem>,
    src: Mem,
    rt: tokio::runtime::Runtime,
}

impl Decoder for TokioWebsockets {
    fn decode(&mut self, n: usize) -> usize {
        self.src.rewind();
        let ws = &mut self.ws;
        self.rt.block_on(async {
            let mut bytes = 0;
            for _ in 0..n {
                let message = ws.next().await.expect("open").expect("valid frames");
                bytes += message.as_payload().len();
                black_box(message);
            }
            bytes
        })
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

fn contenders(frames: &[u8]) -> Vec<(&'static str, Box<dyn Decoder>)> {
    let src = Mem::new(frames.to_vec());
    let ours = Ours {
        // A loop that lends right after it drains, as a blocking read
        // does: bulk reads reuse one buffer (`keep_read_buffer`).
        conn: {
            let mut conn = Connection::new(Role::Server, Config::default());
            conn.keep_read_buffer(true);
            conn
        },
        src: src.clone(),
    };
    let src = Mem::new(frames.to_vec());
    let conn = Connection::new(Role::Server, Config::default());
    let blocking = OursBlocking {
        ws: WebSocket::from_connection(NoTimeouts(src.clone()), conn),
        src,
    };
    let src = Mem::new(frames.to_vec());
    let tungstenite = Tungstenite {
        ws: tungstenite::WebSocket::from_raw_socket(
            src.clone(),
            tungstenite::protocol::Role::Server,
            None,
        ),
        src,
    };
    let src = Mem::new(frames.to_vec());
    let ws = fastwebsockets::WebSocket::after_handshake(src.clone(), fastwebsockets::Role::Server);
    let fast = Fastwebsockets {
        ws: fastwebsockets::FragmentCollector::new(ws),
        src,
        rt: current_thread(),
    };
    let src = Mem::new(frames.to_vec());
    let tokio_websockets = TokioWebsockets {
        ws: tokio_websockets::ServerBuilder::new().serve(src.clone()),
        src,
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

/// Checks once, outside the timing, that every contender decodes the batch
/// to the right messages: the payloads match and the whole input is read.
fn check(kind: Kind, payload: &[u8], frames: &[u8], n: usize) {
    let src = Mem::new(frames.to_vec());
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut input = Vec::new();
    src.clone().read_to_end(&mut input).expect("in-memory read");
    let mut count = 0;
    for event in receive_all(&mut conn, &input).expect("valid frames") {
        let Event::Message(message) = event else {
            panic!("unexpected {event:?}")
        };
        assert_eq!(message.as_bytes(), payload);
        assert_eq!(message.as_text().is_some(), kind.is_text());
        count += 1;
    }
    assert_eq!(count, n);

    let mut ws = tungstenite::WebSocket::from_raw_socket(
        Mem::new(frames.to_vec()),
        tungstenite::protocol::Role::Server,
        None,
    );
    for _ in 0..n {
        let message = ws.read().expect("valid frames");
        assert_eq!(message.is_text(), kind.is_text());
        assert_eq!(&*message.into_data(), payload);
    }

    let src = Mem::new(frames.to_vec());
    let ws = fastwebsockets::WebSocket::after_handshake(src.clone(), fastwebsockets::Role::Server);
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    let rt = current_thread();
    rt.block_on(async {
        for _ in 0..n {
            let frame = ws.read_frame().await.expect("valid frames");
            let text = frame.opcode == fastwebsockets::OpCode::Text;
            assert_eq!(text, kind.is_text());
            assert_eq!(&frame.payload[..], payload);
        }
    });
    assert!(src.at_end());

    let src = Mem::new(frames.to_vec());
    let mut ws = tokio_websockets::ServerBuilder::new().serve(src.clone());
    rt.block_on(async {
        for _ in 0..n {
            let message = ws.next().await.expect("open").expect("valid frames");
            assert_eq!(message.is_text(), kind.is_text());
            if kind.is_text() {
                let text = message.as_text().expect("validated text");
                assert_eq!(text.as_bytes(), payload);
            }
            assert_eq!(&message.as_payload()[..], payload);
        }
    });
    assert!(src.at_end());
}

fn decode(c: &mut Criterion<Clock>) {
    for kind in Kind::ALL {
        let mut group = c.benchmark_group(format!("decode_{}", kind.name()));
        for size in SIZES {
            let n = batch(size);
            let payload = payload(kind, size);
            let frames = masked_frames(kind, &payload, n);
            check(kind, &payload, &frames, n);
            group.throughput(Throughput::Bytes((n * size) as u64));
            for (name, mut decoder) in contenders(&frames) {
                assert_eq!(decoder.decode(n), n * size, "{name}");
                group.bench_function(BenchmarkId::new(name, size), |b| {
                    b.iter(|| decoder.decode(black_box(n)));
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .with_measurement(Clock::from_env())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50);
    targets = decode
}
/// Every cell in interleaved batches (src/interleave.rs), with the same
/// inputs and checks as the criterion mode.
fn interleaved(mut run: Interleaved) {
    for kind in Kind::ALL {
        let group = format!("decode_{}", kind.name());
        for size in SIZES {
            if !run.wants(&group, size) {
                continue;
            }
            let n = batch(size);
            let payload = payload(kind, size);
            let frames = masked_frames(kind, &payload, n);
            check(kind, &payload, &frames, n);
            let mut decoders = contenders(&frames);
            let mut cell: Vec<Contender<'_>> = decoders
                .iter_mut()
                .map(|(name, decoder)| {
                    assert_eq!(decoder.decode(n), n * size, "{name}");
                    let f = move || {
                        black_box(decoder.decode(black_box(n)));
                    };
                    (*name, Box::new(f) as Box<dyn FnMut()>)
                })
                .collect();
            run.cell(&group, size, (n * size) as u64, &mut cell);
        }
    }
    run.finish();
}

fn main() {
    Interleaved::main(benches, interleaved, "^decode_cjk/125$");
}
