//! 1,000 real nodes from one machine (issue 10): ONE loopback sshd (tests/common's lab,
//! one node) behind 1,000 `Host` aliases in an ssh_config, polled by
//! `meshroll status --watch --json`, one ssh master per alias.
//!
//!     cargo build --release && cargo bench --bench real_nodes
//!
//! Under `cargo test` (no `--bench` argument) it only says how to run it.
//! `MESHROLL_REAL_NODES` (default 1000) and `MESHROLL_REAL_ROUNDS` (default 4) change
//! the size and the rounds per run.
//!
//! Runs, one after the other on the same sshd:
//!
//! * **meshroll, default connect concurrency** (`--connect-concurrency` unset: 10)
//!   against the sshd's default `MaxStartups 10:30:100`;
//! * **meshroll, no connect cap** (`--connect-concurrency 0`) against the same sshd:
//!   what a burst of 1,000 connects meets;
//! * **pdsh** (`pdsh -R ssh -f 32`) running `true` on the 1,000 aliases once, fresh
//!   connections, for context.
//!
//! Every meshroll run: `--poll-interval 5 --gateway-interval 3600 --timeout 30`,
//! round 1 carries the connects and the gateway status, rounds 2.. are steady cheap
//! polls over open masters. While it runs, every 2 s, the operator side is read from
//! /proc: meshroll's RSS, PSS (smaps_rollup) and open descriptors, and the same summed
//! over every ssh master of the run (processes whose command line names the run's
//! ssh_config). The sshd and its sessions are the nodes' side, not counted.
//! The sshd sets `SetEnv SHLVL=1`, so the account's login shell skips ~/.bashrc (this
//! machine's root runs `pyenv init` there, see BENCHMARKS.md).

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Lab, NodeSpec};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "benches/real_nodes.rs: run it with `cargo build --release && cargo bench --bench real_nodes`"
        );
        return;
    }
    let n: usize = std::env::var("MESHROLL_REAL_NODES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let rounds: usize = std::env::var("MESHROLL_REAL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let bin = std::env::var_os("MESHROLL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/meshroll")
        });
    assert!(
        bin.is_file(),
        "{} missing: cargo build --release",
        bin.display()
    );

    eprintln!("real_nodes: one sshd for {n} aliases");
    let lab = Lab::start(&[NodeSpec::new("n", "worker")]);
    let node = &lab.nodes[0];
    let cfg = node.root.join("ssh/sshd_config");
    let text = fs::read_to_string(&cfg).expect("sshd_config");
    // sshd's own defaults for MaxStartups; MaxSessions stays 10 (meshroll uses <= 4
    // channels per master).
    let text = text.replace("MaxStartups 100:30:200", "MaxStartups 10:30:100");
    fs::write(&cfg, format!("{text}SetEnv SHLVL=1\n")).expect("sshd_config");
    node.stop_sshd();
    node.start_sshd();

    // 1,000 aliases, each its own Host block, all on the one sshd.
    let mut ssh_config = String::from("# 1,000 aliases, one sshd\n");
    let aliases: Vec<String> = (1..=n).map(|i| format!("n{i:04}")).collect();
    for a in &aliases {
        let _ = write!(
            ssh_config,
            "\nHost {a}\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n    \
             IdentityFile {key}\n    IdentitiesOnly yes\n    UserKnownHostsFile {kh}\n    \
             GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n    \
             UpdateHostKeys no\n    BatchMode yes\n    LogLevel ERROR\n",
            port = node.port,
            user = lab.user,
            key = lab.client_key.display(),
            kh = lab.known_hosts.display(),
        );
    }
    let ssh_cfg = lab.dir.join("ssh_config_1000");
    fs::write(&ssh_cfg, ssh_config).expect("ssh_config");
    let mut inv = String::from("[worker]\n");
    for a in &aliases {
        let _ = writeln!(
            inv,
            "{a} ansible_host={a} meshroll_skills_root={} meshroll_state_dir={} \
             meshroll_openclaw={} meshroll_healthz_url={} meshroll_run_as=",
            node.skills_root().display(),
            node.state_dir().display(),
            node.openclaw().display(),
            node.healthz_url
        );
    }
    let inv_path = lab.dir.join("inventory_1000.ini");
    fs::write(&inv_path, inv).expect("inventory");
    let sha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    node.install_bundle(
        sha,
        Some(&format!("{{\"skills_sha\":\"{sha}\",\"files\":[]}}")),
    );
    node.set_current(Some(sha));
    node.touch_cache(60);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "#### {n} aliases on one loopback sshd (`MaxStartups 10:30:100`, `MaxSessions 10`)\n"
    );
    let mut runs = Vec::new();
    let caps = std::env::var("MESHROLL_REAL_CAPS").unwrap_or_else(|_| "default,0".into());
    for cc in caps.split(',') {
        let (label, cc) = match cc {
            "default" => ("default (10)".to_string(), None),
            "0" => ("none (0)".to_string(), Some("0")),
            c => (c.to_string(), Some(c)),
        };
        eprintln!("real_nodes: meshroll, connect concurrency {label}");
        runs.push((
            label,
            meshroll_run(&bin, &lab, &ssh_cfg, &inv_path, n, rounds, cc),
        ));
        // Let the masters of the run exit and sshd reap its sessions.
        std::thread::sleep(Duration::from_secs(5));
    }
    out.push_str(
        "| connect concurrency | time to first full round | steady round (median, max) | nodes answered, round 1 / last | errors shown after round 1 | peak meshroll RSS / PSS / fds | peak ssh masters: count, RSS / PSS / fds | peak operator total RSS / PSS |\n|---|---:|---:|---:|---|---:|---:|---:|\n",
    );
    for (label, r) in &runs {
        let mut steady = r.steady_ms.clone();
        steady.sort_unstable();
        let med = steady.get(steady.len() / 2).copied().unwrap_or(0);
        let max = steady.last().copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "| {label} | {:.1} s | {:.1} s, {:.1} s | {} / {} | {} | {:.0} MiB / {:.0} MiB / {} | {}, {:.0} MiB / {:.0} MiB / {} | {:.0} MiB / {:.0} MiB |",
            r.first_ms as f64 / 1000.0,
            med as f64 / 1000.0,
            max as f64 / 1000.0,
            r.answering_first,
            r.answering_last,
            r.failures_first,
            r.peak.me_rss,
            r.peak.me_pss,
            r.peak.me_fds,
            r.peak.ssh_count,
            r.peak.ssh_rss,
            r.peak.ssh_pss,
            r.peak.ssh_fds,
            r.peak.total_rss,
            r.peak.total_pss,
        );
    }
    eprintln!("real_nodes: pdsh -f 32 true on {n} aliases");
    let (pdsh_s, pdsh_failed) = pdsh_run(&lab, &ssh_cfg, &aliases);
    let _ = writeln!(
        out,
        "\npdsh -R ssh -f 32 `true` on the {n} aliases, fresh connections: {pdsh_s:.1} s, {pdsh_failed} failed"
    );
    println!("{out}");
}

#[derive(Default, Clone)]
struct Peak {
    me_rss: f64,
    me_pss: f64,
    me_fds: usize,
    ssh_count: usize,
    ssh_rss: f64,
    ssh_pss: f64,
    ssh_fds: usize,
    total_rss: f64,
    total_pss: f64,
}

struct RunResult {
    first_ms: u64,
    steady_ms: Vec<u64>,
    answering_first: usize,
    answering_last: usize,
    failures_first: String,
    peak: Peak,
}

fn kib(path: &str, key: &str) -> f64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0)
}

fn mem(pid: u32) -> (f64, f64, usize) {
    let rss = kib(&format!("/proc/{pid}/status"), "VmRSS:") / 1024.0;
    let pss = kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:") / 1024.0;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss, pss, fds)
}

fn masters(ssh_cfg: &Path) -> Vec<u32> {
    let want = ssh_cfg.display().to_string();
    let mut v = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        let mut words = cmd.split('\0');
        if words.next().is_some_and(|w| w.ends_with("ssh")) && cmd.contains(&want) {
            v.push(pid);
        }
    }
    v
}

fn sample(me: u32, ssh_cfg: &Path) -> Peak {
    let (me_rss, me_pss, me_fds) = mem(me);
    let pids = masters(ssh_cfg);
    let mut p = Peak {
        me_rss,
        me_pss,
        me_fds,
        ssh_count: pids.len(),
        ..Peak::default()
    };
    for pid in pids {
        let (r, s, f) = mem(pid);
        p.ssh_rss += r;
        p.ssh_pss += s;
        p.ssh_fds += f;
    }
    p.total_rss = p.me_rss + p.ssh_rss;
    p.total_pss = p.me_pss + p.ssh_pss;
    p
}

fn max_peak(a: &mut Peak, b: &Peak) {
    a.me_rss = a.me_rss.max(b.me_rss);
    a.me_pss = a.me_pss.max(b.me_pss);
    a.me_fds = a.me_fds.max(b.me_fds);
    a.ssh_count = a.ssh_count.max(b.ssh_count);
    a.ssh_rss = a.ssh_rss.max(b.ssh_rss);
    a.ssh_pss = a.ssh_pss.max(b.ssh_pss);
    a.ssh_fds = a.ssh_fds.max(b.ssh_fds);
    a.total_rss = a.total_rss.max(b.total_rss);
    a.total_pss = a.total_pss.max(b.total_pss);
}

fn meshroll_run(
    bin: &Path,
    lab: &Lab,
    ssh_cfg: &Path,
    inv: &Path,
    n: usize,
    rounds: usize,
    connect: Option<&str>,
) -> RunResult {
    let log = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(bin);
    cmd.arg("-i")
        .arg(inv)
        .arg("--ssh-config")
        .arg(ssh_cfg)
        .arg("--log-dir")
        .arg(log.path())
        .args([
            "--timeout",
            "30",
            "--poll-interval",
            "5",
            "--gateway-interval",
            "3600",
        ]);
    if let Some(c) = connect {
        cmd.args(["--connect-concurrency", c]);
    }
    cmd.args([
        "status",
        "--watch",
        "--json",
        "--count",
        &rounds.to_string(),
    ])
    .env("USER", format!("bench{}", std::process::id()))
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let _ = lab;
    let mut child = cmd.spawn().expect("run meshroll");
    let pid = child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Mutex::new(Peak::default()));
    let sampler = {
        let (stop, peak, cfg) = (stop.clone(), peak.clone(), ssh_cfg.to_path_buf());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let s = sample(pid, &cfg);
                if let Ok(mut p) = peak.lock() {
                    max_peak(&mut p, &s);
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        })
    };
    let start = Instant::now();
    let stdout = child.stdout.take().expect("stdout");
    let mut first_ms = 0;
    let mut steady = Vec::new();
    let mut answering_first = 0;
    let mut answering_last = 0;
    let mut failures_first = String::new();
    for (i, line) in BufReader::new(stdout).lines().enumerate() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let round_ms = v["round_ms"].as_u64().unwrap_or(0);
        let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
        assert_eq!(nodes.len(), n);
        // Answered this run: its signals arrived (a long round can make the first
        // answers stale by the time the round ends; they still answered).
        let answering = nodes
            .iter()
            .filter(|r| {
                r["live"]["age_s"].is_u64()
                    && r["error"].as_str().is_none_or(|e| {
                        !e.starts_with("host unreachable") && !e.contains("timed out")
                    })
            })
            .count();
        if i == 0 {
            first_ms = round_ms;
            answering_first = answering;
            let mut why: std::collections::BTreeMap<String, usize> = Default::default();
            for r in &nodes {
                if let Some(e) = r["error"].as_str() {
                    let kind = if e.contains("signals stale") {
                        "answered, stale by the end of the round".to_string()
                    } else if e.contains("kex_exchange_identification") {
                        "refused by sshd (kex_exchange_identification)".to_string()
                    } else if e.contains("timed out") {
                        "timed out".to_string()
                    } else {
                        e.chars().take(60).collect()
                    };
                    *why.entry(kind).or_default() += 1;
                }
            }
            failures_first = if why.is_empty() {
                "none".into()
            } else {
                why.iter()
                    .map(|(k, c)| format!("{c} x `{k}`"))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
        } else {
            steady.push(round_ms);
        }
        answering_last = answering;
        eprintln!(
            "real_nodes:   round {} {round_ms} ms, {answering} answering ({:.0} s)",
            i + 1,
            start.elapsed().as_secs_f64()
        );
    }
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let peak = peak.lock().map(|p| p.clone()).unwrap_or_default();
    RunResult {
        first_ms,
        steady_ms: steady,
        answering_first,
        answering_last,
        failures_first,
        peak,
    }
}

fn pdsh_run(lab: &Lab, ssh_cfg: &Path, aliases: &[String]) -> (f64, usize) {
    let t = Instant::now();
    let out = Command::new("pdsh")
        .env(
            "PDSH_SSH_ARGS",
            format!("-F {} -oBatchMode=yes -x -l%u %h", ssh_cfg.display()),
        )
        .env("PDSH_RCMD_TYPE", "ssh")
        .args(["-S", "-R", "ssh", "-f", "32", "-w"])
        .arg(aliases.join(","))
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let _ = lab;
    match out {
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let failed = err
                .lines()
                .filter(|l| l.contains("exited with exit code") || l.contains("ssh exited"))
                .count();
            (t.elapsed().as_secs_f64(), failed)
        }
        Err(_) => (f64::NAN, aliases.len()),
    }
}
