//! The hyper and axum integrations over loopback: the handshake through
//! `http` types (the same checks, subprotocols and permessage-deflate), the
//! upgrade, and the async adapter's WebSocket after it.

use std::time::Duration;

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rfc6455::axum::WebSocketUpgrade;
use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::ClientOptions;
use rfc6455::tokio::WebSocket;
use rfc6455::{Config, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

fn deflating() -> Config {
    Config::default().deflate(DeflateConfig::default().no_context_takeover(true, true))
}

async fn echo(mut ws: WebSocket) {
    while let Ok(Some(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

async fn axum_server() -> String {
    async fn handler(upgrade: WebSocketUpgrade) -> Response {
        upgrade
            .protocols(["echo", "chat"])
            .config(deflating())
            .on_upgrade(echo)
    }
    let app = Router::new()
        .route("/", get(|| async { "a plain route beside the socket" }))
        .route("/ws", get(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

async fn round_trip(addr: &str, protocols: &[&str]) -> (WebSocket, rfc6455::handshake::Response) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let options = ClientOptions {
        protocols: protocols.iter().map(|p| p.to_string()).collect(),
        ..ClientOptions::default()
    };
    WebSocket::connect_with(tcp, &format!("ws://{addr}/ws"), options, deflating())
        .await
        .unwrap()
}

async fn raw_request(addr: &str, head: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(LIMIT, tcp.read(&mut buf)).await.unwrap().unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_extractor_upgrades_negotiates_and_echoes() {
    let addr = axum_server().await;
    let (mut ws, response) = round_trip(&addr, &["chat"]).await;
    assert_eq!(response.status(), 101);
    assert_eq!(response.protocol(), Some("chat"));
    assert!(response.deflate().is_some(), "permessage-deflate agreed");
    for len in [0usize, 10, 70_000, 1 << 20] {
        let text = "a".repeat(len);
        ws.send(Message::text(text.clone())).await.unwrap();
        let back = timeout(LIMIT, ws.recv()).await.unwrap().unwrap().unwrap();
        assert_eq!(back.as_text(), Some(text.as_str()));
    }
    ws.close(rfc6455::CloseCode::NORMAL, "").await.unwrap();
    // The plain route beside it still works.
    let page = raw_request(&addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_extractor_refuses_a_bad_handshake_with_the_right_status() {
    let addr = axum_server().await;
    let wrong_version = raw_request(
        &addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await;
    assert!(wrong_version.starts_with("HTTP/1.1 426"), "{wrong_version}");
    assert!(
        wrong_version
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{wrong_version}"
    );
    let no_key = raw_request(
        &addr,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert!(no_key.starts_with("HTTP/1.1 400"), "{no_key}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_upgrade_hands_over_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = service_fn(|mut request: hyper::Request<Incoming>| async move {
                    let reply = match rfc6455::hyper::upgrade(&mut request, deflating(), |offers| {
                        Ok(offers.select_protocol(&["echo"]).map(String::from))
                    }) {
                        Ok((response, upgrade)) => {
                            tokio::spawn(async move {
                                if let Ok(ws) = upgrade.await {
                                    echo(ws).await;
                                }
                            });
                            response
                        }
                        Err(refusal) => refusal,
                    };
                    Ok::<hyper::Response<Empty<Bytes>>, hyper::Error>(reply)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    let (mut ws, response) = round_trip(&addr, &["echo"]).await;
    assert_eq!(response.protocol(), Some("echo"));
    ws.send("through hyper").await.unwrap();
    let back = timeout(LIMIT, ws.recv()).await.unwrap().unwrap().unwrap();
    assert_eq!(back.as_text(), Some("through hyper"));
    let refused = raw_request(&addr, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 4"), "{refused}");
}
