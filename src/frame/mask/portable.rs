//! The scalar word loop and the power-of-two steps the wide paths use for
//! their ends: safe code, any target. The word loop is the whole of masking
//! under the `no-simd` feature and on targets without a SIMD path, and the
//! inlined path for buffers under `SIMD_MIN` (128 bytes) everywhere.
//!
//! No path here or in the wide kernels writes a byte twice: a store that
//! overlaps an earlier one would make the next load of those bytes (the
//! caller reading the payload, or masking it again) wait for both stores to
//! retire instead of being forwarded from one.

/// `key` (a memory-order word) as seen `n` bytes further into the payload.
#[inline]
pub(crate) fn shift_key(key: u32, n: usize) -> u32 {
    let bits = 8 * (n % 4) as u32;
    if cfg!(target_endian = "little") {
        key.rotate_right(bits)
    } else {
        key.rotate_left(bits)
    }
}

/// Buffers this long or longer are first brought to a block boundary, so
/// that no block access straddles a cache line (or, for the word loop, is
/// unaligned at all, which some targets emulate slowly). Below it, the few
/// straddling accesses cost less than the steps that avoid them.
const ALIGN_MIN: usize = 256;

/// Splits `buf` for `W`-byte blocks into a head of fewer than `W` bytes that
/// ends on a `W`-byte boundary (empty under `ALIGN_MIN` bytes), a body of
/// whole blocks and a tail of fewer than `W` bytes, and returns them with
/// the key word for the body. The tail takes the body's key word too: whole
/// blocks of a multiple of 4 bytes leave the phase unchanged.
#[inline(always)]
pub(crate) fn split<const W: usize>(
    buf: &mut [u8],
    key: u32,
) -> (&mut [u8], &mut [u8], &mut [u8], u32) {
    const { assert!(W.is_multiple_of(4) && W <= 32 && W <= ALIGN_MIN) };
    let head = if buf.len() >= ALIGN_MIN {
        buf.as_ptr().addr().wrapping_neg() % W
    } else {
        0
    };
    let (head, rest) = buf.split_at_mut(head);
    let whole = rest.len() - rest.len() % W;
    let (body, tail) = rest.split_at_mut(whole);
    let key = shift_key(key, head.len());
    (head, body, tail, key)
}

/// The scalar word loop: eight bytes at a time through a `u64` (the compiler
/// may vectorise it with the target's baseline instructions), with at most
/// five power-of-two steps at either end; any length. `key` is the
/// memory-order key word for `buf[0]`.
#[inline]
pub(crate) fn words(buf: &mut [u8], key: u32) {
    let (head, body, tail, body_key) = split::<8>(buf, key);
    steps_up(head, key);
    let wide = wide(body_key);
    for chunk in body.chunks_exact_mut(8) {
        let word = u64::from_ne_bytes(array(chunk)) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    steps_down(tail, body_key);
}

/// Masks `buf` (shorter than 32 bytes) in at most five steps of 16, 8, 4, 2
/// and 1 bytes, in that order: after whole blocks, each step starts
/// aligned to its own size.
#[inline(always)]
pub(crate) fn steps_down(mut buf: &mut [u8], mut key: u32) {
    debug_assert!(buf.len() < 32);
    if buf.len() & 16 != 0 {
        buf = step::<16>(buf, key);
    }
    if buf.len() & 8 != 0 {
        buf = step::<8>(buf, key);
    }
    if buf.len() & 4 != 0 {
        buf = step::<4>(buf, key);
    }
    if buf.len() & 2 != 0 {
        buf = step::<2>(buf, key);
        key = shift_key(key, 2);
    }
    if buf.len() & 1 != 0 {
        step::<1>(buf, key);
    }
}

/// Masks `buf` (shorter than 32 bytes) in at most five steps of 1, 2, 4, 8
/// and 16 bytes, in that order: when `buf` ends on a block boundary, each
/// step starts aligned to its own size.
#[inline(always)]
pub(crate) fn steps_up(mut buf: &mut [u8], mut key: u32) {
    debug_assert!(buf.len() < 32);
    if buf.is_empty() {
        // Every buffer under `ALIGN_MIN` bytes, and every aligned one.
        return;
    }
    if buf.len() & 1 != 0 {
        buf = step::<1>(buf, key);
        key = shift_key(key, 1);
    }
    if buf.len() & 2 != 0 {
        buf = step::<2>(buf, key);
        key = shift_key(key, 2);
    }
    if buf.len() & 4 != 0 {
        buf = step::<4>(buf, key);
    }
    if buf.len() & 8 != 0 {
        buf = step::<8>(buf, key);
    }
    if buf.len() & 16 != 0 {
        step::<16>(buf, key);
    }
}

/// Masks the first `N` (1, 2, 4, 8 or 16) bytes of `buf` with one load and
/// one store, and returns the rest. Removing a length's set bit from it
/// leaves its other bits as they were, so the steps above can test each bit
/// of what remains.
#[inline(always)]
fn step<const N: usize>(buf: &mut [u8], key: u32) -> &mut [u8] {
    let (chunk, rest) = buf.split_at_mut(N);
    match N {
        1 => chunk[0] ^= key.to_ne_bytes()[0],
        2 => {
            let k = key.to_ne_bytes();
            let v = u16::from_ne_bytes(array(chunk)) ^ u16::from_ne_bytes([k[0], k[1]]);
            chunk.copy_from_slice(&v.to_ne_bytes());
        }
        4 => {
            let v = u32::from_ne_bytes(array(chunk)) ^ key;
            chunk.copy_from_slice(&v.to_ne_bytes());
        }
        8 => {
            let v = u64::from_ne_bytes(array(chunk)) ^ wide(key);
            chunk.copy_from_slice(&v.to_ne_bytes());
        }
        16 => {
            let wide = u128::from(wide(key));
            let v = u128::from_ne_bytes(array(chunk)) ^ (wide | (wide << 64));
            chunk.copy_from_slice(&v.to_ne_bytes());
        }
        _ => unreachable!("steps are powers of two up to 16"),
    }
    rest
}

/// Two copies of the key word, in memory order whatever the endianness.
#[inline(always)]
fn wide(key: u32) -> u64 {
    u64::from(key) | (u64::from(key) << 32)
}

/// The first `N` bytes of `bytes` as an array.
#[inline(always)]
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}
