//! Glue between the machine, the journal and the executor: inputs go into the machine,
//! its effects are journalled or spawned, and what happened becomes progress lines. The
//! headless command and the dashboard both drive a rollout through this.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::exec::{self, ExecEvent, RolloutCtx};
use super::journal::Journal;
use super::machine::{Effect, Failure, Input, Machine, Record};
use super::node_ops::RsyncStats;
use crate::observe::Millis;
use crate::signals::DoctorReport;

/// Lines of live output kept per node.
const OUTPUT_LINES: usize = 200;

pub struct Driver {
    pub machine: Machine,
    pub ctx: Arc<RolloutCtx>,
    journal: Option<Journal>,
    tx: UnboundedSender<ExecEvent>,
    /// Node names, for progress lines.
    names: Vec<String>,
    pub started_at: Millis,
    /// Live output of the running step, per node.
    pub output: Vec<VecDeque<String>>,
    pub doctor: Vec<Option<DoctorReport>>,
    pub synced: Vec<Option<RsyncStats>>,
    /// The most recent progress lines, newest last.
    pub log: VecDeque<String>,
    /// When the heartbeat of the held node locks is next refreshed.
    next_heartbeat: Millis,
    /// Where the journal is written (for the recap on exit).
    pub journal_path: Option<std::path::PathBuf>,
}

impl Driver {
    pub fn new(
        machine: Machine,
        ctx: Arc<RolloutCtx>,
        journal: Option<Journal>,
        tx: UnboundedSender<ExecEvent>,
        now: Millis,
    ) -> Self {
        let n = machine.nodes.len();
        let names = ctx.poll.nodes.iter().map(|n| n.name.clone()).collect();
        let next_heartbeat = now + ctx_heartbeat_ms(&ctx);
        Driver {
            machine,
            ctx,
            journal,
            tx,
            names,
            started_at: now,
            output: vec![VecDeque::new(); n],
            doctor: vec![None; n],
            synced: vec![None; n],
            log: VecDeque::new(),
            next_heartbeat,
            journal_path: None,
        }
    }

    /// Nodes whose lock this rollout holds: the baseline passed (it took the lock) and
    /// neither undrain (which releases it) nor a rollback (likewise) has run since.
    pub fn lock_holders(&self) -> Vec<usize> {
        self.machine
            .nodes
            .iter()
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
                    && !matches!(
                        slot.run,
                        super::NodeRun::Landed | super::NodeRun::RolledBack
                    )
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Refresh the heartbeat of every lock held, when it is due.
    fn heartbeat(&mut self, now: Millis) {
        if now < self.next_heartbeat {
            return;
        }
        self.next_heartbeat = now + ctx_heartbeat_ms(&self.ctx);
        for node in self.lock_holders() {
            let ctx = self.ctx.clone();
            tokio::spawn(async move {
                if let Err(e) =
                    exec::run_heartbeat(&ctx.poll, node, &ctx.rollout_id, ctx.limits.command).await
                {
                    tracing::warn!(node, error = %e, "lock heartbeat failed");
                }
            });
        }
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }

    /// Feed one input; run the effects. Returns progress lines for what happened.
    pub fn input(&mut self, input: Input, now: Millis) -> Vec<String> {
        if input == Input::Tick {
            self.heartbeat(now);
        }
        let effects = self.machine.handle(input, now);
        let mut lines = Vec::new();
        for e in effects {
            match e {
                Effect::Journal(rec) => {
                    if let Some(j) = self.journal.as_mut() {
                        j.write(&rec, now);
                    }
                    if let Some(l) = self.describe(&rec, now) {
                        lines.push(l);
                    }
                }
                Effect::Run { node, .. } => {
                    self.output[node].clear();
                    exec::spawn(self.ctx.clone(), e, self.tx.clone());
                }
                other => exec::spawn(self.ctx.clone(), other, self.tx.clone()),
            }
        }
        for l in &lines {
            self.log.push_back(l.clone());
            if self.log.len() > 500 {
                self.log.pop_front();
            }
        }
        lines
    }

    /// One event from the executor.
    pub fn on_exec(&mut self, ev: ExecEvent, now: Millis) -> Vec<String> {
        match ev {
            ExecEvent::Input(i) => self.input(i, now),
            ExecEvent::Output { node, line } => {
                if let Some(buf) = self.output.get_mut(node) {
                    buf.push_back(line);
                    if buf.len() > OUTPUT_LINES {
                        buf.pop_front();
                    }
                }
                Vec::new()
            }
            ExecEvent::Doctor { node, report } => {
                if let Some(d) = self.doctor.get_mut(node) {
                    *d = Some(report);
                }
                Vec::new()
            }
            ExecEvent::Synced { node, stats } => {
                if let Some(s) = self.synced.get_mut(node) {
                    *s = Some(stats);
                }
                Vec::new()
            }
        }
    }

    fn describe(&self, rec: &Record, now: Millis) -> Option<String> {
        let t = format!(
            "[{:>6.1}s]",
            now.saturating_sub(self.started_at) as f64 / 1000.0
        );
        Some(match rec {
            Record::PhaseStarted {
                node,
                phase,
                attempt,
            } if *attempt > 1 => {
                format!(
                    "{t} {} {} attempt {attempt}/{}",
                    self.name(*node),
                    phase.name(),
                    super::machine::MAX_ATTEMPTS
                )
            }
            Record::PhaseStarted { .. } => return None,
            Record::PhaseDone {
                node, phase, note, ..
            } => {
                let note = if *phase == super::Phase::Baseline {
                    "gateway ready, status archived"
                } else {
                    note
                };
                format!("{t} {} {} ok: {note}", self.name(*node), phase.name())
            }
            Record::PhaseFailed {
                node,
                phase,
                attempt,
                failure,
            } => {
                let kind = match failure {
                    Failure::Transient(_) => "transient",
                    Failure::Fatal(_) => "fatal",
                    Failure::Mismatch(_) => "MISMATCH",
                    Failure::Blocked(_) => "blocked",
                };
                format!(
                    "{t} {} {} failed ({kind}, attempt {attempt}/{}): {}",
                    self.name(*node),
                    phase.name(),
                    super::machine::MAX_ATTEMPTS,
                    failure.message()
                )
            }
            Record::RetryScheduled {
                node,
                phase,
                attempt,
                delay_ms,
            } => format!(
                "{t} {} {} retry {attempt}/{} in {:.1}s",
                self.name(*node),
                phase.name(),
                super::machine::MAX_ATTEMPTS,
                *delay_ms as f64 / 1000.0
            ),
            Record::NodeLanded { node } => format!("{t} {} LANDED", self.name(*node)),
            Record::NodeFailed { node, phase, error } => {
                format!(
                    "{t} {} FAILED at {}: {error}",
                    self.name(*node),
                    phase.name()
                )
            }
            Record::NodeSkipped { node } => format!("{t} {} skipped", self.name(*node)),
            Record::StageStarted { class, stage } => {
                if *stage == 0 {
                    format!("{t} class {class}: canary")
                } else {
                    format!("{t} class {class}: wave {stage}")
                }
            }
            Record::Halted { reason } => format!("{t} HALTED, waiting for the operator: {reason}"),
            Record::Operator { command } => format!("{t} operator: {command:?}"),
            Record::RolledBack { node, result } => match result {
                Ok(m) => format!("{t} {} rolled back: {m}", self.name(*node)),
                Err(e) => format!("{t} {} rollback failed: {e}", self.name(*node)),
            },
            Record::Finished {
                landed,
                failed,
                skipped,
            } => {
                format!("{t} finished: {landed} landed, {failed} failed, {skipped} skipped")
            }
        })
    }
}

fn ctx_heartbeat_ms(ctx: &RolloutCtx) -> Millis {
    (ctx.limits.heartbeat.as_millis() as Millis).max(1000)
}
