//! Interop with real third-party WebSocket peers over loopback: Python
//! `websockets` and Node `ws`, installed by `bash tests/peers/setup.sh`
//! (pinned in `tests/peers/requirements.txt` and
//! `tests/peers/package-lock.json`).
//!
//! * Their clients (`tests/peers/py_client.py`, `tests/peers/node_client.js`)
//!   against our `echo_server` example: the scripts assert every echo, pong
//!   and close code themselves and exit non-zero on the first mismatch.
//! * Our blocking client against their servers
//!   (`tests/peers/py_echo_server.py`, `tests/peers/node_echo_server.js`).
//!
//! A missing peer fails the test (never skips it). Every socket and every
//! child process is bounded by a timeout; each child is killed by its PID
//! when its guard drops, and prints what it wrote to stderr if the test failed.

use std::env;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::{Error, WebSocket};
use rfc6455::handshake::ClientOptions;
use rfc6455::{CloseCode, Config, Event, Message};

/// Read and write timeout of every socket the Rust side opens.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a peer server may take to print its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a whole peer client script may run (it takes well under a second).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Payload sizes across the three length forms (§5.2): 7-bit, 16-bit, 64-bit.
const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

/// The subprotocol the peer servers accept.
const SUBPROTOCOL: &str = "interop.v1";

const SETUP_HINT: &str = "run bash tests/peers/setup.sh";

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

// ---- the peers are installed ---------------------------------------------

/// Panics (never skips) unless `python3` imports `websockets`.
fn require_python_websockets() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        require(
            Command::new("python3").args(["-c", "import websockets"]),
            "python3 module `websockets`",
        )
    });
    if let Err(message) = checked {
        panic!("{message}");
    }
}

/// Panics (never skips) unless `node` finds `ws` in tests/peers/node_modules.
fn require_node_ws() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        require(
            Command::new("node")
                .args(["-e", "require('ws')"])
                .current_dir(peers_dir()),
            "node module `ws` (in tests/peers/node_modules)",
        )
    });
    if let Err(message) = checked {
        panic!("{message}");
    }
}

fn require(command: &mut Command, what: &str) -> Result<(), String> {
    match command.stdin(Stdio::null()).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "{what} is missing: {SETUP_HINT}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )),
        Err(e) => Err(format!("cannot run {command:?} ({e}): {SETUP_HINT}")),
    }
}

// ---- child processes ------------------------------------------------------

/// A running child process. Dropping it kills that one process (by its
/// PID, through `Child::kill`) and, if the test is failing, prints what the
/// process wrote.
struct Process {
    name: String,
    child: Child,
    /// Lines from stdout, as they come.
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// Whether a panic message already carried [`logs`](Self::logs).
    logs_shown: bool,
}

impl Process {
    /// Starts `command` in tests/peers with stdout and stderr captured. Its
    /// stdin is a pipe held open until the guard drops: the peer servers
    /// exit when it closes, so they cannot outlive a test killed abruptly.
    fn spawn(name: &str, command: &mut Command) -> Process {
        let mut child = command
            .current_dir(peers_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}; {SETUP_HINT}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let out_log = Arc::clone(&stdout);
        let mut err = child.stderr.take().expect("stderr is piped");
        let err_log = Arc::clone(&stderr);
        let readers = vec![
            thread::spawn(move || {
                for line in out.lines() {
                    let Ok(line) = line else { break };
                    out_log.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            }),
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = err.read(&mut buf) {
                    err_log
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }),
        ];
        Process {
            name: name.to_owned(),
            child,
            lines,
            stdout,
            stderr,
            readers,
            logs_shown: false,
        }
    }

    /// The first line the process prints on stdout.
    fn first_line(&mut self) -> String {
        match self.lines.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => self.fail(&format!("printed no line within {START_TIMEOUT:?}")),
        }
    }

    /// Waits for the process to exit, at most `timeout`, then for its
    /// output to be read to the end.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => self.fail(&format!("did not finish within {timeout:?}")),
                Err(e) => panic!("waiting for {}: {e}", self.name),
            }
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    /// Fails the test with `problem` and everything the process wrote.
    fn fail(&mut self, problem: &str) -> ! {
        self.logs_shown = true;
        panic!("{}: {problem}\n{}", self.name, self.logs())
    }

    fn logs(&self) -> String {
        format!(
            "--- {name} stderr ---\n{}--- {name} stdout ---\n{}---",
            self.stderr.lock().unwrap(),
            self.stdout.lock().unwrap(),
            name = self.name
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() && !self.logs_shown {
            // Give the readers a moment to collect the last words.
            thread::sleep(Duration::from_millis(100));
            eprintln!("{}", self.logs());
        }
    }
}

/// Runs a peer client script to the end and asserts that it succeeded.
fn run_client(name: &str, command: &mut Command) {
    let mut client = Process::spawn(name, command);
    let status = client.wait(CLIENT_TIMEOUT);
    if !status.success() {
        client.fail(&format!("failed ({status})"));
    }
    if !client.stdout.lock().unwrap().contains("all checks passed") {
        client.fail("exited 0 without finishing its checks");
    }
}

/// A peer server: its first line is `listening on PORT`.
fn start_peer_server(name: &str, command: &mut Command) -> (Process, SocketAddr) {
    let mut server = Process::spawn(name, command);
    let line = server.first_line();
    let Some(port) = line
        .strip_prefix("listening on ")
        .and_then(|port| port.trim().parse::<u16>().ok())
    else {
        server.fail(&format!("unexpected first line {line:?}"));
    };
    (server, SocketAddr::from(([127, 0, 0, 1], port)))
}

// ---- our echo_server example ------------------------------------------------

/// The example binary, built for the profile this test was built with.
///
/// `cargo test` builds examples, but `cargo test --test interop` does not,
/// so this runs `cargo build --example echo_server` once (a no-op when it is
/// up to date) and finds the binary where Cargo puts examples:
/// `target/<profile>/examples/`, next to this test's `target/<profile>/deps/`.
/// (The same approach as tests/echo_server.rs.)
fn echo_server_binary() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(build_echo_server) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn build_echo_server() -> Result<PathBuf, String> {
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
            "echo_server example binary not found at {}",
            binary.display()
        ));
    }
    Ok(binary)
}

/// Starts our echo server on a free port; returns it with its WebSocket URL.
fn start_echo_server() -> (Process, String) {
    let mut server = Process::spawn(
        "echo_server",
        Command::new(echo_server_binary()).args(["--addr", "127.0.0.1:0"]),
    );
    let line = server.first_line();
    let url = line
        .strip_prefix("echo server listening on ")
        .and_then(|rest| rest.split_once(" (page: "))
        .map(|(url, _)| url.to_owned())
        .filter(|url| url.starts_with("ws://127.0.0.1:") && url.ends_with("/ws"));
    let Some(url) = url else {
        server.fail(&format!("unexpected first line {line:?}"));
    };
    (server, url)
}

// ---- their clients against our server ---------------------------------------

#[test]
fn python_websockets_client_against_echo_server() {
    require_python_websockets();
    let (_server, url) = start_echo_server();
    run_client(
        "py_client.py",
        Command::new("python3").arg("py_client.py").arg(&url),
    );
}

#[test]
fn node_ws_client_against_echo_server() {
    require_node_ws();
    let (_server, url) = start_echo_server();
    run_client(
        "node_client.js",
        Command::new("node").arg("node_client.js").arg(&url),
    );
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
    let echoed = ws.read().expect("read the echo");
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
        Event::Pong(got) => assert_eq!(&got[..], payload, "pong payload"),
        other => panic!(
            "expected a pong with {} bytes, got {other:?}",
            payload.len()
        ),
    }
}

/// The server closes the TCP connection after the close handshake (§7.1.1):
/// the client sees end-of-file.
fn assert_eof(ws: &mut WebSocket<TcpStream>) {
    let mut rest = Vec::new();
    ws.get_mut()
        .read_to_end(&mut rest)
        .expect("end-of-file from the server after the close handshake");
    assert!(rest.is_empty(), "bytes after the close frame: {rest:?}");
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
        Message::from("fragmented 文字 🎉")
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
        Message::from(expected)
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
            Message::from("pong ok")
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
            ws.read().expect("read the echo"),
            *message,
            "pipelined message {i}"
        );
    }

    // We close: the peer echoes the code, then closes TCP.
    let frame = ws
        .close(CloseCode::NORMAL, "bye from rust 再见")
        .expect("the close handshake completes")
        .expect("the peer answers with a close frame");
    assert_eq!(frame.code, Some(CloseCode::NORMAL));
    assert!(matches!(ws.read(), Err(Error::Closed(_))));
    assert_eof(&mut ws);

    // Offering nothing selects nothing; the peer closes with its own code.
    let (mut ws, response) = connect(addr, &[]);
    assert_eq!(response.protocol(), None);
    assert_echo(&mut ws, &Message::from("second connection"));
    ws.send_text("close:4000:server says bye")
        .expect("ask the peer to close");
    match ws.read() {
        Err(Error::Closed(Some(frame))) => {
            assert_eq!(frame.code, Some(CloseCode(4000)));
            assert_eq!(frame.reason, "server says bye");
        }
        other => panic!("expected the peer's close 4000, got {other:?}"),
    }
    assert_eof(&mut ws);
}
