//! Who may open a WebSocket: the `Origin` check that stops cross-site
//! WebSocket hijacking (RFC 6455 §10.2), and the `Host` check that stops a
//! server from answering for names it does not serve (DNS rebinding).
//!
//! Browsers attach cookies and other ambient credentials to a WebSocket
//! request whatever page opens it, and WebSockets are not subject to CORS:
//! the only thing that tells the server which page is asking is the
//! `Origin` header, which browsers always send on a WebSocket request and
//! which a page cannot forge. A server that does not check it lets any web
//! page act as its visitors. [`OriginPolicy`] is that check, written once
//! over the header fields and applied by
//! [`UpgradeRequest::check_origin`](super::UpgradeRequest::check_origin)
//! and (feature `http`) `HttpUpgrade::check_origin` alike; the refusal is
//! a [`Rejection`](super::Rejection) with `403 Forbidden`
//! ([`HandshakeError::ForbiddenOrigin`]), to send before any upgrade.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::HandshakeError;

/// Which `Origin` a WebSocket request may come from.
///
/// **A request without `Origin`** is allowed by every policy when checked
/// with `check_origin`: browsers always send `Origin` on a WebSocket
/// request (the Fetch standard; RFC 6455 §4.1 item 8 for browser clients),
/// so a request without one comes from a non-browser client (a command-line
/// tool, another server), which carries no victim's cookies and which
/// cross-site WebSocket hijacking cannot use; such a client could send any
/// `Origin` it likes anyway. `require_origin` refuses it as well, for a
/// server meant for browsers only.
///
/// **Origins are compared** as browsers serialise them (RFC 6454 §6.2):
/// `scheme://host[:port]`, scheme and host case-insensitively, a port equal
/// to the scheme's default (80 for `http`, 443 for `https`) the same as no
/// port, a trailing `/` ignored. An `Origin` that is not such a
/// serialisation (`null`, which sandboxed frames and `data:`/`file:` pages
/// send, or an opaque value) matches nothing but [`AnyOrigin`](Self::AnyOrigin)
/// (and an allow-list entry spelt exactly the same, which you should not
/// write for `null`: every sandboxed page on the web sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// No check: any page on any site may connect. Only for a server that
    /// holds nothing a visitor's credentials could unlock (a public echo),
    /// or one that authenticates every connection by other means than
    /// cookies.
    AnyOrigin,
    /// The page must come from the host and port the request is addressed
    /// to (its `Host`, over HTTP/2 its `:authority`): the same host,
    /// compared case-insensitively, and the same port, where an `Origin`
    /// without a port means its scheme's default and a `Host` without a
    /// port matches an `Origin` on its scheme's default port.
    ///
    /// The scheme is only required to be `http` or `https`; it is not
    /// compared against the connection's, because the handshake cannot
    /// know it (TLS often ends at a proxy in front of the server). Whoever
    /// can serve pages on the server's own host and port is the server.
    SameOrigin,
    /// Only the listed origins, e.g. `https://example.com` or
    /// `http://localhost:8080`, compared as described on the type.
    AllowList(Vec<String>),
    /// The same origin ([`SameOrigin`](Self::SameOrigin)) or one of the
    /// listed ones: how a server widens its own pages' access to a few
    /// other sites.
    SameOriginOr(Vec<String>),
}

impl Default for OriginPolicy {
    /// [`SameOrigin`](Self::SameOrigin): safe for a server whose pages and
    /// WebSocket share an address.
    fn default() -> Self {
        OriginPolicy::SameOrigin
    }
}

impl OriginPolicy {
    /// Whether a request with these `Origin` values (all of the header's
    /// lines: more than one is refused) and this `Host` (or `:authority`) is
    /// allowed; `require` also refuses a request without `Origin` (except
    /// under [`AnyOrigin`](Self::AnyOrigin)).
    ///
    /// For a server that checks requests by other means than this crate's
    /// handshake types; [`UpgradeRequest::check_origin`](super::UpgradeRequest::check_origin)
    /// calls it.
    ///
    /// ```
    /// use rfc6455::handshake::OriginPolicy;
    ///
    /// let policy = OriginPolicy::SameOrigin;
    /// let host = Some(&b"chat.example:8080"[..]);
    /// assert!(policy.allows(&[b"https://chat.example:8080"], host, false));
    /// assert!(!policy.allows(&[b"https://evil.example"], host, false));
    /// assert!(policy.allows(&[], host, false)); // not a browser
    /// assert!(!policy.allows(&[], host, true));
    /// ```
    pub fn allows(&self, origins: &[&[u8]], host: Option<&[u8]>, require: bool) -> bool {
        let origin = match origins {
            [] => return !require || *self == OriginPolicy::AnyOrigin,
            [origin] => *origin,
            // Two `Origin` lines: not something a browser sends.
            _ => return *self == OriginPolicy::AnyOrigin,
        };
        match self {
            OriginPolicy::AnyOrigin => true,
            OriginPolicy::SameOrigin => same_origin(origin, host),
            OriginPolicy::AllowList(list) => listed(origin, list),
            OriginPolicy::SameOriginOr(list) => same_origin(origin, host) || listed(origin, list),
        }
    }

    /// [`allows`](Self::allows) as the handshake's answer: `Ok`, or
    /// [`HandshakeError::ForbiddenOrigin`] (403).
    pub(crate) fn check(
        &self,
        origins: &[&[u8]],
        host: Option<&[u8]>,
        require: bool,
    ) -> Result<(), HandshakeError> {
        if self.allows(origins, host, require) {
            Ok(())
        } else {
            Err(HandshakeError::ForbiddenOrigin)
        }
    }
}

/// Whether `host` (a `Host` value or `:authority`) is one of `names`
/// (ASCII case-insensitively): a name without a port matches that host on
/// any port, a name with one (`example.com:8080`) only that port. An empty
/// `names` allows any host. Refused: [`HandshakeError::MisdirectedHost`]
/// (421).
pub(crate) fn check_host<S: AsRef<str>>(
    host: Option<&[u8]>,
    names: &[S],
) -> Result<(), HandshakeError> {
    if names.is_empty() {
        return Ok(());
    }
    let Some((name, port)) = host.and_then(split_authority) else {
        return Err(HandshakeError::MisdirectedHost);
    };
    let known = names.iter().any(|allowed| {
        let allowed = allowed.as_ref().as_bytes();
        match split_authority(allowed) {
            Some((allowed_name, None)) => allowed_name.eq_ignore_ascii_case(name),
            Some((allowed_name, Some(allowed_port))) => {
                allowed_name.eq_ignore_ascii_case(name) && port == Some(allowed_port)
            }
            None => false,
        }
    });
    if known {
        Ok(())
    } else {
        Err(HandshakeError::MisdirectedHost)
    }
}

/// An origin's parts: scheme, host, port (explicit or the scheme's default).
#[derive(Debug, PartialEq, Eq)]
struct Origin<'a> {
    scheme: &'a [u8],
    host: &'a [u8],
    port: u16,
}

impl Origin<'_> {
    fn eq(&self, other: &Origin<'_>) -> bool {
        self.scheme.eq_ignore_ascii_case(other.scheme)
            && self.host.eq_ignore_ascii_case(other.host)
            && self.port == other.port
    }
}

/// The default port of an `http` or `https` origin; other schemes have
/// none we know.
fn default_port(scheme: &[u8]) -> Option<u16> {
    if scheme.eq_ignore_ascii_case(b"http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case(b"https") {
        Some(443)
    } else {
        None
    }
}

/// Parses a serialised origin, `scheme://host[:port]` (a trailing `/`
/// allowed). `None` for `null` and anything else that is not one.
fn parse_origin(origin: &[u8]) -> Option<Origin<'_>> {
    let origin = origin.trim_ascii();
    let origin = origin.strip_suffix(b"/").unwrap_or(origin);
    let at = origin.windows(3).position(|w| w == b"://")?;
    let (scheme, authority) = (&origin[..at], &origin[at + 3..]);
    if scheme.is_empty()
        || !scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
    {
        return None;
    }
    // No path, query, fragment or user information in an origin.
    if authority.iter().any(|b| b"/?#@".contains(b)) {
        return None;
    }
    let (host, port) = split_authority(authority)?;
    let port = match port {
        Some(port) => port,
        None => default_port(scheme)?,
    };
    Some(Origin { scheme, host, port })
}

/// Splits `host[:port]` (an IPv6 literal in brackets). `None` if the host
/// is empty or the port is not a number.
fn split_authority(authority: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let authority = authority.trim_ascii();
    let (host, port) = if authority.starts_with(b"[") {
        let end = authority.iter().position(|&b| b == b']')?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            [] => (host, None),
            [b':', port @ ..] => (host, Some(port)),
            _ => return None,
        }
    } else {
        match authority.iter().rposition(|&b| b == b':') {
            Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(digits) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            Some(core::str::from_utf8(digits).ok()?.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Same host and port as `host`, from an `http` or `https` page.
fn same_origin(origin: &[u8], host: Option<&[u8]>) -> bool {
    let (Some(origin), Some((host, port))) = (parse_origin(origin), host.and_then(split_authority))
    else {
        return false;
    };
    let Some(default) = default_port(origin.scheme) else {
        return false;
    };
    origin.host.eq_ignore_ascii_case(host) && origin.port == port.unwrap_or(default)
}

/// One of `list`, compared as origins (or byte for byte, for an entry that
/// is not one).
fn listed(origin: &[u8], list: &[String]) -> bool {
    let parsed = parse_origin(origin);
    list.iter()
        .any(|entry| match (&parsed, parse_origin(entry.as_bytes())) {
            (Some(origin), Some(entry)) => origin.eq(&entry),
            (None, None) => entry.as_bytes() == origin.trim_ascii(),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn allows(policy: &OriginPolicy, origin: Option<&str>, host: &str) -> bool {
        let origins: Vec<&[u8]> = origin.iter().map(|o| o.as_bytes()).collect();
        policy.allows(&origins, Some(host.as_bytes()), false)
    }

    #[test]
    fn same_origin_compares_host_and_effective_port() {
        let p = OriginPolicy::SameOrigin;
        let host = "127.0.0.1:9001";
        assert!(allows(&p, Some("http://127.0.0.1:9001"), host));
        assert!(allows(&p, Some("https://127.0.0.1:9001"), host));
        assert!(allows(&p, Some("HTTP://127.0.0.1:9001/"), host));
        assert!(!allows(&p, Some("http://127.0.0.1:9002"), host));
        assert!(!allows(&p, Some("http://localhost:9001"), host));
        assert!(!allows(&p, Some("http://127.0.0.1"), host));
        assert!(!allows(&p, Some("null"), host));
        assert!(!allows(&p, Some("file://"), host));
        assert!(!allows(&p, Some("chrome-extension://abc"), host));
        assert!(!allows(&p, Some("http://evil.example"), host));
        assert!(!allows(
            &p,
            Some("http://127.0.0.1:9001.evil.example"),
            host
        ));
        assert!(!allows(&p, Some("http://user@127.0.0.1:9001"), host));
        assert!(!allows(&p, Some("http://127.0.0.1:9001/path"), host));
        assert!(allows(&p, None, host));
        // A Host without a port: the Origin's default port.
        assert!(allows(&p, Some("https://Example.COM"), "example.com"));
        assert!(allows(&p, Some("http://example.com"), "example.com"));
        assert!(allows(&p, Some("https://example.com:443"), "example.com"));
        assert!(!allows(&p, Some("http://example.com:8080"), "example.com"));
        assert!(allows(&p, Some("https://example.com"), "example.com:443"));
        assert!(!allows(&p, Some("https://example.com"), "example.com:80"));
        assert!(allows(&p, Some("http://[::1]:9001"), "[::1]:9001"));
        assert!(!allows(&p, Some("http://[::1]:9001"), "[::2]:9001"));
        // No Host to compare with: refused.
        assert!(!p.allows(&[b"http://example.com"], None, false));
    }

    #[test]
    fn allow_lists_and_required_origin() {
        let list = vec![
            "https://app.example".to_string(),
            "http://localhost:8080".to_string(),
        ];
        let p = OriginPolicy::AllowList(list.clone());
        let host = "ws.example";
        assert!(allows(&p, Some("https://app.example"), host));
        assert!(allows(&p, Some("https://APP.example:443/"), host));
        assert!(!allows(&p, Some("http://app.example"), host));
        assert!(allows(&p, Some("http://localhost:8080"), host));
        assert!(!allows(&p, Some("http://localhost:8081"), host));
        assert!(!allows(&p, Some("https://ws.example"), host));
        let p = OriginPolicy::SameOriginOr(list);
        assert!(allows(&p, Some("https://ws.example"), host));
        assert!(allows(&p, Some("https://app.example"), host));
        assert!(!allows(&p, Some("https://evil.example"), host));
        // Absent Origin: allowed unless required; two Origins: refused.
        assert!(p.allows(&[], Some(b"ws.example"), false));
        assert!(!p.allows(&[], Some(b"ws.example"), true));
        assert!(OriginPolicy::AnyOrigin.allows(&[], None, true));
        let two: [&[u8]; 2] = [b"https://ws.example", b"https://ws.example"];
        assert!(!p.allows(&two, Some(b"ws.example"), false));
        assert!(OriginPolicy::AnyOrigin.allows(&two, None, false));
        assert_eq!(
            p.check(&[b"https://evil.example"], None, false),
            Err(HandshakeError::ForbiddenOrigin)
        );
    }

    #[test]
    fn host_names() {
        let names = ["example.com", "127.0.0.1:9001"];
        let ok = |host: &str| check_host(Some(host.as_bytes()), &names).is_ok();
        assert!(ok("example.com"));
        assert!(ok("EXAMPLE.com:8080"));
        assert!(ok("127.0.0.1:9001"));
        assert!(!ok("127.0.0.1:9002"));
        assert!(!ok("127.0.0.1"));
        assert!(!ok("evil.example"));
        assert!(!ok("example.com.evil.example"));
        assert!(!ok("example.com:x"));
        assert_eq!(
            check_host(None, &names),
            Err(HandshakeError::MisdirectedHost)
        );
        assert_eq!(check_host::<&str>(Some(b"anything"), &[]), Ok(()));
    }
}
