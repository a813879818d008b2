//! A journal record in words, with its tone: the one wording of what happened, shared
//! by the live progress lines (headless and the plan view) and the replay (its event
//! log and `--summary` timeline). Pure: names come from the caller.

use super::machine::{Command, Failure, MAX_ATTEMPTS, Record};
use super::state::{Progress, Tone};
use crate::inventory::{Fleet, NodeId};

/// How a record's nodes and operator commands are named.
pub trait Names {
    fn node(&self, id: NodeId) -> String;
    fn command(&self, c: &Command) -> String;
}

/// Nodes by their inventory names (the live rollout).
impl Names for Fleet {
    fn node(&self, id: NodeId) -> String {
        self.name(id).to_string()
    }
    fn command(&self, c: &Command) -> String {
        c.describe(|n| self.name(n).to_string())
    }
}

/// The live progress log leaves out a phase's first start (its outcome follows) and a
/// run's start (the headless command says it in its own words).
pub fn shown_live(rec: &Record) -> bool {
    !matches!(
        rec,
        Record::PhaseStarted { attempt: 1, .. } | Record::RunStarted { .. }
    )
}

/// What `rec` says, in words, and how it reads at a glance.
pub fn words(rec: &Record, names: &impl Names) -> Progress {
    let max = MAX_ATTEMPTS;
    let n = |id: &NodeId| names.node(*id);
    let (tone, text) = match rec {
        Record::PhaseStarted {
            node,
            phase,
            attempt,
        } => (
            Tone::Note,
            format!("{} {} attempt {attempt}/{max}", n(node), phase.name()),
        ),
        Record::PhaseDone {
            node, phase, note, ..
        } => {
            let note = if *phase == super::Phase::Baseline {
                "gateway ready, status archived"
            } else {
                note
            };
            (
                Tone::Note,
                format!("{} {} ok: {note}", n(node), phase.name()),
            )
        }
        Record::PhaseFailed {
            node,
            phase,
            attempt,
            failure,
        } => {
            let (tone, kind) = match failure {
                Failure::Transient(_) => (Tone::Warn, "transient"),
                Failure::Fatal(_) => (Tone::Warn, "fatal"),
                Failure::Mismatch(_) => (Tone::Bad, "MISMATCH"),
                Failure::Blocked(_) => (Tone::Warn, "blocked"),
            };
            let text = format!(
                "{} {} failed ({kind}, attempt {attempt}/{max}): {}",
                n(node),
                phase.name(),
                failure.message()
            );
            (tone, text)
        }
        Record::RetryScheduled {
            node,
            phase,
            attempt,
            delay_ms,
        } => (
            Tone::Warn,
            format!(
                "{} {} retry {attempt}/{max} in {:.1}s",
                n(node),
                phase.name(),
                *delay_ms as f64 / 1000.0
            ),
        ),
        Record::NodeLanded { node } => (Tone::Good, format!("{} LANDED", n(node))),
        Record::NodeFailed { node, phase, error } => (
            Tone::Bad,
            format!("{} FAILED at {}: {error}", n(node), phase.name()),
        ),
        Record::NodeSkipped { node } => (Tone::Warn, format!("{} skipped: winding down", n(node))),
        Record::NodeStopped { node, left } => (
            if left.drained() {
                Tone::Bad
            } else {
                Tone::Warn
            },
            format!("{} {}", n(node), left.describe()),
        ),
        Record::StageStarted { class, stage: 0 } => (Tone::Note, format!("class {class}: canary")),
        Record::StageStarted { class, stage } => {
            (Tone::Note, format!("class {class}: wave {stage}"))
        }
        Record::Halted { reason } => (
            Tone::Bad,
            format!("HALTED, waiting for the operator: {reason}"),
        ),
        Record::Operator { command } => {
            (Tone::Note, format!("operator: {}", names.command(command)))
        }
        Record::RolledBack { node, result } => match result {
            Ok(m) => (Tone::Note, format!("{} rolled back: {m}", n(node))),
            Err(e) => (Tone::Bad, format!("{} rollback failed: {e}", n(node))),
        },
        Record::RunStarted { resumed: false } => (Tone::Note, "a run started".into()),
        Record::RunStarted { resumed: true } => {
            (Tone::Note, "a new run resumed the rollout".into())
        }
        Record::BakeStarted {
            node,
            class,
            duration_ms,
        } => (
            Tone::Note,
            format!(
                "{} baking for {} before class {class} widens",
                n(node),
                super::plan::duration_text(*duration_ms)
            ),
        ),
        Record::BakePolled {
            node,
            poll,
            ok,
            verdict,
        } => (
            if *ok { Tone::Note } else { Tone::Bad },
            format!(
                "{} bake poll {poll}: {}{verdict}",
                n(node),
                if *ok { "" } else { "FAILED: " }
            ),
        ),
        Record::BakeDone { node, class, polls } => (
            Tone::Good,
            format!(
                "{} baked through ({polls} poll(s)): class {class} widens",
                n(node)
            ),
        ),
        Record::Finished {
            landed,
            failed,
            skipped,
        } => (
            if *failed > 0 { Tone::Warn } else { Tone::Good },
            format!("finished: {landed} landed, {failed} failed, {skipped} skipped"),
        ),
    };
    Progress { tone, text }
}

impl Record {
    /// The record with every text in it passed through `f` (the replay cleans what it
    /// reads from a journal with it).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> Record {
        use super::machine::Left;
        let failure = |x: Failure| match x {
            Failure::Transient(m) => Failure::Transient(f(&m)),
            Failure::Fatal(m) => Failure::Fatal(f(&m)),
            Failure::Mismatch(m) => Failure::Mismatch(f(&m)),
            Failure::Blocked(m) => Failure::Blocked(f(&m)),
        };
        match self {
            Record::PhaseDone {
                node,
                phase,
                attempt,
                note,
            } => Record::PhaseDone {
                node,
                phase,
                attempt,
                note: f(&note),
            },
            Record::PhaseFailed {
                node,
                phase,
                attempt,
                failure: x,
            } => Record::PhaseFailed {
                node,
                phase,
                attempt,
                failure: failure(x),
            },
            Record::NodeFailed { node, phase, error } => Record::NodeFailed {
                node,
                phase,
                error: f(&error),
            },
            Record::NodeStopped {
                node,
                left: Left::Drained(why),
            } => Record::NodeStopped {
                node,
                left: Left::Drained(f(&why)),
            },
            Record::StageStarted { class, stage } => Record::StageStarted {
                class: f(&class),
                stage,
            },
            Record::Halted { reason } => Record::Halted { reason: f(&reason) },
            Record::RolledBack { node, result } => Record::RolledBack {
                node,
                result: match result {
                    Ok(m) => Ok(f(&m)),
                    Err(m) => Err(f(&m)),
                },
            },
            Record::BakeStarted {
                node,
                class,
                duration_ms,
            } => Record::BakeStarted {
                node,
                class: f(&class),
                duration_ms,
            },
            Record::BakePolled {
                node,
                poll,
                ok,
                verdict,
            } => Record::BakePolled {
                node,
                poll,
                ok,
                verdict: f(&verdict),
            },
            Record::BakeDone { node, class, polls } => Record::BakeDone {
                node,
                class: f(&class),
                polls,
            },
            other @ (Record::PhaseStarted { .. }
            | Record::RetryScheduled { .. }
            | Record::NodeLanded { .. }
            | Record::NodeSkipped { .. }
            | Record::NodeStopped { .. }
            | Record::Operator { .. }
            | Record::RunStarted { .. }
            | Record::Finished { .. }) => other,
        }
    }
}
