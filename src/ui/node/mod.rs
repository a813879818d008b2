//! The node view: every signal of one node with its age, doctor findings, errors.
//!
//! One function per block, in screen order (see [`draw`]): the header here, the
//! rollout in `rollout.rs`, why the verdict and the signals in `signals.rs`, the
//! doctor's findings in `doctor.rs`.

mod doctor;
mod lock;
mod rollout;
mod signals;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use super::scroll::At;
use super::theme::Theme;
use super::{verdict_label, verdict_style};
use crate::dashboard::App;
use crate::inventory::Node;
use crate::inventory::NodeId;
use crate::observe::NodeState;
use crate::report::NodeReport;
use crate::safe_text::Shown;
use crate::verdict::human_age;

/// The lines of the view, built block by block.
type Lines = Vec<Line<'static>>;

/// What every block draws from: the selected node's row, inventory entry and state.
struct Ctx<'a> {
    app: &'a App,
    /// The node.
    i: NodeId,
    row: &'a NodeReport,
    node: &'a Node,
    st: &'a NodeState,
    theme: &'a Theme,
}

/// Draw the selected node's view, scrolled as the state says; how far it can scroll.
pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) -> usize {
    let Some(i) = app.selected_node() else {
        return 0;
    };
    let c = Ctx {
        app,
        i,
        row: &app.rows()[i],
        node: &app.nodes()[i],
        st: &app.states()[i],
        theme,
    };
    let mut l = Lines::new();
    header(&mut l, &c);
    lock::section(&mut l, &c);
    rollout::section(&mut l, &c);
    signals::why(&mut l, &c);
    l.push(Line::from(""));
    signals::gateway(&mut l, &c);
    signals::manifest(&mut l, &c);
    signals::cache(&mut l, &c);
    signals::liveness(&mut l, &c);
    signals::drain_and_disk(&mut l, &c);
    doctor::section(&mut l, &c);
    signals::polls(&mut l, &c);
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" node ", theme.title));
    super::scroll::paragraph(f, area, block, l, app.scroll().node, At::Top, theme)
}

/// Who the node is and its verdict, then every way it differs from its class.
fn header(l: &mut Lines, c: &Ctx) {
    let (r, theme) = (c.row, c.theme);
    l.push(Line::from(vec![
        Span::styled(format!(" {} ", r.node), theme.title),
        Span::styled(format!(" {}  {}  ", r.class, r.destination), theme.dim),
    ]));
    let last = l.len() - 1;
    if r.polled {
        l[last].spans.extend([
            Span::styled(verdict_label(r.verdict), verdict_style(r.verdict, theme)),
            Span::styled(format!("  {}", r.reason), verdict_style(r.verdict, theme)),
        ]);
    } else {
        l[last]
            .spans
            .push(Span::styled("… not polled yet", theme.pending));
    }
    for s in &r.skew.reasons {
        l.push(Line::from(Span::styled(format!("  ≠ {s}"), theme.warn)));
    }
}

fn age(a: Option<u64>) -> String {
    a.map_or("never".into(), |a| format!("{} ago", human_age(a)))
}

/// `-` for a value the node did not report.
fn none() -> String {
    "-".to_string()
}

/// One `key  value` line of a block.
fn kv(key: &str, val: Shown, style: Style, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {key:<18}"), theme.dim),
        Span::styled(val, style),
    ])
}

/// A block's heading with the age of what it shows, marked STALE past `stale_after`.
fn heading(name: &str, when: Option<u64>, stale_after: u64, theme: &Theme) -> Line<'static> {
    let stale = when.is_some_and(|a| a > stale_after);
    let mut spans = vec![Span::styled(name.to_string(), theme.header)];
    spans.push(Span::styled(
        format!("  ({})", age(when)),
        if stale { theme.stale } else { theme.dim },
    ));
    if stale {
        spans.push(Span::styled("  STALE", theme.warn));
    }
    Line::from(spans)
}
