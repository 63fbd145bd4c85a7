//! Bounded output (the core's rule, RFC 6455 §5.5.2 pongs included): a peer
//! that sends pings as fast as it can and never reads cannot grow our
//! output without bound. The core stops taking input over
//! `Config::output_high_water` and loses the connection after
//! `Config::write_timeout` without progress; the adapters follow it.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{KEY, client_frame};
use rfc6455::blocking::{Error, WebSocket};
use rfc6455::handshake::Limits;
use rfc6455::{Config, Connection, Event, Lost, Message, Role};

/// A masked ping with a 125-byte payload (the largest, §5.5): 131 bytes in,
/// 127 bytes of pong out.
fn big_ping() -> Vec<u8> {
    client_frame(true, 0x9, &[b'p'; 125])
}

#[test]
fn a_loop_that_never_writes_cannot_grow_output_past_the_high_water_mark() {
    let config = Config::default().keepalive(None);
    let high_water = config.output_high_water;
    let input_high_water = config.input_high_water;
    let mut server = Connection::new(Role::Server, config);
    let pings: Vec<u8> = big_ping().repeat(1000);
    // A careless event loop: reads, polls, reads, and never writes.
    // An endless stream of pings: whatever `receive` took, the next
    // offer continues from there.
    let mut pos = 0;
    let mut rounds = 0;
    for _ in 0..100_000 {
        let n = server.receive(&pings[pos..]);
        pos = (pos + n) % pings.len();
        rounds += 1;
        while let Some(event) = server.poll_event().expect("only valid pings") {
            assert!(matches!(event, Event::Ping(_)));
        }
        if n == 0 {
            break;
        }
    }
    assert!(
        !server.wants_read(),
        "over the mark the connection takes no input"
    );
    assert_eq!(server.receive(&pings[pos..]), 0);
    assert_eq!(server.state(), rfc6455::State::Open);
    // Output: the mark, plus the pongs to the last read buffer's worth of
    // pings (each 131-byte ping earns a 127-byte pong).
    let bound = high_water + input_high_water;
    assert!(
        server.output_len() <= bound,
        "{} bytes queued, bound {bound}",
        server.output_len()
    );
    assert!(
        rounds <= 5,
        "{rounds} rounds: input stops within a few reads"
    );
    // Nothing is written for the write timeout: the connection is lost.
    server.handle_timeout(Duration::ZERO);
    server.handle_timeout(Duration::from_secs(30));
    assert_eq!(
        server.poll_event(),
        Ok(Some(Event::Lost(Lost::WriteTimeout)))
    );
    assert!(server.may_close_transport());
    assert!(server.output_len() <= bound, "nothing more was queued");
}

/// A raw client: handshake, then pings as fast as the socket takes them,
/// never reading, until `stop`. Returns how many bytes it wrote.
fn flood_pings(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        write!(
            tcp,
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        // Read just the 101 head, then never read again.
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        let burst = big_ping().repeat(512);
        let mut written = 0;
        // A write cut short by the timeout resumes where it stopped: the
        // stream stays whole frames.
        let mut pos = 0;
        while !stop.load(Ordering::Relaxed) {
            match tcp.write(&burst[pos..]) {
                Ok(n) => {
                    written += n;
                    pos = (pos + n) % burst.len();
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
        let _ = KEY;
        written
    })
}

#[test]
fn blocking_server_drops_a_ping_flooder_that_never_reads_with_the_documented_outcome() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let client = flood_pings(addr, Arc::clone(&stop));
    let (stream, _) = listener.accept().unwrap();
    let config = Config::default()
        .keepalive(None)
        .write_timeout(Some(Duration::from_secs(1)));
    let mut ws = WebSocket::accept_with(stream, &Limits::default(), config, |_| Ok(None)).unwrap();
    let started = Instant::now();
    let outcome = match ws.read() {
        Ok(Some(_)) => panic!("the client sends only pings"),
        Ok(None) => None,
        Err(e) => Some(e),
    };
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let written = client.join().unwrap();
    assert!(
        matches!(outcome, Some(Error::Lost(Lost::WriteTimeout))),
        "{outcome:?}"
    );
    assert!(took < Duration::from_secs(20), "dropped after {took:?}");
    eprintln!("flooder wrote {written} bytes; dropped after {took:?}");
}

#[test]
fn split_reader_stops_reading_while_the_writer_is_behind() {
    // The writer keeps the socket busy with large messages to a client that
    // reads slowly; the client also floods pings. The pongs queue behind the
    // writer's messages; the reader must stop reading (backpressure) rather
    // than queue pongs without bound.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let slow_reader = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let tcp = TcpStream::connect(addr).unwrap();
            let (mut ws, _) = WebSocket::connect(tcp, &format!("ws://{addr}/")).unwrap();
            let conn = ws.get_mut().try_clone().unwrap();
            // Pings from a second handle, raw (masked), as fast as they go.
            let flooder = {
                let stop = Arc::clone(&stop);
                let mut conn = conn;
                conn.set_write_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                thread::spawn(move || {
                    let burst = big_ping().repeat(256);
                    let mut pos = 0;
                    while !stop.load(Ordering::Relaxed) {
                        match conn.write(&burst[pos..]) {
                            Ok(n) => pos = (pos + n) % burst.len(),
                            Err(_) => thread::sleep(Duration::from_millis(1)),
                        }
                    }
                })
            };
            // Read slowly: one message every 50 ms.
            let mut received = 0;
            while !stop.load(Ordering::Relaxed) {
                match ws.read_event() {
                    Ok(Some(Event::Message(_))) => received += 1,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
                thread::sleep(Duration::from_millis(50));
            }
            flooder.join().unwrap();
            received
        })
    };
    let (stream, _) = listener.accept().unwrap();
    let ws = WebSocket::accept(stream).unwrap();
    let (mut reader, mut writer) = ws.split().unwrap();
    let max_queued = Arc::new(AtomicUsize::new(0));
    let reading = thread::spawn(move || while let Ok(Some(_)) = reader.read() {});
    let message = Message::binary(vec![1u8; 256 * 1024]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        writer.queue(&message).unwrap();
        max_queued.fetch_max(writer.queued(), Ordering::Relaxed);
        if writer.flush().is_err() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = writer.shutdown();
    reading.join().unwrap();
    let received = slow_reader.join().unwrap();
    let max = max_queued.load(Ordering::Relaxed);
    // At most: the mark (64 KiB), one message queued on top, and the pongs
    // to one read buffer (64 KiB).
    let bound = 64 * 1024 + 256 * 1024 + 64 * 1024 + 1024;
    assert!(max <= bound, "queued up to {max} bytes, bound {bound}");
    assert!(received > 0, "the slow reader got messages");
}

/// Bounded output in the async adapter (issue 16, finding 1): the same
/// flooder against `rfc6455::tokio`. The application reads all along (it
/// drains every `Event::Ping`), so nothing but the unwritten pongs can stop
/// the driver from reading; over `Config::output_high_water` they do, the
/// queued output stays bounded, and the connection is lost after
/// `Config::write_timeout` without progress (`Lost::WriteTimeout`).
#[cfg(feature = "tokio")]
mod tokio_adapter {
    use super::*;
    use rfc6455::tokio::{Error, WebSocket};
    use tokio::net::TcpListener;
    use tokio::time::timeout;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ping_flooder_that_never_reads_is_throttled_bounded_and_lost_after_the_write_timeout()
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flooder = flood_pings(addr, Arc::clone(&stop));
        let config = Config::default()
            .keepalive(None)
            .write_timeout(Some(Duration::from_secs(2)));
        let high_water = config.output_high_water;
        let input_high_water = config.input_high_water;
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = WebSocket::accept_with(tcp, &Limits::default(), config, |_| Ok(None))
            .await
            .unwrap();
        let sender = ws.sender();
        let started = Instant::now();
        let mut pings = 0usize;
        let mut max_queued = 0usize;
        let outcome = loop {
            max_queued = max_queued.max(sender.queued());
            match timeout(Duration::from_secs(20), ws.recv_event()).await {
                Ok(Ok(Some(Event::Ping(_)))) => pings += 1,
                // The adapter reports a lost connection as an event ...
                Ok(Ok(Some(Event::Lost(lost)))) => break Some(lost),
                Ok(Ok(Some(other))) => panic!("the client sends only pings: {other:?}"),
                Ok(Ok(None)) => break None,
                // ... or, once it was reported, as the error of what follows.
                Ok(Err(Error::Lost(lost))) => break Some(lost),
                Ok(Err(e)) => panic!("after {pings} pings: {e}"),
                Err(_) => panic!("no event and no end for 20 s after {pings} pings"),
            }
        };
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let written = flooder.join().unwrap();
        eprintln!(
            "tokio ping flood: the flooder wrote {:.1} MB, the server took {pings} pings, \
             queued output peaked at {max_queued} bytes, lost after {took:?}: {outcome:?}",
            written as f64 / 1e6
        );
        assert!(outcome == Some(Lost::WriteTimeout), "{outcome:?}");
        // Within the write timeout plus its restart (at most twice it), with
        // slack for a loaded machine.
        assert!(took < Duration::from_secs(15), "lost after {took:?}");
        // The mark, plus the pongs to one read buffer's worth of pings (each
        // 131-byte ping earns a 127-byte pong), plus the reads the driver makes
        // at once (its read size adapts up to 64 KiB).
        let bound = high_water + input_high_water + (64 << 10);
        assert!(
            max_queued <= bound,
            "queued up to {max_queued} bytes, bound {bound}"
        );
        // Throttled: the pings the server took are those whose pongs fit in the
        // socket buffers and the mark, not the tens of MB a second a flooder
        // writes when its pings are read on.
        let taken = pings * big_ping().len();
        assert!(
            taken < 32 << 20,
            "the server took {taken} bytes of pings in {took:?}"
        );
    }
}
