//! Locks in plain sight and exit codes for scripts, against real sshd nodes on loopback
//! (tests/common) and real rsync: a lock left by a dead process shows in `locks --json`
//! as stale with its owner gone, `unlock` says whether the owner's process is alive,
//! `status` exits 0 / 1 / 2 for a healthy fleet / a dead node / a bad inventory, and
//! `rollout --node` touches only the named node.
//!
//! `MESHROLL_TEST_BIN` runs these against another build (the code before the change).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::{Lab, LabNode, NodeSpec, bundle_lock};
use rollout_run::{Opts, Skills, bin, manifest_ids, meshroll_with, text};
use serde_json::Value;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// meshroll on the lab's fleet with `inv` and `--timeout 8`, answering `stdin` when given.
fn meshroll(lab: &Lab, inv: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut all = vec!["--timeout", "8"];
    all.extend_from_slice(args);
    meshroll_with(
        lab,
        inv,
        &all,
        &Opts {
            stdin,
            ..Opts::default()
        },
    )
}

/// A healthy fleet member on bundle `sha`.
fn healthy(n: &LabNode, sha: &str) {
    n.serve(sha);
    n.set_mode("ready");
}

/// n01, n02 and n03, healthy on bundle `A`.
fn healthy_lab() -> Lab {
    let lab = Lab::start(&[
        NodeSpec::new("n01", "worker"),
        NodeSpec::new("n02", "worker"),
        NodeSpec::new("n03", "worker"),
    ]);
    for n in &lab.nodes {
        healthy(n, A);
    }
    lab
}

/// Plant a node lock as a rollout leaves it: the owner line and a heartbeat, both files
/// dated `age` ago.
fn plant_lock(n: &LabNode, owner: &str, age: Duration) {
    let lock = n.state_dir().join("meshroll.lock");
    fs::create_dir_all(&lock).unwrap();
    let then = SystemTime::now() - age;
    let secs = then
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (file, body) in [
        ("owner", format!("{owner}\n")),
        ("heartbeat", format!("{secs}\n")),
    ] {
        let p = lock.join(file);
        fs::write(&p, body).unwrap();
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(then)
            .unwrap();
    }
}

/// A pid no process has: a child that ran and was reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn a_lock_left_by_a_dead_process_is_stale_and_unlock_says_its_owner_is_gone() {
    let lab = healthy_lab();
    let host = meshroll::cmd::rollout::hostname().unwrap();
    let gone = dead_pid();
    // n01: a rollout of this host that was killed 10 minutes ago.
    plant_lock(
        lab.node("n01"),
        &format!("r-dead {}@{host}/pid{gone} 1800000000", lab.user),
        Duration::from_secs(600),
    );
    // n02: a rollout of this host that is alive (this test's process) and beat just now.
    let me = std::process::id();
    plant_lock(
        lab.node("n02"),
        &format!("r-live {}@{host}/pid{me} 1800000000", lab.user),
        Duration::from_secs(2),
    );
    let inv = lab.write_inventory_ini();

    let out = meshroll(&lab, &inv, &["locks", "--json"], None);
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    let locks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(locks.len(), 2, "n03 is not locked: {o}");
    let dead = &locks[0];
    assert_eq!(dead["node"], "n01");
    assert_eq!(dead["stale"], true, "{dead}");
    assert_eq!(dead["owner_alive"], false, "{dead}");
    assert_eq!(dead["host"], host.as_str());
    assert_eq!(dead["pid"], gone);
    assert_eq!(dead["rollout"], "r-dead");
    assert!(dead["heartbeat_age_s"].as_u64().unwrap() >= 590, "{dead}");
    let live = &locks[1];
    assert_eq!(live["node"], "n02");
    assert_eq!(live["stale"], false, "{live}");
    assert_eq!(live["owner_alive"], true, "{live}");

    // The readable list says the same in words.
    let out = meshroll(&lab, &inv, &["locks"], None);
    let o = text(&out);
    assert!(
        o.lines().any(|l| l.starts_with("n01  ⚿ stale  owner ")
            && l.contains("rollout r-dead")
            && l.ends_with("its process is gone from this host")),
        "{o}"
    );
    assert!(o.lines().any(|l| l.starts_with("n02  ⚿ locked")), "{o}");

    // status --json carries the lock on the row.
    let out = meshroll(&lab, &inv, &["status", "--json"], None);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["lock"]["stale"], true);
    assert_eq!(rows[2]["lock"], Value::Null);

    // unlock shows whether the owner's process is alive before it asks; "n" keeps it.
    let out = meshroll(&lab, &inv, &["unlock", "--node", "n01"], Some("n\n"));
    let o = text(&out);
    assert!(
        o.contains(&format!(
            "n01: its owner's process (pid {gone}) is gone from this host"
        )),
        "{o}"
    );
    assert!(lab.node("n01").state_dir().join("meshroll.lock").is_dir());
    let out = meshroll(&lab, &inv, &["unlock", "--node", "n02"], Some("n\n"));
    let o = text(&out);
    assert!(
        o.contains(&format!(
            "n02: its owner's process (pid {me}) is still running on this host"
        )),
        "{o}"
    );
    // Removed with --yes: the next `locks` lists only n02.
    let out = meshroll(&lab, &inv, &["unlock", "--node", "n01", "--yes"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = meshroll(&lab, &inv, &["locks", "--json"], None);
    let locks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0]["node"], "n02");
}

#[test]
fn status_exit_codes_follow_the_fleet() {
    let lab = healthy_lab();
    let inv = lab.write_inventory_ini();
    let out = meshroll(&lab, &inv, &["status"], None);
    assert_eq!(out.status.code(), Some(0), "all healthy: {}", text(&out));

    // A dead node (its sshd stopped): 1, naming it on stderr.
    lab.node("n02").stop_sshd();
    let out = meshroll(&lab, &inv, &["status"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(err.contains("n02 dead: "), "{err}");
    // --explain judges the explained node alone.
    let out = meshroll(&lab, &inv, &["status", "--explain", "n01"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    lab.node("n02").start_sshd();
    let out = meshroll(&lab, &inv, &["status"], None);
    assert_eq!(out.status.code(), Some(0), "back: {}", text(&out));

    // A skewed node: 0 by default, 1 with --fail-on skew, naming it.
    let n03 = lab.node("n03");
    n03.install_bundle(B, Some(&bundle_lock(B)));
    n03.set_current(Some(B));
    let out = meshroll(&lab, &inv, &["status"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = meshroll(&lab, &inv, &["status", "--json", "--fail-on", "skew"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(err.contains("n03 skewed: "), "{err}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 3, "stdout keeps the JSON");
    healthy(n03, A);

    // meshroll itself cannot run: a bad inventory, a missing ssh config, bad arguments.
    let bad = lab.dir.join("bad.ini");
    fs::write(&bad, "[worker]\nn01 ansible_host=-oProxyCommand=touch\n").unwrap();
    let out = meshroll(&lab, &bad, &["status"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = bin()
        .args(["-i", inv.to_str().unwrap()])
        .args(["--ssh-config", lab.dir.join("nope.conf").to_str().unwrap()])
        .args(["--log-dir", lab.dir.join("log").to_str().unwrap()])
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = meshroll(&lab, &inv, &["status", "--no-such-flag"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // --help says so.
    let out = bin().args(["status", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Exit status:") && help.contains("2  meshroll itself could not run"),
        "{help}"
    );
}

/// A skills tree committed in a fresh git repository.
fn skills() -> Skills {
    Skills::commit(
        &[
            ("README.md", b"skills for --node\n"),
            ("weather/SKILL.md", b"# weather\n"),
        ],
        "skills",
    )
}

#[test]
fn rollout_node_touches_only_the_named_node() {
    let lab = healthy_lab();
    // A quick prewarm on every node.
    let inv = lab.write_inventory_with("inv.ini", |_| {
        "meshroll_prewarm_cmd=\"echo warmed\"".to_string()
    });
    let skills = skills();
    let src = &skills.dir;
    let journal = lab.dir.join("j.jsonl");
    let src_s = src.to_str().unwrap();
    let j = journal.to_str().unwrap();

    // The plan names n02 alone.
    let out = meshroll(
        &lab,
        &inv,
        &["rollout", "--skills", src_s, "--node", "n02", "--check"],
        None,
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    assert!(
        o.contains("worker): 1 nodes") && o.contains("canary  n02"),
        "{o}"
    );
    assert!(!o.contains("n01") && !o.contains("n03"), "{o}");
    // A name not in the inventory is refused before anything runs.
    let out = meshroll(
        &lab,
        &inv,
        &["rollout", "--skills", src_s, "--node", "n2", "--yes"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--node n2: no such node"),
        "{}",
        text(&out)
    );

    for n in &lab.nodes {
        n.clear_calls();
    }
    let out = meshroll(
        &lab,
        &inv,
        &[
            "rollout",
            "--skills",
            src_s,
            "--node",
            "n02",
            "--journal",
            j,
            "--yes",
        ],
        None,
    );
    let o = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}");
    let (sha, _) = manifest_ids(src);
    assert_eq!(lab.node("n02").current().as_deref(), Some(sha.as_str()));
    for other in ["n01", "n03"] {
        let n = lab.node(other);
        assert_eq!(n.current().as_deref(), Some(A), "{other} untouched");
        assert!(!n.bundle_dir(&sha).exists(), "{other} got no copy");
        assert!(!n.state_dir().join("meshroll.lock").exists());
        assert!(
            n.calls()
                .iter()
                .all(|c| !c.contains("prewarm") && !c.contains("doctor")),
            "{other}: {:?}",
            n.calls()
        );
    }
    // The journal names n02 alone.
    let lines = fs::read_to_string(&journal).unwrap();
    assert!(lines.contains("\"n02\""), "{lines}");
    assert!(
        !lines.contains("\"n01\"") && !lines.contains("\"n03\""),
        "{lines}"
    );
}
