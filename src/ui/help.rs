//! `?`: keys and the legend of glyphs, over whatever is on screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::theme::Theme;
use crate::keymap::KeyMap;

pub fn draw(f: &mut Frame, area: Rect, keymap: &KeyMap, theme: &Theme) {
    let keys = keymap.help();
    let w = 70.min(area.width);
    let h = (keys.len() as u16 + 10).min(area.height);
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

/// The question `q` asks while nodes are in flight: finish them, abort, or cancel.
pub fn quit_question(f: &mut Frame, area: Rect, in_flight: usize, theme: &Theme) {
    let question = format!(" quit with {in_flight} node(s) in flight?");
    let w = 62.min(area.width);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + area.height / 2 - 3.min(area.height / 2),
        width: w,
        height: 6.min(area.height),
    };
    let choice = |key: &'static str, what: &'static str| {
        Line::from(vec![
            Span::styled(format!(" {key}"), theme.key),
            Span::styled(format!(" {what}"), theme.dim),
        ])
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(vec![
            Line::from(Span::raw(question)),
            choice("f", "finish them (start no new node), then quit"),
            choice("a", "abort: put them back (undrain, unlock), then quit"),
            choice("any other key", "cancel"),
        ])
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.error)
                .title(Span::styled(" quit ", theme.error)),
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
