//! The fleet table: one row per node, the class tabs above it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::theme::Theme;
use super::{pending, verdict_label, verdict_style};
use crate::dashboard::App;
use crate::dashboard::layout::window_start;
use crate::fit::Column;
use crate::inventory::NodeId;
use crate::report::reason::{self, Tone};
use crate::report::{GatewayKind, NodeReport};
use crate::rollout::NodeRun;
use crate::rollout::machine::MAX_ATTEMPTS;
use crate::skew::ManifestState;
use crate::verdict::human_age;

pub use crate::report::reason::DISK_PRESSURE_PCT;

pub fn tabs(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::raw(" ")];
    let names = std::iter::once("all".to_string()).chain(app.classes().iter().cloned());
    for (i, name) in names.enumerate() {
        let n = app.tab_len(i);
        let label = format!(" {i}:{name} ({n}) ");
        spans.push(if i == app.class_tab() {
            Span::styled(label, theme.highlight)
        } else {
            Span::styled(label, theme.dim)
        });
    }
    spans.push(Span::styled(
        format!("  sort: {}", app.sort().label()),
        theme.dim,
    ));
    if !app.filter().is_empty() && !app.filter_editing() {
        spans.push(Span::styled(
            format!("  filter: {}", app.filter()),
            theme.key,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The part of a build id that tells builds apart: `2026.9.6-release-eb377ac59e6c-...`
/// -> `eb377ac5`.
pub fn build_tag(b: &str) -> String {
    let parts: Vec<&str> = b.split('-').collect();
    let tag = if parts.len() >= 3 && parts[1] == "release" {
        parts[2]
    } else {
        b
    };
    tag.chars().take(8).collect()
}

/// The gateway column's text for a gateway that is not ready.
fn gateway_glyph(kind: GatewayKind) -> &'static str {
    match kind {
        GatewayKind::Unknown => "? unknown",
        GatewayKind::Unreachable => "✖ unreach",
        GatewayKind::AuthRejected => "✖ auth",
        GatewayKind::TimedOut => "✖ timeout",
        GatewayKind::TooLarge => "✖ too big",
        GatewayKind::Unparseable => "✖ garbled",
        GatewayKind::NotReady | GatewayKind::Ready => "✖ not rdy",
    }
}

fn gateway_cell(r: &NodeReport, theme: &Theme, pending: bool) -> Cell<'static> {
    if pending {
        return Cell::from(Span::styled("… polling", theme.pending));
    }
    let stale = r.gateway.stale;
    let (text, style) = if r.gateway.ready {
        ("✔ ready".to_string(), theme.ok)
    } else {
        (gateway_glyph(r.gateway.kind).to_string(), theme.error)
    };
    if stale {
        Cell::from(Span::styled(format!("{text}?"), theme.stale))
    } else {
        Cell::from(Span::styled(text, style))
    }
}

fn manifest_cell(r: &NodeReport, theme: &Theme) -> Cell<'static> {
    let sha: String = r
        .manifest
        .sha
        .as_deref()
        .unwrap_or("")
        .chars()
        .take(8)
        .collect();
    let (text, style) = match r.manifest.state {
        None => ("?".to_string(), theme.pending),
        Some(ManifestState::Missing) => ("— missing".to_string(), theme.error),
        Some(ManifestState::Mismatch) => (format!("{sha} ✗mism"), theme.error),
        Some(ManifestState::Skew) => (format!("{sha} ≠skew"), theme.warn),
        // Waiting for the rollout: the bundle it will get, not an error.
        Some(ManifestState::Waiting) => (
            format!(
                "→ {}",
                r.manifest
                    .reference
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(8)
                    .collect::<String>()
            ),
            theme.pending,
        ),
        Some(ManifestState::InSync) if r.manifest.unverified => (format!("{sha} ?unv"), theme.warn),
        Some(ManifestState::InSync) => (format!("{sha} ="), theme.ok),
    };
    Cell::from(Span::styled(text, style))
}

fn build_cell(r: &NodeReport, theme: &Theme) -> Cell<'static> {
    match &r.gateway.build_id {
        None => Cell::from(Span::styled("-", theme.dim)),
        Some(b) if r.skew.build || r.skew.versions => {
            Cell::from(Span::styled(format!("{}≠", build_tag(b)), theme.warn))
        }
        Some(b) => Cell::from(Span::raw(build_tag(b))),
    }
}

fn cache_cell(r: &NodeReport, theme: &Theme) -> Cell<'static> {
    match r.cache.age_s {
        None if r.manifest.state.is_none() => Cell::from(Span::styled("?", theme.pending)),
        None => Cell::from(Span::styled("cold", theme.warn)),
        Some(a) if r.cache.stale => {
            Cell::from(Span::styled(format!("{}!", human_age(a)), theme.warn))
        }
        Some(a) => Cell::from(Span::raw(human_age(a))),
    }
}

/// The node's rollout phase or outcome.
fn phase_cell(app: &App, i: NodeId, theme: &Theme) -> Cell<'static> {
    let Some(d) = app.rollout() else {
        return Cell::from("");
    };
    if d.machine.plan.locate(i).is_none() {
        return Cell::from(Span::styled("-", theme.dim));
    }
    let run = &d.machine.nodes[i].run;
    let style = match run {
        NodeRun::Landed => theme.ok,
        NodeRun::Failed { .. } => theme.error,
        NodeRun::Retrying { .. } => theme.warn,
        NodeRun::Active { .. } => theme.pending,
        _ => theme.dim,
    };
    Cell::from(Span::styled(run.label(), style))
}

/// Attempt n/5 and the countdown to the next try.
fn retry_cell(app: &App, i: NodeId, theme: &Theme) -> Cell<'static> {
    let Some(d) = app.rollout() else {
        return Cell::from("");
    };
    match &d.machine.nodes[i].run {
        NodeRun::Retrying { attempt, at, .. } => {
            let left = at.saturating_sub(app.now()).div_ceil(1000);
            Cell::from(Span::styled(
                format!("{attempt}/{MAX_ATTEMPTS} in {left}s"),
                theme.warn,
            ))
        }
        NodeRun::Active { attempt, .. } if *attempt > 1 => Cell::from(Span::styled(
            format!("{attempt}/{MAX_ATTEMPTS}"),
            theme.warn,
        )),
        _ => Cell::from(""),
    }
}

/// The rollout's last error for a node that is retrying or failed.
fn rollout_error(app: &App, i: NodeId, theme: &Theme) -> Option<Cell<'static>> {
    let d = app.rollout()?;
    let slot = &d.machine.nodes[i];
    match &slot.run {
        NodeRun::Retrying { error, .. } => Some(Cell::from(Span::styled(
            crate::safe_text::clean(error),
            theme.warn,
        ))),
        NodeRun::Failed { error, .. } => Some(Cell::from(Span::styled(
            crate::safe_text::clean(error.message()),
            theme.error,
        ))),
        _ => None,
    }
}

/// The REASON column (one rule with `status`: [`crate::report::reason`]).
fn reason_cell(r: &NodeReport, theme: &Theme) -> Cell<'static> {
    match reason::reason(r) {
        Some((text, tone)) => Cell::from(Span::styled(
            text,
            match tone {
                Tone::Error => theme.error,
                Tone::Warn => theme.warn,
                Tone::Dim => theme.dim,
            },
        )),
        None => Cell::from(""),
    }
}

/// The columns shown: the lock column (the 10th) only while a node is locked, the
/// rollout's two (phase, retry: 8th and 9th) only with a rollout.
fn columns<T>(rolling: bool, locked: bool, mut v: Vec<T>) -> Vec<T> {
    if !locked && v.len() > 10 {
        v.remove(9);
    }
    if !rolling && v.len() > 8 {
        v.drain(7..9);
    }
    v
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // Only the rows that fit are built: a frame costs the screen, not the fleet.
    let (visible, selected, total) = window(app, area.height.saturating_sub(1) as usize);
    let rolling = app.rollout().is_some();
    // Narrow terminals drop and narrow columns by priority (`specs`); the selection
    // marker takes one column.
    let locked = app.counts().locked > 0;
    let fitted = crate::fit::widths(
        &columns(rolling, locked, specs(app).to_vec()),
        area.width.saturating_sub(1) as usize,
        1,
    );
    let keep = |v: Vec<Cell<'static>>| -> Vec<Cell<'static>> {
        columns(rolling, locked, v)
            .into_iter()
            .zip(&fitted)
            .filter_map(|(c, w)| w.map(|_| c))
            .collect()
    };
    let header = Row::new(keep(HEADERS.map(Cell::from).into_iter().collect())).style(theme.header);
    let rows: Vec<Row> = visible
        .iter()
        .map(|&i| Row::new(keep(cells(app, i, theme))))
        .collect();
    let widths: Vec<Constraint> = fitted
        .iter()
        .flatten()
        .map(|&w| Constraint::Length(w.min(u16::MAX as usize) as u16))
        .collect();
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme.highlight)
        .highlight_symbol("▶")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let empty = total == 0;
    let mut state = TableState::default().with_selected(if empty { None } else { Some(selected) });
    f.render_stateful_widget(table, area, &mut state);
    if empty && area.height > 2 {
        let msg = Paragraph::new(Line::from(Span::styled(
            "  no node matches (Esc clears the filter)",
            Style::default().patch(theme.dim),
        )));
        let under_header = Rect {
            y: area.y + 1,
            height: 1,
            ..area
        };
        f.render_widget(msg, under_header);
    }
}

/// Every column's title, in order (`columns` drops the rollout's two when none is
/// staged and LOCK while no node is locked; the width drops more, see [`specs`]).
const HEADERS: [&str; 11] = [
    "NODE", "CLASS", "GATEWAY", "BUILD", "MANIFEST", "CACHE", "VERDICT", "PHASE", "RETRY", "LOCK",
    "REASON",
];

/// The nodes on screen for a table body `height` rows high, the selection's position
/// among them, and how many rows the whole table has.
fn window(app: &App, height: usize) -> (Vec<NodeId>, usize, usize) {
    app.with_visible(|all| {
        let selected = app.cursor().min(all.len().saturating_sub(1));
        // The state keeps its offset for this height; a height it does not know yet
        // (no resize seen) still gets the selection in the window.
        let start = window_start(app.window_top(), selected, height, all.len());
        let end = (start + height).min(all.len());
        (
            all[start..end].to_vec(),
            selected - start.min(selected),
            all.len(),
        )
    })
}

/// Node `i`'s cells, one per entry of [`HEADERS`].
fn cells(app: &App, i: NodeId, theme: &Theme) -> Vec<Cell<'static>> {
    let r = &app.rows()[i];
    let p = pending(app, i);
    let verdict = if p {
        Cell::from(Span::styled("… not polled", theme.pending))
    } else {
        Cell::from(Span::styled(
            verdict_label(r.verdict),
            verdict_style(r.verdict, theme),
        ))
    };
    vec![
        super::marks::node_cell(app, i, r, theme),
        Cell::from(Span::styled(r.class.clone(), theme.dim)),
        gateway_cell(r, theme, p),
        build_cell(r, theme),
        manifest_cell(r, theme),
        cache_cell(r, theme),
        verdict,
        phase_cell(app, i, theme),
        retry_cell(app, i, theme),
        super::locks::cell(r, theme),
        rollout_error(app, i, theme).unwrap_or_else(|| reason_cell(r, theme)),
    ]
}

/// How each column of [`HEADERS`] fits a narrow screen (see [`crate::fit`]): CLASS
/// goes first (the class tabs say it), then BUILD (its skew is in the last column),
/// CACHE, RETRY, GATEWAY, MANIFEST and PHASE; NODE, VERDICT and the last column (the
/// error, free text) go last. Names and classes are as wide as the fleet's longest
/// (within limits).
fn specs(app: &App) -> [Column; 11] {
    let (name_w, class_w) = app.name_widths();
    // The mark glyph goes before the name while any node is marked.
    let name_w = name_w.clamp(4, 24) + super::marks::prefix_width(app) as usize;
    HEADERS.map(|title| match title {
        "NODE" => Column::fixed(name_w, 100),
        "CLASS" => Column::fixed(class_w.clamp(5, 12), 10),
        "GATEWAY" => Column::fixed(9, 50),
        "BUILD" => Column::fixed(9, 30),
        // `4b825dc6 ≠` still says skew when `≠skew` is cut.
        "MANIFEST" => Column::between(10, 14, 60),
        "CACHE" => Column::fixed(6, 40),
        "VERDICT" => Column::fixed(12, 90),
        // `prewarm (retry)`, `failed at baseline`.
        "PHASE" => Column::between(16, 18, 70),
        // `2/5 in 12s`.
        "RETRY" => Column::between(9, 10, 45),
        "LOCK" => Column::fixed(super::locks::WIDTH as usize, 85),
        _ => Column::fill(24, u16::MAX as usize, 80),
    })
}

#[cfg(test)]
mod glyph_tests {
    use super::*;
    use crate::signals::GatewayState;

    /// The glyph picked by kind is the one the label text used to pick, for every state
    /// (details that look like another state's label included).
    #[test]
    fn glyph_by_kind_matches_the_old_label_matching() {
        fn by_label(s: &str) -> &'static str {
            match s {
                "unknown" => "? unknown",
                "unreachable" => "✖ unreach",
                s if s.starts_with("auth rejected") => "✖ auth",
                "status timed out" => "✖ timeout",
                "status output too large" => "✖ too big",
                s if s.starts_with("unparseable") => "✖ garbled",
                _ => "✖ not rdy",
            }
        }
        let states = [
            GatewayState::Unreachable,
            GatewayState::AuthRejected(String::new()),
            GatewayState::AuthRejected("token mismatch".into()),
            GatewayState::NotReady("warming up".into()),
            GatewayState::NotReady(String::new()),
            GatewayState::Unparseable("not JSON".into()),
            GatewayState::TooLarge,
            GatewayState::TimedOut,
        ];
        for s in &states {
            assert_eq!(
                gateway_glyph(GatewayKind::from(s)),
                by_label(&s.label()),
                "{s:?}"
            );
        }
        assert_eq!(gateway_glyph(GatewayKind::Unknown), by_label("unknown"));
    }
}
