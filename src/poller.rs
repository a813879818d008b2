//! When to poll: the cheap signals every few seconds, the gateway status (2-3 s of
//! CPU on a real node) on its slow cadence or on demand, doctor on its own cadence.
//!
//! [`poll_once`] is the one poll both the headless command and the dashboard use;
//! [`scheduler`] is the one place that decides when each node polls (a single task,
//! bounded polls in flight, so a hung node never stalls the others).

pub mod scheduler;

use std::time::Duration;

use futures::FutureExt;

pub use scheduler::{Mode, Request, Schedule, Scheduler, SchedulerHandle};

use crate::inventory::{Fleet, NodeId};
use crate::observe::{Millis, NodeState, now_ms};
use crate::remote::{PollFailure, PollRequest, RemoteError, Transport};
use crate::signals::RawPoll;

/// Poll cadences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Files, liveness, disk.
    pub fast: Duration,
    /// `openclaw gateway status --json`.
    pub slow: Duration,
    /// `openclaw doctor --lint --json`; `None` = only on demand.
    pub doctor: Option<Duration>,
    /// Seconds a CLI call may run on the node before it is killed there.
    pub cli_timeout_s: u64,
    /// Seconds `doctor --lint` may take on the node (the real one takes 10-14 s).
    pub doctor_timeout_s: u64,
    /// Seconds the liveness request may take.
    pub live_timeout_s: u64,
}

impl Cadence {
    /// Defaults derived from the per-command `--timeout`: the CLI must finish on the
    /// node well before the round trip times out here.
    pub fn for_timeout(timeout: Duration) -> Self {
        let t = timeout.as_secs().max(3);
        Cadence {
            fast: Duration::from_secs(5),
            slow: Duration::from_secs(300),
            doctor: None,
            cli_timeout_s: (t - 2).max(1),
            doctor_timeout_s: 60,
            live_timeout_s: 2.min(t - 1),
        }
    }

    /// Staleness limits that follow these cadences.
    pub fn rules(&self) -> crate::verdict::Rules {
        crate::verdict::Rules::for_cadence(
            self.fast.as_secs(),
            self.slow.as_secs(),
            self.cli_timeout_s + 2,
        )
    }

    pub fn request(&self, gateway: bool, doctor: bool) -> PollRequest {
        PollRequest {
            gateway,
            doctor,
            cli_timeout_s: self.cli_timeout_s,
            doctor_timeout_s: self.doctor_timeout_s,
            live_timeout_s: self.live_timeout_s,
        }
    }
}

/// What one poll gave, and when.
#[derive(Debug, Clone)]
pub struct PollResult {
    pub node: NodeId,
    pub at: Millis,
    pub took_ms: u64,
    pub result: Result<RawPoll, PollFailure>,
}

/// Everything a poll needs, shared by all tasks.
pub struct PollCtx {
    pub transport: Transport,
    pub nodes: Fleet,
    /// Forwarded to the node inside the poll script (stdin), never on a command line.
    pub token: Option<String>,
    pub cadence: Cadence,
}

impl PollCtx {
    /// Run `op` on node `id` with the gateway token (at most `cap` bytes of output, for
    /// at most `timeout`, each line to `on_line` as it comes): the one way a rollout
    /// step and a node action reach a node.
    pub async fn run(
        &self,
        id: NodeId,
        op: &crate::remote::NodeOp,
        cap: usize,
        timeout: Duration,
        on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
    ) -> Result<crate::remote::RemoteOutput, RemoteError> {
        let node = self
            .nodes
            .get(id)
            .ok_or_else(|| RemoteError::Exec(format!("no node {id}")))?;
        let limits = crate::remote::RunLimits {
            cap,
            timeout,
            on_line,
        };
        self.transport
            .run(id.index(), node, op, self.token.as_deref(), limits)
            .await
    }
}

/// One poll of node `id`. A panic inside becomes that node's error.
pub async fn poll_once(ctx: &PollCtx, id: NodeId, req: &PollRequest) -> PollResult {
    let start = std::time::Instant::now();
    let Some(node) = ctx.nodes.get(id) else {
        return PollResult {
            node: id,
            at: now_ms(),
            took_ms: 0,
            result: Err(PollFailure::Remote(RemoteError::Exec(format!(
                "no node {id}"
            )))),
        };
    };
    let fut = ctx
        .transport
        .poll(id.index(), node, req, ctx.token.as_deref());
    let result = match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(_) => Err(PollFailure::Remote(RemoteError::Exec(
            "internal error while polling (see log)".into(),
        ))),
    };
    if let Err(e) = &result {
        tracing::warn!(node = %node.name, error = %e, "poll failed");
    }
    PollResult {
        node: id,
        at: now_ms(),
        took_ms: start.elapsed().as_millis() as u64,
        result,
    }
}

/// Fold a poll result into the node's state.
pub fn apply(state: &mut NodeState, r: PollResult) {
    match r.result {
        Ok(raw) => state.apply_poll(raw, r.at),
        Err(PollFailure::Remote(e)) => {
            state.apply_failure(e.to_string(), r.at);
            // After a failed connect: when the next one goes (the node view says).
            if let RemoteError::Unreachable { retry_in, .. } = &e
                && !retry_in.is_zero()
            {
                state.next_connect = Some(r.at + retry_in.as_millis() as Millis);
            }
        }
        Err(PollFailure::Signal(e)) => state.apply_poll_error(e, r.at),
    }
}

/// Polls in flight at once. A poll waiting on a connect slot or its node holds a
/// future of several kB; bounding them keeps 10,000 nodes from holding 10,000 at once,
/// and still lets this many hung nodes time out side by side while the others poll.
pub const ROUND_IN_FLIGHT: usize = 1024;

/// What the cheap signals say about reachability: `None` when the round trip failed,
/// else whether the liveness URL answered 2xx and whether the gateway's `/readyz` did
/// (`None` when not checked). When this changes, the gateway status is polled at once
/// instead of waiting for its slow cadence.
pub fn health_key(r: &PollResult) -> Option<(bool, Option<bool>)> {
    r.result.as_ref().ok().map(|raw| {
        (
            matches!(raw.live_code, Some(200..=299)),
            raw.ready.map(|x| matches!(x.code, Some(200..=299))),
        )
    })
}

/// Per node: the last [`health_key`], and whether it just changed.
#[derive(Debug, Default, Clone)]
pub struct ChangeWatch {
    last: Option<Option<(bool, Option<bool>)>>,
}

impl ChangeWatch {
    /// Record a poll; true when reachability or liveness changed since the last one.
    pub fn changed(&mut self, r: &PollResult) -> bool {
        let k = health_key(r);
        let changed = self.last.is_some_and(|l| l != k);
        self.last = Some(k);
        changed
    }
}
