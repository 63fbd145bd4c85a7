//! A subscriber's bounded mailbox, with the topic's policy for when it is
//! full: the queue between a topic's fan-out (which never waits) and the
//! one task that writes to the subscriber's socket.
//!
//! Why here and not in the crate: what to do with a subscriber that cannot
//! keep up is application work (the chat tells the room the member left
//! `too slow` and closes it with 1013; a vote board keeps only the latest
//! counts), and the crate's core never does application work while its
//! adapters stay thin. The adapter already gives what a topic is built
//! from: [`rfc6455::PreparedMessage`] (framed and compressed once, queued
//! on every socket without a copy), a bounded output with backpressure
//! (`Config::output_high_water`) and a write timeout.
//!
//! Two bounds per mailbox, whichever is reached first: a number of messages
//! and a number of payload bytes. uWebSockets bounds a subscriber by bytes
//! (`maxBackpressure`, 1 MiB in uWebSockets.js's typings; past it a publish
//! *skips* the subscriber unless `closeOnBackpressureLimit` closes it) and
//! Centrifugo too (`client_queue_max_size`, 10 MiB; past it the client is
//! disconnected as `slow`). The chat's defaults: 1024 messages or 1 MiB,
//! then the member is dropped with 1013 (a reader that skips messages
//! silently would see a room that is not the others' room).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// What a topic does with a subscriber whose mailbox is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Refuse the message: the caller drops the subscriber (the chat closes
    /// it with 1013, try again later). Every delivered message is then
    /// one of the topic's messages in the topic's order, with no gap.
    Drop,
    /// Make room by discarding the oldest messages: a mailbox that keeps
    /// the newest (a vote board's counts, where only the latest matters).
    KeepNewest,
}

/// What [`Mailbox::offer`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// Queued.
    Queued,
    /// Queued, after discarding this many older messages ([`WhenFull::KeepNewest`]).
    Replaced(usize),
    /// Not queued: full ([`WhenFull::Drop`]); the subscriber must go.
    Full,
    /// Not queued: the mailbox is closed (its reader is gone).
    Closed,
}

struct Inner<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    closed: bool,
}

/// A bounded single-consumer queue: many producers [`offer`](Self::offer)
/// without waiting, one task [`recv`](Self::recv)s.
pub struct Mailbox<T> {
    inner: Mutex<Inner<T>>,
    ready: Notify,
    max_items: usize,
    max_bytes: usize,
    policy: WhenFull,
}

impl<T> Mailbox<T> {
    /// A mailbox of at most `max_items` messages and `max_bytes` bytes (a
    /// single message larger than `max_bytes` is still taken when the
    /// mailbox is empty, so that it can be delivered at all).
    pub fn new(max_items: usize, max_bytes: usize, policy: WhenFull) -> Self {
        Mailbox {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            ready: Notify::new(),
            max_items: max_items.max(1),
            max_bytes,
            policy,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` (of `bytes` bytes) under the mailbox's policy; never waits.
    pub fn offer(&self, item: T, bytes: usize) -> Offered {
        let mut inner = self.lock();
        if inner.closed {
            return Offered::Closed;
        }
        let fits = |inner: &Inner<T>| {
            inner.items.is_empty()
                || (inner.items.len() < self.max_items && inner.bytes + bytes <= self.max_bytes)
        };
        let mut replaced = 0;
        while !fits(&inner) {
            match self.policy {
                WhenFull::Drop => return Offered::Full,
                WhenFull::KeepNewest => {
                    if let Some((_, old)) = inner.items.pop_front() {
                        inner.bytes -= old;
                        replaced += 1;
                    }
                }
            }
        }
        inner.bytes += bytes;
        inner.items.push_back((item, bytes));
        drop(inner);
        self.ready.notify_one();
        if replaced == 0 {
            Offered::Queued
        } else {
            Offered::Replaced(replaced)
        }
    }

    /// Queues `item` past the bounds (one last message, e.g. the close that
    /// ends the subscription), unless the mailbox is closed; then closes it
    /// for everything else. False if it was closed already.
    pub fn finish_with(&self, item: T) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        inner.items.push_back((item, 0));
        inner.closed = true;
        drop(inner);
        self.ready.notify_one();
        true
    }

    /// Closes the mailbox: offers fail, and [`recv`](Self::recv) returns
    /// what is queued, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// The next message, waiting for one; `None` once the mailbox is closed
    /// and empty. Cancel safe: dropped before it completes, it took nothing.
    /// One task receives (a second one would only share the messages).
    pub async fn recv(&self) -> Option<T> {
        loop {
            {
                let mut inner = self.lock();
                if let Some((item, bytes)) = inner.items.pop_front() {
                    inner.bytes -= bytes;
                    return Some(item);
                }
                if inner.closed {
                    return None;
                }
            }
            // `notify_one` stores a permit when nobody waits: an offer
            // between the check above and this await is not lost.
            self.ready.notified().await;
        }
    }
}
