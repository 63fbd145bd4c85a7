//! The std adapters' clock: the connection's time is a `Duration` since a
//! process-wide `Instant`, taken at the first use.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Now, as the connection's clock reads it.
pub(crate) fn now() -> Duration {
    epoch().elapsed()
}

/// The `Instant` a deadline on the connection's clock stands for.
#[cfg(feature = "tokio")]
pub(crate) fn instant_at(deadline: Duration) -> Instant {
    epoch() + deadline
}
