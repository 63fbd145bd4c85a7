//! A bounded load run of `axum_chat --redis`: three processes on one real
//! `redis-server` (loopback, no persistence), WebSocket members spread over
//! them, every member a reader. Reports, for each phase, deliveries per
//! second and the latency from a message's send to its arrival at the
//! *last* of its receivers (p50, p99, max), plus the servers' CPU per
//! delivery.
//!
//! * `paced`: 8 senders on each process take turns, one room message
//!   every 5 ms (light load: the latency of the path itself);
//! * `burst`: every member sends 20 messages at once (the queues fill: the
//!   latency is mostly waiting).
//!
//! ```text
//! cargo bench --features axum --bench chat_redis            # 3 x 100 members
//! cargo test --features axum --bench chat_redis              # 3 x 5, a check only
//! ```
//!
//! The members are blocking clients on threads of this process, on the
//! same machine as the servers and Redis: their CPU is in the figures'
//! denominator. Needs `redis-server` (`bash tests/redis/setup.sh`).

#[path = "../tests/app_harness/mod.rs"]
mod app_harness;
#[path = "../tests/redis_harness/mod.rs"]
mod redis_harness;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use app_harness::{Client, Server, proc_stats};
use redis_harness::Redis;
use serde_json::json;

const PROCESSES: usize = 3;

struct Run {
    per_process: usize,
    paced_messages: usize,
    burst_each: usize,
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let run = if full {
        Run {
            per_process: 100,
            paced_messages: 600,
            burst_each: 20,
        }
    } else {
        Run {
            per_process: 5,
            paced_messages: 20,
            burst_each: 3,
        }
    };
    let redis = Redis::start();
    let url = redis.url();
    let servers: Vec<Server> = (0..PROCESSES)
        .map(|_| {
            Server::start(
                "axum_chat",
                &[
                    "--redis",
                    &url,
                    "--line-burst",
                    "1000",
                    "--line-rate",
                    "1000",
                    "--queue",
                    "100000",
                    "--queue-bytes",
                    "268435456",
                ],
            )
        })
        .collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    for server in &servers {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&server.get("/health").2).contains("\"redis\":\"up\"") {
            assert!(Instant::now() < deadline, "never connected to Redis");
            thread::sleep(Duration::from_millis(20));
        }
    }
    let users = PROCESSES * run.per_process;
    println!(
        "chat_redis: {PROCESSES} processes x {} members ({users} receivers)",
        run.per_process
    );
    let pids: Vec<u32> = servers.iter().map(|s| s.process.id()).collect();
    let mut members: Vec<Client> = (0..users)
        .map(|i| join(addrs[i % PROCESSES], &format!("b{i}")))
        .collect();
    // Everyone has seen everyone's join before the clock starts.
    for member in &mut members[..users - 1] {
        member.until("join", |e| e["user"] == format!("b{}", users - 1));
    }

    // Paced: 8 more connections on each process only send (they are in
    // the room too, and not counted as receivers), then leave.
    let mut senders: Vec<Client> = (0..8 * PROCESSES)
        .map(|i| join(addrs[i % PROCESSES], &format!("s{i}")))
        .collect();
    let plan: Vec<(usize, String)> = (0..run.paced_messages)
        .map(|k| (k % senders.len(), format!("paced-{k}")))
        .collect();
    let (members, report) = phase(
        members,
        &pids,
        plan,
        Some((&mut senders, Duration::from_millis(5))),
    );
    report.print("paced");
    for sender in senders {
        drop(sender); // no close handshake: their unread messages would delay it
    }

    let plan: Vec<(usize, String)> = (0..run.burst_each)
        .flat_map(|k| (0..users).map(move |i| (i, format!("burst-{i}-{k}"))))
        .collect();
    let (_members, report) = phase(members, &pids, plan, None);
    report.print("burst");
}

fn join(addr: SocketAddr, name: &str) -> Client {
    let mut client = Client::connect(addr, &format!("?name={name}"));
    assert_eq!(client.expect("welcome")["you"], name);
    client.until("join", |e| e["user"] == name);
    client
}

struct Report {
    deliveries: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    server_cpu: Duration,
}

impl Report {
    fn print(&self, name: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name:>6}: {} messages, {} deliveries in {:.2?}: {:.0} deliveries/s; \
             send -> last receiver p50 {:.2?}, p99 {:.2?}, max {:.2?}; \
             server CPU {:.2} us/delivery (3 processes)",
            sorted.len(),
            self.deliveries,
            self.elapsed,
            self.deliveries as f64 / self.elapsed.as_secs_f64(),
            at(0.5),
            at(0.99),
            sorted[sorted.len() - 1],
            self.server_cpu.as_secs_f64() * 1e6 / self.deliveries as f64,
        );
    }
}

/// Sends `plan` (sender, text): with `paced`, from those connections, one
/// every gap; without, each member its own share at once from its own
/// thread. Every member reads until it has every message; every member
/// must receive each message once, all in one order.
fn phase(
    members: Vec<Client>,
    pids: &[u32],
    plan: Vec<(usize, String)>,
    paced: Option<(&mut Vec<Client>, Duration)>,
) -> (Vec<Client>, Report) {
    let users = members.len();
    let expected = plan.len();
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let cpu_before: Duration = pids.iter().map(|&pid| proc_stats(pid).cpu).sum();
    let barrier = Arc::new(Barrier::new(users + 1));
    let mut share: Vec<Vec<String>> = vec![Vec::new(); users];
    if paced.is_none() {
        for (sender, text) in &plan {
            share[*sender].push(text.clone());
        }
    }
    let readers: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, mut member)| {
            let barrier = Arc::clone(&barrier);
            let sent = Arc::clone(&sent);
            let mine = std::mem::take(&mut share[i]);
            thread::spawn(move || {
                barrier.wait();
                for text in &mine {
                    sent.lock().unwrap().insert(text.clone(), Instant::now());
                    member.send(&json!({"text": text}));
                }
                let mut got = Vec::with_capacity(expected);
                while got.len() < expected {
                    let event = member.next();
                    if event["type"] == "message" {
                        let text = event["text"].as_str().unwrap().to_string();
                        got.push((text, Instant::now()));
                    }
                }
                (member, got)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    if let Some((senders, gap)) = paced {
        for (k, (sender, text)) in plan.iter().enumerate() {
            let due = start + gap * k as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            sent.lock().unwrap().insert(text.clone(), Instant::now());
            senders[*sender].send(&json!({"text": text}));
        }
    }
    let mut members = Vec::with_capacity(users);
    let mut last: HashMap<String, Instant> = HashMap::new();
    let mut order: Option<Vec<String>> = None;
    for reader in readers {
        let (member, got) = reader.join().expect("a member's thread");
        let texts: Vec<String> = got.iter().map(|(text, _)| text.clone()).collect();
        match &order {
            None => order = Some(texts),
            Some(first) => assert!(first == &texts, "two members saw two orders"),
        }
        for (text, at) in got {
            let entry = last.entry(text).or_insert(at);
            *entry = (*entry).max(at);
        }
        members.push(member);
    }
    let elapsed = start.elapsed();
    let cpu_after: Duration = pids.iter().map(|&pid| proc_stats(pid).cpu).sum();
    let sent = sent.lock().unwrap();
    assert_eq!(last.len(), expected, "not every message arrived");
    let latencies = last
        .iter()
        .map(|(text, at)| at.duration_since(sent[text]))
        .collect();
    (
        members,
        Report {
            deliveries: expected * users,
            elapsed,
            latencies,
            server_cpu: cpu_after - cpu_before,
        },
    )
}
