//! The recap of a rollout: what landed, what failed and why, what was left in flight,
//! and the journal to replay. One [`Recap`], printed when the dashboard exits and at the
//! end of a headless rollout (which adds its per-node [`Recap::table`]).

use std::fmt;
use std::path::Path;

use crate::inventory::{Fleet, NodeId};
use crate::rollout::machine::{MAX_ATTEMPTS, NodeSlot};
use crate::rollout::state::RolloutState;
use crate::rollout::{Machine, NodeRun};
use crate::safe_text::{clean, clean_capped};

/// The longest error shown in the table, in characters.
const ERROR_CAP: usize = 1024;

/// The recap of `machine`'s rollout over `fleet`: per node, the state it was left in.
/// Its `Display` is the recap's text; every node string in it is cleaned.
pub struct Recap<'a> {
    pub machine: &'a Machine,
    pub fleet: &'a Fleet,
    pub rollout_id: &'a str,
    pub skills_sha: &'a str,
    pub journal: Option<&'a Path>,
    /// The command that runs the rollout again (it finishes a node left drained).
    pub again: Option<&'a str>,
}

/// The planned nodes by where they were left.
#[derive(Default)]
struct Groups {
    landed: Vec<String>,
    failed: Vec<String>,
    stopped: Vec<String>,
    skipped: Vec<String>,
    rolled_back: Vec<String>,
    waiting: usize,
    /// A node was stopped mid-way (it stays drained and locked).
    drained: bool,
}

impl Groups {
    fn ran(&self) -> bool {
        !(self.landed.is_empty()
            && self.failed.is_empty()
            && self.stopped.is_empty()
            && self.skipped.is_empty()
            && self.rolled_back.is_empty())
    }
}

impl<'a> Recap<'a> {
    /// The recap of the rollout `d` is at, its nodes named after `fleet`.
    pub fn of(d: &'a RolloutState, fleet: &'a Fleet) -> Recap<'a> {
        Recap {
            machine: &d.machine,
            fleet,
            rollout_id: &d.rollout_id,
            skills_sha: &d.skills_sha,
            journal: d.journal_path.as_deref(),
            again: d.again.as_deref(),
        }
    }

    /// The headless per-node table: outcome, attempt, retries, time, last error.
    pub fn table(&self) -> Table<'_> {
        Table(self)
    }

    fn name(&self, i: NodeId) -> String {
        clean(self.fleet.name(i))
    }

    fn again(&self) -> String {
        self.again
            .map_or_else(|| "the same command".to_string(), clean)
    }

    /// `what`, and where the rollout left the node, when it let go of it.
    fn left(&self, slot: &NodeSlot, what: String) -> String {
        match &slot.left {
            Some(l) if l.drained() => format!(
                "{what}: {}\n             to finish it, run the rollout again: {}",
                clean(&l.describe()),
                self.again()
            ),
            Some(l) => format!("{what}: {}", clean(&l.describe())),
            None => what,
        }
    }

    /// Put node `i` in its group.
    fn sort(&self, i: NodeId, slot: &NodeSlot, g: &mut Groups) {
        let name = self.name(i);
        let retries = slot.retries_used();
        match &slot.run {
            NodeRun::Landed if slot.history.is_empty() => {
                g.landed.push(format!("{name} (earlier run)"))
            }
            NodeRun::Landed if retries > 0 => g.landed.push(format!("{name} ({retries} retried)")),
            NodeRun::Landed => g.landed.push(name),
            NodeRun::Failed { phase, error } => g.failed.push(self.left(
                slot,
                format!("{name} at {}: {}", phase.name(), clean(error.message())),
            )),
            NodeRun::Pending => g.waiting += 1,
            NodeRun::Ready { .. } if slot.history.is_empty() => g.waiting += 1,
            NodeRun::Ready { next } => {
                g.drained = true;
                g.stopped.push(format!("{name} before {}", next.name()));
            }
            NodeRun::Active { phase, attempt, .. } => {
                g.drained = true;
                g.stopped.push(format!(
                    "{name} in {} (attempt {attempt}/{MAX_ATTEMPTS} still running)",
                    phase.name()
                ))
            }
            NodeRun::Retrying {
                phase,
                attempt,
                error,
                ..
            } => {
                g.drained = true;
                g.stopped.push(format!(
                    "{name} in {} (attempt {attempt}/{MAX_ATTEMPTS} was waiting; last error: {})",
                    phase.name(),
                    clean(error)
                ))
            }
            NodeRun::Skipped => g.skipped.push(self.left(slot, name)),
            NodeRun::Stopped => g.stopped.push(self.left(slot, name)),
            NodeRun::RolledBack => g.rolled_back.push(name),
        }
    }

    fn groups(&self) -> Groups {
        let mut g = Groups::default();
        for i in self.machine.plan.nodes() {
            if let Some(slot) = self.machine.nodes.get(i) {
                self.sort(i, slot, &mut g);
            }
        }
        g
    }

    /// The first line's counts, and why the rollout stopped.
    fn head(&self, f: &mut fmt::Formatter<'_>, g: &Groups) -> fmt::Result {
        write!(
            f,
            "meshroll: rollout {} of bundle {}: ",
            clean(self.rollout_id),
            crate::skew::short(&clean(self.skills_sha))
        )?;
        if !g.ran() {
            return writeln!(f, "staged, nothing ran ({} node(s) waiting)", g.waiting);
        }
        writeln!(
            f,
            "{} landed, {} failed, {} skipped, {} stopped, {} not started",
            g.landed.len(),
            g.failed.len(),
            g.skipped.len(),
            g.stopped.len(),
            g.waiting
        )?;
        if let Some(h) = &self.machine.halt {
            writeln!(f, "  halted     {}", clean(&h.to_string()))?;
        } else if self.machine.aborted {
            writeln!(
                f,
                "  stopped: nothing new started, nodes in flight put back"
            )?;
        }
        Ok(())
    }

    /// The nodes of each group.
    fn lists(&self, f: &mut fmt::Formatter<'_>, g: &Groups) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, what: &str, v: &[String], one_per_line: bool| {
            if v.is_empty() {
                return Ok(());
            }
            if one_per_line {
                for x in v {
                    writeln!(f, "  {what:<10} {x}")?;
                }
                Ok(())
            } else {
                writeln!(f, "  {what:<10} {}", v.join(", "))
            }
        };
        list(f, "landed", &g.landed, false)?;
        list(f, "failed", &g.failed, true)?;
        list(f, "skipped", &g.skipped, true)?;
        list(f, "stopped", &g.stopped, true)?;
        if g.drained {
            writeln!(
                f,
                "             (nodes stopped mid-way stay drained and locked; to finish them, run the rollout again, which resumes them: {})",
                self.again()
            )?;
        }
        list(f, "rolled back", &g.rolled_back, false)
    }
}

impl fmt::Display for Recap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.groups();
        self.head(f, &g)?;
        if g.ran() {
            self.lists(f, &g)?;
        }
        if let Some(j) = self.journal {
            let j = clean(&j.display().to_string());
            writeln!(f, "  journal    {j}  (meshroll replay {j} --summary)")?;
        }
        Ok(())
    }
}

/// The headless recap's table, one row per planned node. ATTEMPT: the attempt of the
/// phase in progress (or failed in); RETRIES: the retries the node used over all its
/// phases. Neither counts phases.
pub struct Table<'a>(&'a Recap<'a>);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        writeln!(
            f,
            "{:<16} {:<10} {:<22} {:>7} {:>7} {:>8}  last error",
            "NODE", "CLASS", "OUTCOME", "ATTEMPT", "RETRIES", "TIME"
        )?;
        for i in r.machine.plan.nodes() {
            let (Some(slot), Some(n)) = (r.machine.nodes.get(i), r.fleet.get(i)) else {
                continue;
            };
            let time = match (slot.started, slot.ended) {
                (Some(s), Some(e)) => format!("{:.1}s", e.saturating_sub(s) as f64 / 1000.0),
                _ => "-".into(),
            };
            let outcome = match &slot.run {
                NodeRun::Landed if slot.history.is_empty() => "landed (earlier run)".to_string(),
                run => run.label(),
            };
            let attempt = slot
                .attempt_in_progress()
                .map_or_else(|| "-".to_string(), |a| format!("{a}/{MAX_ATTEMPTS}"));
            writeln!(
                f,
                "{:<16} {:<10} {:<22} {:>7} {:>7} {:>8}  {}",
                clean_capped(&n.name, 64),
                clean_capped(&n.class, 64),
                outcome,
                attempt,
                slot.retries_used(),
                time,
                clean_capped(slot.last_error().unwrap_or(""), ERROR_CAP)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Inventory, Node};
    use crate::rollout::plan::{self, PlanOptions, Size};
    use crate::rollout::{Effect, Failure, Input, Mode, Phase};

    /// The recap of `m` as its text.
    fn text(
        m: &Machine,
        fleet: &Fleet,
        rollout_id: &str,
        skills_sha: &str,
        journal: Option<&Path>,
        again: Option<&str>,
    ) -> String {
        Recap {
            machine: m,
            fleet,
            rollout_id,
            skills_sha,
            journal,
            again,
        }
        .to_string()
    }

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
