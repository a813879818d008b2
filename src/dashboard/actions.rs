//! Node actions in the dashboard, pure like the rest of [`App`]: a key asks for an
//! action on the target nodes, a confirm names them and their count, `y` turns it into
//! an [`AppEffect::Action`] the event loop carries out, and what comes back
//! ([`ActionEvent`]) fills the pane of the node view and the footer. A closed pane
//! stops a followed log ([`AppEffect::StopPane`]).

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent};

use super::state::{App, AppEffect, View};
use crate::actions::run::ActionReport;
use crate::actions::user::UserAction;
use crate::actions::{ActionRequest, Builtin, NodeAction, Runs, confirm_question};
use crate::inventory::NodeId;
use crate::keymap::{Action, Key};
use crate::observe::Millis;

/// Lines a pane keeps (older ones scroll away).
pub const PANE_LINES: usize = 5000;

/// What an action running outside reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionEvent {
    /// A line of a followed log, cleaned.
    Line { run: u64, line: String },
    /// The action ended on one node.
    Done { run: u64, outcome: ActionReport },
    /// The shell on a node ended (and the dashboard is back): its exit, or why it
    /// could not start.
    ShellDone {
        run: u64,
        node: NodeId,
        result: Result<Option<i32>, ShellFailure>,
    },
}

/// Why a shell on a node did not run; its `Display` is the words shown and audited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellFailure {
    /// The request named no node.
    #[error("no node")]
    NoNode,
    /// The request named a node the inventory does not have.
    #[error("no node {0}")]
    UnknownNode(NodeId),
    /// No `ssh` command line could be made (simulated nodes, the master would not open).
    #[error(transparent)]
    Open(#[from] crate::remote::interactive::ShellError),
    /// `ssh` itself could not be started (the I/O error's words: `io::Error` is neither
    /// `Clone` nor `Eq`).
    #[error("cannot run ssh: {0}")]
    Run(String),
}

/// The output pane of the node view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pane {
    /// The run whose output it shows.
    pub run: u64,
    pub node: NodeId,
    /// `logs mac-w01`, `follow mac-w01`, `undrain 3 nodes`.
    pub title: String,
    pub lines: VecDeque<String>,
    /// Lines scrolled up from the end (0: the newest lines are shown, and stay shown).
    pub scroll: usize,
    /// Still running (a followed log until the pane closes).
    pub running: bool,
}

/// An action that has started: how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub run: u64,
    pub action: NodeAction,
    pub nodes: Vec<NodeId>,
    pub done: usize,
    pub failed: Vec<(NodeId, String)>,
}

impl App {
    /// A built-in action's key.
    pub(super) fn builtin_action(&mut self, action: Action) -> Option<Vec<AppEffect>> {
        let b = match action {
            Action::Drain => Builtin::Drain,
            Action::Undrain => Builtin::Undrain,
            Action::Restart => Builtin::Restart,
            Action::Logs => Builtin::Logs,
            Action::FollowLogs => Builtin::Follow,
            Action::Shell => Builtin::Shell,
            _ => return None,
        };
        Some(self.ask_action(NodeAction::builtin(b)))
    }

    /// A key no binding has: an action of actions.toml, if one has it.
    pub(super) fn user_action_key(&mut self, k: &KeyEvent) -> Option<Vec<AppEffect>> {
        let key = Key::from_event(k)?;
        let a = self
            .user_actions
            .iter()
            .find(|u: &&UserAction| u.key == key)?
            .action
            .clone();
        Some(self.ask_action(a))
    }

    /// Ask first when the action says so (naming the nodes and their count), else start.
    fn ask_action(&mut self, action: NodeAction) -> Vec<AppEffect> {
        let nodes = if action.single() {
            self.selected_node().into_iter().collect()
        } else {
            // The marked nodes if any, else the selected one (dashboard::marks).
            self.action_targets()
        };
        if nodes.is_empty() {
            self.flash = Some(format!("{}: no node selected", action.name));
            return Vec::new();
        }
        self.next_run += 1;
        let req = ActionRequest {
            run: self.next_run,
            action,
            nodes,
        };
        if req.action.confirm {
            let names: Vec<String> = req.nodes.iter().map(|&n| self.node_name(n)).collect();
            self.action_confirm = Some((confirm_question(&req.action, &names), req));
            Vec::new()
        } else {
            self.start_action(req)
        }
    }

    /// The answer to an action's confirm: `y` starts it.
    pub(super) fn answer_action(&mut self, code: KeyCode, req: ActionRequest) -> Vec<AppEffect> {
        if code == KeyCode::Char('y') {
            self.start_action(req)
        } else {
            self.flash = Some(format!("{}: cancelled", req.action.name));
            Vec::new()
        }
    }

    fn start_action(&mut self, req: ActionRequest) -> Vec<AppEffect> {
        let n = req.nodes.len();
        let first = req.nodes[0];
        let who = if n == 1 {
            self.node_name(first)
        } else {
            format!("{n} nodes")
        };
        let mut effects = Vec::new();
        if req.action.pane {
            // A pane replaces the one before; a followed log there stops.
            effects.extend(self.close_pane());
            self.pane = Some(Pane {
                run: req.run,
                node: first,
                title: format!("{} {who}", req.action.name),
                lines: VecDeque::new(),
                scroll: 0,
                running: true,
            });
            self.select_node(first);
            self.view = View::Node;
        }
        self.flash = Some(match req.action.runs {
            Runs::Shell => format!("opening a shell on {who}"),
            Runs::Follow { .. } => format!("following the gateway log of {who} (Esc stops)"),
            _ => format!("{} {who}: running", req.action.name),
        });
        self.running.push(Running {
            run: req.run,
            action: req.action.clone(),
            nodes: req.nodes.clone(),
            done: 0,
            failed: Vec::new(),
        });
        effects.push(AppEffect::Action(req));
        effects
    }

    /// Close the pane: a followed log there stops.
    pub(super) fn close_pane(&mut self) -> Vec<AppEffect> {
        match self.pane.take() {
            Some(p) if p.running => vec![AppEffect::StopPane { run: p.run }],
            _ => Vec::new(),
        }
    }

    /// A key while the pane is open in the node view: scrolling it, or `Back` closing
    /// it. `None`: not a pane key.
    pub(super) fn pane_key(&mut self, action: Option<Action>) -> Option<Vec<AppEffect>> {
        if self.view != View::Node {
            return None;
        }
        let pane = self.pane.as_mut()?;
        let max = pane.lines.len().saturating_sub(1);
        match action? {
            Action::Back => return Some(self.close_pane()),
            Action::Up => pane.scroll = (pane.scroll + 1).min(max),
            Action::Down => pane.scroll = pane.scroll.saturating_sub(1),
            Action::PageUp => pane.scroll = (pane.scroll + 10).min(max),
            Action::PageDown => pane.scroll = pane.scroll.saturating_sub(10),
            Action::First => pane.scroll = max,
            Action::Last => pane.scroll = 0,
            _ => return None,
        }
        Some(Vec::new())
    }

    /// What an action reported.
    pub(super) fn on_action(&mut self, ev: ActionEvent, now: Millis) -> Vec<AppEffect> {
        match ev {
            ActionEvent::Line { run, line } => {
                self.pane_push(run, line);
                Vec::new()
            }
            ActionEvent::Done { run, outcome } => self.action_done(run, outcome, now),
            ActionEvent::ShellDone { run, node, result } => {
                let (ok, note) = match &result {
                    Ok(Some(c)) => (true, format!("exit {c}")),
                    Ok(None) => (true, "ended on a signal".to_string()),
                    Err(e) => (false, e.to_string()),
                };
                self.flash = Some(format!(
                    "shell on {}: {}",
                    self.node_name(node),
                    crate::safe_text::clean(&note)
                ));
                if !ok && let Some(r) = self.running.iter_mut().find(|r| r.run == run) {
                    r.failed.push((node, note));
                }
                self.running.retain(|r| r.run != run);
                Vec::new()
            }
        }
    }

    fn pane_push(&mut self, run: u64, line: String) {
        if let Some(p) = self.pane.as_mut().filter(|p| p.run == run) {
            p.lines.push_back(line);
            if p.lines.len() > PANE_LINES {
                p.lines.pop_front();
            } else if p.scroll > 0 {
                // Scrolled up: keep the same lines in view as new ones arrive.
                p.scroll += 1;
            }
        }
    }

    fn action_done(&mut self, run: u64, o: ActionReport, now: Millis) -> Vec<AppEffect> {
        let Some(idx) = self.running.iter().position(|r| r.run == run) else {
            return Vec::new();
        };
        let name = self.node_name(o.node);
        let several = self.running[idx].nodes.len() > 1;
        // The pane gets the output, then how it ended.
        let prefix = if several {
            format!("{name}: ")
        } else {
            String::new()
        };
        for l in &o.lines {
            self.pane_push(run, format!("{prefix}{l}"));
        }
        let verdict = if o.ok { "ok" } else { "FAILED" };
        self.pane_push(
            run,
            format!(
                "── {name}: {verdict}, {} in {}",
                o.note,
                crate::replay::secs(o.duration_ms)
            ),
        );
        let r = &mut self.running[idx];
        r.done += 1;
        if !o.ok {
            r.failed.push((o.node, o.note.clone()));
        }
        let mut effects = Vec::new();
        if r.action.then_poll() {
            // Show the verdict as it comes back: the node is polled at once.
            effects.push(AppEffect::Poll {
                node: o.node,
                doctor: false,
            });
            self.awaiting_verdict
                .push((o.node, now, r.action.name.clone()));
        }
        let finished = r.done >= r.nodes.len();
        let summary = if r.failed.is_empty() {
            if r.nodes.len() == 1 {
                format!("{} {name}: {}", r.action.name, o.note)
            } else {
                format!("{} {}/{} nodes ok", r.action.name, r.done, r.nodes.len())
            }
        } else {
            let names: Vec<String> = r
                .failed
                .iter()
                .map(|(n, why)| format!("{} ({why})", self.nodes.name(*n)))
                .collect();
            format!(
                "{} {}/{} nodes: FAILED on {}",
                r.action.name,
                r.done,
                r.nodes.len(),
                names.join(", ")
            )
        };
        self.flash = Some(summary);
        if finished {
            self.running.remove(idx);
            if let Some(p) = self.pane.as_mut().filter(|p| p.run == run) {
                p.running = false;
            }
        }
        effects
    }

    /// A poll of `node` begun at `started` came back: after an action that polls at
    /// once, the footer says the verdict it brought (a poll begun before the action
    /// ended says nothing of it).
    pub(super) fn verdict_came_back(&mut self, node: NodeId, started: Millis) {
        let Some(i) = self
            .awaiting_verdict
            .iter()
            .position(|(n, since, _)| *n == node && started >= *since)
        else {
            return;
        };
        let (_, _, action) = self.awaiting_verdict.remove(i);
        if let Some(row) = self.rows.get(node) {
            self.flash = Some(format!(
                "{} after {action}: {} ({})",
                self.nodes.name(node),
                row.verdict.as_str(),
                row.reason
            ));
        }
    }

    /// Select `node`'s row when it is visible.
    fn select_node(&mut self, node: NodeId) {
        if let Some(pos) = self.with_visible(|v| v.iter().position(|&n| n == node)) {
            self.cursor = pos;
        }
    }
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
