//! permessage-deflate (RFC 7692) interop with real peers over loopback,
//! installed by `bash tests/peers/setup.sh`: Python `websockets` (compression
//! on by default) and Node `ws` (`perMessageDeflate`).
//!
//! * Their clients (`tests/peers/deflate_py_client.py`,
//!   `tests/peers/deflate_node_client.js`) against our `echo_server` and
//!   `tokio_echo_server`, each with its default policy (no context takeover
//!   either way) and with `--deflate-context-takeover`: each parameter
//!   combination they can offer, answered with exactly the parameters that
//!   follow from the offer and the policy, and messages from empty to 1 MiB.
//! * Our client, handshake done with the sans-IO API (offer → response →
//!   `Agreement` → `Connection::from_agreement`), against their compressing echo servers
//!   (`tests/peers/deflate_py_server.py`, `tests/peers/deflate_node_server.js`),
//!   with each of our parameter sets.
//! * Headless Chromium (`tests/peers/deflate_chromium.mjs`) from the echo
//!   page against `echo_server --deflate-context-takeover` and
//!   `tokio_echo_server --deflate-context-takeover` (tests/browser.rs drives
//!   it against the default policy).
//!
//! A missing peer fails the test (never skips it). The example binaries,
//! child processes and peer checks come from tests/app_harness; every child
//! is killed by its PID when its guard drops.
#![cfg(feature = "deflate")]

mod app_harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use app_harness::{
    Server, require_browser, require_node_ws, require_python_websockets, run_script,
    start_peer_server,
};
use rfc6455::blocking::WebSocket;
use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::{ClientHandshake, ClientOptions, Parsed, Response};
use rfc6455::{Agreement, CloseCode, Config, Connection, Message, Role};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

// ---- our echo_server against their clients ------------------------------------

/// The echo server's two permessage-deflate policies: the flags that select
/// it and its name for the peer scripts.
const DEFAULT_POLICY: (&[&str], &str) = (&[], "no-context-takeover");
const CONTEXT_TAKEOVER: (&[&str], &str) = (&["--deflate-context-takeover"], "context-takeover");

/// Runs `script` (by `interpreter`, in tests/peers) against the example
/// echo server `example` started with `policy`'s flags, telling it the policy.
fn their_client(example: &str, interpreter: &str, script: &str, (flags, policy): (&[&str], &str)) {
    let server = Server::start(example, flags);
    run_script(
        script,
        Command::new(interpreter)
            .arg(script)
            .arg(server.url(""))
            .arg(policy),
        CLIENT_TIMEOUT,
    );
}

#[test]
fn python_websockets_client_against_echo_server_with_deflate() {
    require_python_websockets();
    their_client(
        "echo_server",
        "python3",
        "deflate_py_client.py",
        DEFAULT_POLICY,
    );
}

#[test]
fn python_websockets_client_against_echo_server_with_deflate_context_takeover() {
    require_python_websockets();
    their_client(
        "echo_server",
        "python3",
        "deflate_py_client.py",
        CONTEXT_TAKEOVER,
    );
}

#[test]
fn node_ws_client_against_echo_server_with_deflate() {
    require_node_ws();
    their_client(
        "echo_server",
        "node",
        "deflate_node_client.js",
        DEFAULT_POLICY,
    );
}

#[test]
fn node_ws_client_against_echo_server_with_deflate_context_takeover() {
    require_node_ws();
    their_client(
        "echo_server",
        "node",
        "deflate_node_client.js",
        CONTEXT_TAKEOVER,
    );
}

#[test]
fn python_websockets_client_against_tokio_echo_server_with_deflate() {
    require_python_websockets();
    let script = "deflate_py_client.py";
    their_client("tokio_echo_server", "python3", script, DEFAULT_POLICY);
}

#[test]
fn python_websockets_client_against_tokio_echo_server_with_deflate_context_takeover() {
    require_python_websockets();
    let script = "deflate_py_client.py";
    their_client("tokio_echo_server", "python3", script, CONTEXT_TAKEOVER);
}

#[test]
fn node_ws_client_against_tokio_echo_server_with_deflate() {
    require_node_ws();
    let script = "deflate_node_client.js";
    their_client("tokio_echo_server", "node", script, DEFAULT_POLICY);
}

#[test]
fn node_ws_client_against_tokio_echo_server_with_deflate_context_takeover() {
    require_node_ws();
    let script = "deflate_node_client.js";
    their_client("tokio_echo_server", "node", script, CONTEXT_TAKEOVER);
}

/// Headless Chromium, which offers permessage-deflate by default, from the
/// echo page; needs `bash tests/browser/setup.sh` (Debian's chromium and
/// playwright-core).
#[test]
fn chromium_against_echo_server_with_deflate_context_takeover() {
    chromium_with_deflate_context_takeover("echo_server");
}

#[test]
fn chromium_against_tokio_echo_server_with_deflate_context_takeover() {
    chromium_with_deflate_context_takeover("tokio_echo_server");
}

fn chromium_with_deflate_context_takeover(example: &str) {
    require_browser();
    let server = Server::start(example, CONTEXT_TAKEOVER.0);
    let page = format!("http://{}/", server.addr);
    run_script(
        "deflate_chromium.mjs",
        Command::new("node")
            .arg("deflate_chromium.mjs")
            .arg(&page)
            .arg("permessage-deflate"),
        CLIENT_TIMEOUT,
    );
}

// ---- our client against their compressing servers ---------------------------

/// The opening handshake with the sans-IO API, offering `deflate`; the
/// connection gets the parameters the response agreed to.
fn connect(addr: SocketAddr, deflate: &DeflateConfig) -> (WebSocket<TcpStream>, Response) {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let options = ClientOptions {
        extensions: vec![deflate.offer()],
        ..ClientOptions::default()
    };
    let handshake = ClientHandshake::with_random_key(&format!("ws://{addr}/"), options).unwrap();
    stream.write_all(handshake.request()).unwrap();
    let mut buf = Vec::new();
    let (response, used) = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).expect("read the response");
        assert!(n > 0, "the peer closed during the handshake");
        buf.extend_from_slice(&chunk[..n]);
        match handshake.parse_response(&buf).expect("a valid response") {
            Parsed::Complete(response, used) => break (response, used),
            Parsed::Partial => {}
        }
    };
    let config = Config::default().deflate(deflate.clone());
    let agreement = Agreement::new(Role::Client).with_deflate(response.deflate());
    let mut conn = Connection::from_agreement(agreement, config);
    let rest = &buf[used..];
    assert_eq!(
        conn.receive(rest),
        rest.len(),
        "what followed the head fits"
    );
    (WebSocket::from_connection(stream, conn), response)
}

/// The same through the blocking adapter, which offers permessage-deflate
/// because `config.deflate` enables it.
fn connect_blocking(addr: SocketAddr, deflate: &DeflateConfig) -> (WebSocket<TcpStream>, Response) {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let config = Config::default().deflate(deflate.clone());
    let (ws, response) = WebSocket::connect_with(
        stream,
        &format!("ws://{addr}/"),
        ClientOptions::default(),
        config,
    )
    .expect("handshake");
    assert_eq!(ws.connection().deflate(), response.deflate());
    (ws, response)
}

fn text_of(size: usize) -> String {
    let words = ["deflate ", "window ", "message ", "狗🐕 "];
    let mut out = String::with_capacity(size);
    for i in 0.. {
        let w = words[i * 7 % words.len()];
        if out.len() + w.len() > size {
            break;
        }
        out.push_str(w);
    }
    while out.len() < size {
        out.push('x');
    }
    out
}

fn random_bytes(size: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ size as u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn assert_echo(ws: &mut WebSocket<TcpStream>, message: Message, what: &str) {
    ws.send(&message).expect("send");
    let echoed = ws.read().expect("read the echo");
    assert!(
        echoed.as_ref() == Some(&message),
        "{what}: echo differs ({} bytes sent)",
        message.len()
    );
}

/// Our parameter sets.
fn our_configs() -> Vec<(&'static str, DeflateConfig)> {
    let base = DeflateConfig::default().threshold(0);
    vec![
        ("default", DeflateConfig::default()),
        ("threshold 0", base.clone()),
        (
            "no context takeover",
            base.clone().no_context_takeover(true, true),
        ),
        (
            "server no context takeover",
            base.clone().no_context_takeover(true, false),
        ),
        ("9-bit windows", base.clone().max_window_bits(9, 9)),
        ("server 10, client 15", base.clone().max_window_bits(10, 15)),
        ("level 0", base.clone().level(0)),
        (
            "level 9, everything",
            base.level(9)
                .no_context_takeover(true, true)
                .max_window_bits(11, 12),
        ),
    ]
}

fn exercise_our_client(addr: SocketAddr) {
    for (i, (name, deflate)) in our_configs().into_iter().enumerate() {
        // Half through the sans-IO handshake, half through the adapter.
        let (mut ws, response) = if i % 2 == 0 {
            connect(addr, &deflate)
        } else {
            connect_blocking(addr, &deflate)
        };
        let agreed = response
            .deflate()
            .unwrap_or_else(|| panic!("{name}: the peer declined permessage-deflate"));
        // What the peer says it sent is what we agreed to.
        ws.send_text("extensions?").unwrap();
        let sent = ws
            .read()
            .expect("the peer's extensions")
            .expect("a message, not the end");
        assert_eq!(
            Some(sent.as_bytes()),
            response.header("Sec-WebSocket-Extensions"),
            "{name}"
        );
        for size in SIZES {
            assert_echo(
                &mut ws,
                Message::from(text_of(size)),
                &format!("{name}: text {size}"),
            );
            assert_echo(
                &mut ws,
                Message::from(random_bytes(size)),
                &format!("{name}: random {size}"),
            );
            assert_echo(
                &mut ws,
                Message::from(vec![0u8; size]),
                &format!("{name}: zeros {size}"),
            );
        }
        // Fragmented, compressed, with a ping between fragments.
        let conn = ws.connection_mut();
        conn.send_text_fragment("frag", false).unwrap();
        conn.send_text_fragment("", false).unwrap();
        conn.send_text_fragment(&"mented 文字 ".repeat(500), false)
            .unwrap();
        conn.send_text_fragment("🎉", true).unwrap();
        conn.send_binary_fragment(&[1, 2, 3], false).unwrap();
        conn.send_binary_fragment(&[], true).unwrap();
        ws.flush().unwrap();
        let expected = format!("frag{}🎉", "mented 文字 ".repeat(500));
        assert_eq!(
            ws.read().expect("fragmented text"),
            Some(Message::from(expected)),
            "{name}"
        );
        assert_eq!(
            ws.read().expect("fragmented binary"),
            Some(Message::from(vec![1u8, 2, 3])),
            "{name}"
        );
        // Many in flight: both windows stay in step.
        let batch: Vec<Message> = (0..100).map(|i| Message::from(text_of(i * 37))).collect();
        for message in &batch {
            ws.send(message).unwrap();
        }
        for (i, message) in batch.iter().enumerate() {
            assert!(
                ws.read().expect("pipelined echo").as_ref() == Some(message),
                "{name}: pipelined {i}"
            );
        }
        let sends_compressed = agreed.client_max_window_bits > 8;
        let takeover = !agreed.client_no_context_takeover;
        assert_eq!(
            ws.connection().deflate_state().0,
            sends_compressed && takeover,
            "{name}: compressor kept exactly with context takeover ({agreed})"
        );
        ws.close(CloseCode::NORMAL, "bye").expect("close");
    }
}

#[test]
fn our_client_against_python_websockets_server_with_deflate() {
    require_python_websockets();
    let (_server, addr) = start_peer_server(
        "deflate_py_server.py",
        Command::new("python3").arg("deflate_py_server.py"),
    );
    exercise_our_client(addr);
}

#[test]
fn our_client_against_node_ws_server_with_deflate() {
    require_node_ws();
    let (_server, addr) = start_peer_server(
        "deflate_node_server.js",
        Command::new("node").arg("deflate_node_server.js"),
    );
    exercise_our_client(addr);
}

// ---- the blocking adapter, both ends ----------------------------------------

#[test]
fn blocking_adapter_negotiates_in_both_roles() {
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_config = DeflateConfig::default().no_context_takeover(true, false);
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let config = Config::default().deflate(server_config);
        let mut ws = WebSocket::accept_with(stream, &Default::default(), config, |_| Ok(None))
            .expect("accept");
        let agreed = ws.connection().deflate();
        while let Some(message) = ws.read().expect("the echo server reads") {
            ws.send(&message).unwrap();
        }
        agreed
    });
    let (mut ws, response) = connect_blocking(addr, &DeflateConfig::default());
    let agreed = response.deflate().expect("deflate agreed");
    assert!(agreed.server_no_context_takeover && !agreed.client_no_context_takeover);
    for size in SIZES {
        assert_echo(
            &mut ws,
            Message::from(text_of(size)),
            &format!("text {size}"),
        );
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap(), Some(agreed));

    // Disabled on either side: nothing is negotiated.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept(stream).expect("accept");
        let agreed = ws.connection().deflate();
        while let Some(message) = ws.read().expect("the echo server reads") {
            ws.send(&message).unwrap();
        }
        agreed
    });
    let (mut ws, response) = connect_blocking(addr, &DeflateConfig::default());
    assert_eq!(response.deflate(), None);
    assert_echo(&mut ws, Message::from(text_of(1000)), "uncompressed");
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap(), None);
}
