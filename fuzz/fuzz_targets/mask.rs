//! `apply_mask` (the hot path, and the crate's only `unsafe` once it uses
//! SIMD) against the byte-at-a-time `apply_mask_scalar`, at any length, key,
//! payload offset and buffer alignment (0-63), never writing outside its
//! buffer; masking in two pieces equals masking at once; masking twice
//! restores the input.
//!
//! Input: 4 key bytes, 2 offset bytes (LE), 1 alignment byte (% 64), 1 cut
//! byte, payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::frame::{apply_mask, apply_mask_scalar};

fuzz_target!(|data: &[u8]| {
    let [k0, k1, k2, k3, o0, o1, align, cut, payload @ ..] = data else {
        return;
    };
    let key = [*k0, *k1, *k2, *k3];
    let offset = usize::from(u16::from_le_bytes([*o0, *o1]));
    // Up to a cache line of misalignment; the allocation ends exactly where
    // the payload does, so AddressSanitizer sees any write past it, and the
    // bytes before it must stay as they were.
    let align = usize::from(*align % 64);
    let mut buf = vec![0xA5u8; align + payload.len()];
    buf[align..].copy_from_slice(payload);
    apply_mask(&mut buf[align..], key, offset);
    let mut slow = payload.to_vec();
    apply_mask_scalar(&mut slow, key, offset);
    assert_eq!(&buf[align..], &slow[..]);
    assert!(
        buf[..align].iter().all(|&b| b == 0xA5),
        "apply_mask wrote before its buffer"
    );

    let mut pieces = payload.to_vec();
    let cut = usize::from(*cut) % (payload.len() + 1);
    let (a, b) = pieces.split_at_mut(cut);
    apply_mask(a, key, offset);
    apply_mask(b, key, offset + cut);
    assert_eq!(pieces, slow);

    apply_mask(&mut pieces, key, offset);
    assert_eq!(pieces, payload);
});
