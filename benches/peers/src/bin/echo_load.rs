//! A bounded load generator for WebSocket echo servers over loopback
//! (issue 5). It is its own minimal client (hand-built masked frames, no
//! WebSocket library), so it costs every server the same.
//!
//! ```text
//! echo_load --addr 127.0.0.1:PORT --server-pid PID --conns 64 --size 16 [--secs 3] [--warmup 0.5] [--inflight N]
//! echo_load --addr 127.0.0.1:PORT --server-pid PID --idle 1000 [--settle 1]
//! echo_load --tls --addr 127.0.0.1:PORT --server-pid PID --conns 64 --size 16
//! ```
//!
//! `--tls` (echo mode): every connection is a rustls client (ring provider,
//! the default TLS 1.3 suites, SNI `localhost`) that does not verify the
//! server's self-signed certificate (a loopback benchmark; verification is
//! a handshake cost, outside the measured window). Frames are encrypted
//! and decrypted by the generator as any TLS client would.
//!
//! `--sources K` (either mode) binds connection `i` to the source address
//! 127.0.0.(2 + i mod K) rather than letting the kernel pick 127.0.0.1:
//! each source address has its own ephemeral port range (about 28,000
//! ports), so 50,000 connections need two or more (benches/tokio_scale.sh).
//!
//! **Echo mode** opens `--conns` connections (opening handshake each), then
//! plays ping-pong on all of them at once: each connection has one binary
//! message of `--size` bytes in flight, and sends the next as soon as the
//! echo is back (a closed loop). After `--warmup` seconds it measures for
//! `--secs` seconds: echoes completed per second, the round-trip latency of
//! each (p50, p99: from the first byte written to the last byte of the echo
//! read), and the server's CPU time over the window (utime + stime of
//! `/proc/PID/stat`, all its threads; 10 ms ticks) per echoed message. The
//! client's own CPU per message is printed too, to show it is not the
//! bottleneck. Then it stops sending, waits for the replies in flight,
//! sends every connection a close frame and exits.
//!
//! `--inflight N` (default: every connection) bounds the messages in flight
//! at once, for many connections × large messages (10,000 × 64 KiB would be
//! 640 MiB in flight each way): then N connections have a message in
//! flight and the others wait their turn in a FIFO, so every connection
//! still takes part; a completed echo hands the turn to the connection
//! that has waited longest. Reply buffers come from a pool of N.
//!
//! **Idle mode** reads the server's `VmRSS` (`/proc/PID/status`), opens
//! `--idle` connections that each echo one 16-byte message and then stay
//! idle, waits `--settle` seconds, reads `VmRSS` and the thread count
//! again and prints the difference per connection.
//!
//! Output: one line of `key=value` pairs, read by `benches/echo_load.sh`.
//!
//! All connections are driven by one thread with nonblocking sockets
//! (mio/epoll), so the generator adds no threads of its own to the two
//! cores it shares with the server. Its limits: each message is the same
//! pre-masked frame (one key per run rather than one per frame; the server
//! unmasks all the same), and it verifies every echo byte for byte.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use std::{env, fs, process, thread};

use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use rfc6455_peer_benches::{Kind, payload, push_frame};
use socket2::{Domain, Protocol, Socket, Type};
#[cfg(feature = "tls")]
use tls::tls_config;
use tls::{Session, TlsConfig};

struct Args {
    addr: SocketAddr,
    pid: u32,
    conns: usize,
    size: usize,
    secs: f64,
    warmup: f64,
    idle: Option<usize>,
    settle: f64,
    inflight: Option<usize>,
    tls: bool,
    sources: u8,
}

impl Args {
    /// The source address of connection `i` (`--sources`), or `None` for
    /// the kernel's choice.
    fn source(&self, i: usize) -> Option<Ipv4Addr> {
        (self.sources > 0)
            .then(|| Ipv4Addr::new(127, 0, 0, 2 + (i % usize::from(self.sources)) as u8))
    }
}

fn main() {
    let args = parse_args();
    let result = match args.idle {
        Some(n) => idle(&args, n),
        None => echo(&args),
    };
    if let Err(e) = result {
        eprintln!("echo_load: {e}");
        process::exit(1);
    }
}

/// The generator's TLS (feature `tls`); without it the types are empty and
/// `--tls` is refused.
mod tls {
    #[cfg(feature = "tls")]
    mod real {
        use std::io::{self, ErrorKind, Read, Write};
        use std::net::TcpStream;
        use std::sync::Arc;

        pub(crate) type Session = rustls::ClientConnection;
        pub(crate) type TlsConfig = Arc<rustls::ClientConfig>;

        /// A verifier that accepts any certificate (the servers' are self-signed),
        /// with rustls' own signature checks.
        #[derive(Debug)]
        pub(crate) struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

        impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
            fn verify_server_cert(
                &self,
                _: &rustls::pki_types::CertificateDer<'_>,
                _: &[rustls::pki_types::CertificateDer<'_>],
                _: &rustls::pki_types::ServerName<'_>,
                _: &[u8],
                _: rustls::pki_types::UnixTime,
            ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }

            fn verify_tls12_signature(
                &self,
                message: &[u8],
                cert: &rustls::pki_types::CertificateDer<'_>,
                dss: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>
            {
                rustls::crypto::verify_tls12_signature(
                    message,
                    cert,
                    dss,
                    &self.0.signature_verification_algorithms,
                )
            }

            fn verify_tls13_signature(
                &self,
                message: &[u8],
                cert: &rustls::pki_types::CertificateDer<'_>,
                dss: &rustls::DigitallySignedStruct,
            ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error>
            {
                rustls::crypto::verify_tls13_signature(
                    message,
                    cert,
                    dss,
                    &self.0.signature_verification_algorithms,
                )
            }

            fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
                self.0.signature_verification_algorithms.supported_schemes()
            }
        }

        pub(crate) fn tls_config() -> Arc<rustls::ClientConfig> {
            let provider = rfc6455::tls::provider();
            let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .expect("default versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Arc::new(config)
        }

        pub(crate) fn new_session(config: &TlsConfig) -> io::Result<Session> {
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
            let mut session = rustls::ClientConnection::new(Arc::clone(config), name)
                .map_err(io::Error::other)?;
            session.set_buffer_limit(None); // a whole frame is queued at once
            Ok(session)
        }

        pub(crate) fn blocking<'a>(
            session: &'a mut Session,
            tcp: &'a mut TcpStream,
        ) -> Box<dyn crate::ReadWrite + 'a> {
            Box::new(rustls::Stream::new(session, tcp))
        }

        /// Queues `frame` once, then writes ciphertext until the socket
        /// would block; `true` once all of it is out.
        pub(crate) fn send(
            tls: &mut Session,
            stream: &mut mio::net::TcpStream,
            frame: &[u8],
            queued: &mut bool,
        ) -> io::Result<bool> {
            if !std::mem::replace(queued, true) {
                tls.writer().write_all(frame)?;
            }
            while tls.wants_write() {
                match tls.write_tls(stream) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(true)
        }

        /// Reads and decrypts into `reply[*got..]`; `true` once it is full.
        pub(crate) fn receive(
            tls: &mut Session,
            stream: &mut mio::net::TcpStream,
            reply: &mut [u8],
            got: &mut usize,
        ) -> io::Result<bool> {
            while *got < reply.len() {
                match tls.reader().read(&mut reply[*got..]) {
                    Ok(0) => return Err(io::Error::other("server closed the connection")),
                    Ok(n) => {
                        *got += n;
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                match tls.read_tls(stream) {
                    Ok(0) => return Err(io::Error::other("server closed the connection")),
                    Ok(_) => {
                        tls.process_new_packets().map_err(io::Error::other)?;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(true)
        }

        /// Best effort: the close frame, encrypted.
        pub(crate) fn close(tls: &mut Session, stream: &mut mio::net::TcpStream, frame: &[u8]) {
            let _ = tls.writer().write_all(frame);
            let _ = tls.write_tls(stream);
        }
    }
    #[cfg(feature = "tls")]
    pub(crate) use real::*;

    #[cfg(not(feature = "tls"))]
    mod none {
        use std::io;
        use std::net::TcpStream;

        /// No TLS session exists without the feature.
        pub(crate) enum Session {}
        /// No TLS configuration exists without the feature.
        pub(crate) enum TlsConfig {}

        pub(crate) fn new_session(config: &TlsConfig) -> io::Result<Session> {
            match *config {}
        }
        pub(crate) fn blocking<'a>(
            session: &'a mut Session,
            _: &'a mut TcpStream,
        ) -> Box<dyn crate::ReadWrite + 'a> {
            match *session {}
        }
        pub(crate) fn send(
            tls: &mut Session,
            _: &mut mio::net::TcpStream,
            _: &[u8],
            _: &mut bool,
        ) -> io::Result<bool> {
            match *tls {}
        }
        pub(crate) fn receive(
            tls: &mut Session,
            _: &mut mio::net::TcpStream,
            _: &mut [u8],
            _: &mut usize,
        ) -> io::Result<bool> {
            match *tls {}
        }
        pub(crate) fn close(tls: &mut Session, _: &mut mio::net::TcpStream, _: &[u8]) {
            match *tls {}
        }
    }
    #[cfg(not(feature = "tls"))]
    pub(crate) use none::*;
}

/// Opens one WebSocket connection (blocking), returning the socket after
/// the 101 response, and its TLS session with `tls`.
fn connect(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    tls: Option<&TlsConfig>,
) -> io::Result<(TcpStream, Option<Session>)> {
    let mut tcp = match source {
        None => TcpStream::connect(addr)?,
        Some(ip) => {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            socket.bind(&SocketAddr::from((ip, 0)).into())?;
            socket.connect(&addr.into())?;
            socket.into()
        }
    };
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut session = tls.map(tls::new_session).transpose()?;
    {
        let mut tls_stream;
        let stream: &mut dyn ReadWrite = match &mut session {
            Some(session) => {
                tls_stream = tls::blocking(session, &mut tcp);
                &mut *tls_stream
            }
            None => &mut tcp,
        };
        // Any 16-byte key works; the server only hashes it.
        write!(
            stream,
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        // Read the response head. No server sends anything after its 101 before
        // the first message (keepalive pings come after 20 s at the earliest),
        // so a read never takes bytes past the head; that is checked.
        let mut head = Vec::new();
        let mut chunk = [0u8; 512];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut chunk)?;
            if n == 0 || head.len() > 8192 {
                return Err(io::Error::other("handshake: connection closed"));
            }
            head.extend_from_slice(&chunk[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n")
                && end + 4 != head.len()
            {
                return Err(io::Error::other("handshake: bytes after the response head"));
            }
        }
        if !head.starts_with(b"HTTP/1.1 101") {
            let head = String::from_utf8_lossy(&head);
            return Err(io::Error::other(format!("handshake refused: {head}")));
        }
        stream.flush()?;
    }
    tcp.set_read_timeout(None)?;
    Ok((tcp, session))
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The length of an unmasked server frame header for a payload of `len`.
fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
}

/// CPU time (user + system, all threads) of process `pid`, in seconds.
fn cpu_seconds(pid: &str) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat
        .rfind(')')
        .ok_or_else(|| io::Error::other("bad stat"))?
        + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    Ok(ticks as f64 / 100.0) // USER_HZ is 100 on Linux
}

/// A `key: value kB` line of /proc/PID/status.
fn status_field(pid: u32, key: &str) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

/// A masked close frame with code 1000 (normal closure).
fn close_frame() -> Vec<u8> {
    let mut frame = vec![0x88, 0x82, 1, 2, 3, 4];
    frame.extend_from_slice(&[0x03 ^ 1, 0xe8 ^ 2]);
    frame
}

/// One connection of the echo run.
struct Conn {
    stream: MioStream,
    /// The TLS session (`--tls`).
    tls: Option<Session>,
    /// The frame was handed to the TLS session (`--tls`).
    queued: bool,
    /// Bytes of the request frame written so far (== frame length: done).
    written: usize,
    /// Bytes of the echo read so far.
    got: usize,
    /// The echo's buffer while a message is in flight (from the pool).
    reply: Vec<u8>,
    sent_at: Instant,
    busy: bool,
}

fn echo(args: &Args) -> io::Result<()> {
    let body = payload(Kind::Binary, args.size);
    let mut frame = Vec::new();
    push_frame(&mut frame, false, &body, Some([0x5a, 0x13, 0xc7, 0x99]));
    let mut expected = Vec::new();
    push_frame(&mut expected, false, &body, None);
    debug_assert_eq!(expected.len(), header_len(args.size) + args.size);

    let inflight = args.inflight.unwrap_or(args.conns).clamp(1, args.conns);
    let mut pool: Vec<Vec<u8>> = (0..inflight).map(|_| vec![0; expected.len()]).collect();
    // Connections waiting for their turn to send (with --inflight < conns).
    let mut waiting: std::collections::VecDeque<usize> = (inflight..args.conns).collect();

    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(args.conns);
    #[cfg(feature = "tls")]
    let tls = args.tls.then(tls_config);
    #[cfg(not(feature = "tls"))]
    let tls: Option<TlsConfig> = None;
    for i in 0..args.conns {
        let (stream, tls) = connect(args.addr, args.source(i), tls.as_ref())?;
        stream.set_nonblocking(true)?;
        let mut stream = MioStream::from_std(stream);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(Conn {
            stream,
            tls,
            queued: false,
            written: 0,
            got: 0,
            reply: Vec::new(),
            sent_at: Instant::now(),
            busy: false,
        });
    }

    let pid = args.pid.to_string();
    let start = Instant::now();
    let t0 = start + Duration::from_secs_f64(args.warmup);
    let t1 = t0 + Duration::from_secs_f64(args.secs);
    let mut window: Option<(f64, f64)> = None; // server, client CPU at t0
    let mut result: Option<(f64, f64, Duration)> = None;
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut done_in_window = 0u64;
    let mut sending = true;
    let mut in_flight = 0usize;

    for conn in &mut conns[..inflight] {
        conn.reply = pool.pop().expect("one buffer per message in flight");
        start_send(conn, &frame)?;
        in_flight += 1;
    }
    let mut events = Events::with_capacity(1024);
    let deadline = t1 + Duration::from_secs(10);
    loop {
        poll.poll(&mut events, Some(Duration::from_millis(5)))?;
        let now = Instant::now();
        if window.is_none() && now >= t0 {
            window = Some((cpu_seconds(&pid)?, cpu_seconds("self")?));
        }
        if sending && now >= t1 {
            let (server0, client0) = window.expect("t0 comes before t1");
            result = Some((
                cpu_seconds(&pid)? - server0,
                cpu_seconds("self")? - client0,
                now - t0,
            ));
            sending = false;
        }
        if !sending && in_flight == 0 {
            break;
        }
        if now > deadline {
            return Err(io::Error::other(format!(
                "{in_flight} echoes never came back"
            )));
        }
        for event in &events {
            let index = event.token().0;
            let conn = &mut conns[index];
            if !conn.busy {
                continue;
            }
            if conn.written < frame.len() {
                continue_send(conn, &frame)?;
            }
            if conn.written == frame.len() && receive(conn)? {
                let now = Instant::now();
                if conn.reply != expected {
                    return Err(io::Error::other("an echo differs from the message sent"));
                }
                conn.busy = false;
                in_flight -= 1;
                if window.is_some() && sending {
                    let ns = (now - conn.sent_at).as_nanos().min(u32::MAX as u128) as u32;
                    latencies.push(ns);
                    done_in_window += 1;
                }
                if sending {
                    // The turn goes to the connection that waited longest
                    // (this one again when every connection has a turn).
                    waiting.push_back(index);
                    let next = waiting.pop_front().expect("just pushed");
                    let reply = std::mem::take(&mut conns[index].reply);
                    let conn = &mut conns[next];
                    conn.reply = reply;
                    start_send(conn, &frame)?;
                    in_flight += 1;
                } else {
                    pool.push(std::mem::take(&mut conn.reply));
                }
            }
        }
    }

    let close = close_frame();
    for conn in &mut conns {
        match &mut conn.tls {
            Some(session) => tls::close(session, &mut conn.stream, &close),
            None => {
                let _ = conn.stream.write(&close);
            }
        }
    }
    // Let the servers read the close frames and answer them, then read the
    // answers: a socket closed with unread bytes would send a reset.
    thread::sleep(Duration::from_millis(100));
    for conn in &mut conns {
        drain(&mut conn.stream);
    }
    drop(conns);

    let (server_cpu, client_cpu, elapsed) = result.expect("the window ended");
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
        latencies[i] as f64 / 1000.0
    };
    let msgs = done_in_window as f64;
    println!(
        "conns={} inflight={inflight} size={} secs={:.2} msgs={} msgs_per_s={:.0} p50_us={:.1} p99_us={:.1} \
         server_cpu_us_per_msg={:.2} server_cpu_pct={:.0} client_cpu_us_per_msg={:.2} client_cpu_pct={:.0}",
        args.conns,
        args.size,
        elapsed.as_secs_f64(),
        done_in_window,
        msgs / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        server_cpu * 1e6 / msgs,
        server_cpu * 100.0 / elapsed.as_secs_f64(),
        client_cpu * 1e6 / msgs,
        client_cpu * 100.0 / elapsed.as_secs_f64(),
    );
    Ok(())
}

/// Reads and discards what a nonblocking socket has (the close reply).
fn drain(stream: &mut impl Read) {
    let mut scratch = [0u8; 4096];
    while matches!(stream.read(&mut scratch), Ok(n) if n > 0) {}
}

/// Starts sending one message on an idle connection.
fn start_send(conn: &mut Conn, frame: &[u8]) -> io::Result<()> {
    conn.busy = true;
    conn.queued = false;
    conn.written = 0;
    conn.got = 0;
    conn.sent_at = Instant::now();
    continue_send(conn, frame)
}

/// Writes as much of the frame as the socket takes now.
fn continue_send(conn: &mut Conn, frame: &[u8]) -> io::Result<()> {
    if let Some(session) = &mut conn.tls {
        if tls::send(session, &mut conn.stream, frame, &mut conn.queued)? {
            conn.written = frame.len();
        }
        return Ok(());
    }
    while conn.written < frame.len() {
        match conn.stream.write(&frame[conn.written..]) {
            Ok(0) => return Err(io::Error::other("server closed the connection")),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what has arrived of the echo; `true` once it is complete.
fn receive(conn: &mut Conn) -> io::Result<bool> {
    if let Some(session) = &mut conn.tls {
        return tls::receive(session, &mut conn.stream, &mut conn.reply, &mut conn.got);
    }
    while conn.got < conn.reply.len() {
        match conn.stream.read(&mut conn.reply[conn.got..]) {
            Ok(0) => return Err(io::Error::other("server closed the connection")),
            Ok(n) => conn.got += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn idle(args: &Args, n: usize) -> io::Result<()> {
    let before = status_field(args.pid, "VmRSS")?;
    let threads_before = status_field(args.pid, "Threads")?;
    let body = payload(Kind::Binary, 16);
    let mut frame = Vec::new();
    push_frame(&mut frame, false, &body, Some([1, 2, 3, 4]));
    let mut expected = Vec::new();
    push_frame(&mut expected, false, &body, None);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let (mut stream, _) = connect(args.addr, args.source(i), None)?;
        // One message each, so every connection has been through a read.
        stream.write_all(&frame)?;
        let mut reply = vec![0; expected.len()];
        stream.read_exact(&mut reply)?;
        if reply != expected {
            return Err(io::Error::other("an echo differs from the message sent"));
        }
        conns.push(stream);
    }
    thread::sleep(Duration::from_secs_f64(args.settle));
    let after = status_field(args.pid, "VmRSS")?;
    let threads = status_field(args.pid, "Threads")?;
    let close = close_frame();
    for stream in &mut conns {
        let _ = stream.write_all(&close);
    }
    thread::sleep(Duration::from_millis(100));
    for stream in &mut conns {
        if stream.set_nonblocking(true).is_ok() {
            drain(stream);
        }
    }
    drop(conns);
    println!(
        "idle_conns={n} rss_before_kib={before} rss_after_kib={after} kib_per_conn={:.2} \
         threads_before={threads_before} threads_after={threads}",
        (after as f64 - before as f64) / n as f64
    );
    Ok(())
}

const USAGE: &str = "usage: echo_load --addr HOST:PORT --server-pid PID \
    (--conns N --size BYTES [--secs S] [--warmup S] [--inflight N] [--tls] | --idle N [--settle S]) \
    [--sources K]";

fn parse_args() -> Args {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 9001)),
        pid: 0,
        conns: 1,
        size: 16,
        secs: 3.0,
        warmup: 0.5,
        idle: None,
        settle: 1.0,
        inflight: None,
        tls: false,
        sources: 0,
    };
    let mut it = env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--tls" {
            if cfg!(not(feature = "tls")) {
                usage("--tls needs the benches' feature tls (cargo build --features tls)");
            }
            args.tls = true;
            continue;
        }
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => args.addr = parse(&flag, &value),
            "--server-pid" => args.pid = parse(&flag, &value),
            "--conns" => args.conns = parse(&flag, &value),
            "--size" => args.size = parse(&flag, &value),
            "--secs" => args.secs = parse(&flag, &value),
            "--warmup" => args.warmup = parse(&flag, &value),
            "--idle" => args.idle = Some(parse(&flag, &value)),
            "--settle" => args.settle = parse(&flag, &value),
            "--inflight" => args.inflight = Some(parse(&flag, &value)),
            "--sources" => args.sources = parse(&flag, &value),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if args.pid == 0 {
        usage("--server-pid is required");
    }
    if args.tls && args.idle.is_some() {
        usage("--tls is for the echo mode");
    }
    if !args.addr.ip().is_loopback() {
        usage("only loopback addresses are allowed");
    }
    if args.sources > 250 {
        usage("--sources is at most 250 (127.0.0.2 to 127.0.0.251)");
    }
    if !(args.secs > 0.0 && args.secs <= 60.0) {
        usage("--secs must be in (0, 60]");
    }
    args
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| usage(&format!("bad value for {flag}: {value}")))
}

fn usage(message: &str) -> ! {
    eprintln!("echo_load: {message}\n{USAGE}");
    process::exit(2);
}
