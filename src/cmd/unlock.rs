//! `meshroll unlock --node N`: remove a node lock whose rollout is gone (killed, or
//! stopped after a failed verify or prewarm), after showing who holds it and asking.

use std::io::{BufRead, Write};
use std::time::Duration;

use crate::cli::{Global, UnlockArgs};
use crate::observe::now_ms;
use crate::rollout::exec;
use crate::safe_text::clean;

pub async fn run(g: &Global, a: &UnlockArgs) -> anyhow::Result<i32> {
    let (inv, poll) = super::real_ctx(g)?;
    let mut chosen = Vec::new();
    for n in &a.node {
        match inv.nodes.find(n) {
            Some(i) => chosen.push(i),
            None => anyhow::bail!("--node {n}: no such node in {}", g.inventory.display()),
        }
    }
    let timeout = Duration::from_secs(g.timeout.max(1));
    let stdin = std::io::stdin();
    let mut failed = 0;
    for i in chosen {
        let name = clean(&inv.nodes[i].name);
        let info = match exec::read_lock(&poll, i, timeout).await {
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
        match exec::force_unlock(&poll, i, Some(&info.owner_line), timeout).await {
            Ok(m) => println!("{name}: {}", clean(&m)),
            Err(e) => {
                failed += 1;
                println!("{name}: unlock failed: {}", clean(&e.to_string()));
            }
        }
    }
    poll.transport.close().await;
    Ok(if failed == 0 { 0 } else { 1 })
}
