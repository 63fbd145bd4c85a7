//! The echo server of `echo_server.rs` on tokio's multi-threaded runtime
//! and the async adapter (`rfc6455::tokio`, feature `tokio`): one task per
//! connection, no thread of its own.
//!
//! ```text
//! cargo run --release --features tokio --example tokio_echo_server -- --addr 127.0.0.1:9005
//! ```
//!
//! Then open <http://127.0.0.1:9005/> for the same page as `echo_server`
//! (`echo.html`), or point any WebSocket client at `ws://127.0.0.1:9005/ws`.
//! Like `echo_server`: `GET /` serves the page, another path is 404, a
//! WebSocket handshake (on `/ws`, or an upgrade request on any path) is
//! validated (400, 426, ... with the handshake's own response when it is
//! not one) and then every text or binary message comes back unchanged,
//! with its type. permessage-deflate (RFC 7692) is accepted with no context
//! takeover either way (`support::deflate_policy`), with context takeover
//! under `--deflate-context-takeover`, and declined under `--no-deflate`.
//!
//! # What runs where
//! * **Accept loop** (the main task): admits a connection into one of
//!   `--max-connections` slots and spawns its task, or answers `503`, and
//!   waits for a shutdown signal.
//! * **Connection task** (one `tokio::spawn` each): the request head with
//!   [`read_request`] (within `--handshake-timeout`: slowloris is cut off),
//!   then the page or a 404, or [`WebSocket::upgrade`], which spawns the
//!   connection's driver; then the echo: `recv`, `send`, until the end.
//! * **Driver task** (spawned by the adapter): owns the socket and runs the
//!   core: reads, writes, automatic pongs, close replies, keepalive pings,
//!   the keepalive, close and write timeouts. Nothing here decides any of
//!   that: it is all [`Config`], handed to the connection.
//!
//! # Bounds
//! * **Who may connect**: only the server's own page (same origin; a page
//!   from another site gets 403 before the upgrade), widened by
//!   `--allow-origin ORIGIN` (repeatable), off with `--any-origin`; with
//!   `--host NAME` (repeatable) other `Host`s get 421. A client without
//!   `Origin` (not a browser) is accepted.
//! * **Message memory**: every connection's `Config` shares one
//!   `MemoryBudget` of `--memory-budget-mib` (default 256) for the message
//!   bytes they buffer together; past it a connection is closed with 1013.
//!   See `support/access.rs` for how to choose it.
//! * **Connections**: `--max-connections` (default 10,000) connections in
//!   their handshake or open, each holding its slot until its socket is
//!   dropped. Past it a new one is answered `503` at once (before any
//!   upgrade) by at most [`OVERFLOW`] more tasks; past those it is closed
//!   without an answer. The operating system's limit on open files must be
//!   above `--max-connections` (+ [`OVERFLOW`] + a few); when `accept`
//!   fails (out of descriptors) the loop retries it after
//!   [`ACCEPT_BACKOFF`] rather than spinning.
//! * **Request head**: [`Limits`]' defaults (8 KiB, 64 header fields; 431
//!   past them) and `--handshake-timeout` for the whole head.
//! * **HTTP answers** (page, 404, 503): written within [`WRITE_TIMEOUT`],
//!   then the write half is shut and input discarded for at most
//!   [`LINGER`] and [`LINGER_BYTES`], so the client reads the answer rather
//!   than a reset.
//! * **Each WebSocket connection**: as `echo_server`: [`Config`]'s limits,
//!   a peer that stops reading dropped after [`WRITE_TIMEOUT`] of stalled
//!   output, a lingering close of at most [`LINGER`], keepalive from
//!   `--ping-after` and `--keepalive-timeout` (default 20 s each). The
//!   adapter bounds queued output and unread events by the connection's
//!   high-water marks (64 KiB each).
//!
//! # Graceful shutdown
//! On SIGINT (Ctrl-C) or SIGTERM the server stops accepting, starts the
//! close handshake with 1001 (going away) on every open WebSocket
//! connection ([`Tracker::close_all`]), waits until they have all ended or
//! `--shutdown-timeout` passed, and exits 0. A second signal meanwhile
//! exits at once (status 1). Connections still in their handshake or
//! an HTTP answer are dropped at exit.
//!
//! # Memory
//! An idle connection holds two tasks (its connection task and its
//! driver), the adapter's shared state with the `Connection`, the socket's
//! registration with tokio, a read buffer and a timer: about 3.9 KB of
//! resident memory, 4.2 KB with permessage-deflate agreed, measured with
//! 10,000 of them by `tests/tokio_echo.rs` (which itemises them). The
//! handshake runs boxed, so its buffers (2.7 KB) are not kept in every
//! connection's task.
//!
//! tests/echo_server.rs, tests/interop.rs, tests/deflate_interop.rs,
//! tests/browser.rs and tests/autobahn.rs run against this server as
//! against `echo_server`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use std::{env, process};

use rfc6455::handshake::{Limits, http_response};
use rfc6455::tokio::{Error, Tracker, WebSocket, read_request};
use rfc6455::{CloseCode, Config, Keepalive, Lost, UsageError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

mod support;

#[path = "support/access.rs"]
mod access;

#[path = "support/tls.rs"]
mod tls;

/// The page served on `GET /`: the same file as `echo_server`'s.
const PAGE: &str = include_str!("echo.html");

/// How long a write may make no progress: a client that stops reading is
/// dropped (`Config::write_timeout`, and the bound of a plain HTTP answer).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The lingering close after a close or a protocol error
/// (`Config::close_timeout`), and after an HTTP answer: how long input is
/// discarded, waiting for the client to end the TCP connection.
const LINGER: Duration = Duration::from_secs(1);

/// After an HTTP answer, at most this much input is discarded.
const LINGER_BYTES: usize = 64 * 1024;

/// Tasks beyond `--max-connections` that answer `503` to the excess.
const OVERFLOW: usize = 64;

/// How long `accept` rests after it failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const USAGE: &str = "\
usage: tokio_echo_server [--addr HOST:PORT] [--no-deflate | --deflate-context-takeover]
                         [--max-connections N] [--handshake-timeout SECS]
                         [--ping-after SECS] [--keepalive-timeout SECS]
                         [--shutdown-timeout SECS] [--worker-threads N]
                         [--allow-origin ORIGIN]... [--any-origin] [--host NAME]...
                         [--memory-budget-mib N] [--tls-cert FILE --tls-key FILE]

  --addr HOST:PORT          address to listen on (default 127.0.0.1:9005;
                            port 0 picks a free port, printed at start)
  --no-deflate              decline permessage-deflate (RFC 7692); by default
                            it is accepted when a client offers it, with no
                            context takeover either way (no compression
                            state kept between messages)
  --deflate-context-takeover
                            accept it with context takeover: better
                            compression of similar messages, but about
                            428 KiB per connection once both sides compressed
  --max-connections N       connections served at once (default 10000);
                            past it a new one is answered 503
  --handshake-timeout SECS  time for the whole request head (default 10)
  --ping-after SECS         ping a client silent this long (default 20)
  --keepalive-timeout SECS  then drop it with 1001 if it stays silent this
                            long (default 20)
  --shutdown-timeout SECS   on SIGINT or SIGTERM, how long to wait for the
                            connections closed with 1001 (default 5)
  --worker-threads N        tokio worker threads (default: one per core)
  --help                    show this help

tokio's multi-threaded runtime; a task per connection on rfc6455::tokio.";

fn main() {
    let options = parse_args();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = options.worker_threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.build().unwrap_or_else(|e| {
        eprintln!("tokio_echo_server: cannot start the runtime: {e}");
        process::exit(1);
    });
    let status = runtime.block_on(run(options));
    // Tasks still in a handshake or an HTTP answer are dropped, not awaited.
    runtime.shutdown_background();
    process::exit(status);
}

/// What every connection task shares.
struct Server {
    /// The settings of every WebSocket connection.
    config: Config,
    /// Who may connect: `--allow-origin`, `--any-origin`, `--host`.
    gate: access::Gate,
    limits: Limits,
    /// `--tls-cert`/`--tls-key`: HTTPS and wss:// on the same port.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    tls: Option<tls::ServerTls>,
    /// One permit per connection in its handshake or open.
    slots: Arc<Semaphore>,
    /// One permit per `503` being answered.
    overflow: Arc<Semaphore>,
    /// The open WebSocket connections, to close them at shutdown.
    tracker: Tracker,
}

/// Accepts until a shutdown signal, then closes every connection with 1001.
async fn run(options: Options) -> i32 {
    // Before the first line: a signal sent as soon as it is printed is
    // already ours, not the default "terminate at once".
    let mut signals = Signals::new().unwrap_or_else(|e| {
        eprintln!("tokio_echo_server: cannot listen for signals: {e}");
        process::exit(1);
    });
    let listener = TcpListener::bind(&options.addr).await.unwrap_or_else(|e| {
        eprintln!("tokio_echo_server: cannot listen on {}: {e}", options.addr);
        process::exit(1);
    });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener
        .local_addr()
        .map_or_else(|_| options.addr.clone(), |a| a.to_string());
    let (ws, http) = if options.tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("tokio echo server listening on {ws}://{addr}/ws (page: {http}://{addr}/)");

    let server = Arc::new(Server {
        config: options.config,
        gate: options.gate,
        limits: options.limits,
        tls: options.tls,
        slots: Arc::new(Semaphore::new(options.max_connections)),
        overflow: Arc::new(Semaphore::new(OVERFLOW)),
        tracker: Tracker::new(),
    });
    let signal = loop {
        tokio::select! {
            signal = signals.recv() => break signal,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(&server, stream, peer),
                Err(e) => {
                    // E.g. out of file descriptors: the pending connections
                    // wait in the backlog meanwhile.
                    eprintln!("tokio_echo_server: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    };
    drop(listener);

    let open = server.tracker.open();
    println!("{signal}: closing {open} connections with 1001 (going away)");
    let closing = server.tracker.close_all(
        CloseCode::GOING_AWAY,
        "server shutting down",
        options.shutdown_timeout,
    );
    tokio::select! {
        left = closing => {
            println!("shut down: {} of {open} connections closed, {left} left", open - left);
            0
        }
        signal = signals.recv() => {
            println!("{signal} again: exiting now");
            1
        }
    }
}

/// SIGINT and SIGTERM (Ctrl-C alone where there are no Unix signals).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
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

/// Gives a new connection its task: a slot and the handshake, or a `503`.
fn admit(server: &Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    // Echo each message at once, no Nagle delay.
    let _ = stream.set_nodelay(true);
    if let Ok(slot) = Arc::clone(&server.slots).try_acquire_owned() {
        tokio::spawn(connection(stream, peer, Arc::clone(server), slot));
    } else if let Ok(slot) = Arc::clone(&server.overflow).try_acquire_owned() {
        tokio::spawn(async move {
            let fields = [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Retry-After", "1"),
                ("Connection", "close"),
            ];
            let busy = http_response(503, &fields, b"too many connections, try again later\n");
            answer(stream, &busy).await;
            drop(slot);
        });
    }
    // Else dropped: closed without an answer.
}

/// One connection, from its request head to the end of its driver; its
/// slot is given back when this returns.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    server: Arc<Server>,
    _slot: OwnedSemaphorePermit,
) {
    // Boxed, so that the handshake's buffers live only while it runs, not
    // in the task of every idle connection.
    let mut ws = match Box::pin(handshake(stream, &server)).await {
        Ok(Some(ws)) => ws,
        Ok(None) => return, // answered over plain HTTP
        Err(e) => return log_error(peer, &e),
    };
    server.tracker.track(&ws);
    if let Err(e) = echo(&mut ws).await {
        log_error(peer, &e);
    }
    // The connection is closed or failed; its driver finishes the
    // lingering close (bounded by the close and write timeouts). `close`
    // starts nothing on a connection that is no longer open: it waits for
    // the driver, so that the slot is held until the socket is dropped.
    let _ = ws.close(CloseCode::NORMAL, "").await;
}

/// Reads the request head and answers it: the page, a 404, or the `101`
/// (`Ok(Some)`, the WebSocket with its driver running). A request the
/// handshake refuses was answered (400, 426, 431, ...) when this fails.
async fn handshake(stream: TcpStream, server: &Server) -> Result<Option<WebSocket>, Error> {
    // With `--tls-cert`: TLS first, and the request head in the time left
    // (one deadline for both).
    #[cfg(feature = "rustls")]
    if let Some(config) = &server.tls {
        let (stream, limits) =
            rfc6455::tokio::tls::accept_with(stream, config, &server.limits).await?;
        return http(stream, &limits, server).await;
    }
    http(stream, &server.limits, server).await
}

/// [`handshake`] after TLS (or without): the request head, then the page or the socket.
async fn http<S>(
    mut stream: S,
    limits: &Limits,
    server: &Server,
) -> Result<Option<WebSocket>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (request, rest) = read_request(&mut stream, limits).await?;
    if request.is_websocket_upgrade() || request.path() == "/ws" {
        // Only this server's pages (or `--allow-origin`): 403 before the
        // upgrade otherwise; 421 for a Host not in `--host`.
        let config = server.config.clone();
        let ws = WebSocket::upgrade(stream, request, &rest, config, |upgrade| {
            server.gate.check(upgrade)?;
            Ok(None)
        })
        .await?;
        return Ok(Some(ws));
    }
    let page = support::plain_http(request.method(), request.path(), PAGE);
    answer(stream, &page).await;
    Ok(None)
}

/// Sends every message back as it came, until the client closes (`Ok`,
/// the close handshake complete) or the connection fails.
async fn echo(ws: &mut WebSocket) -> Result<(), Error> {
    while let Some(message) = ws.recv().await? {
        match ws.send(message).await {
            Ok(()) => {}
            // The driver reads ahead: the peer's close, behind this
            // message, was received (and answered) before the echo could
            // be queued. What is left to receive ends the loop.
            Err(Error::Usage(UsageError::Closed)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes a plain HTTP answer, shuts the write half, and discards input
/// for a while so that the client reads the answer rather than a reset.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, response: &[u8]) {
    let written = timeout(WRITE_TIMEOUT, async {
        stream.write_all(response).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let _ = timeout(LINGER, async {
        let mut discarded = 0;
        let mut buf = [0u8; 1024];
        while discarded < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}

/// One line on stderr per failed connection.
fn log_error(peer: SocketAddr, error: &Error) {
    match error {
        // The driver sends (or has sent) the close frame with this code.
        Error::Protocol(e) => eprintln!("{peer}: {error}; closed with {}", e.close_code()),
        Error::HandshakeTimeout => eprintln!("{peer}: handshake timed out"),
        // A close frame with 1001 (going away) was tried.
        Error::Lost(Lost::KeepaliveTimeout) => eprintln!("{peer}: keepalive timed out"),
        Error::Lost(Lost::WriteTimeout) => eprintln!("{peer}: write timed out"),
        _ => eprintln!("{peer}: {error}"),
    }
}

// ---- options -----------------------------------------------------------------------

struct Options {
    addr: String,
    /// Every connection's settings: keepalive from the flags, the write
    /// timeout, the lingering close, permessage-deflate as the flags say.
    config: Config,
    gate: access::Gate,
    limits: Limits,
    max_connections: usize,
    shutdown_timeout: Duration,
    worker_threads: Option<usize>,
    /// `--tls-cert`/`--tls-key`.
    tls: Option<tls::ServerTls>,
}

/// Whether and how permessage-deflate is accepted when a client offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deflate {
    /// `--no-deflate`: declined.
    Off,
    /// The default: accepted with no context takeover either way.
    NoContextTakeover,
    /// `--deflate-context-takeover`: accepted with the RFC's defaults.
    ContextTakeover,
}

fn parse_args() -> Options {
    let mut addr = String::from("127.0.0.1:9005");
    let mut deflate = Deflate::NoContextTakeover;
    let mut max_connections = 10_000;
    let mut limits = Limits::default();
    let mut keepalive = Keepalive::default();
    let mut shutdown_timeout = Duration::from_secs(5);
    let mut worker_threads = None;
    let mut access = access::Access::default();
    let mut tls_flags = tls::Flags::default();
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match access.parse(&arg, || args.next()) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(message) => usage_error(&message),
        }
        match tls_flags.parse(&arg, || args.next()) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(message) => usage_error(&message),
        }
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}\n{}\n{}", access::USAGE, tls::USAGE);
                process::exit(0);
            }
            "--no-deflate" => deflate = Deflate::Off,
            "--deflate-context-takeover" => deflate = Deflate::ContextTakeover,
            "--max-connections" => max_connections = count(&arg, args.next()),
            "--worker-threads" => worker_threads = Some(count(&arg, args.next())),
            "--handshake-timeout" => limits.timeout = Some(seconds(&arg, args.next())),
            "--ping-after" => keepalive.ping_after = seconds(&arg, args.next()),
            "--keepalive-timeout" => keepalive.timeout = seconds(&arg, args.next()),
            "--shutdown-timeout" => shutdown_timeout = seconds(&arg, args.next()),
            "--addr" => match args.next() {
                Some(value) => addr = value,
                None => usage_error("--addr needs a value"),
            },
            _ => match arg.strip_prefix("--addr=") {
                Some(value) => addr = value.to_string(),
                None => usage_error(&format!("unknown argument {arg:?}")),
            },
        }
    }
    let config = Config::default()
        .keepalive(Some(keepalive))
        .write_timeout(Some(WRITE_TIMEOUT))
        .close_timeout(LINGER)
        // One budget for the message bytes of every connection together.
        .budget(Some(access.budget()));
    Options {
        addr,
        config: with_deflate(config, deflate),
        gate: access::Gate::new(&access),
        limits,
        max_connections,
        shutdown_timeout,
        worker_threads,
        tls: tls::server_config(&tls_flags).unwrap_or_else(|e| usage_error(&e)),
    }
}

#[cfg(feature = "deflate")]
fn with_deflate(config: Config, deflate: Deflate) -> Config {
    match deflate {
        Deflate::Off => config,
        Deflate::NoContextTakeover => config.deflate(support::deflate_policy()),
        Deflate::ContextTakeover => config.deflate(rfc6455::deflate::DeflateConfig::default()),
    }
}

/// Without the `deflate` feature the extension is always declined.
#[cfg(not(feature = "deflate"))]
fn with_deflate(config: Config, _: Deflate) -> Config {
    config
}

/// The value of `flag`: a positive whole number.
fn count(flag: &str, value: Option<String>) -> usize {
    match value.map(|n| n.parse::<usize>()) {
        Some(Ok(n)) if n > 0 => n,
        _ => usage_error(&format!("{flag} needs a positive number")),
    }
}

/// The value of `flag`: a positive number of seconds.
fn seconds(flag: &str, value: Option<String>) -> Duration {
    match value.as_deref().map(str::parse::<f64>) {
        Some(Ok(n)) if n > 0.0 && n.is_finite() => Duration::from_secs_f64(n),
        _ => usage_error(&format!("{flag} needs a positive number of seconds")),
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("tokio_echo_server: {message}\n\n{USAGE}\n{}", access::USAGE);
    process::exit(2);
}
