//! The application's handles on a connection driven by its [`Driver`]:
//! [`WebSocket`], and its halves [`Sender`] (cloneable) and [`Receiver`].

use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;

use futures_core::Stream;
use futures_sink::Sink;

use super::Error;
use super::driver::Driver;
use super::shared::{Inner, Shared, register, register_in};
use crate::close::{CloseCode, CloseFrame};
use crate::connection::{Connection, State};
use crate::error::UsageError;
use crate::message::{Event, Message};

/// A WebSocket whose socket is owned by a driver task: reading, automatic
/// pongs, close replies, keepalive pings and every timeout of
/// [`Config`](crate::Config) go on whether or not the application is
/// reading. Receive with [`recv`](Self::recv) (or as a [`Stream`]), send
/// with [`send`](Self::send) (or as a [`Sink`]); [`split`](Self::split) for
/// a cloneable [`Sender`] and a [`Receiver`].
///
/// Dropping every handle closes the connection with 1001 (going away); the
/// driver finishes the close handshake in the background.
#[derive(Debug)]
pub struct WebSocket {
    sender: Sender,
    receiver: Receiver,
}

/// The sending half of a [`WebSocket`]: cloneable, usable from many tasks
/// at once; each message is queued whole, in the order the sends complete.
#[derive(Debug)]
pub struct Sender {
    shared: Arc<Shared>,
}

/// The receiving half of a [`WebSocket`].
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
}

/// A message [`Sender::try_send`] could not queue, given back.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// Output is over [`Config::output_high_water`](crate::Config::output_high_water):
    /// try again once it drained (or use [`Sender::send`], which waits).
    #[error("the connection's output is full")]
    Full(Message),
    /// The connection is closing or closed.
    #[error("the connection is closed")]
    Closed(Message),
}

impl WebSocket {
    /// Hands `io` and `conn` (built from the handshake's agreement) to a
    /// driver task spawned on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime, as `tokio::spawn` does.
    pub fn from_connection<S>(io: S, conn: Connection) -> Self
    where
        S: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (ws, driver) = Self::with_driver(io, conn);
        ::tokio::spawn(driver);
        ws
    }

    /// Like [`from_connection`](Self::from_connection), but returns the
    /// driver instead of spawning it: poll it to completion on the runtime
    /// or task of your choice (for a `!Send` stream, or a `LocalSet`).
    /// Nothing moves until it is polled.
    pub fn with_driver<S>(io: S, conn: Connection) -> (Self, Driver<S>) {
        Self::with_driver_and_leftover(io, conn, std::vec::Vec::new())
    }

    /// [`with_driver`](Self::with_driver), with bytes that followed the
    /// handshake, which the driver hands to the connection first.
    pub(super) fn with_driver_and_leftover<S>(
        io: S,
        conn: Connection,
        leftover: std::vec::Vec<u8>,
    ) -> (Self, Driver<S>) {
        let shared = Arc::new(Shared::new(conn));
        let driver = Driver::new(io, Arc::clone(&shared), leftover);
        let ws = WebSocket {
            sender: Sender {
                shared: Arc::clone(&shared),
            },
            receiver: Receiver { shared },
        };
        (ws, driver)
    }

    /// The next message; see [`Receiver::recv`].
    ///
    /// Cancel safe: a `recv` dropped before it completes (in a
    /// `tokio::select!`) loses nothing; the message stays queued for the
    /// next call.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.receiver.recv().await
    }

    /// The next event of any kind; see [`Receiver::recv_event`].
    ///
    /// Cancel safe, as [`recv`](Self::recv).
    pub async fn recv_event(&mut self) -> Result<Option<Event>, Error> {
        self.receiver.recv_event().await
    }

    /// Queues a message, waiting while the output is over the high-water
    /// mark; see [`Sender::send`].
    ///
    /// Cancel safe: dropped before it completes, it queued nothing; once it
    /// completes, the whole message is queued.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// Queues a message without waiting; see [`Sender::try_send`].
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        self.sender.try_send(message)
    }

    /// Sends a ping; see [`Sender::ping`]. Cancel safe, as [`send`](Self::send).
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.sender.ping(payload).await
    }

    /// Starts the close handshake and waits for the connection to end;
    /// see [`Sender::close`].
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<Option<CloseFrame>, Error> {
        self.sender.close(code, reason).await
    }

    /// A [`Sender`] and a [`Receiver`] for separate tasks. The sender is
    /// cloneable; no lock is held across an `.await` and no callback is
    /// needed: the driver answers pings on its own.
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.sender.state()
    }

    /// A new sender for this connection.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.senders -= 1;
        if inner.senders == 0 && inner.receiver_gone {
            abandon_handles(&mut inner);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.receiver_gone = true;
        inner.events.clear();
        inner.event_bytes = 0;
        if inner.senders == 0 {
            abandon_handles(&mut inner);
        } else {
            // Events are discarded from now on: let the driver read again.
            inner.wake_driver();
        }
    }
}

/// Every handle is gone: close with 1001 (going away) if still open; the
/// driver finishes the close handshake and the teardown.
fn abandon_handles(inner: &mut Inner) {
    if inner.conn.state() == State::Open {
        let _ = inner.conn.close(CloseCode::GOING_AWAY, "");
    }
    inner.wake_driver();
}

/// The error for a send on a connection that cannot take it.
fn closed_error(inner: &mut Inner) -> Error {
    match inner.io_error.take() {
        Some(e) => Error::Io(e),
        None => Error::Usage(UsageError::Closed),
    }
}

impl Sender {
    /// Waits until a message may be queued: output under the high-water
    /// mark. `Err` once the connection is closing or closed.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.shared.lock();
        if inner.finished || inner.conn.state() != State::Open {
            return Poll::Ready(Err(closed_error(&mut inner)));
        }
        if inner.has_send_room() {
            return Poll::Ready(Ok(()));
        }
        register_in(&mut inner.send_wakers, cx.waker());
        Poll::Pending
    }

    fn queue(&self, inner: &mut Inner, message: &Message) -> Result<(), Error> {
        if inner.finished {
            return Err(closed_error(inner));
        }
        inner.conn.send(message)?;
        inner.wake_driver();
        Ok(())
    }

    /// Queues a message for the driver to write, first waiting (async)
    /// while the output is over
    /// [`Config::output_high_water`](crate::Config::output_high_water)
    /// (backpressure: a peer that stops reading makes its senders wait, and
    /// [`Config::write_timeout`](crate::Config::write_timeout) then drops
    /// it). Returns once the message is queued, not written; see
    /// [`flush`](Self::flush).
    ///
    /// Cancel safe: dropped before it completes, it queued nothing; once it
    /// completes, the whole message is queued.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.when_room(|conn| conn.send(&message)).await
    }

    /// Queues a [`PreparedMessage`](crate::PreparedMessage) (framed, and
    /// compressed where the parameters allow, once for many connections),
    /// waiting for room as [`send`](Self::send) does. Cancel safe, as `send`.
    pub async fn send_prepared(&self, message: &crate::PreparedMessage) -> Result<(), Error> {
        self.when_room(|conn| conn.send_prepared(message)).await
    }

    /// Queues a [`PreparedMessage`](crate::PreparedMessage) if the output is
    /// under the high-water mark; `false` (nothing queued) when it is full
    /// or the connection is closed.
    pub fn try_send_prepared(&self, message: &crate::PreparedMessage) -> bool {
        let mut inner = self.shared.lock();
        if inner.finished || inner.conn.state() != State::Open || !inner.has_send_room() {
            return false;
        }
        let queued = inner.conn.send_prepared(message).is_ok();
        inner.wake_driver();
        queued
    }

    /// Waits until the output is under the high-water mark, then runs
    /// `queue` on the connection (in the same lock: nothing else can fill
    /// the output in between) and wakes the driver. `Err` once the
    /// connection is closing or closed. Cancel safe: `queue` runs only in
    /// the poll that completes.
    async fn when_room(
        &self,
        mut queue: impl FnMut(&mut Connection) -> Result<(), UsageError>,
    ) -> Result<(), Error> {
        core::future::poll_fn(|cx| {
            let mut inner = self.shared.lock();
            if inner.finished || inner.conn.state() != State::Open {
                return Poll::Ready(Err(closed_error(&mut inner)));
            }
            if !inner.has_send_room() {
                register_in(&mut inner.send_wakers, cx.waker());
                return Poll::Pending;
            }
            let queued = queue(&mut inner.conn).map_err(Error::from);
            inner.wake_driver();
            Poll::Ready(queued)
        })
        .await
    }

    /// Queues a message if the output is under the high-water mark, or
    /// gives it back.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), TrySendError> {
        let message = message.into();
        let mut inner = self.shared.lock();
        if inner.finished || inner.conn.state() != State::Open {
            return Err(TrySendError::Closed(message));
        }
        if !inner.has_send_room() {
            return Err(TrySendError::Full(message));
        }
        match self.queue(&mut inner, &message) {
            Ok(()) => Ok(()),
            Err(_) => Err(TrySendError::Closed(message)),
        }
    }

    /// Queues a ping (payload at most 125 bytes), waiting for room as
    /// [`send`](Self::send) does. Its pong arrives as [`Event::Pong`].
    /// Cancel safe, as `send`.
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.when_room(|conn| conn.ping(payload)).await
    }

    /// Waits until everything queued so far was written to the transport
    /// (or the connection ended). Cancel safe: dropping it changes nothing.
    pub async fn flush(&self) -> Result<(), Error> {
        core::future::poll_fn(|cx| self.poll_flushed(cx)).await
    }

    fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.shared.lock();
        if let Some(e) = inner.io_error.take() {
            return Poll::Ready(Err(Error::Io(e)));
        }
        if inner.finished || !inner.conn.wants_write() {
            return Poll::Ready(Ok(()));
        }
        register_in(&mut inner.send_wakers, cx.waker());
        Poll::Pending
    }

    /// Starts the close handshake (a close frame with `code` and `reason`,
    /// at most 123 bytes) unless it was started already, and waits until
    /// the connection is over: the peer's close arrived and the transport
    /// was torn down, or [`Config::close_timeout`](crate::Config::close_timeout)
    /// passed. Returns the peer's close frame, if one came. Messages that
    /// arrive meanwhile stay queued for the receiver.
    ///
    /// Cancel safe: dropped, the close frame stays queued (the close
    /// handshake goes on in the driver); only the wait ends.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<Option<CloseFrame>, Error> {
        {
            let mut inner = self.shared.lock();
            if inner.conn.state() == State::Open && !inner.finished {
                inner.conn.close(code, reason)?;
                inner.wake_driver();
            }
        }
        core::future::poll_fn(|cx| {
            let mut inner = self.shared.lock();
            if inner.finished {
                return Poll::Ready(Ok(inner.conn.peer_close().cloned()));
            }
            register_in(&mut inner.finish_wakers, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.shared.lock().conn.state()
    }

    /// Whether the driver has finished: the connection is over and the
    /// transport dropped.
    pub fn is_finished(&self) -> bool {
        self.shared.lock().finished
    }

    /// How many bytes are queued and not yet written.
    pub fn queued(&self) -> usize {
        self.shared.lock().conn.output_len()
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Receiver {
    /// Polls for the next event; see [`recv_event`](Self::recv_event).
    pub fn poll_recv_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Event>, Error>> {
        let mut inner = self.shared.lock();
        if let Some(event) = inner.events.pop_front() {
            inner.event_bytes -= Inner::event_size(&event);
            // The driver may have stopped reading for want of room.
            inner.wake_driver();
            return Poll::Ready(Ok(Some(event)));
        }
        if let Some(error) = inner.protocol_error.take() {
            return Poll::Ready(Err(Error::Protocol(error)));
        }
        // Nothing queued: take the next event from the connection itself,
        // one at a time (see the driver's `EAGER_AFTER`).
        let before = inner.conn.output_len();
        let polled = inner.conn.poll_event();
        if inner.conn.output_len() > before || inner.conn.is_closed() {
            // A pong, a close reply or a failure's close frame to write.
            inner.wake_driver();
        }
        match polled {
            Ok(Some(event)) => return Poll::Ready(Ok(Some(event))),
            Err(error) => return Poll::Ready(Err(Error::Protocol(error))),
            Ok(None) => {}
        }
        if let Some(error) = inner.io_error.take() {
            return Poll::Ready(Err(Error::Io(error)));
        }
        if inner.finished || inner.conn.is_closed() {
            return Poll::Ready(Ok(None));
        }
        register(&mut inner.recv_waker, cx.waker());
        // The driver may hold input it has not offered (room freed by this poll).
        inner.wake_driver();
        Poll::Pending
    }

    /// The next event of any kind: messages, pings (already answered unless
    /// automatic pongs are off), pongs, the peer's close
    /// ([`Event::Close`]) and the end of a connection without a close
    /// handshake ([`Event::Lost`]); `Ok(None)` once the connection is closed
    /// and every event was taken. A protocol error by the peer is
    /// [`Error::Protocol`], once (its close frame already queued).
    ///
    /// Cancel safe: a call dropped before it completes loses nothing.
    pub async fn recv_event(&mut self) -> Result<Option<Event>, Error> {
        core::future::poll_fn(|cx| self.poll_recv_event(cx)).await
    }

    /// Polls for the next message; see [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        loop {
            match self.poll_recv_event(cx) {
                Poll::Ready(Ok(Some(Event::Message(message)))) => {
                    return Poll::Ready(Ok(Some(message)));
                }
                Poll::Ready(Ok(Some(Event::Lost(lost)))) => {
                    return Poll::Ready(Err(Error::Lost(lost)));
                }
                Poll::Ready(Ok(Some(_))) => {}
                Poll::Ready(Ok(None)) => return Poll::Ready(Ok(None)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The next message: `Ok(None)` once the connection closed with a
    /// close handshake (the reply is sent by the driver), [`Error::Lost`]
    /// once if it ended without one (then `Ok(None)`). Pings, pongs and the
    /// close frame are skipped.
    ///
    /// Cancel safe: a `recv` dropped inside `tokio::select!` loses no bytes
    /// and no half-assembled message (the driver assembles messages; this
    /// only takes whole ones from a queue).
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        core::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Stream for Receiver {
    type Item = Result<Message, Error>;

    /// Messages until the close handshake ends the stream (`None`); the
    /// end without one is one `Err(Error::Lost(_))`, then `None`.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

impl Stream for WebSocket {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().receiver).poll_next(cx)
    }
}

impl Sink<Message> for Sender {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Sender::poll_ready(&self, cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let mut inner = self.shared.lock();
        self.queue(&mut inner, &message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_flushed(cx)
    }

    /// Starts the close handshake with 1000 and waits for the end.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.shared.lock();
        if inner.conn.state() == State::Open && !inner.finished {
            inner.conn.close(CloseCode::NORMAL, "")?;
            inner.wake_driver();
        }
        if inner.finished {
            return Poll::Ready(Ok(()));
        }
        register_in(&mut inner.finish_wakers, cx.waker());
        Poll::Pending
    }
}

impl Sink<Message> for WebSocket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().sender).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        Pin::new(&mut self.get_mut().sender).start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().sender).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.get_mut().sender).poll_close(cx)
    }
}
