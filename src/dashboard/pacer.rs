//! When to draw: at once after input, at most every [`FRAME_MIN_INTERVAL`] while only
//! poll results, rollout reports and ticks arrive (the event loop's, not the state's).

use std::time::{Duration, Instant};

/// Frames while only poll results arrive are drawn at most this often; a key, the
/// mouse or a resize draws at once. 10,000 nodes reporting every second then cost 10
/// frames a second, not 10,000.
pub const FRAME_MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The frame pacing.
#[derive(Debug, Clone, Copy, Default)]
pub struct FramePacer {
    last: Option<Instant>,
    dirty: bool,
    urgent: bool,
}

impl FramePacer {
    /// Something visible changed; `urgent` when the operator did it.
    pub fn changed(&mut self, urgent: bool) {
        self.dirty = true;
        self.urgent |= urgent;
    }

    /// A frame should be drawn now.
    pub fn due(&self, now: Instant) -> bool {
        self.dirty
            && (self.urgent
                || self
                    .last
                    .is_none_or(|l| now.saturating_duration_since(l) >= FRAME_MIN_INTERVAL))
    }

    /// When the owed frame falls due, if one is owed.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        Some(match self.last {
            Some(l) if !self.urgent => l + FRAME_MIN_INTERVAL,
            _ => Instant::now(),
        })
    }

    pub fn drawn(&mut self, now: Instant) {
        self.last = Some(now);
        self.dirty = false;
        self.urgent = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_polls_are_paced_input_is_not() {
        let t = Instant::now();
        let mut p = FramePacer::default();
        assert!(!p.due(t));
        p.changed(false);
        assert!(p.due(t), "the first frame is drawn at once");
        p.drawn(t);
        p.changed(false);
        assert!(!p.due(t + Duration::from_millis(10)));
        assert_eq!(p.deadline(), Some(t + FRAME_MIN_INTERVAL));
        assert!(p.due(t + FRAME_MIN_INTERVAL));
        p.changed(true);
        assert!(p.due(t + Duration::from_millis(10)), "a key draws at once");
        p.drawn(t + Duration::from_millis(10));
        assert!(!p.due(t + Duration::from_secs(5)), "nothing changed");
        assert_eq!(p.deadline(), None);
    }
}
