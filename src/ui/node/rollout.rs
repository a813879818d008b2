//! The node's rollout: where it is, every attempt, the live output of the running step.

use ratatui::text::{Line, Span};

use super::{Ctx, Lines};
use crate::rollout::NodeRun;
use crate::rollout::machine::MAX_ATTEMPTS;
use crate::safe_text::{clean, clean_capped};

/// Attempts shown, newest last.
const HISTORY: usize = 12;
/// Lines of the running step's output shown, newest last.
const OUTPUT: usize = 8;

/// Nothing when no rollout runs or the node is not in its plan.
pub(super) fn section(l: &mut Lines, c: &Ctx) {
    let Some(d) = c.app.rollout() else { return };
    if d.machine.plan.locate(c.i).is_none() {
        return;
    }
    l.push(Line::from(""));
    run_line(l, c);
    history(l, c);
    if let Some(out) = d.output.get(c.i).filter(|o| !o.is_empty()) {
        l.push(Line::from(Span::styled("  output:", c.theme.dim)));
        for line in out.iter().rev().take(OUTPUT).rev() {
            l.push(Line::from(Span::raw(format!("    {}", clean(line)))));
        }
    }
}

/// Where the node is in the rollout, and when it retries after a failed attempt.
fn run_line(l: &mut Lines, c: &Ctx) {
    let Some(d) = c.app.rollout() else { return };
    let (slot, theme) = (&d.machine.nodes[c.i], c.theme);
    let mut head = vec![
        Span::styled("rollout", theme.header),
        Span::styled(format!("  {}", slot.run.label()), theme.pending),
    ];
    if let NodeRun::Retrying {
        attempt, at, error, ..
    } = &slot.run
    {
        head.push(Span::styled(
            format!(
                "  attempt {attempt}/{MAX_ATTEMPTS} in {}s — {error}",
                at.saturating_sub(c.app.now()).div_ceil(1000),
                error = clean(error),
            ),
            theme.warn,
        ));
    }
    l.push(Line::from(head));
}

/// The last attempts: phase, attempt number, how long it took, how it ended.
fn history(l: &mut Lines, c: &Ctx) {
    let Some(d) = c.app.rollout() else { return };
    let theme = c.theme;
    for a in d.machine.nodes[c.i]
        .history
        .iter()
        .rev()
        .take(HISTORY)
        .rev()
    {
        let took = a.ended.map_or("running".to_string(), |e| {
            format!("{:.1}s", e.saturating_sub(a.started) as f64 / 1000.0)
        });
        let (what, style) = match &a.outcome {
            None => ("…".to_string(), theme.pending),
            // prewarm's note may say that no memory cap held on this node, and why
            Some(Ok(n)) if a.phase == crate::rollout::Phase::Prewarm => {
                (format!("ok {}", clean_capped(n, 240)), theme.ok)
            }
            Some(Ok(n)) => (format!("ok {}", clean_capped(n, 60)), theme.ok),
            Some(Err(f)) => (format!("failed: {}", clean(f.message())), theme.error),
        };
        l.push(Line::from(vec![
            Span::styled(
                format!("  {:<9} #{} {:>8}  ", a.phase.name(), a.attempt, took),
                theme.dim,
            ),
            Span::styled(what, style),
        ]));
    }
}
