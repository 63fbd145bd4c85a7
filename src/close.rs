//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).

use alloc::string::String;

use crate::error::{ProtocolError, UsageError};

pub use crate::close_code::CloseCode;

/// The parsed payload of a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code, or `None` for an empty close payload (reported to
    /// applications as 1005, [`CloseCode::NO_STATUS`]).
    pub code: Option<CloseCode>,
    /// The UTF-8 reason; empty when none was given.
    pub reason: String,
}

impl CloseFrame {
    /// Parses and validates a close frame payload (§5.5.1).
    ///
    /// An empty payload has no code. One byte is a protocol error (the code
    /// is two bytes). The code must be valid on the wire (§7.4), and the
    /// reason must be valid UTF-8 (§5.5.1, answered with 1007).
    pub fn parse(payload: &[u8]) -> Result<CloseFrame, ProtocolError> {
        match payload {
            [] => Ok(CloseFrame {
                code: None,
                reason: String::new(),
            }),
            // §5.5.1: if there is a body, its first two bytes are the code.
            [_] => Err(ProtocolError::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                // §7.4: codes that may not be sent are a protocol error when received.
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason =
                    core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(CloseFrame {
                    code: Some(code),
                    reason: reason.into(),
                })
            }
        }
    }

    /// The code an application should see: the frame's code, or 1005 when
    /// the close frame carried none (§7.1.5).
    pub fn code_or_no_status(&self) -> CloseCode {
        self.code.unwrap_or(CloseCode::NO_STATUS)
    }
}

/// Writes a close payload (code then reason) into `out`, checking what a
/// caller may send: a code valid on the wire and a payload of at most 125
/// bytes (§5.5). With no code, the reason must be empty.
pub(crate) fn encode_payload(
    code: Option<CloseCode>,
    reason: &str,
    out: &mut [u8; 125],
) -> Result<usize, UsageError> {
    let Some(code) = code else {
        if !reason.is_empty() {
            return Err(UsageError::InvalidCloseCode(CloseCode::NO_STATUS.0));
        }
        return Ok(0);
    };
    if !code.is_valid_on_wire() {
        return Err(UsageError::InvalidCloseCode(code.0));
    }
    let len = 2 + reason.len();
    if len > 125 {
        return Err(UsageError::ControlPayloadTooLong);
    }
    out[..2].copy_from_slice(&code.0.to_be_bytes());
    out[2..len].copy_from_slice(reason.as_bytes());
    Ok(len)
}
