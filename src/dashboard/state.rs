//! The dashboard's state and its event loop.
//!
//! One event stream feeds the app: terminal input, poll results from the node loops
//! and a clock tick. Events change [`App`]; the screen is a function of [`App`] drawn
//! when something changed. Background tasks never touch the terminal.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};

use super::rows::Cache;
use crate::inventory::Node;
use crate::keymap::{Action, KeyMap};
use crate::observe::{Millis, NodeState, now_ms};
use crate::poller::{PollResult, Trigger};
use crate::report::NodeReport;
use crate::rollout::driver::Driver;
use crate::rollout::exec::ExecEvent;
use crate::rollout::{Command, Input};

/// Everything that can happen to the app.
#[derive(Debug)]
pub enum Event {
    Input(TermEvent),
    Poll(Box<PollResult>),
    /// What the rollout executor reports.
    Exec(Box<ExecEvent>),
    Tick,
    /// A quarter second passed: a share of the rows is brought up to date (ages),
    /// so no frame rebuilds the whole fleet (see [`App::refresh`]).
    Age,
}

pub(super) fn wrap_poll(r: PollResult) -> Event {
    Event::Poll(Box::new(r))
}

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Fleet,
    Node,
    Skew,
    Plan,
}

/// Table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Inventory,
    Verdict,
    Name,
    Cache,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Inventory => Sort::Verdict,
            Sort::Verdict => Sort::Name,
            Sort::Name => Sort::Cache,
            Sort::Cache => Sort::Inventory,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Sort::Inventory => "inventory",
            Sort::Verdict => "verdict",
            Sort::Name => "name",
            Sort::Cache => "cache age",
        }
    }
}

/// The dashboard's whole state. Drawing reads it; events change it.
pub struct App {
    pub title: String,
    pub nodes: Vec<Node>,
    pub classes: Vec<String>,
    pub states: Vec<NodeState>,
    /// Reports at `now`, recomputed when something changes.
    pub rows: Vec<NodeReport>,
    pub now: Millis,
    pub view: View,
    pub help: bool,
    /// Position in [`App::visible`].
    pub selected: usize,
    /// 0 = all classes, n = `classes[n-1]`.
    pub class_tab: usize,
    pub filter: String,
    pub filter_editing: bool,
    pub sort: Sort,
    pub quit: bool,
    /// A short message for the footer (what the last key did).
    pub flash: Option<String>,
    /// Ask a node's loop to poll now.
    pub triggers: Vec<Arc<Trigger>>,
    /// The rollout staged in this dashboard, if any.
    pub rollout: Option<Driver>,
    /// A dangerous command waiting for `y`.
    pub confirm: Option<(String, Command)>,
    /// Staleness limits of the cadences in use.
    pub rules: crate::verdict::Rules,
    /// Key bindings: the defaults patched by keys.toml.
    pub keymap: KeyMap,
    /// The first table row drawn (the table scrolls to keep the selection in view);
    /// the fleet view keeps it as it draws.
    pub offset: Cell<usize>,
    /// What keeps a 10,000-node dashboard fluid (see [`App::refresh`]).
    pub(super) cache: Cache,
}

/// Every row's ages (in whole seconds) are brought up to date this often, spread over
/// the frames in between.
pub const AGE_EVERY_MS: Millis = 1000;

/// How often the clock ticks (a quarter of [`AGE_EVERY_MS`]).
pub const AGE_TICK: Duration = Duration::from_millis(250);

/// Frames while only poll results arrive are drawn at most this often; a key, the
/// mouse or a resize draws at once. 10,000 nodes reporting every second then cost 10
/// frames a second, not 10,000.
pub const FRAME_MIN_INTERVAL: Duration = Duration::from_millis(100);

/// When to draw: at once after input, at most every [`FRAME_MIN_INTERVAL`] while only
/// poll results, rollout reports and ticks arrive.
#[derive(Debug, Clone, Copy, Default)]
pub struct FramePacer {
    last: Option<std::time::Instant>,
    dirty: bool,
    urgent: bool,
}

impl FramePacer {
    /// Something visible changed; `urgent` when the operator did it.
    pub fn changed(&mut self, urgent: bool) {
        self.dirty = true;
        self.urgent |= urgent;
    }

    /// A frame should be drawn now.
    pub fn due(&self, now: std::time::Instant) -> bool {
        self.dirty
            && (self.urgent
                || self
                    .last
                    .is_none_or(|l| now.saturating_duration_since(l) >= FRAME_MIN_INTERVAL))
    }

    /// When the owed frame falls due, if one is owed.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        if !self.dirty {
            return None;
        }
        Some(match self.last {
            Some(l) if !self.urgent => l + FRAME_MIN_INTERVAL,
            _ => std::time::Instant::now(),
        })
    }

    pub fn drawn(&mut self, now: std::time::Instant) {
        self.last = Some(now);
        self.dirty = false;
        self.urgent = false;
    }
}

/// Input from the operator: drawn at once, never held back by the frame pacing.
pub(super) fn is_input(ev: &Event) -> bool {
    matches!(ev, Event::Input(_))
}

impl App {
    pub fn new(title: String, nodes: Vec<Node>, classes: Vec<String>) -> Self {
        let states = vec![NodeState::default(); nodes.len()];
        let mut app = App {
            title,
            nodes,
            classes,
            states,
            rows: Vec::new(),
            now: 0,
            view: View::Fleet,
            help: false,
            selected: 0,
            class_tab: 0,
            filter: String::new(),
            filter_editing: false,
            sort: Sort::Inventory,
            quit: false,
            flash: None,
            triggers: Vec::new(),
            rollout: None,
            confirm: None,
            rules: crate::verdict::Rules::default(),
            keymap: KeyMap::default(),
            offset: Cell::new(0),
            cache: Cache::default(),
        };
        app.refresh(now_ms());
        app
    }

    /// The node under the cursor, as an index into `rows`/`nodes`.
    pub fn selected_node(&self) -> Option<usize> {
        self.with_visible(|v| v.get(self.selected).copied())
    }

    pub(super) fn clamp(&mut self) {
        let n = self.visible_len();
        if n == 0 {
            self.selected = 0;
        } else if self.selected >= n {
            self.selected = n - 1;
        }
    }

    fn move_by(&mut self, d: isize) {
        let n = self.visible_len() as isize;
        if n == 0 {
            return;
        }
        self.selected = (self.selected as isize + d).clamp(0, n - 1) as usize;
    }

    fn trigger(&mut self, idx: usize, doctor: bool) {
        if let Some(t) = self.triggers.get(idx) {
            t.refresh(doctor);
            let what = if doctor {
                "gateway status and doctor"
            } else {
                "gateway status"
            };
            self.flash = Some(format!("polling {} now ({what})", self.nodes[idx].name));
        }
    }

    /// Handle one key. Returns true when the screen should change.
    pub fn on_key(&mut self, k: KeyEvent) {
        if k.kind != KeyEventKind::Press {
            return;
        }
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.filter_editing {
            match k.code {
                KeyCode::Enter => self.filter_editing = false,
                KeyCode::Esc => {
                    self.filter_editing = false;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.selected = 0;
            return;
        }
        if let Some((_, cmd)) = self.confirm.take() {
            if k.code == KeyCode::Char('y') {
                self.command(cmd);
            } else {
                self.flash = Some("cancelled".into());
            }
            return;
        }
        let action = self.keymap.action(&k);
        if self.help {
            if matches!(action, Some(Action::Help | Action::Quit | Action::Back)) {
                self.help = false;
            }
            return;
        }
        if self.rollout.is_some() && action.is_some_and(|a| self.rollout_action(a)) {
            self.clamp();
            return;
        }
        self.flash = None;
        if let KeyCode::Char(c @ '0'..='9') = k.code {
            let n = c as usize - '0' as usize;
            if n <= self.classes.len() {
                self.class_tab = n;
                self.selected = 0;
            }
            return;
        }
        let Some(action) = action else { return };
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.help = true,
            Action::Back => {
                if self.view != View::Fleet {
                    self.view = View::Fleet;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                }
            }
            Action::Open if self.selected_node().is_some() => self.view = View::Node,
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-10),
            Action::PageDown => self.move_by(10),
            Action::First => self.selected = 0,
            Action::Last => self.move_by(isize::MAX / 2),
            Action::Filter => {
                self.filter_editing = true;
                self.view = View::Fleet;
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.flash = Some(format!("sorted by {}", self.sort.label()));
            }
            Action::SkewView => {
                self.view = if self.view == View::Skew {
                    View::Fleet
                } else {
                    View::Skew
                };
            }
            Action::NextTab => {
                self.class_tab = (self.class_tab + 1) % (self.classes.len() + 1);
                self.selected = 0;
            }
            Action::PrevTab => {
                let n = self.classes.len() + 1;
                self.class_tab = (self.class_tab + n - 1) % n;
                self.selected = 0;
            }
            Action::Refresh => {
                if let Some(i) = self.selected_node() {
                    self.trigger(i, false);
                }
            }
            Action::Doctor => {
                if let Some(i) = self.selected_node() {
                    self.trigger(i, true);
                }
            }
            Action::RefreshAll => {
                for t in &self.triggers {
                    t.refresh(false);
                }
                self.flash = Some("polling every node now".into());
            }
            // Rollout actions without a rollout, Open without a node.
            _ => {}
        }
        self.clamp();
    }

    /// Send an operator command to the rollout.
    pub fn command(&mut self, cmd: Command) {
        if let Some(d) = self.rollout.as_mut() {
            self.flash = Some(format!("{cmd:?}"));
            d.input(Input::Op(cmd), now_ms());
        }
    }

    /// Rollout actions; true when the action was one of them and applied.
    fn rollout_action(&mut self, action: Action) -> bool {
        let sel = self.selected_node();
        let name = |i: usize| {
            self.nodes
                .get(i)
                .map_or("?".to_string(), |n| n.name.clone())
        };
        match action {
            Action::PlanView => {
                self.view = if self.view == View::Plan {
                    View::Fleet
                } else {
                    View::Plan
                };
            }
            Action::StepPhase => self.command(Command::StepPhase),
            Action::StepWave => self.command(Command::StepWave),
            Action::Run => self.command(Command::Run),
            Action::PauseResume => {
                let paused = self
                    .rollout
                    .as_ref()
                    .is_some_and(|d| d.machine.mode == crate::rollout::Mode::Paused);
                self.command(if paused {
                    Command::Resume
                } else {
                    Command::Pause
                });
            }
            Action::RetryNow => match sel {
                Some(i) => self.command(Command::RetryNow(i)),
                None => return false,
            },
            Action::Skip => match sel {
                Some(i) => self.confirm = Some((format!("skip {}?", name(i)), Command::Skip(i))),
                None => return false,
            },
            Action::Abort => {
                self.confirm = Some((
                    "abort the rollout? (nothing new starts; nodes in flight stay drained)".into(),
                    Command::Abort,
                ))
            }
            Action::RollbackNode => match sel {
                Some(i) => {
                    self.confirm = Some((
                        format!("roll {} back to its previous bundle?", name(i)),
                        Command::Rollback(vec![i]),
                    ))
                }
                None => return false,
            },
            Action::RollbackClass => match sel {
                Some(i) => {
                    let class = self.nodes[i].class.clone();
                    let all: Vec<usize> = (0..self.nodes.len())
                        .filter(|&j| self.nodes[j].class == class)
                        .collect();
                    self.confirm = Some((
                        format!("roll back every {class} node ({})?", all.len()),
                        Command::Rollback(all),
                    ));
                }
                None => return false,
            },
            _ => return false,
        }
        true
    }

    pub fn on_mouse(&mut self, kind: MouseEventKind, row: u16) {
        match kind {
            MouseEventKind::ScrollDown => self.move_by(1),
            MouseEventKind::ScrollUp => self.move_by(-1),
            MouseEventKind::Down(_) if self.view == View::Fleet => {
                // Rows start under the title, tabs and table header (see ui::fleet);
                // a click selects the row under it, counting the rows scrolled away.
                let first = crate::ui::TABLE_FIRST_ROW;
                if row >= first {
                    let n = self.visible_len();
                    let want = (row - first) as usize + self.offset.get();
                    if want < n {
                        self.selected = want;
                    }
                }
            }
            _ => {}
        }
    }

    /// One event in; true when something visible changed.
    pub fn handle(&mut self, ev: Event) -> bool {
        match ev {
            Event::Input(TermEvent::Key(k)) => {
                self.on_key(k);
                true
            }
            Event::Input(TermEvent::Mouse(m)) => {
                self.on_mouse(m.kind, m.row);
                true
            }
            Event::Input(TermEvent::Resize(..)) => true,
            Event::Input(_) => false,
            Event::Poll(r) => {
                self.on_poll(*r);
                true
            }
            Event::Exec(e) => {
                if let Some(d) = self.rollout.as_mut() {
                    d.on_exec(*e, now_ms());
                }
                true
            }
            Event::Tick => {
                if let Some(d) = self.rollout.as_mut() {
                    d.input(Input::Tick, now_ms());
                }
                true
            }
            Event::Age => !self.nodes.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_polls_are_paced_input_is_not() {
        let t = std::time::Instant::now();
        let mut p = FramePacer::default();
        assert!(!p.due(t));
        p.changed(false);
        assert!(p.due(t), "the first frame is drawn at once");
        p.drawn(t);
        p.changed(false);
        assert!(!p.due(t + Duration::from_millis(10)));
        assert_eq!(p.deadline(), Some(t + FRAME_MIN_INTERVAL));
        assert!(p.due(t + FRAME_MIN_INTERVAL));
        p.changed(true);
        assert!(p.due(t + Duration::from_millis(10)), "a key draws at once");
        p.drawn(t + Duration::from_millis(10));
        assert!(!p.due(t + Duration::from_secs(5)), "nothing changed");
        assert_eq!(p.deadline(), None);
    }
}
