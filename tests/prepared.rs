//! Broadcast written once: a `PreparedMessage` is framed once (and
//! compressed once, RFC 7692 §7.1.1.1 "no context takeover"), and every
//! recipient decodes the message it would have got from `send`.

mod common;

use bytes::Buf;
use common::{feed, fixed_keys};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Agreement, Config, Connection, Event, Message, PreparedMessage, Role, UsageError};

fn server(deflate: Option<DeflateParams>) -> Connection {
    let config = Config::default().deflate(DeflateConfig::default());
    Connection::from_agreement(Agreement::new(Role::Server).with_deflate(deflate), config)
}

fn client(deflate: Option<DeflateParams>) -> Connection {
    let config = Config::default().deflate(DeflateConfig::default());
    Connection::from_agreement_with_mask_source(
        Agreement::new(Role::Client).with_deflate(deflate),
        config,
        fixed_keys,
    )
}

fn no_takeover() -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    }
}

/// What a client with `params` makes of `wire`.
fn decode(params: Option<DeflateParams>, wire: &[u8]) -> Vec<Event> {
    let out = feed(&mut client(params), wire, wire.len().max(1));
    assert_eq!(out.error, None);
    out.events
}

#[test]
fn a_prepared_message_is_the_frame_send_would_queue() {
    for len in [0, 10, 125, 126, 8 * 1024, 100_000] {
        let message = Message::binary(vec![7u8; len]);
        let prepared = PreparedMessage::new(message.clone());
        let mut by_send = server(None);
        by_send.send(&message).unwrap();
        let mut by_prepared = server(None);
        by_prepared.send_prepared(&prepared).unwrap();
        assert_eq!(
            by_prepared.output().take_all(),
            by_send.output().take_all(),
            "{len} bytes"
        );
    }
}

#[test]
fn a_large_prepared_frame_is_shared_not_copied() {
    let prepared = PreparedMessage::new(Message::binary(vec![1u8; 64 * 1024]));
    let mut a = server(None);
    let mut b = server(None);
    a.send_text("before").unwrap();
    a.send_prepared(&prepared).unwrap();
    b.send_prepared(&prepared).unwrap();
    let chunk_of = |conn: &mut Connection| {
        let chunks: Vec<(*const u8, usize)> = conn
            .output()
            .chunks()
            .map(|c| (c.as_ptr(), c.len()))
            .collect();
        chunks
    };
    let (a_chunks, b_chunks) = (chunk_of(&mut a), chunk_of(&mut b));
    assert_eq!(a_chunks.len(), 2, "what was queued before, then the frame");
    assert_eq!(a_chunks[1], b_chunks[0], "the same bytes in both outputs");
}

#[test]
fn compressed_once_for_recipients_without_context_takeover() {
    let text = "a chat line that compresses well, ".repeat(20);
    let message = Message::text(text.clone());
    let prepared = PreparedMessage::with_deflate(
        message.clone(),
        &DeflateConfig::default().no_context_takeover(true, true),
    );
    assert!(prepared.is_compressed());
    let mut a = server(Some(no_takeover()));
    let mut b = server(Some(no_takeover()));
    a.send_prepared(&prepared).unwrap();
    b.send_prepared(&prepared).unwrap();
    let wire_a = a.output().take_all();
    assert_eq!(wire_a, b.output().take_all());
    assert!(
        wire_a.len() < text.len() / 4,
        "compressed: {} bytes",
        wire_a.len()
    );
    assert_eq!(wire_a[0] & 0x40, 0x40, "RSV1 set (RFC 7692 §6)");
    // Exactly what the connection would have sent by itself.
    let mut by_send = server(Some(no_takeover()));
    by_send.send(&message).unwrap();
    assert_eq!(by_send.output().take_all(), wire_a);
    assert_eq!(
        decode(Some(no_takeover()), &wire_a),
        vec![Event::Message(message)]
    );
}

#[test]
fn every_other_recipient_gets_what_it_can_decode() {
    let message = Message::text("x".repeat(1000));
    let prepared = PreparedMessage::with_deflate(message.clone(), &DeflateConfig::default());
    let takeover = DeflateParams::default();
    let narrow = DeflateParams {
        server_max_window_bits: Some(10),
        ..no_takeover()
    };
    for params in [None, Some(takeover), Some(narrow)] {
        let mut conn = server(params);
        // Twice: with context takeover the second depends on the first.
        conn.send_prepared(&prepared).unwrap();
        conn.send_prepared(&prepared).unwrap();
        let wire = conn.output().take_all();
        let events = decode(params, &wire);
        assert_eq!(
            events,
            vec![
                Event::Message(message.clone()),
                Event::Message(message.clone())
            ],
            "{params:?}"
        );
    }
    // A client masks with its own keys.
    let mut conn = client(None);
    conn.send_prepared(&prepared).unwrap();
    let wire = conn.output().take_all();
    assert_eq!(wire[1] & 0x80, 0x80, "masked (§5.3)");
    let mut peer = server(None);
    let out = feed(&mut peer, &wire, wire.len());
    assert_eq!(out.events, vec![Event::Message(message)]);
}

#[test]
fn a_prepared_message_follows_the_sending_rules() {
    let prepared = PreparedMessage::new(Message::text("hi"));
    let mut conn = server(None);
    conn.send_text_fragment("part", false).unwrap();
    assert_eq!(
        conn.send_prepared(&prepared),
        Err(UsageError::FragmentOrder)
    );
    conn.send_text_fragment("end", true).unwrap();
    conn.close(rfc6455::CloseCode::NORMAL, "").unwrap();
    assert_eq!(conn.send_prepared(&prepared), Err(UsageError::Closed));
    let _ = conn.output().remaining();
}
