//! How far the views that scroll are scrolled: plain offsets that the keys and the
//! mouse wheel move. The drawing clamps them to what it draws and says how far each
//! can go ([`Scroll::limit`]), so a key after `G` moves from the end, not from past it.

use crate::keymap::Action;

/// The views (and the help overlay) that scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Node,
    Skew,
    /// The plan's progress log: counted from its newest line (0 follows the newest).
    Plan,
    Help,
}

/// Lines a page key scrolls.
pub const PAGE: isize = 10;
/// Lines one notch of the mouse wheel scrolls.
pub const WHEEL: isize = 3;

/// Lines scrolled away, per pane: from the top, but for the plan's log, from its end.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scroll {
    pub node: usize,
    pub skew: usize,
    pub plan: usize,
    pub help: usize,
}

impl Scroll {
    /// As far as every pane can go: what the drawing reports for a pane it did not draw.
    pub const UNLIMITED: Scroll = Scroll {
        node: usize::MAX,
        skew: usize::MAX,
        plan: usize::MAX,
        help: usize::MAX,
    };

    pub fn get(&self, p: Area) -> usize {
        match p {
            Area::Node => self.node,
            Area::Skew => self.skew,
            Area::Plan => self.plan,
            Area::Help => self.help,
        }
    }

    fn get_mut(&mut self, p: Area) -> &mut usize {
        match p {
            Area::Node => &mut self.node,
            Area::Skew => &mut self.skew,
            Area::Plan => &mut self.plan,
            Area::Help => &mut self.help,
        }
    }

    /// Back to the top (the plan's log: to its newest line).
    pub fn reset(&mut self, p: Area) {
        *self.get_mut(p) = 0;
    }

    /// Scroll `p` by `lines` toward its end (negative: toward its top).
    pub fn by(&mut self, p: Area, lines: isize) {
        // The plan's log counts from its end: down is toward 0.
        let lines = if p == Area::Plan { -lines } else { lines };
        let at = self.get_mut(p);
        *at = if lines < 0 {
            at.saturating_sub(lines.unsigned_abs())
        } else {
            at.saturating_add(lines as usize)
        };
    }

    /// A scrolling key on `p`; false when `action` does not scroll.
    pub fn key(&mut self, p: Area, action: Action) -> bool {
        match action {
            Action::Down => self.by(p, 1),
            Action::Up => self.by(p, -1),
            Action::PageDown => self.by(p, PAGE),
            Action::PageUp => self.by(p, -PAGE),
            // The top, and the end (the drawing clamps it to the last screenful).
            Action::First | Action::Last => {
                let end = (action == Action::Last) != (p == Area::Plan);
                *self.get_mut(p) = if end { usize::MAX } else { 0 };
            }
            _ => return false,
        }
        true
    }

    /// Keep each offset within how far its pane can scroll, as last drawn.
    pub fn limit(&mut self, max: &Scroll) {
        for p in [Area::Node, Area::Skew, Area::Plan, Area::Help] {
            let m = max.get(p);
            let at = self.get_mut(p);
            *at = (*at).min(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_move_from_the_top_and_the_plan_log_from_its_end() {
        let mut s = Scroll::default();
        assert!(s.key(Area::Node, Action::Down));
        assert!(s.key(Area::Node, Action::PageDown));
        assert_eq!(s.node, 11);
        s.key(Area::Node, Action::Up);
        assert_eq!(s.node, 10);
        s.key(Area::Node, Action::PageUp);
        s.key(Area::Node, Action::PageUp);
        assert_eq!(s.node, 0);
        s.key(Area::Node, Action::Last);
        assert_eq!(s.node, usize::MAX);
        // The log: up is older lines, down toward the newest.
        s.key(Area::Plan, Action::Up);
        s.key(Area::Plan, Action::Up);
        assert_eq!(s.plan, 2);
        s.key(Area::Plan, Action::Down);
        assert_eq!(s.plan, 1);
        s.key(Area::Plan, Action::Last);
        assert_eq!(s.plan, 0);
        s.key(Area::Plan, Action::First);
        assert_eq!(s.plan, usize::MAX);
        s.key(Area::Plan, Action::Last);
        assert_eq!(s.plan, 0);
        assert!(!s.key(Area::Help, Action::Quit));
        assert_eq!(s.help, 0);
    }

    #[test]
    fn limits_bring_an_offset_past_the_end_back() {
        let mut s = Scroll::default();
        s.key(Area::Node, Action::Last);
        s.key(Area::Skew, Action::PageDown);
        s.limit(&Scroll {
            node: 30,
            ..Scroll::UNLIMITED
        });
        assert_eq!((s.node, s.skew), (30, 10));
        s.key(Area::Node, Action::Up);
        assert_eq!(s.node, 29);
    }
}
