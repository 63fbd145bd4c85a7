//! One WebSocket member: joins (locally, or claiming its nickname in
//! Redis), reads its lines under its allowance and publishes them, while
//! its writer task sends what its mailbox holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rfc6455::tokio::{Error, Receiver, Sender, WebSocket};
use rfc6455::{CloseCode, Lost, Message, Utf8Bytes};
use serde_json::{Value, json};

use crate::cluster::{Claim, Cluster};
use crate::limits::TokenBucket;
use crate::room::{Audience, Out, lock, stamped};
use crate::settings::Settings;
use crate::topic::Mailbox;
use crate::{App, nickname};

/// A member told that its lines are refused is told again at most this often.
const REFUSAL_NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Why a member was not let in.
struct Refused {
    error: String,
    code: CloseCode,
    reason: &'static str,
}

impl Refused {
    fn nickname(error: String) -> Refused {
        Refused {
            error,
            code: CloseCode::POLICY_VIOLATION,
            reason: "nickname refused",
        }
    }

    /// The room is degraded (Redis away): 1013, so that the page comes back
    /// by itself, with its backoff.
    fn degraded(error: &str) -> Refused {
        Refused {
            error: format!("the room is unavailable ({error}); try again later"),
            code: CloseCode::TRY_AGAIN_LATER,
            reason: "room unavailable",
        }
    }
}

/// A member: joins, then reads until it leaves; its writer runs beside.
pub async fn member(ws: WebSocket, wanted: Option<String>, app: Arc<App>) {
    app.tracker.track(&ws);
    let (sender, mut receiver) = ws.split();
    let mailbox = lock(&app.room).mailbox();
    let joined = match &app.cluster {
        None => lock(&app.room)
            .join(wanted, Arc::clone(&mailbox), sender.clone(), &app.server)
            .map_err(Refused::nickname),
        Some(cluster) => join_cluster(&app, cluster, wanted, &mailbox, &sender).await,
    };
    let (id, name) = match joined {
        Ok(joined) => joined,
        Err(refused) => {
            // Say why in a message the page can show, then close and wait
            // for the client's reply (at most the close timeout).
            let error = stamped(json!({"type": "error", "error": refused.error}));
            let _ = sender.send(Message::Text(error.to_string().into())).await;
            let _ = sender.close(refused.code, refused.reason).await;
            return;
        }
    };
    let writer = tokio::spawn(write_loop(sender, Arc::clone(&mailbox)));
    let me = MemberId { id, name: &name };
    let allowance = Allowance::new(&app.settings, Instant::now());
    match read_loop(&mut receiver, &app, &me, allowance).await {
        // Closed for flooding (removed, its close queued): the close
        // handshake completes here, whatever it sends meanwhile.
        None => while let Ok(Some(_)) = receiver.recv().await {},
        Some(reason) => lock(&app.room).leave(me.id, me.name, reason),
    }
    let _ = writer.await;
}

/// With Redis: claims the nickname across processes, then joins here,
/// is welcomed with everyone online on every process, and its join is
/// published.
async fn join_cluster(
    app: &App,
    cluster: &Cluster,
    wanted: Option<String>,
    mailbox: &Arc<Mailbox<Out>>,
    sender: &Sender,
) -> Result<(u64, String), Refused> {
    let wanted = nickname::normalise(wanted.as_deref().unwrap_or("")).map_err(Refused::nickname)?;
    let degraded = |e: crate::cluster::Degraded| Refused::degraded(&e.0);
    let (name, online) = if wanted.is_empty() {
        let tag = app
            .settings
            .addr
            .rsplit(':')
            .next()
            .unwrap_or("")
            .to_string();
        let mut tries = 0;
        loop {
            let label = lock(&app.room).guest_label(&tag);
            match cluster.claim(&label).await.map_err(degraded)? {
                Claim::Claimed(online) => break (label, online),
                Claim::Taken(_) if tries < 100 => tries += 1,
                Claim::Taken(_) => return Err(Refused::degraded("no free guest label")),
            }
        }
    } else {
        match cluster.claim(&wanted).await.map_err(degraded)? {
            Claim::Claimed(online) => (wanted, online),
            Claim::Taken(other) if other == wanted => {
                return Err(Refused::nickname(format!(
                    "nickname {wanted:?} is already taken"
                )));
            }
            Claim::Taken(other) => {
                return Err(Refused::nickname(format!(
                    "nickname {wanted:?} looks like {other:?}, who is online"
                )));
            }
        }
    };
    // Who is online (a snapshot, this member included), then in one step
    // under the room lock: admitted, and the welcome first in its mailbox.
    let users = cluster
        .online()
        .await
        .unwrap_or_else(|_| vec![name.clone()]);
    let welcome = json!({"type": "welcome", "you": name, "users": users, "server": app.server});
    let id = {
        let mut room = lock(&app.room);
        let id = room.admit(&name, Arc::clone(mailbox), sender.clone());
        room.send_to(&name, welcome);
        id
    };
    let join = json!({"type": "join", "user": name, "online": online});
    if cluster.publish(&Audience::Everyone, join).await.is_err() {
        // Redis went away meanwhile: the member is told the room is degraded.
    }
    Ok((id, name))
}

/// Which member a task serves.
pub struct MemberId<'a> {
    pub id: u64,
    pub name: &'a str,
}

/// Sends what the room queues for the member until the member leaves (its
/// mailbox is closed), a close is queued, or the connection ends.
async fn write_loop(sender: Sender, mailbox: Arc<Mailbox<Out>>) {
    while let Some(out) = mailbox.recv().await {
        match out {
            Out::Frame(prepared) => {
                if sender.send_prepared(&prepared).await.is_err() {
                    mailbox.close();
                    return; // the reader sees how it ended
                }
            }
            Out::Close(code, reason) => {
                let _ = sender.close(code, reason).await;
                return;
            }
        }
    }
}

/// Why a member whose connection failed with `error` left.
fn ending(error: &Error) -> &'static str {
    match error {
        Error::Lost(Lost::KeepaliveTimeout) => "timed out",
        // A write made no progress for the write timeout: it stopped reading.
        Error::Lost(Lost::WriteTimeout) => "too slow",
        Error::Protocol(_) => "protocol error",
        _ => "connection lost",
    }
}

/// How many lines a member may still send (as `chat_server`).
struct Allowance {
    lines: TokenBucket,
    /// Refused lines forgiven at the line rate; empty: a flooder.
    refusals: TokenBucket,
    /// When the member was last told that a line was refused.
    told: Option<Instant>,
    too_fast: String,
}

/// What to do with a member's next line.
enum Verdict {
    Take,
    /// Drop it; with `tell`, say so to the sender.
    Refuse {
        tell: bool,
    },
    /// Drop it and close the member: it floods.
    Flooding,
}

impl Allowance {
    fn new(settings: &Settings, now: Instant) -> Allowance {
        let rate = settings.line_rate;
        Allowance {
            lines: TokenBucket::new(settings.line_burst as f64, rate, now),
            refusals: TokenBucket::new(settings.flood_limit as f64, rate, now),
            told: None,
            too_fast: format!(
                "too fast: at most {} lines at once, then {rate} a second; \
                 lines past that are not sent",
                settings.line_burst
            ),
        }
    }

    fn judge(&mut self, now: Instant) -> Verdict {
        if self.lines.take(now) {
            return Verdict::Take;
        }
        if !self.refusals.take(now) {
            return Verdict::Flooding;
        }
        let tell = self
            .told
            .is_none_or(|told| now.duration_since(told) >= REFUSAL_NOTICE_EVERY);
        if tell {
            self.told = Some(now);
        }
        Verdict::Refuse { tell }
    }
}

/// Handles what the member sends until it leaves; returns why it left, or
/// `None` if it was closed for flooding (and removed from the room).
async fn read_loop(
    receiver: &mut Receiver,
    app: &App,
    me: &MemberId<'_>,
    mut allowance: Allowance,
) -> Option<&'static str> {
    loop {
        let message = match receiver.recv().await {
            Ok(Some(message)) => message,
            Ok(None) => return Some("left"), // the close handshake is done
            Err(e) => return Some(ending(&e)),
        };
        let action = {
            let mut room = lock(&app.room);
            if !room.has(me.id, me.name) {
                // Dropped meanwhile (too slow): closed with 1013 already.
                return Some("connection lost");
            }
            match allowance.judge(Instant::now()) {
                Verdict::Take => action(me.name, message),
                Verdict::Refuse { tell: false } => continue,
                Verdict::Refuse { tell: true } => Action::Refuse(allowance.too_fast.clone()),
                Verdict::Flooding => {
                    let error = "flooding: closed for sending far too many lines";
                    room.send_to(me.name, json!({"type": "error", "error": error}));
                    room.close(me.name, CloseCode::POLICY_VIOLATION, "flooding");
                    room.leave(me.id, me.name, "flooding");
                    return None;
                }
            }
        };
        let error = match action {
            Action::ToRoom(event) => app.publish(Audience::Everyone, event).await.err(),
            Action::ToUser(to, event) => match app.is_online(&to).await {
                Ok(true) => {
                    let from = me.name.to_string();
                    app.publish(Audience::Pair { to, from }, event).await.err()
                }
                Ok(false) => Some(format!("{to} is not online")),
                Err(error) => Some(error),
            },
            Action::Refuse(error) => Some(error),
        };
        if let Some(error) = error {
            lock(&app.room).send_to(me.name, json!({"type": "error", "error": error}));
        }
    }
}

/// What a message from a member asks for.
enum Action {
    /// A message for everyone.
    ToRoom(Value),
    /// A private message for one member (and a copy for the sender).
    ToUser(String, Value),
    /// Nothing: the message is refused, with this error for the sender.
    Refuse(String),
}

fn action(name: &str, message: Message) -> Action {
    let Message::Text(text) = message else {
        return Action::Refuse("binary messages are not supported: send JSON text".into());
    };
    match parse(&text) {
        Ok((text, None)) => Action::ToRoom(json!({"type": "message", "from": name, "text": text})),
        Ok((text, Some(to))) => {
            let event = json!({"type": "private", "from": name, "to": to, "text": text});
            Action::ToUser(to, event)
        }
        Err(error) => Action::Refuse(error),
    }
}

/// Reads `{"text": "...", "to": "name"}`: the text and the recipient (none,
/// `null` or `""` for the whole room).
fn parse(json: &Utf8Bytes) -> Result<(String, Option<String>), String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let text = value
        .get("text")
        .and_then(Value::as_str)
        .ok_or("expected {\"text\": \"...\"} with an optional \"to\"")?;
    let to = match value.get("to") {
        None | Some(Value::Null) => None,
        Some(Value::String(to)) if to.is_empty() => None,
        Some(Value::String(to)) => Some(to.clone()),
        Some(_) => return Err("\"to\" must be a nickname".into()),
    };
    Ok((text.to_string(), to))
}
