//! wss:// with the blocking adapter (feature `rustls`): our TLS server and
//! client against each other over loopback, with certificates generated in
//! the test. Echo of text and binary from 0 B to 1 MiB, fragmented and
//! compressed; the documented errors for an untrusted certificate, a wrong
//! host name and a plain-HTTP client on the TLS port; the handshake
//! deadline over a stalled TLS peer; keepalive, the close timeout and
//! backpressure over TLS; the split halves over TLS.

mod tls_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::tls::{self, MaybeTlsStream, TlsStream};
use rfc6455::blocking::{Error, Transport, WebSocket};
use rfc6455::handshake::{ClientOptions, Limits};
use rfc6455::tls::Failure;
use rfc6455::tls::rustls::{ClientConfig, ServerConfig};
use rfc6455::{CloseCode, Config, Event, Keepalive, Lost, Message};
use tls_support::{Pki, SIZES, payload, pki, text, within};

const LIMIT: Duration = Duration::from_secs(60);

/// Accepts one TLS WebSocket on a fresh loopback port and runs `serve` on it.
fn spawn_server<T: Send + 'static>(
    server: Arc<ServerConfig>,
    config: Config,
    serve: impl FnOnce(Result<WebSocket<TlsStream>, Error>) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let accepted =
            tls::accept_with(tcp, &server, &Limits::default()).and_then(|(stream, limits)| {
                WebSocket::accept_with(stream, &limits, config, |_| Ok(None))
            });
        serve(accepted)
    });
    (addr, handle)
}

fn client(
    pki_client: &Arc<ClientConfig>,
    url: &str,
    config: Config,
) -> Result<WebSocket<MaybeTlsStream>, Error> {
    tls::connect_with(
        url,
        Some(Arc::clone(pki_client)),
        ClientOptions::default(),
        config,
    )
    .map(|(ws, _)| ws)
}

/// Serves `ws` (messages echoed) until the connection is lost: how, or
/// what ended it otherwise.
fn until_lost<S: Transport>(ws: &mut WebSocket<S>) -> Result<Lost, String> {
    loop {
        match ws.read_event() {
            Ok(Some(Event::Message(m))) => ws.send(&m).map_err(|e| e.to_string())?,
            Ok(Some(Event::Lost(lost))) => return Ok(lost),
            Ok(Some(_)) => {}
            Ok(None) => return Err("closed".to_string()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn deflate() -> Config {
    Config::default().deflate(rfc6455::deflate::DeflateConfig::default())
}

fn echo(mut ws: WebSocket<TlsStream>) -> usize {
    let mut n = 0;
    while let Some(message) = ws.read().expect("server read") {
        ws.send(&message).expect("server send");
        n += 1;
    }
    n
}

fn echo_round(pki: &Pki, config: Config, compressed: bool) {
    let (addr, server) = spawn_server(Arc::clone(&pki.server), config.clone(), move |ws| {
        let ws = ws.expect("server handshake");
        assert_eq!(ws.connection().deflate().is_some(), compressed);
        echo(ws)
    });
    let url = format!("wss://localhost:{}/echo", addr.port());
    let (mut ws, response) = tls::connect_with(
        &url,
        Some(Arc::clone(&pki.client)),
        ClientOptions::default(),
        config,
    )
    .expect("client connect");
    assert_eq!(response.status(), 101);
    assert_eq!(response.deflate().is_some(), compressed);
    let MaybeTlsStream::Tls(stream) = ws.get_ref() else {
        panic!("wss:// gave a plain stream")
    };
    assert_eq!(stream.connection().alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut sent = 0;
    for (seed, &len) in SIZES.iter().enumerate() {
        for message in [
            Message::binary(payload(seed, len)),
            Message::text(text(seed, len)),
        ] {
            ws.send(&message).unwrap();
            assert_eq!(ws.read().unwrap().as_ref(), Some(&message), "{len} bytes");
            sent += 1;
        }
    }
    // Fragmented: three fragments of a text message, then of a binary one.
    let conn = ws.connection_mut();
    conn.send_text_fragment("frag", false).unwrap();
    conn.send_text_fragment(&text(1, 20_000), false).unwrap();
    conn.send_text_fragment("ment", true).unwrap();
    ws.flush().unwrap();
    let whole = format!("frag{}ment", text(1, 20_000));
    assert_eq!(ws.read().unwrap(), Some(Message::text(whole)));
    let conn = ws.connection_mut();
    conn.send_binary_fragment(&payload(3, 70_000), false)
        .unwrap();
    conn.send_binary_fragment(&payload(4, 1), true).unwrap();
    ws.flush().unwrap();
    let mut whole = payload(3, 70_000);
    whole.extend(payload(4, 1));
    assert_eq!(ws.read().unwrap(), Some(Message::binary(whole)));
    sent += 2;
    let reply = ws.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(
        reply.map(|f| f.code_or_no_status()),
        Some(CloseCode::NORMAL)
    );
    assert_eq!(server.join().unwrap(), sent);
}

#[test]
fn echo_over_tls_0_bytes_to_1_mib_fragmented_plain_and_compressed() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        echo_round(&pki, Config::default(), false);
        echo_round(&pki, deflate(), true);
    });
}

#[test]
fn untrusted_certificate_is_a_tls_error_on_both_sides() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let stranger = tls_support::pki(&["localhost"]).client; // another CA
        let (addr, server) = spawn_server(Arc::clone(&pki.server), Config::default(), |ws| {
            ws.map(|_| ())
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let error = client(&stranger, &url, Config::default()).unwrap_err();
        assert!(matches!(error, Error::Tls(_)), "{error:?}");
        assert_eq!(error.tls_failure(), Some(Failure::UntrustedCertificate));
        // The server hears why: the client's alert.
        let error = server.join().unwrap().unwrap_err();
        assert!(
            matches!(error.tls_failure(), Some(Failure::Alert(_))),
            "{error:?}"
        );
    });
}

#[test]
fn wrong_host_name_is_a_tls_error() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let (addr, server) = spawn_server(Arc::clone(&pki.server), Config::default(), |ws| {
            ws.map(|_| ())
        });
        // The certificate is for localhost, not for 127.0.0.1.
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let error = client(&pki.client, &url, Config::default()).unwrap_err();
        assert_eq!(error.tls_failure(), Some(Failure::WrongHost), "{error:?}");
        assert!(server.join().unwrap().is_err());
    });
}

#[test]
fn an_ip_address_certificate_is_verified_for_the_ip() {
    within(LIMIT, || {
        let pki = pki(&["127.0.0.1"]);
        let (addr, server) = spawn_server(Arc::clone(&pki.server), Config::default(), |ws| {
            echo(ws.unwrap())
        });
        let url = format!("wss://127.0.0.1:{}/", addr.port());
        let mut ws = client(&pki.client, &url, Config::default()).unwrap();
        ws.send_text("ip").unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::text("ip")));
        ws.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(server.join().unwrap(), 1);
    });
}

#[test]
fn a_plain_http_client_on_the_tls_port_gets_a_tls_alert_not_a_hang() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let (addr, server) = spawn_server(Arc::clone(&pki.server), Config::default(), |ws| {
            ws.map(|_| ())
        });
        let started = Instant::now();
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer); // an alert, then the end
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(
            answer.first(),
            Some(&0x15),
            "a TLS alert record: {answer:?}"
        );
        let error = server.join().unwrap().unwrap_err();
        assert_eq!(error.tls_failure(), Some(Failure::NotTls), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn a_client_that_stalls_mid_tls_handshake_is_cut_at_the_deadline() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::clone(&pki.server);
        let handle = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let limits = Limits {
                timeout: Some(Duration::from_millis(300)),
                ..Limits::default()
            };
            let started = Instant::now();
            let result = tls::accept_with(tcp, &server, &limits).map(|_| ());
            (result, started.elapsed())
        });
        let mut tcp = TcpStream::connect(addr).unwrap();
        // The first bytes of a ClientHello record header, then silence.
        tcp.write_all(&[0x16, 0x03, 0x01, 0x02]).unwrap();
        let (result, elapsed) = handle.join().unwrap();
        assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
        assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    });
}

#[test]
fn a_server_that_never_answers_the_client_hello_is_cut_at_the_deadline() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts the TCP connection and reads, never answering.
        let silent = thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut sink = Vec::new();
            let _ = tcp.read_to_end(&mut sink);
        });
        let mut options = ClientOptions::default();
        options.limits.timeout = Some(Duration::from_millis(300));
        let started = Instant::now();
        let url = format!("wss://localhost:{}/", addr.port());
        let result = tls::connect_with(&url, Some(pki.client), options, Config::default());
        let elapsed = started.elapsed();
        assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
        assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        drop(result);
        silent.join().unwrap();
    });
}

#[test]
fn keepalive_pings_flow_over_tls_and_a_silent_peer_is_dropped() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let keepalive = Keepalive::new(Duration::from_millis(100), Duration::from_millis(300));
        let config = Config::default().keepalive(Some(keepalive));
        let (addr, server) = spawn_server(Arc::clone(&pki.server), config, |ws| {
            let mut ws = ws.unwrap();
            let started = Instant::now();
            (until_lost(&mut ws), started.elapsed())
        });
        let url = format!("wss://localhost:{}/", addr.port());
        // First a client that answers: pings arrive, pongs keep it alive.
        let mut ws = client(&pki.client, &url, Config::default().auto_pong(false)).unwrap();
        let mut pings = 0;
        while pings < 3 {
            match ws.read_event().unwrap() {
                Some(Event::Ping(payload)) => {
                    pings += 1;
                    ws.connection_mut().pong(&payload).unwrap();
                    ws.flush().unwrap();
                }
                other => panic!("expected a ping, got {other:?}"),
            }
        }
        // Then silence: pings unanswered, the server gives up.
        let (ending, elapsed) = server.join().unwrap();
        assert_eq!(ending, Ok(Lost::KeepaliveTimeout));
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        drop(ws);
    });
}

#[test]
fn close_timeout_holds_over_tls_when_the_peer_never_answers() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let config = Config::default().close_timeout(Duration::from_millis(300));
        let (addr, server) = spawn_server(Arc::clone(&pki.server), config, |ws| {
            let mut ws = ws.unwrap();
            let started = Instant::now();
            let reply = ws.close(CloseCode::NORMAL, "bye").unwrap();
            (reply, started.elapsed())
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let ws = client(&pki.client, &url, Config::default()).unwrap();
        let (stream, _conn) = ws.into_parts(); // holds the socket, never answers
        let (reply, elapsed) = server.join().unwrap();
        assert_eq!(reply, None);
        assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        drop(stream);
    });
}

#[test]
fn a_peer_that_stops_reading_is_lost_by_the_write_timeout_with_bounded_output() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let config = Config::default().write_timeout(Some(Duration::from_millis(300)));
        let (addr, server) = spawn_server(Arc::clone(&pki.server), config, |ws| {
            let mut ws = ws.unwrap();
            let chunk = payload(0, 64 * 1024);
            let mut sent = 0usize;
            let error = loop {
                match ws.send_binary(&chunk) {
                    Ok(()) => sent += chunk.len(),
                    Err(e) => break e,
                }
                assert!(sent < 256 << 20, "the peer does not read: sends must stop");
            };
            (error, sent)
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let ws = client(&pki.client, &url, Config::default()).unwrap();
        let (stream, _conn) = ws.into_parts(); // never reads
        let (error, sent) = server.join().unwrap();
        assert!(
            matches!(error, Error::Lost(Lost::WriteTimeout)),
            "{error:?}"
        );
        // What got out fits the two socket buffers (a few MiB on loopback).
        assert!(sent < 64 << 20, "{sent}");
        drop(stream);
    });
}

#[test]
fn split_halves_over_tls_stream_both_ways_at_once() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        const MESSAGES: usize = 200;
        // The server splits too: its writer streams while its reader reads.
        let (addr, server) = spawn_server(Arc::clone(&pki.server), deflate(), |ws| {
            let (mut reader, mut writer) = ws.unwrap().split().unwrap();
            let sender = thread::spawn(move || {
                for i in 0..MESSAGES {
                    writer
                        .send(&Message::binary(payload(i, (i * 997) % 40_000)))
                        .unwrap();
                }
                writer
            });
            let mut got = 0;
            while let Some(message) = reader.read().unwrap() {
                assert_eq!(message, Message::text(text(got, (got * 1009) % 50_000)));
                got += 1;
            }
            let _ = sender.join().unwrap();
            got
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let (mut reader, mut writer) = client(&pki.client, &url, deflate())
            .unwrap()
            .split()
            .unwrap();
        let sender = thread::spawn(move || {
            for i in 0..MESSAGES {
                writer
                    .send(&Message::text(text(i, (i * 1009) % 50_000)))
                    .unwrap();
            }
            writer
        });
        for i in 0..MESSAGES {
            let message = reader.read().unwrap();
            assert_eq!(
                message,
                Some(Message::binary(payload(i, (i * 997) % 40_000)))
            );
        }
        let mut writer = sender.join().unwrap();
        writer.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(reader.read().unwrap(), None);
        assert_eq!(
            writer.peer_close().map(|f| f.code_or_no_status()),
            Some(CloseCode::NORMAL)
        );
        assert_eq!(server.join().unwrap(), MESSAGES);
    });
}

#[test]
fn split_reader_over_tls_answers_pings_and_runs_keepalive() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let keepalive = Keepalive::new(Duration::from_millis(100), Duration::from_millis(400));
        let config = Config::default().keepalive(Some(keepalive));
        // The server only reads; its keepalive pings must be answered by
        // the client's reader half (auto pong) for the connection to live.
        let (addr, server) = spawn_server(Arc::clone(&pki.server), config, |ws| {
            let mut ws = ws.unwrap();
            let mut pongs = 0;
            loop {
                match ws.read_event().unwrap() {
                    Some(Event::Pong(_)) => pongs += 1,
                    Some(Event::Message(m)) => assert_eq!(m, Message::text("after pings")),
                    Some(Event::Lost(lost)) => panic!("lost: {lost}"),
                    Some(_) => {}
                    None => return pongs,
                }
            }
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let (mut reader, mut writer) = client(&pki.client, &url, Config::default())
            .unwrap()
            .split()
            .unwrap();
        let pinged = thread::spawn(move || {
            let mut pings = 0;
            loop {
                match reader.read_event() {
                    Ok(Some(Event::Ping(_))) => pings += 1,
                    Ok(Some(Event::Close(_))) => {}
                    Ok(None) => return pings,
                    other => panic!("{other:?}"),
                }
            }
        });
        thread::sleep(Duration::from_millis(900)); // > 2 keepalive timeouts
        writer.send_text("after pings").unwrap();
        writer.close(CloseCode::NORMAL, "").unwrap();
        let pings = pinged.join().unwrap();
        let pongs = server.join().unwrap();
        assert!(pings >= 4, "{pings} pings");
        assert!(pongs >= 4, "{pongs} pongs");
    });
}

#[test]
fn split_reader_over_tls_is_not_blocked_by_a_writer_stuck_in_write() {
    within(LIMIT, || {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::mpsc;
        let pki = pki(&["localhost"]);
        // The server sends one message, then never reads: the client's
        // writer blocks once the socket buffers are full, outside the lock,
        // so the reader still decrypts and gets the message.
        let (release, released) = mpsc::channel::<()>();
        let (addr, server) = spawn_server(Arc::clone(&pki.server), Config::default(), move |ws| {
            let mut ws = ws.unwrap();
            ws.send_text("still there?").unwrap();
            let _ = released.recv_timeout(LIMIT);
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let (mut reader, mut writer) = client(&pki.client, &url, Config::default())
            .unwrap()
            .split()
            .unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&sent);
        let pusher = thread::spawn(move || {
            while writer.send_binary(&payload(0, 16 * 1024)).is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let mut last = usize::MAX;
        loop {
            thread::sleep(Duration::from_millis(500));
            let now = sent.load(Ordering::SeqCst);
            if now == last {
                break; // stuck: no progress for 500 ms
            }
            last = now;
        }
        let started = Instant::now();
        assert_eq!(reader.read().unwrap(), Some(Message::text("still there?")));
        assert!(started.elapsed() < Duration::from_secs(2));
        reader.shutdown().unwrap(); // unblocks the writer
        release.send(()).unwrap();
        server.join().unwrap();
        pusher.join().unwrap();
    });
}

#[test]
fn an_expired_certificate_is_a_tls_error() {
    within(LIMIT, || {
        let pki = tls_support::pki_valid(&["localhost"], false);
        let (addr, server) = spawn_server(Arc::clone(&pki.server), Config::default(), |ws| {
            ws.map(|_| ())
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let error = client(&pki.client, &url, Config::default()).unwrap_err();
        assert_eq!(error.tls_failure(), Some(Failure::Expired), "{error:?}");
        assert!(server.join().unwrap().is_err());
    });
}

/// `connect` without a configuration of one's own verifies against the
/// roots of the features: Mozilla's do not know the test CA.
#[cfg(feature = "rustls-tls-webpki-roots")]
#[test]
fn connect_with_the_default_roots_refuses_the_test_ca() {
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let (addr, server) = spawn_server(Arc::clone(&pki.server), Config::default(), |ws| {
            ws.map(|_| ())
        });
        let error = tls::connect(&format!("wss://localhost:{}/", addr.port())).unwrap_err();
        assert_eq!(
            error.tls_failure(),
            Some(Failure::UntrustedCertificate),
            "{error:?}"
        );
        assert!(server.join().unwrap().is_err());
    });
}

#[test]
fn connect_takes_ws_urls_too() {
    within(LIMIT, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let mut ws = WebSocket::accept(tcp).unwrap();
            while let Some(message) = ws.read().unwrap() {
                ws.send(&message).unwrap();
            }
        });
        let (mut ws, _) = tls::connect_with(
            &format!("ws://{addr}/"),
            None,
            ClientOptions::default(),
            Config::default(),
        )
        .unwrap();
        assert!(matches!(ws.get_ref(), MaybeTlsStream::Plain(_)));
        ws.send_text("plain").unwrap();
        assert_eq!(ws.read().unwrap(), Some(Message::text("plain")));
        let (mut reader, mut writer) = ws.split().unwrap();
        writer.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(reader.read().unwrap(), None);
        server.join().unwrap();
    });
}

#[test]
fn keepalive_runs_over_a_plain_rustls_stream_owned() {
    // Not the crate's TlsStream: rustls' own StreamOwned over a TcpStream,
    // as a user who set up TLS by hand has it. The core's keepalive pings a
    // silent client over it and then loses it, through the socket's read
    // timeout (`Transport for rustls::StreamOwned`).
    within(LIMIT, || {
        let pki = pki(&["localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server_config = Arc::clone(&pki.server);
        let server = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let tls = rfc6455::tls::rustls::ServerConnection::new(server_config).unwrap();
            let stream = rfc6455::tls::rustls::StreamOwned::new(tls, tcp);
            let keepalive = Keepalive::new(Duration::from_millis(100), Duration::from_millis(300));
            let config = Config::default().keepalive(Some(keepalive));
            let mut ws =
                WebSocket::accept_with(stream, &Limits::default(), config, |_| Ok(None)).unwrap();
            let started = Instant::now();
            (until_lost(&mut ws), started.elapsed())
        });
        let url = format!("wss://localhost:{}/", addr.port());
        let mut ws = client(&pki.client, &url, Config::default().auto_pong(false)).unwrap();
        // A ping comes; it is not answered.
        match ws.read_event().unwrap() {
            Some(Event::Ping(_)) => {}
            other => panic!("expected a ping, got {other:?}"),
        }
        let (ending, elapsed) = server.join().unwrap();
        assert_eq!(ending, Ok(Lost::KeepaliveTimeout));
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        // The server said why before it went: a close with 1001.
        let mut close = None;
        while let Ok(Some(event)) = ws.read_event() {
            if let Event::Close(frame) = event {
                close = Some(frame.code);
            }
        }
        assert_eq!(close, Some(Some(CloseCode::GOING_AWAY)));
    });
}
