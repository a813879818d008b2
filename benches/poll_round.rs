//! Benchmark: one poll round of 20 lab nodes (tests/common), side by side in one run:
//!
//! * `meshroll status --watch --json`: the steady-state round (rounds 2..N: cheap
//!   signals over the open masters, no gateway status) and the cold round 1 (connect +
//!   gateway status), as reported in `round_ms`;
//! * `pdsh -R ssh` running the gateway status command on all 20 nodes (one fan-out);
//! * a sequential `for a in ...; do ssh ...; done` loop running the same command;
//! * one remote command: `ssh <alias> true` over a fresh connection and over an
//!   existing ControlMaster, and one gateway status over a fresh connection.
//!
//! Run with `cargo build --release && cargo bench --bench poll_round`: the bench runs
//! the release binary `target/release/meshroll` (benches get no `CARGO_BIN_EXE_*`), or
//! the one named by `MESHROLL_BIN`. `MESHROLL_BENCH_SAMPLES` sets the number of samples
//! (default 10; each meshroll sample is one watch run giving 11 steady rounds).
//! Methods are interleaved sample by sample so background noise hits all alike.
//!
//! Two passes over the same lab (`MESHROLL_BENCH_PASSES=both|as-is|no-rc`, default
//! both): the lab as is, then with every node's sshd setting `SHLVL=1` in sessions so
//! a bash login shell skips `~/.bashrc` (Debian's bash reads it in every ssh session; a
//! heavy rc file, e.g. `pyenv init`, then dominates every method's per-session cost).

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Lab, LabNode, NodeSpec};
use serde_json::Value;

const NODES: usize = 20;
/// Rounds per meshroll watch run: round 1 is cold, rounds 2.. are steady state.
const WATCH_ROUNDS: u64 = 12;
const DEFAULT_SAMPLES: usize = 10;
const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const GATEWAY_CMD: &str = "gateway status --json";
const TIME: &str = "/usr/bin/time";

fn main() {
    let samples = std::env::var("MESHROLL_BENCH_SAMPLES")
        .ok()
        .map(|s| {
            s.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .expect("MESHROLL_BENCH_SAMPLES must be a positive integer")
        })
        .unwrap_or(DEFAULT_SAMPLES);
    let passes = std::env::var("MESHROLL_BENCH_PASSES").unwrap_or_else(|_| "both".into());
    let (as_is, no_rc) = match passes.as_str() {
        "both" => (true, true),
        "as-is" => (true, false),
        "no-rc" => (false, true),
        other => panic!("MESHROLL_BENCH_PASSES={other:?}: use both, as-is or no-rc"),
    };
    let bin = meshroll_bin();
    warn_if_stale(&bin);
    tool_present("pdsh", &["-V"], "pdsh (apt-get install pdsh)");
    let pdsh_modules = run_capture(Command::new("pdsh").arg("-L"), "pdsh -L");
    assert!(
        String::from_utf8_lossy(&pdsh_modules.stdout).contains("rcmd/ssh"),
        "pdsh has no rcmd/ssh module (pdsh -L does not list it)"
    );
    let rss_via = if Path::new(TIME).is_file() {
        RssVia::Time
    } else if Path::new("/proc/self/status").is_file() {
        RssVia::Proc
    } else {
        RssVia::None
    };

    // ---- the lab: 20 healthy nodes ------------------------------------------------
    let mut specs = NodeSpec::many("g", 3, "gateway");
    specs.extend(NodeSpec::many("w", NODES - 3, "worker"));
    eprintln!("bench: starting a {NODES}-node lab ...");
    let lab = Lab::start(&specs);
    for n in &lab.nodes {
        healthy(n);
    }
    let inv = lab.write_inventory_ini();
    // pdsh sends one command line to every node, but each node has its own root. sshd
    // puts the port it answered on into $SSH_CONNECTION, and every lab node has its own
    // port: <lab>/by-port/<port> -> <node root> lets the one command find its node's
    // stand-in.
    let by_port = lab.dir.join("by-port");
    fs::create_dir_all(&by_port).expect("create <lab>/by-port");
    for n in &lab.nodes {
        std::os::unix::fs::symlink(&n.root, by_port.join(n.port.to_string()))
            .expect("symlink <lab>/by-port/<port>");
    }
    let pdsh_remote = format!(
        "exec {}/\"${{SSH_CONNECTION##* }}\"/bin/openclaw {GATEWAY_CMD}",
        by_port.display()
    );
    let bench = Bench {
        bin: &bin,
        lab: &lab,
        inv: &inv,
        aliases: lab.nodes.iter().map(|n| n.alias.as_str()).collect(),
        pdsh_remote,
        rss_via,
        samples,
    };

    let mut out = format!(
        "\nPoll round, {NODES} lab nodes\n\nmachine: nproc {}, kernel {}; meshroll {}\n",
        run_text(&mut Command::new("nproc")),
        run_text(Command::new("uname").arg("-r")),
        bin.display()
    );
    if as_is {
        out.push_str(&bench.pass(
            "Pass 1: lab as is (every ssh session starts the login shell; bash reads the user's ~/.bashrc when sshd runs it)",
        ));
    }
    if no_rc {
        // Debian's bash sources ~/.bashrc when sshd starts it (SSH_SOURCE_BASHRC), but
        // only at shell level < 2: with SHLVL=1 in the session environment it does not.
        // The same nodes, ports and host keys; only that per-session cost goes.
        for n in &lab.nodes {
            let cfg = n.root.join("ssh/sshd_config");
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(&cfg)
                .unwrap_or_else(|e| panic!("open {}: {e}", cfg.display()));
            f.write_all(b"SetEnv SHLVL=1\n")
                .unwrap_or_else(|e| panic!("append to {}: {e}", cfg.display()));
            n.stop_sshd();
            n.start_sshd();
        }
        out.push_str(
            &bench.pass(
                "Pass 2: same nodes, the login shell skips ~/.bashrc (sshd `SetEnv SHLVL=1`)",
            ),
        );
    }
    print!("{out}");
    drop(lab);
}

/// Everything one pass needs.
struct Bench<'a> {
    bin: &'a Path,
    lab: &'a Lab,
    inv: &'a Path,
    aliases: Vec<&'a str>,
    pdsh_remote: String,
    rss_via: RssVia,
    samples: usize,
}

impl Bench<'_> {
    /// Every method, `samples` times, interleaved sample by sample (iteration 0 is a
    /// discarded warm-up); returns the section of the report.
    fn pass(&self, title: &str) -> String {
        let (lab, samples) = (self.lab, self.samples);
        eprintln!("bench: {title}");
        let masters = MasterSet::open(lab);
        let load_before = loadavg();
        let mut cold = Vec::new();
        let mut steady = Vec::new();
        let mut steady_oneshot = Vec::new();
        let mut rss_kib = Vec::new();
        let mut pdsh = Vec::new();
        let mut seq = Vec::new();
        let mut fresh_true = Vec::new();
        let mut fresh_gw = Vec::new();
        let mut master_true = Vec::new();
        for i in 0..=samples {
            let keep = i > 0;
            eprintln!(
                "bench: {} {}/{samples}",
                if keep { "sample" } else { "warm-up" },
                i.max(1)
            );
            let node = &lab.nodes[i % NODES];

            let w = meshroll_watch(self.bin, lab, self.inv, self.rss_via);
            let w1 =
                meshroll_watch_with(self.bin, lab, self.inv, self.rss_via, false, WATCH_ROUNDS);
            let t_pdsh = time_pdsh(lab, &self.aliases, &self.pdsh_remote);
            let t_seq = time_seq(lab, &self.aliases);
            let t_fresh = time_ok(
                lab.ssh_command(&node.alias).arg("--").arg("true"),
                "ssh <alias> true",
            );
            let t_gw = time_ok(
                lab.ssh_command(&node.alias)
                    .arg("--")
                    .arg(format!("{} {GATEWAY_CMD}", node.openclaw().display())),
                "ssh <alias> openclaw gateway status --json",
            );
            masters.check(lab, node);
            let t_master = time_ok(
                masters.command(lab, node).arg("--").arg("true"),
                "ssh (ControlMaster) <alias> true",
            );
            if keep {
                cold.push(w.cold_ms);
                steady.extend(w.steady_ms);
                steady_oneshot.extend(w1.steady_ms);
                rss_kib.extend(w.peak_rss_kib);
                pdsh.push(t_pdsh);
                seq.push(t_seq);
                fresh_true.push(t_fresh);
                fresh_gw.push(t_gw);
                master_true.push(t_master);
            }
        }
        masters.close(lab);
        let load_after = loadavg();

        let rows = [
            Row::new(
                "meshroll steady round",
                format!(
                    "`status --watch --json`, rounds 2..{WATCH_ROUNDS}: cheap signals over open masters, {NODES} nodes"
                ),
                &steady,
            ),
            Row::new(
                "meshroll cold round",
                format!("round 1: connect + gateway status, {NODES} nodes"),
                &cold,
            ),
            Row::new(
                "pdsh fan-out",
                format!("`pdsh -R ssh -f 32`: gateway status on {NODES} nodes, fresh connections"),
                &pdsh,
            ),
            Row::new(
                "sequential ssh loop",
                format!(
                    "`for a in ..; do ssh $a openclaw gateway status --json; done`, {NODES} nodes"
                ),
                &seq,
            ),
            Row::new(
                "one command, fresh ssh",
                "`ssh <alias> true`, new connection".to_string(),
                &fresh_true,
            ),
            Row::new(
                "one command, ControlMaster",
                "`ssh <alias> true` over an open master".to_string(),
                &master_true,
            ),
            Row::new(
                "one gateway status, fresh ssh",
                "`ssh <alias> openclaw gateway status --json`".to_string(),
                &fresh_gw,
            ),
            Row::new(
                "meshroll steady round, one command per poll",
                format!(
                    "`MESHROLL_POLL_CHANNEL=0 status --watch --json`, rounds 2..{WATCH_ROUNDS}: a new channel and login shell per poll (before the poll channel)"
                ),
                &steady_oneshot,
            ),
        ];
        let procs = [true, false].map(|channel| node_procs_per_poll(self, channel));
        let steady_med = rows[0].stats.median;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n### {title}\n\n{samples} samples per method (meshroll steady: {} rounds from {samples} watch runs); \
             load average (1/5/15 min) {load_before} before, {load_after} after\n",
            steady.len()
        );
        let _ = writeln!(
            out,
            "| method | what it runs | median ms | p90 ms | min ms | max ms |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
        for r in &rows {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                r.method, r.what, r.stats.median, r.stats.p90, r.stats.min, r.stats.max
            );
        }
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { f64::INFINITY };
        let pdsh_x = ratio(rows[2].stats.median, steady_med);
        let vs_master = ratio(steady_med, rows[5].stats.median);
        let vs_fresh = ratio(steady_med, rows[4].stats.median);
        let _ = writeln!(out, "\n| ratio (medians) | value | goal |");
        let _ = writeln!(out, "|---|---:|---|");
        let _ = writeln!(
            out,
            "| pdsh fan-out / meshroll steady round | {pdsh_x:.2}x | >= 8x: {} |",
            met(pdsh_x >= 8.0)
        );
        let _ = writeln!(
            out,
            "| pdsh fan-out / meshroll steady round, one command per poll | {:.2}x | (before) |",
            ratio(rows[2].stats.median, rows[7].stats.median)
        );
        let _ = writeln!(
            out,
            "| meshroll steady round / one command over a ControlMaster | {vs_master:.2}x | <= 2x: {} |",
            met(vs_master <= 2.0)
        );
        let _ = writeln!(
            out,
            "| meshroll steady round / one command over fresh ssh | {vs_fresh:.2}x | <= 2x: {} |",
            met(vs_fresh <= 2.0)
        );
        let _ = writeln!(
            out,
            "| sequential ssh loop / meshroll steady round | {:.2}x | (context) |",
            ratio(rows[3].stats.median, steady_med)
        );
        let _ = writeln!(
            out,
            "| pdsh fan-out / meshroll cold round | {:.2}x | (context) |",
            ratio(rows[2].stats.median, rows[1].stats.median)
        );
        let rss = match (self.rss_via, rss_kib.iter().max()) {
            (RssVia::None, _) | (_, None) => "n/a".to_string(),
            (via, Some(max)) => {
                let mut v = rss_kib.clone();
                v.sort_unstable();
                format!(
                    "max {:.1} MiB, median {:.1} MiB over {} runs ({})",
                    *max as f64 / 1024.0,
                    v[v.len() / 2] as f64 / 1024.0,
                    v.len(),
                    via.describe()
                )
            }
        };
        let rss_ok = rss_kib.iter().max().map(|m| *m < 20 * 1024);
        let _ = writeln!(
            out,
            "\nmeshroll peak RSS, {NODES}-node `status --watch --json --count {WATCH_ROUNDS}`: {rss}; goal < 20 MiB: {}",
            rss_ok.map_or("n/a", met)
        );
        let _ = writeln!(
            out,
            "\nProcesses started on one node per cheap poll (`strace -f -e trace=execve` on its sshd, successful execs, \
             rounds 3..{WATCH_ROUNDS} of a watch run, `--poll-interval 1`): poll channel {}, one command per poll {}; goal <= 4: {}",
            procs[0].map_or("n/a".into(), |p| format!("{p:.1}")),
            procs[1].map_or("n/a".into(), |p| format!("{p:.1}")),
            procs[0].map_or("n/a", |p| met(p <= 4.0))
        );
        out
    }
}

// ---------------------------------------------------------------------------------------
// the lab

/// Like `healthy()` in tests/lab_status.rs: bundle + lock, `current`, a fresh cache,
/// gateway ready.
fn healthy(n: &LabNode) {
    let lock = format!(r#"{{"files":[],"skills_sha":"{SHA}","version":1}}"#);
    n.install_bundle(SHA, Some(&lock));
    n.set_current(Some(SHA));
    n.touch_cache(300);
    n.set_mode("ready");
}

/// One ControlMaster per node (`<lab>/cm/%C`), opened up front and closed at the end.
/// `ControlPersist` is long enough that no master times out between samples (a dead
/// master would make `ControlMaster=auto` silently open a new connection).
struct MasterSet;

impl MasterSet {
    fn open(lab: &Lab) -> MasterSet {
        for n in &lab.nodes {
            run_ok(
                MasterSet::ssh(lab, n, &["-o", "ControlPersist=600"]).args(["--", "true"]),
                "ssh: open ControlMaster",
            );
        }
        let m = MasterSet;
        for n in &lab.nodes {
            m.check(lab, n);
        }
        m
    }

    /// `ssh -F <cfg> -o ControlMaster=auto -o ControlPath=<lab>/cm/%C <opts> <alias>`
    fn ssh(lab: &Lab, n: &LabNode, opts: &[&str]) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-F")
            .arg(&lab.ssh_config)
            .args(["-o", "ControlMaster=auto", "-o"])
            .arg(format!("ControlPath={}/%C", lab.control_dir.display()))
            .args(opts)
            .arg(&n.alias)
            .stdin(Stdio::null());
        c
    }

    /// A command over `n`'s master; add `--` and the remote command.
    fn command(&self, lab: &Lab, n: &LabNode) -> Command {
        MasterSet::ssh(lab, n, &[])
    }

    /// The master for `n` is alive (untimed; run before each timed sample).
    fn check(&self, lab: &Lab, n: &LabNode) {
        run_ok(
            &mut MasterSet::ssh(lab, n, &["-O", "check"]),
            "ssh -O check: the ControlMaster died",
        );
    }

    fn close(self, lab: &Lab) {
        for n in &lab.nodes {
            let _ = MasterSet::ssh(lab, n, &["-O", "exit"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------
// meshroll

/// `target/<profile>/meshroll` next to this bench (`target/<profile>/deps/poll_round-*`),
/// or `MESHROLL_BIN`.
fn meshroll_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MESHROLL_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "MESHROLL_BIN={} is not a file", p.display());
        return p;
    }
    let exe = std::env::current_exe().expect("locate the bench executable");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("meshroll"))
        .expect("the bench executable lives in target/<profile>/deps");
    assert!(
        bin.is_file(),
        "{} not found: build it first (cargo build --release && cargo bench --bench poll_round)",
        bin.display()
    );
    bin
}

/// Warn when the binary is older than the sources it is built from.
fn warn_if_stale(bin: &Path) {
    fn newest(p: &Path) -> Option<SystemTime> {
        let md = fs::metadata(p).ok()?;
        if md.is_dir() {
            fs::read_dir(p)
                .ok()?
                .flatten()
                .filter_map(|e| newest(&e.path()))
                .max()
        } else {
            md.modified().ok()
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = [root.join("src"), root.join("Cargo.toml")]
        .iter()
        .filter_map(|p| newest(p))
        .max();
    let built = fs::metadata(bin).and_then(|m| m.modified()).ok();
    if let (Some(src), Some(built)) = (src, built)
        && src > built
    {
        eprintln!(
            "bench: WARNING: {} is older than src/; run `cargo build --release` first",
            bin.display()
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RssVia {
    /// `/usr/bin/time -f %M`: the exact peak.
    Time,
    /// `VmHWM` from /proc/<pid>/status, read every 20 ms until the process exits.
    Proc,
    None,
}

impl RssVia {
    fn describe(self) -> &'static str {
        match self {
            RssVia::Time => "/usr/bin/time %M",
            RssVia::Proc => "VmHWM, sampled every 20 ms",
            RssVia::None => "n/a",
        }
    }
}

struct WatchRun {
    cold_ms: f64,
    steady_ms: Vec<f64>,
    peak_rss_kib: Option<u64>,
}

/// One `status --watch --json --count 12` run; every round must report every node
/// healthy, and steady rounds must not have run the gateway status.
fn meshroll_watch(bin: &Path, lab: &Lab, inv: &Path, rss_via: RssVia) -> WatchRun {
    meshroll_watch_with(bin, lab, inv, rss_via, true, WATCH_ROUNDS)
}

/// One watch run of `rounds` rounds; `channel: false` polls with one command per poll
/// (`MESHROLL_POLL_CHANNEL=0`, a login shell per poll as before the poll channel).
fn meshroll_watch_with(
    bin: &Path,
    lab: &Lab,
    inv: &Path,
    rss_via: RssVia,
    channel: bool,
    rounds: u64,
) -> WatchRun {
    for n in &lab.nodes {
        n.clear_calls();
    }
    let out_path = lab.dir.join("watch.out");
    let err_path = lab.dir.join("watch.err");
    let rss_path = lab.dir.join("watch.rss");
    let mut cmd = if rss_via == RssVia::Time {
        let mut c = Command::new(TIME);
        c.args(["-f", "%M", "-o"]).arg(&rss_path).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.arg("-i")
        .arg(inv)
        .arg("--ssh-config")
        .arg(&lab.ssh_config)
        .arg("--log-dir")
        .arg(lab.dir.join("log"))
        .args(["--timeout", "10", "status", "--watch", "--json"])
        .args(["--count", &rounds.to_string()])
        .args(["--poll-interval", "1", "--gateway-interval", "3600"])
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .env("MESHROLL_POLL_CHANNEL", if channel { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create <lab>/watch.out"))
        .stderr(File::create(&err_path).expect("create <lab>/watch.err"));
    let mut child = cmd.spawn().expect("start meshroll");
    let mut hwm = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for meshroll") {
            break st;
        }
        if rss_via == RssVia::Proc
            && let Some(k) = vm_hwm_kib(child.id())
        {
            hwm = hwm.max(Some(k));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("meshroll watch run took over 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "meshroll failed ({status}): {stderr}");
    if rss_via == RssVia::Time {
        hwm = fs::read_to_string(&rss_path)
            .ok()
            .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    }

    let text = fs::read_to_string(&out_path).expect("read <lab>/watch.out");
    let mut ms = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("meshroll printed a line that is not JSON ({e}): {line}"));
        assert_eq!(v["round"], i as u64 + 1, "round numbers");
        let nodes = v["nodes"].as_array().expect("round has a nodes array");
        assert_eq!(nodes.len(), NODES, "round {} lists every node", i + 1);
        for n in nodes {
            assert_eq!(
                n["verdict"],
                "healthy",
                "round {}: every lab node is healthy: {n:#}",
                i + 1
            );
        }
        ms.push(v["round_ms"].as_u64().expect("round_ms is a number") as f64);
    }
    assert_eq!(
        ms.len() as u64,
        rounds,
        "meshroll printed every round: {stderr}"
    );
    for n in &lab.nodes {
        assert_eq!(
            n.gateway_status_calls(),
            1,
            "{}: only round 1 runs the gateway status",
            n.name
        );
    }
    WatchRun {
        cold_ms: ms[0],
        steady_ms: ms[1..].to_vec(),
        peak_rss_kib: hwm,
    }
}

/// Successful execve calls under one node's sshd per cheap poll: a traced watch run of
/// 2 rounds and one of WATCH_ROUNDS rounds; the difference over the extra rounds (so
/// connecting, round 1's gateway status and opening the channel are left out). `None`
/// when strace is missing or cannot attach.
fn node_procs_per_poll(b: &Bench<'_>, channel: bool) -> Option<f64> {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("bench: strace missing (apt-get install strace): no process count");
        return None;
    }
    let node = &b.lab.nodes[0];
    let mut counts = Vec::new();
    for rounds in [2, WATCH_ROUNDS] {
        let pid = node.sshd_pid()?;
        let log = b.lab.dir.join(format!("strace-{channel}-{rounds}.log"));
        let mut st = Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=execve", "-o"])
            .arg(&log)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(500));
        meshroll_watch_with(b.bin, b.lab, b.inv, RssVia::None, channel, rounds);
        // Let the masters' sessions end (ControlPersist) before counting.
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-INT", &st.id().to_string()])
            .status();
        let _ = st.wait();
        let text = fs::read_to_string(&log).unwrap_or_default();
        let n = text
            .lines()
            .filter(|l| {
                (l.contains("execve(") || l.contains("<... execve resumed>"))
                    && l.trim_end().ends_with("= 0")
            })
            .count();
        counts.push(n as f64);
    }
    let extra = (WATCH_ROUNDS - 2) as f64;
    Some((counts[1] - counts[0]) / extra)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// the other methods

/// One `pdsh -R ssh` fan-out of the gateway status to every node, with the lab's ssh
/// config (keys, strict known_hosts, batch mode). Every node must answer, exit 0.
fn time_pdsh(lab: &Lab, aliases: &[&str], remote: &str) -> f64 {
    let mut cmd = Command::new("pdsh");
    cmd.args(["-S", "-R", "ssh", "-f", "32", "-w"])
        .arg(aliases.join(","))
        .arg(remote)
        .env(
            "PDSH_SSH_ARGS",
            format!("-F {} -oBatchMode=yes -x -l%u %h", lab.ssh_config.display()),
        )
        .env_remove("PDSH_SSH_ARGS_APPEND")
        .env_remove("WCOLL")
        .stdin(Stdio::null());
    let (ms, out) = time_capture(&mut cmd);
    assert!(
        out.status.success(),
        "pdsh failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for a in aliases {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{a}: {{"))),
            "pdsh: no gateway status JSON from {a}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ms
}

/// The sequential loop, timed as a whole: each node runs its own stand-in
/// (`<lab>/<alias>` is the node root).
fn time_seq(lab: &Lab, aliases: &[&str]) -> f64 {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(
            r#"cfg=$1; lab=$2; shift 2
for a in "$@"; do
    ssh -F "$cfg" "$a" "$lab/$a/bin/openclaw gateway status --json" </dev/null || exit 1
done"#,
        )
        .arg("sh")
        .arg(&lab.ssh_config)
        .arg(&lab.dir)
        .args(aliases)
        .stdin(Stdio::null());
    let (ms, out) = time_capture(&mut cmd);
    assert!(
        out.status.success(),
        "sequential ssh loop failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = String::from_utf8_lossy(&out.stdout).matches("\n}").count();
    assert_eq!(
        docs,
        aliases.len(),
        "sequential loop: one JSON document per node"
    );
    ms
}

// ---------------------------------------------------------------------------------------
// helpers

struct Stats {
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

fn stats(v: &[f64]) -> Stats {
    assert!(!v.is_empty(), "no samples");
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    // nearest rank
    let p90 = s[((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1];
    Stats {
        median,
        p90,
        min: s[0],
        max: s[n - 1],
    }
}

struct Row {
    method: &'static str,
    what: String,
    stats: Stats,
}

impl Row {
    fn new(method: &'static str, what: String, samples: &[f64]) -> Row {
        Row {
            method,
            what,
            stats: stats(samples),
        }
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

fn time_capture(cmd: &mut Command) -> (f64, Output) {
    let start = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    (start.elapsed().as_secs_f64() * 1000.0, out)
}

/// Time a command that must succeed.
fn time_ok(cmd: &mut Command, what: &str) -> f64 {
    let (ms, out) = time_capture(cmd);
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

fn run_capture(cmd: &mut Command, what: &str) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = run_capture(cmd, what);
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_text(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "?".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

/// The 1/5/15-minute load averages, as `/proc/loadavg` prints them, or `?`.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".to_string())
}

fn tool_present(tool: &str, args: &[&str], install: &str) {
    let ok = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(ok, "`{tool}` not found in PATH: {install}");
}
