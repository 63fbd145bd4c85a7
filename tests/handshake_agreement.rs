//! The opening handshake's result as one value, for both roles: the
//! server's [`Accepted`] (the `101` to send and the [`Agreement`] it makes,
//! RFC 6455 §4.2.2) and the client's [`Response::agreement`] (what the
//! checked response agrees to, §4.1), so that a connection is built from
//! exactly what was sent and received.

use rfc6455::handshake::{
    AcceptOptions, Accepted, ClientHandshake, ClientOptions, Limits, Parsed, Response,
    UpgradeRequest,
};
use rfc6455::{Agreement, HandshakeError, Role};

fn client(protocols: &[&str], extensions: &[String]) -> ClientHandshake {
    let options = ClientOptions {
        protocols: protocols.iter().map(|p| p.to_string()).collect(),
        extensions: extensions.to_vec(),
        ..ClientOptions::default()
    };
    ClientHandshake::new("ws://example.com/chat", *b"0123456789abcdef", options).unwrap()
}

fn server_side(client: &ClientHandshake) -> UpgradeRequest {
    match UpgradeRequest::parse(client.request(), &Limits::default()) {
        Ok(Parsed::Complete(upgrade, _)) => upgrade,
        other => panic!("{other:?}"),
    }
}

fn client_side(client: &ClientHandshake, accepted: &Accepted) -> Response {
    match client.parse_response(&accepted.response) {
        Ok(Parsed::Complete(response, consumed)) => {
            assert_eq!(consumed, accepted.response.len());
            response
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn both_roles_agree_on_the_subprotocol() {
    // (offered, supported by the server, selected): §4.1 item 10, §4.2.2 item 5.5.
    #[rustfmt::skip]
    let cases: [(&[&str], &[&str], Option<&str>); 3] = [
        (&[], &["chat"], None),
        (&["chat", "superchat"], &["superchat", "chat"], Some("chat")),
        (&["chat"], &["mqtt"], None),
    ];
    for (offered, supported, selected) in cases {
        let client = client(offered, &[]);
        let upgrade = server_side(&client);
        let protocol = upgrade.select_protocol(supported);
        let accepted = upgrade
            .agree(&AcceptOptions {
                protocol,
                ..AcceptOptions::default()
            })
            .unwrap();
        // The same bytes as `accept`, which other code relies on.
        assert_eq!(accepted.response, upgrade.accept(protocol).unwrap());
        let expected = Agreement::new(Role::Server).with_protocol(selected.map(String::from));
        assert_eq!(accepted.agreement, expected, "{offered:?}");
        let agreement = client_side(&client, &accepted).agreement();
        assert_eq!(agreement.role, Role::Client);
        assert_eq!(agreement.protocol.as_deref(), selected, "{offered:?}");
    }
}

#[test]
fn agree_refuses_what_accept_with_refuses() {
    let client = client(&["chat"], &["x-foo".into()]);
    let upgrade = server_side(&client);
    #[rustfmt::skip]
    let refused = [
        (AcceptOptions { protocol: Some("mqtt"), ..Default::default() }, HandshakeError::UnexpectedProtocol),
        (AcceptOptions { extensions: &["x-bar"], ..Default::default() }, HandshakeError::UnexpectedExtension),
        (AcceptOptions { headers: &[("Upgrade", "h2c")], ..Default::default() }, HandshakeError::InvalidHeader),
        (AcceptOptions { headers: &[("X-A", "1\r\nX-B: 2")], ..Default::default() }, HandshakeError::InvalidHeader),
    ];
    for (options, error) in refused {
        assert_eq!(upgrade.agree(&options).err(), Some(error), "{options:?}");
        assert_eq!(
            upgrade.accept_with(&options).err(),
            Some(error),
            "{options:?}"
        );
    }
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use rfc6455::deflate::DeflateConfig;

    #[test]
    fn both_roles_agree_on_permessage_deflate() {
        let default = DeflateConfig::default();
        let frugal = DeflateConfig::default()
            .no_context_takeover(true, true)
            .max_window_bits(10, 9);
        let off = DeflateConfig::disabled();
        // (client policy, server policy, the server's entry)
        #[rustfmt::skip]
        let cases: [(&DeflateConfig, &DeflateConfig, Option<&str>); 4] = [
            (&default, &default, Some("permessage-deflate")),
            (&default, &frugal, Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")),
            (&frugal, &default, Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9")),
            (&default, &off, None),
        ];
        for (client_policy, server_policy, entry) in cases {
            let client = client(&["chat"], &[client_policy.offer()]);
            let upgrade = server_side(&client);
            let accepted = upgrade
                .agree(&AcceptOptions {
                    protocol: Some("chat"),
                    deflate: Some(server_policy),
                    ..AcceptOptions::default()
                })
                .unwrap();
            let server = &accepted.agreement;
            assert_eq!(server.role, Role::Server);
            assert_eq!(server.deflate, upgrade.deflate(server_policy));
            assert_eq!(server.deflate.map(|p| p.to_string()).as_deref(), entry);
            // What the 101 says is what the agreement holds.
            let extensions = match entry {
                Some(entry) => format!("Sec-WebSocket-Extensions: {entry}\r\n"),
                None => String::new(),
            };
            let tail = format!("Sec-WebSocket-Protocol: chat\r\n{extensions}\r\n");
            assert!(accepted.response.ends_with(tail.as_bytes()), "{entry:?}");
            // accept_with with the same policy sends the same bytes.
            let options = AcceptOptions {
                protocol: Some("chat"),
                deflate: Some(server_policy),
                ..AcceptOptions::default()
            };
            assert_eq!(upgrade.accept_with(&options).unwrap(), accepted.response);

            let response = client_side(&client, &accepted);
            let client_agreement = response.agreement();
            assert_eq!(client_agreement.role, Role::Client);
            assert_eq!(client_agreement.protocol.as_deref(), Some("chat"));
            assert_eq!(client_agreement.deflate, server.deflate, "{entry:?}");
            assert_eq!(client_agreement.deflate, response.deflate());
        }
    }

    #[test]
    fn no_policy_no_negotiation() {
        let client = client(&[], &[DeflateConfig::default().offer()]);
        let accepted = server_side(&client)
            .agree(&AcceptOptions::default())
            .unwrap();
        assert_eq!(accepted.agreement.deflate, None);
        assert_eq!(client_side(&client, &accepted).agreement().deflate, None);
    }

    #[test]
    fn a_hand_written_deflate_entry_cannot_reach_an_agreement() {
        // agree() reports permessage-deflate in its agreement, so only its
        // own negotiation may put it in the 101; accept_with still takes one.
        let client = client(&[], &[DeflateConfig::default().offer()]);
        let upgrade = server_side(&client);
        let by_hand = AcceptOptions {
            extensions: &["permessage-deflate"],
            ..AcceptOptions::default()
        };
        assert_eq!(
            upgrade.agree(&by_hand).err(),
            Some(HandshakeError::InvalidHeader)
        );
        assert!(upgrade.accept_with(&by_hand).is_ok());
        // Both a policy and an entry: the entry would be a second one.
        let config = DeflateConfig::default();
        let both = AcceptOptions {
            deflate: Some(&config),
            ..by_hand
        };
        assert_eq!(
            upgrade.accept_with(&both).err(),
            Some(HandshakeError::InvalidHeader)
        );
    }

    #[test]
    fn connections_are_built_from_the_agreements() {
        let config = rfc6455::Config::default().deflate(DeflateConfig::default());
        let client_hs = client(&[], &[config.deflate.offer()]);
        let accepted = server_side(&client_hs)
            .agree(&AcceptOptions {
                deflate: Some(&config.deflate),
                ..AcceptOptions::default()
            })
            .unwrap();
        let agreed = accepted.agreement.deflate;
        assert!(agreed.is_some());
        let client_agreement = client_side(&client_hs, &accepted).agreement();
        let client = rfc6455::Connection::from_agreement(client_agreement, config.clone());
        let server = rfc6455::Connection::from_agreement(accepted.agreement, config);
        assert_eq!(client.role(), Role::Client);
        assert_eq!(server.role(), Role::Server);
        assert_eq!(client.deflate(), agreed);
        assert_eq!(server.deflate(), agreed);
    }
}
