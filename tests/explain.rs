//! `status --explain NODE` and `status --target SHA` on the simulated mesh: the why of
//! a verdict headless, and a staged rollout's waiting nodes in `status --json`.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn status(args: &[&str]) -> Output {
    let logs = std::env::temp_dir().join("meshroll-explain-test-logs");
    Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .args(["status", "--sim", "--log-dir"])
        .arg(logs)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn explain_prints_every_signal_and_marks_the_one_that_decided() {
    let out = status(&["--explain", "mac-w14"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let s = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert!(
        lines[0].starts_with("mac-w14: draining (warming: cache stale"),
        "{s}"
    );
    let signals: Vec<&str> = lines[1..8]
        .iter()
        .map(|l| l.trim_start().split(' ').next().unwrap())
        .collect();
    assert_eq!(
        signals,
        [
            "reachability",
            "last",
            "gateway",
            "gateway",
            "liveness",
            "drain",
            "cache"
        ]
    );
    assert!(
        lines[7].starts_with("  cache age 3h0") && lines[7].contains("> 2h00m limit"),
        "{s}"
    );
    assert!(lines[7].ends_with(": fail  <- the verdict"), "{s}");
    assert_eq!(s.matches("<- the verdict").count(), 1, "{s}");

    let out = status(&["--explain", "mac-w09", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "dead");
    let decided: Vec<&serde_json::Value> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["decides"] == true)
        .collect();
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["signal"], "gateway");
    assert_eq!(decided[0]["value"], "auth rejected");
    assert_eq!(decided[0]["pass"], false);
}

/// `--explain --json` carries the skew lines the text prints (here the lock file that
/// names another tree, judged from the node alone).
#[test]
fn explain_json_carries_the_skew_lines() {
    let out = status(&["--explain", "mac-w12"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  skew: "))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].contains("lock file names"), "{text}");
    let out = status(&["--explain", "mac-w12", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["skew"], serde_json::json!(lines), "{v:#}");
    assert_eq!(v["skew_diffs"][0]["signal"], "lock", "{v:#}");
    assert_eq!(
        v["skew_against"],
        "the node itself (its class is not polled)"
    );
    assert_eq!(v["polled"], true);
}

#[test]
fn explain_of_an_unknown_node_names_it() {
    let out = status(&["--explain", "mac-nope"]);
    // meshroll could not run as asked: 2.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--explain mac-nope: no such node"), "{err}");
}

#[test]
fn a_rollout_target_makes_the_previous_bundle_waiting_in_json() {
    let target = "7d1e0c55a2b94f3e8c6d21a09b47f3e5c8d90a12";
    let out = status(&["--json", "--target", target]);
    // The demo mesh has dead nodes: status exits 1.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = |n: &str| rows.iter().find(|r| r["node"] == n).unwrap();
    assert_eq!(row("mac-w01")["manifest"]["state"], "waiting");
    assert_eq!(row("mac-w01")["polled"], true);
    assert_eq!(row("mac-w01")["manifest"]["reference"], target);
    assert_eq!(row("mac-w01")["skew"]["any"], false);
    assert_eq!(row("mac-w07")["manifest"]["state"], "skew");
    assert_eq!(row("mac-w12")["manifest"]["state"], "mismatch");
    let skewed: Vec<&str> = rows
        .iter()
        .filter(|r| r["skew"]["any"] == true)
        .map(|r| r["node"].as_str().unwrap())
        .collect();
    // mac-w20 has no lock file: unverified, not skewed.
    assert_eq!(skewed, ["mac-g02", "mac-w07", "mac-w12"]);
    assert_eq!(row("mac-w20")["manifest"]["unverified"], true);
}
