//! End-to-end tests of `examples/vote_server.rs`: the real binary on a free
//! loopback port, driven by the crate's blocking client, with
//! permessage-deflate (accepted by default) and with `--no-deflate`.

mod app_harness;
use app_harness::{Client, DEFAULT_OFFER, Server};
#[cfg(feature = "deflate")]
use app_harness::{EXAMPLE_DEFLATE, connect_counted, read_counted, send_counted};

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rfc6455::CloseCode;
use serde_json::{Value, json};

const CANDIDATES: [&str; 4] = ["Rust", "Go", "Zig", "C++"];

/// The counts in a `counts` message, in candidate order, and the total.
fn counts(event: &Value) -> (Vec<(String, u64)>, u64) {
    assert_eq!(event["type"], "counts", "{event}");
    let list = event["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no candidates in {event}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["votes"].as_u64().unwrap(),
            )
        })
        .collect();
    (list, event["total"].as_u64().unwrap())
}

fn expected(votes: [u64; 4]) -> (Vec<(String, u64)>, u64) {
    let list = CANDIDATES
        .iter()
        .map(|n| n.to_string())
        .zip(votes)
        .collect();
    (list, votes.iter().sum())
}

/// Reads `counts` messages until one has `total` votes.
fn until_total(client: &mut Client, total: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "never saw {total} votes");
        let event = client.expect("counts");
        let (_, seen) = counts(&event);
        assert!(seen <= total, "more votes than were cast: {event}");
        if seen == total {
            return event;
        }
    }
}

#[test]
fn new_client_gets_the_current_counts_at_once() {
    let server = Server::start("vote_server", &[]);
    let mut first = server.connect("");
    assert_eq!(counts(&first.expect("counts")), expected([0, 0, 0, 0]));
    for name in ["Zig", "Rust", "Zig"] {
        first.send(&json!({"vote": name}));
    }
    until_total(&mut first, 3);
    let mut late = server.connect("");
    assert_eq!(counts(&late.expect("counts")), expected([1, 0, 2, 0]));
    // A vote from the newcomer reaches the first client at once.
    late.send(&json!({"vote": "C++"}));
    assert_eq!(counts(&first.expect("counts")), expected([1, 0, 2, 1]));
    assert_eq!(counts(&late.expect("counts")), expected([1, 0, 2, 1]));
}

#[test]
fn concurrent_votes_are_counted_exactly_and_everyone_sees_the_result() {
    const CLIENTS: usize = 20;
    const VOTES: usize = 50;
    // Each client votes 50 times at once: over the default burst of 20.
    let server = Server::start("vote_server", &["--vote-burst", "50"]);
    let addr = server.addr;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    // Client c's vote i goes to candidate (c + i) % 4 .
    let mut tally = [0u64; 4];
    for c in 0..CLIENTS {
        for i in 0..VOTES {
            tally[(c + i) % 4] += 1;
        }
    }
    let total = (CLIENTS * VOTES) as u64;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut client = Client::connect(addr, "");
                client.expect("counts");
                barrier.wait(); // everyone votes at once
                for i in 0..VOTES {
                    client.send(&json!({"vote": CANDIDATES[(c + i) % 4]}));
                }
                // Counts only grow, one vote at a time, and end at the total.
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut last = 0;
                loop {
                    assert!(Instant::now() < deadline, "client {c} never saw the total");
                    let (_, seen) = counts(&client.expect("counts"));
                    assert!(
                        seen > last && seen <= total,
                        "client {c}: {last} then {seen}"
                    );
                    last = seen;
                    if seen == total {
                        break;
                    }
                }
                client
            })
        })
        .collect();
    let mut clients: Vec<Client> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // Every client saw the final counts last; a newcomer sees them too.
    let mut newcomer = server.connect("");
    assert_eq!(counts(&newcomer.expect("counts")), expected(tally));
    // Nothing more is on its way to anyone: one more vote is the next message.
    // The newcomer casts it: every other client has spent its burst of 50,
    // and its bucket refills at 10 a second only.
    newcomer.send(&json!({"vote": "Go"}));
    tally[1] += 1;
    for client in clients.iter_mut().chain([&mut newcomer]) {
        assert_eq!(counts(&client.expect("counts")), expected(tally));
    }
}

#[test]
fn malformed_votes_are_refused_and_change_nothing() {
    let server = Server::start("vote_server", &[]);
    let mut voter = server.connect("");
    let mut watcher = server.connect("");
    voter.expect("counts");
    watcher.expect("counts");
    voter.send(&json!({"vote": "Rust"}));
    until_total(&mut voter, 1);
    until_total(&mut watcher, 1);
    let bad = [
        "not json",
        "",
        "[]",
        "{}",
        r#"{"vote": "Nobody"}"#,
        r#"{"vote": "rust"}"#,
        r#"{"vote": 0}"#,
        r#"{"vote": null}"#,
        r#"{"vote": "Rust", "extra": 1}"#,
        r#"{"vote": "Rust""#,
        r#""Rust""#,
    ];
    for text in bad {
        voter.ws.send_text(text).unwrap();
        let error = voter.expect("error");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{text}: {error}"
        );
    }
    voter.ws.send_binary(b"{\"vote\": \"Rust\"}").unwrap();
    voter.expect("error");
    // No count changed: the next counts anyone sees are after one more vote.
    voter.send(&json!({"vote": "Go"}));
    for client in [&mut voter, &mut watcher] {
        assert_eq!(counts(&client.expect("counts")), expected([1, 1, 0, 0]));
    }
    // A message too large for a vote fails the connection with 1009 as soon
    // as its header arrives. The rest of it is still unread then: the
    // server's lingering close (bounded by `Config::close_timeout`) reads
    // and discards it before closing, so no reset destroys the close frame.
    // The board goes on.
    voter.ws.send_text(&"x".repeat(10_000)).unwrap();
    match voter.ws.read() {
        Ok(None) => {
            let frame = voter.ws.connection().peer_close();
            assert_eq!(frame.and_then(|f| f.code), Some(CloseCode::MESSAGE_TOO_BIG));
        }
        other => panic!("expected the close frame with 1009, got {other:?}"),
    }
    let mut again = server.connect("");
    assert_eq!(counts(&again.expect("counts")), expected([1, 1, 0, 0]));
}

#[test]
fn candidates_from_the_command_line_chinese_and_emoji_included() {
    let server = Server::start(
        "vote_server",
        &["--candidates", "悟空 🐒,八戒,悟空 🐒, 沙僧 "],
    );
    let mut client = server.connect("");
    let names: Vec<String> = counts(&client.expect("counts"))
        .0
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(names, ["悟空 🐒", "八戒", "沙僧"]);
    client.send(&json!({"vote": "八戒"}));
    let (list, total) = counts(&client.expect("counts"));
    assert_eq!((list[1].1, total), (1, 1));
    client.close();
}

#[test]
fn serves_the_page_and_refuses_other_paths() {
    let server = Server::start("vote_server", &[]);
    let (status, head, body) = server.get("/");
    assert_eq!(status, 200, "{head}");
    let body = String::from_utf8(body).unwrap();
    assert_eq!(body, include_str!("../examples/vote.html"));
    for id in ["status", "candidates", "total", "error"] {
        assert!(body.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    // The per-candidate ids are made by the page's script.
    for prefix in ["\"vote-\"", "\"count-\"", "\"bar-\""] {
        assert!(body.contains(prefix), "no {prefix} ids");
    }
    assert_eq!(server.get("/nope").0, 404);
    assert_eq!(server.get("/ws").0, 400);
}

#[test]
fn help_and_bad_arguments() {
    let binary = app_harness::example_binary("vote_server");
    let help = Command::new(&binary).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--candidates",
        "--no-deflate",
        "--max-connections N",
        "--vote-rate N",
        "--vote-burst N",
        "--ping-after SECS",
        "--keepalive-timeout SECS",
    ] {
        assert!(help.contains(flag), "no {flag} in {help}");
    }
    // Every default is stated.
    for default in ["(default 2048", "(default 10)", "(default 20)"] {
        assert!(help.contains(default), "no {default:?} in {help}");
    }
    for bad in [
        &["--nope"][..],
        &["--candidates", " , "],
        &["--addr"],
        &["--no-deflate=1"],
        &["--max-connections", "0"],
        &["--max-connections", "-1"],
        &["--vote-rate", "0"],
        &["--vote-burst", "1.5"],
        &["--ping-after", "never"],
    ] {
        let output = Command::new(&binary).args(bad).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
}

// ---- permessage-deflate ---------------------------------------------------------

/// Accepted without context takeover. Counts under 512 bytes (the usual
/// four candidates) are sent as they are; the counts of a long candidate
/// list go compressed. Compressed votes are inflated and counted.
#[cfg(feature = "deflate")]
#[test]
fn permessage_deflate_is_accepted_and_only_long_counts_are_compressed() {
    use rfc6455::Message;
    use rfc6455::deflate::DeflateConfig;

    let many: Vec<String> = (0..40).map(|i| format!("candidate number {i}")).collect();
    let many = many.join(",");
    for (args, compressed) in [(&[][..], false), (&["--candidates", &many], true)] {
        let server = Server::start("vote_server", args);
        assert_eq!(
            server.extensions_answer("", DEFAULT_OFFER).as_deref(),
            Some(EXAMPLE_DEFLATE)
        );
        let (mut ws, response) = connect_counted(server.addr, "", DeflateConfig::default());
        assert_eq!(
            response.header_str("Sec-WebSocket-Extensions"),
            Some(EXAMPLE_DEFLATE)
        );
        // The first counts may come with the 101: not counted.
        let first = ws.read().expect("the first counts").expect("a message");
        let first: Value = serde_json::from_str(first.as_text().unwrap()).unwrap();
        let name = first["candidates"][0]["name"].as_str().unwrap().to_string();
        // A vote padded with JSON whitespace: it goes compressed, and the
        // server counts it.
        let vote = Message::from(format!("{{\"vote\": {}{}}}", json!(name), " ".repeat(300)));
        let sent = send_counted(&mut ws, &vote);
        assert!(sent < vote.len() / 2, "{} bytes sent as {sent}", vote.len());
        let (counts, wire) = read_counted(&mut ws);
        let text = counts.as_text().unwrap();
        let event: Value = serde_json::from_str(text).unwrap();
        assert_eq!(event["candidates"][0]["votes"], 1, "{event}");
        if compressed {
            assert!(
                text.len() > 512 && wire < text.len() / 2,
                "{} bytes took {wire}",
                text.len()
            );
        } else {
            assert!(
                text.len() < 512 && wire > text.len(),
                "{} bytes took {wire}",
                text.len()
            );
        }
        assert_eq!(ws.connection().deflate_state(), (false, false));
        ws.close(CloseCode::NORMAL, "").expect("close");
    }
}

/// `--no-deflate`: the offer is declined, and votes are counted all the same.
#[test]
fn no_deflate_declines_permessage_deflate() {
    let server = Server::start("vote_server", &["--no-deflate"]);
    assert_eq!(server.extensions_answer("", DEFAULT_OFFER), None);
    #[cfg(feature = "deflate")]
    {
        let (mut ws, response) =
            connect_counted(server.addr, "", rfc6455::deflate::DeflateConfig::default());
        assert_eq!(response.deflate(), None);
        ws.read().expect("the first counts").expect("a message");
        ws.send_text(r#"{"vote": "Zig"}"#).expect("vote");
        let message = ws.read().expect("the new counts").expect("a message");
        let event: Value = serde_json::from_str(message.as_text().unwrap()).unwrap();
        assert_eq!(counts(&event), expected([0, 0, 1, 0]));
        ws.close(CloseCode::NORMAL, "").expect("close");
    }
    let mut client = server.connect("");
    let total = counts(&client.expect("counts")).1;
    assert_eq!(total, u64::from(cfg!(feature = "deflate")));
    client.close();
}
