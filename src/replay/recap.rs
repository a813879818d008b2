//! The recap printed when the dashboard exits after a rollout: what landed, what failed
//! and why, what was left in flight, and the journal to replay.

use std::fmt::Write as _;
use std::path::Path;

use crate::inventory::{Fleet, NodeId};
use crate::rollout::machine::MAX_ATTEMPTS;
use crate::rollout::{Machine, NodeRun};
use crate::safe_text::clean;

/// The recap of `m`'s rollout over `fleet`: per node, the state it was left in. `again`
/// is the command that runs the rollout again (it finishes a node left drained).
pub fn text(
    m: &Machine,
    fleet: &Fleet,
    rollout_id: &str,
    skills_sha: &str,
    journal: Option<&Path>,
    again: Option<&str>,
) -> String {
    let name = |i: NodeId| clean(fleet.name(i));
    let again = again.map_or_else(|| "the same command".to_string(), clean);
    let mut landed = Vec::new();
    let mut failed = Vec::new();
    let mut stopped = Vec::new();
    let mut skipped = Vec::new();
    let mut rolled_back = Vec::new();
    let mut waiting = 0usize;
    let mut drained = false;
    for i in m.plan.nodes() {
        let Some(slot) = m.nodes.get(i) else { continue };
        let retries = slot.history.iter().filter(|a| a.attempt > 1).count();
        // Where a node the rollout let go of was left, and what finishes it.
        let left = |what: String| match &slot.left {
            Some(l) if l.drained() => {
                format!(
                    "{what}: {}\n             to finish it, run the rollout again: {again}",
                    clean(&l.describe())
                )
            }
            Some(l) => format!("{what}: {}", clean(&l.describe())),
            None => what,
        };
        match &slot.run {
            NodeRun::Landed if slot.history.is_empty() => {
                landed.push(format!("{} (earlier run)", name(i)))
            }
            NodeRun::Landed if retries > 0 => {
                landed.push(format!("{} ({retries} retried)", name(i)))
            }
            NodeRun::Landed => landed.push(name(i)),
            NodeRun::Failed { phase, error } => failed.push(left(format!(
                "{} at {}: {}",
                name(i),
                phase.name(),
                clean(error.message())
            ))),
            NodeRun::Pending => waiting += 1,
            NodeRun::Ready { next } => {
                if slot.history.is_empty() {
                    waiting += 1;
                } else {
                    drained = true;
                    stopped.push(format!("{} before {}", name(i), next.name()));
                }
            }
            NodeRun::Active { phase, attempt, .. } => {
                drained = true;
                stopped.push(format!(
                    "{} in {} (attempt {attempt}/{MAX_ATTEMPTS} still running)",
                    name(i),
                    phase.name()
                ))
            }
            NodeRun::Retrying {
                phase,
                attempt,
                error,
                ..
            } => {
                drained = true;
                stopped.push(format!(
                    "{} in {} (attempt {attempt}/{MAX_ATTEMPTS} was waiting; last error: {})",
                    name(i),
                    phase.name(),
                    clean(error)
                ))
            }
            NodeRun::Skipped => skipped.push(left(name(i))),
            NodeRun::Stopped => stopped.push(left(name(i))),
            NodeRun::RolledBack => rolled_back.push(name(i)),
        }
    }
    let mut o = String::new();
    let ran = !(landed.is_empty()
        && failed.is_empty()
        && stopped.is_empty()
        && skipped.is_empty()
        && rolled_back.is_empty());
    let _ = write!(
        o,
        "meshroll: rollout {} of bundle {}: ",
        clean(rollout_id),
        crate::skew::short(&clean(skills_sha))
    );
    if !ran {
        let _ = writeln!(o, "staged, nothing ran ({waiting} node(s) waiting)");
    } else {
        let _ = writeln!(
            o,
            "{} landed, {} failed, {} skipped, {} stopped, {} not started",
            landed.len(),
            failed.len(),
            skipped.len(),
            stopped.len(),
            waiting
        );
        if let Some(h) = &m.halt {
            let _ = writeln!(o, "  halted     {}", clean(&h.to_string()));
        } else if m.aborted {
            let _ = writeln!(
                o,
                "  stopped: nothing new started, nodes in flight put back"
            );
        }
        let list = |o: &mut String, what: &str, v: &[String], one_per_line: bool| {
            if v.is_empty() {
                return;
            }
            if one_per_line {
                for x in v {
                    let _ = writeln!(o, "  {what:<10} {x}");
                }
            } else {
                let _ = writeln!(o, "  {what:<10} {}", v.join(", "));
            }
        };
        list(&mut o, "landed", &landed, false);
        list(&mut o, "failed", &failed, true);
        list(&mut o, "skipped", &skipped, true);
        list(&mut o, "stopped", &stopped, true);
        if drained {
            let _ = writeln!(
                o,
                "             (nodes stopped mid-way stay drained and locked; to finish them, run the rollout again, which resumes them: {again})"
            );
        }
        list(&mut o, "rolled back", &rolled_back, false);
    }
    if let Some(j) = journal {
        let j = clean(&j.display().to_string());
        let _ = writeln!(o, "  journal    {j}  (meshroll replay {j} --summary)");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Inventory, Node};
    use crate::rollout::plan::{self, PlanOptions, Size};
    use crate::rollout::{Effect, Failure, Input, Mode, Phase};

    fn machine() -> (Machine, Fleet) {
        let names: Vec<String> = ["g1", "g2", "g3"].map(String::from).to_vec();
        let nodes = names
            .iter()
            .map(|n| Node::new(n.clone(), "gateway"))
            .collect();
        let inv = Inventory::from_nodes(Path::new("t"), nodes).expect("inv");
        let p = plan::make(
            &inv,
            &PlanOptions {
                wave: Size::Count(2),
                failure_budget: Size::Count(1),
                ..PlanOptions::default()
            },
        )
        .expect("plan");
        let mut m = Machine::new(p, 3, 7, Mode::Run);
        m.set_fleet(inv.nodes.clone());
        (m, inv.nodes)
    }

    fn runs(e: &[Effect]) -> Vec<(usize, Phase)> {
        e.iter()
            .filter_map(|e| match e {
                Effect::Run { node, phase, .. } => Some((node.index(), *phase)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn nothing_ran_is_one_line_with_the_journal() {
        let (m, names) = machine();
        let t = text(
            &m,
            &names,
            "r1",
            "7d1e0c55a2b94f3e",
            Some(Path::new("/j.jsonl")),
            None,
        );
        assert_eq!(
            t,
            "meshroll: rollout r1 of bundle 7d1e0c55a2b9: staged, nothing ran (3 node(s) waiting)\n  journal    /j.jsonl  (meshroll replay /j.jsonl --summary)\n"
        );
    }

    #[test]
    fn landed_failed_and_stopped_with_why() {
        let (mut m, names) = machine();
        let mut now = 0;
        let mut queue = runs(&m.handle(Input::Tick, now));
        // g1 (canary): sync fails once (transient), then everything passes.
        let mut sync_failed = false;
        let mut g3_phases = 0;
        while let Some((node, phase)) = queue.first().copied() {
            queue.remove(0);
            now += 1000;
            let input = match (node, phase) {
                (0, Phase::Sync) if !sync_failed => {
                    sync_failed = true;
                    Input::PhaseFailed {
                        node: NodeId::new(node),
                        phase,
                        failure: Failure::Transient("rsync exit 12".into()),
                    }
                }
                (1, Phase::Baseline) => Input::PhaseFailed {
                    node: NodeId::new(node),
                    phase,
                    failure: Failure::Fatal("gateway not ready \x1b[31mat baseline".into()),
                },
                // g3 stops after two phases: the operator quits mid-way.
                (2, _) if g3_phases == 2 => continue,
                (n, p) => {
                    if n == 2 {
                        g3_phases += 1;
                    }
                    Input::PhaseDone {
                        node: NodeId::new(n),
                        phase: p,
                        note: "ok".into(),
                    }
                }
            };
            // Baseline and drain, verify and switch: one script reports both.
            let carried = match &input {
                Input::PhaseDone { node, phase, .. } => {
                    phase.carries_on().map(|p| Input::PhaseDone {
                        node: *node,
                        phase: p,
                        note: "ok".into(),
                    })
                }
                _ => None,
            };
            queue.extend(runs(&m.handle(input, now)));
            if let Some(c) = carried {
                queue.extend(runs(&m.handle(c, now)));
            }
            if queue.is_empty() {
                // Let retry countdowns run out.
                now += 60_000;
                queue.extend(runs(&m.handle(Input::Tick, now)));
            }
        }
        let t = text(&m, &names, "r1", "abc", None, None);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "meshroll: rollout r1 of bundle abc: 1 landed, 1 failed, 0 skipped, 1 stopped, 0 not started"
        );
        assert!(t.contains("  landed     g1 (1 retried)\n"), "{t}");
        assert!(
            t.contains("  failed     g2 at baseline: gateway not ready \\e[31mat baseline\n"),
            "the error is cleaned: {t}"
        );
        assert!(
            t.contains("  stopped    g3 in verify (attempt 1/5 still running)\n"),
            "{t}"
        );
    }
}
