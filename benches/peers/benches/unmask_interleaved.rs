//! The same contenders as `unmask`, timed in interleaved batches: every
//! round times a batch of each contender in turn, so all of them see the
//! same machine state (a criterion run measures them minutes apart, and on
//! a shared machine the other jobs change in between). Prints, per size,
//! the median and the minimum ns per call over all rounds, GB/s
//! (1e9 bytes/s) from the median, and ratios from the medians.
//!
//! `cd benches/peers && cargo bench --bench unmask_interleaved`

use std::hint::black_box;
use std::time::{Duration, Instant};

use rfc6455::frame::apply_mask;

#[path = "../../../src/frame/mask/portable.rs"]
mod portable;

const SIZES: [usize; 6] = [16, 125, 1024, 16 * 1024, 64 * 1024, 1024 * 1024];
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const NAMES: [&str; 4] = [
    "rfc6455_apply_mask",
    "fastwebsockets_unmask",
    "rfc6455_word_loop",
    "memcpy",
];
/// Wall time spent per size, all contenders together.
const BUDGET: Duration = Duration::from_secs(8);

fn main() {
    println!(
        "| size | {} | ours ÷ memcpy | ours ÷ fastwebsockets | ours ÷ word loop |",
        NAMES.join(" | ")
    );
    println!("|---|{}---:|---:|---:|", "---:|".repeat(NAMES.len()));
    for size in SIZES {
        let mut storage: Vec<Vec<u8>> = (0..5).map(|_| vec![0x5a; size + 64]).collect();
        let mut bufs: Vec<&mut [u8]> = storage
            .iter_mut()
            .map(|v| {
                let at = v.as_ptr().align_offset(64);
                &mut v[at..at + size]
            })
            .collect();
        let src = bufs.pop().unwrap();
        let src: &[u8] = src;
        let [a, b, c, d] = <[&mut [u8]; 4]>::try_from(bufs).unwrap();
        let key = u32::from_ne_bytes(KEY);
        let mut contenders: [&mut dyn FnMut(); 4] = [
            &mut || apply_mask(black_box(&mut *a), black_box(KEY), 0),
            &mut || fastwebsockets::unmask(black_box(&mut *b), black_box(KEY)),
            &mut || portable::words(black_box(&mut *c), black_box(key)),
            &mut || black_box(&mut *d).copy_from_slice(black_box(src)),
        ];
        // About 20 µs per batch, whatever the size.
        let calls = (20_000 / (size / 64 + 4)).max(1);
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
        let start = Instant::now();
        while start.elapsed() < BUDGET {
            for (f, t) in contenders.iter_mut().zip(&mut times) {
                let began = Instant::now();
                for _ in 0..calls {
                    f();
                }
                t.push(began.elapsed().as_nanos() as f64 / calls as f64);
            }
        }
        let median: Vec<f64> = times
            .iter_mut()
            .map(|t| {
                t.sort_by(f64::total_cmp);
                t[t.len() / 2]
            })
            .collect();
        let min: Vec<f64> = times.iter().map(|t| t[0]).collect();
        let cells: Vec<String> = median
            .iter()
            .zip(&min)
            .map(|(m, lo)| format!("{:.1} GB/s ({m:.1} ns; min {lo:.1})", size as f64 / m))
            .collect();
        println!(
            "| {size} B | {} | {:.2} | {:.2} | {:.2} |",
            cells.join(" | "),
            median[3] / median[0],
            median[1] / median[0],
            median[2] / median[0]
        );
    }
}
