//! End-to-end tests of `examples/chat_server.rs`: the real binary on a free
//! loopback port, driven by the crate's blocking client, by raw sockets,
//! and by Python `websockets` and Node `ws` clients (tests/peers/chat_client.*),
//! with permessage-deflate (accepted by default) and with `--no-deflate`.
//! The tests are tests/chat_protocol's, which tests/axum_chat.rs runs
//! against `axum_chat` too.

mod app_harness;
#[macro_use]
mod chat_protocol;

chat_protocol_tests!("chat_server");
