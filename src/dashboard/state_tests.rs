//! [`App::handle`] with a clock fixed by hand and no runtime: keys, clicks, the
//! rollout's commands and the executor's reports in, effects out.

use std::path::Path;

use crossterm::event::{Event as TermEvent, KeyCode, KeyModifiers, MouseEvent, MouseEventKind};

use super::{App, AppEffect, AppEvent, Setup, View};
use crate::dashboard::test_harness::Drive;
use crate::inventory::{Inventory, Node, NodeId};
use crate::rollout::events::ExecEvent;
use crate::rollout::plan::{self, PlanOptions};
use crate::rollout::state::RolloutState;
use crate::rollout::{Command, Failure, Input, Machine, Mode, Phase, Record};

const T0: u64 = 1_800_000_000_000;

fn inventory(gateways: usize, workers: usize) -> Inventory {
    let mk = |name: String, class: &str| Node::new(name, class);
    let mut nodes: Vec<Node> = (1..=gateways)
        .map(|i| mk(format!("g{i}"), "gateway"))
        .collect();
    nodes.extend((1..=workers).map(|i| mk(format!("w{i:02}"), "worker")));
    Inventory::from_nodes(Path::new("t"), nodes).expect("inventory")
}

fn app(gateways: usize, workers: usize) -> App {
    let inv = inventory(gateways, workers);
    let mut app = App::new("t".into(), inv.nodes, inv.classes, Setup::default());
    app.frame(T0);
    app
}

/// An app with a rollout of the demo bundle staged, paused.
fn rolling(gateways: usize, workers: usize) -> App {
    rolling_with(gateways, workers, Setup::default())
}

/// [`rolling`], set up with `setup` (its rollout replaced by the staged one).
fn rolling_with(gateways: usize, workers: usize, setup: Setup) -> App {
    let inv = inventory(gateways, workers);
    let p = plan::make(&inv, &PlanOptions::default()).expect("plan");
    let machine = Machine::new(p, inv.nodes.len(), 42, Mode::Paused);
    let bundle = crate::remote::sim::demo_bundle();
    let state = RolloutState::new(machine, inv.nodes.clone(), "r1".into(), &bundle, T0);
    let setup = Setup {
        rollout: Some(state),
        ..setup
    };
    let mut app = App::new("t".into(), inv.nodes, inv.classes, setup);
    app.frame(T0);
    app
}

fn key_with(app: &mut App, code: KeyCode, modifiers: KeyModifiers, now: u64) -> Vec<AppEffect> {
    app.press_at(code, modifiers, now)
}

fn key(app: &mut App, c: char) -> Vec<AppEffect> {
    key_with(app, KeyCode::Char(c), KeyModifiers::NONE, T0)
}

fn click(app: &mut App, row: u16) -> Vec<AppEffect> {
    app.click_at(row, T0)
}

/// The machine's effects in the app's effects.
fn machine_effects(effects: &[AppEffect]) -> Vec<crate::rollout::Effect> {
    effects
        .iter()
        .flat_map(|e| match e {
            AppEffect::Rollout(v) => v.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn runs(effects: &[AppEffect]) -> Vec<(usize, Phase)> {
    machine_effects(effects)
        .into_iter()
        .filter_map(|e| match e {
            crate::rollout::Effect::Run { node, phase, .. } => Some((node.index(), phase)),
            _ => None,
        })
        .collect()
}

#[test]
fn poll_keys_ask_for_the_selected_node_and_quit_keys_quit() {
    let mut app = app(2, 4);
    assert_eq!(
        key(&mut app, 'r'),
        vec![AppEffect::Poll {
            node: NodeId::new(0),
            doctor: false
        }]
    );
    key(&mut app, 'j');
    key(&mut app, 'j');
    assert_eq!(
        key(&mut app, 'd'),
        vec![AppEffect::Poll {
            node: NodeId::new(2),
            doctor: true
        }]
    );
    assert_eq!(
        app.flash.as_deref(),
        Some("polling w01 now (gateway status and doctor)")
    );
    assert_eq!(key(&mut app, 'R'), vec![AppEffect::PollAll]);
    // The worker tab: the first row is the first worker.
    key(&mut app, '2');
    assert_eq!(
        key(&mut app, 'r'),
        vec![AppEffect::Poll {
            node: NodeId::new(2),
            doctor: false
        }]
    );
    assert_eq!(
        key_with(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL, T0),
        vec![AppEffect::Quit]
    );
    assert_eq!(key(&mut app, 'q'), vec![AppEffect::Quit]);
}

#[test]
fn keys_typed_into_the_filter_ask_for_nothing() {
    let mut app = app(2, 4);
    assert_eq!(key(&mut app, '/'), vec![]);
    for c in "w0q".chars() {
        assert_eq!(key(&mut app, c), vec![], "{c} is text in the filter");
    }
    assert_eq!(app.filter, "w0q");
    key_with(&mut app, KeyCode::Backspace, KeyModifiers::NONE, T0);
    key_with(&mut app, KeyCode::Enter, KeyModifiers::NONE, T0);
    assert_eq!(app.visible_len(), 4);
    assert_eq!(app.selected_node(), Some(NodeId::new(2)));
}

#[test]
fn without_a_rollout_rollout_keys_do_nothing_and_ticks_ask_nothing() {
    let mut app = app(1, 2);
    for c in ['n', 'c', 'x', 'A', 'p'] {
        assert_eq!(key(&mut app, c), vec![], "{c}");
    }
    assert!(app.confirm.is_none());
    assert_eq!(app.view, View::Fleet);
    assert_eq!(app.effects_of(AppEvent::Tick, T0 + 1000), vec![]);
}

#[test]
fn rollout_keys_become_machine_commands_at_the_time_given() {
    let mut app = rolling(2, 4);
    // Paused: the clock moves, the first stage opens, no phase starts.
    let effects = app.effects_of(AppEvent::Tick, T0 + 1_000);
    assert_eq!(effects[0], AppEffect::Heartbeat);
    assert_eq!(runs(&effects), vec![]);
    // n steps one phase: the gateway canary's baseline runs.
    let effects = key_with(&mut app, KeyCode::Char('n'), KeyModifiers::NONE, T0 + 2_000);
    assert_eq!(runs(&effects), vec![(0, Phase::Baseline)]);
    assert!(
        machine_effects(&effects).contains(&crate::rollout::Effect::Journal(Record::Operator {
            command: Command::StepPhase
        })),
        "{effects:?}"
    );
    // The executor reports the baseline done 1.5 s later: the progress line is timed
    // with the clock given, from the rollout's start.
    // (Baseline and drain are one script: the executor reports both.)
    for phase in [Phase::Baseline, Phase::Drain] {
        let done = ExecEvent::Input(Input::PhaseDone {
            node: NodeId::new(0),
            phase,
            note: "ok".into(),
        });
        app.effects_of(AppEvent::Exec(Box::new(done)), T0 + 3_500);
    }
    let d = app.rollout.as_ref().expect("rollout");
    assert!(
        d.log
            .iter()
            .any(|l| l.text.starts_with("[   3.5s] g1 baseline ok")),
        "{:?}",
        d.log
    );
    // c runs the rollout: the next phase starts at once.
    let effects = key(&mut app, 'c');
    assert_eq!(runs(&effects), vec![(0, Phase::Sync)]);
    // space pauses it, and resumes it.
    assert!(
        machine_effects(&key(&mut app, ' ')).contains(&crate::rollout::Effect::Journal(
            Record::Operator {
                command: Command::Pause
            }
        ))
    );
    assert_eq!(
        app.rollout.as_ref().map(|d| d.machine.mode),
        Some(Mode::Paused)
    );
    key(&mut app, ' ');
    assert_eq!(
        app.rollout.as_ref().map(|d| d.machine.mode),
        Some(Mode::Run)
    );
}

#[test]
fn dangerous_commands_wait_for_y() {
    let mut app = rolling(2, 4);
    key(&mut app, 'j');
    assert_eq!(key(&mut app, 'x'), vec![]);
    assert_eq!(
        app.confirm,
        Some((
            "skip g2? (it finishes its phase and is put back)".to_string(),
            Command::Skip(NodeId::new(1))
        ))
    );
    // Any other key cancels.
    assert_eq!(key(&mut app, 'n'), vec![]);
    assert!(app.confirm.is_none());
    assert_eq!(app.flash.as_deref(), Some("cancelled"));
    let run = |app: &App| {
        app.rollout
            .as_ref()
            .map(|d| d.machine.nodes[NodeId::new(1)].run.clone())
    };
    assert_ne!(run(&app), Some(crate::rollout::NodeRun::Skipped));
    key(&mut app, 'x');
    let effects = key(&mut app, 'y');
    assert!(
        machine_effects(&effects).contains(&crate::rollout::Effect::Journal(Record::NodeSkipped {
            node: NodeId::new(1)
        })),
        "{effects:?}"
    );
    assert_eq!(run(&app), Some(crate::rollout::NodeRun::Skipped));
    // B asks about the whole class.
    key(&mut app, 'B');
    assert_eq!(
        app.confirm,
        Some((
            "roll back every gateway node (2)?".to_string(),
            Command::Rollback(vec![NodeId::new(0), NodeId::new(1)])
        ))
    );
}

#[test]
fn executor_reports_reach_the_rollout_state() {
    let mut app = rolling(1, 2);
    app.effects_of(AppEvent::Tick, T0);
    assert_eq!(runs(&key(&mut app, 'n')), vec![(0, Phase::Baseline)]);
    let out = ExecEvent::Output {
        node: NodeId::new(0),
        line: "warming".into(),
    };
    assert_eq!(app.effects_of(AppEvent::Exec(Box::new(out)), T0), vec![]);
    let failed = ExecEvent::Input(Input::PhaseFailed {
        node: NodeId::new(0),
        phase: Phase::Baseline,
        failure: Failure::Fatal("no gateway".into()),
    });
    let effects = app.effects_of(AppEvent::Exec(Box::new(failed)), T0 + 100);
    assert!(!machine_effects(&effects).is_empty());
    let d = app.rollout.as_ref().expect("rollout");
    assert_eq!(
        d.output[NodeId::new(0)].iter().collect::<Vec<_>>(),
        vec!["warming"]
    );
    assert!(d.machine.nodes[NodeId::new(0)].last_error().is_some());
}

#[test]
fn a_click_selects_the_row_under_it_through_the_scroll_offset() {
    let mut app = app(2, 40);
    // 20 rows: 3 above the table, 1 footer: a table of 16 rows.
    app.effects_of(AppEvent::Input(TermEvent::Resize(100, 20)), T0);
    assert_eq!(app.table_rows(), 16);
    click(&mut app, 5);
    assert_eq!(app.cursor, 2);
    // The last row: the window scrolls to show it at the bottom.
    key(&mut app, 'G');
    assert_eq!(app.cursor, 41);
    assert_eq!(app.window_top, 41 + 1 - 16);
    click(&mut app, 4);
    assert_eq!(app.cursor, 27);
    assert_eq!(app.selected_node(), Some(NodeId::new(27)));
    // Above the table and in the footer: nothing changes.
    click(&mut app, 1);
    click(&mut app, 19);
    assert_eq!(app.cursor, 27);
    // Moving up inside the window does not scroll it; past its top it does.
    key(&mut app, 'k');
    assert_eq!((app.cursor, app.window_top), (26, 26));
    key(&mut app, 'k');
    assert_eq!((app.cursor, app.window_top), (25, 25));
    // A smaller screen keeps the selection in its window.
    app.effects_of(AppEvent::Input(TermEvent::Resize(100, 10)), T0);
    assert_eq!(app.table_rows(), 6);
    assert!((app.window_top..app.window_top + 6).contains(&app.cursor));
}

fn press(app: &mut App, code: KeyCode) {
    key_with(app, code, KeyModifiers::NONE, T0);
}

fn wheel(app: &mut App, kind: MouseEventKind) {
    let m = TermEvent::Mouse(MouseEvent {
        kind,
        column: 3,
        row: 8,
        modifiers: KeyModifiers::NONE,
    });
    app.effects_of(AppEvent::Input(m), T0);
}

/// In the node view the moves scroll it (the selection stays); `]`/`[` step to the
/// next/previous node from its top; the drawing's limit brings `G` back to the end.
#[test]
fn in_the_node_view_the_moves_and_the_wheel_scroll_it() {
    use super::super::scroll::Scroll;
    let mut app = app(2, 4);
    app.effects_of(AppEvent::Input(TermEvent::Resize(80, 24)), T0);
    key(&mut app, 'j');
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Node);
    key(&mut app, 'j');
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::PageDown);
    assert_eq!((app.scroll.node, app.cursor), (12, 1));
    key(&mut app, 'k');
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.scroll.node, 0);
    wheel(&mut app, MouseEventKind::ScrollDown);
    wheel(&mut app, MouseEventKind::ScrollDown);
    wheel(&mut app, MouseEventKind::ScrollUp);
    assert_eq!((app.scroll.node, app.cursor), (3, 1));
    key(&mut app, 'G');
    app.drawn(&Scroll {
        node: 30,
        ..Scroll::UNLIMITED
    });
    assert_eq!(app.scroll.node, 30);
    key(&mut app, 'k');
    assert_eq!(app.scroll.node, 29, "from the end, not from past it");
    key(&mut app, 'g');
    assert_eq!(app.scroll.node, 0);
    key(&mut app, 'G');
    key(&mut app, ']');
    assert_eq!((app.scroll.node, app.cursor), (0, 2));
    key(&mut app, '[');
    key(&mut app, '[');
    assert_eq!(app.selected_node(), Some(NodeId::new(0)));
    assert_eq!(app.view, View::Node);
    // Back in the table the moves and the wheel move the selection again.
    press(&mut app, KeyCode::Esc);
    key(&mut app, 'j');
    wheel(&mut app, MouseEventKind::ScrollDown);
    assert_eq!(app.cursor, 2);
}

/// The skew view and the help scroll on their own; opening a view starts at its top.
#[test]
fn the_skew_view_and_the_help_scroll_and_open_at_their_top() {
    let mut app = app(2, 4);
    key(&mut app, 'S');
    assert_eq!(app.view, View::Skew);
    press(&mut app, KeyCode::PageDown);
    key(&mut app, 'j');
    assert_eq!((app.scroll.skew, app.cursor), (11, 0));
    key(&mut app, '?');
    key(&mut app, 'j');
    key(&mut app, 'j');
    wheel(&mut app, MouseEventKind::ScrollDown);
    assert_eq!((app.scroll.help, app.scroll.skew), (5, 11));
    assert!(app.help, "moves keep the help up");
    press(&mut app, KeyCode::Esc);
    assert!(!app.help);
    key(&mut app, '?');
    assert_eq!(app.scroll.help, 0);
    press(&mut app, KeyCode::Esc);
    key(&mut app, 'S');
    key(&mut app, 'S');
    assert_eq!((app.view, app.scroll.skew), (View::Skew, 0));
    key(&mut app, 'G');
    assert_eq!(
        app.scroll.skew,
        usize::MAX,
        "the drawing clamps it to the end"
    );
}

/// The plan's log counts back from its newest line: `k` goes back, `j` forward, `g`
/// to the oldest, `G` follows the newest again.
#[test]
fn the_plan_log_scrolls_back_from_its_newest_line() {
    use super::super::scroll::Scroll;
    let mut app = rolling(1, 2);
    key(&mut app, 'p');
    assert_eq!(app.view, View::Plan);
    key(&mut app, 'k');
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::PageUp);
    key(&mut app, 'j');
    assert_eq!(app.scroll.plan, 11);
    key(&mut app, 'g');
    app.drawn(&Scroll {
        plan: 40,
        ..Scroll::UNLIMITED
    });
    assert_eq!(app.scroll.plan, 40);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.scroll.plan, 30);
    key(&mut app, 'G');
    assert_eq!(app.scroll.plan, 0);
    assert_eq!(app.cursor, 0, "the selection did not move");
}

#[test]
fn marks_toggle_move_on_and_clear() {
    let mut app = app(2, 4);
    // Nothing marked: the targets are the selected node.
    assert_eq!(app.action_targets(), vec![NodeId::new(0)]);
    assert_eq!(key(&mut app, 'm'), vec![]);
    assert!(app.marked.contains(&NodeId::new(0)));
    // The cursor moved on: a second `m` marks the next row.
    assert_eq!(app.selected_node(), Some(NodeId::new(1)));
    key(&mut app, 'j');
    key(&mut app, 'm');
    assert_eq!(app.flash.as_deref(), Some("marked w01 (2 marked)"));
    // The targets are the marked nodes, in inventory order, wherever the cursor is.
    assert_eq!(app.selected_node(), Some(NodeId::new(3)));
    assert_eq!(app.action_targets(), vec![NodeId::new(0), NodeId::new(2)]);
    // `m` on a marked node unmarks it.
    key(&mut app, 'g');
    key(&mut app, 'm');
    assert_eq!(app.action_targets(), vec![NodeId::new(2)]);
    assert_eq!(app.flash.as_deref(), Some("unmarked g1 (1 marked)"));
    // Marks survive a filter that hides them.
    key(&mut app, '/');
    key(&mut app, 'g');
    key_with(&mut app, KeyCode::Enter, KeyModifiers::NONE, T0);
    assert_eq!(app.action_targets(), vec![NodeId::new(2)]);
    // `M` clears them: the targets fall back to the selected node.
    key(&mut app, 'M');
    assert!(app.marked.is_empty());
    assert_eq!(app.flash.as_deref(), Some("cleared 1 mark"));
    assert_eq!(
        app.action_targets(),
        app.selected_node().into_iter().collect::<Vec<_>>()
    );
}

/// `*` marks the filtered set: every node the table shows under the `/` filter, and
/// only those; an action then names them all.
#[test]
fn star_marks_every_node_the_filter_shows() {
    let mut app = app(2, 4);
    key(&mut app, '/');
    for c in "w0".chars() {
        key(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    let shown = app.with_visible(|v| v.to_vec());
    assert_eq!(shown.len(), 4, "the four workers");
    key(&mut app, '*');
    assert_eq!(app.action_targets(), shown);
    assert_eq!(
        app.flash.as_deref(),
        Some("marked the 4 nodes shown (4 marked)")
    );
}

#[test]
fn marks_are_rebindable_and_in_a_rollout_too() {
    let keymap = crate::keymap::KeyMap::parse("[keys]\nmark = \"v\"\n", "k.toml").expect("keys");
    let mut app = rolling_with(
        1,
        2,
        Setup {
            keymap,
            ..Setup::default()
        },
    );
    assert_eq!(key(&mut app, 'm'), vec![]);
    assert!(app.marked.is_empty(), "m is free once mark is rebound");
    key(&mut app, 'v');
    assert_eq!(app.action_targets(), vec![NodeId::new(0)]);
    // Space still pauses and resumes the rollout, not marking.
    key(&mut app, ' ');
    assert_eq!(app.marked.len(), 1);
}

#[test]
fn no_node_no_targets() {
    let mut app = app(1, 1);
    key(&mut app, '/');
    key(&mut app, 'z');
    key_with(&mut app, KeyCode::Enter, KeyModifiers::NONE, T0);
    assert_eq!(app.visible_len(), 0);
    assert_eq!(key(&mut app, 'm'), vec![]);
    assert!(app.marked.is_empty());
    assert_eq!(app.action_targets(), vec![]);
}

#[test]
fn the_skew_views_key_keeps_the_staged_rollout_to_the_marked_nodes_after_a_yes() {
    let mut app = rolling(2, 4);
    // Outside the skew view it says where to go; nothing is asked.
    key(&mut app, 'F');
    assert!(app.confirm.is_none());
    // Mark w02 and w04 (rows 3 and 5), open the skew view, press F.
    key(&mut app, 'j');
    key(&mut app, 'j');
    key(&mut app, 'j');
    key(&mut app, 'm');
    key(&mut app, 'j');
    key(&mut app, 'm');
    key(&mut app, 'S');
    assert_eq!(app.view, View::Skew);
    assert_eq!(key(&mut app, 'F'), vec![]);
    let (q, cmd) = app.confirm.clone().expect("asks first");
    assert!(q.contains("to the 2 marked nodes only (w02, w04)"), "{q}");
    assert_eq!(cmd, Command::Only(vec![NodeId::new(3), NodeId::new(5)]));
    // Anything but y cancels: the plan is whole.
    key(&mut app, 'n');
    let plan_nodes = |app: &App| {
        app.rollout.as_ref().map(|d| {
            d.machine
                .plan
                .nodes()
                .map(|n| n.index())
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(plan_nodes(&app).map(|v| v.len()), Some(6));
    key(&mut app, 'F');
    let effects = key(&mut app, 'y');
    assert_eq!(plan_nodes(&app), Some(vec![3, 5]));
    assert!(
        machine_effects(&effects).contains(&crate::rollout::Effect::Journal(Record::Operator {
            command: Command::Only(vec![NodeId::new(3), NodeId::new(5)])
        })),
        "journaled: {effects:?}"
    );
    assert_eq!(
        app.flash.as_deref(),
        Some("rollout kept to 2 nodes, paused: p shows the plan, c runs it")
    );
    // The kept plan runs: w02 is the worker class's canary.
    let effects = key(&mut app, 'n');
    assert_eq!(runs(&effects), vec![(3, Phase::Baseline)]);
    // Under way: the plan no longer changes.
    key(&mut app, 'F');
    assert!(app.confirm.is_none());
    assert!(
        app.flash
            .as_deref()
            .is_some_and(|f| f.contains("under way"))
    );
}

#[test]
fn the_skew_views_key_without_a_bundle_says_how_to_stage_one() {
    let mut app = app(1, 2);
    key(&mut app, 'S');
    key(&mut app, 'F');
    assert!(app.confirm.is_none());
    assert!(
        app.flash.as_deref().is_some_and(|f| f.contains("--skills")),
        "{:?}",
        app.flash
    );
}

/// `q` with nodes in flight asks (finish / abort / cancel) instead of quitting; `a`
/// stops the rollout through its one stop path and quits once it is idle; a signal
/// does the same without asking, and a second one quits at once.
#[test]
fn quit_with_nodes_in_flight_asks_and_signals_stop_first() {
    let mut app = rolling(2, 4);
    app.effects_of(AppEvent::Tick, T0 + 1_000);
    // Nothing in flight: q quits.
    assert_eq!(key(&mut app, 'q'), vec![AppEffect::Quit]);
    key(&mut app, 'c');
    assert_eq!(app.rollout.as_ref().map(|d| d.machine.in_flight()), Some(1));
    // In flight: q asks; another key cancels.
    assert_eq!(key(&mut app, 'q'), vec![]);
    assert!(app.quit_asked);
    assert_eq!(key(&mut app, 'z'), vec![]);
    assert_eq!(app.flash.as_deref(), Some("cancelled"));
    // q, a: abort; meshroll waits for the baseline to finish, then the undrain.
    key(&mut app, 'q');
    let effects = key(&mut app, 'a');
    assert!(!effects.contains(&AppEffect::Quit), "{effects:?}");
    assert!(
        machine_effects(&effects).contains(&crate::rollout::Effect::Journal(Record::Operator {
            command: Command::Abort
        }))
    );
    let exec = |app: &mut App, phase| {
        let e = ExecEvent::Input(Input::PhaseDone {
            node: NodeId::new(0),
            phase,
            note: "ok".into(),
        });
        app.effects_of(AppEvent::Exec(Box::new(e)), T0 + 2_000)
    };
    exec(&mut app, Phase::Baseline);
    let effects = exec(&mut app, Phase::Drain);
    assert_eq!(runs(&effects), vec![(0, Phase::Undrain)]);
    assert!(!effects.contains(&AppEffect::Quit));
    let effects = exec(&mut app, Phase::Undrain);
    assert!(effects.contains(&AppEffect::Quit), "{effects:?}");

    // A signal: the same stop, no question; a second one quits at once.
    let mut app = rolling(2, 4);
    app.effects_of(AppEvent::Tick, T0 + 1_000);
    key(&mut app, 'c');
    let effects = app.effects_of(AppEvent::Signal("SIGTERM"), T0 + 1_500);
    assert!(!effects.contains(&AppEffect::Quit));
    assert!(app.rollout.as_ref().is_some_and(|d| d.machine.aborted));
    assert_eq!(
        app.effects_of(AppEvent::Signal("SIGTERM"), T0 + 1_600),
        vec![AppEffect::Quit]
    );
}
