//! The dashboard's state and its event loop.
//!
//! One event stream feeds the app: terminal input, poll results from the node loops
//! and a clock tick. Events change [`App`]; the screen is a function of [`App`] drawn
//! when something changed. Background tasks never touch the terminal.

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
use crate::ui::theme::Theme;

/// Everything that can happen to the app.
#[derive(Debug)]
pub enum Event {
    Input(TermEvent),
    Poll(Box<PollResult>),
    /// What the rollout executor reports.
    Exec(Box<ExecEvent>),
    Tick,
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
        };
        app.refresh(now_ms());
        app
    }

    /// Recompute the reports at `now`.
    pub fn refresh(&mut self, now: Millis) {
        self.now = now;
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
        self.rows = report::build_rolling(
            &self.nodes,
            &self.states,
            now,
            target.as_deref(),
            &|c| planned.contains(c),
            &self.rules,
        );
    }

    pub fn on_poll(&mut self, r: PollResult) {
        if let Some(st) = self.states.get_mut(r.idx) {
            poller::apply(st, r);
        }
    }

    /// Indices into `rows` shown in the table: class tab, filter, sort.
    pub fn visible(&self) -> Vec<usize> {
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
                .any(|s| s.to_ascii_lowercase().contains(&f))
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
        self.visible().get(self.selected).copied()
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        if n == 0 {
            self.selected = 0;
        } else if self.selected >= n {
            self.selected = n - 1;
        }
    }

    fn move_by(&mut self, d: isize) {
        let n = self.visible().len() as isize;
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
                // a click selects the row under it while the table is not scrolled.
                let first = crate::ui::TABLE_FIRST_ROW;
                if row >= first {
                    let n = self.visible().len();
                    let want = (row - first) as usize;
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
        let mut iv = tokio::time::interval(Duration::from_secs(1));
        loop {
            iv.tick().await;
            if tick_tx.send(Event::Tick).is_err() {
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
        let mut dirty = true;
        loop {
            if dirty {
                app.refresh(now_ms());
                app.clamp();
                terminal.draw(|f| crate::ui::draw(f, &app, &theme))?;
                dirty = false;
                if panic_after_draw {
                    panic!("MESHROLL_TEST_PANIC_AFTER_DRAW is set");
                }
            }
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                sig = quit_signals.recv() => {
                    tracing::info!(signal = sig, "dashboard quitting on a signal");
                    break;
                }
            };
            let Some(ev) = ev else { break };
            dirty |= app.handle(ev);
            // Drain what is queued, then draw once.
            while let Ok(ev) = rx.try_recv() {
                dirty |= app.handle(ev);
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
