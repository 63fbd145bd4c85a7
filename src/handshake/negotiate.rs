//! permessage-deflate negotiation (RFC 7692 §5, §7.1), both roles: parsing
//! offers and responses, the server's choice ([`negotiate`]) and the
//! client's check of the server's answer.
//!
//! The policy and the agreed parameters are the plain types of
//! [`crate::deflate`]; everything that reads `Sec-WebSocket-Extensions`
//! lives here, with the rest of the handshake.

use alloc::vec::Vec;

use crate::deflate::{DeflateConfig, DeflateParams, is_deflate};
use crate::error::HandshakeError;
use crate::header_list;

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
    /// Parses the parameters of `entry` (`permessage-deflate; a; b=1`), one
    /// entry of a list (split it with [`header_list::split_list`] first).
    /// Refused (§7.1): an unknown parameter, a parameter given twice, a
    /// value on a parameter that takes none, a missing or malformed window
    /// size, a size outside 8–15.
    pub(crate) fn parse(entry: &str) -> Result<Offer, Invalid> {
        let mut offer = Offer::default();
        for (name, value) in header_list::extension_params(entry) {
            let value = value.map(window_bits).transpose()?;
            match (name.to_ascii_lowercase().as_str(), value) {
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
    /// `config`. Every valid offer can be honoured: a window this end
    /// cannot compress with (8 bits) only means it sends uncompressed
    /// messages.
    pub(crate) fn accept(&self, config: &DeflateConfig) -> DeflateParams {
        let server_limit = config.server_max_window_bits.clamp(8, 15);
        let client_limit = config.client_max_window_bits.clamp(8, 15);
        DeflateParams {
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
        }
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

/// The server's choice (RFC 7692 §5, §7.1): the first `permessage-deflate`
/// offer that is valid and that `config` can honour, in the client's order.
///
/// `offers` are `Sec-WebSocket-Extensions` entries or whole header values:
/// each is split as a list (RFC 6455 §9.1, commas inside quoted strings
/// kept), so `"permessage-deflate; client_max_window_bits=10,
/// permessage-deflate"` is two offers, as is the same text in two items.
/// `None` when the extension is disabled or no offer qualifies (an offer
/// with a duplicate, unknown or malformed parameter is declined, §7.1).
///
/// ```
/// use rfc6455::deflate::DeflateConfig;
/// use rfc6455::handshake::negotiate;
///
/// // The first offer is malformed (§7.1.2.1 needs a value): the second is taken.
/// let value = "permessage-deflate; server_max_window_bits, permessage-deflate";
/// let agreed = negotiate(&[value], &DeflateConfig::default()).unwrap();
/// assert_eq!(agreed.to_string(), "permessage-deflate");
/// ```
pub fn negotiate<S: AsRef<str>>(offers: &[S], config: &DeflateConfig) -> Option<DeflateParams> {
    if !config.enabled {
        return None;
    }
    offers
        .iter()
        .flat_map(|value| header_list::split_list(value.as_ref()))
        .filter(|entry| is_deflate(entry))
        .find_map(|entry| Offer::parse(entry).ok())
        .map(|offer| offer.accept(config))
}

/// The permessage-deflate offers among a client's extension entries, parsed;
/// an offer with bad parameters cannot be sent (RFC 7692 §7.1).
pub(crate) fn client_offers<'e>(
    entries: impl IntoIterator<Item = &'e str>,
) -> Result<Vec<Offer>, HandshakeError> {
    entries
        .into_iter()
        .filter(|entry| is_deflate(entry))
        .map(|entry| Offer::parse(entry).map_err(|_| HandshakeError::InvalidHeader))
        .collect()
}

/// The client's check (RFC 7692 §5): the parameters the server's accepted
/// `extensions` (entries, in its order) agree to for `offers`. `None` if it
/// accepted no permessage-deflate; [`HandshakeError::InvalidExtensionResponse`]
/// if it is accepted twice, has invalid parameters, or answers none of the
/// offers (the client must then fail the connection).
pub(crate) fn client_agreed<S: AsRef<str>>(
    offers: &[Offer],
    extensions: &[S],
) -> Result<Option<DeflateParams>, HandshakeError> {
    let invalid = HandshakeError::InvalidExtensionResponse;
    let mut entries = extensions
        .iter()
        .map(AsRef::as_ref)
        .filter(|entry| is_deflate(entry));
    let Some(entry) = entries.next() else {
        return Ok(None);
    };
    if entries.next().is_some() {
        return Err(invalid);
    }
    let answer = Offer::parse(entry).map_err(|_| invalid)?;
    offers
        .iter()
        .find_map(|offer| offer.agree(&answer))
        .map(Some)
        .ok_or(invalid)
}

/// A window size value (RFC 7692 §7.1.2): `8` to `15`, digits without a
/// leading zero, as a token or a quoted string whose content (escapes
/// undone, RFC 6455 §9.1) is one.
fn window_bits(value: &str) -> Result<u8, Invalid> {
    let value = header_list::unquote(value).ok_or(Invalid)?;
    match value.as_bytes() {
        [b'8'..=b'9'] | [b'1', b'0'..=b'5'] => value.parse().map_err(|_| Invalid),
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
            // §9.1: the value is checked after quoted-string unescaping.
            ("\"\\1\\0\"", Some(10)),
            ("7", None),
            ("16", None),
            ("08", None),
            ("", None),
            ("\"\"", None),
            ("1a", None),
            ("\"10", None),
            ("\"10\"x", None),
            ("+9", None),
        ] {
            assert_eq!(window_bits(value).ok(), ok, "{value:?}");
        }
    }

    #[test]
    fn several_offers_in_one_value_are_all_considered() {
        let config = DeflateConfig::default();
        // Failed before: the value was read as one entry whose
        // client_max_window_bits was "10, permessage-deflate".
        let one_value = ["permessage-deflate; client_max_window_bits=10, permessage-deflate"];
        let agreed = negotiate(&one_value, &config).expect("the first offer is valid");
        assert_eq!(agreed.client_max_window_bits, 10);
        // A first offer that is invalid no longer hides the second.
        let one_value =
            ["permessage-deflate; bogus, permessage-deflate; server_no_context_takeover"];
        let agreed = negotiate(&one_value, &config).expect("the second offer is valid");
        assert!(agreed.server_no_context_takeover);
        // Split or not, the same choice.
        let split = [
            "permessage-deflate; bogus",
            "permessage-deflate; server_no_context_takeover",
        ];
        assert_eq!(negotiate(&split, &config), Some(agreed));
    }

    #[test]
    fn quoted_commas_and_semicolons_stay_in_their_parameter() {
        // `x; a="1,permessage-deflate"` is one (foreign) extension, not an offer.
        let value = [r#"x; a="1,permessage-deflate", y"#];
        assert_eq!(negotiate(&value, &DeflateConfig::default()), None);
        // A quoted `;` cannot smuggle a second parameter in.
        assert_eq!(
            Offer::parse(
                r#"permessage-deflate; client_max_window_bits="9;server_no_context_takeover""#
            ),
            Err(Invalid)
        );
    }

    #[test]
    fn client_agreed_answers_an_offer() {
        let offers =
            client_offers(["permessage-deflate; client_max_window_bits", "x-other"]).unwrap();
        assert_eq!(offers.len(), 1);
        let agreed = client_agreed(&offers, &["permessage-deflate; client_max_window_bits=9"]);
        assert_eq!(agreed.unwrap().unwrap().client_max_window_bits, 9);
        assert_eq!(client_agreed::<&str>(&offers, &[]), Ok(None));
        let twice = ["permessage-deflate", "permessage-deflate"];
        assert_eq!(
            client_agreed(&offers, &twice),
            Err(HandshakeError::InvalidExtensionResponse)
        );
        assert_eq!(
            client_offers(["permessage-deflate; server_max_window_bits"]),
            Err(HandshakeError::InvalidHeader)
        );
    }
}
