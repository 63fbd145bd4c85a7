//! The HTTP side: the routes, hyper's serving of each admitted connection
//! (request heads within `--handshake-timeout`), the answers to refused
//! connections, and the query decoding the routes share.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rfc6455::axum::WebSocketUpgrade;
use serde_json::json;
use tokio::net::TcpStream;

use crate::limits::{Refusal, Ticket};
use crate::room::lock;
use crate::settings::Settings;
use crate::{App, PAGE, member, web};

/// A refused client has this long to send its request head and read the answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// The routes: the page, the socket, and a plain JSON route beside them.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ws", get(ws))
        .route("/health", get(health))
        .route("/chat/login", get(web::login_form).post(web::login))
        .route("/chat/post", post(web::post))
        .route("/chat/stream", get(web::stream))
        .route("/chat/poll", get(web::poll))
        .layer(axum::extract::DefaultBodyLimit::max(web::MAX_BODY_BYTES))
        .with_state(app)
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

/// `{"status":"ok","members":N,"connections":N,"server":NAME}`: members in
/// the room on this process, and TCP connections held (members, page loads,
/// handshakes, SSE streams, polls); with `--redis`, `"redis":"up"` or
/// `"degraded"` and this process's id in Redis.
async fn health(State(app): State<Arc<App>>) -> impl IntoResponse {
    let members = lock(&app.room).users.len();
    // Every admitted connection holds a clone; `app` holds one more.
    let connections = Arc::strong_count(&app.connections) - 1;
    let mut body = json!({"status": "ok", "members": members, "connections": connections,
                          "server": app.server});
    if let Some(cluster) = &app.cluster {
        body["redis"] = json!(if cluster.is_up() { "up" } else { "degraded" });
        body["process"] = json!(cluster.me);
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// `GET /ws?name=NICK`: the upgrade, then the member's task.
async fn ws(State(app): State<Arc<App>>, uri: Uri, upgrade: WebSocketUpgrade) -> Response {
    let wanted = uri.query().and_then(|query| query_param(query, "name"));
    // The Host (421) and the Origin (403), before the upgrade.
    if let Err(rejection) = app.access.check(upgrade.request()) {
        let version = upgrade.request().version();
        return rejection
            .to_http(version)
            .map(|()| axum::body::Body::from(format!("{}\n", rejection.error())))
            .into_response();
    }
    let config = app.config.clone();
    upgrade
        .config(config)
        .on_upgrade(move |ws| member::member(ws, wanted, app))
}

/// One admitted TCP connection: HTTP/1.1 with upgrades, each request head
/// within `timeout` (slowloris is cut off).
pub async fn serve_http<S>(io: S, service: TowerToHyperService<Router>, timeout: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// One admitted connection over TLS (`--tls-cert`): the TLS handshake
/// within `timeout` too (a client that is not TLS gets an alert), then
/// [`serve_http`].
#[cfg(feature = "rustls")]
pub async fn serve_https(
    io: Admitted,
    config: crate::tls::ServerTls,
    service: TowerToHyperService<Router>,
    timeout: Duration,
) {
    let limits = rfc6455::handshake::Limits {
        timeout: Some(timeout),
        ..rfc6455::handshake::Limits::default()
    };
    if let Ok((io, _)) = rfc6455::tokio::tls::accept_with(io, &config, &limits).await {
        serve_http(io, service, timeout).await;
    }
}

/// The answer to a refused connection (as `chat_server`'s).
pub fn refusal_response(refusal: Refusal, settings: &Settings) -> Response {
    let (status, retry_after, body) = match refusal {
        Refusal::TooManyAttempts => (
            StatusCode::TOO_MANY_REQUESTS,
            (1.0 / settings.connect_rate).ceil().max(1.0).to_string(),
            format!(
                "too many connection attempts from your address: at most {} at once, \
                 then {} a second\n",
                settings.connect_burst, settings.connect_rate
            ),
        ),
        Refusal::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            "5".to_string(),
            format!(
                "the server is full ({} connections); try again later\n",
                settings.max_connections
            ),
        ),
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&retry_after) {
        headers.insert(header::RETRY_AFTER, value);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers a refused connection with `response` after reading its request
/// head (so that closing does not reset the connection under the client's
/// feet), all within [`REFUSAL_TIMEOUT`] for the head and as much again
/// for the rest.
pub async fn refuse(tcp: TcpStream, response: Response) {
    let response = Mutex::new(Some(response));
    let service = hyper::service::service_fn(move |_request| {
        let response = response
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| StatusCode::SERVICE_UNAVAILABLE.into_response());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(tcp), service);
    let _ = tokio::time::timeout(2 * REFUSAL_TIMEOUT, connection).await;
}

/// An admitted connection's socket, holding its place under the cap (the
/// [`Ticket`]) and the count of connections served until it is dropped: by
/// hyper after plain HTTP, by the adapter's driver after a WebSocket.
pub type Admitted = crate::admitted::Admitted<(Ticket, Arc<()>)>;

/// The value of the first query parameter `name`, decoded as browsers
/// encode it (`%XX`, `+` as a space; invalid UTF-8 replaced by U+FFFD).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

pub fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
