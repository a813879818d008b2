//! Every built-in theme drawn into ratatui's TestBackend and snapshotted *with its
//! styles* (tests/common/styled.rs: the text, a style map per row, a legend), so a
//! changed colour or modifier fails a snapshot, not only changed text. Then checks that
//! such a snapshot does see a theme change (two themes, one role changed, two roles
//! swapped) and that NO_COLOR still tells verdicts apart by glyph and modifier.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;
#[path = "common/styled.rs"]
mod styled;

use std::collections::BTreeSet;
use std::path::PathBuf;

use meshroll::dashboard::{App, Setup};
use meshroll::inventory::NodeId;
use meshroll::manifest::{Bundle, Lock};
use meshroll::poller::PollResult;
use meshroll::remote::sim::SimMesh;
use meshroll::rollout::plan::{self, PlanOptions};
use meshroll::rollout::state::RolloutState;
use meshroll::rollout::{Effect, Failure, Input, Machine, Mode, NodeRun, Phase};
use meshroll::signals::CliRun;
use meshroll::ui::theme::{Role, Theme};
use meshroll::ui::{TABLE_FIRST_ROW, verdict_label};
use meshroll::verdict::Kind;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use demo::{AT, demo_app, demo_app_with, draw, open_node};
use styled::{Look, find_in_row, looks_of, row_cells, styled};

/// Tall enough for every row of the demo fleet (26 nodes), wide enough for the class
/// column.
const FLEET: (u16, u16) = (120, 32);
/// The node view's size in tests/ui_snapshots.rs.
const NODE: (u16, u16) = (100, 50);

fn theme(name: &str) -> Theme {
    Theme::load(name).unwrap()
}

fn fleet(app: &App, theme: &Theme) -> Buffer {
    draw(app, theme, FLEET.0, FLEET.1)
}

fn node(app: &App, theme: &Theme) -> Buffer {
    draw(app, theme, NODE.0, NODE.1)
}

/// The text of the screen alone, without styles.
fn text(b: &Buffer) -> Vec<Vec<String>> {
    (0..b.area.height).map(|y| row_cells(b, y)).collect()
}

/// The demo with mac-g02 (a gateway whose daemon lags its CLI) open in the node view.
async fn skewed_gateway() -> App {
    let mut app = demo_app().await;
    open_node(&mut app, "mac-g02");
    app
}

#[tokio::test(start_paused = true)]
async fn each_builtin_theme_fleet_and_node_view_with_styles() {
    let fleet_app = demo_app().await;
    let node_app = skewed_gateway().await;
    assert_eq!(
        Theme::builtin_names(),
        ["default", "colorblind", "mono", "solarized-dark"],
        "a new built-in theme needs its snapshots here"
    );
    for name in Theme::builtin_names() {
        let t = theme(name);
        insta::assert_snapshot!(format!("fleet_{name}"), styled(&fleet(&fleet_app, &t)));
        insta::assert_snapshot!(format!("node_{name}"), styled(&node(&node_app, &t)));
    }
    let t = theme("default").no_color();
    insta::assert_snapshot!("fleet_default_no_color", styled(&fleet(&fleet_app, &t)));
}

/// The node view's other blocks in the default theme: a drained node, a dead one,
/// and doctor findings (every severity, a fix hint over several lines with a control
/// character in it).
#[tokio::test(start_paused = true)]
async fn node_view_blocks_with_styles() {
    let t = theme("default");
    let mut app = demo_app_with(Setup::default(), doctor_findings_on_w09).await;
    open_node(&mut app, "mac-w03");
    insta::assert_snapshot!("node_drained_default", styled(&node(&app, &t)));
    open_node(&mut app, "mac-w17");
    insta::assert_snapshot!("node_dead_default", styled(&node(&app, &t)));

    open_node(&mut app, "mac-w09");
    let b = node(&app, &t);
    let screen = styled(&b);
    assert!(
        screen.contains("fix: run `openclaw skills sync`")
            && screen.contains("then restart the gateway\\e[31m"),
        "{screen}"
    );
    insta::assert_snapshot!("node_doctor_findings_default", screen);
}

/// mac-w09's doctor answers with an error (its fix hint two lines and an escape), a
/// warning and an info finding.
fn doctor_findings_on_w09(name: &str, r: &mut PollResult) {
    if name != "mac-w09" {
        return;
    }
    let doc = serde_json::json!({
        "ok": false,
        "checksRun": 12,
        "findings": [
            {
                "checkId": "skills.lock",
                "severity": "error",
                "message": "skills.lock needs attention",
                "fixHint": "run `openclaw skills sync`\nthen restart the gateway\u{1b}[31m",
            },
            {
                "checkId": "cache.age",
                "severity": "warning",
                "message": "cache.age needs attention",
                "fixHint": "prewarm the cache",
            },
            {
                "checkId": "gateway.bind",
                "severity": "info",
                "message": "gateway.bind needs attention",
            },
        ],
    });
    let stdout = doc.to_string().into_bytes();
    if let Ok(raw) = r.result.as_mut() {
        raw.doctor = Some(CliRun {
            rc: 1,
            timed_out: false,
            bytes: stdout.len() as u64,
            stdout,
            stderr: Vec::new(),
        });
    }
}

/// A rollout on the demo with its gateway canary retrying a failed sync: the node
/// view's rollout block (where it is, every attempt, the step's output).
fn stage_a_retrying_canary() -> (RolloutState, NodeId) {
    let (inv, _mesh) = SimMesh::demo();
    let plan = plan::make(&inv, &PlanOptions::default()).unwrap();
    let mut m = Machine::new(plan, inv.nodes.len(), 42, Mode::Run);
    let run = |effects: Vec<Effect>| -> (NodeId, Phase) {
        effects
            .into_iter()
            .find_map(|e| match e {
                Effect::Run { node, phase, .. } => Some((node, phase)),
                _ => None,
            })
            .unwrap()
    };
    let (canary, phase) = run(m.handle(Input::Tick, AT - 9_000));
    assert_eq!(phase, Phase::Baseline);
    let done = |phase, note: &str| Input::PhaseDone {
        node: canary,
        phase,
        note: note.into(),
    };
    // Baseline and drain are one script: the drain is in flight once the baseline passes.
    let carried = m.handle(done(Phase::Baseline, "gateway ready"), AT - 7_500);
    assert!(!carried.iter().any(|e| matches!(e, Effect::Run { .. })));
    let next = run(m.handle(done(Phase::Drain, "drained"), AT - 6_000));
    assert_eq!(next, (canary, Phase::Sync));
    let failure = Failure::Transient("rsync exit 12\x1b[31m".into());
    m.handle(
        Input::PhaseFailed {
            node: canary,
            phase: Phase::Sync,
            failure,
        },
        AT - 1_000,
    );
    assert!(matches!(m.nodes[canary].run, NodeRun::Retrying { .. }));
    let lock = Lock {
        files: vec![],
        skills_sha: "4b825dc642cb6eb9a060e54bf8d69288fbee4904".into(),
        version: 1,
    };
    let bundle = Bundle {
        source: PathBuf::new(),
        skills_sha: lock.skills_sha.clone(),
        lock_bytes: lock.to_bytes(),
        lock,
        manifest_sha256: "0".repeat(64),
    };
    let mut d = RolloutState::new(m, inv.nodes.clone(), "r-test".into(), &bundle, AT - 9_000);
    for line in [
        "sending incremental file list",
        "rsync: write failed\x1b]0;x\x07",
    ] {
        d.output[canary].push_back(line.into());
    }
    (d, canary)
}

#[tokio::test(start_paused = true)]
async fn node_view_rollout_block_with_styles() {
    let (d, canary) = stage_a_retrying_canary();
    let setup = Setup {
        rollout: Some(d),
        ..Setup::default()
    };
    let mut app = demo_app_with(setup, |_, _| {}).await;
    let name = app.rows()[canary].node.clone();
    open_node(&mut app, &name);
    let b = node(&app, &theme("default"));
    let screen = styled(&b);
    assert!(
        screen.contains("sync      #1     5.0s  failed: rsync exit 12\\e[31m")
            && screen.contains("    rsync: write failed\\e]0;x\\x07"),
        "{screen}"
    );
    insta::assert_snapshot!("node_rollout_default", screen);
}

#[tokio::test(start_paused = true)]
async fn themes_differ_in_styles_and_not_in_text() {
    let app = skewed_gateway().await;
    let drawn: Vec<(&str, Buffer)> = Theme::builtin_names()
        .iter()
        .map(|name| (*name, node(&app, &theme(name))))
        .collect();
    for (a, (name_a, buf_a)) in drawn.iter().enumerate() {
        for (name_b, buf_b) in &drawn[a + 1..] {
            assert_eq!(text(buf_a), text(buf_b), "{name_a} vs {name_b}: same text");
            assert_ne!(
                styled(buf_a),
                styled(buf_b),
                "{name_a} vs {name_b}: the styled snapshots must differ"
            );
        }
    }
}

/// Changing any one role of a theme changes the styled snapshot of the screens that
/// use it: exactly the roles listed here show on the demo's fleet table and node view.
#[tokio::test(start_paused = true)]
async fn a_changed_role_shows_in_the_styled_snapshot() {
    let fleet_app = demo_app().await;
    let node_app = skewed_gateway().await;
    let base = theme("default");
    let screens = |t: &Theme| {
        format!(
            "{}{}",
            styled(&fleet(&fleet_app, t)),
            styled(&node(&node_app, t))
        )
    };
    let before = screens(&base);
    let mut seen = BTreeSet::new();
    for role in Role::ALL {
        let patch = format!(
            "base = \"default\"\n[roles]\n{} = {{ fg = \"#010203\", italic = true }}\n",
            role.name()
        );
        let t = Theme::parse(&patch, "patch.toml").unwrap();
        assert_ne!(t.style(*role), base.style(*role));
        if screens(&t) != before {
            seen.insert(role.name());
        }
    }
    // Not stale: every demo node answered just now.
    let expected: BTreeSet<&str> = [
        "ok",
        "warn",
        "error",
        "pending",
        "highlight",
        "header",
        "title",
        "border",
        "dim",
        "key",
    ]
    .into();
    assert_eq!(seen, expected);
}

/// Swapping ok and error: the healthy count is drawn in error's style, the dead
/// count in ok's, and the snapshot changes.
#[tokio::test(start_paused = true)]
async fn swapped_ok_and_error_show_in_the_styled_snapshot() {
    let app = demo_app().await;
    let default = theme("default");
    let mut swapped = default.clone();
    std::mem::swap(&mut swapped.ok, &mut swapped.error);
    let (a, b) = (fleet(&app, &default), fleet(&app, &swapped));
    assert_eq!(text(&a), text(&b));
    assert_ne!(styled(&a), styled(&b));
    let look = |b: &Buffer, s: &str| looks_of(b, s).unwrap()[0];
    let (healthy, dead) = ("✔ 21 healthy", "✖ 2 dead");
    assert_eq!(look(&a, healthy), look(&b, dead));
    assert_eq!(look(&a, dead), look(&b, healthy));
    assert_ne!(look(&a, healthy), look(&a, dead));
}

/// The verdict column's cells by verdict, for every table row but the selected one;
/// and the selected row's look.
fn verdict_looks(app: &App, b: &Buffer) -> (Vec<(Kind, Look)>, Option<Look>) {
    let mut looks = Vec::new();
    let mut selected = None;
    for y in TABLE_FIRST_ROW..b.area.height {
        let line: String = row_cells(b, y).concat();
        let Some(r) = app
            .rows()
            .iter()
            .find(|r| line.contains(&format!("{} ", r.node)))
        else {
            continue;
        };
        let label = verdict_label(r.verdict);
        let x = find_in_row(b, y, label)
            .unwrap_or_else(|| panic!("{}: no {label:?} in {line:?}", r.node));
        let look = Look::of(&b[(x, y)]);
        if app.selected_node().map(|i| &app.rows()[i].node) == Some(&r.node) {
            selected = Some(look);
        } else {
            looks.push((r.verdict, look));
        }
    }
    (looks, selected)
}

/// NO_COLOR drops every colour; a verdict still shows by its glyph and, for a dead
/// node, by its modifiers; the selected row stays visible (reversed).
#[tokio::test(start_paused = true)]
async fn no_color_keeps_verdicts_apart_by_glyph_and_modifier() {
    let app = demo_app().await;
    let kinds = [Kind::Healthy, Kind::Draining, Kind::Dead];
    let glyphs: BTreeSet<char> = kinds
        .iter()
        .map(|k| verdict_label(*k).chars().next().unwrap())
        .collect();
    assert_eq!(glyphs.len(), 3, "each verdict has its own glyph");
    assert!(glyphs.iter().all(|g| !g.is_alphanumeric()));
    for name in Theme::builtin_names() {
        let t = theme(name).no_color();
        for b in [fleet(&app, &t), node(&skewed_gateway().await, &t)] {
            for cell in &b.content {
                assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{name}");
            }
        }
        let b = fleet(&app, &t);
        let (looks, selected) = verdict_looks(&app, &b);
        let selected = selected.unwrap_or_else(|| panic!("{name}: no selected row"));
        assert!(selected.modifier.contains(Modifier::REVERSED), "{name}");
        let of = |k: Kind| -> BTreeSet<String> {
            looks
                .iter()
                .filter(|(kind, _)| *kind == k)
                .map(|(_, l)| l.describe())
                .collect()
        };
        for k in kinds {
            assert_eq!(of(k).len(), 1, "{name}: one look for {k:?}: {:?}", of(k));
        }
        assert_ne!(of(Kind::Healthy), of(Kind::Dead), "{name}");
        if *name == "mono" {
            // mono is made for this: every verdict has its own modifiers.
            assert_ne!(of(Kind::Healthy), of(Kind::Draining));
            assert_ne!(of(Kind::Draining), of(Kind::Dead));
        }
    }
}
