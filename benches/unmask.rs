//! Unmask throughput per payload size: our dispatch (`apply_mask`), our
//! AVX-512 and AVX2 kernels on their own (where the CPU has them), our
//! scalar word loop, the byte-at-a-time reference (`apply_mask_scalar`) and
//! `copy_from_slice` (memcpy: one read and one write per byte, the physical
//! reference), on buffers that start on a page boundary (`unmask`), 16
//! bytes past one (`unmask_malloc`: where glibc's malloc puts a large
//! block) and 1 byte past one (`unmask_misaligned`). Peers (fastwebsockets)
//! are in `benches/peers/`, a crate of its own so that `cargo test` never
//! builds them.
//!
//! `cargo bench --bench unmask` (see BENCHMARKS.md for the numbers).
#![allow(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::frame::{apply_mask, apply_mask_scalar};

// The mask module's scalar word loop (safe code, private to the library)
// and its x86 kernels, compiled from source into this benchmark so that
// each can be measured on its own; the dispatch path is measured through
// the library itself.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[path = "../src/frame/mask/avx512.rs"]
mod avx512;
#[path = "../src/frame/mask/portable.rs"]
#[allow(dead_code)]
mod portable;
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[path = "../src/frame/mask/x86.rs"]
#[allow(dead_code)]
mod x86;

const SIZES: [usize; 7] = [16, 125, 128, 1024, 16 * 1024, 64 * 1024, 1024 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// `len` bytes starting `misalign` bytes past a page boundary, the same
/// offset for every contender: where the low 12 bits of two addresses
/// match, a load can be held up by an unrelated store (4 KiB aliasing),
/// and with buffers left where malloc put them, one contender of the
/// interleaved bench measured twice as slow as the same code on another
/// buffer.
fn buffer(storage: &mut Vec<u8>, len: usize, misalign: usize) -> &mut [u8] {
    *storage = vec![0x5a; len + 8192];
    let start = storage.as_ptr().align_offset(4096) + misalign;
    &mut storage[start..start + len]
}

/// A kernel: masks a buffer with the memory-order key word.
type Kernel = fn(&mut [u8], u32);

/// The AVX-512 and AVX2 kernels this CPU has, by name.
fn kernels() -> Vec<(&'static str, Kernel)> {
    #[allow(unused_mut)]
    let mut all: Vec<(&'static str, Kernel)> = Vec::new();
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let avx2 = std::is_x86_feature_detected!("avx2");
        if avx2 && std::is_x86_feature_detected!("avx512f") {
            // SAFETY: listed only if the CPU has AVX-512 F (just checked).
            all.push(("avx512", |buf, key| unsafe { avx512::avx512(buf, key) }));
        }
        if avx2 {
            // SAFETY: listed only if the CPU has AVX2 (just checked).
            all.push(("avx2", |buf, key| unsafe { x86::avx2(buf, key) }));
        }
    }
    all
}

fn bench_sizes(c: &mut Criterion, group_name: &str, misalign: usize) {
    let mut group = c.benchmark_group(group_name);
    let key = u32::from_ne_bytes(KEY);
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let buf = buffer(&mut a, size, misalign);
        // memcpy's source half a page off its destination, so that its
        // loads do not alias its own stores.
        let src = buffer(&mut b, size, 2048 + misalign);
        group.bench_function(BenchmarkId::new("apply_mask", size), |bench| {
            bench.iter(|| apply_mask(black_box(&mut *buf), black_box(KEY), 0));
        });
        for (name, kernel) in kernels() {
            group.bench_function(BenchmarkId::new(name, size), |bench| {
                bench.iter(|| kernel(black_box(&mut *buf), black_box(key)));
            });
        }
        group.bench_function(BenchmarkId::new("word_loop", size), |bench| {
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

fn unmask_malloc(c: &mut Criterion) {
    bench_sizes(c, "unmask_malloc", 16);
}

fn unmask_misaligned(c: &mut Criterion) {
    bench_sizes(c, "unmask_misaligned", 1);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = unmask, unmask_malloc, unmask_misaligned
}
criterion_main!(benches);
