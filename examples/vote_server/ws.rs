//! `GET /ws`: the WebSocket watcher and voter (the protocol of the module
//! docs), one task per connection beside the adapter's driver task.
//!
//! The connection's task runs two halves at once (`tokio::select!`, so
//! when one ends the other is dropped, which is cancel safe: `send`,
//! `flush` and `recv_event` lose nothing when dropped):
//! * the **reader** counts votes (through the connection's [`Bucket`]),
//!   answers bad ones with an error (at most [`MAX_ERRORS`] waiting), and
//!   notes the number of every batch pong;
//! * the **writer** sends one batch at a time: the errors that waited and
//!   the newest snapshot, then a ping carrying the batch's number; the next
//!   batch waits for that ping's pong (or [`ACK_TIMEOUT`]).
//!
//! [`watch_and_vote`] runs as the adapter's upgrade task and is never
//! cancelled but by the end of the runtime; dropping it at any await
//! drops the connection's handles, which closes it with 1001.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rfc6455::Message;
use rfc6455::tokio::{Error, Receiver, Sender, WebSocket};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::App;
use crate::board::Snapshot;
use crate::limits::Bucket;

/// How long a batch waits for the pong that says the client read the one
/// before it; then it goes anyway. See the module docs of `vote_server`.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Error answers that may wait for one client; more are not sent.
pub const MAX_ERRORS: usize = 16;

/// Serves one upgraded connection until the client leaves.
pub async fn watch_and_vote(ws: WebSocket, app: Arc<App>) {
    let _open = app.stats.ws.enter();
    let (sender, mut receiver) = ws.split();
    let (errors_tx, errors) = mpsc::channel(MAX_ERRORS);
    let (acked_tx, acked) = watch::channel(0u64);
    let mut counts = app.board.subscribe();
    counts.mark_changed(); // the current counts go at once
    tokio::select! {
        () = read_loop(&mut receiver, &app, errors_tx, acked_tx) => {}
        () = write_loop(&sender, counts, errors, acked) => {}
    }
}

/// Counts the client's votes until it leaves, at most as fast as its bucket
/// allows (a message over the limit is answered with an error and neither
/// parsed nor counted); pongs tell the writer which batch was read.
async fn read_loop(
    receiver: &mut Receiver,
    app: &App,
    errors: mpsc::Sender<String>,
    acked: watch::Sender<u64>,
) {
    let mut bucket = Bucket::new(app.settings.votes, Instant::now());
    loop {
        let message = match receiver.recv_event().await {
            Ok(Some(rfc6455::Event::Message(message))) => message,
            Ok(Some(rfc6455::Event::Pong(payload))) => {
                if let Ok(number) = <[u8; 8]>::try_from(&payload[..]) {
                    let number = u64::from_be_bytes(number);
                    acked.send_if_modified(|n| {
                        let newer = number > *n;
                        *n = (*n).max(number);
                        newer
                    });
                }
                continue;
            }
            // Closed, lost, or the connection failed.
            Ok(Some(rfc6455::Event::Lost(_)) | None) | Err(_) => return,
            Ok(Some(_)) => continue, // pings are answered, a close replied to
        };
        let result = if !bucket.take(Instant::now()) {
            Err(app.settings.votes.refusal())
        } else {
            match message {
                Message::Text(text) => app
                    .board
                    .vote_json(text.as_bytes())
                    .map(|_| ())
                    .map_err(|refused| refused.to_string()),
                Message::Binary(_) => Err("votes are JSON text, e.g. {\"vote\": \"Rust\"}".into()),
            }
        };
        if let Err(error) = result {
            let _ = errors.try_send(error); // full: not sent (MAX_ERRORS)
        }
    }
}

/// Sends the client's mail one batch at a time; ends when a write fails
/// (the client is gone, or stuck for the write timeout).
async fn write_loop(
    sender: &Sender,
    mut counts: watch::Receiver<Arc<Snapshot>>,
    mut errors: mpsc::Receiver<String>,
    mut acked: watch::Receiver<u64>,
) {
    let mut number = 0u64;
    loop {
        // The batch in flight: wait for its pong, at most ACK_TIMEOUT.
        if number > 0 {
            let waited = tokio::time::timeout(ACK_TIMEOUT, acked.wait_for(|&n| n >= number)).await;
            if let Ok(Err(_)) = waited {
                return; // the reader has ended
            }
        }
        // Then wait for mail: new counts or an error answer.
        let mut batch = Vec::new();
        let mut fresh = false;
        tokio::select! {
            changed = counts.changed() => match changed {
                Ok(()) => fresh = true,
                Err(_) => return,
            },
            error = errors.recv() => match error {
                Some(error) => batch.push(error),
                None => return,
            },
        }
        while let Ok(error) = errors.try_recv() {
            batch.push(error);
        }
        let snapshot = (fresh || counts.has_changed().unwrap_or(false))
            .then(|| counts.borrow_and_update().clone());
        number += 1;
        if send(sender, &batch, snapshot.as_deref(), number)
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Writes one batch, the ping whose pong acknowledges it, and waits until
/// it is written to the socket (the wait for the pong starts then).
async fn send(
    sender: &Sender,
    errors: &[String],
    snapshot: Option<&Snapshot>,
    number: u64,
) -> Result<(), Error> {
    for error in errors {
        let text = json!({"type": "error", "error": error}).to_string();
        sender.send(Message::from(text)).await?;
    }
    if let Some(snapshot) = snapshot {
        sender.send(Message::Text(snapshot.json.clone())).await?;
    }
    sender.ping(&number.to_be_bytes()).await?;
    sender.flush().await
}
