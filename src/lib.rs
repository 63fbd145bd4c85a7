//! A WebSocket (RFC 6455) implementation in two layers: a **sans-IO core**
//! that turns bytes into events and messages into bytes, and thin I/O
//! adapters on top: [`blocking`] for `std::io` streams, and with the
//! `tokio` feature an async adapter (with hyper and axum integration).
//!
//! The core never touches a socket or a clock, so any event loop can drive
//! it: std threads, tokio, mio, an embedded stack. Here a client
//! and a server talk through plain byte vectors, handshake included:
//!
//! ```
//! use bytes::Buf;
//! use rfc6455::handshake::{ClientHandshake, ClientOptions, Limits, Parsed, UpgradeRequest};
//! use rfc6455::{Agreement, CloseCode, Config, Connection, Event, Message, Role};
//!
//! // Opening handshake (RFC 6455 §4). The client's 16-byte nonce must come
//! // from a CSPRNG; `ClientHandshake::with_random_key` does that for you.
//! let client_hs = ClientHandshake::new("ws://example.com/chat", [7; 16], ClientOptions::default())?;
//! let Parsed::Complete(request, _) = UpgradeRequest::parse(client_hs.request(), &Limits::default())
//!     .map_err(|rejection| rejection.error())?
//! else {
//!     unreachable!("the whole request is there")
//! };
//! assert_eq!(request.request().path(), "/chat");
//! let response = request.accept(None)?;
//! let Parsed::Complete(_response, _) = client_hs.parse_response(&response)? else {
//!     unreachable!("the whole response is there")
//! };
//!
//! // Both sides now build a `Connection` from what the handshake agreed.
//! let mut client = Connection::from_agreement(Agreement::new(Role::Client), Config::default());
//! let mut server = Connection::from_agreement(Agreement::new(Role::Server), Config::default());
//!
//! // The client sends; its bytes (masked, §5.3) go "over the wire". The
//! // output is a `bytes::Buf`: a socket writer writes its chunks and
//! // advances it by what went out.
//! client.send_text("hello")?;
//! let wire = client.output().take_all();
//!
//! // The server's event loop: receive bytes (it says how many it took),
//! // drain events, write what is pending.
//! assert_eq!(server.receive(&wire), wire.len());
//! while let Some(event) = server.poll_event()? {
//!     if let Event::Message(message) = event {
//!         server.send(&message)?; // echo
//!     }
//! }
//! let mut reply = Vec::new();
//! while server.wants_write() {
//!     // Bind the output first: `Buf` is also implemented for `&mut Output`,
//!     // and a chunk taken through a temporary would borrow the temporary.
//!     let output = server.output();
//!     let chunk = output.chunk();
//!     reply.extend_from_slice(chunk); // socket.write(chunk) returns n
//!     let n = chunk.len();
//!     output.advance(n);
//! }
//!
//! client.receive(&reply);
//! assert_eq!(client.poll_event()?, Some(Event::Message(Message::Text("hello".into()))));
//!
//! // Time is an input too: pass `now` (on any monotonic clock), sleep
//! // until `poll_timeout`. The default keepalive pings after 20 s of silence.
//! server.handle_timeout(std::time::Duration::from_secs(0));
//! assert_eq!(server.poll_timeout(), Some(std::time::Duration::from_secs(20)));
//!
//! // Closing handshake (§7): the client starts it, the server echoes it.
//! client.close(CloseCode::NORMAL, "bye")?;
//! server.receive(&client.output().take_all());
//! assert!(matches!(server.poll_event()?, Some(Event::Close(_))));
//! assert!(!server.should_shutdown_write()); // its close reply is still pending
//! client.receive(&server.output().take_all());
//! assert!(matches!(client.poll_event()?, Some(Event::Close(_))));
//! // The server closes TCP first (§7.1.1): it shuts its write half down,
//! // then waits for the client's end before dropping the socket.
//! assert!(server.should_shutdown_write());
//! client.receive_eof();
//! assert!(client.may_close_transport());
//! server.receive_eof();
//! assert!(server.may_close_transport());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layers
//! * [`handshake`]: the opening handshake, both roles (request parsing and
//!   validation, `Sec-WebSocket-Accept`, subprotocols, rejections).
//! * [`frame`]: the wire format, frame headers and masking.
//! * [`Connection`]: the state machine: message assembly, control frames,
//!   the close handshake, limits, UTF-8 validation, timers (keepalive,
//!   closing and write timeouts; the caller passes `now`), bounded input
//!   and output. Its docs give the call order.
//! * [`Agreement`]: what the handshake settled (role, subprotocol,
//!   permessage-deflate parameters), from which a connection is built.
//! * [`close`], [`utf8`]: close codes and payloads; incremental UTF-8 validation.
//! * [`blocking`] (feature `std`, on by default): `WebSocket<S: Transport>`.
//! * [`deflate`] (feature `deflate`, on by default): permessage-deflate
//!   (RFC 7692) negotiation parameters and policy.
//!
//! # Errors
//! By who is at fault: [`ProtocolError`] (the peer; carries the close code
//! that was sent), [`UsageError`] (the caller), [`HandshakeError`]. The end
//! of a connection without a close handshake (the transport ended, a
//! timeout) is not an error but an event: [`Event::Lost`].
//!
//! # Features
//! * `std` (default): the blocking adapter and OS randomness for client
//!   keys. Without it the crate is `no_std` + `alloc`, and a client supplies
//!   its own random source ([`Connection::with_mask_source`]).
//! * `deflate` (default; needs `std`): permessage-deflate (RFC 7692),
//!   through flate2 with its pure-Rust zlib-rs backend. Without it, RSV1 is
//!   refused with 1002 like any reserved bit.
//! * `rustls` (needs `std`): wss:// in both adapters through rustls (the
//!   `ring` provider, named explicitly: no process-wide provider is ever
//!   needed): `tls` (configurations, `Failure`), `blocking::tls`, and with
//!   `tokio` also `tokio::tls`. `rustls-tls-webpki-roots` adds Mozilla's
//!   roots, `rustls-tls-native-roots` the system's, for `connect("wss://...")`
//!   without a configuration of one's own.
//! * `http` (needs `std`): the opening handshake from a request another
//!   HTTP stack parsed (`http::request::Parts`) and its answer as an
//!   `http::Response` (`handshake::HttpUpgrade`), with the same checks as
//!   the byte parser.
//! * `tokio` (needs `std`): the async adapter `tokio` (a driver task per
//!   connection; `WebSocket`, cloneable `Sender`, `Stream` + `Sink`).
//! * `hyper`, `axum` (need `tokio` and `http`): upgrading a hyper request,
//!   and axum's `WebSocketUpgrade`-style extractor.
//! * `no-simd`: the portable masking loop only (for tests of the fallback).
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod agreement;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "std")]
pub mod blocking;
#[cfg(feature = "std")]
mod clock;
pub mod close;
mod close_code;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
mod header_list;
#[cfg(feature = "hyper")]
pub mod hyper;
mod message;
#[cfg(feature = "std")]
mod read_size;
#[cfg(feature = "rustls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod utf8;
mod utf8_bytes;

pub use agreement::{Agreement, Role};
pub use close::{CloseCode, CloseFrame};
pub use connection::{
    Config, Connection, Initiator, Keepalive, MemoryBudget, Output, PreparedMessage, State,
};
pub use error::*;
pub use message::{Event, Lost, Message, MessageKind, Utf8Bytes};

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
