//! The simulated mesh as [`Nodes`]: each operation does to the simulated node
//! what its script does to a real one, at a watchable pace, and prints what the script
//! prints, so the rollout reads the answer with the same code as a real node's. The
//! demo's troubles come from the nodes' state: a sync that needs retries, a copy that
//! arrives corrupted, a host that is down, a gateway that is not ready.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use sha2::Digest;

use super::ops::NodeOp;
use super::sim::{DOCTOR, SimFile, SimLock, SimMesh, SimNode};
use super::transport::{Nodes, RunLimits, SyncError, SyncTree};
use super::{PollFailure, PollRequest, RemoteError, RemoteOutput};
use crate::inventory::Node;
use crate::manifest::{FILE_MODE, LOCK_NAME, sha256_hex};
use crate::signals::RawPoll;

/// What a real node that is off says.
const NO_ROUTE: &str = "ssh: connect to host port 22: No route to host";

impl Nodes for SimMesh {
    fn poll<'a>(
        &'a self,
        idx: usize,
        _node: &'a Node,
        req: &'a PollRequest,
        _token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RawPoll, PollFailure>> {
        SimMesh::poll(self, idx, req).boxed()
    }

    fn run<'a>(
        &'a self,
        idx: usize,
        _node: &'a Node,
        op: &'a NodeOp,
        _token: Option<&'a str>,
        limits: RunLimits<'a>,
    ) -> BoxFuture<'a, Result<RemoteOutput, RemoteError>> {
        self.run_op(idx, op, limits).boxed()
    }

    fn sync<'a>(
        &'a self,
        idx: usize,
        _node: &'a Node,
        tree: SyncTree<'a>,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<RemoteOutput, SyncError>> {
        self.copy(idx, tree).boxed()
    }

    fn open(&self, _idx: usize) -> BoxFuture<'_, Result<(), RemoteError>> {
        futures::future::ready(Ok(())).boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        futures::future::ready(()).boxed()
    }

    fn copies_staged_files(&self) -> bool {
        false
    }

    fn outlives_the_process(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn output(code: i32, stdout: String) -> RemoteOutput {
    RemoteOutput {
        code: Some(code),
        stdout: stdout.into_bytes(),
        stderr: Vec::new(),
    }
}

impl SimMesh {
    /// Wait as long as the step takes on node `idx`; a node that is off answers as ssh
    /// does.
    async fn reach(&self, idx: usize, long: bool) -> Result<(), RemoteError> {
        let Some((up, ms)) = self.with_node(idx, |n| {
            (n.host_up, if long { n.phase_ms } else { n.latency_ms })
        }) else {
            return Err(RemoteError::Exec(format!("no simulated node {idx}")));
        };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if up {
            Ok(())
        } else {
            Err(RemoteError::Connect(NO_ROUTE.into()))
        }
    }

    async fn run_op(
        &self,
        idx: usize,
        op: &NodeOp,
        limits: RunLimits<'_>,
    ) -> Result<RemoteOutput, RemoteError> {
        // A simulated node has no login shell: the login PATH given or asked for changes
        // nothing.
        let op = op.inner();
        // Reading or refreshing a file takes a round trip; the phases' real work longer.
        let long = !matches!(
            op,
            NodeOp::Heartbeat { .. }
                | NodeOp::ReadLock
                | NodeOp::ForceUnlock { .. }
                | NodeOp::Release { .. }
                | NodeOp::PrepareSync { .. }
                | NodeOp::ReadCurrent
                | NodeOp::RsyncProbe
                | NodeOp::Prewarm { .. }
        );
        self.reach(idx, long).await?;
        let out = match op {
            NodeOp::Prewarm { sha, .. } => self.prewarm(idx, sha, limits).await?,
            op => {
                let elapsed = self.started.elapsed().as_secs();
                self.with_node(idx, |n| self.answer(n, op, elapsed))
                    .ok_or_else(|| RemoteError::Exec(format!("no simulated node {idx}")))?
            }
        };
        if out.stdout.len() > limits.cap {
            return Err(RemoteError::OutputTooLarge(limits.cap));
        }
        Ok(out)
    }

    /// What node `n` does and prints for `op` (all but prewarm, which streams): one
    /// function per operation, as in [`super::ops::script`].
    fn answer(&self, n: &mut SimNode, op: &NodeOp, elapsed_s: u64) -> RemoteOutput {
        match op {
            NodeOp::Baseline {
                rollout_id,
                who,
                now_s,
            } => self.baseline(n, rollout_id, who, *now_s, elapsed_s),
            NodeOp::Heartbeat { rollout_id, now_s } => heartbeat(n, rollout_id, *now_s),
            NodeOp::ReadLock => read_lock(n),
            NodeOp::ForceUnlock { expected_owner } => force_unlock(n, expected_owner.as_deref()),
            NodeOp::Release { rollout_id } => {
                release(n, rollout_id);
                output(0, String::new())
            }
            NodeOp::Drain => drain(n),
            NodeOp::Undrain { rollout_id } => undrain(n, rollout_id),
            NodeOp::PrepareSync { sha } => prepare_sync(n, sha),
            NodeOp::Verify { sha } => verify(n, sha),
            NodeOp::Switch { sha, want } => switch(n, sha, want),
            NodeOp::ReadCurrent => read_current(n),
            // The simulated mesh's copy is not rsync: no probe line, the default options.
            NodeOp::RsyncProbe => output(0, String::new()),
            NodeOp::Rollback {
                rollout_id,
                who,
                now_s,
            } => rollback(n, rollout_id, who, *now_s),
            NodeOp::Doctor => output(1, DOCTOR.to_string()),
            // Streamed by [`SimMesh::prewarm`] instead; a caller that gets here anyway
            // sees the prewarm fail.
            NodeOp::Prewarm { .. } => output(1, "MESHROLL-EXIT 1\n".into()),
            NodeOp::Then { first, then } => {
                let a = self.answer(n, first, elapsed_s);
                if a.code != Some(0) {
                    return a;
                }
                let b = self.answer(n, then, elapsed_s);
                let mut stdout = a.stdout;
                stdout.extend_from_slice(format!("\n{}\n", super::ops::THEN_MARK).as_bytes());
                stdout.extend_from_slice(&b.stdout);
                RemoteOutput { stdout, ..b }
            }
            NodeOp::GatewayRestart => output(
                0,
                "Restarted LaunchAgent: gui/501/ai.openclaw.gateway (simulated)\n".into(),
            ),
            NodeOp::Logs { lines, .. } => output(
                0,
                (1..=(*lines).min(3))
                    .map(|i| format!("{elapsed_s}s gateway: simulated log line {i}\n"))
                    .collect(),
            ),
            NodeOp::Command { argv } => output(
                0,
                format!("simulated node: would run {} word(s)\n", argv.len()),
            ),
            NodeOp::LoginPath { op, .. } => self.answer(n, op, elapsed_s),
        }
    }

    /// Take the lock for `rollout_id` (or find it ours), then print the gateway status as
    /// it is `elapsed_s` after the mesh started.
    fn baseline(
        &self,
        n: &mut SimNode,
        rollout_id: &str,
        who: &str,
        now_s: u64,
        elapsed_s: u64,
    ) -> RemoteOutput {
        if let Err(refusal) = take_lock(n, rollout_id, who, now_s) {
            return refusal;
        }
        let status = self.gateway_run(n, elapsed_s);
        RemoteOutput {
            code: Some(0),
            stdout: status.stdout,
            stderr: Vec::new(),
        }
    }

    /// The prewarm: a line per skill of the bundle, at the node's pace, then the cache
    /// marked ready.
    async fn prewarm(
        &self,
        idx: usize,
        sha: &str,
        limits: RunLimits<'_>,
    ) -> Result<RemoteOutput, RemoteError> {
        let (ms, skills) = self
            .with_node(idx, |n| {
                let skills: Vec<String> = match n.bundles.get(sha) {
                    Some(files) => files
                        .iter()
                        .filter(|f| f.path != LOCK_NAME)
                        .map(|f| f.path.clone())
                        .collect(),
                    // A bundle an earlier run copied: warmed as one piece.
                    None => vec![sha.to_string()],
                };
                (n.phase_ms, skills)
            })
            .ok_or_else(|| RemoteError::Exec(format!("no simulated node {idx}")))?;
        let mut stdout = String::new();
        let mut say = |line: String| {
            if let Some(f) = limits.on_line {
                f(&line);
            }
            stdout.push_str(&line);
            stdout.push('\n');
        };
        for (i, s) in skills.iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            say(format!(
                "prewarm [{}/{}] {s}: cache warmed",
                i + 1,
                skills.len()
            ));
        }
        let elapsed = self.started.elapsed().as_secs() as i64;
        self.with_node(idx, |n| n.cache_mtime = Some(elapsed));
        say("MESHROLL-EXIT 0".into());
        Ok(output(0, stdout))
    }

    /// The copy: the bundle's files land in its directory (one of them corrupted on a
    /// node whose copies arrive so); a node whose syncs fail drops the connection.
    async fn copy(&self, idx: usize, tree: SyncTree<'_>) -> Result<RemoteOutput, SyncError> {
        self.reach(idx, true).await.map_err(SyncError::Remote)?;
        let bundle = tree.bundle;
        let mut files: Vec<SimFile> = bundle
            .lock
            .files
            .iter()
            .map(|f| SimFile {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
                mode: f.mode.clone(),
            })
            .collect();
        files.push(SimFile {
            path: LOCK_NAME.into(),
            sha256: bundle.manifest_sha256.clone(),
            mode: format!("{FILE_MODE:o}"),
        });
        self.with_node(idx, |n| {
            if n.sync_failures_left > 0 {
                n.sync_failures_left -= 1;
                return RemoteOutput {
                    code: Some(12),
                    stdout: Vec::new(),
                    stderr: b"rsync: connection unexpectedly closed (simulated)\n".to_vec(),
                };
            }
            if n.corrupt_sync
                && let Some(f) = files.first_mut()
            {
                f.sha256 = sha256_hex(b"corrupted in transit");
            }
            let had = n.bundles.remove(&bundle.skills_sha).unwrap_or_default();
            let sent = files.iter().filter(|f| !had.contains(f)).count() as u64;
            n.bundles.insert(bundle.skills_sha.clone(), files);
            output(
                0,
                format!(
                    "Number of regular files transferred: {sent}\nTotal bytes sent: {}\n",
                    180 * sent
                ),
            )
        })
        .ok_or_else(|| SyncError::Remote(RemoteError::Exec(format!("no simulated node {idx}"))))
    }
}

// The rollout lock (taken by `baseline` and `rollback`, see [`take_lock`]).

/// Refresh the lock's heartbeat if `rollout_id` holds it.
fn heartbeat(n: &mut SimNode, rollout_id: &str, now_s: u64) -> RemoteOutput {
    match &mut n.rollout_lock {
        Some(l) if ours(l, rollout_id) => {
            l.heartbeat_s = now_s;
            output(0, "ok\n".into())
        }
        _ => output(0, "MESHROLL-ERR not our lock\n".into()),
    }
}

/// Who holds the lock, and its last heartbeat.
fn read_lock(n: &SimNode) -> RemoteOutput {
    let body = n.rollout_lock.as_ref().map_or(String::new(), |l| {
        format!("owner {}\nheartbeat {}\n", l.owner, l.heartbeat_s)
    });
    output(0, format!("MESHROLL-LOCK\n{body}MESHROLL-END\n"))
}

/// Remove the lock, unless its owner is no longer `expected_owner` (when given).
fn force_unlock(n: &mut SimNode, expected_owner: Option<&str>) -> RemoteOutput {
    match &n.rollout_lock {
        None => output(0, "no lock\n".into()),
        Some(l) if expected_owner.is_some_and(|o| o != l.owner) => output(
            3,
            format!(
                "MESHROLL-ERR the lock changed hands meanwhile: {}\n",
                l.owner
            ),
        ),
        Some(_) => {
            n.rollout_lock = None;
            output(0, "lock removed\n".into())
        }
    }
}

// Traffic.

/// Take the node out of traffic.
fn drain(n: &mut SimNode) -> RemoteOutput {
    n.drained = true;
    output(0, String::new())
}

/// Put the node back in traffic, then give the lock back if `rollout_id` holds it.
fn undrain(n: &mut SimNode, rollout_id: &str) -> RemoteOutput {
    n.drained = false;
    release(n, rollout_id);
    output(0, String::new())
}

// The bundle: its directory before the copy, and its listing after.

/// Make the bundle's directory (empty until the copy) if it is not there.
fn prepare_sync(n: &mut SimNode, sha: &str) -> RemoteOutput {
    n.bundles.entry(sha.to_string()).or_default();
    output(0, String::new())
}

/// List every file of the bundle with its sha256 and mode, or say it is missing.
fn verify(n: &SimNode, sha: &str) -> RemoteOutput {
    match n.bundles.get(sha) {
        None => output(0, "MESHROLL-MISSING\n".into()),
        Some(files) => output(0, listing(files).0),
    }
}

// The `current` link: switch, read, roll back.

/// List the bundle again and point `current` at it only if the listing's digest is
/// `want`; the old target becomes `previous`.
fn switch(n: &mut SimNode, sha: &str, want: &str) -> RemoteOutput {
    let Some(files) = n.bundles.get(sha) else {
        return output(3, format!("MESHROLL-ERR no bundle {sha}\n"));
    };
    let (list, digest) = listing(files);
    if digest != want {
        return output(6, format!("MESHROLL-MISMATCH\n{list}"));
    }
    let old = n.current.clone();
    if old.as_deref() == Some(sha) {
        return output(0, "verified; already current\n".into());
    }
    n.previous = old.clone();
    n.current = Some(sha.to_string());
    n.lock_claim = Some(sha.to_string());
    output(
        0,
        format!(
            "verified; current -> {sha} (previous {})\n",
            old.as_deref().unwrap_or("none")
        ),
    )
}

/// The target of `current` (empty if none).
fn read_current(n: &SimNode) -> RemoteOutput {
    output(
        0,
        format!(
            "MESHROLL-CURRENT\n{}\nMESHROLL-END\n",
            n.current.as_deref().unwrap_or("")
        ),
    )
}

/// Under the lock, point `current` back at `previous` (which becomes the old target),
/// then give the lock back.
fn rollback(n: &mut SimNode, rollout_id: &str, who: &str, now_s: u64) -> RemoteOutput {
    if let Err(refusal) = take_lock(n, rollout_id, who, now_s) {
        return refusal;
    }
    let out = match n.previous.take() {
        None => output(3, "MESHROLL-ERR no previous target\n".into()),
        Some(prev) => {
            let cur = n.current.replace(prev.clone());
            n.lock_claim = Some(prev.clone());
            let was = cur.as_deref().unwrap_or("none").to_string();
            n.previous = cur;
            output(0, format!("current -> {prev} (was {was})\n"))
        }
    };
    release(n, rollout_id);
    out
}

/// Whether `l` is held by `rollout_id` (its owner line starts with the id).
fn ours(l: &SimLock, rollout_id: &str) -> bool {
    l.owner.starts_with(&format!("{rollout_id} "))
}

/// Take the lock for `rollout_id` (or find it ours and refresh it), or the refusal the
/// script prints (exit 4).
fn take_lock(n: &mut SimNode, rollout_id: &str, who: &str, now_s: u64) -> Result<(), RemoteOutput> {
    match &mut n.rollout_lock {
        None => {
            n.rollout_lock = Some(SimLock {
                owner: format!("{rollout_id} {who} {now_s}"),
                heartbeat_s: now_s,
            });
            Ok(())
        }
        Some(l) if ours(l, rollout_id) => {
            l.heartbeat_s = now_s;
            Ok(())
        }
        Some(l) => Err(output(
            4,
            format!(
                "MESHROLL-LOCKED {}\nMESHROLL-HEARTBEAT {}\n",
                l.owner, l.heartbeat_s
            ),
        )),
    }
}

fn release(n: &mut SimNode, rollout_id: &str) {
    if n.rollout_lock.as_ref().is_some_and(|l| ours(l, rollout_id)) {
        n.rollout_lock = None;
    }
}

/// A bundle directory as the verify script lists it (no odd entries, hashes then modes,
/// each sorted bytewise), and the digest the switch script compares: the sha256 of the
/// three lists.
fn listing(files: &[SimFile]) -> (String, String) {
    let mode = |m: &str| {
        let t = m.trim_start_matches('0');
        if t.is_empty() { "0" } else { t }.to_string()
    };
    // `LC_ALL=C sort` compares lines bytewise, without their newline.
    let sorted = |mut lines: Vec<String>| {
        lines.sort();
        lines.iter().map(|l| format!("{l}\n")).collect::<String>()
    };
    let hashes = sorted(
        files
            .iter()
            .map(|f| format!("{}  ./{}", f.sha256, f.path))
            .collect(),
    );
    let modes = sorted(
        files
            .iter()
            .map(|f| format!("{} ./{}", mode(&f.mode), f.path))
            .collect(),
    );
    let digest = sha2::Sha256::digest(format!("{hashes}{modes}").as_bytes());
    let digest = digest.iter().map(|b| format!("{b:02x}")).collect();
    (
        format!("MESHROLL-ODD\nMESHROLL-HASHES\n{hashes}MESHROLL-MODES\n{modes}MESHROLL-END\n"),
        digest,
    )
}
