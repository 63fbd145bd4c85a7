//! One message to N server connections: a `PreparedMessage` (framed once,
//! compressed once) against a `send` per recipient, uncompressed and with
//! permessage-deflate without context takeover (the examples' setting).
//! Each iteration queues the message on every connection and drains every
//! output, as a writer would.
//!
//! Besides criterion's timings, each case is run once more outside the
//! timing loop with the allocator counting (see [`Counting`]), and the
//! allocations and bytes allocated by that one broadcast are printed:
//! `alloc broadcast_plain/prepared/1000: 1 allocations, 236 bytes`. A
//! prepared broadcast must allocate as much for N recipients as for one
//! (checked, in `cargo test` too).
//!
//! Under `cargo bench`, each case is also run for about half a second
//! with this thread's CPU time read from `/proc/thread-self/schedstat`
//! (nanoseconds on a CPU, not counting time the thread waited for one):
//! `cpu broadcast_plain/prepared/1000: 12.74 µs per broadcast, 12.7 ns per
//! delivery (31680 broadcasts)`. On a shared machine that is the steadier
//! figure of the two. BENCHMARKS.md has the figures.
//!
//! `cargo bench --bench broadcast`; `cargo test --bench broadcast` runs
//! every case once (and the allocation pass, with its check) as a check.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Buf;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Agreement, Config, Connection, Message, PreparedMessage, Role};

const SUBSCRIBERS: [usize; 4] = [1, 100, 1000, 10_000];

/// The system allocator, counting the allocations made (and the bytes they
/// asked for) while [`COUNTING`] is set. A wrapper of our own rather than a
/// crate: `stats_alloc` 0.1.10 does `SeqCst` atomic adds on every
/// allocation, inside criterion's timed loops too, and `dhat` 0.3.3 takes
/// a global lock on every allocation even when no profiler runs; here,
/// while counting is off, an allocation costs one relaxed load more than
/// `System`'s.
struct Counting;

/// Set only around the one broadcast whose allocations are measured.
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

impl Counting {
    fn note(size: usize) {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
            BYTES.fetch_add(size as u64, Relaxed);
        }
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds `GlobalAlloc`'s contract; the counting touches only atomics and
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: the caller's guarantees for `layout` (non-zero size) are
        // `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A reallocation counts as an allocation of the new size.
        Self::note(new_size);
        // SAFETY: `ptr` was allocated by this allocator, that is by
        // `System`, with `layout`; the caller's guarantees for `new_size`
        // are `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator)
        // with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations and bytes allocated while `f` runs.
fn count_allocations(f: impl FnOnce()) -> (u64, u64) {
    ALLOCATIONS.store(0, Relaxed);
    BYTES.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    f();
    COUNTING.store(false, Relaxed);
    (ALLOCATIONS.load(Relaxed), BYTES.load(Relaxed))
}

/// This thread's time on a CPU so far, in nanoseconds (Linux's scheduler
/// statistics: the first field of `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("the CPU figures need Linux's /proc/thread-self/schedstat");
    stat.split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .expect("schedstat starts with the nanoseconds on the CPU")
}

/// How long each case runs for its CPU figure (at least one batch): long
/// against the scheduler's tick (up to 4 ms), by which a running thread's
/// figure may lag.
const CPU_RUN: Duration = Duration::from_millis(500);

/// Prints the CPU time per broadcast and per delivery of `n` recipients,
/// over broadcasts for about [`CPU_RUN`]. The clock is read once per batch
/// of broadcasts lasting about a millisecond (reading it costs about as
/// much as a broadcast to one recipient).
fn print_cpu(
    name: &str,
    n: usize,
    conns: &mut [Connection],
    mut broadcast: impl FnMut(&mut [Connection]),
) {
    let one = Instant::now();
    broadcast(conns);
    let batch = (1_000_000 / one.elapsed().as_nanos().max(1)).clamp(1, 100_000) as u64;
    let start = Instant::now();
    let cpu_start = thread_cpu_ns();
    let mut count = 0u64;
    while start.elapsed() < CPU_RUN {
        for _ in 0..batch {
            broadcast(conns);
        }
        count += batch;
    }
    let per_broadcast = (thread_cpu_ns() - cpu_start) as f64 / count as f64;
    println!(
        "cpu {name}: {:.2} µs per broadcast, {:.1} ns per delivery ({count} broadcasts)",
        per_broadcast / 1000.0,
        per_broadcast / n as f64,
    );
}

/// A chat line of 232 bytes (a 236-byte frame).
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

/// One broadcast by a `send` per recipient; returns the bytes drained.
fn send_each(conns: &mut [Connection], message: &Message) -> usize {
    for conn in conns.iter_mut() {
        conn.send(message).unwrap();
    }
    drain(conns)
}

/// One broadcast of a message prepared for it; returns the bytes drained.
fn prepared(conns: &mut [Connection], message: &Message, compressed: bool) -> usize {
    let prepared = if compressed {
        PreparedMessage::with_deflate(message.clone(), &deflate())
    } else {
        PreparedMessage::new(message.clone())
    };
    for conn in conns.iter_mut() {
        conn.send_prepared(&prepared).unwrap();
    }
    drain(conns)
}

/// Prints the allocations of one broadcast on connections that have
/// already sent one (so their output buffers are as in criterion's loop),
/// and returns their count and bytes.
fn print_allocations(
    name: &str,
    conns: &mut [Connection],
    mut broadcast: impl FnMut(&mut [Connection]),
) -> (u64, u64) {
    broadcast(conns);
    let (allocations, bytes) = count_allocations(|| broadcast(conns));
    println!("alloc {name}: {allocations} allocations, {bytes} bytes");
    (allocations, bytes)
}

fn bench_broadcast(c: &mut Criterion) {
    let message = line();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // criterion then runs each case once, as a check.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    for compressed in [false, true] {
        let group_name = if compressed {
            "broadcast_deflate"
        } else {
            "broadcast_plain"
        };
        let mut group = c.benchmark_group(group_name);
        let mut prepared_allocations = None;
        for n in SUBSCRIBERS {
            group.throughput(Throughput::Elements(n as u64));
            let mut conns = servers(n, compressed);

            print_allocations(&format!("{group_name}/send_each/{n}"), &mut conns, |c| {
                black_box(send_each(c, &message));
            });
            let allocations =
                print_allocations(&format!("{group_name}/prepared/{n}"), &mut conns, |c| {
                    black_box(prepared(c, &message, compressed));
                });
            // Framed (and compressed) once: what a prepared broadcast
            // allocates does not grow with its recipients.
            let first = *prepared_allocations.get_or_insert(allocations);
            assert_eq!(
                allocations, first,
                "{group_name}/prepared/{n} allocates more than a broadcast to one recipient"
            );
            if measuring {
                print_cpu(&format!("{group_name}/send_each/{n}"), n, &mut conns, |c| {
                    black_box(send_each(c, &message));
                });
                print_cpu(&format!("{group_name}/prepared/{n}"), n, &mut conns, |c| {
                    black_box(prepared(c, &message, compressed));
                });
            }

            // A compression per recipient takes about 9 µs: at 1,000 and
            // 10,000 recipients an iteration takes 9 and 90 ms, too long
            // for criterion's 100 samples of growing length in 2 s (flat
            // sampling, 10 samples); at 10,000 any broadcast takes about
            // 0.5 ms (50 samples).
            let samples = if n >= 10_000 { 50 } else { 100 };
            let slow = compressed && n >= 1000;
            group.sampling_mode(if slow {
                SamplingMode::Flat
            } else {
                SamplingMode::Auto
            });
            group.sample_size(if slow { 10 } else { samples });
            group.bench_with_input(BenchmarkId::new("send_each", n), &n, |b, _| {
                b.iter(|| black_box(send_each(&mut conns, &message)))
            });
            group.sample_size(samples);
            group.sampling_mode(SamplingMode::Auto);
            group.bench_with_input(BenchmarkId::new("prepared", n), &n, |b, _| {
                b.iter(|| black_box(prepared(&mut conns, &message, compressed)))
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
