//! Masking (RFC 6455 §5.3): `payload[i] ^= key[(offset + i) % 4]`.
//!
//! The hot path of every server: each byte a client sends is masked. This
//! module is the one place for speed work and the only `unsafe` in the
//! crate; [`apply_mask_scalar`] stays as the byte-at-a-time reference that
//! every faster path is tested against.
//!
//! # Paths
//! * `portable::words`: safe code, eight bytes at a time through a `u64`.
//!   It serves every buffer shorter than `SIMD_MIN` (128 bytes; inlined, no
//!   dispatch), every target without a SIMD path, and the `no-simd` feature.
//! * x86 and x86-64 with SSE2 (every x86-64): the widest of three kernels
//!   the CPU has, detected at run time once and cached (`cpu`), which needs
//!   the `std` feature (without it, only what the build enables, e.g. with
//!   `-C target-cpu=native`): `avx512` (AVX-512 F), 64 bytes at a
//!   time; else `x86::avx2`, 32 bytes; else `x86::sse2`, 16 bytes, which
//!   every x86-64 has.
//! * `neon` (aarch64, where NEON is baseline): 16 bytes at a time, chosen at
//!   compile time.
//!
//! Every path splits a buffer the same way (`portable::split`; `avx512`
//! has its own with 64-byte blocks): a head of 1-, 2-, 4-, 8- and 16-byte
//! steps (and 32 for `avx512`) up to a block boundary (only for buffers of
//! 256 bytes and more, 320 for `avx512`, where straddling cache lines would
//! cost more than the steps), a body of whole blocks (a `u64`, or a 16-,
//! 32- or 64-byte vector), and a tail of the same steps in decreasing order.
//! No byte is written twice: a load that spans two earlier, overlapping
//! stores (the caller reading the payload just unmasked) cannot be
//! forwarded from the store buffer and stalls until they retire.
//!
//! Under Miri (which cannot run AVX2 or AVX-512 instructions, and reports
//! neither to run-time detection) the tests cover the word loop, the SSE2
//! kernel and the dispatch to it; the AVX2 and AVX-512 kernels are covered
//! by the same tests run natively, on every length 0–640 × alignment 0–63
//! × key phase (`tests.rs`), on any CPU that has them.
//!
//! The key travels as a `u32` in memory order (`u32::from_ne_bytes`),
//! already rotated to the phase of the first byte it is applied to.
#![allow(unsafe_code)]

#[cfg(all(
    not(feature = "no-simd"),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
mod avx512;
#[cfg(all(
    not(feature = "no-simd"),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
mod cpu;
#[cfg(all(
    not(feature = "no-simd"),
    target_arch = "aarch64",
    target_feature = "neon"
))]
mod neon;
mod portable;
#[cfg(test)]
mod tests;
#[cfg(all(
    not(feature = "no-simd"),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
mod x86;

use portable::{shift_key, words};

// `long`: the path for buffers of `SIMD_MIN` bytes and more on this target.
#[cfg(all(
    not(feature = "no-simd"),
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
use cpu::dispatch as long;

#[cfg(all(
    not(feature = "no-simd"),
    target_arch = "aarch64",
    target_feature = "neon"
))]
use neon::neon as long;

#[cfg(not(all(
    not(feature = "no-simd"),
    any(
        all(
            any(target_arch = "x86", target_arch = "x86_64"),
            target_feature = "sse2"
        ),
        all(target_arch = "aarch64", target_feature = "neon")
    )
)))]
use portable::words as long;

/// Buffers shorter than this take the inlined word loop, which the compiler
/// vectorises with the target's baseline instructions (SSE2 on x86-64,
/// NEON on aarch64) and pays no call or dispatch. Measured on an AVX2 CPU
/// (BENCHMARKS.md), it is level with the AVX2 kernel from 32 to 128 bytes
/// and behind it from about 256.
const SIMD_MIN: usize = 128;

/// Masks or unmasks `buf` in place with `key`, where `buf[0]` is byte
/// `offset` of the payload (so a payload can be unmasked piece by piece as
/// it arrives). Masking and unmasking are the same operation.
///
/// Any length, alignment and offset; the widest instruction set the CPU
/// offers is used for buffers of 128 bytes and more.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = key_word(key, offset);
    if buf.len() < SIMD_MIN {
        words(buf, key);
    } else {
        long(buf, key);
    }
}

/// The reference implementation: one byte at a time, exactly as §5.3 states it.
pub fn apply_mask_scalar(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

/// The key as a memory-order word, rotated so that its first byte is the
/// one applied to payload byte `offset`.
#[inline]
fn key_word(key: [u8; 4], offset: usize) -> u32 {
    shift_key(u32::from_ne_bytes(key), offset)
}
