//! The plan: one lane per class with its stage, a gauge, the failure budget left and
//! what waits for the operator; under it, the rollout's latest progress lines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph};

use super::scroll::At;
use super::theme::Theme;
use crate::dashboard::App;
use crate::inventory::NodeId;
use crate::observe::Millis;
use crate::rollout::plan::duration_text;
use crate::rollout::state::{RolloutState, Tone};
use crate::rollout::{Mode, NodeRun};

/// One short line on the rollout as a whole: mode, halt, counts.
pub fn status_line(d: &RolloutState) -> (String, bool) {
    let m = &d.machine;
    let landed = m
        .plan
        .nodes()
        .filter(|&n| m.nodes[n].run == NodeRun::Landed)
        .count();
    let total = m.plan.nodes().count();
    let state = if let Some(h) = &m.halt {
        return (
            format!(
                "HALTED: {} — t retry node · x skip · space resume · A abort",
                crate::safe_text::clean(&h.to_string())
            ),
            true,
        );
    } else if m.finished {
        "finished".to_string()
    } else if m.aborted && m.in_flight() > 0 {
        format!(
            "aborted: putting {} node(s) in flight back (undrain, unlock)",
            m.in_flight()
        )
    } else if m.aborted {
        "aborted: nothing in flight; nodes put back".to_string()
    } else if m.finishing {
        "finishing the nodes under way; no new node starts".to_string()
    } else {
        match m.mode {
            Mode::Run => "running".into(),
            Mode::StepWave => "stepping a wave".into(),
            Mode::Paused => "paused — n step a phase · w step a wave · c run".into(),
        }
    };
    let mut classes = if m.plan.parallel_classes && m.plan.classes.len() > 1 {
        " · classes in parallel".to_string()
    } else {
        String::new()
    };
    if m.plan.bake_ms > 0 {
        classes.push_str(&format!(" · canary bake {}", duration_text(m.plan.bake_ms)));
    }
    (
        format!(
            "rollout {} · {landed}/{total} landed{classes} · {state}",
            crate::skew::short(&d.skills_sha)
        ),
        false,
    )
}

/// Draw the plan, its progress log scrolled as the state says; how far the log can
/// scroll (back from its newest line).
pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) -> usize {
    let Some(d) = app.rollout() else {
        f.render_widget(
            Paragraph::new(" no rollout staged (start with --skills DIR)"),
            area,
        );
        return 0;
    };
    let lanes = d.machine.plan.classes.len() as u16;
    let [head_area, lanes_area, log_area] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(lanes * 3),
        Constraint::Min(3),
    ])
    .areas(area);
    head(f, head_area, d, theme);
    let rows = Layout::vertical((0..lanes).map(|_| Constraint::Length(3))).split(lanes_area);
    for (ci, row) in rows.iter().enumerate() {
        lane(f, *row, d, ci, app.now(), theme);
    }
    progress(f, log_area, d, app.scroll().plan, theme)
}

/// The bundle's ids and the status line.
fn head(f: &mut Frame, area: Rect, d: &RolloutState, theme: &Theme) {
    let (status, halted) = status_line(d);
    f.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled(" SKILLS_SHA ", theme.dim),
                Span::raw(d.skills_sha.clone()),
                Span::styled("  MANIFEST ", theme.dim),
                Span::raw(crate::skew::short(&d.manifest_sha256).to_string()),
            ]),
            Line::from(Span::styled(
                format!(" {status}"),
                if halted { theme.error } else { theme.pending },
            )),
        ]),
        area,
    );
}

/// Class `ci`'s lane: its stage, counts, failure budget left and a gauge of landed.
fn lane(f: &mut Frame, area: Rect, d: &RolloutState, ci: usize, now: Millis, theme: &Theme) {
    let m = &d.machine;
    let Some(cp) = m.plan.classes.get(ci) else {
        return;
    };
    let nodes: Vec<NodeId> = cp.nodes().collect();
    let landed = nodes
        .iter()
        .filter(|&&n| m.nodes[n].run == NodeRun::Landed)
        .count();
    let failed = nodes
        .iter()
        .filter(|&&n| matches!(m.nodes[n].run, NodeRun::Failed { .. }))
        .count();
    let lane = m.lanes.iter().find(|c| c.class == ci).copied().or(m.cursor);
    let stage = match lane {
        // A baking canary counts its bake down (`--bake`).
        Some(c) if c.class == ci && c.stage == 0 => match m.baking.iter().find(|b| b.class == ci) {
            Some(b) => format!(
                "canary {} baking, {} left",
                crate::safe_text::clean(d.name(b.node)),
                duration_text(b.left_ms(now))
            ),
            None => "canary".to_string(),
        },
        Some(c) if c.class == ci => format!("wave {}/{}", c.stage, cp.waves.len()),
        Some(c) if c.class < ci && !m.plan.parallel_classes => "waiting".into(),
        _ if landed + failed == nodes.len() => "done".into(),
        _ => "stopped".into(),
    };
    let budget_left = cp.failure_budget.saturating_sub(failed);
    let label = format!(
        "{}: {stage} · {landed}/{} landed · {failed} failed · budget left {budget_left}",
        cp.class,
        nodes.len()
    );
    let ratio = if nodes.is_empty() {
        0.0
    } else {
        landed as f64 / nodes.len() as f64
    };
    let style = if failed > cp.failure_budget {
        theme.error
    } else if failed > 0 {
        theme.warn
    } else {
        theme.ok
    };
    let g = Gauge::default()
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border)
                .title(Span::styled(format!(" {label} "), theme.title)),
        )
        .gauge_style(style)
        .ratio(ratio.clamp(0.0, 1.0))
        .label(format!("{:.0}%", ratio * 100.0));
    f.render_widget(g, area);
}

/// The progress lines that fit, newest last, `back` lines back from the newest,
/// coloured by their tone; how far back the log can go.
fn progress(f: &mut Frame, area: Rect, d: &RolloutState, back: usize, theme: &Theme) -> usize {
    let h = area.height.saturating_sub(1) as usize;
    // names a node without rsync 3 refuses, first (they decide whether such a node lands)
    let refusals = &d.machine.plan.old_rsync_refusals;
    let mut lines: Vec<Line> = Vec::new();
    if !refusals.is_empty() && h > 1 {
        let first = crate::safe_text::clean(&refusals[0]);
        let count = match refusals.len() {
            1 => "1 name".to_string(),
            n => format!("{n} names, all in --check"),
        };
        lines.push(Line::from(Span::styled(
            format!(" refused on a node without rsync 3 (no -s; {count}): {first}"),
            theme.warn,
        )));
    }
    let h = h.saturating_sub(lines.len());
    let total = d.log.len();
    let max = total.saturating_sub(h);
    let back = back.min(max);
    let start = total.saturating_sub(h + back);
    lines.extend(d.log.iter().skip(start).take(h).map(|p| {
        let style = match p.tone {
            Tone::Bad => theme.error,
            Tone::Warn => theme.warn,
            Tone::Good => theme.ok,
            Tone::Note => theme.dim,
        };
        Line::from(Span::styled(
            format!(" {}", crate::safe_text::clean(&p.text)),
            style,
        ))
    }));
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" progress ", theme.title));
    let block = super::scroll::with_indicator(block, start, h, total, At::Top, theme);
    f.render_widget(Paragraph::new(lines).block(block), area);
    max
}
