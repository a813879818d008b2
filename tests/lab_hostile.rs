//! Hostile nodes against the operator's side (issue 7, SECURITY.md), with real sshd
//! nodes on loopback (tests/common):
//!
//! - a node that hands the gateway token back as non-JSON output, inside a
//!   `{"fatal":...}` envelope, or as JSON `\u00XX` escapes inside a field: the token is
//!   in none of the status table, `status --json` and the log;
//! - a node that prints terminal escapes, bidi overrides and a 100 kB version: the
//!   headless output (status table, rollout progress lines with prewarm's last line) has
//!   no control character and is capped;
//! - the token is in the environment of no child (the ssh master, git, rsync, ssh run
//!   by rsync);
//! - the log and journal files are 0600, a log directory meshroll creates is 0700.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Lab, LabNode, NodeSpec};
use rollout_run::{Opts, Skills, meshroll_cmd_with, meshroll_with, text};
use serde_json::Value;

const TOKEN: &str = "tok-S3CRET-0123456789abcdef";
const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn healthy(n: &LabNode) {
    n.serve(A);
    n.set_mode("ready");
}

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Make `n` answer every ssh session with `body` (a POSIX sh script that gets the poll
/// script on stdin; `$tok` holds the token found in it), as a node under someone else's
/// control may: sshd's `ForceCommand`, then a restart of its sshd. It reads the script
/// up to the token's line, not to its end: meshroll's poll channel keeps stdin open
/// (a node that waits for the end of stdin only hangs, which `lab_reconnect` covers).
fn force_command(n: &LabNode, body: &str) {
    let script = n.root.join("hostile.sh");
    write_exec(
        &script,
        &format!(
            "#!/bin/sh\ntok=\n\
             while IFS= read -r l; do case $l in \"OPENCLAW_GATEWAY_TOKEN='\"*) \
             tok=${{l#OPENCLAW_GATEWAY_TOKEN=\\'}}; tok=${{tok%\\'}}; break;; esac; done\n\
             {body}\n"
        ),
    );
    let cfg = n.root.join("ssh/sshd_config");
    let mut text = fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("ForceCommand {}\n", script.display()));
    fs::write(&cfg, text).unwrap();
    n.stop_sshd();
    n.start_sshd();
}

/// Replace the node's OpenClaw CLI with `body` (a POSIX sh script).
fn hostile_cli(n: &LabNode, body: &str) {
    write_exec(&n.openclaw(), &format!("#!/bin/sh\n{body}\n"));
}

/// meshroll logging to `log_dir`, with the gateway token in its environment and `env`
/// besides.
fn token_opts<'a>(log_dir: &'a Path, env: &'a [(&'a str, &'a str)]) -> Opts<'a> {
    Opts {
        log_dir: Some(log_dir),
        token: Some(TOKEN),
        env,
        stdin: None,
    }
}

fn meshroll(lab: &Lab, inv: &Path, log_dir: &Path, args: &[&str]) -> Output {
    meshroll_with(lab, inv, args, &token_opts(log_dir, &[]))
}

fn read_dir_text(dir: &Path) -> String {
    let mut s = String::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        s.push_str(&String::from_utf8_lossy(&fs::read(e.path()).unwrap()));
    }
    s
}

/// Every string inside a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out);
        }),
        _ => {}
    }
}

#[track_caller]
fn no_controls(what: &str, text: &str) {
    if let Some(c) = text
        .chars()
        .find(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
    {
        panic!("{what} carries the control {c:?}:\n{text}");
    }
}

/// The token as JSON `\u00XX` escapes, as a hostile CLI prints it.
const ESCAPED_TOKEN_CLI: &str = r#"esc=$(printf %s "$OPENCLAW_GATEWAY_TOKEN" | od -An -v -tx1 | tr -d ' \n' | sed 's/\(..\)/\\u00\1/g')
printf '{"rpc":{"ok":false,"error":"handshake failed for %s","connectFailure":{"kind":"other"}}}\n' "$esc""#;

/// Terminal escapes (OSC retitle, SGR red), a bidi override and a 100 kB version.
const TERMINAL_CLI: &str = r#"big=$(head -c 100000 /dev/zero | tr '\0' v)
printf '{"rpc":{"ok":false,"error":"\\u001b]0;pwned\\u0007\\u001b[31mred\\u202eevil","connectFailure":{"kind":"other"},"server":{"version":"%s","buildId":"b\\u001b[31m"}},"cli":{"version":"%s"}}\n' "$big" "$big""#;

#[test]
fn a_hostile_node_cannot_leak_the_token_or_inject_escapes() {
    let specs = vec![
        NodeSpec::new("ok01", "worker"),
        NodeSpec::new("notjson", "worker"),
        NodeSpec::new("fatal", "worker"),
        NodeSpec::new("escaped", "worker"),
        NodeSpec::new("term", "worker"),
    ];
    let lab = Lab::start(&specs);
    for n in &lab.nodes {
        healthy(n);
    }
    force_command(
        lab.node("notjson"),
        "printf 'sh: warning: token %s in use\\n\\033]0;pwned\\007' \"$tok\"",
    );
    force_command(
        lab.node("fatal"),
        "printf '{\"v\":1,\"fatal\":\"cannot use token %s\\\\n1999-01-01T00:00:00Z  INFO forged\"}\\n' \"$tok\"",
    );
    hostile_cli(lab.node("escaped"), ESCAPED_TOKEN_CLI);
    hostile_cli(lab.node("term"), TERMINAL_CLI);
    let inv = lab.write_inventory_ini();
    let logs = lab.dir.join("logs");

    // The table fitted to 80 columns (stdout is piped) and in full (`--wide`).
    let fitted = meshroll(&lab, &inv, &logs, &["--timeout", "8", "status"]);
    let table = meshroll(&lab, &inv, &logs, &["--timeout", "8", "status", "--wide"]);
    let json = meshroll(&lab, &inv, &logs, &["--timeout", "8", "status", "--json"]);
    let fitted_out = String::from_utf8_lossy(&fitted.stdout).into_owned();
    let table_out = String::from_utf8_lossy(&table.stdout).into_owned();
    let json_out = String::from_utf8_lossy(&json.stdout).into_owned();
    eprintln!("{table_out}");
    // Hostile nodes are dead, not a crash: status exits 1 (a dead node), never 2.
    assert_eq!(table.status.code(), Some(1), "{table:?}");
    assert_eq!(fitted.status.code(), Some(1), "{fitted:?}");
    assert_eq!(json.status.code(), Some(1), "{json:?}");
    let rows: Vec<Value> = serde_json::from_str(&json_out).unwrap();
    let row = |name: &str| rows.iter().find(|r| r["node"] == name).unwrap().clone();

    // The hostile nodes are named as failed, with what they printed (redacted).
    assert_eq!(row("ok01")["verdict"], "healthy", "{json_out}");
    for name in ["notjson", "fatal", "escaped", "term"] {
        assert_eq!(row(name)["verdict"], "dead", "{name}: {json_out}");
    }
    let err = |name: &str| row(name)["error"].as_str().unwrap_or("").to_string();
    assert!(
        err("notjson").contains("no JSON object"),
        "{}",
        err("notjson")
    );
    assert!(err("notjson").contains("[redacted]"), "{}", err("notjson"));
    assert!(
        err("fatal").contains("cannot use token [redacted]"),
        "{}",
        err("fatal")
    );
    assert!(
        row("escaped")["gateway"]["error"]
            .as_str()
            .unwrap()
            .contains("handshake failed for [redacted]"),
        "{json_out}"
    );

    // The token is nowhere: table, JSON (decoded, every string), stderr, the log.
    let mut all = Vec::new();
    strings(&Value::Array(rows.clone()), &mut all);
    for s in &all {
        assert!(!s.contains(TOKEN), "status --json carries the token: {s}");
    }
    assert!(!table_out.contains(TOKEN), "the table carries the token");
    assert!(
        !fitted_out.contains(TOKEN),
        "the fitted table carries the token"
    );
    assert!(!json_out.contains(TOKEN));
    for o in [&table, &json] {
        assert!(!String::from_utf8_lossy(&o.stderr).contains(TOKEN));
    }
    let log = read_dir_text(&logs);
    assert!(
        log.contains("poll failed"),
        "the log has the failures: {log}"
    );
    assert!(!log.contains(TOKEN), "the log carries the token:\n{log}");

    // No terminal control in the table, the decoded JSON strings or the log; long
    // fields capped with an ellipsis.
    no_controls("the status table", &table_out);
    no_controls("the fitted status table", &fitted_out);
    for s in &all {
        no_controls("a status --json string", s);
    }
    no_controls("the log", &log);
    assert!(
        !log.lines().any(|l| l.starts_with("1999-01-01")),
        "a node forged a log line:\n{log}"
    );
    assert!(
        log.contains("INFO forged"),
        "the fatal message is logged: {log}"
    );
    let term = row("term");
    let version = term["gateway"]["daemon_version"].as_str().unwrap();
    assert!(
        version.chars().count() <= 129 && version.ends_with('…'),
        "a 100 kB version is capped: {} chars",
        version.chars().count()
    );
    assert!(
        term["gateway"]["error"]
            .as_str()
            .unwrap()
            .contains("\\e]0;pwned\\x07\\e[31mred\\u{202e}evil"),
        "escapes are shown escaped: {term:#}"
    );
    assert!(
        table_out.lines().all(|l| l.chars().count() < 2000),
        "table lines are capped"
    );
    assert!(table_out.contains("\\e]0;pwned"), "{table_out}");
}

// ---------------------------------------------------------------------------------------
// rollouts

/// A small skills tree committed in a fresh repository.
fn skills() -> Skills {
    Skills::commit(
        &[
            ("README.md", b"skills\n"),
            ("weather/SKILL.md", b"# weather\n"),
        ],
        "one",
    )
}

/// The lab's inventory with a prewarm command on every node.
fn inventory_with_prewarm(lab: &Lab, prewarm: &str) -> PathBuf {
    lab.write_inventory_with("inv-prewarm.ini", |_| {
        format!("meshroll_prewarm_cmd=\"{prewarm}\"")
    })
}

#[test]
fn rollout_lines_carry_no_escape_and_are_capped() {
    let lab = Lab::start(&[NodeSpec::new("p01", "worker")]);
    let n = lab.node("p01");
    n.set_mode("ready");
    // The first prewarm fails with escapes, a bidi override and a 100 kB last line (the
    // progress line names it); the retry succeeds.
    let prewarm = n.root.join("prewarm.sh");
    let marker = n.root.join("prewarm.once");
    write_exec(
        &prewarm,
        &format!(
            "#!/bin/sh\nif [ -e {m} ]; then echo warmed; exit 0; fi\n: >{m}\n\
             printf 'warming\\n\\033]0;pwned\\007\\033[31mred\\342\\200\\256evil '\n\
             head -c 100000 /dev/zero | tr '\\0' v\necho\nexit 1\n",
            m = marker.display()
        ),
    );
    let inv = inventory_with_prewarm(&lab, &format!("sh {}", prewarm.display()));
    let skills = skills();
    let src = &skills.dir;
    let journal = lab.dir.join("journal.jsonl");
    let logs = lab.dir.join("logs");
    let out = meshroll(
        &lab,
        &inv,
        &logs,
        &[
            "rollout",
            "--skills",
            src.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--yes",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{}", text.chars().take(20_000).collect::<String>());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(marker.exists(), "the hostile prewarm ran");
    assert!(
        text.contains("prewarm exited 1") && text.contains("\\e]0;pwned"),
        "the failed prewarm is reported, escaped: {text}"
    );
    no_controls("rollout output", &text);
    for l in text.lines() {
        assert!(
            l.chars().count() <= 1100,
            "a rollout line of {} chars",
            l.chars().count()
        );
    }
    // The journal holds the same record, cleaned, and is the operator's alone.
    let j = fs::read_to_string(&journal).unwrap();
    assert!(j.contains("prewarm exited 1"), "{j}");
    for line in j.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let mut all = Vec::new();
        strings(&v, &mut all);
        for s in &all {
            no_controls("a journal string", s);
            assert!(s.chars().count() <= 4097, "a journal string is capped");
        }
    }
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&journal), 0o600, "journal mode");
    assert_eq!(mode(&logs), 0o700, "log directory mode");
    for e in fs::read_dir(&logs).unwrap().flatten() {
        assert_eq!(mode(&e.path()), 0o600, "log file {}", e.path().display());
    }
}

/// Processes whose command line contains `needle`.
fn pids_with_cmdline(needle: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(c) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let c = String::from_utf8_lossy(&c).replace('\0', " ");
        if c.contains(needle) {
            out.push((pid, c));
        }
    }
    out
}

#[test]
fn no_child_inherits_the_token() {
    let lab = Lab::start(&[NodeSpec::new("e01", "worker")]);
    let n = lab.node("e01");
    healthy(n);
    n.set_mode("echo-token");
    let inv = lab.write_inventory_ini();
    let logs = lab.dir.join("logs");

    // 1. The ssh master of a running meshroll, read from /proc while it lives.
    let mut child = meshroll_cmd_with(
        &lab,
        &inv,
        &[
            "--poll-interval",
            "1",
            "status",
            "--watch",
            "--json",
            "--count",
            "600",
        ],
        &token_opts(&logs, &[]),
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let needle = lab.ssh_config.to_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let masters = loop {
        let m: Vec<_> = pids_with_cmdline(&needle)
            .into_iter()
            .filter(|(_, c)| c.starts_with("ssh ") && c.contains(" -M"))
            .collect();
        if !m.is_empty() || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let envs: Vec<(u32, Vec<u8>)> = masters
        .iter()
        .map(|(p, _)| {
            (
                *p,
                fs::read(format!("/proc/{p}/environ")).unwrap_or_default(),
            )
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!masters.is_empty(), "no ssh master of meshroll found");
    let has_token = |env: &[u8]| {
        env.split(|b| *b == 0)
            .any(|kv| String::from_utf8_lossy(kv).contains(TOKEN))
    };
    // (meshroll's own /proc/<pid>/environ is the block it was started with and keeps
    // the token whatever it does; what matters is that no child gets it.)
    for (p, env) in &envs {
        assert!(!env.is_empty(), "environ of the ssh master {p} read");
        assert!(!has_token(env), "the ssh master {p} inherited the token");
    }

    // 2. Every program a rollout starts (git, ssh, rsync, the ssh rsync runs): shims
    // first in PATH record their environment, then exec the real program.
    let shims = lab.dir.join("shims");
    let envs_dir = lab.dir.join("envs");
    fs::create_dir_all(&shims).unwrap();
    fs::create_dir_all(&envs_dir).unwrap();
    for prog in ["ssh", "git", "rsync"] {
        let real = Command::new("sh")
            .args(["-c", &format!("command -v {prog}")])
            .output()
            .unwrap();
        let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
        assert!(!real.is_empty(), "{prog} is installed");
        write_exec(
            &shims.join(prog),
            &format!(
                "#!/bin/sh\nenv >{d}/{prog}.$$.env\nexec {real} \"$@\"\n",
                d = envs_dir.display()
            ),
        );
    }
    n.set_mode("ready");
    let skills = skills();
    let src = &skills.dir;
    let inv = inventory_with_prewarm(&lab, "echo warmed");
    let path = format!(
        "{}:{}",
        shims.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let journal = lab.dir.join("journal.jsonl");
    let env = [("PATH", path.as_str())];
    let out = meshroll_with(
        &lab,
        &inv,
        &[
            "rollout",
            "--skills",
            src.to_str().unwrap(),
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
        ],
        &token_opts(&logs, &env),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut seen = std::collections::BTreeSet::new();
    for e in fs::read_dir(&envs_dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        seen.insert(name.split('.').next().unwrap_or("").to_string());
        let env = fs::read_to_string(e.path()).unwrap();
        assert!(
            !env.contains(TOKEN) && !env.contains("OPENCLAW_GATEWAY_TOKEN"),
            "{name} inherited the token"
        );
    }
    for prog in ["ssh", "git", "rsync"] {
        assert!(
            seen.contains(prog),
            "{prog} was run by the rollout: {seen:?}"
        );
    }
}

#[test]
fn rollback_notes_and_node_errors_carry_no_escape() {
    let lab = Lab::start(&[
        NodeSpec::new("r01", "worker"),
        NodeSpec::new("r02", "worker"),
    ]);
    let evil = "x\u{1b}]0;pwned\u{7}\u{1b}[31m\u{202e}y";
    for n in &lab.nodes {
        healthy(n);
    }
    // r01: `previous` names a real directory with escapes in its name (the rollback
    // note prints it); r02: one that is gone (the MESHROLL-ERR message prints it).
    let r01 = lab.node("r01");
    fs::create_dir_all(r01.skills_root().join(evil)).unwrap();
    std::os::unix::fs::symlink(evil, r01.skills_root().join("previous")).unwrap();
    let r02 = lab.node("r02");
    std::os::unix::fs::symlink(evil, r02.skills_root().join("previous")).unwrap();
    let inv = lab.write_inventory_ini();
    let logs = lab.dir.join("logs");
    let out = meshroll(
        &lab,
        &inv,
        &logs,
        &["rollback", "--node", "r01", "--node", "r02", "--yes"],
    );
    let text = text(&out);
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(1), "r02 fails: {text}");
    no_controls("rollback output", &text);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}: {text}"))
            .to_string()
    };
    assert!(
        line("r01").contains("rolled back") && line("r01").contains("x\\e]0;pwned\\x07"),
        "{text}"
    );
    assert!(
        line("r02").contains("rollback failed") && line("r02").contains("x\\e]0;pwned\\x07"),
        "{text}"
    );
    assert_eq!(
        fs::read_link(r01.skills_root().join("current")).unwrap(),
        Path::new(evil),
        "r01 was rolled back"
    );
}
