//! Echo throughput through an in-memory client↔server pair, compressed
//! (permessage-deflate, context takeover, level 6 and level 1) beside
//! uncompressed: the client sends a message, the server receives it and
//! sends it back, the client receives the echo. Payload: JSON-like text,
//! which compresses about 10:1.
//!
//! `cargo bench --bench deflate`

use std::hint::black_box;
use std::time::Duration;

use bytes::Buf;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Agreement, Config, Connection, Event, Message, Output, Role};

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
        Connection::from_agreement(
            Agreement::new(Role::Client).with_deflate(params),
            config.clone(),
        ),
        Connection::from_agreement(Agreement::new(Role::Server).with_deflate(params), config),
    )
}

/// Moves everything `from` has queued into `to`, chunk by chunk (a
/// server's large uncompressed send is a header chunk and a shared
/// payload), and returns the message `to` makes of it. `to` takes at most
/// `input_room()` bytes per `receive` (64 KiB beyond the frame it is
/// decoding): the poll in between decodes the header that makes room for
/// the rest of the frame, so a 1 MiB frame goes over in two receives, and
/// a small one in one receive and one poll, as before.
fn deliver(from: &mut Connection, to: &mut Connection) -> Message {
    loop {
        let out: &mut Output = from.output();
        let taken = to.receive(out.chunk());
        out.advance(taken);
        if let Some(event) = to.poll_event().expect("valid frames") {
            let Event::Message(message) = event else {
                panic!("unexpected {event:?}");
            };
            assert!(!from.wants_write(), "bytes after the message");
            return message;
        }
        assert!(taken > 0, "no message, and the receiver takes nothing");
    }
}

fn echo(client: &mut Connection, server: &mut Connection, message: &str) {
    client.send_text(message).unwrap();
    let m = deliver(client, server);
    server.send(&m).unwrap();
    let m = deliver(server, client);
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
