//! The blocking adapter's timeouts over loopback TCP (and a Unix socket):
//! the handshake deadline (`handshake::Limits::timeout`), the keepalive
//! (`Config::keepalive`, plain and split), the lingering close
//! (`Config::close_timeout`) and the write timeout (`Config::write_timeout`),
//! all run by the connection's timers inside the adapter's reads and writes.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::{self, Error, WebSocket};
use rfc6455::handshake::{ClientOptions, Limits};
use rfc6455::{CloseCode, Config, Event, Keepalive, Lost, Message, ProtocolError};

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
    // By hand, reading the response head byte by byte: a client's
    // `WebSocket::connect` reads ahead, and what the server sent right after
    // its 101 (a close frame, a ping) would go to that client's connection,
    // not to this raw socket.
    let mut stream = connect_raw(addr);
    std::io::Write::write_all(
        &mut stream,
        format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    stream
}

/// Reads one short unmasked server frame: opcode and payload.
fn read_frame(stream: &mut impl Read) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert!(head[1] < 126, "a short unmasked frame");
    let mut payload = vec![0u8; head[1] as usize];
    stream.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

/// The default config with a keepalive that pings after `ping_after` ms of
/// silence and gives up `timeout` ms after the ping.
fn keepalive(ping_after: u64, timeout: u64) -> Config {
    Config::default().keepalive(Some(Keepalive::new(ms(ping_after), ms(timeout))))
}

/// The default limits with a handshake deadline of `deadline` ms.
fn deadline(deadline: u64) -> Limits {
    Limits {
        timeout: Some(ms(deadline)),
        ..Limits::default()
    }
}

/// Accepts a WebSocket on `stream` with `config` and the default limits.
fn accept(stream: TcpStream, config: Config) -> WebSocket<TcpStream> {
    WebSocket::accept_with(stream, &Limits::default(), config, |_| Ok(None)).unwrap()
}

#[test]
fn handshake_deadline_cuts_off_a_head_that_trickles_in() {
    let (addr, server) = spawn_server(|stream| {
        let start = Instant::now();
        let result =
            WebSocket::accept_with(stream, &deadline(500), Config::default(), |_| Ok(None));
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

/// `read_request` under the same deadline, one byte every 50 ms, through
/// the function a server calls to serve plain HTTP beside WebSocket.
#[test]
fn read_request_deadline_cuts_off_a_head_that_trickles_in() {
    let (addr, server) = spawn_server(|mut stream| {
        let start = Instant::now();
        let result = blocking::read_request(&mut stream, &deadline(400));
        (result.map(|_| ()), start.elapsed())
    });
    let mut client = connect_raw(addr);
    for byte in b"GET /page HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa" {
        if client.write_all(&[*byte]).is_err() || server.is_finished() {
            break;
        }
        thread::sleep(ms(50));
    }
    let (result, took) = server.join().unwrap();
    assert!(matches!(result, Err(Error::HandshakeTimeout)), "{result:?}");
    assert!(took >= ms(400) && took < ms(800), "{took:?}");
    // Nothing was answered: a peer that slow is not worth a response.
    let mut answer = Vec::new();
    let _ = client.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
}

/// The old `read_request_timed` put back the read timeout the caller had
/// set. `read_request` cannot (a `Transport` has no getter): it leaves the
/// stream with no timeouts at all, never with what was left of its
/// deadline. A caller that serves plain HTTP afterwards sets its own again.
#[test]
fn read_request_leaves_the_stream_without_timeouts() {
    let (addr, server) = spawn_server(|mut stream| {
        stream.set_read_timeout(Some(ms(3000))).unwrap();
        stream.set_write_timeout(Some(ms(3000))).unwrap();
        let (request, _) = blocking::read_request(&mut stream, &deadline(2000)).unwrap();
        (
            request.path().to_string(),
            stream.read_timeout().unwrap(),
            stream.write_timeout().unwrap(),
        )
    });
    let mut client = connect_raw(addr);
    client
        .write_all(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (path, read_timeout, write_timeout) = server.join().unwrap();
    assert_eq!(path, "/page");
    assert_eq!((read_timeout, write_timeout), (None, None));
}

#[test]
fn keepalive_pings_a_silent_peer_then_loses_it_with_1001() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = accept(stream, keepalive(100, 200));
        let start = Instant::now();
        (ws.read().map(|_| ()), start.elapsed())
    });
    let mut client = connect_silent(addr);
    assert_eq!(read_frame(&mut client), (0x9, vec![]), "a ping");
    let (opcode, payload) = read_frame(&mut client);
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(&payload[..2], &1001u16.to_be_bytes(), "going away");
    let (result, took) = server.join().unwrap();
    assert!(
        matches!(result, Err(Error::Lost(Lost::KeepaliveTimeout))),
        "{result:?}"
    );
    assert!(took >= ms(300) && took < ms(800), "{took:?}");
    // Given up on: the server did not wait for us to end the connection.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn keepalive_keeps_a_peer_that_answers() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = accept(stream, keepalive(50, 200));
        // The client says something only after 600 ms: 12 pings' worth.
        let message = ws.read().unwrap().expect("the client's message");
        ws.send(&message).unwrap();
        assert_eq!(ws.read().unwrap(), None, "the client closes");
    });
    let (mut client, _) = WebSocket::connect(connect_raw(addr), &format!("ws://{addr}/")).unwrap();
    // Reading answers the pings: one per 50 ms of silence, so the loop
    // ends with the first ping after 600 ms.
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < ms(600) {
        match client.read_event() {
            Ok(Some(Event::Ping(_))) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings");
    client.send_text("still here").unwrap();
    assert_eq!(
        client.read().unwrap(),
        Some(Message::Text("still here".into()))
    );
    client.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

/// The split `Reader` runs the keepalive too. Fails: neither the ping nor
/// the 1001 close frame is ever written (the client reads end-of-file
/// where the ping should be). See the two tests below for each half.
#[test]
fn keepalive_carries_over_to_the_split_reader() {
    let (addr, server) = spawn_server(|stream| {
        let ws = accept(stream, keepalive(100, 200));
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
    assert!(
        matches!(result, Err(Error::Lost(Lost::KeepaliveTimeout))),
        "{result:?}"
    );
    assert!(took >= ms(300) && took < ms(800), "{took:?}");
}

/// A split server whose reader alone runs (its writer idle, as in a chat
/// server's quiet room) must ping a silent client that answers pings, and
/// keep it. Fails: the ping is queued by the `handle_timeout` that follows
/// the read timeout in `Reader::fill`, after the reader compared the output
/// length (`queued`), so nothing flushes it; `ping_after + timeout` later
/// the live client is dropped without a close frame.
#[test]
fn split_reader_keepalive_keeps_a_peer_that_answers() {
    let (addr, server) = spawn_server(|stream| {
        let ws = accept(stream, keepalive(50, 200));
        let (mut reader, _writer) = ws.split().unwrap();
        // The client says something only after 600 ms: 12 pings' worth.
        let first = reader
            .read()
            .map(|m| m.and_then(|m| m.as_text().map(String::from)));
        format!("{first:?}")
    });
    let (mut client, _) = WebSocket::connect(connect_raw(addr), &format!("ws://{addr}/")).unwrap();
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < ms(600) {
        match client.read_event() {
            Ok(Some(Event::Ping(_))) => pings += 1,
            other => panic!("after {pings} pings, {:?}: {other:?}", start.elapsed()),
        }
    }
    assert!(pings >= 3, "{pings} pings");
    client.send_text("still here").unwrap();
    assert_eq!(server.join().unwrap(), "Ok(Some(\"still here\"))");
}

/// When the split `Reader` gives up on a peer (keepalive), it should try
/// the 1001 close frame without waiting, as `WebSocket` does (its teardown
/// makes one short write) and as `Error::Lost` documents. Here the writer
/// half flushes every 20 ms, so the ping gets out despite the bug above;
/// then the reader's teardown breaks at once (`may_close_transport`) and
/// shuts the socket down with the 1001 frame still queued: the client reads
/// end-of-file where the close frame should be.
#[test]
fn split_reader_tries_the_1001_close_when_it_gives_up() {
    let (addr, server) = spawn_server(|stream| {
        let ws = accept(stream, keepalive(100, 200));
        let (mut reader, mut writer) = ws.split().unwrap();
        let flusher = thread::spawn(move || {
            // Ends once the connection is given up on (Error::Lost).
            while writer.flush().is_ok() {
                thread::sleep(ms(20));
            }
        });
        let result = reader.read().map(|_| ());
        flusher.join().unwrap();
        result
    });
    let mut client = connect_silent(addr);
    assert_eq!(read_frame(&mut client), (0x9, vec![]), "a ping");
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest);
    let result = server.join().unwrap();
    assert!(
        matches!(result, Err(Error::Lost(Lost::KeepaliveTimeout))),
        "{result:?}"
    );
    assert!(rest.len() >= 4, "no close frame after the ping: {rest:?}");
    assert_eq!(rest[0], 0x88, "a close frame: {rest:?}");
    assert_eq!(&rest[2..4], &1001u16.to_be_bytes(), "going away");
}

/// The keepalive needs no `TcpStream`: over a Unix socket pair (any
/// [`Transport`](blocking::Transport)) a silent peer is pinged after
/// `ping_after` and lost `timeout` after the ping, with 1001 tried.
#[cfg(unix)]
#[test]
fn keepalive_works_over_a_unix_socket() {
    use std::os::unix::net::UnixStream;

    use rfc6455::{Connection, Role};

    let (ours, mut peer) = UnixStream::pair().unwrap();
    peer.set_read_timeout(Some(TIMEOUT)).unwrap();
    let server = thread::spawn(move || {
        // A handshake done elsewhere; the connection over the Unix socket.
        let conn = Connection::new(Role::Server, keepalive(100, 200));
        let mut ws = WebSocket::from_connection(ours, conn);
        let start = Instant::now();
        let result = ws.read().map(|_| ());
        (result, start.elapsed(), ws.connection().lost())
    });
    let start = Instant::now();
    assert_eq!(read_frame(&mut peer), (0x9, vec![]), "a ping");
    let pinged = start.elapsed();
    let (opcode, payload) = read_frame(&mut peer);
    let dropped = start.elapsed();
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(&payload[..2], &1001u16.to_be_bytes(), "going away");
    let (result, took, lost) = server.join().unwrap();
    assert!(
        matches!(result, Err(Error::Lost(Lost::KeepaliveTimeout))),
        "{result:?}"
    );
    assert_eq!(lost, Some(Lost::KeepaliveTimeout));
    assert!(
        pinged >= ms(90) && pinged < ms(500),
        "pinged after {pinged:?}"
    );
    assert!(
        dropped >= ms(290) && dropped < ms(800),
        "lost after {dropped:?}"
    );
    assert!(took >= ms(300) && took < ms(800), "{took:?}");
    // The write half was shut down: end-of-file after the close frame.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}

/// The server fails the connection (1009) while 32 KiB of the peer's
/// message are unread. Lingering, it reads them and shuts down its write
/// half: the client gets the close frame and then a clean end-of-file, not
/// a reset. The client holds its end open: the linger ends at the server's
/// close timeout (300 ms). `split` is whether the server uses the halves.
fn lingering_close_after_a_protocol_error(split: bool) {
    let (addr, server) = spawn_server(move |stream| {
        let config = Config::default()
            .max_frame_size(1024)
            .close_timeout(ms(300));
        let ws = accept(stream, config);
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
    // The close frame as an event: our reply is sent, and the socket not
    // read any further, so that a reset would show below.
    let code = match client.read_event() {
        Ok(Some(Event::Close(frame))) => frame.code,
        other => panic!("expected the close frame, got {other:?}"),
    };
    assert_eq!(code, Some(CloseCode::MESSAGE_TOO_BIG));
    let mut stream = client.into_parts().0;
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "nothing after the close frame"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => panic!("reset instead of a clean end"),
        Err(e) => panic!("{e}"),
    }
    // Our end stays open until the server is done.
    let (result, took) = server.join().unwrap();
    drop(stream);
    assert!(
        matches!(&result, Err(Error::Protocol(e)) if e.close_code() == CloseCode::MESSAGE_TOO_BIG),
        "{result:?}"
    );
    assert!(
        took >= ms(300) && took < ms(1500),
        "the linger is bounded by the close timeout: {took:?}"
    );
}

#[test]
fn lingering_close_delivers_the_close_frame_despite_unread_input() {
    lingering_close_after_a_protocol_error(false);
}

#[test]
fn lingering_close_of_the_split_reader() {
    lingering_close_after_a_protocol_error(true);
}

/// The linger ends as soon as the client ends its side: a server's close
/// handshake does not wait for the close timeout when the peer behaves.
#[test]
fn lingering_close_ends_at_the_clients_end_of_file() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = accept(stream, Config::default().close_timeout(TIMEOUT));
        let start = Instant::now();
        let reply = ws.close(CloseCode::NORMAL, "bye").unwrap();
        (
            reply,
            start.elapsed(),
            ws.connection().may_close_transport(),
        )
    });
    let (mut client, _) = WebSocket::connect(connect_raw(addr), &format!("ws://{addr}/")).unwrap();
    assert_eq!(client.read().unwrap(), None, "the server closed");
    drop(client);
    let (reply, took, may_close) = server.join().unwrap();
    assert_eq!(reply.and_then(|f| f.code), Some(CloseCode::NORMAL));
    assert!(may_close);
    assert!(
        took < ms(1000),
        "waited {took:?}, not the 5 s close timeout"
    );
}

/// Client side: the handshake deadline of `ClientOptions::limits` against a
/// server that accepted the TCP connection and then writes its response
/// head one byte every 50 ms.
#[test]
fn connect_deadline_cuts_off_a_server_that_answers_too_slowly() {
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
    let options = ClientOptions {
        limits: deadline(400),
        ..ClientOptions::default()
    };
    let result =
        WebSocket::connect_with(stream, &format!("ws://{addr}/"), options, Config::default());
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
fn connect_deadline_against_a_server_that_never_answers() {
    let (addr, server) = spawn_server(|stream| {
        thread::sleep(ms(1500));
        drop(stream);
    });
    let start = Instant::now();
    let options = ClientOptions {
        limits: deadline(300),
        ..ClientOptions::default()
    };
    let result = WebSocket::connect_with(
        connect_raw(addr),
        &format!("ws://{addr}/"),
        options,
        Config::default(),
    );
    assert!(matches!(result, Err(Error::HandshakeTimeout)));
    assert!(start.elapsed() < ms(1200), "{:?}", start.elapsed());
    server.join().unwrap();
}

/// A client connected under a handshake deadline: the stream gets the
/// connection's write timeout (`Config::write_timeout`, replacing the one
/// set before), and the keepalive runs.
#[test]
fn connect_with_a_deadline_connects_and_starts_the_keepalive() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = accept(stream, Config::default().keepalive(None));
        // Echo one message, then stay silent until the client is done.
        let message = ws.read().unwrap().expect("the client's message");
        ws.send(&message).unwrap();
        while let Ok(Some(_)) = ws.read() {}
    });
    let stream = connect_raw(addr);
    let options = ClientOptions {
        limits: deadline(2000),
        ..ClientOptions::default()
    };
    let config = Config::default()
        .keepalive(Some(Keepalive::new(ms(200), ms(5000))))
        .write_timeout(Some(ms(4000)));
    let (mut ws, response) =
        WebSocket::connect_with(stream, &format!("ws://{addr}/"), options, config).unwrap();
    assert_eq!(response.protocol(), None);
    assert_eq!(ws.get_ref().write_timeout().unwrap(), Some(ms(4000)));
    ws.send_text("hello").unwrap();
    assert_eq!(ws.read().unwrap(), Some(Message::text("hello")));
    // The keepalive runs: after 200 ms of silence it pings the server,
    // whose answer is the next event.
    let start = Instant::now();
    assert!(matches!(ws.read_event().unwrap(), Some(Event::Pong(_))));
    assert!(start.elapsed() >= ms(150), "{:?}", start.elapsed());
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

/// The close timeout bounds a close handshake the peer never answers: the
/// close frame goes out, and `Config::close_timeout` later the connection
/// is lost with `Lost::CloseTimeout` (reported by `close`'s read as the end).
#[test]
fn close_timeout_gives_up_on_a_peer_that_never_answers_the_close() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = accept(stream, Config::default().close_timeout(ms(200)));
        let start = Instant::now();
        let reply = ws.close(CloseCode::NORMAL, "").unwrap();
        (reply, start.elapsed(), ws.connection().lost())
    });
    let mut client = connect_silent(addr);
    let (opcode, payload) = read_frame(&mut client);
    assert_eq!(opcode, 0x8, "the server's close frame");
    assert_eq!(&payload[..2], &1000u16.to_be_bytes());
    let (reply, took, lost) = server.join().unwrap();
    assert_eq!(reply, None);
    assert_eq!(lost, Some(Lost::CloseTimeout));
    assert!(took >= ms(200) && took < ms(800), "{took:?}");
}

/// `WebSocket` documents that "a write that makes no progress for
/// `Config::write_timeout` loses the connection (`Error::Lost` with
/// `Lost::WriteTimeout`)". The core's write timeout only runs while the
/// output is over `Config::output_high_water`; the adapter's `send` blocks
/// until the output is empty, so a small message stuck behind full socket
/// buffers (a peer that stopped reading) blocks `send` forever when the
/// keepalive is off (with it on, for `ping_after + timeout`, not the write
/// timeout): each socket write times out after `write_timeout`, the
/// connection sees no stall under the mark, and the adapter writes again.
/// The split `Writer` has the same loop.
#[test]
fn write_timeout_loses_a_peer_that_stopped_reading_small_messages_too() {
    let (addr, server) = spawn_server(|stream| {
        let config = Config::default()
            .keepalive(None)
            .write_timeout(Some(ms(200)));
        let mut ws = accept(stream, config);
        let (tx, rx) = mpsc::channel();
        // In a thread of its own: with the bug the send never returns.
        thread::spawn(move || {
            let start = Instant::now();
            let result = loop {
                if let Err(e) = ws.send_binary(&[0; 1024]) {
                    break e;
                }
            };
            let _ = tx.send((format!("{result:?}"), start.elapsed()));
        });
        rx.recv_timeout(ms(5000))
    });
    // Never reads: the server's sends fill the socket buffers.
    let client = connect_silent(addr);
    let outcome = server.join().unwrap();
    drop(client);
    let (error, took) = outcome.expect("send returned within 5 s");
    assert_eq!(error, format!("{:?}", Error::Lost(Lost::WriteTimeout)));
    assert!(took < ms(3000), "{took:?}");
}

/// The write timeout over the high-water mark, for contrast: a large
/// message to a peer that stopped reading is given up on in time.
#[test]
fn write_timeout_loses_a_peer_that_stopped_reading_a_large_message() {
    let (addr, server) = spawn_server(|stream| {
        let config = Config::default()
            .keepalive(None)
            .write_timeout(Some(ms(200)));
        let mut ws = accept(stream, config);
        let start = Instant::now();
        let result = loop {
            if let Err(e) = ws.send_binary(&vec![0; 1 << 20]) {
                break e;
            }
        };
        (result, start.elapsed())
    });
    let client = connect_silent(addr);
    let (result, took) = server.join().unwrap();
    drop(client);
    assert!(
        matches!(result, Error::Lost(Lost::WriteTimeout)),
        "{result:?}"
    );
    assert!(took < ms(3000), "{took:?}");
}

/// A protocol error reaches the caller only after the lingering close; the
/// close frame was sent first.
#[test]
fn protocol_error_is_returned_once_its_close_frame_is_out() {
    let (addr, server) = spawn_server(|stream| {
        let mut ws = accept(stream, Config::default().close_timeout(ms(200)));
        ws.read().map(|_| ())
    });
    let mut client = connect_silent(addr);
    // An unmasked text frame: a client must mask (§5.1).
    client.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let (opcode, payload) = read_frame(&mut client);
    assert_eq!(opcode, 0x8);
    assert_eq!(&payload[..2], &1002u16.to_be_bytes());
    let result = server.join().unwrap();
    assert!(
        matches!(result, Err(Error::Protocol(ProtocolError::UnmaskedFrame))),
        "{result:?}"
    );
}
