//! Cross-site WebSocket hijacking (issue 16, finding 5) against every
//! example server, with raw requests: a foreign `Origin` gets 403 before
//! the upgrade, the server's own origin and a request without `Origin` (not
//! a browser) get 101, `--allow-origin` widens the policy, `--any-origin`
//! turns it off, and with `--host` a request addressed to another name gets
//! 421. The browser's side of the same: tests/browser.rs
//! (`*_refuses_a_page_from_another_origin`).

mod app_harness;

use std::io::{Read, Write};

use app_harness::Server;

const EXAMPLES: [&str; 6] = [
    "echo_server",
    "chat_server",
    "vote_server",
    "mio_echo_server",
    "tokio_echo_server",
    "axum_chat",
];

/// The status of the answer to a WebSocket handshake with `host` (the
/// server's own address when `None`) and `origin`.
fn status(server: &Server, host: Option<&str>, origin: Option<&str>) -> u16 {
    let mut stream = server.tcp();
    let host = host.map_or_else(|| server.addr.to_string(), str::to_owned);
    let mut head = format!(
        "GET /ws?name=origin HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n"
    );
    if let Some(origin) = origin {
        head.push_str(&format!("Origin: {origin}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    let mut byte = [0; 1];
    while !response.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => response.push(byte[0]),
            other => panic!(
                "no complete answer ({other:?}): {:?}",
                String::from_utf8_lossy(&response)
            ),
        }
    }
    let text = String::from_utf8_lossy(&response);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {text:?}"))
}

#[test]
fn a_foreign_origin_is_refused_with_403_before_the_upgrade() {
    for example in EXAMPLES {
        let server = Server::start(example, &[]);
        let own = format!("http://{}", server.addr);
        assert_eq!(
            status(&server, None, Some("http://evil.example")),
            403,
            "{example}: foreign"
        );
        let other_port = format!("http://127.0.0.1:{}", server.addr.port() ^ 1);
        assert_eq!(
            status(&server, None, Some(&other_port)),
            403,
            "{example}: other port"
        );
        assert_eq!(status(&server, None, Some("null")), 403, "{example}: null");
        assert_eq!(
            status(&server, None, Some(&own)),
            101,
            "{example}: same origin"
        );
        let https = format!("https://{}", server.addr);
        assert_eq!(
            status(&server, None, Some(&https)),
            101,
            "{example}: same origin, https"
        );
        assert_eq!(status(&server, None, None), 101, "{example}: no Origin");
        // A page served by the same server under another name is another
        // origin too.
        let localhost = format!("http://localhost:{}", server.addr.port());
        assert_eq!(
            status(&server, None, Some(&localhost)),
            403,
            "{example}: localhost"
        );
    }
}

#[test]
fn allow_origin_widens_it_and_any_origin_turns_it_off() {
    for example in EXAMPLES {
        let server = Server::start(
            example,
            &[
                "--allow-origin",
                "http://app.example",
                "--allow-origin",
                "https://other.example:8443",
            ],
        );
        let own = format!("http://{}", server.addr);
        assert_eq!(
            status(&server, None, Some("http://app.example")),
            101,
            "{example}"
        );
        assert_eq!(
            status(&server, None, Some("https://other.example:8443")),
            101,
            "{example}"
        );
        assert_eq!(
            status(&server, None, Some("https://app.example")),
            403,
            "{example}"
        );
        assert_eq!(
            status(&server, None, Some("http://evil.example")),
            403,
            "{example}"
        );
        assert_eq!(
            status(&server, None, Some(&own)),
            101,
            "{example}: still same origin"
        );
        drop(server);

        let server = Server::start(example, &["--any-origin"]);
        assert_eq!(
            status(&server, None, Some("http://evil.example")),
            101,
            "{example}: any"
        );
    }
}

#[test]
fn host_refuses_other_names_with_421() {
    for example in EXAMPLES {
        let server = Server::start(example, &["--host", "127.0.0.1", "--host", "chat.example"]);
        let port = server.addr.port();
        assert_eq!(status(&server, None, None), 101, "{example}: own address");
        let named = format!("chat.example:{port}");
        let named_origin = format!("http://{named}");
        assert_eq!(
            status(&server, Some(&named), Some(&named_origin)),
            101,
            "{example}: named"
        );
        // DNS rebinding: the attacker's name in both Host and Origin passes
        // the same-origin check; the Host check stops it.
        let rebound = format!("evil.example:{port}");
        let rebound_origin = format!("http://{rebound}");
        assert_eq!(
            status(&server, Some(&rebound), Some(&rebound_origin)),
            421,
            "{example}: rebound"
        );
        drop(server);
        // Without --host any name is served.
        let server = Server::start(example, &[]);
        let rebound = format!("evil.example:{}", server.addr.port());
        let rebound_origin = format!("http://{rebound}");
        assert_eq!(
            status(&server, Some(&rebound), Some(&rebound_origin)),
            101,
            "{example}"
        );
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    for example in EXAMPLES {
        let output = std::process::Command::new(app_harness::example_binary(example))
            .args(["--allow-origin", "evil.example"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{example}");
        let output = std::process::Command::new(app_harness::example_binary(example))
            .args(["--memory-budget-mib", "0"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{example}");
    }
}

// ---- one memory budget for the whole process -------------------------------

/// A masked client frame (mask key 0: the payload goes as it is).
fn frame(first: bool, fin: bool, payload: &[u8]) -> Vec<u8> {
    let opcode = if first { 0x2 } else { 0x0 };
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    assert!(payload.len() < 1 << 16 && payload.len() >= 126);
    out.push(0x80 | 126);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
    out
}

/// Sends `fragments` 32 KiB fragments of one unfinished binary message;
/// an error if the server closed the connection meanwhile.
fn hold(stream: &mut std::net::TcpStream, fragments: usize) -> std::io::Result<()> {
    let chunk = vec![b'x'; 32 << 10];
    for i in 0..fragments {
        stream.write_all(&frame(i == 0, false, &chunk))?;
    }
    stream.flush()
}

/// The close code of the first close frame the server sends, if any
/// before it ends the connection.
fn close_code(stream: &mut std::net::TcpStream) -> Option<u16> {
    let mut header = [0; 2];
    loop {
        stream.read_exact(&mut header).ok()?;
        let len = usize::from(header[1] & 0x7f);
        assert!(len < 126, "only small frames expected");
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).ok()?;
        if header[0] & 0x0f == 0x8 {
            return Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// `--memory-budget-mib 1`: two connections each holding 640 KiB of an
/// unfinished message would need 1.25 MiB between them; the second is
/// closed with 1013 (try again later) while the first, within the budget,
/// stays open: one budget for the process, not one per connection.
#[test]
fn one_memory_budget_is_shared_by_all_connections() {
    for example in ["echo_server", "mio_echo_server", "tokio_echo_server"] {
        let server = Server::start(example, &["--memory-budget-mib", "1"]);
        let mut first = server.upgraded("");
        hold(&mut first, 20).unwrap();
        // Let the server take the first one's fragments before the second's.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut second = server.upgraded("");
        // The server may close it (1013) before all 20 fragments are sent:
        // the rest of the writes then fail, and its close frame is read.
        let _ = hold(&mut second, 20);
        assert_eq!(
            close_code(&mut second),
            Some(1013),
            "{example}: the second connection"
        );
        // The first one finishes its message and gets it back.
        first.write_all(&frame(false, true, &[b'y'; 200])).unwrap();
        let mut header = [0; 2];
        first.read_exact(&mut header).unwrap();
        assert_eq!(header[0], 0x82, "{example}: the first one's echo");
    }
}
