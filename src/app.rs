//! The dashboard's state and its event loop.
//!
//! One event stream feeds the app: terminal input, poll results from the node loops
//! and a clock tick. Events change [`App`]; the screen is a function of [`App`] drawn
//! when something changed. Background tasks never touch the terminal.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::inventory::Node;
use crate::keymap::{Action, KeyMap};
use crate::observe::{Millis, NodeState, now_ms};
use crate::poller::{self, PollCtx, PollResult, Trigger};
use crate::report::{self, NodeReport};
use crate::rollout::driver::Driver;
use crate::rollout::exec::ExecEvent;
use crate::rollout::{Command, Input};
use crate::skew::{self, Skew};
use crate::ui::theme::Theme;

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

fn wrap_poll(r: PollResult) -> Event {
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
    cache: Cache,
}

/// Incremental state of the reports and of the table order.
#[derive(Default)]
struct Cache {
    /// Nodes polled since their report was built.
    dirty: Vec<bool>,
    any_dirty: bool,
    /// Each node's skew from the last assessment of the fleet.
    skews: Vec<Skew>,
    /// A poll changed what the skew is computed from (a manifest, a gateway status):
    /// the fleet's skew is assessed again at the next refresh.
    skew_inputs_moved: bool,
    /// Rows are rebuilt round-robin so that each is at most [`AGE_EVERY_MS`] old:
    /// the next row to age and the time aging has caught up to.
    age_cursor: usize,
    aged_to: Millis,
    /// Each node's poll count when its row was last built: a state changed without
    /// [`App::on_poll`] (a test, a replay writing `states` directly) is caught by it.
    seen: Vec<u64>,
    /// The rollout target of the last full rebuild.
    built: bool,
    built_target: Option<String>,
    /// Bumped whenever a row changes: the visible order is recomputed then.
    rows_gen: u64,
    visible: RefCell<Option<(VisibleKey, Vec<usize>)>>,
}

/// What [`App::visible`] depends on.
#[derive(Clone, PartialEq, Eq)]
struct VisibleKey {
    rows_gen: u64,
    rows: usize,
    class_tab: usize,
    filter: String,
    sort: Sort,
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
fn is_input(ev: &Event) -> bool {
    matches!(ev, Event::Input(_))
}

/// `hay` contains `needle_lower` (already lower case), ignoring ASCII case, without
/// allocating.
fn polls(st: &NodeState) -> u64 {
    st.polls_ok.wrapping_add(st.polls_failed)
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.len() >= n.len()
        && h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
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

    /// Bring the reports up to `now`, doing the least work that keeps them exact:
    ///
    /// * a polled node's row is rebuilt; the fleet's skew is assessed again only when
    ///   a poll changed a manifest or a gateway status (then every row whose skew
    ///   moved is rebuilt too);
    /// * ages are in whole seconds: every row is rebuilt once per [`AGE_EVERY_MS`],
    ///   round-robin, a share of the fleet per frame rather than all at once;
    /// * everything is rebuilt when the rollout target changes.
    ///
    /// So a frame under a stream of poll results costs the nodes that changed and a
    /// tenth of the fleet at 10 frames a second, not the fleet.
    pub fn refresh(&mut self, now: Millis) {
        self.now = now;
        let n = self.nodes.len().min(self.states.len());
        let target = self
            .rollout
            .as_ref()
            .map(|d| d.ctx.bundle.skills_sha.clone());
        // Only the classes the rollout covers wait for its bundle.
        let planned: std::collections::BTreeSet<&str> =
            self.rollout.as_ref().map_or_else(Default::default, |d| {
                d.machine
                    .plan
                    .classes
                    .iter()
                    .map(|c| c.class.as_str())
                    .collect()
            });
        let c = &mut self.cache;
        c.dirty.resize(n, false);
        let pairs = || -> Vec<(&str, &NodeState)> {
            self.nodes
                .iter()
                .zip(&self.states)
                .map(|(node, st)| (node.class.as_str(), st))
                .collect()
        };
        if !c.built || self.rows.len() != n || c.skews.len() != n || c.built_target != target {
            c.skews = skew::assess_rolling(&pairs(), target.as_deref(), &|c| planned.contains(c));
            self.rows = (0..n)
                .map(|i| {
                    report::row(
                        &self.nodes[i],
                        &self.states[i],
                        c.skews[i].clone(),
                        now,
                        &self.rules,
                    )
                })
                .collect();
            c.seen = self.states.iter().map(polls).collect();
            c.built = true;
            c.built_target = target;
            c.dirty.iter_mut().for_each(|d| *d = false);
            c.any_dirty = false;
            c.skew_inputs_moved = false;
            c.aged_to = now;
            c.rows_gen += 1;
            return;
        }
        // States changed behind on_poll's back: rebuild them and reassess the skew.
        c.seen.resize(n, 0);
        for (i, st) in self.states.iter().enumerate().take(n) {
            let p = polls(st);
            if p != c.seen[i] {
                c.seen[i] = p;
                c.dirty[i] = true;
                c.any_dirty = true;
                c.skew_inputs_moved = true;
            }
        }
        if c.skew_inputs_moved {
            let new = skew::assess_rolling(&pairs(), target.as_deref(), &|c| planned.contains(c));
            for (i, (old, new)) in c.skews.iter().zip(&new).enumerate() {
                if old != new {
                    c.dirty[i] = true;
                    c.any_dirty = true;
                }
            }
            c.skews = new;
            c.skew_inputs_moved = false;
        }
        // Rows whose ages are due, round-robin.
        let elapsed = now.saturating_sub(c.aged_to);
        let due = if elapsed >= AGE_EVERY_MS || n == 0 {
            c.aged_to = now;
            n
        } else {
            let k = (n as u64 * elapsed / AGE_EVERY_MS) as usize;
            c.aged_to += k as u64 * AGE_EVERY_MS / n as u64;
            k
        };
        for k in 0..due {
            let i = (c.age_cursor + k) % n;
            c.dirty[i] = true;
            c.any_dirty = true;
        }
        if n > 0 {
            c.age_cursor = (c.age_cursor + due) % n;
        }
        if !c.any_dirty {
            return;
        }
        for i in 0..n {
            if c.dirty[i] {
                c.dirty[i] = false;
                self.rows[i] = report::row(
                    &self.nodes[i],
                    &self.states[i],
                    c.skews[i].clone(),
                    now,
                    &self.rules,
                );
            }
        }
        c.any_dirty = false;
        c.rows_gen += 1;
    }

    pub fn on_poll(&mut self, r: PollResult) {
        let idx = r.idx;
        if let Some(st) = self.states.get_mut(idx) {
            // What the skew is computed from: a change means the fleet is assessed again.
            let inputs = |st: &NodeState| {
                (
                    st.manifest.as_ref().map(|m| m.value.clone()),
                    st.gateway.as_ref().map(|g| g.value.clone()),
                )
            };
            let before = inputs(st);
            poller::apply(st, r);
            if inputs(st) != before {
                self.cache.skew_inputs_moved = true;
            }
            let c = &mut self.cache;
            if c.dirty.len() <= idx {
                c.dirty.resize(self.nodes.len().max(idx + 1), false);
            }
            if c.seen.len() <= idx {
                c.seen.resize(self.nodes.len().max(idx + 1), 0);
            }
            c.seen[idx] = polls(st);
            c.dirty[idx] = true;
            c.any_dirty = true;
        }
    }

    /// Indices into `rows` shown in the table: class tab, filter, sort. Cached until
    /// a row, the tab, the filter or the sort changes.
    pub fn visible(&self) -> Vec<usize> {
        self.with_visible(|v| v.to_vec())
    }

    /// How many rows the table shows.
    pub fn visible_len(&self) -> usize {
        self.with_visible(|v| v.len())
    }

    /// Run `f` on the cached visible order, computing it first if it is out of date.
    pub fn with_visible<R>(&self, f: impl FnOnce(&[usize]) -> R) -> R {
        let key = VisibleKey {
            rows_gen: self.cache.rows_gen,
            rows: self.rows.len(),
            class_tab: self.class_tab,
            filter: self.filter.clone(),
            sort: self.sort,
        };
        let mut cache = self.cache.visible.borrow_mut();
        if cache.as_ref().is_none_or(|(k, _)| *k != key) {
            *cache = Some((key, self.compute_visible()));
        }
        f(cache.as_ref().map_or(&[][..], |(_, v)| v.as_slice()))
    }

    fn compute_visible(&self) -> Vec<usize> {
        let class = self
            .class_tab
            .checked_sub(1)
            .and_then(|i| self.classes.get(i));
        let f = self.filter.to_ascii_lowercase();
        let mut v: Vec<usize> = (0..self.rows.len())
            .filter(|&i| class.is_none_or(|c| &self.rows[i].class == c))
            .filter(|&i| {
                if f.is_empty() {
                    return true;
                }
                let r = &self.rows[i];
                [
                    r.node.as_str(),
                    r.class.as_str(),
                    r.verdict.as_str(),
                    r.reason.as_str(),
                    r.manifest.sha.as_deref().unwrap_or(""),
                    r.gateway.build_id.as_deref().unwrap_or(""),
                ]
                .iter()
                .any(|s| contains_ci(s, &f))
                    || (f == "skew" && r.skew.any)
            })
            .collect();
        match self.sort {
            Sort::Inventory => {}
            Sort::Verdict => v.sort_by_key(|&i| std::cmp::Reverse(self.rows[i].verdict)),
            Sort::Name => v.sort_by(|&a, &b| self.rows[a].node.cmp(&self.rows[b].node)),
            Sort::Cache => {
                v.sort_by_key(|&i| std::cmp::Reverse(self.rows[i].cache.age_s.unwrap_or(u64::MAX)))
            }
        }
        v
    }

    /// The node under the cursor, as an index into `rows`/`nodes`.
    pub fn selected_node(&self) -> Option<usize> {
        self.with_visible(|v| v.get(self.selected).copied())
    }

    fn clamp(&mut self) {
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

/// Run the dashboard until the user quits. The terminal is restored on exit and on
/// panic (ratatui's hook).
pub async fn run(
    ctx: Arc<PollCtx>,
    title: String,
    classes: Vec<String>,
    theme: Theme,
    rollout: Option<(Driver, mpsc::UnboundedReceiver<ExecEvent>)>,
) -> anyhow::Result<()> {
    // Key bindings first: a mistake in keys.toml is an error before the screen changes.
    let keymap = match KeyMap::default_path() {
        Some(p) => KeyMap::load(&p)?,
        None => KeyMap::default(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let mut app = App::new(title, ctx.nodes.clone(), classes);
    app.keymap = keymap;
    app.rules = ctx.cadence.rules();
    let mut forward = None;
    if let Some((driver, mut exec_rx)) = rollout {
        app.rollout = Some(driver);
        let ftx = tx.clone();
        forward = Some(tokio::spawn(async move {
            while let Some(e) = exec_rx.recv().await {
                if ftx.send(Event::Exec(Box::new(e))).is_err() {
                    break;
                }
            }
        }));
    }
    let (triggers, handles) = poller::spawn_node_loops(ctx.clone(), tx.clone(), wrap_poll);
    app.triggers = triggers;

    let input_tx = tx.clone();
    let input = tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(Ok(ev)) = stream.next().await {
            if input_tx.send(Event::Input(ev)).is_err() {
                break;
            }
        }
    });
    let tick_tx = tx.clone();
    let ticker = tokio::spawn(async move {
        // The clock every second (the rollout's timers), and in between an Age event
        // every quarter second: ages are refreshed a quarter of the fleet at a time.
        let mut iv = tokio::time::interval(AGE_TICK);
        let mut n = 0u32;
        loop {
            iv.tick().await;
            let ev = if n.is_multiple_of(4) {
                Event::Tick
            } else {
                Event::Age
            };
            n = n.wrapping_add(1);
            if tick_tx.send(ev).is_err() {
                break;
            }
        }
    });
    drop(tx);

    // For the end-to-end test of the panic hook: the terminal must come back. Read
    // once, not per frame.
    let panic_after_draw = std::env::var_os("MESHROLL_TEST_PANIC_AFTER_DRAW").is_some();
    let mut quit_signals = crate::cmd::dashboard::QuitSignals::new()?;
    let mut terminal = ratatui::init();
    crate::cmd::dashboard::restore_mouse_on_panic();
    crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture).ok();
    let result = async {
        // Drain what is queued, then draw once; while only poll results arrive, draw
        // at most every FRAME_MIN_INTERVAL (input draws at once).
        let mut pacer = FramePacer::default();
        pacer.changed(true);
        loop {
            if pacer.due(std::time::Instant::now()) {
                app.refresh(now_ms());
                app.clamp();
                terminal.draw(|f| crate::ui::draw(f, &app, &theme))?;
                pacer.drawn(std::time::Instant::now());
                if panic_after_draw {
                    panic!("MESHROLL_TEST_PANIC_AFTER_DRAW is set");
                }
            }
            let ev = match pacer.deadline() {
                Some(at) => tokio::select! {
                    ev = rx.recv() => ev,
                    _ = tokio::time::sleep_until(at.into()) => continue,
                    sig = quit_signals.recv() => {
                        tracing::info!(signal = sig, "dashboard quitting on a signal");
                        break;
                    }
                },
                None => tokio::select! {
                    ev = rx.recv() => ev,
                    sig = quit_signals.recv() => {
                        tracing::info!(signal = sig, "dashboard quitting on a signal");
                        break;
                    }
                },
            };
            let Some(ev) = ev else { break };
            let urgent = is_input(&ev);
            if app.handle(ev) {
                pacer.changed(urgent);
            }
            while let Ok(ev) = rx.try_recv() {
                let urgent = is_input(&ev);
                if app.handle(ev) {
                    pacer.changed(urgent);
                }
            }
            if app.quit {
                break;
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture).ok();
    ratatui::restore();
    input.abort();
    ticker.abort();
    if let Some(f) = forward {
        f.abort();
    }
    for h in handles {
        h.abort();
    }
    ctx.transport.close().await;
    // The recap of a rollout run from the dashboard, once the terminal is back.
    if let Some(d) = &app.rollout {
        let names: Vec<String> = app.nodes.iter().map(|n| n.name.clone()).collect();
        print!(
            "{}",
            crate::replay::recap::text(
                &d.machine,
                &names,
                &d.ctx.rollout_id,
                &d.ctx.bundle.skills_sha,
                d.journal_path.as_deref(),
            )
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::sim::{OLD_SHA, SimMesh};
    use crate::remote::{PollFailure, PollRequest};

    const REQ: PollRequest = PollRequest {
        gateway: true,
        doctor: false,
        cli_timeout_s: 5,
        doctor_timeout_s: 60,
        live_timeout_s: 2,
    };

    async fn poll(mesh: &SimMesh, idx: usize, at: Millis) -> PollResult {
        let result: Result<_, PollFailure> = mesh.poll(idx, &REQ).await;
        PollResult {
            idx,
            at,
            took_ms: 1,
            result,
        }
    }

    fn full(app: &App, now: Millis) -> Vec<NodeReport> {
        report::build(&app.nodes, &app.states, now, None, &app.rules)
    }

    /// Rows brought up to date incrementally equal a full rebuild, also when the polled
    /// nodes move their class's majority (which changes the other rows' skew).
    #[tokio::test(start_paused = true)]
    async fn incremental_rows_equal_a_full_rebuild() {
        let (inv, mesh) = SimMesh::generate(300, 5);
        let mut app = App::new("t".into(), inv.nodes.clone(), inv.classes.clone());
        let t0 = 1_800_000_000_100;
        for i in 0..inv.nodes.len() {
            app.on_poll(poll(&mesh, i, t0).await);
        }
        app.refresh(t0);
        assert!(app.rows == full(&app, t0), "first rows differ");
        // A few nodes change, within the same second.
        for i in [3usize, 40, 41, 200] {
            mesh.with_node(i, |n| n.drained = !n.drained);
            app.on_poll(poll(&mesh, i, t0 + 200).await);
        }
        app.refresh(t0 + 300);
        assert!(app.rows == full(&app, t0 + 300), "incremental rows differ");
        // Most workers move to the old bundle: the majority moves, every worker's
        // skew changes, though only the moved ones were polled.
        let workers: Vec<usize> = (0..inv.nodes.len())
            .filter(|&i| inv.nodes[i].class == "worker")
            .collect();
        let moved = &workers[..workers.len() * 2 / 3];
        for &i in moved {
            mesh.with_node(i, |n| {
                n.current = Some(OLD_SHA.into());
                n.lock_claim = Some(OLD_SHA.into());
            });
            app.on_poll(poll(&mesh, i, t0 + 400).await);
        }
        app.refresh(t0 + 500);
        let want = full(&app, t0 + 500);
        let untouched = workers[workers.len() - 1];
        assert!(want[untouched].skew.manifest, "{:?}", want[untouched].skew);
        assert!(
            app.rows == want,
            "incremental rows differ after the majority moved"
        );
        // A state written directly (not through on_poll) is caught too.
        let w = untouched;
        mesh.with_node(w, |n| n.current = Some(OLD_SHA.into()));
        let r = poll(&mesh, w, t0 + 600).await;
        poller::apply(&mut app.states[w], r);
        app.refresh(t0 + 700);
        assert!(
            app.rows == full(&app, t0 + 700),
            "a direct state write was missed"
        );
        assert_ne!(app.rows[w].manifest.state, want[w].manifest.state);
    }

    /// The cached table order follows every change of rows, tab, filter and sort.
    #[tokio::test(start_paused = true)]
    async fn visible_order_follows_changes() {
        let (inv, mesh) = SimMesh::generate(120, 2);
        let mut app = App::new("t".into(), inv.nodes.clone(), inv.classes.clone());
        let t0 = 1_800_000_000_000;
        for i in 0..inv.nodes.len() {
            app.on_poll(poll(&mesh, i, t0).await);
        }
        app.refresh(t0);
        app.sort = Sort::Verdict;
        assert_eq!(app.visible(), app.compute_visible());
        let first = app.visible()[0];
        assert_eq!(app.rows[first].verdict, crate::verdict::Kind::Dead);
        // The last healthy node goes down: it moves up the verdict order.
        let last = *app.visible().last().expect("rows");
        mesh.with_node(last, |n| n.host_up = false);
        app.on_poll(poll(&mesh, last, t0 + 100).await);
        app.refresh(t0 + 200);
        assert_eq!(app.visible(), app.compute_visible());
        assert_ne!(app.visible().last(), Some(&last));
        app.filter = "W0".into();
        assert_eq!(app.visible(), app.compute_visible());
        assert!(!app.visible().is_empty());
        assert!(
            app.visible()
                .iter()
                .all(|&i| app.rows[i].node.contains("w0"))
        );
        app.class_tab = 1;
        assert_eq!(app.visible(), app.compute_visible());
        assert!(app.visible().is_empty());
    }

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

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ci("mac-W0012", "w001"));
        assert!(contains_ci("abc", ""));
        assert!(!contains_ci("ab", "abc"));
        assert!(!contains_ci("mac-g01", "w"));
    }
}
