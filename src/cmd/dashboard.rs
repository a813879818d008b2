//! `meshroll` and `meshroll demo`: the live dashboard, with a rollout staged (paused)
//! when `--skills` is given, and always on the demo mesh.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::cli::{Global, PlanArgs};
use crate::dashboard::event_loop::{self, ActionsSetup, Dashboard};
use crate::dashboard::{App, Setup};
use crate::keymap::KeyMap;
use crate::observe::now_ms;
use crate::poller::PollCtx;
use crate::rollout::Mode;
use crate::rollout::events::ExecEvent;
use crate::rollout::runner::Runner;
use crate::rollout::session;
use crate::rollout::state::RolloutState;
use crate::rollout::steps::Limits;
use crate::terminal::FullScreen;
use crate::ui::theme::Theme;

pub async fn run(g: &Global, d: &PlanArgs, demo: bool) -> anyhow::Result<i32> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the dashboard needs a terminal; for scripts use `meshroll status --json`");
    }
    let theme = Theme::from_env(&g.theme)?;
    let title = if demo {
        "demo (simulated mesh)".to_string()
    } else {
        g.inventory.display().to_string()
    };
    if !demo && d.skills.is_none() {
        let (inv, ctx) = super::real_ctx(g)?;
        tracing::info!(nodes = inv.nodes.len(), "dashboard starting");
        let actions = super::actions::setup(g, &d.journal);
        return dashboard(Arc::new(ctx), title, inv.classes, theme, None, actions).await;
    }
    // A rollout staged in the dashboard: paused until the operator steps or runs it.
    let mut args = d.clone();
    if demo {
        // The demo journal lives with the logs, not in the working folder.
        let dir = g
            .log_dir
            .clone()
            .unwrap_or_else(crate::logging::default_dir);
        args.journal = dir.join(format!("demo-journal-{}.jsonl", std::process::id()));
    }
    let mut p = super::rollout::prepare(g, &args, demo)?;
    let stage_dir = p.stage()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let session = session::Session {
        poll: p.poll.clone(),
        bundle: p.bundle.clone(),
        plan: p.plan.clone(),
        stage_dir,
        journal: args.journal.clone(),
        limits: Limits {
            command: Duration::from_secs(g.timeout.max(1)),
            ..Limits::default()
        },
        who: super::rollout::who(),
    };
    let (mut state, runner, _notes) = session::start(session, Mode::Paused, tx, now_ms())
        .await
        .with_context(|| format!("opening the journal {}", args.journal.display()))?;
    state.again = Some(super::again());
    tracing::info!(nodes = p.inv.nodes.len(), demo, skills_sha = %p.bundle.skills_sha, "dashboard with a staged rollout");
    let actions = super::actions::setup(g, &args.journal);
    let r = dashboard(
        p.poll.clone(),
        title,
        p.inv.classes.clone(),
        theme,
        Some((state, runner, rx)),
        actions,
    )
    .await;
    drop(p);
    r
}

/// The dashboard in this terminal: the key bindings and the operator's actions read
/// first (a mistake in keys.toml or an actions file is an error before the screen
/// changes), the terminal taken over for the event loop, given back, and the recap of
/// a rollout run from the dashboard printed once it is.
async fn dashboard(
    ctx: Arc<PollCtx>,
    title: String,
    classes: Vec<String>,
    theme: Theme,
    rollout: Option<(RolloutState, Runner, mpsc::UnboundedReceiver<ExecEvent>)>,
    actions: ActionsSetup,
) -> anyhow::Result<i32> {
    let keymap = match KeyMap::default_path() {
        Some(p) => KeyMap::load(&p)?,
        None => KeyMap::default(),
    };
    let user_actions = crate::actions::user::load_all(&actions.inventory, &keymap)?;
    let (state, runner) = match rollout {
        Some((state, runner, exec_rx)) => (Some(state), Some((runner, exec_rx))),
        None => (None, None),
    };
    let setup = Setup {
        keymap,
        rules: ctx.cadence.rules(),
        user_actions,
        rollout: state,
    };
    let app = App::new(title, ctx.nodes.clone(), classes, setup);
    let d = Dashboard {
        app,
        ctx: ctx.clone(),
        theme,
        runner,
        actions: actions.env,
    };
    let (mut screen, mut terminal, input) = FullScreen::enter(true)?;
    let result = event_loop::run(d, &mut terminal, input, &mut screen).await;
    drop(screen);
    ctx.transport.close().await;
    let app = result?;
    Ok(recap(&app))
}

/// The recap of a rollout run from the dashboard (printed), and the exit code:
/// non-zero unless every planned node landed, once the rollout touched any.
fn recap(app: &App) -> i32 {
    let Some(d) = app.rollout() else {
        return 0;
    };
    print!("{}", crate::replay::recap::Recap::of(d, app.nodes()));
    let ran = d.machine.nodes.iter().any(|s| s.started.is_some());
    i32::from(ran && !d.machine.all_landed())
}
