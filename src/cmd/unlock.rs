//! `meshroll unlock --node N`: remove a node lock whose rollout is gone (killed, or
//! stopped after a failed verify or prewarm), after showing who holds it and asking.

use std::io::{BufRead, Write};
use std::time::Duration;

use crate::cli::{Global, UnlockArgs};
use crate::observe::now_ms;
use crate::rollout::steps;
use crate::safe_text::clean;

pub async fn run(g: &Global, a: &UnlockArgs) -> anyhow::Result<i32> {
    let (inv, poll) = super::real_ctx(g)?;
    let chosen = super::targets(g, &inv, &a.select, "to unlock")?;
    let timeout = Duration::from_secs(g.timeout.max(1));
    let stdin = std::io::stdin();
    let mut failed = 0;
    for i in chosen {
        let name = clean(&inv.nodes[i].name);
        let info = match steps::read_lock(&poll, i, timeout).await {
            Ok(Some(info)) => info,
            Ok(None) => {
                println!("{name}: not locked");
                continue;
            }
            Err(e) => {
                failed += 1;
                println!("{name}: cannot read its lock: {}", clean(&e.to_string()));
                continue;
            }
        };
        println!("{name}: locked by {}", info.describe(now_ms() / 1000));
        if let Some(line) = owner_process(&info) {
            println!("{name}: {line}");
        }
        if !a.yes {
            print!("{name}: remove this lock? Only if that rollout is gone. [y/N] ");
            let _ = std::io::stdout().flush();
            let mut answer = String::new();
            let read = stdin.lock().read_line(&mut answer);
            if !matches!(read, Ok(n) if n > 0) {
                println!();
                anyhow::bail!("no answer on stdin: pass --yes to unlock without asking");
            }
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                println!("{name}: left locked");
                continue;
            }
        }
        match steps::force_unlock(&poll, i, Some(&info.owner_line), timeout).await {
            Ok(m) => println!("{name}: {}", clean(&m)),
            Err(e) => {
                failed += 1;
                println!("{name}: unlock failed: {}", clean(&e.to_string()));
            }
        }
    }
    poll.transport.close().await;
    Ok(crate::exit::per_node(failed))
}

/// Whether the lock's owner process still runs, when the owner is this host: "its
/// process (pid 42) is still running on this host: its rollout is not gone" or "... is
/// gone from this host". `None` when the owner is another host (or names no pid).
fn owner_process(info: &crate::node_lock::LockInfo) -> Option<String> {
    let (_, host, _) = info.parts();
    let here = super::rollout::hostname();
    let pid = info.pid()?;
    Some(
        match crate::lock_owner::alive_here(&host, Some(pid), here.as_deref())? {
            true => format!(
                "its owner's process (pid {pid}) is still running on this host: its rollout may not be gone"
            ),
            false => format!("its owner's process (pid {pid}) is gone from this host"),
        },
    )
}
