//! Reading and writing HTTP/1.1 heads: owned header fields, bounded parsing
//! on top of `httparse`, looking fields up by name (one view over every
//! kind of header map), and response building. Splitting lists is
//! [`crate::header_list`]'s job.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::str;

use super::{Limits, Parsed};
use crate::error::HandshakeError;
use crate::header_list;

/// One HTTP header field, owned.
///
/// The handshake happens once per connection, so copying the head out of the
/// read buffer costs little and frees that buffer for WebSocket frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name as received (compare it case-insensitively).
    pub name: String,
    /// The field value, without leading and trailing whitespace. HTTP allows
    /// bytes outside ASCII here, so it is not necessarily UTF-8.
    pub value: Vec<u8>,
}

impl Header {
    /// The value as text, if it is valid UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        str::from_utf8(&self.value).ok()
    }
}

/// Parses an HTTP head with `parse` (a thin wrapper around an `httparse`
/// parser), enforcing `limits`.
///
/// Only the first `max_header_bytes` bytes are ever looked at, so the work per
/// call is bounded no matter how much the peer sent.
pub(crate) fn parse_head<'b, T>(
    buf: &'b [u8],
    limits: &Limits,
    parse: impl FnOnce(
        &'b [u8],
        &mut [httparse::Header<'b>],
    ) -> Result<httparse::Status<(T, usize)>, httparse::Error>,
) -> Result<Parsed<T>, HandshakeError> {
    let window = &buf[..buf.len().min(limits.max_header_bytes)];
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    match parse(window, &mut slots) {
        Ok(httparse::Status::Complete((value, consumed))) => Ok(Parsed::Complete(value, consumed)),
        // The limit is reached and the head has not ended: it is too long.
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_header_bytes => {
            Err(HandshakeError::HeadersTooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders),
        Err(_) => Err(HandshakeError::MalformedHttp),
    }
}

/// Copies parsed header fields out of the read buffer.
pub(crate) fn to_owned(headers: &[httparse::Header<'_>]) -> Vec<Header> {
    headers
        .iter()
        .map(|h| Header {
            name: h.name.to_string(),
            value: h.value.to_vec(),
        })
        .collect()
}

/// Header fields looked up by name, case-insensitively: the owned fields
/// of a head parsed here, or (feature `http`) an `http::HeaderMap`. The
/// handshake's checks are written once over this view, so every way of
/// receiving a request applies the same rules.
pub(crate) trait Fields {
    /// The values of every field named `name`, in order.
    fn values<'f>(&'f self, name: &str) -> impl Iterator<Item = &'f [u8]>;
}

impl Fields for [Header] {
    fn values<'f>(&'f self, name: &str) -> impl Iterator<Item = &'f [u8]> {
        self.iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }
}

impl Fields for Vec<Header> {
    fn values<'f>(&'f self, name: &str) -> impl Iterator<Item = &'f [u8]> {
        self.as_slice().values(name)
    }
}

/// The value of the first field named `name`.
pub(crate) fn first<'f, F: Fields + ?Sized>(fields: &'f F, name: &str) -> Option<&'f [u8]> {
    fields.values(name).next()
}

/// The value of the field named `name`, if it appears exactly once.
pub(crate) fn single<'f, F: Fields + ?Sized>(fields: &'f F, name: &str) -> Option<&'f [u8]> {
    let mut values = fields.values(name);
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// Whether the comma-separated lists in the fields named `name` contain
/// `token`, compared case-insensitively. A field may be repeated: its values
/// then form one list (RFC 7230 §3.2.2).
pub(crate) fn has_token<F: Fields + ?Sized>(fields: &F, name: &str, token: &str) -> bool {
    fields
        .values(name)
        .any(|value| header_list::has_token(value, token))
}

/// The entries of the comma-separated lists in the fields named `name`, in
/// order, trimmed, empty entries skipped, commas inside quoted strings
/// respected (extension parameters may be quoted, RFC 6455 §9.1). A value
/// that is not UTF-8 makes the whole field malformed.
pub(crate) fn list<F: Fields + ?Sized>(
    fields: &F,
    name: &str,
) -> Result<Vec<String>, HandshakeError> {
    let mut entries = Vec::new();
    for value in fields.values(name) {
        let value = str::from_utf8(value).map_err(|_| HandshakeError::MalformedHttp)?;
        entries.extend(header_list::split_list(value).map(String::from));
    }
    Ok(entries)
}

/// Whether `s` can be sent as a header value: no control characters other
/// than tab, so in particular no CR or LF that would start a new line.
pub(crate) fn is_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Appends `name: value\r\n`.
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase for `status`, or `""` for an unknown one (the
/// phrase is optional, RFC 7230 §3.1.2).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Builds a plain HTTP/1.1 response: status line with the standard reason
/// phrase, `headers` in order, `Content-Length`, the empty line and `body`.
///
/// Meant for answering requests that are not WebSocket upgrades, e.g. serving
/// an HTML page on `GET /`.
///
/// It never fails and never lets a header inject lines: a header whose name
/// is not an HTTP token or whose value holds CR, LF or another control
/// character is left out, and so is a `Content-Length` given in `headers` (it
/// is always computed from `body`). A status outside 100–999 becomes 500. For
/// 1xx, 204 and 304 no `Content-Length` and no body are written, as RFC 7230
/// §3.3 requires.
///
/// ```
/// let page = rfc6455::handshake::http_response(200, &[("Content-Type", "text/html")], b"<p>hi</p>");
/// assert_eq!(
///     page,
///     b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n<p>hi</p>"
/// );
/// ```
pub fn http_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let bodyless = status < 200 || status == 204 || status == 304;
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for &(name, value) in headers {
        if header_list::is_token(name)
            && is_value(value)
            && !name.eq_ignore_ascii_case("content-length")
        {
            write_header(&mut out, name, value);
        }
    }
    if !bodyless {
        write_header(&mut out, "Content-Length", &body.len().to_string());
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_response_drops_injected_headers() {
        let out = http_response(404, &[("X-A", "1\r\nX-B: 2"), ("Bad Name", "v")], b"");
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}
