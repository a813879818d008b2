//! The dashboard with a rollout staged, drawn into ratatui's TestBackend and checked
//! with insta snapshots: the fleet table's rollout columns mid-rollout, the plan view
//! and the confirm dialog. The rollout is driven through `App::handle` with a clock
//! moved by hand and the executor's reports made up: no executor, no node touched.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::KeyCode;
use demo::{key_at as key, render};
use meshroll::dashboard::{App, AppEffect, AppEvent, Setup, View};
use meshroll::inventory::NodeId;
use meshroll::remote::sim::SimMesh;
use meshroll::rollout::events::ExecEvent;
use meshroll::rollout::plan::{self, PlanOptions};
use meshroll::rollout::{Failure, Input, NodeRun, Phase};

use demo::AT;

/// The demo mesh polled once, with a rollout of the demo bundle staged (paused).
async fn staged() -> App {
    demo::staged_app().await
}

/// The phases the effects start.
fn runs(effects: &[AppEffect]) -> Vec<(NodeId, Phase)> {
    effects
        .iter()
        .flat_map(|e| match e {
            AppEffect::Rollout(v) => v.clone(),
            _ => Vec::new(),
        })
        .filter_map(|e| match e {
            meshroll::rollout::Effect::Run { node, phase, .. } => Some((node, phase)),
            _ => None,
        })
        .collect()
}

/// Run the staged rollout and answer the first `answers` phases it starts, one every
/// 700 ms: every phase passes except mac-g02's sync, which fails once (a retry is
/// scheduled). Returns the time of the last answer.
async fn mid_rollout(answers: usize) -> (App, u64) {
    let mut app = staged().await;
    let g02 = app.nodes().find("mac-g02").unwrap();
    let mut now = AT + 1_000;
    let mut queue = runs(&app.handle(AppEvent::Tick, now).effects);
    queue.extend(runs(&key(&mut app, KeyCode::Char('c'), now)));
    for _ in 0..answers {
        if queue.is_empty() {
            break;
        }
        let (node, phase) = queue.remove(0);
        now += 700;
        let input = if node == g02 && phase == Phase::Sync {
            Input::PhaseFailed {
                node,
                phase,
                failure: Failure::Transient("rsync: connection reset by peer".into()),
            }
        } else {
            Input::PhaseDone {
                node,
                phase,
                note: format!("{} done", phase.name()),
            }
        };
        // Baseline and drain, verify and switch: one script reports both phases.
        let carried = match &input {
            Input::PhaseDone { phase, .. } => phase.carries_on().map(|p| Input::PhaseDone {
                node,
                phase: p,
                note: format!("{} done", p.name()),
            }),
            _ => None,
        };
        queue.extend(runs(
            &app.handle(AppEvent::Exec(Box::new(ExecEvent::Input(input))), now)
                .effects,
        ));
        if let Some(c) = carried {
            queue.extend(runs(
                &app.handle(AppEvent::Exec(Box::new(ExecEvent::Input(c))), now)
                    .effects,
            ));
        }
    }
    app.frame(now);
    (app, now)
}

#[tokio::test(start_paused = true)]
async fn fleet_rollout_columns_mid_rollout() {
    let (app, _) = mid_rollout(12).await;
    let d = app.rollout().unwrap();
    // What the snapshot shows: the canary landed, a node retrying, one running.
    assert_eq!(d.machine.nodes[NodeId::new(0)].run, NodeRun::Landed);
    assert!(
        matches!(
            d.machine.nodes[NodeId::new(1)].run,
            NodeRun::Retrying { .. }
        ),
        "{:?}",
        d.machine.nodes[NodeId::new(1)].run
    );
    assert!(
        d.machine
            .nodes
            .iter()
            .any(|n| matches!(n.run, NodeRun::Active { .. }))
    );
    insta::assert_snapshot!(render(&app, 160, 40));
}

#[tokio::test(start_paused = true)]
async fn plan_view_mid_rollout() {
    let (mut app, now) = mid_rollout(12).await;
    key(&mut app, KeyCode::Char('p'), now);
    assert_eq!(app.view(), View::Plan);
    insta::assert_snapshot!(render(&app, 110, 32));
}

#[tokio::test(start_paused = true)]
async fn confirm_dialog_before_a_rollback() {
    let (mut app, now) = mid_rollout(12).await;
    assert_eq!(key(&mut app, KeyCode::Char('b'), now), vec![]);
    assert!(app.confirm().is_some());
    insta::assert_snapshot!(render(&app, 100, 30));
    // Esc cancels: nothing is rolled back.
    assert_eq!(key(&mut app, KeyCode::Esc, now), vec![]);
    assert!(app.confirm().is_none());
    assert_eq!(app.flash(), Some("cancelled"));
}

/// `--bake`: the plan view shows the bake in the status line and counts the baking
/// canary's bake down in its class's lane.
#[tokio::test(start_paused = true)]
async fn plan_view_counts_the_canary_bake_down() {
    let (inv, mesh) = SimMesh::demo();
    let opts = PlanOptions {
        bake_ms: 300_000,
        bake_every_ms: 5_000,
        ..PlanOptions::default()
    };
    let p = plan::make(&inv, &opts).unwrap();
    let canary = p.classes[0].canary;
    let setup = Setup {
        rollout: Some(demo::staged(&inv, p)),
        ..Setup::default()
    };
    let mut app = demo::new_app("demo (simulated mesh)", &inv, setup);
    demo::poll_all(&mut app, &mesh, AT).await;
    let mut now = AT + 1_000;
    let mut queue = runs(&app.handle(AppEvent::Tick, now).effects);
    queue.extend(runs(&key(&mut app, KeyCode::Char('c'), now)));
    while let Some((node, phase)) = queue.first().copied() {
        queue.remove(0);
        assert_eq!(node, canary, "a wave node started before the bake");
        now += 700;
        // A fused pair (baseline+drain, verify+switch) reports both of its phases.
        for phase in std::iter::once(phase).chain(phase.carries_on()) {
            let input = Input::PhaseDone {
                node,
                phase,
                note: String::new(),
            };
            queue.extend(runs(
                &app.handle(AppEvent::Exec(Box::new(ExecEvent::Input(input))), now)
                    .effects,
            ));
        }
    }
    let d = app.rollout().unwrap();
    assert_eq!(d.machine.nodes[canary].run, NodeRun::Landed);
    assert_eq!(d.machine.baking.len(), 1);
    let name = inv.nodes.name(canary).to_string();
    app.frame(now + 61_000);
    key(&mut app, KeyCode::Char('p'), now + 61_000);
    let screen = render(&app, 120, 32);
    assert!(screen.contains("canary bake 5m"), "{screen}");
    assert!(
        screen.contains(&format!("canary {name} baking, 3m59s left")),
        "{screen}"
    );
}

/// The plan view names what a node without rsync 3 will refuse (issue 15), first.
#[tokio::test(start_paused = true)]
async fn plan_view_names_what_a_node_without_rsync_3_refuses() {
    let plain = render(&staged().await, 160, 40);
    assert!(!plain.contains("without rsync 3"), "{plain}");
    let mut app = demo::staged_app_with(|d| {
        d.machine.plan.old_rsync_refusals = vec![
            "mac-g01: \"/srv/my skills/abc/\" (the destination): a character the node's login shell would interpret".into(),
            "every node: \"a\\nb.md\": a control character in the name".into(),
        ];
    })
    .await;
    key(&mut app, KeyCode::Char('p'), AT + 1_000);
    assert_eq!(app.view(), View::Plan);
    let s = render(&app, 160, 40);
    assert!(
        s.contains("refused on a node without rsync 3 (no -s; 2 names, all in --check): mac-g01: \"/srv/my skills/abc/\" (the destination)"),
        "{s}"
    );
}
