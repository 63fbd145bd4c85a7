//! Time in the core (RFC 6455 §5.5.2 pings as keepalive, §7.1.1 and §7.1.7
//! closing, our write timeout), driven through the `Pair` harness's
//! simulated clock: no test sleeps.

mod common;

use std::time::Duration;

use common::{Pair, client_frame, close_payload, parse_frames, take_output};
use rfc6455::frame::OpCode;
use rfc6455::{CloseCode, Config, Connection, Event, Keepalive, Lost, Role};

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn keepalive(ping_after: u64, timeout: u64) -> Config {
    Config::default().keepalive(Some(Keepalive::new(
        Duration::from_secs(ping_after),
        Duration::from_secs(timeout),
    )))
}

/// A pair where only the server keeps the connection alive.
fn server_keepalive_pair() -> Pair {
    let mut pair = Pair::with_configs(Config::default().keepalive(None), keepalive(20, 20));
    pair.drive(usize::MAX);
    pair
}

fn pings(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Ping(_)))
        .count()
}

#[test]
fn keepalive_ping_goes_out_at_exactly_the_configured_silence() {
    let mut pair = server_keepalive_pair();
    assert_eq!(pair.server.poll_timeout(), Some(20 * SECOND));
    let (at_client, _) = pair.advance(20 * SECOND - MS);
    assert_eq!(pings(&at_client), 0, "no ping before 20 s of silence");
    let (at_client, at_server) = pair.advance(MS);
    assert_eq!(pings(&at_client), 1, "one ping at 20 s: {at_client:?}");
    // The client's automatic pong reached the server.
    assert!(at_server.iter().any(|e| matches!(e, Event::Pong(_))));
}

#[test]
fn the_pong_restarts_the_silence_clock() {
    let mut pair = server_keepalive_pair();
    pair.advance(20 * SECOND); // ping, pong at t = 20 s
    assert_eq!(pair.server.poll_timeout(), Some(40 * SECOND));
    let (at_client, _) = pair.advance(20 * SECOND - MS);
    assert_eq!(pings(&at_client), 0);
    let (at_client, at_server) = pair.advance(MS);
    assert_eq!(pings(&at_client), 1, "the next ping 20 s after the pong");
    assert!(
        !at_server.iter().any(|e| matches!(e, Event::Lost(_))),
        "a peer that answers is never lost: {at_server:?}"
    );
}

#[test]
fn any_input_restarts_the_silence_clock() {
    let mut pair = server_keepalive_pair();
    pair.advance(15 * SECOND);
    pair.client.send_text("still here").unwrap();
    pair.drive(usize::MAX);
    let (at_client, _) = pair.advance(19 * SECOND);
    assert_eq!(pings(&at_client), 0, "34 s in, 19 s after the message");
    let (at_client, _) = pair.advance(SECOND);
    assert_eq!(pings(&at_client), 1, "35 s in: 20 s after the message");
}

#[test]
fn a_silent_peer_is_lost_after_the_timeout_with_close_1001() {
    let mut pair = server_keepalive_pair();
    // The client's transport delivers nothing back: its pong never arrives.
    pair.server_reads = false;
    let (at_client, _) = pair.advance(20 * SECOND);
    assert_eq!(pings(&at_client), 1);
    let (_, at_server) = pair.advance(20 * SECOND - MS);
    assert!(at_server.is_empty(), "not yet: {at_server:?}");
    assert!(!pair.server.may_close_transport());
    // The close frame goes out when the transport takes it: stall the
    // client's side too, to look at it.
    pair.client_reads = false;
    let (_, at_server) = pair.advance(MS);
    assert_eq!(at_server, vec![Event::Lost(Lost::KeepaliveTimeout)]);
    assert_eq!(pair.server.lost(), Some(Lost::KeepaliveTimeout));
    assert!(pair.server.may_close_transport(), "drop it at once");
    assert_eq!(pair.server.poll_timeout(), None, "nothing left to time");
    let frames = parse_frames(&take_output(&mut pair.server));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].opcode, OpCode::Close);
    assert_eq!(frames[0].payload, close_payload(1001, b""));
    assert_eq!(Lost::KeepaliveTimeout.code(), CloseCode::ABNORMAL);
}

#[test]
fn no_wake_up_when_nothing_is_due() {
    let config = Config::default().keepalive(None);
    let mut pair = Pair::with_configs(config.clone(), config);
    pair.drive(usize::MAX);
    assert_eq!(pair.client.poll_timeout(), None);
    assert_eq!(pair.server.poll_timeout(), None);
    pair.client.send_text("hello").unwrap();
    pair.drive(usize::MAX);
    assert_eq!(
        pair.server.poll_timeout(),
        None,
        "input without a keepalive"
    );
    // A fresh connection with the default keepalive wants its first
    // `handle_timeout` at once, then the ping deadline.
    let mut conn = Connection::new(Role::Server, Config::default());
    assert_eq!(conn.poll_timeout(), Some(Duration::ZERO));
    conn.handle_timeout(5 * SECOND);
    assert_eq!(conn.poll_timeout(), Some(25 * SECOND));
}

#[test]
fn input_makes_the_next_timeout_due_at_once() {
    let mut conn = Connection::new(Role::Server, Config::default());
    conn.handle_timeout(3 * SECOND);
    assert_eq!(conn.receive(&client_frame(true, 0x1, b"hi")), 8);
    assert_eq!(
        conn.poll_timeout(),
        Some(3 * SECOND),
        "due now: stamp the input"
    );
    conn.handle_timeout(4 * SECOND);
    assert_eq!(conn.poll_timeout(), Some(24 * SECOND));
}

#[test]
fn a_clock_going_backwards_changes_nothing() {
    let mut pair = server_keepalive_pair();
    pair.advance(10 * SECOND);
    pair.server.handle_timeout(Duration::ZERO);
    assert_eq!(pair.server.poll_timeout(), Some(20 * SECOND));
    pair.server.handle_timeout(5 * SECOND);
    assert!(!pair.server.wants_write(), "no ping from an earlier time");
}

#[test]
fn an_unanswered_close_is_lost_after_the_close_timeout() {
    let mut pair = Pair::new();
    pair.drive(usize::MAX);
    pair.client.close(CloseCode::NORMAL, "bye").unwrap();
    // The server never reads the close.
    pair.server_reads = false;
    pair.drive(usize::MAX);
    let (at_client, _) = pair.advance(10 * SECOND - MS);
    assert!(at_client.is_empty(), "{at_client:?}");
    let (at_client, _) = pair.advance(MS);
    assert_eq!(at_client, vec![Event::Lost(Lost::CloseTimeout)]);
    assert!(pair.client.may_close_transport());
}

#[test]
fn a_close_handshake_ends_with_both_transports_closed_server_first() {
    let mut pair = Pair::new();
    pair.drive(usize::MAX);
    pair.client.close(CloseCode::NORMAL, "").unwrap();
    let (at_client, at_server) = pair.drive(usize::MAX);
    assert!(matches!(at_server[..], [Event::Close(_)]), "{at_server:?}");
    assert!(matches!(at_client[..], [Event::Close(_)]), "{at_client:?}");
    // The server shut its write half first (§7.1.1), the client saw the
    // end and closed, and the server saw that: both may go.
    assert!(pair.client.is_eof() && pair.server.is_eof());
    assert!(pair.server.may_close_transport());
    assert!(pair.client.may_close_transport());
    assert!(
        !pair.client.should_shutdown_write(),
        "a client waits for the server"
    );
}

#[test]
fn a_closed_server_lingers_until_the_client_ends_or_the_close_timeout() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.handle_timeout(Duration::ZERO);
    let close = client_frame(true, 0x8, &close_payload(1000, b""));
    server.receive(&close);
    assert!(matches!(server.poll_event(), Ok(Some(Event::Close(_)))));
    assert!(
        !server.should_shutdown_write(),
        "the close reply is not out yet"
    );
    take_output(&mut server);
    assert!(server.should_shutdown_write());
    assert!(!server.may_close_transport(), "waits for the client's end");
    assert!(server.wants_read(), "and reads meanwhile, discarding");
    server.handle_timeout(Duration::ZERO);
    assert_eq!(server.poll_timeout(), Some(10 * SECOND));
    server.handle_timeout(10 * SECOND - MS);
    assert!(!server.may_close_transport());
    server.handle_timeout(10 * SECOND);
    assert!(server.may_close_transport(), "close timeout over");
    assert!(!server.wants_read());
}

#[test]
fn a_closed_connection_discards_at_most_64_kib_while_it_lingers() {
    let mut server = Connection::new(Role::Server, Config::default().keepalive(None));
    server.receive(&client_frame(true, 0x8, &close_payload(1000, b"")));
    let _ = server.poll_event();
    take_output(&mut server);
    let garbage = vec![0u8; 100 * 1024];
    let mut taken = 0;
    for _ in 0..10 {
        taken += server.receive(&garbage);
    }
    assert_eq!(taken, 64 * 1024, "discarded, up to the bound");
    assert!(
        server.may_close_transport(),
        "a flooding peer cannot hold it"
    );
    assert_eq!(server.poll_event(), Ok(None));
}

fn stalled_server(write_timeout: Option<Duration>) -> Pair {
    let server = Config::default()
        .keepalive(None)
        .write_timeout(write_timeout);
    let mut pair = Pair::with_configs(Config::default().keepalive(None), server);
    pair.drive(usize::MAX);
    // The client stops reading; the server sends 1 MiB.
    pair.client_reads = false;
    pair.server.send_binary(&vec![7u8; 1 << 20]).unwrap();
    pair.tick();
    pair
}

#[test]
fn over_the_high_water_mark_an_unwritten_reply_stops_input_until_it_is_written() {
    let mut server = Connection::new(Role::Server, Config::default().keepalive(None));
    server.send_binary(&vec![7u8; 1 << 20]).unwrap();
    // Over the mark with the application's output only: input goes on.
    assert!(server.wants_read());
    assert!(server.input_room() > 0);
    // A ping: its pong queues behind the megabyte, and no more input is
    // taken until it is written (a peer that pings without reading our
    // pongs is not read on).
    let ping = client_frame(true, 0x9, b"hi");
    assert_eq!(server.receive(&ping), ping.len());
    assert!(matches!(server.poll_event(), Ok(Some(Event::Ping(_)))));
    assert_eq!(server.input_room(), 0);
    assert!(!server.wants_read());
    let frames = parse_frames(&take_output(&mut server));
    assert_eq!(frames.last().map(|f| f.opcode), Some(OpCode::Pong));
    // Written: input again.
    assert!(server.wants_read());
    assert!(server.input_room() > 0);
}

#[test]
fn output_stuck_over_the_high_water_mark_is_lost_after_the_write_timeout() {
    let mut pair = stalled_server(Some(30 * SECOND));
    // The application's own output over the mark does not stop reading (a
    // split writer's large message must not stall both ends' readers).
    assert!(pair.server.wants_read());
    let (_, at_server) = pair.advance(30 * SECOND - MS);
    assert!(at_server.is_empty(), "{at_server:?}");
    let (_, at_server) = pair.advance(MS);
    assert_eq!(at_server, vec![Event::Lost(Lost::WriteTimeout)]);
    assert!(pair.server.may_close_transport());
    // No close frame after what is stuck (it could follow half a frame):
    // the output is the message alone, for one last try.
    let frames = parse_frames(&take_output(&mut pair.server));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].opcode, OpCode::Binary);
}

#[test]
fn a_timer_that_gives_up_never_queues_a_close_after_half_a_frame() {
    use bytes::Buf;
    // Fuzz K3: a keepalive timeout while a frame was half written.
    let mut server = Connection::new(Role::Server, keepalive(20, 20));
    server.handle_timeout(Duration::ZERO);
    server.send_binary(&[5u8; 100]).unwrap();
    server.output().advance(96); // the transport took 96 of 102 bytes
    server.handle_timeout(20 * SECOND); // the ping is queued behind it
    server.handle_timeout(40 * SECOND); // the peer is silent: lost
    assert_eq!(server.lost(), Some(Lost::KeepaliveTimeout));
    let rest = take_output(&mut server);
    assert_eq!(&rest[..6], &[5u8; 6], "the rest of the frame");
    assert_eq!(
        &rest[6..],
        &[0x89, 0x00],
        "then the ping, and no close frame"
    );
}

#[test]
fn a_slow_reader_that_keeps_reading_is_never_dropped() {
    use bytes::Buf;
    let mut pair = stalled_server(Some(30 * SECOND));
    // 4 KiB every 20 s: slow, but always some progress within the timeout.
    for _ in 0..20 {
        let (_, at_server) = pair.advance(20 * SECOND);
        assert!(at_server.is_empty(), "{at_server:?}");
        let n = pair.server.output().chunk().len().min(4096);
        pair.server.output().advance(n);
    }
    assert_eq!(pair.server.lost(), None, "400 s of slow reading");
}

#[test]
fn without_a_write_timeout_stuck_output_is_kept() {
    let mut pair = stalled_server(None);
    pair.advance(3600 * SECOND);
    assert_eq!(pair.server.lost(), None);
    assert_eq!(pair.server.poll_timeout(), None);
}
