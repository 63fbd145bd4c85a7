//! End-to-end tests of `examples/echo_server.rs`: the real binary on a free
//! port, driven over TCP by the crate's blocking client and by raw sockets.

mod app_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use app_harness::{Server, example_binary, http_get, start_echo_server, tcp_with_timeout};
use rfc6455::blocking::{Error, WebSocket};
use rfc6455::{CloseCode, Message};

/// Read and write timeout of every test socket: no test can hang on a
/// server that stopped answering.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

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
    let echoed = ws.read().expect("read the echo");
    assert_eq!(echoed.kind(), message.kind());
    assert!(
        echoed == *message,
        "echo differs ({} bytes sent)",
        message.len()
    );
}

#[test]
fn echoes_text_and_binary_messages_with_their_type() {
    let server = start_echo_server();
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

#[test]
fn serves_the_page_on_root() {
    let server = start_echo_server();
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

#[test]
fn unknown_path_is_not_found() {
    let server = start_echo_server();
    for path in ["/nope", "/index.html", "/ws/extra"] {
        let (status, head, _) = get(&server, path);
        assert_eq!(status, 404, "GET {path}: {head}");
    }
}

#[test]
fn protocol_violation_closes_only_that_connection_with_1002() {
    let server = start_echo_server();
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

#[test]
fn fifty_concurrent_clients_each_get_their_own_echoes() {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 20;
    let server = start_echo_server();
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
                    assert_eq!(ws.read().expect("read the echo"), *message);
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

#[test]
fn client_close_completes_cleanly() {
    let server = start_echo_server();
    let mut ws = connect(server.addr);
    assert_echo(&mut ws, &Message::from("bye soon"));
    let frame = ws
        .close(CloseCode::NORMAL, "done")
        .expect("the close handshake completes");
    let frame = frame.expect("the server answers with a close frame");
    assert_eq!(frame.code, Some(CloseCode::NORMAL));
    assert!(matches!(ws.read(), Err(Error::Closed(_))));
    // The server closes the TCP connection first (§7.1.1): we see EOF.
    let mut rest = Vec::new();
    ws.get_mut()
        .read_to_end(&mut rest)
        .expect("EOF from the server");
    assert!(rest.is_empty());
    // Nothing was logged: a clean close is not an error.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(server.process.stderr(), "");
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(example_binary("echo_server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--addr HOST:PORT"));

    let bad = Command::new(example_binary("echo_server"))
        .arg("--port")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown argument"));
}
