//! The node view says which `openclaw` the node's poll channel runs (path and
//! `--version`), cleaned; a node whose CLI path differs from its class is skewed, and
//! the skew view says how.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::KeyCode;
use demo::{AT, demo_app, key, open_node, poll_all_asking, render};
use meshroll::dashboard::View;
use meshroll::remote::sim::SimMesh;
use meshroll::signals::CliIdentity;

#[tokio::test(start_paused = true)]
async fn the_node_view_names_the_cli_that_ran_and_a_split_path_is_skew() {
    let mut app = demo_app().await;
    // a later round of polls, each answer saying which CLI the node's channel runs
    let (_, mesh) = SimMesh::demo();
    let req = meshroll::poller::Cadence::for_timeout(std::time::Duration::from_secs(10))
        .request(false, false);
    poll_all_asking(&mut app, &mesh, &req, AT + 2_500, |name, r| {
        let path = if name == "mac-g01" {
            "/usr/local/bin/openclaw\x1b[2J"
        } else {
            "/opt/homebrew/bin/openclaw"
        };
        if let Ok(raw) = r.result.as_mut() {
            raw.cli = Some(CliIdentity {
                path: path.into(),
                version: "OpenClaw 2026.9.6 (eb377ac)".into(),
                on_path: true,
            });
        }
    })
    .await;
    app.update_rows(AT + 3_000);
    open_node(&mut app, "mac-g01");
    let screen = render(&app, 120, 60);
    assert!(!screen.contains('\x1b'), "{screen}");
    let line = screen
        .lines()
        .find(|l| l.contains("cli ran"))
        .unwrap_or_else(|| panic!("no cli line in\n{screen}"));
    assert!(
        line.contains("/usr/local/bin/openclaw") && line.contains("(OpenClaw 2026.9.6 (eb377ac))"),
        "{line}"
    );
    let row = app.rows().iter().find(|r| r.node == "mac-g01").unwrap();
    assert!(row.skew.cli, "{:?}", row.skew);
    assert!(
        row.skew
            .reasons
            .iter()
            .any(|r| r.starts_with("cli path /usr/local/bin/openclaw")
                && r.ends_with("!= class /opt/homebrew/bin/openclaw")
                && !r.contains('\x1b')),
        "{:?}",
        row.skew.reasons
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('S'));
    assert_eq!(app.view(), View::Skew);
    let screen = render(&app, 200, 40);
    assert!(
        screen.contains("cli path /usr/local/bin/openclaw"),
        "{screen}"
    );
}
