//! The defaults of the core's timers and marks that `Config`'s docs and the
//! README's "Limits and defaults" table state (issue 11: keepalive ping
//! after 20 s of silence and 20 s more to answer, close timeout 10 s, as
//! Python `websockets`; write timeout 30 s; 64 KiB input and output
//! high-water marks), checked as values and, for the keepalive, at its
//! exact default deadlines through the `Pair` harness's simulated clock.

mod common;

use std::time::Duration;

use common::Pair;
use rfc6455::{Config, Event, Keepalive, Lost};

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[test]
fn the_documented_defaults() {
    let config = Config::default();
    assert_eq!(
        config.keepalive,
        Some(Keepalive::new(20 * SECOND, 20 * SECOND))
    );
    assert_eq!(
        Keepalive::default(),
        Keepalive::new(20 * SECOND, 20 * SECOND)
    );
    assert_eq!(config.close_timeout, 10 * SECOND);
    assert_eq!(config.write_timeout, Some(30 * SECOND));
    assert_eq!(config.message_timeout, Some(60 * SECOND));
    assert_eq!(config.input_high_water, 64 * 1024);
    assert_eq!(config.output_high_water, 64 * 1024);
    assert!(config.auto_pong);
}

#[test]
fn by_default_a_silent_peer_is_pinged_at_20_s_and_lost_at_40_s() {
    // Only the server keeps the connection alive, with the default policy.
    let mut pair = Pair::with_configs(Config::default().keepalive(None), Config::default());
    pair.drive(usize::MAX);
    // The client's bytes never reach the server: its pong is never heard.
    pair.server_reads = false;
    let (at_client, _) = pair.advance(20 * SECOND - MS);
    assert!(at_client.is_empty(), "{at_client:?}");
    let (at_client, _) = pair.advance(MS);
    assert!(
        matches!(at_client[..], [Event::Ping(_)]),
        "one ping at 20 s: {at_client:?}"
    );
    let (_, at_server) = pair.advance(20 * SECOND - MS);
    assert!(
        at_server.is_empty(),
        "not yet at 40 s - 1 ms: {at_server:?}"
    );
    let (_, at_server) = pair.advance(MS);
    assert_eq!(at_server, vec![Event::Lost(Lost::KeepaliveTimeout)]);
    assert!(pair.server.may_close_transport());
}
