//! The machine's nodes are the journal's records folded by [`NodeTrack::apply`], and so
//! are the replay's: a scripted rollout (retries, an operator's retry of a waiting and
//! of a failed node, a skip mid-phase, a checksum mismatch and its halt, rollbacks, a
//! stop with nodes in flight), compared after every input.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use super::*;
use crate::inventory::{Inventory, Node};
use crate::replay::Replay;
use crate::rollout::journal::test_support::write_journal;
use crate::rollout::plan::{self, PlanOptions, Size};
use crate::rollout::{Effect, Input, Machine, Mode, NodeError};

const NAMES: [&str; 6] = ["w1", "w2", "w3", "w4", "w5", "w6"];

/// What the scripted executor answers to a run of `phase` (its `n`th run of that
/// phase and attempt): w1's and w3's first sync fail for a while, w2's first baseline
/// fails for good, w5's copy never matches, w6's prewarm keeps timing out; the rest
/// passes.
fn outcome(name: &str, phase: Phase, attempt: u32, n: u32) -> Result<(), Failure> {
    match (name, phase, attempt, n) {
        ("w1" | "w3", Phase::Sync, 1, 1) => Err(Failure::Transient("rsync exit 12".into())),
        ("w2", Phase::Baseline, 1, 1) => Err(Failure::Fatal("gateway not ready".into())),
        ("w5", Phase::Verify, _, _) => Err(Failure::Mismatch("SKILL.md differs".into())),
        ("w6", Phase::Prewarm, _, _) => Err(Failure::Transient("prewarm timed out".into())),
        _ => Ok(()),
    }
}

/// The machine, its journaled records with their times, and the record count after
/// each input with the machine's nodes then.
struct Run {
    m: Machine,
    records: Vec<(Record, Millis)>,
    steps: Vec<(usize, Vec<NodeTrack>)>,
    runs: VecDeque<(NodeId, Phase, u32)>,
    rollbacks: VecDeque<NodeId>,
    releases: VecDeque<NodeId>,
}

impl Run {
    fn feed(&mut self, input: Input, now: Millis) {
        for e in self.m.handle(input, now) {
            match e {
                Effect::Journal(rec) => self.records.push((rec, now)),
                Effect::Run {
                    node,
                    phase,
                    attempt,
                } => self.runs.push_back((node, phase, attempt)),
                Effect::Rollback { node } => self.rollbacks.push_back(node),
                Effect::Release { node } => self.releases.push_back(node),
                Effect::BakePoll { .. } => {}
            }
        }
        let nodes = self.m.nodes.iter().cloned().collect();
        self.steps.push((self.records.len(), nodes));
        self.same_as_its_records();
    }

    /// The machine's nodes equal its records folded from scratch (each node's course
    /// the plan's).
    fn same_as_its_records(&self) {
        let mut folded: Vec<NodeTrack> = vec![NodeTrack::new(); NAMES.len()];
        for (rec, at) in &self.records {
            if let Some(n) = subject(rec) {
                folded[n.index()].apply(rec, *at, |p| self.m.next_phase(n, p));
            }
        }
        for (i, f) in folded.iter().enumerate() {
            let id = NodeId::new(i);
            assert_eq!(
                &self.m.nodes[id],
                f,
                "{} after record {}",
                NAMES[i],
                self.records.len()
            );
        }
    }
}

fn is(m: &Machine, i: usize, what: impl Fn(&NodeRun) -> bool) -> bool {
    what(&m.nodes[NodeId::new(i)].run)
}

fn scripted_rollout() -> (Run, Inventory) {
    let nodes: Vec<Node> = NAMES.iter().map(|n| Node::new(*n, "worker")).collect();
    let inv = Inventory::from_nodes(Path::new("t"), nodes).expect("inventory");
    let opts = PlanOptions {
        wave: Size::Percent(100),
        failure_budget: Size::Count(5),
        ..PlanOptions::default()
    };
    let p = plan::make(&inv, &opts).expect("plan");
    let mut r = Run {
        m: Machine::new(p, NAMES.len(), 7, Mode::Run),
        records: Vec::new(),
        steps: Vec::new(),
        runs: VecDeque::new(),
        rollbacks: VecDeque::new(),
        releases: VecDeque::new(),
    };
    let id = NodeId::new;
    let (mut now, mut ran) = (0, HashMap::new());
    // Retry w3, retry w2, skip w4, stop, roll back w1 (it fails), again (it goes back),
    // retry w5 (its bad copy is synced again), again once it was put back (from the
    // start).
    let mut done = [false; 8];
    r.feed(Input::Tick, now);
    for _ in 0..500 {
        now += 1_000;
        let m = &r.m;
        let op = if !done[0] && is(m, 2, |s| matches!(s, NodeRun::Retrying { .. })) {
            done[0] = true;
            Some(Command::RetryNow(id(2)))
        } else if !done[1] && is(m, 1, |s| matches!(s, NodeRun::Failed { .. })) {
            done[1] = true;
            Some(Command::RetryNow(id(1)))
        } else if !done[2]
            && is(
                m,
                3,
                |s| matches!(s, NodeRun::Active { phase, .. } if *phase == Phase::Sync),
            )
        {
            done[2] = true;
            Some(Command::Skip(id(3)))
        } else if !done[6] && is(m, 4, |s| matches!(s, NodeRun::Failed { .. })) {
            done[6] = true;
            Some(Command::RetryNow(id(4)))
        } else if m.halt.is_some() && !m.aborted {
            Some(Command::Resume)
        } else if !done[4] && is(m, 0, |s| *s == NodeRun::Landed) {
            done[4] = true;
            Some(Command::Rollback(vec![id(0)]))
        } else if done[4]
            && !done[5]
            && r.rollbacks.is_empty()
            && is(m, 0, |s| *s == NodeRun::Landed)
        {
            done[5] = true;
            Some(Command::Rollback(vec![id(0)]))
        } else if !done[3]
            && is(m, 4, |s| matches!(s, NodeRun::Failed { .. }))
            && is(
                m,
                5,
                |s| matches!(s, NodeRun::Retrying { phase, .. } if *phase == Phase::Prewarm),
            )
        {
            done[3] = true;
            Some(Command::Abort)
        } else {
            None
        };
        if let Some(cmd) = op {
            r.feed(Input::Op(cmd), now);
        } else if let Some(node) = r.rollbacks.pop_front() {
            let result = if done[5] {
                Ok("back on the old bundle".into())
            } else {
                Err(NodeError::Remote("ssh: connection refused".into()))
            };
            r.feed(Input::RollbackDone { node, result }, now);
        } else if let Some(node) = r.releases.pop_front() {
            r.feed(
                Input::Released {
                    node,
                    result: Ok(String::new()),
                },
                now,
            );
        } else if let Some((node, phase, attempt)) = r.runs.pop_front() {
            let n = ran.entry((node, phase, attempt)).or_insert(0);
            *n += 1;
            let name = NAMES[node.index()];
            let mut phases = vec![phase];
            phases.extend(phase.carries_on());
            for phase in phases {
                let input = match outcome(name, phase, attempt, *n) {
                    Ok(()) => Input::PhaseDone {
                        node,
                        phase,
                        note: format!("{} ok", phase.name()),
                    },
                    Err(failure) => Input::PhaseFailed {
                        node,
                        phase,
                        failure,
                    },
                };
                let failed = matches!(input, Input::PhaseFailed { .. });
                r.feed(input, now);
                if failed {
                    break;
                }
            }
        } else if done[3] && !done[7] && r.m.idle() {
            done[7] = true;
            r.feed(Input::Op(Command::RetryNow(id(4))), now);
        } else if r.m.idle() {
            break;
        } else {
            now += 30_000;
            r.feed(Input::Tick, now);
        }
    }
    (r, inv)
}

/// Every node state the machine was in is its records folded by the one interpreter
/// (checked in `Run::feed` after every input), and the scripted rollout went through
/// every kind of transition.
#[test]
fn the_machine_s_nodes_are_its_journaled_records_folded() {
    let (r, _) = scripted_rollout();
    let kinds: Vec<&str> = r
        .records
        .iter()
        .map(|(rec, _)| match rec {
            Record::RetryScheduled { .. } => "retry",
            Record::NodeFailed { .. } => "failed",
            Record::NodeSkipped { .. } => "skipped",
            Record::NodeStopped { .. } => "stopped",
            Record::NodeLanded { .. } => "landed",
            Record::RolledBack { result: Ok(_), .. } => "rolled back",
            Record::RolledBack { result: Err(_), .. } => "rollback failed",
            Record::Operator {
                command: Command::RetryNow(_),
            } => "retry now",
            Record::Halted { .. } => "halted",
            _ => "",
        })
        .collect();
    for k in [
        "retry",
        "failed",
        "skipped",
        "stopped",
        "landed",
        "rolled back",
        "rollback failed",
        "retry now",
        "halted",
    ] {
        assert!(kinds.contains(&k), "no {k} in the script: {kinds:?}");
    }
    let run = |i: usize| r.m.nodes[NodeId::new(i)].run.clone();
    assert_eq!(run(0), NodeRun::RolledBack);
    assert_eq!(run(1), NodeRun::Landed, "w2 retried by the operator");
    assert_eq!(
        run(2),
        NodeRun::Landed,
        "w3 retried now, then under way at the stop"
    );
    assert_eq!(run(3), NodeRun::Skipped);
    let w5_put_back = r
        .steps
        .iter()
        .find(|(upto, _)| {
            r.records[..*upto].iter().any(
                |(rec, _)| matches!(rec, Record::NodeStopped { node, .. } if node.index() == 4),
            )
        })
        .map(|(_, nodes)| nodes[4].clone());
    assert!(
        matches!(
            w5_put_back.as_ref().map(|n| &n.run),
            Some(NodeRun::Failed {
                phase: Phase::Verify,
                error: Failure::Mismatch(_),
            })
        ),
        "w5 ends as its failure once put back: {w5_put_back:?}"
    );
    let syncs = |i: usize| {
        r.m.nodes[NodeId::new(i)]
            .history
            .iter()
            .filter(|a| a.phase == Phase::Sync)
            .count()
    };
    assert_eq!(syncs(4), 2, "w5 synced again when retried");
    assert_eq!(
        run(4),
        NodeRun::Ready {
            next: Phase::Baseline
        },
        "retried once put back, w5 starts over (the rollout stopped: it waits)"
    );
    assert_eq!(r.m.nodes[NodeId::new(4)].left, None);
    assert_eq!(r.m.nodes[NodeId::new(4)].done, None);
    assert_eq!(run(5), NodeRun::Stopped);
    assert_eq!(r.m.nodes[NodeId::new(5)].left, Some(Left::OnBundle));
    assert_eq!(
        r.m.nodes[NodeId::new(0)].error.as_deref(),
        Some("rollback failed: ssh: connection refused")
    );
}

/// The replay of the journal the machine wrote is the machine's nodes at every step:
/// the same interpreter, read back from the file (the replay knows no plan, so of a
/// node between phases it knows the phase done, not the next one).
#[test]
fn the_replay_of_its_journal_is_the_machine_at_every_step() {
    let (r, inv) = scripted_rollout();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("j.jsonl");
    write_journal(&path, "sha", inv.nodes.clone(), r.records.iter().cloned());
    let replay = Replay::load(&path).expect("load");
    assert!(replay.bad.is_empty(), "{:?}", replay.bad);
    let next_unknown = |run: &NodeRun| match run {
        NodeRun::Ready { .. } => NodeRun::Ready {
            next: Phase::Baseline,
        },
        other => other.clone(),
    };
    for (upto, nodes) in &r.steps {
        let at = replay.state_at(*upto);
        for (i, want) in nodes.iter().enumerate() {
            let Some(got) = at.nodes.iter().find(|n| n.name == NAMES[i]) else {
                assert_eq!(
                    want,
                    &NodeTrack::new(),
                    "{} not in the journal yet",
                    NAMES[i]
                );
                continue;
            };
            let mut got = got.track.clone();
            let mut want = want.clone();
            got.run = next_unknown(&got.run);
            want.run = next_unknown(&want.run);
            assert_eq!(got, want, "{} after record {upto}", NAMES[i]);
        }
    }
}
