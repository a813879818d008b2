//! A simulated mesh, in-process, for `meshroll demo`: no SSH, no setup.
//!
//! It is a simulator, not a fake of our own parser: each node answers a poll with a
//! [`RawPoll`] whose gateway output is the real CLI's JSON (the shared fixture, with
//! the build and versions edited), so the demo exercises the same parsing, verdict
//! and skew code as real nodes.

use std::sync::Mutex;
use std::time::Duration;
// tokio's clock: the real one in the demo, frozen in a test that pauses time, so a
// simulated mesh polled under load (or slowly) answers as at its start.
use tokio::time::Instant;

use serde_json::Value;

use super::{PollFailure, PollRequest, RemoteError};
use crate::inventory::{Inventory, Node};
use crate::manifest::{Bundle, Lock, LockEntry, sha256_hex};
use crate::signals::{CliRun, Disk, LockSeen, NodeLockRaw, RawPoll, SignalError};

const READY: &str =
    include_str!("../../tests/fixtures/openclaw-2026.9.6/gateway-status.ready.json");
const UNREACHABLE: &str =
    include_str!("../../tests/fixtures/openclaw-2026.9.6/gateway-status.unreachable.json");
pub(super) const DOCTOR: &str =
    include_str!("../../tests/fixtures/openclaw-2026.9.6/doctor-lint.json");

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
    /// The node lock a rollout holds (`None`: not locked).
    pub rollout_lock: Option<SimLock>,
    /// The bundle directories this mesh copied, by skills sha: their files as the node
    /// lists them (the bundles the demo starts with were installed by hand, unlisted).
    pub bundles: std::collections::BTreeMap<String, Vec<SimFile>>,
}

/// A node lock: its owner line (`<rollout id> <who> <taken>`) and heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimLock {
    pub owner: String,
    pub heartbeat_s: u64,
}

/// A file of a bundle directory: its path in the bundle, sha256 and octal mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimFile {
    pub path: String,
    pub sha256: String,
    pub mode: String,
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
            rollout_lock: None,
            bundles: Default::default(),
        }
    }
}

/// The simulated mesh.
pub struct SimMesh {
    nodes: Vec<Mutex<SimNode>>,
    pub(super) started: Instant,
    /// Seconds since the epoch when the mesh started (the nodes' clock).
    epoch_s: i64,
    /// `gateway status --json` as each kind of node prints it, made once: a mesh of
    /// 10,000 nodes has a handful of distinct answers.
    gateway_texts: Mutex<std::collections::HashMap<GatewayKey, std::sync::Arc<[u8]>>>,
}

/// What a simulated gateway's answer depends on.
type GatewayKey = (u8, String, String, String);

fn demo_node(name: &str, class: &str) -> Node {
    Node {
        host: format!("{name}.mesh.internal"),
        labels: vec!["sim".into()],
        ..Node::new(name, class)
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
            gateway_texts: Mutex::new(std::collections::HashMap::new()),
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
        // Down from 8 s to 16 s after the start: a headless rollout of the gateways
        // reaches mac-g04's baseline then (the replay tests' failed node).
        sims[idx("mac-g04")].gateway = GatewayMode::Flapping { period_s: 8 };
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
            nodes: nodes.into(),
        };
        (inv, SimMesh::new(sims))
    }

    /// A simulated mesh of `n` nodes, the same from the same `seed`: the demo's two
    /// classes in the demo's proportion (6 gateways to 20 workers), and each of the
    /// demo's troubles on the same share of its class as in the demo (one node in 20
    /// workers is drained, one has a cold cache, ...), placed by the seed. Each node
    /// has at most one trouble, as in the demo; the first gateway is the canary whose
    /// first sync fails once. Names are `mac-g0001`, `mac-w0001`, ... (zero-padded to
    /// the class size, at least two digits).
    pub fn generate(n: usize, seed: u64) -> (Inventory, SimMesh) {
        let mut rng = SplitMix(seed);
        let gateways = if n < 2 {
            n
        } else {
            ((n * DEMO_GATEWAYS + DEMO_NODES / 2) / DEMO_NODES).clamp(1, n - 1)
        };
        let workers = n - gateways;
        let width = |count: usize| count.to_string().len().max(2);
        let (gw, ww) = (width(gateways), width(workers));
        let mut nodes = Vec::with_capacity(n);
        let mut sims = Vec::with_capacity(n);
        for i in 1..=gateways {
            nodes.push(demo_node(&format!("mac-g{i:0gw$}"), "gateway"));
            sims.push(SimNode::healthy(20 + rng.below(55)));
        }
        for i in 1..=workers {
            nodes.push(demo_node(&format!("mac-w{i:0ww$}"), "worker"));
            sims.push(SimNode::healthy(30 + rng.below(90)));
        }
        let mut place = |range: std::ops::Range<usize>, troubles: &[Trouble], demo_size: usize| {
            let mut idx: Vec<usize> = range.collect();
            rng.shuffle(&mut idx);
            let mut free = idx.into_iter();
            let size = free.len();
            for t in troubles {
                for i in free.by_ref().take(trouble_count(size, demo_size)) {
                    t.apply(&mut sims[i]);
                }
            }
        };
        // The canary (first gateway) stays free of troubles but its first sync fails.
        if gateways > 0 {
            place(1..gateways, GATEWAY_TROUBLES, DEMO_GATEWAYS - 1);
        }
        place(gateways..n, WORKER_TROUBLES, DEMO_NODES - DEMO_GATEWAYS);
        if let Some(canary) = sims.first_mut() {
            canary.sync_failures_left = 1;
        }
        let inv = Inventory {
            classes: vec!["gateway".into(), "worker".into()],
            nodes: nodes.into(),
        };
        (inv, SimMesh::new(sims))
    }

    /// The demo (`None`) or a generated mesh of `n` nodes.
    pub fn sized(nodes: Option<usize>, seed: u64) -> (Inventory, SimMesh) {
        match nodes {
            None => SimMesh::demo(),
            Some(n) => SimMesh::generate(n, seed),
        }
    }

    /// How many nodes the mesh has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A copy of node `idx` as it is now.
    pub fn node(&self, idx: usize) -> Option<SimNode> {
        self.snapshot(idx)
    }

    /// Change a node (the rollout simulator and tests use this).
    pub fn with_node<R>(&self, idx: usize, f: impl FnOnce(&mut SimNode) -> R) -> Option<R> {
        let mut g = self.nodes.get(idx)?.lock().ok()?;
        Some(f(&mut g))
    }

    fn snapshot(&self, idx: usize) -> Option<SimNode> {
        self.nodes.get(idx)?.lock().ok().map(|g| g.clone())
    }

    /// Every node polled once with `req`, each answer applied to a fresh state at `now`
    /// (what a first `status` round sees).
    pub async fn poll_states(
        &self,
        req: &PollRequest,
        now: crate::observe::Millis,
    ) -> Vec<crate::observe::NodeState> {
        let mut states = Vec::with_capacity(self.len());
        for i in 0..self.len() {
            let mut st = crate::observe::NodeState::default();
            match self.poll(i, req).await {
                Ok(raw) => st.apply_poll(raw, now),
                Err(PollFailure::Remote(e)) => st.apply_failure(e.to_string(), now),
                Err(PollFailure::Signal(e)) => st.apply_poll_error(e, now),
            }
            states.push(st);
        }
        states
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
        let gateway = req.gateway.then(|| self.gateway_run(&node, elapsed));
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
                // A bundle copied in by a rollout hashes its real lock file; the ones
                // the demo starts with were installed by hand, unlisted.
                sha256: node
                    .current
                    .as_ref()
                    .and_then(|cur| node.bundles.get(cur))
                    .and_then(|files| files.iter().find(|f| f.path == crate::manifest::LOCK_NAME))
                    .map_or_else(
                        || format!("{:0>64}", &c[..c.len().min(16)]),
                        |f| f.sha256.clone(),
                    ),
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
            // The lock's files as a node's stat would date them: the owner line's taking
            // time and the last heartbeat.
            node_lock: node.rollout_lock.as_ref().map(|l| NodeLockRaw {
                owner: Some(l.owner.as_bytes().to_vec()),
                owner_mtime: l
                    .owner
                    .split_whitespace()
                    .nth(2)
                    .and_then(|t| t.parse().ok()),
                heartbeat_mtime: i64::try_from(l.heartbeat_s).ok(),
            }),
            cli: None,
        })
    }
}

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

/// The demo's size and its gateways (the proportions a generated mesh keeps).
const DEMO_NODES: usize = 26;
const DEMO_GATEWAYS: usize = 6;

/// Nodes of a class of `size` given a trouble that one node of a demo class of
/// `demo_size` has: the same share, rounded, at least one when the class is as large
/// as the demo's.
fn trouble_count(size: usize, demo_size: usize) -> usize {
    let n = (size + demo_size / 2) / demo_size.max(1);
    if size >= demo_size { n.max(1) } else { n }
}

/// One of the demo's troubles, as a generated mesh places it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// The daemon lags the CLI: version and build skew.
    DaemonLags,
    Flapping,
    Drained,
    OldBundle,
    AuthRejected,
    ColdCache,
    LockMismatch,
    StaleCache,
    SyncRetries,
    CorruptSync,
    PoweredOff,
    DiskPressure,
    NoLockFile,
}

/// The troubles of the demo's gateways besides the canary, and of its workers.
pub const GATEWAY_TROUBLES: &[Trouble] = &[Trouble::DaemonLags, Trouble::Flapping];
pub const WORKER_TROUBLES: &[Trouble] = &[
    Trouble::Drained,
    Trouble::OldBundle,
    Trouble::AuthRejected,
    Trouble::ColdCache,
    Trouble::LockMismatch,
    Trouble::StaleCache,
    Trouble::SyncRetries,
    Trouble::CorruptSync,
    Trouble::PoweredOff,
    Trouble::DiskPressure,
    Trouble::NoLockFile,
];

impl Trouble {
    /// Make `n` have this trouble, as the demo does to its node.
    pub fn apply(self, n: &mut SimNode) {
        match self {
            Trouble::DaemonLags => {
                n.daemon_version = "2026.9.5".into();
                n.build = OLD_BUILD.into();
            }
            Trouble::Flapping => n.gateway = GatewayMode::Flapping { period_s: 12 },
            Trouble::Drained => n.drained = true,
            Trouble::OldBundle => {
                n.current = Some(OLD_SHA.into());
                n.lock_claim = Some(OLD_SHA.into());
            }
            Trouble::AuthRejected => n.gateway = GatewayMode::AuthRejected,
            Trouble::ColdCache => n.cache_mtime = None,
            Trouble::LockMismatch => n.lock_claim = Some(OLD_SHA.into()),
            Trouble::StaleCache => n.cache_mtime = Some(-(3 * 3600 + 120)),
            Trouble::SyncRetries => n.sync_failures_left = 2,
            Trouble::CorruptSync => n.corrupt_sync = true,
            Trouble::PoweredOff => n.host_up = false,
            Trouble::DiskPressure => n.disk_used_pct = 96,
            Trouble::NoLockFile => n.lock_claim = None,
        }
    }
}

/// splitmix64: a small, fixed generator, so a seed means the same mesh everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (n > 0) for latencies and shuffles.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

impl SimMesh {
    /// `gateway status --json` as `node` prints it `elapsed_s` after the mesh started.
    pub(super) fn gateway_run(&self, node: &SimNode, elapsed_s: u64) -> CliRun {
        let mode = match node.gateway {
            GatewayMode::Flapping { period_s } if (elapsed_s / period_s.max(1)) % 2 == 1 => {
                GatewayMode::Unreachable
            }
            GatewayMode::Flapping { .. } => GatewayMode::Ready,
            m => m,
        };
        let key: GatewayKey = (
            match mode {
                GatewayMode::Ready => 0,
                GatewayMode::AuthRejected => 1,
                _ => 2,
            },
            node.build.clone(),
            node.daemon_version.clone(),
            node.cli_version.clone(),
        );
        let cached = self
            .gateway_texts
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned());
        let text = cached.unwrap_or_else(|| {
            let t: std::sync::Arc<[u8]> = gateway_text(node, mode).into_bytes().into();
            if let Ok(mut m) = self.gateway_texts.lock() {
                m.insert(key, t.clone());
            }
            t
        });
        CliRun {
            rc: 0,
            timed_out: false,
            bytes: text.len() as u64,
            stdout: text.to_vec(),
            stderr: Vec::new(),
        }
    }
}

fn gateway_text(node: &SimNode, mode: GatewayMode) -> String {
    match mode {
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
    use crate::inventory::NodeId;
    use crate::poller::Cadence;
    use crate::report::{self, NodeReport};
    use crate::verdict::Kind;

    /// One poll of every node of `mesh` (gateway status included), as the fleet
    /// table's rows.
    async fn poll_rows(inv: &Inventory, mesh: &SimMesh) -> Vec<NodeReport> {
        let req = Cadence::for_timeout(Duration::from_secs(10)).request(true, false);
        let now = crate::observe::now_ms();
        let states = mesh.poll_states(&req, now).await;
        report::build(
            &inv.nodes,
            &states,
            now,
            None,
            &crate::verdict::Rules::default(),
        )
    }

    /// Every trouble the demo promises shows up with its verdict and reason.
    #[tokio::test(start_paused = true)]
    async fn demo_mesh_shows_every_verdict_and_skew() {
        let (inv, mesh) = SimMesh::demo();
        assert!(inv.nodes.len() >= 24);
        let rows = poll_rows(&inv, &mesh).await;
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

    /// Which of the demo's troubles a simulated node has (the canary's single sync
    /// failure is not one).
    fn trouble_of(n: &SimNode) -> Vec<Trouble> {
        let healthy = SimNode::healthy(n.latency_ms);
        let mut t = Vec::new();
        if n.daemon_version != healthy.daemon_version {
            t.push(Trouble::DaemonLags);
        }
        match n.gateway {
            GatewayMode::Flapping { .. } => t.push(Trouble::Flapping),
            GatewayMode::AuthRejected => t.push(Trouble::AuthRejected),
            _ => {}
        }
        if n.drained {
            t.push(Trouble::Drained);
        }
        if n.current.as_deref() == Some(OLD_SHA) {
            t.push(Trouble::OldBundle);
        } else if n.lock_claim.as_deref() == Some(OLD_SHA) {
            t.push(Trouble::LockMismatch);
        }
        match n.cache_mtime {
            None => t.push(Trouble::ColdCache),
            Some(m) if m < -3600 => t.push(Trouble::StaleCache),
            _ => {}
        }
        if n.sync_failures_left == 2 {
            t.push(Trouble::SyncRetries);
        }
        if n.corrupt_sync {
            t.push(Trouble::CorruptSync);
        }
        if !n.host_up {
            t.push(Trouble::PoweredOff);
        }
        if n.disk_used_pct > 90 {
            t.push(Trouble::DiskPressure);
        }
        if n.lock_claim.is_none() {
            t.push(Trouble::NoLockFile);
        }
        t
    }

    /// (class, trouble) -> nodes, and nodes per class.
    fn census(
        inv: &Inventory,
        mesh: &SimMesh,
    ) -> (
        std::collections::BTreeMap<(String, String), usize>,
        std::collections::BTreeMap<String, usize>,
    ) {
        let mut troubles = std::collections::BTreeMap::new();
        let mut classes = std::collections::BTreeMap::new();
        for (i, node) in inv.nodes.iter().enumerate() {
            *classes.entry(node.class.clone()).or_insert(0) += 1;
            let sim = mesh.node(i).expect("node");
            let t = trouble_of(&sim);
            assert!(t.len() <= 1, "{} has several troubles: {t:?}", node.name);
            for t in t {
                *troubles
                    .entry((node.class.clone(), format!("{t:?}")))
                    .or_insert(0) += 1;
            }
        }
        (troubles, classes)
    }

    #[test]
    fn generated_mesh_is_the_same_for_the_same_seed() {
        let show = |(inv, mesh): (Inventory, SimMesh)| {
            let nodes: Vec<String> = (0..mesh.len())
                .map(|i| format!("{} {:?}", inv.nodes[NodeId::new(i)].name, mesh.node(i)))
                .collect();
            nodes.join("\n")
        };
        let a = show(SimMesh::generate(500, 7));
        assert_eq!(a, show(SimMesh::generate(500, 7)));
        assert_ne!(a, show(SimMesh::generate(500, 8)));
        assert_eq!(SimMesh::generate(500, 7).1.len(), 500);
    }

    /// At 26 nodes a generated mesh has exactly the demo's classes and troubles; at
    /// 1,000 and 10,000 the same shares of each class.
    #[test]
    fn generated_mesh_spreads_classes_and_troubles_like_the_demo() {
        let (dinv, dmesh) = SimMesh::demo();
        let (demo_troubles, demo_classes) = census(&dinv, &dmesh);
        let (ginv, gmesh) = SimMesh::generate(26, 3);
        assert_eq!(
            census(&ginv, &gmesh),
            (demo_troubles.clone(), demo_classes.clone())
        );
        assert_eq!(gmesh.node(0).map(|n| n.sync_failures_left), Some(1));
        for n in [1_000usize, 10_000] {
            let (inv, mesh) = SimMesh::generate(n, 42);
            let (troubles, classes) = census(&inv, &mesh);
            assert_eq!(classes.values().sum::<usize>(), n);
            for (class, demo_count) in &demo_classes {
                let share = classes[class] as f64 / n as f64;
                let demo_share = *demo_count as f64 / 26.0;
                assert!(
                    (share - demo_share).abs() < 0.01,
                    "{n} nodes: {class} is {share:.3} of the mesh, demo {demo_share:.3}"
                );
            }
            for ((class, trouble), demo_count) in &demo_troubles {
                let got = troubles
                    .get(&(class.clone(), trouble.clone()))
                    .copied()
                    .unwrap_or(0);
                // The demo's gateway troubles are shared among its non-canary gateways.
                let demo_size = demo_classes[class] - usize::from(class == "gateway");
                let size = classes[class] - usize::from(class == "gateway");
                let want = *demo_count as f64 / demo_size as f64;
                let share = got as f64 / size as f64;
                assert!(
                    (share - want).abs() < 0.01,
                    "{n} nodes: {trouble} on {got} of {size} {class} nodes ({share:.3}), demo {want:.3}"
                );
            }
            assert_eq!(
                troubles.len(),
                demo_troubles.len(),
                "{n} nodes: {troubles:?}"
            );
        }
    }

    /// A generated mesh polls through the same code as the demo and shows the same
    /// verdicts in the same shares.
    #[tokio::test(start_paused = true)]
    async fn generated_mesh_shows_verdicts_in_the_demo_shares() {
        let (inv, mesh) = SimMesh::generate(1_000, 9);
        let rows = poll_rows(&inv, &mesh).await;
        let (troubles, _) = census(&inv, &mesh);
        let count = |t: Trouble| {
            troubles
                .iter()
                .filter(|((_, n), _)| *n == format!("{t:?}"))
                .map(|(_, c)| c)
                .sum::<usize>()
        };
        let rows_where = |f: &dyn Fn(&NodeReport) -> bool| rows.iter().filter(|r| f(r)).count();
        assert_eq!(
            rows_where(&|r| r.reason == "drained"),
            count(Trouble::Drained)
        );
        assert_eq!(
            rows_where(&|r| r.verdict == Kind::Dead && r.reason.starts_with("host unreachable")),
            count(Trouble::PoweredOff)
        );
        assert_eq!(
            rows_where(&|r| r.reason == "gateway auth rejected"),
            count(Trouble::AuthRejected)
        );
        assert_eq!(
            rows_where(&|r| r.reason == "warming: cache cold"),
            count(Trouble::ColdCache)
        );
        assert_eq!(
            rows_where(&|r| r.manifest.state == Some(crate::skew::ManifestState::Mismatch)),
            count(Trouble::LockMismatch)
        );
        assert!(count(Trouble::Drained) >= 30, "{troubles:?}");
        assert!(rows_where(&|r| r.verdict == Kind::Healthy) > rows.len() / 3);
    }
}
