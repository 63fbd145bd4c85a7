//! The echo server of `echo_server.rs` on one thread and one `mio::Poll`
//! loop: proof that the sans-IO core runs in any event loop. Every
//! connection is a [`Connection`] in a slot of a `Vec`, indexed by its mio
//! `Token`, with no thread, no task and no timer of its own.
//!
//! ```text
//! cargo run --release --example mio_echo_server -- --addr 127.0.0.1:9004
//! ```
//!
//! Then open <http://127.0.0.1:9004/> for the same page as `echo_server`
//! (`echo.html`), or point any WebSocket client at `ws://127.0.0.1:9004/ws`.
//! Like `echo_server`: `GET /` serves the page, another path is 404, a
//! WebSocket handshake (on `/ws`, or an upgrade request on any path) is
//! validated (400, 426, ... with the handshake's own response when it is
//! not one) and then every text or binary message comes back unchanged,
//! with its type. permessage-deflate (RFC 7692) is accepted with no context
//! takeover either way (`support::deflate_policy`), `--no-deflate` declines
//! it.
//!
//! # What the loop does, and what it leaves to the core
//! * **Input**: a connection is read only while `wants_read()` and its
//!   queued echoes are under the output high-water mark (`takes_input`),
//!   into one
//!   64 KiB scratch buffer shared by the whole loop, and handed over with
//!   `receive`; its events are drained at once (each message is echoed with
//!   `send`). The loop keeps no buffer per connection: an idle one is its
//!   `Connection`, its socket, its slot and its deadline entry (what the
//!   core itself keeps between messages is its own policy).
//! * **Output**: `output().write_to(stream)` (one vectored write of all
//!   chunks) until the socket would block.
//! * **Interest**: READABLE while it takes input, WRITABLE while
//!   `wants_write()`; reregistered only when that changes.
//! * **Time**: one clock for the loop (the time since an `Instant` taken at
//!   start). Every connection's next deadline (`poll_timeout()`, or the
//!   handshake deadline before the upgrade) is one entry of a `BTreeSet` of
//!   `(deadline, slot)`, replaced when it changes: the loop sleeps until the
//!   first one and wakes exactly the connections that are due, in
//!   O(log n) each, never scanning the others. `handle_timeout(now)` runs
//!   after every read and at every due deadline; keepalive pings, the
//!   keepalive timeout (close 1001), the close timeout and the write timeout
//!   are all the core's.
//! * **Teardown**: `should_shutdown_write()` shuts the write half (FIN),
//!   `may_close_transport()` deregisters and drops the socket.
//!
//! # Bounds
//! * **Who may connect**: only the server's own page (same origin; a page
//!   from another site gets 403 before the upgrade), widened by
//!   `--allow-origin ORIGIN` (repeatable), off with `--any-origin`; with
//!   `--host NAME` (repeatable) other `Host`s get 421. A client without
//!   `Origin` (not a browser) is accepted.
//! * **Message memory**: every connection's `Config` shares one
//!   `MemoryBudget` of `--memory-budget-mib` (default 256) for the message
//!   bytes they buffer together; past it a connection is closed with 1013.
//!   See `support/access.rs` for how to choose it.
//! * **Connections**: `--max-connections` (default 10,000) connections in
//!   their handshake or open. Past it, a new one is answered `503` at once
//!   (before any upgrade) from at most [`OVERFLOW`] more slots; past those,
//!   it is closed without an answer. The operating system's limit on open
//!   files must be above `--max-connections` (+ [`OVERFLOW`] + a few); when
//!   `accept` fails (out of descriptors) the loop retries it after
//!   [`ACCEPT_BACKOFF`] rather than spinning.
//! * **Request head**: [`Limits`]' defaults: 8 KiB, 64 header fields (431
//!   past them), and the whole head within `--handshake-timeout` (default
//!   10 s; slowloris is cut off, nothing answered). Bytes after the head are
//!   read only up to the same 8 KiB.
//! * **HTTP answers** (page, 404, rejections, 503): written within the
//!   handshake deadline, then the write half is shut and input discarded
//!   for at most [`LINGER`] and [`LINGER_BYTES`], so the client reads the
//!   answer instead of a reset.
//! * **Each WebSocket connection**: [`Config`]'s defaults: frames up to
//!   16 MiB, messages up to 16 MiB, unpolled input 64 KiB beyond the frame
//!   being decoded, queued output 64 KiB before reading stops (an echo adds
//!   at most one read buffer's worth above it), a peer that stops reading
//!   dropped after 30 s of stalled output, 10 s for the closing handshake;
//!   keepalive: a ping after `--ping-after` seconds of silence (default
//!   20), dropped with 1001 after `--keepalive-timeout` more (default 20;
//!   both [`Keepalive`]'s defaults, as `echo_server`).
//!   So one connection holds at most a message and its echo, plus those
//!   high-water marks: with many busy connections, memory is bounded by
//!   `--max-connections` times that.
//! * **The loop**: one scratch buffer of [`SCRATCH`]; at most
//!   [`READ_BUDGET`] read from one connection per turn, so a fast sender
//!   cannot starve the others (it is queued for the next turn, and the loop
//!   does not sleep while any connection is queued); at most [`EVENTS`]
//!   readiness events per `poll`; one deadline entry per connection.
//!
//! `tests/mio_echo.rs` holds 10,000 idle connections beside a busy one and
//! measures the resident memory of each (see the README); tests/autobahn.rs
//! runs Autobahn|Testsuite's sections 1 to 10 against this server.

use std::collections::{BTreeSet, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};
use std::{env, process};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rfc6455::handshake::{
    AcceptOptions, Limits, Parsed, Rejection, Request, UpgradeRequest, http_response,
};
use rfc6455::{Config, Connection, Event, Keepalive};

mod support;

#[path = "support/access.rs"]
mod access;

/// The page served on `GET /`: the same file as `echo_server`'s.
const PAGE: &str = include_str!("echo.html");

/// The listening socket's token; connections use their slot index.
const LISTENER: Token = Token(usize::MAX);

/// The one read buffer of the loop: every connection is read into it and
/// handed its bytes from there. 64 KiB: the core's default input
/// high-water mark, so a read is rarely cut short by the buffer.
const SCRATCH: usize = 64 * 1024;

/// The most bytes read from one connection in one turn of the loop.
const READ_BUDGET: usize = 256 * 1024;

/// Readiness events taken per `poll`.
const EVENTS: usize = 1024;

/// Slots beyond `--max-connections` for answering `503` to the excess.
const OVERFLOW: usize = 64;

/// After an HTTP answer, input is discarded for at most this long ...
const LINGER: Duration = Duration::from_secs(1);
/// ... and at most this much, before the socket is dropped.
const LINGER_BYTES: usize = 64 * 1024;

/// How long `accept` rests after it failed (e.g. out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Rounds of read / time / events / write per connection per turn.
const ROUNDS: usize = 8;

const USAGE: &str = "\
usage: mio_echo_server [--addr HOST:PORT] [--no-deflate] [--max-connections N]
                       [--handshake-timeout SECS] [--ping-after SECS]
                       [--keepalive-timeout SECS]
                       [--allow-origin ORIGIN]... [--any-origin] [--host NAME]...
                       [--memory-budget-mib N]

  --addr HOST:PORT          address to listen on (default 127.0.0.1:9004;
                            port 0 picks a free port, printed at start)
  --no-deflate              decline permessage-deflate (RFC 7692); by default
                            it is accepted when a client offers it, with no
                            context takeover either way
  --max-connections N       connections served at once (default 10000);
                            past it a new one is answered 503
  --handshake-timeout SECS  time for the whole request head (default 10)
  --ping-after SECS         ping a client silent this long (default 20)
  --keepalive-timeout SECS  then drop it with 1001 if it stays silent this
                            long (default 20)
  --help                    show this help

Access and memory (see support/access.rs):

One thread, one mio::Poll loop; every connection is a sans-IO
rfc6455::Connection driven by it.";

fn main() {
    let options = parse_args();
    let listener = std::net::TcpListener::bind(&options.addr)
        .and_then(|listener| {
            listener.set_nonblocking(true)?;
            Ok(listener)
        })
        .unwrap_or_else(|e| {
            eprintln!("mio_echo_server: cannot listen on {}: {e}", options.addr);
            process::exit(1);
        });
    // With port 0 the OS picks the port: print the address actually bound.
    let addr = listener
        .local_addr()
        .map_or_else(|_| options.addr.clone(), |a| a.to_string());
    let mut server = Server::new(TcpListener::from_std(listener), options).unwrap_or_else(|e| {
        eprintln!("mio_echo_server: cannot start the poll loop: {e}");
        process::exit(1);
    });
    println!("mio echo server listening on ws://{addr}/ws (page: http://{addr}/)");
    server.run();
}

// ---- the loop ------------------------------------------------------------------

/// The loop's state: the listener, the connections, their deadlines.
struct Server {
    poll: Poll,
    listener: TcpListener,
    /// The loop's clock starts here: `now` is the time since.
    epoch: Instant,
    clients: Slab,
    /// `(deadline, slot)` for every connection that has one; each client
    /// remembers its entry (`Client::deadline`) to replace it.
    deadlines: BTreeSet<(Duration, usize)>,
    /// Connections with input left after their read budget: served next
    /// turn without waiting for another readiness event (mio's are
    /// edge-triggered: none would come).
    ready: VecDeque<usize>,
    scratch: Box<[u8]>,
    options: Options,
    /// `accept` failed: try again at this time.
    accept_again: Option<Duration>,
}

impl Server {
    fn new(mut listener: TcpListener, options: Options) -> io::Result<Server> {
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Server {
            poll,
            listener,
            epoch: Instant::now(),
            clients: Slab::default(),
            deadlines: BTreeSet::new(),
            ready: VecDeque::new(),
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            options,
            accept_again: None,
        })
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    fn run(&mut self) -> ! {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let now = self.now();
            let next = self.deadlines.first().map(|&(at, _)| at);
            let next = match (next, self.accept_again) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timeout = if self.ready.is_empty() {
                next.map(|at| at.saturating_sub(now))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("mio_echo_server: poll failed: {e}");
                process::exit(1);
            }
            let now = self.now();
            for event in &events {
                if event.token() == LISTENER {
                    self.accept(now);
                    continue;
                }
                let Token(slot) = event.token();
                let Some(client) = self.clients.get_mut(slot) else {
                    continue; // closed earlier in this batch
                };
                // Edge-triggered: remember what is ready until a read or
                // write says it would block. Errors and hang-ups show up
                // in the next read or write.
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    client.readable = true;
                }
                if event.is_writable() || event.is_write_closed() || event.is_error() {
                    client.writable = true;
                }
                self.drive(slot, now);
            }
            // Those queued in the last turn; whoever is queued again waits
            // for the next.
            for _ in 0..self.ready.len() {
                let Some(slot) = self.ready.pop_front() else {
                    break;
                };
                if let Some(client) = self.clients.get_mut(slot) {
                    client.queued = false;
                    self.drive(slot, now);
                }
            }
            self.expire(now);
            if self.accept_again.is_some_and(|at| at <= now) {
                self.accept_again = None;
                self.accept(now);
            }
        }
    }

    /// Drives every connection whose deadline has come. A deadline set
    /// again at or before `now` waits for the next turn (which then does
    /// not sleep), so this ends.
    fn expire(&mut self, now: Duration) {
        for _ in 0..self.deadlines.len() {
            match self.deadlines.first() {
                Some(&(at, slot)) if at <= now => {
                    self.deadlines.pop_first();
                    if let Some(client) = self.clients.get_mut(slot) {
                        client.deadline = None;
                        self.drive(slot, now);
                    }
                }
                _ => return,
            }
        }
    }

    /// Accepts every pending connection.
    fn accept(&mut self, now: Duration) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, now),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Out of descriptors, most likely: the pending
                    // connections wait in the backlog meanwhile.
                    eprintln!("mio_echo_server: accept failed: {e}");
                    self.accept_again = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Gives a new connection its slot: a handshake, or a 503.
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, now: Duration) {
        let max = self.options.max_connections;
        if self.clients.len() >= max + OVERFLOW {
            return; // dropped: closed without an answer
        }
        // Echo each message at once, no Nagle delay.
        let _ = stream.set_nodelay(true);
        let phase = if self.clients.len() >= max {
            let body = b"too many connections, try again later\n";
            let fields = [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Retry-After", "1"),
                ("Connection", "close"),
            ];
            Phase::answer(
                http_response(503, &fields, body),
                self.deadline_of_handshake(now),
            )
        } else {
            Phase::Head {
                buf: Vec::new(),
                until: self.deadline_of_handshake(now),
            }
        };
        let mut client = Client {
            stream,
            peer,
            phase,
            registered: Interest::READABLE,
            deadline: None,
            readable: true,
            writable: true,
            queued: false,
        };
        client.registered = client.interest();
        let slot = self.clients.vacant();
        let registered =
            self.poll
                .registry()
                .register(&mut client.stream, Token(slot), client.registered);
        if let Err(e) = registered {
            eprintln!("{peer}: cannot register: {e}");
            return;
        }
        self.clients.insert(slot, client);
        self.drive(slot, now);
    }

    fn deadline_of_handshake(&self, now: Duration) -> Option<Duration> {
        self.options.limits.timeout.map(|timeout| now + timeout)
    }

    /// One turn for the connection in `slot`: see [`Client::drive`]; then
    /// its interest, its deadline, and its place in the ready queue follow
    /// what it wants now.
    fn drive(&mut self, slot: usize, now: Duration) {
        let Some(client) = self.clients.get_mut(slot) else {
            return;
        };
        let turn = client.drive(&mut self.scratch, &self.options, now);
        if turn == Turn::Close {
            self.close(slot);
            return;
        }
        let interest = client.interest();
        if interest != client.registered {
            let registry = self.poll.registry();
            if let Err(e) = registry.reregister(&mut client.stream, Token(slot), interest) {
                eprintln!("{}: cannot reregister: {e}", client.peer);
                self.close(slot);
                return;
            }
            client.registered = interest;
        }
        let deadline = client.next_deadline();
        if deadline != client.deadline {
            if let Some(old) = client.deadline {
                self.deadlines.remove(&(old, slot));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, slot));
            }
            client.deadline = deadline;
        }
        if turn == Turn::Again && !client.queued {
            client.queued = true;
            self.ready.push_back(slot);
        }
    }

    /// Deregisters and drops the connection in `slot` (closing its socket).
    fn close(&mut self, slot: usize) {
        if let Some(mut client) = self.clients.remove(slot) {
            let _ = self.poll.registry().deregister(&mut client.stream);
            if let Some(at) = client.deadline {
                self.deadlines.remove(&(at, slot));
            }
        }
    }
}

/// The connections, each in the slot its `Token` names; freed slots are
/// reused first.
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Client>>,
    free: Vec<usize>,
    len: usize,
}

impl Slab {
    fn len(&self) -> usize {
        self.len
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Client> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// The slot the next [`insert`](Self::insert) should use.
    fn vacant(&self) -> usize {
        self.free.last().copied().unwrap_or(self.slots.len())
    }

    fn insert(&mut self, slot: usize, client: Client) {
        if self.free.last() == Some(&slot) {
            self.free.pop();
            self.slots[slot] = Some(client);
        } else {
            debug_assert_eq!(slot, self.slots.len());
            self.slots.push(Some(client));
        }
        self.len += 1;
    }

    fn remove(&mut self, slot: usize) -> Option<Client> {
        let client = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(client)
    }
}

// ---- one connection ---------------------------------------------------------------

struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    phase: Phase,
    /// The interest registered with the poll.
    registered: Interest,
    /// This connection's entry in `Server::deadlines`.
    deadline: Option<Duration>,
    /// Readable as far as we know: no read said it would block since the
    /// last readiness event.
    readable: bool,
    /// Writable as far as we know, likewise.
    writable: bool,
    /// In `Server::ready`.
    queued: bool,
}

enum Phase {
    /// Reading the HTTP request head, which must be complete by `until`.
    Head {
        buf: Vec<u8>,
        until: Option<Duration>,
    },
    /// Writing an HTTP answer (the page, a 404, a rejection, a 503) by
    /// `until`; then, once `shut`, discarding input until end-of-file,
    /// [`LINGER_BYTES`] or `until` (then [`LINGER`] later).
    Answer {
        out: Vec<u8>,
        written: usize,
        until: Option<Duration>,
        shut: bool,
        discarded: usize,
    },
    /// A WebSocket connection. `head` holds the part of the `101` not yet
    /// written (empty once written, its allocation given back).
    Open {
        conn: Box<Connection>,
        head: Vec<u8>,
        written: usize,
        shut: bool,
    },
}

impl Phase {
    fn answer(out: Vec<u8>, until: Option<Duration>) -> Phase {
        Phase::Answer {
            out,
            written: 0,
            until,
            shut: false,
            discarded: 0,
        }
    }
}

/// What the loop does with a connection after its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Wait for readiness or its deadline.
    Wait,
    /// Serve it again next turn: input is left after its read budget.
    Again,
    /// Drop it.
    Close,
}

/// How an I/O call went, after `WouldBlock` cleared the readiness flag.
enum Io {
    Done(usize),
    Blocked,
    Failed(io::Error),
}

fn io_result(result: io::Result<usize>, ready: &mut bool) -> Io {
    match result {
        Ok(n) => Io::Done(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            *ready = false;
            Io::Blocked
        }
        // Retried by the caller's loop.
        Err(e) if e.kind() == ErrorKind::Interrupted => Io::Blocked,
        Err(e) => Io::Failed(e),
    }
}

impl Client {
    /// Everything the connection can do now without waiting.
    fn drive(&mut self, scratch: &mut [u8], options: &Options, now: Duration) -> Turn {
        loop {
            let next = match &mut self.phase {
                Phase::Head { .. } => match self.read_head(scratch, options, now) {
                    Ok(Some(next)) => next,
                    Ok(None) => return Turn::Wait,
                    Err(()) => return Turn::Close,
                },
                Phase::Answer { .. } => return self.answer(scratch, now),
                Phase::Open { .. } => return self.echo(scratch, now),
            };
            self.phase = next;
        }
    }

    /// Reads the request head; once complete, the phase that answers it.
    fn read_head(
        &mut self,
        scratch: &mut [u8],
        options: &Options,
        now: Duration,
    ) -> Result<Option<Phase>, ()> {
        let Phase::Head { buf, until } = &mut self.phase else {
            unreachable!("called in the Head phase");
        };
        if until.is_some_and(|until| now >= until) {
            eprintln!("{}: handshake timed out", self.peer);
            return Err(());
        }
        let limits = &options.limits;
        while self.readable {
            // Never more than the head's limit, so what follows the head
            // (frames sent before the 101 arrived) is bounded too.
            let room = limits.max_header_bytes.saturating_sub(buf.len()).max(1);
            let room = room.min(scratch.len());
            let n = match io_result(self.stream.read(&mut scratch[..room]), &mut self.readable) {
                Io::Done(0) => return Err(()), // gone before its head was complete
                Io::Done(n) => n,
                Io::Blocked => continue,
                Io::Failed(e) => {
                    eprintln!("{}: {e}", self.peer);
                    return Err(());
                }
            };
            buf.extend_from_slice(&scratch[..n]);
            match Request::parse(buf, limits) {
                Ok(Parsed::Partial) => {}
                Ok(Parsed::Complete(request, consumed)) => {
                    let rest = &buf[consumed..];
                    return Ok(Some(route(request, rest, options, *until)));
                }
                Err(error) => {
                    let response = Rejection::from(error).response();
                    return Ok(Some(Phase::answer(response, *until)));
                }
            }
        }
        Ok(None)
    }

    /// Writes an HTTP answer, shuts the write half, discards input a while.
    fn answer(&mut self, scratch: &mut [u8], now: Duration) -> Turn {
        let Phase::Answer {
            out,
            written,
            until,
            shut,
            discarded,
        } = &mut self.phase
        else {
            unreachable!("called in the Answer phase");
        };
        loop {
            if until.is_some_and(|until| now >= until) {
                return Turn::Close;
            }
            if *written < out.len() {
                if !self.writable {
                    return Turn::Wait;
                }
                match io_result(self.stream.write(&out[*written..]), &mut self.writable) {
                    Io::Done(0) => return Turn::Close,
                    Io::Done(n) => *written += n,
                    Io::Blocked => {}
                    Io::Failed(_) => return Turn::Close,
                }
                continue;
            }
            if !*shut {
                *out = Vec::new();
                *written = 0;
                *shut = true;
                *until = Some(now + LINGER);
                if self.stream.shutdown(Shutdown::Write).is_err() {
                    return Turn::Close;
                }
            }
            if !self.readable {
                return Turn::Wait;
            }
            match io_result(self.stream.read(scratch), &mut self.readable) {
                Io::Done(0) | Io::Failed(_) => return Turn::Close,
                Io::Done(n) => {
                    *discarded += n;
                    if *discarded >= LINGER_BYTES {
                        return Turn::Close;
                    }
                }
                Io::Blocked => {}
            }
        }
    }

    /// The WebSocket connection's turn: the core's call order (input, time,
    /// events, sends, output, teardown), round after round while there is
    /// input to read, output the socket takes, or a deadline due.
    fn echo(&mut self, scratch: &mut [u8], now: Duration) -> Turn {
        let Phase::Open {
            conn,
            head,
            written,
            shut,
        } = &mut self.phase
        else {
            unreachable!("called in the Open phase");
        };
        let peer = self.peer;
        let mut budget = READ_BUDGET;
        for _ in 0..ROUNDS {
            // Input, bounded by what the connection takes now; its events
            // are drained after each read, which makes room for the next.
            while self.readable && takes_input(conn) && budget > 0 {
                let room = conn.input_room().min(scratch.len()).min(budget);
                match io_result(self.stream.read(&mut scratch[..room]), &mut self.readable) {
                    Io::Done(0) => conn.receive_eof(),
                    Io::Done(n) => {
                        let taken = conn.receive(&scratch[..n]);
                        debug_assert_eq!(taken, n, "read no more than input_room");
                        budget -= n;
                        conn.handle_timeout(now);
                        echo_events(conn, peer);
                    }
                    Io::Blocked => {}
                    Io::Failed(e) => {
                        eprintln!("{peer}: {e}");
                        return Turn::Close;
                    }
                }
            }
            conn.handle_timeout(now);
            echo_events(conn, peer);

            // Output: the 101's rest first, then the connection's.
            while self.writable && (*written < head.len() || conn.wants_write()) {
                let result = if *written < head.len() {
                    self.stream.write(&head[*written..])
                } else {
                    conn.output().write_to(&mut self.stream)
                };
                match io_result(result, &mut self.writable) {
                    Io::Done(0) => return Turn::Close,
                    Io::Done(n) if *written < head.len() => {
                        *written += n;
                        if *written == head.len() {
                            *head = Vec::new();
                            *written = 0;
                        }
                    }
                    Io::Done(_) | Io::Blocked => {}
                    Io::Failed(e) => {
                        eprintln!("{peer}: {e}");
                        return Turn::Close;
                    }
                }
            }

            // Teardown, as the core says.
            if conn.may_close_transport() {
                return Turn::Close;
            }
            if conn.should_shutdown_write() && !*shut {
                *shut = true;
                if self.stream.shutdown(Shutdown::Write).is_err() {
                    return Turn::Close;
                }
            }
            let input = self.readable && takes_input(conn);
            if input && budget == 0 {
                return Turn::Again; // the others' turn first
            }
            let output = self.writable && conn.wants_write();
            let due = conn.poll_timeout().is_some_and(|at| at <= now);
            if !(input || output || due) {
                return Turn::Wait;
            }
        }
        if self.readable && takes_input(conn) {
            Turn::Again
        } else {
            Turn::Wait
        }
    }

    /// The readiness to wait for.
    fn interest(&self) -> Interest {
        let (read, write) = match &self.phase {
            Phase::Head { .. } => (true, false),
            Phase::Answer {
                out, written, shut, ..
            } => (*shut, *written < out.len()),
            Phase::Open {
                conn,
                head,
                written,
                ..
            } => (
                takes_input(conn),
                conn.wants_write() || *written < head.len(),
            ),
        };
        match (read, write) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            // Neither: it is about to be dropped, or waits for a deadline;
            // mio needs some interest.
            (_, false) => Interest::READABLE,
        }
    }

    /// When the connection must next be driven even if nothing happens.
    fn next_deadline(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Head { until, .. } | Phase::Answer { until, .. } => *until,
            Phase::Open { conn, .. } => conn.poll_timeout(),
        }
    }
}

/// What a complete request head gets: the WebSocket upgrade (on `/ws`, or
/// any upgrade request, as `echo_server` does), or a plain HTTP answer.
fn route(request: Request, rest: &[u8], options: &Options, until: Option<Duration>) -> Phase {
    if !(request.is_websocket_upgrade() || request.path() == "/ws") {
        let page = support::plain_http(request.method(), request.path(), PAGE);
        return Phase::answer(page, until);
    }
    match upgrade(request, rest, options) {
        Ok((head, conn)) => Phase::Open {
            conn: Box::new(conn),
            head,
            written: 0,
            shut: false,
        },
        Err(rejection) => Phase::answer(rejection.response(), until),
    }
}

/// Validates a WebSocket handshake and accepts it: the `101` and the
/// connection, which has taken the bytes that followed the head.
fn upgrade(
    request: Request,
    rest: &[u8],
    options: &Options,
) -> Result<(Vec<u8>, Connection), Rejection> {
    let upgrade = UpgradeRequest::validate(request)?;
    // Only this server's pages (or `--allow-origin`): 403 before the
    // upgrade otherwise; 421 for a Host not in `--host`.
    options.gate.check(&upgrade)?;
    // RFC 7692: permessage-deflate if the configuration enables it; the
    // response and the agreement the connection is built from come as one.
    let accepted = upgrade.agree(&AcceptOptions {
        #[cfg(feature = "deflate")]
        deflate: Some(&options.config.deflate),
        ..AcceptOptions::default()
    })?;
    let head = accepted.response;
    let mut conn = Connection::from_agreement(accepted.agreement, options.config.clone());
    // At most the head's 8 KiB limit was read, well under the 64 KiB the
    // connection takes unpolled.
    let taken = conn.receive(rest);
    debug_assert_eq!(taken, rest.len());
    Ok((head, conn))
}

/// Whether to read from a connection now: when the core takes input and
/// the echoes queued so far are under the output high-water mark. The
/// core stops input by itself only while a reply of its own (a pong, a
/// close reply) is unwritten; the echoes are the application's output, so
/// stopping for them is this loop's backpressure: a client that sends and
/// never reads holds at most the mark plus one read's echoes.
fn takes_input(conn: &Connection) -> bool {
    conn.wants_read() && conn.output_len() <= conn.config().output_high_water
}

/// Drains the connection's events: every message goes back as it came.
/// Pings are answered and the peer's close is replied to by the core.
fn echo_events(conn: &mut Connection, peer: SocketAddr) {
    loop {
        match conn.poll_event() {
            Ok(Some(Event::Message(message))) => {
                if let Err(e) = conn.send(&message) {
                    eprintln!("{peer}: cannot echo: {e}");
                }
            }
            Ok(Some(Event::Lost(lost))) => eprintln!("{peer}: {lost}"),
            Ok(Some(_)) => {}
            Ok(None) => return,
            // The close frame with this code is already queued.
            Err(e) => eprintln!("{peer}: {e}; closed with {}", e.close_code()),
        }
    }
}

// ---- options -----------------------------------------------------------------------

struct Options {
    addr: String,
    /// Every connection's settings: [`Config`]'s defaults, keepalive from
    /// the flags, permessage-deflate unless `--no-deflate`.
    config: Config,
    /// Who may connect: `--allow-origin`, `--any-origin`, `--host`.
    gate: access::Gate,
    limits: Limits,
    max_connections: usize,
}

fn parse_args() -> Options {
    let mut addr = String::from("127.0.0.1:9004");
    let mut deflate = true;
    let mut max_connections = 10_000;
    let mut limits = Limits::default();
    let mut keepalive = Keepalive::default();
    let mut access = access::Access::default();
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match access.parse(&arg, || args.next()) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(message) => usage_error(&message),
        }
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{USAGE}\n{}", access::USAGE);
                process::exit(0);
            }
            "--no-deflate" => deflate = false,
            "--max-connections" => {
                max_connections = match args.next().map(|n| n.parse::<usize>()) {
                    Some(Ok(n)) if n > 0 => n,
                    _ => usage_error("--max-connections needs a positive number"),
                }
            }
            "--handshake-timeout" => limits.timeout = Some(seconds(&arg, args.next())),
            "--ping-after" => keepalive.ping_after = seconds(&arg, args.next()),
            "--keepalive-timeout" => keepalive.timeout = seconds(&arg, args.next()),
            "--addr" => match args.next() {
                Some(value) => addr = value,
                None => usage_error("--addr needs a value"),
            },
            _ => match arg.strip_prefix("--addr=") {
                Some(value) => addr = value.to_string(),
                None => usage_error(&format!("unknown argument {arg:?}")),
            },
        }
    }
    // One budget for the message bytes of every connection together.
    let config = Config::default()
        .keepalive(Some(keepalive))
        .budget(Some(access.budget()));
    Options {
        addr,
        config: with_deflate(config, deflate),
        gate: access::Gate::new(&access),
        limits,
        max_connections,
    }
}

/// permessage-deflate with no context takeover either way, as `echo_server`.
#[cfg(feature = "deflate")]
fn with_deflate(config: Config, on: bool) -> Config {
    if on {
        config.deflate(support::deflate_policy())
    } else {
        config
    }
}

/// Without the `deflate` feature the extension is always declined.
#[cfg(not(feature = "deflate"))]
fn with_deflate(config: Config, _: bool) -> Config {
    config
}

/// The value of `flag`: a positive number of seconds.
fn seconds(flag: &str, value: Option<String>) -> Duration {
    match value.as_deref().map(str::parse::<f64>) {
        Some(Ok(n)) if n > 0.0 && n.is_finite() => Duration::from_secs_f64(n),
        _ => usage_error(&format!("{flag} needs a positive number of seconds")),
    }
}

fn usage_error(message: &str) -> ! {
    eprintln!("mio_echo_server: {message}\n\n{USAGE}\n{}", access::USAGE);
    process::exit(2);
}
