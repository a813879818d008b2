//! When to poll: the cheap signals every few seconds, the gateway status (2-3 s of
//! CPU on a real node) on its slow cadence or on demand, doctor on its own cadence.
//!
//! [`poll_once`] is the one poll both the headless command and the dashboard use.
//! [`spawn_node_loops`] runs one independent loop per node for the dashboard, so a
//! hung node never stalls the others; each loop reports through a channel.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::inventory::Node;
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
    pub idx: usize,
    pub at: Millis,
    pub took_ms: u64,
    pub result: Result<RawPoll, PollFailure>,
}

/// Everything a poll needs, shared by all tasks.
pub struct PollCtx {
    pub transport: Transport,
    pub nodes: Vec<Node>,
    /// Forwarded to the node inside the poll script (stdin), never on a command line.
    pub token: Option<String>,
    pub cadence: Cadence,
}

/// One poll of node `idx`. A panic inside becomes that node's error.
pub async fn poll_once(ctx: &PollCtx, idx: usize, req: &PollRequest) -> PollResult {
    let start = std::time::Instant::now();
    let Some(node) = ctx.nodes.get(idx) else {
        return PollResult {
            idx,
            at: now_ms(),
            took_ms: 0,
            result: Err(PollFailure::Remote(RemoteError::Exec(format!(
                "no node {idx}"
            )))),
        };
    };
    let fut = ctx.transport.poll(idx, node, req, ctx.token.as_deref());
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
        idx,
        at: now_ms(),
        took_ms: start.elapsed().as_millis() as u64,
        result,
    }
}

/// Fold a poll result into the node's state.
pub fn apply(state: &mut NodeState, r: PollResult) {
    match r.result {
        Ok(raw) => state.apply_poll(raw, r.at),
        Err(PollFailure::Remote(e)) => state.apply_failure(e.to_string(), r.at),
        Err(PollFailure::Signal(e)) => state.apply_poll_error(e, r.at),
    }
}

/// Polls of one round in flight at once. A poll waiting on a connect slot or its node
/// holds a future of several kB; bounding them keeps a round of 10,000 nodes from
/// holding 10,000 at once, and still lets this many hung nodes time out side by side.
pub const ROUND_IN_FLIGHT: usize = 1024;

/// Poll every node (at most [`ROUND_IN_FLIGHT`] at once); returns, in node order, when
/// all have answered or timed out.
pub async fn round(ctx: &PollCtx, reqs: &[PollRequest]) -> Vec<PollResult> {
    use futures::StreamExt;
    futures::stream::iter(reqs.iter().enumerate())
        .map(|(i, r)| poll_once(ctx, i, r))
        .buffered(ROUND_IN_FLIGHT)
        .collect()
        .await
}

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

/// What the operator can ask of a node's loop.
#[derive(Debug, Default)]
pub struct Trigger {
    notify: Notify,
    gateway: std::sync::atomic::AtomicBool,
    doctor: std::sync::atomic::AtomicBool,
}

impl Trigger {
    /// Poll now, with the gateway status (and doctor, if asked).
    pub fn refresh(&self, doctor: bool) {
        use std::sync::atomic::Ordering;
        self.gateway.store(true, Ordering::SeqCst);
        if doctor {
            self.doctor.store(true, Ordering::SeqCst);
        }
        self.notify.notify_one();
    }
}

/// One loop per node; results go to `tx` wrapped by `wrap`. Returns each node's
/// trigger and the task handles (abort them to stop).
pub fn spawn_node_loops<E: Send + 'static>(
    ctx: Arc<PollCtx>,
    tx: mpsc::UnboundedSender<E>,
    wrap: fn(PollResult) -> E,
) -> (Vec<Arc<Trigger>>, Vec<JoinHandle<()>>) {
    let mut triggers = Vec::new();
    let mut handles = Vec::new();
    // At most ROUND_IN_FLIGHT polls at once across the loops, as in a status round: the
    // first polls of 10,000 nodes would otherwise all be in flight together.
    let gate = Arc::new(tokio::sync::Semaphore::new(ROUND_IN_FLIGHT));
    for idx in 0..ctx.nodes.len() {
        let trig = Arc::new(Trigger::default());
        triggers.push(trig.clone());
        let ctx = ctx.clone();
        let tx = tx.clone();
        let gate = gate.clone();
        handles.push(tokio::spawn(async move {
            node_loop(ctx, idx, trig, gate, tx, wrap).await;
        }));
    }
    (triggers, handles)
}

async fn node_loop<E>(
    ctx: Arc<PollCtx>,
    idx: usize,
    trig: Arc<Trigger>,
    gate: Arc<tokio::sync::Semaphore>,
    tx: mpsc::UnboundedSender<E>,
    wrap: fn(PollResult) -> E,
) {
    use std::sync::atomic::Ordering;
    use tokio::time::Instant;
    let c = ctx.cadence;
    // Spread the slow polls over the slow period so the fleet is not hit at once.
    let n = ctx.nodes.len().max(1) as u32;
    let offset = c.slow.mul_f64(f64::from(idx as u32 % n) / f64::from(n));
    let start = Instant::now();
    let mut next_slow = start; // first poll carries the gateway status
    let mut next_doctor = c
        .doctor
        .map(|d| start + d.min(Duration::from_secs(5)) + offset / 4);
    let mut watch = ChangeWatch::default();
    loop {
        let now = Instant::now();
        let gw = now >= next_slow || trig.gateway.swap(false, Ordering::SeqCst);
        let doc =
            next_doctor.is_some_and(|d| now >= d) || trig.doctor.swap(false, Ordering::SeqCst);
        let req = c.request(gw, doc);
        // Boxed: the poll's future is ~10 KB; kept inline it would sit in every node's
        // task for its whole life (100 MB at 10,000 nodes), boxed only while polling.
        let res = {
            // The gate is never closed; without a permit the poll simply goes ahead.
            let _permit = gate.acquire().await.ok();
            Box::pin(poll_once(&ctx, idx, &req)).await
        };
        if gw {
            next_slow = Instant::now() + c.slow;
            if next_slow < start + offset + c.slow {
                next_slow = start + offset + c.slow;
            }
        }
        if doc {
            next_doctor = c.doctor.map(|d| Instant::now() + d);
        }
        // Liveness or reachability changed: learn why from the gateway status now.
        let changed = watch.changed(&res) && !gw;
        if tx.send(wrap(res)).is_err() {
            return;
        }
        if changed {
            next_slow = Instant::now();
            continue;
        }
        let next_fast = Instant::now() + c.fast;
        tokio::select! {
            _ = tokio::time::sleep_until(next_fast) => {}
            _ = trig.notify.notified() => {}
        }
    }
}
