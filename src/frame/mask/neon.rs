//! aarch64: NEON, 16 bytes at a time. NEON is baseline on aarch64, so the
//! choice is made at compile time (this module exists only when the target
//! enables it) and costs nothing at run time.
#![allow(unsafe_code)]

use core::arch::aarch64::{veorq_u8, vld1q_u8, vst1q_u8};

use super::portable::{split, steps_down, steps_up, words};

/// Masks `buf` (any length) 16 bytes at a time (one load, xor and store per
/// vector; the compiler unrolls the loop); shorter buffers take `words`.
pub(super) fn neon(buf: &mut [u8], key: u32) {
    const W: usize = 16;
    if buf.len() < W {
        return words(buf, key);
    }
    let (head, body, tail, body_key) = split::<W>(buf, key);
    steps_up(head, key);
    // Four copies of the key word in memory order, so that a plain load
    // yields the right lanes whatever the endianness.
    let k = body_key.to_ne_bytes();
    let lanes: [u8; W] = core::array::from_fn(|i| k[i % 4]);
    // SAFETY: NEON is enabled at compile time (this module's cfg). Every
    // load and store is one 16-byte access (`vld1q_u8`/`vst1q_u8`: byte
    // alignment only): of `lanes` (16 bytes), or at the start of a chunk
    // that `chunks_exact_mut` made exactly 16 bytes long, through the
    // pointer of that chunk's own `&mut`; so every access is in bounds.
    unsafe {
        let key = vld1q_u8(lanes.as_ptr());
        for vector in body.chunks_exact_mut(W) {
            let p = vector.as_mut_ptr();
            vst1q_u8(p, veorq_u8(vld1q_u8(p), key));
        }
    }
    steps_down(tail, body_key);
}
