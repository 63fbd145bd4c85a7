//! What the example servers share: the answer to a plain HTTP request (one
//! that is not an upgrade) and their permessage-deflate policy. (A folder
//! with `mod.rs` is not an example of its own; each server includes it with
//! `mod support;`.)

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

/// How the example servers accept permessage-deflate (RFC 7692) when a
/// client offers it: with no context takeover in either direction
/// (`server_no_context_takeover; client_no_context_takeover` in the 101).
///
/// Each message is then compressed and decompressed on its own, so a
/// connection keeps no zlib state between messages: under 1 KiB of
/// compression memory per connection instead of about 428 KiB (a 371 KiB
/// compressor and a 46 KiB decompressor, kept from the first compressed
/// message in each direction on) with context takeover. A server holding
/// thousands of connections cannot afford the latter; smaller windows do not
/// help much (299 KiB at 9 bits: zlib sizes its hash tables by memory
/// level, not by window). Large messages still compress well, since
/// deflate's window works within a message; what is lost is the
/// redundancy between messages, and each compressed message pays about
/// 10 µs of zlib setup. Figures: `tests/deflate_memory.rs` and README.md.
#[cfg(feature = "deflate")]
pub fn deflate_policy() -> rfc6455::deflate::DeflateConfig {
    rfc6455::deflate::DeflateConfig::default().no_context_takeover(true, true)
}
