//! Shared pieces of the peer benchmarks: the payloads every contender gets,
//! masked client frames built by hand (independent of every library under
//! test), and an in-memory stream that is both a `std::io` and a tokio
//! stream, so that rfc6455, tungstenite, fastwebsockets and tokio-websockets
//! read and write through the same code.
//!
//! [`receive_all`] hands a whole stream to an rfc6455 `Connection` for the
//! benches' correctness checks (outside the timing); [`interleave`] is the
//! decode and encode benches' interleaved mode (`INTERLEAVE=1`).

pub mod echo_server;
pub mod interleave;

use std::cell::RefCell;
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use rfc6455::{Connection, Event, ProtocolError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Payload sizes of the decode and encode benches (issue 5).
pub const SIZES: [usize; 4] = [16, 125, 1024, 64 * 1024];

/// What a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A binary message of pseudo-random bytes.
    Binary,
    /// A text message of ASCII only.
    Ascii,
    /// A text message of Chinese (3-byte UTF-8) characters, padded with
    /// ASCII to the exact size.
    Cjk,
}

impl Kind {
    /// All kinds, in table order.
    pub const ALL: [Kind; 3] = [Kind::Binary, Kind::Ascii, Kind::Cjk];

    /// The name used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Ascii => "ascii",
            Kind::Cjk => "cjk",
        }
    }

    /// Whether messages of this kind are text (opcode 0x1).
    pub fn is_text(self) -> bool {
        self != Kind::Binary
    }
}

/// A small deterministic generator (xorshift64*), so every run and every
/// contender sees the same bytes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const ASCII: &str = "The quick brown fox jumps over the lazy dog; \
    pack my box with five dozen liquor jugs. 0123456789 ";
const CJK: &str = "我能吞下玻璃而不伤身体。天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏";

/// A payload of exactly `size` bytes of the given kind. Text payloads are
/// valid UTF-8.
pub fn payload(kind: Kind, size: usize) -> Vec<u8> {
    match kind {
        Kind::Binary => {
            let mut rng = Rng::new(size as u64 + 7);
            (0..size).map(|_| rng.next_u64() as u8).collect()
        }
        Kind::Ascii => ASCII.bytes().cycle().take(size).collect(),
        Kind::Cjk => {
            let mut out = String::with_capacity(size);
            for c in CJK.chars().cycle() {
                if out.len() + c.len_utf8() > size {
                    break;
                }
                out.push(c);
            }
            while out.len() < size {
                out.push('x');
            }
            out.into_bytes()
        }
    }
}

/// Appends one frame (FIN set, opcode 0x1 for text, 0x2 for binary) to
/// `out`, masked with `key` when it is given (RFC 6455 §5.2, §5.3).
pub fn push_frame(out: &mut Vec<u8>, text: bool, payload: &[u8], key: Option<[u8; 4]>) {
    out.push(0x80 | if text { 0x1 } else { 0x2 });
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match key {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// `count` masked client frames of `payload`, each with its own key: the
/// input of the decode benches.
pub fn masked_frames(kind: Kind, payload: &[u8], count: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x5eed ^ payload.len() as u64);
    let mut out = Vec::with_capacity(count * (payload.len() + 14));
    for _ in 0..count {
        let key = (rng.next_u64() as u32).to_ne_bytes();
        push_frame(&mut out, kind.is_text(), payload, Some(key));
    }
    out
}

/// How many messages one benchmark iteration handles: about 256 KiB of
/// payload (so the batch stays in L2 and per-iteration overhead, such as
/// entering the tokio runtime, is amortised), at least 8 and at most 4096.
pub fn batch(size: usize) -> usize {
    ((256 * 1024) / size).clamp(8, 4096)
}

/// Hands all of `bytes` to `conn` and returns every event it makes of them.
/// A `receive` takes at most `input_room()` bytes (64 KiB beyond the frame
/// being decoded by default), so the rest is offered again after the
/// events are drained, as an event loop does.
pub fn receive_all(conn: &mut Connection, mut bytes: &[u8]) -> Result<Vec<Event>, ProtocolError> {
    let mut events = Vec::new();
    loop {
        let taken = conn.receive(bytes);
        bytes = &bytes[taken..];
        while let Some(event) = conn.poll_event()? {
            events.push(event);
        }
        if bytes.is_empty() {
            return Ok(events);
        }
        assert!(
            taken > 0 || conn.input_room() > 0,
            "the connection takes no more input"
        );
    }
}

#[derive(Debug, Default)]
struct MemInner {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
}

/// An in-memory stream: reads come from a fixed input (rewound between
/// benchmark iterations through a [`MemHandle`]) and writes go to a `Vec`.
/// It implements `std::io::{Read, Write}` and tokio's `AsyncRead` and
/// `AsyncWrite` (with vectored writes, as a socket has), the same code for
/// every contender. A read returns as much as fits, like a socket with
/// everything already arrived.
#[derive(Debug, Clone, Default)]
pub struct Mem(Rc<RefCell<MemInner>>);

/// A second handle on a [`Mem`], kept by the benchmark while a library owns
/// the stream.
pub type MemHandle = Mem;

impl Mem {
    /// A stream that will read `input`.
    pub fn new(input: Vec<u8>) -> Self {
        Mem(Rc::new(RefCell::new(MemInner {
            input,
            pos: 0,
            output: Vec::new(),
        })))
    }

    /// Starts reading the input from its beginning again.
    pub fn rewind(&self) {
        self.0.borrow_mut().pos = 0;
    }

    /// Whether every input byte was read.
    pub fn at_end(&self) -> bool {
        let inner = self.0.borrow();
        inner.pos == inner.input.len()
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.0.borrow().output.len()
    }

    /// A copy of the bytes written so far.
    pub fn output(&self) -> Vec<u8> {
        self.0.borrow().output.clone()
    }

    /// Forgets what was written, keeping the allocation.
    pub fn clear_output(&self) {
        self.0.borrow_mut().output.clear();
    }

    fn read_into(&self, buf: &mut [u8]) -> usize {
        let mut inner = self.0.borrow_mut();
        let pos = inner.pos;
        let n = buf.len().min(inner.input.len() - pos);
        buf[..n].copy_from_slice(&inner.input[pos..pos + n]);
        inner.pos += n;
        n
    }

    fn write_from(&self, bufs: &[IoSlice<'_>]) -> usize {
        let mut inner = self.0.borrow_mut();
        let mut n = 0;
        for buf in bufs {
            inner.output.extend_from_slice(buf);
            n += buf.len();
        }
        n
    }
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(buf))
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.write_from(&[IoSlice::new(buf)]))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(self.write_from(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Mem {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // `put_slice` copies into uninitialised spare capacity without
        // zeroing it first, as a socket read does.
        let mut inner = self.0.borrow_mut();
        let pos = inner.pos;
        let n = buf.remaining().min(inner.input.len() - pos);
        buf.put_slice(&inner.input[pos..pos + n]);
        inner.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Mem {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.write_from(&[IoSlice::new(buf)])))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.write_from(bufs)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The clock the decode and encode benches measure with: the benchmark
/// thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) by default, or wall time
/// with `BENCH_CLOCK=wall`.
///
/// On a machine shared with other jobs, wall time counts the slices in
/// which the benchmark thread was not running at all; CPU time counts only
/// the thread's own work (cache and TLB disturbance from the other jobs
/// remains). Every contender runs on the benchmark thread: fastwebsockets'
/// and tokio-websockets' futures are polled inside `block_on` on a
/// current-thread runtime, so their work is on the same clock. Reading the clock is a system call (a few
/// hundred ns); criterion times many iterations per sample, so it is
/// amortised.
pub struct Clock {
    cpu: bool,
    wall: criterion::measurement::WallTime,
}

impl Clock {
    /// The clock chosen by `BENCH_CLOCK` (`cpu`, the default, or `wall`).
    pub fn from_env() -> Self {
        let cpu = match std::env::var("BENCH_CLOCK").as_deref() {
            Ok("wall") => false,
            Ok("cpu") | Err(_) => true,
            Ok(other) => panic!("BENCH_CLOCK must be cpu or wall, not {other:?}"),
        };
        Clock {
            cpu,
            wall: criterion::measurement::WallTime,
        }
    }

    /// The clock's current reading in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        let id = if self.cpu {
            libc::CLOCK_THREAD_CPUTIME_ID
        } else {
            libc::CLOCK_MONOTONIC
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; both clock ids exist on Linux.
        let rc = unsafe { libc::clock_gettime(id, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime failed");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

impl criterion::measurement::Measurement for Clock {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now_ns()
    }

    fn end(&self, start: u64) -> u64 {
        self.now_ns() - start
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn criterion::measurement::ValueFormatter {
        // Values are nanoseconds, as for wall time.
        criterion::measurement::Measurement::formatter(&self.wall)
    }
}
