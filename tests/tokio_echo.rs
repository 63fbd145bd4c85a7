//! End-to-end tests of what is particular to `examples/tokio_echo_server.rs`,
//! the echo server on tokio's multi-threaded runtime and the async adapter:
//! its bounds and timeouts (the checks of tests/server_checks, shared with
//! `mio_echo_server`), its flags, its graceful shutdown on SIGINT and
//! SIGTERM, and the memory of 10,000 idle connections. The real binary on a
//! free loopback port (the harness builds it with `--features tokio`, so
//! this test needs no feature of its own), driven by the crate's blocking
//! client and by raw sockets. Its echo, page and permessage-deflate are
//! checked with `echo_server`'s in tests/echo_server.rs, and against
//! third-party peers, Chromium and Autobahn|Testsuite as `echo_server` is.
//!
//! `idle_connections_cost_about_4_kib_each` holds 10,000 idle connections
//! (about 4 s; it needs an open-files limit of about 10,400, which it raises
//! with `ulimit -n` up to the hard limit, and fails saying so if that is
//! lower); run it with `--nocapture` to see the resident memory per idle
//! connection and the busy client's latency.
#![cfg(target_os = "linux")]

mod app_harness;
mod server_checks;

use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use app_harness::{Server, example_binary};
use rfc6455::{CloseCode, Message};
use server_checks::{IO_TIMEOUT, assert_echo, client_config, connect_with, upgraded};

const NAME: &str = "tokio_echo_server";

/// The tests take turns: the scale test measures one server process and
/// the latency of a busy client, which must not depend on another test's
/// load, and the shutdown tests time the server's exit.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---- bounds and timeouts, as mio_echo_server's ------------------------------------------

#[test]
fn bad_handshakes_get_400_or_426() {
    let _turn = one_at_a_time();
    server_checks::bad_handshakes_get_400_or_426(NAME);
}

#[test]
fn past_max_connections_a_new_client_gets_503() {
    let _turn = one_at_a_time();
    server_checks::past_max_connections_a_new_client_gets_503(NAME);
}

#[test]
fn an_unfinished_request_head_is_cut_off_at_the_handshake_deadline() {
    let _turn = one_at_a_time();
    server_checks::an_unfinished_request_head_is_cut_off_at_the_handshake_deadline(NAME);
}

#[test]
fn keepalive_pings_a_silent_client_then_closes_with_1001() {
    let _turn = one_at_a_time();
    server_checks::keepalive_pings_a_silent_client_then_closes_with_1001(
        NAME,
        "keepalive timed out",
    );
}

// ---- flags -------------------------------------------------------------------------------

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(example_binary(NAME))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--addr HOST:PORT",
        "--no-deflate",
        "--deflate-context-takeover",
        "--max-connections N",
        "--handshake-timeout SECS",
        "--ping-after SECS",
        "--keepalive-timeout SECS",
        "--shutdown-timeout SECS",
        "--worker-threads N",
        "127.0.0.1:9005",
    ] {
        assert!(help.contains(flag), "no {flag} in {help}");
    }
    for bad in [
        &["--port"][..],
        &["--max-connections", "0"],
        &["--worker-threads", "0"],
        &["--ping-after", "-1"],
        &["--shutdown-timeout", "x"],
        &["--addr"],
    ] {
        let out = Command::new(example_binary(NAME))
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "{bad:?}"
        );
    }
}

/// `--worker-threads N` sizes tokio's pool: N workers beside the main
/// thread (and, for a moment, a thread of tokio's blocking pool that
/// resolved the listening address).
#[test]
fn worker_threads_sets_the_runtimes_threads() {
    let _turn = one_at_a_time();
    for workers in [1u64, 4] {
        let server = Server::start(NAME, &["--worker-threads", &workers.to_string()]);
        let mut ws = connect_with(server.addr, client_config());
        assert_echo(&mut ws, &Message::from("from some worker"));
        let threads = server_checks::status_field(server.process.id(), "Threads:");
        assert!(
            threads > workers && threads <= workers + 2,
            "{threads} threads with --worker-threads {workers}"
        );
        ws.close(CloseCode::NORMAL, "").expect("close handshake");
    }
}

// ---- graceful shutdown ---------------------------------------------------------------------

/// Sends `signal` (`INT`, `TERM`) to the server, by its PID.
fn send_signal(server: &Server, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(server.process.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Waits for the server to exit; returns its exit code and how long it took.
fn exit_of(server: &mut Server, within: Duration) -> (Option<i32>, Duration) {
    let start = Instant::now();
    let status = server.process.wait(within);
    (status.code(), start.elapsed())
}

/// Reads until the server's close; returns its code and reason.
fn close_from_server(
    ws: &mut rfc6455::blocking::WebSocket<std::net::TcpStream>,
) -> (Option<CloseCode>, String) {
    match ws.read() {
        Ok(None) => {
            let frame = ws
                .connection()
                .peer_close()
                .expect("the server's close frame");
            (frame.code, frame.reason.to_string())
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
}

#[test]
fn sigint_closes_every_connection_with_1001_and_exits_0() {
    let _turn = one_at_a_time();
    let mut server = Server::start(NAME, &[]);
    let mut clients: Vec<_> = (0..3)
        .map(|_| connect_with(server.addr, client_config()))
        .collect();
    for ws in &mut clients {
        assert_echo(ws, &Message::from("before the signal"));
    }
    send_signal(&server, "INT");
    for ws in &mut clients {
        let (code, reason) = close_from_server(ws);
        assert_eq!(code, Some(CloseCode::GOING_AWAY));
        assert_eq!(reason, "server shutting down");
    }
    // The clients answered the close: the server is done long before its
    // 5 s shutdown deadline.
    let (code, took) = exit_of(&mut server, IO_TIMEOUT);
    assert_eq!(code, Some(0), "{}", server.process.stdout());
    assert!(took < Duration::from_secs(3), "exited after {took:?}");
    let stdout = server.process.stdout();
    assert!(
        stdout.contains("SIGINT: closing 3 connections with 1001 (going away)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("shut down: 3 of 3 connections closed, 0 left\n"),
        "{stdout}"
    );
    // Nothing logged: a shutdown is not an error.
    assert_eq!(server.process.stderr(), "");
}

#[test]
fn sigterm_shuts_down_as_sigint_does_and_new_connections_are_refused() {
    let _turn = one_at_a_time();
    let mut server = Server::start(NAME, &[]);
    let mut ws = connect_with(server.addr, client_config());
    assert_echo(&mut ws, &Message::from("before the signal"));
    send_signal(&server, "TERM");
    let (code, _) = close_from_server(&mut ws);
    assert_eq!(code, Some(CloseCode::GOING_AWAY));
    let (code, _) = exit_of(&mut server, IO_TIMEOUT);
    assert_eq!(code, Some(0));
    assert!(
        server
            .process
            .stdout()
            .contains("SIGTERM: closing 1 connections"),
        "{}",
        server.process.stdout()
    );
    assert!(
        std::net::TcpStream::connect(server.addr).is_err(),
        "still accepting after the shutdown"
    );
}

/// A raw client on `/ws` that sends 64 KiB messages and never reads, until
/// its writes block: the server's echoes fill both socket buffers and its
/// output stalls, so its close frame cannot go out. Returns the socket.
fn stalled_client(server: &Server) -> std::net::TcpStream {
    let mut stream = upgraded(server.addr);
    // A masked binary frame with the zero key: the payload is as it is sent.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(64u64 * 1024).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + 64 * 1024, b'x');
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut sent = 0usize;
    while stream.write_all(&frame).is_ok() {
        sent += frame.len();
        assert!(
            sent < 1 << 30,
            "the server kept reading a client that never reads"
        );
    }
    stream
}

#[test]
fn shutdown_waits_for_a_stalled_connection_only_until_the_deadline() {
    let _turn = one_at_a_time();
    let mut server = Server::start(NAME, &["--shutdown-timeout", "0.5"]);
    let mut good = connect_with(server.addr, client_config());
    let _stalled = stalled_client(&server);
    assert_echo(&mut good, &Message::from("still served"));
    send_signal(&server, "INT");
    let signalled = Instant::now();
    let (code, _) = close_from_server(&mut good);
    assert_eq!(code, Some(CloseCode::GOING_AWAY));
    let (code, _) = exit_of(&mut server, IO_TIMEOUT);
    let took = signalled.elapsed();
    assert_eq!(code, Some(0));
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "exited {took:?} after the signal, the deadline is 500 ms"
    );
    assert!(
        server
            .process
            .stdout()
            .contains("shut down: 1 of 2 connections closed, 1 left\n"),
        "{}",
        server.process.stdout()
    );
}

#[test]
fn a_second_signal_during_the_shutdown_exits_at_once() {
    let _turn = one_at_a_time();
    let mut server = Server::start(NAME, &["--shutdown-timeout", "60"]);
    let mut stalled = stalled_client(&server);
    send_signal(&server, "INT");
    let deadline = Instant::now() + IO_TIMEOUT;
    while !server
        .process
        .stdout()
        .contains("SIGINT: closing 1 connections")
    {
        assert!(Instant::now() < deadline, "{}", server.process.stdout());
        thread::sleep(Duration::from_millis(20));
    }
    send_signal(&server, "TERM");
    let (code, took) = exit_of(&mut server, IO_TIMEOUT);
    assert_eq!(code, Some(1));
    assert!(took < Duration::from_secs(2), "exited after {took:?}");
    assert!(
        server
            .process
            .stdout()
            .contains("SIGTERM again: exiting now\n"),
        "{}",
        server.process.stdout()
    );
    // The process is gone, and its sockets with it.
    stalled.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    while let Ok(1..) = stalled.read(&mut sink) {}
}

#[test]
fn a_client_that_never_reads_cannot_grow_the_server() {
    let _turn = one_at_a_time();
    let server = Server::start(NAME, &[]);
    server_checks::a_client_that_never_reads_cannot_grow_the_server(NAME, &server);
}

// ---- many idle connections ---------------------------------------------------------------

/// The target for resident memory per idle connection, in bytes:
/// everything the server holds for one, after one echo. Asserted for the
/// connections without an extension. Measured on this machine (debug and
/// release alike): about 3,880 bytes, of which 3,290 are live heap
/// allocations (counted with a counting allocator), each the size asked:
///
/// | bytes | what | whose |
/// | ---: | --- | --- |
/// | 1,032 | the connection's read buffer, lent by the driver before every read, also while none is ready (`ReadSize::MIN`) | src/tokio/driver.rs + the core's `ReadBuf` |
/// | 808 | the shared state: `Connection` (512) and the event queue, wakers, flags | src/tokio/shared.rs |
/// | 640 | this example's connection task: tokio's task cell around its 440-byte future | the example |
/// | 256 | the driver task: tokio's task cell around `Driver` (136) | src/tokio |
/// | 256 | the socket's registration with tokio's I/O driver (`ScheduledIo`) | tokio |
/// | 160 | the event queue's `VecDeque` capacity, kept once emptied (4 events) | src/tokio |
/// | 112 | the boxed `Sleep` of the keepalive deadline | src/tokio |
/// | 16 + 8 | the output's header buffer; the handshake's leftover, drained but kept | the core; src/tokio |
///
/// The rest (about 590 bytes) is the allocator's: chunk headers and
/// rounding, and the holes the handshake's larger temporary allocations
/// leave behind, in one arena per worker thread. The kernel's socket
/// buffers are not in the process's RSS.
const IDLE_RSS_TARGET: u64 = 4096;

/// The bound for connections with permessage-deflate agreed (no context
/// takeover): its codec adds about 350 bytes. Since the driver stopped
/// lending a read buffer while idle (reads of an idle connection go
/// through a per-thread scratch buffer), the 1 KiB of the table above is
/// gone: measured 2,606 bytes plain, 2,954 with deflate.
const DEFLATE_IDLE_RSS_BOUND: u64 = 4096;

#[test]
fn idle_connections_cost_about_4_kib_each() {
    const TEST: &str = "idle_connections_cost_about_4_kib_each";
    let _turn = one_at_a_time();
    let Some(report) = server_checks::idle_connections(TEST, NAME, 10_000) else {
        return; // run again under a raised open-files limit, and passed
    };
    for (what, bytes, bound) in [
        ("without an extension", report.plain, IDLE_RSS_TARGET),
        ("with deflate", report.deflate, DEFLATE_IDLE_RSS_BOUND),
    ] {
        assert!(
            bytes <= bound,
            "{bytes} bytes of RSS per idle connection {what}, bound {bound}: {report}"
        );
    }
    // Workers (one per core by default) and the main thread, nothing per connection.
    assert!(report.threads <= 16, "{report}");
}
