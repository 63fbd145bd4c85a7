//! zlib states shared by all the connections of the process.
//!
//! With no context takeover (RFC 7692 §7.1.1) nothing has to stay with a
//! connection between messages, so a connection borrows a compressor for
//! one outgoing message (or a decompressor for one incoming one) and gives
//! it back, reset, when the message ends. Allocating zlib's state for every
//! message instead (371 KiB for a compressor, 46 KiB for a decompressor)
//! costs the allocation and, worse, fragments glibc's heap: idle
//! `echo_server` connections held 1.2 to 2.3 MiB of RSS each after 50
//! compressed messages each way, chat members 3.2 to 4.4 MiB; with this
//! pool 31 to 35 KiB (30 uncompressed) and 61 to 87 KiB (54 to 73
//! uncompressed), measured by `tests/deflate_rss.rs`. A connection with
//! context takeover keeps its own states for its lifetime, taken from the
//! idle ones here if there are, and left here when it ends.
//!
//! # Bounds
//! * Compressors: at most [`compressors`] exist in the pool, lent or idle:
//!   twice the CPUs the process may use, 4 to 64 (4 × 371 KiB = 1.5 MiB on
//!   2 CPUs, 5.8 MiB on 8). Compressing is CPU work, so more at once only
//!   serve threads preempted in the middle of a message; but those can be
//!   many: the chat example (two threads per member, 100 members, 2 CPUs)
//!   had up to 20 compressors in use at once. A message that would need
//!   one more is sent uncompressed, which RFC 7692 allows for any message
//!   (§6: RSV1 clear), so the memory stays bounded and nothing is freed
//!   and made again under load, which is what fragments the heap. (In that
//!   chat, a quarter of the long lines went uncompressed; in the echo test,
//!   none of 10,000 messages.)
//! * Decompressors cannot be refused (the peer decides what is compressed):
//!   one is made whenever none is idle, and at most [`idle_decompressors`]
//!   (four times [`compressors`]: 16 to 256, 46 KiB each) are kept idle;
//!   one given back beyond that is freed.
//! * States kept by connections with context takeover are theirs, not the
//!   pool's: they count against neither bound until they are left here.
//!
//! The lock is held only to move one entry; making, resetting and freeing
//! states happen outside it.

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::vec::Vec;

use flate2::{Compress, Compression, Decompress};

/// Idle states, each with the key it was made for, most recently given
/// back last; and how many states of the pool are lent out.
struct Pool<K, T> {
    inner: Mutex<Inner<K, T>>,
}

struct Inner<K, T> {
    idle: Vec<(K, T)>,
    lent: usize,
}

/// What [`Pool::lend`] gives.
enum Loan<T> {
    /// An idle state, reset.
    Idle(T),
    /// Room for one more: the borrower makes it (outside the lock). `old`
    /// is an idle state of another key that made room, to free.
    Make { old: Option<T> },
    /// `max` states of the pool exist and all are lent.
    Full,
}

impl<K: Copy + Eq, T> Pool<K, T> {
    const fn new() -> Self {
        Pool {
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                lent: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, T>> {
        // Nothing that can panic runs under the lock but pushing and
        // removing one entry: a poisoned pool is consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the most recently given back idle state made for `key`.
    fn take_idle(inner: &mut Inner<K, T>, key: K) -> Option<T> {
        let at = inner.idle.iter().rposition(|(k, _)| *k == key)?;
        Some(inner.idle.remove(at).1)
    }

    /// An idle state for `key`, for a borrower that keeps it as its own
    /// (it leaves the pool's count).
    fn take(&self, key: K) -> Option<T> {
        Self::take_idle(&mut self.lock(), key)
    }

    /// Lends a state for `key` while at most `max` states of the pool
    /// exist; it comes back through [`give_back`](Self::give_back).
    fn lend(&self, key: K, max: usize) -> Loan<T> {
        let mut inner = self.lock();
        if let Some(state) = Self::take_idle(&mut inner, key) {
            inner.lent += 1;
            return Loan::Idle(state);
        }
        if inner.idle.len() + inner.lent < max {
            inner.lent += 1;
            return Loan::Make { old: None };
        }
        if inner.idle.is_empty() {
            return Loan::Full;
        }
        // Only states of other keys are idle: the oldest makes room.
        let old = inner.idle.remove(0).1;
        inner.lent += 1;
        Loan::Make { old: Some(old) }
    }

    /// Takes back a lent state (reset), or only its place if `state` is
    /// `None` (it could not be made).
    fn give_back(&self, key: K, state: Option<T>) {
        let mut inner = self.lock();
        inner.lent = inner.lent.saturating_sub(1);
        if let Some(state) = state {
            // Room was counted when it was lent.
            inner.idle.push((key, state));
        }
    }

    /// Keeps `state` (reset, not lent) idle if fewer than `max` states of
    /// the pool exist; otherwise it is freed.
    fn keep(&self, key: K, state: T, max: usize) {
        let refused = {
            let mut inner = self.lock();
            if inner.idle.len() + inner.lent < max {
                inner.idle.push((key, state));
                None
            } else {
                Some(state)
            }
        };
        drop(refused);
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.idle.len(), inner.lent)
    }
}

/// Compressors by (window bits, level).
static COMPRESSORS: Pool<(u8, u32), Compress> = Pool::new();
/// Decompressors by window bits.
static DECOMPRESSORS: Pool<u8, Decompress> = Pool::new();

/// The CPUs this process may run on, asked once.
fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// At most this many compressors are in the pool, lent or idle: twice the
/// CPUs, 4 to 64.
pub(crate) fn compressors() -> usize {
    (2 * cpus()).clamp(4, 64)
}

/// At most this many idle decompressors are kept: four times
/// [`compressors`].
pub(crate) fn idle_decompressors() -> usize {
    4 * compressors()
}

fn new_compressor(bits: u8, level: u32) -> Compress {
    Compress::new_with_window_bits(Compression::new(level), false, bits)
}

/// A compressor for raw deflate with a `bits` window at `level`, fresh,
/// lent for one message; `None` when all the pool's compressors are lent
/// (send the message uncompressed). Give it back with [`give_back`].
pub(crate) fn lend(bits: u8, level: u32) -> Option<Compress> {
    match COMPRESSORS.lend((bits, level), compressors()) {
        Loan::Idle(compressor) => Some(compressor),
        Loan::Make { old } => {
            drop(old);
            Some(new_compressor(bits, level))
        }
        Loan::Full => None,
    }
}

/// Gives back a compressor from [`lend`] with the same `bits` and
/// `level`, whatever it was doing: it is reset first.
pub(crate) fn give_back(bits: u8, level: u32, mut compressor: Compress) {
    // In place: zlib's hash heads are cleared, nothing is allocated.
    compressor.reset();
    COMPRESSORS.give_back((bits, level), Some(compressor));
}

/// A compressor of its own for a connection with context takeover: an idle
/// one of the pool, or a new one. Leave it with [`leave_compressor`].
pub(crate) fn own_compressor(bits: u8, level: u32) -> Compress {
    COMPRESSORS
        .take((bits, level))
        .unwrap_or_else(|| new_compressor(bits, level))
}

/// Leaves a compressor from [`own_compressor`] to the pool (reset), or
/// frees it if the pool is full.
pub(crate) fn leave_compressor(bits: u8, level: u32, mut compressor: Compress) {
    compressor.reset();
    COMPRESSORS.keep((bits, level), compressor, compressors());
}

/// A decompressor for raw deflate with a `bits` window, fresh: an idle
/// one, or a new one. Give it back with [`leave_decompressor`].
pub(crate) fn decompressor(bits: u8) -> Decompress {
    DECOMPRESSORS
        .take(bits)
        .unwrap_or_else(|| Decompress::new_with_window_bits(false, bits))
}

/// Gives back a decompressor from [`decompressor`] with the same `bits`,
/// whatever it was doing: it is reset first, and freed if
/// [`idle_decompressors`] are idle already. (flate2 resets a 15-bit
/// decompressor in place; one with a smaller window it makes anew, as
/// zlib-rs' own reset would restore the 15-bit default. zlib-rs gives
/// every decompressor a 32 KiB window whatever the bits, so none is
/// smaller.)
pub(crate) fn leave_decompressor(bits: u8, mut decompressor: Decompress) {
    decompressor.reset(false);
    DECOMPRESSORS.keep(bits, decompressor, idle_decompressors());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lends_at_most_max() {
        let pool: Pool<u8, u32> = Pool::new();
        assert!(matches!(pool.lend(0, 2), Loan::Make { old: None }));
        assert!(matches!(pool.lend(0, 2), Loan::Make { old: None }));
        assert!(matches!(pool.lend(0, 2), Loan::Full));
        pool.give_back(0, Some(7));
        assert_eq!(pool.counts(), (1, 1));
        // The idle one, whatever key asks: of another key, it makes room.
        assert!(matches!(pool.lend(1, 2), Loan::Make { old: Some(7) }));
        assert!(matches!(pool.lend(1, 2), Loan::Full));
        pool.give_back(1, Some(8));
        pool.give_back(0, None);
        assert_eq!(pool.counts(), (1, 0));
        assert!(matches!(pool.lend(1, 2), Loan::Idle(8)));
    }

    #[test]
    fn keeps_at_most_max() {
        let pool: Pool<u8, u32> = Pool::new();
        for state in 0..5 {
            pool.keep(state as u8 % 2, state, 3);
        }
        assert_eq!(pool.counts(), (3, 0));
        // The most recent of the key first.
        assert_eq!(pool.take(0), Some(2));
        assert_eq!(pool.take(0), Some(0));
        assert_eq!(pool.take(0), None);
        assert_eq!(pool.take(1), Some(1));
    }

    #[test]
    fn bounds() {
        assert!((4..=64).contains(&compressors()));
        assert_eq!(idle_decompressors(), 4 * compressors());
    }
}
