//! An echo server: every text or binary message a client sends comes back
//! to it unchanged, with the same type.
//!
//! ```text
//! cargo run --example echo_server -- --addr 127.0.0.1:9001
//! ```
//!
//! Then open <http://127.0.0.1:9001/> for a page that talks to it, or point
//! any WebSocket client at `ws://127.0.0.1:9001/ws`.
//!
//! One thread per connection, built on the blocking adapter: each thread
//! reads the HTTP request head, serves the page on `GET /`, upgrades
//! WebSocket requests and echoes until the client closes. A client that
//! breaks the protocol gets the close frame with the matching code (the
//! adapter sends it) and only its own thread ends.
//!
//! Timeouts bound what a client can hold: the request head must arrive
//! whole within `--handshake-timeout` seconds (`Limits::timeout`: slowloris
//! is cut off), a client silent for `--ping-after` seconds is pinged and
//! dropped if it then stays silent for `--keepalive-timeout` seconds
//! (`Config::keepalive`, run by the connection's timers inside the adapter's
//! reads), and a close or a protocol error ends with a lingering close of at
//! most [`LINGER`] (`Config::close_timeout`).
//!
//! At most `--max-connections` connections are served at once (default
//! [`DEFAULT_MAX_CONNECTIONS`], lowered to fit the descriptor limit,
//! `ulimit -n`): each costs a thread and a descriptor, and without a cap
//! ~30,000 connections exhaust the machine's process IDs for every process
//! on it; 4,096 threads are an eighth of Linux's traditional `pid_max` of
//! 32,768. Past the cap a new client gets `503 Service Unavailable` (with
//! `Retry-After: 1`) before any upgrade, and the others are served as
//! before.
//!
//! # Who may connect, and memory
//! Only the server's own page may open a WebSocket by default (same origin:
//! another site's page gets 403 before the upgrade, so it cannot use a
//! visitor's session); `--allow-origin ORIGIN` lets another site's pages in,
//! `--any-origin` turns the check off, and `--host NAME` refuses requests
//! addressed to other names (421). All connections share one
//! `MemoryBudget` of `--memory-budget-mib` (default 256) for the messages
//! they buffer; past it a connection is closed with 1013. See
//! `support/access.rs`.
//!
//! # Compression
//! The server accepts permessage-deflate (RFC 7692) whenever a client offers
//! it (browsers, Python `websockets` and Node `ws` all do by default), with
//! no context takeover in either direction: the 101 answers
//! `permessage-deflate; server_no_context_takeover; client_no_context_takeover`.
//! Every message of 16 bytes or more is echoed compressed, each on its own,
//! so a connection holds no zlib state between messages (under 1 KiB,
//! against about 428 KiB per connection with context takeover; see
//! `support::deflate_policy`). `--deflate-context-takeover` keeps the state
//! instead (better compression of similar messages, at that memory cost; for
//! trying out clients), and `--no-deflate` declines the extension. Without
//! the crate's `deflate` feature (on by default) the extension is declined.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use std::{env, process, thread};

use rfc6455::blocking::{self, Error, Transport, WebSocket};
use rfc6455::handshake::Limits;
use rfc6455::{Config, Keepalive, Lost};

mod support;

#[path = "support/cap.rs"]
mod cap;

#[path = "support/access.rs"]
mod access;

#[path = "support/tls.rs"]
mod tls;

/// The page served on `GET /`.
const PAGE: &str = include_str!("echo.html");

/// How long a write may make no progress. A client that stops reading while
/// we echo to it fills its socket buffers; it is dropped instead of holding
/// a thread (`Config::write_timeout`, and the socket's own write timeout for
/// a plain HTTP response).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// After a close or a protocol error, how long the server waits for the
/// client to end the TCP connection (reading and discarding what it still
/// sends) before it drops the socket: the lingering close that keeps the
/// close frame from being destroyed by a reset (`Config::close_timeout`).
/// The echo server never starts a closing handshake itself, so this is all
/// the close timeout bounds here; a second is plenty for a client that is
/// still there, and lets a thread go soon when it is not.
const LINGER: Duration = Duration::from_secs(1);

/// `--max-connections` unless the descriptor limit is lower; see the
/// module docs.
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Descriptors per connection: its socket.
const FDS_PER_CONNECTION: usize = 1;

/// The help text, with the connection cap this machine gets by default.
fn usage() -> String {
    let max = cap::default_max(DEFAULT_MAX_CONNECTIONS, FDS_PER_CONNECTION);
    format!(
        "\
usage: echo_server [--addr HOST:PORT] [--no-deflate | --deflate-context-takeover]
                   [--handshake-timeout SECS] [--ping-after SECS]
                   [--keepalive-timeout SECS] [--max-connections N]
                   [--allow-origin ORIGIN]... [--any-origin] [--host NAME]...
                   [--memory-budget-mib N] [--tls-cert FILE --tls-key FILE]

  --addr HOST:PORT          address to listen on (default 127.0.0.1:9001;
                            port 0 picks a free port, printed at start)
  --no-deflate              decline permessage-deflate (RFC 7692); by default
                            it is accepted when a client offers it, with no
                            context takeover either way (no compression
                            state kept between messages)
  --deflate-context-takeover
                            accept it with context takeover: better
                            compression of similar messages, but about
                            428 KiB per connection once both sides compressed
  --deflate                 the default; accepted for older scripts
  --handshake-timeout SECS  time for the whole request head (default 10)
  --ping-after SECS         ping a client silent this long (default 20)
  --keepalive-timeout SECS  then drop it if it stays silent this long
                            (default 20)
  --max-connections N       connections at once, each costing a thread and
                            a descriptor; past them a new client gets 503
                            before the upgrade (default {DEFAULT_MAX_CONNECTIONS}: far from
                            exhausting the machine's process IDs; lowered
                            to fit `ulimit -n`: {max} here)
{access}
{tls}
  --help                    show this help",
        access = access::USAGE,
        tls = tls::USAGE
    )
}

fn main() {
    let (addr, settings) = parse_args();
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("echo_server: cannot listen on {addr}: {e}");
        process::exit(1);
    });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener.local_addr().map_or(addr, |a| a.to_string());
    let (ws, http) = if settings.tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!("echo server listening on {ws}://{addr}/ws (page: {http}://{addr}/)");

    let settings = Arc::new(settings);
    let cap = cap::Cap::new(settings.max_connections);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. out of file descriptors: wait a little instead of spinning.
                eprintln!("echo_server: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let Some(slot) = cap.admit() else {
            cap.refuse(stream, peer, "echo_server");
            continue;
        };
        // The slot is freed when the thread ends, or here if it cannot start.
        let settings = Arc::clone(&settings);
        let spawned = thread::Builder::new().spawn(move || {
            let _slot = slot;
            if let Err(e) = serve(stream, &settings) {
                log_error(peer, &e);
            }
        });
        if let Err(e) = spawned {
            eprintln!("{peer}: cannot start a thread: {e}");
        }
    }
}

/// The command-line settings.
#[derive(Debug, Clone)]
struct Settings {
    /// Who may connect: `--allow-origin`, `--any-origin`, `--host`.
    gate: access::Gate,
    /// One budget for the message bytes of all connections.
    budget: rfc6455::MemoryBudget,
    deflate: Deflate,
    /// The deadline for the whole request head.
    handshake_timeout: Duration,
    keepalive: Keepalive,
    /// Connections served at once; past them, 503.
    max_connections: usize,
    /// `--tls-cert`/`--tls-key`: HTTPS and wss:// on the same port.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    tls: Option<tls::ServerTls>,
}

/// Serves one connection: the page, a 404, or a WebSocket echoed until it
/// closes; with `--tls-cert`, over TLS.
fn serve(stream: TcpStream, settings: &Settings) -> Result<(), Error> {
    stream.set_nodelay(true)?; // echo each message at once, no Nagle delay
    // The whole head (after the TLS handshake, if any: one deadline for
    // both) must arrive by the handshake deadline, so slow or silent
    // clients hold a thread only that long. A malformed or oversized head
    // is answered (400, 431), then the socket lingers so the client gets to
    // read that.
    let limits = Limits {
        timeout: Some(settings.handshake_timeout),
        ..Limits::default()
    };
    #[cfg(feature = "rustls")]
    if let Some(config) = &settings.tls {
        let (stream, limits) = blocking::tls::accept_with(stream, config, &limits)?;
        return serve_http(stream, &limits, settings);
    }
    serve_http(stream, &limits, settings)
}

/// [`serve`] after TLS (or without): the request head, then the page or the socket.
fn serve_http<S: Transport>(
    mut stream: S,
    limits: &Limits,
    settings: &Settings,
) -> Result<(), Error> {
    let (request, rest) = blocking::read_request(&mut stream, limits)?;

    if request.is_websocket_upgrade() || request.path() == "/ws" {
        // Only pages of this server (or `--allow-origin`) may connect: 403
        // before the upgrade otherwise; 421 for a Host not in `--host`. An idle client may stay connected as long as it answers the
        // keepalive pings (it costs one sleeping thread); a vanished one is
        // dropped. A close or a protocol error ends with a lingering close.
        let config = config(settings);
        let mut ws = WebSocket::upgrade(stream, request, &rest, config, |upgrade| {
            settings.gate.check(upgrade)?;
            Ok(None)
        })?;
        return echo(&mut ws);
    }

    // `read_request` leaves the socket without timeouts: bound the response.
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.write_all(&support::plain_http(request.method(), request.path(), PAGE))?;
    stream.flush()?;
    Ok(())
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

/// The connection settings: the keepalive of the command line, the write
/// timeout and the lingering close, plus permessage-deflate (RFC 7692) as
/// `--no-deflate` / `--deflate-context-takeover` say.
fn config(settings: &Settings) -> Config {
    let config = Config::default()
        .keepalive(Some(settings.keepalive))
        .write_timeout(Some(WRITE_TIMEOUT))
        .close_timeout(LINGER)
        .budget(Some(settings.budget.clone()));
    with_deflate(config, settings.deflate)
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

/// Sends every message back as it came, until the client closes. `Ok` once
/// the close handshake is complete (and the lingering close done);
/// dropping the socket then ends TCP.
fn echo<S: Transport>(ws: &mut WebSocket<S>) -> Result<(), Error> {
    while let Some(message) = ws.read()? {
        ws.send(&message)?;
    }
    Ok(())
}

/// One line on stderr per failed connection.
fn log_error(peer: SocketAddr, error: &Error) {
    match error {
        // The adapter already sent the close frame with this code.
        Error::Protocol(e) => eprintln!("{peer}: {error}; closed with {}", e.close_code()),
        Error::HandshakeTimeout => eprintln!("{peer}: handshake timed out"),
        // A close frame with 1001 (going away) was tried.
        Error::Lost(Lost::KeepaliveTimeout) => eprintln!("{peer}: keepalive timed out"),
        Error::Lost(Lost::WriteTimeout) => eprintln!("{peer}: write timed out"),
        // The write timeout of a plain HTTP response, set in `serve`.
        Error::Io(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            eprintln!("{peer}: timed out");
        }
        _ => eprintln!("{peer}: {error}"),
    }
}

/// The address to listen on, from `--addr HOST:PORT` or `--addr=HOST:PORT`,
/// the permessage-deflate policy, the handshake deadline and the keepalive.
fn parse_args() -> (String, Settings) {
    let mut addr = String::from("127.0.0.1:9001");
    let mut deflate = Deflate::NoContextTakeover;
    let mut handshake_timeout = Limits::default().timeout.unwrap_or(Duration::from_secs(10));
    let mut keepalive = Keepalive::default();
    let mut max_connections = cap::default_max(DEFAULT_MAX_CONNECTIONS, FDS_PER_CONNECTION);
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
                println!("{}", usage());
                process::exit(0);
            }
            "--no-deflate" => deflate = Deflate::Off,
            "--deflate-context-takeover" => deflate = Deflate::ContextTakeover,
            "--deflate" => {} // once needed to turn compression on; now the default
            "--handshake-timeout" => handshake_timeout = seconds(&arg, args.next()),
            "--ping-after" => keepalive.ping_after = seconds(&arg, args.next()),
            "--keepalive-timeout" => keepalive.timeout = seconds(&arg, args.next()),
            "--max-connections" => max_connections = positive(&arg, args.next()),
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
    let settings = Settings {
        gate: access::Gate::new(&access),
        budget: access.budget(),
        deflate,
        handshake_timeout,
        keepalive,
        max_connections,
        tls: tls::server_config(&tls_flags).unwrap_or_else(|e| usage_error(&e)),
    };
    (addr, settings)
}

/// The value of `flag`: a positive number of seconds.
fn seconds(flag: &str, value: Option<String>) -> Duration {
    match value.as_deref().map(str::parse::<f64>) {
        Some(Ok(n)) if n > 0.0 && n.is_finite() => Duration::from_secs_f64(n),
        _ => usage_error(&format!("{flag} needs a positive number of seconds")),
    }
}

/// The value of `flag`: a positive whole number.
fn positive(flag: &str, value: Option<String>) -> usize {
    match value.as_deref().map(str::parse::<usize>) {
        Some(Ok(n)) if n > 0 => n,
        _ => usage_error(&format!("{flag} needs a positive whole number")),
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("echo_server: {message}\n\n{}", usage());
    process::exit(2);
}
