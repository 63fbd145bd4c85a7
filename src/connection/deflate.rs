//! The compressor and decompressor of one connection (RFC 7692 §7.2),
//! taken when the first compressed message needs them. Without context
//! takeover in a direction, that direction's state is borrowed from a pool
//! shared by the process for one message and given back at its end (see
//! [`pool`]); with context takeover it stays with the connection until the
//! connection ends, and then goes back to the pool.

mod pool;

use alloc::vec::Vec;

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use crate::agreement::Role;
use crate::deflate::{DeflateConfig, DeflateParams};

/// The four bytes a sync flush ends with, removed when sending and put back
/// when receiving (§7.2.1, §7.2.2).
pub(crate) const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses `data` with a sync flush (RFC 7692 §7.2.1), whatever the
/// compressor did before.
fn sync_flush(compressor: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let (before_in, before_out) = (compressor.total_in(), compressor.total_out());
        // Errors only come from a misused stream, never from the data.
        let status = compressor
            .compress_vec(input, &mut out, FlushCompress::Sync)
            .unwrap_or(Status::BufError);
        let used = (compressor.total_in() - before_in) as usize;
        input = &input[used..];
        let stuck = used == 0 && compressor.total_out() == before_out;
        // The flush is complete once the output was not filled (zlib's rule).
        if (input.is_empty() && out.len() < out.capacity()) || (stuck && status == Status::BufError)
        {
            break;
        }
    }
    out
}

/// Ends a message's compressed bytes: the trailing `00 00 ff ff` removed
/// (§7.2.1), or an empty stored block's first byte when the flush wrote
/// nothing (§7.2.3.6).
fn end_message(out: &mut Vec<u8>) {
    if out.ends_with(&TRAILER) {
        out.truncate(out.len() - TRAILER.len());
    } else if out.is_empty() {
        // Nothing new since the last fragment's flush, so zlib wrote
        // nothing, and the stream is on a byte boundary. The receiver
        // appends `00 00 ff ff`; one 0x00 before it completes an
        // empty stored block (§7.2.3.6). Without it, those four bytes
        // would read as the length of a stored block and swallow the
        // next message.
        out.push(0x00);
    }
}

/// What a compressor without context takeover is: its window and level.
/// Connections compressing with the same key produce the same bytes for
/// the same message, which is what lets a broadcast be compressed once.
pub(crate) type CompressKey = (u8, u32);

/// The whole message `data` compressed with a fresh compressor of `key`
/// lent by the pool, as any connection without context takeover at `key`
/// would send it; `None` when every compressor of the pool is lent.
pub(crate) fn compress_once(key: CompressKey, data: &[u8]) -> Option<Vec<u8>> {
    let mut compressor = pool::lend(key.0, key.1)?;
    let mut out = sync_flush(&mut compressor, data);
    end_message(&mut out);
    pool::give_back(key.0, key.1, compressor);
    Some(out)
}

/// Compressed data was not a valid deflate stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt;

/// permessage-deflate state for one connection, both directions.
#[derive(Debug)]
pub(crate) struct Codec {
    params: DeflateParams,
    /// Whether the message being sent is compressed.
    sending_compressed: bool,
    /// The window we compress with; `None` when we never compress (the
    /// agreed window is 8 bits, which zlib's raw deflate cannot do).
    send_bits: Option<u8>,
    /// No context takeover in our direction: give the compressor back to the
    /// pool after each message.
    send_reset: bool,
    /// The window we decompress with (the peer's, at least 9 bits).
    recv_bits: u8,
    /// No context takeover in the peer's direction: give the decompressor
    /// back after each message.
    recv_reset: bool,
    level: u32,
    threshold: usize,
    compressor: Option<Compress>,
    /// `compressor` is lent by the pool for the message being sent (no
    /// context takeover), not ours.
    lent: bool,
    decompressor: Option<Decompress>,
    /// The peer's deflate stream ended (a block with BFINAL) inside this
    /// message: the rest of the message is ignored, and the next one starts a
    /// new stream.
    recv_ended: bool,
}

impl Codec {
    pub(crate) fn new(role: Role, params: DeflateParams, config: &DeflateConfig) -> Self {
        let (own_bits, own_reset, peer_bits, peer_reset) = match role {
            Role::Server => (
                params.server_window_bits(),
                params.server_no_context_takeover,
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_window_bits(),
                params.server_no_context_takeover,
            ),
        };
        // Our own policy may ask for a smaller window than the agreed one.
        let own_limit = match role {
            Role::Server => config.server_max_window_bits,
            Role::Client => config.client_max_window_bits,
        };
        let own_bits = own_bits.min(own_limit.clamp(8, 15));
        Codec {
            params,
            sending_compressed: false,
            send_bits: (9..=15).contains(&own_bits).then_some(own_bits),
            send_reset: own_reset,
            recv_bits: peer_bits.clamp(9, 15),
            recv_reset: peer_reset,
            level: config.level.min(9),
            threshold: config.threshold,
            compressor: None,
            lent: false,
            decompressor: None,
            recv_ended: false,
        }
    }

    /// The agreed parameters.
    pub(crate) fn params(&self) -> DeflateParams {
        self.params
    }

    /// Whether this frame of an outgoing message is compressed. The first
    /// frame decides for the message: a whole message of at least the
    /// threshold, or any fragmented one, if a compressor is at hand: its
    /// own with context takeover, else one lent by the pool for this
    /// message. When every compressor of the pool is lent, the message goes
    /// uncompressed (RFC 7692 §6 allows that for any message).
    pub(crate) fn begin_send(&mut self, first: bool, len: usize, fin: bool) -> bool {
        if first {
            let wanted = self.send_bits.is_some() && (!fin || len >= self.threshold);
            self.sending_compressed = wanted && self.have_compressor();
        }
        self.sending_compressed
    }

    /// Whether a compressor is at hand, getting one if need be.
    fn have_compressor(&mut self) -> bool {
        if self.compressor.is_none() {
            let (bits, level) = (self.send_bits.unwrap_or(15), self.level);
            if self.send_reset {
                self.compressor = pool::lend(bits, level);
                self.lent = self.compressor.is_some();
            } else {
                self.compressor = Some(pool::own_compressor(bits, level));
            }
        }
        self.compressor.is_some()
    }

    /// Compresses `data`, the whole message or one fragment of it, with a
    /// sync flush; at the end of the message (`fin`) the trailing
    /// `00 00 ff ff` is removed (§7.2.1).
    pub(crate) fn compress(&mut self, data: &[u8], fin: bool) -> Vec<u8> {
        let (bits, level) = (self.send_bits.unwrap_or(15), self.level);
        // `begin_send` got one; should it not have, one of our own.
        let compressor = self
            .compressor
            .get_or_insert_with(|| pool::own_compressor(bits, level));
        let mut out = sync_flush(compressor, data);
        if fin {
            end_message(&mut out);
            if self.send_reset {
                self.give_compressor();
            }
        }
        out
    }

    /// The key of the compressor this end sends with, if it compresses
    /// without context takeover: then it would compress a message to the
    /// same bytes as any other connection with that key.
    pub(crate) fn shared_key(&self) -> Option<CompressKey> {
        self.send_bits
            .filter(|_| self.send_reset)
            .map(|bits| (bits, self.level))
    }

    /// Whether a whole message of `len` bytes would be compressed.
    pub(crate) fn would_compress(&self, len: usize) -> bool {
        self.send_bits.is_some() && len >= self.threshold
    }

    /// Decompresses from `input` into the spare capacity of `out` (never
    /// growing it). Returns how many input bytes were used and whether the
    /// output space ran out before the input did.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, bool), Corrupt> {
        if self.recv_ended {
            return Ok((input.len(), false));
        }
        let bits = self.recv_bits;
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| pool::decompressor(bits));
        let spare = out.capacity() - out.len();
        let before = decompressor.total_in();
        let status = decompressor
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|_| Corrupt)?;
        let used = (decompressor.total_in() - before) as usize;
        if status == Status::StreamEnd {
            self.recv_ended = true;
            return Ok((input.len(), false));
        }
        let full = spare > 0 && out.len() == out.capacity();
        Ok((used, full || spare == 0))
    }

    /// A received compressed message ended: without context takeover, or
    /// if the peer's stream ended, the decompressor goes back to the pool
    /// (the next message starts a new stream).
    pub(crate) fn end_received(&mut self) {
        if self.recv_reset || self.recv_ended {
            self.give_decompressor();
        }
        self.recv_ended = false;
    }

    /// Gives both states back to the pool (the connection closed).
    pub(crate) fn release(&mut self) {
        self.give_compressor();
        self.give_decompressor();
    }

    fn give_compressor(&mut self) {
        if let Some(compressor) = self.compressor.take() {
            let (bits, level) = (self.send_bits.unwrap_or(15), self.level);
            if core::mem::take(&mut self.lent) {
                pool::give_back(bits, level, compressor);
            } else {
                pool::leave_compressor(bits, level, compressor);
            }
        }
    }

    fn give_decompressor(&mut self) {
        if let Some(decompressor) = self.decompressor.take() {
            pool::leave_decompressor(self.recv_bits, decompressor);
        }
    }

    /// Whether this connection holds a (compressor, decompressor) right now, for tests.
    pub(crate) fn states(&self) -> (bool, bool) {
        (self.compressor.is_some(), self.decompressor.is_some())
    }
}

impl Drop for Codec {
    /// A connection dropped without [`release`](Codec::release) gives its
    /// states back too.
    fn drop(&mut self) {
        self.release();
    }
}
