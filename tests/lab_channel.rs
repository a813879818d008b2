//! The long-lived poll channel on a node whose login shell sources a slow, noisy rc file
//! (like this machine's root `~/.bashrc` running `pyenv init`): the channel is opened
//! once and answers every later poll, so the rc file runs once, not once per poll.
#![allow(clippy::unwrap_used)]

#[path = "common/channel_bench.rs"]
mod channel_bench;
mod common;

use std::time::Duration;

use channel_bench::{Captured, answer, poll, pool};
use common::{Lab, NodeSpec};
use meshroll::inventory::NodeId;
use meshroll::poller;
use meshroll::remote::ssh::ChannelError;

/// Times the node's rc file ran (one line per login).
fn logins(lab: &Lab, name: &str) -> usize {
    std::fs::read_to_string(lab.node(name).login_home().join("logins"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// A login shell like this machine's root: its rc file prints a banner line, then a
/// message without a newline (which ends up on the same line as the channel's hello),
/// writes to stderr and takes a second. Before: the hello glued to that message was not
/// recognised, every poll waited out its limit, dropped the master and ran the rc file
/// again (one login per poll, every poll failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_noisy_rc_file_runs_once_for_many_polls() {
    let lab = Lab::start(&[NodeSpec::new("rc01", "worker")]);
    lab.all_ready();
    lab.node("rc01").set_login_rc(
        "echo login >>\"$HOME/logins\"\n\
         echo 'Welcome to rc01 (a banner on stdout)'\n\
         printf 'pyenv: shims rehashed'\n\
         echo 'pyenv: cannot rehash: lock held' >&2\n\
         sleep 1\n",
    );
    let ctx = lab.poll_ctx(10, true);
    let cheap = ctx.cadence.request(false, false);
    for i in 0..6 {
        let r = poller::poll_once(&ctx, NodeId::new(0), &cheap).await;
        let raw = r
            .result
            .unwrap_or_else(|e| panic!("poll {i} failed: {e:?}"));
        assert_eq!(raw.current.as_deref(), Some("abc"), "poll {i}: {raw:?}");
    }
    assert_eq!(
        logins(&lab, "rc01"),
        1,
        "the rc file ran once for six polls"
    );
    assert_eq!(common::ssh_pool(&ctx).channel_opens(0), 1);
    common::ssh_pool(&ctx).close_all().await;

    // A one-shot poll (the fallback while a channel is busy or backing off) reads its
    // envelope past the same noise. Before: glued to the unterminated message, it was
    // "no JSON object in output".
    let one_shot = lab.poll_ctx(10, false);
    let r = poller::poll_once(&one_shot, NodeId::new(0), &cheap).await;
    let raw = r.result.expect("one-shot poll past the rc noise");
    assert_eq!(raw.current.as_deref(), Some("abc"));
    assert_eq!(
        logins(&lab, "rc01"),
        2,
        "one more login for the one-shot poll"
    );
    assert_eq!(common::ssh_pool(&one_shot).channel_opens(0), 0);
    common::ssh_pool(&one_shot).close_all().await;
}

/// A login slower than the poll's own limit (an rc file's `pyenv rehash` waiting on a
/// lock): the channel's open waits for it, then every poll rides the channel. Before:
/// the open had the poll's limit, so it timed out, dropped the master, and the next
/// poll logged in again, forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_slower_than_the_poll_timeout_opens_the_channel_once() {
    let lab = Lab::start(&[NodeSpec::new("rc02", "worker")]);
    lab.all_ready();
    lab.node("rc02")
        .set_login_rc("echo login >>\"$HOME/logins\"\nsleep 6\n");
    let ctx = lab.poll_ctx(4, true);
    let cheap = ctx.cadence.request(false, false);
    for i in 0..4 {
        let r = poller::poll_once(&ctx, NodeId::new(0), &cheap).await;
        assert!(r.result.is_ok(), "poll {i}: {:?}", r.result);
    }
    assert_eq!(logins(&lab, "rc02"), 1, "one login for four polls");
    assert_eq!(common::ssh_pool(&ctx).channel_opens(0), 1);
    common::ssh_pool(&ctx).close_all().await;
}

/// A channel whose shell ends before its hello falls back to one-shot polls; it is
/// tried again when its backoff ends, not at every poll (each try is a login shell).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_failed_to_open_is_retried_after_its_backoff_not_every_poll() {
    let lab = Lab::start(&[NodeSpec::new("rc03", "worker")]);
    let dies = || "exit 0\n".to_string();
    let echo = || {
        "main() { printf '%s\\n' '{\"v\":1,\"hello\":1}'; while read p id; do printf '{\"v\":1,\"id\":%s}\\n' \"$id\"; done; }\nmain\n".to_string()
    };
    let cap = 64 * 1024;

    // A long backoff: three polls, one open.
    let resting = pool(&lab, Duration::from_secs(3600));
    for i in 0..3 {
        let r = poll(&resting, &dies, cap).await;
        assert!(matches!(r, Err(ChannelError::Busy)), "poll {i}: {r:?}");
    }
    assert_eq!(
        resting.channel_opens(0),
        1,
        "no new open before the backoff ends"
    );
    // Even a channel that would open now waits for the backoff.
    let r = poll(&resting, &echo, cap).await;
    assert!(matches!(r, Err(ChannelError::Busy)), "{r:?}");
    assert_eq!(resting.channel_opens(0), 1);
    resting.close_all().await;

    // No backoff: every poll tries again, and a good channel is kept once it opens.
    let eager = pool(&lab, Duration::ZERO);
    for i in 0..2 {
        let r = poll(&eager, &dies, cap).await;
        assert!(matches!(r, Err(ChannelError::Busy)), "poll {i}: {r:?}");
    }
    assert_eq!(eager.channel_opens(0), 2);
    for _ in 0..3 {
        let (id, line) = poll(&eager, &echo, cap).await.unwrap();
        assert_eq!(line, answer(id));
    }
    assert_eq!(
        eager.channel_opens(0),
        3,
        "one more open, then the channel is kept"
    );
    eager.close_all().await;
}

/// Every open and close of a poll channel is logged at info level with the node's
/// name and, for a close, why (the log is how a reopen gets explained).
#[tokio::test(flavor = "current_thread")]
async fn opens_and_closes_are_logged_with_the_node_and_the_reason() {
    // This thread only; the current-thread runtime runs the whole poll here.
    let (log, _guard) = Captured::info();
    let lab = Lab::start(&[NodeSpec::new("rc04", "worker")]);
    let pool = pool(&lab, Duration::from_secs(3600));
    // Answers one request, then ends.
    let once = || {
        "main() { printf '%s\\n' '{\"v\":1,\"hello\":1}'; read p id; printf '{\"v\":1,\"id\":%s}\\n' \"$id\"; }\nmain; exit 0\n"
            .to_string()
    };
    let (id, _) = poll(&pool, &once, 1024).await.unwrap();
    let r = poll(&pool, &once, 1024).await;
    assert!(r.is_err(), "the channel ended after one answer: {r:?}");
    let (id2, _) = poll(&pool, &once, 1024).await.unwrap();
    assert_eq!((id, id2), (1, 1), "a new channel counts from 1 again");
    assert_eq!(pool.channel_opens(0), 2);
    pool.close_all().await;
    let text = log.text();
    let lines = |what: &str| -> Vec<&str> { text.lines().filter(|l| l.contains(what)).collect() };
    let opened = lines("poll channel open ");
    assert_eq!(opened.len(), 2, "{text}");
    assert!(
        opened
            .iter()
            .all(|l| l.contains(" INFO ") && l.contains("node=rc04")),
        "{text}"
    );
    assert!(opened[1].contains("opens=2"), "{text}");
    let closed = lines("poll channel closed;");
    assert_eq!(closed.len(), 1, "{text}");
    assert!(
        closed[0].contains(" INFO ") && closed[0].contains("node=rc04"),
        "{text}"
    );
    // Ended by the node: seen as the end of its output, or as a broken pipe when the
    // request is written after it ended.
    assert!(
        closed[0].contains("reason=poll channel closed by the node")
            || closed[0].contains("reason=poll channel: writing"),
        "{text}"
    );
}

/// A login rc file that prints later, from the background (`(sleep 3; echo "You have
/// new mail.") &` in `~/.bashrc`, which the channel's login shell reads): the notice
/// lands on the poll channel between answers and is skipped, and the node stays healthy
/// for a minute of 1 s polls on one channel. Before: the notice was taken as the answer
/// to the next request, and from then on every answer was one request behind (`answer
/// to another request`), for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_mail_notice_from_the_rc_file_keeps_the_channel_in_step() {
    let lab = Lab::start(&[NodeSpec::new("rc05", "worker")]);
    lab.all_ready();
    lab.node("rc05")
        .set_login_rc("(sleep 3; echo \"You have new mail.\") &\n");
    let ctx = lab.poll_ctx(10, true);
    let cheap = ctx.cadence.request(false, false);
    let started = std::time::Instant::now();
    let mut polls = 0;
    while started.elapsed() < Duration::from_secs(60) {
        let r = poller::poll_once(&ctx, NodeId::new(0), &cheap).await;
        let raw = r.result.unwrap_or_else(|e| {
            panic!(
                "poll {polls} ({:.1} s in) failed: {e}",
                started.elapsed().as_secs_f64()
            )
        });
        assert_eq!(raw.current.as_deref(), Some("abc"), "poll {polls}: {raw:?}");
        polls += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(polls >= 30, "only {polls} polls in a minute");
    let pool = common::ssh_pool(&ctx);
    assert_eq!(pool.out_of_step(0), 0, "no answer to another request");
    assert_eq!(pool.channel_opens(0), 1, "one channel for the whole minute");
    pool.close_all().await;
}

/// An answer with another request's id closes the channel (counted, logged with the
/// node) and the next poll opens a new one; lines without an id before an answer are
/// skipped. Before: the first line after a request was the answer, whatever it was,
/// and a wrong id left the channel open and one answer behind.
#[tokio::test(flavor = "current_thread")]
async fn an_answer_to_another_request_closes_the_channel_and_the_next_poll_reopens_it() {
    let (log, _guard) = Captured::info();
    let lab = Lab::start(&[NodeSpec::new("rc06", "worker")]);
    let pool = pool(&lab, Duration::from_secs(3600));
    // Noise before every answer; the second answer carries a wrong id.
    let script = || {
        "main() { printf '%s\\n' '{\"v\":1,\"hello\":1}'; n=0\n\
         while read p id; do n=$((n + 1)); echo 'You have new mail.'; printf 'no newline'\n\
         if [ \"$n\" = 2 ]; then id=99; fi\n\
         printf '{\"v\":1,\"id\":%s}\\n' \"$id\"; done; }\nmain\n"
            .to_string()
    };
    let (id, line) = poll(&pool, &script, 1024).await.unwrap();
    assert_eq!((id, line), (1, answer(1)), "the noise is skipped");
    let r = poll(&pool, &script, 1024).await;
    assert!(
        matches!(r, Err(ChannelError::OutOfStep { wanted: 2, got: 99 })),
        "{r:?}"
    );
    assert_eq!(pool.out_of_step(0), 1);
    let (id, line) = poll(&pool, &script, 1024).await.unwrap();
    assert_eq!((id, line), (1, answer(1)), "a new channel, in step");
    assert_eq!(pool.channel_opens(0), 2);
    pool.close_all().await;
    let text = log.text();
    let closed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("an answer to another request"))
        .collect();
    assert_eq!(closed.len(), 1, "{text}");
    assert!(
        closed[0].contains("node=rc06") && closed[0].contains("wanted=2 got=99"),
        "{text}"
    );
}

/// A poll dropped while it waits for its answer (its future cancelled: a caller's own
/// time limit, a task aborted) leaves the channel one answer ahead; the next poll opens
/// a new channel instead of reading the late answer. Before: the next poll read the
/// dropped poll's answer as its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_dropped_while_waiting_does_not_leave_its_answer_to_the_next() {
    let lab = Lab::start(&[NodeSpec::new("rc07", "worker")]);
    let pool = pool(&lab, Duration::from_secs(3600));
    // The second request is answered late.
    let script = || {
        "main() { printf '%s\\n' '{\"v\":1,\"hello\":1}'; n=0\n\
         while read p id; do n=$((n + 1)); if [ \"$n\" = 2 ]; then sleep 2; fi\n\
         printf '{\"v\":1,\"id\":%s}\\n' \"$id\"; done; }\nmain\n"
            .to_string()
    };
    let (id, _) = poll(&pool, &script, 1024).await.unwrap();
    assert_eq!(id, 1);
    let dropped =
        tokio::time::timeout(Duration::from_millis(700), poll(&pool, &script, 1024)).await;
    assert!(dropped.is_err(), "the second poll was dropped: {dropped:?}");
    // Wait for the late answer to be on the channel.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (id, line) = poll(&pool, &script, 1024).await.unwrap();
    assert_eq!(
        line,
        answer(id),
        "the answer to this poll, not the dropped one's"
    );
    assert_eq!(
        pool.channel_opens(0),
        2,
        "a new channel after the dropped poll"
    );
    pool.close_all().await;
}
