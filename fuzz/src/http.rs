//! Helpers for the handshake targets.

use rfc6455::handshake::{Limits, Parsed, Response};

/// Decodes standard base64 with padding (RFC 4648 §4); `None` for anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::new();
    for (i, quad) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let got = n.to_be_bytes();
        out.extend_from_slice(&got[1..4 - pad]);
    }
    Some(out)
}

/// The split point the handshake targets use: the input's last two bytes
/// (LE) modulo its length + 1, so a real capture is an input as it is.
pub fn split_point(data: &[u8]) -> usize {
    match data {
        [.., a, b] => usize::from(u16::from_le_bytes([*a, *b])) % (data.len() + 1),
        _ => 0,
    }
}

/// Parses a complete response the way a client would, or panics.
pub fn must_parse_response(bytes: &[u8], what: &str) -> Response {
    match Response::parse(bytes, &Limits::default()) {
        Ok(Parsed::Complete(response, n)) => {
            let body = response.header_str("Content-Length").map_or(0, |l| {
                l.parse::<usize>().expect("Content-Length is a number")
            });
            assert_eq!(
                n + body,
                bytes.len(),
                "{what}: head and Content-Length do not add up"
            );
            response
        }
        other => panic!(
            "{what} does not parse as an HTTP response: {other:?}\n{}",
            String::from_utf8_lossy(bytes)
        ),
    }
}
