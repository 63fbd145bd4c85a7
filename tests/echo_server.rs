//! End-to-end tests of `examples/echo_server.rs`: the real binary on a free
//! port, driven over TCP by the crate's blocking client and by raw sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};
use std::{env, thread};

use rfc6455::blocking::{Error, WebSocket};
use rfc6455::{CloseCode, Message};

/// Read and write timeout of every test socket: no test can hang on a
/// server that stopped answering.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The example binary, built for the profile this test was built with.
///
/// `cargo test` builds examples, but `cargo test --test echo_server` does
/// not, so the binary could be missing or stale. This runs
/// `cargo build --example echo_server` once (a no-op when it is up to date)
/// and fails the test if the binary is still not where Cargo puts examples:
/// `target/<profile>/examples/`, next to this test's `target/<profile>/deps/`.
fn example_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build_example) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn build_example() -> Result<PathBuf, String> {
    let exe = env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => return Err(format!("no profile directory above {}", exe.display())),
    };
    let output = Command::new(env!("CARGO"))
        .args(["build", "--example", "echo_server", "--profile", profile])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .map_err(|e| format!("cannot run cargo to build the echo_server example: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build --example echo_server` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let binary = profile_dir
        .join("examples")
        .join(format!("echo_server{}", env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        return Err(format!(
            "echo_server example binary not found at {} (run `cargo build --example echo_server`)",
            binary.display()
        ));
    }
    Ok(binary)
}

/// A running echo server. Dropping it kills that one process.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Everything the server wrote to stderr so far.
    stderr: Arc<Mutex<String>>,
    /// Kept open so that the server never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts the example on a port the OS picks and learns the port from
    /// the line the server prints at start.
    fn start() -> Server {
        let mut child = Command::new(example_binary())
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the echo_server example");

        // Collect stderr (the per-connection error log) as it comes.
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        // Read the first stdout line on a thread, so a server that never
        // prints fails the test instead of hanging it.
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let result = stdout.read_line(&mut line).map(|_| line);
            let _ = tx.send((result, stdout));
        });
        let (line, stdout) = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((Ok(line), stdout)) if !line.is_empty() => (line, stdout),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                thread::sleep(Duration::from_millis(100)); // let stderr arrive
                panic!(
                    "echo_server did not print its address ({:?}); stderr: {}",
                    other.map(|(line, _)| line),
                    stderr.lock().unwrap()
                );
            }
        };
        let addr = line
            .strip_prefix("echo server listening on ws://")
            .and_then(|rest| rest.split_once("/ws (page: http://"))
            .and_then(|(addr, page)| {
                let addr: SocketAddr = addr.parse().ok()?;
                (page.trim_end() == format!("{addr}/)")).then_some(addr)
            });
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected first line from echo_server: {line:?}");
        };
        Server {
            child,
            addr,
            stderr,
            _stdout: stdout,
        }
    }

    /// A WebSocket client connected to `/ws`.
    fn connect(&self) -> WebSocket<TcpStream> {
        let stream = self.tcp();
        let (ws, response) = WebSocket::connect(stream, &format!("ws://{}/ws", self.addr))
            .expect("WebSocket handshake with the echo server");
        assert_eq!(response.status(), 101);
        ws
    }

    /// A plain TCP connection with the test timeouts.
    fn tcp(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the echo server");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// `GET path` over a fresh connection: the status, the head and the body.
    fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        let mut stream = self.tcp();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("read the HTTP response");
        let end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete HTTP head");
        let head = String::from_utf8(response[..end].to_vec()).expect("an ASCII head");
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line in {head:?}"));
        (status, head, response[end + 4..].to_vec())
    }

    /// Waits until the server's stderr contains all of `needles`.
    fn wait_for_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let log = self.stderr.lock().unwrap().clone();
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let server = Server::start();
    let mut ws = server.connect();
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
    let server = Server::start();
    let (status, head, body) = server.get("/");
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
    let server = Server::start();
    for path in ["/nope", "/index.html", "/ws/extra"] {
        let (status, head, _) = server.get(path);
        assert_eq!(status, 404, "GET {path}: {head}");
    }
}

#[test]
fn protocol_violation_closes_only_that_connection_with_1002() {
    let server = Server::start();
    let mut good = server.connect();
    assert_echo(&mut good, &Message::from("before"));

    // A raw client: a valid handshake, then an unmasked frame (§5.1: a
    // client must mask every frame).
    let mut bad = server.tcp();
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
    let log = server.wait_for_log(&[&peer, "1002"]);
    let line = log.lines().find(|l| l.contains(&peer)).unwrap();
    assert!(line.contains("unmasked"), "{line}");
}

#[test]
fn fifty_concurrent_clients_each_get_their_own_echoes() {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 20;
    let server = Arc::new(Server::start());
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let server = Arc::clone(&server);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut ws = server.connect();
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
    let server = Server::start();
    let mut ws = server.connect();
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
    assert_eq!(*server.stderr.lock().unwrap(), "");
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(example_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--addr HOST:PORT"));

    let bad = Command::new(example_binary())
        .arg("--port")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown argument"));
}
