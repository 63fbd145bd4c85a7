//! The outgoing bytes: whole frames, encoded (and masked, for a client) as
//! they are queued, drained by the caller through [`Output`]'s
//! [`bytes::Buf`] implementation
//! ([`Connection::output`](crate::Connection::output)).

use alloc::collections::VecDeque;

use alloc::vec::Vec;

use bytes::{Buf, Bytes};

use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};

/// An unmasked payload at least this large, given as `Bytes`, is queued as a
/// chunk of its own (shared, not copied); the transport writes the header
/// and the payload with one vectored write. Below it a copy is cheaper than
/// the extra chunk.
pub(crate) const SHARE_FROM: usize = 8 * 1024;

/// A client copies and masks payloads in blocks this large: each block is
/// copied whole, then masked while it is still in the L2 cache. Blocks of
/// 4 KiB (to stay in L1) lost to one large copy: on Zen 5 sixteen 4 KiB
/// `memcpy` calls cost twice one of 64 KiB, and client encode of 64 KiB
/// went from 0.80 to 1.04 x tokio-websockets with 64 KiB blocks
/// (`benches/peers`, interleaved, BENCHMARKS.md).
const MASK_BLOCK: usize = 64 * 1024;

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

/// The bytes a connection has queued for the transport, in order: a
/// [`bytes::Buf`] (all chunks, for a vectored write), written by the caller
/// and advanced by what went out.
///
/// ```
/// use bytes::Buf;
/// use rfc6455::{Config, Connection, Role};
///
/// let mut conn = Connection::new(Role::Server, Config::default());
/// conn.send_text("hi")?;
/// let out = conn.output();
/// assert_eq!(out.remaining(), 4);
/// assert_eq!(out.chunk(), &[0x81, 0x02, b'h', b'i']);
/// out.advance(4); // after `socket.write` returned 4
/// assert!(!conn.wants_write());
/// # Ok::<(), rfc6455::UsageError>(())
/// ```
///
/// Usually everything is one chunk; a large payload a server sends from
/// `Bytes` is a chunk of its own, shared rather than copied
/// ([`Connection::send`](crate::Connection::send)).
///
/// Inside: `chunks` (shared payloads and the frames queued before them),
/// then `buf[head..]`.
///
/// `buf` is a plain `Vec` with a read offset rather than a `BytesMut`: a
/// small frame is queued and drained without any of `BytesMut`'s
/// bookkeeping (its `reserve` re-derived the buffer on nearly every frame,
/// 8 % of sending a 16-byte message), and a buffer written out completely
/// is reused from its start.
#[derive(Debug, Default)]
pub struct Output {
    chunks: VecDeque<Bytes>,
    /// Total length of `chunks`; none of them is empty.
    chunks_len: usize,
    buf: Vec<u8>,
    /// Bytes at the start of `buf` already written.
    head: usize,
    /// Bytes were advanced since the connection last looked (its write
    /// timeout restarts then).
    progressed: bool,
    /// Bytes written (advanced) since the connection began.
    written: u64,
    /// Where the last reply to the peer's input (a pong, a close reply)
    /// ends, counted as `written` counts: it is unwritten while `written`
    /// is below.
    reply_end: u64,
}

impl Output {
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
        self.push_header(opcode, fin, rsv, mask, payload.len(), payload.len());
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
        self.push_header(opcode, fin, 0, None, payload.len(), 0);
        // Everything still in `buf` (this header, and any frames before it)
        // goes out before the payload: it becomes a chunk of its own.
        let before = Bytes::copy_from_slice(&self.buf[self.head..]);
        self.buf.clear();
        self.head = 0;
        self.push_chunk(before);
        self.push_chunk(payload.clone());
    }

    /// Queues an encoded frame as a chunk of its own, shared with `frame`.
    pub(crate) fn push_encoded_chunk(&mut self, frame: &Bytes) {
        // What is in `buf` goes out before it: a chunk of its own too.
        if self.head < self.buf.len() {
            let before = Bytes::copy_from_slice(&self.buf[self.head..]);
            self.buf.clear();
            self.head = 0;
            self.push_chunk(before);
        }
        self.push_chunk(frame.clone());
    }

    /// Queues an encoded frame by copying it.
    pub(crate) fn push_encoded_copy(&mut self, frame: &[u8]) {
        if self.chunks.is_empty() && self.head > 0 && self.head >= self.buf.len() - self.head {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(frame);
    }

    fn push_chunk(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.chunks_len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Encodes the header (§5.2) of a frame with a payload of `len` bytes at
    /// the end of the buffer, with room reserved for `copied` more bytes
    /// after it: the payload when it is copied, nothing when it is shared.
    fn push_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        mask: Option<[u8; 4]>,
        len: usize,
        copied: usize,
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
        // Written bytes at the front are dropped once they are the larger
        // part of the buffer, so a transport that never drains it
        // completely does not grow it without bound.
        if self.head > 0 && self.head >= self.buf.len() - self.head {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        // All 14 bytes are copied and the excess cut off again: a copy of a
        // fixed size is two register moves, one of `n` bytes a call to
        // `memcpy`, which costs more than the header for a small frame.
        self.buf.reserve(MAX_HEADER_LEN + copied);
        let end = self.buf.len() + n;
        self.buf.extend_from_slice(&head);
        self.buf.truncate(end);
    }

    /// The first chunk of pending output.
    fn first(&self) -> &[u8] {
        self.chunks
            .front()
            .map_or(&self.buf[self.head..], |chunk| &chunk[..])
    }

    /// Every chunk of pending output, in order, none empty.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        let rest = &self.buf[self.head..];
        self.chunks
            .iter()
            .map(|chunk| &chunk[..])
            .chain((!rest.is_empty()).then_some(rest))
    }

    /// All pending bytes.
    pub(crate) fn len(&self) -> usize {
        self.chunks_len + self.buf.len() - self.head
    }

    /// Marks what is queued now as ending with a reply to the peer's input.
    pub(crate) fn mark_reply(&mut self) {
        self.reply_end = self.written + self.len() as u64;
    }

    /// Whether a reply to the peer's input is still unwritten.
    pub(crate) fn reply_pending(&self) -> bool {
        self.written < self.reply_end
    }

    /// Whether bytes were written since the last call (and forgets it).
    pub(crate) fn take_progress(&mut self) -> bool {
        core::mem::take(&mut self.progressed)
    }

    /// Copies out everything pending and marks it written: for tests and
    /// for loops that hand the bytes on elsewhere. A socket writer uses the
    /// [`Buf`] methods (or [`write_to`](Self::write_to)) instead.
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for chunk in self.chunks() {
            out.extend_from_slice(chunk);
        }
        self.advance(out.len());
        out
    }

    /// Writes pending bytes to `writer` with one `write_vectored` (one
    /// `write` when there is a single chunk) and advances by what it
    /// took. Returns that count; `Ok(0)` only when nothing is pending. A
    /// writer that accepts nothing is [`WriteZero`](std::io::ErrorKind::WriteZero).
    #[cfg(feature = "std")]
    pub fn write_to<W: std::io::Write + ?Sized>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<usize> {
        if self.len() == 0 {
            return Ok(0);
        }
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let count = self.chunks_vectored(&mut slices);
        let written = if count == 1 {
            writer.write(&slices[0])?
        } else {
            writer.write_vectored(&slices[..count])?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        self.advance(written);
        Ok(written)
    }

    /// Drops the first `n` pending bytes, across chunks.
    fn drop_front(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                self.head += n.min(self.buf.len() - self.head);
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.chunks_len -= k;
            n -= k;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
    }
}

impl Buf for Output {
    fn remaining(&self) -> usize {
        self.len()
    }

    fn chunk(&self) -> &[u8] {
        self.first()
    }

    /// Marks the first `cnt` bytes written (across chunks). Advancing past
    /// the end stops at the end.
    fn advance(&mut self, cnt: usize) {
        if cnt > 0 {
            self.progressed = true;
        }
        self.written += cnt.min(self.len()) as u64;
        self.drop_front(cnt);
    }

    #[cfg(feature = "std")]
    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(self.chunks()) {
            *slot = std::io::IoSlice::new(chunk);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_payload_reserves_no_room_in_the_buffer() {
        let mut outbox = Output::default();
        let payload = Bytes::from(alloc::vec![7u8; 64 * 1024]);
        outbox.push_shared_frame(OpCode::Binary, true, &payload);
        assert!(
            outbox.buf.capacity() <= 2 * MAX_HEADER_LEN,
            "the buffer reserved {} bytes for a payload it does not copy",
            outbox.buf.capacity()
        );
        assert_eq!(
            outbox.len(),
            10 + payload.len(),
            "a 10-byte header (§5.2) and the payload"
        );
        // A copied payload does get its room, in one reservation.
        outbox.push_frame(OpCode::Binary, true, &[1; 1000], None);
        assert!(outbox.buf.capacity() >= 1002);
    }
}
