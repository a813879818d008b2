//! `meshroll status`: poll once (or every interval with `--watch`) and print a table
//! or JSON for scripts.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::cli::{Global, StatusArgs};
use crate::inventory::NodeId;
use crate::observe::{NodeState, now_ms};
use crate::poller::{self, Mode, PollCtx, Scheduler};
use crate::report::{self, NodeReport, reason};
use crate::skew::short;
use crate::verdict::human_age;

#[derive(Serialize)]
struct Round<'a> {
    round: u64,
    round_ms: u64,
    nodes: &'a [NodeReport],
}

pub async fn run(g: &Global, args: &StatusArgs) -> anyhow::Result<i32> {
    let (_inv, ctx) = if args.sim {
        super::sim_ctx(g)
    } else {
        super::real_ctx(g)?
    };
    if let Some(name) = &args.explain
        && !ctx.nodes.iter().any(|n| &n.name == name)
    {
        ctx.transport.close().await;
        anyhow::bail!(
            "--explain {}: no such node in {}",
            crate::safe_text::clean(name),
            if args.sim {
                "the simulated mesh".to_string()
            } else {
                g.inventory.display().to_string()
            }
        );
    }
    let ctx = Arc::new(ctx);
    let result = match &args.explain {
        Some(name) => match ctx.nodes.ids().find(|&i| &ctx.nodes[i].name == name) {
            Some(id) => explain(&ctx, args, id).await,
            None => Ok(1),
        },
        None => rounds(&ctx, args).await,
    };
    ctx.transport.close().await;
    result
}

/// `status --explain NODE`: that node alone is polled (with its gateway status), so the
/// answer takes one round trip to it whatever the rest of the fleet is doing. Its skew
/// is judged against `--target` only: the class is not polled.
async fn explain(ctx: &Arc<PollCtx>, args: &StatusArgs, id: NodeId) -> anyhow::Result<i32> {
    let node = std::slice::from_ref(&ctx.nodes[id]);
    let mut st = NodeState::default();
    let mut watch = poller::ChangeWatch::default();
    let mut next_gateway = Instant::now();
    let mut gateway_now = false;
    let stdout = std::io::stdout();
    let mut n = 0u64;
    loop {
        n += 1;
        let started = Instant::now();
        let gateway = gateway_now || started >= next_gateway;
        if gateway {
            next_gateway = started + ctx.cadence.slow;
        }
        let req = ctx.cadence.request(gateway, args.doctor && n == 1);
        let r = poller::poll_once(ctx, id, &req).await;
        gateway_now = watch.changed(&r);
        poller::apply(&mut st, r);
        let round_ms = started.elapsed().as_millis() as u64;
        let now = now_ms();
        let rules = ctx.cadence.rules();
        let rows = report::build(
            node,
            std::slice::from_ref(&st),
            now,
            args.target.as_deref(),
            &rules,
        );
        let checks = crate::verdict::explain(&st, now, &report::rules_for(&node[0], &rules));
        {
            let mut out = stdout.lock();
            if args.watch && !args.json {
                writeln!(out, "round {n} ({round_ms} ms)")?;
            }
            if args.json {
                let mut v = explain_json(&rows[0], &checks);
                // What the skew lines were judged against: the class is not polled.
                v["skew_against"] = serde_json::json!(if args.target.is_some() {
                    "the rollout's target and the node itself"
                } else {
                    "the node itself (its class is not polled)"
                });
                serde_json::to_writer(&mut out, &v)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", explain_text(&rows[0], &checks))?;
                if args.target.is_none() {
                    writeln!(
                        out,
                        "  skew against the class: not judged here (only this node was polled; `meshroll status` judges it)"
                    )?;
                }
            }
            out.flush()?;
        }
        if !args.watch || args.count.is_some_and(|c| n >= c) {
            return Ok(0);
        }
        tokio::select! {
            _ = tokio::time::sleep_until((started + ctx.cadence.fast).into()) => {}
            _ = tokio::signal::ctrl_c() => return Ok(130),
        }
    }
}

/// `status --explain NODE --json`: the verdict, its reason, every check, and the skew
/// lines the text prints (with what differs, signal by signal).
pub fn explain_json(r: &NodeReport, checks: &[crate::verdict::SignalCheck]) -> serde_json::Value {
    serde_json::json!({
        "node": r.node,
        "polled": r.polled,
        "verdict": r.verdict,
        "reason": r.reason,
        "checks": checks,
        "skew": r.skew.reasons.iter().map(|s| crate::safe_text::clean(s)).collect::<Vec<_>>(),
        "skew_diffs": r.skew.diffs,
    })
}

async fn rounds(ctx: &Arc<PollCtx>, args: &StatusArgs) -> anyhow::Result<i32> {
    let mut states = vec![NodeState::default(); ctx.nodes.len()];
    // The dashboard's scheduler, a round at a time: every node due once per round, the
    // gateway status for the fleet once its slow period has passed (and, for a node
    // whose liveness or reachability changed, in the next round).
    let mut sched = Scheduler::new(ctx.clone(), Mode::Rounds);
    if args.doctor {
        for i in ctx.nodes.ids() {
            sched.schedule.want_doctor(i);
        }
    }
    let mut n = 0u64;
    let stdout = std::io::stdout();
    loop {
        n += 1;
        let started = Instant::now();
        for r in sched.round().await {
            if let Some(st) = states.get_mut(r.node.index()) {
                poller::apply(st, r);
            }
        }
        let round_ms = started.elapsed().as_millis() as u64;
        let rows = report::build(
            &ctx.nodes,
            &states,
            now_ms(),
            args.target.as_deref(),
            &ctx.cadence.rules(),
        );
        {
            let mut out = stdout.lock();
            if args.json && args.watch {
                serde_json::to_writer(
                    &mut out,
                    &Round {
                        round: n,
                        round_ms,
                        nodes: &rows,
                    },
                )?;
                writeln!(out)?;
            } else if args.json {
                serde_json::to_writer_pretty(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                if args.watch {
                    writeln!(out, "round {n} ({round_ms} ms)")?;
                }
                // Asked each round: a terminal resized under `--watch` is followed.
                write!(out, "{}", table(&rows, table_width(args.wide)))?;
            }
            out.flush()?;
        }
        if !args.watch || args.count.is_some_and(|c| n >= c) {
            // With --explain, the explained node alone decides.
            let judged: Vec<NodeReport> = match &args.explain {
                Some(name) => ctx
                    .nodes
                    .iter()
                    .zip(&rows)
                    .filter(|(n, _)| &n.name == name)
                    .map(|(_, r)| r.clone())
                    .collect(),
                None => rows,
            };
            let (code, failing) = crate::exit::status(&judged, &args.fail_on);
            // On stderr: stdout stays the table or the JSON a script reads.
            for (node, why) in failing.iter().take(20) {
                eprintln!("meshroll: {node} {why}");
            }
            if failing.len() > 20 {
                eprintln!("meshroll: ... and {} more", failing.len() - 20);
            }
            return Ok(code);
        }
        let next = started + ctx.cadence.fast;
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = tokio::signal::ctrl_c() => return Ok(130),
        }
    }
}

/// The width the table fits: none with `--wide`; else `COLUMNS`, the terminal's
/// width, or 80 (piped to a file or another program).
fn table_width(wide: bool) -> Option<usize> {
    if wide {
        return None;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    let tty = || {
        std::io::stdout()
            .is_terminal()
            .then(crossterm::terminal::size)
            .and_then(Result::ok)
            .map(|(w, _)| w as usize)
            .filter(|&w| w > 0)
    };
    Some(columns.or_else(tty).unwrap_or(80))
}

/// A readable table, one line per node, fitted to `width` (see [`crate::fit`]: CLASS
/// goes first, NODE, VERDICT and REASON last; a cut cell ends in `…`), or every cell in
/// full when `width` is `None`. `--json` has every field in full.
pub fn table(rows: &[NodeReport], width: Option<usize>) -> String {
    use crate::fit::Column;
    const HEADER: [&str; 7] = [
        "NODE", "CLASS", "VERDICT", "GATEWAY", "MANIFEST", "CACHE", "REASON",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.node.clone(),
                r.class.clone(),
                r.verdict.to_string(),
                if r.gateway.ready {
                    "ready".into()
                } else {
                    r.gateway.state.to_string()
                },
                match (&r.manifest.sha, r.manifest.state) {
                    (Some(s), Some(st)) => format!("{} {}", short(s), st.as_str()),
                    (None, Some(st)) => st.as_str().to_string(),
                    _ => "?".into(),
                },
                r.cache.age_s.map_or("cold".into(), human_age),
                match reason::reason(r) {
                    Some((text, _)) => text,
                    None if !r.polled => report::NOT_POLLED.into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    // Each column from its widest cell `w`; the free text (`REASON`) goes last.
    let col = |c: usize, w: usize| match HEADER[c] {
        "NODE" => Column::between(w.min(24), w, 100),
        "CLASS" => Column::fixed(w, 10),
        "VERDICT" => Column::fixed(w, 90),
        "GATEWAY" => Column::between(w.min(7), w, 50),
        // The short sha and the start of its state.
        "MANIFEST" => Column::between(w.min(14), w, 60),
        "CACHE" => Column::fixed(w, 40),
        _ => Column::fill(w.min(20), w, 80),
    };
    crate::fit::text_table(&HEADER, &cells, width, &col)
}

/// `status --explain NODE`: the verdict, then every signal on its own line.
pub fn explain_text(r: &NodeReport, checks: &[crate::verdict::SignalCheck]) -> String {
    let mut out = format!(
        "{}: {} ({})\n",
        crate::safe_text::clean(&r.node),
        r.verdict,
        r.reason
    );
    for c in checks {
        out.push_str("  ");
        out.push_str(&c.line());
        out.push('\n');
    }
    if !r.skew.reasons.is_empty() {
        for s in &r.skew.reasons {
            out.push_str(&format!("  skew: {}\n", crate::safe_text::clean(s)));
        }
    }
    out
}
