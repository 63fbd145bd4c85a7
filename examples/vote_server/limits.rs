//! What one client may cost: the vote token bucket (per WebSocket
//! connection, per client address for HTTP votes) and the caps on requests
//! held open (long polls, event streams).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The vote rate limit: a token bucket.
#[derive(Debug, Clone, Copy)]
pub struct VoteLimit {
    /// Tokens added per second (`--vote-rate`).
    pub rate: f64,
    /// The bucket's size, and its content at the start (`--vote-burst`).
    pub burst: u32,
}

impl VoteLimit {
    /// The error a vote over the limit gets.
    pub fn refusal(&self) -> String {
        format!(
            "too many votes: at most {} a second ({} at once); this one was not counted",
            self.rate, self.burst
        )
    }
}

/// A token bucket: [`VoteLimit::burst`] tokens at most, refilled at
/// [`VoteLimit::rate`] a second; each vote takes one.
#[derive(Debug)]
pub struct Bucket {
    limit: VoteLimit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(limit: VoteLimit, now: Instant) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let refill = now.duration_since(self.last).as_secs_f64() * self.limit.rate;
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        self.last = now;
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full again (forgetting it changes nothing).
    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(self.limit.burst)
    }
}

/// Client addresses whose HTTP vote buckets are remembered at once. A
/// bucket that is full again is forgotten when room is needed (it would
/// allow the same as a new one); when this many addresses all voted within
/// the last `burst / rate` seconds, a vote from yet another address gets
/// 429 too. 16,384 buckets are about 1 MiB.
pub const MAX_VOTERS: usize = 16_384;

/// The HTTP vote buckets, one per client address (an IPv6 address by its
/// /64, which one host usually holds whole).
#[derive(Debug)]
pub struct Voters {
    limit: VoteLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Voters {
    pub fn new(limit: VoteLimit) -> Voters {
        Voters {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `ip`'s bucket if there is one.
    pub fn take(&self, ip: IpAddr, now: Instant) -> bool {
        let key = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(bits.into())
                }
            },
            v4 => v4,
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= MAX_VOTERS {
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= MAX_VOTERS {
                return false;
            }
        }
        buckets
            .entry(key)
            .or_insert_with(|| Bucket::new(self.limit, now))
            .take(now)
    }
}

/// A cap on requests of one kind held open at once (long polls, event
/// streams): a place is a semaphore permit, given back when the request's
/// future is dropped, whether it completed or its client went away.
#[derive(Debug)]
pub struct Held {
    max: usize,
    places: Arc<Semaphore>,
    /// Requests of this kind admitted so far, and refused with 503.
    pub admitted: AtomicU64,
    pub refused: AtomicU64,
}

impl Held {
    pub fn new(max: usize) -> Held {
        Held {
            max,
            places: Arc::new(Semaphore::new(max)),
            admitted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A place, or `None` when `max` are held.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        match Arc::clone(&self.places).try_acquire_owned() {
            Ok(permit) => {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                Some(permit)
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// How many are held now.
    pub fn open(&self) -> usize {
        self.max - self.places.available_permits()
    }

    pub fn max(&self) -> usize {
        self.max
    }
}
