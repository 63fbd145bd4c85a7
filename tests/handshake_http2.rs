//! HTTP/2 and HTTP/3 extended CONNECT (RFC 8441 §4–5, RFC 9220) through
//! `http` types (feature `http`): the request as hyper hands it over, a
//! `200` without `Sec-WebSocket-Accept`, and refusals without the
//! connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2).
//!
//! Built only with `--features http` (see `[[test]]` in Cargo.toml).

use http::{HeaderMap, Method, Request, StatusCode, Version};
use rfc6455::deflate::DeflateConfig;
use rfc6455::handshake::{AcceptOptions, HttpUpgrade};
use rfc6455::{HandshakeError, Role};

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

/// An RFC 8441 §5 extended CONNECT as hyper hands it over (`:protocol` is
/// in the extensions, not visible to `http`).
fn connect(replace: &[(&str, Option<&str>)]) -> Request<()> {
    let mut builder = Request::builder()
        .method(Method::CONNECT)
        .version(Version::HTTP_2)
        .uri("https://server.example.com/chat");
    let mut fields = vec![
        ("sec-websocket-version", Some("13")),
        ("sec-websocket-protocol", Some("chat, superchat")),
        (
            "sec-websocket-extensions",
            Some("permessage-deflate; client_max_window_bits"),
        ),
        ("origin", Some("http://www.example.com")),
    ];
    for &(name, value) in replace {
        match fields.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    for (name, value) in fields {
        if let Some(value) = value {
            builder = builder.header(name, value);
        }
    }
    builder.body(()).unwrap()
}

#[test]
fn http2_extended_connect_is_answered_with_200() {
    for version in [Version::HTTP_2, Version::HTTP_3] {
        let mut request = connect(&[]);
        *request.version_mut() = version;
        let upgrade = HttpUpgrade::from_request(&request).unwrap();
        assert_eq!(upgrade.version(), version);
        assert_eq!(upgrade.key(), None, "RFC 8441 §5: no Sec-WebSocket-Key");
        assert_eq!(upgrade.protocols(), ["chat", "superchat"]);
        let deflate = DeflateConfig::default();
        let accepted = upgrade
            .agree(&AcceptOptions {
                protocol: upgrade.select_protocol(&["superchat"]),
                deflate: Some(&deflate),
                ..Default::default()
            })
            .unwrap();
        // RFC 8441 §5: a 2xx, and no Upgrade, Connection or accept hash
        // (connection-specific fields are malformed in HTTP/2, RFC 9113 §8.2.2).
        assert_eq!(accepted.response.status(), StatusCode::OK);
        assert_eq!(
            fields_of_http(accepted.response.headers()),
            [
                ("sec-websocket-protocol".into(), "superchat".into()),
                (
                    "sec-websocket-extensions".into(),
                    "permessage-deflate".into()
                ),
            ]
        );
        assert_eq!(accepted.agreement.role, Role::Server);
        assert_eq!(accepted.agreement.protocol.as_deref(), Some("superchat"));
        assert_eq!(accepted.agreement.deflate, upgrade.deflate(&deflate));
    }
}

/// Header fields as `(name, value)` pairs.
type Fields = &'static [(&'static str, &'static str)];

#[test]
fn http2_refusals() {
    use HandshakeError::*;
    let tunnel = Request::builder()
        .method(Method::CONNECT)
        .version(Version::HTTP_2)
        .uri("server.example.com:443")
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    let mut get = connect(&[]);
    *get.method_mut() = Method::GET;
    let mut no_authority = connect(&[]);
    *no_authority.uri_mut() = "/chat".parse().unwrap();
    #[rustfmt::skip]
    let cases: Vec<(&str, Request<()>, HandshakeError, Fields)> = vec![
        ("RFC 8441 §4 CONNECT, not GET", get, MethodNotAllowed, &[("allow", "CONNECT")]),
        ("RFC 8441 §4 a plain CONNECT is a tunnel", tunnel, MissingUpgrade, &[]),
        ("RFC 9113 §8.3.1 :authority required", no_authority, MissingHost, &[]),
        ("§4.2.1/6 version 13", connect(&[("sec-websocket-version", Some("8"))]), UnsupportedVersion, &[("sec-websocket-version", "13")]),
        ("§4.2.1/6 version required", connect(&[("sec-websocket-version", None)]), UnsupportedVersion, &[("sec-websocket-version", "13")]),
    ];
    for (rule, request, error, fields) in cases {
        let rejection = HttpUpgrade::from_request(&request)
            .err()
            .unwrap_or_else(|| panic!("{rule}: accepted"));
        assert_eq!(rejection.error(), error, "{rule}");
        let response = rejection.to_http(request.version());
        assert_eq!(response.status().as_u16(), error.status(), "{rule}");
        let expected: Vec<(String, String)> = fields
            .iter()
            .map(|&(n, v)| (n.to_string(), v.to_string()))
            .collect();
        // No Connection, no Upgrade: HTTP/2 has no connection-specific fields.
        assert_eq!(fields_of_http(response.headers()), expected, "{rule}");
    }
}
