//! [`Command::Only`](super::Command::Only): keep a staged rollout to chosen nodes (the
//! skew view's "bring these back"), before any node is in flight. Pure, like the rest
//! of the machine.

use super::{Machine, NodeRun, Phase};
use crate::inventory::NodeId;

impl Machine {
    /// Whether a node is in flight (a phase running or a retry waiting), or the rollout
    /// was aborted or finished: then its plan can no longer change.
    pub fn settled_plan(&self) -> bool {
        self.aborted
            || self.finished
            || self
                .nodes
                .iter()
                .any(|s| matches!(s.run, NodeRun::Active { .. } | NodeRun::Retrying { .. }))
    }

    /// Keep the plan to `nodes` (those of them it holds). Nodes that only waited in the
    /// opened stage go back to pending; what a resumed node has done stays. Nothing
    /// happens once the plan is settled ([`Machine::settled_plan`]) or when none of
    /// `nodes` is in the plan.
    pub(super) fn only(&mut self, nodes: &[NodeId]) {
        if self.settled_plan() {
            return;
        }
        let Some(plan) = self.plan.only(|n| nodes.contains(&n)) else {
            return;
        };
        self.plan = plan;
        // Back to waiting: a change no record carries (see `track.rs`).
        for slot in self.nodes.iter_mut() {
            if slot.run
                == (NodeRun::Ready {
                    next: Phase::Baseline,
                })
            {
                slot.run = NodeRun::Pending;
            }
        }
        for steer in self.steer.iter_mut() {
            steer.step_token = false;
            steer.stepped = false;
        }
        self.started = false;
        self.lanes.clear();
        self.cursor = None;
        self.halt = None;
    }
}
