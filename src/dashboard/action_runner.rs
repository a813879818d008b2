//! The event loop's side of node actions: each [`AppEffect::Action`](super::AppEffect) is
//! carried out here with [`crate::actions::run`] (one task per node), its lines and
//! outcomes sent back as [`ActionEvent`]s; a followed log runs until its pane closes
//! ([`ActionRunner::stop`]); a shell is [`ActionRunner::shell`], which the loop runs
//! with the terminal handed over.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::actions::{ActionEvent, ShellFailure};
use super::state::AppEvent;
use crate::actions::run::{self, ActionReport, RunEnv};
use crate::actions::{ActionRequest, NodeAction, Runs};
use crate::inventory::NodeId;
use crate::observe::{Millis, now_ms};
use crate::poller::PollCtx;

/// A followed log in flight.
struct Follow {
    task: JoinHandle<()>,
    action: NodeAction,
    node: NodeId,
    started: Millis,
}

pub struct ActionRunner {
    ctx: Arc<PollCtx>,
    env: Arc<RunEnv>,
    tx: UnboundedSender<AppEvent>,
    follows: HashMap<u64, Follow>,
}

fn send(tx: &UnboundedSender<AppEvent>, e: ActionEvent) {
    let _ = tx.send(AppEvent::Action(Box::new(e)));
}

impl ActionRunner {
    pub fn new(ctx: Arc<PollCtx>, env: RunEnv, tx: UnboundedSender<AppEvent>) -> Self {
        ActionRunner {
            ctx,
            env: Arc::new(env),
            tx,
            follows: HashMap::new(),
        }
    }

    /// Start `req` on every node it names (a shell is [`ActionRunner::shell`]'s).
    pub fn start(&mut self, req: ActionRequest) {
        let run = req.run;
        for node in req.nodes {
            let (ctx, env, tx, action) = (
                self.ctx.clone(),
                self.env.clone(),
                self.tx.clone(),
                req.action.clone(),
            );
            let follow = matches!(action.runs, Runs::Follow { .. });
            let task = tokio::spawn(async move {
                let line_tx = tx.clone();
                let on_line = move |l: &str| {
                    send(
                        &line_tx,
                        ActionEvent::Line {
                            run,
                            line: l.to_string(),
                        },
                    );
                };
                let outcome = run::run_on(&ctx, &action, node, &env, Some(&on_line)).await;
                send(&tx, ActionEvent::Done { run, outcome });
            });
            if follow {
                self.follows.insert(
                    run,
                    Follow {
                        task,
                        action: req.action.clone(),
                        node,
                        started: now_ms(),
                    },
                );
            }
        }
    }

    /// The pane of run `run` closed: stop its followed log (the node's script stops
    /// the CLI when it can no longer write) and record it.
    pub fn stop(&mut self, run: u64) {
        if let Some(f) = self.follows.remove(&run) {
            f.task.abort();
            let out = ActionReport {
                node: f.node,
                ok: true,
                exit: None,
                note: "stopped when the pane closed".into(),
                lines: Vec::new(),
                started: f.started,
                duration_ms: now_ms().saturating_sub(f.started),
            };
            run::record(&self.ctx, &f.action, &self.env, &out);
        }
    }

    /// Stop everything still running (the dashboard is closing).
    pub fn stop_all(&mut self) {
        let runs: Vec<u64> = self.follows.keys().copied().collect();
        for r in runs {
            self.stop(r);
        }
    }

    /// A shell on the request's node, in this terminal (the caller has handed it over):
    /// `ssh` over the node's master until it exits. Recorded in the audit log.
    pub async fn shell(&self, req: &ActionRequest) -> ActionEvent {
        let Some(&node) = req.nodes.first() else {
            return ActionEvent::ShellDone {
                run: req.run,
                node: NodeId::new(0),
                result: Err(ShellFailure::NoNode),
            };
        };
        let started = now_ms();
        let t0 = std::time::Instant::now();
        let result = match self.ctx.nodes.get(node) {
            None => Err(ShellFailure::UnknownNode(node)),
            Some(n) => {
                match crate::remote::interactive::ssh_argv(
                    &self.ctx.transport,
                    node.index(),
                    n,
                    &[],
                )
                .await
                {
                    Err(e) => Err(ShellFailure::Open(e)),
                    Ok(argv) => {
                        println!(
                            "meshroll: a shell on {} (exit it to come back to the dashboard)",
                            crate::safe_text::clean(&n.name)
                        );
                        crate::remote::interactive::run_in_terminal(&argv)
                            .await
                            .map_err(|e| ShellFailure::Run(e.to_string()))
                    }
                }
            }
        };
        let out = ActionReport {
            node,
            ok: result.is_ok(),
            exit: result.as_ref().ok().copied().flatten(),
            note: match &result {
                Ok(_) => "shell ended".into(),
                Err(e) => e.to_string(),
            },
            lines: Vec::new(),
            started,
            duration_ms: t0.elapsed().as_millis() as u64,
        };
        run::record(&self.ctx, &req.action, &self.env, &out);
        ActionEvent::ShellDone {
            run: req.run,
            node,
            result,
        }
    }
}
