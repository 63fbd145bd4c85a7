//! `GET /events`: the counts as Server-Sent Events (the HTML standard's
//! `text/event-stream`, §9.2 "Server-sent events").
//!
//! The stream, in UTF-8, lines ending in LF:
//!
//! ```text
//! retry: 2000            the reconnection delay (--sse-retry), first
//!                        (blank line)
//! id: 7                  one event per new version: id = the version,
//! data: {"type":"counts","version":7,...}    data = the counts JSON
//!                        (blank line)
//! : keepalive            a comment after --sse-keepalive idle seconds
//!                        (blank line)
//! ```
//!
//! The JSON is one line (serde_json escapes every control character), so
//! one `data:` line carries it. On connect the current counts are sent at
//! once unless the request's `Last-Event-ID` is the current version (the
//! client has them: nothing is sent again until the next vote). A
//! `Last-Event-ID` that is older, newer (a board restarted since) or not a
//! number gets the current counts at once: never a 400, which would make
//! the browser's `EventSource` give up for good. (This board lives in
//! memory and starts over at version 0 when the server restarts: an id
//! from before the restart that equals the new board's version is taken
//! as current, and that page gets the counts with the next vote. A board
//! whose versions outlive the process, kept in a database, has no such
//! gap.)
//!
//! **Coalescing**: the stream yields the newest snapshot each time hyper
//! asks for the next chunk, which it does only once its output buffer (at
//! most [`crate::MAX_BUF`]) has room; while a slow client's socket is full
//! intermediate versions are skipped, so what waits for it is bounded by
//! that buffer and the socket buffers, not by the number of votes.
//!
//! **Bounds**: at most `--max-event-streams` at once (503 with
//! `Retry-After: 1` past them), each for at most `--sse-lifetime` (then
//! the stream ends; the browser reconnects after `retry:` with
//! `Last-Event-ID`, so a page sees no gap). A client that closes its
//! connection is noticed at once (hyper reads the end of its input) and
//! its place freed; one that vanished without a word (a dead network) is
//! found when a keepalive write fails, or at the end of its lifetime.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;

use crate::App;
use crate::board::Snapshot;
use crate::http::busy;

/// What one open stream holds.
struct Stream {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The `retry:` field and possibly the current counts, sent first.
    first: Option<Bytes>,
    keepalive: std::time::Duration,
    ends: Instant,
    /// The stream's place under `--max-event-streams`.
    _place: OwnedSemaphorePermit,
}

/// One event block for `snapshot`.
pub fn event(snapshot: &Snapshot) -> String {
    format!("id: {}\ndata: {}\n\n", snapshot.version, snapshot.json)
}

pub async fn events(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(place) = app.event_streams.admit() else {
        return busy("event streams", app.event_streams.max());
    };
    let last = headers.get("last-event-id").map(|id| {
        app.stats.sse_resumed.fetch_add(1, Ordering::Relaxed);
        id.to_str()
            .ok()
            .and_then(|id| id.trim().parse::<u64>().ok())
    });
    let mut snapshots = app.board.subscribe();
    let current = snapshots.borrow_and_update().clone();
    let mut first = format!("retry: {}\n\n", app.settings.sse_retry.as_millis());
    if last != Some(Some(current.version)) {
        first.push_str(&event(&current));
    }
    let stream = Stream {
        snapshots,
        first: Some(Bytes::from(first)),
        keepalive: app.settings.sse_keepalive,
        ends: Instant::now() + app.settings.sse_lifetime,
        _place: place,
    };
    let body = futures_util::stream::unfold(stream, next_chunk);
    let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Reverse proxies (nginx) must pass each event on at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The next chunk of the stream: the first one, the newest snapshot once
/// there is one, a keepalive comment after `keepalive` of silence, or the
/// end at `ends`.
async fn next_chunk(mut stream: Stream) -> Option<(Result<Bytes, Infallible>, Stream)> {
    if let Some(first) = stream.first.take() {
        return Some((Ok(first), stream));
    }
    let chunk = tokio::select! {
        changed = stream.snapshots.changed() => {
            changed.ok()?;
            let snapshot = stream.snapshots.borrow_and_update().clone();
            Bytes::from(event(&snapshot))
        }
        () = tokio::time::sleep(stream.keepalive) => Bytes::from_static(b": keepalive\n\n"),
        () = tokio::time::sleep_until(stream.ends) => return None,
    };
    Some((Ok(chunk), stream))
}
