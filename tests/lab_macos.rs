//! meshroll against a macOS-shaped lab node (tests/common/macos.rs: Apple-like `stat`,
//! `mv`, `df`, `wc`, stock `rsync`, no `sha256sum`/`timeout`, dash as `sh`, zsh login
//! shell), each compared with a plain node in the same lab.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::macos::RsyncFlavor;
use common::{Lab, LabNode, NodeSpec};
use rollout_run::{Skills, events, journal, manifest_ids, rollout_args, text};
use serde_json::Value;

/// Run `cmd` on `node` through ssh (the node's login shell): (exit code, stdout, stderr).
fn sh(lab: &Lab, node: &str, cmd: &str) -> (i32, String, String) {
    let o = lab.ssh(node, cmd);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// The harness itself: the macOS-shaped node has the Apple-like tools and the plain node
/// beside it does not (the mounts are inside the mac node's namespace only).
#[test]
fn macos_node_has_apple_tools_and_the_plain_node_does_not() {
    let lab = Lab::start(&[
        NodeSpec::macos("mac", "worker", RsyncFlavor::Apple269),
        NodeSpec::macos("mac2", "worker", RsyncFlavor::Openrsync),
        NodeSpec::new("lin", "worker"),
    ]);
    let (rc, _, err) = sh(&lab, "mac", "stat -c %Y /");
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("stat: illegal option -- c"), "{err}");
    let (rc, out, err) = sh(&lab, "lin", "stat -c %Y /");
    assert_eq!(rc, 0, "plain node: {err}");
    assert!(out.trim().parse::<u64>().is_ok(), "{out}");

    let (rc, out, err) = sh(
        &lab,
        "mac",
        "f=/tmp/mlmac.$$; printf 'hello' >$f; chmod 640 $f; stat -f '%z %Lp %N' $f; rm -f $f",
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out.starts_with("5 640 /tmp/mlmac."), "{out}");

    let (rc, _, err) = sh(&lab, "mac", "mv -T /nonexistent-a /nonexistent-b");
    assert_eq!(rc, 64, "{err}");
    assert!(err.contains("mv: illegal option -- T"), "{err}");
    let (rc, out, err) = sh(
        &lab,
        "mac",
        "d=$(mktemp -d); mkdir $d/a $d/b; ln -s a $d/cur; ln -s b $d/new; mv -h $d/new $d/cur && readlink $d/cur; rm -rf $d",
    );
    assert_eq!((rc, out.trim()), (0, "b"), "{err}");

    let (_, out, _) = sh(&lab, "mac", "printf hello | wc -c");
    assert_eq!(out, "       5\n");
    let (_, out, _) = sh(&lab, "lin", "printf hello | wc -c");
    assert_eq!(out, "5\n");

    let (rc, out, err) = sh(&lab, "mac", "df /; df -Pk /");
    assert_eq!(rc, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("512-blocks")
            && lines[0].contains("iused")
            && lines[0].contains("%iused"),
        "{out}"
    );
    assert!(
        lines[2].contains("1024-blocks") && !lines[2].contains("iused"),
        "{out}"
    );

    for absent in ["sha256sum", "timeout"] {
        let (rc, _, _) = sh(&lab, "mac", &format!("command -v {absent}"));
        assert_ne!(rc, 0, "{absent} must be absent on the mac node");
        let (rc, _, _) = sh(&lab, "lin", &format!("command -v {absent}"));
        assert_eq!(rc, 0, "{absent} is on the plain node");
    }

    // sh is strict POSIX: no [[ ]]
    let (rc, _, _) = sh(&lab, "mac", "sh -c '[[ 1 ]]'");
    assert_ne!(rc, 0);
    // the login shell is zsh, and openclaw is only on the login PATH (~/.zprofile)
    let (_, out, _) = sh(&lab, "mac", "echo \"zsh=$ZSH_VERSION\"");
    assert!(out.starts_with("zsh=") && out.trim().len() > 4, "{out}");
    let (rc, _, _) = sh(&lab, "mac", "command -v openclaw");
    assert_ne!(rc, 0, "openclaw must not be on the non-login PATH");
    let (rc, out, err) = sh(&lab, "mac", "zsh -lc 'openclaw --version'");
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("2026.9.6"), "{out}");

    // stock rsync: -s refused with each version's own words, --version as it prints it
    let (rc, _, err) = sh(&lab, "mac", "rsync --server -slOogDtprce.iLsfxCIvu . /tmp");
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("rsync: -slOogDtprce.iLsfxCIvu: unknown option"),
        "{err}"
    );
    let (rc, _, err) = sh(&lab, "mac2", "rsync --server -slOogDtprce.iLsfxCIvu . /tmp");
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("rsync: illegal option -- s"), "{err}");
    let (_, out, _) = sh(&lab, "mac", "rsync --version");
    assert!(
        out.starts_with("rsync  version 2.6.9  protocol version 29"),
        "{out}"
    );
    let (_, out, _) = sh(&lab, "mac2", "rsync --version");
    assert!(out.starts_with("openrsync: protocol version 29"), "{out}");
    let (_, out, _) = sh(&lab, "lin", "rsync --version");
    assert!(out.starts_with("rsync  version 3."), "{out}");
}

// ---------------------------------------------------------------------------------------
// meshroll against the macOS-shaped node

/// meshroll to its end on the lab (stdin empty).
fn meshroll(lab: &Lab, inv: &Path, args: &[impl AsRef<std::ffi::OsStr>]) -> Output {
    rollout_run::meshroll(lab, inv, args).0
}

/// The lab's inventory with a quick prewarm and `extra(node)` on each host line.
fn inventory(lab: &Lab, file: &str, extra: impl Fn(&LabNode) -> String) -> PathBuf {
    lab.write_inventory_with(file, |n| {
        format!(
            "meshroll_prewarm_cmd=\"echo warming; echo warmed\" {}",
            extra(n)
        )
    })
}

/// A skills tree in a fresh git repository (secrets get 0440, the rest 0640).
fn skills(variant: &str) -> Skills {
    let readme = format!("skills {variant}\n");
    let marker = format!("variant/{variant}.md");
    Skills::commit(
        &[
            ("README.md", readme.as_bytes()),
            ("weather/SKILL.md", b"# weather\n"),
            ("weather/lib/api.key", b"sk-test-0123456789\n"),
            ("mail/templates/deep/a.txt", b"a\n"),
            (&marker, variant.as_bytes()),
        ],
        variant,
    )
}

/// `meshroll manifest DIR`'s SKILLS_SHA.
fn skills_sha(dir: &Path) -> String {
    manifest_ids(dir).0
}

/// How many records of `event` name `node`.
fn count(j: &[Value], event: &str, node: &str) -> usize {
    events(j, event, node).len()
}

/// Every file and folder of node `n`'s bundle `sha`: its relative path and mode.
fn modes(n: &LabNode, sha: &str) -> Vec<(String, u32)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, u32)>) {
        for e in fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            out.push((rel, m.permissions().mode() & 0o7777));
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&n.bundle_dir(sha), &n.bundle_dir(sha), &mut out);
    out.sort();
    out
}

/// The bundle landed on `n` exactly as on the plain node `plain`: same files, modes
/// (0750 folders, 0640 files, 0440 secrets) and bytes; `current` points at it.
fn same_bundle(n: &LabNode, plain: &LabNode, sha: &str) {
    let m = modes(n, sha);
    assert_eq!(m, modes(plain, sha), "{}: files and modes", n.name);
    assert!(
        m.iter()
            .any(|(p, mode)| p == "weather/lib/api.key" && *mode == 0o440),
        "{m:?}"
    );
    assert!(
        m.iter().any(|(p, mode)| p == "README.md" && *mode == 0o640),
        "{m:?}"
    );
    assert!(
        m.iter().any(|(p, mode)| p == "weather" && *mode == 0o750),
        "{m:?}"
    );
    for (p, _) in &m {
        let a = n.bundle_dir(sha).join(p);
        if a.is_file() {
            assert_eq!(
                fs::read(&a).unwrap(),
                fs::read(plain.bundle_dir(sha).join(p)).unwrap(),
                "{p}"
            );
        }
    }
}

/// A rollout and a rollback land on a stock Mac's rsync, 2.6.9 and openrsync, exactly as
/// on a plain node beside them: no `-s` sent, no failed attempt, the checksum verified,
/// the modes kept; `previous` kept; rollback flips back.
#[test]
fn rollout_and_rollback_land_with_stock_rsync_in_both_flavours() {
    let lab = Lab::start(&[
        NodeSpec::new("lin", "worker"),
        NodeSpec::macos("m269", "worker", RsyncFlavor::Apple269),
        NodeSpec::macos("mopen", "worker", RsyncFlavor::Openrsync),
    ]);
    lab.all_ready();
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let (a, b) = (skills("a"), skills("b"));
    let (sha_a, sha_b) = (skills_sha(&a.dir), skills_sha(&b.dir));
    let jpath = lab.dir.join("j.jsonl");
    for src in [&a, &b] {
        let out = meshroll(
            &lab,
            &inv,
            &rollout_args(&src.dir, &jpath, &["--wave", "100%"]),
        );
        let o = text(&out);
        assert_eq!(out.status.code(), Some(0), "{o}");
    }
    let j = journal(&jpath);
    let plain = lab.node("lin");
    for name in ["m269", "mopen"] {
        let n = lab.node(name);
        assert_eq!(count(&j, "phase_failed", name), 0, "{name}: {j:?}");
        assert_eq!(count(&j, "retry_scheduled", name), 0, "{name}");
        assert_eq!(count(&j, "node_landed", name), 2, "{name}");
        same_bundle(n, plain, &sha_a);
        same_bundle(n, plain, &sha_b);
        assert_eq!(n.current().as_deref(), Some(sha_b.as_str()));
        assert_eq!(
            fs::read_link(n.skills_root().join("previous")).unwrap(),
            PathBuf::from(&sha_a)
        );
        assert!(!n.is_drained() && !n.state_dir().join("meshroll.lock").exists());
        // the stock rsync did the copies, without -s
        let calls = n.stock_rsync_calls();
        let server: Vec<&String> = calls.iter().filter(|c| c.starts_with("--server")).collect();
        assert_eq!(server.len(), 2, "{name}: {calls:?}");
        // no `s` in the short options (up to `e`, whose argument the rest is)
        let has_s = |w: &str| {
            w.starts_with('-')
                && !w.starts_with("--")
                && w[1..].split('e').next().is_some_and(|f| f.contains('s'))
        };
        assert!(
            server
                .iter()
                .all(|c| !c.split_whitespace().any(has_s) && !c.contains("secluded")),
            "{calls:?}"
        );
    }
    let out = meshroll(&lab, &inv, &["rollback", "--class", "worker", "--yes"]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    for n in &lab.nodes {
        assert!(
            o.contains(&format!(
                "{} rolled back: current -> {sha_a} (was {sha_b})",
                n.name
            )),
            "{o}"
        );
        assert_eq!(n.current().as_deref(), Some(sha_a.as_str()));
        assert!(!n.state_dir().join("meshroll.lock").exists());
    }
}

/// `meshroll_rsync_path` at nothing: the baseline fails once, naming what it looked for
/// and the remedy; the node is left undrained and unlocked, and nothing was copied.
/// A node whose rsync claims 3.x but refuses `-s` fails its sync once with the node's
/// own words (in the error and the journal), not retried.
#[test]
fn a_node_without_usable_rsync_fails_once_with_the_remedy_and_its_own_words() {
    let lab = Lab::start(&[
        NodeSpec::new("lin", "worker"),
        NodeSpec::macos("nors", "worker", RsyncFlavor::Apple269),
        NodeSpec::macos("liar", "worker", RsyncFlavor::Openrsync),
    ]);
    lab.all_ready();
    // an rsync that answers --version as 3.2.7 but is the stock openrsync underneath
    let liar = lab.node("liar").root.join("bin/rsync-liar");
    fs::write(
        &liar,
        "#!/bin/sh\ncase \"$*\" in *--version*) echo 'rsync  version 3.2.7  protocol version 31'; exit 0 ;; esac\nexec rsync \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&liar, fs::Permissions::from_mode(0o755)).unwrap();
    let inv = inventory(&lab, "inv.ini", |n| match n.name.as_str() {
        "nors" => "meshroll_rsync_path=/nonexistent/rsync".into(),
        "liar" => format!("meshroll_rsync_path={}", liar.display()),
        _ => String::new(),
    });
    let src = skills("a");
    let sha = skills_sha(&src.dir);
    let jpath = lab.dir.join("j.jsonl");
    let started = std::time::Instant::now();
    let out = meshroll(
        &lab,
        &inv,
        &rollout_args(
            &src.dir,
            &jpath,
            &["--wave", "100%", "--failure-budget", "2"],
        ),
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "retried? {o}"
    );
    let j = journal(&jpath);
    let raw = fs::read_to_string(&jpath).unwrap();
    // no rsync at all: the baseline, once, with the remedy; untouched
    assert!(
        o.contains("nors FAILED at baseline: no rsync on the node (looked for /nonexistent/rsync)")
            && o.contains("brew install rsync")
            && o.contains("meshroll_rsync_path"),
        "{o}"
    );
    let nors = lab.node("nors");
    assert_eq!(count(&j, "phase_failed", "nors"), 1, "{o}");
    assert_eq!(count(&j, "retry_scheduled", "nors"), 0, "{o}");
    assert!(!nors.is_drained(), "left drained");
    assert!(
        !nors.state_dir().join("meshroll.lock").exists(),
        "left locked"
    );
    assert!(!nors.bundle_dir(&sha).join("README.md").exists());
    // the refusal of -s at the node's end: its own words, no retry
    assert!(o.contains("liar FAILED at sync"), "{o}");
    assert!(o.contains("rsync: illegal option -- s"), "{o}");
    assert!(
        raw.contains("rsync: illegal option -- s"),
        "not in the journal"
    );
    assert_eq!(count(&j, "phase_failed", "liar"), 1, "{o}");
    assert_eq!(count(&j, "retry_scheduled", "liar"), 0, "{o}");
    // the plain node landed
    assert_eq!(lab.node("lin").current().as_deref(), Some(sha.as_str()));
}

/// A destination an rsync without `-s` would hand to the node's login shell (a space in
/// the skills root): `--check` names it, and the stock-rsync node refuses it at baseline
/// (once, untouched) while a plain node with rsync 3 lands it.
#[test]
fn a_name_the_old_protocol_cannot_carry_is_refused_in_the_plan_and_at_baseline() {
    let lab = Lab::start(&[
        NodeSpec::new("lin", "worker"),
        NodeSpec::macos("mac", "worker", RsyncFlavor::Apple269),
    ]);
    let roots: Vec<PathBuf> = lab.nodes.iter().map(|n| n.root.join("my skills")).collect();
    for r in &roots {
        fs::create_dir_all(r).unwrap();
    }
    let inv = inventory(&lab, "inv.ini", |n| {
        format!(
            "meshroll_skills_root=\"{}\"",
            n.root.join("my skills").display()
        )
    });
    let src = skills("a");
    let sha = skills_sha(&src.dir);
    let out = meshroll(
        &lab,
        &inv,
        &["rollout", "--skills", src.dir.to_str().unwrap(), "--check"],
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("refused on a node without rsync 3"), "{o}");
    assert!(
        o.contains(&format!(
            "mac: \"{}/{sha}/\" (the destination)",
            roots[1].display()
        )),
        "{o}"
    );
    let jpath = lab.dir.join("j.jsonl");
    let out = meshroll(
        &lab,
        &inv,
        &rollout_args(
            &src.dir,
            &jpath,
            &["--wave", "100%", "--failure-budget", "1"],
        ),
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("mac FAILED at baseline: refused: the node's rsync 2.6.9 (protocol 29) at rsync has no -s"),
        "{o}"
    );
    let j = journal(&jpath);
    assert_eq!(count(&j, "phase_failed", "mac"), 1, "{o}");
    let mac = lab.node("mac");
    assert!(!mac.is_drained() && !mac.state_dir().join("meshroll.lock").exists());
    assert!(!roots[1].join(&sha).exists());
    assert!(roots[0].join(&sha).join("README.md").is_file(), "{o}");
}

/// `status --json`, `status --watch` and `status --doctor` read a macOS-shaped node
/// exactly as a plain one (BSD stat, shasum, macOS df columns, padded wc, zsh).
#[test]
fn status_watch_and_doctor_match_a_plain_node() {
    let lab = Lab::start(&[
        NodeSpec::new("lin", "worker"),
        NodeSpec::macos("mac", "worker", RsyncFlavor::Apple269),
    ]);
    lab.all_ready();
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let strip = |mut v: Value| {
        for k in ["node", "destination"] {
            v[k] = Value::Null;
        }
        // the CLI that ran is each node's own stand-in (its path has the node's name)
        if let Some(p) = v["cli"]["path"].as_str() {
            v["cli"]["path"] = Value::from(p.replace("/mac/", "/N/").replace("/lin/", "/N/"));
        }
        // the cache markers were touched a second apart
        if let Some(r) = v["reason"].as_str() {
            v["reason"] = Value::from(r.replace(|c: char| c.is_ascii_digit(), "#"));
        }
        // ages and free space differ by the second and the byte; their presence not
        for k in ["age_s", "last_ok_age_s"] {
            if let Some(o) = v.as_object_mut() {
                o.remove(k);
            }
        }
        let s = v.to_string();
        s.split("\"age_s\":")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_string()
                } else {
                    let rest = part.trim_start_matches(|c: char| c.is_ascii_digit());
                    format!("\"age_s\":N{rest}")
                }
            })
            .collect::<String>()
    };
    let rows = |args: &[&str]| -> Vec<Value> {
        let out = meshroll(&lab, &inv, args);
        let o = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success() || !o.is_empty(), "{}", text(&out));
        match serde_json::from_str::<Vec<Value>>(&o) {
            Ok(rows) => rows,
            // --watch: one JSON value per line (a round, or a row)
            Err(_) => o
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .flat_map(|v| match v {
                    Value::Array(rows) => rows,
                    Value::Object(ref m) if m.contains_key("nodes") => {
                        v["nodes"].as_array().cloned().unwrap_or_default()
                    }
                    other => vec![other],
                })
                .collect(),
        }
    };
    for args in [
        &["status", "--json"][..],
        &["status", "--doctor", "--json"],
        &["status", "--watch", "--json", "--count", "2"],
    ] {
        let all = rows(args);
        assert!(!all.is_empty(), "{args:?}");
        let lin: Vec<&Value> = all.iter().filter(|r| r["node"] == "lin").collect();
        let mac: Vec<&Value> = all.iter().filter(|r| r["node"] == "mac").collect();
        assert_eq!(lin.len(), mac.len(), "{args:?}");
        for (l, m) in lin.iter().zip(&mac) {
            assert_eq!(m["verdict"], "healthy", "{args:?}: {m}");
            for k in ["avail_kb", "used_pct", "inodes_free", "inodes_used_pct"] {
                assert!(
                    !m["disk"][k].is_null(),
                    "df {k} not read on the mac node: {m}"
                );
                assert!(
                    !l["disk"][k].is_null(),
                    "df {k} not read on the plain node: {l}"
                );
            }
            if args.contains(&"--doctor") {
                assert!(
                    !m["doctor"].is_null(),
                    "doctor not read on the mac node: {m}"
                );
            }
            let (mut l, mut m) = ((*l).clone(), (*m).clone());
            // free space is the same volume's, read a moment apart
            l["disk"] = Value::Null;
            m["disk"] = Value::Null;
            assert_eq!(strip(m), strip(l), "{args:?}");
        }
    }
}

/// `unlock` removes a stale lock from a macOS-shaped node as from a plain one.
#[test]
fn unlock_matches_a_plain_node() {
    let lab = Lab::start(&[
        NodeSpec::new("lin", "worker"),
        NodeSpec::macos("mac", "worker", RsyncFlavor::Openrsync),
    ]);
    lab.all_ready();
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let mut said = Vec::new();
    for n in &lab.nodes {
        let lock = n.state_dir().join("meshroll.lock");
        fs::create_dir_all(&lock).unwrap();
        fs::write(lock.join("owner"), "r-gone alice@elsewhere/pid42 1000\n").unwrap();
        fs::write(lock.join("heartbeat"), "1000\n").unwrap();
        let out = meshroll(&lab, &inv, &["unlock", "--node", &n.name, "--yes"]);
        let o = text(&out);
        assert_eq!(out.status.code(), Some(0), "{o}");
        assert!(!lock.exists(), "{}: {o}", n.name);
        said.push(o.replace(&n.name, "NODE"));
    }
    assert_eq!(said[0], said[1]);
}

/// With `meshroll_rsync_path` unset, a Homebrew rsync 3 in /opt/homebrew/bin is preferred
/// over the stock one (and gets `-s`): the stock rsync is asked its version, never a copy.
#[test]
fn a_homebrew_rsync_3_is_preferred_over_the_stock_one() {
    let lab = Lab::start(&[NodeSpec::macos_with_brew_rsync(
        "brew",
        "worker",
        RsyncFlavor::Apple269,
    )]);
    lab.all_ready();
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let src = skills("a");
    let sha = skills_sha(&src.dir);
    let jpath = lab.dir.join("j.jsonl");
    let out = meshroll(&lab, &inv, &rollout_args(&src.dir, &jpath, &[]));
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    let n = lab.node("brew");
    assert_eq!(n.current().as_deref(), Some(sha.as_str()));
    let calls = n.stock_rsync_calls();
    assert_eq!(calls, vec!["--version".to_string()], "{calls:?}");
    assert_eq!(count(&journal(&jpath), "phase_failed", "brew"), 0, "{o}");
}
