//! Helpers for the tests of the example apps (`chat_server`, `vote_server`,
//! `echo_server`, `client`), of interop and of the browser: build an example
//! binary, run it on a free loopback port, kill it by PID when the test
//! ends, connect JSON-speaking WebSocket clients with timeouts, run
//! third-party peer scripts and servers from tests/peers, see what a server
//! answers to a permessage-deflate offer and count the bytes on the wire.
#![allow(dead_code)]

use std::collections::HashMap;
use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::{Transport, WebSocket};
use rfc6455::{CloseCode, Message};
use serde_json::Value;

/// Read and write timeout of every test socket, and the longest wait for
/// any one expected message.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub const SETUP_HINT: &str = "run bash tests/peers/setup.sh";

/// What the example servers answer to a plain permessage-deflate offer
/// (Chromium's, Python `websockets`' and Node `ws`' default:
/// `permessage-deflate; client_max_window_bits`): the extension with no
/// context takeover either way (`support::deflate_policy` in the examples).
pub const EXAMPLE_DEFLATE: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The offer Chromium, Python `websockets` and Node `ws` send by default.
pub const DEFAULT_OFFER: &str = "permessage-deflate; client_max_window_bits";

pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The browser the browser tests drive (Debian's package), installed with
/// `playwright-core` by `bash tests/browser/setup.sh`.
pub const CHROMIUM: &str = "/usr/bin/chromium";

pub const BROWSER_SETUP_HINT: &str = "run bash tests/browser/setup.sh";

// ---- example binaries ---------------------------------------------------------

/// The example binary `name`, built for the profile this test was built with.
///
/// `cargo test` builds examples, but `cargo test --test chat_server` does
/// not, so this runs `cargo build --example NAME` once per test binary (a
/// no-op when it is up to date) and finds the binary where Cargo puts
/// examples: `target/<profile>/examples/`, next to `target/<profile>/deps/`.
///
/// With the features the example requires ([`example_features`]), so a
/// test of `tokio_echo_server` runs under a plain `cargo test` as well: the
/// test itself needs no feature, only the binary it starts does.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Result<PathBuf, String>>>> = OnceLock::new();
    // A failed build panics with the guard held; the tests after it still
    // get the build's own message, not a `PoisonError`.
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let result = built
        .entry(name.to_string())
        .or_insert_with(|| build_example(name));
    match result {
        Ok(path) => path.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn build_example(name: &str) -> Result<PathBuf, String> {
    let exe = env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(profile) => profile,
        None => return Err(format!("no profile directory above {}", exe.display())),
    };
    let features = example_features(name).join(",");
    let output = Command::new(env!("CARGO"))
        .args(["build", "--example", name, "--profile", profile])
        .args(["--features", &features])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .map_err(|e| format!("cannot run cargo to build the {name} example: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build --example {name} --features {features:?}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        return Err(format!(
            "{name} example binary not found at {}",
            binary.display()
        ));
    }
    Ok(binary)
}

/// The features `cargo build --example NAME` gets: those the example
/// requires (its `required-features` in Cargo.toml), plus the optional
/// adapters this test binary was built with, so that in a
/// `cargo test --features tokio` run the examples are the ones that run
/// already built (not rebuilt against another feature set of the library).
pub fn example_features(name: &str) -> Vec<&'static str> {
    let mut features = Vec::new();
    if name == "tokio_echo_server" || cfg!(feature = "tokio") {
        features.push("tokio");
    }
    if name == "axum_chat" || name == "vote_server" || cfg!(feature = "axum") {
        features.push("axum");
    }
    // TLS: the examples' --tls-cert/--tls-key and the client's wss://.
    if cfg!(feature = "rustls") {
        features.push("rustls");
    }
    features
}

// ---- child processes -----------------------------------------------------------

/// A running child process with its output collected. Dropping it kills
/// that one process (by its PID, through `Child::kill`) and, if the test is
/// failing, prints what it wrote.
pub struct Process {
    pub name: String,
    child: Child,
    /// Lines from stdout, as they come.
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    logs_shown: bool,
}

impl Process {
    /// Starts `command` with stdout and stderr captured and stdin a pipe
    /// that stays open until the guard drops.
    pub fn spawn(name: &str, command: &mut Command) -> Process {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
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
            name: name.to_string(),
            child,
            lines,
            stdout,
            stderr,
            readers,
            logs_shown: false,
        }
    }

    /// The process's PID, e.g. to send it a signal.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The process's stdin, to write to (or drop with [`close_stdin`](Self::close_stdin)).
    pub fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.child
            .stdin
            .as_mut()
            .expect("stdin is piped and still open")
    }

    /// Closes stdin: the process sees end-of-file.
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// The next line on stdout, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(_) => self.fail(&format!("printed no line within {timeout:?}")),
        }
    }

    /// Waits for the process to exit, at most `timeout`, then for its
    /// output to be read to the end.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        self.wait_for_exit(timeout, false, |_, _| {})
    }

    /// Like [`wait`](Self::wait), but every stdout line that arrives while
    /// the process runs goes to `on_line` (and not to
    /// [`next_line`](Self::next_line)), which may answer on its
    /// [`stdin`](Self::stdin).
    pub fn wait_with_lines(
        &mut self,
        timeout: Duration,
        on_line: impl FnMut(&mut Self, &str),
    ) -> ExitStatus {
        self.wait_for_exit(timeout, true, on_line)
    }

    fn wait_for_exit(
        &mut self,
        timeout: Duration,
        take_lines: bool,
        mut on_line: impl FnMut(&mut Self, &str),
    ) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            while take_lines && let Ok(line) = self.lines.try_recv() {
                on_line(self, &line);
            }
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

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.stderr();
            if log.contains(needle) {
                return log;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no {needle:?} on stderr within {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails the test with `problem` and everything the process wrote.
    pub fn fail(&mut self, problem: &str) -> ! {
        self.logs_shown = true;
        panic!("{}: {problem}\n{}", self.name, self.logs())
    }

    fn logs(&self) -> String {
        format!(
            "--- {name} stderr ---\n{}--- {name} stdout ---\n{}---",
            self.stderr(),
            self.stdout(),
            name = self.name
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait()
            && thread::panicking()
        {
            eprintln!("{} had already exited: {status}", self.name);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() && !self.logs_shown {
            thread::sleep(Duration::from_millis(100)); // the last words
            eprintln!("{}", self.logs());
        }
    }
}

/// Runs a peer script to the end and asserts that it succeeded and printed
/// "all checks passed".
pub fn run_script(name: &str, command: &mut Command, timeout: Duration) {
    let mut script = Process::spawn(name, command.current_dir(peers_dir()));
    let status = script.wait(timeout);
    if !status.success() {
        script.fail(&format!("failed ({status})"));
    }
    if !script.stdout().contains("all checks passed") {
        script.fail("exited 0 without finishing its checks");
    }
}

/// Starts a peer server from tests/peers whose first line is
/// `listening on PORT`; returns it with its address on 127.0.0.1.
pub fn start_peer_server(name: &str, command: &mut Command) -> (Process, SocketAddr) {
    let mut server = Process::spawn(name, command.current_dir(peers_dir()));
    let line = server.next_line(IO_TIMEOUT);
    let Some(port) = line
        .strip_prefix("listening on ")
        .and_then(|port| port.trim().parse::<u16>().ok())
    else {
        server.fail(&format!("unexpected first line {line:?}"));
    };
    (server, SocketAddr::from(([127, 0, 0, 1], port)))
}

// ---- the third-party peers are installed ----------------------------------------

/// Panics (never skips) unless `python3` imports `websockets`.
pub fn require_python_websockets() {
    require(
        Command::new("python3").args(["-c", "import websockets"]),
        "python3 module `websockets`",
    );
}

/// Panics (never skips) unless `node` finds `ws` in tests/peers/node_modules.
pub fn require_node_ws() {
    require(
        Command::new("node")
            .args(["-e", "require('ws')"])
            .current_dir(peers_dir()),
        "node module `ws` (in tests/peers/node_modules)",
    );
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

/// Panics (never skips) unless Chromium is at [`CHROMIUM`] and `node` finds
/// `playwright-core` in tests/browser/node_modules.
pub fn require_browser() {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        if !Path::new(CHROMIUM).is_file() {
            return Err(format!("{CHROMIUM} is missing: {BROWSER_SETUP_HINT}"));
        }
        let output = Command::new("node")
            .args(["-e", "require.resolve('playwright-core')"])
            .current_dir(browser_dir())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run node ({e}): {BROWSER_SETUP_HINT}"))?;
        if !output.status.success() {
            return Err(format!(
                "node module `playwright-core` (in tests/browser/node_modules) is missing: \
                 {BROWSER_SETUP_HINT}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(())
    });
    if let Err(message) = checked {
        panic!("{message}");
    }
}

// ---- an example server -------------------------------------------------------

/// A running example server on a free port. Dropping it kills the process.
pub struct Server {
    pub process: Process,
    pub addr: SocketAddr,
}

/// What [`Server::start`] passes to `chat_server` before the test's own
/// arguments: every test client comes from 127.0.0.1, and the server's limit
/// on connection attempts per address (30 at once, then 5 a second) would
/// refuse a test's 31st connection with 429. A test of that limit sets its
/// own (the last flag wins) or uses [`Server::start_with_defaults`].
pub const CHAT_CONNECT_LIMITS_LIFTED: &[&str] =
    &["--connect-burst", "1000000", "--connect-rate", "1000000"];

impl Server {
    /// Starts example `name` with `--addr 127.0.0.1:0` and `args`, and learns
    /// its address from the first line it prints:
    /// `... listening on ws://ADDR/ws (page: http://ADDR/)`. For
    /// `chat_server` and `axum_chat`, [`CHAT_CONNECT_LIMITS_LIFTED`] come first.
    pub fn start(name: &str, args: &[&str]) -> Server {
        let lifted = if name == "chat_server" || name == "axum_chat" {
            CHAT_CONNECT_LIMITS_LIFTED
        } else {
            &[]
        };
        Self::start_with_defaults(name, &[lifted, args].concat())
    }

    /// Like [`start`](Self::start), with the example's defaults for all
    /// that `args` does not set.
    pub fn start_with_defaults(name: &str, args: &[&str]) -> Server {
        let mut process = Process::spawn(
            name,
            Command::new(example_binary(name))
                .args(["--addr", "127.0.0.1:0"])
                .args(args),
        );
        let line = process.next_line(IO_TIMEOUT);
        let addr = line
            .split_once(" listening on ws://")
            .and_then(|(_, rest)| rest.split_once("/ws (page: http://"))
            .and_then(|(addr, page)| {
                let addr: SocketAddr = addr.parse().ok()?;
                (page == format!("{addr}/)")).then_some(addr)
            });
        match addr {
            Some(addr) => Server { process, addr },
            None => process.fail(&format!("unexpected first line {line:?}")),
        }
    }

    /// `ws://ADDR/ws` plus `query` (e.g. `?name=x`).
    pub fn url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    /// A plain TCP connection with the test timeouts.
    pub fn tcp(&self) -> TcpStream {
        tcp(self.addr)
    }

    /// A raw socket past the opening handshake on `/ws` + `query` (see
    /// [`upgraded`]).
    pub fn upgraded(&self, query: &str) -> TcpStream {
        upgraded(self.addr, query)
    }

    /// A WebSocket client connected to `/ws` + `query`.
    pub fn connect(&self, query: &str) -> Client {
        Client::connect(self.addr, query)
    }

    /// A chat user: connected as `name` (sent as it is: ASCII, or non-ASCII
    /// that the client percent-encodes), past its `welcome` and its own
    /// `join` notice. Joining one user after the other this way, each sees
    /// the joins of all who came after it.
    pub fn join(&self, name: &str) -> Client {
        let mut client = self.connect(&format!("?name={name}"));
        let welcome = client.expect("welcome");
        let you = welcome["you"].as_str().expect("a name").to_string();
        client.until("join", |e| e["user"] == you.as_str());
        client
    }

    /// `GET path` over a fresh connection: the status, the head and the body.
    pub fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        http_get(self.tcp(), self.addr, path)
    }

    /// The `Sec-WebSocket-Extensions` of the server's 101 to a handshake on
    /// `/ws` + `query` offering `offer`, or `None` if it has none. The
    /// connection is dropped after the response head.
    pub fn extensions_answer(&self, query: &str, offer: &str) -> Option<String> {
        extensions_answer(self.tcp(), self.addr, &format!("/ws{query}"), offer)
    }
}

/// A raw socket past the opening handshake on `/ws` + `query`: no
/// `Origin` (not a browser), no extensions (nothing compressed), the 101's
/// head read byte by byte so that nothing after it is consumed.
pub fn upgraded(addr: SocketAddr, query: &str) -> TcpStream {
    let mut stream = tcp(addr);
    write!(
        stream,
        "GET /ws{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the 101 response head");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// Sends a WebSocket handshake for `path` offering the extensions `offer`
/// over `stream`, and returns the `Sec-WebSocket-Extensions` of the 101, or
/// `None` if it has none. Panics on any other status.
pub fn extensions_answer(
    mut stream: TcpStream,
    host: SocketAddr,
    path: &str,
    offer: &str,
) -> Option<String> {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offer}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the 101 response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("an ASCII head");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut answers = head.lines().filter_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("Sec-WebSocket-Extensions")
            .then(|| value.trim().to_string())
    });
    let answer = answers.next();
    assert!(answers.next().is_none(), "two extension headers in {head}");
    answer
}

/// A stream that counts the bytes read from and written to it: how much a
/// message took on the wire, to tell a compressed one from a plain one.
pub struct Counted<S> {
    pub inner: S,
    pub read: usize,
    pub written: usize,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> Self {
        Counted {
            inner,
            read: 0,
            written: 0,
        }
    }
}

impl<S: Read> Read for Counted<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

impl<S: Write> Write for Counted<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The adapter's timers and teardown work through the counted stream as
/// through the socket under it.
impl<S: Transport> Transport for Counted<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> std::io::Result<()> {
        self.inner.shutdown_write()
    }
}

/// A client on `ws://addr/ws` + `query` whose socket counts its bytes,
/// offering permessage-deflate with `deflate` (the crate's defaults offer
/// `permessage-deflate; client_max_window_bits`, as browsers do).
#[cfg(feature = "deflate")]
pub fn connect_counted(
    addr: SocketAddr,
    query: &str,
    deflate: rfc6455::deflate::DeflateConfig,
) -> (WebSocket<Counted<TcpStream>>, rfc6455::handshake::Response) {
    let (ws, response) = WebSocket::connect_with(
        Counted::new(tcp(addr)),
        &format!("ws://{addr}/ws{query}"),
        rfc6455::handshake::ClientOptions::default(),
        rfc6455::Config::default().deflate(deflate),
    )
    .expect("WebSocket handshake with the example server");
    assert_eq!(response.status(), 101);
    (ws, response)
}

/// Reads the next message through `ws` and returns it with the bytes it
/// took on the wire (everything read meanwhile: nothing else may arrive).
pub fn read_counted<S: Transport>(ws: &mut WebSocket<Counted<S>>) -> (Message, usize) {
    let before = ws.get_ref().read;
    let message = ws
        .read()
        .expect("a message")
        .expect("a message, not the end of the connection");
    (message, ws.get_ref().read - before)
}

/// Sends `message` through `ws` and returns the bytes it took on the wire.
pub fn send_counted<S: Transport>(ws: &mut WebSocket<Counted<S>>, message: &Message) -> usize {
    let before = ws.get_ref().written;
    ws.send(message).expect("send");
    ws.get_ref().written - before
}

/// Our `echo_server` example on a free loopback port (see [`Server::start`]),
/// checked to have introduced itself with
/// `echo server listening on ws://127.0.0.1:PORT/ws (page: ...)`.
pub fn start_echo_server() -> Server {
    let mut server = Server::start("echo_server", &[]);
    let stdout = server.process.stdout();
    let first = stdout.lines().next().unwrap_or_default();
    if !first.starts_with("echo server listening on ws://127.0.0.1:") {
        server
            .process
            .fail(&format!("unexpected first line {first:?}"));
    }
    server
}

/// `GET path` with `Host: host` over `stream` (which it consumes): the
/// status, the head and the body.
pub fn http_get(mut stream: TcpStream, host: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::Write;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
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

/// A plain TCP connection to `addr` with the test timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    tcp_with_timeout(addr, IO_TIMEOUT)
}

/// A plain TCP connection to `addr` with `timeout` for reads and writes.
pub fn tcp_with_timeout(addr: SocketAddr, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the example server");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream
}

/// A WebSocket client that speaks JSON text frames.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    /// Connects to `ws://addr/ws` + `query` (e.g. `?name=x`).
    pub fn connect(addr: SocketAddr, query: &str) -> Client {
        let url = format!("ws://{addr}/ws{query}");
        let (ws, response) = WebSocket::connect(tcp(addr), &url)
            .expect("WebSocket handshake with the example server");
        assert_eq!(response.status(), 101);
        Client { ws }
    }

    /// Sends a JSON value as a text frame.
    pub fn send(&mut self, value: &Value) {
        self.ws.send_text(&value.to_string()).expect("send");
    }

    /// The next message, which must be a JSON text frame.
    pub fn next(&mut self) -> Value {
        match self.ws.read() {
            Ok(Some(Message::Text(text))) => {
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
            }
            Ok(Some(other)) => panic!("expected a JSON text message, got {other:?}"),
            Ok(None) => panic!(
                "expected a message, the connection closed ({:?})",
                self.ws.connection().peer_close()
            ),
            Err(e) => panic!("expected a message, got {e}"),
        }
    }

    /// The next message, which must be of `kind` (its `type` field).
    pub fn expect(&mut self, kind: &str) -> Value {
        let value = self.next();
        assert_eq!(
            value["type"], kind,
            "expected a {kind:?} message, got {value}"
        );
        value
    }

    /// Skips messages until one of `kind` for which `pick` holds.
    pub fn until(&mut self, kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "no matching {kind:?} message");
            let value = self.next();
            if value["type"] == kind && pick(&value) {
                return value;
            }
        }
    }

    /// Closes with 1000 and checks that the server answers in kind.
    pub fn close(mut self) {
        let reply = self
            .ws
            .close(CloseCode::NORMAL, "")
            .expect("close handshake");
        assert_eq!(reply.and_then(|f| f.code), Some(CloseCode::NORMAL));
    }

    /// Reads until the connection ends; returns the close frame's code, and
    /// the messages that came before it.
    pub fn read_to_close(&mut self) -> (Option<CloseCode>, Vec<Value>) {
        let mut seen = Vec::new();
        loop {
            match self.ws.read() {
                Ok(Some(Message::Text(text))) => seen.push(serde_json::from_str(&text).unwrap()),
                Ok(Some(other)) => panic!("unexpected {other:?}"),
                // The close handshake is done: the code of the server's close frame.
                Ok(None) => {
                    let code = self.ws.connection().peer_close().and_then(|f| f.code);
                    return (code, seen);
                }
                Err(e) => panic!("expected a close, got {e}"),
            }
        }
    }
}

/// The names in a `users` array.
pub fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a name"))
        .collect()
}

// ---- a process's state, from /proc ------------------------------------------------

/// What a process holds at one moment (Linux: `/proc/PID/status`, `stat`
/// and `fd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStats {
    pub threads: u64,
    pub rss_kib: u64,
    pub fds: u64,
    /// CPU time used so far, user and system.
    pub cpu: Duration,
}

/// The state of process `pid` now; panics if it is not running.
pub fn proc_stats(pid: u32) -> ProcStats {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("process {pid} is not running: {e}"));
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process's descriptors")
        .count() as u64;
    // utime and stime, fields 14 and 15, counted after the command name
    // (which may hold spaces) in clock ticks: 100 a second on Linux.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let after_name = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|n| n.parse::<u64>().expect("a tick count"))
        .sum();
    ProcStats {
        threads: field("Threads:"),
        rss_kib: field("VmRSS:"),
        fds,
        cpu: Duration::from_millis(ticks * 10),
    }
}
