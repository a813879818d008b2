//! Rollout phases on the simulated mesh: each phase changes the simulated node the way
//! the real phase changes a real one, at a watchable pace, with the demo's troubles
//! (a sync that needs retries, a copy that fails verification).

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::sim::{GatewayMode, SimMesh};
use crate::manifest::{Bundle, Lock, LockEntry, sha256_hex};
use crate::rollout::exec::{ExecEvent, doctor_outcome};
use crate::rollout::node_ops::RsyncStats;
use crate::rollout::{Failure, Phase};

/// The bundle the demo rolls out: a small synthetic skills tree.
pub fn demo_bundle() -> Bundle {
    let files: Vec<LockEntry> = ["browser-automation", "healthcheck", "taskflow", "weather"]
        .iter()
        .map(|s| {
            let body = format!("# {s}\n");
            LockEntry {
                mode: "0640".into(),
                path: format!("{s}/SKILL.md"),
                sha256: sha256_hex(body.as_bytes()),
                size: body.len() as u64,
            }
        })
        .collect();
    let skills_sha = "7d1e0c55a2b94f3e8c6d21a09b47f3e5c8d90a12".to_string();
    let lock = Lock {
        files,
        skills_sha: skills_sha.clone(),
        version: 1,
    };
    let lock_bytes = lock.to_bytes();
    Bundle {
        source: "demo".into(),
        manifest_sha256: sha256_hex(&lock_bytes),
        skills_sha,
        lock,
        lock_bytes,
    }
}

impl SimMesh {
    /// One rollout phase on node `idx`.
    pub async fn run_phase(
        &self,
        idx: usize,
        phase: Phase,
        bundle: &Bundle,
        tx: &UnboundedSender<ExecEvent>,
    ) -> Result<String, Failure> {
        let Some(ms) = self.with_node(idx, |n| n.phase_ms) else {
            return Err(Failure::Fatal(format!("no simulated node {idx}")));
        };
        let up = self.with_node(idx, |n| n.host_up).unwrap_or(false);
        if !up {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return Err(Failure::Transient(
                "ssh: connect to host port 22: No route to host".into(),
            ));
        }
        let sha = bundle.skills_sha.clone();
        let elapsed = || self.started.elapsed().as_secs() as i64;
        match phase {
            Phase::Prewarm => {
                let skills: Vec<String> =
                    bundle.lock.files.iter().map(|f| f.path.clone()).collect();
                for (i, s) in skills.iter().enumerate() {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let line = format!("prewarm [{}/{}] {s}: cache warmed", i + 1, skills.len());
                    let _ = tx.send(ExecEvent::Output { node: idx, line });
                }
                self.with_node(idx, |n| n.cache_mtime = Some(elapsed()));
                return Ok("prewarmed; skill-cache-ready touched".into());
            }
            _ => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
        self.with_node(idx, |n| match phase {
            Phase::Baseline => {
                let ready = match n.gateway {
                    GatewayMode::Ready => true,
                    GatewayMode::Flapping { period_s } => {
                        (elapsed() as u64 / period_s.max(1)).is_multiple_of(2)
                    }
                    _ => false,
                };
                if ready {
                    Ok("gateway ready; status archived".into())
                } else {
                    Err(Failure::Fatal("gateway not ready at baseline".into()))
                }
            }
            Phase::Drain => {
                n.drained = true;
                Ok("drained".into())
            }
            Phase::Sync => {
                if n.sync_failures_left > 0 {
                    n.sync_failures_left -= 1;
                    return Err(Failure::Transient(
                        "rsync exit 12: connection unexpectedly closed (simulated)".into(),
                    ));
                }
                let files = if n.current.as_deref() == Some(sha.as_str()) {
                    0
                } else {
                    bundle.lock.files.len() + 1
                };
                let stats = RsyncStats {
                    files_transferred: files as u64,
                    bytes_sent: 180 * files as u64,
                };
                let _ = tx.send(ExecEvent::Synced { node: idx, stats });
                Ok(format!("{files} file(s) transferred"))
            }
            Phase::Verify => {
                if n.corrupt_sync {
                    Err(Failure::Mismatch(format!(
                        "1 difference(s): {} sha256 differs",
                        bundle.lock.files.first().map_or("?", |f| f.path.as_str())
                    )))
                } else {
                    Ok(format!(
                        "checksum verified ({} files)",
                        bundle.lock.files.len()
                    ))
                }
            }
            Phase::Switch => {
                // As on a real node: verified again right before the rename.
                if n.corrupt_sync {
                    return Err(Failure::Mismatch(format!(
                        "verify before the switch: 1 difference(s): {} sha256 differs",
                        bundle.lock.files.first().map_or("?", |f| f.path.as_str())
                    )));
                }
                if n.current.as_deref() != Some(sha.as_str()) {
                    n.previous = n.current.take();
                    n.current = Some(sha.clone());
                    n.lock_claim = Some(sha.clone());
                }
                Ok(format!("verified; current -> {sha}"))
            }
            Phase::Doctor => {
                let stdout =
                    include_bytes!("../../tests/fixtures/openclaw-2026.9.6/doctor-lint.json")
                        .to_vec();
                let run = crate::signals::CliRun {
                    rc: 1,
                    timed_out: false,
                    bytes: stdout.len() as u64,
                    stdout,
                    stderr: vec![],
                };
                let report = crate::signals::doctor::parse(&run)
                    .map_err(|e| Failure::Fatal(e.to_string()))?;
                let _ = tx.send(ExecEvent::Doctor {
                    node: idx,
                    report: report.clone(),
                });
                doctor_outcome(&report)
            }
            Phase::Probe => {
                if n.live && n.gateway == GatewayMode::Ready {
                    Ok("probe passed: ready, live, cache fresh".into())
                } else {
                    Err(Failure::Fatal(
                        "probe did not pass: gateway not ready".into(),
                    ))
                }
            }
            Phase::Undrain => {
                n.drained = false;
                Ok("undrained".into())
            }
            Phase::Prewarm => Ok(String::new()),
        })
        .unwrap_or_else(|| Err(Failure::Fatal(format!("no simulated node {idx}"))))
    }

    /// Flip a simulated node back to its previous target.
    pub fn rollback(&self, idx: usize) -> Result<String, String> {
        self.with_node(idx, |n| match n.previous.take() {
            Some(prev) => {
                let cur = n.current.replace(prev.clone());
                n.lock_claim = Some(prev.clone());
                n.previous = cur;
                Ok(format!("current -> {prev}"))
            }
            None => Err("no previous target".into()),
        })
        .unwrap_or_else(|| Err(format!("no simulated node {idx}")))
    }
}
