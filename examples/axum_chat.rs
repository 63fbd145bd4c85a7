//! The chat of `chat_server.rs` as an axum app on tokio's multi-threaded
//! runtime and the async adapter (`rfc6455::axum`, feature `axum`): the
//! same JSON protocol, the same page (`chat.html`), the same nickname
//! rules and limits, on a [`Router`] beside plain HTTP routes; with
//! `--redis`, one chat across any number of processes.
//!
//! ```text
//! cargo run --features axum --example axum_chat -- --addr 127.0.0.1:9006
//! # one chat over two processes (and as many more as you like):
//! cargo run --features axum --example axum_chat -- --addr 127.0.0.1:9006 --redis redis://127.0.0.1:6379/
//! cargo run --features axum --example axum_chat -- --addr 127.0.0.1:9007 --redis redis://127.0.0.1:6379/
//! ```
//!
//! Then open <http://127.0.0.1:9006/> in two browser tabs, or connect any
//! WebSocket client to `ws://127.0.0.1:9006/ws?name=wukong`.
//!
//! # Routes
//! * `GET /`: the page (`chat.html`, the file `chat_server` serves; it
//!   shows which server process it is connected to);
//! * `GET /ws`: the WebSocket, through [`WebSocketUpgrade`] (a request that
//!   is no handshake is refused by the extractor: 400, 426, ...);
//! * `GET /health`: `{"status":"ok","members":N,"connections":N,"server":NAME}`
//!   as JSON (with `--redis`, also `"redis":"up"|"degraded"`);
//! * the same room over plain HTTP (`axum_chat/web.rs`): `GET /chat/login`
//!   (a one-field form; `POST /chat/login` sets the nickname cookie),
//!   `POST /chat/post` (form or JSON), `GET /chat/stream` (Server-Sent
//!   Events, `id:` set, `Last-Event-ID` resumes), `GET /chat/poll?since=ID`
//!   (long polling, held up to `--poll-timeout`, default 30 s); behind
//!   the WebSocket's gate: with `--host`, another `Host` gets 421 on every
//!   `/chat/*` route, and the two posts get 403 for a foreign `Origin`
//!   (`--allow-origin`, `--any-origin`; none: not a browser, allowed);
//! * anything else: axum's 404 (405 for another method on a route).
//!
//! # Protocol
//! Exactly `chat_server`'s (see its module docs): the nickname is the
//! `name` query parameter (normalised and checked by
//! `chat_server/nickname.rs`; refused: an `error` message, then close
//! 1008); the client sends `{"text": ...}` or `{"text": ..., "to": NAME}`;
//! the server sends `welcome` (here with `server`, the process's name),
//! `join`, `leave`, `message`, `private` and `error`, each with `time`;
//! events published to the room also carry `id`, their number in the
//! room's one order. With `--redis` there is also `status` (`"room":
//! "degraded"` with an `error`, then `"room": "ok"` with `users`).
//!
//! # What runs where
//! * **Accept loop** (the main task): admits a TCP connection through the
//!   [`Gate`] of `chat_server/limits.rs` (attempts per address, the
//!   connection cap) and gives it a task that serves HTTP/1.1 with hyper
//!   (the request head within `--handshake-timeout`) and the axum router;
//!   a refused one gets 429 or 503 from a short-lived task instead.
//! * **Member task** (`on_upgrade`'s callback, `axum_chat/member.rs`):
//!   joins the room, then reads the member's [`Receiver`] and publishes.
//! * **Writer task** (one per member): takes what the room put in the
//!   member's mailbox and sends it through the member's [`Sender`].
//! * **Driver task** (spawned by the adapter): owns the socket, answers
//!   pings, runs the keepalive and the close and write timeouts.
//! * **Redis task** (with `--redis`, `axum_chat/cluster.rs`): the
//!   subscription, delivering each event to the local members in the order
//!   received; the heartbeat; reconnection.
//!
//! # Fan-out, queues and bounds
//! The room never waits on a member. Delivering an event frames it once
//! ([`PreparedMessage`]: framed once, compressed once for every member
//! whose permessage-deflate has no server context takeover) and offers it
//! to each member's bounded mailbox (`axum_chat/topic.rs`): at most
//! `--queue` messages (default 1024) and `--queue-bytes` bytes (default
//! 1 MiB); the member's writer task sends from there, and its
//! [`Sender::send_prepared`] waits while the connection's unwritten
//! output is over 64 KiB ([`Config::output_high_water`]). A member whose
//! mailbox is full is removed from the room at once (announced as `too
//! slow`) and closed with **1013 (try again later)**, reason `too slow`:
//! not 1008, because the page gives up on 1008 (a refused nickname,
//! flooding) and reconnects by itself after anything else, which is right
//! for a reader that fell behind. A member that stops reading altogether
//! is dropped once a write has made no progress for 10 s
//! ([`Config::write_timeout`]), also `too slow`. (uWebSockets bounds a
//! subscriber by bytes, `maxBackpressure`, and by default *skips* it past
//! that; Centrifugo disconnects a client past `client_queue_max_size`
//! bytes. A chat member that silently misses messages would see another
//! room than the others: we drop it, and say why. The mailbox's other
//! policy, keep the newest, is for a vote board's counts.) The topic type
//! is the example's, not the crate's: what to do with a slow subscriber is
//! application work, and the crate's adapters stay thin.
//!
//! Lines, connection attempts per address and the cap are `chat_server`'s
//! (token buckets and [`Gate`] from `chat_server/limits.rs`): `--line-burst`
//! 20 then `--line-rate` 10 a second, past `--flood-limit` 100 refused
//! lines closed with 1008 (`flooding`); `--connect-burst` 30 then
//! `--connect-rate` 5 a second per address (IPv6 by /64), past that 429;
//! `--max-connections` (default 1000) TCP connections at a time, each
//! holding its place until its socket is dropped (a page load, an SSE
//! stream and a held poll too), past it 503. Refusals are answered by at
//! most 64 tasks at a time; past those a refused connection is closed
//! unanswered. The limit on open files must be above `--max-connections`
//! plus 64 plus a few (one descriptor per connection). Messages are at most
//! 64 KiB (larger: 1009; an HTTP post body larger than 65 KiB: 413).
//! The SSE and long-poll readers hold no queue: a cursor over the last
//! `--history` room events (default 256, each at most 64 KiB); one further
//! behind is told so and resynchronised; an SSE stream with nothing new
//! gets a comment every 15 s (so that proxies keep it open), and at most
//! 64 events are written to it at a time. HTTP posts are not rate-limited
//! per nickname (only by the connection limits).
//!
//! # One order
//! Everything the room says to more than one member is published, then
//! delivered by [`Room::deliver`] under the room lock, the only code that
//! fans out. Alone, a process numbers and delivers an event in one step
//! under that lock. With `--redis`, a Lua script numbers the event (`INCR`)
//! and `PUBLISH`es it on one channel atomically, so the numbers grow in
//! publish order; Redis delivers one channel's messages to every
//! subscriber in publish order, and every process, the publisher too,
//! delivers only what its subscription brings, one event at a time: every
//! member on every process (and every SSE and long-poll reader) sees the
//! room's events in the same order, each once, from the moment it joined.
//! Private messages travel on the same channel (their sender and recipient
//! may be on two processes) and are delivered only to those two.
//!
//! # Presence across processes (`--redis`)
//! Nicknames live in two Redis hashes (nickname -> process, confusable
//! skeleton -> nickname) changed only by Lua scripts, so uniqueness and
//! the look-alike rule hold across processes. Each process refreshes its
//! key `alive:PROCESS` every `--heartbeat` (default 2 s) with an expiry
//! of `--presence-ttl` (default 6 s). Each heartbeat, every process
//! releases the nicknames of processes whose key has expired (a script
//! only one process can win per name) and publishes their leaves, reason
//! `server gone`: the members of a process killed with SIGKILL are
//! announced as gone within `--presence-ttl` + `--heartbeat` (8 s by
//! default) of its last heartbeat.
//!
//! # Redis going away
//! Delivery is at-most-once (Redis pub/sub keeps nothing): events
//! published while a process is disconnected never reach its members
//! (Redis Streams would be the at-least-once design). When the session
//! fails (a command or a ping unanswered within `--redis-timeout`, default
//! 2 s, or the subscription's connection lost), the members are told
//! (`status`, `degraded`), their lines are refused with an error rather
//! than sent to a local-only room (which would fork the order), and
//! newcomers are refused with 1013 (the page retries by itself). The
//! process reconnects (after 0.1 s, doubling up to `--redis-backoff`,
//! default 2 s), resubscribes, claims its members' nicknames again
//! (published as joins if Redis lost them), and tells its members the
//! room is back with who is online. No process exits because of Redis.
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
//!
//! [`Receiver`]: rfc6455::tokio::Receiver
//! [`Sender`]: rfc6455::tokio::Sender
//! [`Sender::send_prepared`]: rfc6455::tokio::Sender::send_prepared
//! [`PreparedMessage`]: rfc6455::PreparedMessage
//! [`Config::output_high_water`]: rfc6455::Config::output_high_water
//! [`Config::write_timeout`]: rfc6455::Config::write_timeout
//! [`WebSocketUpgrade`]: rfc6455::axum::WebSocketUpgrade
//! [`Room::deliver`]: room::Room::deliver

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::service::TowerToHyperService;
use rfc6455::tokio::Tracker;
use rfc6455::{CloseCode, Config};
use serde_json::Value;
use std::process;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

// The blocking refusal path and the descriptor fitting of limits.rs are
// not used here (refusals are answered by tasks, see `http::refuse`).
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
#[path = "support/admitted.rs"]
mod admitted;
#[path = "support/tls.rs"]
mod tls;

#[path = "axum_chat/cluster.rs"]
mod cluster;
#[path = "axum_chat/http.rs"]
mod http;
#[path = "axum_chat/member.rs"]
mod member;
#[path = "axum_chat/room.rs"]
mod room;
#[path = "axum_chat/settings.rs"]
mod settings;
// `len` and the keep-newest policy are for other topics (a vote board's).
#[allow(dead_code)]
#[path = "axum_chat/topic.rs"]
mod topic;
#[path = "axum_chat/web.rs"]
mod web;

use admitted::Admitted;
use cluster::Cluster;
#[cfg(feature = "rustls")]
use http::serve_https;
use http::{refusal_response, refuse, router, serve_http};
use limits::Gate;
use room::{Audience, Room, lock};
use settings::{Settings, parse_args};

/// The page served on `GET /`: `chat_server`'s.
const PAGE: &str = include_str!("chat.html");

/// Messages shorter than this are sent uncompressed (as `chat_server`).
#[cfg(feature = "deflate")]
const DEFLATE_THRESHOLD: usize = 512;

/// Refusals (429, 503) answered at a time, each by a task of its own.
const MAX_REFUSING: usize = 64;

/// How long `accept` rests after it failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the routes and the member tasks share.
struct App {
    settings: Settings,
    /// The `Host` and `Origin` checks (cross-site WebSocket hijacking).
    access: access::Gate,
    /// Every member's connection settings.
    config: Config,
    room: Mutex<Room>,
    /// With `--redis`: the chat across processes.
    cluster: Option<Arc<Cluster>>,
    /// This process's name, shown to its users (`--server-name`).
    server: String,
    /// The members' connections, closed with 1001 at shutdown.
    tracker: Tracker,
    /// TCP connections admitted and not yet dropped (for `/health`).
    connections: Arc<()>,
}

impl App {
    /// Publishes `event` to `audience` in the room's one order: alone, at
    /// once under the room lock; with Redis, through the channel (then
    /// delivered from the subscription). `Err` with what to tell the
    /// sender while the room is degraded.
    async fn publish(&self, audience: Audience, event: Value) -> Result<(), String> {
        match &self.cluster {
            None => {
                lock(&self.room).publish(audience, event);
                Ok(())
            }
            Some(cluster) => cluster
                .publish(&audience, event)
                .await
                .map_err(|e| format!("the room is degraded ({}): your message was not sent", e.0)),
        }
    }

    /// Whether `name` is a WebSocket member, on any process.
    async fn is_online(&self, name: &str) -> Result<bool, String> {
        match &self.cluster {
            None => Ok(lock(&self.room).users.contains_key(name)),
            Some(cluster) => cluster
                .is_online(name)
                .await
                .map_err(|e| format!("the room is degraded ({})", e.0)),
        }
    }
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
    let (ws, http) = if settings.tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("axum chat listening on {ws}://{addr}/ws (page: {http}://{addr}/)");

    let mut gate = Gate::new(
        settings.connect_burst,
        settings.connect_rate,
        settings.max_connections,
    );
    let server = settings.server_name.clone().unwrap_or_else(|| addr.clone());
    let cluster = settings.redis.as_deref().map(|url| {
        let me = format!("{addr}/{}/{}", process::id(), room::now_ms());
        match Cluster::new(url, me, settings.timing.clone()) {
            Ok(cluster) => Arc::new(cluster),
            Err(e) => {
                eprintln!("axum_chat: {e}");
                process::exit(2);
            }
        }
    });
    let app = Arc::new(App {
        access: access::Gate::new(&settings.access),
        config: settings.config(),
        room: Mutex::new(Room::new(&settings, cluster.clone())),
        cluster: cluster.clone(),
        server,
        settings,
        tracker: Tracker::new(),
        connections: Arc::new(()),
    });
    if let Some(cluster) = cluster {
        tokio::spawn(cluster.run(Arc::clone(&app)));
    }
    let service: TowerToHyperService<Router> = TowerToHyperService::new(router(Arc::clone(&app)));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let signal = loop {
        tokio::select! {
            signal = signals.recv() => break signal,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true); // each message at once, no Nagle delay
                    match gate.admit(peer.ip(), Instant::now()) {
                        Ok(ticket) => {
                            let io = Admitted::new(tcp, (ticket, Arc::clone(&app.connections)));
                            let timeout = app.settings.handshake_timeout;
                            #[cfg(feature = "rustls")]
                            if let Some(config) = app.settings.tls.clone() {
                                tokio::spawn(serve_https(io, config, service.clone(), timeout));
                                continue;
                            }
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

// ---- signals ---------------------------------------------------------------

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
