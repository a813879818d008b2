//! A simulated mesh, in-process, for `meshroll demo`: no SSH, no setup.
//!
//! It is a simulator, not a fake of our own parser: each node answers a poll with a
//! [`RawPoll`] whose gateway output is the real CLI's JSON (the shared fixture, with
//! the build and versions edited), so the demo exercises the same parsing, verdict
//! and skew code as real nodes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{PollFailure, PollRequest, RemoteError};
use crate::inventory::{Inventory, Layout, Node};
use crate::signals::{CliRun, Disk, LockSeen, RawPoll, SignalError};

const READY: &str =
    include_str!("../../tests/fixtures/openclaw-2026.9.6/gateway-status.ready.json");
const UNREACHABLE: &str =
    include_str!("../../tests/fixtures/openclaw-2026.9.6/gateway-status.unreachable.json");
const DOCTOR: &str = include_str!("../../tests/fixtures/openclaw-2026.9.6/doctor-lint.json");

/// The bundle most of the demo fleet runs, and an older one.
pub const DEMO_SHA: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
pub const OLD_SHA: &str = "9f2c1e07d3a4b5c6d7e8f90a1b2c3d4e5f607182";
pub const BUILD: &str = "2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z";
const OLD_BUILD: &str = "2026.9.5-release-1d2e3f4a5b6c-2026-09-02T09-12-44.020Z";

/// How a simulated gateway answers `gateway status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayMode {
    Ready,
    Unreachable,
    AuthRejected,
    /// Ready for `period` seconds, then unreachable for `period` seconds, and so on.
    Flapping {
        period_s: u64,
    },
}

/// One simulated node; the fields are the node's files and processes.
#[derive(Debug, Clone)]
pub struct SimNode {
    pub host_up: bool,
    pub gateway: GatewayMode,
    pub build: String,
    pub cli_version: String,
    pub daemon_version: String,
    /// Target of `current`.
    pub current: Option<String>,
    /// The `skills_sha` its lock file claims; `None` = no lock file.
    pub lock_claim: Option<String>,
    /// mtime of `skill-cache-ready`, in seconds relative to the mesh's start
    /// (negative: before it); `None` = cold.
    pub cache_mtime: Option<i64>,
    /// Target `current` pointed at before the last switch.
    pub previous: Option<String>,
    /// The next this many syncs fail with a transient rsync error.
    pub sync_failures_left: u32,
    /// The copy arrives corrupted: verify finds a mismatch.
    pub corrupt_sync: bool,
    /// Milliseconds a rollout phase takes here.
    pub phase_ms: u64,
    pub drained: bool,
    pub live: bool,
    pub disk_used_pct: u8,
    /// Round-trip latency.
    pub latency_ms: u64,
}

impl SimNode {
    fn healthy(latency_ms: u64) -> Self {
        SimNode {
            host_up: true,
            gateway: GatewayMode::Ready,
            build: BUILD.into(),
            cli_version: "2026.9.6".into(),
            daemon_version: "2026.9.6".into(),
            current: Some(DEMO_SHA.into()),
            lock_claim: Some(DEMO_SHA.into()),
            cache_mtime: Some(-((600 + latency_ms * 7) as i64)),
            previous: None,
            sync_failures_left: 0,
            corrupt_sync: false,
            phase_ms: 300 + latency_ms * 4,
            drained: false,
            live: true,
            disk_used_pct: 41,
            latency_ms,
        }
    }
}

/// The simulated mesh.
pub struct SimMesh {
    nodes: Vec<Mutex<SimNode>>,
    pub(crate) started: Instant,
    /// Seconds since the epoch when the mesh started (the nodes' clock).
    epoch_s: i64,
}

fn demo_node(name: &str, class: &str) -> Node {
    Node {
        name: name.into(),
        host: format!("{name}.mesh.internal"),
        port: None,
        user: None,
        class: class.into(),
        labels: vec!["sim".into()],
        layout: Layout::default(),
    }
}

impl SimMesh {
    pub fn new(nodes: Vec<SimNode>) -> Self {
        let epoch_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        SimMesh {
            nodes: nodes.into_iter().map(Mutex::new).collect(),
            started: Instant::now(),
            epoch_s,
        }
    }

    /// The built-in demo: 6 gateways and 20 workers with one of each trouble.
    pub fn demo() -> (Inventory, SimMesh) {
        let mut nodes = Vec::new();
        let mut sims = Vec::new();
        for i in 1..=6 {
            nodes.push(demo_node(&format!("mac-g{i:02}"), "gateway"));
            sims.push(SimNode::healthy(20 + i * 9));
        }
        for i in 1..=20 {
            nodes.push(demo_node(&format!("mac-w{i:02}"), "worker"));
            sims.push(SimNode::healthy(30 + (i * 13) % 90));
        }
        let idx = |name: &str| {
            nodes
                .iter()
                .position(|n: &Node| n.name == name)
                .unwrap_or(0)
        };
        // A gateway whose daemon lags the CLI: version and build skew.
        let g = &mut sims[idx("mac-g02")];
        g.daemon_version = "2026.9.5".into();
        g.build = OLD_BUILD.into();
        // A gateway that flaps.
        sims[idx("mac-g04")].gateway = GatewayMode::Flapping { period_s: 12 };
        // Drained by the operator.
        sims[idx("mac-w03")].drained = true;
        // Still on the old bundle.
        let w = &mut sims[idx("mac-w07")];
        w.current = Some(OLD_SHA.into());
        w.lock_claim = Some(OLD_SHA.into());
        // Rejects our credentials.
        sims[idx("mac-w09")].gateway = GatewayMode::AuthRejected;
        // Cold cache: just deployed, never prewarmed.
        sims[idx("mac-w11")].cache_mtime = None;
        // Lock file disagrees with its directory: a split-brain hand copy.
        sims[idx("mac-w12")].lock_claim = Some(OLD_SHA.into());
        // Stale cache: prewarmed three hours ago.
        sims[idx("mac-w14")].cache_mtime = Some(-(3 * 3600 + 120));
        // In a rollout: a node whose sync fails twice before it lands, and one whose
        // copy arrives corrupted (verify fails, no retry, the rollout halts).
        sims[idx("mac-w05")].sync_failures_left = 2;
        // The first canary's first sync fails too, so a retry shows within a few steps.
        sims[idx("mac-g01")].sync_failures_left = 1;
        sims[idx("mac-w16")].corrupt_sync = true;
        // Powered off.
        sims[idx("mac-w17")].host_up = false;
        // Disk pressure on the cache volume.
        sims[idx("mac-w19")].disk_used_pct = 96;
        // A hand deploy without a lock file.
        sims[idx("mac-w20")].lock_claim = None;
        let inv = Inventory {
            classes: vec!["gateway".into(), "worker".into()],
            nodes,
        };
        (inv, SimMesh::new(sims))
    }

    /// Change a node (the rollout simulator and tests use this).
    pub fn with_node<R>(&self, idx: usize, f: impl FnOnce(&mut SimNode) -> R) -> Option<R> {
        let mut g = self.nodes.get(idx)?.lock().ok()?;
        Some(f(&mut g))
    }

    fn snapshot(&self, idx: usize) -> Option<SimNode> {
        self.nodes.get(idx)?.lock().ok().map(|g| g.clone())
    }

    /// One poll of node `idx`, shaped exactly like a real node's.
    pub async fn poll(&self, idx: usize, req: &PollRequest) -> Result<RawPoll, PollFailure> {
        let node = self.snapshot(idx).ok_or_else(|| {
            PollFailure::Remote(RemoteError::Exec(format!("no simulated node {idx}")))
        })?;
        tokio::time::sleep(Duration::from_millis(node.latency_ms)).await;
        if !node.host_up {
            return Err(PollFailure::Remote(RemoteError::Connect(
                "ssh: connect to host port 22: No route to host".into(),
            )));
        }
        let elapsed = self.started.elapsed().as_secs();
        let now = self.epoch_s + elapsed as i64;
        let gateway = req.gateway.then(|| gateway_run(&node, elapsed));
        let doctor = req.doctor.then(|| CliRun {
            rc: 1,
            timed_out: false,
            bytes: DOCTOR.len() as u64,
            stdout: DOCTOR.as_bytes().to_vec(),
            stderr: Vec::new(),
        });
        let avail_kb = 500_000_000u64 * (100 - u64::from(node.disk_used_pct)) / 100;
        Ok(RawPoll {
            node_now: now,
            gateway,
            doctor,
            current: node.current.clone(),
            current_not_link: false,
            bundle_dir: node.current.is_some(),
            lock: node.lock_claim.as_ref().map(|c| LockSeen {
                sha256: format!("{:0>64}", &c[..c.len().min(16)]),
                claim: c.clone(),
            }),
            cache_mtime: node.cache_mtime.map(|m| self.epoch_s + m),
            drain: node.drained,
            live_rc: if node.live { 0 } else { 22 },
            live_code: Some(if node.live { 200 } else { 503 }),
            ready: None,
            disk: Ok::<Disk, SignalError>(Disk {
                avail_kb,
                used_pct: node.disk_used_pct,
                inodes_free: Some(1_000_000),
                inodes_used_pct: Some(node.disk_used_pct / 2),
            }),
        })
    }
}

fn gateway_run(node: &SimNode, elapsed_s: u64) -> CliRun {
    let mode = match node.gateway {
        GatewayMode::Flapping { period_s } if (elapsed_s / period_s.max(1)) % 2 == 1 => {
            GatewayMode::Unreachable
        }
        GatewayMode::Flapping { .. } => GatewayMode::Ready,
        m => m,
    };
    let text = match mode {
        GatewayMode::Ready => edit(READY, |v| {
            set(v, &["rpc", "server", "buildId"], &node.build);
            set(v, &["rpc", "server", "version"], &node.daemon_version);
            set(v, &["cli", "version"], &node.cli_version);
        }),
        GatewayMode::AuthRejected => edit(UNREACHABLE, |v| {
            set(
                v,
                &["rpc", "error"],
                "unauthorized: gateway token mismatch (provide gateway auth token)",
            );
            set(v, &["rpc", "connectFailure", "kind"], "auth-rejected");
            set(v, &["port", "status"], "busy");
        }),
        _ => UNREACHABLE.to_string(),
    };
    CliRun {
        rc: 0,
        timed_out: false,
        bytes: text.len() as u64,
        stdout: text.into_bytes(),
        stderr: Vec::new(),
    }
}

fn edit(doc: &str, f: impl FnOnce(&mut Value)) -> String {
    match serde_json::from_str::<Value>(doc) {
        Ok(mut v) => {
            f(&mut v);
            v.to_string()
        }
        Err(_) => doc.to_string(),
    }
}

fn set(v: &mut Value, path: &[&str], to: &str) {
    let mut cur = v;
    for key in path {
        let Some(next) = cur.get_mut(*key) else {
            return;
        };
        cur = next;
    }
    *cur = Value::String(to.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::NodeState;
    use crate::report;
    use crate::verdict::Kind;

    /// Every trouble the demo promises shows up with its verdict and reason.
    #[tokio::test(start_paused = true)]
    async fn demo_mesh_shows_every_verdict_and_skew() {
        let (inv, mesh) = SimMesh::demo();
        assert!(inv.nodes.len() >= 24);
        let req = PollRequest {
            gateway: true,
            doctor: false,
            cli_timeout_s: 5,
            doctor_timeout_s: 60,
            live_timeout_s: 2,
        };
        let mut states = vec![NodeState::default(); inv.nodes.len()];
        let now = crate::observe::now_ms();
        for (i, st) in states.iter_mut().enumerate() {
            match mesh.poll(i, &req).await {
                Ok(raw) => st.apply_poll(raw, now),
                Err(PollFailure::Remote(e)) => st.apply_failure(e.to_string(), now),
                Err(PollFailure::Signal(e)) => st.apply_poll_error(e, now),
            }
        }
        let rows = report::build(
            &inv.nodes,
            &states,
            now,
            None,
            &crate::verdict::Rules::default(),
        );
        let row = |n: &str| rows.iter().find(|r| r.node == n).expect("row");
        assert_eq!(row("mac-g01").verdict, Kind::Healthy);
        assert_eq!(row("mac-w03").verdict, Kind::Draining);
        assert_eq!(row("mac-w03").reason, "drained");
        assert_eq!(row("mac-w11").reason, "warming: cache cold");
        assert!(row("mac-w14").reason.starts_with("warming: cache stale"));
        assert_eq!(row("mac-w17").verdict, Kind::Dead);
        assert!(row("mac-w17").reason.starts_with("host unreachable"));
        assert_eq!(row("mac-w09").reason, "gateway auth rejected");
        assert!(row("mac-w07").skew.manifest);
        assert!(row("mac-g02").skew.versions && row("mac-g02").skew.build);
        assert_eq!(
            row("mac-w12").manifest.state,
            Some(crate::skew::ManifestState::Mismatch)
        );
        assert!(row("mac-w20").manifest.unverified);
        assert_eq!(row("mac-w19").disk.as_ref().map(|d| d.used_pct), Some(96));
    }
}
