//! Echo throughput through an in-memory client↔server pair, compressed
//! (permessage-deflate, context takeover, level 6 and level 1) beside
//! uncompressed: the client sends a message, the server receives it and
//! sends it back, the client receives the echo. Payload: JSON-like text,
//! which compresses about 10:1.
//!
//! `cargo bench --bench deflate`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Config, Connection, Event, Role};

const SIZES: [usize; 4] = [128, 4 * 1024, 64 * 1024, 1024 * 1024];

fn text(size: usize) -> String {
    let mut out = String::with_capacity(size + 64);
    let mut i = 0u64;
    while out.len() < size {
        out.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"text\":\"hello\"}},",
            i % 97
        ));
        i += 1;
    }
    out.truncate(size);
    out
}

fn pair(deflate: Option<DeflateConfig>) -> (Connection, Connection) {
    let config = Config::default().deflate(deflate.clone().unwrap_or_default());
    let params = deflate.map(|_| DeflateParams::default());
    (
        Connection::new(Role::Client, config.clone()).with_deflate(params),
        Connection::new(Role::Server, config).with_deflate(params),
    )
}

/// Moves everything `from` has pending into `to`, chunk by chunk (a
/// server's large uncompressed send is a header chunk and a shared payload).
fn transfer(from: &mut Connection, to: &mut Connection) {
    while from.pending_len() > 0 {
        let chunk = from.pending();
        to.receive(chunk);
        let n = chunk.len();
        from.advance(n);
    }
}

fn echo(client: &mut Connection, server: &mut Connection, message: &str) {
    client.send_text(message).unwrap();
    transfer(client, server);
    let Ok(Some(Event::Message(m))) = server.poll_event() else {
        panic!("no message at the server");
    };
    server.send(&m).unwrap();
    transfer(server, client);
    let Ok(Some(Event::Message(m))) = client.poll_event() else {
        panic!("no echo at the client");
    };
    black_box(m);
}

fn bench_echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo");
    let variants = [
        ("uncompressed", None),
        ("deflate-level6", Some(DeflateConfig::default())),
        ("deflate-level1", Some(DeflateConfig::default().level(1))),
    ];
    for size in SIZES {
        let message = text(size);
        group.throughput(Throughput::Bytes(size as u64));
        for (name, deflate) in &variants {
            let (mut client, mut server) = pair(deflate.clone());
            group.bench_function(BenchmarkId::new(*name, size), |b| {
                b.iter(|| echo(&mut client, &mut server, black_box(&message)));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench_echo
}
criterion_main!(benches);
