//! Benchmark: a rollout to 20 lab nodes (tests/common), side by side in one run with the
//! article's method done by hand:
//!
//! * `meshroll rollout` on the lab as it is (2 gateway + 18 worker nodes: each class a
//!   canary, then one wave of the rest, `--wave 100% --concurrency 20`), and on the same
//!   20 nodes as one class (one canary, then one wave of 19): the first rollout of a new
//!   bundle, a re-run with a fresh journal (every phase again; rsync moves nothing), and
//!   a re-run with the same journal (landed nodes are checked for their `current` and
//!   left alone);
//! * by hand, node after node: `rsync -a --delete --stats` to the node, `ssh node ln -sfn`,
//!   `ssh node <prewarm>`; then the same loop again on the up-to-date fleet;
//! * by hand in parallel, as an operator would with pdsh or `xargs -P 20`: the same three
//!   steps on a canary node first, then on the other 19 at once (and, a second variant,
//!   all 20 at once); then again on the up-to-date fleet. On a small machine the wave is
//!   CPU-bound (19 rsyncs over ssh at once), so this is the floor of the machine for the
//!   same work, the fair side-by-side for meshroll's 1-class rollout;
//! * the reference for the "1.5x" goal: one node's sync + prewarm alone (the slowest
//!   node of the hand loop, where nothing else runs).
//!
//! The skills tree is 200 files, ~4 MB (40 skills: SKILL.md, code, data, a few `.key`
//! files); prewarm is `sleep 1` on every node, so its cost is fixed and known.
//!
//! Also, side by side: the 2-class rollout with `--parallel-classes` (class canaries at
//! once), and the processes one node pays for a whole first rollout, with a 200-file and
//! a 2,000-file tree: `strace -f -e trace=process` attached to that node's sshd counts
//! every process started under it (ssh sessions, shells, and what the scripts run) and
//! every program run (successful execve). `MESHROLL_BIN_BEFORE=<binary>` counts an older
//! build too (the node-side scripts do not depend on the build profile).
//!
//! Run with `cargo build --release && cargo bench --bench rollout`: the bench runs the
//! release binary next to it (`target/release/meshroll`), or the one named by
//! `MESHROLL_BIN`. `MESHROLL_BENCH_SAMPLES` sets the samples per method (default 3; each
//! sample ships a new bundle). Every node's sshd sets `SHLVL=1` in sessions so Debian's
//! bash skips `~/.bashrc` (a heavy rc file, e.g. `pyenv init`, would add its cost to
//! every ssh session of both methods); `MESHROLL_BENCH_RC=keep` keeps the lab as is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/rollout_run.rs"]
mod rollout_run;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Instant, SystemTime};

use common::{Lab, NodeSpec};
use rollout_run::git;
use serde_json::Value;

const NODES: usize = 20;
const GATEWAYS: usize = 2;
const SKILLS: usize = 40;
const DEFAULT_SAMPLES: usize = 3;
const PREWARM: &str = "sleep 1";

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
    let keep_rc = std::env::var("MESHROLL_BENCH_RC").is_ok_and(|v| v == "keep");
    let bin = meshroll_bin();
    warn_if_stale(&bin);

    let mut specs = NodeSpec::many("g", GATEWAYS, "gateway");
    specs.extend(NodeSpec::many("w", NODES - GATEWAYS, "worker"));
    eprintln!("bench: starting a {NODES}-node lab ...");
    let lab = Lab::start(&specs);
    if !keep_rc {
        for n in &lab.nodes {
            let cfg = n.root.join("ssh/sshd_config");
            let mut f = fs::OpenOptions::new().append(true).open(&cfg).unwrap();
            f.write_all(b"SetEnv SHLVL=1\n").unwrap();
            n.stop_sshd();
            n.start_sshd();
        }
    }
    let inv_classes = inventory(&lab, false);
    let inv_one = inventory(&lab, true);
    let repo = SkillsRepo::new();
    let (files, bytes) = repo.size();
    eprintln!("bench: skills tree of {files} files, {bytes} bytes");

    let mut m2 = Vec::new();
    let mut m1 = Vec::new();
    let mut mp = Vec::new();
    let mut hand = Vec::new();
    let mut par_canary = Vec::new();
    let mut par_all = Vec::new();
    let mut breakdown = String::new();
    let mut breakdown_par = String::new();
    for s in 0..samples {
        eprintln!("bench: sample {} of {samples}", s + 1);
        let sha = repo.commit(&format!("m2-{s}"));
        let r = meshroll_sample(
            &bin,
            &lab,
            &inv_classes,
            &repo.dir,
            &sha,
            &format!("m2-{s}"),
            &[],
        );
        if s == 0 {
            breakdown = format!(
                "stages: {}; per phase, mean/max over the 20 nodes: {}",
                r.stages, r.phases
            );
        }
        m2.push(r);
        let sha = repo.commit(&format!("m1-{s}"));
        m1.push(meshroll_sample(
            &bin,
            &lab,
            &inv_one,
            &repo.dir,
            &sha,
            &format!("m1-{s}"),
            &[],
        ));
        let sha = repo.commit(&format!("mp-{s}"));
        let r = meshroll_sample(
            &bin,
            &lab,
            &inv_classes,
            &repo.dir,
            &sha,
            &format!("mp-{s}"),
            &["--parallel-classes"],
        );
        if s == 0 {
            breakdown_par = format!("stages: {}; per phase: {}", r.stages, r.phases);
        }
        mp.push(r);
        let sha = repo.commit(&format!("hand-{s}"));
        hand.push(hand_sample(&lab, &repo.dir, &sha));
        let sha = repo.commit(&format!("par-canary-{s}"));
        par_canary.push(par_sample(&lab, &repo.dir, &sha, true));
        let sha = repo.commit(&format!("par-all-{s}"));
        par_all.push(par_sample(&lab, &repo.dir, &sha, false));
    }

    let med = |v: Vec<f64>| -> String {
        let mut v = v;
        v.sort_by(f64::total_cmp);
        let m = v[v.len() / 2];
        if v.len() > 1 {
            format!("{m:.2} s ({:.2}-{:.2})", v[0], v[v.len() - 1])
        } else {
            format!("{m:.2} s")
        }
    };
    let medn = |v: Vec<u64>| -> u64 {
        let mut v = v;
        v.sort_unstable();
        v[v.len() / 2]
    };
    let single = hand.iter().map(|h| h.slowest_single).collect::<Vec<_>>();
    let single_med = {
        let mut v = single.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nRollout of a {files}-file, {:.1} MB skills bundle to {NODES} lab nodes, prewarm `{PREWARM}`; \
         median of {samples} samples (min-max)\n",
        bytes as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "| method | first rollout | bytes sent | re-run (fresh journal) | bytes sent | re-run (same journal) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (name, rs) in [
        (
            "meshroll, 2 classes (2+18), `--wave 100% --concurrency 20`",
            &m2,
        ),
        (
            "meshroll, 1 class of 20, `--wave 100% --concurrency 20`",
            &m1,
        ),
        (
            "meshroll, 2 classes (2+18), `--parallel-classes --wave 100% --concurrency 20`",
            &mp,
        ),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            med(rs.iter().map(|r| r.first).collect()),
            medn(rs.iter().map(|r| r.first_bytes).collect()),
            med(rs.iter().map(|r| r.rerun_fresh).collect()),
            medn(rs.iter().map(|r| r.rerun_bytes).collect()),
            med(rs.iter().map(|r| r.rerun_same).collect()),
        );
    }
    let _ = writeln!(
        out,
        "| by hand, sequential: rsync + ssh ln -sfn + ssh prewarm per node | {} | {} | {} | {} | - |",
        med(hand.iter().map(|h| h.first).collect()),
        medn(hand.iter().map(|h| h.first_bytes).collect()),
        med(hand.iter().map(|h| h.rerun).collect()),
        medn(hand.iter().map(|h| h.rerun_bytes).collect()),
    );
    for (name, ps) in [
        (
            "by hand, parallel (pdsh / `xargs -P`): canary node, then the other 19 at once",
            &par_canary,
        ),
        ("by hand, parallel: all 20 at once", &par_all),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | - |",
            med(ps.iter().map(|p| p.first).collect()),
            medn(ps.iter().map(|p| p.first_bytes).collect()),
            med(ps.iter().map(|p| p.rerun).collect()),
            medn(ps.iter().map(|p| p.rerun_bytes).collect()),
        );
    }
    let _ = writeln!(
        out,
        "\nOne node's sync + prewarm alone (slowest node of the hand loop): {}; 1.5x of it: {:.2} s",
        med(single),
        1.5 * single_med
    );
    let _ = writeln!(
        out,
        "meshroll's own sync + prewarm per node, inside the waves (slowest node): 2 classes {}, 1 class {}, 2 classes in parallel {}",
        med(m2.iter().map(|r| r.slowest_sync_prewarm).collect()),
        med(m1.iter().map(|r| r.slowest_sync_prewarm).collect()),
        med(mp.iter().map(|r| r.slowest_sync_prewarm).collect()),
    );
    let _ = writeln!(
        out,
        "meshroll first rollout / one node's sync + prewarm: 2 classes {:.2}, 1 class {:.2}, 2 classes in parallel {:.2} (goal: 1.5)",
        median(m2.iter().map(|r| r.first).collect()) / single_med,
        median(m1.iter().map(|r| r.first).collect()) / single_med,
        median(mp.iter().map(|r| r.first).collect()) / single_med,
    );
    let par_med = median(par_canary.iter().map(|p| p.first).collect());
    let _ = writeln!(
        out,
        "meshroll 1-class first rollout / by hand in parallel (canary, then 19 at once; the floor \
         of this machine for the same work): {:.2} ({} vs {:.2} s); all 20 at once by hand: {:.2} s",
        median(m1.iter().map(|r| r.first).collect()) / par_med,
        med(m1.iter().map(|r| r.first).collect()),
        par_med,
        median(par_all.iter().map(|p| p.first).collect()),
    );
    let _ = writeln!(
        out,
        "\nWhere the first rollout's time goes (2 classes, sample 1): {breakdown}"
    );
    let _ = writeln!(
        out,
        "\nWhere the first rollout's time goes (2 classes in parallel, sample 1): {breakdown_par}"
    );

    // The timings so far, printed now: the process count below can fail on a loaded
    // machine (strace slows the watched node's polls), and the timings stand on their own.
    print!("{out}");
    out.clear();

    // Processes per node: a first rollout of a 200-file and of a 2,000-file tree.
    let big = SkillsRepo::with_skills(SKILLS * 10, 2_000);
    let watched = &lab.nodes[NODES / 2];
    let mut builds = vec![("this build", bin.clone())];
    if let Some(b) = std::env::var_os("MESHROLL_BIN_BEFORE") {
        builds.push(("MESHROLL_BIN_BEFORE", PathBuf::from(b)));
    }
    let _ = writeln!(
        out,
        "\nProcesses on one node ({}, a wave node) for a whole first rollout (2 classes), \
         counted with strace -f -e trace=process on its sshd:\n",
        watched.name
    );
    let _ = writeln!(
        out,
        "| build | files | processes started | programs run (execve) | most run |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (label, b) in &builds {
        for (r, tag) in [(&repo, "small"), (&big, "big")] {
            let (files, _) = r.size();
            let _ = r.commit(&format!("procs-{tag}-{}", label.len()));
            let counted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                count_processes(
                    b,
                    &lab,
                    &inv_classes,
                    &r.dir,
                    watched,
                    &format!("{tag}-{}", label.len()),
                )
            }));
            match counted {
                Ok(Ok((procs, execs, top))) => {
                    let _ = writeln!(out, "| {label} | {files} | {procs} | {execs} | {top} |");
                }
                Ok(Err(why)) => {
                    eprintln!("bench: process count ({label}, {files} files) skipped: {why}");
                    let _ = writeln!(out, "| {label} | {files} | - | - | not counted: {why} |");
                }
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("a panic")
                        .lines()
                        .next()
                        .unwrap_or("a panic")
                        .to_string();
                    eprintln!("bench: process count ({label}, {files} files) failed: {why}");
                    let _ = writeln!(out, "| {label} | {files} | - | - | failed: {why} |");
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nlab: sshd {} in sessions; machine: nproc {}, kernel {}; meshroll {}",
        if keep_rc {
            "as is (bash reads ~/.bashrc)"
        } else {
            "with SetEnv SHLVL=1 (bash skips ~/.bashrc)"
        },
        Command::new("nproc").output().map(text).unwrap_or_default(),
        Command::new("uname")
            .arg("-r")
            .output()
            .map(text)
            .unwrap_or_default(),
        bin.display()
    );
    println!("{out}");
}

/// Run a first rollout while strace watches `node`'s sshd: (processes started, programs
/// run, the most run programs).
fn count_processes(
    bin: &Path,
    lab: &Lab,
    inv: &Path,
    src: &Path,
    node: &common::LabNode,
    tag: &str,
) -> Result<(usize, usize, String), String> {
    let pid = node
        .sshd_pid()
        .ok_or_else(|| format!("no sshd pid for {}", node.name))?;
    let trace = lab.dir.join(format!("strace-{tag}.txt"));
    let mut st = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=process", "-o"])
        .arg(&trace)
        .arg("-p")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run strace ({e}; apt-get install strace)"))?;
    // strace attaches before it writes anything; give it a moment.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let j = lab.dir.join(format!("journal-procs-{tag}.jsonl"));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_meshroll(bin, lab, inv, src, &j)
    }));
    let _ = Command::new("kill")
        .args(["-INT", &st.id().to_string()])
        .status();
    let _ = st.wait();
    match run {
        Ok((_, out)) if out.contains("finished:") => {}
        Ok(_) => return Err("the rollout did not finish".to_string()),
        Err(_) => return Err("the rollout under strace failed (see above)".to_string()),
    }
    let text = fs::read_to_string(&trace).unwrap_or_default();
    let mut pids = std::collections::BTreeSet::new();
    let mut progs: BTreeMap<String, usize> = BTreeMap::new();
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut execs = 0;
    for l in text.lines() {
        let Some((p, rest)) = l.split_once(' ') else {
            continue;
        };
        if p != pid.to_string() {
            pids.insert(p.to_string());
        }
        let rest = rest.trim_start();
        let prog = rest
            .strip_prefix("execve(\"")
            .and_then(|r| r.split('"').next())
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
        if let Some(prog) = &prog
            && rest.ends_with("<unfinished ...>")
        {
            pending.insert(p.to_string(), prog.clone());
            continue;
        }
        let ok = rest.ends_with("= 0");
        let prog = if rest.starts_with("<... execve resumed>") {
            pending.remove(p)
        } else {
            prog
        };
        if let Some(prog) = prog
            && ok
        {
            execs += 1;
            *progs.entry(prog).or_default() += 1;
        }
    }
    let mut top: Vec<(String, usize)> = progs.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = top
        .iter()
        .take(6)
        .map(|(p, n)| format!("{p} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if text.is_empty() {
        return Err("strace wrote nothing (ptrace not permitted?)".to_string());
    }
    Ok((pids.len(), execs, top))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn text(o: Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

// ---------------------------------------------------------------------------------------
// the skills tree

struct SkillsRepo {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
}

impl SkillsRepo {
    /// 40 skills of 5 files each: SKILL.md, two code files, a data blob, and every
    /// fourth skill an `api.key` instead of its second code file. ~4 MB.
    fn new() -> SkillsRepo {
        SkillsRepo::with_skills(SKILLS, 60_000)
    }

    /// `skills` skills of 5 files each (as [`SkillsRepo::new`]), data blobs of `blob`
    /// bytes and up.
    fn with_skills(skills: usize, blob: usize) -> SkillsRepo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let dir = root.join("skills");
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut bytes = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng >> 24) as u8
                })
                .collect()
        };
        for i in 0..skills {
            let d = dir.join(format!("skill-{i:02}"));
            fs::create_dir_all(d.join("lib")).unwrap();
            fs::write(
                d.join("SKILL.md"),
                format!("# skill {i}\n\n{}\n", "Does one thing well. ".repeat(80)),
            )
            .unwrap();
            fs::write(
                d.join("lib/main.js"),
                "export function run(x) { return x; }\n".repeat(300 + 20 * (i % SKILLS)),
            )
            .unwrap();
            if i % 4 == 0 {
                fs::write(d.join("lib/api.key"), hex(&bytes(32))).unwrap();
            } else {
                fs::write(d.join("lib/util.js"), "const a = 1;\n".repeat(400)).unwrap();
            }
            fs::write(d.join("data.bin"), bytes(blob + 1_000 * (i % SKILLS))).unwrap();
            fs::write(d.join("README.md"), format!("skill {i}\n")).unwrap();
        }
        git(&root, &["init", "-q"]);
        SkillsRepo {
            _tmp: tmp,
            root,
            dir,
        }
    }

    /// Change one small file, commit, and return the new SKILLS_SHA.
    fn commit(&self, tag: &str) -> String {
        fs::write(
            self.dir.join("skill-00/README.md"),
            format!("skill 0 {tag}\n"),
        )
        .unwrap();
        git(&self.root, &["add", "-A"]);
        git(&self.root, &["commit", "-qm", tag]);
        let o = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["rev-parse", "HEAD:skills"])
            .output()
            .unwrap();
        text(o)
    }

    fn size(&self) -> (usize, u64) {
        fn walk(d: &Path, n: &mut usize, b: &mut u64) {
            for e in fs::read_dir(d).unwrap().flatten() {
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    walk(&e.path(), n, b);
                } else {
                    *n += 1;
                    *b += m.len();
                }
            }
        }
        let (mut n, mut b) = (0, 0);
        walk(&self.dir, &mut n, &mut b);
        (n, b)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// meshroll

/// The lab's INI inventory with the fixed prewarm on every host; `one_class`: every host
/// in one group.
fn inventory(lab: &Lab, one_class: bool) -> PathBuf {
    let base = fs::read_to_string(lab.write_inventory_ini()).unwrap();
    let mut out = String::new();
    let mut header_done = false;
    for line in base.lines() {
        if one_class && line.starts_with('[') {
            if !header_done {
                out.push_str("[fleet]\n");
                header_done = true;
            }
            continue;
        }
        out.push_str(line);
        if lab
            .nodes
            .iter()
            .any(|n| line.starts_with(&format!("{} ansible_host=", n.name)))
        {
            out.push_str(&format!(" meshroll_prewarm_cmd=\"{PREWARM}\""));
        }
        out.push('\n');
    }
    let p = lab.dir.join(if one_class {
        "inv-one.ini"
    } else {
        "inv-classes.ini"
    });
    fs::write(&p, out).unwrap();
    p
}

struct MeshrollSample {
    first: f64,
    first_bytes: u64,
    rerun_fresh: f64,
    rerun_bytes: u64,
    rerun_same: f64,
    slowest_sync_prewarm: f64,
    stages: String,
    phases: String,
}

fn run_meshroll(bin: &Path, lab: &Lab, inv: &Path, src: &Path, journal: &Path) -> (f64, String) {
    run_meshroll_with(bin, lab, inv, src, journal, &[])
}

fn run_meshroll_with(
    bin: &Path,
    lab: &Lab,
    inv: &Path,
    src: &Path,
    journal: &Path,
    extra: &[&str],
) -> (f64, String) {
    let start = Instant::now();
    let o = Command::new(bin)
        .arg("-i")
        .arg(inv)
        .arg("--ssh-config")
        .arg(&lab.ssh_config)
        .arg("--log-dir")
        .arg(lab.dir.join("log"))
        .args(["rollout", "--skills"])
        .arg(src)
        .args(["--wave", "100%", "--concurrency", "20", "--journal"])
        .arg(journal)
        .args(extra)
        .arg("--yes")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = start.elapsed().as_secs_f64();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "meshroll rollout failed:\n{out}");
    (took, out)
}

/// Sum of "N bytes sent" over the sync lines; and the number of sync lines.
fn bytes_sent(out: &str) -> (u64, usize) {
    let mut sum = 0;
    let mut n = 0;
    for l in out.lines().filter(|l| l.contains(" sync ok: ")) {
        n += 1;
        sum += l
            .split(", ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no bytes in {l:?}"));
    }
    (sum, n)
}

fn meshroll_sample(
    bin: &Path,
    lab: &Lab,
    inv: &Path,
    src: &Path,
    sha: &str,
    tag: &str,
    extra: &[&str],
) -> MeshrollSample {
    let j1 = lab.dir.join(format!("journal-{tag}.jsonl"));
    let j2 = lab.dir.join(format!("journal-{tag}-rerun.jsonl"));
    let (first, out) = run_meshroll_with(bin, lab, inv, src, &j1, extra);
    let (first_bytes, n) = bytes_sent(&out);
    assert_eq!(n, NODES, "{out}");
    for node in &lab.nodes {
        assert_eq!(node.current().as_deref(), Some(sha), "{out}");
    }
    let (rerun_fresh, out2) = run_meshroll_with(bin, lab, inv, src, &j2, extra);
    let (rerun_bytes, n) = bytes_sent(&out2);
    assert_eq!(n, NODES);
    assert_eq!(
        out2.matches(" 0 file(s) transferred").count(),
        NODES,
        "{out2}"
    );
    let (rerun_same, out3) = run_meshroll_with(bin, lab, inv, src, &j1, extra);
    assert_eq!(
        out3.matches("landed (earlier run)").count(),
        NODES,
        "{out3}"
    );
    // Per node sync + prewarm, and the stages, from the first run's journal.
    let j: Vec<Value> = fs::read_to_string(&j1)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut started: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut took: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_phase: Vec<(String, Vec<u64>)> = Vec::new();
    let mut stages: Vec<(String, u64)> = Vec::new();
    let t0 = j.first().and_then(|v| v["ts_ms"].as_u64()).unwrap_or(0);
    let mut end = t0;
    // Only the first run (the same-journal re-run appended to it).
    for v in j.iter().take_while(|v| v["event"] != "finished") {
        let ts = v["ts_ms"].as_u64().unwrap_or(0);
        end = end.max(ts);
        let node = v["node_name"].as_str().unwrap_or("").to_string();
        let phase = v["phase"].as_str().unwrap_or("").to_string();
        match v["event"].as_str() {
            Some("phase_started") => {
                started.insert((node, phase), ts);
            }
            Some("phase_done") => {
                let s = started
                    .get(&(node.clone(), phase.clone()))
                    .copied()
                    .unwrap_or(ts);
                match per_phase.iter_mut().find(|(p, _)| *p == phase) {
                    Some((_, v)) => v.push(ts - s),
                    None => per_phase.push((phase.clone(), vec![ts - s])),
                }
                if phase == "sync" || phase == "prewarm" {
                    *took.entry(node).or_default() += ts - s;
                }
            }
            Some("stage_started") => {
                let class = v["class"].as_str().unwrap_or("?");
                let stage = v["stage"].as_u64().unwrap_or(0);
                let name = if stage == 0 {
                    format!("{class} canary")
                } else {
                    format!("{class} wave {stage}")
                };
                stages.push((name, ts));
            }
            _ => {}
        }
    }
    let mut desc = Vec::new();
    for (i, (name, ts)) in stages.iter().enumerate() {
        let next = stages.get(i + 1).map_or(end, |s| s.1);
        desc.push(format!("{name} {:.1} s", (next - ts) as f64 / 1000.0));
    }
    MeshrollSample {
        first,
        first_bytes,
        rerun_fresh,
        rerun_bytes,
        rerun_same,
        slowest_sync_prewarm: took.values().copied().max().unwrap_or(0) as f64 / 1000.0,
        stages: desc.join(", "),
        phases: per_phase
            .iter()
            .map(|(p, v)| {
                format!(
                    "{p} {:.2}/{:.2} s",
                    v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0,
                    v.iter().copied().max().unwrap_or(0) as f64 / 1000.0
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

// ---------------------------------------------------------------------------------------
// by hand

struct HandSample {
    first: f64,
    first_bytes: u64,
    rerun: f64,
    rerun_bytes: u64,
    /// The slowest node's rsync + prewarm, each run alone.
    slowest_single: f64,
}

/// One node's hand steps: rsync, `ssh ln -sfn`, `ssh <prewarm>`: (bytes sent, its rsync +
/// prewarm time).
fn hand_node(lab: &Lab, n: &common::LabNode, src: &Path, sha: &str) -> (u64, f64) {
    let root = n.root.join("hand/skills");
    let t = Instant::now();
    let o = Command::new("rsync")
        .args(["-a", "--delete", "--stats", "--mkpath", "-e"])
        .arg(format!("ssh -F {}", lab.ssh_config.display()))
        .arg(format!("{}/", src.display()))
        .arg(format!("{}:{}/{sha}/", n.alias, root.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let sync = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "rsync to {}: {o:?}", n.name);
    let stats = String::from_utf8_lossy(&o.stdout);
    let bytes = stats
        .lines()
        .find_map(|l| l.strip_prefix("Total bytes sent: "))
        .map(|v| v.trim().replace(',', ""))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("rsync --stats prints Total bytes sent");
    let o = lab.ssh(
        &n.alias,
        &format!("ln -sfn {sha} {}/current", root.display()),
    );
    assert!(o.status.success(), "ln on {}: {o:?}", n.name);
    let t = Instant::now();
    let o = lab.ssh(
        &n.alias,
        &format!(
            "{PREWARM} && touch {}/skill-cache-ready",
            n.state_dir().display()
        ),
    );
    let prewarm = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "prewarm on {}: {o:?}", n.name);
    (bytes, sync + prewarm)
}

/// One pass of the loop: (wall, bytes sent, slowest node's rsync + prewarm).
fn hand_loop(lab: &Lab, src: &Path, sha: &str) -> (f64, u64, f64) {
    let start = Instant::now();
    let mut bytes = 0;
    let mut slowest = 0f64;
    for n in &lab.nodes {
        let (b, took) = hand_node(lab, n, src, sha);
        bytes += b;
        slowest = slowest.max(took);
    }
    (start.elapsed().as_secs_f64(), bytes, slowest)
}

/// The hand steps in parallel, as pdsh or `xargs -P 20` would run them: with `canary`,
/// the first node alone, then the other 19 at once; without, all 20 at once.
/// (wall, bytes sent).
fn hand_parallel(lab: &Lab, src: &Path, sha: &str, canary: bool) -> (f64, u64) {
    let start = Instant::now();
    let (first, rest) = if canary {
        lab.nodes.split_at(1)
    } else {
        lab.nodes.split_at(0)
    };
    let mut bytes = first
        .iter()
        .map(|n| hand_node(lab, n, src, sha).0)
        .sum::<u64>();
    bytes += std::thread::scope(|s| {
        let hs: Vec<_> = rest
            .iter()
            .map(|n| s.spawn(move || hand_node(lab, n, src, sha).0))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("a hand step failed"))
            .sum::<u64>()
    });
    (start.elapsed().as_secs_f64(), bytes)
}

struct ParSample {
    first: f64,
    first_bytes: u64,
    rerun: f64,
    rerun_bytes: u64,
}

fn par_sample(lab: &Lab, src: &Path, sha: &str, canary: bool) -> ParSample {
    let (first, first_bytes) = hand_parallel(lab, src, sha, canary);
    for node in &lab.nodes {
        let cur = fs::read_link(node.root.join("hand/skills/current")).ok();
        assert_eq!(
            cur.as_deref(),
            Some(Path::new(sha)),
            "hand ln on {}",
            node.name
        );
    }
    let (rerun, rerun_bytes) = hand_parallel(lab, src, sha, canary);
    ParSample {
        first,
        first_bytes,
        rerun,
        rerun_bytes,
    }
}

fn hand_sample(lab: &Lab, src: &Path, sha: &str) -> HandSample {
    let (first, first_bytes, slowest_single) = hand_loop(lab, src, sha);
    let (rerun, rerun_bytes, _) = hand_loop(lab, src, sha);
    HandSample {
        first,
        first_bytes,
        rerun,
        rerun_bytes,
        slowest_single,
    }
}

// ---------------------------------------------------------------------------------------

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
        "{} not found: build it first (cargo build --release && cargo bench --bench rollout)",
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
