//! Who may connect, and how much message memory the whole server may hold:
//! the flags every example server shares.
//!
//! * `--allow-origin ORIGIN` (repeatable), `--any-origin`: the origin policy
//!   (`rfc6455::handshake::OriginPolicy`). By default only the server's
//!   own pages may open a WebSocket (same origin: the page's `Origin` names
//!   the host and port the request is addressed to). Without this check
//!   any web page a visitor opens could use their session (cross-site
//!   WebSocket hijacking): browsers send cookies with a WebSocket request
//!   whatever page makes it, and WebSockets have no CORS. Each
//!   `--allow-origin https://app.example` lets one more site's pages in;
//!   `--any-origin` turns the check off. Refused: 403, before the upgrade.
//!   A request without `Origin` is not from a browser and is allowed.
//! * `--host NAME` (repeatable, `NAME` or `NAME:PORT`): when given, a
//!   request addressed to another name is refused with 421 (a DNS-rebinding
//!   page, whose `Origin` and `Host` both carry the attacker's name, passes
//!   the same-origin check; this one stops it).
//! * `--memory-budget-mib N` (default [`DEFAULT_BUDGET_MIB`]): one
//!   `rfc6455::MemoryBudget` for every connection of the process, bounding
//!   the message bytes they buffer together (messages being assembled,
//!   inflated output, large frames); the connection that would exceed it is
//!   closed with 1013 (try again later). Choose it as the memory you can
//!   give message buffers: what the machine (or container) has, minus the
//!   process's base and per-connection costs (README's memory table, tens of
//!   KiB per idle connection). It should be at least a few times
//!   `max_message_size`, so that some large messages can be in flight at
//!   once; 256 MiB lets four clients each hold a 64 MiB message while the
//!   others carry on, and bounds what a thousand held-open compressed
//!   messages can pin to that instead of tens of GiB.

use rfc6455::MemoryBudget;
use rfc6455::handshake::{OriginPolicy, Rejection, UpgradeRequest};

/// `--memory-budget-mib` by default.
pub const DEFAULT_BUDGET_MIB: usize = 256;

/// The help text of these flags, to append to a server's usage.
pub const USAGE: &str = "  --allow-origin ORIGIN     also accept WebSockets from pages of ORIGIN,
                            e.g. https://app.example (repeatable); by default
                            only the server's own pages (same origin) may
                            connect, others get 403; a client that sends no
                            Origin (not a browser) is accepted
  --any-origin              accept pages from any origin (no check)
  --host NAME[:PORT]        the names this server answers for (repeatable);
                            when given, another Host gets 421
  --memory-budget-mib N     message memory of all connections together, MiB
                            (default 256); past it a connection is closed
                            with 1013";

/// The flags' values.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `--allow-origin`.
    pub allowed: Vec<String>,
    /// `--any-origin`.
    pub any: bool,
    /// `--host`.
    pub hosts: Vec<String>,
    /// `--memory-budget-mib`, in MiB; `None`: the default.
    pub budget_mib: Option<usize>,
}

impl Access {
    /// Takes `flag` (and its value from `value`) if it is one of these;
    /// `Err` with a message for a missing or bad value, `Ok(false)` for
    /// another flag.
    pub fn parse(
        &mut self,
        flag: &str,
        value: impl FnOnce() -> Option<String>,
    ) -> Result<bool, String> {
        let need = |value: Option<String>| value.ok_or_else(|| format!("{flag} needs a value"));
        match flag {
            "--any-origin" => self.any = true,
            "--allow-origin" => {
                let origin = need(value())?;
                if !origin.contains("://") {
                    return Err(format!(
                        "--allow-origin needs an origin like https://app.example, not {origin:?}"
                    ));
                }
                self.allowed.push(origin);
            }
            "--host" => self.hosts.push(need(value())?),
            "--memory-budget-mib" => match need(value())?.parse::<usize>() {
                Ok(n) if n > 0 => self.budget_mib = Some(n),
                _ => return Err("--memory-budget-mib needs a positive whole number".into()),
            },
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The origin policy the flags say.
    pub fn policy(&self) -> OriginPolicy {
        if self.any {
            OriginPolicy::AnyOrigin
        } else if self.allowed.is_empty() {
            OriginPolicy::SameOrigin
        } else {
            OriginPolicy::SameOriginOr(self.allowed.clone())
        }
    }

    /// The process-wide budget (create once, clone into every `Config`).
    pub fn budget(&self) -> MemoryBudget {
        MemoryBudget::new(self.budget_mib.unwrap_or(DEFAULT_BUDGET_MIB) << 20)
    }
}

/// What the servers check before upgrading, built once from [`Access`].
#[derive(Debug, Clone)]
pub struct Gate {
    policy: OriginPolicy,
    hosts: Vec<String>,
}

impl Gate {
    pub fn new(access: &Access) -> Self {
        Gate {
            policy: access.policy(),
            hosts: access.hosts.clone(),
        }
    }

    /// The `Host` (421), then the `Origin` (403), of a request parsed from
    /// bytes (`UpgradeRequest`) or, with the `http` feature, by another
    /// HTTP stack (`HttpUpgrade`, e.g. axum's `upgrade.request()`).
    pub fn check<R: Checked>(&self, request: &R) -> Result<(), Rejection> {
        request.host_in(&self.hosts)?;
        request.origin_in(&self.policy)
    }
}

/// The request types [`Gate::check`] takes: both have the same checks.
pub trait Checked {
    fn host_in(&self, names: &[String]) -> Result<(), Rejection>;
    fn origin_in(&self, policy: &OriginPolicy) -> Result<(), Rejection>;
}

impl Checked for UpgradeRequest {
    fn host_in(&self, names: &[String]) -> Result<(), Rejection> {
        self.check_host(names)
    }
    fn origin_in(&self, policy: &OriginPolicy) -> Result<(), Rejection> {
        self.check_origin(policy)
    }
}

#[cfg(feature = "http")]
impl Checked for rfc6455::handshake::HttpUpgrade {
    fn host_in(&self, names: &[String]) -> Result<(), Rejection> {
        self.check_host(names)
    }
    fn origin_in(&self, policy: &OriginPolicy) -> Result<(), Rejection> {
        self.check_origin(policy)
    }
}
