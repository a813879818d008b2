//! The commands: each turns parsed arguments into work and an exit code.

pub mod dashboard;
pub mod manifest;
pub mod rollout;
pub mod status;

use std::time::Duration;

use anyhow::Context;

use crate::cli::Global;
use crate::inventory::{self, Inventory};
use crate::poller::{Cadence, PollCtx};
use crate::remote::Transport;
use crate::remote::sim::SimMesh;
use crate::remote::ssh::{SshOptions, SshPool};

/// Cadences from the global flags.
pub fn cadence(g: &Global) -> Cadence {
    let mut c = Cadence::for_timeout(Duration::from_secs(g.timeout));
    c.fast = Duration::from_secs(g.poll_interval.max(1));
    c.slow = Duration::from_secs(g.gateway_interval.max(1));
    c
}

/// The gateway token, from meshroll's own environment; it travels to the node inside
/// the poll script on stdin.
fn token() -> Option<String> {
    std::env::var("OPENCLAW_GATEWAY_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// A poll context on the real fleet of the inventory.
pub fn real_ctx(g: &Global) -> anyhow::Result<(Inventory, PollCtx)> {
    if g.nodes.is_some() {
        anyhow::bail!(
            "--nodes sizes the simulated mesh: use it with `demo`, `status --sim` or `rollout --sim`"
        );
    }
    let inv = inventory::load(&g.inventory)?;
    if inv.nodes.is_empty() {
        anyhow::bail!("inventory {}: no nodes", g.inventory.display());
    }
    if let Some(warning) = crate::limits::raise_nofile(inv.nodes.len()) {
        tracing::warn!(%warning, "file descriptor limit");
        eprintln!("meshroll: {warning}");
    }
    let mut opts = SshOptions::new(g.ssh_config.clone(), Duration::from_secs(g.timeout.max(1)));
    opts.accept_new_host_keys = g.accept_new_host_keys;
    opts.connect_concurrency = g.connect_concurrency;
    let pool =
        SshPool::new(inv.nodes.clone(), opts).context("creating the ssh control directory")?;
    let ctx = PollCtx {
        transport: Transport::Ssh(pool),
        nodes: inv.nodes.clone(),
        token: token(),
        cadence: cadence(g),
    };
    Ok((inv, ctx))
}

/// A poll context on the built-in simulated mesh (the demo, or `--nodes N --seed S`).
pub fn sim_ctx(g: &Global) -> (Inventory, PollCtx) {
    let (inv, mesh) = SimMesh::sized(g.nodes.map(|n| n as usize), g.seed);
    let ctx = PollCtx {
        transport: Transport::Sim(mesh),
        nodes: inv.nodes.clone(),
        token: None,
        cadence: cadence(g),
    };
    (inv, ctx)
}
