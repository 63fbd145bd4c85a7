//! Decode throughput of our `Connection` alone (server role: masked frames
//! in, messages out), for before/after comparisons of the receive path:
//! binary, ASCII text and Chinese text at 16 B, 125 B, 1 KiB, 64 KiB, each
//! message in one frame, and 64 KiB text in 16 fragments. Peers
//! (tungstenite, fastwebsockets) doing the same work are in
//! `benches/peers/benches/decode.rs`.
//!
//! `cargo bench --bench decode`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::{Config, Connection, Event, Role};

const SIZES: [usize; 4] = [16, 125, 1024, 64 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Wire bytes per batch (rounded to whole messages), so small messages are
/// measured over many frames.
const BATCH: usize = 256 * 1024;

fn frame(out: &mut Vec<u8>, opcode: u8, fin: bool, payload: &[u8]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
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
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
}

/// A payload of `size` bytes: binary, ASCII or Chinese (3-byte characters,
/// padded with ASCII to the exact size).
fn payload(kind: &str, size: usize) -> Vec<u8> {
    match kind {
        "binary" => (0..size).map(|i| (i * 31 + 7) as u8).collect(),
        "ascii" => (0..size).map(|i| b'a' + (i % 26) as u8).collect(),
        _ => {
            let mut s = "中文消息测试".repeat(size / 18 + 1);
            while s.len() > size {
                s.pop();
            }
            while s.len() < size {
                s.push('x');
            }
            s.into_bytes()
        }
    }
}

fn decode_all(wire: &[u8]) -> usize {
    let mut server = Connection::new(Role::Server, Config::default());
    let mut total = 0;
    // Hand the batch over in reads of up to 64 KiB, as a socket would: the
    // connection lends at most `input_room()` (64 KiB beyond the frame it
    // is decoding), so a read after a partial header is a few bytes short.
    let mut rest = wire;
    while !rest.is_empty() {
        let buf = server.receive_buffer(rest.len().min(64 * 1024));
        let n = buf.len();
        assert!(n > 0, "a drained connection takes input");
        buf.copy_from_slice(&rest[..n]);
        server.commit_received(n);
        rest = &rest[n..];
        while let Some(event) = server.poll_event().expect("valid frames") {
            if let Event::Message(message) = event {
                total += black_box(message).len();
            }
        }
    }
    total
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for kind in ["binary", "ascii", "cjk"] {
        for size in SIZES {
            let body = payload(kind, size);
            let opcode = if kind == "binary" { 2 } else { 1 };
            let count = (BATCH / (size + 14)).max(1);
            let mut wire = Vec::new();
            for _ in 0..count {
                frame(&mut wire, opcode, true, &body);
            }
            group.throughput(Throughput::Bytes((count * size) as u64));
            group.bench_function(BenchmarkId::new(kind, size), |b| {
                b.iter(|| assert_eq!(decode_all(black_box(&wire)), count * size));
            });
        }
    }
    // 64 KiB Chinese text in 16 fragments: validated as it arrives.
    let body = payload("cjk", 64 * 1024);
    let mut wire = Vec::new();
    for (i, part) in body.chunks(4096).enumerate() {
        frame(&mut wire, if i == 0 { 1 } else { 0 }, i == 15, part);
    }
    let wire = wire.repeat(4);
    group.throughput(Throughput::Bytes(4 * body.len() as u64));
    group.bench_function("cjk_fragmented/65536", |b| {
        b.iter(|| assert_eq!(decode_all(black_box(&wire)), 4 * body.len()));
    });
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
