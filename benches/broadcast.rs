//! One message to N server connections: a `PreparedMessage` (framed once,
//! compressed once) against a `send` per recipient, uncompressed and with
//! permessage-deflate without context takeover (the examples' setting).
//! Each iteration queues the message on every connection and drains every
//! output, as a writer would.
//!
//! `cargo bench --bench broadcast`

use std::hint::black_box;
use std::time::Duration;

use bytes::Buf;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Agreement, Config, Connection, Message, PreparedMessage, Role};

const SUBSCRIBERS: [usize; 3] = [1, 100, 1000];

/// A chat line of about 300 bytes.
fn line() -> Message {
    Message::text(
        "{\"type\":\"message\",\"from\":\"wukong\",\"text\":\"the quick brown fox jumps over \
         the lazy dog, and the lazy dog does not mind at all; it was asleep anyway, dreaming \
         of bones and of the long summer afternoons by the river\",\"time\":1764756000}",
    )
}

fn deflate() -> DeflateConfig {
    DeflateConfig::default().no_context_takeover(true, true)
}

fn servers(n: usize, compressed: bool) -> Vec<Connection> {
    let params = compressed.then(|| DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    });
    (0..n)
        .map(|_| {
            Connection::from_agreement(
                Agreement::new(Role::Server).with_deflate(params),
                Config::default().deflate(deflate()),
            )
        })
        .collect()
}

fn drain(conns: &mut [Connection]) -> usize {
    let mut total = 0;
    for conn in conns {
        let output = conn.output();
        total += output.remaining();
        let n = output.remaining();
        output.advance(n);
    }
    total
}

fn bench_broadcast(c: &mut Criterion) {
    let message = line();
    for compressed in [false, true] {
        let mut group = c.benchmark_group(if compressed {
            "broadcast_deflate"
        } else {
            "broadcast_plain"
        });
        for n in SUBSCRIBERS {
            group.throughput(Throughput::Elements(n as u64));
            let mut conns = servers(n, compressed);
            group.bench_with_input(BenchmarkId::new("send_each", n), &n, |b, _| {
                b.iter(|| {
                    for conn in &mut conns {
                        conn.send(&message).unwrap();
                    }
                    black_box(drain(&mut conns))
                })
            });
            group.bench_with_input(BenchmarkId::new("prepared", n), &n, |b, _| {
                b.iter(|| {
                    let prepared = if compressed {
                        PreparedMessage::with_deflate(message.clone(), &deflate())
                    } else {
                        PreparedMessage::new(message.clone())
                    };
                    for conn in &mut conns {
                        conn.send_prepared(&prepared).unwrap();
                    }
                    black_box(drain(&mut conns))
                })
            });
            // Both give every recipient the same bytes.
            let mut a = servers(1, compressed);
            let mut b = servers(1, compressed);
            a[0].send(&message).unwrap();
            let prepared = PreparedMessage::with_deflate(message.clone(), &deflate());
            b[0].send_prepared(&prepared).unwrap();
            assert_eq!(a[0].output().take_all(), b[0].output().take_all());
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_broadcast
}
criterion_main!(benches);
