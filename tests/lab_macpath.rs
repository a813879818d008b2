//! Real sshd nodes (tests/common) for what a Mac node needs beyond a plain one: the
//! prewarm's memory cap (killed past it; said when no cap can be applied) and the PATH
//! of the account's login shell (zsh, with `openclaw` on a PATH set only in
//! `~/.zprofile`).
//!
//! The node environments here are made with sshd's `SetEnv` (the session's `PATH`,
//! `HOME` and `SHELL`), not a mount namespace: sshd still starts commands through the
//! lab account's own shell, and `$SHELL` names the login shell the node's scripts ask.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::macos::RsyncFlavor;
use common::{Lab, LabNode, NodeSpec};
use rollout_run::{Skills, journal, phase_events, text};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// helpers

/// A skills tree committed in a fresh git repository.
fn skills() -> Skills {
    skills_variant("one")
}

/// [`skills`] with its own content (so its own SKILLS_SHA).
fn skills_variant(variant: &str) -> Skills {
    let readme = format!("skills {variant}\n");
    Skills::commit(
        &[
            ("weather/SKILL.md", b"# weather\n"),
            ("README.md", readme.as_bytes()),
        ],
        "one",
    )
}

/// The lab's INI inventory with `extra(node)` appended to each host line.
fn inventory(lab: &Lab, extra: impl Fn(&LabNode) -> String) -> PathBuf {
    lab.write_inventory_with("inv.ini", extra)
}

/// meshroll to its end: what it printed (stdout then stderr) and its exit code.
fn meshroll(lab: &Lab, inv: &Path, args: &[&str]) -> (String, Option<i32>) {
    let (out, _) = rollout_run::meshroll(lab, inv, args);
    (text(&out), out.status.code())
}

/// A headless rollout of `src` with `journal`: a loaded machine (the suite shares its
/// cores) must not time a phase out, so the limits are wide.
fn rollout_argv(src: &Skills, journal: &Path) -> Vec<String> {
    let mut argv = vec!["--timeout".to_string(), "30".into()];
    argv.extend(rollout_run::rollout_args(
        &src.dir,
        journal,
        &["--prewarm-timeout", "60"],
    ));
    argv
}

fn rollout(lab: &Lab, inv: &Path, src: &Skills, journal: &Path) -> (String, Option<i32>) {
    let (out, _) = rollout_run::meshroll(lab, inv, &rollout_argv(src, journal));
    (text(&out), out.status.code())
}

/// No process left whose command line holds `tag` (the prewarm's process group was
/// killed whole).
#[track_caller]
fn none_left(tag: &str) {
    let left = Command::new("pgrep").args(["-f", tag]).output().unwrap();
    assert!(
        left.stdout.is_empty(),
        "the prewarm's group outlived the kill: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// An executable file at `path`.
fn executable(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Give the node's ssh sessions these environment variables (sshd's `SetEnv`, one line:
/// sshd takes the first `SetEnv` only) and restart its sshd.
fn set_session_env(n: &LabNode, vars: &[(&str, String)]) {
    let cfg_path = n.root.join("ssh/sshd_config");
    let cfg = fs::read_to_string(&cfg_path).unwrap();
    let kept: String = cfg
        .lines()
        .filter(|l| !l.starts_with("SetEnv "))
        .map(|l| format!("{l}\n"))
        .collect();
    let line: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    fs::write(&cfg_path, format!("{kept}SetEnv {}\n", line.join(" "))).unwrap();
    n.stop_sshd();
    n.start_sshd();
}

// ---------------------------------------------------------------------------------------
// the prewarm's memory cap

/// A prewarm that grows past the node's memory cap (`meshroll_prewarm_mem_mb=16`; perl
/// holds 64 MiB) is killed with its whole process group within seconds, the kill is the
/// phase's error in the progress lines and the journal, and it is not retried.
#[test]
fn a_prewarm_over_its_memory_cap_is_killed_and_that_is_its_error() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let tag = format!("meshroll-lab-memcap-{}", std::process::id());
    let hog = g01.root.join("bin/hog");
    executable(
        &hog,
        &format!(
            "#!/bin/sh\necho allocating\nsh -c 'sleep 120; : {tag}' &\nperl -e '$x = \"a\" x (64 << 20); sleep 120'\necho survived\n"
        ),
    );
    let inv = inventory(&lab, |_| {
        format!(
            "meshroll_prewarm_cmd={} meshroll_prewarm_mem_mb=16",
            hog.display()
        )
    });
    let src = skills();
    let jpath = lab.dir.join("j.jsonl");
    let (o, code) = rollout(&lab, &inv, &src, &jpath);
    assert_eq!(code, Some(1), "{o}");
    assert!(
        o.contains(
            "g01 prewarm failed (fatal, attempt 1/5): prewarm over the memory cap of 16 MiB ("
        ),
        "{o}"
    );
    let j = journal(&jpath);
    let failed = phase_events(&j, "phase_failed", "g01", "prewarm");
    assert_eq!(failed.len(), 1, "{j:?}");
    // Killed by the cap, not ended by the hog's own 120 s sleep (the run as a whole
    // takes longer: the switched node's wind-down probe waits for a warm cache).
    let started = phase_events(&j, "phase_started", "g01", "prewarm");
    let ms = |v: &Value| v["ts_ms"].as_u64().unwrap();
    let prewarm_ms = ms(failed[0]) - ms(started[0]);
    assert!(prewarm_ms < 45_000, "prewarm ran {prewarm_ms} ms\n{o}");
    assert!(
        failed[0]
            .to_string()
            .contains("over the memory cap of 16 MiB"),
        "{}",
        failed[0]
    );
    assert_eq!(phase_events(&j, "phase_started", "g01", "prewarm").len(), 1);
    assert!(!g01.state_dir().join("skill-cache-ready").exists());
    none_left(&tag);
}

/// A node where no memory cap can be applied: its `ps` is refused (no watchdog) and
/// its kernel refuses `ulimit -v` (a hard address-space limit below the cap and no
/// right to raise it, as Darwin refuses it). Prewarm runs, and the progress line (the
/// plan view's log), the journal and the node's attempt say "memory cap not applied on
/// this node" and why.
#[test]
fn a_node_where_no_memory_cap_holds_says_so() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let fake = g01.root.join("fakebin");
    executable(
        &fake.join("ps"),
        "#!/bin/sh\necho 'ps: operation not permitted' >&2\nexit 1\n",
    );
    executable(
        &fake.join("sh"),
        "#!/bin/bash\nulimit -v 1048576 && exec setpriv --bounding-set=-sys_resource /bin/sh \"$@\"\n",
    );
    // the session's PATH finds the fake `sh` (ssh runs `sh -s`), the login shell's
    // PATH (which the scripts put first) the fake `ps`
    zsh_login_with_path_and(
        g01,
        &fake,
        &[(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", fake.display()),
        )],
    );
    let probe = lab.ssh("g01", "command -v ps; command -v sh");
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout),
        format!("{}/ps\n{}/sh\n", fake.display(), fake.display()),
        "the session's PATH did not take: {probe:?}"
    );
    let inv = inventory(&lab, |_| {
        "meshroll_prewarm_cmd=\"echo warming; echo warmed\"".into()
    });
    let src = skills();
    let jpath = lab.dir.join("j.jsonl");
    let (o, code) = rollout(&lab, &inv, &src, &jpath);
    assert_eq!(code, Some(0), "{o}");
    let why = "memory cap not applied on this node: ps cannot read memory use (ps: operation not permitted); ulimit -v 4194304 refused (";
    let line = o
        .lines()
        .find(|l| l.contains(" g01 prewarm ok: "))
        .unwrap_or_else(|| panic!("no prewarm line in\n{o}"));
    assert!(line.contains(why), "{line}");
    assert!(line.contains("Operation not permitted)"), "{line}");
    let j = journal(&jpath);
    let done = phase_events(&j, "phase_done", "g01", "prewarm");
    assert_eq!(done.len(), 1, "{j:?}");
    assert!(done[0].to_string().contains(why), "{}", done[0]);
    assert!(g01.state_dir().join("skill-cache-ready").exists());
}

// ---------------------------------------------------------------------------------------
// the login shell's PATH

/// Make `n`'s account a Mac's: zsh as its login shell (`$SHELL`), with `~/.zprofile`
/// putting `bin_dir` first on the PATH (as nvm or Homebrew do) and rc files that print
/// around it. Only a login shell reads `~/.zprofile`: the sessions sshd starts do not.
fn zsh_login_with_path(n: &LabNode, bin_dir: &Path) {
    zsh_login_with_path_and(n, bin_dir, &[]);
}

/// [`zsh_login_with_path`], with more variables for the sessions sshd starts.
fn zsh_login_with_path_and(n: &LabNode, bin_dir: &Path, more: &[(&str, String)]) {
    let zsh = ["/usr/bin/zsh", "/bin/zsh"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("zsh is installed (scripts/test.sh installs it)");
    let home = n.root.join("login-home");
    fs::create_dir_all(&home).unwrap();
    fs::write(
        home.join(".zshenv"),
        "echo 'zshenv: hello from the rc file'\n",
    )
    .unwrap();
    fs::write(
        home.join(".zprofile"),
        format!(
            "printf 'Last login: no newline'\nexport PATH=\"{}:$PATH\"\necho 'zprofile done'\n",
            bin_dir.display()
        ),
    )
    .unwrap();
    let mut vars = vec![
        ("HOME", home.display().to_string()),
        ("SHELL", zsh.to_string()),
    ];
    vars.extend(more.iter().cloned());
    set_session_env(n, &vars);
}

/// `openclaw` on a node's login-shell PATH only (a relative `meshroll_openclaw`), and
/// each wrapper runs the node's own stand-in (found from `$HOME`).
fn openclaw_in(dir: &Path) -> PathBuf {
    let p = dir.join("openclaw");
    executable(&p, "#!/bin/sh\nexec \"$HOME/../bin/openclaw\" \"$@\"\n");
    p
}

/// An inventory's text with `meshroll_openclaw=openclaw` (found on the node's PATH)
/// instead of the lab's absolute path to the stand-in.
fn relative_openclaw(inventory: &str) -> String {
    let mut out = String::new();
    for line in inventory.lines() {
        let words: Vec<&str> = line
            .split(' ')
            .map(|w| {
                if w.starts_with("meshroll_openclaw=") {
                    "meshroll_openclaw=openclaw"
                } else {
                    w
                }
            })
            .collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

fn status_json(lab: &Lab, inv: &Path) -> Vec<Value> {
    let (o, _) = meshroll(lab, inv, &["--timeout", "15", "status", "--json"]);
    let start = o.find('[').unwrap_or_else(|| panic!("no JSON in\n{o}"));
    let end = o.rfind(']').unwrap_or_else(|| panic!("no JSON in\n{o}"));
    serde_json::from_str(&o[start..=end]).unwrap_or_else(|e| panic!("{e}: {o}"))
}

fn row<'a>(rows: &'a [Value], node: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["node"] == node)
        .unwrap_or_else(|| panic!("no row for {node}: {rows:?}"))
}

/// Nodes whose `openclaw` is on a PATH that only zsh's `~/.zprofile` sets are polled
/// ready (the poll channel reads the login shell's PATH once); `status --json` says
/// which CLI ran; a node whose CLI path, or whose `--version`, differs from its class
/// is skewed; an absolute `meshroll_openclaw` still wins over the login PATH.
#[test]
fn the_login_shells_path_finds_openclaw_and_a_split_cli_is_skew() {
    let lab = Lab::start(&NodeSpec::many("w", 3, "worker"));
    let usr_local = lab.dir.join("usr-local/bin");
    let brew = lab.dir.join("opt-homebrew/bin");
    let (cli_a, cli_b) = (openclaw_in(&usr_local), openclaw_in(&brew));
    zsh_login_with_path(lab.node("w01"), &usr_local);
    zsh_login_with_path(lab.node("w02"), &usr_local);
    zsh_login_with_path(lab.node("w03"), &brew);
    lab.node("w02").set_build("", "", "2026.9.7");
    // the sessions sshd starts do not find it
    let plain = lab.ssh("w01", "command -v openclaw || echo none");
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "none\n",
        "{plain:?}"
    );

    let abs = lab.write_inventory_ini();
    let rel_inv = lab.dir.join("relative.ini");
    fs::write(
        &rel_inv,
        relative_openclaw(&fs::read_to_string(&abs).unwrap()),
    )
    .unwrap();

    let rows = status_json(&lab, &rel_inv);
    for (node, cli) in [("w01", &cli_a), ("w02", &cli_a), ("w03", &cli_b)] {
        let r = row(&rows, node);
        assert_eq!(r["gateway"]["ready"], true, "{node}: {r}");
        assert_eq!(r["cli"]["path"], cli.display().to_string(), "{node}: {r}");
    }
    assert_eq!(
        row(&rows, "w01")["cli"]["version"],
        "OpenClaw 2026.9.6 (eb377ac)"
    );
    assert_eq!(
        row(&rows, "w02")["cli"]["version"],
        "OpenClaw 2026.9.7 (eb377ac)"
    );
    let reasons = |node: &str| -> Vec<String> {
        row(&rows, node)["skew"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        !reasons("w01").iter().any(|r| r.starts_with("cli ")),
        "{:?}",
        reasons("w01")
    );
    assert_eq!(row(&rows, "w01")["skew"]["cli"], false);
    assert!(
        reasons("w02").contains(
            &"cli --version OpenClaw 2026.9.7 (eb377ac) != class OpenClaw 2026.9.6 (eb377ac)"
                .to_string()
        ),
        "{:?}",
        reasons("w02")
    );
    assert!(
        reasons("w03").contains(&format!(
            "cli path {} != class {}",
            cli_b.display(),
            cli_a.display()
        )),
        "{:?}",
        reasons("w03")
    );
    assert_eq!(row(&rows, "w03")["skew"]["cli"], true);

    assert_eq!(row(&rows, "w01")["cli"]["on_path"], true);

    // an absolute meshroll_openclaw wins over the login shell's PATH (and a path set
    // per node is configuration, not skew)
    let rows = status_json(&lab, &abs);
    for n in &lab.nodes {
        let r = row(&rows, &n.name);
        assert_eq!(r["cli"]["path"], n.openclaw().display().to_string(), "{r}");
        assert_eq!(r["cli"]["on_path"], false, "{r}");
        assert_eq!(r["gateway"]["ready"], true, "{r}");
        assert!(!r["skew"].to_string().contains("cli path"), "{r}");
    }
}

/// A rollout lands on a node whose `openclaw` is only on zsh's `~/.zprofile` PATH (a
/// relative `meshroll_openclaw`): baseline's gateway status, the canary's doctor and a
/// prewarm that runs the CLI all find it through the login shell's PATH.
#[test]
fn a_rollout_finds_openclaw_on_the_login_shells_path() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let usr_local = lab.dir.join("usr-local/bin");
    openclaw_in(&usr_local);
    zsh_login_with_path(lab.node("g01"), &usr_local);
    let inv = inventory(&lab, |_| {
        "meshroll_prewarm_cmd=\"openclaw --version\"".into()
    });
    let text = relative_openclaw(&fs::read_to_string(&inv).unwrap());
    assert!(!text.contains("bin/openclaw"), "{text}");
    fs::write(&inv, text).unwrap();
    let src = skills();
    let jpath = lab.dir.join("j.jsonl");
    let (o, code) = rollout(&lab, &inv, &src, &jpath);
    assert_eq!(code, Some(0), "{o}");
    assert!(o.contains(" g01 LANDED"), "{o}");
    let calls = lab.node("g01").calls();
    for want in ["gateway status --json", "doctor --lint --json", "--version"] {
        assert!(calls.iter().any(|c| c == want), "{want}: {calls:?}");
    }
}

// ---------------------------------------------------------------------------------------
// the same on a macOS-shaped node

/// On a macOS-shaped node (tests/common/macos.rs: root's login shell is zsh in its
/// passwd, `sh` is dash, BSD-like tools, stock rsync 2.6.9, `openclaw` only on the
/// `~/.zprofile` PATH) with a relative `meshroll_openclaw`: `status` finds the CLI and
/// says which; a rollout lands (baseline, doctor and a prewarm that runs the CLI find
/// it); a later prewarm that grows past its memory cap is killed, which is its error.
#[test]
fn on_a_macos_shaped_node_the_login_path_and_the_memory_cap_hold() {
    let lab = Lab::start(&[NodeSpec::macos("mac", "worker", RsyncFlavor::Apple269)]);
    let mac = lab.node("mac");
    let plain = lab.ssh("mac", "command -v openclaw || echo none");
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        "none\n",
        "{plain:?}"
    );

    let inv = lab.dir.join("mac.ini");
    fs::write(
        &inv,
        relative_openclaw(&fs::read_to_string(lab.write_inventory_ini()).unwrap()),
    )
    .unwrap();
    let rows = status_json(&lab, &inv);
    let r = row(&rows, "mac");
    assert_eq!(r["gateway"]["ready"], true, "{r}");
    assert_eq!(
        r["cli"]["path"],
        mac.zprofile_openclaw_dir()
            .join("openclaw")
            .display()
            .to_string(),
        "{r}"
    );
    assert_eq!(r["cli"]["version"], "OpenClaw 2026.9.6 (eb377ac)", "{r}");

    let hog = mac.root.join("bin/hog");
    let tag = format!("meshroll-lab-macmemcap-{}", std::process::id());
    executable(
        &hog,
        &format!(
            "#!/bin/sh\necho allocating\nsh -c 'sleep 120; : {tag}' &\nperl -e '$x = \"a\" x (64 << 20); sleep 120'\necho survived\n"
        ),
    );
    let with = |extra: &str| {
        let base = inventory(&lab, |_| extra.to_string());
        let p = lab.dir.join("mac-rollout.ini");
        fs::write(&p, relative_openclaw(&fs::read_to_string(&base).unwrap())).unwrap();
        p
    };
    let inv = with("meshroll_prewarm_cmd=\"openclaw --version\"");
    let (o, code) = rollout(&lab, &inv, &skills(), &lab.dir.join("j1.jsonl"));
    assert_eq!(code, Some(0), "{o}");
    assert!(o.contains(" mac LANDED"), "{o}");

    let inv = with(&format!(
        "meshroll_prewarm_cmd={} meshroll_prewarm_mem_mb=16",
        hog.display()
    ));
    let (o, code) = rollout(
        &lab,
        &inv,
        &skills_variant("two"),
        &lab.dir.join("j2.jsonl"),
    );
    assert_eq!(code, Some(1), "{o}");
    assert!(
        o.contains(
            "mac prewarm failed (fatal, attempt 1/5): prewarm over the memory cap of 16 MiB ("
        ),
        "{o}"
    );
    none_left(&tag);
}

// ---------------------------------------------------------------------------------------
// the login shell, read once per node per rollout run

/// Count the login shells of node `n`'s account from now on: its `~/.zprofile` (read by
/// login shells only) appends a line to `<root>/logins` each time.
fn count_logins(n: &LabNode) -> PathBuf {
    let count = n.root.join("logins");
    let zprofile = n.login_home().join(".zprofile");
    let mut rc = fs::read_to_string(&zprofile).unwrap();
    rc.push_str(&format!("echo login >>'{}'\n", count.display()));
    fs::write(&zprofile, rc).unwrap();
    count
}

fn lines(p: &Path) -> usize {
    fs::read_to_string(p).unwrap_or_default().lines().count()
}

/// A first rollout of a plain node (zsh login shell set through the session) and a
/// macOS-shaped one (zsh in its passwd, dash as `sh`, no `setsid`), both with `openclaw`
/// only on the `~/.zprofile` PATH and drain, undrain and prewarm commands that need it:
/// the rollout starts the account's login shell once per node (at the baseline, which
/// carries the drain), and the later scripts (doctor, prewarm, undrain) and the poll
/// channel the probe opens get the PATH it learned.
#[test]
fn a_rollout_starts_the_login_shell_once_per_node() {
    let lab = Lab::start(&[
        NodeSpec::new("g01", "gateway"),
        NodeSpec::macos("mac", "worker", RsyncFlavor::Apple269),
    ]);
    let usr_local = lab.dir.join("usr-local/bin");
    openclaw_in(&usr_local);
    zsh_login_with_path(lab.node("g01"), &usr_local);
    let counts: Vec<(&str, PathBuf)> = ["g01", "mac"]
        .into_iter()
        .map(|n| (n, count_logins(lab.node(n))))
        .collect();
    // each of these fails unless the login shell's PATH is in force
    let needs = "command -v openclaw";
    let inv = inventory(&lab, |_| {
        format!(
            "meshroll_drain_cmd=\"{needs}\" meshroll_undrain_cmd=\"{needs}\" meshroll_prewarm_cmd=\"{needs}\""
        )
    });
    fs::write(&inv, relative_openclaw(&fs::read_to_string(&inv).unwrap())).unwrap();
    for n in ["g01", "mac"] {
        lab.node(n).clear_calls();
    }
    let (o, code) = rollout(&lab, &inv, &skills(), &lab.dir.join("j.jsonl"));
    assert_eq!(code, Some(0), "{o}");
    let mut over = Vec::new();
    for (n, count) in &counts {
        assert!(o.contains(&format!(" {n} LANDED")), "{o}");
        let calls = lab.node(n).calls();
        for want in ["gateway status --json", "doctor --lint --json"] {
            assert!(calls.iter().any(|c| c == want), "{n} {want}: {calls:?}");
        }
        let channel_opens = calls.iter().filter(|c| *c == "--version").count();
        let logins = lines(count);
        eprintln!("{n}: {logins} login shell(s), {channel_opens} poll channel open(s)");
        if logins != 1 {
            over.push(format!(
                "{n}: {logins} login shells ({channel_opens} poll channel open(s))"
            ));
        }
    }
    assert!(over.is_empty(), "{over:?}");
}

/// A run resumed past the baseline (the first killed with SIGKILL while the canary
/// prewarms) learns the login PATH from the first of its scripts that reads it (the
/// prewarm, started again) and hands it to the probe's poll channel and the undrain
/// command: one login shell in the run.
#[test]
fn a_resumed_rollout_learns_the_login_path_from_its_first_script_that_reads_it() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let usr_local = lab.dir.join("usr-local/bin");
    openclaw_in(&usr_local);
    zsh_login_with_path(g01, &usr_local);
    let count = count_logins(g01);
    let needs = "command -v openclaw";
    let write_inv = |prewarm: &str| {
        let inv = inventory(&lab, |_| {
            format!(
                "meshroll_drain_cmd=\"{needs}\" meshroll_undrain_cmd=\"{needs}\" meshroll_prewarm_cmd=\"{prewarm}\""
            )
        });
        fs::write(&inv, relative_openclaw(&fs::read_to_string(&inv).unwrap())).unwrap();
        inv
    };
    let src = skills();
    let jpath = lab.dir.join("j.jsonl");
    let args = rollout_argv(&src, &jpath);
    let inv = write_inv("sleep 30");
    let mut first = rollout_run::Background::spawn(
        rollout_run::meshroll_cmd(&lab, &inv, &args),
        &lab.dir.join("first.log"),
    );
    first.wait_journal(&jpath, "g01's prewarm", |j| {
        !phase_events(j, "phase_started", "g01", "prewarm").is_empty()
    });
    first.kill(); // SIGKILL
    fs::write(&count, "").unwrap();
    g01.clear_calls();
    let inv = write_inv(needs);
    let (o, code) = rollout(&lab, &inv, &src, &jpath);
    assert_eq!(code, Some(0), "{o}");
    assert!(
        o.contains("resuming rollout") && o.contains(" g01 LANDED"),
        "{o}"
    );
    let j = journal(&jpath);
    let undrained = phase_events(&j, "phase_done", "g01", "undrain");
    assert_eq!(undrained.len(), 1, "{j:?}");
    assert!(
        undrained[0].to_string().contains("usr-local/bin/openclaw"),
        "the undrain command found the CLI on the login PATH: {}",
        undrained[0]
    );
    let channel_opens = g01.calls().iter().filter(|c| *c == "--version").count();
    let logins = lines(&count);
    eprintln!("resumed: {logins} login shell(s), {channel_opens} poll channel open(s)");
    assert_eq!(
        logins, 1,
        "{logins} login shells ({channel_opens} poll channel open(s))"
    );
}
