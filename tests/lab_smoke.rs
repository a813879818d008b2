//! Smoke tests of the integration-test lab itself (tests/common): real sshd nodes on
//! loopback, the stand-in OpenClaw CLI, the liveness server. Uses plain `ssh`, not
//! meshroll, so a failure here is a lab problem, not a meshroll one.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Lab, NodeSpec, known_hosts_line};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn gateway_status(lab: &Lab, name: &str) -> (Output, serde_json::Value) {
    let n = lab.node(name);
    let o = lab.ssh(
        &n.alias,
        &format!("{} gateway status --json", n.openclaw().display()),
    );
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: gateway status not JSON ({e}): {}{}",
            stdout(&o),
            stderr(&o)
        )
    });
    (o, v)
}

fn http_code(url: &str) -> String {
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            url,
        ])
        .output()
        .expect("curl");
    stdout(&o)
}

#[test]
fn three_node_lab() {
    let mut specs = vec![NodeSpec::new("g01", "gateway")];
    specs.extend(NodeSpec::many("w", 2, "worker"));
    let lab = Lab::start(&specs);
    assert_eq!(lab.nodes.len(), 3);

    // every node answers, as the current user
    for n in &lab.nodes {
        let o = lab.ssh(&n.alias, "echo ok; id -un");
        assert!(o.status.success(), "{}: {}", n.name, stderr(&o));
        assert_eq!(stdout(&o), format!("ok\n{}\n", lab.user), "{}", n.name);
    }

    // the stand-in through ssh: ready JSON
    let (o, v) = gateway_status(&lab, "w01");
    assert!(o.status.success());
    assert_eq!(v["rpc"]["ok"], true);
    assert_eq!(v["cli"]["version"], "2026.9.6");

    // set_build shows up; other nodes untouched
    lab.node("w01").set_build("build-A", "2026.9.7", "2026.9.6");
    let (_, v) = gateway_status(&lab, "w01");
    assert_eq!(v["rpc"]["server"]["buildId"], "build-A");
    assert_eq!(v["rpc"]["server"]["version"], "2026.9.7");
    assert_eq!(v["cli"]["version"], "2026.9.6");
    let (_, v) = gateway_status(&lab, "w02");
    assert_eq!(
        v["rpc"]["server"]["buildId"],
        "2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z"
    );

    // set_mode changes what the node says; the real CLI exits 0 either way
    lab.node("w01").set_mode("unreachable");
    let (o, v) = gateway_status(&lab, "w01");
    assert!(o.status.success());
    assert_eq!(v["rpc"]["ok"], false);
    assert_eq!(v["rpc"]["connectFailure"]["kind"], "unreachable");
    lab.node("w01").set_mode("auth");
    let (_, v) = gateway_status(&lab, "w01");
    assert_eq!(v["rpc"]["ok"], false);
    assert_eq!(v["rpc"]["connectFailure"]["kind"], "auth-rejected");
    assert_eq!(v["port"]["status"], "busy");
    assert!(v["rpc"]["error"].as_str().unwrap().contains("unauthorized"));
    // calls are counted per node
    assert_eq!(lab.node("w01").gateway_status_calls(), 4);
    assert_eq!(lab.node("w02").gateway_status_calls(), 1);
    assert_eq!(lab.node("g01").gateway_status_calls(), 0);

    // a wrong host key for a port is refused, never accepted
    let (a, b) = (lab.node("w01"), lab.node("w02"));
    let wrong = lab.dir.join("known_hosts.wrong");
    std::fs::write(&wrong, known_hosts_line(a.port, &b.host_key_pub)).unwrap();
    let o = lab
        .ssh_command(&a.alias)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", wrong.display()))
        .args(["--", "echo", "ok"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || err.contains("Host key verification failed"),
        "{err}"
    );
    assert!(!stdout(&o).contains("ok"));

    // stop_sshd: ssh fails; start_sshd: back on the same port with the same key
    let port = lab.node("g01").port;
    lab.node("g01").stop_sshd();
    assert!(!lab.node("g01").sshd_running());
    let o = lab.ssh("g01", "echo ok");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Connection refused"), "{}", stderr(&o));
    lab.node("g01").start_sshd();
    assert_eq!(lab.node("g01").port, port);
    let o = lab.ssh("g01", "echo ok");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok\n");

    // liveness
    let url = &lab.node("w02").healthz_url;
    assert_eq!(http_code(url), "200");
    let body = Command::new("curl").args(["-s", url]).output().unwrap();
    assert_eq!(stdout(&body), r#"{"ok":true,"status":"live"}"#);
    lab.node("w02").set_live(&lab, 503);
    assert_eq!(http_code(url), "503");
    assert_eq!(http_code(&lab.node("w01").healthz_url), "200");
    assert_eq!(http_code(&lab.liveness.url("nope")), "404");
    assert_eq!(lab.liveness.hits("w02"), 3);
    // and from the node's side, as the poll script will do it
    let o = lab.ssh(
        "w02",
        &format!("curl -s -o /dev/null -w '%{{http_code}}' {url}"),
    );
    assert_eq!(stdout(&o), "503");
}

#[test]
fn standin_modes_and_node_files() {
    let lab = Lab::start(&[NodeSpec::new("n01", "worker")]);
    let n = lab.node("n01");
    let cli = n.openclaw().display().to_string();
    let run = |args: &str| lab.ssh("n01", &format!("{cli} {args}"));

    n.set_mode("notjson");
    let o = run("gateway status --json");
    assert_eq!(o.status.code(), Some(1));
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_err());

    n.set_mode("state-ready");
    let o = run("gateway status --json");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "ready");

    n.set_mode("binary");
    let o = run("gateway status --json");
    assert!(o.status.success());
    assert!(std::str::from_utf8(&o.stdout).is_err());

    n.set_mode("huge");
    let o = run("gateway status --json");
    assert_eq!(o.stdout.len(), 5_000_000);

    n.set_mode("slow");
    let t = Instant::now();
    let o = run("gateway status --json");
    assert!(t.elapsed() >= Duration::from_secs(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rpc"]["ok"], true);

    n.set_mode("hung");
    let o = lab
        .ssh_command("n01")
        .args(["--", "timeout", "1", &cli, "gateway", "status", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(124),
        "timeout(1) kills the hung stand-in"
    );

    let o = run("doctor --lint --json");
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 3);
    n.set_doctor("clean");
    assert_eq!(run("doctor --lint --json").status.code(), Some(0));
    n.set_doctor("error");
    let v: serde_json::Value = serde_json::from_slice(&run("doctor --lint --json").stdout).unwrap();
    assert_eq!(v["findings"][0]["severity"], "error");

    assert_eq!(stdout(&run("--version")), "OpenClaw 2026.9.6 (eb377ac)\n");
    n.set_build("", "", "2026.9.5");
    assert_eq!(stdout(&run("--version")), "OpenClaw 2026.9.5 (eb377ac)\n");
    let o = run("skills prewarm --manifest x");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown command"));

    let calls = n.calls();
    assert_eq!(calls.last().unwrap(), "skills prewarm --manifest x");
    assert_eq!(n.gateway_status_calls(), 6);

    // node files, seen through ssh
    let sr = n.skills_root().display().to_string();
    let st = n.state_dir().display().to_string();
    n.install_bundle("aaaa", Some("{\"files\":[]}"));
    n.install_bundle("bbbb", None);
    n.set_current(Some("aaaa"));
    assert_eq!(
        stdout(&lab.ssh("n01", &format!("readlink {sr}/current"))),
        "aaaa\n"
    );
    assert_eq!(
        stdout(&lab.ssh("n01", &format!("cat {sr}/current/skills.lock.json"))),
        "{\"files\":[]}"
    );
    n.set_current(Some("bbbb"));
    assert_eq!(n.current().as_deref(), Some("bbbb"));
    n.set_current(None);
    n.set_current(None);
    assert_eq!(n.current(), None);

    n.touch_cache(600);
    let o = lab.ssh(
        "n01",
        &format!("echo $(( $(date +%s) - $(stat -c %Y {st}/skill-cache-ready) ))"),
    );
    let age: i64 = stdout(&o).trim().parse().unwrap();
    assert!((599..=605).contains(&age), "{age}");
    n.remove_cache();
    assert!(
        !lab.ssh("n01", &format!("test -e {st}/skill-cache-ready"))
            .status
            .success()
    );
    n.set_drain(true);
    assert!(
        lab.ssh("n01", &format!("test -e {st}/drain"))
            .status
            .success()
    );
    n.set_drain(false);
    assert!(!n.is_drained());

    // the inventory file
    let inv = std::fs::read_to_string(lab.write_inventory_ini()).unwrap();
    assert!(
        inv.contains("[worker]\nn01 ansible_host=n01 meshroll_skills_root="),
        "{inv}"
    );
    assert!(inv.contains(&format!(
        "meshroll_healthz_url={} meshroll_run_as=\n",
        n.healthz_url
    )));
    let fleet = lab.inventory();
    assert_eq!(
        fleet.nodes[meshroll::inventory::NodeId::new(0)]
            .layout
            .run_as,
        ""
    );
    assert_eq!(fleet.classes, vec!["worker".to_string()]);
}

#[test]
fn frozen_sshd_hangs_and_thaws() {
    let lab = Lab::start(&[NodeSpec::new("f01", "worker")]);
    let n = lab.node("f01");
    n.freeze_sshd();
    let t = Instant::now();
    let o = lab
        .ssh_command("f01")
        .args(["-o", "ConnectTimeout=2", "--", "echo", "ok"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(t.elapsed() >= Duration::from_secs(2));
    n.thaw_sshd();
    let o = lab.ssh("f01", "echo ok");
    assert_eq!(stdout(&o), "ok\n", "{}", stderr(&o));
}

#[test]
fn ten_node_lab_starts_quickly() {
    let t = Instant::now();
    let lab = Lab::start(&NodeSpec::many("m", 10, "worker"));
    let started = t.elapsed();
    assert!(
        started < Duration::from_secs(15),
        "10-node lab took {started:?}"
    );
    std::thread::scope(|s| {
        for n in &lab.nodes {
            let lab = &lab;
            s.spawn(move || {
                let o = lab.ssh(&n.alias, "echo ok");
                assert_eq!(stdout(&o), "ok\n", "{}: {}", n.name, stderr(&o));
            });
        }
    });
    let mut ports: Vec<u16> = lab.nodes.iter().map(|n| n.port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 10);
    eprintln!(
        "10-node lab: started in {started:?}, all answered in {:?}",
        t.elapsed()
    );
}

/// The way meshroll connects: the `openssh` crate, native mux, strict host key checking,
/// the lab's ssh config and control directory.
#[test]
fn openssh_crate_multiplexed_sessions() {
    use openssh::{KnownHosts, SessionBuilder};
    let lab = Lab::start(&NodeSpec::many("s", 2, "worker"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut b = SessionBuilder::default();
        b.config_file(&lab.ssh_config)
            .known_hosts_check(KnownHosts::Strict)
            .control_directory(&lab.control_dir)
            .connect_timeout(Duration::from_secs(5));
        let s = b.connect_mux("s01").await.unwrap();
        // several channels over the one master, concurrently (below MaxSessions 10)
        let outs = futures::future::join_all((0..8).map(|i| {
            let s = &s;
            async move { s.command("echo").arg(i.to_string()).output().await.unwrap() }
        }))
        .await;
        for (i, o) in outs.iter().enumerate() {
            assert_eq!(stdout(o), format!("{i}\n"));
        }
        s.close().await.unwrap();

        // stop_sshd takes open connections down too (a master does not survive it)
        let s = b.connect_mux("s02").await.unwrap();
        assert_eq!(
            stdout(&s.command("echo").arg("up").output().await.unwrap()),
            "up\n"
        );
        lab.node("s02").stop_sshd();
        let r = s.command("echo").arg("still").output().await;
        assert!(r.is_err() || !r.unwrap().status.success());
        drop(s);
        lab.node("s02").start_sshd();
        let s = b.connect_mux("s02").await.unwrap();
        assert_eq!(
            stdout(&s.command("echo").arg("back").output().await.unwrap()),
            "back\n"
        );
        s.close().await.unwrap();

        // a changed host key is refused through the crate too
        let wrong = lab.dir.join("known_hosts.wrong");
        let (a, b2) = (lab.node("s01"), lab.node("s02"));
        std::fs::write(&wrong, known_hosts_line(a.port, &b2.host_key_pub)).unwrap();
        let mut b = SessionBuilder::default();
        b.config_file(&lab.ssh_config)
            .known_hosts_check(KnownHosts::Strict)
            .user_known_hosts_file(&wrong)
            .control_directory(&lab.control_dir);
        let Err(err) = b.connect_mux("s01").await else {
            panic!("wrong host key must be refused");
        };
        let msg = format!("{err:?}");
        assert!(
            msg.contains("Host key verification failed")
                || msg.contains("IDENTIFICATION HAS CHANGED"),
            "{msg}"
        );
    });
}

/// A `hung` stand-in whose ssh client went away keeps sleeping on the node; dropping the
/// lab reaps it.
#[test]
fn hung_standin_is_reaped_on_drop() {
    let lab = Lab::start(&[NodeSpec::new("h01", "worker")]);
    let n = lab.node("h01");
    n.set_mode("hung");
    let mut ssh = lab
        .ssh_command("h01")
        .arg("--")
        .arg(format!("{} gateway status --json", n.openclaw().display()))
        .spawn()
        .unwrap();
    let pids = n.standin_dir().join("pids");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    ssh.kill().unwrap();
    ssh.wait().unwrap();
    let pid = std::fs::read_to_string(&pids).unwrap().trim().to_string();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(
        proc_dir.exists(),
        "hung stand-in {pid} should still be sleeping"
    );
    drop(lab);
    let deadline = Instant::now() + Duration::from_secs(5);
    // gone, or a zombie waiting for init to reap it
    let gone = || {
        std::fs::read_to_string(proc_dir.join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    };
    while !gone() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone(), "hung stand-in {pid} survived the lab");
}
