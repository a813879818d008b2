//! The dashboard's state: what is on screen and why, changed only by events.
//!
//! [`App::handle`] takes one event and the time and returns what should happen outside
//! (poll a node, run the rollout's effects, quit) as [`AppEffect`]s; it does no I/O, reads
//! no clock and starts no task. The event loop carries the effects out; `ui/` draws
//! from this state and is not imported here.

use std::collections::BTreeSet;

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};

use super::actions::{ActionEvent, Pane, Running};
use super::layout;
use super::rows::Cache;
use super::scroll::{Area, Scroll, WHEEL};
use crate::actions::ActionRequest;
use crate::actions::user::UserAction;
use crate::inventory::{Fleet, NodeId, PerNode};
use crate::keymap::{Action, KeyMap};
use crate::observe::{Millis, NodeState};
use crate::poller::PollResult;
use crate::report::NodeReport;
use crate::rollout::events::ExecEvent;
use crate::rollout::state::RolloutState;
use crate::rollout::{Command, Input, Mode};

/// Everything that can happen to the app.
#[derive(Debug)]
pub enum AppEvent {
    Input(TermEvent),
    Poll(Box<PollResult>),
    /// What the rollout executor reports.
    Exec(Box<ExecEvent>),
    /// What a node action reports ([`super::actions`]).
    Action(Box<ActionEvent>),
    Tick,
    /// SIGTERM, SIGHUP or SIGINT (its name).
    Signal(&'static str),
}

/// What the app asks of the world; the event loop carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEffect {
    /// Poll a node now (its gateway status; with `doctor`, `openclaw doctor` too).
    Poll {
        node: NodeId,
        doctor: bool,
    },
    /// Poll every node now.
    PollAll,
    /// The rollout machine's effects, for the rollout's runner (journal, executor).
    Rollout(Vec<crate::rollout::Effect>),
    /// The clock ticked during a rollout: refresh the held locks' heartbeat if due.
    Heartbeat,
    /// Carry a node action out ([`crate::actions`]): its operation on each node, a
    /// local command, a shell in this terminal, or a followed log into the pane.
    Action(ActionRequest),
    /// The pane showing run `run` closed: stop it (a followed log).
    StopPane {
        run: u64,
    },
    Quit,
}

pub(super) fn wrap_poll(r: PollResult) -> AppEvent {
    AppEvent::Poll(Box::new(r))
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

/// The dashboard's whole state. Drawing reads it (`read.rs`); only events change it
/// ([`App::handle`]): its fields are the dashboard's own.
pub struct App {
    pub(super) title: String,
    /// The fleet, shared with the poller and the rollout.
    pub(super) nodes: Fleet,
    pub(super) classes: Vec<String>,
    pub(super) states: PerNode<NodeState>,
    /// Reports at `now`, recomputed when something changes.
    pub(super) rows: PerNode<NodeReport>,
    pub(super) now: Millis,
    pub(super) view: View,
    pub(super) help: bool,
    /// The cursor: a position in the visible order ([`App::visible`]), not a node (a
    /// node's row is `rows[node]`).
    pub(super) cursor: usize,
    /// 0 = all classes, n = `classes[n-1]`.
    pub(super) class_tab: usize,
    pub(super) filter: String,
    pub(super) filter_editing: bool,
    pub(super) sort: Sort,
    /// A short message for the footer (what the last key did).
    pub(super) flash: Option<String>,
    /// The rollout staged in this dashboard, if any.
    pub(super) rollout: Option<RolloutState>,
    /// A dangerous command waiting for `y`.
    pub(super) confirm: Option<(String, Command)>,
    /// `q` with nodes in flight: finish them and quit, abort and quit, or cancel.
    pub(super) quit_asked: bool,
    /// Quit once the rollout has stopped (every node in flight put back or finished).
    pub(super) quit_when_idle: bool,
    /// Staleness limits of the cadences in use.
    pub(super) rules: crate::verdict::Rules,
    /// Key bindings: the defaults patched by keys.toml.
    pub(super) keymap: KeyMap,
    /// The first position of the visible order the table draws: kept so that the
    /// cursor stays in the table's window (see [`layout::window_start`]); a click maps
    /// through it.
    pub(super) window_top: usize,
    /// The screen's height in rows (from resize events), which gives the table's.
    pub(super) screen_height: u16,
    /// How far the node view, the skew view, the plan's log and the help are scrolled.
    pub(super) scroll: Scroll,
    /// What keeps a 10,000-node dashboard fluid (see [`App::update_rows`]).
    pub(super) cache: Cache,
    /// The operator's own actions (actions.toml), with their keys.
    pub(super) user_actions: Vec<UserAction>,
    /// A node action waiting for `y`: the question and the request.
    pub(super) action_confirm: Option<(String, ActionRequest)>,
    /// The output pane of the node view (an action's output, a followed log).
    pub(super) pane: Option<Pane>,
    /// Node actions under way.
    pub(super) running: Vec<Running>,
    /// The last action run's number.
    pub(super) next_run: u64,
    /// Nodes polled after an action, whose verdict the footer says when it comes back:
    /// (node, since, action).
    pub(super) awaiting_verdict: Vec<(NodeId, Millis, String)>,
    /// The marked nodes (`m`): node actions take them, else the selected node
    /// ([`App::action_targets`], `dashboard/marks.rs`).
    pub(super) marked: BTreeSet<NodeId>,
}

/// What an app starts with besides its fleet: the key bindings (keys.toml), the
/// staleness rules of the cadences in use, the operator's own actions and the rollout
/// staged in this dashboard. `Setup::default()`: the default keys and rules, nothing
/// staged.
#[derive(Default)]
pub struct Setup {
    pub keymap: KeyMap,
    pub rules: crate::verdict::Rules,
    pub user_actions: Vec<UserAction>,
    pub rollout: Option<RolloutState>,
}

/// What one event did: what should happen outside, and whether what is on screen
/// changed (a frame is owed).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub effects: Vec<AppEffect>,
    pub redraw: bool,
}

/// How often the clock ticks: the ages (whole seconds) of the rows on screen are brought
/// up to date, and every row's verdict checked against the clock, this often.
pub const AGE_EVERY_MS: Millis = 1000;

/// Input from the operator: drawn at once, never held back by the frame pacing.
pub(super) fn is_input(ev: &AppEvent) -> bool {
    matches!(ev, AppEvent::Input(_))
}

/// Rows a page key moves.
const PAGE: isize = 10;

impl App {
    /// An app over `nodes`, nothing polled yet: the one way to make one. Its rows are
    /// built by the first frame ([`App::frame`]).
    pub fn new(title: String, nodes: Fleet, classes: Vec<String>, setup: Setup) -> Self {
        let Setup {
            keymap,
            rules,
            user_actions,
            rollout,
        } = setup;
        let states = vec![NodeState::default(); nodes.len()].into();
        App {
            title,
            nodes,
            classes,
            states,
            rows: PerNode::default(),
            now: 0,
            view: View::Fleet,
            help: false,
            cursor: 0,
            class_tab: 0,
            filter: String::new(),
            filter_editing: false,
            sort: Sort::Inventory,
            flash: None,
            rollout,
            confirm: None,
            quit_asked: false,
            quit_when_idle: false,
            rules,
            keymap,
            window_top: 0,
            screen_height: 0,
            scroll: Scroll::default(),
            cache: Cache::default(),
            user_actions,
            action_confirm: None,
            pane: None,
            running: Vec::new(),
            next_run: 0,
            awaiting_verdict: Vec::new(),
            marked: BTreeSet::new(),
        }
    }

    /// The node under the cursor.
    pub fn selected_node(&self) -> Option<NodeId> {
        self.with_visible(|v| v.get(self.cursor).copied())
    }

    /// Rows the fleet table shows at once on this screen.
    pub fn table_rows(&self) -> usize {
        layout::table_rows(self.screen_height, self.rollout.is_some())
    }

    /// Bring the rows up to `now` and keep the selection in range and in the table's
    /// window: before each frame.
    pub fn frame(&mut self, now: Millis) {
        self.update_rows(now);
        self.clamp();
    }

    /// Keep the selection in range and the table's window around it.
    pub(super) fn clamp(&mut self) {
        let n = self.visible_len();
        if n == 0 {
            self.cursor = 0;
        } else if self.cursor >= n {
            self.cursor = n - 1;
        }
        // The table's height is known once the screen's is (the first resize event).
        let h = self.table_rows();
        if h > 0 {
            self.window_top = layout::window_start(self.window_top, self.cursor, h, n);
        }
    }

    /// What the drawing found: how far each pane can scroll. An offset past it (`G`,
    /// keys past the end) is brought back, so the next key moves from what is shown.
    pub fn drawn(&mut self, max: &Scroll) {
        self.scroll.limit(max);
    }

    /// The pane the scrolling keys and the wheel move: the help when it is up, else the
    /// view's (the fleet table moves its selection instead).
    pub fn scroll_area(&self) -> Option<Area> {
        if self.help {
            return Some(Area::Help);
        }
        match self.view {
            View::Fleet => None,
            View::Node => Some(Area::Node),
            View::Skew => Some(Area::Skew),
            View::Plan => Some(Area::Plan),
        }
    }

    fn move_by(&mut self, d: isize) {
        let n = self.visible_len() as isize;
        if n == 0 {
            return;
        }
        self.cursor = (self.cursor as isize + d).clamp(0, n - 1) as usize;
    }

    /// Whether `ev` changes what is on screen (so a frame is owed once it is handled).
    /// The clock does when a rollout's countdowns run; otherwise only if it aged a row
    /// on screen or moved a verdict, which [`App::update_rows`] tells.
    fn redraws(&self, ev: &AppEvent) -> bool {
        match ev {
            AppEvent::Input(TermEvent::Key(_) | TermEvent::Mouse(_) | TermEvent::Resize(..)) => {
                true
            }
            AppEvent::Input(_) => false,
            AppEvent::Poll(_) | AppEvent::Exec(_) | AppEvent::Action(_) => true,
            AppEvent::Tick => self.rollout.is_some(),
            AppEvent::Signal(_) => true,
        }
    }

    /// One event in, at `now`: what should happen outside, and whether a frame is owed.
    pub fn handle(&mut self, ev: AppEvent, now: Millis) -> Outcome {
        let tick = matches!(ev, AppEvent::Tick);
        let mut redraw = self.redraws(&ev);
        let mut effects = self.handle_event(ev, now);
        if self.quit_when_idle
            && self.rollout.as_ref().is_none_or(|d| d.machine.idle())
            && !effects.contains(&AppEffect::Quit)
        {
            effects.push(AppEffect::Quit);
        }
        // The clock alone (no rollout to time) draws only when a row on screen or a
        // verdict moved: at most once a second, not at all when idle.
        if tick && !redraw {
            redraw = self.update_rows(now);
        }
        Outcome { effects, redraw }
    }

    /// Nodes of the rollout a stop would put back.
    fn in_flight(&self) -> usize {
        self.rollout.as_ref().map_or(0, |d| d.machine.in_flight())
    }

    /// Stop the rollout through its one stop path and quit once it has: a signal, or
    /// `a` to the quit question. Asked again while stopping, quit at once.
    fn stop_and_quit(&mut self, why: &str, now: Millis) -> Vec<AppEffect> {
        if self.quit_when_idle || self.in_flight() == 0 {
            return vec![AppEffect::Quit];
        }
        let effects = self.command(Command::Abort, now);
        self.quit_when_idle = true;
        self.flash = Some(format!(
            "{why}: stopping; nodes in flight finish their phase and are put back, then meshroll quits"
        ));
        effects
    }

    /// `q`: quit, asking first when nodes are in flight.
    fn quit(&mut self) -> Vec<AppEffect> {
        if self.in_flight() == 0 || self.quit_when_idle {
            return vec![AppEffect::Quit];
        }
        self.quit_asked = true;
        Vec::new()
    }

    /// The answer to the quit question.
    fn answer_quit(&mut self, code: KeyCode, now: Millis) -> Vec<AppEffect> {
        let (cmd, what) = match code {
            KeyCode::Char('f') => (Command::Finish, "finishing the nodes in flight"),
            KeyCode::Char('a') => (Command::Abort, "stopping: putting the nodes in flight back"),
            _ => {
                self.flash = Some("cancelled".into());
                return Vec::new();
            }
        };
        let effects = self.command(cmd, now);
        self.quit_when_idle = true;
        self.flash = Some(format!("{what}, then meshroll quits"));
        effects
    }

    fn handle_event(&mut self, ev: AppEvent, now: Millis) -> Vec<AppEffect> {
        match ev {
            AppEvent::Signal(sig) => self.stop_and_quit(sig, now),
            AppEvent::Input(TermEvent::Key(k)) => self.on_key(k, now),
            AppEvent::Input(TermEvent::Mouse(m)) => {
                self.on_mouse(m.kind, m.row);
                Vec::new()
            }
            AppEvent::Input(TermEvent::Resize(_, h)) => {
                self.screen_height = h;
                self.clamp();
                Vec::new()
            }
            AppEvent::Input(_) => Vec::new(),
            AppEvent::Poll(r) => {
                // When the poll started: only a poll begun after an action tells its
                // effect.
                let (node, started) = (r.node, r.at.saturating_sub(r.took_ms));
                self.on_poll(*r);
                self.verdict_came_back(node, started);
                Vec::new()
            }
            AppEvent::Action(e) => self.on_action(*e, now),
            AppEvent::Exec(e) => match (*e, self.rollout.as_mut()) {
                // A poll the rollout made (its probe, after undrain): the row follows.
                (ExecEvent::Polled(r), _) => {
                    self.on_poll(*r);
                    Vec::new()
                }
                (e, Some(d)) => rollout_effects(d.on_exec(e, now).0),
                (_, None) => Vec::new(),
            },
            AppEvent::Tick => match self.rollout.as_mut() {
                Some(d) => {
                    let mut effects = vec![AppEffect::Heartbeat];
                    effects.extend(rollout_effects(d.input(Input::Tick, now).0));
                    effects
                }
                None => Vec::new(),
            },
        }
    }

    /// One key: the filter being edited takes it first, then a question waiting for
    /// `y`, the help overlay, the rollout's keys, the class tabs, and the rest.
    fn on_key(&mut self, k: KeyEvent, now: Millis) -> Vec<AppEffect> {
        if k.kind != KeyEventKind::Press {
            return Vec::new();
        }
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return self.stop_and_quit("ctrl-c", now);
        }
        if self.quit_asked {
            self.quit_asked = false;
            return self.answer_quit(k.code, now);
        }
        if self.filter_editing {
            self.edit_filter(k.code);
            return Vec::new();
        }
        if let Some((_, cmd)) = self.confirm.take() {
            return self.answer(k.code, cmd, now);
        }
        if let Some((_, req)) = self.action_confirm.take() {
            return self.answer_action(k.code, req);
        }
        let action = self.keymap.action(&k);
        if self.help {
            match action {
                Some(Action::Help | Action::Quit | Action::Back) => self.help = false,
                Some(a) => {
                    self.scroll.key(Area::Help, a);
                }
                None => {}
            }
            return Vec::new();
        }
        if let Some(effects) = self.pane_key(action) {
            return effects;
        }
        if self.rollout.is_some()
            && let Some(effects) = action.and_then(|a| self.rollout_action(a, now))
        {
            self.clamp();
            return effects;
        }
        self.flash = None;
        if let KeyCode::Char(c @ '0'..='9') = k.code {
            self.class_tab_key(c);
            return Vec::new();
        }
        let Some(action) = action else {
            return self.user_action_key(&k).unwrap_or_default();
        };
        if let Some(effects) = self.builtin_action(action) {
            self.clamp();
            return effects;
        }
        let effects = if self.navigate(action)
            || self.switch_view(action)
            || self.mark(action)
            || self.stage_skewed(action)
        {
            Vec::new()
        } else {
            self.fleet_action(action)
        };
        self.clamp();
        effects
    }

    /// A key while the filter is edited.
    fn edit_filter(&mut self, code: KeyCode) {
        match code {
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
        self.cursor = 0;
        self.clamp();
    }

    /// The answer to a question: `y` sends its command, anything else cancels it.
    fn answer(&mut self, code: KeyCode, cmd: Command, now: Millis) -> Vec<AppEffect> {
        if code == KeyCode::Char('y') {
            self.command(cmd, now)
        } else {
            self.flash = Some("cancelled".into());
            Vec::new()
        }
    }

    /// A digit: that class tab (0 = every class), when there is one.
    fn class_tab_key(&mut self, c: char) {
        let n = c as usize - '0' as usize;
        if n <= self.classes.len() {
            self.class_tab = n;
            self.cursor = 0;
            self.clamp();
        }
    }

    /// Moving the selection and the tabs; true when `action` was one of them.
    fn navigate(&mut self, action: Action) -> bool {
        if let Some(p) = self.scroll_area()
            && self.scroll.key(p, action)
        {
            return true;
        }
        match action {
            Action::NextNode | Action::PrevNode => {
                self.move_by(if action == Action::NextNode { 1 } else { -1 });
                self.scroll.reset(Area::Node);
            }
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-PAGE),
            Action::PageDown => self.move_by(PAGE),
            Action::First => self.cursor = 0,
            Action::Last => self.move_by(isize::MAX / 2),
            Action::NextTab => {
                self.class_tab = (self.class_tab + 1) % (self.classes.len() + 1);
                self.cursor = 0;
            }
            Action::PrevTab => {
                let n = self.classes.len() + 1;
                self.class_tab = (self.class_tab + n - 1) % n;
                self.cursor = 0;
            }
            _ => return false,
        }
        true
    }

    /// Changing what is shown: views, help, the filter, the order; true when `action`
    /// was one of them.
    fn switch_view(&mut self, action: Action) -> bool {
        match action {
            Action::Help => {
                self.help = true;
                self.scroll.reset(Area::Help);
            }
            Action::Back => {
                if self.view != View::Fleet {
                    self.view = View::Fleet;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                }
            }
            Action::Open => {
                if self.selected_node().is_some() {
                    self.view = View::Node;
                    self.scroll.reset(Area::Node);
                }
            }
            Action::Filter => {
                self.filter_editing = true;
                self.view = View::Fleet;
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.flash = Some(format!("sorted by {}", self.sort.label()));
            }
            Action::SkewView => {
                self.view = toggle(self.view, View::Skew);
                self.scroll.reset(Area::Skew);
            }
            _ => return false,
        }
        true
    }

    /// Polling now, quitting.
    fn fleet_action(&mut self, action: Action) -> Vec<AppEffect> {
        match action {
            Action::Quit => self.quit(),
            Action::Refresh => self.poll_selected(false),
            Action::Doctor => self.poll_selected(true),
            Action::RefreshAll => {
                self.flash = Some("polling every node now".into());
                vec![AppEffect::PollAll]
            }
            // Rollout actions without a rollout.
            _ => Vec::new(),
        }
    }

    fn poll_selected(&mut self, doctor: bool) -> Vec<AppEffect> {
        let Some(node) = self.selected_node() else {
            return Vec::new();
        };
        let what = if doctor {
            "gateway status and doctor"
        } else {
            "gateway status"
        };
        self.flash = Some(format!("polling {} now ({what})", self.nodes[node].name));
        vec![AppEffect::Poll { node, doctor }]
    }

    /// Send an operator command to the rollout.
    fn command(&mut self, cmd: Command, now: Millis) -> Vec<AppEffect> {
        let Some(d) = self.rollout.as_mut() else {
            return Vec::new();
        };
        self.flash = Some(match &cmd {
            Command::Only(n) => format!(
                "rollout kept to {} node{}, paused: p shows the plan, c runs it",
                n.len(),
                if n.len() == 1 { "" } else { "s" }
            ),
            _ => format!("{cmd:?}"),
        });
        rollout_effects(d.input(Input::Op(cmd), now).0)
    }

    /// Ask before a dangerous command: `y` sends it.
    fn ask(&mut self, question: String, cmd: Command) -> Vec<AppEffect> {
        self.confirm = Some((question, cmd));
        Vec::new()
    }

    pub(super) fn node_name(&self, node: NodeId) -> String {
        self.nodes.name(node).to_string()
    }

    /// Rollout actions: `Some` with their effects when the action was one of them and
    /// applies (a node action needs a node under the cursor).
    fn rollout_action(&mut self, action: Action, now: Millis) -> Option<Vec<AppEffect>> {
        let sel = self.selected_node();
        Some(match action {
            Action::PlanView => {
                self.view = toggle(self.view, View::Plan);
                self.scroll.reset(Area::Plan);
                Vec::new()
            }
            Action::StepPhase => self.command(Command::StepPhase, now),
            Action::StepWave => self.command(Command::StepWave, now),
            Action::Run => self.command(Command::Run, now),
            Action::PauseResume => {
                let paused = self
                    .rollout
                    .as_ref()
                    .is_some_and(|d| d.machine.mode == Mode::Paused);
                let cmd = if paused {
                    Command::Resume
                } else {
                    Command::Pause
                };
                self.command(cmd, now)
            }
            Action::RetryNow => self.command(Command::RetryNow(sel?), now),
            Action::Skip => {
                let i = sel?;
                self.ask(
                    format!(
                        "skip {}? (it finishes its phase and is put back)",
                        self.node_name(i)
                    ),
                    Command::Skip(i),
                )
            }
            Action::Abort => self.ask(
                "abort the rollout? (nothing new starts; nodes in flight are put back)".into(),
                Command::Abort,
            ),
            Action::RollbackNode => {
                let i = sel?;
                self.ask(
                    format!("roll {} back to its previous bundle?", self.node_name(i)),
                    Command::Rollback(vec![i]),
                )
            }
            Action::RollbackClass => {
                let class = self.nodes.get(sel?)?.class.clone();
                let all: Vec<NodeId> = self
                    .nodes
                    .enumerate()
                    .filter(|(_, n)| n.class == class)
                    .map(|(j, _)| j)
                    .collect();
                self.ask(
                    format!("roll back every {class} node ({})?", all.len()),
                    Command::Rollback(all),
                )
            }
            _ => return None,
        })
    }

    fn on_mouse(&mut self, kind: MouseEventKind, row: u16) {
        match kind {
            // The wheel scrolls the view up (or the help); in the table it moves the
            // selection.
            // An action's output pane under the node view takes the wheel, as it takes
            // the scrolling keys.
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp
                if !self.help && self.view == View::Node && self.pane.is_some() =>
            {
                let a = if kind == MouseEventKind::ScrollDown {
                    Action::Down
                } else {
                    Action::Up
                };
                for _ in 0..WHEEL {
                    self.pane_key(Some(a));
                }
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let down = kind == MouseEventKind::ScrollDown;
                match self.scroll_area() {
                    Some(p) => self.scroll.by(p, if down { WHEEL } else { -WHEEL }),
                    None => self.move_by(if down { 1 } else { -1 }),
                }
            }
            MouseEventKind::Down(_) if self.view == View::Fleet => {
                // A click on the table selects the row under it, counting the rows
                // scrolled away; clicks above or below the table select nothing.
                let Some(r) = row.checked_sub(layout::TABLE_FIRST_ROW) else {
                    return;
                };
                let r = r as usize;
                let want = r + self.window_top;
                if r < self.table_rows() && want < self.visible_len() {
                    self.cursor = want;
                }
            }
            _ => {}
        }
        self.clamp();
    }
}

/// `view`, or back to the fleet when it is up already.
fn toggle(current: View, view: View) -> View {
    if current == view { View::Fleet } else { view }
}

/// The rollout machine's effects for the runner, if there are any.
fn rollout_effects(effects: Vec<crate::rollout::Effect>) -> Vec<AppEffect> {
    if effects.is_empty() {
        Vec::new()
    } else {
        vec![AppEffect::Rollout(effects)]
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
