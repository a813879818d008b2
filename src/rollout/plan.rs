//! The plan: classes in order; in each, a canary, then waves, a concurrency limit and a
//! failure budget.

use serde::Serialize;

use crate::inventory::{Inventory, NodeId};

/// How big a wave is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Count(usize),
    Percent(u8),
}

impl Size {
    /// Parse `5` or `25%`.
    pub fn parse(s: &str) -> Result<Size, ParseError> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p: u8 = p
                .trim()
                .parse()
                .map_err(|_| ParseError::Percent(s.to_string()))?;
            if p == 0 || p > 100 {
                return Err(ParseError::Percent(s.to_string()));
            }
            Ok(Size::Percent(p))
        } else {
            let n: usize = s.parse().map_err(|_| ParseError::Size(s.to_string()))?;
            Ok(Size::Count(n))
        }
    }

    /// Resolve against `total` nodes; at least 1 for a batch when `min_one`.
    pub fn of(self, total: usize, min_one: bool) -> usize {
        let n = match self {
            Size::Count(n) => n,
            Size::Percent(p) => (total * p as usize).div_ceil(100),
        };
        if min_one { n.max(1) } else { n }
    }
}

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Only these classes, in this order (default: every class, inventory order).
    pub classes: Option<Vec<String>>,
    /// Only these nodes, by name (`--node`, repeatable): each class keeps its named
    /// nodes, the rest of the plan (canary, waves) is made of them. `None`: every node.
    pub nodes: Option<Vec<String>>,
    pub wave: Size,
    pub concurrency: usize,
    pub failure_budget: Size,
    /// Run doctor on every node, not only the canary.
    pub doctor_every_node: bool,
    /// Classes are independent: their canaries start together and each class widens on
    /// its own.
    pub parallel_classes: bool,
    /// The canary bake (`--bake`): how long each class's canary is watched after it
    /// lands, before its first wave; 0 = none.
    pub bake_ms: u64,
    /// How often a baking canary is polled (the poll interval).
    pub bake_every_ms: u64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            classes: None,
            nodes: None,
            wave: Size::Percent(25),
            concurrency: 4,
            failure_budget: Size::Count(0),
            doctor_every_node: false,
            parallel_classes: false,
            bake_ms: 0,
            bake_every_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassPlan {
    pub class: String,
    /// Node index (into the inventory).
    pub canary: NodeId,
    pub waves: Vec<Vec<NodeId>>,
    pub concurrency: usize,
    /// Failed nodes the class tolerates; one more halts it.
    pub failure_budget: usize,
}

impl ClassPlan {
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::once(self.canary).chain(self.waves.iter().flatten().copied())
    }
    pub fn len(&self) -> usize {
        1 + self.waves.iter().map(Vec::len).sum::<usize>()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub classes: Vec<ClassPlan>,
    pub doctor_every_node: bool,
    /// Every class runs side by side (its own canary, then its own waves) instead of
    /// one class after the other.
    pub parallel_classes: bool,
    /// The canary bake: after a class's canary lands it is polled every
    /// `bake_every_ms` for `bake_ms` before the class widens; 0 = no bake.
    pub bake_ms: u64,
    pub bake_every_ms: u64,
    /// The names a stock macOS rsync (2.6.9 or openrsync: no `-s`) cannot carry safely,
    /// each `<node>: <name>: <why>` (`node_ops::old_rsync_refusals`): a node whose rsync lacks
    /// `-s` refuses them at its baseline. Shown by `--check` and the plan view.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub old_rsync_refusals: Vec<String>,
}

impl Plan {
    /// Which class and stage (0 = canary, n = wave n) a node is in.
    pub fn locate(&self, node: NodeId) -> Option<(usize, usize)> {
        for (ci, c) in self.classes.iter().enumerate() {
            if c.canary == node {
                return Some((ci, 0));
            }
            for (wi, w) in c.waves.iter().enumerate() {
                if w.contains(&node) {
                    return Some((ci, wi + 1));
                }
            }
        }
        None
    }

    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.classes.iter().flat_map(ClassPlan::nodes)
    }

    /// This plan kept to the nodes `keep` accepts: each class keeps its kept nodes in
    /// plan order, the first of them its canary, its waves without the others (empty
    /// waves and classes dropped). `None` when no node is kept.
    pub fn only(&self, keep: impl Fn(NodeId) -> bool) -> Option<Plan> {
        let classes: Vec<ClassPlan> = self
            .classes
            .iter()
            .filter_map(|c| {
                let mut kept = c.nodes().filter(|&n| keep(n));
                let canary = kept.next()?;
                let waves = c
                    .waves
                    .iter()
                    .map(|w| {
                        w.iter()
                            .copied()
                            .filter(|&n| n != canary && keep(n))
                            .collect::<Vec<_>>()
                    })
                    .filter(|w| !w.is_empty())
                    .collect();
                Some(ClassPlan {
                    class: c.class.clone(),
                    canary,
                    waves,
                    concurrency: c.concurrency,
                    failure_budget: c.failure_budget,
                })
            })
            .collect();
        (!classes.is_empty()).then_some(Plan {
            classes,
            doctor_every_node: self.doctor_every_node,
            parallel_classes: self.parallel_classes,
            bake_ms: self.bake_ms,
            bake_every_ms: self.bake_every_ms,
            old_rsync_refusals: self.old_rsync_refusals.clone(),
        })
    }

    /// The plan as text: which node in which wave.
    pub fn describe(&self, inv: &Inventory) -> String {
        let name = |i: NodeId| inv.nodes.name(i);
        let mut s = String::new();
        if self.parallel_classes && self.classes.len() > 1 {
            s.push_str(&format!(
                "classes in parallel (--parallel-classes): the {} canaries start together and \
                 each class widens on its own once its canary landed; a halt in any class \
                 stops new nodes in every class\n",
                self.classes.len()
            ));
        } else if self.classes.len() > 1 {
            s.push_str(
                "classes one after the other: a class starts when the one before it is done\n",
            );
        }
        if self.bake_ms > 0 {
            s.push_str(&format!(
                "canary bake {} (--bake): each canary is polled every {} once it lands; a dead \
                 or skewed verdict halts its class before any wave node is touched\n",
                duration_text(self.bake_ms),
                duration_text(self.bake_every_ms)
            ));
        } else {
            s.push_str("canary bake 0s (--bake): each class widens as soon as its canary lands\n");
        }
        for (ci, c) in self.classes.iter().enumerate() {
            s.push_str(&format!(
                "class {} ({}): {} nodes, concurrency {}, failure budget {}\n",
                ci + 1,
                c.class,
                c.len(),
                c.concurrency,
                c.failure_budget
            ));
            s.push_str(&format!("  canary  {}\n", name(c.canary)));
            for (wi, w) in c.waves.iter().enumerate() {
                let names: Vec<&str> = w.iter().map(|&i| name(i)).collect();
                s.push_str(&format!("  wave {:<2} {}\n", wi + 1, names.join(" ")));
            }
        }
        if !self.old_rsync_refusals.is_empty() {
            s.push_str(
                "refused on a node without rsync 3 (a stock macOS rsync has no -s; install \
                 rsync 3 on the node with brew install rsync, or point meshroll_rsync_path \
                 at one):\n",
            );
            for r in &self.old_rsync_refusals {
                s.push_str(&format!("  {r}\n"));
            }
        }
        s
    }
}

/// Why no plan could be made of an inventory and the options; its `Display` is the
/// message the command prints (node and class names cleaned).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("class {class:?} is not in the inventory (classes: {known})")]
    UnknownClass { class: String, known: String },
    #[error("--node {node}: no such node in the inventory{hint}")]
    UnknownNode { node: String, hint: String },
    #[error("--node {node}: its class {class} is not one --class names")]
    NodeOutsideClasses { node: String, class: String },
    #[error("no nodes to roll out to")]
    NoNodes,
}

/// A flag's value that is not a size or a duration: what was expected and what came
/// (`--wave: expected {this}`). The text is the operator's own, as typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a percentage 1-100, got {0:?}")]
    Percent(String),
    #[error("a count or a percentage like 25%, got {0:?}")]
    Size(String),
    #[error("a duration such as 90s, 5m or 1h30m, got {0:?}")]
    Duration(String),
}

/// Build the plan. The canary of a class is its first node labelled `canary`, else its
/// first node in inventory order.
pub fn make(inv: &Inventory, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let order: Vec<String> = match &opts.classes {
        Some(cs) => {
            for c in cs {
                if !inv.classes.contains(c) {
                    return Err(PlanError::UnknownClass {
                        class: c.clone(),
                        known: inv.classes.join(", "),
                    });
                }
            }
            cs.clone()
        }
        None => inv.classes.clone(),
    };
    let named = named_nodes(inv, opts.nodes.as_deref(), &order)?;
    let mut classes = Vec::new();
    for class in order {
        let members: Vec<NodeId> = inv
            .nodes
            .enumerate()
            .filter(|(i, n)| n.class == class && named.as_ref().is_none_or(|s| s.contains(i)))
            .map(|(i, _)| i)
            .collect();
        let Some(&first) = members.first() else {
            continue;
        };
        let canary = members
            .iter()
            .copied()
            .find(|&i| inv.nodes[i].labels.iter().any(|l| l == "canary"))
            .unwrap_or(first);
        let rest: Vec<NodeId> = members.into_iter().filter(|&i| i != canary).collect();
        let size = opts.wave.of(rest.len(), true);
        let waves = rest.chunks(size.max(1)).map(<[NodeId]>::to_vec).collect();
        classes.push(ClassPlan {
            class,
            canary,
            waves,
            concurrency: opts.concurrency.max(1),
            failure_budget: opts.failure_budget.of(1 + rest.len(), false),
        });
    }
    if classes.is_empty() {
        return Err(PlanError::NoNodes);
    }
    Ok(Plan {
        classes,
        doctor_every_node: opts.doctor_every_node,
        parallel_classes: opts.parallel_classes,
        bake_ms: opts.bake_ms,
        bake_every_ms: opts.bake_every_ms.max(1),
        old_rsync_refusals: Vec::new(),
    })
}

/// A duration as `--bake` takes it: numbers with units `h`, `m`, `s` or `ms`
/// (`90s`, `5m`, `1h30m`, `0s`); a bare number is seconds. In milliseconds.
pub fn parse_duration(s: &str) -> Result<u64, ParseError> {
    let bad = || ParseError::Duration(s.to_string());
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<u64>() {
        return secs.checked_mul(1000).ok_or_else(bad);
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('s') {
            (1000, 1)
        } else {
            return Err(bad());
        };
        rest = &rest[len..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// A duration for people: `0s`, `45s`, `5m`, `5m30s`, `1h02m`, `1.5s`.
pub fn duration_text(ms: u64) -> String {
    let s = ms / 1000;
    if !ms.is_multiple_of(1000) && s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        if s.is_multiple_of(60) {
            format!("{}m", s / 60)
        } else {
            format!("{}m{:02}s", s / 60, s % 60)
        }
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// The nodes `--node` names (`None`: no limit), each checked: in the inventory (else a
/// did-you-mean) and in a class the plan covers.
fn named_nodes(
    inv: &Inventory,
    names: Option<&[String]>,
    classes: &[String],
) -> Result<Option<std::collections::BTreeSet<NodeId>>, PlanError> {
    let Some(names) = names.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let mut set = std::collections::BTreeSet::new();
    for name in names {
        let Some(i) = inv.nodes.find(name) else {
            let hint = crate::suggest::did_you_mean(crate::suggest::closest(
                name,
                inv.nodes.iter().map(|n| n.name.as_str()),
            ));
            return Err(PlanError::UnknownNode {
                node: crate::safe_text::clean(name),
                hint,
            });
        };
        let class = &inv.nodes[i].class;
        if !classes.contains(class) {
            return Err(PlanError::NodeOutsideClasses {
                node: crate::safe_text::clean(name),
                class: crate::safe_text::clean(class),
            });
        }
        set.insert(i);
    }
    Ok(Some(set))
}

#[cfg(test)]
mod tests {

    #[test]
    fn bake_durations_read_and_print() {
        for (text, ms) in [
            ("0s", 0),
            ("0", 0),
            ("90", 90_000),
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1500ms", 1_500),
        ] {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
        }
        for bad in ["", "5x", "m", "-5s", "1h 30m", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        for (ms, text) in [
            (0, "0s"),
            (45_000, "45s"),
            (1_500, "1.5s"),
            (300_000, "5m"),
            (330_000, "5m30s"),
            (3_720_000, "1h02m"),
        ] {
            assert_eq!(duration_text(ms), text);
        }
    }

    use super::*;
    use crate::inventory::{Layout, Node};
    use std::path::Path;

    fn indices(waves: &[Vec<NodeId>]) -> Vec<Vec<usize>> {
        waves
            .iter()
            .map(|w| w.iter().map(|n| n.index()).collect())
            .collect()
    }

    /// Two gateways, then five workers.
    const POOL: [(&str, &str); 7] = [
        ("g1", "gateway"),
        ("g2", "gateway"),
        ("w1", "worker"),
        ("w2", "worker"),
        ("w3", "worker"),
        ("w4", "worker"),
        ("w5", "worker"),
    ];

    /// The plan of `i` in waves of `wave`, every other option the default.
    fn in_waves(i: &Inventory, wave: Size) -> Plan {
        make(
            i,
            &PlanOptions {
                wave,
                ..PlanOptions::default()
            },
        )
        .expect("plan")
    }

    fn inv(spec: &[(&str, &str)]) -> Inventory {
        let nodes = spec
            .iter()
            .map(|(n, c)| Node {
                name: n.to_string(),
                host: n.to_string(),
                port: None,
                user: None,
                class: c.to_string(),
                labels: if n.ends_with('*') {
                    vec!["canary".into()]
                } else {
                    vec![]
                },
                layout: Layout::default(),
            })
            .collect();
        Inventory::from_nodes(Path::new("t"), nodes).expect("inv")
    }

    #[test]
    fn a_plan_kept_to_some_nodes_keeps_their_order_and_drops_empty_waves() {
        let i = inv(&POOL);
        let p = in_waves(&i, Size::Count(2));
        // Worker waves were [w2 w3] [w4 w5]; keeping w3 and w5 makes w3 the canary.
        let kept = p.only(|n| [4, 6].contains(&n.index())).expect("some kept");
        assert_eq!(kept.classes.len(), 1);
        assert_eq!(kept.classes[0].canary.index(), 4);
        assert_eq!(indices(&kept.classes[0].waves), vec![vec![6]]);
        assert!(p.only(|_| false).is_none());
    }

    #[test]
    fn named_nodes_limit_the_plan_and_unknown_names_are_refused() {
        let i = inv(&POOL[..5]);
        let only = |names: &[&str], classes: Option<Vec<String>>| {
            make(
                &i,
                &PlanOptions {
                    nodes: Some(names.iter().map(|n| n.to_string()).collect()),
                    classes,
                    ..PlanOptions::default()
                },
            )
        };
        // One worker: one class, that node its canary, no waves.
        let p = only(&["w2"], None).expect("plan");
        assert_eq!(p.classes.len(), 1);
        assert_eq!(p.classes[0].class, "worker");
        assert_eq!(p.classes[0].canary.index(), 3);
        assert!(p.classes[0].waves.is_empty());
        assert_eq!(p.locate(NodeId::new(2)), None, "w1 is not in the plan");
        // Two classes' nodes: each class keeps its own, inventory order.
        let p = only(&["w3", "g2", "w1"], None).expect("plan");
        assert_eq!(p.classes.len(), 2);
        assert_eq!(p.classes[0].canary.index(), 1);
        assert_eq!(p.classes[1].canary.index(), 2);
        assert_eq!(indices(&p.classes[1].waves), vec![vec![4]]);
        // A typo is named, with the closest name.
        let e = only(&["w22"], None).expect_err("unknown node");
        assert!(matches!(e, PlanError::UnknownNode { .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("--node w22: no such node") && e.contains("did you mean"),
            "{e}"
        );
        // A node of a class --class leaves out.
        let e = only(&["g1"], Some(vec!["worker".into()])).expect_err("class left out");
        assert!(matches!(e, PlanError::NodeOutsideClasses { .. }), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("--node g1: its class gateway"), "{e}");
        // No names: every node.
        let p = only(&[], None).expect("plan");
        assert_eq!(p.classes.len(), 2);
    }

    #[test]
    fn canary_then_waves_by_count_and_percent() {
        let i = inv(&POOL);
        let p = in_waves(&i, Size::Count(2));
        assert_eq!(p.classes.len(), 2);
        assert_eq!(p.classes[0].canary.index(), 0);
        assert_eq!(indices(&p.classes[0].waves), vec![vec![1]]);
        assert_eq!(p.classes[1].canary.index(), 2);
        assert_eq!(indices(&p.classes[1].waves), vec![vec![3, 4], vec![5, 6]]);
        let p = in_waves(&i, Size::Percent(50));
        assert_eq!(indices(&p.classes[1].waves), vec![vec![3, 4], vec![5, 6]]);
        let p = in_waves(&i, Size::Percent(1));
        assert_eq!(p.classes[1].waves.len(), 4, "at least one node a wave");
        assert_eq!(
            p.locate(NodeId::new(5)),
            Some((1, 3)),
            "one node a wave: w4 is in wave 3"
        );
        assert_eq!(p.locate(NodeId::new(2)), Some((1, 0)));
        let text = p.describe(&i);
        assert!(text.contains("canary  w1"), "{text}");
        assert!(text.contains("wave 1  w2"), "{text}");
    }

    #[test]
    fn labelled_canary_class_filter_and_budget() {
        let i = inv(&[
            ("w1", "worker"),
            ("w2*", "worker"),
            ("w3", "worker"),
            ("g1", "gateway"),
        ]);
        let p = make(
            &i,
            &PlanOptions {
                classes: Some(vec!["worker".into()]),
                failure_budget: Size::Percent(50),
                ..PlanOptions::default()
            },
        )
        .expect("plan");
        assert_eq!(p.classes.len(), 1);
        assert_eq!(p.classes[0].canary.index(), 1);
        assert_eq!(p.classes[0].failure_budget, 2);
        assert!(
            make(
                &i,
                &PlanOptions {
                    classes: Some(vec!["db".into()]),
                    ..PlanOptions::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(Size::parse("25%"), Ok(Size::Percent(25)));
        assert_eq!(Size::parse("3"), Ok(Size::Count(3)));
        assert!(Size::parse("0%").is_err());
        assert!(Size::parse("x").is_err());
    }

    #[test]
    fn a_bad_size_or_duration_is_typed_and_worded_as_before() {
        let said = |e: ParseError| e.to_string();
        assert_eq!(
            Size::parse(" 0% ").map_err(said),
            Err("a percentage 1-100, got \"0%\"".into())
        );
        assert_eq!(
            Size::parse("x").map_err(said),
            Err("a count or a percentage like 25%, got \"x\"".into())
        );
        assert_eq!(
            parse_duration(" 5x").map_err(said),
            Err("a duration such as 90s, 5m or 1h30m, got \" 5x\"".into())
        );
        assert_eq!(
            parse_duration("99999999999999999999h"),
            Err(ParseError::Duration("99999999999999999999h".into()))
        );
    }
}
