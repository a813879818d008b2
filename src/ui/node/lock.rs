//! The node view's lock block: who holds the node lock (owner, host, pid, rollout), how
//! old it is and when it last beat; marked stale after three missed heartbeats. Shown
//! only while the node is locked.

use ratatui::text::{Line, Span};

use super::{Ctx, Lines, age, kv};
use crate::safe_text::Shown;
use crate::ui::locks::{LOCK_GLYPH, lock_style};

pub(super) fn section(l: &mut Lines, c: &Ctx) {
    let Some(lock) = &c.row.lock else {
        return;
    };
    let theme = c.theme;
    let style = lock_style(lock, theme);
    let mut head = vec![
        Span::styled("node lock", theme.header),
        Span::styled(format!("  {LOCK_GLYPH} {}", lock.word()), style),
    ];
    if lock.stale {
        head.push(Span::styled(
            format!(
                "  no heartbeat for over {}: its rollout may be gone (meshroll unlock --node {})",
                crate::verdict::human_age(crate::node_lock::STALE_AFTER_S),
                c.row.node
            ),
            theme.warn,
        ));
    }
    l.push(Line::from(""));
    l.push(Line::from(head));
    let pid = lock.pid.map_or_else(|| "?".to_string(), |p| p.to_string());
    l.push(kv(
        "owner",
        Shown::new(&lock.user),
        ratatui::style::Style::default(),
        theme,
    ));
    l.push(kv(
        "host",
        Shown::new(&format!("{} (pid {pid})", lock.host)),
        ratatui::style::Style::default(),
        theme,
    ));
    l.push(kv(
        "rollout",
        Shown::new(&lock.rollout),
        ratatui::style::Style::default(),
        theme,
    ));
    l.push(kv(
        "taken",
        Shown::new(&age(lock.age_s)),
        ratatui::style::Style::default(),
        theme,
    ));
    l.push(kv(
        "heartbeat",
        Shown::new(&age(lock.heartbeat_age_s)),
        style,
        theme,
    ));
}
