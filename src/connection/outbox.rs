//! The outgoing byte buffer: whole frames, encoded (and masked, for a
//! client) as they are queued. The caller drains it with
//! [`Connection::pending`](crate::Connection::pending) and
//! [`Connection::advance`](crate::Connection::advance).

use alloc::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};

/// An unmasked payload at least this large, given as `Bytes`, is queued as a
/// chunk of its own (shared, not copied); the transport writes the header
/// and the payload with one vectored write. Below it a copy is cheaper than
/// the extra chunk.
pub(crate) const SHARE_FROM: usize = 8 * 1024;

/// A client copies and masks payloads in blocks this large, so each block
/// is masked while it is still in the L1 cache: copy and mask in one pass
/// over memory.
const MASK_BLOCK: usize = 4 * 1024;

/// Drop the buffer's allocation when it drains empty and is larger than
/// this, so a burst of large sends does not pin memory on an idle connection.
const KEEP_CAPACITY: usize = 16 * 1024;

/// How many bytes of masking keys are fetched from the random source at
/// once: 128 keys. A system call per few keys was 40 % of the cost of
/// sending a small message (`getrandom` per 8 keys, measured with perf in
/// the encode benchmark); this amortises it to a few nanoseconds a frame.
const KEY_POOL: usize = 512;

/// Where client masking keys come from (§5.3: unpredictable, from a strong
/// source of entropy), fetched [`KEY_POOL`] bytes at a time. Boxed in the
/// connection: a server never has one.
#[derive(Debug, Clone)]
pub(crate) struct MaskKeys {
    fill: fn(&mut [u8]),
    pool: [u8; KEY_POOL],
    next: usize,
}

impl MaskKeys {
    pub(crate) fn new(fill: fn(&mut [u8])) -> Self {
        MaskKeys {
            fill,
            pool: [0; KEY_POOL],
            next: KEY_POOL,
        }
    }

    fn next_key(&mut self) -> [u8; 4] {
        if self.next == self.pool.len() {
            (self.fill)(&mut self.pool);
            self.next = 0;
        }
        let k = &self.pool[self.next..self.next + 4];
        self.next += 4;
        [k[0], k[1], k[2], k[3]]
    }
}

/// Encoded output, in order: `chunks` (frozen frames and shared payloads),
/// then `buf`.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Bytes>,
    buf: BytesMut,
}

impl Outbox {
    /// Encodes one frame at the end of the buffer, masking it when `masks` is given.
    pub(crate) fn push_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        masks: Option<&mut MaskKeys>,
    ) {
        self.push_data_frame(opcode, fin, 0, payload, masks);
    }

    /// Like [`push_frame`](Self::push_frame), with RSV bits (RSV1 marks a
    /// compressed message, RFC 7692 §6).
    pub(crate) fn push_data_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        payload: &[u8],
        masks: Option<&mut MaskKeys>,
    ) {
        let mask = masks.map(MaskKeys::next_key);
        self.push_header(opcode, fin, rsv, mask, payload.len());
        match mask {
            None => self.buf.extend_from_slice(payload),
            Some(key) => {
                for (i, block) in payload.chunks(MASK_BLOCK).enumerate() {
                    let start = self.buf.len();
                    self.buf.extend_from_slice(block);
                    // `i * MASK_BLOCK` is a multiple of 4: the key restarts.
                    debug_assert_eq!(i * MASK_BLOCK % 4, 0);
                    apply_mask(&mut self.buf[start..], key, 0);
                }
            }
        }
    }

    /// Queues an unmasked data frame whose payload is shared with the
    /// caller's `Bytes` instead of copied (server role, uncompressed).
    pub(crate) fn push_shared_frame(&mut self, opcode: OpCode, fin: bool, payload: &Bytes) {
        self.push_header(opcode, fin, 0, None, payload.len());
        self.chunks.push_back(self.buf.split().freeze());
        self.chunks.push_back(payload.clone());
    }

    /// Encodes a frame header (§5.2) at the end of the buffer, with room
    /// reserved for a payload of `len` bytes that will be copied after it.
    fn push_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        mask: Option<[u8; 4]>,
        len: usize,
    ) {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        self.buf.reserve(n + len);
        self.buf.extend_from_slice(&head[..n]);
    }

    /// The first chunk of pending output.
    pub(crate) fn pending(&self) -> &[u8] {
        self.chunks
            .front()
            .map_or(&self.buf[..], |chunk| &chunk[..])
    }

    /// Every chunk of pending output, in order.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks
            .iter()
            .map(|chunk| &chunk[..])
            .chain(core::iter::once(&self.buf[..]))
            .filter(|chunk| !chunk.is_empty())
    }

    /// All pending bytes.
    pub(crate) fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum::<usize>() + self.buf.len()
    }

    /// Drops the first `n` pending bytes, across chunks.
    pub(crate) fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.buf.advance(n.min(self.buf.len()));
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            n -= k;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        }
    }
}
