//! The rollout state machine with no I/O: phase order, canary gating, wave sizes,
//! concurrency, failure budget, retry rules and delays on a clock we move by hand,
//! pause/step/skip/abort/rollback.
#![allow(clippy::unwrap_used)]

#[path = "common/machine_drive.rs"]
mod machine_drive;

use machine_drive::{
    budget, done, done_through, drive_ok, failed, inventory, land_canary, machine, pass, runs,
    started, wave,
};
use meshroll::inventory::NodeId;
use meshroll::rollout::bake::BakeError;
use meshroll::rollout::plan::{self, PlanOptions, Size};
use meshroll::rollout::{
    Command, Effect, Failure, Halt, Input, Left, Machine, Mode, NodeRun, Phase, Record,
};

/// The halt reason as screens and the journal word it.
fn halt_text(m: &Machine) -> Option<String> {
    m.halt.as_ref().map(Halt::to_string)
}

#[test]
fn phases_in_order_canary_first_doctor_only_on_canaries() {
    let (mut m, first) = started(1, 3, wave(2));
    assert_eq!(
        runs(&first),
        vec![(0, Phase::Baseline, 1)],
        "only the gateway canary starts"
    );
    let seen = drive_ok(&mut m, first, 0);
    let of = |n: usize| {
        seen.iter()
            .filter(|(x, _)| *x == n)
            .map(|(_, p)| *p)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(0),
        Phase::ALL.to_vec(),
        "the canary runs all nine phases, doctor included"
    );
    assert_eq!(of(1), Phase::ALL.to_vec(), "the worker canary too");
    let without_doctor: Vec<Phase> = Phase::ALL
        .into_iter()
        .filter(|p| *p != Phase::Doctor)
        .collect();
    assert_eq!(of(2), without_doctor);
    // Canary of a class lands before any of its wave starts.
    let canary_done = seen
        .iter()
        .position(|&(n, p)| n == 1 && p == Phase::Undrain)
        .unwrap();
    let wave_start = seen.iter().position(|&(n, _)| n == 2).unwrap();
    assert!(canary_done < wave_start);
    // Classes in order: every gateway phase before any worker phase.
    let last_gw = seen.iter().rposition(|&(n, _)| n == 0).unwrap();
    let first_w = seen.iter().position(|&(n, _)| n >= 1).unwrap();
    assert!(last_gw < first_w);
    assert!(m.finished && m.all_landed());
}

#[test]
fn waves_respect_size_and_concurrency() {
    let mut m = machine(
        0,
        7,
        PlanOptions {
            wave: Size::Count(4),
            concurrency: 2,
            ..PlanOptions::default()
        },
        Mode::Run,
    );
    assert_eq!(
        m.plan.classes[0]
            .waves
            .iter()
            .map(|w| w.iter().map(|n| n.index()).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        vec![vec![1, 2, 3, 4], vec![5, 6]]
    );
    // Land the canary.
    let first = m.handle(Input::Tick, 0);
    let eff = land_canary(&mut m, first);
    // Wave 1: two nodes at once (concurrency 2), not four.
    let started: Vec<usize> = runs(&eff).iter().map(|r| r.0).collect();
    assert_eq!(started, vec![1, 2]);
    // Finishing one step of node 1 (baseline and drain, one script) does not let a
    // third node in: node 1 is in flight.
    let eff = pass(&mut m, 1, Phase::Baseline, 0);
    assert_eq!(runs(&eff), vec![(1, Phase::Sync, 1)]);
}

#[test]
fn transient_failures_retry_with_bounded_delays_then_fail() {
    let mut m = machine(0, 1, PlanOptions::default(), Mode::Run);
    m.handle(Input::Tick, 0);
    let mut now = 0u64;
    done_through(&mut m, 0, Phase::Drain, now);
    for attempt in 1..=4u32 {
        let eff = failed(
            &mut m,
            0,
            Phase::Sync,
            Failure::Transient("rsync exit 12".into()),
            now,
        );
        let delay = eff
            .iter()
            .find_map(|e| match e {
                Effect::Journal(Record::RetryScheduled {
                    delay_ms,
                    attempt: a,
                    ..
                }) => {
                    assert_eq!(*a, attempt + 1);
                    Some(*delay_ms)
                }
                _ => None,
            })
            .expect("a retry is scheduled");
        let base = 1000 * 2u64.pow(attempt);
        assert!(
            delay >= base && delay < base + 5000,
            "attempt {attempt}: {delay} ms"
        );
        match &m.nodes[NodeId::new(0)].run {
            NodeRun::Retrying {
                attempt: a, error, ..
            } => {
                assert_eq!(*a, attempt + 1);
                assert_eq!(error, "rsync exit 12");
            }
            other => panic!("{other:?}"),
        }
        // Nothing runs before the countdown ends.
        assert!(runs(&m.handle(Input::Tick, now + delay - 1)).is_empty());
        now += delay;
        assert_eq!(
            runs(&m.handle(Input::Tick, now)),
            vec![(0, Phase::Sync, attempt + 1)]
        );
    }
    // The fifth failure is the last.
    let eff = failed(
        &mut m,
        0,
        Phase::Sync,
        Failure::Transient("rsync exit 12".into()),
        now,
    );
    assert!(
        eff.iter()
            .any(|e| matches!(e, Effect::Journal(Record::NodeFailed { .. })))
    );
    assert!(matches!(
        m.nodes[NodeId::new(0)].run,
        NodeRun::Failed {
            phase: Phase::Sync,
            ..
        }
    ));
    assert_eq!(
        m.nodes[NodeId::new(0)]
            .history
            .iter()
            .filter(|a| a.phase == Phase::Sync)
            .count(),
        5
    );
}

#[test]
fn retry_delays_cover_the_jitter_range() {
    let mut m = machine(0, 1, PlanOptions::default(), Mode::Run);
    let d: Vec<u64> = (0..2000).map(|_| m.retry_delay_ms(1)).collect();
    assert!(d.iter().all(|&x| (2000..7000).contains(&x)));
    assert!(
        d.iter().any(|&x| x < 2500) && d.iter().any(|&x| x > 6500),
        "jitter spans [0,5)"
    );
}

#[test]
fn verify_mismatch_never_retries_and_halts() {
    let (mut m, _) = started(0, 3, budget(5));
    done_through(&mut m, 0, Phase::Sync, 0);
    let eff = failed(
        &mut m,
        0,
        Phase::Verify,
        Failure::Mismatch("SKILL.md differs".into()),
        0,
    );
    assert!(runs(&eff).is_empty(), "no retry, no switch");
    assert!(matches!(
        m.nodes[NodeId::new(0)].run,
        NodeRun::Failed {
            phase: Phase::Verify,
            ..
        }
    ));
    assert!(
        halt_text(&m)
            .as_deref()
            .unwrap()
            .contains("checksum mismatch")
    );
    assert!(matches!(m.halt, Some(Halt::ChecksumMismatch { .. })));
    // Ticks do nothing while halted.
    assert!(runs(&m.handle(Input::Tick, 100_000)).is_empty());
    // The operator retries: the node is synced again, then verified.
    let eff = m.handle(Input::Op(Command::RetryNow(NodeId::new(0))), 1);
    assert_eq!(runs(&eff), vec![(0, Phase::Sync, 1)]);
    assert!(m.halt.is_none());
}

#[test]
fn transient_failure_after_verify_is_not_retried_except_prewarm() {
    let (mut m, _) = started(0, 2, budget(5));
    done_through(&mut m, 0, Phase::Doctor, 0);
    let eff = failed(
        &mut m,
        0,
        Phase::Prewarm,
        Failure::Transient("exit 1".into()),
        0,
    );
    assert!(
        matches!(
            m.nodes[NodeId::new(0)].run,
            NodeRun::Retrying {
                phase: Phase::Prewarm,
                attempt: 2,
                ..
            }
        ),
        "{eff:?}"
    );
    let at = m.next_wakeup().unwrap();
    assert_eq!(
        runs(&m.handle(Input::Tick, at)),
        vec![(0, Phase::Prewarm, 2)]
    );
    done(&mut m, 0, Phase::Prewarm, at);
    failed(
        &mut m,
        0,
        Phase::Probe,
        Failure::Transient("probe timeout".into()),
        at,
    );
    assert!(matches!(
        m.nodes[NodeId::new(0)].run,
        NodeRun::Failed {
            phase: Phase::Probe,
            ..
        }
    ));
}

#[test]
fn failed_canary_halts_its_class_and_budget_halts_widening() {
    let mut m = machine(0, 3, PlanOptions::default(), Mode::Run);
    m.handle(Input::Tick, 0);
    let eff = failed(
        &mut m,
        0,
        Phase::Baseline,
        Failure::Fatal("gateway not ready".into()),
        0,
    );
    assert!(runs(&eff).is_empty());
    assert_eq!(
        halt_text(&m).as_deref(),
        Some("class worker: 1 failed node(s), over its failure budget of 0")
    );
    assert_eq!(
        m.halt,
        Some(Halt::OverBudget {
            class: "worker".into(),
            failed: 1,
            budget: 0
        })
    );
    assert!(
        eff.contains(&Effect::Journal(Record::Halted {
            reason: "class worker: 1 failed node(s), over its failure budget of 0".into()
        })),
        "the journal words the halt as the screen does: {eff:?}"
    );

    // Budget 1 of 4: one wave failure is tolerated, a second halts.
    let mut m = machine(
        0,
        4,
        PlanOptions {
            wave: Size::Count(3),
            failure_budget: Size::Count(1),
            ..PlanOptions::default()
        },
        Mode::Run,
    );
    let first = m.handle(Input::Tick, 0);
    land_canary(&mut m, first);
    for n in [1, 2] {
        failed(
            &mut m,
            n,
            Phase::Baseline,
            Failure::Fatal("locked".into()),
            0,
        );
    }
    assert!(m.halt.is_none(), "the stage is not done yet");
    let mut eff = pass(&mut m, 3, Phase::Baseline, 0);
    while let Some(&(n, p, _)) = runs(&eff).first() {
        eff = pass(&mut m, n, p, 0);
    }
    assert!(
        halt_text(&m)
            .as_deref()
            .unwrap()
            .contains("2 failed node(s), over its failure budget of 1"),
        "{:?}",
        m.halt
    );
    assert!(!m.finished);
}

#[test]
fn doctor_errors_on_the_canary_block_widening() {
    let (mut m, _) = started(0, 3, budget(3));
    done_through(&mut m, 0, Phase::Switch, 0);
    let eff = failed(
        &mut m,
        0,
        Phase::Doctor,
        Failure::Blocked("1 error finding".into()),
        0,
    );
    assert!(runs(&eff).is_empty());
    assert!(
        halt_text(&m)
            .as_deref()
            .unwrap()
            .contains("doctor blocks widening")
    );
}

#[test]
fn pause_step_phase_step_wave_resume() {
    let mut m = machine(
        0,
        3,
        PlanOptions {
            wave: Size::Count(2),
            ..PlanOptions::default()
        },
        Mode::Paused,
    );
    assert!(
        runs(&m.handle(Input::Tick, 0)).is_empty(),
        "paused: nothing starts"
    );
    assert_eq!(
        runs(&m.handle(Input::Op(Command::StepPhase), 0)),
        vec![(0, Phase::Baseline, 1)]
    );
    // Baseline and drain are one script: the step covers both.
    let eff = pass(&mut m, 0, Phase::Baseline, 0);
    assert!(runs(&eff).is_empty(), "one step per step");
    assert_eq!(
        m.nodes[NodeId::new(0)].run,
        NodeRun::Ready { next: Phase::Sync }
    );
    assert_eq!(
        runs(&m.handle(Input::Op(Command::StepPhase), 0)),
        vec![(0, Phase::Sync, 1)]
    );
    // Step the rest of the canary stage as a wave.
    done(&mut m, 0, Phase::Sync, 0);
    let eff = m.handle(Input::Op(Command::StepWave), 0);
    let seen = drive_ok(&mut m, eff, 0);
    assert!(
        seen.iter().all(|(n, _)| *n == 0),
        "the wave step stops at the end of the stage"
    );
    assert_eq!(m.nodes[NodeId::new(0)].run, NodeRun::Landed);
    assert_eq!(m.mode, Mode::Paused);
    assert_eq!(m.nodes[NodeId::new(1)].run, NodeRun::Pending);
    let eff = m.handle(Input::Op(Command::Resume), 0);
    assert_eq!(
        runs(&eff).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // Pause with phases in flight: they finish, nothing new starts.
    m.handle(Input::Op(Command::Pause), 0);
    let eff = pass(&mut m, 1, Phase::Baseline, 0);
    assert!(runs(&eff).is_empty());
    assert!(!m.idle(), "node 2 is still in flight");
    pass(&mut m, 2, Phase::Baseline, 0);
    assert!(m.idle());
}

#[test]
fn skip_abort_and_rollback() {
    let (mut m, first) = started(0, 3, wave(2));
    drive_ok(&mut m, first.clone(), 0);
    assert!(m.all_landed());

    let (mut m, first) = started(0, 3, wave(2));
    land_canary(&mut m, first);
    // Skip node 1 mid-step: its step (baseline and drain) ends, then it is undrained
    // and unlocked, and nothing else runs on it.
    m.handle(Input::Op(Command::Skip(NodeId::new(1))), 0);
    let eff = pass(&mut m, 1, Phase::Baseline, 0);
    assert_eq!(
        runs(&eff)
            .into_iter()
            .filter(|r| r.0 == 1)
            .collect::<Vec<_>>(),
        vec![(1, Phase::Undrain, 1)]
    );
    let eff = pass(&mut m, 1, Phase::Undrain, 0);
    assert!(runs(&eff).iter().all(|r| r.0 != 1));
    assert_eq!(m.nodes[NodeId::new(1)].run, NodeRun::Skipped);
    assert_eq!(m.nodes[NodeId::new(1)].left, Some(Left::Restored));
    // Abort: node 2 finishes its step, then is put back the same way.
    m.handle(Input::Op(Command::Abort), 0);
    let eff = pass(&mut m, 2, Phase::Baseline, 0);
    assert_eq!(runs(&eff), vec![(2, Phase::Undrain, 1)]);
    assert!(!m.idle(), "node 2 is being put back");
    pass(&mut m, 2, Phase::Undrain, 0);
    assert_eq!(m.nodes[NodeId::new(2)].run, NodeRun::Stopped);
    assert!(m.idle());
    // Rollback the canary: an effect for the executor, then the node is rolled back.
    let eff = m.handle(Input::Op(Command::Rollback(vec![NodeId::new(0)])), 0);
    assert!(eff.contains(&Effect::Rollback {
        node: NodeId::new(0)
    }));
    m.handle(
        Input::RollbackDone {
            node: NodeId::new(0),
            result: Ok("current -> old".into()),
        },
        0,
    );
    assert_eq!(m.nodes[NodeId::new(0)].run, NodeRun::RolledBack);
}

#[test]
fn restore_skips_landed_and_verified_nodes() {
    let mut m = machine(
        0,
        3,
        PlanOptions {
            wave: Size::Count(2),
            ..PlanOptions::default()
        },
        Mode::Run,
    );
    m.restore(NodeId::new(0), Phase::Undrain);
    m.restore(NodeId::new(1), Phase::Verify);
    let eff = m.handle(Input::Tick, 0);
    let r = runs(&eff);
    assert!(
        r.contains(&(1, Phase::Switch, 1)),
        "verified node continues at switch: {r:?}"
    );
    assert!(r.contains(&(2, Phase::Baseline, 1)));
    assert!(!r.iter().any(|x| x.0 == 0));
}

#[test]
fn a_stepped_phase_keeps_its_retries_and_pause_stops_them() {
    let mut m = machine(0, 1, PlanOptions::default(), Mode::Paused);
    m.handle(Input::Tick, 0);
    assert_eq!(
        runs(&m.handle(Input::Op(Command::StepPhase), 0)),
        vec![(0, Phase::Baseline, 1)]
    );
    failed(
        &mut m,
        0,
        Phase::Baseline,
        Failure::Transient("lost".into()),
        0,
    );
    let at = m.next_wakeup().unwrap();
    assert_eq!(
        runs(&m.handle(Input::Tick, at)),
        vec![(0, Phase::Baseline, 2)],
        "the retry is part of the step"
    );
    failed(
        &mut m,
        0,
        Phase::Baseline,
        Failure::Transient("lost".into()),
        at,
    );
    m.handle(Input::Op(Command::Pause), at);
    let at2 = m.next_wakeup().unwrap();
    assert!(
        runs(&m.handle(Input::Tick, at2)).is_empty(),
        "pause stops the retry"
    );
    assert!(m.idle());
}

#[test]
fn a_halt_starts_no_new_node_but_lets_nodes_under_way_land() {
    let mut m = machine(
        0,
        4,
        PlanOptions {
            wave: Size::Count(3),
            failure_budget: Size::Count(3),
            ..PlanOptions::default()
        },
        Mode::Run,
    );
    let first = m.handle(Input::Tick, 0);
    land_canary(&mut m, first);
    // Wave 1 = nodes 1, 2, 3 with concurrency 4: all started. Node 1's copy is bad.
    for n in [1, 2] {
        done_through(&mut m, n, Phase::Sync, 0);
    }
    failed(&mut m, 1, Phase::Verify, Failure::Mismatch("bad".into()), 0);
    assert!(m.halt.is_some());
    // Node 2 was under way: it goes on to land instead of staying drained.
    let eff = pass(&mut m, 2, Phase::Verify, 0);
    assert_eq!(runs(&eff), vec![(2, Phase::Prewarm, 1)]);
    assert!(!m.idle());
}

#[test]
fn restored_non_canaries_do_not_run_doctor() {
    let mut m = machine(
        0,
        3,
        PlanOptions {
            wave: Size::Count(2),
            ..PlanOptions::default()
        },
        Mode::Run,
    );
    m.restore(NodeId::new(0), Phase::Switch);
    m.restore(NodeId::new(1), Phase::Switch);
    assert_eq!(
        m.nodes[NodeId::new(0)].run,
        NodeRun::Ready {
            next: Phase::Doctor
        },
        "the canary runs doctor"
    );
    assert_eq!(
        m.nodes[NodeId::new(1)].run,
        NodeRun::Ready {
            next: Phase::Prewarm
        }
    );
}

#[test]
fn parallel_classes_start_every_canary_at_once_and_widen_each_class_on_its_own() {
    let opts = PlanOptions {
        wave: Size::Count(2),
        parallel_classes: true,
        ..PlanOptions::default()
    };
    // 1 gateway canary + 1 gateway wave; 1 worker canary + 2 worker waves of 2
    let mut m = machine(2, 5, opts.clone(), Mode::Run);
    let first = m.handle(Input::Tick, 0);
    assert_eq!(
        runs(&first),
        vec![(0, Phase::Baseline, 1), (2, Phase::Baseline, 1)],
        "both canaries start together"
    );
    assert_eq!(m.lanes.len(), 2);
    // The worker canary lands first: its wave starts although the gateway canary is
    // still at baseline.
    let mut eff = Vec::new();
    for phase in Phase::ALL {
        eff = done(&mut m, 2, phase, 1);
    }
    assert_eq!(
        runs(&eff),
        vec![(3, Phase::Baseline, 1), (4, Phase::Baseline, 1)],
        "the worker wave does not wait for the gateway class"
    );
    assert_eq!(
        m.nodes[NodeId::new(1)].run,
        NodeRun::Pending,
        "the gateway wave waits"
    );
    // Everything else lands (node 2's phases were all answered above).
    let gateway_canary: Vec<Effect> = first
        .into_iter()
        .filter(|e| matches!(e, Effect::Run { node, .. } if node.index() == 0))
        .collect();
    let seen = drive_ok(&mut m, [gateway_canary, eff].concat(), 2);
    assert!(seen.contains(&(1, Phase::Undrain)));
    assert!(m.finished && m.all_landed(), "{:?}", m.nodes);
    assert!(m.lanes.is_empty());

    // A failed canary halts every class: the other class's canary finishes its phases
    // but its wave does not start.
    let mut m = machine(2, 5, opts, Mode::Run);
    m.handle(Input::Tick, 0);
    failed(
        &mut m,
        0,
        Phase::Baseline,
        Failure::Fatal("gateway not ready".into()),
        1,
    );
    assert!(
        halt_text(&m)
            .as_deref()
            .unwrap_or("")
            .starts_with("class gateway: ")
    );
    let mut eff = Vec::new();
    for phase in Phase::ALL {
        eff = done(&mut m, 2, phase, 2);
    }
    assert_eq!(m.nodes[NodeId::new(2)].run, NodeRun::Landed);
    assert!(runs(&eff).is_empty(), "{eff:?}");
    assert!(!m.finished);
}

#[test]
fn classes_run_one_after_the_other_by_default_and_the_plan_says_which() {
    let inv = inventory(2, 3);
    let p = plan::make(&inv, &PlanOptions::default()).unwrap();
    assert!(!p.parallel_classes);
    assert!(
        p.describe(&inv).starts_with(
            "classes one after the other: a class starts when the one before it is done\n"
        ),
        "{}",
        p.describe(&inv)
    );
    let mut m = Machine::new(p, 5, 1, Mode::Run);
    assert_eq!(
        runs(&m.handle(Input::Tick, 0)),
        vec![(0, Phase::Baseline, 1)]
    );
    assert_eq!(m.lanes.len(), 1);
    let p = plan::make(
        &inv,
        &PlanOptions {
            parallel_classes: true,
            ..PlanOptions::default()
        },
    )
    .unwrap();
    assert!(
        p.describe(&inv).starts_with(
            "classes in parallel (--parallel-classes): the 2 canaries start together and each class widens on its own once its canary landed; a halt in any class stops new nodes in every class\n"
        ),
        "{}",
        p.describe(&inv)
    );
}

// ---------------------------------------------------------------------------------------
// the canary bake (--bake): polls as effects, verdicts as inputs, the clock moved by hand

fn bake_polls(effects: &[Effect]) -> Vec<usize> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::BakePoll { node } => Some(node.index()),
            _ => None,
        })
        .collect()
}

fn records(effects: &[Effect]) -> Vec<&Record> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Journal(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// One class of three gateways (canary g1, then one wave of two) baking 60 s, polled
/// every 10 s; returns the machine with its canary landed at t=0.
fn baking_machine() -> (Machine, Vec<(usize, Phase)>) {
    let mut m = machine(
        3,
        0,
        PlanOptions {
            wave: Size::Count(2),
            bake_ms: 60_000,
            bake_every_ms: 10_000,
            ..PlanOptions::default()
        },
        Mode::Run,
    );
    m.set_fleet(inventory(3, 0).nodes);
    let first = m.handle(Input::Tick, 0);
    let seen = drive_ok(&mut m, first, 0);
    (m, seen)
}

#[test]
fn the_canary_bakes_polled_at_the_interval_before_its_class_widens() {
    let (mut m, seen) = baking_machine();
    assert!(
        seen.iter().all(|&(n, _)| n == 0),
        "a wave node started before the bake: {seen:?}"
    );
    assert_eq!(m.nodes[NodeId::new(0)].run, NodeRun::Landed);
    assert_eq!(m.baking.len(), 1);
    assert_eq!(m.baking[0].until, 60_000);
    assert_eq!(m.next_wakeup(), Some(10_000));
    assert!(!m.idle(), "a baking rollout is not done");
    // Nothing before the first poll is due.
    assert_eq!(m.handle(Input::Tick, 9_999), vec![]);
    let mut polls = 0;
    let mut t = 10_000;
    loop {
        let eff = m.handle(Input::Tick, t);
        assert_eq!(bake_polls(&eff), vec![0], "at {t}");
        assert_eq!(runs(&eff), vec![], "at {t}");
        // A second tick while the poll is in flight asks for no second poll.
        assert_eq!(
            bake_polls(&m.handle(Input::Tick, t + 10)),
            Vec::<usize>::new()
        );
        polls += 1;
        let eff = m.handle(
            Input::BakePolled {
                node: NodeId::new(0),
                result: Ok("healthy: ok".into()),
            },
            t + 50,
        );
        assert!(records(&eff).contains(&&Record::BakePolled {
            node: NodeId::new(0),
            poll: polls,
            ok: true,
            verdict: "healthy: ok".into()
        }));
        if t + 50 >= 60_000 {
            // The last poll, at the end of the bake: the class widens.
            assert!(records(&eff).contains(&&Record::BakeDone {
                node: NodeId::new(0),
                class: "gateway".into(),
                polls,
            }));
            let mut wave: Vec<usize> = runs(&eff).iter().map(|r| r.0).collect();
            wave.sort();
            assert_eq!(wave, vec![1, 2]);
            break;
        }
        assert_eq!(runs(&eff), vec![], "widened mid-bake at {t}");
        t = (t + 50 + 10_000).min(60_000);
    }
    assert_eq!(polls, 6, "polled every 10 s for 60 s");
    assert!(m.baking.is_empty());
}

#[test]
fn one_dead_verdict_in_the_bake_halts_the_class_before_any_wave_node() {
    let (mut m, _) = baking_machine();
    m.handle(Input::Tick, 10_000);
    m.handle(
        Input::BakePolled {
            node: NodeId::new(0),
            result: Ok("healthy: ok".into()),
        },
        10_050,
    );
    assert_eq!(bake_polls(&m.handle(Input::Tick, 20_050)), vec![0]);
    let eff = m.handle(
        Input::BakePolled {
            node: NodeId::new(0),
            result: Err(BakeError::Dead("gateway readyz: 503 not ready".into())),
        },
        20_100,
    );
    assert_eq!(runs(&eff), vec![]);
    assert_eq!(
        halt_text(&m).as_deref(),
        Some(
            "class gateway: the canary g1 failed its bake (dead: gateway readyz: 503 not ready); no wave node was touched"
        )
    );
    assert!(
        records(&eff)
            .iter()
            .any(|r| matches!(r, Record::Halted { .. }))
    );
    // Time passes: no wave node starts, no more polls, and the rollout is idle.
    for t in [30_000, 60_000, 600_000] {
        let eff = m.handle(Input::Tick, t);
        assert_eq!(runs(&eff), vec![], "at {t}");
        assert_eq!(bake_polls(&eff), Vec::<usize>::new(), "at {t}");
    }
    for n in [1, 2] {
        assert_eq!(m.nodes[NodeId::new(n)].run, NodeRun::Pending);
    }
    assert!(m.idle());
    assert!(!m.all_landed());
    // The operator resumes: the canary bakes again from the start.
    let eff = m.handle(Input::Op(Command::Resume), 700_000);
    assert!(records(&eff).iter().any(|r| matches!(
        r,
        Record::BakeStarted {
            duration_ms: 60_000,
            ..
        }
    )));
    assert_eq!(runs(&eff), vec![]);
}

#[test]
fn a_skewed_verdict_halts_too_and_no_bake_means_no_wait() {
    let (mut m, _) = baking_machine();
    m.handle(Input::Tick, 10_000);
    m.handle(
        Input::BakePolled {
            node: NodeId::new(0),
            result: Err(BakeError::Skewed(
                "current is 1111aaaa, not the bundle 2222bbbb".into(),
            )),
        },
        10_050,
    );
    assert!(
        halt_text(&m)
            .unwrap_or_default()
            .contains("skewed: current is 1111aaaa"),
        "{:?}",
        m.halt
    );
    // --bake 0s: the wave follows the canary at once, with no bake record.
    let (mut m, first) = started(3, 0, wave(2));
    let seen = drive_ok(&mut m, first, 0);
    assert!(seen.iter().any(|&(n, _)| n == 1), "{seen:?}");
    assert!(m.baking.is_empty());
}

/// What the ATTEMPT and RETRIES columns read: the attempt of the phase in progress and
/// the retries the node used, never the number of phases it ran.
#[test]
fn attempts_count_the_phase_in_progress_and_retries_not_phases() {
    let mut m = machine(1, 0, PlanOptions::default(), Mode::Run);
    let g = NodeId::new(0);
    m.handle(Input::Tick, 0);
    for ph in [Phase::Baseline, Phase::Drain] {
        m.handle(
            Input::PhaseDone {
                node: g,
                phase: ph,
                note: String::new(),
            },
            1,
        );
    }
    assert_eq!(m.nodes[g].attempt_in_progress(), Some(1), "sync #1 runs");
    assert_eq!(m.nodes[g].retries_used(), 0);
    m.handle(
        Input::PhaseFailed {
            node: g,
            phase: Phase::Sync,
            failure: Failure::Transient("rsync exit 12".into()),
        },
        2,
    );
    assert_eq!(m.nodes[g].attempt_in_progress(), Some(2), "sync #2 waits");
    let eff = m.handle(Input::Tick, 60_000);
    assert_eq!(runs(&eff), vec![(0, Phase::Sync, 2)]);
    assert_eq!(m.nodes[g].retries_used(), 1);
    let rest = drive_ok(&mut m, eff, 60_001);
    assert!(rest.len() >= 6, "{rest:?}");
    assert_eq!(m.nodes[g].run, NodeRun::Landed);
    assert_eq!(m.nodes[g].attempt_in_progress(), None);
    assert_eq!(
        m.nodes[g].retries_used(),
        1,
        "not {} phases",
        m.nodes[g].history.len()
    );
}

// ---------------------------------------------------------------------------------------
// The one stop path: skip, abort (which quit and every signal send), finish.

/// A class of `n` workers, one wave, run: the canary in flight and the rest waiting.
fn one_class(n: usize, mode: Mode) -> (Machine, Vec<Effect>) {
    let mut m = machine(
        0,
        n,
        PlanOptions {
            wave: Size::Percent(100),
            concurrency: n,
            ..PlanOptions::default()
        },
        mode,
    );
    let eff = m.handle(Input::Tick, 0);
    (m, eff)
}

fn stopped_records(eff: &[Effect]) -> Vec<(usize, Left)> {
    eff.iter()
        .filter_map(|e| match e {
            Effect::Journal(Record::NodeStopped { node, left }) => {
                Some((node.index(), left.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Skip mid-sync: the sync finishes, then the node is undrained and unlocked (not left
/// drained and locked as before), the journal says so, and the rollout goes on without
/// it; it did not land.
#[test]
fn skip_mid_sync_undrains_and_unlocks_the_node() {
    let (mut m, _) = one_class(2, Mode::Run);
    let eff = pass(&mut m, 0, Phase::Baseline, 0);
    assert_eq!(runs(&eff), vec![(0, Phase::Sync, 1)]);
    let eff = m.handle(Input::Op(Command::Skip(NodeId::new(0))), 1);
    assert!(runs(&eff).is_empty(), "the sync in flight finishes first");
    assert!(eff.contains(&Effect::Journal(Record::NodeSkipped {
        node: NodeId::new(0)
    })));
    let eff = pass(&mut m, 0, Phase::Sync, 2);
    assert_eq!(
        runs(&eff),
        vec![(0, Phase::Undrain, 1)],
        "no verify: undrain"
    );
    let eff = pass(&mut m, 0, Phase::Undrain, 3);
    assert_eq!(stopped_records(&eff), vec![(0, Left::Restored)]);
    assert_eq!(m.nodes[NodeId::new(0)].run, NodeRun::Skipped);
    // The canary's stage is over; the wave starts.
    assert_eq!(runs(&eff), vec![(1, Phase::Baseline, 1)]);
    drive_ok(&mut m, eff, 4);
    assert!(m.finished && !m.all_landed());
}

/// Skip a node waiting out a retry: no more attempts; it is put back at once.
#[test]
fn skip_during_a_retry_wait_puts_the_node_back_at_once() {
    let (mut m, _) = one_class(1, Mode::Run);
    pass(&mut m, 0, Phase::Baseline, 0);
    failed(
        &mut m,
        0,
        Phase::Sync,
        Failure::Transient("rsync exit 12".into()),
        1,
    );
    assert!(matches!(
        m.nodes[NodeId::new(0)].run,
        NodeRun::Retrying { .. }
    ));
    let eff = m.handle(Input::Op(Command::Skip(NodeId::new(0))), 2);
    assert_eq!(runs(&eff), vec![(0, Phase::Undrain, 1)]);
    let eff = m.handle(Input::Tick, 60_000);
    assert!(runs(&eff).is_empty(), "the retry never runs");
}

/// A skipped node that never started is untouched; one skipped mid-baseline whose
/// baseline failed (its lock given back by the executor) is untouched too.
#[test]
fn skip_before_the_lock_touches_nothing() {
    let (mut m, _) = one_class(3, Mode::Paused);
    let eff = m.handle(Input::Op(Command::Skip(NodeId::new(2))), 0);
    assert_eq!(stopped_records(&eff), vec![(2, Left::Untouched)]);
    assert!(runs(&eff).is_empty());
    m.handle(Input::Op(Command::Run), 0);
    m.handle(Input::Op(Command::Skip(NodeId::new(0))), 0);
    let eff = failed(
        &mut m,
        0,
        Phase::Baseline,
        Failure::Fatal("gateway not ready at baseline".into()),
        1,
    );
    assert_eq!(stopped_records(&eff), vec![(0, Left::Untouched)]);
    assert!(runs(&eff).iter().all(|r| r.0 == 1), "{:?}", runs(&eff));
}

/// Abort (what `A`, `q` then `a`, and every signal send) with a node switched and one
/// not: nothing new starts; the unswitched node is undrained; the switched one is probed
/// and then undrained; a failed node still holding its lock is put back too; the nodes
/// not started stay untouched. A pause does not hold the wind-down back.
#[test]
fn abort_winds_every_node_in_flight_down_even_when_paused() {
    let (mut m, _) = one_class(4, Mode::Run);
    // Land the canary: the wave of 3 starts.
    let first = pass(&mut m, 0, Phase::Baseline, 0);
    let eff = land_canary(&mut m, first);
    assert_eq!(
        runs(&eff).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // Node 1 switched (verify and switch in one step) and is prewarming; node 2 syncing;
    // node 3 failed at sync for good, drained and locked.
    pass(&mut m, 1, Phase::Baseline, 1);
    pass(&mut m, 1, Phase::Sync, 1);
    let eff = pass(&mut m, 1, Phase::Verify, 1);
    assert_eq!(runs(&eff), vec![(1, Phase::Prewarm, 1)]);
    pass(&mut m, 2, Phase::Baseline, 1);
    pass(&mut m, 3, Phase::Baseline, 1);
    failed(
        &mut m,
        3,
        Phase::Sync,
        Failure::Fatal("rsync exit 23".into()),
        1,
    );
    m.handle(Input::Op(Command::Pause), 2);
    assert_eq!(m.in_flight(), 3);
    let eff = m.handle(Input::Op(Command::Abort), 3);
    assert_eq!(
        runs(&eff),
        vec![(3, Phase::Undrain, 1)],
        "the failed node at once; the others finish their phase first"
    );
    let eff = pass(&mut m, 1, Phase::Prewarm, 4);
    assert_eq!(
        runs(&eff),
        vec![(1, Phase::Probe, 1)],
        "switched: probed first"
    );
    let eff = pass(&mut m, 2, Phase::Sync, 4);
    assert_eq!(
        runs(&eff),
        vec![(2, Phase::Undrain, 1)],
        "not switched: undrained"
    );
    let eff = pass(&mut m, 1, Phase::Probe, 5);
    assert_eq!(runs(&eff), vec![(1, Phase::Undrain, 1)]);
    let eff = pass(&mut m, 1, Phase::Undrain, 6);
    assert_eq!(
        m.nodes[NodeId::new(1)].run,
        NodeRun::Landed,
        "it had prewarmed"
    );
    assert!(stopped_records(&eff).is_empty());
    let eff = pass(&mut m, 2, Phase::Undrain, 6);
    assert_eq!(stopped_records(&eff), vec![(2, Left::Restored)]);
    assert!(!m.idle());
    let eff = pass(&mut m, 3, Phase::Undrain, 7);
    assert_eq!(stopped_records(&eff), vec![(3, Left::Restored)]);
    assert!(matches!(
        m.nodes[NodeId::new(3)].run,
        NodeRun::Failed { .. }
    ));
    assert!(m.idle() && !m.finished && !m.all_landed());
    assert_eq!(m.in_flight(), 0);
}

/// A switched node whose wind-down probe fails stays drained (its lock released so a
/// new run takes it from the start); one whose probe passes before prewarm serves the
/// bundle, undrained, without having landed.
#[test]
fn a_switched_node_is_probed_and_left_drained_only_if_the_probe_fails() {
    let (mut m, _) = one_class(1, Mode::Run);
    pass(&mut m, 0, Phase::Baseline, 0);
    pass(&mut m, 0, Phase::Sync, 0);
    // Verify passed; the same script is switching.
    done(&mut m, 0, Phase::Verify, 1);
    assert!(matches!(
        m.nodes[NodeId::new(0)].run,
        NodeRun::Active {
            phase: Phase::Switch,
            ..
        }
    ));
    let eff = m.handle(Input::Op(Command::Abort), 2);
    assert!(runs(&eff).is_empty());
    let eff = pass(&mut m, 0, Phase::Switch, 3);
    assert_eq!(
        runs(&eff),
        vec![(0, Phase::Probe, 1)],
        "no doctor, no prewarm"
    );
    let eff = failed(
        &mut m,
        0,
        Phase::Probe,
        Failure::Fatal("current is old, not the bundle".into()),
        4,
    );
    assert!(eff.contains(&Effect::Release {
        node: NodeId::new(0)
    }));
    assert!(runs(&eff).is_empty(), "not undrained");
    let eff = m.handle(
        Input::Released {
            node: NodeId::new(0),
            result: Ok(String::new()),
        },
        5,
    );
    assert_eq!(
        stopped_records(&eff),
        vec![(
            0,
            Left::Drained("probe failed: current is old, not the bundle".into())
        )]
    );
    assert_eq!(m.nodes[NodeId::new(0)].run, NodeRun::Stopped);
    assert!(m.idle());

    let (mut m, _) = one_class(1, Mode::Run);
    pass(&mut m, 0, Phase::Baseline, 0);
    pass(&mut m, 0, Phase::Sync, 0);
    pass(&mut m, 0, Phase::Verify, 0);
    m.handle(Input::Op(Command::Abort), 1);
    pass(&mut m, 0, Phase::Doctor, 2);
    pass(&mut m, 0, Phase::Probe, 3);
    let eff = pass(&mut m, 0, Phase::Undrain, 4);
    assert_eq!(stopped_records(&eff), vec![(0, Left::OnBundle)]);
}

/// Finish (`q` then `f`): nodes under way go on to land, nothing new starts, then the
/// rollout stops.
#[test]
fn finish_lets_nodes_under_way_land_and_starts_no_new_one() {
    let mut m = machine(
        0,
        4,
        PlanOptions {
            wave: Size::Percent(100),
            concurrency: 2,
            ..PlanOptions::default()
        },
        Mode::Run,
    );
    let first = m.handle(Input::Tick, 0);
    let eff = land_canary(&mut m, first);
    assert_eq!(
        runs(&eff).iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    m.handle(Input::Op(Command::Finish), 1);
    let seen = drive_ok(&mut m, eff, 2);
    assert!(seen.iter().all(|(n, _)| *n != 3), "node 3 never starts");
    assert_eq!(m.nodes[NodeId::new(1)].run, NodeRun::Landed);
    assert_eq!(m.nodes[NodeId::new(2)].run, NodeRun::Landed);
    assert_eq!(m.nodes[NodeId::new(3)].run, NodeRun::Pending);
    assert!(m.idle() && m.aborted && !m.all_landed());
}

/// A resumed node (no history this run) stopped before it runs is put back as well.
#[test]
fn a_resumed_node_is_put_back_on_a_stop() {
    let (mut m, _) = machine_paused_with_restore();
    let eff = m.handle(Input::Op(Command::Abort), 0);
    assert_eq!(runs(&eff), vec![(0, Phase::Undrain, 1)]);
}

fn machine_paused_with_restore() -> (Machine, ()) {
    let mut m = machine(0, 2, PlanOptions::default(), Mode::Paused);
    m.restore(NodeId::new(0), Phase::Sync);
    m.handle(Input::Tick, 0);
    (m, ())
}
