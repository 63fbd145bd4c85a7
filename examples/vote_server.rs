//! A live vote board: a few candidates with their counts. A click on the
//! page votes, and every open page sees the new counts, pushed or polled
//! over the transport it chose: **short polling**, **long polling**,
//! **Server-Sent Events** or a **WebSocket**, side by side on one axum
//! [`Router`] on tokio (feature `axum`), so that what each costs can be
//! measured (`benches/transports/`, BENCHMARKS.md).
//!
//! ```text
//! cargo run --features axum --example vote_server -- --addr 127.0.0.1:9003
//! ```
//!
//! Then open <http://127.0.0.1:9003/> (WebSocket),
//! `/?transport=sse`, `/?transport=long` or `/?transport=poll` in a few
//! browser tabs and click: every tab shows the same counts, the latency of
//! its last update and the bytes it received.
//!
//! # Routes
//! * `GET /`: the page (`vote.html`).
//! * `GET /ws`: the WebSocket ([`ws`]; protocol below).
//! * `GET /api/counts`: the counts now, as JSON (short polling).
//! * `GET /api/counts?since=N`: long polling: at once if the board is not
//!   at version `N`, else held until the next vote or `--long-poll-timeout`
//!   (default 30 s), then **204 No Content** ([`http::counts`]).
//! * `GET /events`: Server-Sent Events, one event per new version
//!   (`id:` the version, `data:` the JSON), `retry:`, keepalive comments,
//!   `Last-Event-ID` honoured ([`sse`]).
//! * `POST /api/vote` with `{"vote":"NAME"}`: 200 with
//!   `{"version":N,"total":T}`; 400 with `{"error":WHY}` for a malformed or
//!   unknown vote, nothing counted; 413, 415, 429, 403 ([`http::vote`]).
//! * `GET /api/config`: the page's settings (`poll_interval_ms`, ...).
//! * `GET /api/stats`: gauges (connections, held long polls and streams,
//!   requests served) for tests and the harness.
//! * anything else: 404, another method on a route 405 with `Allow`.
//!
//! # The counts, on every transport
//! One JSON text, serialised once per version ([`board`]):
//! `{"type":"counts","version":N,"candidates":[{"name":"Rust","votes":3},...],
//! "total":3,"voted_at":MS}`. `version` is the number of votes counted
//! (versions are a total order: a vote is counted and published under one
//! lock); `voted_at` is the server's clock (ms since the Unix epoch) when
//! that vote was counted, from which the page shows the latency vote →
//! displayed. The newest counts live in a tokio `watch` channel: a slow
//! watcher of any transport skips to the newest instead of getting a
//! backlog, and a watcher that leaves drops its receiver.
//!
//! # The WebSocket protocol (`/ws`)
//! JSON text frames. A client votes with `{"vote": "Rust"}`. The server
//! sends the counts (above, `"type":"counts"`) to a new client at once and
//! after every vote (a client that reads slowly skips intermediate counts),
//! and `{"type":"error","error":WHY}` to a client whose message was not a
//! valid vote or came over its rate limit (the counts do not change).
//!
//! At most one batch (the newest counts, and the error answers that
//! waited) is in flight per client: each batch is followed by a ping
//! carrying its number (8 bytes, big-endian, from 1), and the next batch
//! waits for that ping's pong, which the client sends once it has read the
//! batch (browsers answer pings by themselves). TCP takes whatever fits in
//! the socket buffers, which grow to megabytes; without this a page reading
//! at 20 kB/s while votes arrive at 2,000/s would be shown counts a minute
//! old. A client that does not answer pings gets the next batch after
//! [`ws::ACK_TIMEOUT`] (1 s) instead. The price: a 10-byte ping out and a
//! 14-byte pong in per update, at most one update per round trip.
//!
//! # What one client can cost (every bound, and its default)
//! * **Connections**: at most `--max-connections` TCP connections of any
//!   kind (default [`args::DEFAULT_MAX_CONNECTIONS`], lowered to fit the
//!   descriptor limit); past it a new client gets `503` with
//!   `Retry-After: 1` before anything else (`support/cap.rs`, from a
//!   short-lived thread, at most 16 at once).
//! * **Held requests**: at most `--max-long-polls` (default 768) long polls
//!   and `--max-event-streams` (default 768) event streams at once, 503
//!   with `Retry-After: 1` past them: together three quarters of the
//!   connections, so WebSockets and page loads still fit. A long poll is
//!   held at most `--long-poll-timeout` (30 s, under the 60 s idle timeout
//!   of common proxies); a stream lasts at most `--sse-lifetime` (600 s;
//!   the browser reconnects by itself with `Last-Event-ID`), and a comment
//!   every `--sse-keepalive` (15 s) of silence keeps proxies from closing
//!   it and finds a vanished client by the failing write.
//! * **Votes**: each WebSocket connection, and each client address for
//!   HTTP votes (IPv6 by its /64), may vote [`args::VOTE_RATE`] times a
//!   second with bursts of [`args::VOTE_BURST`] (a token bucket;
//!   `--vote-rate`, `--vote-burst`). Over the limit: an error message on
//!   `/ws`, 429 on `/api/vote`, and nothing counted. At most
//!   [`limits::MAX_VOTERS`] addresses' buckets are kept ([`limits`]). At
//!   most [`ws::MAX_ERRORS`] error answers wait per WebSocket client.
//! * **Memory**: a WebSocket message is at most [`MAX_MESSAGE_BYTES`]
//!   (1009 past it), a vote body at most [`http::MAX_VOTE_BODY`] (413), a
//!   request head at most hyper's buffer of [`MAX_BUF`] (431 past it), and
//!   hyper buffers at most [`MAX_BUF`] of a connection's output, so a slow
//!   event-stream reader holds that plus its socket buffers. All WebSocket
//!   connections share one `MemoryBudget` (`--memory-budget-mib`).
//! * **Time**: a request head must arrive within [`HEADER_TIMEOUT`] (an
//!   idle keep-alive connection is closed after as long: hyper's timer
//!   runs between requests too); a
//!   WebSocket write that makes no progress for [`WRITE_TIMEOUT`] drops
//!   the client; a silent WebSocket client is pinged after `--ping-after`
//!   seconds (default 20) and dropped after `--keepalive-timeout` more
//!   (default 20).
//!
//! # Who may connect
//! Only the board's own pages may open a WebSocket or vote over HTTP by
//! default (same origin): a page from another site gets 403, so it cannot
//! vote through a visitor's browser. `--allow-origin ORIGIN` (repeatable)
//! lets another site's pages in, `--any-origin` turns the check off, and
//! `--host NAME` (repeatable) refuses other `Host`s with 421. Reading the
//! counts is open to anyone. See `support/access.rs`.
//!
//! # Compression
//! permessage-deflate (RFC 7692) is accepted on `/ws` when a client offers
//! it, with no context takeover in either direction (see
//! `support::deflate_policy`). Counts shorter than 512 bytes (four
//! candidates make about 150) are sent uncompressed. `--no-deflate`
//! declines the extension. HTTP responses are not compressed.

use std::net::SocketAddr;
use std::process;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rfc6455::Config;
use rfc6455::axum::WebSocketUpgrade;
use rfc6455::handshake::OriginPolicy;
use tokio::net::TcpListener;

// Only its deflate policy: the plain HTTP answers are axum's here.
#[allow(dead_code)]
mod support;

#[path = "support/cap.rs"]
mod cap;

#[path = "support/access.rs"]
mod access;
#[path = "support/tls.rs"]
mod tls;

#[path = "vote_server/args.rs"]
mod args;
#[path = "vote_server/board.rs"]
mod board;
#[path = "support/admitted.rs"]
mod conn;
#[path = "vote_server/http.rs"]
mod http;
#[path = "vote_server/limits.rs"]
mod limits;
#[path = "vote_server/sse.rs"]
mod sse;
#[path = "vote_server/ws.rs"]
mod ws;

/// How long a client may take to send a request head (hyper's
/// `header_read_timeout`).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a WebSocket write may make no progress before the client is
/// dropped (`Config::write_timeout`).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A vote is a few bytes; anything much larger is not one (closed with 1009).
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// hyper's buffer per connection, in each direction (its minimum is 8 KiB):
/// a request head must fit, and a slow reader's output waits in it.
pub const MAX_BUF: usize = 16 * 1024;

/// Unsent bytes at most in a socket's send buffer (`TCP_NOTSENT_LOWAT`,
/// Linux): above it the socket is not writable, so the event stream waits
/// and then sends the newest counts instead of queueing every version.
#[cfg(target_os = "linux")]
pub const UNSENT_LOWAT: u32 = 16 * 1024;

/// How long `accept` rests after it failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Messages shorter than this are sent uncompressed; see the module docs.
#[cfg(feature = "deflate")]
const DEFLATE_THRESHOLD: usize = 512;

/// What the routes share.
pub struct App {
    pub settings: args::Settings,
    pub board: board::Board,
    /// The `Host` and `Origin` checks of `/ws`.
    gate: access::Gate,
    /// The same origin policy for `POST /api/vote`.
    pub policy: OriginPolicy,
    /// Every WebSocket connection's settings.
    config: Config,
    pub voters: limits::Voters,
    pub long_polls: limits::Held,
    pub event_streams: limits::Held,
    pub stats: Stats,
    /// TCP connections being served: one clone each.
    connections: Arc<()>,
}

impl App {
    /// TCP connections being served now.
    pub fn connections_open(&self) -> usize {
        Arc::strong_count(&self.connections) - 1
    }
}

/// Counters for `/api/stats`.
#[derive(Default)]
pub struct Stats {
    pub ws: Gauge,
    /// Event streams opened with `Last-Event-ID`.
    pub sse_resumed: AtomicU64,
    /// HTTP requests served (the WebSocket handshakes included).
    pub requests: AtomicU64,
}

/// How many of something are open: [`Gauge::enter`] holds one.
#[derive(Default)]
pub struct Gauge(Arc<AtomicUsize>);

/// One open thing of a [`Gauge`], until dropped.
pub struct Entered(Arc<AtomicUsize>);

impl Gauge {
    pub fn enter(&self) -> Entered {
        self.0.fetch_add(1, Ordering::Relaxed);
        Entered(Arc::clone(&self.0))
    }

    pub fn open(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The WebSocket connections' settings: messages up to
/// [`MAX_MESSAGE_BYTES`], the write timeout, the keepalive of the command
/// line, and permessage-deflate unless `--no-deflate`.
fn ws_config(settings: &args::Settings) -> Config {
    let config = Config::default()
        .max_frame_size(MAX_MESSAGE_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .write_timeout(Some(WRITE_TIMEOUT))
        .keepalive(Some(settings.keepalive))
        .budget(Some(settings.access.budget()));
    #[cfg(feature = "deflate")]
    if settings.deflate {
        return config.deflate(support::deflate_policy().threshold(DEFLATE_THRESHOLD));
    }
    let _ = settings.deflate; // off, or built without the extension: declined
    config
}

fn main() {
    let settings = args::parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("vote_server: cannot start the runtime: {e}");
            process::exit(1);
        });
    runtime.block_on(run(settings));
}

async fn run(settings: args::Settings) {
    let listener = TcpListener::bind(&settings.addr).await.unwrap_or_else(|e| {
        eprintln!("vote_server: cannot listen on {}: {e}", settings.addr);
        process::exit(1);
    });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener
        .local_addr()
        .map_or_else(|_| settings.addr.clone(), |a| a.to_string());
    let (ws, http) = if settings.tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("vote server listening on {ws}://{addr}/ws (page: {http}://{addr}/)");

    let cap = cap::Cap::new(settings.max_connections);
    let app = Arc::new(App {
        board: board::Board::new(settings.candidates.clone()),
        gate: access::Gate::new(&settings.access),
        policy: settings.access.policy(),
        config: ws_config(&settings),
        voters: limits::Voters::new(settings.votes),
        long_polls: limits::Held::new(settings.max_long_polls),
        event_streams: limits::Held::new(settings.max_event_streams),
        stats: Stats::default(),
        connections: Arc::new(()),
        settings,
    });
    let router = router(Arc::clone(&app));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("vote_server: accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(slot) = cap.admit() else {
            // Answered with 503 by a short-lived thread of support/cap.rs.
            if let Ok(std) = tcp.into_std()
                && std.set_nonblocking(false).is_ok()
            {
                cap.refuse(std, peer, "vote_server");
            }
            continue;
        };
        let _ = tcp.set_nodelay(true); // each update at once, no Nagle delay
        // A socket is writable again only once its unsent bytes fell under
        // UNSENT_LOWAT: what waits for a slow reader is then at most that
        // (plus what is in flight, bounded by the reader's window), not the
        // megabytes Linux grows a send buffer to.
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(&tcp).set_tcp_notsent_lowat(UNSENT_LOWAT);
        // The place under the cap and the count of connections served
        // (`/api/stats`) are given back when the socket is dropped.
        let io = conn::Admitted::new(tcp, (slot, Arc::clone(&app.connections)));
        let service = PeerService {
            inner: TowerToHyperService::new(router.clone()),
            peer,
            app: Arc::clone(&app),
        };
        #[cfg(feature = "rustls")]
        if let Some(config) = app.settings.tls.clone() {
            tokio::spawn(async move {
                // The TLS handshake within the request-head deadline; a
                // client that is not TLS gets an alert and is closed.
                let limits = rfc6455::handshake::Limits {
                    timeout: Some(HEADER_TIMEOUT),
                    ..rfc6455::handshake::Limits::default()
                };
                if let Ok((io, _)) = rfc6455::tokio::tls::accept_with(io, &config, &limits).await {
                    serve_http(io, service).await;
                }
            });
            continue;
        }
        tokio::spawn(serve_http(io, service));
    }
}

/// One admitted connection (plain or TLS): HTTP/1.1 with upgrades, each
/// request head within [`HEADER_TIMEOUT`] and [`MAX_BUF`].
async fn serve_http<S>(io: S, service: PeerService)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUF)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// The router's service for one connection: each request gets the peer's
/// address ([`ConnectInfo`], for the per-address vote limit) and is counted.
struct PeerService {
    inner: TowerToHyperService<Router>,
    peer: SocketAddr,
    app: Arc<App>,
}

impl Service<Request<Incoming>> for PeerService {
    type Response = <TowerToHyperService<Router> as Service<Request<Incoming>>>::Response;
    type Error = <TowerToHyperService<Router> as Service<Request<Incoming>>>::Error;
    type Future = <TowerToHyperService<Router> as Service<Request<Incoming>>>::Future;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.app.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.call(request)
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(http::page))
        .route("/ws", get(websocket))
        .route("/events", get(sse::events))
        .route("/api/counts", get(http::counts))
        .route("/api/vote", post(http::vote))
        .route("/api/config", get(http::config))
        .route("/api/stats", get(http::stats))
        .fallback(http::fallback)
        .method_not_allowed_fallback(http::fallback)
        .with_state(app)
}

/// `GET /ws`: the Host (421) and Origin (403) checks, then the upgrade.
async fn websocket(State(app): State<Arc<App>>, upgrade: WebSocketUpgrade) -> Response {
    if let Err(rejection) = app.gate.check(upgrade.request()) {
        let version = upgrade.request().version();
        return rejection
            .to_http(version)
            .map(|()| axum::body::Body::from(format!("{}\n", rejection.error())))
            .into_response();
    }
    let config = app.config.clone();
    upgrade
        .config(config)
        .on_upgrade(move |socket| ws::watch_and_vote(socket, app))
}
