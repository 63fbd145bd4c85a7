//! The examples over TLS: `echo_server`, `tokio_echo_server`,
//! `chat_server`, `axum_chat` and `vote_server` started with `--tls-cert FILE --tls-key FILE` (PEM files
//! of a CA and a certificate generated here) serve their page over HTTPS
//! and their socket as wss:// on the same port, and answer a plain-HTTP
//! client with a TLS alert; the `client` example talks to them with
//! `--ca FILE` and refuses a server its CA file does not vouch for.

mod app_harness;
mod tls_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app_harness::{Process, example_binary};
use rfc6455::blocking::tls::{self, TlsStream};
use rfc6455::blocking::{Transport, WebSocket};
use rfc6455::handshake::ClientOptions;
use rfc6455::tls::rustls::pki_types::ServerName;
use rfc6455::{CloseCode, Config, Message};
use tls_support::{Pki, pki};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// PEM files in a directory of their own, removed at the end.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn write(pki: &Pki) -> Files {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rfc6455-tls-{}-{n}", std::process::id()));
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

/// Starts example `name` with TLS on a free port; its first line must name
/// the wss:// socket and the https:// page.
fn start(name: &str, files: &Files, args: &[&str]) -> (Process, SocketAddr) {
    let mut process = Process::spawn(
        name,
        Command::new(example_binary(name))
            .args(["--addr", "127.0.0.1:0"])
            .args(["--tls-cert", &files.path("cert.pem")])
            .args(["--tls-key", &files.path("key.pem")])
            .args(args),
    );
    let line = process.next_line(IO_TIMEOUT);
    let addr = line
        .split_once(" listening on wss://")
        .and_then(|(_, rest)| rest.split_once("/ws (page: https://"))
        .and_then(|(addr, page)| {
            let addr: SocketAddr = addr.parse().ok()?;
            (page == format!("{addr}/)")).then_some(addr)
        });
    match addr {
        Some(addr) => (process, addr),
        None => process.fail(&format!("unexpected first line {line:?}")),
    }
}

/// `GET /` over HTTPS: the status and the body.
fn https_get(pki: &Pki, addr: SocketAddr) -> (u16, String) {
    let tcp = TcpStream::connect(addr).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsStream::connect(tcp, Arc::clone(&pki.client), name, Some(IO_TIMEOUT)).unwrap();
    tls.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        tls,
        "GET / HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        addr.port()
    )
    .unwrap();
    tls.flush().unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

/// A plain-HTTP request on the TLS port: a TLS alert comes back at once.
fn plain_http_gets_an_alert(addr: SocketAddr) {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert_eq!(answer.first(), Some(&0x15), "a TLS alert: {answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn wss(pki: &Pki, addr: SocketAddr, query: &str) -> WebSocket<tls::MaybeTlsStream> {
    let url = format!("wss://localhost:{}/ws{query}", addr.port());
    let config = Config::default().deflate(rfc6455::deflate::DeflateConfig::default());
    let (ws, response) = tls::connect_with(
        &url,
        Some(Arc::clone(&pki.client)),
        ClientOptions::default(),
        config,
    )
    .unwrap();
    assert!(response.deflate().is_some(), "the examples accept deflate");
    ws
}

fn echo_server_over_tls(name: &str) {
    let pki = pki(&["localhost"]);
    let files = Files::write(&pki);
    let (_server, addr) = start(name, &files, &[]);
    let (status, body) = https_get(&pki, addr);
    assert_eq!(status, 200);
    assert!(
        body.contains("<html") || body.contains("<!DOCTYPE"),
        "{body}"
    );
    let mut ws = wss(&pki, addr, "");
    for len in [0, 10, 70_000, 1 << 20] {
        let message = Message::binary(tls_support::payload(len, len));
        ws.send(&message).unwrap();
        assert_eq!(ws.read().unwrap(), Some(message));
    }
    let reply = ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        reply.map(|f| f.code_or_no_status()),
        Some(CloseCode::NORMAL)
    );
    plain_http_gets_an_alert(addr);
}

#[test]
fn echo_server_serves_https_and_wss_on_one_port() {
    echo_server_over_tls("echo_server");
}

#[test]
fn tokio_echo_server_serves_https_and_wss_on_one_port() {
    echo_server_over_tls("tokio_echo_server");
}

#[test]
fn chat_server_serves_https_and_wss_on_one_port() {
    chat_over_tls("chat_server");
}

#[test]
fn axum_chat_serves_https_and_wss_on_one_port() {
    chat_over_tls("axum_chat");
}

fn chat_over_tls(name: &str) {
    let pki = pki(&["localhost"]);
    let files = Files::write(&pki);
    let (_server, addr) = start(name, &files, &[]);
    assert_eq!(https_get(&pki, addr).0, 200);
    let mut alice = wss(&pki, addr, "?name=alice");
    let welcome = alice.read().unwrap().unwrap();
    let Message::Text(welcome) = welcome else {
        panic!("{welcome:?}")
    };
    assert!(welcome.contains(r#""type":"welcome""#), "{welcome}");
    assert!(welcome.contains(r#""you":"alice""#), "{welcome}");
    // A second member over TLS sees alice's message: the split halves of
    // both (reader and writer threads) work over TLS.
    let mut bob = wss(&pki, addr, "?name=bob");
    let _ = bob.read().unwrap(); // welcome
    alice
        .send_text(r#"{"type":"message","text":"hi over tls"}"#)
        .unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "bob never saw alice's message");
        if let Some(Message::Text(text)) = bob.read().unwrap()
            && text.contains("hi over tls")
        {
            assert!(text.contains(r#""from":"alice""#), "{text}");
            break;
        }
    }
    alice.close(CloseCode::NORMAL, "").unwrap();
    bob.close(CloseCode::NORMAL, "").unwrap();
    plain_http_gets_an_alert(addr);
}

#[test]
fn vote_server_serves_https_and_wss_on_one_port() {
    let pki = pki(&["localhost"]);
    let files = Files::write(&pki);
    let (_server, addr) = start("vote_server", &files, &[]);
    let (status, body) = https_get(&pki, addr);
    assert_eq!(status, 200);
    assert!(
        body.contains("<html") || body.contains("<!DOCTYPE"),
        "{body}"
    );
    let mut ws = wss(&pki, addr, "");
    let text = |message: Option<Message>| match message {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected counts, got {other:?}"),
    };
    let first = text(ws.read().unwrap());
    assert!(
        first.contains(r#""type":"counts""#) && first.contains(r#""total":0"#),
        "{first}"
    );
    ws.send_text(r#"{"vote":"Rust"}"#).unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "the vote never showed");
        let counts = text(ws.read().unwrap());
        if counts.contains(r#""total":1"#) {
            break;
        }
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    plain_http_gets_an_alert(addr);
}

#[test]
fn client_example_talks_wss_with_ca_and_refuses_an_unknown_ca() {
    let pki = pki(&["localhost"]);
    let files = Files::write(&pki);
    let (_server, addr) = start("echo_server", &files, &[]);
    let url = format!("wss://localhost:{}/ws", addr.port());
    let mut client = Process::spawn(
        "client",
        Command::new(example_binary("client"))
            .args(["--ca", &files.path("ca.pem")])
            .arg(&url),
    );
    writeln!(client.stdin(), "hello over tls").unwrap();
    client.close_stdin();
    let status = client.wait(IO_TIMEOUT);
    if !status.success() {
        client.fail(&format!("exited with {status}"));
    }
    assert_eq!(client.stdout(), "hello over tls\n");
    assert!(
        client.stderr().contains("closed: 1000"),
        "{}",
        client.stderr()
    );

    // Another CA: the server's certificate is not trusted.
    let stranger = pki_files_of_another_ca();
    let output = Command::new(example_binary("client"))
        .args(["--ca", &stranger.path("ca.pem")])
        .arg(&url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not trusted"), "{stderr}");
}

fn pki_files_of_another_ca() -> Files {
    Files::write(&pki(&["localhost"]))
}

#[test]
fn half_the_tls_flags_is_a_usage_error() {
    for name in ["echo_server", "tokio_echo_server", "chat_server"] {
        let output = Command::new(example_binary(name))
            .args(["--addr", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--tls-key"), "{name}: {stderr}");
    }
}
