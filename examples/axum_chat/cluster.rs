//! `--redis URL`: one chat across any number of processes, over Redis
//! pub/sub (the `redis` crate on tokio). See the module docs of
//! `axum_chat.rs` for the guarantees; in short:
//!
//! * **One order.** Every event for more than one member (room messages,
//!   joins, leaves, and private messages too: their pair may be on two
//!   processes) is published on one channel by a Lua script that numbers
//!   it (`INCR`) and `PUBLISH`es it in one atomic step, so the numbers
//!   grow in publish order; Redis sends one channel's messages to every
//!   subscriber in that order, and each process delivers them only from its
//!   subscription, in the order received, one at a time ([`Room::deliver`]).
//! * **Presence.** Two hashes: nickname -> process, and confusable
//!   skeleton -> nickname (claimed atomically by a script: uniqueness and
//!   look-alikes across processes). Each process refreshes its own key
//!   `alive:PROCESS` (`SET ... PX ttl`) every heartbeat; every process, each
//!   heartbeat, releases the nicknames of processes whose key has expired
//!   (a script that only one process can win per name) and publishes their
//!   leave (`server gone`).
//! * **Redis away.** The session ends; members are told the room is
//!   degraded and their lines are refused (not kept: pub/sub is
//!   at-most-once), new members are refused with 1013; the process
//!   reconnects with backoff, resubscribes, raises the counter to the last
//!   number it saw, claims its members' nicknames again (a restarted Redis
//!   has none: their joins are published again) and tells its members the
//!   room is back, with who is online.
//!
//! Memory: the `redis` crate hands the subscription's messages over through
//! an unbounded channel; the Redis task drains it without ever waiting
//! (delivering only offers to bounded mailboxes), so it holds what arrived
//! since the task last ran. What a process cannot take in time waits in
//! Redis, bounded there by `client-output-buffer-limit pubsub` (default
//! 32 MiB, or 8 MiB for 60 s), past which Redis disconnects the
//! subscriber: here, a lost session, reconnected as above.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};

use crate::App;
use crate::nickname;
use crate::room::{Audience, lock, stamped};

/// Numbers an event and publishes it in one atomic step (KEYS: the
/// counter, the channel; ARGV: the event). Returns its number.
const PUBLISH: &str = "local id = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[2], id .. ' ' .. ARGV[1])
return id";

/// Claims a nickname for a process (KEYS: skeletons, online; ARGV:
/// skeleton, name, process). `{2, online}` claimed, `{1, online}` already
/// this process's, `{0, other}` taken by `other` (the same name, or one
/// that looks like it).
const CLAIM: &str = "local other = redis.call('HGET', KEYS[1], ARGV[1])
if other then
  if other == ARGV[2] and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[3] then
    return {1, tostring(redis.call('HLEN', KEYS[2]))}
  end
  return {0, other}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return {2, tostring(redis.call('HLEN', KEYS[2]))}";

/// Releases a process's nickname (KEYS: online, skeletons; ARGV: name,
/// skeleton, process): the number online after, or -1 if the name was not
/// that process's (released already: only one caller wins).
const RELEASE: &str = "if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[3] then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
return redis.call('HLEN', KEYS[1])";

/// Raises the counter to at least ARGV[1] (a restarted Redis starts at 0).
const RAISE: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0";

/// The key prefix of everything the chat keeps in Redis.
const PREFIX: &str = "rfc6455-chat";

/// The first pause before reconnecting; it doubles up to `--redis-backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The timings of `--redis` (all configurable for tests).
#[derive(Clone, Debug)]
pub struct Timing {
    /// How often a process refreshes its `alive` key and looks for dead
    /// processes (`--heartbeat`, default 2 s).
    pub heartbeat: Duration,
    /// How long the `alive` key lives after a refresh (`--presence-ttl`,
    /// default 6 s: three heartbeats).
    pub ttl: Duration,
    /// The longest wait for any Redis command or connection
    /// (`--redis-timeout`, default 2 s).
    pub timeout: Duration,
    /// The longest pause between reconnection attempts (`--redis-backoff`, default 2 s).
    pub backoff: Duration,
}

/// Why something could not be done through Redis.
#[derive(Debug)]
pub struct Degraded(pub String);

/// What a nickname claim found.
pub enum Claim {
    /// Claimed; this many are online now.
    Claimed(usize),
    /// Taken by this name (the same, or a look-alike).
    Taken(String),
}

/// This process's side of the chat over Redis.
pub struct Cluster {
    client: redis::Client,
    /// This process's id in the presence hash (address, pid, start time).
    pub me: String,
    timing: Timing,
    /// The command connection while the session is up.
    conn: Mutex<Option<MultiplexedConnection>>,
    up: AtomicBool,
    /// The nicknames this process holds in Redis.
    claimed: Mutex<BTreeSet<String>>,
    /// The nicknames being claimed or released right now: the heartbeat's
    /// repairs leave them alone.
    busy: Mutex<BTreeSet<String>>,
    publish: redis::Script,
    claim: redis::Script,
    release: redis::Script,
    raise: redis::Script,
}

fn key(name: &str) -> String {
    format!("{PREFIX}:{name}")
}

fn alive_key(process: &str) -> String {
    format!("{PREFIX}:alive:{process}")
}

impl Cluster {
    pub fn new(url: &str, me: String, timing: Timing) -> Result<Cluster, String> {
        let client = redis::Client::open(url).map_err(|e| format!("--redis {url:?}: {e}"))?;
        Ok(Cluster {
            client,
            me,
            timing,
            conn: Mutex::new(None),
            up: AtomicBool::new(false),
            claimed: Mutex::new(BTreeSet::new()),
            busy: Mutex::new(BTreeSet::new()),
            publish: redis::Script::new(PUBLISH),
            claim: redis::Script::new(CLAIM),
            release: redis::Script::new(RELEASE),
            raise: redis::Script::new(RAISE),
        })
    }

    /// Whether the session with Redis is up (else the room is degraded).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    fn connection(&self) -> Result<MultiplexedConnection, Degraded> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        match &*conn {
            Some(conn) if self.is_up() => Ok(conn.clone()),
            _ => Err(Degraded("Redis is unreachable".into())),
        }
    }

    fn claimed(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.claimed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn busy(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.busy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `command` within the Redis timeout.
    async fn bounded<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Degraded> {
        match tokio::time::timeout(self.timing.timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Degraded(format!("Redis: {e}"))),
            Err(_) => Err(Degraded("Redis did not answer in time".into())),
        }
    }

    /// Runs `command` on `conn` within the Redis timeout.
    async fn query<T: redis::FromRedisValue>(
        &self,
        conn: &mut MultiplexedConnection,
        command: redis::Cmd,
    ) -> Result<T, Degraded> {
        self.bounded(command.query_async(conn)).await
    }

    /// Publishes `event` (stamped here) for `audience` in the room's one
    /// order; it is delivered, here too, when the subscription brings it
    /// back. Cancel safe in the sense that it is at most once: dropped
    /// before it completes, the event is published or not.
    pub async fn publish(&self, audience: &Audience, event: Value) -> Result<(), Degraded> {
        let mut conn = self.connection()?;
        self.publish_on(&mut conn, audience, event).await
    }

    async fn publish_on(
        &self,
        conn: &mut MultiplexedConnection,
        audience: &Audience,
        event: Value,
    ) -> Result<(), Degraded> {
        let mut envelope = json!({"event": stamped(event)});
        if let Audience::Pair { to, from } = audience {
            envelope["to"] = json!(to);
            envelope["from"] = json!(from);
        }
        let mut invocation = self.publish.key(key("seq"));
        invocation.key(key("room")).arg(envelope.to_string());
        self.bounded(invocation.invoke_async::<u64>(conn))
            .await
            .map(|_| ())
    }

    /// Claims `name` for this process (nickname uniqueness, look-alikes
    /// included, across processes).
    pub async fn claim(&self, name: &str) -> Result<Claim, Degraded> {
        let mut conn = self.connection()?;
        self.busy().insert(name.to_string());
        let claim = self.claim_on(&mut conn, name).await;
        if matches!(claim, Ok(Claim::Claimed(_))) {
            self.claimed().insert(name.to_string());
        }
        self.busy().remove(name);
        claim
    }

    async fn claim_on(
        &self,
        conn: &mut MultiplexedConnection,
        name: &str,
    ) -> Result<Claim, Degraded> {
        let mut invocation = self.claim.key(key("skeletons"));
        invocation
            .key(key("online"))
            .arg(nickname::skeleton(name))
            .arg(name)
            .arg(&self.me);
        let (code, value): (i64, String) = self.bounded(invocation.invoke_async(conn)).await?;
        Ok(match code {
            0 => Claim::Taken(value),
            _ => Claim::Claimed(value.parse().unwrap_or(0)),
        })
    }

    /// Releases `name` held by `process`: the number online after, or
    /// `None` if it was not held (only one caller wins).
    async fn release_on(
        &self,
        conn: &mut MultiplexedConnection,
        name: &str,
        process: &str,
    ) -> Result<Option<usize>, Degraded> {
        let mut invocation = self.release.key(key("online"));
        invocation
            .key(key("skeletons"))
            .arg(name)
            .arg(nickname::skeleton(name))
            .arg(process);
        let left: i64 = self.bounded(invocation.invoke_async(conn)).await?;
        Ok(usize::try_from(left).ok())
    }

    /// A local member left: releases its nickname and publishes its leave.
    /// With Redis away, nothing is published; the nickname is released
    /// when the session is back (see [`rejoin`](Self::rejoin)).
    pub async fn leave(&self, name: &str, reason: &str) {
        self.busy().insert(name.to_string());
        self.claimed().remove(name);
        if let Ok(mut conn) = self.connection()
            && let Ok(Some(online)) = self.release_on(&mut conn, name, &self.me).await
        {
            let event = json!({"type": "leave", "user": name, "reason": reason, "online": online});
            let _ = self.publish_on(&mut conn, &Audience::Everyone, event).await;
        }
        self.busy().remove(name);
    }

    /// Whether `name` is online on any process.
    pub async fn is_online(&self, name: &str) -> Result<bool, Degraded> {
        let mut conn = self.connection()?;
        let mut command = redis::cmd("HEXISTS");
        command.arg(key("online")).arg(name);
        self.query(&mut conn, command).await
    }

    /// Who is online on every process, sorted.
    pub async fn online(&self) -> Result<Vec<String>, Degraded> {
        let mut conn = self.connection()?;
        let mut command = redis::cmd("HKEYS");
        command.arg(key("online"));
        let mut names: Vec<String> = self.query(&mut conn, command).await?;
        names.sort();
        Ok(names)
    }

    /// The connection to Redis, for ever: a session until it fails, then a
    /// pause (doubling from 100 ms up to `--redis-backoff`) and the next.
    pub async fn run(self: Arc<Self>, app: Arc<App>) {
        let mut backoff = FIRST_BACKOFF;
        let mut told = false;
        loop {
            let error = self.session(&app).await;
            let was_up = self.up.swap(false, Ordering::SeqCst);
            *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = None;
            if !was_up && !told {
                // Once per outage: every retry fails the same way.
                eprintln!("axum_chat: {}; retrying", error.0);
                told = true;
            }
            if was_up {
                told = false;
                backoff = FIRST_BACKOFF;
                eprintln!("axum_chat: {}; the room is degraded", error.0);
                lock(&app.room).tell_everyone(&json!({
                    "type": "status", "room": "degraded",
                    "error": format!("{}: messages are not sent until it is back", error.0),
                }));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.timing.backoff.max(FIRST_BACKOFF));
        }
    }

    /// One session: connects, subscribes, claims the members' nicknames
    /// again, then delivers what the subscription brings and beats the
    /// heart until something fails. Returns why it ended.
    async fn session(&self, app: &App) -> Degraded {
        match self.session_inner(app).await {
            Err(degraded) => degraded,
        }
    }

    async fn session_inner(&self, app: &App) -> Result<std::convert::Infallible, Degraded> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timing.timeout))
            .set_response_timeout(Some(self.timing.timeout));
        let mut conn = self
            .bounded(
                self.client
                    .get_multiplexed_async_connection_with_config(&config),
            )
            .await?;
        let pubsub = self.bounded(self.client.get_async_pubsub()).await?;
        let (mut sink, mut stream) = pubsub.split();
        self.bounded(sink.subscribe(key("room"))).await?;
        // Alive before any nickname is claimed again: a process looking for
        // dead ones meanwhile must not take ours for dead.
        self.beat(&mut conn).await?;
        let last = lock(&app.room).last_id();
        let mut raise = self.raise.key(key("seq"));
        raise.arg(last);
        self.bounded(raise.invoke_async::<i64>(&mut conn)).await?;
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        self.up.store(true, Ordering::SeqCst);
        self.rejoin(app, &mut conn).await?;
        let users = self.online().await?;
        lock(&app.room).tell_everyone(&json!({"type": "status", "room": "ok", "users": users}));
        eprintln!("axum_chat: connected to Redis as {}", self.me);

        let mut heartbeat = tokio::time::interval(self.timing.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => deliver(app, message.get_payload_bytes()),
                    None => return Err(Degraded("the Redis subscription ended".into())),
                },
                _ = heartbeat.tick() => {
                    self.beat(&mut conn).await?;
                    self.reap(&mut conn).await?;
                    // The subscription's connection answers too, or it is dead.
                    self.bounded(sink.ping::<redis::Value>()).await?;
                }
            }
        }
    }

    /// Refreshes this process's `alive` key.
    async fn beat(&self, conn: &mut MultiplexedConnection) -> Result<(), Degraded> {
        let ttl = self.timing.ttl.as_millis().max(1) as u64;
        let mut command = redis::cmd("SET");
        command.arg(alive_key(&self.me)).arg(1).arg("PX").arg(ttl);
        self.query(conn, command).await
    }

    /// Releases the nicknames of processes whose `alive` key expired, and
    /// of this process's members that left while Redis was away, and
    /// publishes their leaves.
    async fn reap(&self, conn: &mut MultiplexedConnection) -> Result<(), Degraded> {
        let mut command = redis::cmd("HGETALL");
        command.arg(key("online"));
        let online: HashMap<String, String> = self.query(conn, command).await?;
        // This process's members whose names are gone from Redis (taken for
        // dead by a late heartbeat, or lost by Redis): claimed again.
        let lost: Vec<String> = self
            .claimed()
            .iter()
            .filter(|name| online.get(*name) != Some(&self.me) && !self.busy().contains(*name))
            .cloned()
            .collect();
        for name in lost {
            if let Claim::Claimed(online) = self.claim_on(conn, &name).await? {
                let event = json!({"type": "join", "user": name, "online": online});
                self.publish_on(conn, &Audience::Everyone, event).await?;
            }
        }
        let mut alive: HashMap<String, bool> = HashMap::new();
        for (name, process) in online {
            let (gone, reason) = if process == self.me {
                let held = self.claimed().contains(&name) || self.busy().contains(&name);
                (!held, "connection lost")
            } else {
                let known = alive.get(&process).copied();
                let is_alive = match known {
                    Some(is_alive) => is_alive,
                    None => {
                        let mut command = redis::cmd("EXISTS");
                        command.arg(alive_key(&process));
                        let is_alive: bool = self.query(conn, command).await?;
                        alive.insert(process.clone(), is_alive);
                        is_alive
                    }
                };
                (!is_alive, "server gone")
            };
            if gone && let Some(online) = self.release_on(conn, &name, &process).await? {
                let event =
                    json!({"type": "leave", "user": name, "reason": reason, "online": online});
                self.publish_on(conn, &Audience::Everyone, event).await?;
            }
        }
        Ok(())
    }

    /// After (re)connecting: claims this process's nicknames again. One
    /// Redis lost (restarted empty) or released (this process was taken for
    /// dead) is published as a join again; one someone else took meanwhile
    /// is closed with 1013.
    async fn rejoin(&self, app: &App, conn: &mut MultiplexedConnection) -> Result<(), Degraded> {
        let names: Vec<String> = self.claimed().iter().cloned().collect();
        for name in names {
            match self.claim_on(conn, &name).await? {
                Claim::Claimed(online) => {
                    let event = json!({"type": "join", "user": name, "online": online});
                    self.publish_on(conn, &Audience::Everyone, event).await?;
                }
                Claim::Taken(_) => {
                    self.claimed().remove(&name);
                    let mut room = lock(&app.room);
                    let error = "while Redis was away your nickname was taken: join again";
                    room.send_to(&name, json!({"type": "error", "error": error}));
                    room.close(&name, rfc6455::CloseCode::TRY_AGAIN_LATER, "nickname lost");
                    room.users.remove(&name);
                }
            }
        }
        self.reap(conn).await
    }
}

/// Delivers one message of the subscription (`NUMBER JSON`) to the local
/// members it is for.
fn deliver(app: &App, payload: &[u8]) {
    let parsed = std::str::from_utf8(payload).ok().and_then(|payload| {
        let (id, json) = payload.split_once(' ')?;
        let envelope: Value = serde_json::from_str(json).ok()?;
        Some((id.parse::<u64>().ok()?, envelope))
    });
    let Some((id, mut envelope)) = parsed else {
        eprintln!("axum_chat: ignored a malformed message on the Redis channel");
        return;
    };
    let audience = match (envelope["to"].as_str(), envelope["from"].as_str()) {
        (Some(to), Some(from)) => Audience::Pair {
            to: to.to_string(),
            from: from.to_string(),
        },
        _ => Audience::Everyone,
    };
    lock(&app.room).deliver(id, &audience, envelope["event"].take());
}
