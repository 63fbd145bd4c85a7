//! The tokio-websockets side of the tokio echo load test
//! (`benches/tokio_echo_load.sh`), in the accept loop and runtime every
//! contender shares (`rfc6455_peer_benches::echo_server`):
//! `ServerBuilder::new().accept(tcp)` on its defaults (`Config::default()`,
//! `Limits::default()`: 64 MiB payload limit; no compression, it has none),
//! then `StreamExt::next` / `SinkExt::send` (send flushes) for every text
//! and binary message. Pongs and the close reply are its own.
//!
//! ```text
//! cargo run --release --bin tokio_websockets_echo_server -- --addr 127.0.0.1:0 [--threads 1]
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::ServerBuilder;

fn main() {
    rfc6455_peer_benches::echo_server::serve("tokio_websockets_echo_server", |tcp| async move {
        // Boxed, as in every contender: see rfc6455_peer_benches::echo_server.
        let Ok((_request, mut ws)) = Box::pin(ServerBuilder::new().accept(tcp)).await else {
            return;
        };
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                return;
            }
        }
    });
}
