//! The in-crate tests' way into an [`App`]: events in (keys, clicks, polls), effects
//! out; no field is written by a test.

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::{App, AppEffect, AppEvent};
use crate::observe::Millis;
use crate::poller::PollResult;

pub(super) trait Drive {
    /// `ev` handled at `now`: its effects.
    fn effects_of(&mut self, ev: AppEvent, now: Millis) -> Vec<AppEffect>;
    fn press_at(&mut self, code: KeyCode, modifiers: KeyModifiers, now: Millis) -> Vec<AppEffect>;
    fn click_at(&mut self, row: u16, now: Millis) -> Vec<AppEffect>;
    fn feed(&mut self, r: PollResult) -> Vec<AppEffect>;
}

impl Drive for App {
    fn effects_of(&mut self, ev: AppEvent, now: Millis) -> Vec<AppEffect> {
        self.handle(ev, now).effects
    }

    fn press_at(&mut self, code: KeyCode, modifiers: KeyModifiers, now: Millis) -> Vec<AppEffect> {
        let k = TermEvent::Key(KeyEvent::new(code, modifiers));
        self.effects_of(AppEvent::Input(k), now)
    }

    fn click_at(&mut self, row: u16, now: Millis) -> Vec<AppEffect> {
        let m = TermEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 3,
            row,
            modifiers: KeyModifiers::NONE,
        });
        self.effects_of(AppEvent::Input(m), now)
    }

    /// A poll's answer, as the scheduler hands it in (at its own time).
    fn feed(&mut self, r: PollResult) -> Vec<AppEffect> {
        let at = r.at;
        self.effects_of(AppEvent::Poll(Box::new(r)), at)
    }
}
