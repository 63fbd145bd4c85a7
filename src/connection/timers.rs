//! Time and teardown: keepalive, the closing handshake's timeout, the write
//! timeout, and when the transport may be shut down and dropped. The
//! connection never reads a clock: the caller passes `now` to
//! [`Connection::handle_timeout`] and sleeps until
//! [`Connection::poll_timeout`].

use core::time::Duration;

use super::{Connection, Input, State};
use crate::agreement::Role;
use crate::error::ProtocolError;
use crate::frame::OpCode;
use crate::message::Lost;

/// The most input discarded after the connection closed while waiting for
/// the peer to end the transport (a lingering close): enough for whatever
/// was in flight, small enough that a flooding peer cannot hold the
/// connection with it.
const DRAIN_BYTES: usize = 64 * 1024;

/// The smallest input high-water mark honoured: what follows a handshake
/// head in the same read (adapters read heads in 1 KiB steps) must fit.
const MIN_INPUT: usize = 1024;

/// Where each timer is. Stamps are taken at [`Connection::handle_timeout`]:
/// anything that happened since the last call (input heard, a state
/// change) makes [`Connection::poll_timeout`] due at once, so the next call
/// stamps it with the real time.
#[derive(Debug)]
pub(super) struct Timers {
    /// The latest `now` passed in.
    now: Duration,
    /// Input arrived since the last `handle_timeout`.
    heard: bool,
    /// When input last arrived, as of the `handle_timeout` after it.
    last_heard: Duration,
    /// A keepalive ping went out at this time and nothing has arrived since.
    ping_sent: Option<Duration>,
    /// The state changed since the last `handle_timeout`.
    state_changed: bool,
    /// When the present state (closing or closed) began.
    state_since: Option<Duration>,
    /// Output has been waiting since then, with no byte written since (or
    /// since the last check).
    stalled_since: Option<Duration>,
    /// The wait for the peer to end the transport is over.
    drain_over: bool,
    /// The message (or lone frame) in progress began then; with the
    /// `message_seq` it was stamped for.
    message_since: Option<(Duration, u32)>,
    /// Bytes discarded since the connection closed.
    pub(super) drained: usize,
    /// A timer gave up on the peer: the transport may go at once.
    abandoned: bool,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            now: Duration::ZERO,
            // The first `handle_timeout` starts the silence clock.
            heard: true,
            last_heard: Duration::ZERO,
            ping_sent: None,
            state_changed: false,
            state_since: None,
            stalled_since: None,
            drain_over: false,
            message_since: None,
            drained: 0,
            abandoned: false,
        }
    }
}

impl Timers {
    pub(super) fn heard(&mut self) {
        self.heard = true;
    }

    pub(super) fn state_changed(&mut self) {
        self.state_changed = true;
        self.state_since = None;
    }

    pub(super) fn abandon(&mut self) {
        self.abandoned = true;
    }

    pub(super) fn drain_budget(&self) -> usize {
        DRAIN_BYTES.saturating_sub(self.drained)
    }
}

fn after(start: Duration, wait: Duration) -> Duration {
    start.saturating_add(wait)
}

impl Connection {
    /// When [`handle_timeout`](Self::handle_timeout) must next be called,
    /// on the same clock as the `now` passed to it; `None` when no timer is
    /// running (nothing will happen until input arrives or the application
    /// acts). A deadline at or before the last `now` means "at once": input
    /// arrived or the state changed, and the timers start from the next
    /// `now`.
    ///
    /// Cheap: call it after every step of the event loop, as a poll loop
    /// computes its next wake-up.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let t = &self.timers;
        if t.abandoned {
            return None;
        }
        let keepalive = self.config.keepalive.filter(|_| self.state == State::Open);
        let stall = self.config.write_timeout.filter(|_| self.output.len() > 0);
        let closing = !matches!(self.state, State::Open) && !self.waits_for_nothing();
        let message = self.config.message_timeout.filter(|_| self.receiving());
        let message_stamp = t.message_since.filter(|&(_, seq)| seq == self.message_seq);
        if (t.heard && keepalive.is_some())
            || (t.state_changed && closing)
            || (stall.is_some() && t.stalled_since.is_none())
            || (message.is_some() && message_stamp.is_none())
        {
            return Some(t.now);
        }
        let mut next: Option<Duration> = None;
        let mut consider = |deadline: Duration| {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        };
        if let Some(keepalive) = keepalive {
            consider(match t.ping_sent {
                Some(sent) => after(sent, keepalive.timeout),
                None => after(t.last_heard, keepalive.ping_after),
            });
        }
        if let (true, Some(since)) = (closing, t.state_since) {
            consider(after(since, self.config.close_timeout));
        }
        if let (Some(timeout), Some(since)) = (stall, t.stalled_since) {
            consider(after(since, timeout));
        }
        if let (Some(timeout), Some((since, _))) = (message, message_stamp) {
            consider(after(since, timeout));
        }
        next
    }

    /// Advances the connection's clock to `now` and acts on every deadline
    /// that has passed:
    /// * **keepalive** ([`Config::keepalive`](crate::Config::keepalive)): a
    ///   ping after `ping_after` without input; `timeout` after it, still
    ///   without input, the connection is lost
    ///   ([`Lost::KeepaliveTimeout`]);
    /// * **closing handshake** ([`Config::close_timeout`](crate::Config::close_timeout)):
    ///   our close frame unanswered is [`Lost::CloseTimeout`]; once closed,
    ///   the wait for the peer to end the transport ends;
    /// * **write timeout** ([`Config::write_timeout`](crate::Config::write_timeout)):
    ///   output that waits with not a byte written is [`Lost::WriteTimeout`].
    ///
    /// A lost connection queues a close frame with 1001 (going away) if it
    /// was open and nothing else is waiting to be written (what is stuck
    /// may end in half a frame: a close after it would be read as its
    /// payload), reports the loss
    /// as [`Event::Lost`](crate::Event::Lost) from the next
    /// [`poll_event`](Self::poll_event), and
    /// [`may_close_transport`](Self::may_close_transport) turns true at
    /// once: write what is left if the transport takes it without waiting,
    /// then drop it.
    ///
    /// `now` is any monotonic clock (for example the time since an `Instant`
    /// the caller picked), the same one for every call on this connection;
    /// a `now` earlier than a previous one counts as the previous one. Call
    /// it after every read, too: that is when the silence clock restarts.
    pub fn handle_timeout(&mut self, now: Duration) {
        let now = now.max(self.timers.now);
        self.timers.now = now;
        if self.timers.abandoned {
            return;
        }
        if core::mem::take(&mut self.timers.heard) {
            self.timers.last_heard = now;
            self.timers.ping_sent = None;
        }
        if core::mem::take(&mut self.timers.state_changed) {
            self.timers.state_since = Some(now);
        }
        if self.write_stalled(now) {
            self.transition(Input::Abandon(Lost::WriteTimeout));
            return;
        }
        if self.message_overdue(now) {
            // The peer's fault, reported as its protocol errors are.
            let error = ProtocolError::MessageTimeout;
            self.transition(Input::Fail(error.close_code()));
            self.pending_error = Some(error);
            return;
        }
        let since = self.timers.state_since.unwrap_or(now);
        let closing_over = now >= after(since, self.config.close_timeout);
        match self.state {
            State::Open => self.keepalive(now),
            State::LocalClosing if closing_over => {
                self.transition(Input::Abandon(Lost::CloseTimeout));
            }
            State::Closed { .. } if closing_over => self.timers.drain_over = true,
            State::LocalClosing | State::Closed { .. } => {}
        }
    }

    fn keepalive(&mut self, now: Duration) {
        let Some(keepalive) = self.config.keepalive else {
            return;
        };
        match self.timers.ping_sent {
            None if now >= after(self.timers.last_heard, keepalive.ping_after) => {
                // An empty ping: any byte from the peer proves it alive,
                // its pong included.
                self.output
                    .push_frame(OpCode::Ping, true, &[], self.masks.as_deref_mut());
                self.timers.ping_sent = Some(now);
            }
            Some(sent) if now >= after(sent, keepalive.timeout) => {
                self.transition(Input::Abandon(Lost::KeepaliveTimeout));
            }
            _ => {}
        }
    }

    /// Whether a frame or message is being received.
    fn receiving(&self) -> bool {
        !self.is_closed() && (self.frame.is_some() || self.assembler.is_open())
    }

    /// Whether the message in progress has taken longer than the message
    /// timeout; keeps the message clock.
    fn message_overdue(&mut self, now: Duration) -> bool {
        if !self.receiving() {
            self.timers.message_since = None;
            return false;
        }
        match self.timers.message_since {
            Some((since, seq)) if seq == self.message_seq => self
                .config
                .message_timeout
                .is_some_and(|timeout| now >= after(since, timeout)),
            _ => {
                self.timers.message_since = Some((now, self.message_seq));
                false
            }
        }
    }

    /// Whether output has waited the write timeout with nothing written;
    /// keeps the stall clock.
    fn write_stalled(&mut self, now: Duration) -> bool {
        let progressed = self.output.take_progress();
        let pending = self.output.len() > 0;
        let (Some(timeout), true) = (self.config.write_timeout, pending) else {
            self.timers.stalled_since = None;
            return false;
        };
        match self.timers.stalled_since {
            None => self.timers.stalled_since = Some(now),
            Some(since) if now >= after(since, timeout) => {
                if !progressed {
                    return true;
                }
                // Bytes went out during the last period: start another.
                self.timers.stalled_since = Some(now);
            }
            Some(_) if progressed => self.timers.stalled_since = Some(now),
            Some(_) => {}
        }
        false
    }

    /// Closed, and nothing left to wait for: the transport ended, the wait
    /// for it is over, or a timer gave up.
    fn waits_for_nothing(&self) -> bool {
        let t = &self.timers;
        matches!(self.state, State::Closed { .. })
            && (self.eof || t.drain_over || t.abandoned || t.drain_budget() == 0)
    }

    /// Whether to read from the transport now: register read interest.
    ///
    /// False once end-of-file was seen, while queued output is over
    /// [`Config::output_high_water`](crate::Config::output_high_water)
    /// with a reply to the peer (a pong, a close reply) still unwritten
    /// (backpressure: write first; output the application queued itself
    /// does not stop input), while unpolled input fills
    /// [`Config::input_high_water`](crate::Config::input_high_water)
    /// beyond the frame being decoded (poll events first), and after the
    /// connection closed once the wait for the peer's end is over. While
    /// closed and waiting, input is read and discarded.
    pub fn wants_read(&self) -> bool {
        !self.eof && !self.timers.abandoned && self.input_room() > 0
    }

    /// How many bytes [`receive`](Self::receive) would take now.
    pub fn input_room(&self) -> usize {
        if self.eof || self.timers.abandoned {
            return 0;
        }
        if matches!(self.state, State::Closed { .. }) {
            return if self.timers.drain_over {
                0
            } else {
                self.timers.drain_budget()
            };
        }
        // Over the mark with a reply to the peer still unwritten: a peer
        // that sends pings but does not read our pongs is not read on, so
        // the replies it causes stay bounded. What the application queued
        // itself does not stop reading: a split writer's large message
        // must not stall both ends' readers, each waiting for the other.
        if self.output.len() > self.config.output_high_water && self.output.reply_pending() {
            return 0;
        }
        let frame = self.frame.as_ref().map_or(0, |frame| frame.len);
        frame
            .saturating_add(self.config.input_high_water.max(MIN_INPUT))
            .saturating_sub(self.read_buf.len())
    }

    /// Whether to shut the transport's write half down now (TCP FIN): the
    /// connection is closed and its last frame written. A server does this
    /// first (§7.1.1: the server closes the TCP connection first), as does
    /// an end that failed the connection; a client after a clean close
    /// waits for the server's. Then keep reading (input is discarded) until
    /// [`may_close_transport`](Self::may_close_transport). Idempotent for
    /// the caller: shutting down twice is harmless.
    pub fn should_shutdown_write(&self) -> bool {
        let State::Closed { clean, .. } = self.state else {
            return false;
        };
        !self.timers.abandoned && self.output.len() == 0 && (self.role == Role::Server || !clean)
    }

    /// Whether the transport may be dropped now: the connection is closed,
    /// everything queued was written, and the peer ended the transport (or
    /// [`Config::close_timeout`](crate::Config::close_timeout) passed
    /// waiting for it, or 64 KiB were discarded waiting). Waiting for the
    /// peer's end keeps a close frame from being destroyed by a TCP reset
    /// (a socket closed with unread input sends one). True at once, output
    /// or not, when a timer gave up on the peer (see
    /// [`handle_timeout`](Self::handle_timeout)).
    pub fn may_close_transport(&self) -> bool {
        if self.timers.abandoned {
            return true;
        }
        self.waits_for_nothing() && self.output.len() == 0
    }
}
