//! The contenders of `unmask`, timed in interleaved batches: every round
//! times a batch of each contender in turn, so all of them see the same
//! machine state (a criterion run measures them minutes apart, and on a
//! shared machine the other jobs change in between). Prints, per size and
//! alignment, the median and the minimum ns per call over all rounds, GB/s
//! (1e9 bytes/s) from the median, and ratios from the medians.
//!
//! Alignments: every buffer starts on a page boundary ("aligned") or 16
//! bytes past one ("malloc": where glibc's malloc puts a large block, 16
//! bytes past a cache line).
//!
//! `cd benches/peers && cargo bench --bench unmask_interleaved` (8 s per
//! size and alignment; `-- 2` for 2 s). Without `--bench` (as under
//! `cargo test --benches`) it runs 20 ms per row: a check that every
//! contender runs, not a measurement.
#![allow(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use rfc6455::frame::apply_mask;

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[path = "../../../src/frame/mask/avx512.rs"]
mod avx512;
#[path = "../../../src/frame/mask/portable.rs"]
#[allow(dead_code)]
mod portable;
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[path = "../../../src/frame/mask/x86.rs"]
#[allow(dead_code)]
mod x86;

const SIZES: [usize; 10] = [
    16,
    125,
    128,
    256,
    384,
    512,
    1024,
    16 * 1024,
    64 * 1024,
    1024 * 1024,
];
const ALIGNS: [(&str, usize); 2] = [("aligned", 0), ("malloc", 16)];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A contender: masks (or copies into) its own buffer once.
type Contender<'a> = Box<dyn FnMut() + 'a>;

/// A kernel: masks a buffer with the memory-order key word.
type Kernel = fn(&mut [u8], u32);

/// The root crate's AVX-512 and AVX2 kernels, compiled from source, where
/// this CPU has them (else `None`: the column reads "n/a").
fn kernels() -> [Option<Kernel>; 2] {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let avx2 = std::is_x86_feature_detected!("avx2");
        let avx512 = avx2 && std::is_x86_feature_detected!("avx512f");
        let k512: Kernel =
            // SAFETY: used only if the CPU has AVX-512 F (just checked).
            |buf, key| unsafe { avx512::avx512(buf, key) };
        // SAFETY: used only if the CPU has AVX2 (just checked).
        let k2: Kernel = |buf, key| unsafe { x86::avx2(buf, key) };
        [avx512.then_some(k512), avx2.then_some(k2)]
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    [None, None]
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let budget = match std::env::args().skip(1).find_map(|a| a.parse::<u64>().ok()) {
        Some(seconds) => Duration::from_secs(seconds),
        None if measuring => Duration::from_secs(8),
        None => Duration::from_millis(20),
    };
    let [k512, k2] = kernels();
    let names = [
        "rfc6455_apply_mask",
        "rfc6455_avx512",
        "rfc6455_avx2",
        "fastwebsockets_unmask",
        "rfc6455_word_loop",
        "memcpy",
    ];
    println!(
        "| size | buffer | {} | ours ÷ memcpy | avx512 ÷ memcpy | avx512 ÷ avx2 | ours ÷ avx2 | ours ÷ fastwebsockets |",
        names.join(" | ")
    );
    println!(
        "|---|---|{}---:|---:|---:|---:|",
        "---:|".repeat(names.len())
    );
    let key = u32::from_ne_bytes(KEY);
    for size in SIZES {
        for (align_name, misalign) in ALIGNS {
            // Every buffer starts at the same offset in its page: where the
            // low 12 bits of two addresses match, a load can be held up by
            // an unrelated store (4 KiB aliasing), and with buffers left
            // where malloc put them, one contender measured twice as slow
            // as the same code on another buffer.
            let mut storage: Vec<Vec<u8>> =
                (0..names.len()).map(|_| vec![0x5a; size + 8192]).collect();
            let bufs: Vec<&mut [u8]> = storage
                .iter_mut()
                .map(|v| {
                    let at = v.as_ptr().align_offset(4096) + misalign;
                    &mut v[at..at + size]
                })
                .collect();
            // memcpy's source: half a page off every destination, so that
            // its loads do not alias its own stores either.
            let src_storage = vec![0x5a; size + 8192];
            let at = src_storage.as_ptr().align_offset(4096) + 2048 + misalign;
            let src: &[u8] = &src_storage[at..at + size];
            let [a, b, c, d, e, f] = <[&mut [u8]; 6]>::try_from(bufs).unwrap();
            let mut contenders: [Option<Contender>; 6] = [
                Some(Box::new(|| {
                    apply_mask(black_box(&mut *a), black_box(KEY), 0)
                })),
                k512.map(|k| -> Contender {
                    Box::new(move || k(black_box(&mut *b), black_box(key)))
                }),
                k2.map(|k| -> Contender {
                    Box::new(move || k(black_box(&mut *c), black_box(key)))
                }),
                Some(Box::new(|| {
                    fastwebsockets::unmask(black_box(&mut *d), black_box(KEY))
                })),
                Some(Box::new(|| {
                    portable::words(black_box(&mut *e), black_box(key))
                })),
                Some(Box::new(|| {
                    black_box(&mut *f).copy_from_slice(black_box(src))
                })),
            ];
            // About 20 µs per batch, whatever the size.
            let calls = (20_000 / (size / 64 + 4)).max(1);
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
            let start = Instant::now();
            while start.elapsed() < budget {
                for (f, t) in contenders.iter_mut().zip(&mut times) {
                    let Some(f) = f else { continue };
                    let began = Instant::now();
                    for _ in 0..calls {
                        f();
                    }
                    t.push(began.elapsed().as_nanos() as f64 / calls as f64);
                }
            }
            let median: Vec<Option<f64>> = times
                .iter_mut()
                .map(|t| {
                    t.sort_by(f64::total_cmp);
                    t.get(t.len() / 2).copied()
                })
                .collect();
            let cells: Vec<String> = median
                .iter()
                .zip(&times)
                .map(|(m, t)| match m {
                    Some(m) => format!("{:.1} GB/s ({m:.1} ns; min {:.1})", size as f64 / m, t[0]),
                    None => "n/a".to_owned(),
                })
                .collect();
            // `x ÷ y` is x's throughput over y's: y's time over x's.
            let ratio = |x: usize, y: usize| match (median[x], median[y]) {
                (Some(x), Some(y)) => format!("{:.2}", y / x),
                _ => "n/a".to_owned(),
            };
            println!(
                "| {size} B | {align_name} | {} | {} | {} | {} | {} | {} |",
                cells.join(" | "),
                ratio(0, 5),
                ratio(1, 5),
                ratio(1, 2),
                ratio(0, 2),
                ratio(0, 3),
            );
        }
    }
}
