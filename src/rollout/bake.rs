//! The canary bake (`--bake`): after a class's canary lands, it is polled at the poll
//! interval for a while before the class widens. The machine keeps the bake as state
//! ([`Baking`]) and asks for each poll as an effect (`Effect::BakePoll`); the poll's
//! verdict comes back as an input (`Input::BakePolled`). This file holds the bake's
//! state, the pure judgement of one poll ([`judge`]) and the poll itself ([`poll`]).

use serde::Serialize;

use super::steps::RolloutCtx;
use crate::inventory::NodeId;
use crate::observe::{Millis, NodeState, now_ms};
use crate::poller;
use crate::verdict::{self, Kind, Rules};

/// A class's canary baking: polled every `every` until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Baking {
    /// The class's index in the plan.
    pub class: usize,
    pub node: NodeId,
    pub since: Millis,
    pub until: Millis,
    /// When the next poll is asked for (unless one is in flight).
    pub next_poll: Millis,
    /// A poll is in flight.
    pub polling: bool,
    /// Polls answered so far.
    pub polls: u32,
}

impl Baking {
    /// Milliseconds of the bake left at `now`.
    pub fn left_ms(&self, now: Millis) -> u64 {
        self.until.saturating_sub(now)
    }
}

/// Why a baking canary's poll fails the bake: the kind, and the reason in the node's
/// words. `Display` is the verdict the journal and the halt have always said
/// (`dead: …`, `skewed: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BakeError {
    /// No answer, or the verdict is dead.
    #[error("dead: {0}")]
    Dead(String),
    /// It answers, but not on the bundle: `current` elsewhere, or a lock file naming
    /// another tree (or none).
    #[error("skewed: {0}")]
    Skewed(String),
}

/// One poll of a baking canary judged: `Ok(what it showed)` while it is healthy or
/// draining on the bundle, `Err(why)` when it is dead, or skewed off the bundle
/// (`current` elsewhere, or a lock file naming another tree).
pub fn judge(
    st: &NodeState,
    now: Millis,
    rules: &Rules,
    skills_sha: &str,
) -> Result<String, BakeError> {
    let v = verdict::judge(st, now, rules).ok_or_else(|| BakeError::Dead("no answer".into()))?;
    if v.kind == Kind::Dead {
        return Err(BakeError::Dead(v.reason));
    }
    let skewed = |why: &str| BakeError::Skewed(why.to_string());
    let Some(m) = st.manifest.as_ref().map(|m| &m.value) else {
        return Err(skewed("its current bundle cannot be read"));
    };
    match m.sha() {
        Some(sha) if sha == skills_sha => {}
        Some(sha) => {
            return Err(BakeError::Skewed(crate::safe_text::clean(&format!(
                "current is {}, not the bundle {}",
                crate::skew::short(sha),
                crate::skew::short(skills_sha)
            ))));
        }
        None => return Err(skewed("it has no current bundle")),
    }
    // As the dashboard's skew does: the lock file must name the tree it sits in.
    match m.lock.as_ref().map(|l| l.claim.as_str()) {
        Some(c) if c == skills_sha => {}
        Some(c) => {
            return Err(BakeError::Skewed(crate::safe_text::clean(&format!(
                "its lock file names {}, not the bundle {}",
                crate::skew::short(c),
                crate::skew::short(skills_sha)
            ))));
        }
        None => return Err(skewed("its bundle has no lock file")),
    }
    Ok(format!("{}: {}", v.kind.as_str(), v.reason))
}

/// Poll the baking canary `id` once (with its gateway status) and judge the answer.
pub async fn poll(ctx: &RolloutCtx, id: NodeId) -> Result<String, BakeError> {
    let Some(node) = ctx.poll.nodes.get(id) else {
        return Err(BakeError::Dead(format!("no node {id}")));
    };
    let rules = crate::report::rules_for(node, &ctx.poll.cadence.rules());
    let req = ctx.poll.cadence.request(true, false);
    let mut st = NodeState::default();
    poller::apply(&mut st, poller::poll_once(&ctx.poll, id, &req).await);
    judge(&st, now_ms(), &rules, &ctx.bundle.skills_sha)
}

#[cfg(test)]
mod tests {
    //! One bake poll on the simulated mesh, judged by the same code as on real nodes.

    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::poller::{Cadence, PollCtx};
    use crate::remote::Transport;
    use crate::remote::sim::{SimMesh, demo_bundle};

    #[tokio::test(start_paused = true)]
    async fn a_bake_poll_passes_on_the_bundle_and_fails_dead_or_skewed() {
        let (inv, mesh) = SimMesh::demo();
        let ctx = RolloutCtx {
            poll: Arc::new(PollCtx {
                transport: Transport::sim(mesh),
                nodes: inv.nodes.clone(),
                token: None,
                cadence: Cadence::for_timeout(Duration::from_secs(10)),
            }),
            bundle: Arc::new(demo_bundle()),
            stage_dir: std::path::PathBuf::new(),
            rollout_id: "r-test".into(),
            who: "ops@here/pid1".into(),
            limits: super::super::steps::Limits::default(),
            learned: Default::default(),
        };
        let sim = |f: &dyn Fn(&mut crate::remote::sim::SimNode)| {
            ctx.poll
                .transport
                .as_any()
                .downcast_ref::<SimMesh>()
                .expect("a simulated mesh")
                .with_node(0, |n| f(n));
        };
        let sha = ctx.bundle.skills_sha.clone();
        let other = "1111111111111111111111111111111111111111".to_string();
        let id = NodeId::new(0);
        let (s1, s2) = (sha.clone(), sha.clone());
        sim(&move |n| {
            n.current = Some(s1.clone());
            n.lock_claim = Some(s2.clone());
        });
        let got = poll(&ctx, id).await;
        assert!(
            got.as_ref().is_ok_and(|v| !v.starts_with("dead")),
            "{got:?}"
        );
        let o = other.clone();
        sim(&move |n| n.current = Some(o.clone()));
        let got = poll(&ctx, id).await;
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Err(format!(
                "skewed: current is {}, not the bundle {}",
                crate::skew::short(&other),
                crate::skew::short(&sha)
            ))
        );
        let (s1, o) = (sha.clone(), other.clone());
        sim(&move |n| {
            n.current = Some(s1.clone());
            n.lock_claim = Some(o.clone());
        });
        let got = poll(&ctx, id).await;
        assert!(
            got.as_ref().is_err_and(|e| e
                .to_string()
                .starts_with("skewed: its lock file names 111111111111")),
            "{got:?}"
        );
        let s1 = sha.clone();
        sim(&move |n| {
            n.lock_claim = Some(s1.clone());
            n.live = false;
        });
        let got = poll(&ctx, id).await;
        assert!(
            matches!(&got, Err(BakeError::Dead(_)))
                && got
                    .as_ref()
                    .is_err_and(|e| e.to_string().starts_with("dead: ")),
            "{got:?}"
        );
    }
}
