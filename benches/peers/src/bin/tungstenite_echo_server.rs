//! The tungstenite side of the echo load test: a blocking,
//! thread-per-connection echo server built like `examples/echo_server.rs`
//! (one thread per accepted socket, `TCP_NODELAY`, a 10 s write timeout,
//! every text or binary message sent back as it came), on tungstenite's
//! defaults (`WebSocketConfig::default()`: 128 KiB read buffer, no
//! compression).
//!
//! ```text
//! cargo run --release --bin tungstenite_echo_server -- --addr 127.0.0.1:0
//! ```
//!
//! Prints `echo server listening on ws://ADDR/ws` once it listens, like
//! ours, so that `benches/echo_load.sh` can read the port.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use std::{env, process, thread};

use tungstenite::{Error, Message};

const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let mut addr = String::from("127.0.0.1:9002");
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: tungstenite_echo_server [--addr HOST:PORT]");
                process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("tungstenite_echo_server: cannot listen on {addr}: {e}");
        process::exit(1);
    });
    let addr = listener.local_addr().map_or(addr, |a| a.to_string());
    println!("echo server listening on ws://{addr}/ws");
    let _ = std::io::stdout().flush();

    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            thread::sleep(Duration::from_millis(100));
            continue;
        };
        if let Err(e) = thread::Builder::new().spawn(move || serve(stream)) {
            eprintln!("cannot start a thread: {e}");
        }
    }
}

/// Echoes every data message until the client closes.
fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(message).is_err() {
                    return;
                }
            }
            // Pongs and the close reply are queued by tungstenite and
            // written on the next read.
            Ok(_) => {}
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => return,
            Err(_) => return,
        }
    }
}
