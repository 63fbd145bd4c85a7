//! A live vote board: a few candidates with their counts. A click on the
//! page votes, and every open page sees the new counts at once, pushed over
//! its WebSocket (no polling).
//!
//! ```text
//! cargo run --example vote_server -- --addr 127.0.0.1:9003
//! ```
//!
//! Then open <http://127.0.0.1:9003/> in a few browser tabs and click.
//!
//! # Protocol
//! JSON text frames on `ws://127.0.0.1:9003/ws`. A client votes with
//! `{"vote": "Rust"}`. The server sends
//! `{"type":"counts","candidates":[{"name":"Rust","votes":3}, ...],"total":3}`
//! to a new client at once and to every client after every vote (a client
//! that reads slowly skips intermediate counts, see below), and
//! `{"type":"error","error":WHY}` to a client whose message was not a valid
//! vote or came over its rate limit (the counts do not change).
//!
//! # Exact counts, slow clients
//! The counts live behind one lock; a vote is counted and the new counts
//! posted to every client under it, so counts only ever grow for every
//! client and the last counts each one gets are the final ones. Each client
//! has a reader thread and a writer thread ([`WebSocket::split`]) and a
//! mailbox between the board and the writer that holds only the newest
//! counts: a slow page skips intermediate counts instead of falling behind,
//! and a burst of votes never piles up.
//!
//! The mailbox alone would only keep stale counts out of the server's
//! memory, not out of the socket: TCP takes whatever fits in the server's
//! send buffer and the client's receive buffer, which grow to megabytes, so
//! a page reading at 20 kB/s while votes arrive at 2,000/s would be shown
//! counts a minute old, and the keepalive ping queued behind them would
//! drop it. So at most one batch (the newest counts, and the error answers
//! that waited) is in flight per client: each batch is followed by a ping
//! carrying its number, and the next batch waits for that ping's pong,
//! which the client sends once it has read the batch (browsers answer pings
//! by themselves). A slow page is therefore at most one update behind,
//! whatever the buffer sizes, and its pongs keep it alive. A client that
//! does not answer pings gets the next batch after [`ACK_TIMEOUT`] instead,
//! so it still sees fresh counts about once a second. The price: a 10-byte
//! ping out and a 14-byte pong in per update, and at most one update per
//! round trip to each page (ten a second at 100 ms, more than a person
//! reads). (Bounding the
//! socket's send buffer, `SO_SNDBUF`, would not do: std has no setter, and
//! the client's receive buffer would still hold stale counts.)
//!
//! # What one client can cost
//! * **Votes**: each connection may send [`VOTE_RATE`] messages a second,
//!   with bursts of [`VOTE_BURST`] (a token bucket; `--vote-rate`,
//!   `--vote-burst`): a person clicking, even quickly, never meets it, and a
//!   script casting a million votes gets 20 counted and then 10 a second.
//!   Every message spends a token, a malformed one too; one over the limit is
//!   answered with an error and neither parsed nor counted. At most
//!   [`MAX_ERRORS`] answers wait per client; more are not sent. The limit is
//!   per connection: a script with many connections gets more votes, as
//!   many as `--max-connections` allows (an application that needs one
//!   vote per person needs accounts, which a demo board does not have).
//! * **Connections**: at most `--max-connections` at once (default
//!   [`DEFAULT_MAX_CONNECTIONS`], lowered to fit the descriptor limit):
//!   each costs two threads and two descriptors, and unbounded they exhaust
//!   the machine's process IDs (~30,000 connections). 2,048 connections are
//!   4,096 threads, an eighth of Linux's traditional `pid_max` of 32,768.
//!   Past the cap a new client gets `503 Service Unavailable` (with
//!   `Retry-After: 1`) before any upgrade; the others are served as before.
//! * **Memory**: a message is at most [`MAX_MESSAGE_BYTES`]. A client that
//!   floods pings while keeping its writer busy and reading slowly is read
//!   only as fast as it reads the pongs: once the connection's unwritten
//!   output passes `Config::output_high_water` (64 KiB) the reader stops
//!   reading until it drains. The client costs at most that plus the
//!   socket buffers, and stays connected as long as it reads; one whose
//!   output makes no progress for [`WRITE_TIMEOUT`] is dropped.
//! * **Time**: the request head must arrive within [`HANDSHAKE_TIMEOUT`]; a
//!   silent client is pinged after `--ping-after` seconds (default 20) and
//!   dropped if it stays silent `--keepalive-timeout` seconds more (default
//!   20). A page may watch for hours without voting: browsers answer pings.
//!
//! # Who may connect, and memory
//! Only the board's own page may open a WebSocket by default (same origin):
//! a page from another site gets 403 before the upgrade, so it cannot cast
//! votes through a visitor's browser. `--allow-origin ORIGIN` (repeatable)
//! lets another site's pages in, `--any-origin` turns the check off, and
//! `--host NAME` (repeatable) refuses other `Host`s with 421. All
//! connections share one `MemoryBudget` of `--memory-budget-mib` (default
//! 256) for their buffered messages (1013 past it); see
//! `support/access.rs`.
//!
//! # Compression
//! permessage-deflate (RFC 7692) is accepted when a client offers it
//! (browsers do), with no context takeover in either direction, as in the
//! chat server and for the same reason: a connection keeps no zlib state
//! between messages, where context takeover would hold about 428 KiB in each
//! (see `support::deflate_policy`). Counts shorter than 512 bytes (four
//! candidates make about 150) are sent uncompressed: they go to every
//! watcher after every vote, and deflate on a fresh window would save a few
//! dozen bytes of each for some 10 µs of zlib setup per watcher. The counts
//! of a long candidate list are compressed. `--no-deflate` declines the
//! extension.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use std::{env, mem, process, thread};

use rfc6455::blocking::{self, Error, Reader, WebSocket, Writer};
use rfc6455::handshake::Limits;
use rfc6455::{Config, Event, Keepalive, Message};
use serde_json::{Value, json};

mod support;

#[path = "support/cap.rs"]
mod cap;

#[path = "support/access.rs"]
mod access;

/// The page served on `GET /`.
const PAGE: &str = include_str!("vote.html");

/// How long a client may take to send its request head.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may make no progress before the client is dropped
/// (`Config::write_timeout`; the socket's own write timeout for a plain HTTP
/// response).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a batch waits for the pong that says the client read the one
/// before it; then it goes anyway. See the module docs.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Error answers that may wait for one client; more are not sent.
const MAX_ERRORS: usize = 16;

/// A vote is a few bytes; anything much larger is not one (closed with 1009).
const MAX_MESSAGE_BYTES: usize = 4096;

/// Messages (votes) a connection may send per second, sustained...
const VOTE_RATE: f64 = 10.0;

/// ... and at once, after a pause.
const VOTE_BURST: u32 = 20;

/// `--max-connections` unless the descriptor limit is lower; see the
/// module docs.
const DEFAULT_MAX_CONNECTIONS: usize = 2048;

/// Descriptors per connection: the split halves hold one socket each.
const FDS_PER_CONNECTION: usize = 2;

const DEFAULT_CANDIDATES: &str = "Rust,Go,Zig,C++";

/// Messages shorter than this are sent uncompressed; see the module docs.
#[cfg(feature = "deflate")]
const DEFLATE_THRESHOLD: usize = 512;

/// The help text, with the connection cap this machine gets by default.
fn usage() -> String {
    let max = cap::default_max(DEFAULT_MAX_CONNECTIONS, FDS_PER_CONNECTION);
    format!(
        "\
usage: vote_server [--addr HOST:PORT] [--candidates A,B,C] [--no-deflate]
                   [--max-connections N] [--vote-rate N] [--vote-burst N]
                   [--ping-after SECS] [--keepalive-timeout SECS]
                   [--allow-origin ORIGIN]... [--any-origin] [--host NAME]...
                   [--memory-budget-mib N]

  --addr HOST:PORT         address to listen on (default 127.0.0.1:9003;
                           port 0 picks a free port, printed at start)
  --candidates LIST        comma-separated candidates (default Rust,Go,Zig,C++)
  --no-deflate             decline permessage-deflate (RFC 7692); by default
                           it is accepted when a client offers it, with no
                           context takeover either way (no compression state
                           kept between messages)
  --max-connections N      connections at once, each costing two threads and
                           {FDS_PER_CONNECTION} descriptors; past them a new client gets 503
                           before the upgrade (default {DEFAULT_MAX_CONNECTIONS}: 4,096 threads,
                           far from exhausting the machine's process IDs;
                           lowered to fit `ulimit -n`: {max} here)
  --vote-rate N            votes (messages) a connection may send per
                           second; excess ones are answered with an error
                           and not counted (default {VOTE_RATE})
  --vote-burst N           votes a connection may send at once (default {VOTE_BURST})
  --ping-after SECS        ping a client silent this long (default 20)
  --keepalive-timeout SECS then drop it if it stays silent this long
                           (default 20)
{access}
  --help                   show this help",
        access = access::USAGE
    )
}

/// The command-line settings.
#[derive(Debug, Clone)]
struct Settings {
    addr: String,
    /// Who may connect: `--allow-origin`, `--any-origin`, `--host`.
    gate: access::Gate,
    /// One budget for the message bytes of all connections.
    budget: rfc6455::MemoryBudget,
    candidates: Vec<String>,
    deflate: bool,
    max_connections: usize,
    votes: VoteLimit,
    keepalive: Keepalive,
}

/// The per-connection vote rate limit: a token bucket.
#[derive(Debug, Clone, Copy)]
struct VoteLimit {
    /// Tokens added per second.
    rate: f64,
    /// The bucket's size (and its content at the start).
    burst: u32,
}

fn main() {
    let settings = parse_args();
    let listener = TcpListener::bind(&settings.addr).unwrap_or_else(|e| {
        eprintln!("vote_server: cannot listen on {}: {e}", settings.addr);
        process::exit(1);
    });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener
        .local_addr()
        .map_or_else(|_| settings.addr.clone(), |a| a.to_string());
    println!("vote server listening on ws://{addr}/ws (page: http://{addr}/)");

    let board = Arc::new(Mutex::new(Board::new(settings.candidates.clone())));
    let cap = cap::Cap::new(settings.max_connections);
    let settings = Arc::new(settings);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("vote_server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let Some(slot) = cap.admit() else {
            cap.refuse(stream, peer, "vote_server");
            continue;
        };
        let board = Arc::clone(&board);
        let settings = Arc::clone(&settings);
        // The slot is freed when the thread ends, or here if it cannot start.
        let spawned = thread::Builder::new().spawn(move || {
            let _slot = slot;
            if let Err(e) = serve(stream, &board, &settings) {
                eprintln!("{peer}: {e}");
            }
        });
        if let Err(e) = spawned {
            eprintln!("{peer}: cannot start a thread: {e}");
        }
    }
}

// ---- the board -----------------------------------------------------------------

/// The candidates, their counts and everyone watching them.
struct Board {
    candidates: Vec<(String, u64)>,
    watchers: BTreeMap<u64, Arc<Mailbox>>,
    next_id: u64,
}

/// Locks a mutex; a panic elsewhere cannot leave the board or a mailbox
/// half-changed (each change is one statement), so a poisoned lock is used
/// as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Board {
    fn new(names: Vec<String>) -> Board {
        Board {
            candidates: names.into_iter().map(|name| (name, 0)).collect(),
            watchers: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Adds a watcher, with the current counts in its mailbox.
    fn watch(&mut self, mailbox: Arc<Mailbox>) -> u64 {
        mailbox.post_counts(self.counts());
        self.next_id += 1;
        self.watchers.insert(self.next_id, mailbox);
        self.next_id
    }

    /// Counts a vote for `name` and posts the new counts to everyone.
    fn vote(&mut self, name: &str) -> Result<(), String> {
        let Some((_, votes)) = self.candidates.iter_mut().find(|(n, _)| n == name) else {
            return Err(format!("unknown candidate {name:?}"));
        };
        *votes += 1;
        let counts = self.counts();
        for mailbox in self.watchers.values() {
            mailbox.post_counts(Arc::clone(&counts));
        }
        Ok(())
    }

    /// The counts message, serialized once for every watcher.
    fn counts(&self) -> Arc<str> {
        let candidates: Vec<Value> = self
            .candidates
            .iter()
            .map(|(name, votes)| json!({"name": name, "votes": votes}))
            .collect();
        let total: u64 = self.candidates.iter().map(|(_, votes)| votes).sum();
        json!({"type": "counts", "candidates": candidates, "total": total})
            .to_string()
            .into()
    }
}

/// What one client's writer thread has to send, and whether the client has
/// read what was sent before. Counts are state, not events: newer counts
/// replace older ones that were not sent yet, so the mailbox never grows,
/// however fast votes come and however slowly the client reads.
#[derive(Default)]
struct Mailbox {
    mail: Mutex<Mail>,
    /// Signalled when mail arrives, a batch is acknowledged or the mailbox
    /// closes.
    ready: Condvar,
}

#[derive(Default)]
struct Mail {
    counts: Option<Arc<str>>,
    /// Answers to this client's bad votes, at most [`MAX_ERRORS`] waiting.
    errors: Vec<String>,
    closed: bool,
    /// The batch in flight: its number (the payload of the ping after it)
    /// and when it was written (`None` while it is being written), until
    /// the client's pong says it read it.
    in_flight: Option<(u64, Option<Instant>)>,
    /// Batches taken so far.
    batches: u64,
}

/// One write: the error answers and the newest counts, then a ping with
/// the batch's number.
struct Batch {
    number: u64,
    errors: Vec<String>,
    counts: Option<Arc<str>>,
}

impl Mailbox {
    fn post_counts(&self, counts: Arc<str>) {
        lock(&self.mail).counts = Some(counts);
        self.ready.notify_one();
    }

    fn post_error(&self, error: String) {
        let mut mail = lock(&self.mail);
        if mail.errors.len() < MAX_ERRORS {
            mail.errors.push(error);
        }
        drop(mail);
        self.ready.notify_one();
    }

    /// The batch was written (to the socket, not yet read by the client):
    /// the wait for its pong starts.
    fn written(&self, number: u64) {
        if let Some((n, at)) = &mut lock(&self.mail).in_flight
            && *n == number
        {
            *at = Some(Instant::now());
        }
    }

    /// A pong arrived: if it answers the ping after the batch in flight,
    /// the client has read that batch, and the next may go.
    fn pong(&self, payload: &[u8]) {
        let mut mail = lock(&self.mail);
        let answers = matches!(mail.in_flight, Some((n, _)) if payload == n.to_be_bytes());
        if answers {
            mail.in_flight = None;
            drop(mail);
            self.ready.notify_one();
        }
    }

    /// No more mail: the writer ends.
    fn close(&self) {
        lock(&self.mail).closed = true;
        self.ready.notify_one();
    }

    /// Waits until there is mail and the batch before it was read (or its
    /// pong is [`ACK_TIMEOUT`] late), then takes all of it; `None` once
    /// closed.
    fn take(&self) -> Option<Batch> {
        let mut mail = lock(&self.mail);
        loop {
            if mail.closed {
                return None;
            }
            let has_mail = mail.counts.is_some() || !mail.errors.is_empty();
            // How long the batch in flight may still wait for its pong.
            let left = match mail.in_flight {
                None => Duration::ZERO,
                Some((_, None)) => ACK_TIMEOUT, // being written: not by us
                Some((_, Some(at))) => ACK_TIMEOUT.saturating_sub(at.elapsed()),
            };
            if has_mail && left.is_zero() {
                mail.batches += 1;
                let number = mail.batches;
                mail.in_flight = Some((number, None));
                return Some(Batch {
                    number,
                    errors: mem::take(&mut mail.errors),
                    counts: mail.counts.take(),
                });
            }
            mail = if has_mail {
                self.ready
                    .wait_timeout(mail, left)
                    .map_or_else(|poisoned| poisoned.into_inner().0, |(mail, _)| mail)
            } else {
                self.ready
                    .wait(mail)
                    .unwrap_or_else(PoisonError::into_inner)
            };
        }
    }
}

/// A token bucket: [`VoteLimit::burst`] tokens at most, refilled at
/// [`VoteLimit::rate`] a second; each message takes one.
struct Bucket {
    limit: VoteLimit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(limit: VoteLimit) -> Bucket {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.limit.rate;
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

// ---- one connection -------------------------------------------------------------

/// Serves one connection: the page, a 404, or a watcher until it leaves.
fn serve(mut stream: TcpStream, board: &Mutex<Board>, settings: &Settings) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    // The whole head must arrive by this deadline, however slowly it
    // trickles in; a 400 or 431 is followed by a lingering close.
    let limits = Limits {
        timeout: Some(HANDSHAKE_TIMEOUT),
        ..Limits::default()
    };
    let (request, rest) = blocking::read_request(&mut stream, &limits)?;

    let response = match (request.method(), request.path()) {
        (_, "/ws") => {
            let config = config(settings);
            // Only this board's pages (or `--allow-origin`): 403 before the
            // upgrade otherwise; 421 for a Host not in `--host`.
            let ws = WebSocket::upgrade(stream, request, &rest, config, |upgrade| {
                settings.gate.check(upgrade)?;
                Ok(None)
            })?;
            return watch(ws, board, settings.votes);
        }
        (method, path) => support::plain_http(method, path, PAGE),
    };
    // `read_request` leaves the socket without timeouts: bound the response.
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.write_all(&response)?;
    Ok(())
}

/// The connection settings: messages up to [`MAX_MESSAGE_BYTES`]
/// (decompressed), the write timeout, the keepalive of the command line,
/// and permessage-deflate unless `--no-deflate`.
///
/// A close or a protocol error ends with a lingering close of at most the
/// default [`Config::close_timeout`], so the close frame is not lost to a
/// reset when the client's input is still unread.
fn config(settings: &Settings) -> Config {
    let config = Config::default()
        .max_frame_size(MAX_MESSAGE_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .write_timeout(Some(WRITE_TIMEOUT))
        .keepalive(Some(settings.keepalive))
        .budget(Some(settings.budget.clone()));
    #[cfg(feature = "deflate")]
    if settings.deflate {
        return config.deflate(support::deflate_policy().threshold(DEFLATE_THRESHOLD));
    }
    let _ = settings.deflate; // off, or built without the extension: declined
    config
}

/// Registers the client, then runs its reader here and its writer on a
/// second thread until the client leaves; see [`read_loop`] for the result.
fn watch(ws: WebSocket<TcpStream>, board: &Mutex<Board>, limit: VoteLimit) -> Result<(), Error> {
    let mailbox = Arc::new(Mailbox::default());
    let id = lock(board).watch(Arc::clone(&mailbox));
    let (mut reader, writer) = ws.split()?;
    thread::scope(|scope| {
        scope.spawn(|| write_loop(writer, &mailbox));
        let ended = read_loop(&mut reader, board, &mailbox, limit);
        lock(board).watchers.remove(&id);
        // The reader has closed the connection (its teardown wrote the
        // close reply): the writer ends.
        mailbox.close();
        ended
    })
}

/// Counts the client's votes until it leaves, at most as fast as `limit`
/// allows; answers bad ones and those over the limit with an error. Pongs
/// tell the mailbox what the client has read. `Ok` after a close
/// handshake; the error if the connection failed or was lost.
fn read_loop(
    reader: &mut Reader,
    board: &Mutex<Board>,
    mailbox: &Mailbox,
    limit: VoteLimit,
) -> Result<(), Error> {
    let mut bucket = Bucket::new(limit);
    loop {
        let message = match reader.read_event() {
            Ok(Some(Event::Message(message))) => message,
            Ok(Some(Event::Pong(payload))) => {
                mailbox.pong(&payload);
                continue;
            }
            // Closed, lost, or the connection failed.
            Ok(None) => return Ok(()), // closed
            Ok(Some(Event::Lost(lost))) => return Err(Error::Lost(lost)),
            Err(e) => return Err(e),
            Ok(Some(_)) => continue, // pings are answered, a close replied to
        };
        // Over the limit: refused before any parsing.
        let result = if !bucket.take() {
            Err(format!(
                "too many votes: at most {} a second ({} at once); this one was not counted",
                limit.rate, limit.burst
            ))
        } else {
            match message {
                Message::Text(text) => parse_vote(&text).and_then(|name| lock(board).vote(&name)),
                Message::Binary(_) => Err("votes are JSON text, e.g. {\"vote\": \"Rust\"}".into()),
            }
        };
        if let Err(error) = result {
            mailbox.post_error(error);
        }
    }
}

/// Reads `{"vote": "NAME"}` and nothing else.
fn parse_vote(text: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match value.as_object() {
        Some(fields) if fields.len() == 1 => match fields.get("vote") {
            Some(Value::String(name)) => Ok(name.clone()),
            _ => Err("expected {\"vote\": \"NAME\"}".into()),
        },
        _ => Err("expected {\"vote\": \"NAME\"}".into()),
    }
}

/// Sends the client's mail, one batch at a time, until the mailbox closes.
/// A write that fails (the client is gone, or stuck for [`WRITE_TIMEOUT`])
/// cuts the connection, which ends the reader too.
fn write_loop(mut writer: Writer, mailbox: &Mailbox) {
    while let Some(batch) = mailbox.take() {
        if send(&mut writer, &batch).is_err() {
            let _ = writer.shutdown();
            return;
        }
        mailbox.written(batch.number);
    }
}

/// Writes one batch and the ping whose pong acknowledges it.
fn send(writer: &mut Writer, batch: &Batch) -> Result<(), Error> {
    for error in &batch.errors {
        writer.queue_text(&json!({"type": "error", "error": error}).to_string())?;
    }
    if let Some(counts) = &batch.counts {
        writer.queue_text(counts)?;
    }
    // Queued after the batch and flushed with it.
    writer.ping(&batch.number.to_be_bytes())
}

// ---- command line ------------------------------------------------------------

/// The settings from the command line: `--flag VALUE` or `--flag=VALUE`.
fn parse_args() -> Settings {
    let mut addr = String::from("127.0.0.1:9003");
    let mut candidates = String::from(DEFAULT_CANDIDATES);
    let mut deflate = true;
    let mut max_connections = None;
    let mut votes = VoteLimit {
        rate: VOTE_RATE,
        burst: VOTE_BURST,
    };
    let mut keepalive = Keepalive::default();
    let mut access = access::Access::default();
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{}", usage());
            process::exit(0);
        }
        if flag == "--no-deflate" && inline.is_none() {
            deflate = false;
            continue;
        }
        let mut inline = inline;
        match access.parse(&flag, || inline.take().or_else(|| args.next())) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(message) => usage_error(&message),
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            usage_error(&format!("{flag} needs a value"));
        };
        match flag.as_str() {
            "--addr" => addr = value,
            "--candidates" => candidates = value,
            "--max-connections" => max_connections = Some(positive(&flag, &value)),
            "--vote-rate" => votes.rate = number(&flag, &value),
            "--vote-burst" => votes.burst = positive(&flag, &value),
            "--ping-after" => keepalive.ping_after = seconds(&flag, &value),
            "--keepalive-timeout" => keepalive.timeout = seconds(&flag, &value),
            _ => usage_error(&format!("unknown argument {arg:?}")),
        }
    }
    let mut names: Vec<String> = Vec::new();
    for name in candidates
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        usage_error("--candidates needs at least one name");
    }
    Settings {
        addr,
        gate: access::Gate::new(&access),
        budget: access.budget(),
        candidates: names,
        deflate,
        max_connections: max_connections
            .unwrap_or_else(|| cap::default_max(DEFAULT_MAX_CONNECTIONS, FDS_PER_CONNECTION)),
        votes,
        keepalive,
    }
}

/// The value of `flag`: a positive whole number.
fn positive<T: std::str::FromStr + PartialOrd + Default>(flag: &str, value: &str) -> T {
    match value.parse::<T>() {
        Ok(n) if n > T::default() => n,
        _ => usage_error(&format!("{flag} needs a positive whole number")),
    }
}

/// The value of `flag`: a positive number below a billion.
fn number(flag: &str, value: &str) -> f64 {
    match value.parse::<f64>() {
        Ok(n) if n > 0.0 && n < 1e9 => n,
        _ => usage_error(&format!("{flag} needs a positive number")),
    }
}

/// The value of `flag`: a positive number of seconds.
fn seconds(flag: &str, value: &str) -> Duration {
    Duration::from_secs_f64(number(flag, value))
}

fn usage_error(message: &str) -> ! {
    eprintln!("vote_server: {message}\n\n{}", usage());
    process::exit(2);
}
