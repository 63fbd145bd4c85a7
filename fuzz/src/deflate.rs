//! permessage-deflate (RFC 7692) as the harness does it, with flate2's raw
//! deflate and none of the crate's codec: the agreement a connection input
//! chooses, the peer's compressor that builds compressed messages for
//! `connection_frames`, and the reference receiver's decompressor.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{ProtocolError, Role};

/// The four bytes a sync flush ends with, removed by the sender and put
/// back by the receiver (§7.2.1, §7.2.2).
pub const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The permessage-deflate agreement of a connection input (the last bytes
/// of its `Setup`): as if the handshake had agreed on these parameters.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateSetup {
    /// Below 0x40: permessage-deflate off (RSV1 is then a protocol error).
    pub on: u8,
    /// Agreed `server_max_window_bits` = 8 + this % 8.
    pub server_bits: u8,
    /// Agreed `client_max_window_bits` = 8 + this % 8.
    pub client_bits: u8,
    /// Bit 0: `server_no_context_takeover`; bit 1: `client_no_context_takeover`.
    pub flags: u8,
    /// This end's own window limit (`DeflateConfig::*_max_window_bits` for
    /// the direction it compresses) = 8 + this % 8; below the agreed window
    /// it compresses with the smaller one, at 8 not at all.
    pub own_bits: u8,
    /// Compression level = this % 10.
    pub level: u8,
    /// `DeflateConfig::threshold`.
    pub threshold: u8,
}

impl DeflateSetup {
    pub fn params(&self) -> Option<DeflateParams> {
        (self.on >= 0x40).then_some(DeflateParams {
            server_no_context_takeover: self.flags & 1 != 0,
            client_no_context_takeover: self.flags & 2 != 0,
            server_max_window_bits: Some(8 + self.server_bits % 8),
            client_max_window_bits: 8 + self.client_bits % 8,
        })
    }

    /// This end's policy in `role`: its own window limit, level, threshold.
    pub fn config(&self, role: Role) -> DeflateConfig {
        let own = 8 + self.own_bits % 8;
        let (server, client) = match role {
            Role::Server => (own, 15),
            Role::Client => (15, own),
        };
        DeflateConfig::default()
            .max_window_bits(server, client)
            .level(u32::from(self.level % 10))
            .threshold(usize::from(self.threshold))
    }
}

/// The window (bits) `role` compresses with, or `None` if it sends nothing
/// compressed: the agreed window for its direction, lowered by its own
/// limit; 8 bits means no compression (zlib's raw deflate has no 256-byte
/// window). The documentation of `DeflateConfig` promises both.
pub fn send_bits(role: Role, params: &DeflateParams, config: &DeflateConfig) -> Option<u8> {
    let bits = match role {
        Role::Server => params
            .server_window_bits()
            .min(config.server_max_window_bits),
        Role::Client => params
            .client_max_window_bits
            .min(config.client_max_window_bits),
    };
    (bits >= 9).then_some(bits)
}

/// The window and the no-context-takeover flag of what `receiver` receives:
/// the peer's side of the agreement. The window is at least 9 bits (an
/// 8-bit peer stays within it).
pub fn recv_side(receiver: Role, params: &DeflateParams) -> (u8, bool) {
    match receiver {
        Role::Server => (
            params.client_max_window_bits.max(9),
            params.client_no_context_takeover,
        ),
        Role::Client => (
            params.server_window_bits().max(9),
            params.server_no_context_takeover,
        ),
    }
}

/// Compresses `input` into `out` with `flush`, until the compressor has
/// nothing more to write.
pub fn compress_into(c: &mut Compress, mut input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let (before_in, before_out) = (c.total_in(), c.total_out());
        let status = c.compress_vec(input, out, flush).expect("compress");
        input = &input[(c.total_in() - before_in) as usize..];
        let progress = c.total_out() != before_out || c.total_in() != before_in;
        if status == Status::StreamEnd
            || (input.is_empty() && out.len() < out.capacity())
            || !progress
        {
            return;
        }
    }
}

/// A message of zero bytes (16 KiB + 1, 64 KiB, 1 MiB or 4 MiB, by
/// `len_class % 4`), compressed at level 9, trailer removed: about 1000:1.
/// Computed once. Zeros only ever match at distance 1, so a 15-bit
/// compressor (which slides its window, an instrumented loop over the whole
/// hash table, 64 times less often than a 9-bit one) writes a stream any
/// receiver window accepts; checked here by inflating it with a 9-bit window.
pub fn bomb(len_class: u8) -> &'static [u8] {
    static BOMBS: [OnceLock<Vec<u8>>; 4] = [const { OnceLock::new() }; 4];
    let class = usize::from(len_class % 4);
    let len = [16 * 1024 + 1, 64 * 1024, 1 << 20, 4 << 20][class];
    BOMBS[class].get_or_init(|| {
        let zeros = vec![0u8; len];
        let mut c = Compress::new_with_window_bits(Compression::new(9), false, 15);
        let mut out = Vec::new();
        compress_into(&mut c, &zeros, FlushCompress::Sync, &mut out);
        let mut d = Decompress::new_with_window_bits(false, 9);
        let mut back = Vec::with_capacity(len + 1);
        d.decompress_vec(&out, &mut back, FlushDecompress::Sync)
            .expect("a 9-bit window inflates the bomb");
        assert!(back == zeros && out.ends_with(&TRAILER));
        out.truncate(out.len() - 4);
        out
    })
}

/// The decompressing side of the reference receiver (RFC 7692 §7.2.2):
/// one raw inflate stream, created at the first compressed message, kept
/// across messages unless the peer agreed to no context takeover (§7.1.1),
/// and restarted after a message whose deflate stream ended (BFINAL,
/// §7.2.3.4: the rest of that message is ignored).
#[derive(Debug)]
pub struct Inflater {
    bits: u8,
    reset: bool,
    stream: Option<Decompress>,
    ended: bool,
}

impl Inflater {
    pub fn new(receiver: Role, params: &DeflateParams) -> Self {
        let (bits, reset) = recv_side(receiver, params);
        Inflater {
            bits,
            reset,
            stream: None,
            ended: false,
        }
    }

    /// Inflates `input` onto `data`, never letting it grow past `limit`
    /// bytes. Returns whether the data was a valid deflate stream so far;
    /// a caller compares `data.len()` with its limit itself.
    pub fn inflate(&mut self, mut input: &[u8], data: &mut Vec<u8>, limit: usize) -> bool {
        if self.ended {
            return true;
        }
        let bits = self.bits;
        let stream = self
            .stream
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let mut buf = vec![0u8; limit.saturating_sub(data.len())];
        let (before_in, before_out) = (stream.total_in(), stream.total_out());
        let result = stream.decompress(input, &mut buf, FlushDecompress::Sync);
        let produced = (stream.total_out() - before_out) as usize;
        input = &input[(stream.total_in() - before_in) as usize..];
        data.extend_from_slice(&buf[..produced]);
        match result {
            Err(_) => false,
            Ok(Status::StreamEnd) => {
                self.ended = true;
                true
            }
            // The output limit is reached (the caller fails the message) or
            // everything is read.
            Ok(_) => {
                debug_assert!(input.is_empty() || data.len() == limit || produced > 0);
                true
            }
        }
    }

    /// The end of a compressed message.
    pub fn end_message(&mut self) {
        if self.reset || self.ended {
            self.stream = None;
        }
        self.ended = false;
    }
}

/// The errors inflating `input` onto the open message shows: invalid
/// compressed data (1007), a message past `max` once decompressed (1009),
/// text that can no longer be valid UTF-8 (1007). Several at once when one
/// read shows them all: which one a receiver reports first is its choice.
pub fn inflate_rules(
    inflater: &mut Inflater,
    input: &[u8],
    data: &mut Vec<u8>,
    text_valid: Option<&mut usize>,
    max: usize,
) -> Vec<ProtocolError> {
    let mut broken = Vec::new();
    if !inflater.inflate(input, data, max.saturating_add(1)) {
        broken.push(ProtocolError::InvalidCompressedData);
    }
    if data.len() > max {
        broken.push(ProtocolError::MessageTooLarge {
            len: data.len() as u64,
            max,
        });
    }
    if let Some(valid) = text_valid {
        match core::str::from_utf8(&data[*valid..]) {
            Ok(_) => *valid = data.len(),
            Err(e) if e.error_len().is_none() => *valid += e.valid_up_to(),
            Err(_) => broken.push(ProtocolError::InvalidUtf8),
        }
    }
    broken
}

/// How the peer's compressor ends a message (`DeflateSpec::flush % 8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// A sync flush at the end, its `00 00 ff ff` removed (§7.2.1).
    Sync,
    /// A sync flush after every piece (each frame ends on one, as the
    /// crate's own fragments do), the last `00 00 ff ff` removed.
    SyncEachPiece,
    /// A full flush (resets the compression dictionary), tail removed.
    Full,
    /// A final block (BFINAL) and one `0x00` after it (§7.2.3.4); the
    /// compressor starts over for the next message.
    Final,
    /// A sync flush whose `00 00 ff ff` is left in (the receiver appends a
    /// second one: two empty stored blocks).
    KeepTrailer,
    /// No flush: the end of the data stays in the compressor (a truncated
    /// message; the next one starts with it).
    NoFlush,
}

impl Flush {
    pub fn from_byte(b: u8) -> Flush {
        match b % 8 {
            0..=2 => Flush::Sync,
            3 => Flush::SyncEachPiece,
            4 => Flush::Full,
            5 => Flush::Final,
            6 => Flush::KeepTrailer,
            _ => Flush::NoFlush,
        }
    }
}

/// The peer's compressor: what sends the compressed messages a
/// `connection_frames` input asks for, within the agreement (a window no
/// larger than the receiver's, context reset per message when agreed)
/// unless told to break it.
#[derive(Debug)]
pub struct Sender {
    stream: Option<Compress>,
    /// The receiver's window: the sender never uses a larger one.
    max_bits: u8,
    /// The agreement says the peer resets its context after each message.
    reset: bool,
}

impl Sender {
    pub fn new(receiver: Role, params: &DeflateParams) -> Self {
        let (max_bits, reset) = recv_side(receiver, params);
        Sender {
            stream: None,
            max_bits,
            reset,
        }
    }

    /// Compresses a message given in `pieces`: one output per piece with
    /// [`Flush::SyncEachPiece`], else one output for all. `window` picks
    /// 9..=the receiver's window for a new compressor; `keep_context`
    /// ignores an agreed no-context-takeover.
    pub fn compress(
        &mut self,
        pieces: &[&[u8]],
        flush: Flush,
        window: u8,
        level: u8,
        keep_context: bool,
    ) -> Vec<Vec<u8>> {
        let bits = 9 + window % (self.max_bits - 8);
        let c = self.stream.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(u32::from(level % 10)), false, bits)
        });
        let mut outs = Vec::new();
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            let mode = match flush {
                Flush::SyncEachPiece => FlushCompress::Sync,
                _ if !last => FlushCompress::None,
                Flush::Sync | Flush::KeepTrailer => FlushCompress::Sync,
                Flush::Full => FlushCompress::Full,
                Flush::Final => FlushCompress::Finish,
                Flush::NoFlush => FlushCompress::None,
            };
            compress_into(c, piece, mode, &mut out);
            if flush == Flush::SyncEachPiece && !last {
                outs.push(core::mem::take(&mut out));
            }
        }
        match flush {
            Flush::Final => out.push(0x00),
            Flush::KeepTrailer | Flush::NoFlush => {}
            _ => {
                if out.ends_with(&TRAILER) {
                    out.truncate(out.len() - 4);
                }
            }
        }
        outs.push(out);
        if flush == Flush::Final || (self.reset && !keep_context) {
            self.stream = None;
        }
        outs
    }
}
