//! The fastwebsockets side of the tokio echo load test
//! (`benches/tokio_echo_load.sh`), in the accept loop and runtime every
//! contender shares (`rfc6455_peer_benches::echo_server`).
//!
//! The opening handshake is done by hand on the `TcpStream` (as
//! fastwebsockets' own examples do without hyper): the request head is read
//! 1 KiB at a time and parsed with `httparse`, `Sec-WebSocket-Accept` comes
//! from tungstenite's `derive_accept_key`, and the `101` is written; then
//! `WebSocket::after_handshake(tcp, Role::Server)` in a
//! `FragmentCollector` (whole messages, as the other servers hand out), on
//! fastwebsockets' defaults: auto-pong and auto-close on, 64 MiB message
//! limit, no compression (it has none). Without hyper's upgrade the stream
//! is the bare `TcpStream`, as for every other contender.
//!
//! ```text
//! cargo run --release --bin fastwebsockets_echo_server -- --addr 127.0.0.1:0 [--threads 1]
//! ```

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads the request head and answers `101`; `None` if it is not a
/// WebSocket upgrade (the connection is then dropped).
async fn handshake(tcp: &mut TcpStream) -> Option<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    let key = loop {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 || head.len() + n > 8192 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head).ok()? {
            httparse::Status::Partial => continue,
            // The client sends nothing before the 101, so nothing follows.
            httparse::Status::Complete(used) if used == head.len() => {}
            httparse::Status::Complete(_) => return None,
        }
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        if header("upgrade").is_none_or(|v| !v.eq_ignore_ascii_case(b"websocket"))
            || header("sec-websocket-version") != Some(b"13")
        {
            return None;
        }
        break header("sec-websocket-key")?.to_vec();
    };
    let accept = tungstenite::handshake::derive_accept_key(&key);
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    tcp.write_all(response.as_bytes()).await.ok()
}

fn main() {
    rfc6455_peer_benches::echo_server::serve("fastwebsockets_echo_server", |mut tcp| async move {
        // Boxed, as in every contender: see rfc6455_peer_benches::echo_server.
        if Box::pin(handshake(&mut tcp)).await.is_none() {
            return;
        }
        let mut ws = FragmentCollector::new(WebSocket::after_handshake(tcp, Role::Server));
        loop {
            let Ok(frame) = ws.read_frame().await else {
                return;
            };
            match frame.opcode {
                // The close reply was sent by read_frame (auto-close).
                OpCode::Close => return,
                OpCode::Text | OpCode::Binary => {}
                _ => continue,
            }
            if ws.write_frame(frame).await.is_err() {
                return;
            }
        }
    });
}
