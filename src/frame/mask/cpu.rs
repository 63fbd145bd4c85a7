//! x86 and x86-64: which kernel this CPU runs, known at compile time where
//! the build enables the instructions (e.g. `-C target-cpu=native`), else
//! detected on the first call (through std, so only with the `std`
//! feature) and cached; and the dispatch to that kernel.
//!
//! The kernels themselves (`x86::sse2`, `x86::avx2`, `avx512::avx512`)
//! have no feature switches of their own, so that the benchmarks can
//! compile them from source and time each one.
#![allow(unsafe_code)]

#[cfg(feature = "std")]
use core::sync::atomic::{AtomicU8, Ordering};

use super::avx512::avx512;
use super::x86::{avx2, sse2};

/// From this length the AVX-512 kernel beat the AVX2 one at every
/// alignment measured (0, 1, 16 and 48 bytes past a line, on Zen 5, in
/// both the interleaved bench and a probe). At 384 and 320 bytes the two
/// harnesses disagreed on the winner (by 5-10 % either way), at 256 bytes
/// AVX-512 lost at most alignments and at 128 at all (BENCHMARKS.md).
pub(super) const AVX512_MIN: usize = 8 * 64;

/// The instruction sets a kernel needs, in increasing order: each level's
/// CPUs have every lower level's instructions too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    /// Every x86-64 (this module is compiled only where SSE2 is enabled).
    Sse2 = 1,
    /// AVX2.
    Avx2 = 2,
    /// AVX-512 F (with AVX2).
    Avx512 = 3,
}

/// The widest path this CPU runs, for a buffer of any length (`apply_mask`
/// passes `SIMD_MIN` bytes or more). Kept out of line, so that the inlined
/// `apply_mask` holds only the short path and a call.
///
/// Where the CPU has AVX-512, buffers shorter than `AVX512_MIN` still take
/// the AVX2 kernel, which measured faster there.
#[inline(never)]
pub(super) fn dispatch(buf: &mut [u8], key: u32) {
    match level() {
        // SAFETY: `level` has just confirmed AVX-512 F.
        Level::Avx512 if buf.len() >= AVX512_MIN => unsafe { avx512(buf, key) },
        // SAFETY: `level` has just confirmed AVX2 (AVX-512 CPUs have it).
        Level::Avx512 | Level::Avx2 => unsafe { avx2(buf, key) },
        Level::Sse2 => sse2(buf, key),
    }
}

/// The widest level this CPU has. A constant where the build enables
/// AVX-512 F, or (without `std`, which detection needs) whatever the
/// build enables; otherwise detected on the first call and cached in one
/// relaxed atomic byte (0 = not yet known, else the level's value), where
/// racing first calls compute and store the same answer.
#[inline]
pub(super) fn level() -> Level {
    if cfg!(target_feature = "avx512f") {
        return Level::Avx512;
    }
    #[cfg(feature = "std")]
    return match LEVEL.load(Ordering::Relaxed) {
        0 => detect(),
        1 => Level::Sse2,
        2 => Level::Avx2,
        _ => Level::Avx512,
    };
    #[cfg(not(feature = "std"))]
    if cfg!(target_feature = "avx2") {
        Level::Avx2
    } else {
        Level::Sse2
    }
}

#[cfg(feature = "std")]
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// The first call's slow path: asks the CPU (through std) and caches it.
/// AVX-512 is taken only with AVX2 beside it, which every AVX-512 CPU has
/// and which the compiler assumes of code built for AVX-512 F.
#[cfg(feature = "std")]
#[cold]
#[inline(never)]
fn detect() -> Level {
    let avx2 = std::is_x86_feature_detected!("avx2");
    let level = if avx2 && std::is_x86_feature_detected!("avx512f") {
        Level::Avx512
    } else if avx2 {
        Level::Avx2
    } else {
        Level::Sse2
    };
    LEVEL.store(level as u8, Ordering::Relaxed);
    level
}
