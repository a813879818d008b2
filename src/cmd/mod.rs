//! The commands: each turns parsed arguments into work and an exit code.

pub mod actions;
pub mod dashboard;
pub mod locks;
pub mod manifest;
pub mod replay;
pub mod rollout;
pub mod status;
pub mod unlock;

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

/// The variable the gateway token is read from.
pub const TOKEN_VAR: &str = "OPENCLAW_GATEWAY_TOKEN";

static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Take the gateway token out of meshroll's environment, once, at start: it is kept in
/// memory, registered with the redactor, and removed from the process environment so
/// no child (ssh masters that linger, rsync, git, sh) inherits it. It travels to nodes
/// only inside scripts on stdin. Its bytes are overwritten in the environment block
/// first ([`scrub_env_value`]): removing the variable alone leaves them readable in
/// `/proc/<pid>/environ` (and `ps eww` on macOS) for as long as meshroll runs.
///
/// # Safety
/// Must be called while the process has a single thread: before the tokio runtime,
/// the log writer or anything else starts a thread (edition 2024 makes
/// `std::env::remove_var` unsafe for that reason).
pub unsafe fn take_token_from_env() {
    let t = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
    if let Some(t) = &t {
        crate::safe_text::register_secret(t);
    }
    // SAFETY: the caller guarantees no other thread exists yet, so nothing reads the
    // environment while it changes.
    unsafe {
        scrub_env_value(TOKEN_VAR);
        std::env::remove_var(TOKEN_VAR);
    }
    let _ = TOKEN.set(t);
}

/// Overwrite with NUL bytes the value of every `NAME=value` entry of the C environment
/// in place. The strings the process started with live in the block the kernel shows
/// as `/proc/<pid>/environ`; `remove_var` only unlinks the entry, so without this the
/// value stays there. What remains visible is the variable's name and the value's
/// length (SECURITY.md).
///
/// # Safety
/// No other thread may read or change the environment meanwhile.
unsafe fn scrub_env_value(name: &str) {
    unsafe extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let mut prefix = name.as_bytes().to_vec();
    prefix.push(b'=');
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings owned by
    // the C runtime; with one thread nothing changes it while we walk it, and writing
    // inside a string's own bytes (before its NUL) keeps it a valid C string.
    unsafe {
        let mut p = *std::ptr::addr_of!(environ);
        if p.is_null() {
            return;
        }
        while !(*p).is_null() {
            let entry = *p;
            let len = std::ffi::CStr::from_ptr(entry).to_bytes().len();
            let bytes = std::slice::from_raw_parts(entry.cast::<u8>(), len);
            if bytes.starts_with(&prefix) {
                std::ptr::write_bytes(entry.add(prefix.len()), 0, len - prefix.len());
            }
            p = p.add(1);
        }
    }
}

/// The gateway token: the one taken at start, or (when meshroll is used as a library
/// and nothing took it) read from the environment now and registered with the redactor.
fn token() -> Option<String> {
    if let Some(t) = TOKEN.get() {
        return t.clone();
    }
    let t = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
    if let Some(t) = &t {
        crate::safe_text::register_secret(t);
    }
    t
}

/// A poll context on the real fleet of the inventory.
pub fn real_ctx(g: &Global) -> anyhow::Result<(Inventory, PollCtx)> {
    if g.nodes.is_some() {
        anyhow::bail!(
            "--nodes sizes the simulated mesh: use it with `demo`, `status --sim` or `rollout --sim`"
        );
    }
    // An ssh config that ssh cannot read fails every node the same way: say so once,
    // as meshroll not able to run (exit 2), not as a fleet of dead nodes.
    if let Some(p) = &g.ssh_config
        && let Err(e) = crate::bounded_file::check_ssh_config(p)
    {
        anyhow::bail!("--ssh-config {}: cannot read it ({e})", p.display());
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
        transport: Transport::ssh(pool),
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
        transport: Transport::sim(mesh),
        nodes: inv.nodes.clone(),
        token: None,
        cadence: cadence(g),
    };
    (inv, ctx)
}

/// This very command line, every word quoted for a shell: what runs the same rollout
/// again (the recap names it for a node left drained).
pub fn again() -> String {
    std::env::args()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./=:@%+-,".contains(c));
            if plain {
                a
            } else {
                crate::remote::script::shell_quote(&a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The nodes `--node` and `--class` name, in inventory order, each once; `what` says
/// what they are chosen for when none is named ("name the nodes to roll back: ...").
pub fn targets(
    g: &Global,
    inv: &Inventory,
    select: &crate::cli::NodeSelect,
    what: &str,
) -> anyhow::Result<Vec<crate::inventory::NodeId>> {
    use crate::safe_text::clean;
    if select.node.is_empty() && select.class.is_empty() {
        anyhow::bail!("name the nodes {what}: --node NAME (repeat) or --class CLASS");
    }
    let mut chosen = Vec::new();
    for n in &select.node {
        match inv.nodes.find(n) {
            Some(i) => chosen.push(i),
            None => anyhow::bail!(
                "--node {}: no such node in {}",
                clean(n),
                g.inventory.display()
            ),
        }
    }
    for c in &select.class {
        let before = chosen.len();
        chosen.extend(
            inv.nodes
                .enumerate()
                .filter(|(_, n)| &n.class == c)
                .map(|(i, _)| i),
        );
        if chosen.len() == before {
            anyhow::bail!(
                "--class {}: no such class in {}",
                clean(c),
                g.inventory.display()
            );
        }
    }
    chosen.sort();
    chosen.dedup();
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::NodeSelect;

    fn select(node: &[&str], class: &[&str]) -> NodeSelect {
        NodeSelect {
            node: node.iter().map(|s| s.to_string()).collect(),
            class: class.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn targets_are_in_inventory_order_once_and_unknown_names_are_refused_cleaned() {
        let path = std::path::Path::new("hosts.ini");
        let inv =
            inventory::parse(path, "[gateway]\ng1\n[worker]\nw1\nw2\n").expect("test inventory");
        let g =
            <crate::cli::Cli as clap::Parser>::parse_from(["meshroll", "-i", "hosts.ini"]).global;
        let names = |s: &NodeSelect| -> Vec<String> {
            targets(&g, &inv, s, "to test")
                .expect("targets")
                .into_iter()
                .map(|i| inv.nodes.name(i).to_string())
                .collect()
        };
        assert_eq!(
            names(&select(&["w2", "g1"], &["worker"])),
            ["g1", "w1", "w2"]
        );
        let err = |s: &NodeSelect| {
            targets(&g, &inv, s, "to test")
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            err(&select(&[], &[])),
            "name the nodes to test: --node NAME (repeat) or --class CLASS"
        );
        assert_eq!(
            err(&select(&["x\u{1b}[2J"], &[])),
            "--node x\\e[2J: no such node in hosts.ini"
        );
        assert_eq!(
            err(&select(&[], &["nope"])),
            "--class nope: no such class in hosts.ini"
        );
    }
}
