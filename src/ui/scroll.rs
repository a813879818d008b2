//! Drawing a view that scrolls: the window of its lines at the offset the state keeps
//! (clamped to the last screenful), and an indicator of where the window is.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;

/// Where the indicator goes: the block's top border, or its bottom one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum At {
    Top,
    Bottom,
}

/// `lines of total` and arrows for the directions there is more in: `None` when all
/// of it fits.
pub fn indicator(offset: usize, height: usize, total: usize) -> Option<String> {
    if total <= height {
        return None;
    }
    let up = if offset > 0 { "↑" } else { " " };
    let down = if offset + height < total { "↓" } else { " " };
    Some(format!(
        " {}-{} of {total} {up}{down} ",
        offset + 1,
        (offset + height).min(total)
    ))
}

/// `block` with the indicator on its border.
pub fn with_indicator<'a>(
    block: Block<'a>,
    offset: usize,
    height: usize,
    total: usize,
    at: At,
    theme: &Theme,
) -> Block<'a> {
    let Some(text) = indicator(offset, height, total) else {
        return block;
    };
    let title = Line::from(Span::styled(text, theme.key)).right_aligned();
    match at {
        At::Top => block.title_top(title),
        At::Bottom => block.title_bottom(title),
    }
}

/// Draw `lines`, wrapped, in `block` over `area`, `offset` lines down from the top;
/// the largest offset that still fills the window is returned (for `App::drawn`).
pub fn paragraph(
    f: &mut Frame,
    area: Rect,
    block: Block<'static>,
    lines: Vec<Line<'static>>,
    offset: usize,
    at: At,
    theme: &Theme,
) -> usize {
    let inner = block.inner(area);
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = para.line_count(inner.width);
    let height = inner.height as usize;
    let max = total.saturating_sub(height);
    let offset = offset.min(max);
    let block = with_indicator(block, offset, height, total, at, theme);
    let y = u16::try_from(offset).unwrap_or(u16::MAX);
    f.render_widget(para.block(block).scroll((y, 0)), area);
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_indicator_says_where_the_window_is() {
        assert_eq!(indicator(0, 20, 20), None);
        assert_eq!(indicator(0, 20, 48).as_deref(), Some(" 1-20 of 48  ↓ "));
        assert_eq!(indicator(10, 20, 48).as_deref(), Some(" 11-30 of 48 ↑↓ "));
        assert_eq!(indicator(28, 20, 48).as_deref(), Some(" 29-48 of 48 ↑  "));
    }
}
