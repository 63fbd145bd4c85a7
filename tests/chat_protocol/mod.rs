//! The chat protocol tests, for every server that speaks it: each is a
//! function of the example's name, and [`chat_protocol_tests!`] makes a
//! `#[test]` of each for one example (tests/chat_server.rs for
//! `chat_server`, tests/axum_chat.rs for `axum_chat`). The real binary on a
//! free loopback port, driven by the crate's blocking client, by raw
//! sockets, and by Python `websockets` and Node `ws` clients
//! (tests/peers/chat_client.*), with permessage-deflate (accepted by
//! default) and with `--no-deflate`.
#![allow(dead_code)]

use crate::app_harness::{
    self, DEFAULT_OFFER, EXAMPLE_DEFLATE, Server, names, require_node_ws,
    require_python_websockets, run_script,
};
#[cfg(feature = "deflate")]
use crate::app_harness::{connect_counted, read_counted, send_counted};

use std::io::Write;
use std::net::Shutdown;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rfc6455::CloseCode;
use serde_json::{Value, json};

/// `#[test]`s of every chat protocol test against `$example`.
#[macro_export]
macro_rules! chat_protocol_tests {
    ($example:literal) => {
        #[test]
        fn join_notices_and_online_list() {
            chat_protocol::join_notices_and_online_list($example)
        }
        #[test]
        fn room_messages_reach_everyone_in_one_order_with_their_sender() {
            chat_protocol::room_messages_reach_everyone_in_one_order_with_their_sender($example)
        }
        #[test]
        fn private_message_reaches_only_the_recipient_and_echoes_to_the_sender() {
            chat_protocol::private_message_reaches_only_the_recipient_and_echoes_to_the_sender(
                $example,
            )
        }
        #[test]
        fn private_message_to_someone_offline_is_an_error_for_the_sender_only() {
            chat_protocol::private_message_to_someone_offline_is_an_error_for_the_sender_only(
                $example,
            )
        }
        #[test]
        fn taken_nickname_is_refused_with_an_error_and_1008() {
            chat_protocol::taken_nickname_is_refused_with_an_error_and_1008($example)
        }
        #[test]
        fn look_alike_and_invisible_nicknames_are_refused() {
            chat_protocol::look_alike_and_invisible_nicknames_are_refused($example)
        }
        #[test]
        fn nicknames_are_normalised() {
            chat_protocol::nicknames_are_normalised($example)
        }
        #[test]
        fn chinese_and_emoji_arrive_intact() {
            chat_protocol::chinese_and_emoji_arrive_intact($example)
        }
        #[test]
        fn malformed_messages_get_an_error_and_reach_nobody() {
            chat_protocol::malformed_messages_get_an_error_and_reach_nobody($example)
        }
        #[test]
        fn client_that_stops_reading_is_dropped_while_the_others_chat() {
            chat_protocol::client_that_stops_reading_is_dropped_while_the_others_chat($example)
        }
        #[test]
        fn vanished_client_is_dropped_by_the_keepalive() {
            chat_protocol::vanished_client_is_dropped_by_the_keepalive($example)
        }
        #[test]
        fn client_killed_without_a_close_is_removed() {
            chat_protocol::client_killed_without_a_close_is_removed($example)
        }
        #[test]
        fn serves_the_page_and_refuses_other_paths() {
            chat_protocol::serves_the_page_and_refuses_other_paths($example)
        }
        #[test]
        fn help_and_bad_arguments() {
            chat_protocol::help_and_bad_arguments($example)
        }
        #[test]
        fn python_websockets_client_chats_with_ours() {
            chat_protocol::python_websockets_client_chats_with_ours($example)
        }
        #[test]
        fn node_ws_client_chats_with_ours() {
            chat_protocol::node_ws_client_chats_with_ours($example)
        }
        #[cfg(feature = "deflate")]
        #[test]
        fn permessage_deflate_is_accepted_and_long_messages_are_sent_compressed() {
            chat_protocol::permessage_deflate_is_accepted_and_long_messages_are_sent_compressed(
                $example,
            )
        }
        #[test]
        fn no_deflate_declines_permessage_deflate() {
            chat_protocol::no_deflate_declines_permessage_deflate($example)
        }
    };
}

/// The example `example` with the test defaults.
pub fn start(example: &str) -> Server {
    Server::start(example, &[])
}

/// The server's timestamp is within a minute of ours.
fn assert_recent(event: &Value) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let time = event["time"]
        .as_i64()
        .unwrap_or_else(|| panic!("no time in {event}"));
    assert!(
        (now - time).abs() < 60_000,
        "time {time} vs now {now} in {event}"
    );
}

pub fn join_notices_and_online_list(example: &str) {
    let server = start(example);
    let mut alice = server.connect("?name=alice");
    let welcome = alice.expect("welcome");
    assert_eq!(welcome["you"], "alice");
    assert_eq!(names(&welcome["users"]), ["alice"]);
    assert_recent(&welcome);
    let join = alice.expect("join");
    assert_eq!(
        (&join["user"], &join["online"]),
        (&json!("alice"), &json!(1))
    );

    let mut bob = server.connect("?name=bob");
    assert_eq!(names(&bob.expect("welcome")["users"]), ["alice", "bob"]);
    let mut carol = server.connect("?name=carol");
    assert_eq!(
        names(&carol.expect("welcome")["users"]),
        ["alice", "bob", "carol"]
    );

    for (client, joins) in [
        (&mut alice, &["bob", "carol"][..]),
        (&mut bob, &["bob", "carol"]),
        (&mut carol, &["carol"]),
    ] {
        for &who in joins {
            let join = client.expect("join");
            assert_eq!(join["user"], who);
            // The change and the count, not the whole list.
            let online = if who == "bob" { 2 } else { 3 };
            assert_eq!(join["online"], online, "{join}");
            assert!(join.get("users").is_none(), "{join}");
            assert_recent(&join);
        }
    }

    // Bob leaves cleanly: the others see it, with the new count.
    bob.close();
    for client in [&mut alice, &mut carol] {
        let leave = client.expect("leave");
        assert_eq!(leave["user"], "bob");
        assert_eq!(leave["reason"], "left");
        assert_eq!(leave["online"], 2);
        assert!(leave.get("users").is_none(), "{leave}");
    }
}

pub fn room_messages_reach_everyone_in_one_order_with_their_sender(example: &str) {
    let server = start(example);
    let mut clients: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| server.join(name))
        .collect();
    // Everyone has seen every join before the talking starts.
    for client in &mut clients[..2] {
        client.until("join", |e| e["user"] == "carol");
    }
    // All three talk at once, from three threads.
    let clients: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            thread::spawn(move || {
                for n in 0..20 {
                    client.send(&json!({"text": format!("{i}:{n}")}));
                }
                let mut seen = Vec::new();
                while seen.len() < 60 {
                    let event = client.expect("message");
                    assert_recent(&event);
                    seen.push((event["from"].to_string(), event["text"].to_string()));
                }
                (client, seen)
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let order = &results[0].1;
    for (_, seen) in &results {
        assert_eq!(seen, order, "every user sees the same order");
    }
    // Each sender's messages in the order sent, with the right name.
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        let texts: Vec<&String> = order
            .iter()
            .filter(|(from, _)| *from == format!("\"{name}\""))
            .map(|(_, text)| text)
            .collect();
        let sent: Vec<String> = (0..20).map(|n| format!("\"{i}:{n}\"")).collect();
        assert_eq!(texts, sent.iter().collect::<Vec<_>>(), "{name}'s messages");
    }
}

pub fn private_message_reaches_only_the_recipient_and_echoes_to_the_sender(example: &str) {
    let server = start(example);
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    let mut carol = server.join("carol");
    for client in [&mut alice, &mut bob] {
        client.until("join", |e| e["user"] == "carol");
    }
    alice.send(&json!({"text": "just for you", "to": "bob"}));
    for client in [&mut bob, &mut alice] {
        let private = client.expect("private");
        assert_eq!(private["from"], "alice");
        assert_eq!(private["to"], "bob");
        assert_eq!(private["text"], "just for you");
        assert_recent(&private);
    }
    // Carol's next message is the room message sent after: she never saw it.
    alice.send(&json!({"text": "to all"}));
    let next = carol.next();
    assert_eq!(
        (&next["type"], &next["text"]),
        (&json!("message"), &json!("to all"))
    );
    // A private message to oneself arrives once.
    bob.send(&json!({"text": "note to self", "to": "bob"}));
    assert_eq!(bob.expect("message")["text"], "to all");
    assert_eq!(bob.expect("private")["text"], "note to self");
    bob.send(&json!({"text": "marker"}));
    assert_eq!(bob.expect("message")["text"], "marker");
}

pub fn private_message_to_someone_offline_is_an_error_for_the_sender_only(example: &str) {
    let server = start(example);
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    alice.until("join", |e| e["user"] == "bob");
    alice.send(&json!({"text": "hello?", "to": "nobody"}));
    let error = alice.expect("error");
    assert!(
        error["error"].as_str().unwrap().contains("nobody"),
        "{error}"
    );
    alice.send(&json!({"text": "marker"}));
    assert_eq!(alice.expect("message")["text"], "marker");
    // Bob saw nothing but the marker.
    assert_eq!(bob.expect("message")["text"], "marker");
}

pub fn taken_nickname_is_refused_with_an_error_and_1008(example: &str) {
    let server = start(example);
    let mut alice = server.join("alice");
    let mut impostor = server.connect("?name=alice");
    let (code, seen) = impostor.read_to_close();
    assert_eq!(code, Some(CloseCode::POLICY_VIOLATION));
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["type"], "error");
    assert!(
        seen[0]["error"].as_str().unwrap().contains("taken"),
        "{seen:?}"
    );
    // The first alice is untouched and saw no join or leave.
    alice.send(&json!({"text": "still me"}));
    let next = alice.next();
    assert_eq!(
        (&next["type"], &next["from"]),
        (&json!("message"), &json!("alice"))
    );
    // Anonymous users get distinct labels.
    let mut a = server.connect("");
    let mut b = server.connect("?name=");
    let (a, b) = (
        a.expect("welcome")["you"].clone(),
        b.expect("welcome")["you"].clone(),
    );
    assert!(a.as_str().unwrap().starts_with("guest-"), "{a}");
    assert!(b.as_str().unwrap().starts_with("guest-"), "{b}");
    assert_ne!(a, b);
}

/// Names that would pass for `wukong`, `bill` or `copy` in the list and the
/// recipient menu while they are online, and names with invisible
/// characters, are refused like a taken one: an error saying why, then
/// 1008. Percent-encoded as a browser sends them.
pub fn look_alike_and_invisible_nicknames_are_refused(example: &str) {
    let server = start(example);
    let mut wukong = server.join("wukong");
    let mut bill = server.join("bill");
    let _copy = server.join("copy");
    wukong.until("join", |e| e["user"] == "copy");
    bill.until("join", |e| e["user"] == "copy");
    for (query, why) in [
        ("wukong%E2%80%8B", "(U+200B)"),    // zero width space
        ("wukong%E2%81%A0", "(U+2060)"),    // word joiner
        ("wukong%CD%8F", "(U+034F)"),       // combining grapheme joiner
        ("%EF%BB%BFwukong", "(U+FEFF)"),    // byte order mark
        ("%E2%80%AEgnokuw", "(U+202E)"),    // right-to-left override: shows "wukong"
        ("wu%E3%85%A4kong", "invisible"),   // Hangul filler
        ("wuk%D0%BEng", "mixing scripts"),  // Cyrillic о
        ("%CC%81wukong", "combining mark"), // a mark on no character
        // Full-width letters: NFKC makes them "wukong", which is taken.
        (
            "%EF%BD%97%EF%BD%95%EF%BD%8B%EF%BD%8F%EF%BD%8E%EF%BD%87",
            "taken",
        ),
        ("biII", "looks like \"bill\""), // I for l: the same TS #39 skeleton
        // All Cyrillic (с, о, р, у): one script, the skeleton of "copy".
        ("%D1%81%D0%BE%D1%80%D1%83", "looks like \"copy\""),
        ("wukong%20", "taken"), // trimmed
    ] {
        let mut impostor = server.connect(&format!("?name={query}"));
        // The first message says why (a welcome would mean it got in).
        let first = impostor.next();
        assert_eq!(first["type"], "error", "{query}: {first}");
        let error = first["error"].as_str().unwrap();
        assert!(error.contains(why), "{query}: {error:?}");
        let (code, rest) = impostor.read_to_close();
        assert_eq!(code, Some(CloseCode::POLICY_VIOLATION), "{query}: {rest:?}");
        assert!(rest.is_empty(), "{query}: {rest:?}");
    }
    // The two saw no join or leave meanwhile.
    bill.send(&json!({"text": "marker"}));
    for client in [&mut wukong, &mut bill] {
        let next = client.next();
        assert_eq!(
            (&next["type"], &next["text"]),
            (&json!("message"), &json!("marker"))
        );
    }
    // Once bill is gone, a look-alike of bill is only a name.
    bill.close();
    wukong.until("leave", |e| e["user"] == "bill");
    let mut again = server.connect("?name=biII");
    assert_eq!(again.expect("welcome")["you"], "biII");
}

/// A name is shown as NFKC makes it, without emoji presentation selectors
/// and with runs of spaces made one, to the user and to the room.
pub fn nicknames_are_normalised(example: &str) {
    let server = start(example);
    let mut watcher = server.join("watcher");
    for (query, shown) in [
        ("man%CC%83ana", "mañana"),                   // n + combining tilde
        ("%EF%BC%A1%EF%BC%A2", "AB"),                 // full-width
        ("%E2%9D%A4%EF%B8%8F%20fan", "\u{2764} fan"), // heart + VS16
        ("wu%20%20%20kong", "wu kong"),
    ] {
        let mut client = server.connect(&format!("?name={query}"));
        assert_eq!(client.expect("welcome")["you"], shown, "{query}");
        assert_eq!(watcher.until("join", |_| true)["user"], shown, "{query}");
    }
}

pub fn chinese_and_emoji_arrive_intact(example: &str) {
    let server = start(example);
    let name = "悟空🐒 ñ";
    // The client percent-encodes what is not ASCII; the server decodes it.
    let mut wukong = server.connect("?name=悟空🐒%20ñ");
    assert_eq!(wukong.expect("welcome")["you"], name);
    wukong.until("join", |e| e["user"] == name);
    let mut bajie = server.join("八戒");
    wukong.until("join", |e| e["user"] == "八戒");
    let text = "你好，世界！👋🦀🎉 \"quotes\" \\ back\nslash\t\u{1} \u{7f} \u{2028} end";
    wukong.send(&json!({"text": text}));
    wukong.send(&json!({"text": text, "to": "八戒"}));
    for client in [&mut wukong, &mut bajie] {
        let message = client.expect("message");
        assert_eq!(message["from"], name);
        assert_eq!(message["text"], text);
        let private = client.expect("private");
        assert_eq!(private["text"], text);
        assert_eq!(private["to"], "八戒");
    }
}

pub fn malformed_messages_get_an_error_and_reach_nobody(example: &str) {
    let server = start(example);
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    alice.until("join", |e| e["user"] == "bob");
    for bad in [
        "not json",
        "{}",
        r#"{"text": 5}"#,
        r#"{"text": "x", "to": 7}"#,
        "[]",
    ] {
        alice.ws.send_text(bad).unwrap();
        alice.expect("error");
    }
    alice.ws.send_binary(&[1, 2, 3]).unwrap();
    assert!(
        alice.expect("error")["error"]
            .as_str()
            .unwrap()
            .contains("binary")
    );
    alice.send(&json!({"text": "marker"}));
    assert_eq!(alice.expect("message")["text"], "marker");
    assert_eq!(bob.expect("message")["text"], "marker");
}

pub fn client_that_stops_reading_is_dropped_while_the_others_chat(example: &str) {
    // A short queue, so that it overflows soon after the socket buffers;
    // Alice talks as fast as the round trips go, far past the line rate
    // that this test is not about (tests/chat_hostile.rs is).
    let server = Server::start(
        example,
        &[
            "--queue",
            "32",
            "--line-burst",
            "1000000",
            "--line-rate",
            "1000000",
        ],
    );
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    alice.until("join", |e| e["user"] == "bob");
    // Sloth joins and never reads again.
    let _sloth = server.join("sloth");
    for client in [&mut alice, &mut bob] {
        client.until("join", |e| e["user"] == "sloth");
    }
    // Alice talks in 32 KiB messages; alice and bob read everything. The
    // server's queue for sloth overflows once its socket buffers are full.
    let big = "x".repeat(32 * 1024);
    let start = Instant::now();
    let mut dropped = false;
    for i in 0..5000 {
        alice.send(&json!({"text": format!("{i} {big}")}));
        for client in [&mut alice, &mut bob] {
            loop {
                let event = client.next();
                match event["type"].as_str() {
                    Some("message") => {
                        assert!(
                            event["text"]
                                .as_str()
                                .unwrap()
                                .starts_with(&format!("{i} "))
                        );
                        break;
                    }
                    Some("leave") => {
                        assert_eq!(event["user"], "sloth");
                        assert_eq!(event["reason"], "too slow");
                        assert_eq!(event["online"], 2);
                        dropped = true;
                    }
                    _ => panic!("unexpected {event}"),
                }
            }
        }
        if dropped {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(50),
            "sloth never dropped"
        );
    }
    assert!(dropped, "sloth was never dropped");
    // The room goes on: both still talk, promptly.
    for (from, text) in [("bob", "still here"), ("alice", "me too")] {
        let sender = if from == "bob" { &mut bob } else { &mut alice };
        sender.send(&json!({"text": text}));
        for client in [&mut alice, &mut bob] {
            let event = client.until("message", |_| true);
            assert_eq!(
                (&event["from"], &event["text"]),
                (&json!(from), &json!(text))
            );
        }
    }
}

/// Fails with the split `Reader` bug of
/// tests/blocking_timeouts.rs (`split_reader_keepalive_keeps_a_peer_that_answers`):
/// the server's reader never flushes its keepalive pings, so once the room
/// is quiet (no broadcast to carry them out) Alice, who would answer them,
/// is dropped after `--idle-timeout` too.
pub fn vanished_client_is_dropped_by_the_keepalive(example: &str) {
    let server = Server::start(example, &["--ping-interval", "0.2", "--idle-timeout", "1"]);
    let mut alice = server.join("alice");
    // A raw client: a valid handshake, then silence (no pongs). Like a
    // machine that lost its network: no FIN, no RST.
    let mut ghost = server.tcp();
    write!(
        ghost,
        "GET /ws?name=ghost HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    )
    .unwrap();
    alice.until("join", |e| e["user"] == "ghost");
    let start = Instant::now();
    // Alice answers the pings (her reads do), so only the ghost goes.
    let leave = alice.until("leave", |_| true);
    assert_eq!(leave["user"], "ghost");
    assert_eq!(leave["reason"], "timed out");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // Alice stays, past several idle timeouts, as long as she reads (and
    // so answers the pings).
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        let event = alice.ws.read_event().expect("pings keep coming");
        assert!(matches!(event, Some(rfc6455::Event::Ping(_))), "{event:?}");
    }
    alice.send(&json!({"text": "alive"}));
    assert_eq!(alice.until("message", |_| true)["text"], "alive");
    drop(ghost);
}

pub fn client_killed_without_a_close_is_removed(example: &str) {
    let server = start(example);
    let mut alice = server.join("alice");
    let killed = server.join("killed");
    alice.until("join", |e| e["user"] == "killed");
    killed.ws.get_ref().shutdown(Shutdown::Both).unwrap();
    drop(killed);
    let leave = alice.until("leave", |_| true);
    assert_eq!(leave["user"], "killed");
    assert_eq!(leave["reason"], "connection lost");
    // The name is free again.
    let mut again = server.connect("?name=killed");
    assert_eq!(again.expect("welcome")["you"], "killed");
}

pub fn serves_the_page_and_refuses_other_paths(example: &str) {
    let server = start(example);
    let (status, head, body) = server.get("/");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html; charset=utf-8")
    );
    let body = String::from_utf8(body).unwrap();
    assert_eq!(body, include_str!("../../examples/chat.html"));
    for id in [
        "name", "join", "status", "me", "messages", "users", "to", "input", "send",
    ] {
        assert!(body.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    for path in ["/nope", "/ws/x", "/index.html"] {
        assert_eq!(server.get(path).0, 404, "GET {path}");
    }
    // /ws without an upgrade is a bad handshake, answered by the adapter.
    assert_eq!(server.get("/ws").0, 400);
}

pub fn help_and_bad_arguments(example: &str) {
    let binary = app_harness::example_binary(example);
    let help = Command::new(&binary).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--idle-timeout") && help.contains("--no-deflate"));
    // Every limit with its default.
    for (flag, default) in [
        ("--max-connections N", "(default 1000"),
        ("--connect-burst N", "(default 30"),
        ("--connect-rate PER_SEC", "(default 5)"),
        ("--line-burst N", "(default 20)"),
        ("--line-rate PER_SEC", "(default 10)"),
        ("--flood-limit N", "(default 100)"),
        ("--queue N", "(default 1024)"),
    ] {
        let at = help
            .find(&format!("\n  {flag}"))
            .unwrap_or_else(|| panic!("no {flag} in\n{help}"));
        let entry = &help[at + 1..];
        let end = entry.find("\n  --").unwrap_or(entry.len());
        assert!(entry[..end].contains(default), "{flag}: {}", &entry[..end]);
    }
    for bad in [
        &["--port", "1"][..],
        &["--queue", "-1"],
        &["--ping-interval"],
        &["--no-deflate=yes"],
        &["--max-connections", "0"],
        &["--connect-rate", "-5"],
        &["--line-burst", "1.5"],
        &["--flood-limit", "many"],
    ] {
        let output = Command::new(&binary).args(bad).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
}

// ---- third-party clients in the room --------------------------------------------

/// The long room message the peer scripts send (see tests/peers/chat_client.*).
fn long_message() -> String {
    "长消息 long message 🦀 ".repeat(100)
}

/// Our client is in the room while a peer script joins as `peer_name`
/// (checking that the server answered its permessage-deflate offer with
/// `extensions`), talks to the room, sends us a private message and waits
/// for our answer, has a binary message refused, and closes with 1000.
fn chat_with_peer(server: &Server, peer_name: &str, extensions: &str, script: &mut Command) {
    let mut rust = server.join("rust");
    let watcher = thread::scope(|scope| {
        let ours = scope.spawn(move || {
            rust.until("join", |e| e["user"] == peer_name);
            let room = rust.until("message", |_| true);
            assert_eq!(room["from"], peer_name);
            assert_eq!(room["text"], format!("hello from {peer_name} 你好 🦀"));
            let long = rust.expect("message");
            assert_eq!(long["from"], peer_name);
            assert_eq!(long["text"], long_message());
            let private = rust.expect("private");
            assert_eq!(private["from"], peer_name);
            assert_eq!(private["text"], "psst, rust");
            rust.send(&json!({"text": "hi back 👋", "to": peer_name}));
            let leave = rust.until("leave", |_| true);
            assert_eq!(
                (&leave["user"], &leave["reason"]),
                (&json!(peer_name), &json!("left"))
            );
        });
        run_script(peer_name, script.arg(extensions), Duration::from_secs(30));
        ours.join()
    });
    watcher.expect("our client saw the exchange");
}

pub fn python_websockets_client_chats_with_ours(example: &str) {
    require_python_websockets();
    let server = start(example);
    let url = server.url("?name=py-%E8%9F%92"); // py-蟒
    chat_with_peer(
        &server,
        "py-蟒",
        EXAMPLE_DEFLATE,
        Command::new("python3").arg("chat_client.py").arg(url),
    );
}

pub fn node_ws_client_chats_with_ours(example: &str) {
    require_node_ws();
    let server = start(example);
    let url = server.url("?name=node-%E8%8A%82%E7%82%B9"); // node-节点
    chat_with_peer(
        &server,
        "node-节点",
        EXAMPLE_DEFLATE,
        Command::new("node").arg("chat_client.js").arg(url),
    );
}

// ---- permessage-deflate ---------------------------------------------------------

/// Accepted without context takeover; the server compresses messages of
/// 512 bytes or more only, and inflates what its clients compress.
#[cfg(feature = "deflate")]
pub fn permessage_deflate_is_accepted_and_long_messages_are_sent_compressed(example: &str) {
    use rfc6455::Message;
    use rfc6455::deflate::DeflateConfig;

    let server = start(example);
    let (mut ws, response) = connect_counted(server.addr, "?name=zip", DeflateConfig::default());
    assert_eq!(
        response.header_str("Sec-WebSocket-Extensions"),
        Some(EXAMPLE_DEFLATE)
    );
    let next = |ws: &mut _| -> (Value, usize, usize) {
        let (message, wire) = read_counted(ws);
        let text = message.as_text().expect("a text message").to_string();
        (serde_json::from_str(&text).unwrap(), text.len(), wire)
    };
    // The welcome and join notice (they may come with the 101, so their
    // bytes are not counted).
    for kind in ["welcome", "join"] {
        assert_eq!(next(&mut ws).0["type"], kind);
    }
    // A short line comes back uncompressed, a long one compressed. The
    // server inflates ours (compressed from 16 bytes on: the crate's
    // default threshold).
    for (text, compressed) in [("hi 你好", false), (&*long_message(), true)] {
        let out = Message::from(json!({ "text": text }).to_string());
        let sent = send_counted(&mut ws, &out);
        if compressed {
            assert!(sent < out.len() / 4, "{} bytes sent as {sent}", out.len());
        }
        let (event, len, wire) = next(&mut ws);
        assert_eq!(
            (&event["type"], &event["text"]),
            (&json!("message"), &json!(text))
        );
        if compressed {
            assert!(wire < len / 4, "{len} bytes took only {wire}");
        } else {
            assert!(wire > len, "{len} bytes took {wire}");
        }
    }
    assert_eq!(ws.connection().deflate_state(), (false, false));
    ws.close(CloseCode::NORMAL, "").expect("close");
    // The same answer to a raw offer (Chromium's, websockets', ws').
    assert_eq!(
        server
            .extensions_answer("?name=raw", DEFAULT_OFFER)
            .as_deref(),
        Some(EXAMPLE_DEFLATE)
    );
}

/// `--no-deflate`: the offer is declined, and Python `websockets` chats
/// uncompressed.
pub fn no_deflate_declines_permessage_deflate(example: &str) {
    require_python_websockets();
    let server = Server::start(example, &["--no-deflate"]);
    let url = server.url("?name=plain");
    chat_with_peer(
        &server,
        "plain",
        "",
        Command::new("python3").arg("chat_client.py").arg(url),
    );
    assert_eq!(server.extensions_answer("?name=raw", DEFAULT_OFFER), None);
}
