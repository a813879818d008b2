//! The dashboard on a large simulated mesh: the table draws the window around the
//! selection, and a click selects the row under it even when the table is scrolled.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::KeyCode;
use meshroll::dashboard::{App, Setup};
use meshroll::remote::sim::SimMesh;

const AT: u64 = 1_800_000_000_000;
/// When keys and clicks arrive.
const NOW: u64 = AT + 1_000;

async fn app(n: usize) -> App {
    let (inv, mesh) = SimMesh::generate(n, 11);
    let mut app = demo::new_app("scale", &inv, Setup::default());
    let req = meshroll::poller::Cadence::for_timeout(std::time::Duration::from_secs(10))
        .request(true, false);
    demo::poll_all_asking(&mut app, &mesh, &req, AT, |_, _| {}).await;
    app.update_rows(AT + 1_000);
    app
}

/// The screen at 120x30, one string per row.
fn render(app: &App) -> Vec<String> {
    demo::render_lines(app, 120, 30)
}

fn key(app: &mut App, c: KeyCode) {
    demo::key_at(app, c, NOW);
}

fn click(app: &mut App, row: u16) {
    demo::click_at(app, row, NOW);
}

#[tokio::test(start_paused = true)]
async fn end_of_a_large_table_is_drawn_and_a_click_there_selects_its_row() {
    let mut app = app(2_000).await;
    demo::resize_at(&mut app, 120, 30, NOW);
    render(&app);
    key(&mut app, KeyCode::Char('G'));
    let screen = render(&app);
    let last = app.nodes().last().unwrap().name.clone();
    assert!(
        screen.iter().any(|l| l.contains(&last)),
        "{last} not on screen:\n{}",
        screen.join("\n")
    );
    // Click the first table row: the node drawn there is selected, not the fleet's
    // first node.
    let first_row = meshroll::ui::TABLE_FIRST_ROW;
    let drawn = screen[first_row as usize].clone();
    click(&mut app, first_row);
    let sel = app.selected_node().unwrap();
    assert!(
        drawn.contains(&format!(" {} ", app.nodes()[sel].name)),
        "clicked row {drawn:?}, selected {}",
        app.nodes()[sel].name
    );
    assert_ne!(sel.index(), 0);
}

/// Keys and clicks often arrive in one batch between two frames: a click right after a
/// scroll selects the row the next frame draws under it (the state keeps the table's
/// scroll offset itself, not the last frame), and a click under the table selects
/// nothing.
#[tokio::test(start_paused = true)]
async fn a_click_after_scrolling_before_any_frame_selects_the_row_drawn_there() {
    let mut app = app(2_000).await;
    demo::resize_at(&mut app, 120, 30, NOW);
    key(&mut app, KeyCode::Char('G'));
    let row = meshroll::ui::TABLE_FIRST_ROW + 2;
    click(&mut app, row);
    let sel = app.selected_node().unwrap();
    let screen = render(&app);
    let drawn = screen[row as usize].clone();
    // The selection marker is drawn on the row clicked, in front of its node's name.
    assert!(
        drawn.starts_with(&format!("▶{} ", app.nodes()[sel].name)),
        "clicked row {drawn:?}, selected {}",
        app.nodes()[sel].name
    );
    assert!(
        sel.index() > 1_900,
        "selected {sel}, near the end of the table"
    );
    // The footer is under the table: a click there does not move the selection.
    let before = app.cursor();
    click(&mut app, 29);
    assert_eq!(app.cursor(), before);
}

fn meshroll(args: &[&str]) -> std::process::Output {
    let log = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .arg("--log-dir")
        .arg(log.path())
        .args(args)
        .output()
        .unwrap()
}

/// `status --sim --nodes N --seed S` prints N nodes, the same for the same seed.
#[test]
fn status_sim_sized_and_seeded() {
    let verdicts = |seed: &str| {
        let out = meshroll(&[
            "status", "--sim", "--nodes", "260", "--seed", seed, "--json",
        ]);
        // The generated mesh keeps the demo's dead nodes: status exits 1.
        assert!(
            out.status.code() == Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = v.as_array().unwrap().clone();
        assert_eq!(rows.len(), 260);
        rows.iter()
            .map(|r| format!("{} {} {}", r["node"], r["verdict"], r["reason"]))
            .collect::<Vec<_>>()
    };
    let a = verdicts("3");
    assert_eq!(a, verdicts("3"));
    assert_ne!(a, verdicts("4"));
    let out = meshroll(&["rollout", "--sim", "--nodes", "260", "--check"]);
    assert!(out.status.success());
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("class 1 (gateway): 60 nodes"), "{plan}");
    assert!(plan.contains("class 2 (worker): 200 nodes"), "{plan}");
    // On a real inventory --nodes is refused, not ignored.
    let out = meshroll(&["-i", "/nonexistent.ini", "status", "--nodes", "5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nodes sizes the simulated mesh"));
}
