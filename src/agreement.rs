//! What the opening handshake settles for the connection that follows: the
//! role, the subprotocol and the extensions' parameters, as one value from
//! which a [`Connection`](crate::Connection) is built
//! ([`Connection::from_agreement`](crate::Connection::from_agreement)).
//!
//! A leaf: the handshake produces it and the connection consumes it, so
//! neither needs the other.

use alloc::string::String;

/// Which end of the connection this is. It decides masking (§5.1): a client
/// masks every frame it sends, a server never does, and each rejects frames
/// masked the wrong way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection; masks what it sends.
    Client,
    /// The end that accepted the connection.
    Server,
}

/// The outcome of a successful opening handshake (RFC 6455 §4), for one end.
///
/// Built by the handshake (`Response::agreement` on the client,
/// `UpgradeRequest::agree` on the server, or the `http` integration), so
/// that the role and the negotiated permessage-deflate parameters cannot be
/// mismatched with the connection built from it. [`Agreement::new`] makes
/// one by hand (tests, a handshake done elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Agreement {
    /// This end's role.
    pub role: Role,
    /// The subprotocol selected (`Sec-WebSocket-Protocol`), if any.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters agreed (RFC 7692), if any.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateParams>,
}

impl Agreement {
    /// An agreement with no subprotocol and no extension.
    pub fn new(role: Role) -> Self {
        Agreement {
            role,
            protocol: None,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    /// Sets [`protocol`](Self::protocol).
    pub fn with_protocol(mut self, protocol: Option<String>) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets [`deflate`](Self::deflate).
    #[cfg(feature = "deflate")]
    pub fn with_deflate(mut self, deflate: Option<crate::deflate::DeflateParams>) -> Self {
        self.deflate = deflate;
        self
    }
}
