//! Skew that means a difference, one REASON column, and words for states, drawn into
//! ratatui's TestBackend at 160x45 and checked with insta snapshots (the 80x24 and
//! scrolling snapshots live with the width-aware tables). The fleets are the demo's
//! simulated mesh (a simulator: no node is touched), bent into the states on call meets.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::KeyCode;
use demo::{AT, feed, key, render};
use meshroll::dashboard::{App, Setup, View};
use meshroll::inventory::Inventory;
use meshroll::poller::PollResult;
use meshroll::remote::sim::SimMesh;
use meshroll::rollout::plan::{self, PlanOptions};

/// The demo mesh bent by `bend`, every node polled at [`AT`] except `unpolled`.
async fn fleet(bend: impl Fn(&SimMesh, usize, &str), unpolled: &[&str]) -> (App, Inventory) {
    fleet_set_up(bend, unpolled, |_| Setup::default()).await
}

/// [`fleet`], the app set up by `setup` (a staged rollout) before the polls.
async fn fleet_set_up(
    bend: impl Fn(&SimMesh, usize, &str),
    unpolled: &[&str],
    setup: impl FnOnce(&Inventory) -> Setup,
) -> (App, Inventory) {
    let (inv, mesh) = SimMesh::demo();
    for (i, n) in inv.nodes.iter().enumerate() {
        bend(&mesh, i, &n.name);
    }
    let mut app = demo::new_app("demo (simulated mesh)", &inv, setup(&inv));
    let req = meshroll::poller::Cadence::for_timeout(std::time::Duration::from_secs(10))
        .request(true, true);
    for (node, n) in inv.nodes.enumerate() {
        if unpolled.contains(&n.name.as_str()) {
            continue;
        }
        let result = mesh.poll(node.index(), &req).await;
        let r = PollResult {
            node,
            at: AT,
            took_ms: 1,
            result,
        };
        feed(&mut app, r);
    }
    app.update_rows(AT + 2_000);
    (app, inv)
}

/// A fleet deployed before meshroll: no node has a lock file (but mac-w12, whose lock
/// names another tree), every gateway's build is stamped per node, one worker is on
/// another bundle and one gateway on another daemon version.
async fn before_meshroll() -> App {
    let (app, _) = fleet(
        |mesh, i, name| {
            mesh.with_node(i, |n| {
                if name != "mac-w12" {
                    n.lock_claim = None;
                }
                if name.starts_with("mac-g") {
                    // The release's build, stamped per node.
                    n.build = format!(
                        "2026.9.6-release-{:012x}-2026-09-23T16-33-12.144Z",
                        (i as u64 + 1) * 0x1a2b_3c4d_5e6f % 0xffff_ffff_ffff
                    );
                }
            });
        },
        &[],
    )
    .await;
    app
}

/// The demo fleet: the drained node's REASON is "drained" (the verdict's reason, not
/// a skew line), the skewed gateway's its skew; mac-w20 (no lock file) reads `?unv`
/// and is counted as unverified, not skewed.
#[tokio::test(start_paused = true)]
async fn fleet_reason_column_160x45() {
    let (app, _) = fleet(|_, _, _| {}, &[]).await;
    let c = app.counts();
    assert_eq!((c.skewed, c.unverified), (3, 1), "{c:?}");
    insta::assert_snapshot!(render(&app, 160, 45));
}

/// A fleet deployed before meshroll: `? 24 unverified` in the header (mac-w17 is
/// down, mac-w12 has a lock), and the nodes that really differ are the only ones
/// skewed; the unique builds flag nobody.
#[tokio::test(start_paused = true)]
async fn fleet_before_meshroll_160x45() {
    let app = before_meshroll().await;
    let c = app.counts();
    assert_eq!(c.unverified, 24, "{c:?}");
    let skewed: Vec<&str> = app
        .rows()
        .iter()
        .filter(|r| r.skew.any)
        .map(|r| r.node.as_str())
        .collect();
    assert_eq!(skewed, ["mac-g02", "mac-w07", "mac-w12"]);
    insta::assert_snapshot!(render(&app, 160, 45));
}

/// The skew view of that fleet: per class, the groups by what differs (smallest
/// first), the class without a majority build says so, unverified counted apart.
#[tokio::test(start_paused = true)]
async fn skew_view_before_meshroll_160x45() {
    let mut app = before_meshroll().await;
    key(&mut app, KeyCode::Char('S'));
    assert_eq!(app.view(), View::Skew);
    let screen = render(&app, 160, 45);
    assert!(screen.contains("no majority build"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// The demo's skew view: worker groups, minority first.
#[tokio::test(start_paused = true)]
async fn skew_view_demo_160x45() {
    let (mut app, _) = fleet(
        |mesh, i, name| {
            // A second worker on mac-w07's bundle: a group of two after the one-node
            // groups.
            if name == "mac-w08" {
                mesh.with_node(i, |n| {
                    n.current = Some(meshroll::remote::sim::OLD_SHA.into());
                    n.lock_claim = Some(meshroll::remote::sim::OLD_SHA.into());
                });
            }
        },
        &[],
    )
    .await;
    key(&mut app, KeyCode::Char('S'));
    insta::assert_snapshot!(render(&app, 160, 45));
}

/// A staged rollout with two nodes not polled yet: `… not polled` and `→ X` (waiting
/// for the rollout) read differently in the table and the header.
#[tokio::test(start_paused = true)]
async fn not_polled_and_waiting_160x45() {
    let (app, _) = fleet_set_up(
        |_, _, _| {},
        &["mac-w05", "mac-w06"],
        |inv| {
            let p = plan::make(inv, &PlanOptions::default()).unwrap();
            Setup {
                rollout: Some(demo::staged(inv, p)),
                ..Setup::default()
            }
        },
    )
    .await;
    let c = app.counts();
    assert_eq!(c.pending, 2, "{c:?}");
    assert!(c.rollout_pending > 0, "{c:?}");
    let screen = render(&app, 160, 45);
    assert!(screen.contains("… 2 not polled"), "{screen}");
    assert!(screen.contains("waiting"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// The help's legend at 160x45: every marker with its word.
#[tokio::test(start_paused = true)]
async fn help_legend_160x45() {
    let (mut app, _) = fleet(|_, _, _| {}, &[]).await;
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(render(&app, 160, 45));
}
