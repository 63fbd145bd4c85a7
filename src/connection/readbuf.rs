//! The read buffer: received bytes waiting to be decoded, and the space
//! lent to the caller to read into.
//!
//! Bytes live in one of two stores. The general one is a `BytesMut`, from
//! which large payloads are split off without a copy. The other, used only
//! when the connection was asked to keep its read buffer
//! ([`ReadBuf::keep_bulk`]), is a plain `Vec` behind an `Arc` for bulk reads
//! into an empty buffer: a large payload is handed out as a slice of it, and
//! once the application has dropped that payload the same memory, already
//! initialised, is lent for the next bulk read. Lending `BytesMut` memory
//! again means zeroing it again (it does not remember that it was
//! initialised); zeroing a fresh 64 KiB for every 64 KiB frame was a quarter
//! of the blocking decode's time.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::MAX_HEADER_LEN;

/// A drained buffer's lent remainder up to this size is dropped rather
/// than kept initialised (see [`ReadBuf::release_if_drained`]).
const REZERO_UP_TO: usize = 4 * 1024;

/// Lends from this size into an empty buffer go into the kept bulk store
/// (when there is one): the reads of a bulk transfer.
pub(crate) const BULK_LEND: usize = 8 * 1024;

/// The largest bulk store kept after it drains: a 64 KiB read (the blocking
/// adapter's largest) and a frame header. A larger one (a frame of 1 MiB
/// read into it) is freed when it drains, as the general store is.
const KEEP_BULK: usize = 64 * 1024 + MAX_HEADER_LEN;

/// Received bytes, followed by initialized space that was lent before
/// (contents unspecified).
///
/// Lending space for a read must hand out initialized memory (safe code
/// cannot expose uninitialized bytes as `&mut [u8]`), and zeroing it on
/// every read was a quarter of the decode time for 64 KiB messages (perf,
/// `benches/peers` decode). So space once zeroed stays in the buffer after
/// a read that did not fill it and is lent again as it is: only space
/// beyond what was ever lent is zeroed.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    /// The general store: `buf[..filled]` received, `buf[filled..]` lent
    /// before. Empty while `bulk` holds the bytes.
    buf: BytesMut,
    /// Bytes received (in whichever store holds them).
    filled: usize,
    /// Bytes after `filled` lent by the last `lend`, not yet committed.
    lent: usize,
    /// A payload was split off `buf` without a copy: `buf` is the tail of an
    /// allocation that the payload shares, so its own capacity says nothing
    /// of what it keeps alive.
    split: bool,
    /// The most bytes `buf` held (received and lent) since it was last
    /// replaced: what its allocation is at least. Its capacity does not
    /// say it: after `advance` a `BytesMut` still holds the bytes before.
    peak: usize,
    /// The bulk store, when the connection keeps one (boxed: most
    /// connections never have one, and a `Connection` stays small).
    bulk: Option<Box<Bulk>>,
    /// Whether a drained bulk store is kept for the next bulk read.
    keep_bulk: bool,
}

/// The bulk store: `mem[start..start + filled]` received, the rest of
/// `mem` initialised space to lend. A payload is handed out of it only when
/// no received byte follows it.
#[derive(Debug)]
struct Bulk {
    mem: Mem,
    start: usize,
    /// Whether the received bytes are here (rather than in `buf`).
    active: bool,
}

/// The bulk store's memory: owned while bytes are received into it (no
/// atomic operation on the decode path), shared once a payload was handed
/// out of it, and owned again when nothing handed out holds it.
#[derive(Debug)]
enum Mem {
    Owned(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

impl Mem {
    fn as_slice(&self) -> &[u8] {
        match self {
            Mem::Owned(vec) => vec,
            Mem::Shared(vec) => vec,
        }
    }

    /// Takes the memory back if no payload handed out of it is alive.
    fn reclaim(&mut self) -> bool {
        if let Mem::Shared(arc) = self {
            let Some(vec) = Arc::get_mut(arc) else {
                return false;
            };
            *self = Mem::Owned(core::mem::take(vec));
        }
        true
    }

    /// Shares the memory (for a payload to hand out): the `Arc`.
    fn share(&mut self) -> Arc<Vec<u8>> {
        let arc = match core::mem::replace(self, Mem::Owned(Vec::new())) {
            Mem::Owned(vec) => Arc::new(vec),
            Mem::Shared(arc) => arc,
        };
        *self = Mem::Shared(Arc::clone(&arc));
        arc
    }
}

/// A payload handed out of the bulk store: a range of it.
struct Slice {
    vec: Arc<Vec<u8>>,
    range: core::ops::Range<usize>,
}

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.range.clone()]
    }
}

impl ReadBuf {
    /// Keeps a drained bulk store for the next bulk read (for loops that
    /// lend again right after they drain, as a blocking read does), or not
    /// (the default: a drained buffer is freed).
    pub(crate) fn keep_bulk(&mut self, keep: bool) {
        self.keep_bulk = keep;
        if !keep && self.bulk.as_ref().is_some_and(|b| !b.active) {
            self.bulk = None;
        }
    }

    fn active(&self) -> Option<&Bulk> {
        self.bulk.as_deref().filter(|b| b.active)
    }

    /// The received bytes.
    pub(crate) fn data(&self) -> &[u8] {
        match self.active() {
            Some(b) => &b.mem.as_slice()[b.start..b.start + self.filled],
            None => &self.buf[..self.filled],
        }
    }

    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        let filled = self.filled;
        if let Some(b) = self.active()
            && let Mem::Shared(_) = b.mem
        {
            // Shared only once a payload went out with everything received.
            if filled == 0 {
                return &mut [];
            }
            self.move_to_general();
        }
        match self.bulk.as_deref_mut() {
            Some(Bulk {
                mem: Mem::Owned(vec),
                start,
                active: true,
            }) => &mut vec[*start..*start + filled],
            _ => &mut self.buf[..filled],
        }
    }

    /// Moves the received bytes of an active bulk store to the general
    /// store (a copy), leaving the bulk store inactive.
    fn move_to_general(&mut self) {
        let Some(b) = self.bulk.as_deref_mut().filter(|b| b.active) else {
            return;
        };
        b.active = false;
        let bytes = &b.mem.as_slice()[b.start..b.start + self.filled];
        self.buf = BytesMut::from(bytes);
        self.peak = self.filled;
        self.split = false;
        if !self.keep_bulk {
            self.bulk = None;
        }
    }

    /// How many received bytes there are.
    pub(crate) fn len(&self) -> usize {
        self.filled
    }

    /// Appends received bytes (after the received ones, over lent space).
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.commit(0);
        // Copied bytes go to the general store.
        self.move_to_general();
        self.buf.truncate(self.filled);
        self.buf.extend_from_slice(bytes);
        self.filled = self.buf.len();
        self.peak = self.peak.max(self.filled);
    }

    /// Lends `len` bytes after the received ones to read into. A lend into
    /// an empty buffer has room for a frame header besides, so that the
    /// reads of a frame of `len` bytes of payload end in the allocation
    /// they started in (see `Connection::read_len`).
    pub(crate) fn lend(&mut self, len: usize) -> &mut [u8] {
        self.commit(0);
        if self.filled == 0 {
            // Nothing received: nothing to continue in the bulk store.
            if let Some(b) = self.bulk.as_deref_mut() {
                b.active = false;
            }
            if self.keep_bulk {
                if len >= BULK_LEND {
                    return self.lend_bulk(len);
                }
                // A small read: the bulk transfer is over; its store goes.
                self.bulk = None;
            }
        }
        if self.active().is_some() {
            return self.lend_more_bulk(len);
        }
        let end = self.filled + len;
        if self.buf.len() < end {
            if self.filled == 0 {
                self.buf.reserve(len + MAX_HEADER_LEN);
            }
            // Zeroes only what was never lent before.
            self.buf.resize(end, 0);
        }
        self.peak = self.peak.max(end);
        self.lent = len;
        &mut self.buf[self.filled..end]
    }

    /// Lends `len` bytes of the bulk store to an empty buffer: the kept
    /// store if no payload of it is still held, else a new one.
    fn lend_bulk(&mut self, len: usize) -> &mut [u8] {
        let reusable = self.bulk.as_deref_mut().is_some_and(|b| b.mem.reclaim());
        if !reusable {
            self.bulk = Some(Box::new(Bulk {
                mem: Mem::Owned(vec![0; len + MAX_HEADER_LEN]),
                start: 0,
                active: false,
            }));
        }
        self.buf = BytesMut::new();
        self.peak = 0;
        self.split = false;
        let Some(Bulk {
            mem: Mem::Owned(vec),
            start,
            active,
        }) = self.bulk.as_deref_mut()
        else {
            return &mut [];
        };
        *start = 0;
        *active = true;
        self.lent = len;
        if vec.len() < len + MAX_HEADER_LEN {
            // Zeroes only what was never lent before.
            vec.resize(len + MAX_HEADER_LEN, 0);
        }
        &mut vec[..len]
    }

    /// Lends `len` bytes after the received ones in the active bulk store.
    fn lend_more_bulk(&mut self, len: usize) -> &mut [u8] {
        let filled = self.filled;
        // Owned: bytes are received (a shared store is never active with
        // bytes in it).
        let Some(Bulk {
            mem: Mem::Owned(vec),
            start,
            ..
        }) = self.bulk.as_deref_mut()
        else {
            return &mut [];
        };
        if *start + filled + len > vec.len() && *start >= filled {
            // The received bytes are few: move them to the front.
            vec.copy_within(*start..*start + filled, 0);
            *start = 0;
        }
        let at = *start + filled;
        if vec.len() < at + len {
            // Zeroes only what was never lent before.
            vec.resize(at + len, 0);
        }
        self.lent = len;
        &mut vec[at..at + len]
    }

    /// Lends an owned, empty buffer with room for at least `len` bytes: the
    /// tail of this buffer's allocation, so [`unsplit`](Self::unsplit)
    /// takes it back without a copy while nothing else grew the buffer.
    pub(crate) fn lend_owned(&mut self, len: usize) -> BytesMut {
        self.commit(0);
        self.move_to_general();
        // Lent-but-unfilled space is given up: the tail goes out whole.
        self.buf.truncate(self.filled);
        self.buf.reserve(len);
        self.buf.split_off(self.filled)
    }

    /// Appends the bytes of `part` (a buffer from
    /// [`lend_owned`](Self::lend_owned), or any other).
    pub(crate) fn unsplit(&mut self, part: BytesMut) {
        self.commit(0);
        self.move_to_general();
        self.buf.truncate(self.filled);
        self.buf.unsplit(part);
        self.filled = self.buf.len();
        self.peak = self.peak.max(self.filled);
    }

    /// Confirms that the first `n` lent bytes were filled.
    /// Returns how many were: at most what was lent.
    pub(crate) fn commit(&mut self, n: usize) -> usize {
        let n = n.min(self.lent);
        self.filled += n;
        self.lent = 0;
        n
    }

    /// Drops the first `n` received bytes.
    pub(crate) fn advance(&mut self, n: usize) {
        let n = n.min(self.filled);
        self.filled -= n;
        match self.bulk.as_mut().filter(|b| b.active) {
            Some(b) => b.start += n,
            None => self.buf.advance(n),
        }
    }

    /// Splits off the first `n` received bytes, without a copy.
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.filled);
        if let Some(b) = self.bulk.as_deref_mut().filter(|b| b.active) {
            if self.filled == n {
                // The payload is all that is received: it goes out as a
                // slice of the store, which is lent again once it is dropped.
                let slice = Slice {
                    vec: b.mem.share(),
                    range: b.start..b.start + n,
                };
                b.start += n;
                self.filled = 0;
                return Bytes::from_owner(slice);
            }
            // Bytes follow the payload: they must stay writable (unmasked
            // in place), so they move to the general store first.
            self.move_to_general();
        }
        self.filled -= n;
        self.split = true;
        self.buf.split_to(n).freeze()
    }

    /// Whether payloads up to `len` bytes are better copied out than split
    /// off: in the bulk store, a payload with bytes after it would move
    /// those bytes to the general store.
    pub(crate) fn copies(&self, len: usize, copy_below: usize) -> bool {
        len <= copy_below || (self.active().is_some() && len < BULK_LEND && len < self.filled)
    }

    /// Forgets everything received and lent.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.filled = 0;
        self.lent = 0;
        if let Some(b) = self.bulk.as_mut() {
            b.active = false;
        }
    }

    /// When nothing is left to decode: gives the allocation back if it is
    /// larger than `keep`, so a burst does not pin memory on an idle
    /// connection; otherwise forgets a small lent remainder, so the next
    /// [`lend`](Self::lend) starts again at the front of the allocation.
    /// A bulk store is kept (if the connection keeps one and it is at
    /// most [`KEEP_BULK`]) or freed.
    ///
    /// Kept, a remainder of lent space sits after the bytes already decoded,
    /// which `BytesMut` cannot move back to the front: the next `lend`
    /// would grow the allocation instead (1 KiB lends on an idle connection
    /// became a 2 KiB buffer, +2 KiB RSS per connection). Zeroing up to
    /// [`REZERO_UP_TO`] again costs less than that; larger remainders (bulk
    /// reads) are kept, where zeroing again would cost more.
    pub(crate) fn release_if_drained(&mut self, keep: usize) {
        if self.filled != 0 || self.lent != 0 {
            return;
        }
        if let Some(b) = self.bulk.as_mut() {
            b.active = false;
            if !self.keep_bulk || b.mem.as_slice().len() > KEEP_BULK {
                self.bulk = None;
            }
        }
        // After a split the tail would keep the whole allocation alive (once
        // the payload is dropped, it is the allocation's last owner): an idle
        // connection that last received a 100 KiB message would hold 100 KiB.
        if self.split || self.peak > keep {
            self.split = false;
            self.peak = 0;
            self.buf = BytesMut::new();
        } else if self.buf.len() <= REZERO_UP_TO {
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lent_space_is_reused_without_being_zeroed_again() {
        let mut rb = ReadBuf::default();
        rb.lend(8).copy_from_slice(b"abcdefgh");
        rb.commit(3);
        assert_eq!(rb.data(), b"abc");
        // The unfilled lent bytes are lent again, as they are.
        assert_eq!(rb.lend(5), b"defgh");
        rb.commit(0);
        rb.extend(b"XY");
        assert_eq!(rb.data(), b"abcXY");
        rb.advance(2);
        assert_eq!(rb.data(), b"cXY");
        let head = rb.split_to(1);
        assert_eq!(&head[..], b"c");
        assert_eq!(rb.data(), b"XY");
        rb.lend(100)[..2].copy_from_slice(b"Z!");
        rb.commit(1000); // more than lent: capped
        assert_eq!(rb.len(), 102);
        rb.clear();
        assert_eq!(rb.data(), b"");
        assert_eq!(rb.lend(4).len(), 4);
    }

    #[test]
    fn a_drained_large_buffer_is_released() {
        let mut rb = ReadBuf::default();
        rb.lend(64 * 1024);
        rb.commit(64 * 1024);
        rb.release_if_drained(16 * 1024);
        assert!(
            rb.buf.capacity() >= 64 * 1024,
            "released while holding data"
        );
        rb.advance(64 * 1024);
        rb.release_if_drained(16 * 1024);
        assert_eq!(rb.buf.capacity(), 0);
    }

    #[test]
    fn a_drained_buffer_after_a_split_gives_its_allocation_up() {
        let mut rb = ReadBuf::default();
        rb.lend(12 * 1024);
        rb.commit(12 * 1024);
        let payload = rb.split_to(12 * 1024);
        drop(payload);
        rb.release_if_drained(16 * 1024);
        // The tail's own capacity was small, but it held the whole 12 KiB.
        assert_eq!(rb.buf.capacity(), 0);
        assert!(!rb.split);
    }

    #[test]
    fn small_lends_on_a_drained_buffer_reuse_one_allocation() {
        let mut rb = ReadBuf::default();
        for round in 0..100 {
            let space = rb.lend(1024);
            space[..16].copy_from_slice(&[round as u8; 16]);
            rb.commit(16);
            assert_eq!(rb.data(), &[round as u8; 16][..]);
            rb.advance(16);
            rb.release_if_drained(16 * 1024);
            assert!(
                rb.buf.capacity() <= 1024 + MAX_HEADER_LEN,
                "round {round}: the buffer grew to {}",
                rb.buf.capacity()
            );
        }
        // A large remainder is kept as it is (not zeroed again).
        rb.lend(8 * 1024);
        rb.commit(16);
        rb.advance(16);
        rb.release_if_drained(16 * 1024);
        assert_eq!(rb.buf.len(), 8 * 1024 - 16);
    }

    /// A payload of `n` bytes read into a lend of `n`, split off whole.
    fn bulk_payload(rb: &mut ReadBuf, n: usize, byte: u8) -> (Bytes, *const u8) {
        let space = rb.lend(n);
        let at = space.as_ptr();
        space.fill(byte);
        rb.commit(n);
        let payload = rb.split_to(n);
        rb.release_if_drained(16 * 1024);
        (payload, at)
    }

    #[test]
    fn a_kept_bulk_buffer_is_lent_again_once_its_payload_is_dropped() {
        let mut rb = ReadBuf::default();
        rb.keep_bulk(true);
        let (first, at) = bulk_payload(&mut rb, 64 * 1024, 1);
        assert_eq!(first.as_ptr(), at, "handed out without a copy");
        assert_eq!(&first[..], &[1; 64 * 1024][..]);
        drop(first);
        let (second, again) = bulk_payload(&mut rb, 64 * 1024, 2);
        assert_eq!(again, at, "the same memory, not a new allocation");
        // Held by the application, it is not lent again: a new buffer is.
        let (third, other) = bulk_payload(&mut rb, 64 * 1024, 3);
        assert_ne!(other, at);
        assert_eq!(&second[..], &[2; 64 * 1024][..], "untouched while held");
        assert_eq!(&third[..], &[3; 64 * 1024][..]);
    }

    #[test]
    fn without_keep_a_bulk_read_uses_the_general_store_and_is_freed() {
        let mut rb = ReadBuf::default();
        let (payload, _) = bulk_payload(&mut rb, 64 * 1024, 1);
        assert!(rb.bulk.is_none());
        drop(payload);
        assert_eq!(rb.buf.capacity(), 0, "freed when drained");
    }

    #[test]
    fn bytes_after_a_bulk_payload_move_to_the_general_store() {
        let mut rb = ReadBuf::default();
        rb.keep_bulk(true);
        let space = rb.lend(16 * 1024);
        for (i, b) in space.iter_mut().enumerate() {
            *b = i as u8;
        }
        rb.commit(16 * 1024);
        rb.advance(10);
        assert_eq!(rb.data()[0], 10);
        let head = rb.split_to(9000);
        assert_eq!(head[0], 10);
        assert_eq!(head.len(), 9000);
        // The rest is still received, and writable (unmasked in place).
        assert_eq!(rb.len(), 16 * 1024 - 9010);
        assert_eq!(rb.data()[0], (9010 % 256) as u8);
        rb.data_mut()[0] = 0xEE;
        assert_eq!(rb.data()[0], 0xEE);
        assert_eq!(head[0], 10, "the payload is not touched");
        // Small payloads with bytes after them are copied out instead.
        assert!(!rb.copies(5000, 4096), "general store: split");
    }

    #[test]
    fn a_small_read_frees_the_kept_bulk_buffer() {
        let mut rb = ReadBuf::default();
        rb.keep_bulk(true);
        let (payload, _) = bulk_payload(&mut rb, 32 * 1024, 1);
        drop(payload);
        assert!(rb.bulk.is_some(), "kept while bulk reads go on");
        rb.lend(1024);
        assert!(rb.bulk.is_none(), "a small read ends the bulk transfer");
        // A store grown past 64 KiB + a header is not kept when drained.
        let (payload, _) = bulk_payload(&mut rb, 256 * 1024, 1);
        drop(payload);
        assert!(rb.bulk.is_none());
    }

    #[test]
    fn a_drained_buffer_is_freed_even_when_advanced_to_its_end() {
        // 64 KiB of small frames, each advanced over: the capacity left is
        // nothing, but the allocation is 64 KiB.
        let mut rb = ReadBuf::default();
        rb.lend(64 * 1024);
        rb.commit(64 * 1024);
        for _ in 0..64 {
            rb.advance(1024);
        }
        rb.release_if_drained(16 * 1024);
        assert_eq!(rb.peak, 0);
        assert_eq!(rb.buf.capacity(), 0);
    }
}
