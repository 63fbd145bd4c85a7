//! End-to-end tests of `examples/axum_chat.rs` (feature `axum`): the chat
//! protocol tests of `chat_server` (tests/chat_protocol: join and leave
//! notices, room and private messages, nickname refusals, a slow reader
//! dropped, keepalive, the page, `--help`, Python `websockets` and Node
//! `ws` clients in the room, permessage-deflate) against the axum app, and
//! what is its own: the plain JSON route beside the socket, the flooder's
//! rate limit, the connection cap and graceful shutdown.

mod app_harness;
#[macro_use]
mod chat_protocol;

use std::time::{Duration, Instant};

use app_harness::{Client, Server};
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
