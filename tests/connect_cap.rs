//! `--connect-concurrency` caps how many ssh masters are being set up at once: a fake
//! `ssh` first in PATH records when each connect starts and ends.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const NODES: usize = 24;

/// The most connects that overlapped, from `S <ns>` / `E <ns>` lines.
fn max_overlap(log: &str) -> usize {
    let mut ev: Vec<(u128, i32)> = log
        .lines()
        .filter_map(|l| {
            let (k, t) = l.split_once(' ')?;
            let t: u128 = t.trim().parse().ok()?;
            Some((t, if k == "S" { 1 } else { -1 }))
        })
        .collect();
    // Ends before starts at the same instant.
    ev.sort();
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

fn run(cap: &str, hold_ms: Option<&str>) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("connects.log");
    let fake = bin.join("ssh");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"S $(date +%s%N)\" >> {log}\nsleep 0.4\necho \"E $(date +%s%N)\" >> {log}\necho 'ssh: connect to host 127.0.0.1 port 1: Connection refused' >&2\nexit 255\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut inv = String::from("[worker]\n");
    for i in 1..=NODES {
        inv.push_str(&format!("n{i:02} ansible_host=127.0.0.1\n"));
    }
    let inv_path = dir.path().join("inv.ini");
    std::fs::write(&inv_path, inv).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshroll"));
    match hold_ms {
        Some(ms) => cmd.env("MESHROLL_CONNECT_SLOT_HOLD_MS", ms),
        None => cmd.env_remove("MESHROLL_CONNECT_SLOT_HOLD_MS"),
    };
    let out = cmd
        .arg("-i")
        .arg(&inv_path)
        .arg("--log-dir")
        .arg(dir.path())
        .args([
            "--timeout",
            "10",
            "--connect-concurrency",
            cap,
            "status",
            "--json",
        ])
        .env("PATH", path)
        .env("USER", format!("capt{}", std::process::id()))
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(rows.as_array().unwrap().len(), NODES);
    (
        max_overlap(&log),
        log.lines().filter(|l| l.starts_with('S')).count(),
    )
}

#[test]
fn connects_are_capped() {
    // Each connect holds its slot to the end (a hold longer than the fake's 0.4 s).
    let (overlap, started) = run("3", Some("10000"));
    assert!(started >= NODES, "{started} connects for {NODES} nodes");
    assert!(overlap <= 3, "{overlap} connects at once with a cap of 3");
    // Without a cap they all go at once.
    let (overlap, _) = run("0", Some("10000"));
    assert!(overlap > 3, "only {overlap} connects at once without a cap");
}

/// With the default hold (250 ms), a connect whose handshake takes longer (the fake's
/// 0.4 s) gives its slot back and goes on: more than the cap overlap.
#[test]
fn a_slow_handshake_gives_its_slot_back() {
    let started = std::time::Instant::now();
    let (overlap, n) = run("3", None);
    let took = started.elapsed();
    assert!(n >= NODES, "{n} connects for {NODES} nodes");
    eprintln!("{NODES} connects with a cap of 3: {took:?}, {overlap} at once at most");
    assert!(overlap > 3, "only {overlap} connects at once");
}
