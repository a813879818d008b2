//! `meshroll locks [--json]`: poll every node once (the cheap poll: it reports the node
//! lock) and list every locked node with its owner, host, rollout, age and heartbeat,
//! stale after three missed heartbeats, and, when the owner ran on this host, whether
//! its process is still alive.

use std::io::Write;

use futures::StreamExt;
use serde::Serialize;

use crate::cli::{Global, LocksArgs};
use crate::node_lock::LockRow;
use crate::observe::{NodeState, now_ms};
use crate::poller;
use crate::safe_text::clean;

/// One locked node, as `locks --json` prints it.
#[derive(Debug, Serialize)]
pub struct LockedNode {
    pub node: String,
    pub class: String,
    #[serde(flatten)]
    pub lock: LockRow,
    /// Whether the owner's process is alive: only known when the owner ran on this host
    /// (`null` otherwise).
    pub owner_alive: Option<bool>,
}

/// Polls in flight at once (the ssh pool caps connection setups on its own).
const AT_ONCE: usize = 64;

pub async fn run(g: &Global, a: &LocksArgs) -> anyhow::Result<i32> {
    let (_inv, ctx) = if a.sim {
        super::sim_ctx(g)
    } else {
        super::real_ctx(g)?
    };
    let req = ctx.cadence.request(false, false);
    let results: Vec<_> = futures::stream::iter(ctx.nodes.ids())
        .map(|id| {
            let (ctx, req) = (&ctx, &req);
            async move { poller::poll_once(ctx, id, req).await }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    ctx.transport.close().await;
    let mut states = vec![NodeState::default(); ctx.nodes.len()];
    for r in results {
        if let Some(st) = states.get_mut(r.node.index()) {
            poller::apply(st, r);
        }
    }
    let now = now_ms();
    let this_host = super::rollout::hostname();
    let mut locked = Vec::new();
    let mut unread = Vec::new();
    for (id, node) in ctx.nodes.enumerate() {
        let st = &states[id.index()];
        if !st.seen() || st.unreachable.is_some() || st.poll_error.is_some() {
            let why = st
                .last_error
                .as_ref()
                .map_or("no answer".to_string(), |e| e.value.clone());
            unread.push((clean(&node.name), clean(&why)));
            continue;
        }
        if let Some(l) = &st.node_lock {
            let lock = LockRow::at(&l.value, l.age_s(now)).cleaned();
            let owner_alive = owner_alive(&lock, this_host.as_deref());
            locked.push(LockedNode {
                node: clean(&node.name),
                class: clean(&node.class),
                lock,
                owner_alive,
            });
        }
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &locked)?;
        writeln!(out)?;
    } else if locked.is_empty() {
        writeln!(out, "no node is locked")?;
    } else {
        for n in &locked {
            writeln!(out, "{}", line(n))?;
        }
    }
    out.flush()?;
    for (node, why) in &unread {
        eprintln!("meshroll: {node}: cannot read its lock: {why}");
    }
    Ok(crate::exit::per_node(unread.len()))
}

/// `mac-w03  ⚿ stale  owner alice@ops1/pid42, rollout r-1, ... ; owner's process gone`
pub fn line(n: &LockedNode) -> String {
    let alive = match n.owner_alive {
        Some(true) => "; its process is running on this host",
        Some(false) => "; its process is gone from this host",
        None => "",
    };
    format!(
        "{}  {} {}  {}{alive}",
        n.node,
        crate::node_lock::GLYPH,
        n.lock.word(),
        n.lock.describe()
    )
}

/// Whether the lock's owner process is alive: `Some` only when its host is this one
/// (by gethostname, as the lock names it) and it names a pid.
pub fn owner_alive(lock: &LockRow, this_host: Option<&str>) -> Option<bool> {
    crate::lock_owner::alive_here(&lock.host, lock.pid, this_host)
}
