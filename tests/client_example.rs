//! End-to-end tests of `examples/client.rs`, the command-line client: the
//! real binary fed lines on stdin, against our `echo_server` and
//! `chat_server` examples, a Python `websockets` and a Node `ws` echo server
//! (tests/peers), and a server written here.

mod app_harness;
use app_harness::{
    Process, Server, example_binary, peers_dir, require_node_ws, require_python_websockets,
};

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::thread;
use std::time::Duration;

use rfc6455::blocking::{Error, WebSocket};

/// How long the client may take to finish after its stdin closes.
const FINISH: Duration = Duration::from_secs(20);

/// Starts the client example on `url`.
fn client(url: &str) -> Process {
    Process::spawn("client", Command::new(example_binary("client")).arg(url))
}

/// Feeds `lines` to the client, closes its stdin, and returns its stdout
/// after checking that it exited 0 after a clean close.
fn run_lines(url: &str, lines: &[&str]) -> (String, String) {
    let mut client = client(url);
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
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut ws = WebSocket::accept(stream).unwrap();
        ws.send_binary(&[0, 1, 0x7f, 0xff]).unwrap();
        ws.send_binary(&[0xab; 40]).unwrap();
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(Error::Closed(frame)) => return frame.and_then(|f| f.code),
                Err(e) => panic!("{e}"),
            }
        }
    });
    let (stdout, _) = run_lines(&format!("ws://{addr}/"), &[]);
    let long = format!("[binary, 40 bytes: {} ...]", vec!["ab"; 32].join(" "));
    assert_eq!(stdout, format!("[binary, 4 bytes: 00 01 7f ff]\n{long}\n"));
    assert_eq!(server.join().unwrap().map(|c| c.0), Some(1000));
}

#[test]
fn bad_arguments_and_unreachable_servers() {
    for args in [
        &[][..],
        &["http://127.0.0.1:1/"],
        &["wss://127.0.0.1:1/"],
        &["a", "b"],
        &["ws://"],
    ] {
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
}

// ---- against third-party echo servers --------------------------------------------

/// Runs the client against a peer echo server (its first line is
/// `listening on PORT`): lines come back, a ping from the server is answered
/// by the client's reader thread, stdin's end closes with 1000, and a close
/// from the server ends the client.
fn against_peer(name: &str, command: &mut Command) {
    let mut server = Process::spawn(name, command.current_dir(peers_dir()));
    let line = server.next_line(Duration::from_secs(10));
    let Some(port) = line
        .strip_prefix("listening on ")
        .and_then(|p| p.trim().parse::<u16>().ok())
    else {
        server.fail(&format!("unexpected first line {line:?}"));
    };
    let url = format!("ws://127.0.0.1:{port}/echo");

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
