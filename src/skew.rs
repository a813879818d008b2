//! Version skew across the fleet: a node that differs from its class (bundle, lock
//! file, build, CLI/daemon version) or from the bundle being rolled out.
//!
//! Each class-majority signal has its own majority: a signal whose values have no
//! strict majority in a class (every build stamped per node, a class split in half)
//! flags nobody, and the class says so ([`Skew::no_majority`]). A bundle without a lock
//! file is *unverified*, a fact of its own, not a difference between nodes.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::observe::NodeState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestState {
    InSync,
    /// A rollout targets another bundle and this node still runs its class's previous
    /// one: it is waiting for the rollout, not skewed (`"waiting"` in JSON).
    Waiting,
    Skew,
    Missing,
    Mismatch,
}

impl ManifestState {
    pub fn as_str(self) -> &'static str {
        match self {
            ManifestState::InSync => "in_sync",
            ManifestState::Waiting => "waiting",
            ManifestState::Skew => "skew",
            ManifestState::Missing => "missing",
            ManifestState::Mismatch => "mismatch",
        }
    }
}

/// What a node can differ by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The bundle `current` points at (or its absence), against the rollout's target
    /// or the class majority.
    Bundle,
    /// The lock file names another tree than its folder.
    Lock,
    /// The gateway's build id, against the class majority.
    Build,
    /// The CLI and daemon versions (as one pair), against the class majority.
    Version,
    /// Where the CLI the poll channel runs is installed (found on the login shell's
    /// PATH), against the class majority; a path set in the inventory is configuration.
    CliPath,
    /// The CLI's own `--version` line, against the class majority.
    CliVersion,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Bundle => "bundle",
            Signal::Lock => "lock",
            Signal::Build => "build",
            Signal::Version => "version",
            Signal::CliPath => "cli path",
            Signal::CliVersion => "cli --version",
        }
    }
}

/// One way a node differs: the signal, the node's value, and what it was held to
/// (the class majority or the rollout's target; none for a lock file that names
/// another tree).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Diff {
    pub signal: Signal,
    pub value: String,
    pub reference: Option<String>,
}

/// The skew picture of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skew {
    /// `None` until the node's manifest has been observed.
    pub manifest: Option<ManifestState>,
    /// The bundle has no lock file (a hand deploy): compared by directory name only.
    /// Not skew: counted and shown on its own.
    pub unverified: bool,
    /// What the manifest was compared with: the rollout's bundle or the class majority.
    pub reference: Option<String>,
    /// CLI/daemon versions differ from the class majority.
    pub versions: bool,
    /// Build id differs from the majority of the class.
    pub build: bool,
    /// The CLI's path or `--version` differs from the majority of the class.
    pub cli: bool,
    /// What differs, in [`Signal`] order.
    pub diffs: Vec<Diff>,
    /// The class-majority signals that have no majority in this node's class (so they
    /// flag nobody there).
    pub no_majority: Vec<Signal>,
    /// One line per difference, for the table and `status --json`.
    pub reasons: Vec<String>,
}

impl Skew {
    pub fn any(&self) -> bool {
        !self.diffs.is_empty()
    }
}

/// The most common value, ties broken by the smallest value so the answer is stable.
fn plurality<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
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

/// The value held by more than half of `values`, if any.
pub fn majority<S: AsRef<str>>(values: impl Iterator<Item = S>) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut n = 0usize;
    for v in values {
        n += 1;
        *counts.entry(v.as_ref().to_string()).or_default() += 1;
    }
    counts.into_iter().find(|(_, c)| c * 2 > n).map(|(v, _)| v)
}

/// A signal judged against its class's majority: what a node's value is (`None` when
/// not observed, or not comparable, e.g. a gateway that is not ready), and how a
/// difference reads.
struct ClassSignal {
    signal: Signal,
    value: fn(&NodeState) -> Option<String>,
    reason: fn(&str, &str) -> String,
}

fn ready_gateway(st: &NodeState) -> Option<&crate::signals::GatewayStatus> {
    let g = &st.gateway.as_ref()?.value;
    g.state.is_ready().then_some(g)
}

/// The CLI the node's poll channel found, as `(path, --version)` shown (`none` when
/// empty); `None` until its channel said.
fn cli_seen(st: &NodeState) -> Option<&crate::signals::CliIdentity> {
    st.cli.as_ref().map(|c| &c.value)
}

fn or_none(v: &str) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.to_string()
    }
}

/// The class-majority signals besides the bundle, each with its own majority.
const CLASS_SIGNALS: &[ClassSignal] = &[
    ClassSignal {
        signal: Signal::Build,
        value: |st| ready_gateway(st)?.build_id.clone(),
        reason: |v, r| format!("build {} != class {}", short_build(v), short_build(r)),
    },
    ClassSignal {
        signal: Signal::Version,
        // Read from a ready gateway only, both versions known: an unreachable daemon
        // is the verdict's business, not a version of its own.
        value: |st| {
            let g = ready_gateway(st)?;
            Some(format!(
                "cli {} / daemon {}",
                g.cli_version.as_deref()?,
                g.daemon_version.as_deref()?
            ))
        },
        reason: |v, r| format!("versions: {v} != class {r}"),
    },
    ClassSignal {
        signal: Signal::CliPath,
        // Only among nodes that look the CLI up on their PATH: a path set in the
        // inventory (`meshroll_openclaw=/abs/path`) is configuration, not skew.
        value: |st| {
            let c = cli_seen(st)?;
            c.on_path.then(|| or_none(&c.path))
        },
        reason: |v, r| format!("cli path {v} != class {r}"),
    },
    ClassSignal {
        signal: Signal::CliVersion,
        value: |st| Some(or_none(&cli_seen(st)?.version)),
        reason: |v, r| format!("cli --version {v} != class {r}"),
    },
];

/// Assess every node. `nodes` pairs each node's class with its state; `target` is the
/// SKILLS_SHA being rolled out, if any. While a rollout runs, a node on its class's
/// previous bundle (the most common of the class's bundles that are not the target)
/// is [`ManifestState::Waiting`]; a node on any other bundle is skewed.
pub fn assess(nodes: &[(&str, &NodeState)], target: Option<&str>) -> Vec<Skew> {
    assess_rolling(nodes, target, &|_| true)
}

/// What a class is compared with.
struct ClassRefs {
    /// The class's majority bundle (no rollout for this class).
    bundle: Option<String>,
    /// The class's previous bundle while a rollout targets it.
    previous: Option<String>,
    /// Per entry of [`CLASS_SIGNALS`]: the majority, if there is one, and whether any
    /// node had a value at all.
    signals: Vec<(Option<String>, bool)>,
}

/// [`assess`] when the rollout covers only some classes: `rolling(class)` says whether
/// the rollout targets that class; the other classes are judged by their own majority.
pub fn assess_rolling(
    nodes: &[(&str, &NodeState)],
    target: Option<&str>,
    rolling: &dyn Fn(&str) -> bool,
) -> Vec<Skew> {
    let target_of = |class: &str| target.filter(|_| rolling(class));
    let mut refs: BTreeMap<&str, ClassRefs> = BTreeMap::new();
    for (class, _) in nodes {
        refs.entry(class).or_insert_with(|| {
            let members = || nodes.iter().filter(|(c, _)| c == class).map(|(_, s)| *s);
            let shas = || members().filter_map(|s| s.manifest.as_ref()?.value.sha());
            let t = target_of(class);
            ClassRefs {
                bundle: majority(shas()),
                previous: t.and_then(|t| plurality(shas().filter(|sha| *sha != t))),
                signals: CLASS_SIGNALS
                    .iter()
                    .map(|cs| {
                        let mut any = false;
                        let m = majority(members().filter_map(|s| (cs.value)(s)).inspect(|_| {
                            any = true;
                        }));
                        (m, any)
                    })
                    .collect(),
            }
        });
    }
    nodes
        .iter()
        .map(|(class, st)| {
            let Some(r) = refs.get(class) else {
                return one(st, None, None, &[], false);
            };
            let target = target_of(class);
            let reference = target.map(str::to_string).or_else(|| r.bundle.clone());
            one(
                st,
                reference,
                target.map(|_| r.previous.as_deref()),
                &r.signals,
                // Without a rollout for the class, its bundles may have no majority.
                target.is_none() && r.bundle.is_none(),
            )
        })
        .collect()
}

/// One node against its class. `previous` is `Some` while a rollout targets the class
/// (holding the class's previous bundle, if known); `signals` are the class's majorities
/// for [`CLASS_SIGNALS`]; `bundle_split` says the class has no majority bundle.
fn one(
    st: &NodeState,
    reference: Option<String>,
    previous: Option<Option<&str>>,
    signals: &[(Option<String>, bool)],
    bundle_split: bool,
) -> Skew {
    let mut diffs = Vec::new();
    let mut reasons = Vec::new();
    let mut unverified = false;
    let mut no_majority = Vec::new();
    let mut differ = |signal: Signal, value: &str, reference: Option<&str>, reason: String| {
        diffs.push(Diff {
            signal,
            value: value.to_string(),
            reference: reference.map(str::to_string),
        });
        reasons.push(reason);
    };
    let manifest = st.manifest.as_ref().map(|m| {
        let m = &m.value;
        let Some(sha) = m.sha() else {
            let what = if m.not_link {
                "manifest: current is a directory, not a symlink"
            } else {
                "manifest: no current bundle"
            };
            differ(
                Signal::Bundle,
                "missing",
                reference.as_deref(),
                what.to_string(),
            );
            return ManifestState::Missing;
        };
        if !m.bundle_dir {
            differ(
                Signal::Bundle,
                "missing",
                reference.as_deref(),
                format!("manifest: current points at missing directory {sha}"),
            );
            return ManifestState::Missing;
        }
        let claim = m.lock.as_ref().map(|l| l.claim.as_str()).unwrap_or("");
        if claim.is_empty() {
            // No lock file: compared by directory name only, and shown as unverified.
            unverified = true;
        } else if claim != sha {
            differ(
                Signal::Lock,
                claim,
                Some(sha),
                format!(
                    "manifest: lock file names {} but directory is {}",
                    short(claim),
                    short(sha)
                ),
            );
            return ManifestState::Mismatch;
        }
        match (&reference, previous) {
            (Some(r), Some(prev)) if r != sha && prev == Some(sha) => ManifestState::Waiting,
            (Some(r), Some(prev)) if r != sha => {
                differ(
                    Signal::Bundle,
                    sha,
                    Some(r),
                    format!(
                        "manifest {} is neither the rollout bundle {} nor the class's previous {}",
                        short(sha),
                        short(r),
                        prev.map_or("-", short)
                    ),
                );
                ManifestState::Skew
            }
            (Some(r), None) if r != sha => {
                differ(
                    Signal::Bundle,
                    sha,
                    Some(r),
                    format!("manifest {} != class majority {}", short(sha), short(r)),
                );
                ManifestState::Skew
            }
            _ => ManifestState::InSync,
        }
    });
    if bundle_split
        && st
            .manifest
            .as_ref()
            .is_some_and(|m| m.value.sha().is_some())
    {
        no_majority.push(Signal::Bundle);
    }
    let mut versions = false;
    let mut build = false;
    let mut cli = false;
    for (cs, (class_value, any)) in CLASS_SIGNALS.iter().zip(signals) {
        let Some(class_value) = class_value else {
            if *any {
                no_majority.push(cs.signal);
            }
            continue;
        };
        let Some(v) = (cs.value)(st) else { continue };
        if v != *class_value {
            versions |= cs.signal == Signal::Version;
            build |= cs.signal == Signal::Build;
            cli |= matches!(cs.signal, Signal::CliPath | Signal::CliVersion);
            differ(
                cs.signal,
                &v,
                Some(class_value),
                (cs.reason)(&v, class_value),
            );
        }
    }
    Skew {
        manifest,
        unverified,
        reference,
        versions,
        build,
        cli,
        diffs,
        no_majority,
        reasons,
    }
}

/// Nodes that differ the same way, within one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'a> {
    /// What the nodes differ by (the same for each of them).
    pub diffs: &'a [Diff],
    /// The nodes' indices into the slice given to [`groups`], in its order.
    pub nodes: Vec<usize>,
}

/// The skewed nodes of one class grouped by what differs (every signal and value the
/// same), the smallest group first (the minority is what to look at), ties in the
/// order of what differs.
pub fn groups<'a>(diffs: &[&'a [Diff]]) -> Vec<Group<'a>> {
    let mut by: BTreeMap<&'a [Diff], Vec<usize>> = BTreeMap::new();
    for (i, d) in diffs.iter().enumerate() {
        if !d.is_empty() {
            by.entry(d).or_default().push(i);
        }
    }
    let mut out: Vec<Group> = by
        .into_iter()
        .map(|(diffs, nodes)| Group { diffs, nodes })
        .collect();
    // Stable: groups of one size stay in the order of what differs.
    out.sort_by_key(|g| g.nodes.len());
    out
}

/// What a group differs by, in words: `bundle bbbbbbbbbbbb ≠ aaaaaaaaaaaa`.
pub fn describe(diffs: &[Diff]) -> String {
    let shorten = |s: Signal, v: &'_ str| -> String {
        match s {
            Signal::Bundle | Signal::Lock => short(v).to_string(),
            Signal::Build => short_build(v).to_string(),
            Signal::Version | Signal::CliPath | Signal::CliVersion => v.to_string(),
        }
    };
    diffs
        .iter()
        .map(|d| {
            let v = shorten(d.signal, &d.value);
            match (&d.reference, d.signal) {
                (Some(r), Signal::Lock) => format!("lock names {v}, folder {}", short(r)),
                (Some(r), s) => format!("{} {v} ≠ {}", s.as_str(), shorten(s, r)),
                (None, s) => format!("{} {v}", s.as_str()),
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
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
        assert!(!s[5].any(), "an unverified bundle is not skew");
        assert!(s[6].versions && !s[6].build);
        assert_eq!(
            s[6].reasons,
            vec!["versions: cli 2 / daemon 1 != class cli 1 / daemon 1".to_string()]
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
        assert_eq!(s[0].manifest, Some(ManifestState::Waiting));
        assert!(!s[0].any(), "pending is not skew: {:?}", s[0].reasons);
        assert_eq!(s[0].reference.as_deref(), Some("ttt"));
        assert_eq!(s[1].manifest, Some(ManifestState::Waiting));
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
            s[5].unverified && !s[5].any(),
            "an unverified bundle is not skew"
        );
        assert_eq!(s[5].manifest, Some(ManifestState::Waiting));
        assert_eq!(s[6].manifest, Some(ManifestState::Waiting));
        assert!(s[6].versions && s[6].any(), "a version split stays skew");
        assert_eq!(s[7].manifest, Some(ManifestState::Waiting));
        // A rollout of the workers only: the gateway class keeps its own majority.
        let s = assess_rolling(&nodes, Some("ttt"), &|c| c == "w");
        assert_eq!(s[0].manifest, Some(ManifestState::Waiting));
        assert_eq!(s[7].manifest, Some(ManifestState::InSync));
        assert_eq!(s[7].reference.as_deref(), Some("ggg"));
        // Without a rollout nothing is pending.
        let s = assess(&nodes, None);
        assert!(s.iter().all(|k| k.manifest != Some(ManifestState::Waiting)));
        assert_eq!(s[2].manifest, Some(ManifestState::Skew));
    }

    #[test]
    fn plurality_is_stable_on_ties_and_majority_is_strict() {
        assert_eq!(plurality(["b", "a"].into_iter()), Some("a".into()));
        assert_eq!(plurality(std::iter::empty()), None);
        assert_eq!(majority(["b", "a"].iter()), None);
        assert_eq!(majority(["a", "b", "a"].iter()), Some("a".into()));
        assert_eq!(majority(["a", "b", "a", "c"].iter()), None);
        assert_eq!(majority(["a"].iter()), Some("a".into()));
        assert_eq!(majority(std::iter::empty::<&str>()), None);
    }

    /// A fleet deployed before meshroll (no lock files) is unverified, not skewed: only
    /// the node on another bundle differs.
    #[test]
    fn unverified_is_not_skew() {
        let mut states: Vec<NodeState> = (0..12)
            .map(|_| node(Some("aaa"), None, "b1", "1", "1"))
            .collect();
        states.push(node(Some("bbb"), None, "b1", "1", "1"));
        let nodes: Vec<(&str, &NodeState)> = states.iter().map(|s| ("w", s)).collect();
        let s = assess(&nodes, None);
        assert!(s.iter().all(|k| k.unverified));
        let skewed: Vec<usize> = (0..s.len()).filter(|&i| s[i].any()).collect();
        assert_eq!(skewed, vec![12]);
        assert_eq!(
            s[12].diffs,
            vec![Diff {
                signal: Signal::Bundle,
                value: "bbb".into(),
                reference: Some("aaa".into()),
            }]
        );
        assert!(s[0].reasons.is_empty(), "{:?}", s[0].reasons);
    }

    /// Builds stamped per node have no majority: the build flags nobody (and the class
    /// says it has no majority), while the node on another version is still flagged by
    /// the versions' own majority.
    #[test]
    fn unique_builds_flag_nobody_and_the_odd_version_still_shows() {
        let states = [
            node(Some("aaa"), Some("aaa"), "b1", "1", "1"),
            node(Some("aaa"), Some("aaa"), "b2", "1", "1"),
            node(Some("aaa"), Some("aaa"), "b3", "1", "1"),
            node(Some("aaa"), Some("aaa"), "b4", "2", "1"),
        ];
        let nodes: Vec<(&str, &NodeState)> = states.iter().map(|s| ("w", s)).collect();
        let s = assess(&nodes, None);
        assert!(s.iter().all(|k| !k.build), "{s:?}");
        assert!(s.iter().all(|k| k.no_majority == vec![Signal::Build]));
        let skewed: Vec<usize> = (0..4).filter(|&i| s[i].any()).collect();
        assert_eq!(skewed, vec![3]);
        assert!(s[3].versions);
        assert_eq!(s[3].diffs[0].signal, Signal::Version);
        assert_eq!(s[3].diffs[0].value, "cli 2 / daemon 1");
        assert_eq!(s[3].diffs[0].reference.as_deref(), Some("cli 1 / daemon 1"));
    }

    /// A class split in half on bundles has no majority bundle: nobody is flagged for
    /// it, and every node of the class says so. A rollout's target still judges.
    #[test]
    fn a_split_class_has_no_majority_bundle() {
        let states = [
            node(Some("aaa"), Some("aaa"), "b1", "1", "1"),
            node(Some("aaa"), Some("aaa"), "b1", "1", "1"),
            node(Some("bbb"), Some("bbb"), "b1", "1", "1"),
            node(Some("bbb"), Some("bbb"), "b1", "1", "1"),
        ];
        let nodes: Vec<(&str, &NodeState)> = states.iter().map(|s| ("w", s)).collect();
        let s = assess(&nodes, None);
        assert!(s.iter().all(|k| !k.any()));
        assert!(s.iter().all(|k| k.no_majority == vec![Signal::Bundle]));
        assert!(s.iter().all(|k| k.reference.is_none()));
        let s = assess(&nodes, Some("aaa"));
        assert!(s.iter().all(|k| k.no_majority.is_empty()));
        assert_eq!(s[2].manifest, Some(ManifestState::Waiting));
    }

    /// Skewed nodes group by what differs (all of it), the smallest group first; nodes
    /// that agree are in no group.
    #[test]
    fn groups_put_the_minority_first() {
        let bundle = |v: &str| Diff {
            signal: Signal::Bundle,
            value: v.into(),
            reference: Some("aaa".into()),
        };
        let build = Diff {
            signal: Signal::Build,
            value: "b2".into(),
            reference: Some("b1".into()),
        };
        let two_ways = [bundle("bbb"), build.clone()];
        let b = [bundle("bbb")];
        let c = [bundle("ccc")];
        let built = [build];
        let rows: Vec<&[Diff]> = vec![&b, &[], &built, &c, &b, &two_ways, &built, &b];
        let g = groups(&rows);
        let got: Vec<(String, Vec<usize>)> = g
            .iter()
            .map(|g| (describe(g.diffs), g.nodes.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bundle bbb ≠ aaa · build b2 ≠ b1".to_string(), vec![5]),
                ("bundle ccc ≠ aaa".to_string(), vec![3]),
                ("build b2 ≠ b1".to_string(), vec![2, 6]),
                ("bundle bbb ≠ aaa".to_string(), vec![0, 4, 7]),
            ]
        );
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
