//! `?`: keys and the legend of glyphs, over whatever is on screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::scroll::At;

use super::theme::Theme;
use crate::keymap::KeyMap;

/// Every marker the screens use, with its word.
pub const LEGEND: &[&str] = &[
    "verdict: ✔ healthy  ◐ draining  ✖ dead  … not polled yet",
    "manifest: = in sync  → X waiting for the rollout (to get bundle X)",
    "  ≠skew other bundle than the class  ✗mism lock names another tree",
    "  ?unv unverified: no lock file, compared by folder name only",
    "  — missing: no bundle where current points",
    "build: ≠ differs from the class  cache: ! stale",
    "gateway: ? the status is stale  header: ? N unverified bundles",
];

/// Draw the help over `area`, scrolled `offset` lines; how far it can scroll. `user`: the
/// operator's own actions (key, description), listed after the built-in keys.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    keymap: &KeyMap,
    user: &[(String, String)],
    theme: &Theme,
    offset: usize,
) -> usize {
    let mut l: Vec<Line<'static>> = keymap
        .help()
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
    for line in LEGEND {
        l.push(Line::from(Span::styled(format!(" {line}"), theme.dim)));
    }
    l.push(Line::from(Span::styled(
        " in the node, skew and plan views the moves scroll; so does the wheel",
        theme.dim,
    )));
    let w = 74.min(area.width);
    let h = (l.len() as u16 + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(" help — ? or Esc closes ", theme.title));
    super::scroll::paragraph(f, r, block, l, offset, At::Bottom, theme)
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

#[cfg(test)]
mod tests {
    use super::LEGEND;

    /// Every marker the table draws is in the legend with its word, and the two kinds
    /// of wait read differently.
    #[test]
    fn every_marker_has_its_word() {
        let text = LEGEND.join("\n");
        for (marker, word) in [
            ("✔", "healthy"),
            ("◐", "draining"),
            ("✖", "dead"),
            ("…", "not polled yet"),
            ("→ X", "waiting for the rollout"),
            ("=", "in sync"),
            ("≠skew", "other bundle"),
            ("✗mism", "lock names another tree"),
            ("?unv", "unverified"),
            ("— missing", "no bundle"),
            ("!", "stale"),
        ] {
            let at = text
                .find(marker)
                .unwrap_or_else(|| panic!("{marker} is not in the legend"));
            let after = &text[at + marker.len()..];
            assert!(
                after.trim_start_matches([' ', ':']).starts_with(word),
                "{marker} is not followed by {word:?}: {after:?}"
            );
        }
    }
}
