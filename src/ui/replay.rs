//! The replay screen: the rollout's table as it was at the replay clock, the recent
//! events, the selected node's attempts, and the player's keys. Every string shown came
//! from the journal and was cleaned when it was read (`crate::replay`).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::theme::Theme;
use crate::replay::player::Player;
use crate::replay::{AttemptAt, NOTE_CHARS, Status, clock, one_line, secs};
use crate::rollout::machine::MAX_ATTEMPTS;

pub fn draw(f: &mut Frame, p: &Player, theme: &Theme) {
    // The table takes what its nodes need; the events and the node's attempts the rest.
    let table_h = (p.at.nodes.len() as u16 + 2).max(4);
    let [top, status, body, events, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Max(table_h),
        Constraint::Min(10),
        Constraint::Length(1),
    ])
    .areas(f.area());
    title(f, top, p, theme);
    status_line(f, status, p, theme);
    table(f, body, p, theme);
    let [log, node] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(events);
    event_log(f, log, p, theme);
    node_pane(f, node, p, theme);
    footer(f, foot, p, theme);
    if p.help {
        help(f, f.area(), theme);
    }
}

fn title(f: &mut Frame, area: Rect, p: &Player, theme: &Theme) {
    let mut spans = vec![
        Span::styled(" meshroll replay ", theme.title),
        Span::styled(format!(" {}", p.replay.source), theme.dim),
    ];
    if let Some(r) = &p.at.rollout {
        spans.push(Span::styled(format!(" · rollout {r}"), theme.dim));
    }
    if let Some(s) = &p.at.skills_sha {
        spans.push(Span::styled(
            format!(" · bundle {}", crate::skew::short(s)),
            theme.dim,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_line(f: &mut Frame, area: Rect, p: &Player, theme: &Theme) {
    let r = &p.replay;
    let (landed, failed, flight, waiting) = p.at.counts();
    let state = if p.playing {
        Span::styled(format!(" ▶ playing {}x", p.speed_x()), theme.ok)
    } else {
        Span::styled(format!(" ‖ paused {}x", p.speed_x()), theme.pending)
    };
    let mut spans = vec![
        state,
        Span::styled(
            format!(
                "  +{} / {}  {}Z  event {}/{}  ",
                secs(p.clock.saturating_sub(r.start())),
                secs(r.end().saturating_sub(r.start())),
                clock(p.clock),
                p.pos,
                r.entries.len()
            ),
            theme.dim,
        ),
        Span::styled(format!("✔ {landed} landed"), theme.ok),
        Span::raw("  "),
        Span::styled(
            format!("✖ {failed} failed"),
            if failed > 0 { theme.error } else { theme.dim },
        ),
        Span::raw("  "),
        Span::styled(format!("◐ {flight} in flight"), theme.warn),
        Span::raw("  "),
        Span::styled(format!("… {waiting} waiting"), theme.dim),
    ];
    if let Some(h) = &p.at.halted {
        spans.push(Span::styled(format!("  HALTED: {h}"), theme.error));
    } else if let Some(fin) = &p.at.finished {
        spans.push(Span::styled(format!("  {fin}"), theme.ok));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn table(f: &mut Frame, area: Rect, p: &Player, theme: &Theme) {
    let header = Row::new(["NODE", "PHASE", "ATTEMPT", "RETRY", "LAST ERROR"].map(Cell::from))
        .style(theme.header);
    let rows: Vec<Row> =
        p.at.nodes
            .iter()
            .map(|n| {
                let style = match n.status {
                    Status::Landed => theme.ok,
                    Status::Failed => theme.error,
                    Status::Retrying => theme.warn,
                    Status::Active => theme.pending,
                    _ => theme.dim,
                };
                let attempt = if n.attempt > 0 {
                    format!("{}/{MAX_ATTEMPTS}", n.attempt)
                } else {
                    String::new()
                };
                let retry = match (n.status, n.retry_at) {
                    (Status::Retrying, Some(at)) => {
                        format!("in {}", secs(at.saturating_sub(p.clock)))
                    }
                    _ => String::new(),
                };
                let err = match n.status {
                    Status::Landed | Status::Waiting => String::new(),
                    _ => n.last_error.clone().unwrap_or_default(),
                };
                Row::new(vec![
                    Cell::from(n.name.clone()),
                    Cell::from(Span::styled(n.label(), style)),
                    Cell::from(Span::styled(attempt, theme.dim)),
                    Cell::from(Span::styled(retry, theme.warn)),
                    Cell::from(Span::styled(
                        err,
                        if n.status == Status::Failed {
                            theme.error
                        } else {
                            theme.warn
                        },
                    )),
                ])
            })
            .collect();
    let name_w =
        p.at.nodes
            .iter()
            .map(|n| n.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 24) as u16;
    let t = Table::new(
        rows,
        [
            Constraint::Length(name_w),
            Constraint::Length(20),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .column_spacing(1)
    .row_highlight_style(theme.highlight)
    .highlight_symbol("▶")
    .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(p.selected));
    f.render_stateful_widget(t, area, &mut state);
}

fn event_log(f: &mut Frame, area: Rect, p: &Player, theme: &Theme) {
    let n = area.height.saturating_sub(1) as usize;
    let start = p.replay.start();
    let lines: Vec<Line> = p.replay.entries[..p.pos]
        .iter()
        .rev()
        .take(n)
        .rev()
        .map(|e| {
            let style = if e.is_failure() {
                theme.error
            } else {
                ratatui::style::Style::default()
            };
            Line::from(vec![
                Span::styled(
                    format!("{:>8} ", format!("+{}", secs(e.ts.saturating_sub(start)))),
                    theme.dim,
                ),
                Span::styled(e.describe(), style),
            ])
        })
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" events ", theme.title));
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn node_pane(f: &mut Frame, area: Rect, p: &Player, theme: &Theme) {
    let Some(n) = p.at.nodes.get(p.selected) else {
        return;
    };
    let h = area.height.saturating_sub(1) as usize;
    let mut lines: Vec<Line> = Vec::new();
    for AttemptAt { attempt: a, mark } in n.attempts().rev().take(h).rev() {
        let took = a
            .ended
            .map_or("…".to_string(), |e| secs(e.saturating_sub(a.started)));
        // Long notes on one line with their size, unless expanded (`e`).
        let text = |t: &str| {
            if p.expanded {
                t.to_string()
            } else {
                one_line(t, NOTE_CHARS)
            }
        };
        let (what, style) = match &a.outcome {
            None if mark.cut => ("the run stopped mid-attempt".to_string(), theme.warn),
            None => ("running".to_string(), theme.pending),
            Some(Ok(note)) => (format!("ok {}", text(note)), theme.ok),
            Some(Err(f)) => (format!("{}: {}", f.kind(), text(f.message())), theme.error),
        };
        let wait = match mark.wait_ms {
            Some(w) if mark.cut => format!(" (retry in {} never ran: the run stopped)", secs(w)),
            Some(w) => format!(" (waited {})", secs(w)),
            None => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<8} #{} {:>6} ", a.phase.name(), a.attempt, took),
                theme.dim,
            ),
            Span::styled(format!("{what}{wait}"), style),
        ]));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled("  nothing yet", theme.dim)));
    }
    let block = Block::default()
        .borders(Borders::TOP | Borders::LEFT)
        .border_style(theme.border)
        .title(Span::styled(format!(" {} ", n.name), theme.title));
    f.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        area,
    );
}

const KEYS: &[(&str, &str)] = &[
    ("␣", "play/pause"),
    ("+/-", "speed"),
    ("f", "next failure"),
    ("←/→", "step"),
    ("g/G", "start/end"),
    ("j/k", "node"),
    ("e", "expand notes"),
    ("?", "help"),
    ("q", "quit"),
];

fn footer(f: &mut Frame, area: Rect, p: &Player, theme: &Theme) {
    let line = if let Some(m) = &p.flash {
        Line::from(Span::styled(format!(" {m}"), theme.pending))
    } else {
        let mut spans = vec![Span::raw(" ")];
        for (k, what) in KEYS {
            spans.push(Span::styled(*k, theme.key));
            spans.push(Span::styled(format!(" {what}  "), theme.dim));
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(line), area);
}

fn help(f: &mut Frame, area: Rect, theme: &Theme) {
    let w = 52.min(area.width);
    let h = (KEYS.len() as u16 + 4).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines = vec![Line::from("")];
    for (k, what) in KEYS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<6}"), theme.key),
            Span::raw(*what),
        ]));
    }
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(" replay help — ? or Esc closes ", theme.title)),
        ),
        r,
    );
}
