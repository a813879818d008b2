//! The demo fleet (the simulated mesh of `meshroll demo`) polled once, as an [`App`]
//! ready to draw, and drawing it into ratatui's `TestBackend`.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use meshroll::dashboard::{App, View};
use meshroll::poller::{self, Cadence, PollResult};
use meshroll::remote::sim::SimMesh;
use meshroll::rollout::plan::{self, PlanOptions};
use meshroll::rollout::state::RolloutState;
use meshroll::rollout::{Machine, Mode};
use meshroll::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use std::time::Duration;

/// When the demo was polled.
pub const AT: u64 = 1_800_000_000_000;

/// The demo fleet, every node polled once at [`AT`], refreshed 2 s later.
pub async fn demo_app() -> App {
    let (inv, mesh) = SimMesh::demo();
    let mut app = App::new(
        "demo (simulated mesh)".into(),
        inv.nodes.clone(),
        inv.classes.clone(),
    );
    poll_all(&mut app, &mesh, AT).await;
    app.refresh(AT + 2_000);
    app
}

/// A generated mesh of `n` nodes (the demo's classes and troubles in the demo's
/// shares, `meshroll demo --nodes N --seed S`), every node polled once at [`AT`].
pub async fn generated_app(n: usize, seed: u64) -> App {
    let (inv, mesh) = SimMesh::generate(n, seed);
    let mut app = App::new(
        format!("generated mesh of {n}"),
        inv.nodes.clone(),
        inv.classes.clone(),
    );
    poll_all(&mut app, &mesh, AT).await;
    app.refresh(AT + 2_000);
    app
}

/// The demo mesh polled once, with a rollout of the demo bundle staged (paused).
pub async fn staged_app() -> App {
    let (inv, mesh) = SimMesh::demo();
    let mut app = App::new(
        "demo (simulated mesh)".into(),
        inv.nodes.clone(),
        inv.classes.clone(),
    );
    poll_all(&mut app, &mesh, AT).await;
    let p = plan::make(&inv, &PlanOptions::default()).unwrap();
    let machine = Machine::new(p, inv.nodes.len(), 42, Mode::Paused);
    let bundle = meshroll::remote::sim::demo_bundle();
    app.rollout = Some(RolloutState::new(
        machine,
        inv.nodes.clone(),
        "r-test".into(),
        &bundle,
        AT,
    ));
    app.frame(AT);
    app
}

/// Poll every node of `mesh` once (gateway status and doctor included) into `app`,
/// as answered at `at`.
pub async fn poll_all(app: &mut App, mesh: &SimMesh, at: u64) {
    let req = Cadence::for_timeout(Duration::from_secs(10)).request(true, true);
    for node in app.nodes.ids() {
        let result = mesh.poll(node.index(), &req).await;
        poller::apply(
            &mut app.states[node],
            PollResult {
                node,
                at,
                took_ms: 1,
                result,
            },
        );
    }
}

/// Select the node called `name` and show its node view.
pub fn open_node(app: &mut App, name: &str) {
    let at = app
        .visible()
        .iter()
        .position(|&i| app.rows[i].node == name)
        .unwrap_or_else(|| panic!("no node {name} in the fleet table"));
    app.selected_row = at;
    app.view = View::Node;
    assert_eq!(
        app.selected_node().map(|i| app.rows[i].node.as_str()),
        Some(name)
    );
}

/// The whole screen drawn with `theme` at `w` x `h`.
pub fn draw(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| meshroll::ui::draw(f, app, theme)).unwrap();
    t.backend().buffer().clone()
}
