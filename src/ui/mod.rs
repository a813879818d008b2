//! Drawing: a pure function of [`App`] and the theme. One file per view.

pub mod fleet;
pub mod help;
pub mod locks;
mod marks;
pub mod node;
pub mod pane;
pub mod plan;
pub mod replay;
pub mod scroll;
pub mod skew;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::dashboard::layout::footer_height;
use crate::dashboard::scroll::Scroll;
use crate::dashboard::{App, View};
use crate::inventory::NodeId;
use crate::keymap::Action as A;
use crate::verdict::Kind;
use theme::Theme;

pub use crate::dashboard::layout::TABLE_FIRST_ROW;

/// Draw the whole screen.
pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    draw_frame(f, app, theme);
}

/// Draw the whole screen; how far each scrolling pane can go, as drawn (a pane not on
/// screen is unlimited), for [`App::drawn`].
pub fn draw_frame(f: &mut Frame, app: &App, theme: &Theme) -> Scroll {
    let mut max = Scroll::UNLIMITED;
    let [top, tabs, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(footer_height(app.rollout().is_some())),
    ])
    .areas(f.area());
    title_bar(f, top, app, theme);
    fleet::tabs(f, tabs, app, theme);
    match app.view() {
        View::Fleet => fleet::draw(f, body, app, theme),
        View::Node => match app.pane() {
            Some(p) => {
                let (top, bottom) = pane::split(body);
                max.node = node::draw(f, top, app, theme);
                pane::draw(f, bottom, p, theme);
            }
            None => max.node = node::draw(f, body, app, theme),
        },
        View::Skew => max.skew = skew::draw(f, body, app, theme),
        View::Plan => max.plan = plan::draw(f, body, app, theme),
    }
    footer(f, foot, app, theme);
    if app.help() {
        let user: Vec<(String, String)> = app
            .user_actions()
            .iter()
            .map(|u| {
                (
                    u.key.to_string(),
                    crate::safe_text::clean_capped(&u.action.description, 50),
                )
            })
            .collect();
        max.help = help::draw(f, f.area(), app.keymap(), &user, theme, app.scroll().help);
    }
    if let Some((q, _)) = app.confirm() {
        help::confirm(f, f.area(), q, theme);
    }
    if let Some((q, _)) = app.action_confirm() {
        help::confirm(f, f.area(), q, theme);
    }
    if app.quit_asked() {
        let n = app.rollout().map_or(0, |d| d.machine.in_flight());
        help::quit_question(f, f.area(), n, theme);
    }
    max
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
    app.states()
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
        unverified: u,
        locked,
    } = app.counts();
    // Each count as (glyph and number, word, style): the words go before a count does.
    let mut counts = vec![
        (format!("✔ {h}"), "healthy", theme.ok),
        (format!("◐ {d}"), "draining", theme.warn),
        (format!("✖ {x}"), "dead", theme.error),
    ];
    if p > 0 {
        counts.push((format!("… {p}"), "not polled", theme.pending));
    }
    if app.rollout().is_some() || to_roll > 0 {
        let style = if to_roll > 0 {
            theme.pending
        } else {
            theme.dim
        };
        counts.push((format!("→ {to_roll}"), "waiting", style));
    }
    counts.push((
        format!("≠ {s}"),
        "skewed",
        if s > 0 { theme.warn } else { theme.dim },
    ));
    if u > 0 {
        counts.push((format!("? {u}"), "unverified", theme.warn));
    }
    if locked > 0 {
        counts.push((
            format!("{} {locked}", locks::LOCK_GLYPH),
            "locked",
            theme.pending,
        ));
    }
    if !app.marked().is_empty() {
        counts.push((
            format!("{} {}", marks::MARK_GLYPH, app.marked().len()),
            "marked",
            theme.key,
        ));
    }
    let count_spans = |words: bool| -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (n, word, style) in &counts {
            if !spans.is_empty() {
                spans.push(Span::raw("  "));
            }
            let text = if words {
                format!("{n} {word}")
            } else {
                n.clone()
            };
            spans.push(Span::styled(text, *style));
        }
        spans
    };
    let name = Span::styled(" meshroll ", theme.title);
    // The counts are never cut: the title, then the node count, then the name, then the
    // counts' words give way first.
    let candidates = [
        vec![
            name.clone(),
            Span::styled(
                format!("{} · {} nodes  ", app.title(), app.rows().len()),
                theme.dim,
            ),
        ],
        vec![
            name.clone(),
            Span::styled(format!("{} nodes  ", app.rows().len()), theme.dim),
        ],
        vec![name],
        vec![Span::raw(" ")],
    ];
    let line = [true, false]
        .into_iter()
        .flat_map(|words| {
            candidates.iter().map(move |head| {
                let mut spans = head.clone();
                spans.extend(count_spans(words));
                Line::from(spans)
            })
        })
        .find(|l| l.width() <= area.width as usize)
        .unwrap_or_else(|| {
            let mut spans = vec![Span::raw(" ")];
            spans.extend(count_spans(false));
            Line::from(spans)
        });
    f.render_widget(Paragraph::new(line), area);
}

/// What the footer offers on the screen up: actions (the keys come from the keymap) and
/// what they do.
fn footer_items(app: &App) -> &'static [(&'static [A], &'static str)] {
    if app.rollout().is_some() && app.view() != View::Node {
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
        match app.view() {
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
            View::Node if app.pane().is_some() => &[
                (&[A::Back], "close pane"),
                (&[A::Up, A::Down], "scroll"),
                (&[A::Help], "help"),
                (&[A::Quit], "quit"),
            ],
            View::Node => &[
                (&[A::Help], "help"),
                (&[A::Back], "back"),
                (&[A::Down, A::Up], "scroll"),
                (&[A::NextNode, A::PrevNode], "next/prev"),
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
                (&[A::Down, A::Up], "scroll"),
                (&[A::SkewView], "fleet"),
                (&[A::Quit], "quit"),
            ],
            View::Plan => &[
                (&[A::PlanView], "fleet"),
                (&[A::Help], "help"),
                (&[A::Down, A::Up], "scroll"),
                (&[A::Quit], "quit"),
            ],
        }
    }
}

/// The footer's items as spans, fitted to `width`: `? help` and `q quit` always stay;
/// the others go from the right until the rest fits. `lead` comes first (a message),
/// cut to make room for the two.
fn footer_keys(app: &App, width: usize, lead: Option<&str>, theme: &Theme) -> Line<'static> {
    let essential = |actions: &[A]| actions.iter().any(|a| matches!(a, A::Help | A::Quit));
    let mut items: Vec<(String, String, bool)> = footer_items(app)
        .iter()
        .flat_map(|item| {
            // Keys come from the keymap, so a rebinding shows here and in `?`.
            app.keymap()
                .footer(std::slice::from_ref(item))
                .into_iter()
                .map(|(k, what)| (k, what.to_string(), essential(item.0)))
        })
        .collect();
    // The operator's own actions (actions.toml), after the built-in keys: the first to
    // go when the footer is narrow.
    if app.view() != View::Plan && app.pane().is_none() {
        items.extend(app.user_actions().iter().map(|u| {
            (
                u.key.to_string(),
                crate::safe_text::clean_capped(&u.action.name, 24),
                false,
            )
        }));
    }
    if lead.is_some() {
        items.retain(|(_, _, keep)| *keep);
    }
    let item_width =
        |(k, what, _): &(String, String, bool)| Line::from(format!("{k} {what}  ")).width();
    let keys_width =
        |items: &[(String, String, bool)]| 1 + items.iter().map(item_width).sum::<usize>();
    while keys_width(&items) > width {
        let Some(at) = items.iter().rposition(|(_, _, keep)| !keep) else {
            break;
        };
        items.remove(at);
    }
    let mut spans = vec![Span::raw(" ")];
    if let Some(m) = lead {
        let room = width.saturating_sub(keys_width(&items) + 2);
        let m = crate::fit::cut(&crate::safe_text::clean(m), room);
        let pad = room.saturating_sub(crate::fit::text_width(&m)) + 2;
        spans.push(Span::styled(m, theme.pending));
        spans.push(Span::raw(" ".repeat(pad)));
    }
    for (k, what, _) in items {
        spans.push(Span::styled(k, theme.key));
        spans.push(Span::styled(format!(" {what}  "), theme.dim));
    }
    Line::from(spans)
}

fn footer(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = if app.filter_editing() {
        Line::from(vec![
            Span::styled(" filter: ", theme.key),
            Span::raw(app.filter().to_string()),
            Span::styled("▏", theme.key),
            Span::styled("  Enter keep · Esc clear", theme.dim),
        ])
    } else {
        // A message (what the last key did) before the keys that always stay.
        footer_keys(app, area.width as usize, app.flash(), theme)
    };
    match app.rollout() {
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
