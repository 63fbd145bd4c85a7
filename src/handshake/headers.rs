//! Reading and writing HTTP/1.1 heads: owned header fields, bounded parsing
//! on top of `httparse`, comma-separated lists, and response building.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::str;

use super::{Limits, Parsed};
use crate::error::HandshakeError;

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

/// Every field named `name` (case-insensitively), in order.
pub(crate) fn all<'h>(headers: &'h [Header], name: &str) -> impl Iterator<Item = &'h Header> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
}

/// The value of the first field named `name` (case-insensitively).
pub(crate) fn first<'h>(headers: &'h [Header], name: &str) -> Option<&'h [u8]> {
    all(headers, name).next().map(|h| h.value.as_slice())
}

/// The value of the field named `name`, if it appears exactly once.
pub(crate) fn single<'h>(headers: &'h [Header], name: &str) -> Option<&'h [u8]> {
    let mut fields = all(headers, name);
    match (fields.next(), fields.next()) {
        (Some(h), None) => Some(&h.value),
        _ => None,
    }
}

/// Whether the comma-separated lists in the fields named `name` contain
/// `token`, compared case-insensitively. A field may be repeated: its values
/// then form one list (RFC 7230 §3.2.2).
pub(crate) fn has_token(headers: &[Header], name: &str, token: &str) -> bool {
    all(headers, name).any(|h| {
        h.value
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The entries of the comma-separated lists in the fields named `name`,
/// trimmed, empty entries skipped, commas inside quoted strings respected
/// (extension parameters may be quoted, §9.1). A value that is not UTF-8
/// makes the whole field malformed.
pub(crate) fn list(headers: &[Header], name: &str) -> Result<Vec<String>, HandshakeError> {
    let mut entries = Vec::new();
    for header in all(headers, name) {
        let value = header.value_str().ok_or(HandshakeError::MalformedHttp)?;
        entries.extend(split_list(value).map(String::from));
    }
    Ok(entries)
}

/// Splits a comma-separated list, respecting quoted strings and their
/// backslash escapes; entries are trimmed and empty ones skipped.
pub(crate) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    core::iter::from_fn(move || {
        while !rest.is_empty() {
            let (mut quoted, mut escaped, mut end) = (false, false, rest.len());
            for (i, b) in rest.bytes().enumerate() {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' if quoted => escaped = true,
                    b'"' => quoted = !quoted,
                    b',' if !quoted => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let entry = rest[..end].trim_matches([' ', '\t']);
            rest = rest.get(end + 1..).unwrap_or("");
            if !entry.is_empty() {
                return Some(entry);
            }
        }
        None
    })
}

/// The extension name of a `Sec-WebSocket-Extensions` entry: the token
/// before its parameters (§9.1).
pub(crate) fn extension_name(entry: &str) -> &str {
    entry
        .split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t'])
}

/// Whether `entry` is one well-formed extension of a
/// `Sec-WebSocket-Extensions` list (§9.1): a token, then parameters
/// `; name` or `; name=value`, a value being a token or a quoted string
/// (RFC 7230 §3.2.6). An unclosed quote would swallow the entries after it
/// once the list is joined into one header field.
pub(crate) fn is_extension(entry: &str) -> bool {
    let ows = |s: &str| s.trim_start_matches([' ', '\t']).len();
    let token_len = |s: &str| s.bytes().take_while(|&b| is_token_byte(b)).count();
    let mut rest = entry.trim_start_matches([' ', '\t']);
    let mut first = true;
    loop {
        let name = token_len(rest);
        if name == 0 {
            return false;
        }
        rest = &rest[name..];
        rest = &rest[rest.len() - ows(rest)..];
        if !first && rest.starts_with('=') {
            rest = rest[1..].trim_start_matches([' ', '\t']);
            let value = if rest.starts_with('"') {
                match quoted_len(rest) {
                    Some(n) => n,
                    None => return false,
                }
            } else {
                token_len(rest)
            };
            if value == 0 {
                return false;
            }
            rest = rest[value..].trim_start_matches([' ', '\t']);
        }
        first = false;
        match rest.strip_prefix(';') {
            Some(after) => rest = after.trim_start_matches([' ', '\t']),
            None => return rest.is_empty(),
        }
    }
}

/// The length of the quoted string at the start of `s`, closing quote
/// included, or `None` if it is not closed.
fn quoted_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is an HTTP token (RFC 7230 §3.2.6): one or more visible ASCII
/// characters other than separators.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
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
        if is_token(name) && is_value(value) && !name.eq_ignore_ascii_case("content-length") {
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
    fn split_list_respects_quotes() {
        let entries: Vec<&str> = split_list(r#" a; x="1,2" ,, b ;y="\"," , c"#).collect();
        assert_eq!(entries, [r#"a; x="1,2""#, r#"b ;y="\",""#, "c"]);
    }

    #[test]
    fn extension_entries_follow_the_section_9_1_grammar() {
        for good in [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate;client_max_window_bits=10; server_no_context_takeover",
            "x; a=\"1\"",
            "x; a=\"q\\\"uote\"; b",
            "x ; a = 1",
        ] {
            assert!(is_extension(good), "{good:?} refused");
        }
        for bad in [
            "",
            ";",
            "x;",
            "x; a=",
            "x; a=\"1",
            "x; a=\"1\\\"",
            "x; =1",
            "x y",
            "x; a=1 2",
            "x; a=\"1\" 2",
            "x; a=(1)",
            "é",
        ] {
            assert!(!is_extension(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn extension_name_is_token_before_parameters() {
        assert_eq!(
            extension_name("permessage-deflate ; client_max_window_bits"),
            "permessage-deflate"
        );
    }

    #[test]
    fn http_response_drops_injected_headers() {
        let out = http_response(404, &[("X-A", "1\r\nX-B: 2"), ("Bad Name", "v")], b"");
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}
