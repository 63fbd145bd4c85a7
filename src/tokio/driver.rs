//! The driver: the one task that owns a connection's socket. It reads into
//! the connection, runs its timers, hands events to the receiver, writes
//! the output and tears the transport down, whether or not the application
//! is reading: pongs, close replies and keepalive pings never wait for it.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::boxed::Box;
use std::io::{self, IoSlice};
use std::sync::Arc;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::time::Sleep;
use bytes::{Buf, BufMut};

use super::shared::{Inner, Shared, register};
use crate::clock;
use crate::read_size::ReadSize;

std::thread_local! {
    /// Each worker thread's buffer for light reads; see `Driver::read_small`.
    static SCRATCH: core::cell::RefCell<std::vec::Vec<u8>> =
        core::cell::RefCell::new(std::vec![0; ReadSize::MIN]);
}

/// How long received bytes may wait for the receiver to ask for them
/// before the driver polls them itself: an application that is busy (not
/// in `recv`) still gets its peer's pings answered within this. While the
/// receiver waits, it polls the connection itself, one event at a time, so
/// a message is handed out before whatever follows it (a close, a protocol
/// error) is processed: an echo of it can still go out first.
const EAGER_AFTER: core::time::Duration = core::time::Duration::from_millis(50);

/// The most events held for a receiver that is not reading; with
/// [`Config::input_high_water`](crate::Config::input_high_water) bytes of
/// payload, past which the driver stops reading (and so stops answering
/// pings: the peer's keepalive, if any, then decides).
const MAX_QUEUED_EVENTS: usize = 64;

/// Reads of this size and more go into owned buffers (see `Driver::read`);
/// smaller ones into the connection's borrowed buffer.
const OWNED_FROM: usize = 8 * 1024;

/// The future that drives one connection; see the module docs. Spawned by
/// the constructors of [`WebSocket`](super::WebSocket), or handed to you by
/// [`WebSocket::with_driver`](super::WebSocket::with_driver) to run on a
/// runtime of your choice. Finishes when the connection is over and the
/// transport may be dropped (it is dropped with the driver).
#[must_use = "a driver does nothing unless polled (spawn it)"]
#[derive(Debug)]
pub struct Driver<S> {
    io: S,
    shared: Arc<Shared>,
    /// The wake-up for the connection's next deadline; allocated at the
    /// first deadline.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline `sleep` is set to.
    armed: Option<core::time::Duration>,
    read_size: ReadSize,
    /// Bytes that followed the handshake and did not fit the connection
    /// yet: offered before the socket is read again.
    unread: std::vec::Vec<u8>,
    /// Bytes arrived then that nobody has polled yet.
    unpolled_since: Option<core::time::Duration>,
    /// Written bytes not flushed yet (for transports that buffer, TLS).
    unflushed: bool,
    /// The write half was shut down.
    shut: bool,
}

impl<S> Driver<S> {
    pub(super) fn new(io: S, shared: Arc<Shared>, unread: std::vec::Vec<u8>) -> Self {
        Driver {
            io,
            shared,
            sleep: None,
            armed: None,
            read_size: ReadSize::new(),
            unread,
            unpolled_since: None,
            unflushed: false,
            shut: false,
        }
    }
}

impl<S> Drop for Driver<S> {
    fn drop(&mut self) {
        // A driver dropped before the end (its runtime shut down) leaves
        // its trackers too: nothing would make the connection finish.
        self.shared.lock().untrack();
    }
}

/// Whether the receiver's queue is full (a dropped receiver's never is:
/// its events are discarded).
fn queue_full(inner: &Inner) -> bool {
    !inner.receiver_gone
        && (inner.events.len() >= MAX_QUEUED_EVENTS
            || inner.event_bytes >= inner.conn.config().input_high_water)
}

/// Marks the connection over and wakes everyone waiting on it.
fn finish(inner: &mut Inner) {
    inner.finished = true;
    inner.untrack();
    inner.wake_receiver();
    inner.wake_senders();
    for waker in inner.finish_wakers.drain(..) {
        waker.wake();
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = Arc::clone(&this.shared);
        loop {
            let mut inner = shared.lock();
            if inner.finished {
                return Poll::Ready(());
            }
            register(&mut inner.driver_waker, cx.waker());
            let mut progress = false;
            let now = clock::now();
            match this.read(&mut inner, cx) {
                Poll::Ready(Ok(())) => {
                    progress = true;
                    if inner.recv_waker.is_some() {
                        // The receiver polls the connection itself.
                        inner.wake_receiver();
                    } else if this.unpolled_since.is_none() {
                        this.unpolled_since = Some(now);
                    }
                }
                Poll::Ready(Err(error)) => {
                    inner.io_error = Some(error);
                    finish(&mut inner);
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
            inner.conn.handle_timeout(now);
            let overdue = this
                .unpolled_since
                .is_some_and(|since| now >= since + EAGER_AFTER);
            if overdue || inner.receiver_gone {
                this.unpolled_since = None;
                this.deliver(&mut inner, usize::MAX);
            }
            match this.write(&mut inner, cx) {
                Poll::Ready(Ok(wrote)) => progress |= wrote,
                Poll::Ready(Err(error)) => {
                    inner.io_error = Some(error);
                    finish(&mut inner);
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
            if inner.conn.may_close_transport() {
                finish(&mut inner);
                return Poll::Ready(());
            }
            if inner.conn.should_shutdown_write() && !this.shut && !this.unflushed {
                // §7.1.1: the server closes the TCP connection first.
                if let Poll::Ready(result) = Pin::new(&mut this.io).poll_shutdown(cx) {
                    this.shut = true;
                    progress = true;
                    if result.is_err() {
                        // Nothing more can be said to the peer: go.
                        finish(&mut inner);
                        return Poll::Ready(());
                    }
                }
            }
            let eager = this.unpolled_since.map(|since| since + EAGER_AFTER);
            let next = match (inner.conn.poll_timeout(), eager) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match next {
                Some(deadline) if deadline <= now => progress = true,
                Some(deadline) => progress |= this.sleep_until(deadline, cx),
                None => {}
            }
            drop(inner);
            if !progress {
                return Poll::Pending;
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// One read into the connection, if it takes input and the receiver's
    /// queue has room. `Ready(Ok)` when bytes (or the end) arrived.
    fn read(&mut self, inner: &mut Inner, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !inner.conn.wants_read() || queue_full(inner) {
            return Poll::Pending;
        }
        if !self.unread.is_empty() {
            let taken = inner.conn.receive(&self.unread);
            self.unread.drain(..taken);
            if self.unread.is_empty() {
                // Give the allocation back: an idle connection keeps none.
                self.unread = std::vec::Vec::new();
            }
            return if taken > 0 {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            };
        }
        if self.read_size.get() <= ReadSize::MIN {
            return self.read_small(inner, cx);
        }
        if self.read_size.get() < OWNED_FROM {
            return self.read_borrowed(inner, cx);
        }
        // Bulk reads go into an owned buffer lent by the connection (the
        // tail of its read buffer's allocation), read into its spare
        // capacity by `poll_read_buf` without zeroing it first, and handed
        // back without a copy. Zeroing a 64 KiB borrowed buffer for every
        // read, after each message's payload had taken the previous
        // allocation with it, was a quarter of the server's CPU at 64 KiB
        // echo (perf, benches/tokio_echo_load.sh).
        let mut len = inner.conn.read_len(self.read_size.get());
        if len == 0 {
            // A large frame complete in the buffer: its event goes to the
            // receiver's queue first, so that the next frame's bytes start
            // an allocation of their own rather than being copied after it.
            self.deliver(inner, 1);
            len = inner.conn.read_len(self.read_size.get());
            if len == 0 || queue_full(inner) {
                return Poll::Pending;
            }
        }
        let mut buf = inner.conn.lend_receive_buffer(len);
        let polled = {
            let mut limited = (&mut buf).limit(len);
            ::tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut limited)
        };
        // Given back in every case: an empty buffer rejoins the allocation.
        inner.conn.receive_owned(buf);
        // A read cut short at a frame's end says nothing of the traffic:
        // only full-size reads adapt the size.
        let adapt = len == self.read_size.get();
        self.after_read(inner, polled, adapt)
    }

    /// The end of a bulk read that filled `n` bytes (already handed to the
    /// connection): end-of-file, the read size adapted (`adapt`), an
    /// interrupted read retried, an error passed on.
    fn after_read(
        &mut self,
        inner: &mut Inner,
        polled: Poll<io::Result<usize>>,
        adapt: bool,
    ) -> Poll<io::Result<()>> {
        match polled {
            Poll::Ready(Ok(0)) => {
                inner.conn.receive_eof();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(n)) => {
                if adapt {
                    self.read_size.update(n);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A medium read into the connection's own buffer, borrowed: its space
    /// is zeroed once and reused read after read (payloads under 4 KiB are
    /// copied out of it, so none takes the allocation away). 3-5 % less CPU
    /// than an owned buffer at 64 x 1 KiB echo (its reference counting).
    fn read_borrowed(&mut self, inner: &mut Inner, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let buf = inner.conn.receive_buffer(self.read_size.get());
        if buf.is_empty() {
            inner.conn.commit_received(0);
            return Poll::Pending;
        }
        let mut read_buf = ReadBuf::new(buf);
        let polled = Pin::new(&mut self.io).poll_read(cx, &mut read_buf);
        let n = read_buf.filled().len();
        inner.conn.commit_received(n);
        self.after_read(inner, polled.map_ok(|()| n), true)
    }

    /// A read while the traffic is light (an idle connection waits here):
    /// into a scratch buffer of the worker thread, then copied into the
    /// connection, so that an idle connection lends no read buffer of its
    /// own (1 KiB each, 10,000 idle connections 10 MiB). Bulk reads go
    /// into the connection's buffer directly.
    fn read_small(&mut self, inner: &mut Inner, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let room = inner.conn.input_room().min(ReadSize::MIN);
        if room == 0 {
            return Poll::Pending;
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read_buf = ReadBuf::new(&mut scratch[..room]);
            match Pin::new(&mut self.io).poll_read(cx, &mut read_buf) {
                Poll::Ready(Ok(())) => {
                    let n = read_buf.filled().len();
                    if n == 0 {
                        inner.conn.receive_eof();
                    } else {
                        // At most the room: all of it is taken.
                        inner.conn.receive(&scratch[..n]);
                        self.read_size.update(n);
                    }
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// Moves up to `max` of the connection's events to the receiver's
    /// queue, while it has room (or discards them when the receiver is
    /// gone): for a receiver that has not asked for them within
    /// [`EAGER_AFTER`], so that pings are answered and the close handshake
    /// proceeds meanwhile; and one at a time ahead of a read (see `read`).
    fn deliver(&mut self, inner: &mut Inner, max: usize) {
        let mut delivered = false;
        for _ in 0..max {
            if inner.protocol_error.is_some() {
                break;
            }
            if queue_full(inner) {
                break;
            }
            match inner.conn.poll_event() {
                Ok(Some(event)) => {
                    if !inner.receiver_gone {
                        inner.event_bytes += Inner::event_size(&event);
                        inner.events.push_back(event);
                        delivered = true;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    inner.protocol_error = Some(error);
                    delivered = true;
                }
            }
        }
        if delivered || inner.conn.is_closed() {
            inner.wake_receiver();
        }
    }

    /// Writes the connection's output, all chunks vectored, until the
    /// transport would block. `Ready(Ok(true))` when something was written.
    fn write(&mut self, inner: &mut Inner, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let had_room = inner.has_send_room();
        let mut wrote = false;
        let result = loop {
            if !inner.conn.wants_write() {
                break Poll::Ready(Ok(wrote));
            }
            let output = inner.conn.output();
            let mut slices = [IoSlice::new(&[]); 16];
            let count = output.chunks_vectored(&mut slices);
            let polled = Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]);
            match polled {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    inner.conn.output().advance(n);
                    self.unflushed = true;
                    wrote = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        if self.unflushed {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        // Senders wait for room (backpressure) or for everything to be
        // written (`flush`).
        if wrote && (!had_room && inner.has_send_room() || !inner.conn.wants_write()) {
            inner.wake_senders();
        }
        match result {
            Poll::Pending if wrote => Poll::Ready(Ok(true)),
            other => other,
        }
    }

    /// Arms the timer for `deadline`; true if it has already fired.
    ///
    /// A deadline later than the armed one keeps the armed wake-up: it
    /// fires early, the connection finds nothing due, and the timer is
    /// armed again then. The keepalive deadline moves with every message
    /// received; re-arming tokio's timer for each was a timer-wheel removal
    /// and insertion per message.
    fn sleep_until(&mut self, deadline: core::time::Duration, cx: &mut Context<'_>) -> bool {
        let at = ::tokio::time::Instant::from_std(clock::instant_at(deadline));
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(::tokio::time::sleep_until(at)));
        let early = self.armed.is_some_and(|armed| armed <= deadline) && !sleep.is_elapsed();
        if !early {
            sleep.as_mut().reset(at);
            self.armed = Some(deadline);
        }
        sleep.as_mut().poll(cx).is_ready()
    }
}
