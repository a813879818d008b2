//! Interop with the REAL OpenClaw 2026.9.6 CLI and gateway, through real SSH (issue 4).
//!
//! One lab node (`real01`, tests/common) runs the real CLI (installed once by
//! tests/real-openclaw/install.sh into `$MESHROLL_OPENCLAW_CACHE` or
//! `<repo>/target/openclaw-cache`) with its own OpenClaw config, and a real gateway on
//! loopback whose token lives only in that config. meshroll polls it over ssh as it
//! would any node. The steps share one gateway and run in a fixed order inside ONE test
//! (a gateway takes 10-20 s to start and 600 MB of memory):
//!
//!   a. `status --json`: healthy, with the gateway's real build id, CLI and daemon version;
//!   b. `status --watch`: the gateway stopped -> dead within a poll (liveness), and
//!      `gateway unreachable` within one slow cadence; restarted -> healthy again;
//!   c. the node's config token changed under the running gateway -> `gateway auth rejected`;
//!   d. `status --json --doctor` and the dashboard's node view (`d`, in tmux) show the real
//!      `openclaw doctor --lint --json` findings with severity and fix hint;
//!   e. the token is never in the node's process list (sampled all along), meshroll's
//!      log, the screen, the JSON, sshd's log or the gateway's log, also when meshroll
//!      itself has it in `OPENCLAW_GATEWAY_TOKEN`.
//!
//! Along the way, the stand-in CLI (tests/standin/openclaw) is run next to the real one
//! for the same cases (ready, down, wrong token, doctor, `--version`, `--quiet`) and must
//! match it in exit code, stderr's first line, one-line-ness and JSON key paths, so the
//! fast lab tests stay true to the real thing. Doctor and stand-in differences are
//! collected and reported at the end, after the leak checks have run.
//!
//! Needs network access to the npm registry the first time (~1 GB; scripts/test.sh
//! installs npm if missing), sshd, tmux and curl. Takes 2-3 minutes.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::real_openclaw::{self, OPENCLAW_VERSION, RealNode};
use common::tmux::Tmux;
use common::{Lab, NodeSpec};
use serde_json::Value;

const NODE: &str = "real01";
const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The slow cadence (seconds) of the stop/restart step.
const GW_INTERVAL: u64 = 10;
/// `--timeout` for polls with gateway status (one costs 2.5-5 s of wall time here).
const TIMEOUT: &str = "20";
/// `--timeout` for polls with doctor (one takes 12-20 s of wall time here).
const DOCTOR_TIMEOUT: &str = "60";

fn step(t0: Instant, what: &str) {
    eprintln!(
        "[real-openclaw {:>6.1}s] {what}",
        t0.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// the secrets watch: the node's process list, sampled while everything runs

/// Samples `ps -eo args` (every process of this machine, which is also the node) every
/// 100 ms and keeps every line that contains one of the secrets, redacted.
struct PsWatch {
    stop: Arc<AtomicBool>,
    samples: Arc<AtomicUsize>,
    hits: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl PsWatch {
    fn start(secrets: Vec<String>) -> PsWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(AtomicUsize::new(0));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (st, sa, hi) = (stop.clone(), samples.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                if let Ok(o) = Command::new("ps").args(["-eo", "args"]).output() {
                    let text = String::from_utf8_lossy(&o.stdout);
                    for line in text.lines() {
                        if secrets.iter().any(|s| line.contains(s.as_str())) {
                            hi.lock().unwrap().push(redact(line, &secrets));
                        }
                    }
                    sa.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        PsWatch {
            stop,
            samples,
            hits,
            thread: Some(thread),
        }
    }

    fn samples(&self) -> usize {
        self.samples.load(Ordering::SeqCst)
    }

    /// Stop sampling; (samples taken, offending lines).
    fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (self.samples(), self.hits.lock().unwrap().clone())
    }
}

impl Drop for PsWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn redact(s: &str, secrets: &[String]) -> String {
    let mut s = s.to_string();
    for t in secrets {
        s = s.replace(t.as_str(), "<TOKEN>");
    }
    s
}

/// Fail (without printing the secret) if `text` (from `what`) contains one.
#[track_caller]
fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    if let Some(line) = text
        .lines()
        .find(|l| secrets.iter().any(|s| l.contains(s.as_str())))
    {
        panic!("the token leaked into {what}: {}", redact(line, secrets));
    }
}

// ---------------------------------------------------------------------------------------
// meshroll

struct Meshroll<'a> {
    lab: &'a Lab,
    inv: PathBuf,
    log_dir: PathBuf,
    /// Every stdout and stderr meshroll printed, for the leak check.
    printed: Mutex<Vec<String>>,
}

impl Meshroll<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_meshroll"));
        c.arg("-i")
            .arg(&self.inv)
            .arg("--ssh-config")
            .arg(&self.lab.ssh_config)
            .arg("--log-dir")
            .arg(&self.log_dir)
            .args(args)
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str], env_token: Option<&str>) -> Output {
        let mut c = self.command(args);
        if let Some(t) = env_token {
            c.env("OPENCLAW_GATEWAY_TOKEN", t);
        }
        let o = c.output().expect("run meshroll");
        let mut p = self.printed.lock().unwrap();
        p.push(String::from_utf8_lossy(&o.stdout).into_owned());
        p.push(String::from_utf8_lossy(&o.stderr).into_owned());
        o
    }

    /// `<global> status --json`: this node's row.
    fn status(&self, global: &[&str], env_token: Option<&str>) -> (Value, Duration) {
        self.status_with(global, &[], env_token)
    }

    /// `<global> status --json <extra>`: this node's row.
    fn status_with(
        &self,
        global: &[&str],
        extra: &[&str],
        env_token: Option<&str>,
    ) -> (Value, Duration) {
        let mut args = global.to_vec();
        args.extend(["status", "--json"]);
        args.extend_from_slice(extra);
        let t = Instant::now();
        let o = self.run(&args, env_token);
        let took = t.elapsed();
        // 1: a node is dead (the exit code for scripts); 2 would be meshroll failing.
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "meshroll {args:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        let v: Value = serde_json::from_slice(&o.stdout).expect("status --json prints JSON");
        let row = v
            .as_array()
            .and_then(|a| a.iter().find(|r| r["node"] == NODE))
            .unwrap_or_else(|| panic!("no row for {NODE}: {v:#}"))
            .clone();
        (row, took)
    }
}

/// `status --watch --json` running in the background; every line with when it arrived.
struct Watch {
    child: Child,
    rx: Receiver<(Instant, Value)>,
    seen: Vec<(Instant, Value)>,
    reader: Option<JoinHandle<Vec<String>>>,
}

impl Watch {
    fn start(m: &Meshroll<'_>, args: &[&str]) -> Watch {
        let mut child = m
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start meshroll status --watch");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut raw = Vec::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send((at, v));
                }
                raw.push(line);
            }
            raw
        });
        Watch {
            child,
            rx,
            seen: Vec::new(),
            reader: Some(reader),
        }
    }

    /// Wait for the first round (after `after`) whose row for NODE satisfies `pred`.
    /// Returns (arrival time, round start time, row).
    fn wait_for(
        &mut self,
        what: &str,
        after: Instant,
        deadline: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> (Instant, Instant, Value) {
        let end = Instant::now() + deadline;
        // rounds already received
        let check = |(at, v): &(Instant, Value)| -> Option<(Instant, Instant, Value)> {
            let start = *at - Duration::from_millis(v["round_ms"].as_u64().unwrap_or(0));
            if start < after {
                return None;
            }
            let row = v["nodes"]
                .as_array()?
                .iter()
                .find(|r| r["node"] == NODE)?
                .clone();
            pred(&row).then_some((*at, start, row))
        };
        if let Some(hit) = self.seen.iter().find_map(check) {
            return hit;
        }
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(item) => {
                    let hit = check(&item);
                    self.seen.push(item);
                    if let Some(hit) = hit {
                        return hit;
                    }
                }
                Err(_) => {
                    let last: Vec<String> = self
                        .seen
                        .iter()
                        .rev()
                        .take(6)
                        .map(|(_, v)| {
                            let r = v["nodes"]
                                .as_array()
                                .and_then(|a| a.iter().find(|r| r["node"] == NODE))
                                .cloned()
                                .unwrap_or_default();
                            format!(
                                "round {} ({} ms): {} / {} / gateway age {}",
                                v["round"],
                                v["round_ms"],
                                r["verdict"],
                                r["reason"],
                                r["gateway"]["age_s"]
                            )
                        })
                        .collect();
                    panic!(
                        "timed out waiting for {what}; last rounds (newest first):\n{}",
                        last.join("\n")
                    );
                }
            }
        }
    }

    /// Stop meshroll as Ctrl-C would (it closes its ssh masters), SIGKILL after 10 s;
    /// returns every line it printed.
    fn finish(mut self) -> Vec<String> {
        self.interrupt();
        self.reader
            .take()
            .map(|r| r.join().unwrap())
            .unwrap_or_default()
    }

    fn interrupt(&mut self) {
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

impl Drop for Watch {
    fn drop(&mut self) {
        self.interrupt();
    }
}

// ---------------------------------------------------------------------------------------

/// The stand-in CLI (tests/standin/openclaw) in a scratch root next to the lab, with the
/// fixtures the lab gave the real node: the fast tests' model of the real CLI, compared
/// here with the real thing.
struct StandIn {
    root: PathBuf,
}

impl StandIn {
    fn new(lab: &Lab) -> StandIn {
        let root = lab.dir.join("standin-ref");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        let cli = root.join("bin/openclaw");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/openclaw"),
            &cli,
        )
        .unwrap();
        let st = Command::new("cp")
            .arg("-R")
            .arg(lab.node(NODE).standin_dir())
            .arg(root.join("standin"))
            .status()
            .unwrap();
        assert!(st.success());
        StandIn { root }
    }

    fn set(&self, file: &str, value: &str) {
        std::fs::write(self.root.join("standin").join(file), format!("{value}\n")).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(self.root.join("bin/openclaw"))
            .args(args)
            .env_remove("OPENCLAW_GATEWAY_TOKEN")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

/// Every key path of a JSON document (`a.b`, arrays as `a.[]`), for comparing shapes.
fn key_paths(v: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}{k}");
                out.insert(p.clone());
                key_paths(x, &format!("{p}."), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                key_paths(x, &format!("{prefix}[]."), out);
            }
        }
        _ => {}
    }
}

fn paths_of(v: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    key_paths(v, "", &mut out);
    out
}

/// What the stand-in does for `args` against what the real CLI did: exit code, whether
/// stderr is empty, the first line of stderr, whether stdout is one line, and for JSON
/// the top-level keys and every key path under `rpc` (gateway status) or `findings`
/// (doctor). Differences are pushed to `drift`.
fn conform(what: &str, real: &Output, standin: &Output, drift: &mut Vec<String>) {
    let mut d = Vec::new();
    if real.status.code() != standin.status.code() {
        d.push(format!(
            "exit {:?}, the real CLI {:?}",
            standin.status.code(),
            real.status.code()
        ));
    }
    let first = |o: &Output| {
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    if first(real) != first(standin) {
        d.push(format!(
            "stderr starts {:?}, the real CLI's {:?}",
            first(standin),
            first(real)
        ));
    }
    let lines = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .trim_end()
            .lines()
            .count()
    };
    if (lines(real) == 1) != (lines(standin) == 1) {
        d.push(format!(
            "{} lines on stdout, the real CLI {}",
            lines(standin),
            lines(real)
        ));
    }
    let rj: Option<Value> = serde_json::from_slice(&real.stdout).ok();
    let sj: Option<Value> = serde_json::from_slice(&standin.stdout).ok();
    match (rj, sj) {
        (Some(r), Some(s)) => {
            let top = |v: &Value| -> Vec<String> {
                v.as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let (mut rt, mut stt) = (top(&r), top(&s));
            rt.sort();
            stt.sort();
            if rt != stt {
                d.push(format!("top-level keys {stt:?}, the real CLI's {rt:?}"));
            }
            for sub in ["rpc", "findings"] {
                let (rp, sp) = (paths_of(&r[sub]), paths_of(&s[sub]));
                let only_real: Vec<_> = rp.difference(&sp).collect();
                let only_standin: Vec<_> = sp.difference(&rp).collect();
                if !only_real.is_empty() || !only_standin.is_empty() {
                    d.push(format!(
                        "`{sub}`: keys only the real CLI has {only_real:?}, only the stand-in {only_standin:?}"
                    ));
                }
            }
        }
        (Some(_), None) => d.push("the real CLI printed JSON, the stand-in did not".into()),
        (None, Some(_)) => d.push("the stand-in printed JSON, the real CLI did not".into()),
        (None, None) => {}
    }
    if !d.is_empty() {
        drift.push(format!("{what}: {}", d.join("; ")));
    }
}

fn lock(sha: &str) -> String {
    format!(r#"{{"files":[],"skills_sha":"{sha}","version":1}}"#)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The `doctor` field of a `status --json` row against the CLI's own output.
fn check_doctor_row(row: &Value, reference: &Value, ref_ids: &[String]) -> Result<(), String> {
    let doc = &row["doctor"];
    if !doc.is_object() {
        return Err(format!("no doctor field: {row:#}"));
    }
    let findings = doc["findings"].as_array().cloned().unwrap_or_default();
    let ids: Vec<String> = findings
        .iter()
        .map(|f| f["check_id"].as_str().unwrap_or("").to_string())
        .collect();
    if let Some(f) = findings.iter().find(|f| {
        f["check_id"] == "core/doctor/lint-inspection"
            && f["message"].as_str().is_some_and(|m| m.contains("EFBIG"))
    }) {
        return Err(format!(
            "on the node, doctor could not run its checks: EFBIG (file too large). The poll \
             script runs the CLI under `ulimit -f 2048` (1 MB, src/remote/script.rs, meant to \
             bound the output file), and the real doctor writes a private SQLite snapshot of \
             the gateway state (openclaw.sqlite, over 1 MB right after the first gateway \
             start), so it fails with an error-severity `core/doctor/lint-inspection` \
             finding, checksRun 0, exit 2. Finding: {f}"
        ));
    }
    if ids != ref_ids {
        return Err(format!(
            "findings {ids:?}, the CLI says {ref_ids:?}; doctor field: {doc:#}"
        ));
    }
    if doc["ok"] != false || doc["checks_run"] != reference["checksRun"] {
        return Err(format!("ok/checks_run differ from the CLI's: {doc:#}"));
    }
    for f in &findings {
        let sev_ok = f["severity"]
            .as_str()
            .is_some_and(|s| ["info", "warning", "error"].contains(&s));
        let msg_ok = f["message"].as_str().is_some_and(|m| !m.is_empty());
        let fix_ok = f["fix_hint"].as_str().is_some_and(|h| !h.is_empty());
        if !(sev_ok && msg_ok && fix_ok) {
            return Err(format!(
                "a finding without severity, message or fix hint: {f:#}"
            ));
        }
    }
    Ok(())
}

#[track_caller]
fn assert_healthy_real(row: &Value, real_build: &str) {
    assert_eq!(row["verdict"], "healthy", "{row:#}");
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .starts_with("ready, live, cache "),
        "{row:#}"
    );
    let g = &row["gateway"];
    assert_eq!(g["ready"], true, "{row:#}");
    assert_eq!(g["state"], "ready");
    assert_eq!(
        g["build_id"], real_build,
        "the build id the real gateway reports"
    );
    assert_eq!(g["cli_version"], OPENCLAW_VERSION);
    assert_eq!(g["daemon_version"], OPENCLAW_VERSION);
    assert_eq!(row["error"], Value::Null, "{row:#}");
}

#[test]
fn real_openclaw_node_through_real_ssh() {
    let t0 = Instant::now();
    step(t0, "install (or reuse) Node 24 + openclaw");
    let bin = real_openclaw::install();

    step(t0, "lab node with the real CLI");
    let mut lab = Lab::start(&[NodeSpec::new(NODE, "gateway")]);
    let token = real_openclaw::random_token();
    let other = real_openclaw::random_token();
    let secrets = vec![token.clone(), other.clone()];
    let ps = PsWatch::start(secrets.clone());

    let mut node = RealNode::setup(lab.node(NODE), &bin, &token);
    {
        let n = lab.node(NODE);
        n.install_bundle(SHA, Some(&lock(SHA)));
        n.set_current(Some(SHA));
        n.touch_cache(60);
    }
    lab.node_mut(NODE).healthz_url = node.healthz_url();
    let inv = lab.write_inventory_ini();
    let m = Meshroll {
        lab: &lab,
        inv,
        log_dir: lab.dir.join("log"),
        printed: Mutex::new(Vec::new()),
    };

    step(
        t0,
        &format!("start the real gateway on 127.0.0.1:{}", node.port),
    );
    node.start_gateway();
    let ready_at = node.wait_ready(Duration::from_secs(90)).unwrap();
    let startup = ready_at - node.gateway.as_ref().unwrap().started;
    step(t0, &format!("gateway ready in {startup:.1?}"));

    // What the real CLI says on the node itself (not through meshroll): the reference.
    let o = node.openclaw(&["gateway", "status", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let direct: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(direct["rpc"]["ok"], true, "{direct:#}");
    let real_build = direct["rpc"]["server"]["buildId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(real_build.starts_with(OPENCLAW_VERSION), "{real_build}");
    let v = node.openclaw(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim_end(),
        format!("OpenClaw {OPENCLAW_VERSION} (eb377ac)")
    );

    // The stand-in against the real CLI, gateway ready (differences fail at the end).
    let standin = StandIn::new(&lab);
    let mut drift: Vec<String> = Vec::new();
    standin.set("mode", "ready");
    conform(
        "gateway status --json (ready)",
        &o,
        &standin.run(&["gateway", "status", "--json"]),
        &mut drift,
    );
    conform("--version", &v, &standin.run(&["--version"]), &mut drift);
    if String::from_utf8_lossy(&v.stdout)
        != String::from_utf8_lossy(&standin.run(&["--version"]).stdout)
    {
        drift.push("--version prints something else".into());
    }
    let args = ["gateway", "status", "--json", "--require-rpc"];
    conform(
        "gateway status --json --require-rpc (ready)",
        &node.openclaw(&args),
        &standin.run(&args),
        &mut drift,
    );
    let args = ["gateway", "status", "--quiet"];
    conform(
        "gateway status --quiet (the article's probe)",
        &node.openclaw(&args),
        &standin.run(&args),
        &mut drift,
    );

    // ---- a. healthy, with the real build id and versions ------------------------------
    step(
        t0,
        "a. status --json: healthy with the real build id and versions",
    );
    let (row, took) = m.status(&["--timeout", TIMEOUT], None);
    assert_healthy_real(&row, &real_build);
    assert_eq!(
        row["gateway"]["bind"],
        format!("127.0.0.1:{}", node.port),
        "{row:#}"
    );
    assert_eq!(row["live"]["ok"], true);
    assert_eq!(row["live"]["code"], 200);
    assert_eq!(row["manifest"]["state"], "in_sync");
    step(
        t0,
        &format!("a. ok ({took:.1?} for one poll with gateway status)"),
    );

    // ---- b. stopped -> dead; restarted -> healthy -------------------------------------
    step(
        t0,
        &format!("b. status --watch --gateway-interval {GW_INTERVAL} --poll-interval 1"),
    );
    let gwi = GW_INTERVAL.to_string();
    let mut w = Watch::start(
        &m,
        &[
            "--timeout",
            TIMEOUT,
            "--gateway-interval",
            &gwi,
            "--poll-interval",
            "1",
            "status",
            "--watch",
            "--json",
            "--count",
            "1000",
        ],
    );
    let (_, _, row) = w.wait_for(
        "healthy before the stop",
        t0,
        Duration::from_secs(40),
        |r| r["verdict"] == "healthy",
    );
    assert_healthy_real(&row, &real_build);

    let stop_sent = Instant::now();
    let took = node.stop_gateway();
    let stopped = Instant::now();
    step(
        t0,
        &format!("b. gateway stopped (SIGTERM, exited after {took:.1?})"),
    );
    let (_, dead_start, row) = w.wait_for(
        "dead after the stop",
        stop_sent,
        Duration::from_secs(GW_INTERVAL + 30),
        |r| r["verdict"] == "dead",
    );
    eprintln!(
        "    first dead round started {:.1?} after the gateway exited: {}",
        dead_start.saturating_duration_since(stopped),
        row["reason"]
    );
    let (_, unreach_start, row) = w.wait_for(
        "reason gateway unreachable",
        stop_sent,
        Duration::from_secs(GW_INTERVAL + 30),
        |r| r["reason"] == "gateway unreachable",
    );
    assert_eq!(row["verdict"], "dead");
    assert_eq!(row["gateway"]["ready"], false);
    assert_eq!(row["gateway"]["state"], "unreachable");
    assert!(
        row["gateway"]["error"]
            .as_str()
            .unwrap()
            .contains("ECONNREFUSED"),
        "{row:#}"
    );
    let flip = unreach_start.saturating_duration_since(stopped);
    eprintln!("    `gateway unreachable` from the round that started {flip:.1?} after the exit");
    assert!(
        flip <= Duration::from_millis(GW_INTERVAL * 1000 + 1500),
        "the gateway status round that saw the gateway down started {flip:?} after it \
         exited: more than one slow cadence ({GW_INTERVAL} s)"
    );
    // In the rounds between, the liveness check (the real /healthz) saw it first.
    let live_dead = w.seen.iter().any(|(_, v)| {
        v["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["node"] == NODE))
            .and_then(|r| r["reason"].as_str())
            .is_some_and(|r| r.starts_with("liveness failing"))
    });
    eprintln!("    liveness failing seen before the gateway round: {live_dead}");
    standin.set("mode", "unreachable");
    for args in [
        &["gateway", "status", "--json"][..],
        &["gateway", "status", "--json", "--require-rpc"][..],
    ] {
        conform(
            &format!("{} (gateway down)", args.join(" ")),
            &node.openclaw(args),
            &standin.run(args),
            &mut drift,
        );
    }

    step(t0, "b. restart the gateway");
    node.start_gateway();
    let restarted = Instant::now();
    let ready_again = node.wait_ready(Duration::from_secs(90)).unwrap();
    step(
        t0,
        &format!("b. ready again after {:.1?}", ready_again - restarted),
    );
    let (_, healthy_start, row) = w.wait_for(
        "healthy after the restart",
        ready_again,
        Duration::from_secs(GW_INTERVAL + 30),
        |r| r["verdict"] == "healthy",
    );
    assert_healthy_real(&row, &real_build);
    let back = healthy_start.saturating_duration_since(ready_again);
    eprintln!("    healthy from the round that started {back:.1?} after /readyz said 200");
    assert!(back <= Duration::from_millis(GW_INTERVAL * 1000 + 1500));
    let lines = w.finish();
    for l in &lines {
        assert_no_secret("status --watch output", l, &secrets);
    }

    // ---- b2. readyz: the worker's liveness stays up, the gateway stops ----------------
    // Liveness is the lab's worker /healthz (always 200); readiness is the real gateway's
    // /readyz (`gateway_ready_url`), checked in every cheap poll.
    let inv_text = std::fs::read_to_string(&m.inv).unwrap();
    let inv_text = inv_text
        .replace(
            &format!("meshroll_healthz_url={}", node.healthz_url()),
            &format!("meshroll_healthz_url={}", lab.liveness.url(NODE)),
        )
        .replace(
            &format!("meshroll_gateway_ready_url={}", lab.node(NODE).ready_url),
            &format!(
                "meshroll_gateway_ready_url=http://127.0.0.1:{}/readyz",
                node.port
            ),
        );
    assert!(inv_text.contains("/readyz"), "{inv_text}");
    let inv2 = lab.dir.join("inventory-readyz.ini");
    std::fs::write(&inv2, inv_text).unwrap();
    let m2 = Meshroll {
        lab: &lab,
        inv: inv2,
        log_dir: lab.dir.join("log"),
        printed: Mutex::new(Vec::new()),
    };
    for (interval, label) in [
        (Some("2"), "--poll-interval 2"),
        (None, "the default interval"),
    ] {
        step(t0, &format!("b2. readyz at {label}: stop the gateway"));
        let mut args = vec!["--timeout", TIMEOUT];
        if let Some(i) = interval {
            args.extend(["--poll-interval", i]);
        }
        args.extend(["status", "--watch", "--json", "--count", "1000"]);
        let mut w = Watch::start(&m2, &args);
        let (_, _, row) = w.wait_for(
            "healthy before the stop",
            t0,
            Duration::from_secs(60),
            |r| r["verdict"] == "healthy",
        );
        assert_eq!(row["gateway"]["readyz"]["ok"], true, "{row:#}");
        assert_eq!(row["gateway"]["readyz"]["code"], 200, "{row:#}");
        let stop_sent = Instant::now();
        let took = node.stop_gateway();
        let stopped = Instant::now();
        step(
            t0,
            &format!("b2. gateway stopped (exited after {took:.1?})"),
        );
        let deadline = if interval.is_some() {
            // The goal: dead within 10 s of the gateway going away at --poll-interval 2.
            Duration::from_secs(10)
        } else {
            Duration::from_secs(30)
        };
        let (at, _, row) = w.wait_for("dead by readyz", stop_sent, deadline, |r| {
            r["verdict"] == "dead"
        });
        let reason = row["reason"].as_str().unwrap();
        assert!(reason.starts_with("gateway readyz: "), "{row:#}");
        assert_eq!(
            row["live"]["ok"], true,
            "the worker's liveness stayed up: {row:#}"
        );
        assert_eq!(row["gateway"]["readyz"]["ok"], false, "{row:#}");
        // The last round that arrived before the stop was sent.
        let last_round = w
            .seen
            .iter()
            .filter(|(t, _)| *t < stop_sent)
            .map(|(_, v)| v["round"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let dead_round = w
            .seen
            .iter()
            .find(|(t, _)| *t == at)
            .map_or(0, |(_, v)| v["round"].as_u64().unwrap_or(0));
        eprintln!(
            "    dead ({reason}) {:.1?} after the exit, round {dead_round} (last healthy-era round {last_round})",
            at.saturating_duration_since(stopped)
        );
        if interval.is_none() {
            assert!(
                dead_round <= last_round + 2,
                "dead in round {dead_round}, more than two rounds after round {last_round}"
            );
        }
        step(t0, "b2. restart the gateway");
        node.start_gateway();
        let ready_again = node.wait_ready(Duration::from_secs(90)).unwrap();
        let (_, _, row) = w.wait_for(
            "healthy after the restart",
            ready_again,
            Duration::from_secs(30),
            |r| r["verdict"] == "healthy",
        );
        assert_healthy_real(&row, &real_build);
        assert_eq!(row["gateway"]["readyz"]["ok"], true, "{row:#}");
        for l in &w.finish() {
            assert_no_secret("status --watch output (readyz)", l, &secrets);
        }
    }

    // ---- c. wrong token -> auth rejected ------------------------------------------------
    step(
        t0,
        "c. a different token in the node's config (the gateway keeps its own)",
    );
    node.set_token(&other);
    let (row, _) = m.status(&["--timeout", TIMEOUT], None);
    assert_eq!(row["verdict"], "dead", "{row:#}");
    assert_eq!(row["reason"], "gateway auth rejected", "{row:#}");
    assert_eq!(row["gateway"]["state"], "auth rejected");
    assert!(
        row["gateway"]["error"]
            .as_str()
            .unwrap()
            .contains("token mismatch"),
        "{row:#}"
    );
    standin.set("mode", "auth");
    for args in [
        &["gateway", "status", "--json"][..],
        &["gateway", "status", "--json", "--require-rpc"][..],
    ] {
        conform(
            &format!("{} (wrong token)", args.join(" ")),
            &node.openclaw(args),
            &standin.run(args),
            &mut drift,
        );
    }
    node.set_token(&token);
    let (row, _) = m.status(&["--timeout", TIMEOUT], None);
    assert_healthy_real(&row, &real_build);
    step(t0, "c. ok (and healthy again with the right token)");

    // ---- e (first half). meshroll with the token in its own environment ------------------
    step(
        t0,
        "e. meshroll with OPENCLAW_GATEWAY_TOKEN in its own environment",
    );
    let before = ps.samples();
    let (row, _) = m.status(&["--timeout", TIMEOUT], Some(&token));
    assert_healthy_real(&row, &real_build);
    let (row, _) = m.status(&["--timeout", TIMEOUT], Some(&other));
    // the node's config token comes first for a local-mode CLI (FINDINGS.md)
    assert_healthy_real(&row, &real_build);
    assert!(
        ps.samples() > before + 5,
        "the process list was sampled while the env-token polls ran"
    );

    // ---- d. doctor, in status --json and in the node view --------------------------------
    // Failures here are collected and reported at the end, after the leak checks.
    let mut doctor_failures: Vec<String> = Vec::new();
    step(
        t0,
        "d. the real doctor --lint --json on the node, for reference",
    );
    let o = node.openclaw(&["doctor", "--lint", "--json"]);
    let reference: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --lint --json is JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    let ref_ids: Vec<String> = reference["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["checkId"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !ref_ids.is_empty(),
        "a loopback node with a plaintext token has findings: {reference:#}"
    );
    assert_eq!(o.status.code(), Some(1), "findings -> exit 1");
    assert_eq!(reference["ok"], false);
    standin.set("doctor", "configured");
    conform(
        "doctor --lint --json (configured node)",
        &o,
        &standin.run(&["doctor", "--lint", "--json"]),
        &mut drift,
    );
    let sj: Value =
        serde_json::from_slice(&standin.run(&["doctor", "--lint", "--json"]).stdout).unwrap();
    let s_ids: Vec<&str> = sj["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["checkId"].as_str().unwrap())
        .collect();
    if s_ids != ref_ids.iter().map(String::as_str).collect::<Vec<_>>() {
        drift.push(format!(
            "doctor (configured): stand-in findings {s_ids:?}, the real CLI's {ref_ids:?}"
        ));
    }

    step(t0, "d. status --json --doctor");
    let (row, took) = m.status_with(&["--timeout", DOCTOR_TIMEOUT], &["--doctor"], None);
    assert_healthy_real(&row, &real_build);
    if let Err(e) = check_doctor_row(&row, &reference, &ref_ids) {
        doctor_failures.push(format!("status --json --doctor: {e}"));
    }
    step(
        t0,
        &format!("d. status --doctor done ({took:.1?} for one poll with doctor)"),
    );

    step(t0, "d. the dashboard: node view, `d` runs doctor");
    let cmd = format!(
        "env -u OPENCLAW_GATEWAY_TOKEN {} -i {} --ssh-config {} --log-dir {} --timeout {}; \
         echo MESHROLL-EXITED=$?; sleep 30",
        env!("CARGO_BIN_EXE_meshroll"),
        m.inv.display(),
        lab.ssh_config.display(),
        m.log_dir.display(),
        DOCTOR_TIMEOUT,
    );
    let tmux = Tmux::start("real", &cmd, 220, 60);
    tmux.wait_for_within(
        "the fleet table with the node healthy",
        Duration::from_secs(60),
        |s| s.contains(NODE) && s.contains("healthy"),
    );
    tmux.keys(&["Enter"]);
    tmux.wait_for_within("the node view", Duration::from_secs(20), |s| {
        s.contains("cli / daemon") && s.contains("doctor")
    });
    tmux.keys(&["d"]);
    tmux.wait_for_within("the flash for `d`", Duration::from_secs(10), |s| {
        s.contains("gateway status and doctor")
    });
    // any doctor result: findings, none, or an error line under the doctor section
    let screen = tmux.wait_for_within(
        "a doctor result in the node view",
        Duration::from_secs(90),
        |s| {
            s.contains("core/doctor/")
                || s.contains("no findings")
                || s.contains("doctor timed out")
        },
    );
    let missing: Vec<&String> = ref_ids
        .iter()
        .filter(|id| !screen.contains(id.as_str()))
        .collect();
    if !missing.is_empty() || !screen.contains("fix: ") || !screen.contains("WARN") {
        doctor_failures.push(format!(
            "the node view does not show the real findings {missing:?} with WARN and \
             `fix:`; screen:\n{}",
            redact(&screen, &secrets)
        ));
    }
    tmux.keys(&["q"]);
    let screen = tmux.wait_for_within("meshroll to exit", Duration::from_secs(20), |s| {
        s.contains("MESHROLL-EXITED=")
    });
    assert!(screen.contains("MESHROLL-EXITED=0"), "{screen}");
    step(t0, "d. dashboard done");

    // ---- e. the token never leaks --------------------------------------------------------
    let (samples, hits) = ps.finish();
    step(t0, &format!("e. {samples} samples of the process list"));
    assert!(samples > 100, "only {samples} samples of ps");
    assert!(
        hits.is_empty(),
        "the token was on a command line:\n{}",
        hits.join("\n")
    );
    for s in tmux.screens().iter() {
        assert_no_secret("the dashboard's screen", s, &secrets);
    }
    drop(tmux);
    for s in m.printed.lock().unwrap().iter() {
        assert_no_secret("meshroll's output", s, &secrets);
    }
    let logs = files_under(&m.log_dir);
    assert!(
        !logs.is_empty(),
        "meshroll wrote a log in {}",
        m.log_dir.display()
    );
    for f in &logs {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert_no_secret(&format!("meshroll's log {}", f.display()), &text, &secrets);
    }
    assert_no_secret("the node's sshd log", &lab.node(NODE).sshd_log(), &secrets);
    let gwlog = std::fs::read_to_string(&node.gateway_log).unwrap_or_default();
    assert!(!gwlog.is_empty());
    assert_no_secret("the gateway's output (its journal)", &gwlog, &secrets);
    for f in files_under(Path::new("/tmp/openclaw")) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        assert_no_secret(&format!("OpenClaw's log {}", f.display()), &text, &secrets);
    }
    step(t0, "e. ok: no token in ps, logs, screen or output");

    let took = node.stop_gateway();
    step(t0, &format!("gateway stopped in {took:.1?}"));
    assert!(
        drift.is_empty(),
        "the stand-in (tests/standin/openclaw) no longer matches the real CLI:\n{}",
        drift.join("\n")
    );
    assert!(
        doctor_failures.is_empty(),
        "the real doctor findings are not what meshroll shows:\n{}",
        doctor_failures.join("\n\n")
    );
    step(t0, "done");
}

/// "whatever the node prints": a node whose CLI prints the token it was given (in
/// `rpc.error`, which meshroll shows as the reason, and on stderr). meshroll knows the
/// token when it forwards one from its own environment, so none of its output, log or
/// JSON may carry it. Uses the stand-in (`echo-token` mode); fast.
#[test]
fn token_printed_by_the_node_is_never_shown() {
    let lab = Lab::start(&[NodeSpec::new("leak01", "gateway")]);
    let n = lab.node("leak01");
    n.install_bundle(SHA, Some(&lock(SHA)));
    n.set_current(Some(SHA));
    n.touch_cache(60);
    n.set_mode("echo-token");
    let inv = lab.write_inventory_ini();
    let token = real_openclaw::random_token();
    let secrets = vec![token.clone()];
    let log_dir = lab.dir.join("log");
    let o = Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .arg("-i")
        .arg(&inv)
        .arg("--ssh-config")
        .arg(&lab.ssh_config)
        .arg("--log-dir")
        .arg(&log_dir)
        .args(["status", "--json"])
        .env("OPENCLAW_GATEWAY_TOKEN", &token)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // the node did print it (the stand-in saw the forwarded token)
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["verdict"], "dead", "{v:#}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[redacted]"),
        "the node printed the token and meshroll replaced it: {v:#}"
    );
    assert_no_secret(
        "status --json",
        &String::from_utf8_lossy(&o.stdout),
        &secrets,
    );
    assert_no_secret(
        "meshroll's stderr",
        &String::from_utf8_lossy(&o.stderr),
        &secrets,
    );
    for f in files_under(&log_dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert_no_secret(&format!("meshroll's log {}", f.display()), &text, &secrets);
    }
}
