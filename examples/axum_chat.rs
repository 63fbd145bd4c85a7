//! The chat of `chat_server.rs` as an axum app on tokio's multi-threaded
//! runtime and the async adapter (`rfc6455::axum`, feature `axum`): the
//! same JSON protocol, the same page (`chat.html`), the same nickname
//! rules and limits, on a [`Router`] beside a plain HTTP route.
//!
//! ```text
//! cargo run --features axum --example axum_chat -- --addr 127.0.0.1:9006
//! ```
//!
//! Then open <http://127.0.0.1:9006/> in two browser tabs, or connect any
//! WebSocket client to `ws://127.0.0.1:9006/ws?name=wukong`.
//!
//! # Routes
//! * `GET /`: the page (`chat.html`, the file `chat_server` serves);
//! * `GET /ws`: the WebSocket, through [`WebSocketUpgrade`] (a request that
//!   is no handshake is refused by the extractor: 400, 426, ...);
//! * `GET /health`: `{"status":"ok","members":N,"connections":N}` as JSON;
//! * anything else: axum's 404 (405 for another method on a route).
//!
//! # Protocol
//! Exactly `chat_server`'s (see its module docs): the nickname is the
//! `name` query parameter (normalised and checked by
//! `chat_server/nickname.rs`; refused: an `error` message, then close
//! 1008); the client sends `{"text": ...}` or `{"text": ..., "to": NAME}`;
//! the server sends `welcome`, `join`, `leave`, `message`, `private` and
//! `error`, each with `time`.
//!
//! # What runs where
//! * **Accept loop** (the main task): admits a TCP connection through the
//!   [`Gate`] of `chat_server/limits.rs` (attempts per address, the
//!   connection cap) and gives it a task that serves HTTP/1.1 with hyper
//!   (the request head within `--handshake-timeout`) and the axum router;
//!   a refused one gets 429 or 503 from a short-lived task instead.
//! * **Member task** (`on_upgrade`'s callback): joins the room, then reads
//!   the member's [`Receiver`] and acts on each line under the room lock.
//! * **Writer task** (one per member): takes what the room queued for the
//!   member and sends it through the member's [`Sender`].
//! * **Driver task** (spawned by the adapter): owns the socket, answers
//!   pings, runs the keepalive and the close and write timeouts.
//!
//! # Queues and bounds
//! The room never waits on a member. Delivering a message puts it (a
//! shared `Utf8Bytes`, no copy) into each member's bounded queue
//! (`--queue` messages, default 1024, a tokio `mpsc` channel); the
//! member's writer task sends from there, and its [`Sender::send`] waits
//! while the connection's unwritten output is over 64 KiB
//! ([`Config::output_high_water`]). A member whose queue is full is removed
//! from the room at once (announced as `too slow`) and closed with **1013
//! (try again later)**, reason `too slow`: not 1008, because the page
//! gives up on 1008 (a refused nickname, flooding) and reconnects by
//! itself after anything else, which is right for a reader that fell
//! behind. A member that stops reading altogether is dropped once a write
//! has made no progress for 10 s ([`Config::write_timeout`]), also `too
//! slow`. Per-member writer tasks rather than one broadcaster: one slow
//! socket then never delays the delivery to the others, and the room's
//! lock is held only to put messages into queues.
//!
//! Lines, connection attempts per address and the cap are `chat_server`'s
//! (token buckets and [`Gate`] from `chat_server/limits.rs`): `--line-burst`
//! 20 then `--line-rate` 10 a second, past `--flood-limit` 100 refused
//! lines closed with 1008 (`flooding`); `--connect-burst` 30 then
//! `--connect-rate` 5 a second per address (IPv6 by /64), past that 429;
//! `--max-connections` (default 1000) TCP connections at a time, each
//! holding its place until its socket is dropped (a page load too), past
//! it 503. Refusals are answered by at most 64 tasks at a time; past those
//! a refused connection is closed unanswered. The limit on open files
//! must be above `--max-connections` + 64 + a few (one descriptor per
//! connection). Messages are at most 64 KiB (larger: 1009).
//!
//! # One order, and Redis later
//! Everything the room says to more than one member goes through
//! [`Room::publish`], which stamps it and hands it to [`Room::deliver`]
//! under the room lock: that lock is the room's one order, the order in
//! which every member's queue receives the messages. `deliver` is the only
//! code that fans out, and it takes an already published event: to spread
//! the room across processes, `publish` would publish to Redis and the
//! subscription task would call `deliver` for each message it receives, so
//! that every member, on whatever process, sees the subscription's order.
//!
//! # Graceful shutdown
//! On SIGINT (Ctrl-C) or SIGTERM the server stops accepting, closes every
//! member with 1001 (going away) through a [`Tracker`], waits until they
//! have all ended or `--shutdown-timeout` passed, and exits 0. A second
//! signal meanwhile exits at once (status 1).
//!
//! # Compression
//! As `chat_server`: permessage-deflate accepted with no context takeover
//! either way, messages under 512 bytes sent uncompressed; `--no-deflate`
//! declines it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{env, process};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rfc6455::axum::WebSocketUpgrade;
use rfc6455::tokio::{Error, Receiver, Sender, Tracker, WebSocket};
use rfc6455::{CloseCode, Config, Keepalive, Lost, Message, Utf8Bytes};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

// The blocking refusal path and the descriptor fitting of limits.rs are
// not used here (refusals are answered by tasks, see `refuse`).
#[allow(dead_code)]
#[path = "chat_server/limits.rs"]
mod limits;
#[path = "chat_server/nickname.rs"]
mod nickname;
// Only its deflate policy: the plain HTTP answers are axum's here.
#[allow(dead_code)]
mod support;

#[path = "support/access.rs"]
mod access;

use limits::{Gate, Refusal, Ticket, TokenBucket};

/// The page served on `GET /`: `chat_server`'s.
const PAGE: &str = include_str!("chat.html");

/// How long a client closed by the server may take to answer the close,
/// and the lingering close after one (`Config::close_timeout`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may make no progress before the member is dropped as
/// too slow (`Config::write_timeout`).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest message a client may send (larger: closed with 1009).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A member told that its lines are refused is told again at most this often.
const REFUSAL_NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Messages shorter than this are sent uncompressed (as `chat_server`).
#[cfg(feature = "deflate")]
const DEFLATE_THRESHOLD: usize = 512;

/// Refusals (429, 503) answered at a time, each by a task of its own.
const MAX_REFUSING: usize = 64;

/// A refused client has this long to send its request head and read the answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `accept` rests after it failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const USAGE: &str = "\
usage: axum_chat [--addr HOST:PORT] [--queue N] [--ping-interval SECS] [--idle-timeout SECS]
                 [--handshake-timeout SECS] [--no-deflate] [--max-connections N]
                 [--connect-burst N] [--connect-rate PER_SEC]
                 [--line-burst N] [--line-rate PER_SEC] [--flood-limit N]
                 [--shutdown-timeout SECS]

  --addr HOST:PORT      address to listen on (default 127.0.0.1:9006;
                        port 0 picks a free port, printed at start)
  --queue N             messages that may wait for one slow member before
                        it is closed with 1013 (default 1024)
  --ping-interval SECS  how often to ping each client (default 15)
  --idle-timeout SECS   drop a client that sent nothing, not even a pong,
                        for this long (default 45)
  --handshake-timeout SECS
                        time for a request head (default 10)
  --no-deflate          decline permessage-deflate (RFC 7692); by default
                        it is accepted when a client offers it, with no
                        context takeover either way
  --max-connections N   TCP connections served at a time (default 1000);
                        past it a new client gets 503 before the upgrade
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
  --shutdown-timeout SECS
                        on SIGINT or SIGTERM, how long to wait for the
                        members closed with 1001 (default 5)
  --help                show this help

An axum Router (GET /, GET /ws, GET /health) on tokio's multi-threaded runtime.";

/// The command-line settings.
#[derive(Clone)]
struct Settings {
    addr: String,
    queue: usize,
    ping_interval: Duration,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    deflate: bool,
    max_connections: usize,
    connect_burst: usize,
    connect_rate: f64,
    line_burst: usize,
    line_rate: f64,
    flood_limit: usize,
    shutdown_timeout: Duration,
    /// `--allow-origin`, `--any-origin`, `--host`, `--memory-budget-mib`.
    access: access::Access,
}

impl Settings {
    /// Every member's connection settings (as `chat_server`'s).
    fn config(&self) -> Config {
        let ping_after = self.ping_interval.min(self.idle_timeout);
        let pong_timeout = (self.idle_timeout - ping_after).max(Duration::from_millis(1));
        let config = Config::default()
            .budget(Some(self.access.budget()))
            .max_frame_size(MAX_MESSAGE_BYTES)
            .max_message_size(MAX_MESSAGE_BYTES)
            .keepalive(Some(Keepalive::new(ping_after, pong_timeout)))
            .write_timeout(Some(WRITE_TIMEOUT))
            .close_timeout(CLOSE_TIMEOUT);
        #[cfg(feature = "deflate")]
        if self.deflate {
            return config.deflate(support::deflate_policy().threshold(DEFLATE_THRESHOLD));
        }
        config
    }
}

/// What the routes and the member tasks share.
struct App {
    settings: Settings,
    /// The `Host` and `Origin` checks (cross-site WebSocket hijacking).
    access: access::Gate,
    /// Every member's connection settings.
    config: Config,
    room: Mutex<Room>,
    /// The members' connections, closed with 1001 at shutdown.
    tracker: Tracker,
    /// TCP connections admitted and not yet dropped (for `/health`).
    connections: Arc<()>,
}

fn main() {
    let settings = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("axum_chat: cannot start the runtime: {e}");
            process::exit(1);
        });
    let status = runtime.block_on(run(settings));
    // Connections still in an HTTP exchange are dropped, not awaited.
    runtime.shutdown_background();
    process::exit(status);
}

/// Serves until a shutdown signal, then closes every member with 1001.
async fn run(settings: Settings) -> i32 {
    // Before the first line: a signal sent as soon as it is printed is ours.
    let mut signals = Signals::new().unwrap_or_else(|e| {
        eprintln!("axum_chat: cannot listen for signals: {e}");
        process::exit(1);
    });
    let listener = TcpListener::bind(&settings.addr).await.unwrap_or_else(|e| {
        eprintln!("axum_chat: cannot listen on {}: {e}", settings.addr);
        process::exit(1);
    });
    let addr = listener
        .local_addr()
        .map_or_else(|_| settings.addr.clone(), |a| a.to_string());
    println!("axum chat listening on ws://{addr}/ws (page: http://{addr}/)");

    let mut gate = Gate::new(
        settings.connect_burst,
        settings.connect_rate,
        settings.max_connections,
    );
    let app = Arc::new(App {
        access: access::Gate::new(&settings.access),
        config: settings.config(),
        settings,
        room: Mutex::new(Room::default()),
        tracker: Tracker::new(),
        connections: Arc::new(()),
    });
    let service = TowerToHyperService::new(router(Arc::clone(&app)));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let signal = loop {
        tokio::select! {
            signal = signals.recv() => break signal,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true); // each message at once, no Nagle delay
                    match gate.admit(peer.ip(), Instant::now()) {
                        Ok(ticket) => {
                            let io = Admitted { tcp, _ticket: ticket, _count: Arc::clone(&app.connections) };
                            let timeout = app.settings.handshake_timeout;
                            tokio::spawn(serve_http(io, service.clone(), timeout));
                        }
                        Err(refusal) => {
                            if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
                                let response = refusal_response(refusal, &app.settings);
                                tokio::spawn(async move {
                                    refuse(tcp, response).await;
                                    drop(permit);
                                });
                            } // else dropped: closed unanswered
                        }
                    }
                }
                Err(e) => {
                    eprintln!("axum_chat: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    };
    drop(listener);

    let open = app.tracker.open();
    println!("{signal}: closing {open} members with 1001 (going away)");
    let closing = app.tracker.close_all(
        CloseCode::GOING_AWAY,
        "server shutting down",
        app.settings.shutdown_timeout,
    );
    tokio::select! {
        left = closing => {
            println!("shut down: {} of {open} members closed, {left} left", open - left);
            0
        }
        signal = signals.recv() => {
            println!("{signal} again: exiting now");
            1
        }
    }
}

// ---- HTTP ---------------------------------------------------------------------------

/// The routes: the page, the socket, and a plain JSON route beside them.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ws", get(ws))
        .route("/health", get(health))
        .with_state(app)
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

/// `{"status":"ok","members":N,"connections":N}`: members in the room, and
/// TCP connections held (members, page loads, handshakes).
async fn health(State(app): State<Arc<App>>) -> impl IntoResponse {
    let members = lock(&app.room).users.len();
    // Every admitted connection holds a clone; `app` holds one more.
    let connections = Arc::strong_count(&app.connections) - 1;
    let body = json!({"status": "ok", "members": members, "connections": connections});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// `GET /ws?name=NICK`: the upgrade, then the member's task.
async fn ws(State(app): State<Arc<App>>, uri: Uri, upgrade: WebSocketUpgrade) -> Response {
    let wanted = uri.query().and_then(|query| query_param(query, "name"));
    // The Host (421) and the Origin (403), before the upgrade.
    if let Err(rejection) = app.access.check(upgrade.request()) {
        let version = upgrade.request().version();
        return rejection
            .to_http(version)
            .map(|()| axum::body::Body::from(format!("{}\n", rejection.error())))
            .into_response();
    }
    let config = app.config.clone();
    upgrade
        .config(config)
        .on_upgrade(move |ws| member(ws, wanted, app))
}

/// One admitted TCP connection: HTTP/1.1 with upgrades, each request head
/// within `timeout` (slowloris is cut off).
async fn serve_http(io: Admitted, service: TowerToHyperService<Router>, timeout: Duration) {
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// The answer to a refused connection (as `chat_server`'s).
fn refusal_response(refusal: Refusal, settings: &Settings) -> Response {
    let (status, retry_after, body) = match refusal {
        Refusal::TooManyAttempts => (
            StatusCode::TOO_MANY_REQUESTS,
            (1.0 / settings.connect_rate).ceil().max(1.0).to_string(),
            format!(
                "too many connection attempts from your address: at most {} at once, \
                 then {} a second\n",
                settings.connect_burst, settings.connect_rate
            ),
        ),
        Refusal::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            "5".to_string(),
            format!(
                "the server is full ({} connections); try again later\n",
                settings.max_connections
            ),
        ),
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&retry_after) {
        headers.insert(header::RETRY_AFTER, value);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers a refused connection with `response` after reading its request
/// head (so that closing does not reset the connection under the client's
/// feet), all within [`REFUSAL_TIMEOUT`] for the head and as much again
/// for the rest.
async fn refuse(tcp: TcpStream, response: Response) {
    let response = Mutex::new(Some(response));
    let service = hyper::service::service_fn(move |_request| {
        let response = response
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| StatusCode::SERVICE_UNAVAILABLE.into_response());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(tcp), service);
    let _ = tokio::time::timeout(2 * REFUSAL_TIMEOUT, connection).await;
}

/// An admitted connection's socket, holding its place under the cap (the
/// [`Ticket`]) until it is dropped: by hyper after plain HTTP, by the
/// adapter's driver after a WebSocket.
struct Admitted {
    tcp: TcpStream,
    _ticket: Ticket,
    _count: Arc<()>,
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The value of the first query parameter `name`, decoded as browsers
/// encode it (`%XX`, `+` as a space; invalid UTF-8 replaced by U+FFFD).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- the room -------------------------------------------------------------------

/// Everyone online, by nickname. One lock guards it: joining, leaving and
/// every delivery happen in one order (see the module docs).
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
    /// What waits for this member's writer task.
    queue: mpsc::Sender<Out>,
    /// The member's connection, to close it when it cannot keep up.
    socket: Sender,
}

/// What the room queues for a member's writer.
enum Out {
    /// A message (JSON text), shared by every queue it is in.
    Text(Utf8Bytes),
    /// The close frame to end with; nothing is sent after it.
    Close(CloseCode, &'static str),
}

/// Who receives a published event.
enum Audience {
    /// Every member.
    Everyone,
    /// A private message: its recipient and its sender (once if the same).
    Pair { to: String, from: String },
}

/// Locks the room. Every change is a single map operation, so a panic
/// while holding the lock leaves it consistent: go on.
fn lock(room: &Mutex<Room>) -> MutexGuard<'_, Room> {
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch: the server's timestamp on every message.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `event` with its timestamp, as the text frame's payload.
fn stamped(mut event: Value) -> Utf8Bytes {
    event["time"] = json!(now_ms());
    Utf8Bytes::from(event.to_string())
}

impl Room {
    /// Adds a member under the nickname it asked for, normalised (or an
    /// anonymous label), welcomes it and announces it. Returns its id and
    /// name, or why it was refused.
    fn join(
        &mut self,
        wanted: Option<String>,
        queue: mpsc::Sender<Out>,
        socket: Sender,
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
        let users: Vec<&String> = self.users.keys().collect();
        let welcome = json!({"type": "welcome", "you": name, "users": users});
        self.send_to(&name, welcome);
        let online = self.users.len();
        self.publish(
            Audience::Everyone,
            json!({"type": "join", "user": name, "online": online}),
        );
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

    /// Whether `member` is still in the room (its name may belong to a
    /// newer connection by now).
    fn has(&self, member: &MemberId<'_>) -> bool {
        self.users
            .get(member.name)
            .is_some_and(|user| user.id == member.id)
    }

    /// Removes `member` if it is still in the room and announces that it left.
    fn leave(&mut self, member: &MemberId<'_>, reason: &str) {
        if self.has(member) {
            self.remove(member.name, reason);
        }
    }

    /// Removes `name` and announces it. Dropping its queue ends its writer
    /// task once that has sent what is left.
    fn remove(&mut self, name: &str, reason: &str) {
        if self.users.remove(name).is_some() {
            let online = self.users.len();
            self.publish(
                Audience::Everyone,
                json!({"type": "leave", "user": name, "reason": reason, "online": online}),
            );
        }
    }

    /// Publishes `event` in the room's one order: stamps it and delivers it.
    /// (Across processes this would publish to Redis, and the subscription
    /// would call [`deliver`](Self::deliver); see the module docs.)
    fn publish(&mut self, audience: Audience, event: Value) {
        let text = stamped(event);
        self.deliver(&audience, &text);
    }

    /// Queues a published event for its audience and never waits. A
    /// member whose queue is full is closed with 1013 and announced as
    /// `too slow`; one whose writer is gone, as `connection lost`.
    fn deliver(&mut self, audience: &Audience, text: &Utf8Bytes) {
        let mut dropped = Vec::new();
        let mut offer = |name: &str, user: &User| {
            if let Err(reason) = queue(user, Out::Text(text.clone())) {
                dropped.push((name.to_string(), reason));
            }
        };
        match audience {
            Audience::Everyone => {
                for (name, user) in &self.users {
                    offer(name, user);
                }
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
    fn send_to(&mut self, name: &str, event: Value) -> bool {
        let Some(user) = self.users.get(name) else {
            return false;
        };
        if let Err(reason) = queue(user, Out::Text(stamped(event))) {
            self.remove(name, reason);
        }
        true
    }

    /// Queues the final close for one member, behind what is queued for it.
    fn close(&mut self, name: &str, code: CloseCode, reason: &'static str) {
        if let Some(user) = self.users.get(name) {
            if user.queue.try_send(Out::Close(code, reason)).is_err() {
                // Full (or the writer is gone): close at once instead.
                close_now(&user.socket, code, reason);
            }
        }
    }
}

/// Queues `out` for `user` without waiting; if its queue is full, closes
/// it with 1013. `Err` with the reason to announce when it must go.
fn queue(user: &User, out: Out) -> Result<(), &'static str> {
    match user.queue.try_send(out) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => {
            close_now(&user.socket, CloseCode::TRY_AGAIN_LATER, "too slow");
            Err("too slow")
        }
        // Its writer ended: the connection is over.
        Err(mpsc::error::TrySendError::Closed(_)) => Err("connection lost"),
    }
}

/// Starts the close handshake on `socket` now, ahead of anything its writer
/// has not sent yet; the adapter's driver completes it (bounded by
/// `CLOSE_TIMEOUT` and `WRITE_TIMEOUT`).
fn close_now(socket: &Sender, code: CloseCode, reason: &'static str) {
    let socket = socket.clone();
    // `close` queues the frame at its first poll; the task then only waits.
    tokio::spawn(async move {
        let _ = socket.close(code, reason).await;
    });
}

// ---- one member -----------------------------------------------------------------

/// Which member a task serves.
struct MemberId<'a> {
    id: u64,
    name: &'a str,
}

/// A member: joins, then reads until it leaves; its writer runs beside.
async fn member(ws: WebSocket, wanted: Option<String>, app: Arc<App>) {
    app.tracker.track(&ws);
    let (sender, mut receiver) = ws.split();
    let (queue, outgoing) = mpsc::channel(app.settings.queue);
    let joined = lock(&app.room).join(wanted, queue, sender.clone());
    let (id, name) = match joined {
        Ok(joined) => joined,
        Err(refusal) => {
            // Say why in a message the page can show, then close with 1008
            // and wait for the client's reply (at most CLOSE_TIMEOUT).
            let error = stamped(json!({"type": "error", "error": refusal}));
            let _ = sender.send(Message::Text(error)).await;
            let _ = sender
                .close(CloseCode::POLICY_VIOLATION, "nickname refused")
                .await;
            return;
        }
    };
    let writer = tokio::spawn(write_loop(sender, outgoing));
    let me = MemberId { id, name: &name };
    let allowance = Allowance::new(&app.settings, Instant::now());
    match read_loop(&mut receiver, &app, &me, allowance).await {
        // Closed for flooding (removed, its close queued): the close
        // handshake completes here, whatever it sends meanwhile.
        None => while let Ok(Some(_)) = receiver.recv().await {},
        Some(reason) => lock(&app.room).leave(&me, reason),
    }
    let _ = writer.await;
}

/// Sends what the room queues for the member until the member leaves (its
/// queue is dropped), a close is queued, or the connection ends.
async fn write_loop(sender: Sender, mut outgoing: mpsc::Receiver<Out>) {
    while let Some(out) = outgoing.recv().await {
        match out {
            Out::Text(text) => {
                if sender.send(Message::Text(text)).await.is_err() {
                    return; // the reader sees how it ended
                }
            }
            Out::Close(code, reason) => {
                let _ = sender.close(code, reason).await;
                return;
            }
        }
    }
}

/// Why a member whose connection failed with `error` left.
fn ending(error: &Error) -> &'static str {
    match error {
        Error::Lost(Lost::KeepaliveTimeout) => "timed out",
        // A write made no progress for WRITE_TIMEOUT: it stopped reading.
        Error::Lost(Lost::WriteTimeout) => "too slow",
        Error::Protocol(_) => "protocol error",
        _ => "connection lost",
    }
}

/// How many lines a member may still send (as `chat_server`).
struct Allowance {
    lines: TokenBucket,
    /// Refused lines forgiven at the line rate; empty: a flooder.
    refusals: TokenBucket,
    /// When the member was last told that a line was refused.
    told: Option<Instant>,
    too_fast: String,
}

/// What to do with a member's next line.
enum Verdict {
    Take,
    /// Drop it; with `tell`, say so to the sender.
    Refuse {
        tell: bool,
    },
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
async fn read_loop(
    receiver: &mut Receiver,
    app: &App,
    me: &MemberId<'_>,
    mut allowance: Allowance,
) -> Option<&'static str> {
    loop {
        let message = match receiver.recv().await {
            Ok(Some(message)) => message,
            Ok(None) => return Some("left"), // the close handshake is done
            Err(e) => return Some(ending(&e)),
        };
        let mut room = lock(&app.room);
        if !room.has(me) {
            // Dropped meanwhile (too slow): closed with 1013 already.
            return Some("connection lost");
        }
        let action = match allowance.judge(Instant::now()) {
            Verdict::Take => action(me.name, message),
            Verdict::Refuse { tell: false } => continue,
            Verdict::Refuse { tell: true } => Action::Refuse(allowance.too_fast.clone()),
            Verdict::Flooding => {
                let error = "flooding: closed for sending far too many lines";
                room.send_to(me.name, json!({"type": "error", "error": error}));
                room.close(me.name, CloseCode::POLICY_VIOLATION, "flooding");
                room.leave(me, "flooding");
                return None;
            }
        };
        match action {
            Action::ToRoom(event) => room.publish(Audience::Everyone, event),
            Action::ToUser(to, event) => {
                if room.users.contains_key(&to) {
                    let from = me.name.to_string();
                    room.publish(Audience::Pair { to, from }, event);
                } else {
                    let error = format!("{to} is not online");
                    room.send_to(me.name, json!({"type": "error", "error": error}));
                }
            }
            Action::Refuse(error) => {
                room.send_to(me.name, json!({"type": "error", "error": error}));
            }
        }
    }
}

/// What a message from a member asks for.
enum Action {
    /// A message for everyone.
    ToRoom(Value),
    /// A private message for one member (and a copy for the sender).
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

// ---- signals ------------------------------------------------------------------------

/// SIGINT and SIGTERM (Ctrl-C alone where there are no Unix signals).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

// ---- command line ---------------------------------------------------------------

fn parse_args() -> Settings {
    let mut settings = Settings {
        addr: String::from("127.0.0.1:9006"),
        queue: 1024,
        ping_interval: Duration::from_secs(15),
        idle_timeout: Duration::from_secs(45),
        handshake_timeout: Duration::from_secs(10),
        deflate: true,
        max_connections: 1000,
        connect_burst: 30,
        connect_rate: 5.0,
        line_burst: 20,
        line_rate: 10.0,
        flood_limit: 100,
        shutdown_timeout: Duration::from_secs(5),
        access: access::Access::default(),
    };
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}\n{}", access::USAGE);
            process::exit(0);
        }
        let mut inline_value = inline.clone();
        match settings
            .access
            .parse(&flag, || inline_value.take().or_else(|| args.next()))
        {
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
            "--shutdown-timeout" => settings.shutdown_timeout = seconds(&flag, &value),
            _ => usage_error(&format!("unknown argument {arg:?}")),
        }
    }
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
    eprintln!("axum_chat: {message}\n\n{USAGE}\n{}", access::USAGE);
    process::exit(2);
}
