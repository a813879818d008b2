//! Kill what you start, all of it: a CLI that times out on a node is killed with every
//! process it started (its process group), on a plain node (dash as `sh`: `setsid`) and
//! on a macOS-shaped one (no `setsid`: perl's `setpgrp`), against real sshd nodes.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::path::Path;
use std::time::{Duration, Instant};

use common::macos::RsyncFlavor;
use common::{Lab, NodeSpec, procs};
use rollout_run::meshroll;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A node whose `gateway status` forks a sleeper and hangs (`hung-fork`).
fn hanging(lab: &Lab, name: &str) {
    let n = lab.node(name);
    n.serve(A);
    n.set_mode("hung-fork");
}

fn status(lab: &Lab, inv: &Path) {
    let (out, _) = meshroll(lab, inv, &["--timeout", "3", "status", "--json"]);
    // 1: the hung node is dead (its gateway status timed out); 2 would be meshroll failing.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("timed out"),
        "the CLI did not time out: {text}"
    );
}

/// The stand-in's processes on `node` (the hung CLIs and their sleepers, by the pids they
/// wrote) that are still alive.
fn left_on(lab: &Lab, node: &str) -> (usize, Vec<u32>) {
    let pids =
        std::fs::read_to_string(lab.node(node).standin_dir().join("pids")).unwrap_or_default();
    let all: Vec<u32> = pids.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let alive = all
        .iter()
        .copied()
        .filter(|p| procs::cmdline(*p).is_some_and(|c| c == "sleep 3600"))
        .collect();
    (all.len(), alive)
}

fn ten_timed_out_polls_leave_nothing(spec: NodeSpec) {
    let name = spec.name.clone();
    let lab = Lab::start(&[spec]);
    hanging(&lab, &name);
    let inv = lab.write_inventory_ini();
    for _ in 0..10 {
        status(&lab, &inv);
    }
    // The watchdog's kill is asynchronous to the answer: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (started, alive) = loop {
        let (started, alive) = left_on(&lab, &name);
        if alive.is_empty() || Instant::now() > deadline {
            break (started, alive);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Ten CLIs and ten sleepers were started...
    assert_eq!(started, 20, "the hung CLI did not run ten times");
    // ...and none is left.
    assert!(
        alive.is_empty(),
        "{} process(es) left on {name} after ten timed-out polls: {alive:?}",
        alive.len()
    );
}

#[test]
fn ten_timed_out_polls_leave_no_process_on_the_node() {
    ten_timed_out_polls_leave_nothing(NodeSpec::new("n1", "worker"));
}

#[test]
fn ten_timed_out_polls_leave_no_process_on_a_macos_node() {
    ten_timed_out_polls_leave_nothing(NodeSpec::macos("mac", "worker", RsyncFlavor::Apple269));
}
