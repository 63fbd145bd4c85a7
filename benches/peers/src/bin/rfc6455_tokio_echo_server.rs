//! Our side of the tokio echo load test (`benches/tokio_echo_load.sh`):
//! `rfc6455::tokio::WebSocket` (a driver task per connection owns the
//! socket; this task only receives and sends), in the accept loop and
//! runtime every contender shares (`rfc6455_peer_benches::echo_server`).
//!
//! Configuration: `Config::default()` with permessage-deflate off, so the
//! adapter's defaults otherwise: 64 KiB output and input high-water marks,
//! keepalive (a ping after 20 s of silence: never due in these runs, but its
//! timer is armed, as for any user of the defaults), close timeout 10 s.
//!
//! ```text
//! cargo run --release --bin rfc6455_tokio_echo_server -- --addr 127.0.0.1:0 [--threads 1]
//! ```

use rfc6455::Config;
use rfc6455::handshake::Limits;
use rfc6455::tokio::WebSocket;

fn main() {
    rfc6455_peer_benches::echo_server::serve_maybe_tls(
        "rfc6455_tokio_echo_server",
        echo,
        echo::<rfc6455_peer_benches::echo_server::TlsStream>,
    );
}

/// One connection (over TCP, or TLS with `--tls`).
async fn echo<S>(io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Boxed, as in every contender: see rfc6455_peer_benches::echo_server.
    let handshake = Box::pin(async move {
        let mut config = Config::default();
        config.deflate.enabled = false;
        WebSocket::accept_with(io, &Limits::default(), config, |_| Ok(None)).await
    });
    let Ok(mut ws) = handshake.await else {
        return;
    };
    // Text and binary messages only (pings are answered by the driver).
    while let Ok(Some(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            return;
        }
    }
}
