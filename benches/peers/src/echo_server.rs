//! What the four tokio echo servers of `benches/tokio_echo_load.sh` share,
//! so that they differ only in the WebSocket library: the command line,
//! the runtime and the accept loop.
//!
//! * **Runtime**: tokio's multi-thread runtime with `--threads` workers
//!   (default 1: on this 2-core machine the load generator gets the other
//!   core), I/O and timers enabled. The accept loop runs as a task on the
//!   workers like everything else; the main thread only waits for it.
//! * **Accept loop**: one task per accepted connection (`tokio::spawn`),
//!   `TCP_NODELAY` on, the handshake and the echo loop inside that task.
//!   An `accept` error (out of descriptors) is retried after 100 ms.
//! * **Handshake boxed**: every server awaits its library's handshake
//!   future through `Box::pin`, so that the handshake's buffers and state
//!   are freed when it is done instead of staying in the connection task's
//!   future for the connection's life (a future is as large as its largest
//!   state). Without it the idle-memory figures would measure how big each
//!   library's handshake future is, which a server can avoid this way.
//! * Prints `echo server listening on ws://ADDR/ws` once it listens, as the
//!   blocking servers do, so the script can read the port.
//!
//! No compression anywhere: the load generator offers no extension, and
//! each server is configured (or built) without one.

use std::future::Future;
use std::io::Write;
use std::time::Duration;
use std::{env, process};

use tokio::net::{TcpListener, TcpStream};

/// `--addr HOST:PORT` (default 127.0.0.1:0) and `--threads N` (default 1).
pub struct ServerArgs {
    pub addr: String,
    pub threads: usize,
}

fn parse_args(name: &str) -> ServerArgs {
    let mut parsed = ServerArgs {
        addr: String::from("127.0.0.1:0"),
        threads: 1,
    };
    let usage = || -> ! {
        eprintln!("usage: {name} [--addr HOST:PORT] [--threads N]");
        process::exit(2);
    };
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => parsed.addr = value,
            ("--threads", Some(value)) => match value.parse() {
                Ok(n) if n > 0 => parsed.threads = n,
                _ => usage(),
            },
            _ => usage(),
        }
    }
    parsed
}

/// Runs the echo server `name`: parses the command line, builds the
/// runtime and accepts connections forever, handing each one to `handle`
/// in a task of its own. Only returns (exiting) if it cannot listen.
pub fn serve<F, Fut>(name: &str, handle: F)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let args = parse_args(name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("{name}: cannot start the runtime: {e}");
            process::exit(1);
        });
    runtime.block_on(async move {
        let listener = TcpListener::bind(&args.addr).await.unwrap_or_else(|e| {
            eprintln!("{name}: cannot listen on {}: {e}", args.addr);
            process::exit(1);
        });
        let addr = listener
            .local_addr()
            .map_or(args.addr.clone(), |a| a.to_string());
        println!("echo server listening on ws://{addr}/ws");
        let _ = std::io::stdout().flush();
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nodelay(true);
                        tokio::spawn(handle(tcp));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        let _ = accept.await;
    });
}
