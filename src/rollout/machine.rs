//! The rollout as a pure state machine: inputs in (with the time), effects out. It never
//! does I/O; the executor runs the effects and feeds the results back as inputs. The same
//! machine drives the dashboard, the headless command and the demo.

use serde::Serialize;

use super::bake::{BakeError, Baking};
use super::plan::Plan;
use super::track::{self, NodeTrack};
pub use super::types::{
    Attempt, Command, Cursor, Effect, Failure, Halt, Input, Left, MAX_ATTEMPTS, Mode, NodeRun,
    Phase, Record,
};
use crate::inventory::{Fleet, NodeId, PerNode};
use crate::observe::Millis;

/// A node as the machine holds it: what the journal's records made it
/// ([`NodeTrack`], changed only through [`NodeTrack::apply`] but for the machine-only
/// steps named in `track.rs`).
pub type NodeSlot = NodeTrack;

/// What the machine alone keeps of a node, that no record carries: the operator's step
/// and a wind-down in progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Steer {
    /// The operator allowed one more phase while paused (step).
    step_token: bool,
    /// The running phase was started by a step: its retries belong to the same step.
    stepped: bool,
    /// Being put back in service (skipped, or the rollout stopping): see
    /// [`Machine::wind_down`].
    wind: Option<Wind>,
}

/// A node winding down: it finishes the phase in flight, then runs only what puts it
/// back in service (a switched node: probe; then undrain, which releases the lock).
/// What it is once wound down (skipped, stopped, the failure it had) is the track's
/// (`node_skipped`, `node_failed`, else stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wind {
    /// The phase in flight when the wind-down began is its own, not the wind-down's.
    own_in_flight: bool,
    /// How far it had got when the wind-down began.
    from: Option<Phase>,
    /// Why a wind-down step failed (the node stays drained).
    failed: Option<String>,
    /// Its lock is being released (the probe failed: it stays drained).
    releasing: bool,
    /// The wind-down's next phase (probe or undrain), started by `schedule` in the
    /// same input: the node is where its last record left it until that
    /// `phase_started`.
    next: Option<Phase>,
}

/// The phase after `after` on node `node`'s course in `plan`: doctor only on canaries
/// unless asked for every node.
fn next_on(plan: &Plan, node: NodeId, after: Phase) -> Option<Phase> {
    let skips = |phase: Phase| {
        phase == Phase::Doctor
            && !plan.doctor_every_node
            && !plan.classes.iter().any(|c| c.canary == node)
    };
    let mut p = after.next()?;
    while skips(p) {
        p = p.next()?;
    }
    Some(p)
}

#[path = "machine_only.rs"]
mod only;

/// The state machine.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub plan: Plan,
    /// One slot per inventory node; nodes outside the plan stay `Pending` forever.
    pub nodes: PerNode<NodeSlot>,
    /// What the machine alone keeps per node (steps, wind-downs).
    #[serde(skip)]
    steer: PerNode<Steer>,
    /// The first stage in flight (the only one unless the plan runs classes in
    /// parallel).
    pub cursor: Option<Cursor>,
    /// Every stage in flight: one per class still going with `parallel_classes`, else
    /// at most one.
    pub lanes: Vec<Cursor>,
    pub mode: Mode,
    /// Waiting for the operator, and why.
    pub halt: Option<Halt>,
    /// Stopping: nothing new starts and nodes in flight wind down (abort, quit, a
    /// signal).
    pub aborted: bool,
    /// Finishing: nothing new starts; nodes under way go on, then it stops.
    pub finishing: bool,
    pub finished: bool,
    /// Canaries baking (`--bake`): one per class whose canary landed and whose bake is
    /// not over.
    pub baking: Vec<Baking>,
    /// Classes whose canary baked through: they widen.
    baked: Vec<usize>,
    started: bool,
    rng: u64,
    /// The fleet, for node names in messages (indices when not given).
    #[serde(skip)]
    fleet: Fleet,
}

impl Machine {
    /// A machine for `plan` over `n_nodes` inventory nodes. `seed` feeds the retry jitter.
    pub fn new(plan: Plan, n_nodes: usize, seed: u64, mode: Mode) -> Self {
        Machine {
            plan,
            nodes: (0..n_nodes).map(|_| NodeTrack::new()).collect(),
            steer: (0..n_nodes).map(|_| Steer::default()).collect(),
            cursor: None,
            lanes: Vec::new(),
            mode,
            halt: None,
            aborted: false,
            finishing: false,
            finished: false,
            baking: Vec::new(),
            baked: Vec::new(),
            started: false,
            rng: seed | 1,
            fleet: Fleet::default(),
        }
    }

    /// Name nodes in halt messages after the fleet's.
    pub fn set_fleet(&mut self, fleet: Fleet) {
        self.fleet = fleet;
    }

    fn name(&self, node: NodeId) -> String {
        self.fleet
            .get(node)
            .map_or_else(|| format!("node {node}"), |n| n.name.clone())
    }

    /// Resume: nodes that landed in an earlier run stay landed; nodes with phases done
    /// continue after the last one (a verified node is not synced again). A change no
    /// record of this run carries (see `track.rs`).
    pub fn restore(&mut self, node: NodeId, last_done: Phase) {
        let next = self.next_phase(node, last_done);
        let Some(slot) = self.nodes.get_mut(node) else {
            return;
        };
        slot.done = Some(last_done);
        slot.run = match next {
            None => NodeRun::Landed,
            Some(next) => NodeRun::Ready { next },
        };
    }

    /// A number in [0, 1) from xorshift64*.
    fn jitter(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Delay before attempt `failed + 1`: `2^failed + U[0,5)` seconds.
    pub fn retry_delay_ms(&mut self, failed_attempt: u32) -> u64 {
        let base = 2f64.powi(failed_attempt.min(16) as i32);
        ((base + 5.0 * self.jitter()) * 1000.0) as u64
    }

    fn stage_nodes(&self, c: Cursor) -> Vec<NodeId> {
        let Some(cp) = self.plan.classes.get(c.class) else {
            return Vec::new();
        };
        if c.stage == 0 {
            vec![cp.canary]
        } else {
            cp.waves.get(c.stage - 1).cloned().unwrap_or_default()
        }
    }

    /// The phase after `after` on node `node`'s course in the plan (doctor only on
    /// canaries unless asked for every node); `None` after the last.
    pub fn next_phase(&self, node: NodeId, after: Phase) -> Option<Phase> {
        next_on(&self.plan, node, after)
    }

    /// Node `node` is being put back in service after a skip or a stop.
    pub fn winding_down(&self, node: NodeId) -> bool {
        self.steer.get(node).is_some_and(|s| s.wind.is_some())
    }

    /// The one way the machine changes a node: `rec` is applied to the node it is about
    /// ([`NodeTrack::apply`]) and journaled as it is, so the journal says what the node
    /// became. Records about no node are only journaled.
    fn record(&mut self, rec: Record, now: Millis, out: &mut Vec<Effect>) {
        if let Some(node) = track::subject(&rec) {
            // A node winding down: what follows a passed phase is the wind-down's.
            let winding = self.winding_down(node);
            let plan = &self.plan;
            if let Some(slot) = self.nodes.get_mut(node) {
                slot.apply(&rec, now, |p| {
                    if winding {
                        None
                    } else {
                        next_on(plan, node, p)
                    }
                });
            }
        }
        out.push(Effect::Journal(rec));
    }

    /// The number of node `node`'s attempt in flight (1 when none is).
    fn open_attempt(&self, node: NodeId) -> u32 {
        self.nodes
            .get(node)
            .and_then(NodeTrack::open_attempt)
            .map_or(1, |a| a.attempt)
    }

    fn may_start(&self, node: NodeId) -> bool {
        // Putting a node back in service waits for nothing: not a pause, not a halt,
        // not the end of the plan.
        if self.winding_down(node) {
            return true;
        }
        if self.finished {
            return false;
        }
        if self.aborted || (self.finishing && self.nodes[node].run == NodeRun::Pending) {
            return false;
        }
        // A halt starts no new node; nodes already under way finish their pipeline
        // rather than stay drained between phases.
        if self.halt.is_some() && self.nodes[node].run == NodeRun::Pending {
            return false;
        }
        match self.mode {
            Mode::Run | Mode::StepWave => true,
            Mode::Paused => self.steer[node].step_token,
        }
    }

    fn start(
        &mut self,
        node: NodeId,
        phase: Phase,
        attempt: u32,
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        let paused = self.mode == Mode::Paused;
        let steer = &mut self.steer[node];
        steer.stepped = paused && steer.step_token;
        steer.step_token = false;
        self.record(
            Record::PhaseStarted {
                node,
                phase,
                attempt,
            },
            now,
            out,
        );
        out.push(Effect::Run {
            node,
            phase,
            attempt,
        });
    }

    fn class_failures(&self, class: usize) -> usize {
        self.plan.classes.get(class).map_or(0, |c| {
            c.nodes()
                .filter(|&i| matches!(self.nodes[i].run, NodeRun::Failed { .. }))
                .count()
        })
    }

    fn halt(&mut self, reason: Halt, out: &mut Vec<Effect>) {
        if self.halt.is_none() {
            out.push(Effect::Journal(Record::Halted {
                reason: reason.to_string(),
            }));
            self.halt = Some(reason);
        }
    }

    /// One input at `now`; returns the effects to run.
    pub fn handle(&mut self, input: Input, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Tick => {}
            Input::PhaseDone { node, phase, note } => {
                // Between phases (`Ready` for the next one) once it is applied.
                let attempt = self.open_attempt(node);
                let rec = Record::PhaseDone {
                    node,
                    phase,
                    attempt,
                    note,
                };
                self.record(rec, now, &mut out);
                if let Some(next) = phase.carries_on() {
                    // The same script runs it: it is in flight already, whatever else
                    // happened meanwhile (a skip, a stop, a pause).
                    self.carry_on(node, next, now, &mut out);
                } else if let Some(w) = self.steer[node].wind.as_mut() {
                    w.own_in_flight = false;
                    self.wind_step(node, now, &mut out);
                } else if self.next_phase(node, phase).is_none() {
                    self.land(node, now, &mut out);
                }
            }
            Input::PhaseFailed {
                node,
                phase,
                failure,
            } => {
                let attempt = self.open_attempt(node);
                let rec = Record::PhaseFailed {
                    node,
                    phase,
                    attempt,
                    failure: failure.clone(),
                };
                self.record(rec, now, &mut out);
                let retry = matches!(failure, Failure::Transient(_))
                    && phase.retriable()
                    && attempt < MAX_ATTEMPTS;
                if let Some(w) = self.steer[node].wind.as_mut() {
                    // Winding down: no retry. A failed step of the wind-down leaves the
                    // node drained; its own phase failing just ends it.
                    if !w.own_in_flight {
                        w.failed = Some(format!("{} failed: {}", phase.name(), failure.message()));
                    }
                    w.own_in_flight = false;
                    self.wind_step(node, now, &mut out);
                } else if retry {
                    let delay_ms = self.retry_delay_ms(attempt);
                    // A step is done when its phase passes or fails for good.
                    let steer = &mut self.steer[node];
                    steer.step_token = steer.stepped;
                    // `Retrying` (until `now + delay_ms`) once it is applied.
                    let rec = Record::RetryScheduled {
                        node,
                        phase,
                        attempt: attempt + 1,
                        delay_ms,
                    };
                    self.record(rec, now, &mut out);
                } else {
                    // `Failed` with `failure` once it is applied.
                    let rec = Record::NodeFailed {
                        node,
                        phase,
                        error: failure.message().to_string(),
                    };
                    self.record(rec, now, &mut out);
                    let on = |message: &str| (self.name(node), message.to_string());
                    let halt = match &failure {
                        Failure::Mismatch(m) => {
                            let (node, message) = on(m);
                            Some(Halt::ChecksumMismatch { node, message })
                        }
                        Failure::Blocked(m) => {
                            let (node, message) = on(m);
                            Some(Halt::DoctorBlocks { node, message })
                        }
                        Failure::Transient(_) | Failure::Fatal(_) => None,
                    };
                    if let Some(h) = halt {
                        self.halt(h, &mut out);
                    }
                }
            }
            Input::Released { node, result } => {
                if let Some(w) = self.steer[node].wind.as_mut() {
                    w.releasing = false;
                    if let Err(e) = &result
                        && let Some(why) = w.failed.as_mut()
                    {
                        why.push_str(&format!("; its lock is still held: {e}"));
                    }
                    self.let_go(node, now, &mut out);
                }
            }
            Input::RollbackDone { node, result } => {
                // `RolledBack` when it went back. The journal keeps the words: the
                // reason as the operator reads it.
                let result = result.map_err(|e| e.to_string());
                self.record(Record::RolledBack { node, result }, now, &mut out);
            }
            Input::BakePolled { node, result } => self.bake_polled(node, result, now, &mut out),
            Input::Op(cmd) => self.operator(cmd, now, &mut out),
            Input::JournalFailed { reason } => {
                // It says why the rollout stopped, whatever halted it before.
                let h = Halt::JournalFailed { reason };
                out.push(Effect::Journal(Record::Halted {
                    reason: h.to_string(),
                }));
                self.halt = Some(h);
                self.stop(now, &mut out);
            }
        }
        self.schedule(now, &mut out);
        out
    }

    fn operator(&mut self, cmd: Command, now: Millis, out: &mut Vec<Effect>) {
        // Where a node the operator retries was (the record moves it: a waiting retry
        // starts now, a failed node goes again, see `track.rs`).
        let retried = match &cmd {
            Command::RetryNow(node) => self.nodes.get(*node).map(|s| s.run.clone()),
            _ => None,
        };
        let rec = Record::Operator {
            command: cmd.clone(),
        };
        self.record(rec, now, out);
        match cmd {
            Command::Run => self.mode = Mode::Run,
            Command::Pause => {
                self.mode = Mode::Paused;
                for n in &mut self.steer {
                    n.step_token = false;
                    n.stepped = false;
                }
            }
            Command::Resume => {
                self.halt = None;
                if self.mode == Mode::Paused {
                    self.mode = Mode::Run;
                }
            }
            Command::StepWave => {
                self.halt = None;
                self.mode = Mode::StepWave;
            }
            Command::StepPhase => {
                self.halt = None;
                self.mode = Mode::Paused;
                for c in self.lanes.clone() {
                    for n in self.stage_nodes(c) {
                        if !self.nodes[n].run.terminal() {
                            self.steer[n].step_token = true;
                        }
                    }
                }
            }
            Command::RetryNow(node) => match retried {
                Some(NodeRun::Retrying { .. }) => self.steer[node].step_token = true,
                Some(NodeRun::Failed { .. }) => {
                    self.steer[node].step_token = true;
                    self.halt = None;
                }
                _ => {}
            },
            Command::Skip(node) => {
                // A skipped node in flight finishes its phase, then winds down.
                if let Some(slot) = self.nodes.get(node)
                    && !slot.run.terminal()
                    && !self.winding_down(node)
                {
                    // It ends as skipped once wound down.
                    self.record(Record::NodeSkipped { node }, now, out);
                    self.wind_down(node, now, out);
                }
            }
            Command::Abort => self.stop(now, out),
            Command::Only(nodes) => self.only(&nodes),
            Command::Finish => {
                self.finishing = true;
                // What is under way goes on by itself.
                self.mode = Mode::Run;
            }
            Command::Rollback(nodes) => {
                for node in nodes {
                    if let Some(slot) = self.nodes.get(node)
                        && !matches!(slot.run, NodeRun::Active { .. })
                    {
                        out.push(Effect::Rollback { node });
                    }
                }
            }
        }
    }

    fn schedule(&mut self, now: Millis, out: &mut Vec<Effect>) {
        if !self.started {
            self.started = true;
            self.lanes = if self.plan.parallel_classes {
                (0..self.plan.classes.len())
                    .map(|class| Cursor { class, stage: 0 })
                    .collect()
            } else {
                self.first_cursor().into_iter().collect()
            };
            for c in self.lanes.clone() {
                out.push(self.stage_record(c));
            }
        }
        // Nodes winding down, wherever they are in the plan.
        for n in self.plan.nodes().collect::<Vec<_>>() {
            if let Some(w) = self.steer[n].wind.as_mut()
                && !w.releasing
                && let Some(next) = w.next.take()
            {
                self.start(n, next, 1, now, out);
            }
        }
        // Finishing: once nothing is under way, stop.
        if self.finishing && !self.aborted && !self.under_way() {
            self.stop(now, out);
        }
        let mut li = 0;
        while li < self.lanes.len() {
            if self.schedule_lane(li, now, out) {
                li += 1;
            } else {
                self.lanes.remove(li);
            }
        }
        self.cursor = self.lanes.first().copied();
        if self.lanes.is_empty() {
            self.finish(out);
        }
    }

    /// Start what lane `li` may start and move it on when its stage is done. `false`:
    /// the lane has nothing left (its class, or with classes in sequence the last one,
    /// is done).
    fn schedule_lane(&mut self, li: usize, now: Millis, out: &mut Vec<Effect>) -> bool {
        loop {
            let c = self.lanes[li];
            let nodes = self.stage_nodes(c);
            let concurrency = self.plan.classes[c.class].concurrency;
            // Nodes started and not finished count against the concurrency limit.
            let mut in_flight = nodes
                .iter()
                .filter(|&&n| {
                    let r = &self.nodes[n].run;
                    !r.terminal() && *r != NodeRun::Pending
                })
                .count();
            for &n in &nodes {
                let start = match self.nodes[n].run.clone() {
                    NodeRun::Retrying {
                        phase, attempt, at, ..
                    } if at <= now => Some((phase, attempt)),
                    NodeRun::Ready { next } => Some((next, 1)),
                    NodeRun::Pending if in_flight < concurrency => Some((Phase::Baseline, 1)),
                    _ => None,
                };
                if let Some((phase, attempt)) = start
                    && self.may_start(n)
                {
                    if matches!(self.nodes[n].run, NodeRun::Pending) {
                        in_flight += 1;
                    }
                    self.start(n, phase, attempt, now, out);
                }
            }
            // Stage done?
            if !nodes.iter().all(|&n| self.nodes[n].run.terminal()) {
                return true;
            }
            let failures = self.class_failures(c.class);
            let cp = &self.plan.classes[c.class];
            if failures > cp.failure_budget {
                let reason = Halt::OverBudget {
                    class: cp.class.clone(),
                    failed: failures,
                    budget: cp.failure_budget,
                };
                self.halt(reason, out);
                return true;
            }
            if c.stage == 0 && matches!(self.nodes[cp.canary].run, NodeRun::Failed { .. }) {
                let reason = Halt::CanaryFailed {
                    class: cp.class.clone(),
                };
                self.halt(reason, out);
                return true;
            }
            if self.halt.is_some() || self.aborted {
                return true;
            }
            // The canary bakes before its class widens.
            if c.stage == 0 && !self.bake(c.class, now, out) {
                return true;
            }
            let cp = &self.plan.classes[c.class];
            let next = if c.stage < cp.waves.len() {
                Some(Cursor {
                    class: c.class,
                    stage: c.stage + 1,
                })
            } else if self.plan.parallel_classes {
                None
            } else {
                self.next_class_cursor(c.class + 1)
            };
            if self.mode == Mode::StepWave {
                self.mode = Mode::Paused;
            }
            match next {
                Some(nc) => {
                    self.lanes[li] = nc;
                    out.push(self.stage_record(nc));
                }
                None => return false,
            }
        }
    }

    fn first_cursor(&self) -> Option<Cursor> {
        self.next_class_cursor(0)
    }

    fn next_class_cursor(&self, from: usize) -> Option<Cursor> {
        (from < self.plan.classes.len()).then_some(Cursor {
            class: from,
            stage: 0,
        })
    }

    fn stage_record(&self, c: Cursor) -> Effect {
        Effect::Journal(Record::StageStarted {
            class: self.plan.classes[c.class].class.clone(),
            stage: c.stage,
        })
    }

    fn finish(&mut self, out: &mut Vec<Effect>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let (mut landed, mut failed, mut skipped) = (0, 0, 0);
        for n in self.plan.nodes() {
            match self.nodes[n].run {
                NodeRun::Landed => landed += 1,
                NodeRun::Failed { .. } => failed += 1,
                NodeRun::Skipped => skipped += 1,
                _ => {}
            }
        }
        out.push(Effect::Journal(Record::Finished {
            landed,
            failed,
            skipped,
        }));
    }

    /// Node `node` landed.
    fn land(&mut self, node: NodeId, now: Millis, out: &mut Vec<Effect>) {
        self.record(Record::NodeLanded { node }, now, out);
    }

    /// The phase `next` of node `node` runs in the same script as the one that just
    /// passed: it is in flight now (no `Run` effect).
    fn carry_on(&mut self, node: NodeId, next: Phase, now: Millis, out: &mut Vec<Effect>) {
        let rec = Record::PhaseStarted {
            node,
            phase: next,
            attempt: 1,
        };
        self.record(rec, now, out);
    }

    /// Nodes started and not yet done with their own pipeline (wind-downs aside).
    fn under_way(&self) -> bool {
        self.plan.nodes().any(|n| {
            !self.winding_down(n)
                && matches!(
                    self.nodes[n].run,
                    NodeRun::Active { .. } | NodeRun::Retrying { .. } | NodeRun::Ready { .. }
                )
        })
    }

    /// The one stop path (abort, quit, a signal, the end of a finish): nothing new
    /// starts, and every node the rollout holds winds down, failed ones included.
    fn stop(&mut self, now: Millis, out: &mut Vec<Effect>) {
        self.aborted = true;
        for n in self.plan.nodes().collect::<Vec<_>>() {
            // It ends as stopped, or as the failure it had.
            let slot = &self.nodes[n];
            let put_back = match &slot.run {
                NodeRun::Active { .. } | NodeRun::Retrying { .. } | NodeRun::Ready { .. } => true,
                // A failed node still holding its lock (drained) is put back too.
                NodeRun::Failed { .. } => {
                    slot.left.is_none() && slot.done.is_some_and(|p| p != Phase::Undrain)
                }
                _ => false,
            };
            if put_back {
                self.wind_down(n, now, out);
            }
        }
    }

    /// Put node `node` back in service, whatever stopped it (a skip, a stop): a phase in
    /// flight finishes within its time limit; then a node drained but not switched is
    /// undrained and its lock released (it serves its old bundle), a switched one is
    /// probed first (and left drained, lock released, if the probe fails). It ends as
    /// skipped (`node_skipped`), the failure it had, or stopped, with
    /// [`NodeTrack::left`] saying where it was left (journaled as `node_stopped`).
    pub fn wind_down(&mut self, node: NodeId, now: Millis, out: &mut Vec<Effect>) {
        let (Some(slot), Some(steer)) = (self.nodes.get(node), self.steer.get_mut(node)) else {
            return;
        };
        if steer.wind.is_some() || slot.left.is_some() {
            return;
        }
        let own_in_flight = matches!(slot.run, NodeRun::Active { .. });
        steer.wind = Some(Wind {
            own_in_flight,
            from: slot.done,
            failed: None,
            releasing: false,
            next: None,
        });
        if !own_in_flight {
            self.wind_step(node, now, out);
        }
    }

    /// The next step of a node winding down that runs no phase now: its next phase
    /// (probe or undrain, started by `schedule`), the release of its lock, or its end.
    fn wind_step(&mut self, node: NodeId, now: Millis, out: &mut Vec<Effect>) {
        let slot = &self.nodes[node];
        let Some(w) = self.steer[node].wind.as_mut() else {
            return;
        };
        let next = match (slot.done, &w.failed) {
            // Never locked, or already undrained (and unlocked).
            (None | Some(Phase::Undrain), _) => None,
            (Some(_), Some(_)) => {
                if !w.releasing {
                    // The probe (or the undrain) failed: it stays drained, its lock
                    // given back so that a new run takes it from the start.
                    w.releasing = true;
                    out.push(Effect::Release { node });
                    return;
                }
                None
            }
            (Some(p), None) if (Phase::Switch..Phase::Probe).contains(&p) => Some(Phase::Probe),
            (Some(_), None) => Some(Phase::Undrain),
        };
        match next {
            Some(next) => w.next = Some(next),
            None => self.let_go(node, now, out),
        }
    }

    /// A node's wind-down is over: say where it was left.
    fn let_go(&mut self, node: NodeId, now: Millis, out: &mut Vec<Effect>) {
        let Some(w) = self.steer[node].wind.take() else {
            return;
        };
        let slot = &self.nodes[node];
        let passed = |phase: Phase| {
            w.from >= Some(phase)
                || slot
                    .history
                    .iter()
                    .any(|a| a.phase == phase && matches!(a.outcome, Some(Ok(_))))
        };
        let (prewarmed, switched) = (passed(Phase::Prewarm), passed(Phase::Switch));
        let left = match (slot.done, w.failed) {
            (_, Some(why)) => Left::Drained(why),
            (None, None) => Left::Untouched,
            (Some(Phase::Undrain), None) if prewarmed => {
                // It went all the way: prewarmed, probed, undrained.
                return self.land(node, now, out);
            }
            (Some(Phase::Undrain), None) if switched => Left::OnBundle,
            (Some(Phase::Undrain), None) => Left::Restored,
            (Some(p), None) => Left::Drained(format!("stopped after {}", p.name())),
        };
        // It ends as skipped, failed or stopped, left where `left` says.
        self.record(Record::NodeStopped { node, left }, now, out);
    }

    /// Nodes a stop would put back: under way (a phase running or to come), winding
    /// down, or failed while still holding their lock.
    pub fn in_flight(&self) -> usize {
        self.plan
            .nodes()
            .filter(|&n| {
                let s = &self.nodes[n];
                let holds = s.left.is_none() && s.done.is_some_and(|p| p != Phase::Undrain);
                self.winding_down(n)
                    || match s.run {
                        NodeRun::Active { .. } | NodeRun::Retrying { .. } => true,
                        NodeRun::Ready { .. } | NodeRun::Failed { .. } => holds,
                        _ => false,
                    }
            })
            .count()
    }

    /// Nothing is running and nothing more will start without the operator.
    pub fn idle(&self) -> bool {
        // Running phases, and retries that will still run (a halt lets nodes under way
        // finish; an abort or a pause does not).
        let retries_go_on = !self.aborted && self.mode != Mode::Paused;
        let active = self.nodes.enumerate().any(|(n, s)| {
            self.winding_down(n)
                || match s.run {
                    NodeRun::Active { .. } => true,
                    NodeRun::Retrying { .. } => retries_go_on,
                    _ => false,
                }
        }) || self.baking.iter().any(|b| {
            // A poll in flight is waited for; a bake goes on while nothing stops it.
            b.polling || (retries_go_on && self.halt.is_none())
        });
        let stopped =
            self.finished || self.halt.is_some() || self.aborted || self.mode == Mode::Paused;
        // A retry countdown keeps a running rollout busy; a stopped one only waits for
        // the phases actually running.
        !active && stopped
    }

    /// Every planned node landed.
    pub fn all_landed(&self) -> bool {
        self.plan
            .nodes()
            .all(|n| self.nodes[n].run == NodeRun::Landed)
    }

    /// The earliest retry time, for a driver that wants to sleep until then.
    pub fn next_wakeup(&self) -> Option<Millis> {
        self.nodes
            .iter()
            .filter_map(|s| match s.run {
                NodeRun::Retrying { at, .. } => Some(at),
                _ => None,
            })
            .chain(
                self.baking
                    .iter()
                    .filter(|b| !b.polling)
                    .map(|b| b.next_poll),
            )
            .min()
    }

    /// The bake of class `class`'s canary, once its canary stage is done: `true` when
    /// the class may widen (no bake asked for, the canary did not land, or it baked
    /// through), `false` while it bakes. Starts the bake and asks for its polls.
    fn bake(&mut self, class: usize, now: Millis, out: &mut Vec<Effect>) -> bool {
        let Some(cp) = self.plan.classes.get(class) else {
            return true;
        };
        let node = cp.canary;
        if self.plan.bake_ms == 0
            || self.baked.contains(&class)
            || self.nodes[node].run != NodeRun::Landed
        {
            return true;
        }
        let every = self.plan.bake_every_ms.max(1);
        let i = match self.baking.iter().position(|b| b.class == class) {
            Some(i) => i,
            None => {
                let until = now + self.plan.bake_ms;
                self.baking.push(Baking {
                    class,
                    node,
                    since: now,
                    until,
                    next_poll: (now + every).min(until),
                    polling: false,
                    polls: 0,
                });
                out.push(Effect::Journal(Record::BakeStarted {
                    node,
                    class: cp.class.clone(),
                    duration_ms: self.plan.bake_ms,
                }));
                self.baking.len() - 1
            }
        };
        let b = &mut self.baking[i];
        if !b.polling && now >= b.next_poll {
            b.polling = true;
            out.push(Effect::BakePoll { node });
        }
        false
    }

    /// A baking canary's poll came back: a dead or skewed verdict halts the class; a
    /// healthy one at or past the end of the bake lets it widen.
    fn bake_polled(
        &mut self,
        node: NodeId,
        result: Result<String, BakeError>,
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        let Some(i) = self.baking.iter().position(|b| b.node == node && b.polling) else {
            return;
        };
        let every = self.plan.bake_every_ms.max(1);
        let b = &mut self.baking[i];
        b.polling = false;
        b.polls += 1;
        let (class, polls, until) = (b.class, b.polls, b.until);
        b.next_poll = (now + every).min(until);
        out.push(Effect::Journal(Record::BakePolled {
            node,
            poll: polls,
            ok: result.is_ok(),
            verdict: match &result {
                Ok(v) => v.clone(),
                Err(why) => why.to_string(),
            },
        }));
        let class_name = self.plan.classes[class].class.clone();
        match result {
            Err(why) => {
                // A resume (after the operator's look) bakes again from the start.
                self.baking.remove(i);
                let h = Halt::BakeFailed {
                    class: class_name,
                    node: self.name(node),
                    reason: why.to_string(),
                };
                self.halt(h, out);
            }
            Ok(_) if now >= until => {
                self.baking.remove(i);
                self.baked.push(class);
                out.push(Effect::Journal(Record::BakeDone {
                    node,
                    class: class_name,
                    polls,
                }));
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halts_are_worded_as_before_and_serialise_as_their_wording() {
        let node = || "mac-w01".to_string();
        for (h, want) in [
            (
                Halt::ChecksumMismatch {
                    node: node(),
                    message: "a.md differs".into(),
                },
                "checksum mismatch on mac-w01: a.md differs",
            ),
            (
                Halt::DoctorBlocks {
                    node: node(),
                    message: "2 error findings".into(),
                },
                "doctor blocks widening (mac-w01): 2 error findings",
            ),
            (
                Halt::OverBudget {
                    class: "worker".into(),
                    failed: 2,
                    budget: 1,
                },
                "class worker: 2 failed node(s), over its failure budget of 1",
            ),
            (
                Halt::CanaryFailed {
                    class: "gateway".into(),
                },
                "class gateway: the canary failed",
            ),
        ] {
            assert_eq!(h.to_string(), want);
            assert_eq!(
                serde_json::to_value(&h).ok(),
                Some(serde_json::Value::from(want))
            );
        }
        let failed = NodeRun::Failed {
            phase: Phase::Verify,
            error: Failure::Mismatch("a.md differs".into()),
        };
        assert_eq!(
            serde_json::to_string(&failed).ok().as_deref(),
            Some(r#"{"state":"failed","phase":"verify","error":"a.md differs"}"#)
        );
    }
}
