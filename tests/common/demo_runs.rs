//! The runs the terminal tests (`tui_e2e.rs`, `replay.rs`) start again and again: the
//! demo dashboard in a tmux shell, its staged rollout stepped to the canary's sync, the
//! journal it leaves beside its logs, a headless rollout of the simulated mesh's
//! gateways writing a journal, and `replay --summary` of a journal.
//!
//! Include it after `tmux.rs`, both at the crate root:
//!
//! ```ignore
//! #[path = "common/tmux.rs"]
//! mod tmux;
//! #[path = "common/demo_runs.rs"]
//! mod demo_runs;
//! ```
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::tmux::Tmux;

/// The shell line that runs `meshroll demo` (logs in `logs`), then prints its exit
/// status as `MESHROLL-EXITED=N` and keeps the pane open.
pub fn demo_in_shell(logs: &Path) -> String {
    format!(
        "{} demo --log-dir {}; echo MESHROLL-EXITED=$?; sleep 30",
        env!("CARGO_BIN_EXE_meshroll"),
        logs.display()
    )
}

/// Wait for the demo's staged rollout, paused.
pub fn wait_staged(t: &Tmux) {
    t.wait_for("the staged rollout, paused", |s| {
        s.contains("PHASE") && s.contains("paused — n step a phase")
    });
}

/// `n`: baseline and drain on the canary (one script), until its sync is next.
pub fn step_to_sync(t: &Tmux) {
    t.keys(&["n"]);
    t.wait_for("baseline and drain on the canary", |s| s.contains("→ sync"));
}

/// The journal the demo wrote beside its logs in `logs`.
pub fn demo_journal(logs: &Path) -> PathBuf {
    std::fs::read_dir(logs)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("demo-journal"))
        .expect("a demo journal")
        .path()
}

/// A headless rollout of the simulated mesh's gateways journaled at `journal` (a
/// journal there already is resumed), logs in `logs`.
pub fn sim_gateway_rollout(journal: &Path, logs: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .args([
            "rollout",
            "--sim",
            "--yes",
            "--class",
            "gateway",
            "--journal",
        ])
        .arg(journal)
        .arg("--log-dir")
        .arg(logs)
        .output()
        .unwrap()
}

/// `meshroll replay JOURNAL --summary`.
pub fn replay_summary(journal: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .arg("replay")
        .arg(journal)
        .arg("--summary")
        .output()
        .unwrap()
}
