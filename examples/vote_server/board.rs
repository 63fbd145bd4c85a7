//! The board: the candidates, their counts, and the version that every
//! transport watches.
//!
//! A vote is counted and the new counts published under one lock, so the
//! versions are a total order: version `N` is the board after its `N`th
//! counted vote, counts only grow from one version to the next, and every
//! transport (`/ws`, `/events`, `/api/counts`) hands out the same
//! [`Snapshot`] for a version (serialised once, shared by reference).
//!
//! The newest snapshot lives in a tokio `watch` channel: a watcher that is
//! slow simply finds the newest one when it looks next (intermediate
//! versions are skipped, nothing queues up), and a watcher that goes away
//! (a long poll whose client left) drops its receiver and costs nothing
//! afterwards.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rfc6455::Utf8Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

/// One version of the board, serialised once for every transport.
#[derive(Debug)]
pub struct Snapshot {
    /// How many votes were counted before it (0: the empty board).
    pub version: u64,
    /// `{"type":"counts","version":N,"candidates":[{"name":..,"votes":..}],
    /// "total":T,"voted_at":MS}`, `voted_at` being the server's clock (ms
    /// since the Unix epoch) when the vote that made this version was
    /// counted (`null` for version 0): a page shows the latency from it.
    pub json: Utf8Bytes,
    /// The total of the counts.
    pub total: u64,
}

/// The candidates and their counts, and the channel of snapshots.
pub struct Board {
    counts: Mutex<Vec<(String, u64)>>,
    snapshots: watch::Sender<Arc<Snapshot>>,
}

/// Why a vote was not counted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not `{"vote": "NAME"}` (the reason says what was wrong).
    Malformed(String),
    /// A name that is not on the board.
    Unknown(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Malformed(why) => f.write_str(why),
            Refused::Unknown(name) => write!(f, "unknown candidate {name:?}"),
        }
    }
}

impl Board {
    /// A board of `names`, every count 0, at version 0.
    pub fn new(names: Vec<String>) -> Board {
        let counts: Vec<(String, u64)> = names.into_iter().map(|name| (name, 0)).collect();
        let first = snapshot(&counts, 0, None);
        Board {
            counts: Mutex::new(counts),
            snapshots: watch::Sender::new(first),
        }
    }

    /// The newest snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }

    /// A receiver of every newer snapshot (the current one counts as seen).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.subscribe()
    }

    /// Counts `{"vote": "NAME"}` (the JSON text of a WebSocket message or an
    /// HTTP body) and publishes the new snapshot; nothing is counted when
    /// it is refused.
    pub fn vote_json(&self, text: &[u8]) -> Result<Arc<Snapshot>, Refused> {
        let name = parse_vote(text)?;
        self.vote(&name)
    }

    /// Counts a vote for `name` and publishes the new snapshot.
    pub fn vote(&self, name: &str) -> Result<Arc<Snapshot>, Refused> {
        // One statement changes the counts: a poisoned lock is usable.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((_, votes)) = counts.iter_mut().find(|(n, _)| n == name) else {
            return Err(Refused::Unknown(name.to_string()));
        };
        *votes += 1;
        let version = self.snapshots.borrow().version + 1;
        let next = snapshot(&counts, version, Some(now_ms()));
        // Published under the lock: versions reach the channel in order.
        self.snapshots.send_replace(Arc::clone(&next));
        Ok(next)
    }
}

/// Reads `{"vote": "NAME"}` and nothing else.
pub fn parse_vote(text: &[u8]) -> Result<String, Refused> {
    let malformed = || Refused::Malformed("expected {\"vote\": \"NAME\"}".into());
    let value: Value =
        serde_json::from_slice(text).map_err(|e| Refused::Malformed(format!("not JSON: {e}")))?;
    match value.as_object() {
        Some(fields) if fields.len() == 1 => match fields.get("vote") {
            Some(Value::String(name)) => Ok(name.clone()),
            _ => Err(malformed()),
        },
        _ => Err(malformed()),
    }
}

fn snapshot(counts: &[(String, u64)], version: u64, voted_at: Option<u64>) -> Arc<Snapshot> {
    let candidates: Vec<Value> = counts
        .iter()
        .map(|(name, votes)| json!({"name": name, "votes": votes}))
        .collect();
    let total: u64 = counts.iter().map(|(_, votes)| votes).sum();
    let json = json!({
        "type": "counts",
        "version": version,
        "candidates": candidates,
        "total": total,
        "voted_at": voted_at,
    });
    Arc::new(Snapshot {
        version,
        json: Utf8Bytes::from(json.to_string()),
        total,
    })
}

/// The server's clock in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
