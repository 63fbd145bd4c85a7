//! `axum_chat --redis`: several processes, one chat, over a real Redis
//! (Debian's `redis-server` on a free loopback port, no persistence,
//! stopped by PID: tests/redis_harness; a missing one fails the test).
//! One order for every member on every process, each message once;
//! private messages across processes; nicknames unique across processes;
//! a process killed with SIGKILL has its members announced as gone within
//! the presence bound; Redis restarted: the room is degraded, then back;
//! the SSE and long-poll readers of one process see what the WebSocket
//! members of the others say, in the same order; a process started before
//! its Redis waits for it.
//!
//! The timings are small (`--heartbeat 0.2 --presence-ttl 0.6`): a dead
//! process's members must be announced within 0.8 s of its last heartbeat.

mod app_harness;
mod chat_http;
mod redis_harness;

use std::collections::{BTreeSet, HashSet};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use app_harness::{Client, Server};
use chat_http::{Stream, post};
use redis_harness::Redis;
use rfc6455::CloseCode;
use serde_json::{Value, json};

/// The presence timings every process of these tests gets.
const HEARTBEAT: f64 = 0.2;
const PRESENCE_TTL: f64 = 0.6;

/// A chat process on `redis`, with the test timings and `args`.
fn chat(redis: &Redis, args: &[&str]) -> Server {
    let url = redis.url();
    let heartbeat = HEARTBEAT.to_string();
    let ttl = PRESENCE_TTL.to_string();
    let mut all = vec![
        "--redis",
        &url,
        "--heartbeat",
        &heartbeat,
        "--presence-ttl",
        &ttl,
        "--redis-timeout",
        "0.5",
        "--redis-backoff",
        "0.3",
    ];
    all.extend_from_slice(args);
    let server = Server::start("axum_chat", &all);
    wait_until_up(&server);
    server
}

/// `/health` of `server`.
fn health(server: &Server) -> Value {
    let (status, head, body) = server.get("/health");
    assert_eq!(status, 200, "{head}");
    serde_json::from_slice(&body).expect("JSON")
}

/// Waits until `server`'s session with Redis is up.
fn wait_until_up(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(server)["redis"] != "up" {
        assert!(Instant::now() < deadline, "never connected to Redis");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The next event of `client` that is not a join, leave or status notice.
fn next_said(client: &mut Client) -> Value {
    loop {
        let event = client.next();
        if !matches!(event["type"].as_str(), Some("join" | "leave" | "status")) {
            return event;
        }
    }
}

/// Three processes, 100 members each, on one Redis. Each member sends 20
/// room messages and 2 private ones (to members on other processes).
/// Every member receives each of the 6,000 room messages exactly once, in
/// the same order as every other member (their ids growing), and exactly
/// the private messages sent to it or by it; nobody is dropped.
#[test]
fn three_processes_one_room_one_order_and_private_messages_across() {
    const PROCESSES: usize = 3;
    const PER_PROCESS: usize = 100;
    const ROOM_MESSAGES: usize = 20;
    const USERS: usize = PROCESSES * PER_PROCESS;
    let redis = Redis::start();
    // Presence timings that a loaded 2-core machine keeps (a late heartbeat
    // would have a live process taken for dead and its members announced gone).
    let args = [
        "--heartbeat",
        "0.5",
        "--presence-ttl",
        "5",
        "--redis-timeout",
        "5",
        "--line-burst",
        "100",
        "--queue",
        "20000",
        "--queue-bytes",
        "67108864",
    ];
    let servers: Vec<Server> = (0..PROCESSES).map(|_| chat(&redis, &args)).collect();
    let barrier = Arc::new(Barrier::new(USERS));
    let start = Instant::now();
    let members: Vec<_> = (0..USERS)
        .map(|i| {
            let addr = servers[i % PROCESSES].addr;
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut me = join(addr, &format!("u{i}"));
                barrier.wait();
                for k in 0..ROOM_MESSAGES {
                    me.send(&json!({"text": format!("m{i}-{k}")}));
                }
                // To the next member (on the next process) and to one 101 on.
                for (j, to) in [(i + 1) % USERS, (i + 101) % USERS].into_iter().enumerate() {
                    me.send(&json!({"text": format!("p{i}-{j}"), "to": format!("u{to}")}));
                }
                let mut room = Vec::new();
                let mut private = BTreeSet::new();
                let deadline = Instant::now() + Duration::from_secs(60);
                while room.len() < USERS * ROOM_MESSAGES || private.len() < 4 {
                    assert!(
                        Instant::now() < deadline,
                        "u{i}: {} room messages",
                        room.len()
                    );
                    let event = me.next();
                    match event["type"].as_str() {
                        Some("message") => room.push((
                            event["id"].as_u64().expect("an id"),
                            format!("{}:{}", event["from"], event["text"]),
                        )),
                        Some("private") => {
                            let line =
                                format!("{}>{}:{}", event["from"], event["to"], event["text"]);
                            assert!(private.insert(line), "u{i}: a private message twice");
                        }
                        Some("join") => {}
                        _ => panic!("u{i}: unexpected {event}"),
                    }
                }
                (room, private)
            })
        })
        .collect();
    let results: Vec<_> = members
        .into_iter()
        .map(|member| member.join().expect("a member's thread"))
        .collect();
    eprintln!(
        "{USERS} members, {} room deliveries in {:?}",
        USERS * USERS * ROOM_MESSAGES,
        start.elapsed()
    );
    let expected: HashSet<String> = (0..USERS)
        .flat_map(|i| (0..ROOM_MESSAGES).map(move |k| format!("\"u{i}\":\"m{i}-{k}\"")))
        .collect();
    let first: Vec<&String> = results[0].0.iter().map(|(_, line)| line).collect();
    let distinct: HashSet<String> = first.iter().map(|line| line.to_string()).collect();
    assert_eq!(distinct.len(), first.len(), "a room message twice");
    assert_eq!(distinct, expected, "not every room message");
    for (i, (room, private)) in results.iter().enumerate() {
        let order: Vec<&String> = room.iter().map(|(_, line)| line).collect();
        assert!(order == first, "u{i} saw another order than u0");
        assert!(
            room.windows(2).all(|w| w[0].0 < w[1].0),
            "u{i}: ids not growing"
        );
        let mut mine = BTreeSet::new();
        for (from, to, j) in [
            (i, (i + 1) % USERS, 0),
            (i, (i + 101) % USERS, 1),
            ((i + USERS - 1) % USERS, i, 0),
            ((i + USERS - 101) % USERS, i, 1),
        ] {
            mine.insert(format!("\"u{from}\">\"u{to}\":\"p{from}-{j}\""));
        }
        assert_eq!(private, &mine, "u{i}'s private messages");
    }
}

/// Nicknames are unique across processes (the same name, and a look-alike:
/// 1008 with the error), a welcome lists the members of every process and
/// names this one, a private message to someone unknown is an error for
/// the sender only.
#[test]
fn nicknames_are_unique_across_processes_and_the_welcome_names_the_server() {
    let redis = Redis::start();
    let one = chat(&redis, &["--server-name", "one"]);
    let two = chat(&redis, &["--server-name", "two"]);
    let mut alice = one.connect("?name=alice");
    let welcome = alice.expect("welcome");
    assert_eq!(welcome["server"], "one");
    alice.until("join", |e| e["user"] == "alice");
    let mut bob = two.connect("?name=bob");
    let welcome = bob.expect("welcome");
    assert_eq!(welcome["server"], "two");
    assert_eq!(app_harness::names(&welcome["users"]), ["alice", "bob"]);
    bob.until("join", |e| e["user"] == "bob");
    assert_eq!(alice.until("join", |e| e["user"] == "bob")["online"], 2);
    for (query, why) in [
        ("alice", "already taken"),
        ("aIice", "looks like \"alice\""),
    ] {
        let mut impostor = two.connect(&format!("?name={query}"));
        let error = impostor.expect("error");
        assert!(error["error"].as_str().unwrap().contains(why), "{error}");
        let (code, _) = impostor.read_to_close();
        assert_eq!(code, Some(CloseCode::POLICY_VIOLATION));
    }
    bob.send(&json!({"text": "psst", "to": "nobody"}));
    let error = bob.expect("error");
    assert_eq!(error["error"], "nobody is not online");
    bob.send(&json!({"text": "hi alice", "to": "alice"}));
    let private = alice.expect("private");
    assert_eq!(
        (&private["from"], &private["text"]),
        (&json!("bob"), &json!("hi alice"))
    );
    assert_eq!(bob.expect("private")["text"], "hi alice");
    // Once alice leaves, her name is free on the other process.
    alice.close();
    assert_eq!(
        bob.until("leave", |e| e["user"] == "alice")["reason"],
        "left"
    );
    let mut again = two.connect("?name=alice");
    assert_eq!(again.expect("welcome")["you"], "alice");
}

/// SIGKILL one of three processes mid-chat: the members of the others are
/// told its members left (`server gone`) within the presence bound
/// (presence-ttl + heartbeat after its last heartbeat, plus slack), chat on
/// among themselves, and a name of the dead process can be taken again.
#[test]
fn a_killed_process_has_its_members_announced_gone_and_the_others_chat_on() {
    let redis = Redis::start();
    let servers: Vec<Server> = (0..3).map(|_| chat(&redis, &[])).collect();
    let mut members: Vec<Vec<Client>> = servers
        .iter()
        .enumerate()
        .map(|(p, server)| (0..4).map(|i| server.join(&format!("s{p}m{i}"))).collect())
        .collect();
    // Everyone has seen everyone join: mid-run, some room traffic first.
    for survivor in members[..2].iter_mut().flatten() {
        survivor.until("join", |e| e["user"] == "s2m3");
    }
    members[2][0].send(&json!({"text": "last words"}));
    for survivor in members[..2].iter_mut().flatten() {
        assert_eq!(next_said(survivor)["text"], "last words");
    }
    let killed = Command::new("kill")
        .args(["-KILL", &servers[2].process.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let at = Instant::now();
    // The room goes on at once, before the dead process's members are
    // known to be gone.
    members[0][1].send(&json!({"text": "during"}));
    let bound = Duration::from_secs_f64(PRESENCE_TTL + HEARTBEAT) + Duration::from_millis(1500);
    for survivor in members[..2].iter_mut().flatten() {
        let mut gone = BTreeSet::new();
        let mut during = 0;
        while gone.len() < 4 || during == 0 {
            let event = survivor.next();
            match event["type"].as_str() {
                Some("leave") => {
                    assert_eq!(event["reason"], "server gone", "{event}");
                    assert!(gone.insert(event["user"].as_str().unwrap().to_string()));
                }
                Some("message") => {
                    assert_eq!(event["text"], "during");
                    during += 1;
                }
                _ => panic!("unexpected {event}"),
            }
        }
        assert!(at.elapsed() < bound, "announced after {:?}", at.elapsed());
        assert_eq!(gone, (0..4).map(|i| format!("s2m{i}")).collect());
    }
    eprintln!(
        "the dead process's members were announced gone after {:?}",
        at.elapsed()
    );
    members[1][2].send(&json!({"text": "still here"}));
    for survivor in members[..2].iter_mut().flatten() {
        let said = next_said(survivor);
        assert_eq!(
            (&said["from"], &said["text"]),
            (&json!("s1m2"), &json!("still here"))
        );
    }
    let mut heir = servers[0].connect("?name=s2m0");
    assert_eq!(heir.expect("welcome")["you"], "s2m0");
}

/// Redis restarted mid-chat: every member is told the room is degraded, a
/// line meanwhile is refused with an error (not kept), a newcomer is
/// refused with 1013; once Redis is back (the same port, empty), every
/// process reconnects, its members are told the room is back with who is
/// online, the names are claimed again, and chat resumes across processes.
#[test]
fn a_redis_restart_degrades_the_room_then_every_process_recovers() {
    let redis = Redis::start();
    let servers: Vec<Server> = (0..2).map(|_| chat(&redis, &[])).collect();
    let mut members: Vec<Client> = (0..4)
        .map(|i| servers[i % 2].join(&format!("r{i}")))
        .collect();
    for member in &mut members[..3] {
        member.until("join", |e| e["user"] == "r3");
    }
    let port = redis.stop();
    for member in &mut members {
        let status = member.until("status", |_| true);
        assert_eq!(status["room"], "degraded", "{status}");
    }
    members[0].send(&json!({"text": "into the void"}));
    let error = members[0].expect("error");
    assert!(
        error["error"].as_str().unwrap().contains("degraded"),
        "{error}"
    );
    let mut newcomer = servers[1].connect("?name=late");
    assert!(
        newcomer.expect("error")["error"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );
    assert_eq!(newcomer.read_to_close().0, Some(CloseCode::TRY_AGAIN_LATER));
    assert_eq!(health(&servers[0])["redis"], "degraded");
    let (status, response) = post(&servers[0], "/chat/post", "chat_name=poster", "text=void");
    assert_eq!(status, 503, "{response}");

    let _redis = Redis::start_on(port);
    let back = Instant::now();
    for member in &mut members {
        let status = member.until("status", |_| true);
        assert_eq!(status["room"], "ok", "{status}");
    }
    for server in &servers {
        wait_until_up(server);
    }
    eprintln!("recovered {:?} after Redis came back", back.elapsed());
    // Every name is claimed again, on the restarted Redis.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut probe = servers[0].connect("?name=r1");
        let first = probe.next();
        if first["type"] == "error" {
            assert!(
                first["error"].as_str().unwrap().contains("taken"),
                "{first}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "r1 never claimed again: {first}");
        probe.close();
        thread::sleep(Duration::from_millis(50));
    }
    members[3].send(&json!({"text": "we are back"}));
    for member in &mut members {
        let said = next_said(member);
        assert_eq!(
            (&said["from"], &said["text"]),
            (&json!("r3"), &json!("we are back"))
        );
    }
}

/// A process started before its Redis serves anyway: `/health` says the
/// room is degraded, a newcomer is refused with an error and 1013 (the
/// page comes back by itself), and once Redis is up the process connects
/// within its backoff and lets members in. A `--redis` that is no
/// redis:// URL is a usage error (exit 2).
#[test]
fn a_process_started_before_redis_waits_for_it_without_failing() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let server = Server::start(
        "axum_chat",
        &[
            "--redis",
            &url,
            "--redis-timeout",
            "0.5",
            "--redis-backoff",
            "0.3",
        ],
    );
    assert_eq!(health(&server)["redis"], "degraded");
    let mut early = server.connect("?name=early");
    assert!(
        early.expect("error")["error"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );
    assert_eq!(early.read_to_close().0, Some(CloseCode::TRY_AGAIN_LATER));
    let _redis = Redis::start_on(port);
    wait_until_up(&server);
    let mut member = server.connect("?name=early");
    assert_eq!(member.expect("welcome")["you"], "early");

    let binary = app_harness::example_binary("axum_chat");
    let output = Command::new(binary)
        .args(["--redis", "localhost:6379"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("redis://"));
}

/// `POST /chat/post` on one process, a WebSocket member on another, and an
/// SSE reader and a long-poller on a third: all in one room, one order.
#[test]
fn sse_and_long_poll_readers_see_the_websocket_room_of_other_processes() {
    let redis = Redis::start();
    let servers: Vec<Server> = (0..3).map(|_| chat(&redis, &[])).collect();
    let mut ws = servers[0].join("wsuser");
    let mut sse = Stream::open(&servers[2], "");
    let since = {
        let (_, _, body) = servers[2].get("/chat/poll");
        let now: Value = serde_json::from_slice(&body).unwrap();
        now["last"].as_u64().unwrap()
    };
    let poll_addr = servers[2].addr;
    let poller = thread::spawn(move || {
        let (status, _, body) = app_harness::http_get(
            app_harness::tcp(poll_addr),
            poll_addr,
            &format!("/chat/poll?since={since}"),
        );
        assert_eq!(status, 200);
        serde_json::from_slice::<Value>(&body).unwrap()
    });
    thread::sleep(Duration::from_millis(200)); // the poll is held
    let (status, _) = post(
        &servers[1],
        "/chat/post",
        "chat_name=poster",
        "text=from+http",
    );
    assert_eq!(status, 204);
    ws.send(&json!({"text": "from ws"}));
    let first = next_said(&mut ws);
    let second = next_said(&mut ws);
    assert_eq!(
        (&first["from"], &first["text"]),
        (&json!("poster"), &json!("from http"))
    );
    assert_eq!(second["text"], "from ws");
    let polled = poller.join().unwrap();
    assert_eq!(polled["messages"][0]["id"], first["id"], "{polled}");
    sse.read_until("from ws");
    let ids = sse.ids();
    let both = [
        first["id"].as_u64().unwrap(),
        second["id"].as_u64().unwrap(),
    ];
    assert!(ids.ends_with(&both), "{}", sse.seen);
}

/// A member joined as `name` on the server at `addr`, past its welcome
/// and its own join notice (`Server::join`, for a thread of its own).
fn join(addr: std::net::SocketAddr, name: &str) -> Client {
    let mut client = Client::connect(addr, &format!("?name={name}"));
    assert_eq!(client.expect("welcome")["you"], name);
    client.until("join", |e| e["user"] == name);
    client
}
