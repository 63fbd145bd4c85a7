//! The origin policy and the `Host` check on requests parsed from bytes
//! (RFC 6455 §10.2: cross-site WebSocket hijacking; DNS rebinding). The same
//! table through `http` types: tests/origin_http.rs.

mod origin_cases;

use rfc6455::HandshakeError;
use rfc6455::handshake::{Limits, Parsed, Rejection, UpgradeRequest};

fn request(host: &str, origins: &[&str]) -> Vec<u8> {
    let mut head = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for origin in origins {
        head.push_str(&format!("Origin: {origin}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// What a server does: validate, check the host and origin, accept.
fn answer(case: &origin_cases::Case) -> Vec<u8> {
    let bytes = request(case.host, case.origins);
    let upgrade = match UpgradeRequest::parse(&bytes, &Limits::default()) {
        Ok(Parsed::Complete(upgrade, _)) => upgrade,
        other => panic!("{}: {other:?}", case.name),
    };
    let checked = upgrade.check_host(case.hosts).and_then(|()| {
        if case.require {
            upgrade.require_origin(&case.policy)
        } else {
            upgrade.check_origin(&case.policy)
        }
    });
    match checked {
        Ok(()) => upgrade.accept(None).unwrap(),
        Err(rejection) => rejection.response(),
    }
}

#[test]
fn table() {
    for case in origin_cases::cases() {
        let response = answer(&case);
        let status_line = String::from_utf8_lossy(
            &response[..response.iter().position(|&b| b == b'\r').unwrap()],
        )
        .into_owned();
        assert!(
            status_line.starts_with(&format!("HTTP/1.1 {} ", case.status)),
            "{}: {status_line}",
            case.name
        );
    }
}

#[test]
fn refusals_say_why() {
    let forbidden = Rejection::from(HandshakeError::ForbiddenOrigin);
    assert_eq!(forbidden.status(), 403);
    let text = String::from_utf8(forbidden.response()).unwrap();
    assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(text.ends_with("origin not allowed\n"), "{text}");
    let misdirected = Rejection::from(HandshakeError::MisdirectedHost);
    assert_eq!(misdirected.status(), 421);
    let text = String::from_utf8(misdirected.response()).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 421 Misdirected Request\r\n"),
        "{text}"
    );
}
