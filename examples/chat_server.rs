//! A chat server: one room where everyone sees every message, private
//! messages to one user, join and leave notices and the list of who is online.
//!
//! ```text
//! cargo run --example chat_server -- --addr 127.0.0.1:9002
//! ```
//!
//! Then open <http://127.0.0.1:9002/> in two browser tabs, or connect any
//! WebSocket client to `ws://127.0.0.1:9002/ws?name=wukong`.
//!
//! # Protocol
//! The nickname is the `name` query parameter; without one the server picks
//! an anonymous label (`guest-1`, ...). It is normalised, and refused if it
//! is in use, looks like the name of someone online, or holds invisible
//! characters (see [`nickname`]): the connection is accepted, gets an
//! `error` message and is closed with 1008 (policy violation), so a browser
//! page can show why.
//!
//! Every message is a JSON text frame. The client sends
//! `{"text": "hi"}` to the room or `{"text": "hi", "to": "bajie"}` to one
//! user. The server sends, each with `time` in milliseconds since the Unix epoch:
//! * `{"type":"welcome","you":NAME,"users":[...]}` once, to a new user: its
//!   name as the room shows it, and everyone online;
//! * `{"type":"join","user":NAME,"online":N}` and
//!   `{"type":"leave","user":NAME,"reason":WHY,"online":N}` to everyone:
//!   the change only, and how many are online after it (a client keeps the
//!   list from the welcome up to date with them);
//! * `{"type":"message","from":NAME,"text":TEXT}` to everyone, the sender too;
//! * `{"type":"private","from":NAME,"to":NAME,"text":TEXT}` to the recipient
//!   and, as an echo, to the sender;
//! * `{"type":"error","error":WHY}` to the one whose message was refused.
//!
//! A leave's reason is `left` (closed), `timed out` (keepalive), `too
//! slow` (stopped reading: its queue overflowed, or a write made no
//! progress for 10 s), `flooding` (see below), `protocol error` or
//! `connection lost`.
//!
//! # A slow or dead client never stalls the room
//! Each connection has a reader thread and a writer thread
//! ([`WebSocket::split`]). Broadcasting only puts the message into each
//! user's bounded queue and never waits: a user whose queue is full (it
//! stopped reading), or whose socket fails, is dropped and announced as gone.
//! The connection's keepalive ([`Config::keepalive`], run by the reader
//! half) pings a client that has been silent for `--ping-interval` seconds,
//! and a client that sends nothing at all (no pong either) for
//! `--idle-timeout` seconds is dropped too: that is how a client that
//! vanished without closing is noticed. The request head must arrive within
//! `--handshake-timeout` seconds ([`Limits::timeout`]), however slowly it
//! trickles in.
//!
//! # What one client may cost
//! Every default below is a command-line flag (`--help`).
//! * **Lines**: each member may send `--line-burst` lines (default 20) at
//!   once, then `--line-rate` a second (default 10; a token bucket). A
//!   line past that is not sent, and its sender gets an `error` (at most
//!   one a second). A member with more than `--flood-limit` lines
//!   refused (default 100; refused lines are forgiven at the line rate) is
//!   a flooder: it gets an `error`, is closed with 1008 and leaves with
//!   reason `flooding`. So one member's burst puts at most 20 lines into
//!   the others' queues, far from the `--queue` messages (default 1024)
//!   after which a reader is dropped as too slow: a reader that keeps up
//!   with the room is never dropped because of someone else's burst.
//! * **Connection attempts** per address (IPv4 address, or IPv6 /64):
//!   `--connect-burst` at once (default 30), then `--connect-rate` a second
//!   (default 5). Past that the attempt is answered 429 (Too Many
//!   Requests, `Retry-After`) before any upgrade: a client that joins and
//!   leaves in a loop costs, after its first 30, at most 5 joins and leaves
//!   a second, each a notice of some 80 bytes to every member.
//!   Every TCP connection counts, page loads too; behind a reverse proxy
//!   all clients share its address, so raise the limits there.
//! * **Connections**: at most `--max-connections` at a time (default
//!   1,000, or fewer if the limit on open files, `ulimit -n`, cannot hold
//!   three descriptors for each; a chat member holds two threads and three
//!   descriptors, a page load or a handshake in progress one of each).
//!   Past it a new client is answered 503 (Service
//!   Unavailable, `Retry-After`) before the upgrade, and the others are
//!   served as before. Refusals are answered on short-lived threads, at most
//!   64 at a time (past that a refused connection is closed unanswered), so
//!   the server holds at most 1 + 2 × `--max-connections` + 64 threads.
//! * **Output**: a member whose unwritten output passes 64 KiB (the
//!   crate's [`Config::output_high_water`]) is not read from until it
//!   drains, so a client that sends pings (or anything) faster than it
//!   reads the answers is slowed down to its own reading speed by TCP
//!   (what it sends waits in its socket buffers, not in the server), and
//!   the pongs waiting for it stay within that mark plus the replies to one
//!   read. One that stops reading is dropped as `too slow` once a write
//!   has made no progress for 10 s.
//!   Messages are at most 64 KiB (larger: closed with 1009).
//!
//! # Who may connect, and memory
//! * **Origin**: only the server's own page may join (same origin: a page
//!   from another site gets 403 before the upgrade, so it cannot join as the
//!   visitor, read the room or send lines in their name: cross-site
//!   WebSocket hijacking). `--allow-origin ORIGIN` (repeatable) lets
//!   another site's pages in, `--any-origin` turns the check off; a client
//!   without `Origin` (not a browser) may join. `--host NAME` (repeatable)
//!   refuses requests addressed to other names with 421 (DNS rebinding).
//! * **Memory**: every connection's `Config` shares one `MemoryBudget` of
//!   `--memory-budget-mib` (default 256) for the message bytes they buffer
//!   together; past it a connection is closed with 1013. See
//!   `support/access.rs` for how to choose it.
//!
//! # Compression
//! permessage-deflate (RFC 7692) is accepted when a client offers it
//! (browsers do), with no context takeover in either direction: the 101
//! answers `permessage-deflate; server_no_context_takeover;
//! client_no_context_takeover`. A chat server holds many connections, and
//! context takeover would keep about 428 KiB of zlib state in each of them;
//! this way a connection keeps none between messages (see
//! `support::deflate_policy`). Messages shorter than 512 bytes, most chat
//! lines, are sent uncompressed: a broadcast is compressed once per
//! recipient, and on a fresh window deflate saves only about a fifth of a
//! 130-byte line for some 10 µs of zlib setup. Longer messages are
//! compressed, among them the welcome in a busy room, which lists everyone
//! online. `--no-deflate` declines the extension.

use std::collections::BTreeMap;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{env, mem, process, thread};

use rfc6455::blocking::{self, Error, Reader, Split, WebSocket, Writer};
use rfc6455::handshake::Limits;
use rfc6455::{CloseCode, Config, Keepalive, Lost, Message};
use serde_json::{Value, json};

#[path = "chat_server/limits.rs"]
mod limits;
#[path = "chat_server/nickname.rs"]
mod nickname;
mod support;

#[path = "support/access.rs"]
mod access;

#[path = "support/tls.rs"]
mod tls;

use limits::{Gate, TokenBucket};

/// The page served on `GET /`.
const PAGE: &str = include_str!("chat.html");

/// How long a client whose nickname is refused may take to answer our close
/// (`Config::close_timeout`). The same bound applies to the lingering close
/// after a close or a protocol error: how long the server waits for the
/// client to end the TCP connection, so that a reset does not destroy the
/// close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may make no progress before the client is dropped
/// (`Config::write_timeout`; the socket's own write timeout for a plain HTTP
/// response).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest message a client may send. Chat lines are short; this keeps
/// one client from making the server buffer megabytes (larger: closed with 1009).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// At most this many queued messages are written with one flush.
const WRITE_BATCH: usize = 64;

/// A member told that its lines are refused is told again at most this
/// often.
const REFUSAL_NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Messages shorter than this are sent uncompressed; see the module docs.
#[cfg(feature = "deflate")]
const DEFLATE_THRESHOLD: usize = 512;

const USAGE: &str = "\
usage: chat_server [--addr HOST:PORT] [--queue N] [--ping-interval SECS] [--idle-timeout SECS]
                   [--handshake-timeout SECS] [--no-deflate] [--max-connections N]
                   [--connect-burst N] [--connect-rate PER_SEC]
                   [--line-burst N] [--line-rate PER_SEC] [--flood-limit N]
                   [--allow-origin ORIGIN]... [--any-origin] [--host NAME]...
                   [--memory-budget-mib N] [--tls-cert FILE --tls-key FILE]

  --addr HOST:PORT      address to listen on (default 127.0.0.1:9002;
                        port 0 picks a free port, printed at start)
  --queue N             messages that may wait for one slow client before
                        it is dropped (default 1024)
  --ping-interval SECS  how often to ping each client (default 15)
  --idle-timeout SECS   drop a client that sent nothing, not even a pong,
                        for this long (default 45)
  --handshake-timeout SECS
                        time for the whole request head (default 10)
  --no-deflate          decline permessage-deflate (RFC 7692); by default
                        it is accepted when a client offers it, with no
                        context takeover either way (no compression state
                        kept between messages)
  --max-connections N   connections served at a time (default 1000, fewer
                        if `ulimit -n` cannot hold three descriptors for
                        each; a chat member holds two threads); past it a
                        new client gets 503 before the upgrade
  --connect-burst N     connection attempts one address may make at once
                        (default 30; an IPv6 address counts by its /64)
  --connect-rate PER_SEC
                        and then per second (default 5); past that an
                        attempt gets 429 before the upgrade
  --line-burst N        lines one member may send at once (default 20)
  --line-rate PER_SEC   and then per second (default 10); a line past that
                        is not sent, and its sender gets an error
  --flood-limit N       refused lines (forgiven at the line rate) after
                        which a member is closed with 1008 (default 100)
  --help                show this help";

/// The command-line settings.
#[derive(Clone)]
struct Settings {
    addr: String,
    /// `--tls-cert`/`--tls-key`: HTTPS and wss:// on the same port.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    tls: Option<tls::ServerTls>,
    /// Who may connect: `--allow-origin`, `--any-origin`, `--host`.
    gate: access::Gate,
    /// One budget for the message bytes of all connections.
    budget: rfc6455::MemoryBudget,
    queue: usize,
    ping_interval: Duration,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    /// Accept permessage-deflate when offered (not `--no-deflate`).
    deflate: bool,
    max_connections: usize,
    connect_burst: usize,
    connect_rate: f64,
    line_burst: usize,
    line_rate: f64,
    flood_limit: usize,
}

impl Settings {
    /// The connection settings: messages up to [`MAX_MESSAGE_BYTES`]
    /// (decompressed), the keepalive, the write and close timeouts, and
    /// permessage-deflate unless `--no-deflate`.
    fn config(&self) -> Config {
        let config = Config::default()
            .max_frame_size(MAX_MESSAGE_BYTES)
            .max_message_size(MAX_MESSAGE_BYTES)
            .keepalive(Some(self.keepalive()))
            .write_timeout(Some(WRITE_TIMEOUT))
            .close_timeout(CLOSE_TIMEOUT)
            .budget(Some(self.budget.clone()));
        #[cfg(feature = "deflate")]
        if self.deflate {
            return config.deflate(support::deflate_policy().threshold(DEFLATE_THRESHOLD));
        }
        #[cfg(not(feature = "deflate"))]
        let _ = self.deflate; // built without the extension: always declined
        config
    }

    /// The keepalive: a ping after `ping_interval` of silence, and the
    /// client dropped when the silence reaches `idle_timeout`.
    fn keepalive(&self) -> Keepalive {
        let ping_after = self.ping_interval.min(self.idle_timeout);
        // At least a millisecond for the pong, even with --ping-interval
        // at or above --idle-timeout.
        let timeout = (self.idle_timeout - ping_after).max(Duration::from_millis(1));
        Keepalive::new(ping_after, timeout)
    }

    /// The bounds on the request head: the defaults, with the deadline of
    /// `--handshake-timeout`.
    fn limits(&self) -> Limits {
        Limits {
            timeout: Some(self.handshake_timeout),
            ..Limits::default()
        }
    }
}

fn main() {
    let settings = parse_args();
    let listener = TcpListener::bind(&settings.addr).unwrap_or_else(|e| {
        eprintln!("chat_server: cannot listen on {}: {e}", settings.addr);
        process::exit(1);
    });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener
        .local_addr()
        .map_or(settings.addr.clone(), |a| a.to_string());
    let (ws, http) = if settings.tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("chat server listening on {ws}://{addr}/ws (page: {http}://{addr}/)");

    let room = Arc::new(Mutex::new(Room::default()));
    let mut gate = Gate::new(
        settings.connect_burst,
        settings.connect_rate,
        settings.max_connections,
    );
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("chat_server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // Too many attempts from this address (429), or too many
        // connections already (503): answered before any upgrade.
        let ticket = match gate.admit(peer.ip(), Instant::now()) {
            Ok(ticket) => ticket,
            Err(refusal) => {
                gate.refuse(stream, refusal);
                continue;
            }
        };
        let (room, settings) = (Arc::clone(&room), settings.clone());
        let spawned = thread::Builder::new().spawn(move || {
            let _ticket = ticket; // the connection's place, given back at its end
            if let Err(e) = serve(stream, &room, &settings) {
                eprintln!("{peer}: {e}");
            }
        });
        if let Err(e) = spawned {
            eprintln!("{peer}: cannot start a thread: {e}");
        }
    }
}

// ---- the room ----------------------------------------------------------------

/// Everyone online, by nickname. One lock guards it: joining, leaving and
/// broadcasting happen in one order, the order in which every user's queue
/// receives them.
#[derive(Default)]
struct Room {
    users: BTreeMap<String, User>,
    /// Tells apart two connections that used the same nickname in turn.
    next_id: u64,
    next_guest: u64,
}

struct User {
    id: u64,
    /// The confusable skeleton of the nickname ([`nickname::skeleton`]).
    skeleton: String,
    /// What waits for this user's writer thread.
    queue: SyncSender<Out>,
    /// A handle on the socket, to cut the connection when the user is dropped.
    socket: TcpStream,
}

/// What the room queues for a user's writer.
enum Out {
    /// A message (JSON text), shared by every queue it is in.
    Text(Arc<str>),
    /// The close frame to end with; nothing is written after it.
    Close(CloseCode, &'static str),
}

/// Locks the room. A thread that panicked while holding the lock leaves it
/// consistent (every change is a single map operation), so go on.
fn lock(room: &Mutex<Room>) -> MutexGuard<'_, Room> {
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Room {
    /// Adds a user under the nickname it asked for, normalised (or an
    /// anonymous label), and announces it. Returns its id and name, or why
    /// it was refused.
    fn join(
        &mut self,
        wanted: Option<String>,
        queue: SyncSender<Out>,
        socket: TcpStream,
    ) -> Result<(u64, String), String> {
        let wanted = nickname::normalise(wanted.as_deref().unwrap_or(""))?;
        let name = if wanted.is_empty() {
            loop {
                self.next_guest += 1;
                let label = format!("guest-{}", self.next_guest);
                if self.check(&label).is_ok() {
                    break label;
                }
            }
        } else {
            self.check(&wanted)?;
            wanted
        };
        self.next_id += 1;
        let id = self.next_id;
        let skeleton = nickname::skeleton(&name);
        let user = User {
            id,
            skeleton,
            queue,
            socket,
        };
        self.users.insert(name.clone(), user);
        let users = self.names();
        self.send_to(
            &name,
            json!({"type": "welcome", "you": name, "users": users}),
        );
        let online = self.users.len();
        self.broadcast(json!({"type": "join", "user": name, "online": online}));
        Ok((id, name))
    }

    /// Whether `name` (normalised) is free: not in use, and not like the
    /// name of anyone online (the same confusable skeleton).
    fn check(&self, name: &str) -> Result<(), String> {
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

    /// Whether `member` is still in the room (its name may belong to a newer
    /// connection by now).
    fn has(&self, member: Member<'_>) -> bool {
        self.users
            .get(member.name)
            .is_some_and(|user| user.id == member.id)
    }

    /// Removes the user `name` if it is still connection `id` (the name may
    /// belong to a newer connection by now) and announces that it left.
    /// With `cut`, its connection is shut down too.
    fn leave(&mut self, id: u64, name: &str, reason: &str, cut: bool) {
        if self.users.get(name).is_some_and(|user| user.id == id) {
            self.remove(name, reason, cut);
        }
    }

    /// Removes `name` and announces it. Dropping its queue ends its writer
    /// thread once that has written what is left; with `cut` the socket is
    /// shut down first, which ends both its threads at once, even one
    /// blocked on a client that stopped reading.
    fn remove(&mut self, name: &str, reason: &str, cut: bool) {
        if let Some(user) = self.users.remove(name) {
            if cut {
                let _ = user.socket.shutdown(Shutdown::Both);
            }
            let online = self.users.len();
            self.broadcast(
                json!({"type": "leave", "user": name, "reason": reason, "online": online}),
            );
        }
    }

    /// Queues `event` for everyone and never waits; see [`broadcast_all`](Self::broadcast_all).
    fn broadcast(&mut self, event: Value) {
        self.broadcast_all(vec![event]);
    }

    /// Queues `events` for everyone, the same texts in the same order, and
    /// never waits. A user whose queue is full (it stopped reading) or gone
    /// (its writer failed) is dropped, and that is announced in turn.
    ///
    /// All of one user's copies are queued before the next user's: its
    /// writer, woken by the first, finds the rest waiting and writes them
    /// together, instead of waking once per message.
    fn broadcast_all(&mut self, events: Vec<Value>) {
        let texts: Vec<Arc<str>> = events
            .into_iter()
            .map(|mut event| {
                event["time"] = json!(now_ms());
                event.to_string().into()
            })
            .collect();
        let mut dropped = Vec::new();
        for (name, user) in &self.users {
            for text in &texts {
                match user.queue.try_send(Out::Text(Arc::clone(text))) {
                    Ok(()) => continue,
                    Err(TrySendError::Full(_)) => dropped.push((name.clone(), "too slow")),
                    Err(TrySendError::Disconnected(_)) => {
                        dropped.push((name.clone(), "connection lost"));
                    }
                }
                break;
            }
        }
        for (name, reason) in dropped {
            self.remove(&name, reason, true);
        }
    }

    /// Queues `event` for one user; false if no user has that name.
    fn send_to(&mut self, name: &str, mut event: Value) -> bool {
        event["time"] = json!(now_ms());
        self.queue(name, Out::Text(event.to_string().into()))
    }

    /// Queues `out` for one user; false if no user has that name. A user
    /// whose queue is full or gone is dropped.
    fn queue(&mut self, name: &str, out: Out) -> bool {
        let Some(user) = self.users.get(name) else {
            return false;
        };
        match user.queue.try_send(out) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.remove(name, "too slow", true),
            Err(TrySendError::Disconnected(_)) => self.remove(name, "connection lost", true),
        }
        true
    }

    /// Who is online, sorted.
    fn names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }
}

/// Milliseconds since the Unix epoch: the server's timestamp on every message.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// ---- one connection -------------------------------------------------------------

/// Serves one connection: the page, a 404, or a chat user until it
/// leaves; with `--tls-cert`, over TLS (one deadline for TLS and the head).
fn serve(stream: TcpStream, room: &Mutex<Room>, settings: &Settings) -> Result<(), Error> {
    stream.set_nodelay(true)?; // deliver each message at once, no Nagle delay
    #[cfg(feature = "rustls")]
    if let Some(config) = &settings.tls {
        let (stream, limits) = blocking::tls::accept_with(stream, config, &settings.limits())?;
        return serve_http(stream, &limits, room, settings);
    }
    serve_http(stream, &settings.limits(), room, settings)
}

/// The socket under a stream, for cutting a member's connection.
trait Socket: Split {
    fn socket(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

#[cfg(feature = "rustls")]
impl Socket for blocking::tls::TlsStream {
    fn socket(&self) -> &TcpStream {
        self.get_ref()
    }
}

/// [`serve`] after TLS (or without).
fn serve_http<S: Socket>(
    mut stream: S,
    limits: &Limits,
    room: &Mutex<Room>,
    settings: &Settings,
) -> Result<(), Error> {
    // The whole head must arrive by the handshake deadline. A malformed or
    // oversized head is answered (400, 431), then the socket lingers so the
    // client gets to read that.
    let (request, rest) = blocking::read_request(&mut stream, limits)?;

    let response = match (request.method(), request.path()) {
        (_, "/ws") => {
            let name = request.query_param("name");
            // Only this server's pages (or `--allow-origin`): 403 before the
            // upgrade otherwise; 421 for a Host not in `--host`.
            let ws = WebSocket::upgrade(stream, request, &rest, settings.config(), |upgrade| {
                settings.gate.check(upgrade)?;
                Ok(None)
            })?;
            return chat(ws, name, room, settings);
        }
        (method, path) => support::plain_http(method, path, PAGE),
    };
    // `read_request` leaves the socket without timeouts: bound the response.
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.write_all(&response)?;
    stream.flush()?;
    Ok(())
}

/// Joins the room as `name`, then runs the user's reader here and its
/// writer on a second thread until either ends.
fn chat<S: Socket>(
    mut ws: WebSocket<S>,
    name: Option<String>,
    room: &Mutex<Room>,
    settings: &Settings,
) -> Result<(), Error> {
    let (queue, outgoing) = sync_channel(settings.queue);
    let socket = ws.get_ref().socket().try_clone()?;
    let joined = lock(room).join(name, queue, socket);
    let (id, name) = match joined {
        Ok(joined) => joined,
        Err(refusal) => {
            // Refused: say why in a message the page can show, then close
            // with 1008 (policy violation) and wait for the client's reply
            // (at most CLOSE_TIMEOUT).
            ws.send_text(
                &json!({"type": "error", "error": refusal, "time": now_ms()}).to_string(),
            )?;
            ws.close(CloseCode::POLICY_VIOLATION, "nickname refused")?;
            return Ok(());
        }
    };
    // The reader pings a silent client, and one that sends nothing, not
    // even a pong, for `idle_timeout` is gone: its read fails with
    // `Lost(KeepaliveTimeout)`. A close ends with a lingering close.
    let (mut reader, writer) = ws.split()?;
    let name = name.as_str();
    let writer_thread = thread::scope(|scope| {
        let writing = scope.spawn(move || {
            if let Err(e) = write_loop(writer, outgoing) {
                eprintln!("{name}: {e}");
                lock(room).leave(id, name, ending(&e), true);
            }
        });
        let member = Member { id, name };
        let allowance = Allowance::new(settings, Instant::now());
        match read_loop(&mut reader, room, member, allowance) {
            // Removed already, its close queued: the writer sends it and
            // ends; the close handshake completes here (the client's
            // reply, or CLOSE_TIMEOUT), whatever it sends meanwhile.
            None => while let Ok(Some(_)) = reader.read() {},
            // After a clean close the writer sends what is left (the close
            // reply among it) and ends; otherwise the connection is cut.
            Some(reason) => lock(room).leave(id, name, reason, reason != "left"),
        }
        writing.join()
    });
    if writer_thread.is_err() {
        eprintln!("{name}: the writer thread panicked");
    }
    Ok(())
}

/// Why a member whose read or write failed with `error` left.
fn ending(error: &Error) -> &'static str {
    match error {
        Error::Lost(Lost::KeepaliveTimeout) => "timed out",
        // A write made no progress for WRITE_TIMEOUT: it stopped reading.
        Error::Lost(Lost::WriteTimeout) => "too slow",
        Error::Protocol(_) => "protocol error",
        // The transport ended without a close, another timeout, a socket
        // error.
        _ => "connection lost",
    }
}

/// The member a reader serves.
#[derive(Clone, Copy)]
struct Member<'a> {
    id: u64,
    name: &'a str,
}

/// How many lines a member may still send (see the module docs).
struct Allowance {
    lines: TokenBucket,
    /// Refused lines forgiven at the line rate; empty: a flooder.
    refusals: TokenBucket,
    /// When the member was last told that a line was refused.
    told: Option<Instant>,
    /// What it is told.
    too_fast: String,
}

/// What to do with a member's next line.
enum Verdict {
    /// Handle it.
    Take,
    /// Drop it; with `tell`, say so to the sender.
    Refuse { tell: bool },
    /// Drop it and close the member: it floods.
    Flooding,
}

impl Allowance {
    fn new(settings: &Settings, now: Instant) -> Allowance {
        let rate = settings.line_rate;
        Allowance {
            lines: TokenBucket::new(settings.line_burst as f64, rate, now),
            refusals: TokenBucket::new(settings.flood_limit as f64, rate, now),
            told: None,
            too_fast: format!(
                "too fast: at most {} lines at once, then {rate} a second; \
                 lines past that are not sent",
                settings.line_burst
            ),
        }
    }

    fn judge(&mut self, now: Instant) -> Verdict {
        if self.lines.take(now) {
            return Verdict::Take;
        }
        if !self.refusals.take(now) {
            return Verdict::Flooding;
        }
        let tell = self
            .told
            .is_none_or(|told| now.duration_since(told) >= REFUSAL_NOTICE_EVERY);
        if tell {
            self.told = Some(now);
        }
        Verdict::Refuse { tell }
    }
}

/// Handles what the member sends until it leaves; returns why it left, or
/// `None` if it was closed for flooding (and removed from the room).
fn read_loop(
    reader: &mut Reader,
    room: &Mutex<Room>,
    member: Member<'_>,
    mut allowance: Allowance,
) -> Option<&'static str> {
    let name = member.name;
    let mut ended = None;
    loop {
        let first = match ended.take().map_or_else(|| reader.read(), Err) {
            Ok(Some(message)) => message,
            // The close handshake is done.
            Ok(None) => return Some("left"),
            Err(e) => return Some(ending(&e)),
        };
        // Take the other messages that came in the same read too, and
        // handle them all under one lock: the writers wake once for the lot.
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match reader.try_read() {
                Ok(Some(message)) => batch.push(message),
                Ok(None) => break,
                Err(e) => {
                    ended = Some(e); // reported by the next turn of the loop
                    break;
                }
            }
        }
        let now = Instant::now();
        let mut room = lock(room);
        if !room.has(member) {
            // Dropped meanwhile (too slow): its socket is cut, and the name
            // may be someone else's by now.
            return Some("connection lost");
        }
        let mut to_all = Vec::new(); // room messages in a row, queued together
        for message in batch {
            let verdict = allowance.judge(now);
            let action = match verdict {
                Verdict::Take => action(name, message),
                Verdict::Refuse { tell: false } => continue,
                Verdict::Refuse { tell: true } => Action::Refuse(allowance.too_fast.clone()),
                Verdict::Flooding => {
                    room.broadcast_all(mem::take(&mut to_all));
                    let error = "flooding: closed for sending far too many lines";
                    room.send_to(name, json!({"type": "error", "error": error}));
                    room.queue(name, Out::Close(CloseCode::POLICY_VIOLATION, "flooding"));
                    room.leave(member.id, name, "flooding", false);
                    return None;
                }
            };
            match action {
                Action::ToRoom(event) => to_all.push(event),
                Action::ToUser(to, event) => {
                    room.broadcast_all(mem::take(&mut to_all));
                    if room.send_to(&to, event.clone()) {
                        if to != name {
                            room.send_to(name, event); // the sender's copy
                        }
                    } else {
                        let error = format!("{to} is not online");
                        room.send_to(name, json!({"type": "error", "error": error}));
                    }
                }
                Action::Refuse(error) => {
                    room.broadcast_all(mem::take(&mut to_all));
                    room.send_to(name, json!({"type": "error", "error": error}));
                }
            }
        }
        room.broadcast_all(to_all);
    }
}

/// What a message from a user asks for.
enum Action {
    /// A message for everyone.
    ToRoom(Value),
    /// A private message for one user (and a copy for the sender).
    ToUser(String, Value),
    /// Nothing: the message is refused, with this error for the sender.
    Refuse(String),
}

fn action(name: &str, message: Message) -> Action {
    let Message::Text(text) = message else {
        return Action::Refuse("binary messages are not supported: send JSON text".into());
    };
    match parse(&text) {
        Ok((text, None)) => Action::ToRoom(json!({"type": "message", "from": name, "text": text})),
        Ok((text, Some(to))) => {
            let event = json!({"type": "private", "from": name, "to": to, "text": text});
            Action::ToUser(to, event)
        }
        Err(error) => Action::Refuse(error),
    }
}

/// Reads `{"text": "...", "to": "name"}`: the text and the recipient (none,
/// `null` or `""` for the whole room).
fn parse(json: &str) -> Result<(String, Option<String>), String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let text = value
        .get("text")
        .and_then(Value::as_str)
        .ok_or("expected {\"text\": \"...\"} with an optional \"to\"")?;
    let to = match value.get("to") {
        None | Some(Value::Null) => None,
        Some(Value::String(to)) if to.is_empty() => None,
        Some(Value::String(to)) => Some(to.clone()),
        Some(_) => return Err("\"to\" must be a nickname".into()),
    };
    Ok((text.to_string(), to))
}

/// Writes what the room queues for this user until the user leaves (its
/// queue is dropped), a close is written, or a write fails. (Keepalive
/// pings are the reader's: the adapter sends them.)
fn write_loop(mut writer: Writer, outgoing: Receiver<Out>) -> Result<(), Error> {
    // Until the user left: the reader saw the close (its reply is queued
    // or sent) or the connection was cut.
    while let Ok(first) = outgoing.recv() {
        // Whatever else is waiting goes out with it, in one write.
        let waiting = outgoing.try_iter().take(WRITE_BATCH - 1);
        for out in std::iter::once(first).chain(waiting) {
            match out {
                Out::Text(text) => writer.queue_text(&text)?,
                Out::Close(code, reason) => {
                    writer.flush()?;
                    return writer.close(code, reason);
                }
            }
        }
        writer.flush()?;
    }
    writer.flush()
}

// ---- command line ------------------------------------------------------------

fn parse_args() -> Settings {
    let mut access = access::Access::default();
    let mut settings = Settings {
        addr: String::from("127.0.0.1:9002"),
        gate: access::Gate::new(&access),
        budget: access.budget(),
        queue: 1024,
        ping_interval: Duration::from_secs(15),
        idle_timeout: Duration::from_secs(45),
        handshake_timeout: Duration::from_secs(10),
        deflate: true,
        max_connections: limits::fitting_max(1000),
        connect_burst: 30,
        connect_rate: 5.0,
        line_burst: 20,
        line_rate: 10.0,
        flood_limit: 100,
        tls: None,
    };
    let mut tls_flags = tls::Flags::default();
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}\n{}\n{}", access::USAGE, tls::USAGE);
            process::exit(0);
        }
        let mut inline = inline;
        match access.parse(&flag, || inline.take().or_else(|| args.next())) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(message) => usage_error(&message),
        }
        match tls_flags.parse(&flag, || inline.take().or_else(|| args.next())) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(message) => usage_error(&message),
        }
        if flag == "--no-deflate" && inline.is_none() {
            settings.deflate = false;
            continue;
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            usage_error(&format!("{flag} needs a value"));
        };
        match flag.as_str() {
            "--addr" => settings.addr = value,
            "--queue" => settings.queue = count(&flag, &value),
            "--ping-interval" => settings.ping_interval = seconds(&flag, &value),
            "--idle-timeout" => settings.idle_timeout = seconds(&flag, &value),
            "--handshake-timeout" => settings.handshake_timeout = seconds(&flag, &value),
            "--max-connections" => settings.max_connections = count(&flag, &value),
            "--connect-burst" => settings.connect_burst = count(&flag, &value),
            "--connect-rate" => settings.connect_rate = number(&flag, &value),
            "--line-burst" => settings.line_burst = count(&flag, &value),
            "--line-rate" => settings.line_rate = number(&flag, &value),
            "--flood-limit" => settings.flood_limit = count(&flag, &value),
            _ => usage_error(&format!("unknown argument {arg:?}")),
        }
    }
    settings.gate = access::Gate::new(&access);
    settings.budget = access.budget();
    settings.tls = tls::server_config(&tls_flags).unwrap_or_else(|e| usage_error(&e));
    settings
}

/// A positive number, or a usage error.
fn number(flag: &str, value: &str) -> f64 {
    match value.parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => n,
        _ => usage_error(&format!("{flag} needs a positive number, not {value:?}")),
    }
}

/// A positive number of seconds, or a usage error.
fn seconds(flag: &str, value: &str) -> Duration {
    Duration::from_secs_f64(number(flag, value))
}

/// A positive whole number, or a usage error.
fn count(flag: &str, value: &str) -> usize {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => usage_error(&format!(
            "{flag} needs a positive whole number, not {value:?}"
        )),
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("chat_server: {message}\n\n{USAGE}\n{}", access::USAGE);
    process::exit(2);
}
