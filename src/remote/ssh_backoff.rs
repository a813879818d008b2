//! The ssh layer's policies as pure states beside its I/O ([`super::ssh`]), as the
//! poller's `Schedule` is beside its `Scheduler`: when a node's poll channel or its
//! connect is tried again after failing ([`Backoff`]), what a failed channel open means
//! ([`OpenFailure`]), and which line a poll channel printed is the answer ([`Reply`]).
//! No clock is read here: every `now` is an argument.

use std::time::Duration;

use tokio::time::Instant;

use super::RemoteError;

/// Failures in a row and when the next try may go. The wait after the `n`th failure
/// is `first` for `n == 1` and doubles after each further failure, up to `cap` (or
/// `first` when that is longer); `free` failures wait nothing (the next poll tries
/// again at once, as after one lost connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    free: u32,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Self {
        Backoff {
            first,
            cap,
            free: 0,
            failures: 0,
            retry_at: None,
        }
    }

    /// The first `free` failures in a row wait nothing.
    pub fn after_free(mut self, free: u32) -> Self {
        self.free = free;
        self
    }

    /// Whether a try may go now.
    pub fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// How long until a try may go (zero when it may go now).
    pub fn wait(&self, now: Instant) -> Duration {
        self.retry_at
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A try failed at `now`: the wait before the next one.
    pub fn failed(&mut self, now: Instant) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let wait = self.wait_after(self.failures);
        self.retry_at = (!wait.is_zero()).then(|| now + wait);
        wait
    }

    /// A try worked: the next failure starts over.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// The operator asked for a try now (`r`): the wait ends, the count stays, so a
    /// node that fails again waits as long as it would have.
    pub fn try_now(&mut self) {
        self.retry_at = None;
    }

    /// The wait after `failures` failures in a row.
    pub fn wait_after(&self, failures: u32) -> Duration {
        if failures <= self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).saturating_sub(1).min(16);
        self.first
            .saturating_mul(1 << doublings)
            .min(self.cap.max(self.first))
    }
}

/// What a poll channel that did not open says about the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFailure {
    /// The node's shell ended before its hello (sudo refused, no `sh`, a script's fatal
    /// envelope): the channel backs off and this poll runs a one-shot command, whose
    /// output says why.
    ClosedByNode,
    /// The channel itself failed (no hello in time, too much noise): it backs off and
    /// the error is this poll's.
    Channel,
    /// The connection under it was lost: no backoff for the channel, the next poll
    /// connects again.
    Master,
}

impl OpenFailure {
    pub fn of(e: &RemoteError) -> OpenFailure {
        match e {
            RemoteError::ChannelClosed => OpenFailure::ClosedByNode,
            RemoteError::Connect(_) => OpenFailure::Master,
            _ => OpenFailure::Channel,
        }
    }

    /// Whether the channel waits out its backoff before it is tried again.
    pub fn backs_off(self) -> bool {
        self != OpenFailure::Master
    }
}

/// What one line from a poll channel is, for a poll waiting on request `wanted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The answer: it starts at this byte of the line (anything before it is what
    /// another process on the node wrote without a newline).
    Answer(usize),
    /// An answer to another request: the channel is out of step.
    OtherId(u64),
    /// A line without an id (an rc file's late `You have new mail.`): skipped.
    Noise,
}

/// How an answer of the poll channel starts: `{"v":1,"id":<id>,`.
const ANSWER_HEAD: &[u8] = b"{\"v\":1,\"id\":";

impl Reply {
    pub fn of(line: &[u8], wanted: u64) -> Reply {
        // The last head in the line: bytes glued in front of it are noise.
        let Some(at) = line
            .windows(ANSWER_HEAD.len())
            .rposition(|w| w == ANSWER_HEAD)
        else {
            return Reply::Noise;
        };
        let digits: &[u8] = &line[at + ANSWER_HEAD.len()..];
        let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        let id = std::str::from_utf8(&digits[..n])
            .ok()
            .and_then(|d| d.parse::<u64>().ok());
        match (id, digits.get(n)) {
            (Some(id), Some(b',' | b'}')) if id == wanted => Reply::Answer(at),
            (Some(id), Some(b',' | b'}')) => Reply::OtherId(id),
            _ => Reply::Noise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_that_keeps_failing_waits_longer_each_time_up_to_the_cap() {
        let b = Backoff::new(Duration::from_secs(30), Duration::from_secs(600));
        let waits: Vec<u64> = (1..=7).map(|f| b.wait_after(f).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(b.wait_after(u32::MAX).as_secs(), 600);
        // A first wait over the cap is kept as it is (a test or user asked for it).
        let long = Backoff::new(Duration::from_secs(3600), Duration::from_secs(600));
        assert_eq!(long.wait_after(3).as_secs(), 3600);
    }

    #[test]
    fn free_failures_wait_nothing_then_the_wait_doubles() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(300)).after_free(1);
        let waits: Vec<u64> = (1..=9).map(|f| b.wait_after(f).as_secs()).collect();
        assert_eq!(waits, [0, 5, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_failure_holds_tries_until_its_wait_ends_and_try_now_ends_it() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(300)).after_free(1);
        assert!(b.ready(t0));
        assert_eq!(b.failed(t0), Duration::ZERO);
        assert!(b.ready(t0), "the first failure is free");
        assert_eq!(b.failed(t0), Duration::from_secs(5));
        assert!(!b.ready(t0 + Duration::from_secs(4)));
        assert_eq!(b.wait(t0 + Duration::from_secs(4)), Duration::from_secs(1));
        assert!(b.ready(t0 + Duration::from_secs(5)));
        // `r`: at once, and the count is kept.
        b.try_now();
        assert!(b.ready(t0));
        assert_eq!(b.failed(t0), Duration::from_secs(10));
        b.succeeded();
        assert_eq!((b.failures(), b.ready(t0)), (0, true));
    }

    #[test]
    fn open_failures_that_back_off() {
        assert_eq!(
            OpenFailure::of(&RemoteError::ChannelClosed),
            OpenFailure::ClosedByNode
        );
        assert!(OpenFailure::of(&RemoteError::Timeout(40)).backs_off());
        assert!(!OpenFailure::of(&RemoteError::Connect("lost".into())).backs_off());
    }

    #[test]
    fn only_the_answer_with_the_wanted_id_is_taken() {
        let a = br#"{"v":1,"id":7,"now":1}"#;
        assert_eq!(Reply::of(a, 7), Reply::Answer(0));
        assert_eq!(Reply::of(a, 8), Reply::OtherId(7));
        assert_eq!(Reply::of(b"You have new mail.", 7), Reply::Noise);
        assert_eq!(Reply::of(br#"{"v":1,"hello":1}"#, 7), Reply::Noise);
        assert_eq!(Reply::of(br#"{"v":1,"fatal":"x"}"#, 7), Reply::Noise);
        // Glued after a message without a newline: the answer starts at its head.
        let glued = br#"pyenv: rehashed{"v":1,"id":7,"now":1}"#;
        assert_eq!(Reply::of(glued, 7), Reply::Answer(15));
        // An id that is a prefix of the wanted one, or not a number, is not it.
        assert_eq!(
            Reply::of(br#"{"v":1,"id":70,"now":1}"#, 7),
            Reply::OtherId(70)
        );
        assert_eq!(Reply::of(br#"{"v":1,"id":7x}"#, 7), Reply::Noise);
        assert_eq!(Reply::of(br#"{"v":1,"id":}"#, 7), Reply::Noise);
        assert_eq!(
            Reply::of(br#"{"v":1,"id":99999999999999999999999,"#, 7),
            Reply::Noise
        );
    }
}
