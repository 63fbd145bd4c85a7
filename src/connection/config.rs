//! [`Config`]: the limits, timers and behaviour of a connection, each
//! default documented with its reason.

use core::time::Duration;

/// Limits and behaviour of a [`Connection`](crate::Connection). Every
/// default is chosen to be safe on a server open to the internet.
///
/// Time values are durations on the caller's clock (see
/// [`Connection::handle_timeout`](crate::Connection::handle_timeout)); the
/// connection never reads a clock itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted, in bytes. Default 16 MiB.
    ///
    /// Checked on the frame header, before any payload is buffered: a frame
    /// announcing more fails the connection with 1009 at once. A frame is
    /// buffered whole before it is handed on, so this bounds the read buffer.
    pub max_frame_size: usize,
    /// The largest message accepted, in bytes, summed over its fragments
    /// (decompressed, with permessage-deflate). Default 16 MiB, the largest
    /// frame: Python's `websockets` takes 1 MiB, tungstenite 64 MiB; 16 MiB
    /// carries the Autobahn|Testsuite's largest messages, and a 64 KiB
    /// compressed frame inflating to it costs a quarter of what it would at
    /// 64 MiB. A server with many connections bounds their sum with a
    /// [`budget`](Self::budget). Exceeding it fails the connection with
    /// 1009 as soon as a frame header (or the inflated output) shows the
    /// message would be too large.
    pub max_message_size: usize,
    /// The most frames one message may arrive in. Default 131,072 (2^17):
    /// twice what the Autobahn|Testsuite's largest fragmented case sends
    /// (4 MiB in 64-byte fragments). Without a bound, empty continuation
    /// frames cost the peer two bytes each and never finish a message.
    /// Exceeding it fails the connection with 1008.
    pub max_frames_per_message: u32,
    /// A byte budget shared by many connections for the messages they
    /// buffer (see [`MemoryBudget`](crate::MemoryBudget)): what bounds a
    /// whole server, where the per-connection limits bound one connection.
    /// Default `None` (a connection alone has no process to share with);
    /// a server gives every connection a clone of one budget. How to choose
    /// it: what the process may spend on unfinished messages at once, e.g.
    /// a quarter of its memory; a connection that would exceed it fails
    /// with 1013 (try again later).
    pub budget: Option<crate::MemoryBudget>,
    /// How long a message may take from its first frame's header to its
    /// last byte. Default 60 s: a 16 MiB message at 300 kB/s. Without it a
    /// peer that starts a large message and never finishes it holds the
    /// buffered part for as long as it answers pings. Exceeding it fails
    /// the connection with 1008. `None`: no such timeout.
    pub message_timeout: Option<Duration>,
    /// Answer every ping with a pong automatically (§5.5.2). Default `true`.
    /// Turn off to answer pings yourself with
    /// [`Connection::pong`](crate::Connection::pong).
    pub auto_pong: bool,
    /// Ping a silent peer, and give up on it if it stays silent. Default
    /// [`Keepalive::default`]: a ping after 20 s without a byte from the
    /// peer, the connection lost 20 s later if still nothing arrived (the
    /// defaults of Python's `websockets`). `None`: no keepalive.
    pub keepalive: Option<Keepalive>,
    /// How long the closing handshake may take. Default 10 s (as Python's
    /// `websockets`).
    ///
    /// After this end sent its close frame, the peer has this long to
    /// answer with its own before the connection is reported
    /// [lost](crate::Lost::CloseTimeout). Once the connection is closed
    /// (cleanly, or failed after a protocol error), the peer has this long
    /// to end the transport before
    /// [`may_close_transport`](crate::Connection::may_close_transport)
    /// allows dropping it anyway: a server closes TCP first (§7.1.1) but
    /// waits for the client's end so that its close frame is not destroyed
    /// by a TCP reset; a client waits for the server to close.
    pub close_timeout: Duration,
    /// Unpolled input the connection takes beyond the frame it is decoding,
    /// in bytes. Default 64 KiB: one typical socket read.
    ///
    /// [`receive`](crate::Connection::receive) takes only what fits and
    /// says how much; the rest waits until
    /// [`poll_event`](crate::Connection::poll_event) has decoded what came
    /// before. So the read buffer never holds more than this plus one frame
    /// ([`max_frame_size`](Self::max_frame_size)), however fast the peer
    /// sends and however many times a loop reads before polling.
    pub input_high_water: usize,
    /// Queued output, in bytes, above which the connection stops taking
    /// input. Default 64 KiB.
    ///
    /// Automatic pongs and close replies are queued without the caller
    /// asking: a peer that sends pings and never reads would otherwise grow
    /// the output without bound. Above this mark, while such a reply is
    /// still unwritten, [`wants_read`](crate::Connection::wants_read) is
    /// false and [`receive`](crate::Connection::receive) takes nothing
    /// (output the caller queued itself does not stop input: two ends that
    /// both send large messages while reading must not wait on each
    /// other), so the
    /// transport's own flow control slows the peer down until our output
    /// drains (backpressure; adapters also make `send` wait above it). What
    /// is queued is bounded by this mark, plus what the caller sends
    /// itself, plus the replies to at most one read buffer of input.
    pub output_high_water: usize,
    /// How long queued output may wait without a single byte written before
    /// the connection is reported [lost](crate::Lost::WriteTimeout).
    /// Default 30 s, as long as a keepalive takes to give up on a silent
    /// peer. A peer that reads slowly but steadily is never dropped by it;
    /// one that stopped reading is, within at most twice this time (the
    /// deadline restarts when bytes were written since it was set). Drivers
    /// report progress by advancing [`output`](crate::Connection::output);
    /// a blocking driver also bounds each write by it. `None`: no such
    /// timeout.
    pub write_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692) policy: offered or accepted in the
    /// handshake, applied through the handshake's
    /// [`Agreement`](crate::Agreement). Default:
    /// [`DeflateConfig::disabled`](crate::deflate::DeflateConfig::disabled),
    /// so that nothing changes on the wire unless asked; turn it on with
    /// `Config::default().deflate(DeflateConfig::default())`. With
    /// compression, [`max_message_size`](Self::max_message_size) limits the
    /// *decompressed* size.
    #[cfg(feature = "deflate")]
    pub deflate: crate::deflate::DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_frames_per_message: 1 << 17,
            budget: None,
            message_timeout: Some(Duration::from_secs(60)),
            auto_pong: true,
            keepalive: Some(Keepalive::default()),
            close_timeout: Duration::from_secs(10),
            input_high_water: 64 * 1024,
            output_high_water: 64 * 1024,
            write_timeout: Some(Duration::from_secs(30)),
            #[cfg(feature = "deflate")]
            deflate: crate::deflate::DeflateConfig::disabled(),
        }
    }
}

impl Config {
    /// Sets [`max_frame_size`](Self::max_frame_size).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`max_frames_per_message`](Self::max_frames_per_message).
    pub fn max_frames_per_message(mut self, frames: u32) -> Self {
        self.max_frames_per_message = frames;
        self
    }

    /// Sets [`budget`](Self::budget).
    pub fn budget(mut self, budget: Option<crate::MemoryBudget>) -> Self {
        self.budget = budget;
        self
    }

    /// Sets [`message_timeout`](Self::message_timeout).
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// Sets [`auto_pong`](Self::auto_pong).
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`keepalive`](Self::keepalive).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`input_high_water`](Self::input_high_water); values under
    /// 1 KiB count as 1 KiB (what follows a handshake head in the same read
    /// must fit).
    pub fn input_high_water(mut self, bytes: usize) -> Self {
        self.input_high_water = bytes;
        self
    }

    /// Sets [`output_high_water`](Self::output_high_water).
    pub fn output_high_water(mut self, bytes: usize) -> Self {
        self.output_high_water = bytes;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`deflate`](Self::deflate).
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, deflate: crate::deflate::DeflateConfig) -> Self {
        self.deflate = deflate;
        self
    }
}

/// A keepalive policy; see [`Config::keepalive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// After this long without a single byte from the peer, send a ping.
    /// Default 20 s: below the idle timeouts of common NATs and load
    /// balancers (often 60 s), so the ping also keeps their mapping alive.
    pub ping_after: Duration,
    /// After the ping, how long the peer has to send anything at all (its
    /// pong, or any frame) before the connection is reported
    /// [lost](crate::Lost::KeepaliveTimeout). Default 20 s: a live peer
    /// answers in one round trip; this leaves room for a congested or mobile
    /// link. A dead peer holds its connection at most `ping_after + timeout`.
    pub timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            ping_after: Duration::from_secs(20),
            timeout: Duration::from_secs(20),
        }
    }
}

impl Keepalive {
    /// A policy that pings after `ping_after` of silence and gives up if
    /// nothing arrives within `timeout` after the ping.
    pub fn new(ping_after: Duration, timeout: Duration) -> Self {
        Keepalive {
            ping_after,
            timeout,
        }
    }
}
