//! No node waits on another's dead host: 40 hosts that accept TCP and never speak (a
//! blackholed site; a local listener that accepts and holds every connection, the one
//! fault here that is not a real sshd) ahead of a healthy lab node in the inventory, and
//! a node whose connects keep failing backs off until the operator asks again.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/rollout_run.rs"]
mod rollout_run;

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Lab, NodeSpec};
use meshroll::inventory::{Fleet, Layout, Node, NodeId};
use meshroll::observe::NodeState;
use meshroll::poller::{self, Cadence, PollCtx, scheduler};
use meshroll::remote::ssh::{SshOptions, SshPool};
use meshroll::remote::{PollFailure, RemoteError, Transport};
use rollout_run::meshroll;

const HOLES: usize = 40;

/// `n` local ports that accept TCP and never send a byte; the connections are held
/// until the test process ends.
fn blackholes(n: usize) -> Vec<u16> {
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    (0..n)
        .map(|_| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let held = held.clone();
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    held.lock().unwrap().push(s);
                }
            });
            port
        })
        .collect()
}

fn blackholed_nodes(ports: &[u16]) -> Vec<Node> {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| Node {
            name: format!("bh{i:02}"),
            host: "127.0.0.1".into(),
            port: Some(*p),
            user: None,
            class: "worker".into(),
            labels: Vec::new(),
            layout: Layout::default(),
        })
        .collect()
}

/// The dashboard's scheduler over the 40 and the healthy node: its first answer comes
/// within 3 s. Before: each connect held one of the 10 connect slots for its whole
/// timeout (12 s), so the healthy node waited for four batches of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_node_behind_forty_blackholed_hosts_answers_within_3s() {
    let lab = Lab::start(&[NodeSpec::new("ok01", "worker")]);
    lab.all_ready();
    // A quiet account (this machine's root rc runs `pyenv init`, a second per login):
    // what is measured is the wait on the other hosts, not this node's own login.
    lab.node("ok01").set_login_rc("");
    let mut nodes = blackholed_nodes(&blackholes(HOLES));
    nodes.extend(lab.inventory().nodes.iter().cloned());
    let fleet: Fleet = nodes.into();
    let mut opts = SshOptions::new(Some(lab.ssh_config.clone()), Duration::from_secs(10));
    opts.control_dir = lab.control_dir.clone();
    let ctx = Arc::new(PollCtx {
        transport: Transport::ssh(SshPool::new(fleet.clone(), opts).unwrap()),
        nodes: fleet,
        token: None,
        cadence: Cadence::for_timeout(Duration::from_secs(10)),
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let (_handle, run) = scheduler::start(ctx.clone(), tx, |r| r);
    let task = tokio::spawn(run);
    let healthy = NodeId::new(HOLES);
    let first = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let r = rx.recv().await.expect("the scheduler runs");
            if r.node == healthy {
                return r;
            }
        }
    })
    .await
    .expect("the healthy node answered within a minute");
    let took = started.elapsed();
    eprintln!("the healthy node's first answer: {took:?}");
    task.abort();
    assert!(first.result.is_ok(), "{:?}", first.result);
    assert!(
        took <= Duration::from_secs(3),
        "the healthy node's first answer took {took:?}"
    );
    ctx.transport.close().await;
}

/// `status --timeout 5` over the same inventory (an INI file, the 40 first) ends within
/// 8 s with the healthy node healthy. Before: about 30 s (four batches of connects
/// each holding its slot for the connect timeout).
#[test]
fn status_with_forty_blackholed_hosts_ahead_ends_within_8s() {
    let lab = Lab::start(&[NodeSpec::new("ok02", "worker")]);
    lab.all_ready();
    lab.node("ok02").set_login_rc("");
    let ports = blackholes(HOLES);
    let lab_inv = std::fs::read_to_string(lab.write_inventory_ini()).unwrap();
    let healthy = lab_inv
        .lines()
        .find(|l| l.starts_with("ok02 ansible_host="))
        .expect("the lab's line for ok02");
    let mut inv = String::from("[worker]\n");
    for (i, p) in ports.iter().enumerate() {
        inv.push_str(&format!(
            "bh{i:02} ansible_host=127.0.0.1 ansible_port={p}\n"
        ));
    }
    inv.push_str(healthy);
    inv.push('\n');
    let path = lab.dir.join("blackholed.ini");
    std::fs::write(&path, inv).unwrap();
    let (out, took) = meshroll(&lab, &path, &["--timeout", "5", "status", "--json"]);
    eprintln!("status: {took:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), HOLES + 1);
    let ok = rows.iter().find(|r| r["node"] == "ok02").unwrap();
    assert_eq!(ok["verdict"], "healthy", "{ok:#}");
    let dead = rows.iter().filter(|r| r["verdict"] == "dead").count();
    assert_eq!(dead, HOLES, "every blackholed host is dead");
    assert!(took <= Duration::from_secs(8), "status took {took:?}");
}

/// A node whose connects fail backs off: after the second failure in a row its polls
/// fail at once without connecting, say when the next connect goes (the node view's
/// `next connect` line), and keep waiting even though the node is back; asked for it
/// (`r`), the next poll connects at once. Before: every poll connected again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_connects_fail_backs_off_until_asked() {
    let lab = Lab::start(&[NodeSpec::new("bo01", "worker")]);
    lab.all_ready();
    let ctx = lab.poll_ctx(4, true);
    let req = ctx.cadence.request(false, false);
    let id = NodeId::new(0);
    assert!(poller::poll_once(&ctx, id, &req).await.result.is_ok());
    lab.node("bo01").stop_sshd();
    // The lost channel, then connects refused: the first failed connect is tried again
    // at the next poll, the second starts the backoff.
    let mut held = None;
    for _ in 0..4 {
        let r = poller::poll_once(&ctx, id, &req).await;
        if let Err(PollFailure::Remote(RemoteError::Unreachable { retry_in, .. })) = &r.result
            && !retry_in.is_zero()
        {
            held = Some(r);
            break;
        }
    }
    let held = held.expect("a failing node backs off");
    let Err(PollFailure::Remote(RemoteError::Unreachable { retry_in, cause })) = &held.result
    else {
        unreachable!()
    };
    assert!(
        *retry_in <= Duration::from_secs(5) && *retry_in > Duration::from_secs(3),
        "{retry_in:?}"
    );
    let mut st = NodeState::default();
    poller::apply(&mut st, held.clone());
    let next = st.next_connect.expect("the node view's next connect");
    assert!(
        next > held.at + 3000 && next <= held.at + 5000,
        "{next} {}",
        held.at
    );
    assert_eq!(
        st.last_error.as_ref().unwrap().value,
        cause.to_string(),
        "the error reads as the connect's own"
    );

    // Back, but still waiting: no connect, at once, the same reason.
    lab.node("bo01").start_sshd();
    let r = poller::poll_once(&ctx, id, &req).await;
    assert!(
        r.took_ms < 500,
        "a held poll does not connect: {} ms",
        r.took_ms
    );
    match &r.result {
        Err(PollFailure::Remote(RemoteError::Unreachable { retry_in, .. })) => {
            assert!(!retry_in.is_zero())
        }
        other => panic!("still backing off: {other:?}"),
    }
    // `r`: at once.
    ctx.transport.connect_now(0);
    let r = poller::poll_once(&ctx, id, &req).await;
    assert!(r.result.is_ok(), "{:?}", r.result);
    poller::apply(&mut st, r);
    assert_eq!(st.next_connect, None);
    ctx.transport.close().await;
}
