//! The dashboard's event loop: the terminal, the poll scheduler, the clock and the rollout
//! executor feed one event stream into [`App`]; the loop reads the clock, carries out
//! the effects the app asks for (polls now, the rollout's runner) and draws the screen
//! from it.

use std::sync::Arc;

use crossterm::event::EventStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::action_runner::ActionRunner;
use super::pacer::FramePacer;
use super::state::{AGE_EVERY_MS, App, Effect, Event, is_input, wrap_poll};
use crate::keymap::KeyMap;
use crate::observe::{Millis, now_ms};
use crate::poller::{self, PollCtx, SchedulerHandle};
use crate::rollout::events::ExecEvent;
use crate::rollout::runner::Runner;
use crate::rollout::state::RolloutState;
use crate::ui::theme::Theme;

/// What node actions need: the inventory (its `meshroll-actions.toml` beside it) and
/// who runs them, from where, and where they are audited.
pub struct ActionsSetup {
    pub inventory: std::path::PathBuf,
    pub env: crate::actions::run::RunEnv,
}

/// Run the dashboard until the user quits. The terminal is restored on exit and on
/// panic (ratatui's hook).
pub async fn run(
    ctx: Arc<PollCtx>,
    title: String,
    classes: Vec<String>,
    theme: Theme,
    rollout: Option<(RolloutState, Runner, mpsc::UnboundedReceiver<ExecEvent>)>,
    actions: ActionsSetup,
) -> anyhow::Result<i32> {
    // Key bindings first: a mistake in keys.toml or an actions file is an error before
    // the screen changes.
    let keymap = match KeyMap::default_path() {
        Some(p) => KeyMap::load(&p)?,
        None => KeyMap::default(),
    };
    let user_actions = crate::actions::user::load_all(&actions.inventory, &keymap)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let mut app = App::new(title, ctx.nodes.clone(), classes);
    app.keymap = keymap;
    app.user_actions = user_actions;
    let mut action_runner = ActionRunner::new(ctx.clone(), actions.env, tx.clone());
    app.rules = ctx.cadence.rules();
    let mut forward = None;
    let mut runner = None;
    if let Some((state, r, mut exec_rx)) = rollout {
        app.rollout = Some(state);
        runner = Some(r);
        let ftx = tx.clone();
        forward = Some(tokio::spawn(async move {
            while let Some(e) = exec_rx.recv().await {
                if ftx.send(Event::Exec(Box::new(e))).is_err() {
                    break;
                }
            }
        }));
    }
    // The one poll scheduler, driven beside the event loop in this task (below): the
    // polls' futures and results are allocated and freed on one thread, which keeps
    // the allocator from holding a heap per thread at 10,000 nodes.
    let (scheduler, polls) = poller::scheduler::start(ctx.clone(), tx.clone(), wrap_poll);

    let input_tx = tx.clone();
    let mut input = spawn_input(input_tx.clone());
    let tick_tx = tx.clone();
    let ticker = tokio::spawn(async move {
        // The clock, once a second: the rollout's timers, and the ages (whole seconds)
        // of the rows on screen.
        let mut iv = tokio::time::interval(std::time::Duration::from_millis(AGE_EVERY_MS));
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
    if let Ok(size) = terminal.size() {
        let resize = crossterm::event::Event::Resize(size.width, size.height);
        app.handle(Event::Input(resize), now_ms());
    }
    let result = async {
        // Drain what is queued, then draw once; while only poll results arrive, draw
        // at most every FRAME_MIN_INTERVAL (input draws at once).
        let mut pacer = FramePacer::default();
        let mut drawing = true;
        pacer.changed(true);
        loop {
            if drawing && pacer.due(std::time::Instant::now()) {
                app.frame(now_ms());
                let mut max = crate::dashboard::scroll::Scroll::UNLIMITED;
                terminal.draw(|f| max = crate::ui::draw_frame(f, &app, &theme))?;
                // Offsets past the end (after `G`) come back to it.
                app.drawn(&max);
                pacer.drawn(std::time::Instant::now());
                if panic_after_draw {
                    panic!("MESHROLL_TEST_PANIC_AFTER_DRAW is set");
                }
            }
            let ev = match pacer.deadline() {
                Some(at) => tokio::select! {
                    ev = rx.recv() => ev,
                    _ = tokio::time::sleep_until(at.into()) => continue,
                    sig = quit_signals.recv() => Some(Event::Signal(sig)),
                },
                None => tokio::select! {
                    ev = rx.recv() => ev,
                    sig = quit_signals.recv() => Some(Event::Signal(sig)),
                },
            };
            if let Some(Event::Signal(sig)) = &ev {
                // A signal goes through the rollout's one stop path: meshroll quits once
                // the nodes in flight are put back (at once when there are none).
                tracing::info!(signal = sig, "dashboard stopping on a signal");
                if *sig == "SIGHUP" {
                    // The terminal is gone: stop drawing, keep putting nodes back.
                    drawing = false;
                }
            }
            let Some(ev) = ev else { break };
            let mut quit = false;
            let mut shells = Vec::new();
            let mut next = Some(ev);
            while let Some(ev) = next {
                let now = now_ms();
                let urgent = is_input(&ev);
                let tick = matches!(ev, Event::Tick);
                let mut redraw = app.redraws(&ev);
                let effects = app.handle(ev, now);
                // The clock alone (no rollout to time) draws only when a row on screen
                // or a verdict moved: at most once a second, not at all when idle.
                if tick && !redraw {
                    redraw = app.refresh(now);
                }
                if redraw {
                    pacer.changed(urgent);
                }
                let effects = effects
                    .into_iter()
                    .filter_map(|e| match e {
                        Effect::Action(req) if req.action.runs == crate::actions::Runs::Shell => {
                            shells.push(req);
                            None
                        }
                        Effect::Action(req) => {
                            action_runner.start(req);
                            None
                        }
                        Effect::StopPane { run } => {
                            action_runner.stop(run);
                            None
                        }
                        e => Some(e),
                    })
                    .collect();
                quit |= carry_out(effects, &app, runner.as_mut(), &scheduler, now);
                next = rx.try_recv().ok();
            }
            if quit {
                break;
            }
            // A shell: the terminal is handed over (input reader stopped, alternate
            // screen left) and taken back, on the same view, when the shell exits.
            for req in shells {
                input.abort();
                let _ = (&mut input).await;
                crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture).ok();
                ratatui::restore();
                let done = action_runner.shell(&req).await;
                terminal = ratatui::init();
                crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture).ok();
                terminal.clear()?;
                input = spawn_input(input_tx.clone());
                app.handle(Event::Action(Box::new(done)), now_ms());
                pacer.changed(true);
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let result = tokio::select! {
        r = result => r,
        () = polls => Ok(()),
    };
    action_runner.stop_all();
    crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture).ok();
    ratatui::restore();
    input.abort();
    ticker.abort();
    if let Some(f) = forward {
        f.abort();
    }
    ctx.transport.close().await;
    // The recap of a rollout run from the dashboard, once the terminal is back.
    let mut code = 0;
    if let Some(d) = &app.rollout {
        print!(
            "{}",
            crate::replay::recap::text(
                &d.machine,
                &app.nodes,
                &d.rollout_id,
                &d.skills_sha,
                d.journal_path.as_deref(),
                d.again.as_deref(),
            )
        );
        // Non-zero unless every planned node landed, once the rollout touched any.
        let ran = d.machine.nodes.iter().any(|s| s.started.is_some());
        if ran && !d.machine.all_landed() {
            code = 1;
        }
    }
    result.map(|()| code)
}

/// The terminal's events, read in a task of their own.
fn spawn_input(tx: mpsc::UnboundedSender<Event>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(Ok(ev)) = stream.next().await {
            if tx.send(Event::Input(ev)).is_err() {
                break;
            }
        }
    })
}

/// Carry out what the app asked for at `now`: polls now, the rollout's effects (its
/// runner journals and spawns them), the locks' heartbeat. True when it asked to quit.
fn carry_out(
    effects: Vec<Effect>,
    app: &App,
    mut runner: Option<&mut Runner>,
    scheduler: &SchedulerHandle,
    now: Millis,
) -> bool {
    let mut quit = false;
    for e in effects {
        match e {
            Effect::Poll { node, doctor } => scheduler.refresh(node, doctor),
            Effect::PollAll => scheduler.refresh_all(false),
            Effect::Rollout(effects) => {
                if let Some(r) = runner.as_deref_mut() {
                    r.run(effects, now);
                }
            }
            Effect::Heartbeat => {
                if let (Some(r), Some(d)) = (runner.as_deref_mut(), app.rollout.as_ref()) {
                    r.heartbeat(now, || d.lock_holders());
                }
            }
            Effect::Quit => quit = true,
            // Taken by the loop before (they need the terminal or the action runner).
            Effect::Action(_) | Effect::StopPane { .. } => {}
        }
    }
    quit
}
