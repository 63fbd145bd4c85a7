//! Raw HTTP for the tests of axum_chat's HTTP chat (`/chat/login`,
//! `/chat/post`, `/chat/stream`, `/chat/poll`): a request and its whole
//! answer, and a Server-Sent Events stream read as it comes.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::app_harness::{self, Server};

/// A request with `headers` (each ending in CRLF) and `body`, over a fresh
/// connection closed after the answer: the status and the whole response.
pub fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String) {
    request_to(
        server,
        &server.addr.to_string(),
        method,
        path,
        headers,
        body,
    )
}

/// [`request`] addressed to `host` (its `Host` header) instead of the
/// server's address.
pub fn request_to(
    server: &Server,
    host: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String) {
    let mut tcp = server.tcp();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    tcp.write_all(body).unwrap();
    let mut response = Vec::new();
    let _ = tcp.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// `POST path` with a form `body` and `cookie`.
pub fn post(server: &Server, path: &str, cookie: &str, body: &str) -> (u16, String) {
    let headers =
        format!("Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n");
    request(server, "POST", path, &headers, body.as_bytes())
}

/// An open `GET /chat/stream` (with `headers`), past its opening comment.
pub struct Stream {
    pub tcp: TcpStream,
    /// Everything read so far (chunk sizes included: hyper sends the stream chunked).
    pub seen: String,
}

impl Stream {
    pub fn open(server: &Server, headers: &str) -> Stream {
        let mut tcp = app_harness::tcp(server.addr);
        write!(
            tcp,
            "GET /chat/stream HTTP/1.1\r\nHost: {}\r\n{headers}\r\n",
            server.addr
        )
        .unwrap();
        let mut stream = Stream {
            tcp,
            seen: String::new(),
        };
        stream.read_until(": connected\n\n");
        let head = stream.seen.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{}", stream.seen);
        assert!(
            head.contains("content-type: text/event-stream"),
            "{}",
            stream.seen
        );
        stream
    }

    /// Reads until what was read contains `needle`.
    pub fn read_until(&mut self, needle: &str) {
        let mut buf = [0u8; 4096];
        while !self.seen.contains(needle) {
            let n = self.tcp.read(&mut buf).expect("read the stream");
            assert!(n > 0, "the stream ended: {}", self.seen);
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    /// The `id:` of every event read so far.
    pub fn ids(&self) -> Vec<u64> {
        self.seen
            .lines()
            .filter_map(|line| line.strip_prefix("id: "))
            .map(|id| id.parse().unwrap())
            .collect()
    }

    /// The `data:` of every event read so far, as JSON.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.seen
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .map(|data| serde_json::from_str(data).unwrap())
            .collect()
    }
}
