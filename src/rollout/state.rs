//! What a rollout is at: the machine, each node's live output, doctor run and rsync
//! stats, the progress lines and the bundle's ids. No I/O: inputs go in with the time,
//! the machine's effects come out for a [`super::runner::Runner`] to journal and run.
//! The headless command and the dashboard both read and feed it.

use std::collections::VecDeque;
use std::path::PathBuf;

use super::events::ExecEvent;
use super::machine::{Effect, Input, Machine, Record};
use crate::inventory::{Fleet, NodeId, PerNode};
use crate::manifest::Bundle;
use crate::observe::Millis;
use crate::remote::rsync::RsyncStats;
use crate::signals::DoctorReport;

/// Lines of live output kept per node.
const OUTPUT_LINES: usize = 200;

/// Progress lines kept for the plan view.
const LOG_LINES: usize = 500;

/// How a progress line reads at a glance: the plan view colours it by this, not by
/// searching its text (which carries node output and names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Steps going as planned, operator commands, notes.
    Note,
    /// A node landed; a rollout finished with nothing failed.
    Good,
    /// A failed attempt that will be retried, a skip, a finish with failures.
    Warn,
    /// A node failed, a copy did not match, the rollout halted, a rollback failed.
    Bad,
}

/// One progress line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub tone: Tone,
    pub text: String,
}

impl Progress {
    pub fn note(text: String) -> Progress {
        Progress {
            tone: Tone::Note,
            text,
        }
    }
}

pub struct RolloutState {
    pub machine: Machine,
    /// The fleet, for node names in progress lines.
    fleet: Fleet,
    pub started_at: Millis,
    /// Live output of the running step, per node.
    pub output: PerNode<VecDeque<String>>,
    pub doctor: PerNode<Option<DoctorReport>>,
    pub synced: PerNode<Option<RsyncStats>>,
    /// The most recent progress lines, newest last.
    pub log: VecDeque<Progress>,
    /// This rollout's id (the node locks' and the journal's).
    pub rollout_id: String,
    /// `SKILLS_SHA` of the bundle rolled out.
    pub skills_sha: String,
    /// `SKILLS_MANIFEST_SHA256` of the bundle rolled out.
    pub manifest_sha256: String,
    /// Where the journal is written (for the recap on exit).
    pub journal_path: Option<PathBuf>,
    /// The command that runs this rollout again (the recap names it for nodes left
    /// drained).
    pub again: Option<String>,
}

impl RolloutState {
    /// The state of rollout `rollout_id` of `bundle`, starting at `now`, over `fleet`
    /// (which names the nodes in progress lines and the machine's halts).
    pub fn new(
        mut machine: Machine,
        fleet: Fleet,
        rollout_id: String,
        bundle: &Bundle,
        now: Millis,
    ) -> Self {
        let n = machine.nodes.len();
        machine.set_fleet(fleet.clone());
        RolloutState {
            machine,
            fleet,
            started_at: now,
            output: vec![VecDeque::new(); n].into(),
            doctor: vec![None; n].into(),
            synced: vec![None; n].into(),
            log: VecDeque::new(),
            rollout_id,
            skills_sha: bundle.skills_sha.clone(),
            manifest_sha256: bundle.manifest_sha256.clone(),
            journal_path: None,
            again: None,
        }
    }

    /// Nodes whose lock this rollout holds: the baseline passed (it took the lock) and
    /// neither undrain (which releases it) nor a rollback (likewise) has run since.
    pub fn lock_holders(&self) -> Vec<NodeId> {
        self.machine
            .nodes
            .enumerate()
            .filter(|(_, slot)| {
                let mut held = false;
                for a in &slot.history {
                    match (a.phase, &a.outcome) {
                        (super::Phase::Baseline, Some(Ok(_))) => held = true,
                        (super::Phase::Undrain, Some(Ok(_))) => held = false,
                        _ => {}
                    }
                }
                // A resumed node holds the lock from the earlier run (same id).
                let resumed =
                    slot.history.is_empty() && matches!(slot.run, super::NodeRun::Ready { .. });
                (held || resumed)
                    && slot.left.is_none()
                    && !matches!(
                        slot.run,
                        super::NodeRun::Landed | super::NodeRun::RolledBack
                    )
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The node's inventory name.
    pub fn name(&self, node: NodeId) -> &str {
        self.fleet.name(node)
    }

    /// Feed one input at `now`. Returns the machine's effects (for the runner: journal
    /// records to write, phases and rollbacks to run) and progress lines for what
    /// happened (also kept in [`RolloutState::log`]).
    pub fn input(&mut self, input: Input, now: Millis) -> (Vec<Effect>, Vec<String>) {
        let effects = self.machine.handle(input, now);
        let mut lines = Vec::new();
        for e in &effects {
            match e {
                Effect::Journal(rec) => {
                    if let Some(p) = self.describe(rec, now) {
                        lines.push(p);
                    }
                }
                Effect::Run { node, .. } => {
                    if let Some(out) = self.output.get_mut(*node) {
                        out.clear();
                    }
                }
                Effect::Rollback { .. } | Effect::BakePoll { .. } | Effect::Release { .. } => {}
            }
        }
        let text = lines.iter().map(|p| p.text.clone()).collect();
        for p in lines {
            self.log.push_back(p);
            if self.log.len() > LOG_LINES {
                self.log.pop_front();
            }
        }
        (effects, text)
    }

    /// One event from the executor, as [`RolloutState::input`].
    pub fn on_exec(&mut self, ev: ExecEvent, now: Millis) -> (Vec<Effect>, Vec<String>) {
        match ev {
            ExecEvent::Input(i) => return self.input(i, now),
            ExecEvent::Output { node, line } => {
                if let Some(buf) = self.output.get_mut(node) {
                    buf.push_back(line);
                    if buf.len() > OUTPUT_LINES {
                        buf.pop_front();
                    }
                }
            }
            ExecEvent::Doctor { node, report } => {
                if let Some(d) = self.doctor.get_mut(node) {
                    *d = Some(report);
                }
            }
            // The dashboard folds the rollout's polls into its rows (App::handle).
            ExecEvent::Polled(_) => {}
            ExecEvent::Synced { node, stats } => {
                if let Some(s) = self.synced.get_mut(node) {
                    *s = Some(stats);
                }
            }
        }
        (Vec::new(), Vec::new())
    }

    /// The progress line of `rec` at `now`: its words ([`super::words::words`], the
    /// replay's too), timed from the start.
    fn describe(&self, rec: &Record, now: Millis) -> Option<Progress> {
        if !super::words::shown_live(rec) {
            return None;
        }
        let p = super::words::words(rec, &self.fleet);
        let t = format!(
            "[{:>6.1}s]",
            now.saturating_sub(self.started_at) as f64 / 1000.0
        );
        Some(Progress {
            tone: p.tone,
            text: format!("{t} {}", p.text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::NodeId;
    use crate::inventory::{Inventory, Node};
    use crate::rollout::plan::{self, PlanOptions};
    use crate::rollout::{Command, Failure, Mode, Phase};

    const T0: Millis = 1_800_000_000_000;

    fn state() -> RolloutState {
        let nodes: Vec<Node> = ["g1", "g2"]
            .iter()
            .map(|n| Node::new(*n, "gateway"))
            .collect();
        let inv = Inventory::from_nodes(std::path::Path::new("t"), nodes).expect("inventory");
        let p = plan::make(&inv, &PlanOptions::default()).expect("plan");
        let m = Machine::new(p, 2, 7, Mode::Paused);
        let bundle = crate::remote::sim::demo_bundle();
        RolloutState::new(m, inv.nodes.clone(), "r1".into(), &bundle, T0)
    }

    fn done(node: usize, phase: Phase) -> Input {
        Input::PhaseDone {
            node: NodeId::new(node),
            phase,
            note: String::new(),
        }
    }

    /// A phase starting clears the node's output; the journal records come out as
    /// effects (for the runner) and as progress lines timed from the start.
    #[test]
    fn inputs_give_effects_and_timed_lines_without_io() {
        let mut s = state();
        s.input(Input::Tick, T0);
        s.output[NodeId::new(0)].push_back("old".into());
        let (effects, _) = s.input(Input::Op(Command::StepPhase), T0 + 500);
        assert!(effects.contains(&Effect::Run {
            node: NodeId::new(0),
            phase: Phase::Baseline,
            attempt: 1
        }));
        assert!(
            s.output[NodeId::new(0)].is_empty(),
            "a new step's output starts empty"
        );
        let (effects, lines) = s.input(done(0, Phase::Baseline), T0 + 2_300);
        assert!(matches!(
            effects.first(),
            Some(Effect::Journal(Record::PhaseDone { node, .. })) if node.index() == 0
        ));
        assert_eq!(
            lines,
            vec!["[   2.3s] g1 baseline ok: gateway ready, status archived".to_string()]
        );
        assert_eq!(s.log.back().map(|p| &p.text), lines.last());
    }

    /// Operator actions read with node names, never Rust's debug form
    /// (`operator: RetryNow(3)`, `Rollback([0])`, `Skip(3)`).
    #[test]
    fn operator_actions_are_shown_with_node_names() {
        let mut s = state();
        s.input(Input::Tick, T0);
        for (cmd, want) in [
            (Command::Skip(NodeId::new(1)), "operator: skip g2"),
            (Command::RetryNow(NodeId::new(0)), "operator: retry g1 now"),
            (
                Command::Rollback(vec![NodeId::new(0), NodeId::new(1)]),
                "operator: roll back g1, g2",
            ),
            (Command::StepPhase, "operator: step one phase"),
            (Command::Abort, "operator: abort"),
        ] {
            let (_, lines) = s.input(Input::Op(cmd), T0 + 1_000);
            let line = lines
                .iter()
                .find(|l| l.contains("operator:"))
                .unwrap_or_else(|| panic!("no operator line in {lines:?}"));
            assert!(line.ends_with(want), "{line:?}, want {want:?}");
            assert!(!line.contains('('), "{line:?}");
        }
    }

    /// Progress lines carry their tone: the plan view colours by it, not by what the
    /// text happens to contain (a finish with "0 failed" is good news; a node's own
    /// note saying "failed" is not a failure).
    #[test]
    fn progress_lines_carry_their_tone() {
        let mut s = state();
        s.input(Input::Tick, T0);
        s.input(Input::Op(Command::Run), T0);
        for node in [NodeId::new(0), NodeId::new(1)] {
            for ph in Phase::ALL {
                let note = "0 skills failed to warm".to_string();
                s.input(
                    Input::PhaseDone {
                        node,
                        phase: ph,
                        note,
                    },
                    T0 + 1,
                );
            }
        }
        let tone_of = |s: &RolloutState, needle: &str| {
            s.log
                .iter()
                .find(|p| p.text.contains(needle))
                .map(|p| p.tone)
        };
        assert_eq!(tone_of(&s, "g1 LANDED"), Some(Tone::Good));
        assert_eq!(tone_of(&s, "prewarm ok"), Some(Tone::Note), "{:?}", s.log);
        assert_eq!(
            tone_of(&s, "finished: 2 landed, 0 failed"),
            Some(Tone::Good),
            "{:?}",
            s.log
        );
        let mut s = state();
        s.input(Input::Tick, T0);
        s.input(Input::Op(Command::Run), T0);
        for ph in [Phase::Baseline, Phase::Drain, Phase::Sync] {
            s.input(done(0, ph), T0 + 1);
        }
        s.input(
            Input::PhaseFailed {
                node: NodeId::new(0),
                phase: Phase::Verify,
                failure: Failure::Mismatch("1 difference(s)".into()),
            },
            T0 + 2,
        );
        assert_eq!(tone_of(&s, "MISMATCH"), Some(Tone::Bad), "{:?}", s.log);
    }

    /// The lock is held from a passed baseline until undrain.
    #[test]
    fn lock_holders_follow_baseline_and_undrain() {
        let mut s = state();
        s.input(Input::Tick, T0);
        s.input(Input::Op(Command::Run), T0);
        assert_eq!(s.lock_holders(), Vec::<NodeId>::new());
        s.input(done(0, Phase::Baseline), T0 + 1);
        assert_eq!(s.lock_holders(), vec![NodeId::new(0)]);
        for ph in &Phase::ALL[1..] {
            s.input(done(0, *ph), T0 + 2);
        }
        assert_eq!(
            s.machine.nodes[NodeId::new(0)].run,
            crate::rollout::NodeRun::Landed
        );
        assert!(!s.lock_holders().contains(&NodeId::new(0)));
    }
}
