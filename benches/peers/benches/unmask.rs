//! Unmask throughput beside fastwebsockets, in one run: our dispatch
//! (`apply_mask`), our scalar word loop, the byte-at-a-time reference,
//! fastwebsockets' `unmask`, and `copy_from_slice` (memcpy, the physical
//! reference), at 16 B, 125 B, 1 KiB, 16 KiB, 64 KiB and 1 MiB.
//!
//! `cd benches/peers && cargo bench --bench unmask` (see BENCHMARKS.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::frame::{apply_mask, apply_mask_scalar};

/// The root crate's scalar word loop (safe code, private to the library),
/// compiled from source so that it can be measured on its own.
#[path = "../../../src/frame/mask/portable.rs"]
mod portable;

const SIZES: [usize; 6] = [16, 125, 1024, 16 * 1024, 64 * 1024, 1024 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// `len` bytes starting at a 64-byte boundary, the same for every contender.
fn buffer(storage: &mut Vec<u8>, len: usize) -> &mut [u8] {
    *storage = vec![0x5a; len + 64];
    let start = storage.as_ptr().align_offset(64);
    &mut storage[start..start + len]
}

fn unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("unmask");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let buf = buffer(&mut a, size);
        let src = buffer(&mut b, size);
        group.bench_function(BenchmarkId::new("rfc6455_apply_mask", size), |bench| {
            bench.iter(|| apply_mask(black_box(&mut *buf), black_box(KEY), 0));
        });
        group.bench_function(BenchmarkId::new("fastwebsockets_unmask", size), |bench| {
            bench.iter(|| fastwebsockets::unmask(black_box(&mut *buf), black_box(KEY)));
        });
        group.bench_function(BenchmarkId::new("rfc6455_word_loop", size), |bench| {
            let key = u32::from_ne_bytes(KEY);
            bench.iter(|| portable::words(black_box(&mut *buf), black_box(key)));
        });
        group.bench_function(BenchmarkId::new("rfc6455_byte_loop", size), |bench| {
            bench.iter(|| apply_mask_scalar(black_box(&mut *buf), black_box(KEY), 0));
        });
        group.bench_function(BenchmarkId::new("memcpy", size), |bench| {
            bench.iter(|| black_box(&mut *buf).copy_from_slice(black_box(&*src)));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = unmask
}
criterion_main!(benches);
