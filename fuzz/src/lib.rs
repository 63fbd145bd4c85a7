//! Shared code of the rfc6455 fuzz targets (see fuzz/README.md).
//!
//! * [`wire`]: an independent reading of the frame format, and a frame builder.
//! * [`model`]: a reference receiver the connection is compared with.
//! * [`driver`]: runs a connection and checks its invariants after every step.
//! * [`script`]: the connection targets' input format and its player.
//! * [`seed`]: writes connection inputs for the seed corpus.
//! * [`http`]: helpers for the handshake targets.

pub mod deflate;
pub mod driver;
pub mod http;
pub mod model;
pub mod negotiate;
pub mod script;
pub mod seed;
pub mod wire;
