//! The node view: every signal of one node with its age, doctor findings, errors.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::theme::Theme;
use super::{verdict_label, verdict_style};
use crate::dashboard::App;
use crate::safe_text::{DEFAULT_CAP, clean, clean_capped, clean_lines};
use crate::signals::Severity;
use crate::verdict::human_age;

fn age(a: Option<u64>) -> String {
    a.map_or("never".into(), |a| format!("{} ago", human_age(a)))
}

fn kv(key: &str, val: String, style: Style, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {key:<18}"), theme.dim),
        Span::styled(val, style),
    ])
}

fn section(name: &str, when: Option<u64>, stale_after: u64, theme: &Theme) -> Line<'static> {
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

pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(i) = app.selected_node() else {
        return;
    };
    let (r, node, st) = (&app.rows[i], &app.nodes[i], &app.states[i]);
    let none = || "-".to_string();
    let mut l: Vec<Line> = Vec::new();
    l.push(Line::from(vec![
        Span::styled(format!(" {} ", r.node), theme.title),
        Span::styled(format!(" {}  {}  ", r.class, r.destination), theme.dim),
        Span::styled(verdict_label(r.verdict), verdict_style(r.verdict, theme)),
        Span::styled(format!("  {}", r.reason), verdict_style(r.verdict, theme)),
    ]));
    if !r.skew.reasons.is_empty() {
        for s in &r.skew.reasons {
            l.push(Line::from(Span::styled(format!("  ≠ {s}"), theme.warn)));
        }
    }
    rollout_section(&mut l, app, i, theme);
    why_section(&mut l, app, i, theme);
    l.push(Line::from(""));
    let g = &r.gateway;
    l.push(section(
        "gateway",
        g.age_s,
        app.rules.gateway_stale_after_s,
        theme,
    ));
    l.push(kv(
        "state",
        g.state.clone(),
        if g.ready { theme.ok } else { theme.error },
        theme,
    ));
    l.push(kv(
        "build",
        g.build_id.clone().unwrap_or_else(none),
        Style::default(),
        theme,
    ));
    l.push(kv(
        "cli / daemon",
        format!(
            "{} / {}",
            g.cli_version.clone().unwrap_or_else(none),
            g.daemon_version.clone().unwrap_or_else(none)
        ),
        if r.skew.versions {
            theme.warn
        } else {
            Style::default()
        },
        theme,
    ));
    l.push(kv(
        "bind",
        g.bind.clone().unwrap_or_else(none),
        Style::default(),
        theme,
    ));
    if let Some(listeners) = st.gateway.as_ref().map(|g| g.value.listeners.join(", ")) {
        l.push(kv(
            "listeners",
            if listeners.is_empty() {
                none()
            } else {
                listeners
            },
            Style::default(),
            theme,
        ));
    }
    if let Some(e) = &g.error {
        l.push(kv("rpc error", e.clone(), theme.error, theme));
    }
    let m = &r.manifest;
    l.push(section(
        "manifest",
        m.age_s,
        app.rules.poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "current",
        m.sha.clone().unwrap_or_else(|| "(none)".into()),
        Style::default(),
        theme,
    ));
    l.push(kv(
        "state",
        format!(
            "{}{}",
            m.state.map_or("?", |s| s.as_str()),
            if m.unverified {
                " (unverified: no lock file)"
            } else {
                ""
            }
        ),
        match m.state {
            Some(crate::skew::ManifestState::InSync) if !m.unverified => theme.ok,
            Some(crate::skew::ManifestState::Pending) => theme.pending,
            Some(crate::skew::ManifestState::InSync) | Some(crate::skew::ManifestState::Skew) => {
                theme.warn
            }
            _ => theme.error,
        },
        theme,
    ));
    l.push(kv(
        "lock sha256",
        m.lock_sha256.clone().unwrap_or_else(none),
        Style::default(),
        theme,
    ));
    l.push(kv(
        "compared with",
        m.reference.clone().unwrap_or_else(none),
        theme.dim,
        theme,
    ));
    l.push(section(
        "cache",
        st.cache.as_ref().map(|c| c.age_s(app.now)),
        app.rules.poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "skill-cache-ready",
        r.cache
            .age_s
            .map_or("missing (cold)".into(), |a| format!("{} old", human_age(a))),
        if r.cache.stale { theme.warn } else { theme.ok },
        theme,
    ));
    l.push(section(
        "liveness",
        r.live.age_s,
        app.rules.poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        &node.layout.healthz_url.chars().take(16).collect::<String>(),
        st.live.as_ref().map_or("-".into(), |x| x.value.describe()),
        if r.live.ok { theme.ok } else { theme.error },
        theme,
    ));
    // The gateway's /readyz, when the layout checks it and a poll has seen it.
    if let (Some(z), Some(x)) = (&r.gateway.readyz, st.readyz.as_ref()) {
        l.push(kv(
            "gateway readyz",
            format!("{} ({} ago)", x.value.describe(), human_age(z.age_s)),
            if z.ok { theme.ok } else { theme.error },
            theme,
        ));
    }
    l.push(section(
        "drain & disk",
        st.drained.as_ref().map(|d| d.age_s(app.now)),
        app.rules.poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "drained",
        r.drained.to_string(),
        if r.drained { theme.warn } else { theme.ok },
        theme,
    ));
    match (&r.disk, st.disk.as_ref().map(|d| &d.value)) {
        (Some(d), _) => l.push(kv(
            "disk",
            format!(
                "{} GiB free, {}% used, inodes {}",
                d.avail_kb / (1024 * 1024),
                d.used_pct,
                d.inodes_used_pct
                    .map_or("?".into(), |p| format!("{p}% used"))
            ),
            if d.used_pct >= super::fleet::DISK_PRESSURE_PCT {
                theme.warn
            } else {
                Style::default()
            },
            theme,
        )),
        (None, Some(Err(e))) => l.push(kv("disk", e.clone(), theme.error, theme)),
        _ => {}
    }
    l.push(section(
        "doctor",
        st.doctor.as_ref().map(|d| d.age_s(app.now)),
        3600,
        theme,
    ));
    // The rollout's doctor run is newer than a poll's when there is one.
    let rollout_doctor = app
        .rollout
        .as_ref()
        .and_then(|d| d.doctor.get(i).cloned().flatten())
        .map(Ok);
    match rollout_doctor
        .as_ref()
        .or(st.doctor.as_ref().map(|d| &d.value))
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
        Some(Ok(d)) => {
            for fd in &d.findings {
                let (tag, style) = match fd.severity {
                    Severity::Error => ("ERROR", theme.error),
                    Severity::Warning => ("WARN ", theme.warn),
                    Severity::Info => ("INFO ", theme.dim),
                };
                l.push(Line::from(vec![
                    Span::styled(format!("  {tag} "), style),
                    Span::raw(format!("{}: {}", clean(&fd.check_id), clean(&fd.message))),
                ]));
                if let Some(h) = &fd.fix_hint {
                    // Hints come with their own line breaks; keep them.
                    for (k, hl) in clean_lines(h, DEFAULT_CAP, 20).iter().enumerate() {
                        let lead = if k == 0 {
                            "        fix: "
                        } else {
                            "             "
                        };
                        l.push(Line::from(Span::styled(format!("{lead}{hl}"), theme.dim)));
                    }
                }
            }
        }
    }
    l.push(section(
        "polls",
        st.last_ok.map(|t| app.now.saturating_sub(t) / 1000),
        app.rules.poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "ok / failed",
        format!("{} / {}", st.polls_ok, st.polls_failed),
        Style::default(),
        theme,
    ));
    if let Some(e) = &st.last_error {
        l.push(kv(
            "last error",
            format!("{} ({})", clean(&e.value), age(Some(e.age_s(app.now)))),
            theme.error,
            theme,
        ));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" node ", theme.title));
    f.render_widget(
        Paragraph::new(l).block(block).wrap(Wrap { trim: false }),
        area,
    );
}

/// The node's rollout: where it is, every attempt, the live output of the running step.
fn rollout_section(l: &mut Vec<Line<'static>>, app: &App, i: usize, theme: &Theme) {
    let Some(d) = &app.rollout else { return };
    if d.machine.plan.locate(i).is_none() {
        return;
    }
    let slot = &d.machine.nodes[i];
    l.push(Line::from(""));
    let mut head = vec![
        Span::styled("rollout", theme.header),
        Span::styled(format!("  {}", slot.run.label()), theme.pending),
    ];
    if let crate::rollout::NodeRun::Retrying {
        attempt, at, error, ..
    } = &slot.run
    {
        head.push(Span::styled(
            format!(
                "  attempt {attempt}/{} in {}s — {error}",
                crate::rollout::machine::MAX_ATTEMPTS,
                at.saturating_sub(app.now).div_ceil(1000),
                error = clean(error),
            ),
            theme.warn,
        ));
    }
    l.push(Line::from(head));
    for a in slot.history.iter().rev().take(12).rev() {
        let took = a.ended.map_or("running".to_string(), |e| {
            format!("{:.1}s", e.saturating_sub(a.started) as f64 / 1000.0)
        });
        let (what, style) = match &a.outcome {
            None => ("…".to_string(), theme.pending),
            Some(Ok(n)) => (format!("ok {}", clean_capped(n, 60)), theme.ok),
            Some(Err(f)) => (format!("failed: {}", clean(f.message())), theme.error),
        };
        l.push(Line::from(vec![
            Span::styled(
                format!("  {:<9} #{} {:>8}  ", a.phase.name(), a.attempt, took),
                theme.dim,
            ),
            Span::styled(what, style),
        ]));
    }
    if let Some(out) = d.output.get(i).filter(|o| !o.is_empty()) {
        l.push(Line::from(Span::styled("  output:", theme.dim)));
        for line in out.iter().rev().take(8).rev() {
            l.push(Line::from(Span::raw(format!("    {}", clean(line)))));
        }
    }
}

/// Why this verdict: every signal of the merged probe with its value, limit, age and
/// pass/fail; the one that decided the verdict is marked.
fn why_section(l: &mut Vec<Line<'static>>, app: &App, i: usize, theme: &Theme) {
    let (Some(node), Some(st)) = (app.nodes.get(i), app.states.get(i)) else {
        return;
    };
    let rules = crate::report::rules_for(node, &app.rules);
    l.push(Line::from(""));
    l.push(Line::from(Span::styled("why this verdict", theme.header)));
    for c in crate::verdict::explain(st, app.now, &rules) {
        let (glyph, style) = match c.pass {
            Some(true) => ("✔", theme.ok),
            Some(false) if c.decides => ("✖", theme.error),
            Some(false) => ("✖", theme.warn),
            None => ("?", theme.pending),
        };
        l.push(Line::from(vec![
            Span::styled(format!("  {glyph} "), style),
            Span::styled(c.line(), if c.decides { style } else { Style::default() }),
        ]));
    }
}
