//! [`WebSocket`]: one connection over a blocking stream, and the loop that
//! drives its [`Connection`]: read into it, drain events, write its output,
//! sleep (a read timeout) until its next deadline.

use std::io;
use std::time::Duration;
use std::vec::Vec;

use super::Error;
use super::transport::{Transport, is_timeout};
use crate::clock;
use crate::close::{CloseCode, CloseFrame};
use crate::connection::{Connection, State};
use crate::message::{Event, Lost, Message};
use crate::read_size::ReadSize;

/// How long a write may try to get the last frames of a connection that
/// was given up on (a keepalive or write timeout) out: a peer that is gone
/// is not waited for.
const ABANDON_WRITE: Duration = Duration::from_millis(10);

/// A WebSocket over a blocking stream.
///
/// Every method drives the connection's timers as it blocks: a read waits
/// at most until the next keepalive ping or timeout
/// ([`Connection::poll_timeout`]), so keepalive, the closing handshake's
/// timeout and the lingering close work over any [`Transport`].
#[derive(Debug)]
pub struct WebSocket<S> {
    pub(super) stream: S,
    pub(super) conn: Connection,
    /// How much the next read may fill.
    read_size: ReadSize,
    /// The read timeout last set on the stream (`None` before the first).
    armed: Option<Option<Duration>>,
    /// Bytes read with the handshake that the connection has not taken
    /// yet (it takes at most its input room at a time).
    unread: Vec<u8>,
    /// The teardown ran.
    torn_down: bool,
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a stream whose handshake was done elsewhere, with the
    /// connection built from its agreement
    /// ([`Connection::from_agreement`]). Sets the stream's write timeout to
    /// the connection's [`Config::write_timeout`](crate::Config::write_timeout).
    pub fn from_connection(mut stream: S, mut conn: Connection) -> Self {
        // Best effort: a transport that refuses it only loses the bound.
        let _ = stream.set_write_timeout(conn.config().write_timeout);
        // Each read lends right after the last one drained: a bulk read's
        // buffer is reused rather than allocated and zeroed again.
        conn.keep_read_buffer(true);
        WebSocket {
            stream,
            conn,
            read_size: ReadSize::new(),
            armed: None,
            unread: Vec::new(),
            torn_down: false,
        }
    }

    /// [`from_connection`](Self::from_connection) with bytes that followed
    /// the handshake, handed to the connection as it has room for them.
    pub(super) fn with_leftover(stream: S, conn: Connection, leftover: Vec<u8>) -> Self {
        let mut ws = Self::from_connection(stream, conn);
        ws.unread = leftover;
        ws.offer_unread();
        ws
    }

    /// Hands leftover handshake bytes to the connection, as far as they fit.
    fn offer_unread(&mut self) -> bool {
        if self.unread.is_empty() {
            return false;
        }
        let taken = self.conn.receive(&self.unread);
        self.unread.drain(..taken);
        taken > 0
    }

    /// Reads the next message: `Ok(None)` once the connection is closed
    /// (the close handshake finished, the close reply sent and the
    /// transport's end awaited), then again on every later call. Pings are
    /// answered (unless automatic pongs are off) and pongs skipped. A
    /// connection lost without a close handshake is [`Error::Lost`] (once;
    /// `Ok(None)` after it).
    pub fn read(&mut self) -> Result<Option<Message>, Error> {
        loop {
            match self.conn.poll_event() {
                // The common case without a detour: a message, and nothing
                // queued to write.
                Ok(Some(Event::Message(message))) if !self.conn.wants_write() => {
                    return Ok(Some(message));
                }
                polled => match self.after_poll(polled)? {
                    Polled::Event(Event::Message(message)) => return Ok(Some(message)),
                    Polled::Event(Event::Lost(lost)) => return Err(Error::Lost(lost)),
                    Polled::Event(_) => {}
                    Polled::Closed => return Ok(None),
                    Polled::Again => {}
                },
            }
        }
    }

    /// Reads the next event of any kind, answering pings and closes as
    /// configured: the peer's close is [`Event::Close`], a connection lost
    /// without a close handshake is [`Event::Lost`]; `Ok(None)` once the
    /// connection is closed and nothing more will come.
    pub fn read_event(&mut self) -> Result<Option<Event>, Error> {
        loop {
            let polled = self.conn.poll_event();
            match self.after_poll(polled)? {
                Polled::Event(event) => return Ok(Some(event)),
                Polled::Closed => return Ok(None),
                Polled::Again => {}
            }
        }
    }

    /// What `read` and `read_event` do with what `poll_event` gave: send
    /// what it queued (a pong, a close reply, the close frame of a protocol
    /// error; nothing queued: nothing to write or flush, every send flushes
    /// itself), hand out an event, or read more.
    fn after_poll(
        &mut self,
        polled: Result<Option<Event>, crate::ProtocolError>,
    ) -> Result<Polled, Error> {
        let flushed = if self.conn.wants_write() {
            self.flush_output()
        } else {
            Ok(())
        };
        match polled {
            Ok(Some(event)) => {
                if matches!(event, Event::Lost(_)) {
                    self.teardown();
                }
                return Ok(Polled::Event(event));
            }
            Ok(None) => {}
            Err(error) => {
                self.teardown();
                return Err(error.into());
            }
        }
        flushed?;
        if self.conn.is_closed() {
            self.teardown();
            return Ok(Polled::Closed);
        }
        self.fill()?;
        Ok(Polled::Again)
    }

    /// Waits for input or the next deadline, whichever comes first, and
    /// hands what came to the connection. Returns without reading when the
    /// connection takes no input now (it has events to poll, or output to
    /// write first).
    pub(super) fn fill(&mut self) -> Result<(), Error> {
        let now = clock::now();
        self.conn.handle_timeout(now);
        if self.offer_unread() || !self.unread.is_empty() {
            return Ok(());
        }
        if !self.conn.wants_read() {
            if self.conn.wants_write() && !self.conn.may_close_transport() {
                self.flush_output()?;
            }
            return Ok(());
        }
        let timeout = self.conn.poll_timeout().map(|at| at.saturating_sub(now));
        if timeout == Some(Duration::ZERO) {
            return Ok(()); // due now: the next round handles it
        }
        self.arm(timeout)?;
        // No further than the end of a large frame (`Connection::read_len`):
        // its payload then leaves the buffer without a copy of what follows.
        let len = self.conn.read_len(self.read_size.get());
        if len == 0 {
            return Ok(()); // a large frame is complete: poll it first
        }
        let buf = self.conn.receive_buffer(len);
        let read = self.stream.read(buf);
        match read {
            Ok(0) => {
                self.conn.commit_received(0);
                self.conn.receive_eof();
            }
            Ok(n) => {
                self.conn.commit_received(n);
                // A read cut short by `read_len` says nothing of the traffic.
                if len == self.read_size.get() {
                    self.read_size.update(n);
                }
            }
            Err(e) => {
                self.conn.commit_received(0);
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(());
                }
                // Our own deadline, or a timeout the stream has of its own
                // (behind `NoTimeouts`): that one is the caller's.
                let ours =
                    is_timeout(&e) && timeout.is_some_and(|t| clock::now() + slack(t) >= now + t);
                if !ours {
                    return Err(e.into());
                }
                self.conn.handle_timeout(clock::now());
            }
        }
        Ok(())
    }

    /// Sets the stream's read timeout, unless the one set is close enough:
    /// a system call per read would double the cost of small messages.
    fn arm(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let close_enough = match (self.armed, timeout) {
            (Some(None), None) => true,
            (Some(Some(set)), Some(want)) => set.abs_diff(want) <= slack(want),
            _ => false,
        };
        if !close_enough {
            self.stream.set_read_timeout(timeout)?;
            self.armed = Some(timeout);
        }
        Ok(())
    }

    /// After the connection closed: writes what is left, shuts the write
    /// half down when the connection says so, and reads (discarding) until
    /// the transport may be dropped: the lingering close of §7.1.1, bounded
    /// by [`Config::close_timeout`](crate::Config::close_timeout). Once.
    fn teardown(&mut self) {
        if std::mem::replace(&mut self.torn_down, true) {
            return;
        }
        let mut shut = false;
        loop {
            if self.conn.may_close_transport() {
                break;
            }
            if self.flush_output().is_err() {
                break;
            }
            if self.conn.should_shutdown_write() && !shut {
                shut = true;
                if self.stream.shutdown_write().is_err() {
                    break;
                }
            }
            if self.fill().is_err() {
                break;
            }
        }
        if self.conn.wants_write() {
            // Given up on the peer: one short try for the 1001 close frame.
            let _ = self.stream.set_write_timeout(Some(ABANDON_WRITE));
            let _ = self.conn.output().write_to(&mut self.stream);
            let _ = self.stream.flush();
        }
        let _ = self.stream.shutdown_write();
    }

    /// Writes everything the connection has queued (one `write_vectored`
    /// per round when a large payload is a chunk of its own). A write that
    /// makes no progress for [`Config::write_timeout`](crate::Config::write_timeout)
    /// loses the connection ([`Error::Lost`] with [`Lost::WriteTimeout`]).
    pub(super) fn flush_output(&mut self) -> Result<(), Error> {
        while self.conn.wants_write() {
            if self.conn.may_close_transport() {
                // Given up on: the teardown makes one short try.
                self.teardown();
                return Err(Error::Lost(self.conn.lost().unwrap_or(Lost::WriteTimeout)));
            }
            // A write that blocks past the stream's write timeout (set to
            // `Config::write_timeout`) comes back as a timeout: the
            // connection's stall clock then starts, or, a timeout later
            // with still nothing written, gives up.
            match self.conn.output().write_to(&mut self.stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    self.conn.handle_timeout(clock::now());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.stream.flush()?)
    }

    /// Sends a message and flushes it.
    pub fn send(&mut self, message: &Message) -> Result<(), Error> {
        self.conn.send(message)?;
        self.flush_output()
    }

    /// Sends a [`PreparedMessage`](crate::PreparedMessage) (framed once
    /// for many connections) and flushes it.
    pub fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        self.conn.send_prepared(message)?;
        self.flush_output()
    }

    /// Sends a text message and flushes it.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush_output()
    }

    /// Sends a binary message and flushes it.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        self.flush_output()
    }

    /// Sends a ping (at most 125 bytes) and flushes it.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.conn.ping(payload)?;
        self.flush_output()
    }

    /// Starts the close handshake and completes it: sends a close frame,
    /// then reads (and discards messages) until the peer's close frame
    /// arrives, the transport ends, or
    /// [`Config::close_timeout`](crate::Config::close_timeout) passes.
    /// Returns the peer's close frame, if one came.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<Option<CloseFrame>, Error> {
        if self.conn.state() == State::Open {
            self.conn.close(code, reason)?;
        }
        self.flush_output()?;
        while let Some(event) = self.read_event()? {
            if let Event::Lost(_) = event {
                break;
            }
        }
        Ok(self.conn.peer_close().cloned())
    }

    /// Writes everything the connection has queued (after
    /// [`connection_mut`](Self::connection_mut) queued fragments, say).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.flush_output()
    }

    /// The sans-IO connection underneath.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The sans-IO connection underneath, mutably (e.g. to queue fragments;
    /// call [`flush`](Self::flush) afterwards).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably. The adapter sets its read and write timeouts
    /// itself.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Leftover handshake bytes the connection has not taken yet.
    pub(super) fn take_unread(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.unread)
    }

    /// Takes the stream and the connection apart. Bytes that followed the
    /// handshake and did not fit the connection yet are handed to it first,
    /// as far as they fit (at most its input room: poll its events first to
    /// make room; what does not fit then is dropped).
    pub fn into_parts(mut self) -> (S, Connection) {
        self.offer_unread();
        (self.stream, self.conn)
    }
}

/// How far a read timeout set on the stream may be from the one wanted
/// before it is set again: a system call per read would double the cost of
/// small messages.
pub(super) fn slack(timeout: Duration) -> Duration {
    (timeout / 64).max(Duration::from_millis(10))
}

/// What [`WebSocket::after_poll`] came to.
enum Polled {
    /// An event for the caller.
    Event(Event),
    /// The connection is closed; nothing more will come.
    Closed,
    /// Nothing yet: poll again (after a read, or a deadline).
    Again,
}

/// Pulls events until a message arrives: pings and pongs are skipped (the
/// pong to a ping was already queued and sent), a close ends the stream,
/// a loss is an error.
pub(super) fn next_message(
    mut next_event: impl FnMut() -> Result<Option<Event>, Error>,
) -> Result<Option<Message>, Error> {
    loop {
        match next_event()? {
            Some(Event::Message(message)) => return Ok(Some(message)),
            Some(Event::Ping(_) | Event::Pong(_) | Event::Close(_)) => {}
            Some(Event::Lost(lost)) => return Err(Error::Lost(lost)),
            None => return Ok(None),
        }
    }
}
