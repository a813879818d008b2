//! The one poll scheduler: a single task keeps every node's next due time in a
//! priority queue and launches the due polls, at most [`ROUND_IN_FLIGHT`] at once, so
//! a hung node holds one slot and never stalls the others beyond that bound.
//!
//! [`Schedule`] is the pure part (when is which node due, and with what request);
//! [`Scheduler`] launches its polls. The dashboard runs it continuously ([`spawn`]);
//! `status` runs it a round at a time ([`Scheduler::round`]: every node due once).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Cadence, ChangeWatch, PollCtx, PollResult, ROUND_IN_FLIGHT, poll_once};
use crate::inventory::{NodeId, PerNode};
use crate::remote::PollRequest;

/// How the cadences are laid out over the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The dashboard: each node polls on its own fast clock; the gateway status rides
    /// the first fast poll after its slow period, the nodes' slow periods spread over
    /// the slow cadence so the fleet is not hit at once; doctor on its cadence.
    Continuous,
    /// `status`: a round polls every node once; the gateway status goes to the whole
    /// fleet in the first round after the slow period (counted from the round that
    /// last carried it); doctor only when asked.
    Rounds,
}

/// What the operator can ask of the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Poll this node now, with the gateway status (and doctor if asked).
    Refresh { node: NodeId, doctor: bool },
    /// Poll every node now, with the gateway status (and doctor if asked).
    RefreshAll { doctor: bool },
}

/// One node's clock.
#[derive(Debug, Clone)]
struct NodeDue {
    /// Where this node's slow period starts in the spread (Continuous only).
    offset: std::time::Duration,
    next_slow: Instant,
    next_doctor: Option<Instant>,
    /// Asked for with the next poll (by the operator, or by a reachability change).
    want_gateway: bool,
    want_doctor: bool,
    /// The poll in flight carries (gateway, doctor).
    in_flight: Option<(bool, bool)>,
    /// When the node is due next; the queue holds it (older queue entries that no
    /// longer match are skipped).
    due: Option<Instant>,
    watch: ChangeWatch,
}

/// Every node's next due time and what its next poll carries. Pure: time comes in as
/// arguments.
#[derive(Debug)]
pub struct Schedule {
    cadence: Cadence,
    mode: Mode,
    start: Instant,
    /// This round carries the gateway status for the fleet (Rounds), and when the
    /// next one will.
    gateway_round: bool,
    rounds_next_slow: Instant,
    nodes: PerNode<NodeDue>,
    queue: BinaryHeap<Reverse<(Instant, NodeId)>>,
}

impl Schedule {
    /// `n` nodes, all due at `start`; their first poll carries the gateway status.
    pub fn new(cadence: Cadence, n: usize, mode: Mode, start: Instant) -> Schedule {
        let count = n.max(1) as u32;
        let nodes = (0..n)
            .map(|idx| {
                let (offset, next_doctor) = match mode {
                    Mode::Continuous => {
                        let offset = cadence
                            .slow
                            .mul_f64(f64::from(idx as u32 % count) / f64::from(count));
                        let first = cadence
                            .doctor
                            .map(|d| start + d.min(std::time::Duration::from_secs(5)) + offset / 4);
                        (offset, first)
                    }
                    Mode::Rounds => (std::time::Duration::ZERO, None),
                };
                NodeDue {
                    offset,
                    next_slow: start,
                    next_doctor,
                    want_gateway: false,
                    want_doctor: false,
                    in_flight: None,
                    due: None,
                    watch: ChangeWatch::default(),
                }
            })
            .collect();
        let mut s = Schedule {
            cadence,
            mode,
            start,
            gateway_round: false,
            rounds_next_slow: start,
            nodes,
            queue: BinaryHeap::new(),
        };
        if mode == Mode::Continuous {
            for idx in s.nodes.ids() {
                s.set_due(idx, start);
            }
        }
        s
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn set_due(&mut self, idx: NodeId, at: Instant) {
        let Some(n) = self.nodes.get_mut(idx) else {
            return;
        };
        if n.due.is_some_and(|d| d <= at) {
            return;
        }
        n.due = Some(at);
        self.queue.push(Reverse((at, idx)));
    }

    /// A round (Rounds): every node due at `now`.
    pub fn begin_round(&mut self, now: Instant) {
        self.gateway_round = now >= self.rounds_next_slow;
        if self.gateway_round {
            self.rounds_next_slow = now + self.cadence.slow;
        }
        for idx in self.nodes.ids() {
            self.set_due(idx, now);
        }
    }

    /// Ask for the gateway status (and doctor) with the node's next poll, now.
    pub fn request(&mut self, r: Request, now: Instant) {
        match r {
            Request::Refresh { node, doctor } => self.refresh(node, doctor, now),
            Request::RefreshAll { doctor } => {
                for idx in self.nodes.ids() {
                    self.refresh(idx, doctor, now);
                }
            }
        }
    }

    fn refresh(&mut self, idx: NodeId, doctor: bool, now: Instant) {
        let Some(n) = self.nodes.get_mut(idx) else {
            return;
        };
        n.want_gateway = true;
        n.want_doctor |= doctor;
        // A node polling right now polls again as soon as it answers.
        if n.in_flight.is_none() && self.mode == Mode::Continuous {
            self.set_due(idx, now);
        }
    }

    /// Ask for doctor with the node's next poll, without making it due (`status
    /// --doctor`: the first round carries it).
    pub fn want_doctor(&mut self, idx: NodeId) {
        if let Some(n) = self.nodes.get_mut(idx) {
            n.want_doctor = true;
        }
    }

    /// The earliest due time, if any node is waiting.
    pub fn next_due(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, idx))) = self.queue.peek() {
            if self.nodes.get(idx).is_some_and(|n| n.due == Some(at)) {
                return Some(at);
            }
            self.queue.pop();
        }
        None
    }

    /// The next node due at `now` and its request; it is then in flight until
    /// [`Schedule::on_result`].
    pub fn pop_due(&mut self, now: Instant) -> Option<(NodeId, PollRequest)> {
        let at = self.next_due()?;
        if at > now {
            return None;
        }
        let Reverse((_, idx)) = self.queue.pop()?;
        let (mode, gateway_round) = (self.mode, self.gateway_round);
        let n = self.nodes.get_mut(idx)?;
        n.due = None;
        let on_time = match mode {
            Mode::Continuous => now >= n.next_slow,
            Mode::Rounds => gateway_round,
        };
        let gw = std::mem::take(&mut n.want_gateway) | on_time;
        let doc = std::mem::take(&mut n.want_doctor) | n.next_doctor.is_some_and(|d| now >= d);
        n.in_flight = Some((gw, doc));
        Some((idx, self.cadence.request(gw, doc)))
    }

    /// A poll came back at `now`: when the node is due next. A change of reachability
    /// or liveness brings the gateway status forward (at once, or in the next round).
    pub fn on_result(&mut self, r: &PollResult, now: Instant) {
        let c = self.cadence;
        let (mode, start) = (self.mode, self.start);
        let Some(n) = self.nodes.get_mut(r.node) else {
            return;
        };
        let (gw, doc) = n.in_flight.take().unwrap_or((false, false));
        if gw && mode == Mode::Continuous {
            n.next_slow = (now + c.slow).max(start + n.offset + c.slow);
        }
        if doc && mode == Mode::Continuous {
            n.next_doctor = c.doctor.map(|d| now + d);
        }
        let changed = n.watch.changed(r) && !gw;
        if changed {
            n.want_gateway = true;
        }
        if mode == Mode::Continuous {
            let asked = n.want_gateway || n.want_doctor;
            let next = if asked { now } else { now + c.fast };
            self.set_due(r.node, next);
        }
    }
}

/// Launches what the [`Schedule`] says is due, at most [`ROUND_IN_FLIGHT`] at once.
pub struct Scheduler {
    ctx: Arc<PollCtx>,
    pub schedule: Schedule,
    in_flight: FuturesUnordered<BoxFuture<'static, PollResult>>,
}

impl Scheduler {
    pub fn new(ctx: Arc<PollCtx>, mode: Mode) -> Scheduler {
        let schedule = Schedule::new(ctx.cadence, ctx.nodes.len(), mode, Instant::now());
        Scheduler {
            ctx,
            schedule,
            in_flight: FuturesUnordered::new(),
        }
    }

    /// Polls in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn launch_due(&mut self) {
        let now = Instant::now();
        while self.in_flight.len() < ROUND_IN_FLIGHT {
            let Some((idx, req)) = self.schedule.pop_due(now) else {
                break;
            };
            let ctx = self.ctx.clone();
            // Boxed: a poll's future is ~10 KB, held only while it is in flight.
            self.in_flight
                .push(Box::pin(async move { poll_once(&ctx, idx, &req).await }));
        }
    }

    /// The operator asked for these nodes now: a node whose connect failed is not left
    /// waiting out its backoff (the transport's to forget).
    fn connect_now(&self, req: Request) {
        match req {
            Request::Refresh { node, .. } => self.ctx.transport.connect_now(node.index()),
            Request::RefreshAll { .. } => {
                for i in 0..self.ctx.nodes.len() {
                    self.ctx.transport.connect_now(i);
                }
            }
        }
    }

    /// One round: every node due now; returns, in node order, when all have answered
    /// or timed out.
    pub async fn round(&mut self) -> Vec<PollResult> {
        let n = self.schedule.len();
        self.schedule.begin_round(Instant::now());
        let mut out: Vec<Option<PollResult>> = (0..n).map(|_| None).collect();
        let mut left = n;
        while left > 0 {
            self.launch_due();
            let Some(r) = self.in_flight.next().await else {
                break;
            };
            self.schedule.on_result(&r, Instant::now());
            if let Some(slot) = out.get_mut(r.node.index()) {
                if slot.is_none() {
                    left -= 1;
                }
                *slot = Some(r);
            }
        }
        out.into_iter().flatten().collect()
    }

    /// Poll for ever (until `tx` closes): results go to `tx` wrapped by `wrap`,
    /// operator requests come from `requests`.
    pub async fn run<E>(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        tx: mpsc::UnboundedSender<E>,
        wrap: fn(PollResult) -> E,
    ) {
        let mut open = true;
        loop {
            self.launch_due();
            // With every slot taken, a due node waits for a poll to finish.
            let next = if self.in_flight.len() < ROUND_IN_FLIGHT {
                self.schedule.next_due()
            } else {
                None
            };
            let far = Instant::now() + std::time::Duration::from_secs(86_400);
            tokio::select! {
                Some(r) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.schedule.on_result(&r, Instant::now());
                    if tx.send(wrap(r)).is_err() {
                        return;
                    }
                }
                req = requests.recv(), if open => match req {
                    Some(req) => {
                        self.connect_now(req);
                        self.schedule.request(req, Instant::now());
                    }
                    None => open = false,
                },
                _ = tokio::time::sleep_until(next.unwrap_or(far)), if next.is_some() => {}
                else => {
                    // Nothing in flight, nothing due, nobody to ask: no nodes.
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Ask the running scheduler for polls now. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<Request>,
}

impl SchedulerHandle {
    /// Poll `node` now with the gateway status (and doctor).
    pub fn refresh(&self, node: NodeId, doctor: bool) {
        let _ = self.tx.send(Request::Refresh { node, doctor });
    }

    /// Poll every node now with the gateway status (and doctor).
    pub fn refresh_all(&self, doctor: bool) {
        let _ = self.tx.send(Request::RefreshAll { doctor });
    }
}

/// The scheduler for the dashboard (continuous cadences) as a future, for the caller
/// to drive in its own task (the dashboard runs it beside its event loop, so polls are
/// allocated and freed on one thread); it runs until `tx` closes or it is dropped.
pub fn start<E>(
    ctx: Arc<PollCtx>,
    tx: mpsc::UnboundedSender<E>,
    wrap: fn(PollResult) -> E,
) -> (SchedulerHandle, impl std::future::Future<Output = ()>) {
    let (rtx, rrx) = mpsc::unbounded_channel();
    let s = Scheduler::new(ctx, Mode::Continuous);
    (SchedulerHandle { tx: rtx }, s.run(rrx, tx, wrap))
}

/// [`start`] as a task of its own; abort the handle to stop it.
pub fn spawn<E: Send + 'static>(
    ctx: Arc<PollCtx>,
    tx: mpsc::UnboundedSender<E>,
    wrap: fn(PollResult) -> E,
) -> (SchedulerHandle, JoinHandle<()>) {
    let (handle, run) = start(ctx, tx, wrap);
    (handle, tokio::spawn(run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::NodeId;
    use crate::remote::sim::SimMesh;
    use crate::remote::{PollFailure, RemoteError, Transport};
    use crate::signals::RawPoll;
    use std::time::Duration;

    fn cadence() -> Cadence {
        let mut c = Cadence::for_timeout(Duration::from_secs(10));
        c.fast = Duration::from_secs(5);
        c.slow = Duration::from_secs(300);
        c
    }

    fn ok(idx: usize, live: u16) -> PollResult {
        PollResult {
            node: NodeId::new(idx),
            at: 0,
            took_ms: 1,
            result: Ok(RawPoll {
                node_now: 0,
                gateway: None,
                doctor: None,
                current: None,
                current_not_link: false,
                bundle_dir: false,
                lock: None,
                cache_mtime: None,
                drain: false,
                live_rc: 0,
                live_code: Some(live),
                ready: None,
                disk: Err(crate::signals::SignalError::new("disk", "not read")),
                node_lock: None,
                cli: None,
            }),
        }
    }

    fn failed(idx: usize) -> PollResult {
        PollResult {
            node: NodeId::new(idx),
            at: 0,
            took_ms: 1,
            result: Err(PollFailure::Remote(RemoteError::Exec("down".into()))),
        }
    }

    fn pop_all(s: &mut Schedule, now: Instant) -> Vec<(usize, PollRequest)> {
        std::iter::from_fn(|| s.pop_due(now))
            .map(|(i, r)| (i.index(), r))
            .collect()
    }

    /// The dashboard's cadences, as each node's loop had them: all nodes at once with
    /// the gateway status, then cheap polls every `fast`, the gateway status again
    /// after the node's slot in the spread slow period.
    #[tokio::test(start_paused = true)]
    async fn continuous_cadences() {
        let c = cadence();
        let t0 = Instant::now();
        let mut s = Schedule::new(c, 4, Mode::Continuous, t0);
        let first = pop_all(&mut s, t0);
        assert_eq!(first.len(), 4);
        assert!(first.iter().all(|(_, r)| r.gateway && !r.doctor));
        assert!(s.pop_due(t0).is_none(), "each node once");
        let t1 = t0 + Duration::from_millis(300);
        for i in 0..4 {
            s.on_result(&ok(i, 200), t1);
        }
        assert_eq!(s.next_due(), Some(t1 + c.fast));
        assert!(s.pop_due(t1 + c.fast - Duration::from_millis(1)).is_none());
        let cheap = pop_all(&mut s, t1 + c.fast);
        assert_eq!(cheap.len(), 4);
        assert!(cheap.iter().all(|(_, r)| !r.gateway));
        // Node 2 of 4 has its slow period start half-way through: its second gateway
        // status comes at the first fast poll after t0 + slow/2 + slow.
        let mut now = t1 + c.fast;
        let mut gateway_at = [None; 4];
        while now < t0 + c.slow * 2 + c.fast * 2 {
            for i in 0..4 {
                s.on_result(&ok(i, 200), now);
            }
            now = s.next_due().expect("due");
            for (i, r) in pop_all(&mut s, now) {
                if r.gateway && gateway_at[i].is_none() {
                    gateway_at[i] = Some(now);
                }
            }
        }
        let at = |i: usize| gateway_at[i].expect("a second gateway status");
        assert!(at(0) >= t0 + c.slow && at(0) < t0 + c.slow + c.fast);
        assert!(at(2) >= t0 + c.slow * 3 / 2 && at(2) < t0 + c.slow * 3 / 2 + c.fast);
    }

    /// A change of liveness or reachability brings the gateway status forward at
    /// once; an operator's refresh polls now, or right after the poll in flight.
    #[tokio::test(start_paused = true)]
    async fn changes_and_refreshes_poll_at_once() {
        let c = cadence();
        let t0 = Instant::now();
        let mut s = Schedule::new(c, 2, Mode::Continuous, t0);
        pop_all(&mut s, t0);
        s.on_result(&ok(0, 200), t0);
        s.on_result(&ok(1, 200), t0);
        let t1 = t0 + c.fast;
        pop_all(&mut s, t1);
        // Node 0 goes down: polled again at once, with the gateway status.
        s.on_result(&failed(0), t1);
        s.on_result(&ok(1, 200), t1);
        assert_eq!(
            s.pop_due(t1).map(|(i, r)| (i.index(), r.gateway)),
            Some((0, true))
        );
        assert!(s.pop_due(t1).is_none());
        // The operator asks for node 0 while it polls: it polls again as it answers.
        s.request(
            Request::Refresh {
                node: NodeId::new(0),
                doctor: true,
            },
            t1,
        );
        assert!(s.pop_due(t1).is_none(), "node 0 is in flight");
        s.on_result(&failed(0), t1 + Duration::from_secs(1));
        let (i, r) = s.pop_due(t1 + Duration::from_secs(1)).expect("due at once");
        assert_eq!((i.index(), r.gateway, r.doctor), (0, true, true));
        // Node 1 waits for its fast poll; a refresh of all brings it forward.
        let t2 = t1 + Duration::from_secs(2);
        assert!(s.pop_due(t2).is_none());
        s.request(Request::RefreshAll { doctor: false }, t2);
        let (i, r) = s.pop_due(t2).expect("node 1 now");
        assert_eq!((i.index(), r.gateway, r.doctor), (1, true, false));
    }

    /// `status`: every node once per round, the gateway status for the whole fleet
    /// once the slow period has passed, a changed node's in the next round, doctor
    /// only when asked.
    #[tokio::test(start_paused = true)]
    async fn rounds() {
        let mut c = cadence();
        c.doctor = Some(Duration::from_secs(1));
        let t0 = Instant::now();
        let mut s = Schedule::new(c, 3, Mode::Rounds, t0);
        assert!(s.pop_due(t0).is_none(), "nothing due before a round");
        s.want_doctor(NodeId::new(1));
        s.begin_round(t0);
        let r1 = pop_all(&mut s, t0 + Duration::from_secs(2));
        assert_eq!(r1.len(), 3);
        assert!(r1.iter().all(|(_, r)| r.gateway));
        assert_eq!(
            r1.iter().map(|(_, r)| r.doctor).collect::<Vec<_>>(),
            [false, true, false]
        );
        for i in 0..3 {
            s.on_result(&ok(i, 200), t0 + Duration::from_secs(2));
        }
        assert!(
            s.pop_due(t0 + c.slow * 2).is_none(),
            "no round, nothing due"
        );
        let t1 = t0 + c.fast;
        s.begin_round(t1);
        let r2 = pop_all(&mut s, t1);
        assert_eq!(r2.len(), 3, "{r2:?}");
        assert!(r2.iter().all(|(_, r)| !r.gateway && !r.doctor), "{r2:?}");
        s.on_result(&ok(0, 200), t1);
        s.on_result(&ok(1, 503), t1);
        s.on_result(&ok(2, 200), t1);
        let t2 = t1 + c.fast;
        s.begin_round(t2);
        let r3: Vec<bool> = pop_all(&mut s, t2).iter().map(|(_, r)| r.gateway).collect();
        assert_eq!(
            r3,
            [false, true, false],
            "the changed node's gateway status"
        );
        for i in 0..3 {
            s.on_result(&ok(i, 200), t2);
        }
        let t3 = t0 + c.slow;
        s.begin_round(t3);
        assert!(pop_all(&mut s, t3).iter().all(|(_, r)| r.gateway));
    }

    fn sim_ctx(n: usize) -> Arc<PollCtx> {
        let (inv, mesh) = SimMesh::generate(n, 3);
        Arc::new(PollCtx {
            transport: Transport::sim(mesh),
            nodes: inv.nodes,
            token: None,
            cadence: cadence(),
        })
    }

    /// Never more than ROUND_IN_FLIGHT polls at once: the rest wait their turn.
    #[tokio::test(start_paused = true)]
    async fn polls_in_flight_are_bounded() {
        let n = ROUND_IN_FLIGHT + 300;
        let mut s = Scheduler::new(sim_ctx(n), Mode::Continuous);
        s.launch_due();
        assert_eq!(s.in_flight(), ROUND_IN_FLIGHT);
        assert!(s.schedule.next_due().is_some(), "the others wait");
        let r = s.in_flight.next().await.expect("a result");
        s.schedule.on_result(&r, Instant::now());
        s.launch_due();
        assert_eq!(s.in_flight(), ROUND_IN_FLIGHT, "one done, the next one in");
    }

    /// A round answers for every node once, in node order; the running scheduler
    /// reports every node and polls the asked node again at once.
    #[tokio::test(start_paused = true)]
    async fn a_round_and_the_running_scheduler_report_every_node() {
        let ctx = sim_ctx(50);
        let mut s = Scheduler::new(ctx.clone(), Mode::Rounds);
        let round = s.round().await;
        assert_eq!(
            round.iter().map(|r| r.node.index()).collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );

        let (tx, mut rx) = mpsc::unbounded_channel();
        let (handle, task) = spawn(ctx, tx, |r| r);
        let mut seen = [0usize; 50];
        while seen.contains(&0) {
            let r = rx.recv().await.expect("a result");
            seen[r.node.index()] += 1;
        }
        handle.refresh(NodeId::new(7), false);
        let t = Instant::now();
        loop {
            let r = rx.recv().await.expect("a result");
            if r.node.index() == 7 {
                assert!(
                    Instant::now() - t < cadence().fast,
                    "polled before its tick"
                );
                break;
            }
        }
        task.abort();
    }
}
