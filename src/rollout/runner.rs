//! The I/O side of a rollout: the journal file, the executor's channel and its tasks.
//! [`RolloutState`] decides; the runner writes what it journals, spawns the phases and
//! rollbacks it asks for, and keeps the held node locks' heartbeat. Owned by the loop
//! that drives the rollout (the headless command's, the dashboard's).

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::exec::{self, ExecEvent, RolloutCtx};
use super::journal::Journal;
use super::machine::{Effect, Input};
use super::state::RolloutState;
use crate::inventory::NodeId;
use crate::observe::Millis;

pub struct Runner {
    ctx: Arc<RolloutCtx>,
    journal: Option<Journal>,
    tx: UnboundedSender<ExecEvent>,
    /// When the heartbeat of the held node locks is next refreshed.
    next_heartbeat: Millis,
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
        }
    }

    pub fn ctx(&self) -> &Arc<RolloutCtx> {
        &self.ctx
    }

    /// Carry out the machine's effects: journal records are written (stamped `now`),
    /// phases and rollbacks are spawned; they report on the executor's channel.
    pub fn run(&mut self, effects: Vec<Effect>, now: Millis) {
        for e in effects {
            match e {
                Effect::Journal(rec) => {
                    if let Some(j) = self.journal.as_mut() {
                        j.write(&rec, now);
                    }
                }
                other => exec::spawn(self.ctx.clone(), other, self.tx.clone()),
            }
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
                    exec::run_heartbeat(&ctx.poll, node, &ctx.rollout_id, ctx.limits.command).await
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
