//! Glue between the machine, the journal and the executor: inputs go into the machine,
//! its effects are journalled or spawned, and what happened becomes progress lines. The
//! headless command and the dashboard both drive a rollout through this.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::Plan;
use super::exec::{self, ExecEvent, RolloutCtx};
use super::journal::Journal;
use super::machine::{Effect, Failure, Input, Machine, Record};
use super::node_ops::RsyncStats;
use crate::observe::Millis;
use crate::poller::PollCtx;
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
        if !matches!(self.ctx.poll.transport, crate::remote::Transport::Ssh(_)) {
            return;
        }
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

/// Everything a rollout session needs before it starts.
pub struct Session {
    pub poll: Arc<crate::poller::PollCtx>,
    pub bundle: Arc<crate::manifest::Bundle>,
    pub plan: super::Plan,
    /// The staged copy (real nodes only).
    pub stage_dir: std::path::PathBuf,
    pub journal: std::path::PathBuf,
    pub ssh_config: Option<std::path::PathBuf>,
    pub limits: exec::Limits,
    /// Who holds the node locks.
    pub who: String,
}

/// Start a rollout session: read the journal (to resume), check what it says against
/// the nodes' real `current`, open it for appending, and build the machine in `mode`.
/// Returns the driver and lines worth telling the operator (resume, nodes redone).
pub async fn start(
    s: Session,
    mode: super::Mode,
    tx: UnboundedSender<ExecEvent>,
    now: Millis,
) -> std::io::Result<(Driver, Vec<String>)> {
    let mut notes = Vec::new();
    let resume = super::journal::read_resume(&s.journal, &s.bundle.skills_sha);
    for b in &resume.bad_lines {
        notes.push(crate::safe_text::clean(&format!(
            "journal {}: skipped {b}",
            s.journal.display()
        )));
    }
    let rollout_id = match &resume.rollout_id {
        Some(id) => {
            notes.push(format!(
                "resuming rollout {id} from {}",
                s.journal.display()
            ));
            id.clone()
        }
        None => format!("r{now:x}-{}", std::process::id()),
    };
    let names: Vec<String> = s.poll.nodes.iter().map(|n| n.name.clone()).collect();
    let mut last_done = resume.last_done.clone();
    if matches!(s.poll.transport, crate::remote::Transport::Ssh(_)) {
        notes.extend(
            confirm_on_nodes(
                &s.poll,
                &s.plan,
                &names,
                &s.bundle.skills_sha,
                &mut last_done,
                s.limits.command,
            )
            .await,
        );
    }
    let journal = Journal::open(
        &s.journal,
        rollout_id.clone(),
        s.bundle.skills_sha.clone(),
        s.bundle.manifest_sha256.clone(),
        names.clone(),
    )?;
    let mut machine = Machine::new(s.plan, names.len(), now, mode);
    machine.set_names(names.clone());
    for (i, n) in names.iter().enumerate() {
        if let Some(ph) = last_done.get(n) {
            machine.restore(i, *ph);
        }
    }
    let ctx = Arc::new(RolloutCtx {
        poll: s.poll,
        bundle: s.bundle,
        stage_dir: s.stage_dir,
        rollout_id,
        who: s.who,
        ssh_config: s.ssh_config,
        limits: s.limits,
    });
    let mut d = Driver::new(machine, ctx, Some(journal), tx, now);
    d.journal_path = Some(s.journal.clone());
    d.log.extend(notes.iter().cloned());
    Ok((d, notes))
}

/// Open the ssh masters of the plan's nodes in the background, in plan order, a few at
/// a time: a wave then starts on open connections while the canary is still prewarming,
/// instead of every node of the wave paying its handshake at once at baseline. Errors
/// are left for the node's first phase to meet (and retry).
pub fn preconnect(poll: &Arc<PollCtx>, plan: &Plan) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    let poll = poll.clone();
    let order: Vec<usize> = plan.nodes().collect();
    tokio::spawn(async move {
        let crate::remote::Transport::Ssh(pool) = &poll.transport else {
            return;
        };
        // The first canary alone: it is the one node waiting for its connection now.
        let Some((&first, rest)) = order.split_first() else {
            return;
        };
        let _ = pool.control_socket(first).await;
        futures::stream::iter(rest.iter().copied())
            .map(|i| pool.control_socket(i))
            .buffered(4)
            .for_each(|_| async {})
            .await;
    })
}

/// The journal is not the fleet: a node it says switched (or landed) may have been
/// rolled back, rolled forward to another bundle or changed by hand since. Read `current`
/// on each such node and forget what the journal says about the ones that do not run
/// the bundle (or do not answer): they go through every phase again. Returns a line per
/// node forgotten.
async fn confirm_on_nodes(
    poll: &PollCtx,
    plan: &Plan,
    names: &[String],
    sha: &str,
    last_done: &mut std::collections::BTreeMap<String, crate::rollout::Phase>,
    timeout: Duration,
) -> Vec<String> {
    let to_check: Vec<(usize, crate::rollout::Phase)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| last_done.get(n).map(|p| (i, *p)))
        .filter(|&(i, p)| p >= crate::rollout::Phase::Switch && plan.locate(i).is_some())
        .collect();
    let answers = futures::future::join_all(
        to_check
            .iter()
            .map(|&(i, _)| crate::rollout::exec::read_current(poll, i, timeout)),
    )
    .await;
    let mut lines = Vec::new();
    for (&(i, phase), answer) in to_check.iter().zip(answers) {
        let what = if phase == crate::rollout::Phase::Undrain {
            "landed".to_string()
        } else {
            format!("got past {}", phase.name())
        };
        let seen = match answer {
            Ok(Some(t)) if t == sha => continue,
            Ok(Some(t)) => format!("its current is {t}"),
            Ok(None) => "it has no current".to_string(),
            Err(e) => format!("its current cannot be read ({e})"),
        };
        last_done.remove(&names[i]);
        lines.push(format!(
            "{}: the journal says it {what}, but {seen}: running every phase again",
            names[i]
        ));
    }
    lines
}
