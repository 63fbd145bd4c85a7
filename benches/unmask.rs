//! Unmask throughput per payload size: our dispatch (`apply_mask`), our
//! scalar word loop, the byte-at-a-time reference (`apply_mask_scalar`) and
//! `copy_from_slice` (memcpy: one read and one write per byte, the physical
//! reference). Peers (fastwebsockets) are in `benches/peers/`, a crate of
//! its own so that `cargo test` never builds them.
//!
//! `cargo bench --bench unmask` (see BENCHMARKS.md for the numbers).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::frame::{apply_mask, apply_mask_scalar};

/// The mask module's scalar word loop (safe code, private to the library),
/// compiled from source into this benchmark so that it can be measured on
/// its own; the dispatch path is measured through the library itself.
#[path = "../src/frame/mask/portable.rs"]
mod portable;

const SIZES: [usize; 6] = [16, 125, 1024, 16 * 1024, 64 * 1024, 1024 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// `len` bytes starting `misalign` bytes past a 64-byte boundary.
fn buffer(storage: &mut Vec<u8>, len: usize, misalign: usize) -> &mut [u8] {
    *storage = vec![0x5a; len + 128];
    let start = storage.as_ptr().align_offset(64) + misalign;
    &mut storage[start..start + len]
}

fn bench_sizes(c: &mut Criterion, group_name: &str, misalign: usize) {
    let mut group = c.benchmark_group(group_name);
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let buf = buffer(&mut a, size, misalign);
        let src = buffer(&mut b, size, misalign);
        group.bench_function(BenchmarkId::new("apply_mask", size), |bench| {
            bench.iter(|| apply_mask(black_box(&mut *buf), black_box(KEY), 0));
        });
        group.bench_function(BenchmarkId::new("word_loop", size), |bench| {
            let key = u32::from_ne_bytes(KEY);
            bench.iter(|| portable::words(black_box(&mut *buf), black_box(key)));
        });
        group.bench_function(BenchmarkId::new("byte_loop", size), |bench| {
            bench.iter(|| apply_mask_scalar(black_box(&mut *buf), black_box(KEY), 0));
        });
        group.bench_function(BenchmarkId::new("memcpy", size), |bench| {
            bench.iter(|| black_box(&mut *buf).copy_from_slice(black_box(&*src)));
        });
    }
    group.finish();
}

fn unmask(c: &mut Criterion) {
    bench_sizes(c, "unmask", 0);
}

fn unmask_misaligned(c: &mut Criterion) {
    bench_sizes(c, "unmask_misaligned", 1);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = unmask, unmask_misaligned
}
criterion_main!(benches);
