//! The dashboard's event loop: the terminal, the node loops, the clock and the rollout
//! executor feed one event stream into [`App`]; the loop reads the clock, carries out
//! the effects the app asks for (polls now, the rollout's runner) and draws the screen
//! from it.

use std::sync::Arc;

use crossterm::event::EventStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::pacer::FramePacer;
use super::state::{AGE_TICK, App, Effect, Event, is_input, wrap_poll};
use crate::keymap::KeyMap;
use crate::observe::{Millis, now_ms};
use crate::poller::{self, PollCtx, Trigger};
use crate::rollout::exec::ExecEvent;
use crate::rollout::runner::Runner;
use crate::rollout::state::RolloutState;
use crate::ui::theme::Theme;

/// Run the dashboard until the user quits. The terminal is restored on exit and on
/// panic (ratatui's hook).
pub async fn run(
    ctx: Arc<PollCtx>,
    title: String,
    classes: Vec<String>,
    theme: Theme,
    rollout: Option<(RolloutState, Runner, mpsc::UnboundedReceiver<ExecEvent>)>,
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
    let (triggers, handles) = poller::spawn_node_loops(ctx.clone(), tx.clone(), wrap_poll);

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
    if let Ok(size) = terminal.size() {
        let resize = crossterm::event::Event::Resize(size.width, size.height);
        app.handle(Event::Input(resize), now_ms());
    }
    let result = async {
        // Drain what is queued, then draw once; while only poll results arrive, draw
        // at most every FRAME_MIN_INTERVAL (input draws at once).
        let mut pacer = FramePacer::default();
        pacer.changed(true);
        loop {
            if pacer.due(std::time::Instant::now()) {
                app.frame(now_ms());
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
            let mut quit = false;
            let mut next = Some(ev);
            while let Some(ev) = next {
                if app.redraws(&ev) {
                    pacer.changed(is_input(&ev));
                }
                let now = now_ms();
                let effects = app.handle(ev, now);
                quit |= carry_out(effects, &app, runner.as_mut(), &triggers, now);
                next = rx.try_recv().ok();
            }
            if quit {
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
                &d.rollout_id,
                &d.skills_sha,
                d.journal_path.as_deref(),
            )
        );
    }
    result
}

/// Carry out what the app asked for at `now`: polls now, the rollout's effects (its
/// runner journals and spawns them), the locks' heartbeat. True when it asked to quit.
fn carry_out(
    effects: Vec<Effect>,
    app: &App,
    mut runner: Option<&mut Runner>,
    triggers: &[std::sync::Arc<Trigger>],
    now: Millis,
) -> bool {
    let mut quit = false;
    for e in effects {
        match e {
            Effect::Poll { node, doctor } => {
                if let Some(t) = triggers.get(node) {
                    t.refresh(doctor);
                }
            }
            Effect::PollAll => triggers.iter().for_each(|t| t.refresh(false)),
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
        }
    }
    quit
}
