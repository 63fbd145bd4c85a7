//! x86 and x86-64 with AVX-512 F: 64 bytes at a time.
//!
//! The body is first brought to a 64-byte boundary, so that no vector
//! access straddles a cache line: a 64-byte access anywhere else touches
//! two lines, and at malloc's usual 16 bytes past a line every one of them
//! does. Head and tail (fewer than 64 bytes each) take power-of-two steps
//! of 1 to 32 bytes, as on the other paths. The body goes four vectors per
//! iteration, then one at a time. No byte is written twice.
//!
//! `cpu::dispatch` calls this kernel from `AVX512_MIN` (512) bytes; below,
//! the AVX2 kernel measured as fast or faster (BENCHMARKS.md): at 128
//! bytes two 64-byte vectors do no better than four 32-byte ones, and lose
//! when they straddle lines, while the steps to a boundary cost more than
//! they save.
//!
//! Masked loads and stores for the head and tail (one each, with AVX-512
//! BW's byte masks, instead of up to six steps) measured slower: about
//! 10 ns a call when each call masks what the previous one wrote, as the
//! benchmark does and as a reader of the unmasked payload does (as if a
//! load of bytes that a masked store wrote is not forwarded from the store
//! buffer, and waits for the store to complete).
//!
//! Miri cannot run AVX-512 instructions: the exhaustive tests in `tests.rs`
//! run this kernel natively on every CPU that has AVX-512 F.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86")]
use core::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::portable::{shift_key, steps_down, steps_up};

/// Bytes per vector.
const W: usize = 64;

/// Masks `buf` (any length) 64 bytes at a time.
///
/// # Safety
/// The CPU must support AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn avx512(buf: &mut [u8], key: u32) {
    // Up to the first 64-byte boundary, or the whole buffer if it ends
    // before one.
    let head = (buf.as_ptr().addr().wrapping_neg() % W).min(buf.len());
    let (head, rest) = buf.split_at_mut(head);
    let whole = rest.len() - rest.len() % W;
    let (body, tail) = rest.split_at_mut(whole);
    head_steps(head, key);
    // Whole vectors leave the phase of the key unchanged, so the tail takes
    // the body's key.
    let key = shift_key(key, head.len());
    let wide = _mm512_set1_epi32(key as i32);
    // Four vectors per iteration: measured faster than one per iteration
    // at 512 bytes (the compiler then orders the loads and stores itself).
    let mut quads = body.chunks_exact_mut(4 * W);
    for quad in &mut quads {
        let p = quad.as_mut_ptr();
        // SAFETY: the caller guarantees AVX-512 F. Every access is one
        // 64-byte unaligned (`loadu`/`storeu`: no alignment requirement)
        // load or store at offset 0, 64, 128 or 192 of a chunk that
        // `chunks_exact_mut` made exactly 256 bytes long, through that
        // chunk's own pointer: all in bounds.
        unsafe {
            let a = _mm512_loadu_si512(p.cast());
            let b = _mm512_loadu_si512(p.add(W).cast());
            let c = _mm512_loadu_si512(p.add(2 * W).cast());
            let d = _mm512_loadu_si512(p.add(3 * W).cast());
            _mm512_storeu_si512(p.cast(), _mm512_xor_si512(a, wide));
            _mm512_storeu_si512(p.add(W).cast(), _mm512_xor_si512(b, wide));
            _mm512_storeu_si512(p.add(2 * W).cast(), _mm512_xor_si512(c, wide));
            _mm512_storeu_si512(p.add(3 * W).cast(), _mm512_xor_si512(d, wide));
        }
    }
    for vector in quads.into_remainder().chunks_exact_mut(W) {
        let p = vector.as_mut_ptr();
        // SAFETY: the caller guarantees AVX-512 F. One 64-byte unaligned
        // load and store at the start of a chunk that `chunks_exact_mut`
        // made exactly 64 bytes long: in bounds.
        unsafe {
            _mm512_storeu_si512(
                p.cast(),
                _mm512_xor_si512(_mm512_loadu_si512(p.cast()), wide),
            )
        };
    }
    tail_steps(tail, key);
}

/// Masks `head` (shorter than 64 bytes; ending on a 64-byte boundary,
/// unless it is the whole buffer) in steps of 1, 2, 4, 8, 16 and 32 bytes, in that order, so
/// that each step starts aligned to its own size.
#[inline]
#[target_feature(enable = "avx512f")]
fn head_steps(head: &mut [u8], key: u32) {
    debug_assert!(head.len() < W);
    let (small, big) = head.split_at_mut(head.len() % 32);
    steps_up(small, key);
    if !big.is_empty() {
        step32(big, shift_key(key, small.len()));
    }
}

/// Masks `tail` (shorter than 64 bytes) in steps of 32, 16, 8, 4, 2 and 1
/// bytes, in that order.
#[inline]
#[target_feature(enable = "avx512f")]
fn tail_steps(tail: &mut [u8], key: u32) {
    debug_assert!(tail.len() < W);
    let (big, small) = tail.split_at_mut(tail.len() & 32);
    if !big.is_empty() {
        step32(big, key);
    }
    steps_down(small, key);
}

/// Masks `part` (exactly 32 bytes) with one 32-byte load and store.
#[inline]
#[target_feature(enable = "avx2")]
fn step32(part: &mut [u8], key: u32) {
    let part: &mut [u8; 32] = part.try_into().expect("a 32-byte step");
    let p = part.as_mut_ptr();
    // SAFETY: AVX2 is enabled for this function (safe to call from the
    // AVX-512 kernel, whose features include it). One 32-byte unaligned
    // (`loadu`/`storeu`) load and store of `part`, which is 32 bytes long.
    unsafe {
        let v = _mm256_loadu_si256(p.cast());
        _mm256_storeu_si256(p.cast(), _mm256_xor_si256(v, _mm256_set1_epi32(key as i32)));
    }
}
