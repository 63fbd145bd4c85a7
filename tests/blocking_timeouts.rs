//! The blocking adapter's own timeouts (`blocking::Timeouts`) over loopback
//! TCP: the handshake deadline, the keepalive (plain and split) and the
//! lingering close.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::{self, Error, Keepalive, Timeouts, WebSocket};
use rfc6455::handshake::Limits;
use rfc6455::{CloseCode, Config, Message};

/// Read and write timeout of the test's own sockets: no test can hang.
const TIMEOUT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A listener and a server thread that runs `serve` on its one connection.
fn spawn_server<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || serve(listener.accept().unwrap().0));
    (addr, handle)
}

fn connect_raw(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// A client past the handshake, as a raw socket (it answers nothing).
fn connect_silent(addr: SocketAddr) -> TcpStream {
    let (ws, _) = WebSocket::connect(connect_raw(addr), &format!("ws://{addr}/")).unwrap();
    ws.into_parts().0
}

/// Reads one short unmasked server frame: opcode and payload.
fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert!(head[1] < 126, "a short unmasked frame");
    let mut payload = vec![0u8; head[1] as usize];
    stream.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

fn keepalive(ping_after: u64, timeout: u64) -> Timeouts {
    Timeouts::default().keepalive(Some(Keepalive::new(ms(ping_after), ms(timeout))))
}

#[test]
fn handshake_deadline_cuts_off_a_head_that_trickles_in() {
    let (addr, server) = spawn_server(|stream| {
        let start = Instant::now();
        let timeouts = Timeouts::default().handshake(Some(ms(500)));
        let result = WebSocket::accept_timed(
            stream,
            &Limits::default(),
            Config::default(),
            &timeouts,
            |_| Ok(None),
        );
        (result.map(|_| ()), start.elapsed())
    });
    let mut client = connect_raw(addr);
    // One byte every 50 ms: no single read ever waits 500 ms.
    for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa" {
        if client.write_all(&[*byte]).is_err() {
            break;
        }
        thread::sleep(ms(50));
        if server.is_finished() {
            break;
        }
    }
    let (result, took) = server.join().unwrap();
    assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
    assert!(took >= ms(500) && took < ms(900), "{took:?}");
}

#[test]
fn read_request_timed_restores_the_read_timeout() {
    let (addr, server) = spawn_server(|mut stream| {
        stream.set_read_timeout(Some(ms(3000))).unwrap();
        let (request, _) =
            blocking::read_request_timed(&mut stream, &Limits::default(), &Timeouts::default())
                .unwrap();
        (request.path().to_string(), stream.read_timeout().unwrap())
    });
    let mut client = connect_raw(addr);
    client
        .write_all(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (path, timeout) = server.join().unwrap();
    assert_eq!(path, "/page");
    assert_eq!(timeout, Some(ms(3000)));
}

#[test]
fn keepalive_pings_a_silent_peer_then_fails_with_1001() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept_timed(
            stream,
            &Limits::default(),
            Config::default(),
            &keepalive(100, 200),
            |_| Ok(None),
        )
        .unwrap();
        let start = Instant::now();
        (ws.read().map(|_| ()), start.elapsed())
    });
    let mut client = connect_silent(addr);
    assert_eq!(read_frame(&mut client), (0x9, vec![]), "a ping");
    let (opcode, payload) = read_frame(&mut client);
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(&payload[..2], &1001u16.to_be_bytes(), "going away");
    let (result, took) = server.join().unwrap();
    assert!(matches!(result, Err(Error::KeepaliveTimeout)), "{result:?}");
    assert!(took >= ms(300) && took < ms(800), "{took:?}");
}

#[test]
fn keepalive_keeps_a_peer_that_answers() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept_timed(
            stream,
            &Limits::default(),
            Config::default(),
            &keepalive(50, 200),
            |_| Ok(None),
        )
        .unwrap();
        // The client says something only after 600 ms: 12 pings' worth.
        let message = ws.read().unwrap();
        ws.send(&message).unwrap();
    });
    let (mut client, _) = WebSocket::connect(connect_raw(addr), &format!("ws://{addr}/")).unwrap();
    // Reading answers the pings.
    let until = Instant::now() + ms(600);
    let mut pings = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        client
            .get_mut()
            .set_read_timeout(Some(left.max(ms(1))))
            .unwrap();
        match client.read_event() {
            Ok(rfc6455::Event::Ping(_)) => pings += 1,
            Err(e) if e.is_timeout() => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings");
    client.get_mut().set_read_timeout(Some(TIMEOUT)).unwrap();
    client.send_text("still here").unwrap();
    assert_eq!(client.read().unwrap(), Message::Text("still here".into()));
    server.join().unwrap();
}

#[test]
fn keepalive_carries_over_to_the_split_reader() {
    let (addr, server) = spawn_server(|stream| {
        let ws = WebSocket::accept_timed(
            stream,
            &Limits::default(),
            Config::default(),
            &keepalive(100, 200),
            |_| Ok(None),
        )
        .unwrap();
        let (mut reader, _writer) = ws.split().unwrap();
        let start = Instant::now();
        (reader.read().map(|_| ()), start.elapsed())
    });
    let mut client = connect_silent(addr);
    assert_eq!(read_frame(&mut client), (0x9, vec![]), "a ping");
    let (opcode, payload) = read_frame(&mut client);
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(&payload[..2], &1001u16.to_be_bytes(), "going away");
    let (result, took) = server.join().unwrap();
    assert!(matches!(result, Err(Error::KeepaliveTimeout)), "{result:?}");
    assert!(took >= ms(300) && took < ms(800), "{took:?}");
}

/// The server fails the connection (1009) while 32 KiB of the peer's
/// message are unread. Lingering, it reads them and shuts down its write
/// half: the client gets the close frame and then a clean end-of-file, not
/// a reset. `split` is whether the server uses the split halves.
fn lingering_close_after_a_protocol_error(split: bool) {
    let (addr, server) = spawn_server(move |stream| {
        let config = Config::default().max_frame_size(1024);
        let ws = WebSocket::accept_timed(
            stream,
            &Limits::default(),
            config,
            &Timeouts::default(),
            |_| Ok(None),
        )
        .unwrap();
        let start = Instant::now();
        let result = if split {
            let (mut reader, _writer) = ws.split().unwrap();
            reader.read().map(|_| ())
        } else {
            let mut ws = ws;
            ws.read().map(|_| ())
        };
        (result, start.elapsed())
    });
    let (mut client, _) = WebSocket::connect(connect_raw(addr), &format!("ws://{addr}/")).unwrap();
    client.send_binary(&vec![7u8; 32 * 1024]).unwrap();
    let code = match client.read() {
        Err(Error::Closed(frame)) => frame.and_then(|f| f.code),
        other => panic!("expected the close frame, got {other:?}"),
    };
    assert_eq!(code, Some(CloseCode::MESSAGE_TOO_BIG));
    let mut stream = client.into_parts().0;
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "nothing after the close frame"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => panic!("reset instead of a clean end"),
        Err(e) => panic!("{e}"),
    }
    drop(stream);
    let (result, took) = server.join().unwrap();
    assert!(
        matches!(&result, Err(Error::Protocol(e)) if e.close_code() == CloseCode::MESSAGE_TOO_BIG),
        "{result:?}"
    );
    assert!(took < ms(1500), "the linger is bounded: {took:?}");
}

#[test]
fn lingering_close_delivers_the_close_frame_despite_unread_input() {
    lingering_close_after_a_protocol_error(false);
}

#[test]
fn lingering_close_of_the_split_reader() {
    lingering_close_after_a_protocol_error(true);
}

/// Client side: `connect_timed` against a server that accepted the TCP
/// connection and then writes its response head one byte every 50 ms.
#[test]
fn connect_timed_cuts_off_a_server_that_answers_too_slowly() {
    let (addr, server) = spawn_server(|mut stream| {
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut request = [0u8; 1024];
        let n = stream.read(&mut request).unwrap();
        assert!(request[..n].starts_with(b"GET / HTTP/1.1\r\n"), "a request");
        let mut sent = 0;
        for byte in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            thread::sleep(ms(50));
        }
        sent
    });
    let stream = connect_raw(addr);
    let start = Instant::now();
    let timeouts = Timeouts::default().handshake(Some(ms(400)));
    let result = WebSocket::connect_timed(
        stream,
        &format!("ws://{addr}/"),
        Default::default(),
        Config::default(),
        &timeouts,
    );
    let elapsed = start.elapsed();
    assert!(
        matches!(result, Err(Error::HandshakeTimeout)),
        "{:?}",
        result.map(|_| ())
    );
    // One deadline for the whole head: no single read waited 400 ms.
    assert!(elapsed >= ms(390) && elapsed < ms(1500), "{elapsed:?}");
    let sent = server.join().unwrap();
    assert!(sent > 3, "the server trickled {sent} bytes");
}

#[test]
fn connect_timed_against_a_server_that_never_answers() {
    let (addr, server) = spawn_server(|stream| {
        thread::sleep(ms(1500));
        drop(stream);
    });
    let start = Instant::now();
    let result = WebSocket::connect_timed(
        connect_raw(addr),
        &format!("ws://{addr}/"),
        Default::default(),
        Config::default(),
        &Timeouts::default().handshake(Some(ms(300))),
    );
    assert!(matches!(result, Err(Error::HandshakeTimeout)));
    assert!(start.elapsed() < ms(1200), "{:?}", start.elapsed());
    server.join().unwrap();
}

#[test]
fn connect_timed_connects_restores_the_timeouts_and_starts_the_keepalive() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = WebSocket::accept_timed(
            stream,
            &Limits::default(),
            Config::default(),
            &Timeouts::NONE,
            |_| Ok(None),
        )
        .unwrap();
        // Echo one message, then stay silent until the client is done.
        let message = ws.read().unwrap();
        ws.send(&message).unwrap();
        while ws.read().is_ok() {}
    });
    let stream = connect_raw(addr);
    let timeouts = Timeouts::default()
        .handshake(Some(ms(2000)))
        .keepalive(Some(Keepalive::new(ms(200), ms(5000))));
    let (mut ws, response) = WebSocket::connect_timed(
        stream,
        &format!("ws://{addr}/"),
        Default::default(),
        Config::default(),
        &timeouts,
    )
    .unwrap();
    assert_eq!(response.protocol(), None);
    assert_eq!(ws.get_ref().write_timeout().unwrap(), Some(TIMEOUT));
    ws.send_text("hello").unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    // The keepalive runs: after 200 ms of silence it pings the server,
    // whose answer is the next event.
    let start = Instant::now();
    assert!(matches!(ws.read_event().unwrap(), rfc6455::Event::Pong(_)));
    assert!(start.elapsed() >= ms(150), "{:?}", start.elapsed());
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}
