//! The I/O side of a rollout: the journal file, the executor's channel and its tasks.
//! [`RolloutState`] decides; the runner writes what it journals, spawns the phases and
//! rollbacks it asks for, and keeps the held node locks' heartbeat. Owned by the loop
//! that drives the rollout (the headless command's, the dashboard's).

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::events::ExecEvent;
use super::journal::Journal;
use super::machine::{Effect, Input};
use super::state::RolloutState;
use super::steps::{self, RolloutCtx};
use crate::inventory::NodeId;
use crate::observe::Millis;

pub struct Runner {
    ctx: Arc<RolloutCtx>,
    journal: Option<Journal>,
    tx: UnboundedSender<ExecEvent>,
    /// When the heartbeat of the held node locks is next refreshed.
    next_heartbeat: Millis,
    /// Why the journal could not be written, once it could not: nothing more is
    /// written to it (a line after a gap would mislead a resume).
    journal_failed: Option<String>,
}

impl Runner {
    pub fn new(
        ctx: Arc<RolloutCtx>,
        journal: Option<Journal>,
        tx: UnboundedSender<ExecEvent>,
        now: Millis,
    ) -> Self {
        let next_heartbeat = now + heartbeat_ms(&ctx);
        Runner {
            ctx,
            journal,
            tx,
            next_heartbeat,
            journal_failed: None,
        }
    }

    pub fn ctx(&self) -> &Arc<RolloutCtx> {
        &self.ctx
    }

    /// Carry out the machine's effects: journal records are written (stamped `now`),
    /// phases and rollbacks are spawned; they report on the executor's channel. A
    /// journal write that fails stops the rollout: [`Input::JournalFailed`] comes back
    /// on the same channel, once.
    pub fn run(&mut self, effects: Vec<Effect>, now: Millis) {
        for e in effects {
            match e {
                Effect::Journal(rec) => self.journal(&rec, now),
                other => steps::spawn(self.ctx.clone(), other, self.tx.clone()),
            }
        }
    }

    fn journal(&mut self, rec: &super::Record, now: Millis) {
        if self.journal_failed.is_some() {
            return;
        }
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        if let Err(e) = j.write(rec, now) {
            let reason = crate::safe_text::clean(&e.to_string());
            tracing::error!(error = %reason, "journal write failed: stopping the rollout");
            self.journal_failed = Some(reason.clone());
            let _ = self
                .tx
                .send(ExecEvent::Input(Input::JournalFailed { reason }));
        }
    }

    /// Refresh the heartbeat of every lock held (`holders`, asked only then) when it
    /// is due.
    pub fn heartbeat(&mut self, now: Millis, holders: impl FnOnce() -> Vec<NodeId>) {
        if now < self.next_heartbeat {
            return;
        }
        self.next_heartbeat = now + heartbeat_ms(&self.ctx);
        for node in holders() {
            let ctx = self.ctx.clone();
            tokio::spawn(async move {
                if let Err(e) =
                    steps::run_heartbeat(&ctx.poll, node, &ctx.rollout_id, ctx.limits.command).await
                {
                    tracing::warn!(node = node.index(), error = %e, "lock heartbeat failed");
                }
            });
        }
    }

    /// Feed `input` to `state` and carry out its effects (a tick also keeps the
    /// heartbeat). Returns the progress lines.
    pub fn feed(&mut self, state: &mut RolloutState, input: Input, now: Millis) -> Vec<String> {
        if input == Input::Tick {
            self.heartbeat(now, || state.lock_holders());
        }
        let (effects, lines) = state.input(input, now);
        self.run(effects, now);
        lines
    }

    /// One event from the executor into `state`, its effects carried out. Returns the
    /// progress lines.
    pub fn on_exec(&mut self, state: &mut RolloutState, ev: ExecEvent, now: Millis) -> Vec<String> {
        let (effects, lines) = state.on_exec(ev, now);
        self.run(effects, now);
        lines
    }
}

fn heartbeat_ms(ctx: &RolloutCtx) -> Millis {
    (ctx.limits.heartbeat.as_millis() as Millis).max(1000)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::poller::{Cadence, PollCtx};
    use crate::remote::Transport;
    use crate::remote::sim::{SimMesh, demo_bundle};
    use crate::rollout::machine::Halt;
    use crate::rollout::plan::{self, PlanOptions};
    use crate::rollout::{Machine, Mode, NodeRun};

    /// A journal line that cannot be written (a full disk: `/dev/full`, a real
    /// ENOSPC) stops the rollout with the reason: a resume reads the journal, so a
    /// rollout it no longer records must not go on.
    #[tokio::test]
    async fn a_journal_write_that_fails_stops_the_rollout_with_the_reason() {
        let (inv, mesh) = SimMesh::demo();
        let ctx = Arc::new(RolloutCtx {
            poll: Arc::new(PollCtx {
                transport: Transport::sim(mesh),
                nodes: inv.nodes.clone(),
                token: None,
                cadence: Cadence::for_timeout(Duration::from_secs(10)),
            }),
            bundle: Arc::new(demo_bundle()),
            stage_dir: PathBuf::new(),
            rollout_id: "r-test".into(),
            who: "ops@here/pid1".into(),
            limits: steps::Limits::default(),
            learned: Default::default(),
        });
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let journal = Journal::to_writer(
            Box::new(full),
            "r-test".into(),
            "sha".into(),
            "m".into(),
            inv.nodes.clone(),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut runner = Runner::new(ctx, Some(journal), tx, 0);
        let p = plan::make(&inv, &PlanOptions::default()).expect("plan");
        let m = Machine::new(p, inv.nodes.len(), 7, Mode::Run);
        let mut state = RolloutState::new(m, inv.nodes.clone(), "r-test".into(), &demo_bundle(), 0);
        // The first records (the canary's stage, its baseline) cannot be written.
        runner.feed(&mut state, Input::Tick, 0);
        let mut stopped = false;
        while let Some(ev) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .ok()
            .flatten()
        {
            let failed = matches!(ev, ExecEvent::Input(Input::JournalFailed { .. }));
            let lines = runner.on_exec(&mut state, ev, 1);
            if failed {
                assert!(!stopped, "the failure is reported once");
                stopped = true;
                assert!(
                    lines
                        .iter()
                        .any(|l| l.contains("HALTED")
                            && l.contains("the journal could not be written")),
                    "{lines:?}"
                );
            }
            if state.machine.idle() {
                break;
            }
        }
        assert!(stopped, "the journal's failure reached the rollout");
        match &state.machine.halt {
            Some(Halt::JournalFailed { reason }) => {
                assert!(reason.contains("No space left on device"), "{reason}")
            }
            h => panic!("halt {h:?}"),
        }
        assert!(state.machine.aborted, "nothing new starts");
        let started = state
            .machine
            .nodes
            .iter()
            .filter(|s| s.run != NodeRun::Pending)
            .count();
        assert!(started <= 1, "only the canary had started: {started}");
        assert!(state.machine.idle());
    }
}
