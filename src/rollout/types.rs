//! The rollout machine's vocabulary: the phases, how one failed, where a node is and
//! was left, why the rollout halts, the operator's commands, the machine's inputs and
//! effects, and the journal's records. Pure data; [`super::machine::Machine`] is the
//! state machine that uses them.

use serde::{Deserialize, Serialize};

use crate::inventory::NodeId;
use crate::observe::Millis;
use crate::rollout::NodeError;
use crate::rollout::bake::BakeError;

/// The nine phases of one node, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Baseline,
    Drain,
    Sync,
    Verify,
    Switch,
    Doctor,
    Prewarm,
    Probe,
    Undrain,
}

impl Phase {
    pub const ALL: [Phase; 9] = [
        Phase::Baseline,
        Phase::Drain,
        Phase::Sync,
        Phase::Verify,
        Phase::Switch,
        Phase::Doctor,
        Phase::Prewarm,
        Phase::Probe,
        Phase::Undrain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Baseline => "baseline",
            Phase::Drain => "drain",
            Phase::Sync => "sync",
            Phase::Verify => "verify",
            Phase::Switch => "switch",
            Phase::Doctor => "doctor",
            Phase::Prewarm => "prewarm",
            Phase::Probe => "probe",
            Phase::Undrain => "undrain",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn next(self) -> Option<Phase> {
        Phase::ALL.get(self.index() + 1).copied()
    }

    /// The phase the same node-side script runs right after this one, in the same round
    /// trip (`verify` then `switch`, `baseline` then `drain`): the executor reports both,
    /// and the second is in flight as soon as the first passes. Run on its own (a retry,
    /// a resumed node), the second phase is a script of its own.
    pub fn carries_on(self) -> Option<Phase> {
        match self {
            Phase::Baseline => Some(Phase::Drain),
            Phase::Verify => Some(Phase::Switch),
            _ => None,
        }
    }

    /// Transient failures of this phase may be retried: everything up to and including
    /// the checksum verification, and prewarm (it does not touch the verified bundle).
    pub fn retriable(self) -> bool {
        self <= Phase::Verify || self == Phase::Prewarm
    }
}

/// At most this many attempts of one phase.
pub const MAX_ATTEMPTS: u32 = 5;

/// How a phase failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum Failure {
    /// Connection lost, rsync's transient exit codes, timeouts, prewarm failure.
    Transient(String),
    /// Anything else that stops this node (gateway not ready at baseline, node lock
    /// held by someone else, probe never passing).
    Fatal(String),
    /// The node's copy disagrees with the lock file: corruption or split brain. Never
    /// retried; the rollout halts for the operator.
    Mismatch(String),
    /// Doctor found error findings: widening is blocked.
    Blocked(String),
}

impl Failure {
    /// The kind as the journal spells it (`transient`, `fatal`, `mismatch`, `blocked`).
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Transient(_) => "transient",
            Failure::Fatal(_) => "fatal",
            Failure::Mismatch(_) => "mismatch",
            Failure::Blocked(_) => "blocked",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m)
            | Failure::Fatal(m)
            | Failure::Mismatch(m)
            | Failure::Blocked(m) => m,
        }
    }
}

/// Where a node the rollout let go of without landing it was left: what the recap, the
/// journal (`node_stopped`) and the screens say of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "left", content = "why", rename_all = "snake_case")]
pub enum Left {
    /// The rollout never took its lock: nothing changed on it.
    Untouched,
    /// Undrained and its lock released: it serves the bundle it had.
    Restored,
    /// Switched to the bundle, probed healthy, undrained and unlocked, but prewarm did
    /// not run.
    OnBundle,
    /// Still drained, because of `why` (the wind-down's probe or undrain failed). A new
    /// run of the rollout takes it from the start.
    Drained(String),
}

impl Left {
    /// The words the recap and progress lines use.
    pub fn describe(&self) -> String {
        match self {
            Left::Untouched => "not touched".into(),
            Left::Restored => "undrained and unlocked, serving its old bundle".into(),
            Left::OnBundle => {
                "switched and probed, undrained and unlocked (prewarm did not run)".into()
            }
            Left::Drained(why) => format!("left drained: {why}"),
        }
    }

    /// The node is out of service.
    pub fn drained(&self) -> bool {
        matches!(self, Left::Drained(_))
    }
}

/// Why the rollout waits for the operator. Its `Display` is the wording screens, the
/// journal (`halted` records) and the recap show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// A node's copy disagrees with the lock file.
    ChecksumMismatch { node: String, message: String },
    /// Doctor found error findings on a node: widening is blocked.
    DoctorBlocks { node: String, message: String },
    /// A class has more failed nodes than its failure budget allows.
    OverBudget {
        class: String,
        failed: usize,
        budget: usize,
    },
    /// A class's canary failed.
    CanaryFailed { class: String },
    /// A class's canary was dead or skewed while it baked.
    BakeFailed {
        class: String,
        node: String,
        reason: String,
    },
    /// A journal line could not be written: the rollout stopped, as a resume depends
    /// on the journal.
    JournalFailed { reason: String },
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Halt::ChecksumMismatch { node, message } => {
                write!(f, "checksum mismatch on {node}: {message}")
            }
            Halt::DoctorBlocks { node, message } => {
                write!(f, "doctor blocks widening ({node}): {message}")
            }
            Halt::OverBudget {
                class,
                failed,
                budget,
            } => write!(
                f,
                "class {class}: {failed} failed node(s), over its failure budget of {budget}"
            ),
            Halt::CanaryFailed { class } => write!(f, "class {class}: the canary failed"),
            Halt::BakeFailed {
                class,
                node,
                reason,
            } => write!(
                f,
                "class {class}: the canary {node} failed its bake ({reason}); no wave node was touched"
            ),
            Halt::JournalFailed { reason } => write!(
                f,
                "the journal could not be written ({reason}): the rollout stopped, nodes in flight put back"
            ),
        }
    }
}

/// Serialised as its wording, as when it was a string.
impl Serialize for Halt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A failure serialised as its message, as when node errors were strings.
fn failure_message<S: serde::Serializer>(f: &Failure, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(f.message())
}

/// Where one node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NodeRun {
    /// Not started.
    Pending,
    /// Between phases: `next` runs when the mode allows.
    Ready {
        next: Phase,
    },
    /// A phase is running.
    Active {
        phase: Phase,
        attempt: u32,
        since: Millis,
    },
    /// A transient failure; the next attempt starts at `at`.
    Retrying {
        phase: Phase,
        attempt: u32,
        at: Millis,
        error: String,
    },
    Landed,
    Failed {
        phase: Phase,
        /// How the last attempt failed (its kind and message).
        #[serde(serialize_with = "failure_message")]
        error: Failure,
    },
    /// Skipped by the operator (the slot's `left` says where it was left).
    Skipped,
    /// The rollout stopped (abort, quit, a signal) before it landed (the slot's `left`
    /// says where it was left).
    Stopped,
    RolledBack,
}

impl NodeRun {
    pub fn terminal(&self) -> bool {
        matches!(
            self,
            NodeRun::Landed
                | NodeRun::Failed { .. }
                | NodeRun::Skipped
                | NodeRun::Stopped
                | NodeRun::RolledBack
        )
    }
    /// What a table shows: the phase, or the outcome.
    pub fn label(&self) -> String {
        match self {
            NodeRun::Pending => "waiting".into(),
            NodeRun::Ready { next } => format!("→ {}", next.name()),
            NodeRun::Active { phase, .. } => phase.name().into(),
            NodeRun::Retrying { phase, .. } => format!("{} (retry)", phase.name()),
            NodeRun::Landed => "landed".into(),
            NodeRun::Failed { phase, .. } => format!("failed at {}", phase.name()),
            NodeRun::Skipped => "skipped".into(),
            NodeRun::Stopped => "stopped".into(),
            NodeRun::RolledBack => "rolled back".into(),
        }
    }
}

/// One attempt, for the node's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub phase: Phase,
    pub attempt: u32,
    pub started: Millis,
    pub ended: Option<Millis>,
    pub outcome: Option<Result<String, Failure>>,
}

/// How the machine advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Advance by itself.
    Run,
    /// Start nothing new (phases in flight finish).
    Paused,
    /// Run until the current wave (or canary) is done, then pause.
    StepWave,
}

/// What the operator can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "nodes", rename_all = "snake_case")]
pub enum Command {
    /// Let every node of the current stage that waits run one more phase.
    StepPhase,
    StepWave,
    Run,
    Pause,
    Resume,
    RetryNow(NodeId),
    Skip(NodeId),
    /// Stop: start no new node; nodes in flight finish their phase and wind down (see
    /// [`Machine::wind_down`]). Every stop (abort, quit, a signal) is this command.
    Abort,
    /// Start no new node; nodes under way go on until they land or fail, then the
    /// rollout stops as [`Command::Abort`] does.
    Finish,
    Rollback(Vec<NodeId>),
    /// Keep the staged rollout to these nodes (`machine_only.rs`): only before any node
    /// is in flight.
    Only(Vec<NodeId>),
}

impl Command {
    /// The nodes the command is about.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Command::RetryNow(n) | Command::Skip(n) => vec![*n],
            Command::Rollback(ns) => ns.clone(),
            _ => Vec::new(),
        }
    }

    /// What the operator did, in words, nodes by `name`: `retry mac-w03 now`, `skip
    /// mac-w03`, `roll back mac-w01, mac-w02`, `pause`. Progress lines, the journal
    /// and the replay show this, never the Rust debug form.
    pub fn describe(&self, name: impl Fn(NodeId) -> String) -> String {
        let names = |ns: &[NodeId]| ns.iter().map(|&n| name(n)).collect::<Vec<_>>().join(", ");
        match self {
            Command::StepPhase => "step one phase".into(),
            Command::StepWave => "step one wave".into(),
            Command::Run => "run".into(),
            Command::Pause => "pause".into(),
            Command::Resume => "resume".into(),
            Command::RetryNow(n) => format!("retry {} now", name(*n)),
            Command::Skip(n) => format!("skip {}", name(*n)),
            Command::Abort => "abort".into(),
            Command::Finish => "finish what is under way, then stop".into(),
            Command::Rollback(ns) if ns.is_empty() => "roll back no node".into(),
            Command::Rollback(ns) => format!("roll back {}", names(ns)),
            Command::Only(ns) => format!("keep the rollout to {}", names(ns)),
        }
    }
}

/// Inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed (retry countdowns).
    Tick,
    PhaseDone {
        node: NodeId,
        phase: Phase,
        note: String,
    },
    PhaseFailed {
        node: NodeId,
        phase: Phase,
        failure: Failure,
    },
    RollbackDone {
        node: NodeId,
        result: Result<String, NodeError>,
    },
    /// A baking canary's poll, judged: `Ok(what it showed)` or `Err(why it fails)`.
    BakePolled {
        node: NodeId,
        result: Result<String, BakeError>,
    },
    /// The lock of a node left drained was released (or not).
    Released {
        node: NodeId,
        result: Result<String, NodeError>,
    },
    Op(Command),
    /// A journal line could not be written: the rollout stops (a resume reads the
    /// journal) and waits for the operator, saying why.
    JournalFailed {
        reason: String,
    },
}

/// What the machine asks for. Journal lines are effects too: the executor writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Run {
        node: NodeId,
        phase: Phase,
        attempt: u32,
    },
    Rollback {
        node: NodeId,
    },
    /// Poll a baking canary once and judge it (answered by `Input::BakePolled`).
    BakePoll {
        node: NodeId,
    },
    /// Release the node's lock, leaving it drained (its wind-down probe failed).
    Release {
        node: NodeId,
    },
    Journal(Record),
}

/// One line of the journal (the executor adds time and both bundle ids; see
/// `journal::Line`). Read back leniently: a missing node index, attempt or note reads
/// as 0 or empty, as hand-edited and older journals may lack them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    PhaseStarted {
        #[serde(default)]
        node: NodeId,
        phase: Phase,
        #[serde(default)]
        attempt: u32,
    },
    PhaseDone {
        #[serde(default)]
        node: NodeId,
        phase: Phase,
        #[serde(default)]
        attempt: u32,
        #[serde(default)]
        note: String,
    },
    PhaseFailed {
        #[serde(default)]
        node: NodeId,
        phase: Phase,
        #[serde(default)]
        attempt: u32,
        failure: Failure,
    },
    RetryScheduled {
        #[serde(default)]
        node: NodeId,
        phase: Phase,
        #[serde(default)]
        attempt: u32,
        #[serde(default)]
        delay_ms: u64,
    },
    NodeLanded {
        #[serde(default)]
        node: NodeId,
    },
    NodeFailed {
        #[serde(default)]
        node: NodeId,
        phase: Phase,
        #[serde(default)]
        error: String,
    },
    NodeSkipped {
        #[serde(default)]
        node: NodeId,
    },
    /// The rollout let go of a node without landing it (skipped, stopped, failed) and
    /// this is where it left it.
    NodeStopped {
        #[serde(default)]
        node: NodeId,
        #[serde(flatten)]
        left: Left,
    },
    StageStarted {
        class: String,
        #[serde(default)]
        stage: usize,
    },
    Halted {
        reason: String,
    },
    Operator {
        command: Command,
    },
    RolledBack {
        #[serde(default)]
        node: NodeId,
        result: Result<String, String>,
    },
    /// A run of meshroll started writing this rollout (the session writes it, not the
    /// machine): `resumed` when it continues a rollout an earlier run left unfinished.
    /// The replay marks where a run stopped and where the next one resumed by it.
    RunStarted {
        #[serde(default)]
        resumed: bool,
    },
    /// A class's canary landed and bakes for `duration_ms` before the class widens.
    BakeStarted {
        #[serde(default)]
        node: NodeId,
        class: String,
        #[serde(default)]
        duration_ms: u64,
    },
    /// One poll of the baking canary: `ok` and what it showed (or why it failed).
    BakePolled {
        #[serde(default)]
        node: NodeId,
        #[serde(default)]
        poll: u32,
        ok: bool,
        #[serde(default)]
        verdict: String,
    },
    /// The canary was healthy for the whole bake: the class widens.
    BakeDone {
        #[serde(default)]
        node: NodeId,
        class: String,
        #[serde(default)]
        polls: u32,
    },
    Finished {
        #[serde(default)]
        landed: usize,
        #[serde(default)]
        failed: usize,
        #[serde(default)]
        skipped: usize,
    },
}

impl Record {
    /// The `event` name of every record, as the journal spells it.
    pub const EVENTS: [&'static str; 17] = [
        "phase_started",
        "phase_done",
        "phase_failed",
        "retry_scheduled",
        "node_landed",
        "node_failed",
        "node_skipped",
        "node_stopped",
        "stage_started",
        "halted",
        "operator",
        "rolled_back",
        "run_started",
        "bake_started",
        "bake_polled",
        "bake_done",
        "finished",
    ];

    /// The node this record is about, if it is about one.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Record::PhaseStarted { node, .. }
            | Record::PhaseDone { node, .. }
            | Record::PhaseFailed { node, .. }
            | Record::RetryScheduled { node, .. }
            | Record::NodeLanded { node }
            | Record::NodeFailed { node, .. }
            | Record::NodeSkipped { node }
            | Record::NodeStopped { node, .. }
            | Record::RolledBack { node, .. }
            | Record::BakeStarted { node, .. }
            | Record::BakePolled { node, .. }
            | Record::BakeDone { node, .. } => Some(*node),
            Record::StageStarted { .. }
            | Record::Halted { .. }
            | Record::Operator { .. }
            | Record::RunStarted { .. }
            | Record::Finished { .. } => None,
        }
    }
}

/// Which part of the plan is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cursor {
    pub class: usize,
    /// 0 = canary, n = wave n.
    pub stage: usize,
}
