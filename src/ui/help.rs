//! `?`: keys and the legend of glyphs, over whatever is on screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::theme::Theme;
use crate::keymap::KeyMap;

/// `user`: the operator's own actions (key, description), listed after the built-in keys.
pub fn draw(f: &mut Frame, area: Rect, keymap: &KeyMap, user: &[(String, String)], theme: &Theme) {
    let keys = keymap.help();
    let w = 70.min(area.width);
    let extra = if user.is_empty() { 0 } else { user.len() + 1 };
    let h = (keys.len() as u16 + 10 + extra as u16).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut l: Vec<Line> = keys
        .into_iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), theme.key),
                Span::raw(what),
            ])
        })
        .collect();
    if !user.is_empty() {
        l.push(Line::from(Span::styled(
            " your actions (actions.toml)",
            theme.header,
        )));
        for (k, what) in user {
            l.push(Line::from(vec![
                Span::styled(format!(" {k:<16}"), theme.key),
                Span::raw(what.clone()),
            ]));
        }
    }
    l.push(Line::from(""));
    l.push(Line::from(vec![
        Span::styled(" ✔ healthy ", theme.ok),
        Span::styled("◐ draining ", theme.warn),
        Span::styled("✖ dead ", theme.error),
        Span::styled("… pending", theme.pending),
    ]));
    l.push(Line::from(Span::styled(
        " manifest: = in sync  → X pending  ≠ skew  ✗ mismatch  ?unv",
        theme.dim,
    )));
    l.push(Line::from(Span::styled(
        " cache: ! stale · gateway ? = status is stale",
        theme.dim,
    )));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(l).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(" help — ? or Esc closes ", theme.title)),
        ),
        r,
    );
}

/// A yes/no question over the screen for a dangerous command.
pub fn confirm(f: &mut Frame, area: Rect, question: &str, theme: &Theme) {
    let w = (question.chars().count() as u16 + 6).clamp(30, area.width);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + area.height / 2 - 2.min(area.height / 2),
        width: w,
        height: 4.min(area.height),
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(vec![
            Line::from(Span::raw(format!(" {question}"))),
            Line::from(vec![
                Span::styled(" y", theme.key),
                Span::styled(" yes   ", theme.dim),
                Span::styled("any other key", theme.key),
                Span::styled(" no", theme.dim),
            ]),
        ])
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.error)
                .title(Span::styled(" confirm ", theme.error)),
        ),
        r,
    );
}
