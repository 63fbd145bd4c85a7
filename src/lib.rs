//! placeholder
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod close;
mod connection;
mod error;
pub mod frame;
#[cfg(feature = "std")]
pub mod blocking;
pub mod handshake;
mod message;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use connection::{Config, Connection, Initiator, Role, State};
pub use error::*;
pub use message::{Event, Message, MessageKind};
