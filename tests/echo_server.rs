//! End-to-end tests of `examples/echo_server.rs` and of its twin on the
//! async adapter, `examples/tokio_echo_server.rs`: the real binaries on a
//! free port, driven over TCP by the crate's blocking client and by raw
//! sockets.
//!
//! Every check is a function of the example's name, run against each server
//! by `against_each_server!`: the tests are `echo_server::CHECK` and
//! `tokio_echo_server::CHECK`. They need no feature of their own: the
//! harness builds `tokio_echo_server` with `--features tokio` (what is
//! particular to that server is in tests/tokio_echo.rs).

mod app_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use app_harness::{
    DEFAULT_OFFER, EXAMPLE_DEFLATE, Server, example_binary, http_get, tcp_with_timeout,
};
use rfc6455::blocking::WebSocket;
use rfc6455::{CloseCode, Message};
#[cfg(feature = "deflate")]
use {
    app_harness::{Counted, connect_counted, read_counted, send_counted},
    rfc6455::deflate::{DeflateConfig, DeflateParams},
};

/// Read and write timeout of every test socket: no test can hang on a
/// server that stopped answering.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Generates, for each check listed, a `#[test]` that runs it against
/// `echo_server` and one that runs it against `tokio_echo_server`, in a
/// module named after the server. Attributes before a check (`#[cfg]`)
/// apply to both of its tests.
macro_rules! against_each_server {
    ($($(#[$attr:meta])* $check:ident),* $(,)?) => {
        mod echo_server {
            $($(#[$attr])* #[test] fn $check() { super::$check("echo_server") })*
        }
        mod tokio_echo_server {
            $($(#[$attr])* #[test] fn $check() { super::$check("tokio_echo_server") })*
        }
    };
}

against_each_server!(
    echoes_text_and_binary_messages_with_their_type,
    serves_the_page_on_root,
    unknown_path_is_not_found,
    protocol_violation_closes_only_that_connection_with_1002,
    fifty_concurrent_clients_each_get_their_own_echoes,
    client_close_completes_cleanly,
    help_and_bad_arguments,
    #[cfg(feature = "deflate")]
    permessage_deflate_is_accepted_without_context_takeover_and_compresses_both_ways,
    #[cfg(feature = "deflate")]
    deflate_context_takeover_flag_keeps_the_window_between_messages,
    no_deflate_declines_permessage_deflate,
);

/// The example `name` on a free loopback port with `args`, checked to have
/// introduced itself as an echo server (`echo server listening on
/// ws://127.0.0.1:PORT/ws (page: ...)`, with `tokio` before it for
/// `tokio_echo_server`).
fn start(name: &str, args: &[&str]) -> Server {
    let mut server = Server::start(name, args);
    let stdout = server.process.stdout();
    let first = stdout.lines().next().unwrap_or_default();
    let intro = format!(
        "{}echo server listening on ws://127.0.0.1:",
        name.strip_suffix("echo_server")
            .unwrap_or_default()
            .replace('_', " ")
    );
    if !first.starts_with(&intro) {
        server
            .process
            .fail(&format!("unexpected first line {first:?}"));
    }
    server
}

/// A plain TCP connection to the echo server with the test timeouts.
fn tcp(server: &Server) -> TcpStream {
    tcp_with_timeout(server.addr, IO_TIMEOUT)
}

/// A WebSocket client connected to the echo server at `addr`, on `/ws`.
fn connect(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = tcp_with_timeout(addr, IO_TIMEOUT);
    let (ws, response) = WebSocket::connect(stream, &format!("ws://{addr}/ws"))
        .expect("WebSocket handshake with the echo server");
    assert_eq!(response.status(), 101);
    ws
}

/// `GET path` over a fresh connection: the status, the head and the body.
fn get(server: &Server, path: &str) -> (u16, String, Vec<u8>) {
    http_get(tcp(server), server.addr, path)
}

/// Waits until the server's stderr contains all of `needles`.
fn wait_for_log(server: &Server, needles: &[&str]) -> String {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let log = server.process.stderr();
        if needles.iter().all(|n| log.contains(n)) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {needles:?} in {log:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `message` and asserts that the same message (same type, same
/// bytes) comes back.
fn assert_echo(ws: &mut WebSocket<TcpStream>, message: &Message) {
    ws.send(message).expect("send");
    let echoed = ws
        .read()
        .expect("read the echo")
        .expect("an echo, not the end of the connection");
    assert_eq!(echoed.kind(), message.kind());
    assert!(
        echoed == *message,
        "echo differs ({} bytes sent)",
        message.len()
    );
}

fn echoes_text_and_binary_messages_with_their_type(example: &str) {
    let server = start(example, &[]);
    let mut ws = connect(server.addr);
    let mebibyte: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let messages = [
        Message::from(""),
        Message::from(Vec::new()),
        Message::from("hello"),
        Message::from("你好，世界 👋🦀 ñ"),
        Message::from((0..=255).collect::<Vec<u8>>()),
        Message::from(mebibyte),
        Message::from("狗🐕".repeat((1 << 20) / 7)),
    ];
    for message in &messages {
        assert_echo(&mut ws, message);
    }
}

fn serves_the_page_on_root(example: &str) {
    let server = start(example, &[]);
    let (status, head, body) = get(&server, "/");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\ncontent-type: text/html; charset=utf-8"),
        "{head}"
    );
    let body = String::from_utf8(body).expect("the page is UTF-8");
    assert!(body.contains("<html"));
    assert_eq!(body, include_str!("../examples/echo.html"));
    for id in ["status", "input", "send", "log"] {
        assert!(body.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
}

fn unknown_path_is_not_found(example: &str) {
    let server = start(example, &[]);
    for path in ["/nope", "/index.html", "/ws/extra"] {
        let (status, head, _) = get(&server, path);
        assert_eq!(status, 404, "GET {path}: {head}");
    }
}

fn protocol_violation_closes_only_that_connection_with_1002(example: &str) {
    let server = start(example, &[]);
    let mut good = connect(server.addr);
    assert_echo(&mut good, &Message::from("before"));

    // A raw client: a valid handshake, then an unmasked frame (§5.1: a
    // client must mask every frame).
    let mut bad = tcp(&server);
    write!(
        bad,
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        bad.read_exact(&mut byte).expect("read the 101 response");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_echo(&mut good, &Message::from("during"));

    bad.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let mut reply = Vec::new();
    bad.read_to_end(&mut reply)
        .expect("the server closes the TCP connection after its close frame");
    // An unmasked close frame (FIN + opcode 0x8) whose payload starts with 1002.
    assert!(reply.len() >= 4, "reply {reply:?}");
    assert_eq!(reply[0], 0x88, "reply {reply:?}");
    assert_eq!(usize::from(reply[1]), reply.len() - 2, "reply {reply:?}");
    assert_eq!(u16::from_be_bytes([reply[2], reply[3]]), 1002);

    // The other connection is untouched.
    for i in 0..10 {
        assert_echo(&mut good, &Message::from(format!("after {i}")));
    }
    assert_echo(&mut good, &Message::from(vec![0xff; 70_000]));
    // The failure was logged on one line with the bad peer's address.
    let peer = bad.local_addr().unwrap().to_string();
    let log = wait_for_log(&server, &[&peer, "1002"]);
    let line = log.lines().find(|l| l.contains(&peer)).unwrap();
    assert!(line.contains("unmasked"), "{line}");
}

fn fifty_concurrent_clients_each_get_their_own_echoes(example: &str) {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 20;
    let server = start(example, &[]);
    let addr = server.addr;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut ws = connect(addr);
                // Every client is connected before any sends: all 50 are open at once.
                barrier.wait();
                let sent: Vec<Message> = (0..MESSAGES)
                    .map(|i| match i % 2 {
                        0 => Message::from(format!("client {client} message {i} ✓")),
                        _ => Message::from(vec![client as u8; i * 100]),
                    })
                    .collect();
                for message in &sent {
                    ws.send(message).expect("send");
                }
                for message in &sent {
                    assert_eq!(ws.read().expect("read the echo").as_ref(), Some(message));
                }
                let frame = ws.close(CloseCode::NORMAL, "").expect("close");
                assert_eq!(frame.and_then(|f| f.code), Some(CloseCode::NORMAL));
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client thread failed");
    }
}

fn client_close_completes_cleanly(example: &str) {
    let server = start(example, &[]);
    let mut ws = connect(server.addr);
    assert_echo(&mut ws, &Message::from("bye soon"));
    let start = Instant::now();
    let frame = ws
        .close(CloseCode::NORMAL, "done")
        .expect("the close handshake completes");
    let frame = frame.expect("the server answers with a close frame");
    assert_eq!(frame.code, Some(CloseCode::NORMAL));
    assert_eq!(ws.read().expect("closed"), None);
    // The server closes the TCP connection first (§7.1.1): `close` returned
    // once it saw the server's EOF (a client waits for it), long before its
    // 10 s close timeout, and the socket reads EOF.
    assert!(ws.connection().may_close_transport());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let mut rest = Vec::new();
    ws.get_mut()
        .read_to_end(&mut rest)
        .expect("EOF from the server");
    assert!(rest.is_empty());
    // Nothing was logged: a clean close is not an error.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(server.process.stderr(), "");
}

fn help_and_bad_arguments(example: &str) {
    let help = Command::new(example_binary(example))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--addr HOST:PORT",
        "--no-deflate",
        "--deflate-context-takeover",
    ] {
        assert!(help.contains(flag), "no {flag} in {help}");
    }

    let bad = Command::new(example_binary(example))
        .arg("--port")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown argument"));
}

// ---- permessage-deflate ------------------------------------------------------------

/// Compressible text of exactly `len` bytes: words picked pseudo-randomly
/// from a small vocabulary, as in prose (not one repeated byte).
#[cfg(feature = "deflate")]
fn words(len: usize) -> String {
    const WORDS: [&str; 12] = [
        "echo ",
        "server ",
        "deflate ",
        "window ",
        "message ",
        "the ",
        "a ",
        "狗 ",
        "🦀 ",
        "context ",
        "takeover ",
        "frame ",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = String::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push_str(WORDS[(state % WORDS.len() as u64) as usize]);
    }
    while out.len() > len {
        out.pop();
    }
    while out.len() < len {
        out.push('.');
    }
    out
}

/// Sends `message`, reads its echo; returns the bytes each way on the wire.
#[cfg(feature = "deflate")]
fn echo_counted(ws: &mut WebSocket<Counted<TcpStream>>, message: &Message) -> (usize, usize) {
    let sent = send_counted(ws, message);
    let (echo, received) = read_counted(ws);
    assert_eq!(echo.kind(), message.kind());
    assert!(
        echo == *message,
        "echo differs ({} bytes sent)",
        message.len()
    );
    (sent, received)
}

/// By default the server accepts permessage-deflate with no context
/// takeover either way: messages cross compressed in both directions, a
/// message repeated costs as much as the first time (no shared window), and
/// neither end keeps zlib state between messages.
#[cfg(feature = "deflate")]
fn permessage_deflate_is_accepted_without_context_takeover_and_compresses_both_ways(example: &str) {
    let server = start(example, &[]);
    assert_eq!(
        server.extensions_answer("", DEFAULT_OFFER).as_deref(),
        Some(EXAMPLE_DEFLATE)
    );
    let (mut ws, response) = connect_counted(server.addr, "", DeflateConfig::default());
    assert_eq!(
        response.header_str("Sec-WebSocket-Extensions"),
        Some(EXAMPLE_DEFLATE)
    );
    let expected = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    assert_eq!(response.deflate(), Some(expected));

    // Small and large, text and binary: each frame is smaller than its
    // payload alone, both ways.
    let small = Message::from(words(200));
    let large = Message::from(words(2 << 20));
    let binary = Message::from(words(70_000).into_bytes());
    for message in [&small, &large, &binary] {
        let (sent, received) = echo_counted(&mut ws, message);
        assert!(
            sent < message.len() * 3 / 4 && received < message.len() * 3 / 4,
            "{} bytes crossed as {sent} and {received}",
            message.len()
        );
    }
    // A message the same as the one before is compressed afresh.
    let first = echo_counted(&mut ws, &small);
    let again = echo_counted(&mut ws, &small);
    assert_eq!(first, again, "no context takeover: the same bytes again");
    assert_eq!(ws.connection().deflate_state(), (false, false));
    // Messages under 16 bytes go uncompressed (a 2-byte header, 5 bytes).
    let (_, received) = echo_counted(&mut ws, &Message::from("short"));
    assert_eq!(received, 2 + 5);
    ws.close(CloseCode::NORMAL, "").expect("close");
}

/// `--deflate-context-takeover` accepts the offer as it is: both ends keep
/// their window, so a message repeated costs a few bytes.
#[cfg(feature = "deflate")]
fn deflate_context_takeover_flag_keeps_the_window_between_messages(example: &str) {
    let server = start(example, &["--deflate-context-takeover"]);
    assert_eq!(
        server.extensions_answer("", DEFAULT_OFFER).as_deref(),
        Some("permessage-deflate")
    );
    let (mut ws, response) = connect_counted(server.addr, "", DeflateConfig::default());
    assert_eq!(response.deflate(), Some(DeflateParams::default()));
    let message = Message::from(words(2000));
    let (sent, received) = echo_counted(&mut ws, &message);
    let (sent_again, received_again) = echo_counted(&mut ws, &message);
    assert!(
        sent_again < sent / 4 && received_again < received / 4,
        "the repeat took {sent_again} and {received_again} bytes, the first {sent} and {received}"
    );
    assert_eq!(ws.connection().deflate_state(), (true, true));
    ws.close(CloseCode::NORMAL, "").expect("close");
}

/// `--no-deflate` declines the offer: a megabyte crosses as a megabyte.
fn no_deflate_declines_permessage_deflate(example: &str) {
    let server = start(example, &["--no-deflate"]);
    assert_eq!(server.extensions_answer("", DEFAULT_OFFER), None);
    #[cfg(feature = "deflate")]
    {
        let (mut ws, response) = connect_counted(server.addr, "", DeflateConfig::default());
        assert_eq!(response.deflate(), None);
        assert_eq!(response.header_str("Sec-WebSocket-Extensions"), None);
        let message = Message::from(words(1 << 20));
        let (sent, received) = echo_counted(&mut ws, &message);
        assert!(sent > message.len() && received > message.len());
        ws.close(CloseCode::NORMAL, "").expect("close");
    }
    // Still an echo server.
    let mut ws = connect(server.addr);
    assert_echo(&mut ws, &Message::from("plain"));
}

/// `--deflate`, which once turned compression on, is still accepted by
/// `echo_server` and changes nothing (`tokio_echo_server`, newer, never had it).
#[test]
fn deflate_flag_is_accepted_as_the_default() {
    let server = start("echo_server", &["--deflate"]);
    assert_eq!(
        server.extensions_answer("", DEFAULT_OFFER).as_deref(),
        Some(EXAMPLE_DEFLATE)
    );
}

/// Issue 16, finding 10 (the blocking `echo_server`, a thread per
/// connection): past `--max-connections` a new client gets 503 before the
/// upgrade, those connected are echoed as before, and a freed place goes to
/// the next client.
#[test]
fn past_max_connections_a_client_gets_503_and_the_others_are_echoed() {
    use rfc6455::HandshakeError;
    use rfc6455::blocking::Error;

    let server = start("echo_server", &["--max-connections", "2"]);
    let url = format!("ws://{}/ws", server.addr);
    let try_connect = || match WebSocket::connect(tcp(&server), &url) {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Handshake(HandshakeError::UnexpectedStatus(status))) => Err(status),
        Err(e) => panic!("expected a 101 or a refusal, got {e}"),
    };
    let mut first = try_connect().expect("under the cap");
    let mut second = try_connect().expect("under the cap");
    assert_eq!(try_connect().err(), Some(503));
    let (status, head, _) = get(&server, "/");
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("Retry-After: 1"), "{head}");
    assert_echo(&mut first, &Message::from("still served"));
    assert_echo(&mut second, &Message::from("me too"));
    second.close(CloseCode::NORMAL, "").expect("close");
    drop(second);
    // Its place is free once its thread ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut newcomer = loop {
        match try_connect() {
            Ok(ws) => break ws,
            Err(503) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Err(status) => panic!("no place after one left: {status}"),
        }
    };
    assert_echo(&mut newcomer, &Message::from("in at last"));
    assert_eq!(try_connect().err(), Some(503), "full again");
    assert_echo(&mut first, &Message::from("and still served"));
    wait_for_log(&server, &["refusing new clients with 503"]);
}

/// `echo_server --help` states the cap and its default; a cap of 0 or a
/// missing number is refused.
#[test]
fn max_connections_is_documented_and_checked() {
    let help = Command::new(example_binary("echo_server"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--max-connections N"), "{help}");
    assert!(help.contains("(default 4096"), "{help}");
    for bad in [&["--max-connections", "0"][..], &["--max-connections"]] {
        let output = Command::new(example_binary("echo_server"))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
}
