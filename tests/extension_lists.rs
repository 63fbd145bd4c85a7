//! `Sec-WebSocket-Extensions` is a comma-separated list (RFC 6455 §9.1,
//! RFC 7230 §7) whose parameter values may be quoted strings holding commas
//! and semicolons; RFC 7692 §5 lets a client offer permessage-deflate
//! several times, in one field value or in several. Every reader of the
//! field splits it the same way: `negotiate`, the server's byte parser and
//! `accept_with`/`agree`, and the client's check of the answer.
#![cfg(feature = "deflate")]

use rfc6455::HandshakeError;
use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::{
    AcceptOptions, ClientHandshake, ClientOptions, Limits, Parsed, UpgradeRequest, accept_key,
    negotiate,
};

/// A valid upgrade request with these extra lines.
fn request(extra: &[&str]) -> Vec<u8> {
    let mut head = String::from(
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
    );
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn upgrade(extra: &[&str]) -> UpgradeRequest {
    match UpgradeRequest::parse(&request(extra), &Limits::default()) {
        Ok(Parsed::Complete(upgrade, _)) => upgrade,
        other => panic!("{other:?}"),
    }
}

/// Failed before: `negotiate` read a whole header value as one entry, whose
/// last parameter was then `client_max_window_bits=10, permessage-deflate`,
/// and declined it; the second offer was never seen.
#[test]
fn negotiate_splits_a_header_value_into_its_offers() {
    let config = DeflateConfig::default();
    let value = "permessage-deflate; client_max_window_bits=10, permessage-deflate";
    let agreed = negotiate(&[value], &config).expect("the first offer is valid");
    assert_eq!(
        agreed.to_string(),
        "permessage-deflate; client_max_window_bits=10"
    );
    // An invalid first offer is declined (RFC 7692 §7.1), the next taken.
    let value = "permessage-deflate; server_max_window_bits, permessage-deflate; server_no_context_takeover";
    let agreed = negotiate(&[value], &config).expect("the second offer is valid");
    assert_eq!(
        agreed.to_string(),
        "permessage-deflate; server_no_context_takeover"
    );
    // One value or one item per entry: the same choice.
    let split = [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_no_context_takeover",
    ];
    assert_eq!(negotiate(&split, &config), Some(agreed));
}

#[test]
fn quoted_commas_and_semicolons_do_not_split() {
    let config = DeflateConfig::default();
    // One foreign extension whose parameter holds the text of an offer.
    assert_eq!(
        negotiate(&[r#"x-foo; a="1, permessage-deflate""#], &config),
        None
    );
    // A quoted `;` does not start a parameter.
    assert_eq!(
        negotiate(
            &[r#"permessage-deflate; client_max_window_bits="9; server_no_context_takeover""#],
            &config
        ),
        None
    );
    let upgrade = upgrade(&[
        r#"Sec-WebSocket-Extensions: x-foo; a="1,2", permessage-deflate; client_max_window_bits="9""#,
    ]);
    assert_eq!(
        upgrade.extensions(),
        [
            r#"x-foo; a="1,2""#,
            r#"permessage-deflate; client_max_window_bits="9""#
        ]
    );
    assert_eq!(upgrade.deflate(&config).unwrap().client_max_window_bits, 9);
}

#[test]
fn quoted_window_sizes_are_unescaped_first() {
    // RFC 6455 §9.1: "the value after quoted-string unescaping MUST conform
    // to the token ABNF"; RFC 7692 §7.1.2: the token is 8 to 15.
    let config = DeflateConfig::default();
    for (offer, bits) in [
        (
            r#"permessage-deflate; client_max_window_bits="10""#,
            Some(10),
        ),
        (
            r#"permessage-deflate; client_max_window_bits="\1\0""#,
            Some(10),
        ),
        (r#"permessage-deflate; client_max_window_bits="1\0"#, None),
        (r#"permessage-deflate; client_max_window_bits="010""#, None),
        (r#"permessage-deflate; client_max_window_bits="10"x"#, None),
    ] {
        let agreed = negotiate(&[offer], &config);
        assert_eq!(agreed.map(|p| p.client_max_window_bits), bits, "{offer}");
    }
}

#[test]
fn server_reads_every_offer_of_every_line() {
    let config = DeflateConfig::default();
    let upgrade = upgrade(&[
        "Sec-WebSocket-Extensions: permessage-deflate; bogus, x-foo",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12",
    ]);
    assert_eq!(upgrade.extensions().len(), 3);
    let accepted = upgrade
        .agree(&AcceptOptions {
            deflate: Some(&config),
            ..Default::default()
        })
        .unwrap();
    let entry = "permessage-deflate; client_max_window_bits=12";
    assert_eq!(
        accepted.agreement.deflate.map(|p| p.to_string()).as_deref(),
        Some(entry)
    );
    let expected = format!("\r\nSec-WebSocket-Extensions: {entry}\r\n\r\n");
    assert!(accepted.response.ends_with(expected.as_bytes()));
}

/// An `AcceptOptions::extensions` item may be a list, as a
/// `ClientOptions::extensions` item may: each of its entries must have been
/// offered (§9.1). Failed before: the item's name was read as `x-foo, x-bar`
/// and the item refused, whatever had been offered.
#[test]
fn every_entry_of_an_accepted_item_must_have_been_offered() {
    let upgrade = upgrade(&["Sec-WebSocket-Extensions: x-foo, x-bar"]);
    let accept = |items: &[&str]| {
        upgrade
            .accept_with(&AcceptOptions {
                extensions: items,
                ..Default::default()
            })
            .err()
    };
    assert_eq!(
        accept(&["x-foo, x-evil"]),
        Some(HandshakeError::UnexpectedExtension)
    );
    assert_eq!(accept(&["x-foo, x-bar"]), None);
    assert_eq!(accept(&["x-bar", "x-foo"]), None);
}

#[test]
fn client_offers_from_one_value_are_all_answerable() {
    // Two offers in one `ClientOptions::extensions` item: the first insists
    // on a server window limit, the second does not.
    let options = ClientOptions {
        extensions: vec![
            "permessage-deflate; server_max_window_bits=10, permessage-deflate".into(),
        ],
        ..Default::default()
    };
    let client = ClientHandshake::new("ws://h/", [9; 16], options).unwrap();
    let accept = accept_key(client.key().as_bytes());
    let respond = |entry: &str| {
        let buf = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: {entry}\r\n\r\n"
        );
        match client.parse_response(buf.as_bytes()) {
            Ok(Parsed::Complete(response, _)) => Ok(response.deflate()),
            Ok(Parsed::Partial) => panic!("partial"),
            Err(e) => Err(e),
        }
    };
    // Answers the second offer (RFC 7692 §7.1.2.1: the first needs the limit stated).
    let second = respond("permessage-deflate").unwrap().unwrap();
    assert_eq!(second.server_max_window_bits, None);
    // Answers the first.
    let first = respond("permessage-deflate; server_max_window_bits=9")
        .unwrap()
        .unwrap();
    assert_eq!(first.server_max_window_bits, Some(9));
    // Accepted twice in one value: RFC 7692 §5 fails the connection.
    assert_eq!(
        respond("permessage-deflate, permessage-deflate"),
        Err(HandshakeError::InvalidExtensionResponse)
    );
}
