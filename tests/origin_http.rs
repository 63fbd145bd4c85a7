//! tests/origin.rs's table through `http` types (`HttpUpgrade`, feature
//! `http`): the same function over the header fields, the same answers.

mod origin_cases;

use http::{Request, StatusCode, Version};
use rfc6455::handshake::{AcceptOptions, HttpUpgrade};

fn answer(case: &origin_cases::Case) -> StatusCode {
    let mut request = Request::get("/ws")
        .header("Host", case.host)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "13");
    for origin in case.origins {
        request = request.header("Origin", *origin);
    }
    let request = request.body(()).unwrap();
    let upgrade = HttpUpgrade::from_request(&request).expect(case.name);
    let checked = upgrade.check_host(case.hosts).and_then(|()| {
        if case.require {
            upgrade.require_origin(&case.policy)
        } else {
            upgrade.check_origin(&case.policy)
        }
    });
    match checked {
        Ok(()) => upgrade
            .agree(&AcceptOptions::default())
            .unwrap()
            .response
            .status(),
        Err(rejection) => rejection.to_http(Version::HTTP_11).status(),
    }
}

#[test]
fn table() {
    for case in origin_cases::cases() {
        assert_eq!(answer(&case).as_u16(), case.status, "{}", case.name);
    }
}

/// Over HTTP/2 the `:authority` stands for `Host`.
#[test]
fn http2_authority() {
    use rfc6455::handshake::OriginPolicy;
    let request = |origin: &str| {
        let mut request = Request::connect("https://chat.example/ws")
            .version(Version::HTTP_2)
            .header("Sec-WebSocket-Version", "13")
            .header("Origin", origin)
            .body(())
            .unwrap();
        let _ = &mut request;
        HttpUpgrade::from_request(&request).unwrap()
    };
    let policy = OriginPolicy::SameOrigin;
    assert!(
        request("https://chat.example")
            .check_origin(&policy)
            .is_ok()
    );
    let refused = request("https://evil.example")
        .check_origin(&policy)
        .unwrap_err();
    assert_eq!(
        refused.to_http(Version::HTTP_2).status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        request("https://chat.example")
            .check_host(&["chat.example"])
            .is_ok()
    );
    assert_eq!(
        request("https://chat.example")
            .check_host(&["other.example"])
            .unwrap_err()
            .status(),
        421
    );
}
