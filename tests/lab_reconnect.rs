//! The ssh layer on real sshd nodes: a master per node, reconnect after the node's sshd
//! dies and comes back, and a command that hangs after connecting times out.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Lab, NodeSpec};
use meshroll::observe::NodeState;
use meshroll::poller::{self, Cadence, PollCtx};
use meshroll::remote::ssh::{SshOptions, SshPool};
use meshroll::remote::{PollFailure, RemoteError, Transport};
use meshroll::verdict::{self, Kind, Rules};

fn ctx(lab: &Lab, timeout: u64) -> Arc<PollCtx> {
    let inv = lab.inventory();
    let mut opts = SshOptions::new(Some(lab.ssh_config.clone()), Duration::from_secs(timeout));
    opts.control_dir = lab.control_dir.clone();
    let pool = SshPool::new(inv.nodes.clone(), opts).unwrap();
    Arc::new(PollCtx {
        transport: Transport::Ssh(pool),
        nodes: inv.nodes,
        token: None,
        cadence: Cadence::for_timeout(Duration::from_secs(timeout)),
    })
}

fn ready(lab: &Lab) {
    for n in &lab.nodes {
        n.install_bundle(
            "abc",
            Some(r#"{"files":[],"skills_sha":"abc","version":1}"#),
        );
        n.set_current(Some("abc"));
        n.touch_cache(60);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_goes_dead_when_sshd_stops_and_comes_back_when_it_restarts() {
    let lab = Lab::start(&[
        NodeSpec::new("n01", "worker"),
        NodeSpec::new("n02", "worker"),
    ]);
    ready(&lab);
    let ctx = ctx(&lab, 4);
    let req = ctx.cadence.request(true, false);
    let mut st = NodeState::default();
    let judge = |st: &NodeState| {
        verdict::judge(st, meshroll::observe::now_ms(), &Rules::default()).unwrap()
    };

    poller::apply(&mut st, poller::poll_once(&ctx, 0, &req).await);
    assert_eq!(judge(&st).kind, Kind::Healthy, "{st:?}");
    // The master is shared: a second poll rides the same connection.
    let sock = match &ctx.transport {
        Transport::Ssh(p) => p.control_socket(0).await.unwrap(),
        Transport::Sim(_) => unreachable!(),
    };
    assert!(sock.exists(), "control socket {sock:?}");

    lab.node("n01").stop_sshd();
    let r = poller::poll_once(&ctx, 0, &req).await;
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
    let r2 = poller::poll_once(&ctx, 1, &req).await;
    assert!(r2.result.is_ok(), "{:?}", r2.result);

    lab.node("n01").start_sshd();
    poller::apply(&mut st, poller::poll_once(&ctx, 0, &req).await);
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
    ready(&lab);
    let ctx = ctx(&lab, 3);
    let req = ctx.cadence.request(false, false);
    assert!(poller::poll_once(&ctx, 0, &req).await.result.is_ok());
    lab.node("n01").freeze_sshd();
    let r = poller::poll_once(&ctx, 0, &req).await;
    lab.node("n01").thaw_sshd();
    match r.result {
        Err(PollFailure::Remote(RemoteError::Timeout(3))) => {}
        other => panic!("expected a 3 s timeout, got {other:?}"),
    }
    // And it recovers once the host answers again.
    let mut ok = false;
    for _ in 0..5 {
        if poller::poll_once(&ctx, 0, &req).await.result.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ok, "the node did not come back after thawing");
    ctx.transport.close().await;
}
