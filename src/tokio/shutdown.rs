//! Graceful shutdown: close every tracked connection with one code and
//! wait for them, up to a deadline.

use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;

use super::shared::{Registry, Shared, register_in};
use super::socket::{Sender, WebSocket};
use crate::close::CloseCode;
use crate::connection::State;

/// The connections of a server, for a graceful shutdown: [`track`](Self::track)
/// each one as it is accepted, then [`close_all`](Self::close_all).
///
/// Holds a weak reference per open connection, and the connection its key
/// (about 80 bytes in all); a connection leaves every tracker the moment it
/// finishes, so a tracker never holds more than the connections open now.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    registry: Arc<Registry>,
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

    /// Tracks the connection of `sender` (nothing if it has finished).
    pub fn track_sender(&self, sender: &Sender) {
        let shared = sender.shared();
        let mut inner = shared.lock();
        if !inner.finished {
            self.registry.add(shared, &mut inner);
        }
    }

    /// How many tracked connections are not finished.
    pub fn open(&self) -> usize {
        self.live().len()
    }

    fn live(&self) -> Vec<Arc<Shared>> {
        let mut live = self.registry.snapshot();
        live.retain(|shared| !shared.lock().finished);
        live
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::Role;
    use crate::connection::{Config, Connection};

    #[tokio::test]
    async fn a_finished_connection_leaves_its_tracker() {
        let tracker = Tracker::new();
        let (a, b) = ::tokio::io::duplex(4096);
        let server =
            WebSocket::from_connection(a, Connection::new(Role::Server, Config::default()));
        let client =
            WebSocket::from_connection(b, Connection::new(Role::Client, Config::default()));
        tracker.track(&server);
        tracker.track(&client);
        assert_eq!((tracker.registry.len(), tracker.open()), (2, 2));
        let left = tracker
            .close_all(CloseCode::GOING_AWAY, "bye", Duration::from_secs(5))
            .await;
        assert_eq!(left, 0);
        // Both drivers finished: nothing is retained, handles or not.
        assert_eq!(tracker.registry.len(), 0);
        drop((server, client));
        assert_eq!(tracker.registry.len(), 0);
    }
}
