//! The tokio-tungstenite side of the tokio echo load test
//! (`benches/tokio_echo_load.sh`), in the accept loop and runtime every
//! contender shares (`rfc6455_peer_benches::echo_server`):
//! `tokio_tungstenite::accept_async(tcp)` on tungstenite's defaults
//! (`WebSocketConfig::default()`: 128 KiB read buffer, 64 MiB message
//! limit, no compression), then `StreamExt::next` / `SinkExt::send` (send
//! flushes) for every text and binary message. Pongs and the close reply
//! are queued by tungstenite and written on the next read.
//!
//! ```text
//! cargo run --release --bin tokio_tungstenite_echo_server -- --addr 127.0.0.1:0 [--threads 1]
//! ```

use futures_util::{SinkExt, StreamExt};

fn main() {
    rfc6455_peer_benches::echo_server::serve_maybe_tls(
        "tokio_tungstenite_echo_server",
        echo,
        echo::<rfc6455_peer_benches::echo_server::TlsStream>,
    );
}

/// One connection (over TCP, or TLS with `--tls`: the same tokio-rustls
/// stream as ours, which is what tokio-tungstenite's `rustls` features use).
async fn echo<S>(io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Boxed, as in every contender: see rfc6455_peer_benches::echo_server.
    let Ok(mut ws) = Box::pin(tokio_tungstenite::accept_async(io)).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            return;
        }
    }
}
