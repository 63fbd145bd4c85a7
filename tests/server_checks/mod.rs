//! Checks shared by the tests of the echo servers built on an event loop,
//! `mio_echo_server` (tests/mio_echo.rs) and `tokio_echo_server`
//! (tests/tokio_echo.rs): the bounds and timeouts their `--help` promises
//! alike (bad handshakes, `--max-connections`, `--handshake-timeout`, the
//! keepalive) and the measurement of 10,000 idle connections. Each check
//! takes the example's name; the file that calls it asserts what differs
//! (threads, the memory bound). Every socket has a timeout, every server is
//! killed by its PID when its guard drops.
//!
//! (A folder with `mod.rs`, as tests/app_harness: not a test of its own.
//! It needs `mod app_harness;` beside `mod server_checks;`.)
#![allow(dead_code)]

use std::fmt;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::app_harness::{DEFAULT_OFFER, EXAMPLE_DEFLATE, Server, example_binary};
use rfc6455::blocking::WebSocket;
use rfc6455::handshake::ClientOptions;
use rfc6455::{CloseCode, Config, Event, Keepalive, Message};

/// Read and write timeout of every raw test socket: no test can hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw TCP connection with the test timeouts.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the echo server");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// The client's settings: a keepalive short enough that a server that
/// stopped answering fails the test within seconds, not minutes.
pub fn client_config() -> Config {
    let quick = Duration::from_secs(5);
    Config::default().keepalive(Some(Keepalive::new(quick, quick)))
}

/// The crate's blocking client on `/ws`, with `config`.
pub fn connect_with(addr: SocketAddr, config: Config) -> WebSocket<TcpStream> {
    let (ws, response) = WebSocket::connect_with(
        tcp(addr),
        &format!("ws://{addr}/ws"),
        ClientOptions::default(),
        config,
    )
    .expect("WebSocket handshake with the echo server");
    assert_eq!(response.status(), 101);
    ws
}

/// Sends `message` and asserts that the same message (type and bytes) comes back.
pub fn assert_echo(ws: &mut WebSocket<TcpStream>, message: &Message) {
    ws.send(message).expect("send");
    let echo = ws
        .read()
        .expect("read the echo")
        .expect("an echo, not the end");
    assert_eq!(echo.kind(), message.kind());
    assert!(
        echo == *message,
        "echo differs ({} bytes sent)",
        message.len()
    );
}

/// Sends a raw request head and returns the response: status and all of it.
pub fn raw_request(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut stream = tcp(addr);
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("the server answers and closes");
    let response = String::from_utf8(response).expect("an ASCII response");
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    (status, response)
}

/// A raw socket past the opening handshake on `/ws`.
pub fn upgraded(addr: SocketAddr) -> TcpStream {
    crate::app_harness::upgraded(addr, "")
}

/// Reads one unmasked server frame with a 7-bit length: opcode and payload.
pub fn read_frame(mut stream: &TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("a frame header");
    assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
    assert!(head[1] < 126, "a short frame");
    let mut payload = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut payload).expect("a frame payload");
    (head[0] & 0x0f, payload)
}

// ---- the checks ------------------------------------------------------------------------

/// A client that sends and never reads: the server stops reading from it
/// once its echoes are over the output high-water mark (64 KiB), so it
/// holds a bounded amount however much the client sends. The client writes
/// up to 64 MiB of 60,000-byte frames until its writes block for 2 s (the
/// server no longer reads); the server's RSS grows by less than 16 MiB.
pub fn a_client_that_never_reads_cannot_grow_the_server(example: &str, server: &Server) {
    let pid = server.process.id();
    let before = status_field(pid, "VmRSS:");
    let mut stream = upgraded(server.addr);
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let len = 60_000usize;
    let mut frame = vec![0x82, 0x80 | 126];
    frame.extend_from_slice(&(len as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]); // a zero key: the payload as it is
    frame.resize(frame.len() + len, b'x');
    let mut sent = 0usize;
    let stalled = loop {
        if sent >= 64 << 20 {
            break false;
        }
        match stream.write_all(&frame) {
            Ok(()) => sent += frame.len(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true;
            }
            Err(e) => panic!("{example}: write failed after {sent} bytes: {e}"),
        }
    };
    let after = status_field(pid, "VmRSS:");
    println!(
        "{example}: a client that never reads sent {} KiB before its writes stalled \
         ({stalled}); server RSS {before} -> {after} KiB",
        sent >> 10
    );
    assert!(
        stalled,
        "{example}: 64 MiB went in without the server pushing back"
    );
    assert!(
        after < before + 16 * 1024,
        "{example}: RSS grew from {before} to {after} KiB for a client that never reads"
    );
    drop(stream);
}

/// Bad handshakes get their status (400, 426 with the version we speak,
/// 431 past the head's 8 KiB), and the server goes on serving.
pub fn bad_handshakes_get_400_or_426(example: &str) {
    let server = Server::start(example, &[]);
    let addr = server.addr;
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases = [
        // §4.2.1: no Upgrade header.
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        // A key that is not 16 bytes of base64.
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            400,
        ),
        // Not HTTP at all.
        (
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n".to_string(),
            400,
        ),
        // §4.2.2: another protocol version is told ours.
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 8\r\n\r\n"
            ),
            426,
        ),
    ];
    for (head, expected) in &cases {
        let (status, response) = raw_request(addr, head);
        assert_eq!(status, *expected, "{head:?} got {response}");
        if *expected == 426 {
            assert!(
                response.contains("Sec-WebSocket-Version: 13\r\n"),
                "{response}"
            );
        }
    }
    // 431 past the head's 8 KiB.
    let long = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nX-Long: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(raw_request(addr, &long).0, 431);
    // Still serving.
    let mut ws = connect_with(addr, client_config());
    assert_echo(&mut ws, &Message::from("still here"));
}

/// With `--max-connections 3` and three clients connected, a fourth gets
/// 503 before any upgrade; once one leaves, its slot is used again.
pub fn past_max_connections_a_new_client_gets_503(example: &str) {
    let server = Server::start(example, &["--max-connections", "3"]);
    let mut held: Vec<_> = (0..3)
        .map(|_| connect_with(server.addr, client_config()))
        .collect();
    let (status, response) = raw_request(
        server.addr,
        &format!("GET /ws HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr),
    );
    assert_eq!(status, 503, "{response}");
    assert!(response.contains("Retry-After: 1\r\n"), "{response}");
    // One leaves: its slot is free again.
    held.pop().unwrap().close(CloseCode::NORMAL, "").unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut ws = loop {
        let stream = tcp(server.addr);
        match WebSocket::connect_with(
            stream,
            &format!("ws://{}/ws", server.addr),
            ClientOptions::default(),
            client_config(),
        ) {
            Ok((ws, _)) => break ws,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the freed slot was never reused: {e}"),
        }
    };
    assert_echo(&mut ws, &Message::from("in the freed slot"));
    for ws in &mut held {
        assert_echo(ws, &Message::from("still served"));
    }
}

/// `--handshake-timeout 0.3`: a head sent a byte every 50 ms is cut off
/// after 300 ms (the deadline is for the whole head, not each read), unanswered.
pub fn an_unfinished_request_head_is_cut_off_at_the_handshake_deadline(example: &str) {
    let mut server = Server::start(example, &["--handshake-timeout", "0.3"]);
    let mut slow = tcp(server.addr);
    let start = Instant::now();
    slow.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut cut = None;
    while cut.is_none() && start.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(50));
        if slow.write_all(b"X").is_err() {
            cut = Some(start.elapsed());
        }
        slow.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        match slow.read(&mut buf) {
            Ok(0) => cut = Some(start.elapsed()),
            Ok(n) => panic!("a slow head was answered: {:?}", &buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => cut = Some(start.elapsed()),
        }
        slow.set_nonblocking(false).unwrap();
    }
    let cut = cut.expect("the slow client was never cut off");
    assert!(
        cut >= Duration::from_millis(250) && cut < Duration::from_millis(1500),
        "cut off after {cut:?}, the deadline is 300 ms"
    );
    server
        .process
        .wait_for_stderr("handshake timed out", IO_TIMEOUT);
}

/// `--ping-after 0.2 --keepalive-timeout 0.2`: a silent client is pinged
/// after 200 ms, sent a close with 1001 200 ms later and then dropped, and
/// the server logs `log_line`; a client that answers the pings stays.
pub fn keepalive_pings_a_silent_client_then_closes_with_1001(example: &str, log_line: &str) {
    let mut server = Server::start(
        example,
        &["--ping-after", "0.2", "--keepalive-timeout", "0.2"],
    );
    let silent = upgraded(server.addr);
    let start = Instant::now();
    let (opcode, payload) = read_frame(&silent);
    let pinged = start.elapsed();
    assert_eq!(opcode, 0x9, "a ping");
    assert!(payload.is_empty());
    // Still silent: the pong never comes.
    let (opcode, payload) = read_frame(&silent);
    let closed = start.elapsed();
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(
        u16::from_be_bytes([payload[0], payload[1]]),
        1001,
        "going away"
    );
    let mut rest = Vec::new();
    (&silent)
        .read_to_end(&mut rest)
        .expect("the server ends the connection");
    let ended = start.elapsed();
    assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
    eprintln!(
        "silent client: pinged after {pinged:?}, close 1001 after {closed:?}, EOF after {ended:?}"
    );
    assert!(
        pinged >= Duration::from_millis(150) && pinged < Duration::from_millis(1000),
        "pinged after {pinged:?}"
    );
    assert!(
        closed >= pinged + Duration::from_millis(150) && closed < Duration::from_millis(1500),
        "closed after {closed:?}"
    );
    assert!(
        ended < closed + Duration::from_millis(500),
        "ended after {ended:?}"
    );
    server.process.wait_for_stderr(log_line, IO_TIMEOUT);

    // A client that answers the pings (ours does while it reads) stays.
    let mut alive = connect_with(server.addr, client_config());
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_millis(1000) {
        match alive.read_event().expect("still connected") {
            Some(Event::Ping(_)) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 3, "pinged {pings} times in a second of silence");
    assert_echo(&mut alive, &Message::from("still connected"));
    alive.close(CloseCode::NORMAL, "").expect("close handshake");
}

// ---- many idle connections ---------------------------------------------------------------

/// Open files this process may have (the soft limit).
pub fn open_files_limit(pid: &str) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no open files limit in /proc/{pid}/limits:\n{limits}"))
}

/// A field of `/proc/PID/status`, in its unit (kB for memory).
pub fn status_field(pid: u32, name: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is running");
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server's descriptors")
        .count()
}

/// `sh -c 'ulimit -n N ...; exec "$0" "$@"' program args`: the program
/// with its open-files limit raised to `files`, or to the hard limit if that
/// is lower (checked by the caller).
pub fn with_open_files(files: u64, program: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!(
            "ulimit -n {files} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\""
        ))
        .arg(program);
    command
}

/// Runs this one test again in a child whose open-files limit is raised
/// (through `sh`'s `ulimit`: no `libc` here) when this process's is too low
/// for `needed` sockets. Returns whether this process must run the test
/// itself (false: the child ran it, and passed).
pub fn enough_open_files_or_rerun(test: &str, needed: u64) -> bool {
    const MARK: &str = "RFC6455_IDLE_TEST_RERUN";
    let have = open_files_limit("self");
    if have >= needed {
        return true;
    }
    assert!(
        std::env::var_os(MARK).is_none(),
        "{test} needs {needed} open files, and even `ulimit -n` in a child allowed only {have} \
         (the hard limit): raise it (e.g. `ulimit -Hn 30000` as root)"
    );
    eprintln!(
        "{test}: {have} open files allowed, {needed} needed: running again under `ulimit -n`"
    );
    let status = with_open_files(needed, &std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(MARK, "1")
        .status()
        .expect("run the test again through sh");
    assert!(
        status.success(),
        "{test} failed under a raised open-files limit ({status})"
    );
    false
}

/// A server started through `sh` (see [`with_open_files`]), whose PID
/// is the server's after `exec`. Dropping it kills that one process.
pub struct Spawned {
    name: String,
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Spawned {
    pub fn start(name: &str, command: &mut Command) -> Spawned {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} through sh: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                let mut log = sink.lock().unwrap();
                // A line per connection that went away: keep the start.
                if log.len() < 1 << 16 {
                    log.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the first line");
        thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        let addr = line
            .split_once("listening on ws://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(addr, _)| addr.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        let pid = child.id();
        Spawned {
            name: name.to_string(),
            child,
            pid,
            addr,
            stderr,
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- {} stderr (start) ---\n{}",
                self.name,
                self.stderr.lock().unwrap()
            );
        }
    }
}

/// A raw socket past the opening handshake, after one echo: the request
/// and a masked text frame "hi" in one write (the frame follows the head,
/// as a client that does not wait for the 101 would send it), then the 101
/// and the echo read. So every idle connection has been through a read and
/// a write of the WebSocket loop. With `deflate`, the request offers
/// permessage-deflate as browsers do, and the server accepts it (the
/// 2-byte echo goes uncompressed: under the 16-byte threshold).
pub fn idle_connection(addr: SocketAddr, deflate: bool) -> TcpStream {
    let mut stream = tcp(addr);
    let offer = if deflate {
        format!("Sec-WebSocket-Extensions: {DEFAULT_OFFER}\r\n")
    } else {
        String::new()
    };
    let mut out = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .into_bytes();
    out.extend_from_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    stream.write_all(&out).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).expect("the 101 and the echo");
        assert!(n > 0, "closed during the handshake: {got:?}");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(got.starts_with(b"HTTP/1.1 101 "), "{got:?}");
            let head = String::from_utf8_lossy(&got[..end]);
            assert_eq!(head.contains(EXAMPLE_DEFLATE), deflate, "{head}");
            if got.len() >= end + 4 + 4 {
                assert_eq!(&got[end + 4..], b"\x81\x02hi", "the echo");
                return stream;
            }
        }
    }
}

fn round_trip(ws: &mut WebSocket<TcpStream>, text: &str) -> Duration {
    let start = Instant::now();
    ws.send_text(text).expect("send");
    match ws.read() {
        Ok(Some(Message::Text(echo))) => assert_eq!(echo, text),
        other => panic!("expected the echo, got {other:?}"),
    }
    start.elapsed()
}

/// p50, p99 and max.
type Percentiles = (Duration, Duration, Duration);

fn percentiles(mut v: Vec<Duration>) -> Percentiles {
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100], v[v.len() - 1])
}

/// What [`idle_connections`] measured.
#[derive(Debug)]
pub struct IdleReport {
    pub example: String,
    pub idle_count: usize,
    /// Resident memory per idle connection, in bytes: all of them, the
    /// first half (no extension), the second (permessage-deflate agreed).
    pub per_connection: u64,
    pub plain: u64,
    pub deflate: u64,
    /// VmRSS in kB: after the warm-up, after the first half, after all.
    pub rss_kb: [u64; 3],
    /// Open descriptors: before, with every idle connection, after they left.
    pub fds: [usize; 3],
    /// The server's threads with every idle connection open.
    pub threads: u64,
    /// The busy client's echo round trips, alone and beside the idle ones.
    pub quiet: Percentiles,
    pub loaded: Percentiles,
    pub opened_in: Duration,
    pub closed_in: Duration,
    pub whole: Duration,
}

impl fmt::Display for IdleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [rss_before, rss_mid, rss_after] = self.rss_kb;
        let [fds_before, fds_after, fds_end] = self.fds;
        let (q50, q99, qmax) = self.quiet;
        let (l50, l99, lmax) = self.loaded;
        write!(
            f,
            "{}, {} idle connections (opened in {:?}, closed in {:?}): VmRSS {rss_before} kB -> \
             {rss_mid} kB -> {rss_after} kB = {} bytes per idle connection ({} without an \
             extension, {} with permessage-deflate agreed); fds {fds_before} -> {fds_after} -> \
             {fds_end}; threads {}; busy echo p50/p99/max {q50:?}/{q99:?}/{qmax:?} alone, \
             {l50:?}/{l99:?}/{lmax:?} with them; whole test {:?}",
            self.example,
            self.idle_count,
            self.opened_in,
            self.closed_in,
            self.per_connection,
            self.plain,
            self.deflate,
            self.threads,
            self.whole
        )
    }
}

/// Holds `idle_count` idle connections to `example` (half without an
/// extension, half with permessage-deflate agreed, each after one echo)
/// beside a busy client, and measures the server's resident memory per
/// idle connection and the busy client's echo latency. Asserts what holds
/// for any of the servers: every idle one stays alive and is served, every
/// descriptor is given back once they leave, and the busy client is not
/// slowed down (p99 under 50 ms, max under 250 ms). The caller asserts the
/// memory bound and the threads.
///
/// `test` is the calling test's name: when this process may not open
/// enough files, the test runs again in a child under a raised
/// `ulimit -n` and this returns `None` (the child passed).
pub fn idle_connections(test: &str, example: &str, idle_count: usize) -> Option<IdleReport> {
    // The idle sockets, the busy one, and the harness's own.
    let needed = idle_count as u64 + 256;
    if !enough_open_files_or_rerun(test, needed) {
        return None;
    }
    let started = Instant::now();

    let binary = example_binary(example);
    let max = (idle_count + 100).to_string();
    let mut command = with_open_files(needed + 100, &binary);
    // Keepalive far off: idle means idle for the whole test.
    command.args([
        "--addr",
        "127.0.0.1:0",
        "--max-connections",
        &max,
        "--ping-after",
        "600",
    ]);
    let server = Spawned::start(example, &mut command);
    let (pid, addr) = (server.pid, server.addr);
    let server_files = open_files_limit(&pid.to_string());
    assert!(
        server_files >= needed,
        "the server may open only {server_files} files, {needed} needed; \
         raise the hard limit (ulimit -Hn)"
    );

    // Warm up: the allocator's first pages, the server's first slots.
    let mut busy = connect_with(addr, client_config());
    let mut quiet = Vec::new();
    for i in 0..300 {
        quiet.push(round_trip(&mut busy, &format!("message {i}")));
    }
    let fds_before = open_fds(pid);
    let warm: Vec<_> = (0..50).map(|i| idle_connection(addr, i % 2 == 0)).collect();
    drop(warm);
    // The warm-up connections are gone (their end-of-file read) ...
    let deadline = Instant::now() + IO_TIMEOUT;
    while open_fds(pid) > fds_before {
        assert!(
            Instant::now() < deadline,
            "the warm-up connections stayed open"
        );
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    let rss_before = status_field(pid, "VmRSS:");

    // Half without an extension, half with permessage-deflate agreed.
    let half = idle_count / 2;
    let opening = Instant::now();
    let mut idle: Vec<TcpStream> = (0..half).map(|_| idle_connection(addr, false)).collect();
    thread::sleep(Duration::from_millis(300));
    let rss_mid = status_field(pid, "VmRSS:");
    idle.extend((half..idle_count).map(|_| idle_connection(addr, true)));
    let opened_in = opening.elapsed();
    thread::sleep(Duration::from_millis(300));
    let rss_after = status_field(pid, "VmRSS:");
    let fds_after = open_fds(pid);
    let threads = status_field(pid, "Threads:");

    let mut loaded = Vec::new();
    for i in 0..300 {
        loaded.push(round_trip(&mut busy, &format!("message {i}")));
    }
    // The idle ones are alive, not starved: some of them echo too.
    for mut stream in idle.iter().step_by(idle_count / 10) {
        stream
            .write_all(&[0x81, 0x85, 0, 0, 0, 0, b'a', b'w', b'a', b'k', b'e'])
            .unwrap();
        let (opcode, payload) = read_frame(stream);
        assert_eq!((opcode, payload.as_slice()), (0x1, &b"awake"[..]));
    }
    let closing = Instant::now();
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(30);
    while open_fds(pid) > fds_before && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let closed_in = closing.elapsed();
    let fds_end = open_fds(pid);
    round_trip(&mut busy, "after them");
    busy.close(CloseCode::NORMAL, "").expect("close");

    let per = |from: u64, to: u64, count: usize| to.saturating_sub(from) * 1024 / count as u64;
    let report = IdleReport {
        example: example.to_string(),
        idle_count,
        per_connection: per(rss_before, rss_after, idle_count),
        plain: per(rss_before, rss_mid, half),
        deflate: per(rss_mid, rss_after, idle_count - half),
        rss_kb: [rss_before, rss_mid, rss_after],
        fds: [fds_before, fds_after, fds_end],
        threads,
        quiet: percentiles(quiet),
        loaded: percentiles(loaded),
        opened_in,
        closed_in,
        whole: started.elapsed(),
    };
    eprintln!("{report}");
    assert!(
        fds_after >= fds_before + idle_count,
        "{fds_after} descriptors: {report}"
    );
    assert!(
        fds_end <= fds_before,
        "{fds_end} descriptors left, {fds_before} before: {report}"
    );
    let (_, l99, lmax) = report.loaded;
    assert!(
        l99 < Duration::from_millis(50) && lmax < Duration::from_millis(250),
        "the busy client's echo slowed down: p99 {l99:?}, max {lmax:?}"
    );
    drop(server);
    Some(report)
}
