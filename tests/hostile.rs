//! Hostile clients against the `echo_server` and `chat_server` examples:
//! the real binaries on free loopback ports, attacked over raw sockets. Each
//! test asserts the server's state, read from `/proc/<pid>/status` and
//! `/proc/<pid>/fd` (threads, resident memory, open descriptors), and that
//! another client is still served, not only that nothing crashed.
//!
//! The tests take turns (one lock): each measures one server process, and
//! the latency of a busy client must not depend on another test's load.
//! Run with `--nocapture` to see the numbers.
#![cfg(target_os = "linux")]

mod app_harness;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rfc6455::blocking::WebSocket;
use rfc6455::{CloseCode, Event, Message};

/// Read and write timeout of every test socket: no test can hang.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server may take to let go of threads and sockets.
const SETTLE: Duration = Duration::from_secs(10);

/// One test at a time; see the module docs.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---- the server under attack -----------------------------------------------------

/// An example server on a free port. Dropping it kills that one process
/// (by its PID, through `Child::kill`).
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    pid: u32,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(name: &'static str, args: &[&str]) -> Server {
        Self::start_with_env(name, args, &[])
    }

    /// [`start`](Self::start) with environment variables `env` set.
    fn start_with_env(name: &'static str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(app_harness::example_binary(name))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                let mut log = sink.lock().unwrap();
                // The log of 10,000 dropped connections: keep its start.
                if log.len() < 1 << 20 {
                    log.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the first line");
        // Keep reading stdout so the server never writes into a closed pipe.
        thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        let addr = line
            .split_once("ws://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(addr, _)| addr.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        let pid = child.id();
        Server {
            name,
            child,
            addr,
            pid,
            stderr,
        }
    }

    /// Threads, resident memory and open descriptors of the server now.
    fn stats(&self) -> Stats {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("the server is running");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/{}/status", self.pid))
        };
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .expect("the server's descriptors")
            .count() as u64;
        Stats {
            threads: field("Threads:"),
            rss_kib: field("VmRSS:"),
            fds,
        }
    }

    /// Waits (bounded) until the server has at most the threads and
    /// descriptors of `baseline`; returns its stats then.
    fn settle(&self, baseline: Stats) -> Stats {
        let deadline = Instant::now() + SETTLE;
        loop {
            let now = self.stats();
            if now.threads <= baseline.threads && now.fds <= baseline.fds {
                return now;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the server kept {} threads and {} descriptors (baseline {baseline:?}) \
                     {SETTLE:?} later\n{}",
                    now.threads,
                    now.fds,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) until the server is idle: its main thread alone,
    /// every connection's thread gone; returns its stats then: the
    /// baseline a test compares with.
    fn idle(&self) -> Stats {
        let deadline = Instant::now() + SETTLE;
        loop {
            let now = self.stats();
            if now.threads == 1 {
                return now;
            }
            if Instant::now() >= deadline {
                panic!("the server never became idle: {now:?}\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        let log = self.stderr.lock().unwrap();
        let start: String = log.chars().take(2000).collect();
        format!("--- server stderr (start) ---\n{start}")
    }

    fn tcp(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the server");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
    }

    /// A WebSocket client on `/ws` + `query`.
    fn client(&self, query: &str) -> WebSocket<TcpStream> {
        let url = format!("ws://{}/ws{query}", self.addr);
        WebSocket::connect(self.tcp(), &url).expect("handshake").0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stats {
    threads: u64,
    rss_kib: u64,
    fds: u64,
}

// ---- raw clients -------------------------------------------------------------------

/// A handshake request for `/ws` + `query`, complete.
fn request(addr: SocketAddr, query: &str) -> String {
    format!(
        "GET /ws{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Reads an HTTP response head byte by byte (nothing after it is consumed).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("a response head");
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("an ASCII head")
}

/// A raw socket past the opening handshake.
fn upgraded(server: &Server, query: &str) -> TcpStream {
    let mut stream = server.tcp();
    stream
        .write_all(request(server.addr, query).as_bytes())
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// A masked client frame (FIN set) with a 7-bit or 16-bit length.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// Reads one unmasked server frame with a 7-bit length: opcode and payload.
fn read_frame(mut stream: &TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("a frame header");
    assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
    assert!(head[1] < 126, "a short frame");
    let mut payload = vec![0u8; head[1] as usize];
    stream.read_exact(&mut payload).expect("a frame payload");
    (head[0] & 0x0f, payload)
}

/// The close code of a close frame's payload.
fn close_code(payload: &[u8]) -> u16 {
    assert!(payload.len() >= 2, "a close frame with a code");
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Reads until the server ends the connection: true for a clean end
/// (end-of-file), false for a reset.
fn ends_cleanly(mut stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return false,
            Err(e) => panic!("expected the server to end the connection, got {e}"),
        }
    }
}

/// Sends one text message and waits for its echo; returns how long that took.
fn echo_round_trip(ws: &mut WebSocket<TcpStream>, text: &str) -> Duration {
    let start = Instant::now();
    ws.send_text(text).expect("send");
    match ws.read() {
        Ok(Some(Message::Text(echo))) => assert_eq!(echo, text),
        other => panic!("expected the echo, got {other:?}"),
    }
    start.elapsed()
}

fn kib(bytes: u64) -> String {
    format!("{bytes} KiB")
}

// ---- slowloris -----------------------------------------------------------------------

/// `count` clients send a request head one byte per 100 ms and never finish
/// it. Meanwhile `serve_another` must succeed at once; every slow client
/// must be cut off by the server's 1 s handshake deadline (not later: a
/// per-read timeout would never fire), and its thread must go.
fn slowloris(server: &Server, count: usize, serve_another: impl Fn(&Server)) {
    let baseline = server.idle();
    let head = format!("GET /ws HTTP/1.1\r\nHost: {}\r\nX-Slow: ", server.addr);
    let trickle: Vec<u8> = head
        .bytes()
        .chain(std::iter::repeat(b'a'))
        .take(200)
        .collect();
    let start = Instant::now();
    let mut slow: Vec<(TcpStream, Option<Duration>)> = (0..count)
        .map(|_| {
            let stream = server.tcp();
            stream.set_nonblocking(true).unwrap();
            (stream, None)
        })
        .collect();
    let mut sent = 0;
    let mut during = None;
    let mut served_in = None;
    while slow.iter().any(|(_, cut)| cut.is_none()) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "slow clients still connected after 5 s\n{}",
            server.log()
        );
        for (stream, cut) in &mut slow {
            if cut.is_some() {
                continue;
            }
            let mut buf = [0u8; 64];
            let ended = match stream.read(&mut buf) {
                Ok(0) => true,
                Ok(n) => panic!("the server answered a slow client: {:?}", &buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(_) => true,
            };
            if ended || stream.write(&trickle[sent..sent + 1]).is_err() {
                *cut = Some(start.elapsed());
            }
        }
        sent += 1;
        if sent == 3 {
            // 300 ms in: all the slow clients hold a thread each, and
            // another client is served all the same.
            during = Some(server.stats());
            let t = Instant::now();
            serve_another(server);
            served_in = Some(t.elapsed());
        }
        thread::sleep(Duration::from_millis(100));
    }
    let during = during.expect("measured while the slow clients were connected");
    let served_in = served_in.expect("another client was served");
    let cuts: Vec<Duration> = slow.iter().map(|(_, cut)| cut.unwrap()).collect();
    let first = cuts.iter().min().unwrap();
    let last = cuts.iter().max().unwrap();
    let after = server.settle(baseline);
    eprintln!(
        "{}: slowloris x{count}: threads {} -> {} -> {}, fds {} -> {} -> {}, RSS {} -> {}; \
         another client served in {served_in:?}; slow clients cut off after {first:?}..{last:?}",
        server.name,
        baseline.threads,
        during.threads,
        after.threads,
        baseline.fds,
        during.fds,
        after.fds,
        kib(baseline.rss_kib),
        kib(after.rss_kib),
    );
    assert!(
        during.threads >= baseline.threads + count as u64,
        "each slow client holds a thread while its head trickles in: {during:?}"
    );
    assert!(served_in < Duration::from_millis(500), "{served_in:?}");
    // The deadline is 1 s from the accept; the cut is seen on our next
    // 100 ms turn.
    assert!(
        *first >= Duration::from_millis(900) && *last < Duration::from_millis(2500),
        "cut off after {first:?}..{last:?}, expected just after the 1 s deadline"
    );
    assert!(after.fds <= baseline.fds && after.threads <= baseline.threads);
}

#[test]
fn echo_slowloris_is_cut_off_by_the_handshake_deadline_and_others_are_served() {
    let _turn = one_at_a_time();
    let server = Server::start("echo_server", &["--handshake-timeout", "1"]);
    slowloris(&server, 20, |server| {
        let mut ws = server.client("");
        let took = echo_round_trip(&mut ws, "not blocked by the slow ones");
        assert!(took < Duration::from_millis(200), "{took:?}");
        ws.close(CloseCode::NORMAL, "").expect("close");
    });
}

#[test]
fn chat_slowloris_is_cut_off_by_the_handshake_deadline_and_others_chat() {
    let _turn = one_at_a_time();
    let server = Server::start("chat_server", &["--handshake-timeout", "1"]);
    slowloris(&server, 20, |server| {
        let mut ws = server.client("?name=wukong");
        let mut next = || match ws.read() {
            Ok(Some(Message::Text(text))) => text,
            other => panic!("expected a chat message, got {other:?}"),
        };
        assert!(next().contains("\"welcome\""));
        assert!(next().contains("\"join\""));
        ws.send_text(r#"{"text": "still here"}"#).unwrap();
        let message = match ws.read() {
            Ok(Some(Message::Text(text))) => text,
            other => panic!("expected the room message, got {other:?}"),
        };
        assert!(message.contains("still here"), "{message}");
        ws.close(CloseCode::NORMAL, "").expect("close");
    });
}

// ---- oversized handshake --------------------------------------------------------------

#[test]
fn megabytes_of_headers_are_refused_with_431_without_growing_memory() {
    let _turn = one_at_a_time();
    let server = Server::start("echo_server", &[]);
    let refuse = |server: &Server| {
        let stream = server.tcp();
        let mut writer = stream.try_clone().unwrap();
        let head = request(server.addr, "");
        let head = head.strip_suffix("\r\n").unwrap().to_string();
        // 4 MiB of headers, 1 KiB each, then the end of the head.
        let flood = thread::spawn(move || {
            let line = format!("X-Pad: {}\r\n", "a".repeat(1014));
            let _ = writer.write_all(head.as_bytes());
            for _ in 0..4096 {
                if writer.write_all(line.as_bytes()).is_err() {
                    return; // the server stopped reading and hung up: fine
                }
            }
            let _ = writer.write_all(b"\r\n");
        });
        let mut stream = stream;
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
                // A reset after the response (the rest of the flood unread
                // when the server's lingering close ended) is fine.
                Err(e) if e.kind() == ErrorKind::ConnectionReset && !response.is_empty() => break,
                Err(e) => panic!("expected a 431 response, got {e}"),
            }
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
        flood.join().unwrap();
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 431"),
            "expected 431, got {response:?}"
        );
    };
    // Warm up (the first connection maps the allocator's structures).
    refuse(&server);
    let baseline = server.idle();
    for _ in 0..8 {
        refuse(&server);
    }
    let after = server.settle(baseline);
    let grown = after.rss_kib.saturating_sub(baseline.rss_kib);
    eprintln!(
        "8 x 4 MiB of headers: 431 each; threads {} -> {}, fds {} -> {}, RSS {} -> {} (+{})",
        baseline.threads,
        after.threads,
        baseline.fds,
        after.fds,
        kib(baseline.rss_kib),
        kib(after.rss_kib),
        kib(grown)
    );
    // 32 MiB were sent; the server kept at most 8 KiB of each head.
    assert!(grown < 1024, "RSS grew by {grown} KiB");
    // And it still serves.
    let mut ws = server.client("");
    echo_round_trip(&mut ws, "after the flood");
}

// ---- a frame that announces a terabyte --------------------------------------------------

#[test]
fn frame_declaring_two_to_the_forty_bytes_allocates_nothing_and_closes_with_1009() {
    let _turn = one_at_a_time();
    let server = Server::start("echo_server", &[]);
    let mut warm = server.client("");
    echo_round_trip(&mut warm, "warm up");
    warm.close(CloseCode::NORMAL, "").unwrap();
    let baseline = server.idle();
    let mut attackers: Vec<TcpStream> = (0..10).map(|_| upgraded(&server, "")).collect();
    for stream in &mut attackers {
        // A masked binary frame whose 64-bit length says 2^40, then nothing.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        stream.write_all(&header).unwrap();
    }
    for stream in &mut attackers {
        let (opcode, payload) = read_frame(stream);
        assert_eq!(opcode, 0x8, "a close frame");
        assert_eq!(close_code(&payload), 1009, "message too big");
        assert!(
            ends_cleanly(stream),
            "the server closes after its close frame"
        );
    }
    let after = server.settle(baseline);
    let grown = after.rss_kib.saturating_sub(baseline.rss_kib);
    eprintln!(
        "10 frames declaring 2^40 bytes: 1009 each; threads {} -> {}, fds {} -> {}, \
         RSS {} -> {} (+{})",
        baseline.threads,
        after.threads,
        baseline.fds,
        after.fds,
        kib(baseline.rss_kib),
        kib(after.rss_kib),
        kib(grown)
    );
    assert!(grown < 1024, "RSS grew by {grown} KiB");
}

// ---- many idle connections ------------------------------------------------------------

#[test]
fn a_thousand_idle_connections_do_not_slow_the_echo_of_a_busy_one() {
    let _turn = one_at_a_time();
    let server = Server::start("echo_server", &[]);
    let idle_server = server.idle();
    let mut busy = server.client("");
    let mut quiet = Vec::new();
    for i in 0..200 {
        quiet.push(echo_round_trip(&mut busy, &format!("message {i}")));
    }
    let baseline = server.stats();
    let idle: Vec<TcpStream> = (0..1000).map(|_| upgraded(&server, "")).collect();
    let crowded = server.stats();
    let mut loaded = Vec::new();
    for i in 0..200 {
        loaded.push(echo_round_trip(&mut busy, &format!("message {i}")));
    }
    // The idle ones are alive, not starved: a few of them echo too.
    for mut stream in idle.iter().step_by(100) {
        stream.write_all(&masked(0x1, b"awake")).unwrap();
        let (opcode, payload) = read_frame(stream);
        assert_eq!((opcode, payload.as_slice()), (0x1, &b"awake"[..]));
    }
    drop(idle);
    busy.close(CloseCode::NORMAL, "").unwrap();
    let after = server.settle(idle_server);
    let stats = |mut v: Vec<Duration>| {
        v.sort();
        (v[v.len() / 2], v[v.len() * 99 / 100], v[v.len() - 1])
    };
    let (q50, q99, qmax) = stats(quiet);
    let (l50, l99, lmax) = stats(loaded);
    eprintln!(
        "1000 idle connections: threads {} -> {} -> {}, fds {} -> {} -> {}, RSS {} -> {} -> {}; \
         busy echo p50/p99/max {q50:?}/{q99:?}/{qmax:?} alone, {l50:?}/{l99:?}/{lmax:?} with them",
        baseline.threads,
        crowded.threads,
        after.threads,
        baseline.fds,
        crowded.fds,
        after.fds,
        kib(baseline.rss_kib),
        kib(crowded.rss_kib),
        kib(after.rss_kib),
    );
    // Each idle connection costs its thread's stack pages and little else.
    let per_connection = (crowded.rss_kib - baseline.rss_kib) / 1000;
    assert!(
        per_connection < 64,
        "{per_connection} KiB per idle connection"
    );
    assert!(crowded.threads >= baseline.threads + 1000, "{crowded:?}");
    assert!(crowded.fds >= baseline.fds + 1000, "{crowded:?}");
    assert!(
        l99 < Duration::from_millis(50) && lmax < Duration::from_millis(250),
        "the busy client's echo slowed down: p99 {l99:?}, max {lmax:?}"
    );
}

// ---- compressed connections, idle ------------------------------------------------------

/// glibc's malloc raises its mmap threshold to the size of each mmapped
/// block it frees, so after the first compressor it keeps zlib's freed
/// buffers (128 KiB and less each) in its arenas, where the connection's
/// later small allocations pin them: the RSS does not show what the
/// connections hold. A fixed threshold makes it return them.
#[cfg(all(feature = "deflate", target_env = "gnu"))]
const FIXED_MMAP_THRESHOLD: (&str, &str) = ("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072");

/// Resident memory per connection of `count` echo connections that each
/// exchanged one compressed message each way and then went idle, with the
/// echo server started with `args` and `env`. In KiB; thread stacks
/// included.
#[cfg(all(feature = "deflate", target_env = "gnu"))]
fn rss_per_compressed_connection(args: &[&str], env: &[(&str, &str)], count: usize) -> u64 {
    use rfc6455::Config;
    use rfc6455::deflate::DeflateConfig;
    use rfc6455::handshake::ClientOptions;

    let server = Server::start_with_env("echo_server", args, env);
    let text = (0..4000)
        .map(|i| format!("{} ", i * 7919 % 1000))
        .collect::<String>();
    let connect = || {
        let config = Config::default().deflate(DeflateConfig::default());
        let url = format!("ws://{}/ws", server.addr);
        let (mut ws, response) =
            WebSocket::connect_with(server.tcp(), &url, ClientOptions::default(), config)
                .expect("handshake");
        assert!(response.deflate().is_some(), "permessage-deflate agreed");
        echo_round_trip(&mut ws, &text);
        ws
    };
    // Warm up: the first threads map the allocator's per-thread arenas.
    let warm: Vec<_> = (0..50).map(|_| connect()).collect();
    drop(warm);
    let baseline = server.idle();
    let clients: Vec<_> = (0..count).map(|_| connect()).collect();
    let loaded = server.stats();
    drop(clients);
    server.settle(baseline);
    loaded.rss_kib.saturating_sub(baseline.rss_kib) / count as u64
}

/// The examples' permessage-deflate policy (no context takeover) in
/// numbers: a connection that compressed and inflated a 16 KB message keeps
/// no zlib state once idle, where `--deflate-context-takeover` keeps a
/// compressor and a decompressor (about 428 KiB of heap) in each. Measured
/// with a fixed mmap threshold, so that what glibc's malloc keeps for
/// itself does not hide it; the figure with glibc's defaults is printed.
#[cfg(all(feature = "deflate", target_env = "gnu"))]
#[test]
fn compressed_idle_connections_hold_no_zlib_state() {
    let _turn = one_at_a_time();
    const CONNECTIONS: usize = 200;
    let fixed = [FIXED_MMAP_THRESHOLD];
    let lean = rss_per_compressed_connection(&[], &fixed, CONNECTIONS);
    let takeover =
        rss_per_compressed_connection(&["--deflate-context-takeover"], &fixed, CONNECTIONS);
    let glibc_default = rss_per_compressed_connection(&[], &[], CONNECTIONS);
    eprintln!(
        "{CONNECTIONS} idle connections after one compressed message each way, RSS each: \
         {lean} KiB without context takeover (the default), {takeover} KiB with \
         --deflate-context-takeover ({}); {glibc_default} KiB without context takeover \
         under glibc's default mmap threshold",
        FIXED_MMAP_THRESHOLD.1
    );
    assert!(lean < 64, "{lean} KiB per connection");
    assert!(
        takeover > lean + 200,
        "context takeover costs {takeover} KiB, the default {lean} KiB"
    );
}

// ---- connect and drop, ten thousand times ----------------------------------------------

/// Opens and drops `count` connections in a row, dropped at every stage:
/// before sending anything, mid request head, after the head, mid frame,
/// after a whole message. Then the server must be back to its threads and
/// descriptors, with its memory within `rss_slack_kib`, and still serve.
fn connect_and_drop(server: &Server, count: usize, query: &str, rss_slack_kib: u64) {
    let head = request(server.addr, query);
    let half_frame = {
        let mut frame = masked(0x1, &[b'x'; 100]);
        frame.truncate(40);
        frame
    };
    let churn = |n: usize| {
        for i in 0..n {
            let mut stream = server.tcp();
            match i % 5 {
                0 => {}
                1 => stream
                    .write_all(&head.as_bytes()[..head.len() / 2])
                    .unwrap(),
                2 => stream.write_all(head.as_bytes()).unwrap(),
                3 => {
                    stream.write_all(head.as_bytes()).unwrap();
                    read_head(&mut stream);
                    stream.write_all(&half_frame).unwrap();
                }
                _ => {
                    stream.write_all(head.as_bytes()).unwrap();
                    read_head(&mut stream);
                    stream
                        .write_all(&masked(0x1, br#"{"text": "bye"}"#))
                        .unwrap();
                }
            }
        }
    };
    // Warm up: the first threads map the allocator's per-thread arenas.
    churn(100);
    let baseline = server.idle();
    let start = Instant::now();
    churn(count);
    let took = start.elapsed();
    let after = server.settle(baseline);
    let grown = after.rss_kib.saturating_sub(baseline.rss_kib);
    eprintln!(
        "{}: {count} connections opened and dropped in {took:?}: threads {} -> {}, \
         fds {} -> {}, RSS {} -> {} (+{})",
        server.name,
        baseline.threads,
        after.threads,
        baseline.fds,
        after.fds,
        kib(baseline.rss_kib),
        kib(after.rss_kib),
        kib(grown),
    );
    assert!(grown < rss_slack_kib, "RSS grew by {grown} KiB");
}

#[test]
fn echo_ten_thousand_dropped_connections_leave_nothing_behind() {
    let _turn = one_at_a_time();
    let server = Server::start("echo_server", &[]);
    connect_and_drop(&server, 10_000, "", 2048);
    let mut ws = server.client("");
    echo_round_trip(&mut ws, "still serving");
}

#[test]
fn chat_ten_thousand_dropped_connections_leave_nothing_behind() {
    let _turn = one_at_a_time();
    // All from 127.0.0.1: past the server's limit on connection attempts
    // per address, which tests/chat_hostile.rs tests.
    let lifted = ["--connect-burst", "1000000", "--connect-rate", "1000000"];
    let server = Server::start("chat_server", &lifted);
    connect_and_drop(&server, 10_000, "", 2048);
    let mut ws = server.client("?name=last");
    match ws.read() {
        Ok(Some(Message::Text(text))) => {
            assert!(text.contains("\"welcome\""), "{text}");
            // Nobody else is left in the room.
            assert!(text.contains(r#""users":["last"]"#), "{text}");
        }
        other => panic!("expected the welcome, got {other:?}"),
    }
}

// ---- keepalive -------------------------------------------------------------------------

#[test]
fn echo_keepalive_pings_a_silent_client_then_drops_it_with_1001() {
    let _turn = one_at_a_time();
    let server = Server::start(
        "echo_server",
        &["--ping-after", "0.3", "--keepalive-timeout", "0.5"],
    );
    let baseline = server.idle();

    // A client that answers pings (ours does, while it reads) stays. It
    // reads for 1.5 s: the server's pings, one per 0.3 s of silence, are
    // what it reads, so the loop ends with the first ping after that.
    let mut alive = server.client("");
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        match alive.read_event() {
            Ok(Some(Event::Ping(_))) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => panic!("the live client was dropped: {e}"),
        }
    }
    assert!(pings >= 2, "pinged {pings} times in 1.5 s of silence");
    echo_round_trip(&mut alive, "still connected");
    alive.close(CloseCode::NORMAL, "").unwrap();

    // A client that never answers is pinged after 0.3 s, then dropped
    // 0.5 s later with 1001 (going away).
    let silent = upgraded(&server, "");
    let start = Instant::now();
    let (opcode, _) = read_frame(&silent);
    let pinged = start.elapsed();
    assert_eq!(opcode, 0x9, "a ping");
    let (opcode, payload) = read_frame(&silent);
    let dropped = start.elapsed();
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(close_code(&payload), 1001, "going away");
    let _ = ends_cleanly(&silent);
    eprintln!(
        "keepalive: {pings} pings answered in 1.5 s; silent client pinged after {pinged:?}, dropped after {dropped:?}"
    );
    assert!(pinged >= Duration::from_millis(250) && pinged < Duration::from_millis(1000));
    assert!(dropped >= Duration::from_millis(750) && dropped < Duration::from_millis(2000));

    drop(silent);
    let after = server.settle(baseline);
    assert!(after.threads <= baseline.threads);
    // The server logged the loss (`Error::Lost(Lost::KeepaliveTimeout)`);
    // its stderr reaches us through a pipe, so give it a moment.
    let deadline = Instant::now() + IO_TIMEOUT;
    while !server
        .stderr
        .lock()
        .unwrap()
        .contains("keepalive timed out")
    {
        assert!(
            Instant::now() < deadline,
            "nothing logged\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}
