//! Load test of `examples/chat_server.rs`: 200 clients in the room, each
//! sends 50 messages; 20 of them are killed in the middle of a frame during
//! the run. Every client that stays connected must receive every room
//! message exactly once, each sender's messages in the order sent, and all
//! of them in one global order (the same for everyone); it must also see
//! every killed client announced as gone, and nothing else leave.
//!
//! The survivors' messages must all arrive. A killed client's last whole
//! messages may not: it shuts its socket down, the server's next broadcast
//! to it is answered with a TCP reset, and a reset discards what the
//! server's kernel had received but the server had not read yet. So of a
//! killed client's messages, every survivor must see the same first few.
//!
//! Prints the delivered-messages/s figure; for the number worth quoting run
//!
//! ```text
//! cargo test --release --test chat_load -- --nocapture
//! ```
//!
//! Each client is our blocking client split in two ([`WebSocket::split`]):
//! a reader thread per client, and four sender threads that take turns
//! over all the writers, sending a burst of ten messages for each. Every
//! other client offers permessage-deflate, as browsers do, and must get it
//! (the server inflates their messages; its broadcasts, under its 512-byte
//! threshold, go uncompressed to all); the others offer nothing.

mod app_harness;
use app_harness::{Server, tcp};

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use rfc6455::Message;
use rfc6455::blocking::{Reader, WebSocket, Writer};
use serde_json::{Value, json};

const CLIENTS: usize = 200;
const MESSAGES: usize = 50;
/// Clients `0..VICTIMS` are killed mid-frame, client `v` in round `kill_round(v)`.
const VICTIMS: usize = 20;
const SENDER_THREADS: usize = 4;
/// A client sends its messages in bursts of this many (one write each).
const BURST: usize = 10;
/// The whole run must finish within this, or the test fails.
const DEADLINE: Duration = Duration::from_secs(90);

/// The round in which victim `v` is killed, spread over the run: it sends
/// that many whole messages first.
fn kill_round(v: usize) -> usize {
    5 + 2 * v
}

fn name(i: usize) -> String {
    format!("u{i}")
}

/// Enforces the deadlines of blocked reads: the adapter's reads wait for the
/// next message (they run the connection's timers themselves and take no
/// read timeout from the caller), so a thread shuts every client socket down
/// once the deadline passes, which makes each blocked `read` return an error
/// that reports the deadline.
struct Watchdog {
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    deadline: Arc<Mutex<Instant>>,
    /// Dropped when the test is done: the thread ends.
    _stop: mpsc::Sender<()>,
}

impl Watchdog {
    fn start(deadline: Instant) -> Watchdog {
        let sockets: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let deadline = Arc::new(Mutex::new(deadline));
        let (stop, stopped) = mpsc::channel::<()>();
        let (watched, until) = (Arc::clone(&sockets), Arc::clone(&deadline));
        thread::spawn(move || {
            loop {
                let at = *until.lock().unwrap_or_else(PoisonError::into_inner);
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match stopped.recv_timeout(left) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {} // the deadline may have moved
                    _ => return,
                }
            }
            for socket in watched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
            {
                let _ = socket.shutdown(Shutdown::Both);
            }
        });
        Watchdog {
            sockets,
            deadline,
            _stop: stop,
        }
    }

    /// Watches another client's socket.
    fn watch(&self, socket: &TcpStream) {
        let clone = socket.try_clone().expect("a second handle on the socket");
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(clone);
    }

    /// Moves the deadline (the run has its own, after the joins).
    fn set_deadline(&self, deadline: Instant) {
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) = deadline;
    }
}

/// What one surviving client saw.
struct Seen {
    /// Room messages received from each client.
    from: Vec<usize>,
    /// A hash of the sequence of room messages: equal for equal orders.
    order: u64,
    /// Clients announced as gone, with the reason.
    left: Vec<(String, String)>,
}

/// Reads until every survivor's messages and every victim's leave notice
/// have arrived (a victim's messages come before its leave notice),
/// checking that each sender's messages come exactly once, in order.
fn read_all(mut reader: Reader, me: usize, start: Instant) -> Seen {
    let mut next = vec![0usize; CLIENTS];
    let mut order = DefaultHasher::new();
    let mut left = Vec::new();
    let mut survivors_messages = 0;
    let expected = (CLIENTS - VICTIMS) * MESSAGES;
    while survivors_messages < expected || left.len() < VICTIMS {
        // The watchdog cuts the socket at the deadline: the read fails then.
        let read = reader.read();
        if start.elapsed() > DEADLINE {
            let short: Vec<String> = next
                .iter()
                .enumerate()
                .filter(|&(from, &got)| {
                    got != if from < VICTIMS {
                        kill_round(from)
                    } else {
                        MESSAGES
                    }
                })
                .map(|(from, got)| format!("{from}: {got}"))
                .collect();
            panic!(
                "client {me}: {survivors_messages} of {expected} messages, {} leaves after \
                 {DEADLINE:?}; short: {short:?}",
                left.len()
            );
        }
        let text = match read {
            Ok(Some(Message::Text(text))) => text,
            other => panic!("client {me}: expected a text message, got {other:?}"),
        };
        let event: Value = serde_json::from_str(&text).expect("JSON");
        match event["type"].as_str() {
            Some("message") => {
                let body = event["text"].as_str().unwrap();
                let mut fields = body.split(' ');
                let from: usize = fields.next().unwrap().parse().unwrap();
                let n: usize = fields.next().unwrap().parse().unwrap();
                assert_eq!(event["from"], name(from).as_str());
                assert_eq!(
                    n, next[from],
                    "client {me}: message {n} from {from} out of order"
                );
                next[from] += 1;
                order.write(body.as_bytes());
                if from >= VICTIMS {
                    survivors_messages += 1;
                }
            }
            Some("leave") => left.push((
                event["user"].as_str().unwrap().to_string(),
                event["reason"].as_str().unwrap().to_string(),
            )),
            Some("join") => panic!("client {me}: a join after the start: {event}"),
            _ => panic!("client {me}: unexpected {event}"),
        }
    }
    for (from, &got) in next.iter().enumerate().take(VICTIMS) {
        assert!(
            got <= kill_round(from),
            "client {me}: {got} messages from victim {from}"
        );
    }
    Seen {
        from: next,
        order: order.finish(),
        left,
    }
}

/// Connects client `i` and waits until it has seen its own join notice
/// (so every later client's join reaches it as a notice before the run);
/// fails after `deadline`, which `watchdog` enforces.
fn join(addr: SocketAddr, i: usize, deadline: Instant, watchdog: &Watchdog) -> (Reader, Writer) {
    let stream = tcp(addr);
    watchdog.watch(&stream);
    let url = format!("ws://{addr}/ws?name={}", name(i));
    #[cfg(feature = "deflate")]
    let ws = if i.is_multiple_of(2) {
        use rfc6455::Config;
        use rfc6455::deflate::DeflateConfig;
        use rfc6455::handshake::ClientOptions;
        let config = Config::default().deflate(DeflateConfig::default());
        let (ws, response) =
            WebSocket::connect_with(stream, &url, ClientOptions::default(), config).unwrap();
        assert_eq!(
            response.header_str("Sec-WebSocket-Extensions"),
            Some(app_harness::EXAMPLE_DEFLATE)
        );
        ws
    } else {
        WebSocket::connect(stream, &url).unwrap().0
    };
    #[cfg(not(feature = "deflate"))]
    let ws = WebSocket::connect(stream, &url).unwrap().0;
    let (mut reader, writer) = ws.split().unwrap();
    until_joined(&mut reader, i, deadline);
    (reader, writer)
}

/// Reads join notices until client `last` has joined; fails after `deadline`
/// (the watchdog cuts the socket then, so that a blocked read returns).
fn until_joined(reader: &mut Reader, last: usize, deadline: Instant) {
    loop {
        let read = reader.read();
        assert!(
            Instant::now() < deadline,
            "the joins took longer than {DEADLINE:?}; still waiting for {}",
            name(last)
        );
        let text = match read {
            Ok(Some(text)) => text,
            other => panic!("expected join notices, got {other:?}"),
        };
        let event: Value = serde_json::from_str(text.as_text().unwrap()).unwrap();
        if event["type"] == "join" && event["user"] == name(last).as_str() {
            return;
        }
    }
}

/// Half of a masked text frame carrying `{"text": "..."}`: the peer sees
/// the frame start, then the connection ends.
fn half_a_frame() -> Vec<u8> {
    let payload = json!({"text": "this frame never ends"})
        .to_string()
        .into_bytes();
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame.truncate(frame.len() / 2);
    frame
}

#[test]
fn two_hundred_clients_fifty_messages_each_twenty_killed_mid_frame() {
    // Every client bursts all its messages at once, so a reader may fall
    // 10,000 room messages behind on this 2-core machine; the queue is sized
    // for the whole run, because this test is about exactly-once delivery in
    // one order. Dropping a client whose queue overflows is tested in
    // tests/chat_server.rs with the default queue.
    let queue = (CLIENTS * (MESSAGES + 4)).to_string();
    // Clients wait silently while the others join; on a loaded machine that
    // may take longer than the default 45 s idle timeout. This test is not
    // about keepalive (tests/chat_server.rs is), nor about the line rate
    // (every client sends its 50 messages within a second or two;
    // tests/chat_hostile.rs tests the rate).
    let server = Server::start(
        "chat_server",
        &[
            "--queue",
            &queue,
            "--idle-timeout",
            "600",
            "--line-burst",
            "1000",
            "--line-rate",
            "1000",
        ],
    );
    let addr = server.addr;

    // Everyone joins, one after the other.
    let joining = Instant::now();
    let deadline = joining + DEADLINE;
    let watchdog = Watchdog::start(deadline);
    let mut clients: Vec<(Reader, Writer)> = (0..CLIENTS)
        .map(|i| join(addr, i, deadline, &watchdog))
        .collect();
    for (reader, _) in clients.iter_mut().take(CLIENTS - 1) {
        until_joined(reader, CLIENTS - 1, deadline);
    }

    let joined = joining.elapsed();
    let start = Instant::now();
    watchdog.set_deadline(start + DEADLINE);
    let mut readers = Vec::new();
    let mut writers: Vec<Vec<(usize, Writer)>> = (0..SENDER_THREADS).map(|_| Vec::new()).collect();
    for (i, (reader, writer)) in clients.into_iter().enumerate() {
        writers[i % SENDER_THREADS].push((i, writer));
        readers.push(thread::spawn(move || {
            if i < VICTIMS {
                // A victim reads until it is killed.
                let mut reader = reader;
                while let Ok(Some(_)) = reader.read() {}
                None
            } else {
                Some(read_all(reader, i, start))
            }
        }));
    }

    // The senders: each takes its clients in turn, a burst of BURST
    // messages each, until all have sent MESSAGES; victim `v` writes half a
    // frame and drops its socket instead of its message `kill_round(v)`.
    let (done, finished) = mpsc::channel();
    let half = half_a_frame();
    let senders: Vec<_> = writers
        .into_iter()
        .map(|mut mine| {
            let (done, half) = (done.clone(), half.clone());
            thread::spawn(move || {
                for burst in (0..MESSAGES).step_by(BURST) {
                    for (i, writer) in &mut mine {
                        for n in burst..burst + BURST {
                            let i = *i;
                            if i < VICTIMS && n > kill_round(i) {
                                break;
                            }
                            if i < VICTIMS && n == kill_round(i) {
                                let mut socket = writer.get_ref();
                                let _ = socket.write_all(&half);
                                let _ = writer.shutdown();
                                break;
                            }
                            let text = format!("{i} {n} {}", "·".repeat(20));
                            writer
                                .queue_text(&json!({"text": text}).to_string())
                                .unwrap();
                        }
                        // Killed victims fail here; the others send the burst.
                        let _ = writer.flush();
                    }
                }
                done.send(()).unwrap();
                mine // the writers stay open until the readers are done
            })
        })
        .collect();
    drop(done);
    for _ in 0..SENDER_THREADS {
        finished.recv_timeout(DEADLINE).expect("the senders finish");
    }

    let seen: Vec<Seen> = readers
        .into_iter()
        .filter_map(|r| r.join().expect("a reader failed"))
        .collect();
    let elapsed = start.elapsed();
    for sender in senders {
        drop(sender.join().unwrap());
    }

    assert_eq!(seen.len(), CLIENTS - VICTIMS);
    let mut victims: Vec<String> = (0..VICTIMS).map(name).collect();
    victims.sort();
    for (k, client) in seen.iter().enumerate() {
        assert_eq!(
            client.from,
            seen[0].from,
            "client {} saw other messages",
            k + VICTIMS
        );
        assert_eq!(
            client.order,
            seen[0].order,
            "client {} saw another order",
            k + VICTIMS
        );
        let mut left: Vec<String> = client.left.iter().map(|(who, _)| who.clone()).collect();
        left.sort();
        assert_eq!(left, victims, "who left, as seen by client {}", k + VICTIMS);
        for (who, reason) in &client.left {
            assert_eq!(reason, "connection lost", "{who}");
        }
    }

    let room_messages: usize = seen[0].from.iter().sum();
    let from_victims: usize = seen[0].from[..VICTIMS].iter().sum();
    let delivered = room_messages * (CLIENTS - VICTIMS);
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "chat load ({build} build): {CLIENTS} clients joined in {:.2} s, {VICTIMS} killed \
         mid-frame; {room_messages} room messages ({from_victims} from the killed ones before \
         they died), {delivered} delivered to the {} survivors in {:.2} s: {:.0} delivered \
         messages/s",
        joined.as_secs_f64(),
        CLIENTS - VICTIMS,
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
}
