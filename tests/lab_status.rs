//! `meshroll status` against real sshd nodes on loopback (tests/common): every verdict,
//! reason and skew field on a mixed fleet, host key refusal, a hung node that must not
//! hold the others up, and a node whose sshd stops and comes back.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Lab, NodeSpec, bundle_lock};
use rollout_run::{meshroll, meshroll_cmd};
use serde_json::Value;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A node as a healthy fleet member: bundle A, fresh cache, gateway ready.
fn healthy(lab: &Lab, name: &str) {
    let n = lab.node(name);
    n.serve(A);
    n.set_mode("ready");
}

fn status_json(lab: &Lab, inv: &Path, timeout: u64) -> (Vec<Value>, Duration) {
    let t = timeout.to_string();
    let (out, took) = meshroll(lab, inv, &["--timeout", &t, "status", "--json"]);
    // 0: no node dead; 1: one is (the exit code scripts use); 2 would be meshroll failing.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("status --json prints JSON");
    (v.as_array().expect("an array").clone(), took)
}

fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["node"] == name)
        .unwrap_or_else(|| panic!("no row for {name}"))
}

#[track_caller]
fn verdict(rows: &[Value], name: &str, verdict: &str, reason_starts: &str) {
    let r = row(rows, name);
    assert_eq!(r["verdict"], verdict, "{name}: {r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(reason_starts),
        "{name}: reason {reason:?} should start with {reason_starts:?}"
    );
}

#[test]
fn mixed_fleet_every_verdict_reason_and_skew() {
    let mut specs = NodeSpec::many("g", 3, "gateway");
    specs.extend(NodeSpec::many("w", 16, "worker"));
    let lab = Lab::start(&specs);
    for n in &lab.nodes {
        healthy(&lab, &n.name);
    }
    // Gateway problems.
    lab.node("w01").set_mode("unreachable");
    lab.node("w02").set_mode("auth");
    lab.node("w03").set_mode("notjson");
    lab.node("w04").set_mode("hung");
    lab.node("w05").set_mode("slow");
    lab.node("w06").set_mode("state-ready");
    lab.node("w07").set_mode("binary");
    lab.node("w08").set_mode("huge");
    // Cache, drain, liveness.
    lab.node("w09").remove_cache();
    lab.node("w10").touch_cache(3 * 3600);
    lab.node("w11").set_drain(true);
    lab.node("w12").set_live(&lab, 503);
    // Manifest skew: another bundle; no current; a lock naming another tree; no lock.
    let w13 = lab.node("w13");
    w13.install_bundle(B, Some(&bundle_lock(B)));
    w13.set_current(Some(B));
    lab.node("w14").set_current(None);
    let w15 = lab.node("w15");
    w15.install_bundle(A, Some(&bundle_lock(B)));
    let w16 = lab.node("w16");
    std::fs::remove_file(w16.bundle_dir(A).join("skills.lock.json")).unwrap();
    // Build and version skew on a gateway.
    lab.node("g02").set_build(
        "2026.9.5-release-0123456789ab-2026-09-01T00-00-00.000Z",
        "2026.9.5",
        "2026.9.6",
    );

    let inv = lab.write_inventory_ini();
    let timeout = 6;
    let (rows, took) = status_json(&lab, &inv, timeout);
    assert_eq!(rows.len(), 19);

    verdict(&rows, "g01", "healthy", "ready, live, cache 5m");
    let g01 = row(&rows, "g01");
    assert_eq!(g01["class"], "gateway");
    assert_eq!(g01["gateway"]["ready"], true);
    assert_eq!(
        g01["gateway"]["build_id"],
        "2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z"
    );
    assert_eq!(g01["gateway"]["cli_version"], "2026.9.6");
    assert_eq!(g01["gateway"]["daemon_version"], "2026.9.6");
    assert_eq!(g01["manifest"]["sha"], A);
    assert_eq!(g01["manifest"]["state"], "in_sync");
    assert_eq!(g01["manifest"]["lock_sha256"].as_str().unwrap().len(), 64);
    assert!(g01["cache"]["age_s"].as_u64().unwrap() >= 300);
    assert_eq!(g01["drained"], false);
    assert_eq!(g01["error"], Value::Null);
    assert_eq!(g01["skew"]["any"], false);

    verdict(&rows, "w01", "dead", "gateway unreachable");
    assert_eq!(row(&rows, "w01")["gateway"]["ready"], false);
    assert!(
        row(&rows, "w01")["error"]
            .as_str()
            .unwrap()
            .contains("unreachable")
    );
    verdict(&rows, "w02", "dead", "gateway auth rejected");
    verdict(
        &rows,
        "w03",
        "dead",
        "gateway unparseable status: not JSON (exit 1)",
    );
    verdict(&rows, "w04", "dead", "gateway status timed out");
    verdict(&rows, "w05", "healthy", "ready");
    verdict(&rows, "w06", "healthy", "ready");
    verdict(
        &rows,
        "w07",
        "dead",
        "gateway unparseable status: output is not UTF-8",
    );
    verdict(&rows, "w08", "dead", "gateway status output too large");
    verdict(&rows, "w09", "draining", "warming: cache cold");
    assert_eq!(row(&rows, "w09")["cache"]["age_s"], Value::Null);
    verdict(&rows, "w10", "draining", "warming: cache stale");
    assert_eq!(row(&rows, "w10")["cache"]["stale"], true);
    verdict(&rows, "w11", "draining", "drained");
    assert_eq!(row(&rows, "w11")["drained"], true);
    verdict(&rows, "w12", "dead", "liveness failing: HTTP 503");

    let w13 = row(&rows, "w13");
    assert_eq!(w13["manifest"]["state"], "skew");
    assert_eq!(w13["manifest"]["sha"], B);
    assert_eq!(w13["manifest"]["reference"], A);
    assert_eq!(w13["skew"]["manifest"], true);
    assert_eq!(
        w13["verdict"], "healthy",
        "skew is shown beside the verdict"
    );
    let w14 = row(&rows, "w14");
    assert_eq!(w14["manifest"]["state"], "missing");
    assert_eq!(w14["manifest"]["sha"], Value::Null);
    let w15 = row(&rows, "w15");
    assert_eq!(w15["manifest"]["state"], "mismatch");
    assert!(
        w15["skew"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("lock file names")
    );
    let w16 = row(&rows, "w16");
    assert_eq!(w16["manifest"]["state"], "in_sync");
    assert_eq!(w16["manifest"]["unverified"], true);
    assert_eq!(w16["manifest"]["lock_sha256"], Value::Null);
    assert_eq!(
        w16["skew"]["any"], false,
        "an unverified bundle is not skew: {w16:#}"
    );
    assert_eq!(w16["polled"], true);

    let g02 = row(&rows, "g02");
    assert_eq!(g02["skew"]["versions"], true);
    assert_eq!(g02["gateway"]["daemon_version"], "2026.9.5");
    assert_eq!(
        g02["skew"]["build"], true,
        "two of three gateways run another build"
    );
    assert!(
        g02["skew"]["reasons"].as_array().unwrap().len() == 2,
        "{g02:#}"
    );
    assert_eq!(g02["verdict"], "healthy");
    let signals: Vec<&Value> = g02["skew"]["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["signal"])
        .collect();
    assert_eq!(signals, ["build", "version"], "{g02:#}");
    assert_eq!(
        g02["skew"]["diffs"][1]["value"],
        "cli 2026.9.6 / daemon 2026.9.5"
    );

    // The hung gateway was killed on its node; the poll did not wait for the
    // round-trip timeout of every node in turn.
    assert!(
        took < Duration::from_secs(timeout * 3),
        "19 nodes with one hung took {took:?}: polls are not concurrent"
    );
    // The hung stand-in was really killed on the node.
    assert_eq!(lab.node("w04").gateway_status_calls(), 1);
}

#[test]
fn plain_status_prints_a_readable_table() {
    let lab = Lab::start(&[
        NodeSpec::new("n01", "worker"),
        NodeSpec::new("n02", "worker"),
        NodeSpec::new("n03", "worker"),
    ]);
    healthy(&lab, "n01");
    healthy(&lab, "n02");
    healthy(&lab, "n03");
    lab.node("n02").set_drain(true);
    // n02 is also on another bundle than its class: its REASON says the verdict's
    // reason first, then the skew, in one column.
    let n02 = lab.node("n02");
    n02.install_bundle(B, Some(&bundle_lock(B)));
    n02.set_current(Some(B));
    let inv = lab.write_inventory_ini();
    // `--wide`: piped, the table is fitted to 80 columns and REASON is cut (tests/ui_fit.rs).
    let (out, _) = meshroll(&lab, &inv, &["status", "--wide"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("NODE") && lines[0].contains("VERDICT"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("n01") && lines[1].contains("healthy"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("n02") && lines[2].contains("draining"),
        "{text}"
    );
    let head: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        head,
        [
            "NODE", "CLASS", "VERDICT", "GATEWAY", "MANIFEST", "CACHE", "REASON"
        ],
        "{text}"
    );
    assert!(
        lines[2].ends_with("drained; manifest bbbbbbbbbbbb != class majority aaaaaaaaaaaa"),
        "{text}"
    );
}

/// `status --explain NODE` polls that node alone: beside a hung node (sshd frozen,
/// a poll of it would wait out `--timeout` 60 s and more), it answers at once, and a
/// third, healthy node of the same class is not asked for anything.
#[test]
fn explain_polls_its_node_alone_beside_a_hung_one() {
    let lab = Lab::start(&NodeSpec::many("n", 3, "worker"));
    for n in &lab.nodes {
        healthy(&lab, &n.name);
        n.clear_calls();
    }
    lab.node("n02").freeze_sshd();
    let inv = lab.write_inventory_ini();
    let mut child = meshroll_cmd(
        &lab,
        &inv,
        &["--timeout", "60", "status", "--explain", "n01", "--json"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("run meshroll");
    // Generous (a loaded machine), and far under what a poll of the frozen node
    // costs (the 60 s timeout, and the channel's open waits 30 s more).
    let bound = Instant::now() + Duration::from_secs(40);
    while child.try_wait().unwrap().is_none() && Instant::now() < bound {
        std::thread::sleep(Duration::from_millis(100));
    }
    let done = child.try_wait().unwrap().is_some();
    if !done {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    lab.node("n02").thaw_sshd();
    assert!(
        done,
        "--explain n01 waited on the frozen n02: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["node"], "n01");
    assert_eq!(v["verdict"], "healthy", "{v:#}");
    assert_eq!(v["polled"], true);
    assert!(v["skew"].as_array().is_some(), "{v:#}");
    // n01 was asked for its gateway status; n03 (healthy, same class) for nothing.
    assert_eq!(lab.node("n01").gateway_status_calls(), 1);
    assert_eq!(lab.node("n03").calls(), Vec::<String>::new());
}

#[test]
fn changed_host_key_is_refused_with_a_clear_error() {
    let lab = Lab::start(&[
        NodeSpec::new("n01", "worker"),
        NodeSpec::new("n02", "worker"),
    ]);
    healthy(&lab, "n01");
    healthy(&lab, "n02");
    // n01's known_hosts entry now carries n02's key: a man in the middle, as ssh sees it.
    let n01 = lab.node("n01");
    let n02 = lab.node("n02");
    let kh = std::fs::read_to_string(&lab.known_hosts).unwrap();
    let forged = kh.replace(
        &common::known_hosts_line(n01.port, &n01.host_key_pub),
        &common::known_hosts_line(n01.port, &n02.host_key_pub),
    );
    assert_ne!(kh, forged);
    std::fs::write(&lab.known_hosts, forged).unwrap();
    let inv = lab.write_inventory_ini();
    for accept_new in [false, true] {
        let mut args = vec!["--timeout", "5", "status", "--json"];
        if accept_new {
            args.insert(0, "--accept-new-host-keys");
        }
        let (out, _) = meshroll(&lab, &inv, &args);
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let r = row(&rows, "n01");
        assert_eq!(r["verdict"], "dead");
        let reason = r["reason"].as_str().unwrap();
        assert!(reason.contains("host key mismatch, refused"), "{reason}");
        assert_eq!(row(&rows, "n02")["verdict"], "healthy");
    }
}

#[test]
fn unknown_host_is_named() {
    let lab = Lab::start(&[NodeSpec::new("n01", "worker")]);
    healthy(&lab, "n01");
    let inv = lab.dir.join("unknown.ini");
    let good = std::fs::read_to_string(lab.write_inventory_ini()).unwrap();
    std::fs::write(
        &inv,
        format!("{good}\n[worker]\nghost ansible_host=no-such-host.invalid\n"),
    )
    .unwrap();
    let (rows, _) = status_json(&lab, &inv, 5);
    let r = row(&rows, "ghost");
    assert_eq!(r["verdict"], "dead");
    assert!(
        r["reason"].as_str().unwrap().contains("unknown host"),
        "{r:#}"
    );
    assert_eq!(row(&rows, "n01")["verdict"], "healthy");
}

#[test]
fn frozen_host_times_out_while_the_others_report() {
    let lab = Lab::start(&NodeSpec::many("n", 4, "worker"));
    for n in &lab.nodes {
        healthy(&lab, &n.name);
    }
    lab.node("n02").freeze_sshd();
    let inv = lab.write_inventory_ini();
    let (rows, _) = status_json(&lab, &inv, 3);
    lab.node("n02").thaw_sshd();
    let r = row(&rows, "n02");
    assert_eq!(r["verdict"], "dead");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("host unreachable") && reason.contains("timed out"),
        "{reason}"
    );
    for n in ["n01", "n03", "n04"] {
        assert_eq!(row(&rows, n)["verdict"], "healthy", "{n}");
    }
}

/// `status --watch --json` for `rounds` rounds, polling every second, the gateway status
/// on a one-hour cadence (so only the first round runs it).
fn watch_every_second(rounds: u32) -> Vec<String> {
    [
        "--poll-interval",
        "1",
        "--gateway-interval",
        "3600",
        "status",
        "--watch",
        "--json",
        "--count",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([rounds.to_string()])
    .collect()
}

#[test]
fn watch_rounds_poll_gateway_on_its_slow_cadence() {
    let lab = Lab::start(&NodeSpec::many("n", 2, "worker"));
    for n in &lab.nodes {
        healthy(&lab, &n.name);
        n.clear_calls();
    }
    let inv = lab.write_inventory_ini();
    let (out, _) = meshroll(&lab, &inv, &watch_every_second(3));
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rounds: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rounds.len(), 3);
    for (i, r) in rounds.iter().enumerate() {
        assert_eq!(r["round"], i as u64 + 1);
        assert!(r["round_ms"].as_u64().is_some());
        assert_eq!(r["nodes"].as_array().unwrap().len(), 2);
        assert_eq!(r["nodes"][0]["verdict"], "healthy");
    }
    // One gateway status per node for three rounds: the slow signal was not re-run.
    for n in &lab.nodes {
        assert_eq!(n.gateway_status_calls(), 1, "{}", n.name);
    }
    // The gateway signal ages between rounds, the cheap ones do not.
    let g_age = rounds[2]["nodes"][0]["gateway"]["age_s"].as_u64().unwrap();
    let m_age = rounds[2]["nodes"][0]["manifest"]["age_s"].as_u64().unwrap();
    assert!(
        g_age >= 1 && m_age == 0,
        "gateway {g_age}s, manifest {m_age}s"
    );
}

/// Two healthy nodes (calls cleared) under `status --watch --json --count 5`, cheap
/// signals every second and the gateway status only when one changes
/// (`--gateway-interval 3600`), with `change` done to the lab when round 2 comes in: the
/// lab, the rounds and meshroll's exit code.
fn changed_at_round_2(change: impl Fn(&Lab)) -> (Lab, Vec<Value>, Option<i32>) {
    use std::io::BufRead;
    let lab = Lab::start(&NodeSpec::many("n", 2, "worker"));
    for n in &lab.nodes {
        healthy(&lab, &n.name);
        n.clear_calls();
    }
    let inv = lab.write_inventory_ini();
    let mut child = meshroll_cmd(&lab, &inv, &watch_every_second(5))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut rounds = Vec::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["round"] == 2 {
            change(&lab);
        }
        rounds.push(v);
    }
    let code = child.wait().unwrap().code();
    (lab, rounds, code)
}

/// `node`'s row in the fifth round.
fn in_fifth_round(rounds: &[Value], node: &str) -> Value {
    rounds[4]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"] == node)
        .unwrap()
        .clone()
}

#[test]
fn a_liveness_change_fetches_the_gateway_status_at_once() {
    let (lab, rounds, code) = changed_at_round_2(|lab| {
        // The gateway on n02 goes away: its liveness fails first.
        lab.node("n02").set_mode("unreachable");
        lab.node("n02").set_live(lab, 503);
    });
    // n02 ends dead: status exits 1.
    assert_eq!(code, Some(1));
    assert_eq!(rounds.len(), 5);
    let n02 = in_fifth_round(&rounds, "n02");
    assert_eq!(n02["verdict"], "dead");
    assert_eq!(
        n02["gateway"]["state"], "unreachable",
        "the gateway status was polled again: {n02:#}"
    );
    // n02: the first round and one more after the change; n01: only the first.
    assert_eq!(lab.node("n02").gateway_status_calls(), 2);
    assert_eq!(lab.node("n01").gateway_status_calls(), 1);
}

#[test]
fn gateway_readyz_failing_is_dead_with_the_reason_and_in_the_json() {
    let mut lab = Lab::start(&NodeSpec::many("r", 3, "worker"));
    for n in &lab.nodes {
        healthy(&lab, &n.name);
    }
    // r02's gateway answers 503; nothing listens on r03's readiness port. Both gateway
    // statuses (the stand-in) still say ready, and liveness is up.
    lab.node("r02").set_ready(&lab, 503);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    lab.node_mut("r03").ready_url = format!("http://127.0.0.1:{port}/readyz");
    let inv = lab.write_inventory_ini();
    let (rows, _) = status_json(&lab, &inv, 6);
    verdict(&rows, "r01", "healthy", "ready, live");
    let z = &row(&rows, "r01")["gateway"]["readyz"];
    assert_eq!(z["ok"], true, "{z}");
    assert_eq!(z["code"], 200);
    assert!(z["age_s"].as_u64().is_some());
    verdict(&rows, "r02", "dead", "gateway readyz: 503 not ready");
    assert_eq!(
        row(&rows, "r02")["gateway"]["ready"],
        true,
        "status said ready"
    );
    assert_eq!(row(&rows, "r02")["gateway"]["readyz"]["ok"], false);
    assert_eq!(row(&rows, "r02")["gateway"]["readyz"]["code"], 503);
    verdict(&rows, "r03", "dead", "gateway readyz: connection refused");
    assert_eq!(row(&rows, "r03")["gateway"]["readyz"]["code"], Value::Null);
}

#[test]
fn an_empty_gateway_ready_url_disables_readyz() {
    let mut lab = Lab::start(&NodeSpec::many("e", 1, "worker"));
    healthy(&lab, "e01");
    lab.node_mut("e01").ready_url = String::new();
    let inv = lab.write_inventory_ini();
    let (rows, _) = status_json(&lab, &inv, 6);
    verdict(&rows, "e01", "healthy", "ready, live");
    assert_eq!(row(&rows, "e01")["gateway"]["readyz"], Value::Null);
}

#[test]
fn a_readyz_change_fetches_the_gateway_status_at_once() {
    let (lab, rounds, code) = changed_at_round_2(|lab| {
        // n02's gateway stops answering ready; the worker's liveness stays up.
        lab.node("n02").set_mode("unreachable");
        lab.node("n02").set_ready(lab, 503);
    });
    // n02 ends dead: status exits 1.
    assert_eq!(code, Some(1));
    assert_eq!(rounds.len(), 5);
    let n02 = in_fifth_round(&rounds, "n02");
    assert_eq!(n02["verdict"], "dead");
    assert_eq!(n02["reason"], "gateway readyz: 503 not ready");
    assert_eq!(n02["live"]["ok"], true);
    assert_eq!(
        n02["gateway"]["state"], "unreachable",
        "the gateway status was polled again: {n02:#}"
    );
    assert_eq!(lab.node("n02").gateway_status_calls(), 2);
    assert_eq!(lab.node("n01").gateway_status_calls(), 1);
}

/// Files planted for one test in system folders, removed on drop.
struct Planted(Vec<std::path::PathBuf>);

impl Drop for Planted {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The node's own PATH comes first: an old `node` sits in a fallback folder that the old
/// PATH line put first (`/opt/homebrew/bin`), the right one in `/usr/local/bin`, first
/// on the node's PATH. The CLI (`#!/usr/bin/env node`-like) must run under the right one.
#[test]
fn the_nodes_own_path_comes_before_the_fallback_folders() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::start(&NodeSpec::many("p", 1, "worker"));
    healthy(&lab, "p01");
    let n = lab.node("p01");
    // What the test stands on, checked (a lab where it does not hold fails here, naming
    // what is missing, rather than passing having checked nothing): the lab's login PATH
    // for this user holds /usr/local/bin and not /opt/homebrew/bin, and both folders are
    // writable here (the lab runs as root, as scripts/test.sh does).
    let o = lab.ssh("p01", "printf %s \"$PATH\"");
    let login_path = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        login_path.split(':').any(|p| p == "/usr/local/bin")
            && !login_path.split(':').any(|p| p == "/opt/homebrew/bin"),
        "lab: this test needs a login PATH with /usr/local/bin and without \
         /opt/homebrew/bin, got {login_path:?}"
    );
    for dir in ["/opt/homebrew/bin", "/usr/local/bin"] {
        if let Err(e) = std::fs::create_dir_all(dir) {
            panic!(
                "lab: this test plants a `node` in {dir} and cannot create it: {e} (run as root)"
            );
        }
    }
    let name = format!("mlnode{}", std::process::id());
    let old = std::path::PathBuf::from("/opt/homebrew/bin").join(&name);
    let right = std::path::PathBuf::from("/usr/local/bin").join(&name);
    let _planted = Planted(vec![old.clone(), right.clone()]);
    std::fs::write(
        &old,
        "#!/bin/sh\necho 'node:sqlite is unavailable; use 24.16+' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::write(&right, "#!/bin/sh\nexec \"$@\"\n").unwrap();
    for p in [&old, &right] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The node's CLI: found by the layout, runs its interpreter from PATH.
    let standin = n.openclaw();
    let real = standin.with_file_name("openclaw-standin");
    std::fs::rename(&standin, &real).unwrap();
    std::fs::write(
        &standin,
        format!("#!/bin/sh\nexec {name} {} \"$@\"\n", real.display()),
    )
    .unwrap();
    std::fs::set_permissions(&standin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let inv = lab.write_inventory_ini();
    let (rows, _) = status_json(&lab, &inv, 6);
    verdict(&rows, "p01", "healthy", "ready, live");
}
