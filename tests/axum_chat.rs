//! End-to-end tests of `examples/axum_chat.rs` (feature `axum`): the chat
//! protocol tests of `chat_server` (tests/chat_protocol: join and leave
//! notices, room and private messages, nickname refusals, a slow reader
//! dropped, keepalive, the page, `--help`, Python `websockets` and Node
//! `ws` clients in the room, permessage-deflate) against the axum app, and
//! what is its own: the plain JSON route beside the socket, the flooder's
//! rate limit, the connection cap and graceful shutdown; each member's
//! bounded mailbox (examples/axum_chat/topic.rs, both policies, cancel
//! safety); the same room over plain HTTP (SSE with `Last-Event-ID`, long
//! polling, the login cookie and posts) and its gate (`--host`, the
//! `Origin` of posts). The chat across processes over Redis is
//! tests/chat_redis.rs.

mod app_harness;
mod chat_http;
#[macro_use]
mod chat_protocol;
// The example's mailbox, tested here as it is (examples have no test target).
#[allow(dead_code)]
#[path = "../examples/axum_chat/topic.rs"]
mod topic;

use std::time::{Duration, Instant};

use app_harness::{Client, Server};
use chat_http::{Stream, post, request, request_to};
use rfc6455::CloseCode;
use serde_json::{Value, json};

chat_protocol_tests!("axum_chat");

/// `GET /health` is a plain axum route beside `/` and `/ws`: JSON with the
/// number of members, which follows joins and leaves.
#[test]
fn health_route_counts_the_members() {
    let server = Server::start("axum_chat", &[]);
    let health = |server: &Server| -> Value {
        let (status, head, body) = server.get("/health");
        assert_eq!(status, 200, "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        serde_json::from_slice(&body).expect("JSON")
    };
    let empty = health(&server);
    assert_eq!(
        (&empty["status"], &empty["members"]),
        (&json!("ok"), &json!(0))
    );
    let mut alice = server.join("alice");
    let bob = server.join("bob");
    alice.until("join", |e| e["user"] == "bob");
    assert_eq!(health(&server)["members"], 2);
    bob.close();
    alice.until("leave", |e| e["user"] == "bob");
    assert_eq!(health(&server)["members"], 1);
    // Another method on the route is refused by axum.
    let mut tcp = server.tcp();
    std::io::Write::write_all(
        &mut tcp,
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut tcp, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
}

/// Reads until the connection ends: the close code, and the messages before.
fn read_all(client: &mut Client) -> (Option<CloseCode>, Vec<Value>) {
    let mut seen = Vec::new();
    loop {
        match client.ws.read() {
            Ok(Some(rfc6455::Message::Text(text))) => {
                seen.push(serde_json::from_str(&text).unwrap())
            }
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => {
                let code = client.ws.connection().peer_close().and_then(|f| f.code);
                return (code, seen);
            }
            Err(e) => panic!("expected a close, got {e}"),
        }
    }
}

/// One member sends 3,000 lines at once (one write). 20 reach the room
/// (the burst), the sender is told once that it is too fast, and past 100
/// refused lines it is told it floods and closed with 1008; the reader
/// sees its leave as `flooding`, and nobody else leaves.
#[test]
fn a_burst_of_lines_gets_the_flooder_closed_and_nobody_else() {
    let server = Server::start("axum_chat", &[]);
    let mut reader = server.join("reader");
    let mut alice = server.join("alice");
    reader.until("join", |e| e["user"] == "alice");
    for i in 0..3000 {
        alice
            .ws
            .connection_mut()
            .send_text(&json!({"text": format!("flood {i}")}).to_string())
            .unwrap();
    }
    alice.ws.flush().expect("the burst");
    let (code, alice_saw) = read_all(&mut alice);
    let echoed = alice_saw.iter().filter(|e| e["type"] == "message").count();
    let errors: Vec<&str> = alice_saw
        .iter()
        .filter(|e| e["type"] == "error")
        .map(|e| e["error"].as_str().unwrap())
        .collect();
    assert_eq!(code, Some(CloseCode::POLICY_VIOLATION));
    assert!((20..=22).contains(&echoed), "{echoed}");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("too fast"), "{errors:?}");
    assert!(errors[1].starts_with("flooding"), "{errors:?}");
    let mut from_alice = 0;
    let leave = loop {
        let event = reader.next();
        match event["type"].as_str() {
            Some("message") => from_alice += 1,
            Some("leave") => break event,
            _ => panic!("unexpected {event}"),
        }
    };
    assert_eq!(
        (&leave["user"], &leave["reason"]),
        (&json!("alice"), &json!("flooding"))
    );
    assert!((20..=22).contains(&from_alice), "{from_alice}");
    // The reader is still served.
    reader.send(&json!({"text": "is she gone?"}));
    assert_eq!(reader.expect("message")["text"], "is she gone?");
}

/// `--max-connections 3`: three connections fill the server, the fourth
/// (a page load too) gets 503 with Retry-After before any upgrade; once one
/// leaves, a newcomer gets in.
#[test]
fn connections_past_the_cap_get_503() {
    let server = Server::start("axum_chat", &["--max-connections", "3"]);
    let mut members: Vec<Client> = (0..3).map(|i| server.join(&format!("m{i}"))).collect();
    let (status, head, _) = server.get("/");
    assert_eq!(status, 503, "{head}");
    assert!(
        head.contains("retry-after: 5\r\n") || head.contains("Retry-After: 5\r\n"),
        "{head}"
    );
    members[0].send(&json!({"text": "full house"}));
    for member in &mut members {
        assert_eq!(member.until("message", |_| true)["text"], "full house");
    }
    members.pop().unwrap().close();
    // Its place is given back once its socket is dropped (a moment after
    // the close handshake): a newcomer gets in, after a 503 or two.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut newcomer = loop {
        let url = server.url("?name=newcomer");
        match rfc6455::blocking::WebSocket::connect(server.tcp(), &url) {
            Ok((ws, _)) => break Client { ws },
            Err(e) => assert!(Instant::now() < deadline, "never let in again: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(newcomer.expect("welcome")["you"], "newcomer");
}

/// SIGINT: every member is closed with 1001 (going away) and the server
/// exits 0.
#[cfg(unix)]
#[test]
fn sigint_closes_every_member_with_1001_and_exits() {
    let mut server = Server::start("axum_chat", &[]);
    let mut members: Vec<Client> = (0..3).map(|i| server.join(&format!("m{i}"))).collect();
    let status = std::process::Command::new("kill")
        .args(["-INT", &server.process.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for member in &mut members {
        let (code, _) = read_all(member);
        assert_eq!(code, Some(CloseCode::GOING_AWAY));
    }
    let exit = server.process.wait(Duration::from_secs(10));
    assert!(exit.success(), "{exit}");
    assert!(
        server
            .process
            .stdout()
            .contains("SIGINT: closing 3 members")
    );
}

/// With the defaults, 40 handshakes in a row from 127.0.0.1: the first 30
/// are upgraded (the burst), about 5 a second after that, and the rest get
/// 429 with `Retry-After: 1` before any upgrade (`chat_server/limits.rs`'s
/// `Gate`, as `chat_server`).
#[test]
fn connection_attempts_past_the_burst_get_429() {
    let server = Server::start_with_defaults("axum_chat", &[]);
    let start = Instant::now();
    let mut upgraded = Vec::new();
    let mut refused = Vec::new();
    for i in 0..40 {
        let url = server.url(&format!("?name=churn{i}"));
        match rfc6455::blocking::WebSocket::connect(server.tcp(), &url) {
            Ok((ws, _)) => upgraded.push(ws),
            Err(e) => refused.push(e.to_string()),
        }
    }
    let allowed = 30 + (5.0 * start.elapsed().as_secs_f64()).ceil() as usize;
    assert!(
        (30..=allowed).contains(&upgraded.len()),
        "{} upgraded, at most {allowed} expected",
        upgraded.len()
    );
    assert!(!refused.is_empty());
    for error in &refused {
        assert!(error.contains("429"), "{error}");
    }
    let (status, head, _) = server.get("/health");
    assert!(status == 429 || status == 200, "{head}");
    if status == 429 {
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 1\r\n"),
            "{head}"
        );
    }
}

/// A request head that trickles in is cut off after `--handshake-timeout`
/// (hyper's header read timeout), and its place under the cap comes back.
#[test]
fn a_request_head_that_never_ends_is_cut_off() {
    let server = Server::start(
        "axum_chat",
        &["--handshake-timeout", "0.5", "--max-connections", "1"],
    );
    let mut slow = server.tcp();
    std::io::Write::write_all(&mut slow, b"GET /ws?name=slow HTTP/1.1\r\nHost: x\r\n").unwrap();
    let start = Instant::now();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut slow, &mut rest);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.get("/health").0 != 200 {
        assert!(Instant::now() < deadline, "the place never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- the mailbox of each member (examples/axum_chat/topic.rs) ------------------------

/// `Drop` (the chat's policy): past the message bound or the byte bound an
/// offer is refused (the room then drops the member); the close still goes
/// in past the bounds, and after it nothing; what is queued comes out in
/// order, then `None`.
#[test]
fn a_full_mailbox_refuses_past_either_bound_and_still_takes_the_close() {
    use topic::{Mailbox, Offered, WhenFull};
    let by_count = Mailbox::new(3, 1000, WhenFull::Drop);
    for i in 0..3 {
        assert_eq!(by_count.offer(i, 10), Offered::Queued);
    }
    assert_eq!(by_count.offer(3, 10), Offered::Full);
    let by_bytes = Mailbox::new(100, 25, WhenFull::Drop);
    assert_eq!(by_bytes.offer(0, 10), Offered::Queued);
    assert_eq!(by_bytes.offer(1, 10), Offered::Queued);
    assert_eq!(by_bytes.offer(2, 10), Offered::Full);
    // One message larger than the byte bound gets through an empty mailbox.
    let big = Mailbox::new(100, 25, WhenFull::Drop);
    assert_eq!(big.offer(0, 1000), Offered::Queued);
    assert!(by_count.finish_with(99));
    assert_eq!(by_count.offer(4, 1), Offered::Closed);
    assert!(!by_count.finish_with(100));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let drained = runtime.block_on(async {
        let mut out = Vec::new();
        while let Some(item) = by_count.recv().await {
            out.push(item);
        }
        out
    });
    assert_eq!(drained, [0, 1, 2, 99]);
}

/// `KeepNewest` (a vote board's mailbox): a full mailbox discards its
/// oldest messages to take the new one, so a reader that wakes late reads
/// only the latest.
#[test]
fn a_keep_newest_mailbox_discards_the_oldest() {
    use topic::{Mailbox, Offered, WhenFull};
    let mailbox = Mailbox::new(2, 1000, WhenFull::KeepNewest);
    assert_eq!(mailbox.offer("a", 1), Offered::Queued);
    assert_eq!(mailbox.offer("b", 1), Offered::Queued);
    assert_eq!(mailbox.offer("c", 1), Offered::Replaced(1));
    // The byte bound too: "big" pushes out both.
    let by_bytes = Mailbox::new(10, 10, WhenFull::KeepNewest);
    by_bytes.offer("x", 4);
    by_bytes.offer("y", 4);
    assert_eq!(by_bytes.offer("big", 9), Offered::Replaced(2));
    mailbox.close();
    by_bytes.close();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(mailbox.recv().await, Some("b"));
        assert_eq!(mailbox.recv().await, Some("c"));
        assert_eq!(mailbox.recv().await, None);
        assert_eq!(by_bytes.recv().await, Some("big"));
        assert_eq!(by_bytes.recv().await, None);
    });
}

/// `recv` is cancel safe: a `recv` dropped by `select!` before a message
/// came took nothing, and a message offered while nobody waits wakes the
/// next `recv` (no lost wake-up).
#[test]
fn mailbox_recv_is_cancel_safe() {
    use topic::{Mailbox, WhenFull};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mailbox = std::sync::Arc::new(Mailbox::new(10, 1000, WhenFull::Drop));
        tokio::select! {
            _ = mailbox.recv() => panic!("nothing was offered"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        mailbox.offer(1, 1);
        assert_eq!(mailbox.len(), 1);
        let producer = {
            let mailbox = std::sync::Arc::clone(&mailbox);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                mailbox.offer(2, 1);
            })
        };
        assert_eq!(mailbox.recv().await, Some(1));
        let second = tokio::time::timeout(Duration::from_secs(5), mailbox.recv()).await;
        assert_eq!(second.expect("woken by the offer"), Some(2));
        producer.await.unwrap();
    });
}

// ---- the room over plain HTTP (examples/axum_chat/web.rs) --------------------------

/// `GET /chat/stream`: one event per room event, `id:` the number WebSocket
/// members see as `id`, in their order (a join, then messages); reconnecting
/// with `Last-Event-ID` resumes after that event at once.
#[test]
fn sse_stream_carries_the_room_in_order_and_resumes_from_last_event_id() {
    let server = Server::start("axum_chat", &[]);
    let mut stream = Stream::open(&server, "");
    let mut alice = server.join("alice");
    let mut said = Vec::new();
    for text in ["one", "two", "three"] {
        alice.send(&json!({"text": text}));
        let message = alice.expect("message");
        said.push(message["id"].as_u64().unwrap());
    }
    stream.read_until("three");
    let events = stream.events();
    assert_eq!(events[0]["type"], "join", "{}", stream.seen);
    let texts: Vec<&Value> = events[1..].iter().map(|e| &e["text"]).collect();
    assert_eq!(texts, [&json!("one"), &json!("two"), &json!("three")]);
    assert_eq!(stream.ids()[1..], said[..]);
    let mut resumed = Stream::open(&server, &format!("Last-Event-ID: {}\r\n", said[0]));
    resumed.read_until("three");
    assert_eq!(resumed.ids(), said[1..]);
    assert_eq!(resumed.events()[0]["text"], "two");
    // A cursor that is no number is a 400.
    let (status, _) = request(&server, "GET", "/chat/stream?last_event_id=x", "", b"");
    assert_eq!(status, 400);
}

/// `--history 4`: an SSE reader resuming from further back than the ring
/// holds gets `event: resync`, then the 4 events kept.
#[test]
fn sse_reader_behind_the_history_is_told_to_resync() {
    let server = Server::start("axum_chat", &["--history", "4"]);
    let mut alice = server.join("alice");
    for i in 0..10 {
        alice.send(&json!({"text": format!("m{i}")}));
        alice.expect("message");
    }
    let mut stream = Stream::open(&server, "Last-Event-ID: 1\r\n");
    stream.read_until("m9");
    assert!(stream.seen.contains("event: resync\n"), "{}", stream.seen);
    let texts: Vec<String> = stream.events()[1..]
        .iter()
        .map(|e| e["text"].to_string())
        .collect();
    assert_eq!(texts, ["\"m6\"", "\"m7\"", "\"m8\"", "\"m9\""]);
}

/// `GET /chat/poll`: without `since`, all that is kept at once; with the
/// newest `since`, held until a message comes (not before), or until
/// `--poll-timeout` (0.5 s here) with an empty list; from further back
/// than `--history` (4), `behind: true` and the 4 kept.
#[test]
fn long_poll_answers_at_once_holds_until_a_message_or_the_timeout_and_tells_the_late() {
    let server = Server::start("axum_chat", &["--history", "4", "--poll-timeout", "0.5"]);
    let poll = |path: &str| -> Value {
        let (status, head, body) = server.get(path);
        assert_eq!(status, 200, "{head}");
        serde_json::from_slice(&body).unwrap()
    };
    let mut alice = server.join("alice");
    alice.send(&json!({"text": "first"}));
    let first = alice.expect("message");
    let now = poll("/chat/poll");
    assert_eq!(now["messages"].as_array().unwrap().len(), 2, "{now}"); // the join, the message
    assert_eq!(now["last"], first["id"]);
    // Nothing new: held for the timeout, then an empty list.
    let start = Instant::now();
    let empty = poll(&format!("/chat/poll?since={}", first["id"]));
    assert!(
        start.elapsed() >= Duration::from_millis(450),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        empty,
        json!({"messages": [], "last": first["id"], "behind": false})
    );
    // Held until a message comes.
    let addr = server.addr;
    let since = first["id"].as_u64().unwrap();
    let held = std::thread::spawn(move || {
        let path = format!("/chat/poll?since={since}");
        let (_, _, body) = app_harness::http_get(app_harness::tcp(addr), addr, &path);
        serde_json::from_slice::<Value>(&body).unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    alice.send(&json!({"text": "second"}));
    let second = alice.expect("message");
    let answer = held.join().unwrap();
    assert_eq!(answer["messages"][0]["text"], "second", "{answer}");
    assert_eq!(answer["last"], second["id"]);
    for i in 0..6 {
        alice.send(&json!({"text": format!("m{i}")}));
        alice.expect("message");
    }
    let late = poll(&format!("/chat/poll?since={since}"));
    assert_eq!(late["behind"], true, "{late}");
    assert_eq!(late["messages"].as_array().unwrap().len(), 4);
    assert_eq!(late["messages"][3]["text"], "m5");
    // A cursor from no history of this room: behind, all that is kept.
    let unknown = poll("/chat/poll?since=999999");
    assert_eq!(unknown["behind"], true, "{unknown}");
    assert_eq!(unknown["messages"].as_array().unwrap().len(), 4);
    let (status, _) = request(&server, "GET", "/chat/poll?since=-1", "", b"");
    assert_eq!(status, 400);
}

/// `GET /chat/login` is a form; `POST /chat/login` sets the cookie (the
/// nickname normalised) and sends the browser back with 303; `POST
/// /chat/post` (form or JSON) needs the cookie (401), some text (400), a
/// name nobody online holds (409), a body under 65 KiB (413); a post
/// reaches the WebSocket members with `via: http`.
#[test]
fn login_sets_the_nickname_cookie_and_posts_reach_the_room() {
    let server = Server::start("axum_chat", &[]);
    let (status, head, body) = server.get("/chat/login");
    assert_eq!(status, 200, "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains("<form method=\"post\" action=\"/chat/login\">")
    );
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let (status, response) = request(&server, "POST", "/chat/login", form, b"name=%20Wu+Kong%20");
    assert_eq!(status, 303, "{response}");
    let cookie = response
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {response}"));
    assert!(cookie.starts_with("chat_name=Wu%20Kong;"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (status, _) = request(
        &server,
        "POST",
        "/chat/login",
        form,
        b"name=wu%E2%80%8Bkong",
    );
    assert_eq!(status, 400);

    let mut alice = server.join("alice");
    let (status, _) = post(&server, "/chat/post", "", "text=hi");
    assert_eq!(status, 401);
    let (status, _) = post(&server, "/chat/post", "chat_name=Wu%20Kong", "text=");
    assert_eq!(status, 400);
    let (status, _) = post(&server, "/chat/post", "chat_name=alice", "text=it+is+me");
    assert_eq!(status, 409);
    let big = format!("text={}", "x".repeat(70 * 1024));
    let (status, _) = post(&server, "/chat/post", "chat_name=Wu%20Kong", &big);
    assert_eq!(status, 413);
    let (status, _) = post(
        &server,
        "/chat/post",
        "chat_name=Wu%20Kong",
        "text=hello+%F0%9F%A6%80",
    );
    assert_eq!(status, 204);
    let json_type = "Cookie: chat_name=Wu%20Kong\r\nContent-Type: application/json\r\n";
    let (status, _) = request(
        &server,
        "POST",
        "/chat/post",
        json_type,
        br#"{"text": "as JSON"}"#,
    );
    assert_eq!(status, 204);
    for text in ["hello 🦀", "as JSON"] {
        let message = alice.expect("message");
        assert_eq!(
            (&message["from"], &message["text"], &message["via"]),
            (&json!("Wu Kong"), &json!(text), &json!("http"))
        );
    }
}

/// The `/chat/*` routes pass the WebSocket route's gate: with `--host`, a
/// request addressed to another name gets 421 on every route; a post
/// (`/chat/login`, `/chat/post`) from a page of another origin, another
/// port, or `null` gets 403 and changes nothing (no cookie, nothing in
/// the room), while the server's own pages and clients that send no
/// `Origin` (curl) may post. Reads are not checked for `Origin`.
#[test]
fn chat_routes_refuse_foreign_hosts_and_posts_from_foreign_origins() {
    let server = Server::start("axum_chat", &["--host", "127.0.0.1"]);
    let own = format!("http://{}", server.addr);
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() ^ 1);
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let login = |origin: Option<&str>| {
        let origin = origin.map_or_else(String::new, |o| format!("Origin: {o}\r\n"));
        request(
            &server,
            "POST",
            "/chat/login",
            &format!("{form}{origin}"),
            b"name=wukong",
        )
    };
    for origin in ["http://evil.example", &other_port, "null"] {
        let (status, response) = login(Some(origin));
        assert_eq!(status, 403, "{origin}: {response}");
        assert!(
            !response.to_ascii_lowercase().contains("set-cookie"),
            "{origin}: {response}"
        );
    }
    for origin in [Some(own.as_str()), None] {
        let (status, response) = login(origin);
        assert_eq!(status, 303, "{origin:?}: {response}");
        assert!(
            response.contains("set-cookie: chat_name=wukong;"),
            "{response}"
        );
    }

    let mut alice = server.join("alice");
    let post_from = |origin: Option<&str>, text: &str| {
        let origin = origin.map_or_else(String::new, |o| format!("Origin: {o}\r\n"));
        let headers = format!("Cookie: chat_name=wukong\r\n{form}{origin}");
        request(
            &server,
            "POST",
            "/chat/post",
            &headers,
            format!("text={text}").as_bytes(),
        )
    };
    for origin in ["http://evil.example", &other_port, "null"] {
        let (status, response) = post_from(Some(origin), "forged");
        assert_eq!(status, 403, "{origin}: {response}");
    }
    assert_eq!(post_from(Some(&own), "from+the+page").0, 204);
    assert_eq!(post_from(None, "from+curl").0, 204);
    // The room's one order: had a forged post gone through, it would come first.
    for text in ["from the page", "from curl"] {
        let message = alice.expect("message");
        assert_eq!(
            (&message["from"], &message["text"]),
            (&json!("wukong"), &json!(text))
        );
    }

    // Reads from another site's page are answered (it cannot read them).
    let evil = "Origin: http://evil.example\r\n";
    let (status, response) = request(&server, "GET", "/chat/poll", evil, b"");
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("from curl"), "{response}");

    // Another name (DNS rebinding: the page's Origin and Host both carry it).
    let elsewhere = format!("evil.example:{}", server.addr.port());
    let rebound = format!("Origin: http://{elsewhere}\r\nCookie: chat_name=wukong\r\n{form}");
    for (method, path) in [
        ("GET", "/chat/login"),
        ("POST", "/chat/login"),
        ("POST", "/chat/post"),
        ("GET", "/chat/stream"),
        ("GET", "/chat/poll"),
    ] {
        let (status, response) = request_to(
            &server,
            &elsewhere,
            method,
            path,
            &rebound,
            b"name=x&text=rebound",
        );
        assert_eq!(status, 421, "{method} {path}: {response}");
    }
    // The same requests addressed to the server's name are answered.
    let (status, response) = request(&server, "GET", "/chat/login", "", b"");
    assert_eq!(status, 200, "{response}");
    let (status, response) = request_to(&server, "LOCALHOST:1", "GET", "/chat/login", "", b"");
    assert_eq!(status, 421, "{response}");
    let (status, response) = request_to(&server, "127.0.0.1", "GET", "/chat/poll", "", b"");
    assert_eq!(status, 200, "a name without a port: {response}");
}

/// `--allow-origin` lets one more site's pages post, `--any-origin` every
/// site's, as they do for the WebSocket.
#[test]
fn allow_origin_and_any_origin_widen_the_posts_gate() {
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let login = |server: &Server, origin: &str| {
        let headers = format!("{form}Origin: {origin}\r\n");
        request(server, "POST", "/chat/login", &headers, b"name=wukong").0
    };
    let server = Server::start("axum_chat", &["--allow-origin", "https://app.example"]);
    assert_eq!(login(&server, "https://app.example"), 303);
    assert_eq!(login(&server, "https://app.example:443/"), 303);
    assert_eq!(login(&server, "http://app.example"), 403);
    assert_eq!(login(&server, "https://evil.example"), 403);
    assert_eq!(login(&server, &format!("http://{}", server.addr)), 303);
    let server = Server::start("axum_chat", &["--any-origin"]);
    assert_eq!(login(&server, "https://evil.example"), 303);
    assert_eq!(login(&server, "null"), 303);
}
