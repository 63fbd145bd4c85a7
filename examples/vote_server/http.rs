//! The plain HTTP routes: the page, the counts (short and long polling),
//! votes over HTTP, the page's settings and the server's gauges.
//!
//! Every answer of the API is JSON with `Cache-Control: no-store` (counts
//! must never come from a cache); every refusal is
//! `{"error": WHY}` with the status that says whose fault it is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::App;
use crate::board::{Refused, Snapshot};

/// The page served on `GET /`.
const PAGE: &str = include_str!("../vote.html");

/// The largest vote body read (`{"vote": "NAME"}` with a long name is a
/// few hundred bytes); a larger one gets 413 and is not read further.
pub const MAX_VOTE_BODY: usize = 4096;

pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

/// A JSON answer that no cache keeps.
pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{"error": WHY}` with `status`.
pub fn error(status: StatusCode, why: &str) -> Response {
    json_response(status, json!({"error": why}).to_string())
}

/// 503 with `Retry-After: 1`: a cap on held requests is reached.
pub fn busy(what: &str, max: usize) -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("too many {what} open ({max}); try again later"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn counts_response(snapshot: &Snapshot) -> Response {
    json_response(StatusCode::OK, Bytes::from(snapshot.json.clone()))
}

/// `GET /api/counts`: the counts at once (short polling).
///
/// `GET /api/counts?since=N`: long polling. The counts at once if the
/// board's version is not `N` (newer, or older: the client's version is
/// from before a restart); otherwise the request is held until the next
/// vote (then the new counts) or for `--long-poll-timeout` (then **204 No
/// Content**: nothing changed, the client asks again with the same `N`; no
/// body to send or parse). At most `--max-long-polls` are held at once,
/// 503 past them. A client that goes away while held drops this future,
/// with its `watch` receiver and its place: it costs nothing afterwards.
pub async fn counts(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let since = match query_param(uri.query().unwrap_or(""), "since") {
        None => return counts_response(&app.board.current()),
        Some(value) => match value.parse::<u64>() {
            Ok(since) => since,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "since must be a version number (a whole number from 0)",
                );
            }
        },
    };
    let mut watcher = app.board.subscribe();
    let current = watcher.borrow_and_update().clone();
    if current.version != since {
        return counts_response(&current);
    }
    let Some(_place) = app.long_polls.admit() else {
        return busy("long polls", app.long_polls.max());
    };
    let newer = watcher.wait_for(|snapshot| snapshot.version != since);
    match tokio::time::timeout(app.settings.long_poll_timeout, newer).await {
        Ok(Ok(snapshot)) => {
            let snapshot = Arc::clone(&snapshot);
            counts_response(&snapshot)
        }
        Ok(Err(_)) => error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        Err(_) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }
}

/// `POST /api/vote` with `{"vote": "NAME"}`: 200 with
/// `{"version": N, "total": T}` (the board's version after this vote);
/// 400 for a malformed body or an unknown name, with `{"error": WHY}` and
/// nothing counted; 413 for a body
/// over [`MAX_VOTE_BODY`]; 415 unless `Content-Type` is JSON; 429 (with
/// `Retry-After`) past the client address's token bucket; 403 for a page
/// from another origin (the WebSocket's origin policy: a form on another
/// site must not vote through a visitor's browser).
pub async fn vote(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err((status, why)) = check_origin(&app, &headers) {
        return error(status, why);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a vote is JSON: Content-Type: application/json",
        );
    }
    let body = match axum::body::to_bytes(body, MAX_VOTE_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("a vote is at most {MAX_VOTE_BODY} bytes"),
            );
        }
    };
    // Over the limit: refused before any parsing, as on /ws.
    if !app.voters.take(peer.ip(), Instant::now()) {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, &app.settings.votes.refusal());
        let wait = (1.0 / app.settings.votes.rate).ceil().max(1.0).to_string();
        if let Ok(value) = HeaderValue::from_str(&wait) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    match app.board.vote_json(&body) {
        Ok(snapshot) => json_response(
            StatusCode::OK,
            json!({"version": snapshot.version, "total": snapshot.total}).to_string(),
        ),
        Err(refused @ (Refused::Malformed(_) | Refused::Unknown(_))) => {
            error(StatusCode::BAD_REQUEST, &refused.to_string())
        }
    }
}

/// The origin policy of `/ws` applied to a vote: a request with an
/// `Origin` another site's page sends is refused with 403; one without
/// `Origin` (not a browser, or a same-origin GET) is let through. `--host`:
/// another `Host` gets 421.
fn check_origin(app: &App, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
    let hosts = &app.settings.access.hosts;
    if !hosts.is_empty() {
        let named = host
            .and_then(|h| std::str::from_utf8(h).ok())
            .is_some_and(|h| {
                let name = h.rsplit_once(':').map_or(h, |(name, _)| name);
                hosts
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(h) || n.eq_ignore_ascii_case(name))
            });
        if !named {
            return Err((
                StatusCode::MISDIRECTED_REQUEST,
                "this server does not answer for that host",
            ));
        }
    }
    let origins: Vec<&[u8]> = headers
        .get_all(header::ORIGIN)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if origins.is_empty() || app.policy.allows(&origins, host, false) {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            "votes from pages of another origin are refused",
        ))
    }
}

/// `GET /api/config`: what the page needs to know of the command line.
pub async fn config(State(app): State<Arc<App>>) -> Response {
    let s = &app.settings;
    json_response(
        StatusCode::OK,
        json!({
            "poll_interval_ms": s.poll_interval.as_millis() as u64,
            "long_poll_timeout_ms": s.long_poll_timeout.as_millis() as u64,
        })
        .to_string(),
    )
}

/// `GET /api/stats`: the server's gauges (for tests and the harness).
pub async fn stats(State(app): State<Arc<App>>) -> Response {
    let st = &app.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    json_response(
        StatusCode::OK,
        json!({
            "version": app.board.current().version,
            "connections": app.connections_open(),
            "websockets": st.ws.open(),
            "long_polls": app.long_polls.open(),
            "long_polls_admitted": load(&app.long_polls.admitted),
            "long_polls_refused": load(&app.long_polls.refused),
            "event_streams": app.event_streams.open(),
            "event_streams_admitted": load(&app.event_streams.admitted),
            "event_streams_refused": load(&app.event_streams.refused),
            "event_streams_resumed": load(&st.sse_resumed),
            "requests": load(&st.requests),
        })
        .to_string(),
    )
}

/// Everything else: 404 (405 with `Allow` for a known path and another
/// method), as JSON under `/api/`, plain text elsewhere.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let allow = match path {
        "/" | "/ws" | "/events" | "/api/counts" | "/api/config" | "/api/stats" => Some("GET"),
        "/api/vote" => Some("POST"),
        _ => None,
    };
    if let Some(allow) = allow {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed on {path}: {allow} only"),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return response;
    }
    if path.starts_with("/api/") {
        error(StatusCode::NOT_FOUND, "no such API")
    } else {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response()
    }
}

/// The first value of `name` in a query string (no percent-decoding: the
/// only parameter is a number).
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}
