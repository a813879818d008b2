//! Marks and locks on screen, drawn into ratatui's TestBackend and checked with insta:
//! the mark glyph before a marked node's name and the count in the title bar; the LOCK
//! column (glyph and word, stale after three missed heartbeats) and the node view's lock
//! block.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::KeyCode;
use demo::{AT, demo_app, open_node, poll_all, render};
use meshroll::dashboard::{App, AppEffect, Setup};
use meshroll::inventory::NodeId;
use meshroll::poller::Cadence;
use meshroll::remote::sim::{SimLock, SimMesh};

fn key(app: &mut App, c: char) -> Vec<AppEffect> {
    demo::key(app, KeyCode::Char(c))
}

#[tokio::test(start_paused = true)]
async fn marked_rows_show_a_glyph_and_the_title_counts_them() {
    let mut app = demo_app().await;
    key(&mut app, 'm'); // mac-g01, the cursor moves to mac-g02
    key(&mut app, 'j');
    key(&mut app, 'm'); // mac-g03
    assert_eq!(app.action_targets(), vec![NodeId::new(0), NodeId::new(2)]);
    app.frame(AT + 2_000);
    let screen = render(&app, 120, 12);
    assert!(screen.contains("◆ 2 marked"), "{screen}");
    assert!(screen.contains("◆ mac-g01"), "{screen}");
    assert!(screen.contains("  mac-g02"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// The demo fleet with two node locks: mac-w03's rollout beat 10 s ago, mac-w07's
/// lock was taken an hour ago and last beat 5 minutes ago (its rollout is gone).
async fn locked_demo() -> App {
    let (inv, mesh) = SimMesh::demo();
    let req = Cadence::for_timeout(std::time::Duration::from_secs(10)).request(false, false);
    let node_now = mesh.poll(0, &req).await.unwrap().node_now as u64;
    let idx = |name: &str| inv.nodes.find(name).unwrap().index();
    mesh.with_node(idx("mac-w03"), |n| {
        n.rollout_lock = Some(SimLock {
            owner: format!("r-live alice@ops1/pid4242 {}", node_now - 600),
            heartbeat_s: node_now - 10,
        })
    });
    mesh.with_node(idx("mac-w07"), |n| {
        n.rollout_lock = Some(SimLock {
            owner: format!("r-gone bob@ops2/pid77 {}", node_now - 3600),
            heartbeat_s: node_now - 300,
        })
    });
    let mut app = demo::new_app("demo (simulated mesh)", &inv, Setup::default());
    poll_all(&mut app, &mesh, AT).await;
    app.update_rows(AT + 2_000);
    app
}

#[tokio::test(start_paused = true)]
async fn locked_nodes_show_in_the_table_and_the_node_view() {
    let mut app = locked_demo().await;
    app.frame(AT + 2_000);
    assert_eq!(app.counts().locked, 2);
    let row = |app: &App, name: &str| {
        let i = app.nodes().find(name).unwrap();
        app.rows()[i].lock.clone().unwrap()
    };
    assert!(!row(&app, "mac-w03").stale);
    assert!(row(&app, "mac-w07").stale);
    key(&mut app, '2'); // the worker tab
    app.frame(AT + 2_000);
    let screen = render(&app, 140, 16);
    assert!(screen.contains("LOCK"), "{screen}");
    assert!(screen.contains("⚿ locked"), "{screen}");
    assert!(screen.contains("⚿ stale"), "{screen}");
    assert!(screen.contains("⚿ 2 locked"), "{screen}");
    insta::assert_snapshot!("fleet_with_locks", screen);
    open_node(&mut app, "mac-w07");
    let screen = render(&app, 110, 40);
    assert!(
        screen.contains("owner") && screen.contains("bob"),
        "{screen}"
    );
    assert!(screen.contains("ops2 (pid 77)"), "{screen}");
    assert!(screen.contains("no heartbeat for over 90s"), "{screen}");
    insta::assert_snapshot!("node_view_stale_lock", screen);
}

#[tokio::test(start_paused = true)]
async fn without_locks_the_table_has_no_lock_column() {
    let app = demo_app().await;
    assert_eq!(app.counts().locked, 0);
    let screen = render(&app, 140, 10);
    assert!(
        !screen.contains("LOCK") && !screen.contains("locked"),
        "{screen}"
    );
}
