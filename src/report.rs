//! One row per node: the shape `status --json` prints and the dashboard draws.

use serde::Serialize;

use crate::inventory::Node;
use crate::observe::{Millis, NodeState};
use crate::signals::{Disk, DoctorReport};
use crate::skew::{self, ManifestState, Skew};
use crate::verdict::{self, Kind, Rules};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayRow {
    pub ready: bool,
    pub state: String,
    pub build_id: Option<String>,
    pub cli_version: Option<String>,
    pub daemon_version: Option<String>,
    pub bind: Option<String>,
    pub error: Option<String>,
    pub age_s: Option<u64>,
    /// Older than its staleness limit: shown, but no longer counted as current.
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestRow {
    pub sha: Option<String>,
    pub lock_sha256: Option<String>,
    pub state: Option<ManifestState>,
    pub unverified: bool,
    pub reference: Option<String>,
    pub age_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheRow {
    /// `None` when the cache is cold (no marker).
    pub age_s: Option<u64>,
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveRow {
    pub ok: bool,
    pub code: Option<u16>,
    pub age_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkewRow {
    pub any: bool,
    pub manifest: bool,
    pub versions: bool,
    pub build: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    pub node: String,
    pub class: String,
    pub destination: String,
    pub verdict: Kind,
    pub reason: String,
    pub gateway: GatewayRow,
    pub manifest: ManifestRow,
    pub cache: CacheRow,
    pub live: LiveRow,
    pub disk: Option<Disk>,
    pub drained: bool,
    pub skew: SkewRow,
    pub doctor: Option<DoctorReport>,
    /// What is wrong right now, or null.
    pub error: Option<String>,
    /// The last error seen, even if it has cleared, and its age.
    pub last_error: Option<String>,
    pub last_error_age_s: Option<u64>,
}

/// Build every node's report at `now`. `target` is the bundle being rolled out, if any;
/// `base` carries the staleness limits of the cadences in use.
pub fn build(
    nodes: &[Node],
    states: &[NodeState],
    now: Millis,
    target: Option<&str>,
    base: &Rules,
) -> Vec<NodeReport> {
    let pairs: Vec<(&str, &NodeState)> = nodes
        .iter()
        .zip(states)
        .map(|(n, s)| (n.class.as_str(), s))
        .collect();
    let skews = skew::assess(&pairs, target);
    nodes
        .iter()
        .zip(states)
        .zip(skews)
        .map(|((n, s), k)| one(n, s, k, now, base))
        .collect()
}

/// One node's report at `now`, given its skew (from [`skew::assess`] over the fleet):
/// what [`build`] makes for each node, for callers that keep the skew between rebuilds.
pub fn row(n: &Node, st: &NodeState, k: Skew, now: Millis, base: &Rules) -> NodeReport {
    one(n, st, k, now, base)
}

fn one(n: &Node, st: &NodeState, k: Skew, now: Millis, base: &Rules) -> NodeReport {
    let rules = Rules {
        cache_max_age_s: n.layout.cache_max_age_min * 60,
        ..*base
    };
    let v = verdict::judge(st, now, &rules);
    let (verdict, reason) = match &v {
        Some(v) => (v.kind, v.reason.clone()),
        None => (Kind::Dead, "no answer yet".to_string()),
    };
    let g = st.gateway.as_ref();
    let gateway = GatewayRow {
        ready: g.is_some_and(|g| g.value.state.is_ready()),
        state: g.map_or_else(|| "unknown".into(), |g| g.value.state.label()),
        build_id: g.and_then(|g| g.value.build_id.clone()),
        cli_version: g.and_then(|g| g.value.cli_version.clone()),
        daemon_version: g.and_then(|g| g.value.daemon_version.clone()),
        bind: g.and_then(|g| g.value.bind.clone()),
        error: g.and_then(|g| g.value.error.clone()),
        age_s: g.map(|g| g.age_s(now)),
        stale: g.is_some_and(|g| g.age_s(now) > rules.gateway_stale_after_s),
    };
    let m = st.manifest.as_ref();
    let manifest = ManifestRow {
        sha: m.and_then(|m| m.value.sha().map(str::to_string)),
        lock_sha256: m
            .and_then(|m| m.value.lock.as_ref())
            .map(|l| l.sha256.clone())
            .filter(|s| !s.is_empty()),
        state: k.manifest,
        unverified: k.unverified,
        reference: k.reference.clone(),
        age_s: m.map(|m| m.age_s(now)),
    };
    let cache_age = st.cache_age_s(now);
    let cache = CacheRow {
        age_s: cache_age,
        stale: cache_age.is_none_or(|a| a > rules.cache_max_age_s),
    };
    let l = st.live.as_ref();
    let live = LiveRow {
        ok: l.is_some_and(|l| l.value.ok()),
        code: l.and_then(|l| l.value.code),
        age_s: l.map(|l| l.age_s(now)),
    };
    let error = if verdict == Kind::Dead && v.is_some() {
        Some(reason.clone())
    } else {
        st.disk
            .as_ref()
            .and_then(|d| d.value.as_ref().err().cloned())
    };
    NodeReport {
        node: n.name.clone(),
        class: n.class.clone(),
        destination: n.destination(),
        verdict,
        reason,
        gateway,
        manifest,
        cache,
        live,
        disk: st
            .disk
            .as_ref()
            .and_then(|d| d.value.as_ref().ok().cloned()),
        drained: st.drained.as_ref().is_some_and(|d| d.value),
        skew: SkewRow {
            any: k.any(),
            manifest: matches!(
                k.manifest,
                Some(ManifestState::Skew | ManifestState::Mismatch | ManifestState::Missing)
            ),
            versions: k.versions,
            build: k.build,
            reasons: k.reasons,
        },
        doctor: st
            .doctor
            .as_ref()
            .and_then(|d| d.value.as_ref().ok().cloned()),
        error,
        last_error: st.last_error.as_ref().map(|e| e.value.clone()),
        last_error_age_s: st.last_error.as_ref().map(|e| e.age_s(now)),
    }
}
