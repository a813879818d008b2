//! The one harness of the UI tests: the demo fleet (the simulated mesh of `meshroll
//! demo`, a simulator: no node is touched) polled into an [`App`], and the ways into
//! it a test has: keys, clicks, the wheel, a resize, a poll's answer, all as events
//! through `App::handle` (no test writes a field); drawing it into ratatui's
//! `TestBackend`.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use meshroll::dashboard::{App, AppEffect, AppEvent, Setup, View};
use meshroll::inventory::Inventory;
use meshroll::poller::{Cadence, PollResult};
use meshroll::remote::sim::SimMesh;
use meshroll::rollout::plan::{self, Plan, PlanOptions};
use meshroll::rollout::state::RolloutState;
use meshroll::rollout::{Machine, Mode};
use meshroll::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use std::time::Duration;

/// When the demo was polled.
pub const AT: u64 = 1_800_000_000_000;

/// When keys are pressed unless a test says otherwise: the rows' time.
pub const KEY_AT: u64 = AT + 2_000;

/// An app over `inv`'s fleet, nothing polled yet.
pub fn new_app(title: &str, inv: &Inventory, setup: Setup) -> App {
    App::new(title.into(), inv.nodes.clone(), inv.classes.clone(), setup)
}

/// The demo fleet, every node polled once at [`AT`], its rows brought up 2 s later.
pub async fn demo_app() -> App {
    demo_app_with(Setup::default(), |_, _| {}).await
}

/// [`demo_app`] set up with `setup`, each poll's answer bent by `bend` (the node's
/// name, the answer) before it is fed.
pub async fn demo_app_with(setup: Setup, bend: impl Fn(&str, &mut PollResult)) -> App {
    let (inv, mesh) = SimMesh::demo();
    let mut app = new_app("demo (simulated mesh)", &inv, setup);
    poll_all_with(&mut app, &mesh, AT, bend).await;
    app.update_rows(AT + 2_000);
    app
}

/// A generated mesh of `n` nodes (the demo's classes and troubles in the demo's
/// shares, `meshroll demo --nodes N --seed S`), every node polled once at [`AT`].
pub async fn generated_app(n: usize, seed: u64) -> App {
    let (inv, mesh) = SimMesh::generate(n, seed);
    let mut app = new_app(&format!("generated mesh of {n}"), &inv, Setup::default());
    poll_all(&mut app, &mesh, AT).await;
    app.update_rows(AT + 2_000);
    app
}

/// A rollout of the demo bundle over `plan`, staged (paused) at [`AT`].
pub fn staged(inv: &Inventory, plan: Plan) -> RolloutState {
    let machine = Machine::new(plan, inv.nodes.len(), 42, Mode::Paused);
    let bundle = meshroll::remote::sim::demo_bundle();
    RolloutState::new(machine, inv.nodes.clone(), "r-test".into(), &bundle, AT)
}

/// The demo mesh polled once, with a rollout of the demo bundle staged (paused).
pub async fn staged_app() -> App {
    staged_app_with(|_| {}).await
}

/// [`staged_app`] with its staged rollout edited by `edit` first.
pub async fn staged_app_with(edit: impl FnOnce(&mut RolloutState)) -> App {
    let (inv, mesh) = SimMesh::demo();
    let p = plan::make(&inv, &PlanOptions::default()).unwrap();
    let mut d = staged(&inv, p);
    edit(&mut d);
    let setup = Setup {
        rollout: Some(d),
        ..Setup::default()
    };
    let mut app = new_app("demo (simulated mesh)", &inv, setup);
    poll_all(&mut app, &mesh, AT).await;
    app.frame(AT);
    app
}

/// Poll every node of `mesh` once (gateway status and doctor included) into `app`,
/// as answered at `at`.
pub async fn poll_all(app: &mut App, mesh: &SimMesh, at: u64) {
    poll_all_with(app, mesh, at, |_, _| {}).await;
}

/// [`poll_all`], each answer bent by `bend` (the node's name, the answer) first.
pub async fn poll_all_with(
    app: &mut App,
    mesh: &SimMesh,
    at: u64,
    bend: impl Fn(&str, &mut PollResult),
) {
    let req = Cadence::for_timeout(Duration::from_secs(10)).request(true, true);
    poll_all_asking(app, mesh, &req, at, bend).await;
}

/// Every node of `mesh` polled once with `req` into `app`, in inventory order, as
/// answered at `at`, each answer bent by `bend` (the node's name, the answer) first.
pub async fn poll_all_asking(
    app: &mut App,
    mesh: &SimMesh,
    req: &meshroll::remote::PollRequest,
    at: u64,
    bend: impl Fn(&str, &mut PollResult),
) {
    let nodes = app.nodes().clone();
    for (node, n) in nodes.enumerate() {
        let result = mesh.poll(node.index(), req).await;
        let mut r = PollResult {
            node,
            at,
            took_ms: 1,
            result,
        };
        bend(&n.name, &mut r);
        feed(app, r);
    }
}

/// A poll's answer, handed in as the scheduler does (at the poll's time).
pub fn feed(app: &mut App, r: PollResult) -> Vec<AppEffect> {
    let at = r.at;
    app.handle(AppEvent::Poll(Box::new(r)), at).effects
}

/// A key pressed at [`KEY_AT`].
pub fn key(app: &mut App, c: KeyCode) -> Vec<AppEffect> {
    key_at(app, c, KEY_AT)
}

/// A key pressed at `now`.
pub fn key_at(app: &mut App, c: KeyCode, now: u64) -> Vec<AppEffect> {
    press_at(app, c, KeyModifiers::NONE, now)
}

/// A key with modifiers pressed at `now`.
pub fn press_at(app: &mut App, c: KeyCode, m: KeyModifiers, now: u64) -> Vec<AppEffect> {
    let k = TermEvent::Key(KeyEvent::new(c, m));
    app.handle(AppEvent::Input(k), now).effects
}

/// A left click on screen row `row` at `now`.
pub fn click_at(app: &mut App, row: u16, now: u64) -> Vec<AppEffect> {
    mouse_at(app, MouseEventKind::Down(MouseButton::Left), 2, row, now)
}

/// The wheel (`ScrollUp`/`ScrollDown`) at [`KEY_AT`].
pub fn wheel(app: &mut App, kind: MouseEventKind) -> Vec<AppEffect> {
    mouse_at(app, kind, 10, 10, KEY_AT)
}

fn mouse_at(
    app: &mut App,
    kind: MouseEventKind,
    column: u16,
    row: u16,
    now: u64,
) -> Vec<AppEffect> {
    let m = TermEvent::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    });
    app.handle(AppEvent::Input(m), now).effects
}

/// The terminal resized to `w` x `h` at `now`.
pub fn resize_at(app: &mut App, w: u16, h: u16, now: u64) {
    app.handle(AppEvent::Input(TermEvent::Resize(w, h)), now);
}

/// Select the node called `name` and show its node view, with keys: back to the
/// fleet table, the first row, down to the node, Enter.
pub fn open_node(app: &mut App, name: &str) {
    let at = app
        .visible()
        .iter()
        .position(|&i| app.rows()[i].node == name)
        .unwrap_or_else(|| panic!("no node {name} in the fleet table"));
    if app.view() != View::Fleet {
        key(app, KeyCode::Esc);
    }
    key(app, KeyCode::Home);
    for _ in 0..at {
        key(app, KeyCode::Down);
    }
    key(app, KeyCode::Enter);
    assert_eq!(app.view(), View::Node);
    assert_eq!(
        app.selected_node().map(|i| app.rows()[i].node.as_str()),
        Some(name)
    );
}

/// The whole screen drawn with `theme` at `w` x `h`.
pub fn draw(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| meshroll::ui::draw(f, app, theme)).unwrap();
    t.backend().buffer().clone()
}

/// The whole screen drawn with the default theme at `w` x `h`, one string per row.
pub fn render_lines(app: &App, w: u16, h: u16) -> Vec<String> {
    let buf = draw(app, &Theme::load("default").unwrap(), w, h);
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

/// The whole screen drawn with the default theme at `w` x `h`, as `TestBackend`
/// prints it (one quoted line per row).
pub fn render(app: &App, w: u16, h: u16) -> String {
    let theme = Theme::load("default").unwrap();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| meshroll::ui::draw(f, app, &theme)).unwrap();
    format!("{}", t.backend())
}
