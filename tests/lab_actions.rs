//! Node actions headless against real sshd nodes on loopback (tests/common) and the
//! stand-in OpenClaw CLI: drain and undrain (the flag, and a lock left by this host's
//! dead rollout released after it is shown), restart (then the verdict), the gateway
//! log once and followed (cleaned, redacted, the token on stdin only, the follow
//! stopped on the node when meshroll goes), `ssh NODE -- CMD`, the operator's own
//! actions (quoted, never spliced), the refusal without `--yes`, and the audit log that
//! `replay --summary` shows.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, NodeSpec};
use rollout_run::{Opts, bin, meshroll_cmd_with, text};
use serde_json::Value;

fn lab() -> (Lab, PathBuf) {
    let lab = Lab::start(&[NodeSpec::new("n1", "worker"), NodeSpec::new("n2", "worker")]);
    lab.all_ready();
    let inv = lab.write_inventory_ini();
    (lab, inv)
}

/// meshroll on the lab with a config folder of the lab's own (`XDG_CONFIG_HOME`) and
/// `token` as the gateway token; stdin empty.
fn command(lab: &Lab, inv: &Path, args: &[&str], token: Option<&str>) -> Command {
    let cfg = lab.dir.join("config");
    let env = [("XDG_CONFIG_HOME", cfg.to_str().unwrap())];
    let opts = Opts {
        token,
        env: &env,
        ..Opts::default()
    };
    let mut c = meshroll_cmd_with(lab, inv, args, &opts);
    c.stdin(Stdio::null());
    c
}

fn meshroll(lab: &Lab, inv: &Path, args: &[&str]) -> Output {
    command(lab, inv, args, None)
        .output()
        .expect("run meshroll")
}

fn journal(lab: &Lab) -> String {
    lab.dir.join("j.jsonl").display().to_string()
}

fn audit(lab: &Lab) -> Vec<Value> {
    fs::read_to_string(lab.dir.join("meshroll-audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn drain_and_undrain_change_the_flag_are_audited_and_replayed() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let out = meshroll(
        &lab,
        &inv,
        &["drain", "--node", "n1", "--yes", "--journal", &j],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("n1: drain ok: drain flag set"),
        "{}",
        text(&out)
    );
    assert!(lab.node("n1").is_drained());
    assert!(!lab.node("n2").is_drained());

    lab.node("n2").set_drain(true);
    let out = meshroll(
        &lab,
        &inv,
        &["undrain", "--class", "worker", "--yes", "--journal", &j],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!lab.node("n1").is_drained() && !lab.node("n2").is_drained());

    let a = audit(&lab);
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(a[0]["action"], "drain");
    assert_eq!(a[0]["node"], "n1");
    assert_eq!(a[0]["exit"], 0);
    assert!(a[0]["command"].as_str().unwrap().ends_with("/drain"));
    assert!(a[0]["who"].as_str().unwrap().contains("/pid"));
    assert!(a[0]["duration_ms"].is_u64());
    let mode = fs::metadata(lab.dir.join("meshroll-audit.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The timeline: both actions in time order (no rollout ran yet).
    let out = meshroll(&lab, &inv, &["replay", &j, "--summary"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = text(&out);
    let drain = s
        .find("action drain on n1")
        .unwrap_or_else(|| panic!("{s}"));
    let undrain = s
        .find("action undrain on n")
        .unwrap_or_else(|| panic!("{s}"));
    assert!(drain < undrain, "{s}");
}

#[test]
fn without_yes_and_without_a_terminal_a_drain_is_refused() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let out = meshroll(
        &lab,
        &inv,
        &["drain", "--node", "n1", "--node", "n2", "--journal", &j],
    );
    assert!(!out.status.success());
    let s = text(&out);
    assert!(
        s.contains("drain 2 nodes: n1, n2? refused") && s.contains("--yes"),
        "{s}"
    );
    assert!(!lab.node("n1").is_drained());
    assert!(audit(&lab).is_empty());
}

/// Plant a node lock as a rollout leaves it.
fn plant_lock(lab: &Lab, node: &str, owner: &str) -> PathBuf {
    let l = lab.node(node).state_dir().join("meshroll.lock");
    fs::create_dir_all(&l).unwrap();
    fs::write(l.join("owner"), format!("{owner} 1700000000\n")).unwrap();
    fs::write(l.join("heartbeat"), "1700000030\n").unwrap();
    l
}

#[test]
fn undrain_releases_a_lock_of_this_hosts_dead_rollout_after_showing_it_and_keeps_others() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let host = meshroll::cmd::rollout::hostname().unwrap();
    // A pid no process has (above Linux's pid_max).
    let dead = plant_lock(&lab, "n1", &format!("r-dead ops@{host}/pid1999999999"));
    let other = plant_lock(&lab, "n2", "r-other ops@elsewhere/pid42");
    lab.node("n1").set_drain(true);
    lab.node("n2").set_drain(true);
    let out = meshroll(
        &lab,
        &inv,
        &[
            "undrain",
            "--node",
            "n1",
            "--node",
            "n2",
            "--yes",
            "--journal",
            &j,
        ],
    );
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(
        s.contains("n1: lock left by this host's dead rollout: owner ops, host")
            && s.contains("rollout r-dead"),
        "{s}"
    );
    assert!(
        s.contains("n1: undrain ok: drain flag cleared, dead rollout's lock released"),
        "{s}"
    );
    assert!(!dead.exists(), "the dead rollout's lock is gone");
    assert!(
        s.contains("n2: lock held: owner ops, host elsewhere") && s.contains("left in place"),
        "{s}"
    );
    assert!(other.exists(), "another host's lock stays");
    assert!(!lab.node("n1").is_drained() && !lab.node("n2").is_drained());
}

#[test]
fn restart_runs_the_cli_then_polls_and_a_failure_names_the_node() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let n1 = lab.node("n1");
    n1.set_mode("unreachable");
    fs::write(n1.standin_dir().join("after_restart"), "ready\n").unwrap();
    lab.node("n2").standin_dir();
    fs::write(lab.node("n2").standin_dir().join("restart"), "fail\n").unwrap();
    let out = meshroll(
        &lab,
        &inv,
        &["restart", "--class", "worker", "--yes", "--journal", &j],
    );
    let s = text(&out);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(s.contains("n1: restart ok: Restarted LaunchAgent"), "{s}");
    assert!(
        s.contains("n1: now healthy"),
        "the verdict after the restart: {s}"
    );
    assert!(s.contains("n2: restart FAILED: exited 1"), "{s}");
    assert!(s.contains("restart failed on 1 of 2 node(s): n2"), "{s}");
    assert!(n1.calls().iter().any(|c| c == "gateway restart"));
    let a = audit(&lab);
    let n2 = a.iter().find(|r| r["node"] == "n2").unwrap();
    assert_eq!(n2["exit"], 1);
    assert_eq!(n2["ok"], false);
}

#[test]
fn logs_are_plain_cleaned_redacted_and_the_token_goes_on_stdin_only() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let n1 = lab.node("n1");
    fs::write(
        n1.standin_dir().join("gateway.log"),
        "old line\nline two\nevil \x1b]0;pwned\x07 title\nlast line\n",
    )
    .unwrap();
    fs::write(n1.standin_dir().join("log_token"), "").unwrap();
    let out = command(
        &lab,
        &inv,
        &["logs", "--node", "n1", "--lines", "3", "--journal", &j],
        Some("tok-s3cret-123"),
    )
    .output()
    .unwrap();
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(!s.contains("old line"), "--lines 3: {s}");
    assert!(s.contains("line two") && s.contains("last line"), "{s}");
    assert!(
        !s.contains('\x1b') && !s.contains('\x07'),
        "escapes are shown escaped: {s:?}"
    );
    assert!(
        s.contains("gateway: connected with token"),
        "the CLI got a token: {s}"
    );
    assert!(!s.contains("tok-s3cret-123"), "the token is redacted: {s}");
    let calls = n1.calls();
    assert!(
        calls.iter().any(|c| c == "logs --plain --limit 3"),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("tok-s3cret")),
        "never on a command line"
    );
}

/// Processes of `node`'s stand-in CLI following its log (the stand-in's shell, its
/// `tail -f` and the pipe after it): every process whose command line names the node's
/// log or its CLI with `--follow`.
fn live_standin_pids(lab: &Lab, node: &str) -> Vec<u32> {
    let n = lab.node(node);
    let log = n.standin_dir().join("gateway.log").display().to_string();
    let cli = n.openclaw().display().to_string();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&log) || (cmd.contains(&cli) && cmd.contains("--follow")) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_followed_log_streams_new_lines_and_stops_on_the_node_when_meshroll_goes() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let log = lab.node("n1").standin_dir().join("gateway.log");
    fs::write(&log, "before\n").unwrap();
    let mut child = command(
        &lab,
        &inv,
        &[
            "logs",
            "--node",
            "n1",
            "--follow",
            "--lines",
            "1",
            "--journal",
            &j,
        ],
        None,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "before");
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"appended \x1b[31mred\n"))
        .unwrap();
    let next = lines.next().unwrap().unwrap();
    assert!(
        next.starts_with("appended ") && next.contains("red") && !next.contains('\x1b'),
        "{next:?}"
    );
    assert!(
        !live_standin_pids(&lab, "n1").is_empty(),
        "the CLI follows on the node"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The node's script finds the channel gone at its next keep-alive and stops the CLI.
    let t = Instant::now();
    while !live_standin_pids(&lab, "n1").is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the followed CLI still runs on the node"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ssh_runs_a_command_over_the_master_with_its_words_quoted_and_its_exit_code() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let out = meshroll(
        &lab,
        &inv,
        &[
            "ssh",
            "n1",
            "--journal",
            &j,
            "--",
            "printf",
            "%s|",
            "a b",
            "$(echo no)",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|$(echo no)|");
    let out = meshroll(
        &lab,
        &inv,
        &["ssh", "n2", "--journal", &j, "--", "sh", "-c", "exit 7"],
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let a = audit(&lab);
    assert_eq!(a.len(), 2);
    assert_eq!(a[1]["action"], "ssh");
    assert_eq!(a[1]["exit"], 7);
    assert!(
        a[1]["command"]
            .as_str()
            .unwrap()
            .contains("-- sh -c 'exit 7'"),
        "{a:?}"
    );
}

#[test]
fn your_own_actions_run_on_the_node_quoted_and_locally_and_a_mistake_names_the_line() {
    let (lab, inv) = lab();
    let j = journal(&lab);
    let local_out = lab.dir.join("local-out");
    fs::write(
        lab.dir.join("meshroll-actions.toml"),
        format!(
            r#"# the team's actions
[actions.mark]
key = "Z"
description = "leave a mark"
command = ["touch", "{{state_dir}}/marked by {{node}}", "{{state_dir}}/$(touch pwned)"]

[actions.here]
key = "Ctrl-z"
command = ["sh", "-c", "echo \"$1 in $2\" >> \"$3\"", "sh", "{{node}}", "{{class}}", "{}"]
runs = "local"
confirm = false
"#,
            local_out.display()
        ),
    )
    .unwrap();
    let out = meshroll(
        &lab,
        &inv,
        &["action", "mark", "--node", "n1", "--yes", "--journal", &j],
    );
    assert!(out.status.success(), "{}", text(&out));
    let sd = lab.node("n1").state_dir();
    assert!(sd.join("marked by n1").exists(), "one word with its space");
    assert!(
        sd.join("$(touch pwned)").exists(),
        "the word as written, not run"
    );
    assert!(!sd.join("pwned").exists() && !lab.node("n1").root.join("pwned").exists());

    let out = meshroll(
        &lab,
        &inv,
        &["action", "here", "--class", "worker", "--journal", &j],
    );
    assert!(
        out.status.success(),
        "confirm = false needs no --yes: {}",
        text(&out)
    );
    let got = fs::read_to_string(&local_out).unwrap();
    let mut got: Vec<&str> = got.lines().collect();
    got.sort();
    assert_eq!(got, ["n1 in worker", "n2 in worker"]);
    let a = audit(&lab);
    assert_eq!(a.iter().filter(|r| r["action"] == "here").count(), 2);
    assert!(a.iter().any(|r| r["action"] == "mark" && r["exit"] == 0));

    let out = meshroll(
        &lab,
        &inv,
        &["action", "nope", "--node", "n1", "--journal", &j],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("no action \"nope\""), "{}", text(&out));

    fs::write(
        lab.dir.join("meshroll-actions.toml"),
        "[actions.bad]\nkey = \"Z\"\ncommand = [\"echo\", \"{host}\", \"{hots}\"]\n",
    )
    .unwrap();
    let out = meshroll(
        &lab,
        &inv,
        &["action", "bad", "--node", "n1", "--journal", &j],
    );
    let s = text(&out);
    assert!(!out.status.success());
    assert!(
        s.contains("meshroll-actions.toml:3:") && s.contains("{hots}"),
        "{s}"
    );
}

/// The dashboard in tmux on the lab: `f` follows n1's gateway log in a pane (a line
/// appended on the node shows up; Esc closes the pane and the CLI stops on the node),
/// then `e` opens a shell on n1 over its master (the alternate screen left), and its
/// `exit` brings back the same view. Both are in the audit log.
#[test]
fn dashboard_follows_a_log_in_a_pane_and_opens_a_shell_that_comes_back() {
    use common::tmux::Tmux;
    let (lab, inv) = lab();
    let j = journal(&lab);
    let log = lab.node("n1").standin_dir().join("gateway.log");
    fs::write(&log, "first line\n").unwrap();
    let bin = bin().get_program().to_string_lossy().into_owned();
    let cmd = format!(
        "env -u OPENCLAW_GATEWAY_TOKEN XDG_CONFIG_HOME={cfg} {bin} -i {inv} --ssh-config {ssh} \
         --log-dir {logs} --journal {j}; echo MESHROLL-EXITED=$?; sleep 60",
        cfg = lab.dir.join("config").display(),
        inv = inv.display(),
        ssh = lab.ssh_config.display(),
        logs = lab.dir.join("log").display(),
    );
    let t = Tmux::start("actions", &cmd, 120, 36);
    t.wait_for("both nodes healthy", |s| {
        s.contains("✔ 2 healthy") && s.matches("✔ healthy").count() >= 2
    });

    // Follow n1's log: a pane in the node view.
    t.keys(&["f"]);
    t.wait_for("the followed log in its pane", |s| {
        s.contains("follow n1") && s.contains("first line")
    });
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"appended on the node\n"))
        .unwrap();
    t.wait_for("the appended line", |s| s.contains("appended on the node"));
    assert!(!live_standin_pids(&lab, "n1").is_empty());
    t.keys(&["Escape"]);
    t.wait_for("the pane to close", |s| {
        !s.contains("follow n1") && s.contains(" node ")
    });
    let start = Instant::now();
    while !live_standin_pids(&lab, "n1").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the followed CLI still runs on the node"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A shell from the node view; exit comes back to the node view.
    t.keys(&["e"]);
    t.wait_for("the shell outside the dashboard", |s| {
        s.contains("a shell on n1") && !s.contains(" node ")
    });
    assert!(!t.alternate_on(), "the dashboard left the alternate screen");
    t.keys(&["echo SHELL-ON-NODE-$((6*7))", "Enter"]);
    t.wait_for("the shell's answer", |s| s.contains("SHELL-ON-NODE-42"));
    t.keys(&["exit", "Enter"]);
    let back = t.wait_for("the same view again", |s| {
        s.contains(" node ") && s.contains("shell on n1: exit 0")
    });
    assert!(t.alternate_on(), "{back}");
    // The keys work again after the shell.
    t.keys(&["Escape"]);
    t.wait_for("the fleet", |s| s.contains("REASON"));
    t.keys(&["q"]);
    let end = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(end.contains("MESHROLL-EXITED=0"), "{end}");

    let a = audit(&lab);
    let follow = a.iter().find(|r| r["action"] == "follow").unwrap();
    assert_eq!(follow["node"], "n1");
    assert!(
        follow["command"]
            .as_str()
            .unwrap()
            .contains("logs --plain --limit 20 --follow")
    );
    let shell = a.iter().find(|r| r["action"] == "shell").unwrap();
    assert_eq!(shell["exit"], 0);
}
