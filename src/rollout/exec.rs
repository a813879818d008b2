//! The executor: runs the machine's effects against nodes (real ones over SSH and rsync,
//! or the simulated mesh) and reports back as events. It never decides anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::machine::{Failure, Input, Phase};
use super::node_ops::{self, RsyncStats};
use crate::inventory::Node;
use crate::manifest::Bundle;
use crate::observe::{NodeState, now_ms};
use crate::poller::{self, PollCtx};
use crate::remote::script::shell_quote;
use crate::remote::{RemoteError, RemoteOutput, Transport, as_user};
use crate::signals::DoctorReport;
use crate::verdict::{self, Kind, Rules};

/// Time limits of the long phases.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub command: Duration,
    pub sync: Duration,
    pub prewarm: Duration,
    pub probe: Duration,
    /// Memory cap for prewarm (`ulimit -v`, where the node's shell supports it).
    pub prewarm_mem_kb: u64,
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
            prewarm_mem_kb: 4 * 1024 * 1024,
            heartbeat: Duration::from_secs(30),
        }
    }
}

/// What a rollout needs to run phases.
pub struct RolloutCtx {
    pub poll: Arc<PollCtx>,
    pub bundle: Arc<Bundle>,
    /// The staged copy with the node's modes and the lock inside (real nodes only).
    pub stage_dir: PathBuf,
    pub rollout_id: String,
    /// Who holds the node locks: `user@host pid N`.
    pub who: String,
    pub ssh_config: Option<PathBuf>,
    pub limits: Limits,
}

/// What the executor reports.
#[derive(Debug, Clone)]
pub enum ExecEvent {
    Input(Input),
    /// A line of a running step's output (prewarm), for the node view.
    Output {
        node: usize,
        line: String,
    },
    Doctor {
        node: usize,
        report: DoctorReport,
    },
    Synced {
        node: usize,
        stats: RsyncStats,
    },
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

async fn sh(
    ctx: &RolloutCtx,
    idx: usize,
    script: String,
    timeout: Duration,
    on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
) -> Result<RemoteOutput, Failure> {
    let Transport::Ssh(pool) = &ctx.poll.transport else {
        return Err(Failure::Fatal("not an ssh transport".into()));
    };
    let node = &ctx.poll.nodes[idx];
    let argv = as_user(node, &["sh", "-s"]);
    pool.run_for(
        idx,
        &argv,
        script.as_bytes(),
        node_ops::OUTPUT_CAP,
        timeout,
        on_line,
    )
    .await
    .map_err(remote_failure)
}

fn expect_ok(out: &RemoteOutput, what: &str) -> Result<String, Failure> {
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

/// Run one phase on node `idx`.
pub async fn run_phase(
    ctx: &RolloutCtx,
    idx: usize,
    phase: Phase,
    tx: &UnboundedSender<ExecEvent>,
) -> Result<String, Failure> {
    if let Transport::Sim(sim) = &ctx.poll.transport {
        return sim.run_phase(idx, phase, &ctx.bundle, tx).await;
    }
    let node: &Node = &ctx.poll.nodes[idx];
    let layout = &node.layout;
    let sha = ctx.bundle.skills_sha.as_str();
    let lim = ctx.limits;
    let token = ctx.poll.token.as_deref();
    match phase {
        Phase::Baseline => {
            let now_s = now_ms() / 1000;
            let script = node_ops::baseline(layout, &ctx.rollout_id, &ctx.who, now_s, token);
            let out = sh(ctx, idx, script, lim.command, None).await?;
            let r = node_ops::baseline_result(out.code, &out.stdout, now_s, &node.name);
            if r.is_err() && !node_ops::locked_by_other(&out.stdout) {
                // Nothing was changed on the node (gateway not ready, ...): give its lock
                // back, or the next rollout finds it held by this one forever.
                let rel = node_ops::release(layout, &ctx.rollout_id);
                let _ = sh(ctx, idx, rel, lim.command, None).await;
            }
            r
        }
        Phase::Drain => expect_ok(
            &sh(ctx, idx, node_ops::drain(layout), lim.command, None).await?,
            "drain",
        ),
        Phase::Sync => {
            let out = sh(
                ctx,
                idx,
                node_ops::prepare_sync(layout, sha),
                lim.command,
                None,
            )
            .await?;
            expect_ok(&out, "preparing the bundle directory")?;
            let stats = rsync(ctx, idx).await?;
            let _ = tx.send(ExecEvent::Synced { node: idx, stats });
            Ok(format!(
                "{} file(s) transferred, {} bytes sent",
                stats.files_transferred, stats.bytes_sent
            ))
        }
        Phase::Verify => {
            let out = sh(ctx, idx, node_ops::verify(layout, sha), lim.sync, None).await?;
            node_ops::verify_result(&ctx.bundle.lock, &ctx.bundle.manifest_sha256, &out.stdout)
        }
        Phase::Switch => {
            // Verified again in the same script, right before the rename: the time
            // limit is the verify's, as it hashes the whole tree.
            let want = node_ops::expected_digest(&ctx.bundle.lock, &ctx.bundle.manifest_sha256);
            let out = sh(
                ctx,
                idx,
                node_ops::switch(layout, sha, &want),
                lim.sync,
                None,
            )
            .await?;
            if let Some(f) = node_ops::switch_mismatch(
                &ctx.bundle.lock,
                &ctx.bundle.manifest_sha256,
                &out.stdout,
            ) {
                return Err(f);
            }
            expect_ok(&out, "switch")
        }
        Phase::Doctor => {
            let out = sh(
                ctx,
                idx,
                node_ops::doctor(layout, token),
                lim.command.max(Duration::from_secs(30)),
                None,
            )
            .await?;
            let run = crate::signals::CliRun {
                rc: out.code.unwrap_or(-1),
                timed_out: false,
                bytes: out.stdout.len() as u64,
                stdout: out.stdout,
                stderr: out.stderr,
            };
            let report =
                crate::signals::doctor::parse(&run).map_err(|e| Failure::Fatal(e.to_string()))?;
            let _ = tx.send(ExecEvent::Doctor {
                node: idx,
                report: report.clone(),
            });
            doctor_outcome(&report)
        }
        Phase::Prewarm => {
            let tx2 = tx.clone();
            let on_line = move |l: &str| {
                if !l.starts_with("MESHROLL-EXIT ") {
                    let _ = tx2.send(ExecEvent::Output {
                        node: idx,
                        line: crate::safe_text::clean(l),
                    });
                }
            };
            let script = node_ops::prewarm(layout, sha, lim.prewarm_mem_kb, token);
            let out = sh(ctx, idx, script, lim.prewarm, Some(&on_line)).await?;
            if out.stdout.len() > node_ops::OUTPUT_CAP {
                return Err(Failure::Fatal(format!(
                    "prewarm: {}",
                    crate::remote::output_over(node_ops::OUTPUT_CAP)
                )));
            }
            prewarm_outcome(&out.stdout)
        }
        Phase::Probe => probe(ctx, idx).await,
        Phase::Undrain => expect_ok(
            &sh(
                ctx,
                idx,
                node_ops::undrain(layout, &ctx.rollout_id),
                lim.command,
                None,
            )
            .await?,
            "undrain",
        ),
    }
}

/// Read the prewarm's output: its exit code is on the `MESHROLL-EXIT` line.
pub fn prewarm_outcome(stdout: &[u8]) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(stdout);
    let rc = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("MESHROLL-EXIT "))
        .map(|c| c.trim().parse::<i32>().ok());
    let last = || {
        crate::safe_text::clean(
            text.lines()
                .rev()
                .find(|l| !l.starts_with("MESHROLL-EXIT"))
                .unwrap_or(""),
        )
    };
    match rc {
        Some(Some(0)) => Ok("prewarmed; skill-cache-ready touched".into()),
        Some(Some(c)) => Err(Failure::Transient(format!(
            "prewarm exited {c}: {}",
            last()
        ))),
        _ => Err(Failure::Transient(format!(
            "prewarm ended without its exit code: {}",
            last()
        ))),
    }
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

/// rsync the staged bundle over the node's existing ssh master.
async fn rsync(ctx: &RolloutCtx, idx: usize) -> Result<RsyncStats, Failure> {
    let Transport::Ssh(pool) = &ctx.poll.transport else {
        return Err(Failure::Fatal("not an ssh transport".into()));
    };
    let node = &ctx.poll.nodes[idx];
    let sock = pool.control_socket(idx).await.map_err(remote_failure)?;
    let ssh = node_ops::rsync_ssh_command(
        &sock,
        ctx.ssh_config.as_deref(),
        node.port,
        pool.options().accept_new_host_keys,
    );
    let rsync_path = as_user(node, &[node.layout.rsync_path.as_str()])
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let dest = node_ops::rsync_dest(
        node.user.as_deref(),
        &node.host,
        &format!("{}/{}/", node.layout.skills_root, ctx.bundle.skills_sha),
    );
    let mut cmd = tokio::process::Command::new("rsync");
    cmd.args([
        "-a",
        "--delete",
        "--checksum",
        "--omit-dir-times",
        "--stats",
        "--secluded-args",
    ])
    .arg("-e")
    .arg(&ssh)
    .arg("--rsync-path")
    .arg(&rsync_path)
    .arg(format!("{}/", ctx.stage_dir.display()))
    .arg(&dest)
    .stdin(std::process::Stdio::null())
    // The token travels only inside scripts on stdin, never in a child's environment.
    .env_remove("OPENCLAW_GATEWAY_TOKEN")
    .kill_on_drop(true);
    let out = match tokio::time::timeout(ctx.limits.sync, cmd.output()).await {
        Err(_) => {
            return Err(Failure::Transient(format!(
                "rsync timed out after {}s",
                ctx.limits.sync.as_secs()
            )));
        }
        Ok(Err(e)) => return Err(Failure::Fatal(format!("cannot run rsync here: {e}"))),
        Ok(Ok(o)) => o,
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => Ok(node_ops::parse_rsync_stats(&stdout)),
        code => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            let msg = crate::safe_text::clean(&format!(
                "rsync exit {}: {last}",
                code.map_or("signal".into(), |c| c.to_string())
            ));
            match code {
                Some(c) if !node_ops::rsync_transient(c) => Err(Failure::Fatal(msg)),
                _ => Err(Failure::Transient(msg)),
            }
        }
    }
}

/// Wait until the merged probe passes on its own three signals (drain set aside).
async fn probe(ctx: &RolloutCtx, idx: usize) -> Result<String, Failure> {
    let node = &ctx.poll.nodes[idx];
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
        poller::apply(&mut st, poller::poll_once(&ctx.poll, idx, &req).await);
        match verdict::judge(&st, now_ms(), &rules) {
            Some(v) if v.kind == Kind::Healthy => return Ok(format!("probe passed: {}", v.reason)),
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

/// Flip a node back to its previous target under the node lock: taken for
/// `rollout_id` (or already ours, inside a rollout) and released after.
pub async fn run_rollback(
    poll: &PollCtx,
    idx: usize,
    rollout_id: &str,
    who: &str,
    timeout: Duration,
) -> Result<String, String> {
    let pool = match &poll.transport {
        Transport::Sim(sim) => return sim.rollback(idx),
        Transport::Ssh(pool) => pool,
    };
    let node = &poll.nodes[idx];
    let argv = as_user(node, &["sh", "-s"]);
    let now_s = now_ms() / 1000;
    let script = node_ops::rollback(&node.layout, rollout_id, who, now_s);
    let out = pool
        .run_for(idx, &argv, script.as_bytes(), 64 * 1024, timeout, None)
        .await
        .map_err(|e| crate::safe_text::clean(&e.to_string()))?;
    if node_ops::locked_by_other(&out.stdout) {
        return node_ops::baseline_result(out.code, &out.stdout, now_s, &node.name)
            .map_err(|f| f.message().to_string());
    }
    expect_ok(&out, "rollback").map_err(|f| f.message().to_string())
}

/// Refresh the heartbeat of node `idx`'s lock (held by `rollout_id`).
pub async fn run_heartbeat(
    poll: &PollCtx,
    idx: usize,
    rollout_id: &str,
    timeout: Duration,
) -> Result<(), String> {
    let Transport::Ssh(pool) = &poll.transport else {
        return Ok(());
    };
    let node = &poll.nodes[idx];
    let argv = as_user(node, &["sh", "-s"]);
    let script = node_ops::heartbeat(&node.layout, rollout_id, now_ms() / 1000);
    let out = pool
        .run_for(idx, &argv, script.as_bytes(), 64 * 1024, timeout, None)
        .await
        .map_err(|e| crate::safe_text::clean(&e.to_string()))?;
    expect_ok(&out, "heartbeat")
        .map(|_| ())
        .map_err(|f| f.message().to_string())
}

/// Who holds node `idx`'s lock (`None`: nobody).
pub async fn read_lock(
    poll: &PollCtx,
    idx: usize,
    timeout: Duration,
) -> Result<Option<node_ops::LockInfo>, String> {
    let Transport::Ssh(pool) = &poll.transport else {
        return Err("not an ssh transport".into());
    };
    let node = &poll.nodes[idx];
    let argv = as_user(node, &["sh", "-s"]);
    let script = node_ops::read_lock(&node.layout);
    let out = pool
        .run_for(idx, &argv, script.as_bytes(), 64 * 1024, timeout, None)
        .await
        .map_err(|e| crate::safe_text::clean(&e.to_string()))?;
    node_ops::read_lock_result(&out.stdout)
}

/// Remove node `idx`'s lock if its owner line is still `owner_line`.
pub async fn force_unlock(
    poll: &PollCtx,
    idx: usize,
    owner_line: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let Transport::Ssh(pool) = &poll.transport else {
        return Err("not an ssh transport".into());
    };
    let node = &poll.nodes[idx];
    let argv = as_user(node, &["sh", "-s"]);
    let script = node_ops::force_unlock(&node.layout, owner_line);
    let out = pool
        .run_for(idx, &argv, script.as_bytes(), 64 * 1024, timeout, None)
        .await
        .map_err(|e| crate::safe_text::clean(&e.to_string()))?;
    expect_ok(&out, "unlock").map_err(|f| f.message().to_string())
}

/// The target of node `idx`'s `current` (`None`: there is none), read on the node.
pub async fn read_current(
    poll: &PollCtx,
    idx: usize,
    timeout: Duration,
) -> Result<Option<String>, String> {
    let Transport::Ssh(pool) = &poll.transport else {
        return Err("not an ssh transport".into());
    };
    let node = &poll.nodes[idx];
    let argv = as_user(node, &["sh", "-s"]);
    let script = node_ops::read_current(&node.layout);
    let out = pool
        .run_for(idx, &argv, script.as_bytes(), 64 * 1024, timeout, None)
        .await
        .map_err(|e| e.to_string())?;
    node_ops::read_current_result(&out.stdout)
}

/// Spawn a task for one effect; its result comes back on `tx`. Journal effects are the
/// driver's to write and are ignored here.
pub fn spawn(ctx: Arc<RolloutCtx>, effect: super::Effect, tx: UnboundedSender<ExecEvent>) {
    match effect {
        super::Effect::Run { node, phase, .. } => {
            tokio::spawn(async move {
                let r = run_phase(&ctx, node, phase, &tx).await;
                let input = match r {
                    Ok(note) => Input::PhaseDone { node, phase, note },
                    Err(failure) => Input::PhaseFailed {
                        node,
                        phase,
                        failure,
                    },
                };
                let _ = tx.send(ExecEvent::Input(input));
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
        super::Effect::Journal(_) => {}
    }
}
