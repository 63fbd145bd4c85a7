//! The opening handshake (RFC 6455 §4), both roles, through the public API.

use proptest::prelude::*;
use rfc6455::HandshakeError;
use rfc6455::handshake::*;

/// The sample key of §1.3 and its accept value.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A request head from its lines: CRLF after each, then the empty line.
fn head(lines: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for line in lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A minimal valid upgrade request, with `replace` applied: each entry
/// replaces the line starting with the same `Name:` (or the request line, for
/// an entry without a colon before any space); an entry `"-Name"` removes
/// that line; an entry `"+Name: value"` is appended even if `Name` is there.
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

fn parse_upgrade(buf: &[u8]) -> Result<(UpgradeRequest, usize), Rejection> {
    match UpgradeRequest::parse(buf, &Limits::default())? {
        Parsed::Complete(upgrade, consumed) => Ok((upgrade, consumed)),
        Parsed::Partial => panic!("complete request parsed as partial"),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn accept_key_matches_rfc_sample() {
    assert_eq!(accept_key(SAMPLE_KEY.as_bytes()), SAMPLE_ACCEPT);
}

#[test]
fn rfc_sample_handshake_gives_rfc_sample_response() {
    // §1.2 and §1.3, byte for byte.
    let buf = head(&[
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13",
    ]);
    let (upgrade, consumed) = parse_upgrade(&buf).unwrap();
    assert_eq!(consumed, buf.len());
    assert_eq!(upgrade.key(), SAMPLE_KEY);
    assert_eq!(upgrade.protocols(), ["chat", "superchat"]);
    assert_eq!(upgrade.request().origin(), Some("http://example.com"));
    assert_eq!(upgrade.request().host(), Some("server.example.com"));
    let response = upgrade.accept(Some("chat")).unwrap();
    let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\r\n";
    assert_eq!(String::from_utf8(response).unwrap(), expected);
}

#[test]
fn browser_request_accepted() {
    // What Chromium sends, in its order.
    let buf = head(&[
        "GET /ws?room=lobby HTTP/1.1",
        "Host: 127.0.0.1:8080",
        "Connection: Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Upgrade: websocket",
        "Origin: http://127.0.0.1:8080",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br, zstd",
        "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ]);
    let (upgrade, _) = parse_upgrade(&buf).unwrap();
    assert_eq!(upgrade.request().path(), "/ws");
    assert_eq!(
        upgrade.request().query_param("room").as_deref(),
        Some("lobby")
    );
    assert_eq!(upgrade.request().headers().len(), 12);
    assert_eq!(
        upgrade.extensions(),
        ["permessage-deflate; client_max_window_bits"]
    );
    assert!(upgrade.protocols().is_empty());
    let response = upgrade.accept(None).unwrap();
    assert!(contains(&response, "Sec-WebSocket-Accept: "));
    assert!(!contains(&response, "Sec-WebSocket-Protocol"));
}

#[test]
fn partial_request_at_every_split_point() {
    let buf = request(&[]);
    for end in 0..buf.len() {
        assert_eq!(
            Request::parse(&buf[..end], &Limits::default()),
            Ok(Parsed::Partial),
            "prefix of {end} bytes"
        );
    }
    assert!(matches!(
        Request::parse(&buf, &Limits::default()),
        Ok(Parsed::Complete(_, n)) if n == buf.len()
    ));
}

#[test]
fn bytes_after_the_head_are_not_consumed() {
    let mut buf = request(&[]);
    let head_len = buf.len();
    buf.extend_from_slice(&[0x81, 0x85, 1, 2, 3, 4]); // the first frame
    let (_, consumed) = parse_upgrade(&buf).unwrap();
    assert_eq!(consumed, head_len);
}

/// Requests that must be refused: (rule, request, error).
#[test]
fn invalid_requests_refused() {
    use HandshakeError::*;
    let many_headers: Vec<String> = (0..65).map(|i| format!("X-H{i}: v")).collect();
    let mut too_many = vec!["GET /chat HTTP/1.1"];
    too_many.extend(many_headers.iter().map(String::as_str));
    let big = format!("Cookie: {}", "a".repeat(8200));
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, HandshakeError)> = vec![
        ("§4.2.1/1 method must be GET", request(&["POST /chat HTTP/1.1"]), MethodNotAllowed),
        ("§4.2.1/1 HTTP/1.1 or later", request(&["GET /chat HTTP/1.0"]), UnsupportedHttpVersion),
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
        ("malformed request line", b"GET\r\n\r\n".to_vec(), MalformedHttp),
        ("malformed header name", request(&["Bad Name: x"]), MalformedHttp),
        ("too many header fields", head(&too_many), TooManyHeaders),
        ("header block over 8 KiB", request(&[&big]), HeadersTooLarge),
    ];
    for (rule, buf, error) in cases {
        let rejection = UpgradeRequest::parse(&buf, &Limits::default())
            .err()
            .unwrap_or_else(|| panic!("{rule}: accepted"));
        assert_eq!(rejection.error(), error, "{rule}");
        assert_eq!(rejection.status(), error.status(), "{rule}");
        let response = rejection.response();
        let status_line = format!("HTTP/1.1 {} ", error.status());
        assert!(response.starts_with(status_line.as_bytes()), "{rule}");
        assert!(contains(&response, &format!("\r\n\r\n{error}\n")), "{rule}");
    }
}

#[test]
fn refusal_statuses() {
    use HandshakeError::*;
    for (error, status) in [
        (MethodNotAllowed, 405),
        (MissingHost, 400),
        (InvalidKey, 400),
        (UnsupportedVersion, 426),
        (HeadersTooLarge, 431),
        (TooManyHeaders, 431),
        (UnsupportedHttpVersion, 505),
    ] {
        assert_eq!(Rejection::from(error).status(), status, "{error:?}");
    }
}

#[test]
fn version_refusal_names_version_13() {
    // §4.2.2: a 426 carries the versions the server speaks.
    let rejection = parse_upgrade(&request(&["Sec-WebSocket-Version: 8"])).unwrap_err();
    let response = rejection.response();
    assert!(response.starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
    assert!(contains(&response, "\r\nSec-WebSocket-Version: 13\r\n"));
    assert!(contains(&response, "\r\nUpgrade: websocket\r\n"));
}

#[test]
fn method_refusal_lists_get() {
    let rejection = parse_upgrade(&request(&["POST /chat HTTP/1.1"])).unwrap_err();
    let response = rejection.response();
    assert!(response.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(contains(&response, "\r\nAllow: GET\r\n"));
    assert!(contains(&response, "\r\nConnection: close\r\n"));
}

#[test]
fn oversized_partial_head_refused_before_it_ends() {
    // 431 as soon as the limit is reached, without waiting for the blank line.
    let mut buf = b"GET /chat HTTP/1.1\r\nCookie: ".to_vec();
    buf.resize(8191, b'a');
    assert_eq!(
        Request::parse(&buf, &Limits::default()),
        Ok(Parsed::Partial)
    );
    buf.push(b'a');
    assert_eq!(
        Request::parse(&buf, &Limits::default()),
        Err(HandshakeError::HeadersTooLarge)
    );
    let limits = Limits {
        max_header_bytes: 64,
        max_headers: 64,
        ..Limits::default()
    };
    assert_eq!(
        Request::parse(&buf, &limits),
        Err(HandshakeError::HeadersTooLarge)
    );
}

#[test]
fn lenient_but_valid_requests_accepted() {
    #[rustfmt::skip]
    let cases: [(&str, &[&str]); 6] = [
        ("§4.2.1/4 Connection among other tokens", &["Connection: keep-alive, Upgrade"]),
        ("§4.2.1/3 Upgrade value case-insensitive", &["Upgrade: WebSocket"]),
        ("header names case-insensitive", &["-Upgrade", "upgrade: websocket"]),
        ("§4.2.1/4 Connection token case-insensitive", &["Connection: UPGRADE"]),
        ("Connection over two lines", &["Connection: keep-alive", "+connection: upgrade"]),
        ("§4.2.1/1 absolute-form target", &["GET ws://server.example.com/chat HTTP/1.1"]),
    ];
    for (rule, replace) in cases {
        let buf = request(replace);
        let (upgrade, _) = parse_upgrade(&buf).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(upgrade.request().path(), "/chat", "{rule}");
    }
}

#[test]
fn plain_get_is_not_an_upgrade() {
    let buf = head(&["GET /index.html?a=1 HTTP/1.1", "Host: x"]);
    let plain = request_of(&buf);
    assert!(!plain.is_websocket_upgrade());
    assert_eq!(plain.method(), "GET");
    assert_eq!(plain.target(), "/index.html?a=1");
    assert_eq!(plain.query(), Some("a=1"));
    let page = http_response(200, &[("Content-Type", "text/html")], b"<p>hi</p>");
    assert_eq!(
        page,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n<p>hi</p>"
    );
    assert!(request_of(&request(&[])).is_websocket_upgrade());
}

fn request_of(buf: &[u8]) -> Request {
    match Request::parse(buf, &Limits::default()) {
        Ok(Parsed::Complete(request, _)) => request,
        other => panic!("{other:?}"),
    }
}

#[test]
fn query_params_are_percent_decoded() {
    let parsed = request_of(&request(&[
        "GET /chat?name=J%C3%B6rg+M&flag&x=%zz HTTP/1.1",
    ]));
    assert_eq!(parsed.path(), "/chat");
    assert_eq!(parsed.query_param("name").as_deref(), Some("Jörg M"));
    assert_eq!(parsed.query_param("flag").as_deref(), Some(""));
    assert_eq!(parsed.query_param("x").as_deref(), Some("%zz"));
    assert_eq!(parsed.query_param("missing"), None);
}

#[test]
fn subprotocol_selection_follows_client_preference() {
    // §4.1 item 10: the client lists its subprotocols by preference.
    let buf = request(&[
        "Sec-WebSocket-Protocol: v2.chat, v1.chat",
        "+Sec-WebSocket-Protocol: legacy",
    ]);
    let (upgrade, _) = parse_upgrade(&buf).unwrap();
    assert_eq!(upgrade.protocols(), ["v2.chat", "v1.chat", "legacy"]);
    assert_eq!(
        upgrade.select_protocol(&["legacy", "v1.chat"]),
        Some("v1.chat")
    );
    assert_eq!(upgrade.select_protocol(&["mqtt"]), None);
    // §4.2.2 item 5.5: only an offered subprotocol may be selected.
    assert_eq!(
        upgrade.accept(Some("mqtt")),
        Err(HandshakeError::UnexpectedProtocol)
    );
}

#[test]
fn accept_refuses_unoffered_extension_and_bad_headers() {
    let (upgrade, _) =
        parse_upgrade(&request(&["Sec-WebSocket-Extensions: permessage-deflate"])).unwrap();
    let accepted = upgrade
        .accept_with(&AcceptOptions {
            extensions: &["permessage-deflate; server_no_context_takeover"],
            headers: &[("Set-Cookie", "id=1")],
            ..AcceptOptions::default()
        })
        .unwrap();
    assert!(contains(
        &accepted,
        "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\nSet-Cookie: id=1\r\n\r\n"
    ));
    #[rustfmt::skip]
    let refused = [
        (AcceptOptions { extensions: &["x-webkit-deflate-frame"], ..Default::default() }, HandshakeError::UnexpectedExtension),
        (AcceptOptions { headers: &[("X-A", "1\r\nX-B: 2")], ..Default::default() }, HandshakeError::InvalidHeader),
        (AcceptOptions { headers: &[("Sec-WebSocket-Accept", "x")], ..Default::default() }, HandshakeError::InvalidHeader),
    ];
    for (options, error) in refused {
        assert_eq!(upgrade.accept_with(&options), Err(error), "{options:?}");
    }
}

fn client(protocols: &[&str], extensions: &[&str]) -> ClientHandshake {
    let options = ClientOptions {
        protocols: protocols.iter().map(|p| p.to_string()).collect(),
        extensions: extensions.iter().map(|e| e.to_string()).collect(),
        headers: vec![("Origin".into(), "http://example.com".into())],
        ..ClientOptions::default()
    };
    ClientHandshake::new(
        "ws://example.com:8080/chat?room=1",
        *b"0123456789abcdef",
        options,
    )
    .unwrap()
}

fn complete_response(
    client: &ClientHandshake,
    buf: &[u8],
) -> Result<(Response, usize), HandshakeError> {
    match client.parse_response(buf)? {
        Parsed::Complete(response, consumed) => Ok((response, consumed)),
        Parsed::Partial => panic!("complete response parsed as partial"),
    }
}

#[test]
fn client_request_has_the_mandatory_fields() {
    let client = client(&["chat", "superchat"], &["permessage-deflate"]);
    let request = String::from_utf8(client.request().to_vec()).unwrap();
    let expected = format!(
        "GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate\r\nOrigin: http://example.com\r\n\r\n",
        client.key()
    );
    assert_eq!(request, expected);
    assert_eq!(client.key(), "MDEyMzQ1Njc4OWFiY2RlZg==");
    assert_eq!(client.uri().port(), 8080);
}

#[test]
fn client_and_server_agree() {
    for (offered, supported, chosen) in [
        (&[][..], &["chat"][..], None),
        (
            &["chat", "superchat"][..],
            &["superchat", "chat"][..],
            Some("chat"),
        ),
        (&["chat"][..], &["mqtt"][..], None),
    ] {
        let client = client(offered, &["permessage-deflate; client_max_window_bits"]);
        let (upgrade, consumed) = parse_upgrade(client.request()).unwrap();
        assert_eq!(consumed, client.request().len());
        assert_eq!(upgrade.request().target(), "/chat?room=1");
        assert_eq!(upgrade.request().origin(), Some("http://example.com"));
        let protocol = upgrade.select_protocol(supported);
        assert_eq!(protocol, chosen);
        let mut reply = upgrade
            .accept_with(&AcceptOptions {
                protocol,
                extensions: &["permessage-deflate"],
                ..Default::default()
            })
            .unwrap();
        let head_len = reply.len();
        reply.extend_from_slice(b"\x81\x02hi");
        for end in 0..head_len {
            assert_eq!(client.parse_response(&reply[..end]), Ok(Parsed::Partial));
        }
        let (response, consumed) = complete_response(&client, &reply).unwrap();
        assert_eq!(consumed, head_len);
        assert_eq!(response.status(), 101);
        assert_eq!(response.protocol(), chosen);
        assert_eq!(response.extensions(), ["permessage-deflate"]);
    }
}

/// Server responses the client must refuse (§4.1, the client's checks).
#[test]
fn client_refuses_bad_responses() {
    use HandshakeError::*;
    let client = client(&["chat"], &["permessage-deflate"]);
    let accept = format!(
        "Sec-WebSocket-Accept: {}",
        accept_key(client.key().as_bytes())
    );
    let ok = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &accept,
    ];
    let with = |replace: &[&str]| {
        let mut lines: Vec<&str> = ok.to_vec();
        for entry in replace {
            if let Some(removed) = entry.strip_prefix('-') {
                lines.retain(|l| !l.starts_with(removed));
            } else if entry.starts_with("HTTP/") {
                lines[0] = entry;
            } else {
                lines.push(entry);
            }
        }
        head(&lines)
    };
    let wrong_accept = format!("Sec-WebSocket-Accept: {SAMPLE_ACCEPT}");
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, HandshakeError)> = vec![
        ("item 1: status 101", with(&["HTTP/1.1 403 Forbidden"]), UnexpectedStatus(403)),
        ("item 1: status 200", with(&["HTTP/1.1 200 OK"]), UnexpectedStatus(200)),
        ("item 2: Upgrade required", with(&["-Upgrade"]), MissingUpgrade),
        ("item 3: Connection required", with(&["-Connection"]), MissingConnectionUpgrade),
        ("item 4: accept required", with(&["-Sec-WebSocket-Accept"]), InvalidAccept),
        ("item 4: accept must match key", with(&["-Sec-WebSocket-Accept", &wrong_accept]), InvalidAccept),
        ("item 4: one accept only", with(&[&accept]), InvalidAccept),
        ("item 5: extension offered", with(&["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]), UnexpectedExtension),
        ("item 6: protocol offered", with(&["Sec-WebSocket-Protocol: superchat"]), UnexpectedProtocol),
        ("item 6: a single protocol", with(&["Sec-WebSocket-Protocol: chat, chat"]), UnexpectedProtocol),
        ("malformed status line", b"HTTP/1.1 abc\r\n\r\n".to_vec(), MalformedHttp),
    ];
    for (rule, buf, error) in cases {
        assert_eq!(
            complete_response(&client, &buf).map(|_| ()),
            Err(error),
            "{rule}"
        );
    }
    assert!(complete_response(&client, &with(&["Sec-WebSocket-Protocol: chat"])).is_ok());
    assert!(complete_response(&client, &with(&["upgrade: WebSocket", "-Upgrade"])).is_ok());
    // No subprotocol offered: none may come back.
    let plain = self::client(&[], &[]);
    let accept = format!(
        "Sec-WebSocket-Accept: {}",
        accept_key(plain.key().as_bytes())
    );
    let buf = head(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        &accept,
        "Sec-WebSocket-Protocol: chat",
    ]);
    assert_eq!(
        complete_response(&plain, &buf).map(|_| ()),
        Err(UnexpectedProtocol)
    );
}

#[test]
fn client_refuses_bad_options() {
    let key = [7; 16];
    let with = |f: fn(&mut ClientOptions)| {
        let mut options = ClientOptions::default();
        f(&mut options);
        ClientHandshake::new("ws://h/", key, options).err()
    };
    let invalid = Some(HandshakeError::InvalidHeader);
    assert_eq!(
        with(|o| o.headers.push(("X-A".into(), "1\r\nX-B: 2".into()))),
        invalid
    );
    assert_eq!(
        with(|o| o.headers.push(("X A".into(), "1".into()))),
        invalid
    );
    assert_eq!(
        with(|o| o.headers.push(("host".into(), "evil".into()))),
        invalid
    );
    assert_eq!(
        with(|o| o.protocols = vec!["chat".into(), "chat".into()]),
        invalid
    );
    assert_eq!(with(|o| o.protocols = vec!["a b".into()]), invalid);
    assert_eq!(with(|o| o.extensions = vec!["".into()]), invalid);
    // §9.1: an unclosed quote would swallow the offers joined after it.
    assert_eq!(
        with(|o| o.extensions = vec!["x; a=\"1".into(), "permessage-deflate".into()]),
        invalid
    );
    assert_eq!(with(|o| o.extensions = vec!["x; =1".into()]), invalid);
    assert_eq!(with(|o| o.extensions = vec!["x; a=\"1\"".into()]), None);
    assert_eq!(
        with(|o| o.headers.push(("Cookie".into(), "a=b".into()))),
        None
    );
}

#[cfg(feature = "std")]
#[test]
fn random_keys_differ() {
    let a = ClientHandshake::with_random_key("ws://h/", ClientOptions::default()).unwrap();
    let b = ClientHandshake::with_random_key("ws://h/", ClientOptions::default()).unwrap();
    assert_ne!(a.key(), b.key());
    assert_eq!(a.key().len(), 24);
}

#[test]
fn uri_parsing() {
    // (uri, secure, host, port, resource, Host header)
    #[rustfmt::skip]
    let ok = [
        ("ws://example.com", false, "example.com", 80, "/", "example.com"),
        ("wss://example.com/", true, "example.com", 443, "/", "example.com"),
        ("ws://example.com:9001/chat", false, "example.com", 9001, "/chat", "example.com:9001"),
        ("wss://example.com:443/a/b", true, "example.com", 443, "/a/b", "example.com"),
        ("ws://example.com:443/", false, "example.com", 443, "/", "example.com:443"),
        ("ws://[::1]:8080/x", false, "[::1]", 8080, "/x", "[::1]:8080"),
        ("wss://[2001:db8::1]", true, "[2001:db8::1]", 443, "/", "[2001:db8::1]"),
        ("ws://h/chat?room=1&x=%23", false, "h", 80, "/chat?room=1&x=%23", "h"),
        ("ws://h?q", false, "h", 80, "/?q", "h"),
        ("WS://H:80/é", false, "H", 80, "/%C3%A9", "H"),
    ];
    for (text, secure, host, port, resource, host_header) in ok {
        let uri = Uri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            (
                uri.secure(),
                uri.host(),
                uri.port(),
                uri.resource(),
                uri.host_header().as_str()
            ),
            (secure, host, port, resource, host_header),
            "{text}"
        );
    }
    let refused = [
        ("§3 fragment", "ws://h/chat#frag"),
        ("§3 scheme http", "http://h/"),
        ("§3 scheme missing", "h/chat"),
        ("§3 empty host", "ws:///chat"),
        ("§3 empty host with port", "ws://:80/"),
        ("§3 no user info", "ws://user@h/"),
        ("port not a number", "ws://h:abc/"),
        ("port out of range", "ws://h:65536/"),
        ("port zero", "ws://h:0/"),
        ("unclosed IPv6 literal", "ws://[::1/"),
        ("space in path", "ws://h/a b"),
    ];
    for (rule, text) in refused {
        assert_eq!(Uri::parse(text), Err(HandshakeError::InvalidUri), "{rule}");
    }
    assert_eq!(
        Uri::parse("ws://[::1]:8080/x?y").unwrap().to_string(),
        "ws://[::1]:8080/x?y"
    );
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,12}"
}

prop_compose! {
    fn any_request()(
        path in "/[a-z0-9/._-]{0,20}(\\?[a-z0-9=&%+]{0,20})?",
        protocols in prop::collection::vec(token(), 0..4),
        extra in prop::collection::vec((token(), "[!-~]([ -~]{0,30}[!-~])?"), 0..8),
        trailing in prop::collection::vec(any::<u8>(), 0..16),
    ) -> (Vec<u8>, usize) {
        let mut lines = vec![
            format!("GET {path} HTTP/1.1"),
            "Host: example.com".into(),
            "Upgrade: websocket".into(),
            "Connection: Upgrade".into(),
            format!("Sec-WebSocket-Key: {SAMPLE_KEY}"),
            "Sec-WebSocket-Version: 13".into(),
        ];
        if !protocols.is_empty() {
            lines.push(format!("Sec-WebSocket-Protocol: {}", protocols.join(", ")));
        }
        lines.extend(extra.iter().map(|(name, value)| format!("X-{name}: {value}")));
        let mut buf = head(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let head_len = buf.len();
        buf.extend(trailing);
        (buf, head_len)
    }
}

proptest! {
    /// Any request split into two reads parses as the whole: `Partial` until
    /// the head is in, then the same request and consumed count.
    #[test]
    fn split_request_parses_as_whole((buf, head_len) in any_request(), split in any::<prop::sample::Index>()) {
        let limits = Limits::default();
        let whole = UpgradeRequest::parse(&buf, &limits).unwrap();
        let Parsed::Complete(ref upgrade, consumed) = whole else { panic!("partial") };
        prop_assert_eq!(consumed, head_len);
        let split = split.index(buf.len() + 1);
        let first = UpgradeRequest::parse(&buf[..split], &limits).unwrap();
        if split < head_len {
            prop_assert_eq!(first, Parsed::Partial);
        } else {
            prop_assert_eq!(&first, &whole);
        }
        // The caller appends the second read to the first and parses again.
        let mut joined = buf[..split].to_vec();
        joined.extend_from_slice(&buf[split..]);
        prop_assert_eq!(UpgradeRequest::parse(&joined, &limits).unwrap(), whole.clone());
        prop_assert!(upgrade.accept(upgrade.protocols().first().map(String::as_str)).is_ok());
    }
}

#[test]
fn forbidden_rejection_is_a_403_response() {
    // §10.2: a server may refuse an Origin it does not trust.
    let rejection = Rejection::from(HandshakeError::Forbidden);
    assert_eq!(rejection.status(), 403);
    assert!(
        rejection
            .response()
            .starts_with(b"HTTP/1.1 403 Forbidden\r\n")
    );
}
