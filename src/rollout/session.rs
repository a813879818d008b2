//! Starting a rollout session: read the journal to resume, check it against the nodes,
//! open it, build the machine; and open the plan's connections ahead of time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::Plan;
use super::events::ExecEvent;
use super::journal::Journal;
use super::machine::Machine;
use super::runner::Runner;
use super::state::RolloutState;
use super::steps::{self, RolloutCtx};
use crate::inventory::{Fleet, NodeId};
use crate::observe::Millis;
use crate::poller::PollCtx;

/// Everything a rollout session needs before it starts.
pub struct Session {
    pub poll: Arc<crate::poller::PollCtx>,
    pub bundle: Arc<crate::manifest::Bundle>,
    pub plan: super::Plan,
    /// The staged copy (real nodes only).
    pub stage_dir: std::path::PathBuf,
    pub journal: std::path::PathBuf,
    pub limits: steps::Limits,
    /// Who holds the node locks.
    pub who: String,
}

/// Start a rollout session: read the journal (to resume), check what it says against
/// the nodes' real `current`, open it for appending, and build the machine in `mode`.
/// Returns the rollout's state, the runner that journals and runs its effects, and lines
/// worth telling the operator (resume, nodes redone).
pub async fn start(
    s: Session,
    mode: super::Mode,
    tx: UnboundedSender<ExecEvent>,
    now: Millis,
) -> std::io::Result<(RolloutState, Runner, Vec<String>)> {
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
    let fleet = s.poll.nodes.clone();
    // Every entry of the journal is matched to the node at its position, by raw name
    // and destination; a journal about other nodes stops here rather than guess.
    let mut last_done = resume.for_fleet(&fleet).map_err(|why| {
        std::io::Error::other(format!(
            "cannot resume from the journal {}: {why}",
            crate::safe_text::clean(&s.journal.display().to_string())
        ))
    })?;
    // The journal describes the nodes only if they outlived the run that wrote it.
    if s.poll.transport.outlives_the_process() {
        notes.extend(
            confirm_on_nodes(
                &s.poll,
                &s.plan,
                &fleet,
                &s.bundle.skills_sha,
                &mut last_done,
                s.limits.command,
            )
            .await,
        );
    }
    let mut journal = Journal::open(
        &s.journal,
        rollout_id.clone(),
        s.bundle.skills_sha.clone(),
        s.bundle.manifest_sha256.clone(),
        fleet.clone(),
    )?;
    journal.write(
        &super::Record::RunStarted {
            resumed: resume.rollout_id.is_some(),
        },
        now,
    )?;
    let mut machine = Machine::new(s.plan, fleet.len(), now, mode);
    for (&id, &ph) in &last_done {
        // A node this plan leaves out (`--node`, `--class`) keeps what it has.
        if machine.plan.locate(id).is_none() {
            continue;
        }
        machine.restore(id, ph);
    }
    let mut state = RolloutState::new(machine, fleet, rollout_id.clone(), &s.bundle, now);
    let ctx = Arc::new(RolloutCtx {
        poll: s.poll,
        bundle: s.bundle,
        stage_dir: s.stage_dir,
        rollout_id,
        who: s.who,
        limits: s.limits,
        learned: Default::default(),
    });
    state.journal_path = Some(s.journal.clone());
    state
        .log
        .extend(notes.iter().cloned().map(super::state::Progress::note));
    Ok((state, Runner::new(ctx, Some(journal), tx, now), notes))
}

/// Open the ssh masters of the plan's nodes in the background, in plan order, a few at
/// a time: a wave then starts on open connections while the canary is still prewarming,
/// instead of every node of the wave paying its handshake at once at baseline. Errors
/// are left for the node's first phase to meet (and retry).
pub fn preconnect(poll: &Arc<PollCtx>, plan: &Plan) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    let poll = poll.clone();
    let order: Vec<usize> = plan.nodes().map(NodeId::index).collect();
    tokio::spawn(async move {
        // The first canary alone: it is the one node waiting for its connection now.
        let Some((&first, rest)) = order.split_first() else {
            return;
        };
        let _ = poll.transport.open(first).await;
        futures::stream::iter(rest.iter().copied())
            .map(|i| poll.transport.open(i))
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
    fleet: &Fleet,
    sha: &str,
    last_done: &mut std::collections::BTreeMap<NodeId, crate::rollout::Phase>,
    timeout: Duration,
) -> Vec<String> {
    let to_check: Vec<(NodeId, crate::rollout::Phase)> = last_done
        .iter()
        .map(|(&i, &p)| (i, p))
        .filter(|&(i, p)| p >= crate::rollout::Phase::Switch && plan.locate(i).is_some())
        .collect();
    let answers = futures::future::join_all(
        to_check
            .iter()
            .map(|&(i, _)| crate::rollout::steps::read_current(poll, i, timeout)),
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
        let name = fleet.name(i);
        last_done.remove(&i);
        lines.push(format!(
            "{name}: the journal says it {what}, but {seen}: running every phase again"
        ));
    }
    lines
}
