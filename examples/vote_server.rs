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
//! to a new client at once and to every client after every vote, and
//! `{"type":"error","error":WHY}` to a client whose message was not a valid
//! vote (the counts do not change).
//!
//! # Exact counts, slow clients
//! The counts live behind one lock; a vote is counted and the new counts
//! posted to every client under it, so counts only ever grow for every
//! client and the last counts each one gets are the final ones. Each client
//! has a reader thread and a writer thread ([`WebSocket::split`]) and a
//! mailbox between the board and the writer that holds only the newest
//! counts: a slow page skips intermediate counts instead of falling behind,
//! and a burst of votes never piles up. A client whose socket stays stuck
//! for the write timeout is dropped.
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
use std::time::Duration;
use std::{env, mem, process, thread};

use rfc6455::blocking::{self, Error, Reader, WebSocket, Writer};
use rfc6455::handshake::Limits;
use rfc6455::{Config, Message};
use serde_json::{Value, json};

mod support;

/// The page served on `GET /`.
const PAGE: &str = include_str!("vote.html");

/// How long a client may take to send its request head.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may make no progress before the client is dropped
/// (`Config::write_timeout`; the socket's own write timeout for a plain HTTP
/// response).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Error answers that may wait for one client; more are not sent.
const MAX_ERRORS: usize = 16;

/// A vote is a few bytes; anything much larger is not one (closed with 1009).
const MAX_MESSAGE_BYTES: usize = 4096;

const DEFAULT_CANDIDATES: &str = "Rust,Go,Zig,C++";

/// Messages shorter than this are sent uncompressed; see the module docs.
#[cfg(feature = "deflate")]
const DEFLATE_THRESHOLD: usize = 512;

const USAGE: &str = "\
usage: vote_server [--addr HOST:PORT] [--candidates A,B,C] [--no-deflate]

  --addr HOST:PORT    address to listen on (default 127.0.0.1:9003;
                      port 0 picks a free port, printed at start)
  --candidates LIST   comma-separated candidates (default Rust,Go,Zig,C++)
  --no-deflate        decline permessage-deflate (RFC 7692); by default it
                      is accepted when a client offers it, with no context
                      takeover either way (no compression state kept
                      between messages)
  --help              show this help";

fn main() {
    let (addr, candidates, deflate) = parse_args();
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("vote_server: cannot listen on {addr}: {e}");
        process::exit(1);
    });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener.local_addr().map_or(addr, |a| a.to_string());
    println!("vote server listening on ws://{addr}/ws (page: http://{addr}/)");

    let board = Arc::new(Mutex::new(Board::new(candidates)));
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("vote_server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let board = Arc::clone(&board);
        let spawned = thread::Builder::new().spawn(move || {
            if let Err(e) = serve(stream, &board, deflate) {
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

/// What one client's writer thread has to send. Counts are state, not
/// events: newer counts replace older ones that were not sent yet, so the
/// mailbox never grows, however fast votes come and however slowly the
/// client reads.
#[derive(Default)]
struct Mailbox {
    mail: Mutex<Mail>,
    /// Signalled when mail arrives or the mailbox closes.
    ready: Condvar,
}

#[derive(Default)]
struct Mail {
    counts: Option<Arc<str>>,
    /// Answers to this client's bad votes, at most [`MAX_ERRORS`] waiting.
    errors: Vec<String>,
    closed: bool,
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

    /// No more mail: the writer ends once it has sent what is waiting.
    fn close(&self) {
        lock(&self.mail).closed = true;
        self.ready.notify_one();
    }

    /// Waits for mail and takes all of it; `None` once closed and empty.
    fn take(&self) -> Option<(Vec<String>, Option<Arc<str>>)> {
        let mut mail = lock(&self.mail);
        loop {
            if mail.counts.is_some() || !mail.errors.is_empty() {
                return Some((mem::take(&mut mail.errors), mail.counts.take()));
            }
            if mail.closed {
                return None;
            }
            mail = self
                .ready
                .wait(mail)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

// ---- one connection -------------------------------------------------------------

/// Serves one connection: the page, a 404, or a watcher until it leaves.
fn serve(mut stream: TcpStream, board: &Mutex<Board>, deflate: bool) -> Result<(), Error> {
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
            let ws = WebSocket::upgrade(stream, request, &rest, config(deflate), |_| Ok(None))?;
            return watch(ws, board);
        }
        (method, path) => support::plain_http(method, path, PAGE),
    };
    // `read_request` leaves the socket without timeouts: bound the response.
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.write_all(&response)?;
    Ok(())
}

/// The connection settings: messages up to [`MAX_MESSAGE_BYTES`]
/// (decompressed), the write timeout, and permessage-deflate unless
/// `--no-deflate`.
///
/// A page may watch for hours without voting: the default keepalive
/// ([`Config::keepalive`]) pings it when it is silent (browsers answer) and
/// drops it once it stops answering, and a close or a protocol error ends
/// with a lingering close of at most the default [`Config::close_timeout`],
/// so the close frame is not lost to a reset when the client's input is
/// still unread.
fn config(deflate: bool) -> Config {
    let config = Config::default()
        .max_frame_size(MAX_MESSAGE_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .write_timeout(Some(WRITE_TIMEOUT));
    #[cfg(feature = "deflate")]
    if deflate {
        return config.deflate(support::deflate_policy().threshold(DEFLATE_THRESHOLD));
    }
    let _ = deflate; // off, or built without the extension: declined
    config
}

/// Registers the client, then runs its reader here and its writer on a
/// second thread until the client leaves.
fn watch(ws: WebSocket<TcpStream>, board: &Mutex<Board>) -> Result<(), Error> {
    let mailbox = Arc::new(Mailbox::default());
    let id = lock(board).watch(Arc::clone(&mailbox));
    let (mut reader, writer) = ws.split()?;
    thread::scope(|scope| {
        scope.spawn(|| write_loop(writer, &mailbox));
        read_loop(&mut reader, board, &mailbox);
        lock(board).watchers.remove(&id);
        // The writer sends what is left (the close reply among it) and ends.
        mailbox.close();
    });
    Ok(())
}

/// Counts the client's votes until it leaves; answers bad ones with an error.
fn read_loop(reader: &mut Reader, board: &Mutex<Board>, mailbox: &Mailbox) {
    loop {
        let result = match reader.read() {
            Ok(Some(Message::Text(text))) => {
                parse_vote(&text).and_then(|name| lock(board).vote(&name))
            }
            Ok(Some(Message::Binary(_))) => {
                Err("votes are JSON text, e.g. {\"vote\": \"Rust\"}".into())
            }
            // Closed, lost, or the connection failed.
            Ok(None) | Err(_) => return,
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

/// Sends the client's mail until the mailbox closes. A write that fails
/// (the client is gone, or stuck for [`WRITE_TIMEOUT`]) cuts the connection,
/// which ends the reader too.
fn write_loop(mut writer: Writer, mailbox: &Mailbox) {
    let mut send = |errors: Vec<String>, counts: Option<Arc<str>>| -> Result<(), Error> {
        for error in errors {
            writer.queue_text(&json!({"type": "error", "error": error}).to_string())?;
        }
        if let Some(counts) = counts {
            writer.queue_text(&counts)?;
        }
        writer.flush()
    };
    while let Some((errors, counts)) = mailbox.take() {
        if send(errors, counts).is_err() {
            let _ = writer.shutdown();
            return;
        }
    }
}

// ---- command line ------------------------------------------------------------

/// The address, the candidates, and whether to accept permessage-deflate.
fn parse_args() -> (String, Vec<String>, bool) {
    let mut addr = String::from("127.0.0.1:9003");
    let mut candidates = String::from(DEFAULT_CANDIDATES);
    let mut deflate = true;
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            process::exit(0);
        }
        if flag == "--no-deflate" && inline.is_none() {
            deflate = false;
            continue;
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            usage_error(&format!("{flag} needs a value"));
        };
        match flag.as_str() {
            "--addr" => addr = value,
            "--candidates" => candidates = value,
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
    (addr, names, deflate)
}

fn usage_error(message: &str) -> ! {
    eprintln!("vote_server: {message}\n\n{USAGE}");
    process::exit(2);
}
