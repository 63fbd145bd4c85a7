//! What the example servers share that is plain HTTP, not WebSocket: the
//! answer to a request that is not an upgrade. (A folder with `mod.rs` is
//! not an example of its own; each server includes it with `mod support;`.)

use rfc6455::handshake::http_response;

/// The response to a plain HTTP request: `page` on `GET /`, 405 for another
/// method on `/`, 404 elsewhere. Each closes the connection.
pub fn plain_http(method: &str, path: &str, page: &str) -> Vec<u8> {
    match (method, path) {
        ("GET", "/") => http_response(
            200,
            &[
                ("Content-Type", "text/html; charset=utf-8"),
                ("Connection", "close"),
            ],
            page.as_bytes(),
        ),
        (_, "/") => http_response(405, &[("Allow", "GET"), ("Connection", "close")], b""),
        _ => http_response(
            404,
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Connection", "close"),
            ],
            b"not found\n",
        ),
    }
}
