//! permessage-deflate (RFC 7692) interop with real peers over loopback,
//! installed by `bash tests/peers/setup.sh`: Python `websockets` (compression
//! on by default) and Node `ws` (`perMessageDeflate`).
//!
//! * Their clients (`tests/peers/deflate_py_client.py`,
//!   `tests/peers/deflate_node_client.js`) against our `echo_server --deflate`,
//!   each parameter combination they can offer, messages from empty to 1 MiB.
//! * Our client, handshake done with the sans-IO API (offer → response →
//!   `Connection::with_deflate`), against their compressing echo servers
//!   (`tests/peers/deflate_py_server.py`, `tests/peers/deflate_node_server.js`),
//!   with each of our parameter sets.
//!
//! * Headless Chromium (`tests/peers/deflate_chromium.mjs`) from the echo
//!   page against `echo_server --deflate`.
//!
//! A missing peer fails the test (never skips it). Every child process is
//! killed by its PID when its guard drops.
#![cfg(feature = "deflate")]

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rfc6455::blocking::WebSocket;
use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::{ClientHandshake, ClientOptions, Parsed, Response};
use rfc6455::{CloseCode, Config, Connection, Message, Role};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const START_TIMEOUT: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];
const SETUP_HINT: &str = "run bash tests/peers/setup.sh";

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

fn require(command: &mut Command, what: &str) {
    match command.stdin(Stdio::null()).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "{what} is missing: {SETUP_HINT}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => panic!("cannot run {command:?} ({e}): {SETUP_HINT}"),
    }
}

fn require_python_websockets() {
    require(
        Command::new("python3").args(["-c", "import websockets"]),
        "python3 module `websockets`",
    );
}

fn require_node_ws() {
    require(
        Command::new("node")
            .args(["-e", "require('ws')"])
            .current_dir(peers_dir()),
        "node module `ws` (in tests/peers/node_modules)",
    );
}

/// A child process, killed (by its own PID) when dropped; its output is
/// shown if the test fails.
struct Process {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<String>>,
}

impl Process {
    fn spawn(name: &str, command: &mut Command) -> Process {
        let mut child = command
            .current_dir(peers_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}; {SETUP_HINT}"));
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let out_log = Arc::clone(&log);
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                out_log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let err_log = Arc::clone(&log);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                err_log.lock().unwrap().push_str(&text);
            }
        });
        Process {
            name: name.to_owned(),
            child,
            lines,
            log,
        }
    }

    fn first_line(&mut self) -> String {
        self.lines
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| self.fail("printed no line in time"))
    }

    fn fail(&self, problem: &str) -> ! {
        thread::sleep(Duration::from_millis(100));
        panic!(
            "{}: {problem}\n--- output ---\n{}---",
            self.name,
            self.log.lock().unwrap()
        )
    }

    /// Waits for the process to exit successfully, having printed `done`.
    fn succeed(&mut self, timeout: Duration, done: &str) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => self.fail(&format!("did not finish within {timeout:?}")),
            }
        };
        thread::sleep(Duration::from_millis(50));
        if !status.success() || !self.log.lock().unwrap().contains(done) {
            self.fail(&format!("failed ({status})"));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- our echo_server --deflate against their clients ------------------------

fn echo_server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(name) => name.to_owned(),
            None => panic!("no profile directory above {}", exe.display()),
        };
        let output = Command::new(env!("CARGO"))
            .args(["build", "--example", "echo_server", "--profile", &profile])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .output()
            .expect("run cargo build --example echo_server");
        assert!(
            output.status.success(),
            "cargo build --example echo_server failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        profile_dir
            .join("examples")
            .join(format!("echo_server{}", env::consts::EXE_SUFFIX))
    })
}

fn start_echo_server() -> (Process, String) {
    let mut server = Process::spawn(
        "echo_server --deflate",
        Command::new(echo_server_binary()).args(["--addr", "127.0.0.1:0", "--deflate"]),
    );
    let line = server.first_line();
    let url = line
        .strip_prefix("echo server listening on ")
        .and_then(|rest| rest.split_once(" (page: "))
        .map(|(url, _)| url.to_owned());
    let Some(url) = url else {
        server.fail(&format!("unexpected first line {line:?}"))
    };
    (server, url)
}

#[test]
fn python_websockets_client_against_echo_server_with_deflate() {
    require_python_websockets();
    let (_server, url) = start_echo_server();
    let mut client = Process::spawn(
        "deflate_py_client.py",
        Command::new("python3")
            .arg("deflate_py_client.py")
            .arg(&url),
    );
    client.succeed(CLIENT_TIMEOUT, "deflate_py_client: all checks passed");
}

#[test]
fn node_ws_client_against_echo_server_with_deflate() {
    require_node_ws();
    let (_server, url) = start_echo_server();
    let mut client = Process::spawn(
        "deflate_node_client.js",
        Command::new("node").arg("deflate_node_client.js").arg(&url),
    );
    client.succeed(CLIENT_TIMEOUT, "deflate_node_client: all checks passed");
}

/// Headless Chromium, which offers permessage-deflate by default, from the
/// echo page; needs `bash tests/browser/setup.sh` (Debian's chromium and
/// playwright-core).
#[test]
fn chromium_against_echo_server_with_deflate() {
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium is missing: run bash tests/browser/setup.sh"
    );
    require(
        Command::new("node")
            .args(["-e", "require.resolve('playwright-core')"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")),
        "playwright-core (in tests/browser/node_modules): run bash tests/browser/setup.sh; it",
    );
    let (_server, url) = start_echo_server();
    let page = url
        .replace("ws://", "http://")
        .trim_end_matches("ws")
        .to_owned();
    let mut client = Process::spawn(
        "deflate_chromium.mjs",
        Command::new("node").arg("deflate_chromium.mjs").arg(&page),
    );
    client.succeed(CLIENT_TIMEOUT, "deflate_chromium: all checks passed");
}

// ---- our client against their compressing servers ---------------------------

fn start_peer_server(name: &str, command: &mut Command) -> (Process, SocketAddr) {
    let mut server = Process::spawn(name, command);
    let line = server.first_line();
    let Some(port) = line
        .strip_prefix("listening on ")
        .and_then(|p| p.trim().parse::<u16>().ok())
    else {
        server.fail(&format!("unexpected first line {line:?}"))
    };
    (server, SocketAddr::from(([127, 0, 0, 1], port)))
}

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
    let mut conn = Connection::new(Role::Client, config).with_deflate(response.deflate());
    conn.receive(&buf[used..]);
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
        echoed == message,
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
        let sent = ws.read().expect("the peer's extensions");
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
            Message::from(expected),
            "{name}"
        );
        assert_eq!(
            ws.read().expect("fragmented binary"),
            Message::from(vec![1u8, 2, 3]),
            "{name}"
        );
        // Many in flight: both windows stay in step.
        let batch: Vec<Message> = (0..100).map(|i| Message::from(text_of(i * 37))).collect();
        for message in &batch {
            ws.send(message).unwrap();
        }
        for (i, message) in batch.iter().enumerate() {
            assert!(
                ws.read().expect("pipelined echo") == *message,
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
        while let Ok(message) = ws.read() {
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
        while let Ok(message) = ws.read() {
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
