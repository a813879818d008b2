//! The doctor's findings: the rollout's run when there is one, else the last poll's.

use ratatui::text::{Line, Span};

use super::{Ctx, Lines, heading};
use crate::safe_text::{DEFAULT_CAP, clean, clean_lines};
use crate::signals::{Finding, Severity};
use crate::ui::theme::Theme;

/// Seconds after which a doctor run is shown stale.
const STALE_AFTER_S: u64 = 3600;
/// Lines of a fix hint shown.
const HINT_LINES: usize = 20;

pub(super) fn section(l: &mut Lines, c: &Ctx) {
    let theme = c.theme;
    l.push(heading(
        "doctor",
        c.st.doctor.as_ref().map(|d| d.age_s(c.app.now())),
        STALE_AFTER_S,
        theme,
    ));
    // The rollout's doctor run is newer than a poll's when there is one.
    let rollout_doctor = c
        .app
        .rollout()
        .and_then(|d| d.doctor.get(c.i).cloned().flatten())
        .map(Ok);
    match rollout_doctor
        .as_ref()
        .or(c.st.doctor.as_ref().map(|d| &d.value))
    {
        None => l.push(Line::from(Span::styled(
            "  not run yet (d runs it now)",
            theme.dim,
        ))),
        Some(Err(e)) => l.push(Line::from(Span::styled(
            format!("  {}", clean(&e.to_string())),
            theme.error,
        ))),
        Some(Ok(d)) if d.findings.is_empty() => {
            l.push(Line::from(Span::styled("  no findings", theme.ok)))
        }
        Some(Ok(d)) => d.findings.iter().for_each(|fd| finding(l, fd, theme)),
    }
}

/// One finding: severity, check and message, then its fix hint line by line.
fn finding(l: &mut Lines, fd: &Finding, theme: &Theme) {
    let (tag, style) = match fd.severity {
        Severity::Error => ("ERROR", theme.error),
        Severity::Warning => ("WARN ", theme.warn),
        Severity::Info => ("INFO ", theme.dim),
    };
    l.push(Line::from(vec![
        Span::styled(format!("  {tag} "), style),
        Span::raw(format!("{}: {}", clean(&fd.check_id), clean(&fd.message))),
    ]));
    let Some(h) = &fd.fix_hint else { return };
    // Hints come with their own line breaks; keep them.
    for (k, hl) in clean_lines(h, DEFAULT_CAP, HINT_LINES).iter().enumerate() {
        let lead = if k == 0 {
            "        fix: "
        } else {
            "             "
        };
        l.push(Line::from(Span::styled(format!("{lead}{hl}"), theme.dim)));
    }
}
