//! x86 and x86-64: the SSE2 kernel (16 bytes at a time; this module is
//! compiled only where SSE2 is enabled, as on every x86-64) and the AVX2
//! kernel (32 bytes), which `cpu::dispatch` calls when the CPU has AVX2.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86")]
use core::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;

use super::portable::{split, steps_down, steps_up, words};

/// Masks `$body` (whole `$w`-byte vectors) with the key word `$key`, one
/// load, xor and store per vector; the compiler unrolls the loop, and
/// measured faster than grouping four loads before four stores. Expands to
/// unsafe intrinsic calls: the caller wraps it in `unsafe` with the target
/// feature guaranteed.
///
/// Memory safety: every load and store is one unaligned (`loadu`/`storeu`:
/// no alignment requirement) access of `$w` bytes at the start of a chunk
/// that `chunks_exact_mut` made exactly `$w` bytes long, through the pointer
/// of that chunk's own `&mut`; so every access is in bounds of its chunk.
macro_rules! vectors {
    ($body:ident, $key:ident, $w:literal, $splat:ident, $load:ident, $xor:ident, $store:ident) => {{
        const W: usize = $w;
        let key = $splat($key as i32);
        for vector in $body.chunks_exact_mut(W) {
            let p = vector.as_mut_ptr();
            $store(p.cast(), $xor($load(p.cast()), key));
        }
    }};
}

/// Masks `buf` (any length) 16 bytes at a time; shorter buffers take `words`.
pub(super) fn sse2(buf: &mut [u8], key: u32) {
    if buf.len() < 16 {
        return words(buf, key);
    }
    let (head, body, tail, body_key) = split::<16>(buf, key);
    steps_up(head, key);
    // SAFETY: this module is compiled only where SSE2 is enabled at compile
    // time; the macro's own comment covers the memory accesses.
    unsafe {
        vectors!(
            body,
            body_key,
            16,
            _mm_set1_epi32,
            _mm_loadu_si128,
            _mm_xor_si128,
            _mm_storeu_si128
        )
    }
    steps_down(tail, body_key);
}

/// Masks `buf` (any length) 32 bytes at a time; shorter buffers take `sse2`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avx2(buf: &mut [u8], key: u32) {
    if buf.len() < 32 {
        return sse2(buf, key);
    }
    let (head, body, tail, body_key) = split::<32>(buf, key);
    steps_up(head, key);
    // SAFETY: the caller guarantees AVX2; the macro's own comment covers the
    // memory accesses.
    unsafe {
        vectors!(
            body,
            body_key,
            32,
            _mm256_set1_epi32,
            _mm256_loadu_si256,
            _mm256_xor_si256,
            _mm256_storeu_si256
        )
    }
    steps_down(tail, body_key);
}
