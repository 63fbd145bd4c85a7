//! The command line: every flag, its default and the reason for it (the
//! help text says the same).

use std::time::Duration;
use std::{env, process};

use rfc6455::Keepalive;

use crate::cap;
use crate::limits::VoteLimit;
use crate::{access, tls};

/// Votes (messages) a WebSocket connection, or an HTTP client address, may
/// send per second, sustained...
pub const VOTE_RATE: f64 = 10.0;

/// ... and at once, after a pause.
pub const VOTE_BURST: u32 = 20;

/// `--max-connections` unless the descriptor limit is lower.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;

/// Descriptors per connection (one socket, owned by one task).
pub const FDS_PER_CONNECTION: usize = 1;

/// `--poll-interval`: how often the page asks in short-polling mode (ms).
pub const POLL_INTERVAL_MS: u64 = 2000;

/// `--long-poll-timeout`: how long a long poll is held at most (s).
pub const LONG_POLL_TIMEOUT_SECS: f64 = 30.0;

/// `--max-long-polls`, `--max-event-streams`: requests of each kind held at
/// once (together 1,536 of the 2,048 connections, leaving 512 for
/// WebSockets, page loads and short polls).
pub const MAX_LONG_POLLS: usize = 768;
pub const MAX_EVENT_STREAMS: usize = 768;

/// `--sse-keepalive`: a comment line on an idle event stream this often (s).
pub const SSE_KEEPALIVE_SECS: f64 = 15.0;

/// `--sse-retry`: the reconnection delay the stream's `retry:` field sets (ms).
pub const SSE_RETRY_MS: u64 = 2000;

/// `--sse-lifetime`: an event stream ends after this long (s); the page's
/// `EventSource` reconnects by itself with `Last-Event-ID`.
pub const SSE_LIFETIME_SECS: f64 = 600.0;

const DEFAULT_CANDIDATES: &str = "Rust,Go,Zig,C++";

/// The command-line settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: String,
    /// `--allow-origin`, `--any-origin`, `--host`, `--memory-budget-mib`.
    pub access: access::Access,
    pub candidates: Vec<String>,
    pub deflate: bool,
    pub max_connections: usize,
    pub votes: VoteLimit,
    pub keepalive: Keepalive,
    pub poll_interval: Duration,
    pub long_poll_timeout: Duration,
    pub max_long_polls: usize,
    pub max_event_streams: usize,
    pub sse_keepalive: Duration,
    pub sse_retry: Duration,
    pub sse_lifetime: Duration,
    /// `--tls-cert`/`--tls-key`: HTTPS and wss:// on the same port.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub tls: Option<tls::ServerTls>,
}

/// The help text, with the connection cap this machine gets by default.
pub fn usage() -> String {
    let max = cap::default_max(DEFAULT_MAX_CONNECTIONS, FDS_PER_CONNECTION);
    format!(
        "\
usage: vote_server [--addr HOST:PORT] [--candidates A,B,C] [--no-deflate]
                   [--max-connections N] [--vote-rate N] [--vote-burst N]
                   [--ping-after SECS] [--keepalive-timeout SECS]
                   [--poll-interval MS] [--long-poll-timeout SECS]
                   [--max-long-polls N] [--max-event-streams N]
                   [--sse-keepalive SECS] [--sse-retry MS] [--sse-lifetime SECS]
                   [--allow-origin ORIGIN]... [--any-origin] [--host NAME]...
                   [--memory-budget-mib N]

  --addr HOST:PORT         address to listen on (default 127.0.0.1:9003;
                           port 0 picks a free port, printed at start)
  --candidates LIST        comma-separated candidates (default Rust,Go,Zig,C++)
  --no-deflate             decline permessage-deflate (RFC 7692) on /ws; by
                           default it is accepted when a client offers it,
                           with no context takeover either way
  --max-connections N      TCP connections at once, of any kind (WebSocket,
                           long poll, event stream, page, short poll), each
                           costing {FDS_PER_CONNECTION} descriptor; past them a new client gets
                           503 before anything is read (default {DEFAULT_MAX_CONNECTIONS},
                           lowered to fit `ulimit -n`: {max} here)
  --vote-rate N            votes a WebSocket connection, or an HTTP client
                           address (IPv6: its /64), may send per second;
                           excess ones are refused and not counted (an
                           error message on /ws, 429 on /api/vote)
                           (default {VOTE_RATE})
  --vote-burst N           votes either may send at once (default {VOTE_BURST})
  --ping-after SECS        ping a silent WebSocket client after this long
                           (default 20)
  --keepalive-timeout SECS then drop it if it stays silent this long
                           (default 20)
  --poll-interval MS       how often the page polls /api/counts with
                           ?transport=poll (default {POLL_INTERVAL_MS})
  --long-poll-timeout SECS how long GET /api/counts?since=N is held when
                           nothing changes; then 204 No Content (default 30)
  --max-long-polls N       long polls held at once; past them 503 with
                           Retry-After (default {MAX_LONG_POLLS})
  --max-event-streams N    GET /events streams open at once; past them 503
                           with Retry-After (default {MAX_EVENT_STREAMS})
  --sse-keepalive SECS     a comment line on an idle event stream this often,
                           so proxies keep it and a dead client is found by
                           the failing write (default 15)
  --sse-retry MS           the stream's retry: field, the browser's delay
                           before it reconnects (default {SSE_RETRY_MS})
  --sse-lifetime SECS      an event stream ends after this long; the browser
                           reconnects with Last-Event-ID (default 600)
{access}
{tls}
  --help                   show this help

Fixed bounds: a request head within 10 s (else closed) and 16 KiB (431), a vote body
4 KiB (413), a WebSocket message 4 KiB (1009), a WebSocket write stuck 10 s
drops the client, one WebSocket batch in flight until its ping is answered
(or 1 s), at most 16 error answers waiting per WebSocket client, 16 KiB of
unsent bytes per socket (TCP_NOTSENT_LOWAT), 16,384 HTTP voters' buckets.",
        access = access::USAGE,
        tls = tls::USAGE,
    )
}

/// The settings from the command line: `--flag VALUE` or `--flag=VALUE`.
pub fn parse_args() -> Settings {
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
    let mut tls_flags = tls::Flags::default();
    let mut poll_interval = Duration::from_millis(POLL_INTERVAL_MS);
    let mut long_poll_timeout = Duration::from_secs_f64(LONG_POLL_TIMEOUT_SECS);
    let mut max_long_polls = MAX_LONG_POLLS;
    let mut max_event_streams = MAX_EVENT_STREAMS;
    let mut sse_keepalive = Duration::from_secs_f64(SSE_KEEPALIVE_SECS);
    let mut sse_retry = Duration::from_millis(SSE_RETRY_MS);
    let mut sse_lifetime = Duration::from_secs_f64(SSE_LIFETIME_SECS);
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
        match tls_flags.parse(&flag, || inline.take().or_else(|| args.next())) {
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
            "--poll-interval" => poll_interval = Duration::from_millis(positive(&flag, &value)),
            "--long-poll-timeout" => long_poll_timeout = seconds(&flag, &value),
            "--max-long-polls" => max_long_polls = positive(&flag, &value),
            "--max-event-streams" => max_event_streams = positive(&flag, &value),
            "--sse-keepalive" => sse_keepalive = seconds(&flag, &value),
            "--sse-retry" => sse_retry = Duration::from_millis(positive(&flag, &value)),
            "--sse-lifetime" => sse_lifetime = seconds(&flag, &value),
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
        tls: tls::server_config(&tls_flags).unwrap_or_else(|e| usage_error(&e)),
        addr,
        access,
        candidates: names,
        deflate,
        max_connections: max_connections
            .unwrap_or_else(|| cap::default_max(DEFAULT_MAX_CONNECTIONS, FDS_PER_CONNECTION)),
        votes,
        keepalive,
        poll_interval,
        long_poll_timeout,
        max_long_polls,
        max_event_streams,
        sse_keepalive,
        sse_retry,
        sse_lifetime,
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
