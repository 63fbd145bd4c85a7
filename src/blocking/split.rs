//! [`WebSocket::split`]: a reader half and a writer half of one WebSocket
//! over a `TcpStream` or a TLS stream, for a reading thread and a writing
//! thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use super::layer::{Layer, Split};
use super::transport::is_timeout;
use super::websocket::{next_message, slack};
use super::{Error, WebSocket};
use crate::clock;
use crate::close::{CloseCode, CloseFrame};
use crate::connection::{Connection, State};
use crate::message::{Event, Lost, Message};
use crate::read_size::ReadSize;

impl<S: Split> WebSocket<S> {
    /// Splits the socket into a [`Reader`] and a [`Writer`], so that one
    /// thread can block reading while another sends (a chat server's
    /// broadcast, a client that types while messages arrive).
    ///
    /// Both halves drive the same [`Connection`] through a mutex that is
    /// held only for short steps that never block on the socket: handing
    /// in bytes, polling an event, queueing a frame, copying out bytes to
    /// write. So a reader blocked in `read` never delays a send, and a
    /// writer blocked in `write` (the peer stopped reading) never stops
    /// the reader: two peers that both send a lot while both reading
    /// cannot deadlock.
    ///
    /// Writing is done by one half at a time, the *flusher*: it writes
    /// until nothing is pending, including bytes the other half queued
    /// meanwhile, so frames go out whole and in order. The writer waits
    /// for an active flusher to finish, so its `send` returns once its
    /// message is on the wire. The reader writes only when reading
    /// queued something (a pong, a close reply) and nobody is writing;
    /// if the writer is writing, it sends those bytes too.
    ///
    /// Output is bounded: while it is over
    /// [`Config::output_high_water`](crate::Config::output_high_water) and
    /// a reply of the core's own (a pong, a close reply) is unwritten, the
    /// reader stops reading and waits for it to drain (so a peer that sends
    /// pings and does not read fills at most the socket buffers; the
    /// writer's own sends block in `write` instead), and a
    /// write that makes no progress for
    /// [`Config::write_timeout`](crate::Config::write_timeout) loses the
    /// connection. The reader runs the connection's timers (keepalive,
    /// closing handshake).
    ///
    /// The halves hold two handles of one socket (`TcpStream::try_clone`):
    /// the TCP connection ends when both halves are dropped, or at once
    /// with `shutdown`.
    ///
    /// Over TLS (`blocking::tls::TlsStream`, feature `rustls`) the halves share
    /// the TLS session beside the connection: the reader decrypts what it
    /// read, the flusher encrypts one record (16 KiB) at a time and writes
    /// it without the lock, so all of the above holds over TLS too.
    pub fn split(self) -> io::Result<(Reader, Writer)> {
        let mut ws = self;
        let unread = ws.take_unread();
        let (stream, conn) = ws.into_parts();
        let (stream, writer_stream, layer) = stream.halves()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                conn,
                layer,
                flushing: false,
                waiting: 0,
            }),
            flushed: Condvar::new(),
        });
        let reader = Reader {
            stream,
            shared: Arc::clone(&shared),
            unread: 0..unread.len(),
            buf: unread,
            read_size: ReadSize::new(),
            armed: None,
            ended: false,
            torn_down: false,
        };
        Ok((
            reader,
            Writer {
                stream: writer_stream,
                shared,
            },
        ))
    }
}

/// What the two halves share.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when a flusher stops.
    flushed: Condvar,
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    /// Plain TCP, or the TLS session.
    layer: Layer,
    /// A half is writing the connection's output outside the lock; it stops
    /// only after seeing nothing pending, under the lock.
    flushing: bool,
    /// Threads waiting on `flushed` (so that stopping wakes nobody,
    /// without a system call, when nobody waits: the common case).
    waiting: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The connection stays consistent even if a thread panicked
        // while holding the lock: every step on it is a single call.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes everything pending to `stream`. If the other half is
    /// writing already, waits for it to finish when `wait` is set (it
    /// writes our bytes too), or returns at once otherwise. A connection
    /// given up on is not written to ([`Error::Lost`]).
    fn flush(&self, mut stream: &TcpStream, wait: bool) -> Result<(), Error> {
        let mut inner = self.lock();
        while inner.flushing {
            if !wait {
                return Ok(());
            }
            inner.waiting += 1;
            inner = self
                .flushed
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
            inner.waiting -= 1;
        }
        let result = loop {
            if !inner.layer.wants_write(&inner.conn) {
                break Ok(());
            }
            if inner.conn.may_close_transport() {
                break Err(Error::Lost(inner.conn.lost().unwrap_or(Lost::WriteTimeout)));
            }
            inner.conn.handle_timeout(clock::now());
            let Inner { conn, layer, .. } = &mut *inner;
            let chunk = match layer.next_chunk(conn) {
                Ok(chunk) if chunk.is_empty() => break Ok(()),
                Ok(chunk) => chunk,
                Err(e) => break Err(e.into()),
            };
            inner.flushing = true;
            drop(inner);
            let written = stream.write(&chunk);
            inner = self.lock();
            match written {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                // Only the flusher advances, so the front of the output
                // is still what it wrote.
                Ok(n) => {
                    let Inner { conn, layer, .. } = &mut *inner;
                    layer.wrote(conn, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // No progress for the write timeout: the connection's
                // stall clock decides.
                Err(e) if is_timeout(&e) => inner.conn.handle_timeout(clock::now()),
                Err(e) => break Err(e.into()),
            }
        };
        inner.flushing = false;
        let waiting = inner.waiting > 0;
        drop(inner);
        if waiting {
            self.flushed.notify_all();
        }
        result
    }
}

/// The reading half of a split [`WebSocket`]; see [`WebSocket::split`].
#[derive(Debug)]
pub struct Reader {
    stream: TcpStream,
    shared: Arc<Shared>,
    /// Where `read` puts bytes before they go into the connection.
    /// Allocated at the first read, resized as `read_size` adapts.
    buf: Vec<u8>,
    /// Bytes of `buf` read but not yet taken by the connection.
    unread: core::ops::Range<usize>,
    /// How much the next read may fill.
    read_size: ReadSize,
    /// The read timeout last set on the socket.
    armed: Option<Option<Duration>>,
    /// The transport ended (TCP end-of-file, TLS `close_notify`) while
    /// decrypted bytes still waited for the connection.
    ended: bool,
    torn_down: bool,
}

/// What one step of the reader found.
enum Step {
    Event(Event),
    Closed,
    NeedInput,
}

impl Reader {
    /// Reads the next message, like [`WebSocket::read`]: `Ok(None)` once
    /// the connection is closed (also how a close sent by the [`Writer`]
    /// completes), [`Error::Lost`] if it was lost.
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        next_message(|| self.read_event())
    }

    /// Reads the next event of any kind, like [`WebSocket::read_event`].
    pub fn read_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            match self.poll()? {
                Step::Event(event) => return Ok(Some(event)),
                Step::Closed => return Ok(None),
                Step::NeedInput => self.fill()?,
            }
        }
    }

    /// The next message if it has already been received whole, without
    /// reading the socket: `Ok(None)` when more bytes are needed (or the
    /// connection closed). After a [`read`](Self::read), this takes the
    /// other messages that arrived in the same read, e.g. to handle them as
    /// one batch. Pings and pongs are handled as by `read`.
    pub fn try_read(&mut self) -> Result<Option<Message>, Error> {
        loop {
            match self.poll()? {
                Step::Event(Event::Message(message)) => return Ok(Some(message)),
                Step::Event(Event::Lost(lost)) => return Err(Error::Lost(lost)),
                Step::Event(_) => {}
                Step::Closed | Step::NeedInput => return Ok(None),
            }
        }
    }

    /// One event from the bytes received so far.
    fn poll(&mut self) -> Result<Step, Error> {
        let (polled, closed, queued) = {
            let mut inner = self.shared.lock();
            let before = inner.conn.output_len();
            let polled = inner.conn.poll_event();
            (
                polled,
                inner.conn.is_closed(),
                inner.conn.output_len() > before,
            )
        };
        // Send what the event queued (a pong, a close reply, the close
        // frame of a protocol error) unless the writer is already
        // writing, in which case it sends it.
        if queued {
            let _ = self.shared.flush(&self.stream, false);
        }
        match polled {
            Ok(Some(event)) => {
                if matches!(event, Event::Lost(_)) {
                    self.teardown();
                }
                Ok(Step::Event(event))
            }
            Ok(None) if closed => {
                self.teardown();
                Ok(Step::Closed)
            }
            Ok(None) => Ok(Step::NeedInput),
            Err(error) => {
                self.teardown();
                Err(error.into())
            }
        }
    }

    /// Reads once from the socket, without holding the lock, for at most
    /// until the connection's next deadline, and hands what came to the
    /// connection. Returns without reading when the connection takes no
    /// input now.
    fn fill(&mut self) -> Result<(), Error> {
        let now = clock::now();
        let (room, timeout, writable, queued) = {
            let mut inner = self.shared.lock();
            inner.conn.handle_timeout(now);
            if !self.unread.is_empty() || inner.layer.holds_input() {
                let Inner { conn, layer, .. } = &mut *inner;
                let taken = layer.receive(conn, &self.buf[self.unread.clone()], &mut self.ended)?;
                self.unread.start += taken;
                return Ok(());
            }
            if self.ended {
                // Decrypted bytes all taken: now the end.
                self.ended = false;
                inner.conn.receive_eof();
                return Ok(());
            }
            let room = if inner.conn.wants_read() {
                inner.conn.input_room()
            } else {
                0
            };
            let timeout = inner.conn.poll_timeout().map(|at| at.saturating_sub(now));
            let writable = inner.conn.wants_write() && !inner.conn.may_close_transport();
            // Anything queued and not being written (a keepalive ping a
            // timer queued on the last round) goes out before we block.
            (room, timeout, writable, writable)
        };
        if room == 0 {
            if writable {
                // Backpressure: the output drains before we read on.
                self.shared.flush(&self.stream, true)?;
            }
            return Ok(());
        }
        if queued {
            // A keepalive ping, unless the writer is writing (it sends it).
            let _ = self.shared.flush(&self.stream, false);
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(());
        }
        self.arm(timeout)?;
        let size = self.read_size.get();
        if self.buf.len() != size {
            // A fresh, exactly sized buffer: shrinking gives memory back.
            self.buf = vec![0; size];
        }
        let want = size.min(room);
        let read = (&self.stream).read(&mut self.buf[..want]);
        let mut inner = self.shared.lock();
        match read {
            Ok(0) if inner.layer.holds_input() => self.ended = true,
            Ok(0) => inner.conn.receive_eof(),
            Ok(n) => {
                self.read_size.update(n);
                let Inner { conn, layer, .. } = &mut *inner;
                let taken = layer.receive(conn, &self.buf[..n], &mut self.ended);
                // A TLS alert queued on bad input, a key update's answer.
                let reply = layer.replies();
                drop(inner);
                if reply {
                    let _ = self.shared.flush(&self.stream, false);
                }
                let taken = taken?;
                self.unread = taken..n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {
                inner.conn.handle_timeout(clock::now());
                let ping = inner.conn.wants_write() && !inner.conn.may_close_transport();
                drop(inner);
                if ping {
                    let _ = self.shared.flush(&self.stream, false);
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Sets the socket's read timeout unless the one set is close enough.
    fn arm(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let close_enough = match (self.armed, timeout) {
            (Some(None), None) => true,
            (Some(Some(set)), Some(want)) => set.abs_diff(want) <= slack(want),
            _ => false,
        };
        if !close_enough {
            self.stream
                .set_read_timeout(timeout.map(|t| t.max(Duration::from_millis(1))))?;
            self.armed = Some(timeout);
        }
        Ok(())
    }

    /// After the connection closed, the lingering close of
    /// [`WebSocket`]'s teardown: everything queued is written (by the
    /// writer, if it is writing), the write half shut down when the
    /// connection says so, input discarded until the transport may go.
    fn teardown(&mut self) {
        if std::mem::replace(&mut self.torn_down, true) {
            return;
        }
        let mut shut = false;
        loop {
            if self.shared.lock().conn.may_close_transport() {
                break;
            }
            if self.shared.flush(&self.stream, true).is_err() {
                break;
            }
            let shutdown = self.shared.lock().conn.should_shutdown_write();
            if shutdown && !shut {
                shut = true;
                self.shared.lock().layer.close_notify();
                let _ = self.shared.flush(&self.stream, true);
                if self.stream.shutdown(Shutdown::Write).is_err() {
                    break;
                }
            }
            if self.fill().is_err() {
                break;
            }
        }
        self.last_try();
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// A connection given up on (a keepalive or write timeout): one short
    /// try to write what is left, its 1001 close frame, unless the writer
    /// is writing (then its write is cut by the shutdown).
    fn last_try(&mut self) {
        let chunk = {
            let mut inner = self.shared.lock();
            if inner.flushing || !inner.layer.wants_write(&inner.conn) {
                return;
            }
            let Inner { conn, layer, .. } = &mut *inner;
            match layer.next_chunk(conn) {
                Ok(chunk) => chunk,
                Err(_) => return,
            }
        };
        let _ = self
            .stream
            .set_write_timeout(Some(Duration::from_millis(10)));
        let _ = (&self.stream).write(&chunk);
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.shared.lock().conn.state()
    }

    /// Shuts the socket down both ways: a `read` blocked in either half
    /// returns, and so does a blocked `write`. For dropping a peer from
    /// another thread.
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Both)
    }

    /// This half's socket handle (e.g. to read the peer's address).
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

/// The writing half of a split [`WebSocket`]; see [`WebSocket::split`].
#[derive(Debug)]
pub struct Writer {
    stream: TcpStream,
    shared: Arc<Shared>,
}

impl Writer {
    /// Sends a message and returns once it is written.
    pub fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.queue(message)?;
        self.flush()
    }

    /// Sends a text message and returns once it is written.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.queue_text(text)?;
        self.flush()
    }

    /// Sends a binary message and returns once it is written.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.shared.lock().conn.send_binary(data)?;
        self.flush()
    }

    /// Queues a message without writing it: queue several, then
    /// [`flush`](Self::flush) them with as few writes as possible.
    pub fn queue(&mut self, message: &Message) -> Result<(), Error> {
        Ok(self.shared.lock().conn.send(message)?)
    }

    /// Queues a [`PreparedMessage`](crate::PreparedMessage) (framed once for
    /// many connections) without writing it; see [`queue`](Self::queue).
    pub fn queue_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        Ok(self.shared.lock().conn.send_prepared(message)?)
    }

    /// Queues a text message without writing it; see [`queue`](Self::queue).
    pub fn queue_text(&mut self, text: &str) -> Result<(), Error> {
        Ok(self.shared.lock().conn.send_text(text)?)
    }

    /// How many bytes are queued and not yet written (by either half).
    pub fn queued(&self) -> usize {
        self.shared.lock().conn.output_len()
    }

    /// Sends a ping (at most 125 bytes): the [`Reader`] sees the pong with
    /// [`Reader::read_event`].
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.shared.lock().conn.ping(payload)?;
        self.flush()
    }

    /// Starts the close handshake: sends a close frame and returns once
    /// it is written. The [`Reader`] completes the handshake: its `read`
    /// returns `Ok(None)` when the peer's close frame arrives, or
    /// [`Error::Lost`] after [`Config::close_timeout`](crate::Config::close_timeout).
    /// Does nothing if the connection is already closing or closed.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        {
            let mut inner = self.shared.lock();
            if inner.conn.state() == State::Open {
                inner.conn.close(code, reason)?;
            }
        }
        self.flush()
    }

    /// Writes everything queued, by either half. If the reader is
    /// writing a pong or a close reply, waits for it to finish.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.shared.flush(&self.stream, true)
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.shared.lock().conn.state()
    }

    /// The peer's close frame, once the reader has seen it.
    pub fn peer_close(&self) -> Option<CloseFrame> {
        self.shared.lock().conn.peer_close().cloned()
    }

    /// Shuts the socket down both ways; see [`Reader::shutdown`].
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Both)
    }

    /// This half's socket handle; see [`Reader::get_ref`].
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}
