//! The wire format as the harness reads and writes it, written from RFC 6455
//! §5.2 without the crate's decoder, so the two can be compared.

use rfc6455::ProtocolError;

/// The opcodes §5.2 defines; every other 4-bit value is reserved.
pub const DEFINED_OPCODES: [u8; 6] = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA];

/// A frame header as the reference decoder reads it. `opcode` is the raw
/// 4-bit value, so reserved opcodes are representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// The header's own length in bytes.
    pub len: usize,
}

impl RawHeader {
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

/// Reads the header at the start of `buf`: `None` when the bytes stop before
/// it ends, and every context-free rule (§5.2, §5.5) the bytes present break.
pub fn ref_decode(buf: &[u8]) -> (Option<RawHeader>, Vec<ProtocolError>) {
    let mut broken = Vec::new();
    let [b0, b1, rest @ ..] = buf else {
        return (None, broken);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0x7;
    let opcode = b0 & 0x0F;
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7F;
    if !DEFINED_OPCODES.contains(&opcode) {
        broken.push(ProtocolError::ReservedOpcode(opcode));
    }
    if opcode & 0x8 != 0 {
        if !fin {
            broken.push(ProtocolError::FragmentedControlFrame);
        }
        if len7 > 125 {
            broken.push(ProtocolError::ControlFrameTooLong);
        }
    }
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    if rest.len() < ext {
        return (None, broken);
    }
    let payload_len = match len7 {
        126 => {
            let n = u64::from(u16::from_be_bytes([rest[0], rest[1]]));
            if n < 126 {
                broken.push(ProtocolError::NonMinimalLength);
            }
            n
        }
        127 => {
            let n = u64::from_be_bytes(rest[..8].try_into().unwrap());
            if n >> 63 != 0 {
                broken.push(ProtocolError::InvalidLength);
            } else if n <= 0xFFFF {
                broken.push(ProtocolError::NonMinimalLength);
            }
            n
        }
        n => u64::from(n),
    };
    let key_len = if masked { 4 } else { 0 };
    if rest.len() < ext + key_len {
        return (None, broken);
    }
    let mask = masked.then(|| rest[ext..ext + 4].try_into().unwrap());
    let header = RawHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len,
        len: 2 + ext + key_len,
    };
    (Some(header), broken)
}

/// XOR with the masking key, one byte at a time (§5.3).
pub fn unmask(payload: &mut [u8], key: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Builds a frame with every field under the caller's control. `opcode` and
/// `rsv` are the raw wire values; `nonminimal` writes the length in a longer
/// form than needed (when there is one).
pub fn build_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    nonminimal: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push((u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0xF));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    match (n, nonminimal) {
        (0..=125, false) => out.push(mask_bit | n as u8),
        (0..=0xFFFF, false) | (0..=125, true) => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        unmask(&mut out[start..], key);
    }
    out
}

/// Whether a close code may appear on the wire (§7.4.1, §7.4.2, and the
/// IANA registry for 1012-1014).
pub fn close_code_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
