//! `meshroll replay` on journals written by real runs: a headless rollout of the
//! simulated mesh and the dashboard's staged rollout. The summary reads a journal with a
//! torn last line and a non-UTF-8 line; the replay's keys are driven in tmux; the
//! dashboard prints its recap on exit.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[path = "common/tmux.rs"]
mod tmux;
use tmux::Tmux;
#[path = "common/demo_runs.rs"]
mod demo_runs;
use demo_runs::{
    demo_in_shell, demo_journal, replay_summary, sim_gateway_rollout, step_to_sync, wait_staged,
};

/// One headless rollout of the gateways of the simulated mesh (the canary's sync fails
/// once and is retried; mac-g04's gateway is not ready, so it fails and halts the class),
/// then a torn line and a non-UTF-8 line appended, as a crash mid-write leaves them.
fn sim_journal() -> &'static Path {
    static J: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = J.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("journal.jsonl");
        let out = sim_gateway_rollout(&j, &dir.path().join("logs"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("mac-g01 LANDED"), "{stdout}");
        let mut bytes = std::fs::read(&j).unwrap();
        bytes.extend(b"{\"event\":\"phase_done\",\"note\":\"\xff\xfe\"}\n");
        bytes.extend(br#"{"event":"phase_started","node_name":"mac-g06","pha"#);
        std::fs::write(&j, bytes).unwrap();
        (dir, j)
    });
    p
}

/// `s` names the two lines [`sim_journal`] spoils at the end of a journal of `lines`
/// lines (counted before anything else is written to it).
#[track_caller]
fn assert_names_the_bad_lines(s: &str, lines: usize) {
    assert!(
        s.contains(&format!("skipped line {}: not UTF-8", lines - 1)),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "skipped line {lines}: torn (no newline at the end)"
        )),
        "{s}"
    );
}

#[test]
fn summary_of_a_headless_rollout_with_a_torn_last_line() {
    let j = sim_journal();
    let lines = std::fs::read(j).unwrap().split(|&b| b == b'\n').count();
    let out = replay_summary(j);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("2 line(s) skipped"), "{s}");
    assert_names_the_bad_lines(&s, lines);
    // The timeline, in time order.
    let pos = |needle: &str| {
        s.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{s}"))
    };
    let canary = pos("class gateway: canary");
    let failed = pos("mac-g01 sync failed (transient, attempt 1/5): rsync exit 12");
    let retry = pos("mac-g01 sync retry 2/5 in");
    let landed = pos("mac-g01 LANDED");
    let g04 = pos("mac-g04 FAILED at baseline: gateway not ready at baseline");
    let halted = pos("HALTED, waiting for the operator: class gateway: 1 failed node(s)");
    assert!(canary < failed && failed < retry && retry < landed && landed < g04 && g04 < halted);
    // Per node: attempts with their errors and waits, and how it ended.
    assert!(s.contains("  mac-g01  LANDED in "), "{s}");
    assert!(s.contains("; waited "), "the wait before the retry: {s}");
    assert!(s.contains("  mac-g04  FAILED at baseline in "), "{s}");
    assert!(s.contains("  mac-g05  LANDED"), "{s}");
}

#[test]
fn a_missing_journal_is_a_clear_error() {
    let out = replay_summary(Path::new("/nonexistent/journal.jsonl"));
    // meshroll could not run (no journal to read): 2.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("journal /nonexistent/journal.jsonl"), "{err}");
}

#[test]
fn replay_keys_pause_speed_and_jump_to_each_failure() {
    let j = sim_journal();
    let logs = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} replay {} --log-dir {}; echo MESHROLL-EXITED=$?; sleep 30",
        env!("CARGO_BIN_EXE_meshroll"),
        j.display(),
        logs.path().display()
    );
    let t = Tmux::start("keys", &cmd, 120, 36);
    t.wait_for("the replay, playing", |s| {
        s.contains("meshroll replay") && s.contains("▶ playing 1x") && s.contains("mac-g01")
    });
    t.keys(&["Space"]);
    t.wait_for("pause", |s| s.contains("‖ paused 1x"));
    t.keys(&["+"]);
    t.wait_for("a faster speed", |s| {
        s.contains("speed 2x") && s.contains("‖ paused 2x")
    });
    t.keys(&["-"]);
    t.wait_for("the speed back", |s| s.contains("speed 1x"));
    // Jump to the start, then to each failure in turn.
    t.keys(&["g", "f"]);
    let screen = t.wait_for("the first failure", |s| {
        s.contains("failure: mac-g01 sync failed (transient, attempt 1/5)")
    });
    assert!(screen.contains("rsync exit 12"), "{screen}");
    t.keys(&["f"]);
    t.wait_for("mac-g04's failed baseline", |s| {
        s.contains("failure: mac-g04 baseline failed (fatal, attempt 1/5)")
    });
    t.keys(&["f"]);
    t.wait_for("mac-g04 failing", |s| {
        s.contains("failure: mac-g04 FAILED at baseline") && s.contains("failed at baseline")
    });
    t.keys(&["f"]);
    t.wait_for("the halt", |s| {
        s.contains("failure: HALTED")
            && s.contains("HALTED, waiting for the operator: class gateway")
    });
    t.keys(&["f"]);
    t.wait_for("no more failures", |s| {
        s.contains("no failure after this point")
    });
    // Play to the end from there.
    t.keys(&["G"]);
    t.wait_for("the end", |s| {
        s.contains("✔ 4 landed") && s.contains("✖ 1 failed")
    });
    t.keys(&["q"]);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(screen.contains("MESHROLL-EXITED=0"), "{screen}");
    assert!(
        !screen.contains("meshroll replay "),
        "the terminal is given back:\n{screen}"
    );
}

#[test]
fn the_dashboard_prints_a_recap_on_exit_and_its_journal_replays() {
    let logs = tempfile::tempdir().unwrap();
    let t = Tmux::start("recap", &demo_in_shell(logs.path()), 140, 40);
    wait_staged(&t);
    // Baseline and drain (one script), then sync, which fails once on the demo's
    // canary and is retried.
    step_to_sync(&t);
    t.keys(&["n"]);
    t.wait_for("the retried sync to pass", |s| s.contains("→ verify"));
    // Quitting with the canary in flight asks; abort puts it back, then meshroll quits.
    t.keys(&["q"]);
    t.wait_for("the quit question", |s| s.contains("in flight?"));
    t.keys(&["a"]);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(screen.contains("MESHROLL-EXITED=1"), "{screen}");
    let journal = demo_journal(logs.path());
    let flat = screen.replace('\n', "");
    assert!(
        screen.contains("meshroll: rollout r")
            && screen.contains("0 landed, 0 failed, 0 skipped, 1 stopped, 25 not started"),
        "{screen}"
    );
    assert!(
        screen.contains("stopped    mac-g01: undrained and unlocked, serving its old bundle"),
        "{screen}"
    );
    assert!(
        flat.contains(&format!("journal    {}", journal.display())),
        "the recap names the journal:\n{screen}"
    );
    // The journal the dashboard wrote replays like a headless one.
    let out = replay_summary(&journal);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("0 line(s) skipped"), "{s}");
    assert!(
        s.contains("mac-g01 sync failed (transient, attempt 1/5): rsync exit 12"),
        "{s}"
    );
    assert!(s.contains("operator: step one phase"), "{s}");
    assert!(
        s.contains("  mac-g01  stopped, undrained and unlocked, serving its old bundle"),
        "{s}"
    );
}

#[test]
fn a_new_run_resumes_past_a_torn_and_a_non_utf8_line() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("journal.jsonl");
    std::fs::copy(sim_journal(), &j).unwrap();
    let lines = std::fs::read(&j).unwrap().split(|&b| b == b'\n').count();
    let out = sim_gateway_rollout(&j, &dir.path().join("logs"));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("resuming rollout r"), "{s}");
    assert_names_the_bad_lines(&s, lines);
    // The nodes that landed before are not redone.
    let recap = &s[s.find("recap:").unwrap()..];
    for n in ["mac-g01", "mac-g02", "mac-g03", "mac-g05"] {
        let row = recap.lines().find(|l| l.starts_with(n)).unwrap();
        assert!(row.contains("landed (earlier run)"), "{row}");
    }
    // The new run's records follow the torn line on lines of their own.
    let after = replay_summary(&j);
    let summary = String::from_utf8(after.stdout).unwrap();
    assert!(summary.contains("2 line(s) skipped"), "{summary}");
}

/// Operator actions are journaled with node names (`action`) and the replay shows
/// them so, never Rust's debug form nor bare positions.
#[test]
fn operator_actions_are_journaled_and_replayed_with_node_names() {
    use meshroll::inventory::{Fleet, NodeId};
    use meshroll::rollout::journal::Journal;
    use meshroll::rollout::machine::{Command, Record};
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("journal.jsonl");
    {
        let fleet = Fleet::named(["mac-g01", "mac-g02", "mac-w03"]);
        let mut w = Journal::open(&j, "r1".into(), "sha".into(), "m".into(), fleet).unwrap();
        for (i, c) in [
            Command::RetryNow(NodeId::new(2)),
            Command::Rollback(vec![NodeId::new(0), NodeId::new(1)]),
            Command::Skip(NodeId::new(2)),
            Command::Pause,
        ]
        .into_iter()
        .enumerate()
        {
            w.write(&Record::Operator { command: c }, 1_000 + i as u64)
                .unwrap();
        }
    }
    let text = std::fs::read_to_string(&j).unwrap();
    let actions: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["action"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "retry mac-w03 now",
            "roll back mac-g01, mac-g02",
            "skip mac-w03",
            "pause"
        ]
    );
    let out = replay_summary(&j);
    let s = String::from_utf8(out.stdout).unwrap();
    for want in [
        "operator: retry mac-w03 now",
        "operator: roll back mac-g01, mac-g02",
        "operator: skip mac-w03",
        "operator: pause",
    ] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
    assert!(!s.contains("retry_now"), "{s}");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/journal")
        .join(name)
}

fn summary_of(path: &Path) -> String {
    let out = replay_summary(path);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A run killed while mac-g01's sync waited for its retry, resumed by a new run a
/// minute later (tests/fixtures/journal/crash-resume.jsonl, as the runs write it): the
/// summary marks where the run stopped and where the next resumed, shows no wait that
/// never happened and no second `sync #1` that reads as the same attempt, gives the
/// node's time in service apart from the gap, and shows the baseline's archived
/// gateway status as one line with its size.
#[test]
fn summary_marks_a_crash_and_its_resume() {
    let s = summary_of(&fixture("crash-resume.jsonl"));
    let timeline = s.split("\nnodes:\n").next().unwrap();
    let stop = timeline
        .find("+1.5s  11:40:01  ── the run stopped here: it recorded no finish (killed or crashed) ──")
        .unwrap_or_else(|| panic!("no stop mark:\n{s}"));
    let resume = timeline
        .find("+1m00s  11:41:00  ── run 2 resumed after 58.5s without a run ──")
        .unwrap_or_else(|| panic!("no resume mark:\n{s}"));
    let retry = timeline.find("mac-g01 sync retry 2/5 in 6.0s").unwrap();
    let landed = timeline.find("mac-g01 LANDED").unwrap();
    assert!(retry < stop && stop < resume && resume < landed, "{s}");
    assert!(
        s.contains("  mac-g01  LANDED in 6.4s in service (+58.5s between runs), 10 attempt(s)\n"),
        "{s}"
    );
    assert!(!s.contains("waited"), "a wait that never happened:\n{s}");
    assert!(
        s.contains(
            "failed (transient): rsync exit 12: connection unexpectedly closed; its retry in 6.0s never ran: the run stopped"
        ),
        "{s}"
    );
    assert_eq!(s.matches("sync      #1 (run 1)").count(), 1, "{s}");
    assert_eq!(s.matches("sync      #1 (run 2)").count(), 1, "{s}");
    assert!(!s.contains("sync      #1  "), "an unmarked sync #1:\n{s}");
    assert!(
        s.contains("      ── the run stopped; run 2 went on 58.5s later ──"),
        "{s}"
    );
    // The baseline's gateway status: one line, with its size.
    let baseline = s
        .lines()
        .find(|l| l.contains("baseline  #1"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(baseline.chars().count() < 200, "{baseline}");
    assert!(baseline.ends_with(" bytes)"), "{baseline}");
    assert!(!s.contains("extraServices"), "{s}");
}

/// Journals written before runs said `run_started`: a canary started again in the same
/// rollout is where the next run began.
#[test]
fn summary_finds_the_resume_in_a_journal_without_run_lines() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("old.jsonl");
    let text = std::fs::read_to_string(fixture("crash-resume.jsonl")).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.contains("\"run_started\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(old.lines().count() + 2, text.lines().count());
    std::fs::write(&j, old).unwrap();
    let s = summary_of(&j);
    assert!(
        s.contains("── the run stopped here: it recorded no finish (killed or crashed) ──"),
        "{s}"
    );
    assert!(
        s.contains("── run 2 resumed after 58.5s without a run ──"),
        "{s}"
    );
    assert!(
        s.contains("LANDED in 6.4s in service (+58.5s between runs)"),
        "{s}"
    );
    assert!(!s.contains("waited"), "{s}");
}

/// The replay's node panel shows the baseline's long note as one line with its size;
/// `e` expands it.
#[test]
fn replay_node_panel_expands_a_long_note() {
    use crossterm::event::KeyCode;
    use meshroll::replay::{Replay, player::Player};
    let replay = Replay::load(&fixture("crash-resume.jsonl")).unwrap();
    let mut p = Player::new(replay);
    p.key(KeyCode::End);
    assert_eq!(p.at.nodes[0].name, "mac-g01");
    let theme = meshroll::ui::theme::Theme::load("default").unwrap();
    let render = |p: &Player| {
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 44)).unwrap();
        t.draw(|f| meshroll::ui::replay::draw(f, p, &theme))
            .unwrap();
        format!("{}", t.backend())
    };
    let screen = render(&p);
    assert!(screen.contains("bytes)"), "{screen}");
    assert!(!screen.contains("extraServices"), "{screen}");
    assert!(screen.contains("never ran"), "{screen}");
    p.key(KeyCode::Char('e'));
    assert!(p.expanded);
    let screen = render(&p);
    assert!(screen.contains("extraServices"), "{screen}");
}
