//! `meshroll rollout` and `meshroll rollback` against real sshd nodes on loopback
//! (tests/common) and real rsync: a two-class rollout landing every byte with the right
//! modes, an idempotent re-run, retries of a flaky remote rsync, a corrupted copy that
//! halts the rollout, a SIGKILLed rollout resumed from its journal, rollback, the node
//! lock refusing a second rollout, and `--check` touching nothing.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Lab, LabNode, NodeSpec};
use rollout_run::{
    Background, Opts, Skills, base_args, bin, events, journal, manifest_ids, meshroll,
    meshroll_cmd, meshroll_with, phase_count, rollout_args, text, wait_for,
};
use serde_json::Value;

const PREWARM: &str = "echo warming; sleep 0.2; echo warmed";

// ---------------------------------------------------------------------------------------
// helpers

/// A skills tree committed in a fresh git repository; `variant` changes its content
/// (so each variant has its own SKILLS_SHA).
fn skills(variant: &str) -> Skills {
    let readme = format!("skills {variant}\n");
    let blob: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let marker = format!("variant/{variant}.md");
    Skills::commit(
        &[
            ("README.md", readme.as_bytes()),
            ("weather/SKILL.md", b"# weather\nAsk the sky.\n"),
            ("weather/lib/api.key", b"sk-test-0123456789\n"),
            ("weather/lib/client.js", b"export const x = 1;\n"),
            ("mail/SKILL.md", b"# mail\n"),
            ("mail/smtp.secret", b"hunter2\n"),
            ("mail/templates/deep/nested/a.txt", b"a\n"),
            ("data/blob.bin", &blob),
            (&marker, variant.as_bytes()),
        ],
        variant,
    )
}

/// The lab's INI inventory with `extra(node)` appended to each host line (and the
/// default quick prewarm unless `extra` sets one).
fn inventory(lab: &Lab, file: &str, extra: impl Fn(&LabNode) -> String) -> PathBuf {
    lab.write_inventory_with(file, |n| {
        let e = extra(n);
        let mut words = Vec::new();
        if !e.contains("meshroll_prewarm_cmd=") {
            words.push(format!("meshroll_prewarm_cmd=\"{PREWARM}\""));
        }
        if !e.is_empty() {
            words.push(e);
        }
        words.join(" ")
    })
}

/// [`inventory`] with `extra` on the lines of `nodes` only.
fn inventory_on(lab: &Lab, file: &str, nodes: &[&str], extra: &str) -> PathBuf {
    inventory(lab, file, |n| {
        if nodes.contains(&n.name.as_str()) {
            extra.to_string()
        } else {
            String::new()
        }
    })
}

/// Every node of the lab serving the bundle `OLD` (installed, `current` on it).
fn on_old_bundle(lab: &Lab) {
    for n in &lab.nodes {
        n.install_bundle(OLD, None);
        n.set_current(Some(OLD));
    }
}

/// Every entry under `dir`: relative path -> (inode, mtime ns, size, mode, is_dir).
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, i128, u64, u32, bool)> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, (u64, i128, u64, u32, bool)>) {
        for e in fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mtime = m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128;
            out.insert(
                rel,
                (m.ino(), mtime, m.size(), m.mode() & 0o7777, m.is_dir()),
            );
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The progress line of `node`'s phase `phase` that ended ok.
fn ok_lines<'a>(out: &'a str, node: &str, phase: &str) -> Vec<&'a str> {
    let pat = format!(" {node} {phase} ok: ");
    out.lines().filter(|l| l.contains(&pat)).collect()
}

/// The recap row of `node`.
fn recap_row<'a>(out: &'a str, node: &str) -> &'a str {
    let recap = out
        .split("\nrecap:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no recap in\n{out}"));
    recap
        .lines()
        .find(|l| l.split_whitespace().next() == Some(node))
        .unwrap_or_else(|| panic!("no recap row for {node} in\n{out}"))
}

/// Assert `node` holds bundle `sha` as shipped from `src`, byte for byte and mode for mode.
#[track_caller]
fn assert_bundle(n: &LabNode, sha: &str, src: &Path) {
    let b = n.bundle_dir(sha);
    let got = snapshot(&b);
    let want = snapshot(src);
    let want_files: Vec<&String> = want.iter().filter(|(_, v)| !v.4).map(|(k, _)| k).collect();
    let mut got_files: Vec<&String> = got.iter().filter(|(_, v)| !v.4).map(|(k, _)| k).collect();
    got_files.retain(|f| f.as_str() != "skills.lock.json");
    assert_eq!(got_files, want_files, "{}: files of {sha}", n.name);
    let dmode = fs::metadata(&b).unwrap().permissions().mode() & 0o7777;
    assert_eq!(dmode, 0o750, "{}: mode of the bundle dir", n.name);
    for (rel, (_, _, _, mode, is_dir)) in &got {
        let want_mode = if *is_dir {
            0o750
        } else if rel.ends_with(".key") || rel.ends_with(".secret") {
            0o440
        } else {
            0o640
        };
        assert_eq!(*mode, want_mode, "{}: mode of {rel} is {mode:o}", n.name);
        assert_eq!(mode & 0o007, 0, "{}: {rel} is world-accessible", n.name);
        if !is_dir && rel != "skills.lock.json" {
            assert_eq!(
                fs::read(b.join(rel)).unwrap(),
                fs::read(src.join(rel)).unwrap(),
                "{}: bytes of {rel}",
                n.name
            );
        }
    }
}

/// Write a wrapper for the node's remote rsync into its root; returns its path. The
/// baseline asks it `--version` (issue 15): answered by the real rsync, `body` runs only
/// for copies.
fn rsync_wrapper(n: &LabNode, body: &str) -> PathBuf {
    let p = n.root.join("bin/rsync-wrapper");
    fs::write(
        &p,
        format!("#!/bin/sh\ncase \"$1\" in --version) exec rsync --version ;; esac\n{body}\n"),
    )
    .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The lab's inventory (`inv.ini`) with node `n`'s remote rsync a wrapper running `body`
/// (see [`rsync_wrapper`]).
fn rsync_inventory(lab: &Lab, n: &LabNode, body: &str) -> PathBuf {
    let wrapper = rsync_wrapper(n, body);
    inventory_on(
        lab,
        "inv.ini",
        &[n.name.as_str()],
        &format!("meshroll_rsync_path={}", wrapper.display()),
    )
}

/// Watch every node's `current` while a rollout runs: it must always be absent, or a
/// symlink (never a directory, never dangling) to one of `allowed`.
struct CurrentWatch {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl CurrentWatch {
    fn start(roots: Vec<PathBuf>, allowed: Vec<String>) -> CurrentWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut bad = Vec::new();
            let mut looks = 0u64;
            while !s.load(Ordering::Relaxed) {
                for r in &roots {
                    let cur = r.join("current");
                    match fs::symlink_metadata(&cur) {
                        Err(_) => {}
                        Ok(m) if !m.file_type().is_symlink() => {
                            bad.push(format!("{} is not a symlink", cur.display()))
                        }
                        Ok(_) => {
                            let t = fs::read_link(&cur).map(|t| t.display().to_string());
                            match t {
                                Ok(t) if allowed.contains(&t) && r.join(&t).is_dir() => {}
                                // renamed away between the two calls: look again
                                Err(_) => {}
                                Ok(t) => bad.push(format!("{} -> {t}", cur.display())),
                            }
                        }
                    }
                }
                looks += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(looks > 0);
            bad
        });
        CurrentWatch {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// tests

#[test]
fn two_class_rollout_lands_every_byte_with_the_right_modes() {
    let mut specs = NodeSpec::many("g", 2, "gateway");
    specs.extend(NodeSpec::many("w", 6, "worker"));
    let lab = Lab::start(&specs);
    let src = skills("one");
    let (sha, msha) = manifest_ids(&src.dir);
    // Three nodes already run an older bundle (a hand deploy, no lock file).
    const OLD: &str = "0ld0000000000000000000000000000000000000";
    for name in ["g02", "w03", "w06"] {
        let n = lab.node(name);
        n.install_bundle(OLD, None);
        n.set_current(Some(OLD));
    }
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let jpath = lab.dir.join("journal.jsonl");
    let (out, took) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &jpath, &["--wave", "50%", "--concurrency", "4"]),
    );
    let o = text(&out);
    eprintln!("{o}\nrollout took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains(&format!("SKILLS_SHA={sha}")), "{o}");
    assert!(o.contains(&format!("SKILLS_MANIFEST_SHA256={msha}")), "{o}");
    assert!(o.contains("finished: 8 landed, 0 failed, 0 skipped"), "{o}");

    let j = journal(&jpath);
    assert!(!j.is_empty());
    for v in &j {
        assert_eq!(v["skills_sha"], sha.as_str(), "{v}");
        assert_eq!(v["manifest_sha256"], msha.as_str(), "{v}");
    }
    for n in &lab.nodes {
        let name = n.name.as_str();
        assert!(recap_row(&o, name).contains("landed"), "{o}");
        assert_eq!(events(&j, "node_landed", name).len(), 1, "{name}");
        assert_eq!(ok_lines(&o, name, "verify").len(), 1, "{name}: {o}");
        assert!(
            ok_lines(&o, name, "verify")[0].contains("checksum verified (9 files)"),
            "{o}"
        );
        assert_bundle(n, &sha, &src.dir);
        let lock = fs::read(n.bundle_dir(&sha).join("skills.lock.json")).unwrap();
        assert_eq!(
            meshroll::manifest::sha256_hex(&lock),
            msha,
            "{name}: lock file bytes"
        );
        // current -> <sha>, relative
        assert_eq!(n.current().as_deref(), Some(sha.as_str()), "{name}");
        let prev = fs::read_link(n.skills_root().join("previous"))
            .ok()
            .map(|p| p.display().to_string());
        if ["g02", "w03", "w06"].contains(&name) {
            assert_eq!(prev.as_deref(), Some(OLD), "{name}: previous");
            assert!(n.bundle_dir(OLD).is_dir(), "{name}: the old bundle is kept");
        } else {
            assert_eq!(prev, None, "{name}: no previous on a fresh node");
        }
        let sd = n.state_dir();
        assert!(
            sd.join("skill-cache-ready").is_file(),
            "{name}: cache marker"
        );
        assert!(!n.is_drained(), "{name}: drain removed");
        assert!(!sd.join("meshroll.lock").exists(), "{name}: lock released");
        let st: Value =
            serde_json::from_slice(&fs::read(sd.join("last-gateway-status.json")).unwrap())
                .unwrap();
        assert_eq!(st["rpc"]["ok"], true, "{name}: archived status");
        let base = events(&j, "phase_done", name)
            .into_iter()
            .find(|v| v["phase"] == "baseline")
            .unwrap_or_else(|| panic!("{name}: no baseline in the journal"));
        let bj: Value = serde_json::from_str(base["note"].as_str().unwrap()).unwrap();
        assert_eq!(
            bj["rpc"]["ok"], true,
            "{name}: baseline JSON in the journal"
        );
        // doctor on the canaries only
        let doctors = phase_count(&j, "phase_done", name, "doctor");
        assert_eq!(
            doctors,
            usize::from(name == "g01" || name == "w01"),
            "{name}"
        );
        assert!(
            n.calls().iter().any(|c| c.starts_with("gateway status")),
            "{name}"
        );
    }
    // canary first, then waves of 50% of the rest
    for want in [
        "class gateway: canary",
        "class gateway: wave 1",
        "class worker: canary",
        "class worker: wave 1",
        "class worker: wave 2",
    ] {
        assert!(o.contains(want), "{want}: {o}");
    }
    assert!(!o.contains("class worker: wave 3"), "{o}");
}

/// Roll `src` out with the quick defaults; panics unless every node landed.
fn rollout_ok(lab: &Lab, inv: &Path, src: &Skills, journal: &Path, extra: &[&str]) -> String {
    let mut more = vec!["--wave", "50%"];
    more.extend_from_slice(extra);
    let args = rollout_args(&src.dir, journal, &more);
    let (out, took) = meshroll(lab, inv, &args);
    let o = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "rollout failed after {took:?}:\n{o}"
    );
    o
}

#[test]
fn rerun_on_an_up_to_date_fleet_transfers_nothing_and_rewrites_nothing() {
    let mut specs = NodeSpec::many("g", 2, "gateway");
    specs.extend(NodeSpec::many("w", 3, "worker"));
    let lab = Lab::start(&specs);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let first = rollout_ok(&lab, &inv, &src, &lab.dir.join("j1.jsonl"), &[]);
    for n in &lab.nodes {
        let l = ok_lines(&first, &n.name, "sync");
        assert!(l[0].contains("10 file(s) transferred"), "{first}");
        // The note names the rsync the node ran (learned at the baseline).
        assert!(l[0].contains("(node: rsync 3."), "{first}");
    }
    let before: Vec<_> = lab
        .nodes
        .iter()
        .map(|n| snapshot(&n.bundle_dir(&sha)))
        .collect();
    let start = Instant::now();
    // A new journal: the same one would find every node landed and run nothing.
    let again = rollout_ok(&lab, &inv, &src, &lab.dir.join("j2.jsonl"), &[]);
    eprintln!("{again}\nre-run took {:?}", start.elapsed());
    for (n, b) in lab.nodes.iter().zip(&before) {
        let l = ok_lines(&again, &n.name, "sync");
        assert_eq!(l.len(), 1, "{again}");
        assert!(
            l[0].contains(" 0 file(s) transferred"),
            "{}: {}",
            n.name,
            l[0]
        );
        let s = ok_lines(&again, &n.name, "switch");
        assert!(s[0].ends_with("already current"), "{}", s[0]);
        let after = snapshot(&n.bundle_dir(&sha));
        assert_eq!(b.len(), 18, "{}: 10 files and 8 directories", n.name);
        assert_eq!(
            &after, b,
            "{}: the bundle was touched by the re-run",
            n.name
        );
        assert_eq!(n.current().as_deref(), Some(sha.as_str()));
        assert!(
            !n.skills_root().join("previous").exists(),
            "{}: a re-run must not make the bundle its own previous",
            n.name
        );
    }
    // The same journal again: every node landed in an earlier run, nothing runs.
    let (out, _) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &lab.dir.join("j2.jsonl"), &[]),
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(!o.contains(" sync ok"), "{o}");
    for n in &lab.nodes {
        assert!(
            recap_row(&o, &n.name).contains("landed (earlier run)"),
            "{o}"
        );
    }
}

#[test]
fn flaky_remote_rsync_is_retried_and_lands() {
    let specs = vec![
        NodeSpec::new("g01", "gateway"),
        NodeSpec::new("w01", "worker"),
        NodeSpec::new("w02", "worker"),
    ];
    let lab = Lab::start(&specs);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let w02 = lab.node("w02");
    let count = w02.root.join("rsync-calls");
    let inv = rsync_inventory(
        &lab,
        w02,
        &format!(
            "c=$(cat {c} 2>/dev/null || echo 0); c=$((c+1)); echo $c >{c}\n\
             if [ \"$c\" -le 2 ]; then echo \"wrapper: link dropped (call $c)\" >&2; exit 12; fi\n\
             exec rsync \"$@\"",
            c = count.display()
        ),
    );
    let jpath = lab.dir.join("j.jsonl");
    let start = Instant::now();
    let o = rollout_ok(&lab, &inv, &src, &jpath, &[]);
    eprintln!("{o}\ntook {:?}", start.elapsed());
    assert_eq!(fs::read_to_string(&count).unwrap().trim(), "3");
    for (a, fail) in [(1, true), (2, true), (3, false)] {
        let started = format!("w02 sync attempt {a}/5");
        assert!(a == 1 || o.contains(&started), "{started}: {o}");
        if fail {
            let failed = format!("w02 sync failed (transient, attempt {a}/5): rsync exit 12");
            assert!(o.contains(&failed), "{failed}: {o}");
            let retry = o
                .lines()
                .find(|l| l.contains(&format!("w02 sync retry {}/5 in ", a + 1)))
                .unwrap_or_else(|| panic!("no retry {} line: {o}", a + 1));
            // 2^attempt + U[0,5) seconds
            let secs: f64 = retry
                .rsplit(" in ")
                .next()
                .unwrap()
                .trim_end_matches('s')
                .parse()
                .unwrap();
            // The line shows one decimal: a delay just under lo + 5 reads as lo + 5.0.
            let lo = 2f64.powi(a);
            assert!(secs >= lo && secs <= lo + 5.0, "{retry}");
        }
    }
    let j = journal(&jpath);
    assert_eq!(phase_count(&j, "phase_started", "w02", "sync"), 3);
    assert_eq!(phase_count(&j, "phase_failed", "w02", "sync"), 2);
    assert_eq!(phase_count(&j, "retry_scheduled", "w02", "sync"), 2);
    assert_eq!(phase_count(&j, "phase_started", "w01", "sync"), 1);
    assert_eq!(events(&j, "node_landed", "w02").len(), 1);
    assert!(recap_row(&o, "w02").contains("landed"), "{o}");
    assert!(
        recap_row(&o, "w02").contains("rsync exit 12"),
        "last error shown: {o}"
    );
    // ATTEMPT and RETRIES: no phase in progress once landed; the retries used, not the
    // phases run (a clean node ran eight phases and used no retry).
    let cols = |n: &str| -> Vec<String> {
        recap_row(&o, n)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(cols("w02")[2..5], ["landed", "-", "2"], "{o}");
    assert_eq!(cols("w01")[2..5], ["landed", "-", "0"], "{o}");
    assert_bundle(w02, &sha, &src.dir);
    assert_eq!(w02.current().as_deref(), Some(sha.as_str()));
}

const OLD: &str = "0ld0000000000000000000000000000000000000";

#[test]
fn corrupted_copy_fails_once_is_not_switched_and_halts_the_rollout() {
    let mut specs = vec![NodeSpec::new("g01", "gateway")];
    specs.extend(NodeSpec::many("w", 4, "worker"));
    let lab = Lab::start(&specs);
    on_old_bundle(&lab);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let w02 = lab.node("w02");
    // The real rsync, then a flipped byte in the copy it just wrote.
    let inv = rsync_inventory(
        &lab,
        w02,
        &format!(
            "rsync \"$@\"; rc=$?\nprintf 'tampered\\n' >>{}\nexit $rc",
            w02.bundle_dir(&sha).join("weather/SKILL.md").display()
        ),
    );
    let jpath = lab.dir.join("j.jsonl");
    let (out, took) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &jpath, &["--wave", "50%"]),
    );
    let o = text(&out);
    eprintln!("{o}\ntook {took:?}");
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("w02 verify failed (MISMATCH, attempt 1/5): 1 difference(s): weather/SKILL.md sha256 differs"),
        "{o}"
    );
    assert!(
        o.contains("HALTED, waiting for the operator: checksum mismatch on w02"),
        "{o}"
    );
    assert!(o.contains("halted: checksum mismatch on w02"), "{o}");
    assert!(!o.contains("w02 verify attempt 2"), "{o}");
    assert!(!o.contains("class worker: wave 2"), "{o}");
    let j = journal(&jpath);
    assert_eq!(phase_count(&j, "phase_started", "w02", "verify"), 1);
    assert_eq!(phase_count(&j, "retry_scheduled", "w02", "verify"), 0);
    assert_eq!(phase_count(&j, "phase_started", "w02", "switch"), 0);
    assert_eq!(events(&j, "node_failed", "w02").len(), 1);
    assert!(recap_row(&o, "w02").contains("failed at verify"), "{o}");
    // not switched; the halted headless run put it back (undrained, unlocked)
    assert_eq!(w02.current().as_deref(), Some(OLD));
    assert!(!w02.skills_root().join("previous").exists());
    assert!(!w02.is_drained(), "{o}");
    assert!(!w02.state_dir().join("meshroll.lock").exists(), "{o}");
    assert!(
        o.contains("failed     w02 at verify: 1 difference(s): weather/SKILL.md sha256 differs: undrained and unlocked, serving its old bundle"),
        "{o}"
    );
    // the later wave never started
    let w04 = lab.node("w04");
    assert!(events(&j, "phase_started", "w04").is_empty(), "w04 started");
    assert!(!w04.bundle_dir(&sha).exists());
    assert_eq!(w04.current().as_deref(), Some(OLD));
    assert!(recap_row(&o, "w04").contains("waiting"), "{o}");
    // the nodes before it landed
    for name in ["g01", "w01"] {
        assert_eq!(lab.node(name).current().as_deref(), Some(sha.as_str()));
    }

    // The operator fixes the node (here: the tampering rsync goes) and runs the same
    // rollout again: it resumes, takes w02 from the start (it was put back), syncs it
    // again (rsync --checksum repairs the copy) before verifying it again, and lands
    // the rest.
    let inv = inventory(&lab, "inv2.ini", |_| String::new());
    let cut = j.len();
    let (out, _) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &jpath, &["--wave", "50%"]),
    );
    let o = text(&out);
    eprintln!("after the fix:\n{o}");
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("resuming rollout"), "{o}");
    let j = journal(&jpath);
    let second = &j[cut..];
    assert_eq!(
        phase_count(second, "phase_started", "w02", "baseline"),
        1,
        "{o}"
    );
    assert_eq!(
        phase_count(second, "phase_started", "w02", "sync"),
        1,
        "{o}"
    );
    assert!(
        ok_lines(&o, "w02", "sync")[0].contains(" 1 file(s) transferred"),
        "{o}"
    );
    for n in &lab.nodes {
        assert_eq!(n.current().as_deref(), Some(sha.as_str()), "{}", n.name);
        assert_bundle(n, &sha, &src.dir);
        assert!(!n.is_drained(), "{}", n.name);
    }
}

#[test]
fn killed_rollout_is_resumed_by_a_new_run() {
    let mut specs = vec![NodeSpec::new("g01", "gateway")];
    specs.extend(NodeSpec::many("w", 5, "worker"));
    let lab = Lab::start(&specs);
    on_old_bundle(&lab);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let slow = ["w02", "w03", "w04", "w05"];
    let inv = inventory_on(
        &lab,
        "inv.ini",
        &slow,
        "meshroll_prewarm_cmd=\"echo warming; sleep 3; echo warmed\"",
    );
    let jpath = lab.dir.join("j.jsonl");
    let args = rollout_args(&src.dir, &jpath, &["--wave", "50%"]);
    let roots: Vec<PathBuf> = lab.nodes.iter().map(|n| n.skills_root()).collect();
    let watch = CurrentWatch::start(roots, vec![OLD.into(), sha.clone()]);
    let log1 = lab.dir.join("run1.log");
    let mut run = Background::spawn(meshroll_cmd(&lab, &inv, &args), &log1);
    // Wait until the canaries landed and wave 1 is prewarming.
    run.wait_journal(&jpath, "the rollout mid-wave", |j| {
        let landed = |n: &str| !events(j, "node_landed", n).is_empty();
        let warming = |n: &str| phase_count(j, "phase_started", n, "prewarm") > 0;
        landed("g01") && landed("w01") && warming("w02") && warming("w03")
    });
    std::thread::sleep(Duration::from_millis(500));
    run.kill();
    let out1 = fs::read_to_string(&log1).unwrap();
    eprintln!("first run (killed):\n{out1}");
    let j1 = journal(&jpath);
    let cut = j1.len();
    let landed1: Vec<String> = lab
        .nodes
        .iter()
        .filter(|n| !events(&j1, "node_landed", &n.name).is_empty())
        .map(|n| n.name.clone())
        .collect();
    assert!(landed1.contains(&"g01".to_string()) && landed1.contains(&"w01".to_string()));
    for n in ["w02", "w03"] {
        assert!(
            events(&j1, "node_landed", n).is_empty(),
            "{n} landed already: {out1}"
        );
        // drained and locked by the killed run
        assert!(lab.node(n).is_drained());
        assert!(
            lab.node(n)
                .state_dir()
                .join("meshroll.lock/owner")
                .is_file()
        );
    }
    let rid = j1[0]["rollout"].as_str().unwrap().to_string();

    let (out, took) = meshroll(&lab, &inv, &args);
    let o = text(&out);
    eprintln!("second run:\n{o}\ntook {took:?}");
    let bad = watch.finish();
    assert!(bad.is_empty(), "half-switched current seen: {bad:?}");
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains(&format!("resuming rollout {rid} from")), "{o}");
    let j = journal(&jpath);
    let second = &j[cut..];
    for v in second {
        assert_eq!(v["rollout"], rid.as_str(), "the same rollout id: {v}");
    }
    for n in &landed1 {
        assert!(
            events(second, "phase_started", n).is_empty(),
            "{n} landed in the first run and was started again: {o}"
        );
        assert!(recap_row(&o, n).contains("landed (earlier run)"), "{o}");
    }
    for n in &lab.nodes {
        assert_eq!(n.current().as_deref(), Some(sha.as_str()), "{}", n.name);
        assert_bundle(n, &sha, &src.dir);
        assert!(!n.is_drained(), "{}", n.name);
        assert!(!n.state_dir().join("meshroll.lock").exists(), "{}", n.name);
        assert_eq!(
            fs::read_link(n.skills_root().join("previous"))
                .unwrap()
                .display()
                .to_string(),
            OLD
        );
        if !landed1.contains(&n.name) {
            assert_eq!(
                events(second, "node_landed", &n.name).len(),
                1,
                "{}: {o}",
                n.name
            );
        }
    }
    // Wave 1 nodes killed after their switch are not synced again.
    for n in ["w02", "w03"] {
        if phase_count(&j1, "phase_done", n, "switch") == 1 {
            assert_eq!(
                phase_count(second, "phase_started", n, "sync"),
                0,
                "{n}: {o}"
            );
            assert_eq!(
                phase_count(second, "phase_started", n, "prewarm"),
                1,
                "{n}: {o}"
            );
        }
    }
    // Each run says it started; the replay marks where the killed run stopped and
    // where the new one resumed, and no node's time in service includes the gap.
    let runs: Vec<&Value> = j.iter().filter(|v| v["event"] == "run_started").collect();
    assert_eq!(runs.len(), 2, "{o}");
    assert_eq!(runs[0]["resumed"], false);
    assert_eq!(runs[1]["resumed"], true);
    let out = bin()
        .args(["replay", jpath.to_str().unwrap(), "--summary"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("── the run stopped here: it recorded no finish (killed or crashed) ──"),
        "{s}"
    );
    assert!(s.contains("── run 2 resumed after "), "{s}");
    assert!(!s.contains("(run 3)"), "{s}");
}

#[test]
fn rollback_restores_the_previous_target() {
    let specs = vec![
        NodeSpec::new("g01", "gateway"),
        NodeSpec::new("g02", "gateway"),
        NodeSpec::new("w01", "worker"),
        NodeSpec::new("w02", "worker"),
    ];
    let lab = Lab::start(&specs);
    let a = skills("a");
    let b = skills("b");
    let (sha_a, _) = manifest_ids(&a.dir);
    let (sha_b, _) = manifest_ids(&b.dir);
    assert_ne!(sha_a, sha_b);
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    rollout_ok(&lab, &inv, &a, &lab.dir.join("j.jsonl"), &[]);
    rollout_ok(&lab, &inv, &b, &lab.dir.join("j.jsonl"), &[]);
    let prev = |n: &LabNode| {
        fs::read_link(n.skills_root().join("previous"))
            .ok()
            .map(|p| p.display().to_string())
    };
    for n in &lab.nodes {
        assert_eq!(n.current().as_deref(), Some(sha_b.as_str()));
        assert_eq!(prev(n).as_deref(), Some(sha_a.as_str()));
    }
    let (out, _) = meshroll(&lab, &inv, &["rollback", "--node", "g01", "--yes"]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(
        o.contains(&format!(
            "g01 rolled back: current -> {sha_a} (was {sha_b})"
        )),
        "{o}"
    );
    let g01 = lab.node("g01");
    assert_eq!(g01.current().as_deref(), Some(sha_a.as_str()));
    assert_eq!(prev(g01).as_deref(), Some(sha_b.as_str()));
    assert_bundle(g01, &sha_a, &a.dir);
    assert_eq!(lab.node("g02").current().as_deref(), Some(sha_b.as_str()));

    let (out, _) = meshroll(&lab, &inv, &["rollback", "--class", "worker", "--yes"]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    for w in ["w01", "w02"] {
        assert!(
            o.contains(&format!("{w} rolled back: current -> {sha_a}")),
            "{o}"
        );
        assert_eq!(lab.node(w).current().as_deref(), Some(sha_a.as_str()));
    }
    assert!(!o.contains("g0"), "only the class: {o}");
    assert_eq!(lab.node("g02").current().as_deref(), Some(sha_b.as_str()));
    assert_eq!(g01.current().as_deref(), Some(sha_a.as_str()));
    // Without --yes nothing changes; a node with no previous target is an error.
    let (out, _) = meshroll(&lab, &inv, &["rollback", "--node", "g02"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(lab.node("g02").current().as_deref(), Some(sha_b.as_str()));
    fs::remove_file(lab.node("g02").skills_root().join("previous")).unwrap();
    let (out, _) = meshroll(&lab, &inv, &["rollback", "--node", "g02", "--yes"]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("g02 rollback failed") && o.contains("no previous target"),
        "{o}"
    );
    assert_eq!(lab.node("g02").current().as_deref(), Some(sha_b.as_str()));

    // Rolling B out again with the same journal: the journal says every node landed B,
    // but the fleet says otherwise for the rolled-back ones; those get B again.
    let o = rollout_ok(&lab, &inv, &b, &lab.dir.join("j.jsonl"), &[]);
    eprintln!("{o}");
    assert!(recap_row(&o, "g02").contains("landed (earlier run)"), "{o}");
    for name in ["g01", "w01", "w02"] {
        assert!(
            o.contains(&format!(
                "{name}: the journal says it landed, but its current is {sha_a}: running every phase again"
            )),
            "{o}"
        );
        let r = recap_row(&o, name);
        assert!(r.contains("landed") && !r.contains("earlier"), "{o}");
        let n = lab.node(name);
        assert_eq!(n.current().as_deref(), Some(sha_b.as_str()));
        assert_eq!(prev(n).as_deref(), Some(sha_a.as_str()));
    }
    // And A again over B, same journal (a roll forward to an older bundle).
    let o = rollout_ok(&lab, &inv, &a, &lab.dir.join("j.jsonl"), &[]);
    for n in &lab.nodes {
        assert!(!recap_row(&o, &n.name).contains("earlier run"), "{o}");
        assert_eq!(n.current().as_deref(), Some(sha_a.as_str()));
    }
}

#[test]
fn second_concurrent_rollout_is_refused_by_the_node_lock() {
    let specs = vec![
        NodeSpec::new("g01", "gateway"),
        NodeSpec::new("w01", "worker"),
        NodeSpec::new("w02", "worker"),
    ];
    let lab = Lab::start(&specs);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let inv = inventory_on(
        &lab,
        "inv.ini",
        &["g01"],
        "meshroll_prewarm_cmd=\"echo warming; sleep 4; echo warmed\"",
    );
    let j1 = lab.dir.join("j1.jsonl");
    let log1 = lab.dir.join("run1.log");
    let mut first = Background::spawn(
        meshroll_cmd(&lab, &inv, &rollout_args(&src.dir, &j1, &[])),
        &log1,
    );
    first.wait_journal(&j1, "g01's prewarm", |j| {
        phase_count(j, "phase_started", "g01", "prewarm") > 0
    });
    let rid = journal(&j1)[0]["rollout"].as_str().unwrap().to_string();
    let j2 = lab.dir.join("j2.jsonl");
    let (out, _) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &j2, &["--class", "gateway"]),
    );
    let o = text(&out);
    eprintln!("second:\n{o}");
    assert_eq!(out.status.code(), Some(1), "{o}");
    let host = meshroll::cmd::rollout::hostname().unwrap();
    let want = format!(
        "g01 baseline failed (fatal, attempt 1/5): node is locked by another rollout: owner {}, host {host}, pid {}, rollout {rid}, taken ",
        lab.user,
        first.id()
    );
    let line = o
        .lines()
        .find(|l| l.contains(&want))
        .unwrap_or_else(|| panic!("{want}: {o}"));
    assert!(line.contains(" ago, heartbeat "), "{line}");
    assert!(
        line.ends_with(" ago (if that rollout is gone: meshroll unlock --node g01)"),
        "{line}"
    );
    assert!(
        o.contains("HALTED, waiting for the operator: class gateway"),
        "{o}"
    );
    let jj = journal(&j2);
    assert_eq!(phase_count(&jj, "phase_started", "g01", "drain"), 0);
    assert!(events(&jj, "phase_started", "w01").is_empty());

    let st = first.child.wait().unwrap();
    let o1 = fs::read_to_string(&log1).unwrap();
    eprintln!("first:\n{o1}");
    assert_eq!(st.code(), Some(0), "{o1}");
    for n in &lab.nodes {
        assert_eq!(n.current().as_deref(), Some(sha.as_str()));
        assert!(!n.state_dir().join("meshroll.lock").exists());
    }
}

#[test]
fn check_prints_the_plan_and_touches_nothing() {
    let mut specs = NodeSpec::many("g", 2, "gateway");
    specs.extend(NodeSpec::many("w", 6, "worker"));
    let lab = Lab::start(&specs);
    let src = skills("one");
    let (sha, msha) = manifest_ids(&src.dir);
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let before: Vec<_> = lab.nodes.iter().map(|n| snapshot(&n.root)).collect();
    let jpath = lab.dir.join("j.jsonl");
    let (out, _) = meshroll(
        &lab,
        &inv,
        &[
            "rollout",
            "--skills",
            src.dir.to_str().unwrap(),
            "--wave",
            "50%",
            "--concurrency",
            "3",
            "--journal",
            jpath.to_str().unwrap(),
            "--check",
        ],
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    for want in [
        format!("SKILLS_SHA={sha}"),
        format!("SKILLS_MANIFEST_SHA256={msha}"),
        "classes one after the other: a class starts when the one before it is done".into(),
        "class 1 (gateway): 2 nodes, concurrency 3, failure budget 0".into(),
        "  canary  g01".into(),
        "  wave 1  g02".into(),
        "class 2 (worker): 6 nodes, concurrency 3, failure budget 0".into(),
        "  canary  w01".into(),
        "  wave 1  w02 w03 w04".into(),
        "  wave 2  w05 w06".into(),
    ] {
        assert!(o.contains(&want), "{want}: {o}");
    }
    assert!(!jpath.exists(), "--check wrote a journal");
    for (n, b) in lab.nodes.iter().zip(&before) {
        assert_eq!(
            &snapshot(&n.root),
            b,
            "{}: --check touched the node",
            n.name
        );
        assert!(n.calls().is_empty(), "{}: {:?}", n.name, n.calls());
    }
    // Without --yes or --check: refused, nothing touched.
    let (out, _) = meshroll(
        &lab,
        &inv,
        &[
            "rollout",
            "--skills",
            src.dir.to_str().unwrap(),
            "--journal",
            jpath.to_str().unwrap(),
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert!(!jpath.exists());
    for (n, b) in lab.nodes.iter().zip(&before) {
        assert_eq!(&snapshot(&n.root), b, "{}", n.name);
    }
    // The plan says how classes follow each other, and what --parallel-classes changes.
    let (out, _) = meshroll(
        &lab,
        &inv,
        &[
            "rollout",
            "--skills",
            src.dir.to_str().unwrap(),
            "--journal",
            jpath.to_str().unwrap(),
            "--parallel-classes",
            "--check",
        ],
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(
        o.contains("classes in parallel (--parallel-classes): the 2 canaries start together"),
        "{o}"
    );
    assert!(!jpath.exists());
}

#[test]
fn gateway_not_ready_at_baseline_leaves_the_node_untouched_and_unlocked() {
    let specs = vec![
        NodeSpec::new("g01", "gateway"),
        NodeSpec::new("w01", "worker"),
        NodeSpec::new("w02", "worker"),
        NodeSpec::new("w03", "worker"),
    ];
    let lab = Lab::start(&specs);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let w02 = lab.node("w02");
    w02.set_mode("unreachable");
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let jpath = lab.dir.join("j.jsonl");
    let args = rollout_args(
        &src.dir,
        &jpath,
        &["--wave", "50%", "--failure-budget", "1"],
    );
    let (out, _) = meshroll(&lab, &inv, &args);
    let o = text(&out);
    eprintln!("{o}");
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("w02 FAILED at baseline: gateway not ready at baseline: unreachable"),
        "{o}"
    );
    assert!(o.contains("finished: 3 landed, 1 failed, 0 skipped"), "{o}");
    assert!(
        !w02.state_dir().join("meshroll.lock").exists(),
        "lock left behind"
    );
    assert!(!w02.is_drained());
    assert_eq!(w02.current(), None);
    assert!(!w02.bundle_dir(&sha).exists());
    // The gateway comes back; the same command lands the node (a new rollout id: the
    // first one finished) and leaves the landed ones alone.
    w02.set_mode("ready");
    let (out, _) = meshroll(&lab, &inv, &args);
    let o = text(&out);
    eprintln!("{o}");
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(!o.contains("resuming rollout"), "{o}");
    for n in ["g01", "w01", "w03"] {
        assert!(recap_row(&o, n).contains("landed (earlier run)"), "{o}");
    }
    assert!(recap_row(&o, "w02").contains("landed"), "{o}");
    assert_eq!(w02.current().as_deref(), Some(sha.as_str()));
    assert_bundle(w02, &sha, &src.dir);
}

// ---------------------------------------------------------------------------------------
// hardening (issue 7): integrity, locks, the token, floods

/// An executable script at `<node root>/bin/<name>`.
fn node_script(n: &LabNode, name: &str, body: &str) -> PathBuf {
    let p = n.root.join("bin").join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn tree_changed_on_the_node_after_verify_does_not_land_on_resume() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    // `current` is a directory by mistake: the switch cannot rename over it, so the run
    // stops right after a passing verify.
    let cur = g01.skills_root().join("current");
    fs::create_dir_all(cur.join("by-hand")).unwrap();
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let jpath = lab.dir.join("j.jsonl");
    let args = rollout_args(&src.dir, &jpath, &[]);
    let (out, _) = meshroll(&lab, &inv, &args);
    let o = text(&out);
    eprintln!("first run:\n{o}");
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert_eq!(ok_lines(&o, "g01", "verify").len(), 1, "{o}");
    assert!(o.contains("g01 switch failed (fatal"), "{o}");
    // The operator clears `current`; meanwhile the verified tree changes on the node.
    fs::remove_dir_all(&cur).unwrap();
    let f = g01.bundle_dir(&sha).join("weather/SKILL.md");
    let mut bytes = fs::read(&f).unwrap();
    bytes.extend_from_slice(b"injected after verify\n");
    fs::write(&f, bytes).unwrap();
    // The halted run put g01 back (undrained, unlocked: its switch failed), so the
    // next run takes it from the start: the changed tree is synced again (rsync
    // --checksum repairs it) and verified again before any switch; what was injected
    // never lands. (A run killed between a passed verify and its switch resumes at the
    // switch, which verifies the tree again right before the rename: the machine's
    // restore test and the switch's own mismatch test cover that.)
    assert!(!g01.is_drained(), "{o}");
    assert!(!g01.state_dir().join("meshroll.lock").exists(), "{o}");
    let cut = journal(&jpath).len();
    let (out, _) = meshroll(&lab, &inv, &args);
    let o = text(&out);
    eprintln!("resumed:\n{o}");
    assert!(o.contains("resuming rollout"), "{o}");
    let j = journal(&jpath);
    let second = &j[cut..];
    assert_eq!(
        phase_count(second, "phase_started", "g01", "baseline"),
        1,
        "{o}"
    );
    assert!(
        ok_lines(&o, "g01", "sync")[0].contains(" 1 file(s) transferred"),
        "{o}"
    );
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert_eq!(g01.current().as_deref(), Some(sha.as_str()));
    assert_bundle(g01, &sha, &src.dir);
}

#[test]
fn a_symlink_in_the_bundle_is_a_mismatch() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    // The real rsync, then a symlink planted in the copy it just wrote.
    let wrapper = rsync_wrapper(
        g01,
        &format!(
            "rsync \"$@\"; rc=$?\nln -s /etc/hostname {}\nexit $rc",
            g01.bundle_dir(&sha).join("weather/link").display()
        ),
    );
    let inv = inventory(&lab, "inv.ini", |_| {
        format!("meshroll_rsync_path={}", wrapper.display())
    });
    let jpath = lab.dir.join("j.jsonl");
    let (out, _) = meshroll(&lab, &inv, &rollout_args(&src.dir, &jpath, &[]));
    let o = text(&out);
    eprintln!("{o}");
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains(
            "g01 verify failed (MISMATCH, attempt 1/5): 1 difference(s): weather/link is not a regular file or a directory"
        ),
        "{o}"
    );
    assert_eq!(g01.current(), None);
}

#[test]
fn rollout_phases_get_the_gateway_token_inside_their_scripts() {
    let lab = Lab::start(&[
        NodeSpec::new("g01", "gateway"),
        NodeSpec::new("w01", "worker"),
    ]);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let tok = "tok-s3cret-0451";
    for n in &lab.nodes {
        // A CLI whose gateway needs the token: without it, gateway status reads
        // unreachable. Each call logs whether the token came.
        node_script(
            n,
            "openclaw-tok",
            &format!(
                "case \"${{OPENCLAW_GATEWAY_TOKEN:-}}\" in {tok}) t=yes ;; *) t=no ;; esac\n\
                 echo \"$1 $2 token=$t\" >>{log}\n\
                 if [ $t = no ] && [ \"$1\" = gateway ]; then cat {fx}; exit 0; fi\n\
                 exec {cli} \"$@\"",
                log = n.root.join("token.log").display(),
                fx = n
                    .standin_dir()
                    .join("fixtures/gateway-status.unreachable.json")
                    .display(),
                cli = n.openclaw().display(),
            ),
        );
        node_script(
            n,
            "prewarm-tok",
            &format!(
                "[ \"${{OPENCLAW_GATEWAY_TOKEN:-}}\" = {tok} ] || {{ echo 'prewarm: no token'; exit 9; }}\necho warmed with the token"
            ),
        );
    }
    let inv = inventory(&lab, "inv.ini", |n| {
        format!(
            "meshroll_openclaw={} meshroll_prewarm_cmd={}",
            n.root.join("bin/openclaw-tok").display(),
            n.root.join("bin/prewarm-tok").display()
        )
    });
    // The local rsync, first on PATH, notes whether the token is in its environment.
    let local_bin = lab.dir.join("local-bin");
    fs::create_dir_all(&local_bin).unwrap();
    let rsync_env = lab.dir.join("local-rsync-env.log");
    let real_rsync = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v rsync"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let wrapper = local_bin.join("rsync");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"token=${{OPENCLAW_GATEWAY_TOKEN:-none}}\" >>{}\nexec {} \"$@\"\n",
            rsync_env.display(),
            real_rsync.trim()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        local_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let jpath = lab.dir.join("j.jsonl");
    let out = meshroll_with(
        &lab,
        &inv,
        &rollout_args(&src.dir, &jpath, &[]),
        &Opts {
            token: Some(tok),
            env: &[("PATH", &path)],
            ..Opts::default()
        },
    );
    let o = text(&out);
    eprintln!("{o}");
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(!o.contains(tok), "the token reached the output: {o}");
    let env_log = fs::read_to_string(&rsync_env).unwrap();
    assert_eq!(env_log.lines().count(), 2, "{env_log}");
    assert!(
        env_log.lines().all(|l| l == "token=none"),
        "the token was in the local rsync's environment: {env_log}"
    );
    for n in &lab.nodes {
        assert_eq!(n.current().as_deref(), Some(sha.as_str()));
        let log = fs::read_to_string(n.root.join("token.log")).unwrap();
        assert!(
            log.contains("gateway status token=yes"),
            "{}: {log}",
            n.name
        );
        assert!(!log.contains("token=no"), "{}: {log}", n.name);
        // The archived status is not world-readable (node-side umask 027).
        let m = fs::metadata(n.state_dir().join("last-gateway-status.json")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o640, "{}", n.name);
    }
    // doctor runs on the canaries, with the token too
    let log = fs::read_to_string(lab.node("g01").root.join("token.log")).unwrap();
    assert!(log.contains("doctor --lint token=yes"), "{log}");
    assert!(
        o.contains("g01 prewarm ok") && o.contains("w01 prewarm ok"),
        "{o}"
    );
}

#[test]
fn a_killed_rollouts_lock_names_its_owner_and_unlock_removes_it() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let src = skills("one");
    let inv = inventory(&lab, "inv.ini", |_| {
        "meshroll_prewarm_cmd=\"echo warming; sleep 20; echo warmed\"".into()
    });
    let j1 = lab.dir.join("j1.jsonl");
    let log1 = lab.dir.join("run1.log");
    let mut first = Background::spawn(
        meshroll_cmd(
            &lab,
            &inv,
            &rollout_args(&src.dir, &j1, &["--lock-heartbeat", "1"]),
        ),
        &log1,
    );
    let lock = g01.state_dir().join("meshroll.lock");
    let hb = || {
        fs::read_to_string(lock.join("heartbeat"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    first.wait_journal(&j1, "g01's prewarm", |j| {
        phase_count(j, "phase_started", "g01", "prewarm") > 0
    });
    // The lock has an owner line and a heartbeat, refreshed while the rollout holds it.
    let owner = fs::read_to_string(lock.join("owner")).unwrap();
    let host = meshroll::cmd::rollout::hostname().unwrap();
    assert!(
        owner.contains(&format!(" {}@{host}/pid{} ", lab.user, first.id())),
        "{owner}"
    );
    let hb1 = hb().expect("a heartbeat");
    wait_for(
        Duration::from_secs(20),
        Duration::from_millis(100),
        "heartbeat never refreshed",
        || hb().filter(|h| *h > hb1),
        || hb1.to_string(),
    );
    first.kill(); // SIGKILL: the lock stays behind
    assert!(lock.join("owner").is_file());

    // Another rollout is refused with who, where and how old.
    let (out, _) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &lab.dir.join("j2.jsonl"), &[]),
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains(&format!(
            "node is locked by another rollout: owner {}, host {host}, pid {}",
            lab.user,
            first.id()
        )) && o.contains("(if that rollout is gone: meshroll unlock --node g01)"),
        "{o}"
    );

    // `unlock` shows the same and asks; "n" leaves the lock.
    let out = meshroll_with(
        &lab,
        &inv,
        &["unlock", "--node", "g01"],
        &Opts {
            stdin: Some("n\n"),
            ..Opts::default()
        },
    );
    let o = text(&out);
    assert!(
        o.contains(&format!(
            "g01: locked by owner {}, host {host}, pid {}, rollout ",
            lab.user,
            first.id()
        )),
        "{o}"
    );
    assert!(
        o.contains("remove this lock?") && o.contains("g01: left locked"),
        "{o}"
    );
    assert!(lock.join("owner").is_file());
    // Headless without --yes: refused.
    let (out, _) = meshroll(&lab, &inv, &["unlock", "--node", "g01"]);
    let o = text(&out);
    assert_ne!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("--yes"), "{o}");
    assert!(lock.join("owner").is_file());
    // "y" removes it; --yes does not ask.
    let out = meshroll_with(
        &lab,
        &inv,
        &["unlock", "--node", "g01"],
        &Opts {
            stdin: Some("y\n"),
            ..Opts::default()
        },
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("g01: lock removed"), "{o}");
    assert!(!lock.exists());
    let (out, _) = meshroll(&lab, &inv, &["unlock", "--node", "g01", "--yes"]);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(o.contains("g01: not locked"), "{o}");
    let (out, _) = meshroll(&lab, &inv, &["unlock", "--node", "nope", "--yes"]);
    assert!(
        text(&out).contains("--node nope: no such node"),
        "{}",
        text(&out)
    );
}

#[test]
fn rollback_takes_and_releases_the_node_lock() {
    let lab = Lab::start(&[
        NodeSpec::new("g01", "gateway"),
        NodeSpec::new("w01", "worker"),
    ]);
    let a = skills("a");
    let b = skills("b");
    let (sha_a, _) = manifest_ids(&a.dir);
    let (sha_b, _) = manifest_ids(&b.dir);
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    rollout_ok(&lab, &inv, &a, &lab.dir.join("j.jsonl"), &[]);
    rollout_ok(&lab, &inv, &b, &lab.dir.join("j.jsonl"), &[]);
    // g01 is held by a rollout elsewhere.
    let lock = lab.node("g01").state_dir().join("meshroll.lock");
    fs::create_dir_all(&lock).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    fs::write(
        lock.join("owner"),
        format!("r-other bob@elsewhere/pid99 {}\n", now - 120),
    )
    .unwrap();
    fs::write(lock.join("heartbeat"), format!("{}\n", now - 5)).unwrap();
    let (out, _) = meshroll(
        &lab,
        &inv,
        &["rollback", "--node", "g01", "--node", "w01", "--yes"],
    );
    let o = text(&out);
    eprintln!("{o}");
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("g01 rollback failed: node is locked by another rollout: owner bob, host elsewhere, pid 99, rollout r-other, taken 2m"),
        "{o}"
    );
    assert_eq!(lab.node("g01").current().as_deref(), Some(sha_b.as_str()));
    assert!(
        lock.join("owner").is_file(),
        "someone else's lock was removed"
    );
    // w01 was free: rolled back under a lock of its own, released after.
    assert!(
        o.contains(&format!(
            "w01 rolled back: current -> {sha_a} (was {sha_b})"
        )),
        "{o}"
    );
    assert!(!lab.node("w01").state_dir().join("meshroll.lock").exists());
}

#[test]
fn a_chatty_prewarm_fails_at_once_with_output_over_the_cap() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let src = skills("one");
    let chatty = node_script(g01, "chatty", "yes 'prewarming, and saying so'");
    let inv = inventory(&lab, "inv.ini", |_| {
        format!("meshroll_prewarm_cmd={}", chatty.display())
    });
    let jpath = lab.dir.join("j.jsonl");
    let (out, _) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &jpath, &["--prewarm-timeout", "20"]),
    );
    let o = text(&out);
    eprintln!("{}", o.chars().take(4000).collect::<String>());
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("g01 prewarm failed (fatal, attempt 1/5): output over 4 MiB"),
        "{o}"
    );
    assert!(!o.contains("timed out"), "{o}");
    let j = journal(&jpath);
    assert_eq!(phase_count(&j, "phase_started", "g01", "prewarm"), 1);
    assert!(!g01.state_dir().join("skill-cache-ready").exists());
}

#[test]
fn a_huge_tree_in_the_bundle_fails_verify_with_output_over_the_cap() {
    let lab = Lab::start(&[NodeSpec::new("g01", "gateway")]);
    let g01 = lab.node("g01");
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    // After the real rsync, 9,000 extra files with long names: a listing over 4 MiB.
    let wrapper = rsync_wrapper(
        g01,
        &format!(
            "rsync \"$@\"; rc=$?\nmkdir -p {d} && cd {d} && seq -f '%0240g' 1 9000 | xargs touch\nexit $rc",
            d = g01.bundle_dir(&sha).join("junk").display()
        ),
    );
    let inv = inventory(&lab, "inv.ini", |_| {
        format!("meshroll_rsync_path={}", wrapper.display())
    });
    let jpath = lab.dir.join("j.jsonl");
    let (out, _) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &jpath, &["--sync-timeout", "30"]),
    );
    let o = text(&out);
    eprintln!("{o}");
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("g01 verify failed (fatal, attempt 1/5): output over 4 MiB"),
        "{o}"
    );
    assert!(!o.contains("timed out"), "{o}");
    assert_eq!(g01.current(), None);
}

/// The journal knows a node by its position, raw name and destination: a run whose
/// inventory points the same name at another machine (here g01's name at g02's sshd)
/// refuses to resume, naming the entry, and touches no node, instead of starting that
/// other machine at `switch`.
#[test]
fn resume_refuses_a_journal_entry_whose_node_points_elsewhere_now() {
    let lab = Lab::start(&[
        NodeSpec::new("g01", "gateway"),
        NodeSpec::new("g02", "gateway"),
    ]);
    let g01 = lab.node("g01");
    let g02 = lab.node("g02");
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    // The first run is killed (SIGKILL) while the canary prewarms, after its switch: the
    // journal holds g01 switched, a state a new run resumes from.
    let slow = "meshroll_prewarm_cmd=\"sleep 30\"";
    let inv = inventory_on(&lab, "inv.ini", &["g01"], slow);
    let jpath = lab.dir.join("j.jsonl");
    let args = rollout_args(&src.dir, &jpath, &[]);
    let log1 = lab.dir.join("run1.log");
    let mut run = Background::spawn(meshroll_cmd(&lab, &inv, &args), &log1);
    run.wait_journal(&jpath, "g01's prewarm", |j| {
        phase_count(j, "phase_started", "g01", "prewarm") > 0
    });
    run.kill(); // SIGKILL
    let j = journal(&jpath);
    let verified = events(&j, "phase_done", "g01")
        .into_iter()
        .find(|v| v["phase"] == "verify")
        .expect("g01 verified");
    assert_eq!(verified["node"], 0);
    assert_eq!(verified["node_key"], "g01");
    assert_eq!(verified["node_host"], "g01");
    assert_eq!(g01.current().as_deref(), Some(sha.as_str()));
    // The same name, now at g02's sshd.
    let text0 = fs::read_to_string(&inv).unwrap();
    let moved = text0.replace("g01 ansible_host=g01 ", "g01 ansible_host=g02 ");
    assert_ne!(moved, text0);
    let inv2 = lab.dir.join("inv2.ini");
    fs::write(&inv2, moved).unwrap();
    let cut = journal(&jpath).len();
    let (out, _) = meshroll(&lab, &inv2, &args);
    let o = text(&out);
    eprintln!("second run:\n{o}");
    assert_ne!(out.status.code(), Some(0), "{o}");
    assert!(
        o.contains(
            "for node g01 is node \"g01\" (position 1, g01), but the inventory has node \"g01\" (position 1, g02): refusing to guess"
        ),
        "{o}"
    );
    let j = journal(&jpath);
    assert_eq!(j.len(), cut, "nothing was journaled: {o}");
    assert!(!g02.state_dir().join("meshroll.lock").exists(), "{o}");
    assert!(!g02.bundle_dir(&sha).exists(), "{o}");
    assert_eq!(
        g01.current().as_deref(),
        Some(sha.as_str()),
        "g01 untouched"
    );
    // Back at its own address (and a quick prewarm), the same journal resumes g01 after
    // its switch: no verify again.
    let quick = fs::read_to_string(&inv)
        .unwrap()
        .replace(slow, "meshroll_prewarm_cmd=true");
    fs::write(&inv, quick).unwrap();
    let (out, _) = meshroll(&lab, &inv, &args);
    let o = text(&out);
    eprintln!("third run:\n{o}");
    assert!(o.contains("resuming rollout"), "{o}");
    assert_eq!(out.status.code(), Some(0), "{o}");
    let second = &journal(&jpath)[cut..];
    assert_eq!(
        phase_count(second, "phase_started", "g01", "verify"),
        0,
        "{o}"
    );
    assert_eq!(g01.current().as_deref(), Some(sha.as_str()));
}

fn ts(v: &Value) -> u64 {
    v["ts_ms"].as_u64().unwrap()
}

/// `--bake`: the landed canary is polled at the poll interval; when it turns dead
/// during the bake (its gateway's /readyz answers 503), the class halts with the reason
/// before any wave node is touched. `--check` shows the bake.
#[test]
fn a_canary_that_turns_dead_during_the_bake_halts_the_class_before_any_wave_node() {
    let lab = Lab::start(&NodeSpec::many("g", 3, "gateway"));
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let jpath = lab.dir.join("j.jsonl");
    let (out, _) = meshroll(
        &lab,
        &inv,
        &[
            "rollout",
            "--skills",
            src.dir.to_str().unwrap(),
            "--bake",
            "5m",
            "--check",
        ],
    );
    let o = text(&out);
    assert!(o.contains("canary bake 5m (--bake)"), "{o}");
    let args = [
        "--poll-interval",
        "1",
        "rollout",
        "--skills",
        src.dir.to_str().unwrap(),
        "--wave",
        "100%",
        "--bake",
        "60s",
        "--journal",
        jpath.to_str().unwrap(),
        "--yes",
    ];
    let log = lab.dir.join("run.log");
    let mut run = Background::spawn(meshroll_cmd(&lab, &inv, &args), &log);
    // Wait for two healthy bake polls of the canary.
    run.wait_journal(&jpath, "two healthy bake polls", |j| {
        let ok_polls = events(j, "bake_polled", "g01")
            .iter()
            .filter(|v| v["ok"] == true)
            .count();
        ok_polls >= 2
    });
    let g01 = lab.node("g01");
    g01.set_ready(&lab, 503);
    let code = run.wait_exit(
        Duration::from_secs(30),
        "the dead canary did not halt the class",
    );
    let o = fs::read_to_string(&log).unwrap();
    eprintln!("{o}");
    assert_eq!(code, Some(1), "{o}");
    assert!(
        o.contains(
            "halted: class gateway: the canary g01 failed its bake (dead: gateway readyz: 503"
        ),
        "{o}"
    );
    let j = journal(&jpath);
    let landed = events(&j, "node_landed", "g01");
    let started = events(&j, "bake_started", "g01");
    assert_eq!(landed.len(), 1, "{o}");
    assert_eq!(started.len(), 1, "{o}");
    assert_eq!(started[0]["duration_ms"], 60_000);
    let failed: Vec<&Value> = events(&j, "bake_polled", "g01")
        .into_iter()
        .filter(|v| v["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{o}");
    assert!(
        failed[0]["verdict"]
            .as_str()
            .unwrap()
            .starts_with("dead: gateway readyz: 503"),
        "{}",
        failed[0]
    );
    // Halted well before the bake's end, and never past it.
    assert!(ts(failed[0]) < ts(started[0]) + 60_000, "{o}");
    for n in ["g02", "g03"] {
        let node = lab.node(n);
        assert!(
            j.iter().all(|v| v["node_name"] != n),
            "{n} was touched: {o}"
        );
        assert!(!node.state_dir().join("meshroll.lock").exists(), "{n}: {o}");
        assert!(!node.bundle_dir(&sha).exists(), "{n}: {o}");
        assert!(!node.is_drained(), "{n}: {o}");
    }
}

/// A bake that stays healthy holds the wave back for its whole length, then lets it go.
#[test]
fn a_healthy_bake_holds_the_wave_for_its_length_then_widens() {
    let lab = Lab::start(&NodeSpec::many("g", 2, "gateway"));
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let jpath = lab.dir.join("j.jsonl");
    let (out, _) = meshroll(
        &lab,
        &inv,
        &[
            "--poll-interval",
            "1",
            "rollout",
            "--skills",
            src.dir.to_str().unwrap(),
            "--bake",
            "4s",
            "--journal",
            jpath.to_str().unwrap(),
            "--yes",
        ],
    );
    let o = text(&out);
    eprintln!("{o}");
    assert_eq!(out.status.code(), Some(0), "{o}");
    let j = journal(&jpath);
    let landed = ts(events(&j, "node_landed", "g01")[0]);
    let done = events(&j, "bake_done", "g01");
    assert_eq!(done.len(), 1, "{o}");
    let polls = done[0]["polls"].as_u64().unwrap();
    assert!(
        (3..=6).contains(&polls),
        "polled about every second: {polls}"
    );
    let wave_start = ts(events(&j, "phase_started", "g02")[0]);
    assert!(
        wave_start >= landed + 4_000,
        "g02 started {} ms after the canary landed, inside the 4 s bake",
        wave_start - landed
    );
    assert!(wave_start >= ts(done[0]), "{o}");
    assert!(o.contains("g01 baked through"), "{o}");
    for n in &lab.nodes {
        assert_eq!(n.current().as_deref(), Some(sha.as_str()));
    }
}

// ---------------------------------------------------------------------------------------
// stopping never strands a node; landed means landed (issue 17)

/// The `node_stopped` record of `node`: where the rollout left it.
fn left_of(j: &[Value], node: &str) -> Option<String> {
    events(j, "node_stopped", node)
        .last()
        .map(|v| v["left"].as_str().unwrap_or("").to_string())
}

/// SIGTERM to a headless rollout while the canary syncs: nothing new starts, the sync
/// finishes, the canary is undrained and unlocked (serving the old bundle), the nodes
/// not started are untouched, the recap and the journal say where each was left, and
/// the exit status is non-zero. A new run then lands every node (no stale lock).
#[test]
fn sigterm_to_a_headless_rollout_puts_the_node_in_flight_back() {
    let lab = Lab::start(&NodeSpec::many("w", 3, "worker"));
    on_old_bundle(&lab);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let w01 = lab.node("w01");
    let inv = rsync_inventory(&lab, w01, "sleep 3\nexec rsync \"$@\"");
    let jpath = lab.dir.join("j.jsonl");
    let args = rollout_args(&src.dir, &jpath, &["--wave", "100%"]);
    let log = lab.dir.join("run.log");
    let mut run = Background::spawn(meshroll_cmd(&lab, &inv, &args), &log);
    run.wait_journal(&jpath, "w01's sync", |j| {
        phase_count(j, "phase_started", "w01", "sync") == 1
    });
    assert!(w01.is_drained());
    let pid = run.id() as libc::pid_t;
    // SAFETY: sending a signal to the child we spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = run.child.wait().unwrap();
    let o = fs::read_to_string(&log).unwrap();
    eprintln!("{o}");
    assert_eq!(status.code(), Some(1), "non-zero: nothing landed\n{o}");
    assert!(o.contains("SIGTERM: stopping"), "{o}");
    let j = journal(&jpath);
    assert_eq!(
        phase_count(&j, "phase_done", "w01", "sync"),
        1,
        "the sync finished"
    );
    assert_eq!(phase_count(&j, "phase_started", "w01", "verify"), 0);
    assert_eq!(phase_count(&j, "phase_done", "w01", "undrain"), 1);
    assert_eq!(left_of(&j, "w01").as_deref(), Some("restored"), "{o}");
    assert!(!w01.is_drained());
    assert!(!w01.state_dir().join("meshroll.lock").exists());
    assert_eq!(w01.current().as_deref(), Some(OLD));
    for n in ["w02", "w03"] {
        assert!(events(&j, "phase_started", n).is_empty(), "{n} started");
        assert!(!lab.node(n).is_drained());
    }
    assert!(
        o.contains("  stopped    w01: undrained and unlocked, serving its old bundle"),
        "{o}"
    );
    assert!(
        o.contains("0 landed, 0 failed, 0 skipped, 1 stopped, 2 not started"),
        "{o}"
    );
    // The next run takes w01 from the start: no lock left behind.
    let inv2 = inventory(&lab, "inv2.ini", |_| String::new());
    let o2 = rollout_ok(&lab, &inv2, &src, &jpath, &[]);
    for n in &lab.nodes {
        assert_eq!(n.current().as_deref(), Some(sha.as_str()), "{o2}");
        assert!(!n.is_drained());
    }
}

/// A process on the node that puts `current` back to the old bundle after the switch:
/// the probe sees it and fails the node (`current is <old>, not the bundle`, once, not
/// retried) instead of printing LANDED; the run exits non-zero and the node, whose
/// wind-down probe fails the same way, is left drained with its lock released, named in
/// the recap with the command that finishes it.
#[test]
fn current_put_back_after_the_switch_fails_the_node() {
    let lab = Lab::start(&[NodeSpec::new("w01", "worker")]);
    let w01 = lab.node("w01");
    w01.install_bundle(OLD, None);
    w01.set_current(Some(OLD));
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    // The rogue: whenever `current` is not the old bundle, it puts it back.
    let root = w01.skills_root();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let rogue = std::thread::spawn(move || {
        let mut resets = 0;
        while !s.load(Ordering::Relaxed) {
            let cur = root.join("current");
            if fs::read_link(&cur).is_ok_and(|t| t.display().to_string() != OLD) {
                let tmp = root.join(".rogue");
                let _ = fs::remove_file(&tmp);
                std::os::unix::fs::symlink(OLD, &tmp).unwrap();
                fs::rename(&tmp, &cur).unwrap();
                resets += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        resets
    });
    let inv = inventory(&lab, "inv.ini", |_| String::new());
    let jpath = lab.dir.join("j.jsonl");
    let (out, _) = meshroll(
        &lab,
        &inv,
        &rollout_args(&src.dir, &jpath, &["--probe-timeout", "5"]),
    );
    stop.store(true, Ordering::Relaxed);
    let resets = rogue.join().unwrap();
    let o = text(&out);
    eprintln!("{o}");
    assert!(resets >= 1, "the rogue put current back");
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(!o.contains("LANDED"), "{o}");
    let want = format!("current is {OLD}, not the bundle");
    assert!(o.contains(&format!("w01 FAILED at probe: {want}")), "{o}");
    let j = journal(&jpath);
    assert!(events(&j, "node_landed", "w01").is_empty());
    assert_eq!(
        events(&j, "phase_failed", "w01")
            .iter()
            .filter(|v| v["phase"] == "probe")
            .map(|v| v["failure"]["kind"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        vec!["fatal", "fatal"],
        "the probe and the wind-down's probe, never retried: {o}"
    );
    assert_eq!(left_of(&j, "w01").as_deref(), Some("drained"), "{o}");
    assert!(w01.is_drained(), "left drained: its probe failed");
    assert!(
        !w01.state_dir().join("meshroll.lock").exists(),
        "lock released"
    );
    assert!(
        o.contains(&format!("left drained: probe failed: {want}")),
        "{o}"
    );
    assert!(o.contains("to finish it, run the rollout again: "), "{o}");
    assert_ne!(w01.current().as_deref(), Some(sha.as_str()));
}

/// `x` then `y` on a node mid-sync in the dashboard, on real nodes: the sync finishes,
/// the node is undrained and unlocked (serving its old bundle), the rollout goes on with
/// the others, and quitting prints where the node was left and exits non-zero. The next
/// rollout of the same bundle is not refused by a stale lock.
#[test]
fn skip_mid_sync_in_the_dashboard_undrains_and_unlocks_the_node() {
    let lab = Lab::start(&NodeSpec::many("w", 3, "worker"));
    on_old_bundle(&lab);
    let src = skills("one");
    let (sha, _) = manifest_ids(&src.dir);
    let w01 = lab.node("w01");
    let inv = rsync_inventory(&lab, w01, "sleep 4\nexec rsync \"$@\"");
    let jpath = lab.dir.join("j.jsonl");
    let mut words: Vec<String> = vec![bin().get_program().to_string_lossy().into_owned()];
    words.extend(base_args(&lab, &inv));
    words.extend(
        [
            "--skills",
            src.dir.to_str().unwrap(),
            "--wave",
            "100%",
            "--journal",
            jpath.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let cmd = format!(
        "{}; echo MESHROLL-EXITED=$?; sleep 60",
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let t = common::tmux::Tmux::start("skip-lab", &cmd, 160, 40);
    t.wait_for("the staged rollout, paused", |s| {
        s.contains("PHASE") && s.contains("paused — n step a phase")
    });
    t.keys(&["c"]);
    rollout_run::wait_journal(
        &jpath,
        "w01 start its sync",
        |j| phase_count(j, "phase_started", "w01", "sync") > 0,
        String::new,
    );
    assert!(w01.is_drained());
    // w01 is the first row: skip it.
    t.keys(&["x"]);
    t.wait_for("the skip question", |s| s.contains("skip w01?"));
    t.keys(&["y"]);
    wait_for(
        Duration::from_secs(90),
        Duration::from_millis(100),
        "never done",
        || {
            let j = journal(&jpath);
            let landed = ["w02", "w03"]
                .iter()
                .all(|n| !events(&j, "node_landed", n).is_empty());
            (landed && left_of(&j, "w01").is_some()).then_some(())
        },
        || format!("{:?}", t.capture()),
    );
    t.keys(&["q"]);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(screen.contains("MESHROLL-EXITED=1"), "{screen}");
    assert!(
        screen.contains("skipped    w01: undrained and unlocked, serving its old bundle"),
        "{screen}"
    );
    let j = journal(&jpath);
    assert_eq!(
        phase_count(&j, "phase_done", "w01", "sync"),
        1,
        "the sync finished"
    );
    assert_eq!(phase_count(&j, "phase_started", "w01", "verify"), 0);
    assert_eq!(left_of(&j, "w01").as_deref(), Some("restored"));
    assert!(!w01.is_drained());
    assert!(!w01.state_dir().join("meshroll.lock").exists());
    assert_eq!(w01.current().as_deref(), Some(OLD));
    for n in ["w02", "w03"] {
        assert_eq!(lab.node(n).current().as_deref(), Some(sha.as_str()));
    }
    // The same bundle again: w01 is taken from the start, no lock in the way.
    let inv2 = inventory(&lab, "inv2.ini", |_| String::new());
    let o = rollout_ok(&lab, &inv2, &src, &jpath, &[]);
    assert!(!o.contains("locked by another rollout"), "{o}");
    assert_eq!(w01.current().as_deref(), Some(sha.as_str()), "{o}");
}
