//! Driving the pure rollout machine by hand in a test: a small fleet of gateways `gN`
//! and workers `wN`, its machine, the phases it asks to run, and the executor's answers
//! (a phase done or failed; a pass, with the phase the same script carries on to; the
//! canary landed; everything passed).
#![allow(dead_code)]

use std::path::Path;

use meshroll::inventory::{Inventory, Node, NodeId};
use meshroll::rollout::plan::{self, PlanOptions, Size};
use meshroll::rollout::{Effect, Failure, Input, Machine, Mode, Phase};

pub fn inventory(gateways: usize, workers: usize) -> Inventory {
    let mk = |name: String, class: &str| Node::new(name, class);
    let mut nodes: Vec<Node> = (1..=gateways)
        .map(|i| mk(format!("g{i}"), "gateway"))
        .collect();
    nodes.extend((1..=workers).map(|i| mk(format!("w{i}"), "worker")));
    Inventory::from_nodes(Path::new("t"), nodes).unwrap()
}

pub fn machine(g: usize, w: usize, opts: PlanOptions, mode: Mode) -> Machine {
    let inv = inventory(g, w);
    let p = plan::make(&inv, &opts).unwrap();
    Machine::new(p, g + w, 42, mode)
}

/// A machine of `g` gateways and `w` workers in `Mode::Run`, ticked once at 0: it and
/// the effects of that tick.
pub fn started(g: usize, w: usize, opts: PlanOptions) -> (Machine, Vec<Effect>) {
    let mut m = machine(g, w, opts, Mode::Run);
    let first = m.handle(Input::Tick, 0);
    (m, first)
}

/// The plan's options with waves of `n` nodes.
pub fn wave(n: usize) -> PlanOptions {
    PlanOptions {
        wave: Size::Count(n),
        ..PlanOptions::default()
    }
}

/// The plan's options with a failure budget of `n` nodes per class.
pub fn budget(n: usize) -> PlanOptions {
    PlanOptions {
        failure_budget: Size::Count(n),
        ..PlanOptions::default()
    }
}

pub fn runs(effects: &[Effect]) -> Vec<(usize, Phase, u32)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Run {
                node,
                phase,
                attempt,
            } => Some((node.index(), *phase, *attempt)),
            _ => None,
        })
        .collect()
}

/// The executor's answer to a `Run` of `phase` that passes: its input, then, when the
/// same script runs the next phase too ([`Phase::carries_on`]), that one's.
pub fn pass(m: &mut Machine, node: usize, phase: Phase, now: u64) -> Vec<Effect> {
    let mut eff = done(m, node, phase, now);
    if let Some(next) = phase.carries_on() {
        eff.extend(done(m, node, next, now));
    }
    eff
}

/// Drive every Run effect to success until nothing runs; returns the phases per node
/// (a phase carried on by the same script as the one before counted too).
pub fn drive_ok(m: &mut Machine, first: Vec<Effect>, now: u64) -> Vec<(usize, Phase)> {
    let mut queue = runs(&first);
    let mut seen = Vec::new();
    while let Some((node, phase, _)) = queue.first().copied() {
        queue.remove(0);
        seen.push((node, phase));
        seen.extend(phase.carries_on().map(|p| (node, p)));
        let eff = pass(m, node, phase, now);
        queue.extend(runs(&eff));
    }
    seen
}

/// The executor's answer that `phase` of `node` passed (nothing carried on).
pub fn done(m: &mut Machine, node: usize, phase: Phase, now: u64) -> Vec<Effect> {
    m.handle(
        Input::PhaseDone {
            node: NodeId::new(node),
            phase,
            note: String::new(),
        },
        now,
    )
}

/// `done` for every phase of `node` in order, from the first through `last`.
pub fn done_through(m: &mut Machine, node: usize, last: Phase, now: u64) {
    for phase in Phase::ALL {
        done(m, node, phase, now);
        if phase == last {
            break;
        }
    }
}

/// The executor's answer that `phase` of `node` failed with `failure`.
pub fn failed(
    m: &mut Machine,
    node: usize,
    phase: Phase,
    failure: Failure,
    now: u64,
) -> Vec<Effect> {
    m.handle(
        Input::PhaseFailed {
            node: NodeId::new(node),
            phase,
            failure,
        },
        now,
    )
}

/// Pass the canary's (node 0's) runs in `eff` and those that follow at time 0, until a
/// run of another node is next (or none): the effects then.
pub fn land_canary(m: &mut Machine, mut eff: Vec<Effect>) -> Vec<Effect> {
    while let Some(&(n, p, _)) = runs(&eff).first() {
        if n != 0 {
            break;
        }
        eff = pass(m, n, p, 0);
    }
    eff
}
