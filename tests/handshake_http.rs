//! The opening handshake through `http` types (feature `http`), beside the
//! byte parser: every request of the server-side tables of
//! `tests/handshake.rs` gets the same verdict both ways (the same
//! `HandshakeError`, HTTP status and explaining fields on a refusal; the
//! same `Sec-WebSocket-Accept`, subprotocol, permessage-deflate entry and
//! `Agreement` on success). Then what only the `http` path has: checking a
//! response another client parsed. HTTP/2 is in `tests/handshake_http2.rs`.
//!
//! Built only with `--features http` (see `[[test]]` in Cargo.toml).

use http::{HeaderMap, HeaderValue, Request, StatusCode, Version};
use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::{
    AcceptOptions, ClientHandshake, ClientOptions, HttpUpgrade, Limits, Parsed, Rejection,
    Response, UpgradeRequest,
};
use rfc6455::{HandshakeError, Role};

/// The sample key of RFC 6455 §1.3 and its accept value.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A head from its lines: CRLF after each, then the empty line.
fn head(lines: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for line in lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// `tests/handshake.rs`'s minimal valid upgrade request with `replace`
/// applied: an entry replaces the line with the same `Name:` (or the
/// request line); `"-Name"` removes it; `"+Name: value"` is appended.
fn request(replace: &[&str]) -> Vec<u8> {
    let mut lines = vec![
        "GET /chat HTTP/1.1".to_string(),
        "Host: server.example.com".into(),
        "Upgrade: websocket".into(),
        "Connection: Upgrade".into(),
        format!("Sec-WebSocket-Key: {SAMPLE_KEY}"),
        "Sec-WebSocket-Version: 13".into(),
    ];
    let name = |line: &str| line.split(':').next().unwrap().to_ascii_lowercase();
    for entry in replace {
        if let Some(removed) = entry.strip_prefix('-') {
            lines.retain(|l| name(l) != removed.to_ascii_lowercase());
        } else if let Some(added) = entry.strip_prefix('+') {
            lines.push(added.to_string());
        } else if entry.starts_with("GET ") || !entry.contains(':') {
            lines[0] = entry.to_string();
        } else if let Some(l) = lines.iter_mut().skip(1).find(|l| name(l) == name(entry)) {
            *l = entry.to_string();
        } else {
            lines.push(entry.to_string());
        }
    }
    head(&lines.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The same head as an `http::Request`, as an HTTP stack would hand it
/// over, or `None` if `http` cannot represent it (a malformed line).
/// Values are bytes: HTTP allows more than UTF-8 there.
fn to_http(buf: &[u8]) -> Option<Request<()>> {
    let head = buf.strip_suffix(b"\r\n\r\n")?;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = std::str::from_utf8(lines.next()?).ok()?;
    let mut request_line = request_line.split(' ');
    let (method, target, version) = (
        request_line.next()?,
        request_line.next()?,
        request_line.next()?,
    );
    let version = match version {
        "HTTP/1.0" => Version::HTTP_10,
        "HTTP/1.1" => Version::HTTP_11,
        _ => return None,
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        .version(version);
    for line in lines {
        let colon = line.iter().position(|&b| b == b':')?;
        let value = line[colon + 1..].trim_ascii();
        builder = builder.header(&line[..colon], HeaderValue::from_bytes(value).ok()?);
    }
    builder.body(()).ok()
}

/// A valid request with a `name` field holding a byte that is not UTF-8.
fn latin1(name: &str) -> Vec<u8> {
    let mut buf = request(&[&format!("{name}: caf#")]);
    let at = buf.iter().position(|&b| b == b'#').unwrap();
    buf[at] = 0xe9;
    buf
}

fn parse_bytes(buf: &[u8]) -> Result<UpgradeRequest, Rejection> {
    match UpgradeRequest::parse(buf, &Limits::default())? {
        Parsed::Complete(upgrade, _) => Ok(upgrade),
        Parsed::Partial => panic!("complete request parsed as partial"),
    }
}

/// The header fields of a byte response, lower-cased names, in order.
fn fields_of_bytes(response: &[u8]) -> Vec<(String, String)> {
    let Ok(Parsed::Complete(parsed, _)) = Response::parse(response, &Limits::default()) else {
        panic!("our own response does not parse");
    };
    parsed
        .headers()
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                h.value_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The header fields of an `http` response, in order.
fn fields_of_http(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                value.to_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Whether the byte path's refusal and the `http` path's say the same: the
/// status, and every field but those describing the byte path's body.
fn same_refusal(bytes: &Rejection, http: &Rejection, version: Version) {
    assert_eq!(http.error(), bytes.error());
    assert_eq!(http.status(), bytes.status());
    let response = http.to_http(version);
    assert_eq!(response.status().as_u16(), bytes.status());
    let mut expected = fields_of_bytes(&bytes.response());
    expected.retain(|(name, _)| name != "content-type" && name != "content-length");
    assert_eq!(fields_of_http(response.headers()), expected);
}

/// `tests/handshake.rs`'s table of requests to refuse, both ways. The last
/// rows cannot be given to the `http` path: an HTTP stack refuses a
/// malformed head or one over its limits before any handshake code runs.
#[test]
fn invalid_requests_get_the_same_refusal_both_ways() {
    use HandshakeError::*;
    let many_headers: Vec<String> = (0..65).map(|i| format!("X-H{i}: v")).collect();
    let mut too_many = vec!["GET /chat HTTP/1.1"];
    too_many.extend(many_headers.iter().map(String::as_str));
    let big = format!("Cookie: {}", "a".repeat(8200));
    #[rustfmt::skip]
    let same: Vec<(&str, Vec<u8>, HandshakeError)> = vec![
        ("§4.2.1/1 method must be GET", request(&["POST /chat HTTP/1.1"]), MethodNotAllowed),
        ("§4.2.1/1 HTTP/1.1 or later", request(&["GET /chat HTTP/1.0"]), UnsupportedHttpVersion),
        ("§4.2.1/1 method before version", request(&["POST /chat HTTP/1.0"]), MethodNotAllowed),
        ("§4.2.1/2 Host required", request(&["-Host"]), MissingHost),
        ("§4.2.1/2 Host not empty", request(&["Host:"]), MissingHost),
        ("RFC 7230 §5.4 one Host only", request(&["+host: b"]), MalformedHttp),
        ("§4.2.1/3 Upgrade required", request(&["-Upgrade"]), MissingUpgrade),
        ("§4.2.1/3 Upgrade websocket", request(&["Upgrade: h2c"]), MissingUpgrade),
        ("§4.2.1/4 Connection required", request(&["-Connection"]), MissingConnectionUpgrade),
        ("§4.2.1/4 Connection upgrade token", request(&["Connection: keep-alive"]), MissingConnectionUpgrade),
        ("§4.2.1/4 token, not substring", request(&["Connection: upgraded"]), MissingConnectionUpgrade),
        ("§4.2.1/6 version required", request(&["-Sec-WebSocket-Version"]), UnsupportedVersion),
        ("§4.2.1/6 version 13", request(&["Sec-WebSocket-Version: 8"]), UnsupportedVersion),
        ("§4.2.1/6 version only once", request(&["+Sec-WebSocket-Version: 13"]), UnsupportedVersion),
        ("§4.2.1/5 key required", request(&["-Sec-WebSocket-Key"]), InvalidKey),
        ("§4.2.1/5 key of 15 bytes", request(&["Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4P"]), InvalidKey),
        ("§4.2.1/5 key of 17 bytes", request(&["Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEBE="]), InvalidKey),
        ("§4.2.1/5 key is base64", request(&["Sec-WebSocket-Key: !QIDBAUGBwgJCgsMDQ4PEA=="]), InvalidKey),
        ("§4.2.1/5 key only once", request(&["+sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA=="]), InvalidKey),
        ("§4.2.1/6 before /5: a version 8 client learns ours", request(&["Sec-WebSocket-Version: 8", "-Sec-WebSocket-Key"]), UnsupportedVersion),
        ("§9.1 extensions must be text", latin1("Sec-WebSocket-Extensions"), MalformedHttp),
        ("§4.1/10 subprotocols must be text", latin1("Sec-WebSocket-Protocol"), MalformedHttp),
    ];
    for (rule, buf, error) in same {
        let bytes = parse_bytes(&buf)
            .err()
            .unwrap_or_else(|| panic!("{rule}: bytes accepted"));
        assert_eq!(bytes.error(), error, "{rule}");
        let request = to_http(&buf).unwrap_or_else(|| panic!("{rule}: not representable"));
        let http = HttpUpgrade::from_request(&request)
            .err()
            .unwrap_or_else(|| panic!("{rule}: http accepted"));
        same_refusal(&bytes, &http, request.version());
        // The parts alone give the same verdict.
        let (parts, ()) = request.into_parts();
        assert_eq!(HttpUpgrade::validate(&parts).err(), Some(http), "{rule}");
    }
    #[rustfmt::skip]
    let bytes_only: Vec<(&str, Vec<u8>, HandshakeError)> = vec![
        ("malformed request line", b"GET\r\n\r\n".to_vec(), MalformedHttp),
        ("malformed header name", request(&["Bad Name: x"]), MalformedHttp),
        ("too many header fields", head(&too_many), TooManyHeaders),
        ("header block over 8 KiB", request(&[&big]), HeadersTooLarge),
    ];
    for (rule, buf, error) in bytes_only {
        assert_eq!(
            parse_bytes(&buf).err().map(|r| r.error()),
            Some(error),
            "{rule}"
        );
    }
    assert!(to_http(b"GET\r\n\r\n").is_none());
    assert!(to_http(&request(&["Bad Name: x"])).is_none());
}

/// The refusals that explain themselves, over HTTP/1.1 (§4.2.2: a 426 names
/// version 13; RFC 7231 §6.5.5: a 405 lists GET).
#[test]
fn refusals_carry_their_fields() {
    let version = to_http(&request(&["Sec-WebSocket-Version: 8"])).unwrap();
    let refusal = HttpUpgrade::from_request(&version)
        .unwrap_err()
        .to_http(Version::HTTP_11);
    assert_eq!(refusal.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(refusal.headers()["sec-websocket-version"], "13");
    assert_eq!(refusal.headers()["upgrade"], "websocket");
    assert_eq!(refusal.headers()["connection"], "Upgrade, close");
    let method = to_http(&request(&["POST /chat HTTP/1.1"])).unwrap();
    let refusal = HttpUpgrade::from_request(&method)
        .unwrap_err()
        .to_http(Version::HTTP_11);
    assert_eq!(refusal.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refusal.headers()["allow"], "GET");
    let forbidden = Rejection::from(HandshakeError::Forbidden).to_http(Version::HTTP_11);
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        fields_of_http(forbidden.headers()),
        [("connection".into(), "close".into())]
    );
}

/// Requests to accept, both ways, with what the server answers them with:
/// (rule, request, supported subprotocols, deflate policy).
#[test]
fn valid_requests_get_the_same_answer_both_ways() {
    let on = DeflateConfig::default();
    let frugal = DeflateConfig::default()
        .no_context_takeover(true, false)
        .max_window_bits(12, 10);
    let off = DeflateConfig::disabled();
    let chromium = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits";
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, &[&str], &DeflateConfig)> = vec![
        ("§1.3 the sample handshake", request(&["Origin: http://example.com", "Sec-WebSocket-Protocol: chat, superchat"]), &["chat"], &on),
        ("§4.2.1/4 Connection among other tokens", request(&["Connection: keep-alive, Upgrade"]), &[], &on),
        ("§4.2.1/3 Upgrade value case-insensitive", request(&["Upgrade: WebSocket"]), &[], &on),
        ("header names case-insensitive", request(&["-Upgrade", "upgrade: websocket"]), &[], &on),
        ("§4.2.1/4 Connection token case-insensitive", request(&["Connection: UPGRADE"]), &[], &on),
        ("Connection over two lines", request(&["Connection: keep-alive", "+connection: upgrade"]), &[], &on),
        ("§4.2.1/1 absolute-form target", request(&["GET ws://server.example.com/chat HTTP/1.1"]), &[], &on),
        ("§4.1/10 client's preference wins", request(&["Sec-WebSocket-Protocol: v2.chat, v1.chat", "+Sec-WebSocket-Protocol: legacy"]), &["legacy", "v1.chat"], &on),
        ("§4.2.2/5.5 no common subprotocol", request(&["Sec-WebSocket-Protocol: mqtt"]), &["chat"], &on),
        ("RFC 7692 browser offer", request(&[chromium]), &[], &on),
        ("RFC 7692 server's own limits", request(&[chromium]), &[], &frugal),
        ("RFC 7692 declined when disabled", request(&[chromium]), &[], &off),
        ("RFC 7692 several offers in one value", request(&["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10, permessage-deflate"]), &[], &on),
        ("RFC 7692 invalid first offer skipped", request(&["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits, permessage-deflate; server_no_context_takeover"]), &[], &on),
        ("§9.1 quoted comma", request(&["Sec-WebSocket-Extensions: x-foo; a=\"1,2\", permessage-deflate; client_max_window_bits=\"9\""]), &[], &on),
        ("§9.1 offers over two lines", request(&["Sec-WebSocket-Extensions: x-foo", "+Sec-WebSocket-Extensions: permessage-deflate"]), &[], &frugal),
    ];
    for (rule, buf, supported, deflate) in cases {
        let bytes = parse_bytes(&buf).unwrap_or_else(|e| panic!("{rule}: {e}"));
        let request = to_http(&buf).unwrap();
        let http = HttpUpgrade::from_request(&request).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(http.key(), Some(bytes.key()), "{rule}");
        assert_eq!(http.protocols(), bytes.protocols(), "{rule}");
        assert_eq!(http.extensions(), bytes.extensions(), "{rule}");
        assert_eq!(http.deflate(deflate), bytes.deflate(deflate), "{rule}");
        let protocol = bytes.select_protocol(supported);
        assert_eq!(http.select_protocol(supported), protocol, "{rule}");
        let options = AcceptOptions {
            protocol,
            deflate: Some(deflate),
            headers: &[("Set-Cookie", "id=1")],
            ..AcceptOptions::default()
        };
        let from_bytes = bytes.agree(&options).unwrap();
        let from_http = http.agree(&options).unwrap();
        assert_eq!(from_http.agreement, from_bytes.agreement, "{rule}");
        assert_eq!(from_http.agreement.role, Role::Server, "{rule}");
        assert_eq!(from_http.agreement.protocol.as_deref(), protocol, "{rule}");
        assert_eq!(
            from_http.agreement.deflate,
            bytes.deflate(deflate),
            "{rule}"
        );
        assert!(
            from_bytes
                .response
                .starts_with(b"HTTP/1.1 101 Switching Protocols\r\n")
        );
        assert_eq!(
            from_http.response.status(),
            StatusCode::SWITCHING_PROTOCOLS,
            "{rule}"
        );
        let headers = from_http.response.headers();
        assert_eq!(
            fields_of_http(headers),
            fields_of_bytes(&from_bytes.response),
            "{rule}"
        );
        assert_eq!(
            headers["sec-websocket-accept"],
            rfc6455::handshake::accept_key(bytes.key().as_bytes()),
            "{rule}"
        );
        let entry = from_http.agreement.deflate.map(|params| params.to_string());
        assert_eq!(
            headers
                .get("sec-websocket-extensions")
                .map(|v| v.to_str().unwrap().to_string()),
            entry,
            "{rule}"
        );
    }
}

#[test]
fn the_sample_handshake_gets_the_sample_accept() {
    // RFC 6455 §1.3.
    let request = to_http(&request(&["Sec-WebSocket-Protocol: chat, superchat"])).unwrap();
    let upgrade = HttpUpgrade::from_request(&request).unwrap();
    let accepted = upgrade
        .agree(&AcceptOptions {
            protocol: Some("chat"),
            ..AcceptOptions::default()
        })
        .unwrap();
    let headers = accepted.response.headers();
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(headers["connection"], "Upgrade");
    assert_eq!(headers["sec-websocket-accept"], SAMPLE_ACCEPT);
    assert_eq!(headers["sec-websocket-protocol"], "chat");
    assert_eq!(headers.len(), 4);
}

#[test]
fn several_offers_in_one_header_value_over_http() {
    // RFC 7692 §5: offers are listed in preference order, possibly in one
    // field value. The first one (10-bit client window) is taken.
    let mut request = to_http(&request(&[])).unwrap();
    request.headers_mut().insert(
        "sec-websocket-extensions",
        "permessage-deflate; client_max_window_bits=10, permessage-deflate"
            .parse()
            .unwrap(),
    );
    let upgrade = HttpUpgrade::from_request(&request).unwrap();
    assert_eq!(
        upgrade.extensions(),
        [
            "permessage-deflate; client_max_window_bits=10",
            "permessage-deflate"
        ]
    );
    let config = DeflateConfig::default();
    let agreed = upgrade.deflate(&config).expect("offered");
    assert_eq!(agreed.client_max_window_bits, 10);
    let accepted = upgrade
        .agree(&AcceptOptions {
            deflate: Some(&config),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        accepted.response.headers()["sec-websocket-extensions"],
        "permessage-deflate; client_max_window_bits=10"
    );
    assert_eq!(accepted.agreement.deflate, Some(agreed));
}

#[test]
fn agree_refuses_what_accept_with_refuses() {
    let buf = request(&[
        "Sec-WebSocket-Protocol: chat",
        "Sec-WebSocket-Extensions: permessage-deflate, x-foo",
    ]);
    let http = HttpUpgrade::from_request(&to_http(&buf).unwrap()).unwrap();
    let bytes = parse_bytes(&buf).unwrap();
    let deflate = DeflateConfig::default();
    #[rustfmt::skip]
    let refused = [
        (AcceptOptions { protocol: Some("mqtt"), ..Default::default() }, HandshakeError::UnexpectedProtocol),
        (AcceptOptions { extensions: &["x-bar"], ..Default::default() }, HandshakeError::UnexpectedExtension),
        (AcceptOptions { extensions: &["x-foo, x-bar"], ..Default::default() }, HandshakeError::UnexpectedExtension),
        (AcceptOptions { extensions: &["permessage-deflate"], ..Default::default() }, HandshakeError::InvalidHeader),
        (AcceptOptions { extensions: &["x-foo, permessage-deflate"], deflate: Some(&deflate), ..Default::default() }, HandshakeError::InvalidHeader),
        (AcceptOptions { headers: &[("X-A", "1\r\nX-B: 2")], ..Default::default() }, HandshakeError::InvalidHeader),
        (AcceptOptions { headers: &[("Sec-WebSocket-Accept", "x")], ..Default::default() }, HandshakeError::InvalidHeader),
    ];
    for (options, error) in refused {
        assert_eq!(http.agree(&options).err(), Some(error), "{options:?}");
        assert_eq!(bytes.agree(&options).err(), Some(error), "{options:?}");
    }
    let accepted = http
        .agree(&AcceptOptions {
            extensions: &["x-foo"],
            deflate: Some(&deflate),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        accepted.response.headers()["sec-websocket-extensions"],
        "permessage-deflate, x-foo"
    );
}

fn client(protocols: &[&str], extensions: &[&str]) -> ClientHandshake {
    let options = ClientOptions {
        protocols: protocols.iter().map(|p| p.to_string()).collect(),
        extensions: extensions.iter().map(|e| e.to_string()).collect(),
        ..ClientOptions::default()
    };
    ClientHandshake::new("ws://example.com/chat", *b"0123456789abcdef", options).unwrap()
}

#[test]
fn client_checks_an_http_response_as_it_checks_bytes() {
    let client = client(&["chat"], &[&DeflateConfig::default().offer()]);
    let upgrade = HttpUpgrade::from_request(&to_http(client.request()).unwrap()).unwrap();
    let deflate = DeflateConfig::default().max_window_bits(15, 11);
    let accepted = upgrade
        .agree(&AcceptOptions {
            protocol: Some("chat"),
            deflate: Some(&deflate),
            ..Default::default()
        })
        .unwrap();
    let (parts, ()) = accepted.response.into_parts();
    let agreement = client.validate_http_response(&parts).unwrap();
    assert_eq!(agreement.role, Role::Client);
    assert_eq!(agreement.protocol.as_deref(), Some("chat"));
    assert_eq!(agreement.deflate, accepted.agreement.deflate);
    assert_eq!(agreement.deflate.unwrap().client_max_window_bits, 11);
    // The same response as bytes gives the same agreement.
    let mut lines = vec!["HTTP/1.1 101 Switching Protocols".to_string()];
    for (name, value) in &parts.headers {
        lines.push(format!("{}: {}", name, value.to_str().unwrap()));
    }
    let buf = head(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let Ok(Parsed::Complete(response, _)) = client.parse_response(&buf) else {
        panic!()
    };
    assert_eq!(response.agreement(), agreement);

    // §4.1: the client's refusals, the same as for bytes.
    let refused = |edit: fn(&mut http::response::Parts)| {
        let mut parts = parts.clone();
        edit(&mut parts);
        client.validate_http_response(&parts).err()
    };
    assert_eq!(
        refused(|p| p.status = StatusCode::OK),
        Some(HandshakeError::UnexpectedStatus(200))
    );
    assert_eq!(
        refused(|p| {
            p.headers
                .insert("sec-websocket-accept", SAMPLE_ACCEPT.parse().unwrap());
        }),
        Some(HandshakeError::InvalidAccept)
    );
    assert_eq!(
        refused(|p| {
            p.headers
                .insert("sec-websocket-protocol", "superchat".parse().unwrap());
        }),
        Some(HandshakeError::UnexpectedProtocol)
    );
    assert_eq!(
        refused(|p| {
            p.headers.insert(
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits"
                    .parse()
                    .unwrap(),
            );
        }),
        Some(HandshakeError::InvalidExtensionResponse)
    );
    assert_eq!(
        refused(|p| {
            p.headers.remove("upgrade");
        }),
        Some(HandshakeError::MissingUpgrade)
    );
}
