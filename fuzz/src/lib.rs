//! Shared code of the rfc6455 fuzz targets (see fuzz/README.md).
//!
//! * [`wire`]: an independent reading of the frame format, and a frame builder.
//! * [`model`]: a reference receiver the connection is compared with.
//! * [`deflate`]: permessage-deflate as the harness does it (the agreement
//!   an input picks, the peer's compressor, the reference's inflater).
//! * [`driver`]: runs a connection and checks its invariants after every step.
//! * [`script`]: the connection targets' input format and its player.
//! * [`seed`]: writes connection inputs for the seed corpus.
//! * [`http`]: helpers for the handshake targets.
//! * [`negotiate`]: the `deflate_negotiate` target and its reading of RFC 7692 §7.1.

pub mod deflate;
pub mod driver;
pub mod http;
pub mod model;
pub mod negotiate;
pub mod script;
pub mod seed;
pub mod wire;
