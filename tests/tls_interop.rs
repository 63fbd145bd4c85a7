//! wss:// against third-party peers, with certificates generated here:
//! Python `websockets` and Node `ws` clients (tests/peers/py_client.py,
//! node_client.js, given the test CA through PEER_CA_FILE) against our TLS
//! example servers; our clients, blocking and tokio, against their TLS echo
//! servers (py_echo_server.py, node_echo_server.js with PEER_TLS_CERT and
//! PEER_TLS_KEY); headless Chromium loading examples/echo.html over HTTPS
//! and talking over wss:// (the test certificate pinned by its SPKI hash).
//! A missing peer fails the test (tests/peers/setup.sh and
//! tests/browser/setup.sh install them).

mod app_harness;
mod tls_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use app_harness::{
    EXAMPLE_DEFLATE, Process, browser_dir, example_binary, require_browser, require_node_ws,
    require_python_websockets, run_script, start_peer_server,
};
use rfc6455::handshake::ClientOptions;
use rfc6455::{CloseCode, Config, Event, Message};
use tls_support::{Pki, payload, pki, text};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
const SUBPROTOCOL: &str = "interop.v1";

/// The test CA and server certificate as PEM files, removed at the end.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn write(pki: &Pki) -> Files {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rfc6455-tls-interop-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), &pki.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), &pki.key_pem).unwrap();
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An example server with TLS; returns it with its port.
fn start_example(name: &str, files: &Files) -> (Process, u16) {
    let mut process = Process::spawn(
        name,
        Command::new(example_binary(name))
            .args(["--addr", "127.0.0.1:0"])
            .args(["--tls-cert", &files.path("cert.pem")])
            .args(["--tls-key", &files.path("key.pem")]),
    );
    let line = process.next_line(Duration::from_secs(10));
    let port = line
        .split_once(" listening on wss://")
        .and_then(|(_, rest)| rest.split_once("/ws"))
        .and_then(|(addr, _)| addr.parse::<SocketAddr>().ok())
        .map(|addr| addr.port());
    match port {
        Some(port) => (process, port),
        None => process.fail(&format!("unexpected first line {line:?}")),
    }
}

fn their_client(interpreter: &str, script: &str, example: &str) {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let files = Files::write(&pki);
    let (_server, port) = start_example(example, &files);
    run_script(
        script,
        Command::new(interpreter)
            .arg(script)
            .arg(format!("wss://localhost:{port}/ws"))
            .arg(EXAMPLE_DEFLATE)
            .env("PEER_CA_FILE", files.path("ca.pem")),
        SCRIPT_TIMEOUT,
    );
}

#[test]
fn python_websockets_client_against_our_wss_echo_server() {
    require_python_websockets();
    their_client("python3", "py_client.py", "echo_server");
}

#[test]
fn python_websockets_client_against_our_wss_tokio_echo_server() {
    require_python_websockets();
    their_client("python3", "py_client.py", "tokio_echo_server");
}

#[test]
fn node_ws_client_against_our_wss_echo_server() {
    require_node_ws();
    their_client("node", "node_client.js", "echo_server");
}

#[test]
fn node_ws_client_against_our_wss_tokio_echo_server() {
    require_node_ws();
    their_client("node", "node_client.js", "tokio_echo_server");
}

/// Their TLS echo server, started with the test certificate.
fn their_server(interpreter: &str, script: &str, files: &Files) -> (Process, u16) {
    let (process, addr) = start_peer_server(
        script,
        Command::new(interpreter)
            .arg(script)
            .env("PEER_TLS_CERT", files.path("cert.pem"))
            .env("PEER_TLS_KEY", files.path("key.pem")),
    );
    (process, addr.port())
}

fn options() -> ClientOptions {
    ClientOptions {
        protocols: vec!["x-unknown.v9".to_string(), SUBPROTOCOL.to_string()],
        ..ClientOptions::default()
    }
}

/// Our blocking client over wss://: subprotocol, sizes to 1 MiB, fragments
/// with a ping between them, the server's ping, the close handshake.
fn blocking_client_against(pki: &Pki, port: u16) {
    let url = format!("wss://localhost:{port}/echo");
    let (mut ws, response) = rfc6455::blocking::tls::connect_with(
        &url,
        Some(Arc::clone(&pki.client)),
        options(),
        Config::default(),
    )
    .expect("wss:// handshake with the peer");
    assert_eq!(response.protocol(), Some(SUBPROTOCOL));
    for (seed, len) in [0, 1, 125, 126, 65535, 65536, 1 << 20]
        .into_iter()
        .enumerate()
    {
        for message in [
            Message::text(text(seed, len)),
            Message::binary(payload(seed, len)),
        ] {
            ws.send(&message).unwrap();
            assert_eq!(ws.read().unwrap(), Some(message), "{len} bytes");
        }
    }
    let conn = ws.connection_mut();
    conn.send_text_fragment("frag", false).unwrap();
    conn.ping(b"between fragments").unwrap();
    conn.send_text_fragment("mented 文字 🎉", true).unwrap();
    ws.flush().unwrap();
    match ws.read_event().unwrap() {
        Some(Event::Pong(payload)) => assert_eq!(&payload[..], b"between fragments"),
        other => panic!("expected the pong, got {other:?}"),
    }
    assert_eq!(
        ws.read().unwrap(),
        Some(Message::text("fragmented 文字 🎉"))
    );
    // The server pings us (its `ping:` command); our automatic pong answers.
    ws.send_text("ping:from the peer").unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::text("pong ok")));
    let reply = ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(
        reply.map(|f| f.code_or_no_status()),
        Some(CloseCode::NORMAL)
    );
}

/// Our tokio client over wss://: sizes, the server's ping, the close.
fn tokio_client_against(pki: &Pki, port: u16) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("wss://localhost:{port}/echo");
        let (mut ws, response) = rfc6455::tokio::tls::connect_with(
            &url,
            Some(Arc::clone(&pki.client)),
            options(),
            Config::default(),
        )
        .await
        .expect("wss:// handshake with the peer");
        assert_eq!(response.protocol(), Some(SUBPROTOCOL));
        for (seed, len) in [0, 126, 65536, 1 << 20].into_iter().enumerate() {
            for message in [
                Message::text(text(seed, len)),
                Message::binary(payload(seed, len)),
            ] {
                ws.send(message.clone()).await.unwrap();
                assert_eq!(ws.recv().await.unwrap(), Some(message), "{len} bytes");
            }
        }
        ws.send(Message::text("ping:tokio")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("pong ok")));
        let reply = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert_eq!(
            reply.map(|f| f.code_or_no_status()),
            Some(CloseCode::NORMAL)
        );
    });
}

#[test]
fn our_clients_against_python_websockets_wss_server() {
    require_python_websockets();
    let pki = pki(&["localhost"]);
    let files = Files::write(&pki);
    let (_server, port) = their_server("python3", "py_echo_server.py", &files);
    blocking_client_against(&pki, port);
    tokio_client_against(&pki, port);
}

#[test]
fn our_clients_against_node_ws_wss_server() {
    require_node_ws();
    let pki = pki(&["localhost"]);
    let files = Files::write(&pki);
    let (_server, port) = their_server("node", "node_echo_server.js", &files);
    blocking_client_against(&pki, port);
    tokio_client_against(&pki, port);
}

#[test]
fn our_client_refuses_their_server_with_a_certificate_of_another_ca() {
    require_python_websockets();
    let pki = pki(&["localhost"]);
    let files = Files::write(&pki);
    let (_server, port) = their_server("python3", "py_echo_server.py", &files);
    let stranger = tls_support::pki(&["localhost"]).client;
    let error = rfc6455::blocking::tls::connect_with(
        &format!("wss://localhost:{port}/"),
        Some(stranger),
        options(),
        Config::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.tls_failure(),
        Some(rfc6455::tls::Failure::UntrustedCertificate),
        "{error:?}"
    );
}

/// Headless Chromium: examples/echo.html from echo_server over HTTPS, its
/// socket over wss://, permessage-deflate negotiated as over plain TCP.
/// Screenshot: target/browser/tls_echo.png.
#[test]
fn chromium_loads_the_echo_page_over_https_and_echoes_over_wss() {
    require_browser();
    for example in ["echo_server", "tokio_echo_server"] {
        let pki = pki(&["localhost", "127.0.0.1"]);
        let files = Files::write(&pki);
        let (server, port) = start_example(example, &files);
        let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser");
        std::fs::create_dir_all(&screenshots).unwrap();
        let mut scenario = Process::spawn(
            "tls_echo.mjs",
            Command::new("node")
                .arg("tls_echo.mjs")
                .arg(format!("https://127.0.0.1:{port}/"))
                .arg(&screenshots)
                .arg(EXAMPLE_DEFLATE)
                .env("CHROMIUM_SPKI_PIN", &pki.spki_pin)
                .current_dir(browser_dir()),
        );
        let status = scenario.wait(SCRIPT_TIMEOUT);
        if !status.success() {
            scenario.fail(&format!("failed ({status}) against {example}"));
        }
        if !scenario.stdout().contains("all checks passed") {
            scenario.fail("exited 0 without finishing its checks");
        }
        drop(server);
    }
}
