//! What meshroll's polling costs a node running the REAL OpenClaw CLI: CPU seconds per
//! minute on the node, at the default cadences and at others, side by side in one run
//! with the alternative a user would pick (the article's merged-probe script in a loop).
//!
//!     cargo bench --bench node_cost                     # 600 s window, about 15 minutes
//!     MESHROLL_COST_SECS=1200 cargo bench --bench node_cost
//!
//! Under `cargo test` (no `--bench` argument) it only says how to run it.
//!
//! Setup: tests/common (the lab: real sshd nodes on loopback) and
//! tests/common/real_openclaw.rs (Node 24 + openclaw 2026.9.6 from the cache, one real
//! gateway on loopback, its token in the node's own config). Three lab nodes, each its
//! own sshd, all with the same real CLI and config (so the same gateway) behind them;
//! one `meshroll status --watch --json` per node, with no cadence flags on the first:
//!
//! * `defaults`: `--poll-interval 5 --gateway-interval 300` (the defaults, no flags;
//!   doctor runs only on demand, so `status --watch` and the dashboard cost the same);
//! * `cheap`: `--gateway-interval 86400`: only the cheap polls (files, liveness, disk);
//! * `rcfile`: the defaults again, on a node whose sshd lets the account's login shell
//!   source ~/.bashrc (this machine's root runs `pyenv init` there: ~110 ms per ssh
//!   command). The other two set `SetEnv SHLVL=1` in their sshd_config, so bash skips
//!   ~/.bashrc as a default account's non-interactive guard would;
//! * `article`: on the node itself, the article's merged probe every 5 s (start to
//!   start): `openclaw gateway status` + `find -mmin` + `curl /healthz`. The article's
//!   `--quiet` is refused by the real CLI (exit 1, so the literal script always says
//!   dead); the loop runs `--require-rpc`, the flag that gives the exit code it wants.
//!
//! How CPU is counted on the node: every process an sshd forks for meshroll (the
//! session, `sh -s` with the poll script, the CLI and its children) descends from that
//! node's sshd listener. When the kernel's cpuacct cgroup can be written (cgroup v1
//! `cpuacct` or v2 `cpu.stat`), the listener is moved into a cgroup of its own before
//! any session exists; children inherit it, so `cpuacct.usage` counts every CPU
//! nanosecond of the tree, orphans included. Independently, from /proc: the listener's
//! utime+stime+cutime+cstime plus the same four of each live descendant (a process's
//! time moves into its parent's cutime/cstime when the parent reaps it, so the sum is
//! the tree's total, less what orphans reparented away use). Both are read when the
//! window opens and when it closes; the difference is the cost. The article loop is
//! one bash process that ends itself after the window and prints its own /proc stat
//! (its children are all waited for). One-off costs (a CLI run, doctor, a curl) are
//! measured the same way: `bash -c '<cmd> x N; cat /proc/$$/stat'`.
//!
//! The window opens after every watcher printed its first round (which carries a
//! gateway status and the ssh connect), so it measures the steady state, and half a
//! default gateway interval (150 s) later, so a window of whole intervals (the default
//! 600 s = 2 x 300 s) holds exactly that many gateway status runs, each one whole. The
//! immediate gateway status on a change of liveness or reachability does not fire in
//! this steady state (every node stays healthy). The report
//! ends with a model of other cadences built from the measured parts (a cheap poll, a
//! gateway status inside a poll, a doctor run, a curl of /readyz).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::real_openclaw::{self, RealNode};
use common::{Lab, NodeSpec};
use serde_json::Value;

const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// Two default gateway intervals: the window must hold whole slow-cadence cycles.
const DEFAULT_SECS: u64 = 600;
/// `--gateway-interval` when no flag is given (src/cli.rs).
const DEFAULT_GATEWAY_S: u64 = 300;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "node_cost: measures the CPU that polling puts on a node running the real \
             OpenClaw CLI (minutes, ~1 GB install). Run it with `cargo bench --bench node_cost`."
        );
        return;
    }
    let secs = std::env::var("MESHROLL_COST_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s >= 30)
        .unwrap_or(DEFAULT_SECS);
    let t0 = Instant::now();
    let say = |m: &str| eprintln!("[node_cost {:>6.1}s] {m}", t0.elapsed().as_secs_f64());
    let ticks = clk_tck();

    say("install (or reuse) Node 24 + openclaw");
    let bin = real_openclaw::install();

    // ---- lab: three sshds in front of one real OpenClaw node --------------------------
    let variants: [(&str, &[&str]); 3] = [
        ("defaults", &[]),
        ("cheap", &["--gateway-interval", "86400"]),
        ("rcfile", &[]),
    ];
    let specs: Vec<NodeSpec> = variants
        .iter()
        .map(|(n, _)| NodeSpec::new(n, "gateway"))
        .collect();
    let mut lab = Lab::start(&specs);
    // Every ssh command runs through the account's login shell. This machine's root
    // has a ~/.bashrc without the usual non-interactive guard (it runs `pyenv init`),
    // and Debian's bash sources ~/.bashrc for commands run by sshd: ~110 ms per ssh
    // command, a cost of the account, not of meshroll. `SetEnv SHLVL=1` makes bash see
    // itself as nested so it skips ~/.bashrc, as a default account's does; the
    // `rcfile` node keeps it, to show the difference.
    for (n, _) in &variants[..2] {
        let ln = lab.node(n);
        let cfg = ln.root.join("ssh/sshd_config");
        let mut text = fs::read_to_string(&cfg).expect("sshd_config");
        text.push_str("SetEnv SHLVL=1\n");
        fs::write(&cfg, text).expect("sshd_config");
        ln.stop_sshd();
        ln.start_sshd();
    }
    let rc_ms = ssh_true_ms(&lab, "rcfile", ticks);
    let clean_ms = ssh_true_ms(&lab, "cheap", ticks);
    // cgroups first, before any session exists
    let mut meters: Vec<TreeMeter> = variants
        .iter()
        .map(|(n, _)| TreeMeter::new(n, lab.node(n).sshd_pid().expect("sshd runs"), ticks))
        .collect();
    let method = if meters.iter().all(|m| m.cgroup.is_some()) {
        format!(
            "cgroup ({})",
            meters[0].cgroup.as_ref().map_or("", |c| c.kind)
        )
    } else {
        "/proc process tree (no writable cpuacct cgroup)".to_string()
    };
    say(&format!("counting node CPU by {method}"));

    let token = real_openclaw::random_token();
    let mut node = RealNode::setup(lab.node("defaults"), &bin, &token);
    for (n, _) in &variants[1..] {
        node.attach(lab.node(n));
    }
    for (n, _) in &variants {
        let ln = lab.node(n);
        ln.install_bundle(
            SHA,
            Some(&format!(
                r#"{{"files":[],"skills_sha":"{SHA}","version":1}}"#
            )),
        );
        ln.set_current(Some(SHA));
        ln.touch_cache(60);
    }
    let url = node.healthz_url();
    // Every cheap poll also asks the real gateway's /readyz (`gateway_ready_url`).
    let ready = format!("http://127.0.0.1:{}/readyz", node.port);
    for (n, _) in &variants {
        lab.node_mut(n).healthz_url = url.clone();
        lab.node_mut(n).ready_url = ready.clone();
    }
    let inv_all = lab.write_inventory_ini();
    let inv_text = fs::read_to_string(&inv_all).expect("inventory");
    say("start the real gateway");
    node.start_gateway();
    node.wait_ready(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    let gw_pid = node.gateway.as_ref().map(|g| g.pid).expect("gateway");
    say("gateway ready; 20 s of gateway idle for a baseline");
    std::thread::sleep(Duration::from_secs(5));
    let idle0 = proc_tree_secs(gw_pid, ticks);
    std::thread::sleep(Duration::from_secs(20));
    let gw_idle_per_min = (proc_tree_secs(gw_pid, ticks) - idle0) * 3.0;

    // one inventory per variant (one node each)
    let mut watchers = Vec::new();
    for (n, flags) in &variants {
        let inv = lab.dir.join(format!("inv-{n}.ini"));
        fs::write(&inv, one_node_inventory(&inv_text, n)).expect("write inventory");
        let mut args: Vec<String> = vec![
            "-i".into(),
            inv.display().to_string(),
            "--ssh-config".into(),
            lab.ssh_config.display().to_string(),
            "--log-dir".into(),
            lab.dir.join(format!("log-{n}")).display().to_string(),
        ];
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(["status", "--watch", "--json"].map(String::from));
        watchers.push(Watcher::start(n, &args));
    }
    say("watchers started; waiting for their first round");
    for w in &watchers {
        w.wait_rounds(1, Duration::from_secs(60));
    }
    // Open the window mid-way between two gateway status runs of the default watchers,
    // so a window of whole gateway intervals holds whole runs only.
    let first = watchers[0].first_round_at().expect("first round");
    let mid = first + Duration::from_secs(DEFAULT_GATEWAY_S / 2);
    say(&format!(
        "first rounds in; the window opens in {:.0} s (half a gateway interval after the first status)",
        mid.saturating_duration_since(Instant::now()).as_secs_f64()
    ));
    std::thread::sleep(mid.saturating_duration_since(Instant::now()));

    // ---- the window ---------------------------------------------------------------------
    let probe = write_probe(&lab, &node, &lab.node("defaults").state_dir(), &url);
    let counter = lab.dir.join("article-runs");
    let start = Instant::now();
    let before: Vec<(Option<f64>, f64)> = meters.iter().map(TreeMeter::read).collect();
    let gw_before = proc_tree_secs(gw_pid, ticks);
    let load_before = loadavg();
    let article = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "end=$((SECONDS+{secs})); while [ $SECONDS -lt $end ]; do \
             ( bash {p} >/dev/null 2>&1; echo $? >>{c} ) & sleep 5; wait; done; \
             cat /proc/$$/stat",
            p = probe.display(),
            c = counter.display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bash");
    say(&format!("measuring for {secs} s ..."));
    std::thread::sleep(Duration::from_secs(secs));
    let after: Vec<(Option<f64>, f64)> = meters.iter().map(TreeMeter::read).collect();
    let gw_after = proc_tree_secs(gw_pid, ticks);
    let load_after = loadavg();
    let window = start.elapsed().as_secs_f64();
    let article_out = article.wait_with_output().expect("article loop");
    let article_secs = stat_total(&String::from_utf8_lossy(&article_out.stdout), ticks);
    let article_runs = fs::read_to_string(&counter).unwrap_or_default();
    let article_ok = article_runs.lines().filter(|l| l.trim() == "0").count();
    let article_runs = article_runs.lines().count();
    let mut rounds: HashMap<String, (usize, usize, usize)> = HashMap::new();
    for w in watchers {
        let name = w.name.clone();
        let seen = w.finish();
        // rounds that started in the window; those with a fresh gateway status
        let in_window: Vec<&(Instant, Value)> = seen
            .iter()
            .filter(|(at, v)| {
                let st = *at - Duration::from_millis(v["round_ms"].as_u64().unwrap_or(0));
                st >= start && st <= start + Duration::from_secs_f64(window)
            })
            .collect();
        let gw = in_window
            .iter()
            // the round that ran it: a fresh status, and the seconds the CLI took (a
            // cheap round takes tens of ms)
            .filter(|(_, v)| {
                v["nodes"][0]["gateway"]["age_s"] == 0
                    && v["round_ms"].as_u64().is_some_and(|ms| ms >= 1000)
            })
            .count();
        let healthy = in_window
            .iter()
            .filter(|(_, v)| v["nodes"][0]["verdict"] == "healthy")
            .count();
        rounds.insert(name, (in_window.len(), gw, healthy));
    }
    say("window closed; one-off costs");

    // ---- one-off costs, measured the same way -------------------------------------------
    let oc = node.wrapper.display().to_string();
    let one = |what: &str, cmd: &str, n: u32| -> (String, f64) {
        let s = bash_stat(
            &format!("for i in $(seq {n}); do {cmd} >/dev/null 2>&1; done"),
            ticks,
        );
        (what.to_string(), s / f64::from(n))
    };
    let oneoffs = vec![
        one(
            "`openclaw gateway status --json`",
            &format!("{oc} gateway status --json"),
            3,
        ),
        one(
            "`openclaw gateway status --json --require-rpc`",
            &format!("{oc} gateway status --json --require-rpc"),
            3,
        ),
        one(
            "`openclaw gateway status --quiet` (the article's; refused, exit 1)",
            &format!("{oc} gateway status --quiet"),
            3,
        ),
        one(
            "`openclaw doctor --lint --json`",
            &format!("{oc} doctor --lint --json"),
            2,
        ),
        one("`openclaw --version`", &format!("{oc} --version"), 3),
        one(
            "`curl -s /readyz` (the gateway's readiness, HTTP)",
            &format!("curl -s -o /dev/null http://127.0.0.1:{}/readyz", node.port),
            50,
        ),
    ];
    let took = node.stop_gateway();
    say(&format!("gateway stopped in {took:.1?}"));

    // ---- report ---------------------------------------------------------------------------
    let mins = window / 60.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node_cost: {:.0} s window, {} cores, node CPU by {method}; Node {} / openclaw {}\n",
        window,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        node_version(&bin),
        real_openclaw::OPENCLAW_VERSION
    );
    let _ = writeln!(
        out,
        "| poller | polls in window | gateway status runs | CPU-s (cgroup) | CPU-s (/proc) | CPU-s per min | % of one core |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let mut per_min = HashMap::new();
    for (i, (n, flags)) in variants.iter().enumerate() {
        let (cg0, pr0) = before[i];
        let (cg1, pr1) = after[i];
        let cg = cg0.zip(cg1).map(|(a, b)| b - a);
        let pr = pr1 - pr0;
        let best = cg.unwrap_or(pr);
        let (polls, gw, healthy) = rounds.get(*n).copied().unwrap_or_default();
        per_min.insert(n.to_string(), (best / mins, polls, gw));
        let _ = writeln!(
            out,
            "| meshroll `status --watch` {}{} | {polls} ({healthy} healthy) | {gw} | {} | {pr:.2} | {:.2} | {:.2}% |",
            if flags.is_empty() {
                "(defaults: poll 5 s, gateway 300 s)".to_string()
            } else {
                flags.join(" ")
            },
            if *n == "rcfile" {
                ", login shell sourcing this machine's ~/.bashrc"
            } else {
                ""
            },
            cg.map_or("-".into(), |c| format!("{c:.2}")),
            best / mins,
            best / mins / 60.0 * 100.0
        );
    }
    let _ = writeln!(
        out,
        "| article probe loop, every 5 s (`gateway status --require-rpc` + find + curl) | {article_runs} ({article_ok} exit 0) | {article_runs} | - | {article_secs:.2} | {:.2} | {:.2}% |",
        article_secs / mins,
        article_secs / mins / 60.0 * 100.0
    );
    let _ = writeln!(
        out,
        "\nload average (1, 5, 15 min) when the window opened: {load_before}; when it closed: {load_after}"
    );
    let _ = writeln!(
        out,
        "\npoll channels over the whole run (each open is one login shell on the node; from meshroll's log):"
    );
    for (n, _) in &variants {
        let _ = writeln!(
            out,
            "- {n}: {}",
            channel_summary(&lab.dir.join(format!("log-{n}")))
        );
    }
    let _ = writeln!(
        out,
        "\ngateway process tree: {:.2} CPU-s per min during the window (all pollers together), \
         {:.2} per min idle before it",
        (gw_after - gw_before) / mins,
        gw_idle_per_min
    );
    let (cheap_pm, cheap_polls, _) = per_min.get("cheap").copied().unwrap_or_default();
    let (def_pm, _, def_gw) = per_min.get("defaults").copied().unwrap_or_default();
    let cheap_per_poll = if cheap_polls > 0 {
        cheap_pm * mins / cheap_polls as f64
    } else {
        0.0
    };
    let gw_per_run = if def_gw > 0 {
        (def_pm - cheap_pm) * mins / def_gw as f64
    } else {
        0.0
    };
    let _ = writeln!(out, "\nbreakdown (from the windows above):");
    let _ = writeln!(
        out,
        "- one cheap poll (files, liveness, disk; over the ssh master): {:.3} CPU-s; {:.2} CPU-s per min at 5 s",
        cheap_per_poll, cheap_pm
    );
    let _ = writeln!(
        out,
        "- one gateway status inside a poll (defaults minus cheap, per run): {gw_per_run:.2} CPU-s; at 300 s (the default) that is {:.2} CPU-s per min",
        gw_per_run * 0.2
    );
    let _ = writeln!(
        out,
        "- one ssh command's login shell on this machine: {rc_ms:.0} ms sourcing root's ~/.bashrc (pyenv init), {clean_ms:.0} ms without"
    );
    let _ = writeln!(out, "\none-off costs on the node (average per run):");
    for (what, s) in &oneoffs {
        let _ = writeln!(out, "- {what}: {s:.3} CPU-s");
    }
    // the model: cheap polls + gateway status + doctor, per minute
    let doctor = oneoffs
        .iter()
        .find(|(w, _)| w.contains("doctor"))
        .map_or(0.0, |(_, s)| *s);
    let rpc_ratio = {
        let plain = oneoffs
            .iter()
            .find(|(w, _)| w.ends_with("--json`"))
            .map_or(1.0, |(_, s)| *s);
        let rpc = oneoffs
            .iter()
            .find(|(w, _)| w.contains("--require-rpc`"))
            .map_or(1.0, |(_, s)| *s);
        if plain > 0.0 { rpc / plain } else { 1.0 }
    };
    let curl = oneoffs
        .iter()
        .find(|(w, _)| w.contains("readyz"))
        .map_or(0.0, |(_, s)| *s);
    let model = |poll: f64, gw: Option<f64>, gw_cost: f64, doc: Option<f64>, extra: f64| {
        60.0 / poll * (cheap_per_poll + extra)
            + gw.map_or(0.0, |g| 60.0 / g * gw_cost)
            + doc.map_or(0.0, |d| 60.0 / d * doctor)
    };
    let _ = writeln!(
        out,
        "\nmodel (cheap poll {cheap_per_poll:.3} s, gateway status {gw_per_run:.2} s, doctor {doctor:.2} s, per run):\n"
    );
    let _ = writeln!(out, "| cadence | CPU-s per min | % of one core |");
    let _ = writeln!(out, "|---|---|---|");
    let rows: Vec<(String, f64)> = vec![
        (
            "defaults (`status --watch` and dashboard): poll 5 s, gateway 300 s, doctor on demand"
                .into(),
            model(5.0, Some(300.0), gw_per_run, None, 0.0),
        ),
        (
            "defaults + one doctor run an hour (`d` or `status --doctor`)".into(),
            model(5.0, Some(300.0), gw_per_run, Some(3600.0), 0.0),
        ),
        (
            "previous `status --watch` defaults: poll 5 s, gateway 30 s".into(),
            model(5.0, Some(30.0), gw_per_run, None, 0.0),
        ),
        (
            "previous dashboard defaults: poll 5 s, gateway 30 s, doctor 600 s".into(),
            model(5.0, Some(30.0), gw_per_run, Some(600.0), 0.0),
        ),
        (
            "poll 5 s, gateway 60 s".into(),
            model(5.0, Some(60.0), gw_per_run, None, 0.0),
        ),
        (
            "poll 5 s, gateway 120 s".into(),
            model(5.0, Some(120.0), gw_per_run, None, 0.0),
        ),
        (
            "poll 5 s + curl /readyz each poll, gateway 300 s (not implemented)".into(),
            model(5.0, Some(300.0), gw_per_run, None, curl),
        ),
        (
            "poll 5 s, gateway 300 s with --require-rpc (not implemented)".into(),
            model(5.0, Some(300.0), gw_per_run * rpc_ratio, None, 0.0),
        ),
        (
            "poll 5 s, gateway on demand only (`--gateway-interval 86400`)".into(),
            model(5.0, None, 0.0, None, 0.0),
        ),
        (
            "poll 10 s, gateway 600 s".into(),
            model(10.0, Some(600.0), gw_per_run, None, 0.0),
        ),
    ];
    for (what, pm) in &rows {
        let _ = writeln!(out, "| {what} | {pm:.2} | {:.2}% |", pm / 60.0 * 100.0);
    }
    let budget = 0.02 * 60.0;
    let left = budget - 60.0 / 5.0 * cheap_per_poll;
    if left > 0.0 && gw_per_run > 0.0 {
        let _ = writeln!(
            out,
            "\n2% of one core is {budget:.2} CPU-s per min. With the cheap poll every 5 s, \
             gateway status fits at most every {:.0} s (no doctor).",
            gw_per_run * 60.0 / left
        );
    }
    print!("{out}");
    if let Ok(p) = std::env::var("MESHROLL_COST_OUT") {
        let _ = fs::write(p, &out);
    }
    for m in &mut meters {
        m.close();
    }
}

// ---------------------------------------------------------------------------------------

/// CPU milliseconds the node spends on one `ssh <node> true` over a master connection
/// (sshd session + the account's login shell), measured on the node's sshd tree.
fn ssh_true_ms(lab: &Lab, name: &str, ticks: f64) -> f64 {
    let pid = lab.node(name).sshd_pid().expect("sshd");
    let meter = TreeMeter::new(&format!("{name}-true"), pid, ticks);
    let cm = lab.dir.join(format!("cm/true-{name}"));
    let ssh = |extra: &[&str]| {
        Command::new("ssh")
            .arg("-F")
            .arg(&lab.ssh_config)
            .arg("-o")
            .arg(format!("ControlPath={}", cm.display()))
            .args(extra)
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    let _ = ssh(&[
        "-o",
        "ControlMaster=yes",
        "-o",
        "ControlPersist=30",
        "-N",
        "-f",
    ]);
    let (c0, p0) = meter.read();
    for _ in 0..10 {
        let _ = ssh(&["--", "true"]);
    }
    let (c1, p1) = meter.read();
    let _ = ssh(&["-O", "exit"]);
    let secs = c0.zip(c1).map_or(p1 - p0, |(a, b)| b - a);
    secs * 100.0
}

/// `/proc/loadavg`'s three load averages.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".into())
}

/// What a watcher's log says about its poll channel: opens, failed opens and closes,
/// with their distinct reasons.
fn channel_summary(log_dir: &Path) -> String {
    let mut text = String::new();
    for e in fs::read_dir(log_dir).into_iter().flatten().flatten() {
        text.push_str(&fs::read_to_string(e.path()).unwrap_or_default());
    }
    let count = |what: &str| text.lines().filter(|l| l.contains(what)).count();
    let mut reasons: Vec<String> = text
        .lines()
        .filter(|l| l.contains("poll channel did not open") || l.contains("poll channel closed;"))
        .filter_map(|l| l.split("reason=").nth(1))
        .map(|r| r.split(" took_ms=").next().unwrap_or(r).to_string())
        .collect();
    reasons.sort();
    reasons.dedup();
    format!(
        "{} opened, {} failed to open, {} closed{}",
        count("poll channel open "),
        count("poll channel did not open"),
        count("poll channel closed;"),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" (reasons: {})", reasons.join("; "))
        }
    )
}

/// The lines of the lab's INI inventory for node `name` only.
fn one_node_inventory(text: &str, name: &str) -> String {
    text.lines()
        .filter(|l| {
            let t = l.trim();
            t.is_empty()
                || t.starts_with('#')
                || t.starts_with('[')
                || t.starts_with(&format!("{name} "))
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The article's merged probe (Step 4), pointed at the lab node.
fn write_probe(lab: &Lab, node: &RealNode, state: &Path, url: &str) -> PathBuf {
    let p = lab.dir.join("merged-probe.sh");
    let body = format!(
        "#!/usr/bin/env bash\n\
         # The article's merged probe (2026 OpenClaw MeshMac, Step 4). Its first line is\n\
         # `openclaw gateway status --quiet`, which 2026.9.6 refuses (exit 1); this runs the\n\
         # flag that gives the exit code the article wants.\n\
         set -euo pipefail\n\
         {oc} gateway status --require-rpc\n\
         find {state} -maxdepth 1 -name skill-cache-ready -mmin -120 | grep -q .\n\
         curl -fsS {url} >/dev/null\n\
         echo OK\n",
        oc = node.wrapper.display(),
        state = state.display(),
    );
    fs::write(&p, body).expect("write probe");
    p
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn node_version(bin: &Path) -> String {
    Command::new(bin.join("node"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// utime+stime+cutime+cstime of a /proc/<pid>/stat line, in seconds.
fn stat_total(stat: &str, ticks: f64) -> f64 {
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    // after "pid (comm)": state ppid ... utime is field 14 overall, the 12th here
    let f: Vec<&str> = rest.split_whitespace().collect();
    (11..15)
        .filter_map(|i| f.get(i).and_then(|s| s.parse::<f64>().ok()))
        .sum::<f64>()
        / ticks
}

fn pid_total(pid: u32, ticks: f64) -> f64 {
    fs::read_to_string(format!("/proc/{pid}/stat")).map_or(0.0, |s| stat_total(&s, ticks))
}

/// CPU seconds of a process tree so far: the root's own and reaped children's time plus
/// the same of every live descendant.
fn proc_tree_secs(root: u32, ticks: f64) -> f64 {
    pid_total(root, ticks)
        + common::procs::descendants(root)
            .into_iter()
            .map(|p| pid_total(p, ticks))
            .sum::<f64>()
}

/// Run `script` in bash and return the CPU seconds it and its children used.
fn bash_stat(script: &str, ticks: f64) -> f64 {
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!("{script}; cat /proc/$$/stat"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("bash");
    let text = String::from_utf8_lossy(&o.stdout);
    stat_total(text.lines().last().unwrap_or(""), ticks)
}

/// A cgroup of its own for one process tree.
struct Cgroup {
    dir: PathBuf,
    parent_procs: PathBuf,
    kind: &'static str,
}

impl Cgroup {
    /// Create it and move `pid` in (its later children inherit it). None when neither
    /// cgroup v1 cpuacct nor v2 can be written here.
    fn new(name: &str, pid: u32) -> Option<Cgroup> {
        let leaf = format!("meshroll-cost-{}-{name}", std::process::id());
        for (base, kind) in [
            ("/sys/fs/cgroup/cpuacct", "v1 cpuacct"),
            ("/sys/fs/cgroup", "v2"),
        ] {
            let base = Path::new(base);
            let probe = if kind == "v2" {
                "cgroup.controllers"
            } else {
                "cpuacct.usage"
            };
            if !base.join(probe).exists() {
                continue;
            }
            let dir = base.join(&leaf);
            if fs::create_dir(&dir).is_err() {
                continue;
            }
            let cg = Cgroup {
                parent_procs: base.join("cgroup.procs"),
                dir,
                kind,
            };
            if fs::write(cg.dir.join("cgroup.procs"), pid.to_string()).is_ok()
                && cg.usage().is_some()
            {
                return Some(cg);
            }
            cg.remove();
        }
        None
    }

    /// CPU seconds used by the tasks of this cgroup since it was made.
    fn usage(&self) -> Option<f64> {
        if self.kind == "v2" {
            let s = fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
            s.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|us| us / 1e6)
        } else {
            fs::read_to_string(self.dir.join("cpuacct.usage"))
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
                .map(|ns| ns / 1e9)
        }
    }

    fn remove(&self) {
        for _ in 0..20 {
            let procs = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for p in procs.split_whitespace() {
                let _ = fs::write(&self.parent_procs, p);
            }
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// CPU of one sshd listener's tree, by cgroup (when possible) and by /proc.
struct TreeMeter {
    root: u32,
    ticks: f64,
    cgroup: Option<Cgroup>,
}

impl TreeMeter {
    fn new(name: &str, root: u32, ticks: f64) -> TreeMeter {
        TreeMeter {
            root,
            ticks,
            cgroup: Cgroup::new(name, root),
        }
    }

    fn read(&self) -> (Option<f64>, f64) {
        (
            self.cgroup.as_ref().and_then(Cgroup::usage),
            proc_tree_secs(self.root, self.ticks),
        )
    }

    fn close(&mut self) {
        if let Some(c) = self.cgroup.take() {
            c.remove();
        }
    }
}

impl Drop for TreeMeter {
    fn drop(&mut self) {
        self.close();
    }
}

/// `meshroll status --watch --json` in the background, every round with when it came.
struct Watcher {
    name: String,
    child: Child,
    seen: Arc<Mutex<Vec<(Instant, Value)>>>,
    reader: Option<JoinHandle<()>>,
}

impl Watcher {
    fn start(name: &str, args: &[String]) -> Watcher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_meshroll"))
            .args(args)
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start meshroll");
        let out = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    s2.lock().expect("lock").push((Instant::now(), v));
                }
            }
        });
        Watcher {
            name: name.to_string(),
            child,
            seen,
            reader: Some(reader),
        }
    }

    /// When the first round came.
    fn first_round_at(&self) -> Option<Instant> {
        self.seen.lock().expect("lock").first().map(|(at, _)| *at)
    }

    fn wait_rounds(&self, n: usize, deadline: Duration) {
        let end = Instant::now() + deadline;
        while self.seen.lock().expect("lock").len() < n {
            assert!(
                Instant::now() < end,
                "meshroll ({}) printed no round in {deadline:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C (meshroll closes its ssh masters), SIGKILL after 10 s; every round seen.
    fn finish(mut self) -> Vec<(Instant, Value)> {
        self.stop();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.seen.lock().expect("lock").clone()
    }

    fn stop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
    }
}
