//! The ssh layer on real sshd nodes: a master per node, reconnect after the node's sshd
//! dies and comes back, and a command that hangs after connecting times out.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Lab, NodeSpec};
use meshroll::inventory::{Fleet, NodeId};
use meshroll::observe::NodeState;
use meshroll::poller::{self, Cadence, PollCtx};
use meshroll::remote::ssh::{ChannelError, SshOptions, SshPool};
use meshroll::remote::{PollFailure, RemoteError, Transport};
use meshroll::verdict::{self, Kind, Rules};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_goes_dead_when_sshd_stops_and_comes_back_when_it_restarts() {
    let lab = Lab::start(&[
        NodeSpec::new("n01", "worker"),
        NodeSpec::new("n02", "worker"),
    ]);
    lab.all_ready();
    let ctx = lab.poll_ctx(4, true);
    let req = ctx.cadence.request(true, false);
    let mut st = NodeState::default();
    let judge = |st: &NodeState| {
        verdict::judge(st, meshroll::observe::now_ms(), &Rules::default()).unwrap()
    };

    poller::apply(&mut st, poller::poll_once(&ctx, NodeId::new(0), &req).await);
    assert_eq!(judge(&st).kind, Kind::Healthy, "{st:?}");
    // The master is shared: a second poll rides the same connection.
    let sock = common::ssh_pool(&ctx).control_socket(0).await.unwrap();
    assert!(sock.exists(), "control socket {sock:?}");

    lab.node("n01").stop_sshd();
    let r = poller::poll_once(&ctx, NodeId::new(0), &req).await;
    assert!(
        matches!(r.result, Err(PollFailure::Remote(_))),
        "{:?}",
        r.result
    );
    poller::apply(&mut st, r);
    let v = judge(&st);
    assert_eq!(v.kind, Kind::Dead);
    assert!(v.reason.starts_with("host unreachable"), "{}", v.reason);
    // The other node is not affected.
    let r2 = poller::poll_once(&ctx, NodeId::new(1), &req).await;
    assert!(r2.result.is_ok(), "{:?}", r2.result);

    lab.node("n01").start_sshd();
    poller::apply(&mut st, poller::poll_once(&ctx, NodeId::new(0), &req).await);
    assert_eq!(
        judge(&st).kind,
        Kind::Healthy,
        "after restart: {:?}",
        st.last_error
    );
    assert!(
        st.last_error.is_some(),
        "the outage stays visible as the last error"
    );
    ctx.transport.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_hanging_on_a_connected_node_times_out() {
    let lab = Lab::start(&[NodeSpec::new("n01", "worker")]);
    lab.all_ready();
    let ctx = lab.poll_ctx(3, true);
    let req = ctx.cadence.request(false, false);
    assert!(
        poller::poll_once(&ctx, NodeId::new(0), &req)
            .await
            .result
            .is_ok()
    );
    lab.node("n01").freeze_sshd();
    let r = poller::poll_once(&ctx, NodeId::new(0), &req).await;
    lab.node("n01").thaw_sshd();
    match r.result {
        Err(PollFailure::Remote(RemoteError::Timeout(3))) => {}
        other => panic!("expected a 3 s timeout, got {other:?}"),
    }
    // And it recovers once the host answers again.
    let mut ok = false;
    for _ in 0..5 {
        if poller::poll_once(&ctx, NodeId::new(0), &req)
            .await
            .result
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ok, "the node did not come back after thawing");
    ctx.transport.close().await;
}

/// What the test scripts answer to request `id`: an answer with its id.
fn answer(id: u64) -> Vec<u8> {
    format!("{{\"v\":1,\"id\":{id}}}").into_bytes()
}

fn pool(lab: &Lab, timeout: u64) -> SshPool {
    let inv = lab.inventory();
    let mut opts = SshOptions::new(Some(lab.ssh_config.clone()), Duration::from_secs(timeout));
    opts.control_dir = lab.control_dir.clone();
    SshPool::new(inv.nodes.clone(), opts).unwrap()
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

/// A node whose command floods stdout: reading stops at the cap and the channel is
/// closed, with "output over N MiB" as the error (before: a 10 s time-out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_command_is_cut_at_the_cap_not_timed_out() {
    let lab = Lab::start(&[NodeSpec::new("f01", "worker")]);
    let pool = pool(&lab, 10);
    let cap = 1024 * 1024;
    let r = pool
        .run(0, &argv(&["sh", "-c", "yes flood"]), b"", cap)
        .await;
    match r {
        Err(RemoteError::OutputTooLarge(c)) => assert_eq!(c, cap),
        other => panic!("expected output over the cap, got {other:?}"),
    }
    assert_eq!(
        RemoteError::OutputTooLarge(cap).to_string(),
        "output over 1 MiB"
    );
    // A flood on stderr alone is read and dropped past its cap: the command finishes.
    let r = pool
        .run(
            0,
            &argv(&["sh", "-c", "head -c 5000000 /dev/zero >&2; echo done"]),
            b"",
            cap,
        )
        .await
        .expect("a chatty stderr does not wedge the command");
    assert_eq!(r.stdout, b"done\n".to_vec());
    assert_eq!(r.code, Some(0));
    assert!(r.stderr.len() <= 64 * 1024);
    // The node is still usable afterwards.
    let r = pool.run(0, &argv(&["echo", "ok"]), b"", cap).await.unwrap();
    assert_eq!(r.stdout, b"ok\n".to_vec());
    pool.close_all().await;
}

/// A poll channel whose node floods its answer: cut at the cap, the channel closed, the
/// next poll opens a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_poll_channel_is_cut_and_reopened() {
    let lab = Lab::start(&[NodeSpec::new("f01", "worker")]);
    let pool = pool(&lab, 10);
    let sh = argv(&["sh", "-s"]);
    let flood = || {
        "main() { printf '%s\\n' '{\"v\":1,\"hello\":1}'; read q; cat /dev/zero; }\nmain\n"
            .to_string()
    };
    let echo = || {
        "main() { printf '%s\\n' '{\"v\":1,\"hello\":1}'; while read p id; do printf '{\"v\":1,\"id\":%s}\\n' \"$id\"; done; }\nmain\n".to_string()
    };
    let req = |id: u64| format!("p {id}\n");
    match pool
        .poll_channel(0, &sh, &flood, &req, 64 * 1024, Duration::from_secs(10))
        .await
    {
        Err(ChannelError::Remote(RemoteError::OutputTooLarge(c))) => assert_eq!(c, 64 * 1024),
        other => panic!("expected output over the cap, got {other:?}"),
    }
    // The flooding channel is gone; a new one (here an honest script) answers.
    let (id, line) = pool
        .poll_channel(0, &sh, &echo, &req, 64 * 1024, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(line, answer(id));
    let (id2, line) = pool
        .poll_channel(0, &sh, &echo, &req, 64 * 1024, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(id2, id + 1, "the same channel answers the next request");
    assert_eq!(line, answer(id2));
    pool.close_all().await;
}

/// A control directory planted as a symlink by someone else is refused, and its target
/// is left alone (before: followed and chmodded to 0700).
#[test]
fn a_planted_control_dir_symlink_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let victim = t.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cm = t.path().join("cm");
    std::os::unix::fs::symlink(&victim, &cm).unwrap();
    let mut opts = SshOptions::new(None, Duration::from_secs(5));
    opts.control_dir = cm.clone();
    let r = SshPool::new(Vec::new(), opts.clone());
    assert!(r.is_err(), "a symlinked control dir must be refused");
    let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "the target was not chmodded");
    // A real directory with a loose mode is refused too, not silently fixed.
    let loose = t.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
    opts.control_dir = loose;
    assert!(SshPool::new(Vec::new(), opts).is_err());
}

/// Closing the pool closes every master and removes its control socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_removes_the_control_sockets() {
    let lab = Lab::start(&[
        NodeSpec::new("c01", "worker"),
        NodeSpec::new("c02", "worker"),
    ]);
    lab.all_ready();
    let ctx = lab.poll_ctx(5, true);
    let req = ctx.cadence.request(false, false);
    for i in 0..2 {
        assert!(
            poller::poll_once(&ctx, NodeId::new(i), &req)
                .await
                .result
                .is_ok()
        );
    }
    let socks = vec![
        common::ssh_pool(&ctx).control_socket(0).await.unwrap(),
        common::ssh_pool(&ctx).control_socket(1).await.unwrap(),
    ];
    for s in &socks {
        assert!(s.exists(), "{s:?}");
    }
    ctx.transport.close().await;
    for s in &socks {
        assert!(!s.exists(), "control socket left behind: {s:?}");
    }
    let left: Vec<_> = std::fs::read_dir(&lab.control_dir)
        .unwrap()
        .flatten()
        .collect();
    assert!(left.is_empty(), "control dir not empty: {left:?}");
}

/// The node-side poll shells of a lab node (`sh -s` under its sshd).
fn node_shells(lab: &Lab, name: &str) -> Vec<u32> {
    let Some(pid) = lab.node(name).sshd_pid() else {
        return Vec::new();
    };
    common::procs::descendants(pid)
        .into_iter()
        .filter(|p| common::procs::cmdline(*p).is_some_and(|c| c == "sh -s"))
        .collect()
}

/// Wait (up to `secs`) for a poll result of node `idx` that `f` accepts.
async fn wait_for(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<poller::PollResult>,
    seen: &mut [usize],
    idx: usize,
    secs: u64,
    f: impl Fn(&poller::PollResult) -> bool,
) -> poller::PollResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let r = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no matching result for node {idx} in {secs}s"))
            .expect("poll loops ended");
        seen[r.node.index()] += 1;
        if r.node.index() == idx && f(&r) {
            return r;
        }
    }
}

/// A hung poll (the node-side shell stopped, as by a `sleep` that never ends) and a
/// channel closed mid-answer: that node reads `dead` with the reason, the others keep
/// answering meanwhile, and it recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_poll_and_a_channel_closed_mid_answer_recover_by_themselves() {
    let lab = Lab::start(&NodeSpec::many("h", 3, "worker"));
    lab.all_ready();
    let inv = lab.inventory();
    let mut opts = SshOptions::new(Some(lab.ssh_config.clone()), Duration::from_secs(3));
    opts.control_dir = lab.control_dir.clone();
    let mut cadence = Cadence::for_timeout(Duration::from_secs(3));
    cadence.fast = Duration::from_secs(1);
    let ctx = Arc::new(PollCtx {
        transport: Transport::ssh(SshPool::new(inv.nodes.clone(), opts).unwrap()),
        nodes: inv.nodes,
        token: None,
        cadence,
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (scheduler, task) = poller::scheduler::spawn(ctx.clone(), tx, |r| r);
    let mut seen = vec![0usize; 3];
    let ok = |r: &poller::PollResult| r.result.is_ok();
    wait_for(&mut rx, &mut seen, 0, 20, ok).await;

    // 1. Hung: the node-side shell of h01 stops answering.
    let mut stopped = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stopped.is_empty() && std::time::Instant::now() < deadline {
        stopped = node_shells(&lab, "h01");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!stopped.is_empty(), "no poll shell found on h01");
    common::procs::signal(&stopped, "STOP");
    let before = seen.clone();
    let r = wait_for(&mut rx, &mut seen, 0, 20, |r| r.result.is_err()).await;
    let others = (seen[1] - before[1], seen[2] - before[2]);
    let mut st = NodeState::default();
    poller::apply(&mut st, r);
    let v = verdict::judge(&st, meshroll::observe::now_ms(), &Rules::default()).unwrap();
    assert_eq!(v.kind, Kind::Dead);
    assert!(v.reason.contains("timed out after 3s"), "{}", v.reason);
    assert!(
        others.0 >= 2 && others.1 >= 2,
        "the others kept polling while h01 hung: {others:?}"
    );
    wait_for(&mut rx, &mut seen, 0, 20, ok).await;
    common::procs::signal(&stopped, "KILL");
    common::procs::signal(&stopped, "CONT");

    // 2. Closed mid-answer: the shell dies while the gateway status runs (the head of
    // the answer is out).
    lab.node("h01").set_mode("slow");
    lab.node("h01").clear_calls();
    scheduler.refresh(NodeId::new(0), false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lab.node("h01").gateway_status_calls() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        lab.node("h01").gateway_status_calls() > 0,
        "no gateway status started"
    );
    std::thread::sleep(Duration::from_millis(500));
    common::procs::signal(&node_shells(&lab, "h01"), "KILL");
    let r = wait_for(&mut rx, &mut seen, 0, 20, |r| r.result.is_err()).await;
    // The node writes its answer whole once it is ready, so the shell dies before a
    // byte of it: the end of the node's output (before: the head of the answer was out,
    // "closed mid-answer").
    let e = r.result.unwrap_err().to_string();
    assert!(e.contains("poll channel closed"), "{e}");
    lab.node("h01").set_mode("ready");
    wait_for(&mut rx, &mut seen, 0, 20, |r| {
        r.result.as_ref().is_ok_and(|p| p.gateway.is_some())
    })
    .await;
    task.abort();
    ctx.transport.close().await;
}

/// A node whose shell ends before the poll channel says hello (here: `sudo` to a user
/// that does not exist, or no sudo at all): the poll falls back to one command, whose
/// stderr names the cause, rather than "channel closed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_never_starts_reports_the_nodes_stderr() {
    let lab = Lab::start(&[NodeSpec::new("s01", "worker")]);
    lab.all_ready();
    let inv = lab.inventory();
    let mut nodes = inv.nodes.to_vec();
    nodes[0].layout.run_as = "meshroll-no-such-user".into();
    let nodes = Fleet::from(nodes);
    let mut opts = SshOptions::new(Some(lab.ssh_config.clone()), Duration::from_secs(5));
    opts.control_dir = lab.control_dir.clone();
    let ctx = PollCtx {
        transport: Transport::ssh(SshPool::new(nodes.to_vec(), opts).unwrap()),
        nodes,
        token: None,
        cadence: Cadence::for_timeout(Duration::from_secs(5)),
    };
    let req = ctx.cadence.request(false, false);
    let r = poller::poll_once(&ctx, NodeId::new(0), &req).await;
    let e = r.result.unwrap_err().to_string();
    // With sudo installed its stderr says why; without it, ssh reports exit 127.
    assert!(
        (e.starts_with("poll: no output (exit ") && e.contains("sudo"))
            || e.contains("remote command not found"),
        "the one-shot command names the cause: {e}"
    );
    assert!(!e.contains("poll channel"), "{e}");
    ctx.transport.close().await;
}
