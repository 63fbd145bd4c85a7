//! What one client may cost the server: token buckets for lines and for
//! connection attempts, the cap on connections, and the HTTP refusals
//! (429, 503) sent before an upgrade.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rfc6455::blocking;
use rfc6455::handshake::{Limits, http_response};

/// At most this many refusals are answered at once, each on a short-lived
/// thread of its own; past it a refused connection is closed unanswered.
pub const MAX_REFUSING: usize = 64;

/// A refused client has this long to send its request head, and then to
/// read the answer and close.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Addresses whose attempts are remembered at most. An address is
/// forgotten once its bucket is full again; while this many are not, a
/// new address is refused too (a flood from that many addresses is an
/// attack on the table itself).
const MAX_ADDRESSES: usize = 65_536;

/// Descriptors a chat member holds: its socket, the handle of its writer
/// half, and the room's handle to cut it.
pub const FDS_PER_CONNECTION: u64 = 3;

/// Descriptors kept aside for the listener, stdio and the refusals when
/// the cap is fitted to the descriptor limit.
const RESERVED_FDS: u64 = 64 + MAX_REFUSING as u64;

/// `preferred` connections, or fewer if the soft limit on open files
/// (`ulimit -n`, from `/proc/self/limits` on Linux) cannot hold
/// [`FDS_PER_CONNECTION`] for each: past the cap a client is answered 503,
/// rather than `accept` failing for want of descriptors.
pub fn fitting_max(preferred: usize) -> usize {
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line["Max open files".len()..]
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        });
    let Some(limit) = soft_limit else {
        return preferred; // unlimited, or not told
    };
    let fit = limit.saturating_sub(RESERVED_FDS) / FDS_PER_CONNECTION;
    preferred
        .min(usize::try_from(fit).unwrap_or(usize::MAX))
        .max(1)
}

/// A token bucket: up to `burst` at once, `rate` a second after that.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: f64, rate: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            burst,
            rate,
            last: now,
        }
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

    /// Whether the bucket is full again (nothing to remember).
    fn full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }
}

/// Why a connection is refused before its upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 429: its address made too many attempts.
    TooManyAttempts,
    /// 503: the server holds `--max-connections` already.
    Full,
}

/// Admits connections: each address within its token bucket of attempts,
/// and at most `max` at a time (each admitted connection holds a
/// [`Ticket`] until it ends).
pub struct Gate {
    burst: f64,
    rate: f64,
    attempts: HashMap<IpKey, TokenBucket>,
    /// How many entries `attempts` may reach before it is pruned again.
    prune_at: usize,
    max: usize,
    live: Arc<AtomicUsize>,
    refusing: Arc<AtomicUsize>,
}

/// An address as the attempt limit counts it: IPv4 addresses one by one,
/// IPv6 by /64 prefix (what one site or host is usually given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for IpKey {
    fn from(ip: IpAddr) -> IpKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey::V4(v4.to_bits()),
            IpAddr::V6(v6) => IpKey::V6((v6.to_bits() >> 64) as u64),
        }
    }
}

/// A connection admitted by a [`Gate`]; dropping it makes room.
pub struct Ticket(Arc<AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// Attempts per address: `burst` at once, then `rate` a second; at most
    /// `max` connections at a time.
    pub fn new(burst: usize, rate: f64, max: usize) -> Gate {
        Gate {
            burst: burst as f64,
            rate,
            attempts: HashMap::new(),
            prune_at: 1024,
            max,
            live: Arc::default(),
            refusing: Arc::default(),
        }
    }

    /// Admits a connection from `ip`, or says why not. An attempt refused
    /// for its address takes no token: a client that keeps trying is
    /// admitted again at `rate`.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<Ticket, Refusal> {
        if !self.attempt(ip.into(), now) {
            return Err(Refusal::TooManyAttempts);
        }
        // Only this thread adds; tickets on other threads only subtract.
        if self.live.load(Ordering::Acquire) >= self.max {
            return Err(Refusal::Full);
        }
        self.live.fetch_add(1, Ordering::AcqRel);
        Ok(Ticket(Arc::clone(&self.live)))
    }

    /// Takes a token from the bucket of `key`.
    fn attempt(&mut self, key: IpKey, now: Instant) -> bool {
        if !self.attempts.contains_key(&key) && self.attempts.len() >= self.prune_at {
            self.attempts.retain(|_, bucket| !bucket.full(now));
            self.prune_at = (2 * self.attempts.len()).clamp(1024, MAX_ADDRESSES);
            if self.attempts.len() >= MAX_ADDRESSES {
                return false;
            }
        }
        let (burst, rate) = (self.burst, self.rate);
        self.attempts
            .entry(key)
            .or_insert_with(|| TokenBucket::new(burst, rate, now))
            .take(now)
    }

    /// Answers `stream` with the response for `refusal` on a thread of
    /// its own (at most [`MAX_REFUSING`] at once), and closes it.
    pub fn refuse(&self, stream: TcpStream, refusal: Refusal) {
        if self.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
            return; // dropped: closed unanswered
        }
        let ticket = Ticket(Arc::clone(&self.refusing));
        let response = self.response(refusal);
        let spawned = thread::Builder::new().spawn(move || {
            let _ticket = ticket;
            answer(stream, &response);
        });
        if let Err(e) = spawned {
            eprintln!("cannot start a thread to refuse a connection: {e}");
        }
    }

    /// The whole response for `refusal`.
    fn response(&self, refusal: Refusal) -> Vec<u8> {
        let (status, retry_after, body) = match refusal {
            Refusal::TooManyAttempts => (
                429,
                (1.0 / self.rate).ceil().max(1.0).to_string(),
                format!(
                    "too many connection attempts from your address: at most {} at once, \
                     then {} a second\n",
                    self.burst, self.rate
                ),
            ),
            Refusal::Full => (
                503,
                "5".to_string(),
                format!(
                    "the server is full ({} connections); try again later\n",
                    self.max
                ),
            ),
        };
        http_response(
            status,
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Retry-After", &retry_after),
                ("Connection", "close"),
            ],
            body.as_bytes(),
        )
    }
}

/// Reads the request head (so that closing does not reset the connection
/// under the client's feet), sends `response`, and lingers until the client
/// closes, each step within [`REFUSAL_TIMEOUT`].
fn answer(mut stream: TcpStream, response: &[u8]) {
    let limits = Limits {
        timeout: Some(REFUSAL_TIMEOUT),
        ..Limits::default()
    };
    // A malformed head is answered (400, 431) by `read_request` itself.
    if blocking::read_request(&mut stream, &limits).is_err()
        || stream.set_write_timeout(Some(REFUSAL_TIMEOUT)).is_err()
        || stream.write_all(response).is_err()
        || stream.shutdown(Shutdown::Write).is_err()
    {
        return;
    }
    let deadline = Instant::now() + REFUSAL_TIMEOUT;
    let mut buf = [0u8; 4096];
    let mut left = 64 * 1024;
    while left > 0 {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => left -= n.min(left),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
