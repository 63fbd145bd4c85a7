//! The vote board's four push transports measured side by side (issue 14):
//! for each transport, N watching clients while votes arrive at R a second
//! for a fixed time, against a fresh `vote_server` process per cell, on
//! loopback.
//!
//! ```text
//! cargo bench --features axum --bench transports                  # the grid, ~6 min
//! cargo bench --features axum --bench transports -- --quick       # a few seconds
//! cargo bench --features axum --bench transports -- --svg benches/transports/transports.svg
//! ```
//!
//! (`cargo test --features axum --bench transports` runs the quick mode
//! too: without cargo's `--bench` flag the harness runs `--quick`, so CI
//! keeps it from rotting; tests/run.sh does that.)
//!
//! Grid: transports poll, long, sse, ws x N = 10, 100, 1,000 watchers x
//! R = 1, 20 votes a second, SECS (10) seconds of votes, then GRACE
//! (2.5 s, more than one poll interval) for the last ones to arrive; both
//! are measured. The watchers connect, each gets its first counts (not
//! measured), then the window starts. Short polls are spread evenly over
//! the poll interval (2 s, the page's default), as a crowd of pages is.
//!
//! Per cell, over the window:
//! * **updates**: new versions the watchers got (a watcher that gets
//!   version 7 after 5 got one update, covering two votes);
//! * **bytes/update**: bytes read + written at the watchers' sockets
//!   (HTTP heads, chunked framing, WebSocket frames, pings and pongs; the
//!   voter's own connection not counted), divided by updates; and
//!   **bytes/vote/watcher**: the same bytes per vote and watcher;
//! * **latency p50/p99**: for every (vote, watcher) pair, from the instant
//!   the vote was sent to the instant the watcher had a version that
//!   includes it (one clock, one process: the voter and the watchers are
//!   tasks of this program). Pairs never delivered in the window are
//!   **missed**;
//! * **req/s**: HTTP requests the server handled a second (its
//!   `/api/stats` counter, the votes taken out);
//! * **CPU/update**: the server's user + system time (`/proc/PID/stat`,
//!   at 100 ticks a second, i.e. 10 ms resolution) over the window,
//!   divided by updates;
//! * **stale**: responses that brought nothing new (a short poll
//!   returning the version the watcher had; a long poll's 204).
//!
//! The server runs with the vote limits lifted and caps above N; this
//! program (one tokio worker thread; `--client-threads N` for more) and
//! the server (two) share the
//! machine's cores, so latencies include the client's own scheduling.
//! Every server process is killed by its PID when its cell ends.

mod clients;
mod svg;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clients::{Shared, Transport};
use tokio::time::Instant;

/// How long the watchers may take to connect and get their first counts.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One cell's figures.
#[derive(Debug, Clone)]
pub struct Cell {
    pub transport: Transport,
    pub watchers: usize,
    pub rate: f64,
    pub votes: usize,
    pub updates: u64,
    pub bytes: u64,
    pub bytes_per_update: f64,
    pub bytes_per_vote_watcher: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub missed: u64,
    pub requests_per_sec: f64,
    pub cpu_us_per_update: f64,
    pub stale: u64,
}

struct Options {
    quick: bool,
    secs: f64,
    grace: f64,
    watchers: Vec<usize>,
    rates: Vec<f64>,
    transports: Vec<Transport>,
    svg: Option<PathBuf>,
    poll_interval: Duration,
    headers: &'static str,
    /// The harness's tokio worker threads (`--client-threads`, default 1).
    client_threads: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --bench` does not: quick.
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let list = |flag: &str, default: &str| -> Vec<String> {
        value(flag)
            .unwrap_or_else(|| default.to_string())
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let (secs, watchers, rates) = if quick {
        ("0.5", "10", "20")
    } else {
        ("10", "10,100,1000", "1,20")
    };
    let transports = list("--transports", "poll,long,sse,ws")
        .iter()
        .map(|t| match t.as_str() {
            "poll" => Transport::Poll,
            "long" => Transport::Long,
            "sse" => Transport::Sse,
            "ws" => Transport::Ws,
            other => panic!("unknown transport {other:?}"),
        })
        .collect();
    Options {
        quick,
        secs: value("--secs")
            .unwrap_or_else(|| secs.into())
            .parse()
            .expect("--secs"),
        grace: value("--grace").map_or(if quick { 0.7 } else { 2.5 }, |g| {
            g.parse().expect("--grace")
        }),
        watchers: list("--watchers", watchers)
            .iter()
            .map(|n| n.parse().expect("--watchers"))
            .collect(),
        rates: list("--rates", rates)
            .iter()
            .map(|r| r.parse().expect("--rates"))
            .collect(),
        transports,
        svg: value("--svg").map(PathBuf::from),
        // The page's default (2 s); shorter in the quick mode.
        poll_interval: Duration::from_millis(
            value("--poll-interval").map_or(if quick { 500 } else { 2000 }, |ms| {
                ms.parse().expect("--poll-interval")
            }),
        ),
        client_threads: value("--client-threads")
            .map_or(1, |n| n.parse().expect("--client-threads")),
        headers: match value("--headers").as_deref() {
            None | Some("browser") => clients::BROWSER_HEADERS,
            Some("minimal") => clients::MINIMAL_HEADERS,
            Some(other) => panic!("--headers browser|minimal, not {other:?}"),
        },
    }
}

fn main() {
    let options = options();
    // `--replot RUN.txt[,RUN2.txt...]`: the table and the plot again from
    // runs' `cell` lines, each figure the median over the runs.
    if let Some(runs) = std::env::args().skip_while(|a| a != "--replot").nth(1) {
        let runs: Vec<Vec<Cell>> = runs
            .split(',')
            .map(|run| {
                let text = std::fs::read_to_string(run).expect("the run's output");
                text.lines().filter_map(parse_cell).collect()
            })
            .collect();
        let cells = medians(&runs);
        println!("medians of {} runs", runs.len());
        print_table(&cells);
        if let Some(path) = &options.svg {
            std::fs::write(path, svg::plot(&cells)).expect("write the SVG");
        }
        return;
    }
    let binary = build_server();
    let mut cells = Vec::new();
    println!(
        "transports: {} s of votes + {} s grace per cell, poll interval {:?}, {} request heads{}",
        options.secs,
        options.grace,
        options.poll_interval,
        if options.headers == clients::BROWSER_HEADERS {
            "browser"
        } else {
            "minimal"
        },
        if options.quick { " (quick)" } else { "" }
    );
    for &watchers in &options.watchers {
        for &rate in &options.rates {
            for &transport in &options.transports {
                let cell = run_cell(&binary, transport, watchers, rate, &options);
                println!(
                    "cell {} N={} R={}: {} votes, {} updates, {:.0} B/update, {:.1} B/vote/watcher, \
                     p50 {:.1} ms, p99 {:.1} ms, missed {}, {:.0} req/s, {:.1} us CPU/update, {} stale",
                    transport.name(),
                    watchers,
                    rate,
                    cell.votes,
                    cell.updates,
                    cell.bytes_per_update,
                    cell.bytes_per_vote_watcher,
                    cell.p50_ms,
                    cell.p99_ms,
                    cell.missed,
                    cell.requests_per_sec,
                    cell.cpu_us_per_update,
                    cell.stale
                );
                check(&cell, &options);
                cells.push(cell);
            }
        }
    }
    println!();
    print_table(&cells);
    if let Some(path) = &options.svg {
        std::fs::write(path, svg::plot(&cells)).expect("write the SVG");
        println!("\nplot: {}", path.display());
    }
}

/// What every cell must show, or the harness fails (so that the quick
/// mode in CI catches a transport that stopped delivering).
fn check(cell: &Cell, options: &Options) {
    let name = cell.transport.name();
    assert!(cell.votes > 0, "{name}: no votes");
    assert!(cell.updates > 0, "{name}: no updates delivered");
    assert_eq!(
        cell.missed, 0,
        "{name}: (vote, watcher) pairs never delivered"
    );
    if options.quick {
        // Push transports deliver every vote; short polling at most one
        // update per interval and watcher.
        let pairs = (cell.votes * cell.watchers) as u64;
        match cell.transport {
            Transport::Poll => assert!(cell.updates <= pairs),
            _ => assert!(cell.p99_ms < 1000.0, "{name}: p99 {} ms", cell.p99_ms),
        }
    }
}

/// Builds the example in this binary's profile; its path.
fn build_server() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(other) => other.to_string(),
        None => panic!("no profile dir"),
    };
    let status = Command::new(env!("CARGO"))
        .args(["build", "--example", "vote_server", "--features", "axum"])
        .args(["--profile", &profile])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build --example vote_server failed");
    profile_dir.join("examples").join("vote_server")
}

/// A fresh server; killed (by its PID) when dropped.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(binary: &Path, watchers: usize, poll_interval: Duration) -> ServerProcess {
    let cap = (watchers + 100).to_string();
    let mut child = Command::new(binary)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--vote-rate",
            "1000000",
            "--vote-burst",
            "1000000",
        ])
        .args([
            "--max-connections",
            &cap,
            "--max-long-polls",
            &cap,
            "--max-event-streams",
            &cap,
        ])
        .args(["--poll-interval", &poll_interval.as_millis().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start vote_server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("its first line");
    let addr = line
        .split_once("ws://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .and_then(|(addr, _)| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    ServerProcess { child, addr }
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (from 1), i.e. 11 and 12 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The server's HTTP request counter (`/api/stats`), over a plain socket.
fn server_requests(addr: SocketAddr) -> u64 {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).expect("stats");
    write!(
        tcp,
        "GET /api/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let body = &answer[answer.find("\r\n\r\n").expect("a head") + 4..];
    let stats: serde_json::Value = serde_json::from_str(body).expect("stats JSON");
    stats["requests"].as_u64().expect("requests")
}

fn run_cell(
    binary: &Path,
    transport: Transport,
    watchers: usize,
    rate: f64,
    options: &Options,
) -> Cell {
    let server = start_server(binary, watchers, options.poll_interval);
    let addr = server.addr;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads)
        .enable_all()
        .build()
        .expect("runtime");
    let shared = Shared::new(options.poll_interval, options.headers);
    let poll_interval = options.poll_interval;
    let secs = Duration::from_secs_f64(options.secs);
    let grace = Duration::from_secs_f64(options.grace);
    runtime.block_on(async {
        // The end of the window is not known before everyone is ready:
        // the watchers run until a far end and are stopped by abort.
        let far = Instant::now() + READY_TIMEOUT + secs + grace + Duration::from_secs(5);
        let tasks: Vec<_> = (0..watchers)
            .map(|i| {
                // Short polls spread over the interval; the others connect
                // a few at a time (1,000 in 0.5 s).
                let delay = match transport {
                    Transport::Poll => poll_interval.mul_f64(i as f64 / watchers as f64),
                    _ => Duration::from_micros(500 * i as u64),
                };
                let slot = shared.slot();
                tokio::spawn(clients::watch(
                    transport,
                    addr,
                    Arc::clone(&shared),
                    slot,
                    delay,
                    far,
                ))
            })
            .collect();
        let ready_by = Instant::now() + READY_TIMEOUT;
        while shared.ready.load(Ordering::Relaxed) < watchers {
            assert!(
                Instant::now() < ready_by,
                "{}: watchers not ready",
                transport.name()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The window.
        let pid = server.child.id();
        let requests_before = server_requests(addr);
        let cpu_before = cpu_ticks(pid);
        shared.measuring.store(true, Ordering::Relaxed);
        let start = Instant::now();
        let votes = clients::vote(addr, rate, start, start + secs)
            .await
            .expect("the voter");
        tokio::time::sleep_until(start + secs + grace).await;
        shared.measuring.store(false, Ordering::Relaxed);
        let window = start.elapsed().as_secs_f64();
        let cpu = cpu_ticks(pid) - cpu_before;
        // The stats request itself, and the votes, are not the watchers'.
        let requests = server_requests(addr) - requests_before - 1 - votes.len() as u64;
        for task in tasks {
            task.abort();
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("{}: a watcher failed: {e}", transport.name()),
                Err(e) if e.is_cancelled() => {}
                Err(e) => panic!("a watcher panicked: {e}"),
            }
        }
        summarize(
            transport, watchers, rate, &shared, &votes, window, cpu, requests, start,
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    transport: Transport,
    watchers: usize,
    rate: f64,
    shared: &Shared,
    votes: &[(u64, Instant)],
    window: f64,
    cpu_ticks: u64,
    requests: u64,
    start: Instant,
) -> Cell {
    let deliveries = shared.deliveries();
    let end = start + Duration::from_secs_f64(window);
    let mut updates = 0u64;
    let mut latencies = Vec::new();
    let mut missed = 0u64;
    for got in &deliveries {
        updates += got
            .iter()
            .filter(|(_, at)| *at >= start && *at <= end)
            .count() as u64;
        for &(version, sent) in votes {
            match got.iter().find(|(v, _)| *v >= version) {
                Some(&(_, at)) if at <= end => {
                    latencies.push(at.duration_since(sent).as_secs_f64() * 1e3)
                }
                _ => missed += 1,
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        if latencies.is_empty() {
            f64::NAN
        } else {
            latencies[((latencies.len() - 1) as f64 * q).round() as usize]
        }
    };
    let bytes = shared.read.load(Ordering::Relaxed) + shared.written.load(Ordering::Relaxed);
    let updates_f = updates.max(1) as f64;
    Cell {
        transport,
        watchers,
        rate,
        votes: votes.len(),
        updates,
        bytes,
        bytes_per_update: bytes as f64 / updates_f,
        bytes_per_vote_watcher: bytes as f64 / (votes.len().max(1) * watchers) as f64,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        missed,
        requests_per_sec: requests as f64 / window,
        cpu_us_per_update: cpu_ticks as f64 * 1e4 / updates_f,
        stale: shared.stale.load(Ordering::Relaxed),
    }
}

/// Each cell of the first run with every figure replaced by its median
/// over the runs that have the cell.
fn medians(runs: &[Vec<Cell>]) -> Vec<Cell> {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    };
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|cell| {
            let same: Vec<&Cell> = runs
                .iter()
                .filter_map(|run| {
                    run.iter().find(|c| {
                        c.transport == cell.transport
                            && c.watchers == cell.watchers
                            && c.rate == cell.rate
                    })
                })
                .collect();
            let of = |f: fn(&Cell) -> f64| median(same.iter().map(|c| f(c)).collect());
            Cell {
                votes: of(|c| c.votes as f64) as usize,
                updates: of(|c| c.updates as f64) as u64,
                bytes: of(|c| c.bytes as f64) as u64,
                bytes_per_update: of(|c| c.bytes_per_update),
                bytes_per_vote_watcher: of(|c| c.bytes_per_vote_watcher),
                p50_ms: of(|c| c.p50_ms),
                p99_ms: of(|c| c.p99_ms),
                missed: same.iter().map(|c| c.missed).max().unwrap_or(0),
                requests_per_sec: of(|c| c.requests_per_sec),
                cpu_us_per_update: of(|c| c.cpu_us_per_update),
                stale: of(|c| c.stale as f64) as u64,
                ..cell.clone()
            }
        })
        .collect()
}

/// A `cell ...` line as `main` prints it.
fn parse_cell(line: &str) -> Option<Cell> {
    let rest = line.strip_prefix("cell ")?;
    let words: Vec<&str> = rest
        .split([' ', ',', ':', '='])
        .filter(|w| !w.is_empty())
        .collect();
    // poll N 10 R 20 200 votes 59 updates 858 B/update 25.3 B/vote/watcher
    // p50 1044.5 ms p99 1995.9 ms missed 0 5 req/s 678.0 us CPU/update 3 stale
    let transport = Transport::ALL.into_iter().find(|t| t.name() == words[0])?;
    let num = |i: usize| words.get(i).and_then(|w| w.parse::<f64>().ok());
    Some(Cell {
        transport,
        watchers: num(2)? as usize,
        rate: num(4)?,
        votes: num(5)? as usize,
        updates: num(7)? as u64,
        bytes: 0,
        bytes_per_update: num(9)?,
        bytes_per_vote_watcher: num(11)?,
        p50_ms: num(14)?,
        p99_ms: num(17)?,
        missed: num(20)? as u64,
        requests_per_sec: num(21)?,
        cpu_us_per_update: num(23)?,
        stale: num(26)? as u64,
    })
}

fn print_table(cells: &[Cell]) {
    println!(
        "| transport | watchers | votes/s | updates | bytes/update | bytes/vote/watcher | latency p50 ms | \
         latency p99 ms | req/s | server CPU µs/update | stale reads |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in cells {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {} |",
            c.transport.name(),
            c.watchers,
            c.rate,
            c.updates,
            c.bytes_per_update,
            c.bytes_per_vote_watcher,
            c.p50_ms,
            c.p99_ms,
            c.requests_per_sec,
            c.cpu_us_per_update,
            c.stale
        );
    }
}
