//! Carrying an action out on one node: its operation over the node's master (the same
//! [`crate::remote::Nodes`] the rollout uses, so real nodes and the simulated mesh
//! answer alike), or its command here; then one audit record. Used by the dashboard's
//! event loop and by the headless commands alike. Every line a node prints passes the
//! one sanitiser and redactor ([`crate::safe_text`]) before it goes anywhere.

use std::path::PathBuf;
use std::time::Duration;

use super::audit::{self, Record};
use super::{NodeAction, Runs};
use crate::inventory::NodeId;
use crate::observe::{Millis, now_ms};
use crate::poller::PollCtx;
use crate::remote::ops::{ALIVE, OUTPUT_CAP};
use crate::remote::{NodeOp, RemoteOutput};
use crate::rollout::node_ops::LockInfo;
use crate::rollout::steps;
use crate::safe_text::{clean, clean_capped};

/// A followed log ends after this much output (it is read line by line; the pane
/// keeps the last lines only).
pub const FOLLOW_CAP: usize = 64 * 1024 * 1024;
/// A followed log ends after this long at the latest.
pub const FOLLOW_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Lines of one action's output kept for a pane or printed headless.
pub const MAX_LINES: usize = 5000;
/// Characters of one line kept.
pub const LINE_CAP: usize = 1000;

/// Who runs actions, from where, for how long, and where they are recorded.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// `user@host/pidN`.
    pub who: String,
    /// This machine's host name (a lock naming it and a dead pid is ours to release).
    pub host: String,
    /// Limit for one action on one node (a followed log has [`FOLLOW_LIMIT`]).
    pub timeout: Duration,
    /// The audit log; `None` records nothing (tests of the pure parts).
    pub audit: Option<PathBuf>,
}

/// How an action ended on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport {
    pub node: NodeId,
    pub ok: bool,
    pub exit: Option<i32>,
    /// One line: what it did or why it failed (cleaned).
    pub note: String,
    /// Its output, line by line, cleaned (a followed log's went to `on_line`).
    pub lines: Vec<String>,
    pub started: Millis,
    pub duration_ms: u64,
}

/// Run `action` on node `id` and record it in the audit log. Each output line of a
/// followed log goes to `on_line` as it comes, cleaned.
pub async fn run_on(
    poll: &PollCtx,
    action: &NodeAction,
    id: NodeId,
    env: &RunEnv,
    on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
) -> ActionReport {
    let started = now_ms();
    let t0 = std::time::Instant::now();
    let (ok, exit, note, lines) = match run_inner(poll, action, id, env, on_line).await {
        Ok(r) => r,
        Err(e) => (false, None, clean(&e), Vec::new()),
    };
    let out = ActionReport {
        node: id,
        ok,
        exit,
        note,
        lines,
        started,
        duration_ms: t0.elapsed().as_millis() as u64,
    };
    record(poll, action, env, &out);
    out
}

/// Append the audit record of `out` (a failure to write it is logged, not fatal).
pub fn record(poll: &PollCtx, action: &NodeAction, env: &RunEnv, out: &ActionReport) {
    let Some(path) = &env.audit else { return };
    let Some(node) = poll.nodes.get(out.node) else {
        return;
    };
    let rec = Record {
        ts: out.started,
        who: env.who.clone(),
        host: env.host.clone(),
        action: action.name.clone(),
        node: node.name.clone(),
        command: clean_capped(&action.command_text(node), 400),
        exit: out.exit,
        ok: out.ok,
        duration_ms: out.duration_ms,
        note: clean_capped(&out.note, 400),
    };
    if let Err(e) = audit::append(path, &rec) {
        tracing::warn!(path = %path.display(), error = %e, "cannot append to the audit log");
    }
}

type Done = (bool, Option<i32>, String, Vec<String>);

async fn run_inner(
    poll: &PollCtx,
    action: &NodeAction,
    id: NodeId,
    env: &RunEnv,
    on_line: Option<&(dyn Fn(&str) + Send + Sync)>,
) -> Result<Done, String> {
    let node = poll.nodes.get(id).ok_or_else(|| format!("no node {id}"))?;
    match &action.runs {
        Runs::Undrain => undrain(poll, id, env).await,
        Runs::Local(t) => {
            let argv = super::expand(t, node).map_err(|e| e.to_string())?;
            local(&argv, env.timeout).await
        }
        Runs::Shell => Err("a shell runs in a terminal (meshroll ssh NODE)".into()),
        Runs::Follow { .. } => {
            let op = action
                .node_op(node)
                .map_err(|e| e.to_string())?
                .ok_or("no operation")?;
            let forward = |l: &str| {
                if l != ALIVE
                    && let Some(f) = on_line
                {
                    f(&clean_capped(l, LINE_CAP));
                }
            };
            let out = poll
                .run(id, &op, FOLLOW_CAP, FOLLOW_LIMIT, Some(&forward))
                .await
                .map_err(said)?;
            let ok = out.code == Some(0);
            Ok((
                ok,
                out.code,
                format!("the log ended (exit {})", code_word(out.code)),
                Vec::new(),
            ))
        }
        Runs::Drain | Runs::Restart | Runs::Logs { .. } | Runs::Remote(_) => {
            let op = action
                .node_op(node)
                .map_err(|e| e.to_string())?
                .ok_or("no operation")?;
            let out = poll
                .run(id, &op, OUTPUT_CAP, env.timeout, None)
                .await
                .map_err(said)?;
            let lines = lines_of(&out);
            let ok = out.code == Some(0);
            let quiet = match (&action.runs, &node.layout.drain_cmd) {
                (Runs::Drain, None) => "drain flag set",
                (Runs::Drain, Some(_)) => "drain command ran",
                (Runs::Restart, _) => "gateway restarted",
                _ => "done",
            };
            let note = if ok {
                lines
                    .iter()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .filter(|_| !matches!(action.runs, Runs::Logs { .. }))
                    .cloned()
                    .unwrap_or_else(|| match action.runs {
                        Runs::Logs { .. } => format!("{} line(s)", lines.len()),
                        _ => quiet.to_string(),
                    })
            } else {
                format!(
                    "exited {}: {}",
                    code_word(out.code),
                    crate::signals::excerpt(if out.stdout.is_empty() {
                        &out.stderr
                    } else {
                        &out.stdout
                    })
                )
            };
            Ok((ok, out.code, note, lines))
        }
    }
}

fn code_word(c: Option<i32>) -> String {
    c.map_or("on a signal".into(), |c| c.to_string())
}

/// Why a node could not be reached, as the operator reads it.
fn said(e: crate::remote::RemoteError) -> String {
    clean(&e.to_string())
}

/// stdout then stderr, line by line, cleaned, at most [`MAX_LINES`].
fn lines_of(out: &RemoteOutput) -> Vec<String> {
    let mut v =
        crate::safe_text::clean_lines(&String::from_utf8_lossy(&out.stdout), LINE_CAP, MAX_LINES);
    if !out.stderr.is_empty() {
        v.extend(crate::safe_text::clean_lines(
            &String::from_utf8_lossy(&out.stderr),
            LINE_CAP,
            MAX_LINES,
        ));
    }
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

/// Undrain: the layout's command or the drain flag, as the rollout's undrain; a lock
/// that this host's rollout left and whose process is gone is shown, then released in
/// the same script (only that rollout's lock: the script checks its id). Any other lock
/// is shown and left.
async fn undrain(poll: &PollCtx, id: NodeId, env: &RunEnv) -> Result<Done, String> {
    let name = poll.nodes.get(id).map_or("?", |n| n.name.as_str());
    let mut lines = Vec::new();
    let lock = steps::read_lock(poll, id, env.timeout)
        .await
        .map_err(|e| e.to_string())?;
    let now_s = now_ms() / 1000;
    let release = match &lock {
        Some(info) if left_by_dead_rollout_here(info, &env.host) => {
            lines.push(format!(
                "lock left by this host's dead rollout: {} (pid not running): releasing it",
                info.describe(now_s)
            ));
            Some(info.rollout_id.clone())
        }
        Some(info) => {
            lines.push(format!(
                "lock held: {}: left in place (if that rollout is gone: meshroll unlock --node {})",
                info.describe(now_s),
                clean(name)
            ));
            None
        }
        None => None,
    };
    // An id no rollout has: nothing but the dead rollout's lock is ever released.
    let rollout_id = release.clone().unwrap_or_else(|| "-".into());
    let out = poll
        .run(
            id,
            &NodeOp::Undrain { rollout_id },
            OUTPUT_CAP,
            env.timeout,
            None,
        )
        .await
        .map_err(said)?;
    lines.extend(lines_of(&out));
    let ok = out.code == Some(0);
    let node = poll.nodes.get(id);
    let did = match node.and_then(|n| n.layout.undrain_cmd.as_ref()) {
        Some(_) => "undrain command ran",
        None => "drain flag cleared",
    };
    let note = if !ok {
        format!(
            "undrain exited {}: {}",
            code_word(out.code),
            crate::signals::excerpt(&out.stdout)
        )
    } else if release.is_some() {
        format!("{did}, dead rollout's lock released")
    } else {
        did.to_string()
    };
    Ok((ok, out.code, note, lines))
}

/// Whether `info` names this host and a process that is no longer running
/// ([`crate::lock_owner`], the check `locks` and `unlock` make).
pub fn left_by_dead_rollout_here(info: &LockInfo, host: &str) -> bool {
    let (_, lock_host, _) = info.parts();
    crate::lock_owner::gone_here(&lock_host, info.pid(), host)
}

/// A local command (no shell): its output and exit code within `timeout`.
async fn local(argv: &[String], timeout: Duration) -> Result<Done, String> {
    let (prog, args) = argv.split_first().ok_or("empty command")?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => return Err(format!("timed out after {}s", timeout.as_secs())),
        Ok(Err(e)) => return Err(format!("cannot run {}: {e}", clean(prog))),
        Ok(Ok(o)) => o,
    };
    let r = RemoteOutput {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    };
    let lines = lines_of(&r);
    let ok = r.code == Some(0);
    let note = if ok {
        lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "done".into())
    } else {
        format!("exited {}", code_word(r.code))
    };
    Ok((ok, r.code, note, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_pid_is_alive_and_a_lock_naming_it_is_not_dead() {
        let info = LockInfo {
            owner_line: String::new(),
            rollout_id: "r-1".into(),
            who: format!("ops@h1/pid{}", std::process::id()),
            taken_s: None,
            heartbeat_s: None,
        };
        assert!(!left_by_dead_rollout_here(&info, "h1"));
        let dead = LockInfo {
            who: "ops@h1/pid1999999999".into(),
            ..info
        };
        assert!(left_by_dead_rollout_here(&dead, "h1"));
        assert!(!left_by_dead_rollout_here(&dead, "h2"), "another host's");
    }
}
