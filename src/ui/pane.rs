//! The output pane of the node view: an action's output or a followed gateway log,
//! the newest lines at the bottom (scrolled with ↑/↓ while it is open, closed with Esc).
//! Every line was cleaned by `crate::actions::run` before it got here.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::theme::Theme;
use crate::dashboard::actions::Pane;

/// Rows of the screen the pane takes in the node view: its lower part.
pub fn split(area: Rect) -> (Rect, Rect) {
    let pane_h = (area.height / 2).max(3).min(area.height);
    let top = Rect {
        height: area.height - pane_h,
        ..area
    };
    let pane = Rect {
        y: area.y + area.height - pane_h,
        height: pane_h,
        ..area
    };
    (top, pane)
}

pub fn draw(f: &mut Frame, area: Rect, pane: &Pane, theme: &Theme) {
    let inner_h = area.height.saturating_sub(2) as usize;
    let n = pane.lines.len();
    let end = n.saturating_sub(pane.scroll);
    let start = end.saturating_sub(inner_h);
    let lines: Vec<Line> = pane
        .lines
        .iter()
        .skip(start)
        .take(end - start)
        .map(|l| Line::from(Span::raw(l.clone())))
        .collect();
    let state = if pane.running { "running" } else { "done" };
    let scrolled = if pane.scroll > 0 {
        format!(" · {} line(s) below", pane.scroll)
    } else {
        String::new()
    };
    let title = format!(
        " {} · {state}{scrolled} · ↑/↓ scroll · Esc close ",
        pane.title
    );
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border)
                .title(Span::styled(title, theme.title)),
        ),
        area,
    );
}
