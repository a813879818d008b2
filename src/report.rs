//! One row per node: the shape `status --json` prints and the dashboard draws.

use serde::Serialize;

pub mod reason;

use crate::inventory::Node;
use crate::observe::{Millis, NodeState};
use crate::safe_text::{self, Shown};
use crate::signals::{Disk, DoctorReport, GatewayState};
use crate::skew::{self, Diff, ManifestState, Signal, Skew};
use crate::verdict::{self, Kind, Rules};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayRow {
    pub ready: bool,
    /// The state's label (`unreachable`, `auth rejected (...)`, `not ready: ...`).
    pub state: Shown,
    /// The state's kind, for screens that pick a glyph by it (not in `status --json`:
    /// `state` says it there).
    #[serde(skip)]
    pub kind: GatewayKind,
    pub build_id: Option<Shown>,
    pub cli_version: Option<Shown>,
    pub daemon_version: Option<Shown>,
    pub bind: Option<Shown>,
    pub error: Option<Shown>,
    pub age_s: Option<u64>,
    /// Older than its staleness limit: shown, but no longer counted as current.
    pub stale: bool,
    /// The gateway's `/readyz`, checked in every cheap poll; null when not checked.
    pub readyz: Option<ReadyzRow>,
}

/// What kind of state a gateway is in, without its detail: a [`GatewayState`] reduced
/// to what a table picks its glyph by, and `Unknown` before the first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    Unknown,
    Ready,
    Unreachable,
    AuthRejected,
    NotReady,
    Unparseable,
    TooLarge,
    TimedOut,
}

impl From<&GatewayState> for GatewayKind {
    fn from(s: &GatewayState) -> Self {
        match s {
            GatewayState::Ready => GatewayKind::Ready,
            GatewayState::Unreachable => GatewayKind::Unreachable,
            GatewayState::AuthRejected(_) => GatewayKind::AuthRejected,
            GatewayState::NotReady(_) => GatewayKind::NotReady,
            GatewayState::Unparseable(_) => GatewayKind::Unparseable,
            GatewayState::TooLarge => GatewayKind::TooLarge,
            GatewayState::TimedOut => GatewayKind::TimedOut,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadyzRow {
    pub ok: bool,
    pub code: Option<u16>,
    pub age_s: u64,
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
    /// The node differs from its class or the rollout's target (an unverified bundle,
    /// alone, is not skew: `manifest.unverified`).
    pub any: bool,
    pub manifest: bool,
    pub versions: bool,
    pub build: bool,
    /// The CLI's path or `--version` differs from its class's majority.
    pub cli: bool,
    pub reasons: Vec<String>,
    /// What differs: `{"signal","value","reference"}` per difference.
    pub diffs: Vec<Diff>,
    /// The class-majority signals that have no majority in the node's class.
    pub no_majority: Vec<Signal>,
}

/// Which `openclaw` the node's poll channel runs, found on its login shell's PATH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CliRow {
    /// Where it is; null when the node's PATH has none.
    pub path: Option<String>,
    /// The first line of its `--version`; null when it printed nothing.
    pub version: Option<String>,
    /// Found on the node's PATH (`meshroll_openclaw` a bare name), not set as a path.
    pub on_path: bool,
    /// How old the poll that said so is.
    pub age_s: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    pub node: String,
    pub class: String,
    pub destination: String,
    /// False until the node has answered once (or failed to): the verdict then reads
    /// `dead` with the reason `not polled yet`, and screens say "not polled yet".
    pub polled: bool,
    pub verdict: Kind,
    pub reason: Shown,
    pub gateway: GatewayRow,
    pub manifest: ManifestRow,
    pub cache: CacheRow,
    pub live: LiveRow,
    pub disk: Option<Disk>,
    pub drained: bool,
    pub skew: SkewRow,
    pub doctor: Option<DoctorReport>,
    /// The CLI the poll channel runs; null until a channel said (one-shot polls do not).
    pub cli: Option<CliRow>,
    /// What is wrong right now, or null.
    pub error: Option<Shown>,
    /// The last error seen, even if it has cleared, and its age.
    pub last_error: Option<Shown>,
    pub last_error_age_s: Option<u64>,
    /// The node lock a rollout holds, or null.
    pub lock: Option<crate::node_lock::LockRow>,
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
    build_rolling(nodes, states, now, target, &|_| true, base)
}

/// [`build`] for a rollout that covers only the classes `rolling` accepts.
pub fn build_rolling(
    nodes: &[Node],
    states: &[NodeState],
    now: Millis,
    target: Option<&str>,
    rolling: &dyn Fn(&str) -> bool,
    base: &Rules,
) -> Vec<NodeReport> {
    let pairs: Vec<(&str, &NodeState)> = nodes
        .iter()
        .zip(states)
        .map(|(n, s)| (n.class.as_str(), s))
        .collect();
    let skews = skew::assess_rolling(&pairs, target, rolling);
    nodes
        .iter()
        .zip(states)
        .zip(skews)
        .map(|((n, s), k)| one(n, s, k, now, base).cleaned())
        .collect()
}

/// The node has answered once, or failed to (otherwise it is "not polled yet", not
/// dead).
pub fn polled(st: &NodeState) -> bool {
    st.seen() || st.unreachable.is_some() || st.poll_error.is_some()
}

/// The reason of a node that has not answered yet (nor failed to).
pub const NOT_POLLED: &str = "not polled yet";

/// Cap for ids, versions and names in a row; messages get [`safe_text::DEFAULT_CAP`].
pub const SHORT_CAP: usize = crate::inventory::MAX_NAME_CHARS;

fn short(s: &mut String) {
    clean_in_place(s, SHORT_CAP);
}

fn long(s: &mut String) {
    clean_in_place(s, safe_text::DEFAULT_CAP);
}

fn shown_short(s: String) -> Shown {
    Shown::owned(s, SHORT_CAP)
}

fn shown_long(s: String) -> Shown {
    Shown::owned(s, safe_text::DEFAULT_CAP)
}

/// [`safe_text::clean_capped`] in place: the same redactor and sanitiser, but a string
/// they leave as it is (nearly all of them) is not copied. A row is rebuilt per poll, so
/// this is most of a row's cost at 10,000 nodes.
fn clean_in_place(s: &mut String, cap: usize) {
    let redacted = safe_text::redact(s);
    let sanitized = match safe_text::sanitize(&redacted, cap) {
        std::borrow::Cow::Owned(o) => Some(o),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let out = sanitized.or(match redacted {
        std::borrow::Cow::Owned(o) => Some(o),
        std::borrow::Cow::Borrowed(_) => None,
    });
    if let Some(o) = out {
        *s = o;
    }
}

impl NodeReport {
    /// Every string of the row through the one redactor and sanitiser: the row is what
    /// the status table, `status --json` and the dashboard show, so this is the output
    /// boundary for everything a node printed (decoded, so JSON `\u` escapes cannot
    /// hide a secret) and for the inventory's names.
    pub fn cleaned(mut self) -> NodeReport {
        short(&mut self.node);
        short(&mut self.class);
        short(&mut self.destination);
        let m = &mut self.manifest;
        for f in [&mut m.sha, &mut m.lock_sha256, &mut m.reference]
            .into_iter()
            .flatten()
        {
            short(f);
        }
        self.skew.reasons.iter_mut().for_each(long);
        for d in &mut self.skew.diffs {
            short(&mut d.value);
            d.reference.iter_mut().for_each(short);
        }
        if let Some(c) = self.cli.as_mut() {
            c.path.iter_mut().for_each(long);
            c.version.iter_mut().for_each(short);
        }
        if let Some(d) = self.doctor.as_mut() {
            for f in &mut d.findings {
                short(&mut f.check_id);
                long(&mut f.message);
                f.path.iter_mut().for_each(short);
                // a hint has lines (the node view shows them): keep them, clean each
                f.fix_hint.iter_mut().for_each(|h| {
                    *h = safe_text::clean_lines(h, safe_text::DEFAULT_CAP, 20).join("\n")
                });
            }
        }
        self.lock = self.lock.map(crate::node_lock::LockRow::cleaned);
        self
    }
}

/// One node's report at `now`, given its skew (from [`skew::assess`] over the fleet):
/// what [`build`] makes for each node (cleaned the same way), for callers that keep the
/// skew between rebuilds.
pub fn row(n: &Node, st: &NodeState, k: Skew, now: Millis, base: &Rules) -> NodeReport {
    one(n, st, k, now, base).cleaned()
}

/// The verdict's rules for one node: the cadences' staleness limits and the node's own
/// cache limit.
pub fn rules_for(n: &Node, base: &Rules) -> Rules {
    Rules {
        cache_max_age_s: n.layout.cache_max_age_min * 60,
        ..*base
    }
}

fn one(n: &Node, st: &NodeState, k: Skew, now: Millis, base: &Rules) -> NodeReport {
    let rules = rules_for(n, base);
    let v = verdict::judge(st, now, &rules);
    let polled = polled(st);
    let (verdict, reason) = match &v {
        Some(v) if polled => (v.kind, v.reason.clone()),
        _ => (Kind::Dead, NOT_POLLED.to_string()),
    };
    let reason = shown_long(reason);
    let g = st.gateway.as_ref();
    let gateway = GatewayRow {
        ready: g.is_some_and(|g| g.value.state.is_ready()),
        state: shown_short(g.map_or_else(|| "unknown".into(), |g| g.value.state.label())),
        kind: g.map_or(GatewayKind::Unknown, |g| GatewayKind::from(&g.value.state)),
        build_id: g.and_then(|g| g.value.build_id.clone()).map(shown_short),
        cli_version: g.and_then(|g| g.value.cli_version.clone()).map(shown_short),
        daemon_version: g
            .and_then(|g| g.value.daemon_version.clone())
            .map(shown_short),
        bind: g.and_then(|g| g.value.bind.clone()).map(shown_short),
        error: g.and_then(|g| g.value.error.clone()).map(shown_long),
        age_s: g.map(|g| g.age_s(now)),
        stale: g.is_some_and(|g| g.age_s(now) > rules.gateway_stale_after_s),
        readyz: st.readyz.as_ref().map(|r| ReadyzRow {
            ok: r.value.ok(),
            code: r.value.code,
            age_s: r.age_s(now),
        }),
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
    let error = if verdict == Kind::Dead && v.is_some() && polled {
        Some(reason.clone())
    } else {
        st.disk
            .as_ref()
            .and_then(|d| d.value.as_ref().err().cloned())
            .map(shown_long)
    };
    NodeReport {
        node: n.name.clone(),
        class: n.class.clone(),
        destination: n.destination(),
        polled,
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
            cli: k.cli,
            reasons: k.reasons,
            diffs: k.diffs,
            no_majority: k.no_majority,
        },
        doctor: st
            .doctor
            .as_ref()
            .and_then(|d| d.value.as_ref().ok().cloned()),
        cli: st.cli.as_ref().map(|c| CliRow {
            path: Some(c.value.path.clone()).filter(|p| !p.is_empty()),
            version: Some(c.value.version.clone()).filter(|v| !v.is_empty()),
            on_path: c.value.on_path,
            age_s: c.age_s(now),
        }),
        error,
        last_error: st.last_error.as_ref().map(|e| shown_long(e.value.clone())),
        last_error_age_s: st.last_error.as_ref().map(|e| e.age_s(now)),
        lock: st
            .node_lock
            .as_ref()
            .map(|l| crate::node_lock::LockRow::at(&l.value, l.age_s(now))),
    }
}

#[cfg(test)]
mod tests {

    /// Cleaning in place is the one redactor and sanitiser: the same text as
    /// `safe_text::clean_capped`, for clean, hostile, long and secret-bearing text.
    #[test]
    fn clean_in_place_is_clean_capped() {
        safe_text::register_secret("hunter2-in-place-test");
        for raw in [
            "mac-w0001",
            "bidi \u{202E}gnp.exe and \x1b[31m red",
            "token hunter2-in-place-test here",
            &"x".repeat(400),
            "",
        ] {
            for cap in [SHORT_CAP, safe_text::DEFAULT_CAP, 5] {
                let mut s = raw.to_string();
                clean_in_place(&mut s, cap);
                assert_eq!(s, safe_text::clean_capped(raw, cap), "{raw:?} cap {cap}");
            }
        }
    }

    use super::*;
    use crate::remote::sim::SimMesh;

    async fn demo_rows(target: Option<&str>) -> Vec<NodeReport> {
        let (inv, mesh) = SimMesh::demo();
        let req = crate::remote::PollRequest {
            gateway: true,
            doctor: false,
            cli_timeout_s: 5,
            doctor_timeout_s: 60,
            live_timeout_s: 2,
        };
        let now = crate::observe::now_ms();
        let states = mesh.poll_states(&req, now).await;
        build(&inv.nodes, &states, now, target, &Rules::default())
    }

    /// A node not polled yet says so in words (and in `polled`), apart from a rollout's
    /// `waiting`; a node that answered is `polled`.
    #[tokio::test(start_paused = true)]
    async fn not_polled_yet_and_waiting_are_distinct_words() {
        let (inv, _) = SimMesh::demo();
        let states = vec![NodeState::default(); inv.nodes.len()];
        let rows = build(&inv.nodes, &states, 0, None, &Rules::default());
        let j = serde_json::to_value(&rows[0]).expect("json");
        assert_eq!(j["polled"], false);
        assert_eq!(j["reason"], NOT_POLLED);
        assert_eq!(j["error"], serde_json::Value::Null);
        assert_eq!(j["manifest"]["state"], serde_json::Value::Null);
        let target = crate::remote::sim::demo_bundle().skills_sha;
        let rows = demo_rows(Some(&target)).await;
        let w01 = rows.iter().find(|r| r.node == "mac-w01").expect("w01");
        let j = serde_json::to_value(w01).expect("json");
        assert_eq!(j["polled"], true);
        assert_eq!(j["manifest"]["state"], "waiting");
        assert_ne!(j["reason"], NOT_POLLED);
    }

    /// `meshroll demo` with its rollout staged: the nodes waiting for the new bundle
    /// are pending, and only the real splits are skew.
    #[tokio::test(start_paused = true)]
    async fn a_staged_rollout_on_the_demo_reads_waiting_not_skew() {
        let target = crate::remote::sim::demo_bundle().skills_sha;
        let rows = demo_rows(Some(&target)).await;
        let skewed: Vec<&str> = rows
            .iter()
            .filter(|r| r.skew.any)
            .map(|r| r.node.as_str())
            .collect();
        // w07: an older bundle than its class; w12: lock names another tree; g02:
        // daemon and build lag the class. w20 (no lock file) is unverified, not skewed.
        assert_eq!(skewed, vec!["mac-g02", "mac-w07", "mac-w12"]);
        let unverified: Vec<&str> = rows
            .iter()
            .filter(|r| r.manifest.unverified)
            .map(|r| r.node.as_str())
            .collect();
        assert_eq!(unverified, vec!["mac-w20"]);
        let pending = rows
            .iter()
            .filter(|r| r.manifest.state == Some(ManifestState::Waiting))
            .count();
        // 26 nodes less w17 (down), w07 (another bundle) and w12 (its lock names another
        // tree); w20 is on the previous bundle, waiting (and unverified).
        assert_eq!(pending, 23);
        let w01 = rows.iter().find(|r| r.node == "mac-w01").expect("w01");
        let j = serde_json::to_value(w01).expect("json");
        assert_eq!(j["manifest"]["state"], "waiting");
        assert_eq!(j["manifest"]["reference"], target.as_str());
        assert_eq!(j["skew"]["any"], false);
        assert_eq!(j["error"], serde_json::Value::Null);
    }
}
