//! Marks: the operator picks nodes with `m` (k9s marks with space, which pauses a
//! rollout here), marks every node the table shows with `*` (the filtered set: a class
//! tab, a `/` filter) and clears them with `M`; node actions take the marked nodes, or the
//! selected node when none is marked ([`App::action_targets`]).

use super::App;
use crate::inventory::NodeId;
use crate::keymap::Action;

impl App {
    /// The nodes an action applies to: the marked nodes (in inventory order) if any,
    /// else the node under the cursor, else none.
    pub fn action_targets(&self) -> Vec<NodeId> {
        if self.marked.is_empty() {
            self.selected_node().into_iter().collect()
        } else {
            self.marked.iter().copied().collect()
        }
    }

    /// Whether `node` is marked.
    pub fn is_marked(&self, node: NodeId) -> bool {
        self.marked.contains(&node)
    }

    /// Mark keys: toggle the selected node's mark (and move to the next row, so `m m m`
    /// marks a run), or clear every mark; true when `action` was one of them.
    pub(super) fn mark(&mut self, action: Action) -> bool {
        match action {
            Action::Mark => {
                let Some(node) = self.selected_node() else {
                    return true;
                };
                let name = self.nodes.name(node).to_string();
                let verb = if self.marked.remove(&node) {
                    "unmarked"
                } else {
                    self.marked.insert(node);
                    "marked"
                };
                self.flash = Some(format!("{verb} {name} ({} marked)", self.marked.len()));
                let n = self.visible_len();
                if self.cursor + 1 < n {
                    self.cursor += 1;
                }
            }
            // The filtered set: every node the table shows (class tab and `/` filter),
            // added to the marks, so an action takes them all (and says how many).
            Action::MarkVisible => {
                let shown = self.with_visible(|v| v.to_vec());
                let n = shown.len();
                self.marked.extend(shown);
                self.flash = Some(format!(
                    "marked the {n} node{} shown ({} marked)",
                    if n == 1 { "" } else { "s" },
                    self.marked.len()
                ));
            }
            Action::ClearMarks => {
                let n = self.marked.len();
                self.marked.clear();
                self.flash = Some(match n {
                    0 => "no marks to clear".to_string(),
                    1 => "cleared 1 mark".to_string(),
                    n => format!("cleared {n} marks"),
                });
            }
            _ => return false,
        }
        true
    }
}
