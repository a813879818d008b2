//! `meshroll` and `meshroll demo`: the live dashboard, with a rollout staged (paused)
//! when `--skills` is given, and always on the demo mesh.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cli::{Global, PlanArgs};
use crate::observe::now_ms;
use crate::rollout::Mode;
use crate::rollout::session;
use crate::rollout::steps::Limits;
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
        return crate::dashboard::run(Arc::new(ctx), title, inv.classes, theme, None, actions)
            .await;
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
    let (mut state, runner, _notes) = session::start(session, Mode::Paused, tx, now_ms()).await?;
    state.again = Some(super::again());
    tracing::info!(nodes = p.inv.nodes.len(), demo, skills_sha = %p.bundle.skills_sha, "dashboard with a staged rollout");
    let actions = super::actions::setup(g, &args.journal);
    let r = crate::dashboard::run(
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

/// SIGTERM, SIGHUP and SIGINT while the dashboard runs: each ends it like `q` (the
/// terminal restored, masters closed), instead of killing meshroll with the terminal
/// left in raw mode, on the alternate screen, with mouse capture on.
pub struct QuitSignals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl QuitSignals {
    /// Install the handlers (before the terminal is taken over, so no signal is lost).
    pub fn new() -> std::io::Result<QuitSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(QuitSignals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The name of the next signal received.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Chain a panic hook that turns mouse capture off before the hook already installed
/// (ratatui's, which leaves raw mode and the alternate screen but not mouse capture).
pub fn restore_mouse_on_panic() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        prev(info);
    }));
}
