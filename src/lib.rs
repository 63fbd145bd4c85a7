//! A WebSocket (RFC 6455) implementation in two layers: a **sans-IO core**
//! that turns bytes into events and messages into bytes, and thin I/O
//! adapters on top ([`blocking`] for `std::io` streams).
//!
//! The core never touches a socket or a clock, so any event loop can drive
//! it: std threads, tokio, mio, io_uring, an embedded stack. Here a client
//! and a server talk through plain byte vectors, handshake included:
//!
//! ```
//! use rfc6455::handshake::{ClientHandshake, ClientOptions, Limits, Parsed, UpgradeRequest};
//! use rfc6455::{CloseCode, Config, Connection, Event, Message, Role};
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
//! // Both sides now hold a `Connection`.
//! let mut client = Connection::new(Role::Client, Config::default());
//! let mut server = Connection::new(Role::Server, Config::default());
//!
//! // The client sends; its bytes (masked, §5.3) go "over the wire".
//! client.send_text("hello")?;
//! let wire = client.pending().to_vec();
//! client.advance(wire.len());
//!
//! // The server's event loop: receive bytes, drain events, write what is pending.
//! server.receive(&wire);
//! while let Some(event) = server.poll_event()? {
//!     if let Event::Message(message) = event {
//!         server.send(&message)?; // echo
//!     }
//! }
//! // Pending output may be several chunks (a large payload echoed back is
//! // shared with the received message, not copied): write and advance
//! // until nothing is left, or write them all at once with
//! // `pending_chunks()` and a vectored write.
//! let mut reply = Vec::new();
//! while server.pending_len() > 0 {
//!     let chunk = server.pending();
//!     reply.extend_from_slice(chunk); // socket.write(chunk) returns n
//!     let n = chunk.len();
//!     server.advance(n);
//! }
//!
//! client.receive(&reply);
//! assert_eq!(client.poll_event()?, Some(Event::Message(Message::Text("hello".into()))));
//!
//! // Closing handshake (§7): the client starts it, the server echoes it.
//! client.close(CloseCode::NORMAL, "bye")?;
//! server.receive(client.pending());
//! assert!(matches!(server.poll_event()?, Some(Event::Close(_))));
//! assert!(!server.may_close_transport()); // its close reply is still pending
//! client.receive(server.pending());
//! assert!(matches!(client.poll_event()?, Some(Event::Close(_))));
//! let n = server.pending().len();
//! server.advance(n);
//! assert!(server.may_close_transport()); // the server closes TCP first (§7.1.1)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layers
//! * [`handshake`]: the opening handshake, both roles (request parsing and
//!   validation, `Sec-WebSocket-Accept`, subprotocols, rejections).
//! * [`frame`]: the wire format, frame headers and masking.
//! * [`Connection`]: the state machine: message assembly, control frames,
//!   the close handshake, limits, UTF-8 validation. Its docs give the call order.
//! * [`close`], [`utf8`]: close codes and payloads; incremental UTF-8 validation.
//! * [`blocking`] (feature `std`, on by default): `WebSocket<S: Read + Write>`.
//! * [`deflate`] (feature `deflate`, on by default): permessage-deflate
//!   (RFC 7692) negotiation parameters and policy.
//!
//! # Errors
//! By who is at fault: [`ProtocolError`] (the peer; carries the close code
//! that was sent), [`UsageError`] (the caller), [`HandshakeError`].
//!
//! # Features
//! * `std` (default): the blocking adapter and OS randomness for client
//!   keys. Without it the crate is `no_std` + `alloc`, and a client supplies
//!   its own random source ([`Connection::with_mask_source`]).
//! * `deflate` (default; needs `std`): permessage-deflate (RFC 7692),
//!   through flate2 with its pure-Rust zlib-rs backend. Without it, RSV1 is
//!   refused with 1002 like any reserved bit.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod blocking;
pub mod close;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
pub mod frame;
pub mod handshake;
mod message;
pub mod utf8;
mod utf8_bytes;

pub use close::{CloseCode, CloseFrame};
pub use connection::{Config, Connection, Initiator, Role, State};
pub use error::*;
pub use message::{Event, Message, MessageKind, Utf8Bytes};

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
