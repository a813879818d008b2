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
    pub fn parse(s: &str) -> Result<Size, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p: u8 = p
                .trim()
                .parse()
                .map_err(|_| format!("a percentage 1-100, got {s:?}"))?;
            if p == 0 || p > 100 {
                return Err(format!("a percentage 1-100, got {s:?}"));
            }
            Ok(Size::Percent(p))
        } else {
            let n: usize = s
                .parse()
                .map_err(|_| format!("a count or a percentage like 25%, got {s:?}"))?;
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
    pub wave: Size,
    pub concurrency: usize,
    pub failure_budget: Size,
    /// Run doctor on every node, not only the canary.
    pub doctor_every_node: bool,
    /// Classes are independent: their canaries start together and each class widens on
    /// its own.
    pub parallel_classes: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            classes: None,
            wave: Size::Percent(25),
            concurrency: 4,
            failure_budget: Size::Count(0),
            doctor_every_node: false,
            parallel_classes: false,
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

/// Build the plan. The canary of a class is its first node labelled `canary`, else its
/// first node in inventory order.
pub fn make(inv: &Inventory, opts: &PlanOptions) -> Result<Plan, String> {
    let order: Vec<String> = match &opts.classes {
        Some(cs) => {
            for c in cs {
                if !inv.classes.contains(c) {
                    return Err(format!(
                        "class {c:?} is not in the inventory (classes: {})",
                        inv.classes.join(", ")
                    ));
                }
            }
            cs.clone()
        }
        None => inv.classes.clone(),
    };
    let mut classes = Vec::new();
    for class in order {
        let members: Vec<NodeId> = inv
            .nodes
            .enumerate()
            .filter(|(_, n)| n.class == class)
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
        return Err("no nodes to roll out to".into());
    }
    Ok(Plan {
        classes,
        doctor_every_node: opts.doctor_every_node,
        parallel_classes: opts.parallel_classes,
        old_rsync_refusals: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Layout, Node};
    use std::path::Path;

    fn indices(waves: &[Vec<NodeId>]) -> Vec<Vec<usize>> {
        waves
            .iter()
            .map(|w| w.iter().map(|n| n.index()).collect())
            .collect()
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
    fn canary_then_waves_by_count_and_percent() {
        let i = inv(&[
            ("g1", "gateway"),
            ("g2", "gateway"),
            ("w1", "worker"),
            ("w2", "worker"),
            ("w3", "worker"),
            ("w4", "worker"),
            ("w5", "worker"),
        ]);
        let p = make(
            &i,
            &PlanOptions {
                wave: Size::Count(2),
                ..PlanOptions::default()
            },
        )
        .expect("plan");
        assert_eq!(p.classes.len(), 2);
        assert_eq!(p.classes[0].canary.index(), 0);
        assert_eq!(indices(&p.classes[0].waves), vec![vec![1]]);
        assert_eq!(p.classes[1].canary.index(), 2);
        assert_eq!(indices(&p.classes[1].waves), vec![vec![3, 4], vec![5, 6]]);
        let p = make(
            &i,
            &PlanOptions {
                wave: Size::Percent(50),
                ..PlanOptions::default()
            },
        )
        .expect("plan");
        assert_eq!(indices(&p.classes[1].waves), vec![vec![3, 4], vec![5, 6]]);
        let p = make(
            &i,
            &PlanOptions {
                wave: Size::Percent(1),
                ..PlanOptions::default()
            },
        )
        .expect("plan");
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
}
