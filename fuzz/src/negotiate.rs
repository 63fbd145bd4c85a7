//! The `deflate_negotiate` target: permessage-deflate offers and responses
//! (RFC 7692 §5, §7.1) through the server's choice and the client's check,
//! compared with a reading of the RFC written here (none of the crate's
//! parsing).
//!
//! Input: three policy bytes (the server's `DeflateConfig`), then text:
//! lines up to a line `--` are the client's offers (each one
//! `ClientOptions::extensions` value, possibly a list), the rest is a
//! `Sec-WebSocket-Extensions` value for the server's 101. A capture's
//! header values are an input as they are.

use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::handshake::negotiate;
use rfc6455::handshake::{
    AcceptOptions, ClientHandshake, ClientOptions, Limits, Parsed, UpgradeRequest,
};
use rfc6455::{Agreement, Config, Connection, Event, HandshakeError, Message, Role};

/// "the sample nonce" (RFC 6455 §1.3): accept value s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
const NONCE: [u8; 16] = *b"the sample nonce";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The parameters of one permessage-deflate entry as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params {
    pub snct: bool,
    pub cnct: bool,
    /// `server_max_window_bits=N` (a value is required, §7.1.2.1).
    pub smwb: Option<u8>,
    /// `client_max_window_bits[=N]` (§7.1.2.2).
    pub cmwb: Option<Option<u8>>,
}

/// Splits at `sep` outside quoted strings (RFC 7230 §3.2.6, with `\`
/// escapes inside them).
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// The entries of a `Sec-WebSocket-Extensions` value (empty ones skipped,
/// RFC 7230 §7).
pub fn entries(value: &str) -> Vec<&str> {
    split_unquoted(value, ',')
        .into_iter()
        .map(ows)
        .filter(|e| !e.is_empty())
        .collect()
}

pub fn name(entry: &str) -> &str {
    ows(split_unquoted(entry, ';')[0])
}

pub fn is_deflate(entry: &str) -> bool {
    name(entry).eq_ignore_ascii_case("permessage-deflate")
}

/// A window size (§7.1.2): a token or a quoted string whose unescaped
/// content is a decimal integer without leading zeroes, 8 to 15.
fn window(value: &str) -> Option<u8> {
    let value = match value.strip_prefix('"') {
        Some(q) => {
            let inner = q.strip_suffix('"')?;
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next()? } else { c });
            }
            out
        }
        None => value.to_owned(),
    };
    match value.as_bytes() {
        [b'8'..=b'9'] | [b'1', b'0'..=b'5'] => value.parse().ok(),
        _ => None,
    }
}

/// The parameters of a permessage-deflate entry, or `None` if one is
/// unknown, repeated, has a value it must not have or lacks one it needs,
/// or has an invalid window (§7.1: such an offer is declined, such a
/// response fails the connection).
pub fn params(entry: &str) -> Option<Params> {
    let mut p = Params::default();
    for param in split_unquoted(entry, ';').into_iter().skip(1) {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (ows(n), Some(window(ows(v))?)),
            None => (ows(param), None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !p.snct => p.snct = true,
            ("client_no_context_takeover", None) if !p.cnct => p.cnct = true,
            ("server_max_window_bits", Some(v)) if p.smwb.is_none() => p.smwb = Some(v),
            ("client_max_window_bits", v) if p.cmwb.is_none() => p.cmwb = Some(v),
            _ => return None,
        }
    }
    Some(p)
}

/// The server's documented policy (`DeflateConfig`): honour the offer,
/// add its own no-context-takeover wishes, lower windows to its limits
/// (the client's only if the offer has `client_max_window_bits`).
pub fn accept(offer: &Params, config: &DeflateConfig) -> DeflateParams {
    let server_limit = config.server_max_window_bits.clamp(8, 15);
    let client_limit = config.client_max_window_bits.clamp(8, 15);
    DeflateParams {
        server_no_context_takeover: offer.snct || config.server_no_context_takeover,
        client_no_context_takeover: offer.cnct || config.client_no_context_takeover,
        // §7.1.2.1: an offered value is answered (even 15); unasked, the
        // server states only a limit of its own.
        server_max_window_bits: match offer.smwb {
            Some(bits) => Some(bits.min(server_limit)),
            None => (server_limit < 15).then_some(server_limit),
        },
        client_max_window_bits: match offer.cmwb {
            Some(bits) => bits.unwrap_or(15).min(client_limit),
            None => 15,
        },
    }
}

/// Whether `response` accepts `offer` (§7.1), and the agreement if so.
pub fn agree(offer: &Params, response: &Params) -> Option<DeflateParams> {
    // §7.1.1.1: an offered server_no_context_takeover is accepted by
    // including it; the server may add it unasked.
    if offer.snct && !response.snct {
        return None;
    }
    // §7.1.2.1: an offered server_max_window_bits is accepted by including
    // it with the same or a smaller value; unasked, the server may still
    // include it.
    let smwb = match (offer.smwb, response.smwb) {
        (Some(_), None) => return None,
        (Some(o), Some(r)) if r > o => return None,
        (_, r) => r,
    };
    // §7.1.2.2: only if offered, with a value, at most the offered one.
    let cmwb = match (offer.cmwb, response.cmwb) {
        (_, Some(None)) | (None, Some(_)) => return None,
        (Some(o), Some(Some(r))) if r > o.unwrap_or(15) => return None,
        (_, Some(Some(r))) => r,
        (o, None) => o.flatten().unwrap_or(15),
    };
    Some(DeflateParams {
        server_no_context_takeover: response.snct,
        // §7.1.1.2: an offered client_no_context_takeover is a promise.
        client_no_context_takeover: offer.cnct || response.cnct,
        server_max_window_bits: smwb,
        client_max_window_bits: cmwb,
    })
}

/// The server policy from the first three input bytes. Raw window values
/// (0-255) check the clamping.
fn policy(b: [u8; 3]) -> DeflateConfig {
    let mut c = DeflateConfig::default()
        .enabled(b[0] & 0x80 == 0)
        .no_context_takeover(b[0] & 1 != 0, b[0] & 2 != 0);
    c.server_max_window_bits = b[1];
    c.client_max_window_bits = b[2];
    c
}

/// Sends a message each way over a pair of connections with `agreed`.
fn round_trip(agreed: DeflateParams) {
    let config = Config::default().deflate(DeflateConfig::default().threshold(0));
    let agreement = |role| Agreement::new(role).with_deflate(Some(agreed));
    let mut client =
        Connection::from_agreement_with_mask_source(agreement(Role::Client), config.clone(), |b| {
            b.fill(7)
        });
    let mut server = Connection::from_agreement(agreement(Role::Server), config);
    let text = "permessage-deflate, permessage-deflate, permessage-deflate";
    let send = |from: &mut Connection, to: &mut Connection| {
        from.send_text(text).unwrap();
        let wire = from.output().take_all();
        // One small frame: well within what a receive takes at once.
        assert_eq!(to.receive(&wire), wire.len());
        let got = to.poll_event().unwrap();
        assert_eq!(got, Some(Event::Message(Message::from(text))));
    };
    send(&mut client, &mut server);
    send(&mut server, &mut client);
}

pub fn run(data: &[u8]) {
    let [a, b, c, rest @ ..] = data else { return };
    let config = policy([*a, *b, *c]);
    let text = String::from_utf8_lossy(rest);
    let (offers, response) = match text.split_once("\n--\n") {
        Some((o, r)) => (o, r),
        None => (&*text, ""),
    };
    let offers: Vec<String> = offers.lines().map(str::to_owned).collect();

    // The server's choice among the raw entries, with no client involved.
    let all: Vec<&str> = offers.iter().flat_map(|o| entries(o)).collect();
    let chosen = negotiate(&all, &config);
    let first_valid = all.iter().filter(|e| is_deflate(e)).find_map(|e| params(e));
    let expected = first_valid
        .filter(|_| config.enabled)
        .map(|o| accept(&o, &config));
    assert_eq!(chosen, expected, "server's choice among {all:?}");

    // A client making these offers (it refuses malformed ones).
    let options = ClientOptions {
        extensions: offers.clone(),
        ..ClientOptions::default()
    };
    let Ok(client) = ClientHandshake::new("ws://server.example.com/chat", NONCE, options) else {
        return;
    };
    let Ok(Parsed::Complete(request, _)) =
        UpgradeRequest::parse(client.request(), &Limits::default())
    else {
        panic!("the server refuses the client's own request");
    };
    // The server sees the offers joined into one header field.
    let seen: Vec<&str> = request.extensions().iter().map(String::as_str).collect();
    // K2 (fixed in 1d3988d): an offer with an unbalanced quote hid the
    // offers after it; the client now refuses such an offer.
    assert_eq!(seen, all, "the server reads the client's offers otherwise");
    let deflate_offers: Vec<Params> = all
        .iter()
        .filter(|e| is_deflate(e))
        .map(|e| params(e).expect("the client sends only valid offers"))
        .collect();
    let agreed = request.deflate(&config);
    assert_eq!(agreed, chosen, "UpgradeRequest::deflate and negotiate");
    if let (Some(agreed), Some(offer)) = (agreed, first_valid) {
        // What the server sends answers the offer it accepted (§7.1) ...
        let entry = agreed.to_string();
        let answer = params(&entry).expect("our response entry parses");
        assert_eq!(
            agree(&offer, &answer),
            Some(agreed),
            "{entry:?} does not accept {offer:?}"
        );
        // ... and our client agrees to exactly the same.
        let reply = request
            .accept_with(&AcceptOptions {
                extensions: &[&entry],
                ..AcceptOptions::default()
            })
            .expect("the server accepts what was offered");
        match client.parse_response(&reply) {
            Ok(Parsed::Complete(response, _)) => {
                assert_eq!(
                    response.deflate(),
                    Some(agreed),
                    "the two sides' agreements"
                )
            }
            other => panic!("our client refuses our server's {entry:?}: {other:?}"),
        }
        round_trip(agreed);
    }

    // The client's check of an arbitrary response.
    if response.is_empty()
        || !response
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return;
    }
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Extensions: {response}\r\n\r\n"
    );
    let got = match client.parse_response(reply.as_bytes()) {
        Ok(Parsed::Complete(r, _)) => Ok(r.deflate()),
        Ok(Parsed::Partial) => panic!("a whole response parsed as partial"),
        Err(e) => Err(e),
    };
    let names: Vec<&str> = all.iter().map(|e| name(e)).collect();
    let answers = entries(response);
    let want = if answers
        .iter()
        .any(|e| !names.iter().any(|n| n.eq_ignore_ascii_case(name(e))))
    {
        Err(HandshakeError::UnexpectedExtension)
    } else {
        let pmd: Vec<&&str> = answers.iter().filter(|e| is_deflate(e)).collect();
        match pmd[..] {
            [] => Ok(None),
            [one] => params(one)
                .and_then(|r| deflate_offers.iter().find_map(|o| agree(o, &r)))
                .map(Some)
                .ok_or(HandshakeError::InvalidExtensionResponse),
            _ => Err(HandshakeError::InvalidExtensionResponse),
        }
    };
    assert_eq!(
        got, want,
        "the client's verdict on {response:?} for offers {offers:?}"
    );
}
