//! Version skew across the fleet: manifest vs the bundle being rolled out (or the
//! majority of the node's class), CLI vs daemon version, build id vs the class.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::observe::NodeState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestState {
    InSync,
    /// A rollout targets another bundle and this node still runs its class's previous
    /// one: it is waiting for its turn, not skewed.
    Pending,
    Skew,
    Missing,
    Mismatch,
}

impl ManifestState {
    pub fn as_str(self) -> &'static str {
        match self {
            ManifestState::InSync => "in_sync",
            ManifestState::Pending => "pending",
            ManifestState::Skew => "skew",
            ManifestState::Missing => "missing",
            ManifestState::Mismatch => "mismatch",
        }
    }
}

/// The skew picture of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skew {
    /// `None` until the node's manifest has been observed.
    pub manifest: Option<ManifestState>,
    /// The bundle has no lock file (a hand deploy): compared by directory name only.
    pub unverified: bool,
    /// What the manifest was compared with: the rollout's bundle or the class majority.
    pub reference: Option<String>,
    /// CLI and daemon versions differ.
    pub versions: bool,
    /// Build id differs from the majority of the class.
    pub build: bool,
    /// The CLI's path or `--version` differs from the majority of the class
    /// ([`cli_split`]).
    pub cli: bool,
    /// One line per kind of skew, for the table and `status --json`.
    pub reasons: Vec<String>,
}

impl Skew {
    pub fn any(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The most common value, ties broken by the smallest value so the answer is stable.
fn majority<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|(_, c)| *c == best)
        .map(|(v, _)| v.to_string())
}

/// Assess every node. `nodes` pairs each node's class with its state; `target` is the
/// SKILLS_SHA being rolled out, if any. While a rollout runs, a node on its class's
/// previous bundle (the majority of the class's nodes not yet on the target) is
/// [`ManifestState::Pending`]; a node on any other bundle is skewed.
pub fn assess(nodes: &[(&str, &NodeState)], target: Option<&str>) -> Vec<Skew> {
    assess_rolling(nodes, target, &|_| true)
}

/// [`assess`] when the rollout covers only some classes: `rolling(class)` says whether
/// the rollout targets that class; the other classes are judged by their own majority.
pub fn assess_rolling(
    nodes: &[(&str, &NodeState)],
    target: Option<&str>,
    rolling: &dyn Fn(&str) -> bool,
) -> Vec<Skew> {
    let target_of = |class: &str| target.filter(|_| rolling(class));
    let mut class_prev: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (class, _) in nodes {
        if let Some(t) = target_of(class) {
            class_prev.entry(class).or_insert_with(|| {
                majority(
                    nodes
                        .iter()
                        .filter(|(c, _)| c == class)
                        .filter_map(|(_, s)| s.manifest.as_ref()?.value.sha())
                        .filter(|sha| *sha != t),
                )
            });
        }
    }
    let mut class_ref: BTreeMap<&str, Option<String>> = BTreeMap::new();
    let mut class_build: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (class, _) in nodes {
        class_ref.entry(class).or_insert_with(|| {
            majority(
                nodes
                    .iter()
                    .filter(|(c, _)| c == class)
                    .filter_map(|(_, s)| s.manifest.as_ref()?.value.sha()),
            )
        });
        class_build.entry(class).or_insert_with(|| {
            majority(
                nodes
                    .iter()
                    .filter(|(c, _)| c == class)
                    .filter_map(|(_, s)| {
                        let g = &s.gateway.as_ref()?.value;
                        g.state
                            .is_ready()
                            .then_some(g.build_id.as_deref())
                            .flatten()
                    }),
            )
        });
    }
    let cli = cli_split(nodes);
    nodes
        .iter()
        .zip(cli)
        .map(|((class, st), cli)| {
            let target = target_of(class);
            let reference = target
                .map(str::to_string)
                .or_else(|| class_ref.get(class).cloned().flatten());
            let build_ref = class_build.get(class).cloned().flatten();
            let prev = class_prev.get(class).cloned().flatten();
            let mut k = one(
                st,
                reference,
                build_ref.as_deref(),
                target.is_some(),
                prev.as_deref(),
            );
            k.cli = !cli.is_empty();
            k.reasons.extend(cli);
            k
        })
        .collect()
}

/// Per node, the ways the CLI its poll channel runs differs from the majority of its
/// class: its path (`cli path /usr/local/bin/openclaw != class /opt/homebrew/bin/openclaw`),
/// among the nodes that look it up on their PATH (a path set in the inventory is
/// configuration, not skew), and its `--version` line. A node whose CLI is not known yet is neither counted nor
/// flagged. The reasons carry node text: they are cleaned with the rest of the row
/// (`crate::report`).
pub fn cli_split(nodes: &[(&str, &NodeState)]) -> Vec<Vec<String>> {
    fn seen(st: &NodeState) -> Option<&crate::signals::CliIdentity> {
        st.cli.as_ref().map(|c| &c.value)
    }
    let mut class_ref: BTreeMap<&str, (Option<String>, Option<String>)> = BTreeMap::new();
    for (class, _) in nodes {
        class_ref.entry(class).or_insert_with(|| {
            let of_class = || {
                nodes
                    .iter()
                    .filter(|(c, _)| c == class)
                    .filter_map(|(_, s)| seen(s))
            };
            (
                majority(of_class().filter(|c| c.on_path).map(|c| c.path.as_str())),
                majority(of_class().map(|c| c.version.as_str())),
            )
        });
    }
    nodes
        .iter()
        .map(|(class, st)| {
            let (Some(c), Some((path_ref, version_ref))) = (seen(st), class_ref.get(class)) else {
                return Vec::new();
            };
            let shown = |v: &str| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.to_string()
                }
            };
            let mut out = Vec::new();
            if let Some(r) = path_ref.as_deref().filter(|r| c.on_path && *r != c.path) {
                out.push(format!("cli path {} != class {}", shown(&c.path), shown(r)));
            }
            if let Some(r) = version_ref.as_deref().filter(|r| *r != c.version) {
                out.push(format!(
                    "cli --version {} != class {}",
                    shown(&c.version),
                    shown(r)
                ));
            }
            out
        })
        .collect()
}

fn one(
    st: &NodeState,
    reference: Option<String>,
    build_ref: Option<&str>,
    rolling: bool,
    previous: Option<&str>,
) -> Skew {
    let mut reasons = Vec::new();
    let mut unverified = false;
    let manifest = st.manifest.as_ref().map(|m| {
        let m = &m.value;
        let Some(sha) = m.sha() else {
            reasons.push(if m.not_link {
                "manifest: current is a directory, not a symlink".to_string()
            } else {
                "manifest: no current bundle".to_string()
            });
            return ManifestState::Missing;
        };
        let claim = m.lock.as_ref().map(|l| l.claim.as_str()).unwrap_or("");
        if !m.bundle_dir {
            reasons.push(format!(
                "manifest: current points at missing directory {sha}"
            ));
            return ManifestState::Missing;
        }
        if m.lock.is_none() || claim.is_empty() {
            unverified = true;
            reasons.push(format!(
                "manifest: {} has no lock file (unverified)",
                short(sha)
            ));
        } else if claim != sha {
            reasons.push(format!(
                "manifest: lock file names {} but directory is {}",
                short(claim),
                short(sha)
            ));
            return ManifestState::Mismatch;
        }
        match &reference {
            Some(r) if r != sha && rolling && previous == Some(sha) => ManifestState::Pending,
            Some(r) if r != sha && rolling => {
                reasons.push(format!(
                    "manifest {} is neither the rollout bundle {} nor the class's previous {}",
                    short(sha),
                    short(r),
                    previous.map_or("-", short)
                ));
                ManifestState::Skew
            }
            Some(r) if r != sha => {
                reasons.push(format!(
                    "manifest {} != class majority {}",
                    short(sha),
                    short(r)
                ));
                ManifestState::Skew
            }
            _ => ManifestState::InSync,
        }
    });
    let mut versions = false;
    let mut build = false;
    if let Some(g) = st.gateway.as_ref().map(|g| &g.value) {
        if let (Some(c), Some(d)) = (&g.cli_version, &g.daemon_version)
            && c != d
        {
            versions = true;
            reasons.push(format!("versions: cli {c} != daemon {d}"));
        }
        if let (Some(b), Some(r)) = (&g.build_id, build_ref)
            && g.state.is_ready()
            && b != r
        {
            build = true;
            reasons.push(format!(
                "build {} != class {}",
                short_build(b),
                short_build(r)
            ));
        }
    }
    Skew {
        manifest,
        unverified,
        reference,
        versions,
        build,
        cli: false,
        reasons,
    }
}

/// First 12 characters of a sha, as git shows them.
pub fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A build id is long (`2026.9.6-release-eb377ac59e6c-2026-09-23T...`): keep the
/// part before the date.
pub fn short_build(b: &str) -> &str {
    b.get(..28).unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{ManifestSeen, Stamped};
    use crate::signals::{GatewayState, GatewayStatus, LockSeen};

    fn node(
        sha: Option<&str>,
        claim: Option<&str>,
        build: &str,
        cli: &str,
        daemon: &str,
    ) -> NodeState {
        NodeState {
            manifest: Some(Stamped::new(
                ManifestSeen {
                    target: sha.map(str::to_string),
                    not_link: false,
                    bundle_dir: sha.is_some(),
                    lock: claim.map(|c| LockSeen {
                        sha256: "ff".into(),
                        claim: c.into(),
                    }),
                },
                0,
            )),
            gateway: Some(Stamped::new(
                GatewayStatus {
                    state: GatewayState::Ready,
                    build_id: Some(build.into()),
                    cli_version: Some(cli.into()),
                    daemon_version: Some(daemon.into()),
                    bind: None,
                    listeners: vec![],
                    error: None,
                },
                0,
            )),
            ..NodeState::default()
        }
    }

    #[test]
    fn class_majority_and_every_kind_of_skew() {
        let a = node(Some("aaa"), Some("aaa"), "b1", "1", "1");
        let b = node(Some("aaa"), Some("aaa"), "b1", "1", "1");
        let skewed = node(Some("bbb"), Some("bbb"), "b1", "1", "1");
        let missing = node(None, None, "b1", "1", "1");
        let mismatch = node(Some("aaa"), Some("ccc"), "b1", "1", "1");
        let unverified = node(Some("aaa"), None, "b1", "1", "1");
        let versions = node(Some("aaa"), Some("aaa"), "b1", "2", "1");
        let build = node(Some("aaa"), Some("aaa"), "b2", "1", "1");
        let other_class = node(Some("zzz"), Some("zzz"), "b9", "1", "1");
        let nodes = [
            ("w", &a),
            ("w", &b),
            ("w", &skewed),
            ("w", &missing),
            ("w", &mismatch),
            ("w", &unverified),
            ("w", &versions),
            ("w", &build),
            ("g", &other_class),
        ];
        let s = assess(&nodes, None);
        assert_eq!(s[0].manifest, Some(ManifestState::InSync));
        assert!(!s[0].any());
        assert_eq!(s[0].reference.as_deref(), Some("aaa"));
        assert_eq!(s[2].manifest, Some(ManifestState::Skew));
        assert_eq!(
            s[2].reasons,
            vec!["manifest bbb != class majority aaa".to_string()]
        );
        assert_eq!(s[3].manifest, Some(ManifestState::Missing));
        assert_eq!(s[4].manifest, Some(ManifestState::Mismatch));
        assert!(s[4].reasons[0].contains("lock file names ccc but directory is aaa"));
        assert_eq!(s[5].manifest, Some(ManifestState::InSync));
        assert!(s[5].unverified);
        assert!(s[5].any(), "an unverified bundle is skew");
        assert!(s[6].versions && !s[6].build);
        assert_eq!(
            s[6].reasons,
            vec!["versions: cli 2 != daemon 1".to_string()]
        );
        assert!(s[7].build && !s[7].versions);
        // Another class has its own majority.
        assert_eq!(s[8].manifest, Some(ManifestState::InSync));
        assert!(!s[8].build);
    }

    #[test]
    fn while_rolling_the_previous_bundle_is_pending_and_only_real_splits_are_skew() {
        let prev = node(Some("aaa"), Some("aaa"), "b1", "1", "1");
        let prev2 = node(Some("aaa"), Some("aaa"), "b1", "1", "1");
        let landed = node(Some("ttt"), Some("ttt"), "b1", "1", "1");
        let minority = node(Some("zzz"), Some("zzz"), "b1", "1", "1");
        let mismatch = node(Some("aaa"), Some("ccc"), "b1", "1", "1");
        let unverified = node(Some("aaa"), None, "b1", "1", "1");
        let versions = node(Some("aaa"), Some("aaa"), "b1", "2", "1");
        // Another class has its own previous bundle.
        let g_prev = node(Some("ggg"), Some("ggg"), "b1", "1", "1");
        let nodes = [
            ("w", &prev),
            ("w", &prev2),
            ("w", &landed),
            ("w", &minority),
            ("w", &mismatch),
            ("w", &unverified),
            ("w", &versions),
            ("g", &g_prev),
        ];
        let s = assess(&nodes, Some("ttt"));
        assert_eq!(s[0].manifest, Some(ManifestState::Pending));
        assert!(!s[0].any(), "pending is not skew: {:?}", s[0].reasons);
        assert_eq!(s[0].reference.as_deref(), Some("ttt"));
        assert_eq!(s[1].manifest, Some(ManifestState::Pending));
        assert_eq!(s[2].manifest, Some(ManifestState::InSync));
        assert!(!s[2].any());
        assert_eq!(s[3].manifest, Some(ManifestState::Skew));
        assert_eq!(
            s[3].reasons,
            vec![
                "manifest zzz is neither the rollout bundle ttt nor the class's previous aaa"
                    .to_string()
            ]
        );
        assert_eq!(s[4].manifest, Some(ManifestState::Mismatch));
        assert!(s[4].any());
        assert!(
            s[5].unverified && s[5].any(),
            "an unverified bundle stays skew"
        );
        assert_eq!(
            s[5].reasons,
            vec!["manifest: aaa has no lock file (unverified)".to_string()]
        );
        assert_eq!(s[6].manifest, Some(ManifestState::Pending));
        assert!(s[6].versions && s[6].any(), "a version split stays skew");
        assert_eq!(s[7].manifest, Some(ManifestState::Pending));
        // A rollout of the workers only: the gateway class keeps its own majority.
        let s = assess_rolling(&nodes, Some("ttt"), &|c| c == "w");
        assert_eq!(s[0].manifest, Some(ManifestState::Pending));
        assert_eq!(s[7].manifest, Some(ManifestState::InSync));
        assert_eq!(s[7].reference.as_deref(), Some("ggg"));
        // Without a rollout nothing is pending.
        let s = assess(&nodes, None);
        assert!(s.iter().all(|k| k.manifest != Some(ManifestState::Pending)));
        assert_eq!(s[2].manifest, Some(ManifestState::Skew));
    }

    #[test]
    fn majority_is_stable_on_ties() {
        assert_eq!(majority(["b", "a"].into_iter()), Some("a".into()));
        assert_eq!(majority(std::iter::empty()), None);
    }

    /// A node whose CLI path or `--version` differs from its class's majority is
    /// skewed; one whose CLI is not known yet is neither counted nor flagged.
    #[test]
    fn cli_path_and_version_split_from_the_class() {
        let with_cli = |path: &str, version: &str| {
            let mut st = node(Some("aaa"), Some("aaa"), "b1", "1", "1");
            st.cli = Some(Stamped::new(
                crate::signals::CliIdentity {
                    path: path.into(),
                    version: version.into(),
                    on_path: true,
                },
                0,
            ));
            st
        };
        let brew = "/opt/homebrew/bin/openclaw";
        let states = [
            with_cli(brew, "OpenClaw 2026.9.6 (eb377ac)"),
            with_cli(brew, "OpenClaw 2026.9.6 (eb377ac)"),
            with_cli("/usr/local/bin/openclaw", "OpenClaw 2026.9.6 (eb377ac)"),
            with_cli(brew, "OpenClaw 2026.9.7 (0c1d2e3)"),
            node(Some("aaa"), Some("aaa"), "b1", "1", "1"),
            with_cli("", ""),
            with_cli("/srv/openclaw/bin/openclaw", "OpenClaw 2026.9.6 (eb377ac)"),
        ];
        let mut states = states;
        // a path set in the inventory (not looked up on the PATH) is not skew
        if let Some(c) = states[6].cli.as_mut() {
            c.value.on_path = false;
        }
        let nodes: Vec<(&str, &NodeState)> = states.iter().map(|s| ("w", s)).collect();
        let s = assess(&nodes, None);
        assert!(!s[0].cli && !s[0].any(), "{:?}", s[0]);
        assert!(s[2].cli, "{:?}", s[2]);
        assert_eq!(
            s[2].reasons,
            vec![format!("cli path /usr/local/bin/openclaw != class {brew}")]
        );
        assert_eq!(
            s[3].reasons,
            vec![
                "cli --version OpenClaw 2026.9.7 (0c1d2e3) != class OpenClaw 2026.9.6 (eb377ac)"
                    .to_string()
            ]
        );
        assert!(!s[4].cli && !s[4].any(), "not known yet: {:?}", s[4]);
        assert_eq!(
            s[5].reasons,
            vec![
                format!("cli path none != class {brew}"),
                "cli --version none != class OpenClaw 2026.9.6 (eb377ac)".to_string()
            ]
        );
        assert!(!s[6].cli && !s[6].any(), "{:?}", s[6]);
    }
}
