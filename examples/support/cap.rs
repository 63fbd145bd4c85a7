//! The connection cap of the blocking example servers
//! (`--max-connections`). Each of them spends a thread (the vote board two)
//! and a descriptor (the vote board two) on every connection: without a cap,
//! ~30,000 connections exhaust the machine's process IDs for every process
//! on it. Past the cap a new client gets `503 Service Unavailable` before
//! any upgrade, and the clients already connected are served as before.
//!
//! A server includes this file with `#[path = "support/cap.rs"] mod cap;`
//! rather than through `support`, so a server without a cap compiles no
//! unused code.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rfc6455::blocking;
use rfc6455::handshake::{Limits, http_response};

/// Refused clients answered at the same time, each on a short-lived thread
/// of its own (beyond the cap). A refused client past these is dropped
/// without an answer: a flood of refused clients costs at most this many
/// threads more.
const MAX_REFUSING: usize = 16;

/// How long a refused client has to send its request head (the 503 is sent
/// once the head is read, so that no unread request turns the close into a
/// reset that destroys the answer), and to take the 503.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(2);

/// After the 503, how long and how much input is read and discarded before
/// the socket is dropped (a lingering close, as the crate does after its
/// own HTTP errors).
const REFUSE_LINGER: Duration = Duration::from_secs(1);
const REFUSE_LINGER_BYTES: usize = 64 * 1024;

/// Descriptors left aside for the listener, stdio and the refusals when the
/// default cap is lowered to fit the descriptor limit.
const RESERVED_FDS: u64 = 64;

/// How many connections may be open at once, and how many are.
#[derive(Debug)]
pub struct Cap {
    max: usize,
    open: AtomicUsize,
    refusing: AtomicUsize,
    /// The last client was refused: the next refusal is not logged again.
    full: AtomicBool,
}

/// An admitted connection's place under the cap; free again once dropped.
#[derive(Debug)]
pub struct Slot(Arc<Cap>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A refusal being answered, counted against [`MAX_REFUSING`].
struct Refusal(Arc<Cap>);

impl Drop for Refusal {
    fn drop(&mut self) {
        self.0.refusing.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Cap {
    /// A cap of `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Cap> {
        Arc::new(Cap {
            max: max.max(1),
            open: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
            full: AtomicBool::new(false),
        })
    }

    /// A slot for a new connection, or `None` when `max` are open.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            });
        match taken {
            Ok(_) => {
                self.full.store(false, Ordering::Relaxed);
                Some(Slot(Arc::clone(self)))
            }
            Err(_) => None,
        }
    }

    /// Answers a client that found the server full with 503, on a thread
    /// of its own (at most [`MAX_REFUSING`] at once; past them the client
    /// is dropped unanswered). Logs the first refusal after an admission.
    pub fn refuse(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr, server: &str) {
        if !self.full.swap(true, Ordering::Relaxed) {
            eprintln!(
                "{server}: {} connections open (--max-connections): refusing new clients \
                 with 503, from {peer} on",
                self.max
            );
        }
        let reserved = self
            .refusing
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_REFUSING).then_some(n + 1)
            });
        if reserved.is_err() {
            return; // dropped: too many refusals under way already
        }
        let refusal = Refusal(Arc::clone(self));
        // If the thread cannot start, the closure (and the refusal) is
        // dropped here, and so is the stream.
        let _ = thread::Builder::new().spawn(move || {
            let _refusal = refusal;
            answer_503(stream);
        });
    }
}

/// Reads the request head (within [`REFUSE_TIMEOUT`]), answers 503 with
/// `Retry-After`, then lingers briefly so the client gets to read it.
fn answer_503(mut stream: TcpStream) {
    let limits = Limits {
        timeout: Some(REFUSE_TIMEOUT),
        ..Limits::default()
    };
    // A malformed head is answered (400, 431) by `read_request` itself.
    if blocking::read_request(&mut stream, &limits).is_err() {
        return;
    }
    let response = http_response(
        503,
        &[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Retry-After", "1"),
            ("Connection", "close"),
        ],
        b"too many connections, try again later\n",
    );
    if stream.set_write_timeout(Some(REFUSE_TIMEOUT)).is_err()
        || stream.write_all(&response).is_err()
        || stream.shutdown(Shutdown::Write).is_err()
    {
        return;
    }
    let deadline = Instant::now() + REFUSE_LINGER;
    let mut buf = [0u8; 4096];
    let mut left = REFUSE_LINGER_BYTES;
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => left = left.saturating_sub(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The default of `--max-connections`: `preferred`, lowered when the soft
/// descriptor limit (`ulimit -n`, read from `/proc/self/limits` on Linux)
/// cannot hold that many connections of `fds_each` descriptors plus
/// [`RESERVED_FDS`]: so that a client past the cap is answered with 503
/// instead of the server failing `accept` for want of descriptors.
pub fn default_max(preferred: usize, fds_each: usize) -> usize {
    let Some(limit) = soft_descriptor_limit() else {
        return preferred;
    };
    let fit = limit.saturating_sub(RESERVED_FDS) / fds_each.max(1) as u64;
    preferred
        .min(usize::try_from(fit).unwrap_or(usize::MAX))
        .max(1)
}

/// The soft limit on open files, where the OS tells it (Linux); `None`
/// when unlimited or unknown.
fn soft_descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
