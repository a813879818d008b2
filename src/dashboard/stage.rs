//! Bring skewed nodes back: in the skew view, one key (`F`) asks to keep the staged
//! rollout (the `--skills` bundle) to the marked nodes, or, with no marks, to the skewed
//! nodes the view lists; `y` sends [`Command::Only`] to the rollout machine.

use super::{App, View};
use crate::inventory::NodeId;
use crate::keymap::Action;
use crate::rollout::Command;

/// Node names listed in the question before "and N more".
const NAMES_SHOWN: usize = 6;

impl App {
    /// The nodes the skew view's key stages: the marked nodes, else every skewed node.
    pub fn skew_targets(&self) -> Vec<NodeId> {
        if self.marked.is_empty() {
            self.rows
                .iter()
                .enumerate()
                .filter(|(_, r)| r.skew.any)
                .map(|(i, _)| NodeId::new(i))
                .collect()
        } else {
            self.marked.iter().copied().collect()
        }
    }

    /// The skew view's stage key: ask before keeping the staged rollout to the marked
    /// (or skewed) nodes. True when `action` was this key.
    pub(super) fn stage_skewed(&mut self, action: Action) -> bool {
        if action != Action::StageSkewed {
            return false;
        }
        if self.view != View::Skew {
            self.flash = Some("open the skew view (S) to roll skewed nodes back".into());
            return true;
        }
        let Some(d) = &self.rollout else {
            self.flash = Some(
                "no bundle staged: start meshroll with --skills DIR to roll these nodes back"
                    .into(),
            );
            return true;
        };
        if d.machine.settled_plan() {
            self.flash = Some(
                "the staged rollout is under way: finish or abort it before changing its nodes"
                    .into(),
            );
            return true;
        }
        let targets = self.skew_targets();
        if targets.is_empty() {
            self.flash = Some("no node is skewed or marked".into());
            return true;
        }
        let mut names: Vec<String> = targets
            .iter()
            .take(NAMES_SHOWN)
            .map(|&i| self.nodes.name(i).to_string())
            .collect();
        if targets.len() > NAMES_SHOWN {
            names.push(format!("and {} more", targets.len() - NAMES_SHOWN));
        }
        let sha: String = d.skills_sha.chars().take(12).collect();
        let which = if self.marked.is_empty() {
            "skewed"
        } else {
            "marked"
        };
        self.confirm = Some((
            format!(
                "roll bundle {sha} out to the {} {which} node{} only ({})? the staged rollout is kept to them, paused",
                targets.len(),
                if targets.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
            Command::Only(targets),
        ));
        true
    }
}
