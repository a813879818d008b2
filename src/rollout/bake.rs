//! The canary bake (`--bake`): after a class's canary lands, it is polled at the poll
//! interval for a while before the class widens. The machine keeps the bake as state
//! ([`Baking`]) and asks for each poll as an effect (`Effect::BakePoll`); the poll's
//! verdict comes back as an input (`Input::BakePolled`). This file holds the bake's
//! state, the pure judgement of one poll ([`judge`]) and the poll itself ([`poll`]).

use serde::Serialize;

use super::exec::RolloutCtx;
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

/// One poll of a baking canary judged: `Ok(what it showed)` while it is healthy or
/// draining on the bundle, `Err(why)` when it is dead, or skewed off the bundle
/// (`current` elsewhere, or a lock file naming another tree).
pub fn judge(
    st: &NodeState,
    now: Millis,
    rules: &Rules,
    skills_sha: &str,
) -> Result<String, String> {
    let v = verdict::judge(st, now, rules).ok_or_else(|| "dead: no answer".to_string())?;
    if v.kind == Kind::Dead {
        return Err(format!("dead: {}", v.reason));
    }
    let Some(m) = st.manifest.as_ref().map(|m| &m.value) else {
        return Err("skewed: its current bundle cannot be read".into());
    };
    match m.sha() {
        Some(sha) if sha == skills_sha => {}
        Some(sha) => {
            return Err(crate::safe_text::clean(&format!(
                "skewed: current is {}, not the bundle {}",
                crate::skew::short(sha),
                crate::skew::short(skills_sha)
            )));
        }
        None => return Err("skewed: it has no current bundle".into()),
    }
    // As the dashboard's skew does: the lock file must name the tree it sits in.
    match m.lock.as_ref().map(|l| l.claim.as_str()) {
        Some(c) if c == skills_sha => {}
        Some(c) => {
            return Err(crate::safe_text::clean(&format!(
                "skewed: its lock file names {}, not the bundle {}",
                crate::skew::short(c),
                crate::skew::short(skills_sha)
            )));
        }
        None => return Err("skewed: its bundle has no lock file".into()),
    }
    Ok(format!("{}: {}", v.kind.as_str(), v.reason))
}

/// Poll the baking canary `id` once (with its gateway status) and judge the answer.
pub async fn poll(ctx: &RolloutCtx, id: NodeId) -> Result<String, String> {
    let Some(node) = ctx.poll.nodes.get(id) else {
        return Err(format!("dead: no node {id}"));
    };
    let rules = crate::report::rules_for(node, &ctx.poll.cadence.rules());
    let req = ctx.poll.cadence.request(true, false);
    let mut st = NodeState::default();
    poller::apply(&mut st, poller::poll_once(&ctx.poll, id, &req).await);
    judge(&st, now_ms(), &rules, &ctx.bundle.skills_sha)
}
