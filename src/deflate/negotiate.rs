//! Parsing and matching permessage-deflate offers and responses (RFC 7692 §5,
//! §7.1).

use super::{DeflateConfig, DeflateParams};

/// The parameters of one `permessage-deflate` entry, offer or response, as
/// written: each may appear at most once (§7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Offer {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    /// `server_max_window_bits=N`: a value is required (§7.1.2.1).
    pub(crate) server_max_window_bits: Option<u8>,
    /// `client_max_window_bits[=N]`: `Some(None)` without a value, which an
    /// offer may use (§7.1.2.2) and a response may not.
    pub(crate) client_max_window_bits: Option<Option<u8>>,
}

/// Why an entry's parameters are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

impl Offer {
    /// Parses the parameters of `entry` (`permessage-deflate; a; b=1`).
    /// Refused (§7.1): an unknown parameter, a parameter given twice, a
    /// value on a parameter that takes none, a missing or malformed window
    /// size, a size outside 8–15.
    pub(crate) fn parse(entry: &str) -> Result<Offer, Invalid> {
        let mut offer = Offer::default();
        for param in entry.split(';').skip(1) {
            let (name, value) = match param.split_once('=') {
                Some((name, value)) => (name.trim_matches([' ', '\t']), Some(window_bits(value)?)),
                None => (param.trim_matches([' ', '\t']), None),
            };
            let name = name.to_ascii_lowercase();
            match (name.as_str(), value) {
                ("server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                    offer.server_no_context_takeover = true;
                }
                ("client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                    offer.client_no_context_takeover = true;
                }
                ("server_max_window_bits", Some(bits))
                    if offer.server_max_window_bits.is_none() =>
                {
                    offer.server_max_window_bits = Some(bits);
                }
                ("client_max_window_bits", bits) if offer.client_max_window_bits.is_none() => {
                    offer.client_max_window_bits = Some(bits);
                }
                _ => return Err(Invalid),
            }
        }
        Ok(offer)
    }

    /// The server's side: the parameters it answers this offer with under
    /// `config`, or `None` to decline it. Every valid offer can be honoured:
    /// a window this end cannot compress with (8 bits) only means it sends
    /// uncompressed messages.
    pub(crate) fn accept(&self, config: &DeflateConfig) -> Option<DeflateParams> {
        let server_limit = config.server_max_window_bits.clamp(8, 15);
        let client_limit = config.client_max_window_bits.clamp(8, 15);
        Some(DeflateParams {
            // §7.1.1: the server may add either no_context_takeover on its own.
            server_no_context_takeover: self.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover
                || config.client_no_context_takeover,
            // §7.1.2.1: an offered value is answered with the same or a
            // smaller one, always stated (even 15: a server "accepts an
            // extension negotiation offer with this parameter by including"
            // it); unasked, the server may still limit itself.
            server_max_window_bits: match self.server_max_window_bits {
                Some(offered) => Some(offered.min(server_limit)),
                None => (server_limit < 15).then_some(server_limit),
            },
            // §7.1.2.2: only a client that offered the parameter can be
            // limited; one that did not uses 15 bits.
            client_max_window_bits: match self.client_max_window_bits {
                Some(offered) => offered.unwrap_or(15).min(client_limit),
                None => 15,
            },
        })
    }

    /// The client's side: the agreed parameters if `response` (a parsed
    /// response entry) is a valid answer to this offer, `None` otherwise.
    pub(crate) fn agree(&self, response: &Offer) -> Option<DeflateParams> {
        // §7.1.2.2: a response must give client_max_window_bits a value,
        // and only if the offer had the parameter, the same or smaller.
        let client_max_window_bits = match response.client_max_window_bits {
            None => self.client_max_window_bits.flatten().unwrap_or(15),
            Some(None) => return None,
            Some(Some(bits)) => {
                let offered = self.client_max_window_bits?;
                if bits > offered.unwrap_or(15) {
                    return None;
                }
                bits
            }
        };
        // §7.1.2.1: an offered server_max_window_bits must be answered with
        // the same or a smaller value; unasked, the server may still limit itself.
        let server_max_window_bits =
            match (self.server_max_window_bits, response.server_max_window_bits) {
                (Some(_), None) => return None,
                (Some(offered), Some(bits)) if bits > offered => return None,
                (_, bits) => bits,
            };
        // §7.1.1.1: an offered server_no_context_takeover must be accepted.
        if self.server_no_context_takeover && !response.server_no_context_takeover {
            return None;
        }
        Some(DeflateParams {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover
                || response.client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
        })
    }
}

/// A window size value: `8` to `15`, digits without a leading zero,
/// possibly in a quoted string (RFC 6455 §9.1).
fn window_bits(value: &str) -> Result<u8, Invalid> {
    let value = value.trim_matches([' ', '\t']);
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"').ok_or(Invalid)?,
        None => value,
    };
    let valid = !value.is_empty()
        && !value.starts_with('0')
        && value.len() <= 2
        && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if valid => Ok(bits),
        _ => Err(Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bits_values() {
        for (value, ok) in [
            ("8", Some(8)),
            ("15", Some(15)),
            ("\"10\"", Some(10)),
            ("7", None),
            ("16", None),
            ("08", None),
            ("", None),
            ("1a", None),
            ("\"10", None),
            ("+9", None),
        ] {
            assert_eq!(window_bits(value).ok(), ok, "{value:?}");
        }
    }
}
