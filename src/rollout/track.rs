//! What the journal's records do to one node: the one interpreter of a [`Record`] as a
//! node's transition (where it is, its attempts, its last error, where it was left,
//! when it started and ended). The rollout machine changes a node only by building a
//! record and applying it here before it journals the same record, and the replay folds
//! the journal through the same [`NodeTrack::apply`]: what the journal says a node did
//! is by construction what the machine's node became. Pure: the time is an argument.
//!
//! Two changes to a node no record carries stay the machine's (`machine.rs`): where a
//! resumed node starts (`Machine::restore`, from what an earlier run journaled) and a
//! staged node sent back to waiting by [`Command::Only`] (which re-plans the whole
//! rollout, not one node). What the machine alone decides (the next phase of a
//! wind-down, an operator's step) it keeps beside the track, and a node changes only
//! when the record that says so is applied.

use serde::Serialize;

use super::types::{Attempt, Command, Failure, Left, NodeRun, Phase, Record};
use crate::inventory::NodeId;
use crate::observe::Millis;

/// One node as the records applied to it made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeTrack {
    pub run: NodeRun,
    /// Every attempt of every phase, in the order they started.
    pub history: Vec<Attempt>,
    /// Its first phase started at `started`; it landed, failed or was let go at `ended`
    /// (`None` again once a phase of it starts).
    pub started: Option<Millis>,
    pub ended: Option<Millis>,
    /// The last phase that passed (this run, or the run resumed): how far the node got.
    pub done: Option<Phase>,
    /// Where the rollout left it, once it let go of it without landing it.
    pub left: Option<Left>,
    /// The last error any record reported of it: a failed attempt, its failure, a
    /// failed rollback (`rollback failed: ...`).
    #[serde(skip)]
    pub error: Option<String>,
    /// What it is once the rollout lets go of it (`node_stopped`): skipped
    /// (`node_skipped`), the failure it had (`node_failed`), else stopped.
    #[serde(skip)]
    ends_as: Option<NodeRun>,
}

impl Default for NodeTrack {
    fn default() -> Self {
        NodeTrack::new()
    }
}

/// The node a record changes: its own node, or the node an operator's retry is for.
pub fn subject(rec: &Record) -> Option<NodeId> {
    match rec {
        Record::Operator {
            command: Command::RetryNow(node),
        } => Some(*node),
        _ => rec.node(),
    }
}

impl NodeTrack {
    pub fn new() -> Self {
        NodeTrack {
            run: NodeRun::Pending,
            history: Vec::new(),
            started: None,
            ended: None,
            done: None,
            left: None,
            error: None,
            ends_as: None,
        }
    }

    /// Apply `rec` (about this node, see [`subject`]) at `at`. `next` is the phase that
    /// follows a passed one on this node's course (the plan's order for it): a
    /// `phase_done` leaves the node `Ready` for it, or where it is when `next` gives
    /// none (the last phase: `node_landed` follows; a wind-down: the machine decides).
    /// Records about no node, or about another node's part, change nothing.
    pub fn apply(&mut self, rec: &Record, at: Millis, next: impl FnOnce(Phase) -> Option<Phase>) {
        match rec {
            Record::PhaseStarted { phase, attempt, .. } => {
                self.started.get_or_insert(at);
                self.ended = None;
                self.run = NodeRun::Active {
                    phase: *phase,
                    attempt: *attempt,
                    since: at,
                };
                self.history.push(Attempt {
                    phase: *phase,
                    attempt: *attempt,
                    started: at,
                    ended: None,
                    outcome: None,
                });
            }
            Record::PhaseDone {
                phase,
                attempt,
                note,
                ..
            } => {
                self.close(*phase, *attempt, at, Ok(note.clone()));
                self.done = Some(*phase);
                if let Some(next) = next(*phase) {
                    self.run = NodeRun::Ready { next };
                }
            }
            Record::PhaseFailed {
                phase,
                attempt,
                failure,
                ..
            } => {
                self.error = Some(failure.message().to_string());
                self.close(*phase, *attempt, at, Err(failure.clone()));
            }
            Record::RetryScheduled {
                phase,
                attempt,
                delay_ms,
                ..
            } => {
                self.run = NodeRun::Retrying {
                    phase: *phase,
                    attempt: *attempt,
                    at: at + delay_ms,
                    error: self.error.clone().unwrap_or_default(),
                };
            }
            Record::NodeLanded { .. } => {
                self.run = NodeRun::Landed;
                self.ended = Some(at);
                self.ends_as = None;
            }
            Record::NodeFailed { phase, error, .. } => {
                // The failure its last attempt of the phase journaled, with its kind.
                let failure = self
                    .history
                    .iter()
                    .rev()
                    .find(|a| a.phase == *phase)
                    .and_then(|a| match &a.outcome {
                        Some(Err(f)) if f.message() == error => Some(f.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| Failure::Fatal(error.clone()));
                self.run = NodeRun::Failed {
                    phase: *phase,
                    error: failure,
                };
                self.error = Some(error.clone());
                self.ended = Some(at);
                self.ends_as = Some(self.run.clone());
            }
            Record::NodeSkipped { .. } => {
                // It winds down first (a phase in flight finishes, then it is put back
                // in service): skipped once `node_stopped` says where it was left.
                self.ends_as = Some(NodeRun::Skipped);
            }
            Record::NodeStopped { left, .. } => {
                self.run = self.ends_as.take().unwrap_or(NodeRun::Stopped);
                self.ended = Some(at);
                self.left = Some(left.clone());
            }
            Record::RolledBack { result, .. } => match result {
                Ok(_) => self.run = NodeRun::RolledBack,
                Err(m) => self.error = Some(format!("rollback failed: {m}")),
            },
            Record::Operator {
                command: Command::RetryNow(_),
            } => self.retry_now(at),
            Record::Operator { .. }
            | Record::StageStarted { .. }
            | Record::Halted { .. }
            | Record::RunStarted { .. }
            | Record::BakeStarted { .. }
            | Record::BakePolled { .. }
            | Record::BakeDone { .. }
            | Record::Finished { .. } => {}
        }
    }

    /// A new run of meshroll took over (a crash and its resume): it starts with a new
    /// machine, so what the run before meant to make of the node once let go of it
    /// (skipped, the failure it had) is forgotten; a stop of the new run leaves it
    /// stopped.
    pub fn new_run(&mut self) {
        self.ends_as = None;
    }

    /// The operator's "retry now": a waiting retry starts now; a failed node goes again
    /// from the phase that failed (a bad copy from sync, a node put back since from the
    /// start). Anything else is left as it is.
    fn retry_now(&mut self, at: Millis) {
        match &mut self.run {
            NodeRun::Retrying { at: when, .. } => *when = at,
            NodeRun::Failed { phase, .. } => {
                let from = if self.left.is_some() {
                    self.left = None;
                    self.done = None;
                    Phase::Baseline
                } else if *phase == Phase::Verify {
                    Phase::Sync
                } else {
                    *phase
                };
                self.run = NodeRun::Ready { next: from };
                self.ended = None;
                self.ends_as = None;
            }
            _ => {}
        }
    }

    /// End the open attempt `attempt` of `phase` with `outcome`.
    fn close(&mut self, phase: Phase, attempt: u32, at: Millis, outcome: Result<String, Failure>) {
        if let Some(a) = self
            .history
            .iter_mut()
            .rev()
            .find(|a| a.phase == phase && a.attempt == attempt && a.ended.is_none())
        {
            a.ended = Some(at);
            a.outcome = Some(outcome);
        }
    }

    /// The attempt running now, if one is (its phase and number).
    pub fn open_attempt(&self) -> Option<&Attempt> {
        self.history.iter().rev().find(|a| a.ended.is_none())
    }

    /// The attempt of the phase in progress (running or waiting to retry), or of the
    /// phase the node failed in; `None` between phases and once it landed.
    pub fn attempt_in_progress(&self) -> Option<u32> {
        match &self.run {
            NodeRun::Active { attempt, .. } | NodeRun::Retrying { attempt, .. } => Some(*attempt),
            NodeRun::Failed { phase, .. } => self
                .history
                .iter()
                .rev()
                .find(|a| a.phase == *phase)
                .map(|a| a.attempt),
            _ => None,
        }
    }

    /// Retries the node used, over all its phases (attempts after a phase's first).
    pub fn retries_used(&self) -> usize {
        self.history.iter().filter(|a| a.attempt > 1).count()
    }

    /// The last error of any attempt.
    pub fn last_error(&self) -> Option<&str> {
        self.history.iter().rev().find_map(|a| match &a.outcome {
            Some(Err(f)) => Some(f.message()),
            _ => None,
        })
    }
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;
