//! The skew view: per class, what the majority runs and who differs, and why.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use super::scroll::At;
use super::theme::Theme;
use crate::dashboard::App;
use crate::skew::short;

/// Draw the skew view, scrolled as the state says; how far it can scroll.
pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) -> usize {
    let mut l: Vec<Line> = Vec::new();
    for class in &app.classes {
        let rows: Vec<_> = app.rows.iter().filter(|r| &r.class == class).collect();
        let reference = rows.iter().find_map(|r| r.manifest.reference.clone());
        let skewed: Vec<_> = rows.iter().filter(|r| r.skew.any).collect();
        l.push(Line::from(vec![
            Span::styled(class.to_string(), theme.header),
            Span::styled(
                format!(
                    "  {} nodes · manifest {} · {} skewed",
                    rows.len(),
                    reference.as_deref().map_or("?", short),
                    skewed.len()
                ),
                theme.dim,
            ),
        ]));
        if skewed.is_empty() {
            l.push(Line::from(Span::styled("  ✔ every node agrees", theme.ok)));
        }
        for r in skewed {
            l.push(Line::from(vec![
                Span::styled(format!("  ≠ {:<12}", r.node), theme.warn),
                Span::raw(r.skew.reasons.join("; ")),
            ]));
        }
        l.push(Line::from(""));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" version skew ", theme.title));
    super::scroll::paragraph(f, area, block, l, app.scroll.skew, At::Top, theme)
}
