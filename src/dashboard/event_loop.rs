//! The dashboard's event loop: the terminal's input, the poll scheduler, the clock and
//! the rollout executor feed [`App`]; the loop reads the clock, carries out the effects
//! the app asks for (polls now, the rollout's runner, node actions) and draws the
//! screen from it.
//!
//! It runs over any ratatui [`Backend`] and any stream of [`Incoming`] input: the
//! command gives it the real terminal ([`crate::terminal::FullScreen`]), a test a
//! `TestBackend` and a channel. Three parts: [`setup`] (the tasks that feed the app),
//! [`Loop::run`] (the loop), [`Loop::teardown`] (what the loop started, stopped).

use std::sync::Arc;
use std::time::Instant;

use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::action_runner::ActionRunner;
use super::pacer::FramePacer;
use super::state::{AGE_EVERY_MS, App, AppEffect, AppEvent, is_input, wrap_poll};
use crate::actions::ActionRequest;
use crate::actions::run::RunEnv;
use crate::observe::{Millis, now_ms};
use crate::poller::{self, PollCtx, SchedulerHandle};
use crate::rollout::events::ExecEvent;
use crate::rollout::runner::Runner;
use crate::terminal::{Handover, Incoming};
use crate::ui::theme::Theme;

/// What node actions need: the inventory (its `meshroll-actions.toml` beside it) and
/// who runs them, from where, and where they are audited.
pub struct ActionsSetup {
    pub inventory: std::path::PathBuf,
    pub env: RunEnv,
}

/// What the loop runs: the app (its keymap, rules and staged rollout set by the
/// caller), the fleet's poll context, the theme, and the staged rollout's runner with
/// its executor's reports.
pub struct Dashboard {
    pub app: App,
    pub ctx: Arc<PollCtx>,
    pub theme: Theme,
    pub runner: Option<(Runner, mpsc::UnboundedReceiver<ExecEvent>)>,
    /// Who runs node actions, from where, and where they are audited.
    pub actions: RunEnv,
}

/// Run the dashboard on `terminal` until the operator quits (or a signal in `input`
/// ends it); returns the app as it ended (the caller prints the rollout's recap). The
/// caller restores the terminal; `handover` gives it to a shell and takes it back.
pub async fn run<B, S, H>(
    d: Dashboard,
    terminal: &mut Terminal<B>,
    input: S,
    handover: &mut H,
) -> anyhow::Result<App>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = Incoming> + Unpin,
    H: Handover,
{
    let (mut lp, tasks, polls) = setup(d, terminal);
    let result = tokio::select! {
        r = lp.run(input, handover) => r,
        () = polls => Ok(()),
    };
    let app = lp.teardown(tasks);
    result.map(|()| app)
}

/// The tasks feeding the loop that it stops when it ends.
struct Tasks {
    ticker: JoinHandle<()>,
    forward: Option<JoinHandle<()>>,
}

/// The loop's state: the app and what carries its effects out.
struct Loop<'t, B: Backend> {
    app: App,
    theme: Theme,
    terminal: &'t mut Terminal<B>,
    rx: mpsc::UnboundedReceiver<AppEvent>,
    pacer: FramePacer,
    /// False once the terminal is gone (SIGHUP): nodes are still put back.
    drawing: bool,
    runner: Option<Runner>,
    scheduler: SchedulerHandle,
    action_runner: ActionRunner,
    /// For the end-to-end test of the panic hook: the terminal must come back. Read
    /// once, not per frame.
    panic_after_draw: bool,
}

/// The tasks that feed the app (the executor's reports, the clock), the poll
/// scheduler (returned as a future the caller drives beside the loop, in this task:
/// the polls' futures and results are allocated and freed on one thread, which keeps
/// the allocator from holding a heap per thread at 10,000 nodes), and the screen's
/// size as the app's first event.
fn setup<B: Backend>(
    d: Dashboard,
    terminal: &mut Terminal<B>,
) -> (Loop<'_, B>, Tasks, impl std::future::Future<Output = ()>) {
    let (tx, rx) = mpsc::unbounded_channel::<AppEvent>();
    let Dashboard {
        mut app,
        ctx,
        theme,
        runner,
        actions,
    } = d;
    let action_runner = ActionRunner::new(ctx.clone(), actions, tx.clone());
    let (runner, forward) = match runner {
        Some((r, mut exec_rx)) => {
            let ftx = tx.clone();
            let forward = tokio::spawn(async move {
                while let Some(e) = exec_rx.recv().await {
                    if ftx.send(AppEvent::Exec(Box::new(e))).is_err() {
                        break;
                    }
                }
            });
            (Some(r), Some(forward))
        }
        None => (None, None),
    };
    let (scheduler, polls) = poller::scheduler::start(ctx, tx.clone(), wrap_poll);
    let tick_tx = tx;
    let ticker = tokio::spawn(async move {
        // The clock, once a second: the rollout's timers, and the ages (whole seconds)
        // of the rows on screen.
        let mut iv = tokio::time::interval(std::time::Duration::from_millis(AGE_EVERY_MS));
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            iv.tick().await;
            if tick_tx.send(AppEvent::Tick).is_err() {
                break;
            }
        }
    });
    if let Ok(size) = terminal.size() {
        let resize = crossterm::event::Event::Resize(size.width, size.height);
        app.handle(AppEvent::Input(resize), now_ms());
    }
    let mut pacer = FramePacer::default();
    pacer.changed(true);
    let lp = Loop {
        app,
        theme,
        terminal,
        rx,
        pacer,
        drawing: true,
        runner,
        scheduler,
        action_runner,
        panic_after_draw: std::env::var_os("MESHROLL_TEST_PANIC_AFTER_DRAW").is_some(),
    };
    (lp, Tasks { ticker, forward }, polls)
}

/// What woke the loop.
enum Wake {
    Event(AppEvent),
    /// The owed frame fell due.
    Frame,
    /// Nothing will ever come again.
    Closed,
}

impl<B> Loop<'_, B>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    /// Drain what is queued, then draw once; while only poll results arrive, draw at
    /// most every `FRAME_MIN_INTERVAL` (input draws at once).
    async fn run<S, H>(&mut self, mut input: S, handover: &mut H) -> anyhow::Result<()>
    where
        S: Stream<Item = Incoming> + Unpin,
        H: Handover,
    {
        let mut input_open = true;
        loop {
            self.draw_if_due()?;
            let ev = match self.next(&mut input, &mut input_open).await {
                Wake::Event(ev) => ev,
                Wake::Frame => continue,
                Wake::Closed => break,
            };
            if let AppEvent::Signal(sig) = &ev {
                // A signal goes through the rollout's one stop path: meshroll quits once
                // the nodes in flight are put back (at once when there are none).
                tracing::info!(signal = sig, "dashboard stopping on a signal");
                if *sig == "SIGHUP" {
                    // The terminal is gone: stop drawing, keep putting nodes back.
                    self.drawing = false;
                }
            }
            let (quit, shells) = self.handle_queued(ev);
            if quit {
                break;
            }
            for req in shells {
                self.shell(&req, handover).await?;
            }
        }
        Ok(())
    }

    fn draw_if_due(&mut self) -> anyhow::Result<()> {
        if !(self.drawing && self.pacer.due(Instant::now())) {
            return Ok(());
        }
        self.app.frame(now_ms());
        let mut max = crate::dashboard::scroll::Scroll::UNLIMITED;
        let (app, theme) = (&self.app, &self.theme);
        self.terminal
            .draw(|f| max = crate::ui::draw_frame(f, app, theme))?;
        // Offsets past the end (after `G`) come back to it.
        self.app.drawn(&max);
        self.pacer.drawn(Instant::now());
        if self.panic_after_draw {
            panic!("MESHROLL_TEST_PANIC_AFTER_DRAW is set");
        }
        Ok(())
    }

    /// The next event: the feeds', the input's, or the owed frame falling due.
    async fn next<S>(&mut self, input: &mut S, input_open: &mut bool) -> Wake
    where
        S: Stream<Item = Incoming> + Unpin,
    {
        let deadline = self.pacer.deadline();
        let at = deadline.unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(3600));
        tokio::select! {
            ev = self.rx.recv() => ev.map_or(Wake::Closed, Wake::Event),
            inc = input.next(), if *input_open => match inc {
                Some(Incoming::Term(e)) => Wake::Event(AppEvent::Input(e)),
                Some(Incoming::Signal(s)) => Wake::Event(AppEvent::Signal(s)),
                None => {
                    *input_open = false;
                    Wake::Frame
                }
            },
            _ = tokio::time::sleep_until(at.into()), if deadline.is_some() => Wake::Frame,
        }
    }

    /// `ev` and every event queued behind it, handled without drawing between them.
    /// Returns whether the app asked to quit, and the shells it asked for (they need
    /// the terminal, handed over once the queue is handled).
    fn handle_queued(&mut self, ev: AppEvent) -> (bool, Vec<ActionRequest>) {
        let mut quit = false;
        let mut shells = Vec::new();
        let mut next = Some(ev);
        while let Some(ev) = next {
            let now = now_ms();
            let urgent = is_input(&ev);
            let out = self.app.handle(ev, now);
            if out.redraw {
                self.pacer.changed(urgent);
            }
            let effects = out.effects;
            quit |= self.carry_out(effects, &mut shells, now);
            next = self.rx.try_recv().ok();
        }
        (quit, shells)
    }

    /// Carry out what the app asked for at `now`: polls now, the rollout's effects (its
    /// runner journals and spawns them), the locks' heartbeat, node actions (a shell is
    /// put in `shells`). True when it asked to quit.
    fn carry_out(
        &mut self,
        effects: Vec<AppEffect>,
        shells: &mut Vec<ActionRequest>,
        now: Millis,
    ) -> bool {
        let mut quit = false;
        for e in effects {
            match e {
                AppEffect::Poll { node, doctor } => self.scheduler.refresh(node, doctor),
                AppEffect::PollAll => self.scheduler.refresh_all(false),
                AppEffect::Rollout(effects) => {
                    if let Some(r) = self.runner.as_mut() {
                        r.run(effects, now);
                    }
                }
                AppEffect::Heartbeat => {
                    if let (Some(r), Some(d)) = (self.runner.as_mut(), self.app.rollout()) {
                        r.heartbeat(now, || d.lock_holders());
                    }
                }
                AppEffect::Action(req) if req.action.runs == crate::actions::Runs::Shell => {
                    shells.push(req);
                }
                AppEffect::Action(req) => self.action_runner.start(req),
                AppEffect::StopPane { run } => self.action_runner.stop(run),
                AppEffect::Quit => quit = true,
            }
        }
        quit
    }

    /// A shell: the terminal is handed over (input reader stopped, alternate screen
    /// left) and taken back, on the same view, when the shell exits.
    async fn shell<H: Handover>(
        &mut self,
        req: &ActionRequest,
        handover: &mut H,
    ) -> anyhow::Result<()> {
        handover.leave().await;
        let done = self.action_runner.shell(req).await;
        handover.back().await?;
        self.terminal.clear()?;
        handover.listen();
        self.app.handle(AppEvent::Action(Box::new(done)), now_ms());
        self.pacer.changed(true);
        Ok(())
    }

    /// Stop what the loop started: node actions under way, the clock, the executor's
    /// forwarder. The app is handed back.
    fn teardown(self, tasks: Tasks) -> App {
        let mut action_runner = self.action_runner;
        action_runner.stop_all();
        tasks.ticker.abort();
        if let Some(f) = tasks.forward {
            f.abort();
        }
        self.app
    }
}
