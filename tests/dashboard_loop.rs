//! The dashboard's real event loop, in process: keys in through its input stream, polls
//! from the simulated mesh through the real poll scheduler (a simulator: no node is
//! touched), frames out on a `TestBackend`, the effects carried out by the loop itself.
//! tmux (tests/tui_e2e.rs) stays for what only a real terminal shows: signals, the
//! shell, the mouse.
#![allow(clippy::unwrap_used)]

#[path = "common/shared_screen.rs"]
mod shared_screen;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use meshroll::dashboard::event_loop::{self, Dashboard};
use meshroll::dashboard::{App, Setup};
use meshroll::poller::{Cadence, PollCtx};
use meshroll::remote::Transport;
use meshroll::remote::sim::SimMesh;
use meshroll::terminal::{Incoming, NoHandover};
use meshroll::ui::theme::Theme;
use ratatui::Terminal;
use shared_screen::SharedScreen;
use tokio::sync::mpsc;

/// The screen, once it satisfies `pred` (within 30 s; else a panic with the screen).
async fn wait_for(screen: &SharedScreen, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = screen.text();
        if pred(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}; screen:\n{s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The dashboard over `app` and the simulated mesh in `ctx`: the default theme, no
/// rollout, node actions run as a tester with a 5 s limit and no audit log.
fn dashboard(app: App, ctx: Arc<PollCtx>) -> Dashboard {
    Dashboard {
        app,
        ctx,
        theme: Theme::load("default").unwrap(),
        runner: None,
        actions: meshroll::actions::run::RunEnv {
            who: "tester@here/pid1".into(),
            host: "here".into(),
            timeout: Duration::from_secs(5),
            audit: None,
        },
    }
}

fn key(input: &mpsc::UnboundedSender<Incoming>, c: KeyCode) {
    let k = TermEvent::Key(KeyEvent::new(c, KeyModifiers::NONE));
    input.send(Incoming::Term(k)).unwrap();
}

/// The row of `node` in the fleet table on `screen`.
fn row<'a>(screen: &'a str, node: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {node} ")) || l.contains(&format!("▶{node} ")))
        .unwrap_or_else(|| panic!("no row for {node}:\n{screen}"))
}

/// Keys move the selection and open the node view; `r` there polls the node now (the
/// loop hands the effect to the scheduler, the simulated node answers drained, its row
/// and the counts follow); `Esc` is back on the table; `q` ends the loop.
#[tokio::test]
async fn keys_select_and_open_a_node_and_a_poll_now_changes_its_row() {
    let (inv, mesh) = SimMesh::demo();
    // One round at start, then none for ten minutes: only `r` polls the node again.
    let mut cadence = Cadence::for_timeout(Duration::from_secs(10));
    cadence.fast = Duration::from_secs(600);
    cadence.slow = Duration::from_secs(600);
    let ctx = Arc::new(PollCtx {
        transport: Transport::sim(mesh),
        nodes: inv.nodes.clone(),
        token: None,
        cadence,
    });
    let setup = Setup {
        rules: ctx.cadence.rules(),
        ..Setup::default()
    };
    let app = App::new(
        "demo (simulated mesh)".into(),
        inv.nodes.clone(),
        inv.classes.clone(),
        setup,
    );
    let d = dashboard(app, ctx.clone());
    let screen = SharedScreen::new(160, 40);
    let mut terminal = Terminal::new(screen.clone()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let input = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let drive = async {
        let s = wait_for(&screen, "every node polled", |s| {
            s.contains("✔ 21 healthy") && s.contains("◐ 3 draining") && s.contains("✖ 2 dead")
        })
        .await;
        assert!(row(&s, "mac-g01").starts_with("\"▶mac-g01"), "{s}");
        assert!(row(&s, "mac-g03").contains("✔ healthy"), "{s}");
        key(&tx, KeyCode::Char('j'));
        key(&tx, KeyCode::Down);
        wait_for(&screen, "the selection on mac-g03", |s| {
            row(s, "mac-g03").starts_with("\"▶mac-g03")
        })
        .await;
        key(&tx, KeyCode::Enter);
        wait_for(&screen, "mac-g03's node view", |s| {
            s.contains(" node ──") && s.contains(" mac-g03  gateway  mac-g03.mesh.internal")
        })
        .await;
        // The node is drained behind the dashboard's back; `r` polls it now.
        let mesh = ctx.transport.as_any().downcast_ref::<SimMesh>().unwrap();
        let g03 = inv.nodes.iter().position(|n| n.name == "mac-g03").unwrap();
        mesh.with_node(g03, |n| n.drained = true).unwrap();
        key(&tx, KeyCode::Char('r'));
        wait_for(&screen, "mac-g03 draining in its node view", |s| {
            s.contains(" mac-g03  gateway  mac-g03.mesh.internal  ◐ draining")
        })
        .await;
        key(&tx, KeyCode::Esc);
        let s = wait_for(&screen, "the table with mac-g03 drained", |s| {
            s.contains("◐ 4 draining") && s.contains("✔ 20 healthy") && !s.contains(" node ──")
        })
        .await;
        key(&tx, KeyCode::Char('q'));
        s
    };
    let mut no_handover = NoHandover;
    let (ended, fleet) = tokio::join!(
        event_loop::run(d, &mut terminal, input, &mut no_handover),
        drive
    );
    let app = ended.expect("the loop ends on q");
    assert_eq!(
        app.selected_node(),
        Some(meshroll::inventory::NodeId::new(2))
    );
    insta::assert_snapshot!(fleet);
}

/// A signal arriving on the input stream (SIGTERM, SIGHUP, SIGINT from the terminal
/// guard) ends the loop like `q` when no node is in flight: the app comes back.
#[tokio::test]
async fn a_signal_on_the_input_ends_the_loop() {
    let (inv, mesh) = SimMesh::demo();
    let ctx = Arc::new(PollCtx {
        transport: Transport::sim(mesh),
        nodes: inv.nodes.clone(),
        token: None,
        cadence: Cadence::for_timeout(Duration::from_secs(10)),
    });
    let app = App::new(
        "demo (simulated mesh)".into(),
        inv.nodes.clone(),
        inv.classes.clone(),
        Setup::default(),
    );
    let d = dashboard(app, ctx);
    let screen = SharedScreen::new(100, 30);
    let mut terminal = Terminal::new(screen.clone()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let input = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let drive = async {
        wait_for(&screen, "the fleet table", |s| s.contains("mac-g01")).await;
        tx.send(Incoming::Signal("SIGTERM")).unwrap();
    };
    let mut no_handover = NoHandover;
    let (ended, ()) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(
            event_loop::run(d, &mut terminal, input, &mut no_handover),
            drive
        )
    })
    .await
    .expect("the loop ends on SIGTERM");
    let app = ended.expect("a clean end");
    assert_eq!(app.view(), meshroll::dashboard::View::Fleet);
}
