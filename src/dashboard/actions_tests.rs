//! Node actions through [`App::handle`]: keys in, the confirm's words and the
//! [`AppEffect::Action`] out; what the event loop reports back in, the pane, the footer
//! and the poll after it out. No terminal, no runtime, the clock by hand.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crossterm::event::{Event as TermEvent, KeyCode, KeyModifiers, MouseEvent, MouseEventKind};

use super::ActionEvent;
use crate::actions::run::ActionReport;
use crate::actions::{ActionRequest, Runs};
use crate::dashboard::test_harness::Drive;
use crate::dashboard::{App, AppEffect, AppEvent, Setup, View};
use crate::inventory::{Inventory, Node, NodeId};
use crate::keymap::KeyMap;

const T0: u64 = 1_800_000_000_000;

fn app() -> App {
    app_with(Setup::default())
}

fn app_with(setup: Setup) -> App {
    let nodes = vec![
        Node::new("g1".to_string(), "gateway"),
        Node::new("w1".to_string(), "worker"),
    ];
    let inv = Inventory::from_nodes(Path::new("t"), nodes).unwrap();
    let mut app = App::new("t".into(), inv.nodes, inv.classes, setup);
    app.frame(T0);
    app
}

fn press(app: &mut App, code: KeyCode, m: KeyModifiers) -> Vec<AppEffect> {
    app.press_at(code, m, T0)
}

fn key(app: &mut App, c: char) -> Vec<AppEffect> {
    press(app, KeyCode::Char(c), KeyModifiers::NONE)
}

fn request(effects: &[AppEffect]) -> ActionRequest {
    match effects {
        [AppEffect::Action(r)] => r.clone(),
        other => panic!("one AppEffect::Action, got {other:?}"),
    }
}

fn done(run: u64, node: usize, ok: bool, note: &str, lines: &[&str]) -> AppEvent {
    AppEvent::Action(Box::new(ActionEvent::Done {
        run,
        outcome: ActionReport {
            node: NodeId::new(node),
            ok,
            exit: Some(if ok { 0 } else { 1 }),
            note: note.into(),
            lines: lines.iter().map(|s| s.to_string()).collect(),
            started: T0,
            duration_ms: 400,
        },
    }))
}

#[test]
fn drain_asks_naming_the_node_and_y_carries_it_out() {
    let mut a = app();
    assert!(
        key(&mut a, 'D').is_empty(),
        "nothing happens before the answer"
    );
    let (q, _) = a.action_confirm.clone().unwrap();
    assert_eq!(q, "drain 1 node: g1?");
    let req = request(&key(&mut a, 'y'));
    assert_eq!(req.action.runs, Runs::Drain);
    assert_eq!(req.nodes, vec![NodeId::new(0)]);
    assert!(a.action_confirm.is_none());
    // Any other key cancels.
    key(&mut a, 'j');
    key(&mut a, 'U');
    assert_eq!(a.action_confirm.as_ref().unwrap().0, "undrain 1 node: w1?");
    assert!(key(&mut a, 'n').is_empty());
    assert_eq!(a.flash.as_deref(), Some("undrain: cancelled"));
}

#[test]
fn restart_polls_the_node_at_once_and_says_the_verdict_it_brings() {
    let mut a = app();
    press(&mut a, KeyCode::Char('r'), KeyModifiers::CONTROL);
    assert_eq!(a.action_confirm.as_ref().unwrap().0, "restart 1 node: g1?");
    let req = request(&key(&mut a, 'y'));
    assert_eq!(req.action.runs, Runs::Restart);
    let effects = a.effects_of(
        done(
            req.run,
            0,
            true,
            "Restarted LaunchAgent",
            &["Restarted LaunchAgent"],
        ),
        T0 + 500,
    );
    assert_eq!(
        effects,
        vec![AppEffect::Poll {
            node: NodeId::new(0),
            doctor: false
        }]
    );
    assert_eq!(
        a.flash.as_deref(),
        Some("restart g1: Restarted LaunchAgent")
    );
    let r = crate::poller::PollResult {
        node: NodeId::new(0),
        at: T0 + 900,
        took_ms: 100,
        result: Err(crate::remote::PollFailure::Remote(
            crate::remote::RemoteError::Connect("connection refused".into()),
        )),
    };
    a.effects_of(AppEvent::Poll(Box::new(r)), T0 + 900);
    a.frame(T0 + 900);
    let flash = a.flash.clone().unwrap();
    assert!(flash.starts_with("g1 after restart: dead ("), "{flash}");
}

#[test]
fn logs_open_a_pane_without_asking_and_show_every_line_then_the_outcome() {
    let mut a = app();
    key(&mut a, 'j');
    let req = request(&key(&mut a, 'L'));
    assert!(matches!(req.action.runs, Runs::Logs { lines: 200 }));
    assert_eq!(req.nodes, vec![NodeId::new(1)]);
    assert_eq!(a.view, View::Node);
    assert_eq!(a.pane.as_ref().unwrap().title, "logs w1");
    a.effects_of(done(req.run, 1, true, "2 line(s)", &["one", "two"]), T0);
    let p = a.pane.clone().unwrap();
    let lines: Vec<&str> = p.lines.iter().map(String::as_str).collect();
    assert_eq!(lines, ["one", "two", "── w1: ok, 2 line(s) in 0.4s"]);
    assert!(!p.running);
}

#[test]
fn a_followed_log_scrolls_and_stops_when_its_pane_closes() {
    let mut a = app();
    let req = request(&key(&mut a, 'f'));
    assert!(matches!(req.action.runs, Runs::Follow { .. }));
    for i in 0..30 {
        a.effects_of(
            AppEvent::Action(Box::new(ActionEvent::Line {
                run: req.run,
                line: format!("line {i}"),
            })),
            T0,
        );
    }
    // A line of another run is not this pane's.
    a.effects_of(
        AppEvent::Action(Box::new(ActionEvent::Line {
            run: req.run + 7,
            line: "stray".into(),
        })),
        T0,
    );
    assert_eq!(a.pane.as_ref().unwrap().lines.len(), 30);
    // ↑ scrolls the pane, not the selection.
    key(&mut a, 'k');
    key(&mut a, 'k');
    assert_eq!(a.pane.as_ref().unwrap().scroll, 2);
    assert_eq!(a.selected_node(), Some(NodeId::new(0)));
    // So does the wheel (three lines a notch), not the node view behind it.
    let wheel = |a: &mut App, kind| {
        a.effects_of(
            AppEvent::Input(TermEvent::Mouse(MouseEvent {
                kind,
                column: 10,
                row: 10,
                modifiers: KeyModifiers::NONE,
            })),
            T0,
        )
    };
    wheel(&mut a, MouseEventKind::ScrollUp);
    assert_eq!(a.pane.as_ref().unwrap().scroll, 5);
    wheel(&mut a, MouseEventKind::ScrollDown);
    wheel(&mut a, MouseEventKind::ScrollDown);
    assert_eq!(a.pane.as_ref().unwrap().scroll, 0);
    assert_eq!(a.scroll.node, 0);
    // Esc closes the pane and stops the log; the node view stays.
    let effects = press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(effects, vec![AppEffect::StopPane { run: req.run }]);
    assert!(a.pane.is_none());
    assert_eq!(a.view, View::Node);
}

#[test]
fn shell_is_one_effect_on_the_selected_node_and_its_end_is_said() {
    let mut a = app();
    let req = request(&key(&mut a, 'e'));
    assert_eq!(req.action.runs, Runs::Shell);
    assert_eq!(req.nodes, vec![NodeId::new(0)]);
    assert!(a.pane.is_none(), "a shell has the terminal, not a pane");
    a.effects_of(
        AppEvent::Action(Box::new(ActionEvent::ShellDone {
            run: req.run,
            node: NodeId::new(0),
            result: Ok(Some(0)),
        })),
        T0,
    );
    assert_eq!(a.flash.as_deref(), Some("shell on g1: exit 0"));
    assert!(a.running.is_empty());
}

/// A shell that could not run is said in the flash with its reason's words (the
/// `ShellFailure`'s `Display`), and the action ends.
#[test]
fn a_shell_that_could_not_run_says_why() {
    let mut a = app();
    let req = request(&key(&mut a, 'e'));
    a.effects_of(
        AppEvent::Action(Box::new(ActionEvent::ShellDone {
            run: req.run,
            node: NodeId::new(0),
            result: Err(super::ShellFailure::Run(
                "No such file or directory (os error 2)".into(),
            )),
        })),
        T0,
    );
    assert_eq!(
        a.flash.as_deref(),
        Some("shell on g1: cannot run ssh: No such file or directory (os error 2)")
    );
    assert!(a.running.is_empty());
    assert_eq!(
        super::ShellFailure::UnknownNode(NodeId::new(7)).to_string(),
        "no node 7"
    );
    assert_eq!(super::ShellFailure::NoNode.to_string(), "no node");
}

#[test]
fn an_action_from_the_file_runs_on_its_key() {
    let text = "[actions.check]\nkey = \"Z\"\ndescription = \"skills check\"\ncommand = [\"openclaw\", \"skills\", \"check\", \"{skills_root}\"]\n";
    let mut a = app_with(Setup {
        user_actions: crate::actions::user::parse(text, "a.toml", &KeyMap::default()).unwrap(),
        ..Setup::default()
    });
    key(&mut a, 'Z');
    assert_eq!(a.action_confirm.as_ref().unwrap().0, "check 1 node: g1?");
    let req = request(&key(&mut a, 'y'));
    assert_eq!(
        req.action.runs,
        Runs::Remote(vec![
            "openclaw".into(),
            "skills".into(),
            "check".into(),
            "{skills_root}".into()
        ])
    );
    assert_eq!(a.pane.as_ref().unwrap().title, "check g1");
}

#[test]
fn marked_nodes_are_named_in_the_confirm_and_a_failure_names_its_node() {
    let mut a = app();
    key(&mut a, 'm');
    key(&mut a, 'm');
    assert_eq!(a.marked.len(), 2);
    key(&mut a, 'D');
    assert_eq!(
        a.action_confirm.as_ref().unwrap().0,
        "drain 2 nodes: g1, w1?"
    );
    let req = request(&key(&mut a, 'y'));
    assert_eq!(req.nodes, vec![NodeId::new(0), NodeId::new(1)]);
    a.effects_of(done(req.run, 0, true, "drain flag set", &[]), T0);
    assert_eq!(a.flash.as_deref(), Some("drain 1/2 nodes ok"));
    a.effects_of(done(req.run, 1, false, "exited 1: boom", &[]), T0);
    assert_eq!(
        a.flash.as_deref(),
        Some("drain 2/2 nodes: FAILED on w1 (exited 1: boom)")
    );
    assert!(a.running.is_empty());
    // A shell and a followed log take the node under the cursor only.
    let req = request(&key(&mut a, 'e'));
    assert_eq!(req.nodes.len(), 1);
}
