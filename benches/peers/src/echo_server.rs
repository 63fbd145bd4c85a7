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
//!
//! `--tls` (servers started through [`serve_maybe_tls`]): every connection
//! is accepted over TLS first (tokio-rustls, one `ServerConfig` from
//! `rfc6455::tls::server_config`: the ring provider, TLS 1.3 preferred, a
//! self-signed ECDSA P-256 certificate generated at start), the same for
//! every contender; the handshake is boxed with the WebSocket one.

use std::future::Future;
use std::io::Write;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;
use std::{env, process};

use tokio::net::{TcpListener, TcpStream};

/// A connection accepted with `--tls` (feature `tls`).
#[cfg(feature = "tls")]
pub type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;
/// Without feature `tls` no connection is ever accepted over TLS; the
/// servers still name one handler for it.
#[cfg(not(feature = "tls"))]
pub type TlsStream = TcpStream;

/// `--addr HOST:PORT` (default 127.0.0.1:0), `--threads N` (default 1),
/// `--tls`.
pub struct ServerArgs {
    pub addr: String,
    pub threads: usize,
    pub tls: bool,
}

fn parse_args(name: &str) -> ServerArgs {
    let mut parsed = ServerArgs {
        addr: String::from("127.0.0.1:0"),
        threads: 1,
        tls: false,
    };
    let usage = || -> ! {
        eprintln!("usage: {name} [--addr HOST:PORT] [--threads N] [--tls]");
        process::exit(2);
    };
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--tls" {
            parsed.tls = true;
            continue;
        }
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
    if args.tls {
        eprintln!("{name}: no --tls mode");
        process::exit(2);
    }
    run(name, args, handle);
}

/// A self-signed certificate for localhost and 127.0.0.1, as a server
/// configuration.
#[cfg(feature = "tls")]
fn tls_config() -> Arc<rustls::ServerConfig> {
    let cert =
        rcgen::generate_simple_self_signed(["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("a self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    rfc6455::tls::server_config(vec![cert.cert.der().clone()], key).expect("a server config")
}

/// [`serve`], and with `--tls` every connection through the TLS handshake
/// first (boxed, as the WebSocket handshake) and then to `tls_handle`.
/// Without the crate's feature `tls`, `--tls` is refused.
pub fn serve_maybe_tls<F, Fut, G, GFut>(name: &str, handle: F, tls_handle: G)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    G: Fn(TlsStream) -> GFut + Send + Sync + 'static,
    GFut: Future<Output = ()> + Send + 'static,
{
    let args = parse_args(name);
    if !args.tls {
        return run(name, args, handle);
    }
    #[cfg(feature = "tls")]
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_config());
        let tls_handle = Arc::new(tls_handle);
        run(name, args, move |tcp| {
            let (acceptor, tls_handle) = (acceptor.clone(), Arc::clone(&tls_handle));
            async move {
                if let Ok(stream) = Box::pin(acceptor.accept(tcp)).await {
                    tls_handle(stream).await;
                }
            }
        });
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = tls_handle;
        eprintln!("{name}: --tls needs the benches' feature tls (cargo build --features tls)");
        process::exit(2);
    }
}

/// The runtime and the accept loop.
fn run<F, Fut>(name: &str, args: ServerArgs, handle: F)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
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
