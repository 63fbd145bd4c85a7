//! The client side of the opening handshake on arbitrary bytes:
//! `ClientHandshake::parse_response` for a client with no offers and for one
//! offering subprotocols and an extension (both with the RFC 6455 §1.3
//! nonce, so a real 101 validates).
//!
//! * Never panics; agrees with `Response::parse` + `validate_response`.
//! * Split at a point the fuzzer chooses (the last two bytes), the prefix
//!   parses as `Partial` or exactly as the whole does.
//! * A response it accepts is a 101 whose subprotocol and extensions were
//!   offered.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rfc6455::handshake::{ClientHandshake, ClientOptions, Parsed, Response};
use rfc6455_fuzz::http::split_point;

/// "the sample nonce" (§1.3): its accept value is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
const NONCE: [u8; 16] = *b"the sample nonce";

fn clients() -> &'static [ClientHandshake; 2] {
    static CLIENTS: OnceLock<[ClientHandshake; 2]> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let plain = ClientHandshake::new(
            "ws://server.example.com/chat",
            NONCE,
            ClientOptions::default(),
        )
        .unwrap();
        let options = ClientOptions {
            protocols: vec!["chat".into(), "superchat".into()],
            extensions: vec!["permessage-deflate; client_max_window_bits".into()],
            ..ClientOptions::default()
        };
        let offering =
            ClientHandshake::new("ws://server.example.com/chat", NONCE, options).unwrap();
        [plain, offering]
    })
}

fuzz_target!(|data: &[u8]| {
    let prefix = &data[..split_point(data)];
    for (i, client) in clients().iter().enumerate() {
        let whole = client.parse_response(data);
        let p = client.parse_response(prefix);
        assert!(
            p == Ok(Parsed::Partial) || p == whole,
            "prefix {p:?}, whole {whole:?}"
        );

        let limits = ClientOptions::default().limits;
        match (Response::parse(data, &limits), &whole) {
            (Ok(Parsed::Partial), Ok(Parsed::Partial)) => {}
            (Err(e), Err(f)) => assert_eq!(e, *f),
            (Ok(Parsed::Complete(r, n)), whole) => {
                assert!(n <= data.len() && n <= limits.max_header_bytes);
                // `parse_response` may add what it negotiated, so compare
                // what both read off the wire.
                let seen = |r: &Response| {
                    let protocol = r.protocol().map(str::to_owned);
                    let fields = (r.reason().to_owned(), r.headers().to_vec(), protocol);
                    (r.status(), fields, r.extensions().to_vec())
                };
                match (client.validate_response(&r), whole) {
                    (Ok(()), Ok(Parsed::Complete(v, m))) => {
                        assert_eq!((seen(&r), n), (seen(v), *m))
                    }
                    (Err(e), Err(f)) => assert_eq!(e, *f),
                    other => panic!("validate_response and parse_response disagree: {other:?}"),
                }
            }
            other => panic!("Response::parse and parse_response disagree: {other:?}"),
        }

        if let Ok(Parsed::Complete(r, _)) = whole {
            assert_eq!(r.status(), 101);
            match (i, r.protocol()) {
                (_, None) => {}
                (1, Some("chat" | "superchat")) => {}
                (_, Some(p)) => panic!("accepted subprotocol {p:?} that was not offered"),
            }
            for e in r.extensions() {
                assert!(i == 1, "accepted extension {e:?} with none offered");
            }
        }
    }
});
