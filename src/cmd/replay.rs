//! `meshroll replay JOURNAL`: a past rollout in the dashboard, in time order, with
//! play/pause, speed and jump to the next failure; `--summary` prints the timeline.
//! SIGTERM, SIGHUP and SIGINT end it like `q`, the terminal restored (the dashboard's
//! guard, [`FullScreen`]).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::cli::{Global, ReplayArgs};
use crate::replay::Replay;
use crate::replay::player::Player;
use crate::terminal::FullScreen;
use crate::ui::theme::Theme;

pub async fn run(g: &Global, a: &ReplayArgs) -> anyhow::Result<i32> {
    let audit_only =
        a.summary && !a.journal.exists() && crate::actions::audit::beside(&a.journal).exists();
    let replay = if audit_only {
        // Node actions but no rollout yet: the timeline of the actions.
        Replay::from_entries(
            crate::safe_text::clean(&a.journal.display().to_string()),
            Vec::new(),
            Vec::new(),
        )
    } else {
        Replay::load(&a.journal)?
    };
    if a.summary {
        // The node actions of the audit log beside the journal, in the same timeline.
        let audit = crate::actions::audit::beside(&a.journal);
        let (actions, bad) = crate::actions::audit::read(&audit).unwrap_or_else(|e| {
            eprintln!(
                "meshroll: cannot read the audit log {}: {e}",
                audit.display()
            );
            (Vec::new(), 0)
        });
        if bad > 0 {
            eprintln!(
                "meshroll: {}: {bad} line(s) could not be read, skipped",
                audit.display()
            );
        }
        print!("{}", replay.summary_with(&actions));
        return Ok(0);
    }
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "the replay needs a terminal; `meshroll replay JOURNAL --summary` prints the timeline"
        );
    }
    if replay.entries.is_empty() {
        anyhow::bail!(
            "journal {}: no events to replay ({} line(s) skipped)",
            replay.source,
            replay.bad.len()
        );
    }
    let theme = Theme::from_env(&g.theme)?;
    let mut player = Player::new(replay);
    let (screen, mut terminal, mut input) = FullScreen::enter(false)?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last = Instant::now();
    let result = loop {
        if let Err(e) = terminal.draw(|f| crate::ui::replay::draw(f, &player, &theme)) {
            break Err(e.into());
        }
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                player.advance(now.duration_since(last).as_millis() as u64);
                last = now;
            }
            inc = input.next() => match inc {
                Some(inc) => player.input(inc),
                None => break Ok(()),
            },
        }
        if player.quit {
            break Ok(());
        }
    };
    drop(screen);
    result.map(|()| 0)
}
