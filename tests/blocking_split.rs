//! `WebSocket::split`: a reader half and a writer half of one WebSocket over
//! loopback TCP, used from two threads. Every socket has read and write
//! timeouts and every accept a deadline, so a failing test (a deadlock
//! included) fails instead of hanging.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rfc6455::blocking::{Error, Reader, WebSocket, Writer};
use rfc6455::{CloseCode, Event, Initiator, Lost, Message, State};

/// How long any single read or write may block.
const TIMEOUT: Duration = Duration::from_secs(10);

fn bounded(stream: TcpStream) -> TcpStream {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Runs `serve` on a thread with the first WebSocket accepted on a fresh
/// listener on 127.0.0.1 (port 0), giving up after [`TIMEOUT`].
fn spawn_server<T: Send + 'static>(
    serve: impl FnOnce(WebSocket<TcpStream>) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("no connection within {TIMEOUT:?}: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        serve(WebSocket::accept(bounded(stream)).expect("server handshake"))
    });
    (addr, handle)
}

fn connect(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = bounded(TcpStream::connect(addr).unwrap());
    WebSocket::connect(stream, &format!("ws://{addr}/"))
        .unwrap()
        .0
}

fn connect_split(addr: SocketAddr) -> (Reader, Writer) {
    connect(addr).split().expect("split")
}

/// A message of `len` bytes whose content depends on `seed`.
fn payload(seed: usize, len: usize) -> Message {
    Message::from((0..len).map(|i| (i * 7 + seed) as u8).collect::<Vec<u8>>())
}

#[test]
fn both_ends_stream_64_mib_while_reading() {
    // Both ends send without waiting for the echoes, in messages of 4 MiB,
    // while their reader halves take in the other's stream.
    const MESSAGES: usize = 16;
    const SIZE: usize = 4 << 20;
    let (addr, server) = spawn_server(|ws| {
        // An echo server built from the halves: a reader thread hands
        // messages to a writer thread.
        let (mut reader, mut writer) = ws.split().unwrap();
        let (tx, rx) = mpsc::sync_channel::<Message>(4);
        let echo = thread::spawn(move || {
            for message in rx {
                writer.send(&message).expect("server send");
            }
            writer
        });
        loop {
            match reader.read() {
                Ok(Some(message)) => tx.send(message).unwrap(),
                Ok(None) => {
                    drop(tx);
                    let writer = echo.join().unwrap();
                    return (writer.peer_close(), writer.state());
                }
                Err(e) => panic!("server read: {e}"),
            }
        }
    });

    let (mut reader, mut writer) = connect_split(addr);
    let sender = thread::spawn(move || {
        for i in 0..MESSAGES {
            writer.send(&payload(i, SIZE)).expect("client send");
        }
        writer
    });
    for i in 0..MESSAGES {
        let echoed = reader.read().expect("read an echo");
        assert!(echoed == Some(payload(i, SIZE)), "echo {i} differs");
    }
    let mut writer = sender.join().unwrap();
    writer.close(CloseCode::NORMAL, "done").unwrap();
    match reader.read() {
        Ok(None) => {
            let frame = writer.peer_close().expect("the close reply");
            assert_eq!(frame.code, Some(CloseCode::NORMAL));
        }
        other => panic!("expected the close reply, got {other:?}"),
    }
    let (frame, state) = server.join().unwrap();
    assert_eq!(frame.and_then(|f| f.code), Some(CloseCode::NORMAL));
    assert!(matches!(state, State::Closed { clean: true, .. }));
}

#[test]
fn reader_is_not_blocked_by_a_writer_stuck_in_write() {
    // The server sends one message, then never reads, so the client's writer
    // blocks once the socket buffers are full. The reader must still get the
    // message: the writer may not hold the connection while it waits on the
    // socket.
    let (release, released) = mpsc::channel::<()>();
    let (addr, server) = spawn_server(move |mut ws| {
        ws.send_text("still there?").unwrap();
        let _ = released.recv_timeout(TIMEOUT);
    });
    let (mut reader, mut writer) = connect_split(addr);
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let pusher = thread::spawn(move || {
        // Ends with an error once the server goes away.
        while writer.send(&payload(0, 16 * 1024)).is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    // Stuck: no progress for 500 ms.
    let deadline = Instant::now() + TIMEOUT;
    let mut last = usize::MAX;
    loop {
        thread::sleep(Duration::from_millis(500));
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        assert!(Instant::now() < deadline, "the writer never blocked");
        last = now;
    }
    let start = Instant::now();
    let message = reader
        .read()
        .expect("the reader gets the server's message")
        .expect("a message");
    assert_eq!(message.as_text(), Some("still there?"));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    release.send(()).unwrap();
    server.join().unwrap();
    pusher.join().unwrap();
}

#[test]
fn concurrent_sends_and_reads_keep_every_message_whole_and_in_order() {
    // The server sends a numbered stream while echoing what it reads, both
    // through its two halves at once; the client does the same.
    const COUNT: usize = 2000;
    let (addr, server) = spawn_server(|ws| {
        let (mut reader, mut writer) = ws.split().unwrap();
        let pusher = thread::spawn(move || {
            for i in 0..COUNT {
                writer.send_text(&format!("server {i} 你好 🦀")).unwrap();
            }
            writer
        });
        let mut got = 0;
        while let Some(message) = reader.read().expect("server read") {
            assert_eq!(message.as_text(), Some(format!("client {got}").as_str()));
            got += 1;
        }
        pusher.join().unwrap();
        got
    });
    let (mut reader, mut writer) = connect_split(addr);
    let pusher = thread::spawn(move || {
        for i in 0..COUNT {
            if i % 2 == 0 {
                writer.send_text(&format!("client {i}")).unwrap();
            } else {
                // Queued and flushed in one go, for the other path.
                writer.queue_text(&format!("client {i}")).unwrap();
                writer.flush().unwrap();
            }
        }
        writer
    });
    for i in 0..COUNT {
        let message = reader.read().expect("read").expect("a message");
        assert_eq!(
            message.as_text(),
            Some(format!("server {i} 你好 🦀").as_str())
        );
    }
    let mut writer = pusher.join().unwrap();
    writer.close(CloseCode::NORMAL, "").unwrap();
    assert!(matches!(reader.read(), Ok(None)));
    assert!(writer.peer_close().is_some());
    assert_eq!(server.join().unwrap(), COUNT);
}

#[test]
fn reader_alone_answers_pings() {
    // The server reads with its reader half only; its writer half sits idle
    // on another thread. The pongs must still go out.
    let (addr, server) = spawn_server(|ws| {
        let (mut reader, writer) = ws.split().unwrap();
        let mut pings = 0;
        loop {
            match reader.read_event() {
                Ok(Some(Event::Ping(_))) => pings += 1,
                Ok(Some(Event::Close(_)) | None) => break,
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => panic!("server read: {e}"),
            }
        }
        drop(writer);
        pings
    });
    let mut client = connect(addr);
    for payload in [&b"one"[..], b"", &[7; 125]] {
        client.ping(payload).unwrap();
        match client.read_event().unwrap() {
            Some(Event::Pong(got)) => assert_eq!(&got[..], payload),
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    client.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap(), 3);
}

#[test]
fn pong_is_sent_while_the_writer_is_busy() {
    // The server's writer streams 32 MiB; the client pings in the middle.
    // The pong goes out behind the data, in order, and nothing is mangled.
    const SIZE: usize = 1 << 20;
    const MESSAGES: usize = 32;
    let (addr, server) = spawn_server(|ws| {
        let (mut reader, mut writer) = ws.split().unwrap();
        let pusher = thread::spawn(move || {
            for i in 0..MESSAGES {
                writer.send(&payload(i, SIZE)).unwrap();
            }
        });
        let mut pings = 0;
        while let Some(event) = reader.read_event().expect("server read") {
            pings += usize::from(matches!(event, Event::Ping(_)));
        }
        pusher.join().unwrap();
        pings
    });
    let mut client = connect(addr);
    let mut messages = 0;
    let mut pongs = 0;
    client.ping(b"mid-stream").unwrap();
    while messages < MESSAGES {
        match client.read_event().unwrap() {
            Some(Event::Message(m)) => {
                assert!(m == payload(messages, SIZE), "message {messages} differs");
                messages += 1;
                if messages == 3 {
                    client.ping(b"again").unwrap();
                }
            }
            Some(Event::Pong(_)) => pongs += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Both pongs were queued before the last message ended at the latest.
    while pongs < 2 {
        match client.read_event().unwrap() {
            Some(Event::Pong(_)) => pongs += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    client.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap(), 2);
}

#[test]
fn close_from_the_writer_completes_when_the_reader_sees_the_reply() {
    let (addr, server) = spawn_server(|mut ws| {
        // An unsplit echo server that answers the close.
        loop {
            match ws.read() {
                Ok(Some(message)) => ws.send(&message).unwrap(),
                Ok(None) => return ws.connection().peer_close().cloned(),
                Err(e) => panic!("server read: {e}"),
            }
        }
    });
    let (mut reader, mut writer) = connect_split(addr);
    let reading = thread::spawn(move || {
        let mut messages = Vec::new();
        loop {
            match reader.read_event() {
                Ok(Some(Event::Message(message))) => messages.push(message),
                Ok(Some(Event::Close(frame))) => {
                    // The close handshake completes with the next read.
                    assert_eq!(reader.read().unwrap(), None);
                    return (messages, Some(frame), reader.state());
                }
                Ok(other) => panic!("client read: unexpected {other:?}"),
                Err(e) => panic!("client read: {e}"),
            }
        }
    });
    writer.send_text("last words").unwrap();
    writer.close(CloseCode::NORMAL, "bye 再见").unwrap();
    // Closing, or already closed: the reader thread may have read the
    // server's reply between `close` and this line.
    assert!(
        matches!(
            writer.state(),
            State::LocalClosing
                | State::Closed {
                    initiator: Initiator::Local,
                    ..
                }
        ),
        "{:?}",
        writer.state()
    );
    // Nothing may be sent after the close frame (§5.5.1).
    assert!(matches!(writer.send_text("more"), Err(Error::Usage(_))));
    let (messages, frame, state) = reading.join().unwrap();
    assert_eq!(messages, [Message::from("last words")]);
    assert_eq!(frame.and_then(|f| f.code), Some(CloseCode::NORMAL));
    assert_eq!(
        state,
        State::Closed {
            clean: true,
            initiator: Initiator::Local
        }
    );
    assert_eq!(
        writer.peer_close().and_then(|f| f.code),
        Some(CloseCode::NORMAL)
    );
    let server_saw = server
        .join()
        .unwrap()
        .expect("the server got our close frame");
    assert_eq!(server_saw.code, Some(CloseCode::NORMAL));
    assert_eq!(server_saw.reason, "bye 再见");
}

#[test]
fn peer_close_is_answered_by_the_reader_half() {
    let (addr, server) = spawn_server(|ws| {
        let (mut reader, writer) = ws.split().unwrap();
        let result = reader.read();
        (result, writer.state())
    });
    let mut client = connect(addr);
    let reply = client.close(CloseCode(4001), "app").unwrap();
    assert_eq!(reply.and_then(|f| f.code), Some(CloseCode(4001)));
    let (result, state) = server.join().unwrap();
    assert!(matches!(result, Ok(None)), "{result:?}");
    assert!(matches!(
        state,
        State::Closed {
            clean: true,
            initiator: Initiator::Remote
        }
    ));
}

#[test]
fn shutdown_from_the_writer_unblocks_the_reader() {
    let (addr, server) = spawn_server(|mut ws| {
        // Waits for the client to go away.
        let mut rest = Vec::new();
        let _ = ws.get_mut().read_to_end(&mut rest);
    });
    let (mut reader, writer) = connect_split(addr);
    let reading = thread::spawn(move || {
        let start = Instant::now();
        let result = reader.read();
        (result, start.elapsed())
    });
    thread::sleep(Duration::from_millis(100));
    writer.shutdown().unwrap();
    let (result, elapsed) = reading.join().unwrap();
    // Shut down both ways, the reader sees end-of-file: lost.
    assert!(
        matches!(result, Err(Error::Lost(Lost::TransportEnded))),
        "{result:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "reader blocked {elapsed:?}"
    );
    server.join().unwrap();
}

#[test]
fn write_error_reaches_the_writer() {
    // The peer goes away; writes start failing instead of blocking.
    let (addr, server) = spawn_server(drop);
    let (_reader, mut writer) = connect_split(addr);
    server.join().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let error = loop {
        match writer.send(&payload(0, 64 * 1024)) {
            Ok(()) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(()) => panic!("writes kept succeeding to a closed peer"),
            Err(e) => break e,
        }
    };
    assert!(matches!(error, Error::Io(_)), "{error:?}");
}

#[test]
fn try_read_takes_only_what_has_already_arrived() {
    let (addr, server) = spawn_server(|mut ws| {
        // Three messages in one write, then one more after a pause.
        for text in ["one", "two", "three"] {
            ws.connection_mut().send_text(text).unwrap();
        }
        ws.flush().unwrap();
        thread::sleep(Duration::from_millis(300));
        ws.send_text("four").unwrap();
        ws.close(CloseCode::NORMAL, "").unwrap();
    });
    let (mut reader, mut writer) = connect_split(addr);
    assert_eq!(reader.read().unwrap(), Some(Message::from("one")));
    assert_eq!(reader.try_read().unwrap(), Some(Message::from("two")));
    assert_eq!(reader.try_read().unwrap(), Some(Message::from("three")));
    // Nothing more has arrived: no blocking, no error.
    let start = Instant::now();
    assert_eq!(reader.try_read().unwrap(), None);
    assert!(start.elapsed() < Duration::from_millis(100));
    assert_eq!(reader.read().unwrap(), Some(Message::from("four")));
    // The server's close is answered; afterwards try_read finds nothing
    // either, without blocking.
    assert!(matches!(reader.read(), Ok(None)));
    assert!(writer.peer_close().is_some());
    assert!(matches!(reader.try_read(), Ok(None)));
    assert!(matches!(writer.send_text("late"), Err(Error::Usage(_))));
    server.join().unwrap();
}
