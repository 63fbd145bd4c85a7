//! The async adapter over loopback TCP: full duplex, backpressure, cancel
//! safety, timers and graceful shutdown. Every wait is bounded by a
//! `tokio::time::timeout`, so a failing test fails instead of hanging.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rfc6455::handshake::Limits;
use rfc6455::tokio::{Error, Tracker, TrySendError, WebSocket};
use rfc6455::{CloseCode, Config, Event, Keepalive, Lost, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

async fn accept_one(listener: &TcpListener, config: Config) -> WebSocket {
    let (tcp, _) = listener.accept().await.unwrap();
    WebSocket::accept_with(tcp, &Limits::default(), config, |_| Ok(None))
        .await
        .unwrap()
}

async fn client(url: &str) -> WebSocket {
    let tcp = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/'))
        .await
        .unwrap();
    WebSocket::connect(tcp, url).await.unwrap().0
}

/// A raw TCP client that completes the handshake and then does only what
/// the test says.
async fn raw_client(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

/// A masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [1u8, 2, 3, 4];
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_of_every_size_then_a_clean_close() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, Config::default()).await;
        while let Some(message) = ws.recv().await.unwrap() {
            ws.send(message).await.unwrap();
        }
        ws.state()
    });
    let mut ws = client(&url).await;
    for len in [0, 1, 125, 126, 65_535, 65_536, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(Message::binary(data.clone())).await.unwrap();
        let back = timeout(LIMIT, ws.recv()).await.unwrap().unwrap().unwrap();
        assert_eq!(back.as_bytes(), &data[..], "{len} bytes");
    }
    ws.send("héllo").await.unwrap();
    let back = timeout(LIMIT, ws.recv()).await.unwrap().unwrap().unwrap();
    assert_eq!(back.as_text(), Some("héllo"));
    let peer = timeout(LIMIT, ws.close(CloseCode::NORMAL, "bye"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.and_then(|f| f.code), Some(CloseCode::NORMAL));
    assert_eq!(
        ws.recv().await.unwrap(),
        None,
        "the stream ends after the close"
    );
    let state = timeout(LIMIT, server).await.unwrap().unwrap();
    assert!(matches!(state, rfc6455::State::Closed { clean: true, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered_while_the_application_does_not_read() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let ws = accept_one(&listener, Config::default()).await;
        // The application is busy and never calls recv.
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(ws);
    });
    let mut ws = client(&url).await;
    for i in 0..10u8 {
        ws.ping(&[i]).await.unwrap();
        let event = timeout(Duration::from_secs(1), ws.recv_event())
            .await
            .expect("the pong comes while the server app sleeps")
            .unwrap();
        assert_eq!(event, Some(Event::Pong(bytes::Bytes::from(vec![i]))));
    }
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_send_through_clones_each_in_order_and_whole() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let ws = accept_one(&listener, Config::default()).await;
        let (sender, _receiver) = ws.split();
        let mut tasks = Vec::new();
        for task in 0..8 {
            let sender = sender.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let text = format!("{task}:{i}:{}", "x".repeat(i * 37 % 3000));
                    sender.send(text).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        sender.flush().await.unwrap();
        sender.close(CloseCode::NORMAL, "").await.unwrap();
    });
    let mut ws = client(&url).await;
    let mut next = [0usize; 8];
    let mut count = 0;
    while let Some(message) = timeout(LIMIT, ws.recv()).await.unwrap().unwrap() {
        let text = message.as_text().unwrap();
        let mut parts = text.splitn(3, ':');
        let task: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        assert_eq!(parts.next().unwrap().len(), i * 37 % 3000, "whole");
        assert_eq!(i, next[task], "task {task} in order");
        next[task] += 1;
        count += 1;
    }
    assert_eq!(count, 8 * 200);
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_makes_send_wait_then_is_dropped() {
    let (listener, url) = listener().await;
    let config = Config::default()
        .keepalive(None)
        .write_timeout(Some(Duration::from_secs(1)));
    let accept = tokio::spawn(async move { accept_one(&listener, config).await });
    let _peer = raw_client(&url).await; // never reads
    let ws = accept.await.unwrap();
    let message = Message::binary(vec![0u8; 16 * 1024]);
    let mut sent = 0usize;
    let mut max_queued = 0;
    let started = Instant::now();
    let outcome = loop {
        match timeout(Duration::from_millis(300), ws.send(message.clone())).await {
            Ok(Ok(())) => sent += 1,
            Ok(Err(e)) => break Some(e),
            Err(_) => {
                // `send` waits: the output is over the high-water mark.
                max_queued = max_queued.max(ws.sender().queued());
                if started.elapsed() > Duration::from_secs(10) {
                    break None;
                }
            }
        }
        max_queued = max_queued.max(ws.sender().queued());
    };
    assert!(sent > 0);
    assert!(
        max_queued <= 64 * 1024 + 16 * 1024 + 16,
        "queued up to {max_queued} bytes"
    );
    assert!(
        matches!(outcome, Some(Error::Usage(_) | Error::Io(_))),
        "the driver dropped the peer: {outcome:?}"
    );
    let mut ws = ws;
    assert!(matches!(
        timeout(LIMIT, ws.recv()).await.unwrap(),
        Err(Error::Lost(Lost::WriteTimeout))
    ));
    assert!(matches!(ws.try_send("late"), Err(TrySendError::Closed(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_in_select_with_a_timer_firing_mid_frame_loses_nothing() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, Config::default()).await;
        let mut got = Vec::new();
        let mut ticks = 0;
        while got.len() < 3 {
            tokio::select! {
                message = ws.recv() => got.push(message.unwrap().unwrap()),
                _ = tokio::time::sleep(Duration::from_millis(1)) => ticks += 1,
            }
        }
        (got, ticks)
    });
    let mut tcp = raw_client(&url).await;
    let mut wire = Vec::new();
    for text in ["first", "second message", "third"] {
        wire.extend_from_slice(&frame(0x1, text.as_bytes()));
    }
    // One byte every 2 ms: the timer fires inside every frame.
    for byte in wire {
        tcp.write_all(&[byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (got, ticks) = timeout(LIMIT, server).await.unwrap().unwrap();
    let texts: Vec<_> = got
        .iter()
        .map(|m| m.as_text().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["first", "second message", "third"]);
    assert!(ticks > 10, "the timer did fire mid-frame ({ticks} times)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_cancelled_while_waiting_queues_nothing() {
    let (listener, url) = listener().await;
    let accept = tokio::spawn(async move { accept_one(&listener, Config::default()).await });
    let mut peer = raw_client(&url).await;
    let ws = accept.await.unwrap();
    // Fill the output while the peer does not read.
    let big = Message::binary(vec![b'a'; 200 * 1024]);
    while timeout(Duration::from_millis(200), ws.send(big.clone()))
        .await
        .is_ok()
    {}
    let queued = ws.sender().queued();
    // A send cancelled by select! queued nothing.
    tokio::select! {
        _ = ws.send(Message::binary(vec![b'b'; 1000])) => panic!("it should wait"),
        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
    }
    assert!(
        ws.sender().queued() <= queued,
        "nothing was queued by the cancelled send"
    );
    // Now read everything: only whole 'a' messages arrive, no 'b' at all.
    let sender = ws.sender();
    tokio::spawn(async move {
        sender.flush().await.unwrap();
        sender.close(CloseCode::NORMAL, "").await.unwrap();
    });
    let mut bytes = Vec::new();
    let _ = timeout(LIMIT, peer.read_to_end(&mut bytes)).await;
    assert!(
        !bytes.contains(&b'b'),
        "the cancelled message was never sent"
    );
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_a_peer_that_never_answers_ends_at_the_close_timeout() {
    let (listener, url) = listener().await;
    let config = Config::default().close_timeout(Duration::from_millis(300));
    let accept = tokio::spawn(async move { accept_one(&listener, config).await });
    let _peer = raw_client(&url).await; // never answers
    let mut ws = accept.await.unwrap();
    let started = Instant::now();
    let peer_close = timeout(LIMIT, ws.close(CloseCode::NORMAL, ""))
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(peer_close, None);
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(matches!(
        ws.recv().await,
        Err(Error::Lost(Lost::CloseTimeout))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_a_silent_peer_and_drops_it_with_1001() {
    let (listener, url) = listener().await;
    let config = Config::default().keepalive(Some(Keepalive::new(
        Duration::from_millis(200),
        Duration::from_millis(200),
    )));
    let accept = tokio::spawn(async move { accept_one(&listener, config).await });
    let mut peer = raw_client(&url).await;
    let mut ws = accept.await.unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    let _ = timeout(LIMIT, peer.read_to_end(&mut seen)).await;
    let took = started.elapsed();
    // An empty ping (0x89 0x00), then a close frame with 1001 (0x03e9).
    assert_eq!(&seen[..2], &[0x89, 0x00], "{seen:?}");
    assert_eq!(&seen[2..6], &[0x88, 0x02, 0x03, 0xe9], "{seen:?}");
    assert!(
        took >= Duration::from_millis(390) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(matches!(
        ws.recv().await,
        Err(Error::Lost(Lost::KeepaliveTimeout))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_1000_connections_with_1001() {
    let (listener, url) = listener().await;
    let tracker = Tracker::new();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = {
        let tracker = tracker.clone();
        let accepted = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let tracker = tracker.clone();
                let accepted = Arc::clone(&accepted);
                tokio::spawn(async move {
                    let mut ws = WebSocket::accept(tcp).await.unwrap();
                    tracker.track(&ws);
                    accepted.fetch_add(1, Ordering::SeqCst);
                    while let Ok(Some(message)) = ws.recv().await {
                        let _ = ws.send(message).await;
                    }
                });
            }
        })
    };
    let mut clients = Vec::new();
    for _ in 0..1000 {
        clients.push(client(&url).await);
    }
    timeout(LIMIT, async {
        while accepted.load(Ordering::SeqCst) < 1000 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(tracker.open(), 1000);
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                loop {
                    match ws.recv_event().await.unwrap() {
                        Some(Event::Close(frame)) => return frame.code,
                        Some(_) => {}
                        None => return None,
                    }
                }
            })
        })
        .collect();
    let left = tracker
        .close_all(CloseCode::GOING_AWAY, "restart", Duration::from_secs(15))
        .await;
    assert_eq!(left, 0, "every connection finished in time");
    for reader in readers {
        let code = timeout(LIMIT, reader).await.unwrap().unwrap();
        assert_eq!(code, Some(CloseCode::GOING_AWAY));
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_sink_carry_messages_and_end_after_the_close() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let ws = accept_one(&listener, Config::default()).await;
        let (mut sink, mut stream) = ws.split();
        while let Some(message) = stream.next().await {
            SinkExt::send(&mut sink, message.unwrap()).await.unwrap();
        }
    });
    let mut ws = client(&url).await;
    for i in 0..50 {
        ws.send(Message::text(format!("m{i}"))).await.unwrap();
    }
    for i in 0..50 {
        let m = timeout(LIMIT, ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(m.as_text(), Some(format!("m{i}").as_str()));
    }
    SinkExt::close(&mut ws).await.unwrap();
    assert!(ws.next().await.is_none(), "None after the close handshake");
    timeout(LIMIT, server).await.unwrap().unwrap();
}
