//! The server side of the opening handshake on arbitrary bytes:
//! `Request::parse` and `UpgradeRequest::parse` with default `Limits`.
//!
//! * Never panics; the two parsers agree with each other and with
//!   `UpgradeRequest::validate`.
//! * Split in two at a point the fuzzer chooses (the input's last two bytes
//!   pick it, so a capture is an input as it is), the prefix parses as
//!   `Partial` or exactly as the whole does.
//! * An accepted request yields an `accept(None)` response that parses as a
//!   101 and that a client with the same key accepts; with a subprotocol the
//!   client offered, the same.
//! * Every `Rejection::response()` parses as an HTTP response with the
//!   rejection's status and a body of its Content-Length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rfc6455::handshake::{ClientHandshake, ClientOptions, Limits, Parsed, Request, UpgradeRequest};
use rfc6455_fuzz::http::{base64_decode, must_parse_response, split_point};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let request = Request::parse(data, &limits);
    let upgrade = UpgradeRequest::parse(data, &limits);

    let prefix = &data[..split_point(data)];
    let p = Request::parse(prefix, &limits);
    assert!(
        p == Ok(Parsed::Partial) || p == request,
        "prefix {p:?}, whole {request:?}"
    );
    let p = UpgradeRequest::parse(prefix, &limits);
    assert!(
        p == Ok(Parsed::Partial) || p == upgrade,
        "prefix {p:?}, whole {upgrade:?}"
    );

    match (&request, &upgrade) {
        (Err(e), Err(r)) => assert_eq!(*e, r.error()),
        (Ok(Parsed::Partial), Ok(Parsed::Partial)) => {
            assert!(
                data.len() < limits.max_header_bytes,
                "Partial past the header limit"
            );
        }
        (Ok(Parsed::Complete(req, n)), result) => {
            assert!(*n <= data.len() && *n <= limits.max_header_bytes);
            assert!(req.headers().len() <= limits.max_headers);
            let validated =
                UpgradeRequest::validate(req.clone()).map(|up| Parsed::Complete(up, *n));
            assert_eq!(&validated, result);
            // The accessors on any request.
            let _ = (
                req.path(),
                req.query(),
                req.query_param("a"),
                req.query_param(""),
            );
            let _ = (
                req.host(),
                req.origin(),
                req.is_websocket_upgrade(),
                req.method(),
                req.version(),
            );
        }
        other => panic!("Request::parse and UpgradeRequest::parse disagree: {other:?}"),
    }

    match upgrade {
        Ok(Parsed::Complete(up, _)) => {
            let response = up.accept(None).expect("accept(None) fails");
            let parsed = must_parse_response(&response, "accept(None)");
            assert_eq!(parsed.status(), 101);
            // A client whose nonce is this key accepts the response.
            let nonce: [u8; 16] = base64_decode(up.key())
                .and_then(|k| k.try_into().ok())
                .expect("an accepted key is base64 of 16 bytes");
            let client =
                ClientHandshake::new("ws://example.com/", nonce, ClientOptions::default()).unwrap();
            assert_eq!(
                client.key(),
                up.key(),
                "the key accepted is not in canonical base64"
            );
            assert!(matches!(
                client.parse_response(&response),
                Ok(Parsed::Complete(..))
            ));

            if let Some(first) = up.protocols().first() {
                assert_eq!(up.select_protocol(&[first.as_str()]), Some(first.as_str()));
                let response = up
                    .accept(Some(first))
                    .expect("accepting an offered subprotocol fails");
                let parsed = must_parse_response(&response, "accept(Some)");
                assert_eq!(parsed.protocol(), Some(first.as_str()));
                let options = ClientOptions {
                    protocols: up.protocols().to_vec(),
                    ..ClientOptions::default()
                };
                // The client refuses offers that are not unique tokens.
                if let Ok(client) = ClientHandshake::new("ws://example.com/", nonce, options) {
                    let validated = client.parse_response(&response);
                    assert!(
                        matches!(validated, Ok(Parsed::Complete(..))),
                        "{validated:?}"
                    );
                }
            }
            assert!(up.accept(Some("not-offered\u{1}")).is_err());
        }
        Err(rejection) => {
            let response = rejection.response();
            let parsed = must_parse_response(&response, "Rejection::response()");
            assert_eq!(parsed.status(), rejection.status());
            assert!([400, 405, 426, 431, 505].contains(&parsed.status()));
            if parsed.status() == 426 {
                assert_eq!(parsed.header_str("Sec-WebSocket-Version"), Some("13"));
            }
        }
        Ok(Parsed::Partial) => {}
    }
});
