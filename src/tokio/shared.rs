//! The state a connection's driver task and its handles share: the
//! [`Connection`] itself, the events received for the application, and the
//! wakers of whoever waits. One `std::sync::Mutex` guards it, held for one
//! step at a time and never across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Waker;
use std::vec::Vec;

use crate::connection::Connection;
use crate::error::ProtocolError;
use crate::message::{Event, Message};

/// What the application has not taken yet, and what ended the connection.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) conn: Connection,
    /// Events the driver polled, in order, for the receiver.
    pub(super) events: VecDeque<Event>,
    /// Payload bytes in `events`.
    pub(super) event_bytes: usize,
    /// The peer's protocol error, handed to the receiver after `events`.
    pub(super) protocol_error: Option<ProtocolError>,
    /// The transport failed; handed to the receiver (or a sender) once.
    pub(super) io_error: Option<io::Error>,
    /// The driver has stopped: the connection is over and the transport
    /// dropped. Nothing more will be received or sent.
    pub(super) finished: bool,
    /// The receiver was dropped: events are discarded, not queued.
    pub(super) receiver_gone: bool,
    /// Live senders (the `WebSocket` counts as one). When the last handle
    /// goes, the connection is closed with 1001.
    pub(super) senders: usize,
    /// The receiver waits for an event.
    pub(super) recv_waker: Option<Waker>,
    /// Senders waiting for the output to drain below the high-water mark.
    pub(super) send_wakers: Vec<Waker>,
    /// Tasks waiting for the connection to finish (`close`, shutdown).
    pub(super) finish_wakers: Vec<Waker>,
    /// The driver, to wake when there is output to write or room for
    /// events again.
    pub(super) driver_waker: Option<Waker>,
    /// The [`Tracker`](super::Tracker)s that track this connection, and its
    /// key in each: it leaves them when it finishes (see [`untrack`](Self::untrack)).
    pub(super) trackers: Vec<(Weak<Registry>, u64)>,
}

/// A tracker's connections by key. Lock order: a connection's [`Shared`]
/// first, then a registry; a registry's lock is never held while a
/// connection's is taken.
#[derive(Debug, Default)]
pub(super) struct Registry {
    conns: Mutex<(u64, HashMap<u64, Weak<Shared>>)>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Weak<Shared>>)> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `shared` (whose lock the caller holds, as `inner`).
    pub(super) fn add(self: &Arc<Self>, shared: &Arc<Shared>, inner: &mut Inner) {
        let mut conns = self.lock();
        let key = conns.0;
        conns.0 += 1;
        conns.1.insert(key, Arc::downgrade(shared));
        inner.trackers.push((Arc::downgrade(self), key));
    }

    /// The connections tracked now (a snapshot, taken without holding any
    /// connection's lock).
    pub(super) fn snapshot(&self) -> Vec<Arc<Shared>> {
        let mut conns = self.lock();
        // Connections whose driver was dropped unpolled and whose handles
        // are gone never finished: forgotten here.
        conns.1.retain(|_, weak| weak.strong_count() > 0);
        conns.1.values().filter_map(Weak::upgrade).collect()
    }

    /// How many connections are tracked.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().1.len()
    }
}

/// The shared state; see the module docs.
#[derive(Debug)]
pub(super) struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    pub(super) fn new(conn: Connection) -> Self {
        Shared {
            inner: Mutex::new(Inner {
                conn,
                events: VecDeque::new(),
                event_bytes: 0,
                protocol_error: None,
                io_error: None,
                finished: false,
                receiver_gone: false,
                senders: 1,
                recv_waker: None,
                send_wakers: Vec::new(),
                finish_wakers: Vec::new(),
                driver_waker: None,
                trackers: Vec::new(),
            }),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every step on the connection is a single call that leaves it
        // consistent, so a panic elsewhere while holding the lock does not
        // make the state unusable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stores `waker` in `slot` unless it already holds one that wakes the same task.
pub(super) fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Adds `waker` to `list` unless a waker of the same task is there.
pub(super) fn register_in(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

impl Inner {
    /// Leaves every tracker: the connection is over (or its driver gone).
    pub(super) fn untrack(&mut self) {
        for (registry, key) in self.trackers.drain(..) {
            if let Some(registry) = registry.upgrade() {
                registry.lock().1.remove(&key);
            }
        }
    }

    /// Wakes the driver: there is output, or room for events again.
    pub(super) fn wake_driver(&mut self) {
        if let Some(waker) = self.driver_waker.take() {
            waker.wake();
        }
    }

    /// Wakes every waiting sender.
    pub(super) fn wake_senders(&mut self) {
        for waker in self.send_wakers.drain(..) {
            waker.wake();
        }
    }

    /// Wakes the receiver.
    pub(super) fn wake_receiver(&mut self) {
        if let Some(waker) = self.recv_waker.take() {
            waker.wake();
        }
    }

    /// Whether a sender may queue now: output under the high-water mark.
    pub(super) fn has_send_room(&self) -> bool {
        self.conn.output_len() <= self.conn.config().output_high_water
    }

    /// The size an event counts for in the receive queue's bound.
    pub(super) fn event_size(event: &Event) -> usize {
        match event {
            Event::Message(Message::Text(text)) => text.len(),
            Event::Message(Message::Binary(data)) => data.len(),
            Event::Ping(data) | Event::Pong(data) => data.len(),
            Event::Close(frame) => frame.reason.len(),
            Event::Lost(_) => 0,
        }
    }
}
