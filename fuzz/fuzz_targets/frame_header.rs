//! `FrameHeader::decode` on arbitrary bytes: never panics, agrees with an
//! independent decoder written from RFC 6455 §5.2, and a decoded header
//! encodes back to the very bytes it came from (decode only accepts minimal
//! lengths) and decodes to itself again. Then a header built from the input
//! round-trips through `encode` and `decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use rfc6455_fuzz::wire::ref_decode;

const OPCODES: [OpCode; 6] = [
    OpCode::Continuation,
    OpCode::Text,
    OpCode::Binary,
    OpCode::Close,
    OpCode::Ping,
    OpCode::Pong,
];

fuzz_target!(|data: &[u8]| {
    let (reference, broken) = ref_decode(data);
    match FrameHeader::decode(data) {
        Ok(Some((h, n))) => {
            assert!(
                broken.is_empty(),
                "accepted a header that breaks {broken:?}"
            );
            let r = reference.expect("accepted an incomplete header");
            assert_eq!(
                (h.fin, h.rsv, h.opcode.as_u8(), h.mask, h.payload_len, n),
                (r.fin, r.rsv, r.opcode, r.mask, r.payload_len, r.len)
            );
            assert_eq!(n, h.encoded_len());
            let mut out = [0; MAX_HEADER_LEN];
            let m = h.encode(&mut out);
            assert_eq!(&out[..m], &data[..n], "re-encoding changed the bytes");
            assert_eq!(FrameHeader::decode(&out[..m]), Ok(Some((h, m))));
            for cut in 0..n {
                assert_eq!(
                    FrameHeader::decode(&data[..cut]),
                    Ok(None),
                    "prefix of {cut} bytes"
                );
            }
        }
        Ok(None) => assert!(
            reference.is_none() && broken.is_empty(),
            "incomplete, but the reference says {reference:?} {broken:?}"
        ),
        Err(e) => assert!(broken.contains(&e), "{e:?}, the reference says {broken:?}"),
    }

    // A header built from the input: encode, then decode.
    let [b0, b1, b2, k0, k1, k2, k3, l @ ..] = data else {
        return;
    };
    let Some(l) = l.get(..8) else { return };
    let raw = u64::from_le_bytes(l.try_into().unwrap());
    let payload_len = match b2 >> 1 & 3 {
        0 => raw % 126,
        1 => 126 + raw % (0x1_0000 - 126),
        2 => 0x1_0000 + raw % ((1 << 63) - 0x1_0000),
        _ => raw & ((1 << 63) - 1),
    };
    let h = FrameHeader {
        fin: b0 & 1 != 0,
        rsv: b0 >> 1 & 7,
        opcode: OPCODES[usize::from(*b1) % 6],
        mask: (b2 & 1 != 0).then_some([*k0, *k1, *k2, *k3]),
        payload_len,
    };
    let mut out = [0; MAX_HEADER_LEN];
    let n = h.encode(&mut out);
    assert_eq!(n, h.encoded_len());
    let decoded = FrameHeader::decode(&out[..n]);
    if h.opcode.is_control() && (!h.fin || h.payload_len > 125) {
        assert!(decoded.is_err(), "{h:?} decoded as {decoded:?}");
    } else {
        assert_eq!(decoded, Ok(Some((h, n))));
    }
});
