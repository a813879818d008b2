//! Running the meshroll binary against the lab: its command line (the lab's inventory,
//! ssh config and log folder, no gateway token from the test's environment) and what a
//! run may change in it ([`Opts`]: another log folder, a token, more environment, an
//! answer on stdin), a skills tree committed in git and its manifest ids, a headless
//! `rollout` argument list, a run in the background waited on with a bound, and its
//! journal read back as JSON lines.
//!
//! ```ignore
//! mod common;
//! #[path = "common/rollout_run.rs"]
//! mod rollout_run;
//!
//! let args = rollout_args(&src, &jpath, &["--wave", "50%"]);
//! let mut run = Background::spawn(meshroll_cmd(&lab, &inv, &args), &lab.dir.join("run.log"));
//! run.wait_journal(&jpath, "w01's sync", |j| phase_count(j, "phase_started", "w01", "sync") == 1);
//! let answer = Opts { stdin: Some("n\n"), ..Opts::default() };
//! let out = meshroll_with(&lab, &inv, &["unlock", "--node", "w01"], &answer);
//! ```
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Lab;

/// How long a journal wait may take before the test fails.
pub const JOURNAL_WAIT: Duration = Duration::from_secs(60);

/// The binary under test (`MESHROLL_TEST_BIN` runs the tests against another build,
/// e.g. the code before a fix, to see them fail).
pub fn bin() -> Command {
    Command::new(
        std::env::var_os("MESHROLL_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_meshroll").into()),
    )
}

/// The global options every lab run takes: the inventory, the lab's ssh config and a
/// log folder inside the lab.
pub fn base_args(lab: &Lab, inv: &Path) -> Vec<String> {
    global_args(lab, inv, &lab.dir.join("log"))
}

fn global_args(lab: &Lab, inv: &Path, log_dir: &Path) -> Vec<String> {
    vec![
        "-i".into(),
        inv.display().to_string(),
        "--ssh-config".into(),
        lab.ssh_config.display().to_string(),
        "--log-dir".into(),
        log_dir.display().to_string(),
    ]
}

/// How one run differs from the plain one; `Opts::default()`: the lab's log folder, no
/// gateway token, nothing more in its environment, nothing on stdin.
#[derive(Default, Clone, Copy)]
pub struct Opts<'a> {
    /// `--log-dir` (default: `log` inside the lab).
    pub log_dir: Option<&'a Path>,
    /// The gateway token in its environment (`OPENCLAW_GATEWAY_TOKEN`; default: taken
    /// out, whatever the test's own environment holds).
    pub token: Option<&'a str>,
    /// Set in its environment besides.
    pub env: &'a [(&'a str, &'a str)],
    /// What it reads on stdin (default: stdin empty).
    pub stdin: Option<&'a str>,
}

/// `meshroll <base args> ARGS` with no gateway token inherited; stdin, stdout and
/// stderr are the caller's to set.
pub fn meshroll_cmd(lab: &Lab, inv: &Path, args: &[impl AsRef<OsStr>]) -> Command {
    meshroll_cmd_with(lab, inv, args, &Opts::default())
}

/// [`meshroll_cmd`] with `opts`' log folder and environment (its stdin is
/// [`meshroll_with`]'s, or the caller's, to set).
pub fn meshroll_cmd_with(
    lab: &Lab,
    inv: &Path,
    args: &[impl AsRef<OsStr>],
    opts: &Opts,
) -> Command {
    let log_dir = opts
        .log_dir
        .map_or_else(|| lab.dir.join("log"), Path::to_path_buf);
    let mut cmd = bin();
    cmd.args(global_args(lab, inv, &log_dir))
        .args(args)
        .env_remove("OPENCLAW_GATEWAY_TOKEN");
    if let Some(token) = opts.token {
        cmd.env("OPENCLAW_GATEWAY_TOKEN", token);
    }
    for (k, v) in opts.env {
        cmd.env(k, v);
    }
    cmd
}

/// Run meshroll to its end (stdin empty): its output and how long it took.
pub fn meshroll(lab: &Lab, inv: &Path, args: &[impl AsRef<OsStr>]) -> (Output, Duration) {
    let start = Instant::now();
    let out = meshroll_with(lab, inv, args, &Opts::default());
    (out, start.elapsed())
}

/// Run meshroll to its end as `opts` says (stdin: `opts.stdin`, else empty): its output.
pub fn meshroll_with(lab: &Lab, inv: &Path, args: &[impl AsRef<OsStr>], opts: &Opts) -> Output {
    let mut cmd = meshroll_cmd_with(lab, inv, args, opts);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if opts.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("run meshroll");
    if let Some(input) = opts.stdin {
        use std::io::Write;
        let mut w = child.stdin.take().expect("meshroll's stdin");
        w.write_all(input.as_bytes())
            .expect("write meshroll's stdin");
    }
    child.wait_with_output().expect("wait on meshroll")
}

/// `meshroll manifest DIR`: (SKILLS_SHA, SKILLS_MANIFEST_SHA256).
pub fn manifest_ids(dir: &Path) -> (String, String) {
    let out = bin()
        .arg("manifest")
        .arg(dir)
        .output()
        .expect("run meshroll manifest");
    assert!(out.status.success(), "manifest: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_string()
    };
    (get("SKILLS_SHA="), get("SKILLS_MANIFEST_SHA256="))
}

/// `git -C REPO ARGS` (committer t); the test fails if git does.
pub fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A skills tree committed in a fresh git repository (the repository lives as long as
/// this does).
pub struct Skills {
    _repo: tempfile::TempDir,
    /// The tree: `skills/` in the repository.
    pub dir: PathBuf,
}

impl Skills {
    /// `files` (path inside the tree, content) written under `skills/` of a fresh
    /// repository and committed as one commit with `message`.
    pub fn commit(files: &[(&str, &[u8])], message: &str) -> Skills {
        let repo = tempfile::tempdir().expect("a temporary folder");
        let dir = repo.path().join("skills");
        for (path, bytes) in files {
            let p = dir.join(path);
            fs::create_dir_all(p.parent().expect("a file in the tree")).expect("mkdir -p");
            fs::write(&p, bytes).expect("write a skills file");
        }
        git(repo.path(), &["init", "-q"]);
        git(repo.path(), &["add", "."]);
        git(repo.path(), &["commit", "-qm", message]);
        Skills { _repo: repo, dir }
    }
}

/// A headless rollout of the skills folder `src` journaled at `journal`:
/// `rollout --skills SRC --journal JOURNAL EXTRA... --yes`.
pub fn rollout_args(src: &Path, journal: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "rollout".into(),
        "--skills".into(),
        src.display().to_string(),
        "--journal".into(),
        journal.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--yes".into());
    args
}

/// stdout then stderr, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The journal's records (lines that do not parse are left out; no file: none).
pub fn journal(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The records of `event` about `node`.
pub fn events<'a>(j: &'a [Value], event: &str, node: &str) -> Vec<&'a Value> {
    j.iter()
        .filter(|v| v["event"] == event && v["node_name"] == node)
        .collect()
}

/// The records of `event` about `node`'s `phase`.
pub fn phase_events<'a>(j: &'a [Value], event: &str, node: &str, phase: &str) -> Vec<&'a Value> {
    events(j, event, node)
        .into_iter()
        .filter(|v| v["phase"] == phase)
        .collect()
}

/// How many records of `event` name `node` and `phase`.
pub fn phase_count(j: &[Value], event: &str, node: &str, phase: &str) -> usize {
    phase_events(j, event, node, phase).len()
}

/// Look every `step` until `seen` gives a value, for `bound` at most; past it the test
/// fails with `what` and `context()` (what was there to see).
#[track_caller]
pub fn wait_for<T>(
    bound: Duration,
    step: Duration,
    what: &str,
    mut seen: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = seen() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {}", context());
        std::thread::sleep(step);
    }
}

/// Wait until `pred` holds on the journal at `jpath` ([`JOURNAL_WAIT`] at most).
#[track_caller]
pub fn wait_journal(
    jpath: &Path,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
    context: impl Fn() -> String,
) {
    wait_for(
        JOURNAL_WAIT,
        Duration::from_millis(50),
        &format!("never saw {what}"),
        || pred(&journal(jpath)).then_some(()),
        context,
    )
}

/// meshroll running in the background, stdout and stderr to a log file.
pub struct Background {
    pub child: Child,
    pub log: PathBuf,
}

impl Background {
    /// Start `cmd` (stdin empty) with its output to `log`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Background {
        let f = fs::File::create(log).expect("create the run's log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("the log, twice"))
            .stderr(f)
            .spawn()
            .expect("spawn meshroll");
        Background {
            child,
            log: log.to_path_buf(),
        }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `pred` holds on the journal at `jpath`, meshroll still running
    /// ([`JOURNAL_WAIT`] at most).
    #[track_caller]
    pub fn wait_journal(&mut self, jpath: &Path, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let log = self.log.clone();
        let child = &mut self.child;
        wait_for(
            JOURNAL_WAIT,
            Duration::from_millis(50),
            &format!("never saw {what}"),
            || {
                if pred(&journal(jpath)) {
                    return Some(());
                }
                let exited = child.try_wait().expect("wait on meshroll").is_some();
                assert!(!exited, "meshroll exited before {what}: {}", read(&log));
                None
            },
            || read(&log),
        )
    }

    /// Wait for it to exit on its own (`bound` at most): its exit code.
    #[track_caller]
    pub fn wait_exit(&mut self, bound: Duration, what: &str) -> Option<i32> {
        let log = self.log.clone();
        let child = &mut self.child;
        wait_for(
            bound,
            Duration::from_millis(100),
            what,
            || {
                child
                    .try_wait()
                    .expect("wait on meshroll")
                    .map(|st| st.code())
            },
            || read(&log),
        )
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL meshroll");
        self.child.wait().expect("reap meshroll");
    }
}

fn read(log: &Path) -> String {
    fs::read_to_string(log).unwrap_or_default()
}
