//! wss:// with the async adapter (features `tokio`, `rustls`), with
//! certificates generated in the test: our tokio TLS server against our
//! tokio TLS client (and the blocking one, for fragments), 0 B to 1 MiB,
//! compressed; the documented errors for an untrusted certificate, a wrong
//! host and a plain-HTTP client on the TLS port; the handshake deadline
//! over a stalled TLS peer on both sides; keepalive and backpressure over
//! TLS. Every wait is bounded, so a failing test fails instead of hanging.

mod tls_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rfc6455::handshake::{ClientOptions, Limits};
use rfc6455::tls::Failure;
use rfc6455::tls::rustls::{ClientConfig, ServerConfig};
use rfc6455::tokio::{Error, WebSocket, tls};
use rfc6455::{CloseCode, Config, Event, Keepalive, Lost, Message};
use tls_support::{SIZES, payload, pki, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

/// Accepts one TLS WebSocket on a fresh loopback port and runs `serve`.
async fn spawn_server<T, F>(
    server: Arc<ServerConfig>,
    config: Config,
    serve: impl FnOnce(Result<WebSocket, Error>) -> F + Send + 'static,
) -> (u16, JoinHandle<T>)
where
    F: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let accepted = match tls::accept_with(tcp, &server, &Limits::default()).await {
            Ok((stream, limits)) => {
                WebSocket::accept_with(stream, &limits, config, |_| Ok(None)).await
            }
            Err(e) => Err(e),
        };
        serve(accepted).await
    });
    (port, handle)
}

async fn echo(ws: Result<WebSocket, Error>) -> usize {
    let mut ws = ws.expect("server handshake");
    let mut n = 0;
    while let Some(message) = ws.recv().await.expect("server recv") {
        ws.send(message).await.expect("server send");
        n += 1;
    }
    n
}

async fn client(
    tls_config: &Arc<ClientConfig>,
    url: &str,
    config: Config,
) -> Result<WebSocket, Error> {
    tls::connect_with(
        url,
        Some(Arc::clone(tls_config)),
        ClientOptions::default(),
        config,
    )
    .await
    .map(|(ws, _)| ws)
}

fn deflate() -> Config {
    Config::default().deflate(rfc6455::deflate::DeflateConfig::default())
}

#[tokio::test]
async fn echo_over_tls_0_bytes_to_1_mib_plain_and_compressed() {
    timeout(LIMIT, async {
        let pki = pki(&["localhost"]);
        for (config, compressed) in [(Config::default(), false), (deflate(), true)] {
            let (port, server) = spawn_server(Arc::clone(&pki.server), config.clone(), echo).await;
            let url = format!("wss://localhost:{port}/echo");
            let (mut ws, response) = tls::connect_with(
                &url,
                Some(Arc::clone(&pki.client)),
                ClientOptions::default(),
                config,
            )
            .await
            .unwrap();
            assert_eq!(response.deflate().is_some(), compressed);
            let mut sent = 0;
            for (seed, &len) in SIZES.iter().enumerate() {
                for message in [
                    Message::binary(payload(seed, len)),
                    Message::text(text(seed, len)),
                ] {
                    ws.send(message.clone()).await.unwrap();
                    assert_eq!(ws.recv().await.unwrap(), Some(message), "{len} bytes");
                    sent += 1;
                }
            }
            let reply = ws.close(CloseCode::NORMAL, "").await.unwrap();
            assert_eq!(
                reply.map(|f| f.code_or_no_status()),
                Some(CloseCode::NORMAL)
            );
            assert_eq!(server.await.unwrap(), sent);
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn fragments_from_the_blocking_tls_client_reach_the_tokio_tls_server_whole() {
    timeout(LIMIT, async {
        let pki = pki(&["localhost"]);
        let (port, server) = spawn_server(Arc::clone(&pki.server), deflate(), echo).await;
        let client = Arc::clone(&pki.client);
        tokio::task::spawn_blocking(move || {
            let url = format!("wss://localhost:{port}/");
            let (mut ws, _) = rfc6455::blocking::tls::connect_with(
                &url,
                Some(client),
                ClientOptions::default(),
                deflate(),
            )
            .unwrap();
            let conn = ws.connection_mut();
            conn.send_binary_fragment(&payload(1, 30_000), false)
                .unwrap();
            conn.send_binary_fragment(&[], false).unwrap();
            conn.send_binary_fragment(&payload(2, 50_000), true)
                .unwrap();
            ws.flush().unwrap();
            let mut whole = payload(1, 30_000);
            whole.extend(payload(2, 50_000));
            assert_eq!(ws.read().unwrap(), Some(Message::binary(whole)));
            ws.close(CloseCode::NORMAL, "").unwrap();
        })
        .await
        .unwrap();
        assert_eq!(server.await.unwrap(), 1);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn untrusted_certificate_and_wrong_host_are_tls_errors() {
    timeout(LIMIT, async {
        let pki = pki(&["localhost"]);
        let stranger = tls_support::pki(&["localhost"]).client;
        let (port, server) = spawn_server(
            Arc::clone(&pki.server),
            Config::default(),
            |ws| async move { ws.map(|_| ()) },
        )
        .await;
        let url = format!("wss://localhost:{port}/");
        let error = client(&stranger, &url, Config::default())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Tls(_)), "{error:?}");
        assert_eq!(error.tls_failure(), Some(Failure::UntrustedCertificate));
        let error = server.await.unwrap().unwrap_err();
        assert!(
            matches!(error.tls_failure(), Some(Failure::Alert(_))),
            "{error:?}"
        );

        let (port, server) = spawn_server(
            Arc::clone(&pki.server),
            Config::default(),
            |ws| async move { ws.map(|_| ()) },
        )
        .await;
        let url = format!("wss://127.0.0.1:{port}/"); // the certificate is for localhost
        let error = client(&pki.client, &url, Config::default())
            .await
            .unwrap_err();
        assert_eq!(error.tls_failure(), Some(Failure::WrongHost), "{error:?}");
        assert!(server.await.unwrap().is_err());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_plain_http_client_on_the_tls_port_gets_a_tls_alert_not_a_hang() {
    timeout(LIMIT, async {
        let pki = pki(&["localhost"]);
        let (port, server) = spawn_server(
            Arc::clone(&pki.server),
            Config::default(),
            |ws| async move { ws.map(|_| ()) },
        )
        .await;
        let started = Instant::now();
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(
            answer.first(),
            Some(&0x15),
            "a TLS alert record: {answer:?}"
        );
        let error = server.await.unwrap().unwrap_err();
        assert_eq!(error.tls_failure(), Some(Failure::NotTls), "{error:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_cut_at_the_deadline_on_both_sides() {
    timeout(LIMIT, async {
        let pki = pki(&["localhost"]);
        let short = Limits {
            timeout: Some(Duration::from_millis(300)),
            ..Limits::default()
        };
        // Server side: a client that sends half a record header and stalls.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::clone(&pki.server);
        let accepting = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let started = Instant::now();
            let result = tls::accept_with(tcp, &server, &short).await.map(|_| ());
            (result, started.elapsed())
        });
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        let (result, elapsed) = accepting.await.unwrap();
        assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
        assert!(elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(2));

        // Client side: a server that accepts TCP and never answers.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let holder = tokio::spawn(async move {
            let (mut tcp, _) = silent.accept().await.unwrap();
            let mut sink = Vec::new();
            let _ = tcp.read_to_end(&mut sink).await;
        });
        let options = ClientOptions {
            limits: short,
            ..ClientOptions::default()
        };
        let started = Instant::now();
        let url = format!("wss://localhost:{port}/");
        let result = tls::connect_with(&url, Some(pki.client), options, Config::default()).await;
        let elapsed = started.elapsed();
        assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
        assert!(elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(2));
        drop(result);
        holder.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn keepalive_over_tls_pings_and_drops_a_peer_that_does_not_answer() {
    timeout(LIMIT, async {
        let pki = pki(&["localhost"]);
        let keepalive = Keepalive::new(Duration::from_millis(100), Duration::from_millis(300));
        let config = Config::default().keepalive(Some(keepalive));
        let (port, server) = spawn_server(Arc::clone(&pki.server), config, |ws| async move {
            let mut ws = ws.unwrap();
            let started = Instant::now();
            let ending = loop {
                match ws.recv_event().await {
                    Ok(Some(Event::Lost(lost))) => break Ok(lost),
                    Ok(Some(_)) => {}
                    Ok(None) => break Err("closed".to_string()),
                    Err(Error::Lost(lost)) => break Ok(lost),
                    Err(e) => break Err(e.to_string()),
                }
            };
            (ending, started.elapsed())
        })
        .await;
        let url = format!("wss://localhost:{port}/");
        // A client that does not pong: it sees the pings, the server gives up.
        let mut ws = client(&pki.client, &url, Config::default().auto_pong(false))
            .await
            .unwrap();
        // One ping per silence, then the server's close with 1001.
        match ws.recv_event().await.unwrap() {
            Some(Event::Ping(_)) => {}
            other => panic!("expected a ping, got {other:?}"),
        }
        match ws.recv_event().await.unwrap() {
            Some(Event::Close(frame)) => {
                assert_eq!(frame.code_or_no_status(), CloseCode::GOING_AWAY)
            }
            other => panic!("expected the close, got {other:?}"),
        }
        let (ending, elapsed) = server.await.unwrap();
        assert_eq!(ending, Ok(Lost::KeepaliveTimeout));
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn backpressure_over_tls_then_the_write_timeout_drops_a_peer_that_stopped_reading() {
    timeout(LIMIT, async {
        let pki = pki(&["localhost"]);
        let config = Config::default().write_timeout(Some(Duration::from_millis(300)));
        let (port, server) = spawn_server(Arc::clone(&pki.server), config, |ws| async move {
            let mut ws = ws.unwrap();
            let chunk = Message::binary(payload(0, 64 * 1024));
            let mut sent = 0usize;
            let mut max_queued = 0;
            // `send` waits while the output is over its high-water mark
            // (backpressure), and fails once the connection gave up.
            while ws.send(chunk.clone()).await.is_ok() {
                sent += 64 * 1024;
                max_queued = max_queued.max(ws.sender().queued());
                assert!(sent < 256 << 20, "the peer does not read: sends must stop");
            }
            (ws.recv().await, sent, max_queued)
        })
        .await;
        // A TLS client that does the WebSocket handshake, then never reads.
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let stream = tls_handshake_by_hand(Arc::clone(&pki.client), tcp).await;
        let (ending, sent, max_queued) = server.await.unwrap();
        assert!(
            matches!(ending, Err(Error::Lost(Lost::WriteTimeout))),
            "{ending:?}"
        );
        assert!(sent < 64 << 20, "{sent}");
        // Queued output never passed the high-water mark (64 KiB) by more
        // than the message that crossed it.
        assert!(max_queued <= 2 * 64 * 1024 + 64, "{max_queued}");
        drop(stream);
    })
    .await
    .unwrap();
}

/// TLS (tokio-rustls) and the WebSocket handshake by hand, returning the
/// stream with no driver: nothing reads it afterwards.
async fn tls_handshake_by_hand(
    config: Arc<ClientConfig>,
    tcp: TcpStream,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let name = rfc6455::tls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut stream = connector.connect(name, tcp).await.unwrap();
    let handshake = rfc6455::handshake::ClientHandshake::with_random_key(
        "wss://localhost/",
        ClientOptions::default(),
    )
    .unwrap();
    stream.write_all(handshake.request()).await.unwrap();
    stream.flush().await.unwrap();
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server ended the handshake");
        buf.extend_from_slice(&chunk[..n]);
        if let rfc6455::handshake::Parsed::Complete(response, _) =
            handshake.parse_response(&buf).unwrap()
        {
            assert_eq!(response.status(), 101);
            return stream;
        }
    }
}

#[tokio::test]
async fn connect_takes_ws_urls_too() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            echo(WebSocket::accept(tcp).await).await
        });
        let (mut ws, _) = tls::connect_with(
            &format!("ws://{addr}/"),
            None,
            ClientOptions::default(),
            Config::default(),
        )
        .await
        .unwrap();
        ws.send(Message::text("plain")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("plain")));
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(server.await.unwrap(), 1);
    })
    .await
    .unwrap();
}
