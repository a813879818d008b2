//! What drawing (and a test) reads of the [`App`]: its fields are the dashboard's own,
//! changed only by [`App::handle`]; these read them.

use std::collections::BTreeSet;

use super::actions::{Pane, Running};
use super::scroll::Scroll;
use super::state::{App, Sort, View};
use crate::actions::ActionRequest;
use crate::actions::user::UserAction;
use crate::inventory::{Fleet, NodeId, PerNode};
use crate::keymap::KeyMap;
use crate::observe::{Millis, NodeState};
use crate::report::NodeReport;
use crate::rollout::Command;
use crate::rollout::state::RolloutState;
use crate::verdict::Rules;

impl App {
    pub fn title(&self) -> &str {
        &self.title
    }
    /// The fleet, shared with the poller and the rollout.
    pub fn nodes(&self) -> &Fleet {
        &self.nodes
    }
    pub fn classes(&self) -> &[String] {
        &self.classes
    }
    /// Every node's signals, as the polls left them.
    pub fn states(&self) -> &PerNode<NodeState> {
        &self.states
    }
    /// Each node's row (by node; the table's order is [`App::visible`]).
    pub fn rows(&self) -> &PerNode<NodeReport> {
        &self.rows
    }
    /// The time the rows were brought up to.
    pub fn now(&self) -> Millis {
        self.now
    }
    pub fn view(&self) -> View {
        self.view
    }
    /// The help overlay is up.
    pub fn help(&self) -> bool {
        self.help
    }
    /// The cursor: a position in the visible order, not a node
    /// ([`App::selected_node`] is the node under it).
    pub fn cursor(&self) -> usize {
        self.cursor
    }
    /// The first position of the visible order the table draws.
    pub fn window_top(&self) -> usize {
        self.window_top
    }
    /// 0 = all classes, n = `classes[n-1]`.
    pub fn class_tab(&self) -> usize {
        self.class_tab
    }
    pub fn filter(&self) -> &str {
        &self.filter
    }
    pub fn filter_editing(&self) -> bool {
        self.filter_editing
    }
    pub fn sort(&self) -> Sort {
        self.sort
    }
    /// The footer's message (what the last key did).
    pub fn flash(&self) -> Option<&str> {
        self.flash.as_deref()
    }
    /// The rollout staged in this dashboard, if any.
    pub fn rollout(&self) -> Option<&RolloutState> {
        self.rollout.as_ref()
    }
    /// A dangerous command waiting for `y`: the question and the command.
    pub fn confirm(&self) -> Option<&(String, Command)> {
        self.confirm.as_ref()
    }
    /// `q` with nodes in flight asked what to do.
    pub fn quit_asked(&self) -> bool {
        self.quit_asked
    }
    pub fn rules(&self) -> &Rules {
        &self.rules
    }
    pub fn keymap(&self) -> &KeyMap {
        &self.keymap
    }
    /// How far the node view, the skew view, the plan's log and the help are scrolled.
    pub fn scroll(&self) -> &Scroll {
        &self.scroll
    }
    /// The operator's own actions (actions.toml), with their keys.
    pub fn user_actions(&self) -> &[UserAction] {
        &self.user_actions
    }
    /// A node action waiting for `y`: the question and the request.
    pub fn action_confirm(&self) -> Option<&(String, ActionRequest)> {
        self.action_confirm.as_ref()
    }
    /// The output pane of the node view.
    pub fn pane(&self) -> Option<&Pane> {
        self.pane.as_ref()
    }
    /// Node actions under way.
    pub fn running(&self) -> &[Running] {
        &self.running
    }
    /// The marked nodes (`m`).
    pub fn marked(&self) -> &BTreeSet<NodeId> {
        &self.marked
    }
}
