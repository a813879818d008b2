//! The interactive replay: a clock over the journal's time, play/pause, speed, jump to
//! the next failure, step one event. Pure state: the terminal loop feeds it keys and
//! elapsed real time, `ui::replay` draws it.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};

use super::{At, Replay};
use crate::observe::Millis;
use crate::terminal::Incoming;

/// Replay speeds, journal seconds per real second.
pub const SPEEDS: [u32; 12] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/// A whole replay should take about this long at its first speed.
const TARGET_REAL_MS: u64 = 60_000;

pub struct Player {
    pub replay: Replay,
    /// Entries applied so far.
    pub pos: usize,
    /// The replay clock, in journal time.
    pub clock: Millis,
    pub playing: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// Selected node (index into `replay.nodes`).
    pub selected: usize,
    /// The rollout at `pos`.
    pub at: At,
    pub quit: bool,
    pub help: bool,
    /// The node panel shows long notes (a baseline's gateway status) in full, not as
    /// one line with their size (`e` toggles).
    pub expanded: bool,
    /// What the last key did.
    pub flash: Option<String>,
}

impl Player {
    /// Start at the first event, playing, at the speed that plays the whole journal in
    /// about a minute.
    pub fn new(replay: Replay) -> Player {
        let span = replay.end().saturating_sub(replay.start());
        let speed = SPEEDS
            .iter()
            .position(|&s| span / u64::from(s) <= TARGET_REAL_MS)
            .unwrap_or(SPEEDS.len() - 1);
        let clock = replay.start();
        let mut p = Player {
            replay,
            pos: 0,
            clock,
            playing: true,
            speed,
            selected: 0,
            at: At::default(),
            quit: false,
            help: false,
            expanded: false,
            flash: None,
        };
        p.catch_up();
        p
    }

    pub fn speed_x(&self) -> u32 {
        SPEEDS[self.speed.min(SPEEDS.len() - 1)]
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.replay.entries.len()
    }

    /// Apply every entry at or before the clock.
    fn catch_up(&mut self) {
        let before = self.pos;
        while let Some(e) = self.replay.entries.get(self.pos) {
            if e.ts > self.clock {
                break;
            }
            self.pos += 1;
        }
        if self.at.nodes.is_empty() && !self.replay.nodes.is_empty() {
            self.at = self.replay.state_at(self.pos);
        } else if self.pos != before {
            self.replay.apply_range(&mut self.at, before, self.pos);
        }
    }

    /// Real time passed: move the clock when playing. Stops at the end.
    pub fn advance(&mut self, real_ms: u64) {
        if !self.playing {
            return;
        }
        self.clock = self
            .clock
            .saturating_add(real_ms.saturating_mul(u64::from(self.speed_x())));
        if self.clock >= self.replay.end() {
            self.clock = self.replay.end();
            self.catch_up();
            self.playing = false;
            self.flash = Some("end of the journal".into());
            return;
        }
        self.catch_up();
    }

    /// Show exactly the first `pos` entries; the clock moves to the last one shown.
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.replay.entries.len());
        self.clock = match self.pos {
            0 => self.replay.start(),
            p => self.replay.entries[p - 1].ts,
        };
        self.at = self.replay.state_at(self.pos);
    }

    /// Jump to (and show) the next failure after what is shown; pause there and select
    /// its node. False when there is none.
    pub fn next_failure(&mut self) -> bool {
        let found = self
            .replay
            .entries
            .iter()
            .enumerate()
            .skip(self.pos)
            .find(|(_, e)| e.is_failure())
            .map(|(i, e)| (i, e.node.clone(), e.describe()));
        match found {
            Some((i, node, what)) => {
                self.seek(i + 1);
                self.playing = false;
                if let Some(n) = node
                    && let Some(k) = self.replay.nodes.iter().position(|x| *x == n)
                {
                    self.selected = k;
                }
                self.flash = Some(format!("failure: {what}"));
                true
            }
            None => {
                self.flash = Some("no failure after this point".into());
                false
            }
        }
    }

    /// What came in from the terminal: a key press, or a signal (SIGTERM, SIGHUP,
    /// SIGINT) or Ctrl-C, which end the replay as `q` does.
    pub fn input(&mut self, inc: Incoming) {
        match inc {
            Incoming::Signal(sig) => {
                tracing::info!(signal = sig, "replay stopping on a signal");
                self.quit = true;
            }
            Incoming::Term(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => {
                if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
                    self.quit = true;
                } else {
                    self.key(k.code);
                }
            }
            Incoming::Term(_) => {}
        }
    }

    pub fn key(&mut self, k: KeyCode) {
        if self.help {
            if matches!(k, KeyCode::Char('?') | KeyCode::Esc | KeyCode::Char('q')) {
                self.help = false;
            }
            return;
        }
        self.flash = None;
        match k {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('e') => {
                self.expanded = !self.expanded;
                self.flash = Some(if self.expanded {
                    "long notes in full (e: one line each)".into()
                } else {
                    "long notes on one line (e: in full)".into()
                });
            }
            KeyCode::Char(' ') | KeyCode::Char('p') => {
                if !self.playing && self.at_end() {
                    self.seek(0);
                }
                self.playing = !self.playing;
            }
            KeyCode::Char('+') | KeyCode::Char('=') => {
                self.speed = (self.speed + 1).min(SPEEDS.len() - 1);
                self.flash = Some(format!("speed {}x", self.speed_x()));
            }
            KeyCode::Char('-') | KeyCode::Char('_') => {
                self.speed = self.speed.saturating_sub(1);
                self.flash = Some(format!("speed {}x", self.speed_x()));
            }
            KeyCode::Char('f') | KeyCode::Char('n') => {
                self.next_failure();
            }
            KeyCode::Char('.') | KeyCode::Right | KeyCode::Char('l') => {
                self.playing = false;
                self.seek(self.pos + 1);
            }
            KeyCode::Char(',') | KeyCode::Left | KeyCode::Char('h') => {
                self.playing = false;
                self.seek(self.pos.saturating_sub(1));
            }
            KeyCode::Home | KeyCode::Char('g') => {
                self.playing = false;
                self.seek(0);
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.playing = false;
                self.seek(self.replay.entries.len());
            }
            KeyCode::Char('j') | KeyCode::Down if self.selected + 1 < self.replay.nodes.len() => {
                self.selected += 1;
            }
            KeyCode::Char('k') | KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::NodeId;
    use crate::replay::{Entry, Status};
    use crate::rollout::journal::Event;
    use crate::rollout::{Failure, Phase, Record};

    fn e(line: usize, ts: u64, node: Option<&str>, rec: Record) -> Entry {
        Entry {
            line,
            ts,
            rollout: "r1".into(),
            skills_sha: "sha".into(),
            manifest_sha256: "m".into(),
            node: node.map(str::to_string),
            node_idx: node.map(|n| if n == "a" { 0 } else { 1 }),
            event: Event::Record(rec),
            action: None,
            run: 1,
        }
    }

    fn sample() -> Replay {
        let (a, b) = (NodeId::new(0), NodeId::new(1));
        let ph = |node, phase, attempt| Record::PhaseStarted {
            node,
            phase,
            attempt,
        };
        let done = |node, phase, attempt| Record::PhaseDone {
            node,
            phase,
            attempt,
            note: "ok".into(),
        };
        Replay::from_entries(
            "j".into(),
            vec![
                e(1, 1_000, Some("a"), ph(a, Phase::Sync, 1)),
                e(
                    2,
                    2_000,
                    Some("a"),
                    Record::PhaseFailed {
                        node: a,
                        phase: Phase::Sync,
                        attempt: 1,
                        failure: Failure::Transient("rsync exit 12".into()),
                    },
                ),
                e(
                    3,
                    2_000,
                    Some("a"),
                    Record::RetryScheduled {
                        node: a,
                        phase: Phase::Sync,
                        attempt: 2,
                        delay_ms: 3_000,
                    },
                ),
                e(4, 5_000, Some("a"), ph(a, Phase::Sync, 2)),
                e(5, 6_000, Some("a"), done(a, Phase::Sync, 2)),
                e(6, 7_000, Some("a"), Record::NodeLanded { node: a }),
                e(7, 8_000, Some("b"), ph(b, Phase::Baseline, 1)),
                e(
                    8,
                    9_000,
                    Some("b"),
                    Record::NodeFailed {
                        node: b,
                        phase: Phase::Baseline,
                        error: "gateway not ready".into(),
                    },
                ),
            ],
            vec![],
        )
    }

    #[test]
    fn plays_in_journal_time_at_its_speed() {
        let mut p = Player::new(sample());
        assert!(p.playing);
        assert_eq!(p.speed_x(), 1, "an 8 s journal plays at 1x");
        assert_eq!(p.pos, 1, "the first event is shown at once");
        p.advance(1_000);
        assert_eq!(p.pos, 3);
        assert_eq!(p.at.nodes[0].status, Status::Retrying);
        assert_eq!(p.at.nodes[0].retry_at, Some(5_000));
        p.key(KeyCode::Char('+'));
        assert_eq!(p.speed_x(), 2);
        p.advance(2_000); // 4 journal seconds
        assert_eq!(p.clock, 6_000);
        assert_eq!(p.pos, 5);
        assert_eq!(
            p.at,
            p.replay.state_at(5),
            "playing forward folds only the new events, to the same state"
        );
        p.key(KeyCode::Char(' '));
        assert!(!p.playing);
        p.advance(10_000);
        assert_eq!(p.pos, 5, "paused: nothing moves");
        p.key(KeyCode::Char(' '));
        p.key(KeyCode::Char('-'));
        p.key(KeyCode::Char('-'));
        assert_eq!(p.speed_x(), 1, "speed stops at 1x");
        p.advance(60_000);
        assert!(p.at_end() && !p.playing);
        assert_eq!(p.at.counts(), (1, 1, 0, 0));
    }

    #[test]
    fn jumps_to_each_failure_and_selects_its_node() {
        let mut p = Player::new(sample());
        p.key(KeyCode::Char('f'));
        assert!(!p.playing);
        assert_eq!(p.pos, 2);
        assert_eq!(p.at.nodes[0].last_error.as_deref(), Some("rsync exit 12"));
        assert_eq!(p.selected, 0);
        p.key(KeyCode::Char('f'));
        assert_eq!(p.pos, 8);
        assert_eq!(p.selected, 1);
        assert_eq!(p.at.nodes[1].status, Status::Failed);
        assert!(!p.next_failure(), "no third failure");
        // Step back one event and forward again.
        p.key(KeyCode::Left);
        assert_eq!(p.at.nodes[1].status, Status::Active);
        p.key(KeyCode::Right);
        assert_eq!(p.at.nodes[1].status, Status::Failed);
        p.key(KeyCode::Char('g'));
        assert_eq!(p.pos, 0);
        assert_eq!(p.at.counts(), (0, 0, 0, 2));
    }

    #[test]
    fn a_long_journal_starts_fast_enough_to_fit_a_minute() {
        let mut r = sample();
        for x in &mut r.entries {
            x.ts *= 1_000; // 8 s -> 2h13m
        }
        let p = Player::new(r);
        assert_eq!(p.speed_x(), 256);
    }

    /// What comes in through the terminal guard: a signal or Ctrl-C ends the replay
    /// like `q`; a key press is a key; a key release or a resize does nothing.
    #[test]
    fn signals_and_ctrl_c_end_the_replay() {
        use crossterm::event::{KeyEvent, KeyEventKind, KeyEventState};
        for sig in ["SIGTERM", "SIGHUP", "SIGINT"] {
            let mut p = Player::new(sample());
            p.input(Incoming::Signal(sig));
            assert!(p.quit, "{sig}");
        }
        let press =
            |code, modifiers| Incoming::Term(TermEvent::Key(KeyEvent::new(code, modifiers)));
        let mut p = Player::new(sample());
        p.input(Incoming::Term(TermEvent::Resize(80, 24)));
        p.input(Incoming::Term(TermEvent::Key(KeyEvent {
            code: KeyCode::Char('q'),
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Release,
            state: KeyEventState::NONE,
        })));
        assert!(!p.quit, "a release or a resize is not a key");
        let playing = p.playing;
        p.input(press(KeyCode::Char(' '), KeyModifiers::NONE));
        assert_eq!(p.playing, !playing, "space pauses");
        p.input(press(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(p.quit, "ctrl-c");
    }
}
