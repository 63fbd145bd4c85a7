//! The members on this process and the fan-out to them: [`Room::deliver`]
//! takes an event already published in the room's one order (numbered by
//! this process alone, or by Redis across processes: see `cluster.rs`),
//! frames it once ([`PreparedMessage`]) and offers it to each member's
//! [`Mailbox`], and keeps the recent room events for the SSE and
//! long-polling readers ([`History`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rfc6455::tokio::Sender;
use rfc6455::{CloseCode, Message, PreparedMessage, Utf8Bytes};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::cluster::Cluster;
use crate::nickname;
use crate::topic::{Mailbox, Offered, WhenFull};

/// Everyone online on this process, by nickname. One lock guards it: every
/// delivery happens under it, in the order events were published.
pub struct Room {
    pub users: BTreeMap<String, User>,
    /// Tells apart two connections that used the same nickname in turn.
    next_id: u64,
    next_guest: u64,
    /// Without Redis: the number of the last event published.
    seq: u64,
    /// The recent room events, for `/chat/stream` and `/chat/poll`.
    pub history: History,
    /// Each member's mailbox bounds (`--queue`, `--queue-bytes`).
    queue_items: usize,
    queue_bytes: usize,
    #[cfg(feature = "deflate")]
    deflate: Option<rfc6455::deflate::DeflateConfig>,
    /// With `--redis`: where presence lives and events are published.
    pub cluster: Option<Arc<Cluster>>,
}

pub struct User {
    pub id: u64,
    /// The confusable skeleton of the nickname ([`nickname::skeleton`]).
    pub skeleton: String,
    /// What waits for this member's writer task.
    pub mailbox: Arc<Mailbox<Out>>,
    /// The member's connection, to close it when it cannot keep up.
    pub socket: Sender,
}

/// What the room queues for a member's writer.
pub enum Out {
    /// A message (JSON text) framed once for every mailbox it is in.
    Frame(PreparedMessage),
    /// The close frame to end with; nothing is sent after it.
    Close(CloseCode, &'static str),
}

/// Who receives a published event.
#[derive(Clone, Debug)]
pub enum Audience {
    /// Every member.
    Everyone,
    /// A private message: its recipient and its sender (once if the same).
    Pair { to: String, from: String },
}

/// Locks the room. Every change is a single map operation, so a panic
/// while holding the lock leaves it consistent: go on.
pub fn lock(room: &Mutex<Room>) -> MutexGuard<'_, Room> {
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch: the server's timestamp on every message.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `event` with its timestamp.
pub fn stamped(mut event: Value) -> Value {
    event["time"] = json!(now_ms());
    event
}

impl Room {
    pub fn new(settings: &crate::settings::Settings, cluster: Option<Arc<Cluster>>) -> Room {
        Room {
            users: BTreeMap::new(),
            next_id: 0,
            next_guest: 0,
            seq: 0,
            history: History::new(settings.history),
            queue_items: settings.queue,
            queue_bytes: settings.queue_bytes,
            #[cfg(feature = "deflate")]
            deflate: settings
                .deflate
                .then(|| crate::support::deflate_policy().threshold(crate::DEFLATE_THRESHOLD)),
            cluster,
        }
    }

    /// A new member's mailbox: the room drops a member whose mailbox is full.
    pub fn mailbox(&self) -> Arc<Mailbox<Out>> {
        Arc::new(Mailbox::new(
            self.queue_items,
            self.queue_bytes,
            WhenFull::Drop,
        ))
    }

    /// Without Redis: adds a member under the nickname it asked for,
    /// normalised (or an anonymous label), welcomes it and announces it.
    /// Returns its id and name, or why it was refused.
    pub fn join(
        &mut self,
        wanted: Option<String>,
        mailbox: Arc<Mailbox<Out>>,
        socket: Sender,
        server: &str,
    ) -> Result<(u64, String), String> {
        let wanted = nickname::normalise(wanted.as_deref().unwrap_or(""))?;
        let name = if wanted.is_empty() {
            loop {
                let label = self.guest_label("");
                if self.check(&label).is_ok() {
                    break label;
                }
            }
        } else {
            self.check(&wanted)?;
            wanted
        };
        let id = self.admit(&name, mailbox, socket);
        let users: Vec<&String> = self.users.keys().collect();
        let welcome = json!({"type": "welcome", "you": name, "users": users, "server": server});
        self.send_to(&name, welcome);
        let online = self.users.len();
        self.publish(
            Audience::Everyone,
            json!({"type": "join", "user": name, "online": online}),
        );
        Ok((id, name))
    }

    /// The next anonymous label (`guest-N`, or `guest-TAG-N` with a tag).
    pub fn guest_label(&mut self, tag: &str) -> String {
        self.next_guest += 1;
        match tag {
            "" => format!("guest-{}", self.next_guest),
            tag => format!("guest-{tag}-{}", self.next_guest),
        }
    }

    /// Adds a member whose name is known to be free; returns its id.
    pub fn admit(&mut self, name: &str, mailbox: Arc<Mailbox<Out>>, socket: Sender) -> u64 {
        self.next_id += 1;
        let user = User {
            id: self.next_id,
            skeleton: nickname::skeleton(name),
            mailbox,
            socket,
        };
        self.users.insert(name.to_string(), user);
        self.next_id
    }

    /// Whether `name` (normalised) is free here: not in use, and not like
    /// the name of anyone online (the same confusable skeleton).
    pub fn check(&self, name: &str) -> Result<(), String> {
        if self.users.contains_key(name) {
            return Err(format!("nickname {name:?} is already taken"));
        }
        let skeleton = nickname::skeleton(name);
        match self
            .users
            .iter()
            .find(|(_, user)| user.skeleton == skeleton)
        {
            Some((other, _)) => Err(format!(
                "nickname {name:?} looks like {other:?}, who is online"
            )),
            None => Ok(()),
        }
    }

    /// Whether member `id` is still in the room as `name` (the name may
    /// belong to a newer connection by now).
    pub fn has(&self, id: u64, name: &str) -> bool {
        self.users.get(name).is_some_and(|user| user.id == id)
    }

    /// Removes member `id` if it is still in the room and announces that it left.
    pub fn leave(&mut self, id: u64, name: &str, reason: &'static str) {
        if self.has(id, name) {
            self.remove(name, reason);
        }
    }

    /// Removes `name` and announces it (with Redis: releases its nickname
    /// and publishes the leave, from a task). Closing its mailbox ends its
    /// writer task once that has sent what is left.
    pub fn remove(&mut self, name: &str, reason: &'static str) {
        let Some(user) = self.users.remove(name) else {
            return;
        };
        user.mailbox.close();
        match &self.cluster {
            None => {
                let online = self.users.len();
                self.publish(
                    Audience::Everyone,
                    json!({"type": "leave", "user": name, "reason": reason, "online": online}),
                );
            }
            Some(cluster) => {
                let cluster = Arc::clone(cluster);
                let name = name.to_string();
                tokio::spawn(async move { cluster.leave(&name, reason).await });
            }
        }
    }

    /// Without Redis: numbers `event`, stamps it and delivers it (the lock
    /// held by the caller is the room's one order).
    pub fn publish(&mut self, audience: Audience, event: Value) {
        self.seq += 1;
        self.deliver(self.seq, &audience, stamped(event));
    }

    /// The last number given by [`publish`](Self::publish) or seen by
    /// [`deliver`](Self::deliver).
    pub fn last_id(&self) -> u64 {
        self.seq
    }

    fn prepare(&self, text: Utf8Bytes) -> PreparedMessage {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = &self.deflate {
            return PreparedMessage::with_deflate(Message::Text(text), deflate);
        }
        PreparedMessage::new(Message::Text(text))
    }

    /// Delivers event number `id`, already published in the room's order:
    /// framed (and compressed) once, offered to each local member of its
    /// audience, never waiting; a room event is also kept in the
    /// [`History`]. A member whose mailbox is full is closed with 1013 and
    /// announced as `too slow`; one whose writer is gone, as `connection lost`.
    pub fn deliver(&mut self, id: u64, audience: &Audience, mut event: Value) {
        self.seq = self.seq.max(id);
        event["id"] = json!(id);
        let text = Utf8Bytes::from(event.to_string());
        let prepared = self.prepare(text.clone());
        let bytes = text.len();
        let mut dropped = Vec::new();
        let mut offer = |name: &str, user: &User| {
            if let Err(reason) = offer(user, Out::Frame(prepared.clone()), bytes) {
                dropped.push((name.to_string(), reason));
            }
        };
        match audience {
            Audience::Everyone => {
                for (name, user) in &self.users {
                    offer(name, user);
                }
                self.history.push(id, text);
            }
            Audience::Pair { to, from } => {
                let from = (from != to).then_some(from);
                for name in std::iter::once(to).chain(from) {
                    if let Some(user) = self.users.get(name) {
                        offer(name, user);
                    }
                }
            }
        }
        for (name, reason) in dropped {
            self.remove(&name, reason);
        }
    }

    /// Queues `event` for one local member (a welcome, an error): not
    /// published. False if nobody has that name.
    pub fn send_to(&mut self, name: &str, event: Value) -> bool {
        let Some(user) = self.users.get(name) else {
            return false;
        };
        let text = Utf8Bytes::from(stamped(event).to_string());
        let bytes = text.len();
        if let Err(reason) = offer(user, Out::Frame(self.prepare(text)), bytes) {
            self.remove(name, reason);
        }
        true
    }

    /// Queues `event` for every local member, not published (the room's
    /// state: degraded, back).
    pub fn tell_everyone(&mut self, event: &Value) {
        let names: Vec<String> = self.users.keys().cloned().collect();
        for name in names {
            self.send_to(&name, event.clone());
        }
    }

    /// Queues the final close for one member, behind what is queued for it.
    pub fn close(&mut self, name: &str, code: CloseCode, reason: &'static str) {
        if let Some(user) = self.users.get(name)
            && !user.mailbox.finish_with(Out::Close(code, reason))
        {
            close_now(&user.socket, code, reason);
        }
    }
}

/// Offers `out` to `user` without waiting; if its mailbox is full, closes
/// it with 1013. `Err` with the reason to announce when it must go.
fn offer(user: &User, out: Out, bytes: usize) -> Result<(), &'static str> {
    match user.mailbox.offer(out, bytes) {
        Offered::Queued | Offered::Replaced(_) => Ok(()),
        Offered::Full => {
            close_now(&user.socket, CloseCode::TRY_AGAIN_LATER, "too slow");
            Err("too slow")
        }
        // Its writer ended: the connection is over.
        Offered::Closed => Err("connection lost"),
    }
}

/// Starts the close handshake on `socket` now, ahead of anything its writer
/// has not sent yet; the adapter's driver completes it (bounded by the
/// close and write timeouts).
pub fn close_now(socket: &Sender, code: CloseCode, reason: &'static str) {
    let socket = socket.clone();
    // `close` queues the frame at its first poll; the task then only waits.
    tokio::spawn(async move {
        let _ = socket.close(code, reason).await;
    });
}

// ---- the recent room events ---------------------------------------------------------

/// The last `capacity` room events (messages, joins, leaves) with their
/// numbers, for the SSE and long-polling readers: each reader keeps a
/// cursor (the last number it saw), not a queue of its own.
pub struct History {
    entries: VecDeque<(u64, Utf8Bytes)>,
    capacity: usize,
    /// The number of the newest event pushed out of the ring (0: none yet).
    evicted: u64,
    /// The newest number kept, watched by the readers waiting for more.
    latest: watch::Sender<u64>,
}

/// The events after a reader's cursor.
pub struct Since {
    /// True if some events after the cursor are no longer kept: the reader
    /// fell further behind than the ring holds and gets all that is kept.
    pub behind: bool,
    pub events: Vec<(u64, Utf8Bytes)>,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            evicted: 0,
            latest: watch::channel(0).0,
        }
    }

    fn push(&mut self, id: u64, text: Utf8Bytes) {
        if self.entries.len() == self.capacity
            && let Some((old, _)) = self.entries.pop_front()
        {
            self.evicted = old;
        }
        self.entries.push_back((id, text));
        self.latest.send_replace(id);
    }

    /// The newest number kept (0: none).
    pub fn latest(&self) -> u64 {
        self.entries.back().map_or(self.evicted, |(id, _)| *id)
    }

    /// A receiver that wakes when an event is kept.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// The events numbered above `cursor`, at most `limit` of them (the
    /// oldest first). A cursor past the newest event kept is no cursor of
    /// this room (a Redis restarted with every process: the numbers began
    /// again): `behind` too, so that the reader starts afresh.
    pub fn since(&self, cursor: u64, limit: usize) -> Since {
        let behind = cursor < self.evicted || cursor > self.latest();
        let cursor = if cursor > self.latest() { 0 } else { cursor };
        let events = self
            .entries
            .iter()
            .filter(|(id, _)| *id > cursor)
            .take(limit)
            .cloned()
            .collect();
        Since { behind, events }
    }
}
