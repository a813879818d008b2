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
    /// The cursor moved to position `pos` of the table with keys (first row, then down).
    fn move_to(&mut self, pos: usize);
    /// The filter replaced by `f` with keys (`/`, backspaces, the letters, Enter).
    fn type_filter(&mut self, f: &str);
}

/// When the harness's keys are pressed: keys read no clock but the rollout's.
const KEY_AT: Millis = 0;

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

    fn move_to(&mut self, pos: usize) {
        self.press_at(KeyCode::Home, KeyModifiers::NONE, KEY_AT);
        for _ in 0..pos {
            self.press_at(KeyCode::Down, KeyModifiers::NONE, KEY_AT);
        }
        assert_eq!(self.cursor(), pos, "the cursor reached {pos}");
    }

    fn type_filter(&mut self, f: &str) {
        self.press_at(KeyCode::Char('/'), KeyModifiers::NONE, KEY_AT);
        for _ in 0..self.filter().chars().count() {
            self.press_at(KeyCode::Backspace, KeyModifiers::NONE, KEY_AT);
        }
        for c in f.chars() {
            self.press_at(KeyCode::Char(c), KeyModifiers::NONE, KEY_AT);
        }
        self.press_at(KeyCode::Enter, KeyModifiers::NONE, KEY_AT);
        assert_eq!(self.filter(), f);
    }
}
