//! The streams under test: frames with every header field under our control,
//! plans of labelled pieces, their encoding and how they are cut into reads.

use proptest::sample::Index;
use rfc6455::Role;
use rfc6455::frame::apply_mask_scalar;

use crate::driver::hex;

/// Streams up to this size may be fed byte by byte to wsproto (larger ones
/// get random chunk sizes: wsproto costs microseconds per call).
pub(crate) const BYTEWISE_MAX: usize = 1024;

// ---- frames and streams ---------------------------------------------------------

/// How a frame writes its payload length.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Len {
    /// The minimal form (§5.2).
    Minimal,
    /// Always the 16-bit form (non-minimal below 126).
    Ext16,
    /// Always the 64-bit form (non-minimal up to 65535).
    Ext64,
    /// The header declares this length, whatever the payload that follows.
    Declared(u64),
}

/// One frame of a generated stream, every header field under our control.
#[derive(Clone)]
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) rsv: u8,
    pub(crate) opcode: u8,
    /// Masked the wrong way for the receiver's role (§5.1).
    pub(crate) wrong_mask: bool,
    pub(crate) len: Len,
    pub(crate) payload: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.payload[..self.payload.len().min(32)];
        write!(
            f,
            "Frame(fin={} rsv={} op={:#x}{} {:?} {}{})",
            u8::from(self.fin),
            self.rsv,
            self.opcode,
            if self.wrong_mask { " WRONG-MASK" } else { "" },
            self.len,
            hex(shown),
            if shown.len() < self.payload.len() {
                format!("..({} bytes)", self.payload.len())
            } else {
                String::new()
            }
        )
    }
}

pub(crate) fn frame(fin: bool, opcode: u8, payload: Vec<u8>) -> Frame {
    Frame {
        fin,
        rsv: 0,
        opcode,
        wrong_mask: false,
        len: Len::Minimal,
        payload,
    }
}

/// A labelled run of frames: one thing the generator decided to send.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub(crate) what: &'static str,
    pub(crate) frames: Vec<Frame>,
}

pub(crate) fn piece(what: &'static str, frames: Vec<Frame>) -> Piece {
    Piece { what, frames }
}

/// How the stream is cut into `receive` calls: sizes taken in turn, cycled.
#[derive(Debug, Clone)]
pub(crate) enum Chunking {
    Whole,
    Bytewise,
    Sizes(Vec<usize>),
}

/// One generated case, before encoding.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) pieces: Vec<Piece>,
    /// Bytes XORed into the encoded stream (position, value).
    pub(crate) flips: Vec<(Index, u8)>,
    /// Cut the stream short here.
    pub(crate) truncate: Option<Index>,
    /// Seed of the masking keys.
    pub(crate) keys: u64,
    pub(crate) chunking: Chunking,
    /// Chunk sizes for the extra chunkings on our side.
    pub(crate) other_sizes: Vec<usize>,
    /// The permessage-deflate agreement both receivers use, if any.
    pub(crate) deflate: Option<Agreement>,
}

/// A permessage-deflate agreement (RFC 7692 §7.1), windows 9–15 (wsproto
/// refuses 8). Its own type so this file builds without the `deflate` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreement {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: u8,
    pub(crate) client_max_window_bits: u8,
}

impl Agreement {
    /// The window and the no-context-takeover flag of what `receiver`
    /// receives: the peer's side of the agreement.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    pub(crate) fn peer_side(&self, receiver: Role) -> (u8, bool) {
        match receiver {
            Role::Server => (self.client_max_window_bits, self.client_no_context_takeover),
            Role::Client => (self.server_max_window_bits, self.server_no_context_takeover),
        }
    }
}

pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes `f` as the peer of a `receiver` sends it, with masking key `key`
/// when it is masked.
pub(crate) fn encode_frame(f: &Frame, receiver: Role, key: [u8; 4], out: &mut Vec<u8>) {
    let masked = (receiver == Role::Server) != f.wrong_mask;
    out.push((u8::from(f.fin) << 7) | ((f.rsv & 7) << 4) | (f.opcode & 0xF));
    let mask_bit = if masked { 0x80 } else { 0 };
    let n = f.payload.len() as u64;
    match f.len {
        Len::Minimal | Len::Declared(_) => {
            let n = if let Len::Declared(d) = f.len { d } else { n };
            match n {
                0..=125 => out.push(mask_bit | n as u8),
                126..=0xFFFF => {
                    out.push(mask_bit | 126);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                _ => {
                    out.push(mask_bit | 127);
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
        Len::Ext16 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        Len::Ext64 => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    let start = out.len() + if masked { 4 } else { 0 };
    if masked {
        out.extend_from_slice(&key);
    }
    out.extend_from_slice(&f.payload);
    if masked {
        apply_mask_scalar(&mut out[start..], key, 0);
    }
}

impl Plan {
    pub(crate) fn encode(&self, role: Role) -> Vec<u8> {
        let mut out = Vec::new();
        let mut keys = self.keys;
        let zero_keys = self.keys.is_multiple_of(8);
        for f in self.pieces.iter().flat_map(|p| &p.frames) {
            let key = if zero_keys {
                [0; 4]
            } else {
                (splitmix(&mut keys) as u32).to_be_bytes()
            };
            encode_frame(f, role, key, &mut out);
        }
        if !out.is_empty() {
            for (at, x) in &self.flips {
                let i = at.index(out.len());
                out[i] ^= x;
            }
        }
        if let Some(at) = &self.truncate {
            out.truncate(at.index(out.len() + 1));
        }
        out
    }

    pub(crate) fn sizes(&self, len: usize) -> Vec<usize> {
        match &self.chunking {
            Chunking::Whole => vec![len.max(1)],
            Chunking::Bytewise if len <= BYTEWISE_MAX => vec![1],
            Chunking::Bytewise => self.other_sizes.iter().map(|s| s * 64).collect(),
            Chunking::Sizes(sizes) => sizes.clone(),
        }
    }
}

/// `stream` cut into pieces of `sizes` (cycled).
pub(crate) fn split<'a>(mut stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut sizes = sizes.iter().map(|s| (*s).max(1)).cycle();
    while !stream.is_empty() {
        let n = sizes.next().unwrap_or(usize::MAX).min(stream.len());
        let (piece, rest) = stream.split_at(n);
        out.push(piece);
        stream = rest;
    }
    out
}
