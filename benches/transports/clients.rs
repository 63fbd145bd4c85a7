//! The watching clients of the transports harness, one tokio task each,
//! every byte they read or write counted at their socket (HTTP heads and
//! chunked framing, WebSocket handshake and frames, pings and pongs
//! included), and the voter.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

/// The four transports, as the page's `?transport=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Poll,
    Long,
    Sse,
    Ws,
}

impl Transport {
    pub const ALL: [Transport; 4] = [
        Transport::Poll,
        Transport::Long,
        Transport::Sse,
        Transport::Ws,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transport::Poll => "poll",
            Transport::Long => "long",
            Transport::Sse => "sse",
            Transport::Ws => "ws",
        }
    }
}

/// What every watcher of a cell shares.
pub struct Shared {
    /// Bytes read and written at the watchers' sockets, while `measuring`.
    pub read: AtomicU64,
    pub written: AtomicU64,
    pub measuring: AtomicBool,
    /// Watchers that have their first counts.
    pub ready: AtomicUsize,
    /// Responses (poll: 200, long: 204 or 200) that brought no new version,
    /// while measuring.
    pub stale: AtomicU64,
    /// HTTP requests the watchers sent while measuring.
    pub requests: AtomicU64,
    /// The short-polling interval.
    pub poll_interval: Duration,
    /// The request head fields after `Host` (see [`BROWSER_HEADERS`]).
    pub headers: &'static str,
    /// Each watcher's deliveries (its own lock: no contention).
    slots: Mutex<Vec<Arc<Mutex<Deliveries>>>>,
}

impl Shared {
    pub fn new(poll_interval: Duration, headers: &'static str) -> Arc<Shared> {
        Arc::new(Shared {
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            ready: AtomicUsize::new(0),
            stale: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            poll_interval,
            headers,
            slots: Mutex::new(Vec::new()),
        })
    }

    /// A new watcher's slot for its deliveries.
    pub fn slot(&self) -> Arc<Mutex<Deliveries>> {
        let slot = Arc::new(Mutex::new(Deliveries::new()));
        lock(&self.slots).push(Arc::clone(&slot));
        slot
    }

    /// Every watcher's deliveries so far.
    pub fn deliveries(&self) -> Vec<Deliveries> {
        lock(&self.slots)
            .iter()
            .map(|slot| lock(slot).clone())
            .collect()
    }

    fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }
}

/// The fields Chromium sends with a same-origin `fetch()` (and, with
/// `Accept: text/event-stream` and `Cache-Control: no-cache`, with an
/// `EventSource`), after `Host`, as Chromium 131 on Linux sends them
/// without cookies: 448 bytes, a 508-byte request head with the request
/// line and `Host`. `--headers minimal` sends only
/// [`MINIMAL_HEADERS`] instead.
pub const BROWSER_HEADERS: &str = "Connection: keep-alive\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
Accept: */*\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: cors\r\n\
Sec-Fetch-Dest: empty\r\n\
Referer: http://127.0.0.1/?transport=poll\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n";

/// The least a client sends after `Host`.
pub const MINIMAL_HEADERS: &str = "Accept: */*\r\n";

/// A socket whose bytes are counted into [`Shared`] while measuring.
pub struct Counted {
    tcp: TcpStream,
    shared: Arc<Shared>,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if this.shared.measuring() {
            let n = (buf.filled().len() - before) as u64;
            this.shared.read.fetch_add(n, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && this.shared.measuring()
        {
            this.shared.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

async fn counted(addr: std::net::SocketAddr, shared: &Arc<Shared>) -> io::Result<Counted> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(Counted {
        tcp,
        shared: Arc::clone(shared),
    })
}

/// `"version":N` of a counts JSON, without a full parse.
pub fn version_of(json: &[u8]) -> Option<u64> {
    let key = b"\"version\":";
    let at = json.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = json[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// One HTTP/1.1 response on a keep-alive connection: status and body
/// (`Content-Length` bodies only, as the server's API answers).
async fn response<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    let mut status = 0;
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if status == 0 {
            status = trimmed.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        } else if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok((status, body))
}

/// Every new version the watcher got, and when: `(version, at)`.
pub type Deliveries = Vec<(u64, Instant)>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a watcher keeps: the last version it had, and its slot.
struct Got {
    last: Option<u64>,
    slot: Arc<Mutex<Deliveries>>,
}

impl Got {
    fn last(&self) -> Option<u64> {
        self.last
    }
}

/// Runs one watcher until `end` (or until aborted), noting its deliveries
/// (versions newer than the one it had, with the instant it had them) in
/// `slot`.
pub async fn watch(
    transport: Transport,
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    slot: Arc<Mutex<Deliveries>>,
    start_delay: Duration,
    end: Instant,
) -> io::Result<()> {
    tokio::time::sleep(start_delay).await;
    let stream = counted(addr, &shared).await?;
    let mut got = Got { last: None, slot };
    let result = match transport {
        Transport::Poll | Transport::Long => poll(transport, stream, &shared, end, &mut got).await,
        Transport::Sse => sse(stream, &shared, end, &mut got).await,
        Transport::Ws => ws(stream, addr, &shared, end, &mut got).await,
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(()), // the end
        other => other,
    }
}

/// The result of an operation under `timeout_at(end, ...)`: timed out
/// is `TimedOut`, the end of the watcher's run.
fn deadline<T>(r: Result<io::Result<T>, tokio::time::error::Elapsed>) -> io::Result<T> {
    r.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Notes `version` if it is newer than the last one; `false` if stale.
fn deliver(got: &mut Got, version: u64, shared: &Shared, first: &mut bool) -> bool {
    if *first {
        *first = false;
        shared.ready.fetch_add(1, Ordering::Relaxed);
    }
    let newer = got.last.is_none_or(|last| version > last);
    if newer {
        got.last = Some(version);
        lock(&got.slot).push((version, Instant::now()));
    }
    newer
}

async fn poll(
    transport: Transport,
    stream: Counted,
    shared: &Shared,
    end: Instant,
    got: &mut Got,
) -> io::Result<()> {
    let host = stream.tcp.peer_addr()?;
    let mut reader = BufReader::new(stream);
    let mut first = true;
    let mut next = Instant::now();
    loop {
        let path = match (transport, got.last()) {
            (Transport::Long, Some(version)) => format!("/api/counts?since={version}"),
            _ => "/api/counts".to_string(),
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\n{}\r\n",
            shared.headers
        );
        deadline(timeout_at(end, reader.get_mut().write_all(request.as_bytes())).await)?;
        if shared.measuring() {
            shared.requests.fetch_add(1, Ordering::Relaxed);
        }
        let (status, body) = deadline(timeout_at(end, response(&mut reader)).await)?;
        let fresh = match status {
            200 => {
                let version = version_of(&body).ok_or_else(|| io::Error::other("no version"))?;
                deliver(got, version, shared, &mut first)
            }
            204 => false,
            other => return Err(io::Error::other(format!("status {other}"))),
        };
        if !fresh && shared.measuring() {
            shared.stale.fetch_add(1, Ordering::Relaxed);
        }
        if transport == Transport::Poll {
            next += shared.poll_interval;
            deadline(
                timeout_at(end, tokio::time::sleep_until(next))
                    .await
                    .map(Ok),
            )?;
        }
    }
}

async fn sse(stream: Counted, shared: &Shared, end: Instant, got: &mut Got) -> io::Result<()> {
    let host = stream.tcp.peer_addr()?;
    let mut reader = BufReader::new(stream);
    let request = format!(
        "GET /events HTTP/1.1\r\nHost: {host}\r\n{}\r\n",
        shared.headers
    );
    deadline(timeout_at(end, reader.get_mut().write_all(request.as_bytes())).await)?;
    let mut line = String::new();
    // The head.
    loop {
        line.clear();
        deadline(timeout_at(end, reader.read_line(&mut line)).await)?;
        if line.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut first = true;
    let mut text = String::new();
    loop {
        // A chunk: its size line, data, CRLF.
        line.clear();
        deadline(timeout_at(end, reader.read_line(&mut line)).await)?;
        let size = usize::from_str_radix(line.trim(), 16).map_err(io::Error::other)?;
        if size == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut chunk = vec![0; size + 2];
        deadline(timeout_at(end, reader.read_exact(&mut chunk)).await)?;
        text.push_str(std::str::from_utf8(&chunk[..size]).map_err(io::Error::other)?);
        while let Some(at) = text.find("\n\n") {
            let block: String = text.drain(..at + 2).collect();
            if let Some(id) = block.lines().find_map(|l| l.strip_prefix("id: ")) {
                let version = id.trim().parse().map_err(io::Error::other)?;
                deliver(got, version, shared, &mut first);
            }
        }
    }
}

async fn ws(
    stream: Counted,
    addr: std::net::SocketAddr,
    shared: &Shared,
    end: Instant,
    got: &mut Got,
) -> io::Result<()> {
    let url = format!("ws://{addr}/ws");
    let (mut socket, _) = rfc6455::tokio::WebSocket::connect(stream, &url)
        .await
        .map_err(io::Error::other)?;
    let mut first = true;
    loop {
        let message = deadline(
            timeout_at(end, async { socket.recv().await.map_err(io::Error::other) }).await,
        )?;
        let Some(message) = message else {
            return Err(io::ErrorKind::UnexpectedEof.into());
        };
        let text = message
            .as_text()
            .ok_or_else(|| io::Error::other("binary"))?;
        if let Some(version) = version_of(text.as_bytes()) {
            deliver(got, version, shared, &mut first);
        }
    }
}

/// Votes at `rate` a second from `start` until `stop` (each due at
/// `start + i / rate`) over one keep-alive HTTP connection (not counted);
/// returns, for every version made, the instant its vote was sent.
pub async fn vote(
    addr: std::net::SocketAddr,
    rate: f64,
    start: Instant,
    stop: Instant,
) -> io::Result<Vec<(u64, Instant)>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut reader = BufReader::new(tcp);
    let body = br#"{"vote": "Rust"}"#;
    let request = format!(
        "POST /api/vote HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut sent = Vec::new();
    for i in 0.. {
        let due = start + Duration::from_secs_f64(f64::from(i) / rate);
        if due >= stop {
            break;
        }
        tokio::time::sleep_until(due).await;
        let at = Instant::now();
        reader.get_mut().write_all(request.as_bytes()).await?;
        reader.get_mut().write_all(body).await?;
        let (status, answer) = response(&mut reader).await?;
        if status != 200 {
            return Err(io::Error::other(format!("vote: status {status}")));
        }
        let version = version_of(&answer).ok_or_else(|| io::Error::other("vote: no version"))?;
        sent.push((version, at));
    }
    Ok(sent)
}
