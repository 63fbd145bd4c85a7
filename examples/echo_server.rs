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

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use std::{env, process, thread};

use rfc6455::blocking::{self, Error, WebSocket};
use rfc6455::handshake::{Limits, http_response};
use rfc6455::{Config, ProtocolError};

/// The page served on `GET /`.
const PAGE: &str = include_str!("echo.html");

/// How long a client may take to send its request head. Bounds the threads
/// that slow or silent clients can hold before they become WebSockets.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one write may block. A client that stops reading while we echo
/// to it fills its socket buffers; it is dropped instead of holding a thread.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str = "\
usage: echo_server [--addr HOST:PORT]

  --addr HOST:PORT  address to listen on (default 127.0.0.1:9001;
                    port 0 picks a free port, printed at start)
  --help            show this help";

fn main() {
    let addr = parse_args();
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("echo_server: cannot listen on {addr}: {e}");
        process::exit(1);
    });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener.local_addr().map_or(addr, |a| a.to_string());
    println!("echo server listening on ws://{addr}/ws (page: http://{addr}/)");

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
        let spawned = thread::Builder::new().spawn(move || {
            if let Err(e) = serve(stream) {
                log_error(peer, &e);
            }
        });
        if let Err(e) = spawned {
            eprintln!("{peer}: cannot start a thread: {e}");
        }
    }
}

/// Serves one connection: the page, a 404, or a WebSocket echoed until it closes.
fn serve(mut stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?; // echo each message at once, no Nagle delay
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    // A malformed or oversized head is answered (400, 431) by `read_request`.
    let (request, rest) = blocking::read_request(&mut stream, &Limits::default())?;

    if request.is_websocket_upgrade() || request.path() == "/ws" {
        // A server open to other sites would check `request.origin()` here,
        // e.g. in the closure that `upgrade` calls; an echo reveals nothing.
        let mut ws = WebSocket::upgrade(stream, request, &rest, Config::default(), |_| Ok(None))?;
        // The handshake is done: no read timeout from here on, so an idle
        // client may stay connected as long as it likes (it costs one
        // sleeping thread). A server that must reclaim silent or half-open
        // connections would keep a long timeout and ping when it fires.
        ws.get_mut().set_read_timeout(None)?;
        return echo(&mut ws);
    }

    let response = match (request.method(), request.path()) {
        ("GET", "/") => http_response(
            200,
            &[
                ("Content-Type", "text/html; charset=utf-8"),
                ("Connection", "close"),
            ],
            PAGE.as_bytes(),
        ),
        (_, "/") => http_response(405, &[("Allow", "GET"), ("Connection", "close")], b""),
        _ => http_response(
            404,
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Connection", "close"),
            ],
            b"not found\n",
        ),
    };
    stream.write_all(&response)?;
    Ok(())
}

/// Sends every message back as it came, until the client closes.
fn echo(ws: &mut WebSocket<TcpStream>) -> Result<(), Error> {
    loop {
        match ws.read() {
            Ok(message) => ws.send(&message)?,
            // The close handshake is complete; dropping the socket ends TCP.
            Err(Error::Closed(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// One line on stderr per failed connection.
fn log_error(peer: SocketAddr, error: &Error) {
    match error {
        // The adapter already sent the close frame with this code.
        Error::Protocol(e) if *e != ProtocolError::AbnormalClosure => {
            eprintln!("{peer}: {error}; closed with {}", e.close_code());
        }
        // A read or write timeout set in `serve`.
        Error::Io(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            eprintln!("{peer}: timed out");
        }
        _ => eprintln!("{peer}: {error}"),
    }
}

/// The address to listen on, from `--addr HOST:PORT` or `--addr=HOST:PORT`.
fn parse_args() -> String {
    let mut addr = String::from("127.0.0.1:9001");
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                process::exit(0);
            }
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
    addr
}

fn usage_error(message: &str) -> ! {
    eprintln!("echo_server: {message}\n\n{USAGE}");
    process::exit(2);
}
