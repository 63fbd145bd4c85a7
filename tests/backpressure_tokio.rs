//! Bounded output in the async adapter (issue 16, finding 1; the core's
//! rule of tests/backpressure.rs): a peer that sends pings as fast as it
//! can and never reads our pongs is not read on once the unwritten pongs
//! pass `Config::output_high_water`, so it is throttled to what the socket
//! buffers hold, the connection's queued output stays bounded, and it is
//! lost after `Config::write_timeout` without progress, with the
//! documented outcome (`Lost::WriteTimeout`). The application reads all
//! along (it drains every `Event::Ping`), so nothing but the pongs can
//! stop the driver from reading.
#![cfg(feature = "tokio")]

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rfc6455::handshake::Limits;
use rfc6455::tokio::{Error, WebSocket};
use rfc6455::{Config, Event, Lost};
use tokio::net::TcpListener;
use tokio::time::timeout;

/// A masked ping with a 125-byte payload (the largest, §5.5): 131 bytes in,
/// 127 bytes of pong out. Mask key 0: the payload goes as it is.
fn big_ping() -> Vec<u8> {
    let mut frame = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    frame.extend_from_slice(&[b'p'; 125]);
    frame
}

/// A raw std client on its own thread: the handshake, the 101 head read
/// byte by byte, then pings as fast as the socket takes them, never
/// reading again, until `stop`. Returns how many bytes it wrote.
fn flood_pings(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
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
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        written
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flooder_that_never_reads_is_throttled_bounded_and_lost_after_the_write_timeout() {
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
