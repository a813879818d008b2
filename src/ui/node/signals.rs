//! Why the verdict, then the signals block by block, each with the age of its probe.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::{Ctx, Lines, age, heading, kv, none};
use crate::safe_text::{Shown, clean};
use crate::skew::ManifestState;
use crate::verdict::human_age;

/// Why this verdict: every signal of the merged probe with its value, limit, age and
/// pass/fail; the one that decided the verdict is marked.
pub(super) fn why(l: &mut Lines, c: &Ctx) {
    let theme = c.theme;
    let rules = crate::report::rules_for(c.node, c.app.rules());
    l.push(Line::from(""));
    l.push(Line::from(Span::styled("why this verdict", theme.header)));
    for x in crate::verdict::explain(c.st, c.app.now(), &rules) {
        let (glyph, style) = match x.pass {
            Some(true) => ("✔", theme.ok),
            Some(false) if x.decides => ("✖", theme.error),
            Some(false) => ("✖", theme.warn),
            None => ("?", theme.pending),
        };
        l.push(Line::from(vec![
            Span::styled(format!("  {glyph} "), style),
            Span::styled(x.line(), if x.decides { style } else { Style::default() }),
        ]));
    }
}

/// The gateway's status: state, build, versions, bind, listeners, RPC error.
pub(super) fn gateway(l: &mut Lines, c: &Ctx) {
    let (g, theme) = (&c.row.gateway, c.theme);
    let plain = Style::default();
    l.push(heading(
        "gateway",
        g.age_s,
        c.app.rules().gateway_stale_after_s,
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
        g.build_id.clone().unwrap_or_else(|| Shown::new("-")),
        plain,
        theme,
    ));
    l.push(kv(
        "cli / daemon",
        Shown::new(&format!(
            "{} / {}",
            g.cli_version.as_deref().map_or_else(none, str::to_string),
            g.daemon_version
                .as_deref()
                .map_or_else(none, str::to_string)
        )),
        if c.row.skew.versions {
            theme.warn
        } else {
            plain
        },
        theme,
    ));
    // which `openclaw` the poll channel runs (its login shell's PATH decides)
    if let Some(cli) = &c.row.cli {
        l.push(kv(
            "cli ran",
            Shown::new(&format!(
                "{} ({})",
                cli.path
                    .clone()
                    .unwrap_or_else(|| "not found on the node's PATH".into()),
                cli.version.clone().unwrap_or_else(none)
            )),
            if c.row.skew.cli { theme.warn } else { plain },
            theme,
        ));
    }
    l.push(kv(
        "bind",
        g.bind.clone().unwrap_or_else(|| Shown::new("-")),
        plain,
        theme,
    ));
    if let Some(listeners) = c.st.gateway.as_ref().map(|g| g.value.listeners.join(", ")) {
        let listeners = if listeners.is_empty() {
            none()
        } else {
            listeners
        };
        l.push(kv("listeners", Shown::new(&listeners), plain, theme));
    }
    if let Some(e) = &g.error {
        l.push(kv("rpc error", e.clone(), theme.error, theme));
    }
}

/// The skills manifest: which bundle the node runs and how it compares with its class.
pub(super) fn manifest(l: &mut Lines, c: &Ctx) {
    let (m, theme) = (&c.row.manifest, c.theme);
    l.push(heading(
        "manifest",
        m.age_s,
        c.app.rules().poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "current",
        Shown::new(&m.sha.clone().unwrap_or_else(|| "(none)".into())),
        Style::default(),
        theme,
    ));
    let unverified = if m.unverified {
        " (unverified: no lock file)"
    } else {
        ""
    };
    l.push(kv(
        "state",
        Shown::new(&format!(
            "{}{unverified}",
            m.state.map_or("?", |s| s.as_str())
        )),
        match m.state {
            Some(ManifestState::InSync) if !m.unverified => theme.ok,
            Some(ManifestState::Waiting) => theme.pending,
            Some(ManifestState::InSync) | Some(ManifestState::Skew) => theme.warn,
            _ => theme.error,
        },
        theme,
    ));
    l.push(kv(
        "lock sha256",
        Shown::new(&m.lock_sha256.clone().unwrap_or_else(none)),
        Style::default(),
        theme,
    ));
    l.push(kv(
        "compared with",
        Shown::new(&m.reference.clone().unwrap_or_else(none)),
        theme.dim,
        theme,
    ));
}

/// The skill cache's ready marker and its age.
pub(super) fn cache(l: &mut Lines, c: &Ctx) {
    let theme = c.theme;
    l.push(heading(
        "cache",
        c.st.cache.as_ref().map(|x| x.age_s(c.app.now())),
        c.app.rules().poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "skill-cache-ready",
        Shown::new(
            &c.row
                .cache
                .age_s
                .map_or("missing (cold)".into(), |a| format!("{} old", human_age(a))),
        ),
        if c.row.cache.stale {
            theme.warn
        } else {
            theme.ok
        },
        theme,
    ));
}

/// The health URL's answer, and the gateway's /readyz when the layout checks it.
pub(super) fn liveness(l: &mut Lines, c: &Ctx) {
    let (r, theme) = (c.row, c.theme);
    l.push(heading(
        "liveness",
        r.live.age_s,
        c.app.rules().poll_stale_after_s,
        theme,
    ));
    // The whole URL on a line of its own (the inventory's text, cleaned), then its answer.
    l.push(kv(
        "url",
        Shown::new(&c.node.layout.healthz_url),
        Style::default(),
        theme,
    ));
    l.push(kv(
        "answer",
        Shown::new(
            &c.st
                .live
                .as_ref()
                .map_or("-".into(), |x| x.value.describe()),
        ),
        if r.live.ok { theme.ok } else { theme.error },
        theme,
    ));
    // The gateway's /readyz, when the layout checks it and a poll has seen it.
    if let (Some(z), Some(x)) = (&r.gateway.readyz, c.st.readyz.as_ref()) {
        l.push(kv(
            "gateway readyz",
            Shown::new(&format!(
                "{} ({} ago)",
                x.value.describe(),
                human_age(z.age_s)
            )),
            if z.ok { theme.ok } else { theme.error },
            theme,
        ));
    }
}

/// Whether the node is drained, and its disk (space and inodes).
pub(super) fn drain_and_disk(l: &mut Lines, c: &Ctx) {
    let (r, theme) = (c.row, c.theme);
    l.push(heading(
        "drain & disk",
        c.st.drained.as_ref().map(|d| d.age_s(c.app.now())),
        c.app.rules().poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "drained",
        Shown::new(&r.drained.to_string()),
        if r.drained { theme.warn } else { theme.ok },
        theme,
    ));
    match (&r.disk, c.st.disk.as_ref().map(|d| &d.value)) {
        (Some(d), _) => l.push(kv(
            "disk",
            Shown::new(&format!(
                "{} GiB free, {}% used, inodes {}",
                d.avail_kb / (1024 * 1024),
                d.used_pct,
                d.inodes_used_pct
                    .map_or("?".into(), |p| format!("{p}% used"))
            )),
            if d.used_pct >= crate::ui::fleet::DISK_PRESSURE_PCT {
                theme.warn
            } else {
                Style::default()
            },
            theme,
        )),
        (None, Some(Err(e))) => l.push(kv("disk", Shown::new(&e.clone()), theme.error, theme)),
        _ => {}
    }
}

/// The poller's own record: polls that worked and failed, the last error.
pub(super) fn polls(l: &mut Lines, c: &Ctx) {
    let (st, theme) = (c.st, c.theme);
    l.push(heading(
        "polls",
        st.last_ok.map(|t| c.app.now().saturating_sub(t) / 1000),
        c.app.rules().poll_stale_after_s,
        theme,
    ));
    l.push(kv(
        "ok / failed",
        Shown::new(&format!("{} / {}", st.polls_ok, st.polls_failed)),
        Style::default(),
        theme,
    ));
    let now = c.app.now();
    if let Some(at) = st.next_connect.filter(|&at| at > now) {
        l.push(kv(
            "next connect",
            Shown::new(&format!(
                "in {} (after failed connects; refresh tries now)",
                human_age(at.saturating_sub(now).div_ceil(1000))
            )),
            theme.warn,
            theme,
        ));
    }
    if let Some(e) = &st.last_error {
        l.push(kv(
            "last error",
            Shown::new(&format!(
                "{} ({})",
                clean(&e.value),
                age(Some(e.age_s(c.app.now())))
            )),
            theme.error,
            theme,
        ));
    }
}
