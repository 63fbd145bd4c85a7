//! The process-wide bound: a `MemoryBudget` shared by connections bounds
//! the message bytes they buffer together (1013 past it), and
//! `Config::message_timeout` bounds how long one message may take (1008).

mod common;

use std::time::Duration;

use common::{Pair, client_frame, feed, fixed_keys, server_with};
use rfc6455::deflate::{DeflateConfig, DeflateParams};
use rfc6455::{Agreement, CloseCode, Config, Connection, Event, MemoryBudget, ProtocolError, Role};

const MIB: usize = 1 << 20;

fn budgeted(budget: &MemoryBudget) -> Config {
    Config::default().budget(Some(budget.clone()))
}

#[test]
fn connections_sharing_a_budget_cannot_together_buffer_more_than_it() {
    let budget = MemoryBudget::new(MIB);
    let mut a = server_with(budgeted(&budget));
    let mut b = server_with(budgeted(&budget));
    // A holds the first 600 KiB of a fragmented message.
    let first = client_frame(false, 0x2, &vec![1; 600 * 1024]);
    let out = feed(&mut a, &first, 64 * 1024);
    assert_eq!(out.error, None);
    assert!(budget.used() >= 600 * 1024, "{} charged", budget.used());
    // B tries the same: the budget is spent, B fails with 1013.
    let out = feed(&mut b, &first, 64 * 1024);
    assert_eq!(out.error, Some(ProtocolError::OverBudget { limit: MIB }));
    out.assert_failed_with(CloseCode::TRY_AGAIN_LATER);
    // A finishes its message and gives everything back.
    let last = client_frame(true, 0x0, b"end");
    let out = feed(&mut a, &last, 64);
    assert_eq!(out.events.len(), 1);
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_large_frame_counts_from_its_header() {
    let budget = MemoryBudget::new(MIB);
    let mut server = server_with(budgeted(&budget));
    // The header announces 2 MiB: refused before the payload is buffered.
    let frame = client_frame(true, 0x2, &vec![0; 2 * MIB]);
    let out = feed(&mut server, &frame[..64 * 1024], 64 * 1024);
    assert_eq!(out.error, Some(ProtocolError::OverBudget { limit: MIB }));
    assert_eq!(budget.used(), 0, "a failed connection holds nothing");
}

#[test]
fn a_compression_bomb_is_refused_before_it_inflates_past_the_budget() {
    let budget = MemoryBudget::new(2 * MIB);
    let params = DeflateParams::default();
    let deflate = DeflateConfig::default();
    let agreement = |role| Agreement::new(role).with_deflate(Some(params));
    let mut client = Connection::from_agreement_with_mask_source(
        agreement(Role::Client),
        Config::default().deflate(deflate.clone()),
        fixed_keys,
    );
    // 32 MiB of zeros, the first fragment of a message that never ends.
    client
        .send_binary_fragment(&vec![0; 32 * MIB], false)
        .unwrap();
    let bomb = client.output().take_all();
    assert!(bomb.len() < 64 * 1024, "{} bytes on the wire", bomb.len());
    let mut server =
        Connection::from_agreement(agreement(Role::Server), budgeted(&budget).deflate(deflate));
    let out = feed(&mut server, &bomb, 16 * 1024);
    assert_eq!(
        out.error,
        Some(ProtocolError::OverBudget { limit: 2 * MIB })
    );
    assert_eq!(budget.used(), 0);
}

#[test]
fn dropping_a_connection_gives_its_charge_back() {
    let budget = MemoryBudget::new(MIB);
    let mut server = server_with(budgeted(&budget));
    feed(
        &mut server,
        &client_frame(false, 0x1, &[b'a'; 100_000]),
        100_000,
    );
    assert!(budget.used() > 0);
    drop(server);
    assert_eq!(budget.used(), 0);
}

#[test]
fn a_message_that_does_not_finish_in_time_fails_with_1008() {
    let config = Config::default()
        .keepalive(None)
        .message_timeout(Some(Duration::from_secs(60)));
    let mut pair = Pair::with_configs(Config::default().keepalive(None), config);
    pair.drive(usize::MAX);
    pair.client.send_text_fragment("start", false).unwrap();
    pair.drive(usize::MAX);
    pair.now += Duration::from_secs(60) - Duration::from_millis(1);
    pair.tick();
    assert_eq!(pair.server.poll_event(), Ok(None));
    pair.now += Duration::from_millis(1);
    pair.tick();
    assert_eq!(pair.server.poll_event(), Err(ProtocolError::MessageTimeout));
    assert_eq!(
        ProtocolError::MessageTimeout.close_code(),
        CloseCode::POLICY_VIOLATION
    );
    let frames = common::take_frames(&mut pair.server);
    assert_eq!(frames[0].payload[..2], 1008u16.to_be_bytes());
}

#[test]
fn a_steady_stream_of_messages_never_trips_the_message_timeout() {
    let config = Config::default()
        .keepalive(None)
        .message_timeout(Some(Duration::from_secs(60)));
    let mut pair = Pair::with_configs(Config::default().keepalive(None), config);
    pair.drive(usize::MAX);
    // Every clock tick falls inside a message, but each is a new one.
    for i in 0..100 {
        pair.client.send_text_fragment("part", false).unwrap();
        pair.drive(usize::MAX);
        pair.now += Duration::from_secs(10);
        pair.tick();
        pair.client
            .send_text_fragment(&i.to_string(), true)
            .unwrap();
        let (_, at_server) = pair.drive(usize::MAX);
        assert!(
            matches!(at_server[..], [Event::Message(_)]),
            "message {i} at {:?}: {at_server:?}",
            pair.now
        );
    }
}
