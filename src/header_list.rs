//! Comma-separated header lists and the extension entries they carry, as
//! text: RFC 7230 §7 (`#rule` lists), §3.2.6 (tokens, quoted strings) and the
//! `Sec-WebSocket-Extensions` grammar of RFC 6455 §9.1:
//!
//! ```text
//! extension-list  = 1#extension
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! A quoted string may hold `,` and `;`, so neither a list nor an entry can
//! be split with `str::split`: every split here skips separators inside
//! quotes (and the character after a `\` inside them).
//!
//! A leaf: it depends on nothing else in the crate, so both the handshake
//! and the permessage-deflate parameters can use it.

use alloc::borrow::Cow;
use alloc::string::String;
use core::ops::Range;

/// Optional whitespace (RFC 7230 §3.2.3).
const OWS: [char; 2] = [' ', '\t'];

/// The ranges of `bytes` between the separators `sep` that are outside
/// quoted strings, untrimmed, empty ones included.
fn pieces(bytes: &[u8], sep: u8) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = Some(0);
    core::iter::from_fn(move || {
        let from = start?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in bytes.iter().enumerate().skip(from) {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == sep && !quoted => {
                    start = Some(i + 1);
                    return Some(from..i);
                }
                _ => {}
            }
        }
        start = None;
        Some(from..bytes.len())
    })
}

/// `range` of `bytes` without leading and trailing spaces and tabs.
fn trimmed(bytes: &[u8], range: Range<usize>) -> Range<usize> {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let piece = &bytes[range.clone()];
    let start = piece.iter().position(|b| !ows(b)).unwrap_or(piece.len());
    let end = piece.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    range.start + start..range.start + end
}

/// The entries of a comma-separated list (RFC 7230 §7), as byte ranges:
/// trimmed, empty entries skipped, commas inside quoted strings kept.
fn entries(bytes: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    pieces(bytes, b',')
        .map(|range| trimmed(bytes, range))
        .filter(|range| !range.is_empty())
}

/// The entries of a comma-separated list: trimmed, empty ones skipped
/// (RFC 7230 §7), commas inside quoted strings (and their `\` escapes)
/// respected, as extension parameters may be quoted (RFC 6455 §9.1).
///
/// An entry without a comma is its own one-entry list, so splitting entries
/// again is harmless.
pub(crate) fn split_list(value: &str) -> impl Iterator<Item = &str> {
    // The separators are ASCII, so every range falls on char boundaries.
    entries(value.as_bytes()).map(move |range| &value[range])
}

/// [`split_list`] over raw bytes, for header values that need not be UTF-8
/// (e.g. `Connection: keep-alive, Upgrade`).
pub(crate) fn split_list_bytes(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    entries(value).map(move |range| &value[range])
}

/// Whether the list `value` holds `token`, compared case-insensitively
/// (`Upgrade: websocket`, `Connection: Upgrade`, RFC 6455 §4.2.1).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    split_list_bytes(value).any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
}

/// The extension name of a `Sec-WebSocket-Extensions` entry: the token
/// before its parameters (RFC 6455 §9.1), trimmed.
pub(crate) fn extension_name(entry: &str) -> &str {
    let range = pieces(entry.as_bytes(), b';').next().unwrap_or(0..0);
    entry[range].trim_matches(OWS)
}

/// The parameters of an extension entry (RFC 6455 §9.1), after its name:
/// `(name, value)` with both trimmed, the value as written (a token or a
/// quoted string with its quotes, see [`unquote`]) or `None` without `=`.
/// Semicolons inside quoted strings do not split.
// Only permessage-deflate reads parameters so far.
#[cfg_attr(not(feature = "deflate"), allow(dead_code))]
pub(crate) fn extension_params(entry: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    pieces(entry.as_bytes(), b';').skip(1).map(move |range| {
        let param = &entry[range];
        match param.split_once('=') {
            Some((name, value)) => (name.trim_matches(OWS), Some(value.trim_matches(OWS))),
            None => (param.trim_matches(OWS), None),
        }
    })
}

/// A parameter value's content: a token as it is, or a quoted string
/// without its quotes and with its `\` escapes undone (RFC 7230 §3.2.6;
/// RFC 6455 §9.1: "the value after quoted-string unescaping MUST conform
/// to the token ABNF"). `None` for a quoted string that is not closed, or
/// that has text after its closing quote.
// Only permessage-deflate reads parameters so far.
#[cfg_attr(not(feature = "deflate"), allow(dead_code))]
pub(crate) fn unquote(value: &str) -> Option<Cow<'_, str>> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(Cow::Borrowed(value));
    };
    if quoted_len(value)? != value.len() {
        return None;
    }
    let inner = &inner[..inner.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        // quoted_len has checked that a `\` is never last.
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(Cow::Owned(out))
}

/// Whether `entry` is one well-formed extension of a
/// `Sec-WebSocket-Extensions` list (RFC 6455 §9.1): a token, then parameters
/// `; name` or `; name=value`, a value being a token or a quoted string
/// (RFC 7230 §3.2.6). An unclosed quote would swallow the entries after it
/// once the list is joined into one header field.
pub(crate) fn is_extension(entry: &str) -> bool {
    let token_len = |s: &str| s.bytes().take_while(|&b| is_token_byte(b)).count();
    let mut rest = entry.trim_start_matches(OWS);
    let mut first = true;
    loop {
        let name = token_len(rest);
        if name == 0 {
            return false;
        }
        rest = rest[name..].trim_start_matches(OWS);
        if !first && rest.starts_with('=') {
            rest = rest[1..].trim_start_matches(OWS);
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
            rest = rest[value..].trim_start_matches(OWS);
        }
        first = false;
        match rest.strip_prefix(';') {
            Some(after) => rest = after.trim_start_matches(OWS),
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

/// A `tchar` (RFC 7230 §3.2.6).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is an HTTP token (RFC 7230 §3.2.6): one or more visible ASCII
/// characters other than separators.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn split_list_respects_quotes() {
        let entries: Vec<&str> = split_list(r#" a; x="1,2" ,, b ;y="\"," , c"#).collect();
        assert_eq!(entries, [r#"a; x="1,2""#, r#"b ;y="\",""#, "c"]);
        assert_eq!(split_list(" , ,\t").count(), 0);
        assert_eq!(split_list("").count(), 0);
        // An unclosed quote runs to the end of the value.
        assert_eq!(
            split_list(r#"a; x="1, b"#).collect::<Vec<_>>(),
            [r#"a; x="1, b"#]
        );
    }

    #[test]
    fn several_offers_in_one_value_are_separate_entries() {
        // RFC 7692 §5: a client may offer permessage-deflate more than once.
        let value = "permessage-deflate; client_max_window_bits=10, permessage-deflate";
        let entries: Vec<&str> = split_list(value).collect();
        assert_eq!(
            entries,
            [
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate"
            ]
        );
        for entry in entries {
            assert_eq!(split_list(entry).collect::<Vec<_>>(), [entry], "idempotent");
        }
    }

    #[test]
    fn split_list_bytes_keeps_non_utf8() {
        let entries: Vec<&[u8]> = split_list_bytes(b"keep-alive,\xff, Upgrade").collect();
        assert_eq!(entries, [&b"keep-alive"[..], b"\xff", b"Upgrade"]);
        assert!(has_token(b"keep-alive, UPGRADE", "upgrade"));
        assert!(!has_token(b"upgraded", "upgrade"));
    }

    #[test]
    fn extension_name_is_token_before_parameters() {
        assert_eq!(
            extension_name("permessage-deflate ; client_max_window_bits"),
            "permessage-deflate"
        );
        assert_eq!(extension_name(" x "), "x");
    }

    #[test]
    fn extension_params_respect_quotes() {
        let params: Vec<_> = extension_params(r#"x; a ; b = 1;c="p;q=r" ;d="#).collect();
        assert_eq!(
            params,
            [
                ("a", None),
                ("b", Some("1")),
                ("c", Some(r#""p;q=r""#)),
                ("d", Some(""))
            ]
        );
        assert_eq!(extension_params("x").count(), 0);
    }

    #[test]
    fn unquote_undoes_quoted_pairs() {
        for (value, content) in [
            ("10", Some("10")),
            (r#""10""#, Some("10")),
            (r#""\1\0""#, Some("10")),
            (r#""a\"b""#, Some("a\"b")),
            (r#""10"#, None),
            (r#""1"0"#, None),
            (r#""1\""#, None),
        ] {
            assert_eq!(unquote(value).as_deref(), content, "{value:?}");
        }
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
    fn tokens() {
        assert!(is_token("permessage-deflate"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("a,b"));
    }
}
