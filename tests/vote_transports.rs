//! The vote board's HTTP transports against the real `vote_server` binary
//! (on a free loopback port), with requests written by hand over
//! `TcpStream` so that every byte of framing is seen: short polling
//! (`GET /api/counts`), long polling (`?since=N`: hold, release, 204 on
//! timeout, the cap), Server-Sent Events (`GET /events`: the HTML
//! standard's event-stream format, `Last-Event-ID`, keepalive, lifetime,
//! the cap, coalescing for a slow reader), votes over HTTP
//! (`POST /api/vote`: 400 for malformed or unknown votes and nothing
//! counted, 413, 415, 403, 429), bad requests on every endpoint, and 1,000
//! held long polls released by one vote.

mod app_harness;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use app_harness::{Server, tcp};
use serde_json::{Value, json};

// ---- a small HTTP/1.1 client ------------------------------------------------------

/// A response: status, head fields (names lowercased), body (de-chunked).
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// Writes a request (`Connection: close`) with `extra` head lines.
fn send_request(stream: &mut TcpStream, method: &str, path: &str, extra: &str, body: &[u8]) {
    let addr = stream.peer_addr().unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}");
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

/// Reads a response head: status and fields.
fn read_head(stream: &mut TcpStream) -> (u16, Vec<(String, String)>) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "no complete head ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let text = String::from_utf8(head).expect("an ASCII head");
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// Reads the rest of a response after its head (until the server closes).
fn read_body(stream: &mut TcpStream, headers: &[(String, String)]) -> Vec<u8> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("the body");
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked { dechunk(&raw).0 } else { raw }
}

/// The data of a chunked body, and whether its last chunk (size 0) came.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or_else(|| panic!("bad chunk size line {:?}", &raw[..line_end]));
        if size == 0 {
            return (out, true);
        }
        let data = line_end + 2;
        if raw.len() < data + size + 2 {
            return (out, false);
        }
        out.extend_from_slice(&raw[data..data + size]);
        raw = &raw[data + size + 2..];
    }
}

fn request(server: &Server, method: &str, path: &str, extra: &str, body: &[u8]) -> Response {
    let mut stream = server.tcp();
    send_request(&mut stream, method, path, extra, body);
    let (status, headers) = read_head(&mut stream);
    let body = read_body(&mut stream, &headers);
    Response {
        status,
        headers,
        body,
    }
}

fn get(server: &Server, path: &str) -> Response {
    request(server, "GET", path, "", b"")
}

fn post_vote(server: &Server, body: &str) -> Response {
    request(
        server,
        "POST",
        "/api/vote",
        "Content-Type: application/json\r\n",
        body.as_bytes(),
    )
}

fn stats(server: &Server) -> Value {
    let response = get(server, "/api/stats");
    assert_eq!(response.status, 200);
    response.json()
}

/// Waits (at most 10 s) until `/api/stats` satisfies `done`.
fn wait_for_stats(server: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for_stats_within(server, Duration::from_secs(10), what, done)
}

/// Waits at most `limit` until `/api/stats` satisfies `done`.
fn wait_for_stats_within(
    server: &Server,
    limit: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let now = stats(server);
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "never {what}: {now}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The server with the vote limit lifted (every test client is 127.0.0.1).
fn start(args: &[&str]) -> Server {
    let lifted = ["--vote-rate", "1000000", "--vote-burst", "1000000"];
    Server::start("vote_server", &[&lifted[..], args].concat())
}

/// The counts of a counts JSON, in candidate order.
fn votes(counts: &Value) -> Vec<u64> {
    counts["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no candidates in {counts}"))
        .iter()
        .map(|c| c["votes"].as_u64().unwrap())
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---- short polling and HTTP votes ---------------------------------------------------

#[test]
fn short_poll_returns_the_counts_as_json_and_http_votes_change_them() {
    let server = start(&[]);
    let first = get(&server, "/api/counts");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let counts = first.json();
    assert_eq!(counts["version"], 0, "{counts}");
    assert_eq!(counts["total"], 0, "{counts}");
    assert_eq!(counts["voted_at"], Value::Null, "{counts}");
    let names: Vec<&str> = counts["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Rust", "Go", "Zig", "C++"]);

    let before = now_ms();
    let voted = post_vote(&server, r#"{"vote": "Zig"}"#);
    assert_eq!(
        voted.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&voted.body)
    );
    assert_eq!(voted.json(), json!({"version": 1, "total": 1}));
    let voted = post_vote(&server, r#"{"vote":"Rust"}"#);
    assert_eq!(voted.json(), json!({"version": 2, "total": 2}));
    let counts = get(&server, "/api/counts").json();
    assert_eq!(counts["version"], 2);
    assert_eq!(votes(&counts), [1, 0, 1, 0]);
    let at = counts["voted_at"].as_u64().expect("voted_at after a vote");
    assert!(
        at >= before && at <= now_ms(),
        "voted_at {at}, voted at {before}"
    );
    // A WebSocket client sees the same JSON (plus nothing): one text for all.
    let mut ws = server.connect("");
    let pushed = ws.expect("counts");
    assert_eq!(pushed, counts);
}

#[test]
fn malformed_and_unknown_http_votes_get_400_with_a_json_error_and_count_nothing() {
    let server = start(&[]);
    post_vote(&server, r#"{"vote": "Go"}"#);
    let bad = [
        "not json",
        "",
        "[]",
        "{}",
        r#"{"vote": "Nobody"}"#,
        r#"{"vote": "rust"}"#,
        r#"{"vote": 0}"#,
        r#"{"vote": null}"#,
        r#"{"vote": "Rust", "extra": 1}"#,
        r#"{"vote": "Rust""#,
        r#""Rust""#,
        "\u{fffd}\u{0}",
    ];
    for body in bad {
        let response = post_vote(&server, body);
        assert_eq!(response.status, 400, "{body:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        let error = response.json();
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body:?}: {error}"
        );
    }
    // Not JSON by its type: 415; too large: 413; another method: 405.
    let plain = request(
        &server,
        "POST",
        "/api/vote",
        "Content-Type: text/plain\r\n",
        br#"{"vote": "Go"}"#,
    );
    assert_eq!(plain.status, 415);
    assert!(plain.json()["error"].is_string());
    let huge = format!(r#"{{"vote": "{}"}}"#, "x".repeat(10_000));
    let huge = post_vote(&server, &huge);
    assert_eq!(huge.status, 413);
    assert!(huge.json()["error"].is_string());
    let wrong = get(&server, "/api/vote");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("POST"));
    // From another site's page: 403. From the board's own page: counted.
    let foreign = request(
        &server,
        "POST",
        "/api/vote",
        "Content-Type: application/json\r\nOrigin: http://evil.example\r\n",
        br#"{"vote": "Go"}"#,
    );
    assert_eq!(foreign.status, 403);
    // Nothing of it was counted.
    let counts = get(&server, "/api/counts").json();
    assert_eq!(
        (counts["version"].clone(), votes(&counts)),
        (json!(1), vec![0, 1, 0, 0])
    );
    let own = format!(
        "Content-Type: application/json\r\nOrigin: http://{}\r\n",
        server.addr
    );
    let own = request(&server, "POST", "/api/vote", &own, br#"{"vote": "Go"}"#);
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["version"], 2);
}

#[test]
fn http_votes_past_the_address_bucket_get_429_and_are_not_counted() {
    // 5 at once, then one every 10 s: the test is over long before.
    let server = Server::start("vote_server", &["--vote-burst", "5", "--vote-rate", "0.1"]);
    for i in 1..=5 {
        let response = post_vote(&server, r#"{"vote": "Rust"}"#);
        assert_eq!(response.status, 200, "vote {i}");
    }
    for _ in 0..5 {
        let response = post_vote(&server, r#"{"vote": "Rust"}"#);
        assert_eq!(response.status, 429);
        assert_eq!(response.header("retry-after"), Some("10"));
        let error = response.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains("too many votes"), "{error}");
    }
    assert_eq!(get(&server, "/api/counts").json()["total"], 5);
    // A WebSocket connection has its own bucket: it votes.
    let mut ws = server.connect("");
    ws.expect("counts");
    ws.send(&json!({"vote": "Go"}));
    assert_eq!(ws.expect("counts")["total"], 6);
}

#[test]
fn bad_requests_on_every_endpoint_get_a_clear_http_error() {
    let server = start(&[]);
    for (method, path, status) in [
        ("GET", "/nope", 404),
        ("GET", "/api/nope", 404),
        ("POST", "/api/counts", 405),
        ("DELETE", "/events", 405),
        ("PUT", "/", 405),
        ("GET", "/api/counts?since=abc", 400),
        ("GET", "/api/counts?since=-1", 400),
        ("GET", "/api/counts?since=", 400),
        ("GET", "/api/counts?since=99999999999999999999999", 400),
        ("GET", "/ws", 400),
    ] {
        let response = request(&server, method, path, "", b"");
        assert_eq!(response.status, status, "{method} {path}");
        if path.starts_with("/api/") {
            assert!(response.json()["error"].is_string(), "{method} {path}");
        }
    }
    // A malformed request line, and a head over hyper's buffer.
    let mut stream = server.tcp();
    stream.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    let big = format!("X-Big: {}\r\n", "b".repeat(40_000));
    let mut stream = server.tcp();
    stream
        .write_all(format!("GET /api/counts HTTP/1.1\r\nHost: x\r\n{big}\r\n").as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    // The server is still there.
    assert_eq!(get(&server, "/api/counts").status, 200);
}

// ---- long polling -----------------------------------------------------------------------

/// Sends `GET /api/counts?since=N` and returns the stream, unread.
fn long_poll(addr: SocketAddr, since: u64) -> TcpStream {
    let mut stream = tcp(addr);
    send_request(
        &mut stream,
        "GET",
        &format!("/api/counts?since={since}"),
        "",
        b"",
    );
    stream
}

/// Whether anything arrives on `stream` within `wait`.
fn silent_for(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8];
    let silent = match stream.peek(&mut byte) {
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        Ok(_) => false,
    };
    stream
        .set_read_timeout(Some(app_harness::IO_TIMEOUT))
        .unwrap();
    silent
}

fn finish(mut stream: TcpStream) -> Response {
    let (status, headers) = read_head(&mut stream);
    let body = read_body(&mut stream, &headers);
    Response {
        status,
        headers,
        body,
    }
}

#[test]
fn long_poll_answers_at_once_when_not_current_and_holds_until_the_next_vote() {
    let server = start(&[]);
    post_vote(&server, r#"{"vote": "Go"}"#);
    // Behind (0 < 1), and ahead (a board restarted since): at once.
    for since in [0, 7] {
        let started = Instant::now();
        let response = finish(long_poll(server.addr, since));
        assert_eq!(response.status, 200);
        assert_eq!(response.json()["version"], 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    // Current: held.
    let mut held = long_poll(server.addr, 1);
    assert!(
        silent_for(&mut held, Duration::from_millis(500)),
        "answered while current"
    );
    wait_for_stats(&server, "one long poll held", |s| s["long_polls"] == 1);
    let voted = Instant::now();
    post_vote(&server, r#"{"vote": "Zig"}"#);
    let response = finish(held);
    let released = voted.elapsed();
    assert_eq!(response.status, 200);
    let counts = response.json();
    assert_eq!(
        (counts["version"].clone(), votes(&counts)),
        (json!(2), vec![0, 1, 1, 0])
    );
    assert!(
        released < Duration::from_millis(500),
        "released after {released:?}"
    );
    assert_eq!(stats(&server)["long_polls"], 0);
}

#[test]
fn long_poll_times_out_with_204_and_no_body() {
    let server = start(&["--long-poll-timeout", "0.5"]);
    let started = Instant::now();
    let response = finish(long_poll(server.addr, 0));
    let waited = started.elapsed();
    assert_eq!(response.status, 204);
    assert!(response.body.is_empty());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn past_max_long_polls_a_request_gets_503_and_a_client_that_left_frees_its_place() {
    let server = start(&["--max-long-polls", "3"]);
    let mut held: Vec<TcpStream> = (0..3).map(|_| long_poll(server.addr, 0)).collect();
    wait_for_stats(&server, "3 long polls held", |s| s["long_polls"] == 3);
    let refused = finish(long_poll(server.addr, 0));
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("long polls")
    );
    // Short polls are not held: still answered.
    assert_eq!(get(&server, "/api/counts").status, 200);
    // Two clients go away while held: their places are free again, nothing
    // of them stays.
    drop(held.pop());
    drop(held.pop());
    wait_for_stats(&server, "the two left long polls freed", |s| {
        s["long_polls"] == 1
    });
    held.push(long_poll(server.addr, 0));
    wait_for_stats(&server, "a new one held", |s| s["long_polls"] == 2);
    assert_eq!(stats(&server)["long_polls_refused"], 1);
    post_vote(&server, r#"{"vote": "Rust"}"#);
    for stream in held {
        assert_eq!(finish(stream).json()["version"], 1);
    }
}

/// 1,000 long polls held at once, all released by one vote within a
/// bounded time, each with the new counts.
#[test]
fn a_thousand_held_long_polls_are_released_by_one_vote() {
    const POLLS: usize = 1000;
    let server = start(&["--max-long-polls", "1000", "--max-connections", "1100"]);
    let started = Instant::now();
    let held: Vec<TcpStream> = (0..POLLS).map(|_| long_poll(server.addr, 0)).collect();
    // A debug-build server on a busy machine takes seconds to parse 1,000
    // requests: a generous bound for the setup, a tight one for the release.
    wait_for_stats_within(
        &server,
        Duration::from_secs(60),
        "1,000 long polls held",
        |s| s["long_polls"] == POLLS,
    );
    let opened = started.elapsed();
    let voted = Instant::now();
    assert_eq!(post_vote(&server, r#"{"vote": "C++"}"#).status, 200);
    let mut slowest = Duration::ZERO;
    for stream in held {
        let response = finish(stream);
        slowest = slowest.max(voted.elapsed());
        assert_eq!(response.status, 200);
        let counts = response.json();
        assert_eq!(
            (counts["version"].clone(), votes(&counts)),
            (json!(1), vec![0, 0, 0, 1])
        );
    }
    eprintln!("{POLLS} long polls held after {opened:?}; all answered {slowest:?} after the vote");
    assert!(slowest < Duration::from_secs(3), "{slowest:?}");
    wait_for_stats(&server, "nothing held", |s| s["long_polls"] == 0);
}

// ---- Server-Sent Events ---------------------------------------------------------------

/// An open `GET /events` stream: its head read, its chunked body read as
/// it comes.
struct Events {
    stream: TcpStream,
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
    /// The event stream so far, de-chunked.
    text: String,
    ended: bool,
}

impl Events {
    fn open(addr: SocketAddr, last_event_id: Option<&str>) -> Result<Events, Response> {
        let mut stream = tcp(addr);
        let extra = last_event_id.map_or_else(String::new, |id| format!("Last-Event-ID: {id}\r\n"));
        send_request(
            &mut stream,
            "GET",
            "/events",
            &format!("Accept: text/event-stream\r\n{extra}"),
            b"",
        );
        let (status, headers) = read_head(&mut stream);
        if status != 200 {
            let body = read_body(&mut stream, &headers);
            return Err(Response {
                status,
                headers,
                body,
            });
        }
        Ok(Events {
            stream,
            headers,
            raw: Vec::new(),
            text: String::new(),
            ended: false,
        })
    }

    /// Reads what arrived within `wait` (returns at the first bytes).
    fn pump(&mut self, wait: Duration) {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) => self.ended = true,
            Ok(n) => self.raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("the event stream failed: {e}"),
        }
        let (data, last) = dechunk(&self.raw);
        self.ended |= last;
        // The whole stream so far, from its complete chunks (a read may
        // end inside one).
        self.text = String::from_utf8(data).expect("an event stream is UTF-8");
    }

    /// The stream so far, de-chunked.
    fn so_far(&self) -> &str {
        &self.text
    }

    /// Reads until the stream holds `blocks` blank-line-terminated blocks
    /// (or `wait` passed); returns all blocks so far.
    fn blocks(&mut self, blocks: usize, wait: Duration) -> Vec<String> {
        let deadline = Instant::now() + wait;
        loop {
            let done: Vec<String> = split_blocks(&self.text);
            if done.len() >= blocks || self.ended || Instant::now() >= deadline {
                return done;
            }
            self.pump(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            );
        }
    }
}

/// The complete blocks of an event stream (each ends in a blank line),
/// without their terminating blank line.
fn split_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find("\n\n") {
        out.push(rest[..end].to_string());
        rest = &rest[end + 2..];
    }
    out
}

/// Checks every line of a stream against the HTML standard's
/// event-stream grammar as this server uses it: LF line ends only, each
/// line empty, a comment (`:` first), or `field: value` with a field the
/// standard defines (`id`, `data`, `retry`, `event`); `id` holds no NUL,
/// `retry` only ASCII digits.
fn check_grammar(text: &str) {
    assert!(!text.contains('\r'), "CR in the stream: {text:?}");
    assert!(!text.starts_with('\u{feff}'), "a BOM");
    for line in text.split('\n') {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("no `: ` in {line:?}"));
        match field {
            "id" => assert!(!value.contains('\0') && !value.is_empty(), "{line:?}"),
            "retry" => assert!(value.bytes().all(|b| b.is_ascii_digit()), "{line:?}"),
            "data" => {
                serde_json::from_str::<Value>(value)
                    .unwrap_or_else(|e| panic!("data {value:?}: {e}"));
            }
            other => panic!("unexpected field {other:?} in {line:?}"),
        }
    }
}

/// `id: N` and `data: JSON` of an event block.
fn parse_event(block: &str) -> (u64, Value) {
    let lines: Vec<&str> = block.split('\n').collect();
    assert_eq!(
        lines.len(),
        2,
        "an event is one id and one data line: {block:?}"
    );
    let id = lines[0]
        .strip_prefix("id: ")
        .unwrap_or_else(|| panic!("{block:?}"));
    let data = lines[1]
        .strip_prefix("data: ")
        .unwrap_or_else(|| panic!("{block:?}"));
    (id.parse().unwrap(), serde_json::from_str(data).unwrap())
}

#[test]
fn event_stream_framing_follows_the_html_standard() {
    let server = start(&["--sse-retry", "1500", "--sse-keepalive", "0.4"]);
    let counts_now = get(&server, "/api/counts").body;
    let mut events = Events::open(server.addr, None).expect("200");
    assert_eq!(
        events
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|h| h.1.as_str()),
        Some("text/event-stream")
    );
    assert_eq!(
        events
            .headers
            .iter()
            .find(|(n, _)| n == "cache-control")
            .map(|h| h.1.as_str()),
        Some("no-store")
    );
    let first = events.blocks(2, Duration::from_secs(5));
    // Exactly: the retry field alone, then the current counts, byte for
    // byte the JSON of /api/counts.
    let expected = format!(
        "retry: 1500\n\nid: 0\ndata: {}\n\n",
        String::from_utf8(counts_now).unwrap()
    );
    assert_eq!(
        &events.so_far()[..expected.len().min(events.so_far().len())],
        expected,
        "{first:?}"
    );
    // A vote: one event, id the new version.
    let voted = Instant::now();
    post_vote(&server, r#"{"vote": "Rust"}"#);
    let blocks = events.blocks(3, Duration::from_secs(5));
    let (id, data) = parse_event(&blocks[2]);
    assert_eq!(id, 1);
    assert_eq!(data, get(&server, "/api/counts").json());
    // Idle: a comment line the keepalive time (0.4 s) after the event,
    // which came after the vote was sent; nothing else.
    let blocks = events.blocks(4, Duration::from_secs(5));
    assert_eq!(blocks[3], ": keepalive");
    assert!(
        voted.elapsed() >= Duration::from_millis(400),
        "{:?}",
        voted.elapsed()
    );
    check_grammar(events.so_far());
}

#[test]
fn last_event_id_is_honoured_on_reconnect() {
    let server = start(&[]);
    for _ in 0..2 {
        post_vote(&server, r#"{"vote": "Go"}"#);
    }
    // Current: only the retry field; nothing until the next vote.
    let mut current = Events::open(server.addr, Some("2")).expect("200");
    let blocks = current.blocks(2, Duration::from_millis(600));
    assert_eq!(
        blocks,
        ["retry: 2000"],
        "a client that has version 2 got {blocks:?}"
    );
    // Behind, ahead (an older board's id) or not a number: the current
    // counts at once.
    let mut behind = Events::open(server.addr, Some("1")).expect("200");
    let mut ahead = Events::open(server.addr, Some("40")).expect("200");
    let mut junk = Events::open(server.addr, Some("not-a-number")).expect("200");
    for events in [&mut behind, &mut ahead, &mut junk] {
        let blocks = events.blocks(2, Duration::from_secs(5));
        assert_eq!(blocks.len(), 2, "{blocks:?}");
        let (id, data) = parse_event(&blocks[1]);
        assert_eq!((id, votes(&data)), (2, vec![0, 2, 0, 0]));
    }
    // The next vote reaches every one of them as event 3.
    post_vote(&server, r#"{"vote": "Zig"}"#);
    for (events, n) in [
        (&mut current, 2),
        (&mut behind, 3),
        (&mut ahead, 3),
        (&mut junk, 3),
    ] {
        let blocks = events.blocks(n, Duration::from_secs(5));
        let (id, data) = parse_event(&blocks[n - 1]);
        assert_eq!((id, votes(&data)), (3, vec![0, 2, 1, 0]));
        check_grammar(events.so_far());
    }
    assert_eq!(stats(&server)["event_streams_resumed"], 4);
}

#[test]
fn event_streams_are_capped_with_503_and_end_after_their_lifetime() {
    let server = start(&["--max-event-streams", "2", "--sse-lifetime", "1.5"]);
    let opened = Instant::now();
    let mut a = Events::open(server.addr, None).expect("200");
    let mut b = Events::open(server.addr, None).expect("200");
    let refused = Events::open(server.addr, None).err().expect("a refusal");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(String::from_utf8_lossy(&refused.body).contains("event streams"));
    // Both end (the last chunk) after their lifetime, not before.
    for events in [&mut a, &mut b] {
        while !events.ended {
            assert!(opened.elapsed() < Duration::from_secs(5), "still open");
            events.pump(Duration::from_millis(100));
        }
        assert!(
            opened.elapsed() >= Duration::from_millis(1400),
            "{:?}",
            opened.elapsed()
        );
        check_grammar(events.so_far());
    }
    wait_for_stats(&server, "no stream open", |s| s["event_streams"] == 0);
    assert!(Events::open(server.addr, None).is_ok());
}

/// A client that closes its event stream gives its place back at once (no
/// keepalive write needed to notice), and the stream's place is taken by
/// the next client.
#[test]
fn an_event_stream_whose_client_left_frees_its_place_at_once() {
    let server = start(&["--max-event-streams", "1", "--sse-keepalive", "60"]);
    let mut first = Events::open(server.addr, None).expect("200");
    first.blocks(2, Duration::from_secs(5));
    assert_eq!(
        Events::open(server.addr, None).err().map(|r| r.status),
        Some(503)
    );
    let left = Instant::now();
    drop(first);
    wait_for_stats(&server, "the stream's place freed", |s| {
        s["event_streams"] == 0
    });
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "{:?}",
        left.elapsed()
    );
    let mut next = Events::open(server.addr, None).expect("the freed place");
    assert_eq!(next.blocks(2, Duration::from_secs(5)).len(), 2);
}

/// A reader that stops reading while 20,000 votes are cast is not sent a
/// backlog: the stream yields the newest counts whenever the socket has
/// room, so it gets far fewer events than votes, in order, ending with
/// the final counts.
#[test]
fn a_slow_event_stream_reader_gets_the_newest_counts_not_a_backlog() {
    const VOTES: u64 = 20_000;
    let server = start(&[]);
    let mut slow = Events::open(server.addr, None).expect("200");
    let mut voter = server.connect("");
    voter.expect("counts");
    for _ in 0..VOTES {
        voter.ws.send_text(r#"{"vote": "Rust"}"#).unwrap();
    }
    // The voter's own counts end at the total: every vote was counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    while voter.expect("counts")["total"] != VOTES {
        assert!(Instant::now() < deadline);
    }
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids.last() != Some(&VOTES) {
        assert!(
            Instant::now() < deadline,
            "never got the final counts: {:?}",
            ids.last()
        );
        slow.pump(Duration::from_millis(200));
        ids = split_blocks(slow.so_far())
            .iter()
            .skip(1)
            .map(|b| parse_event(b).0)
            .collect();
    }
    eprintln!(
        "slow reader: {} events ({} bytes) for {VOTES} votes",
        ids.len(),
        slow.so_far().len()
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids not increasing");
    // What was written before the reader looked is what its socket's
    // receive buffer holds (~128 KiB here) and the server's unsent bytes
    // (16 KiB, TCP_NOTSENT_LOWAT); then the newest counts.
    assert!(
        (ids.len() as u64) < VOTES / 10,
        "{} events: a backlog",
        ids.len()
    );
    assert!(
        slow.so_far().len() < 1 << 20,
        "{} bytes: a backlog",
        slow.so_far().len()
    );
}
