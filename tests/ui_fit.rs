//! The screen at any size (issue 18): the fleet table drops and narrows columns by
//! priority and never cuts the header's counts or the footer's `? help` and `q quit`;
//! the node view, the skew view, the plan's progress log and the help scroll, with an
//! indicator of where the window is. Drawn into ratatui's TestBackend at 80x24 and
//! 160x45 and checked with insta snapshots, on the demo and a generated mesh (the
//! simulated mesh of `meshroll demo`).
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::{KeyCode, MouseEventKind};
use demo::{demo_app, generated_app, key, open_node, staged_app, wheel};
use meshroll::dashboard::{App, View};
use meshroll::rollout::state::Progress;

/// The screen as text lines, and the same as insta prints it.
fn render(app: &App, w: u16, h: u16) -> (Vec<String>, String) {
    (demo::render_lines(app, w, h), demo::render(app, w, h))
}

/// Every count of the header is there, in full or as its glyph and number.
fn assert_counts(top: &str, counts: &[&str]) {
    for c in counts {
        assert!(top.contains(c), "{c:?} missing from the header {top:?}");
    }
}

fn assert_footer_keeps_help_and_quit(bottom: &str) {
    assert!(
        bottom.contains("? help") && bottom.contains("q quit"),
        "{bottom:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn fleet_80x24_keeps_every_count_the_footer_keys_and_the_reason() {
    let app = demo_app().await;
    let (lines, screen) = render(&app, 80, 24);
    assert_counts(&lines[0], &["✔ 21", "◐ 3", "✖ 2", "≠ 3", "? 1"]);
    assert_footer_keeps_help_and_quit(&lines[23]);
    let header = &lines[2];
    for col in ["NODE", "VERDICT", "REASON", "MANIFEST"] {
        assert!(header.contains(col), "{header}");
    }
    // CLASS goes first (the tabs say it), then BUILD: the skew is in REASON.
    assert!(
        !header.contains("CLASS") && !header.contains("BUILD"),
        "{header}"
    );
    // The last error has room to be read.
    let w07 = lines.iter().find(|l| l.contains("mac-w07")).unwrap();
    assert!(w07.contains("manifest 9f2c1e07d3a4 != c"), "{w07}");
    insta::assert_snapshot!("fleet_80x24", screen);
}

/// Wide, every column and every count in words; a message in the footer (what the
/// last key did) leaves `? help` and `q quit` in place.
#[tokio::test(start_paused = true)]
async fn fleet_160x45_shows_every_column_and_every_count_in_words() {
    let mut app = demo_app().await;
    key(&mut app, KeyCode::Char('s'));
    let (lines, screen) = render(&app, 160, 45);
    assert!(lines[44].contains("sorted by verdict"), "{}", lines[44]);
    assert_footer_keeps_help_and_quit(&lines[44]);
    assert_counts(
        &lines[0],
        &[
            "✔ 21 healthy",
            "◐ 3 draining",
            "✖ 2 dead",
            "≠ 3 skewed",
            "? 1 unverified",
            "demo (simulated mesh)",
        ],
    );
    for col in [
        "NODE", "CLASS", "GATEWAY", "BUILD", "MANIFEST", "CACHE", "VERDICT",
    ] {
        assert!(lines[2].contains(col), "{}", lines[2]);
    }
    insta::assert_snapshot!("fleet_160x45", screen);
}

/// With a rollout staged the footer has eleven items: at 80 columns some go, never
/// `? help` and `q quit`; the phase stays beside the verdict.
#[tokio::test(start_paused = true)]
async fn fleet_with_a_rollout_at_80x24_keeps_help_quit_and_the_phase() {
    let app = staged_app().await;
    let (lines, screen) = render(&app, 80, 24);
    assert_footer_keeps_help_and_quit(&lines[23]);
    assert_counts(&lines[0], &["✔ 21", "◐ 3", "✖ 2", "→ ", "≠ 3", "? 1"]);
    assert!(
        lines[2].contains("PHASE") && lines[2].contains("VERDICT"),
        "{}",
        lines[2]
    );
    insta::assert_snapshot!("fleet_rollout_80x24", screen);
}

/// `G` in the node view reaches its end at 80x24: the doctor's findings and the
/// poller's record, below the fold before.
#[tokio::test(start_paused = true)]
async fn node_view_scrolled_to_the_end() {
    for (w, h) in [(80u16, 24u16), (160, 45)] {
        let mut app = demo_app().await;
        open_node(&mut app, "mac-g02");
        let (top, _) = render(&app, w, h);
        key(&mut app, KeyCode::Char('G'));
        assert_eq!(
            app.view(),
            View::Node,
            "G scrolls, it does not leave the view"
        );
        let (lines, screen) = render(&app, w, h);
        let body = lines[3..lines.len() - 1].join("\n");
        assert!(body.contains("ok / failed"), "{body}");
        if h == 24 {
            assert!(
                !top.join("\n").contains("ok / failed"),
                "the end was below the fold"
            );
            // The indicator says the window is at the end, with more above.
            assert!(
                lines[2].contains("of ") && lines[2].contains('↑'),
                "{}",
                lines[2]
            );
        }
        assert_footer_keeps_help_and_quit(&lines[lines.len() - 1]);
        insta::assert_snapshot!(format!("node_view_end_{w}x{h}"), screen);
        // `g` is back at the top.
        key(&mut app, KeyCode::Char('g'));
        assert_eq!(render(&app, w, h).0, top);
    }
}

/// The skew view of a generated mesh of 10000 nodes is longer than the screen: PgDn and
/// the wheel scroll it, the indicator follows.
#[tokio::test(start_paused = true)]
async fn skew_view_scrolled() {
    for (w, h) in [(80u16, 24u16), (160, 45)] {
        let mut app = generated_app(10000, 7).await;
        key(&mut app, KeyCode::Char('S'));
        let (first, _) = render(&app, w, h);
        assert!(first[2].contains(" 1-"), "{}", first.join("\n"));
        key(&mut app, KeyCode::PageDown);
        wheel(&mut app, MouseEventKind::ScrollDown);
        let (lines, screen) = render(&app, w, h);
        assert!(lines[2].contains(" 14-"), "{}", lines[2]);
        assert!(lines[2].contains("↑↓"), "{}", lines[2]);
        assert_eq!(lines[3..10], first[16..23], "13 lines down");
        insta::assert_snapshot!(format!("skew_view_scrolled_{w}x{h}"), screen);
    }
}

/// The help at 80x24 is taller than the screen: `G` shows its end (the legend).
#[tokio::test(start_paused = true)]
async fn help_scrolls_to_its_legend() {
    let mut app = demo_app().await;
    key(&mut app, KeyCode::Char('?'));
    let (top, _) = render(&app, 80, 24);
    assert!(!top.join("\n").contains("cache: ! stale"));
    key(&mut app, KeyCode::Char('G'));
    assert!(app.help(), "G scrolls the help, it does not close it");
    let (lines, screen) = render(&app, 80, 24);
    assert!(lines.join("\n").contains("cache: ! stale"), "{screen}");
    insta::assert_snapshot!("help_end_80x24", screen);
}

/// The plan's progress log follows its newest line; `k` and PgUp go back in it, `G`
/// follows again.
#[tokio::test(start_paused = true)]
async fn plan_log_scrolls_back() {
    let mut app = demo::staged_app_with(|d| {
        d.log.clear();
        for i in 1..=60 {
            d.log.push_back(Progress::note(format!("line {i:02}")));
        }
    })
    .await;
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(app.view(), View::Plan);
    let text = |app: &App| render(app, 80, 24).0.join("\n");
    let newest = text(&app);
    assert!(
        newest.contains("line 60") && !newest.contains("line 01"),
        "{newest}"
    );
    key(&mut app, KeyCode::PageUp);
    key(&mut app, KeyCode::Char('k'));
    let back = text(&app);
    assert!(
        back.contains("line 49") && !back.contains("line 50"),
        "{back}"
    );
    key(&mut app, KeyCode::Char('g'));
    let oldest = text(&app);
    assert!(
        oldest.contains("line 01") && !oldest.contains("line 60"),
        "{oldest}"
    );
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(text(&app), newest);
    insta::assert_snapshot!("plan_log_oldest_80x24", {
        key(&mut app, KeyCode::Char('g'));
        render(&app, 80, 24).1
    });
}

/// `meshroll status --sim`, stdout piped, with `COLUMNS` as given (unset: `None`).
fn status(columns: Option<&str>, args: &[&str]) -> String {
    let logs = std::env::temp_dir().join("meshroll-ui-fit-logs");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_meshroll"));
    cmd.args(["status", "--sim", "--log-dir"])
        .arg(logs)
        .args(args);
    match columns {
        Some(c) => cmd.env("COLUMNS", c),
        None => cmd.env_remove("COLUMNS"),
    };
    let out = cmd.output().unwrap();
    // The demo mesh has two dead nodes: status exits 1 (its table is still printed).
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn widest(s: &str) -> usize {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// `status`'s table fits `COLUMNS` (80 when piped without it); `--wide` prints every
/// cell in full, and `--json` has the full text too.
#[test]
fn status_fits_the_terminal_width_unless_wide() {
    let full = "build 2026.9.5-release-1d2e3f4a5b6 != class 2026.9.6-release-eb377ac59e6";
    let fitted = status(Some("80"), &[]);
    assert!(widest(&fitted) <= 80, "{fitted}");
    assert_eq!(
        fitted.lines().count(),
        27,
        "a header and 26 nodes:\n{fitted}"
    );
    for col in ["NODE", "VERDICT", "REASON"] {
        assert!(fitted.lines().next().unwrap().contains(col), "{fitted}");
    }
    assert!(fitted.contains('…') && !fitted.contains(full), "{fitted}");
    assert!(widest(&status(None, &[])) <= 80, "piped: 80 columns");
    let wider = status(Some("120"), &[]);
    assert!(widest(&wider) <= 120 && widest(&wider) > 100, "{wider}");
    let wide = status(Some("80"), &["--wide"]);
    assert!(widest(&wide) > 80, "{wide}");
    assert!(wide.contains(full) && !wide.contains('…'), "{wide}");
    let json = status(Some("80"), &["--json"]);
    assert!(json.contains(full), "{json}");
}
