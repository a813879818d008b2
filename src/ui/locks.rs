//! How a node lock shows in the fleet table: a LOCK column (glyph and word: `⚿ locked`,
//! `⚿ stale`, never colour alone), present while any node is locked; the title bar
//! counts the locked nodes.

use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::theme::Theme;
use crate::node_lock::LockRow;
use crate::report::NodeReport;

/// The glyph of a locked node.
pub const LOCK_GLYPH: &str = "⚿";

/// Width of the LOCK column: `⚿ locked`.
pub const WIDTH: u16 = 8;

pub fn lock_style(lock: &LockRow, theme: &Theme) -> Style {
    if lock.stale {
        theme.warn
    } else {
        theme.pending
    }
}

/// The LOCK cell of a row: empty when the node is not locked.
pub fn cell(r: &NodeReport, theme: &Theme) -> Cell<'static> {
    match &r.lock {
        None => Cell::from(""),
        Some(l) => Cell::from(Span::styled(
            format!("{LOCK_GLYPH} {}", l.word()),
            lock_style(l, theme),
        )),
    }
}

/// `⚿ N locked` for the title bar, when any node is locked.
pub fn header_spans(locked: usize, theme: &Theme) -> Vec<Span<'static>> {
    if locked == 0 {
        return Vec::new();
    }
    vec![
        Span::raw("  "),
        Span::styled(format!("{LOCK_GLYPH} {locked} locked"), theme.pending),
    ]
}
