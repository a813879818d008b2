//! How marks show: a glyph before the node's name (never colour alone) and the count in
//! the title bar. Without marks the table keeps its width.

use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::theme::Theme;
use crate::dashboard::App;
use crate::inventory::NodeId;
use crate::report::NodeReport;

/// The glyph of a marked row.
pub const MARK_GLYPH: &str = "◆";

/// Columns the mark prefix takes in the NODE column: none while nothing is marked.
pub fn prefix_width(app: &App) -> u16 {
    if app.marked().is_empty() { 0 } else { 2 }
}

/// The NODE cell: the name, after the mark glyph (or its blank) while marks exist.
pub fn node_cell(app: &App, i: NodeId, r: &NodeReport, theme: &Theme) -> Cell<'static> {
    if app.marked().is_empty() {
        return Cell::from(r.node.clone());
    }
    if app.is_marked(i) {
        Cell::from(ratatui::text::Line::from(vec![
            Span::styled(format!("{MARK_GLYPH} "), theme.key),
            Span::raw(r.node.clone()),
        ]))
    } else {
        Cell::from(format!("  {}", r.node))
    }
}
