//! The skew view: per class, what the majority runs and who differs, and why.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::theme::Theme;
use crate::dashboard::App;
use crate::skew::short;

pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
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
    // With a bundle staged: the key that keeps its rollout to these nodes.
    if let Some(d) = &app.rollout
        && !d.machine.settled_plan()
    {
        let n = app.skew_targets().len();
        let which = if app.marked.is_empty() {
            "skewed"
        } else {
            "marked"
        };
        l.push(Line::from(vec![
            Span::styled(
                app.keymap.keys_of(crate::keymap::Action::StageSkewed),
                theme.key,
            ),
            Span::styled(
                format!(
                    "  roll bundle {} out to the {n} {which} node{} only (asks first)",
                    short(&d.skills_sha),
                    if n == 1 { "" } else { "s" }
                ),
                theme.dim,
            ),
        ]));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" version skew ", theme.title));
    f.render_widget(
        Paragraph::new(l).block(block).wrap(Wrap { trim: false }),
        area,
    );
}
