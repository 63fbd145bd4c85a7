//! The read buffer: received bytes waiting to be decoded, and the space
//! lent to the caller to read into.

use bytes::{Buf, BytesMut};

/// A drained buffer's lent remainder up to this size is dropped rather
/// than kept initialised (see [`ReadBuf::release_if_drained`]).
const REZERO_UP_TO: usize = 4 * 1024;

/// Received bytes (`buf[..filled]`), followed by initialized space that was
/// lent before (`buf[filled..]`, contents unspecified).
///
/// Lending space for a read must hand out initialized memory (safe code
/// cannot expose uninitialized bytes as `&mut [u8]`), and zeroing it on
/// every read was a quarter of the decode time for 64 KiB messages (perf,
/// `benches/peers` decode). So space once zeroed stays in the buffer after
/// a read that did not fill it and is lent again as it is: only space
/// beyond what was ever lent is zeroed.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    buf: BytesMut,
    /// Bytes of `buf` that were received.
    filled: usize,
    /// Bytes after `filled` lent by the last `lend`, not yet committed.
    lent: usize,
    /// A payload was split off without a copy: `buf` is the tail of an
    /// allocation that the payload shares, so its own capacity says nothing
    /// of what it keeps alive.
    split: bool,
}

impl ReadBuf {
    /// The received bytes.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.filled]
    }

    /// How many received bytes there are.
    pub(crate) fn len(&self) -> usize {
        self.filled
    }

    /// Appends received bytes (after the received ones, over lent space).
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.commit(0);
        self.buf.truncate(self.filled);
        self.buf.extend_from_slice(bytes);
        self.filled = self.buf.len();
    }

    /// Lends `len` bytes after the received ones to read into.
    pub(crate) fn lend(&mut self, len: usize) -> &mut [u8] {
        self.commit(0);
        let end = self.filled + len;
        if self.buf.len() < end {
            // Zeroes only what was never lent before.
            self.buf.resize(end, 0);
        }
        self.lent = len;
        &mut self.buf[self.filled..end]
    }

    /// Lends an owned, empty buffer with room for at least `len` bytes: the
    /// tail of this buffer's allocation, so [`unsplit`](Self::unsplit)
    /// takes it back without a copy while nothing else grew the buffer.
    pub(crate) fn lend_owned(&mut self, len: usize) -> BytesMut {
        self.commit(0);
        // Lent-but-unfilled space is given up: the tail goes out whole.
        self.buf.truncate(self.filled);
        self.buf.reserve(len);
        self.buf.split_off(self.filled)
    }

    /// Appends the bytes of `part` (a buffer from
    /// [`lend_owned`](Self::lend_owned), or any other).
    pub(crate) fn unsplit(&mut self, part: BytesMut) {
        self.commit(0);
        self.buf.truncate(self.filled);
        self.buf.unsplit(part);
        self.filled = self.buf.len();
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
        self.buf.advance(n);
        self.filled -= n;
    }

    /// Splits off the first `n` received bytes, without a copy.
    pub(crate) fn split_to(&mut self, n: usize) -> BytesMut {
        let n = n.min(self.filled);
        self.filled -= n;
        self.split = true;
        self.buf.split_to(n)
    }

    /// Forgets everything received and lent.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.filled = 0;
        self.lent = 0;
    }

    /// When nothing is left to decode: gives the allocation back if it is
    /// larger than `keep`, so a burst does not pin memory on an idle
    /// connection; otherwise forgets a small lent remainder, so the next
    /// [`lend`](Self::lend) starts again at the front of the allocation.
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
        // After a split the tail would keep the whole allocation alive (once
        // the payload is dropped, it is the allocation's last owner): an idle
        // connection that last received a 100 KiB message would hold 100 KiB.
        if self.split || self.buf.capacity() > keep {
            self.split = false;
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
                rb.buf.capacity() <= 1024,
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
}
