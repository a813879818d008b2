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
        }
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", String::as_str)
    }

    /// Feed one input; run the effects. Returns progress lines for what happened.
    pub fn input(&mut self, input: Input, now: Millis) -> Vec<String> {
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

/// Start a rollout session: read the journal (to resume), open it for appending, build
/// the machine in `mode` and the driver around it.
#[allow(clippy::too_many_arguments)]
pub fn start(
    poll: Arc<crate::poller::PollCtx>,
    bundle: Arc<crate::manifest::Bundle>,
    plan: super::Plan,
    stage_dir: std::path::PathBuf,
    journal_path: &std::path::Path,
    ssh_config: Option<std::path::PathBuf>,
    limits: exec::Limits,
    who: String,
    mode: super::Mode,
    tx: UnboundedSender<ExecEvent>,
    now: Millis,
) -> std::io::Result<(Driver, bool)> {
    let resume = super::journal::read_resume(journal_path, &bundle.skills_sha);
    let resumed = resume.rollout_id.is_some();
    let rollout_id = resume
        .rollout_id
        .clone()
        .unwrap_or_else(|| format!("r{now:x}-{}", std::process::id()));
    let names: Vec<String> = poll.nodes.iter().map(|n| n.name.clone()).collect();
    let journal = Journal::open(
        journal_path,
        rollout_id.clone(),
        bundle.skills_sha.clone(),
        bundle.manifest_sha256.clone(),
        names.clone(),
    )?;
    let mut machine = Machine::new(plan, names.len(), now, mode);
    machine.set_names(names.clone());
    for (i, n) in names.iter().enumerate() {
        if let Some(ph) = resume.last_done.get(n) {
            machine.restore(i, *ph);
        }
    }
    let ctx = Arc::new(RolloutCtx {
        poll,
        bundle,
        stage_dir,
        rollout_id,
        who,
        ssh_config,
        limits,
    });
    Ok((Driver::new(machine, ctx, Some(journal), tx, now), resumed))
}
