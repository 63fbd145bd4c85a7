//! [`MemoryBudget`]: one bound on the message bytes that all the
//! connections of a process buffer at once.
//!
//! Per-connection limits cannot bound a server with many connections: a
//! client that sends the first, unfinished frame of a compressed message
//! inflating to just under `max_message_size` pins that much for as long as
//! it answers pings, and a thousand such clients pin a thousand times as
//! much. A budget shared by every connection (clone it into each
//! connection's [`Config`](crate::Config)) bounds the sum: a connection
//! whose next buffered bytes would exceed it fails with 1013 (try again
//! later) instead.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::error::ProtocolError;

/// A byte budget shared by connections; see the module docs.
///
/// Counted: the bytes of messages being assembled (fragments joined,
/// inflated output) and, for a frame larger than
/// [`Config::input_high_water`](crate::Config::input_high_water), the
/// frame's whole length from its header on. Not counted: small frames
/// (each connection's read buffer is bounded by its input high-water mark)
/// and messages already handed to the application.
///
/// ```
/// use rfc6455::{Config, MemoryBudget};
///
/// // 256 MiB for every connection of the process together.
/// let budget = MemoryBudget::new(256 << 20);
/// let config = Config::default().budget(Some(budget.clone()));
/// # let _ = config;
/// assert_eq!(budget.used(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            inner: Arc::new(Shared {
                limit,
                used: AtomicUsize::new(0),
            }),
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes charged right now, by all connections.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    fn try_reserve(&self, n: usize) -> bool {
        let limit = self.inner.limit;
        self.inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= limit)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.inner.used.fetch_sub(n, Ordering::AcqRel);
    }
}

impl PartialEq for MemoryBudget {
    /// The same budget (shared), not an equal limit.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for MemoryBudget {}

/// What one connection holds of a budget.
#[derive(Debug, Default)]
pub(crate) struct Charge {
    budget: Option<MemoryBudget>,
    held: usize,
}

impl Charge {
    pub(crate) fn new(budget: Option<MemoryBudget>) -> Self {
        Charge { budget, held: 0 }
    }

    /// Makes the charge `bytes`: reserves the growth (failing with
    /// [`ProtocolError::OverBudget`] if the budget cannot take it) or gives
    /// the difference back.
    pub(crate) fn set(&mut self, bytes: usize) -> Result<(), ProtocolError> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if bytes > self.held {
            if !budget.try_reserve(bytes - self.held) {
                return Err(ProtocolError::OverBudget {
                    limit: budget.limit(),
                });
            }
        } else {
            budget.release(self.held - bytes);
        }
        self.held = bytes;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let _ = self.set(0);
    }
}
