//! End-to-end tests of `examples/client.rs`, the command-line client: the
//! real binary fed lines on stdin, against our `echo_server` and
//! `chat_server` examples, Python `websockets` and Node `ws` echo servers
//! (tests/peers), with and without permessage-deflate, and servers written
//! here.

mod app_harness;
use app_harness::{
    Process, Server, example_binary, require_node_ws, require_python_websockets, start_peer_server,
};

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::thread;
use std::time::Duration;

use rfc6455::blocking::WebSocket;

/// How long the client may take to finish after its stdin closes.
const FINISH: Duration = Duration::from_secs(20);

/// Starts the client example on `url`.
fn client(url: &str) -> Process {
    client_with(&[], url)
}

/// Starts the client example with `args` (flags) on `url`.
fn client_with(args: &[&str], url: &str) -> Process {
    Process::spawn(
        "client",
        Command::new(example_binary("client")).args(args).arg(url),
    )
}

/// Feeds `lines` to the client, closes its stdin, and returns its stdout
/// after checking that it exited 0 after a clean close.
fn run_lines(url: &str, lines: &[&str]) -> (String, String) {
    run_lines_with(&[], url, lines)
}

/// [`run_lines`] with flags.
fn run_lines_with(args: &[&str], url: &str, lines: &[&str]) -> (String, String) {
    let mut client = client_with(args, url);
    for line in lines {
        writeln!(client.stdin(), "{line}").unwrap();
    }
    client.close_stdin();
    let status = client.wait(FINISH);
    if !status.success() {
        client.fail(&format!("exited with {status}"));
    }
    (client.stdout(), client.stderr())
}

#[test]
fn echoes_stdin_lines_and_closes_with_1000_at_eof() {
    let server = Server::start("echo_server", &[]);
    let lines = [
        "hello",
        "你好，世界 🦀👋",
        "",
        "  spaces  and\ttab ",
        "last line",
    ];
    let (stdout, stderr) = run_lines(&server.url(""), &lines);
    let expected: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(stdout, expected);
    assert!(stderr.contains("connected to ws://"), "{stderr}");
    // The echo server answered our close 1000 with 1000.
    assert!(stderr.contains("closed: 1000"), "{stderr}");
}

#[test]
fn many_lines_come_back_in_order() {
    let server = Server::start("echo_server", &[]);
    let lines: Vec<String> = (0..2000)
        .map(|i| format!("line {i} ✓ {}", "x".repeat(i % 300)))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (stdout, _) = run_lines(&server.url(""), &refs);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), refs);
}

#[test]
fn chats_and_ends_by_itself_when_the_server_closes() {
    let server = Server::start("chat_server", &[]);
    let mut alice = client(&server.url("?name=alice"));
    // Welcome and join notice, one JSON message per line.
    let welcome = alice.next_line(Duration::from_secs(10));
    assert!(
        welcome.contains(r#""type":"welcome""#) && welcome.contains(r#""you":"alice""#),
        "{welcome}"
    );
    assert!(
        alice
            .next_line(Duration::from_secs(10))
            .contains(r#""type":"join""#)
    );
    writeln!(alice.stdin(), r#"{{"text": "hi 🦀"}}"#).unwrap();
    let message = alice.next_line(Duration::from_secs(10));
    assert!(
        message.contains(r#""text":"hi 🦀""#) && message.contains(r#""from":"alice""#),
        "{message}"
    );

    // A second alice is refused: the server closes with 1008, and the
    // client exits 0 on its own although its stdin is still open.
    let mut impostor = client(&server.url("?name=alice"));
    let status = impostor.wait(FINISH);
    assert!(status.success(), "{status}");
    assert!(
        impostor.stdout().contains("already taken"),
        "{}",
        impostor.stdout()
    );
    assert!(
        impostor.stderr().contains("closed: 1008 nickname refused"),
        "{}",
        impostor.stderr()
    );

    alice.close_stdin();
    assert!(alice.wait(FINISH).success());
}

#[test]
fn prints_binary_messages_as_hex() {
    // A server that sends one binary message, then answers the close.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        // The adapter bounds the handshake (10 s) and runs the keepalive
        // while it reads: a client that goes quiet cannot hang the test.
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept(stream).unwrap();
        ws.send_binary(&[0, 1, 0x7f, 0xff]).unwrap();
        ws.send_binary(&[0xab; 40]).unwrap();
        while ws.read().unwrap().is_some() {}
        // The close handshake is done: the client's close frame.
        ws.connection().peer_close().and_then(|f| f.code)
    });
    let (stdout, _) = run_lines(&format!("ws://{addr}/"), &[]);
    let long = format!("[binary, 40 bytes: {} ...]", vec!["ab"; 32].join(" "));
    assert_eq!(stdout, format!("[binary, 4 bytes: 00 01 7f ff]\n{long}\n"));
    assert_eq!(server.join().unwrap().map(|c| c.0), Some(1000));
}

#[test]
fn bad_arguments_and_unreachable_servers() {
    // Without TLS (the harness builds the client with `rustls` when this
    // test has it) a wss:// URL is a usage error; with it, a refused
    // connection (below).
    let wss: &[&[&str]] = if cfg!(feature = "rustls") {
        &[]
    } else {
        &[&["wss://127.0.0.1:1/"]]
    };
    for args in [
        &[][..],
        &["http://127.0.0.1:1/"],
        &["a", "b"],
        &["ws://"],
        &["--ca"],
    ]
    .into_iter()
    .chain(wss.iter().copied())
    {
        let output = Command::new(example_binary("client"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // A port nobody listens on: connection refused, status 1.
    let free: SocketAddr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = Command::new(example_binary("client"))
        .arg(format!("ws://{free}/"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
    if cfg!(feature = "rustls") {
        let output = Command::new(example_binary("client"))
            .arg(format!("wss://{free}/"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
    }
}

// ---- against third-party echo servers --------------------------------------------

/// Runs the client against a peer echo server (its first line is
/// `listening on PORT`): lines come back, a ping from the server is answered
/// by the client's reader thread, stdin's end closes with 1000, and a close
/// from the server ends the client.
fn against_peer(name: &str, command: &mut Command) {
    let (_server, addr) = start_peer_server(name, command);
    let url = format!("ws://{addr}/echo");

    // Each echo is awaited before the next line: python `websockets` answers
    // a close at once, dropping echoes its handler has not sent yet.
    let mut client = client(&url);
    for line in ["hello 你好 🦀", "", "last"] {
        writeln!(client.stdin(), "{line}").unwrap();
        assert_eq!(client.next_line(Duration::from_secs(10)), line);
    }
    // The server pings; the client's reader thread answers.
    writeln!(client.stdin(), "ping:are you there").unwrap();
    assert_eq!(client.next_line(Duration::from_secs(10)), "pong ok");
    client.close_stdin();
    assert!(client.wait(FINISH).success());
    assert!(
        client.stderr().contains("closed: 1000"),
        "{}",
        client.stderr()
    );

    // The server closes first: the client ends with status 0, stdin open.
    let mut client = self::client(&url);
    writeln!(client.stdin(), "close:4000:bye 再见").unwrap();
    let status = client.wait(FINISH);
    assert!(status.success(), "{status}");
    assert!(
        client.stderr().contains("closed: 4000 bye 再见"),
        "{}",
        client.stderr()
    );
}

#[test]
fn against_python_websockets_echo_server() {
    require_python_websockets();
    against_peer(
        "py_echo_server.py",
        Command::new("python3").arg("py_echo_server.py"),
    );
}

#[test]
fn against_node_ws_echo_server() {
    require_node_ws();
    against_peer(
        "node_echo_server.js",
        Command::new("node").arg("node_echo_server.js"),
    );
}

// ---- permessage-deflate ------------------------------------------------------------

/// Compressible text of about `len` bytes, one line.
fn words(len: usize) -> String {
    let words = [
        "client ", "deflate ", "line ", "狗 ", "🦀 ", "the ", "window ",
    ];
    (0..)
        .map(|i: usize| words[(i * i + i / 3) % words.len()])
        .scan(0, |n, w| {
            *n += w.len();
            (*n <= len).then_some(w)
        })
        .collect()
}

/// What a server written here saw of the client: the extensions it
/// offered, what was agreed, whether the client's message came compressed.
#[cfg(feature = "deflate")]
struct Seen {
    offer: Option<String>,
    agreed: Option<rfc6455::deflate::DeflateParams>,
    inflated: bool,
}

/// A server that accepts permessage-deflate with the crate's defaults
/// (context takeover), sends `text` and reads one message, which must be
/// `expected`, then the close.
#[cfg(feature = "deflate")]
fn deflate_server(text: String, expected: String) -> (SocketAddr, thread::JoinHandle<Seen>) {
    use rfc6455::Config;
    use rfc6455::blocking::read_request;
    use rfc6455::deflate::DeflateConfig;
    use rfc6455::handshake::Limits;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        // The request head has the default 10 s deadline (Limits::timeout).
        let (mut stream, _) = listener.accept().unwrap();
        let (request, rest) = read_request(&mut stream, &Limits::default()).unwrap();
        let offer = request
            .header_str("Sec-WebSocket-Extensions")
            .map(str::to_string);
        let config = Config::default().deflate(DeflateConfig::default());
        let mut ws = WebSocket::upgrade(stream, request, &rest, config, |_| Ok(None)).unwrap();
        let agreed = ws.connection().deflate();
        ws.send_text(&text).unwrap();
        let message = ws
            .read()
            .expect("the client's line")
            .expect("a message, not the close");
        assert_eq!(message.as_text(), Some(expected.as_str()));
        // With context takeover the decompressor outlives a compressed
        // message: it is there only if the client compressed its line.
        let inflated = ws.connection().deflate_state().1;
        match ws.read() {
            Ok(None) => assert!(ws.connection().peer_close().is_some()),
            other => panic!("expected the client's close, got {other:?}"),
        }
        Seen {
            offer,
            agreed,
            inflated,
        }
    });
    (addr, server)
}

/// By default the client offers permessage-deflate as the crate does,
/// inflates what the server compressed and compresses what it sends; with
/// `--no-deflate` it offers nothing. Its output is the same either way.
#[cfg(feature = "deflate")]
#[test]
fn offers_permessage_deflate_unless_no_deflate() {
    use rfc6455::deflate::DeflateParams;

    let from_server = words(5000);
    let from_client = words(3000);
    for (args, deflate) in [(&[][..], true), (&["--no-deflate"], false)] {
        let (addr, server) = deflate_server(from_server.clone(), from_client.clone());
        let (stdout, _) = run_lines_with(args, &format!("ws://{addr}/"), &[&from_client]);
        assert!(
            stdout == format!("{from_server}\n"),
            "{args:?}: the output differs"
        );
        let seen = server.join().unwrap();
        if deflate {
            assert_eq!(
                seen.offer.as_deref(),
                Some("permessage-deflate; client_max_window_bits")
            );
            assert_eq!(seen.agreed, Some(DeflateParams::default()));
            assert!(seen.inflated, "the client's line came uncompressed");
        } else {
            assert_eq!(seen.offer, None);
            assert_eq!(seen.agreed, None);
            assert!(!seen.inflated);
        }
    }
}

/// Against the compressing Python `websockets` and Node `ws` echo servers
/// (tests/peers/deflate_*_server.*): the line `extensions?` is answered with
/// the Sec-WebSocket-Extensions the peer sent, which names the extension
/// by default and is empty with `--no-deflate`; a long line comes back.
fn against_deflate_peer(name: &str, command: impl Fn() -> Command, answer: &str) {
    let long = words(20_000);
    for (args, expected) in [(&[][..], answer), (&["--no-deflate"], "")] {
        let (_server, addr) = start_peer_server(name, &mut command());
        let url = format!("ws://{addr}/");
        // Each answer is awaited before the next line (see `against_peer`).
        let mut client = client_with(args, &url);
        writeln!(client.stdin(), "extensions?").unwrap();
        let answer = client.next_line(Duration::from_secs(10));
        assert_eq!(answer, expected, "{name} {args:?}");
        writeln!(client.stdin(), "{long}").unwrap();
        let echo = client.next_line(Duration::from_secs(10));
        assert!(
            echo == long,
            "{name} {args:?}: the long line came back different"
        );
        client.close_stdin();
        assert!(client.wait(FINISH).success(), "{name} {args:?}");
    }
}

#[test]
fn against_compressing_python_websockets_echo_server() {
    require_python_websockets();
    against_deflate_peer(
        "deflate_py_server.py",
        || {
            let mut command = Command::new("python3");
            command.arg("deflate_py_server.py");
            command
        },
        "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    );
}

#[test]
fn against_compressing_node_ws_echo_server() {
    require_node_ws();
    against_deflate_peer(
        "deflate_node_server.js",
        || {
            let mut command = Command::new("node");
            command.arg("deflate_node_server.js");
            command
        },
        "permessage-deflate",
    );
}

#[test]
fn help_names_no_deflate() {
    let help = Command::new(example_binary("client"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--no-deflate"));
}
