//! The blocking adapter, `rfc6455::blocking::WebSocket`, over real loopback
//! TCP. Every raw socket has read and write timeouts, every accept a
//! deadline, and every handshake the default 10 s deadline; the adapter's
//! reads run the default keepalive. So a failing test fails instead of
//! hanging.

mod common;
use common::{client_frame, server_frame};

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::{Error, NoTimeouts, WebSocket};
use rfc6455::handshake::{ClientOptions, Limits, Parsed, Request};
use rfc6455::{
    CloseCode, CloseFrame, Config, Event, HandshakeError, Initiator, Keepalive, Lost, Message,
    ProtocolError, State,
};

/// How long any single read or write may block.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Applies [`TIMEOUT`] to both directions of `stream`.
fn bounded(stream: TcpStream) -> TcpStream {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Runs `serve` on a thread with the first connection to a fresh listener on
/// 127.0.0.1 (port 0). The accept gives up after [`TIMEOUT`].
fn spawn_server<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("no connection: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        serve(bounded(stream))
    });
    (addr, handle)
}

/// A TCP connection to `addr`, with timeouts.
fn connect_raw(addr: SocketAddr) -> TcpStream {
    bounded(TcpStream::connect_timeout(&addr, TIMEOUT).unwrap())
}

/// A WebSocket client connected to `addr`.
fn connect(addr: SocketAddr) -> WebSocket<TcpStream> {
    let (ws, response) =
        WebSocket::connect(connect_raw(addr), &format!("ws://{addr}/chat")).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// An echo server: echoes every message until the client closes; returns
/// the client's close frame.
fn echo(stream: TcpStream) -> Option<CloseFrame> {
    let mut ws = WebSocket::accept(stream).unwrap();
    while let Some(message) = ws.read().unwrap_or_else(|e| panic!("server: {e}")) {
        ws.send(&message).unwrap();
    }
    // `None`: the close handshake is done, and so is the lingering close.
    assert!(ws.connection().may_close_transport());
    ws.connection().peer_close().cloned()
}

/// A client connected to `addr` with `config`.
fn connect_with_config(addr: SocketAddr, config: Config) -> WebSocket<TcpStream> {
    let url = format!("ws://{addr}/chat");
    let (ws, response) =
        WebSocket::connect_with(connect_raw(addr), &url, ClientOptions::default(), config).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// A valid upgrade request head for `/chat`, with `extra` header lines (each ending in CRLF).
fn request(extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// Reads an HTTP head byte by byte, so that nothing after it is consumed.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("an HTTP head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Everything `stream` sends until the peer closes it, which must end with
/// a clean end-of-file (no reset).
fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    if let Err(e) = stream.read_to_end(&mut out) {
        panic!(
            "reading the response: {e} after {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Server side of a refused handshake. `accept` answers with the error
/// response and lingers itself (its write half shut down, input drained
/// until the client's end-of-file, at most 1 s), so the client reads the
/// whole response and a clean end-of-file, not a reset.
fn refuse(stream: TcpStream) -> Error {
    let err = WebSocket::accept(&stream).expect_err("the handshake must fail");
    // The write half is already shut down.
    assert_eq!(
        stream.shutdown(Shutdown::Write).map_err(|e| e.kind()),
        Err(ErrorKind::NotConnected)
    );
    err
}

// ---- messages ----------------------------------------------------------------

#[test]
fn text_and_binary_round_trip_from_empty_to_1_mib() {
    let (addr, server) = spawn_server(echo);
    let mut ws = connect(addr);
    for size in [0, 1, 125, 126, 65535, 65536, 100_000, 1 << 20] {
        let text: String = "abcdefghij€".chars().cycle().take(size).collect();
        ws.send_text(&text).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Some(Message::Text(text.into())),
            "text of {size} chars"
        );
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
        ws.send_binary(&data).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Some(Message::Binary(data.into())),
            "binary of {size}"
        );
    }
    ws.send(&Message::Text("via send".into())).unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("via send".into())));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn fragments_queued_on_the_connection_arrive_as_one_message() {
    let (addr, server) = spawn_server(echo);
    let mut ws = connect(addr);
    ws.connection_mut()
        .send_text_fragment("frag", false)
        .unwrap();
    ws.connection_mut()
        .send_text_fragment("men", false)
        .unwrap();
    ws.connection_mut().send_text_fragment("ted", true).unwrap();
    ws.flush().unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::Text("fragmented".into())));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn server_answers_a_ping() {
    let (addr, server) = spawn_server(echo);
    let mut ws = connect(addr);
    ws.ping(b"are you there").unwrap();
    assert_eq!(
        ws.read_event().unwrap(),
        Some(Event::Pong("are you there".into()))
    );
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn client_answers_a_ping_while_reading() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        ws.ping(b"hb").unwrap();
        let pong = ws.read_event().unwrap();
        ws.close(CloseCode::NORMAL, "").unwrap();
        pong
    });
    let mut ws = connect(addr);
    // `read` answers the ping on its way to the close.
    assert_eq!(ws.read().unwrap(), None);
    assert!(ws.connection().peer_close().is_some());
    assert_eq!(server.join().unwrap(), Some(Event::Pong("hb".into())));
}

// ---- closing -----------------------------------------------------------------

#[test]
fn client_close_completes_the_handshake_and_returns_the_servers_close() {
    let (addr, server) = spawn_server(echo);
    let mut ws = connect(addr);
    let reply = ws.close(CloseCode::GOING_AWAY, "done").unwrap();
    assert_eq!(
        reply,
        Some(CloseFrame {
            code: Some(CloseCode::GOING_AWAY),
            reason: String::new()
        })
    );
    assert_eq!(
        ws.connection().state(),
        State::Closed {
            clean: true,
            initiator: rfc6455::Initiator::Local
        }
    );
    // The server saw our close, with its reason.
    let at_server = server.join().unwrap();
    assert_eq!(
        at_server,
        Some(CloseFrame {
            code: Some(CloseCode::GOING_AWAY),
            reason: "done".into()
        })
    );
    // Reading after the close reports the end, every time; the peer's
    // close frame stays on the connection.
    for _ in 0..2 {
        match ws.read() {
            Ok(None) => assert_eq!(ws.connection().peer_close().cloned(), reply),
            other => panic!("expected Ok(None), got {other:?}"),
        }
    }
    assert!(matches!(ws.send_text("late"), Err(Error::Usage(_))));
}

#[test]
fn server_close_is_seen_by_the_client_as_closed() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        ws.close(CloseCode::NORMAL, "bye").unwrap()
    });
    let mut ws = connect(addr);
    match ws.read() {
        Ok(None) => {
            let frame = ws
                .connection()
                .peer_close()
                .expect("the server's close frame");
            assert_eq!(frame.code, Some(CloseCode::NORMAL));
            assert_eq!(frame.reason, "bye");
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
    assert_eq!(
        ws.connection().state(),
        State::Closed {
            clean: true,
            initiator: Initiator::Remote
        }
    );
    // The reply went out before `read` returned: the server's close completes.
    let echoed = server.join().unwrap();
    assert_eq!(echoed.and_then(|f| f.code), Some(CloseCode::NORMAL));
    // Closing an already closed socket sends nothing and returns the peer's close.
    let again = ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(again.map(|f| f.reason), Some("bye".into()));
}

/// The close timeout replaces the stream's read timeout of old: `close`
/// gives up on a silent peer after `Config::close_timeout`, returns no
/// close frame, and the connection is lost with `Lost::CloseTimeout`.
#[test]
fn close_waits_for_the_peer_no_longer_than_the_close_timeout() {
    let (addr, server) = spawn_server(|stream| {
        // Accepts, then reads nothing until the client gave up.
        let ws = WebSocket::accept(stream).unwrap();
        let mut raw = ws.into_parts().0;
        let mut rest = Vec::new();
        let _ = raw.read_to_end(&mut rest);
        rest
    });
    let config = Config::default().close_timeout(Duration::from_millis(100));
    let mut ws = connect_with_config(addr, config);
    let started = Instant::now();
    let reply = ws
        .close(CloseCode::NORMAL, "")
        .expect("close gives up quietly");
    let took = started.elapsed();
    assert_eq!(reply, None, "no reply came");
    assert!(
        took >= Duration::from_millis(100) && took < TIMEOUT,
        "{took:?}"
    );
    assert_eq!(ws.connection().lost(), Some(Lost::CloseTimeout));
    assert_eq!(
        ws.connection().state(),
        State::Closed {
            clean: false,
            initiator: Initiator::Local
        }
    );
    assert!(ws.connection().may_close_transport());
    // Reported once, by `close`: reads after it see the end.
    assert_eq!(ws.read().unwrap(), None);
    drop(ws);
    // What the server got: our close frame (masked, 2 + 4 + 2 bytes), nothing else.
    let rest = server.join().unwrap();
    assert_eq!(rest.len(), 8, "{rest:x?}");
    assert_eq!(rest[..2], [0x88, 0x82]);
}

/// End-of-file before the close handshake: the connection is lost (once,
/// reported with 1006), then reads see the end.
#[test]
fn transport_closed_without_a_close_frame_is_lost() {
    let (addr, server) = spawn_server(|stream| {
        let ws = WebSocket::accept(stream).unwrap();
        drop(ws);
    });
    let mut ws = connect(addr);
    server.join().unwrap();
    match ws.read() {
        Err(Error::Lost(lost)) => {
            assert_eq!(lost, Lost::TransportEnded);
            assert_eq!(lost.code().0, 1006);
        }
        other => panic!("expected the connection lost, got {other:?}"),
    }
    assert_eq!(ws.connection().lost(), Some(Lost::TransportEnded));
    assert_eq!(ws.connection().peer_close(), None);
    assert_eq!(ws.read().unwrap(), None);
}

/// The adapter's reads time out on their own, at each of the connection's
/// deadlines (here the keepalive's ping after 50 ms): that happens inside
/// `read`, which goes on waiting, and the connection stays usable.
#[test]
fn timeouts_inside_a_read_leave_the_connection_usable() {
    let (addr, server) = spawn_server(|stream| {
        let config =
            Config::default().keepalive(Some(Keepalive::new(Duration::from_millis(50), TIMEOUT)));
        let mut ws =
            WebSocket::accept_with(stream, &Limits::default(), config, |_| Ok(None)).unwrap();
        let start = Instant::now();
        let message = ws.read().unwrap().expect("the client's message");
        let waited = start.elapsed();
        ws.send_text("ready").unwrap();
        assert_eq!(ws.read().unwrap(), None, "the client closes");
        (message, waited)
    });
    let mut ws = connect(addr);
    // Silent for 300 ms: the server's read times out and pings meanwhile.
    thread::sleep(Duration::from_millis(300));
    ws.send_text("after the timeout").unwrap();
    let mut pings = 0;
    let reply = loop {
        match ws.read_event().unwrap() {
            Some(Event::Ping(_)) => pings += 1,
            Some(Event::Message(message)) => break message,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(reply, Message::Text("ready".into()));
    assert!(pings >= 1, "the server pinged while its read waited");
    ws.close(CloseCode::NORMAL, "").unwrap();
    let (message, waited) = server.join().unwrap();
    assert_eq!(message, Message::Text("after the timeout".into()));
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
}

/// `Error::is_timeout` says it is for "streams with timeouts of their own
/// behind `NoTimeouts`": a read timeout of such a stream should reach the
/// caller as `Error::Io`, with the connection intact (as the old adapter
/// did). The adapter swallows it instead (`fill` treats every timeout as
/// one of its own deadlines) and reads again: `read` returns only when data
/// (here the client's message, 300 ms later) arrives.
#[test]
fn read_timeout_of_a_stream_behind_no_timeouts_reaches_the_caller() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept(NoTimeouts(stream)).unwrap();
        ws.get_mut()
            .0
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // In a thread of its own: with the bug the read never returns.
        thread::spawn(move || {
            let first = ws.read().map(|_| ()).map_err(|e| e.is_timeout());
            let _ = tx.send(first);
            // Usable afterwards: the client's message arrives.
            ws.get_mut().0.set_read_timeout(Some(TIMEOUT)).unwrap();
            let _ = tx.send(ws.read().map(|m| assert!(m.is_some())).map_err(|_| false));
        });
        let first = rx.recv_timeout(Duration::from_secs(2));
        let second = first.is_ok().then(|| rx.recv_timeout(TIMEOUT));
        (first, second)
    });
    let mut ws = connect(addr);
    thread::sleep(Duration::from_millis(300));
    ws.send_text("after the timeout").unwrap();
    let (first, second) = server.join().unwrap();
    assert_eq!(first, Ok(Err(true)), "the read timed out with Error::Io");
    assert_eq!(second, Some(Ok(Ok(()))), "and the connection was usable");
}

// ---- the opening handshake ---------------------------------------------------

#[test]
fn non_websocket_request_gets_400_and_accept_fails() {
    let (addr, server) = spawn_server(refuse);
    let mut raw = connect_raw(addr);
    raw.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let response = read_all(&mut raw);
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    drop(raw);
    let err = server.join().unwrap();
    assert!(
        matches!(err, Error::Handshake(HandshakeError::MissingUpgrade)),
        "{err:?}"
    );
}

#[test]
fn version_8_gets_426_naming_version_13() {
    let (addr, server) = spawn_server(refuse);
    let mut raw = connect_raw(addr);
    raw.write_all(request("Sec-WebSocket-Version: 8\r\n").as_bytes())
        .unwrap();
    let response = read_all(&mut raw);
    assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nsec-websocket-version: 13\r\n"),
        "{response}"
    );
    drop(raw);
    let err = server.join().unwrap();
    assert!(
        matches!(err, Error::Handshake(HandshakeError::UnsupportedVersion)),
        "{err:?}"
    );
}

#[test]
fn twenty_kib_of_headers_get_431() {
    let (addr, server) = spawn_server(refuse);
    let mut raw = connect_raw(addr);
    let filler: String = (0..20)
        .map(|i| format!("X-Filler-{i:02}: {}\r\n", "a".repeat(1024)))
        .collect();
    let head = request(&format!("Sec-WebSocket-Version: 13\r\n{filler}"));
    assert!(head.len() > 20 * 1024);
    raw.write_all(head.as_bytes()).unwrap();
    let response = read_all(&mut raw);
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    drop(raw);
    let err = server.join().unwrap();
    assert!(
        matches!(err, Error::Handshake(HandshakeError::HeadersTooLarge)),
        "{err:?}"
    );
}

#[test]
fn frames_pipelined_after_the_request_are_not_lost() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        let first = ws.read().unwrap().expect("the first frame");
        let second = ws.read().unwrap().expect("the second frame");
        ws.send(&first).unwrap();
        (first, second)
    });
    let mut raw = connect_raw(addr);
    // The request and two frames in one write.
    let mut bytes = request("Sec-WebSocket-Version: 13\r\n").into_bytes();
    bytes.extend(client_frame(true, 0x1, b"pipelined"));
    bytes.extend(client_frame(true, 0x2, &[1, 2, 3]));
    raw.write_all(&bytes).unwrap();
    let head = read_head(&mut raw);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut echoed = [0u8; 11];
    raw.read_exact(&mut echoed).unwrap();
    assert_eq!(
        echoed.as_slice(),
        server_frame(true, 0x1, b"pipelined").as_slice()
    );
    let (first, second) = server.join().unwrap();
    assert_eq!(first, Message::Text("pipelined".into()));
    assert_eq!(second, Message::Binary(vec![1, 2, 3].into()));
}

/// `upgrade` takes `rest`, the bytes that followed the head, from a caller
/// that read the head itself. A connection takes at most its input room
/// (`Config::input_high_water`, 64 KiB by default) per `receive`, and
/// `upgrade` hands `rest` over in one call (a `debug_assert` says it fits:
/// true of `read_request`'s 1 KiB reads, not of any caller's), so what is
/// beyond the room is dropped (a panic in a debug build).
#[test]
fn upgrade_keeps_all_of_a_large_rest() {
    const FRAMES: usize = 100;
    let (addr, server) = spawn_server(|stream| {
        // The head, and 100 KiB of frames pipelined after it, as the
        // caller's own HTTP reading might leave them.
        let mut buf = request("Sec-WebSocket-Version: 13\r\n").into_bytes();
        for i in 0..FRAMES {
            buf.extend(client_frame(true, 0x2, &[i as u8; 1024]));
        }
        let Parsed::Complete(request, used) = Request::parse(&buf, &Limits::default()).unwrap()
        else {
            panic!("a complete head");
        };
        let mut ws = WebSocket::upgrade(stream, request, &buf[used..], Config::default(), |_| {
            Ok(None)
        })
        .unwrap();
        let mut got = 0;
        // Until the client hangs up.
        while let Ok(Some(message)) = ws.read() {
            assert_eq!(message, Message::Binary(vec![got as u8; 1024].into()));
            got += 1;
        }
        got
    });
    let mut raw = connect_raw(addr);
    let head = read_head(&mut raw);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    drop(raw);
    assert_eq!(server.join().expect("the server thread"), FRAMES);
}

#[test]
fn unmasked_frame_from_a_client_gets_a_1002_close_frame() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept(stream).unwrap();
        // Returned after the lingering close: the client's end-of-file.
        let err = ws.read().expect_err("an unmasked frame");
        let again = ws.read().expect("closed");
        (err, again)
    });
    let mut raw = connect_raw(addr);
    raw.write_all(request("Sec-WebSocket-Version: 13\r\n").as_bytes())
        .unwrap();
    let head = read_head(&mut raw);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    raw.write_all(&server_frame(true, 0x1, b"unmasked"))
        .unwrap();
    let mut close = [0u8; 4];
    raw.read_exact(&mut close).unwrap();
    assert_eq!(close, [0x88, 0x02, 0x03, 0xEA], "a close frame with 1002");
    // Nothing follows the close frame: the server shuts its write half
    // down (a clean end-of-file, no reset) and waits for ours.
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest)
        .expect("a clean end-of-file after the close frame");
    assert!(rest.is_empty(), "{rest:?}");
    drop(raw);
    let (err, again) = server.join().unwrap();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::UnmaskedFrame)),
        "{err:?}"
    );
    assert_eq!(again, None);
}

#[test]
fn message_over_the_servers_limit_gets_a_1009_close_frame() {
    let (addr, server) = spawn_server(|stream| {
        let config = Config::default().max_message_size(1000);
        let mut ws =
            WebSocket::accept_with(stream, &Limits::default(), config, |_| Ok(None)).unwrap();
        assert_eq!(
            ws.read().unwrap(),
            Some(Message::Binary(vec![0; 1000].into()))
        );
        ws.read().expect_err("over the limit")
    });
    let mut ws = connect(addr);
    ws.send_binary(&[0; 1000]).unwrap();
    ws.send_binary(&[0; 1001]).unwrap();
    match ws.read() {
        Ok(None) => {
            let frame = ws
                .connection()
                .peer_close()
                .expect("the server's close frame");
            assert_eq!(frame.code, Some(CloseCode::MESSAGE_TOO_BIG));
        }
        other => panic!("expected the server's 1009, got {other:?}"),
    }
    let err = server.join().unwrap();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::MessageTooLarge {
                len: 1001,
                max: 1000
            })
        ),
        "{err:?}"
    );
}

#[test]
fn subprotocol_is_selected_through_accept_with() {
    let (addr, server) = spawn_server(|stream| {
        let mut offered = Vec::new();
        let mut ws = WebSocket::accept_with(stream, &Limits::default(), Config::default(), |req| {
            offered = req.protocols().to_vec();
            assert_eq!(req.request().path(), "/chat");
            Ok(req
                .select_protocol(&["superchat", "v2.example"])
                .map(String::from))
        })
        .unwrap();
        let message = ws.read().unwrap().expect("the client's message");
        ws.close(CloseCode::NORMAL, "").unwrap();
        (offered, message)
    });
    let options = ClientOptions {
        protocols: vec!["v1.example".into(), "superchat".into(), "chat".into()],
        ..ClientOptions::default()
    };
    let stream = connect_raw(addr);
    let (mut ws, response) = WebSocket::connect_with(
        stream,
        &format!("ws://{addr}/chat"),
        options,
        Config::default(),
    )
    .unwrap();
    assert_eq!(response.protocol(), Some("superchat"));
    ws.send_text("hello").unwrap();
    assert_eq!(ws.read().unwrap(), None, "the server closes");
    let (offered, message) = server.join().unwrap();
    assert_eq!(offered, ["v1.example", "superchat", "chat"]);
    assert_eq!(message, Message::Text("hello".into()));
}

#[test]
fn no_common_subprotocol_connects_without_one() {
    let (addr, server) = spawn_server(|stream| {
        let ws = WebSocket::accept_with(stream, &Limits::default(), Config::default(), |req| {
            Ok(req.select_protocol(&["v2.example"]).map(String::from))
        });
        ws.map(|_| ()).map_err(|e| e.to_string())
    });
    let options = ClientOptions {
        protocols: vec!["v1.example".into()],
        ..ClientOptions::default()
    };
    let (_ws, response) = WebSocket::connect_with(
        connect_raw(addr),
        &format!("ws://{addr}/"),
        options,
        Config::default(),
    )
    .unwrap();
    assert_eq!(response.protocol(), None);
    server.join().unwrap().unwrap();
}

#[test]
fn server_rejection_through_accept_with_reaches_the_client_as_its_status() {
    let (addr, server) = spawn_server(|stream| {
        let result =
            WebSocket::accept_with(&stream, &Limits::default(), Config::default(), |req| {
                if req.request().origin() == Some("https://evil.example") {
                    // A stand-in: `Rejection` is built only from a
                    // `HandshakeError`, none of which means 403 Forbidden (§10.2).
                    Err(HandshakeError::MalformedHttp.into())
                } else {
                    Ok(None)
                }
            });
        // The adapter shut the write half down after its response.
        assert!(stream.shutdown(Shutdown::Write).is_err(), "already shut");
        result.map(|_| ()).expect_err("refused")
    });
    let options = ClientOptions {
        headers: vec![("Origin".into(), "https://evil.example".into())],
        ..ClientOptions::default()
    };
    let err = WebSocket::connect_with(
        connect_raw(addr),
        &format!("ws://{addr}/"),
        options,
        Config::default(),
    )
    .expect_err("refused");
    assert!(
        matches!(err, Error::Handshake(HandshakeError::UnexpectedStatus(400))),
        "{err:?}"
    );
    assert!(matches!(
        server.join().unwrap(),
        Error::Handshake(HandshakeError::MalformedHttp)
    ));
}
