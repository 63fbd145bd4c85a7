//! Every masking path this build has, each called directly (not only through
//! the dispatcher), against the byte-at-a-time reference.
//!
//! Natively: every length 0–640 × every alignment 0–63 (from a 64-aligned
//! base) × every key offset 0–3, for every kernel this CPU runs (AVX-512,
//! AVX2 and SSE2 each called directly, so that an AVX-512 CPU tests all
//! three). Lengths from 256 up also take the steps to a vector boundary
//! (from 320 for AVX-512), and up to 640 every AVX-512 head (0–63 bytes)
//! meets a body of at least one four-vector iteration and every count of
//! single vectors after it (0–3) and every tail (0–63). Plus 64 KiB + 7 and
//! 1 MiB + 3 at four alignments (0, 1, 16 (malloc's), 31), four offsets and
//! two keys. Under Miri, which interprets every
//! instruction, the same shapes on a smaller grid (lengths 0–100 and eleven
//! longer ones up to 320, ten alignments chosen around 16- and 32-byte
//! boundaries, 4 KiB + 7): every branch of every path, in a few minutes.
#![allow(unsafe_code)]

use super::*;
use alloc::vec;
use alloc::vec::Vec;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

#[cfg(not(miri))]
const LENS: &[usize] = &range::<641>();
#[cfg(miri)]
const LENS: &[usize] = &{
    let mut lens = [0; 112];
    let mut i = 0;
    while i <= 100 {
        lens[i] = i;
        i += 1;
    }
    let long = [127, 128, 129, 160, 161, 192, 193, 255, 256, 287, 320];
    let mut j = 0;
    while j < long.len() {
        lens[101 + j] = long[j];
        j += 1;
    }
    lens
};

#[cfg(not(miri))]
const ALIGNS: &[usize] = &range::<64>();
#[cfg(miri)]
const ALIGNS: &[usize] = &[0, 1, 3, 15, 16, 17, 31, 32, 33, 63];

#[cfg(not(miri))]
const LARGE: &[usize] = &[64 * 1024 + 7, 1024 * 1024 + 3];
#[cfg(miri)]
const LARGE: &[usize] = &[4 * 1024 + 7];

/// `[0, 1, …, N - 1]`.
#[cfg_attr(miri, allow(dead_code))]
const fn range<const N: usize>() -> [usize; N] {
    let mut all = [0; N];
    let mut i = 0;
    while i < N {
        all[i] = i;
        i += 1;
    }
    all
}

/// A kernel: masks a buffer with the memory-order key word for its first byte.
type Kernel = fn(&mut [u8], u32);

/// Every path compiled into this build that this CPU can run.
fn kernels() -> Vec<(&'static str, Kernel)> {
    // Pushed to only where this target has a SIMD path.
    #[allow(unused_mut)]
    let mut all: Vec<(&'static str, Kernel)> = vec![("words", words), ("dispatch", long)];
    #[cfg(all(
        not(feature = "no-simd"),
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2"
    ))]
    {
        use cpu::Level;
        all.push(("sse2", x86::sse2));
        if cpu::level() >= Level::Avx2 {
            // SAFETY: listed only after `level` confirmed the CPU has AVX2.
            all.push(("avx2", |buf, key| unsafe { x86::avx2(buf, key) }));
        }
        if cpu::level() >= Level::Avx512 {
            // SAFETY: listed only after `level` confirmed AVX-512 F.
            all.push(("avx512", |buf, key| unsafe { avx512::avx512(buf, key) }));
        }
    }
    #[cfg(all(
        not(feature = "no-simd"),
        target_arch = "aarch64",
        target_feature = "neon"
    ))]
    all.push(("neon", neon::neon));
    all
}

/// Bytes that look random, so no path can pass by luck of a pattern.
fn fill(buf: &mut [u8], seed: u32) {
    let mut x = seed | 1;
    for byte in buf {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *byte = x as u8;
    }
}

#[repr(align(64))]
#[derive(Clone, Copy)]
struct Block([u8; 64 + 640 + 64]);

/// `apply_mask` and every kernel against the reference on
/// `buf[align..align + len]` of a 64-aligned block, for every listed length,
/// alignment and offset. The whole block is compared, so a write outside the
/// slice fails too.
#[test]
fn every_path_matches_reference_at_every_length_alignment_and_offset() {
    let kernels = kernels();
    let mut original = Block([0; 768]);
    fill(&mut original.0, 0x9e37_79b9);
    for &align in ALIGNS {
        for &len in LENS {
            for offset in 0..4 {
                let range = align..align + len;
                let mut want = original;
                apply_mask_scalar(&mut want.0[range.clone()], KEY, offset);
                let mut got = original;
                assert_eq!(got.0.as_ptr().addr() % 64, 0);
                apply_mask(&mut got.0[range.clone()], KEY, offset);
                assert!(
                    got.0 == want.0,
                    "apply_mask: align {align} len {len} offset {offset}"
                );
                for (name, kernel) in &kernels {
                    let mut got = original;
                    kernel(&mut got.0[range.clone()], key_word(KEY, offset));
                    assert!(
                        got.0 == want.0,
                        "{name}: align {align} len {len} offset {offset}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_path_matches_reference_on_large_buffers() {
    let kernels = kernels();
    for &len in LARGE {
        for key in [KEY, [0xff, 0x00, 0x80, 0x01]] {
            for align in [0, 1, 16, 31] {
                for offset in 0..4 {
                    let mut original = vec![0u8; len + 64];
                    fill(&mut original, len as u32);
                    let mut want = original.clone();
                    apply_mask_scalar(&mut want[align..align + len], key, offset);
                    let mut got = original.clone();
                    apply_mask(&mut got[align..align + len], key, offset);
                    assert!(
                        got == want,
                        "apply_mask: len {len} align {align} offset {offset}"
                    );
                    for (name, kernel) in &kernels {
                        let mut got = original.clone();
                        kernel(&mut got[align..align + len], key_word(key, offset));
                        assert!(
                            got == want,
                            "{name}: len {len} align {align} offset {offset}"
                        );
                    }
                }
            }
        }
    }
}

/// The layout every path relies on for speed (correctness holds for any
/// split): from `ALIGN_MIN` bytes the body starts on a block boundary, and
/// head and tail are shorter than a block.
#[test]
fn split_aligns_the_body_of_long_buffers() {
    fn check<const W: usize>(block: &mut Block) {
        for align in 0..64 {
            for len in [255, 256, 300] {
                let buf = &mut block.0[align..align + len];
                let (head, body, tail, _) = portable::split::<W>(buf, 0);
                assert!(head.len() < W && tail.len() < W && body.len() % W == 0);
                assert_eq!(head.len() + body.len() + tail.len(), len);
                if len >= 256 {
                    assert_eq!(body.as_ptr().addr() % W, 0, "W {W} align {align}");
                } else {
                    assert!(head.is_empty());
                }
            }
        }
    }
    let mut block = Block([0; 768]);
    check::<8>(&mut block);
    check::<16>(&mut block);
    check::<32>(&mut block);
}

#[test]
fn rfc_hello_example() {
    // §5.7: masked "Hello" with key 37 fa 21 3d.
    for (name, kernel) in kernels() {
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        kernel(&mut payload, key_word(KEY, 0));
        assert_eq!(&payload, b"Hello", "{name}");
    }
    let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
    apply_mask(&mut payload, KEY, 0);
    assert_eq!(&payload, b"Hello");
}

#[test]
fn piecewise_equals_whole() {
    let mut whole = vec![0u8; 1000];
    fill(&mut whole, 7);
    let mut pieces = whole.clone();
    apply_mask(&mut whole, KEY, 0);
    let mut at = 0;
    for size in [1, 37, 3, 64, 200, 5, 31, 32, 33, 594] {
        apply_mask(&mut pieces[at..at + size], KEY, at);
        at += size;
    }
    assert_eq!(at, 1000);
    assert_eq!(whole, pieces);
}

#[test]
fn masking_twice_restores_the_payload() {
    let mut original = vec![0u8; 300];
    fill(&mut original, 3);
    for (name, kernel) in kernels() {
        let mut buf = original.clone();
        kernel(&mut buf[5..], 0x1234_5678);
        assert!(buf != original, "{name}");
        kernel(&mut buf[5..], 0x1234_5678);
        assert!(buf == original, "{name}");
    }
}

#[cfg(all(
    not(feature = "no-simd"),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    feature = "std"
))]
#[test]
fn detection_is_cached_and_agrees_with_std() {
    use cpu::Level;
    let first = cpu::level();
    assert_eq!(first, cpu::level());
    let avx2 = std::is_x86_feature_detected!("avx2");
    let avx512 = avx2 && std::is_x86_feature_detected!("avx512f");
    assert_eq!(first >= Level::Avx2, avx2);
    assert_eq!(first == Level::Avx512, avx512);
    // Every kernel the CPU has is among those the tests above run, so none
    // is skipped by a mistake in this module's switches.
    let names: Vec<_> = kernels().into_iter().map(|(name, _)| name).collect();
    assert!(names.contains(&"sse2"));
    assert_eq!(names.contains(&"avx2"), avx2, "{names:?}");
    assert_eq!(names.contains(&"avx512"), avx512, "{names:?}");
}
