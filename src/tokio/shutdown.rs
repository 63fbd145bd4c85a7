//! Graceful shutdown: close every tracked connection with one code and
//! wait for them, up to a deadline.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use std::vec::Vec;

use super::shared::{Shared, register_in};
use super::socket::{Sender, WebSocket};
use crate::close::CloseCode;
use crate::connection::State;

/// The connections of a server, for a graceful shutdown: [`track`](Self::track)
/// each one as it is accepted, then [`close_all`](Self::close_all).
///
/// Holds a weak reference per connection (a few bytes); finished
/// connections are forgotten as new ones are tracked.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    conns: Arc<Mutex<Vec<Weak<Shared>>>>,
}

impl Tracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks `ws`'s connection.
    pub fn track(&self, ws: &WebSocket) {
        self.track_sender(&ws.sender());
    }

    /// Tracks the connection of `sender`.
    pub fn track_sender(&self, sender: &Sender) {
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        // Amortised: forget finished connections when the list doubled.
        if conns.len() >= 64 && conns.len() == conns.capacity() {
            conns.retain(|weak| weak.upgrade().is_some_and(|s| !s.lock().finished));
        }
        conns.push(Arc::downgrade(sender.shared()));
    }

    /// How many tracked connections are not finished.
    pub fn open(&self) -> usize {
        self.live().len()
    }

    fn live(&self) -> Vec<Arc<Shared>> {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        conns
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|shared| !shared.lock().finished)
            .collect()
    }

    /// Starts the close handshake on every tracked connection that is still
    /// open, with `code` (e.g. 1001, going away) and `reason`, and waits
    /// until they have all finished or `timeout` passed. Returns how many
    /// had not finished by then (their drivers go on, bounded by their own
    /// [`Config::close_timeout`](crate::Config::close_timeout)).
    ///
    /// Cancel safe: dropped, the close frames stay queued; only the wait ends.
    pub async fn close_all(&self, code: CloseCode, reason: &str, timeout: Duration) -> usize {
        let live = self.live();
        for shared in &live {
            let mut inner = shared.lock();
            if inner.conn.state() == State::Open && !inner.finished {
                let _ = inner.conn.close(code, reason);
                inner.wake_driver();
            }
        }
        let wait = core::future::poll_fn(|cx| {
            let mut waiting = false;
            for shared in &live {
                let mut inner = shared.lock();
                if !inner.finished {
                    register_in(&mut inner.finish_wakers, cx.waker());
                    waiting = true;
                }
            }
            if waiting {
                core::task::Poll::Pending
            } else {
                core::task::Poll::Ready(())
            }
        });
        let _ = ::tokio::time::timeout(timeout, wait).await;
        live.iter().filter(|shared| !shared.lock().finished).count()
    }
}
