//! The command line: every bound and default, in `--help`.

use std::time::Duration;
use std::{env, process};

use rfc6455::{Config, Keepalive};

use crate::cluster::Timing;
use crate::{access, tls};

/// How long a client closed by the server may take to answer the close,
/// and the lingering close after one (`Config::close_timeout`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may make no progress before the member is dropped as
/// too slow (`Config::write_timeout`).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest message a client may send (larger: closed with 1009).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub const USAGE: &str = "\
usage: axum_chat [--addr HOST:PORT] [--queue N] [--queue-bytes N] [--ping-interval SECS]
                 [--idle-timeout SECS] [--handshake-timeout SECS] [--no-deflate]
                 [--max-connections N] [--connect-burst N] [--connect-rate PER_SEC]
                 [--line-burst N] [--line-rate PER_SEC] [--flood-limit N]
                 [--shutdown-timeout SECS] [--history N] [--poll-timeout SECS]
                 [--server-name NAME] [--redis redis://HOST:PORT/ [--heartbeat SECS]
                 [--presence-ttl SECS] [--redis-timeout SECS] [--redis-backoff SECS]]

  --addr HOST:PORT      address to listen on (default 127.0.0.1:9006;
                        port 0 picks a free port, printed at start)
  --queue N             messages that may wait for one slow member before
                        it is closed with 1013 (default 1024)
  --queue-bytes N       and bytes (default 1048576, 1 MiB, Centrifugo's
                        and uWebSockets.js' order of magnitude)
  --ping-interval SECS  how often to ping each client (default 15)
  --idle-timeout SECS   drop a client that sent nothing, not even a pong,
                        for this long (default 45)
  --handshake-timeout SECS
                        time for a request head (default 10)
  --no-deflate          decline permessage-deflate (RFC 7692); by default
                        it is accepted when a client offers it, with no
                        context takeover either way
  --max-connections N   TCP connections served at a time (default 1000;
                        SSE streams and held polls count too); past it a
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
  --shutdown-timeout SECS
                        on SIGINT or SIGTERM, how long to wait for the
                        members closed with 1001 (default 5)
  --history N           room events kept for /chat/stream (Last-Event-ID)
                        and /chat/poll?since=ID (default 256); a reader
                        further behind is told so and resynchronised
  --poll-timeout SECS   how long /chat/poll holds a request with nothing
                        new before answering an empty list (default 30)
  --server-name NAME    the name of this process shown to its users
                        (default: the address it listens on)
  --redis URL           one chat across every process given the same Redis
                        (redis://HOST:PORT/): the room's order is Redis'
                        publish order, presence lives in Redis;
                        at-most-once (nothing is replayed after an outage)
  --heartbeat SECS      with --redis: how often this process says it is
                        alive and looks for dead ones (default 2)
  --presence-ttl SECS   with --redis: how long a process is taken for alive
                        after its last heartbeat (default 6); the members
                        of a killed process are announced as gone within
                        presence-ttl + heartbeat (default 8 s)
  --redis-timeout SECS  with --redis: the longest wait for Redis (default 2)
  --redis-backoff SECS  with --redis: the longest pause between reconnection
                        attempts (from 0.1 s, doubling; default 2)
  --help                show this help

An axum Router (GET /, GET /ws, GET /health, and the HTTP chat: GET
/chat/login, POST /chat/login, POST /chat/post, GET /chat/stream, GET
/chat/poll) on tokio's multi-threaded runtime.";

/// The command-line settings.
#[derive(Clone)]
pub struct Settings {
    pub addr: String,
    pub queue: usize,
    pub queue_bytes: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub handshake_timeout: Duration,
    pub deflate: bool,
    pub max_connections: usize,
    pub connect_burst: usize,
    pub connect_rate: f64,
    pub line_burst: usize,
    pub line_rate: f64,
    pub flood_limit: usize,
    pub shutdown_timeout: Duration,
    pub history: usize,
    pub poll_timeout: Duration,
    pub server_name: Option<String>,
    pub redis: Option<String>,
    pub timing: Timing,
    /// `--allow-origin`, `--any-origin`, `--host`, `--memory-budget-mib`.
    pub access: access::Access,
    /// `--tls-cert`/`--tls-key`: HTTPS and wss:// on the same port.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub tls: Option<tls::ServerTls>,
}

impl Settings {
    /// Every member's connection settings (as `chat_server`'s).
    pub fn config(&self) -> Config {
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
            return config
                .deflate(crate::support::deflate_policy().threshold(crate::DEFLATE_THRESHOLD));
        }
        config
    }
}

pub fn parse_args() -> Settings {
    let mut settings = Settings {
        addr: String::from("127.0.0.1:9006"),
        queue: 1024,
        queue_bytes: 1024 * 1024,
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
        history: 256,
        poll_timeout: Duration::from_secs(30),
        server_name: None,
        redis: None,
        timing: Timing {
            heartbeat: Duration::from_secs(2),
            ttl: Duration::from_secs(6),
            timeout: Duration::from_secs(2),
            backoff: Duration::from_secs(2),
        },
        access: access::Access::default(),
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
        let mut inline_value = inline.clone();
        match settings
            .access
            .parse(&flag, || inline_value.take().or_else(|| args.next()))
        {
            Ok(true) => continue,
            Ok(false) => {}
            Err(message) => usage_error(&message),
        }
        match tls_flags.parse(&flag, || inline_value.take().or_else(|| args.next())) {
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
            "--queue-bytes" => settings.queue_bytes = count(&flag, &value),
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
            "--history" => settings.history = count(&flag, &value),
            "--poll-timeout" => settings.poll_timeout = seconds(&flag, &value),
            "--server-name" => settings.server_name = Some(value),
            "--redis" => {
                if !value.starts_with("redis://") {
                    usage_error(&format!(
                        "--redis needs a redis://HOST:PORT/ URL, not {value:?}"
                    ));
                }
                settings.redis = Some(value)
            }
            "--heartbeat" => settings.timing.heartbeat = seconds(&flag, &value),
            "--presence-ttl" => settings.timing.ttl = seconds(&flag, &value),
            "--redis-timeout" => settings.timing.timeout = seconds(&flag, &value),
            "--redis-backoff" => settings.timing.backoff = seconds(&flag, &value),
            _ => usage_error(&format!("unknown argument {arg:?}")),
        }
    }
    if settings.timing.ttl <= settings.timing.heartbeat {
        usage_error("--presence-ttl must be longer than --heartbeat");
    }
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
    eprintln!(
        "axum_chat: {message}\n\n{USAGE}\n{}\n{}",
        access::USAGE,
        tls::USAGE
    );
    process::exit(2);
}
