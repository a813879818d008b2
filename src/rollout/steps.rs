//! The steps of a rollout: runs the machine's effects against nodes and reports back as
//! [`ExecEvent`]s. It never decides anything. Each phase is written once, as operations on the node
//! interface ([`crate::remote::Nodes`]) and the reading of their answers
//! ([`super::node_ops`]): real nodes and the simulated mesh go through the same steps.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

pub use super::events::ExecEvent;
use super::machine::{Failure, Input, Phase};
use super::node_ops;
use crate::inventory::{Node, NodeId};
use crate::manifest::Bundle;
use crate::observe::{NodeState, now_ms};
use crate::poller::{self, PollCtx};
use crate::remote::login_path::LoginPath;
use crate::remote::ops::OUTPUT_CAP;
use crate::remote::rsync::{self, RsyncStats};
use crate::remote::{NodeOp, RemoteError, RemoteOutput, SyncError, SyncTree};
use crate::rollout::NodeError;
use crate::signals::DoctorReport;
use crate::verdict::{self, Kind, Rules};

/// Time limits of the long phases.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub command: Duration,
    pub sync: Duration,
    pub prewarm: Duration,
    pub probe: Duration,
    /// How often the heartbeat of the node locks this rollout holds is refreshed.
    pub heartbeat: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            command: Duration::from_secs(10),
            sync: Duration::from_secs(600),
            prewarm: Duration::from_secs(15 * 60 + 30),
            probe: Duration::from_secs(120),
            heartbeat: Duration::from_secs(30),
        }
    }
}

/// What a rollout needs to run phases.
pub struct RolloutCtx {
    pub poll: Arc<PollCtx>,
    pub bundle: Arc<Bundle>,
    /// The staged copy with the node's modes and the lock inside (empty when the nodes
    /// copy no staged files: the simulated mesh).
    pub stage_dir: PathBuf,
    pub rollout_id: String,
    /// Who holds the node locks: `user@host pid N`.
    pub who: String,
    pub limits: Limits,
    /// What this run learned of each node: its rsync and its login PATH.
    pub learned: NodeLearned,
}

/// What a rollout run learns of a node once and keeps for the run: its rsync (at its
/// baseline) and the PATH of its account's login shell (from the first script of the
/// run that reads it, the baseline's unless resumed past it). Absent: not learned yet,
/// or the simulated mesh.
#[derive(Debug, Default, Clone)]
pub struct Learned {
    pub rsync: Option<rsync::NodeRsync>,
    pub login_path: Option<LoginPath>,
}

/// Each node's [`Learned`].
#[derive(Debug, Default)]
pub struct NodeLearned(std::sync::Mutex<std::collections::HashMap<NodeId, Learned>>);

impl NodeLearned {
    pub fn get(&self, id: NodeId) -> Learned {
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(&id).cloned())
            .unwrap_or_default()
    }
    fn update(&self, id: NodeId, f: impl FnOnce(&mut Learned)) {
        if let Ok(mut m) = self.0.lock() {
            f(m.entry(id).or_default());
        }
    }
    pub fn set_rsync(&self, id: NodeId, r: rsync::NodeRsync) {
        self.update(id, |l| l.rsync = Some(r));
    }
    pub fn set_login_path(&self, id: NodeId, p: LoginPath) {
        self.update(id, |l| l.login_path = Some(p));
    }
}

fn remote_failure(e: RemoteError) -> Failure {
    match e {
        RemoteError::HostKey(_) | RemoteError::AuthFailed(_) | RemoteError::UnknownHost(_) => {
            Failure::Fatal(crate::safe_text::clean(&e.to_string()))
        }
        // The same command floods the same way again: no retry.
        RemoteError::OutputTooLarge(cap) => Failure::Fatal(crate::remote::output_over(cap)),
        _ => Failure::Transient(crate::safe_text::clean(&e.to_string())),
    }
}

/// A phase's step: `op` on node `id`, a failed round trip classified for retry. The
/// script gets the node's login PATH if this run learned it (it then starts no login
/// shell), else reports the one it reads, which is learned here for the later scripts
/// (the report taken out of its stderr).
async fn sh(
    ctx: &RolloutCtx,
    id: NodeId,
    op: NodeOp,
    timeout: Duration,
    on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
) -> Result<RemoteOutput, Failure> {
    let op = NodeOp::LoginPath {
        known: ctx.learned.get(id).login_path,
        op: Box::new(op),
    };
    let mut out = ctx
        .poll
        .run(id, &op, OUTPUT_CAP, timeout, on_line)
        .await
        .map_err(remote_failure)?;
    let (stderr, reported) = LoginPath::take_reported(&out.stderr);
    out.stderr = stderr;
    if let Some(p) = reported {
        // the probe's poll channel, opened later, starts no login shell either
        ctx.poll.transport.learned_login_path(id.index(), &p);
        ctx.learned.set_login_path(id, p);
    }
    Ok(out)
}

/// What the small lock and `current` operations may print.
const SMALL_CAP: usize = 64 * 1024;

pub(crate) fn expect_ok(out: &RemoteOutput, what: &str) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(e) = text.lines().find_map(|l| l.strip_prefix("MESHROLL-ERR ")) {
        return Err(Failure::Fatal(crate::safe_text::clean(&format!(
            "{what}: {e}"
        ))));
    }
    match out.code {
        Some(0) => Ok(crate::safe_text::clean(
            text.lines().last().unwrap_or("ok").trim(),
        )),
        Some(c) => Err(Failure::Fatal(crate::safe_text::clean(&format!(
            "{what} exited {c}: {}",
            crate::signals::excerpt(if out.stderr.is_empty() {
                &out.stdout
            } else {
                &out.stderr
            })
        )))),
        None => Err(Failure::Transient(format!("{what} was killed"))),
    }
}

/// What a step that printed nothing did: `quiet` instead of expect_ok's bare "ok" (a
/// drain or undrain command of the operator's own that prints a line keeps its line).
fn or_said(note: String, quiet: &str) -> String {
    if note.is_empty() || note == "ok" {
        quiet.to_string()
    } else {
        note
    }
}

/// Run one phase on node `id`.
pub async fn run_phase(
    ctx: &RolloutCtx,
    id: NodeId,
    phase: Phase,
    tx: &UnboundedSender<ExecEvent>,
) -> Result<String, Failure> {
    let Some(node) = ctx.poll.nodes.get(id) else {
        return Err(Failure::Fatal(format!("no node {id}")));
    };
    match phase {
        Phase::Baseline => baseline(ctx, id, node).await,
        Phase::Drain => drain(ctx, id, node).await,
        Phase::Sync => sync_phase(ctx, id, tx).await,
        Phase::Verify => verify(ctx, id).await,
        Phase::Switch => switch(ctx, id).await,
        Phase::Doctor => doctor(ctx, id, tx).await,
        Phase::Prewarm => prewarm(ctx, id, node, tx).await,
        Phase::Probe => probe(ctx, id, tx).await,
        Phase::Undrain => undrain(ctx, id, tx).await,
    }
}

/// Take the node lock and archive the gateway's status (it must be ready); learn the
/// node's rsync. A baseline that fails without another's lock gives the lock back.
async fn baseline(ctx: &RolloutCtx, id: NodeId, node: &Node) -> Result<String, Failure> {
    let now_s = now_ms() / 1000;
    let op = NodeOp::Baseline {
        rollout_id: ctx.rollout_id.clone(),
        who: ctx.who.clone(),
        now_s,
    };
    let out = sh(ctx, id, op, ctx.limits.command, None).await?;
    let r = node_ops::baseline_result(out.code, &out.stdout, now_s, &node.name)
        .and_then(|note| learn_rsync(ctx, id, &out.stderr).map(|_| note));
    if r.is_err() && !node_ops::locked_by_other(&out.stdout) {
        // Nothing was changed on the node (gateway not ready, ...): give its lock
        // back, or the next rollout finds it held by this one forever.
        let rel = NodeOp::Release {
            rollout_id: ctx.rollout_id.clone(),
        };
        let _ = sh(ctx, id, rel, ctx.limits.command, None).await;
    }
    r
}

/// Set the drain flag (or run the layout's drain command).
async fn drain(ctx: &RolloutCtx, id: NodeId, node: &Node) -> Result<String, Failure> {
    let out = sh(ctx, id, NodeOp::Drain, ctx.limits.command, None).await?;
    drain_note(node, expect_ok(&out, "drain"))
}

/// Prepare the bundle's directory, then rsync the staged bundle into it.
async fn sync_phase(
    ctx: &RolloutCtx,
    id: NodeId,
    tx: &UnboundedSender<ExecEvent>,
) -> Result<String, Failure> {
    let prepare = NodeOp::PrepareSync {
        sha: ctx.bundle.skills_sha.clone(),
    };
    let out = sh(ctx, id, prepare, ctx.limits.command, None).await?;
    expect_ok(&out, "preparing the bundle directory")?;
    let stats = sync(ctx, id).await?;
    let _ = tx.send(ExecEvent::Synced { node: id, stats });
    // Which rsync the node ran is the first question when a copy misbehaves on one
    // Mac and not another: the note (journal, node view, replay) names it.
    let by = ctx
        .learned
        .get(id)
        .rsync
        .map(|r| format!(" (node: {})", r.describe()))
        .unwrap_or_default();
    Ok(format!(
        "{} file(s) transferred, {} bytes sent{by}",
        stats.files_transferred, stats.bytes_sent
    ))
}

/// The node's copy against the lock file.
async fn verify(ctx: &RolloutCtx, id: NodeId) -> Result<String, Failure> {
    let op = NodeOp::Verify {
        sha: ctx.bundle.skills_sha.clone(),
    };
    let out = sh(ctx, id, op, ctx.limits.sync, None).await?;
    node_ops::verify_result(&ctx.bundle.lock, &ctx.bundle.manifest_sha256, &out.stdout)
}

/// Point `current` at the bundle, verified again in the same script right before the
/// rename: the time limit is the verify's, as it hashes the whole tree.
async fn switch(ctx: &RolloutCtx, id: NodeId) -> Result<String, Failure> {
    let want = node_ops::expected_digest(&ctx.bundle.lock, &ctx.bundle.manifest_sha256);
    let op = NodeOp::Switch {
        sha: ctx.bundle.skills_sha.clone(),
        want,
    };
    let out = sh(ctx, id, op, ctx.limits.sync, None).await?;
    if let Some(f) =
        node_ops::switch_mismatch(&ctx.bundle.lock, &ctx.bundle.manifest_sha256, &out.stdout)
    {
        return Err(f);
    }
    expect_ok(&out, "switch")
}

/// `openclaw doctor`, its report forwarded for the node view; error findings block.
async fn doctor(
    ctx: &RolloutCtx,
    id: NodeId,
    tx: &UnboundedSender<ExecEvent>,
) -> Result<String, Failure> {
    let timeout = ctx.limits.command.max(Duration::from_secs(30));
    let out = sh(ctx, id, NodeOp::Doctor, timeout, None).await?;
    let run = crate::signals::CliRun {
        rc: out.code.unwrap_or(-1),
        timed_out: false,
        bytes: out.stdout.len() as u64,
        stdout: out.stdout,
        stderr: out.stderr,
    };
    let report = crate::signals::doctor::parse(&run).map_err(|e| Failure::Fatal(e.to_string()))?;
    let _ = tx.send(ExecEvent::Doctor {
        node: id,
        report: report.clone(),
    });
    doctor_outcome(&report)
}

/// Warm the skills, each line of its output forwarded for the node view.
async fn prewarm(
    ctx: &RolloutCtx,
    id: NodeId,
    node: &Node,
    tx: &UnboundedSender<ExecEvent>,
) -> Result<String, Failure> {
    let tx2 = tx.clone();
    let on_line = move |l: &str| {
        if let Some(line) = super::prewarm::shown_line(l) {
            let _ = tx2.send(ExecEvent::Output { node: id, line });
        }
    };
    let op = NodeOp::Prewarm {
        sha: ctx.bundle.skills_sha.clone(),
        mem_limit_kb: node.layout.prewarm_mem_mb.saturating_mul(1024),
    };
    let out = sh(ctx, id, op, ctx.limits.prewarm, Some(&on_line)).await?;
    if out.stdout.len() > OUTPUT_CAP {
        return Err(Failure::Fatal(format!(
            "prewarm: {}",
            crate::remote::output_over(OUTPUT_CAP)
        )));
    }
    super::prewarm::outcome(&out.stdout)
}

/// Clear the drain flag (or run the layout's undrain command) and release the lock;
/// then one cheap poll of the node, forwarded, so the screen sees it landed without
/// waiting for its next poll (the poll's outcome does not fail the phase).
async fn undrain(
    ctx: &RolloutCtx,
    id: NodeId,
    tx: &UnboundedSender<ExecEvent>,
) -> Result<String, Failure> {
    let Some(node) = ctx.poll.nodes.get(id) else {
        return Err(Failure::Fatal(format!("no node {id}")));
    };
    let rid = ctx.rollout_id.clone();
    let lim = ctx.limits;
    let done = expect_ok(
        &sh(
            ctx,
            id,
            NodeOp::Undrain { rollout_id: rid },
            lim.command,
            None,
        )
        .await?,
        "undrain",
    )
    .map(|note| {
        let did = match node.layout.undrain_cmd {
            Some(_) => "undrain command ran, lock released",
            None => "drain flag cleared, lock released",
        };
        or_said(note, did)
    })?;
    let req = ctx.poll.cadence.request(false, false);
    let polled = poller::poll_once(&ctx.poll, id, &req).await;
    let _ = tx.send(ExecEvent::Polled(Box::new(polled)));
    Ok(done)
}

/// Run the step the machine asked for: one phase, or two that one script does in one
/// round trip ([`Phase::carries_on`]: baseline then drain, verify then switch). The
/// inputs to feed back, in order.
pub async fn run_step(
    ctx: &RolloutCtx,
    id: NodeId,
    phase: Phase,
    tx: &UnboundedSender<ExecEvent>,
) -> Vec<Input> {
    let input = |phase: Phase, r: Result<String, Failure>| match r {
        Ok(note) => Input::PhaseDone {
            node: id,
            phase,
            note,
        },
        Err(failure) => Input::PhaseFailed {
            node: id,
            phase,
            failure,
        },
    };
    let two = |(a, b): (Result<String, Failure>, Option<Result<String, Failure>>), next: Phase| {
        let mut v = vec![input(phase, a)];
        v.extend(b.map(|b| input(next, b)));
        v
    };
    match phase.carries_on() {
        Some(next @ Phase::Drain) => two(baseline_and_drain(ctx, id).await, next),
        Some(next @ Phase::Switch) => two(verify_and_switch(ctx, id).await, next),
        _ => vec![input(phase, run_phase(ctx, id, phase, tx).await)],
    }
}

type Two = (Result<String, Failure>, Option<Result<String, Failure>>);

/// Baseline and drain in one script: the lock is taken and the status archived, then
/// the node drained. A gateway found not ready (judged here, from the status) undoes
/// the drain and gives the lock back in one more round trip, as a failed baseline gave
/// its lock back before: a node whose gateway is not ready serves no traffic, so the
/// moment it spends drained costs nothing.
async fn baseline_and_drain(ctx: &RolloutCtx, id: NodeId) -> Two {
    let Some(node) = ctx.poll.nodes.get(id) else {
        return (Err(Failure::Fatal(format!("no node {id}"))), None);
    };
    let now_s = now_ms() / 1000;
    let op = NodeOp::Then {
        first: Box::new(NodeOp::Baseline {
            rollout_id: ctx.rollout_id.clone(),
            who: ctx.who.clone(),
            now_s,
        }),
        then: Box::new(NodeOp::Drain),
    };
    let out = match sh(ctx, id, op, ctx.limits.command, None).await {
        Ok(o) => o,
        Err(f) => return (Err(f), None),
    };
    let (first, drained) = node_ops::split_then(&out);
    // The baseline script also probed the node's rsync (on stderr): a node without a
    // usable one fails here, once, and is undrained and unlocked below.
    let r = node_ops::baseline_result(first.code, &first.stdout, now_s, &node.name)
        .and_then(|note| learn_rsync(ctx, id, &out.stderr).map(|_| note));
    match (r, drained) {
        (Ok(note), Some(d)) => (Ok(note), Some(drain_note(node, expect_ok(&d, "drain")))),
        (Ok(note), None) => (
            Ok(note),
            Some(Err(Failure::Transient("the drain did not answer".into()))),
        ),
        (Err(f), drained) => {
            if drained.is_some() {
                // Undrain, which releases the lock too.
                let op = NodeOp::Undrain {
                    rollout_id: ctx.rollout_id.clone(),
                };
                let _ = sh(ctx, id, op, ctx.limits.command, None).await;
            } else if !node_ops::locked_by_other(&first.stdout) {
                let rel = NodeOp::Release {
                    rollout_id: ctx.rollout_id.clone(),
                };
                let _ = sh(ctx, id, rel, ctx.limits.command, None).await;
            }
            (Err(f), None)
        }
    }
}

/// Verify and switch in one script: the switch script lists the tree and flips
/// `current` only if the listing is the lock's, so the verify phase's own listing was
/// the same work done twice.
async fn verify_and_switch(ctx: &RolloutCtx, id: NodeId) -> Two {
    let want = node_ops::expected_digest(&ctx.bundle.lock, &ctx.bundle.manifest_sha256);
    let op = NodeOp::Switch {
        sha: ctx.bundle.skills_sha.clone(),
        want,
    };
    match sh(ctx, id, op, ctx.limits.sync, None).await {
        Ok(out) => {
            node_ops::verify_switch_result(&ctx.bundle.lock, &ctx.bundle.manifest_sha256, &out)
        }
        Err(f) => (Err(f), None),
    }
}

fn drain_note(
    node: &crate::inventory::Node,
    r: Result<String, Failure>,
) -> Result<String, Failure> {
    r.map(|note| {
        let did = match node.layout.drain_cmd {
            Some(_) => "drain command ran",
            None => "drain flag set",
        };
        or_said(note, did)
    })
}

/// Error findings block widening; warnings are reported.
pub fn doctor_outcome(report: &DoctorReport) -> Result<String, Failure> {
    let errors = report.errors();
    let summary = format!("{} finding(s), {errors} error(s)", report.findings.len());
    if errors > 0 {
        let first = report
            .findings
            .iter()
            .find(|f| f.severity == crate::signals::Severity::Error)
            .map(|f| format!("{}: {}", f.check_id, f.message))
            .unwrap_or_default();
        Err(Failure::Blocked(format!("{summary}; {first}")))
    } else {
        Ok(summary)
    }
}

/// Copy the staged bundle into the node's bundle directory.
async fn sync(ctx: &RolloutCtx, id: NodeId) -> Result<RsyncStats, Failure> {
    let node = ctx
        .poll
        .nodes
        .get(id)
        .ok_or_else(|| Failure::Fatal(format!("no node {id}")))?;
    let dest = format!("{}/{}/", node.layout.skills_root, ctx.bundle.skills_sha);
    let known = match ctx.learned.get(id).rsync {
        Some(r) => Some(r),
        // not learned in this run (a resumed node past its baseline): ask now, once
        None => {
            let out = sh(ctx, id, NodeOp::RsyncProbe, ctx.limits.command, None).await?;
            learn_rsync(ctx, id, &out.stdout)?
        }
    };
    let tree = SyncTree {
        staged: &ctx.stage_dir,
        bundle: &ctx.bundle,
        dest: &dest,
        rsync: known.as_ref(),
    };
    let out = ctx
        .poll
        .transport
        .sync(id.index(), node, tree, ctx.limits.sync)
        .await
        .map_err(|e| match e {
            SyncError::Remote(e) => remote_failure(e),
            SyncError::TimedOut(t) => {
                Failure::Transient(format!("rsync timed out after {}s", t.as_secs()))
            }
            SyncError::CannotStart(e) => Failure::Fatal(format!("cannot run rsync here: {e}")),
        })?;
    rsync_outcome(&out)
}

/// Learn node `id`'s rsync from a probe's output and keep it for the run (see
/// [`node_ops::rsync_at_baseline`]).
fn learn_rsync(
    ctx: &RolloutCtx,
    id: NodeId,
    probe_out: &[u8],
) -> Result<Option<rsync::NodeRsync>, Failure> {
    let node = &ctx.poll.nodes[id];
    let r = node_ops::rsync_at_baseline(
        probe_out,
        &node.layout,
        &ctx.bundle.lock,
        &ctx.bundle.skills_sha,
    )?;
    if let Some(r) = &r {
        ctx.learned.set_rsync(id, r.clone());
    }
    Ok(r)
}

/// Read a copy's output: its `--stats`, or why it failed with rsync's own words from
/// both ends (retried when rsync's exit code says another attempt may pass, and its
/// words do not say the node's rsync cannot do it: an unknown option, a protocol
/// mismatch, no rsync there).
pub fn rsync_outcome(out: &RemoteOutput) -> Result<RsyncStats, Failure> {
    match out.code {
        Some(0) => Ok(rsync::parse_rsync_stats(&String::from_utf8_lossy(
            &out.stdout,
        ))),
        code => {
            let msg = crate::safe_text::clean(&format!(
                "rsync exit {}: {}",
                code.map_or("signal".into(), |c| c.to_string()),
                rsync::stderr_summary(&out.stderr)
            ));
            let permanent = rsync::permanent_failure(&String::from_utf8_lossy(&out.stderr));
            match code {
                Some(c) if !rsync::rsync_transient(c) || permanent => Err(Failure::Fatal(msg)),
                None if permanent => Err(Failure::Fatal(msg)),
                _ => Err(Failure::Transient(msg)),
            }
        }
    }
}

/// Wait until the merged probe passes on its own three signals (drain set aside).
async fn probe(
    ctx: &RolloutCtx,
    id: NodeId,
    tx: &UnboundedSender<ExecEvent>,
) -> Result<String, Failure> {
    let node = &ctx.poll.nodes[id];
    // The same rules as the dashboard's verdict for this node (the cadences in use and
    // the node's own cache limit: one place, report::rules_for), drain set aside.
    let rules = Rules {
        ignore_drain: true,
        ..crate::report::rules_for(node, &ctx.poll.cadence.rules())
    };
    let req = ctx.poll.cadence.request(true, false);
    let deadline = tokio::time::Instant::now() + ctx.limits.probe;
    let mut last = String::from("no answer");
    loop {
        let mut st = NodeState::default();
        let r = poller::poll_once(&ctx.poll, id, &req).await;
        // The dashboard folds the probe's answer in: the row follows the node.
        let _ = tx.send(ExecEvent::Polled(Box::new(r.clone())));
        poller::apply(&mut st, r);
        // Landed means landed: `current` on the bundle and its lock file the bundle's,
        // whatever the verdict; anything else after the switch is not transient.
        let seen = st.manifest.as_ref().map(|m| &m.value);
        if let Some(f) =
            node_ops::not_the_bundle(seen, &ctx.bundle.skills_sha, &ctx.bundle.manifest_sha256)
        {
            return Err(f);
        }
        match verdict::judge(&st, now_ms(), &rules) {
            Some(v) if v.kind == Kind::Healthy && seen.is_some() => {
                return Ok(format!(
                    "probe passed: {}; current is the bundle, its lock file matches",
                    v.reason
                ));
            }
            Some(v) => last = v.reason,
            None => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::Fatal(format!(
                "probe did not pass within {}s: {last}",
                ctx.limits.probe.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// A node operation that did not reach the node or did not finish, in cleaned words.
fn remote_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::Remote(crate::safe_text::clean(&e.to_string()))
}

/// Flip a node back to its previous target under the node lock: taken for
/// `rollout_id` (or already ours, inside a rollout) and released after.
pub async fn run_rollback(
    poll: &PollCtx,
    id: NodeId,
    rollout_id: &str,
    who: &str,
    timeout: Duration,
) -> Result<String, NodeError> {
    let now_s = now_ms() / 1000;
    let op = NodeOp::Rollback {
        rollout_id: rollout_id.to_string(),
        who: who.to_string(),
        now_s,
    };
    let out = poll
        .run(id, &op, SMALL_CAP, timeout, None)
        .await
        .map_err(remote_error)?;
    if node_ops::locked_by_other(&out.stdout) {
        let name = poll.nodes.get(id).map_or("?", |n| n.name.as_str());
        return node_ops::baseline_result(out.code, &out.stdout, now_s, name)
            .map_err(NodeError::LockedByOther);
    }
    expect_ok(&out, "rollback").map_err(NodeError::Refused)
}

/// Refresh the heartbeat of node `id`'s lock (held by `rollout_id`).
pub async fn run_heartbeat(
    poll: &PollCtx,
    id: NodeId,
    rollout_id: &str,
    timeout: Duration,
) -> Result<(), NodeError> {
    let op = NodeOp::Heartbeat {
        rollout_id: rollout_id.to_string(),
        now_s: now_ms() / 1000,
    };
    let out = poll
        .run(id, &op, SMALL_CAP, timeout, None)
        .await
        .map_err(remote_error)?;
    expect_ok(&out, "heartbeat")
        .map(|_| ())
        .map_err(NodeError::Refused)
}

/// Who holds node `id`'s lock (`None`: nobody).
pub async fn read_lock(
    poll: &PollCtx,
    id: NodeId,
    timeout: Duration,
) -> Result<Option<node_ops::LockInfo>, NodeError> {
    let out = poll
        .run(id, &NodeOp::ReadLock, SMALL_CAP, timeout, None)
        .await
        .map_err(remote_error)?;
    node_ops::read_lock_result(&out.stdout)
}

/// Remove node `id`'s lock if its owner line is still `owner_line`.
pub async fn force_unlock(
    poll: &PollCtx,
    id: NodeId,
    owner_line: Option<&str>,
    timeout: Duration,
) -> Result<String, NodeError> {
    let op = NodeOp::ForceUnlock {
        expected_owner: owner_line.map(String::from),
    };
    let out = poll
        .run(id, &op, SMALL_CAP, timeout, None)
        .await
        .map_err(remote_error)?;
    expect_ok(&out, "unlock").map_err(NodeError::Refused)
}

/// The target of node `id`'s `current` (`None`: there is none), read on the node.
pub async fn read_current(
    poll: &PollCtx,
    id: NodeId,
    timeout: Duration,
) -> Result<Option<String>, NodeError> {
    let out = poll
        .run(id, &NodeOp::ReadCurrent, SMALL_CAP, timeout, None)
        .await
        .map_err(|e| NodeError::Remote(e.to_string()))?;
    node_ops::read_current_result(&out.stdout)
}

/// Spawn a task for one effect; its result comes back on `tx`. Journal effects are the
/// driver's to write and are ignored here.
pub fn spawn(ctx: Arc<RolloutCtx>, effect: super::Effect, tx: UnboundedSender<ExecEvent>) {
    match effect {
        super::Effect::Run { node, phase, .. } => {
            tokio::spawn(async move {
                for input in run_step(&ctx, node, phase, &tx).await {
                    let _ = tx.send(ExecEvent::Input(input));
                }
            });
        }
        super::Effect::Rollback { node } => {
            tokio::spawn(async move {
                let result = run_rollback(
                    &ctx.poll,
                    node,
                    &ctx.rollout_id,
                    &ctx.who,
                    ctx.limits.command,
                )
                .await;
                let _ = tx.send(ExecEvent::Input(Input::RollbackDone { node, result }));
            });
        }
        super::Effect::BakePoll { node } => {
            tokio::spawn(async move {
                let result = super::bake::poll(&ctx, node).await;
                let _ = tx.send(ExecEvent::Input(Input::BakePolled { node, result }));
            });
        }
        super::Effect::Release { node } => {
            tokio::spawn(async move {
                let op = NodeOp::Release {
                    rollout_id: ctx.rollout_id.clone(),
                };
                let result = ctx
                    .poll
                    .run(node, &op, SMALL_CAP, ctx.limits.command, None)
                    .await
                    .map_err(remote_error)
                    .and_then(|out| {
                        expect_ok(&out, "releasing the lock").map_err(NodeError::Refused)
                    });
                let _ = tx.send(ExecEvent::Input(Input::Released { node, result }));
            });
        }
        super::Effect::Journal(_) => {}
    }
}

#[cfg(test)]
mod tests {
    //! The phases on the simulated mesh: the same code as on real nodes (the lab tests
    //! run it over ssh), with the node's answers read by the same functions.

    use super::*;
    use crate::remote::sim::{GatewayMode, SimMesh};
    use crate::rollout::test_support::{sim_ctx, sim_mesh as mesh};

    /// A rollout context on the demo mesh (every node as the demo has it).
    fn sim_rollout() -> Arc<RolloutCtx> {
        let (inv, mesh) = SimMesh::demo();
        Arc::new(sim_ctx(mesh, inv.nodes))
    }

    fn idx(ctx: &RolloutCtx, name: &str) -> NodeId {
        ctx.poll.nodes.find(name).expect("demo node")
    }

    async fn phase(ctx: &RolloutCtx, i: NodeId, p: Phase) -> Result<String, Failure> {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        run_phase(ctx, i, p, &tx).await
    }

    /// A simulated gateway that is not ready fails the baseline with the words a real
    /// node's answer gets (the same reading of the same `gateway status --json`), and its
    /// lock is given back; a ready one keeps the lock for the rollout.
    #[tokio::test(start_paused = true)]
    async fn sim_baseline_reads_the_gateway_like_a_real_node_and_releases_the_lock() {
        let ctx = sim_rollout();
        let i = idx(&ctx, "mac-w01");
        mesh(&ctx).with_node(i.index(), |n| n.gateway = GatewayMode::Unreachable);
        let got = phase(&ctx, i, Phase::Baseline).await;
        let real = include_bytes!(
            "../../tests/fixtures/openclaw-2026.9.6/gateway-status.unreachable.json"
        );
        let want = node_ops::baseline_result(Some(0), real, 0, "mac-w01");
        assert_eq!(got, want);
        assert_eq!(
            got,
            Err(Failure::Fatal(
                "gateway not ready at baseline: unreachable".into()
            ))
        );
        assert_eq!(read_lock(&ctx.poll, i, ctx.limits.command).await, Ok(None));

        mesh(&ctx).with_node(i.index(), |n| n.gateway = GatewayMode::Ready);
        assert!(phase(&ctx, i, Phase::Baseline).await.is_ok());
        let lock = read_lock(&ctx.poll, i, ctx.limits.command)
            .await
            .expect("read")
            .expect("held");
        assert_eq!(
            (lock.rollout_id.as_str(), lock.who.as_str()),
            ("r-test", "ops@here/pid1")
        );
        assert_eq!(
            run_heartbeat(&ctx.poll, i, "r-test", ctx.limits.command).await,
            Ok(())
        );
        assert!(
            run_heartbeat(&ctx.poll, i, "r-other", ctx.limits.command)
                .await
                .is_err()
        );
    }

    /// Drain and undrain say what they did, not a bare "ok" (the default scripts print
    /// nothing), on the sim as on a real node: both run the same phase code.
    #[tokio::test(start_paused = true)]
    async fn drain_and_undrain_notes_say_what_was_done() {
        let ctx = sim_rollout();
        let i = idx(&ctx, "mac-w03");
        assert_eq!(
            phase(&ctx, i, Phase::Drain).await,
            Ok("drain flag set".to_string())
        );
        assert_eq!(
            phase(&ctx, i, Phase::Undrain).await,
            Ok("drain flag cleared, lock released".to_string())
        );
        assert_eq!(
            or_said("maintenance mode on".into(), "x"),
            "maintenance mode on"
        );
    }

    /// A node that has just landed reads as landed at once in the dashboard: the
    /// probe's polls and the one after undrain reach the rows through the executor's
    /// reports, not after the dashboard's next poll (the row read `→ X` and draining).
    #[tokio::test(start_paused = true)]
    async fn a_landed_node_reads_as_landed_from_the_rollouts_own_polls() {
        use crate::dashboard::{App, AppEvent, Setup};
        use crate::rollout::plan::{self, PlanOptions};
        use crate::rollout::state::RolloutState;
        use crate::rollout::{Machine, Mode};
        use crate::skew::ManifestState;
        let ctx = sim_rollout();
        let (inv, _) = SimMesh::demo();
        let i = idx(&ctx, "mac-w04");
        let p = plan::make(&inv, &PlanOptions::default()).expect("plan");
        let machine = Machine::new(p, inv.nodes.len(), 42, Mode::Paused);
        let rollout = RolloutState::new(
            machine,
            inv.nodes.clone(),
            "r-test".into(),
            &ctx.bundle,
            now_ms(),
        );
        let setup = Setup {
            rollout: Some(rollout),
            ..Setup::default()
        };
        let mut app = App::new("t".into(), inv.nodes.clone(), inv.classes.clone(), setup);
        let feed = |app: &mut App, r: crate::poller::PollResult| {
            let at = r.at;
            app.handle(AppEvent::Poll(Box::new(r)), at);
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let req = ctx.poll.cadence.request(true, false);
        for n in ctx.poll.nodes.ids() {
            feed(&mut app, poller::poll_once(&ctx.poll, n, &req).await);
        }
        for ph in [Phase::Baseline, Phase::Drain] {
            run_phase(&ctx, i, ph, &tx).await.expect("phase passes");
        }
        // The dashboard polls the node mid-rollout: drained, still on the old bundle.
        feed(&mut app, poller::poll_once(&ctx.poll, i, &req).await);
        app.update_rows(now_ms());
        assert_eq!(app.rows()[i].verdict, Kind::Draining);
        assert_eq!(app.rows()[i].manifest.state, Some(ManifestState::Waiting));
        for ph in [
            Phase::Sync,
            Phase::Verify,
            Phase::Switch,
            Phase::Probe,
            Phase::Undrain,
        ] {
            run_phase(&ctx, i, ph, &tx).await.expect("phase passes");
        }
        while let Ok(ev) = rx.try_recv() {
            app.handle(AppEvent::Exec(Box::new(ev)), now_ms());
        }
        app.update_rows(now_ms());
        let row = &app.rows()[i];
        assert_eq!(row.verdict, Kind::Healthy, "{}", row.reason);
        assert!(!row.drained);
        assert_eq!(row.manifest.state, Some(ManifestState::InSync));
        assert_eq!(
            row.manifest.sha.as_deref(),
            Some(ctx.bundle.skills_sha.as_str())
        );
    }

    /// A node locked by another rollout refuses the baseline with the real refusal's
    /// words and keeps that rollout's lock; `unlock` removes it only while unchanged.
    #[tokio::test(start_paused = true)]
    async fn sim_lock_held_by_another_rollout_refuses_and_unlocks_like_a_real_one() {
        let ctx = sim_rollout();
        let i = idx(&ctx, "mac-w02");
        let other = RolloutCtx {
            poll: ctx.poll.clone(),
            bundle: ctx.bundle.clone(),
            stage_dir: PathBuf::new(),
            rollout_id: "r-other".into(),
            who: "bob@there/pid7".into(),
            limits: ctx.limits,
            learned: Default::default(),
        };
        assert!(phase(&other, i, Phase::Baseline).await.is_ok());
        let refused = phase(&ctx, i, Phase::Baseline).await;
        let Err(Failure::Fatal(m)) = &refused else {
            panic!("{refused:?}");
        };
        assert!(
            m.starts_with(
                "node is locked by another rollout: owner bob, host there, pid 7, rollout r-other"
            ) && m.ends_with("(if that rollout is gone: meshroll unlock --node mac-w02)"),
            "{m}"
        );
        let lock = read_lock(&ctx.poll, i, ctx.limits.command)
            .await
            .expect("read")
            .expect("still held");
        assert_eq!(lock.rollout_id, "r-other");
        let t = ctx.limits.command;
        // A rollback under another rollout's lock is refused as that, in the same words.
        let back = run_rollback(&ctx.poll, i, "r-test", "ops@here/pid1", t).await;
        let Err(NodeError::LockedByOther(f)) = &back else {
            panic!("{back:?}");
        };
        assert_eq!(back.as_ref().map_err(|e| e.to_string()), Err(m.clone()));
        assert_eq!(f.kind(), "fatal");
        // A lock whose owner changed is refused by the node's script.
        let gone = force_unlock(&ctx.poll, i, Some("r-x a 1"), t).await;
        assert!(matches!(gone, Err(NodeError::Refused(_))), "{gone:?}");
        assert_eq!(
            force_unlock(&ctx.poll, i, Some(&lock.owner_line), t).await,
            Ok("lock removed".into())
        );
        assert_eq!(read_lock(&ctx.poll, i, t).await, Ok(None));
    }

    /// The probe polls the simulated node through the same loop as a real one and
    /// waits for it to turn healthy; one that never does fails when its time is up.
    #[tokio::test(start_paused = true)]
    async fn sim_probe_polls_until_healthy() {
        let ctx = sim_rollout();
        let i = idx(&ctx, "mac-w04");
        let j = idx(&ctx, "mac-w09");
        for n in [i, j] {
            assert!(phase(&ctx, n, Phase::Sync).await.is_ok());
            assert!(phase(&ctx, n, Phase::Switch).await.is_ok());
        }
        mesh(&ctx).with_node(i.index(), |n| n.gateway = GatewayMode::Unreachable);
        let later = ctx.clone();
        let heal = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(9)).await;
            mesh(&later).with_node(i.index(), |n| n.gateway = GatewayMode::Ready);
        });
        let start = tokio::time::Instant::now();
        let got = phase(&ctx, i, Phase::Probe).await;
        heal.await.expect("heal");
        let note = got.expect("passes once healthy");
        assert!(
            note.starts_with("probe passed: ready, live, cache"),
            "{note}"
        );
        // It waited for the node (paused time: the polls' own clock, not the machine's).
        assert!(start.elapsed() >= Duration::from_secs(9));

        let got = phase(&ctx, j, Phase::Probe).await;
        assert_eq!(
            got,
            Err(Failure::Fatal(
                "probe did not pass within 120s: gateway auth rejected".into()
            ))
        );
    }

    /// A probe passes only on the bundle: a node whose `current` is elsewhere (never
    /// switched, or put back after the switch) fails at once, not transiently.
    #[tokio::test(start_paused = true)]
    async fn sim_probe_fails_when_current_is_not_the_bundle() {
        let ctx = sim_rollout();
        let i = idx(&ctx, "mac-w04");
        assert!(phase(&ctx, i, Phase::Sync).await.is_ok());
        assert!(phase(&ctx, i, Phase::Switch).await.is_ok());
        let old = mesh(&ctx)
            .node(i.index())
            .and_then(|n| n.previous)
            .expect("previous");
        mesh(&ctx).with_node(i.index(), |n| n.current = Some(old.clone()));
        let start = tokio::time::Instant::now();
        assert_eq!(
            phase(&ctx, i, Phase::Probe).await,
            Err(Failure::Fatal(format!("current is {old}, not the bundle")))
        );
        assert!(start.elapsed() < Duration::from_secs(5), "at once");
    }

    /// Verify and switch as one step: both phases reported from one script; a bad copy
    /// fails the verify and nothing is switched.
    #[tokio::test(start_paused = true)]
    async fn sim_verify_and_switch_are_one_step_reporting_both() {
        let ctx = sim_rollout();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let i = idx(&ctx, "mac-w04");
        assert!(phase(&ctx, i, Phase::Sync).await.is_ok());
        let got = run_step(&ctx, i, Phase::Verify, &tx).await;
        let phases: Vec<(Phase, bool)> = got
            .iter()
            .map(|x| match x {
                Input::PhaseDone { phase, .. } => (*phase, true),
                Input::PhaseFailed { phase, .. } => (*phase, false),
                _ => panic!("{x:?}"),
            })
            .collect();
        assert_eq!(phases, vec![(Phase::Verify, true), (Phase::Switch, true)]);
        let c = idx(&ctx, "mac-w16");
        assert!(phase(&ctx, c, Phase::Sync).await.is_ok());
        let got = run_step(&ctx, c, Phase::Verify, &tx).await;
        assert!(
            matches!(
                got.as_slice(),
                [Input::PhaseFailed { phase: Phase::Verify, failure: Failure::Mismatch(m), .. }]
                    if m.starts_with("1 difference(s)")
            ),
            "{got:?}"
        );
        // Baseline and drain likewise.
        let got = run_step(&ctx, i, Phase::Baseline, &tx).await;
        assert!(
            matches!(
                got.as_slice(),
                [Input::PhaseDone { phase: Phase::Baseline, .. }, Input::PhaseDone { phase: Phase::Drain, note, .. }]
                    if note == "drain flag set"
            ),
            "{got:?}"
        );
    }

    /// Sync, verify and switch on the simulated mesh: a dropped connection is retried
    /// (rsync's exit code read as on a real node), a clean copy verifies and lands, a
    /// corrupted one fails verify and the switch refuses it.
    #[tokio::test(start_paused = true)]
    async fn sim_copy_is_read_like_rsync_and_verified_like_a_real_tree() {
        let ctx = sim_rollout();
        let sha = ctx.bundle.skills_sha.clone();
        let i = idx(&ctx, "mac-g01");
        let first = phase(&ctx, i, Phase::Sync).await;
        assert_eq!(
            first,
            Err(Failure::Transient(
                "rsync exit 12: rsync: connection unexpectedly closed (simulated)".into()
            ))
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let synced = run_phase(&ctx, i, Phase::Sync, &tx).await;
        assert_eq!(synced, Ok("5 file(s) transferred, 900 bytes sent".into()));
        assert!(matches!(
            rx.try_recv(),
            Ok(ExecEvent::Synced { stats, .. }) if stats.files_transferred == 5
        ));
        assert_eq!(
            phase(&ctx, i, Phase::Verify).await,
            Ok("checksum verified (4 files)".into())
        );
        let old = mesh(&ctx)
            .node(i.index())
            .and_then(|n| n.current)
            .expect("current");
        let switched = phase(&ctx, i, Phase::Switch).await.expect("switch");
        assert_eq!(
            switched,
            format!("verified; current -> {sha} (previous {old})")
        );
        assert_eq!(
            read_current(&ctx.poll, i, ctx.limits.command).await,
            Ok(Some(sha.clone()))
        );
        // A second copy of the same bundle sends nothing.
        assert_eq!(
            phase(&ctx, i, Phase::Sync).await,
            Ok("0 file(s) transferred, 0 bytes sent".into())
        );
        let t = ctx.limits.command;
        let back = run_rollback(&ctx.poll, i, "r-test", "ops@here/pid1", t).await;
        assert_eq!(back, Ok(format!("current -> {old} (was {sha})")));
        assert_eq!(read_lock(&ctx.poll, i, t).await, Ok(None));

        let c = idx(&ctx, "mac-w16");
        assert!(phase(&ctx, c, Phase::Sync).await.is_ok());
        let differs = "1 difference(s): browser-automation/SKILL.md sha256 differs";
        assert_eq!(
            phase(&ctx, c, Phase::Verify).await,
            Err(Failure::Mismatch(differs.into()))
        );
        assert_eq!(
            phase(&ctx, c, Phase::Switch).await,
            Err(Failure::Mismatch(format!(
                "verify before the switch: {differs}"
            )))
        );
        assert_ne!(
            mesh(&ctx).node(c.index()).and_then(|n| n.current),
            Some(sha)
        );
    }

    /// A stock Mac's rsync refusing an option: exit 12 on our end, its own words from the
    /// node's end in the error, and no retry. A dropped connection stays transient.
    #[test]
    fn an_rsync_refusing_an_option_is_permanent_and_says_why() {
        let out = RemoteOutput {
            code: Some(12),
            stdout: Vec::new(),
            stderr: b"rsync: -slOogDtprce.iLsfxCIvu: unknown option\nrsync error: syntax or usage error (code 1) at main.c(1337) [server=2.6.9]\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: error in rsync protocol data stream (code 12) at io.c(232) [sender=3.2.7]\n".to_vec(),
        };
        match rsync_outcome(&out) {
            Err(Failure::Fatal(m)) => {
                assert!(
                    m.contains("rsync: -slOogDtprce.iLsfxCIvu: unknown option"),
                    "{m}"
                );
                assert!(
                    m.contains("[server=2.6.9]") && m.contains("(code 12)"),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
        let dropped = RemoteOutput {
            code: Some(12),
            stdout: Vec::new(),
            stderr: b"rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
                .to_vec(),
        };
        assert!(matches!(
            rsync_outcome(&dropped),
            Err(Failure::Transient(_))
        ));
    }

    /// A node that is off fails every step the way ssh does (transient: retried).
    #[tokio::test(start_paused = true)]
    async fn sim_host_down_is_a_transient_connect_failure() {
        let ctx = sim_rollout();
        let i = idx(&ctx, "mac-w17");
        for p in [Phase::Baseline, Phase::Sync, Phase::Prewarm] {
            assert_eq!(
                phase(&ctx, i, p).await,
                Err(Failure::Transient(
                    "ssh: connect to host port 22: No route to host".into()
                )),
                "{p:?}"
            );
        }
    }

    /// Prewarm streams the node's lines and reads its exit line, as on a real node.
    #[tokio::test(start_paused = true)]
    async fn sim_prewarm_streams_lines_and_warms_the_cache() {
        let ctx = sim_rollout();
        let i = idx(&ctx, "mac-w11");
        assert!(phase(&ctx, i, Phase::Sync).await.is_ok());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let got = run_phase(&ctx, i, Phase::Prewarm, &tx).await;
        assert_eq!(got, Ok("prewarmed; skill-cache-ready touched".into()));
        let mut lines = Vec::new();
        while let Ok(ExecEvent::Output { line, .. }) = rx.try_recv() {
            lines.push(line);
        }
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(
            lines[0],
            "prewarm [1/4] browser-automation/SKILL.md: cache warmed"
        );
        assert!(
            mesh(&ctx)
                .node(i.index())
                .and_then(|n| n.cache_mtime)
                .is_some()
        );
    }
}
