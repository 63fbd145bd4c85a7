//! The same room over plain HTTP, the way the classic Redis chats do it:
//! Server-Sent Events (`GET /chat/stream`), long polling (`GET
//! /chat/poll?since=ID`), posting (`POST /chat/post`) with the nickname
//! from a cookie set by a one-field form (`GET`/`POST /chat/login`).
//!
//! Every reader keeps a cursor (the number of the last event it saw) over
//! the room's [`History`](crate::room::History), not a queue of its own:
//! it reads the events after its cursor, in the room's one order (the
//! numbers WebSocket members see as `id`), then waits for the next. A
//! reader further behind than the history holds (`--history`, default
//! 256 events) is told so (`event: resync` on the stream, `"behind": true`
//! from a poll) and gets all that is kept. Only room events (messages,
//! joins, leaves) are in the history; private messages are for WebSocket
//! members. Nicknames given by the form are not reserved: a post under the
//! name of someone online in the room is refused (409).
//!
//! The WebSocket route's gate (`--host`, `--allow-origin`, `--any-origin`;
//! examples/support/access.rs) guards these routes too ([`refused`]): every
//! `/chat/*` request addressed to a name not among `--host` gets 421 (a
//! DNS-rebinding page could otherwise read the room and post), and the two
//! posts, which change something, get 403 for a foreign `Origin` (a
//! cross-site form or `fetch`: browsers send `Origin` on every `POST`). The
//! cookie's `SameSite=Strict` is then a second guard, not the only one. A
//! request without `Origin` is not from a browser (curl, a bot) and passes,
//! as on the WebSocket route. The reads (`GET`) are not checked for
//! `Origin`: another site's page cannot read their answers (no CORS
//! headers), and a link to the form must work from anywhere.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rfc6455::HandshakeError;
use rfc6455::handshake::{OriginPolicy, Rejection};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::access::Checked;
use crate::http::{percent_decode, query_param};
use crate::room::{Audience, lock};
use crate::settings::MAX_MESSAGE_BYTES;
use crate::{App, nickname};

/// The largest body `POST /chat/post` and `POST /chat/login` take (413 past it).
pub const MAX_BODY_BYTES: usize = MAX_MESSAGE_BYTES + 1024;

/// An SSE stream with nothing new sends a comment this often (proxies and
/// browsers keep the stream open).
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

/// Events written to an SSE stream at a time.
const SSE_BATCH: usize = 64;

/// The cookie holding the nickname.
const COOKIE: &str = "chat_name";

const LOGIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rfc6455 chat over HTTP</title></head>
<body>
<h1>rfc6455 chat over HTTP</h1>
<p>NOTICE</p>
<form method="post" action="/chat/login">
  <input name="name" maxlength="32" placeholder="Nickname" required autofocus>
  <button type="submit">Log in</button>
</form>
<form method="post" action="/chat/post">
  <input name="text" placeholder="Message for the room" required>
  <button type="submit">Send</button>
</form>
<p>The room as <a href="/chat/stream">Server-Sent Events</a>, or by
<a href="/chat/poll">long polling</a>; the WebSocket page is <a href="/">here</a>.</p>
</body></html>
"#;

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", body.into()),
    )
        .into_response()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// A `/chat/*` request as the gate sees it: its `Host` and, when it
/// `changes` something, its `Origin`.
struct Plain<'a> {
    headers: &'a HeaderMap,
    uri: &'a Uri,
    changes: bool,
}

impl Plain<'_> {
    /// The `Host` (the URI's authority for a request without one, as over
    /// HTTP/2); `None` for none or more than one.
    fn host(&self) -> Option<&[u8]> {
        let mut lines = self.headers.get_all(header::HOST).iter();
        match (lines.next(), lines.next()) {
            (Some(host), None) => Some(host.as_bytes()),
            (None, _) => self.uri.authority().map(|a| a.as_str().as_bytes()),
            (Some(_), Some(_)) => None,
        }
    }
}

impl Checked for Plain<'_> {
    fn host_in(&self, names: &[String]) -> Result<(), Rejection> {
        if names.is_empty() || self.host().is_some_and(|host| host_is_one_of(host, names)) {
            Ok(())
        } else {
            Err(HandshakeError::MisdirectedHost.into())
        }
    }

    fn origin_in(&self, policy: &OriginPolicy) -> Result<(), Rejection> {
        let origins: Vec<&[u8]> = self
            .headers
            .get_all(header::ORIGIN)
            .iter()
            .map(|value| value.as_bytes())
            .collect();
        // The handshake's rule (`OriginPolicy::allows`): no `Origin`, not
        // a browser, passes.
        if !self.changes || policy.allows(&origins, self.host(), false) {
            Ok(())
        } else {
            Err(HandshakeError::ForbiddenOrigin.into())
        }
    }
}

/// Whether `host` (`name[:port]`) is one of `names` as `--host` means it
/// (the crate's `check_host` rule, which takes only a handshake): ASCII
/// case-insensitively, a name without a port on any port, one with a port
/// only on that port.
fn host_is_one_of(host: &[u8], names: &[String]) -> bool {
    let Some((name, port)) = std::str::from_utf8(host).ok().and_then(split_authority) else {
        return false;
    };
    names
        .iter()
        .filter_map(|allowed| split_authority(allowed))
        .any(|(allowed, allowed_port)| {
            allowed.eq_ignore_ascii_case(name) && allowed_port.is_none_or(|p| port == Some(p))
        })
}

/// `host[:port]` (an IPv6 literal in brackets) split; `None` for an empty
/// host or a port that is not a number.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let authority = authority.trim();
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let end = rest.find(']')? + 2;
            match &authority[end..] {
                "" => (&authority[..end], None),
                rest => (&authority[..end], Some(rest.strip_prefix(':')?)),
            }
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        None => None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse().ok()?)
        }
        Some(_) => return None,
    };
    (!host.is_empty()).then_some((host, port))
}

/// The gate of the WebSocket route, for a `/chat/*` request: 421 for a
/// `Host` not among `--host`; for one that `changes` something (the
/// posts), 403 for an `Origin` the policy refuses. `None`: it may pass.
fn refused(app: &App, headers: &HeaderMap, uri: &Uri, changes: bool) -> Option<Response> {
    let request = Plain {
        headers,
        uri,
        changes,
    };
    let rejection = app.access.check(&request).err()?;
    let status = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::FORBIDDEN);
    Some(text(status, rejection.error().to_string()))
}

/// The nickname in the request's cookie, normalised again (a cookie is
/// the client's to change).
fn cookie_name(headers: &HeaderMap) -> Option<String> {
    let raw = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == COOKIE).then(|| percent_decode(value))
        })?;
    nickname::normalise(&raw)
        .ok()
        .filter(|name| !name.is_empty())
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A field of a form body (`application/x-www-form-urlencoded`) or, with
/// a JSON content type, of a JSON object.
fn field(headers: &HeaderMap, body: &[u8], name: &str) -> Result<Option<String>, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if json {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        return Ok(value.get(name).and_then(Value::as_str).map(str::to_string));
    }
    let body = std::str::from_utf8(body).map_err(|_| "the form is not UTF-8".to_string())?;
    Ok(query_param(body, name))
}

/// `GET /chat/login`: the one-field form (and a post form).
pub async fn login_form(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refusal) = refused(&app, &headers, &uri, false) {
        return refusal;
    }
    let notice = match cookie_name(&headers) {
        Some(name) => format!("Logged in as <b>{}</b>.", html_escape(&name)),
        None => "Pick a nickname to post.".to_string(),
    };
    let page = LOGIN_PAGE.replace("NOTICE", &notice);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `POST /chat/login` (`name=NICK`): sets the cookie (the nickname
/// normalised as the WebSocket's) and sends the browser back to the form.
pub async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refused(&app, &headers, &uri, true) {
        return refusal;
    }
    let wanted = match field(&headers, &body, "name") {
        Ok(Some(wanted)) => wanted,
        Ok(None) => return text(StatusCode::BAD_REQUEST, "a nickname is needed: name=NICK"),
        Err(error) => return text(StatusCode::BAD_REQUEST, error),
    };
    let name = match nickname::normalise(&wanted) {
        Ok(name) if !name.is_empty() => name,
        Ok(_) => return text(StatusCode::BAD_REQUEST, "a nickname is needed: name=NICK"),
        Err(error) => return text(StatusCode::BAD_REQUEST, error),
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/chat; HttpOnly; SameSite=Strict",
        percent_encode(&name)
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/chat/login".to_string()),
        ],
    )
        .into_response()
}

/// `POST /chat/post` (`text=...` as a form, or `{"text": ...}` as JSON):
/// publishes a room message from the cookie's nickname. 204 once
/// published; 401 without a cookie, 400 without text, 409 if the name is
/// a WebSocket member's, 503 while the room is degraded, 413 past
/// [`MAX_BODY_BYTES`]; 421 and 403 from the gate ([`refused`]).
pub async fn post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refused(&app, &headers, &uri, true) {
        return refusal;
    }
    let Some(name) = cookie_name(&headers) else {
        return text(
            StatusCode::UNAUTHORIZED,
            "log in first: POST /chat/login with name=NICK",
        );
    };
    let message = match field(&headers, &body, "text") {
        Ok(Some(message)) if !message.is_empty() => message,
        Ok(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "expected text=... or {\"text\": ...}",
            );
        }
        Err(error) => return text(StatusCode::BAD_REQUEST, error),
    };
    match app.is_online(&name).await {
        Ok(false) => {}
        Ok(true) => {
            return text(
                StatusCode::CONFLICT,
                format!("nickname {name:?} is in use in the room"),
            );
        }
        Err(error) => return text(StatusCode::SERVICE_UNAVAILABLE, error),
    }
    let event = json!({"type": "message", "from": name, "text": message, "via": "http"});
    match app.publish(Audience::Everyone, event).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => text(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

/// The cursor a reader gave: `Last-Event-ID` (what a browser's
/// `EventSource` sends when it reconnects), else the query's `name`.
fn cursor(headers: Option<&HeaderMap>, uri: &Uri, query_name: &str) -> Result<Option<u64>, String> {
    let given = headers
        .and_then(|headers| headers.get("last-event-id"))
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.query().and_then(|query| query_param(query, query_name)));
    match given {
        None => Ok(None),
        Some(id) => id
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{query_name} must be an event number, not {id:?}")),
    }
}

/// `GET /chat/stream`: `text/event-stream`, one event per room event
/// (`id:` its number, `data:` its JSON), from the one after
/// `Last-Event-ID` (or `?last_event_id=`) if given, else from the next.
pub async fn stream(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refusal) = refused(&app, &headers, &uri, false) {
        return refusal;
    }
    let start = match cursor(Some(&headers), &uri, "last_event_id") {
        Ok(start) => start,
        Err(error) => return text(StatusCode::BAD_REQUEST, error),
    };
    let (cursor, changes) = {
        let room = lock(&app.room);
        (start.unwrap_or(room.history.latest()), room.history.watch())
    };
    let state = Reader {
        app,
        cursor,
        changes,
        first: true,
    };
    let body = futures_util::stream::unfold(state, |mut reader| async move {
        let chunk = reader.next_chunk().await;
        Some((Ok::<_, Infallible>(chunk), reader))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// One SSE reader: its cursor and a wake-up for new events.
struct Reader {
    app: Arc<App>,
    cursor: u64,
    changes: watch::Receiver<u64>,
    first: bool,
}

impl Reader {
    /// The next piece of the stream: events after the cursor, or a
    /// keep-alive comment after [`SSE_KEEPALIVE`] without any.
    async fn next_chunk(&mut self) -> Bytes {
        if self.first {
            self.first = false;
            // How long a browser waits before reconnecting, and a first
            // line so that the client sees the stream open at once.
            return Bytes::from_static(b"retry: 1000\n: connected\n\n");
        }
        loop {
            // Marks the current value seen before reading: an event kept
            // after this is not missed.
            self.changes.borrow_and_update();
            let since = lock(&self.app.room).history.since(self.cursor, SSE_BATCH);
            let mut out = String::new();
            if since.behind {
                let missed = json!({"type": "resync", "after": self.cursor});
                out.push_str(&format!("event: resync\ndata: {missed}\n\n"));
            }
            for (id, text) in &since.events {
                out.push_str(&format!("id: {id}\ndata: {}\n\n", text.as_str()));
                self.cursor = *id;
            }
            if since.behind && since.events.is_empty() {
                self.cursor = lock(&self.app.room).history.latest();
            }
            if !out.is_empty() {
                return Bytes::from(out);
            }
            match tokio::time::timeout(SSE_KEEPALIVE, self.changes.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => std::future::pending::<()>().await, // the room never goes
                Err(_) => return Bytes::from_static(b": keepalive\n\n"),
            }
        }
    }
}

/// `GET /chat/poll?since=ID`: `{"messages": [...], "last": ID, "behind":
/// bool}`. At once if there are events after `since` (or without `since`:
/// all that are kept); else the request is held until one comes or
/// `--poll-timeout` passes (then an empty list). `last` is the cursor for
/// the next poll; `behind: true` says events were missed (the list is then
/// all that is kept: start afresh from it).
pub async fn poll(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refusal) = refused(&app, &headers, &uri, false) {
        return refusal;
    }
    let since = match cursor(None, &uri, "since") {
        Ok(since) => since,
        Err(error) => return text(StatusCode::BAD_REQUEST, error),
    };
    let deadline = tokio::time::Instant::now() + app.settings.poll_timeout;
    let mut changes = lock(&app.room).history.watch();
    loop {
        changes.borrow_and_update();
        let (found, latest) = {
            let room = lock(&app.room);
            (
                room.history.since(since.unwrap_or(0), usize::MAX),
                room.history.latest(),
            )
        };
        let cursor = since.unwrap_or(0);
        let behind = since.is_some() && found.behind;
        if !found.events.is_empty() || behind || since.is_none() {
            // The cursor for the next poll: never one this room does not know.
            let last = found.events.last().map_or(latest, |(id, _)| *id);
            let list: Vec<&str> = found.events.iter().map(|(_, text)| text.as_str()).collect();
            let body = format!(
                "{{\"messages\":[{}],\"last\":{last},\"behind\":{behind}}}",
                list.join(",")
            );
            return (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                body,
            )
                .into_response();
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) | Err(_) => {
                let body = json!({"messages": [], "last": cursor, "behind": false});
                return json_response(StatusCode::OK, &body);
            }
        }
    }
}
