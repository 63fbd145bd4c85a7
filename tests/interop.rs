//! Interop with real third-party WebSocket peers over loopback: Python
//! `websockets` and Node `ws`, installed by `bash tests/peers/setup.sh`
//! (pinned in `tests/peers/requirements.txt` and
//! `tests/peers/package-lock.json`).
//!
//! * Their clients (`tests/peers/py_client.py`, `tests/peers/node_client.js`)
//!   against our `echo_server` example and its twin on the async adapter,
//!   `tokio_echo_server`: the scripts assert every echo, pong
//!   and close code themselves and exit non-zero on the first mismatch.
//!   Both offer permessage-deflate, as they do by default: against the
//!   server's defaults they must report it negotiated with the parameters
//!   the examples answer with (no context takeover either way), against
//!   `--no-deflate` not at all.
//! * Our blocking client against their servers
//!   (`tests/peers/py_echo_server.py`, `tests/peers/node_echo_server.js`),
//!   uncompressed: `Config::default()` offers no extension. Compression with
//!   their servers is tested in tests/deflate_interop.rs.
//!
//! A missing peer fails the test (never skips it). Every socket and every
//! child process is bounded by a timeout; each child is killed by its PID
//! when its guard drops, and prints what it wrote to stderr if the test failed.

mod app_harness;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use app_harness::{
    EXAMPLE_DEFLATE, Server, require_node_ws, require_python_websockets, run_script,
    start_echo_server, start_peer_server,
};
use rfc6455::blocking::WebSocket;
use rfc6455::handshake::ClientOptions;
use rfc6455::{CloseCode, Config, Event, Message};

/// Read and write timeout of every socket the Rust side opens (the
/// adapter then sets its own: the handshake deadline, its timers).
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole peer client script may run (it takes well under a second).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Payload sizes across the three length forms (§5.2): 7-bit, 16-bit, 64-bit.
const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

/// The subprotocol the peer servers accept.
const SUBPROTOCOL: &str = "interop.v1";

// ---- their clients against our server ---------------------------------------

/// Runs `script` (in tests/peers, by `interpreter`) against `server`,
/// expecting the server to answer its permessage-deflate offer with
/// `extensions` ("" for none).
fn their_client(interpreter: &str, script: &str, server: &Server, extensions: &str) {
    run_script(
        script,
        Command::new(interpreter)
            .arg(script)
            .arg(server.url(""))
            .arg(extensions),
        CLIENT_TIMEOUT,
    );
}

#[test]
fn python_websockets_client_against_echo_server() {
    require_python_websockets();
    let server = start_echo_server();
    their_client("python3", "py_client.py", &server, EXAMPLE_DEFLATE);
}

#[test]
fn python_websockets_client_against_echo_server_with_no_deflate() {
    require_python_websockets();
    let server = Server::start("echo_server", &["--no-deflate"]);
    their_client("python3", "py_client.py", &server, "");
}

#[test]
fn node_ws_client_against_echo_server() {
    require_node_ws();
    let server = start_echo_server();
    their_client("node", "node_client.js", &server, EXAMPLE_DEFLATE);
}

#[test]
fn node_ws_client_against_echo_server_with_no_deflate() {
    require_node_ws();
    let server = Server::start("echo_server", &["--no-deflate"]);
    their_client("node", "node_client.js", &server, "");
}

#[test]
fn python_websockets_client_against_tokio_echo_server() {
    require_python_websockets();
    let server = Server::start("tokio_echo_server", &[]);
    their_client("python3", "py_client.py", &server, EXAMPLE_DEFLATE);
}

#[test]
fn python_websockets_client_against_tokio_echo_server_with_no_deflate() {
    require_python_websockets();
    let server = Server::start("tokio_echo_server", &["--no-deflate"]);
    their_client("python3", "py_client.py", &server, "");
}

#[test]
fn node_ws_client_against_tokio_echo_server() {
    require_node_ws();
    let server = Server::start("tokio_echo_server", &[]);
    their_client("node", "node_client.js", &server, EXAMPLE_DEFLATE);
}

#[test]
fn node_ws_client_against_tokio_echo_server_with_no_deflate() {
    require_node_ws();
    let server = Server::start("tokio_echo_server", &["--no-deflate"]);
    their_client("node", "node_client.js", &server, "");
}

// ---- our client against their servers ----------------------------------------

#[test]
fn our_client_against_python_websockets_server() {
    require_python_websockets();
    let (_server, addr) = start_peer_server(
        "py_echo_server.py",
        Command::new("python3").arg("py_echo_server.py"),
    );
    exercise_our_client(addr);
}

#[test]
fn our_client_against_node_ws_server() {
    require_node_ws();
    let (_server, addr) = start_peer_server(
        "node_echo_server.js",
        Command::new("node").arg("node_echo_server.js"),
    );
    exercise_our_client(addr);
}

/// Opens a TCP connection with the test timeouts and does the handshake,
/// offering `protocols`.
fn connect(
    addr: SocketAddr,
    protocols: &[&str],
) -> (WebSocket<TcpStream>, rfc6455::handshake::Response) {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to the peer");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let options = ClientOptions {
        protocols: protocols.iter().map(|p| p.to_string()).collect(),
        ..ClientOptions::default()
    };
    let (ws, response) = WebSocket::connect_with(
        stream,
        &format!("ws://{addr}/echo"),
        options,
        Config::default(),
    )
    .expect("WebSocket handshake with the peer");
    assert_eq!(response.status(), 101);
    (ws, response)
}

/// Sends `message` and asserts that the same message comes back.
fn assert_echo(ws: &mut WebSocket<TcpStream>, message: &Message) {
    ws.send(message).expect("send");
    let echoed = ws
        .read()
        .expect("read the echo")
        .expect("an echo, not the end of the connection");
    assert_eq!(
        echoed.kind(),
        message.kind(),
        "echo of {} bytes",
        message.len()
    );
    assert!(
        echoed == *message,
        "echo differs ({:?} of {} bytes sent)",
        message.kind(),
        message.len()
    );
}

/// Reads the next event, which must be a pong with `payload`.
fn assert_pong(ws: &mut WebSocket<TcpStream>, payload: &[u8]) {
    match ws.read_event().expect("read the pong") {
        Some(Event::Pong(got)) => assert_eq!(&got[..], payload, "pong payload"),
        other => panic!(
            "expected a pong with {} bytes, got {other:?}",
            payload.len()
        ),
    }
}

/// The server closes the TCP connection after the close handshake (§7.1.1):
/// the client sees end-of-file, and nothing after the close frame. Called
/// right after `read_event` returned the peer's [`Event::Close`] (our reply
/// sent), before the adapter's teardown reads (and discards) the rest, so
/// that the socket is read here.
fn assert_eof(ws: &mut WebSocket<TcpStream>) {
    let mut rest = Vec::new();
    ws.get_mut()
        .read_to_end(&mut rest)
        .expect("end-of-file from the server after the close handshake");
    assert!(rest.is_empty(), "bytes after the close frame: {rest:?}");
    // The adapter's teardown sees the end-of-file too.
    assert_eq!(ws.read().expect("the end of the connection"), None);
    assert!(ws.connection().may_close_transport());
}

fn exercise_our_client(addr: SocketAddr) {
    // The peer picks our second offer, the one it supports.
    let (mut ws, response) = connect(addr, &["x-unknown.v9", SUBPROTOCOL]);
    assert_eq!(
        response.protocol(),
        Some(SUBPROTOCOL),
        "selected subprotocol"
    );
    assert_eq!(
        response.header_str("Sec-WebSocket-Protocol"),
        Some(SUBPROTOCOL)
    );

    for size in SIZES {
        let text: String = (0..size)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        assert_echo(&mut ws, &Message::from(text));
        let binary: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        assert_echo(&mut ws, &Message::from(binary));
    }
    assert_echo(
        &mut ws,
        &Message::from("你好，世界！WebSocket 测试 🦀🎉👋🏽 ñ"),
    );
    assert_echo(&mut ws, &Message::from("狗🐕".repeat(40_000)));

    // Fragmented messages, with a ping between two fragments.
    let conn = ws.connection_mut();
    conn.send_text_fragment("frag", false).unwrap();
    conn.send_text_fragment("", false).unwrap();
    conn.ping(b"between fragments").unwrap();
    conn.send_text_fragment("mented 文字 ", false).unwrap();
    conn.send_text_fragment("🎉", true).unwrap();
    ws.flush().expect("flush the fragments");
    assert_pong(&mut ws, b"between fragments");
    assert_eq!(
        ws.read().expect("the fragmented text"),
        Some(Message::from("fragmented 文字 🎉"))
    );
    let conn = ws.connection_mut();
    conn.send_binary_fragment(&[0, 1], false).unwrap();
    conn.send_binary_fragment(&[2; 70_000], false).unwrap();
    conn.send_binary_fragment(&[0xff], true).unwrap();
    ws.flush().expect("flush the fragments");
    let mut expected = vec![0, 1];
    expected.extend_from_slice(&[2; 70_000]);
    expected.push(0xff);
    assert_eq!(
        ws.read().expect("the fragmented binary"),
        Some(Message::from(expected))
    );

    // Our pings are answered with their payload.
    for payload in [&b"rust-ping"[..], b"", &[0x5a; 125]] {
        ws.ping(payload).expect("ping");
        assert_pong(&mut ws, payload);
    }
    // The peer's ping is answered by our automatic pong.
    for payload in ["from-peer", ""] {
        ws.send_text(&format!("ping:{payload}"))
            .expect("ask for a ping");
        assert_eq!(
            ws.read().expect("the peer's verdict"),
            Some(Message::from("pong ok"))
        );
    }

    // Many messages in flight before the first echo is read: order is kept.
    let batch: Vec<Message> = (0..200)
        .map(|i| match i % 2 {
            0 => Message::from(vec![i as u8; i * 5]),
            _ => Message::from(format!("message {i} ✓")),
        })
        .collect();
    for message in &batch {
        ws.send(message).expect("send");
    }
    for (i, message) in batch.iter().enumerate() {
        assert_eq!(
            ws.read().expect("read the echo").as_ref(),
            Some(message),
            "pipelined message {i}"
        );
    }

    // We close: the peer echoes the code, then closes TCP. `close` returns
    // once the close handshake is done and the peer's end-of-file seen
    // (well before the 10 s close timeout).
    let start = std::time::Instant::now();
    let frame = ws
        .close(CloseCode::NORMAL, "bye from rust 再见")
        .expect("the close handshake completes")
        .expect("the peer answers with a close frame");
    assert_eq!(frame.code, Some(CloseCode::NORMAL));
    assert!(
        ws.connection().may_close_transport(),
        "the peer's end-of-file was seen"
    );
    assert!(start.elapsed() < IO_TIMEOUT, "{:?}", start.elapsed());
    for _ in 0..2 {
        assert_eq!(ws.read().expect("closed"), None);
    }

    // Offering nothing selects nothing; the peer closes with its own code.
    let (mut ws, response) = connect(addr, &[]);
    assert_eq!(response.protocol(), None);
    assert_echo(&mut ws, &Message::from("second connection"));
    ws.send_text("close:4000:server says bye")
        .expect("ask the peer to close");
    match ws.read_event() {
        Ok(Some(Event::Close(frame))) => {
            assert_eq!(frame.code, Some(CloseCode(4000)));
            assert_eq!(frame.reason, "server says bye");
        }
        other => panic!("expected the peer's close 4000, got {other:?}"),
    }
    assert_eof(&mut ws);
}
