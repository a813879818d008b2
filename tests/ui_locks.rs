//! Marks and locks on screen, drawn into ratatui's TestBackend and checked with insta:
//! the mark glyph before a marked node's name and the count in the title bar.
#![allow(clippy::unwrap_used)]

#[path = "common/demo.rs"]
mod demo;

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use demo::{AT, demo_app};
use meshroll::dashboard::{App, Effect, Event};
use meshroll::inventory::NodeId;
use meshroll::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(app: &App, w: u16, h: u16) -> String {
    let theme = Theme::load("default").unwrap();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| meshroll::ui::draw(f, app, &theme)).unwrap();
    format!("{}", t.backend())
}

fn key(app: &mut App, c: char) -> Vec<Effect> {
    let k = TermEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    app.handle(Event::Input(k), AT + 2_000)
}

#[tokio::test(start_paused = true)]
async fn marked_rows_show_a_glyph_and_the_title_counts_them() {
    let mut app = demo_app().await;
    key(&mut app, 'm'); // mac-g01, the cursor moves to mac-g02
    key(&mut app, 'j');
    key(&mut app, 'm'); // mac-g03
    assert_eq!(app.action_targets(), vec![NodeId::new(0), NodeId::new(2)]);
    app.frame(AT + 2_000);
    let screen = render(&app, 120, 12);
    assert!(screen.contains("◆ 2 marked"), "{screen}");
    assert!(screen.contains("◆ mac-g01"), "{screen}");
    assert!(screen.contains("  mac-g02"), "{screen}");
    insta::assert_snapshot!(screen);
}
