//! End to end in a real terminal: `meshroll demo` inside tmux, driven with send-keys
//! and read back with capture-pane. The table appears, `?` shows help, `q` exits and
//! the terminal is given back (alternate screen left, shell prompt line printed).
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[path = "common/tmux.rs"]
mod tmux;
use tmux::Tmux;
#[path = "common/demo_runs.rs"]
mod demo_runs;
use demo_runs::{demo_in_shell, demo_journal, sim_gateway_rollout, step_to_sync, wait_staged};

/// The binary under test (`MESHROLL_TEST_BIN` runs a test against another build, e.g.
/// the code before a fix, to see it fail).
fn bin() -> String {
    std::env::var("MESHROLL_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_meshroll").into())
}

#[test]
fn demo_draws_the_fleet_shows_help_and_quits_cleanly() {
    let logs = tempfile::tempdir().unwrap();
    let cmd = demo_in_shell(logs.path());
    let t = Tmux::start("fleet", &cmd, 100, 32);
    let screen = t.wait_for("the fleet table with verdicts", |s| {
        s.contains("NODE")
            && s.contains("mac-w20")
            && s.contains("✖ dead")
            && s.contains("◐ draining")
    });
    assert!(screen.contains("meshroll"), "{screen}");
    assert!(screen.contains("✔ healthy"), "{screen}");
    assert!(
        t.alternate_on(),
        "the dashboard runs on the alternate screen"
    );

    t.keys(&["?"]);
    t.wait_for("the help overlay", |s| {
        s.contains("help — ? or Esc closes") && s.contains("filter")
    });
    t.keys(&["Escape"]);
    t.wait_for("help to close", |s| !s.contains("help — ? or Esc closes"));

    // Open the node view of the second node and come back.
    t.keys(&["j", "Enter"]);
    t.wait_for("the node view", |s| {
        s.contains(" node ") && s.contains("mac-g02") && s.contains("cli / daemon")
    });
    t.keys(&["Escape"]);
    t.wait_for("the fleet again", |s| {
        s.contains("REASON") && s.contains("mac-w20")
    });

    t.keys(&["q"]);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(screen.contains("MESHROLL-EXITED=0"), "{screen}");
    assert!(
        !t.alternate_on(),
        "the terminal is given back (alternate screen left)"
    );
    assert!(
        !screen.contains("REASON"),
        "the dashboard is gone from the screen:\n{screen}"
    );
    // Logs went to the file, not the terminal.
    let logged: Vec<_> = std::fs::read_dir(logs.path()).unwrap().collect();
    assert!(!logged.is_empty(), "a log file was written");
}

#[test]
fn dashboard_refuses_to_start_without_a_terminal() {
    let out = Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .args(["demo", "--log-dir"])
        .arg(std::env::temp_dir().join("meshroll-e2e-logs"))
        .output()
        .unwrap();
    // meshroll could not run (no terminal): 2.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
}

#[test]
fn demo_rollout_steps_show_phases_and_a_retry_countdown() {
    let logs = tempfile::tempdir().unwrap();
    let cmd = demo_in_shell(logs.path());
    let t = Tmux::start("rollout", &cmd, 120, 36);
    t.wait_for("the staged rollout, paused", |s| {
        s.contains("PHASE") && s.contains("RETRY") && s.contains("paused — n step a phase")
    });
    // Step the canary one step at a time: baseline and drain (one script), then sync
    // (which fails once on the demo's first canary and is retried).
    step_to_sync(&t);
    t.keys(&["n"]);
    let screen = t.wait_for("a retry countdown", |s| {
        s.contains("sync (retry)") && s.contains("2/5 in")
    });
    assert!(
        screen.contains("rsync exit 12"),
        "the last error is shown:\n{screen}"
    );
    // The plan view shows the lanes and the retry in the progress log.
    t.keys(&["p"]);
    // (Wait for the whole frame: a capture can land in the middle of a redraw.)
    t.wait_for("the plan view with the retry in its progress log", |s| {
        s.contains("gateway: canary")
            && s.contains("worker: waiting")
            && s.contains("sync retry 2/5 in")
    });
    // The retry runs by itself once its countdown ends (retries are not operator steps).
    t.wait_for("the retried sync to pass", |s| s.contains("sync ok"));
    // Abort asks first.
    t.keys(&["A"]);
    t.wait_for("the confirmation", |s| s.contains("abort the rollout?"));
    t.keys(&["y"]);
    // The canary is put back (undrained, unlocked), then nothing is in flight.
    t.wait_for("the abort, done", |s| {
        s.contains("aborted: nothing in flight")
    });
    t.keys(&["q"]);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    // The rollout ran and nothing landed: non-zero.
    assert!(screen.contains("MESHROLL-EXITED=1"), "{screen}");
    // The demo's journal went next to the logs, with both bundle ids on every line.
    let journal = demo_journal(logs.path());
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.lines().count() >= 5);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["skills_sha"].is_string() && v["manifest_sha256"].is_string(),
            "{line}"
        );
    }
}

/// The demo made to panic after its first frame, in the tmux session `name`: the
/// session, and its screen once meshroll exited, with the panic's status (101).
fn panicking_demo(name: &str) -> (Tmux, String, tempfile::TempDir) {
    let logs = tempfile::tempdir().unwrap();
    let cmd = format!(
        "RUST_BACKTRACE=0 MESHROLL_TEST_PANIC_AFTER_DRAW=1 {}",
        demo_in_shell(logs.path())
    );
    let t = Tmux::start(name, &cmd, 100, 30);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(screen.contains("MESHROLL-EXITED=101"), "{screen}");
    (t, screen, logs)
}

#[test]
fn a_panic_gives_the_terminal_back() {
    let (t, screen, _logs) = panicking_demo("panic");
    assert!(
        screen.contains("MESHROLL_TEST_PANIC_AFTER_DRAW is set"),
        "the panic is readable:\n{screen}"
    );
    assert!(!t.alternate_on(), "the alternate screen was left");
    assert!(
        !screen.contains("REASON"),
        "no dashboard left on screen:\n{screen}"
    );
}

/// `#{alternate_on} #{mouse_any_flag}` of the pane: "0 0" once the terminal is given
/// back (alternate screen left, mouse reporting off).
fn screen_flags(t: &Tmux) -> String {
    t.display("#{alternate_on} #{mouse_any_flag}")
}

/// The pid of the meshroll process running in the pane (a child of the pane's shell).
fn meshroll_pid(t: &Tmux) -> u32 {
    let shell: u32 = t.display("#{pane_pid}").parse().unwrap();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid: Option<u32> = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        if ppid == Some(shell) && head.ends_with("(meshroll") {
            return pid;
        }
    }
    panic!("no meshroll process under the pane's shell {shell}");
}

/// `kill -SIG` to the meshroll process running in the pane.
fn signal_meshroll(t: &Tmux, sig: &str) {
    let pid = meshroll_pid(t);
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_signal_on_the_dashboard_gives_the_terminal_back() {
    for sig in ["TERM", "HUP", "INT"] {
        let logs = tempfile::tempdir().unwrap();
        let cmd = demo_in_shell(logs.path());
        let t = Tmux::start(&format!("sig{sig}"), &cmd, 100, 30);
        t.wait_for("the fleet table", |s| {
            s.contains("NODE") && s.contains("healthy")
        });
        assert_eq!(
            screen_flags(&t),
            "1 1",
            "the dashboard runs on the alternate screen with the mouse captured"
        );
        signal_meshroll(&t, sig);
        let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
        assert_eq!(
            screen_flags(&t),
            "0 0",
            "SIG{sig}: alternate screen left and mouse capture off:\n{screen}"
        );
        assert!(
            !screen.contains("REASON"),
            "SIG{sig}: no dashboard left on screen:\n{screen}"
        );
        // Quit like `q`: the log says why.
        let log: String = std::fs::read_dir(logs.path())
            .unwrap()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        assert!(
            log.contains(&format!("SIG{sig}")),
            "SIG{sig} is logged:\n{log}"
        );
    }
}

#[test]
fn a_panic_turns_mouse_capture_off() {
    let (t, screen, _logs) = panicking_demo("panicmouse");
    assert_eq!(
        screen_flags(&t),
        "0 0",
        "alternate screen left and mouse capture off after a panic:\n{screen}"
    );
}

/// The node view at 80x24 in a real terminal: `G` reaches its end (the poller's record
/// below the fold), and `k` then moves up one line from the end (the event loop brings
/// the offset back to what was drawn), the indicator following.
#[test]
fn node_view_scrolls_to_its_end_and_back_at_80x24() {
    let logs = tempfile::tempdir().unwrap();
    let cmd = demo_in_shell(logs.path());
    let t = Tmux::start("scroll", &cmd, 80, 24);
    t.wait_for("the fleet table", |s| {
        s.contains("NODE") && s.contains("q quit")
    });
    t.keys(&["j", "Enter"]);
    let top = t.wait_for("the node view", |s| {
        s.contains(" node ") && s.contains("mac-g02")
    });
    assert!(!top.contains("ok / failed"), "{top}");
    // The indicator, ` 1-20 of N  ↓ `, as (first line, last line, N); a capture taken
    // mid-redraw may not have it yet.
    let total = |s: &str| -> Option<(usize, usize, usize)> {
        let line = s.lines().find(|l| l.contains(" node "))?;
        let at = line.rfind(" of ")?;
        let (a, b) = line[..at].rsplit(' ').next()?.split_once('-')?;
        let n: String = line[at + 4..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some((a.parse().ok()?, b.parse().ok()?, n.parse().ok()?))
    };
    assert_eq!(total(&top).map(|t| t.0), Some(1), "{top}");
    t.keys(&["G"]);
    // (The demo's polls may still add lines: the end is wherever the indicator says.)
    t.wait_for("the end of the node view", |s| {
        s.contains("ok / failed") && total(s).is_some_and(|(_, b, n)| b == n)
    });
    t.keys(&["k"]);
    t.wait_for("one line up from the end", |s| {
        s.contains("↑↓") && total(s).is_some_and(|(a, b, n)| a > 1 && b < n)
    });
    t.keys(&["q"]);
    t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED=0"));
}

/// `q` with a node in flight asks (finish / abort / cancel) instead of quitting with the
/// node drained and locked; `a` puts it back (undrain, unlock) and then meshroll quits,
/// its recap saying where the node was left, with a non-zero exit.
#[test]
fn q_with_a_node_in_flight_asks_and_abort_puts_it_back() {
    let logs = tempfile::tempdir().unwrap();
    let cmd = demo_in_shell(logs.path());
    let t = Tmux::start(
        "quit",
        &cmd.replace(env!("CARGO_BIN_EXE_meshroll"), &bin()),
        140,
        40,
    );
    wait_staged(&t);
    step_to_sync(&t);
    t.keys(&["q"]);
    t.wait_for("the quit question", |s| {
        s.contains("quit with 1 node(s) in flight?") && s.contains("abort: put them back")
    });
    t.keys(&["z"]);
    t.wait_for("the question cancelled", |s| {
        s.contains("cancelled") && !s.contains("quit with 1 node(s)")
    });
    t.keys(&["q"]);
    t.wait_for("the quit question again", |s| {
        s.contains("quit with 1 node(s) in flight?")
    });
    t.keys(&["a"]);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(screen.contains("MESHROLL-EXITED=1"), "{screen}");
    assert!(
        screen.contains("0 landed, 0 failed, 0 skipped, 1 stopped, 25 not started"),
        "{screen}"
    );
    assert!(
        screen.contains("stopped    mac-g01: undrained and unlocked, serving its old bundle"),
        "{screen}"
    );
    let journal = demo_journal(logs.path());
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.lines().any(
            |l| l.contains("\"event\":\"node_stopped\"") && l.contains("\"left\":\"restored\"")
        ),
        "{text}"
    );
}

/// `meshroll replay` is a full-screen command like the dashboard, behind the same
/// terminal guard: SIGTERM, SIGHUP and SIGINT end it like `q`, exit 0, the alternate
/// screen left and raw mode off (before the guard, SIGTERM killed it mid-screen).
#[test]
fn a_signal_on_the_replay_gives_the_terminal_back() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("journal.jsonl");
    let out = sim_gateway_rollout(&j, &dir.path().join("logs"));
    assert!(j.exists(), "a journal to replay: {out:?}");
    for sig in ["TERM", "HUP", "INT"] {
        let logs = tempfile::tempdir().unwrap();
        let cmd = format!(
            "{} replay {} --log-dir {}; echo MESHROLL-EXITED=$?; stty -a | tr ' ' '\\n' | grep -x -e -icanon -e icanon; sleep 30",
            bin(),
            j.display(),
            logs.path().display()
        );
        let t = Tmux::start(&format!("replaysig{sig}"), &cmd, 120, 36);
        t.wait_for("the replay", |s| {
            s.contains("meshroll replay") && s.contains("mac-g01")
        });
        assert!(t.alternate_on(), "the replay runs on the alternate screen");
        signal_meshroll(&t, sig);
        let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
        assert!(
            screen.contains("MESHROLL-EXITED=0"),
            "SIG{sig} ends the replay like q:\n{screen}"
        );
        assert!(
            !t.alternate_on(),
            "SIG{sig}: alternate screen left:\n{screen}"
        );
        let screen = t.wait_for("stty's answer", |s| {
            s.lines().any(|l| l.trim().ends_with("icanon"))
        });
        assert!(
            screen.lines().any(|l| l.trim() == "icanon"),
            "SIG{sig}: the terminal is back in cooked mode:\n{screen}"
        );
    }
}
