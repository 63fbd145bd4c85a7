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
    rfc6455_peer_benches::echo_server::serve("tokio_tungstenite_echo_server", |tcp| async move {
        // Boxed, as in every contender: see rfc6455_peer_benches::echo_server.
        let Ok(mut ws) = Box::pin(tokio_tungstenite::accept_async(tcp)).await else {
            return;
        };
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                return;
            }
        }
    });
}
