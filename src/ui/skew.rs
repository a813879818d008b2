//! The skew view: per class (in tab order), what the class is held to, the nodes that
//! differ grouped by what differs (the smallest group, the minority, first), the
//! signals with no majority in the class, and how many bundles are unverified.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use super::scroll::At;
use super::theme::Theme;
use crate::dashboard::App;
use crate::report::NodeReport;
use crate::skew::{self, Diff, short};

/// The view's lines (drawn by [`draw`]; a function of the rows alone).
pub fn lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let mut l: Vec<Line> = Vec::new();
    for class in app.classes() {
        let rows: Vec<&NodeReport> = app.rows().iter().filter(|r| &r.class == class).collect();
        class_lines(&mut l, class, &rows, theme);
        l.push(Line::from(""));
    }
    // With a bundle staged: the key that keeps its rollout to these nodes.
    if let Some(d) = app.rollout()
        && !d.machine.settled_plan()
    {
        let n = app.skew_targets().len();
        let which = if app.marked().is_empty() {
            "skewed"
        } else {
            "marked"
        };
        l.push(Line::from(vec![
            Span::styled(
                app.keymap().keys_of(crate::keymap::Action::StageSkewed),
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
    l
}

fn class_lines(l: &mut Vec<Line<'static>>, class: &str, rows: &[&NodeReport], theme: &Theme) {
    let reference = rows.iter().find_map(|r| r.manifest.reference.clone());
    let skewed = rows.iter().filter(|r| r.skew.any).count();
    let unverified = rows.iter().filter(|r| r.manifest.unverified).count();
    let mut head = format!(
        "  {} nodes · bundle {} · {} skewed",
        rows.len(),
        reference.as_deref().map_or("?", short),
        skewed
    );
    if unverified > 0 {
        head.push_str(&format!(" · {unverified} unverified (no lock file)"));
    }
    l.push(Line::from(vec![
        Span::styled(class.to_string(), theme.header),
        Span::styled(head, theme.dim),
    ]));
    let no_majority: Vec<&str> = rows
        .iter()
        .find(|r| !r.skew.no_majority.is_empty())
        .map(|r| r.skew.no_majority.iter().map(|s| s.as_str()).collect())
        .unwrap_or_default();
    if !no_majority.is_empty() {
        l.push(Line::from(Span::styled(
            format!(
                "  ~ the class has no majority {}: not judged",
                no_majority.join(", no majority ")
            ),
            theme.pending,
        )));
    }
    let diffs: Vec<&[Diff]> = rows.iter().map(|r| r.skew.diffs.as_slice()).collect();
    let groups = skew::groups(&diffs);
    if groups.is_empty() {
        l.push(Line::from(Span::styled("  ✔ every node agrees", theme.ok)));
    }
    for g in groups {
        let n = g.nodes.len();
        l.push(Line::from(vec![
            Span::styled(
                format!("  ≠ {n} node{} ", if n == 1 { "" } else { "s" }),
                theme.warn,
            ),
            Span::raw(skew::describe(g.diffs)),
        ]));
        let mut names: Vec<&str> = g.nodes.iter().map(|&i| rows[i].node.as_str()).collect();
        names.sort_unstable();
        l.push(Line::from(Span::styled(
            format!("      {}", names.join(" ")),
            theme.dim,
        )));
    }
}

/// Draw the skew view, scrolled as the state says; how far it can scroll.
pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) -> usize {
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" version skew ", theme.title));
    super::scroll::paragraph(
        f,
        area,
        block,
        lines(app, theme),
        app.scroll().skew,
        At::Top,
        theme,
    )
}
