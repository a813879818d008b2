//! The node actions headless: `meshroll drain|undrain|restart --node N... | --class C
//! [--yes]`, `meshroll logs --node N [--follow] [--lines N]`, `meshroll ssh NODE [--
//! CMD]`, `meshroll action NAME --node N`. The same actions as the dashboard's keys
//! ([`crate::actions`]), carried out by the same [`crate::actions::run`], audited the
//! same. A command that changes nodes asks on a terminal and refuses without `--yes`
//! otherwise; the exit code is non-zero when any node failed, and the failed nodes are
//! named.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use crate::actions::audit;
use crate::actions::run::{self, ActionReport, RunEnv};
use crate::actions::{ActionRequest, Builtin, NodeAction, Runs, confirm_question};
use crate::cli::{Global, LogsArgs, NodeActionArgs, SshArgs, UserActionArgs};
use crate::dashboard::event_loop::ActionsSetup;
use crate::inventory::NodeId;
use crate::observe::{NodeState, now_ms};
use crate::poller::{self, PollCtx};
use crate::safe_text::clean;

/// Who runs actions from here, and the audit log beside `journal`.
pub fn env(g: &Global, journal: &Path) -> RunEnv {
    RunEnv {
        who: super::rollout::who(),
        host: super::rollout::hostname().unwrap_or_else(|| "localhost".into()),
        timeout: Duration::from_secs(g.timeout.max(1)),
        audit: Some(audit::beside(journal)),
    }
}

/// What the dashboard needs for node actions.
pub fn setup(g: &Global, journal: &Path) -> ActionsSetup {
    ActionsSetup {
        inventory: g.inventory.clone(),
        env: env(g, journal),
    }
}

/// `meshroll drain|undrain|restart`.
pub async fn builtin(g: &Global, a: &NodeActionArgs, which: &str) -> anyhow::Result<i32> {
    let b = match which {
        "drain" => Builtin::Drain,
        "undrain" => Builtin::Undrain,
        _ => Builtin::Restart,
    };
    on_nodes(g, a, NodeAction::builtin(b)).await
}

/// `meshroll action NAME --node N`.
pub async fn user(g: &Global, a: &UserActionArgs) -> anyhow::Result<i32> {
    let keymap = match crate::keymap::KeyMap::default_path() {
        Some(p) => crate::keymap::KeyMap::load(&p)?,
        None => crate::keymap::KeyMap::default(),
    };
    let all = crate::actions::user::load_all(&g.inventory, &keymap)?;
    let Some(u) = all.iter().find(|u| u.action.name == a.name) else {
        let names: Vec<&str> = all.iter().map(|u| u.action.name.as_str()).collect();
        let hint =
            crate::suggest::did_you_mean(crate::suggest::closest(&a.name, names.iter().copied()));
        anyhow::bail!(
            "no action {:?}{hint}; the actions are: {} (from {} and {})",
            clean(&a.name),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
            crate::actions::user::default_path()
                .map_or("~/.config/meshroll/actions.toml".into(), |p| p
                    .display()
                    .to_string()),
            crate::actions::user::beside_inventory(&g.inventory).display()
        );
    };
    on_nodes(g, &a.on, u.action.clone()).await
}

/// Ask `question` on the terminal; without one, refuse unless `yes`.
fn confirmed(question: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} refused: no terminal to ask on; pass --yes to do it anyway");
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    Ok(matches!(read, Ok(n) if n > 0) && matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Run `action` on the nodes `a` names, all at once; print each node's output and how it
/// ended; exit 1 naming the nodes that failed.
async fn on_nodes(g: &Global, a: &NodeActionArgs, action: NodeAction) -> anyhow::Result<i32> {
    let (inv, poll) = super::real_ctx(g)?;
    let nodes = match super::targets(g, &inv, &a.select, "to act on") {
        Ok(n) => n,
        Err(e) => {
            poll.transport.close().await;
            return Err(e);
        }
    };
    if action.runs == Runs::Shell {
        anyhow::bail!("a shell is `meshroll ssh NODE`");
    }
    let names: Vec<String> = nodes.iter().map(|&i| inv.nodes[i].name.clone()).collect();
    if action.confirm && !confirmed(&confirm_question(&action, &names), a.yes)? {
        println!("{}: cancelled", action.name);
        poll.transport.close().await;
        // Nothing ran, as when refused without --yes.
        return Ok(crate::exit::CANNOT_RUN);
    }
    let env = env(g, &a.journal);
    let req = ActionRequest {
        run: 1,
        action,
        nodes,
    };
    let code = run_request(&poll, &req, &env).await;
    poll.transport.close().await;
    Ok(code)
}

/// Carry `req` out on its nodes at once, print, and say which failed.
async fn run_request(poll: &PollCtx, req: &ActionRequest, env: &RunEnv) -> i32 {
    let runs = req
        .nodes
        .iter()
        .map(|&id| run::run_on(poll, &req.action, id, env, None));
    let outcomes: Vec<ActionReport> = futures::future::join_all(runs).await;
    let mut failed = Vec::new();
    for o in &outcomes {
        let name = clean(poll.nodes.name(o.node));
        for l in &o.lines {
            if req.nodes.len() == 1 {
                println!("{l}");
            } else {
                println!("{name}: {l}");
            }
        }
        let word = if o.ok { "ok" } else { "FAILED" };
        println!(
            "{name}: {} {word}: {} ({})",
            req.action.name,
            o.note,
            crate::replay::secs(o.duration_ms)
        );
        if o.ok && req.action.then_poll() {
            println!("{name}: now {}", verdict_now(poll, o.node).await);
        }
        if !o.ok {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        eprintln!(
            "meshroll: {} failed on {} of {} node(s): {}",
            req.action.name,
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    crate::exit::per_node(failed.len())
}

/// Poll node `id` at once (with its gateway status) and say its verdict and reason.
async fn verdict_now(poll: &PollCtx, id: NodeId) -> String {
    let req = poll.cadence.request(true, false);
    let r = poller::poll_once(poll, id, &req).await;
    let mut states = vec![NodeState::default(); poll.nodes.len()];
    if let Some(st) = states.get_mut(id.index()) {
        poller::apply(st, r);
    }
    let rows = crate::report::build(&poll.nodes, &states, now_ms(), None, &poll.cadence.rules());
    rows.get(id.index()).map_or("not polled".into(), |row| {
        format!("{} ({})", row.verdict.as_str(), clean(&row.reason))
    })
}

/// `meshroll logs --node N [--follow] [--lines N]`.
pub async fn logs(g: &Global, a: &LogsArgs) -> anyhow::Result<i32> {
    let (inv, poll) = super::real_ctx(g)?;
    let Some(id) = inv.nodes.find(&a.node) else {
        poll.transport.close().await;
        anyhow::bail!(
            "--node {}: no such node in {}",
            clean(&a.node),
            g.inventory.display()
        );
    };
    let mut action = NodeAction::builtin(if a.follow {
        Builtin::Follow
    } else {
        Builtin::Logs
    });
    action.runs = if a.follow {
        Runs::Follow { lines: a.lines }
    } else {
        Runs::Logs { lines: a.lines }
    };
    let env = env(g, &a.journal);
    let print = |l: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{l}");
        let _ = out.flush();
    };
    let o = run::run_on(&poll, &action, id, &env, Some(&print)).await;
    for l in &o.lines {
        println!("{l}");
    }
    poll.transport.close().await;
    if !o.ok {
        eprintln!(
            "meshroll: logs failed on {}: {}",
            clean(&inv.nodes[id].name),
            o.note
        );
    }
    Ok(crate::exit::per_node(usize::from(!o.ok)))
}

/// `meshroll ssh NODE [-- CMD]`: ssh's own exit code.
pub async fn ssh(g: &Global, a: &SshArgs) -> anyhow::Result<i32> {
    let (inv, poll) = super::real_ctx(g)?;
    let Some(id) = inv.nodes.find(&a.node) else {
        poll.transport.close().await;
        anyhow::bail!(
            "no such node {} in {}",
            clean(&a.node),
            g.inventory.display()
        );
    };
    let node = &inv.nodes[id];
    let env = env(g, &a.journal);
    let started = now_ms();
    let t0 = std::time::Instant::now();
    let result =
        match crate::remote::interactive::ssh_argv(&poll.transport, id.index(), node, &a.command)
            .await
        {
            Ok(argv) => crate::remote::interactive::run_in_terminal(&argv)
                .await
                .map_err(|e| format!("cannot run ssh: {e}")),
            Err(e) => Err(e.to_string()),
        };
    let command = if a.command.is_empty() {
        format!("ssh {}", node.host)
    } else {
        format!(
            "ssh {} -- {}",
            node.host,
            crate::actions::quoted(&a.command)
        )
    };
    let rec = audit::Record {
        ts: started,
        who: env.who.clone(),
        host: env.host.clone(),
        action: "ssh".into(),
        node: node.name.clone(),
        command: crate::safe_text::clean_capped(&command, 400),
        exit: result.as_ref().ok().copied().flatten(),
        ok: matches!(result, Ok(Some(0))),
        duration_ms: t0.elapsed().as_millis() as u64,
        note: result.as_ref().err().cloned().unwrap_or_default(),
    };
    if let Some(p) = &env.audit
        && let Err(e) = audit::append(p, &rec)
    {
        eprintln!(
            "meshroll: cannot append to the audit log {}: {e}",
            p.display()
        );
    }
    poll.transport.close().await;
    match result {
        Ok(Some(c)) => Ok(c),
        Ok(None) => {
            eprintln!("meshroll: ssh {}: killed by a signal", clean(&node.name));
            Ok(crate::exit::NODE_FAILED)
        }
        Err(e) => {
            eprintln!("meshroll: ssh {}: {e}", clean(&node.name));
            Ok(crate::exit::NODE_FAILED)
        }
    }
}
