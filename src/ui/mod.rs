//! Drawing: a pure function of [`App`] and the theme. One file per view.

pub mod fleet;
pub mod help;
pub mod locks;
mod marks;
pub mod node;
pub mod pane;
pub mod plan;
pub mod replay;
pub mod skew;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::dashboard::layout::footer_height;
use crate::dashboard::{App, View};
use crate::inventory::NodeId;
use crate::keymap::Action as A;
use crate::verdict::Kind;
use theme::Theme;

pub use crate::dashboard::layout::TABLE_FIRST_ROW;

/// Draw the whole screen.
pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    let [top, tabs, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(footer_height(app.rollout.is_some())),
    ])
    .areas(f.area());
    title_bar(f, top, app, theme);
    fleet::tabs(f, tabs, app, theme);
    match app.view {
        View::Fleet => fleet::draw(f, body, app, theme),
        View::Node => match &app.pane {
            Some(p) => {
                let (top, bottom) = pane::split(body);
                node::draw(f, top, app, theme);
                pane::draw(f, bottom, p, theme);
            }
            None => node::draw(f, body, app, theme),
        },
        View::Skew => skew::draw(f, body, app, theme),
        View::Plan => plan::draw(f, body, app, theme),
    }
    footer(f, foot, app, theme);
    if app.help {
        let user: Vec<(String, String)> = app
            .user_actions
            .iter()
            .map(|u| {
                (
                    u.key.to_string(),
                    crate::safe_text::clean_capped(&u.action.description, 50),
                )
            })
            .collect();
        help::draw(f, f.area(), &app.keymap, &user, theme);
    }
    if let Some((q, _)) = &app.confirm {
        help::confirm(f, f.area(), q, theme);
    }
    if let Some((q, _)) = &app.action_confirm {
        help::confirm(f, f.area(), q, theme);
    }
}

/// The word and glyph of a verdict: colour is never the only signal.
pub fn verdict_label(k: Kind) -> &'static str {
    match k {
        Kind::Healthy => "✔ healthy",
        Kind::Draining => "◐ draining",
        Kind::Dead => "✖ dead",
    }
}

pub fn verdict_style(k: Kind, theme: &Theme) -> Style {
    match k {
        Kind::Healthy => theme.ok,
        Kind::Draining => theme.warn,
        Kind::Dead => theme.error,
    }
}

/// Whether a row has been answered yet (otherwise it is pending, not dead).
pub fn pending(app: &App, node: NodeId) -> bool {
    app.states
        .get(node)
        .is_some_and(crate::dashboard::rows::is_pending)
}

fn title_bar(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // Kept as rows change (dashboard::rows::Counts), not counted over the fleet per frame.
    let crate::dashboard::rows::Counts {
        healthy: h,
        draining: d,
        dead: x,
        pending: p,
        skewed: s,
        rollout_pending: to_roll,
        locked,
    } = app.counts();
    let mut spans = vec![
        Span::styled(" meshroll ", theme.title),
        Span::styled(
            format!("{} · {} nodes  ", app.title, app.rows.len()),
            theme.dim,
        ),
        Span::styled(format!("✔ {h} healthy"), theme.ok),
        Span::raw("  "),
        Span::styled(format!("◐ {d} draining"), theme.warn),
        Span::raw("  "),
        Span::styled(format!("✖ {x} dead"), theme.error),
    ];
    if p > 0 {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(format!("… {p} pending"), theme.pending));
    }
    if app.rollout.is_some() || to_roll > 0 {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!("→ {to_roll} pending"),
            if to_roll > 0 {
                theme.pending
            } else {
                theme.dim
            },
        ));
    }
    spans.push(Span::raw("  "));
    spans.push(Span::styled(
        format!("≠ {s} skewed"),
        if s > 0 { theme.warn } else { theme.dim },
    ));
    spans.extend(locks::header_spans(locked, theme));
    spans.extend(marks::header_spans(app, theme));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What the footer offers on the screen up: actions (the keys come from the keymap) and
/// what they do.
fn footer_items(app: &App) -> &'static [(&'static [A], &'static str)] {
    if app.rollout.is_some() && app.view != View::Node {
        &[
            (&[A::PlanView], "plan"),
            (&[A::StepPhase], "step"),
            (&[A::StepWave], "wave"),
            (&[A::Run], "run"),
            (&[A::PauseResume], "pause"),
            (&[A::RetryNow], "retry"),
            (&[A::Skip], "skip"),
            (&[A::RollbackNode], "rollback"),
            (&[A::Abort], "abort"),
            (&[A::Help], "help"),
            (&[A::Quit], "quit"),
        ]
    } else {
        match app.view {
            View::Fleet => &[
                (&[A::Help], "help"),
                (&[A::Down, A::Up], "move"),
                (&[A::Open], "node"),
                (&[A::NextTab], "class"),
                (&[A::Filter], "filter"),
                (&[A::Sort], "sort"),
                (&[A::SkewView], "skew"),
                (&[A::Refresh], "poll"),
                (&[A::Drain, A::Undrain], "drain"),
                (&[A::Logs], "logs"),
                (&[A::Shell], "shell"),
                (&[A::Quit], "quit"),
            ],
            View::Node if app.pane.is_some() => &[
                (&[A::Back], "close pane"),
                (&[A::Up, A::Down], "scroll"),
                (&[A::Help], "help"),
                (&[A::Quit], "quit"),
            ],
            View::Node => &[
                (&[A::Help], "help"),
                (&[A::Back], "back"),
                (&[A::Down, A::Up], "prev/next"),
                (&[A::Refresh], "poll"),
                (&[A::Doctor], "doctor"),
                (&[A::Restart], "restart"),
                (&[A::Logs], "logs"),
                (&[A::FollowLogs], "follow"),
                (&[A::Shell], "shell"),
                (&[A::Quit], "quit"),
            ],
            View::Skew => &[
                (&[A::Help], "help"),
                (&[A::Back], "back"),
                (&[A::SkewView], "fleet"),
                (&[A::Quit], "quit"),
            ],
            View::Plan => &[
                (&[A::PlanView], "fleet"),
                (&[A::Help], "help"),
                (&[A::Quit], "quit"),
            ],
        }
    }
}

fn footer(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = if app.filter_editing {
        Line::from(vec![
            Span::styled(" filter: ", theme.key),
            Span::raw(app.filter.clone()),
            Span::styled("▏", theme.key),
            Span::styled("  Enter keep · Esc clear", theme.dim),
        ])
    } else if let Some(m) = &app.flash {
        Line::from(Span::styled(
            format!(" {}", crate::safe_text::clean(m)),
            theme.pending,
        ))
    } else {
        let items = footer_items(app);
        // Keys come from the keymap, so a rebinding shows here and in `?`.
        let keys = app.keymap.footer(items);
        let mut spans = vec![Span::raw(" ")];
        for (k, what) in keys {
            spans.push(Span::styled(k, theme.key));
            spans.push(Span::styled(format!(" {what}  "), theme.dim));
        }
        // The operator's own actions (actions.toml), after the built-in keys.
        if app.view != View::Plan && app.pane.is_none() {
            for u in &app.user_actions {
                spans.push(Span::styled(u.key.to_string(), theme.key));
                spans.push(Span::styled(
                    format!(" {}  ", crate::safe_text::clean_capped(&u.action.name, 24)),
                    theme.dim,
                ));
            }
        }
        Line::from(spans)
    };
    match &app.rollout {
        Some(d) if area.height >= 2 => {
            let (status, halted) = plan::status_line(d);
            let style = if halted { theme.error } else { theme.pending };
            f.render_widget(
                Paragraph::new(vec![
                    Line::from(Span::styled(format!(" {status}"), style)),
                    line,
                ]),
                area,
            );
        }
        _ => f.render_widget(Paragraph::new(line), area),
    }
}
