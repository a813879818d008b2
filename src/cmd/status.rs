//! `meshroll status`: poll once (or every interval with `--watch`) and print a table
//! or JSON for scripts.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::cli::{Global, StatusArgs};
use crate::observe::{NodeState, now_ms};
use crate::poller::{self, Mode, PollCtx, Scheduler};
use crate::report::{self, NodeReport};
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
    let result = rounds(&ctx, args).await;
    ctx.transport.close().await;
    result
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
            if let Some(name) = &args.explain {
                if args.watch {
                    writeln!(out, "round {n} ({round_ms} ms)")?;
                }
                if let Some((i, node)) = ctx.nodes.iter().enumerate().find(|(_, x)| &x.name == name)
                {
                    let rules = report::rules_for(node, &ctx.cadence.rules());
                    let checks = crate::verdict::explain(&states[i], now_ms(), &rules);
                    if args.json {
                        serde_json::to_writer(
                            &mut out,
                            &serde_json::json!({
                                "node": rows[i].node,
                                "verdict": rows[i].verdict,
                                "reason": crate::safe_text::clean(&rows[i].reason),
                                "checks": checks,
                            }),
                        )?;
                        writeln!(out)?;
                    } else {
                        write!(out, "{}", explain_text(&rows[i], &checks))?;
                    }
                }
            } else if args.json && args.watch {
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
                write!(out, "{}", table(&rows))?;
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

/// A readable table: one line per node.
pub fn table(rows: &[NodeReport]) -> String {
    let mut lines = vec![[
        "NODE".to_string(),
        "CLASS".into(),
        "VERDICT".into(),
        "GATEWAY".into(),
        "MANIFEST".into(),
        "CACHE".into(),
        "SKEW".into(),
        "REASON".into(),
    ]];
    for r in rows {
        lines.push([
            r.node.clone(),
            r.class.clone(),
            r.verdict.to_string(),
            if r.gateway.ready {
                "ready".into()
            } else {
                r.gateway.state.clone()
            },
            match (&r.manifest.sha, r.manifest.state) {
                (Some(s), Some(st)) => format!("{} {}", short(s), st.as_str()),
                (None, Some(st)) => st.as_str().to_string(),
                _ => "?".into(),
            },
            r.cache.age_s.map_or("cold".into(), human_age),
            if r.skew.any {
                r.skew.reasons.join("; ")
            } else {
                "-".into()
            },
            r.reason.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
                .min(48)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let mut line = String::new();
        for (c, cell) in l.iter().enumerate() {
            if c + 1 == l.len() {
                line.push_str(cell);
                continue;
            }
            let cell: String = cell.chars().take(widths[c]).collect();
            line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `status --explain NODE`: the verdict, then every signal on its own line.
pub fn explain_text(r: &NodeReport, checks: &[crate::verdict::SignalCheck]) -> String {
    let mut out = format!(
        "{}: {} ({})\n",
        crate::safe_text::clean(&r.node),
        r.verdict,
        crate::safe_text::clean(&r.reason)
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
